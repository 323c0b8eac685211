//! A blocking KISSmetrics transport over [ureq] 3.
//!
//! [`UreqTransport`] implements [`km_proto::Transport`] over one shared
//! [`ureq::Agent`]: clones share its connection pool, every response body is
//! read to its end so the connection goes back to the pool, and 4xx/5xx
//! statuses come back as responses (ureq's "status as error" is off) for the
//! caller to classify. Redirects are not followed: a `3xx` is returned as it
//! came.
//!
//! # Settings ([`TransportConfig`])
//!
//! | setting | support |
//! |---|---|
//! | total timeout (default 10 s) | ureq's global timeout: resolving, connecting, TLS, sending and reading the whole body |
//! | connect timeout | ureq's connect timeout (TCP), never more than the total |
//! | https | rustls with the `ring` provider; roots: the Mozilla roots ([webpki-root-certs]), plus the platform's with the `native-roots` feature, plus every [`TransportConfig::add_root_certificate`] |
//! | explicit proxy | `http://`, `https://` (and `socks5://` if you build ureq with its `socks-proxy` feature); ureq tunnels **every** request through `CONNECT host:port`, plain http included; credentials in the URL are sent |
//! | proxy environment | `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` (upper or lower case, first set wins, for every scheme) and `NO_PROXY`, read once when the transport is built |
//! | HTTP versions | HTTP/1.1 only |
//!
//! # Example
//!
//! ```
//! use km_proto::{Encoder, Endpoint, Options, Scheme, Transport, TransportConfig};
//! use km_ureq::UreqTransport;
//!
//! # let server = km_testkit::TestServer::start();
//! # let host = server.host_port();
//! // `host` is "127.0.0.1:<port>" of a local test server here.
//! let transport = UreqTransport::new(&TransportConfig::new())?;
//! let encoder = Encoder::with_endpoint("key", Endpoint::new(Scheme::Http, &host)?)?;
//! let response = transport.send(encoder.record("bob", "Signed Up", (), Options::new())?)?;
//! assert_eq!(response.status(), 200);
//! # assert_eq!(server.requests()[0].pair("_n"), Some("Signed Up"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [ureq]: https://docs.rs/ureq/3
//! [webpki-root-certs]: https://docs.rs/webpki-root-certs
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::io;

use km_proto::{
    source_chain, Transport, TransportConfig, TransportError, TransportErrorKind, TransportResult,
    USER_AGENT,
};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

pub use ureq;

// Compile-time proof that ureq, km-proto and this crate name one `http`
// crate: the requests km-proto builds go to ureq unchanged.
const _: fn(km_proto::http::Request<()>) -> ureq::http::Request<()> = |r| r;
const _: fn(http::Request<()>) -> km_proto::http::Request<()> = |r| r;

/// Idle connections kept per host: a tracking client talks to one host, so
/// as many as the whole pool (ureq's default is 3).
const MAX_IDLE_PER_HOST: usize = 10;

/// A blocking transport over a shared [`ureq::Agent`].
///
/// `Clone + Send + Sync`; clones share the agent and its connection pool.
///
/// ```
/// use std::time::Duration;
/// use km_proto::TransportConfig;
/// use km_ureq::UreqTransport;
///
/// let config = TransportConfig::new()
///     .timeout(Duration::from_secs(3))
///     .proxy("http://127.0.0.1:3128".parse()?);
/// let transport = UreqTransport::new(&config)?;
/// let for_another_thread = transport.clone(); // same pool
/// # drop(for_another_thread);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct UreqTransport {
    agent: Agent,
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timeouts = self.agent.config().timeouts();
        f.debug_struct("UreqTransport")
            .field("timeout", &timeouts.global)
            .field("connect_timeout", &timeouts.connect)
            // Not the URL: it may hold credentials.
            .field("proxy", &self.agent.config().proxy().is_some())
            .finish_non_exhaustive()
    }
}

impl UreqTransport {
    /// Builds an agent from the shared settings (see the
    /// [crate documentation](crate) for how each is honoured).
    ///
    /// # Errors
    /// [`TransportErrorKind::Other`] for a proxy URL ureq cannot use,
    /// [`TransportErrorKind::Tls`] for an extra root certificate that is not
    /// a valid DER certificate (or, with `native-roots`, when the platform's
    /// roots cannot be read at all).
    pub fn new(config: &TransportConfig) -> Result<Self, TransportError> {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(config.get_timeout()))
            .timeout_connect(Some(config.get_connect_timeout()))
            .proxy(proxy(config)?)
            .user_agent(USER_AGENT)
            .max_idle_connections_per_host(MAX_IDLE_PER_HOST)
            .tls_config(TlsConfig::builder().root_certs(root_certs(config)?).build())
            .build()
            .new_agent();
        Ok(UreqTransport { agent })
    }

    /// Sends over an agent you configured yourself.
    ///
    /// Keep `http_status_as_error(false)`, or error statuses arrive as
    /// [`TransportErrorKind::Other`] errors instead of responses.
    ///
    /// ```
    /// let agent = km_ureq::ureq::Agent::config_builder()
    ///     .http_status_as_error(false)
    ///     .build()
    ///     .new_agent();
    /// let transport = km_ureq::UreqTransport::from_agent(agent);
    /// # drop(transport);
    /// ```
    #[must_use]
    pub fn from_agent(agent: Agent) -> Self {
        UreqTransport { agent }
    }

    /// The agent.
    #[must_use]
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: http::Request<()>) -> TransportResult {
        let mut response = self.agent.run(request).map_err(error)?;
        let body = response.body_mut().read_to_vec().map_err(error)?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// The explicit proxy, else the environment's (when allowed), else none.
fn proxy(config: &TransportConfig) -> Result<Option<Proxy>, TransportError> {
    match config.get_proxy() {
        // The URL is left out of the message: it may hold credentials.
        Some(uri) => Proxy::new(&uri.to_string()).map(Some).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Other,
                format!("ureq cannot use the proxy: {e}"),
            )
        }),
        None if config.get_proxy_from_env() => Ok(Proxy::try_from_env()),
        None => Ok(None),
    }
}

/// The Mozilla roots, the platform's (with `native-roots`) and the extra ones.
fn root_certs(config: &TransportConfig) -> Result<RootCerts, TransportError> {
    let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect();
    #[cfg(feature = "native-roots")]
    certs.extend(native_roots()?);
    for der in config.get_root_certificates() {
        // ureq skips certificates it cannot parse; refuse them instead.
        rustls::RootCertStore::empty()
            .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
            .map_err(|e| {
                TransportError::new(
                    TransportErrorKind::Tls,
                    format!("invalid extra root certificate: {e}"),
                )
            })?;
        certs.push(Certificate::from_der(der).to_owned());
    }
    Ok(RootCerts::from(certs))
}

#[cfg(feature = "native-roots")]
fn native_roots() -> Result<Vec<Certificate<'static>>, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() && !found.errors.is_empty() {
        let reasons: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(TransportError::new(
            TransportErrorKind::Tls,
            format!(
                "cannot load the platform's root certificates: {}",
                reasons.join("; ")
            ),
        ));
    }
    Ok(found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der).to_owned())
        .collect())
}

/// ureq's error, by kind.
fn error(e: ureq::Error) -> TransportError {
    use ureq::Error as E;
    let kind = match &e {
        E::Timeout(_) => TransportErrorKind::Timeout,
        E::HostNotFound | E::ConnectionFailed => TransportErrorKind::Connect,
        E::Tls(_) | E::Pem(_) | E::Rustls(_) | E::TlsRequired => TransportErrorKind::Tls,
        E::Io(io) => io_kind(io),
        _ => TransportErrorKind::Other,
    };
    TransportError::new(kind, e)
}

/// rustls reports handshake failures as `InvalidData` I/O errors.
fn io_kind(io: &io::Error) -> TransportErrorKind {
    if source_chain(io).any(|cause| cause.is::<rustls::Error>()) {
        TransportErrorKind::Tls
    } else {
        TransportErrorKind::from_source_chain(io).unwrap_or(TransportErrorKind::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_inside_io_errors_are_tls() {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(io_kind(&e), TransportErrorKind::Tls);
        assert_eq!(
            io_kind(&io::Error::from(io::ErrorKind::ConnectionReset)),
            TransportErrorKind::Reset
        );
        assert_eq!(
            error(ureq::Error::HostNotFound).kind(),
            TransportErrorKind::Connect
        );
    }

    #[test]
    fn invalid_extra_roots_and_proxies_are_refused() {
        let bad_root = TransportConfig::new().add_root_certificate(b"not a certificate".to_vec());
        let e = UreqTransport::new(&bad_root).unwrap_err();
        assert_eq!(e.kind(), TransportErrorKind::Tls);

        let bad_proxy = TransportConfig::new().proxy("ftp://proxy.example:21".parse().unwrap());
        let e = UreqTransport::new(&bad_proxy).unwrap_err();
        assert_eq!(e.kind(), TransportErrorKind::Other);
    }

    #[test]
    fn debug_output_keeps_proxy_credentials_out() {
        let config =
            TransportConfig::new().proxy("http://user:pw0rd@127.0.0.1:3128".parse().unwrap());
        let debug = format!("{:?}", UreqTransport::new(&config).unwrap());
        assert!(debug.contains("proxy: true"), "{debug}");
        assert!(!debug.contains("pw0rd"), "{debug}");
    }

    #[test]
    fn proxy_from_env_false_means_no_proxy() {
        let config = TransportConfig::new().proxy_from_env(false);
        assert!(proxy(&config).unwrap().is_none());
    }
}
