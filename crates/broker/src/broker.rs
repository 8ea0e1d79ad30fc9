//! The composition the front ends see: [`Broker`] holds the services (topics, tenants,
//! the produce and fetch paths, consumer groups, subscriptions, transactions, functions, metrics), the registry,
//! the request limits and the shutdown signal. It has no logic of its own and no service
//! knows it: `server.rs` builds it, the gRPC, HTTP and Kafka front ends hold one
//! `Arc<Broker>` and call the services through it.

use std::sync::Arc;

use runnel_registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::fetch::Fetcher;
use crate::functions::Functions;
use crate::groups::Groups;
use crate::kafka_groups;
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::produce::Appender;
use crate::replication::Replication;
use crate::subscriptions::Subscriptions;
use crate::tenants::Tenants;
use crate::topics::Topics;
use crate::transactions::Transactions;

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

/// The broker's services, for the front ends.
pub struct Broker {
    /// Request limits.
    pub limits: Limits,
    /// The metadata store (held for its lifetime: the services write to it).
    pub meta: Arc<Meta>,
    /// The schema registry.
    pub registry: Registry,
    /// Tenants and namespaces.
    pub tenants: Arc<Tenants>,
    /// Live topics and their logs.
    pub topics: Arc<Topics>,
    /// The produce path.
    pub append: Arc<Appender>,
    /// The fetch path.
    pub fetch: Arc<Fetcher>,
    /// Consumer group coordinator.
    pub groups: Arc<Groups>,
    /// Kafka's consumer groups (the classic protocol with client-side assignment).
    pub kafka_groups: Arc<kafka_groups::Coordinator>,
    /// Queue subscriptions (shared, key_shared, failover, exclusive) and their dispatchers.
    pub subscriptions: Arc<Subscriptions>,
    /// The transaction coordinator.
    pub transactions: Arc<Transactions>,
    /// Built-in functions.
    pub functions: Arc<Functions>,
    /// Geo-replication: clusters, replicated namespaces, the links' status.
    pub replication: Arc<Replication>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server shuts down: long-lived streams end on it.
    pub shutdown: CancellationToken,
}

/// How many handles exist on each service: see [`Broker::holders`].
pub(crate) type Holders = [usize; 12];

impl Broker {
    /// The handles held on each service right now. Taken once the services are built
    /// (before any request or task), it is the count at rest; a task or request still
    /// holding a service (a stream, a group member's watcher, a dead-letter write, and
    /// through the services `meta.redb` and the registry) shows as more. Tasks hold clones
    /// of these `Arc`s, never of a private wrapper around them, so that this sees them.
    pub(crate) fn holders(&self) -> Holders {
        [
            Arc::strong_count(&self.meta),
            Arc::strong_count(&self.tenants),
            Arc::strong_count(&self.topics),
            Arc::strong_count(&self.append),
            Arc::strong_count(&self.fetch),
            Arc::strong_count(&self.groups),
            Arc::strong_count(&self.kafka_groups),
            Arc::strong_count(&self.subscriptions),
            Arc::strong_count(&self.metrics),
            Arc::strong_count(&self.transactions),
            Arc::strong_count(&self.functions),
            Arc::strong_count(&self.replication),
        ]
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("limits", &self.limits)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}
