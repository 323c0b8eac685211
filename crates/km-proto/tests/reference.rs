//! The reference client's request tests (py-KISSmetrics 1.1.0), ported.
//!
//! Every case of `KISSmetrics/tests/test_kissmetrics.py`'s
//! `KISSmetricsRequestTestCase` (`create_query`) and
//! `TestKISSmetricsRequestFunctionsTestCase` (`request.record/set/alias`),
//! the URLs of the README doctests (`test_docs.py`), and the behaviour of
//! `create_query` and `urlunsplit` verified against the 1.1.0 code (see
//! `notes/reference-tests.md` §1.2, §1.3, §2.1, §2.3).
//!
//! Python asserts with `parse_qs` (order-free); these tests decode the query
//! with `form_urlencoded::parse` and check the pairs in order, and the path.
//! Where a whole URL is compared with Python's output, the encoder points at
//! `http://trk.kissmetrics.io`, the reference's default; byte-for-byte
//! equality then holds except where Python keeps `~` and escapes `*` (only
//! the §1.2 kitchen-sink case has them, and compares decoded text too).
//!
//! Deliberate departures from the reference, each tested where it applies:
//! - https is our default scheme (the reference sends the key in clear text);
//! - a property named `_k`, `_p` or `_n` is an error (Python silently
//!   replaces the key, person or event);
//! - timestamp 0 is sent (Python's `if timestamp:` drops a falsy one);
//! - an empty path is an error (Python builds `http://host?…`);
//! - a float `_t` property is sent as integer seconds (Python sends `str()`
//!   of the float, `1234567890.0`, which the service cannot read).

use km_proto::testing::decode_query;
use km_proto::{Encoder, Endpoint, Error, Field, Options, Scheme, Value};

/// The reference's `Client(key)`: `http://trk.kissmetrics.io`.
fn python_default(key: &str) -> Encoder {
    let endpoint = Endpoint::new(Scheme::Http, "trk.kissmetrics.io").unwrap();
    Encoder::with_endpoint(key, endpoint).unwrap()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Checks path, decoded pairs in order, and the whole URL.
fn check(req: &http::Request<()>, path: &str, expected: &[(&str, &str)], url: &str) {
    assert_eq!(req.method(), http::Method::GET);
    assert!(req.headers().is_empty());
    assert_eq!(req.uri().path(), path);
    assert_eq!(decode_query(req.uri().query().unwrap()), pairs(expected));
    assert_eq!(req.uri().to_string(), url);
}

// ---- KISSmetricsClientTestCase ----------------------------------------------

#[test]
fn client_key() {
    // Client(key='foo').key == 'foo'
    assert_eq!(python_default("foo").key().expose_secret(), "foo");
}

#[test]
fn client_scheme() {
    // Client(key='foo', trk_scheme='ssh') raises ValueError.
    assert_eq!(
        "ssh".parse::<Scheme>(),
        Err(Error::InvalidScheme {
            scheme: "ssh".to_owned()
        })
    );
}

// ---- KISSmetricsRequestTestCase: query_string.create_query ----------------
// `create_query` has no Rust twin: the query of a built request is checked,
// from a call that takes the same arguments (record for `event`, set for
// properties and timestamp, alias for `identity`).

#[test]
fn create_query_minimum() {
    // create_query(key='foo', person='bar') -> _k=foo&_p=bar
    let req = python_default("foo")
        .set("bar", (), Options::new())
        .unwrap();
    assert_eq!(req.uri().query(), Some("_k=foo&_p=bar"));
    assert_eq!(
        decode_query(req.uri().query().unwrap()),
        pairs(&[("_k", "foo"), ("_p", "bar")])
    );
}

#[test]
fn create_query_event() {
    // create_query(key='foo', person='bar', event='fizzed')
    let req = python_default("foo")
        .record("bar", "fizzed", (), Options::new())
        .unwrap();
    assert_eq!(req.uri().query(), Some("_k=foo&_p=bar&_n=fizzed"));
}

#[test]
fn create_query_set() {
    // create_query(key='foo', person='bar', properties={'cool': '1'})
    let req = python_default("foo")
        .set("bar", [("cool", "1")], Options::new())
        .unwrap();
    assert_eq!(req.uri().query(), Some("_k=foo&_p=bar&cool=1"));
}

#[test]
fn create_query_alias() {
    // create_query(key='foo', person='bar', identity='baz')
    let req = python_default("foo")
        .alias("bar", "baz", Options::new())
        .unwrap();
    assert_eq!(req.uri().query(), Some("_k=foo&_p=bar&_n=baz"));
}

#[test]
fn create_query_timestamp() {
    // create_query(key='foo', person='bar', timestamp=1381849312)
    let req = python_default("foo")
        .set("bar", (), Options::new().timestamp(1_381_849_312))
        .unwrap();
    assert_eq!(req.uri().query(), Some("_k=foo&_p=bar&_d=1&_t=1381849312"));
}

/// §1.2: the verified `create_query` with every kind of value, minus the
/// `_k` override (an error here) and `identity` on an event call (a record
/// has no identity; Python overwrote `_n` with it). `None` has no Rust
/// value; `True`, `1`, `99.95` render as Python's `str()` does.
#[test]
fn create_query_verified_kitchen_sink() {
    let req = python_default("foo")
        .record(
            "bar",
            "fizzed",
            [
                ("cool", Value::from("1")),
                ("a b", Value::from("c&d=e")),
                ("at", Value::from("bob@bob.com")),
                ("amt", Value::from(99.95)),
                ("n", Value::from(1)),
                ("t", Value::from(true)),
                ("uni", Value::from("é/~*")),
            ],
            Options::new().timestamp(1_381_849_312),
        )
        .unwrap();
    // Python: `...&uni=%C3%A9%2F~%2A`; form_urlencoded keeps `*` and
    // escapes `~`. The decoded text is the same, which is what matters.
    assert_eq!(
        req.uri().query(),
        Some("_k=foo&_p=bar&_d=1&_t=1381849312&_n=fizzed&cool=1&a+b=c%26d%3De&at=bob%40bob.com&amt=99.95&n=1&t=True&uni=%C3%A9%2F%7E*")
    );
    assert_eq!(
        decode_query(req.uri().query().unwrap()),
        pairs(&[
            ("_k", "foo"),
            ("_p", "bar"),
            ("_d", "1"),
            ("_t", "1381849312"),
            ("_n", "fizzed"),
            ("cool", "1"),
            ("a b", "c&d=e"),
            ("at", "bob@bob.com"),
            ("amt", "99.95"),
            ("n", "1"),
            ("t", "True"),
            ("uni", "é/~*"),
        ])
    );
}

/// Departure: `properties={'_k': 'override'}` gives `_k=override` in Python;
/// here each of `_k`, `_p`, `_n` is refused before anything is built.
#[test]
fn reserved_property_is_an_error_not_a_replacement() {
    let enc = python_default("foo");
    for name in ["_k", "_p", "_n"] {
        assert_eq!(
            enc.record("bar", "fizzed", [(name, "override")], Options::new())
                .err(),
            Some(Error::ReservedProperty {
                name: name.to_owned()
            })
        );
        assert_eq!(
            enc.set("bar", [(name, "override")], Options::new()).err(),
            Some(Error::ReservedProperty {
                name: name.to_owned()
            })
        );
    }
}

/// §1.2: a property `_t`/`_d` replaces the generated value in its place.
#[test]
fn backdating_properties_replace_generated_pairs_in_place() {
    let req = python_default("foo")
        .set(
            "bar",
            [
                ("a", Value::from(1)),
                ("_t", Value::from(5)),
                ("_d", Value::from(0)),
            ],
            Options::new().timestamp(1_381_849_312),
        )
        .unwrap();
    assert_eq!(req.uri().query(), Some("_k=foo&_p=bar&_d=0&_t=5&a=1"));
}

/// Departure: timestamp 0 is sent; Python's `if timestamp:` drops it.
#[test]
fn timestamp_zero_is_sent() {
    let enc = python_default("foo");
    for ts in [
        Options::new().timestamp(0_u64),
        Options::new().timestamp(0.0),
        Options::new().timestamp(0_i64),
    ] {
        let req = enc.set("bar", (), ts).unwrap();
        assert_eq!(req.uri().query(), Some("_k=foo&_p=bar&_d=1&_t=0"));
    }
}

/// §1.2: `int()` truncates toward zero.
#[test]
fn float_timestamps_truncate_toward_zero() {
    let enc = python_default("foo");
    for (ts, want) in [(0.999, "0"), (1.0, "1"), (1_381_849_312.9, "1381849312")] {
        let req = enc.set("bar", (), Options::new().timestamp(ts)).unwrap();
        assert_eq!(
            decode_query(req.uri().query().unwrap())[3],
            ("_t".to_owned(), want.to_owned())
        );
    }
}

// ---- TestKISSmetricsRequestFunctionsTestCase: request.record/set/alias ----

#[test]
fn record() {
    let req = python_default("foo")
        .record("bar", "fizzed", (), Options::new())
        .unwrap();
    check(
        &req,
        "/e",
        &[("_k", "foo"), ("_p", "bar"), ("_n", "fizzed")],
        "http://trk.kissmetrics.io/e?_k=foo&_p=bar&_n=fizzed",
    );
}

const STAMPED_RECORD: &str =
    "http://trk.kissmetrics.io/e?_k=foo&_p=bar&_d=1&_t=1381849312&_n=fizzed";
const STAMPED_RECORD_PAIRS: &[(&str, &str)] = &[
    ("_k", "foo"),
    ("_p", "bar"),
    ("_d", "1"),
    ("_t", "1381849312"),
    ("_n", "fizzed"),
];

#[test]
fn record_with_integer_timestamp() {
    let req = python_default("foo")
        .record("bar", "fizzed", (), Options::new().timestamp(1_381_849_312))
        .unwrap();
    check(&req, "/e", STAMPED_RECORD_PAIRS, STAMPED_RECORD);
}

#[test]
fn record_with_whole_float_timestamp() {
    let req = python_default("foo")
        .record(
            "bar",
            "fizzed",
            (),
            Options::new().timestamp(1_381_849_312.0),
        )
        .unwrap();
    check(&req, "/e", STAMPED_RECORD_PAIRS, STAMPED_RECORD);
}

#[test]
fn record_with_non_whole_float_timestamp() {
    let req = python_default("foo")
        .record(
            "bar",
            "fizzed",
            (),
            Options::new().timestamp(1_381_849_312.5),
        )
        .unwrap();
    check(&req, "/e", STAMPED_RECORD_PAIRS, STAMPED_RECORD);
}

#[test]
fn record_custom_path() {
    let req = python_default("foo")
        .record("bar", "fizzed", (), Options::new().path("get"))
        .unwrap();
    check(
        &req,
        "/get",
        &[("_k", "foo"), ("_p", "bar"), ("_n", "fizzed")],
        "http://trk.kissmetrics.io/get?_k=foo&_p=bar&_n=fizzed",
    );
}

#[test]
fn set() {
    let req = python_default("foo")
        .set("bar", [("cool", "1")], Options::new())
        .unwrap();
    check(
        &req,
        "/s",
        &[("_k", "foo"), ("_p", "bar"), ("cool", "1")],
        "http://trk.kissmetrics.io/s?_k=foo&_p=bar&cool=1",
    );
}

const STAMPED_SET: &str = "http://trk.kissmetrics.io/s?_k=foo&_p=bar&_d=1&_t=1381849312&cool=1";
const STAMPED_SET_PAIRS: &[(&str, &str)] = &[
    ("_k", "foo"),
    ("_p", "bar"),
    ("_d", "1"),
    ("_t", "1381849312"),
    ("cool", "1"),
];

#[test]
fn set_with_timestamp() {
    let req = python_default("foo")
        .set(
            "bar",
            [("cool", "1")],
            Options::new().timestamp(1_381_849_312),
        )
        .unwrap();
    check(&req, "/s", STAMPED_SET_PAIRS, STAMPED_SET);
}

#[test]
fn set_with_whole_float_timestamp() {
    let req = python_default("foo")
        .set(
            "bar",
            [("cool", "1")],
            Options::new().timestamp(1_381_849_312.0),
        )
        .unwrap();
    check(&req, "/s", STAMPED_SET_PAIRS, STAMPED_SET);
}

#[test]
fn set_with_non_whole_float_timestamp() {
    let req = python_default("foo")
        .set(
            "bar",
            [("cool", "1")],
            Options::new().timestamp(1_381_849_312.5),
        )
        .unwrap();
    check(&req, "/s", STAMPED_SET_PAIRS, STAMPED_SET);
}

#[test]
fn set_custom_path() {
    let req = python_default("foo")
        .set("bar", [("cool", "1")], Options::new().path("get"))
        .unwrap();
    check(
        &req,
        "/get",
        &[("_k", "foo"), ("_p", "bar"), ("cool", "1")],
        "http://trk.kissmetrics.io/get?_k=foo&_p=bar&cool=1",
    );
}

#[test]
fn alias() {
    let req = python_default("foo")
        .alias("bar", "baz", Options::new())
        .unwrap();
    check(
        &req,
        "/a",
        &[("_k", "foo"), ("_p", "bar"), ("_n", "baz")],
        "http://trk.kissmetrics.io/a?_k=foo&_p=bar&_n=baz",
    );
}

#[test]
fn alias_custom_path() {
    let req = python_default("foo")
        .alias("bar", "baz", Options::new().path("get"))
        .unwrap();
    check(
        &req,
        "/get",
        &[("_k", "foo"), ("_p", "bar"), ("_n", "baz")],
        "http://trk.kissmetrics.io/get?_k=foo&_p=bar&_n=baz",
    );
}

/// §1.3: alias never sends a timestamp (Python's `alias` takes none; ours
/// refuses one rather than dropping it).
#[test]
fn alias_refuses_a_timestamp() {
    assert_eq!(
        python_default("foo")
            .alias("bar", "baz", Options::new().timestamp(1))
            .err(),
        Some(Error::TimestampNotAllowed {
            call: km_proto::Call::Alias
        })
    );
}

// ---- §1.3: URL assembly (urlunsplit) ---------------------------------------

#[test]
fn leading_slash_of_a_path_is_optional() {
    let enc = python_default("foo");
    for path in ["e", "/e"] {
        let req = enc
            .record("bar", "x", (), Options::new().path(path))
            .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://trk.kissmetrics.io/e?_k=foo&_p=bar&_n=x"
        );
    }
    let req = enc
        .record("bar", "x", (), Options::new().path("a/b"))
        .unwrap();
    assert_eq!(
        req.uri().to_string(),
        "http://trk.kissmetrics.io/a/b?_k=foo&_p=bar&_n=x"
    );
}

/// Departure: Python turns `path=''` into `http://trk.kissmetrics.io?…`
/// (no path at all); here it is an error, as is `/` alone.
#[test]
fn empty_path_is_an_error() {
    let enc = python_default("foo");
    for path in ["", "/"] {
        assert_eq!(
            enc.record("bar", "x", (), Options::new().path(path)).err(),
            Some(Error::Empty { field: Field::Path })
        );
    }
}

#[test]
fn https_and_a_port_are_used_verbatim() {
    // request.record(..., scheme='https', host='h.example:8443')
    let enc = Encoder::with_endpoint(
        "foo",
        Endpoint::new(Scheme::Https, "h.example:8443").unwrap(),
    )
    .unwrap();
    let req = enc.record("bar", "x", (), Options::new()).unwrap();
    assert_eq!(
        req.uri().to_string(),
        "https://h.example:8443/e?_k=foo&_p=bar&_n=x"
    );
}

/// Departure: https is the default; `Client(key)` in Python is http.
#[test]
fn https_is_the_default() {
    let req = Encoder::new("foo")
        .unwrap()
        .record("bar", "fizzed", (), Options::new())
        .unwrap();
    assert_eq!(
        req.uri().to_string(),
        "https://trk.kissmetrics.io/e?_k=foo&_p=bar&_n=fizzed"
    );
}

// ---- test_docs.py: the README examples -------------------------------------

#[test]
fn readme_client_examples() {
    let km = python_default("mySuperSecretApiKey");
    let url = |req: http::Request<()>| req.uri().to_string();
    assert_eq!(
        url(km
            .record("bob@bob.com", "Viewed Homepage", (), Options::new())
            .unwrap()),
        "http://trk.kissmetrics.io/e?_k=mySuperSecretApiKey&_p=bob%40bob.com&_n=Viewed+Homepage"
    );
    assert_eq!(
        url(km
            .record(
                "bob@bob.com",
                "Signed Up",
                [("Plan", Value::from("Pro")), ("Amount", Value::from(99.95))],
                Options::new()
            )
            .unwrap()),
        "http://trk.kissmetrics.io/e?_k=mySuperSecretApiKey&_p=bob%40bob.com&_n=Signed+Up&Plan=Pro&Amount=99.95"
    );
    assert_eq!(
        url(km
            .record("bob@bob.com", "Signed Up", (), Options::new().timestamp(1_234_567_890))
            .unwrap()),
        "http://trk.kissmetrics.io/e?_k=mySuperSecretApiKey&_p=bob%40bob.com&_d=1&_t=1234567890&_n=Signed+Up"
    );
    assert_eq!(
        url(km
            .set("bob@bob.com", [("gender", "male")], Options::new())
            .unwrap()),
        "http://trk.kissmetrics.io/s?_k=mySuperSecretApiKey&_p=bob%40bob.com&gender=male"
    );
}

/// The `KM` (ClientCompat) half of the README: key "this is your API key",
/// identity bob@bob.com. The compat layer itself lives in the facade; the
/// requests it sends are these.
#[test]
fn readme_compat_examples() {
    let km = python_default("this is your API key");
    let url = |req: http::Request<()>| req.uri().to_string();
    assert_eq!(
        url(km
            .record("bob@bob.com", "Viewed Homepage", (), Options::new())
            .unwrap()),
        "http://trk.kissmetrics.io/e?_k=this+is+your+API+key&_p=bob%40bob.com&_n=Viewed+Homepage"
    );
    assert_eq!(
        url(km
            .record(
                "bob@bob.com",
                "Signed Up",
                [("Plan", Value::from("Pro")), ("Amount", Value::from(99.95))],
                Options::new()
            )
            .unwrap()),
        "http://trk.kissmetrics.io/e?_k=this+is+your+API+key&_p=bob%40bob.com&_n=Signed+Up&Plan=Pro&Amount=99.95"
    );
    // Back-dating through properties: `_d`/`_t` come after `_n`.
    assert_eq!(
        url(km
            .record("bob@bob.com", "Signed Up", [("_d", 1), ("_t", 1_234_567_890)], Options::new())
            .unwrap()),
        "http://trk.kissmetrics.io/e?_k=this+is+your+API+key&_p=bob%40bob.com&_n=Signed+Up&_d=1&_t=1234567890"
    );
    assert_eq!(
        url(km
            .set("bob@bob.com", [("gender", "male")], Options::new())
            .unwrap()),
        "http://trk.kissmetrics.io/s?_k=this+is+your+API+key&_p=bob%40bob.com&gender=male"
    );
}

/// Departure: a float `_t` property is sent as integer seconds; Python
/// would send `_t=1234567890.0`.
#[test]
fn float_t_property_is_sent_as_integer_seconds() {
    let req = python_default("foo")
        .record(
            "bar",
            "x",
            [("_d", Value::from(1)), ("_t", Value::from(1_234_567_890.0))],
            Options::new(),
        )
        .unwrap();
    assert_eq!(
        req.uri().query(),
        Some("_k=foo&_p=bar&_n=x&_d=1&_t=1234567890")
    );
    let req = python_default("foo")
        .record(
            "bar",
            "x",
            [("_t", Value::from(1_234_567_890.0_f32))],
            Options::new().timestamp(7),
        )
        .unwrap();
    assert_eq!(
        req.uri().query(),
        Some("_k=foo&_p=bar&_d=1&_t=1234567936&_n=x")
    );
}

// ---- test_integration.py: the requests sent to httpbin.org -----------------
// The network tests only assert decoded `args`; their requests are these.

#[test]
fn integration_requests() {
    let enc =
        Encoder::with_endpoint("foo", Endpoint::new(Scheme::Http, "httpbin.org").unwrap()).unwrap();
    let get = Options::new().path("get");
    let record = enc.record("bob", "fizzed", (), get).unwrap();
    check(
        &record,
        "/get",
        &[("_k", "foo"), ("_p", "bob"), ("_n", "fizzed")],
        "http://httpbin.org/get?_k=foo&_p=bob&_n=fizzed",
    );
    // properties={'cool': 1}: the integer reads back as '1'.
    let set = enc.set("bob", [("cool", 1)], get).unwrap();
    check(
        &set,
        "/get",
        &[("_k", "foo"), ("_p", "bob"), ("cool", "1")],
        "http://httpbin.org/get?_k=foo&_p=bob&cool=1",
    );
    let alias = enc.alias("bob", "shadybob", get).unwrap();
    check(
        &alias,
        "/get",
        &[("_k", "foo"), ("_p", "bob"), ("_n", "shadybob")],
        "http://httpbin.org/get?_k=foo&_p=bob&_n=shadybob",
    );
}
