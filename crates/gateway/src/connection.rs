//! One client connection: its requests go, in order, to one upstream connection; the
//! answers come back in the same order, some rewritten on the way.
//!
//! The reader (this task) decides per request what to do and queues a [`Pending`]
//! saying how its answer is made; the writer task takes them in order, reads the
//! upstream's answer when there is one, rewrites it, and writes it to the client. So
//! requests are pipelined as a client pipelines them to a broker, and an answer the
//! gateway makes itself (a produce whose every partition is refused) still leaves in
//! its place.
//!
//! Rewritten answers: ApiVersions (versions clamped to those the gateway can decode,
//! Produce to v12, whose partitions are named), Metadata, FindCoordinator and
//! DescribeCluster (every broker is this gateway, so clients keep talking through it),
//! Produce (the refusals merged). Everything else passes as bytes.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, DescribeClusterResponse, FindCoordinatorResponse, MetadataResponse,
    ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::produce::{self, Refused};
use crate::{GatewayError, State};

/// The largest frame passed either way (Kafka's default `socket.request.max.bytes`).
const MAX_FRAME: usize = 100 * 1024 * 1024;
/// Requests queued for their answers before reading pauses.
const MAX_IN_FLIGHT: usize = 64;
/// The highest Produce version the gateway lets clients use: v13 names topics by id,
/// which the gateway would have to resolve before it could find the topic's subject.
const MAX_PRODUCE_VERSION: i16 = 12;

/// How the answer to one request is made.
enum Pending {
    /// Read the upstream's answer and pass it on, rewritten as said.
    Upstream(Rewrite),
    /// The gateway's own answer (a whole frame).
    Local(BytesMut),
}

enum Rewrite {
    Pass,
    ApiVersions(i16),
    Metadata(i16),
    FindCoordinator(i16),
    DescribeCluster(i16),
    Produce(i16, Vec<Refused>),
}

/// Reads one frame's body; `Ok(None)` when the peer closed between frames.
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Bytes>, GatewayError> {
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(size);
    let len = usize::try_from(size)
        .ok()
        .filter(|&l| l <= MAX_FRAME)
        .ok_or_else(|| GatewayError::Malformed(format!("frame size {size}")))?;
    let mut body = BytesMut::zeroed(len);
    reader.read_exact(&mut body).await?;
    Ok(Some(body.freeze()))
}

fn frame(body: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(body.len() + 4);
    out.put_i32(body.len() as i32);
    out.put_slice(body);
    out
}

/// Encodes a response frame for `correlation_id` at `version` of `key`.
fn encode_response<M: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &M,
) -> Result<BytesMut, GatewayError> {
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let encode = |e: anyhow::Error| GatewayError::Malformed(format!("cannot encode a {key:?} response: {e}"));
    header.encode(&mut out, key.response_header_version(version)).map_err(encode)?;
    body.encode(&mut out, version).map_err(encode)?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// Serves one client until either side closes.
pub async fn serve(client: TcpStream, state: Arc<State>) -> Result<(), GatewayError> {
    let upstream = state.connect_upstream().await?;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, client_write) = client.into_split();
    let (upstream_read, mut upstream_write) = upstream.into_split();
    let (queue, pending) = mpsc::channel(MAX_IN_FLIGHT);
    let mut writer = tokio::spawn(write_answers(pending, upstream_read, client_write, Arc::clone(&state)));
    let reader = async {
        while let Some(body) = read_frame(&mut client_read).await? {
            let (pending, forward) = decide(&state, body).await?;
            if let Some(p) = pending {
                if queue.send(p).await.is_err() {
                    break; // the writer ended: the upstream or the client closed
                }
            }
            if let Some(forward) = forward {
                upstream_write.write_all(&forward).await?;
            }
        }
        Ok::<(), GatewayError>(())
    };
    // When the writer ends first (the upstream closed), the client is not left waiting on
    // answers that will not come: its connection closes, and it reconnects (to another gateway).
    let read = tokio::select! {
        read = reader => read,
        written = &mut writer => return written.unwrap_or(Ok(())),
    };
    drop(queue);
    let written = writer.await.unwrap_or(Ok(()));
    read.and(written)
}

/// What to queue for `body`'s answer and what to send upstream.
async fn decide(state: &State, body: Bytes) -> Result<(Option<Pending>, Option<BytesMut>), GatewayError> {
    if body.len() < 8 {
        return Err(GatewayError::Malformed(format!("request of {} bytes", body.len())));
    }
    let raw_key = i16::from_be_bytes([body[0], body[1]]);
    let version = i16::from_be_bytes([body[2], body[3]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        // An API the gateway does not know: the upstream answers it as it can.
        return Ok((Some(Pending::Upstream(Rewrite::Pass)), Some(frame(&body))));
    };
    let rewrite = match key {
        ApiKey::Produce => return decide_produce(state, body, version).await,
        ApiKey::ApiVersions => Rewrite::ApiVersions(version),
        ApiKey::Metadata => Rewrite::Metadata(version),
        ApiKey::FindCoordinator => Rewrite::FindCoordinator(version),
        ApiKey::DescribeCluster => Rewrite::DescribeCluster(version),
        _ => Rewrite::Pass,
    };
    Ok((Some(Pending::Upstream(rewrite)), Some(frame(&body))))
}

async fn decide_produce(
    state: &State,
    body: Bytes,
    version: i16,
) -> Result<(Option<Pending>, Option<BytesMut>), GatewayError> {
    let malformed = |e: anyhow::Error| GatewayError::Malformed(format!("Produce v{version}: {e}"));
    if !(ProduceRequest::VERSIONS.min..=MAX_PRODUCE_VERSION).contains(&version) {
        // Not advertised by the gateway: the answer a broker gives to a version it lacks.
        return Err(GatewayError::Malformed(format!("Produce v{version} is not supported")));
    }
    let mut buf = body.clone();
    let header = RequestHeader::decode(&mut buf, ApiKey::Produce.request_header_version(version))
        .map_err(malformed)?;
    let mut req = ProduceRequest::decode(&mut buf, version).map_err(malformed)?;
    let acks = req.acks;
    let refused = produce::check_request(&state.schemas, state.level, &mut req).await;
    if refused.is_empty() {
        let pending = (acks != 0).then_some(Pending::Upstream(Rewrite::Pass));
        return Ok((pending, Some(frame(&body))));
    }
    if acks == 0 {
        // No answer to carry the refusal: logged (check_request), the rest forwarded.
        return Ok((
            None,
            (!req.topic_data.is_empty()).then(|| encode_request(&header, &req, version)).transpose()?,
        ));
    }
    if req.topic_data.is_empty() {
        let mut response = ProduceResponse::default();
        produce::merge(&mut response, refused);
        let answer = encode_response(ApiKey::Produce, version, header.correlation_id, &response)?;
        return Ok((Some(Pending::Local(answer)), None));
    }
    let forward = encode_request(&header, &req, version)?;
    Ok((Some(Pending::Upstream(Rewrite::Produce(version, refused))), Some(forward)))
}

fn encode_request(
    header: &RequestHeader,
    req: &ProduceRequest,
    version: i16,
) -> Result<BytesMut, GatewayError> {
    let encode = |e: anyhow::Error| GatewayError::Malformed(format!("cannot encode Produce: {e}"));
    let mut out = BytesMut::with_capacity(req.compute_size(version).unwrap_or(0) + 64);
    out.put_i32(0);
    header.encode(&mut out, ApiKey::Produce.request_header_version(version)).map_err(encode)?;
    req.encode(&mut out, version).map_err(encode)?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

async fn write_answers(
    mut pending: mpsc::Receiver<Pending>,
    mut upstream: tokio::net::tcp::OwnedReadHalf,
    mut client: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
) -> Result<(), GatewayError> {
    while let Some(p) = pending.recv().await {
        let out = match p {
            Pending::Local(answer) => answer,
            Pending::Upstream(rewrite) => {
                let Some(body) = read_frame(&mut upstream).await? else {
                    return Err(GatewayError::Upstream("the upstream closed the connection".into()));
                };
                match rewrite_answer(&state, rewrite, &body) {
                    Ok(Some(out)) => out,
                    Ok(None) => frame(&body),
                    Err(e) => {
                        tracing::warn!(error = %e, "answer passed unchanged");
                        frame(&body)
                    }
                }
            }
        };
        client.write_all(&out).await?;
    }
    Ok(())
}

/// The rewritten answer, `None` to pass `body` as it is.
fn rewrite_answer(state: &State, rewrite: Rewrite, body: &Bytes) -> Result<Option<BytesMut>, GatewayError> {
    let (key, version) = match &rewrite {
        Rewrite::Pass => return Ok(None),
        Rewrite::ApiVersions(v) => (ApiKey::ApiVersions, *v),
        Rewrite::Metadata(v) => (ApiKey::Metadata, *v),
        Rewrite::FindCoordinator(v) => (ApiKey::FindCoordinator, *v),
        Rewrite::DescribeCluster(v) => (ApiKey::DescribeCluster, *v),
        Rewrite::Produce(v, _) => (ApiKey::Produce, *v),
    };
    let malformed = |e: anyhow::Error| GatewayError::Upstream(format!("{key:?} v{version} answer: {e}"));
    let mut buf = body.clone();
    let header = ResponseHeader::decode(&mut buf, key.response_header_version(version)).map_err(malformed)?;
    let host = StrBytes::from_string(state.advertised.ip().to_string());
    let port = i32::from(state.advertised.port());
    let id = header.correlation_id;
    let out = match rewrite {
        Rewrite::Pass => return Ok(None),
        Rewrite::ApiVersions(v) => {
            let mut r = ApiVersionsResponse::decode(&mut buf, v).map_err(malformed)?;
            if r.error_code != 0 {
                return Ok(None);
            }
            for api in &mut r.api_keys {
                let ours = match ApiKey::try_from(api.api_key) {
                    Ok(ApiKey::Produce) => MAX_PRODUCE_VERSION,
                    Ok(ApiKey::ApiVersions) => ApiVersionsResponse::VERSIONS.max,
                    Ok(ApiKey::Metadata) => MetadataResponse::VERSIONS.max,
                    Ok(ApiKey::FindCoordinator) => FindCoordinatorResponse::VERSIONS.max,
                    Ok(ApiKey::DescribeCluster) => DescribeClusterResponse::VERSIONS.max,
                    _ => api.max_version,
                };
                api.max_version = api.max_version.min(ours);
            }
            encode_response(key, v, id, &r)?
        }
        Rewrite::Metadata(v) => {
            let mut r = MetadataResponse::decode(&mut buf, v).map_err(malformed)?;
            for b in &mut r.brokers {
                b.host = host.clone();
                b.port = port;
            }
            encode_response(key, v, id, &r)?
        }
        Rewrite::FindCoordinator(v) => {
            let mut r = FindCoordinatorResponse::decode(&mut buf, v).map_err(malformed)?;
            if r.error_code == 0 && r.node_id.0 >= 0 {
                r.host = host.clone();
                r.port = port;
            }
            for c in &mut r.coordinators {
                if c.error_code == 0 && c.node_id.0 >= 0 {
                    c.host = host.clone();
                    c.port = port;
                }
            }
            encode_response(key, v, id, &r)?
        }
        Rewrite::DescribeCluster(v) => {
            let mut r = DescribeClusterResponse::decode(&mut buf, v).map_err(malformed)?;
            for b in &mut r.brokers {
                b.host = host.clone();
                b.port = port;
            }
            encode_response(key, v, id, &r)?
        }
        Rewrite::Produce(v, refused) => {
            let mut r = ProduceResponse::decode(&mut buf, v).map_err(malformed)?;
            produce::merge(&mut r, refused);
            encode_response(key, v, id, &r)?
        }
    };
    let _ = buf.remaining();
    Ok(Some(out))
}
