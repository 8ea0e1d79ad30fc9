//! What every Kafka handler speaks: the error codes it answers with ([`code`], and
//! [`error_code`] for a broker error) and Kafka strings ([`kstr`]).

use crate::error::BrokerError;

/// A Kafka string from a Rust one.
pub(crate) fn kstr(s: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.into())
}

/// Kafka error codes used by the handlers (`kafka_protocol::ResponseError`'s numbers).
pub(crate) mod code {
    use kafka_protocol::ResponseError as E;

    /// No error.
    pub const NONE: i16 = 0;
    /// Catch-all.
    pub const UNKNOWN_SERVER_ERROR: i16 = E::UnknownServerError.code();
    /// Offset outside the log.
    pub const OFFSET_OUT_OF_RANGE: i16 = E::OffsetOutOfRange.code();
    /// Corrupt batch.
    pub const CORRUPT_MESSAGE: i16 = E::CorruptMessage.code();
    /// Unknown topic or partition.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = E::UnknownTopicOrPartition.code();
    /// Broker shutting down: clients refresh metadata and retry.
    pub const NOT_LEADER_OR_FOLLOWER: i16 = E::NotLeaderOrFollower.code();
    /// Record over the limit.
    pub const MESSAGE_TOO_LARGE: i16 = E::MessageTooLarge.code();
    /// Group coordinator busy.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = E::CoordinatorNotAvailable.code();
    /// Wrong generation.
    pub const ILLEGAL_GENERATION: i16 = E::IllegalGeneration.code();
    /// No common protocol.
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = E::InconsistentGroupProtocol.code();
    /// Unknown member.
    pub const UNKNOWN_MEMBER_ID: i16 = E::UnknownMemberId.code();
    /// Session timeout out of bounds.
    pub const INVALID_SESSION_TIMEOUT: i16 = E::InvalidSessionTimeout.code();
    /// Rejoin needed.
    pub const REBALANCE_IN_PROGRESS: i16 = E::RebalanceInProgress.code();
    /// Topic exists.
    pub const TOPIC_ALREADY_EXISTS: i16 = E::TopicAlreadyExists.code();
    /// Bad partitions.
    pub const INVALID_PARTITIONS: i16 = E::InvalidPartitions.code();
    /// Bad replication factor.
    pub const INVALID_REPLICATION_FACTOR: i16 = E::InvalidReplicationFactor.code();
    /// Bad config.
    pub const INVALID_CONFIG: i16 = E::InvalidConfig.code();
    /// Bad request.
    pub const INVALID_REQUEST: i16 = E::InvalidRequest.code();
    /// Unsupported API version.
    pub const UNSUPPORTED_VERSION: i16 = E::UnsupportedVersion.code();
    // Group and topic admin (ListGroups … DeleteRecords).
    /// Group name empty.
    pub const INVALID_GROUP_ID: i16 = E::InvalidGroupId.code();
    /// Group has live members.
    pub const NON_EMPTY_GROUP: i16 = E::NonEmptyGroup.code();
    /// No such group.
    pub const GROUP_ID_NOT_FOUND: i16 = E::GroupIdNotFound.code();
    /// A live member consumes the topic.
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = E::GroupSubscribedToTopic.code();
    /// Replica assignment naming another broker.
    pub const INVALID_REPLICA_ASSIGNMENT: i16 = E::InvalidReplicaAssignment.code();
    /// DescribeCluster asked a broker for controllers.
    pub const MISMATCHED_ENDPOINT_TYPE: i16 = E::MismatchedEndpointType.code();
    /// Over a broker limit.
    pub const POLICY_VIOLATION: i16 = E::PolicyViolation.code();
    /// Sequence gap.
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = E::OutOfOrderSequenceNumber.code();
    /// Stale epoch.
    pub const INVALID_PRODUCER_EPOCH: i16 = E::InvalidProducerEpoch.code();
    /// Storage failure.
    pub const KAFKA_STORAGE_ERROR: i16 = E::KafkaStorageError.code();
    /// Invalid topic name.
    pub const INVALID_TOPIC_EXCEPTION: i16 = E::InvalidTopicException.code();
    /// Member id handed out, rejoin with it.
    pub const MEMBER_ID_REQUIRED: i16 = E::MemberIdRequired.code();
    /// Schema enforcement refused the batch.
    pub const INVALID_RECORD: i16 = E::InvalidRecord.code();
    /// A transactional request out of the transaction's state.
    pub const INVALID_TXN_STATE: i16 = E::InvalidTxnState.code();
    /// The transactional id does not map to the producer id.
    pub const INVALID_PRODUCER_ID_MAPPING: i16 = E::InvalidProducerIdMapping.code();
    /// The transaction timeout is out of bounds.
    pub const INVALID_TRANSACTION_TIMEOUT: i16 = E::InvalidTransactionTimeout.code();
    /// A newer producer of the transactional id exists.
    pub const PRODUCER_FENCED: i16 = E::ProducerFenced.code();
    /// A transaction holds an offset of the group that is about to move (KIP-447).
    pub const UNSTABLE_OFFSET_COMMIT: i16 = E::UnstableOffsetCommit.code();
    /// Not attempted because another part of the request failed.
    pub const OPERATION_NOT_ATTEMPTED: i16 = E::OperationNotAttempted.code();
    /// The caller may not use this transactional id.
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = E::TransactionalIdAuthorizationFailed.code();
}

/// The Kafka error code for a broker error.
pub(crate) fn error_code(e: &BrokerError) -> i16 {
    match e {
        BrokerError::InvalidRecord { .. } => code::INVALID_RECORD,
        BrokerError::Batch(_) => code::CORRUPT_MESSAGE,
        BrokerError::UnknownTopic(_) | BrokerError::UnknownPartition { .. } => {
            code::UNKNOWN_TOPIC_OR_PARTITION
        }
        BrokerError::TooLarge(_) => code::MESSAGE_TOO_LARGE,
        BrokerError::OutOfOrderSequence(_) => code::OUT_OF_ORDER_SEQUENCE_NUMBER,
        BrokerError::Fenced(_) => code::INVALID_PRODUCER_EPOCH,
        BrokerError::InvalidTxnState(_) => code::INVALID_TXN_STATE,
        BrokerError::Storage(_) | BrokerError::Io { .. } | BrokerError::Meta(_) => code::KAFKA_STORAGE_ERROR,
        BrokerError::ShuttingDown => code::NOT_LEADER_OR_FOLLOWER,
        BrokerError::InvalidArgument(_) => code::INVALID_REQUEST,
        BrokerError::OffsetOutOfRange { .. } => code::OFFSET_OUT_OF_RANGE,
        _ => code::UNKNOWN_SERVER_ERROR,
    }
}
