//! Runnel's Avro core.
//!
//! - [`Schema`]: schemas parsed by apache-avro, compiled into a [`model::Model`] (a flat
//!   arena with named references resolved), with Parsing Canonical Form and fingerprints;
//! - [`validate`]: checks one datum's bytes under a schema without building anything;
//! - [`json`]: Avro-JSON ⇄ binary for any schema;
//! - [`logical`]: the logical types (decimal, uuid, dates, times, durations) as plain functions;
//! - [`binary`]: the binary encoding, primitive by primitive, that derived code calls;
//! - [`Avro`]: the trait `#[derive(Avro)]` implements, with [`to_vec`] and [`from_slice`];
//! - [`BorrowDecode`]: what it implements for a record with a lifetime, a view that borrows
//!   its strings and bytes from the input ([`from_slice_borrowed`]).
//!
//! This crate knows nothing of topics, brokers or registries.

pub mod binary;
mod borrowed;
pub mod compat;
pub mod error;
pub mod expr;
pub mod json;
pub mod logical;
pub mod model;
pub mod resolve;
mod schema;
mod traits;
mod validate;

pub use binary::Reader;
pub use borrowed::{from_slice_borrowed, BorrowDecode};
pub use error::{DecodeError, DecodeErrorKind, PathSegment, SchemaError};
pub use schema::{crc64_avro, Schema};
pub use traits::{from_slice, to_vec, Avro, SchemaContext};

/// What `#[derive(Avro)]` code refers to; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::traits::build_schema;
    pub use serde_json;
}
pub use validate::{skip, validate, validate_by_walk, MAX_DEPTH};
