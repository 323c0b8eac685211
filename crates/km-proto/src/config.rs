//! Settings shared by every transport adapter.

use std::fmt;
use std::time::Duration;

use http::Uri;

/// The default total timeout of one request: 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` adapters send: `kissmetrics-rust/<version>`.
pub const USER_AGENT: &str = concat!("kissmetrics-rust/", env!("CARGO_PKG_VERSION"));

/// Settings every adapter honours, so they live once, here.
///
/// Plain data: adapters read it when they build their client.
///
/// ```
/// use std::time::Duration;
/// use km_proto::TransportConfig;
///
/// let config = TransportConfig::new()
///     .timeout(Duration::from_secs(2))
///     .connect_timeout(Duration::from_millis(500))
///     .proxy("http://127.0.0.1:3128".parse().unwrap());
/// assert_eq!(config.get_timeout(), Duration::from_secs(2));
/// assert!(config.get_proxy_from_env());
///
/// // Proxy credentials never show in `Debug`.
/// let config = TransportConfig::new().proxy("http://me:s3cret@proxy:3128".parse().unwrap());
/// assert!(format!("{config:?}").contains("http://***@proxy:3128/"));
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct TransportConfig {
    timeout: Duration,
    connect_timeout: Option<Duration>,
    proxy: Option<Uri>,
    proxy_from_env: bool,
    root_certificates: Vec<Vec<u8>>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("proxy", &self.proxy.as_ref().map(redact_userinfo))
            .field("proxy_from_env", &self.proxy_from_env)
            .field("root_certificates", &self.root_certificates.len())
            .finish()
    }
}

/// The proxy URI with any `user:password@` shown as `***@`.
fn redact_userinfo(uri: &Uri) -> String {
    let text = uri.to_string();
    match uri.authority().map(|a| a.as_str()) {
        Some(authority) if authority.contains('@') => {
            let host = authority.rsplit('@').next().unwrap_or("");
            text.replacen(authority, &format!("***@{host}"), 1)
        }
        _ => text,
    }
}

impl TransportConfig {
    /// A 10 s total timeout, no separate connect timeout, no explicit proxy,
    /// proxies from the environment where the adapter supports them, and
    /// the adapter's default root certificates.
    pub fn new() -> Self {
        TransportConfig {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: None,
            proxy: None,
            proxy_from_env: true,
            root_certificates: Vec::new(),
        }
    }

    /// The longest one request may take, connecting and reading included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest connecting (TCP and TLS) may take; bounded by the total
    /// timeout either way.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sends every request through this HTTP proxy (`http://host:port`);
    /// overrides the environment.
    pub fn proxy(mut self, proxy: Uri) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Whether `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` are
    /// honoured when no explicit proxy is set (default: yes, where the
    /// adapter supports them).
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.proxy_from_env = yes;
        self
    }

    /// Trusts this root certificate (DER) in addition to the default roots.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }

    /// The total timeout.
    #[must_use]
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The connect timeout: the one set, or the total timeout.
    #[must_use]
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
            .map_or(self.timeout, |c| c.min(self.timeout))
    }

    /// The explicit proxy, if any.
    #[must_use]
    pub fn get_proxy(&self) -> Option<&Uri> {
        self.proxy.as_ref()
    }

    /// Whether proxies from the environment are honoured.
    #[must_use]
    pub fn get_proxy_from_env(&self) -> bool {
        self.proxy_from_env
    }

    /// The extra root certificates (DER).
    #[must_use]
    pub fn get_root_certificates(&self) -> &[Vec<u8>] {
        &self.root_certificates
    }
}
