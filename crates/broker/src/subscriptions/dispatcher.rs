//! The dispatcher: one task per (topic, subscription) that owns everything
//! about the subscription (its consumers, their permits, the records read
//! ahead, the records out with consumers, the acknowledgement state) and so
//! needs no locks. Consumers' requests, high-watermark changes and finished
//! dead-letter writes arrive as [`Command`]s; timers (ack timeouts, nack
//! delays, the periodic flush) wake it too.
//!
//! Records flow: the log is read per partition from `read_pos` into the
//! `backlog` (skipping acknowledged offsets) → dispatched to a consumer with
//! permits (moving to `outstanding`, with its ack deadline) → acknowledged
//! (gone, recorded in the partition's [`AckState`]) or sent back to the backlog
//! (nack: ready after the nack delay; ack timeout or the consumer leaving:
//! ready at once) with its delivery count kept → after the dead-letter
//! policy's maximum of deliveries, written to the dead-letter topic instead.
//!
//! Per-key order in `KeyShared`: all of a key's outstanding records are held by
//! one consumer at a time (`key_owner` counts them). While a key has records
//! out, its next records go to that same consumer even if the hash now points
//! elsewhere (a consumer joined); only once every one of them is acknowledged
//! (or sent back) can the key move. The backlog is walked in offset order and
//! a key whose older record cannot be delivered now (waiting out a nack delay,
//! or its consumer has no permits) blocks its newer records in that pass. So a
//! consumer never receives a record of a key while an older record of that key
//! is unacknowledged by another consumer.
//!
//! Persistence: acks change the in-memory state at once; changed partitions
//! are written to `meta.redb` every [`FLUSH_INTERVAL`] and when the
//! dispatcher stops. A crash can lose the acks of the last interval: those
//! records are delivered again (at-least-once), never lost.
//!
//! Delivery counts survive restarts (`store`): a record's count is written before a
//! redelivery of it is handed out, in one transaction per dispatcher turn, and its row is
//! removed with the acknowledgement that ends it (an ack, or the dead-letter move), in the
//! same transaction as that acknowledgement state. A first delivery writes nothing, except
//! (a) when its offset reaches the partition's dispatched mark, which is then raised
//! [`DISPATCH_MARK_LEAP`] offsets ahead (one write per that many first deliveries), and (b)
//! when the record may have been handed out by an earlier run of the broker (its offset is
//! below both the stored mark and the high watermark found at load): then its count is
//! written like a redelivery's. A clean stop writes the count of every record that was
//! delivered and is not acknowledged. So, with a dead-letter policy of N deliveries:
//!
//! - without a crash, and across clean restarts, a never-acknowledged record is delivered
//!   exactly N times, then moved to the dead-letter topic;
//! - across any number of crashes (a SIGKILL, say), it is delivered at
//!   most N+1 times before the move: the only delivery a crash can make the broker forget
//!   is a record's first one, and only in the run that first handed it out (after that
//!   run the record is below the mark, so every later delivery of it is written first);
//! - a crash between writing a count and handing the redelivery out counts a delivery
//!   that did not happen, so such a record may move after N-1 deliveries.
//!
//! Writing every first delivery would make it exactly N but cost a durable write per
//! dispatcher turn on the path every record takes; these writes fall on redeliveries,
//! on one first delivery in [`DISPATCH_MARK_LEAP`] and on the records of a crashed run.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use runnel_proto::batch;
use runnel_proto::v1::{self, subscription_event::Kind as EventKind, SubscriptionEvent};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use tokio_util::sync::CancellationToken;

use super::acks::AckState;
use super::dlq::{self, DeadLetters};
use super::store;
use super::types::{
    ConsumerSpec, DeadLetterPolicy, InitialPosition, Record, Redelivery, SubscriptionError, SubscriptionType,
    DEFAULT_NACK_DELAY,
};
use crate::error::BrokerError;
use crate::log::{txn, PartitionLog};
use crate::meta::Meta;
use crate::topics::Topic;

/// How often changed acknowledgement state is written to `meta.redb`: the
/// window of acks a crash can lose (their records are redelivered).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Records read ahead of dispatch per partition, at most.
const READ_AHEAD: usize = 512;
/// Bytes per log read.
const READ_BYTES: usize = 256 << 10;
/// Delay before retrying a dead-letter write that failed.
const DLQ_RETRY: Duration = Duration::from_secs(1);
/// Delay before retrying deliveries whose count could not be written.
const COUNT_RETRY: Duration = Duration::from_secs(1);
/// How far ahead of the highest first delivery a partition's dispatched mark is raised:
/// first deliveries below it write nothing, and after a crash at most this many records
/// past those really handed out have their first delivery written.
pub const DISPATCH_MARK_LEAP: i64 = 16_384;

/// What every dispatcher works with: the metadata store (its stored state), the
/// dead-letter writer and the broker's shutdown signal.
#[derive(Debug, Clone)]
pub struct Services {
    /// Where acknowledgement state is stored.
    pub meta: Arc<Meta>,
    /// Writes records to dead-letter topics.
    pub dead_letters: DeadLetters,
    /// Dispatchers store their state and stop when it is cancelled.
    pub shutdown: CancellationToken,
}

/// A message to the dispatcher.
#[derive(Debug)]
pub enum Command {
    /// A consumer attaches.
    Connect {
        /// Its id.
        consumer: u64,
        /// What it asked for.
        spec: ConsumerSpec,
        /// Where its events go.
        events: mpsc::UnboundedSender<SubscriptionEvent>,
        /// Accepted or refused.
        reply: oneshot::Sender<Result<(), SubscriptionError>>,
    },
    /// A consumer left (its stream closed).
    Disconnect {
        /// Its id.
        consumer: u64,
    },
    /// A consumer can take more records.
    Flow {
        /// Its id.
        consumer: u64,
        /// How many more.
        permits: u32,
    },
    /// Records processed.
    Ack {
        /// Who acked.
        consumer: u64,
        /// (partition, offset) of each record.
        ids: Vec<(u32, i64)>,
    },
    /// Records to deliver again after the consumer's nack delay.
    Nack {
        /// Who nacked.
        consumer: u64,
        /// (partition, offset) of each record.
        ids: Vec<(u32, i64)>,
    },
    /// Everything up to and including an offset of a partition is processed.
    AckCumulative {
        /// Who acked.
        consumer: u64,
        /// The partition.
        partition: u32,
        /// The last processed offset.
        offset: i64,
    },
    /// A partition's high watermark moved.
    HighWatermark {
        /// The partition.
        partition: u32,
        /// Its new high watermark.
        high_watermark: i64,
    },
    /// A dead-letter write finished.
    DeadLettered {
        /// The record's (partition, offset).
        id: (u32, i64),
        /// Its outcome.
        result: Result<(), String>,
    },
    /// Describe the subscription (the console).
    Describe {
        /// Where the description goes.
        reply: oneshot::Sender<SubscriptionInfo>,
    },
    /// Stop, storing the state first when `flush`.
    Stop {
        /// Whether to store the acknowledgement state.
        flush: bool,
    },
}

/// A subscription as its dispatcher sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionInfo {
    /// The topic.
    pub topic: String,
    /// The subscription's name.
    pub name: String,
    /// The attached consumers' type; `None` while there are none.
    pub kind: Option<SubscriptionType>,
    /// The attached consumers: (name, permits left, records out with it).
    pub consumers: Vec<(String, u32, usize)>,
    /// Per partition: (partition, everything below this is acknowledged, high watermark).
    pub partitions: Vec<(u32, i64, i64)>,
    /// Records waiting to be delivered (read from the log, or sent back).
    pub backlog: usize,
    /// Records out with consumers, not yet acknowledged.
    pub outstanding: usize,
}

/// A record not yet acknowledged, with its delivery history.
#[derive(Debug, Clone)]
struct Entry {
    record: Arc<Record>,
    /// How many times it was delivered.
    deliveries: u32,
    /// Why it was last sent back, if it was.
    reason: Option<Redelivery>,
    key_hash: u64,
    /// Whether `meta.redb` holds a delivery count for it (to remove once it is acknowledged).
    stored: bool,
}

/// A record waiting in the backlog.
#[derive(Debug)]
struct Waiting {
    entry: Entry,
    /// Not to be delivered before this (a nack delay).
    ready_at: Option<Instant>,
}

/// A record out with a consumer.
#[derive(Debug)]
struct Out {
    entry: Entry,
    consumer: u64,
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct Consumer {
    spec: ConsumerSpec,
    events: mpsc::UnboundedSender<SubscriptionEvent>,
    permits: u32,
    /// Failover/exclusive: the partitions it is active for.
    active: Vec<u32>,
}

struct Partition {
    log: Arc<PartitionLog>,
    /// `None` until the first consumer says where a new subscription starts.
    acks: Option<AckState>,
    /// Next offset to read from the log.
    read_pos: i64,
    high_watermark: i64,
    /// Records of this partition in the backlog never delivered yet.
    fresh: usize,
    dirty: bool,
    /// The stored dispatched mark: every offset handed out as a first delivery is below it.
    dispatched_mark: i64,
    /// First deliveries below this may repeat one of an earlier run: their count is written.
    recorded_below: i64,
}

struct Dispatcher {
    services: Services,
    topic: Arc<Topic>,
    name: String,
    /// The type of the attached consumers; `None` while there are none.
    kind: Option<SubscriptionType>,
    consumers: BTreeMap<u64, Consumer>,
    partitions: Vec<Partition>,
    backlog: BTreeMap<(u32, i64), Waiting>,
    outstanding: HashMap<(u32, i64), Out>,
    dead_lettering: HashMap<(u32, i64), Entry>,
    /// Ack deadlines and nack delays, to wake up at.
    timers: BTreeSet<(Instant, u32, i64)>,
    /// KeyShared: key hash → (consumer holding its outstanding records, how many).
    key_owner: HashMap<u64, (u64, usize)>,
    /// Shared: the consumer index the next round-robin turn starts at.
    next_turn: usize,
    dead_letter: Option<DeadLetterPolicy>,
    tx: mpsc::UnboundedSender<Command>,
    /// Stored delivery counts of records not read from the log yet, by (partition, offset).
    restored: HashMap<(u32, i64), u32>,
    /// Delivery rows to remove with the next write of acknowledgement state.
    cleared: Vec<(u32, i64)>,
}

impl Dispatcher {
    fn describe(&self) -> SubscriptionInfo {
        SubscriptionInfo {
            topic: self.topic.meta.name.clone(),
            name: self.name.clone(),
            kind: self.kind,
            consumers: self
                .consumers
                .iter()
                .map(|(id, c)| {
                    let out = self.outstanding.values().filter(|o| o.consumer == *id).count();
                    (c.spec.name.clone(), c.permits, out)
                })
                .collect(),
            partitions: self
                .partitions
                .iter()
                .enumerate()
                .map(|(p, part)| {
                    let acked = part.acks.as_ref().map_or(0, AckState::mark_delete);
                    (p as u32, acked, part.high_watermark)
                })
                .collect(),
            backlog: self.backlog.len(),
            outstanding: self.outstanding.len(),
        }
    }
}

/// Starts a subscription's dispatcher; it loads its stored state first.
pub fn spawn(
    services: Services,
    topic: Arc<Topic>,
    name: String,
) -> (mpsc::UnboundedSender<Command>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let partitions = topic
        .partitions
        .iter()
        .map(|log| Partition {
            log: Arc::clone(log),
            acks: None,
            read_pos: 0,
            high_watermark: log.stats().high_watermark,
            fresh: 0,
            dirty: false,
            dispatched_mark: i64::MIN,
            recorded_below: i64::MIN,
        })
        .collect();
    let d = Dispatcher {
        services,
        topic,
        name,
        kind: None,
        consumers: BTreeMap::new(),
        partitions,
        backlog: BTreeMap::new(),
        outstanding: HashMap::new(),
        dead_lettering: HashMap::new(),
        timers: BTreeSet::new(),
        key_owner: HashMap::new(),
        next_turn: 0,
        dead_letter: None,
        tx: tx.clone(),
        restored: HashMap::new(),
        cleared: Vec::new(),
    };
    let task = tokio::spawn(d.run(rx));
    (tx, task)
}

fn key_hash(key: Option<&[u8]>) -> u64 {
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key.unwrap_or_default() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64's finalizer: spreads (key, consumer) pairs evenly.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn send(consumer: &Consumer, kind: EventKind) {
    // A failed send means the consumer's stream is closing; its Disconnect follows.
    let _ = consumer.events.send(SubscriptionEvent { kind: Some(kind) });
}

fn error_event(message: String) -> EventKind {
    EventKind::Error(v1::Error {
        code: v1::ErrorCode::Internal as i32,
        message,
        retryable: true,
        record_index: -1,
        path: String::new(),
    })
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        if let Err(e) = self.load().await {
            tracing::error!(topic = %self.topic.meta.name, subscription = %self.name, error = %e,
                "cannot load the subscription's state");
            // Refuse every consumer until the state can be read: delivering
            // without it would redeliver acknowledged records.
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Command::Connect { reply, .. } => {
                        let _ = reply.send(Err(SubscriptionError::Broker(BrokerError::Meta(e.to_string()))));
                    }
                    Command::Stop { .. } => return,
                    _ => {}
                }
            }
            return;
        }
        self.watch_partitions();
        let shutdown = self.services.shutdown.clone();
        let mut last_flush = Instant::now();
        loop {
            self.dispatch().await;
            let dirty = self.partitions.iter().any(|p| p.dirty) || !self.cleared.is_empty();
            let flush_at = last_flush + FLUSH_INTERVAL;
            let timer = self.timers.first().map(|t| t.0);
            let cmd = tokio::select! {
                _ = shutdown.cancelled() => {
                    // Acks already received count: handle them before the last flush.
                    while let Ok(cmd) = rx.try_recv() {
                        if !matches!(cmd, Command::Stop { .. }) {
                            self.handle(cmd);
                        }
                    }
                    Command::Stop { flush: true }
                }
                cmd = rx.recv() => cmd.unwrap_or(Command::Stop { flush: true }),
                _ = tokio::time::sleep_until(timer.unwrap_or(flush_at)), if timer.is_some() => {
                    self.fire_timers();
                    continue;
                }
                _ = tokio::time::sleep_until(flush_at), if dirty => {
                    self.flush(false).await;
                    last_flush = Instant::now();
                    continue;
                }
            };
            if let Command::Stop { flush } = cmd {
                if flush {
                    self.flush(true).await;
                }
                return;
            }
            self.handle(cmd);
            // Take whatever else is queued before dispatching again.
            for _ in 0..1024 {
                match rx.try_recv() {
                    Ok(Command::Stop { flush }) => {
                        if flush {
                            self.flush(true).await;
                        }
                        return;
                    }
                    Ok(cmd) => self.handle(cmd),
                    Err(_) => break,
                }
            }
        }
    }

    async fn load(&mut self) -> Result<(), BrokerError> {
        let meta = Arc::clone(&self.services.meta);
        let (topic, name, created) =
            (self.topic.meta.name.clone(), self.name.clone(), self.topic.meta.created_ms);
        let stored = tokio::task::spawn_blocking(move || store::load(&meta, &topic, &name, created))
            .await
            .map_err(|e| BrokerError::Storage(format!("load task failed: {e}")))??;
        for (p, acks) in stored.acks {
            if let Some(part) = self.partitions.get_mut(p as usize) {
                part.read_pos = acks.mark_delete();
                part.acks = Some(acks);
            }
        }
        for (p, mark) in stored.dispatched {
            if let Some(part) = self.partitions.get_mut(p as usize) {
                part.dispatched_mark = mark;
                // What existed when the broker stopped is below its high watermark now.
                part.recorded_below = mark.min(part.high_watermark);
            }
        }
        self.cleared = stored.stale;
        for (key, deliveries) in stored.deliveries {
            let acked = self
                .partitions
                .get(key.0 as usize)
                .is_none_or(|part| part.acks.as_ref().is_some_and(|a| a.is_acked(key.1)));
            if acked {
                self.cleared.push(key); // acknowledged, but the crash came before its row went
            } else {
                self.restored.insert(key, deliveries);
            }
        }
        Ok(())
    }

    /// One task per partition forwards its high watermark changes.
    fn watch_partitions(&self) {
        for (p, part) in self.partitions.iter().enumerate() {
            let mut hw = part.log.watch_high_watermark();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tx.closed() => return,
                        changed = hw.changed() => if changed.is_err() { return },
                    }
                    let high_watermark = *hw.borrow_and_update();
                    if tx.send(Command::HighWatermark { partition: p as u32, high_watermark }).is_err() {
                        return;
                    }
                }
            });
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Describe { reply } => {
                let _ = reply.send(self.describe());
            }
            Command::Connect { consumer, spec, events, reply } => {
                let result = self.connect(consumer, spec, events);
                let _ = reply.send(result);
            }
            Command::Disconnect { consumer } => self.disconnect(consumer),
            Command::Flow { consumer, permits } => {
                if let Some(c) = self.consumers.get_mut(&consumer) {
                    c.permits = c.permits.saturating_add(permits);
                }
            }
            Command::Ack { consumer, ids } => {
                for (p, o) in ids {
                    self.ack(consumer, p, o);
                }
            }
            Command::Nack { consumer, ids } => {
                for (p, o) in ids {
                    self.nack(consumer, p, o);
                }
            }
            Command::AckCumulative { consumer, partition, offset } => {
                self.ack_cumulative(consumer, partition, offset)
            }
            Command::HighWatermark { partition, high_watermark } => {
                if let Some(p) = self.partitions.get_mut(partition as usize) {
                    p.high_watermark = p.high_watermark.max(high_watermark);
                }
            }
            Command::DeadLettered { id, result } => self.dead_lettered(id, result),
            Command::Stop { .. } => {}
        }
    }

    fn connect(
        &mut self,
        id: u64,
        spec: ConsumerSpec,
        events: mpsc::UnboundedSender<SubscriptionEvent>,
    ) -> Result<(), SubscriptionError> {
        if let Some(kind) = self.kind.filter(|_| !self.consumers.is_empty()) {
            if kind != spec.kind {
                return Err(SubscriptionError::Refused(format!(
                    "subscription '{}' on topic '{}' is {kind} while it has consumers; a {} consumer cannot join",
                    self.name, self.topic.meta.name, spec.kind
                )));
            }
            if kind == SubscriptionType::Exclusive {
                let holder = self.consumers.values().next().map(|c| c.spec.name.clone()).unwrap_or_default();
                return Err(SubscriptionError::Refused(format!(
                    "subscription '{}' on topic '{}' is exclusive and already has a consumer ('{holder}')",
                    self.name, self.topic.meta.name
                )));
            }
        }
        for (i, part) in self.partitions.iter_mut().enumerate() {
            if part.acks.is_none() {
                let stats = part.log.stats();
                let start = match spec.initial {
                    InitialPosition::Earliest => stats.log_start_offset,
                    InitialPosition::Latest => stats.high_watermark,
                };
                part.acks = Some(AckState::starting_at(start));
                part.read_pos = start;
                part.dirty = true;
                // Counts stored for records the new subscription starts past are moot.
                let moot: Vec<_> =
                    self.restored.keys().filter(|&&(p, o)| p as usize == i && o < start).copied().collect();
                for key in moot {
                    self.restored.remove(&key);
                    self.cleared.push(key);
                }
            }
        }
        if let Some(policy) = &spec.dead_letter {
            self.dead_letter = Some(policy.clone());
        }
        self.kind = Some(spec.kind);
        tracing::info!(topic = %self.topic.meta.name, subscription = %self.name, consumer = %spec.name,
            kind = %spec.kind, "consumer subscribed");
        let consumer = Consumer { permits: spec.permits, spec, events, active: Vec::new() };
        send(
            &consumer,
            EventKind::Subscribed(v1::Subscribed {
                consumer_id: id.to_string(),
                r#type: consumer.spec.kind.to_proto() as i32,
            }),
        );
        self.consumers.insert(id, consumer);
        self.reassign();
        Ok(())
    }

    fn disconnect(&mut self, id: u64) {
        let Some(c) = self.consumers.remove(&id) else { return };
        tracing::info!(topic = %self.topic.meta.name, subscription = %self.name, consumer = %c.spec.name,
            "consumer left");
        let held: Vec<_> =
            self.outstanding.iter().filter(|(_, o)| o.consumer == id).map(|(k, _)| *k).collect();
        for key in held {
            self.send_back(key, Redelivery::ConsumerClosed, None);
        }
        if self.consumers.is_empty() {
            self.kind = None;
        }
        self.reassign();
    }

    /// Failover/exclusive: recomputes which consumer is active for each
    /// partition; records out with a consumer that lost a partition go back.
    fn reassign(&mut self) {
        let kind = self.kind;
        let mut order: Vec<(String, u64)> =
            self.consumers.iter().map(|(&id, c)| (c.spec.name.clone(), id)).collect();
        order.sort();
        let n = order.len();
        let mut active: HashMap<u64, Vec<u32>> = HashMap::new();
        if n > 0 && matches!(kind, Some(SubscriptionType::Exclusive | SubscriptionType::Failover)) {
            for p in 0..self.partitions.len() as u32 {
                active.entry(order[p as usize % n].1).or_default().push(p);
            }
        }
        let moved: Vec<(u32, i64)> = self
            .outstanding
            .iter()
            .filter(|(&(p, _), o)| {
                matches!(kind, Some(SubscriptionType::Exclusive | SubscriptionType::Failover))
                    && !active.get(&o.consumer).is_some_and(|ps| ps.contains(&p))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in moved {
            self.send_back(key, Redelivery::Failover, None);
        }
        for (id, c) in &mut self.consumers {
            let now = active.remove(id).unwrap_or_default();
            if now != c.active {
                c.active = now;
                if matches!(kind, Some(SubscriptionType::Exclusive | SubscriptionType::Failover)) {
                    send(c, EventKind::Active(v1::ActivePartitions { partitions: c.active.clone() }));
                }
            }
        }
    }

    /// An acknowledged record is done: its stored delivery count goes with the next write
    /// of the acknowledgement state.
    fn forget(&mut self, key: (u32, i64), entry: &Entry) {
        if entry.stored {
            self.cleared.push(key);
        }
    }

    /// Takes a record away from its consumer (ack, nack, timeout, leave).
    fn release(&mut self, key: (u32, i64)) -> Option<Out> {
        let out = self.outstanding.remove(&key)?;
        if let Some(owner) = self.key_owner.get_mut(&out.entry.key_hash) {
            owner.1 = owner.1.saturating_sub(1);
            if owner.1 == 0 {
                self.key_owner.remove(&out.entry.key_hash);
            }
        }
        Some(out)
    }

    /// Puts an outstanding record back in the backlog, to be delivered again
    /// now or after `delay`.
    fn send_back(&mut self, key: (u32, i64), reason: Redelivery, delay: Option<Duration>) {
        let Some(mut out) = self.release(key) else { return };
        out.entry.reason = Some(reason);
        let ready_at = delay.map(|d| Instant::now() + d);
        if let Some(at) = ready_at {
            self.timers.insert((at, key.0, key.1));
        }
        self.backlog.insert(key, Waiting { entry: out.entry, ready_at });
    }

    fn ack(&mut self, consumer: u64, partition: u32, offset: i64) {
        let key = (partition, offset);
        let acked = if let Some(out) = self.release(key) {
            Some(out.entry)
        } else if self.backlog.get(&key).is_some_and(|w| w.entry.deliveries > 0) {
            // Delivered, then sent back (ack timeout, nack, failover): the late ack still counts.
            self.backlog.remove(&key).map(|w| w.entry)
        } else {
            None
        };
        let Some(entry) = acked else {
            tracing::debug!(topic = %self.topic.meta.name, subscription = %self.name, consumer, partition,
                offset, "ack of a record that is not out (unknown or acked already): ignored");
            return;
        };
        self.forget(key, &entry);
        if let Some(part) = self.partitions.get_mut(partition as usize) {
            if let Some(acks) = &mut part.acks {
                acks.ack(offset);
                part.dirty = true;
            }
        }
    }

    fn nack(&mut self, consumer: u64, partition: u32, offset: i64) {
        let key = (partition, offset);
        if !self.outstanding.contains_key(&key) {
            tracing::debug!(topic = %self.topic.meta.name, subscription = %self.name, consumer, partition,
                offset, "nack of a record that is not out: ignored");
            return;
        }
        let delay = self
            .consumers
            .get(&consumer)
            .or_else(|| self.outstanding.get(&key).and_then(|o| self.consumers.get(&o.consumer)))
            .map_or(DEFAULT_NACK_DELAY, |c| c.spec.nack_delay);
        self.send_back(key, Redelivery::Nack, Some(delay));
    }

    fn ack_cumulative(&mut self, consumer: u64, partition: u32, offset: i64) {
        if !self.kind.is_some_and(SubscriptionType::allows_cumulative_ack) {
            if let Some(c) = self.consumers.get(&consumer) {
                send(
                    c,
                    error_event(format!(
                        "cumulative ack refused: subscription '{}' is {}; ack records one by one",
                        self.name,
                        self.kind.map_or("closed".to_owned(), |k| k.to_string())
                    )),
                );
            }
            return;
        }
        let Some(part) = self.partitions.get_mut(partition as usize) else {
            tracing::debug!(partition, "cumulative ack of an unknown partition: ignored");
            return;
        };
        let Some(acks) = &mut part.acks else { return };
        if offset < acks.mark_delete() {
            tracing::debug!(partition, offset, "cumulative ack below the mark-delete offset: ignored");
            return;
        }
        acks.ack_below(offset + 1);
        part.dirty = true;
        let out: Vec<_> =
            self.outstanding.keys().filter(|&&(p, o)| p == partition && o <= offset).copied().collect();
        for key in out {
            if let Some(out) = self.release(key) {
                self.forget(key, &out.entry);
            }
        }
        let waiting: Vec<_> =
            self.backlog.range((partition, i64::MIN)..=(partition, offset)).map(|(k, _)| *k).collect();
        for key in waiting {
            if let Some(w) = self.backlog.remove(&key) {
                if w.entry.deliveries == 0 {
                    part_fresh_dec(&mut self.partitions, partition);
                }
                self.forget(key, &w.entry);
            }
        }
        self.restored.retain(|&(p, o), _| {
            let moot = p == partition && o <= offset;
            if moot {
                self.cleared.push((p, o));
            }
            !moot
        });
    }

    fn dead_lettered(&mut self, id: (u32, i64), result: Result<(), String>) {
        let Some(entry) = self.dead_lettering.remove(&id) else { return };
        match result {
            Ok(()) => {
                self.forget(id, &entry);
                if let Some(acks) = self.partitions.get_mut(id.0 as usize).and_then(|p| {
                    p.dirty = true;
                    p.acks.as_mut()
                }) {
                    acks.ack(id.1);
                }
            }
            Err(message) => {
                let topic = self.dead_letter.as_ref().map_or("", |d| d.topic.as_str()).to_owned();
                let message = format!(
                    "cannot move record {}/{} of subscription '{}' to dead-letter topic '{topic}': {message}; \
                     retrying in {DLQ_RETRY:?}",
                    id.0, id.1, self.name
                );
                tracing::error!(topic = %self.topic.meta.name, "{message}");
                for c in self.consumers.values() {
                    send(c, error_event(message.clone()));
                }
                let at = Instant::now() + DLQ_RETRY;
                self.timers.insert((at, id.0, id.1));
                self.backlog.insert(id, Waiting { entry, ready_at: Some(at) });
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&(at, p, o)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            // Only ack deadlines need work; a ready nack delay is seen by dispatch.
            if self.outstanding.get(&(p, o)).is_some_and(|out| out.deadline == Some(at)) {
                self.send_back((p, o), Redelivery::AckTimeout, None);
            }
        }
    }

    /// Reads ahead from the log where needed, then hands ready records to
    /// consumers with permits.
    async fn dispatch(&mut self) {
        if self.consumers.values().all(|c| c.permits == 0) {
            return;
        }
        self.read_ahead().await;
        let now = Instant::now();
        let kind = match self.kind {
            Some(k) => k,
            None => return,
        };
        let ids: Vec<u64> = self.consumers.keys().copied().collect();
        let mut blocked_keys: HashSet<u64> = HashSet::new();
        let mut out: HashMap<u64, Vec<v1::Delivery>> = HashMap::new();
        let mut total_permits: u64 = self.consumers.values().map(|c| u64::from(c.permits)).sum();
        // What this turn must store before its deliveries are handed out.
        let mut counts: Vec<((u32, i64), u32)> = Vec::new();
        let mut marks: HashMap<u32, i64> = HashMap::new();
        let mut depend: Vec<Dependent> = Vec::new();
        let keys: Vec<(u32, i64)> = self.backlog.keys().copied().collect();
        for key in keys {
            if total_permits == 0 {
                break;
            }
            let Some(w) = self.backlog.get(&key) else { continue };
            if w.ready_at.is_some_and(|at| at > now) {
                blocked_keys.insert(w.entry.key_hash);
                continue;
            }
            let kh = w.entry.key_hash;
            if kind == SubscriptionType::KeyShared && blocked_keys.contains(&kh) {
                continue;
            }
            if let Some(policy) = &self.dead_letter {
                if w.entry.deliveries >= policy.max_deliveries {
                    self.start_dead_letter(key);
                    continue;
                }
            }
            let target = match kind {
                SubscriptionType::Exclusive | SubscriptionType::Failover => {
                    self.consumers.iter().find(|(_, c)| c.active.contains(&key.0)).map(|(&id, _)| id)
                }
                SubscriptionType::Shared => {
                    let n = ids.len();
                    let found = (0..n)
                        .map(|i| (self.next_turn + i) % n)
                        .find(|&i| self.consumers.get(&ids[i]).is_some_and(|c| c.permits > 0));
                    if let Some(i) = found {
                        self.next_turn = (i + 1) % n;
                    }
                    found.map(|i| ids[i])
                }
                SubscriptionType::KeyShared => Some(match self.key_owner.get(&kh) {
                    Some(&(owner, _)) => owner,
                    None => self.hash_target(kh),
                }),
            };
            let Some(target) = target else { continue };
            let Some(c) = self.consumers.get_mut(&target) else { continue };
            if c.permits == 0 {
                blocked_keys.insert(kh);
                continue;
            }
            let Some(w) = self.backlog.remove(&key) else { continue };
            c.permits -= 1;
            total_permits -= 1;
            let mut entry = w.entry;
            if entry.deliveries == 0 {
                part_fresh_dec(&mut self.partitions, key.0);
            }
            let redelivery_count = entry.deliveries;
            entry.deliveries += 1;
            let part = &self.partitions[key.0 as usize];
            if redelivery_count > 0 || key.1 < part.recorded_below {
                depend.push(Dependent { key, was_stored: entry.stored });
                counts.push((key, entry.deliveries));
                entry.stored = true;
            } else if key.1 >= part.dispatched_mark {
                depend.push(Dependent { key, was_stored: false });
                marks.insert(key.0, part.read_pos.max(key.1 + 1) + DISPATCH_MARK_LEAP);
            }
            let deadline = c.spec.ack_timeout.map(|t| now + t);
            if let Some(at) = deadline {
                self.timers.insert((at, key.0, key.1));
            }
            let r = &entry.record;
            out.entry(target).or_default().push(v1::Delivery {
                partition: r.partition,
                offset: r.offset,
                timestamp_ms: r.timestamp_ms,
                key: r.key.as_ref().map(|k| k.to_vec()),
                value: r.value.as_ref().map(|v| v.to_vec()).unwrap_or_default(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| v1::RecordHeader { key: k.clone(), value: v.to_vec() })
                    .collect(),
                redelivery_count,
            });
            if kind == SubscriptionType::KeyShared {
                self.key_owner.entry(kh).or_insert((target, 0)).1 += 1;
            }
            self.outstanding.insert(key, Out { entry, consumer: target, deadline });
        }
        if !depend.is_empty() {
            let marks: Vec<(u32, i64)> = marks.into_iter().collect();
            let changes =
                store::Changes { deliveries: counts, dispatched: marks.clone(), ..Default::default() };
            match self.save(changes).await {
                Ok(()) => {
                    for (p, mark) in marks {
                        self.partitions[p as usize].dispatched_mark = mark;
                    }
                }
                Err(e) => self.hold_back(depend, &mut out, &e),
            }
        }
        for (id, records) in out {
            if let Some(c) = self.consumers.get(&id) {
                send(c, EventKind::Deliveries(v1::Deliveries { records }));
            }
        }
    }

    /// Takes back this turn's deliveries whose count or mark could not be stored: they wait
    /// [`COUNT_RETRY`] in the backlog, as if never handed out.
    fn hold_back(
        &mut self,
        held: Vec<Dependent>,
        out: &mut HashMap<u64, Vec<v1::Delivery>>,
        e: &BrokerError,
    ) {
        let at = Instant::now() + COUNT_RETRY;
        let keys: HashSet<(u32, i64)> = held.iter().map(|d| d.key).collect();
        for d in held {
            let Some(mut o) = self.release(d.key) else { continue };
            o.entry.deliveries -= 1;
            o.entry.stored = d.was_stored;
            if o.entry.deliveries == 0 {
                self.partitions[d.key.0 as usize].fresh += 1;
            }
            if let Some(c) = self.consumers.get_mut(&o.consumer) {
                c.permits += 1;
            }
            self.timers.insert((at, d.key.0, d.key.1));
            self.backlog.insert(d.key, Waiting { entry: o.entry, ready_at: Some(at) });
        }
        for records in out.values_mut() {
            records.retain(|r| !keys.contains(&(r.partition, r.offset)));
        }
        out.retain(|_, records| !records.is_empty());
        let message = format!(
            "cannot store the delivery counts of {} record(s) of subscription '{}': {e}; retrying in {COUNT_RETRY:?}",
            keys.len(),
            self.name
        );
        tracing::error!(topic = %self.topic.meta.name, "{message}");
        for c in self.consumers.values() {
            send(c, error_event(message.clone()));
        }
    }

    /// Writes `changes` to this subscription's rows in `meta.redb`.
    async fn save(&self, changes: store::Changes) -> Result<(), BrokerError> {
        let meta = Arc::clone(&self.services.meta);
        let (topic, name, created) =
            (self.topic.meta.name.clone(), self.name.clone(), self.topic.meta.created_ms);
        tokio::task::spawn_blocking(move || store::save(&meta, &topic, &name, created, &changes))
            .await
            .map_err(|e| BrokerError::Storage(format!("store task failed: {e}")))?
    }

    /// KeyShared: the consumer a key hashes to (rendezvous hashing: only the
    /// keys of a consumer that joins or leaves move).
    fn hash_target(&self, kh: u64) -> u64 {
        let mut best: Option<(u64, u64)> = None;
        for (&id, c) in &self.consumers {
            let score = mix(kh ^ key_hash(Some(c.spec.name.as_bytes())));
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, id));
            }
        }
        best.map_or(0, |(_, id)| id)
    }

    fn start_dead_letter(&mut self, key: (u32, i64)) {
        let (Some(w), Some(policy)) = (self.backlog.remove(&key), self.dead_letter.clone()) else { return };
        let entry = w.entry;
        let job = dlq::DeadLetter {
            source: self.topic.meta.clone(),
            subscription: self.name.clone(),
            dlq_topic: policy.topic,
            record: Arc::clone(&entry.record),
            deliveries: entry.deliveries,
            reason: entry.reason.unwrap_or(Redelivery::Nack),
        };
        self.dead_lettering.insert(key, entry);
        let (dead_letters, tx) = (self.services.dead_letters.clone(), self.tx.clone());
        tokio::spawn(async move {
            let result = dead_letters.write(&job).await.map_err(|e| e.to_string());
            let _ = tx.send(Command::DeadLettered { id: key, result });
        });
    }

    async fn read_ahead(&mut self) {
        for p in 0..self.partitions.len() {
            // Records may wait for a consumer that has no permits: bound them.
            while self.partitions[p].fresh < READ_AHEAD
                && self.partitions[p].acks.is_some()
                && self.partitions[p].read_pos < self.partitions[p].high_watermark
            {
                if !self.read_once(p).await {
                    break;
                }
            }
        }
    }

    /// Reads one chunk of partition `p` into the backlog; false when nothing was read.
    async fn read_once(&mut self, p: usize) -> bool {
        let part = &mut self.partitions[p];
        let (log, pos) = (Arc::clone(&part.log), part.read_pos);
        // Committed records only, as gRPC fetches read by default: up to the last stable
        // offset, without markers and without aborted transactions' batches.
        let read = match tokio::task::spawn_blocking(move || {
            log.read_committed(pos, READ_BYTES).map(|c| {
                let mut read = c.read;
                read.batches = txn::committed_only(&read.batches, &c.aborted);
                read
            })
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "read task failed");
                return false;
            }
        };
        let read = match read {
            Ok(r) => r,
            Err(BrokerError::OffsetOutOfRange { log_start, high_watermark, .. }) => {
                // Retention removed records the subscription had not consumed.
                part.read_pos = part.read_pos.clamp(log_start, high_watermark);
                part.high_watermark = high_watermark;
                if let Some(acks) = &mut part.acks {
                    acks.ack_below(log_start);
                    part.dirty = true;
                }
                return part.read_pos < high_watermark;
            }
            Err(e) => {
                tracing::warn!(topic = %self.topic.meta.name, partition = p, error = %e, "subscription read failed");
                return false;
            }
        };
        part.high_watermark = part.high_watermark.max(read.high_watermark);
        // Offsets that hold no record for a subscriber (transaction markers, aborted
        // transactions' records) are acknowledged as they are passed over, so that they
        // leave no gaps in the acknowledgement state. `gap_from` is the first offset not yet
        // accounted for by a record.
        let mut gap_from = pos;
        if read.batches.is_empty() {
            // Only markers or aborted batches were passed over: read on past them.
            let moved = read.next_offset > part.read_pos;
            ack_passed_over(part, gap_from, read.next_offset);
            part.read_pos = part.read_pos.max(read.next_offset);
            return moved;
        }
        let data = read.batches;
        let mut added = Vec::new();
        // Control batches are gone already (`txn::committed_only`).
        for b in batch::batches(&data) {
            let Ok(b) = b else { break };
            for r in b.records() {
                let Ok(r) = r else { break };
                ack_passed_over(part, gap_from, r.offset);
                gap_from = gap_from.max(r.offset + 1);
                if r.offset < pos || part.acks.as_ref().is_some_and(|a| a.is_acked(r.offset)) {
                    continue;
                }
                let record = Record {
                    partition: p as u32,
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.map(Bytes::copy_from_slice),
                    value: r.value.map(Bytes::copy_from_slice),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.map_or_else(Bytes::new, Bytes::copy_from_slice)))
                        .collect(),
                };
                added.push(record);
            }
        }
        ack_passed_over(part, gap_from, read.next_offset);
        part.read_pos = read.next_offset.max(pos);
        for record in added {
            let key = (record.partition, record.offset);
            if self.outstanding.contains_key(&key) || self.dead_lettering.contains_key(&key) {
                continue;
            }
            let kh = key_hash(record.key.as_deref());
            // A record delivered before the broker restarted keeps its count; its last
            // delivery ended with the broker (its consumer's connection closed).
            let restored = self.restored.remove(&key);
            let entry = Entry {
                record: Arc::new(record),
                deliveries: restored.unwrap_or(0),
                reason: restored.map(|_| Redelivery::ConsumerClosed),
                key_hash: kh,
                stored: restored.is_some(),
            };
            if self.backlog.insert(key, Waiting { entry, ready_at: None }).is_none() && restored.is_none() {
                self.partitions[p].fresh += 1;
            }
        }
        true
    }

    /// Writes the state of changed partitions to `meta.redb`, with the delivery rows of
    /// records acknowledged since; when `stopping`, also the count of every record that was
    /// delivered and is not acknowledged, so that a clean restart forgets no delivery.
    async fn flush(&mut self, stopping: bool) {
        let acks: Vec<(u32, AckState)> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.dirty)
            .filter_map(|(i, p)| p.acks.clone().map(|a| (i as u32, a)))
            .collect();
        let mut deliveries = Vec::new();
        if stopping {
            let live = self
                .backlog
                .iter()
                .map(|(k, w)| (k, &w.entry))
                .chain(self.outstanding.iter().map(|(k, o)| (k, &o.entry)))
                .chain(self.dead_lettering.iter());
            deliveries = live
                .filter(|(_, e)| e.deliveries > 0 && !e.stored)
                .map(|(&k, e)| (k, e.deliveries))
                .collect();
        }
        let changes =
            store::Changes { acks, deliveries, cleared: self.cleared.clone(), dispatched: Vec::new() };
        if changes.is_empty() {
            return;
        }
        match self.save(changes).await {
            Ok(()) => {
                self.partitions.iter_mut().for_each(|p| p.dirty = false);
                self.cleared.clear();
            }
            Err(e) => tracing::warn!(subscription = %self.name, error = %e, "storing acks failed; retrying"),
        }
    }
}

/// A delivery of this turn that may be handed out only once a write succeeds.
struct Dependent {
    key: (u32, i64),
    /// Whether its record had a stored count before this turn.
    was_stored: bool,
}

fn part_fresh_dec(partitions: &mut [Partition], p: u32) {
    if let Some(part) = partitions.get_mut(p as usize) {
        part.fresh = part.fresh.saturating_sub(1);
    }
}

/// Acknowledges `[from, to)` of `part`, offsets passed over without a record.
fn ack_passed_over(part: &mut Partition, from: i64, to: i64) {
    if let Some(acks) = part.acks.as_mut() {
        if acks.ack_range(from, to) {
            part.dirty = true;
        }
    }
}
