//! The transport abstraction under the typed [`Producer<T>`](crate::Producer)
//! and [`Consumer<T>`](crate::Consumer): a [`Transport`] binds a topic to its
//! value subject and opens a [`RecordSink`] (producing records) or a
//! [`RecordSource`] with its [`ConsumerControl`] (reading records, and the
//! commits, seeks and assignment of that consumer); its [`SchemaLookup`] finds
//! schemas in the registry that goes with it. Everything above works on
//! framed bytes ([`RawRecord`], [`RawMessage`]) and knows no transport.
//!
//! Two transports implement it: gRPC to a Runnel broker (`grpc/`) and, with
//! the `kafka` feature, librdkafka plus a Confluent registry's REST API
//! (`kafka/`). A client holds one, chosen at connect; with both compiled in it
//! is an [`Either`](either::Either) of the two. Dispatch is static: one `match`
//! per call on the hot paths (a send, a buffered record), never a boxed future
//! or a virtual call per record.

pub(crate) mod batch;
#[cfg(feature = "kafka")]
pub(crate) mod either;
mod options;
mod raw;

use std::future::Future;

use runnel_avro::Schema;

use crate::error::ClientError;
pub(crate) use batch::{BatchDelivery, RawBatch};
pub use batch::{BatchReceipt, BatchSendFuture};
pub use options::{ConsumerOptions, Position, ProducerOptions};
pub(crate) use raw::{now_ms, Delivery};
pub use raw::{DeliveryFuture, RawMessage, RawRecord, RecordMetadata, SendFuture};

/// A topic as its transport found it: where the schemas of its values live.
#[derive(Debug, Clone)]
pub(crate) struct TopicBinding {
    /// The topic's name.
    pub(crate) name: String,
    /// The subject its values are bound to.
    pub(crate) subject: String,
    /// Whether a producer may register its schema under the subject.
    pub(crate) auto_register: bool,
    /// The partitions, when binding found them (gRPC); empty when the
    /// transport finds them as it opens a producer or consumer (Kafka).
    pub(crate) partitions: Vec<u32>,
}

/// A schema as a version of a subject, as a registry answers it.
#[derive(Debug, Clone)]
pub(crate) struct SubjectVersion {
    pub(crate) subject: String,
    pub(crate) id: u32,
    /// `-1` when the registry did not say.
    pub(crate) version: i32,
    /// The schema's text; empty when the registry did not send it back.
    pub(crate) schema: String,
}

/// Where a client's producers and consumers send and read records.
pub(crate) trait Transport: Send + Sync + 'static {
    /// A topic's producer.
    type Sink: RecordSink;
    /// The records side of a topic's consumer.
    type Source: RecordSource;
    /// The control side of a topic's consumer.
    type Control: ConsumerControl;
    /// The registry this transport's records name their schemas in.
    type Schemas: SchemaLookup;

    /// Finds `topic` and the subject its values are bound to; an unknown
    /// topic is [`ClientError::UnknownTopic`] where the transport can tell now.
    fn bind(&self, topic: &str) -> impl Future<Output = Result<TopicBinding, ClientError>> + Send;

    /// Starts a producer of `topic`.
    fn open_sink(
        &self,
        topic: &TopicBinding,
        options: ProducerOptions,
    ) -> impl Future<Output = Result<Self::Sink, ClientError>> + Send;

    /// Starts a consumer of `topic`: its control side and its records side.
    fn open_consumer(
        &self,
        topic: &TopicBinding,
        options: ConsumerOptions,
    ) -> impl Future<Output = Result<(Self::Control, Self::Source), ClientError>> + Send;

    /// The offset `position` designates in each of `partitions` of `topic`
    /// (every partition when empty), as `(partition, offset)` pairs.
    fn list_offsets(
        &self,
        topic: &str,
        partitions: &[u32],
        position: Position,
    ) -> impl Future<Output = Result<Vec<(u32, i64)>, ClientError>> + Send;

    /// The registry, for writer schemas and the producer's lookups.
    fn schemas(&self) -> Self::Schemas;
}

/// Producing records on one topic. Cheap to clone: clones share the producer.
pub(crate) trait RecordSink: Clone + Send + Sync + 'static {
    /// Hands a record over now when there is room (so call order is send
    /// order), otherwise when the future is polled; resolves once it is stored.
    fn send(&self, record: RawRecord) -> SendFuture;

    /// Hands a whole batch over, as [`send`](Self::send) does a record; it goes
    /// to one partition and resolves once all of it is stored, or fails whole.
    fn send_batch(&self, batch: RawBatch) -> BatchSendFuture;

    /// Waits until every record sent before is stored or failed.
    fn flush(&self) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// The topic.
    fn topic(&self) -> &str;

    /// The number of partitions records are spread over.
    fn partitions(&self) -> u32;
}

/// Reading records: the records side of a consumer.
pub(crate) trait RecordSource: Send + 'static {
    /// What marks a delivered record processed.
    type Acker: Acknowledge;

    /// The next record when one is already buffered: no waiting, no future.
    /// `None` means "wait with [`next`](Self::next)", not the end.
    fn try_next(&mut self) -> Option<RawMessage>;

    /// The next record, waiting for one; errors are items and reading goes on.
    fn next(&mut self) -> impl Future<Output = Option<Result<RawMessage, ClientError>>> + Send;

    /// A handle for the messages this source delivers.
    fn acker(&self) -> Self::Acker;
}

/// Marks a delivered record processed (a message's `ack`): the next commit includes it.
pub(crate) trait Acknowledge: std::fmt::Debug + Send + Sync + 'static {
    fn mark(&self, partition: u32, offset: i64);
}

/// The control side of a consumer: its assignment, commits and seeks.
pub(crate) trait ConsumerControl: Send + Sync + 'static {
    /// The topic.
    fn topic(&self) -> &str;

    /// The partitions the consumer currently reads.
    fn assignment(&self) -> Vec<u32>;

    /// Commits every record delivered so far (groups only).
    fn commit(&self) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// Commits `next_offset` (the offset after the last processed record) for `partition`.
    fn commit_offset(
        &self,
        partition: u32,
        next_offset: i64,
    ) -> impl Future<Output = Result<(), ClientError>> + Send;

    /// Continues `partition` at `offset`; records already buffered from it are dropped.
    fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError>;

    /// The offset of the next record delivered from `partition` (where it
    /// starts, until one is delivered); `None` if it is not read or not known yet.
    fn position(&self, partition: u32) -> Option<i64>;

    /// Commits what was delivered (groups) and leaves.
    fn close(&self) -> impl Future<Output = Result<(), ClientError>> + Send;
}

/// Schema lookups in a registry. Answers are not cached here: the
/// [`SchemaCache`](crate::registry::SchemaCache) in front of every lookup does that.
pub(crate) trait SchemaLookup: Clone + Send + Sync + 'static {
    /// The text of the schema with global id `id`; [`ClientError::SchemaNotFound`] when none.
    fn schema_text(&self, id: u32) -> impl Future<Output = Result<String, ClientError>> + Send;

    /// The version of `subject` that is `schema`, if there is one.
    fn lookup(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> impl Future<Output = Result<Option<SubjectVersion>, ClientError>> + Send;

    /// Registers `schema` under `subject` (or finds it there); an incompatible
    /// schema is [`ClientError::Incompatible`] with every reason.
    fn register(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> impl Future<Output = Result<SubjectVersion, ClientError>> + Send;

    /// Version `version` of `subject` (`-1`: the latest), with its text.
    fn version(
        &self,
        subject: &str,
        version: i32,
    ) -> impl Future<Output = Result<SubjectVersion, ClientError>> + Send;

    /// Every reason `schema` is incompatible with `subject` under its
    /// compatibility level (empty when compatible).
    fn incompatibilities(
        &self,
        subject: &str,
        schema: &Schema,
    ) -> impl Future<Output = Result<Vec<String>, ClientError>> + Send;
}
