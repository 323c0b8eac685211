//! Interpreting responses, without I/O.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::RETRY_AFTER;
use http::{HeaderMap, Response, StatusCode};

/// What a response means for the request that got it.
///
/// ```
/// use std::time::SystemTime;
/// use km_proto::{classify, Outcome};
///
/// let ok = http::Response::builder().status(200).body(()).unwrap();
/// assert_eq!(classify(&ok, SystemTime::UNIX_EPOCH), Outcome::Delivered);
///
/// let busy = http::Response::builder().status(429).header("retry-after", "7").body(()).unwrap();
/// assert_eq!(
///     classify(&busy, SystemTime::UNIX_EPOCH),
///     Outcome::Retryable { retry_after: Some(std::time::Duration::from_secs(7)) }
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Outcome {
    /// `2xx` or `304`: the service has the request.
    Delivered,
    /// `408`, `429` or `5xx`: sending the same request again may succeed.
    Retryable {
        /// The delay the server asked for with `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Any other status: sending it again will not help.
    Rejected,
}

impl Outcome {
    /// Whether the request was delivered.
    #[must_use]
    pub const fn is_delivered(self) -> bool {
        matches!(self, Outcome::Delivered)
    }

    /// Whether the request may be sent again.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(self, Outcome::Retryable { .. })
    }
}

/// The class of a status alone: [`Outcome::Retryable`] carries no delay here.
///
/// ```
/// use km_proto::{classify_status, Outcome};
/// use http::StatusCode;
/// assert_eq!(classify_status(StatusCode::NOT_MODIFIED), Outcome::Delivered);
/// assert_eq!(classify_status(StatusCode::REQUEST_TIMEOUT), Outcome::Retryable { retry_after: None });
/// assert_eq!(classify_status(StatusCode::NOT_FOUND), Outcome::Rejected);
/// ```
pub fn classify_status(status: StatusCode) -> Outcome {
    match status.as_u16() {
        200..=299 | 304 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Retryable { retry_after: None },
        _ => Outcome::Rejected,
    }
}

/// Classifies a response by its status and `Retry-After` header.
///
/// `now` is the caller's clock, used to turn an HTTP-date `Retry-After` into
/// a delay; a date in the past gives a zero delay.
pub fn classify<B>(response: &Response<B>, now: SystemTime) -> Outcome {
    match classify_status(response.status()) {
        Outcome::Retryable { .. } => Outcome::Retryable {
            retry_after: retry_after(response.headers(), now),
        },
        other => other,
    }
}

/// The delay a `Retry-After` header asks for: delta-seconds or an HTTP-date
/// (IMF-fixdate, RFC 850 or asctime form) compared with `now`.
///
/// Returns `None` when the header is absent or unparsable.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use http::HeaderMap;
/// use km_proto::retry_after;
///
/// let mut h = HeaderMap::new();
/// h.insert("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 30);
/// assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
/// ```
#[must_use]
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate rather than fail.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = UNIX_EPOCH + Duration::from_secs(parse_http_date(value)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds since the epoch of an HTTP-date (RFC 9110 §5.6.7).
///
/// By hand: the `httpdate` crate does this well, but the protocol core keeps
/// its run-time dependencies to `http` and the `url` family.
fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let (day, month, year, time) = if let Some((_, rest)) = s.split_once(", ") {
        let parts: Vec<&str> = rest.split([' ', '-']).collect();
        match parts.as_slice() {
            // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
            [d, m, y, t, "GMT"] if y.len() == 4 => (*d, *m, y.parse::<u64>().ok()?, *t),
            // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT (two-digit year: RFC 9110
            // says a year more than 50 years ahead is in the past century).
            [d, m, y, t, "GMT"] if y.len() == 2 => {
                let yy: u64 = y.parse().ok()?;
                (*d, *m, if yy < 70 { 2000 + yy } else { 1900 + yy }, *t)
            }
            _ => return None,
        }
    } else {
        // asctime: Sun Nov  6 08:49:37 1994
        let parts: Vec<&str> = s.split_ascii_whitespace().collect();
        match parts.as_slice() {
            [_, m, d, t, y] if y.len() == 4 => (*d, *m, y.parse::<u64>().ok()?, *t),
            _ => return None,
        }
    };
    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u64 = day.parse().ok()?;
    let month = match month {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let hms: Vec<&str> = time.split(':').collect();
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    let field = |f: &str, max: u64| -> Option<u64> {
        (f.len() == 2 && f.bytes().all(|b| b.is_ascii_digit()))
            .then(|| f.parse().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (h, m, sec) = (field(h, 23)?, field(m, 59)?, field(sec, 60)?);
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`, for years from 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let want = Some(784_111_777);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), want);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"),
            Some(951_782_400)
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 1900 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "soon",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn classes() {
        for (code, want) in [
            (200, Outcome::Delivered),
            (204, Outcome::Delivered),
            (304, Outcome::Delivered),
            (301, Outcome::Rejected),
            (400, Outcome::Rejected),
            (404, Outcome::Rejected),
            (408, Outcome::Retryable { retry_after: None }),
            (429, Outcome::Retryable { retry_after: None }),
            (500, Outcome::Retryable { retry_after: None }),
            (503, Outcome::Retryable { retry_after: None }),
            (599, Outcome::Retryable { retry_after: None }),
            (101, Outcome::Rejected),
        ] {
            assert_eq!(
                classify_status(StatusCode::from_u16(code).unwrap()),
                want,
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let resp = |v: &str| {
            Response::builder()
                .status(503)
                .header(RETRY_AFTER, v)
                .body(())
                .unwrap()
        };
        let delay = |v: &str| match classify(&resp(v), now) {
            Outcome::Retryable { retry_after } => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(delay("120"), Some(Duration::from_secs(120)));
        assert_eq!(delay(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(
            delay("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            delay("Sun, 09 Sep 2001 01:47:00 GMT"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(delay("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(delay("-1"), None);
        assert_eq!(delay("1.5"), None);
        let ok = Response::builder()
            .status(200)
            .header(RETRY_AFTER, "5")
            .body(())
            .unwrap();
        assert_eq!(classify(&ok, now), Outcome::Delivered);
    }
}
