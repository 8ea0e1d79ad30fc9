//! The schema registry calls of [`Client`]: schemas by global id, lookup,
//! registration, latest version and compatibility checks of a subject. They go
//! to the registry of the client's transport (the broker's gRPC `Registry`
//! service, or a Confluent-compatible registry's REST API with
//! [`Client::connect_kafka`]) through the client's schema cache, which its
//! consumers share.

use std::sync::Arc;

use runnel_avro::Schema;

use crate::client::Client;
use crate::error::ClientError;
use crate::registry::RegisteredSchema;
use crate::transport::{SchemaLookup as _, Transport as _};

impl Client {
    /// The schema with global id `id` (fetched once, then cached).
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, ClientError> {
        self.schema_cache().schema_by_id(&self.transport().schemas(), id).await
    }

    /// The version of `subject` that is `schema`, if there is one.
    pub async fn lookup_schema(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<Option<RegisteredSchema>, ClientError> {
        self.schema_cache().lookup(&self.transport().schemas(), subject, schema).await
    }

    /// Registers `schema` under `subject` (or finds it there), returning its id and version.
    /// An incompatible schema fails with [`ClientError::Incompatible`] listing every reason.
    pub async fn register_schema(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<RegisteredSchema, ClientError> {
        self.schema_cache().register(&self.transport().schemas(), subject, schema).await
    }

    /// Every reason `schema` is incompatible with `subject` under its
    /// compatibility level (empty when compatible).
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<Vec<String>, ClientError> {
        self.transport().schemas().incompatibilities(subject, schema).await
    }

    /// The latest version of `subject`.
    pub async fn latest_schema(&self, subject: &str) -> Result<RegisteredSchema, ClientError> {
        self.schema_version(subject, -1).await
    }

    /// Version `version` of `subject` (`-1`: the latest).
    pub async fn schema_version(&self, subject: &str, version: i32) -> Result<RegisteredSchema, ClientError> {
        let v = self.transport().schemas().version(subject, version).await?;
        self.schema_cache().registered(v, None)
    }
}
