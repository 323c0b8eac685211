//! Timestamps for back-dating (`_t` with `_d=1`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, TimestampError};

/// When an event happened: seconds since the Unix epoch, UTC.
///
/// Built from integers, floats (truncated toward zero, as the reference
/// client's `int(timestamp)` does) or a [`SystemTime`]. Negative and
/// non-finite values are refused when the request is built, with
/// [`Error::InvalidTimestamp`].
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use km_proto::Timestamp;
///
/// assert_eq!(Timestamp::from(1381849312.5).as_secs(), Ok(1381849312));
/// assert_eq!(Timestamp::from(UNIX_EPOCH + Duration::from_secs(7)).as_secs(), Ok(7));
/// assert!(Timestamp::from(-1_i64).as_secs().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timestamp(Repr);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Repr {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    System(SystemTime),
}

impl Timestamp {
    /// A timestamp of whole seconds since the Unix epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(Repr::Unsigned(secs))
    }

    /// The whole seconds since the Unix epoch this stands for.
    ///
    /// # Errors
    /// [`Error::InvalidTimestamp`] for negative, non-finite or too large values.
    pub fn as_secs(self) -> Result<u64, Error> {
        let invalid = |reason| Error::InvalidTimestamp { reason };
        match self.0 {
            Repr::Unsigned(s) => Ok(s),
            Repr::Signed(s) => u64::try_from(s).map_err(|_| invalid(TimestampError::Negative)),
            Repr::Float(x) => float_secs(x).map_err(invalid),
            Repr::System(t) => t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .map_err(|_| invalid(TimestampError::Negative)),
        }
    }
}

/// Whole seconds of a float, truncated toward zero.
pub(crate) fn float_secs(x: f64) -> Result<u64, TimestampError> {
    if !x.is_finite() {
        Err(TimestampError::NotFinite)
    } else if x < 0.0 {
        Err(TimestampError::Negative)
    } else if x >= 18_446_744_073_709_551_616.0 {
        Err(TimestampError::TooLarge)
    } else {
        // In range and finite: the cast truncates toward zero exactly.
        Ok(x as u64)
    }
}

impl From<u64> for Timestamp {
    fn from(s: u64) -> Self {
        Timestamp(Repr::Unsigned(s))
    }
}
impl From<u32> for Timestamp {
    fn from(s: u32) -> Self {
        Timestamp(Repr::Unsigned(s.into()))
    }
}
impl From<i64> for Timestamp {
    fn from(s: i64) -> Self {
        Timestamp(Repr::Signed(s))
    }
}
impl From<i32> for Timestamp {
    fn from(s: i32) -> Self {
        Timestamp(Repr::Signed(s.into()))
    }
}
impl From<f64> for Timestamp {
    fn from(s: f64) -> Self {
        Timestamp(Repr::Float(s))
    }
}
impl From<f32> for Timestamp {
    fn from(s: f32) -> Self {
        Timestamp(Repr::Float(s.into()))
    }
}
impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Timestamp(Repr::System(t))
    }
}
