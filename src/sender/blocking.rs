//! The sender for blocking transports: worker threads.

use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::engine::{self, deadline, Core};
use super::{calls, Pending, SenderBuilder, ShutdownReport};
use crate::Client;

/// Delivers requests in the background over a blocking [`Client`], with
/// worker threads; see the [module docs](crate::sender).
///
/// `Send + Sync`: share it (in an `Arc`) between threads. Calls return as
/// soon as the request is queued.
pub struct Sender {
    core: Arc<Core>,
    threads: Vec<JoinHandle<()>>,
    drop_timeout: Duration,
    stopped: bool,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("workers", &self.threads.len())
            .field("pending", &self.core.pending())
            .field("counters", &self.core.counters())
            .finish_non_exhaustive()
    }
}

impl SenderBuilder {
    /// Builds a [`Sender`] that delivers through `client` with worker
    /// threads, and starts replaying the outbox if there is one.
    ///
    /// # Errors
    /// The outbox directory cannot be created, a thread cannot be spawned,
    /// or [`FullPolicy::Spill`](super::FullPolicy::Spill) was asked for
    /// without an outbox.
    pub fn build(mut self, client: Client) -> io::Result<Sender> {
        let (settings, store) = self.parts()?;
        let core = Arc::new(Core::new(
            settings,
            client.encoder().clone(),
            store,
            #[cfg(feature = "tokio")]
            None,
        ));
        let mut sender = Sender {
            core: Arc::clone(&core),
            threads: Vec::with_capacity(self.workers + 1),
            drop_timeout: self.drop_timeout,
            stopped: false,
        };
        for i in 0..self.workers {
            let (core, client) = (Arc::clone(&core), client.clone());
            let thread = thread::Builder::new()
                .name(format!("kissmetrics-sender-{i}"))
                .spawn(move || work(&core, &client))?;
            sender.threads.push(thread);
        }
        if core.has_outbox() {
            let core = Arc::clone(&core);
            let thread = thread::Builder::new()
                .name("kissmetrics-replay".to_owned())
                .spawn(move || {
                    while core.wait_replay() {
                        core.replay_pass();
                    }
                })?;
            sender.threads.push(thread);
        }
        Ok(sender)
    }
}

fn work(core: &Core, client: &Client) {
    while let Some(job) = core.next_job() {
        let sent = catch_unwind(AssertUnwindSafe(|| client.send(job.request)))
            .unwrap_or_else(|_| engine::panicked());
        core.finish(job.id, sent);
    }
}

impl Sender {
    /// Starts building a sender.
    pub fn builder() -> SenderBuilder {
        SenderBuilder::default()
    }

    /// A sender with the default settings.
    ///
    /// # Errors
    /// As [`SenderBuilder::build`].
    pub fn new(client: Client) -> io::Result<Sender> {
        Self::builder().build(client)
    }

    calls!();

    /// Waits until every request handed to the sender so far was delivered
    /// (or given up), at most `timeout`; in-flight requests included, and
    /// an outbox replay in progress too. Syncs the outbox.
    ///
    /// # Errors
    /// What is still pending when the timeout passed.
    pub fn flush(&self, timeout: Duration) -> Result<(), Pending> {
        self.core.flush(deadline(timeout))
    }

    /// Delivers what it can within `timeout`, then stops: what is left goes
    /// to the outbox or is reported (see the [module docs](crate::sender)).
    /// Returns within `timeout` plus the time to write leftovers to the
    /// outbox; a worker stuck in a request is not waited for (its request
    /// counts as undelivered).
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> ShutdownReport {
        self.stopped = true;
        let deadline = deadline(timeout);
        self.core.close();
        let _ = self.core.flush(deadline);
        let report = self.core.stop(deadline);
        // Idle workers exit at once; one stuck in a request exits when the
        // request ends, on its own.
        for thread in self.threads.drain(..) {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        report
    }
}

impl Drop for Sender {
    /// Shuts down with the [drop timeout](SenderBuilder::drop_timeout).
    /// Safe inside an async runtime: it waits on a condition variable, not
    /// on the runtime.
    fn drop(&mut self) {
        if !self.stopped {
            let report = self.stop(self.drop_timeout);
            if !report.is_clean() {
                tracing::warn!(
                    target: "kissmetrics::sender",
                    undelivered = report.undelivered,
                    spilled = report.spilled,
                    lost = report.lost,
                    "sender dropped with undelivered requests"
                );
            }
        }
    }
}
