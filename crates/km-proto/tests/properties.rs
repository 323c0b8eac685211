//! Properties of the encoder over generated inputs (`km_proto::testing`).
//!
//! Failing cases are saved to `proptest-regressions/properties.txt` (in the
//! package directory; cargo runs tests from there) and replayed first on
//! every run: commit that file.

use http::uri::Scheme as UriScheme;
use http::Uri;
use km_proto::testing::{
    any_call, decode_query, invalid_call, nasty_char, nasty_string, valid_call, CallInput, Rule,
};
use km_proto::{AsValue, Encoder, Endpoint, Error, Scheme, Value};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// A key of 1 to 64 nasty characters (at most 768 bytes encoded, within
/// the room `valid_call` leaves).
fn key() -> impl Strategy<Value = String> {
    vec(nasty_char(), 1..=64).prop_map(String::from_iter)
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    select(
        &[
            (Scheme::Https, "trk.kissmetrics.io"),
            (Scheme::Http, "trk.kissmetrics.io"),
            (Scheme::Http, "127.0.0.1:8080"),
            (Scheme::Https, "[::1]:8443"),
            (Scheme::Https, "a_b-c.example:1"),
        ][..],
    )
    .prop_map(|(scheme, host)| Endpoint::new(scheme, host).unwrap())
}

fn encoder() -> impl Strategy<Value = Encoder> {
    (key(), endpoint()).prop_map(|(k, e)| Encoder::with_endpoint(&k, e).unwrap())
}

/// The request's method, headers, scheme, authority and path, which no data
/// may change.
fn assert_shape(
    req: &http::Request<()>,
    enc: &Encoder,
    call: &CallInput,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(req.method(), http::Method::GET);
    prop_assert!(req.headers().is_empty());
    let uri = req.uri();
    let scheme = match enc.endpoint().scheme() {
        Scheme::Http => UriScheme::HTTP,
        Scheme::Https => UriScheme::HTTPS,
    };
    prop_assert_eq!(uri.scheme(), Some(&scheme));
    prop_assert_eq!(
        uri.authority().map(|a| a.as_str()),
        Some(enc.endpoint().host())
    );
    prop_assert_eq!(uri.path(), call.expected_path());
    // The URI's text parses back to the same URI.
    let reparsed: Uri = uri.to_string().parse().unwrap();
    prop_assert_eq!(&reparsed, uri);
    Ok(())
}

/// Facts about the decoded pairs that hold independently of the oracle.
fn assert_pairs_structure(
    pairs: &[(String, String)],
    key: &str,
    call: &CallInput,
) -> Result<(), TestCaseError> {
    prop_assert_eq!((pairs[0].0.as_str(), pairs[0].1.as_str()), ("_k", key));
    prop_assert_eq!(
        (pairs[1].0.as_str(), pairs[1].1.as_str()),
        ("_p", call.person())
    );
    // One pair per name.
    for (i, (name, _)) in pairs.iter().enumerate() {
        prop_assert!(!pairs[..i].iter().any(|(n, _)| n == name), "{} twice", name);
    }
    let mut next = 2;
    if call.timestamp().is_some() {
        prop_assert_eq!(pairs[2].0.as_str(), "_d");
        prop_assert_eq!(pairs[3].0.as_str(), "_t");
        next = 4;
    }
    match call {
        CallInput::Record { event: name, .. } | CallInput::Alias { identity: name, .. } => {
            prop_assert_eq!(
                (pairs[next].0.as_str(), pairs[next].1.as_str()),
                ("_n", name.as_str())
            );
            next += 1;
        }
        CallInput::Set { .. } => {}
    }
    // The properties follow in the caller's order; text goes as it is.
    let rest: Vec<&String> = pairs[next..].iter().map(|(n, _)| n).collect();
    let given: Vec<&String> = call
        .properties()
        .iter()
        .map(|(n, _)| n)
        .filter(|n| call.timestamp().is_none() || (*n != "_d" && *n != "_t"))
        .collect();
    prop_assert_eq!(rest, given);
    for (name, value) in call.properties() {
        if let Value::Str(s) = value.as_value() {
            let sent = pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            prop_assert_eq!(sent.map(String::as_str), Some(s));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Decoding the query of any valid call gives back exactly its inputs,
    /// in order, and the URI has the expected shape and text.
    #[test]
    fn valid_calls_round_trip(enc in encoder(), call in valid_call()) {
        let key = enc.key().expose_secret();
        prop_assert_eq!(call.expected_error(&enc), None);
        let req = call.build(&enc).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        assert_shape(&req, &enc, &call)?;
        let pairs = decode_query(req.uri().query().unwrap());
        assert_pairs_structure(&pairs, key, &call)?;
        prop_assert_eq!(&pairs, &call.expected_pairs(key));
        prop_assert_eq!(req.uri().to_string(), call.expected_uri(&enc));
    }

    /// Every invalid call yields the error of the rule it breaks, exactly.
    #[test]
    fn invalid_calls_yield_their_error(enc in encoder(), invalid in invalid_call()) {
        let expected = invalid.call.expected_error(&enc);
        prop_assert!(
            expected.as_ref().is_some_and(|e| invalid.rule.matches(e)),
            "{:?} predicts {:?}", invalid.rule, expected
        );
        prop_assert_eq!(invalid.call.build(&enc).err(), expected);
    }

    /// Any call, valid or not: the encoder agrees with the oracle.
    #[test]
    fn any_call_agrees_with_the_oracle(enc in encoder(), call in any_call()) {
        match (call.build(&enc), call.expected_error(&enc)) {
            (Ok(req), None) => {
                assert_shape(&req, &enc, &call)?;
                let pairs = decode_query(req.uri().query().unwrap());
                prop_assert_eq!(pairs, call.expected_pairs(enc.key().expose_secret()));
            }
            (got, want) => prop_assert_eq!(got.err(), want),
        }
    }

    /// Any non-empty key is accepted and reads back exactly; the empty one
    /// is refused.
    #[test]
    fn keys_round_trip(key in nasty_string()) {
        match Encoder::new(&key) {
            Ok(enc) => {
                let req = enc.set("p", (), km_proto::Options::new()).unwrap();
                let pairs = decode_query(req.uri().query().unwrap());
                prop_assert_eq!(&pairs[0], &("_k".to_owned(), key.clone()));
                // The key never shows in `Debug`.
                let other = Encoder::new("other").unwrap();
                prop_assert_eq!(format!("{enc:?}"), format!("{other:?}"));
            }
            Err(e) => {
                prop_assert!(key.is_empty());
                prop_assert_eq!(e, Error::Empty { field: km_proto::Field::Key });
            }
        }
    }

    /// No host text makes the endpoint panic; an accepted host is the
    /// request's authority, unchanged.
    #[test]
    fn hosts_never_change_the_shape(host in nasty_string(), https in any::<bool>()) {
        let scheme = if https { Scheme::Https } else { Scheme::Http };
        match Endpoint::new(scheme, &host) {
            Ok(endpoint) => {
                let enc = Encoder::with_endpoint("k", endpoint).unwrap();
                let req = enc.alias("a", "b", km_proto::Options::new()).unwrap();
                prop_assert_eq!(req.uri().authority().map(|a| a.as_str()), Some(host.as_str()));
                prop_assert_eq!(req.uri().path(), "/a");
                prop_assert_eq!(req.uri().query(), Some("_k=k&_p=a&_n=b"));
            }
            Err(e) => prop_assert!(matches!(e, Error::InvalidHost { .. }), "{:?}", e),
        }
    }

    /// Only `http` and `https` are schemes.
    #[test]
    fn only_two_schemes(text in prop_oneof![nasty_string(), select(&["http", "https", "HTTP", "ftp"][..]).prop_map(String::from)]) {
        match text.parse::<Scheme>() {
            Ok(s) => prop_assert_eq!(s.as_str(), text.as_str()),
            Err(e) => {
                prop_assert!(text != "http" && text != "https");
                prop_assert_eq!(e, Error::InvalidScheme { scheme: text.clone() });
            }
        }
    }

    /// The oracle's value text is `Value`'s `Display`; check that text
    /// independently: numbers read back as the same number.
    #[test]
    fn value_text_reads_back(
        i in any::<i64>(),
        u in any::<u64>(),
        x in proptest::num::f64::ANY,
        y in proptest::num::f32::ANY,
        b in any::<bool>(),
    ) {
        prop_assert_eq!(Value::from(i).to_string().parse::<i64>().ok(), Some(i));
        prop_assert_eq!(Value::from(u).to_string().parse::<u64>().ok(), Some(u));
        prop_assert_eq!(Value::from(b).to_string(), if b { "True" } else { "False" });
        let text = Value::from(x).to_string();
        if x.is_nan() {
            prop_assert_eq!(text, "nan");
        } else if x.is_infinite() {
            prop_assert_eq!(text, if x > 0.0 { "inf" } else { "-inf" });
        } else {
            // Python's repr: a `.` or an exponent, never a bare integer;
            // shortest digits that read back as the same float.
            prop_assert!(text.contains('.') || text.contains('e'), "{}", text);
            prop_assert_eq!(text.parse::<f64>().map(f64::to_bits), Ok(x.to_bits()), "{}", text);
        }
        let text = Value::from(y).to_string();
        if y.is_finite() {
            prop_assert!(text.contains('.') || text.contains('e'), "{}", text);
            prop_assert_eq!(text.parse::<f32>().map(f32::to_bits), Ok(y.to_bits()), "{}", text);
        } else {
            prop_assert!(["nan", "inf", "-inf"].contains(&text.as_str()), "{}", text);
        }
    }
}

/// A few exact renderings, so that the oracle (`Display`) is not only
/// checked against itself. Expected strings are Python 3's `str()`.
#[test]
fn exact_value_renderings() {
    let cases: &[(Value<'_>, &str)] = &[
        (Value::from("c&d=e"), "c&d=e"),
        (Value::from(""), ""),
        (Value::from(-5_i8), "-5"),
        (Value::from(i64::MIN), "-9223372036854775808"),
        (Value::from(u64::MAX), "18446744073709551615"),
        (Value::from(99.95), "99.95"),
        (Value::from(1.0), "1.0"),
        (Value::from(-0.0), "-0.0"),
        (Value::from(1e16), "1e+16"),
        (Value::from(1e-5), "1e-05"),
        (Value::from(0.0001), "0.0001"),
        (Value::from(123_456_789.125), "123456789.125"),
        (Value::from(f64::NAN), "nan"),
        (Value::from(f64::NEG_INFINITY), "-inf"),
        (Value::from(0.1_f32), "0.1"),
        (Value::from(16_777_216.0_f32), "16777216.0"),
        (Value::from(true), "True"),
        (Value::from(false), "False"),
    ];
    for (value, want) in cases {
        assert_eq!(value.to_string(), *want, "{value:?}");
    }
}

/// Every rule is reachable from `invalid_call`, so the property above
/// covers them all.
#[test]
fn invalid_call_covers_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = invalid_call();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2000 {
        seen.insert(strategy.new_tree(&mut runner).unwrap().current().rule);
    }
    let missing: Vec<&Rule> = Rule::ALL.iter().filter(|r| !seen.contains(*r)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
}
