//! The client's error type, [`ClientError`]: one variant per failure a caller
//! can act on (an unknown topic, a schema to register, a refused record, a
//! record that cannot be decoded into the reader's type, a lost connection).

use runnel_avro::DecodeError;
use runnel_proto::v1;

/// Everything the client can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The topic does not exist.
    #[error("unknown topic `{topic}`")]
    UnknownTopic {
        /// The topic asked for.
        topic: String,
    },
    /// The partition does not exist in the topic.
    #[error("topic `{topic}` has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
    },
    /// The topic already exists (creating it without `if_not_exists`).
    #[error("topic `{topic}` already exists")]
    TopicExists {
        /// The topic.
        topic: String,
    },
    /// The producer's schema is not a version of the topic's subject, and the
    /// topic does not allow producers to register it.
    #[error(
        "the schema of `{type_name}` is not registered under subject `{subject}`; \
         run `runnel schema register {subject} <file.avsc>` (or create the topic with auto-register)"
    )]
    SchemaNotRegistered {
        /// The subject the topic is bound to.
        subject: String,
        /// The full name of the producer's schema.
        type_name: String,
    },
    /// The registry refused a schema as incompatible with the subject's versions.
    #[error("schema is incompatible with subject `{subject}`: {}", reasons.join("; "))]
    Incompatible {
        /// The subject.
        subject: String,
        /// Every incompatibility, with its path.
        reasons: Vec<String>,
    },
    /// No schema has this global id.
    #[error("no schema with id {id} in the registry")]
    SchemaNotFound {
        /// The id asked for.
        id: u32,
    },
    /// A transaction was refused: fenced by a newer producer of its transactional id (or
    /// aborted by its timeout), or asked for something out of its state. Nothing of it is
    /// visible to committed readers.
    #[error("transaction: {0}")]
    Transaction(String),
    /// A function cannot start or run: every reason (unreadable input versions,
    /// outputs or state it may not write, a state that no longer decodes).
    #[error("{0}")]
    Function(String),
    /// Any other registry failure (invalid schema, unknown subject, ...).
    #[error("registry: {message}")]
    Registry {
        /// The registry's message.
        message: String,
    },
    /// The broker refused a record (schema enforcement, size limits); nothing
    /// of its batch was appended.
    #[error("record {record_index} refused at {path}: {reason}")]
    Refused {
        /// The refused record's index in its batch (-1 when the batch as a whole was refused).
        record_index: i32,
        /// The field path inside the record, `/` when not about a field.
        path: String,
        /// Why.
        reason: String,
    },
    /// A record's value is not in the Confluent wire format (magic byte 0 and a schema id).
    #[error("record at partition {partition} offset {offset} is not in the Confluent wire format")]
    NotFramed {
        /// The record's partition.
        partition: u32,
        /// The record's offset.
        offset: i64,
    },
    /// The writer's schema cannot be resolved into the reader's (the Avro
    /// resolution rules refuse the pair).
    #[error(
        "records written with schema id {writer_id} cannot be read as `{reader}`{}: {reason}",
        reader_id.map(|id| format!(" (schema id {id})")).unwrap_or_default()
    )]
    Unresolvable {
        /// The writer's schema id.
        writer_id: u32,
        /// The reader's schema id, when the reader's schema is registered.
        reader_id: Option<u32>,
        /// The reader type's full name.
        reader: String,
        /// Why resolution fails.
        reason: String,
    },
    /// A record's body could not be decoded into the reader's type.
    #[error("cannot decode a record written with schema id {writer_id} as `{reader}`: {source}")]
    Decode {
        /// The writer's schema id.
        writer_id: u32,
        /// The reader type's full name.
        reader: String,
        /// The decoding error, with its path and byte offset.
        #[source]
        source: DecodeError,
    },
    /// The broker answered with an error this client has no better variant for.
    #[error("broker error {code:?}: {message}")]
    Broker {
        /// The broker's error code.
        code: v1::ErrorCode,
        /// The broker's message.
        message: String,
    },
    /// The consumer group refused this member (fenced by a newer generation).
    #[error("consumer group: {0}")]
    Group(String),
    /// The broker refused to attach a consumer to a subscription (exclusive
    /// and taken, or of another type while it has consumers).
    #[error("subscription refused: {0}")]
    SubscriptionRefused(String),
    /// A gRPC call failed (connection lost, refused, server error) after the retries.
    /// Displayed once, as the server's message and the status code (the status is
    /// not also a `source`, so error chains do not print it twice).
    #[error("{}", status_text(.0))]
    Transport(tonic::Status),
    /// The connection to the broker could not be set up.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The broker URL.
        url: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// An argument given to the client was invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The operation did not complete in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The producer or consumer was closed.
    #[error("closed")]
    Closed,
}

impl ClientError {
    /// Whether retrying the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(status) => is_retryable_status(status),
            ClientError::Broker { code, .. } => {
                matches!(code, v1::ErrorCode::Storage | v1::ErrorCode::Overloaded)
            }
            ClientError::Timeout(_) => true,
            _ => false,
        }
    }

    /// Maps a broker `Error` message (from a produce response) to a client error.
    pub(crate) fn from_broker(topic: &str, partition: u32, err: &v1::Error) -> ClientError {
        let code = v1::ErrorCode::try_from(err.code).unwrap_or(v1::ErrorCode::Unspecified);
        match code {
            v1::ErrorCode::UnknownTopic => ClientError::UnknownTopic { topic: topic.to_owned() },
            v1::ErrorCode::UnknownPartition => {
                ClientError::UnknownPartition { topic: topic.to_owned(), partition }
            }
            v1::ErrorCode::InvalidRecord | v1::ErrorCode::TooLarge => ClientError::Refused {
                record_index: err.record_index,
                path: if err.path.is_empty() { "/".to_owned() } else { err.path.clone() },
                reason: err.message.clone(),
            },
            code => ClientError::Broker { code, message: err.message.clone() },
        }
    }

    /// Maps a status from a call about `topic` to a client error, recognising
    /// an unknown topic.
    pub(crate) fn from_topic_status(topic: &str, status: tonic::Status) -> ClientError {
        match status.code() {
            tonic::Code::NotFound => ClientError::UnknownTopic { topic: topic.to_owned() },
            tonic::Code::AlreadyExists => ClientError::TopicExists { topic: topic.to_owned() },
            tonic::Code::InvalidArgument => ClientError::InvalidArgument(status.message().to_owned()),
            _ => ClientError::Transport(status),
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Transport(status)
    }
}

fn status_text(status: &tonic::Status) -> String {
    if status.message().is_empty() {
        format!("the call failed: {}", status.code())
    } else {
        format!("{} ({:?})", status.message(), status.code())
    }
}

/// Whether a gRPC status is worth retrying: the connection or the server was
/// momentarily unavailable. Anything else is an answer.
pub(crate) fn is_retryable_status(status: &tonic::Status) -> bool {
    matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Aborted)
        || (status.code() == tonic::Code::Unknown && status.message().contains("transport"))
}
