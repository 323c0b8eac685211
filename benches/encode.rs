//! Encoding cost: km-proto against the floor of its own escaping.
//!
//! ```text
//! cargo bench --bench encode            # full run
//! cargo bench --bench encode -- --test  # CI: build and run each once
//! ```
//!
//! For each call shape (record with 3 properties, set with 10, alias) this
//! measures, in one run:
//! - `km-proto`: `Encoder::record` / `set` / `alias`, validation included;
//! - `floor`: the same URI bytes written with `form_urlencoded::Serializer`
//!   into a pre-sized `String`, handed to `http::Uri::from_maybe_shared`
//!   as `Bytes` (no copy), nothing else;
//! - `table`: the same bytes from a hand-rolled escaper over a lookup table,
//!   into a pre-sized `String`, then `Uri` — to see what the escaper costs.
//!
//! Heap allocations (and reallocations) per call are counted by a counting
//! global allocator (`stats_alloc`) and printed before the timings.

use std::alloc::System;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use kissmetrics::proto::http::{Request, Uri};
use kissmetrics::proto::{Encoder, Options, Value};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const KEY: &str = "b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0";
const PERSON: &str = "bob@example.com";
const EVENT: &str = "Signed Up";
const RECORD_PROPS: [(&str, &str); 3] = [
    ("Plan", "Pro"),
    ("Amount", "99.95"),
    ("Referrer", "https://example.com/?q=rust client"),
];
const SET_PROPS: [(&str, &str); 10] = [
    ("gender", "male"),
    ("age", "42"),
    ("country", "Deutschland"),
    ("city", "Köln"),
    ("plan", "Pro"),
    ("seats", "12"),
    ("company", "ACME & Sons"),
    ("signup source", "ads/fall 2026"),
    ("newsletter", "True"),
    ("score", "0.875"),
];
const IDENTITY: &str = "bob";

/// The whole URI with `form_urlencoded::Serializer`, pre-sized.
fn floor(path: &str, pairs: &[(&str, &str)], capacity: usize) -> Request<()> {
    let mut s = String::with_capacity(capacity);
    s.push_str("https://trk.kissmetrics.io/");
    s.push_str(path);
    s.push('?');
    let start = s.len();
    let mut ser = form_urlencoded::Serializer::for_suffix(s, start);
    ser.extend_pairs(pairs);
    let uri = Uri::from_maybe_shared(Bytes::from(ser.finish())).expect("valid URI");
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    request
}

/// Bytes left as they are by form encoding; space becomes `+`.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_');
        b += 1;
    }
    t
};
const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if PLAIN[b as usize] {
            out.push(b);
        } else if b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// The same URI with a lookup-table escaper.
fn table(path: &str, pairs: &[(&str, &str)], capacity: usize) -> Request<()> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"https://trk.kissmetrics.io/");
    out.extend_from_slice(path.as_bytes());
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        escape_into(&mut out, k);
        out.push(b'=');
        escape_into(&mut out, v);
    }
    let uri = Uri::from_maybe_shared(Bytes::from(out)).expect("valid URI");
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    request
}

/// Builds one call's request with km-proto.
type EncodeFn = Box<dyn Fn(&Encoder) -> Request<()>>;

struct Shape {
    name: &'static str,
    path: &'static str,
    pairs: Vec<(&'static str, &'static str)>,
    encode: EncodeFn,
}

fn shapes() -> Vec<Shape> {
    let mut record = vec![("_k", KEY), ("_p", PERSON), ("_n", EVENT)];
    record.extend(RECORD_PROPS);
    let mut set = vec![("_k", KEY), ("_p", PERSON)];
    set.extend(SET_PROPS);
    vec![
        Shape {
            name: "record_3_props",
            path: "e",
            pairs: record,
            encode: Box::new(|enc| {
                enc.record(PERSON, EVENT, RECORD_PROPS, Options::new())
                    .expect("valid")
            }),
        },
        Shape {
            name: "set_10_props",
            path: "s",
            pairs: set,
            encode: Box::new(|enc| enc.set(PERSON, SET_PROPS, Options::new()).expect("valid")),
        },
        Shape {
            name: "alias",
            path: "a",
            pairs: vec![("_k", KEY), ("_p", PERSON), ("_n", IDENTITY)],
            encode: Box::new(|enc| enc.alias(PERSON, IDENTITY, Options::new()).expect("valid")),
        },
    ]
}

fn allocations_per_call(f: impl Fn() -> Request<()>) -> f64 {
    const N: usize = 1_000;
    let region = Region::new(GLOBAL);
    for _ in 0..N {
        black_box(f());
    }
    let stats = region.change();
    (stats.allocations + stats.reallocations) as f64 / N as f64
}

fn bench(c: &mut Criterion) {
    let enc = Encoder::new(KEY).expect("valid key");
    // A typed value, to show non-string values cost nothing extra.
    let typed = [
        ("Plan", Value::from("Pro")),
        ("Amount", Value::from(99.95)),
        ("Seats", Value::from(12)),
    ];
    for shape in shapes() {
        let expected = (shape.encode)(&enc);
        let capacity = expected.uri().to_string().len();
        let by_floor = floor(shape.path, &shape.pairs, capacity);
        let by_table = table(shape.path, &shape.pairs, capacity);
        assert_eq!(expected.uri(), by_floor.uri(), "floor builds the same URI");
        assert_eq!(expected.uri(), by_table.uri(), "table builds the same URI");
        println!(
            "allocations per call, {}: km-proto {:.2}, floor {:.2}, table {:.2}",
            shape.name,
            allocations_per_call(|| (shape.encode)(&enc)),
            allocations_per_call(|| floor(shape.path, &shape.pairs, capacity)),
            allocations_per_call(|| table(shape.path, &shape.pairs, capacity)),
        );

        let mut group = c.benchmark_group(shape.name);
        group.bench_function("km-proto", |b| b.iter(|| (shape.encode)(black_box(&enc))));
        group.bench_function("floor", |b| {
            b.iter(|| floor(shape.path, black_box(&shape.pairs), capacity))
        });
        group.bench_function("table", |b| {
            b.iter(|| table(shape.path, black_box(&shape.pairs), capacity))
        });
        group.finish();
    }
    c.bench_function("record_3_typed_props/km-proto", |b| {
        b.iter(|| {
            enc.record(PERSON, EVENT, black_box(&typed), Options::new())
                .expect("valid")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
