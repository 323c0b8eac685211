//! The compat client's error type.

use std::fmt;

use super::host::HostError;
use super::log::LogError;
use crate::Error;

/// The reference's message when no key is set.
pub const NOT_INITIALIZED: &str = "Need to initialize first (KM.init <your_key>)";
/// The reference's message when no identity is set.
pub const NOT_IDENTIFIED: &str = "Need to identify first (KM.identify <user>)";

/// Why a [`ClientCompat`](super::ClientCompat) call failed.
///
/// The first two variants carry the reference's messages word for word; the
/// API key never appears in any variant's `Display` or `Debug`.
///
/// ```
/// use kissmetrics::compat::{CompatError, KM};
/// use kissmetrics::proto::http::Response;
///
/// let km = KM::with_transport("key", None, false, |_req| Ok(Response::new(Vec::new()))).unwrap();
/// let err = km.record("Viewed Homepage", ()).unwrap_err();
/// assert!(matches!(err, CompatError::NotIdentified));
/// assert_eq!(err.to_string(), "Need to identify first (KM.identify <user>)");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CompatError {
    /// No API key: never given, or cleared by `reset()`. Nothing was sent.
    NotInitialized,
    /// No identity: never given, or cleared by `reset()`. Nothing was sent.
    NotIdentified,
    /// The host given at construction was refused.
    Host(HostError),
    /// A zero `http_timeout`, which could not bound anything.
    ZeroTimeout,
    /// The facade client could not be built (its transport could not be
    /// set up).
    Setup(Error),
    /// The input was refused before anything was sent (an empty key, event
    /// or identity, a bad path or property …).
    Invalid(km_proto::Error),
    /// The request was sent, or tried, and not delivered.
    Send {
        /// What went wrong with the send.
        error: Error,
        /// Why the failure could not be logged, when logging is on and
        /// appending the line failed; the send error stays the main error.
        log: Option<LogError>,
    },
}

impl CompatError {
    /// The send error, for [`CompatError::Send`].
    #[must_use]
    pub fn send_error(&self) -> Option<&Error> {
        match self {
            CompatError::Send { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Why the failed send was not logged, if it was meant to be and was not.
    #[must_use]
    pub fn log_error(&self) -> Option<&LogError> {
        match self {
            CompatError::Send { log, .. } => log.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for CompatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompatError::NotInitialized => f.write_str(NOT_INITIALIZED),
            CompatError::NotIdentified => f.write_str(NOT_IDENTIFIED),
            CompatError::Host(e) => e.fmt(f),
            CompatError::ZeroTimeout => f.write_str("http_timeout must be longer than zero"),
            CompatError::Setup(e) => write!(f, "could not set up the client: {e}"),
            CompatError::Invalid(e) => write!(f, "invalid input: {e}"),
            CompatError::Send { error, log: None } => error.fmt(f),
            CompatError::Send {
                error,
                log: Some(log),
            } => write!(f, "{error} (and it was not logged: {log})"),
        }
    }
}

impl std::error::Error for CompatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CompatError::Host(e) => Some(e),
            CompatError::Invalid(e) => Some(e),
            CompatError::Setup(error) | CompatError::Send { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<HostError> for CompatError {
    fn from(e: HostError) -> Self {
        CompatError::Host(e)
    }
}

impl From<km_proto::Error> for CompatError {
    fn from(e: km_proto::Error) -> Self {
        CompatError::Invalid(e)
    }
}
