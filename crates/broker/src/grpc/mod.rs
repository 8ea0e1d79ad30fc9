//! The gRPC front ends: one file per tonic service, each translating requests into calls
//! of the broker's services (through [`Broker`](crate::broker::Broker)) and their answers
//! and errors into responses and statuses. Every handler authorizes what it is asked
//! (`auth.rs`) before it looks anything up.
//!
//! Map: `admin.rs` (topics), `broker.rs` (produce, produce streams, fetch streams, offsets,
//! producer ids), `broker_routes.rs` (the same service's routes: the produce stream read
//! from HTTP/2's chunks, in front of `broker.rs`), `produce_stream.rs` (a produce
//! stream's pipeline, for both), `groups.rs` (consumer groups), `registry.rs` (the schema registry),
//! `tenants.rs` (tenants and namespaces), `subscriptions.rs` (queue subscriptions),
//! `transactions.rs` (the transaction coordinator for Runnel's clients), `functions.rs`
//! (built-in functions), `replication.rs` (clusters, replicated namespaces, status). This
//! file holds what they share.

pub mod admin;
pub mod broker;
pub mod broker_routes;
pub mod functions;
pub mod groups;
pub mod produce_stream;
pub mod registry;
pub mod replication;
pub mod subscriptions;
pub mod tenants;
pub mod transactions;

use runnel_auth::names::TopicName;
use tonic::{Request, Status};

use crate::auth::{self, Permission, Resource};

/// A topic name as a request carries it (bare or `tenant/namespace/topic`).
pub(crate) fn topic_name(name: &str) -> Result<TopicName, Status> {
    TopicName::parse(name).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Authorizes `permission` on the topic a request names, before anything is looked up.
pub(crate) fn authorize_topic<T>(
    req: &Request<T>,
    topic: &str,
    permission: Permission,
) -> Result<(), Status> {
    let name = topic_name(topic)?;
    auth::authorize(req, permission, Resource::Topic(&name))
}

/// A blocking task that did not finish (it panicked or was cancelled).
pub(crate) fn blocking_err(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("task failed: {e}"))
}
