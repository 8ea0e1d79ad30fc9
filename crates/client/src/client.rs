//! [`Client`]: what an application holds. It puts the layers together: the
//! transport its producers and consumers run over (gRPC to a Runnel broker,
//! or Kafka), the gRPC connection its admin, registry and subscription calls
//! use, and the schema cache every one of them shares. The typed API
//! (`producer.rs`, `consumer.rs`, `queue.rs`, `admin.rs`, `schemas.rs`) adds
//! its methods to it.

use std::sync::Arc;

use crate::error::ClientError;
use crate::grpc::connection::{ClientOptions, Connection};
use crate::grpc::GrpcTransport;
use crate::registry::SchemaCache;

/// The transport a client's producers and consumers run over: with the
/// `kafka` feature, gRPC or Kafka as chosen at connect; without it, gRPC.
#[cfg(feature = "kafka")]
pub(crate) type ClientTransport =
    crate::transport::either::Either<GrpcTransport, crate::kafka::KafkaTransport>;
#[cfg(not(feature = "kafka"))]
pub(crate) type ClientTransport = GrpcTransport;

/// A connection to a Runnel broker. Cheap to clone: clones share the connection
/// and the schema cache.
///
/// ```no_run
/// # async fn f() -> Result<(), runnel_client::ClientError> {
/// let client = runnel_client::Client::connect("http://127.0.0.1:6650").await?;
/// for topic in client.list_topics().await? {
///     println!("{}", topic.name);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    /// Admin, registry and subscription calls; on a Kafka client, to no broker.
    connection: Connection,
    /// Producers and consumers.
    transport: ClientTransport,
    /// Schemas by id, for the registry calls and every consumer of this client.
    schemas: Arc<SchemaCache>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.inner.url).finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to the broker at `url` (e.g. `http://127.0.0.1:6650`) with the default options.
    pub async fn connect(url: impl Into<String>) -> Result<Client, ClientError> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// Connects to the broker at `url` with the given options.
    ///
    /// The connection is made now, so that a wrong address fails here; once
    /// up, it reconnects by itself when it breaks, and calls retry with
    /// back-off while it does.
    pub async fn connect_with(url: impl Into<String>, options: ClientOptions) -> Result<Client, ClientError> {
        let url = url.into();
        let connection = Connection::connect(&url, options).await?;
        // Into `Either::Grpc` with the `kafka` feature; the same type without it.
        #[allow(clippy::useless_conversion)]
        let transport = GrpcTransport::new(connection.clone()).into();
        Ok(Client::assemble(url, connection, transport))
    }

    /// Connects to a Kafka cluster and a Confluent-compatible schema registry
    /// instead of a Runnel broker (cargo feature `kafka`): `producer::<T>(topic)`
    /// and `consumer::<T>(topic)` then work as over gRPC, with records in the
    /// Confluent wire format under subject `<topic>-value`. Admin, registry and
    /// queue-subscription calls need a Runnel broker: on this client they fail at once.
    #[cfg(feature = "kafka")]
    pub async fn connect_kafka(config: crate::kafka::config::KafkaConfig) -> Result<Client, ClientError> {
        let url = format!("kafka://{}", config.bootstrap_servers);
        let transport = crate::kafka::KafkaTransport::connect(config).await?;
        let transport = crate::transport::either::Either::Kafka(transport);
        Ok(Client::assemble(url, Connection::nowhere(), transport))
    }

    fn assemble(url: String, connection: Connection, transport: ClientTransport) -> Client {
        let schemas = Arc::default();
        Client { inner: Arc::new(Inner { url, connection, transport, schemas }) }
    }

    /// The broker URL this client was connected to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The gRPC connection, for admin, registry and subscription calls.
    pub(crate) fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// The transport producers and consumers run over.
    pub(crate) fn transport(&self) -> &ClientTransport {
        &self.inner.transport
    }

    /// The schemas by id this client has seen.
    pub(crate) fn schema_cache(&self) -> &Arc<SchemaCache> {
        &self.inner.schemas
    }
}
