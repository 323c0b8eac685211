//! Keeping the API key out of logs.

use std::borrow::Cow;
use std::fmt;

use http::Request;

/// Renders a request for logs: method and URI with the `_k` value replaced by `***`.
///
/// ```
/// use km_proto::{redacted, Encoder, Options};
/// let req = Encoder::new("s3cret").unwrap().alias("a", "b", Options::new()).unwrap();
/// assert_eq!(redacted(&req).to_string(), "GET https://trk.kissmetrics.io/a?_k=***&_p=a&_n=b");
/// ```
#[must_use]
pub fn redacted<B>(request: &Request<B>) -> Redacted<'_, B> {
    Redacted(request)
}

/// A request displayed without its API key; see [`redacted`].
pub struct Redacted<'a, B>(&'a Request<B>);

impl<B> fmt::Display for Redacted<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0.uri().to_string();
        write!(f, "{} {}", self.0.method(), redact_key(&uri))
    }
}

impl<B> fmt::Debug for Redacted<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Replaces the value of every `_k=` query pair in `text` with `***`.
///
/// A pair starts after `?`, `&` or the start of the text and ends at `&`,
/// `#`, whitespace or a quote, so URIs quoted inside error messages are
/// covered too.
///
/// ```
/// use km_proto::redact_key;
/// assert_eq!(redact_key("GET /e?_k=abc&_p=x"), "GET /e?_k=***&_p=x");
/// assert_eq!(redact_key("_k=abc"), "_k=***");
/// assert_eq!(redact_key("no key here"), "no key here");
/// ```
#[must_use]
pub fn redact_key(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let starts: Vec<usize> = text
        .match_indices("_k=")
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || matches!(bytes[i - 1], b'?' | b'&'))
        .collect();
    if starts.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for start in starts {
        let value = start + 3;
        if value < from {
            continue;
        }
        out.push_str(&text[from..value]);
        out.push_str("***");
        let end = text[value..]
            .find(|c: char| c == '&' || c == '#' || c == '"' || c == '\'' || c.is_whitespace())
            .map_or(text.len(), |n| value + n);
        from = end;
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_key() {
        assert_eq!(
            redact_key("a http://h/e?_k=1 b \"http://h/s?x=1&_k=2#f\" c"),
            "a http://h/e?_k=*** b \"http://h/s?x=1&_k=***#f\" c"
        );
        assert_eq!(redact_key("x_k=1"), "x_k=1");
        assert_eq!(redact_key("?_k="), "?_k=***");
        assert_eq!(redact_key("?_k=é&_k=ü"), "?_k=***&_k=***");
    }
}
