//! The Kafka side of [`Producer<T>`](crate::Producer): [`KafkaSink`] hands
//! framed values to librdkafka's idempotent producer (acks=all, no
//! compression) and turns each delivery report into the [`SendFuture`] the
//! gRPC path returns, so callers see one API.
//!
//! The builder's settings map onto librdkafka's: batch records/bytes, linger,
//! the buffer, the delivery timeout.
//!
//! A record's delivery report comes back on the producer's polling thread
//! through [`DeliveryContext`], straight into the record's own answer channel
//! (the [`SendFuture`] the gRPC path returns too): one channel per record, no
//! boxed future and no adapter between librdkafka's future and ours. Keyed records land where Kafka's Java
//! client puts them (librdkafka's `murmur2_random` partitioner, the same
//! murmur2 as [`partition_for_key`](crate::partition_for_key)); round-robin
//! and custom partitioners are applied here with the partition count from
//! the cluster's metadata.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};

use super::config::KafkaConfig;
use super::librdkafka::{base_config, blocking, kafka_error, partition_count, unsupported};
use crate::error::ClientError;
use crate::partitioner::{PartitionChooser, Partitioner};
use crate::transport::{now_ms, ProducerOptions, RawRecord, RecordMetadata, RecordSink, SendFuture};

/// librdkafka's ceiling on requests in flight per connection with idempotence.
const MAX_IDEMPOTENT_IN_FLIGHT: usize = 5;

/// A topic's producer over Kafka. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KafkaSink {
    inner: Arc<SinkInner>,
}

/// A record's answer channel and the timestamp it was sent with.
struct Ack {
    tx: oneshot::Sender<Result<RecordMetadata, ClientError>>,
    timestamp_ms: i64,
}

/// Hands each delivery report (on librdkafka's polling thread) to its record's channel.
struct DeliveryContext {
    topic: String,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Ack>;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Box<Ack>) {
        let answer = match result {
            Ok(m) => Ok(RecordMetadata {
                partition: m.partition() as u32,
                offset: m.offset(),
                timestamp_ms: m.timestamp().to_millis().unwrap_or(ack.timestamp_ms),
            }),
            Err((e, _)) => Err(delivery_error(&self.topic, e.clone())),
        };
        // The caller may have dropped its future: nothing to tell then.
        let _ = ack.tx.send(answer);
    }
}

type Engine = ThreadedProducer<DeliveryContext>;

struct SinkInner {
    producer: Engine,
    topic: String,
    partitions: u32,
    /// Only for round-robin and custom partitioners; librdkafka places the rest.
    chooser: Option<Mutex<PartitionChooser>>,
    /// How long a send may wait for room in librdkafka's queue (the delivery timeout).
    queue_timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.inner.topic)
            .field("partitions", &self.inner.partitions)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// Starts an idempotent producer for `topic`, checking that the topic exists.
    pub(crate) async fn start(
        kafka: &KafkaConfig,
        topic: &str,
        options: &ProducerOptions,
    ) -> Result<KafkaSink, ClientError> {
        let defaults = ProducerOptions::default();
        if options.max_in_flight != defaults.max_in_flight && options.max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT
        {
            return Err(unsupported(&format!(
                "max_in_flight({}) above {MAX_IDEMPOTENT_IN_FLIGHT} (librdkafka's idempotent producer \
                 keeps at most {MAX_IDEMPOTENT_IN_FLIGHT} requests in flight per broker)",
                options.max_in_flight
            )));
        }
        let mut config = base_config(kafka);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Runnel's log (and its enforcement) takes uncompressed batches only.
            .set("compression.type", "none")
            .set("partitioner", "murmur2_random")
            .set("max.in.flight.requests.per.connection", options.max_in_flight.min(5).to_string())
            .set("linger.ms", options.linger.as_millis().min(900_000).to_string())
            .set("batch.num.messages", options.batch_records.clamp(1, 1_000_000).to_string())
            .set("batch.size", options.batch_bytes.clamp(1, i32::MAX as usize).to_string())
            .set(
                "queue.buffering.max.messages",
                options.buffer_records.clamp(1, i32::MAX as usize).to_string(),
            )
            .set(
                "message.timeout.ms",
                options.delivery_timeout.as_millis().clamp(1, i32::MAX as u128).to_string(),
            );
        for (k, v) in &kafka.properties {
            config.set(k, v);
        }
        let producer: Engine = config
            .create_with_context(DeliveryContext { topic: topic.to_owned() })
            .map_err(|e| kafka_error("cannot create a Kafka producer", e))?;
        let producer = Arc::new(producer);
        let (probe, name, timeout) = (Arc::clone(&producer), topic.to_owned(), kafka.connect_timeout);
        let partitions =
            partition_count(topic, move || probe.client().fetch_metadata(Some(&name), timeout)).await?;
        let producer = Arc::into_inner(producer).ok_or(ClientError::Closed)?;
        let chooser = match &options.partitioner {
            Partitioner::Default => None,
            other => Some(Mutex::new(PartitionChooser::new(other.clone(), 0))),
        };
        Ok(KafkaSink {
            inner: Arc::new(SinkInner {
                producer,
                topic: topic.to_owned(),
                partitions,
                chooser,
                queue_timeout: options.delivery_timeout,
            }),
        })
    }
}

impl RecordSink for KafkaSink {
    /// Enqueues a record now when librdkafka's queue has room (so call order
    /// is send order), otherwise when polled; resolves with its delivery.
    fn send(&self, record: RawRecord) -> SendFuture {
        let inner = &self.inner;
        let n = inner.partitions;
        let partition = match (record.partition, &inner.chooser) {
            (Some(p), _) if p >= n => {
                return SendFuture::failed(ClientError::UnknownPartition {
                    topic: inner.topic.clone(),
                    partition: p,
                })
            }
            (Some(p), _) => Some(p),
            (None, Some(chooser)) => Some(chooser.lock().choose(record.key.as_deref(), n)),
            (None, None) => None,
        };
        let timestamp_ms = record.timestamp_ms.unwrap_or_else(now_ms);
        let (tx, rx) = oneshot::channel();
        let ack = Box::new(Ack { tx, timestamp_ms });
        match inner.producer.send(base_record(&inner.topic, &record, partition, ack)) {
            Ok(()) => SendFuture::waiting(rx),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rejected)) => {
                // Full: wait for room when polled, as the gRPC path does.
                let ack = rejected.delivery_opaque;
                let this = self.clone();
                SendFuture::from_future(async move {
                    this.send_when_room(record, partition, ack).await?;
                    rx.await.unwrap_or(Err(ClientError::Closed))
                })
            }
            Err((e, _)) => SendFuture::failed(kafka_error(&format!("cannot send to `{}`", inner.topic), e)),
        }
    }

    /// Waits until every record sent before is delivered or failed.
    async fn flush(&self) -> Result<(), ClientError> {
        let inner = Arc::clone(&self.inner);
        let timeout = self.inner.queue_timeout;
        blocking(move || inner.producer.flush(timeout))
            .await?
            .map_err(|e| kafka_error(&format!("flushing `{}`", self.inner.topic), e))
    }

    fn topic(&self) -> &str {
        &self.inner.topic
    }
}

impl KafkaSink {
    /// Retries handing `record` to a full librdkafka queue until it has room
    /// or the delivery timeout passes.
    async fn send_when_room(
        &self,
        record: RawRecord,
        partition: Option<u32>,
        mut ack: Box<Ack>,
    ) -> Result<(), ClientError> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + inner.queue_timeout;
        loop {
            match inner.producer.send(base_record(&inner.topic, &record, partition, ack)) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rejected))
                    if tokio::time::Instant::now() < deadline =>
                {
                    ack = rejected.delivery_opaque;
                    // Deliveries free room at the pace of the cluster's answers.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(kafka_error(&format!("cannot send to `{}`", inner.topic), e)),
            }
        }
    }
}

fn base_record<'a>(
    topic: &'a str,
    record: &'a RawRecord,
    partition: Option<u32>,
    ack: Box<Ack>,
) -> BaseRecord<'a, [u8], [u8], Box<Ack>> {
    let timestamp_ms = ack.timestamp_ms;
    let mut rec = BaseRecord::with_opaque_to(topic, ack).payload(&record.value[..]).timestamp(timestamp_ms);
    if let Some(key) = &record.key {
        rec = rec.key(&key[..]);
    }
    if let Some(p) = partition {
        rec = rec.partition(p as i32);
    }
    if !record.headers.is_empty() {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            headers = headers.insert(Header { key: name, value: Some::<&[u8]>(value.as_ref()) });
        }
        rec = rec.headers(headers);
    }
    rec
}

/// The client error for a record the cluster refused or never acknowledged.
fn delivery_error(topic: &str, e: KafkaError) -> ClientError {
    match e {
        KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition)
        | KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic) => {
            ClientError::UnknownTopic { topic: topic.to_owned() }
        }
        e => kafka_error(&format!("the cluster refused a record for `{topic}`"), e),
    }
}
