//! The typed producer: [`Producer<T>`] and its builder, over whichever
//! transport the client has. It binds `T`'s schema to the topic's subject
//! once, at `create()`, then frames each value as `0x00 + schema id +
//! T::encode` and hands it to the transport's sink.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use runnel_avro::Avro;
use runnel_proto::BatchBuilder;

use crate::client::{Client, ClientTransport};
use crate::error::ClientError;
use crate::framing;
use crate::partitioner::Partitioner;
use crate::registry::type_name;
use crate::transport::{
    now_ms, BatchSendFuture, ProducerOptions, RawBatch, RawRecord, RecordSink, SendFuture, Transport,
};

/// The producer of the client's transport.
type Sink = <ClientTransport as Transport>::Sink;

type KeyFn<T> = Arc<dyn Fn(&T) -> Option<Bytes> + Send + Sync>;

/// Builds a [`Producer<T>`]; from [`Client::producer`].
///
/// Batches are sent uncompressed: the broker's log stores batches as sent
/// and accepts uncompressed ones only.
pub struct ProducerBuilder<T> {
    client: Client,
    topic: String,
    options: ProducerOptions,
    key: Option<KeyFn<T>>,
    _type: PhantomData<fn(&T)>,
}

impl<T> std::fmt::Debug for ProducerBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("topic", &self.topic)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A producer of `T` values on `topic`.
    ///
    /// ```no_run
    /// # use runnel_avro::Avro;
    /// # async fn f<User: Avro>(client: runnel_client::Client, user: User) -> Result<(), runnel_client::ClientError> {
    /// let producer = client.producer::<User>("users").linger(std::time::Duration::from_millis(2)).create().await?;
    /// let meta = producer.send(&user).await?;
    /// println!("stored at {}:{}", meta.partition, meta.offset);
    /// # Ok(()) }
    /// ```
    pub fn producer<T: Avro>(&self, topic: impl Into<String>) -> ProducerBuilder<T> {
        ProducerBuilder {
            client: self.clone(),
            topic: topic.into(),
            options: ProducerOptions::default(),
            key: None,
            _type: PhantomData,
        }
    }
}

impl<T: Avro> ProducerBuilder<T> {
    /// Most records per batch (default 10 000).
    pub fn batch_records(mut self, n: usize) -> Self {
        self.options.batch_records = n.max(1);
        self
    }

    /// Most bytes per batch (default 1 MiB).
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.options.batch_bytes = n.max(1);
        self
    }

    /// How long a batch waits for more records (default 5 ms).
    pub fn linger(mut self, d: Duration) -> Self {
        self.options.linger = d;
        self
    }

    /// Most batches in flight over all partitions (default 64; one per partition).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.options.max_in_flight = n.max(1);
        self
    }

    /// Most records buffered or in flight before `send` waits (default 100 000).
    pub fn buffer_records(mut self, n: usize) -> Self {
        self.options.buffer_records = n.max(1);
        self
    }

    /// How long a record may take, retries included (default 60 s).
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.options.delivery_timeout = d;
        self
    }

    /// How records are spread over partitions.
    pub fn partitioner(mut self, p: Partitioner) -> Self {
        self.options.partitioner = p;
        self
    }

    /// Derives each record's key from its value (keys choose partitions:
    /// records with one key stay in order).
    pub fn key<K, F>(mut self, f: F) -> Self
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
        K: AsRef<[u8]>,
    {
        self.key = Some(Arc::new(move |v: &T| Some(Bytes::copy_from_slice(f(v).as_ref()))));
        self
    }

    /// Starts the producer: checks the topic, finds `T`'s schema among the
    /// versions of the topic's subject (registering it when the topic allows
    /// auto-register) and takes an idempotent producer id.
    ///
    /// Fails with [`ClientError::UnknownTopic`], [`ClientError::SchemaNotRegistered`]
    /// or [`ClientError::Incompatible`].
    pub async fn create(self) -> Result<Producer<T>, ClientError> {
        let schema = T::schema();
        let transport = self.client.transport();
        let topic = transport.bind(&self.topic).await?;
        let (schemas, registry) = (self.client.schema_cache(), transport.schemas());
        let registered = match schemas.lookup(&registry, &topic.subject, schema).await? {
            Some(r) => r,
            None if topic.auto_register => schemas.register(&registry, &topic.subject, schema).await?,
            None => {
                let subject = topic.subject;
                return Err(ClientError::SchemaNotRegistered { subject, type_name: type_name(schema) });
            }
        };
        let sink = transport.open_sink(&topic, self.options).await?;
        Ok(Producer {
            sink,
            schema_id: registered.id,
            subject: topic.subject,
            key: self.key,
            arena: Arc::default(),
            _type: PhantomData,
        })
    }
}

/// Per-record settings for [`Producer::send_with`].
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// The key (overrides the producer's key function).
    pub key: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Bytes)>,
    /// The timestamp in ms (default: now).
    pub timestamp_ms: Option<i64>,
    /// The partition (default: the partitioner's choice).
    pub partition: Option<u32>,
}

impl SendOptions {
    /// Sets the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the timestamp.
    pub fn timestamp_ms(mut self, ms: i64) -> Self {
        self.timestamp_ms = Some(ms);
        self
    }

    /// Sends to this partition.
    pub fn partition(mut self, p: u32) -> Self {
        self.partition = Some(p);
        self
    }
}

/// Sends `T` values to a topic. Cheap to clone; clones share the batching task.
pub struct Producer<T> {
    sink: Sink,
    schema_id: u32,
    subject: String,
    key: Option<KeyFn<T>>,
    arena: Arc<Mutex<EncodeArena>>,
    _type: PhantomData<fn(&T)>,
}

/// Where a producer's values are framed and encoded.
///
/// Written by hand because it saves two allocations per record (the value's
/// `Vec` and the `Bytes` header wrapping it) out of the four the send path had:
/// values are encoded into a reused scratch buffer, then copied back to back
/// into a shared chunk, and each record's value is a `Bytes` view of its chunk.
/// A chunk is freed once the last of its records is acknowledged.
#[derive(Default)]
struct EncodeArena {
    scratch: Vec<u8>,
    chunk: BytesMut,
}

/// Bytes of one arena chunk: a few hundred 100-byte records.
const ARENA_CHUNK_BYTES: usize = 64 * 1024;

impl EncodeArena {
    fn encode<T: Avro>(&mut self, schema_id: u32, value: &T) -> Bytes {
        self.scratch.clear();
        framing::write_header(&mut self.scratch, schema_id);
        value.encode(&mut self.scratch);
        let len = self.scratch.len();
        if len > ARENA_CHUNK_BYTES / 4 {
            // Large values get their own allocation, not a chunk they would pin.
            return Bytes::copy_from_slice(&self.scratch);
        }
        if self.chunk.capacity() - self.chunk.len() < len {
            self.chunk = BytesMut::with_capacity(ARENA_CHUNK_BYTES);
        }
        self.chunk.extend_from_slice(&self.scratch);
        self.chunk.split().freeze()
    }
}

impl<T> Clone for Producer<T> {
    fn clone(&self) -> Self {
        Producer {
            sink: self.sink.clone(),
            schema_id: self.schema_id,
            subject: self.subject.clone(),
            key: self.key.clone(),
            arena: Arc::clone(&self.arena),
            _type: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("topic", &self.sink.topic())
            .field("subject", &self.subject)
            .field("schema_id", &self.schema_id)
            .finish_non_exhaustive()
    }
}

impl<T: Avro> Producer<T> {
    /// Sends a value; the future resolves to its partition and offset once it
    /// is durable. Values are buffered and batched: to send many, create the
    /// futures first and await them together (or spawn them), then they share batches.
    pub fn send(&self, value: &T) -> SendFuture {
        self.send_with(value, SendOptions::default())
    }

    /// Sends a value with an explicit key.
    pub fn send_with_key(&self, key: impl Into<Bytes>, value: &T) -> SendFuture {
        self.send_with(value, SendOptions::default().key(key))
    }

    /// Sends a value with a key, headers, a timestamp or a partition.
    pub fn send_with(&self, value: &T, options: SendOptions) -> SendFuture {
        let encoded = self.arena.lock().encode(self.schema_id, value);
        let key = options.key.or_else(|| self.key.as_ref().and_then(|f| f(value)));
        self.sink.send(RawRecord {
            key,
            value: encoded,
            headers: options.headers,
            timestamp_ms: options.timestamp_ms,
            partition: options.partition,
        })
    }

    /// Sends values as one batch: to one partition, in order, stored all or none
    /// (over gRPC; over a Kafka cluster one by one), answered once. The batch's
    /// partition is the one its values' keys choose (they must all choose the
    /// same) or, without keys, the partitioner's.
    ///
    /// The fast way to send many values: each costs its encoding and little
    /// else, where [`send`](Self::send) gives each its own future. A refused value
    /// fails the whole batch, its index in [`ClientError::Refused`].
    ///
    /// ```no_run
    /// # use runnel_avro::Avro;
    /// # async fn f<User: Avro>(producer: runnel_client::Producer<User>, users: Vec<User>) -> Result<(), runnel_client::ClientError> {
    /// let receipt = producer.send_batch(&users).await?;
    /// println!("{} users at {}:{:?}", receipt.count, receipt.partition, receipt.offsets());
    /// # Ok(()) }
    /// ```
    pub fn send_batch<'a>(&self, values: impl IntoIterator<Item = &'a T>) -> BatchSendFuture
    where
        T: 'a,
    {
        self.send_batch_with(values, None)
    }

    /// [`send_batch`](Self::send_batch) to partition `partition`.
    pub fn send_batch_to<'a>(
        &self,
        partition: u32,
        values: impl IntoIterator<Item = &'a T>,
    ) -> BatchSendFuture
    where
        T: 'a,
    {
        self.send_batch_with(values, Some(partition))
    }

    fn send_batch_with<'a>(
        &self,
        values: impl IntoIterator<Item = &'a T>,
        partition: Option<u32>,
    ) -> BatchSendFuture
    where
        T: 'a,
    {
        let values = values.into_iter();
        let expected = values.size_hint().0.max(1);
        let timestamp_ms = now_ms();
        let mut records = BatchBuilder::new();
        let mut keys = Vec::new();
        for value in values {
            let key = self.key.as_ref().and_then(|f| f(value));
            let bound = framing::HEADER_LEN + value.encoded_len_bound();
            if records.is_empty() {
                // Room for the whole batch at the first value's size (the builder grows if wrong).
                let per_record = bound + key.as_ref().map_or(0, Bytes::len) + 16;
                records = BatchBuilder::with_capacity(per_record.saturating_mul(expected));
            }
            // Encoded once, straight into the batch.
            records.push_with(key.as_deref(), timestamp_ms, bound, |buf| {
                framing::write_header(buf, self.schema_id);
                value.encode(buf);
            });
            keys.extend(key);
        }
        if records.is_empty() {
            return BatchSendFuture::failed(ClientError::InvalidArgument(
                "a batch needs at least one value".into(),
            ));
        }
        if !keys.is_empty() && keys.len() != records.len() {
            return BatchSendFuture::failed(ClientError::InvalidArgument(
                "the producer's key function gave some values of the batch a key and others none".into(),
            ));
        }
        self.sink.send_batch(RawBatch { records, keys, partition, timestamp_ms })
    }

    /// Encodes `value` as this producer sends it (framed with its schema id) with its key
    /// (the given one, else the producer's key function's): for transactions, which build
    /// their own batches.
    pub(crate) fn encode_record(&self, value: &T, key: Option<Bytes>) -> (Option<Bytes>, Bytes) {
        let encoded = self.arena.lock().encode(self.schema_id, value);
        (key.or_else(|| self.key.as_ref().and_then(|f| f(value))), encoded)
    }

    /// Sends whatever is buffered and waits until every value sent before is stored or failed.
    pub async fn flush(&self) -> Result<(), ClientError> {
        self.sink.flush().await
    }

    /// The global id of the schema the values are written with.
    pub fn schema_id(&self) -> u32 {
        self.schema_id
    }

    /// The subject the topic's values are bound to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.sink.topic()
    }
}
