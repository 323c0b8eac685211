//! [`ClientCompat`] (alias [`KM`]): the Python client's compatibility API.
//!
//! A port of py-KISSmetrics 1.1.0's `ClientCompat`/`KM` for code moving from
//! Python: the same calls, the same checks and messages, the same URLs, on
//! top of the blocking [`Client`]. Where the reference has traps, this port
//! takes them out; each difference is listed below.
//!
//! ```
//! use kissmetrics::compat::{CallOptions, KM};
//! use kissmetrics::proto::http::{Request, Response};
//!
//! // Any blocking transport works; a closure stands in for the network here.
//! let km = KM::with_transport("this is your API key", None, false, |req: Request<()>| {
//!     assert_eq!(req.uri().host(), Some("trk.kissmetrics.io"));
//!     Ok(Response::new(Vec::new()))
//! })?;
//! km.identify("bob@bob.com");
//! km.check_id_key()?;
//! km.record("Viewed Homepage", ())?;
//! km.record("Signed Up", [("_d", 1), ("_t", 1234567890)])?;
//! km.set([("gender", "male")])?;
//! let response = km.alias_with("bob", "shadybob", CallOptions::new().resp(true))?;
//! assert_eq!(response.map(|r| r.status()), Some(200.try_into()?));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Sharing between threads
//!
//! `ClientCompat` is `Send + Sync`; share it with an `Arc` (or a scoped
//! thread). As in Python, its key and identity are **one shared state**:
//! `identify`, `set_key` and `reset` on any thread change what every thread
//! sends next (the state is read once per call, so a call never mixes two
//! states). Code that tracks different people from different threads should
//! not call `identify` on a shared client; it should take a handle with
//! [`ClientCompat::with_identity`], which carries its own identity, shares
//! everything else, and costs one small allocation:
//!
//! ```
//! use std::sync::Arc;
//! use kissmetrics::compat::KM;
//! use kissmetrics::proto::http::Response;
//!
//! let km = Arc::new(KM::with_transport("key", None, false, |_req| Ok(Response::new(Vec::new())))?);
//! let threads: Vec<_> = ["alice", "bob"]
//!     .into_iter()
//!     .map(|person| {
//!         let km = Arc::clone(&km);
//!         std::thread::spawn(move || km.with_identity(person).record("Logged In", ()).map(|_| ()))
//!     })
//!     .collect();
//! for t in threads {
//!     t.join().unwrap()?;
//! }
//! assert_eq!(km.identity(), None); // the handles never touched the shared identity
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Differences from the reference, on purpose
//!
//! - **Default scheme https.** Without a host the reference sends plain http
//!   (the API key in clear text); this port sends to
//!   `https://trk.kissmetrics.io`. `"name:80"` still means http.
//! - **`reset()` really stops sending.** The reference clears the key it
//!   checks but keeps sending with the key given at construction; here the
//!   key is gone until [`ClientCompat::set_key`], and `set_key` changes the
//!   key on the wire (the reference's `km.key = ...` only fed the check).
//! - **`http_timeout` and `logging` work.** The reference accepts and ignores
//!   both. Here `http_timeout` (default 2 s, as in the generation before the
//!   reference) bounds each request of the built-in transport, and `logging`
//!   appends one line per failed send to [`ClientCompat::log_file`], as that
//!   generation did, with a newline, a UTC ISO 8601 time and the error (see
//!   [`ClientCompat`] for the file's safety rules).
//! - **Send failures are errors** ([`CompatError::Send`]), and so is a status
//!   that does not mean "delivered" (the facade's rule): the reference
//!   returns whatever urllib3 gives and the generation before it swallowed
//!   every failure.
//! - **Bad input is refused before sending**, with the facade's validation:
//!   an empty event, identity or property name, a person over 255
//!   characters, a property named `_k`, `_p` or `_n`, an invalid `_t`/`_d`,
//!   an empty path (the reference sent `path=''` to the bare host).
//! - **Host strings:** `""` is an error rather than the default host (say
//!   `None`), `":80"` (empty name) is an error rather than a URL without a
//!   host, a name the [`Endpoint`] rules refuse is an error, and a bracketed
//!   IPv6 address (`"[::1]:443"`) is accepted. See [`parse_host`].
//! - **`now()`** returns a [`UtcTime`] (a `SystemTime` shown in UTC) rather
//!   than a naive `datetime`.
//! - **`key()`** returns an [`ApiKey`] whose `Debug`/`Display` show `***`.

mod error;
mod host;
mod log;
mod time;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use km_proto::http::{Request, Response};
use km_proto::{ApiKey, Call, Encoder, Endpoint, Options, Properties, Transport};

use crate::{Client, ClientBuilder, Error};

pub use error::{CompatError, NOT_IDENTIFIED, NOT_INITIALIZED};
pub use host::{parse_host, HostError};
pub use log::{LogError, DEFAULT_LOG_FILE};
pub use time::UtcTime;

/// The reference's name for [`ClientCompat`].
pub type KM = ClientCompat;

/// Each request's time limit unless `http_timeout` says otherwise: 2 s, the
/// default of the generation before the reference (which has none).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// The reference's `path=` and `resp=` keyword arguments.
///
/// The default, `CallOptions::new()`, is the reference's: the call's own
/// path (`e`, `s` or `a`) and no response (`resp=False`).
///
/// ```
/// use kissmetrics::compat::{CallOptions, KM};
/// use kissmetrics::proto::http::{Request, Response};
///
/// let km = KM::with_transport("foo", None, false, |req: Request<()>| {
///     assert_eq!(req.uri().path(), "/get");
///     Ok(Response::new(Vec::new()))
/// })?;
/// km.identify("bob");
/// // Python: km.record('fizzed', path='get', resp=True)
/// let response = km.record_with("fizzed", (), CallOptions::new().path("get").resp(true))?;
/// assert!(response.is_some());
/// // Python: km.record('fizzed', path='get')
/// assert!(km.record_with("fizzed", (), CallOptions::new().path("get"))?.is_none());
/// # Ok::<(), kissmetrics::compat::CompatError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct CallOptions<'a> {
    path: Option<&'a str>,
    resp: bool,
}

impl<'a> CallOptions<'a> {
    /// The call's default path, no response.
    pub const fn new() -> Self {
        CallOptions {
            path: None,
            resp: false,
        }
    }

    /// Sends to this path (`"get"` → `/get`) instead of the call's default.
    pub const fn path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }

    /// Whether the call returns the response (`Ok(Some(..))`) or `Ok(None)`.
    pub const fn resp(mut self, resp: bool) -> Self {
        self.resp = resp;
        self
    }

    fn options(self) -> Options<'a> {
        Options::new().path_opt(self.path)
    }
}

/// Where requests go, as given to the builder.
#[derive(Clone, Debug)]
enum Target {
    Default,
    Host(String),
    Endpoint(Endpoint),
}

/// Builds a [`ClientCompat`] with the options the reference's constructor
/// lacks: an explicit [`Endpoint`] (any port, e.g. a local test server) and
/// another log file.
///
/// ```
/// use std::time::Duration;
/// use kissmetrics::compat::ClientCompat;
/// use kissmetrics::proto::http::Response;
/// use kissmetrics::{Endpoint, Scheme};
///
/// let dir = std::env::temp_dir();
/// let km = ClientCompat::builder("key")
///     .endpoint(Endpoint::new(Scheme::Http, "127.0.0.1:8080")?)
///     .http_timeout(Duration::from_secs(5))
///     .log_path(dir.join("my-app-kissmetrics.log"))
///     .with_transport(|_req| Ok(Response::new(Vec::new())))?;
/// assert_eq!(km.endpoint().to_string(), "http://127.0.0.1:8080");
/// assert_eq!(km.log_file(), dir.join("my-app-kissmetrics.log"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientCompatBuilder {
    key: String,
    target: Target,
    http_timeout: Duration,
    logging: bool,
    log_path: PathBuf,
}

impl fmt::Debug for ClientCompatBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCompatBuilder")
            .field("key", &"***")
            .field("target", &self.target)
            .field("http_timeout", &self.http_timeout)
            .field("logging", &self.logging)
            .field("log_path", &self.log_path)
            .finish()
    }
}

impl ClientCompatBuilder {
    /// Sends to a reference-style `"name:port"` host (see [`parse_host`];
    /// checked when the client is built). Replaces an earlier `endpoint`.
    pub fn host(mut self, host: &str) -> Self {
        self.target = Target::Host(host.to_owned());
        self
    }

    /// Sends to this endpoint, any port allowed. Replaces an earlier `host`.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.target = Target::Endpoint(endpoint);
        self
    }

    /// Bounds each request of the built-in transport, connecting and reading
    /// included (default [`DEFAULT_HTTP_TIMEOUT`]). A transport given to
    /// [`with_transport`](Self::with_transport) keeps its own timeouts.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Whether failed sends are appended to the log file (default: yes, as
    /// in the reference).
    pub fn logging(mut self, logging: bool) -> Self {
        self.logging = logging;
        self
    }

    /// Appends failed sends to this file instead of [`DEFAULT_LOG_FILE`];
    /// [`ClientCompat::log_file`] returns it.
    pub fn log_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_path = path.into();
        self
    }

    /// Builds the client over the blocking transport of the enabled feature
    /// (`ureq` or `isahc`), with `http_timeout` as its timeout.
    ///
    /// # Errors
    /// [`CompatError::Host`], [`CompatError::ZeroTimeout`],
    /// [`CompatError::Invalid`] for an empty key, or [`CompatError::Setup`]
    /// when the transport cannot be set up.
    #[cfg(any(feature = "ureq", feature = "isahc"))]
    pub fn build(self) -> Result<ClientCompat, CompatError> {
        let (endpoint, encoder, builder) = self.parts()?;
        self.finish(endpoint, encoder, builder.build())
    }

    /// Builds the client over any blocking transport, closures included.
    /// `http_timeout` does not apply: the transport has its own.
    ///
    /// # Errors
    /// [`CompatError::Host`], [`CompatError::ZeroTimeout`] or
    /// [`CompatError::Invalid`] for an empty key.
    pub fn with_transport<T>(self, transport: T) -> Result<ClientCompat, CompatError>
    where
        T: Transport + Send + Sync + 'static,
    {
        let (endpoint, encoder, builder) = self.parts()?;
        self.finish(endpoint, encoder, builder.with_transport(transport))
    }

    fn parts(&self) -> Result<(Endpoint, Encoder, ClientBuilder), CompatError> {
        let endpoint = match &self.target {
            Target::Default => Endpoint::default(),
            Target::Host(host) => parse_host(host)?,
            Target::Endpoint(endpoint) => endpoint.clone(),
        };
        if self.http_timeout.is_zero() {
            return Err(CompatError::ZeroTimeout);
        }
        let encoder = Encoder::with_endpoint(&self.key, endpoint.clone())?;
        let builder = Client::builder(&self.key)
            .scheme(endpoint.scheme())
            .host(endpoint.host())
            .timeout(self.http_timeout);
        Ok((endpoint, encoder, builder))
    }

    fn finish(
        self,
        endpoint: Endpoint,
        encoder: Encoder,
        client: Result<Client, Error>,
    ) -> Result<ClientCompat, CompatError> {
        let client = client.map_err(|e| match e {
            Error::Invalid(e) => CompatError::Invalid(e),
            e => CompatError::Setup(e),
        })?;
        Ok(ClientCompat {
            client,
            endpoint,
            state: RwLock::new(State {
                encoder: Some(Arc::new(encoder)),
                identity: None,
            }),
            logging: self.logging,
            log_path: self.log_path,
        })
    }

    fn host_opt(self, host: Option<&str>) -> Self {
        match host {
            Some(host) => self.host(host),
            None => self,
        }
    }
}

/// The key and identity every call reads; one snapshot per call.
struct State {
    /// Holds the key; `None` after `reset()`.
    encoder: Option<Arc<Encoder>>,
    identity: Option<Arc<str>>,
}

/// The Python client's `ClientCompat` (also [`KM`]): a key and an identity
/// set once, then `record`/`set`/`alias` calls.
///
/// See the [module documentation](self) for an example, thread semantics
/// and the differences from the reference.
///
/// # The error log
///
/// With logging on, every failed send ([`CompatError::Send`]) appends one
/// line to [`log_file`](Self::log_file), such as
///
/// ```text
/// 2026-12-04T15:30:00Z record: Could not transmit to https://trk.kissmetrics.io: transport failed: timeout error: …
/// ```
///
/// the UTC time, the call, the endpoint and the error, never the API key. On
/// Unix the file is created with mode 0600, opened append-only
/// (`O_APPEND`), never through a symbolic link (`O_NOFOLLOW`: a link is
/// refused and the refusal is reported as [`LogError::Symlink`]) and never
/// if it is not a regular file. Each line is one `write`, and writers in
/// this process take turns, so lines never interleave. A log that cannot
/// be written never fails the call on its own and never panics: the send
/// error is returned either way, with the [`LogError`] beside it.
/// Input refused before sending, and missing key or identity, are not
/// logged: nothing was sent.
pub struct ClientCompat {
    client: Client,
    endpoint: Endpoint,
    state: RwLock<State>,
    logging: bool,
    log_path: PathBuf,
}

impl fmt::Debug for ClientCompat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read();
        f.debug_struct("ClientCompat")
            .field("endpoint", &self.endpoint)
            .field("key", &state.encoder.as_ref().map(|e| e.key()))
            .field("identity", &state.identity)
            .field("logging", &self.logging)
            .field("log_path", &self.log_path)
            .finish_non_exhaustive()
    }
}

/// What `record`, `set` and `alias` return: the response when `resp` was
/// asked for, `None` otherwise (the reference returns `None` then too).
pub type Reply = Result<Option<Response<Vec<u8>>>, CompatError>;

impl ClientCompat {
    /// The reference's constructor: `KM(key, host=None, http_timeout=None,
    /// logging=True)`, over the blocking transport of the enabled feature
    /// (`ureq` or `isahc`).
    ///
    /// `host` is `"name:80"` (http) or `"name:443"` (https), see
    /// [`parse_host`]; `None` is `https://trk.kissmetrics.io`.
    /// `http_timeout` bounds each request (`None`: [`DEFAULT_HTTP_TIMEOUT`]).
    /// `logging` appends failed sends to [`DEFAULT_LOG_FILE`]; use
    /// [`ClientCompat::builder`] for another file or an explicit endpoint.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kissmetrics::compat::{CompatError, HostError, KM};
    ///
    /// let km = KM::new("key", Some("trk.kissmetrics.io:443"), Some(Duration::from_secs(5)), true)?;
    /// assert_eq!(km.endpoint().to_string(), "https://trk.kissmetrics.io");
    /// assert!(matches!(
    ///     KM::new("key", Some("trk.kissmetrics.io:22"), None, true),
    ///     Err(CompatError::Host(HostError::UnsupportedPort { .. }))
    /// ));
    /// # Ok::<(), CompatError>(())
    /// ```
    ///
    /// # Errors
    /// [`CompatError::Host`], [`CompatError::ZeroTimeout`],
    /// [`CompatError::Invalid`] for an empty key, or [`CompatError::Setup`].
    #[cfg(any(feature = "ureq", feature = "isahc"))]
    pub fn new(
        key: &str,
        host: Option<&str>,
        http_timeout: Option<Duration>,
        logging: bool,
    ) -> Result<Self, CompatError> {
        let mut builder = Self::builder(key).host_opt(host).logging(logging);
        if let Some(timeout) = http_timeout {
            builder = builder.http_timeout(timeout);
        }
        builder.build()
    }

    /// The constructor over any blocking transport, closures included; the
    /// transport has its own timeouts.
    ///
    /// ```
    /// use kissmetrics::compat::ClientCompat;
    /// use kissmetrics::proto::http::{Request, Response};
    ///
    /// let km = ClientCompat::with_transport("k", Some("h:443"), false, |req: Request<()>| {
    ///     assert_eq!(req.uri().to_string(), "https://h/e?_k=k&_p=p&_n=e");
    ///     Ok(Response::new(Vec::new()))
    /// })?;
    /// km.identify("p");
    /// km.record("e", ())?;
    /// # Ok::<(), kissmetrics::compat::CompatError>(())
    /// ```
    ///
    /// # Errors
    /// [`CompatError::Host`] or [`CompatError::Invalid`] for an empty key.
    pub fn with_transport<T>(
        key: &str,
        host: Option<&str>,
        logging: bool,
        transport: T,
    ) -> Result<Self, CompatError>
    where
        T: Transport + Send + Sync + 'static,
    {
        Self::builder(key)
            .host_opt(host)
            .logging(logging)
            .with_transport(transport)
    }

    /// Starts building a client for `key`: default host, 2 s timeout,
    /// logging on to [`DEFAULT_LOG_FILE`].
    pub fn builder(key: &str) -> ClientCompatBuilder {
        ClientCompatBuilder {
            key: key.to_owned(),
            target: Target::Default,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            logging: true,
            log_path: PathBuf::from(DEFAULT_LOG_FILE),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // The lock guards plain assignments, which cannot leave it half-done.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the person later `record` and `set` calls are about, for every
    /// thread sharing this client (see [`with_identity`](Self::with_identity)
    /// for a private one). Checked when a call uses it: an empty identity or
    /// one over 255 characters is refused then.
    pub fn identify(&self, identity: &str) {
        self.write().identity = Some(identity.into());
    }

    /// A handle that records and sets for `identity`, sharing this client's
    /// key and transport but not its identity: the way to keep people apart
    /// across threads or requests.
    ///
    /// ```
    /// use kissmetrics::compat::KM;
    /// use kissmetrics::proto::http::{Request, Response};
    ///
    /// let km = KM::with_transport("key", None, false, |req: Request<()>| {
    ///     assert!(req.uri().query().unwrap().contains("_p=alice"));
    ///     Ok(Response::new(Vec::new()))
    /// })?;
    /// km.identify("bob");
    /// km.with_identity("alice").record("Logged In", ())?;
    /// assert_eq!(km.identity().as_deref(), Some("bob"));
    /// # Ok::<(), kissmetrics::compat::CompatError>(())
    /// ```
    pub fn with_identity(&self, identity: &str) -> Identified<'_> {
        Identified {
            km: self,
            identity: identity.into(),
        }
    }

    /// Records `action` for the identified person: the reference's
    /// `record(action, props)`, default path, no response (`Ok(None)`).
    ///
    /// `props` takes every form the facade takes (`()`, arrays or `Vec`s of
    /// pairs, maps, …). A `_d`/`_t` pair back-dates the event, as in the
    /// reference's README: `record("Signed Up", [("_d", 1), ("_t", 1234567890)])`.
    ///
    /// # Errors
    /// [`CompatError::NotInitialized`], then [`CompatError::NotIdentified`]
    /// (nothing sent), [`CompatError::Invalid`] or [`CompatError::Send`].
    pub fn record<P: Properties>(&self, action: &str, props: P) -> Reply {
        self.record_with(action, props, CallOptions::new())
    }

    /// Records with the reference's `path=` and `resp=` arguments.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn record_with<P: Properties>(
        &self,
        action: &str,
        props: P,
        options: CallOptions<'_>,
    ) -> Reply {
        let (encoder, identity) = self.id_key()?;
        let request = encoder.record(&identity, action, props, options.options())?;
        self.send(Call::Record, &encoder, request, options.resp)
    }

    /// Sets properties on the identified person: the reference's
    /// `set(data)`, default path, no response (`Ok(None)`).
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn set<P: Properties>(&self, data: P) -> Reply {
        self.set_with(data, CallOptions::new())
    }

    /// Sets properties with the reference's `path=` and `resp=` arguments.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn set_with<P: Properties>(&self, data: P, options: CallOptions<'_>) -> Reply {
        let (encoder, identity) = self.id_key()?;
        let request = encoder.set(&identity, data, options.options())?;
        self.send(Call::Set, &encoder, request, options.resp)
    }

    /// Aliases `name` to `alias_to` (`_p` and `_n`): the reference's
    /// `alias(name, alias_to)`. Needs the key, not an identity.
    ///
    /// # Errors
    /// [`CompatError::NotInitialized`] (nothing sent),
    /// [`CompatError::Invalid`] or [`CompatError::Send`].
    pub fn alias(&self, name: &str, alias_to: &str) -> Reply {
        self.alias_with(name, alias_to, CallOptions::new())
    }

    /// Aliases with the reference's `path=` and `resp=` arguments.
    ///
    /// # Errors
    /// As [`alias`](Self::alias).
    pub fn alias_with(&self, name: &str, alias_to: &str, options: CallOptions<'_>) -> Reply {
        let encoder = self.encoder()?;
        let request = encoder.alias(name, alias_to, options.options())?;
        self.send(Call::Alias, &encoder, request, options.resp)
    }

    /// Forgets the key and the identity: every call fails with
    /// [`CompatError::NotInitialized`] until [`set_key`](Self::set_key),
    /// and `record`/`set` with [`CompatError::NotIdentified`] until
    /// [`identify`](Self::identify).
    pub fn reset(&self) {
        let mut state = self.write();
        state.encoder = None;
        state.identity = None;
    }

    /// Sets the API key sent from now on (Python: `km.key = ...`).
    ///
    /// # Errors
    /// [`CompatError::Invalid`] for an empty key; the old key stays.
    pub fn set_key(&self, key: &str) -> Result<(), CompatError> {
        let encoder = Encoder::with_endpoint(key, self.endpoint.clone())?;
        self.write().encoder = Some(Arc::new(encoder));
        Ok(())
    }

    /// The API key, `None` after [`reset`](Self::reset). An [`ApiKey`]
    /// prints as `***`; [`ApiKey::expose_secret`] gives the text.
    ///
    /// ```
    /// use kissmetrics::compat::KM;
    /// use kissmetrics::proto::http::Response;
    ///
    /// let km = KM::with_transport("foo", None, false, |_req| Ok(Response::new(Vec::new())))?;
    /// let key = km.key().unwrap();
    /// assert_eq!(format!("{key} {key:?}"), "*** ApiKey(***)");
    /// assert_eq!(key.expose_secret(), "foo");
    /// # Ok::<(), kissmetrics::compat::CompatError>(())
    /// ```
    #[must_use]
    pub fn key(&self) -> Option<ApiKey> {
        self.read().encoder.as_ref().map(|e| e.key().clone())
    }

    /// The shared identity, `None` before [`identify`](Self::identify) and
    /// after [`reset`](Self::reset).
    #[must_use]
    pub fn identity(&self) -> Option<String> {
        self.read().identity.as_deref().map(str::to_owned)
    }

    /// Where failed sends are logged: [`DEFAULT_LOG_FILE`]
    /// (`/tmp/kissmetrics_error.log`) unless the builder chose another file.
    #[must_use]
    pub fn log_file(&self) -> &Path {
        &self.log_path
    }

    /// Whether failed sends are logged.
    #[must_use]
    pub fn logging(&self) -> bool {
        self.logging
    }

    /// Where requests go.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `Ok` when a key is set, else [`CompatError::NotInitialized`]
    /// (`"Need to initialize first (KM.init <your_key>)"`).
    ///
    /// # Errors
    /// [`CompatError::NotInitialized`].
    pub fn check_init(&self) -> Result<(), CompatError> {
        self.encoder().map(drop)
    }

    /// `Ok` when an identity is set, else [`CompatError::NotIdentified`]
    /// (`"Need to identify first (KM.identify <user>)"`).
    ///
    /// # Errors
    /// [`CompatError::NotIdentified`].
    pub fn check_identify(&self) -> Result<(), CompatError> {
        match self.read().identity {
            Some(_) => Ok(()),
            None => Err(CompatError::NotIdentified),
        }
    }

    /// [`check_init`](Self::check_init), then
    /// [`check_identify`](Self::check_identify).
    ///
    /// # Errors
    /// [`CompatError::NotInitialized`] or [`CompatError::NotIdentified`].
    pub fn check_id_key(&self) -> Result<(), CompatError> {
        self.id_key().map(drop)
    }

    /// The current time, in UTC (the reference's `datetime.utcnow()`).
    #[must_use]
    pub fn now(&self) -> UtcTime {
        UtcTime::now()
    }

    fn encoder(&self) -> Result<Arc<Encoder>, CompatError> {
        self.read()
            .encoder
            .clone()
            .ok_or(CompatError::NotInitialized)
    }

    /// Key and identity from one snapshot, checked in the reference's order.
    fn id_key(&self) -> Result<(Arc<Encoder>, Arc<str>), CompatError> {
        let state = self.read();
        let encoder = state.encoder.clone().ok_or(CompatError::NotInitialized)?;
        let identity = state.identity.clone().ok_or(CompatError::NotIdentified)?;
        Ok((encoder, identity))
    }

    fn send(&self, call: Call, encoder: &Encoder, request: Request<()>, resp: bool) -> Reply {
        match self.client.send(request) {
            Ok(response) => Ok(resp.then_some(response)),
            Err(error) => {
                let log = if self.logging {
                    let line =
                        log::line(UtcTime::now(), call, &self.endpoint, &error, encoder.key());
                    log::append(&self.log_path, &line).err()
                } else {
                    None
                };
                Err(CompatError::Send { error, log })
            }
        }
    }
}

/// A [`ClientCompat`] with its own identity, from
/// [`ClientCompat::with_identity`].
///
/// Shares the client's key (read at each call, so `set_key` and `reset`
/// apply) and transport; never reads or changes the shared identity.
#[derive(Debug)]
pub struct Identified<'a> {
    km: &'a ClientCompat,
    identity: Box<str>,
}

impl Identified<'_> {
    /// This handle's identity.
    #[must_use]
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// [`ClientCompat::record`] for this handle's identity.
    ///
    /// # Errors
    /// [`CompatError::NotInitialized`] (nothing sent),
    /// [`CompatError::Invalid`] or [`CompatError::Send`].
    pub fn record<P: Properties>(&self, action: &str, props: P) -> Reply {
        self.record_with(action, props, CallOptions::new())
    }

    /// [`ClientCompat::record_with`] for this handle's identity.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn record_with<P: Properties>(
        &self,
        action: &str,
        props: P,
        options: CallOptions<'_>,
    ) -> Reply {
        let encoder = self.km.encoder()?;
        let request = encoder.record(&self.identity, action, props, options.options())?;
        self.km.send(Call::Record, &encoder, request, options.resp)
    }

    /// [`ClientCompat::set`] for this handle's identity.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn set<P: Properties>(&self, data: P) -> Reply {
        self.set_with(data, CallOptions::new())
    }

    /// [`ClientCompat::set_with`] for this handle's identity.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub fn set_with<P: Properties>(&self, data: P, options: CallOptions<'_>) -> Reply {
        let encoder = self.km.encoder()?;
        let request = encoder.set(&self.identity, data, options.options())?;
        self.km.send(Call::Set, &encoder, request, options.resp)
    }
}
