//! Helpers shared by the sender, outbox and fault tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kissmetrics::proto::RetryPolicy;
use km_testkit::{FaultRates, RecordedRequest, TestServer};

/// The API key every test uses; it must never reach the disk.
pub const KEY: &str = "SECRET-KEY-do-not-store-7f3a";

/// `127.0.0.1:<port>` where nothing listens: connections are refused.
pub fn dead_host() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr.to_string()
}

/// The service's deduplication key of an event or property set.
pub type Triple = (String, String, String);

/// `(_p, _n, _t)` of a recorded request.
pub fn triple(r: &RecordedRequest) -> Triple {
    let get = |k| r.pair(k).unwrap_or_default().to_owned();
    (get("_p"), get("_n"), get("_t"))
}

/// What the service would count: the distinct triples.
pub fn counted<'a>(requests: impl IntoIterator<Item = &'a RecordedRequest>) -> BTreeSet<Triple> {
    requests.into_iter().map(triple).collect()
}

/// How many recorded requests repeat a triple already seen.
pub fn duplicates(requests: &[RecordedRequest]) -> usize {
    let mut seen: HashMap<Triple, usize> = HashMap::new();
    for r in requests {
        *seen.entry(triple(r)).or_default() += 1;
    }
    seen.values().map(|n| n - 1).sum()
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The segment files of an outbox directory.
pub fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "seg"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Starts this test binary again, running only `test` with `env` set, and
/// returns it with a channel of what follows `KM ` on its stdout lines.
pub fn spawn_child(test: &str, env: &[(&str, String)]) -> (Child, mpsc::Receiver<String>) {
    let exe = std::env::current_exe().expect("current exe");
    let mut command = Command::new(exe);
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness may print `test child_process ... ` first.
            if let Some((_, rest)) = line.split_once("KM ") {
                if tx.send(rest.to_owned()).is_err() {
                    break;
                }
            }
        }
    });
    (child, rx)
}

/// Waits for a child, at most `timeout`; kills it after that.
pub fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("child did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// 30 % `503`, 10 % connections closed (half before the response, half in
/// the middle of it), 5 % stalled for `stall`.
pub fn faults(stall: Duration) -> FaultRates {
    FaultRates {
        status: Some((503, 0.30)),
        close_before_response: 0.05,
        close_mid_response: 0.05,
        delay: Some((stall, 0.05)),
        ..FaultRates::default()
    }
}

/// Quick retries that never give up within the test.
pub fn patient() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(100))
        .max_attempts(None)
        .max_elapsed(None)
}

/// A clock that gives event `i` the time `base + i / 7` seconds: several
/// events per second, each `(person, name, _t)` known in advance.
pub fn stepping_clock(base: u64) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    let calls = Arc::new(AtomicU64::new(0));
    move || UNIX_EPOCH + Duration::from_secs(base + calls.fetch_add(1, Ordering::Relaxed) / 7)
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn sent_triples(n: usize, base: u64) -> BTreeSet<Triple> {
    (0..n)
        .map(|i| {
            (
                format!("person-{i}"),
                format!("event-{i}"),
                (base + i as u64 / 7).to_string(),
            )
        })
        .collect()
}

/// What went over the wire in a fault run.
#[derive(Debug)]
pub struct Wire {
    /// Requests the server received.
    pub requests: usize,
    /// Of them, hit by a fault.
    pub faulted: usize,
    /// Requests repeating a `(_p, _n, _t)` already received.
    pub duplicates: usize,
    /// Repeats the service processed (answered 200, even late or cut
    /// short): without stamping, each would have been counted twice.
    pub absorbed: usize,
}

impl std::fmt::Display for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "requests on the wire {}, faulted {}, duplicates on the wire {}, \
             duplicates the service processed (absorbed by dedup) {}",
            self.requests, self.faulted, self.duplicates, self.absorbed
        )
    }
}

/// After the service's dedup rule, the server holds exactly the events
/// sent, and every one of them got a clean `200` at least once.
pub fn assert_counted_once(server: &TestServer, sent: &BTreeSet<Triple>) -> Wire {
    let recorded = server.requests();
    assert_eq!(&counted(&recorded), sent, "recorded, deduplicated");
    let clean: Vec<_> = recorded.iter().filter(|r| r.fault.is_none()).collect();
    assert_eq!(&counted(clean.iter().copied()), sent, "answered 200");
    for r in &recorded {
        assert_eq!(r.pair("_d"), Some("1"));
        assert_eq!(r.pair("_k"), Some(KEY));
    }
    let processed: Vec<_> = recorded
        .iter()
        .filter(|r| {
            !matches!(
                r.fault,
                Some(km_testkit::Fault::Status { .. } | km_testkit::Fault::CloseBeforeResponse)
            )
        })
        .cloned()
        .collect();
    Wire {
        requests: recorded.len(),
        faulted: recorded.iter().filter(|r| r.fault.is_some()).count(),
        duplicates: duplicates(&recorded),
        absorbed: duplicates(&processed),
    }
}
