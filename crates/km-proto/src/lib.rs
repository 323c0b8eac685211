//! The KISSmetrics tracking protocol without I/O.
//!
//! `km-proto` turns `record`, `set` and `alias` calls into [`http::Request`]
//! values and interprets the service's responses. Transports — the
//! `km-ureq`, `km-hyper` and `km-isahc` adapters, or your own — carry the
//! requests; the `kissmetrics` crate puts both together.
//!
//! # In scope
//! - Building the request of each call exactly as the service expects it:
//!   `GET scheme://host/path?query`, the query form-encoded with the pairs in
//!   the reference client's order ([`Encoder`]).
//! - Validating every input before anything is built, with one typed error
//!   naming the field ([`Error`]).
//! - Classifying responses as delivered, retryable (with the server's
//!   `Retry-After` delay) or rejected ([`classify`]); time is an argument.
//! - The transport interface, blocking and async ([`Transport`],
//!   [`AsyncTransport`]), its error kinds ([`TransportErrorKind`]) and the
//!   settings every adapter honours ([`TransportConfig`]).
//! - Keeping the API key out of `Debug` output and logs ([`ApiKey`],
//!   [`redacted`]), and out of stored requests ([`Unkeyed`]).
//! - Deciding whether and when to send a request again: exponential
//!   backoff with full jitter, `Retry-After`, attempt and time limits
//!   ([`RetryPolicy`]); the clock and the randomness are arguments.
//!
//! # Out of scope
//! - Sockets, TLS, DNS, proxies, connection pools: the transport's job.
//! - Clocks, threads, timers, runtimes, files: whatever needs the time takes
//!   it as an argument.
//! - Waiting between attempts, queueing and persisting requests: built on
//!   top, in the `kissmetrics` crate.
//!
//! # Example
//! ```
//! use std::time::SystemTime;
//! use km_proto::{classify, Encoder, Options, Outcome, Transport};
//! use km_proto::http::Response;
//!
//! let enc = Encoder::new("my-api-key")?;
//! let req = enc.record("bob@example.com", "Signed Up", [("Plan", "Pro")], Options::new())?;
//! assert_eq!(req.uri().query(), Some("_k=my-api-key&_p=bob%40example.com&_n=Signed+Up&Plan=Pro"));
//!
//! // Any closure is a transport; real ones live in the adapter crates.
//! let transport = |_req| Ok(Response::new(b"GIF89a".to_vec()));
//! let response = transport.send(req)?;
//! assert_eq!(classify(&response, SystemTime::UNIX_EPOCH), Outcome::Delivered);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use http;

mod config;
mod encode;
mod endpoint;
mod error;
mod props;
mod redact;
mod response;
mod retry;
#[cfg(any(feature = "proptest", feature = "arbitrary"))]
pub mod testing;
mod timestamp;
mod transport;
mod value;

pub use config::{TransportConfig, DEFAULT_TIMEOUT, USER_AGENT};
pub use encode::Unkeyed;
pub use encode::{ApiKey, Call, Encoder, Options, MAX_IDENTITY_CHARS};
pub use endpoint::{Endpoint, Scheme, DEFAULT_HOST};
pub use error::{Error, Field, TimestampError};
pub use props::{Properties, PropertyIter};
pub use redact::{redact_key, redacted, Redacted};
pub use response::{classify, classify_status, retry_after, Outcome};
pub use retry::{Decision, GiveUp, RetryPolicy};
pub use timestamp::Timestamp;
pub use transport::{
    source_chain, AsyncTransport, BoxFuture, DynAsyncTransport, Transport, TransportError,
    TransportErrorKind, TransportResult,
};
pub use value::{AsValue, Value};
