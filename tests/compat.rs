//! `kissmetrics::compat`: the ported py-KISSmetrics 1.1.0 `ClientCompat`
//! tests, its compat integration tests (against km-testkit instead of
//! httpbin.org), and the port's own guarantees: the error log, `reset`,
//! the host parser and sharing between threads.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kissmetrics::compat::{
    parse_host, CallOptions, ClientCompat, CompatError, HostError, LogError, UtcTime,
    DEFAULT_LOG_FILE, KM, NOT_IDENTIFIED, NOT_INITIALIZED,
};
use kissmetrics::proto::http::{Request, Response};
use kissmetrics::proto::{Field, TransportError, TransportErrorKind, TransportResult};
use kissmetrics::{Endpoint, Error, PropertyIter, Scheme, Value};
use km_testkit::{Fault, RecordedRequest, TestServer, GIF};

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers

/// A minimal HTTP/1.1 client over `TcpStream`: one connection per request,
/// `Connection: close`, whole response read. Lets these tests reach the
/// km-testkit server whatever transport feature is enabled.
fn tcp_transport(request: Request<()>) -> TransportResult {
    let uri = request.uri();
    let authority = uri
        .authority()
        .ok_or_else(|| TransportError::new(TransportErrorKind::Other, "no authority"))?;
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut tcp = TcpStream::connect(authority.as_str())?;
    tcp.set_read_timeout(Some(WAIT))?;
    tcp.set_write_timeout(Some(WAIT))?;
    let head = format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    let malformed = || TransportError::new(TransportErrorKind::Reset, "incomplete response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(malformed)?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| malformed())?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(malformed)?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0);
    let body = raw[split + 4..].to_vec();
    if body.len() < length {
        return Err(malformed());
    }
    Response::builder()
        .status(status)
        .body(body)
        .map_err(|e| TransportError::new(TransportErrorKind::Other, e))
}

fn endpoint_of(server: &TestServer) -> Endpoint {
    Endpoint::new(Scheme::Http, &server.host_port()).unwrap()
}

/// `ClientCompat(key)` pointed at the test server, logging off.
fn compat_at(server: &TestServer, key: &str) -> ClientCompat {
    ClientCompat::builder(key)
        .endpoint(endpoint_of(server))
        .logging(false)
        .with_transport(tcp_transport)
        .unwrap()
}

/// The one request the server received.
fn only_request(server: &TestServer) -> RecordedRequest {
    assert!(server.wait_for_requests(1, WAIT));
    let mut requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.remove(0)
}

type Sent = Arc<Mutex<Vec<String>>>;

/// A transport that records each URI and answers 200 with an empty body.
fn recording() -> (
    Sent,
    impl Fn(Request<()>) -> TransportResult + Send + Sync + 'static,
) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&sent);
    let transport = move |req: Request<()>| -> TransportResult {
        log.lock().unwrap().push(req.uri().to_string());
        Ok(Response::new(Vec::new()))
    };
    (sent, transport)
}

/// A transport that fails every request without touching the network, with
/// a message that quotes the whole URL (key included) plus `extra`.
fn failing(extra: &'static str) -> impl Fn(Request<()>) -> TransportResult + Send + Sync + 'static {
    move |req: Request<()>| -> TransportResult {
        Err(TransportError::new(
            TransportErrorKind::Connect,
            format!("cannot reach {}{extra}", req.uri()),
        ))
    }
}

fn log_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ` with digits where digits belong.
fn is_iso_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

fn assert_log_line(line: &str, call: &str, endpoint: &str) {
    assert!(line.ends_with('\n'), "{line:?}");
    assert_eq!(line.matches('\n').count(), 1, "{line:?}");
    let (time, rest) = line.split_once(' ').unwrap();
    assert!(is_iso_utc(time), "{line:?}");
    let expected = format!("{call}: Could not transmit to {endpoint}: ");
    assert!(rest.starts_with(&expected), "{line:?}");
}

// ---------------------------------------------------------------------------
// Ported: KISSmetricsClientCompatTestCase (KISSmetrics/tests/test_kissmetrics.py)

#[test]
fn test_compatibility_alias() {
    // `KISSmetrics.KM('foo').client.key == 'foo'`: KM is the same type, the
    // key positional.
    let (_, transport) = recording();
    let km: ClientCompat = KM::with_transport("foo", None, true, transport).unwrap();
    assert_eq!(km.key().unwrap().expose_secret(), "foo");
}

#[test]
fn test_client_compat_key() {
    let (_, transport) = recording();
    let km = ClientCompat::with_transport("foo", None, true, transport).unwrap();
    assert_eq!(km.key().unwrap().expose_secret(), "foo");
}

#[test]
fn test_client_compat_http_object() {
    // The reference GETs httpbin.org through the client's pool; here the
    // client's transport reaches the test server.
    let server = TestServer::start();
    let km = compat_at(&server, "foo");
    let response = km
        .alias_with("bob", "shadybob", CallOptions::new().resp(true))
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_slice(), GIF);
}

#[test]
fn test_client_compat_scheme() {
    let (sent, transport) = recording();
    let err = ClientCompat::with_transport("foo", Some("trk.kissmetrics.io:22"), true, transport)
        .unwrap_err();
    match &err {
        CompatError::Host(HostError::UnsupportedPort { host, port }) => {
            assert_eq!(
                (host.as_str(), port.as_str()),
                ("trk.kissmetrics.io:22", "22")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("is not 80 (http) or 443 (https)"));
    assert!(sent.lock().unwrap().is_empty());
}

#[test]
fn test_client_compat_log_file() {
    let (_, transport) = recording();
    let km = ClientCompat::with_transport("foo", None, true, transport).unwrap();
    assert_eq!(km.log_file(), Path::new("/tmp/kissmetrics_error.log"));
    assert_eq!(DEFAULT_LOG_FILE, "/tmp/kissmetrics_error.log");
}

#[test]
fn test_client_compat_check_identify() {
    let (_, transport) = recording();
    let km = ClientCompat::with_transport("foo", None, true, transport).unwrap();
    km.reset();
    let err = km.check_identify().unwrap_err();
    assert!(matches!(err, CompatError::NotIdentified));
    assert_eq!(
        err.to_string(),
        "Need to identify first (KM.identify <user>)"
    );
    assert_eq!(
        NOT_IDENTIFIED,
        "Need to identify first (KM.identify <user>)"
    );
}

#[test]
fn test_client_compat_check_init() {
    let (_, transport) = recording();
    let km = ClientCompat::with_transport("foo", None, true, transport).unwrap();
    km.reset();
    let err = km.check_init().unwrap_err();
    assert!(matches!(err, CompatError::NotInitialized));
    assert_eq!(
        err.to_string(),
        "Need to initialize first (KM.init <your_key>)"
    );
    assert_eq!(
        NOT_INITIALIZED,
        "Need to initialize first (KM.init <your_key>)"
    );
}

#[test]
fn test_client_compat_now() {
    // The reference compares local now() with utcnow(), which only passes
    // west of UTC; the port checks against the current UTC time, ±5 s.
    let (_, transport) = recording();
    let km = ClientCompat::with_transport("foo", None, true, transport).unwrap();
    let now = km.now().unix_seconds();
    let expected = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    assert!((now - expected).abs() <= 5, "{now} vs {expected}");
    let shown = km.now().to_string();
    assert!(is_iso_utc(&shown), "{shown}");
}

// ---------------------------------------------------------------------------
// Ported: KISSmetricsClientCompatIntegrationTestCase
// (KISSmetrics/tests/test_integration.py). setUp was
// `ClientCompat(key='foo', host='httpbin.org:80')` + `identify('bob')`; the
// server is km-testkit and the assertions read its recorded pairs.

fn integration_setup() -> (TestServer, ClientCompat) {
    let server = TestServer::start();
    let km = compat_at(&server, "foo");
    km.identify("bob");
    (server, km)
}

fn integration_record() -> (Response<Vec<u8>>, RecordedRequest) {
    let (server, km) = integration_setup();
    let response = km
        .record_with("fizzed", (), CallOptions::new().path("get").resp(true))
        .unwrap()
        .unwrap();
    let request = only_request(&server);
    assert_eq!(request.path, "/get");
    (response, request)
}

fn integration_set() -> (Response<Vec<u8>>, RecordedRequest) {
    let (server, km) = integration_setup();
    let response = km
        .set_with([("cool", 1)], CallOptions::new().path("get").resp(true))
        .unwrap()
        .unwrap();
    let request = only_request(&server);
    assert_eq!(request.path, "/get");
    (response, request)
}

fn integration_alias() -> (Response<Vec<u8>>, RecordedRequest) {
    let (server, km) = integration_setup();
    let response = km
        .alias_with("bob", "shadybob", CallOptions::new().path("get").resp(true))
        .unwrap()
        .unwrap();
    let request = only_request(&server);
    assert_eq!(request.path, "/get");
    (response, request)
}

#[test]
fn integration_test_record_success() {
    assert_eq!(integration_record().0.status(), 200);
}

#[test]
fn integration_test_record_key() {
    assert_eq!(integration_record().1.pair("_k"), Some("foo"));
}

#[test]
fn integration_test_record_person() {
    assert_eq!(integration_record().1.pair("_p"), Some("bob"));
}

#[test]
fn integration_test_record_event() {
    assert_eq!(integration_record().1.pair("_n"), Some("fizzed"));
}

#[test]
fn integration_test_set_success() {
    assert_eq!(integration_set().0.status(), 200);
}

#[test]
fn integration_test_set_key() {
    assert_eq!(integration_set().1.pair("_k"), Some("foo"));
}

#[test]
fn integration_test_set_person() {
    assert_eq!(integration_set().1.pair("_p"), Some("bob"));
}

#[test]
fn integration_test_set_property() {
    // The integer 1 arrives as the text "1".
    assert_eq!(integration_set().1.pair("cool"), Some("1"));
}

#[test]
fn integration_test_alias_success() {
    assert_eq!(integration_alias().0.status(), 200);
}

#[test]
fn integration_test_alias_person() {
    let request = integration_alias().1;
    assert_eq!(request.pair("_p"), Some("bob"));
    assert_eq!(request.pair("_n"), Some("shadybob"));
}

#[test]
fn integration_exact_pairs() {
    // The whole decoded query of each call, in the reference's order.
    let (server, km) = integration_setup();
    km.record_with("fizzed", (), CallOptions::new().path("get"))
        .unwrap();
    km.set_with([("cool", 1)], CallOptions::new().path("get"))
        .unwrap();
    km.alias_with("bob", "shadybob", CallOptions::new().path("get"))
        .unwrap();
    assert!(server.wait_for_requests(3, WAIT));
    let pairs: Vec<Vec<(String, String)>> = server
        .requests()
        .iter()
        .map(|r| r.pairs().to_vec())
        .collect();
    let owned = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        pairs,
        vec![
            owned(&[("_k", "foo"), ("_p", "bob"), ("_n", "fizzed")]),
            owned(&[("_k", "foo"), ("_p", "bob"), ("cool", "1")]),
            owned(&[("_k", "foo"), ("_p", "bob"), ("_n", "shadybob")]),
        ]
    );
}

// ---------------------------------------------------------------------------
// Ported: the compat examples of README.md / DESCRIPTION.rst
// (KISSmetrics/tests/test_docs.py), with the URLs 1.1.0 produces, except
// that the default scheme is https here.

#[test]
fn readme_compat_examples() {
    let (sent, transport) = recording();
    let km = KM::with_transport("this is your API key", None, true, transport).unwrap();
    assert_eq!(km.key().unwrap().expose_secret(), "this is your API key");
    km.identify("bob@bob.com");
    assert_eq!(km.identity().as_deref(), Some("bob@bob.com"));
    km.check_id_key().unwrap();
    assert!(km.record("Viewed Homepage", ()).unwrap().is_none());
    assert!(km
        .record(
            "Signed Up",
            [("Plan", Value::from("Pro")), ("Amount", Value::from(99.95))]
        )
        .unwrap()
        .is_none());
    assert!(km
        .record("Signed Up", [("_d", 1), ("_t", 1234567890)])
        .unwrap()
        .is_none());
    assert!(km.set([("gender", "male")]).unwrap().is_none());
    let base = "https://trk.kissmetrics.io";
    let key = "_k=this+is+your+API+key&_p=bob%40bob.com";
    assert_eq!(
        *sent.lock().unwrap(),
        vec![
            format!("{base}/e?{key}&_n=Viewed+Homepage"),
            format!("{base}/e?{key}&_n=Signed+Up&Plan=Pro&Amount=99.95"),
            format!("{base}/e?{key}&_n=Signed+Up&_d=1&_t=1234567890"),
            format!("{base}/s?{key}&gender=male"),
        ]
    );
}

// ---------------------------------------------------------------------------
// Verified 1.1.0 behaviour (reference-tests.md §1.5)

#[test]
fn host_80_is_http_and_443_is_https_without_the_port() {
    let (sent, transport) = recording();
    let km = KM::with_transport("foo", Some("httpbin.org:80"), false, transport).unwrap();
    km.identify("bob");
    km.record_with("fizzed", (), CallOptions::new().path("get"))
        .unwrap();
    km.set_with([("cool", 1)], CallOptions::new().path("get"))
        .unwrap();
    km.alias_with("bob", "shadybob", CallOptions::new().path("get"))
        .unwrap();

    let (sent2, transport) = recording();
    let km = KM::with_transport("k", Some("h:443"), false, transport).unwrap();
    km.identify("p");
    km.record("e", ()).unwrap();
    km.alias("x", "y").unwrap();
    km.set(()).unwrap();
    km.set(None::<[(&str, &str); 0]>).unwrap();

    assert_eq!(
        *sent.lock().unwrap(),
        [
            "http://httpbin.org/get?_k=foo&_p=bob&_n=fizzed",
            "http://httpbin.org/get?_k=foo&_p=bob&cool=1",
            "http://httpbin.org/get?_k=foo&_p=bob&_n=shadybob",
        ]
    );
    assert_eq!(
        *sent2.lock().unwrap(),
        [
            "https://h/e?_k=k&_p=p&_n=e",
            "https://h/a?_k=k&_p=x&_n=y",
            "https://h/s?_k=k&_p=p",
            "https://h/s?_k=k&_p=p",
        ]
    );
}

#[test]
fn default_host_is_the_tracking_host_over_https() {
    let (sent, transport) = recording();
    let km = KM::with_transport("foo", None, false, transport).unwrap();
    assert_eq!(km.endpoint(), &Endpoint::default());
    km.alias("a", "b").unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        ["https://trk.kissmetrics.io/a?_k=foo&_p=a&_n=b"]
    );
}

#[test]
fn error_order_matches_the_reference() {
    let (sent, transport) = recording();
    let km = KM::with_transport("foo", None, false, transport).unwrap();

    // Fresh client, no identify.
    km.check_init().unwrap();
    assert!(matches!(
        km.check_identify(),
        Err(CompatError::NotIdentified)
    ));
    assert!(matches!(km.check_id_key(), Err(CompatError::NotIdentified)));
    assert!(matches!(
        km.record("x", ()),
        Err(CompatError::NotIdentified)
    ));
    assert!(matches!(
        km.set([("a", 1)]),
        Err(CompatError::NotIdentified)
    ));
    assert!(sent.lock().unwrap().is_empty(), "nothing is sent");
    // alias needs only the key.
    km.alias("a", "b").unwrap();
    assert_eq!(sent.lock().unwrap().len(), 1);

    // After reset(): init is checked first everywhere.
    km.identify("bob");
    km.reset();
    assert!(matches!(km.check_init(), Err(CompatError::NotInitialized)));
    assert!(matches!(
        km.check_identify(),
        Err(CompatError::NotIdentified)
    ));
    assert!(matches!(
        km.check_id_key(),
        Err(CompatError::NotInitialized)
    ));
    assert!(matches!(
        km.record("x", ()),
        Err(CompatError::NotInitialized)
    ));
    assert!(matches!(
        km.set([("a", 1)]),
        Err(CompatError::NotInitialized)
    ));
    assert!(matches!(
        km.alias("a", "b"),
        Err(CompatError::NotInitialized)
    ));
    let err = km.record("x", ()).unwrap_err();
    assert_eq!(err.to_string(), NOT_INITIALIZED);
    assert_eq!(sent.lock().unwrap().len(), 1, "nothing more is sent");
}

#[test]
fn resp_false_sends_and_returns_none_resp_true_returns_the_response() {
    let server = TestServer::start();
    let km = compat_at(&server, "foo");
    km.identify("bob");
    assert!(km.record("fizzed", ()).unwrap().is_none());
    assert!(server.wait_for_requests(1, WAIT), "sent even without resp");
    let response = km
        .record_with("fizzed", (), CallOptions::new().resp(true))
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_slice(), GIF);
    assert!(km.set([("a", 1)]).unwrap().is_none());
    assert!(km
        .set_with([("a", 1)], CallOptions::new().resp(true))
        .unwrap()
        .is_some());
    assert!(km.alias("a", "b").unwrap().is_none());
    assert!(server.wait_for_requests(5, WAIT));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/e", "/e", "/s", "/s", "/a"]);
}

#[test]
fn backdating_with_d_and_t_in_props() {
    let server = TestServer::start();
    let km = compat_at(&server, "foo");
    km.identify("bob@bob.com");
    km.record("Signed Up", [("_d", 1), ("_t", 1234567890)])
        .unwrap();
    let request = only_request(&server);
    let pairs: Vec<(&str, &str)> = request
        .pairs()
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("_k", "foo"),
            ("_p", "bob@bob.com"),
            ("_n", "Signed Up"),
            ("_d", "1"),
            ("_t", "1234567890"),
        ]
    );
    // The compat client never stamps `_t` itself.
    server.clear();
    km.record("Viewed", ()).unwrap();
    assert_eq!(only_request(&server).pair("_t"), None);
}

#[test]
fn props_take_every_facade_form() {
    let (sent, transport) = recording();
    let km = KM::with_transport("k", None, false, transport).unwrap();
    km.identify("p");
    km.set(vec![("a", "1")]).unwrap();
    km.set(&[("b", 2)][..]).unwrap();
    km.set(BTreeMap::from([("c", 3.5)])).unwrap();
    km.set(HashMap::from([("d", true)])).unwrap();
    km.set(PropertyIter(["e", "f"].iter().map(|n| (*n, n.len()))))
        .unwrap();
    km.record("x", Some([("g", "h")])).unwrap();
    let props = [("Plan", "Pro")];
    km.record("x", &props[..]).unwrap();
    let q: Vec<String> = sent
        .lock()
        .unwrap()
        .iter()
        .map(|u| u.split_once("_p=p").unwrap().1.to_owned())
        .collect();
    assert_eq!(
        q,
        [
            "&a=1",
            "&b=2",
            "&c=3.5",
            "&d=True",
            "&e=1&f=1",
            "&_n=x&g=h",
            "&_n=x&Plan=Pro"
        ]
    );
}

#[test]
fn invalid_input_is_refused_before_sending_and_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("km.log");
    let (sent, transport) = recording();
    let km = ClientCompat::builder("k")
        .log_path(&log)
        .with_transport(transport)
        .unwrap();
    km.identify("bob");
    let check = |r: Result<_, CompatError>, field: Field| match r {
        Err(CompatError::Invalid(e)) => assert_eq!(e.field(), field, "{e}"),
        other => panic!("{other:?}"),
    };
    check(km.record("", ()), Field::Event);
    check(km.record("x", [("_k", "hijack")]), Field::PropertyName);
    check(km.record("x", [("_t", -1)]), Field::PropertyName);
    check(km.set([("", "x")]), Field::PropertyName);
    check(km.alias("bob", ""), Field::Identity);
    check(
        km.record_with("x", (), CallOptions::new().path("")),
        Field::Path,
    );
    check(
        km.record_with("x", (), CallOptions::new().path("a?b")),
        Field::Path,
    );
    km.identify(&"x".repeat(256));
    check(km.record("x", ()), Field::Person);
    km.identify("");
    check(km.set([("a", 1)]), Field::Person);
    assert!(sent.lock().unwrap().is_empty());
    assert!(!log.exists(), "refused input is not a failed send");
}

#[test]
fn constructor_errors() {
    let (_, transport) = recording();
    assert!(matches!(
        ClientCompat::with_transport("", None, false, transport),
        Err(CompatError::Invalid(e)) if e.field() == Field::Key
    ));
    let (_, transport) = recording();
    assert!(matches!(
        ClientCompat::builder("k")
            .http_timeout(Duration::ZERO)
            .with_transport(transport),
        Err(CompatError::ZeroTimeout)
    ));
    let (_, transport) = recording();
    assert!(matches!(
        ClientCompat::with_transport("k", Some("nohost"), false, transport),
        Err(CompatError::Host(HostError::MissingPort { .. }))
    ));
    // The builder: the last of host/endpoint wins, the host checked at build.
    let (_, transport) = recording();
    let km = ClientCompat::builder("k")
        .host("bad")
        .endpoint(Endpoint::new(Scheme::Http, "127.0.0.1:9").unwrap())
        .with_transport(transport)
        .unwrap();
    assert_eq!(km.endpoint().to_string(), "http://127.0.0.1:9");
    let (_, transport) = recording();
    let km = ClientCompat::builder("k")
        .endpoint(Endpoint::new(Scheme::Http, "127.0.0.1:9").unwrap())
        .host("x:443")
        .with_transport(transport)
        .unwrap();
    assert_eq!(km.endpoint().to_string(), "https://x");
}

#[test]
fn debug_output_never_shows_the_key() {
    let (_, transport) = recording();
    let km = ClientCompat::builder("sekrit-KEY-1234")
        .with_transport(transport)
        .unwrap();
    km.identify("bob");
    let builder = ClientCompat::builder("sekrit-KEY-1234");
    for text in [
        format!("{km:?}"),
        format!("{builder:?}"),
        format!("{:?}", km.with_identity("x")),
        format!("{:?} {}", km.key().unwrap(), km.key().unwrap()),
    ] {
        assert!(!text.contains("sekrit"), "{text}");
    }
}

// ---------------------------------------------------------------------------
// reset() and set_key(): the port really forgets and really changes the key

#[test]
fn reset_blocks_every_call_until_set_key_and_identify() {
    let server = TestServer::start();
    let km = compat_at(&server, "first-key");
    km.identify("bob");
    km.record("before", ()).unwrap();
    km.reset();
    assert_eq!(km.key(), None);
    assert_eq!(km.identity(), None);
    assert!(matches!(
        km.record("x", ()),
        Err(CompatError::NotInitialized)
    ));
    assert!(matches!(
        km.set([("a", 1)]),
        Err(CompatError::NotInitialized)
    ));
    assert!(matches!(
        km.alias("a", "b"),
        Err(CompatError::NotInitialized)
    ));
    assert!(matches!(
        km.with_identity("carol").record("x", ()),
        Err(CompatError::NotInitialized)
    ));

    // A key alone: alias works again, record and set still need identify.
    km.set_key("second-key").unwrap();
    assert!(matches!(
        km.record("x", ()),
        Err(CompatError::NotIdentified)
    ));
    assert!(matches!(
        km.set([("a", 1)]),
        Err(CompatError::NotIdentified)
    ));
    km.alias("a", "b").unwrap();
    km.identify("dave");
    km.record("after", ()).unwrap();

    assert!(server.wait_for_requests(3, WAIT));
    let seen: Vec<(Option<String>, Option<String>)> = server
        .requests()
        .iter()
        .map(|r| {
            (
                r.pair("_k").map(str::to_owned),
                r.pair("_p").map(str::to_owned),
            )
        })
        .collect();
    let s = |k: &str, p: &str| (Some(k.to_owned()), Some(p.to_owned()));
    assert_eq!(
        seen,
        [
            s("first-key", "bob"),
            s("second-key", "a"),
            s("second-key", "dave")
        ],
        "the new key is the one on the wire"
    );
}

#[test]
fn set_key_refuses_an_empty_key_and_keeps_the_old_one() {
    let (sent, transport) = recording();
    let km = KM::with_transport("old", None, false, transport).unwrap();
    assert!(matches!(
        km.set_key(""),
        Err(CompatError::Invalid(e)) if e.field() == Field::Key
    ));
    assert_eq!(km.key().unwrap().expose_secret(), "old");
    km.set_key("new").unwrap();
    km.alias("a", "b").unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        ["https://trk.kissmetrics.io/a?_k=new&_p=a&_n=b"]
    );
}

// ---------------------------------------------------------------------------
// The host parser

#[test]
fn parse_host_accepts_80_and_443() {
    let cases = [
        ("httpbin.org:80", Scheme::Http, "httpbin.org"),
        ("x:443", Scheme::Https, "x"),
        ("127.0.0.1:80", Scheme::Http, "127.0.0.1"),
        ("[::1]:443", Scheme::Https, "[::1]"),
        ("[2001:db8::1]:80", Scheme::Http, "[2001:db8::1]"),
        (
            "trk.kissmetrics.io:443",
            Scheme::Https,
            "trk.kissmetrics.io",
        ),
    ];
    for (input, scheme, host) in cases {
        let e = parse_host(input).unwrap();
        assert_eq!((e.scheme(), e.host()), (scheme, host), "{input}");
    }
}

#[test]
fn parse_host_refuses_bad_inputs_naming_the_problem() {
    let missing = |h: &str| HostError::MissingPort { host: h.to_owned() };
    let colons = |h: &str| HostError::TooManyColons { host: h.to_owned() };
    let port = |h: &str, p: &str| HostError::UnsupportedPort {
        host: h.to_owned(),
        port: p.to_owned(),
    };
    let empty_name = |h: &str| HostError::EmptyName { host: h.to_owned() };
    let cases = [
        ("", HostError::Empty),
        ("nohost", missing("nohost")),
        ("[::1]", missing("[::1]")),
        ("a:b:c", colons("a:b:c")),
        ("::1:443", colons("::1:443")),
        ("h:80:80", colons("h:80:80")),
        ("trk.kissmetrics.io:22", port("trk.kissmetrics.io:22", "22")),
        ("h:080", port("h:080", "080")),
        ("h:", port("h:", "")),
        ("h:abc", port("h:abc", "abc")),
        ("h:8080", port("h:8080", "8080")),
        ("h: 80", port("h: 80", " 80")),
        ("h:+443", port("h:+443", "+443")),
        ("[::1]:8443", port("[::1]:8443", "8443")),
        (":80", empty_name(":80")),
        (":443", empty_name(":443")),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_host(input), Err(expected), "{input:?}");
    }
    for input in [
        "a b:80",
        "h/x:80",
        "h?x:443",
        "u@h:80",
        "é.com:80",
        "h\r\n:80",
        "[::1",
        "[]:443",
        "[zz]:443",
        "[::1]x",
        &format!("{}:80", "a".repeat(300)),
    ] {
        match parse_host(input) {
            Err(HostError::InvalidName { host, source }) => {
                assert_eq!(host, input);
                assert_eq!(source.field(), Field::Host);
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }
}

#[test]
fn host_error_messages() {
    let msg = |h: &str| parse_host(h).unwrap_err().to_string();
    assert_eq!(
        msg(""),
        "host is empty (give no host for the default tracking host)"
    );
    assert!(msg("nohost").contains("\"nohost\" has no port"));
    assert!(msg("a:b:c").contains("more than one ':'"));
    assert!(msg("a:b:c").contains("[::1]:443"));
    assert!(msg(":80").contains("no name before the port"));
    assert!(msg("a b:80").starts_with("host \"a b:80\" has an invalid name: "));
    let err = parse_host("a b:80").unwrap_err();
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn parse_host_never_panics() {
    // Every string of up to 3 characters from a set that covers each branch.
    let alphabet = ["", "[", "]", ":", "8", "0", "4", "3", "a", "é", " ", "/"];
    let mut n = 0;
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                for d in ["", ":80", ":443", "]:443"] {
                    let s = format!("{a}{b}{c}{d}");
                    if let Ok(e) = parse_host(&s) {
                        // Whatever is accepted is a valid endpoint without a port.
                        assert_eq!(Endpoint::new(e.scheme(), e.host()).as_ref(), Ok(&e));
                    }
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 12 * 12 * 12 * 4);
}

// ---------------------------------------------------------------------------
// UTC time

/// The instant `secs` seconds after (or before) the Unix epoch.
fn at(secs: i64) -> UtcTime {
    let offset = Duration::from_secs(secs.unsigned_abs());
    UtcTime::from(if secs >= 0 {
        UNIX_EPOCH + offset
    } else {
        UNIX_EPOCH - offset
    })
}

#[test]
fn utc_time_formats_known_instants() {
    let cases = [
        (0, "1970-01-01T00:00:00Z"),
        (1_234_567_890, "2009-02-13T23:31:30Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (951_868_799, "2000-02-29T23:59:59Z"),
        (951_868_800, "2000-03-01T00:00:00Z"),
        (1_381_849_312, "2013-10-15T15:01:52Z"),
        (4_107_542_400, "2100-03-01T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (-86_400 * 365, "1969-01-01T00:00:00Z"),
        (-62_135_596_800, "0001-01-01T00:00:00Z"),
    ];
    for (secs, text) in cases {
        let t = at(secs);
        assert_eq!(t.to_string(), text, "{secs}");
        assert_eq!(t.unix_seconds(), secs);
        assert_eq!(SystemTime::from(t), t.system_time());
    }
    // Before the epoch, unix_seconds rounds down.
    let t = UtcTime::from(UNIX_EPOCH - Duration::from_millis(1500));
    assert_eq!(t.unix_seconds(), -2);
    assert_eq!(t.to_string(), "1969-12-31T23:59:58Z");
    // Far ends format without panicking.
    for t in [
        UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64 / 2)),
        UNIX_EPOCH.checked_sub(Duration::from_secs(i64::MAX as u64 / 2)),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!UtcTime::from(t).to_string().is_empty());
    }
}

#[test]
fn utc_time_walks_the_gregorian_calendar_day_by_day() {
    // Two whole 400-year cycles, from 1570-01-01, against a naive calendar.
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = |y: i64, m: i64| match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let start_days: i64 = -146_097;
    let (mut y, mut m, mut d) = (1570_i64, 1_i64, 1_i64);
    for days in start_days..start_days + 2 * 146_097 {
        let secs = days * 86_400 + 86_399;
        let expected = format!("{y:04}-{m:02}-{d:02}T23:59:59Z");
        assert_eq!(at(secs).to_string(), expected, "day {days}");
        d += 1;
        if d > month_len(y, m) {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    assert_eq!((y, m, d), (2370, 1, 1));
}

#[test]
fn utc_time_backdates() {
    let (sent, transport) = recording();
    let km = KM::with_transport("k", None, false, transport).unwrap();
    km.identify("p");
    let then = UtcTime::from(UNIX_EPOCH + Duration::from_secs(1_234_567_890));
    km.record("x", [("_d", 1), ("_t", then.unix_seconds())])
        .unwrap();
    assert!(sent.lock().unwrap()[0].ends_with("&_n=x&_d=1&_t=1234567890"));
    let ts = kissmetrics::Timestamp::from(then);
    assert_eq!(ts.as_secs(), Ok(1_234_567_890));
}

// ---------------------------------------------------------------------------
// The error log

fn logging_client(
    log: &Path,
    key: &str,
    transport: impl Fn(Request<()>) -> TransportResult + Send + Sync + 'static,
) -> ClientCompat {
    ClientCompat::builder(key)
        .host("trk.example:443")
        .log_path(log)
        .with_transport(transport)
        .unwrap()
}

#[test]
fn log_line_per_failed_send_real_server_fault() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("km.log");
    let server = TestServer::start();
    let km = ClientCompat::builder("foo")
        .endpoint(endpoint_of(&server))
        .log_path(&log)
        .with_transport(tcp_transport)
        .unwrap();
    km.identify("bob");

    km.record("ok", ()).unwrap();
    assert!(!log.exists(), "a delivered call logs nothing");

    server.push_fault(Fault::CloseBeforeResponse);
    let err = km.record("lost", ()).unwrap_err();
    match &err {
        CompatError::Send { error, log: None } => {
            assert_eq!(error.transport_kind(), Some(TransportErrorKind::Reset));
        }
        other => panic!("{other:?}"),
    }
    server.push_fault(Fault::status(503));
    let err = km.set([("a", 1)]).unwrap_err();
    assert!(matches!(
        err.send_error(),
        Some(Error::Undelivered { status, .. }) if *status == 503
    ));

    let lines = log_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let endpoint = format!("http://{}", server.host_port());
    assert_log_line(&lines[0], "record", &endpoint);
    assert!(lines[0].contains("reset error"), "{}", lines[0]);
    assert_log_line(&lines[1], "set", &endpoint);
    assert!(lines[1].contains("503"), "{}", lines[1]);
    // The time is now, in UTC.
    let stamp = &lines[0][..20];
    let now = UtcTime::now().to_string();
    assert_eq!(stamp[..13], now[..13], "{stamp} vs {now}");
}

#[test]
fn log_never_holds_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("km.log");
    let key = "sekrit-KEY-1234";
    // The transport's message quotes the URL (`_k=`) and the raw key.
    let km = logging_client(&log, key, failing(" with key sekrit-KEY-1234\nsecond line"));
    km.identify("bob");
    let err = km.record("x", ()).unwrap_err();
    assert!(matches!(err, CompatError::Send { log: None, .. }));
    km.alias("a", "b").unwrap_err();
    let text = fs::read_to_string(&log).unwrap();
    assert!(!text.contains("sekrit"), "{text}");
    assert!(text.contains("_k=***"), "{text}");
    let lines = log_lines(&log);
    assert_eq!(
        lines.len(),
        2,
        "a newline in the error stays on its line: {text}"
    );
    assert_log_line(&lines[0], "record", "https://trk.example");
    assert_log_line(&lines[1], "alias", "https://trk.example");
    assert!(lines[0].ends_with("second line\n"), "{}", lines[0]);
}

#[cfg(unix)]
#[test]
fn log_file_is_created_0600_and_appended() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("km.log");
    let km = logging_client(&log, "k", failing(""));
    km.alias("a", "b").unwrap_err();
    let mode = fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // An existing file is appended to, never truncated.
    let old = dir.path().join("old.log");
    fs::write(&old, "earlier line\n").unwrap();
    let km = logging_client(&old, "k", failing(""));
    km.alias("a", "b").unwrap_err();
    let lines = log_lines(&old);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "earlier line\n");
    assert_log_line(&lines[1], "alias", "https://trk.example");
}

#[cfg(unix)]
#[test]
fn log_refuses_symlinks_and_still_returns_the_send_error() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.log");
    fs::write(&target, "").unwrap();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let dangling = dir.path().join("dangling.log");
    let missing = dir.path().join("not-there.log");
    std::os::unix::fs::symlink(&missing, &dangling).unwrap();

    for path in [&link, &dangling] {
        let km = logging_client(path, "k", failing(""));
        let err = km.alias("a", "b").unwrap_err();
        match &err {
            CompatError::Send {
                error,
                log: Some(LogError::Symlink { path: p }),
            } => {
                assert_eq!(p, path);
                assert_eq!(error.transport_kind(), Some(TransportErrorKind::Connect));
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with("transport failed: connect error"),
            "{text}"
        );
        assert!(text.contains("symbolic link"), "{text}");
        assert!(matches!(err.log_error(), Some(LogError::Symlink { .. })));
    }
    assert_eq!(fs::read_to_string(&target).unwrap(), "", "target untouched");
    assert!(!missing.exists(), "a dangling link's target is not created");
}

#[cfg(unix)]
#[test]
fn log_refuses_what_is_not_a_regular_file_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    // A directory: opening it for writing fails.
    let km = logging_client(dir.path(), "k", failing(""));
    assert!(matches!(
        km.alias("a", "b"),
        Err(CompatError::Send {
            log: Some(LogError::Io { .. }),
            ..
        })
    ));
    // A character device that accepts writes.
    let km = logging_client(Path::new("/dev/null"), "k", failing(""));
    assert!(matches!(
        km.alias("a", "b"),
        Err(CompatError::Send {
            log: Some(LogError::NotAFile { .. }),
            ..
        })
    ));
    // A FIFO nobody reads: opening it must not hang the call.
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success());
    if made.unwrap_or(false) {
        let km = logging_client(&fifo, "k", failing(""));
        assert!(matches!(
            km.alias("a", "b"),
            Err(CompatError::Send { log: Some(_), .. })
        ));
    }
}

#[test]
fn unwritable_log_never_fails_or_panics_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("no-such-dir").join("km.log");
    let server = TestServer::start();
    let km = ClientCompat::builder("foo")
        .endpoint(endpoint_of(&server))
        .log_path(&log)
        .with_transport(tcp_transport)
        .unwrap();
    km.identify("bob");
    // Delivered: the log is not touched at all.
    km.record("fine", ()).unwrap();
    // Not delivered: the send error is returned, the log failure beside it.
    server.push_fault(Fault::CloseBeforeResponse);
    match km.record("lost", ()) {
        Err(CompatError::Send {
            error,
            log: Some(LogError::Io { path, source }),
        }) => {
            assert_eq!(error.transport_kind(), Some(TransportErrorKind::Reset));
            assert_eq!(path, log);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn logging_off_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("km.log");
    let km = ClientCompat::builder("k")
        .log_path(&log)
        .logging(false)
        .with_transport(failing(""))
        .unwrap();
    assert!(!km.logging());
    assert!(matches!(
        km.alias("a", "b"),
        Err(CompatError::Send { log: None, .. })
    ));
    assert!(!log.exists());
}

#[test]
fn concurrent_writers_never_interleave_within_a_line() {
    const THREADS: usize = 8;
    const CALLS: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("km.log");
    // Long lines make a torn write visible.
    let filler: &'static str = Box::leak(format!(" {}", "x".repeat(4000)).into_boxed_str());
    // Two clients on one file, shared by four threads each.
    let clients = [
        Arc::new(logging_client(&log, "k", failing(filler))),
        Arc::new(logging_client(&log, "k", failing(filler))),
    ];
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let km = Arc::clone(&clients[t % 2]);
            scope.spawn(move || {
                for i in 0..CALLS {
                    let err = km.alias(&format!("t{t}"), &format!("c{i}")).unwrap_err();
                    assert!(err.log_error().is_none(), "{err}");
                }
            });
        }
    });
    let lines = log_lines(&log);
    assert_eq!(lines.len(), THREADS * CALLS);
    let mut seen = std::collections::HashSet::new();
    for line in &lines {
        assert_log_line(line, "alias", "https://trk.example");
        assert!(line.ends_with(&format!("{filler}\n")), "torn line");
        let p = line.split("_p=").nth(1).unwrap().split('&').next().unwrap();
        let n = line.split("_n=").nth(1).unwrap().split(' ').next().unwrap();
        assert!(seen.insert((p.to_owned(), n.to_owned())), "duplicate line");
    }
    assert_eq!(seen.len(), THREADS * CALLS);
}

// ---------------------------------------------------------------------------
// Sharing between threads

#[test]
fn compat_client_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ClientCompat>();
    assert_send_sync::<kissmetrics::compat::Identified<'static>>();
    assert_send_sync::<CompatError>();
}

#[test]
fn shared_identity_is_one_state_as_in_python() {
    let (sent, transport) = recording();
    let km = Arc::new(KM::with_transport("k", None, false, transport).unwrap());
    let other = Arc::clone(&km);
    std::thread::spawn(move || other.identify("set-on-another-thread"))
        .join()
        .unwrap();
    assert_eq!(km.identity().as_deref(), Some("set-on-another-thread"));
    km.record("x", ()).unwrap();
    assert!(sent.lock().unwrap()[0].contains("_p=set-on-another-thread"));
    let other = Arc::clone(&km);
    std::thread::spawn(move || other.reset()).join().unwrap();
    assert!(matches!(
        km.record("x", ()),
        Err(CompatError::NotInitialized)
    ));
}

#[test]
fn with_identity_keeps_threads_apart() {
    const PEOPLE: usize = 4;
    const EVENTS: usize = 10;
    let server = TestServer::start();
    let km = Arc::new(compat_at(&server, "foo"));
    km.identify("shared");
    let stop = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        // A thread that keeps changing the shared identity meanwhile.
        let (meddler, stop2) = (Arc::clone(&km), Arc::clone(&stop));
        scope.spawn(move || {
            for i in 0..10_000 {
                if stop2.load(Ordering::Relaxed) == PEOPLE {
                    break;
                }
                meddler.identify(&format!("intruder{i}"));
                std::thread::yield_now();
            }
        });
        for p in 0..PEOPLE {
            let (km, stop) = (Arc::clone(&km), Arc::clone(&stop));
            scope.spawn(move || {
                let me = km.with_identity(&format!("person{p}"));
                assert_eq!(me.identity(), format!("person{p}"));
                for e in 0..EVENTS {
                    if e % 2 == 0 {
                        me.record(&format!("person{p}-{e}"), ()).unwrap();
                    } else {
                        me.set_with([("n", format!("person{p}-{e}"))], CallOptions::new())
                            .unwrap();
                    }
                }
                stop.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    assert!(server.wait_for_requests(PEOPLE * EVENTS, WAIT));
    let requests = server.requests();
    assert_eq!(requests.len(), PEOPLE * EVENTS);
    for r in &requests {
        let person = r.pair("_p").unwrap();
        let tag = r.pair("_n").or(r.pair("n")).unwrap();
        assert!(
            tag.starts_with(&format!("{person}-")),
            "{person} sent {tag}"
        );
    }
    assert!(km.identity().unwrap().starts_with("intruder"));
}

#[test]
fn handles_follow_the_shared_key() {
    let (sent, transport) = recording();
    let km = KM::with_transport("k1", None, false, transport).unwrap();
    let me = km.with_identity("me");
    me.record_with("a", (), CallOptions::new().path("x"))
        .unwrap();
    km.set_key("k2").unwrap();
    let response = me
        .set_with([("b", 1)], CallOptions::new().resp(true))
        .unwrap();
    assert!(response.is_some());
    assert_eq!(
        *sent.lock().unwrap(),
        [
            "https://trk.kissmetrics.io/x?_k=k1&_p=me&_n=a",
            "https://trk.kissmetrics.io/s?_k=k2&_p=me&b=1",
        ]
    );
    assert_eq!(km.identity(), None);
}

// ---------------------------------------------------------------------------
// The built-in blocking transport (`new()` and `build()`)

#[cfg(any(feature = "ureq", feature = "isahc"))]
mod default_transport {
    use super::*;

    #[test]
    fn build_reaches_the_test_server() {
        let server = TestServer::start();
        let km = ClientCompat::builder("foo")
            .endpoint(endpoint_of(&server))
            .logging(false)
            .build()
            .unwrap();
        km.identify("bob");
        let response = km
            .record_with("fizzed", (), CallOptions::new().path("get").resp(true))
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().as_slice(), GIF);
        let request = only_request(&server);
        assert_eq!(request.path, "/get");
        assert_eq!(request.pair("_k"), Some("foo"));
        assert_eq!(request.pair("_p"), Some("bob"));
        assert_eq!(request.pair("_n"), Some("fizzed"));
    }

    #[test]
    fn http_timeout_bounds_each_request_and_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("km.log");
        let server = TestServer::start();
        server.push_fault(Fault::Delay(Duration::from_secs(8)));
        let km = ClientCompat::builder("foo")
            .endpoint(endpoint_of(&server))
            .http_timeout(Duration::from_millis(300))
            .log_path(&log)
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let err = km.alias("a", "b").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(6), "{err}");
        assert_eq!(
            err.send_error().and_then(Error::transport_kind),
            Some(TransportErrorKind::Timeout),
            "{err}"
        );
        let lines = log_lines(&log);
        assert_eq!(lines.len(), 1);
        assert_log_line(
            &lines[0],
            "alias",
            &format!("http://{}", server.host_port()),
        );
    }

    #[test]
    fn new_takes_the_reference_arguments() {
        // Construction sends nothing, so the real host is safe to name.
        let km = KM::new("foo", None, None, true).unwrap();
        assert_eq!(km.endpoint(), &Endpoint::default());
        assert_eq!(km.log_file(), Path::new(DEFAULT_LOG_FILE));
        assert!(km.logging());
        let km = KM::new(
            "foo",
            Some("httpbin.org:80"),
            Some(Duration::from_secs(1)),
            false,
        )
        .unwrap();
        assert_eq!(km.endpoint().to_string(), "http://httpbin.org");
        assert!(!km.logging());
        assert!(matches!(
            KM::new("foo", Some("trk.kissmetrics.io:22"), None, true),
            Err(CompatError::Host(HostError::UnsupportedPort { .. }))
        ));
        assert!(matches!(
            KM::new("foo", None, Some(Duration::ZERO), true),
            Err(CompatError::ZeroTimeout)
        ));
        assert!(matches!(
            KM::new("", None, None, true),
            Err(CompatError::Invalid(_))
        ));
    }
}
