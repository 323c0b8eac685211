//! The facade's one error type.

use std::fmt;

use km_proto::http::{Response, StatusCode};
use km_proto::{Outcome, TransportError, TransportErrorKind};

/// Why a call was not delivered.
///
/// Three families: the input was invalid (nothing was sent), the transport
/// failed (by [`TransportErrorKind`]), or the service answered with a status
/// that does not mean "delivered" (the response is kept). The API key never
/// appears in an error, its `Display` or its `Debug`.
///
/// ```
/// use kissmetrics::{Client, Error};
/// use kissmetrics::proto::http::Response;
///
/// let client = Client::builder("key")
///     .with_transport(|_req| Ok(Response::builder().status(503).body(Vec::new()).unwrap()))
///     .unwrap();
/// match client.record("bob", "Signed Up", ()) {
///     Err(Error::Undelivered { status, retryable, .. }) => {
///         assert_eq!(status, 503);
///         assert!(retryable);
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The input was refused before anything was sent.
    Invalid(km_proto::Error),
    /// The request could not be carried, or the transport could not be set up.
    Transport(TransportError),
    /// The service answered with a status that does not mean "delivered".
    Undelivered {
        /// The status.
        status: StatusCode,
        /// Whether sending the same request again may succeed (`408`, `429`, `5xx`).
        retryable: bool,
        /// The whole response.
        response: Box<Response<Vec<u8>>>,
    },
}

impl Error {
    /// The transport error kind, for transport failures.
    #[must_use]
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        match self {
            Error::Transport(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// The status, for undelivered responses.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Undelivered { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Invalid(_) => false,
            Error::Transport(e) => e.is_retryable(),
            Error::Undelivered { retryable, .. } => *retryable,
        }
    }

    /// Turns a response into `Ok` when delivered, else [`Error::Undelivered`].
    pub(crate) fn check(response: Response<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        match km_proto::classify_status(response.status()) {
            Outcome::Delivered => Ok(response),
            outcome => Err(Error::Undelivered {
                status: response.status(),
                retryable: outcome.is_retryable(),
                response: Box::new(response),
            }),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(e) => write!(f, "invalid input: {e}"),
            Error::Transport(e) => write!(f, "transport failed: {e}"),
            Error::Undelivered { status, .. } => {
                write!(f, "not delivered: the service answered {status}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Invalid(e) => Some(e),
            Error::Transport(e) => Some(e),
            Error::Undelivered { .. } => None,
        }
    }
}

impl From<km_proto::Error> for Error {
    fn from(e: km_proto::Error) -> Self {
        Error::Invalid(e)
    }
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        Error::Transport(e)
    }
}
