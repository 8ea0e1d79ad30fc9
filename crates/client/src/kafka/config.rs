//! [`KafkaConfig`]: the settings of a client of the Kafka transport
//! ([`Client::connect_kafka`](crate::Client::connect_kafka)): the cluster, the
//! registry, and librdkafka properties.

use std::time::Duration;

/// Settings of a client that talks to a Kafka cluster and a
/// Confluent-compatible registry ([`Client::connect_kafka`](crate::Client::connect_kafka)).
///
/// ```no_run
/// # async fn f() -> Result<(), runnel_client::ClientError> {
/// let config = runnel_client::KafkaConfig::new("127.0.0.1:9092", "http://127.0.0.1:8081");
/// let client = runnel_client::Client::connect_kafka(config).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaConfig {
    /// The brokers to bootstrap from (`host:port[,host:port...]`), librdkafka's `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// The schema registry's base URL (e.g. `http://127.0.0.1:8081`, or `https://`).
    pub registry_url: String,
    /// A bearer token sent with every registry call (a Runnel registry with
    /// authentication on); none by default.
    pub registry_token: Option<String>,
    /// PEM certificates of the authorities an `https://` registry's certificate
    /// may be signed by, besides the system's.
    pub registry_ca_pem: Option<Vec<u8>>,
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
            registry_token: None,
            registry_ca_pem: None,
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

/// Leaves secrets out: the registry token, and the values of properties that
/// carry one (`sasl.password`, `sasl.oauthbearer.config`, `ssl.key.password`, ...).
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret =
            |k: &str| ["password", "secret", "oauthbearer.config", "token"].iter().any(|s| k.contains(s));
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), if secret(k) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("registry_url", &self.registry_url)
            .field("registry_token", &self.registry_token.as_ref().map(|_| "<redacted>"))
            .field("registry_ca_pem", &self.registry_ca_pem.as_ref().map(Vec::len))
            .field("auto_register", &self.auto_register)
            .field("connect_timeout", &self.connect_timeout)
            .field("registry_timeout", &self.registry_timeout)
            .field("properties", &properties)
            .finish()
    }
}
