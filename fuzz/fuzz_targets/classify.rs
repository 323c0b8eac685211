//! Classifying responses from arbitrary statuses and headers.
//!
//! Never panics; the outcome follows the status rule (2xx and 304
//! delivered; 408, 429 and 5xx retryable; anything else rejected); only a
//! retryable outcome carries a `Retry-After` delay, which is exactly
//! `retry_after()`. Delta-seconds read as their number (saturating); an
//! HTTP-date, built here in each of its three forms and converted to epoch
//! seconds by a separate calendar count, gives exactly `date - now` (zero
//! once past); and for any header at all, a date delay never exceeds
//! `date - now`.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use km_proto::http::{HeaderName, HeaderValue, Response, StatusCode};
use km_proto::{classify, classify_status, retry_after, Outcome};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum RetryAfter {
    Absent,
    /// Any header bytes.
    Raw(Vec<u8>),
    /// Delta-seconds, with optional spaces around.
    Delta {
        secs: u64,
        spaces_before: u8,
        spaces_after: u8,
    },
    /// A date from (possibly out-of-range) fields.
    Date(Date),
}

#[derive(Debug, Arbitrary)]
struct Date {
    /// 0: IMF-fixdate, 1: RFC 850, 2: asctime.
    form: u8,
    weekday: u8,
    day: u8,
    month: u8,
    year: u16,
    hour: u8,
    minute: u8,
    second: u8,
}

#[derive(Debug, Arbitrary)]
struct Input {
    status: u16,
    retry_after: RetryAfter,
    /// Other headers, which must not matter.
    others: Vec<(Vec<u8>, Vec<u8>)>,
    now_secs: u64,
    now_nanos: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn month_days(year: u64, month: u64) -> u64 {
    [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][(month - 1) as usize]
}

impl Date {
    /// The header text, and the epoch seconds it must parse to (`None`
    /// when a field is out of range).
    fn render(&self) -> (String, Option<u64>) {
        // Years around the valid range 1970..=9999, fields a bit past theirs.
        let year = 1960 + u64::from(self.year) % 8100;
        let month = u64::from(self.month % 14); // 1..=12 valid
        let day = u64::from(self.day % 33);
        let (hour, minute, second) = (
            u64::from(self.hour % 26),
            u64::from(self.minute % 62),
            u64::from(self.second % 62),
        );
        let mon = match month {
            1..=12 => MONTHS[(month - 1) as usize],
            _ => "Foo",
        };
        let wd = usize::from(self.weekday) % 7;
        let hms = format!("{hour:02}:{minute:02}:{second:02}");
        let (text, year) = match self.form % 3 {
            0 => (
                format!("{}, {day:02} {mon} {year:04} {hms} GMT", DAYS[wd]),
                year,
            ),
            1 => {
                let yy = year % 100;
                (
                    format!("{}, {day:02}-{mon}-{yy:02} {hms} GMT", LONG_DAYS[wd]),
                    if yy < 70 { 2000 + yy } else { 1900 + yy },
                )
            }
            _ => (format!("{} {mon} {day:>2} {hms} {year:04}", DAYS[wd]), year),
        };
        let valid = (1970..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= month_days(year, month)
            && hour <= 23
            && minute <= 59
            && second <= 60;
        if !valid {
            return (text, None);
        }
        // Count the days one year and one month at a time.
        let mut days: u64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
        days += (1..month).map(|m| month_days(year, m)).sum::<u64>();
        days += day - 1;
        (
            text,
            Some(days * 86_400 + hour * 3600 + minute * 60 + second),
        )
    }
}

/// `at - now`, or zero once `at` has passed.
fn until(at_secs: u64, now: SystemTime) -> Duration {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Duration::from_secs(at_secs).saturating_sub(now)
}

fuzz_target!(|input: Input| {
    let Ok(status) = StatusCode::from_u16(input.status) else {
        return;
    };
    // Up to about year 14,600: representable as a SystemTime everywhere.
    let now = UNIX_EPOCH
        + Duration::new(
            input.now_secs % 400_000_000_000,
            input.now_nanos % 1_000_000_000,
        );

    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &input.others {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            if name != "retry-after" {
                headers.append(name, value);
            }
        }
    }
    // What the header says, and the delay it must give.
    let (text, expected): (Option<Vec<u8>>, Option<Option<Duration>>) = match &input.retry_after {
        RetryAfter::Absent => (None, Some(None)),
        RetryAfter::Raw(bytes) => {
            let trimmed = bytes.trim_ascii();
            let delta = !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_digit);
            let expected = delta.then(|| {
                let secs = std::str::from_utf8(trimmed)
                    .ok()
                    .and_then(|s| s.parse().ok());
                Some(Duration::from_secs(secs.unwrap_or(u64::MAX)))
            });
            (Some(bytes.clone()), expected)
        }
        RetryAfter::Delta {
            secs,
            spaces_before,
            spaces_after,
        } => {
            let text = format!(
                "{}{secs}{}",
                " ".repeat(usize::from(spaces_before % 4)),
                " ".repeat(usize::from(spaces_after % 4))
            );
            (
                Some(text.into_bytes()),
                Some(Some(Duration::from_secs(*secs))),
            )
        }
        RetryAfter::Date(date) => {
            let (text, at) = date.render();
            (Some(text.into_bytes()), Some(at.map(|at| until(at, now))))
        }
    };
    let header = text.and_then(|t| HeaderValue::from_bytes(&t).ok());
    let has_header = header.is_some();
    if let Some(value) = header {
        response.headers_mut().insert("retry-after", value);
    }

    let outcome = classify(&response, now);
    let code = status.as_u16();
    let want_class = match code {
        200..=299 | 304 => "delivered",
        408 | 429 | 500..=599 => "retryable",
        _ => "rejected",
    };
    let got_class = match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retryable { .. } => "retryable",
        Outcome::Rejected => "rejected",
    };
    assert_eq!(got_class, want_class, "status {code}");
    assert_eq!(outcome.is_delivered(), want_class == "delivered");
    assert_eq!(outcome.is_retryable(), want_class == "retryable");
    match classify_status(status) {
        Outcome::Retryable { retry_after } => assert_eq!(retry_after, None),
        other => assert_eq!(other, outcome),
    }

    let delay = retry_after(response.headers(), now);
    if let Outcome::Retryable { retry_after } = outcome {
        assert_eq!(retry_after, delay);
    }
    if !has_header {
        assert_eq!(delay, None);
    } else if let Some(expected) = expected {
        assert_eq!(
            delay,
            expected,
            "{:?}",
            response.headers().get("retry-after")
        );
    }
    // Any date at all: the delay is the date (its delay from the epoch)
    // minus now, never more.
    if let (Some(delay), Some(value)) = (delay, response.headers().get("retry-after")) {
        let is_delta = {
            let t = value.as_bytes().trim_ascii();
            !t.is_empty() && t.iter().all(u8::is_ascii_digit)
        };
        if !is_delta {
            let at =
                retry_after(response.headers(), UNIX_EPOCH).expect("parsed once, parses again");
            assert_eq!(at.subsec_nanos(), 0, "dates are whole seconds");
            assert_eq!(delay, until(at.as_secs(), now));
            assert!(
                at.as_secs() <= 253_402_300_799,
                "after 9999-12-31T23:59:59Z"
            );
        }
    }
});
