//! Settings of producers and consumers, the same on every transport: the
//! builders set them, the transports honour them (or refuse the ones they
//! cannot, when a producer or consumer is opened).

use std::time::Duration;

use crate::partitioner::Partitioner;

/// Settings of a producer; the builders set them.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Most records in one batch.
    pub batch_records: usize,
    /// Most bytes in one batch (approximate, records are never split).
    pub batch_bytes: usize,
    /// How long a batch waits for more records before it is sent.
    pub linger: Duration,
    /// Most batches in flight at once (over all partitions; one per partition).
    pub max_in_flight: usize,
    /// Most records buffered or in flight; `send` waits beyond it.
    pub buffer_records: usize,
    /// How long a record may take, retries included, before its future fails.
    pub delivery_timeout: Duration,
    /// How records without an explicit partition are placed.
    pub partitioner: Partitioner,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        ProducerOptions {
            batch_records: 10_000,
            batch_bytes: 1024 * 1024,
            linger: Duration::from_millis(5),
            max_in_flight: 64,
            buffer_records: 100_000,
            delivery_timeout: Duration::from_secs(60),
            partitioner: Partitioner::Default,
        }
    }
}

/// Where to start reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Position {
    /// The first record still stored.
    #[default]
    Earliest,
    /// Only records written after subscribing.
    Latest,
    /// This offset (clamped by the broker to what is stored).
    Offset(i64),
    /// The first record whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// Settings of a consumer; the builders set them.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The consumer group, if any.
    pub group: Option<String>,
    /// Where to start: without a group, always; with one, for partitions
    /// the group has no committed offset for.
    pub from: Position,
    /// Commit processed offsets at this interval (groups only).
    pub auto_commit: Option<Duration>,
    /// How long the broker waits for a silent group member before removing it.
    pub session_timeout: Duration,
    /// Fetch responses buffered ahead of the reader.
    pub buffer: usize,
    /// Only these partitions (no group); empty = all.
    pub partitions: Vec<u32>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            group: None,
            from: Position::Earliest,
            auto_commit: Some(Duration::from_secs(5)),
            session_timeout: Duration::from_secs(10),
            buffer: 16,
            partitions: Vec::new(),
        }
    }
}
