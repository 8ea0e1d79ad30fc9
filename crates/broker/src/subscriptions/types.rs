//! The vocabulary of queue subscriptions, shared by the dispatcher, the dead-letter writer
//! and the front end: subscription types, what a consumer asks for when it subscribes
//! ([`ConsumerSpec`], checked from its request), dead-letter policies, the records handed
//! out and why one is delivered again, and the errors of subscribing.

use std::time::Duration;

use bytes::Bytes;
use runnel_proto::v1;

use crate::error::BrokerError;
use crate::topics::validate_topic_name;

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

/// A record as read from the log, shared by its deliveries.
#[derive(Debug)]
pub struct Record {
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (ms).
    pub timestamp_ms: i64,
    /// Its key.
    pub key: Option<Bytes>,
    /// Its value (`None` for a null value).
    pub value: Option<Bytes>,
    /// Its headers.
    pub headers: Vec<(String, Bytes)>,
}

/// Why a record is being delivered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// The consumer negatively acknowledged it.
    Nack,
    /// The consumer held it past its ack timeout.
    AckTimeout,
    /// The consumer left without acknowledging it.
    ConsumerClosed,
    /// Failover moved its partition to another consumer.
    Failover,
}

impl Redelivery {
    /// The name used in dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Redelivery::Nack => "nack",
            Redelivery::AckTimeout => "ack-timeout",
            Redelivery::ConsumerClosed => "consumer-closed",
            Redelivery::Failover => "failover",
        }
    }
}
