//! What the Kafka transport's producer and consumer share of librdkafka: the
//! settings every client starts from, blocking calls run off the async
//! threads, a topic's partition count from metadata, and librdkafka's errors
//! as [`ClientError`]s.

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use runnel_proto::v1;

use super::config::KafkaConfig;
use crate::error::ClientError;

/// librdkafka settings every producer and consumer shares.
pub(crate) fn base_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap_servers);
    c.set("client.id", "runnel-client");
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    c
}

/// Runs a blocking librdkafka call (metadata, commit, close) off the async threads.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ClientError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ClientError::Closed)
}

/// Maps a librdkafka error to the client error a caller can act on.
pub(crate) fn kafka_error(context: &str, e: KafkaError) -> ClientError {
    let code = e.rdkafka_error_code();
    let message = format!("{context}: {e}");
    match code {
        Some(RDKafkaErrorCode::InvalidRecord) => {
            ClientError::Refused { record_index: -1, path: "/".into(), reason: message }
        }
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => {
            ClientError::Broker { code: v1::ErrorCode::TooLarge, message }
        }
        Some(RDKafkaErrorCode::MessageTimedOut)
        | Some(RDKafkaErrorCode::OperationTimedOut)
        | Some(RDKafkaErrorCode::RequestTimedOut) => ClientError::Timeout(message),
        Some(RDKafkaErrorCode::InvalidArgument) => ClientError::InvalidArgument(message),
        Some(RDKafkaErrorCode::IllegalGeneration)
        | Some(RDKafkaErrorCode::UnknownMemberId)
        | Some(RDKafkaErrorCode::RebalanceInProgress) => ClientError::Group(message),
        Some(RDKafkaErrorCode::NotEnoughReplicas)
        | Some(RDKafkaErrorCode::NotEnoughReplicasAfterAppend)
        | Some(RDKafkaErrorCode::KafkaStorageError) => {
            ClientError::Broker { code: v1::ErrorCode::Storage, message }
        }
        _ => ClientError::Broker { code: v1::ErrorCode::Unspecified, message },
    }
}

/// The error for a builder option the Kafka backend cannot honour.
pub(crate) fn unsupported(what: &str) -> ClientError {
    ClientError::InvalidArgument(format!(
        "{what} is not supported on the Kafka backend (Client::connect_kafka)"
    ))
}

/// The partition count of `topic` from the cluster's metadata (`fetch` asks for
/// it, on a blocking thread); an unknown topic is [`ClientError::UnknownTopic`].
pub(crate) async fn partition_count(
    topic: &str,
    fetch: impl FnOnce() -> KafkaResult<Metadata> + Send + 'static,
) -> Result<u32, ClientError> {
    let metadata = blocking(fetch)
        .await?
        .map_err(|e| kafka_error(&format!("cannot read the metadata of `{topic}`"), e))?;
    let unknown = || ClientError::UnknownTopic { topic: topic.to_owned() };
    let t = metadata.topics().iter().find(|t| t.name() == topic).ok_or_else(unknown)?;
    match t.error() {
        None if !t.partitions().is_empty() => Ok(t.partitions().len() as u32),
        None => Err(unknown()),
        Some(code) => match RDKafkaErrorCode::from(code) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => Err(unknown()),
            other => Err(kafka_error(
                &format!("cannot read the metadata of `{topic}`"),
                KafkaError::MetadataFetch(other),
            )),
        },
    }
}
