//! Dead-letter topics: a record delivered the policy's maximum number of times
//! without an ack is appended to the dead-letter topic (created when missing,
//! bound to the source topic's value subject and validation, so the record
//! stays valid there) with headers saying where it came from and why, and only
//! then acknowledged on its subscription. A failed write leaves it
//! unacknowledged; the dispatcher retries and tells the consumers.

use std::sync::Arc;

use runnel_proto::BatchBuilder;

use super::types::{Record, Redelivery};
use crate::error::BrokerError;
use crate::produce::Appender;
use crate::topics::{TopicMeta, Topics};

/// Header: the topic the record was consumed from.
pub const HEADER_TOPIC: &str = "runnel-dlq-original-topic";
/// Header: its partition there (decimal).
pub const HEADER_PARTITION: &str = "runnel-dlq-original-partition";
/// Header: its offset there (decimal).
pub const HEADER_OFFSET: &str = "runnel-dlq-original-offset";
/// Header: the subscription that gave up on it.
pub const HEADER_SUBSCRIPTION: &str = "runnel-dlq-subscription";
/// Header: how many times it was delivered (decimal).
pub const HEADER_DELIVERIES: &str = "runnel-dlq-delivery-count";
/// Header: why its last delivery failed (`nack`, `ack-timeout`, `consumer-closed`, `failover`).
pub const HEADER_REASON: &str = "runnel-dlq-reason";

/// One record to move.
#[derive(Debug)]
pub struct DeadLetter {
    /// The topic it comes from.
    pub source: TopicMeta,
    /// The subscription.
    pub subscription: String,
    /// The dead-letter topic.
    pub dlq_topic: String,
    /// The record.
    pub record: Arc<Record>,
    /// How many times it was delivered.
    pub deliveries: u32,
    /// Why its last delivery failed.
    pub reason: Redelivery,
}

/// Writes dead letters: creates dead-letter topics and appends to them through the
/// produce path (enforced and counted like any produce).
#[derive(Debug, Clone)]
pub struct DeadLetters {
    topics: Arc<Topics>,
    append: Arc<Appender>,
}

impl DeadLetters {
    /// Dead letters into `topics`, appended by `append`.
    pub fn new(topics: Arc<Topics>, append: Arc<Appender>) -> DeadLetters {
        DeadLetters { topics, append }
    }

    /// Appends the record to the dead-letter topic, creating the topic if needed;
    /// returns once it is durable.
    pub async fn write(&self, job: &DeadLetter) -> Result<(), BrokerError> {
        let topic = self.topics.get_or_create_like(&job.dlq_topic, &job.source, 1).await?;
        let r = &job.record;
        let (partition, offset, deliveries) =
            (r.partition.to_string(), r.offset.to_string(), job.deliveries.to_string());
        let mut headers: Vec<(&str, &[u8])> =
            r.headers.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
        headers.extend([
            (HEADER_TOPIC, job.source.name.as_bytes()),
            (HEADER_PARTITION, partition.as_bytes()),
            (HEADER_OFFSET, offset.as_bytes()),
            (HEADER_SUBSCRIPTION, job.subscription.as_bytes()),
            (HEADER_DELIVERIES, deliveries.as_bytes()),
            (HEADER_REASON, job.reason.as_str().as_bytes()),
        ]);
        let mut batch = BatchBuilder::new();
        batch.push(r.key.as_deref(), r.value.as_deref(), r.timestamp_ms, &headers);
        let partitions = topic.partitions.len().max(1) as u32;
        self.append.produce(&job.dlq_topic, r.partition % partitions, batch.finish(-1, -1, -1)).await?;
        Ok(())
    }
}
