//! [`Either`]: a client's transport, and each part it opens, when both
//! transports are compiled in (feature `kafka`): gRPC or Kafka, chosen at
//! connect. Every transport trait is implemented once here, for any pair, by
//! handing the call to the side it holds: a `match` per call, no boxing.
//! Without the feature a client holds the gRPC transport itself.

use runnel_avro::Schema;

use super::{
    Acknowledge, BatchSendFuture, ConsumerControl, ConsumerOptions, Position, ProducerOptions, RawBatch,
    RawMessage, RawRecord, RecordSink, RecordSource, SchemaLookup, SendFuture, SubjectVersion, TopicBinding,
    Transport,
};
use crate::error::ClientError;

/// One of the two transports' values.
#[derive(Debug, Clone)]
pub(crate) enum Either<G, K> {
    /// Over gRPC to a Runnel broker.
    Grpc(G),
    /// Over Kafka, with a Confluent-compatible registry.
    Kafka(K),
}

/// Hands a call to the side the value holds.
macro_rules! each {
    ($value:expr, $side:ident => $call:expr) => {
        match $value {
            Either::Grpc($side) => $call,
            Either::Kafka($side) => $call,
        }
    };
}

impl<G: Transport, K: Transport> Transport for Either<G, K> {
    type Sink = Either<G::Sink, K::Sink>;
    type Source = Either<G::Source, K::Source>;
    type Control = Either<G::Control, K::Control>;
    type Schemas = Either<G::Schemas, K::Schemas>;

    async fn bind(&self, topic: &str) -> Result<TopicBinding, ClientError> {
        each!(self, t => t.bind(topic).await)
    }

    async fn open_sink(
        &self,
        topic: &TopicBinding,
        options: ProducerOptions,
    ) -> Result<Self::Sink, ClientError> {
        match self {
            Either::Grpc(t) => t.open_sink(topic, options).await.map(Either::Grpc),
            Either::Kafka(t) => t.open_sink(topic, options).await.map(Either::Kafka),
        }
    }

    async fn open_consumer(
        &self,
        topic: &TopicBinding,
        options: ConsumerOptions,
    ) -> Result<(Self::Control, Self::Source), ClientError> {
        match self {
            Either::Grpc(t) => {
                let (control, source) = t.open_consumer(topic, options).await?;
                Ok((Either::Grpc(control), Either::Grpc(source)))
            }
            Either::Kafka(t) => {
                let (control, source) = t.open_consumer(topic, options).await?;
                Ok((Either::Kafka(control), Either::Kafka(source)))
            }
        }
    }

    async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[u32],
        position: Position,
    ) -> Result<Vec<(u32, i64)>, ClientError> {
        each!(self, t => t.list_offsets(topic, partitions, position).await)
    }

    fn schemas(&self) -> Self::Schemas {
        match self {
            Either::Grpc(t) => Either::Grpc(t.schemas()),
            Either::Kafka(t) => Either::Kafka(t.schemas()),
        }
    }
}

impl<G: RecordSink, K: RecordSink> RecordSink for Either<G, K> {
    fn send(&self, record: RawRecord) -> SendFuture {
        each!(self, sink => sink.send(record))
    }

    fn send_batch(&self, batch: RawBatch) -> BatchSendFuture {
        each!(self, sink => sink.send_batch(batch))
    }

    async fn flush(&self) -> Result<(), ClientError> {
        each!(self, sink => sink.flush().await)
    }

    fn topic(&self) -> &str {
        each!(self, sink => sink.topic())
    }

    fn partitions(&self) -> u32 {
        each!(self, sink => sink.partitions())
    }
}

impl<G: RecordSource, K: RecordSource> RecordSource for Either<G, K> {
    type Acker = Either<G::Acker, K::Acker>;

    fn try_next(&mut self) -> Option<RawMessage> {
        each!(self, source => source.try_next())
    }

    async fn next(&mut self) -> Option<Result<RawMessage, ClientError>> {
        each!(self, source => source.next().await)
    }

    fn acker(&self) -> Self::Acker {
        match self {
            Either::Grpc(source) => Either::Grpc(source.acker()),
            Either::Kafka(source) => Either::Kafka(source.acker()),
        }
    }
}

impl<G: Acknowledge, K: Acknowledge> Acknowledge for Either<G, K> {
    fn mark(&self, partition: u32, offset: i64) {
        each!(self, acker => acker.mark(partition, offset))
    }
}

impl<G: ConsumerControl, K: ConsumerControl> ConsumerControl for Either<G, K> {
    fn topic(&self) -> &str {
        each!(self, control => control.topic())
    }

    fn assignment(&self) -> Vec<u32> {
        each!(self, control => control.assignment())
    }

    async fn commit(&self) -> Result<(), ClientError> {
        each!(self, control => control.commit().await)
    }

    async fn commit_offset(&self, partition: u32, next_offset: i64) -> Result<(), ClientError> {
        each!(self, control => control.commit_offset(partition, next_offset).await)
    }

    fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        each!(self, control => control.seek(partition, offset))
    }

    async fn close(&self) -> Result<(), ClientError> {
        each!(self, control => control.close().await)
    }

    fn position(&self, partition: u32) -> Option<i64> {
        each!(self, control => control.position(partition))
    }
}

impl<G: SchemaLookup, K: SchemaLookup> SchemaLookup for Either<G, K> {
    async fn schema_text(&self, id: u32) -> Result<String, ClientError> {
        each!(self, registry => registry.schema_text(id).await)
    }

    async fn lookup(&self, subject: &str, schema: &Schema) -> Result<Option<SubjectVersion>, ClientError> {
        each!(self, registry => registry.lookup(subject, schema).await)
    }

    async fn register(&self, subject: &str, schema: &Schema) -> Result<SubjectVersion, ClientError> {
        each!(self, registry => registry.register(subject, schema).await)
    }

    async fn version(&self, subject: &str, version: i32) -> Result<SubjectVersion, ClientError> {
        each!(self, registry => registry.version(subject, version).await)
    }

    async fn incompatibilities(&self, subject: &str, schema: &Schema) -> Result<Vec<String>, ClientError> {
        each!(self, registry => registry.incompatibilities(subject, schema).await)
    }
}

impl<G, K> From<G> for Either<G, K> {
    fn from(grpc: G) -> Self {
        Either::Grpc(grpc)
    }
}
