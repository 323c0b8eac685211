//! The transports that come with the crate, one cargo feature each.
//!
//! | feature | transport | blocking `Client` | async `AsyncClient` |
//! |---|---|---|---|
//! | `ureq` (default) | `UreqTransport` (ureq 3, rustls) | `ClientBuilder::build_ureq` | — |
//! | `hyper` | `HyperTransport` (hyper 1 + hyper-util, rustls) | — | `AsyncClientBuilder::build_hyper` (needs a tokio runtime) |
//! | `isahc` | `IsahcTransport` (isahc 2, system libcurl) | `ClientBuilder::build_isahc` | `AsyncClientBuilder::build_isahc` (any executor) |
//!
//! `ClientBuilder::build` picks `ureq`, else `isahc`;
//! `AsyncClientBuilder::build` picks `hyper`, else `isahc`. A constructor
//! exists only when its feature is enabled: asking for a transport that was
//! not compiled in is a compile error, never a run-time failure. With
//! `--no-default-features` only [`ClientBuilder::with_transport`] and
//! [`AsyncClientBuilder::with_transport`] remain.
//!
//! The adapter crates are re-exported here (`transports::km_ureq`, …) for
//! building a transport by hand, for instance from your own
//! `ureq::Agent` with `UreqTransport::from_agent`.
//!
//! Every adapter reports failures with the same
//! [`TransportErrorKind`](crate::TransportErrorKind)s (connect, timeout,
//! reset, TLS, other), whatever the HTTP client behind it.

use crate::{AsyncClientBuilder, ClientBuilder};

#[cfg(feature = "hyper")]
pub use km_hyper::{self, HyperTransport};
#[cfg(feature = "isahc")]
pub use km_isahc::{self, IsahcTransport};
#[cfg(feature = "ureq")]
pub use km_ureq::{self, UreqTransport};

impl ClientBuilder {
    /// Builds a client over the default blocking transport: ureq with the
    /// `ureq` feature (the default), else isahc.
    ///
    /// ```
    /// use kissmetrics::{Client, Scheme};
    ///
    /// # let server = km_testkit::TestServer::start();
    /// # let host = server.host_port();
    /// // `host` is "127.0.0.1:<port>" of a local test server here.
    /// let client = Client::builder("my-api-key").scheme(Scheme::Http).host(&host).build()?;
    /// let response = client.record("bob@example.com", "Signed Up", [("Plan", "Pro")])?;
    /// assert_eq!(response.status(), 200);
    /// # assert_eq!(server.requests()[0].pair("Plan"), Some("Pro"));
    /// # Ok::<(), kissmetrics::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for an empty key or a bad host,
    /// [`Error::Transport`](crate::Error::Transport) when the transport cannot be set up (an invalid
    /// proxy or root certificate).
    #[cfg(any(feature = "ureq", feature = "isahc"))]
    pub fn build(self) -> Result<crate::Client, crate::Error> {
        #[cfg(feature = "ureq")]
        return self.build_ureq();
        #[cfg(not(feature = "ureq"))]
        return self.build_isahc();
    }

    /// Builds a client over [`UreqTransport`]
    /// (feature `ureq`).
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    #[cfg(feature = "ureq")]
    pub fn build_ureq(self) -> Result<crate::Client, crate::Error> {
        let transport = km_ureq::UreqTransport::new(self.transport_config())?;
        self.with_transport(transport)
    }

    /// Builds a client over [`IsahcTransport`]
    /// (feature `isahc`).
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    #[cfg(feature = "isahc")]
    pub fn build_isahc(self) -> Result<crate::Client, crate::Error> {
        let transport = km_isahc::IsahcTransport::new(self.transport_config())?;
        self.with_transport(transport)
    }
}

impl AsyncClientBuilder {
    /// Builds a client over the default async transport: hyper with the
    /// `hyper` feature, else isahc.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for an empty key or a bad host,
    /// [`Error::Transport`](crate::Error::Transport) when the transport cannot be set up (an invalid
    /// proxy or root certificate).
    #[cfg(any(feature = "hyper", feature = "isahc"))]
    pub fn build(self) -> Result<crate::AsyncClient, crate::Error> {
        #[cfg(feature = "hyper")]
        return self.build_hyper();
        #[cfg(not(feature = "hyper"))]
        return self.build_isahc();
    }

    /// Builds a client over [`HyperTransport`]
    /// (feature `hyper`). Its calls must run inside a tokio runtime with I/O
    /// and time enabled; building does not need one.
    ///
    /// # Errors
    /// As [`AsyncClientBuilder::build`].
    #[cfg(feature = "hyper")]
    pub fn build_hyper(self) -> Result<crate::AsyncClient, crate::Error> {
        let transport = km_hyper::HyperTransport::new(self.transport_config())?;
        self.with_transport(transport)
    }

    /// Builds a client over [`IsahcTransport`]
    /// (feature `isahc`); it runs on any executor.
    ///
    /// # Errors
    /// As [`AsyncClientBuilder::build`].
    #[cfg(feature = "isahc")]
    pub fn build_isahc(self) -> Result<crate::AsyncClient, crate::Error> {
        let transport = km_isahc::IsahcTransport::new(self.transport_config())?;
        self.with_transport(transport)
    }
}
