//! The gRPC transport's producer: [`GrpcSink`] sends records whose value is
//! already framed bytes, under [`Producer<T>`](crate::Producer) and
//! [`RawProducer`](crate::RawProducer).
//!
//! `send` hands a record to a background task and returns a [`SendFuture`]
//! that resolves to the record's partition and offset. The task groups records
//! per partition into Kafka RecordBatch v2 batches (up to a record count and a
//! byte size, or until the linger time has passed), and pipelines them on one
//! `ProduceStream`, partitions in parallel.
//!
//! Idempotence: the producer takes a producer id from `InitProducer`, and
//! every batch carries it with an epoch and the partition's next sequence
//! number. Up to five batches per partition are in flight (the broker
//! remembers a producer's last five), answered in order; one, until the first
//! batch of the producer id on that partition is stored. A retry (after a
//! broken stream or a retryable broker error) resends the very same bytes in
//! the same order, which the broker recognises as duplicates instead of
//! appending twice. When a batch is refused, nothing of it nor of the batches
//! sent after it is appended (they fail on the sequence gap): those are taken
//! back and sent again under new sequence numbers. A batch refused because of
//! one record goes again without that record: the refusal surfaces on that
//! record's future only.
//!
//! Back-pressure: a semaphore bounds the records buffered or in flight; `send`
//! waits for room when it is full.
//!
//! A whole batch (`send_batch`) arrives built: it is queued as it is, sent as one
//! request under the next sequence numbers, answered once, and retried, resent or
//! taken back like any other batch; a refusal fails all of it (nothing of it was
//! appended).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
// futures' oneshot, not tokio's: see `Delivery`.
use futures::channel::oneshot;
use runnel_proto::batch::{with_producer, BatchBuilder};
use runnel_proto::v1;
use runnel_proto::MAX_MESSAGE_BYTES;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use super::connection::{Backoff, Connection};
use super::produce_call;
use crate::error::ClientError;
use crate::partitioner::PartitionChooser;
use crate::transport::batch::choose_partition;
use crate::transport::{
    now_ms, BatchReceipt, BatchSendFuture, Delivery, DeliveryFuture, ProducerOptions, RawBatch, RawRecord,
    RecordMetadata, RecordSink, SendFuture, TopicBinding,
};

/// A produce stream with nothing in flight for this long is closed: an idle
/// producer holds no stream on the broker (and does not hold up its shutdown).
const STREAM_IDLE: Duration = Duration::from_secs(1);

/// Room in a produce request for what is not the batch: its correlation id, topic name
/// (at most 249 bytes) and partition, with their tags and lengths.
const MESSAGE_HEAD_ROOM: usize = 512;

/// Batches in flight per partition, at most: the broker remembers the last
/// five batches of each producer, so a retry of any of them is recognised.
const MAX_IN_FLIGHT_PER_PARTITION: usize = 5;

/// Bytes in flight per producer, at most (one batch may always go): the
/// broker's HTTP/2 window; more in flight would only wait in flow control,
/// while records still in the queue can yet join a batch.
const MAX_IN_FLIGHT_BYTES: usize = 8 * 1024 * 1024;

type Reply = oneshot::Sender<Result<RecordMetadata, ClientError>>;

/// A record in the engine with its answer channel.
struct Pending {
    key: Option<Bytes>,
    value: Bytes,
    headers: Vec<(String, Bytes)>,
    timestamp_ms: i64,
    reply: Reply,
}

impl Pending {
    fn size(&self) -> usize {
        // Value, key and headers plus the varints around them (a bound, not exact).
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len() + 10).sum();
        self.value.len() + self.key.as_ref().map_or(0, Bytes::len) + headers + 24
    }
}

/// A batch built by the caller (`send_batch`), with its answer channel.
struct Whole {
    /// The records as built, until first sent; then the bytes as sent (to be
    /// resealed under new sequence numbers if the batch is taken back).
    body: Body,
    count: usize,
    /// The room it took in the producer's buffer (given back when it resolves).
    permits: usize,
    partition: Option<u32>,
    keys: Vec<Bytes>,
    timestamp_ms: i64,
    reply: oneshot::Sender<Result<BatchReceipt, ClientError>>,
}

enum Body {
    Built(BatchBuilder),
    Sent(Bytes),
}

/// What a queued or in-flight batch holds.
enum Contents {
    /// Records sent one by one, each answered on its own.
    Records(Vec<Pending>),
    /// A batch from `send_batch`: appended whole or not at all, answered once.
    Whole(Whole),
}

impl Default for Contents {
    fn default() -> Self {
        Contents::Records(Vec::new())
    }
}

impl Contents {
    fn len(&self) -> usize {
        match self {
            Contents::Records(records) => records.len(),
            Contents::Whole(whole) => whole.count,
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The room it takes in the producer's buffer.
    fn permits(&self) -> usize {
        match self {
            Contents::Records(records) => records.len(),
            Contents::Whole(whole) => whole.permits,
        }
    }

    fn size(&self) -> usize {
        match self {
            Contents::Records(records) => records.iter().map(Pending::size).sum(),
            Contents::Whole(Whole { body: Body::Built(b), .. }) => b.size_bytes(),
            Contents::Whole(Whole { body: Body::Sent(b), .. }) => b.len(),
        }
    }

    /// The batch's bytes under this producer id and base sequence.
    fn encode(&mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Result<Bytes, ClientError> {
        match self {
            Contents::Records(records) => Ok(encode_batch(records, producer_id, epoch, base_sequence)),
            Contents::Whole(whole) => {
                let bytes = match std::mem::replace(&mut whole.body, Body::Sent(Bytes::new())) {
                    Body::Built(builder) => builder.finish(producer_id, epoch, base_sequence),
                    Body::Sent(sent) => with_producer(&sent, producer_id, epoch, base_sequence)
                        .map_err(|e| ClientError::InvalidArgument(format!("batch: {e}")))?,
                };
                whole.body = Body::Sent(bytes.clone());
                Ok(bytes)
            }
        }
    }

    /// Answers every record: stored from `base_offset` on.
    fn stored(self, partition: u32, base_offset: i64, log_append_time_ms: i64) {
        let time = |ts: i64| if log_append_time_ms > 0 { log_append_time_ms } else { ts };
        match self {
            Contents::Records(records) => {
                for (i, rec) in records.into_iter().enumerate() {
                    let offset = base_offset + i as i64;
                    let timestamp_ms = time(rec.timestamp_ms);
                    let _ = rec.reply.send(Ok(RecordMetadata { partition, offset, timestamp_ms }));
                }
            }
            Contents::Whole(whole) => {
                let _ = whole.reply.send(Ok(BatchReceipt {
                    partition,
                    base_offset,
                    count: whole.count as u32,
                    timestamp_ms: time(whole.timestamp_ms),
                }));
            }
        }
    }

    /// Answers every record with `error`.
    fn failed(self, error: &ClientError) {
        match self {
            Contents::Records(records) => {
                for rec in records {
                    let _ = rec.reply.send(Err(clone_error(error)));
                }
            }
            Contents::Whole(whole) => {
                let _ = whole.reply.send(Err(clone_error(error)));
            }
        }
    }
}

enum Command {
    Record(Pending, Option<u32>),
    Whole(Whole),
    Flush,
}

/// A producer on one topic over gRPC.
///
/// Cheap to clone: clones share the background task. The task ends when the
/// last clone is dropped, after sending what was buffered.
#[derive(Clone)]
pub(crate) struct GrpcSink {
    shared: Arc<Shared>,
}

struct Shared {
    topic: String,
    partitions: u32,
    tx: mpsc::UnboundedSender<Command>,
    room: Arc<Semaphore>,
    capacity: u32,
}

impl std::fmt::Debug for GrpcSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcSink")
            .field("topic", &self.shared.topic)
            .field("partitions", &self.shared.partitions)
            .finish_non_exhaustive()
    }
}

impl GrpcSink {
    /// Starts a producer on `topic`: takes a producer id and starts the engine.
    pub(crate) async fn start(
        connection: &Connection,
        topic: &TopicBinding,
        options: ProducerOptions,
    ) -> Result<Self, ClientError> {
        let partitions = (topic.partitions.len() as u32).max(1);
        let init = connection
            .retry(|| {
                let mut svc = connection.broker();
                let req = v1::InitProducerRequest {};
                async move { svc.init_producer(req).await }
            })
            .await?;
        let epoch = i16::try_from(init.epoch).unwrap_or(i16::MAX);
        let capacity = options.buffer_records.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        let room = Arc::new(Semaphore::new(capacity as usize));
        let (tx, rx) = mpsc::unbounded_channel();
        // Sticky placement starts at a varying partition so that many short-lived
        // producers do not all pile onto partition 0.
        let start = (init.producer_id.unsigned_abs() % u64::from(partitions)) as u32;
        let engine = Engine {
            connection: connection.clone(),
            topic: topic.name.clone(),
            partitions,
            producer_id: init.producer_id,
            epoch,
            chooser: PartitionChooser::new(options.partitioner.clone(), start),
            options,
            rx,
            room: room.clone(),
            parts: HashMap::new(),
            stream: None,
            next_corr: 1,
            by_corr: HashMap::new(),
            urgent: false,
            reinit: false,
            idle_since: None,
            backoff_until: None,
            backoff: Backoff::new(connection.options()),
        };
        tokio::spawn(engine.run());
        Ok(GrpcSink {
            shared: Arc::new(Shared { topic: topic.name.clone(), partitions, tx, room, capacity }),
        })
    }

    fn enqueue(&self, record: RawRecord) -> Delivery {
        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp_ms: record.timestamp_ms.unwrap_or_else(now_ms),
            reply,
        };
        // If the engine is gone the reply sender drops with the command and the
        // future resolves to `Closed`.
        let _ = self.shared.tx.send(Command::Record(pending, record.partition));
        rx
    }
}

impl GrpcSink {
    /// Queues a whole batch that took `permits` of room.
    fn enqueue_whole(&self, (batch, permits): (RawBatch, u32)) -> crate::transport::BatchDelivery {
        let (reply, rx) = oneshot::channel();
        let whole = Whole {
            count: batch.count(),
            permits: permits as usize,
            body: Body::Built(batch.records),
            partition: batch.partition,
            keys: batch.keys,
            timestamp_ms: batch.timestamp_ms,
            reply,
        };
        let _ = self.shared.tx.send(Command::Whole(whole));
        rx
    }

    /// Hands `item` to the engine with `enqueue` once `permits` of room are taken:
    /// now when they are free (so call order is send order), otherwise when the
    /// future is polled. The engine gives the room back when the item resolves.
    fn admit<T: Send + 'static, I: Send + 'static>(
        &self,
        permits: u32,
        item: I,
        enqueue: fn(&GrpcSink, I) -> oneshot::Receiver<Result<T, ClientError>>,
    ) -> DeliveryFuture<T> {
        match self.shared.room.clone().try_acquire_many_owned(permits) {
            Ok(permit) => {
                permit.forget();
                DeliveryFuture::waiting(enqueue(self, item))
            }
            Err(tokio::sync::TryAcquireError::Closed) => DeliveryFuture::failed(ClientError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let this = self.clone();
                DeliveryFuture::from_future(async move {
                    let permit = this
                        .shared
                        .room
                        .clone()
                        .acquire_many_owned(permits)
                        .await
                        .map_err(|_| ClientError::Closed)?;
                    permit.forget();
                    enqueue(&this, item).await.map_err(|_| ClientError::Closed)?
                })
            }
        }
    }
}

impl RecordSink for GrpcSink {
    fn send(&self, record: RawRecord) -> SendFuture {
        if let Some(p) = record.partition {
            if p >= self.shared.partitions {
                return SendFuture::failed(ClientError::UnknownPartition {
                    topic: self.shared.topic.clone(),
                    partition: p,
                });
            }
        }
        self.admit(1, record, GrpcSink::enqueue)
    }

    /// The batch's partition is checked or chosen by the engine (`choose_partition`).
    fn send_batch(&self, batch: RawBatch) -> BatchSendFuture {
        // Over what one gRPC message may carry it could never be sent: said now, not after
        // retries on a stream that breaks each time until the delivery timeout.
        let bytes = batch.records.size_bytes();
        if bytes + MESSAGE_HEAD_ROOM > MAX_MESSAGE_BYTES {
            return BatchSendFuture::failed(ClientError::Broker {
                code: v1::ErrorCode::TooLarge,
                message: format!(
                    "a batch of {bytes} bytes is over the {MAX_MESSAGE_BYTES} bytes a request may carry"
                ),
            });
        }
        // Its records, or all the room when it holds more than the producer's
        // buffer (it then goes alone).
        let permits = (batch.count().min(self.shared.capacity as usize) as u32).max(1);
        self.admit(permits, (batch, permits), GrpcSink::enqueue_whole)
    }

    /// Sends every buffered record now and waits until all records sent
    /// before this call are resolved (stored or failed).
    async fn flush(&self) -> Result<(), ClientError> {
        self.shared.tx.send(Command::Flush).map_err(|_| ClientError::Closed)?;
        // All the room free means nothing is buffered or in flight. The
        // semaphore is fair, so sends that come later wait behind this.
        let all =
            self.shared.room.acquire_many(self.shared.capacity).await.map_err(|_| ClientError::Closed)?;
        drop(all);
        Ok(())
    }

    fn topic(&self) -> &str {
        &self.shared.topic
    }

    fn partitions(&self) -> u32 {
        self.shared.partitions
    }
}

/// A batch being filled or waiting for its partition's in-flight slot.
#[derive(Default)]
struct OpenBatch {
    records: Contents,
    bytes: usize,
    /// When the first record arrived: the linger clock.
    since: Option<Instant>,
}

/// A batch that was sent and not yet answered.
struct InFlight {
    corr: u64,
    records: Contents,
    bytes: Bytes,
    base_sequence: i32,
    /// Past this, retries stop and the records fail.
    deadline: Instant,
    last_error: Option<ClientError>,
}

#[derive(Default)]
struct PartitionState {
    queue: VecDeque<OpenBatch>,
    /// Sent batches in sequence order (the broker answers a partition's in order).
    in_flight: VecDeque<InFlight>,
    /// Every in-flight batch must be sent again, in order, after the back-off.
    resend: bool,
    /// The sequence of the next new batch.
    next_sequence: i32,
    /// Whether a batch of the current producer id was stored on this partition.
    /// Until one is, a single batch goes at a time: the broker takes a producer's
    /// first batch on a partition at whatever sequence it carries, so a batch sent
    /// behind a first one that is refused would be stored across the gap, while
    /// this engine takes it back to send again under the refused one's sequence.
    confirmed: bool,
}

impl PartitionState {
    /// Batches that may be in flight now.
    fn in_flight_limit(&self) -> usize {
        if self.confirmed {
            MAX_IN_FLIGHT_PER_PARTITION
        } else {
            1
        }
    }

    /// Takes back every in-flight batch from `from` on, unanswered: their
    /// records go back to the front of the queue, to be sent again under new
    /// sequence numbers starting at the first one's. Only right when none of
    /// them can have been appended (the broker refuses a batch after a gap).
    fn requeue_from(&mut self, from: usize, by_corr: &mut HashMap<u64, u32>) {
        let taken: Vec<InFlight> = self.in_flight.drain(from..).collect();
        if let Some(first) = taken.first() {
            self.next_sequence = first.base_sequence;
        }
        for flight in taken.into_iter().rev() {
            by_corr.remove(&flight.corr);
            let bytes = flight.records.size();
            self.queue.push_front(OpenBatch { records: flight.records, bytes, since: Some(Instant::now()) });
        }
    }
}

struct Stream {
    tx: mpsc::Sender<v1::ProduceRequest>,
    responses: tonic::Streaming<v1::ProduceResponse>,
}

struct Engine {
    connection: Connection,
    topic: String,
    partitions: u32,
    producer_id: i64,
    epoch: i16,
    chooser: PartitionChooser,
    options: ProducerOptions,
    rx: mpsc::UnboundedReceiver<Command>,
    room: Arc<Semaphore>,
    parts: HashMap<u32, PartitionState>,
    stream: Option<Stream>,
    next_corr: u64,
    /// Correlation id of each in-flight batch → its partition.
    by_corr: HashMap<u64, u32>,
    /// A flush is waiting: send batches without lingering until all is sent.
    urgent: bool,
    /// Whether a batch may or may not have been stored (its delivery timed out,
    /// or the broker lost its sequence): new batches then go under a new
    /// producer id, whose sequences start afresh.
    reinit: bool,
    /// After a failure, nothing is (re)sent before this instant.
    backoff_until: Option<Instant>,
    /// Since when nothing is buffered or in flight (while a stream is open).
    idle_since: Option<Instant>,
    backoff: Backoff,
}

impl Engine {
    async fn run(mut self) {
        let mut open = true;
        loop {
            self.ship().await;
            let idle = self.is_idle();
            if !open && idle {
                break;
            }
            self.idle_since = match (idle, self.idle_since) {
                (false, _) => None,
                (true, Some(since)) if since.elapsed() >= STREAM_IDLE => {
                    // Closing the request side ends the stream cleanly.
                    self.stream = None;
                    None
                }
                (true, since) if self.stream.is_some() => Some(since.unwrap_or_else(Instant::now)),
                (true, _) => None,
            };
            let wake = self.next_wake();
            tokio::select! {
                biased;
                resp = next_response(&mut self.stream) => self.on_response(resp),
                cmd = self.rx.recv(), if open => match cmd {
                    Some(cmd) => {
                        self.on_command(cmd);
                        // Take what else is queued without waking up for each record.
                        while let Ok(cmd) = self.rx.try_recv() {
                            self.on_command(cmd);
                        }
                    }
                    None => {
                        // Every handle is gone: send what is buffered, then stop.
                        open = false;
                        self.urgent = true;
                    }
                },
                _ = sleep_until(wake) => {}
            }
        }
        self.room.close();
    }

    fn is_idle(&self) -> bool {
        self.parts.values().all(|p| p.queue.is_empty() && p.in_flight.is_empty())
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Flush => self.urgent = true,
            Command::Whole(whole) => {
                let n = self.partitions;
                let p =
                    match choose_partition(whole.partition, &whole.keys, &self.topic, n, &mut self.chooser) {
                        Ok(p) => p,
                        Err(e) => {
                            self.room.add_permits(whole.permits);
                            let _ = whole.reply.send(Err(e));
                            return;
                        }
                    };
                // It goes whole, as the caller built it, after what is queued (which it seals).
                let state = self.parts.entry(p).or_default();
                let mut batch =
                    OpenBatch { records: Contents::Whole(whole), bytes: 0, since: Some(Instant::now()) };
                batch.bytes = batch.records.size();
                state.queue.push_back(batch);
                self.chooser.batch_sealed(p, n);
            }
            Command::Record(rec, partition) => {
                let n = self.partitions;
                let p = partition.unwrap_or_else(|| self.chooser.choose(rec.key.as_deref(), n));
                let size = rec.size();
                let (batch_records, batch_bytes) = (self.options.batch_records, self.options.batch_bytes);
                let state = self.parts.entry(p).or_default();
                let needs_new = match state.queue.back() {
                    None => true,
                    Some(OpenBatch { records: Contents::Whole(_), .. }) => true,
                    Some(b) => {
                        b.records.len() >= batch_records
                            || (b.bytes + size > batch_bytes && !b.records.is_empty())
                    }
                };
                if needs_new {
                    if !state.queue.is_empty() {
                        self.chooser.batch_sealed(p, n);
                    }
                    state.queue.push_back(OpenBatch::default());
                }
                let Some(batch) = state.queue.back_mut() else { return };
                let Contents::Records(records) = &mut batch.records else { return };
                batch.since.get_or_insert_with(Instant::now);
                batch.bytes += size;
                records.push(rec);
            }
        }
    }

    /// When the loop must wake up without input: a linger expiring, a back-off ending.
    fn next_wake(&self) -> Option<Instant> {
        if let Some(until) = self.backoff_until {
            return Some(until);
        }
        let mut wake: Option<Instant> = self.idle_since.map(|since| since + STREAM_IDLE);
        for state in self.parts.values() {
            if let Some(f) = state.in_flight.front() {
                // Answers wake the loop; the delivery deadline must too.
                wake = Some(wake.map_or(f.deadline, |w| w.min(f.deadline)));
            }
            if state.in_flight.len() >= state.in_flight_limit() {
                continue;
            }
            if let Some(since) = state.queue.front().and_then(|b| b.since) {
                let at = since + self.options.linger;
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }

    /// Sends every batch that is due and whose partition has a free slot, and
    /// resends batches waiting for a retry.
    async fn ship(&mut self) {
        let now = Instant::now();
        self.expire(now);
        if let Some(until) = self.backoff_until {
            if now < until {
                return;
            }
            self.backoff_until = None;
        }
        if self.reinit {
            // A new producer id only once nothing of the old one is in flight,
            // so that its batches cannot overtake the old ones.
            if self.parts.values().any(|p| !p.in_flight.is_empty()) {
                return;
            }
            let mut svc = self.connection.broker();
            match svc.init_producer(v1::InitProducerRequest {}).await {
                Ok(init) => {
                    let init = init.into_inner();
                    self.producer_id = init.producer_id;
                    self.epoch = i16::try_from(init.epoch).unwrap_or(i16::MAX);
                    for state in self.parts.values_mut() {
                        state.next_sequence = 0;
                        state.confirmed = false;
                    }
                    self.reinit = false;
                }
                Err(status) => {
                    tracing::debug!(%status, "cannot take a new producer id; backing off");
                    self.start_backoff();
                    return;
                }
            }
        }
        let mut in_flight: usize = self.parts.values().map(|p| p.in_flight.len()).sum();
        let mut in_flight_bytes: usize =
            self.parts.values().flat_map(|p| p.in_flight.iter()).map(|f| f.bytes.len()).sum();
        let mut to_send: Vec<v1::ProduceRequest> = Vec::new();
        let mut partitions: Vec<u32> = self.parts.keys().copied().collect();
        partitions.sort_unstable();
        for p in partitions {
            let Some(state) = self.parts.get_mut(&p) else { continue };
            if state.resend {
                // Same bytes, same sequences, in order: what the broker already
                // appended it answers as a duplicate.
                state.resend = false;
                for f in state.in_flight.iter_mut() {
                    self.by_corr.remove(&f.corr);
                    f.corr = self.next_corr;
                    self.next_corr += 1;
                    self.by_corr.insert(f.corr, p);
                    to_send.push(request(f.corr, &self.topic, p, f.bytes.clone()));
                }
            }
            while in_flight < self.options.max_in_flight && state.in_flight.len() < state.in_flight_limit() {
                let due = match state.queue.front() {
                    None => false,
                    Some(b) if b.records.is_empty() => false,
                    Some(OpenBatch { records: Contents::Whole(_), .. }) => true,
                    Some(b) => {
                        state.queue.len() > 1
                            || self.urgent
                            || b.records.len() >= self.options.batch_records
                            || b.bytes >= self.options.batch_bytes
                            || b.since.is_some_and(|s| now >= s + self.options.linger)
                    }
                };
                // Bytes in flight are capped too (one batch may always go).
                let over_bytes = in_flight > 0 && in_flight_bytes >= MAX_IN_FLIGHT_BYTES;
                if !due || over_bytes {
                    break;
                }
                let Some(mut batch) = state.queue.pop_front() else { break };
                if state.queue.is_empty() {
                    self.chooser.batch_sealed(p, self.partitions);
                }
                let base_sequence = state.next_sequence;
                let bytes = match batch.records.encode(self.producer_id, self.epoch, base_sequence) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        // Only a batch taken back can fail here (its bytes no longer parse).
                        self.room.add_permits(batch.records.permits());
                        batch.records.failed(&e);
                        continue;
                    }
                };
                let corr = self.next_corr;
                self.next_corr += 1;
                state.next_sequence = base_sequence.wrapping_add(batch.records.len() as i32);
                to_send.push(request(corr, &self.topic, p, bytes.clone()));
                state.in_flight.push_back(InFlight {
                    corr,
                    records: batch.records,
                    bytes,
                    base_sequence,
                    deadline: now + self.options.delivery_timeout,
                    last_error: None,
                });
                self.by_corr.insert(corr, p);
                in_flight += 1;
                in_flight_bytes += state.in_flight.back().map_or(0, |f| f.bytes.len());
            }
        }
        if self.urgent && self.parts.values().all(|p| p.queue.iter().all(|b| b.records.is_empty())) {
            self.urgent = false;
        }
        if to_send.is_empty() {
            return;
        }
        if let Err(e) = self.send_all(to_send).await {
            self.stream_failed(e);
        }
    }

    async fn send_all(&mut self, requests: Vec<v1::ProduceRequest>) -> Result<(), ClientError> {
        if self.stream.is_none() {
            // The first requests go into the channel before the call: a server
            // may wait for a request before it answers with the stream.
            let (tx, rx) = mpsc::channel(self.options.max_in_flight.max(1) * 2);
            let mut requests = requests.into_iter();
            for req in requests.by_ref().take(tx.max_capacity()) {
                let _ = tx.try_send(req);
            }
            let responses = produce_call::produce_stream(&self.connection, rx).await?;
            self.stream = Some(Stream { tx: tx.clone(), responses });
            for req in requests {
                tx.send(req)
                    .await
                    .map_err(|_| ClientError::Transport(tonic::Status::unavailable("stream closed")))?;
            }
            return Ok(());
        }
        if let Some(stream) = &self.stream {
            for req in requests {
                stream
                    .tx
                    .send(req)
                    .await
                    .map_err(|_| ClientError::Transport(tonic::Status::unavailable("stream closed")))?;
            }
        }
        Ok(())
    }

    /// The stream broke: everything in flight is resent on a new one after a back-off.
    fn stream_failed(&mut self, error: ClientError) {
        tracing::debug!(%error, topic = %self.topic, "produce stream failed; resending in-flight batches");
        self.stream = None;
        for state in self.parts.values_mut() {
            state.resend = !state.in_flight.is_empty();
            for f in state.in_flight.iter_mut() {
                f.last_error = Some(clone_error(&error));
            }
        }
        self.start_backoff();
    }

    fn start_backoff(&mut self) {
        // The loop sleeps (to keep taking records meanwhile), not the back-off.
        let delay = self.backoff.next_delay();
        self.backoff_until = Some(Instant::now() + delay);
    }

    fn on_response(&mut self, resp: Option<Result<v1::ProduceResponse, tonic::Status>>) {
        let resp = match resp {
            Some(Ok(resp)) => resp,
            Some(Err(status)) => return self.stream_failed(ClientError::Transport(status)),
            None => {
                return self.stream_failed(ClientError::Transport(tonic::Status::unavailable("stream ended")))
            }
        };
        // An answer to an attempt that was superseded by a resend is ignored.
        let Some(p) = self.by_corr.remove(&resp.correlation_id) else { return };
        let Some(state) = self.parts.get_mut(&p) else { return };
        let Some(pos) = state.in_flight.iter().position(|f| f.corr == resp.correlation_id) else { return };
        let Some(err) = resp.error.as_ref().filter(|e| e.code != v1::ErrorCode::Unspecified as i32) else {
            // Stored (or a duplicate of a stored batch): offsets follow the base offset.
            let Some(flight) = state.in_flight.remove(pos) else { return };
            state.confirmed = true;
            self.backoff.reset(self.connection.options());
            let n = flight.records.permits();
            flight.records.stored(p, resp.base_offset, resp.log_append_time_ms);
            self.room.add_permits(n);
            return;
        };
        let error = ClientError::from_broker(&self.topic, p, err);
        let code = v1::ErrorCode::try_from(err.code).unwrap_or(v1::ErrorCode::Unspecified);
        // A gap behind an earlier batch still unanswered: send again in order.
        let gap = code == v1::ErrorCode::OutOfOrderSequence && pos > 0;
        let retryable = err.retryable || error.is_retryable() || gap;
        let within_deadline = state.in_flight.get(pos).is_some_and(|f| Instant::now() < f.deadline);
        if retryable && within_deadline {
            // Nothing of this batch was appended, nor of the ones after it
            // (a gap in the sequence): send them all again, in order.
            for f in state.in_flight.iter_mut().skip(pos) {
                self.by_corr.remove(&f.corr);
                f.last_error = Some(clone_error(&error));
            }
            state.resend = true;
            self.start_backoff();
            return;
        }
        let Some(flight) = state.in_flight.remove(pos) else { return };
        let next_sequence = flight.base_sequence;
        let index = usize::try_from(err.record_index).ok().filter(|&i| i < flight.records.len());
        let mut rest = None;
        match (index, code, flight.records) {
            (
                Some(i),
                v1::ErrorCode::InvalidRecord | v1::ErrorCode::TooLarge,
                Contents::Records(mut records),
            ) if records.len() > 1 => {
                // One record was refused and nothing appended: that record fails,
                // the others go back to the front of the queue.
                let bad = records.remove(i);
                let _ = bad.reply.send(Err(error));
                self.room.add_permits(1);
                rest = Some(records);
            }
            (_, _, records) => {
                if code == v1::ErrorCode::OutOfOrderSequence {
                    // The broker lost this producer's sequence: start a new one.
                    self.reinit = true;
                }
                let n = records.permits();
                records.failed(&error);
                self.room.add_permits(n);
            }
        }
        // The batches sent after the failed one fail on the gap; take them back
        // and send them (and the failed batch's other records) under new sequences.
        state.requeue_from(pos, &mut self.by_corr);
        state.next_sequence = next_sequence;
        if let Some(records) = rest {
            let bytes = records.iter().map(Pending::size).sum();
            state.queue.push_front(OpenBatch {
                records: Contents::Records(records),
                bytes,
                since: Some(Instant::now()),
            });
        }
        self.urgent = true;
    }

    /// Fails in-flight batches whose delivery timeout has passed.
    fn expire(&mut self, now: Instant) {
        for (&p, state) in self.parts.iter_mut() {
            let expired = state.in_flight.front().is_some_and(|f| now >= f.deadline);
            if !expired {
                continue;
            }
            // Those batches may or may not have been stored: continuing their
            // sequence could leave a gap, repeating it a duplicate. They fail,
            // and a new producer id starts a new sequence.
            self.reinit = true;
            state.resend = false;
            for flight in std::mem::take(&mut state.in_flight) {
                self.by_corr.remove(&flight.corr);
                let error = flight.last_error.unwrap_or_else(|| {
                    ClientError::Timeout(format!(
                        "no answer for a batch of partition {p} within the delivery timeout"
                    ))
                });
                let n = flight.records.permits();
                flight.records.failed(&error);
                self.room.add_permits(n);
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Whatever ended the engine (even a panic), waiting senders and
        // flushes must not wait forever: they get `Closed`.
        self.room.close();
    }
}

fn request(corr: u64, topic: &str, partition: u32, batch: Bytes) -> v1::ProduceRequest {
    v1::ProduceRequest { correlation_id: corr, topic: topic.to_owned(), partition, batch }
}

fn encode_batch(records: &[Pending], producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
    let bytes: usize = records.iter().map(Pending::size).sum();
    let mut builder = BatchBuilder::with_capacity(bytes);
    let mut headers: Vec<(&str, &[u8])> = Vec::new();
    for rec in records {
        headers.clear();
        headers.extend(rec.headers.iter().map(|(k, v)| (k.as_str(), v.as_ref())));
        builder.push(rec.key.as_deref(), Some(&rec.value), rec.timestamp_ms, &headers);
    }
    builder.finish(producer_id, epoch, base_sequence)
}

async fn next_response(stream: &mut Option<Stream>) -> Option<Result<v1::ProduceResponse, tonic::Status>> {
    match stream {
        Some(s) => s.responses.message().await.transpose(),
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Errors are not `Clone` (they wrap a `tonic::Status`); a batch's error goes
/// to each of its records, so it is rebuilt per record.
fn clone_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::UnknownTopic { topic } => ClientError::UnknownTopic { topic: topic.clone() },
        ClientError::UnknownPartition { topic, partition } => {
            ClientError::UnknownPartition { topic: topic.clone(), partition: *partition }
        }
        ClientError::Refused { record_index, path, reason } => {
            ClientError::Refused { record_index: *record_index, path: path.clone(), reason: reason.clone() }
        }
        ClientError::Broker { code, message } => {
            ClientError::Broker { code: *code, message: message.clone() }
        }
        ClientError::Transport(s) => ClientError::Transport(tonic::Status::new(s.code(), s.message())),
        ClientError::Timeout(m) => ClientError::Timeout(m.clone()),
        other => ClientError::Broker { code: v1::ErrorCode::Internal, message: other.to_string() },
    }
}
