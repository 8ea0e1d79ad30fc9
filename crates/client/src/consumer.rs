//! The typed consumer: [`Consumer<T>`], its builder and [`Message<T>`], over
//! whichever transport the client has.
//!
//! Each record's value names its writer schema id. Records written with `T`'s
//! own schema decode directly; others go through a
//! [`Plan`](runnel_avro::resolve::Plan) from the writer schema (fetched by id
//! once) to `T`'s, made once per writer id and cached. A record whose writer
//! schema cannot be resolved into `T` is an `Err` item naming both schema ids;
//! the stream goes on with the next record.

use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use runnel_avro::Avro;

use crate::client::{Client, ClientTransport};
use crate::error::ClientError;
use crate::read_state::{ReadState, Reader};
use crate::record::Record;
use crate::registry::ValueDecoder;
use crate::transport::{
    Acknowledge, ConsumerControl, ConsumerOptions, Position, RawMessage, RecordSource, Transport,
};

/// The parts of a consumer on the client's transport.
type Source = <ClientTransport as Transport>::Source;
type Control = <ClientTransport as Transport>::Control;
type Acker = <Source as RecordSource>::Acker;
type Schemas = <ClientTransport as Transport>::Schemas;

/// Builds a [`Consumer<T>`]; from [`Client::consumer`].
pub struct ConsumerBuilder<T> {
    client: Client,
    topic: String,
    options: ConsumerOptions,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ConsumerBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerBuilder")
            .field("topic", &self.topic)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A consumer of `T` values on `topic`.
    ///
    /// ```no_run
    /// # use runnel_avro::Avro;
    /// # async fn f<User: Avro + Send + std::fmt::Debug>(client: runnel_client::Client) -> Result<(), runnel_client::ClientError> {
    /// let mut consumer = client.consumer::<User>("users").group("mailer").subscribe().await?;
    /// while let Some(msg) = consumer.next().await {
    ///     let msg = msg?;
    ///     println!("{:?}", msg.value());
    ///     msg.ack().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn consumer<T: Avro>(&self, topic: impl Into<String>) -> ConsumerBuilder<T> {
        ConsumerBuilder {
            client: self.clone(),
            topic: topic.into(),
            options: ConsumerOptions::default(),
            _type: PhantomData,
        }
    }
}

impl<T: Avro + Send> ConsumerBuilder<T> {
    /// Consumes as a member of `group`: the group's partitions are shared among
    /// its members, and committed offsets resume where the group left off.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.options.group = Some(group.into());
        self
    }

    /// Where to start: without a group, every partition; with one, the
    /// partitions the group has not committed (default: earliest).
    pub fn from(mut self, position: Position) -> Self {
        self.options.from = position;
        self
    }

    /// Commits processed offsets at this interval (default 5 s; groups only).
    pub fn auto_commit(mut self, every: Duration) -> Self {
        self.options.auto_commit = Some(every);
        self
    }

    /// Commits only on [`Consumer::commit`] / [`Consumer::commit_message`].
    pub fn manual_commit(mut self) -> Self {
        self.options.auto_commit = None;
        self
    }

    /// How long the group waits for a silent member before reassigning its partitions.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.options.session_timeout = d;
        self
    }

    /// Reads only these partitions (without a group).
    pub fn partitions(mut self, partitions: impl IntoIterator<Item = u32>) -> Self {
        self.options.partitions = partitions.into_iter().collect();
        self
    }

    /// The builder's client, topic and group, for the queue consumer's builder.
    pub(crate) fn into_parts(self) -> (Client, String, Option<String>) {
        (self.client, self.topic, self.options.group)
    }

    /// Starts consuming.
    pub async fn subscribe(self) -> Result<Consumer<T>, ClientError> {
        let transport = self.client.transport();
        let topic = transport.bind(&self.topic).await?;
        let schemas = self.client.schema_cache().clone();
        let values = ValueDecoder::new(schemas, transport.schemas(), &topic.subject).await;
        let (control, source) = transport.open_consumer(&topic, self.options).await?;
        let reader = TypedReader { source, values, popped: None, held: None };
        Ok(Consumer { control, state: ReadState::new(reader) })
    }
}

/// One record from a consumer, decoded; its accessors are [`Record<T>`]'s.
#[derive(Debug)]
pub struct Message<T> {
    record: Record<T>,
    acker: Acker,
}

impl<T> Deref for Message<T> {
    type Target = Record<T>;

    fn deref(&self) -> &Record<T> {
        &self.record
    }
}

impl<T> Message<T> {
    /// The value, owned.
    pub fn into_value(self) -> T {
        self.record.into_value()
    }

    /// Marks this record (and those before it in its partition) processed:
    /// the next commit, automatic or not, includes it.
    pub async fn ack(&self) -> Result<(), ClientError> {
        self.acker.mark(self.partition(), self.offset());
        Ok(())
    }
}

/// The records side of a consumer with the decoder of their values.
struct TypedReader<T> {
    source: Source,
    values: ValueDecoder<T, Schemas>,
    /// A message taken by `ready` whose writer schema must first be fetched.
    popped: Option<RawMessage>,
    /// A record's error that ended a batch (`Consumer::next_batch`): the next item.
    held: Option<ClientError>,
}

impl<T: Avro + Send> Reader for TypedReader<T> {
    type Item = Result<Message<T>, ClientError>;

    /// The next message when one is buffered and its writer schema's plan is
    /// cached: the common case, answered without a future.
    #[inline]
    fn ready(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.held.take() {
            return Some(Err(e));
        }
        if self.popped.is_some() {
            return None;
        }
        let msg = self.source.try_next()?;
        match self.values.decode_cached(msg.partition, msg.offset, &msg.value) {
            Some(decoded) => Some(decoded.map(|(value, schema_id)| self.message(msg, value, schema_id))),
            None => {
                self.popped = Some(msg);
                None
            }
        }
    }

    async fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.held.take() {
            return Some(Err(e));
        }
        let msg = match self.popped.take() {
            Some(msg) => msg,
            None => match self.source.next().await? {
                Ok(msg) => msg,
                Err(e) => return Some(Err(e)),
            },
        };
        let decoded = self.values.decode(msg.partition, msg.offset, &msg.value).await;
        Some(decoded.map(|(value, schema_id)| self.message(msg, value, schema_id)))
    }
}

impl<T: Avro + Send> TypedReader<T> {
    /// Decodes the next buffered record into `slot`, reusing its allocations:
    /// false when none is buffered, or when it needs the waiting path (its writer
    /// schema is not fetched yet, or it does not decode: `next` then says why).
    #[inline]
    fn ready_into(&mut self, slot: &mut Message<T>) -> bool {
        if self.popped.is_some() || self.held.is_some() {
            return false;
        }
        let Some(msg) = self.source.try_next() else { return false };
        match self.values.decode_cached_into(&msg.value, slot.record.value_mut()) {
            Some(schema_id) => {
                slot.record.refill(msg, schema_id);
                // The slot may come from another consumer's batch.
                slot.acker = self.source.acker();
                true
            }
            None => {
                self.popped = Some(msg);
                false
            }
        }
    }
}

impl<T> TypedReader<T> {
    #[inline]
    fn message(&self, msg: RawMessage, value: T, schema_id: u32) -> Message<T> {
        Message { record: Record::decoded(msg, value, schema_id), acker: self.source.acker() }
    }
}

/// Receives `T` values from a topic: a [`Stream`](futures::Stream) of
/// messages, also readable with the inherent [`next`](Consumer::next).
pub struct Consumer<T> {
    control: Control,
    state: ReadState<TypedReader<T>, Result<Message<T>, ClientError>>,
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("topic", &self.control.topic()).finish_non_exhaustive()
    }
}

impl<T: Avro + Send> Consumer<T> {
    /// The next message, waiting for one. A record that cannot be decoded
    /// into `T` is an `Err` item; the following records still come.
    pub async fn next(&mut self) -> Option<Result<Message<T>, ClientError>> {
        std::future::poll_fn(|cx| self.state.poll_next(cx)).await
    }

    /// Replaces the messages in `batch` with the next ones: at least one (waiting
    /// for it), then those already fetched, up to `max`. Returns how many; 0 when
    /// the consumer has ended. A record that cannot be decoded into `T` ends the
    /// batch before it and is the `Err` of the next call; the records after it
    /// still come.
    ///
    /// The fast way to read many values: the old messages' values are decoded
    /// into, reusing their strings and vectors, and no future is polled per record.
    ///
    /// ```no_run
    /// # use runnel_avro::Avro;
    /// # async fn f<User: Avro + Send + std::fmt::Debug>(mut consumer: runnel_client::Consumer<User>) -> Result<(), runnel_client::ClientError> {
    /// let mut batch = Vec::new();
    /// while consumer.next_batch(&mut batch, 1000).await? > 0 {
    ///     for msg in &batch {
    ///         println!("{}:{} {:?}", msg.partition(), msg.offset(), msg.value());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn next_batch(
        &mut self,
        batch: &mut Vec<Message<T>>,
        max: usize,
    ) -> Result<usize, ClientError> {
        let max = max.max(1);
        batch.truncate(max);
        let first = match self.next().await {
            Some(first) => first?,
            None => {
                batch.clear();
                return Ok(0);
            }
        };
        let mut n = 1;
        match batch.first_mut() {
            Some(slot) => *slot = first,
            None => batch.push(first),
        }
        if let Some(reader) = self.state.idle() {
            while n < max {
                if n == batch.len() {
                    // A new slot: decoded whole, as `next` would.
                    match reader.ready() {
                        Some(Ok(msg)) => batch.push(msg),
                        Some(Err(e)) => {
                            reader.held = Some(e);
                            break;
                        }
                        None => break,
                    }
                } else if !reader.ready_into(&mut batch[n]) {
                    break;
                }
                n += 1;
            }
        }
        batch.truncate(n);
        Ok(n)
    }

    /// The partitions this consumer currently reads.
    pub fn assignment(&self) -> Vec<u32> {
        self.control.assignment()
    }

    /// Commits every message delivered so far (groups only).
    pub async fn commit(&self) -> Result<(), ClientError> {
        self.control.commit().await
    }

    /// Commits `msg` and everything before it in its partition (groups only).
    pub async fn commit_message(&self, msg: &Message<T>) -> Result<(), ClientError> {
        self.control.commit_offset(msg.partition(), msg.offset() + 1).await
    }

    /// Continues `partition` at `offset`; messages already buffered from it are dropped.
    pub fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        self.control.seek(partition, offset)
    }

    /// Commits what was delivered (groups), and leaves the group at once
    /// (dropping the consumer leaves it too, without the commit).
    pub async fn close(self) -> Result<(), ClientError> {
        self.control.close().await
    }
}

impl<T: Avro + Send> futures::Stream for Consumer<T> {
    type Item = Result<Message<T>, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().state.poll_next(cx)
    }
}

impl<T> Unpin for Consumer<T> {}
