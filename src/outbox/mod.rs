//! A crash-safe outbox: requests kept on disk until they are delivered.
//!
//! The modern form of the old clients' "log now, send later" mode. An
//! [`Outbox`] is a directory you name (there is no default, and `/tmp` is a
//! poor choice: it is cleaned behind your back) that a
//! [`Sender`](crate::sender::Sender) or
//! [`AsyncSender`](crate::sender::AsyncSender) writes requests to and
//! replays them from.
//!
//! # What goes to disk, and when
//! - With [`Outbox::write_ahead`] on (the default) every `record`, `set`
//!   and `alias` is appended before the call returns, then queued in
//!   memory. A crash loses nothing that was acknowledged as durable
//!   ([`Accepted::Durable`](crate::sender::Accepted::Durable)).
//! - Whatever cannot be delivered now goes to disk too: requests the queue
//!   has no room for (with [`FullPolicy::Spill`](crate::sender::FullPolicy::Spill),
//!   or always in write-ahead mode), requests whose retries ran out on a
//!   retryable failure, and requests still pending when the sender shuts
//!   down or is dropped.
//! - [`Durability`] says when appends are fsynced: before each call
//!   returns ([`Durability::EveryAppend`], the default) or once every `n`
//!   appends ([`Durability::Batched`]): then a machine crash or power loss
//!   can lose at most the last `n − 1` acknowledged appends. A process
//!   crash alone (a panic, `SIGKILL`) loses nothing that was written,
//!   whatever the durability.
//!
//! # Format
//! A directory of append-only segment files named
//! `<milliseconds>-<pid>-<random>.seg` (created mode 0600; the directory,
//! when created, 0700), plus `quarantine/`. A segment is a sequence of
//! frames, one per request:
//!
//! ```text
//! magic "KMO1" | length: u32 LE | CRC-32: u32 LE | payload: length bytes
//! ```
//!
//! The CRC-32 (IEEE) covers the length bytes and the payload. The payload
//! is the request's path and query **without the `_k` pair**
//! ([`Unkeyed`](crate::proto::Unkeyed), for example
//! `/e?_p=bob&_d=1&_t=1381849312&_n=Signed+Up`): the API key is never
//! written to disk, and is added back when the request is sent. So is the
//! endpoint: requests go wherever the replaying sender's client points. Use
//! one outbox directory per API key.
//!
//! # Replay
//! A sender replays its outbox when it starts (what earlier runs and other
//! processes left), every [`Outbox::replay_every`] and when asked
//! ([`Sender::replay_outbox`](crate::sender::Sender::replay_outbox)); these
//! later passes also retry what the sender itself parked.
//! Replay claims whole segments with an exclusive lock (`flock` through
//! the `fs4` crate) held until every request read from the segment was
//! delivered, kept again, or reported; only then is the file deleted.
//! Hence:
//! - several processes replaying one directory at once never send the same
//!   entry twice and never lose one: a segment is read by its claimer only;
//! - a segment still being appended to is locked by its writer, so it is
//!   never claimed: requests appended during a replay go to a segment the
//!   replay leaves alone, and are sent by a later one;
//! - a replayer that dies releases its locks with its file descriptors:
//!   its segments are claimed again, whole (requests it had delivered are
//!   sent again; the service's deduplication drops them, see the
//!   [`sender`](crate::sender) docs on stamping);
//! - a torn tail (an append a crash cut short) is detected by its length
//!   and skipped, with a `tracing` warning and a counter; the entries
//!   before it are kept;
//! - a corrupt entry (bad magic, length or checksum, or a payload that is
//!   not a stored request) is copied to `quarantine/<segment>-<offset>.bad`,
//!   counted, logged with `tracing` and passed to
//!   [`SenderBuilder::on_quarantine`](crate::sender::SenderBuilder::on_quarantine);
//!   the entries around it are kept.
//!
//! Locks are advisory `flock` locks: keep the outbox on a local file system
//! (not NFS). The guarantee that a claimed segment is the one still named
//! in the directory relies on inode numbers, checked on Unix only.
//!
//! # Example
//! ```
//! use std::num::NonZeroU32;
//! use std::time::Duration;
//! use kissmetrics::outbox::{Durability, Outbox};
//!
//! let dir = tempfile::tempdir()?;
//! let outbox = Outbox::new(dir.path().join("kissmetrics-outbox"))
//!     .durability(Durability::Batched(NonZeroU32::new(64).unwrap()))
//!     .replay_every(Some(Duration::from_secs(60)));
//! assert!(outbox.get_write_ahead());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod frame;
mod store;

/// Entry points for the cargo-fuzz targets (built with `--cfg fuzzing`
/// only; not part of the API).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use super::frame::{decode, encode, Piece, MAX_PAYLOAD};

    /// Decodes arbitrary bytes as a segment, then a segment written from
    /// `payloads` after them, and checks the decoder's promises: every
    /// byte belongs to exactly one piece, in order; only the last piece
    /// may be a torn tail; and every frame written whole comes back whole.
    ///
    /// # Panics
    /// When a promise is broken: that is what the fuzzer looks for.
    pub fn check(garbage: &[u8], payloads: &[Vec<u8>]) {
        covers(garbage, &decode(garbage));

        let payloads: Vec<&[u8]> = payloads
            .iter()
            .map(|p| &p[..p.len().min(MAX_PAYLOAD)])
            .collect();
        let mut written = Vec::new();
        for p in &payloads {
            encode(p, &mut written);
        }
        let entries = |buf: &[u8]| -> Vec<Vec<u8>> {
            decode(buf)
                .into_iter()
                .filter_map(|piece| match piece {
                    Piece::Entry { payload, .. } => Some(payload.to_vec()),
                    _ => None,
                })
                .collect()
        };
        let expected: Vec<Vec<u8>> = payloads.iter().map(|p| p.to_vec()).collect();
        assert_eq!(
            entries(&written),
            expected,
            "a clean segment decodes to its entries"
        );

        // Garbage before good frames may swallow nothing after it, unless
        // the garbage ends inside what looks like a frame header. A torn
        // copy of the first frame after the good ones must not hide them.
        let mut torn = written.clone();
        if let Some(first) = payloads.first() {
            let mut frame = Vec::new();
            encode(first, &mut frame);
            torn.extend_from_slice(&frame[..frame.len() - 1]);
        }
        let pieces = decode(&torn);
        covers(&torn, &pieces);
        assert_eq!(
            entries(&torn),
            expected,
            "a torn tail hides no entry before it"
        );

        let mut mixed = garbage.to_vec();
        mixed.extend_from_slice(&written);
        covers(&mixed, &decode(&mixed));
    }

    fn covers(buf: &[u8], pieces: &[Piece<'_>]) {
        let mut at = 0;
        for (i, piece) in pieces.iter().enumerate() {
            let (offset, len) = match *piece {
                Piece::Entry { offset, payload } => (offset, payload.len() + 12),
                Piece::Corrupt { offset, len } => (offset, len),
                Piece::TornTail { offset, len } => {
                    assert_eq!(i, pieces.len() - 1, "only the last piece is torn");
                    (offset, len)
                }
            };
            assert_eq!(offset, at, "pieces are contiguous");
            assert!(len > 0, "no empty piece");
            at += len;
        }
        assert_eq!(at, buf.len(), "pieces cover the buffer");
    }
}

pub(crate) use store::{Claim, Origin, Store};

/// When outbox appends are fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Before every append returns (the default): a crash of the machine
    /// loses no request acknowledged as durable. Costs one `fdatasync` per
    /// call, typically 0.1 to 10 ms depending on the disk.
    #[default]
    EveryAppend,
    /// Once every `n` appends, and at every flush, segment roll and
    /// shutdown. A machine crash or power loss can lose at most the last
    /// `n − 1` appends (acknowledged as
    /// [`Accepted::Written`](crate::sender::Accepted::Written), not
    /// `Durable`); a process crash loses none of them.
    Batched(NonZeroU32),
}

/// Where and how a sender keeps requests on disk; see the
/// [module docs](self).
///
/// ```
/// use kissmetrics::outbox::{Durability, Outbox};
/// let outbox = Outbox::new("/var/lib/myapp/kissmetrics").write_ahead(false);
/// assert_eq!(outbox.get_durability(), Durability::EveryAppend);
/// assert_eq!(outbox.get_segment_size(), 4 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Outbox {
    dir: PathBuf,
    durability: Durability,
    write_ahead: bool,
    segment_size: u64,
    replay_every: Option<Duration>,
}

impl Outbox {
    /// The default size past which a segment is sealed and a new one
    /// started: 4 MiB.
    pub const DEFAULT_SEGMENT_SIZE: u64 = 4 << 20;
    /// The default replay interval: 30 s.
    pub const DEFAULT_REPLAY_EVERY: Duration = Duration::from_secs(30);

    /// An outbox in `dir`, created (mode 0700) when the sender is built.
    /// Write-ahead on, [`Durability::EveryAppend`], 4 MiB segments, replay
    /// at start and every 30 s.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Outbox {
            dir: dir.into(),
            durability: Durability::EveryAppend,
            write_ahead: true,
            segment_size: Self::DEFAULT_SEGMENT_SIZE,
            replay_every: Some(Self::DEFAULT_REPLAY_EVERY),
        }
    }

    /// When appends are fsynced (default [`Durability::EveryAppend`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Whether every request is written to disk before it is queued
    /// (default: yes). Off, only requests that cannot be delivered now are
    /// written (see the [module docs](self)); requests in the memory queue
    /// are then lost if the process crashes.
    pub fn write_ahead(mut self, yes: bool) -> Self {
        self.write_ahead = yes;
        self
    }

    /// The size past which a segment is sealed and a new one started
    /// (default 4 MiB). Replay claims and deletes whole segments, so
    /// smaller segments free space sooner and spread the work of several
    /// replaying processes more evenly.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes.max(1);
        self
    }

    /// How often a running sender replays the outbox: `None` replays only
    /// at start and when asked (default: every 30 s).
    pub fn replay_every(mut self, every: Option<Duration>) -> Self {
        self.replay_every = every;
        self
    }

    /// The directory.
    #[must_use]
    pub fn get_dir(&self) -> &Path {
        &self.dir
    }

    /// The durability.
    #[must_use]
    pub fn get_durability(&self) -> Durability {
        self.durability
    }

    /// Whether write-ahead is on.
    #[must_use]
    pub fn get_write_ahead(&self) -> bool {
        self.write_ahead
    }

    /// The segment size.
    #[must_use]
    pub fn get_segment_size(&self) -> u64 {
        self.segment_size
    }

    /// The replay interval.
    #[must_use]
    pub fn get_replay_every(&self) -> Option<Duration> {
        self.replay_every
    }
}

/// A corrupt outbox entry, moved to the quarantine directory instead of
/// being sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quarantined {
    /// The segment it was found in.
    pub segment: PathBuf,
    /// Where its bytes start in the segment.
    pub offset: u64,
    /// How many bytes are bad.
    pub len: usize,
    /// The file its bytes were copied to, in `quarantine/`.
    pub file: PathBuf,
    /// What is wrong with it.
    pub reason: &'static str,
}
