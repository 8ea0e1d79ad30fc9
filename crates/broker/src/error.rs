//! The broker's error type: every way a request or the storage can fail, with
//! enough context to build a precise gRPC status (the `From<BrokerError> for tonic::Status`
//! below) and protocol error codes. Every layer uses it.

use std::path::PathBuf;

/// Errors of the broker library.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// An I/O operation on the data directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A write or fsync of a partition failed; the partition refuses appends until restart.
    #[error("storage failure: {0}")]
    Storage(String),
    /// A closed segment holds bytes that are not valid batches.
    #[error("corrupt segment {} at byte {position}: {reason}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the bad batch.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// The metadata database failed.
    #[error("metadata store: {0}")]
    Meta(String),
    /// No topic of that name.
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    /// The topic exists already.
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    /// The topic has no such partition.
    #[error("topic '{topic}' has no partition {partition} (it has {count})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        count: u32,
    },
    /// A request argument is invalid (topic name, config, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// The requested offset is outside the stored log.
    #[error("offset {offset} is out of range: the log holds [{log_start}, {high_watermark})")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The first stored offset.
        log_start: i64,
        /// The next offset to be written.
        high_watermark: i64,
    },
    /// The batch bytes are malformed (length, magic, CRC, records).
    #[error("corrupt batch: {0}")]
    Batch(#[from] runnel_proto::BatchError),
    /// A record was refused by schema enforcement; nothing of its batch was appended.
    #[error("record {index} refused at {path}: {message}")]
    InvalidRecord {
        /// The record's index in the batch.
        index: u32,
        /// The field path inside the record ("/" for the framing itself).
        path: String,
        /// Why it was refused.
        message: String,
    },
    /// A record or batch over the configured limits.
    #[error("{0}")]
    TooLarge(String),
    /// An idempotent producer's sequence is not the next one expected.
    #[error("out of order sequence: {0}")]
    OutOfOrderSequence(String),
    /// A stale producer epoch or group generation.
    #[error("fenced: {0}")]
    Fenced(String),
    /// A transactional batch outside its producer's open transaction (a partition not
    /// added, no transaction open).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// The member is not (or no longer) in the group.
    #[error("{0}")]
    UnknownMember(String),
    /// The registry answered with an error (its Confluent error code and message).
    #[error("registry: {message}")]
    Registry {
        /// The Confluent error code (40401, 42201, ...).
        code: u32,
        /// The registry's message.
        message: String,
    },
    /// A tenant or namespace that does not exist (the message names it).
    #[error("{0}")]
    NotFound(String),
    /// A tenant or namespace that exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// Refused in the current state, e.g. deleting a tenant that still holds topics.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A tenant's storage or topic quota is used up.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The caller lacks a permission (the message names it and the resource).
    #[error("{0}")]
    PermissionDenied(String),
    /// The broker is shutting down.
    #[error("the broker is shutting down")]
    ShuttingDown,
    /// Binding a listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl BrokerError {
    /// An I/O error with its operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BrokerError::Io { op, path: path.into(), source }
    }

    /// A metadata store error.
    pub(crate) fn meta(e: impl std::fmt::Display) -> Self {
        BrokerError::Meta(e.to_string())
    }
}

impl From<runnel_registry::RegistryError> for BrokerError {
    fn from(e: runnel_registry::RegistryError) -> Self {
        BrokerError::Registry { code: e.error_code(), message: e.to_string() }
    }
}

impl BrokerError {
    /// The protocol error code for a streamed produce response.
    pub fn code(&self) -> runnel_proto::v1::ErrorCode {
        use runnel_proto::v1::ErrorCode as C;
        match self {
            BrokerError::UnknownTopic(_) => C::UnknownTopic,
            BrokerError::UnknownPartition { .. } => C::UnknownPartition,
            BrokerError::InvalidRecord { .. } => C::InvalidRecord,
            BrokerError::Batch(_) => C::CorruptBatch,
            BrokerError::TooLarge(_) => C::TooLarge,
            BrokerError::Storage(_) | BrokerError::Io { .. } | BrokerError::Meta(_) => C::Storage,
            BrokerError::OutOfOrderSequence(_) | BrokerError::Fenced(_) => C::OutOfOrderSequence,
            BrokerError::ShuttingDown => C::Overloaded,
            BrokerError::QuotaExceeded(_) => C::QuotaExceeded,
            BrokerError::PermissionDenied(_) => C::PermissionDenied,
            _ => C::Internal,
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            BrokerError::Storage(_)
                | BrokerError::Io { .. }
                | BrokerError::Meta(_)
                | BrokerError::ShuttingDown
        )
    }

    /// The protocol `Error` for a streamed produce response.
    pub fn to_proto(&self) -> runnel_proto::v1::Error {
        let (record_index, path) = match self {
            BrokerError::InvalidRecord { index, path, .. } => (*index as i32, path.clone()),
            BrokerError::Batch(runnel_proto::BatchError::MalformedRecord { index, .. }) => {
                (*index as i32, String::new())
            }
            _ => (-1, String::new()),
        };
        runnel_proto::v1::Error {
            code: self.code() as i32,
            message: self.to_string(),
            retryable: self.retryable(),
            record_index,
            path,
        }
    }
}

impl From<BrokerError> for tonic::Status {
    fn from(e: BrokerError) -> tonic::Status {
        use tonic::Code;
        let code = match &e {
            BrokerError::UnknownTopic(_) | BrokerError::UnknownPartition { .. } => Code::NotFound,
            BrokerError::TopicExists(_) | BrokerError::AlreadyExists(_) => Code::AlreadyExists,
            BrokerError::PermissionDenied(_) => Code::PermissionDenied,
            BrokerError::NotFound(_) => Code::NotFound,
            BrokerError::FailedPrecondition(_) => Code::FailedPrecondition,
            BrokerError::QuotaExceeded(_) => Code::ResourceExhausted,
            BrokerError::InvalidArgument(_) | BrokerError::Batch(_) | BrokerError::InvalidRecord { .. } => {
                Code::InvalidArgument
            }
            BrokerError::OffsetOutOfRange { .. } => Code::OutOfRange,
            BrokerError::TooLarge(_) => Code::ResourceExhausted,
            BrokerError::OutOfOrderSequence(_)
            | BrokerError::Fenced(_)
            | BrokerError::UnknownMember(_)
            | BrokerError::InvalidTxnState(_) => Code::FailedPrecondition,
            BrokerError::Storage(_)
            | BrokerError::Io { .. }
            | BrokerError::Meta(_)
            | BrokerError::ShuttingDown => Code::Unavailable,
            // Confluent codes: 404xx missing, 409 incompatible, 422xx invalid, 500xx storage.
            BrokerError::Registry { code, .. } => match *code {
                409 => Code::FailedPrecondition,
                c if c / 100 == 404 => Code::NotFound,
                c if c / 100 == 422 => Code::InvalidArgument,
                c if c / 100 == 500 => Code::Unavailable,
                _ => Code::Internal,
            },
            BrokerError::Corrupt { .. } | BrokerError::Bind { .. } => Code::Internal,
        };
        let mut status = tonic::Status::new(code, e.to_string());
        if let BrokerError::InvalidRecord { index, path, .. } = &e {
            // Machine-readable details for clients that want them without parsing the message.
            if let Ok(v) = index.to_string().parse() {
                status.metadata_mut().insert("runnel-record-index", v);
            }
            if let Ok(v) = path.parse() {
                status.metadata_mut().insert("runnel-record-path", v);
            }
        }
        status
    }
}
