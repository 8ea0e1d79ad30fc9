//! The untyped consumer of the CLI and the function runtime: [`RawConsumer`],
//! the client transport's consumer (gRPC or Kafka) with values as bytes.

use crate::client::{Client, ClientTransport};
use crate::error::ClientError;
use crate::transport::{ConsumerControl, ConsumerOptions, RawMessage, RecordSource, Transport};

/// An untyped consumer on one topic.
pub struct RawConsumer {
    handle: <ClientTransport as Transport>::Control,
    reader: <ClientTransport as Transport>::Source,
}

impl std::fmt::Debug for RawConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConsumer").field("topic", &self.handle.topic()).finish_non_exhaustive()
    }
}

impl RawConsumer {
    /// Subscribes to `topic`: joins the group, or starts reading every
    /// partition (or the chosen ones) at the configured position.
    pub async fn subscribe(
        client: &Client,
        topic: &str,
        options: ConsumerOptions,
    ) -> Result<Self, ClientError> {
        let binding = client.transport().bind(topic).await?;
        let (handle, reader) = client.transport().open_consumer(&binding, options).await?;
        Ok(RawConsumer { handle, reader })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.handle.topic()
    }

    /// The partitions this consumer currently reads.
    pub fn assignment(&self) -> Vec<u32> {
        self.handle.assignment()
    }

    /// The next record, waiting for one. `None` only if every fetcher ended
    /// (which a following consumer does not do while the broker lives).
    pub async fn next(&mut self) -> Option<Result<RawMessage, ClientError>> {
        self.reader.next().await
    }

    /// The offset of the next record this consumer delivers from `partition`
    /// (where it starts, until one is delivered); `None` if it does not read it.
    pub fn position(&self, partition: u32) -> Option<i64> {
        self.handle.position(partition)
    }

    /// Commits the offsets of every record delivered so far (groups only).
    pub async fn commit(&self) -> Result<(), ClientError> {
        self.handle.commit().await
    }

    /// Commits `partition` up to `next_offset` (groups only).
    pub(crate) async fn commit_offset(&self, partition: u32, next_offset: i64) -> Result<(), ClientError> {
        self.handle.commit_offset(partition, next_offset).await
    }

    /// Continues `partition` from `offset`; records already buffered from it are dropped.
    pub fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        self.handle.seek(partition, offset)
    }

    /// Commits what was delivered (groups) and leaves the group.
    pub async fn close(self) -> Result<(), ClientError> {
        self.handle.close().await
    }
}
