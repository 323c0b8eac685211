//! An async KISSmetrics transport over [hyper] 1 and hyper-util's pooled
//! client, on tokio.
//!
//! [`HyperTransport`] implements [`km_proto::AsyncTransport`] (its futures
//! are `Send`) over one shared `hyper_util::client::legacy::Client`: clones
//! share its keep-alive pool, response bodies are read to their end so each
//! connection goes back to the pool, and every status comes back as a
//! response. Redirects are not followed.
//!
//! **It needs a tokio runtime** with I/O and time enabled (a multi-thread
//! runtime, or `new_current_thread().enable_all()`): building a transport
//! does not, but its futures must be polled inside one. Polled elsewhere,
//! a send fails with a [`TransportErrorKind::Other`] error instead of
//! panicking.
//!
//! # Settings ([`TransportConfig`])
//!
//! | setting | support |
//! |---|---|
//! | total timeout (default 10 s) | `tokio::time::timeout` around the whole exchange, body included |
//! | connect timeout | TCP, proxy `CONNECT` and TLS handshake together, never more than the total |
//! | https | rustls (hyper-rustls) with the `ring` provider; roots: the Mozilla roots ([webpki-roots]), plus the platform's with the `native-roots` feature, plus every [`TransportConfig::add_root_certificate`] |
//! | explicit proxy | `http://` proxies: plain-http requests are forwarded (absolute-form), https ones tunnelled with `CONNECT`; `user:password@` in the URL is sent as `Proxy-Authorization: Basic` |
//! | proxy environment | `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper or lower case, as curl reads them; `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set, as in CGI), read once when the transport is built |
//! | HTTP versions | HTTP/1.1 with keep-alive |
//!
//! # Example
//!
//! ```
//! use km_proto::{AsyncTransport, Encoder, Endpoint, Options, Scheme, TransportConfig};
//! use km_hyper::HyperTransport;
//!
//! # let server = km_testkit::TestServer::start();
//! # let host = server.host_port();
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! // Inside a tokio runtime; `host` is "127.0.0.1:<port>" of a local test server here.
//! let transport = HyperTransport::new(&TransportConfig::new())?;
//! let encoder = Encoder::with_endpoint("key", Endpoint::new(Scheme::Http, &host)?)?;
//! let response = transport.send(encoder.alias("bob", "bob@example.com", Options::new())?).await?;
//! assert_eq!(response.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # assert_eq!(server.requests()[0].pair("_n"), Some("bob@example.com"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [hyper]: https://docs.rs/hyper/1
//! [webpki-roots]: https://docs.rs/webpki-roots
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::PROXY_AUTHORIZATION;
use http::uri::Scheme;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connect, Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo};
use km_proto::{
    source_chain, AsyncTransport, TransportConfig, TransportError, TransportErrorKind,
    TransportResult, USER_AGENT,
};
use tower_service::Service;

pub use hyper_util;

// Compile-time proof that hyper, km-proto and this crate name one `http`
// crate: the requests km-proto builds go to hyper unchanged.
const _: fn(km_proto::http::Request<()>) -> hyper::Request<()> = |r| r;
const _: fn(http::Request<()>) -> km_proto::http::Request<()> = |r| r;

type BoxError = Box<dyn StdError + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// An async transport over hyper-util's pooled client.
///
/// `Clone + Send + Sync`; clones share the client and its connection pool.
/// `C` is the client's connector: [`Connector`] when built with
/// [`HyperTransport::new`], anything hyper-util accepts with
/// [`HyperTransport::from_client`].
///
/// ```
/// use km_proto::{AsyncTransport, TransportConfig};
/// use km_hyper::HyperTransport;
///
/// fn shareable<T: AsyncTransport + Clone + Send + Sync + 'static>(_: &T) {}
/// shareable(&HyperTransport::new(&TransportConfig::new())?);
/// # Ok::<(), km_proto::TransportError>(())
/// ```
pub struct HyperTransport<C = Connector> {
    client: Client<C, Empty<Bytes>>,
    timeout: Duration,
    /// Where plain-http requests get their `Proxy-Authorization`.
    proxy: Option<Arc<Matcher>>,
}

impl<C: Clone> Clone for HyperTransport<C> {
    fn clone(&self) -> Self {
        HyperTransport {
            client: self.client.clone(),
            timeout: self.timeout,
            proxy: self.proxy.clone(),
        }
    }
}

impl<C> fmt::Debug for HyperTransport<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("timeout", &self.timeout)
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// Builds a client over a [`Connector`] from the shared settings (see the
    /// [crate documentation](crate) for how each is honoured). Needs no
    /// runtime; sending does.
    ///
    /// # Errors
    /// As [`Connector::new`].
    pub fn new(config: &TransportConfig) -> Result<Self, TransportError> {
        let connector = Connector::new(config)?;
        let proxy = connector.proxy.clone();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HyperTransport {
            client,
            timeout: config.get_timeout(),
            proxy,
        })
    }
}

impl<C> HyperTransport<C> {
    /// Sends over a client you built yourself, each exchange bounded by
    /// `timeout` (for instance [`km_proto::DEFAULT_TIMEOUT`]). Requests are
    /// sent as they are, with a `User-Agent` added.
    ///
    /// ```
    /// use std::time::Duration;
    /// use km_hyper::hyper_util::client::legacy::{connect::HttpConnector, Client};
    /// use km_hyper::hyper_util::rt::TokioExecutor;
    ///
    /// // Plain http only, no TLS, no proxy.
    /// let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    /// let transport = km_hyper::HyperTransport::from_client(client, Duration::from_secs(5));
    /// # drop(transport);
    /// ```
    #[must_use]
    pub fn from_client(client: Client<C, Empty<Bytes>>, timeout: Duration) -> Self {
        HyperTransport {
            client,
            timeout,
            proxy: None,
        }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &Client<C, Empty<Bytes>> {
        &self.client
    }
}

impl<C> AsyncTransport for HyperTransport<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn send(&self, request: Request<()>) -> impl Future<Output = TransportResult> + Send {
        let request = self.prepare(request);
        async move {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(TransportError::new(
                    TransportErrorKind::Other,
                    "km-hyper must run inside a tokio runtime",
                ));
            }
            match tokio::time::timeout(self.timeout, exchange(&self.client, request)).await {
                Ok(result) => result,
                Err(_) => Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    format!("no complete response within {:?}", self.timeout),
                )),
            }
        }
    }
}

impl<C> HyperTransport<C> {
    /// Gives the request a body hyper accepts, a `User-Agent` and, when it
    /// goes through a proxy in clear, the proxy's credentials.
    fn prepare(&self, request: Request<()>) -> Request<Empty<Bytes>> {
        let mut request = request.map(|()| Empty::new());
        let headers = request.headers_mut();
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(USER_AGENT));
        if request.uri().scheme() == Some(&Scheme::HTTP) {
            let auth = self.proxy.as_ref().and_then(|m| m.intercept(request.uri()));
            if let Some(auth) = auth.as_ref().and_then(|route| route.basic_auth()) {
                request
                    .headers_mut()
                    .insert(PROXY_AUTHORIZATION, auth.clone());
            }
        }
        request
    }
}

async fn exchange<C>(
    client: &Client<C, Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
) -> TransportResult
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let response = client.request(request).await.map_err(error)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(error)?.to_bytes();
    Ok(Response::from_parts(parts, body.to_vec()))
}

/// The connector [`HyperTransport::new`] builds: TCP, proxies, rustls and the
/// connect timeout.
///
/// Public so that you can build your own hyper-util client around it (pool
/// settings, say) and hand it to [`HyperTransport::from_client`].
///
/// ```
/// use km_proto::TransportConfig;
/// use km_hyper::{hyper_util::client::legacy::Client, hyper_util::rt::TokioExecutor, Connector};
///
/// let config = TransportConfig::new();
/// let client = Client::builder(TokioExecutor::new())
///     .pool_max_idle_per_host(4)
///     .build(Connector::new(&config)?);
/// let transport = km_hyper::HyperTransport::from_client(client, config.get_timeout());
/// # drop(transport);
/// # Ok::<(), km_proto::TransportError>(())
/// ```
#[derive(Clone)]
pub struct Connector {
    https: HttpsConnector<ProxyConnector>,
    connect_timeout: Duration,
    proxy: Option<Arc<Matcher>>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("connect_timeout", &self.connect_timeout)
            .field("proxy", &self.proxy.is_some())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector from the shared settings.
    ///
    /// # Errors
    /// [`TransportErrorKind::Tls`] for an extra root certificate that is not
    /// a valid DER certificate (or, with `native-roots`, when the platform's
    /// roots cannot be read at all); [`TransportErrorKind::Other`] for an
    /// explicit proxy that is not `http://`.
    pub fn new(config: &TransportConfig) -> Result<Self, TransportError> {
        let proxy = match config.get_proxy() {
            Some(uri) if uri.scheme() != Some(&Scheme::HTTP) => {
                return Err(TransportError::new(
                    TransportErrorKind::Other,
                    "km-hyper supports http:// proxies only",
                ))
            }
            Some(uri) => Some(Matcher::builder().all(uri.to_string()).build()),
            None if config.get_proxy_from_env() => Some(Matcher::from_env()),
            None => None,
        }
        .map(Arc::new);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(ProxyConnector {
                http,
                proxy: proxy.clone(),
            });
        Ok(Connector {
            https,
            connect_timeout: config.get_connect_timeout(),
            proxy,
        })
    }
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<ProxyStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.https.call(dst);
        let timeout = self.connect_timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting took more than {timeout:?}"),
                )
                .into()),
            }
        })
    }
}

/// TCP to the server, or to the proxy that forwards or tunnels to it.
#[derive(Clone)]
struct ProxyConnector {
    http: HttpConnector,
    proxy: Option<Arc<Matcher>>,
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = BoxFuture<ProxyStream>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Cloned per call, and an HttpConnector is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let route = self.proxy.as_deref().and_then(|m| m.intercept(&dst));
        Box::pin(async move {
            let Some(route) = route else {
                return Ok(ProxyStream::new(http.call(dst).await?, false));
            };
            if route.uri().scheme() != Some(&Scheme::HTTP) {
                return Err(ProxyError("km-hyper supports http:// proxies only").into());
            }
            if dst.scheme() == Some(&Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(route.uri().clone(), http);
                if let Some(auth) = route.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let stream = tunnel.call(dst).await.map_err(|e| -> BoxError {
                    // Failures to reach the proxy keep their I/O cause; the
                    // rest are refusals by the proxy.
                    if e.source().is_some() {
                        e.into()
                    } else {
                        ProxyError("the proxy refused to open a tunnel").into()
                    }
                })?;
                Ok(ProxyStream::new(stream, false))
            } else {
                let stream = http.call(route.uri().clone()).await?;
                Ok(ProxyStream::new(stream, true))
            }
        })
    }
}

/// A proxy that cannot be used or that said no.
#[derive(Debug)]
struct ProxyError(&'static str);

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl StdError for ProxyError {}

/// A TCP connection made by [`Connector`], to the server or to a proxy.
///
/// It tells hyper-util whether requests on it go to a forwarding proxy (and
/// so must carry the whole URL).
#[derive(Debug)]
pub struct ProxyStream {
    io: TokioIo<tokio::net::TcpStream>,
    forwarding: bool,
}

impl ProxyStream {
    fn new(io: TokioIo<tokio::net::TcpStream>, forwarding: bool) -> Self {
        ProxyStream { io, forwarding }
    }
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarding)
    }
}

impl Read for ProxyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for ProxyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

/// rustls with `ring`, trusting the Mozilla roots, the platform's (with
/// `native-roots`) and the extra ones.
fn tls_config(config: &TransportConfig) -> Result<rustls::ClientConfig, TransportError> {
    let tls_error = |message: String| TransportError::new(TransportErrorKind::Tls, message);
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    #[cfg(feature = "native-roots")]
    {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() && !found.errors.is_empty() {
            let reasons: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
            return Err(tls_error(format!(
                "cannot load the platform's root certificates: {}",
                reasons.join("; ")
            )));
        }
        roots.add_parsable_certificates(found.certs);
    }
    for der in config.get_root_certificates() {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| tls_error(format!("invalid extra root certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn error<E: Into<BoxError>>(e: E) -> TransportError {
    let e = e.into();
    TransportError::new(kind(&*e), e)
}

fn kind(e: &(dyn StdError + 'static)) -> TransportErrorKind {
    for cause in source_chain(e) {
        if cause.is::<rustls::Error>() {
            return TransportErrorKind::Tls;
        }
        if cause.is::<ProxyError>() {
            return TransportErrorKind::Other;
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return TransportErrorKind::Reset;
            }
            if hyper.is_timeout() {
                return TransportErrorKind::Timeout;
            }
        }
    }
    if let Some(kind) = TransportErrorKind::from_source_chain(e) {
        return kind;
    }
    match e.downcast_ref::<hyper_util::client::legacy::Error>() {
        Some(legacy) if legacy.is_connect() => TransportErrorKind::Connect,
        _ => TransportErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_map_to_kinds() {
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(kind(&tls), TransportErrorKind::Tls);
        assert_eq!(kind(&ProxyError("no")), TransportErrorKind::Other);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(kind(&refused), TransportErrorKind::Connect);
    }

    #[test]
    fn only_http_proxies() {
        let config = TransportConfig::new().proxy("socks5://127.0.0.1:1080".parse().unwrap());
        assert_eq!(
            HyperTransport::new(&config).unwrap_err().kind(),
            TransportErrorKind::Other
        );
        let bad_root = TransportConfig::new().add_root_certificate(b"junk".to_vec());
        assert_eq!(
            HyperTransport::new(&bad_root).unwrap_err().kind(),
            TransportErrorKind::Tls
        );
    }

    #[test]
    fn outside_a_runtime_sending_fails_without_panicking() {
        let transport = HyperTransport::new(&TransportConfig::new()).unwrap();
        let request = Request::get("http://127.0.0.1:9/e").body(()).unwrap();
        let future = transport.send(request);
        // A minimal executor: the future must finish at its first poll.
        let waker = std::task::Waker::noop();
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), TransportErrorKind::Other),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn proxy_credentials_go_with_plain_http_requests() {
        let config =
            TransportConfig::new().proxy("http://user:secret@127.0.0.1:3128".parse().unwrap());
        let transport = HyperTransport::new(&config).unwrap();
        let request = transport.prepare(Request::get("http://trk.example/e").body(()).unwrap());
        assert_eq!(
            request.headers()[PROXY_AUTHORIZATION],
            "Basic dXNlcjpzZWNyZXQ="
        );
        assert_eq!(request.headers()[http::header::USER_AGENT], USER_AGENT);
        let tunnelled = transport.prepare(Request::get("https://trk.example/e").body(()).unwrap());
        assert!(tunnelled.headers().get(PROXY_AUTHORIZATION).is_none());
    }
}
