//! Runnel's Avro core.
//!
//! - [`Schema`]: schemas parsed by apache-avro, with Parsing Canonical Form and fingerprints;
//! - [`binary`]: the binary encoding, primitive by primitive, that derived code calls;
//! - [`Avro`]: the trait `#[derive(Avro)]` implements, with [`to_vec`] and [`from_slice`].
//!
//! This crate knows nothing of topics, brokers or registries.

pub mod binary;
pub mod compat;
pub mod error;
pub mod resolve;
mod schema;
mod traits;

pub use binary::Reader;
pub use error::{DecodeError, DecodeErrorKind, PathSegment, SchemaError};
pub use schema::{crc64_avro, Schema};
pub use traits::{from_slice, to_vec, Avro, SchemaContext};
