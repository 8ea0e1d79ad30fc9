//! Runnel's schema registry: subjects, versions, global ids, Avro compatibility,
//! redb persistence and the Confluent-compatible REST API.
//!
//! - [`Registry`]: the registry as a library, which the broker calls directly;
//! - [`router`]: the Confluent Schema Registry REST API over a [`Registry`], which
//!   `runnel serve` mounts on its HTTP port;
//! - [`RegistryError`]: every failure, with its Confluent error code and HTTP status.
//!
//! Semantics follow Confluent Schema Registry: ids are global, stable and never
//! reused; the same schema under any subject has one id; formatting-only changes
//! are the same schema (see [`normalize`]); compatibility is checked with
//! `runnel_avro::compat`, which follows the Avro specification's resolution rules.

mod error;
pub mod normalize;
mod registry;
mod rest;
mod store;
mod types;

pub use error::RegistryError;
pub use registry::{RegisterRequest, Registry, AVRO};
pub use rest::{router, serve, CONTENT_TYPE};
pub use types::{Compatibility, Mode, RegistryConfig, SchemaReference, SubjectVersion, VersionSelector};
