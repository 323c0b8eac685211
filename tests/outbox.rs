//! The crash-safe outbox: what is on disk, torn tails, corruption,
//! concurrent writers and replayers.

mod sender_support;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kissmetrics::outbox::{Durability, Outbox, Quarantined};
use kissmetrics::proto::http::{Request, Response};
use kissmetrics::proto::{RetryPolicy, TransportError, TransportResult};
use kissmetrics::sender::{Accepted, Sender};
use kissmetrics::{Client, TransportErrorKind};
use sender_support::*;

/// A client whose every request is refused.
fn refused() -> Client {
    Client::builder(KEY)
        .with_transport(|_req: Request<()>| -> TransportResult {
            Err(TransportError::new(TransportErrorKind::Connect, "refused"))
        })
        .unwrap()
}

/// The `(_p, _n)` of every request a [`recording`] client sent.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A client that answers 200 and remembers each request's `(_p, _n)`.
fn recording() -> (Client, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let client = Client::builder(KEY)
        .with_transport(move |req: Request<()>| -> TransportResult {
            let query = req.uri().query().unwrap_or_default().to_owned();
            let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert_eq!(get("_k").as_deref(), Some(KEY), "the key is added back");
            log.lock()
                .unwrap()
                .push((get("_p").unwrap_or_default(), get("_n").unwrap_or_default()));
            Ok(Response::new(Vec::new()))
        })
        .unwrap();
    (client, seen)
}

/// Parks `n` events (`p{i}`, `e{i}`) in the outbox at `dir`, from a sender
/// that cannot reach the service.
fn park(dir: &Path, n: usize, segment_size: u64) {
    let sender = Sender::builder()
        .retry(RetryPolicy::never())
        .outbox(
            Outbox::new(dir)
                .write_ahead(false)
                .segment_size(segment_size)
                .replay_every(None),
        )
        .build(refused())
        .unwrap();
    for i in 0..n {
        sender
            .record(&format!("p{i}"), &format!("e{i}"), ())
            .unwrap();
    }
    assert!(sender.flush(Duration::from_secs(30)).is_ok());
    assert_eq!(sender.counters().spilled, n as u64);
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());
}

fn replay_all(dir: &Path) -> (kissmetrics::sender::Counters, Vec<(String, String)>) {
    let (client, seen) = recording();
    let sender = Sender::builder()
        .outbox(Outbox::new(dir).replay_every(None))
        .build(client)
        .unwrap();
    sender.flush(Duration::from_secs(30)).unwrap();
    let counters = sender.counters();
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());
    let seen = seen.lock().unwrap().clone();
    (counters, seen)
}

fn events(range: impl Iterator<Item = usize>) -> Vec<(String, String)> {
    range.map(|i| (format!("p{i}"), format!("e{i}"))).collect()
}

/// Offsets of the frames of a segment written by the outbox.
fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"KMO1");
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 12 + len;
    }
    offsets
}

#[test]
fn the_key_is_never_written_and_files_are_private() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("outbox");
    let sender = Sender::builder()
        .retry(RetryPolicy::never())
        .outbox(Outbox::new(&dir))
        .build(refused())
        .unwrap();
    for i in 0..50 {
        assert_eq!(
            sender
                .record(&format!("p{i}"), "Signed Up", [("Plan", "Pro")])
                .unwrap(),
            Accepted::Durable
        );
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    drop(sender);
    let files = files(&dir);
    assert!(!files.is_empty());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{} holds the key",
            file.display()
        );
        assert!(!String::from_utf8_lossy(&bytes).contains("_k="));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let (counters, seen) = replay_all(&dir);
    assert_eq!(counters.replayed, 50);
    assert_eq!(seen.len(), 50);
}

#[test]
fn write_ahead_segments_are_removed_once_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (client, seen) = recording();
    let sender = Sender::builder()
        .outbox(
            Outbox::new(dir.path())
                .segment_size(1024)
                .durability(Durability::Batched(NonZeroU32::new(4).unwrap())),
        )
        .build(client)
        .unwrap();
    let accepted: Vec<Accepted> = (0..40)
        .map(|i| sender.record(&format!("p{i}"), "x", ()).unwrap())
        .collect();
    // Every fourth append is synced before the call returns.
    assert!(accepted.contains(&Accepted::Written));
    assert!(accepted.contains(&Accepted::Durable));
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 40);
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());
    assert!(segments(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[test]
fn a_torn_tail_is_skipped_and_the_entries_before_it_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    park(dir.path(), 20, 1 << 20);
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 1);
    // A crash in the middle of an append: a header and half a payload.
    let mut torn = std::fs::read(&segs[0]).unwrap();
    let whole = torn.len();
    let first = frame_offsets(&torn)[1];
    torn.extend_from_within(first..first + 20);
    std::fs::write(&segs[0], &torn).unwrap();
    assert!(torn.len() > whole);

    let (counters, seen) = replay_all(dir.path());
    assert_eq!(counters.torn_tails, 1);
    assert_eq!(counters.quarantined, 0);
    let got: BTreeSet<_> = seen.into_iter().collect();
    assert_eq!(got, events(0..20).into_iter().collect());
    assert!(segments(dir.path()).is_empty());
}

#[test]
fn a_corrupt_entry_is_quarantined_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    park(dir.path(), 5, 1 << 20);
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let offsets = frame_offsets(&bytes);
    let bad = offsets[2];
    let bad_len = offsets[3] - bad;
    // Workers park in any order: which event is in the third frame?
    let payload = std::str::from_utf8(&bytes[bad + 12..bad + bad_len]).unwrap();
    let victim = (0..5)
        .find(|i| payload.contains(&format!("_p=p{i}&")))
        .unwrap();
    bytes[bad + 12 + 3] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    let reported: Arc<Mutex<Vec<Quarantined>>> = Arc::default();
    let hook = Arc::clone(&reported);
    let (client, seen) = recording();
    let sender = Sender::builder()
        .outbox(Outbox::new(dir.path()).replay_every(None))
        .on_quarantine(move |q| hook.lock().unwrap().push(q))
        .build(client)
        .unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    let c = sender.counters();
    assert_eq!((c.quarantined, c.replayed, c.delivered), (1, 4, 4));
    let reported = reported.lock().unwrap().clone();
    assert_eq!(reported.len(), 1);
    let q = &reported[0];
    assert_eq!((q.offset, q.len, &q.segment), (bad as u64, bad_len, &seg));
    assert_eq!(std::fs::read(&q.file).unwrap(), &bytes[bad..bad + bad_len]);
    assert!(q.file.starts_with(dir.path().join("quarantine")));
    let got: BTreeSet<_> = seen.lock().unwrap().iter().cloned().collect();
    let want: BTreeSet<_> = events((0..5).filter(|&i| i != victim))
        .into_iter()
        .collect();
    assert_eq!(got, want);
    drop(sender);
    assert!(segments(dir.path()).is_empty());
}

/// One sender keeps parking requests (it cannot reach the service) while
/// another replays the same directory every few milliseconds: every
/// request is delivered exactly once.
#[test]
fn requests_written_during_a_replay_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Sender::builder()
        .retry(RetryPolicy::never())
        .outbox(
            Outbox::new(dir.path())
                .write_ahead(false)
                .segment_size(2048)
                .replay_every(None),
        )
        .build(refused())
        .unwrap();
    let (client, seen) = recording();
    let replayer = Sender::builder()
        .outbox(Outbox::new(dir.path()).replay_every(Some(Duration::from_millis(5))))
        .build(client)
        .unwrap();
    const N: usize = 3000;
    for i in 0..N {
        writer
            .record(&format!("p{i}"), &format!("e{i}"), ())
            .unwrap();
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    writer.flush(Duration::from_secs(30)).unwrap();
    let wc = writer.counters();
    assert!(writer.shutdown(Duration::from_secs(5)).is_clean());
    replayer.replay_outbox();
    replayer.flush(Duration::from_secs(30)).unwrap();
    let rc = replayer.counters();
    drop(replayer);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        N,
        "each delivered once (writer {wc:?}, replayer {rc:?})"
    );
    let got: BTreeSet<_> = seen.into_iter().collect();
    assert_eq!(got, events(0..N).into_iter().collect());
    assert!(segments(dir.path()).is_empty());
}
