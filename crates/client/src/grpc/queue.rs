//! The gRPC transport's queue subscriptions, under
//! [`QueueConsumer<T>`](crate::QueueConsumer) and
//! [`RawQueueConsumer`](crate::RawQueueConsumer): a broker-side subscription
//! (exclusive, failover, shared or key_shared, as Pulsar has them), with
//! per-record acks and nacks, cumulative acks, ack timeouts, redelivery counts
//! and dead-letter topics.
//!
//! One bidirectional `Subscriptions.Subscribe` stream per consumer, driven by
//! a task: it sends the subscribe request, permits and coalesced acks, and
//! passes deliveries to the consumer through a channel. The broker never sends
//! more records than permits granted: the consumer grants `receiver_queue` at
//! first and tops up as the application takes records, so the channel is
//! bounded by the receiver queue. If the stream breaks (the broker restarts),
//! the task subscribes again with back-off; records received on the broken
//! stream and not yet taken are dropped, since the broker delivers every
//! unacknowledged record again.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use runnel_proto::v1::{
    self, subscription_event::Kind as EventKind, subscription_request::Kind as RequestKind,
    SubscriptionEvent, SubscriptionRequest,
};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::connection::{Backoff, Connection};
use crate::error::{is_retryable_status, ClientError};
use crate::transport::{Position, RawMessage};

/// How a subscription spreads records over its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionType {
    /// One consumer; a second one is refused (Pulsar's default).
    #[default]
    Exclusive,
    /// One active consumer per partition, the others standby.
    Failover,
    /// Round-robin over consumers; acked record by record.
    Shared,
    /// Each key to one consumer, in order; keys re-spread as consumers come and go.
    KeyShared,
}

impl SubscriptionType {
    fn to_proto(self) -> v1::SubscriptionType {
        match self {
            SubscriptionType::Exclusive => v1::SubscriptionType::Exclusive,
            SubscriptionType::Failover => v1::SubscriptionType::Failover,
            SubscriptionType::Shared => v1::SubscriptionType::Shared,
            SubscriptionType::KeyShared => v1::SubscriptionType::KeyShared,
        }
    }
}

impl std::str::FromStr for SubscriptionType {
    type Err = ClientError;

    /// `exclusive`, `failover`, `shared` or `key_shared` (also `key-shared`).
    fn from_str(s: &str) -> Result<Self, ClientError> {
        match s.to_ascii_lowercase().as_str() {
            "exclusive" => Ok(SubscriptionType::Exclusive),
            "failover" => Ok(SubscriptionType::Failover),
            "shared" => Ok(SubscriptionType::Shared),
            "key_shared" | "key-shared" | "keyshared" => Ok(SubscriptionType::KeyShared),
            _ => Err(ClientError::InvalidArgument(format!(
                "unknown subscription type `{s}` (use exclusive, failover, shared or key_shared)"
            ))),
        }
    }
}

/// When records move to a dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPolicy {
    /// A record delivered this many times without an ack is moved.
    pub max_deliveries: u32,
    /// The dead-letter topic; `None` = `<topic>-<subscription>-DLQ`.
    pub topic: Option<String>,
}

/// Headers the broker adds to a record it moves to a dead-letter topic.
pub mod dlq_headers {
    /// The topic the record was consumed from.
    pub const ORIGINAL_TOPIC: &str = "runnel-dlq-original-topic";
    /// Its partition there (decimal).
    pub const ORIGINAL_PARTITION: &str = "runnel-dlq-original-partition";
    /// Its offset there (decimal).
    pub const ORIGINAL_OFFSET: &str = "runnel-dlq-original-offset";
    /// The subscription that gave up on it.
    pub const SUBSCRIPTION: &str = "runnel-dlq-subscription";
    /// How many times it was delivered (decimal).
    pub const DELIVERY_COUNT: &str = "runnel-dlq-delivery-count";
    /// Why its last delivery failed: `nack`, `ack-timeout`, `consumer-closed` or `failover`.
    pub const REASON: &str = "runnel-dlq-reason";
}

/// Settings of a queue consumer: the builder sets them,
/// [`RawQueueConsumer::subscribe`](crate::RawQueueConsumer::subscribe) takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    /// The subscription's name.
    pub subscription: String,
    /// The subscription type.
    pub kind: SubscriptionType,
    /// This consumer's name (failover order, key_shared placement); `None` = the broker names it.
    pub consumer_name: Option<String>,
    /// Records held unacknowledged this long are delivered again; `None` = never.
    pub ack_timeout: Option<Duration>,
    /// Delay before a negatively acknowledged record comes back; `None` = 60 s.
    pub nack_delay: Option<Duration>,
    /// Where records delivered too often go.
    pub dead_letter: Option<DeadLetterPolicy>,
    /// Records the broker may push ahead of the application.
    pub receiver_queue: u32,
    /// Where a new subscription starts: `Earliest` or `Latest`.
    pub from: Position,
}

impl SubscriptionOptions {
    /// The defaults (exclusive, no ack timeout, 60 s nack delay, no dead
    /// letters, 1000 records ahead, from the earliest) for subscription `name`.
    pub fn new(name: impl Into<String>) -> Self {
        SubscriptionOptions {
            subscription: name.into(),
            kind: SubscriptionType::Exclusive,
            consumer_name: None,
            ack_timeout: None,
            nack_delay: None,
            dead_letter: None,
            receiver_queue: 1000,
            from: Position::Earliest,
        }
    }
}

/// Opens a queue consumer: its control handle and its records reader.
pub(crate) async fn open(
    connection: &Connection,
    topic: &str,
    options: SubscriptionOptions,
) -> Result<(QueueHandle, RawQueueReader), ClientError> {
    if options.subscription.is_empty() {
        return Err(ClientError::InvalidArgument(
            "a subscription needs a name (`subscription(name)` or `group(name)`)".into(),
        ));
    }
    let initial_position = match options.from {
        Position::Earliest => v1::InitialPosition::Earliest,
        Position::Latest => v1::InitialPosition::Latest,
        other => {
            return Err(ClientError::InvalidArgument(format!(
                "a subscription starts at Earliest or Latest, not {other:?}"
            )))
        }
    };
    let queue = options.receiver_queue.max(1);
    let request = v1::SubscribeRequest {
        topic: topic.to_owned(),
        subscription: options.subscription.clone(),
        r#type: options.kind.to_proto() as i32,
        consumer_name: options.consumer_name.clone().unwrap_or_default(),
        permits: queue,
        ack_timeout_ms: options.ack_timeout.map_or(0, |d| d.as_millis().max(1) as u64),
        nack_delay_ms: options.nack_delay.map_or(0, |d| d.as_millis().max(1) as u64),
        dead_letter: options.dead_letter.as_ref().map(|d| v1::DeadLetterPolicy {
            max_deliveries: d.max_deliveries,
            topic: d.topic.clone().unwrap_or_default(),
        }),
        initial_position: initial_position as i32,
    };
    let shared = Arc::new(Shared {
        connection: connection.clone(),
        topic: topic.to_owned(),
        request,
        epoch: AtomicU64::new(0),
        active: Mutex::new(Vec::new()),
    });
    let (req_tx, events) = open_stream(&shared).await.map_err(|s| refusal(topic, s))?;
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    let (items_tx, items_rx) = mpsc::unbounded_channel();
    let (close_tx, close_rx) = oneshot::channel();
    tokio::spawn(drive(Arc::clone(&shared), req_tx, events, ops_rx, items_tx, close_rx));
    let reader = RawQueueReader {
        shared: Arc::clone(&shared),
        items: items_rx,
        acker: Acker { ops: ops_tx.clone() },
        queue,
        taken: 0,
        epoch: 0,
    };
    let handle = QueueHandle {
        shared,
        kind: options.kind,
        subscription: options.subscription,
        ops: ops_tx,
        _close: close_tx,
    };
    Ok((handle, reader))
}

/// One record from a subscription, its value as produced (Confluent framing
/// and Avro body); acknowledge it when processed. Its record's fields read
/// through it (`msg.partition`, `msg.value`, ...).
#[derive(Debug)]
pub struct RawQueueMessage {
    /// The record.
    pub record: RawMessage,
    /// How many times this record was delivered before (0 the first time).
    pub redelivery_count: u32,
    acker: Acker,
}

impl Deref for RawQueueMessage {
    type Target = RawMessage;

    fn deref(&self) -> &RawMessage {
        &self.record
    }
}

impl RawQueueMessage {
    /// Acknowledges this record (see [`QueueMessage::ack`](crate::QueueMessage::ack)).
    pub async fn ack(&self) -> Result<(), ClientError> {
        self.acker.ack(self.partition, self.offset)
    }

    /// Negatively acknowledges this record (see [`QueueMessage::nack`](crate::QueueMessage::nack)).
    pub async fn nack(&self) -> Result<(), ClientError> {
        self.acker.nack(self.partition, self.offset)
    }

    /// The record, its redelivery count and its acker, for the typed message.
    pub(crate) fn into_parts(self) -> (RawMessage, u32, Acker) {
        (self.record, self.redelivery_count, self.acker)
    }
}

/// The control side of a queue consumer.
pub(crate) struct QueueHandle {
    shared: Arc<Shared>,
    kind: SubscriptionType,
    subscription: String,
    ops: mpsc::UnboundedSender<Op>,
    /// Dropped with the consumer: the stream task ends and the broker sees the consumer leave.
    _close: oneshot::Sender<()>,
}

impl std::fmt::Debug for QueueHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueConsumer")
            .field("topic", &self.shared.topic)
            .field("subscription", &self.subscription)
            .field("kind", &self.kind)
            .finish()
    }
}

impl QueueHandle {
    /// The topic.
    pub(crate) fn topic(&self) -> &str {
        &self.shared.topic
    }

    /// Acknowledges every record of `partition` up to `offset` (exclusive and failover only).
    pub(crate) fn ack_cumulative(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        if !matches!(self.kind, SubscriptionType::Exclusive | SubscriptionType::Failover) {
            return Err(ClientError::InvalidArgument(format!(
                "cumulative ack is not allowed on a {:?} subscription; ack records one by one",
                self.kind
            )));
        }
        self.ops.send(Op::AckCumulative(partition, offset)).map_err(|_| ClientError::Closed)
    }

    /// Failover and exclusive: the partitions this consumer is active for.
    pub(crate) fn active_partitions(&self) -> Vec<u32> {
        self.shared.active.lock().clone()
    }

    /// Sends the acknowledgements still queued, then leaves the subscription.
    pub(crate) async fn close(self) -> Result<(), ClientError> {
        let (done, finished) = oneshot::channel();
        if self.ops.send(Op::Close(done)).is_ok() {
            let _ = finished.await;
        }
        Ok(())
    }
}

/// What the application asks of the stream task.
#[derive(Debug)]
enum Op {
    Ack(u32, i64),
    Nack(u32, i64),
    AckCumulative(u32, i64),
    /// More permits, for the stream of this epoch.
    Flow {
        epoch: u64,
        permits: u32,
    },
    /// Send what is queued, then end.
    Close(oneshot::Sender<()>),
}

/// Sends a message's ack or nack to the stream task.
#[derive(Debug, Clone)]
pub(crate) struct Acker {
    ops: mpsc::UnboundedSender<Op>,
}

impl Acker {
    /// Acknowledges a record: it is not delivered again.
    pub(crate) fn ack(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        self.send(Op::Ack(partition, offset))
    }

    /// Negatively acknowledges a record: it is delivered again after the nack delay.
    pub(crate) fn nack(&self, partition: u32, offset: i64) -> Result<(), ClientError> {
        self.send(Op::Nack(partition, offset))
    }

    fn send(&self, op: Op) -> Result<(), ClientError> {
        self.ops.send(op).map_err(|_| ClientError::Closed)
    }
}

/// What the stream task passes to the reader.
enum Item {
    Record { epoch: u64, delivery: v1::Delivery },
    Failed(ClientError),
}

struct Shared {
    connection: Connection,
    topic: String,
    request: v1::SubscribeRequest,
    /// Bumped when the stream breaks: records of older streams are dropped.
    epoch: AtomicU64,
    active: Mutex<Vec<u32>>,
}

/// The records side of a queue consumer: deliveries of the current stream,
/// permits granted back as the application takes records.
pub(crate) struct RawQueueReader {
    shared: Arc<Shared>,
    items: mpsc::UnboundedReceiver<Item>,
    acker: Acker,
    queue: u32,
    /// Records taken since the last flow.
    taken: u32,
    /// The stream epoch `taken` counts for.
    epoch: u64,
}

impl RawQueueReader {
    /// The next record, waiting for one.
    pub(crate) async fn next(&mut self) -> Option<Result<RawQueueMessage, ClientError>> {
        loop {
            let (epoch, d) = match self.items.recv().await? {
                Item::Record { epoch, delivery } => (epoch, delivery),
                Item::Failed(e) => return Some(Err(e)),
            };
            if epoch != self.shared.epoch.load(Ordering::Acquire) {
                continue; // from a broken stream: the broker delivers it again
            }
            self.took(epoch);
            let record = RawMessage {
                partition: d.partition,
                offset: d.offset,
                timestamp_ms: d.timestamp_ms,
                key: d.key.map(Bytes::from),
                value: Bytes::from(d.value),
                headers: d.headers.into_iter().map(|h| (h.key, Bytes::from(h.value))).collect(),
            };
            let acker = self.acker.clone();
            return Some(Ok(RawQueueMessage { record, redelivery_count: d.redelivery_count, acker }));
        }
    }

    /// Counts a taken record; grants permits back in halves of the queue.
    fn took(&mut self, epoch: u64) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.taken = 0;
        }
        self.taken += 1;
        if self.taken >= (self.queue / 2).max(1) {
            let _ = self.acker.send(Op::Flow { epoch, permits: self.taken });
            self.taken = 0;
        }
    }
}

/// The client error for a failed subscribe call.
fn refusal(topic: &str, status: tonic::Status) -> ClientError {
    match status.code() {
        tonic::Code::FailedPrecondition => ClientError::SubscriptionRefused(status.message().to_owned()),
        _ => ClientError::from_topic_status(topic, status),
    }
}

type Events = tonic::Streaming<SubscriptionEvent>;

async fn open_stream(
    shared: &Shared,
) -> Result<(mpsc::UnboundedSender<SubscriptionRequest>, Events), tonic::Status> {
    let (tx, rx) = mpsc::unbounded_channel();
    let subscribe = SubscriptionRequest { kind: Some(RequestKind::Subscribe(shared.request.clone())) };
    // The receiver is alive: it is moved into the call just below.
    let _ = tx.send(subscribe);
    let events =
        shared.connection.subscriptions().subscribe(UnboundedReceiverStream::new(rx)).await?.into_inner();
    Ok((tx, events))
}

enum Ended {
    /// The consumer is closing (or was dropped): requests sent, waiting for
    /// the broker to let go; then `close()` is told, if it waits.
    Closing(Option<oneshot::Sender<()>>),
    /// The stream broke; why, if the broker said.
    Broken(Option<tonic::Status>),
}

/// The stream task: runs the stream, and opens a new one when it breaks.
async fn drive(
    shared: Arc<Shared>,
    mut req_tx: mpsc::UnboundedSender<SubscriptionRequest>,
    mut events: Events,
    mut ops: mpsc::UnboundedReceiver<Op>,
    items: mpsc::UnboundedSender<Item>,
    mut close: oneshot::Receiver<()>,
) {
    let opts = shared.connection.options().clone();
    loop {
        let epoch = shared.epoch.load(Ordering::Acquire);
        let why = match session(&shared, epoch, &req_tx, &mut events, &mut ops, &items, &mut close).await {
            Ended::Closing(done) => {
                // Ending the requests is leaving; the broker ends the events once it has
                // handled everything sent before (acks included) and let the consumer go.
                // Dropping the events first would reset the HTTP/2 stream and could lose
                // the acks still in flight.
                drop(req_tx);
                let drained = async { while let Some(Ok(_)) = events.next().await {} };
                let _ = tokio::time::timeout(opts.retry_timeout, drained).await;
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            Ended::Broken(why) => why,
        };
        // End our side of the broken stream now, not at the reconnect: a broker
        // shutting down waits for its streams to close.
        drop(std::mem::replace(&mut req_tx, mpsc::unbounded_channel().0));
        // Records still queued from this stream will be delivered again.
        shared.epoch.fetch_add(1, Ordering::AcqRel);
        shared.active.lock().clear();
        tracing::debug!(topic = %shared.topic, status = ?why, "subscription stream broke; subscribing again");
        let mut backoff = Backoff::new(&opts);
        loop {
            tokio::select! {
                _ = &mut close => return,
                _ = backoff.wait() => {}
            }
            match open_stream(&shared).await {
                Ok((tx, ev)) => {
                    (req_tx, events) = (tx, ev);
                    break;
                }
                // The broker restarting answers with these; keep trying until it is back.
                Err(status) if is_retryable_status(&status) || status.code() == tonic::Code::Cancelled => {
                    continue
                }
                Err(status) => {
                    let _ = items.send(Item::Failed(refusal(&shared.topic, status)));
                    return;
                }
            }
        }
    }
}

async fn session(
    shared: &Shared,
    epoch: u64,
    req_tx: &mpsc::UnboundedSender<SubscriptionRequest>,
    events: &mut Events,
    ops: &mut mpsc::UnboundedReceiver<Op>,
    items: &mpsc::UnboundedSender<Item>,
    close: &mut oneshot::Receiver<()>,
) -> Ended {
    loop {
        tokio::select! {
            _ = &mut *close => {
                // Dropped: acks the application already made still count.
                let mut batch = Vec::new();
                while let Ok(op) = ops.try_recv() {
                    batch.push(op);
                }
                for r in coalesce(batch, epoch).0 {
                    let _ = req_tx.send(r);
                }
                return Ended::Closing(None);
            }
            event = events.next() => match event {
                Some(Ok(SubscriptionEvent { kind: Some(kind) })) => match kind {
                    EventKind::Deliveries(d) => {
                        for delivery in d.records {
                            if items.send(Item::Record { epoch, delivery }).is_err() {
                                return Ended::Closing(None);
                            }
                        }
                    }
                    EventKind::Active(a) => *shared.active.lock() = a.partitions,
                    EventKind::Error(e) => {
                        let code = v1::ErrorCode::try_from(e.code).unwrap_or(v1::ErrorCode::Unspecified);
                        tracing::warn!(topic = %shared.topic, message = %e.message, "subscription notice");
                        let _ = items.send(Item::Failed(ClientError::Broker { code, message: e.message }));
                    }
                    EventKind::Subscribed(_) => {}
                },
                Some(Ok(SubscriptionEvent { kind: None })) => {}
                Some(Err(status)) => return Ended::Broken(Some(status)),
                None => return Ended::Broken(None),
            },
            op = ops.recv() => {
                let Some(op) = op else { return Ended::Closing(None) };
                // Coalesce whatever else is queued into as few requests as possible.
                let mut batch = vec![op];
                while let Ok(op) = ops.try_recv() {
                    batch.push(op);
                }
                let (requests, done) = coalesce(batch, epoch);
                for r in requests {
                    if req_tx.send(r).is_err() {
                        return Ended::Broken(None);
                    }
                }
                if let Some(done) = done {
                    return Ended::Closing(Some(done));
                }
            }
        }
    }
}

/// Turns queued operations into requests, acks and nacks batched, in order.
fn coalesce(batch: Vec<Op>, epoch: u64) -> (Vec<SubscriptionRequest>, Option<oneshot::Sender<()>>) {
    let mut out = Vec::new();
    let mut acks = Vec::new();
    let mut nacks = Vec::new();
    let mut permits = 0u32;
    let mut done = None;
    let flush = |out: &mut Vec<SubscriptionRequest>,
                 acks: &mut Vec<v1::MessageId>,
                 nacks: &mut Vec<v1::MessageId>| {
        if !acks.is_empty() {
            out.push(SubscriptionRequest {
                kind: Some(RequestKind::Ack(v1::AckRequest { ids: std::mem::take(acks) })),
            });
        }
        if !nacks.is_empty() {
            out.push(SubscriptionRequest {
                kind: Some(RequestKind::Nack(v1::NackRequest { ids: std::mem::take(nacks) })),
            });
        }
    };
    for op in batch {
        match op {
            Op::Ack(partition, offset) => acks.push(v1::MessageId { partition, offset }),
            Op::Nack(partition, offset) => nacks.push(v1::MessageId { partition, offset }),
            Op::AckCumulative(partition, offset) => {
                flush(&mut out, &mut acks, &mut nacks);
                out.push(SubscriptionRequest {
                    kind: Some(RequestKind::AckCumulative(v1::AckCumulativeRequest {
                        id: Some(v1::MessageId { partition, offset }),
                    })),
                });
            }
            Op::Flow { epoch: e, permits: p } if e == epoch => permits = permits.saturating_add(p),
            Op::Flow { .. } => {} // for a stream that broke; the new one started with a full queue
            Op::Close(d) => {
                done = Some(d);
                break;
            }
        }
    }
    flush(&mut out, &mut acks, &mut nacks);
    if permits > 0 {
        out.push(SubscriptionRequest { kind: Some(RequestKind::Flow(v1::Flow { permits })) });
    }
    (out, done)
}
