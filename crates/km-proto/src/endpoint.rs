//! Where requests go: scheme and host.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The default tracking host.
pub const DEFAULT_HOST: &str = "trk.kissmetrics.io";

/// `http` or `https`.
///
/// ```
/// use km_proto::Scheme;
/// assert_eq!("https".parse::<Scheme>().unwrap(), Scheme::Https);
/// assert!("ftp".parse::<Scheme>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP: the API key travels in clear text.
    Http,
    /// HTTPS, the default.
    #[default]
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when the host names none: 80 or 443.
    #[must_use]
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            _ => Err(Error::InvalidScheme {
                scheme: s.to_owned(),
            }),
        }
    }
}

/// A validated scheme and host (with optional port).
///
/// The host is a DNS name (ASCII letters, digits, `-`, `.`, `_`), an IPv4
/// address or a bracketed IPv6 address, optionally followed by `:port`.
/// Anything that could change the request's shape (`/`, `?`, `#`, `@`,
/// whitespace, control characters) is refused; international names must be
/// given in their ASCII (punycode) form.
///
/// ```
/// use km_proto::{Endpoint, Scheme};
/// let default = Endpoint::default();
/// assert_eq!(default.to_string(), "https://trk.kissmetrics.io");
/// let local = Endpoint::new(Scheme::Http, "127.0.0.1:8080").unwrap();
/// assert_eq!(local.host(), "127.0.0.1:8080");
/// assert_eq!("http://[::1]:9000".parse::<Endpoint>().unwrap().scheme(), Scheme::Http);
/// assert!(Endpoint::new(Scheme::Https, "evil.example/x?").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    scheme: Scheme,
    host: Box<str>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            scheme: Scheme::Https,
            host: DEFAULT_HOST.into(),
        }
    }
}

impl Endpoint {
    /// An endpoint from a scheme and a `host[:port]`.
    ///
    /// # Errors
    /// [`Error::InvalidHost`] when the host is empty or malformed.
    pub fn new(scheme: Scheme, host: &str) -> Result<Self, Error> {
        validate_host(host)?;
        Ok(Endpoint {
            scheme,
            host: host.into(),
        })
    }

    /// The scheme.
    #[must_use]
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, with its port when one was given.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    /// Parses `scheme://host[:port]`, with an optional trailing `/`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let (scheme, rest) = s.split_once("://").ok_or_else(|| Error::InvalidScheme {
            scheme: s.to_owned(),
        })?;
        let host = rest.strip_suffix('/').unwrap_or(rest);
        Endpoint::new(scheme.parse()?, host)
    }
}

fn validate_host(host: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidHost {
            host: host.to_owned(),
            reason,
        })
    };
    if host.is_empty() {
        return bad("is empty");
    }
    if let Some(c) = host.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return if c == '\r' || c == '\n' {
            bad("contains CR or LF")
        } else {
            bad("contains whitespace or a control character")
        };
    }
    if !host.is_ascii() {
        return bad("is not ASCII (give an international name in its punycode form)");
    }
    if host.contains(['/', '?', '#', '@', '\\']) {
        return bad("contains one of / ? # @ \\, which would change the request's shape");
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((ip6, after)) = rest.split_once(']') else {
            return bad("has an unclosed [");
        };
        if ip6.is_empty()
            || !ip6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return bad("has an invalid IPv6 address");
        }
        match after {
            "" => (ip6, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (ip6, Some(port)),
                None => return bad("has characters after the IPv6 address"),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() {
        return bad("has an empty name");
    }
    if !host.starts_with('[')
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return bad("may contain only letters, digits, '-', '.' and '_' before the port");
    }
    if name.len() > 253 {
        return bad("is longer than 253 characters");
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return bad("has a port that is not a number from 1 to 65535");
        }
        match port.parse::<u32>() {
            Ok(1..=65535) => {}
            _ => return bad("has a port that is not a number from 1 to 65535"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "trk.kissmetrics.io",
            "127.0.0.1:8080",
            "localhost",
            "[::1]",
            "[::1]:443",
            "a_b-c.d:1",
            "h:65535",
        ] {
            assert!(Endpoint::new(Scheme::Https, ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a b", "a\r\nb", "a/b", "a?b", "a#b", "u@h", "é.com", "h:", "h:0", "h:65536",
            "h:abc", ":80", "[::1", "[]", "[::1]x", "h:1:2", "a\tb",
        ] {
            assert!(
                matches!(
                    Endpoint::new(Scheme::Https, bad),
                    Err(Error::InvalidHost { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse() {
        let e: Endpoint = "https://trk.kissmetrics.io/".parse().unwrap();
        assert_eq!(e, Endpoint::default());
        assert!(matches!(
            "ftp://x".parse::<Endpoint>(),
            Err(Error::InvalidScheme { .. })
        ));
        assert!(matches!(
            "x".parse::<Endpoint>(),
            Err(Error::InvalidScheme { .. })
        ));
    }
}
