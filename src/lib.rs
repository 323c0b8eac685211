//! A client for the KISSmetrics tracking service.
//!
//! - [`Client`] (blocking) and [`AsyncClient`] send `record`, `set` and
//!   `alias` calls over a transport chosen with a cargo feature, or over
//!   your own ([`ClientBuilder::with_transport`]).
//! - [`sender::Sender`] delivers in the background with retries, and
//!   [`outbox`] keeps what could not be delivered yet on disk.
//! - [`compat::ClientCompat`] (alias `KM`) mirrors the Python client's
//!   compatibility class, for ports.
//! - [`proto`] is the sans-IO protocol core they stand on.
//!
//! # Example
//! ```
//! use kissmetrics::Client;
//! use kissmetrics::proto::http::Response;
//!
//! // `Client::builder(key).build()` picks the transport of the enabled
//! // feature (ureq by default); any closure is a transport too.
//! let client = Client::builder("your-api-key")
//!     .with_transport(|_request| Ok(Response::new(Vec::new())))?;
//! client.record("bob@example.com", "Signed Up", [("Plan", "Pro")])?;
//! # Ok::<(), kissmetrics::Error>(())
//! ```
#![forbid(unsafe_code)]

mod client;
pub mod compat;
mod error;
pub mod outbox;
pub mod sender;
pub mod transports;

pub use client::{AsyncClient, AsyncClientBuilder, Client, ClientBuilder};
pub use error::Error;
pub use km_proto as proto;
pub use km_proto::{
    Call, Endpoint, Options, Properties, PropertyIter, Scheme, Timestamp, TransportConfig,
    TransportErrorKind, Value,
};

// The README's examples run as doctests of the root package (they need the
// default transport and the test server).
#[cfg(all(doctest, feature = "ureq"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
