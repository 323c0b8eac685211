//! Fault tests against km-testkit's fault injection: every event delivered
//! and counted once through errors, resets, stalls, a SIGKILL and an
//! outage; deadlines kept with a stalled server; every transport drives a
//! sender.
//!
//! Each prints its figures on lines starting with `FIGURES` (run with
//! `--nocapture` to see them).
#![cfg(feature = "ureq")]

mod sender_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kissmetrics::outbox::Outbox;
use kissmetrics::proto::RetryPolicy;
use kissmetrics::sender::{Accepted, FullPolicy, Sender, SenderBuilder};
use kissmetrics::{Client, ClientBuilder, Scheme};
use km_testkit::{FaultRates, TestServer};
use sender_support::*;

/// The environment variable that turns this test binary into a child.
const CHILD: &str = "KM_FAULT_CHILD";

fn builder(host: &str, timeout: Duration) -> ClientBuilder {
    Client::builder(KEY)
        .scheme(Scheme::Http)
        .host(host)
        .timeout(timeout)
        .proxy_from_env(false)
}

#[test]
fn ten_thousand_events_through_errors_resets_and_stalls_count_once() {
    const N: usize = 10_000;
    let timeout = Duration::from_millis(200);
    let server = TestServer::builder().seed(7).start().unwrap();
    server.set_fault_rates(faults(timeout * 2));
    let client = builder(&server.host_port(), timeout).build_ureq().unwrap();
    let base = now_secs();
    let sender = Sender::builder()
        .capacity(N)
        .workers(32)
        .full_policy(FullPolicy::Block(Duration::from_secs(60)))
        .retry(patient())
        .clock(stepping_clock(base))
        .build(client)
        .unwrap();
    let started = Instant::now();
    for i in 0..N {
        let accepted = sender
            .record(&format!("person-{i}"), &format!("event-{i}"), ())
            .unwrap();
        assert_eq!(accepted, Accepted::Queued);
    }
    let enqueued_in = started.elapsed();
    sender.flush(Duration::from_secs(120)).unwrap();
    let wall = started.elapsed();
    let c = sender.counters();
    assert_eq!((c.enqueued, c.delivered, c.failed), (N as u64, N as u64, 0));
    assert_eq!(c.dropped.total(), 0);
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());

    let wire = assert_counted_once(&server, &sent_triples(N, base));
    println!(
        "FIGURES ureq fault run: events {N}, retries {}, {wire}, deduplicated set == sent set, \
         enqueue {enqueued_in:?}, wall {wall:?}",
        c.retried
    );
}

/// The child side of the fault tests that need a process to die or to run
/// beside another: started by them with `KM_FAULT_CHILD` set.
#[test]
#[ignore = "a child process of the fault tests; they start it"]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let dir = std::env::var("KM_OUTBOX").unwrap();
    let host = std::env::var("KM_HOST").unwrap();
    let client = builder(&host, Duration::from_secs(2)).build_ureq().unwrap();
    match mode.as_str() {
        // Writes ahead, prints each event acknowledged as durable, until
        // it is killed.
        "writer" => {
            let sender = Sender::builder()
                .workers(2)
                .outbox(Outbox::new(&dir).segment_size(16 << 10))
                .build(client)
                .unwrap();
            for i in 0..1_000_000 {
                let accepted = sender
                    .record(&format!("person-{i}"), &format!("event-{i}"), ())
                    .unwrap();
                if accepted == Accepted::Durable {
                    println!("KM durable {i}");
                }
            }
        }
        // Replays the outbox, delivers everything, reports its share.
        "replayer" => {
            // A small queue: segments are claimed as fast as they are
            // delivered, so two replayers share the work.
            let sender = Sender::builder()
                .capacity(64)
                .workers(4)
                .outbox(Outbox::new(&dir).replay_every(None))
                .build(client)
                .unwrap();
            sender.flush(Duration::from_secs(60)).unwrap();
            let c = sender.counters();
            println!("KM replayed {} delivered {}", c.replayed, c.delivered);
            assert!(sender.shutdown(Duration::from_secs(10)).is_clean());
        }
        // Replays into a stalled server until it is killed.
        "stuck-replayer" => {
            let sender = Sender::builder()
                .workers(2)
                .outbox(Outbox::new(&dir).replay_every(None))
                .build(client)
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while sender.counters().replayed == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            println!("KM replaying {}", sender.counters().replayed);
            std::thread::sleep(Duration::from_secs(60));
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child_env(
    mode: &str,
    dir: &std::path::Path,
    server: &TestServer,
) -> Vec<(&'static str, String)> {
    vec![
        (CHILD, mode.to_owned()),
        ("KM_OUTBOX", dir.display().to_string()),
        ("KM_HOST", server.host_port()),
    ]
}

/// Replays `dir` in this process and checks it is empty afterwards.
fn replay_here(dir: &std::path::Path, server: &TestServer) -> kissmetrics::sender::Counters {
    let client = builder(&server.host_port(), Duration::from_secs(2))
        .build_ureq()
        .unwrap();
    let sender = Sender::builder()
        .outbox(Outbox::new(dir).replay_every(None))
        .build(client)
        .unwrap();
    sender.flush(Duration::from_secs(60)).unwrap();
    let c = sender.counters();
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());
    assert!(segments(dir).is_empty(), "left: {:?}", files(dir));
    c
}

#[test]
fn a_writer_killed_with_sigkill_loses_nothing_acknowledged_as_durable() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder().seed(11).start().unwrap();
    // Slow and flaky, so that many requests are pending when the kill lands.
    server.set_fault_rates(FaultRates {
        status: Some((503, 0.2)),
        delay: Some((Duration::from_millis(20), 0.5)),
        ..FaultRates::default()
    });
    let started = Instant::now();
    let (mut child, lines) =
        spawn_child("child_process", &child_env("writer", dir.path(), &server));
    let mut durable = BTreeSet::new();
    while durable.len() < 2000 {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the child acknowledges events");
        let i: usize = line.strip_prefix("durable ").unwrap().parse().unwrap();
        durable.insert(i);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Lines printed before the kill but not read yet are acknowledgements too.
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
        if let Some(i) = line.strip_prefix("durable ") {
            durable.insert(i.parse().unwrap());
        }
    }
    let at_kill = server.requests();
    let before = at_kill.len();
    let delivered_before: BTreeSet<String> = at_kill
        .iter()
        .filter(|r| r.fault.is_none())
        .filter_map(|r| r.pair("_p").map(str::to_owned))
        .collect();
    let pending_at_kill = durable
        .iter()
        .filter(|i| !delivered_before.contains(&format!("person-{i}")))
        .count();
    let left_on_disk = segments(dir.path()).len();
    server.clear_faults();

    let c = replay_here(dir.path(), &server);
    let recorded = server.requests();
    let delivered: BTreeSet<(String, String)> = recorded
        .iter()
        .filter(|r| r.fault.is_none())
        .map(|r| {
            (
                r.pair("_p").unwrap().to_owned(),
                r.pair("_n").unwrap().to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = durable
        .iter()
        .filter(|i| !delivered.contains(&(format!("person-{i}"), format!("event-{i}"))))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not delivered: {missing:?}"
    );
    println!(
        "FIGURES sigkill: durable acks {}, requests before the kill {before}, acknowledged but \
         undelivered at the kill {pending_at_kill}, segments left {left_on_disk}, replayed {}, \
         delivered after restart {}, torn tails {}, requests on the wire {}, duplicates on the wire {}, \
         wall {:?}",
        durable.len(),
        c.replayed,
        c.delivered,
        c.torn_tails,
        recorded.len(),
        duplicates(&recorded),
        started.elapsed()
    );
}

#[test]
fn an_outage_fills_the_outbox_and_two_replaying_processes_deliver_each_event_once() {
    const N: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // The service is down for the whole run.
    let client = builder(&dead_host(), Duration::from_secs(2))
        .build_ureq()
        .unwrap();
    let sender = Sender::builder()
        .retry(
            RetryPolicy::new()
                .initial_delay(Duration::from_millis(1))
                .max_attempts(Some(2)),
        )
        .outbox(Outbox::new(dir.path()).segment_size(8 << 10))
        .build(client)
        .unwrap();
    for i in 0..N {
        assert_eq!(
            sender
                .record(&format!("person-{i}"), &format!("event-{i}"), ())
                .unwrap(),
            Accepted::Durable
        );
    }
    sender.flush(Duration::from_secs(60)).unwrap();
    let c = sender.counters();
    assert_eq!(
        (c.spilled, c.delivered, c.failed, c.dropped.total()),
        (N as u64, 0, 0, 0)
    );
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());
    let segs = segments(dir.path());
    assert!(segs.len() > 2, "several segments to share: {}", segs.len());

    // The service is back (answering in about 2 ms); two processes replay
    // the same directory at once.
    let server = TestServer::start();
    server.set_fault_rates(FaultRates {
        delay: Some((Duration::from_millis(2), 1.0)),
        ..FaultRates::default()
    });
    let env_a = child_env("replayer", dir.path(), &server);
    let (mut a, lines_a) = spawn_child("child_process", &env_a);
    let (mut b, lines_b) = spawn_child("child_process", &env_a);
    assert!(wait_child(&mut a, Duration::from_secs(60)).success());
    assert!(wait_child(&mut b, Duration::from_secs(60)).success());
    let share = |lines: std::sync::mpsc::Receiver<String>| -> (u64, u64) {
        let line = lines.recv_timeout(Duration::from_secs(5)).unwrap();
        let parts: Vec<&str> = line.split(' ').collect();
        (parts[1].parse().unwrap(), parts[3].parse().unwrap())
    };
    let (ra, da) = share(lines_a);
    let (rb, db) = share(lines_b);
    assert_eq!((ra + rb, da + db), (N as u64, N as u64));

    let recorded = server.requests();
    assert_eq!(recorded.len(), N, "each event sent exactly once");
    let pairs: BTreeSet<_> = recorded
        .iter()
        .map(|r| {
            (
                r.pair("_p").unwrap().to_owned(),
                r.pair("_n").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(pairs.len(), N);
    assert!(
        segments(dir.path()).is_empty(),
        "left: {:?}",
        files(dir.path())
    );
    println!(
        "FIGURES outage: events {N}, segments {}, replayed by process A {ra}, by process B {rb}, \
         requests on the wire {}, duplicates 0, wall {:?}",
        segs.len(),
        recorded.len(),
        started.elapsed()
    );
}

#[test]
fn a_replayer_killed_while_holding_a_claim_leaves_it_to_the_next() {
    const N: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start();
    // Park N events: the server is unreachable for this sender.
    let parked = Sender::builder()
        .retry(RetryPolicy::never())
        .outbox(
            Outbox::new(dir.path())
                .write_ahead(false)
                .replay_every(None),
        )
        .build(
            builder(&dead_host(), Duration::from_secs(1))
                .build_ureq()
                .unwrap(),
        )
        .unwrap();
    for i in 0..N {
        parked
            .record(&format!("person-{i}"), &format!("event-{i}"), ())
            .unwrap();
    }
    parked.flush(Duration::from_secs(30)).unwrap();
    drop(parked);
    // A replayer claims the segment and gets stuck on a stalled server.
    server.set_fault_rates(FaultRates {
        delay: Some((Duration::from_secs(60), 1.0)),
        ..FaultRates::default()
    });
    let (mut child, lines) = spawn_child(
        "child_process",
        &child_env("stuck-replayer", dir.path(), &server),
    );
    let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(line.starts_with("replaying "), "{line}");
    assert_eq!(segments(dir.path()).len(), 1, "claimed, not deleted");
    child.kill().unwrap();
    child.wait().unwrap();
    server.clear_faults();

    let c = replay_here(dir.path(), &server);
    assert_eq!(c.replayed, N as u64);
    let recorded = server.requests();
    let pairs: BTreeSet<_> = recorded
        .iter()
        .filter(|r| r.fault.is_none())
        .map(|r| r.pair("_p").unwrap().to_owned())
        .collect();
    assert_eq!(pairs.len(), N);
}

/// Flush, shutdown and drop keep their deadlines while every request
/// stalls, requests in flight included.
#[test]
fn flush_shutdown_and_drop_keep_their_deadlines_with_a_stalled_server() {
    let server = TestServer::start();
    server.set_fault_rates(FaultRates {
        delay: Some((Duration::from_secs(30), 1.0)),
        ..FaultRates::default()
    });
    let margin = Duration::from_millis(250);
    let deadline = Duration::from_millis(300);
    let dir = tempfile::tempdir().unwrap();
    let make = |b: SenderBuilder| {
        b.workers(4)
            .build(
                builder(&server.host_port(), Duration::from_secs(20))
                    .build_ureq()
                    .unwrap(),
            )
            .unwrap()
    };
    let mut figures = Vec::new();

    let sender = make(Sender::builder());
    for i in 0..50 {
        sender.record(&format!("p{i}"), "x", ()).unwrap();
    }
    let t = Instant::now();
    let pending = sender.flush(deadline).unwrap_err();
    let flush = t.elapsed();
    assert_eq!(pending.total(), 50);
    assert!(
        flush >= deadline && flush < deadline + margin,
        "flush took {flush:?}"
    );
    let t = Instant::now();
    let report = sender.shutdown(deadline);
    let shutdown = t.elapsed();
    assert!(shutdown < deadline + margin, "shutdown took {shutdown:?}");
    assert_eq!(
        (report.undelivered, report.lost, report.in_flight),
        (50, 50, 4)
    );
    figures.push(format!("flush {flush:?}, shutdown {shutdown:?}"));

    let sender = make(Sender::builder().drop_timeout(deadline));
    for i in 0..50 {
        sender.record(&format!("p{i}"), "x", ()).unwrap();
    }
    let t = Instant::now();
    drop(sender);
    let dropped = t.elapsed();
    assert!(dropped < deadline + margin, "drop took {dropped:?}");
    figures.push(format!("drop {dropped:?}"));

    // With an outbox the leftovers are kept, in the same time.
    let sender = make(Sender::builder().outbox(Outbox::new(dir.path())));
    for i in 0..50 {
        assert_eq!(
            sender.record(&format!("p{i}"), "x", ()).unwrap(),
            Accepted::Durable
        );
    }
    let t = Instant::now();
    let report = sender.shutdown(deadline);
    let kept = t.elapsed();
    assert!(
        kept < deadline + margin,
        "shutdown with outbox took {kept:?}"
    );
    assert_eq!(
        (report.undelivered, report.spilled, report.lost),
        (50, 50, 0)
    );
    figures.push(format!("shutdown with outbox {kept:?}"));
    println!(
        "FIGURES deadlines ({deadline:?} asked, stalled server): {}",
        figures.join(", ")
    );
}
