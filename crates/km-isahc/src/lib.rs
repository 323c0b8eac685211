//! A blocking and async KISSmetrics transport over [isahc] 2 and the
//! system's libcurl.
//!
//! [`IsahcTransport`] implements both [`km_proto::Transport`] and
//! [`km_proto::AsyncTransport`] over one shared [`isahc::HttpClient`]:
//! clones share curl's connection cache, response bodies are read to their
//! end, and every status comes back as a response. Redirects are not
//! followed. The async side needs no particular runtime: isahc drives curl
//! on its own background thread, so the futures run on any executor.
//!
//! The crate builds isahc with `native-tls` and without `static-curl`: it
//! links the libcurl and OpenSSL installed on the system (Debian/Ubuntu:
//! `libcurl4-openssl-dev`) and compiles no C.
//!
//! # Settings ([`TransportConfig`])
//!
//! | setting | support |
//! |---|---|
//! | total timeout (default 10 s) | curl's `CURLOPT_TIMEOUT`: the whole transfer, body included |
//! | connect timeout | curl's `CURLOPT_CONNECTTIMEOUT`: TCP and TLS handshake |
//! | https | the TLS library libcurl was built with (OpenSSL on Debian) and the platform's roots (libcurl's CA bundle and CA directory) |
//! | extra root certificates | handed to curl in memory (`CURLOPT_CAINFO_BLOB`), which **replaces libcurl's CA bundle file**; libcurl's CA directory stays trusted (Debian's libcurl has `/etc/ssl/certs`, so the platform's roots are kept there). An invalid certificate fails the first https request with a TLS error |
//! | explicit proxy | `http://`, `https://`, `socks4://`, `socks5://` as libcurl supports them; plain-http requests are forwarded, https ones tunnelled with `CONNECT`; `NO_PROXY` is ignored for an explicit proxy |
//! | proxy environment | libcurl's own: `http_proxy` (**lower case only**: curl ignores `HTTP_PROXY`), `HTTPS_PROXY`/`https_proxy`, `ALL_PROXY`/`all_proxy`, `NO_PROXY`/`no_proxy`, read at every request |
//! | HTTP versions | HTTP/1.1; HTTP/2 over https when the system's libcurl supports it (negotiated with ALPN) |
//!
//! # Example
//!
//! ```
//! use km_proto::{Encoder, Endpoint, Options, Scheme, Transport, TransportConfig};
//! use km_isahc::IsahcTransport;
//!
//! # let server = km_testkit::TestServer::start();
//! # let host = server.host_port();
//! // `host` is "127.0.0.1:<port>" of a local test server here.
//! let transport = IsahcTransport::new(&TransportConfig::new().proxy_from_env(false))?;
//! let encoder = Encoder::with_endpoint("key", Endpoint::new(Scheme::Http, &host)?)?;
//! let request = encoder.set("bob", [("plan", "pro")], Options::new())?;
//! // Blocking; `km_proto::AsyncTransport::send(&transport, request).await` is the async form.
//! let response = Transport::send(&transport, request)?;
//! assert_eq!(response.status(), 200);
//! # assert_eq!(server.requests()[0].pair("plan"), Some("pro"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [isahc]: https://docs.rs/isahc/2
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::io;

use isahc::config::{Configurable, RedirectPolicy};
use isahc::error::ErrorKind;
use isahc::tls::{TlsConfig, TrustStore};
use isahc::{AsyncBody, AsyncReadResponseExt, Body, HttpClient, ReadResponseExt};
use km_proto::{
    source_chain, AsyncTransport, Transport, TransportConfig, TransportError, TransportErrorKind,
    TransportResult, USER_AGENT,
};

pub use isahc;

// Compile-time proof that isahc, km-proto and this crate name one `http`
// crate (isahc accepts http 0.2 or 1; the workspace pins 1).
const _: fn(km_proto::http::Request<()>) -> isahc::http::Request<()> = |r| r;
const _: fn(http::Request<()>) -> km_proto::http::Request<()> = |r| r;

/// A blocking and async transport over a shared [`isahc::HttpClient`].
///
/// `Clone + Send + Sync`; clones share the client and its connections.
///
/// ```
/// use km_proto::{AsyncTransport, Transport, TransportConfig};
/// use km_isahc::IsahcTransport;
///
/// fn both<T: Transport + AsyncTransport + Clone + Send + Sync>(_: &T) {}
/// both(&IsahcTransport::new(&TransportConfig::new())?);
/// # Ok::<(), km_proto::TransportError>(())
/// ```
#[derive(Clone)]
pub struct IsahcTransport {
    client: HttpClient,
}

impl fmt::Debug for IsahcTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsahcTransport").finish_non_exhaustive()
    }
}

impl IsahcTransport {
    /// Builds a client from the shared settings (see the
    /// [crate documentation](crate) for how each is honoured).
    ///
    /// # Errors
    /// When curl cannot be initialised.
    pub fn new(config: &TransportConfig) -> Result<Self, TransportError> {
        let mut builder = HttpClient::builder()
            .timeout(config.get_timeout())
            .connect_timeout(config.get_connect_timeout())
            .redirect_policy(RedirectPolicy::None)
            .default_header(http::header::USER_AGENT, USER_AGENT);
        match config.get_proxy() {
            // An empty no-proxy list overrides curl's NO_PROXY variable.
            Some(proxy) => {
                builder = builder
                    .proxy(Some(proxy.clone()))
                    .proxy_blacklist(Vec::<String>::new());
            }
            None if !config.get_proxy_from_env() => builder = builder.proxy(None),
            None => {}
        }
        let extra = config.get_root_certificates();
        if !extra.is_empty() {
            let store = extra
                .iter()
                .fold(TrustStore::builder(), |store, der| {
                    store.certificate_from_der(der)
                })
                .build();
            builder = builder.tls_config(TlsConfig::builder().trust_store(store).build());
        }
        let client = builder.build().map_err(error)?;
        Ok(IsahcTransport { client })
    }

    /// Sends over a client you configured yourself.
    ///
    /// ```
    /// use km_isahc::isahc::{config::{Configurable, RedirectPolicy}, HttpClient};
    ///
    /// let client = HttpClient::builder().redirect_policy(RedirectPolicy::None).build()?;
    /// let transport = km_isahc::IsahcTransport::from_client(client);
    /// # drop(transport);
    /// # Ok::<(), km_isahc::isahc::Error>(())
    /// ```
    #[must_use]
    pub fn from_client(client: HttpClient) -> Self {
        IsahcTransport { client }
    }

    /// The client.
    #[must_use]
    pub fn client(&self) -> &HttpClient {
        &self.client
    }
}

impl Transport for IsahcTransport {
    fn send(&self, request: http::Request<()>) -> TransportResult {
        let mut response = self
            .client
            .send(request.map(|()| Body::empty()))
            .map_err(error)?;
        let body = response.bytes().map_err(io_error)?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    }
}

impl AsyncTransport for IsahcTransport {
    async fn send(&self, request: http::Request<()>) -> TransportResult {
        let mut response = self
            .client
            .send_async(request.map(|()| AsyncBody::empty()))
            .await
            .map_err(error)?;
        let body = response.bytes().await.map_err(io_error)?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    }
}

fn error(e: isahc::Error) -> TransportError {
    TransportError::new(kind(&e), e)
}

/// Reading the body fails with I/O errors that may wrap isahc's.
fn io_error(e: io::Error) -> TransportError {
    let kind = match source_chain(&e).find_map(|cause| cause.downcast_ref::<isahc::Error>()) {
        Some(inner) => kind(inner),
        None => TransportErrorKind::from_source_chain(&e).unwrap_or(TransportErrorKind::Reset),
    };
    TransportError::new(kind, e)
}

/// curl's code when there is one (isahc files a failed TLS handshake under
/// `ConnectionFailed`), else isahc's kind.
fn kind(e: &isahc::Error) -> TransportErrorKind {
    if let Some(kind) = source_chain(e)
        .find_map(|cause| cause.downcast_ref::<curl::Error>())
        .and_then(curl_kind)
    {
        return kind;
    }
    match e.kind() {
        ErrorKind::ConnectionFailed | ErrorKind::NameResolution => TransportErrorKind::Connect,
        ErrorKind::Timeout => TransportErrorKind::Timeout,
        ErrorKind::BadServerCertificate
        | ErrorKind::BadClientCertificate
        | ErrorKind::TlsEngine
        | ErrorKind::InvalidTlsConfiguration => TransportErrorKind::Tls,
        // Sending or receiving failed mid-transfer.
        ErrorKind::Io => {
            TransportErrorKind::from_source_chain(e).unwrap_or(TransportErrorKind::Reset)
        }
        _ => TransportErrorKind::Other,
    }
}

fn curl_kind(e: &curl::Error) -> Option<TransportErrorKind> {
    if e.is_ssl_connect_error()
        || e.is_peer_failed_verification()
        || e.is_ssl_cacert()
        || e.is_ssl_cacert_badfile()
        || e.is_ssl_certproblem()
        || e.is_ssl_cipher()
        || e.is_ssl_issuer_error()
    {
        Some(TransportErrorKind::Tls)
    } else if e.is_couldnt_connect() || e.is_couldnt_resolve_host() || e.is_couldnt_resolve_proxy()
    {
        Some(TransportErrorKind::Connect)
    } else if e.is_operation_timedout() {
        Some(TransportErrorKind::Timeout)
    } else if e.is_got_nothing() || e.is_recv_error() || e.is_send_error() || e.is_partial_file() {
        Some(TransportErrorKind::Reset)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_codes_map_to_kinds() {
        let kind = |code| curl_kind(&curl::Error::new(code));
        assert_eq!(kind(35), Some(TransportErrorKind::Tls)); // SSL connect error
        assert_eq!(kind(60), Some(TransportErrorKind::Tls)); // peer verification
        assert_eq!(kind(7), Some(TransportErrorKind::Connect)); // could not connect
        assert_eq!(kind(28), Some(TransportErrorKind::Timeout));
        assert_eq!(kind(18), Some(TransportErrorKind::Reset)); // partial file
        assert_eq!(kind(52), Some(TransportErrorKind::Reset)); // empty reply
        assert_eq!(kind(3), None); // malformed URL: isahc's kind decides
    }

    #[test]
    fn isahc_kinds_map_to_kinds() {
        let kind_of = |k: ErrorKind| kind(&isahc::Error::from(k));
        assert_eq!(kind_of(ErrorKind::Timeout), TransportErrorKind::Timeout);
        assert_eq!(
            kind_of(ErrorKind::BadServerCertificate),
            TransportErrorKind::Tls
        );
        assert_eq!(
            kind_of(ErrorKind::NameResolution),
            TransportErrorKind::Connect
        );
        assert_eq!(kind_of(ErrorKind::Io), TransportErrorKind::Reset);
        assert_eq!(
            kind_of(ErrorKind::InvalidRequest),
            TransportErrorKind::Other
        );
    }
}
