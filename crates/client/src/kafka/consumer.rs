//! The Kafka side of [`Consumer<T>`](crate::Consumer): a librdkafka consumer
//! that is either a member of a classic consumer group (subscribe; the
//! cluster's coordinator assigns partitions, committed offsets resume) or,
//! without a group, assigned every partition (or the chosen ones) at the
//! configured position. It yields [`RawMessage`]s, which the typed consumer
//! decodes exactly as it decodes records fetched over gRPC.
//!
//! Offsets follow the gRPC consumer's rule: a record handed to the caller
//! counts as processed (librdkafka stores its offset on delivery), and a
//! commit, automatic at the configured interval or explicit, commits what
//! was processed.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::librdkafka::{base_config, blocking, kafka_error, partition_count, unsupported};
use crate::error::ClientError;
use crate::transport::{Acknowledge, ConsumerControl, ConsumerOptions, Position, RawMessage, RecordSource};

struct Shared {
    consumer: StreamConsumer,
    topic: String,
    group: Option<String>,
}

/// The control side: commits, seeks, the assignment. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KafkaHandle {
    shared: Arc<Shared>,
}

/// The records side.
pub(crate) struct KafkaReader {
    shared: Arc<Shared>,
}

/// A delivered record counts as processed: librdkafka stores its offset as it
/// hands it over, which is what `ack` marks on the gRPC transport. Nothing to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredOnDelivery;

impl Acknowledge for StoredOnDelivery {
    fn mark(&self, _partition: u32, _offset: i64) {}
}

/// Opens a consumer of `topic` with the builder's options.
pub(crate) async fn open(
    kafka: &KafkaConfig,
    topic: &str,
    options: ConsumerOptions,
) -> Result<(KafkaHandle, KafkaReader), ClientError> {
    let mut config = base_config(kafka);
    config.set("enable.partition.eof", "false");
    match &options.group {
        Some(group) => {
            if !options.partitions.is_empty() {
                return Err(unsupported("partitions(..) together with a group"));
            }
            let reset = match options.from {
                Position::Earliest => "earliest",
                Position::Latest => "latest",
                Position::Offset(_) | Position::Timestamp(_) => {
                    return Err(unsupported(
                        "a group starting at an offset or a timestamp (use Position::Earliest or \
                         Position::Latest, or seek after the assignment)",
                    ))
                }
            };
            let session_ms = options.session_timeout.as_millis().clamp(1, i32::MAX as u128);
            config
                .set("group.id", group)
                .set("auto.offset.reset", reset)
                .set("session.timeout.ms", session_ms.to_string())
                // librdkafka wants the heartbeat well inside the session.
                .set("heartbeat.interval.ms", (session_ms / 3).clamp(1, 3000).to_string())
                .set("enable.auto.offset.store", "true");
            match options.auto_commit {
                Some(every) => config
                    .set("enable.auto.commit", "true")
                    .set("auto.commit.interval.ms", every.as_millis().clamp(1, i32::MAX as u128).to_string()),
                None => config.set("enable.auto.commit", "false"),
            };
        }
        None => {
            // librdkafka's assign() needs a group id although assigning joins no
            // group: a private one, never committed to. Out-of-range offsets clamp to the start.
            config
                .set("group.id", private_group_id())
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest");
        }
    }
    for (k, v) in &kafka.properties {
        config.set(k, v);
    }
    let consumer: StreamConsumer =
        config.create().map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
    let shared = Arc::new(Shared { consumer, topic: topic.to_owned(), group: options.group.clone() });
    let probe = shared.clone();
    let (name, timeout) = (topic.to_owned(), kafka.connect_timeout);
    let n = partition_count(topic, move || probe.consumer.fetch_metadata(Some(&name), timeout)).await?;
    if shared.group.is_some() {
        shared
            .consumer
            .subscribe(&[topic])
            .map_err(|e| kafka_error(&format!("cannot subscribe to `{topic}`"), e))?;
    } else {
        let mut partitions: Vec<u32> =
            if options.partitions.is_empty() { (0..n).collect() } else { options.partitions.clone() };
        partitions.sort_unstable();
        partitions.dedup();
        if let Some(&p) = partitions.iter().find(|&&p| p >= n) {
            return Err(ClientError::UnknownPartition { topic: topic.to_owned(), partition: p });
        }
        let assignment = starting_offsets(&shared, &partitions, options.from, timeout).await?;
        shared
            .consumer
            .assign(&assignment)
            .map_err(|e| kafka_error(&format!("cannot assign the partitions of `{topic}`"), e))?;
    }
    Ok((KafkaHandle { shared: shared.clone() }, KafkaReader { shared }))
}

/// A group id no one else uses, for a consumer that assigns its partitions itself.
fn private_group_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("runnel-assigned-{}-{nanos}-{n}", std::process::id())
}

/// Where each partition starts for a consumer without a group.
async fn starting_offsets(
    shared: &Arc<Shared>,
    partitions: &[u32],
    from: Position,
    timeout: Duration,
) -> Result<TopicPartitionList, ClientError> {
    let mut tpl = TopicPartitionList::with_capacity(partitions.len());
    let offset = match from {
        Position::Earliest => Offset::Beginning,
        Position::Latest => Offset::End,
        Position::Offset(o) => Offset::Offset(o.max(0)),
        Position::Timestamp(ms) => Offset::Offset(ms),
    };
    for &p in partitions {
        tpl.add_partition_offset(&shared.topic, p as i32, offset).map_err(|e| kafka_error("offsets", e))?;
    }
    if !matches!(from, Position::Timestamp(_)) {
        return Ok(tpl);
    }
    // Timestamps become offsets through ListOffsets; none at or after it means the end.
    let probe = shared.clone();
    let mut found = blocking(move || probe.consumer.offsets_for_times(tpl, timeout))
        .await?
        .map_err(|e| kafka_error(&format!("cannot look up offsets by time in `{}`", shared.topic), e))?;
    let mut resolved = TopicPartitionList::with_capacity(partitions.len());
    for elem in found.elements_for_topic(&shared.topic) {
        let offset = match elem.offset() {
            Offset::Offset(o) if o >= 0 => Offset::Offset(o),
            _ => Offset::End,
        };
        resolved
            .add_partition_offset(&shared.topic, elem.partition(), offset)
            .map_err(|e| kafka_error("offsets", e))?;
    }
    found = resolved;
    Ok(found)
}

impl RecordSource for KafkaReader {
    type Acker = StoredOnDelivery;

    /// Never without waiting: librdkafka's queue is read through `recv`.
    fn try_next(&mut self) -> Option<RawMessage> {
        None
    }

    /// The next record, waiting for one; librdkafka's errors (a broker
    /// unreachable, a refused fetch) are `Err` items and reading goes on.
    async fn next(&mut self) -> Option<Result<RawMessage, ClientError>> {
        let msg = match self.shared.consumer.recv().await {
            Ok(m) => m,
            Err(e) => return Some(Err(kafka_error(&format!("consuming `{}`", self.shared.topic), e))),
        };
        let headers = msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_owned(), h.value.map_or_else(Bytes::new, Bytes::copy_from_slice)))
                    .collect()
            })
            .unwrap_or_default();
        Some(Ok(RawMessage {
            partition: msg.partition() as u32,
            offset: msg.offset(),
            timestamp_ms: msg.timestamp().to_millis().unwrap_or(0),
            key: msg.key().map(Bytes::copy_from_slice),
            value: msg.payload().map_or_else(Bytes::new, Bytes::copy_from_slice),
            headers,
        }))
    }

    fn acker(&self) -> StoredOnDelivery {
        StoredOnDelivery
    }
}

impl KafkaHandle {
    fn require_group(&self) -> Result<(), ClientError> {
        match self.shared.group {
            Some(_) => Ok(()),
            None => Err(ClientError::InvalidArgument("commit needs a consumer group".into())),
        }
    }

    fn commit_result(&self, result: Result<(), KafkaError>) -> Result<(), ClientError> {
        match result {
            // Nothing delivered since the last commit: nothing to do.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(kafka_error(&format!("committing offsets of `{}`", self.shared.topic), e)),
            Ok(()) => Ok(()),
        }
    }
}

impl ConsumerControl for KafkaHandle {
    /// The topic.
    fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The partitions this consumer currently reads.
    fn assignment(&self) -> Vec<u32> {
        let mut parts: Vec<u32> = match self.shared.consumer.assignment() {
            Ok(tpl) => {
                tpl.elements_for_topic(&self.shared.topic).iter().map(|e| e.partition() as u32).collect()
            }
            Err(_) => Vec::new(),
        };
        parts.sort_unstable();
        parts
    }

    /// Commits every record delivered so far.
    async fn commit(&self) -> Result<(), ClientError> {
        self.require_group()?;
        let shared = self.shared.clone();
        let result = blocking(move || shared.consumer.commit_consumer_state(CommitMode::Sync)).await?;
        self.commit_result(result)
    }

    /// Commits `next_offset` (the offset after the last processed record) for `partition`.
    async fn commit_offset(&self, partition: u32, next_offset: i64) -> Result<(), ClientError> {
        self.require_group()?;
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition_offset(&self.shared.topic, partition as i32, Offset::Offset(next_offset))
            .map_err(|e| kafka_error("offsets", e))?;
        let shared = self.shared.clone();
        let result = blocking(move || shared.consumer.commit(&tpl, CommitMode::Sync)).await?;
        self.commit_result(result)
    }

    /// Continues `partition` at `offset`.
    fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        if !self.assignment().contains(&partition) {
            return Err(ClientError::InvalidArgument(format!(
                "partition {partition} is not assigned to this consumer"
            )));
        }
        // A zero timeout makes the seek asynchronous; librdkafka drops
        // records of the partition fetched before it.
        self.shared
            .consumer
            .seek(&self.shared.topic, partition as i32, Offset::Offset(offset.max(0)), Duration::ZERO)
            .map_err(|e| kafka_error(&format!("cannot seek partition {partition}"), e))
    }

    /// Commits what was delivered (groups) and leaves the group.
    async fn close(&self) -> Result<(), ClientError> {
        let result = if self.shared.group.is_some() { self.commit().await } else { Ok(()) };
        let shared = self.shared.clone();
        // Leaving waits for the coordinator's answer: off the async threads.
        blocking(move || {
            if shared.group.is_some() {
                shared.consumer.unsubscribe();
            } else {
                let _ = shared.consumer.unassign();
            }
        })
        .await?;
        result
    }
}
