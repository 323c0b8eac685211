//! The reference's `"name:port"` host strings.

use std::fmt;

use km_proto::{Endpoint, Scheme};

/// Why a `"name:port"` host string was refused by [`parse_host`].
///
/// Every variant keeps the host as given, so the message can name it.
///
/// ```
/// use kissmetrics::compat::{parse_host, HostError};
///
/// let err = parse_host("trk.kissmetrics.io:22").unwrap_err();
/// assert!(matches!(err, HostError::UnsupportedPort { .. }));
/// assert_eq!(
///     err.to_string(),
///     "port \"22\" in host \"trk.kissmetrics.io:22\" is not 80 (http) or 443 (https)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The host string is empty (pass no host at all for the default one).
    Empty,
    /// No `:port` follows the name.
    MissingPort {
        /// The host as given.
        host: String,
    },
    /// More than one `:` outside brackets (an IPv6 address must be bracketed).
    TooManyColons {
        /// The host as given.
        host: String,
    },
    /// A port other than exactly `80` or `443`.
    UnsupportedPort {
        /// The host as given.
        host: String,
        /// The port as given.
        port: String,
    },
    /// Nothing before the `:`.
    EmptyName {
        /// The host as given.
        host: String,
    },
    /// The name is not a valid DNS name, IPv4 address or bracketed IPv6
    /// address (see [`Endpoint`]).
    InvalidName {
        /// The host as given.
        host: String,
        /// Why [`Endpoint::new`] refused the name.
        source: km_proto::Error,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Empty => {
                f.write_str("host is empty (give no host for the default tracking host)")
            }
            HostError::MissingPort { host } => write!(
                f,
                "host {host:?} has no port: write \"name:80\" for http or \"name:443\" for https"
            ),
            HostError::TooManyColons { host } => write!(
                f,
                "host {host:?} has more than one ':' (write an IPv6 address in brackets, as \"[::1]:443\")"
            ),
            HostError::UnsupportedPort { host, port } => write!(
                f,
                "port {port:?} in host {host:?} is not 80 (http) or 443 (https)"
            ),
            HostError::EmptyName { host } => {
                write!(f, "host {host:?} has no name before the port")
            }
            HostError::InvalidName { host, source } => {
                write!(f, "host {host:?} has an invalid name: {source}")
            }
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HostError::InvalidName { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Parses the reference client's `"name:port"` host: port `80` means http,
/// `443` means https, and, as in the reference, the port is not sent (the
/// scheme implies it).
///
/// The port must be exactly `80` or `443` (`"080"` is refused, as the
/// reference's string lookup refuses it). A bracketed IPv6 address is
/// accepted (`"[::1]:443"`), which the reference's `split(':')` could not
/// parse. Never panics, whatever the input.
///
/// ```
/// use kissmetrics::compat::{parse_host, HostError};
/// use kissmetrics::Scheme;
///
/// let endpoint = parse_host("httpbin.org:80").unwrap();
/// assert_eq!((endpoint.scheme(), endpoint.host()), (Scheme::Http, "httpbin.org"));
/// assert_eq!(parse_host("[::1]:443").unwrap().to_string(), "https://[::1]");
/// assert!(matches!(parse_host("nohost"), Err(HostError::MissingPort { .. })));
/// assert!(matches!(parse_host("a:b:c"), Err(HostError::TooManyColons { .. })));
/// assert!(matches!(parse_host(":80"), Err(HostError::EmptyName { .. })));
/// ```
///
/// # Errors
/// A [`HostError`] naming the problem.
pub fn parse_host(host: &str) -> Result<Endpoint, HostError> {
    let owned = || host.to_owned();
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    let (name, port) = if host.starts_with('[') {
        match host.rfind("]:") {
            // Both delimiters are ASCII, so these are char boundaries.
            Some(i) => (&host[..=i], &host[i + 2..]),
            // No port: either a complete bracketed address, or a broken one
            // the endpoint can describe.
            None => {
                return Err(match Endpoint::new(Scheme::Https, host) {
                    Ok(_) => HostError::MissingPort { host: owned() },
                    Err(source) => HostError::InvalidName {
                        host: owned(),
                        source,
                    },
                })
            }
        }
    } else {
        match host.split_once(':') {
            None => return Err(HostError::MissingPort { host: owned() }),
            Some((_, port)) if port.contains(':') => {
                return Err(HostError::TooManyColons { host: owned() })
            }
            Some(parts) => parts,
        }
    };
    let scheme = match port {
        "80" => Scheme::Http,
        "443" => Scheme::Https,
        _ => {
            return Err(HostError::UnsupportedPort {
                host: owned(),
                port: port.to_owned(),
            })
        }
    };
    if name.is_empty() {
        return Err(HostError::EmptyName { host: owned() });
    }
    Endpoint::new(scheme, name).map_err(|source| HostError::InvalidName {
        host: owned(),
        source,
    })
}
