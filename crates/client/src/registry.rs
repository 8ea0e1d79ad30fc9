//! The schema registry as the client sees it (the broker's gRPC `Registry`
//! service): schemas by global id, cached for the life of the client since an
//! id never changes meaning; lookup, register, latest version and
//! compatibility checks of a subject.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use runnel_avro::Schema;
use runnel_proto::v1;

use crate::client::Client;
use crate::error::ClientError;

/// Schemas by global id. Ids are never reused, so entries never go stale.
#[derive(Debug, Default)]
pub(crate) struct SchemaCache {
    by_id: Mutex<HashMap<u32, Arc<Schema>>>,
}

/// A schema as a version of a subject.
#[derive(Debug, Clone)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// The schema's global id.
    pub id: u32,
    /// Its version in the subject.
    pub version: i32,
    /// The schema.
    pub schema: Arc<Schema>,
}

impl Client {
    /// The schema with global id `id` (fetched once, then cached).
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, ClientError> {
        if let Some(s) = self.inner.schemas.by_id.lock().get(&id) {
            return Ok(s.clone());
        }
        let info = self
            .retry(|| {
                let mut svc = self.registry();
                let req = v1::GetSchemaRequest { id };
                async move { svc.get_schema(req).await }
            })
            .await
            .map_err(|s| match s.code() {
                tonic::Code::NotFound => ClientError::SchemaNotFound { id },
                _ => ClientError::Transport(s),
            })?;
        let schema = Arc::new(parse(&info.schema)?);
        Ok(self.inner.schemas.by_id.lock().entry(id).or_insert(schema).clone())
    }

    /// The version of `subject` that is `schema`, if there is one.
    pub async fn lookup_schema(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<Option<RegisteredSchema>, ClientError> {
        let req = v1::SubjectSchemaRequest { subject: subject.to_owned(), schema: schema.json().to_owned() };
        match self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.lookup(req).await }
            })
            .await
        {
            Ok(v) => Ok(Some(self.registered(v, Some(schema))?)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(registry_error(s)),
        }
    }

    /// Registers `schema` under `subject` (or finds it there), returning its id and version.
    /// An incompatible schema fails with [`ClientError::Incompatible`] listing every reason.
    pub async fn register_schema(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<RegisteredSchema, ClientError> {
        let req = v1::SubjectSchemaRequest { subject: subject.to_owned(), schema: schema.json().to_owned() };
        match self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.register(req).await }
            })
            .await
        {
            Ok(v) => self.registered(v, Some(schema)),
            Err(s) if !crate::error::is_retryable_status(&s) => {
                // Ask for the reasons: the compatibility check lists every one with its path.
                match self.check_compatibility(subject, schema).await {
                    Ok(reasons) if !reasons.is_empty() => {
                        Err(ClientError::Incompatible { subject: subject.to_owned(), reasons })
                    }
                    _ => Err(registry_error(s)),
                }
            }
            Err(s) => Err(ClientError::Transport(s)),
        }
    }

    /// Every reason `schema` is incompatible with `subject` under its
    /// compatibility level (empty when compatible).
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> Result<Vec<String>, ClientError> {
        let req = v1::SubjectSchemaRequest { subject: subject.to_owned(), schema: schema.json().to_owned() };
        let result = self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.check_compatibility(req).await }
            })
            .await
            .map_err(registry_error)?;
        if result.compatible {
            Ok(Vec::new())
        } else if result.messages.is_empty() {
            Ok(vec!["incompatible".to_owned()])
        } else {
            Ok(result.messages)
        }
    }

    /// The latest version of `subject`.
    pub async fn latest_schema(&self, subject: &str) -> Result<RegisteredSchema, ClientError> {
        self.schema_version(subject, -1).await
    }

    /// Version `version` of `subject` (`-1`: the latest).
    pub async fn schema_version(&self, subject: &str, version: i32) -> Result<RegisteredSchema, ClientError> {
        let req = v1::GetVersionRequest { subject: subject.to_owned(), version };
        let v = self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.get_version(req).await }
            })
            .await
            .map_err(registry_error)?;
        self.registered(v, None)
    }

    fn registered(
        &self,
        v: v1::SubjectVersion,
        known: Option<&Schema>,
    ) -> Result<RegisteredSchema, ClientError> {
        let schema = match self.inner.schemas.by_id.lock().get(&v.id) {
            Some(s) => s.clone(),
            None => Arc::new(match known {
                Some(s) if v.schema.is_empty() || s.json() == v.schema => s.clone(),
                _ => parse(&v.schema)?,
            }),
        };
        self.inner.schemas.by_id.lock().entry(v.id).or_insert_with(|| schema.clone());
        Ok(RegisteredSchema { subject: v.subject, id: v.id, version: v.version, schema })
    }
}

fn parse(json: &str) -> Result<Schema, ClientError> {
    Schema::parse_str(json).map_err(|e| ClientError::Registry {
        message: format!("the registry returned an invalid schema: {e}"),
    })
}

fn registry_error(s: tonic::Status) -> ClientError {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded => {
            ClientError::Transport(s)
        }
        _ => ClientError::Registry { message: s.message().to_owned() },
    }
}
