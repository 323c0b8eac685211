//! The background sender as `record --batch` and `send` use it: built from
//! the options, watched with a progress bar, drained, then shut down.

use std::io::{self, IsTerminal};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kissmetrics::outbox::{Outbox, Quarantined};
use kissmetrics::proto::{RetryPolicy, DEFAULT_TIMEOUT};
use kissmetrics::sender::{Counters, FullPolicy, Sender, ShutdownReport, Undelivered};

use crate::cli::{Connection, DeliveryArgs};
use crate::exit::Failure;

/// How long retryable failures are retried unless `--retry-for` says otherwise.
const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(60);

/// How many calls are sent at once unless `--workers` says otherwise.
const DEFAULT_WORKERS: u16 = 4;

/// How often the progress bar and the failure reports are brought up to date
/// while waiting for delivery.
const TICK: Duration = Duration::from_millis(100);

/// A progress bar on stderr when stderr is a terminal, else nothing.
pub(crate) struct Progress(ProgressBar);

impl Progress {
    fn new() -> Progress {
        if !io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} done, {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(bar)
    }

    /// Shows how many calls the sender has and how many are done.
    fn show(&self, counters: &Counters) {
        self.0.set_length(counters.enqueued + counters.replayed);
        self.0.set_position(done(counters));
        self.0.set_message(format!(
            "{} delivered, {} retries",
            counters.delivered, counters.retried
        ));
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub(crate) fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        self.0.suspend(f)
    }

    /// Prints a one-line report on stderr without garbling the bar.
    pub(crate) fn report(&self, text: &str) {
        self.0.suspend(|| eprintln!("km: {text}"));
    }
}

/// Calls the sender is finished with, one way or another.
fn done(c: &Counters) -> u64 {
    c.delivered + c.failed + c.dropped.total() + c.spilled
}

/// What the sender did, read when everything was settled (or the wait
/// gave up), and what its shutdown left.
pub(crate) struct Finished {
    pub(crate) counters: Counters,
    pub(crate) report: ShutdownReport,
}

/// A running sender, the reports of what it could not deliver, and the bar.
pub(crate) struct Delivery {
    sender: Sender,
    undelivered: Receiver<Undelivered>,
    quarantined: Receiver<Quarantined>,
    progress: Progress,
    /// Nothing finishing for this long means something is stuck: stop
    /// waiting.
    stall_limit: Duration,
}

impl Delivery {
    /// Starts a sender over the default blocking client, replaying `outbox`
    /// if there is one.
    pub(crate) fn start(
        connection: &Connection,
        args: &DeliveryArgs,
        outbox: Option<Outbox>,
    ) -> Result<Delivery, Failure> {
        let client = connection.client()?;
        let retry_for = args.retry_for.unwrap_or(DEFAULT_RETRY_FOR);
        let retry = if retry_for.is_zero() {
            RetryPolicy::never()
        } else {
            RetryPolicy::new().max_elapsed(Some(retry_for))
        };
        // A call is settled at most `timeout` after its last retry starts.
        let timeout = connection.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let stall_limit = retry_for + timeout * 2 + Duration::from_secs(5);
        let (undelivered_tx, undelivered) = mpsc::channel();
        let (quarantined_tx, quarantined) = mpsc::channel();
        let mut builder = Sender::builder()
            .workers(usize::from(args.workers.unwrap_or(DEFAULT_WORKERS)))
            .retry(retry)
            // Reading waits for room in the queue rather than dropping.
            .full_policy(FullPolicy::Block(stall_limit))
            .on_error(move |lost| {
                // The receiver lives as long as the delivery.
                let _ = undelivered_tx.send(lost);
            })
            .on_quarantine(move |entry| {
                let _ = quarantined_tx.send(entry);
            });
        if let Some(outbox) = outbox {
            builder = builder.outbox(outbox);
        }
        let sender = builder
            .build(client)
            .map_err(|e| Failure::other(format!("cannot start the sender: {e}")))?;
        Ok(Delivery {
            sender,
            undelivered,
            quarantined,
            progress: Progress::new(),
            stall_limit,
        })
    }

    pub(crate) fn sender(&self) -> &Sender {
        &self.sender
    }

    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Whether every call handed over so far was delivered or reported (its
    /// report is then in the channel, for [`Delivery::pump`]).
    pub(crate) fn settled(&self) -> bool {
        self.sender.flush(Duration::ZERO).is_ok()
    }

    /// Hands over the reports that arrived so far and updates the bar.
    pub(crate) fn pump(
        &self,
        on_undelivered: &mut impl FnMut(Undelivered, &Progress),
        on_quarantined: &mut impl FnMut(Quarantined, &Progress),
    ) {
        for entry in self.quarantined.try_iter() {
            on_quarantined(entry, &self.progress);
        }
        for lost in self.undelivered.try_iter() {
            on_undelivered(lost, &self.progress);
        }
        self.progress.show(&self.sender.counters());
    }

    /// Waits until everything is delivered or given up (or nothing has
    /// finished for the stall limit), then shuts the sender down; every
    /// report reaches the callbacks.
    pub(crate) fn finish(
        self,
        mut on_undelivered: impl FnMut(Undelivered, &Progress),
        mut on_quarantined: impl FnMut(Quarantined, &Progress),
    ) -> Finished {
        let mut last = (u64::MAX, u64::MAX);
        let mut since = Instant::now();
        let settled = loop {
            let flushed = self.sender.flush(TICK).is_ok();
            self.pump(&mut on_undelivered, &mut on_quarantined);
            if flushed {
                break true;
            }
            let counters = self.sender.counters();
            let now = (done(&counters), counters.enqueued + counters.replayed);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() > self.stall_limit {
                break false;
            }
        };
        let counters = self.sender.counters();
        // Settled: nothing is left to wait for. Stuck: stop at once, keeping
        // (outbox) or reporting (no outbox) what is left.
        let grace = if settled { TICK } else { Duration::ZERO };
        let Delivery {
            sender,
            undelivered,
            quarantined,
            progress,
            ..
        } = self;
        let report = sender.shutdown(grace);
        for entry in quarantined.try_iter() {
            on_quarantined(entry, &progress);
        }
        for lost in undelivered.try_iter() {
            on_undelivered(lost, &progress);
        }
        progress.0.finish_and_clear();
        Finished { counters, report }
    }
}

/// `3, 7-9, 12`: sorted line numbers with runs folded.
pub(crate) fn ranges(lines: &[usize]) -> String {
    let mut sorted = lines.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ranges() {
        assert_eq!(ranges(&[]), "");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[9, 3, 7, 8, 12, 8]), "3, 7-9, 12");
    }
}
