//! Background delivery that never loses an event silently and never
//! counts one twice.
//!
//! A [`Sender`] (blocking transports, worker threads) or an
//! [`AsyncSender`] (async transports, tokio tasks; feature `tokio`) takes
//! `record`, `set` and `alias` calls, validates them, queues them in a
//! bounded memory queue and returns at once. Workers deliver the queued
//! requests through a [`Client`](crate::Client) or
//! [`AsyncClient`](crate::AsyncClient), retrying retryable failures with
//! the [`RetryPolicy`] (exponential backoff with
//! full jitter, `Retry-After` honoured).
//!
//! ```
//! use std::time::Duration;
//! use kissmetrics::proto::http::Response;
//! use kissmetrics::sender::{Accepted, Sender};
//! use kissmetrics::Client;
//!
//! // Any client works: `Client::builder(key).build()?` with a transport
//! // feature, or your own transport as here.
//! let client = Client::builder("my-api-key").with_transport(|_req| Ok(Response::new(Vec::new())))?;
//! let sender = Sender::builder().build(client)?;
//! assert_eq!(sender.record("bob@example.com", "Signed Up", [("Plan", "Pro")])?, Accepted::Queued);
//! sender.alias("bob", "bob@example.com")?;
//! assert!(sender.flush(Duration::from_secs(5)).is_ok());
//! assert_eq!(sender.counters().delivered, 2);
//! let report = sender.shutdown(Duration::from_secs(1));
//! assert!(report.is_clean());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Stamping: retries without double counting
//! A request may be sent more than once: a timeout does not say whether
//! the service got it. The service deduplicates: two events with the same
//! person (`_p`), name (`_n`) and time (`_t`, whole seconds) count once,
//! and so do two property sets with the same person, property and time.
//! So each `record` and `set` is stamped with `_d=1` and `_t` = the time
//! of the call (from [`SenderBuilder::clock`], the system clock by
//! default) when it is made, unless the call gave its own timestamp. A
//! retried, replayed or duplicated request then counts once.
//!
//! The trade-off: two *different* identical events for the same person in
//! the same second (two "Viewed Page" by bob within one second, with the
//! same name) also count once; properties do not tell them apart, they
//! are not part of the rule. Give such events distinct names or
//! timestamps, or, if they must count separately, turn stamping off
//! ([`SenderBuilder::stamp_time`]) and accept that a retried request may
//! then be counted twice. `alias`
//! is never stamped: aliasing the same pair twice is harmless.
//!
//! # When the queue is full
//! [`FullPolicy`]: drop the newest request (the default: a call never
//! waits on I/O), block the caller up to a timeout, or spill the request
//! to the [outbox](crate::outbox). Every dropped request is counted
//! ([`Counters::dropped`]), logged with `tracing` and passed to
//! [`SenderBuilder::on_error`].
//!
//! # Flush, shutdown, drop
//! [`Sender::flush`] and [`Sender::shutdown`] wait for delivery, requests
//! already in flight included, but never past their timeout, and report
//! what is left. Dropping a sender shuts it down with
//! [`SenderBuilder::drop_timeout`] (2 s by default). Whatever is still
//! undelivered then goes to the outbox when there is one, and is otherwise
//! reported: [`Counters::dropped`], a `tracing` error and `on_error`.
//! Dropping a [`Sender`] inside a tokio runtime does not panic (it blocks
//! that thread for at most the drop timeout).
//!
//! # What is logged
//! With `tracing`, under the targets `kissmetrics::sender` and
//! `kissmetrics::outbox`: every retry (`INFO`, with the attempt, delay and
//! failure), every request given up or dropped (`ERROR`), every request
//! kept in the outbox after its retries ran out (`WARN`), every corrupt
//! or torn outbox entry. Requests are logged without their API key.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use km_proto::http::StatusCode;
use km_proto::{GiveUp, RetryPolicy, TransportErrorKind, Unkeyed};

use crate::outbox::{Outbox, Quarantined, Store};

mod blocking;
mod engine;
#[cfg(feature = "tokio")]
mod tasks;

pub use blocking::Sender;
#[cfg(feature = "tokio")]
pub use tasks::AsyncSender;

use self::engine::Settings;

/// What a sender does with a request when its queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Drop the new request: counted in [`Dropped::queue_full`], logged,
    /// passed to `on_error`. The default: a call never waits.
    #[default]
    DropNewest,
    /// Block the calling thread until there is room, at most this long,
    /// then drop the request as [`FullPolicy::DropNewest`] does.
    Block(Duration),
    /// Write the request to the outbox, to be replayed later (requires
    /// [`SenderBuilder::outbox`]).
    Spill,
}

/// What became of a request handed to a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Accepted {
    /// In the memory queue: a crash of the process loses it.
    Queued,
    /// Written to the outbox, not yet fsynced
    /// ([`Durability::Batched`](crate::outbox::Durability::Batched)): a
    /// process crash does not lose it, a machine crash may.
    Written,
    /// Written to the outbox and fsynced: no crash loses it.
    Durable,
    /// Dropped because the queue was full (or the outbox failed): counted,
    /// logged and passed to `on_error`.
    Dropped,
}

/// Counts since the sender was built; read them at any time with
/// [`Sender::counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counters {
    /// Calls queued in memory (`record`, `set`, `alias`).
    pub enqueued: u64,
    /// Requests read back from the outbox and queued.
    pub replayed: u64,
    /// Requests the service acknowledged (`2xx` or `304`).
    pub delivered: u64,
    /// Retries scheduled (one per failed attempt that will be retried).
    pub retried: u64,
    /// Requests given up and reported: a permanent failure, or retries run
    /// out with no outbox to keep them.
    pub failed: u64,
    /// Requests written to the outbox to be sent later (queue full, retries
    /// run out, shutdown), write-ahead appends not included.
    pub spilled: u64,
    /// Requests dropped without being sent, by reason.
    pub dropped: Dropped,
    /// Corrupt outbox entries moved to quarantine.
    pub quarantined: u64,
    /// Torn outbox tails (appends cut short by a crash) skipped.
    pub torn_tails: u64,
    /// Outbox reads or writes that failed (each also logged).
    pub outbox_errors: u64,
}

/// Dropped requests, by reason; see [`Counters::dropped`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Dropped {
    /// The queue was full ([`FullPolicy::DropNewest`], or
    /// [`FullPolicy::Block`] timed out).
    pub queue_full: u64,
    /// Still undelivered at shutdown (or drop), with no outbox.
    pub shutdown: u64,
    /// The outbox could not take them.
    pub outbox: u64,
}

impl Dropped {
    /// All dropped requests.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.queue_full + self.shutdown + self.outbox
    }
}

/// Why a request failed, as far as the transport or service said.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The service answered with this status.
    Status(StatusCode),
    /// The transport failed.
    Transport(TransportErrorKind),
    /// The request cannot be sent (too long once the key is added).
    Invalid(km_proto::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(status) => write!(f, "status {status}"),
            Failure::Transport(kind) => write!(f, "{kind} error"),
            Failure::Invalid(e) => write!(f, "invalid request: {e}"),
        }
    }
}

/// Why a request will not be delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The queue was full.
    QueueFull,
    /// The failure cannot be fixed by sending again (a `4xx` other than
    /// `408`/`429`, a TLS error, ...).
    Rejected(Failure),
    /// Retryable failures until the retry policy stopped, with no outbox to
    /// keep the request.
    GaveUp {
        /// The last failure.
        last: Failure,
        /// Attempts made.
        attempts: u32,
        /// Which limit stopped the retries.
        limit: GiveUp,
    },
    /// Still undelivered when the sender shut down, with no outbox.
    Shutdown,
    /// The outbox could not store it.
    Outbox(io::ErrorKind),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::QueueFull => f.write_str("the queue was full"),
            Reason::Rejected(failure) => write!(f, "rejected: {failure}"),
            Reason::GaveUp {
                last,
                attempts,
                limit,
            } => write!(
                f,
                "gave up after {attempts} attempts ({limit}); last: {failure}",
                failure = last
            ),
            Reason::Shutdown => f.write_str("still undelivered at shutdown"),
            Reason::Outbox(kind) => write!(f, "the outbox failed: {kind}"),
        }
    }
}

/// A request that will not be delivered, as passed to
/// [`SenderBuilder::on_error`]: keep it if you need to.
///
/// The request has no API key; to send it yourself, add it back with the
/// client's encoder:
///
/// ```
/// # use kissmetrics::{Client, proto::http::Response};
/// # let client = Client::builder("key").with_transport(|_| Ok(Response::new(Vec::new()))).unwrap();
/// # let request = client.encoder().strip_key(&client.encoder().alias("a", "b", Default::default()).unwrap()).unwrap();
/// let full = client.encoder().add_key(&request)?;
/// client.send(full)?;
/// # Ok::<(), kissmetrics::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Undelivered {
    /// The request, without its key.
    pub request: Unkeyed,
    /// Why it will not be delivered.
    pub reason: Reason,
}

/// What a sender still held when a flush timed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Pending {
    /// Waiting for a first attempt.
    pub queued: usize,
    /// Waiting for a retry.
    pub retrying: usize,
    /// Being sent.
    pub in_flight: usize,
    /// Whether an outbox replay is still queuing requests.
    pub replaying: bool,
}

impl Pending {
    /// Requests held in memory.
    #[must_use]
    pub fn total(&self) -> usize {
        self.queued + self.retrying + self.in_flight
    }
}

/// What [`Sender::shutdown`] left undelivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Requests not delivered by the deadline.
    pub undelivered: usize,
    /// Of them, kept in the outbox.
    pub spilled: usize,
    /// Of them, lost: counted in [`Dropped::shutdown`] (or
    /// [`Dropped::outbox`]) and passed to `on_error`.
    pub lost: usize,
    /// Of the undelivered, those in flight at the deadline: they may still
    /// reach the service (and, kept in the outbox, be sent again; stamping
    /// makes the service count them once).
    pub in_flight: usize,
}

impl ShutdownReport {
    /// Whether everything was delivered.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.undelivered == 0
    }
}

/// Builds a [`Sender`] or an [`AsyncSender`].
///
/// ```
/// use std::time::Duration;
/// use kissmetrics::sender::{FullPolicy, Sender};
/// use kissmetrics::proto::RetryPolicy;
///
/// let builder = Sender::builder()
///     .capacity(50_000)
///     .workers(8)
///     .full_policy(FullPolicy::Block(Duration::from_millis(50)))
///     .retry(RetryPolicy::new().max_attempts(Some(5)))
///     .on_error(|lost| eprintln!("not delivered: {} ({})", lost.request, lost.reason));
/// # let _ = builder;
/// ```
#[must_use]
pub struct SenderBuilder {
    capacity: usize,
    workers: usize,
    full: FullPolicy,
    retry: RetryPolicy,
    stamp: bool,
    clock: Option<engine::Clock>,
    outbox: Option<Outbox>,
    on_error: Option<engine::ErrorHook>,
    on_quarantine: Option<engine::QuarantineHook>,
    drop_timeout: Duration,
}

impl fmt::Debug for SenderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderBuilder")
            .field("capacity", &self.capacity)
            .field("workers", &self.workers)
            .field("full", &self.full)
            .field("retry", &self.retry)
            .field("stamp", &self.stamp)
            .field("outbox", &self.outbox)
            .field("drop_timeout", &self.drop_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for SenderBuilder {
    fn default() -> Self {
        SenderBuilder {
            capacity: Self::DEFAULT_CAPACITY,
            workers: Self::DEFAULT_WORKERS,
            full: FullPolicy::DropNewest,
            retry: RetryPolicy::new(),
            stamp: true,
            clock: None,
            outbox: None,
            on_error: None,
            on_quarantine: None,
            drop_timeout: Self::DEFAULT_DROP_TIMEOUT,
        }
    }
}

impl SenderBuilder {
    /// The default queue capacity: 10,000 requests.
    pub const DEFAULT_CAPACITY: usize = 10_000;
    /// The default number of workers: 4.
    pub const DEFAULT_WORKERS: usize = 4;
    /// The default time a drop waits for delivery: 2 s.
    pub const DEFAULT_DROP_TIMEOUT: Duration = Duration::from_secs(2);

    /// How many requests are held in memory at most (queued, waiting for a
    /// retry or in flight); at least 1. Default 10,000.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How many requests are sent at once: threads for a [`Sender`], tasks
    /// for an [`AsyncSender`]; at least 1. Default 4.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// What to do when the queue is full (default
    /// [`FullPolicy::DropNewest`]).
    pub fn full_policy(mut self, policy: FullPolicy) -> Self {
        self.full = policy;
        self
    }

    /// When to retry (default [`RetryPolicy::new`]: up to 10 attempts in 5
    /// minutes).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether `record` and `set` calls without a timestamp are stamped
    /// with `_t` (the call time) and `_d=1` (default: yes). See the
    /// [module docs](self) for the trade-off.
    pub fn stamp_time(mut self, yes: bool) -> Self {
        self.stamp = yes;
        self
    }

    /// The clock that stamps `_t` (default: the system clock).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let builder = kissmetrics::sender::Sender::builder()
    ///     .clock(|| UNIX_EPOCH + Duration::from_secs(1_381_849_312));
    /// # let _ = builder;
    /// ```
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Keeps requests in this outbox; see [`outbox`](crate::outbox).
    pub fn outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Called with every request that will not be delivered (on a worker
    /// thread or the calling thread; keep it short, and do not flush or
    /// shut the sender down from it).
    pub fn on_error(mut self, hook: impl Fn(Undelivered) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Called with every corrupt outbox entry moved to quarantine.
    pub fn on_quarantine(mut self, hook: impl Fn(Quarantined) + Send + Sync + 'static) -> Self {
        self.on_quarantine = Some(Arc::new(hook));
        self
    }

    /// How long dropping the sender waits for delivery (default 2 s).
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// The settings and the opened outbox.
    fn parts(&mut self) -> io::Result<(Settings, Option<Arc<Store>>)> {
        if self.full == FullPolicy::Spill && self.outbox.is_none() {
            return Err(engine::invalid_setup(
                "FullPolicy::Spill needs an outbox (SenderBuilder::outbox)",
            ));
        }
        let store = self.outbox.take().map(Store::open).transpose()?;
        let settings = Settings {
            capacity: self.capacity,
            full: self.full,
            retry: self.retry,
            stamp: self.stamp,
            clock: self
                .clock
                .take()
                .unwrap_or_else(|| Arc::new(SystemTime::now)),
            on_error: self.on_error.take(),
            on_quarantine: self.on_quarantine.take(),
        };
        Ok((settings, store))
    }
}

/// The calls both senders offer, written once.
macro_rules! calls {
    () => {
        /// Records `event` for `person`: validates, stamps `_t` (see the
        /// [module docs](crate::sender)), queues, returns at once.
        ///
        /// # Errors
        /// [`Error::Invalid`](crate::Error::Invalid) for bad input; nothing is queued then.
        pub fn record<P: crate::Properties>(
            &self,
            person: &str,
            event: &str,
            properties: P,
        ) -> Result<crate::sender::Accepted, crate::Error> {
            self.core
                .record(person, event, properties, crate::Options::new())
        }

        /// Records `event` with a timestamp (then not stamped) or a path
        /// override.
        ///
        /// # Errors
        /// As `record`.
        pub fn record_with<P: crate::Properties>(
            &self,
            person: &str,
            event: &str,
            properties: P,
            options: crate::Options<'_>,
        ) -> Result<crate::sender::Accepted, crate::Error> {
            self.core.record(person, event, properties, options)
        }

        /// Sets properties on `person`: validates, stamps `_t`, queues,
        /// returns at once.
        ///
        /// # Errors
        /// As `record`.
        pub fn set<P: crate::Properties>(
            &self,
            person: &str,
            properties: P,
        ) -> Result<crate::sender::Accepted, crate::Error> {
            self.core.set(person, properties, crate::Options::new())
        }

        /// Sets properties with a timestamp (then not stamped) or a path
        /// override.
        ///
        /// # Errors
        /// As `record`.
        pub fn set_with<P: crate::Properties>(
            &self,
            person: &str,
            properties: P,
            options: crate::Options<'_>,
        ) -> Result<crate::sender::Accepted, crate::Error> {
            self.core.set(person, properties, options)
        }

        /// Aliases `person` to `identity` (never stamped: repeating an
        /// alias is harmless).
        ///
        /// # Errors
        /// As `record`.
        pub fn alias(
            &self,
            person: &str,
            identity: &str,
        ) -> Result<crate::sender::Accepted, crate::Error> {
            self.core.alias(person, identity, crate::Options::new())
        }

        /// Aliases with a path override.
        ///
        /// # Errors
        /// As `record`.
        pub fn alias_with(
            &self,
            person: &str,
            identity: &str,
            options: crate::Options<'_>,
        ) -> Result<crate::sender::Accepted, crate::Error> {
            self.core.alias(person, identity, options)
        }

        /// The counters so far.
        #[must_use]
        pub fn counters(&self) -> crate::sender::Counters {
            self.core.counters()
        }

        /// What is held in memory now.
        #[must_use]
        pub fn pending(&self) -> crate::sender::Pending {
            self.core.pending()
        }

        /// The encoder the requests are built with (to add the key back to
        /// an [`Undelivered`](crate::sender::Undelivered) request, say).
        #[must_use]
        pub fn encoder(&self) -> &crate::proto::Encoder {
            self.core.encoder()
        }

        /// Replays the outbox now (in the background), instead of waiting
        /// for the next [`Outbox::replay_every`](crate::outbox::Outbox::replay_every).
        /// A flush waits for the replay. Does nothing without an outbox.
        pub fn replay_outbox(&self) {
            self.core.request_replay();
        }
    };
}
pub(crate) use calls;
