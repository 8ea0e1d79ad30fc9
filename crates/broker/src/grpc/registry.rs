//! The `Registry` gRPC service: the schema registry's lookups, registrations and
//! compatibility checks for clients that speak gRPC (the Confluent REST API is mounted on
//! the HTTP side, `http.rs`). Reading a subject takes schema-read on it, registering
//! schema-write; a schema id is readable when one of its subjects is.

use std::sync::Arc;

use runnel_proto::v1::{self, registry_server::RegistryServer};
use runnel_proto::MAX_MESSAGE_BYTES;
use runnel_registry::VersionSelector;
use tonic::{Request, Response, Status};

use super::blocking_err;
use crate::auth::{self, Permission, Resource};
use crate::broker::Broker;
use crate::error::BrokerError;

/// The `Registry` service over the broker's schema registry.
#[derive(Debug, Clone)]
pub struct RegistryService(Arc<Broker>);

/// The tonic server for [`RegistryService`], with the broker's message size limits.
pub fn server(broker: Arc<Broker>) -> RegistryServer<RegistryService> {
    RegistryServer::new(RegistryService(broker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Authorizes `permission` on a registry subject.
fn authorize_subject<T>(req: &Request<T>, subject: &str, permission: Permission) -> Result<(), Status> {
    auth::authorize(req, permission, Resource::Subject(subject))
}

#[tonic::async_trait]
impl v1::registry_server::Registry for RegistryService {
    async fn get_schema(
        &self,
        req: Request<v1::GetSchemaRequest>,
    ) -> Result<Response<v1::SchemaInfo>, Status> {
        let id = req.get_ref().id;
        // Ids are global: one is readable when one of its subjects is; otherwise it is
        // answered as missing, as the REST API does, so ids say nothing about other tenants.
        let subjects = self.0.registry.subject_versions_of_id(id, true).map_err(BrokerError::from)?;
        let readable = subjects
            .iter()
            .any(|(subject, _)| authorize_subject(&req, subject, Permission::SchemaRead).is_ok());
        if !readable {
            let missing = runnel_registry::RegistryError::SchemaNotFound(format!("Schema {id} not found"));
            return Err(BrokerError::from(missing).into());
        }
        let (schema, _refs) = self.0.registry.schema_text_by_id(id).map_err(BrokerError::from)?;
        Ok(Response::new(v1::SchemaInfo { id, schema }))
    }

    async fn lookup(
        &self,
        req: Request<v1::SubjectSchemaRequest>,
    ) -> Result<Response<v1::SubjectVersion>, Status> {
        authorize_subject(&req, &req.get_ref().subject, Permission::SchemaRead)?;
        let req = req.into_inner();
        let sv = self.0.registry.lookup(&req.subject, &req.schema).map_err(BrokerError::from)?;
        Ok(Response::new(subject_version(sv)))
    }

    async fn register(
        &self,
        req: Request<v1::SubjectSchemaRequest>,
    ) -> Result<Response<v1::SubjectVersion>, Status> {
        authorize_subject(&req, &req.get_ref().subject, Permission::SchemaWrite)?;
        let req = req.into_inner();
        let registry = self.0.registry.clone();
        let sv = tokio::task::spawn_blocking(move || registry.register(&req.subject, &req.schema))
            .await
            .map_err(blocking_err)?
            .map_err(BrokerError::from)?;
        Ok(Response::new(subject_version(sv)))
    }

    async fn get_version(
        &self,
        req: Request<v1::GetVersionRequest>,
    ) -> Result<Response<v1::SubjectVersion>, Status> {
        authorize_subject(&req, &req.get_ref().subject, Permission::SchemaRead)?;
        let req = req.into_inner();
        let selector =
            if req.version == -1 { VersionSelector::Latest } else { VersionSelector::Number(req.version) };
        let sv = self.0.registry.version(&req.subject, selector).map_err(BrokerError::from)?;
        Ok(Response::new(subject_version(sv)))
    }

    async fn check_compatibility(
        &self,
        req: Request<v1::SubjectSchemaRequest>,
    ) -> Result<Response<v1::CompatibilityResult>, Status> {
        authorize_subject(&req, &req.get_ref().subject, Permission::SchemaRead)?;
        let req = req.into_inner();
        let messages = match self.0.registry.check(&req.subject, &req.schema, VersionSelector::Latest) {
            Ok(m) => m,
            // Nothing registered yet: anything is compatible with nothing.
            Err(runnel_registry::RegistryError::SubjectNotFound(_)) => Vec::new(),
            Err(e) => return Err(BrokerError::from(e).into()),
        };
        Ok(Response::new(v1::CompatibilityResult { compatible: messages.is_empty(), messages }))
    }
}

fn subject_version(sv: runnel_registry::SubjectVersion) -> v1::SubjectVersion {
    v1::SubjectVersion { subject: sv.subject, id: sv.id, version: sv.version, schema: sv.schema }
}
