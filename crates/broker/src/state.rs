//! The state every service shares: limits, metadata, topics, the registry,
//! consumer groups, metrics and the shutdown signal. One `Arc<Broker>` behind
//! all gRPC and HTTP handlers.

use runnel_registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::groups::Groups;
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::subscriptions::Subscriptions;
use crate::topics::Topics;

/// Request size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest record (key + value bytes) accepted.
    pub max_record_bytes: usize,
    /// Largest batch accepted.
    pub max_batch_bytes: usize,
    /// Largest fetch response.
    pub max_fetch_bytes: usize,
    /// Most topics the broker holds.
    pub max_topics: usize,
    /// Most partitions over all topics.
    pub max_partitions: usize,
}

/// The broker's shared state.
pub struct Broker {
    /// Request limits.
    pub limits: Limits,
    /// Topic definitions, group offsets, producer ids.
    pub meta: Meta,
    /// Live topics and their logs.
    pub topics: Topics,
    /// The schema registry.
    pub registry: Registry,
    /// Consumer group coordinator.
    pub groups: Groups,
    /// Queue subscriptions (shared, key_shared, failover, exclusive) and their dispatchers.
    pub subscriptions: Subscriptions,
    /// Counters.
    pub metrics: Metrics,
    /// Cancelled when the server shuts down: long-lived streams end on it.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("limits", &self.limits)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}
