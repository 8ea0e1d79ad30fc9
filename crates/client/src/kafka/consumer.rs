//! The Kafka side of [`Consumer<T>`](crate::Consumer): a librdkafka consumer
//! that is either a member of a classic consumer group (subscribe; the
//! cluster's coordinator assigns partitions, committed offsets resume) or,
//! without a group, assigned every partition (or the chosen ones) at the
//! configured position. It yields [`RawMessage`]s, which the typed consumer
//! decodes exactly as it decodes records fetched over gRPC.
//!
//! Offsets follow the gRPC consumer's rule: a record handed to the caller
//! counts as processed (librdkafka stores its offset on delivery), and a
//! commit, automatic at the configured interval or explicit, commits what
//! was processed.
//!
//! Records are taken from librdkafka's queue without waiting, as the typed
//! consumer asks for them ([`RecordSource::try_next`]): no future and no waker
//! per record. A consumer of a group takes one record per `poll` (which also
//! serves the group's events: rebalances, commits). A consumer without a group
//! has no such events, and takes up to [`BATCH`] records per call of
//! librdkafka's `rd_kafka_consume_batch_queue` ([`BatchQueue`]): per record
//! then only the copy of its key and value, where a `poll` costs two clock
//! reads, an event and an allocation. Only at an empty queue does the reader
//! wait, woken by librdkafka's callback for a queue that becomes non-empty.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::task::AtomicWaker;
use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{Offset, TopicPartitionList};

use super::config::KafkaConfig;
use super::librdkafka::{
    base_config, blocking, kafka_error, partition_count, resolve_offsets, unsupported, OutOfRange,
};
use crate::error::ClientError;
use crate::transport::{Acknowledge, ConsumerControl, ConsumerOptions, Position, RawMessage, RecordSource};

/// Longest wait of a reader without a `poll` (see `KafkaReader::next`).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Extra polls of a waiting reader, past events that are not records.
const EVENT_POLLS: usize = 4;

/// How soon librdkafka looks again at a partition it stopped fetching because
/// its queue was full (see `open`).
const FETCH_QUEUE_BACKOFF_MS: &str = "5";

struct Shared {
    consumer: ClosedOffRuntime,
    topic: String,
    group: Option<String>,
    /// The reader waiting at an empty queue; woken by librdkafka's
    /// queue-non-empty callback.
    waker: Arc<AtomicWaker>,
    /// How long the reader may wait without polling: [`IDLE_POLL`], or half
    /// of librdkafka's `max.poll.interval.ms` when that is shorter, so that an
    /// idle member stays in its group.
    idle_poll: Duration,
    /// Partitions sought since the reader last looked: records of theirs it
    /// took from librdkafka before the seek are dropped.
    sought: parking_lot::Mutex<Vec<u32>>,
    /// Whether `sought` has any (read per record, without the lock).
    any_sought: AtomicBool,
    /// Without a group: per partition, the offset of the next record the
    /// reader hands out (where it starts, until one is handed out). The
    /// reader takes records from librdkafka ahead of handing them out, so
    /// librdkafka's own position runs ahead; this one does not. Set once the
    /// partitions are known; empty for a group member.
    positions: std::sync::OnceLock<Box<[AtomicI64]>>,
}

impl Shared {
    /// Notes that the record at `offset` of `partition` was handed out.
    fn delivered(&self, partition: u32, offset: i64) {
        if let Some(p) = self.positions.get().and_then(|ps| ps.get(partition as usize)) {
            p.store(offset + 1, Ordering::Relaxed);
        }
    }
}

/// librdkafka's consumer, closed on a thread of its own when dropped.
///
/// Dropping a `BaseConsumer` closes it there and then: it revokes the
/// assignment, commits, leaves the group and polls until the coordinator has
/// answered. On an async worker that blocks the thread for as long, and when
/// the broker answering is served by the same runtime (an embedded server, a
/// test) and every worker is blocked so, nothing answers and the close never
/// ends. With the broker gone the close does not end either (librdkafka keeps
/// looking for the coordinator), so the thread is not one of the runtime's
/// blocking pool, which a runtime waits for when it shuts down: a process
/// ending does not wait for it. [`Consumer::close`](crate::Consumer::close)
/// is the way to close and learn how it went.
struct ClosedOffRuntime(std::mem::ManuallyDrop<BaseConsumer>);

impl std::ops::Deref for ClosedOffRuntime {
    type Target = BaseConsumer;

    fn deref(&self) -> &BaseConsumer {
        &self.0
    }
}

impl Drop for ClosedOffRuntime {
    fn drop(&mut self) {
        // SAFETY: the consumer is taken once, here, and `self` is not used again.
        let consumer = unsafe { std::mem::ManuallyDrop::take(&mut self.0) };
        // Should no thread be had, the closure is dropped, and the consumer
        // closed with it, here: rather than not at all.
        let _ = std::thread::Builder::new().name("runnel-kafka-close".into()).spawn(move || drop(consumer));
    }
}

/// The control side: commits, seeks, the assignment. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KafkaHandle {
    shared: Arc<Shared>,
}

/// The records side.
pub(crate) struct KafkaReader {
    /// Declared before `shared`: the queue handle goes before the consumer.
    batch: Option<BatchQueue>,
    /// Records (and errors) taken from librdkafka by `batch`, not yet handed out.
    ready: VecDeque<Result<RawMessage, KafkaError>>,
    shared: Arc<Shared>,
    /// An error met by `try_next`, returned by the next `next`.
    pending_error: Option<ClientError>,
    /// Where values and keys are copied out of librdkafka's buffers: one
    /// allocation per [`ARENA_BYTES`] instead of one per record, each value a
    /// shared slice of it (as the gRPC path's values are slices of the fetched
    /// batches).
    arena: BytesMut,
}

/// Size of each block of `KafkaReader::arena`.
const ARENA_BYTES: usize = 64 * 1024;

/// A delivered record counts as processed: librdkafka stores its offset as it
/// hands it over, which is what `ack` marks on the gRPC transport. Nothing to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoredOnDelivery;

impl Acknowledge for StoredOnDelivery {
    fn mark(&self, _partition: u32, _offset: i64) {}
}

/// Opens a consumer of `topic` with the builder's options.
pub(crate) async fn open(
    kafka: &KafkaConfig,
    topic: &str,
    options: ConsumerOptions,
) -> Result<(KafkaHandle, KafkaReader), ClientError> {
    let mut config = base_config(kafka);
    config.set("enable.partition.eof", "false");
    // librdkafka stops fetching while its consumer queue (all partitions
    // together) holds queued.min.messages, and looks again only after
    // fetch.queue.backoff.ms, one second by default: a reader that drains
    // the queue in a fraction of that then waits for the rest of it.
    config.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    match &options.group {
        Some(group) => {
            if !options.partitions.is_empty() {
                return Err(unsupported("partitions(..) together with a group"));
            }
            let reset = match options.from {
                Position::Earliest => "earliest",
                Position::Latest => "latest",
                Position::Offset(_) | Position::Timestamp(_) => {
                    return Err(unsupported(
                        "a group starting at an offset or a timestamp (use Position::Earliest or \
                         Position::Latest, or seek after the assignment)",
                    ))
                }
            };
            let session_ms = options.session_timeout.as_millis().clamp(1, i32::MAX as u128);
            config
                .set("group.id", group)
                .set("auto.offset.reset", reset)
                .set("session.timeout.ms", session_ms.to_string())
                // librdkafka wants the heartbeat well inside the session.
                .set("heartbeat.interval.ms", (session_ms / 3).clamp(1, 3000).to_string())
                .set("enable.auto.offset.store", "true");
            match options.auto_commit {
                Some(every) => config
                    .set("enable.auto.commit", "true")
                    .set("auto.commit.interval.ms", every.as_millis().clamp(1, i32::MAX as u128).to_string()),
                None => config.set("enable.auto.commit", "false"),
            };
        }
        None => {
            // librdkafka's assign() needs a group id although assigning joins no
            // group: a private one, never committed to. Out-of-range offsets clamp to the start.
            config
                .set("group.id", private_group_id())
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest");
        }
    }
    for (k, v) in &kafka.properties {
        config.set(k, v);
    }
    let idle_poll = config
        .get("max.poll.interval.ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(IDLE_POLL, |ms| Duration::from_millis(ms / 2).min(IDLE_POLL));
    let mut consumer: BaseConsumer =
        config.create().map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
    let waker = Arc::new(AtomicWaker::new());
    let wake = Arc::clone(&waker);
    consumer.set_nonempty_callback(move || wake.wake());
    let shared = Arc::new(Shared {
        consumer: ClosedOffRuntime(std::mem::ManuallyDrop::new(consumer)),
        topic: topic.to_owned(),
        group: options.group.clone(),
        waker,
        idle_poll: idle_poll.max(Duration::from_millis(10)),
        sought: parking_lot::Mutex::new(Vec::new()),
        any_sought: AtomicBool::new(false),
        positions: std::sync::OnceLock::new(),
    });
    let probe = shared.clone();
    let (name, timeout) = (topic.to_owned(), kafka.connect_timeout);
    let n = partition_count(topic, move || probe.consumer.fetch_metadata(Some(&name), timeout)).await?;
    if shared.group.is_some() {
        shared
            .consumer
            .subscribe(&[topic])
            .map_err(|e| kafka_error(&format!("cannot subscribe to `{topic}`"), e))?;
    } else {
        let mut partitions: Vec<u32> =
            if options.partitions.is_empty() { (0..n).collect() } else { options.partitions.clone() };
        partitions.sort_unstable();
        partitions.dedup();
        if let Some(&p) = partitions.iter().find(|&&p| p >= n) {
            return Err(ClientError::UnknownPartition { topic: topic.to_owned(), partition: p });
        }
        let assignment = starting_offsets(&shared, &partitions, options.from, timeout).await?;
        let starts: Box<[AtomicI64]> = (0..n).map(|_| AtomicI64::new(-1)).collect();
        for e in assignment.elements_for_topic(topic) {
            if let (Some(start), Offset::Offset(o)) = (starts.get(e.partition() as usize), e.offset()) {
                start.store(o, Ordering::Relaxed);
            }
        }
        let _ = shared.positions.set(starts);
        shared
            .consumer
            .assign(&assignment)
            .map_err(|e| kafka_error(&format!("cannot assign the partitions of `{topic}`"), e))?;
    }
    // Without a group the queue carries no rebalance nor commit events, which
    // only `poll` serves: records may be taken many at a time.
    let batch = if shared.group.is_none() { BatchQueue::of(&shared.consumer) } else { None };
    Ok((
        KafkaHandle { shared: shared.clone() },
        KafkaReader { batch, ready: VecDeque::new(), shared, pending_error: None, arena: BytesMut::new() },
    ))
}

/// A group id no one else uses, for a consumer that assigns its partitions itself.
fn private_group_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("runnel-assigned-{}-{nanos}-{n}", std::process::id())
}

/// Where each partition starts for a consumer without a group, as offsets
/// (not librdkafka's symbolic beginning and end), so that the consumer's
/// position is known before its first record; an offset out of range starts
/// at the partition's start, as librdkafka would reset it.
async fn starting_offsets(
    shared: &Arc<Shared>,
    partitions: &[u32],
    from: Position,
    timeout: Duration,
) -> Result<TopicPartitionList, ClientError> {
    let probe = shared.clone();
    let partitions = partitions.to_vec();
    let starts = blocking(move || {
        resolve_offsets(&probe.consumer, &probe.topic, &partitions, from, OutOfRange::Start, timeout)
    })
    .await??;
    let mut resolved = TopicPartitionList::with_capacity(starts.len());
    for (p, start) in starts {
        resolved
            .add_partition_offset(&shared.topic, p as i32, Offset::Offset(start))
            .map_err(|e| kafka_error("offsets", e))?;
    }
    Ok(resolved)
}

impl KafkaReader {
    /// One record from librdkafka's queue without waiting (`Poll::Pending`
    /// when it is empty); librdkafka's errors (a broker unreachable, a
    /// refused fetch) are `Err` items and reading goes on.
    fn poll_record(&mut self) -> Poll<Result<RawMessage, ClientError>> {
        let Some(batch) = &self.batch else {
            return match self.shared.consumer.poll(Duration::ZERO) {
                None => Poll::Pending,
                Some(Err(e)) => Poll::Ready(Err(self.consume_error(e))),
                Some(Ok(msg)) => Poll::Ready(Ok(raw_message(&msg, &mut self.arena))),
            };
        };
        if self.ready.is_empty() {
            batch.take(&mut self.ready, &mut self.arena);
        }
        if self.shared.any_sought.load(Ordering::Acquire) {
            self.drop_sought();
        }
        match self.ready.pop_front() {
            None => Poll::Pending,
            Some(Ok(msg)) => {
                self.shared.delivered(msg.partition, msg.offset);
                Poll::Ready(Ok(msg))
            }
            Some(Err(e)) => Poll::Ready(Err(self.consume_error(e))),
        }
    }

    fn consume_error(&self, e: KafkaError) -> ClientError {
        kafka_error(&format!("consuming `{}`", self.shared.topic), e)
    }

    /// Drops the records taken before a seek of their partition (librdkafka
    /// drops those still in its queue).
    fn drop_sought(&mut self) {
        let sought = std::mem::take(&mut *self.shared.sought.lock());
        self.shared.any_sought.store(false, Ordering::Release);
        self.ready.retain(|r| !matches!(r, Ok(m) if sought.contains(&m.partition)));
    }
}

/// Records taken from librdkafka per `rd_kafka_consume_batch_queue` call, at most.
const BATCH: usize = 256;

/// librdkafka's consumer queue, read [`BATCH`] records per call (consumers
/// without a group: see the module's doc).
struct BatchQueue(NonNull<rdsys::rd_kafka_queue_t>);

// SAFETY: librdkafka's queues may be used from any thread (its calls lock
// the queue); the handle is only read through `&self` and freed once, in `drop`.
unsafe impl Send for BatchQueue {}
unsafe impl Sync for BatchQueue {}

impl BatchQueue {
    /// A handle of `consumer`'s queue (where fetched records arrive).
    fn of(consumer: &BaseConsumer) -> Option<BatchQueue> {
        // SAFETY: the client pointer is valid while `consumer` lives; the
        // returned handle holds its own reference to the queue, released in `drop`.
        NonNull::new(unsafe { rdsys::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) })
            .map(BatchQueue)
    }

    /// Takes what is queued now, up to [`BATCH`] records, into `out`:
    /// records copied out (into `arena`), errors as `Err` items.
    fn take(&self, out: &mut VecDeque<Result<RawMessage, KafkaError>>, arena: &mut BytesMut) {
        let mut messages = [std::ptr::null_mut::<rdsys::rd_kafka_message_t>(); BATCH];
        // SAFETY: the queue handle is valid (owned by `self`); `messages` has
        // room for BATCH pointers, which librdkafka fills from the start and
        // says how many (-1 on a bad argument). Timeout 0: never waits.
        let n =
            unsafe { rdsys::rd_kafka_consume_batch_queue(self.0.as_ptr(), 0, messages.as_mut_ptr(), BATCH) };
        let n = usize::try_from(n).unwrap_or(0).min(BATCH);
        for &m in &messages[..n] {
            // SAFETY: librdkafka returned `m` as a message the caller owns
            // until `rd_kafka_message_destroy`; it is read before that only.
            let item = unsafe { message_of(&*m, arena) };
            // SAFETY: as above; `m` is not used after this.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
            out.push_back(item);
        }
    }
}

impl Drop for BatchQueue {
    fn drop(&mut self) {
        // SAFETY: the handle came from `rd_kafka_queue_get_consumer` and is released once.
        unsafe { rdsys::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// `len` bytes at `ptr` as a slice; `None` for a null pointer.
///
/// # Safety
/// A non-null `ptr` must point to `len` readable bytes that outlive `'a`.
unsafe fn bytes_at<'a>(ptr: *const std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller's promise.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The record of a consumed librdkafka message (key, value and headers copied
/// out, as [`raw_message`] does), or its error.
///
/// # Safety
/// `m` must be a message returned by a consume call and not yet destroyed.
unsafe fn message_of(m: &rdsys::rd_kafka_message_t, arena: &mut BytesMut) -> Result<RawMessage, KafkaError> {
    if m.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(KafkaError::MessageConsumption(m.err.into()));
    }
    // SAFETY (this block): the message's key and payload are `key_len` and
    // `len` bytes owned by the message; its timestamp and headers are read
    // through librdkafka's accessors, and the headers' names and values
    // belong to the message, all alive until it is destroyed (after this).
    unsafe {
        let mut ts_type = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        let ts = rdsys::rd_kafka_message_timestamp(m, &mut ts_type);
        let timestamp_ms = if ts_type == rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE {
            0
        } else {
            ts
        };
        let mut headers = Vec::new();
        let mut hdrs: *mut rdsys::rd_kafka_headers_t = std::ptr::null_mut();
        if rdsys::rd_kafka_message_headers(m, &mut hdrs)
            == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            && !hdrs.is_null()
        {
            let count = rdsys::rd_kafka_header_cnt(hdrs);
            headers.reserve(count);
            for i in 0..count {
                let mut name: *const std::ffi::c_char = std::ptr::null();
                let mut value: *const std::ffi::c_void = std::ptr::null();
                let mut size = 0usize;
                if rdsys::rd_kafka_header_get_all(hdrs, i, &mut name, &mut value, &mut size)
                    != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                    || name.is_null()
                {
                    break;
                }
                let name = std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned();
                headers.push((name, bytes_at(value, size).map_or_else(Bytes::new, Bytes::copy_from_slice)));
            }
        }
        Ok(RawMessage {
            partition: m.partition as u32,
            offset: m.offset,
            timestamp_ms,
            key: bytes_at(m.key, m.key_len).map(|k| copy_into(arena, k)),
            value: bytes_at(m.payload, m.len).map_or_else(Bytes::new, |v| copy_into(arena, v)),
            headers,
        })
    }
}

/// `bytes` copied into `arena` (a fresh block when it has no room left).
fn copy_into(arena: &mut BytesMut, bytes: &[u8]) -> Bytes {
    if arena.capacity() - arena.len() < bytes.len() {
        *arena = BytesMut::with_capacity(ARENA_BYTES.max(bytes.len()));
    }
    arena.extend_from_slice(bytes);
    arena.split().freeze()
}

/// The record of a librdkafka message: key, value and headers copied out of
/// librdkafka's buffer (which is released as the message is dropped).
fn raw_message(msg: &rdkafka::message::BorrowedMessage<'_>, arena: &mut BytesMut) -> RawMessage {
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_owned(), h.value.map_or_else(Bytes::new, Bytes::copy_from_slice)))
                .collect()
        })
        .unwrap_or_default();
    RawMessage {
        partition: msg.partition() as u32,
        offset: msg.offset(),
        timestamp_ms: msg.timestamp().to_millis().unwrap_or(0),
        key: msg.key().map(|k| copy_into(arena, k)),
        value: msg.payload().map_or_else(Bytes::new, |v| copy_into(arena, v)),
        headers,
    }
}

impl RecordSource for KafkaReader {
    type Acker = StoredOnDelivery;

    /// The next record when librdkafka has one queued. An error waits for
    /// [`next`](RecordSource::next), which returns it.
    fn try_next(&mut self) -> Option<RawMessage> {
        match self.poll_record() {
            Poll::Ready(Ok(msg)) => Some(msg),
            Poll::Ready(Err(e)) => {
                self.pending_error = Some(e);
                None
            }
            Poll::Pending => None,
        }
    }

    /// The next record, waiting for one.
    async fn next(&mut self) -> Option<Result<RawMessage, ClientError>> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        loop {
            let waited = tokio::time::timeout(
                self.shared.idle_poll,
                std::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = self.poll_record() {
                        return Poll::Ready(r);
                    }
                    // Registered before polling again: a record queued in
                    // between fires the callback, which wakes this task.
                    self.shared.waker.register(cx.waker());
                    // `poll` answers nothing both at an empty queue and for an
                    // event it handled itself (a rebalance, a commit's result);
                    // records queued behind such events fire no callback, so
                    // look a few times more.
                    for _ in 0..EVENT_POLLS {
                        if let Poll::Ready(r) = self.poll_record() {
                            return Poll::Ready(r);
                        }
                    }
                    Poll::Pending
                }),
            )
            .await;
            // Timed out: poll again (librdkafka counts an idle wait without
            // poll calls against max.poll.interval.ms, and records behind
            // more events than `EVENT_POLLS` wait at most this long).
            if let Ok(r) = waited {
                return Some(r);
            }
        }
    }

    fn acker(&self) -> StoredOnDelivery {
        StoredOnDelivery
    }
}

impl KafkaHandle {
    fn require_group(&self) -> Result<(), ClientError> {
        match self.shared.group {
            Some(_) => Ok(()),
            None => Err(ClientError::InvalidArgument("commit needs a consumer group".into())),
        }
    }

    fn commit_result(&self, result: Result<(), KafkaError>) -> Result<(), ClientError> {
        match result {
            // Nothing delivered since the last commit: nothing to do.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(kafka_error(&format!("committing offsets of `{}`", self.shared.topic), e)),
            Ok(()) => Ok(()),
        }
    }
}

impl ConsumerControl for KafkaHandle {
    /// The topic.
    fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// The partitions this consumer currently reads.
    fn assignment(&self) -> Vec<u32> {
        let mut parts: Vec<u32> = match self.shared.consumer.assignment() {
            Ok(tpl) => {
                tpl.elements_for_topic(&self.shared.topic).iter().map(|e| e.partition() as u32).collect()
            }
            Err(_) => Vec::new(),
        };
        parts.sort_unstable();
        parts
    }

    /// Commits every record delivered so far.
    async fn commit(&self) -> Result<(), ClientError> {
        self.require_group()?;
        let shared = self.shared.clone();
        let result = blocking(move || shared.consumer.commit_consumer_state(CommitMode::Sync)).await?;
        self.commit_result(result)
    }

    /// Commits `next_offset` (the offset after the last processed record) for `partition`.
    async fn commit_offset(&self, partition: u32, next_offset: i64) -> Result<(), ClientError> {
        self.require_group()?;
        let mut tpl = TopicPartitionList::with_capacity(1);
        tpl.add_partition_offset(&self.shared.topic, partition as i32, Offset::Offset(next_offset))
            .map_err(|e| kafka_error("offsets", e))?;
        let shared = self.shared.clone();
        let result = blocking(move || shared.consumer.commit(&tpl, CommitMode::Sync)).await?;
        self.commit_result(result)
    }

    /// Continues `partition` at `offset`.
    fn seek(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        if !self.assignment().contains(&partition) {
            return Err(ClientError::InvalidArgument(format!(
                "partition {partition} is not assigned to this consumer"
            )));
        }
        // A zero timeout makes the seek asynchronous; librdkafka drops
        // records of the partition fetched before it, the reader those it took.
        self.shared
            .consumer
            .seek(&self.shared.topic, partition as i32, Offset::Offset(offset.max(0)), Duration::ZERO)
            .map_err(|e| kafka_error(&format!("cannot seek partition {partition}"), e))?;
        self.shared.sought.lock().push(partition);
        self.shared.any_sought.store(true, Ordering::Release);
        if let Some(p) = self.shared.positions.get().and_then(|ps| ps.get(partition as usize)) {
            p.store(offset.max(0), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Without a group, the reader's own count (exact from the start); in a
    /// group, librdkafka's position, exact since a member takes one record per
    /// `poll`, and unknown until the partition's first record.
    fn position(&self, partition: u32) -> Option<i64> {
        if !self.assignment().contains(&partition) {
            return None;
        }
        if let Some(ps) = self.shared.positions.get() {
            return ps.get(partition as usize).map(|p| p.load(Ordering::Relaxed)).filter(|o| *o >= 0);
        }
        let at = self.shared.consumer.position().ok()?;
        match at.find_partition(&self.shared.topic, partition as i32)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    }

    /// Commits what was delivered (groups) and leaves the group.
    async fn close(&self) -> Result<(), ClientError> {
        let result = if self.shared.group.is_some() { self.commit().await } else { Ok(()) };
        let shared = self.shared.clone();
        // Leaving waits for the coordinator's answer: off the async threads.
        blocking(move || {
            if shared.group.is_some() {
                shared.consumer.unsubscribe();
            } else {
                let _ = shared.consumer.unassign();
            }
        })
        .await?;
        result
    }
}
