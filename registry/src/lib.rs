//! Runnel's schema registry: subjects, versions, global ids, Avro compatibility,
//! redb persistence and the Confluent-compatible REST API.
//!
//! - [`Registry`]: the registry as a library, which the broker calls directly;
//! - [`router`]: the Confluent Schema Registry REST API over a [`Registry`], which
//!   `runnel serve` mounts on its HTTP port; [`router_with_access`] the same behind a
//!   [`SubjectAccess`] decision (who may see and change which subjects);
//! - [`context`]: Confluent's schema contexts (`:.ctx:subject`), one per tenant;
//! - [`RegistryError`]: every failure, with its Confluent error code and HTTP status.
//!
//! Semantics follow Confluent Schema Registry: ids are global, stable and never
//! reused; the same schema under any subject has one id; formatting-only changes
//! are the same schema (see [`normalize`]); compatibility is checked with
//! `runnel_avro::compat`, which follows the Avro specification's resolution rules.

pub mod access;
pub mod context;
mod error;
pub mod normalize;
mod registry;
mod rest;
mod store;
mod types;

pub use access::{AllowAll, SchemaAction, SubjectAccess};
pub use error::RegistryError;
pub use registry::{RegisterRequest, Registry, AVRO};
pub use rest::{router, router_with_access, serve, CONTENT_TYPE};
pub use types::{Compatibility, Mode, RegistryConfig, SchemaReference, SubjectVersion, VersionSelector};
