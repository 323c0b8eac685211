//! Test inputs and their expected outcomes, for property tests and fuzzing.
//!
//! Enabled by the `proptest` and `arbitrary` features (neither is on by
//! default). It gives anyone who writes a transport, a client on top of
//! km-proto, or km-proto itself the same inputs and the same oracle:
//!
//! - [`CallInput`]: an owned description of one `record`, `set` or `alias`
//!   call, which [`CallInput::build`] turns into a request with an
//!   [`Encoder`];
//! - the oracle, written from the rules of the protocol and not from the
//!   encoder's code: [`CallInput::expected_pairs`] (what decoding the query
//!   must give), [`CallInput::expected_path`], [`CallInput::expected_uri`] and
//!   [`CallInput::expected_error`] (which rule a call breaks first);
#![cfg_attr(
    feature = "proptest",
    doc = "- with `proptest`: strategies for valid calls ([`valid_call`]), calls that
  break exactly one [`Rule`] ([`invalid_call`]), both ([`any_call`]), and
  their building blocks ([`nasty_string`], [`value`], [`properties`] …);"
)]
#![cfg_attr(
    not(feature = "proptest"),
    doc = "- with `proptest`: strategies for valid calls, calls that break exactly
  one [`Rule`], both, and their building blocks;"
)]
#![cfg_attr(
    feature = "arbitrary",
    doc = "- with `arbitrary`: [`arbitrary::Arbitrary`] for [`CallInput`] and its
  parts, for cargo-fuzz targets."
)]
#![cfg_attr(
    not(feature = "arbitrary"),
    doc = "- with `arbitrary`: `arbitrary::Arbitrary` for [`CallInput`] and its
  parts, for cargo-fuzz targets."
)]
//!
//! Invalid calls never reach a transport: [`CallInput::build`] returns the
//! error that [`CallInput::expected_error`] predicts.
#![cfg_attr(
    feature = "proptest",
    doc = r#"
# Property-testing a custom transport

A transport must deliver the request unchanged. Here the "server" is a
closure that decodes the query it receives. A real transport would be
pointed at the loopback tracking server of the `km-testkit` crate instead
(it records every request it gets), so that sockets, TLS and proxies are
exercised too; the same strategies and oracle apply.

```
use std::cell::RefCell;
use km_proto::http::{Request, Response};
use km_proto::testing::{decode_query, valid_call};
use km_proto::{Encoder, Transport, TransportResult};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

let received = RefCell::new(Vec::new());
let transport = |req: Request<()>| -> TransportResult {
    let query = decode_query(req.uri().query().unwrap_or(""));
    received.borrow_mut().push((req.uri().path().to_owned(), query));
    Ok(Response::new(b"GIF89a".to_vec()))
};

let encoder = Encoder::new("my key")?;
let mut runner = TestRunner::new(Config::with_cases(64));
runner.run(&valid_call(), |call| {
    let request = call.build(&encoder).expect("a valid call builds");
    transport.send(request).expect("the closure always answers");
    let (path, pairs) = received.borrow_mut().pop().expect("one request");
    prop_assert_eq!(path, call.expected_path());
    prop_assert_eq!(pairs, call.expected_pairs("my key"));
    Ok(())
})?;
# Ok::<(), Box<dyn std::error::Error>>(())
```
"#
)]

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Request;

use crate::{AsValue, Call, Encoder, Error, Field, Options, Timestamp, TimestampError, Value};

#[cfg(feature = "proptest")]
mod strategies;
#[cfg(feature = "proptest")]
pub use strategies::{
    any_call, event, invalid_call, invalid_timestamp, nasty_char, nasty_string, path, person,
    properties, property_name, valid_call, valid_timestamp, value, InvalidCall, VALID_QUERY_BUDGET,
};

/// The longest URI a request may have, in bytes: the limit of [`http::Uri`].
///
/// Restated here (and not taken from the encoder) so that the oracle stays
/// independent of the code it checks.
const URI_LIMIT: usize = 65_534;

/// A property value that owns its text: the owned form of [`Value`].
///
/// ```
/// use km_proto::testing::OwnedValue;
/// use km_proto::{AsValue, Value};
/// assert_eq!(OwnedValue::Str("Pro".into()).as_value(), Value::Str("Pro"));
/// assert_eq!(OwnedValue::Float(1.0).to_string(), "1.0");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OwnedValue {
    /// Text.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A double-precision float.
    Float(f64),
    /// A single-precision float.
    Float32(f32),
    /// A boolean.
    Bool(bool),
}

impl AsValue for OwnedValue {
    fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Str(s) => Value::Str(s),
            OwnedValue::Int(i) => Value::Int(*i),
            OwnedValue::UInt(u) => Value::UInt(*u),
            OwnedValue::Float(x) => Value::Float(*x),
            OwnedValue::Float32(x) => Value::Float32(*x),
            OwnedValue::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Renders as [`Value`] does: the text that goes on the wire.
impl fmt::Display for OwnedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_value().fmt(f)
    }
}

/// A call's timestamp, in each form [`Timestamp`] is built from.
///
/// ```
/// use km_proto::testing::TimestampInput;
/// use km_proto::TimestampError;
/// assert_eq!(TimestampInput::Float(1381849312.5).expected_secs(), Ok(1381849312));
/// let before = TimestampInput::System { before_epoch: true, secs: 1, nanos: 0 };
/// assert_eq!(before.expected_secs(), Err(TimestampError::Negative));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TimestampInput {
    /// `Timestamp::from(u64)`.
    Unsigned(u64),
    /// `Timestamp::from(i64)`.
    Signed(i64),
    /// `Timestamp::from(f64)`.
    Float(f64),
    /// `Timestamp::from(f32)`.
    Float32(f32),
    /// `Timestamp::from(SystemTime)`: the Unix epoch plus (or, with
    /// `before_epoch`, minus) `secs` seconds and `nanos` nanoseconds
    /// (`nanos` is taken modulo 10⁹).
    System {
        /// Whether the time lies before the epoch.
        before_epoch: bool,
        /// Whole seconds from the epoch.
        secs: u32,
        /// Nanoseconds on top of `secs`.
        nanos: u32,
    },
}

impl TimestampInput {
    /// The [`Timestamp`] this stands for.
    #[must_use]
    pub fn to_timestamp(self) -> Timestamp {
        match self {
            TimestampInput::Unsigned(s) => Timestamp::from(s),
            TimestampInput::Signed(s) => Timestamp::from(s),
            TimestampInput::Float(x) => Timestamp::from(x),
            TimestampInput::Float32(x) => Timestamp::from(x),
            TimestampInput::System {
                before_epoch,
                secs,
                nanos,
            } => {
                let offset = Duration::new(secs.into(), nanos % 1_000_000_000);
                // Within ±2³² s of the epoch: representable on every platform.
                let time = if before_epoch {
                    UNIX_EPOCH.checked_sub(offset)
                } else {
                    UNIX_EPOCH.checked_add(offset)
                };
                Timestamp::from(time.unwrap_or(SystemTime::UNIX_EPOCH))
            }
        }
    }

    /// The whole seconds the call must send as `_t`, or why it is refused:
    /// negative (including any time before the epoch), not finite, or not
    /// fitting in a `u64`. Floats are truncated toward zero; `-0.0` is zero.
    ///
    /// # Errors
    /// The [`TimestampError`] the encoder must report.
    pub fn expected_secs(self) -> Result<u64, TimestampError> {
        match self {
            TimestampInput::Unsigned(s) => Ok(s),
            TimestampInput::Signed(s) if s < 0 => Err(TimestampError::Negative),
            TimestampInput::Signed(s) => Ok(s.unsigned_abs()),
            TimestampInput::Float(x) => whole_secs_of_float(x),
            TimestampInput::Float32(x) => whole_secs_of_float(x.into()),
            TimestampInput::System {
                before_epoch,
                secs,
                nanos,
            } => {
                if before_epoch && (secs > 0 || nanos % 1_000_000_000 > 0) {
                    Err(TimestampError::Negative)
                } else if before_epoch {
                    Ok(0)
                } else {
                    Ok(secs.into())
                }
            }
        }
    }
}

/// 2⁶⁴ as a float: the first value that no longer fits in `u64` seconds.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

fn whole_secs_of_float(x: f64) -> Result<u64, TimestampError> {
    if x.is_nan() || x.is_infinite() {
        Err(TimestampError::NotFinite)
    } else if x < 0.0 {
        Err(TimestampError::Negative)
    } else if x >= TWO_POW_64 {
        Err(TimestampError::TooLarge)
    } else {
        // `trunc` is exact and in range, so the cast is exact too.
        Ok(x.trunc() as u64)
    }
}

/// One `record`, `set` or `alias` call, owning all of its inputs.
///
/// ```
/// use km_proto::testing::{CallInput, OwnedValue};
/// use km_proto::{Encoder, Error, Field};
///
/// let call = CallInput::Set {
///     person: "bar".into(),
///     properties: vec![("cool".into(), OwnedValue::Int(1))],
///     timestamp: None,
///     path: None,
/// };
/// let enc = Encoder::new("foo")?;
/// assert_eq!(call.expected_error(&enc), None);
/// let req = call.build(&enc)?;
/// assert_eq!(req.uri().path(), call.expected_path());
/// assert_eq!(call.expected_pairs("foo"), [("_k", "foo"), ("_p", "bar"), ("cool", "1")].map(|(k, v)| (k.to_owned(), v.to_owned())));
///
/// let empty = CallInput::Alias { person: "a".into(), identity: "".into(), timestamp: None, path: None };
/// assert_eq!(empty.expected_error(&enc), Some(Error::Empty { field: Field::Identity }));
/// assert_eq!(empty.build(&enc).unwrap_err(), Error::Empty { field: Field::Identity });
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum CallInput {
    /// [`Encoder::record`].
    Record {
        /// `_p`.
        person: String,
        /// `_n`.
        event: String,
        /// The properties, in order.
        properties: Vec<(String, OwnedValue)>,
        /// [`Options::timestamp`].
        timestamp: Option<TimestampInput>,
        /// [`Options::path`].
        path: Option<String>,
    },
    /// [`Encoder::set`].
    Set {
        /// `_p`.
        person: String,
        /// The properties, in order.
        properties: Vec<(String, OwnedValue)>,
        /// [`Options::timestamp`].
        timestamp: Option<TimestampInput>,
        /// [`Options::path`].
        path: Option<String>,
    },
    /// [`Encoder::alias`].
    Alias {
        /// `_p`.
        person: String,
        /// `_n`.
        identity: String,
        /// [`Options::timestamp`]; any timestamp is an error on `alias`.
        timestamp: Option<TimestampInput>,
        /// [`Options::path`].
        path: Option<String>,
    },
}

impl CallInput {
    /// Which call this is.
    #[must_use]
    pub fn call(&self) -> Call {
        match self {
            CallInput::Record { .. } => Call::Record,
            CallInput::Set { .. } => Call::Set,
            CallInput::Alias { .. } => Call::Alias,
        }
    }

    /// The person (`_p`).
    #[must_use]
    pub fn person(&self) -> &str {
        match self {
            CallInput::Record { person, .. }
            | CallInput::Set { person, .. }
            | CallInput::Alias { person, .. } => person,
        }
    }

    /// The properties (none for `alias`).
    #[must_use]
    pub fn properties(&self) -> &[(String, OwnedValue)] {
        match self {
            CallInput::Record { properties, .. } | CallInput::Set { properties, .. } => properties,
            CallInput::Alias { .. } => &[],
        }
    }

    /// The timestamp option.
    #[must_use]
    pub fn timestamp(&self) -> Option<TimestampInput> {
        match self {
            CallInput::Record { timestamp, .. }
            | CallInput::Set { timestamp, .. }
            | CallInput::Alias { timestamp, .. } => *timestamp,
        }
    }

    /// The path option.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        match self {
            CallInput::Record { path, .. }
            | CallInput::Set { path, .. }
            | CallInput::Alias { path, .. } => path.as_deref(),
        }
    }

    /// The [`Options`] of the call.
    pub fn options(&self) -> Options<'_> {
        Options::new()
            .timestamp_opt(self.timestamp().map(TimestampInput::to_timestamp))
            .path_opt(self.path())
    }

    /// Builds the call's request with `encoder`.
    ///
    /// # Errors
    /// Whatever the encoder refuses; for a correct encoder, exactly
    /// [`CallInput::expected_error`].
    pub fn build(&self, encoder: &Encoder) -> Result<Request<()>, Error> {
        match self {
            CallInput::Record {
                person,
                event,
                properties,
                ..
            } => encoder.record(person, event, properties.as_slice(), self.options()),
            CallInput::Set {
                person, properties, ..
            } => encoder.set(person, properties.as_slice(), self.options()),
            CallInput::Alias {
                person, identity, ..
            } => encoder.alias(person, identity, self.options()),
        }
    }

    /// The pairs that decoding the request's query must give, in order,
    /// for a call whose [`expected_error`](Self::expected_error) is `None`.
    ///
    /// The rules, from the protocol: `_k` = `key`, `_p` = person; with a
    /// timestamp `_d` = `1` and `_t` = its whole seconds, a property named
    /// `_d` or `_t` taking the generated value's place; `_n` = event or
    /// alias identity; then the other properties in order. Values read as
    /// [`Value`]'s `Display` renders them, except a float `_t`, which is
    /// sent as integer seconds.
    #[must_use]
    pub fn expected_pairs(&self, key: &str) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("_k".to_owned(), key.to_owned()),
            ("_p".to_owned(), self.person().to_owned()),
        ];
        let props = self.properties();
        let stamped = match (
            self.call(),
            self.timestamp().map(TimestampInput::expected_secs),
        ) {
            (Call::Alias, _) | (_, None | Some(Err(_))) => false,
            (_, Some(Ok(secs))) => {
                let find = |wanted: &str| props.iter().find(|(name, _)| name == wanted);
                pairs.push((
                    "_d".to_owned(),
                    find("_d").map_or_else(|| "1".to_owned(), |(n, v)| wire_text(n, v)),
                ));
                pairs.push((
                    "_t".to_owned(),
                    find("_t").map_or_else(|| secs.to_string(), |(n, v)| wire_text(n, v)),
                ));
                true
            }
        };
        match self {
            CallInput::Record { event: name, .. } | CallInput::Alias { identity: name, .. } => {
                pairs.push(("_n".to_owned(), name.clone()));
            }
            CallInput::Set { .. } => {}
        }
        pairs.extend(
            props
                .iter()
                .filter(|(name, _)| !(stamped && (name == "_d" || name == "_t")))
                .map(|(name, value)| (name.clone(), wire_text(name, value))),
        );
        pairs
    }

    /// The request's path: `/` and the path option (one leading `/`
    /// optional) or the call's default.
    #[must_use]
    pub fn expected_path(&self) -> String {
        let path = self.path().unwrap_or(self.call().default_path());
        format!("/{}", path.strip_prefix('/').unwrap_or(path))
    }

    /// The whole URI a valid call must have with `encoder`: its endpoint,
    /// [`expected_path`](Self::expected_path) and the
    /// [`expected_pairs`](Self::expected_pairs) form-encoded as
    /// `form_urlencoded` encodes them.
    #[must_use]
    pub fn expected_uri(&self, encoder: &Encoder) -> String {
        let mut uri = format!("{}{}?", encoder.endpoint(), self.expected_path());
        let start = uri.len();
        form_urlencoded::Serializer::for_suffix(&mut uri, start)
            .extend_pairs(self.expected_pairs(encoder.key().expose_secret()))
            .finish();
        uri
    }

    /// The error the encoder must return, or `None` when the call is valid.
    ///
    /// Derived from the rules of PROTOCOL.md §3. When several rules are
    /// broken, the first in this order is reported:
    /// - `record`: event name, person, timestamp, path, properties;
    /// - `set`: person, timestamp, path, properties;
    /// - `alias`: timestamp (any is refused), alias identity, person, path;
    ///
    /// and, last, a URI longer than 65,534 bytes (the limit of
    /// [`http::Uri`]). Properties are checked one by one in order, each for:
    /// empty name, reserved name (`_k`, `_p`, `_n`), bad `_t`/`_d` value,
    /// then a name already seen.
    #[must_use]
    pub fn expected_error(&self, encoder: &Encoder) -> Option<Error> {
        match self.validate() {
            Err(e) => Some(e),
            Ok(()) => {
                let len = self.expected_uri(encoder).len();
                (len > URI_LIMIT).then_some(Error::RequestTooLong {
                    len,
                    max: URI_LIMIT,
                })
            }
        }
    }

    fn validate(&self) -> Result<(), Error> {
        match self {
            CallInput::Record {
                person,
                event,
                properties,
                timestamp,
                path,
            } => {
                if event.is_empty() {
                    return Err(Error::Empty {
                        field: Field::Event,
                    });
                }
                check_identity(Field::Person, person)?;
                check_timestamp(*timestamp)?;
                check_path(path.as_deref().unwrap_or("e"))?;
                check_properties(properties)
            }
            CallInput::Set {
                person,
                properties,
                timestamp,
                path,
            } => {
                check_identity(Field::Person, person)?;
                check_timestamp(*timestamp)?;
                check_path(path.as_deref().unwrap_or("s"))?;
                check_properties(properties)
            }
            CallInput::Alias {
                person,
                identity,
                timestamp,
                path,
            } => {
                if timestamp.is_some() {
                    return Err(Error::TimestampNotAllowed { call: Call::Alias });
                }
                check_identity(Field::Identity, identity)?;
                check_identity(Field::Person, person)?;
                check_path(path.as_deref().unwrap_or("a"))
            }
        }
    }
}

/// The decoded text of a property value on the wire.
fn wire_text(name: &str, value: &OwnedValue) -> String {
    match value {
        // A (validated, whole) float `_t` is sent as integer seconds.
        OwnedValue::Float(x) if name == "_t" => format!("{}", x.trunc() as u64),
        OwnedValue::Float32(x) if name == "_t" => format!("{}", x.trunc() as u64),
        other => other.to_string(),
    }
}

fn check_identity(field: Field, value: &str) -> Result<(), Error> {
    let chars = value.chars().count();
    if chars == 0 {
        Err(Error::Empty { field })
    } else if chars > 255 {
        Err(Error::TooLong {
            field,
            len: chars,
            max: 255,
        })
    } else {
        Ok(())
    }
}

fn check_timestamp(timestamp: Option<TimestampInput>) -> Result<(), Error> {
    match timestamp.map(TimestampInput::expected_secs) {
        Some(Err(reason)) => Err(Error::InvalidTimestamp { reason }),
        _ => Ok(()),
    }
}

fn check_path(path: &str) -> Result<(), Error> {
    let invalid = |reason| {
        Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        return Err(Error::Empty { field: Field::Path });
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("contains whitespace or a control character");
    }
    if path.chars().any(|c| c == '?' || c == '#') {
        return invalid("contains ? or #, which would change the request's shape");
    }
    // RFC 3986: segment = *pchar, pchar = unreserved / pct-encoded /
    // sub-delims / ":" / "@", and "/" between segments.
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        let ok = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' => true,
            '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' => true,
            ':' | '@' | '/' => true,
            '%' => {
                let hex = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit());
                hex(chars.next()) && hex(chars.next())
            }
            _ => false,
        };
        if !ok {
            return invalid("may contain only URI path characters (RFC 3986 pchar and /)");
        }
    }
    Ok(())
}

fn check_properties(properties: &[(String, OwnedValue)]) -> Result<(), Error> {
    for (i, (name, value)) in properties.iter().enumerate() {
        match name.as_str() {
            "" => {
                return Err(Error::Empty {
                    field: Field::PropertyName,
                })
            }
            "_k" | "_p" | "_n" => {
                return Err(Error::ReservedProperty { name: name.clone() });
            }
            "_t" if !is_whole_seconds(value) => {
                return Err(Error::InvalidBackdate {
                    name: "_t",
                    value: value.to_string(),
                });
            }
            "_d" if !is_back_date_flag(value) => {
                return Err(Error::InvalidBackdate {
                    name: "_d",
                    value: value.to_string(),
                });
            }
            _ => {}
        }
        if properties[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Error::DuplicateProperty { name: name.clone() });
        }
    }
    Ok(())
}

/// Whether a `_t` value is a whole number of seconds from 0 to `u64::MAX`.
fn is_whole_seconds(value: &OwnedValue) -> bool {
    match value {
        OwnedValue::Int(i) => *i >= 0,
        OwnedValue::UInt(_) => true,
        OwnedValue::Float(x) => whole_secs_of_float(*x).is_ok() && x.fract() == 0.0,
        OwnedValue::Float32(x) => {
            whole_secs_of_float((*x).into()).is_ok() && f64::from(*x).fract() == 0.0
        }
        OwnedValue::Str(s) => {
            let digits = s.trim_start_matches('0');
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && (digits.len() < 20 || (digits.len() == 20 && digits <= "18446744073709551615"))
        }
        OwnedValue::Bool(_) => false,
    }
}

/// Whether a `_d` value is `0` or `1` (integer or text).
fn is_back_date_flag(value: &OwnedValue) -> bool {
    match value {
        OwnedValue::Int(i) => *i == 0 || *i == 1,
        OwnedValue::UInt(u) => *u == 0 || *u == 1,
        OwnedValue::Str(s) => s == "0" || s == "1",
        OwnedValue::Float(_) | OwnedValue::Float32(_) | OwnedValue::Bool(_) => false,
    }
}

/// Decodes a query string into its pairs, as a server does
/// (`application/x-www-form-urlencoded`).
///
/// ```
/// use km_proto::testing::decode_query;
/// assert_eq!(decode_query("a+b=c%26d%3De&x="), [("a b".to_owned(), "c&d=e".to_owned()), ("x".to_owned(), String::new())]);
/// ```
#[must_use]
pub fn decode_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A rule of PROTOCOL.md §3 that a [`CallInput`] can break.
///
/// The rules about the key, scheme and host are checked when the
/// [`Encoder`] and [`Endpoint`](crate::Endpoint) are made, not per call.
///
/// ```
/// use km_proto::testing::Rule;
/// use km_proto::{Error, Field};
/// assert!(Rule::EmptyPerson.matches(&Error::Empty { field: Field::Person }));
/// assert!(!Rule::EmptyPerson.matches(&Error::Empty { field: Field::Event }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The person is empty.
    EmptyPerson,
    /// The person is longer than 255 characters.
    PersonTooLong,
    /// The event name of a `record` is empty.
    EmptyEvent,
    /// The identity of an `alias` is empty.
    EmptyIdentity,
    /// The identity of an `alias` is longer than 255 characters.
    IdentityTooLong,
    /// A property name is empty.
    EmptyPropertyName,
    /// A property is named `_k`, `_p` or `_n`.
    ReservedProperty,
    /// A `_t` property is not a whole number of seconds from 0 to `u64::MAX`.
    InvalidBackdateTime,
    /// A `_d` property is not `0` or `1`.
    InvalidBackdateFlag,
    /// Two properties have the same name.
    DuplicateProperty,
    /// The timestamp is negative, not finite or too large.
    InvalidTimestamp,
    /// An `alias` has a timestamp.
    TimestampOnAlias,
    /// The path is empty (or only `/`).
    EmptyPath,
    /// The path has whitespace, a control character, `?`, `#` or another
    /// character outside RFC 3986's `pchar` and `/`.
    InvalidPath,
    /// The request's URI would be longer than 65,534 bytes.
    RequestTooLong,
}

impl Rule {
    /// Every rule.
    pub const ALL: &'static [Rule] = &[
        Rule::EmptyPerson,
        Rule::PersonTooLong,
        Rule::EmptyEvent,
        Rule::EmptyIdentity,
        Rule::IdentityTooLong,
        Rule::EmptyPropertyName,
        Rule::ReservedProperty,
        Rule::InvalidBackdateTime,
        Rule::InvalidBackdateFlag,
        Rule::DuplicateProperty,
        Rule::InvalidTimestamp,
        Rule::TimestampOnAlias,
        Rule::EmptyPath,
        Rule::InvalidPath,
        Rule::RequestTooLong,
    ];

    /// Whether `error` is the error this rule calls for.
    #[must_use]
    pub fn matches(self, error: &Error) -> bool {
        match (self, error) {
            (Rule::EmptyPerson, Error::Empty { field }) => *field == Field::Person,
            (Rule::EmptyEvent, Error::Empty { field }) => *field == Field::Event,
            (Rule::EmptyIdentity, Error::Empty { field }) => *field == Field::Identity,
            (Rule::EmptyPropertyName, Error::Empty { field }) => *field == Field::PropertyName,
            (Rule::EmptyPath, Error::Empty { field }) => *field == Field::Path,
            (Rule::PersonTooLong, Error::TooLong { field, len, max }) => {
                *field == Field::Person && len > max
            }
            (Rule::IdentityTooLong, Error::TooLong { field, len, max }) => {
                *field == Field::Identity && len > max
            }
            (Rule::InvalidBackdateTime, Error::InvalidBackdate { name, .. }) => *name == "_t",
            (Rule::InvalidBackdateFlag, Error::InvalidBackdate { name, .. }) => *name == "_d",
            (Rule::ReservedProperty, Error::ReservedProperty { .. })
            | (Rule::DuplicateProperty, Error::DuplicateProperty { .. })
            | (Rule::InvalidTimestamp, Error::InvalidTimestamp { .. })
            | (Rule::InvalidPath, Error::InvalidPath { .. })
            | (Rule::RequestTooLong, Error::RequestTooLong { .. }) => true,
            (Rule::TimestampOnAlias, Error::TimestampNotAllowed { call }) => *call == Call::Alias,
            _ => false,
        }
    }
}
