//! The outbox directory: segment files, their locks, claims and quarantine.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use km_proto::Unkeyed;

use super::frame::{self, Piece};
use super::{Durability, Outbox, Quarantined};

/// The extension of segment files.
const SEGMENT_EXT: &str = "seg";
/// The subdirectory corrupt entries are moved to.
pub(crate) const QUARANTINE_DIR: &str = "quarantine";

/// An opened outbox directory.
///
/// Two writers append to it: the write-ahead log (every request, before it
/// is queued, when [`Outbox::write_ahead`] is on) and the parking segment
/// (requests that cannot be delivered now). Each holds an exclusive lock on
/// its current segment from creation until the segment is done with, so no
/// replayer, in this process or another, claims a segment still written to.
#[derive(Debug)]
pub(crate) struct Store {
    config: Outbox,
    wal: Mutex<Option<Writer>>,
    parking: Mutex<Option<Writer>>,
    /// Makes the weak references of origins.
    this: Weak<Store>,
}

/// A segment being appended to.
#[derive(Debug)]
struct Writer {
    file: File,
    len: u64,
    unsynced: u32,
    /// For the write-ahead log: the segment's life, shared by the requests
    /// written to it.
    origin: Option<Arc<Origin>>,
}

/// A segment file some queued requests came from.
///
/// Shared (`Arc`) by those requests; when the last one is dropped, every
/// request of the segment has been delivered, kept elsewhere or reported,
/// so the file is deleted. The file stays locked until then. A request that
/// could be kept nowhere marks its origin [`keep`](Origin::keep): the file
/// then stays, unlocked, for a later replay.
#[derive(Debug)]
pub(crate) struct Origin {
    store: Weak<Store>,
    path: PathBuf,
    /// Holds the lock.
    _file: File,
    keep: AtomicBool,
}

impl Origin {
    /// Leaves the segment on disk when the last request is done with it.
    pub(crate) fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if self.keep.load(Ordering::Relaxed) {
            tracing::warn!(
                target: "kissmetrics::outbox",
                segment = %self.path.display(),
                "segment kept for a later replay"
            );
            return;
        }
        // Requests of this segment may have been parked without an fsync
        // (batched durability): make them durable before the only other
        // copy goes.
        // Only the parking lock is taken here: an origin may be dropped
        // while the write-ahead lock is held (when its segment is sealed).
        if let Some(store) = self.store.upgrade() {
            if let Err(e) = store.sync_slot(&store.parking) {
                tracing::error!(
                    target: "kissmetrics::outbox",
                    segment = %self.path.display(),
                    error = %e,
                    "cannot sync the outbox; segment kept"
                );
                return;
            }
        }
        if let Err(e) = fs::remove_file(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::error!(
                    target: "kissmetrics::outbox",
                    segment = %self.path.display(),
                    error = %e,
                    "cannot remove a delivered segment; its requests will be sent again"
                );
            }
        }
    }
}

/// A segment claimed for replay: its requests and what was wrong with it.
#[derive(Debug)]
pub(crate) struct Claim {
    /// Deletes the segment once every request is done with.
    pub(crate) origin: Arc<Origin>,
    /// The requests, in the order they were written.
    pub(crate) requests: Vec<Unkeyed>,
    /// Corrupt entries moved to the quarantine directory.
    pub(crate) quarantined: Vec<Quarantined>,
    /// Corrupt entries that could not be moved (the segment is kept).
    pub(crate) quarantine_failed: Vec<(Quarantined, io::Error)>,
    /// The bytes of an entry a crash cut short, if any: skipped.
    pub(crate) torn: Option<(u64, usize)>,
}

impl Store {
    /// Creates the directory (mode 0700) if needed.
    pub(crate) fn open(config: Outbox) -> io::Result<Arc<Store>> {
        create_dir(config.get_dir())?;
        Ok(Arc::new_cyclic(|this| Store {
            config,
            wal: Mutex::new(None),
            parking: Mutex::new(None),
            this: this.clone(),
        }))
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Outbox {
        &self.config
    }

    /// Appends a request to the write-ahead log; returns the segment it is
    /// in and whether it is synced to disk.
    pub(crate) fn append_wal(&self, request: &Unkeyed) -> io::Result<(Arc<Origin>, bool)> {
        let mut frame = Vec::new();
        frame::encode(request.as_str().as_bytes(), &mut frame);
        let mut wal = lock(&self.wal);
        let synced = self.append(&mut wal, &frame, 1, true)?;
        // `append` leaves a writer with an origin in place.
        let origin = wal
            .as_ref()
            .and_then(|w| w.origin.clone())
            .ok_or_else(|| io::Error::other("the write-ahead segment has no origin"))?;
        Ok((origin, synced))
    }

    /// Appends requests to the parking segment, for a later replay; returns
    /// whether they are synced to disk.
    pub(crate) fn park<'a>(
        &self,
        requests: impl IntoIterator<Item = &'a Unkeyed>,
    ) -> io::Result<bool> {
        let mut frames = Vec::new();
        let mut count = 0_u32;
        for request in requests {
            frame::encode(request.as_str().as_bytes(), &mut frames);
            count = count.saturating_add(1);
        }
        if count == 0 {
            return Ok(true);
        }
        let mut parking = lock(&self.parking);
        self.append(&mut parking, &frames, count, false)
    }

    fn append(
        &self,
        slot: &mut Option<Writer>,
        frames: &[u8],
        count: u32,
        wal: bool,
    ) -> io::Result<bool> {
        let limit = self.config.get_segment_size();
        if slot
            .as_ref()
            .is_some_and(|w| w.len > 0 && w.len + frames.len() as u64 > limit)
        {
            if let Some(old) = slot.take() {
                seal(old)?;
            }
        }
        let writer = match slot {
            Some(writer) => writer,
            None => slot.insert(self.create_writer(wal)?),
        };
        if let Err(e) = writer.file.write_all(frames) {
            // A partial frame is a torn tail: later frames go elsewhere.
            if let Some(old) = slot.take() {
                let _ = seal(old);
            }
            return Err(e);
        }
        writer.len += frames.len() as u64;
        writer.unsynced = writer.unsynced.saturating_add(count);
        let due = match self.config.get_durability() {
            Durability::EveryAppend => true,
            Durability::Batched(n) => writer.unsynced >= n.get(),
        };
        if due {
            if let Err(e) = writer.file.sync_data() {
                // After a failed fsync the page cache may have dropped the
                // data: never trust this file descriptor again.
                if let Some(old) = slot.take() {
                    drop(old.file);
                }
                return Err(e);
            }
            writer.unsynced = 0;
        }
        Ok(due)
    }

    fn create_writer(&self, wal: bool) -> io::Result<Writer> {
        let dir = self.config.get_dir();
        // Each failed attempt means another process took the new name or
        // its lock in the moment between: rare, and never for long.
        for _ in 0..64 {
            let millis = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let name = format!(
                "{millis:013}-{}-{:016x}.{SEGMENT_EXT}",
                std::process::id(),
                fastrand::u64(..)
            );
            let path = dir.join(name);
            let file = match new_file_options().read(true).append(true).open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            // A replayer may open the new file before it is locked, lock
            // it, find it empty and delete it: then start again.
            match <File as fs4::FileExt>::try_lock(&file) {
                Ok(()) => {}
                Err(fs4::TryLockError::WouldBlock) => continue,
                Err(fs4::TryLockError::Error(e)) => return Err(e),
            }
            if !names_file(&path, &file)? {
                continue;
            }
            sync_dir(dir)?;
            let origin = if wal {
                Some(Arc::new(Origin {
                    store: self.this.clone(),
                    path,
                    _file: file.try_clone()?,
                    keep: AtomicBool::new(false),
                }))
            } else {
                None
            };
            return Ok(Writer {
                file,
                len: 0,
                unsynced: 0,
                origin,
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "cannot create an outbox segment: every new name was taken",
        ))
    }

    /// Makes everything appended so far durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.sync_slot(&self.wal)?;
        self.sync_slot(&self.parking)
    }

    fn sync_slot(&self, slot: &Mutex<Option<Writer>>) -> io::Result<()> {
        let mut slot = lock(slot);
        if let Some(writer) = slot.as_mut().filter(|w| w.unsynced > 0) {
            if let Err(e) = writer.file.sync_data() {
                slot.take();
                return Err(e);
            }
            writer.unsynced = 0;
        }
        Ok(())
    }

    /// Syncs and closes the parking segment, unlocking it: its requests
    /// become claimable by any replayer.
    pub(crate) fn seal_parking(&self) -> io::Result<()> {
        match lock(&self.parking).take() {
            Some(writer) => seal(writer),
            None => Ok(()),
        }
    }

    /// Seals both segments: the parking one becomes claimable, the
    /// write-ahead one is deleted once its requests are done with.
    pub(crate) fn close(&self) -> io::Result<()> {
        let wal = lock(&self.wal).take().map(seal);
        let parking = self.seal_parking();
        wal.unwrap_or(Ok(())).and(parking)
    }

    /// The segment files of the directory, oldest first.
    pub(crate) fn segments(&self) -> io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for entry in fs::read_dir(self.config.get_dir())? {
            let entry = entry?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == SEGMENT_EXT) && entry.file_type()?.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// Claims a segment for replay: `None` when it is gone or locked (being
    /// written, or claimed by another replayer).
    ///
    /// The claim holds the segment's lock until every request read from it
    /// is done with; only then is the file deleted. A replayer that dies
    /// releases the lock, so its segment can be claimed again.
    pub(crate) fn claim(&self, path: &Path) -> io::Result<Option<Claim>> {
        let mut file = match OpenOptions::new().read(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match <File as fs4::FileExt>::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => return Ok(None),
            Err(fs4::TryLockError::Error(e)) => return Err(e),
        }
        // Another replayer may have finished with it (and deleted it)
        // between our open and our lock.
        if !names_file(path, &file)? {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let origin = Arc::new(Origin {
            store: self.this.clone(),
            path: path.to_owned(),
            _file: file,
            keep: AtomicBool::new(false),
        });
        let mut claim = Claim {
            origin,
            requests: Vec::new(),
            quarantined: Vec::new(),
            quarantine_failed: Vec::new(),
            torn: None,
        };
        for piece in frame::decode(&bytes) {
            match piece {
                Piece::Entry { offset, payload } => {
                    let parsed = std::str::from_utf8(payload)
                        .map_err(|_| "the entry is not UTF-8")
                        .and_then(|s| {
                            Unkeyed::parse(s).map_err(|_| "the entry is not a stored request")
                        });
                    match parsed {
                        Ok(request) => claim.requests.push(request),
                        Err(reason) => {
                            let end = offset + frame::HEADER_LEN + payload.len();
                            self.quarantine(&mut claim, path, offset, &bytes[offset..end], reason);
                        }
                    }
                }
                Piece::Corrupt { offset, len } => {
                    let reason = "the entry's frame or checksum is wrong";
                    self.quarantine(
                        &mut claim,
                        path,
                        offset,
                        &bytes[offset..offset + len],
                        reason,
                    );
                }
                Piece::TornTail { offset, len } => claim.torn = Some((offset as u64, len)),
            }
        }
        Ok(Some(claim))
    }

    fn quarantine(
        &self,
        claim: &mut Claim,
        segment: &Path,
        offset: usize,
        bytes: &[u8],
        reason: &'static str,
    ) {
        let dir = self.config.get_dir().join(QUARANTINE_DIR);
        let name = segment
            .file_stem()
            .map_or_else(|| "segment".into(), |s| s.to_string_lossy());
        let file = dir.join(format!("{name}-{offset}.bad"));
        let report = Quarantined {
            segment: segment.to_owned(),
            offset: offset as u64,
            len: bytes.len(),
            file: file.clone(),
            reason,
        };
        let written = create_dir(&dir).and_then(|()| {
            // The same region may have been quarantined before a crash.
            let mut out = match new_file_options().write(true).open(&file) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
                other => other?,
            };
            out.write_all(bytes)?;
            out.sync_all()?;
            sync_dir(&dir)
        });
        match written {
            Ok(()) => claim.quarantined.push(report),
            Err(e) => {
                claim.origin.keep();
                claim.quarantine_failed.push((report, e));
            }
        }
    }
}

/// Syncs a writer's file and closes it, releasing its lock.
fn seal(writer: Writer) -> io::Result<()> {
    if writer.unsynced > 0 {
        writer.file.sync_data()?;
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent across a panic: every update is one
    // assignment.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Options that create a new file, readable and writable by its owner only.
fn new_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates a directory and its parents, mode 0700 where created.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes a directory's entries (new files) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Whether `path` still names the file open as `file`.
fn names_file(path: &Path, file: &File) -> io::Result<bool> {
    let by_path = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata()?;
        Ok(by_path.dev() == open.dev() && by_path.ino() == open.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (by_path, file);
        Ok(true)
    }
}
