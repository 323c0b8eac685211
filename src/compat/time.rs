//! UTC time without a date crate: what `now()` returns and log lines start with.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use km_proto::Timestamp;

/// A point in time shown in UTC, as the reference's `now()`
/// (`datetime.utcnow()`) gives it.
///
/// A thin wrapper over [`SystemTime`]: its `Display` is ISO 8601 in whole
/// seconds (`2009-02-13T23:31:30Z`), [`unix_seconds`](Self::unix_seconds)
/// gives the epoch seconds, and it converts into a [`Timestamp`] for
/// back-dating.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use kissmetrics::compat::UtcTime;
///
/// let t = UtcTime::from(UNIX_EPOCH + Duration::from_secs(1_234_567_890));
/// assert_eq!(t.to_string(), "2009-02-13T23:31:30Z");
/// assert_eq!(t.unix_seconds(), 1_234_567_890);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(SystemTime);

impl UtcTime {
    /// The current time.
    #[must_use]
    pub fn now() -> Self {
        UtcTime(SystemTime::now())
    }

    /// The time as a [`SystemTime`].
    #[must_use]
    pub fn system_time(self) -> SystemTime {
        self.0
    }

    /// Whole seconds since 1970-01-01T00:00:00Z, rounded down (negative
    /// before it; saturating at the ends of `i64`).
    #[must_use]
    pub fn unix_seconds(self) -> i64 {
        match self.0.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            Err(before) => {
                let before = before.duration();
                let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                (-secs).saturating_sub(i64::from(before.subsec_nanos() > 0))
            }
        }
    }
}

impl From<SystemTime> for UtcTime {
    fn from(t: SystemTime) -> Self {
        UtcTime(t)
    }
}

impl From<UtcTime> for SystemTime {
    fn from(t: UtcTime) -> Self {
        t.0
    }
}

impl From<UtcTime> for Timestamp {
    fn from(t: UtcTime) -> Self {
        Timestamp::from(t.0)
    }
}

impl fmt::Display for UtcTime {
    /// ISO 8601 in UTC, whole seconds: `YYYY-MM-DDTHH:MM:SSZ` (years past
    /// 9999 or before 0 are written in full, with a sign when negative).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = i128::from(self.unix_seconds());
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`). `i128` leaves no room for overflow
/// with any `i64` second count.
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i128::from(month <= 2);
    // Both are in small ranges, shown above.
    (year, month as u32, day as u32)
}
