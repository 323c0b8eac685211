//! One row per input rule of PROTOCOL.md §3: the exact error, with its fields.

use std::time::{Duration, UNIX_EPOCH};

use km_proto::{
    ApiKey, Call, Encoder, Endpoint, Error, Field, Options, Scheme, TimestampError, Value,
};

const KEY: &str = "sekrit-key";

fn enc() -> Encoder {
    Encoder::new(KEY).unwrap()
}

fn empty(field: Field) -> Error {
    Error::Empty { field }
}

fn too_long(field: Field, len: usize) -> Error {
    Error::TooLong {
        field,
        len,
        max: 255,
    }
}

fn backdate(name: &'static str, value: &str) -> Error {
    Error::InvalidBackdate {
        name,
        value: value.to_owned(),
    }
}

fn timestamp(reason: TimestampError) -> Error {
    Error::InvalidTimestamp { reason }
}

const HOST_SHAPE: &str = "contains one of / ? # @ \\, which would change the request's shape";
const HOST_SPACE: &str = "contains whitespace or a control character";
const PATH_SHAPE: &str = "contains ? or #, which would change the request's shape";
const PATH_SPACE: &str = "contains whitespace or a control character";
const PATH_CHARS: &str = "may contain only URI path characters (RFC 3986 pchar and /)";

fn host(host: &str, reason: &'static str) -> Error {
    Error::InvalidHost {
        host: host.to_owned(),
        reason,
    }
}

fn path(path: &str, reason: &'static str) -> Error {
    Error::InvalidPath {
        path: path.to_owned(),
        reason,
    }
}

fn record_with(props: &[(&str, Value<'_>)]) -> Result<(), Error> {
    enc().record("bob", "x", props, Options::new()).map(drop)
}

fn set_with(props: &[(&str, Value<'_>)]) -> Result<(), Error> {
    enc().set("bob", props, Options::new()).map(drop)
}

fn record_at(ts: Options<'_>) -> Result<(), Error> {
    enc().record("bob", "x", (), ts).map(drop)
}

fn record_to(p: &str) -> Result<(), Error> {
    enc()
        .record("bob", "x", (), Options::new().path(p))
        .map(drop)
}

fn endpoint(h: &str) -> Result<(), Error> {
    Endpoint::new(Scheme::Https, h).map(drop)
}

/// What a row got or wants: built, or refused with an error.
type Verdict = Result<(), Error>;

/// The length of `https://trk.kissmetrics.io/s?_k=sekrit-key&_p=bob&x=`.
const SET_X_PREFIX: usize = "https://trk.kissmetrics.io/s?_k=sekrit-key&_p=bob&x=".len();

#[test]
fn every_rule_has_its_exact_error() {
    let x256 = "x".repeat(256);
    let e255 = "é".repeat(255);
    let e256 = "é".repeat(256);
    let emoji255 = "😀".repeat(255);
    let emoji256 = "😀".repeat(256);
    let fits = "a".repeat(65_534 - SET_X_PREFIX);
    let one_over = "a".repeat(65_535 - SET_X_PREFIX);
    let way_over = "&".repeat(30_000);
    let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
    let just_before_epoch = UNIX_EPOCH - Duration::from_nanos(1);

    #[rustfmt::skip]
    let rows: Vec<(&str, Verdict, Verdict)> = vec![
        // Key.
        ("empty key", Encoder::new("").map(drop), Err(empty(Field::Key))),
        ("empty key, endpoint", Encoder::with_endpoint("", Endpoint::default()).map(drop), Err(empty(Field::Key))),
        ("empty ApiKey", ApiKey::new("").map(drop), Err(empty(Field::Key))),
        // Person.
        ("empty person, record", enc().record("", "x", (), Options::new()).map(drop), Err(empty(Field::Person))),
        ("empty person, set", enc().set("", (), Options::new()).map(drop), Err(empty(Field::Person))),
        ("empty person, alias", enc().alias("", "b", Options::new()).map(drop), Err(empty(Field::Person))),
        ("person of 256 chars", enc().set(&x256, (), Options::new()).map(drop), Err(too_long(Field::Person, 256))),
        ("person of 255 two-byte chars", enc().set(&e255, (), Options::new()).map(drop), Ok(())),
        ("person of 256 two-byte chars", enc().set(&e256, (), Options::new()).map(drop), Err(too_long(Field::Person, 256))),
        ("person of 255 emoji", enc().record(&emoji255, "x", (), Options::new()).map(drop), Ok(())),
        ("person of 256 emoji", enc().record(&emoji256, "x", (), Options::new()).map(drop), Err(too_long(Field::Person, 256))),
        ("alias source of 256 emoji", enc().alias(&emoji256, "b", Options::new()).map(drop), Err(too_long(Field::Person, 256))),
        // Event.
        ("empty event", enc().record("bob", "", (), Options::new()).map(drop), Err(empty(Field::Event))),
        ("event has no length limit", enc().record("bob", &x256, (), Options::new()).map(drop), Ok(())),
        // Alias identity.
        ("empty identity", enc().alias("bob", "", Options::new()).map(drop), Err(empty(Field::Identity))),
        ("identity of 256 chars", enc().alias("bob", &x256, Options::new()).map(drop), Err(too_long(Field::Identity, 256))),
        ("identity of 255 emoji", enc().alias("bob", &emoji255, Options::new()).map(drop), Ok(())),
        ("identity of 256 emoji", enc().alias("bob", &emoji256, Options::new()).map(drop), Err(too_long(Field::Identity, 256))),
        ("identity of 256 two-byte chars", enc().alias("bob", &e256, Options::new()).map(drop), Err(too_long(Field::Identity, 256))),
        // Property names.
        ("empty property name", set_with(&[("a", Value::from(1)), ("", Value::from("v"))]), Err(empty(Field::PropertyName))),
        ("property _k", record_with(&[("_k", Value::from("evil"))]), Err(Error::ReservedProperty { name: "_k".into() })),
        ("property _p", set_with(&[("_p", Value::from("evil"))]), Err(Error::ReservedProperty { name: "_p".into() })),
        ("property _n", record_with(&[("_n", Value::from(1))]), Err(Error::ReservedProperty { name: "_n".into() })),
        ("duplicate property", set_with(&[("a", Value::from(1)), ("b", Value::from(2)), ("a", Value::from(1))]), Err(Error::DuplicateProperty { name: "a".into() })),
        ("duplicate _t", record_with(&[("_t", Value::from(1)), ("_t", Value::from(2))]), Err(Error::DuplicateProperty { name: "_t".into() })),
        ("names differing in case are distinct", set_with(&[("a", Value::from(1)), ("A", Value::from(2))]), Ok(())),
        // `_t` properties.
        ("_t negative int", record_with(&[("_t", Value::from(-1))]), Err(backdate("_t", "-1"))),
        ("_t fraction", record_with(&[("_t", Value::from(1.5))]), Err(backdate("_t", "1.5"))),
        ("_t negative whole float", record_with(&[("_t", Value::from(-1.0))]), Err(backdate("_t", "-1.0"))),
        ("_t f32 fraction", record_with(&[("_t", Value::from(0.5_f32))]), Err(backdate("_t", "0.5"))),
        ("_t NaN", record_with(&[("_t", Value::from(f64::NAN))]), Err(backdate("_t", "nan"))),
        ("_t infinity", record_with(&[("_t", Value::from(f64::INFINITY))]), Err(backdate("_t", "inf"))),
        ("_t 2^64 float", record_with(&[("_t", Value::from(18_446_744_073_709_551_616.0))]), Err(backdate("_t", "1.8446744073709552e+19"))),
        ("_t string abc", record_with(&[("_t", Value::from("abc"))]), Err(backdate("_t", "abc"))),
        ("_t empty string", record_with(&[("_t", Value::from(""))]), Err(backdate("_t", ""))),
        ("_t string -1", record_with(&[("_t", Value::from("-1"))]), Err(backdate("_t", "-1"))),
        ("_t string +1", record_with(&[("_t", Value::from("+1"))]), Err(backdate("_t", "+1"))),
        ("_t string past u64", record_with(&[("_t", Value::from("18446744073709551616"))]), Err(backdate("_t", "18446744073709551616"))),
        ("_t bool", record_with(&[("_t", Value::from(true))]), Err(backdate("_t", "True"))),
        ("_t u64::MAX", record_with(&[("_t", Value::from(u64::MAX))]), Ok(())),
        ("_t whole float", record_with(&[("_t", Value::from(1_234_567_890.0))]), Ok(())),
        ("_t string with leading zeros", record_with(&[("_t", Value::from("000000000000000000001"))]), Ok(())),
        // `_d` properties.
        ("_d 2", record_with(&[("_d", Value::from(2))]), Err(backdate("_d", "2"))),
        ("_d -1", record_with(&[("_d", Value::from(-1))]), Err(backdate("_d", "-1"))),
        ("_d yes", record_with(&[("_d", Value::from("yes"))]), Err(backdate("_d", "yes"))),
        ("_d bool", record_with(&[("_d", Value::from(true))]), Err(backdate("_d", "True"))),
        ("_d float 1.0", record_with(&[("_d", Value::from(1.0))]), Err(backdate("_d", "1.0"))),
        ("_d 0 and 1", record_with(&[("_d", Value::from(0_u8)), ("x", Value::from(1))]), Ok(())),
        ("_d string 1", record_with(&[("_d", Value::from("1"))]), Ok(())),
        // The call's timestamp.
        ("timestamp NaN", record_at(Options::new().timestamp(f64::NAN)), Err(timestamp(TimestampError::NotFinite))),
        ("timestamp +inf", record_at(Options::new().timestamp(f64::INFINITY)), Err(timestamp(TimestampError::NotFinite))),
        ("timestamp -inf", record_at(Options::new().timestamp(f64::NEG_INFINITY)), Err(timestamp(TimestampError::NotFinite))),
        ("timestamp f32 NaN", record_at(Options::new().timestamp(f32::NAN)), Err(timestamp(TimestampError::NotFinite))),
        ("timestamp -1", record_at(Options::new().timestamp(-1_i64)), Err(timestamp(TimestampError::Negative))),
        ("timestamp -1 i32", record_at(Options::new().timestamp(-1_i32)), Err(timestamp(TimestampError::Negative))),
        ("timestamp -0.5", record_at(Options::new().timestamp(-0.5)), Err(timestamp(TimestampError::Negative))),
        ("timestamp 2^64", record_at(Options::new().timestamp(18_446_744_073_709_551_616.0)), Err(timestamp(TimestampError::TooLarge))),
        ("timestamp 1 s before the epoch", record_at(Options::new().timestamp(before_epoch)), Err(timestamp(TimestampError::Negative))),
        ("timestamp 1 ns before the epoch", record_at(Options::new().timestamp(just_before_epoch)), Err(timestamp(TimestampError::Negative))),
        ("timestamp at the epoch", record_at(Options::new().timestamp(UNIX_EPOCH)), Ok(())),
        ("timestamp -0.0", record_at(Options::new().timestamp(-0.0)), Ok(())),
        ("timestamp on set", enc().set("bob", (), Options::new().timestamp(f64::NAN)).map(drop), Err(timestamp(TimestampError::NotFinite))),
        ("timestamp on alias", enc().alias("a", "b", Options::new().timestamp(1)).map(drop), Err(Error::TimestampNotAllowed { call: Call::Alias })),
        ("bad timestamp on alias", enc().alias("a", "b", Options::new().timestamp(f64::NAN)).map(drop), Err(Error::TimestampNotAllowed { call: Call::Alias })),
        // Scheme.
        ("scheme ftp", "ftp".parse::<Scheme>().map(drop), Err(Error::InvalidScheme { scheme: "ftp".into() })),
        ("scheme ssh", "ssh".parse::<Scheme>().map(drop), Err(Error::InvalidScheme { scheme: "ssh".into() })),
        ("scheme HTTP", "HTTP".parse::<Scheme>().map(drop), Err(Error::InvalidScheme { scheme: "HTTP".into() })),
        ("scheme empty", "".parse::<Scheme>().map(drop), Err(Error::InvalidScheme { scheme: String::new() })),
        ("endpoint ftp://h", "ftp://h".parse::<Endpoint>().map(drop), Err(Error::InvalidScheme { scheme: "ftp".into() })),
        ("endpoint without scheme", "h.example".parse::<Endpoint>().map(drop), Err(Error::InvalidScheme { scheme: "h.example".into() })),
        // Host.
        ("host empty", endpoint(""), Err(host("", "is empty"))),
        ("host with ?", endpoint("h?x"), Err(host("h?x", HOST_SHAPE))),
        ("host with #", endpoint("h#x"), Err(host("h#x", HOST_SHAPE))),
        ("host with /", endpoint("h/x"), Err(host("h/x", HOST_SHAPE))),
        ("host with @", endpoint("u@h"), Err(host("u@h", HOST_SHAPE))),
        ("host with space", endpoint("h x"), Err(host("h x", HOST_SPACE))),
        ("host with tab", endpoint("h\tx"), Err(host("h\tx", HOST_SPACE))),
        ("host with NUL", endpoint("h\0x"), Err(host("h\0x", HOST_SPACE))),
        ("host with DEL", endpoint("h\u{7f}x"), Err(host("h\u{7f}x", HOST_SPACE))),
        ("host with CR LF", endpoint("h\r\nX-Evil: 1"), Err(host("h\r\nX-Evil: 1", "contains CR or LF"))),
        ("host with LF", endpoint("h\nx"), Err(host("h\nx", "contains CR or LF"))),
        ("host not ASCII", endpoint("é.example"), Err(host("é.example", "is not ASCII (give an international name in its punycode form)"))),
        ("host port 0", endpoint("h:0"), Err(host("h:0", "has a port that is not a number from 1 to 65535"))),
        // Path.
        ("path empty", record_to(""), Err(empty(Field::Path))),
        ("path /", record_to("/"), Err(empty(Field::Path))),
        ("path with ?", record_to("e?x=1"), Err(path("e?x=1", PATH_SHAPE))),
        ("path with #", record_to("e#f"), Err(path("e#f", PATH_SHAPE))),
        ("path with space", record_to("a b"), Err(path("a b", PATH_SPACE))),
        ("path with tab", record_to("a\tb"), Err(path("a\tb", PATH_SPACE))),
        ("path with NUL", record_to("a\0b"), Err(path("a\0b", PATH_SPACE))),
        ("path with CR LF", record_to("e\r\nX-Evil: 1"), Err(path("e\r\nX-Evil: 1", PATH_SPACE))),
        ("path with DEL", record_to("a\u{7f}"), Err(path("a\u{7f}", PATH_SPACE))),
        ("path with no-break space", record_to("a\u{a0}b"), Err(path("a\u{a0}b", PATH_SPACE))),
        ("path not ASCII", record_to("é"), Err(path("é", PATH_CHARS))),
        ("path with quote", record_to("a\"b"), Err(path("a\"b", PATH_CHARS))),
        ("path with bad escape", record_to("a%zz"), Err(path("a%zz", PATH_CHARS))),
        ("path with cut escape", record_to("a%4"), Err(path("a%4", PATH_CHARS))),
        ("path with escapes", record_to("/a%2Fb/c:d@e"), Ok(())),
        // The request's length.
        ("URI of 65,534 bytes", set_with(&[("x", Value::from(fits.as_str()))]), Ok(())),
        ("URI of 65,535 bytes", set_with(&[("x", Value::from(one_over.as_str()))]), Err(Error::RequestTooLong { len: 65_535, max: 65_534 })),
        ("URI of 90,052 bytes", set_with(&[("x", Value::from(way_over.as_str()))]), Err(Error::RequestTooLong { len: SET_X_PREFIX + 90_000, max: 65_534 })),
    ];

    let mut failures = Vec::new();
    for (rule, got, want) in &rows {
        if got != want {
            failures.push(format!("{rule}: got {got:?}, want {want:?}"));
        }
        if let Err(e) = got {
            // The key is a secret: never in an error.
            assert!(!e.to_string().contains(KEY), "{rule}: {e}");
            assert!(!format!("{e:?}").contains(KEY), "{rule}: {e:?}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each error names its field.
#[test]
fn errors_name_their_field() {
    let cases = [
        (empty(Field::Key), Field::Key),
        (too_long(Field::Identity, 300), Field::Identity),
        (
            Error::ReservedProperty { name: "_k".into() },
            Field::PropertyName,
        ),
        (
            Error::DuplicateProperty { name: "a".into() },
            Field::PropertyName,
        ),
        (backdate("_t", "x"), Field::PropertyName),
        (timestamp(TimestampError::Negative), Field::Timestamp),
        (
            Error::TimestampNotAllowed { call: Call::Alias },
            Field::Timestamp,
        ),
        (
            Error::InvalidScheme {
                scheme: "ftp".into(),
            },
            Field::Scheme,
        ),
        (host("h x", HOST_SPACE), Field::Host),
        (path("a b", PATH_SPACE), Field::Path),
        (
            Error::RequestTooLong {
                len: 65_535,
                max: 65_534,
            },
            Field::Request,
        ),
    ];
    for (error, field) in cases {
        assert_eq!(error.field(), field, "{error}");
    }
    assert_eq!(
        Error::RequestTooLong {
            len: 65_535,
            max: 65_534
        }
        .to_string(),
        "the request's URI would be 65535 bytes long; the limit is 65534"
    );
}

/// The duplicate check must not mistake distinct names for duplicates,
/// however many there are (its bit filter has only 256 slots).
#[test]
fn many_distinct_names_are_not_duplicates() {
    let names: Vec<String> = (0..1000).map(|i| format!("p{i}")).collect();
    let props: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    assert!(enc().set("bob", &props[..], Options::new()).is_ok());
    let mut with_dup = props.clone();
    with_dup.push(("p500", 2));
    assert_eq!(
        enc().set("bob", &with_dup[..], Options::new()).unwrap_err(),
        Error::DuplicateProperty {
            name: "p500".into()
        }
    );
}

/// When several inputs are wrong, the first rule in this order wins:
/// record: event, person, timestamp, path, properties (each in order).
#[test]
fn first_broken_rule_wins() {
    let nan = Options::new().timestamp(f64::NAN).path("a b");
    assert_eq!(
        enc().record("", "", [("", 1)], nan).unwrap_err(),
        empty(Field::Event)
    );
    assert_eq!(
        enc().record("", "x", [("", 1)], nan).unwrap_err(),
        empty(Field::Person)
    );
    assert_eq!(
        enc().record("bob", "x", [("", 1)], nan).unwrap_err(),
        timestamp(TimestampError::NotFinite)
    );
    assert_eq!(
        enc()
            .record("bob", "x", [("", 1)], Options::new().path("a b"))
            .unwrap_err(),
        path("a b", PATH_SPACE)
    );
    assert_eq!(
        enc()
            .record("bob", "x", [("_k", 1), ("", 1)], Options::new())
            .unwrap_err(),
        Error::ReservedProperty { name: "_k".into() }
    );
    // Alias: timestamp, identity, person.
    assert_eq!(
        enc()
            .alias("", "", Options::new().timestamp(1))
            .unwrap_err(),
        Error::TimestampNotAllowed { call: Call::Alias }
    );
    assert_eq!(
        enc().alias("", "", Options::new()).unwrap_err(),
        empty(Field::Identity)
    );
}
