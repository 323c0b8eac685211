//! The sender for async transports: tokio tasks.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::engine::{self, deadline, Core, Notifies};
use super::{calls, Pending, SenderBuilder, ShutdownReport};
use crate::AsyncClient;

/// Delivers requests in the background over an [`AsyncClient`], with tokio
/// tasks; see the [module docs](crate::sender). Feature `tokio`.
///
/// Calls (`record`, `set`, `alias`) are not `async`: they queue and return
/// at once (with [`Outbox::write_ahead`](crate::outbox::Outbox::write_ahead)
/// and [`Durability::EveryAppend`](crate::outbox::Durability::EveryAppend)
/// they wait for an `fdatasync` first). [`flush`](Self::flush) and
/// [`shutdown`](Self::shutdown) are `async`. Dropping it shuts it down in a
/// task of its runtime, within the drop timeout; if the runtime is shutting
/// down, whatever is left is kept in the outbox or reported when the last
/// task is gone.
///
/// ```
/// use std::time::Duration;
/// use kissmetrics::sender::AsyncSender;
/// use kissmetrics::AsyncClient;
/// use kissmetrics::proto::{http::Response, TransportResult};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let client = AsyncClient::builder("key")
///     .with_transport(|_req| async { TransportResult::Ok(Response::new(Vec::new())) })?;
/// let sender = AsyncSender::builder().build_async(client)?;
/// sender.record("bob", "Signed Up", ())?;
/// sender.flush(Duration::from_secs(5)).await.expect("delivered");
/// assert_eq!(sender.counters().delivered, 1);
/// assert!(sender.shutdown(Duration::from_secs(1)).await.is_clean());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct AsyncSender {
    core: Arc<Core>,
    tasks: Vec<JoinHandle<()>>,
    runtime: Handle,
    drop_timeout: Duration,
    stopped: bool,
}

impl fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSender")
            .field("tasks", &self.tasks.len())
            .field("pending", &self.core.pending())
            .field("counters", &self.core.counters())
            .finish_non_exhaustive()
    }
}

impl SenderBuilder {
    /// Builds an [`AsyncSender`] that delivers through `client` with tasks
    /// on the current tokio runtime, and starts replaying the outbox if
    /// there is one. Feature `tokio`.
    ///
    /// # Errors
    /// Not called within a tokio runtime, the outbox directory cannot be
    /// created, or [`FullPolicy::Spill`](super::FullPolicy::Spill) was
    /// asked for without an outbox.
    pub fn build_async(mut self, client: AsyncClient) -> io::Result<AsyncSender> {
        let runtime = Handle::try_current().map_err(|_| {
            engine::invalid_setup("an AsyncSender must be built within a tokio runtime")
        })?;
        let (settings, store) = self.parts()?;
        let core = Arc::new(Core::new(
            settings,
            client.encoder().clone(),
            store,
            Some(Notifies::default()),
        ));
        let mut tasks = Vec::with_capacity(self.workers + 1);
        for _ in 0..self.workers {
            let (core, client) = (Arc::clone(&core), client.clone());
            tasks.push(runtime.spawn(async move { work(&core, &client).await }));
        }
        if core.has_outbox() {
            let core = Arc::clone(&core);
            tasks.push(runtime.spawn(async move {
                while core.wait_replay_async().await {
                    let pass = Arc::clone(&core);
                    // Claiming and reading segments is file I/O.
                    if tokio::task::spawn_blocking(move || pass.replay_pass())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }));
        }
        Ok(AsyncSender {
            core,
            tasks,
            runtime,
            drop_timeout: self.drop_timeout,
            stopped: false,
        })
    }
}

async fn work(core: &Core, client: &AsyncClient) {
    while let Some(job) = core.next_job_async().await {
        let sent = CatchUnwind(Box::pin(client.send(job.request)))
            .await
            .unwrap_or_else(|()| engine::panicked());
        core.finish(job.id, sent);
    }
}

/// A future whose panic becomes an `Err`, so that a panicking transport
/// costs one request, not a worker.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.get_mut().0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

async fn shutdown(
    core: Arc<Core>,
    tasks: Vec<JoinHandle<()>>,
    deadline: Instant,
) -> ShutdownReport {
    core.close();
    let _ = core.flush_async(deadline).await;
    let stopping = Arc::clone(&core);
    // Stopping waits for requests being settled and writes leftovers to
    // the outbox: blocking work, off the executor.
    let report = tokio::task::spawn_blocking(move || stopping.stop(deadline)).await;
    // Requests still in flight were taken by `stop`: cancel their tasks.
    for task in tasks {
        task.abort();
    }
    report.unwrap_or_else(|_| {
        tracing::error!(target: "kissmetrics::sender", "stopping the sender failed");
        ShutdownReport::default()
    })
}

impl AsyncSender {
    /// Starts building a sender (the same builder as [`Sender`](super::Sender)'s).
    pub fn builder() -> SenderBuilder {
        SenderBuilder::default()
    }

    calls!();

    /// Waits until every request handed to the sender so far was delivered
    /// (or given up), at most `timeout`; in-flight requests included, and
    /// an outbox replay in progress too. Syncs the outbox.
    ///
    /// # Errors
    /// What is still pending when the timeout passed.
    pub async fn flush(&self, timeout: Duration) -> Result<(), Pending> {
        self.core.flush_async(deadline(timeout)).await
    }

    /// Delivers what it can within `timeout`, then stops: what is left goes
    /// to the outbox or is reported, and requests still in flight are
    /// cancelled (and counted as undelivered).
    pub async fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.stopped = true;
        let tasks = std::mem::take(&mut self.tasks);
        shutdown(Arc::clone(&self.core), tasks, deadline(timeout)).await
    }
}

impl Drop for AsyncSender {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let core = Arc::clone(&self.core);
        let tasks = std::mem::take(&mut self.tasks);
        let deadline = deadline(self.drop_timeout);
        // Never blocks. If the runtime is gone, so are the tasks, and the
        // core keeps or reports what is left when it is dropped.
        drop(self.runtime.spawn(async move {
            let report = shutdown(core, tasks, deadline).await;
            if !report.is_clean() {
                tracing::warn!(
                    target: "kissmetrics::sender",
                    undelivered = report.undelivered,
                    spilled = report.spilled,
                    lost = report.lost,
                    "sender dropped with undelivered requests"
                );
            }
        }));
    }
}
