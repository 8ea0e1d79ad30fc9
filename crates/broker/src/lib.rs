//! Runnel's broker: the partition log, topics bound to schemas, per-record
//! enforcement, consumer groups, and the gRPC and HTTP servers.
//!
//! Entry point: [`start`] with a [`ServerConfig`] returns a [`RunningServer`]
//! once both listeners are bound; [`RunningServer::shutdown`] stops it cleanly.
//!
//! Map: `server.rs` (listeners, services), `produce.rs` (the hot path),
//! `enforce.rs` (schema checks), `fetch.rs` (reads, long polls), `groups.rs`
//! (consumer groups), `topics.rs` (admin), `log/` (segments, indexes, recovery,
//! group commit), `meta.rs` (redb), `metrics.rs`, `connection.rs`, `shutdown.rs`,
//! `subscriptions/` (queue semantics: shared, key_shared, failover, exclusive; acks, DLQ).

pub mod auth;
pub mod connection;
pub mod enforce;
pub mod error;
pub mod fetch;
pub mod groups;
pub mod kafka;
pub mod log;
pub mod meta;
pub mod metrics;
pub mod produce;
pub mod quotas;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod subscriptions;
pub mod tenants;
pub mod tls;
pub mod topics;

pub use error::BrokerError;
/// The protocol the server speaks (generated clients, the batch format), for
/// callers that drive a broker without the client crate (tests, tools).
pub use runnel_proto;
pub use server::{start, RunningServer, ServerConfig};
