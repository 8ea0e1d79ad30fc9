//! The Kafka backend of the typed client (cargo feature `kafka`): what lets
//! [`Producer<T>`](crate::Producer) and [`Consumer<T>`](crate::Consumer) run
//! over any Kafka cluster (Apache Kafka, Redpanda, Runnel's own Kafka
//! listener) plus a Confluent-compatible schema registry, with the same API
//! and the same evolution behaviour as over a Runnel broker.
//!
//! The Kafka side is librdkafka (the `rdkafka` crate): an idempotent producer
//! and a consumer in a classic consumer group. The registry side is its REST
//! API over HTTP ([`registry`]), with the same caching as the gRPC path:
//! schemas by id for the life of the client. Records are in the Confluent
//! wire format, so they are readable by every Confluent deserializer and
//! theirs by Runnel. Subjects follow TopicNameStrategy (`<topic>-value`).

pub(crate) mod consumer;
pub(crate) mod producer;
pub(crate) mod registry;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer as _;
use runnel_proto::v1;

use crate::error::ClientError;

/// Settings of a client that talks to a Kafka cluster and a
/// Confluent-compatible registry ([`Client::connect_kafka`](crate::Client::connect_kafka)).
///
/// ```no_run
/// # async fn f() -> Result<(), runnel_client::ClientError> {
/// let config = runnel_client::KafkaConfig::new("127.0.0.1:9092", "http://127.0.0.1:8081");
/// let client = runnel_client::Client::connect_kafka(config).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// The brokers to bootstrap from (`host:port[,host:port...]`), librdkafka's `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The schema registry's base URL (e.g. `http://127.0.0.1:8081`); plain HTTP.
    pub registry_url: String,
    /// Whether a producer may register its schema under the topic's subject
    /// when it is not there yet. Off by default, as with Runnel topics: a
    /// schema change is a deliberate `runnel schema register`.
    pub auto_register: bool,
    /// How long connecting (metadata from the cluster, an answer from the registry) may take.
    pub connect_timeout: Duration,
    /// How long a registry call may retry a failed connection or a 5xx answer.
    pub registry_timeout: Duration,
    /// Further librdkafka properties (`security.protocol`, `client.id`, ...),
    /// applied to every producer and consumer after Runnel's own.
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Settings for the cluster at `bootstrap_servers` and the registry at `registry_url`.
    pub fn new(bootstrap_servers: impl Into<String>, registry_url: impl Into<String>) -> Self {
        KafkaConfig {
            bootstrap_servers: bootstrap_servers.into(),
            registry_url: registry_url.into(),
            auto_register: false,
            connect_timeout: Duration::from_secs(10),
            registry_timeout: Duration::from_secs(10),
            properties: Vec::new(),
        }
    }

    /// Lets producers register their schema under the topic's subject.
    pub fn auto_register(mut self, yes: bool) -> Self {
        self.auto_register = yes;
        self
    }

    /// Adds a librdkafka property for every producer and consumer.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.push((key.into(), value.into()));
        self
    }
}

/// What a client connected to Kafka holds: its settings and the registry client.
#[derive(Debug)]
pub(crate) struct KafkaBackend {
    pub(crate) config: KafkaConfig,
    pub(crate) registry: registry::HttpRegistry,
}

impl KafkaBackend {
    /// Checks that the cluster answers a metadata request and the registry
    /// its subjects list, so that a wrong address fails here.
    pub(crate) async fn connect(config: KafkaConfig) -> Result<KafkaBackend, ClientError> {
        if config.bootstrap_servers.trim().is_empty() {
            return Err(ClientError::InvalidArgument("bootstrap_servers is empty".into()));
        }
        let registry = registry::HttpRegistry::new(&config)?;
        let probe: rdkafka::producer::BaseProducer =
            base_config(&config).create().map_err(|e| kafka_error("cannot set up a Kafka client", e))?;
        let timeout = config.connect_timeout;
        let bootstrap = config.bootstrap_servers.clone();
        blocking(move || probe.client().fetch_metadata(None, timeout))
            .await?
            .map_err(|e| kafka_error(&format!("cannot reach the Kafka cluster at {bootstrap}"), e))?;
        registry.check_reachable().await?;
        Ok(KafkaBackend { config, registry })
    }
}

/// librdkafka settings every producer and consumer shares.
pub(crate) fn base_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap_servers);
    c.set("client.id", "runnel-client");
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    c
}

/// Runs a blocking librdkafka call (metadata, commit, close) off the async threads.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, ClientError> {
    tokio::task::spawn_blocking(f).await.map_err(|_| ClientError::Closed)
}

/// Maps a librdkafka error to the client error a caller can act on.
pub(crate) fn kafka_error(context: &str, e: KafkaError) -> ClientError {
    let code = e.rdkafka_error_code();
    let message = format!("{context}: {e}");
    match code {
        Some(RDKafkaErrorCode::InvalidRecord) => {
            ClientError::Refused { record_index: -1, path: "/".into(), reason: message }
        }
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => {
            ClientError::Broker { code: v1::ErrorCode::TooLarge, message }
        }
        Some(RDKafkaErrorCode::MessageTimedOut)
        | Some(RDKafkaErrorCode::OperationTimedOut)
        | Some(RDKafkaErrorCode::RequestTimedOut) => ClientError::Timeout(message),
        Some(RDKafkaErrorCode::InvalidArgument) => ClientError::InvalidArgument(message),
        Some(RDKafkaErrorCode::IllegalGeneration)
        | Some(RDKafkaErrorCode::UnknownMemberId)
        | Some(RDKafkaErrorCode::RebalanceInProgress) => ClientError::Group(message),
        Some(RDKafkaErrorCode::NotEnoughReplicas)
        | Some(RDKafkaErrorCode::NotEnoughReplicasAfterAppend)
        | Some(RDKafkaErrorCode::KafkaStorageError) => {
            ClientError::Broker { code: v1::ErrorCode::Storage, message }
        }
        _ => ClientError::Broker { code: v1::ErrorCode::Unspecified, message },
    }
}

/// The error for a builder option the Kafka backend cannot honour.
pub(crate) fn unsupported(what: &str) -> ClientError {
    ClientError::InvalidArgument(format!(
        "{what} is not supported on the Kafka backend (Client::connect_kafka)"
    ))
}

impl crate::Client {
    /// The Kafka backend, when this client was made by `connect_kafka`.
    pub(crate) fn kafka_backend(&self) -> Option<&Arc<KafkaBackend>> {
        match &self.inner.backend {
            crate::client::Backend::Kafka(k) => Some(k),
            crate::client::Backend::Grpc => None,
        }
    }
}
