//! `runnel gateway`: an enforcing Kafka-protocol proxy in front of any
//! Kafka-compatible cluster (Apache Kafka, Redpanda, Tansu). Clients connect to
//! the gateway as to a broker; every produced record is checked against the schema
//! registry as Runnel's own broker checks it (the check itself is `runnel-enforce`'s),
//! and refused per partition with INVALID_RECORD and the reason; everything else
//! (fetches, groups, offsets, admin) passes through.
//!
//! Stateless: nothing but a cache of the registry's answers, so several gateways
//! serve one cluster and a client that lists them all carries on through another
//! when one stops. Each gateway advertises itself as every broker of the cluster
//! (Metadata, FindCoordinator and DescribeCluster are rewritten), so clients never
//! learn the cluster's own addresses. One client connection is one upstream
//! connection, to the bootstrap broker that answers: this routes correctly for a
//! one-broker upstream; a cluster of several brokers needs one gateway port per
//! broker (not built yet, see docs/scale-out.md).
//!
//! The client side can be secured as Runnel's own Kafka listener is (TLS, SASL PLAIN or
//! OAUTHBEARER with a Runnel token, produce and consume grants per topic); the upstream
//! connection is plain TCP to the cluster's listener.
//!
//! Map: `connection.rs` (one client: framing, pipelining, rewriting answers),
//! `produce.rs` (checking a Produce and merging the refusals into the answer),
//! `schemas.rs` (the registry over HTTP, cached), `security.rs` (TLS, SASL, grants).

mod connection;
pub mod produce;
pub mod schemas;
pub mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_auth::token::Verifier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use produce::Level;
use schemas::RegistrySchemas;
pub use security::Tls;

/// How long connecting to (and the first answer of) the upstream may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the gateway: starting it, or one connection.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A client's frame or request does not parse.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The upstream cluster is unreachable, or does not speak the Kafka protocol.
    #[error("upstream: {0}")]
    Upstream(String),
    /// The client broke the SASL rules or failed to authenticate: the connection closes.
    #[error("refused: {0}")]
    Refused(String),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// What a gateway is started with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// The address given to clients as every broker's; `None`: the bound address.
    pub advertised: Option<SocketAddr>,
    /// The cluster's bootstrap brokers, `host:port[,host:port…]`.
    pub upstream: String,
    /// The schema registry's URL.
    pub registry_url: String,
    /// How much of each record is checked.
    pub level: Level,
    /// Set, clients must authenticate with SASL (a token this verifies) and hold grants.
    pub auth: Option<Verifier>,
    /// Set, clients connect with TLS.
    pub tls: Option<Tls>,
}

/// What every connection shares.
pub(crate) struct State {
    upstream: Vec<String>,
    advertised: SocketAddr,
    schemas: RegistrySchemas,
    level: Level,
    verifier: Option<Arc<Verifier>>,
}

impl State {
    /// A connection to the first bootstrap broker that accepts one.
    pub(crate) async fn connect_upstream(&self) -> Result<TcpStream, GatewayError> {
        let mut last = String::from("no upstream address");
        for addr in &self.upstream {
            match tokio::time::timeout(UPSTREAM_TIMEOUT, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: no connection after {UPSTREAM_TIMEOUT:?}"),
            }
        }
        Err(GatewayError::Upstream(last))
    }
}

/// Checks that the upstream answers ApiVersions as a Kafka broker does; returns how many
/// APIs it offers.
pub async fn probe_upstream(state_upstream: &[String]) -> Result<usize, GatewayError> {
    let mut last = GatewayError::Upstream("no upstream address".into());
    for addr in state_upstream {
        match tokio::time::timeout(UPSTREAM_TIMEOUT, probe_one(addr)).await {
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = GatewayError::Upstream(format!(
                    "{addr} did not answer a Kafka ApiVersions request within {UPSTREAM_TIMEOUT:?}; is it a Kafka broker?"
                ))
            }
        }
    }
    Err(last)
}

async fn probe_one(addr: &str) -> Result<usize, GatewayError> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| GatewayError::Upstream(format!("cannot connect to {addr}: {e}")))?;
    let version = 0;
    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::ApiVersions as i16;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("runnel-gateway"));
    let mut out = BytesMut::new();
    out.put_i32(0);
    let encode = |e: anyhow::Error| GatewayError::Upstream(e.to_string());
    header.encode(&mut out, ApiKey::ApiVersions.request_header_version(version)).map_err(encode)?;
    ApiVersionsRequest::default().encode(&mut out, version).map_err(encode)?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    stream.write_all(&out).await?;
    let foreign =
        |why: String| GatewayError::Upstream(format!("{addr} does not speak the Kafka protocol ({why})"));
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await.map_err(|e| foreign(format!("no answer: {e}")))?;
    let size = i32::from_be_bytes(size);
    if !(6..=1024 * 1024).contains(&size) {
        return Err(foreign(format!(
            "an answer of {size} bytes, starting {:?}",
            String::from_utf8_lossy(&size.to_be_bytes())
        )));
    }
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body).await.map_err(|e| foreign(e.to_string()))?;
    let mut buf = bytes::Bytes::from(body);
    let header = ResponseHeader::decode(&mut buf, 0).map_err(|e| foreign(e.to_string()))?;
    if header.correlation_id != 1 {
        return Err(foreign(format!("correlation id {} instead of 1", header.correlation_id)));
    }
    let r = ApiVersionsResponse::decode(&mut buf, version).map_err(|e| foreign(e.to_string()))?;
    if r.error_code != 0 || !r.api_keys.iter().any(|a| a.api_key == ApiKey::Produce as i16) {
        return Err(foreign(format!("ApiVersions error {} with {} APIs", r.error_code, r.api_keys.len())));
    }
    Ok(r.api_keys.len())
}

/// Checks the upstream, binds `config.listen` and serves clients. Returns the bound address
/// and the accept loop's task.
pub async fn start(config: Config) -> Result<(SocketAddr, JoinHandle<()>), GatewayError> {
    let upstream: Vec<String> =
        config.upstream.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    let apis = probe_upstream(&upstream).await?;
    tracing::info!(upstream = %config.upstream, apis, "upstream answers as a Kafka broker");
    let listener = TcpListener::bind(config.listen).await?;
    let bound = listener.local_addr()?;
    let state = Arc::new(State {
        upstream,
        advertised: config.advertised.unwrap_or(bound),
        schemas: RegistrySchemas::new(&config.registry_url),
        level: config.level,
        verifier: config.auth.map(Arc::new),
    });
    let tls = config.tls.map(|t| tokio_rustls::TlsAcceptor::from(t.0));
    let task = tokio::spawn(async move {
        loop {
            let (client, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = client.set_nodelay(true);
            let (state, tls) = (Arc::clone(&state), tls.clone());
            tokio::spawn(async move {
                let served = match tls {
                    None => connection::serve(client, peer, state).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(security::HANDSHAKE_TIMEOUT, acceptor.accept(client)).await
                        {
                            Ok(Ok(client)) => connection::serve(client, peer, state).await,
                            Ok(Err(e)) => Err(GatewayError::Tls(format!("handshake failed: {e}"))),
                            Err(_) => Err(GatewayError::Tls("handshake timed out".into())),
                        }
                    }
                };
                if let Err(e) = served {
                    tracing::info!(%peer, error = %e, "gateway connection closed");
                }
            });
        }
    });
    Ok((bound, task))
}
