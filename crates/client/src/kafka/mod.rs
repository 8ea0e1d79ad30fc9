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

use rdkafka::consumer::Consumer as _;
use rdkafka::producer::Producer as _;

use config::KafkaConfig;
use consumer::{KafkaHandle, KafkaReader};
use librdkafka::{base_config, blocking, kafka_error, partition_count, resolve_offsets, OutOfRange};
use producer::KafkaSink;
use registry::HttpRegistry;

use crate::error::ClientError;
use crate::transport::{ConsumerOptions, Position, ProducerOptions, TopicBinding, Transport};

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
        let probe: rdkafka::producer::BaseProducer<ProbeContext> = base_config(&config)
            .create_with_context(ProbeContext::default())
            .map_err(|e| kafka_error("cannot set up a Kafka client", e))?;
        let timeout = config.connect_timeout;
        let bootstrap = config.bootstrap_servers.clone();
        blocking(move || {
            probe.client().fetch_metadata(None, timeout).map_err(|e| {
                // librdkafka's answer is "transport failure" whatever the cause; the cause
                // (a refused SASL token, a TLS handshake) came as an error event, which
                // waits in the main queue until it is polled.
                probe.poll(std::time::Duration::ZERO);
                let cause = probe.context().last_error.lock().take();
                let context = match cause {
                    Some(cause) => format!("cannot reach the Kafka cluster at {bootstrap} ({cause})"),
                    None => format!("cannot reach the Kafka cluster at {bootstrap}"),
                };
                kafka_error(&context, e)
            })
        })
        .await??;
        registry.check_reachable().await?;
        Ok(KafkaTransport { config, registry })
    }
}

/// The context of the probe of [`KafkaTransport::connect`]: keeps librdkafka's last
/// error (event or log line), which says why the cluster could not be used.
#[derive(Default)]
struct ProbeContext {
    last_error: parking_lot::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for ProbeContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "librdkafka error while probing the cluster");
        *self.last_error.lock() = Some(reason.to_owned());
    }

    /// A failed connection (a refused SASL token, a TLS handshake) is only logged by librdkafka.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        use rdkafka::config::RDKafkaLogLevel as Level;
        if matches!(level, Level::Emerg | Level::Alert | Level::Critical | Level::Error) {
            tracing::warn!(target: "librdkafka", fac, "{log_message}");
            // "[thrd:NAME]: BROKER: what happened": what happened.
            let what = log_message.splitn(3, "]: ").last().unwrap_or(log_message);
            let what = what.split_once(": ").map_or(what, |(_, rest)| rest);
            *self.last_error.lock() = Some(what.to_owned());
        } else {
            tracing::debug!(target: "librdkafka", fac, "{log_message}");
        }
    }
}

impl rdkafka::producer::ProducerContext for ProbeContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
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

    /// From the cluster's metadata and each partition's watermarks (and, for a
    /// time, `ListOffsets` by timestamp), on a blocking thread. An offset is
    /// clamped to what the partition holds, as the broker clamps it over gRPC.
    async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[u32],
        position: Position,
    ) -> Result<Vec<(u32, i64)>, ClientError> {
        let reader: rdkafka::consumer::BaseConsumer =
            base_config(&self.config).create().map_err(|e| kafka_error("cannot set up a Kafka client", e))?;
        let reader = std::sync::Arc::new(reader);
        let (probe, name, timeout) = (reader.clone(), topic.to_owned(), self.config.connect_timeout);
        let count =
            partition_count(topic, move || probe.client().fetch_metadata(Some(&name), timeout)).await?;
        let wanted: Vec<u32> = if partitions.is_empty() { (0..count).collect() } else { partitions.to_vec() };
        if let Some(p) = wanted.iter().find(|p| **p >= count) {
            return Err(ClientError::InvalidArgument(format!(
                "`{topic}` has {count} partitions, no partition {p}"
            )));
        }
        let name = topic.to_owned();
        blocking(move || resolve_offsets(&reader, &name, &wanted, position, OutOfRange::Clamp, timeout))
            .await?
    }

    fn schemas(&self) -> HttpRegistry {
        self.registry.clone()
    }
}
