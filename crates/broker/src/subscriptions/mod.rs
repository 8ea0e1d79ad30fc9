//! Subscriptions: Pulsar's queue semantics on top of the partitioned log, as a service
//! ([`Subscriptions`]) the gRPC front end attaches consumers to.
//!
//! A subscription is named state on a topic: which records are acknowledged
//! (per partition, a mark-delete offset and acknowledged ranges above it,
//! [`acks`]), persisted in `meta.redb` ([`store`]). Consumers attach to it over
//! one bidirectional gRPC stream each (`grpc/subscriptions.rs`); one task per (topic,
//! subscription), the [`dispatcher`], owns all of the subscription's state and
//! hands records out by the subscription's type ([`types`]):
//!
//! - `Exclusive`: one consumer; a second one is refused.
//! - `Failover`: consumers sorted by name; partition `p` goes to consumer
//!   `p mod n`, the others stand by and take over when it leaves.
//! - `Shared`: round-robin over the consumers that have permits.
//! - `KeyShared`: each key goes to the consumer that wins a rendezvous hash
//!   of (key, consumer name); per-key order holds (see `dispatcher`).
//!
//! Records that are negatively acked, held past the ack timeout, or held by a
//! consumer that left are delivered again with a higher redelivery count; after
//! the dead-letter policy's maximum of deliveries they move to the dead-letter
//! topic ([`dlq`]).
//!
//! Delivery counts survive restarts (kept in `meta.redb` for delivered, unacknowledged
//! records; see `dispatcher` for how and at what cost). With a dead-letter policy of N, a
//! never-acknowledged record is delivered exactly N times before the dead-letter move
//! without a crash and across clean restarts, and at most N+1 times across any number of
//! crashes (SIGKILL included): a crash can make the broker forget only a record's first
//! delivery, and only in the run that handed it out. (A crash between storing a count and
//! handing that redelivery out counts one delivery that never happened: such a record
//! may move after N-1.) The count a consumer sees (`redelivery_count`) is the broker's.
//!
//! Geo-replication carries a subscription's position from another cluster
//! ([`Subscriptions::carry`]): it becomes the stored state unless consumers are attached.

pub mod acks;
pub mod dispatcher;
pub mod dlq;
pub mod store;
pub mod types;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use runnel_proto::v1;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::BrokerError;
use crate::topics::{Topic, Topics};
use dispatcher::Command;
pub use types::{
    validate_subscription_name, ConsumerSpec, DeadLetterPolicy, InitialPosition, SubscriptionError,
    SubscriptionType, DEFAULT_NACK_DELAY,
};

/// A connected consumer's side: the events the dispatcher sends it, and a
/// handle to send it requests. Dropping the link is the consumer leaving.
#[derive(Debug)]
pub struct ConsumerLink {
    /// The consumer's id within the broker.
    pub id: u64,
    /// Deliveries and notices for the consumer.
    pub events: mpsc::UnboundedReceiver<v1::SubscriptionEvent>,
    /// Requests to the dispatcher.
    pub requests: ConsumerRequests,
}

/// Sends one consumer's requests to its subscription's dispatcher; tells the
/// dispatcher the consumer left when dropped.
#[derive(Debug)]
pub struct ConsumerRequests {
    id: u64,
    tx: mpsc::UnboundedSender<Command>,
}

impl ConsumerRequests {
    /// Handles one request of the consumer's stream. Returns false if the
    /// dispatcher is gone (the broker is stopping or the topic was deleted).
    pub fn send(&self, req: v1::subscription_request::Kind) -> Result<(), SubscriptionError> {
        use v1::subscription_request::Kind;
        let ids = |ids: Vec<v1::MessageId>| ids.into_iter().map(|m| (m.partition, m.offset)).collect();
        let cmd = match req {
            Kind::Subscribe(_) => {
                return Err(SubscriptionError::Invalid("this stream is subscribed already".into()))
            }
            Kind::Flow(f) => Command::Flow { consumer: self.id, permits: f.permits },
            Kind::Ack(a) => Command::Ack { consumer: self.id, ids: ids(a.ids) },
            Kind::Nack(n) => Command::Nack { consumer: self.id, ids: ids(n.ids) },
            Kind::AckCumulative(a) => {
                let id =
                    a.id.ok_or_else(|| SubscriptionError::Invalid("ack_cumulative without an id".into()))?;
                Command::AckCumulative { consumer: self.id, partition: id.partition, offset: id.offset }
            }
        };
        self.tx.send(cmd).map_err(|_| SubscriptionError::Broker(BrokerError::ShuttingDown))
    }
}

impl Drop for ConsumerRequests {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Disconnect { consumer: self.id });
    }
}

struct Running {
    topic: Arc<Topic>,
    tx: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

/// Every subscription's dispatcher, by (topic, subscription).
pub struct Subscriptions {
    running: tokio::sync::Mutex<HashMap<(String, String), Running>>,
    next_id: AtomicU64,
    /// The topics subscriptions read.
    topics: Arc<Topics>,
    /// What every dispatcher is started with.
    services: dispatcher::Services,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").finish_non_exhaustive()
    }
}

impl Subscriptions {
    /// The subscriptions of `topics`, their dispatchers started with `services`.
    pub fn new(topics: Arc<Topics>, services: dispatcher::Services) -> Subscriptions {
        Subscriptions { running: Default::default(), next_id: AtomicU64::new(0), topics, services }
    }

    /// A fresh consumer id.
    pub fn next_consumer_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Attaches a consumer to its subscription, starting the subscription's
    /// dispatcher if it is not running. Refused when the subscription is
    /// exclusive and taken, or of another type while it has consumers.
    pub async fn connect(&self, id: u64, spec: ConsumerSpec) -> Result<ConsumerLink, SubscriptionError> {
        let topic = self.topics.get(&spec.topic)?;
        let tx = {
            let mut running = self.running.lock().await;
            let key = (spec.topic.clone(), spec.subscription.clone());
            let current = running.get(&key).filter(|r| Arc::ptr_eq(&r.topic, &topic) && !r.tx.is_closed());
            match current {
                Some(r) => r.tx.clone(),
                None => {
                    if let Some(old) = running.remove(&key) {
                        // The topic was deleted and re-created, or grew partitions: the old
                        // dispatcher stops (storing its state if the topic is the same) first.
                        let same_topic = old.topic.meta.created_ms == topic.meta.created_ms;
                        let _ = old.tx.send(Command::Stop { flush: same_topic });
                        let _ = old.task.await;
                    }
                    let (tx, task) = dispatcher::spawn(
                        self.services.clone(),
                        Arc::clone(&topic),
                        spec.subscription.clone(),
                    );
                    running.insert(key, Running { topic, tx: tx.clone(), task });
                    tx
                }
            }
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let (reply, answer) = oneshot::channel();
        tx.send(Command::Connect { consumer: id, spec, events: events_tx, reply })
            .map_err(|_| SubscriptionError::Broker(BrokerError::ShuttingDown))?;
        answer.await.map_err(|_| SubscriptionError::Broker(BrokerError::ShuttingDown))??;
        Ok(ConsumerLink { id, events, requests: ConsumerRequests { id, tx } })
    }

    /// Every subscription with a dispatcher running (one started since the server
    /// started: a consumer attached), described by its dispatcher.
    pub async fn describe_all(&self) -> Vec<dispatcher::SubscriptionInfo> {
        let txs: Vec<_> = self.running.lock().await.values().map(|r| r.tx.clone()).collect();
        let mut out = Vec::new();
        for tx in txs {
            let (reply, answer) = oneshot::channel();
            if tx.send(Command::Describe { reply }).is_ok() {
                if let Ok(info) = answer.await {
                    out.push(info);
                }
            }
        }
        out.sort_by(|a, b| (&a.topic, &a.name).cmp(&(&b.topic, &b.name)));
        out
    }

    /// Sets a subscription's position as another cluster's replicator carried it: per
    /// partition, everything below the offset acknowledged and nothing above. Refused while
    /// consumers are attached here (the position is theirs then); an idle dispatcher is
    /// stopped first (storing its state), so the next consumer starts from the carried one.
    pub async fn carry(
        &self,
        topic: &str,
        subscription: &str,
        positions: &[(u32, i64)],
    ) -> Result<(), BrokerError> {
        validate_subscription_name(subscription).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        let t = self.topics.get(topic)?;
        let mut running = self.running.lock().await;
        let key = (topic.to_owned(), subscription.to_owned());
        if let Some(r) = running.get(&key) {
            let (reply, answer) = oneshot::channel();
            if r.tx.send(Command::Describe { reply }).is_ok() {
                if let Ok(info) = answer.await {
                    if !info.consumers.is_empty() {
                        return Err(BrokerError::FailedPrecondition(format!(
                            "subscription '{subscription}' on '{topic}' has consumers here"
                        )));
                    }
                }
            }
            if let Some(old) = running.remove(&key) {
                let same_topic = old.topic.meta.created_ms == t.meta.created_ms;
                let _ = old.tx.send(Command::Stop { flush: same_topic });
                let _ = old.task.await;
            }
        }
        let n = t.partitions.len();
        let changes = store::Changes {
            acks: positions
                .iter()
                .filter(|(p, _)| (*p as usize) < n)
                .map(|&(p, offset)| (p, acks::AckState::starting_at(offset)))
                .collect(),
            ..Default::default()
        };
        let (meta, topic, name, created) =
            (Arc::clone(&self.services.meta), topic.to_owned(), subscription.to_owned(), t.meta.created_ms);
        tokio::task::spawn_blocking(move || store::save(&meta, &topic, &name, created, &changes))
            .await
            .map_err(|e| BrokerError::Storage(format!("task failed: {e}")))?
    }

    /// Waits for every dispatcher to store its state and stop; call after the
    /// broker's shutdown token is cancelled.
    pub async fn close(&self) {
        let running: Vec<Running> = self.running.lock().await.drain().map(|(_, r)| r).collect();
        for r in running {
            let _ = r.tx.send(Command::Stop { flush: true });
            let _ = r.task.await;
        }
    }
}
