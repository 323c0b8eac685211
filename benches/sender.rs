//! The background sender: what a call costs the caller, what a queued
//! event costs in memory, and how many events per second it delivers.
//!
//! ```text
//! cargo bench --bench sender            # full run
//! cargo bench --bench sender -- --test  # CI: build and run each once
//! ```
//!
//! - `enqueue/*`: one `Sender::record` (validation, `_t` stamping,
//!   encoding, key stripping, queueing), the default policy (no outbox,
//!   drop the newest when full), a transport that answers at once; the
//!   queue is drained between batches, outside the timing. `write-ahead`
//!   adds an outbox with batched fsyncs, for comparison.
//! - `memory`: heap bytes held per queued event (counting global allocator,
//!   `stats_alloc`), against the size of the encoded request (its URI);
//!   printed before the timings.
//! - `deliver/*` (feature `ureq`): events per second delivered to a
//!   km-testkit server on loopback, from enqueue to the end of the flush.

use std::alloc::System;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kissmetrics::outbox::{Durability, Outbox};
use kissmetrics::proto::http::{Request, Response};
use kissmetrics::proto::{Options, TransportResult};
use kissmetrics::sender::{Accepted, Sender};
use kissmetrics::Client;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const KEY: &str = "b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0";
const PROPS: [(&str, &str); 3] = [
    ("Plan", "Pro"),
    ("Amount", "99.95"),
    ("Referrer", "https://example.com/?q=rust client"),
];
/// Events per timed batch; the queue holds them all.
const BATCH: u64 = 10_000;

fn instant_client() -> Client {
    Client::builder(KEY)
        .with_transport(|_req: Request<()>| -> TransportResult { Ok(Response::new(Vec::new())) })
        .expect("client")
}

/// Times `record` in batches of [`BATCH`], draining between batches.
fn time_records(sender: &Sender, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    let mut n = 0_u64;
    while done < iters {
        let batch = BATCH.min(iters - done);
        let people: Vec<String> = (0..batch).map(|i| format!("person-{}", n + i)).collect();
        let start = Instant::now();
        for person in &people {
            let accepted = sender.record(black_box(person), "Signed Up", PROPS);
            debug_assert!(!matches!(accepted, Ok(Accepted::Dropped)));
            black_box(accepted).expect("valid");
        }
        total += start.elapsed();
        sender.flush(Duration::from_secs(60)).expect("drained");
        done += batch;
        n += batch;
    }
    total
}

fn enqueue(c: &mut Criterion) {
    let mut group = c.benchmark_group("enqueue");
    // What every call costs before it reaches the queue: stamping,
    // validation and encoding (km-proto), stripping the key.
    let encoder = instant_client().encoder().clone();
    group.bench_function("baseline: stamp, encode, strip the key", |b| {
        b.iter(|| {
            let options = Options::new().timestamp(std::time::SystemTime::now());
            let request = encoder
                .record(black_box("person-1"), "Signed Up", PROPS, options)
                .expect("valid");
            black_box(encoder.strip_key(&request))
        })
    });
    let sender = Sender::builder()
        .capacity(BATCH as usize)
        .build(instant_client())
        .expect("sender");
    group.bench_function("record", |b| {
        b.iter_custom(|iters| time_records(&sender, iters))
    });
    drop(sender);

    // The same with the worker held at a gate: the caller's cost alone,
    // without workers competing for the CPU and the lock.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let sender = Sender::builder()
        .capacity(1 << 20)
        .workers(1)
        .build(gated_client(Arc::clone(&gate)))
        .expect("sender");
    group.bench_function("record, workers held", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let batch = BATCH.min(iters - done);
                let people: Vec<String> = (0..batch).map(|i| format!("person-{i}")).collect();
                if sender.pending().queued + batch as usize > 1 << 20 {
                    open(&gate);
                    sender.flush(Duration::from_secs(60)).expect("drained");
                    close(&gate);
                }
                let start = Instant::now();
                for person in &people {
                    black_box(sender.record(black_box(person), "Signed Up", PROPS)).expect("valid");
                }
                total += start.elapsed();
                done += batch;
            }
            total
        })
    });
    open(&gate);
    drop(sender);

    let dir = tempfile::tempdir().expect("tempdir");
    let sender = Sender::builder()
        .capacity(BATCH as usize)
        .outbox(Outbox::new(dir.path()).durability(Durability::Batched(
            NonZeroU32::new(1000).expect("non-zero"),
        )))
        .build(instant_client())
        .expect("sender");
    group.bench_function("record, write-ahead, fsync every 1000", |b| {
        b.iter_custom(|iters| time_records(&sender, iters))
    });
    group.finish();
}

/// A transport that holds every request until the gate opens, so the
/// queue keeps what it is given.
fn gated_client(gate: Arc<(Mutex<bool>, Condvar)>) -> Client {
    Client::builder(KEY)
        .with_transport(move |_req: Request<()>| -> TransportResult {
            let (lock, cv) = &*gate;
            let open = cv
                .wait_while(lock.lock().expect("gate"), |open| !*open)
                .expect("gate");
            drop(open);
            Ok(Response::new(Vec::new()))
        })
        .expect("client")
}

fn open(gate: &(Mutex<bool>, Condvar)) {
    *gate.0.lock().expect("gate") = true;
    gate.1.notify_all();
}

fn close(gate: &(Mutex<bool>, Condvar)) {
    *gate.0.lock().expect("gate") = false;
}

fn memory(_: &mut Criterion) {
    const N: usize = 100_000;
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let client = gated_client(Arc::clone(&gate));
    let encoder = client.encoder().clone();
    let sender = Sender::builder()
        .capacity(N + 1)
        .workers(1)
        .build(client)
        .expect("sender");
    // The one worker takes the first event and waits at the gate.
    sender.record("warm-up", "Signed Up", PROPS).expect("valid");
    while sender.pending().in_flight == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let people: Vec<String> = (0..N).map(|i| format!("person-{i}")).collect();
    let region = Region::new(GLOBAL);
    for person in &people {
        sender.record(person, "Signed Up", PROPS).expect("valid");
    }
    let stats = region.change();
    // `stats_alloc` counts a reallocation's growth in `bytes_allocated`
    // (and shrinkage in `bytes_deallocated`) already.
    let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    let (mut uri, mut stored) = (0, 0);
    for person in &people {
        let options = Options::new().timestamp(1_700_000_000_u64);
        let request = encoder
            .record(person, "Signed Up", PROPS, options)
            .expect("valid");
        uri += request.uri().to_string().len();
        stored += encoder.strip_key(&request).expect("ours").as_str().len();
    }
    let per_event = held as f64 / N as f64;
    let (uri, stored) = (uri as f64 / N as f64, stored as f64 / N as f64);
    println!(
        "memory: {N} queued events hold {held} heap bytes, {per_event:.1} bytes per event; \
         encoded request (URI) {uri:.1} bytes, so {:+.1} bytes per event over it; \
         stored form (path and query without the key) {stored:.1} bytes, {:+.1} over it \
         ({} allocations, {} frees during the enqueues)",
        per_event - uri,
        per_event - stored,
        stats.allocations,
        stats.deallocations,
    );
    open(&gate);
    sender.flush(Duration::from_secs(60)).expect("drained");
}

#[cfg(feature = "ureq")]
fn deliver(c: &mut Criterion) {
    use kissmetrics::Scheme;
    const N: u64 = 5_000;
    let server = km_testkit::TestServer::start();
    let mut group = c.benchmark_group("deliver");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(N));
    for workers in [1, 4, 16] {
        let client = Client::builder(KEY)
            .scheme(Scheme::Http)
            .host(&server.host_port())
            .proxy_from_env(false)
            .build_ureq()
            .expect("client");
        let sender = Sender::builder()
            .capacity(N as usize)
            .workers(workers)
            .build(client)
            .expect("sender");
        group.bench_function(format!("ureq, {workers} workers"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for round in 0..iters {
                    for i in 0..N {
                        sender
                            .record(&format!("person-{round}-{i}"), "Signed Up", PROPS)
                            .expect("valid");
                    }
                    sender.flush(Duration::from_secs(120)).expect("delivered");
                    server.clear();
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

#[cfg(not(feature = "ureq"))]
fn deliver(_: &mut Criterion) {}

criterion_group!(benches, memory, enqueue, deliver);
criterion_main!(benches);
