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
//! This is a front end: handlers translate Kafka requests into calls of the broker's
//! services (topics, the produce path, groups' committed offsets) through the `Broker`.
//!
//! Map: `codec.rs` (framing, connection errors), `codes.rs` (error codes, strings),
//! `context.rs` (what every handler runs with), `versions.rs` (what is advertised), `metadata.rs`
//! (ApiVersions, Metadata, FindCoordinator, InitProducerId), `produce.rs`,
//! `fetch.rs` (Fetch, ListOffsets), `groups.rs` (the classic group protocol
//! with client-side assignment), `offsets.rs` (OffsetCommit, OffsetFetch),
//! `admin.rs` (CreateTopics, DeleteTopics, DescribeConfigs), `transactions.rs`
//! (transactional InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn over the transaction coordinator).

mod admin;
pub mod codec;
mod codes;
mod context;
mod fetch;
pub mod groups;
mod metadata;
mod offsets;
mod produce;
mod transactions;
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
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use codec::KafkaError;
use context::Ctx;

use crate::broker::Broker;
use crate::error::BrokerError;

/// Requests answered out of one connection's queue before reading pauses.
const MAX_IN_FLIGHT: usize = 16;

/// A response being computed; resolves to the encoded frame.
type Reply = Pin<Box<dyn Future<Output = Result<BytesMut, KafkaError>> + Send>>;

/// Binds `addr` and serves Kafka clients until the broker shuts down. Returns
/// the bound address and the accept loop's task.
pub async fn start(
    broker: Arc<Broker>,
    addr: SocketAddr,
) -> Result<(SocketAddr, JoinHandle<()>), BrokerError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| BrokerError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| BrokerError::Bind { addr, source })?;
    let coordinator = Arc::new(groups::Coordinator::default());
    let task = tokio::spawn(accept_loop(broker, coordinator, listener));
    tracing::info!(kafka_addr = %bound, "Kafka listener bound");
    Ok((bound, task))
}

async fn accept_loop(broker: Arc<Broker>, coordinator: Arc<groups::Coordinator>, listener: TcpListener) {
    let reaper = tokio::spawn(groups::reap_task(Arc::clone(&coordinator), broker.shutdown.clone()));
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
                };
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(ctx, stream).await {
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
async fn serve_connection(ctx: Ctx, stream: TcpStream) -> Result<(), KafkaError> {
    let (mut rd, mut wr) = stream.into_split();
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
    while open || !pending.is_empty() {
        tokio::select! {
            _ = shutdown.cancelled(), if open => open = false,
            frame = frames.recv(), if open && pending.len() < MAX_IN_FLIGHT => match frame {
                Some(Ok(frame)) => match dispatch(&ctx, frame).await {
                    Ok(Some(reply)) => pending.push_back(reply),
                    Ok(None) => {}
                    Err(e) => {
                        result = Err(e);
                        open = false;
                    }
                },
                Some(Err(e)) => {
                    result = Err(e);
                    open = false;
                }
                None => open = false,
            },
            Some(reply) = pending.next(), if !pending.is_empty() => {
                let frame = reply?;
                wr.write_all(&frame).await?;
            }
        }
    }
    reader.abort();
    result
}

/// Decodes one request, runs its ordered part, and returns the future of its
/// response (`None` when the client expects no answer: acks=0 produces).
async fn dispatch(ctx: &Ctx, mut frame: Bytes) -> Result<Option<Reply>, KafkaError> {
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
    let supported = versions::supported(api_key);
    if !supported.is_some_and(|r| r.min <= version && version <= r.max) {
        tracing::warn!(?api_key, version, client, "unsupported Kafka API version");
        return match versions::unsupported_response(api_key, version) {
            Some((v, body)) => Ok(Some(ready(api_key, v, cid, body))),
            None => Err(KafkaError::Unsupported { api_key: raw_key, version }),
        };
    }
    let request = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|e| KafkaError::Malformed(format!("{api_key:?} v{version}: {e}")))?;
    if frame.has_remaining() {
        tracing::debug!(?api_key, version, left = frame.remaining(), "trailing bytes after a Kafka request");
    }
    let c = ctx.clone();
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
            Box::pin(groups::join(c.coordinator, c.broker.shutdown.clone(), r, client, version))
        }
        RequestKind::SyncGroup(r) => {
            Box::pin(async move { groups::sync(&c.coordinator, &c.broker.shutdown, r).await })
        }
        RequestKind::Heartbeat(r) => Box::pin(async move { groups::heartbeat(&c.coordinator, r) }),
        RequestKind::LeaveGroup(r) => Box::pin(async move { groups::leave(&c.coordinator, r, version) }),
        RequestKind::OffsetCommit(r) => Box::pin(offsets::commit(c, r)),
        RequestKind::OffsetFetch(r) => Box::pin(offsets::fetch(c, r, version)),
        RequestKind::CreateTopics(r) => Box::pin(admin::create_topics(c, r)),
        RequestKind::DeleteTopics(r) => Box::pin(admin::delete_topics(c, r, version)),
        RequestKind::DescribeConfigs(r) => Box::pin(async move { admin::describe_configs(&c, r) }),
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
        let body = body.await;
        codec::encode_response(api_key, version, cid, &body)
    })))
}

/// A reply whose body is already known.
fn ready(api_key: ApiKey, version: i16, cid: i32, body: ResponseKind) -> Reply {
    Box::pin(async move { codec::encode_response(api_key, version, cid, &body) })
}
