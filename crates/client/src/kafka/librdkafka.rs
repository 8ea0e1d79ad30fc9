//! What the Kafka transport's producer and consumer share of librdkafka: the
//! settings every client starts from, blocking calls run off the async
//! threads, a topic's partition count from metadata, and librdkafka's errors
//! as [`ClientError`]s.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use runnel_proto::v1;

use super::config::KafkaConfig;
use crate::error::ClientError;
use crate::transport::Position;

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

/// What an offset outside a partition's records resolves to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OutOfRange {
    /// The nearest end (as a broker clamps an offset asked of ListOffsets).
    Clamp,
    /// The partition's start (as librdkafka resets a consumer's offset out of range).
    Start,
}

/// The offset `position` designates in each of `partitions` of `topic`, from the
/// partitions' watermarks and, for a time, ListOffsets by timestamp (none at or after
/// it: the end). Blocking calls: run it off the async threads.
pub(crate) fn resolve_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[u32],
    position: Position,
    out_of_range: OutOfRange,
    timeout: Duration,
) -> Result<Vec<(u32, i64)>, ClientError> {
    let context = |p: u32| format!("cannot read the offsets of `{topic}` partition {p}");
    let mut by_time = HashMap::new();
    if let Position::Timestamp(ms) = position {
        let mut list = rdkafka::TopicPartitionList::with_capacity(partitions.len());
        for &p in partitions {
            list.add_partition_offset(topic, p as i32, rdkafka::Offset::Offset(ms))
                .map_err(|e| kafka_error(&context(p), e))?;
        }
        let found = consumer
            .offsets_for_times(list, timeout)
            .map_err(|e| kafka_error(&format!("cannot find the offsets of `{topic}` at {ms}"), e))?;
        for e in found.elements_for_topic(topic) {
            if let rdkafka::Offset::Offset(o) = e.offset() {
                by_time.insert(e.partition() as u32, o);
            }
        }
    }
    let mut out = Vec::with_capacity(partitions.len());
    for &p in partitions {
        let (low, high) =
            consumer.fetch_watermarks(topic, p as i32, timeout).map_err(|e| kafka_error(&context(p), e))?;
        let offset = match position {
            Position::Earliest => low,
            Position::Latest => high,
            Position::Offset(n) if (low..=high).contains(&n) => n,
            Position::Offset(n) => match out_of_range {
                OutOfRange::Clamp => n.clamp(low, high),
                OutOfRange::Start => low,
            },
            Position::Timestamp(_) => by_time.get(&p).copied().filter(|o| *o >= 0).unwrap_or(high),
        };
        out.push((p, offset));
    }
    Ok(out)
}
