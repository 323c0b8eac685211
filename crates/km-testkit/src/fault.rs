//! Fault injection: what can go wrong with a request, and how it is chosen.

use std::collections::VecDeque;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::StatusCode;

/// A fault the server applies to one request instead of its normal answer.
///
/// Faults reach the server either through
/// [`TestServer::push_fault`](crate::TestServer::push_fault) (a FIFO queue:
/// each queued fault is applied to exactly one of the next requests) or
/// through [`TestServer::set_fault_rates`](crate::TestServer::set_fault_rates)
/// (drawn at random, reproducibly). A request hit by a fault is still
/// recorded, with the fault in [`RecordedRequest::fault`](crate::RecordedRequest::fault).
///
/// ```
/// use std::time::Duration;
/// use km_testkit::Fault;
///
/// let throttled = Fault::too_many_requests("7");
/// assert_eq!(
///     throttled,
///     Fault::Status { status: 429, retry_after: Some("7".to_owned()) }
/// );
/// assert_eq!(Fault::status(503), Fault::Status { status: 503, retry_after: None });
/// let _stall = Fault::Delay(Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status code and an empty body (`Content-Length: 0`),
    /// plus a `Retry-After` header when `retry_after` is set. The connection
    /// stays open for further requests.
    Status {
        /// The status code, 200 to 999.
        status: u16,
        /// The value of a `Retry-After` header to send, such as `"7"` or an
        /// HTTP date; `None` sends no such header.
        retry_after: Option<String>,
    },
    /// Wait this long, then answer normally. Use it to make a client under
    /// test hit its timeout; the wait is cut short when the server shuts down.
    Delay(Duration),
    /// Close the connection as soon as the request has been read, before any
    /// byte of the response is sent.
    CloseBeforeResponse,
    /// Start a normal `200 OK` answer (headers with `Content-Length: 43` and
    /// the first [`MID_RESPONSE_BYTES`](crate::MID_RESPONSE_BYTES) bytes of
    /// the GIF), pause briefly so those bytes leave the server, then close
    /// the connection.
    CloseMidResponse,
}

impl Fault {
    /// A [`Fault::Status`] with this status and no `Retry-After` header.
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
        }
    }

    /// A `429 Too Many Requests` with the given `Retry-After` header value.
    pub fn too_many_requests(retry_after: impl Into<String>) -> Self {
        Fault::Status {
            status: 429,
            retry_after: Some(retry_after.into()),
        }
    }

    /// Panics with a clear message if the server could not send this fault.
    pub(crate) fn validate(&self) {
        if let Fault::Status {
            status,
            retry_after,
        } = self
        {
            validate_status(*status);
            if let Some(value) = retry_after {
                assert!(
                    HeaderValue::from_str(value).is_ok(),
                    "km-testkit: {value:?} is not a valid Retry-After header value"
                );
            }
        }
    }
}

fn validate_status(status: u16) {
    assert!(
        (200..=999).contains(&status) && StatusCode::from_u16(status).is_ok(),
        "km-testkit: {status} cannot be sent as a final response status (use 200 to 999)"
    );
}

/// Probabilities of faults, drawn independently for every request that no
/// queued fault applies to.
///
/// For each such request the server draws one number `x` uniformly from
/// `[0, 1)` with a [`fastrand::Rng`] seeded by
/// [`Builder::seed`](crate::Builder::seed), and walks the kinds in this
/// order, each taking a slice of `[0, 1)` as wide as its probability:
/// `status`, `close_before_response`, `close_mid_response`, `delay`. If `x`
/// falls past all of them the request is answered normally. The
/// probabilities must therefore add up to at most 1.
///
/// Setting rates restarts the random sequence from the seed, so the same
/// rates, seed and sequence of requests always give the same faults (with
/// several concurrent connections the order in which requests arrive, and so
/// which request gets which draw, is up to the scheduler).
///
/// ```
/// use std::time::Duration;
/// use km_testkit::FaultRates;
///
/// let rates = FaultRates {
///     status: Some((503, 0.3)),
///     close_before_response: 0.1,
///     delay: Some((Duration::from_secs(3), 0.05)),
///     ..Default::default()
/// };
/// assert_eq!(rates.close_mid_response, 0.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultRates {
    /// A status to answer with (see [`Fault::Status`]) and its probability.
    pub status: Option<(u16, f64)>,
    /// The `Retry-After` value sent with status faults drawn from these rates.
    pub retry_after: Option<String>,
    /// Probability of [`Fault::CloseBeforeResponse`].
    pub close_before_response: f64,
    /// Probability of [`Fault::CloseMidResponse`].
    pub close_mid_response: f64,
    /// A delay (see [`Fault::Delay`]) and its probability.
    pub delay: Option<(Duration, f64)>,
}

impl FaultRates {
    /// The kinds with their probabilities, in drawing order.
    fn slices(&self) -> [(f64, Option<Fault>); 4] {
        let (status_p, status) = match self.status {
            Some((status, p)) => (
                p,
                Some(Fault::Status {
                    status,
                    retry_after: self.retry_after.clone(),
                }),
            ),
            None => (0.0, None),
        };
        let (delay_p, delay) = match self.delay {
            Some((d, p)) => (p, Some(Fault::Delay(d))),
            None => (0.0, None),
        };
        [
            (status_p, status),
            (self.close_before_response, Some(Fault::CloseBeforeResponse)),
            (self.close_mid_response, Some(Fault::CloseMidResponse)),
            (delay_p, delay),
        ]
    }

    /// Panics with a clear message unless every probability is in `[0, 1]`,
    /// they add up to at most 1, and the status and header are sendable.
    pub(crate) fn validate(&self) {
        let mut sum = 0.0;
        for (p, fault) in self.slices() {
            assert!(
                (0.0..=1.0).contains(&p),
                "km-testkit: fault probability {p} is not in [0, 1]"
            );
            sum += p;
            if let Some(fault) = fault {
                fault.validate();
            }
        }
        assert!(
            sum <= 1.0 + 1e-9,
            "km-testkit: fault probabilities add up to {sum}, more than 1"
        );
    }

    fn is_zero(&self) -> bool {
        self.slices().iter().all(|(p, _)| *p == 0.0)
    }

    fn draw(&self, rng: &mut fastrand::Rng) -> Option<Fault> {
        let x = rng.f64();
        let mut edge = 0.0;
        for (p, fault) in self.slices() {
            edge += p;
            if x < edge {
                return fault;
            }
        }
        None
    }
}

/// The server's fault plan: the queue, the rates and the random source.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    queue: VecDeque<Fault>,
    rates: FaultRates,
    seed: u64,
    rng: fastrand::Rng,
}

impl FaultPlan {
    pub(crate) fn new(seed: u64) -> Self {
        FaultPlan {
            queue: VecDeque::new(),
            rates: FaultRates::default(),
            seed,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Queues a fault; the caller has validated it.
    pub(crate) fn push(&mut self, fault: Fault) {
        self.queue.push_back(fault);
    }

    /// Sets the rates (validated by the caller) and restarts the sequence.
    pub(crate) fn set_rates(&mut self, rates: FaultRates) {
        self.rates = rates;
        self.rng = fastrand::Rng::with_seed(self.seed);
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.rates = FaultRates::default();
    }

    /// The fault for the next request, if any: queued faults first.
    pub(crate) fn next(&mut self) -> Option<Fault> {
        if let Some(fault) = self.queue.pop_front() {
            return Some(fault);
        }
        if self.rates.is_zero() {
            return None;
        }
        self.rates.draw(&mut self.rng)
    }
}
