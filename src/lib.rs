//! A client for the KISSmetrics tracking service.
//!
//! For now this crate re-exports the sans-IO protocol core, [`km_proto`].
#![forbid(unsafe_code)]

pub use km_proto as proto;
pub use km_proto::*;
