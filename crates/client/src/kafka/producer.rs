//! The Kafka side of [`Producer<T>`](crate::Producer): [`KafkaSink`] hands
//! framed values to librdkafka's idempotent producer (acks=all, no
//! compression) and turns each delivery report into the [`SendFuture`] the
//! gRPC path returns, so callers see one API.
//!
//! The builder's settings map onto librdkafka's: batch records/bytes, linger,
//! the buffer, the delivery timeout. Keyed records land where Kafka's Java
//! client puts them (librdkafka's `murmur2_random` partitioner, the same
//! murmur2 as [`partition_for_key`](crate::partition_for_key)); round-robin
//! and custom partitioners are applied here with the partition count from
//! the cluster's metadata.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;

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

struct SinkInner {
    producer: FutureProducer,
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
        let producer: FutureProducer =
            config.create().map_err(|e| kafka_error("cannot create a Kafka producer", e))?;
        let (probe, name, timeout) = (producer.clone(), topic.to_owned(), kafka.connect_timeout);
        let partitions =
            partition_count(topic, move || probe.client().fetch_metadata(Some(&name), timeout)).await?;
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
        let fallback_ts = record.timestamp_ms.unwrap_or_else(now_ms);
        let future_record = to_future_record(&inner.topic, &record, partition, fallback_ts);
        match inner.producer.send_result(future_record) {
            Ok(delivery) => {
                let topic = inner.topic.clone();
                SendFuture::from_future(async move {
                    match delivery.await {
                        Ok(result) => delivered(&topic, result, fallback_ts),
                        Err(_) => Err(ClientError::Closed),
                    }
                })
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // Full: wait for room when polled, as the gRPC path does.
                let this = self.clone();
                SendFuture::from_future(async move {
                    let inner = &this.inner;
                    let rec = to_future_record(&inner.topic, &record, partition, fallback_ts);
                    let result = inner.producer.send(rec, Timeout::After(inner.queue_timeout)).await;
                    delivered(&inner.topic, result, fallback_ts)
                })
            }
            Err((e, _)) => SendFuture::failed(kafka_error(&format!("cannot send to `{}`", inner.topic), e)),
        }
    }

    /// Waits until every record sent before is delivered or failed.
    async fn flush(&self) -> Result<(), ClientError> {
        let producer = self.inner.producer.clone();
        let timeout = self.inner.queue_timeout;
        blocking(move || producer.flush(timeout))
            .await?
            .map_err(|e| kafka_error(&format!("flushing `{}`", self.inner.topic), e))
    }

    fn topic(&self) -> &str {
        &self.inner.topic
    }
}

fn to_future_record<'a>(
    topic: &'a str,
    record: &'a RawRecord,
    partition: Option<u32>,
    timestamp_ms: i64,
) -> FutureRecord<'a, [u8], [u8]> {
    let mut rec = FutureRecord::to(topic).payload(&record.value[..]).timestamp(timestamp_ms);
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

fn delivered(
    topic: &str,
    result: rdkafka::producer::future_producer::OwnedDeliveryResult,
    fallback_ts: i64,
) -> Result<RecordMetadata, ClientError> {
    match result {
        Ok(d) => Ok(RecordMetadata {
            partition: d.partition as u32,
            offset: d.offset,
            timestamp_ms: d.timestamp.to_millis().unwrap_or(fallback_ts),
        }),
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition), _))
        | Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic), _)) => {
            Err(ClientError::UnknownTopic { topic: topic.to_owned() })
        }
        Err((e, _)) => Err(kafka_error(&format!("the cluster refused a record for `{topic}`"), e)),
    }
}
