//! Runnel's broker: the partition log, topics bound to schemas, per-record
//! enforcement, consumer groups, queue subscriptions, and the gRPC, HTTP and Kafka
//! servers.
//!
//! Entry point: [`start`] with a [`ServerConfig`] returns a [`RunningServer`]
//! once both listeners are bound; [`RunningServer::shutdown`] stops it cleanly.
//!
//! Map, in layers (each file imports only files of the layers below it, and no two
//! files import each other):
//! - composition root: `server.rs` (`start`: opens storage, builds the services and the
//!   `Broker`, wires the front ends and background tasks; shutdown), `broker.rs` (the
//!   `Broker`: the services, held for the front ends).
//! - front ends: `grpc/` (one file per tonic service), `http.rs` (registry REST, `/health`,
//!   `/metrics`), `kafka/` (the Kafka listener), `auth.rs` (callers, authentication and
//!   authorization), `tls.rs`, `connection.rs` (connection limits).
//! - services: `topics.rs` (live topics, admin), `tenants.rs` (tenants, namespaces, the
//!   admin lock), `quotas.rs`, `enforce.rs` (schema checks), `produce.rs` (the hot path),
//!   `fetch.rs` (reads, long polls), `groups.rs` (consumer groups), `subscriptions/` (queue
//!   semantics: shared, key_shared, failover, exclusive; acks, DLQ), `replication/`
//!   (geo-replication to other clusters), `metrics.rs`.
//! - storage: `log/` (segments, indexes, recovery, producer state, group commit), `meta/`
//!   (redb, and the records it stores).
//! - under all: `error.rs`, `shutdown.rs`.

pub mod auth;
pub mod broker;
pub mod connection;
mod console;
pub mod enforce;
pub mod error;
pub mod fetch;
pub mod functions;
pub mod groups;
pub mod grpc;
mod http;
pub mod kafka;
pub(crate) mod kafka_codes;
pub mod kafka_groups;
pub mod log;
pub mod meta;
pub mod metrics;
pub mod produce;
pub mod quotas;
pub mod replication;
pub mod server;
pub mod shutdown;
pub mod subscriptions;
pub mod tenants;
pub mod tls;
pub mod topics;
pub mod transactions;

pub use error::BrokerError;
/// The protocol the server speaks (generated clients, the batch format), for
/// callers that drive a broker without the client crate (tests, tools).
pub use runnel_proto;
pub use server::{start, RunningServer, ServerConfig};
