//! The Kafka transport of the typed client (cargo feature `kafka`): what lets
//! [`Producer<T>`](crate::Producer) and [`Consumer<T>`](crate::Consumer) run
//! over any Kafka cluster (Apache Kafka, Redpanda, Runnel's own Kafka
//! listener) plus a Confluent-compatible schema registry, with the same API
//! and the same evolution behaviour as over a Runnel broker.
//!
//! The Kafka side is librdkafka (the `rdkafka` crate): an idempotent producer
//! and a consumer in a classic consumer group. The registry side is its REST
//! API over HTTP ([`registry`]), behind the same schema cache as the gRPC
//! path: schemas by id for the life of the client. Records are in the Confluent
//! wire format, so they are readable by every Confluent deserializer and
//! theirs by Runnel. Subjects follow TopicNameStrategy (`<topic>-value`).

pub(crate) mod config;
pub(crate) mod consumer;
mod librdkafka;
pub(crate) mod producer;
pub(crate) mod registry;

use rdkafka::producer::Producer as _;

use config::KafkaConfig;
use consumer::{KafkaHandle, KafkaReader};
use librdkafka::{base_config, blocking, kafka_error};
use producer::KafkaSink;
use registry::HttpRegistry;

use crate::error::ClientError;
use crate::transport::{ConsumerOptions, ProducerOptions, TopicBinding, Transport};

/// Producers and consumers over a Kafka cluster, schemas in a Confluent-compatible registry.
#[derive(Debug)]
pub(crate) struct KafkaTransport {
    config: KafkaConfig,
    registry: HttpRegistry,
}

impl KafkaTransport {
    /// Checks that the cluster answers a metadata request and the registry
    /// its subjects list, so that a wrong address fails here.
    pub(crate) async fn connect(config: KafkaConfig) -> Result<KafkaTransport, ClientError> {
        if config.bootstrap_servers.trim().is_empty() {
            return Err(ClientError::InvalidArgument("bootstrap_servers is empty".into()));
        }
        let registry = HttpRegistry::new(&config)?;
        let probe: rdkafka::producer::BaseProducer =
            base_config(&config).create().map_err(|e| kafka_error("cannot set up a Kafka client", e))?;
        let timeout = config.connect_timeout;
        let bootstrap = config.bootstrap_servers.clone();
        blocking(move || probe.client().fetch_metadata(None, timeout))
            .await?
            .map_err(|e| kafka_error(&format!("cannot reach the Kafka cluster at {bootstrap}"), e))?;
        registry.check_reachable().await?;
        Ok(KafkaTransport { config, registry })
    }
}

impl Transport for KafkaTransport {
    type Sink = KafkaSink;
    type Source = KafkaReader;
    type Control = KafkaHandle;
    type Schemas = HttpRegistry;

    /// TopicNameStrategy, as Confluent's serializers: `<topic>-value`. The
    /// topic's existence is checked as a producer or consumer opens.
    async fn bind(&self, topic: &str) -> Result<TopicBinding, ClientError> {
        Ok(TopicBinding {
            name: topic.to_owned(),
            subject: format!("{topic}-value"),
            auto_register: self.config.auto_register,
            partitions: Vec::new(),
        })
    }

    async fn open_sink(
        &self,
        topic: &TopicBinding,
        options: ProducerOptions,
    ) -> Result<KafkaSink, ClientError> {
        KafkaSink::start(&self.config, &topic.name, &options).await
    }

    async fn open_consumer(
        &self,
        topic: &TopicBinding,
        options: ConsumerOptions,
    ) -> Result<(KafkaHandle, KafkaReader), ClientError> {
        consumer::open(&self.config, &topic.name, options).await
    }

    fn schemas(&self) -> HttpRegistry {
        self.registry.clone()
    }
}
