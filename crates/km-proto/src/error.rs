//! The one error type of the protocol core.

use std::fmt;

use crate::Call;

/// The input a validation error is about.
///
/// ```
/// assert_eq!(km_proto::Field::Person.to_string(), "person (_p)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The API key (`_k`).
    Key,
    /// The person (`_p`).
    Person,
    /// The event name of a `record` call (`_n`).
    Event,
    /// The identity a person is aliased to (`_n` of an `alias` call).
    Identity,
    /// The name of a property.
    PropertyName,
    /// The call's timestamp (`_t`).
    Timestamp,
    /// The endpoint's scheme.
    Scheme,
    /// The endpoint's host (with optional port).
    Host,
    /// The request path.
    Path,
    /// The request as a whole (its length).
    Request,
}

impl Field {
    /// A short human-readable name, with the query parameter where there is one.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Key => "API key (_k)",
            Field::Person => "person (_p)",
            Field::Event => "event name (_n)",
            Field::Identity => "alias identity (_n)",
            Field::PropertyName => "property name",
            Field::Timestamp => "timestamp (_t)",
            Field::Scheme => "scheme",
            Field::Host => "host",
            Field::Path => "path",
            Field::Request => "request",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a timestamp was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimestampError {
    /// Negative seconds (or a `SystemTime` before the Unix epoch).
    Negative,
    /// NaN or an infinity.
    NotFinite,
    /// More seconds than fit in a `u64`.
    TooLarge,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampError::Negative => "is negative (before 1970-01-01T00:00:00Z)",
            TimestampError::NotFinite => "is not a finite number",
            TimestampError::TooLarge => "does not fit in 64 bits of seconds",
        })
    }
}

/// Everything that can be wrong with a call before it is sent.
///
/// Every variant names the offending field and the reason. The API key never
/// appears in an error, not even in an error about the key.
///
/// ```
/// use km_proto::{Encoder, Error, Field, Options};
///
/// let enc = Encoder::new("my-key").unwrap();
/// let long = "x".repeat(300);
/// let err = enc.record(&long, "Signed Up", (), Options::new()).unwrap_err();
/// assert_eq!(err, Error::TooLong { field: Field::Person, len: 300, max: 255 });
/// assert_eq!(err.to_string(), "person (_p) is 300 characters long; the limit is 255");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A field that must not be empty is empty.
    Empty {
        /// Which field.
        field: Field,
    },
    /// A person or alias identity longer than the service accepts.
    TooLong {
        /// Which field.
        field: Field,
        /// Its length in characters (Unicode scalar values).
        len: usize,
        /// The limit in characters.
        max: usize,
    },
    /// A property named `_k`, `_p` or `_n`: it would hijack the key, person or event.
    ReservedProperty {
        /// The property name.
        name: String,
    },
    /// The same property name given twice; only one pair per name reaches the wire.
    DuplicateProperty {
        /// The property name.
        name: String,
    },
    /// A `_t` property that is not a whole non-negative number of seconds, or a
    /// `_d` property that is not `0` or `1`.
    InvalidBackdate {
        /// `"_t"` or `"_d"`.
        name: &'static str,
        /// The value as it would have been sent.
        value: String,
    },
    /// The call's timestamp is unusable.
    InvalidTimestamp {
        /// Why.
        reason: TimestampError,
    },
    /// A timestamp was given to a call that has none (`alias`).
    TimestampNotAllowed {
        /// The call.
        call: Call,
    },
    /// A scheme other than `http` or `https`.
    InvalidScheme {
        /// The scheme given.
        scheme: String,
    },
    /// A host that is empty, not ASCII, or would change the request's shape.
    InvalidHost {
        /// The host given.
        host: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A path that would change the request's shape.
    InvalidPath {
        /// The path given.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The request's URI would be longer than [`http::Uri`] accepts.
    RequestTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes (65,534).
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty { field } => write!(f, "{field} must not be empty"),
            Error::TooLong { field, len, max } => {
                write!(f, "{field} is {len} characters long; the limit is {max}")
            }
            Error::ReservedProperty { name } => write!(
                f,
                "property name {name:?} is reserved: it would replace the key, person or event"
            ),
            Error::DuplicateProperty { name } => {
                write!(f, "property name {name:?} is given more than once")
            }
            Error::InvalidBackdate { name, value } => match *name {
                "_d" => write!(f, "property _d must be 0 or 1, got {value:?}"),
                _ => write!(
                    f,
                    "property {name} must be a whole non-negative number of seconds, got {value:?}"
                ),
            },
            Error::InvalidTimestamp { reason } => write!(f, "timestamp {reason}"),
            Error::TimestampNotAllowed { call } => {
                write!(f, "{call} takes no timestamp")
            }
            Error::InvalidScheme { scheme } => {
                write!(f, "scheme must be http or https, got {scheme:?}")
            }
            Error::InvalidHost { host, reason } => write!(f, "host {host:?} {reason}"),
            Error::InvalidPath { path, reason } => write!(f, "path {path:?} {reason}"),
            Error::RequestTooLong { len, max } => write!(
                f,
                "the request's URI would be {len} bytes long; the limit is {max}"
            ),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The field the error is about.
    ///
    /// ```
    /// use km_proto::{Encoder, Field, Options};
    /// let err = Encoder::new("k").unwrap().alias("", "b", Options::new()).unwrap_err();
    /// assert_eq!(err.field(), Field::Person);
    /// ```
    #[must_use]
    pub fn field(&self) -> Field {
        match self {
            Error::Empty { field } | Error::TooLong { field, .. } => *field,
            Error::ReservedProperty { .. }
            | Error::DuplicateProperty { .. }
            | Error::InvalidBackdate { .. } => Field::PropertyName,
            Error::InvalidTimestamp { .. } | Error::TimestampNotAllowed { .. } => Field::Timestamp,
            Error::InvalidScheme { .. } => Field::Scheme,
            Error::InvalidHost { .. } => Field::Host,
            Error::InvalidPath { .. } => Field::Path,
            Error::RequestTooLong { .. } => Field::Request,
        }
    }
}
