//! The state both senders share: the queue, retries, the outbox, counters.
//!
//! Workers (threads or tasks) call [`Core::next_job`] or
//! [`Core::next_job_async`], send the job with their transport, and hand
//! the result to [`Core::finish`]; everything else is here, once.

use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use km_proto::http::{Request, Response};
use km_proto::{Decision, Encoder, Options, Outcome, Properties, RetryPolicy, Unkeyed};

use super::{
    Accepted, Counters, Dropped, Failure, FullPolicy, Pending, Reason, ShutdownReport, Undelivered,
};
use crate::error::Error;
use crate::outbox::{Claim, Origin, Quarantined, Store};

/// Replaceable wall clock used to stamp `_t`.
pub(super) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;
/// The `on_error` callback.
pub(super) type ErrorHook = Arc<dyn Fn(Undelivered) + Send + Sync>;
/// The `on_quarantine` callback.
pub(super) type QuarantineHook = Arc<dyn Fn(Quarantined) + Send + Sync>;

/// What a worker got back for a job.
pub(super) type Sent = Result<Response<Vec<u8>>, Error>;

/// Everything the builder decided.
pub(super) struct Settings {
    pub(super) capacity: usize,
    pub(super) full: FullPolicy,
    pub(super) retry: RetryPolicy,
    pub(super) stamp: bool,
    pub(super) clock: Clock,
    pub(super) on_error: Option<ErrorHook>,
    pub(super) on_quarantine: Option<QuarantineHook>,
}

/// A request in memory: 24 bytes besides its text.
struct Item {
    request: Unkeyed,
    /// The outbox segment it is also in, deleted when all its requests
    /// are done with.
    origin: Option<Arc<Origin>>,
}

#[derive(Clone, Copy)]
struct Tries {
    attempts: u32,
    first: Instant,
}

/// A request waiting for its next attempt.
struct Waiting {
    due: Instant,
    seq: u64,
    item: Item,
    tries: Tries,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    /// Reversed: the max-heap pops the earliest due first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// A request a worker is sending.
struct Flight {
    id: u64,
    item: Item,
    tries: Tries,
}

/// One attempt for a worker to make.
pub(super) struct Job {
    pub(super) id: u64,
    pub(super) request: Request<()>,
}

#[derive(Default)]
struct State {
    fresh: VecDeque<Item>,
    waiting: BinaryHeap<Waiting>,
    flights: Vec<Flight>,
    /// Slots taken by calls writing ahead to the outbox.
    reserved: usize,
    /// Requests a worker took and is about to send.
    taking: usize,
    /// Requests taken out of the queue and being finished outside the lock.
    settling: usize,
    next_id: u64,
    /// Blocking workers waiting for work.
    idle_workers: usize,
    /// Threads waiting for room.
    space_waiters: usize,
    /// Threads waiting for the queue to empty.
    idle_waiters: usize,
    replay_requested: bool,
    replay_running: bool,
    /// Whether the next pass also replays what this sender parked (not at
    /// start: those are fresh failures).
    replay_own: bool,
    /// Shutdown began: replay stops claiming.
    closing: bool,
    /// Shut down: workers stop, leftovers went to the outbox or were reported.
    stopped: bool,
}

impl State {
    /// The decision a replay waiter takes from the state: `Some(false)`
    /// once closing, `Some(true)` (the pass is then marked running) when a
    /// replay was asked for, `None` to keep waiting.
    fn take_replay(&mut self) -> Option<bool> {
        if self.closing {
            return Some(false);
        }
        if self.replay_requested {
            self.replay_requested = false;
            self.replay_running = true;
            return Some(true);
        }
        None
    }

    /// Asks for a replay pass of the interval's own (not a caller's).
    fn request_own_replay(&mut self) {
        self.replay_requested = true;
        self.replay_own = true;
    }
}

impl State {
    fn held(&self) -> usize {
        self.fresh.len() + self.waiting.len() + self.flights.len() + self.reserved + self.taking
    }

    fn is_idle(&self) -> bool {
        self.held() == 0 && self.settling == 0 && !self.replay_requested && !self.replay_running
    }

    fn pending(&self) -> Pending {
        Pending {
            queued: self.fresh.len() + self.reserved,
            retrying: self.waiting.len(),
            in_flight: self.flights.len() + self.taking,
            replaying: self.replay_requested || self.replay_running,
        }
    }
}

#[derive(Default)]
struct Stats {
    enqueued: AtomicU64,
    replayed: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    spilled: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_shutdown: AtomicU64,
    dropped_outbox: AtomicU64,
    quarantined: AtomicU64,
    torn_tails: AtomicU64,
    outbox_errors: AtomicU64,
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Relaxed);
}

/// Wake-ups for async workers.
#[cfg(feature = "tokio")]
#[derive(Default)]
pub(super) struct Notifies {
    work: tokio::sync::Notify,
    idle: tokio::sync::Notify,
    replay: tokio::sync::Notify,
}

pub(super) struct Core {
    state: Mutex<State>,
    /// Blocking workers wait here for work.
    work: Condvar,
    /// Flushes and shutdowns wait here for the queue to empty.
    idle: Condvar,
    /// Callers (`FullPolicy::Block`) and replay wait here for room.
    space: Condvar,
    /// The blocking replayer waits here.
    replay: Condvar,
    #[cfg(feature = "tokio")]
    notifies: Option<Notifies>,
    stats: Stats,
    settings: Settings,
    encoder: Encoder,
    store: Option<Arc<Store>>,
}

impl Core {
    pub(super) fn new(
        settings: Settings,
        encoder: Encoder,
        store: Option<Arc<Store>>,
        #[cfg(feature = "tokio")] notifies: Option<Notifies>,
    ) -> Core {
        let fresh = VecDeque::with_capacity(settings.capacity.min(1024));
        Core {
            state: Mutex::new(State {
                fresh,
                replay_requested: store.is_some(),
                ..State::default()
            }),
            work: Condvar::new(),
            idle: Condvar::new(),
            space: Condvar::new(),
            replay: Condvar::new(),
            #[cfg(feature = "tokio")]
            notifies,
            stats: Stats::default(),
            settings,
            encoder,
            store,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is complete before any call that could
        // panic, so a poisoned lock still guards consistent data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    pub(super) fn replay_interval(&self) -> Option<Duration> {
        self.store
            .as_ref()
            .and_then(|s| s.config().get_replay_every())
    }

    pub(super) fn has_outbox(&self) -> bool {
        self.store.is_some()
    }

    // ----- calls -------------------------------------------------------

    fn stamp<'a>(&self, options: Options<'a>) -> Options<'a> {
        if self.settings.stamp && options.get_timestamp().is_none() {
            options.timestamp((self.settings.clock)())
        } else {
            options
        }
    }

    pub(super) fn record<P: Properties>(
        &self,
        person: &str,
        event: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Accepted, Error> {
        let request = self
            .encoder
            .record(person, event, properties, self.stamp(options))?;
        Ok(self.submit(&request))
    }

    pub(super) fn set<P: Properties>(
        &self,
        person: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Accepted, Error> {
        let request = self.encoder.set(person, properties, self.stamp(options))?;
        Ok(self.submit(&request))
    }

    pub(super) fn alias(
        &self,
        person: &str,
        identity: &str,
        options: Options<'_>,
    ) -> Result<Accepted, Error> {
        let request = self.encoder.alias(person, identity, options)?;
        Ok(self.submit(&request))
    }

    fn submit(&self, request: &Request<()>) -> Accepted {
        match self.encoder.strip_key(request) {
            Some(unkeyed) => self.enqueue(unkeyed),
            // The encoder's own requests always start with its key: this
            // would be a bug, and is reported as one, not dropped silently.
            None => {
                self.stats.failed.fetch_add(1, Relaxed);
                tracing::error!(
                    target: "kissmetrics::sender",
                    request = %km_proto::redacted(request),
                    "bug: the encoder's request does not carry its key; not queued"
                );
                Accepted::Dropped
            }
        }
    }

    fn enqueue(&self, request: Unkeyed) -> Accepted {
        let mut st = self.lock();
        let deadline = match self.settings.full {
            FullPolicy::Block(timeout) => Some(deadline(timeout)),
            _ => None,
        };
        while st.held() >= self.settings.capacity && !st.stopped {
            let Some(left) = deadline.map(|d| d.saturating_duration_since(Instant::now())) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            st.space_waiters += 1;
            st = self
                .space
                .wait_timeout(st, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            st.space_waiters -= 1;
        }
        if st.stopped {
            drop(st);
            let item = Item {
                request,
                origin: None,
            };
            return self.late(item);
        }
        if st.held() >= self.settings.capacity {
            drop(st);
            return self.full(request);
        }
        let write_ahead = self.store.as_ref().filter(|s| s.config().get_write_ahead());
        let Some(store) = write_ahead else {
            let item = Item {
                request,
                origin: None,
            };
            self.stats.enqueued.fetch_add(1, Relaxed);
            self.push(st, item);
            return Accepted::Queued;
        };
        st.reserved += 1;
        drop(st);
        let (origin, accepted) = match store.append_wal(&request) {
            Ok((origin, true)) => (Some(origin), Accepted::Durable),
            Ok((origin, false)) => (Some(origin), Accepted::Written),
            Err(e) => {
                self.stats.outbox_errors.fetch_add(1, Relaxed);
                tracing::warn!(
                    target: "kissmetrics::outbox",
                    request = %request,
                    error = %e,
                    "cannot write ahead to the outbox; the request is queued in memory only"
                );
                (None, Accepted::Queued)
            }
        };
        let item = Item { request, origin };
        let mut st = self.lock();
        st.reserved -= 1;
        if st.stopped {
            self.after_release(st);
            return self.late(item);
        }
        self.stats.enqueued.fetch_add(1, Relaxed);
        self.push(st, item);
        accepted
    }

    /// The queue has no room.
    fn full(&self, request: Unkeyed) -> Accepted {
        let spill = self.store.as_ref().filter(|s| {
            matches!(self.settings.full, FullPolicy::Spill) || s.config().get_write_ahead()
        });
        if let Some(store) = spill {
            return match store.park([&request]) {
                Ok(synced) => {
                    self.stats.spilled.fetch_add(1, Relaxed);
                    tracing::debug!(
                        target: "kissmetrics::sender",
                        request = %request,
                        "queue full: request written to the outbox"
                    );
                    if synced {
                        Accepted::Durable
                    } else {
                        Accepted::Written
                    }
                }
                Err(e) => {
                    let item = Item {
                        request,
                        origin: None,
                    };
                    self.lose(item, Reason::Outbox(e.kind()));
                    Accepted::Dropped
                }
            };
        }
        let item = Item {
            request,
            origin: None,
        };
        self.lose(item, Reason::QueueFull);
        Accepted::Dropped
    }

    /// A request that arrived after shutdown.
    fn late(&self, item: Item) -> Accepted {
        let (spilled, _) = self.dispose(vec![item], Reason::Shutdown);
        if spilled > 0 {
            Accepted::Written
        } else {
            Accepted::Dropped
        }
    }

    // ----- workers -----------------------------------------------------

    /// Queues an item and wakes a worker if the queue was empty. Workers
    /// wake each other while work is left (see [`Core::next_job`]), so the
    /// caller pays for a wake-up only when the queue was empty.
    fn push(&self, mut st: MutexGuard<'_, State>, item: Item) {
        let was_empty = st.fresh.is_empty();
        st.fresh.push_back(item);
        let wake_thread = was_empty && st.idle_workers > 0;
        drop(st);
        if wake_thread {
            self.work.notify_one();
        }
        #[cfg(feature = "tokio")]
        if was_empty {
            if let Some(n) = &self.notifies {
                n.work.notify_one();
            }
        }
    }

    /// Releases the lock after something left the queue, waking whoever
    /// waits for room or for the queue to empty (a condition variable's
    /// notify is a system call even with no waiter: only when needed).
    fn after_release(&self, st: MutexGuard<'_, State>) {
        let space = st.space_waiters > 0;
        let idle = st.is_idle();
        let idle_threads = idle && st.idle_waiters > 0;
        drop(st);
        if space {
            self.space.notify_one();
        }
        if idle_threads {
            self.idle.notify_all();
        }
        #[cfg(feature = "tokio")]
        if idle {
            if let Some(n) = &self.notifies {
                n.idle.notify_waiters();
            }
        }
    }

    fn notify_all(&self) {
        self.work.notify_all();
        self.space.notify_all();
        self.replay.notify_all();
        self.idle.notify_all();
        #[cfg(feature = "tokio")]
        if let Some(n) = &self.notifies {
            n.work.notify_waiters();
            n.replay.notify_waiters();
            n.idle.notify_waiters();
        }
    }

    fn take(&self, st: &mut State, now: Instant) -> Take {
        if st.stopped {
            return Take::Stop;
        }
        let (item, tries) = match st.waiting.peek() {
            Some(w) if w.due <= now => match st.waiting.pop() {
                Some(w) => (w.item, w.tries),
                None => return Take::Wait(None),
            },
            _ => match st.fresh.pop_front() {
                Some(item) => (
                    item,
                    Tries {
                        attempts: 0,
                        first: now,
                    },
                ),
                None => return Take::Wait(st.waiting.peek().map(|w| w.due)),
            },
        };
        st.taking += 1;
        let tries = Tries {
            attempts: tries.attempts.saturating_add(1),
            ..tries
        };
        Take::Item(item, tries)
    }

    /// Builds the request of a taken item (outside the lock: it allocates)
    /// and records it as in flight. `None` if it cannot be sent: it was
    /// too long once the key is added (reported), or the sender stopped
    /// meanwhile (kept or reported like the rest).
    fn board(&self, item: Item, tries: Tries) -> Option<Job> {
        let request = match self.encoder.add_key(&item.request) {
            Ok(request) => request,
            Err(e) => {
                self.lose(item, Reason::Rejected(Failure::Invalid(e)));
                let mut st = self.lock();
                st.taking -= 1;
                self.after_release(st);
                return None;
            }
        };
        let mut st = self.lock();
        if st.stopped {
            drop(st);
            self.dispose(vec![item], Reason::Shutdown);
            let mut st = self.lock();
            st.taking -= 1;
            self.after_release(st);
            return None;
        }
        st.taking -= 1;
        st.next_id += 1;
        let id = st.next_id;
        st.flights.push(Flight { id, item, tries });
        // Pass the wake-up on while work is left.
        let more = !st.fresh.is_empty();
        let wake_thread = more && st.idle_workers > 0;
        drop(st);
        if wake_thread {
            self.work.notify_one();
        }
        #[cfg(feature = "tokio")]
        if more {
            if let Some(n) = &self.notifies {
                n.work.notify_one();
            }
        }
        Some(Job { id, request })
    }

    fn settled(&self) {
        let mut st = self.lock();
        st.settling -= 1;
        self.after_release(st);
    }

    /// The next job for a blocking worker; `None` once stopped.
    pub(super) fn next_job(&self) -> Option<Job> {
        let mut st = self.lock();
        loop {
            let now = Instant::now();
            match self.take(&mut st, now) {
                Take::Item(item, tries) => {
                    drop(st);
                    if let Some(job) = self.board(item, tries) {
                        return Some(job);
                    }
                    st = self.lock();
                }
                Take::Stop => return None,
                Take::Wait(due) => {
                    st.idle_workers += 1;
                    st = match due {
                        Some(due) => {
                            self.work
                                .wait_timeout(st, due.saturating_duration_since(now))
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .0
                        }
                        None => self
                            .work
                            .wait(st)
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    };
                    st.idle_workers -= 1;
                }
            }
        }
    }

    /// The next job for an async worker; `None` once stopped.
    #[cfg(feature = "tokio")]
    pub(super) async fn next_job_async(&self) -> Option<Job> {
        let notifies = self.notifies.as_ref()?;
        loop {
            let mut notified = std::pin::pin!(notifies.work.notified());
            notified.as_mut().enable();
            let take = {
                let mut st = self.lock();
                self.take(&mut st, Instant::now())
            };
            match take {
                Take::Item(item, tries) => {
                    if let Some(job) = self.board(item, tries) {
                        return Some(job);
                    }
                }
                Take::Stop => return None,
                Take::Wait(Some(due)) => {
                    let _ = tokio::time::timeout_at(due.into(), notified).await;
                }
                Take::Wait(None) => notified.await,
            }
        }
    }

    /// Takes the result of a job: delivered, retried later, kept in the
    /// outbox or reported.
    pub(super) fn finish(&self, id: u64, sent: Sent) {
        let now = Instant::now();
        let (outcome, failure) = classify(&sent, SystemTime::now());
        drop(sent);
        let mut st = self.lock();
        let Some(at) = st.flights.iter().position(|f| f.id == id) else {
            // Abandoned by a shutdown whose deadline passed: the request
            // was kept or reported then.
            return;
        };
        let Flight { item, tries, .. } = st.flights.swap_remove(at);
        let elapsed = now.saturating_duration_since(tries.first);
        let decision =
            self.settings
                .retry
                .decide(outcome, tries.attempts, elapsed, fastrand::u64(..));
        if let Decision::Retry { after } = decision {
            if let Some(due) = now.checked_add(after) {
                st.next_id += 1;
                let seq = st.next_id;
                tracing::info!(
                    target: "kissmetrics::sender",
                    request = %item.request,
                    attempt = tries.attempts,
                    failure = %failure,
                    delay_ms = after.as_millis() as u64,
                    "retrying"
                );
                st.waiting.push(Waiting {
                    due,
                    seq,
                    item,
                    tries,
                });
                drop(st);
                self.stats.retried.fetch_add(1, Relaxed);
                return;
            }
        }
        if decision == Decision::Delivered && item.origin.is_none() {
            self.stats.delivered.fetch_add(1, Relaxed);
            self.after_release(st);
            return;
        }
        // Settled outside the lock (file I/O), but before a flush returns.
        st.settling += 1;
        drop(st);
        match decision {
            Decision::Delivered => {
                self.stats.delivered.fetch_add(1, Relaxed);
                // The last request of an outbox segment deletes it.
                drop(item);
            }
            Decision::GiveUp(limit) if limit.is_transient() && self.store.is_some() => {
                tracing::warn!(
                    target: "kissmetrics::sender",
                    request = %item.request,
                    attempts = tries.attempts,
                    failure = %failure,
                    "retries exhausted; keeping the request in the outbox"
                );
                let reason = Reason::GaveUp {
                    last: failure,
                    attempts: tries.attempts,
                    limit,
                };
                self.dispose(vec![item], reason);
            }
            Decision::GiveUp(limit) if limit.is_transient() => {
                let reason = Reason::GaveUp {
                    last: failure,
                    attempts: tries.attempts,
                    limit,
                };
                self.lose(item, reason);
            }
            Decision::GiveUp(_) => self.lose(item, Reason::Rejected(failure)),
            // A delay too long to represent as an instant.
            Decision::Retry { .. } => {
                let reason = Reason::GaveUp {
                    last: failure,
                    attempts: tries.attempts,
                    limit: km_proto::GiveUp::Elapsed,
                };
                self.dispose(vec![item], reason);
            }
        }
        self.settled();
    }

    // ----- keeping and losing ------------------------------------------

    /// Keeps requests in the outbox, or reports them lost with `reason`.
    /// Returns how many were kept and how many lost.
    fn dispose(&self, items: Vec<Item>, reason: Reason) -> (usize, usize) {
        if items.is_empty() {
            return (0, 0);
        }
        let Some(store) = &self.store else {
            let n = items.len();
            for item in items {
                self.lose(item, reason.clone());
            }
            return (0, n);
        };
        match store.park(items.iter().map(|i| &i.request)) {
            Ok(_) => {
                add(&self.stats.spilled, items.len());
                (items.len(), 0)
            }
            Err(e) => {
                self.stats.outbox_errors.fetch_add(1, Relaxed);
                let (mut kept, mut lost) = (0, 0);
                for item in items {
                    match &item.origin {
                        // Still in its own segment, which now stays.
                        Some(origin) => {
                            origin.keep();
                            kept += 1;
                        }
                        None => {
                            self.lose(item, Reason::Outbox(e.kind()));
                            lost += 1;
                        }
                    }
                }
                (kept, lost)
            }
        }
    }

    /// Counts, logs and reports a request that will not be delivered.
    fn lose(&self, item: Item, reason: Reason) {
        let counter = match reason {
            Reason::QueueFull => &self.stats.dropped_queue_full,
            Reason::Shutdown => &self.stats.dropped_shutdown,
            Reason::Outbox(_) => &self.stats.dropped_outbox,
            Reason::Rejected(_) | Reason::GaveUp { .. } => &self.stats.failed,
        };
        counter.fetch_add(1, Relaxed);
        tracing::error!(
            target: "kissmetrics::sender",
            request = %item.request,
            reason = %reason,
            "request not delivered"
        );
        let Item { request, origin } = item;
        if let Some(hook) = &self.settings.on_error {
            let report = Undelivered { request, reason };
            if catch_unwind(AssertUnwindSafe(|| hook(report))).is_err() {
                tracing::error!(target: "kissmetrics::sender", "the on_error callback panicked");
            }
        }
        // Reported: its segment may go.
        drop(origin);
    }

    // ----- flush and shutdown ------------------------------------------

    pub(super) fn pending(&self) -> Pending {
        self.lock().pending()
    }

    fn sync_outbox(&self) {
        if let Some(store) = &self.store {
            if let Err(e) = store.sync() {
                self.stats.outbox_errors.fetch_add(1, Relaxed);
                tracing::error!(target: "kissmetrics::outbox", error = %e, "cannot sync the outbox");
            }
        }
    }

    /// Waits, blocking, until nothing is pending or `deadline`.
    pub(super) fn flush(&self, deadline: Instant) -> Result<(), Pending> {
        let mut st = self.lock();
        loop {
            if st.is_idle() {
                drop(st);
                self.sync_outbox();
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(st.pending());
            }
            st.idle_waiters += 1;
            st = self
                .idle
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            st.idle_waiters -= 1;
        }
    }

    /// Waits, asynchronously, until nothing is pending or `deadline`.
    #[cfg(feature = "tokio")]
    pub(super) async fn flush_async(&self, deadline: Instant) -> Result<(), Pending> {
        let Some(notifies) = &self.notifies else {
            return Err(self.pending());
        };
        loop {
            let mut notified = std::pin::pin!(notifies.idle.notified());
            notified.as_mut().enable();
            {
                let st = self.lock();
                if st.is_idle() {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(st.pending());
                }
            }
            let _ = tokio::time::timeout_at(deadline.into(), notified).await;
        }
        // fsync can take milliseconds: not on the executor's threads.
        let core = self.store.clone();
        let synced = tokio::task::spawn_blocking(move || core.map(|s| s.sync()));
        if let Ok(Some(Err(e))) = synced.await {
            self.stats.outbox_errors.fetch_add(1, Relaxed);
            tracing::error!(target: "kissmetrics::outbox", error = %e, "cannot sync the outbox");
        }
        Ok(())
    }

    /// Stops replay from claiming more segments.
    pub(super) fn close(&self) {
        let mut st = self.lock();
        st.closing = true;
        st.replay_requested = false;
        drop(st);
        self.notify_all();
    }

    /// Stops everything: requests still held are kept in the outbox or
    /// reported, workers are told to exit, the outbox is sealed. Waits at
    /// most until `deadline` for requests being finished by workers.
    pub(super) fn stop(&self, deadline: Instant) -> ShutdownReport {
        let mut st = self.lock();
        st.closing = true;
        st.stopped = true;
        let in_flight = st.flights.len();
        let mut items: Vec<Item> = st.fresh.drain(..).collect();
        items.extend(st.waiting.drain().map(|w| w.item));
        items.extend(st.flights.drain(..).map(|f| f.item));
        self.notify_all();
        // Workers settling a request, calls writing ahead and a replay
        // pass finish in moments; wait for them, but not past the deadline.
        while st.settling > 0 || st.reserved > 0 || st.taking > 0 || st.replay_running {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st.idle_waiters += 1;
            st = self
                .idle
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            st.idle_waiters -= 1;
        }
        drop(st);
        let undelivered = items.len();
        let (spilled, lost) = self.dispose(items, Reason::Shutdown);
        if let Some(store) = &self.store {
            if let Err(e) = store.close() {
                self.stats.outbox_errors.fetch_add(1, Relaxed);
                tracing::error!(target: "kissmetrics::outbox", error = %e, "cannot seal the outbox");
            }
        }
        ShutdownReport {
            undelivered,
            spilled,
            lost,
            in_flight,
        }
    }

    // ----- replay ------------------------------------------------------

    /// Asks for a replay pass.
    pub(super) fn request_replay(&self) {
        if self.store.is_none() {
            return;
        }
        let mut st = self.lock();
        if st.closing {
            return;
        }
        st.replay_requested = true;
        st.replay_own = true;
        drop(st);
        self.replay.notify_all();
        #[cfg(feature = "tokio")]
        if let Some(n) = &self.notifies {
            n.replay.notify_one();
        }
    }

    /// Waits, blocking, for a replay request or the replay interval; marks
    /// the pass running. `false` once closing.
    pub(super) fn wait_replay(&self) -> bool {
        let every = self.replay_interval();
        let mut st = self.lock();
        let mut since = Instant::now();
        loop {
            if let Some(start) = st.take_replay() {
                return start;
            }
            match every {
                Some(every) => {
                    let left = every.saturating_sub(since.elapsed());
                    if left.is_zero() {
                        st.request_own_replay();
                        since = Instant::now();
                        continue;
                    }
                    st = self
                        .replay
                        .wait_timeout(st, left)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
                None => {
                    st = self
                        .replay
                        .wait(st)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }
        }
    }

    /// Waits, asynchronously, for a replay request or the replay interval;
    /// marks the pass running. `false` once closing.
    #[cfg(feature = "tokio")]
    pub(super) async fn wait_replay_async(&self) -> bool {
        let Some(notifies) = &self.notifies else {
            return false;
        };
        let every = self.replay_interval();
        let mut since = tokio::time::Instant::now();
        loop {
            let mut notified = std::pin::pin!(notifies.replay.notified());
            notified.as_mut().enable();
            if let Some(start) = self.lock().take_replay() {
                return start;
            }
            match every {
                Some(every) => {
                    if tokio::time::timeout_at(since + every, notified)
                        .await
                        .is_err()
                    {
                        self.lock().request_own_replay();
                        since = tokio::time::Instant::now();
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Claims the outbox's segments one by one and queues their requests,
    /// waiting for room. Call after [`Core::wait_replay`] returned `true`.
    pub(super) fn replay_pass(&self) {
        let own = std::mem::take(&mut self.lock().replay_own);
        if let Some(store) = &self.store {
            self.replay_segments(store, own);
        }
        let mut st = self.lock();
        st.replay_running = false;
        self.after_release(st);
    }

    fn replay_segments(&self, store: &Store, own: bool) {
        // What this sender parked becomes claimable, by it or others.
        if own {
            if let Err(e) = store.seal_parking() {
                self.stats.outbox_errors.fetch_add(1, Relaxed);
                tracing::error!(
                    target: "kissmetrics::outbox",
                    error = %e,
                    "cannot seal the parking segment"
                );
            }
        }
        let segments = match store.segments() {
            Ok(segments) => segments,
            Err(e) => {
                self.stats.outbox_errors.fetch_add(1, Relaxed);
                tracing::error!(target: "kissmetrics::outbox", error = %e, "cannot list the outbox");
                return;
            }
        };
        for path in segments {
            if self.lock().closing {
                return;
            }
            let claim = match store.claim(&path) {
                Ok(Some(claim)) => claim,
                Ok(None) => continue,
                Err(e) => {
                    self.stats.outbox_errors.fetch_add(1, Relaxed);
                    tracing::error!(
                        target: "kissmetrics::outbox",
                        segment = %path.display(),
                        error = %e,
                        "cannot claim a segment"
                    );
                    continue;
                }
            };
            if !self.queue_claim(claim) {
                return;
            }
        }
    }

    /// Queues a claim's requests; `false` when shutdown interrupted it.
    fn queue_claim(&self, claim: Claim) -> bool {
        let Claim {
            origin,
            requests,
            quarantined,
            quarantine_failed,
            torn,
        } = claim;
        for q in quarantined {
            self.stats.quarantined.fetch_add(1, Relaxed);
            tracing::error!(
                target: "kissmetrics::outbox",
                segment = %q.segment.display(),
                offset = q.offset,
                len = q.len,
                file = %q.file.display(),
                reason = q.reason,
                "corrupt outbox entry quarantined"
            );
            if let Some(hook) = &self.settings.on_quarantine {
                if catch_unwind(AssertUnwindSafe(|| hook(q))).is_err() {
                    tracing::error!(target: "kissmetrics::outbox", "the on_quarantine callback panicked");
                }
            }
        }
        for (q, e) in quarantine_failed {
            self.stats.outbox_errors.fetch_add(1, Relaxed);
            tracing::error!(
                target: "kissmetrics::outbox",
                segment = %q.segment.display(),
                offset = q.offset,
                error = %e,
                "cannot quarantine a corrupt entry; its segment is kept"
            );
        }
        if let Some((offset, len)) = torn {
            self.stats.torn_tails.fetch_add(1, Relaxed);
            tracing::warn!(
                target: "kissmetrics::outbox",
                offset,
                len,
                "skipped the torn tail of an outbox segment (an append cut short by a crash)"
            );
        }
        let mut requests = requests.into_iter();
        let mut queued = 0_usize;
        while let Some(request) = requests.next() {
            let item = Item {
                request,
                origin: Some(Arc::clone(&origin)),
            };
            if let Err(item) = self.push_replayed(item) {
                if queued == 0 {
                    // Untouched: leave the segment for the next replay.
                    origin.keep();
                    return false;
                }
                let rest: Vec<Item> = std::iter::once(item)
                    .chain(requests.map(|request| Item {
                        request,
                        origin: Some(Arc::clone(&origin)),
                    }))
                    .collect();
                self.dispose(rest, Reason::Shutdown);
                return false;
            }
            queued += 1;
        }
        true
    }

    /// Queues a replayed request, waiting for room; gives it back when
    /// shutdown began.
    fn push_replayed(&self, item: Item) -> Result<(), Item> {
        let mut st = self.lock();
        while st.held() >= self.settings.capacity && !st.closing {
            st.space_waiters += 1;
            st = self
                .space
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st.space_waiters -= 1;
        }
        if st.closing {
            return Err(item);
        }
        self.stats.replayed.fetch_add(1, Relaxed);
        self.push(st, item);
        Ok(())
    }

    // ----- counters ----------------------------------------------------

    pub(super) fn counters(&self) -> Counters {
        let s = &self.stats;
        Counters {
            enqueued: s.enqueued.load(Relaxed),
            replayed: s.replayed.load(Relaxed),
            delivered: s.delivered.load(Relaxed),
            retried: s.retried.load(Relaxed),
            failed: s.failed.load(Relaxed),
            spilled: s.spilled.load(Relaxed),
            dropped: Dropped {
                queue_full: s.dropped_queue_full.load(Relaxed),
                shutdown: s.dropped_shutdown.load(Relaxed),
                outbox: s.dropped_outbox.load(Relaxed),
            },
            quarantined: s.quarantined.load(Relaxed),
            torn_tails: s.torn_tails.load(Relaxed),
            outbox_errors: s.outbox_errors.load(Relaxed),
        }
    }
}

impl Drop for Core {
    /// Whatever is still held when the last worker and handle are gone (an
    /// async sender whose runtime shut down, say) is kept or reported:
    /// never dropped silently.
    fn drop(&mut self) {
        let st = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stopped = st.stopped;
        st.stopped = true;
        let mut items: Vec<Item> = st.fresh.drain(..).collect();
        items.extend(st.waiting.drain().map(|w| w.item));
        items.extend(st.flights.drain(..).map(|f| f.item));
        self.dispose(items, Reason::Shutdown);
        if !stopped {
            if let Some(store) = &self.store {
                if let Err(e) = store.close() {
                    tracing::error!(target: "kissmetrics::outbox", error = %e, "cannot seal the outbox");
                }
            }
        }
    }
}

enum Take {
    Item(Item, Tries),
    Wait(Option<Instant>),
    Stop,
}

/// The class of a result and what went wrong, for logs and reports.
fn classify(sent: &Sent, now: SystemTime) -> (Outcome, Failure) {
    match sent {
        Ok(response) => (Outcome::Delivered, Failure::Status(response.status())),
        Err(Error::Undelivered {
            status, response, ..
        }) => (km_proto::classify(response, now), Failure::Status(*status)),
        Err(Error::Transport(e)) => (Outcome::from(e), Failure::Transport(e.kind())),
        Err(Error::Invalid(e)) => (Outcome::Rejected, Failure::Invalid(e.clone())),
    }
}

/// `now + timeout`, or a century from now if that overflows.
pub(super) fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// A transport that panicked, as a non-retryable failure.
pub(super) fn panicked() -> Sent {
    Err(Error::Transport(km_proto::TransportError::new(
        km_proto::TransportErrorKind::Other,
        "the transport panicked",
    )))
}

/// `io::Error` for builder problems.
pub(super) fn invalid_setup(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
