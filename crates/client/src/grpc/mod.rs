//! The gRPC transport: a Runnel broker over one HTTP/2 connection
//! (`connection.rs`). [`GrpcTransport`] binds topics with the broker's
//! description (`topics.rs`), produces with a pipelined `ProduceStream`
//! engine (`producer.rs`), consumes with `Fetch` streams and `Groups.Join`
//! (`consumer.rs`), and looks schemas up in the broker's registry
//! (`registry.rs`). `produce_call.rs` frames the produce stream's requests itself, so a
//! batch goes out uncopied. Queue subscriptions (`queue.rs`) exist on this transport only.

pub(crate) mod connection;
pub(crate) mod consumer;
mod produce_call;
pub(crate) mod producer;
pub(crate) mod queue;
mod registry;
pub(crate) mod topics;

use connection::Connection;
use consumer::{ConsumerHandle, RawReader};
use producer::GrpcSink;

use crate::error::ClientError;
use crate::transport::{ConsumerOptions, Position, ProducerOptions, TopicBinding, Transport};

/// Producers and consumers over gRPC to a Runnel broker.
#[derive(Debug)]
pub(crate) struct GrpcTransport {
    connection: Connection,
}

impl GrpcTransport {
    pub(crate) fn new(connection: Connection) -> Self {
        GrpcTransport { connection }
    }
}

impl Transport for GrpcTransport {
    type Sink = GrpcSink;
    type Source = RawReader;
    type Control = ConsumerHandle;
    type Schemas = Connection;

    /// The broker's description: an unknown topic fails here, before any schema lookup.
    async fn bind(&self, topic: &str) -> Result<TopicBinding, ClientError> {
        Ok(topics::binding(&self.connection.describe_topic(topic).await?))
    }

    async fn open_sink(
        &self,
        topic: &TopicBinding,
        options: ProducerOptions,
    ) -> Result<GrpcSink, ClientError> {
        GrpcSink::start(&self.connection, topic, options).await
    }

    async fn open_consumer(
        &self,
        topic: &TopicBinding,
        options: ConsumerOptions,
    ) -> Result<(ConsumerHandle, RawReader), ClientError> {
        consumer::open(&self.connection, topic, options).await
    }

    async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[u32],
        position: Position,
    ) -> Result<Vec<(u32, i64)>, ClientError> {
        self.connection.list_offsets(topic, partitions, position).await
    }

    fn schemas(&self) -> Connection {
        self.connection.clone()
    }
}
