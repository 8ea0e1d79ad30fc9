//! Subscriptions: Pulsar's queue semantics on top of the partitioned log.
//!
//! A subscription is named state on a topic: which records are acknowledged
//! (per partition, a mark-delete offset and acknowledged ranges above it,
//! [`acks`]), persisted in `meta.redb` ([`store`]). Consumers attach to it over
//! one bidirectional gRPC stream each ([`service`]); one task per (topic,
//! subscription), the [`dispatcher`], owns all of the subscription's state and
//! hands records out by the subscription's type:
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

pub mod acks;
pub mod dispatcher;
pub mod dlq;
pub mod service;
pub mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runnel_proto::v1;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::BrokerError;
use crate::state::Broker;
use crate::topics::{validate_topic_name, Topic};
use dispatcher::Command;

/// How long a negatively acknowledged record waits before it is delivered
/// again, unless the consumer asks otherwise (Pulsar's default).
pub const DEFAULT_NACK_DELAY: Duration = Duration::from_secs(60);

/// How records are spread over a subscription's consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionType {
    /// One consumer at a time.
    Exclusive,
    /// One active consumer per partition, the others standby.
    Failover,
    /// Round-robin, acknowledged record by record.
    Shared,
    /// One consumer per key, order per key kept.
    KeyShared,
}

impl SubscriptionType {
    /// From the protocol (unspecified = exclusive, as in Pulsar).
    pub fn from_proto(t: i32) -> Result<SubscriptionType, SubscriptionError> {
        match v1::SubscriptionType::try_from(t) {
            Ok(v1::SubscriptionType::Unspecified | v1::SubscriptionType::Exclusive) => Ok(Self::Exclusive),
            Ok(v1::SubscriptionType::Failover) => Ok(Self::Failover),
            Ok(v1::SubscriptionType::Shared) => Ok(Self::Shared),
            Ok(v1::SubscriptionType::KeyShared) => Ok(Self::KeyShared),
            Err(_) => Err(SubscriptionError::Invalid(format!("unknown subscription type {t}"))),
        }
    }

    /// The protocol form.
    pub fn to_proto(self) -> v1::SubscriptionType {
        match self {
            Self::Exclusive => v1::SubscriptionType::Exclusive,
            Self::Failover => v1::SubscriptionType::Failover,
            Self::Shared => v1::SubscriptionType::Shared,
            Self::KeyShared => v1::SubscriptionType::KeyShared,
        }
    }

    /// Whether one consumer receives all of a partition, so that a cumulative
    /// ack means something.
    pub fn allows_cumulative_ack(self) -> bool {
        matches!(self, Self::Exclusive | Self::Failover)
    }
}

impl std::fmt::Display for SubscriptionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Exclusive => "exclusive",
            Self::Failover => "failover",
            Self::Shared => "shared",
            Self::KeyShared => "key_shared",
        })
    }
}

/// Where a subscription without stored state starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialPosition {
    /// At the first stored record.
    Earliest,
    /// At the high watermark: only records produced from now on.
    Latest,
}

/// When records move to a dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterPolicy {
    /// A record delivered this many times without an ack is dead-lettered.
    pub max_deliveries: u32,
    /// The dead-letter topic.
    pub topic: String,
}

/// What a consumer asked for when it subscribed.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The topic.
    pub topic: String,
    /// The subscription's name.
    pub subscription: String,
    /// The subscription type.
    pub kind: SubscriptionType,
    /// The consumer's name (failover order, key_shared hashing, logs).
    pub name: String,
    /// Records the broker may send before the next flow.
    pub permits: u32,
    /// Redeliver records held unacked this long.
    pub ack_timeout: Option<Duration>,
    /// Delay before a nacked record comes back.
    pub nack_delay: Duration,
    /// Dead-letter policy, if any.
    pub dead_letter: Option<DeadLetterPolicy>,
    /// Where a new subscription starts.
    pub initial: InitialPosition,
}

impl ConsumerSpec {
    /// Checks and completes a subscribe request; `id` names an unnamed consumer.
    pub fn from_proto(req: &v1::SubscribeRequest, id: u64) -> Result<ConsumerSpec, SubscriptionError> {
        validate_subscription_name(&req.subscription)?;
        let kind = SubscriptionType::from_proto(req.r#type)?;
        let initial = match v1::InitialPosition::try_from(req.initial_position) {
            Ok(v1::InitialPosition::Unspecified | v1::InitialPosition::Earliest) => InitialPosition::Earliest,
            Ok(v1::InitialPosition::Latest) => InitialPosition::Latest,
            Err(_) => {
                return Err(SubscriptionError::Invalid(format!(
                    "unknown initial position {}",
                    req.initial_position
                )))
            }
        };
        let dead_letter = match &req.dead_letter {
            Some(d) if d.max_deliveries > 0 => {
                let topic = if d.topic.is_empty() {
                    format!("{}-{}-DLQ", req.topic, req.subscription)
                } else {
                    d.topic.clone()
                };
                Some(DeadLetterPolicy { max_deliveries: d.max_deliveries, topic })
            }
            _ => None,
        };
        Ok(ConsumerSpec {
            topic: req.topic.clone(),
            subscription: req.subscription.clone(),
            kind,
            name: if req.consumer_name.is_empty() {
                format!("consumer-{id}")
            } else {
                req.consumer_name.clone()
            },
            permits: req.permits,
            ack_timeout: (req.ack_timeout_ms > 0).then(|| Duration::from_millis(req.ack_timeout_ms)),
            nack_delay: if req.nack_delay_ms == 0 {
                DEFAULT_NACK_DELAY
            } else {
                Duration::from_millis(req.nack_delay_ms)
            },
            dead_letter,
            initial,
        })
    }
}

/// Subscription names follow topic names' rules: they become part of the
/// default dead-letter topic's name.
pub fn validate_subscription_name(name: &str) -> Result<(), SubscriptionError> {
    validate_topic_name(name).map_err(|e| {
        SubscriptionError::Invalid(e.to_string().replace("invalid topic name", "invalid subscription name"))
    })
}

/// Why a consumer cannot attach, or a subscription operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The subscription refuses this consumer (exclusive and taken, or of another type).
    #[error("{0}")]
    Refused(String),
    /// The broker failed (unknown topic, storage).
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<SubscriptionError> for tonic::Status {
    fn from(e: SubscriptionError) -> tonic::Status {
        match e {
            SubscriptionError::Invalid(m) => tonic::Status::invalid_argument(m),
            SubscriptionError::Refused(m) => tonic::Status::failed_precondition(m),
            SubscriptionError::Broker(e) => e.into(),
        }
    }
}

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
#[derive(Default)]
pub struct Subscriptions {
    running: tokio::sync::Mutex<HashMap<(String, String), Running>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").finish_non_exhaustive()
    }
}

impl Subscriptions {
    /// A fresh consumer id.
    pub fn next_consumer_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Attaches a consumer to its subscription, starting the subscription's
    /// dispatcher if it is not running. Refused when the subscription is
    /// exclusive and taken, or of another type while it has consumers.
    pub async fn connect(
        &self,
        broker: &Arc<Broker>,
        id: u64,
        spec: ConsumerSpec,
    ) -> Result<ConsumerLink, SubscriptionError> {
        let topic = broker.topics.get(&spec.topic)?;
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
                    let (tx, task) =
                        dispatcher::spawn(Arc::clone(broker), Arc::clone(&topic), spec.subscription.clone());
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
