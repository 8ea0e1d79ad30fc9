//! Queue consumers: [`QueueConsumer<T>`] on a broker-side subscription
//! (exclusive, failover, shared or key_shared, as Pulsar has them), with
//! per-record [`ack`](QueueMessage::ack), [`nack`](QueueMessage::nack),
//! cumulative acks, ack timeouts, redelivery counts and dead-letter topics;
//! [`RawQueueConsumer`] for values as bytes. Subscriptions are the gRPC
//! transport's (`grpc/queue.rs` runs the stream).
//!
//! Values decode into `T` exactly as [`Consumer<T>`](crate::Consumer) does
//! (writer schema by id, resolution plan cached per writer id). A record that
//! cannot be decoded is an `Err` item and is negatively acknowledged, so a
//! dead-letter policy catches it.

use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use runnel_avro::Avro;

use crate::client::Client;
use crate::consumer::ConsumerBuilder;
use crate::error::ClientError;
use crate::grpc::connection::Connection;
use crate::grpc::queue::{
    self, Acker, DeadLetterPolicy, QueueHandle, RawQueueMessage, RawQueueReader, SubscriptionOptions,
    SubscriptionType,
};
use crate::grpc::topics::value_subject;
use crate::read_state::{ReadState, Reader};
use crate::record::Record;
use crate::registry::ValueDecoder;
use crate::transport::Position;

/// Builds a [`QueueConsumer<T>`]; from [`Client::subscription`] or
/// [`ConsumerBuilder::subscription`] / [`ConsumerBuilder::subscription_type`].
pub struct SubscriptionBuilder<T> {
    client: Client,
    topic: String,
    options: SubscriptionOptions,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for SubscriptionBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionBuilder")
            .field("topic", &self.topic)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A consumer of `T` values on the subscription `name` of `topic`.
    ///
    /// ```no_run
    /// # use runnel_avro::Avro;
    /// # use runnel_client::SubscriptionType;
    /// # async fn f<Job: Avro + Send>(client: runnel_client::Client) -> Result<(), runnel_client::ClientError> {
    /// let mut workers = client
    ///     .subscription::<Job>("jobs", "workers")
    ///     .subscription_type(SubscriptionType::Shared)
    ///     .subscribe()
    ///     .await?;
    /// while let Some(msg) = workers.next().await {
    ///     let msg = msg?;
    ///     // ... process msg.value() ...
    ///     msg.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscription<T: Avro>(
        &self,
        topic: impl Into<String>,
        name: impl Into<String>,
    ) -> SubscriptionBuilder<T> {
        SubscriptionBuilder::new(self.clone(), topic.into(), Some(name.into()))
    }
}

impl<T: Avro + Send> ConsumerBuilder<T> {
    /// Consumes through the broker-side subscription `name` (queue semantics)
    /// instead of a consumer group; the type defaults to exclusive.
    pub fn subscription(self, name: impl Into<String>) -> SubscriptionBuilder<T> {
        let (client, topic, _) = self.into_parts();
        SubscriptionBuilder::new(client, topic, Some(name.into()))
    }

    /// Consumes through a broker-side subscription of this type; its name is
    /// the group's, or set with [`SubscriptionBuilder::subscription`].
    pub fn subscription_type(self, kind: SubscriptionType) -> SubscriptionBuilder<T> {
        let (client, topic, group) = self.into_parts();
        SubscriptionBuilder::new(client, topic, group).subscription_type(kind)
    }
}

impl<T> SubscriptionBuilder<T> {
    fn new(client: Client, topic: String, subscription: Option<String>) -> Self {
        let options = SubscriptionOptions::new(subscription.unwrap_or_default());
        SubscriptionBuilder { client, topic, options, _type: PhantomData }
    }
}

impl<T: Avro + Send> SubscriptionBuilder<T> {
    /// The subscription's name.
    pub fn subscription(mut self, name: impl Into<String>) -> Self {
        self.options.subscription = name.into();
        self
    }

    /// The subscription type (default exclusive).
    pub fn subscription_type(mut self, kind: SubscriptionType) -> Self {
        self.options.kind = kind;
        self
    }

    /// This consumer's name: orders failover consumers and places keys in
    /// key_shared; stable names keep keys in place across reconnects.
    pub fn consumer_name(mut self, name: impl Into<String>) -> Self {
        self.options.consumer_name = Some(name.into());
        self
    }

    /// Records held unacknowledged this long are delivered again (default: never).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.options.ack_timeout = Some(timeout);
        self
    }

    /// How long a negatively acknowledged record waits before it comes back (default 60 s).
    pub fn nack_delay(mut self, delay: Duration) -> Self {
        self.options.nack_delay = Some(delay);
        self
    }

    /// Moves records delivered `max_deliveries` times to a dead-letter topic.
    pub fn dead_letter(mut self, policy: DeadLetterPolicy) -> Self {
        self.options.dead_letter = Some(policy);
        self
    }

    /// Records the broker may push ahead of the application (default 1000).
    pub fn receiver_queue(mut self, records: u32) -> Self {
        self.options.receiver_queue = records.max(1);
        self
    }

    /// Where a new subscription starts: `Earliest` (default) or `Latest`.
    /// An existing subscription continues from its acknowledgement state.
    pub fn from(mut self, position: Position) -> Self {
        self.options.from = position;
        self
    }

    /// Attaches to the subscription. Refused (with the broker's reason) when
    /// the subscription is exclusive and taken, or has consumers of another type.
    pub async fn subscribe(self) -> Result<QueueConsumer<T>, ClientError> {
        let connection = self.client.connection();
        let info = connection.describe_topic(&self.topic).await?;
        let schemas = self.client.schema_cache().clone();
        let values = ValueDecoder::new(schemas, connection.clone(), &value_subject(&info)).await;
        let (handle, raw) = queue::open(connection, &self.topic, self.options).await?;
        Ok(QueueConsumer { handle, state: ReadState::new(QueueReader { raw, values }) })
    }
}

/// An untyped queue consumer (the CLI's): records with their value as bytes.
pub struct RawQueueConsumer {
    handle: QueueHandle,
    reader: RawQueueReader,
}

impl std::fmt::Debug for RawQueueConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawQueueConsumer").field("handle", &self.handle).finish_non_exhaustive()
    }
}

impl RawQueueConsumer {
    /// Attaches to a subscription of `topic`.
    pub async fn subscribe(
        client: &Client,
        topic: &str,
        options: SubscriptionOptions,
    ) -> Result<RawQueueConsumer, ClientError> {
        client.connection().describe_topic(topic).await?;
        let (handle, reader) = queue::open(client.connection(), topic, options).await?;
        Ok(RawQueueConsumer { handle, reader })
    }

    /// The next record, waiting for one (see [`QueueConsumer::next`]).
    pub async fn next(&mut self) -> Option<Result<RawQueueMessage, ClientError>> {
        self.reader.next().await
    }

    /// Acknowledges `msg` and every earlier record of its partition (exclusive and failover only).
    pub async fn ack_cumulative(&self, msg: &RawQueueMessage) -> Result<(), ClientError> {
        self.handle.ack_cumulative(msg.partition, msg.offset)
    }

    /// Failover and exclusive: the partitions this consumer is active for.
    pub fn active_partitions(&self) -> Vec<u32> {
        self.handle.active_partitions()
    }

    /// Sends the acknowledgements still queued, then leaves the subscription.
    pub async fn close(self) -> Result<(), ClientError> {
        self.handle.close().await
    }
}

/// One record from a subscription, decoded; acknowledge it when processed.
/// Its accessors are [`Record<T>`]'s.
#[derive(Debug)]
pub struct QueueMessage<T> {
    record: Record<T>,
    redelivery_count: u32,
    acker: Acker,
}

impl<T> Deref for QueueMessage<T> {
    type Target = Record<T>;

    fn deref(&self) -> &Record<T> {
        &self.record
    }
}

impl<T> QueueMessage<T> {
    /// The value, owned (ack first: the message is gone after this).
    pub fn into_value(self) -> T {
        self.record.into_value()
    }

    /// How many times this record was delivered before (0 the first time).
    pub fn redelivery_count(&self) -> u32 {
        self.redelivery_count
    }

    /// Acknowledges this record: it is not delivered again. Acking a record
    /// the broker no longer considers outstanding is a no-op.
    pub async fn ack(&self) -> Result<(), ClientError> {
        self.acker.ack(self.partition(), self.offset())
    }

    /// Negatively acknowledges this record: it is delivered again (to any
    /// consumer of the subscription) after the nack delay.
    pub async fn nack(&self) -> Result<(), ClientError> {
        self.acker.nack(self.partition(), self.offset())
    }
}

/// Receives `T` values from a subscription: a [`Stream`](futures::Stream) of
/// messages, also readable with the inherent [`next`](QueueConsumer::next).
/// Dropping it leaves the subscription (after sending the acks already made);
/// its unacknowledged records go to the other consumers.
pub struct QueueConsumer<T> {
    handle: QueueHandle,
    state: ReadState<QueueReader<T>, Result<QueueMessage<T>, ClientError>>,
}

impl<T> std::fmt::Debug for QueueConsumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl<T: Avro + Send> QueueConsumer<T> {
    /// The next message, waiting for one. A record that cannot be decoded
    /// into `T` is an `Err` item (and is negatively acknowledged); a problem
    /// the broker reports (e.g. a dead-letter topic it cannot write) is an
    /// `Err` item too; the following records still come. `None` once the
    /// subscription ended for good (refused after a reconnect).
    pub async fn next(&mut self) -> Option<Result<QueueMessage<T>, ClientError>> {
        std::future::poll_fn(|cx| self.state.poll_next(cx)).await
    }

    /// Acknowledges `msg` and every earlier record of its partition.
    /// Only exclusive and failover subscriptions, where one consumer has the
    /// whole partition, allow it.
    pub async fn ack_cumulative(&self, msg: &QueueMessage<T>) -> Result<(), ClientError> {
        self.handle.ack_cumulative(msg.partition(), msg.offset())
    }

    /// Failover and exclusive: the partitions this consumer is active for
    /// (empty while standby).
    pub fn active_partitions(&self) -> Vec<u32> {
        self.handle.active_partitions()
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.handle.topic()
    }

    /// Sends the acknowledgements still queued, then leaves the subscription,
    /// returning once the broker has handled them and released the consumer.
    pub async fn close(self) -> Result<(), ClientError> {
        self.handle.close().await
    }
}

impl<T: Avro + Send> futures::Stream for QueueConsumer<T> {
    type Item = Result<QueueMessage<T>, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().state.poll_next(cx)
    }
}

impl<T> Unpin for QueueConsumer<T> {}

/// The records side of a queue consumer with the decoder of their values.
struct QueueReader<T> {
    raw: RawQueueReader,
    values: ValueDecoder<T, Connection>,
}

impl<T: Avro + Send> Reader for QueueReader<T> {
    type Item = Result<QueueMessage<T>, ClientError>;

    /// Never ready without waiting: every delivery comes through the stream task.
    fn ready(&mut self) -> Option<Self::Item> {
        None
    }

    async fn next(&mut self) -> Option<Self::Item> {
        let m = match self.raw.next().await? {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        Some(match self.values.decode(m.partition, m.offset, &m.value).await {
            Ok((value, schema_id)) => {
                let (record, redelivery_count, acker) = m.into_parts();
                Ok(QueueMessage {
                    record: Record::decoded(record, value, schema_id),
                    redelivery_count,
                    acker,
                })
            }
            Err(e) => {
                // Nobody can ack what cannot be read: send it back, so that the
                // dead-letter policy (if any) ends its rounds.
                let _ = m.nack().await;
                Err(e)
            }
        })
    }
}
