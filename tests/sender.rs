//! The background sender: stamping, retries, queue policies, flush and
//! shutdown, reporting.

mod sender_support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use kissmetrics::outbox::Outbox;
use kissmetrics::proto::http::{Request, Response};
use kissmetrics::proto::{RetryPolicy, TransportResult};
use kissmetrics::sender::{Accepted, FullPolicy, Reason, Sender, Undelivered};
use kissmetrics::{Client, Options};
use sender_support::*;

/// A transport that answers 200 once the gate opens.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn client(&self) -> Client {
        let gate = self.clone();
        Client::builder(KEY)
            .with_transport(move |_req: Request<()>| -> TransportResult {
                let (lock, cv) = &*gate.0;
                let open = lock.lock().unwrap();
                let _open = cv.wait_while(open, |open| !*open).unwrap();
                Ok(Response::new(Vec::new()))
            })
            .unwrap()
    }
}

/// Collects what `on_error` receives.
#[derive(Clone, Default)]
struct Lost(Arc<Mutex<Vec<Undelivered>>>);

impl Lost {
    fn hook(&self) -> impl Fn(Undelivered) + Send + Sync + 'static {
        let lost = self.clone();
        move |u| lost.0.lock().unwrap().push(u)
    }

    fn reasons(&self) -> Vec<Reason> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.reason.clone())
            .collect()
    }
}

#[test]
fn invalid_input_is_an_error_and_nothing_is_queued() {
    let gate = Gate::default();
    let sender = Sender::builder().build(gate.client()).unwrap();
    assert!(sender.record("", "x", ()).is_err());
    assert!(sender.set("bob", [("_k", "hijack")]).is_err());
    assert!(sender.alias("bob", "").is_err());
    assert_eq!(sender.counters().enqueued, 0);
    assert_eq!(sender.pending().total(), 0);
    gate.open();
}

#[test]
fn full_queue_drop_newest_is_counted_and_reported() {
    let gate = Gate::default();
    let lost = Lost::default();
    let sender = Sender::builder()
        .capacity(3)
        .workers(1)
        .on_error(lost.hook())
        .build(gate.client())
        .unwrap();
    for i in 0..3 {
        assert_eq!(
            sender.record("bob", &format!("e{i}"), ()).unwrap(),
            Accepted::Queued
        );
    }
    let started = Instant::now();
    assert_eq!(sender.record("bob", "e3", ()).unwrap(), Accepted::Dropped);
    assert!(started.elapsed() < Duration::from_secs(1), "never waits");
    let c = sender.counters();
    assert_eq!((c.enqueued, c.dropped.queue_full), (3, 1));
    assert_eq!(lost.reasons(), [Reason::QueueFull]);
    let dropped = &lost.0.lock().unwrap()[0].request;
    assert!(dropped.as_str().starts_with("/e?_p=bob&_d=1&_t="));
    assert!(!dropped.as_str().contains(KEY));
    gate.open();
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(sender.counters().delivered, 3);
}

#[test]
fn full_queue_block_waits_for_room_then_drops() {
    let gate = Gate::default();
    let sender = Arc::new(
        Sender::builder()
            .capacity(1)
            .workers(1)
            .full_policy(FullPolicy::Block(Duration::from_millis(100)))
            .build(gate.client())
            .unwrap(),
    );
    sender.record("bob", "in flight", ()).unwrap();
    // No room, and none is made: dropped after the timeout.
    let started = Instant::now();
    assert_eq!(sender.record("bob", "late", ()).unwrap(), Accepted::Dropped);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert_eq!(sender.counters().dropped.queue_full, 1);
    // Room made while waiting: queued.
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            gate.open();
        })
    };
    let blocked = Sender::builder()
        .capacity(1)
        .workers(1)
        .full_policy(FullPolicy::Block(Duration::from_secs(30)))
        .build(gate.client())
        .unwrap();
    blocked.record("bob", "first", ()).unwrap();
    assert_eq!(
        blocked.record("bob", "second", ()).unwrap(),
        Accepted::Queued
    );
    opener.join().unwrap();
    blocked.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(blocked.counters().delivered, 2);
}

#[test]
fn full_queue_spill_writes_to_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::default();
    assert!(Sender::builder()
        .full_policy(FullPolicy::Spill)
        .build(gate.client())
        .is_err());
    let sender = Sender::builder()
        .capacity(1)
        .workers(1)
        .full_policy(FullPolicy::Spill)
        .outbox(Outbox::new(dir.path()).write_ahead(false))
        .build(gate.client())
        .unwrap();
    sender.record("bob", "held", ()).unwrap();
    assert_eq!(
        sender.record("bob", "spilled", ()).unwrap(),
        Accepted::Durable
    );
    assert_eq!(sender.counters().spilled, 1);
    gate.open();
    // The spilled request is delivered by the next replay.
    sender.replay_outbox();
    sender.flush(Duration::from_secs(10)).unwrap();
    let c = sender.counters();
    assert_eq!((c.delivered, c.replayed), (2, 1));
    assert!(sender.shutdown(Duration::from_secs(1)).is_clean());
    assert!(segments(dir.path()).is_empty());
}

#[test]
fn undelivered_at_shutdown_without_outbox_is_reported() {
    let lost = Lost::default();
    let client = Client::builder(KEY)
        .scheme(kissmetrics::Scheme::Http)
        .host(&dead_host())
        .with_transport(|_req: Request<()>| -> TransportResult {
            Err(kissmetrics::proto::TransportError::new(
                kissmetrics::TransportErrorKind::Connect,
                "refused",
            ))
        })
        .unwrap();
    let sender = Sender::builder()
        .retry(
            RetryPolicy::new()
                .initial_delay(Duration::from_secs(60))
                .max_delay(Duration::from_secs(60)),
        )
        .on_error(lost.hook())
        .build(client)
        .unwrap();
    for i in 0..5 {
        sender.record(&format!("p{i}"), "x", ()).unwrap();
    }
    let started = Instant::now();
    let report = sender.shutdown(Duration::from_millis(200));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((report.undelivered, report.lost, report.spilled), (5, 5, 0));
    assert_eq!(lost.reasons(), vec![Reason::Shutdown; 5]);
}

#[test]
fn a_panicking_transport_costs_one_request() {
    let lost = Lost::default();
    let client = Client::builder(KEY)
        .with_transport(|req: Request<()>| -> TransportResult {
            if req.uri().query().is_some_and(|q| q.contains("_p=boom")) {
                panic!("transport bug");
            }
            Ok(Response::new(Vec::new()))
        })
        .unwrap();
    let sender = Sender::builder()
        .workers(1)
        .on_error(lost.hook())
        .build(client)
        .unwrap();
    sender.record("boom", "x", ()).unwrap();
    for i in 0..10 {
        sender.record(&format!("p{i}"), "x", ()).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    let c = sender.counters();
    assert_eq!((c.delivered, c.failed), (10, 1));
    assert!(matches!(lost.reasons()[..], [Reason::Rejected(_)]));
}

#[test]
fn non_retryable_statuses_fail_at_once_retryable_ones_are_retried() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let client = Client::builder(KEY)
        .with_transport(move |req: Request<()>| -> TransportResult {
            let q = req.uri().query().unwrap_or_default().to_owned();
            let mut calls = seen.lock().unwrap();
            calls.push(q.clone());
            let tries = calls.iter().filter(|c| **c == q).count();
            let status = match () {
                _ if q.contains("_p=gone") => 404,
                _ if q.contains("_p=busy") && tries <= 2 => 503,
                _ if q.contains("_p=slow") && tries == 1 => 429,
                _ => 200,
            };
            Ok(Response::builder().status(status).body(Vec::new()).unwrap())
        })
        .unwrap();
    let lost = Lost::default();
    let sender = Sender::builder()
        .retry(RetryPolicy::new().initial_delay(Duration::from_millis(1)))
        .on_error(lost.hook())
        .build(client)
        .unwrap();
    for p in ["gone", "busy", "slow", "fine"] {
        sender.record(p, "x", ()).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    let c = sender.counters();
    assert_eq!((c.delivered, c.failed, c.retried), (3, 1, 3));
    let reasons = lost.reasons();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].to_string(), "rejected: status 404 Not Found");
    // A retried request is the same request: same `_t`.
    let calls = calls.lock().unwrap();
    let busy: Vec<_> = calls.iter().filter(|q| q.contains("_p=busy")).collect();
    assert_eq!(busy.len(), 3);
    assert!(busy.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn stamping_uses_the_clock_and_respects_own_timestamps() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let client = Client::builder(KEY)
        .with_transport(move |req: Request<()>| -> TransportResult {
            seen.lock()
                .unwrap()
                .push(req.uri().query().unwrap_or_default().to_owned());
            Ok(Response::new(Vec::new()))
        })
        .unwrap();
    let clock = || UNIX_EPOCH + Duration::from_secs(1_381_849_312);
    let sender = Sender::builder()
        .workers(1)
        .clock(clock)
        .build(client.clone())
        .unwrap();
    sender
        .record("bob", "Signed Up", [("Plan", "Pro")])
        .unwrap();
    sender.set("bob", [("gender", "male")]).unwrap();
    sender
        .record_with("bob", "Paid", (), Options::new().timestamp(1_000_000_000))
        .unwrap();
    sender
        .record("bob", "Back", [("_t", "1234567890")])
        .unwrap();
    sender.alias("bob", "bob@example.com").unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    drop(sender);
    let unstamped = Sender::builder().stamp_time(false).build(client).unwrap();
    unstamped.record("bob", "Plain", ()).unwrap();
    unstamped.flush(Duration::from_secs(10)).unwrap();
    let mut calls = calls.lock().unwrap().clone();
    calls.sort();
    let k = format!("_k={KEY}");
    let want = [
        format!("{k}&_p=bob&_d=1&_t=1000000000&_n=Paid"),
        format!("{k}&_p=bob&_d=1&_t=1234567890&_n=Back"),
        format!("{k}&_p=bob&_d=1&_t=1381849312&_n=Signed+Up&Plan=Pro"),
        format!("{k}&_p=bob&_d=1&_t=1381849312&gender=male"),
        format!("{k}&_p=bob&_n=Plain"),
        format!("{k}&_p=bob&_n=bob%40example.com"),
    ];
    assert_eq!(calls, want);
}

/// Dropping a blocking sender inside a runtime must not panic, whatever the
/// runtime flavour, even with requests pending.
#[tokio::test(flavor = "current_thread")]
async fn dropping_a_blocking_sender_inside_tokio_current_thread_does_not_panic() {
    drop_inside_runtime();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_blocking_sender_inside_tokio_multi_thread_does_not_panic() {
    drop_inside_runtime();
}

fn drop_inside_runtime() {
    let gate = Gate::default();
    let lost = Lost::default();
    let sender = Sender::builder()
        .drop_timeout(Duration::from_millis(100))
        .on_error(lost.hook())
        .build(gate.client())
        .unwrap();
    for i in 0..10 {
        sender.record(&format!("p{i}"), "x", ()).unwrap();
    }
    let started = Instant::now();
    drop(sender);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(lost.reasons(), vec![Reason::Shutdown; 10]);
    gate.open();
}

#[cfg(feature = "ureq")]
#[tokio::test]
async fn dropping_a_ureq_sender_inside_tokio_delivers() {
    let server = km_testkit::TestServer::start();
    let client = Client::builder(KEY)
        .scheme(kissmetrics::Scheme::Http)
        .host(&server.host_port())
        .build_ureq()
        .unwrap();
    let sender = Sender::new(client).unwrap();
    for i in 0..20 {
        sender.record(&format!("p{i}"), "x", ()).unwrap();
    }
    drop(sender);
    assert_eq!(server.request_count(), 20);
}

#[cfg(feature = "ureq")]
#[test]
fn retry_after_is_honoured_and_the_same_request_is_sent_again() {
    let server = km_testkit::TestServer::start();
    server.push_fault(km_testkit::Fault::too_many_requests("1"));
    let client = Client::builder(KEY)
        .scheme(kissmetrics::Scheme::Http)
        .host(&server.host_port())
        .build_ureq()
        .unwrap();
    let sender = Sender::builder()
        .retry(RetryPolicy::new().initial_delay(Duration::from_millis(1)))
        .build(client)
        .unwrap();
    sender.record("bob", "Signed Up", ()).unwrap();
    sender.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(sender.counters().retried, 1);
    let r = server.requests();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].target, r[1].target);
    let waited = r[1].received_at - r[0].received_at;
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

#[cfg(feature = "tokio")]
mod async_sender {
    use super::*;
    use kissmetrics::sender::AsyncSender;
    use kissmetrics::AsyncClient;

    fn client(status: u16) -> AsyncClient {
        AsyncClient::builder(KEY)
            .with_transport(move |_req: Request<()>| async move {
                TransportResult::Ok(Response::builder().status(status).body(Vec::new()).unwrap())
            })
            .unwrap()
    }

    #[test]
    fn needs_a_runtime() {
        assert!(AsyncSender::builder().build_async(client(200)).is_err());
    }

    #[tokio::test]
    async fn delivers_flushes_and_shuts_down() {
        let sender = AsyncSender::builder().build_async(client(200)).unwrap();
        for i in 0..100 {
            sender.record(&format!("p{i}"), "x", ()).unwrap();
        }
        sender.flush(Duration::from_secs(10)).await.unwrap();
        assert_eq!(sender.counters().delivered, 100);
        assert!(sender.shutdown(Duration::from_secs(1)).await.is_clean());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn shutdown_keeps_its_deadline_and_reports() {
        let lost = Lost::default();
        let sender = AsyncSender::builder()
            .retry(RetryPolicy::new().initial_delay(Duration::from_secs(60)))
            .on_error(lost.hook())
            .build_async(client(503))
            .unwrap();
        for i in 0..10 {
            sender.record(&format!("p{i}"), "x", ()).unwrap();
        }
        let started = Instant::now();
        assert!(sender.flush(Duration::from_millis(100)).await.is_err());
        let report = sender.shutdown(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!((report.undelivered, report.lost), (10, 10));
        assert_eq!(lost.reasons(), vec![Reason::Shutdown; 10]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn drop_shuts_down_in_the_background() {
        let lost = Lost::default();
        let sender = AsyncSender::builder()
            .retry(RetryPolicy::new().initial_delay(Duration::from_secs(60)))
            .drop_timeout(Duration::from_millis(50))
            .on_error(lost.hook())
            .build_async(client(503))
            .unwrap();
        sender.record("bob", "x", ()).unwrap();
        drop(sender);
        let deadline = Instant::now() + Duration::from_secs(5);
        while lost.reasons().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(lost.reasons(), [Reason::Shutdown]);
    }

    /// The runtime goes away with the sender's tasks: what they held is
    /// still reported, not dropped silently.
    #[test]
    fn runtime_shutdown_reports_what_was_held() {
        let lost = Lost::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sender = runtime.block_on(async {
            let sender = AsyncSender::builder()
                .retry(RetryPolicy::new().initial_delay(Duration::from_secs(60)))
                .on_error(lost.hook())
                .build_async(client(503))
                .unwrap();
            sender.record("bob", "x", ()).unwrap();
            sender.record("ann", "x", ()).unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender
        });
        drop(runtime);
        drop(sender);
        assert_eq!(lost.reasons(), vec![Reason::Shutdown; 2]);
    }
}
