//! The Kafka protocol listener: standard Kafka clients (librdkafka, the Java
//! client) produce to and consume from Runnel topics, with the same schema
//! enforcement, the same durable append path and the same committed offsets
//! as the gRPC API.
//!
//! One task per connection reads frames in order; each request is decoded with
//! the `kafka-protocol` crate and its ordering-critical part (queueing a
//! produce's batches to their partitions) runs before the next request is read.
//! The rest (waiting for fsync, a fetch's long poll, a group join) runs as a
//! future in a per-connection ordered queue, so responses leave in request
//! order while up to `MAX_IN_FLIGHT` requests are pipelined. A malformed or
//! oversized frame closes that connection only.
//!
//! Security: with authentication on the listener is SASL_PLAINTEXT (SASL_SSL with TLS),
//! otherwise PLAINTEXT (SSL). Each connection has a [`sasl::Session`]; every request passes
//! it (nothing but ApiVersions and SaslHandshake before authentication), then
//! [`access::admit`] (authorization with the caller's grants, the caller's Kafka names
//! mapped to Runnel's, quotas) before its handler runs. TLS is the gRPC and HTTP listeners'
//! configuration (`tls.rs`), each handshake in the connection's own task under a timeout.
//! A throttled answer (`throttle_time_ms`) mutes the connection for that long (KIP-219).
//!
//! This is a front end: handlers translate Kafka requests into calls of the broker's
//! services (topics, the produce path, groups' committed offsets) through the `Broker`.
//!
//! Every request whose header decodes is answered: an API or version the listener does not
//! serve gets that API's response carrying UNSUPPORTED_VERSION (`unsupported.rs`). Only an
//! API key or version `kafka-protocol` cannot decode closes the connection (logged), as
//! a Kafka broker closes it for a request it cannot parse. docs/kafka.md lists every API.
//!
//! Map: `codec.rs` (framing, connection errors), `crate::kafka_codes` (error codes, strings),
//! `context.rs` (what every handler runs with, the caller), `sasl.rs` (authentication),
//! `access.rs` (authorization, tenancy, quotas), `versions.rs` (what is advertised),
//! `unsupported.rs` (the answer to what is not served), `metadata.rs` (ApiVersions,
//! Metadata, DescribeCluster, FindCoordinator, InitProducerId), `produce.rs`,
//! `fetch.rs` (Fetch, ListOffsets), the classic group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) answered by the `crate::kafka_groups` coordinator, which the
//! console reads too, `offsets.rs` (OffsetCommit, OffsetFetch),
//! `group_admin.rs` (ListGroups, DescribeGroups, DeleteGroups, OffsetDelete),
//! `admin.rs` (CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords),
//! `configs.rs` (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs).
//! `transactions.rs` (transactional InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn over the transaction coordinator).

mod access;
mod admin;
pub mod codec;
mod configs;
mod context;
mod fetch;
mod group_admin;
mod metadata;
mod offsets;
mod produce;
mod sasl;
mod transactions;
mod unsupported;
pub mod versions;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

pub use codec::KafkaError;
use context::{Access, Ctx};

use crate::auth::Authenticator;
use crate::broker::Broker;
use crate::error::BrokerError;

/// Requests answered out of one connection's queue before reading pauses.
const MAX_IN_FLIGHT: usize = 16;

/// A response being computed; resolves to the encoded frame and how long to mute the
/// connection after sending it (a quota's throttle).
type Reply = Pin<Box<dyn Future<Output = Result<(BytesMut, Duration), KafkaError>> + Send>>;

/// How the listener authenticates and encrypts: the server's token verifier (`None`:
/// authentication off, no SASL) and TLS (`None`: plaintext).
#[derive(Clone, Default)]
pub struct Security {
    /// Verifies the tokens SASL/PLAIN and SASL/OAUTHBEARER carry.
    pub verifier: Authenticator,
    /// The server's TLS configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Security {
    /// Kafka's name for the listener's protocol.
    pub fn protocol(&self) -> &'static str {
        match (self.verifier.is_some(), self.tls.is_some()) {
            (false, false) => "PLAINTEXT",
            (false, true) => "SSL",
            (true, false) => "SASL_PLAINTEXT",
            (true, true) => "SASL_SSL",
        }
    }
}

/// Binds `addr` and serves Kafka clients until the broker shuts down. Returns
/// the bound address and the accept loop's task.
pub async fn start(
    broker: Arc<Broker>,
    addr: SocketAddr,
    security: Security,
) -> Result<(SocketAddr, JoinHandle<()>), BrokerError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| BrokerError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| BrokerError::Bind { addr, source })?;
    let coordinator = Arc::clone(&broker.kafka_groups);
    let protocol = security.protocol();
    let task = tokio::spawn(accept_loop(broker, coordinator, listener, security));
    tracing::info!(kafka_addr = %bound, protocol, "Kafka listener bound");
    Ok((bound, task))
}

async fn accept_loop(
    broker: Arc<Broker>,
    coordinator: Arc<crate::kafka_groups::Coordinator>,
    listener: TcpListener,
    security: Security,
) {
    let acceptor = security.tls.map(TlsAcceptor::from);
    let reaper =
        tokio::spawn(crate::kafka_groups::reap_task(Arc::clone(&coordinator), broker.shutdown.clone()));
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            _ = broker.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let _ = stream.set_nodelay(true);
                let local = match stream.local_addr() {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "Kafka connection without a local address");
                        continue;
                    }
                };
                let ctx = Ctx {
                    broker: Arc::clone(&broker),
                    coordinator: Arc::clone(&coordinator),
                    host: local.ip().to_string().into(),
                    port: i32::from(local.port()),
                    client_host: format!("/{}", peer.ip()).into(),
                    access: Arc::new(Access::open()),
                };
                let session = sasl::Session::new(security.verifier.clone(), peer);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let served = match acceptor {
                        // Plain TCP splits into owned halves (no lock shared by reader and writer).
                        None => {
                            let (rd, wr) = stream.into_split();
                            serve_connection(ctx, session, rd, wr).await
                        }
                        Some(acceptor) => match crate::tls::handshake(&acceptor, stream).await {
                            Ok(tls) => {
                                let (rd, wr) = tokio::io::split(tls);
                                serve_connection(ctx, session, rd, wr).await
                            }
                            Err(e) => {
                                tracing::warn!(%peer, error = %e, "Kafka TLS handshake failed");
                                return;
                            }
                        },
                    };
                    if let Err(e) = served {
                        tracing::warn!(%peer, error = %e, "Kafka connection closed");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "Kafka accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    let _ = reaper.await;
}

/// Serves one connection until the client leaves, sends something malformed,
/// or the broker shuts down (requests already read are still answered).
async fn serve_connection<R, W>(
    ctx: Ctx,
    mut session: sasl::Session,
    mut rd: R,
    mut wr: W,
) -> Result<(), KafkaError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    // Frames are read by their own task so that reading is never cancelled
    // half-way by the select below.
    let max_frame = ctx.broker.limits.max_batch_bytes + (1 << 20);
    let (frames_tx, mut frames) = mpsc::channel::<Result<Bytes, KafkaError>>(1);
    let reader = tokio::spawn(async move {
        loop {
            match codec::read_frame(&mut rd, max_frame).await {
                Ok(Some(f)) => {
                    if frames_tx.send(Ok(f)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = frames_tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    let shutdown = ctx.broker.shutdown.clone();
    let mut pending: FuturesOrdered<Reply> = FuturesOrdered::new();
    let mut open = true;
    let mut result = Ok(());
    // While a throttle runs (KIP-219), nothing more is read from the connection.
    let mut muted_until: Option<tokio::time::Instant> = None;
    while open || !pending.is_empty() {
        let unmute = muted_until;
        tokio::select! {
            _ = shutdown.cancelled(), if open => open = false,
            _ = async move {
                if let Some(t) = unmute {
                    tokio::time::sleep_until(t).await;
                }
            }, if unmute.is_some() => muted_until = None,
            frame = frames.recv(), if open && unmute.is_none() && pending.len() < MAX_IN_FLIGHT => match frame {
                Some(Ok(frame)) => {
                    match dispatch(&ctx, &mut session, frame).await {
                        Ok(Some(reply)) => pending.push_back(reply),
                        Ok(None) => {}
                        Err(e) => {
                            result = Err(e);
                            open = false;
                        }
                    }
                    // A failed authentication: its answer goes out, then the connection closes.
                    if session.closing {
                        open = false;
                    }
                }
                Some(Err(e)) => {
                    result = Err(e);
                    open = false;
                }
                None => open = false,
            },
            Some(reply) = pending.next(), if !pending.is_empty() => {
                let (frame, throttle) = reply?;
                wr.write_all(&frame).await?;
                // TLS buffers; the answer must leave now.
                wr.flush().await?;
                if !throttle.is_zero() {
                    let until = tokio::time::Instant::now() + throttle;
                    muted_until = Some(muted_until.map_or(until, |m| m.max(until)));
                }
            }
        }
    }
    reader.abort();
    // A TLS peer gets its close_notify; errors here change nothing.
    let _ = wr.shutdown().await;
    result
}

/// Decodes one request, runs its ordered part, and returns the future of its
/// response (`None` when the client expects no answer: acks=0 produces).
async fn dispatch(
    ctx: &Ctx,
    session: &mut sasl::Session,
    mut frame: Bytes,
) -> Result<Option<Reply>, KafkaError> {
    if session.expects_raw_token() {
        // After a v0 SaslHandshake the mechanism's bytes come unwrapped.
        let answer = session.raw_token(&frame)?;
        return Ok(Some(Box::pin(async move { Ok((answer, Duration::ZERO)) })));
    }
    if frame.len() < 8 {
        return Err(KafkaError::Malformed(format!("request of {} bytes has no header", frame.len())));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Ok(api_key) = ApiKey::try_from(raw_key) else {
        tracing::warn!(api_key = raw_key, version, "unknown Kafka API key; closing the connection");
        return Err(KafkaError::Unsupported { api_key: raw_key, version });
    };
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| KafkaError::Malformed(format!("{api_key:?} header: {e}")))?;
    let cid = header.correlation_id;
    let client = header.client_id.as_ref().map_or("", |c| c.as_str()).to_owned();
    tracing::trace!(?api_key, version, cid, client, "Kafka request");
    session.admit(api_key)?;
    let supported = versions::supported(api_key);
    let served = supported.is_some_and(|r| r.min <= version && version <= r.max);
    if !served && api_key == ApiKey::ApiVersions {
        tracing::info!(version, client, "Kafka ApiVersions version not served; answering v0");
        let (v, body) = versions::unsupported_api_versions();
        return Ok(Some(ready(api_key, v, cid, body)));
    }
    let known = api_key.valid_versions();
    if !served && (version < known.min || version > known.max) {
        // No schema to decode the body or encode an answer: Kafka closes here too.
        tracing::warn!(
            ?api_key,
            version,
            client,
            "Kafka request version unknown to this broker; closing the connection"
        );
        return Err(KafkaError::Unsupported { api_key: raw_key, version });
    }
    let request = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|e| KafkaError::Malformed(format!("{api_key:?} v{version}: {e}")))?;
    if !served {
        tracing::warn!(
            ?api_key,
            version,
            client,
            "Kafka API version not served; answering UNSUPPORTED_VERSION"
        );
        return match unsupported::error_response(
            request,
            version,
            crate::kafka_codes::code::UNSUPPORTED_VERSION,
        ) {
            Some(body) => Ok(Some(ready(api_key, version, cid, body))),
            None => Err(KafkaError::Unsupported { api_key: raw_key, version }),
        };
    }
    if frame.has_remaining() {
        tracing::debug!(?api_key, version, left = frame.remaining(), "trailing bytes after a Kafka request");
    }
    // Security: SASL first, then authorization and the caller's names.
    let request = match request {
        RequestKind::SaslHandshake(r) => {
            let body = ResponseKind::SaslHandshake(session.handshake(&r, version));
            return Ok(Some(ready(api_key, version, cid, body)));
        }
        RequestKind::SaslAuthenticate(r) => {
            let body = ResponseKind::SaslAuthenticate(session.authenticate(&r, version));
            return Ok(Some(ready(api_key, version, cid, body)));
        }
        other => other,
    };
    let mut c = ctx.clone();
    c.access = session.access();
    let (request, finish) = match access::admit(&c, api_key, request, version)? {
        access::Admission::Go(request, finish) => (request, finish),
        access::Admission::Answer(body) => return Ok(Some(ready(api_key, version, cid, body))),
    };
    let body: Pin<Box<dyn Future<Output = ResponseKind> + Send>> = match request {
        RequestKind::ApiVersions(_) => Box::pin(async move { metadata::api_versions() }),
        RequestKind::Metadata(r) => Box::pin(async move { metadata::metadata(&c, r, version) }),
        RequestKind::FindCoordinator(r) => {
            Box::pin(async move { metadata::find_coordinator(&c, r, version) })
        }
        RequestKind::InitProducerId(r) => Box::pin(metadata::init_producer_id(c, r, version)),
        RequestKind::Produce(r) => match produce::submit(&c, r).await {
            Some(fut) => fut,
            None => return Ok(None),
        },
        RequestKind::Fetch(r) => Box::pin(fetch::fetch(c, r)),
        RequestKind::ListOffsets(r) => Box::pin(fetch::list_offsets(c, r)),
        RequestKind::JoinGroup(r) => {
            let who = crate::kafka_groups::Client { id: client, host: c.client_host.to_string() };
            Box::pin(crate::kafka_groups::join(c.coordinator, c.broker.shutdown.clone(), r, who, version))
        }
        RequestKind::SyncGroup(r) => {
            Box::pin(async move { crate::kafka_groups::sync(&c.coordinator, &c.broker.shutdown, r).await })
        }
        RequestKind::Heartbeat(r) => {
            Box::pin(async move { crate::kafka_groups::heartbeat(&c.coordinator, r) })
        }
        RequestKind::LeaveGroup(r) => {
            Box::pin(async move { crate::kafka_groups::leave(&c.coordinator, r, version) })
        }
        RequestKind::OffsetCommit(r) => Box::pin(offsets::commit(c, r)),
        RequestKind::OffsetFetch(r) => Box::pin(offsets::fetch(c, r, version)),
        RequestKind::CreateTopics(r) => Box::pin(admin::create_topics(c, r)),
        RequestKind::DeleteTopics(r) => Box::pin(admin::delete_topics(c, r, version)),
        // Group and topic admin, configs, cluster.
        RequestKind::ListGroups(r) => Box::pin(group_admin::list_groups(c, r)),
        RequestKind::DescribeGroups(r) => Box::pin(group_admin::describe_groups(c, r)),
        RequestKind::DeleteGroups(r) => Box::pin(group_admin::delete_groups(c, r)),
        RequestKind::OffsetDelete(r) => Box::pin(group_admin::offset_delete(c, r)),
        RequestKind::CreatePartitions(r) => Box::pin(admin::create_partitions(c, r)),
        RequestKind::DeleteRecords(r) => Box::pin(admin::delete_records(c, r)),
        RequestKind::DescribeConfigs(r) => Box::pin(async move { configs::describe_configs(&c, r, version) }),
        RequestKind::AlterConfigs(r) => Box::pin(configs::alter_configs(c, r)),
        RequestKind::IncrementalAlterConfigs(r) => Box::pin(configs::incremental_alter_configs(c, r)),
        RequestKind::DescribeCluster(r) => Box::pin(async move { metadata::describe_cluster(&c, r) }),
        // Transactions (the coordinator is `crate::transactions`).
        RequestKind::AddPartitionsToTxn(r) => Box::pin(transactions::add_partitions(c, r, version)),
        RequestKind::AddOffsetsToTxn(r) => Box::pin(transactions::add_offsets(c, r, version)),
        RequestKind::EndTxn(r) => Box::pin(transactions::end_txn(c, r, version)),
        RequestKind::TxnOffsetCommit(r) => Box::pin(transactions::txn_offset_commit(c, r)),
        _ => {
            // `versions::supported` lists only the APIs matched above.
            tracing::warn!(?api_key, version, "Kafka API advertised but not dispatched");
            return Err(KafkaError::Unsupported { api_key: raw_key, version });
        }
    };
    Ok(Some(Box::pin(async move {
        let body = finish.apply(body.await);
        let throttle = access::throttle_of(&body);
        codec::encode_response(api_key, version, cid, &body).map(|frame| (frame, throttle))
    })))
}

/// A reply whose body is already known.
fn ready(api_key: ApiKey, version: i16, cid: i32, body: ResponseKind) -> Reply {
    Box::pin(async move { codec::encode_response(api_key, version, cid, &body).map(|f| (f, Duration::ZERO)) })
}
