//! The registry's error type. Every error carries the Confluent Schema Registry
//! error code and HTTP status it maps to, so the REST layer and the broker report
//! the same failure the same way.

/// Why a registry operation failed.
///
/// The codes follow Confluent Schema Registry's `Errors` class: 404xx for things
/// that do not exist, 409 for incompatible schemas, 422xx for invalid input,
/// 500xx for storage failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// 40401: the subject has no versions (or none that are live).
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402: the subject exists but not this version.
    #[error("Version {version} not found.")]
    VersionNotFound {
        /// The subject asked for.
        subject: String,
        /// The version asked for, as the caller wrote it.
        version: String,
    },
    /// 40403: no schema with this id, or the schema is not registered under the subject.
    #[error("{0}")]
    SchemaNotFound(String),
    /// 40404: the subject was soft-deleted (and the request needs it live, or soft-deletes it again).
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    /// 40405: a permanent delete of a subject that was not soft-deleted first.
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    /// 40406: the version was soft-deleted already.
    #[error(
        "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
    },
    /// 40407: a permanent delete of a version that was not soft-deleted first.
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted {
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
    },
    /// 40408: `GET /config/{subject}` without `defaultToGlobal` on a subject with no level of its own.
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured(String),
    /// 40409: `GET /mode/{subject}` without `defaultToGlobal` on a subject with no mode of its own.
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotConfigured(String),
    /// 409: the schema breaks the subject's compatibility rule; one message per problem.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]", .messages.join(", "))]
    Incompatible {
        /// The subject.
        subject: String,
        /// Every incompatibility found, each with its path.
        messages: Vec<String>,
    },
    /// 42201: the schema (or the request carrying it) is not valid.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// 42202: the version is neither a positive number, `latest` nor `-1`.
    #[error("The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion(String),
    /// 42203: an unknown compatibility level.
    #[error("Invalid compatibility level '{0}'. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL and FULL_TRANSITIVE")]
    InvalidCompatibilityLevel(String),
    /// 42204: an unknown mode.
    #[error("Invalid mode '{0}'. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT")]
    InvalidMode(String),
    /// 42205: the operation is refused in the current mode (or otherwise not permitted).
    #[error("{0}")]
    OperationNotPermitted(String),
    /// 42206: the schema is referenced by another live schema and cannot be deleted.
    #[error("{0}")]
    ReferenceExists(String),
    /// 42207: an import asked for an id already taken by a different schema.
    #[error("{0}")]
    IdDoesNotMatch(String),
    /// 42208: the subject name is not valid (empty or with control characters).
    #[error("The specified subject '{0}' is not valid.")]
    InvalidSubject(String),
    /// 42209: the schema text exceeds the configured limit.
    #[error("Schema of {size} bytes exceeds the limit of {limit} bytes")]
    SchemaTooLarge {
        /// The size of the schema that was sent.
        size: usize,
        /// The configured limit ([`crate::RegistryConfig::max_schema_bytes`]).
        limit: usize,
    },
    /// 40301: the caller may not do this (the message names the missing permission).
    #[error("{0}")]
    Forbidden(String),
    /// 50001: the store failed (I/O, corruption); nothing was changed.
    #[error("Error in the backend data store: {0}")]
    Storage(String),
    /// 50002: a write on the Kafka store was not settled in time (its record not read back, or
    /// concurrent writers kept winning); the caller may retry.
    #[error("Operation timed out: {0}")]
    Timeout(String),
    /// 50003: a follower could not forward a write to the primary.
    #[error("Error while forwarding the request to the primary: {0}")]
    Forwarding(String),
    /// 50004: a follower knows no primary to forward a write to (an election is under way).
    #[error("Unknown primary: {0}")]
    UnknownPrimary(String),
}

impl RegistryError {
    /// The Confluent error code (`error_code` in REST error bodies).
    pub fn error_code(&self) -> u32 {
        match self {
            RegistryError::SubjectNotFound(_) => 40401,
            RegistryError::VersionNotFound { .. } => 40402,
            RegistryError::SchemaNotFound(_) => 40403,
            RegistryError::SubjectSoftDeleted(_) => 40404,
            RegistryError::SubjectNotSoftDeleted(_) => 40405,
            RegistryError::VersionSoftDeleted { .. } => 40406,
            RegistryError::VersionNotSoftDeleted { .. } => 40407,
            RegistryError::SubjectCompatibilityNotConfigured(_) => 40408,
            RegistryError::SubjectModeNotConfigured(_) => 40409,
            RegistryError::Incompatible { .. } => 409,
            RegistryError::InvalidSchema(_) => 42201,
            RegistryError::InvalidVersion(_) => 42202,
            RegistryError::InvalidCompatibilityLevel(_) => 42203,
            RegistryError::InvalidMode(_) => 42204,
            RegistryError::OperationNotPermitted(_) => 42205,
            RegistryError::ReferenceExists(_) => 42206,
            RegistryError::IdDoesNotMatch(_) => 42207,
            RegistryError::InvalidSubject(_) => 42208,
            RegistryError::SchemaTooLarge { .. } => 42209,
            RegistryError::Forbidden(_) => 40301,
            RegistryError::Storage(_) => 50001,
            RegistryError::Timeout(_) => 50002,
            RegistryError::Forwarding(_) => 50003,
            RegistryError::UnknownPrimary(_) => 50004,
        }
    }

    /// The HTTP status the REST API answers with.
    pub fn http_status(&self) -> u16 {
        match self.error_code() {
            409 => 409,
            code => (code / 100) as u16,
        }
    }
}

/// Storage failures become 50001 with redb's reason; the operation changed nothing
/// because it ran in one transaction that was not committed.
macro_rules! storage_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Storage(e.to_string())
            }
        }
    )*};
}

storage_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
