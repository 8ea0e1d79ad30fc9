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
pub mod function;
mod grpc;
#[cfg(feature = "kafka")]
mod kafka;
mod partitioner;
mod producer;
mod queue;
mod raw_consumer;
mod raw_producer;
mod read_state;
mod record;
mod registry;
mod replication;
mod schemas;
mod transaction;
mod transport;

pub use admin::{
    BuiltinFunction, FunctionInfo, NamespaceInfo, NamespacePolicy, NewTopic, PartitionInfo, TenantInfo,
    TenantQuotas, TopicConfig, TopicInfo, Validation,
};
pub use client::Client;
pub use consumer::{Consumer, ConsumerBuilder, Message};
pub use error::ClientError;
pub use grpc::connection::{ClientOptions, TlsOptions};
pub use grpc::queue::{
    dlq_headers, DeadLetterPolicy, RawQueueMessage, SubscriptionOptions, SubscriptionType,
};
pub use grpc::topics::value_subject;
#[cfg(feature = "kafka")]
pub use kafka::config::KafkaConfig;
pub use partitioner::{murmur2, partition_for_key, PartitionFn, Partitioner};
pub use producer::{Producer, ProducerBuilder, SendOptions};
pub use queue::{QueueConsumer, QueueMessage, RawQueueConsumer, SubscriptionBuilder};
pub use raw_consumer::RawConsumer;
pub use raw_producer::RawProducer;
pub use record::Record;
pub use registry::RegisteredSchema;
pub use replication::{
    ClusterInfo, NamespaceReplication, ReplicationLink, ReplicationStatusResponse, TopicReplication,
};
pub use transaction::Transaction;
pub use transport::{
    BatchReceipt, BatchSendFuture, ConsumerOptions, DeliveryFuture, Position, ProducerOptions, RawMessage,
    RawRecord, RecordMetadata, SendFuture,
};

/// The protocol's generated types, for settings the builders do not cover.
pub use runnel_proto::v1 as proto;
