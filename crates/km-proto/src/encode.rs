//! Turning calls into requests.

use std::fmt;

use http::{Request, Uri};

use crate::endpoint::Endpoint;
use crate::error::{Error, Field};
use crate::props::Properties;
use crate::timestamp::{float_secs, Timestamp};
use crate::value::{PyFloat, Value};

/// The longest person or alias identity the service accepts, in characters.
pub const MAX_IDENTITY_CHARS: usize = 255;

/// The longest URI [`http::Uri`] accepts, in bytes.
const MAX_URI_LEN: usize = 65_534;

/// The three calls of the tracking service.
///
/// ```
/// use km_proto::Call;
/// assert_eq!(Call::Record.default_path(), "e");
/// assert_eq!(Call::Alias.to_string(), "alias");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// Record an event (`/e`).
    Record,
    /// Set properties (`/s`).
    Set,
    /// Alias two identities (`/a`).
    Alias,
}

impl Call {
    /// `"record"`, `"set"` or `"alias"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Call::Record => "record",
            Call::Set => "set",
            Call::Alias => "alias",
        }
    }

    /// The path the call goes to unless overridden: `e`, `s` or `a`.
    #[must_use]
    pub const fn default_path(self) -> &'static str {
        match self {
            Call::Record => "e",
            Call::Set => "s",
            Call::Alias => "a",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The API key: a secret whose `Debug` and `Display` show `***`.
///
/// ```
/// use km_proto::ApiKey;
/// let key = ApiKey::new("s3cret").unwrap();
/// assert_eq!(format!("{key:?} {key}"), "ApiKey(***) ***");
/// assert_eq!(key.expose_secret(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Box<str>);

impl ApiKey {
    /// Wraps a key.
    ///
    /// # Errors
    /// [`Error::Empty`] with [`Field::Key`] for an empty key.
    pub fn new(key: &str) -> Result<Self, Error> {
        if key.is_empty() {
            return Err(Error::Empty { field: Field::Key });
        }
        Ok(ApiKey(key.into()))
    }

    /// The key itself. The name is there to make each use stand out in review.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Per-call options: a back-dating timestamp and a path override.
///
/// ```
/// use km_proto::{Encoder, Options};
/// let enc = Encoder::new("k").unwrap();
/// let req = enc.record("bob", "x", (), Options::new().timestamp(1381849312).path("get")).unwrap();
/// assert_eq!(req.uri().path(), "/get");
/// assert_eq!(req.uri().query(), Some("_k=k&_p=bob&_d=1&_t=1381849312&_n=x"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[must_use]
pub struct Options<'a> {
    timestamp: Option<Timestamp>,
    path: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// No timestamp, the call's default path.
    pub const fn new() -> Self {
        Options {
            timestamp: None,
            path: None,
        }
    }

    /// Back-dates the call: sends `_d=1` and `_t` (whole seconds, truncated
    /// toward zero). Not allowed on `alias`.
    pub fn timestamp(mut self, timestamp: impl Into<Timestamp>) -> Self {
        self.timestamp = Some(timestamp.into());
        self
    }

    /// Sets or clears the timestamp.
    pub fn timestamp_opt(mut self, timestamp: Option<Timestamp>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Sends to this path instead of the call's default (`get` → `/get`; a
    /// leading `/` is optional).
    pub const fn path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }

    /// Sets or clears the path override.
    pub const fn path_opt(mut self, path: Option<&'a str>) -> Self {
        self.path = path;
        self
    }

    /// The timestamp, if any.
    #[must_use]
    pub fn get_timestamp(&self) -> Option<Timestamp> {
        self.timestamp
    }

    /// The path override, if any.
    #[must_use]
    pub fn get_path(&self) -> Option<&'a str> {
        self.path
    }
}

/// Builds the requests of one account (API key) and endpoint.
///
/// Sans-IO: it returns [`http::Request`] values for a transport to send and
/// never touches the network, a file or the clock. Cheap to clone and share.
///
/// ```
/// use km_proto::{Encoder, Endpoint, Options, Scheme};
///
/// let enc = Encoder::new("my key").unwrap();
/// let req = enc.record("bob@bob.com", "Signed Up", [("Plan", "Pro")], Options::new()).unwrap();
/// assert_eq!(req.method(), "GET");
/// assert_eq!(
///     req.uri().to_string(),
///     "https://trk.kissmetrics.io/e?_k=my+key&_p=bob%40bob.com&_n=Signed+Up&Plan=Pro"
/// );
///
/// let local = Encoder::with_endpoint("k", Endpoint::new(Scheme::Http, "127.0.0.1:8080").unwrap()).unwrap();
/// let req = local.alias("bob", "bob@bob.com", Options::new()).unwrap();
/// assert_eq!(req.uri().to_string(), "http://127.0.0.1:8080/a?_k=k&_p=bob&_n=bob%40bob.com");
/// ```
#[derive(Clone)]
pub struct Encoder {
    key: ApiKey,
    endpoint: Endpoint,
    /// `scheme://host/`
    prefix: Box<str>,
    /// The form-encoded key.
    key_encoded: Box<[u8]>,
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encoder")
            .field("key", &self.key)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Encoder {
    /// An encoder for the default endpoint, `https://trk.kissmetrics.io`.
    ///
    /// # Errors
    /// [`Error::Empty`] for an empty key.
    pub fn new(key: &str) -> Result<Self, Error> {
        Self::with_endpoint(key, Endpoint::default())
    }

    /// An encoder for another endpoint.
    ///
    /// # Errors
    /// [`Error::Empty`] for an empty key.
    pub fn with_endpoint(key: &str, endpoint: Endpoint) -> Result<Self, Error> {
        let key = ApiKey::new(key)?;
        let prefix = format!("{endpoint}/").into_boxed_str();
        let mut key_encoded = Vec::new();
        push_encoded(&mut key_encoded, key.expose_secret());
        Ok(Encoder {
            key,
            endpoint,
            prefix,
            key_encoded: key_encoded.into_boxed_slice(),
        })
    }

    /// The API key.
    #[must_use]
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The request that records `event` for `person`.
    ///
    /// Pairs, in order: `_k`, `_p`, `_d=1` and `_t` when a timestamp is
    /// given, `_n`, then the properties. A property named `_d` or `_t`
    /// replaces the generated pair of that name in its place.
    ///
    /// ```
    /// use km_proto::{Encoder, Options};
    /// let req = Encoder::new("k").unwrap()
    ///     .record("bob", "Signed Up", [("_d", 1), ("_t", 1234567890)], Options::new())
    ///     .unwrap();
    /// assert_eq!(req.uri().query(), Some("_k=k&_p=bob&_n=Signed+Up&_d=1&_t=1234567890"));
    /// ```
    ///
    /// # Errors
    /// Any [`Error`] the inputs deserve; nothing is built then.
    pub fn record<P: Properties>(
        &self,
        person: &str,
        event: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Request<()>, Error> {
        check_name(Field::Event, event, false)?;
        self.build(Call::Record, person, Some(event), &properties, options)
    }

    /// The request that sets properties on `person`.
    ///
    /// Pairs, in order: `_k`, `_p`, `_d=1` and `_t` when a timestamp is
    /// given, then the properties.
    ///
    /// ```
    /// use km_proto::{Encoder, Options};
    /// let req = Encoder::new("k").unwrap().set("bob", [("cool", "1")], Options::new()).unwrap();
    /// assert_eq!(req.uri().to_string(), "https://trk.kissmetrics.io/s?_k=k&_p=bob&cool=1");
    /// ```
    ///
    /// # Errors
    /// Any [`Error`] the inputs deserve; nothing is built then.
    pub fn set<P: Properties>(
        &self,
        person: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Request<()>, Error> {
        self.build(Call::Set, person, None, &properties, options)
    }

    /// The request that aliases `person` to `identity` (`_p` and `_n`).
    ///
    /// ```
    /// use km_proto::{Encoder, Options};
    /// let req = Encoder::new("k").unwrap().alias("bar", "baz", Options::new()).unwrap();
    /// assert_eq!(req.uri().query(), Some("_k=k&_p=bar&_n=baz"));
    /// ```
    ///
    /// # Errors
    /// Any [`Error`] the inputs deserve, including
    /// [`Error::TimestampNotAllowed`]; nothing is built then.
    pub fn alias(
        &self,
        person: &str,
        identity: &str,
        options: Options<'_>,
    ) -> Result<Request<()>, Error> {
        if options.timestamp.is_some() {
            return Err(Error::TimestampNotAllowed { call: Call::Alias });
        }
        check_name(Field::Identity, identity, true)?;
        self.build(Call::Alias, person, Some(identity), &(), options)
    }

    fn build<P: Properties + ?Sized>(
        &self,
        call: Call,
        person: &str,
        name: Option<&str>,
        properties: &P,
        options: Options<'_>,
    ) -> Result<Request<()>, Error> {
        check_name(Field::Person, person, true)?;
        let timestamp = options.timestamp.map(Timestamp::as_secs).transpose()?;
        let path = check_path(options.path.unwrap_or(call.default_path()))?;
        let scan = scan_properties(properties, timestamp.is_some())?;

        let mut len = self.prefix.len()
            + path.len()
            + "?_k=".len()
            + self.key_encoded.len()
            + "&_p=".len()
            + encoded_len(person)
            + scan.len;
        if let Some(name) = name {
            len += "&_n=".len() + encoded_len(name);
        }
        if let Some(t) = timestamp {
            len += "&_d=1&_t=".len() + decimal_len(t);
        }

        let mut uri = Vec::with_capacity(len);
        uri.extend_from_slice(self.prefix.as_bytes());
        uri.extend_from_slice(path.as_bytes());
        uri.extend_from_slice(b"?_k=");
        uri.extend_from_slice(&self.key_encoded);
        uri.extend_from_slice(b"&_p=");
        push_encoded(&mut uri, person);
        if let Some(t) = timestamp {
            // A property `_d`/`_t` replaces the generated value in its place,
            // as the reference's dict merge does.
            uri.extend_from_slice(b"&_d=");
            if scan.has_d {
                write_override(&mut uri, properties, "_d");
            } else {
                uri.push(b'1');
            }
            uri.extend_from_slice(b"&_t=");
            if scan.has_t {
                write_override(&mut uri, properties, "_t");
            } else {
                push_decimal(&mut uri, t);
            }
        }
        if let Some(name) = name {
            uri.extend_from_slice(b"&_n=");
            push_encoded(&mut uri, name);
        }
        let placed = timestamp.is_some();
        // The closure never fails; the error type only satisfies the trait.
        let _ = properties.try_for_each(|key, value| -> Result<(), ()> {
            if placed && (key == "_d" || key == "_t") {
                return Ok(());
            }
            uri.push(b'&');
            push_encoded(&mut uri, key);
            uri.push(b'=');
            push_value(&mut uri, key, value);
            Ok(())
        });
        debug_assert!(uri.len() <= len, "{} > {len}", uri.len());
        into_request(uri, path)
    }
}

/// Hands a finished URI to `http`: `TryFrom<Vec<u8>>` takes the buffer
/// without copying it.
fn into_request(uri: Vec<u8>, path: &str) -> Result<Request<()>, Error> {
    if uri.len() > MAX_URI_LEN {
        return Err(Error::RequestTooLong {
            len: uri.len(),
            max: MAX_URI_LEN,
        });
    }
    let uri = Uri::try_from(uri).map_err(|_| Error::InvalidPath {
        path: path.to_owned(),
        reason: "does not form a valid URI",
    })?;
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    Ok(request)
}

fn check_name(field: Field, value: &str, limited: bool) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::Empty { field });
    }
    // A string of at most 255 bytes has at most 255 characters.
    if limited && value.len() > MAX_IDENTITY_CHARS {
        let len = value.chars().count();
        if len > MAX_IDENTITY_CHARS {
            return Err(Error::TooLong {
                field,
                len,
                max: MAX_IDENTITY_CHARS,
            });
        }
    }
    Ok(())
}

/// Validates a path and strips one leading `/`.
fn check_path(path: &str) -> Result<&str, Error> {
    let bad = |reason| {
        Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Err(Error::Empty { field: Field::Path });
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains whitespace or a control character");
    }
    if path.contains(['?', '#']) {
        return bad("contains ? or #, which would change the request's shape");
    }
    let bytes = trimmed.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/".contains(&b)
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if !ok {
            return bad("may contain only URI path characters (RFC 3986 pchar and /)");
        }
    }
    Ok(trimmed)
}

struct Scan {
    /// Encoded length of `&name=value` for every property written in the
    /// property section or in place of `_d`/`_t` (an upper bound for floats).
    len: usize,
    has_d: bool,
    has_t: bool,
}

/// Validates every property and measures its encoded length.
fn scan_properties<P: Properties + ?Sized>(props: &P, timestamp: bool) -> Result<Scan, Error> {
    let mut scan = Scan {
        len: 0,
        has_d: false,
        has_t: false,
    };
    // A 256-bit filter of the names seen so far; a hit triggers an exact
    // re-scan, so duplicate detection needs no allocation.
    let mut seen = [0_u64; 4];
    let mut index = 0_usize;
    props.try_for_each(|name, value| {
        match name {
            "" => {
                return Err(Error::Empty {
                    field: Field::PropertyName,
                })
            }
            "_k" | "_p" | "_n" => {
                return Err(Error::ReservedProperty {
                    name: name.to_owned(),
                })
            }
            "_t" => {
                check_t(value)?;
                scan.has_t = true;
            }
            "_d" => {
                check_d(value)?;
                scan.has_d = true;
            }
            _ => {}
        }
        let h = name_hash(name);
        let (word, bit) = ((h >> 6) as usize & 3, 1_u64 << (h & 63));
        if seen[word] & bit != 0 && occurs_before(props, name, index) {
            return Err(Error::DuplicateProperty {
                name: name.to_owned(),
            });
        }
        seen[word] |= bit;
        index += 1;
        let pair = encoded_len(name) + value_len(value);
        // With a timestamp, `_d`/`_t` take the place of the generated pairs,
        // whose fixed length (`&_d=1&_t=` + digits) is counted by the caller.
        scan.len += if timestamp && (name == "_d" || name == "_t") {
            pair
        } else {
            2 + pair
        };
        Ok(())
    })?;
    Ok(scan)
}

fn occurs_before<P: Properties + ?Sized>(props: &P, name: &str, index: usize) -> bool {
    let mut i = 0;
    props
        .try_for_each(|n, _| {
            if i < index && n == name {
                return Err(());
            }
            i += 1;
            Ok(())
        })
        .is_err()
}

/// FNV-1a, for the duplicate filter only.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn check_t(value: Value<'_>) -> Result<(), Error> {
    let ok = match value {
        Value::Int(i) => i >= 0,
        Value::UInt(_) => true,
        Value::Float(x) => float_secs(x).is_ok() && x.fract() == 0.0,
        Value::Float32(x) => float_secs(x.into()).is_ok() && x.fract() == 0.0,
        Value::Str(s) => {
            !s.is_empty() && s.parse::<u64>().is_ok() && s.bytes().all(|b| b.is_ascii_digit())
        }
        Value::Bool(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidBackdate {
            name: "_t",
            value: value.to_string(),
        })
    }
}

fn check_d(value: Value<'_>) -> Result<(), Error> {
    let ok = matches!(
        value,
        Value::Int(0 | 1) | Value::UInt(0 | 1) | Value::Str("0" | "1")
    );
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidBackdate {
            name: "_d",
            value: value.to_string(),
        })
    }
}

fn write_override<P: Properties + ?Sized>(uri: &mut Vec<u8>, props: &P, wanted: &str) {
    let _ = props.try_for_each(|name, value| {
        if name == wanted {
            push_value(uri, name, value);
            return Err(());
        }
        Ok(())
    });
}

/// Bytes `form_urlencoded::byte_serialize` leaves as they are (space
/// becomes `+`, also one byte); every other byte becomes `%XX`.
const fn plain_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'*' | b'-' | b'.' | b'_' | b' ');
        b += 1;
    }
    t
}
static PLAIN: [bool; 256] = plain_table();

/// The length of `s` once form-encoded.
fn encoded_len(s: &str) -> usize {
    s.bytes()
        .map(|b| if PLAIN[b as usize] { 1 } else { 3 })
        .sum()
}

/// Form-encodes `s` onto `out`: the same bytes as
/// `form_urlencoded::byte_serialize` (a unit test checks every byte), but
/// copying runs of plain bytes at once over a lookup table. Measured in
/// `benches/encode.rs`: about 25 % faster than `byte_serialize`, which yields
/// one chunk at a time through an iterator.
fn push_encoded(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if PLAIN[b as usize] && b != b' ' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if b == b' ' {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0_u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The encoded length of a value (exact, but an upper bound for floats).
fn value_len(value: Value<'_>) -> usize {
    match value {
        Value::Str(s) => encoded_len(s),
        Value::Int(i) => decimal_len(i.unsigned_abs()) + usize::from(i < 0),
        Value::UInt(u) => decimal_len(u),
        // `_t` floats are sent as whole seconds, shorter than the float.
        // Otherwise `e+` of the exponent encodes to `e%2B`.
        Value::Float(_) | Value::Float32(_) => PyFloat::MAX + 2,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
    }
}

fn push_value(out: &mut Vec<u8>, name: &str, value: Value<'_>) {
    match value {
        Value::Str(s) => push_encoded(out, s),
        Value::Int(i) => {
            if i < 0 {
                out.push(b'-');
            }
            push_decimal(out, i.unsigned_abs());
        }
        Value::UInt(u) => push_decimal(out, u),
        // A whole float `_t` (validated) is sent as integer seconds.
        Value::Float(x) if name == "_t" => push_decimal(out, x as u64),
        Value::Float32(x) if name == "_t" => push_decimal(out, x as u64),
        Value::Float(x) => push_encoded(out, PyFloat::f64(x).as_str()),
        Value::Float32(x) => push_encoded(out, PyFloat::f32(x).as_str()),
        Value::Bool(b) => out.extend_from_slice(if b { b"True" } else { b"False" }),
    }
}

/// A request without its API key: the path and query an [`Encoder`] built,
/// minus the `_k` pair, such as `/e?_p=bob&_d=1&_t=1381849312&_n=Signed+Up`.
///
/// The form requests take wherever they are kept (a queue, an outbox on
/// disk, an error report): the key is a secret, so it is left out and added
/// back by [`Encoder::add_key`] when the request is sent. Neither the key
/// nor the endpoint is part of it.
///
/// ```
/// use km_proto::{Encoder, Options, Unkeyed};
///
/// let enc = Encoder::new("s3cret").unwrap();
/// let req = enc.record("bob", "Signed Up", (), Options::new().timestamp(1381849312)).unwrap();
/// let stored = enc.strip_key(&req).unwrap();
/// assert_eq!(stored.as_str(), "/e?_p=bob&_d=1&_t=1381849312&_n=Signed+Up");
/// assert_eq!((stored.path(), stored.query()), ("/e", "_p=bob&_d=1&_t=1381849312&_n=Signed+Up"));
///
/// // Read back from storage, checked, and sent with the key again.
/// let back = Unkeyed::parse(stored.as_str()).unwrap();
/// assert_eq!(enc.add_key(&back).unwrap().uri(), req.uri());
/// assert!(Unkeyed::parse("/e?_k=leak&_p=bob").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Unkeyed(Box<str>);

impl Unkeyed {
    /// Checks a stored request: `/path?query`, the path as [`Options::path`]
    /// accepts it, the query made only of URI query characters and without
    /// a `_k` pair.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] naming what is wrong (the query is not quoted),
    /// or [`Error::RequestTooLong`].
    pub fn parse(stored: &str) -> Result<Self, Error> {
        let (path, query) = stored.split_once('?').ok_or_else(|| Error::InvalidPath {
            path: stored.chars().take(64).collect(),
            reason: "is not a stored request: it has no query",
        })?;
        let bad = |reason| Error::InvalidPath {
            path: path.to_owned(),
            reason,
        };
        if !path.starts_with('/') {
            return Err(bad("is not a stored request: it does not start with /"));
        }
        check_path(path)?;
        let query_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if !query.bytes().all(query_char) {
            return Err(bad(
                "is not a stored request: its query has characters a URI query cannot hold",
            ));
        }
        if has_key_pair(query) {
            return Err(bad(
                "is not a stored request: its query holds an API key (_k)",
            ));
        }
        if stored.len() > MAX_URI_LEN {
            return Err(Error::RequestTooLong {
                len: stored.len(),
                max: MAX_URI_LEN,
            });
        }
        Ok(Unkeyed(stored.into()))
    }

    /// The whole request: `/path?query`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path, with its leading `/`.
    #[must_use]
    pub fn path(&self) -> &str {
        self.0.split_once('?').map_or(&self.0, |(path, _)| path)
    }

    /// The query without the `_k` pair (form-encoded).
    #[must_use]
    pub fn query(&self) -> &str {
        self.0.split_once('?').map_or("", |(_, query)| query)
    }
}

impl fmt::Display for Unkeyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Unkeyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Unkeyed").field(&&*self.0).finish()
    }
}

fn has_key_pair(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair == "_k" || pair.starts_with("_k="))
}

impl Encoder {
    /// The request without its key, for keeping: `None` unless the request
    /// was built by an encoder with this endpoint and key (its scheme and
    /// host are this endpoint's and its query starts with this key's `_k`
    /// pair).
    ///
    /// See [`Unkeyed`] for an example.
    #[must_use]
    pub fn strip_key<B>(&self, request: &Request<B>) -> Option<Unkeyed> {
        let uri = request.uri();
        if uri.scheme_str() != Some(self.endpoint.scheme().as_str())
            || uri.authority().map(|a| a.as_str()) != Some(self.endpoint.host())
        {
            return None;
        }
        let path = uri.path();
        let rest = uri
            .query()?
            .as_bytes()
            .strip_prefix(b"_k=")?
            .strip_prefix(&*self.key_encoded)?;
        // The key is ASCII: what follows it is a `str` boundary.
        let rest = &uri.query()?[uri.query()?.len() - rest.len()..];
        let rest = match rest {
            "" => "",
            _ => rest.strip_prefix('&')?,
        };
        if has_key_pair(rest) {
            return None;
        }
        let mut stored = String::with_capacity(path.len() + 1 + rest.len());
        stored.push_str(path);
        stored.push('?');
        stored.push_str(rest);
        Some(Unkeyed(stored.into_boxed_str()))
    }

    /// The request to send for a kept one: this encoder's endpoint, the
    /// stored path, then `_k` with this key followed by the stored query.
    ///
    /// # Errors
    /// [`Error::RequestTooLong`] when the key and endpoint make the URI too
    /// long.
    pub fn add_key(&self, request: &Unkeyed) -> Result<Request<()>, Error> {
        let path = request.path();
        let query = request.query();
        let len = self.prefix.len() + request.0.len() + "_k=&".len() + self.key_encoded.len();
        let mut uri = Vec::with_capacity(len);
        uri.extend_from_slice(self.prefix.as_bytes());
        uri.extend_from_slice(path.strip_prefix('/').unwrap_or(path).as_bytes());
        uri.extend_from_slice(b"?_k=");
        uri.extend_from_slice(&self.key_encoded);
        if !query.is_empty() {
            uri.push(b'&');
            uri.extend_from_slice(query.as_bytes());
        }
        into_request(uri, path)
    }
}

#[cfg(test)]
mod unkeyed_tests {
    use super::*;
    use crate::{Endpoint, Scheme};

    #[test]
    fn strip_and_add_round_trip() {
        let enc = Encoder::with_endpoint(
            "k y&=",
            Endpoint::new(Scheme::Http, "127.0.0.1:8080").unwrap(),
        )
        .unwrap();
        let requests = [
            enc.alias("a b", "c@d", Options::new()).unwrap(),
            enc.set("p", [("x", "1")], Options::new().path("/v1/s"))
                .unwrap(),
            enc.record("p", "e", [("_t", 5)], Options::new().timestamp(7))
                .unwrap(),
        ];
        for req in &requests {
            let stored = enc.strip_key(req).unwrap();
            assert!(!stored.as_str().contains("_k="), "{stored}");
            assert_eq!(Unkeyed::parse(stored.as_str()).unwrap(), stored);
            assert_eq!(enc.add_key(&stored).unwrap().uri(), req.uri());
        }
        assert_eq!(
            enc.strip_key(&requests[0]).unwrap().as_str(),
            "/a?_p=a+b&_n=c%40d"
        );
    }

    #[test]
    fn strip_key_needs_this_key_and_endpoint() {
        let enc = Encoder::new("key").unwrap();
        let req = enc.alias("a", "b", Options::new()).unwrap();
        assert!(Encoder::new("other").unwrap().strip_key(&req).is_none());
        let elsewhere = Encoder::with_endpoint(
            "key",
            Endpoint::new(Scheme::Https, "trk.kissmetrics.com").unwrap(),
        )
        .unwrap();
        assert!(elsewhere.strip_key(&req).is_none());
        let longer = Encoder::new("keyx").unwrap();
        assert!(longer.strip_key(&req).is_none());
    }

    #[test]
    fn parse_refuses_what_is_not_a_stored_request() {
        for bad in [
            "",
            "/e",
            "e?_p=a",
            "/e?_p=a b",
            "/e?_p=a#b",
            "/e?_k=secret",
            "/e?_p=a&_k",
            "/e?_p=a&_k=x",
            "/e f?_p=a",
            "/e?_p=\u{e9}",
            "/e?_p=a\nb",
        ] {
            assert!(Unkeyed::parse(bad).is_err(), "{bad:?}");
        }
        let ok = Unkeyed::parse("/e?_p=a&x_k=1").unwrap();
        assert_eq!((ok.path(), ok.query()), ("/e", "_p=a&x_k=1"));
        let long = format!("/e?_p={}", "a".repeat(MAX_URI_LEN));
        assert!(matches!(
            Unkeyed::parse(&long),
            Err(Error::RequestTooLong { .. })
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaper_matches_form_urlencoded() {
        for b in 0..=255_u8 {
            let s = [b];
            let encoded: String = form_urlencoded::byte_serialize(&s).collect();
            let expected = if PLAIN[b as usize] { 1 } else { 3 };
            assert_eq!(encoded.len(), expected, "byte {b:#x}");
        }
        let mut all = String::new();
        for c in (0..=0x2FF_u32)
            .chain([0x1F600, 0x05D0, 0x0301, 0xFFFD])
            .filter_map(char::from_u32)
        {
            all.push(c);
            all.push_str("ab c");
        }
        for s in ["", " ", "a", "%", "a b&c=d+e", "é", "😀x", all.as_str()] {
            let mut ours = Vec::new();
            push_encoded(&mut ours, s);
            let theirs: String = form_urlencoded::byte_serialize(s.as_bytes()).collect();
            assert_eq!(ours, theirs.as_bytes(), "{s:?}");
            assert_eq!(ours.len(), encoded_len(s), "{s:?}");
        }
    }

    #[test]
    fn decimals() {
        for n in [0, 1, 9, 10, 99, 100, 1_381_849_312, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            assert_eq!(decimal_len(n), out.len());
        }
    }

    #[test]
    fn capacity_is_exact_without_floats() {
        let enc = Encoder::new("k y").unwrap();
        let req = enc
            .record(
                "bob é",
                "Signed Up & more",
                [
                    ("Plan", Value::from("Pro/ü")),
                    ("n", Value::from(-12)),
                    ("b", Value::from(true)),
                ],
                Options::new().timestamp(1_381_849_312),
            )
            .unwrap();
        let q = req.uri().to_string();
        assert!(q.starts_with("https://trk.kissmetrics.io/e?_k=k+y&_p=bob+%C3%A9&_d=1&_t=1381849312&_n=Signed+Up+%26+more&Plan=Pro%2F%C3%BC&n=-12&b=True"), "{q}");
    }
}
