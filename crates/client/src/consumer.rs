//! The typed consumer: [`Consumer<T>`], its builder and [`Message<T>`].
//!
//! Each record's value names its writer schema id. Records written with `T`'s
//! own schema decode directly; others go through a
//! [`Plan`](runnel_avro::resolve::Plan) from the writer schema (fetched by id
//! once) to `T`'s, made once per writer id and cached. A record whose writer
//! schema cannot be resolved into `T` is an `Err` item naming both schema ids;
//! the stream goes on with the next record.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use runnel_avro::resolve::Plan;
use runnel_avro::{Avro, Reader};

use crate::admin::{value_subject, Position};
use crate::client::Client;
use crate::error::ClientError;
use crate::framing;
use crate::producer::type_name;
use crate::raw_consumer::{self, Acker, ConsumerHandle, ConsumerOptions, RawMessage, RawReader};

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
        #[cfg(feature = "kafka")]
        if let Some(kafka) = self.client.kafka_backend() {
            // Over Kafka: TopicNameStrategy, writer schemas from the registry's REST API.
            let values = ValueDecoder::for_subject(&self.client, &format!("{}-value", self.topic)).await;
            let (handle, raw) = crate::kafka::consumer::open(kafka, &self.topic, self.options).await?;
            let reader = TypedReader { raw: Source::Kafka(raw), values, popped: None };
            let state = ReadState::Idle(Box::new(reader));
            return Ok(Consumer { handle: Handle::Kafka(handle), state, _type: PhantomData });
        }
        let info = self.client.describe_topic(&self.topic).await?;
        let values = ValueDecoder::new(&self.client, &info).await;
        let (handle, raw) = raw_consumer::open(&self.client, &info, self.options).await?;
        let reader = TypedReader { raw: Source::Grpc(raw), values, popped: None };
        Ok(Consumer {
            handle: Handle::Grpc(handle),
            state: ReadState::Idle(Box::new(reader)),
            _type: PhantomData,
        })
    }
}

/// One record, decoded.
#[derive(Debug)]
pub struct Message<T> {
    value: T,
    key: Option<Bytes>,
    partition: u32,
    offset: i64,
    timestamp_ms: i64,
    headers: Vec<(String, Bytes)>,
    schema_id: u32,
    acker: MessageAcker,
}

/// How a message marks itself processed, per backend.
#[derive(Debug)]
enum MessageAcker {
    Grpc(Acker),
    /// librdkafka stores a record's offset as it is delivered, which is
    /// exactly what `ack` marks on the gRPC path; nothing more to do.
    #[cfg(feature = "kafka")]
    Kafka,
}

impl<T> Message<T> {
    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, owned.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The key, if the record has one.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset in the partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The timestamp (ms since the epoch).
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[(String, Bytes)] {
        &self.headers
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// The global id of the schema the record was written with.
    pub fn schema_id(&self) -> u32 {
        self.schema_id
    }

    /// Marks this record (and those before it in its partition) processed:
    /// the next commit, automatic or not, includes it.
    pub async fn ack(&self) -> Result<(), ClientError> {
        match &self.acker {
            MessageAcker::Grpc(acker) => acker.mark(self.partition, self.offset),
            #[cfg(feature = "kafka")]
            MessageAcker::Kafka => {}
        }
        Ok(())
    }
}

/// How records of one writer schema become `T`.
enum Decoding {
    /// The writer's schema is `T`'s: decode the body as is.
    Direct,
    /// Transcode through the plan first.
    Resolve(Plan),
    /// The pair cannot be resolved; every record of this writer fails so.
    Unresolvable(String),
}

/// Turns record values (Confluent framing + Avro body) into `T`: the writer
/// schema fetched by id once, the writer → reader plan made once per writer id.
/// Shared by [`Consumer<T>`] and the queue consumer.
pub(crate) struct ValueDecoder<T> {
    client: Client,
    decoders: HashMap<u32, Arc<Decoding>>,
    reader_id: Option<u32>,
    /// Reused buffer for transcoded bodies.
    scratch: Vec<u8>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Avro> ValueDecoder<T> {
    /// A decoder for records of `info`'s topic.
    pub(crate) async fn new(client: &Client, info: &runnel_proto::v1::TopicInfo) -> Self {
        Self::for_subject(client, &value_subject(info)).await
    }

    /// A decoder for records of a topic bound to `subject`.
    pub(crate) async fn for_subject(client: &Client, subject: &str) -> Self {
        // The reader's id, when registered, makes resolution errors name both ids.
        let reader_id = match client_registry(client) {
            #[cfg(feature = "kafka")]
            SchemaSource::Kafka(k) => k.registry.lookup(subject, T::schema()).await,
            SchemaSource::Grpc(c) => c.lookup_schema(subject, T::schema()).await,
        };
        let reader_id = reader_id.ok().flatten().map(|r| r.id);
        ValueDecoder {
            client: client.clone(),
            decoders: HashMap::new(),
            reader_id,
            scratch: Vec::new(),
            _type: PhantomData,
        }
    }

    /// Decodes one record's value; returns it with its writer schema id.
    pub(crate) async fn decode(
        &mut self,
        partition: u32,
        offset: i64,
        value: &[u8],
    ) -> Result<(T, u32), ClientError> {
        if let Some(decoded) = self.decode_cached(partition, offset, value) {
            return decoded;
        }
        let (schema_id, _) = framing::split(value).ok_or(ClientError::NotFramed { partition, offset })?;
        // Transient failures (the registry unreachable) are not cached.
        let writer = match client_registry(&self.client) {
            #[cfg(feature = "kafka")]
            SchemaSource::Kafka(k) => k.registry.schema_by_id(schema_id).await?,
            SchemaSource::Grpc(c) => c.schema_by_id(schema_id).await?,
        };
        let reader = T::schema();
        let decoding = if writer.canonical_str() == reader.canonical_str() {
            Decoding::Direct
        } else {
            match Plan::new(&writer, reader) {
                Ok(plan) if plan.is_identity() => Decoding::Direct,
                Ok(plan) => Decoding::Resolve(plan),
                Err(e) => Decoding::Unresolvable(e.to_string()),
            }
        };
        self.decoders.insert(schema_id, Arc::new(decoding));
        self.decode_cached(partition, offset, value)
            .unwrap_or(Err(ClientError::NotFramed { partition, offset }))
    }

    /// Decodes one record's value when its writer schema's plan is cached;
    /// `None` when it is not (then `decode` fetches it).
    pub(crate) fn decode_cached(
        &mut self,
        partition: u32,
        offset: i64,
        value: &[u8],
    ) -> Option<Result<(T, u32), ClientError>> {
        let Some((schema_id, body)) = framing::split(value) else {
            return Some(Err(ClientError::NotFramed { partition, offset }));
        };
        // Fields apart: the plan is borrowed while the scratch buffer is written.
        let ValueDecoder { decoders, scratch, reader_id, .. } = self;
        let decoding = decoders.get(&schema_id)?;
        let decode_err =
            |source| ClientError::Decode { writer_id: schema_id, reader: type_name(T::schema()), source };
        let value = match &**decoding {
            Decoding::Direct => decode_all::<T>(body).map_err(decode_err),
            Decoding::Resolve(plan) => {
                scratch.clear();
                plan.transcode(body, scratch)
                    .map_err(decode_err)
                    .and_then(|()| decode_all::<T>(scratch).map_err(decode_err))
            }
            Decoding::Unresolvable(reason) => Err(ClientError::Unresolvable {
                writer_id: schema_id,
                reader_id: *reader_id,
                reader: type_name(T::schema()),
                reason: reason.clone(),
            }),
        };
        Some(value.map(|v| (v, schema_id)))
    }
}

/// Where the writer schemas of a client's records come from.
enum SchemaSource<'a> {
    /// The broker's gRPC `Registry` service (through the client's cache).
    Grpc(&'a Client),
    /// The registry's REST API (through the Kafka backend's cache).
    #[cfg(feature = "kafka")]
    Kafka(&'a crate::kafka::KafkaBackend),
}

fn client_registry(client: &Client) -> SchemaSource<'_> {
    #[cfg(feature = "kafka")]
    if let Some(k) = client.kafka_backend() {
        return SchemaSource::Kafka(k);
    }
    SchemaSource::Grpc(client)
}

/// Where a consumer's records come from.
enum Source {
    Grpc(RawReader),
    #[cfg(feature = "kafka")]
    Kafka(crate::kafka::consumer::KafkaReader),
}

/// The control side of a consumer, per backend.
enum Handle {
    Grpc(ConsumerHandle),
    #[cfg(feature = "kafka")]
    Kafka(crate::kafka::consumer::KafkaHandle),
}

struct TypedReader<T> {
    raw: Source,
    values: ValueDecoder<T>,
    /// A message taken by `try_next` whose writer schema must first be fetched.
    popped: Option<RawMessage>,
}

impl<T: Avro> TypedReader<T> {
    /// The next message when one is buffered and its writer schema's plan is
    /// cached: the common case, answered without a future (see `poll_next_message`).
    fn try_next(&mut self) -> Option<Result<Message<T>, ClientError>> {
        // One arm only without the `kafka` feature.
        #[allow(clippy::infallible_destructuring_match)]
        let raw = match &mut self.raw {
            Source::Grpc(raw) => raw,
            #[cfg(feature = "kafka")]
            Source::Kafka(_) => return None,
        };
        if self.popped.is_some() {
            return None;
        }
        let msg = raw.try_next()?;
        match self.values.decode_cached(msg.partition, msg.offset, &msg.value) {
            Some(decoded) => Some(decoded.map(|(value, schema_id)| self.message(msg, value, schema_id))),
            None => {
                self.popped = Some(msg);
                None
            }
        }
    }

    async fn next(&mut self) -> Option<Result<Message<T>, ClientError>> {
        if let Some(msg) = self.popped.take() {
            return Some(self.decode(msg).await);
        }
        let next = match &mut self.raw {
            Source::Grpc(raw) => raw.next().await,
            #[cfg(feature = "kafka")]
            Source::Kafka(raw) => raw.next().await,
        };
        let msg = match next? {
            Ok(msg) => msg,
            Err(e) => return Some(Err(e)),
        };
        Some(self.decode(msg).await)
    }

    async fn decode(&mut self, msg: RawMessage) -> Result<Message<T>, ClientError> {
        let (value, schema_id) = self.values.decode(msg.partition, msg.offset, &msg.value).await?;
        Ok(self.message(msg, value, schema_id))
    }

    fn message(&self, msg: RawMessage, value: T, schema_id: u32) -> Message<T> {
        Message {
            value,
            key: msg.key,
            partition: msg.partition,
            offset: msg.offset,
            timestamp_ms: msg.timestamp_ms,
            headers: msg.headers,
            schema_id,
            acker: match &self.raw {
                Source::Grpc(raw) => MessageAcker::Grpc(raw.acker()),
                #[cfg(feature = "kafka")]
                Source::Kafka(_) => MessageAcker::Kafka,
            },
        }
    }
}

fn decode_all<T: Avro>(bytes: &[u8]) -> Result<T, runnel_avro::DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

type NextFuture<T> =
    Pin<Box<dyn Future<Output = (Box<TypedReader<T>>, Option<Result<Message<T>, ClientError>>)> + Send>>;

enum ReadState<T> {
    Idle(Box<TypedReader<T>>),
    Busy(NextFuture<T>),
    /// Only while switching between the two.
    Empty,
}

/// Receives `T` values from a topic: a [`Stream`](futures::Stream) of
/// messages, also readable with the inherent [`next`](Consumer::next).
pub struct Consumer<T> {
    handle: Handle,
    state: ReadState<T>,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let topic = match &self.handle {
            Handle::Grpc(h) => h.topic(),
            #[cfg(feature = "kafka")]
            Handle::Kafka(h) => h.topic(),
        };
        f.debug_struct("Consumer").field("topic", &topic).finish_non_exhaustive()
    }
}

impl<T: Avro + Send> Consumer<T> {
    /// The next message, waiting for one. A record that cannot be decoded
    /// into `T` is an `Err` item; the following records still come.
    pub async fn next(&mut self) -> Option<Result<Message<T>, ClientError>> {
        std::future::poll_fn(|cx| self.poll_next_message(cx)).await
    }

    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message<T>, ClientError>>> {
        loop {
            match std::mem::replace(&mut self.state, ReadState::Empty) {
                ReadState::Idle(mut reader) => {
                    // Most messages are already buffered: hand them out without
                    // boxing a future per message (a third of the consumer's CPU).
                    if let Some(item) = reader.try_next() {
                        self.state = ReadState::Idle(reader);
                        return Poll::Ready(Some(item));
                    }
                    self.state = ReadState::Busy(Box::pin(async move {
                        let item = reader.next().await;
                        (reader, item)
                    }));
                }
                ReadState::Busy(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Ready((reader, item)) => {
                        self.state = ReadState::Idle(reader);
                        return Poll::Ready(item);
                    }
                    Poll::Pending => {
                        self.state = ReadState::Busy(fut);
                        return Poll::Pending;
                    }
                },
                ReadState::Empty => return Poll::Ready(None),
            }
        }
    }

    /// The partitions this consumer currently reads.
    pub fn assignment(&self) -> Vec<u32> {
        match &self.handle {
            Handle::Grpc(h) => h.assignment(),
            #[cfg(feature = "kafka")]
            Handle::Kafka(h) => h.assignment(),
        }
    }

    /// Commits every message delivered so far (groups only).
    pub async fn commit(&self) -> Result<(), ClientError> {
        match &self.handle {
            Handle::Grpc(h) => h.commit().await,
            #[cfg(feature = "kafka")]
            Handle::Kafka(h) => h.commit().await,
        }
    }

    /// Commits `msg` and everything before it in its partition (groups only).
    pub async fn commit_message(&self, msg: &Message<T>) -> Result<(), ClientError> {
        match &self.handle {
            Handle::Grpc(h) => h.commit_offset(msg.partition, msg.offset + 1).await,
            #[cfg(feature = "kafka")]
            Handle::Kafka(h) => h.commit_offset(msg.partition, msg.offset + 1).await,
        }
    }

    /// Continues `partition` at `offset`; messages already buffered from it are dropped.
    pub fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        match &self.handle {
            Handle::Grpc(h) => h.seek(partition, offset),
            #[cfg(feature = "kafka")]
            Handle::Kafka(h) => h.seek(partition, offset),
        }
    }

    /// Commits what was delivered (groups), and leaves the group at once
    /// (dropping the consumer leaves it too, without the commit).
    pub async fn close(self) -> Result<(), ClientError> {
        match &self.handle {
            Handle::Grpc(h) => h.close().await,
            #[cfg(feature = "kafka")]
            Handle::Kafka(h) => h.close().await,
        }
    }
}

impl<T: Avro + Send> futures::Stream for Consumer<T> {
    type Item = Result<Message<T>, ClientError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

impl<T> Unpin for Consumer<T> {}
