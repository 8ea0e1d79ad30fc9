//! The servers: `start` opens the data directory (metadata, registry, topics,
//! recovering every partition), binds the gRPC and HTTP listeners, and runs
//! the services (Admin, Broker, Groups, Registry over tonic; the registry's
//! Confluent REST API, `/health` and `/metrics` over axum) until
//! `RunningServer::shutdown`.
//!
//! With a token verifier configured (`ServerConfig::auth`), both edges authenticate every
//! request (see `auth.rs`) and each handler below authorizes what it is asked before it
//! looks anything up; `/health` stays open. With `ServerConfig::tls`, both listeners speak
//! TLS only (`tls.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use runnel_auth::names::TopicName;
use runnel_proto::v1::{
    self, admin_server::AdminServer, broker_server::BrokerServer, groups_server::GroupsServer,
    registry_server::RegistryServer,
};
use runnel_proto::MAX_MESSAGE_BYTES;
use runnel_registry::{Registry, RegistryConfig, VersionSelector};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::auth::{self, Caller, Permission, Resource, Verifier};
use crate::error::BrokerError;
use crate::groups::{self, Groups};
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::state::{Broker, Limits};
use crate::tls::{TlsConfig, TlsListener};
use crate::topics::{TopicConfig, Topics};
use crate::{connection, fetch, produce, shutdown};

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
    /// Kafka protocol listen address (`None`: no Kafka listener). The Kafka listener has
    /// neither SASL nor TLS, so it cannot be combined with `auth` or `tls`.
    pub kafka_addr: Option<SocketAddr>,
    /// Verifies bearer tokens on every gRPC and HTTP request (`/health` excepted). `None`,
    /// the default: authentication is off and every caller may do everything.
    pub auth: Option<Verifier>,
    /// TLS for the gRPC and HTTP listeners. `None`, the default: plaintext.
    pub tls: Option<TlsConfig>,
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
        // Subscriptions store their acknowledgement state before the logs close.
        self.broker.subscriptions.close().await;
        let closed = self.broker.topics.close().await;
        // Stream tasks end on the cancellation; wait for the last of them to drop
        // its handle so that meta.redb and the registry are closed when this
        // returns (a restart in the same process can then reopen them).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.broker) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        closed
    }
}

/// Opens the data directory, binds both listeners and starts serving. Returns
/// once the listeners are bound.
pub async fn start(config: ServerConfig) -> Result<RunningServer, BrokerError> {
    if config.kafka_addr.is_some() && (config.auth.is_some() || config.tls.is_some()) {
        return Err(BrokerError::InvalidArgument(
            "the Kafka listener has no authentication (no SASL) and no TLS, so it cannot run on a \
             server with authentication or TLS on: turn it off (`serve --kafka none`, kafka_addr: None)"
                .to_owned(),
        ));
    }
    // Bad certificate or key files fail here, before anything is opened.
    let http_tls = config.tls.as_ref().map(|t| t.rustls(&[b"http/1.1"])).transpose()?;
    let verifier: auth::Authenticator = config.auth.clone().map(Arc::new);
    let data = config.data_dir.clone();
    let registry_config = RegistryConfig { max_schema_bytes: config.max_schema_bytes, ..Default::default() };
    std::fs::create_dir_all(&data).map_err(|e| BrokerError::io("create", &data, e))?;
    let (meta, registry) = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
            let meta = Meta::open(&data.join("meta.redb"))?;
            let registry_dir = data.join("registry");
            std::fs::create_dir_all(&registry_dir)
                .map_err(|e| BrokerError::io("create", &registry_dir, e))?;
            let registry = Registry::open(&registry_dir, registry_config)?;
            Ok((meta, registry))
        })
        .await
        .map_err(|e| BrokerError::Storage(format!("open task failed: {e}")))??
    };
    let metrics = Metrics::default();
    let topics = Topics::open(data.join("topics"), &meta, Arc::clone(&metrics.fsyncs))?
        .with_registry(registry.clone());
    let broker = Arc::new(Broker {
        limits: Limits {
            max_record_bytes: config.max_record_bytes,
            max_batch_bytes: config.max_batch_bytes.min(MAX_MESSAGE_BYTES),
            max_fetch_bytes: config.max_fetch_bytes.min(MAX_MESSAGE_BYTES / 2),
            max_topics: config.max_topics,
            max_partitions: config.max_partitions,
        },
        meta,
        topics,
        registry,
        groups: Groups::default(),
        subscriptions: crate::subscriptions::Subscriptions::default(),
        metrics,
        shutdown: CancellationToken::new(),
    });

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
    let incoming = connection::limited(incoming, Arc::clone(&broker), config.max_connections);
    let svc = Services(Arc::clone(&broker));
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
        .concurrency_limit_per_connection(config.max_in_flight_per_connection.max(1))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(
            AdminServer::new(svc.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            BrokerServer::new(svc.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            GroupsServer::new(svc.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(crate::subscriptions::service::server(Arc::clone(&broker)))
        .add_service(crate::tenants::server(Arc::clone(&broker)))
        .add_service(
            RegistryServer::new(svc)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(incoming, shutdown::cancelled(broker.shutdown.clone()));
    let grpc = tokio::spawn(grpc);

    // Everything but /health passes the authentication middleware (open when auth is off).
    let guarded =
        runnel_registry::router_with_access(broker.registry.clone(), Arc::new(auth::RegistryAccess))
            .merge(
                axum::Router::new()
                    .route("/metrics", axum::routing::get(metrics_text))
                    .with_state(Arc::clone(&broker)),
            )
            .layer(axum::middleware::from_fn_with_state(verifier, auth::http_authenticate));
    let app = guarded.merge(
        axum::Router::new().route("/health", axum::routing::get(health)).with_state(Arc::clone(&broker)),
    );
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
        tokio::spawn(retention_task(Arc::clone(&broker), config.retention_check_interval)),
        tokio::spawn(reaper_task(Arc::clone(&broker))),
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
            let (bound, task) = crate::kafka::start(Arc::clone(&broker), addr).await?;
            background.push(task);
            Some(bound)
        }
        None => None,
    };
    let tls = config.tls.is_some();
    Ok(RunningServer { broker, grpc_addr, http_addr, kafka_addr, tls, grpc, http, background })
}

impl Broker {
    /// Refuses `topics` more topics with `partitions` more partitions when that
    /// would pass the configured limits. (Concurrent creates may pass a limit by
    /// the few created at the same instant: the limits guard memory, not a count.)
    fn check_topic_limits(&self, topics: usize, partitions: u32) -> Result<(), BrokerError> {
        let all = self.topics.list();
        if all.len() + topics > self.limits.max_topics {
            return Err(BrokerError::TooLarge(format!(
                "the broker holds {} topics, the limit is {}",
                all.len(),
                self.limits.max_topics
            )));
        }
        let held: usize = all.iter().map(|t| t.partitions.len()).sum();
        if held + partitions as usize > self.limits.max_partitions {
            return Err(BrokerError::TooLarge(format!(
                "the broker holds {held} partitions, {partitions} more would pass the limit of {}",
                self.limits.max_partitions
            )));
        }
        Ok(())
    }
}

async fn health(axum::extract::State(broker): axum::extract::State<Arc<Broker>>) -> impl IntoResponse {
    let topics = broker.topics.list().len();
    axum::Json(serde_json::json!({ "status": "ok", "topics": topics }))
}

/// The metrics name every topic of every tenant: with authentication on, superusers only.
async fn metrics_text(
    axum::extract::State(broker): axum::extract::State<Arc<Broker>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    if let Err(denied) = Caller::check(request.extensions().get(), Permission::Admin, &Resource::Cluster) {
        return auth::http_error(axum::http::StatusCode::FORBIDDEN, 40301, &denied.to_string());
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], broker.metrics.render(&broker.topics))
        .into_response()
}

async fn retention_task(broker: Arc<Broker>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let b = Arc::clone(&broker);
        let _ = tokio::task::spawn_blocking(move || b.topics.apply_retention()).await;
    }
}

async fn reaper_task(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => groups::reap_expired(&broker),
        }
    }
}

/// The tonic services over the shared state.
#[derive(Debug, Clone)]
struct Services(Arc<Broker>);

fn blocking_err(e: tokio::task::JoinError) -> Status {
    Status::internal(format!("task failed: {e}"))
}

/// A topic name as a request carries it (bare or `tenant/namespace/topic`).
fn topic_name(name: &str) -> Result<TopicName, Status> {
    TopicName::parse(name).map_err(|e| Status::invalid_argument(e.to_string()))
}

impl Services {
    /// Authorizes `permission` on the topic a request names, before anything is looked up.
    fn authorize_topic<T>(
        &self,
        req: &Request<T>,
        topic: &str,
        permission: Permission,
    ) -> Result<(), Status> {
        let name = topic_name(topic)?;
        auth::authorize(&self.0, req, permission, Resource::Topic(&name))
    }

    /// Refuses a topic the caller may not see; what it may see it may describe.
    fn require_visible<T>(&self, req: &Request<T>, topic: &str) -> Result<(), Status> {
        let name = topic_name(topic)?;
        if auth::can_see(&self.0, req, Resource::Topic(&name)) {
            return Ok(());
        }
        let who = auth::caller_of(req).and_then(|c| c.name().map(str::to_owned)).unwrap_or_default();
        Err(Status::permission_denied(format!(
            "permission denied: '{who}' has no permission on topic {name}"
        )))
    }

    /// Authorizes a heartbeat or leave: consume on every topic the member's group consumes.
    /// (Member ids may be guessed; the group's topics are what they reach.)
    fn authorize_member<T>(&self, req: &Request<T>, group: &str, member: &str) -> Result<(), Status> {
        for topic in groups::topics_of_member(&self.0, group, member) {
            self.authorize_topic(req, &topic, Permission::Consume)?;
        }
        Ok(())
    }

    /// Authorizes `permission` on a registry subject.
    fn authorize_subject<T>(
        &self,
        req: &Request<T>,
        subject: &str,
        permission: Permission,
    ) -> Result<(), Status> {
        auth::authorize(&self.0, req, permission, Resource::Subject(subject))
    }
}

#[tonic::async_trait]
impl v1::admin_server::Admin for Services {
    async fn create_topic(
        &self,
        req: Request<v1::CreateTopicRequest>,
    ) -> Result<Response<v1::TopicInfo>, Status> {
        let name = topic_name(&req.get_ref().topic)?;
        let namespace = Resource::Namespace { tenant: name.tenant(), namespace: name.namespace() };
        auth::authorize(&self.0, &req, Permission::Admin, namespace)?;
        let req = req.into_inner();
        let config = TopicConfig::from_proto(&req.topic, &req.config.unwrap_or_default())?;
        if self.0.topics.get(&req.topic).is_err() {
            self.0.check_topic_limits(1, config.partitions)?;
        }
        let t = self.0.topics.create(&self.0.meta, &req.topic, config, req.if_not_exists).await?;
        Ok(Response::new(t.info()))
    }

    async fn describe_topic(&self, req: Request<v1::TopicRef>) -> Result<Response<v1::TopicInfo>, Status> {
        self.require_visible(&req, &req.get_ref().topic)?;
        Ok(Response::new(self.0.topics.get(&req.into_inner().topic)?.info()))
    }

    async fn list_topics(
        &self,
        req: Request<v1::ListTopicsRequest>,
    ) -> Result<Response<v1::ListTopicsResponse>, Status> {
        let topics = self
            .0
            .topics
            .list()
            .iter()
            .map(|t| t.info())
            .filter(|info| {
                TopicName::parse(&info.name)
                    .is_ok_and(|name| auth::can_see(&self.0, &req, Resource::Topic(&name)))
            })
            .collect();
        Ok(Response::new(v1::ListTopicsResponse { topics }))
    }

    async fn delete_topic(
        &self,
        req: Request<v1::TopicRef>,
    ) -> Result<Response<v1::DeleteTopicResponse>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Admin)?;
        self.0.topics.delete(&self.0.meta, &req.into_inner().topic).await?;
        Ok(Response::new(v1::DeleteTopicResponse {}))
    }

    async fn add_partitions(
        &self,
        req: Request<v1::AddPartitionsRequest>,
    ) -> Result<Response<v1::TopicInfo>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Admin)?;
        let req = req.into_inner();
        let current = self.0.topics.get(&req.topic)?.partitions.len() as u32;
        self.0.check_topic_limits(0, req.partitions.saturating_sub(current))?;
        let t = self.0.topics.add_partitions(&self.0.meta, &req.topic, req.partitions).await?;
        Ok(Response::new(t.info()))
    }
}

#[tonic::async_trait]
impl v1::broker_server::Broker for Services {
    async fn produce(
        &self,
        req: Request<v1::ProduceRequest>,
    ) -> Result<Response<v1::ProduceResponse>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Produce)?;
        let req = req.into_inner();
        let (cid, p) = (req.correlation_id, req.partition);
        let appended = self.0.produce(&req.topic, p, req.batch).await?;
        Ok(Response::new(produce::response(cid, p, Ok(appended))))
    }

    type ProduceStreamStream = produce::ProduceStream;

    async fn produce_stream(
        &self,
        req: Request<tonic::Streaming<v1::ProduceRequest>>,
    ) -> Result<Response<Self::ProduceStreamStream>, Status> {
        // Each request of the stream names its topic: authorized one by one.
        let caller = auth::caller_of(&req);
        let authorized = move |topic: &str| -> Result<(), BrokerError> {
            let name = TopicName::parse(topic).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
            Caller::check(caller.as_ref(), Permission::Produce, &Resource::Topic(&name))
                .map_err(|d| BrokerError::PermissionDenied(d.to_string()))
        };
        Ok(Response::new(produce::produce_stream(Arc::clone(&self.0), authorized, req.into_inner())))
    }

    type FetchStream = fetch::FetchStream;

    async fn fetch(&self, req: Request<v1::FetchRequest>) -> Result<Response<Self::FetchStream>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        Ok(Response::new(fetch::fetch(Arc::clone(&self.0), req.into_inner())?))
    }

    async fn list_offsets(
        &self,
        req: Request<v1::ListOffsetsRequest>,
    ) -> Result<Response<v1::ListOffsetsResponse>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        Ok(Response::new(fetch::list_offsets(&self.0, req.into_inner()).await?))
    }

    async fn init_producer(
        &self,
        _: Request<v1::InitProducerRequest>,
    ) -> Result<Response<v1::InitProducerResponse>, Status> {
        let b = Arc::clone(&self.0);
        let producer_id =
            tokio::task::spawn_blocking(move || b.meta.next_producer_id()).await.map_err(blocking_err)??;
        Ok(Response::new(v1::InitProducerResponse { producer_id, epoch: 0 }))
    }
}

#[tonic::async_trait]
impl v1::groups_server::Groups for Services {
    type JoinStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<v1::Assignment, Status>> + Send>>;

    async fn join(&self, req: Request<v1::JoinRequest>) -> Result<Response<Self::JoinStream>, Status> {
        use futures::StreamExt;
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let (_member, rx) = groups::join(&self.0, &req.into_inner())?;
        let shutdown = self.0.shutdown.clone();
        let stream = WatchStream::new(rx)
            .filter_map(|a| async move { a.map(Ok) })
            .take_until(async move { shutdown.cancelled().await });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn heartbeat(
        &self,
        req: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        self.authorize_member(&req, &req.get_ref().group, &req.get_ref().member_id)?;
        let req = req.into_inner();
        let rebalance_pending = groups::heartbeat(&self.0, &req.group, &req.member_id, req.generation)?;
        Ok(Response::new(v1::HeartbeatResponse { rebalance_pending }))
    }

    async fn leave(&self, req: Request<v1::LeaveRequest>) -> Result<Response<v1::LeaveResponse>, Status> {
        self.authorize_member(&req, &req.get_ref().group, &req.get_ref().member_id)?;
        let req = req.into_inner();
        groups::leave(&self.0, &req.group, &req.member_id)?;
        Ok(Response::new(v1::LeaveResponse {}))
    }

    async fn commit(&self, req: Request<v1::CommitRequest>) -> Result<Response<v1::CommitResponse>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        groups::commit(&self.0, &req.into_inner()).await?;
        Ok(Response::new(v1::CommitResponse {}))
    }

    async fn fetch_committed(
        &self,
        req: Request<v1::FetchCommittedRequest>,
    ) -> Result<Response<v1::FetchCommittedResponse>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        Ok(Response::new(groups::fetch_committed(&self.0, &req.into_inner())?))
    }

    async fn describe_group(
        &self,
        req: Request<v1::DescribeGroupRequest>,
    ) -> Result<Response<v1::GroupInfo>, Status> {
        self.authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let req = req.into_inner();
        Ok(Response::new(groups::describe(&self.0, &req.group, &req.topic)?))
    }
}

#[tonic::async_trait]
impl v1::registry_server::Registry for Services {
    async fn get_schema(
        &self,
        req: Request<v1::GetSchemaRequest>,
    ) -> Result<Response<v1::SchemaInfo>, Status> {
        let id = req.get_ref().id;
        // Ids are global: one is readable when one of its subjects is; otherwise it is
        // answered as missing, as the REST API does, so ids say nothing about other tenants.
        let subjects = self.0.registry.subject_versions_of_id(id, true).map_err(BrokerError::from)?;
        let readable = subjects.iter().any(|(subject, _)| {
            auth::authorize(&self.0, &req, Permission::SchemaRead, Resource::Subject(subject)).is_ok()
        });
        if !readable {
            let missing = runnel_registry::RegistryError::SchemaNotFound(format!("Schema {id} not found"));
            return Err(BrokerError::from(missing).into());
        }
        let (schema, _refs) = self.0.registry.schema_text_by_id(id).map_err(BrokerError::from)?;
        Ok(Response::new(v1::SchemaInfo { id, schema }))
    }

    async fn lookup(
        &self,
        req: Request<v1::SubjectSchemaRequest>,
    ) -> Result<Response<v1::SubjectVersion>, Status> {
        self.authorize_subject(&req, &req.get_ref().subject, Permission::SchemaRead)?;
        let req = req.into_inner();
        let sv = self.0.registry.lookup(&req.subject, &req.schema).map_err(BrokerError::from)?;
        Ok(Response::new(subject_version(sv)))
    }

    async fn register(
        &self,
        req: Request<v1::SubjectSchemaRequest>,
    ) -> Result<Response<v1::SubjectVersion>, Status> {
        self.authorize_subject(&req, &req.get_ref().subject, Permission::SchemaWrite)?;
        let req = req.into_inner();
        let registry = self.0.registry.clone();
        let sv = tokio::task::spawn_blocking(move || registry.register(&req.subject, &req.schema))
            .await
            .map_err(blocking_err)?
            .map_err(BrokerError::from)?;
        Ok(Response::new(subject_version(sv)))
    }

    async fn get_version(
        &self,
        req: Request<v1::GetVersionRequest>,
    ) -> Result<Response<v1::SubjectVersion>, Status> {
        self.authorize_subject(&req, &req.get_ref().subject, Permission::SchemaRead)?;
        let req = req.into_inner();
        let selector =
            if req.version == -1 { VersionSelector::Latest } else { VersionSelector::Number(req.version) };
        let sv = self.0.registry.version(&req.subject, selector).map_err(BrokerError::from)?;
        Ok(Response::new(subject_version(sv)))
    }

    async fn check_compatibility(
        &self,
        req: Request<v1::SubjectSchemaRequest>,
    ) -> Result<Response<v1::CompatibilityResult>, Status> {
        self.authorize_subject(&req, &req.get_ref().subject, Permission::SchemaRead)?;
        let req = req.into_inner();
        let messages = match self.0.registry.check(&req.subject, &req.schema, VersionSelector::Latest) {
            Ok(m) => m,
            // Nothing registered yet: anything is compatible with nothing.
            Err(runnel_registry::RegistryError::SubjectNotFound(_)) => Vec::new(),
            Err(e) => return Err(BrokerError::from(e).into()),
        };
        Ok(Response::new(v1::CompatibilityResult { compatible: messages.is_empty(), messages }))
    }
}

fn subject_version(sv: runnel_registry::SubjectVersion) -> v1::SubjectVersion {
    v1::SubjectVersion { subject: sv.subject, id: sv.id, version: sv.version, schema: sv.schema }
}
