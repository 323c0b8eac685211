//! Retrying without I/O: whether to send a request again, and when.

use std::fmt;
use std::time::Duration;

use crate::response::Outcome;
use crate::transport::TransportError;

/// When a request that was not delivered is sent again, and when to stop.
///
/// Exponential backoff with full jitter: retry number `n` (the first retry
/// is `1`) waits a uniformly random time in
/// `[0, min(max_delay, initial_delay × 2^(n−1))]`, and never less than the
/// server asked for with `Retry-After`. Only the retryable classes of
/// PROTOCOL.md §3 are retried: `408`, `429`, `5xx` and the refused, reset and
/// timed-out transport failures ([`Outcome::Retryable`]); anything else is
/// given up at once. Retrying stops after [`max_attempts`](Self::max_attempts)
/// attempts or once [`max_elapsed`](Self::max_elapsed) has passed since the
/// first one, whichever comes first.
///
/// The policy is pure: the caller passes the attempts made so far, the time
/// elapsed since the first one and a random `u64`, so the same inputs always
/// give the same [`Decision`].
///
/// Retrying is only safe when a duplicate cannot be counted twice: stamp
/// the call time (`_t` with `_d=1`) when the call is made, so that the
/// service's deduplication drops a request that arrived more than once.
///
/// ```
/// use std::time::Duration;
/// use km_proto::{Decision, GiveUp, Outcome, RetryPolicy};
///
/// let policy = RetryPolicy::new()
///     .initial_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(2))
///     .max_attempts(Some(3));
/// let busy = Outcome::Retryable { retry_after: None };
///
/// // After the first attempt: a random delay of at most 100 ms.
/// let Decision::Retry { after } = policy.decide(busy, 1, Duration::ZERO, u64::MAX) else { panic!() };
/// assert!(after <= Duration::from_millis(100));
/// // The server asked for 5 s: never sooner.
/// let slow = Outcome::Retryable { retry_after: Some(Duration::from_secs(5)) };
/// assert_eq!(
///     policy.decide(slow, 2, Duration::from_secs(1), 0),
///     Decision::Retry { after: Duration::from_secs(5) }
/// );
/// // Three attempts made: stop.
/// assert_eq!(policy.decide(busy, 3, Duration::from_secs(2), 0), Decision::GiveUp(GiveUp::Attempts));
/// assert_eq!(policy.decide(Outcome::Rejected, 1, Duration::ZERO, 0), Decision::GiveUp(GiveUp::Rejected));
/// assert_eq!(policy.decide(Outcome::Delivered, 1, Duration::ZERO, 0), Decision::Delivered);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct RetryPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    max_attempts: Option<u32>,
    max_elapsed: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// The default delay ceiling of the first retry: 250 ms.
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(250);
    /// The default cap on any one delay: 30 s.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
    /// The default number of attempts, the first one included: 10.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
    /// The default time after the first attempt past which no retry
    /// starts: 5 minutes.
    pub const DEFAULT_MAX_ELAPSED: Duration = Duration::from_secs(300);

    /// The defaults: 250 ms initial delay, 30 s cap, at most 10 attempts
    /// within 5 minutes.
    pub const fn new() -> Self {
        RetryPolicy {
            initial_delay: Self::DEFAULT_INITIAL_DELAY,
            max_delay: Self::DEFAULT_MAX_DELAY,
            max_attempts: Some(Self::DEFAULT_MAX_ATTEMPTS),
            max_elapsed: Some(Self::DEFAULT_MAX_ELAPSED),
        }
    }

    /// A policy that never retries: one attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use km_proto::{Decision, GiveUp, Outcome, RetryPolicy};
    /// let once = RetryPolicy::never();
    /// let busy = Outcome::Retryable { retry_after: None };
    /// assert_eq!(once.decide(busy, 1, Duration::ZERO, 0), Decision::GiveUp(GiveUp::Attempts));
    /// ```
    pub const fn never() -> Self {
        Self::new().max_attempts(Some(1))
    }

    /// The delay ceiling of the first retry; each further retry doubles it
    /// up to [`max_delay`](Self::max_delay).
    pub const fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The cap on the backoff delay. A longer `Retry-After` still wins.
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How many attempts in all, the first one included; `None` for no
    /// limit. `Some(0)` means the same as `Some(1)`: one attempt, no retry.
    pub const fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = match attempts {
            Some(0) => Some(1),
            other => other,
        };
        self
    }

    /// How long after the first attempt a retry may still start; `None`
    /// for no limit. A delay that would end past it is shortened to end
    /// on it, unless `Retry-After` asks for longer: then the request is
    /// given up.
    pub const fn max_elapsed(mut self, elapsed: Option<Duration>) -> Self {
        self.max_elapsed = elapsed;
        self
    }

    /// The delay ceiling of the first retry.
    #[must_use]
    pub const fn get_initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The cap on the backoff delay.
    #[must_use]
    pub const fn get_max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The attempt limit, if any.
    #[must_use]
    pub const fn get_max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The elapsed-time limit, if any.
    #[must_use]
    pub const fn get_max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The longest backoff delay of retry number `retry` (1 for the first):
    /// `min(max_delay, initial_delay × 2^(retry−1))`, at most `u64::MAX`
    /// nanoseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use km_proto::RetryPolicy;
    /// let p = RetryPolicy::new().initial_delay(Duration::from_millis(100)).max_delay(Duration::from_secs(1));
    /// assert_eq!(p.ceiling(1), Duration::from_millis(100));
    /// assert_eq!(p.ceiling(3), Duration::from_millis(400));
    /// assert_eq!(p.ceiling(5), Duration::from_secs(1));
    /// assert_eq!(p.ceiling(1000), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        let cap = self.max_delay.as_nanos().min(u128::from(u64::MAX));
        let shift = retry.saturating_sub(1);
        let nanos = if shift >= 64 {
            cap
        } else {
            self.initial_delay
                .as_nanos()
                .saturating_mul(1_u128 << shift)
                .min(cap)
        };
        // `nanos` fits in 64 bits: it is at most `cap`.
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The jittered backoff delay of retry number `retry`: `random` spread
    /// uniformly over `[0, ceiling(retry))` (`0` gives no delay, `u64::MAX`
    /// almost the ceiling).
    ///
    /// ```
    /// use std::time::Duration;
    /// use km_proto::RetryPolicy;
    /// let p = RetryPolicy::new().initial_delay(Duration::from_secs(1));
    /// assert_eq!(p.backoff(1, 0), Duration::ZERO);
    /// assert_eq!(p.backoff(1, u64::MAX / 2 + 1), Duration::from_millis(500));
    /// assert!(p.backoff(1, u64::MAX) < Duration::from_secs(1));
    /// ```
    #[must_use]
    pub fn backoff(&self, retry: u32, random: u64) -> Duration {
        let ceiling = u128::from(u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX));
        // (ceiling × random) / 2^64 < ceiling ≤ u64::MAX: no overflow, fits.
        let nanos = (ceiling * u128::from(random)) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// What to do after an attempt ended with `outcome`.
    ///
    /// `attempts` is how many attempts were made, the one that just ended
    /// included (so at least 1); `elapsed` is the time since the first one
    /// started; `random` is a uniformly random number, the jitter.
    pub fn decide(
        &self,
        outcome: Outcome,
        attempts: u32,
        elapsed: Duration,
        random: u64,
    ) -> Decision {
        let retry_after = match outcome {
            Outcome::Delivered => return Decision::Delivered,
            Outcome::Rejected => return Decision::GiveUp(GiveUp::Rejected),
            Outcome::Retryable { retry_after } => retry_after,
        };
        if self.max_attempts.is_some_and(|max| attempts >= max) {
            return Decision::GiveUp(GiveUp::Attempts);
        }
        let asked = retry_after.unwrap_or(Duration::ZERO);
        let mut after = self.backoff(attempts.max(1), random).max(asked);
        if let Some(max) = self.max_elapsed {
            let Some(left) = max.checked_sub(elapsed).filter(|left| !left.is_zero()) else {
                return Decision::GiveUp(GiveUp::Elapsed);
            };
            if asked > left {
                return Decision::GiveUp(GiveUp::Elapsed);
            }
            after = after.min(left);
        }
        Decision::Retry { after }
    }
}

/// What [`RetryPolicy::decide`] says about a request after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Decision {
    /// It was delivered: nothing more to do.
    Delivered,
    /// Send it again after this delay.
    Retry {
        /// How long to wait before the next attempt.
        after: Duration,
    },
    /// Stop trying.
    GiveUp(GiveUp),
}

/// Why [`RetryPolicy::decide`] stopped trying.
///
/// ```
/// assert_eq!(km_proto::GiveUp::Attempts.to_string(), "the attempt limit was reached");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUp {
    /// The failure is permanent: a non-retryable status or transport error.
    Rejected,
    /// The attempt limit was reached.
    Attempts,
    /// The elapsed-time limit was reached, or `Retry-After` asked to wait
    /// past it.
    Elapsed,
}

impl GiveUp {
    /// Whether a later attempt might still succeed (every reason but
    /// [`GiveUp::Rejected`]): such a request is worth keeping for later.
    ///
    /// ```
    /// use km_proto::GiveUp;
    /// assert!(GiveUp::Elapsed.is_transient());
    /// assert!(!GiveUp::Rejected.is_transient());
    /// ```
    #[must_use]
    pub const fn is_transient(self) -> bool {
        !matches!(self, GiveUp::Rejected)
    }
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GiveUp::Rejected => "the failure is not retryable",
            GiveUp::Attempts => "the attempt limit was reached",
            GiveUp::Elapsed => "the time limit was reached",
        })
    }
}

/// A transport failure as a response class: refused, reset and timed-out
/// requests are retryable (without a server-given delay), the rest are not.
///
/// ```
/// use km_proto::{Outcome, TransportError, TransportErrorKind};
/// let reset = TransportError::new(TransportErrorKind::Reset, "connection reset");
/// assert_eq!(Outcome::from(&reset), Outcome::Retryable { retry_after: None });
/// let tls = TransportError::new(TransportErrorKind::Tls, "bad certificate");
/// assert_eq!(Outcome::from(&tls), Outcome::Rejected);
/// ```
impl From<&TransportError> for Outcome {
    fn from(error: &TransportError) -> Self {
        if error.is_retryable() {
            Outcome::Retryable { retry_after: None }
        } else {
            Outcome::Rejected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BUSY: Outcome = Outcome::Retryable { retry_after: None };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let p = RetryPolicy::new().initial_delay(ms(10)).max_delay(ms(75));
        let ceilings: Vec<_> = (0..7).map(|n| p.ceiling(n)).collect();
        assert_eq!(
            ceilings,
            [ms(10), ms(10), ms(20), ms(40), ms(75), ms(75), ms(75)]
        );
        assert_eq!(p.ceiling(u32::MAX), ms(75));
        let huge = RetryPolicy::new()
            .initial_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        assert_eq!(huge.ceiling(3), Duration::from_nanos(u64::MAX));
        assert_eq!(
            huge.backoff(3, u64::MAX),
            Duration::from_nanos(u64::MAX - 1)
        );
    }

    #[test]
    fn attempts_limit() {
        let p = RetryPolicy::new().max_attempts(Some(4)).max_elapsed(None);
        for attempts in 1..4 {
            assert!(matches!(
                p.decide(BUSY, attempts, Duration::ZERO, 7),
                Decision::Retry { .. }
            ));
        }
        assert_eq!(
            p.decide(BUSY, 4, Duration::ZERO, 7),
            Decision::GiveUp(GiveUp::Attempts)
        );
        let unlimited = p.max_attempts(None);
        assert!(matches!(
            unlimited.decide(BUSY, u32::MAX, Duration::MAX, 7),
            Decision::Retry { .. }
        ));
        assert_eq!(
            RetryPolicy::new().max_attempts(Some(0)).get_max_attempts(),
            Some(1)
        );
    }

    #[test]
    fn elapsed_limit_shortens_or_stops() {
        let p = RetryPolicy::new()
            .initial_delay(ms(1000))
            .max_elapsed(Some(ms(1500)))
            .max_attempts(None);
        // 1.4 s elapsed: at most 100 ms are left, the delay is cut to them.
        assert_eq!(
            p.decide(BUSY, 1, ms(1400), u64::MAX),
            Decision::Retry { after: ms(100) }
        );
        assert_eq!(
            p.decide(BUSY, 1, ms(1500), 0),
            Decision::GiveUp(GiveUp::Elapsed)
        );
        // Retry-After past the limit: give up rather than retry early.
        let asked = Outcome::Retryable {
            retry_after: Some(ms(200)),
        };
        assert_eq!(
            p.decide(asked, 1, ms(1400), 0),
            Decision::GiveUp(GiveUp::Elapsed)
        );
        assert_eq!(
            p.decide(asked, 1, ms(1300), 0),
            Decision::Retry { after: ms(200) }
        );
    }

    #[test]
    fn only_retryable_classes_are_retried() {
        let p = RetryPolicy::new();
        for status in [
            200_u16, 204, 304, 301, 400, 401, 403, 404, 408, 429, 500, 503, 599,
        ] {
            let outcome = crate::classify_status(http::StatusCode::from_u16(status).unwrap());
            let d = p.decide(outcome, 1, Duration::ZERO, 1);
            let want_retry = matches!(status, 408 | 429 | 500..=599);
            assert_eq!(matches!(d, Decision::Retry { .. }), want_retry, "{status}");
            assert_eq!(
                d == Decision::Delivered,
                matches!(status, 200..=299 | 304),
                "{status}"
            );
        }
        use crate::TransportErrorKind as K;
        for (kind, retry) in [
            (K::Connect, true),
            (K::Timeout, true),
            (K::Reset, true),
            (K::Tls, false),
            (K::Other, false),
        ] {
            let outcome = Outcome::from(&TransportError::new(kind, "x"));
            assert_eq!(
                matches!(
                    p.decide(outcome, 1, Duration::ZERO, 1),
                    Decision::Retry { .. }
                ),
                retry,
                "{kind}"
            );
        }
    }

    proptest! {
        #[test]
        fn delay_is_jittered_within_bounds(
            initial in 0_u64..10_000,
            cap in 0_u64..100_000,
            attempts in 1_u32..200,
            random: u64,
            asked in proptest::option::of(0_u64..50_000),
        ) {
            let p = RetryPolicy::new()
                .initial_delay(ms(initial))
                .max_delay(ms(cap))
                .max_attempts(None)
                .max_elapsed(None);
            let outcome = Outcome::Retryable { retry_after: asked.map(ms) };
            let Decision::Retry { after } = p.decide(outcome, attempts, Duration::ZERO, random) else {
                panic!("must retry");
            };
            let ceiling = p.ceiling(attempts);
            prop_assert!(ceiling <= ms(cap));
            prop_assert!(ceiling <= ms(initial).saturating_mul(1 << (attempts - 1).min(20)) || attempts > 21);
            match asked {
                Some(a) => prop_assert_eq!(after, p.backoff(attempts, random).max(ms(a))),
                None => prop_assert!(after <= ceiling && (after < ceiling || ceiling.is_zero())),
            }
            // Same inputs, same answer.
            prop_assert_eq!(p.decide(outcome, attempts, Duration::ZERO, random), Decision::Retry { after });
        }

        #[test]
        fn jitter_is_monotonic_in_random(a: u64, b: u64, retry in 1_u32..10) {
            let p = RetryPolicy::new();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(p.backoff(retry, lo) <= p.backoff(retry, hi));
        }
    }
}
