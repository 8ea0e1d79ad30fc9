//! Runnel's client: a [`Client`] connected to a broker, typed
//! [`Producer<T>`] and [`Consumer<T>`] for types implementing
//! [`Avro`](runnel_avro::Avro), untyped [`RawProducer`] / [`RawConsumer`] for
//! bytes and Avro-JSON (the CLI's), topic administration and schema registry
//! calls.
//!
//! Values travel in the Confluent wire format (magic byte, schema id, Avro
//! body, see [`framing`]); batches are Kafka RecordBatch v2.

mod admin;
mod client;
mod consumer;
mod error;
pub mod framing;
#[cfg(feature = "kafka")]
mod kafka;
mod partitioner;
mod producer;
mod queue;
mod raw_consumer;
mod raw_producer;
mod registry;

pub use admin::{
    value_subject, NamespaceInfo, NamespacePolicy, NewTopic, PartitionInfo, Position, TenantInfo,
    TenantQuotas, TopicConfig, TopicInfo, Validation,
};
pub use client::{Client, ClientOptions, TlsOptions};
pub use consumer::{Consumer, ConsumerBuilder, Message};
pub use error::ClientError;
#[cfg(feature = "kafka")]
pub use kafka::KafkaConfig;
pub use partitioner::{murmur2, partition_for_key, PartitionFn, Partitioner};
pub use producer::{Producer, ProducerBuilder, SendOptions};
pub use queue::{
    dlq_headers, DeadLetterPolicy, QueueConsumer, QueueMessage, RawQueueConsumer, RawQueueMessage,
    SubscriptionBuilder, SubscriptionOptions, SubscriptionType,
};
pub use raw_consumer::{ConsumerOptions, RawConsumer, RawMessage};
pub use raw_producer::{ProducerOptions, RawProducer, RawRecord, RecordMetadata, SendFuture};
pub use registry::RegisteredSchema;

/// The protocol's generated types, for settings the builders do not cover.
pub use runnel_proto::v1 as proto;
