//! Transport throughput: 10,000 `record` calls to a km-testkit server on
//! loopback, per adapter, against the bare HTTP client under it and against
//! what one keep-alive connection carries.
//!
//! ```text
//! cargo bench --all-features --bench transport             # full run, about 7 minutes
//! cargo bench --all-features --bench transport -- hyper    # the cases whose id has "hyper"
//! cargo bench --all-features --bench transport -- --test   # CI: build and run each once
//! ```
//!
//! Every timed iteration is 10,000 calls (`Throughput::Elements(10_000)`).
//! In one run:
//!
//! - `sequential/raw-tcp`: the ceiling. One `std::net::TcpStream`
//!   (`TCP_NODELAY`) writes a pre-built `GET` and reads the response head
//!   and its 43-byte GIF by `Content-Length`, 10,000 times over the one
//!   keep-alive connection.
//! - `sequential/<adapter>`: the facade's `Client` (ureq, isahc) or
//!   `AsyncClient` (hyper, isahc-async) over that adapter, one call after
//!   the other: `record(person, event, 3 properties)`, so encoding,
//!   sending, reading the body and classifying the status.
//! - `sequential/<adapter>-bare`: the HTTP client inside that very adapter
//!   (`agent()`, `client()`: same configuration, same pool) sending a clone
//!   of one pre-built identical request and reading the body to its end.
//! - `64-in-flight/<adapter>` and `…-bare`: the async adapters with 64 tasks
//!   sharing the 10,000 calls, so at most 64 in flight.
//! - Two diagnostics that explain gaps (see BENCHMARKS.md):
//!   `sequential/ureq-bare-no-thread`, an agent configured like the
//!   adapter's but without a total timeout, so that ureq resolves the host
//!   on the calling thread instead of on a new thread per call; and
//!   `sequential/hyper-bare-timeout`, the bare hyper-util client under the
//!   `tokio::time::timeout` km-hyper puts around every exchange.
//!
//! Async cases run on a tokio multi-thread runtime with 2 workers (isahc
//! drives curl on its own thread and only needs an executor). The server
//! runs in this process on its own thread: server and client share the
//! machine's cores.
//!
//! After the criterion groups a full run prints `paired ratios`: the
//! adapter, its bare client and (sequential) the raw connection timed in
//! turn, 10,000 calls each, [`ROUNDS`] rounds, so that load from elsewhere
//! on the machine hits all three alike. Medians of the per-round ratios are
//! what the targets are checked against: adapter ≥ 0.95× its bare client,
//! sequential adapter ≥ 0.8× the raw connection.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use http_body_util::{BodyExt, Empty};
use kissmetrics::proto::http::{header, HeaderValue, Request};
use kissmetrics::proto::{Encoder, Endpoint, Options, DEFAULT_TIMEOUT, USER_AGENT};
use kissmetrics::transports::km_hyper::hyper_util::client::legacy::connect::Connect;
use kissmetrics::transports::km_hyper::hyper_util::client::legacy::Client as HyperClient;
use kissmetrics::transports::km_isahc::isahc::{
    AsyncBody, AsyncReadResponseExt, Body, HttpClient, ReadResponseExt,
};
use kissmetrics::transports::km_ureq::ureq::Agent;
use kissmetrics::transports::{HyperTransport, IsahcTransport, UreqTransport};
use kissmetrics::{AsyncClient, Client, Scheme};
use km_testkit::{TestServer, GIF};
use tokio::runtime::Runtime;

const KEY: &str = "b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0";
const PERSON: &str = "bob@example.com";
const EVENT: &str = "Signed Up";
const PROPS: [(&str, &str); 3] = [
    ("Plan", "Pro"),
    ("Amount", "99.95"),
    ("Referrer", "https://example.com/?q=rust client"),
];
/// Calls per timed iteration.
const CALLS: u64 = 10_000;
/// Concurrent calls in the `64-in-flight` group.
const IN_FLIGHT: usize = 64;
/// Rounds of the paired comparison.
const ROUNDS: usize = 9;

/// One benchmarked way of making [`CALLS`] calls; returns the time they took.
type Run = Box<dyn FnMut() -> Duration>;

struct Case {
    name: &'static str,
    run: Run,
}

/// The server, the pre-built request and the runtime every case shares.
struct Bench {
    server: TestServer,
    runtime: Runtime,
    host: String,
    request: Request<()>,
}

impl Bench {
    fn new() -> Self {
        let server = TestServer::start();
        let host = server.host_port();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let endpoint = Endpoint::new(Scheme::Http, &host).expect("endpoint");
        let request = Encoder::with_endpoint(KEY, endpoint)
            .expect("encoder")
            .record(PERSON, EVENT, PROPS, Options::new())
            .expect("valid");
        Bench {
            server,
            runtime,
            host,
            request,
        }
    }

    fn client(&self) -> kissmetrics::ClientBuilder {
        Client::builder(KEY)
            .scheme(Scheme::Http)
            .host(&self.host)
            .proxy_from_env(false)
    }

    fn async_client(&self) -> kissmetrics::AsyncClientBuilder {
        AsyncClient::builder(KEY)
            .scheme(Scheme::Http)
            .host(&self.host)
            .proxy_from_env(false)
    }

    /// Times `calls` and forgets the requests the server recorded (outside
    /// the timing), so that memory stays flat over a long run.
    fn timed(&self, calls: impl FnOnce()) -> Duration {
        let start = Instant::now();
        calls();
        let elapsed = start.elapsed();
        assert!(
            self.server
                .wait_for_requests(CALLS as usize, Duration::from_secs(10)),
            "every call reached the server"
        );
        self.server.clear();
        elapsed
    }

    /// Runs `one` [`CALLS`] times, at most `in_flight` at once, on the runtime.
    fn on_runtime<F, Fut>(&self, in_flight: usize, one: F) -> Duration
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let started = Arc::new(AtomicU64::new(0));
        self.timed(|| {
            self.runtime.block_on(async {
                let tasks: Vec<_> = (0..in_flight)
                    .map(|_| {
                        let (one, started) = (one.clone(), Arc::clone(&started));
                        tokio::spawn(async move {
                            while started.fetch_add(1, Ordering::Relaxed) < CALLS {
                                one().await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task");
                }
            });
        })
    }
}

/// A minimal HTTP/1.1 client on one keep-alive connection.
struct RawConnection {
    stream: BufReader<TcpStream>,
    request: Vec<u8>,
    line: String,
    body: [u8; GIF.len()],
}

impl RawConnection {
    fn new(bench: &Bench) -> Self {
        let stream = TcpStream::connect(bench.server.addr()).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let target = bench.request.uri().path_and_query().expect("target");
        let request = format!(
            "GET {target} HTTP/1.1\r\nhost: {}\r\nuser-agent: {USER_AGENT}\r\n\r\n",
            bench.host
        );
        RawConnection {
            stream: BufReader::new(stream),
            request: request.into_bytes(),
            line: String::new(),
            body: [0; GIF.len()],
        }
    }

    /// Sends the request and reads the whole response.
    fn call(&mut self) {
        self.stream
            .get_mut()
            .write_all(&self.request)
            .expect("write");
        let mut length = None;
        loop {
            self.line.clear();
            self.stream.read_line(&mut self.line).expect("read");
            if self.line == "\r\n" {
                break;
            }
            if let Some((name, value)) = self.line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        assert_eq!(length, Some(GIF.len()), "a GIF answer");
        self.stream.read_exact(&mut self.body).expect("body");
    }
}

fn sequential_cases(bench: &Arc<Bench>) -> Vec<Case> {
    let mut cases = Vec::new();

    let mut raw = RawConnection::new(bench);
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "raw-tcp",
        run: Box::new(move || b.timed(|| (0..CALLS).for_each(|_| raw.call()))),
    });

    // ureq: the facade's Client over UreqTransport, and the transport's agent.
    let builder = bench.client();
    let transport = UreqTransport::new(builder.transport_config()).expect("ureq");
    let agent: Agent = transport.agent().clone();
    let client = builder.with_transport(transport).expect("client");
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "ureq",
        run: Box::new(move || b.timed(|| record_blocking(&client))),
    });
    cases.push(ureq_bare(bench, "ureq-bare", agent));

    // ureq's agent resolves the host at every call, even for a pooled
    // connection, and under a total timeout it does so on a new thread
    // (ureq 3 `DefaultResolver`). This agent is the adapter's minus the
    // total timeout (each phase but resolving bounded instead), so it
    // resolves on the calling thread: what that thread costs.
    let agent = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(USER_AGENT)
        .max_idle_connections_per_host(10)
        .timeout_global(None)
        .timeout_connect(Some(DEFAULT_TIMEOUT))
        .timeout_send_request(Some(DEFAULT_TIMEOUT))
        .timeout_recv_response(Some(DEFAULT_TIMEOUT))
        .timeout_recv_body(Some(DEFAULT_TIMEOUT))
        .build()
        .new_agent();
    cases.push(ureq_bare(bench, "ureq-bare-no-thread", agent));

    // isahc, blocking.
    let builder = bench.client();
    let transport = IsahcTransport::new(builder.transport_config()).expect("isahc");
    let isahc: HttpClient = transport.client().clone();
    let client = builder.with_transport(transport).expect("client");
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "isahc",
        run: Box::new(move || b.timed(|| record_blocking(&client))),
    });
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "isahc-bare",
        run: Box::new(move || {
            let request = b.request.clone();
            b.timed(|| {
                for _ in 0..CALLS {
                    let request = request.clone().map(|()| Body::empty());
                    let mut response = isahc.send(request).expect("sent");
                    assert_eq!(response.status(), 200);
                    black_box(response.bytes().expect("body"));
                }
            })
        }),
    });

    cases.extend(async_cases(bench, 1));
    cases
}

/// A ureq agent sending clones of the pre-built request.
fn ureq_bare(bench: &Arc<Bench>, name: &'static str, agent: Agent) -> Case {
    let b = Arc::clone(bench);
    Case {
        name,
        run: Box::new(move || {
            b.timed(|| {
                for _ in 0..CALLS {
                    let mut response = agent.run(b.request.clone()).expect("sent");
                    assert_eq!(response.status(), 200);
                    black_box(response.body_mut().read_to_vec().expect("body"));
                }
            })
        }),
    }
}

fn record_blocking(client: &Client) {
    for _ in 0..CALLS {
        black_box(client.record(PERSON, EVENT, PROPS).expect("delivered"));
    }
}

/// The async adapters and their bare clients, `in_flight` calls at a time.
fn async_cases(bench: &Arc<Bench>, in_flight: usize) -> Vec<Case> {
    let mut cases = Vec::new();

    // hyper: the facade's AsyncClient over HyperTransport, and the
    // transport's hyper-util client.
    let builder = bench.async_client();
    let transport = HyperTransport::new(builder.transport_config()).expect("hyper");
    let hyper = transport.client().clone();
    let client = builder.with_transport(transport).expect("client");
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "hyper",
        run: Box::new(move || {
            let client = client.clone();
            b.on_runtime(in_flight, move || record_async(client.clone()))
        }),
    });
    // As km-hyper sends it: with a User-Agent, body type `Empty<Bytes>`.
    let mut request = bench.request.clone();
    request
        .headers_mut()
        .insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    cases.push(hyper_bare(bench, &hyper, &request, in_flight, None));
    if in_flight == 1 {
        // km-hyper bounds each exchange with `tokio::time::timeout`; this is
        // the bare client under the same timeout: what the timer costs.
        let timeout = Some(DEFAULT_TIMEOUT);
        cases.push(hyper_bare(bench, &hyper, &request, in_flight, timeout));
    }

    // isahc, async.
    let builder = bench.async_client();
    let transport = IsahcTransport::new(builder.transport_config()).expect("isahc");
    let isahc: HttpClient = transport.client().clone();
    let client = builder.with_transport(transport).expect("client");
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "isahc-async",
        run: Box::new(move || {
            let client = client.clone();
            b.on_runtime(in_flight, move || record_async(client.clone()))
        }),
    });
    let b = Arc::clone(bench);
    cases.push(Case {
        name: "isahc-async-bare",
        run: Box::new(move || {
            let (isahc, request) = (isahc.clone(), b.request.clone());
            b.on_runtime(in_flight, move || {
                let (isahc, request) = (isahc.clone(), request.clone());
                async move {
                    let request = request.map(|()| AsyncBody::empty());
                    let mut response = isahc.send_async(request).await.expect("sent");
                    assert_eq!(response.status(), 200);
                    black_box(response.bytes().await.expect("body"));
                }
            })
        }),
    });
    cases
}

/// The bare hyper-util client sending clones of `request`, each exchange
/// under `timeout` if any.
fn hyper_bare<C>(
    bench: &Arc<Bench>,
    hyper: &HyperClient<C, Empty<Bytes>>,
    request: &Request<()>,
    in_flight: usize,
    timeout: Option<Duration>,
) -> Case
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let (b, hyper, request) = (Arc::clone(bench), hyper.clone(), request.clone());
    Case {
        name: if timeout.is_some() {
            "hyper-bare-timeout"
        } else {
            "hyper-bare"
        },
        run: Box::new(move || {
            let (hyper, request) = (hyper.clone(), request.clone());
            b.on_runtime(in_flight, move || {
                let (hyper, request) = (hyper.clone(), request.clone());
                async move {
                    let exchange = async {
                        let response = hyper
                            .request(request.map(|()| Empty::new()))
                            .await
                            .expect("sent");
                        assert_eq!(response.status(), 200);
                        black_box(response.into_body().collect().await.expect("body"));
                    };
                    match timeout {
                        Some(timeout) => tokio::time::timeout(timeout, exchange)
                            .await
                            .expect("in time"),
                        None => exchange.await,
                    }
                }
            })
        }),
    }
}

async fn record_async(client: AsyncClient) {
    black_box(
        client
            .record(PERSON, EVENT, PROPS)
            .await
            .expect("delivered"),
    );
}

/// One criterion group: each case timed as whole iterations of [`CALLS`].
fn group(c: &mut Criterion, name: &str, cases: &mut [Case]) {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(CALLS));
    for case in cases.iter_mut() {
        group.bench_function(case.name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| (case.run)()).sum())
        });
    }
    group.finish();
}

/// Times the cases in turn, [`ROUNDS`] times (round `r` starting with case
/// `r mod n`), and prints each case's median
/// throughput and its median per-round ratio to each of the `references`.
fn paired(title: &str, cases: &mut [Case], references: &[usize]) {
    let n = cases.len();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); n];
    for round in 0..ROUNDS {
        // Each round starts with the next case, so none always goes first.
        for i in (0..n).map(|k| (round + k) % n) {
            rates[i].push(CALLS as f64 / (cases[i].run)().as_secs_f64());
        }
    }
    println!("paired ratios, {title}, {ROUNDS} rounds of {CALLS} calls each:");
    for (i, case) in cases.iter().enumerate() {
        let mut line = format!(
            "  {:<20} median {:>8.0} calls/s (min {:.0}, max {:.0})",
            case.name,
            median(&rates[i]),
            rates[i].iter().copied().fold(f64::INFINITY, f64::min),
            rates[i].iter().copied().fold(0.0, f64::max),
        );
        for &r in references.iter().filter(|&&r| r != i) {
            let ratios: Vec<f64> = rates[i].iter().zip(&rates[r]).map(|(a, b)| a / b).collect();
            line += &format!(
                "; {:.3}x {} (min {:.3}, max {:.3})",
                median(&ratios),
                cases[r].name,
                ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratios.iter().copied().fold(0.0, f64::max),
            );
        }
        println!("{line}");
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Moves the case called `name` out of `cases`.
fn take(cases: &mut Vec<Case>, name: &str) -> Case {
    let i = cases
        .iter()
        .position(|case| case.name == name)
        .expect("a case of that name");
    cases.remove(i)
}

fn main() {
    let bench = Arc::new(Bench::new());
    let mut sequential = sequential_cases(&bench);
    let mut in_flight = async_cases(&bench, IN_FLIGHT);

    let mut c = Criterion::default().configure_from_args();
    group(&mut c, "sequential", &mut sequential);
    let in_flight_group = format!("{IN_FLIGHT}-in-flight");
    group(&mut c, &in_flight_group, &mut in_flight);
    c.final_summary();

    // Only a full run (`cargo bench`) measures the ratios; `--test`,
    // `--list` and `--profile-time` stop here.
    let args: Vec<String> = std::env::args().collect();
    let quick = ["--test", "--list", "--profile-time"];
    let is_quick = |a: &String| quick.iter().any(|q| a.split('=').next() == Some(*q));
    if args.iter().any(is_quick) || !args.iter().any(|a| a == "--bench") {
        return;
    }
    // A filter (`cargo bench --bench transport -- sequential/hyper`)
    // narrows the paired comparison as it narrows criterion's groups.
    let filters = filters(&args[1..]);
    let wanted = |group: &str, cases: &[Case]| {
        filters.is_empty()
            || cases.iter().any(|case| {
                let id = format!("{group}/{}", case.name);
                filters.iter().any(|filter| id.contains(filter.as_str()))
            })
    };
    let mut raw = take(&mut sequential, "raw-tcp");
    for adapter in ["ureq", "isahc", "hyper", "isahc-async"] {
        let mut cases = vec![
            take(&mut sequential, adapter),
            take(&mut sequential, &format!("{adapter}-bare")),
            raw,
        ];
        match adapter {
            "ureq" => cases.push(take(&mut sequential, "ureq-bare-no-thread")),
            "hyper" => cases.push(take(&mut sequential, "hyper-bare-timeout")),
            _ => {}
        }
        if wanted("sequential", &cases) {
            paired(&format!("sequential, {adapter}"), &mut cases, &[1, 2]);
        }
        raw = cases.swap_remove(2);
    }
    for adapter in ["hyper", "isahc-async"] {
        let mut pair = vec![
            take(&mut in_flight, adapter),
            take(&mut in_flight, &format!("{adapter}-bare")),
        ];
        if wanted(&in_flight_group, &pair) {
            paired(
                &format!("{IN_FLIGHT} in flight, {adapter}"),
                &mut pair,
                &[1],
            );
        }
    }
}

/// The benchmark filters among criterion's arguments: those that are
/// neither an option nor an option's value. Criterion's options without a
/// value are listed; any other `--option` without `=` takes the next
/// argument.
fn filters(args: &[String]) -> Vec<String> {
    const FLAGS: [&str; 14] = [
        "--bench",
        "--test",
        "--list",
        "--exact",
        "--ignored",
        "--include-ignored",
        "--quick",
        "--discard-baseline",
        "--noplot",
        "-n",
        "--verbose",
        "-v",
        "--quiet",
        "--version",
    ];
    let mut found = Vec::new();
    let mut takes_value = false;
    for arg in args {
        if arg.starts_with('-') {
            takes_value = !arg.contains('=') && !FLAGS.contains(&arg.as_str());
        } else if std::mem::take(&mut takes_value) {
            // The option's value.
        } else {
            found.push(arg.clone());
        }
    }
    found
}
