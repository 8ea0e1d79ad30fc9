//! The untyped producer of the CLI and of callers that frame values
//! themselves: [`RawProducer`], the client transport's producer (gRPC or
//! Kafka) with values as bytes.

use crate::client::{Client, ClientTransport};
use crate::error::ClientError;
use crate::transport::{ProducerOptions, RawRecord, RecordSink, SendFuture, Transport};

/// An untyped producer on one topic: values are given as bytes.
///
/// Cheap to clone: clones share the background task. The task ends when the
/// last clone is dropped, after sending what was buffered.
#[derive(Clone, Debug)]
pub struct RawProducer {
    sink: <ClientTransport as Transport>::Sink,
}

impl RawProducer {
    /// Starts a producer on `topic`: checks the topic exists and takes a producer id.
    pub async fn start(client: &Client, topic: &str, options: ProducerOptions) -> Result<Self, ClientError> {
        let binding = client.transport().bind(topic).await?;
        let sink = client.transport().open_sink(&binding, options).await?;
        Ok(RawProducer { sink })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.sink.topic()
    }

    /// The number of partitions the producer spreads records over.
    pub fn partitions(&self) -> u32 {
        self.sink.partitions()
    }

    /// Sends a record. The record is buffered now when there is room (so call
    /// order is send order); otherwise the returned future waits for room
    /// when polled. It resolves once the record is durable, or fails.
    pub fn send(&self, record: RawRecord) -> SendFuture {
        self.sink.send(record)
    }

    /// Sends every buffered record now and waits until all records sent
    /// before this call are resolved (stored or failed).
    pub async fn flush(&self) -> Result<(), ClientError> {
        self.sink.flush().await
    }
}
