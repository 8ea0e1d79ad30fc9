//! The schema registry over the broker's gRPC `Registry` service: schema text
//! by global id, lookup and registration of a schema under a subject (the
//! gRPC transport's [`SchemaLookup`]), a subject's versions and compatibility
//! checks. Answers are cached by the client's
//! [`SchemaCache`](crate::registry::SchemaCache), not here.

use runnel_avro::Schema;
use runnel_proto::v1;

use super::connection::Connection;
use crate::error::{is_retryable_status, ClientError};
use crate::transport::{SchemaLookup, SubjectVersion};

impl SchemaLookup for Connection {
    async fn schema_text(&self, id: u32) -> Result<String, ClientError> {
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
        Ok(info.schema)
    }

    async fn lookup(&self, subject: &str, schema: &Schema) -> Result<Option<SubjectVersion>, ClientError> {
        let req = v1::SubjectSchemaRequest { subject: subject.to_owned(), schema: schema.json().to_owned() };
        match self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.lookup(req).await }
            })
            .await
        {
            Ok(v) => Ok(Some(answer(v))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(registry_error(s)),
        }
    }

    async fn register(&self, subject: &str, schema: &Schema) -> Result<SubjectVersion, ClientError> {
        let req = v1::SubjectSchemaRequest { subject: subject.to_owned(), schema: schema.json().to_owned() };
        match self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.register(req).await }
            })
            .await
        {
            Ok(v) => Ok(answer(v)),
            Err(s) if !is_retryable_status(&s) => {
                // Ask for the reasons: the compatibility check lists every one with its path.
                match self.incompatibilities(subject, schema).await {
                    Ok(reasons) if !reasons.is_empty() => {
                        Err(ClientError::Incompatible { subject: subject.to_owned(), reasons })
                    }
                    _ => Err(registry_error(s)),
                }
            }
            Err(s) => Err(ClientError::Transport(s)),
        }
    }

    async fn incompatibilities(&self, subject: &str, schema: &Schema) -> Result<Vec<String>, ClientError> {
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

    async fn version(&self, subject: &str, version: i32) -> Result<SubjectVersion, ClientError> {
        let req = v1::GetVersionRequest { subject: subject.to_owned(), version };
        let v = self
            .retry(|| {
                let mut svc = self.registry();
                let req = req.clone();
                async move { svc.get_version(req).await }
            })
            .await
            .map_err(registry_error)?;
        Ok(answer(v))
    }
}

fn answer(v: v1::SubjectVersion) -> SubjectVersion {
    SubjectVersion { subject: v.subject, id: v.id, version: v.version, schema: v.schema }
}

fn registry_error(s: tonic::Status) -> ClientError {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::DeadlineExceeded => {
            ClientError::Transport(s)
        }
        _ => ClientError::Registry { message: s.message().to_owned() },
    }
}
