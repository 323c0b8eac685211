//! The blocking and async clients.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use km_proto::http::{Response, Uri};
use km_proto::{
    DynAsyncTransport, Encoder, Endpoint, Options, Properties, Scheme, Transport, TransportConfig,
};

use crate::error::Error;

/// Settings shared by [`ClientBuilder`] and [`AsyncClientBuilder`].
#[derive(Clone, Debug)]
struct Settings {
    key: String,
    scheme: Scheme,
    host: Option<String>,
    config: TransportConfig,
}

impl Settings {
    fn encoder(&self) -> Result<Encoder, Error> {
        let endpoint = match &self.host {
            Some(host) => Endpoint::new(self.scheme, host)?,
            None => Endpoint::new(self.scheme, km_proto::DEFAULT_HOST)?,
        };
        Ok(Encoder::with_endpoint(&self.key, endpoint)?)
    }
}

macro_rules! builder_settings {
    () => {
        /// Sends to this host (`name` or `name:port`) instead of `trk.kissmetrics.io`.
        pub fn host(mut self, host: &str) -> Self {
            self.settings.host = Some(host.to_owned());
            self
        }

        /// Uses this scheme (default: https).
        pub fn scheme(mut self, scheme: Scheme) -> Self {
            self.settings.scheme = scheme;
            self
        }

        /// Bounds each request, connecting and reading included (default 10 s).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.settings.config = self.settings.config.timeout(timeout);
            self
        }

        /// Bounds connecting (TCP and TLS); never more than the total timeout.
        pub fn connect_timeout(mut self, timeout: Duration) -> Self {
            self.settings.config = self.settings.config.connect_timeout(timeout);
            self
        }

        /// Sends through this HTTP proxy (`http://host:port`).
        pub fn proxy(mut self, proxy: Uri) -> Self {
            self.settings.config = self.settings.config.proxy(proxy);
            self
        }

        /// Whether `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` are honoured (default: yes).
        pub fn proxy_from_env(mut self, yes: bool) -> Self {
            self.settings.config = self.settings.config.proxy_from_env(yes);
            self
        }

        /// Trusts this root certificate (DER) in addition to the default roots.
        pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
            self.settings.config = self.settings.config.add_root_certificate(der);
            self
        }

        /// The transport settings collected so far, for building a transport by hand.
        pub fn transport_config(&self) -> &TransportConfig {
            &self.settings.config
        }
    };
}

/// Builds a [`Client`]: the key, then options, then a transport.
#[derive(Clone)]
#[must_use]
pub struct ClientBuilder {
    settings: Settings,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("key", &"***")
            .field("scheme", &self.settings.scheme)
            .field("host", &self.settings.host)
            .field("config", &self.settings.config)
            .finish()
    }
}

impl ClientBuilder {
    builder_settings!();

    /// Builds a client over any blocking transport, closures included.
    ///
    /// ```
    /// use kissmetrics::Client;
    /// use kissmetrics::proto::http::Response;
    ///
    /// let client = Client::builder("key")
    ///     .with_transport(|req| {
    ///         println!("{}", kissmetrics::proto::redacted(&req));
    ///         Ok(Response::new(Vec::new()))
    ///     })
    ///     .unwrap();
    /// client.alias("bob", "bob@example.com").unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty key or a bad host.
    pub fn with_transport<T>(self, transport: T) -> Result<Client, Error>
    where
        T: Transport + Send + Sync + 'static,
    {
        Ok(Client {
            inner: Arc::new(ClientInner {
                encoder: self.settings.encoder()?,
                transport: Box::new(transport),
            }),
        })
    }
}

struct ClientInner {
    encoder: Encoder,
    transport: Box<dyn Transport + Send + Sync>,
}

/// A blocking client: each call sends one request and returns the response.
///
/// `Clone + Send + Sync`: clones share the transport and its connection pool.
/// A response whose status does not mean "delivered" (PROTOCOL §3) is an
/// [`Error::Undelivered`] that still carries the response.
///
/// ```
/// use kissmetrics::{Client, Options};
/// use kissmetrics::proto::http::Response;
///
/// let client = Client::builder("key")
///     .with_transport(|_req| Ok(Response::new(Vec::new())))
///     .unwrap();
/// client.record("bob", "Signed Up", [("Plan", "Pro")]).unwrap();
/// client.set("bob", [("gender", "male")]).unwrap();
/// client.record_with("bob", "Paid", (), Options::new().timestamp(1_234_567_890)).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("encoder", &self.inner.encoder)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts building a client for `key`.
    pub fn builder(key: &str) -> ClientBuilder {
        ClientBuilder {
            settings: Settings {
                key: key.to_owned(),
                scheme: Scheme::Https,
                host: None,
                config: TransportConfig::new(),
            },
        }
    }

    /// The encoder that builds this client's requests.
    #[must_use]
    pub fn encoder(&self) -> &Encoder {
        &self.inner.encoder
    }

    /// Records `event` for `person`.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn record<P: Properties>(
        &self,
        person: &str,
        event: &str,
        properties: P,
    ) -> Result<Response<Vec<u8>>, Error> {
        self.record_with(person, event, properties, Options::new())
    }

    /// Records `event` with a timestamp or path override.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn record_with<P: Properties>(
        &self,
        person: &str,
        event: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Response<Vec<u8>>, Error> {
        let request = self
            .inner
            .encoder
            .record(person, event, properties, options)?;
        self.send(request)
    }

    /// Sets properties on `person`.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn set<P: Properties>(
        &self,
        person: &str,
        properties: P,
    ) -> Result<Response<Vec<u8>>, Error> {
        self.set_with(person, properties, Options::new())
    }

    /// Sets properties with a timestamp or path override.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn set_with<P: Properties>(
        &self,
        person: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Response<Vec<u8>>, Error> {
        let request = self.inner.encoder.set(person, properties, options)?;
        self.send(request)
    }

    /// Aliases `person` to `identity`.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn alias(&self, person: &str, identity: &str) -> Result<Response<Vec<u8>>, Error> {
        self.alias_with(person, identity, Options::new())
    }

    /// Aliases with a path override.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn alias_with(
        &self,
        person: &str,
        identity: &str,
        options: Options<'_>,
    ) -> Result<Response<Vec<u8>>, Error> {
        let request = self.inner.encoder.alias(person, identity, options)?;
        self.send(request)
    }

    /// Sends a request built by [`Client::encoder`] (or anyone), checking the status.
    ///
    /// # Errors
    /// [`Error::Transport`] or [`Error::Undelivered`].
    pub fn send(&self, request: km_proto::http::Request<()>) -> Result<Response<Vec<u8>>, Error> {
        Error::check(self.inner.transport.send(request)?)
    }
}

/// Builds an [`AsyncClient`]: the key, then options, then a transport.
#[derive(Clone)]
#[must_use]
pub struct AsyncClientBuilder {
    settings: Settings,
}

impl fmt::Debug for AsyncClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClientBuilder")
            .field("key", &"***")
            .field("scheme", &self.settings.scheme)
            .field("host", &self.settings.host)
            .field("config", &self.settings.config)
            .finish()
    }
}

impl AsyncClientBuilder {
    builder_settings!();

    /// Builds a client over any async transport, closures included.
    ///
    /// ```
    /// use kissmetrics::AsyncClient;
    /// use kissmetrics::proto::{http::Response, TransportResult};
    ///
    /// let client = AsyncClient::builder("key")
    ///     .with_transport(|_req| async { TransportResult::Ok(Response::new(Vec::new())) })
    ///     .unwrap();
    /// # let _ = client;
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty key or a bad host.
    pub fn with_transport<T>(self, transport: T) -> Result<AsyncClient, Error>
    where
        T: km_proto::AsyncTransport + Send + Sync + 'static,
    {
        Ok(AsyncClient {
            inner: Arc::new(AsyncClientInner {
                encoder: self.settings.encoder()?,
                transport: Box::new(transport),
            }),
        })
    }
}

struct AsyncClientInner {
    encoder: Encoder,
    transport: Box<dyn DynAsyncTransport + Send + Sync>,
}

/// An async client: each call sends one request and returns the response.
///
/// `Clone + Send + Sync`, and its futures are `Send`, so it works from any
/// executor and across tasks.
#[derive(Clone)]
pub struct AsyncClient {
    inner: Arc<AsyncClientInner>,
}

impl fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient")
            .field("encoder", &self.inner.encoder)
            .finish_non_exhaustive()
    }
}

impl AsyncClient {
    /// Starts building a client for `key`.
    pub fn builder(key: &str) -> AsyncClientBuilder {
        AsyncClientBuilder {
            settings: Settings {
                key: key.to_owned(),
                scheme: Scheme::Https,
                host: None,
                config: TransportConfig::new(),
            },
        }
    }

    /// The encoder that builds this client's requests.
    #[must_use]
    pub fn encoder(&self) -> &Encoder {
        &self.inner.encoder
    }

    /// Records `event` for `person`.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn record<P: Properties>(
        &self,
        person: &str,
        event: &str,
        properties: P,
    ) -> Result<Response<Vec<u8>>, Error> {
        self.record_with(person, event, properties, Options::new())
            .await
    }

    /// Records `event` with a timestamp or path override.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn record_with<P: Properties>(
        &self,
        person: &str,
        event: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Response<Vec<u8>>, Error> {
        let request = self
            .inner
            .encoder
            .record(person, event, properties, options)?;
        self.send(request).await
    }

    /// Sets properties on `person`.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn set<P: Properties>(
        &self,
        person: &str,
        properties: P,
    ) -> Result<Response<Vec<u8>>, Error> {
        self.set_with(person, properties, Options::new()).await
    }

    /// Sets properties with a timestamp or path override.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn set_with<P: Properties>(
        &self,
        person: &str,
        properties: P,
        options: Options<'_>,
    ) -> Result<Response<Vec<u8>>, Error> {
        let request = self.inner.encoder.set(person, properties, options)?;
        self.send(request).await
    }

    /// Aliases `person` to `identity`.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn alias(&self, person: &str, identity: &str) -> Result<Response<Vec<u8>>, Error> {
        self.alias_with(person, identity, Options::new()).await
    }

    /// Aliases with a path override.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn alias_with(
        &self,
        person: &str,
        identity: &str,
        options: Options<'_>,
    ) -> Result<Response<Vec<u8>>, Error> {
        let request = self.inner.encoder.alias(person, identity, options)?;
        self.send(request).await
    }

    /// Sends a request built by [`AsyncClient::encoder`] (or anyone), checking the status.
    ///
    /// # Errors
    /// [`Error::Transport`] or [`Error::Undelivered`].
    pub async fn send(
        &self,
        request: km_proto::http::Request<()>,
    ) -> Result<Response<Vec<u8>>, Error> {
        Error::check(self.inner.transport.send_boxed(request).await?)
    }
}
