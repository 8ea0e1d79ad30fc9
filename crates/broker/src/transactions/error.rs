//! How a coordinator operation fails. Each variant is one of Kafka's transaction errors,
//! so the Kafka front end answers with the code a Kafka broker gives and the gRPC front
//! end with the matching status; the message says what was wrong for the log line.

use crate::error::BrokerError;

/// Why the coordinator refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The producer's epoch is not the transactional id's current one: a newer producer
    /// with the same transactional id took over, or the transaction timed out and was
    /// aborted with a bumped epoch (Kafka's PRODUCER_FENCED / INVALID_PRODUCER_EPOCH).
    #[error("producer fenced: {0}")]
    Fenced(String),
    /// The transactional id is unknown, or maps to another producer id
    /// (INVALID_PRODUCER_ID_MAPPING).
    #[error("{0}")]
    UnknownProducer(String),
    /// The operation does not fit the transaction's state, e.g. EndTxn without a
    /// transaction, or offsets for a group not added (INVALID_TXN_STATE).
    #[error("invalid transaction state: {0}")]
    InvalidState(String),
    /// The transaction timeout is not in `1..=max` (INVALID_TRANSACTION_TIMEOUT).
    #[error("{0}")]
    InvalidTimeout(String),
    /// Partitions that do not exist (UNKNOWN_TOPIC_OR_PARTITION for them, the others are
    /// not attempted).
    #[error("unknown topic or partition: {0:?}")]
    UnknownPartitions(Vec<(String, u32)>),
    /// Storage failed (meta.redb or a marker append); retrying may succeed
    /// (COORDINATOR_NOT_AVAILABLE).
    #[error("{0}")]
    Broker(#[from] BrokerError),
}

impl From<TxnError> for tonic::Status {
    fn from(e: TxnError) -> tonic::Status {
        match e {
            TxnError::Broker(b) => b.into(),
            TxnError::Fenced(_) => tonic::Status::failed_precondition(e.to_string()),
            TxnError::UnknownProducer(_) | TxnError::UnknownPartitions(_) => {
                tonic::Status::not_found(e.to_string())
            }
            TxnError::InvalidState(_) => tonic::Status::failed_precondition(e.to_string()),
            TxnError::InvalidTimeout(_) => tonic::Status::invalid_argument(e.to_string()),
        }
    }
}
