//! Test helpers: a real Runnel server (broker, registry, gRPC and HTTP) on free
//! ports in a temporary directory, started in one line, and a connected client;
//! waiting for a consumer's next message; and (`typed`) the typed client's
//! test bodies that run over either transport.

#![allow(dead_code)]

pub mod typed;

use std::time::Duration;

use futures::{Stream, StreamExt};
use runnel::{Client, ClientError, NewTopic};
use runnel_broker::{RunningServer, ServerConfig};

/// Long enough for anything a healthy server does; only reached when a test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running server, its data directory and a client connected to it.
pub struct TestServer {
    /// `None` once stopped.
    pub server: Option<RunningServer>,
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// A client of the server.
    pub client: Client,
}

impl TestServer {
    /// Starts a server on free ports in a new temporary directory.
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let server = runnel_broker::start(ServerConfig::ephemeral(dir.path())).await.expect("server starts");
        let client = Client::connect(server.grpc_url()).await.expect("client connects");
        TestServer { server: Some(server), dir, client }
    }

    /// The gRPC URL.
    pub fn url(&self) -> String {
        self.server.as_ref().expect("server running").grpc_url()
    }

    /// The registry's REST URL.
    pub fn registry_url(&self) -> String {
        self.server.as_ref().expect("server running").registry_url()
    }

    /// Stops the server and starts it again on the same ports and data.
    pub async fn restart(&mut self) {
        let server = self.server.take().expect("server running");
        let (grpc, http) = (server.grpc_addr(), server.http_addr());
        server.shutdown().await.expect("clean shutdown");
        let mut config = ServerConfig::ephemeral(self.dir.path());
        config.grpc_addr = grpc;
        config.http_addr = http;
        self.server = Some(runnel_broker::start(config).await.expect("server restarts"));
    }

    /// Creates a topic with `partitions` partitions and registers `schema`
    /// under its value subject; returns the schema id.
    pub async fn topic_with_schema(&self, topic: &str, partitions: u32, schema: &runnel::Schema) -> u32 {
        let registered =
            self.client.register_schema(&format!("{topic}-value"), schema).await.expect("schema registers");
        self.client.create_topic(NewTopic::new(topic).partitions(partitions)).await.expect("topic created");
        registered.id
    }
}

/// Waits (polling) until `cond` holds; panics after `limit` with `what`.
pub async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next message of a consumer (typed or queue) if one comes within
/// `limit`; panics on an error item or the end of the stream.
pub async fn next_within<M>(
    limit: Duration,
    consumer: &mut (impl Stream<Item = Result<M, ClientError>> + Unpin),
) -> Option<M> {
    match tokio::time::timeout(limit, consumer.next()).await {
        Ok(Some(Ok(msg))) => Some(msg),
        Ok(Some(Err(e))) => panic!("consumer error: {e}"),
        Ok(None) => panic!("consumer ended"),
        Err(_) => None,
    }
}

/// The next message of a consumer, waiting up to [`PATIENCE`] for it.
pub async fn next_message<M>(consumer: &mut (impl Stream<Item = Result<M, ClientError>> + Unpin)) -> M {
    match next_within(PATIENCE, consumer).await {
        Some(msg) => msg,
        None => panic!("no message within {PATIENCE:?}"),
    }
}
