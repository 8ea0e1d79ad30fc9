//! The composition root: `start` opens the data directory (metadata, registry, topics,
//! recovering every partition), builds the services over it (tenants, topics, the produce
//! and fetch paths, groups, subscriptions, metrics) and the [`Broker`] that holds them,
//! binds the gRPC and HTTP listeners (and the Kafka one), wires the front ends to the
//! services (Admin, Broker, Groups, Registry, Tenants, Subscriptions over tonic, `grpc/`;
//! the registry's Confluent REST API, `/health` and `/metrics` over axum, `http.rs`;
//! `kafka/`), starts the background tasks (retention, the groups' reaper, transaction
//! timeouts) and runs until
//! `RunningServer::shutdown`, which stops them in order.
//!
//! With a token verifier configured (`ServerConfig::auth`), both edges authenticate every
//! request (see `auth.rs`) and each handler authorizes what it is asked before it
//! looks anything up; `/health` stays open. With `ServerConfig::tls`, every listener speaks
//! TLS only (`tls.rs`). The Kafka listener follows both: SASL (PLAIN, OAUTHBEARER with the
//! same tokens) when authentication is on, TLS when TLS is on (`kafka/sasl.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runnel_proto::MAX_MESSAGE_BYTES;
use runnel_registry::{Registry, RegistryConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Verifier};
use crate::broker::{Broker, Holders, Limits};
use crate::error::BrokerError;
use crate::fetch::Fetcher;
use crate::functions::Functions;
use crate::groups::Groups;
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::produce::Appender;
use crate::replication::{Replication, DEFAULT_CLUSTER};
use crate::subscriptions::dispatcher;
use crate::subscriptions::dlq::DeadLetters;
use crate::subscriptions::Subscriptions;
use crate::tenants::Tenants;
use crate::tls::{TlsConfig, TlsListener};
use crate::topics::{TopicLimits, Topics};
use crate::transactions::Transactions;
use crate::{connection, grpc, http, kafka, shutdown};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where everything is stored.
    pub data_dir: PathBuf,
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// HTTP listen address (registry REST API, health, metrics).
    pub http_addr: SocketAddr,
    /// Largest record (key + value) accepted.
    pub max_record_bytes: usize,
    /// Largest produce batch accepted.
    pub max_batch_bytes: usize,
    /// Largest fetch response.
    pub max_fetch_bytes: usize,
    /// Most concurrent gRPC connections.
    pub max_connections: usize,
    /// Most requests served at once on one gRPC connection; more wait (HTTP/2
    /// back-pressure), so one client cannot occupy every worker.
    pub max_in_flight_per_connection: usize,
    /// Largest schema text the registry accepts (REST and gRPC).
    pub max_schema_bytes: usize,
    /// Most topics; creating one more is refused with RESOURCE_EXHAUSTED.
    pub max_topics: usize,
    /// Most partitions over all topics; beyond it, RESOURCE_EXHAUSTED.
    pub max_partitions: usize,
    /// How often retention runs.
    pub retention_check_interval: Duration,
    /// HTTP/2 initial stream and connection window.
    pub http2_window_bytes: u32,
    /// Kafka protocol listen address (`None`: no Kafka listener). With `auth` it requires
    /// SASL (SASL_PLAINTEXT, or SASL_SSL with `tls`); without, it is PLAINTEXT (SSL with `tls`).
    pub kafka_addr: Option<SocketAddr>,
    /// Verifies bearer tokens on every gRPC and HTTP request (`/health` excepted) and every
    /// Kafka connection's SASL authentication. `None`, the default: authentication is off and
    /// every caller may do everything.
    pub auth: Option<Verifier>,
    /// TLS for the gRPC, HTTP and Kafka listeners. `None`, the default: plaintext.
    pub tls: Option<TlsConfig>,
    /// This cluster's name, as other clusters know it for geo-replication (`standalone`).
    pub cluster_name: String,
    /// A registry opened by the caller (e.g. on a Kafka topic, `Registry::open_kafka`); `None`,
    /// the default: the redb registry under `data_dir/registry`.
    pub registry: Option<Registry>,
}

impl ServerConfig {
    /// The defaults: gRPC on 127.0.0.1:6650, HTTP on 127.0.0.1:8081.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 6650)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            max_record_bytes: 8 << 20,
            max_batch_bytes: 32 << 20,
            max_fetch_bytes: 32 << 20,
            max_connections: 1024,
            max_in_flight_per_connection: 256,
            max_schema_bytes: RegistryConfig::default().max_schema_bytes,
            max_topics: 10_000,
            max_partitions: 100_000,
            retention_check_interval: Duration::from_secs(60),
            http2_window_bytes: 8 << 20,
            kafka_addr: Some(SocketAddr::from(([127, 0, 0, 1], 9092))),
            auth: None,
            tls: None,
            cluster_name: DEFAULT_CLUSTER.to_owned(),
            registry: None,
        }
    }

    /// The defaults on free ports (port 0 for both), for tests.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        let mut c = Self::new(data_dir);
        c.grpc_addr.set_port(0);
        c.http_addr.set_port(0);
        if let Some(k) = c.kafka_addr.as_mut() {
            k.set_port(0);
        }
        c
    }
}

/// A server that is listening. Dropping it without `shutdown` leaves the tasks
/// running until the runtime ends.
#[derive(Debug)]
pub struct RunningServer {
    broker: Arc<Broker>,
    /// The services' handle counts once built, before any request or task.
    at_rest: Holders,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    kafka_addr: Option<SocketAddr>,
    tls: bool,
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    http: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound Kafka protocol address, if the Kafka listener runs.
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka_addr
    }

    /// `http://<grpc addr>` (`https://` with TLS).
    pub fn grpc_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.grpc_addr)
    }

    /// `http://<http addr>` (`https://` with TLS): the Confluent-compatible registry's base URL.
    pub fn registry_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.http_addr)
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// Stops accepting, ends streams, lets in-flight requests finish, then writes
    /// and fsyncs every queued append and closes the logs.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        self.broker.shutdown.cancel();
        if let Ok(Err(e)) = self.grpc.await {
            tracing::warn!(error = %e, "gRPC server ended with an error");
        }
        if let Ok(Err(e)) = self.http.await {
            tracing::warn!(error = %e, "HTTP server ended with an error");
        }
        for task in self.background {
            let _ = task.await;
        }
        // Functions end their turns (an open one is aborted) before the logs close.
        self.broker.functions.stop().await;
        // Subscriptions store their acknowledgement state before the logs close.
        self.broker.subscriptions.close().await;
        let closed = self.broker.topics.close().await;
        // Stream tasks end on the cancellation; wait for the last of them to drop its
        // handle on the broker or a service so that meta.redb and the registry are closed
        // when this returns (a restart in the same process can then reopen them).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while (Arc::strong_count(&self.broker) > 1 || self.broker.holders() != self.at_rest)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        closed
    }
}

/// Opens the data directory, binds both listeners and starts serving. Returns
/// once the listeners are bound.
pub async fn start(config: ServerConfig) -> Result<RunningServer, BrokerError> {
    // Bad certificate or key files fail here, before anything is opened.
    let http_tls = config.tls.as_ref().map(|t| t.rustls(&[b"http/1.1"])).transpose()?;
    let kafka_tls = config.tls.as_ref().map(|t| t.rustls(&[])).transpose()?;
    let verifier: auth::Authenticator = config.auth.clone().map(Arc::new);
    let data = config.data_dir.clone();
    std::fs::create_dir_all(&data).map_err(|e| BrokerError::io("create", &data, e))?;
    let broker = Arc::new(open_services(&config).await?);
    let at_rest = broker.holders();
    // Functions start once the count at rest is taken: their tasks hold services
    // until `shutdown` stops them.
    broker.functions.start()?;

    let grpc_listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| BrokerError::Bind { addr: config.grpc_addr, source })?;
    let grpc_addr =
        grpc_listener.local_addr().map_err(|source| BrokerError::Bind { addr: config.grpc_addr, source })?;
    let http_listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| BrokerError::Bind { addr: config.http_addr, source })?;
    let http_addr =
        http_listener.local_addr().map_err(|source| BrokerError::Bind { addr: config.http_addr, source })?;

    let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let incoming = connection::limited(incoming, Arc::clone(&broker.metrics), config.max_connections);
    let mut grpc_builder = tonic::transport::Server::builder();
    if let Some(tls) = &config.tls {
        grpc_builder = grpc_builder
            .tls_config(tls.grpc())
            .map_err(|e| BrokerError::InvalidArgument(format!("TLS: {e}")))?;
    }
    let grpc = grpc_builder
        .layer(tonic::service::InterceptorLayer::new(auth::GrpcAuthenticator::new(verifier.clone())))
        .initial_stream_window_size(config.http2_window_bytes)
        .initial_connection_window_size(config.http2_window_bytes)
        // Frames big enough that a produce batch arrives in one and is stored as received.
        .max_frame_size(Some(grpc::broker_routes::MAX_FRAME_BYTES))
        .concurrency_limit_per_connection(config.max_in_flight_per_connection.max(1))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(grpc::admin::server(Arc::clone(&broker)))
        .add_service(grpc::broker_routes::server(Arc::clone(&broker)))
        .add_service(grpc::groups::server(Arc::clone(&broker)))
        .add_service(grpc::subscriptions::server(Arc::clone(&broker)))
        .add_service(grpc::tenants::server(Arc::clone(&broker)))
        .add_service(grpc::registry::server(Arc::clone(&broker)))
        .add_service(grpc::transactions::server(Arc::clone(&broker)))
        .add_service(grpc::functions::server(Arc::clone(&broker)))
        .add_service(grpc::replication::server(Arc::clone(&broker)))
        .serve_with_incoming_shutdown(incoming, shutdown::cancelled(broker.shutdown.clone()));
    let grpc = tokio::spawn(grpc);

    let app = http::router(&broker, verifier.clone());
    let http_shutdown = shutdown::cancelled(broker.shutdown.clone());
    let http = match http_tls {
        Some(tls) => {
            let listener = TlsListener::new(http_listener, tls, broker.shutdown.clone())
                .map_err(|source| BrokerError::Bind { addr: http_addr, source })?;
            tokio::spawn(
                async move { axum::serve(listener, app).with_graceful_shutdown(http_shutdown).await },
            )
        }
        None => tokio::spawn(async move {
            axum::serve(http_listener, app).with_graceful_shutdown(http_shutdown).await
        }),
    };

    let mut background = vec![
        tokio::spawn(retention_task(
            Arc::clone(&broker.topics),
            broker.shutdown.clone(),
            config.retention_check_interval,
        )),
        tokio::spawn(reaper_task(Arc::clone(&broker.groups), broker.shutdown.clone())),
        tokio::spawn(Arc::clone(&broker.transactions).run_timeouts(broker.shutdown.clone())),
        // Replication links start once the count at rest is taken and stop (the task
        // waits for them) when the server shuts down.
        broker.replication.start(),
    ];
    tracing::info!(
        %grpc_addr,
        %http_addr,
        data = %data.display(),
        auth = config.auth.is_some(),
        tls = config.tls.is_some(),
        "runnel broker listening"
    );
    let kafka_addr = match config.kafka_addr {
        Some(addr) => {
            let security = kafka::Security { verifier: verifier.clone(), tls: kafka_tls };
            let (bound, task) = kafka::start(Arc::clone(&broker), addr, security).await?;
            background.push(task);
            Some(bound)
        }
        None => None,
    };
    let tls = config.tls.is_some();
    Ok(RunningServer { broker, at_rest, grpc_addr, http_addr, kafka_addr, tls, grpc, http, background })
}

/// Opens the storage under `config.data_dir` (`meta.redb`, the registry, every topic's
/// partitions) and builds the services over it, each given the others it needs.
async fn open_services(config: &ServerConfig) -> Result<Broker, BrokerError> {
    let data = config.data_dir.clone();
    let registry_config = RegistryConfig { max_schema_bytes: config.max_schema_bytes, ..Default::default() };
    let (meta, registry) = {
        let data = data.clone();
        let given = config.registry.clone();
        tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
            let meta = Meta::open(&data.join("meta.redb"))?;
            let registry = match given {
                Some(registry) => registry,
                None => {
                    let registry_dir = data.join("registry");
                    std::fs::create_dir_all(&registry_dir)
                        .map_err(|e| BrokerError::io("create", &registry_dir, e))?;
                    Registry::open(&registry_dir, registry_config)?
                }
            };
            Ok((meta, registry))
        })
        .await
        .map_err(|e| BrokerError::Storage(format!("open task failed: {e}")))??
    };
    let limits = Limits {
        max_record_bytes: config.max_record_bytes,
        max_batch_bytes: config.max_batch_bytes.min(MAX_MESSAGE_BYTES),
        max_fetch_bytes: config.max_fetch_bytes.min(MAX_MESSAGE_BYTES / 2),
        max_topics: config.max_topics,
        max_partitions: config.max_partitions,
    };
    let shutdown = CancellationToken::new();
    let meta = Arc::new(meta);
    let metrics = Arc::new(Metrics::default());
    let tenants = Arc::new(Tenants::open(Arc::clone(&meta))?);
    let topics = Arc::new(Topics::open(
        data.join("topics"),
        Arc::clone(&meta),
        Arc::clone(&tenants),
        registry.clone(),
        TopicLimits { max_topics: limits.max_topics, max_partitions: limits.max_partitions },
        Arc::clone(&metrics.fsyncs),
    )?);
    let transactions = Arc::new(Transactions::new(Arc::clone(&meta), Arc::clone(&topics)));
    // Transactions a crash left half-completed are completed before anything is served.
    transactions.recover().await?;
    let append = Arc::new(Appender::new(
        Arc::clone(&topics),
        registry.clone(),
        Arc::clone(&metrics),
        Arc::clone(&meta),
        Arc::clone(&transactions),
        limits.max_batch_bytes,
        limits.max_record_bytes,
    ));
    let fetch = Arc::new(Fetcher::new(
        Arc::clone(&topics),
        Arc::clone(&metrics),
        shutdown.clone(),
        limits.max_fetch_bytes,
    ));
    let groups = Arc::new(Groups::new(Arc::clone(&topics), Arc::clone(&meta), shutdown.clone()));
    let subscriptions = Arc::new(Subscriptions::new(
        Arc::clone(&topics),
        dispatcher::Services {
            meta: Arc::clone(&meta),
            dead_letters: DeadLetters::new(Arc::clone(&topics), Arc::clone(&append)),
            shutdown: shutdown.clone(),
        },
    ));
    let functions = Arc::new(Functions::new(
        Arc::clone(&meta),
        Arc::clone(&topics),
        registry.clone(),
        Arc::clone(&append),
        Arc::clone(&transactions),
        Arc::clone(&groups),
        shutdown.clone(),
    )?);
    let replication = Arc::new(Replication::new(
        &config.cluster_name,
        Arc::clone(&meta),
        Arc::clone(&topics),
        Arc::clone(&tenants),
        registry.clone(),
        shutdown.clone(),
    )?);
    Ok(Broker {
        limits,
        meta,
        registry,
        tenants,
        topics,
        append,
        fetch,
        groups,
        kafka_groups: Arc::new(crate::kafka_groups::Coordinator::default()),
        subscriptions,
        transactions,
        functions,
        replication,
        metrics,
        shutdown,
    })
}

async fn retention_task(topics: Arc<Topics>, shutdown: CancellationToken, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let t = Arc::clone(&topics);
        let _ = tokio::task::spawn_blocking(move || t.apply_retention()).await;
    }
}

async fn reaper_task(groups: Arc<Groups>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => groups.reap_expired(),
        }
    }
}
