//! The transport interface: how requests travel is the caller's business.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use http::{Request, Response};

use crate::redact::redact_key;

/// A boxed, `Send` future, as returned by [`DynAsyncTransport`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a transport returns: the response with its whole body, or an error.
pub type TransportResult = Result<Response<Vec<u8>>, TransportError>;

/// A blocking transport: sends one request and returns the whole response.
///
/// Any `Fn(Request<()>) -> TransportResult` is a transport, so a test
/// transport is one closure.
///
/// ```
/// use km_proto::{Encoder, Options, Transport, TransportResult};
/// use km_proto::http::{Request, Response};
///
/// let transport = |req: Request<()>| -> TransportResult {
///     assert_eq!(req.uri().path(), "/e");
///     Ok(Response::new(Vec::new()))
/// };
/// let req = Encoder::new("k").unwrap().record("bob", "x", (), Options::new()).unwrap();
/// assert_eq!(transport.send(req).unwrap().status(), 200);
/// ```
pub trait Transport {
    /// Sends `request` and reads the response body to its end.
    ///
    /// # Errors
    /// A [`TransportError`] when no complete response was received.
    fn send(&self, request: Request<()>) -> TransportResult;
}

impl<F> Transport for F
where
    F: Fn(Request<()>) -> TransportResult,
{
    fn send(&self, request: Request<()>) -> TransportResult {
        self(request)
    }
}

/// An async transport whose futures are `Send`, usable from any executor.
///
/// Any `Fn(Request<()>) -> impl Future<Output = TransportResult> + Send` is
/// one, so a test transport is one closure.
///
/// ```
/// use km_proto::{AsyncTransport, TransportResult};
/// use km_proto::http::{Request, Response};
///
/// let transport = |_req: Request<()>| async { TransportResult::Ok(Response::new(Vec::new())) };
/// fn assert_async<T: AsyncTransport>(_: &T) {}
/// assert_async(&transport);
/// ```
pub trait AsyncTransport {
    /// Sends `request` and reads the response body to its end.
    fn send(&self, request: Request<()>) -> impl Future<Output = TransportResult> + Send;
}

impl<F, Fut> AsyncTransport for F
where
    F: Fn(Request<()>) -> Fut,
    Fut: Future<Output = TransportResult> + Send,
{
    fn send(&self, request: Request<()>) -> impl Future<Output = TransportResult> + Send {
        self(request)
    }
}

/// The object-safe form of [`AsyncTransport`], implemented for every
/// `AsyncTransport + Sync`, so clients can hold `Arc<dyn DynAsyncTransport>`.
///
/// ```
/// use std::sync::Arc;
/// use km_proto::{DynAsyncTransport, TransportResult};
/// use km_proto::http::Response;
///
/// let t: Arc<dyn DynAsyncTransport + Send + Sync> =
///     Arc::new(|_req| async { TransportResult::Ok(Response::new(Vec::new())) });
/// # let _ = t;
/// ```
pub trait DynAsyncTransport {
    /// Sends `request`, boxing the future.
    fn send_boxed(&self, request: Request<()>) -> BoxFuture<'_, TransportResult>;
}

impl<T: AsyncTransport + Sync> DynAsyncTransport for T {
    fn send_boxed(&self, request: Request<()>) -> BoxFuture<'_, TransportResult> {
        Box::pin(self.send(request))
    }
}

/// How a transport failed, independent of the HTTP client behind it.
///
/// ```
/// use km_proto::TransportErrorKind;
/// assert!(TransportErrorKind::Timeout.is_retryable());
/// assert!(!TransportErrorKind::Tls.is_retryable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, unreachable, DNS failure).
    Connect,
    /// The connect or total timeout expired.
    Timeout,
    /// The connection was reset or closed before the response was complete.
    Reset,
    /// The TLS handshake or certificate verification failed.
    Tls,
    /// Anything else (a malformed response, a proxy refusal, …).
    Other,
}

impl TransportErrorKind {
    /// Whether sending the same request again may succeed (PROTOCOL §3:
    /// refused, reset and timed-out requests are retryable).
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            TransportErrorKind::Connect | TransportErrorKind::Timeout | TransportErrorKind::Reset
        )
    }

    /// A short name: `connect`, `timeout`, `reset`, `tls` or `other`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Reset => "reset",
            TransportErrorKind::Tls => "tls",
            TransportErrorKind::Other => "other",
        }
    }

    /// The kind of an I/O error, for adapters whose clients surface
    /// `std::io::Error`s.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use km_proto::TransportErrorKind;
    /// assert_eq!(TransportErrorKind::from_io(ErrorKind::ConnectionRefused), TransportErrorKind::Connect);
    /// assert_eq!(TransportErrorKind::from_io(ErrorKind::UnexpectedEof), TransportErrorKind::Reset);
    /// ```
    #[must_use]
    pub fn from_io(kind: io::ErrorKind) -> Self {
        use io::ErrorKind as K;
        match kind {
            K::ConnectionRefused
            | K::AddrNotAvailable
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NotConnected => TransportErrorKind::Connect,
            K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                TransportErrorKind::Reset
            }
            _ => TransportErrorKind::Other,
        }
    }

    /// The kind of the first `std::io::Error` in an error's source chain
    /// (the error itself included), if there is one.
    ///
    /// ```
    /// use std::io;
    /// use km_proto::TransportErrorKind;
    /// let e = io::Error::new(io::ErrorKind::Other, io::Error::from(io::ErrorKind::TimedOut));
    /// assert_eq!(TransportErrorKind::from_source_chain(&e), Some(TransportErrorKind::Timeout));
    /// ```
    #[must_use]
    pub fn from_source_chain(error: &(dyn StdError + 'static)) -> Option<Self> {
        source_chain(error).find_map(|e| {
            let io = e.downcast_ref::<io::Error>()?;
            let kind = Self::from_io(io.kind());
            // An `Other` I/O error may wrap a more precise one, which the
            // chain visits next.
            (kind != TransportErrorKind::Other || io.get_ref().is_none()).then_some(kind)
        })
    }
}

/// An error and its causes, first to last, looking inside `std::io::Error`s
/// too (their `source()` skips the error they wrap).
///
/// Adapters use it to find their client's error types (a TLS library's
/// error, say) however deeply the client nested them.
///
/// ```
/// use std::fmt;
/// use std::io;
/// use km_proto::source_chain;
///
/// #[derive(Debug)]
/// struct Handshake;
/// impl fmt::Display for Handshake {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str("bad certificate") }
/// }
/// impl std::error::Error for Handshake {}
///
/// let e = io::Error::new(io::ErrorKind::InvalidData, Handshake);
/// assert!(source_chain(&e).any(|cause| cause.is::<Handshake>()));
/// assert_eq!(source_chain(&e).count(), 2);
/// ```
pub fn source_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e: &&'a (dyn StdError + 'static)| {
        match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        }
    })
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport failure: a [`TransportErrorKind`] and the client's error.
///
/// Its `Display` redacts any `_k=` query value found in the client's
/// message, so a client that quotes the URL cannot leak the API key.
///
/// ```
/// use km_proto::{TransportError, TransportErrorKind};
/// let e = TransportError::new(TransportErrorKind::Connect, "cannot reach https://h/e?_k=secret&_p=bob");
/// assert_eq!(e.to_string(), "connect error: cannot reach https://h/e?_k=***&_p=bob");
/// assert!(e.is_retryable());
///
/// // Causes are part of the message.
/// let io = std::io::Error::new(std::io::ErrorKind::Other, std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// let e = TransportError::new(TransportErrorKind::Connect, io);
/// assert_eq!(e.to_string(), "connect error: connection refused");
/// ```
pub struct TransportError {
    kind: TransportErrorKind,
    source: Box<dyn StdError + Send + Sync>,
}

impl TransportError {
    /// An error of `kind` caused by `source` (an error or a message).
    pub fn new(
        kind: TransportErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        TransportError {
            kind,
            source: source.into(),
        }
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether sending again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }

    /// The client's error.
    #[must_use]
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }
}

impl TransportError {
    /// The client's message and those of its causes, joined with `: `
    /// (a cause whose message the previous one already contains is
    /// skipped), with the API key redacted.
    fn message(&self) -> String {
        let mut message = String::new();
        let mut previous = String::new();
        for cause in source_chain(&*self.source) {
            let text = cause.to_string();
            if text.is_empty() || previous.contains(&text) {
                continue;
            }
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
            previous = text;
        }
        redact_key(&message).into_owned()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.kind, self.message())
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("message", &self.message())
            .finish()
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

impl From<io::Error> for TransportError {
    fn from(e: io::Error) -> Self {
        let kind = TransportErrorKind::from_source_chain(&e).unwrap_or(TransportErrorKind::Other);
        TransportError::new(kind, e)
    }
}
