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
//! boxed future and no adapter between librdkafka's future and ours.
//!
//! Partitions are chosen here, for every record (Kafka's Java client's
//! placement: murmur2 of the key, the same as
//! [`partition_for_key`](crate::partition_for_key) and librdkafka's
//! `murmur2_random`; unkeyed records sticky, one partition per batch, as on the
//! gRPC path), because each partition has a [`Gate`] in front of librdkafka:
//! a record goes to librdkafka only while the batch librdkafka is filling for
//! its partition is still open (not yet full, its linger not yet over) or the
//! partition has nothing outstanding; otherwise it is held back, in order,
//! until the partition's last outstanding record is answered, and then the
//! held records go over as the next batch. Why: librdkafka's idempotent
//! producer counts the requests it may have in flight per partition in
//! *messages* (`5 − messages in flight`), so a partition with one batch in
//! flight sends nothing more until it is answered, and while records of that
//! partition wait in librdkafka's queue past their linger, its broker thread
//! wakes up at once, again and again, polling with a zero timeout until the
//! answer comes (one fsync later): a core spinning for the whole round trip.
//! With the gate nothing waits in librdkafka's queue while a request is in
//! flight, and the broker thread sleeps until the answer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _, ProducerContext};

use super::config::KafkaConfig;
use super::librdkafka::{base_config, blocking, kafka_error, partition_count, unsupported};
use crate::error::ClientError;
use crate::partitioner::PartitionChooser;
use crate::transport::batch::{choose_partition, send_one_by_one};
use crate::transport::{
    now_ms, BatchSendFuture, ProducerOptions, RawBatch, RawRecord, RecordMetadata, RecordSink, SendFuture,
};

/// librdkafka's ceiling on requests in flight per connection with idempotence.
const MAX_IDEMPOTENT_IN_FLIGHT: usize = 5;

/// How long the polling thread waits for events per `poll`: the most a
/// dropped producer waits for its thread to end.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A topic's producer over Kafka. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KafkaSink {
    inner: Arc<SinkInner>,
}

/// A record's answer channel, the timestamp it was sent with, and its partition.
struct Ack {
    tx: oneshot::Sender<Result<RecordMetadata, ClientError>>,
    timestamp_ms: i64,
    partition: u32,
}

type Engine = BaseProducer<DeliveryContext>;

/// Hands each delivery report (on whichever thread polls librdkafka: the
/// sink's polling thread, or a flush) to its record's channel, and opens the
/// record's [`Gate`] when it was the partition's last outstanding one.
struct DeliveryContext {
    topic: String,
    gates: Arc<Gates>,
    /// The producer, to hand held records over; set once it exists. Weak: the
    /// producer owns this context.
    engine: OnceLock<Weak<Engine>>,
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
            Err((e, _)) => {
                // A fatal error (an idempotent producer refused its id, say) purges every
                // queued record: the fatal error is the reason, not the purge.
                let engine = self.engine.get().and_then(Weak::upgrade);
                match engine.and_then(|engine| fatal_error(&engine, &self.topic)) {
                    Some(fatal) => Err(fatal),
                    None => Err(delivery_error(&self.topic, e.clone())),
                }
            }
        };
        let partition = ack.partition;
        // The caller may have dropped its future: nothing to tell then.
        let _ = ack.tx.send(answer);
        // A producer being dropped no longer upgrades: its held records are
        // dropped with it (their futures fail as closed).
        let engine = self.engine.get().and_then(Weak::upgrade);
        self.gates.delivered(partition, engine.as_deref(), &self.topic);
    }
}

/// The error that stopped the producer, if one did (an idempotent producer refused
/// its id, say): then librdkafka fails every record, queued or new, with a bare
/// "Fatal" or a purge, and this is the reason to give instead.
fn fatal_error(engine: &Engine, topic: &str) -> Option<ClientError> {
    let (code, reason) = engine.client().fatal_error()?;
    Some(kafka_error(
        &format!("the producer for `{topic}` stopped: {reason}"),
        KafkaError::MessageProduction(code),
    ))
}

/// The batch librdkafka is filling for a partition: what was handed over
/// since the partition had nothing outstanding, and since when.
#[derive(Clone, Copy)]
struct OpenBatch {
    since: Instant,
    records: usize,
    bytes: usize,
}

/// One partition's records between the caller and librdkafka.
#[derive(Default)]
struct Gate {
    /// Handed to librdkafka and not answered yet.
    outstanding: usize,
    /// The batch librdkafka is filling, while records may still join it.
    open: Option<OpenBatch>,
    /// Held back while the partition has a batch in flight, in send order.
    held: VecDeque<(RawRecord, Box<Ack>)>,
}

/// The gates of every partition and the thresholds librdkafka closes a batch at.
struct Gates {
    /// One per partition, set once the partition count is known (before any send).
    parts: OnceLock<Vec<Mutex<Gate>>>,
    /// librdkafka's `batch.num.messages`.
    batch_records: usize,
    /// librdkafka's `batch.size` (counted as librdkafka counts it: keys and values).
    batch_bytes: usize,
    /// librdkafka's `linger.ms`.
    linger: Duration,
    /// Records held or outstanding, over all partitions.
    buffered: AtomicUsize,
}

/// What librdkafka counts of a record against `batch.size`.
fn counted_bytes(record: &RawRecord) -> usize {
    record.value.len() + record.key.as_ref().map_or(0, |k| k.len())
}

impl Gates {
    fn gate(&self, partition: u32) -> Option<&Mutex<Gate>> {
        self.parts.get().and_then(|p| p.get(partition as usize))
    }

    /// Whether a record may join `gate`'s open batch now: the partition has
    /// nothing outstanding (a new batch opens), or librdkafka's batch is
    /// neither full nor past its linger (so librdkafka has not sent it yet).
    fn admits(&self, gate: &mut Gate, now: Instant) -> bool {
        if gate.outstanding == 0 {
            if gate.open.is_none() {
                gate.open = Some(OpenBatch { since: now, records: 0, bytes: 0 });
            }
            return true;
        }
        gate.open.is_some_and(|b| {
            b.records < self.batch_records && b.bytes < self.batch_bytes && now < b.since + self.linger
        })
    }

    /// Hands `record` to librdkafka as part of `gate`'s open batch (opened by
    /// [`admits`](Self::admits)); a refusal is the record's answer. Whether
    /// the batch is now full.
    fn hand_over(
        &self,
        engine: &Engine,
        topic: &str,
        gate: &mut Gate,
        record: RawRecord,
        ack: Box<Ack>,
    ) -> bool {
        let bytes = counted_bytes(&record);
        match engine.send(base_record(topic, &record, ack)) {
            Ok(()) => {
                gate.outstanding += 1;
                let b = gate.open.get_or_insert(OpenBatch { since: Instant::now(), records: 0, bytes: 0 });
                b.records += 1;
                b.bytes += bytes;
                b.records >= self.batch_records || b.bytes >= self.batch_bytes
            }
            Err((e, rejected)) => {
                // The bound on `buffered` (at most librdkafka's queue) keeps
                // its queue from filling; whatever else refuses a record is
                // that record's answer.
                self.buffered.fetch_sub(1, Ordering::Relaxed);
                // After a fatal error librdkafka refuses every record with a bare
                // "Fatal": the fatal error is the reason.
                let error = fatal_error(engine, topic)
                    .unwrap_or_else(|| kafka_error(&format!("cannot send to `{topic}`"), e));
                let _ = rejected.delivery_opaque.tx.send(Err(error));
                false
            }
        }
    }

    /// A record of `partition` was answered: when it was the last outstanding
    /// one, held records go over as the next batch (up to librdkafka's batch
    /// thresholds, so that none waits behind it in librdkafka's queue).
    fn delivered(&self, partition: u32, engine: Option<&Engine>, topic: &str) {
        self.buffered.fetch_sub(1, Ordering::Relaxed);
        let Some(gate) = self.gate(partition) else { return };
        let mut gate = gate.lock();
        gate.outstanding = gate.outstanding.saturating_sub(1);
        if gate.outstanding > 0 {
            return;
        }
        gate.open = None;
        let Some(engine) = engine else { return };
        let now = Instant::now();
        while !gate.held.is_empty() && self.admits(&mut gate, now) {
            let Some((record, ack)) = gate.held.pop_front() else { break };
            if self.hand_over(engine, topic, &mut gate, record, ack) {
                break;
            }
        }
    }
}

/// Polls librdkafka for delivery reports on a thread of its own until dropped.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    fn start(engine: Arc<Engine>) -> Result<Poller, ClientError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("runnel-kafka-producer".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    engine.poll(POLL_INTERVAL);
                }
            })
            .map_err(|e| {
                ClientError::InvalidArgument(format!("cannot start a producer's polling thread: {e}"))
            })?;
        Ok(Poller { stop, thread: Some(thread) })
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct SinkInner {
    /// Declared first: dropped (its thread stopped and joined) before `producer`,
    /// so that the producer is closed (its queue purged) when `producer` goes.
    _poller: Poller,
    producer: Arc<Engine>,
    gates: Arc<Gates>,
    topic: String,
    partitions: u32,
    chooser: Mutex<PartitionChooser>,
    /// Most records held or outstanding: `buffer_records`, at most librdkafka's queue.
    buffer_records: usize,
    /// How long a send may wait for room in the buffer (the delivery timeout).
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

/// A librdkafka setting as a number, as the configuration holds it now.
fn setting(config: &ClientConfig, key: &str) -> Option<u64> {
    config.get(key).and_then(|v| v.trim().parse().ok())
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
        // The gates close batches where librdkafka does, whoever set the
        // thresholds (librdkafka's defaults where unset), and buffer no more
        // than librdkafka's queue takes, so that it never refuses a record.
        let batch_records = setting(&config, "batch.num.messages").unwrap_or(10_000).max(1) as usize;
        let batch_bytes = setting(&config, "batch.size").unwrap_or(1_000_000).max(1) as usize;
        let linger = setting(&config, "linger.ms")
            .or_else(|| setting(&config, "queue.buffering.max.ms"))
            .map_or(Duration::from_millis(5), Duration::from_millis);
        let buffer_records =
            setting(&config, "queue.buffering.max.messages").unwrap_or(100_000).max(1) as usize;
        let gates = Arc::new(Gates {
            parts: OnceLock::new(),
            batch_records,
            batch_bytes,
            linger,
            buffered: AtomicUsize::new(0),
        });
        let context =
            DeliveryContext { topic: topic.to_owned(), gates: Arc::clone(&gates), engine: OnceLock::new() };
        let producer: Engine = config
            .create_with_context(context)
            .map_err(|e| kafka_error("cannot create a Kafka producer", e))?;
        let producer = Arc::new(producer);
        let _ = producer.context().engine.set(Arc::downgrade(&producer));
        let poller = Poller::start(Arc::clone(&producer))?;
        let (probe, name, timeout) = (Arc::clone(&producer), topic.to_owned(), kafka.connect_timeout);
        let partitions =
            partition_count(topic, move || probe.client().fetch_metadata(Some(&name), timeout)).await?;
        let _ = gates.parts.set((0..partitions).map(|_| Mutex::new(Gate::default())).collect());
        Ok(KafkaSink {
            inner: Arc::new(SinkInner {
                _poller: poller,
                producer,
                gates,
                topic: topic.to_owned(),
                partitions,
                chooser: Mutex::new(PartitionChooser::new(options.partitioner.clone(), 0)),
                buffer_records,
                queue_timeout: options.delivery_timeout,
            }),
        })
    }
}

impl RecordSink for KafkaSink {
    /// Hands a record over (or holds it at its partition's gate) now when the
    /// buffer has room, so call order is send order, otherwise when polled;
    /// resolves with its delivery.
    fn send(&self, record: RawRecord) -> SendFuture {
        let inner = &self.inner;
        let n = inner.partitions;
        let partition = match record.partition {
            Some(p) if p >= n => {
                return SendFuture::failed(ClientError::UnknownPartition {
                    topic: inner.topic.clone(),
                    partition: p,
                })
            }
            Some(p) => p,
            None => inner.chooser.lock().choose(record.key.as_deref(), n),
        };
        let timestamp_ms = record.timestamp_ms.unwrap_or_else(now_ms);
        let (tx, rx) = oneshot::channel();
        let ack = Box::new(Ack { tx, timestamp_ms, partition });
        if inner.reserve() {
            inner.offer(record, ack);
            return SendFuture::waiting(rx);
        }
        // Full: wait for room when polled, as the gRPC path does.
        let this = self.clone();
        SendFuture::from_future(async move {
            this.inner.reserve_when_room().await?;
            this.inner.offer(record, ack);
            rx.await.unwrap_or(Err(ClientError::Closed))
        })
    }

    /// Sends the batch's records one by one to the partition it chooses: librdkafka
    /// batches them itself, so they are not appended as one (another producer's
    /// records may come between them).
    fn send_batch(&self, batch: RawBatch) -> BatchSendFuture {
        let inner = &self.inner;
        let chosen = choose_partition(
            batch.partition,
            &batch.keys,
            &inner.topic,
            inner.partitions,
            &mut inner.chooser.lock(),
        );
        match chosen {
            Ok(p) => send_one_by_one(batch, p, |record| self.send(record)),
            Err(e) => BatchSendFuture::failed(e),
        }
    }

    /// Waits until every record sent before is delivered or failed.
    async fn flush(&self) -> Result<(), ClientError> {
        let inner = Arc::clone(&self.inner);
        let timeout = self.inner.queue_timeout;
        // librdkafka's flush sends what lingers at once, and waits until its
        // queue is empty; held records are handed over (by the delivery
        // reports this flush serves) before the last outstanding record of
        // their partition leaves the queue, so they are waited for too.
        blocking(move || inner.producer.flush(timeout))
            .await?
            .map_err(|e| kafka_error(&format!("flushing `{}`", self.inner.topic), e))
    }

    fn topic(&self) -> &str {
        &self.inner.topic
    }

    fn partitions(&self) -> u32 {
        self.inner.partitions
    }
}

impl SinkInner {
    /// Takes room for one record in the buffer, if there is any.
    fn reserve(&self) -> bool {
        let taken = self.gates.buffered.fetch_add(1, Ordering::Relaxed);
        if taken < self.buffer_records {
            return true;
        }
        self.gates.buffered.fetch_sub(1, Ordering::Relaxed);
        false
    }

    /// Waits for room in the buffer until the delivery timeout passes.
    async fn reserve_when_room(&self) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + self.queue_timeout;
        while !self.reserve() {
            if tokio::time::Instant::now() >= deadline {
                return Err(kafka_error(
                    &format!("cannot send to `{}`", self.topic),
                    KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                ));
            }
            // Deliveries free room at the pace of the cluster's answers.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// Hands a record (with room reserved) to librdkafka when its partition's
    /// gate admits it, else holds it there.
    fn offer(&self, record: RawRecord, ack: Box<Ack>) {
        let partition = ack.partition;
        let Some(gate) = self.gates.gate(partition) else { return };
        let mut gate = gate.lock();
        let sealed = if gate.held.is_empty() && self.gates.admits(&mut gate, Instant::now()) {
            self.gates.hand_over(&self.producer, &self.topic, &mut gate, record, ack)
        } else {
            gate.held.push_back((record, ack));
            true
        };
        drop(gate);
        if sealed {
            // Sticky placement of unkeyed records moves on to another partition.
            self.chooser.lock().batch_sealed(partition, self.partitions);
        }
    }
}

fn base_record<'a>(
    topic: &'a str,
    record: &'a RawRecord,
    ack: Box<Ack>,
) -> BaseRecord<'a, [u8], [u8], Box<Ack>> {
    let (timestamp_ms, partition) = (ack.timestamp_ms, ack.partition);
    let mut rec = BaseRecord::with_opaque_to(topic, ack)
        .payload(&record.value[..])
        .timestamp(timestamp_ms)
        .partition(partition as i32);
    if let Some(key) = &record.key {
        rec = rec.key(&key[..]);
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
