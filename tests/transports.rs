//! One behaviour suite, run against every transport compiled in.
//!
//! Each transport is a [`Kit`]: the blocking ones (`ureq`, `isahc`) through
//! `kissmetrics::Client`, the async ones (`hyper`, `isahc`) through
//! `kissmetrics::AsyncClient` on a tokio runtime. The test bodies below are
//! generic over `Kit`; `suite!` instantiates each once per transport. Every
//! assertion is about what the km-testkit server recorded or what the
//! client returned: nothing is mocked.
#![cfg(any(feature = "ureq", feature = "hyper", feature = "isahc"))]

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use kissmetrics::proto::http::{Response, StatusCode, Uri};
use kissmetrics::{Error, Options, Scheme, TransportErrorKind};
use km_testkit::{Fault, RecordedRequest, TestServer, GIF};

const KEY: &str = "s3cret-key/+&=";

/// Requests each sender makes in the concurrency test.
const PER_SENDER: usize = 200;

/// The settings a test gives a client.
#[derive(Clone, Debug)]
struct Setup {
    host: String,
    scheme: Scheme,
    timeout: Duration,
    proxy: Option<Uri>,
    proxy_from_env: bool,
    root: Option<Vec<u8>>,
}

impl Setup {
    fn to(server: &TestServer) -> Self {
        Setup {
            host: server.host_port(),
            scheme: if server.is_https() {
                Scheme::Https
            } else {
                Scheme::Http
            },
            timeout: Duration::from_secs(10),
            proxy: None,
            // The machine's own proxy variables must not reroute tests.
            proxy_from_env: false,
            root: None,
        }
    }
}

/// Applies a [`Setup`] to a `ClientBuilder` or an `AsyncClientBuilder`.
macro_rules! configure {
    ($builder:expr, $setup:expr) => {{
        let setup: &Setup = $setup;
        let mut builder = $builder
            .scheme(setup.scheme)
            .host(&setup.host)
            .timeout(setup.timeout)
            .proxy_from_env(setup.proxy_from_env);
        if let Some(proxy) = &setup.proxy {
            builder = builder.proxy(proxy.clone());
        }
        if let Some(root) = &setup.root {
            builder = builder.add_root_certificate(root.clone());
        }
        builder
    }};
}

type Sent = Result<Response<Vec<u8>>, Error>;

/// A transport under test, driven through the facade.
trait Kit: Sized + Clone + Send + Sync + 'static {
    /// Whether a plain-http request through a proxy goes in a `CONNECT`
    /// tunnel (which the test server refuses) instead of being forwarded.
    const TUNNELS: bool;

    fn build(setup: &Setup) -> Result<Self, Error>;
    fn record(
        &self,
        person: &str,
        event: &str,
        props: &[(&str, &str)],
        options: Options<'_>,
    ) -> Sent;
    fn set(&self, person: &str, props: &[(&str, &str)], options: Options<'_>) -> Sent;
    fn alias(&self, person: &str, identity: &str, options: Options<'_>) -> Sent;
    /// Sends `n` records one after the other from one thread or task,
    /// person `bob`, events `e0`, `e1`, …
    fn sequential(&self, n: usize);
    /// Sends [`PER_SENDER`] records from each of many concurrent senders
    /// (threads or tasks), person `s{sender}`, event `e{n}`, and returns
    /// how many senders there were.
    fn flood(&self) -> usize;
}

/// A blocking client; `flood` uses 8 threads.
#[cfg(any(feature = "ureq", feature = "isahc"))]
#[derive(Clone)]
struct Blocking(kissmetrics::Client);

#[cfg(any(feature = "ureq", feature = "isahc"))]
impl Blocking {
    fn flood(&self) -> usize {
        const THREADS: usize = 8;
        std::thread::scope(|scope| {
            for sender in 0..THREADS {
                let client = self.0.clone();
                scope.spawn(move || {
                    for n in 0..PER_SENDER {
                        let person = format!("s{sender}");
                        client.record(&person, &format!("e{n}"), ()).unwrap();
                    }
                });
            }
        });
        THREADS
    }
}

/// An async client with the runtime that drives it; `flood` uses 64 tasks.
#[cfg(any(feature = "hyper", feature = "isahc"))]
#[derive(Clone)]
struct Async {
    client: kissmetrics::AsyncClient,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
}

#[cfg(any(feature = "hyper", feature = "isahc"))]
impl Async {
    fn new(client: kissmetrics::AsyncClient) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Async {
            client,
            runtime: std::sync::Arc::new(runtime),
        }
    }

    fn flood(&self) -> usize {
        const TASKS: usize = 64;
        self.runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for sender in 0..TASKS {
                let client = self.client.clone();
                tasks.spawn(async move {
                    for n in 0..PER_SENDER {
                        let person = format!("s{sender}");
                        client.record(&person, &format!("e{n}"), ()).await.unwrap();
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.expect("a sender task");
            }
        });
        TASKS
    }
}

/// The `Kit` methods of a blocking or async wrapper, built with `$build`.
macro_rules! kit {
    ($name:ident, blocking, tunnels: $tunnels:expr, $build:ident) => {
        #[derive(Clone)]
        struct $name(Blocking);
        impl Kit for $name {
            const TUNNELS: bool = $tunnels;
            fn build(setup: &Setup) -> Result<Self, Error> {
                let builder = configure!(kissmetrics::Client::builder(KEY), setup);
                Ok($name(Blocking(builder.$build()?)))
            }
            fn record(&self, p: &str, e: &str, props: &[(&str, &str)], o: Options<'_>) -> Sent {
                self.0 .0.record_with(p, e, props, o)
            }
            fn set(&self, p: &str, props: &[(&str, &str)], o: Options<'_>) -> Sent {
                self.0 .0.set_with(p, props, o)
            }
            fn alias(&self, p: &str, identity: &str, o: Options<'_>) -> Sent {
                self.0 .0.alias_with(p, identity, o)
            }
            fn sequential(&self, n: usize) {
                for i in 0..n {
                    self.0 .0.record("bob", &format!("e{i}"), ()).unwrap();
                }
            }
            fn flood(&self) -> usize {
                self.0.flood()
            }
        }
    };
    ($name:ident, async, tunnels: $tunnels:expr, $build:ident) => {
        #[derive(Clone)]
        struct $name(Async);
        impl Kit for $name {
            const TUNNELS: bool = $tunnels;
            fn build(setup: &Setup) -> Result<Self, Error> {
                let builder = configure!(kissmetrics::AsyncClient::builder(KEY), setup);
                Ok($name(Async::new(builder.$build()?)))
            }
            fn record(&self, p: &str, e: &str, props: &[(&str, &str)], o: Options<'_>) -> Sent {
                let a = &self.0;
                a.runtime.block_on(a.client.record_with(p, e, props, o))
            }
            fn set(&self, p: &str, props: &[(&str, &str)], o: Options<'_>) -> Sent {
                let a = &self.0;
                a.runtime.block_on(a.client.set_with(p, props, o))
            }
            fn alias(&self, p: &str, identity: &str, o: Options<'_>) -> Sent {
                let a = &self.0;
                a.runtime.block_on(a.client.alias_with(p, identity, o))
            }
            fn sequential(&self, n: usize) {
                let client = self.0.client.clone();
                let task = self.0.runtime.spawn(async move {
                    for i in 0..n {
                        client.record("bob", &format!("e{i}"), ()).await.unwrap();
                    }
                });
                self.0.runtime.block_on(task).expect("the sending task");
            }
            fn flood(&self) -> usize {
                self.0.flood()
            }
        }
    };
}

#[cfg(feature = "ureq")]
kit!(UreqKit, blocking, tunnels: true, build_ureq);
#[cfg(feature = "isahc")]
kit!(IsahcKit, blocking, tunnels: false, build_isahc);
#[cfg(feature = "hyper")]
kit!(HyperKit, async, tunnels: false, build_hyper);
#[cfg(feature = "isahc")]
kit!(IsahcAsyncKit, async, tunnels: false, build_isahc);

/// The same tests for every kit.
macro_rules! suite {
    ($($feature:literal => $module:ident: $kit:ty;)*) => {$(
        #[cfg(feature = $feature)]
        mod $module {
            use super::*;

            #[test]
            fn calls_arrive_decoded_exactly() {
                super::calls_arrive_decoded_exactly::<$kit>();
            }
            #[test]
            fn https_works_with_the_test_ca_trusted() {
                super::https_works_with_the_test_ca_trusted::<$kit>();
            }
            #[test]
            fn https_fails_with_a_tls_error_without_the_test_ca() {
                super::https_fails_with_a_tls_error_without_the_test_ca::<$kit>();
            }
            #[test]
            fn explicit_proxy_receives_the_request() {
                super::explicit_proxy_receives_the_request::<$kit>();
            }
            #[test]
            fn environment_proxy_receives_the_request() {
                let child = concat!(module_path!(), "::environment_proxy_child");
                super::environment_proxy_receives_the_request::<$kit>(child);
            }
            #[test]
            #[ignore = "run in a child process by environment_proxy_receives_the_request"]
            fn environment_proxy_child() {
                super::environment_proxy_child::<$kit>();
            }
            #[test]
            fn silent_server_times_out_in_time() {
                super::silent_server_times_out_in_time::<$kit>();
            }
            #[test]
            fn closed_port_is_a_connect_error() {
                super::closed_port_is_a_connect_error::<$kit>();
            }
            #[test]
            fn closed_connections_are_reset_or_other_errors() {
                super::closed_connections_are_reset_or_other_errors::<$kit>();
            }
            #[test]
            fn sequential_sends_reuse_connections() {
                super::sequential_sends_reuse_connections::<$kit>();
            }
            #[test]
            fn concurrent_sends_all_arrive_once() {
                super::concurrent_sends_all_arrive_once::<$kit>();
            }
            #[test]
            fn undelivered_statuses_are_errors_with_the_response() {
                super::undelivered_statuses_are_errors_with_the_response::<$kit>();
            }
        }
    )*};
}

suite! {
    "ureq" => ureq: UreqKit;
    "isahc" => isahc_blocking: IsahcKit;
    "hyper" => hyper: HyperKit;
    "isahc" => isahc_async: IsahcAsyncKit;
}

fn pairs(request: &RecordedRequest) -> Vec<(&str, &str)> {
    request
        .pairs()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

fn transport_kind(result: Sent) -> TransportErrorKind {
    match result {
        Err(e) => {
            let text = format!("{e} {e:?}");
            assert!(!text.contains(KEY), "the key leaked: {text}");
            e.transport_kind()
                .unwrap_or_else(|| panic!("not a transport error: {e:?}"))
        }
        Ok(response) => panic!("expected an error, got {response:?}"),
    }
}

fn calls_arrive_decoded_exactly<K: Kit>() {
    let server = TestServer::start();
    let client = K::build(&Setup::to(&server)).unwrap();
    let person = "Zoë \u{1F600} <bob@example.com> ?&=#+%/;";
    let event = "Signed Up: 100% \"done\" & more \u{0}\u{7f} 日本語";
    let props = [
        ("Plan & Tier", "Pro+ = yes?"),
        ("naïve/path", "a\r\nb\tc"),
        ("emoji \u{1F680}", "\u{FEFF}zero\u{200B}width"),
        ("_t", "1234567890"),
        ("_d", "1"),
    ];

    let response = client
        .record(person, event, &props, Options::new())
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().as_slice(), GIF.as_slice());
    client
        .set(
            person,
            &props[..2],
            Options::new().timestamp(1_381_849_312).path("get"),
        )
        .unwrap();
    client
        .alias(person, "bob+alias@example.com", Options::new().path("a/b"))
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let mut expected = vec![("_k", KEY), ("_p", person), ("_n", event)];
    expected.extend(props);
    assert_eq!(requests[0].path, "/e");
    assert_eq!(pairs(&requests[0]), expected);
    assert_eq!(requests[1].path, "/get");
    assert_eq!(
        pairs(&requests[1]),
        [
            ("_k", KEY),
            ("_p", person),
            ("_d", "1"),
            ("_t", "1381849312"),
            props[0],
            props[1],
        ]
    );
    assert_eq!(requests[2].path, "/a/b");
    assert_eq!(
        pairs(&requests[2]),
        [("_k", KEY), ("_p", person), ("_n", "bob+alias@example.com")]
    );
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert_eq!(request.header("host"), Some(server.host_port().as_str()));
        assert_eq!(
            request.header("user-agent"),
            Some(kissmetrics::proto::USER_AGENT)
        );
        assert!(request.body.is_empty());
    }
}

fn https_works_with_the_test_ca_trusted<K: Kit>() {
    let server = TestServer::builder().https().start().unwrap();
    let mut setup = Setup::to(&server);
    setup.root = Some(server.ca_cert_der().unwrap().to_vec());
    let client = K::build(&setup).unwrap();
    let response = client.record("bob", "Paid", &[], Options::new()).unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.requests()[0].pair("_n"), Some("Paid"));
}

fn https_fails_with_a_tls_error_without_the_test_ca<K: Kit>() {
    let server = TestServer::builder().https().start().unwrap();
    let client = K::build(&Setup::to(&server)).unwrap();
    let result = client.record("bob", "Paid", &[], Options::new());
    assert_eq!(transport_kind(result), TransportErrorKind::Tls);
    assert_eq!(server.request_count(), 0);
}

/// What the proxy should have seen of a plain-http record to `trk.example.test`.
fn assert_proxied<K: Kit>(proxy: &TestServer, result: Sent) {
    assert!(proxy.wait_for_requests(1, Duration::from_secs(5)));
    let seen = &proxy.requests()[0];
    if K::TUNNELS {
        // The test server refuses tunnels: the error is the proxy's.
        assert_eq!(transport_kind(result), TransportErrorKind::Other);
        assert_eq!(seen.method, "CONNECT");
        assert_eq!(seen.target, "trk.example.test:80");
    } else {
        assert_eq!(result.unwrap().status(), StatusCode::OK);
        assert_eq!(seen.method, "GET");
        assert!(
            seen.target.starts_with("http://trk.example.test/e?"),
            "{}",
            seen.target
        );
        assert_eq!(seen.pair("_n"), Some("Proxied"));
    }
}

fn explicit_proxy_receives_the_request<K: Kit>() {
    let proxy = TestServer::start();
    let setup = Setup {
        host: "trk.example.test".into(),
        scheme: Scheme::Http,
        proxy: Some(proxy.base_url().parse().unwrap()),
        ..Setup::to(&proxy)
    };
    let client = K::build(&setup).unwrap();
    let result = client.record("bob", "Proxied", &[], Options::new());
    assert_proxied::<K>(&proxy, result);
}

/// Names of the proxy variables the transports read.
const PROXY_VARIABLES: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// Set in the child process by [`environment_proxy_receives_the_request`].
const CHILD_MARK: &str = "KM_TEST_ENVIRONMENT_PROXY_CHILD";

/// The variables are set for a child process only (this test binary,
/// running [`environment_proxy_child`]), so no other test sees them.
fn environment_proxy_receives_the_request<K: Kit>(child_test: &str) {
    let proxy = TestServer::start();
    // libtest names tests without the crate, which `module_path!` includes.
    let (_, test_name) = child_test.split_once("::").unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([test_name, "--exact", "--ignored", "--test-threads=1"]);
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    let status = command
        .env("http_proxy", proxy.base_url())
        .env(CHILD_MARK, "1")
        .status()
        .unwrap();
    assert!(status.success(), "the child test failed: {status}");
    assert_eq!(proxy.request_count(), 1, "the child sent nothing");
}

fn environment_proxy_child<K: Kit>() {
    if std::env::var_os(CHILD_MARK).is_none() {
        eprintln!("run by environment_proxy_receives_the_request only");
        return;
    }
    let setup = Setup {
        host: "trk.example.test".into(),
        scheme: Scheme::Http,
        timeout: Duration::from_secs(10),
        proxy: None,
        proxy_from_env: true,
        root: None,
    };
    let client = K::build(&setup).unwrap();
    let result = client.record("bob", "Proxied", &[], Options::new());
    // The parent owns the server; here only the client's side is checked.
    if K::TUNNELS {
        assert_eq!(transport_kind(result), TransportErrorKind::Other);
    } else {
        assert_eq!(result.unwrap().status(), StatusCode::OK);
    }
}

fn silent_server_times_out_in_time<K: Kit>() {
    let server = TestServer::start();
    server.push_fault(Fault::Delay(Duration::from_secs(30)));
    let timeout = Duration::from_millis(500);
    let setup = Setup {
        timeout,
        ..Setup::to(&server)
    };
    let client = K::build(&setup).unwrap();
    let started = Instant::now();
    let result = client.record("bob", "Slow", &[], Options::new());
    let took = started.elapsed();
    assert_eq!(transport_kind(result), TransportErrorKind::Timeout);
    assert!(took < 2 * timeout, "timed out after {took:?}");
    assert_eq!(server.request_count(), 1);
}

fn closed_port_is_a_connect_error<K: Kit>() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let setup = Setup {
        host: format!("127.0.0.1:{port}"),
        scheme: Scheme::Http,
        timeout: Duration::from_secs(10),
        proxy: None,
        proxy_from_env: false,
        root: None,
    };
    let client = K::build(&setup).unwrap();
    let result = client.record("bob", "Nobody home", &[], Options::new());
    assert_eq!(transport_kind(result), TransportErrorKind::Connect);
}

fn closed_connections_are_reset_or_other_errors<K: Kit>() {
    for fault in [Fault::CloseMidResponse, Fault::CloseBeforeResponse] {
        let server = TestServer::start();
        server.push_fault(fault.clone());
        let client = K::build(&Setup::to(&server)).unwrap();
        let kind = transport_kind(client.record("bob", "Cut", &[], Options::new()));
        assert!(
            matches!(kind, TransportErrorKind::Reset | TransportErrorKind::Other),
            "{fault:?} gave {kind:?}"
        );
        assert_eq!(server.requests()[0].fault, Some(fault));
    }
}

fn sequential_sends_reuse_connections<K: Kit>() {
    let server = TestServer::start();
    let client = K::build(&Setup::to(&server)).unwrap();
    client.sequential(1000);
    assert_eq!(server.request_count(), 1000);
    let connections = server.connections();
    assert!(connections <= 5, "{connections} connections for 1000 sends");
}

fn concurrent_sends_all_arrive_once<K: Kit>() {
    let server = TestServer::start();
    let client = K::build(&Setup::to(&server)).unwrap();
    let senders = client.flood();
    let requests = server.requests();
    assert_eq!(requests.len(), senders * PER_SENDER);
    let seen: HashSet<(String, String)> = requests
        .iter()
        .map(|r| {
            (
                r.pair("_p").unwrap().to_owned(),
                r.pair("_n").unwrap().to_owned(),
            )
        })
        .collect();
    let expected: HashSet<(String, String)> = (0..senders)
        .flat_map(|s| (0..PER_SENDER).map(move |n| (format!("s{s}"), format!("e{n}"))))
        .collect();
    assert_eq!(seen, expected);
}

fn undelivered_statuses_are_errors_with_the_response<K: Kit>() {
    let server = TestServer::start();
    server.push_fault(Fault::too_many_requests("7"));
    server.push_fault(Fault::status(503));
    server.push_fault(Fault::status(404));
    let client = K::build(&Setup::to(&server)).unwrap();
    for (status, retryable) in [(429, true), (503, true), (404, false)] {
        match client.record("bob", "Refused", &[], Options::new()) {
            Err(e @ Error::Undelivered { .. }) => {
                assert_eq!(e.status(), Some(StatusCode::from_u16(status).unwrap()));
                assert_eq!(e.is_retryable(), retryable);
                let Error::Undelivered { response, .. } = e else {
                    unreachable!()
                };
                assert_eq!(response.status(), status);
                if status == 429 {
                    assert_eq!(response.headers()["retry-after"], "7");
                }
            }
            other => panic!("{status}: expected Undelivered, got {other:?}"),
        }
    }
    // The connection survived the error statuses.
    client.record("bob", "Fine", &[], Options::new()).unwrap();
    assert_eq!(server.request_count(), 4);
}
