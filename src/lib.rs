//! A client for the KISSmetrics tracking service.
//!
//! - [`Client`] (blocking) and [`AsyncClient`] send `record`, `set` and
//!   `alias` calls over a transport chosen with a cargo feature, or over
//!   your own ([`ClientBuilder::with_transport`]).
//! - [`proto`] is the sans-IO protocol core they stand on.
#![forbid(unsafe_code)]

mod client;
mod error;

pub use client::{AsyncClient, AsyncClientBuilder, Client, ClientBuilder};
pub use error::Error;
pub use km_proto as proto;
pub use km_proto::{
    Call, Endpoint, Options, Properties, PropertyIter, Scheme, Timestamp, TransportConfig,
    TransportErrorKind, Value,
};
