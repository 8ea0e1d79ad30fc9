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
//!
//! With authentication on (`security.rs`), SaslHandshake and SaslAuthenticate are answered
//! here and never reach the upstream, ApiVersions offers them (and Fetch up to v12, whose
//! topics are named), nothing but ApiVersions and the SASL exchange is read before the client
//! has authenticated, and each Produce and Fetch topic needs the token's produce or consume
//! grant: a refused topic's partitions are answered TOPIC_AUTHORIZATION_FAILED by the gateway,
//! the rest go upstream, and the two answers are merged into one. Metadata lists only the topics
//! the grants reach; every other API needs the grants `Session::api_refusal` names (default
//! deny), refused with its authorization error or, where the gateway builds none, by closing.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, DescribeClusterResponse, FetchRequest, FetchResponse,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest,
    JoinGroupResponse, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslHandshakeRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, StrBytes};
use runnel_auth::authz::Permission;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::produce::{self, Refused};
use crate::security::Session;
use crate::{GatewayError, State};

/// The largest frame passed either way (Kafka's default `socket.request.max.bytes`).
const MAX_FRAME: usize = 100 * 1024 * 1024;
/// Requests queued for their answers before reading pauses.
const MAX_IN_FLIGHT: usize = 64;
/// The highest Produce version the gateway lets clients use: v13 names topics by id,
/// which the gateway would have to resolve before it could find the topic's subject.
const MAX_PRODUCE_VERSION: i16 = 12;
/// The highest Fetch version offered with authentication on, for the same reason: the
/// gateway reads the topics' names to check the consume grant.
const MAX_FETCH_VERSION: i16 = 12;

/// How the answer to one request is made.
enum Pending {
    /// Read the upstream's answer and pass it on, rewritten as said.
    Upstream(Rewrite),
    /// The gateway's own answer (a whole frame).
    Local(BytesMut),
}

enum Rewrite {
    Pass,
    /// The version, and whether the gateway answers SASL itself.
    ApiVersions(i16, bool),
    Metadata(i16, Option<runnel_auth::authz::Principal>),
    FindCoordinator(i16),
    DescribeCluster(i16),
    Produce(i16, Vec<Refused>),
    /// The version, and the topics refused with their partitions (the reasons are logged:
    /// a Fetch answer has no place for them).
    Fetch(i16, Vec<(TopicName, Vec<i32>)>),
}

/// What one request leads to.
struct Step {
    /// How its answer is made (none for a Produce with acks=0).
    pending: Option<Pending>,
    /// What goes upstream.
    forward: Option<BytesMut>,
}

impl Step {
    fn upstream(rewrite: Rewrite, body: &[u8]) -> Step {
        Step { pending: Some(Pending::Upstream(rewrite)), forward: Some(frame(body)) }
    }

    fn local(answer: BytesMut) -> Step {
        Step { pending: Some(Pending::Local(answer)), forward: None }
    }
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

/// Serves one client (plain TCP or TLS) until either side closes, or until the client fails
/// to authenticate (after the answer saying so).
pub async fn serve<S>(client: S, peer: SocketAddr, state: Arc<State>) -> Result<(), GatewayError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let upstream = state.connect_upstream().await?;
    let _ = upstream.set_nodelay(true);
    let (mut client_read, client_write) = tokio::io::split(client);
    let (upstream_read, mut upstream_write) = upstream.into_split();
    let (queue, pending) = mpsc::channel(MAX_IN_FLIGHT);
    let mut writer = tokio::spawn(write_answers(pending, upstream_read, client_write, Arc::clone(&state)));
    let mut session = Session::new(state.verifier.clone(), peer);
    let reader = async {
        while let Some(body) = read_frame(&mut client_read).await? {
            let step = if session.expects_raw_token() {
                // After a v0 handshake: the mechanism's bytes, answered by an empty frame.
                session.raw_token(&body)?;
                Step::local(frame(&[]))
            } else {
                decide(&state, &mut session, body).await?
            };
            if let Some(p) = step.pending {
                if queue.send(p).await.is_err() {
                    break; // the writer ended: the upstream or the client closed
                }
            }
            if let Some(forward) = step.forward {
                upstream_write.write_all(&forward).await?;
            }
            if session.closing {
                // A failed authentication: its answer is queued, then the connection closes.
                break;
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

/// Decodes a request's header and body, `key` at `version` (which `M` must know).
fn decode_request<M: Decodable + Message + HeaderVersion>(
    key: ApiKey,
    version: i16,
    body: &Bytes,
) -> Result<(RequestHeader, M), GatewayError> {
    let malformed = |e: anyhow::Error| GatewayError::Malformed(format!("{key:?} v{version}: {e}"));
    if !(M::VERSIONS.min..=M::VERSIONS.max).contains(&version) {
        return Err(GatewayError::Malformed(format!("{key:?} v{version} is not supported")));
    }
    let mut buf = body.clone();
    let header = RequestHeader::decode(&mut buf, key.request_header_version(version)).map_err(malformed)?;
    Ok((header, M::decode(&mut buf, version).map_err(malformed)?))
}

/// What to queue for `body`'s answer and what to send upstream.
async fn decide(state: &State, session: &mut Session, body: Bytes) -> Result<Step, GatewayError> {
    if body.len() < 8 {
        return Err(GatewayError::Malformed(format!("request of {} bytes", body.len())));
    }
    let raw_key = i16::from_be_bytes([body[0], body[1]]);
    let version = i16::from_be_bytes([body[2], body[3]]);
    session.admit(raw_key)?;
    let key = ApiKey::try_from(raw_key).ok();
    if let Some(why) = session.api_refusal(key) {
        return refuse_api(key, raw_key, version, &body, why);
    }
    let Some(key) = key else {
        // An API the gateway does not know: the upstream answers it as it can.
        return Ok(Step::upstream(Rewrite::Pass, &body));
    };
    let rewrite = match key {
        ApiKey::Produce => return decide_produce(state, session, body, version).await,
        ApiKey::Fetch if session.enforcing() => return decide_fetch(session, body, version),
        ApiKey::SaslHandshake if session.enforcing() => {
            let (header, req) = decode_request::<SaslHandshakeRequest>(key, version, &body)?;
            let answer = session.handshake(&req, version);
            return Ok(Step::local(encode_response(key, version, header.correlation_id, &answer)?));
        }
        ApiKey::SaslAuthenticate if session.enforcing() => {
            let (header, req) = decode_request::<SaslAuthenticateRequest>(key, version, &body)?;
            let answer = session.authenticate(&req, version);
            return Ok(Step::local(encode_response(key, version, header.correlation_id, &answer)?));
        }
        ApiKey::ApiVersions => Rewrite::ApiVersions(version, session.enforcing()),
        ApiKey::Metadata => Rewrite::Metadata(version, session.viewer()),
        ApiKey::FindCoordinator => Rewrite::FindCoordinator(version),
        ApiKey::DescribeCluster => Rewrite::DescribeCluster(version),
        _ => Rewrite::Pass,
    };
    Ok(Step::upstream(rewrite, &body))
}

/// Answers a request the caller's grants do not allow: a producer id or a group join gets
/// its authorization error (what clients stop on, with the reason logged here); any other
/// API closes the connection, as the gateway cannot build every API's answer.
fn refuse_api(
    key: Option<ApiKey>,
    raw: i16,
    version: i16,
    body: &Bytes,
    why: String,
) -> Result<Step, GatewayError> {
    tracing::info!(api = raw, version, reason = %why, "Kafka request refused: not authorized");
    match key {
        Some(key @ ApiKey::InitProducerId) => {
            let (header, req) = decode_request::<InitProducerIdRequest>(key, version, body)?;
            let mut r = InitProducerIdResponse::default();
            r.error_code = if req.transactional_id.is_some() {
                ResponseError::TransactionalIdAuthorizationFailed.code()
            } else {
                ResponseError::ClusterAuthorizationFailed.code()
            };
            r.producer_id = (-1).into();
            r.producer_epoch = -1;
            Ok(Step::local(encode_response(key, version, header.correlation_id, &r)?))
        }
        Some(key @ ApiKey::JoinGroup) => {
            let (header, _) = decode_request::<JoinGroupRequest>(key, version, body)?;
            let mut r = JoinGroupResponse::default();
            r.error_code = ResponseError::GroupAuthorizationFailed.code();
            r.generation_id = -1;
            Ok(Step::local(encode_response(key, version, header.correlation_id, &r)?))
        }
        _ => Err(GatewayError::Refused(why)),
    }
}

async fn decide_produce(
    state: &State,
    session: &Session,
    body: Bytes,
    version: i16,
) -> Result<Step, GatewayError> {
    if !(ProduceRequest::VERSIONS.min..=MAX_PRODUCE_VERSION).contains(&version) {
        // Not advertised by the gateway: the answer a broker gives to a version it lacks.
        return Err(GatewayError::Malformed(format!("Produce v{version} is not supported")));
    }
    let (header, mut req) = decode_request::<ProduceRequest>(ApiKey::Produce, version, &body)?;
    let acks = req.acks;
    // Topics the caller may not produce to are refused whole, before their records are read.
    let mut refused = Vec::new();
    for topic in std::mem::take(&mut req.topic_data) {
        match session.refusal(Permission::Produce, topic.name.as_str()) {
            None => req.topic_data.push(topic),
            Some(why) => {
                tracing::info!(topic = %topic.name.as_str(), reason = %why, "produce refused: not authorized");
                for p in &topic.partition_data {
                    refused.push(produce::refused(
                        topic.name.clone(),
                        p.index,
                        ResponseError::TopicAuthorizationFailed,
                        why.clone(),
                    ));
                }
            }
        }
    }
    refused.extend(produce::check_request(&state.schemas, state.level, &mut req).await);
    if refused.is_empty() {
        let pending = (acks != 0).then_some(Pending::Upstream(Rewrite::Pass));
        return Ok(Step { pending, forward: Some(frame(&body)) });
    }
    if acks == 0 {
        // No answer to carry the refusal: logged (check_request), the rest forwarded.
        let forward = (!req.topic_data.is_empty())
            .then(|| encode_request(ApiKey::Produce, &header, &req, version))
            .transpose()?;
        return Ok(Step { pending: None, forward });
    }
    if req.topic_data.is_empty() {
        let mut response = ProduceResponse::default();
        produce::merge(&mut response, refused);
        return Ok(Step::local(encode_response(ApiKey::Produce, version, header.correlation_id, &response)?));
    }
    let forward = encode_request(ApiKey::Produce, &header, &req, version)?;
    Ok(Step { pending: Some(Pending::Upstream(Rewrite::Produce(version, refused))), forward: Some(forward) })
}

/// A Fetch with authentication on: topics the caller may not consume are taken out of the
/// request (whose remainder still goes upstream, so that a fetch session stays in step) and
/// answered TOPIC_AUTHORIZATION_FAILED in the merged answer.
fn decide_fetch(session: &Session, body: Bytes, version: i16) -> Result<Step, GatewayError> {
    if version > MAX_FETCH_VERSION {
        return Err(GatewayError::Malformed(format!("Fetch v{version} is not supported")));
    }
    let (header, mut req) = decode_request::<FetchRequest>(ApiKey::Fetch, version, &body)?;
    let mut refused = Vec::new();
    for topic in std::mem::take(&mut req.topics) {
        match session.refusal(Permission::Consume, topic.topic.as_str()) {
            None => req.topics.push(topic),
            Some(why) => {
                tracing::info!(topic = %topic.topic.as_str(), reason = %why, "fetch refused: not authorized");
                refused.push((topic.topic, topic.partitions.iter().map(|p| p.partition).collect()));
            }
        }
    }
    if refused.is_empty() {
        return Ok(Step::upstream(Rewrite::Pass, &body));
    }
    let forward = encode_request(ApiKey::Fetch, &header, &req, version)?;
    Ok(Step { pending: Some(Pending::Upstream(Rewrite::Fetch(version, refused))), forward: Some(forward) })
}

fn encode_request<M: Encodable>(
    key: ApiKey,
    header: &RequestHeader,
    req: &M,
    version: i16,
) -> Result<BytesMut, GatewayError> {
    let encode = |e: anyhow::Error| GatewayError::Malformed(format!("cannot encode {key:?}: {e}"));
    let mut out = BytesMut::with_capacity(req.compute_size(version).unwrap_or(0) + 64);
    out.put_i32(0);
    header.encode(&mut out, key.request_header_version(version)).map_err(encode)?;
    req.encode(&mut out, version).map_err(encode)?;
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

async fn write_answers<W: AsyncWrite + Unpin>(
    mut pending: mpsc::Receiver<Pending>,
    mut upstream: tokio::net::tcp::OwnedReadHalf,
    mut client: W,
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
        Rewrite::ApiVersions(v, _) => (ApiKey::ApiVersions, *v),
        Rewrite::Metadata(v, _) => (ApiKey::Metadata, *v),
        Rewrite::FindCoordinator(v) => (ApiKey::FindCoordinator, *v),
        Rewrite::DescribeCluster(v) => (ApiKey::DescribeCluster, *v),
        Rewrite::Produce(v, _) => (ApiKey::Produce, *v),
        Rewrite::Fetch(v, _) => (ApiKey::Fetch, *v),
    };
    let malformed = |e: anyhow::Error| GatewayError::Upstream(format!("{key:?} v{version} answer: {e}"));
    let mut buf = body.clone();
    let header = ResponseHeader::decode(&mut buf, key.response_header_version(version)).map_err(malformed)?;
    let host = StrBytes::from_string(state.advertised.ip().to_string());
    let port = i32::from(state.advertised.port());
    let id = header.correlation_id;
    let out = match rewrite {
        Rewrite::Pass => return Ok(None),
        Rewrite::ApiVersions(v, sasl) => {
            let mut r = ApiVersionsResponse::decode(&mut buf, v).map_err(malformed)?;
            if r.error_code != 0 {
                return Ok(None);
            }
            if sasl {
                // Answered by the gateway, whatever the upstream offers.
                for (key, max) in [(ApiKey::SaslHandshake, 1), (ApiKey::SaslAuthenticate, 2)] {
                    r.api_keys.retain(|a| a.api_key != key as i16);
                    let mut api = ApiVersion::default();
                    api.api_key = key as i16;
                    api.min_version = 0;
                    api.max_version = max;
                    r.api_keys.push(api);
                }
            }
            for api in &mut r.api_keys {
                let ours = match ApiKey::try_from(api.api_key) {
                    Ok(ApiKey::Produce) => MAX_PRODUCE_VERSION,
                    Ok(ApiKey::Fetch) if sasl => MAX_FETCH_VERSION,
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
        Rewrite::Metadata(v, viewer) => {
            let mut r = MetadataResponse::decode(&mut buf, v).map_err(malformed)?;
            if let Some(viewer) = &viewer {
                r.topics
                    .retain(|t| t.name.as_ref().is_some_and(|n| crate::security::sees(viewer, n.as_str())));
            }
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
        Rewrite::Fetch(v, refused) => {
            let mut r = FetchResponse::decode(&mut buf, v).map_err(malformed)?;
            for (topic, partitions) in refused {
                let mut t = FetchableTopicResponse::default();
                t.topic = topic;
                for index in partitions {
                    let mut p = PartitionData::default();
                    p.partition_index = index;
                    p.error_code = ResponseError::TopicAuthorizationFailed.code();
                    p.high_watermark = -1;
                    // Empty, not null: librdkafka refuses a null record set (as Kafka never sends one).
                    p.records = Some(Bytes::new());
                    t.partitions.push(p);
                }
                r.responses.push(t);
            }
            encode_response(key, v, id, &r)?
        }
    };
    let _ = buf.remaining();
    Ok(Some(out))
}
