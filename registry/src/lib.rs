//! Runnel's schema registry: subjects, versions, global ids, Avro compatibility,
//! redb persistence and the Confluent-compatible REST API.
//!
//! - [`Registry`]: the registry as a library, which the broker calls directly;
//! - [`router`]: the Confluent Schema Registry REST API over a [`Registry`], which
//!   `runnel serve` mounts on its HTTP port; [`router_with_access`] the same behind a
//!   [`SubjectAccess`] decision (who may see and change which subjects);
//! - [`context`]: Confluent's schema contexts (`:.ctx:subject`), one per tenant (the parser
//!   lives in `runnel-names`, shared with the broker). A qualified subject is stored under its
//!   qualified name, so two contexts' `users-value` are independent subjects while schema ids
//!   stay global; unqualified references resolve in their referrer's context, and the REST API
//!   lists contexts and accepts the `/contexts/{ctx}/...` base path;
//! - [`RegistryError`]: every failure, with its Confluent error code and HTTP status;
//! - storage: a redb file ([`Registry::open`], the embedded default), or, with the cargo
//!   feature `kafka`, a single-partition Kafka topic shared by several instances with one
//!   elected primary ([`Registry::open_kafka`]; see `log.rs` and `kafka.rs`). Followers answer
//!   reads from their copy and the REST API forwards their writes to the primary.
//!
//! Semantics follow Confluent Schema Registry: ids are global, stable and never
//! reused; the same schema under any subject has one id; formatting-only changes
//! are the same schema (see [`normalize`]); a schema's text is returned as Confluent
//! returns it, compact as Avro's Java `Schema.toString()` writes it (whatever the
//! whitespace of the registered file); compatibility is checked with
//! `runnel_avro::compat`, which follows the Avro specification's resolution rules.

pub mod access;
mod cache;
mod error;
#[cfg(feature = "kafka")]
mod kafka;
mod log;
pub mod normalize;
mod registry;
mod rest;
mod store;
mod text;
mod types;

pub use runnel_names::context;

pub use access::{AllowAll, SchemaAction, SubjectAccess};
pub use error::RegistryError;
#[cfg(feature = "kafka")]
pub use kafka::KafkaOptions;
pub use log::Role;
pub use registry::{RegisterRequest, Registry, AVRO};
pub use rest::{router, router_with_access, serve, CONTENT_TYPE};
pub use types::{Compatibility, Mode, RegistryConfig, SchemaReference, SubjectVersion, VersionSelector};
