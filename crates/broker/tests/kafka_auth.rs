//! Security, tenancy and quotas of the Kafka listener against a real broker: SASL/PLAIN and
//! SASL/OAUTHBEARER with Runnel tokens (good, bad, expired, foreign), requests before
//! authentication, re-authentication and session expiry, SASL_SSL, tenants kept apart
//! (topics, Metadata, groups), and per-tenant produce and fetch throttling. Raw frames
//! built with the `kafka-protocol` crate, as in `kafka.rs`.

mod common;

use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{config, users, Harness};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, FetchRequest, FetchResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest,
    JoinGroupResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_auth::token::{Claims, Signer, Verifier};
use runnel_broker::tls::TlsConfig;
use runnel_proto::v1::{
    tenants_client::TenantsClient, CreateNamespaceRequest, CreateTenantRequest, CreateTopicRequest,
    FetchCommittedRequest, TenantQuotas, TopicConfig, ValidationLevel,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Request;

const SECRET: &[u8] = b"a test secret that is long enough for HS256";
const OTHER_SECRET: &[u8] = b"another secret, from some other server!!";

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const INVALID_TXN_STATE: i16 = 48;

fn token_with(secret: &[u8], subject: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Signer::hs256(secret).unwrap().issue(subject, &roles, Duration::from_secs(600)).unwrap()
}

fn token(subject: &str, roles: &[&str]) -> String {
    token_with(SECRET, subject, roles)
}

/// A token that expired `ago` seconds ago.
fn expired_token(subject: &str, ago: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims =
        Claims { sub: subject.into(), iat: now - 7200, exp: now - ago, roles: vec!["superuser".into()] };
    Signer::hs256(SECRET).unwrap().sign(&claims).unwrap()
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn kname(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.into()))
}

/// A Kafka connection speaking raw frames over any stream (TCP or TLS).
struct Kafka<S> {
    stream: S,
    correlation: i32,
}

#[derive(Clone, Copy)]
enum Mech {
    Plain,
    OAuth,
}

impl Kafka<TcpStream> {
    async fn connect(h: &Harness) -> Kafka<TcpStream> {
        let addr = h.server.kafka_addr().expect("the Kafka listener runs");
        Kafka { stream: TcpStream::connect(addr).await.expect("connect"), correlation: 0 }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Kafka<S> {
    async fn send<Req: Encodable>(&mut self, api: ApiKey, version: i16, req: &Req) -> i32 {
        self.correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(StrBytes::from_static_str("kafka-auth-test"));
        let mut body = BytesMut::new();
        header.encode(&mut body, api.request_header_version(version)).expect("encode header");
        req.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        // A closed connection shows in the read that follows.
        let _ = self.stream.write_all(&frame).await;
        self.correlation
    }

    async fn recv<Resp: Decodable>(&mut self, api: ApiKey, version: i16, correlation: i32) -> Resp {
        let size = self.stream.read_i32().await.expect("response size");
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).await.expect("response body");
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("header");
        assert_eq!(header.correlation_id, correlation, "responses come in request order");
        let resp = Resp::decode(&mut body, version).expect("decode response");
        assert!(!body.has_remaining(), "the response is exactly one message");
        resp
    }

    async fn call<Req: Encodable, Resp: Decodable>(&mut self, api: ApiKey, version: i16, req: &Req) -> Resp {
        let cid = self.send(api, version, req).await;
        self.recv(api, version, cid).await
    }

    /// Whether the broker closed the connection (reads EOF or fails).
    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    }

    async fn handshake(&mut self, mechanism: &str) -> SaslHandshakeResponse {
        let mut r = SaslHandshakeRequest::default();
        r.mechanism = StrBytes::from_string(mechanism.into());
        self.call(ApiKey::SaslHandshake, 1, &r).await
    }

    /// Handshake and SaslAuthenticate v2 with `token` carried by `mech`.
    async fn sasl(&mut self, mech: Mech, token: &str) -> SaslAuthenticateResponse {
        let (name, bytes) = match mech {
            Mech::Plain => ("PLAIN", format!("\0any-user\0{token}")),
            Mech::OAuth => ("OAUTHBEARER", format!("n,,\x01auth=Bearer {token}\x01\x01")),
        };
        let h = self.handshake(name).await;
        assert_eq!(h.error_code, 0, "{name} is offered");
        let mut r = SaslAuthenticateRequest::default();
        r.auth_bytes = Bytes::from(bytes.into_bytes());
        self.call(ApiKey::SaslAuthenticate, 2, &r).await
    }

    async fn login(&mut self, token: &str) {
        let r = self.sasl(Mech::Plain, token).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    }

    async fn metadata(&mut self, topics: Option<&[&str]>) -> MetadataResponse {
        let mut m = MetadataRequest::default();
        m.topics = topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    let mut w = MetadataRequestTopic::default();
                    w.name = Some(kname(t));
                    w
                })
                .collect()
        });
        self.call(ApiKey::Metadata, 9, &m).await
    }

    async fn produce(&mut self, topic: &str, records: Bytes) -> ProduceResponse {
        self.call(ApiKey::Produce, 9, &produce_request(topic, records)).await
    }
}

fn names(r: &MetadataResponse) -> Vec<String> {
    let mut v: Vec<String> =
        r.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_owned())).collect();
    v.sort();
    v
}

/// The bytes stored in partition 0 of `topic` (as the connection names it).
async fn stored<S: AsyncRead + AsyncWrite + Unpin>(k: &mut Kafka<S>, topic: &str) -> usize {
    let f: FetchResponse = k.call(ApiKey::Fetch, 12, &fetch_request(topic, 0, 0)).await;
    assert_eq!(f.responses[0].partitions[0].error_code, 0);
    f.responses[0].partitions[0].records.as_ref().map_or(0, Bytes::len)
}

fn produce_request(topic: &str, records: Bytes) -> ProduceRequest {
    let mut p = PartitionProduceData::default();
    p.index = 0;
    p.records = Some(records);
    let mut t = TopicProduceData::default();
    t.name = kname(topic);
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = -1;
    r.timeout_ms = 10_000;
    r.topic_data = vec![t];
    r
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 4 << 20;
    let mut t = FetchTopic::default();
    t.topic = kname(topic);
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = 1;
    r.max_bytes = 8 << 20;
    r.topics = vec![t];
    r
}

fn produce_error(r: &ProduceResponse) -> i16 {
    r.responses[0].partition_responses[0].error_code
}

/// A broker with authentication on and its Kafka listener, tenants `acme` (with `quotas`)
/// and `beta`, each with `orders` in its default namespace, and `acme/billing/invoices`;
/// records unchecked so that any bytes may be produced.
struct World {
    h: Harness,
    root: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(acme_quotas: Option<TenantQuotas>, tls: Option<TlsConfig>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.auth = Some(Verifier::hs256(SECRET).unwrap());
        c.tls = tls.clone();
        let server = runnel_broker::start(c).await.expect("the server starts with its Kafka listener");
        let root = token("root", &["superuser"]);
        let mut w = World { h: harness(server, dir.path(), tls.is_some()).await, root, _dir: dir };
        if tls.is_none() {
            w.setup(acme_quotas).await;
        }
        w
    }

    async fn setup(&mut self, acme_quotas: Option<TenantQuotas>) {
        let channel = tonic::transport::Channel::from_shared(self.h.server.grpc_url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut tenants = TenantsClient::new(channel);
        for (tenant, quotas) in [("acme", acme_quotas), ("beta", None)] {
            let req = CreateTenantRequest { name: tenant.into(), quotas, if_not_exists: false };
            tenants.create_tenant(authed(req, &self.root)).await.expect("create tenant");
            for ns in ["default", "billing"] {
                let req = CreateNamespaceRequest {
                    name: format!("{tenant}/{ns}"),
                    policy: None,
                    if_not_exists: true,
                };
                tenants.create_namespace(authed(req, &self.root)).await.expect("create namespace");
            }
        }
        for topic in ["acme/default/orders", "beta/default/orders", "acme/billing/invoices", "plain"] {
            let config =
                TopicConfig { partitions: 1, validation: ValidationLevel::None as i32, ..Default::default() };
            let req = CreateTopicRequest { topic: topic.into(), config: Some(config), if_not_exists: false };
            self.h.admin.create_topic(authed(req, &self.root)).await.expect("create topic");
        }
    }
}

async fn harness(server: runnel_broker::RunningServer, dir: &std::path::Path, tls: bool) -> Harness {
    if tls {
        // The gRPC clients are not used with TLS; connect them lazily to nothing useful.
        let channel = tonic::transport::Channel::from_static("http://127.0.0.1:1").connect_lazy();
        return Harness {
            dir: dir.to_path_buf(),
            admin: runnel_proto::v1::admin_client::AdminClient::new(channel.clone()),
            broker: runnel_proto::v1::broker_client::BrokerClient::new(channel.clone()),
            groups: runnel_proto::v1::groups_client::GroupsClient::new(channel.clone()),
            registry: runnel_proto::v1::registry_client::RegistryClient::new(channel),
            server,
        };
    }
    let channel = tonic::transport::Channel::from_shared(server.grpc_url()).unwrap().connect().await.unwrap();
    Harness {
        dir: dir.to_path_buf(),
        admin: runnel_proto::v1::admin_client::AdminClient::new(channel.clone()),
        broker: runnel_proto::v1::broker_client::BrokerClient::new(channel.clone())
            .max_decoding_message_size(runnel_proto::MAX_MESSAGE_BYTES),
        groups: runnel_proto::v1::groups_client::GroupsClient::new(channel.clone()),
        registry: runnel_proto::v1::registry_client::RegistryClient::new(channel),
        server,
    }
}

#[tokio::test]
async fn good_tokens_authenticate_with_plain_and_oauthbearer_and_bad_ones_fail() {
    let w = World::start(None, None).await;
    let good = token("alice", &["admin:acme"]);
    for mech in [Mech::Plain, Mech::OAuth] {
        let mut k = Kafka::connect(&w.h).await;
        let r = k.sasl(mech, &good).await;
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        // KIP-368: the session lasts as long as the token verifies (600 s + 30 s of skew).
        assert!((590_000..=631_000).contains(&r.session_lifetime_ms), "{}", r.session_lifetime_ms);
        let m = k.metadata(None).await;
        assert_eq!(names(&m), ["billing.invoices", "orders"]);
    }

    let cases = [
        ("garbage", "not-a-token".to_owned(), "malformed"),
        ("expired", expired_token("alice", 3600), "expired"),
        ("foreign", token_with(OTHER_SECRET, "alice", &["superuser"]), "signature"),
    ];
    for mech in [Mech::Plain, Mech::OAuth] {
        for (what, bad, why) in &cases {
            let mut k = Kafka::connect(&w.h).await;
            let r = k.sasl(mech, bad).await;
            assert_eq!(r.error_code, SASL_AUTHENTICATION_FAILED, "{what}");
            let message = r.error_message.as_ref().map(|m| m.as_str().to_owned()).unwrap_or_default();
            assert!(message.contains(why), "{what}: {message}");
            assert!(k.closed().await, "{what}: the connection closes after a failed authentication");
        }
    }

    // A malformed PLAIN message, and an OAUTHBEARER message without the bearer.
    let mut k = Kafka::connect(&w.h).await;
    assert_eq!(k.handshake("PLAIN").await.error_code, 0);
    let mut r = SaslAuthenticateRequest::default();
    r.auth_bytes = Bytes::from_static(b"just-a-password");
    let r: SaslAuthenticateResponse = k.call(ApiKey::SaslAuthenticate, 1, &r).await;
    assert_eq!(r.error_code, SASL_AUTHENTICATION_FAILED);
    let mut k = Kafka::connect(&w.h).await;
    assert_eq!(k.handshake("OAUTHBEARER").await.error_code, 0);
    let mut r = SaslAuthenticateRequest::default();
    r.auth_bytes = Bytes::from_static(b"n,,\x01host=x\x01\x01");
    let r: SaslAuthenticateResponse = k.call(ApiKey::SaslAuthenticate, 0, &r).await;
    assert_eq!(r.error_code, SASL_AUTHENTICATION_FAILED);
    assert!(r.error_message.unwrap().as_str().contains("auth=Bearer"));

    // An unknown mechanism: refused with the list offered.
    let mut k = Kafka::connect(&w.h).await;
    let h = k.handshake("SCRAM-SHA-256").await;
    assert_eq!(h.error_code, UNSUPPORTED_SASL_MECHANISM);
    let offered: Vec<&str> = h.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(offered, ["PLAIN", "OAUTHBEARER"]);
    w.h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn requests_before_authentication_close_the_connection() {
    let w = World::start(None, None).await;
    // ApiVersions is answered before authentication, and lists the SASL APIs.
    let mut k = Kafka::connect(&w.h).await;
    let v: ApiVersionsResponse = k.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    let has = |api: ApiKey| v.api_keys.iter().any(|a| a.api_key == api as i16);
    assert!(has(ApiKey::SaslHandshake) && has(ApiKey::SaslAuthenticate));
    // Anything else closes the connection, as Kafka's SASL listeners do.
    k.send(ApiKey::Metadata, 9, &MetadataRequest::default()).await;
    assert!(k.closed().await, "Metadata before authentication closes the connection");

    let mut k = Kafka::connect(&w.h).await;
    k.send(ApiKey::Produce, 9, &produce_request("orders", users(1, 0..1, 1))).await;
    assert!(k.closed().await, "Produce before authentication closes the connection");

    // Between the handshake and SaslAuthenticate, too.
    let mut k = Kafka::connect(&w.h).await;
    assert_eq!(k.handshake("PLAIN").await.error_code, 0);
    k.send(ApiKey::Metadata, 9, &MetadataRequest::default()).await;
    assert!(k.closed().await, "Metadata during authentication closes the connection");
    w.h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_v0_handshake_takes_the_token_as_a_raw_frame() {
    let w = World::start(None, None).await;
    for (token, ok) in [(w.root.clone(), true), (token_with(OTHER_SECRET, "root", &["superuser"]), false)] {
        let mut k = Kafka::connect(&w.h).await;
        let mut r = SaslHandshakeRequest::default();
        r.mechanism = StrBytes::from_static_str("PLAIN");
        let r: SaslHandshakeResponse = k.call(ApiKey::SaslHandshake, 0, &r).await;
        assert_eq!(r.error_code, 0);
        // Kafka's pre-KIP-152 flow: the PLAIN message as a bare size-prefixed frame.
        let message = format!("\0user\0{token}");
        let mut frame = BytesMut::new();
        frame.put_i32(message.len() as i32);
        frame.extend_from_slice(message.as_bytes());
        k.stream.write_all(&frame).await.unwrap();
        if ok {
            assert_eq!(k.stream.read_i32().await.unwrap(), 0, "an empty server message: authenticated");
            assert_eq!(names(&k.metadata(None).await).len(), 4);
        } else {
            assert!(k.closed().await, "v0 has no error field: a failure closes the connection");
        }
    }
    w.h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_reauthenticate_as_the_same_principal_and_end_when_the_token_does() {
    let w = World::start(None, None).await;
    let mut k = Kafka::connect(&w.h).await;
    k.login(&token("alice", &["consume:acme/*/*"])).await;
    assert_eq!(names(&k.metadata(None).await), ["billing.invoices", "orders"]);
    // Re-authentication (KIP-368) with a new token of the same principal: its grants apply.
    k.login(&token("alice", &["consume:acme/default/orders"])).await;
    assert_eq!(names(&k.metadata(None).await), ["orders"]);
    // Another principal on the same connection is refused, and the connection ends.
    let r = k.sasl(Mech::Plain, &token("mallory", &["superuser"])).await;
    assert_eq!(r.error_code, SASL_AUTHENTICATION_FAILED);
    assert!(r.error_message.unwrap().as_str().contains("change principals"));
    assert!(k.closed().await);

    // SaslAuthenticate after authentication without a new handshake: ILLEGAL_SASL_STATE.
    let mut k = Kafka::connect(&w.h).await;
    k.login(&w.root).await;
    let mut r = SaslAuthenticateRequest::default();
    r.auth_bytes = Bytes::from_static(b"\0a\0b");
    let r: SaslAuthenticateResponse = k.call(ApiKey::SaslAuthenticate, 2, &r).await;
    assert_eq!(r.error_code, ILLEGAL_SASL_STATE);

    // A token past its `exp` but within the 30 s of tolerated skew: a session of a second or two.
    let mut k = Kafka::connect(&w.h).await;
    let r = k.sasl(Mech::OAuth, &expired_token("bob", 28)).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert!(r.session_lifetime_ms <= 2_000, "{}", r.session_lifetime_ms);
    tokio::time::sleep(Duration::from_millis(r.session_lifetime_ms as u64 + 300)).await;
    k.send(ApiKey::Metadata, 9, &MetadataRequest::default()).await;
    assert!(k.closed().await, "a request on an expired session closes the connection");
    w.h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn tenants_cannot_see_or_touch_each_others_topics_or_groups() {
    let mut w = World::start(None, None).await;
    let acme = token("acme-app", &["produce:acme/*/*", "consume:acme/*/*"]);
    let beta = token("beta-app", &["produce:beta/*/*", "consume:beta/*/*"]);
    // Grants in two tenants: the global view, with the explicit `__T.N.X` names.
    let mixed = token("mixed", &["consume:acme/default/orders", "produce:public/default/plain"]);

    let mut a = Kafka::connect(&w.h).await;
    a.login(&acme).await;
    let mut b = Kafka::connect(&w.h).await;
    b.login(&beta).await;
    let mut m = Kafka::connect(&w.h).await;
    m.login(&mixed).await;
    let mut root = Kafka::connect(&w.h).await;
    root.login(&w.root).await;

    // Metadata lists what each may see, in its own names.
    assert_eq!(names(&a.metadata(None).await), ["billing.invoices", "orders"]);
    assert_eq!(names(&b.metadata(None).await), ["orders"]);
    assert_eq!(names(&m.metadata(None).await), ["__acme.default.orders", "plain"]);
    assert_eq!(
        names(&root.metadata(None).await),
        ["__acme.billing.invoices", "__acme.default.orders", "__beta.default.orders", "plain"]
    );
    // Asked by name: refused the same whether it exists or not.
    let r =
        m.metadata(Some(&["__beta.default.orders", "__beta.default.nope", "__acme.default.orders"])).await;
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [TOPIC_AUTHORIZATION_FAILED, TOPIC_AUTHORIZATION_FAILED, 0]);
    // A tenant's names stay inside it: `billing.nope` is acme's, and simply missing.
    let r = a.metadata(Some(&["billing.nope", "orders"])).await;
    assert_eq!(r.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(r.topics[1].partitions.len(), 1);

    // Produce: each tenant's `orders` is its own.
    let p = a.produce("orders", users(1, 0..3, 1_000)).await;
    assert_eq!(produce_error(&p), 0);
    assert_eq!(p.responses[0].name.as_str(), "orders", "answered under the caller's name");
    assert_eq!(produce_error(&a.produce("billing.invoices", users(1, 0..1, 1_000)).await), 0);
    assert!(stored(&mut root, "__acme.default.orders").await > 0);
    assert!(stored(&mut root, "__acme.billing.invoices").await > 0);
    assert_eq!(stored(&mut root, "__beta.default.orders").await, 0, "acme's `orders` never reaches beta's");
    // Another tenant's topics, existing or not, by the explicit form: refused.
    for name in ["__beta.default.orders", "__beta.default.nope"] {
        assert_eq!(produce_error(&m.produce(name, users(1, 0..1, 1)).await), TOPIC_AUTHORIZATION_FAILED);
    }
    // Consume-only on acme's orders: produce refused, fetch allowed.
    let r = m.produce("__acme.default.orders", users(1, 0..1, 1)).await;
    assert_eq!(produce_error(&r), TOPIC_AUTHORIZATION_FAILED);
    let f: FetchResponse = m.call(ApiKey::Fetch, 12, &fetch_request("__acme.default.orders", 0, 0)).await;
    assert_eq!(f.responses[0].topic.as_str(), "__acme.default.orders");
    assert_eq!(f.responses[0].partitions[0].error_code, 0);
    assert!(!f.responses[0].partitions[0].records.as_ref().unwrap().is_empty());
    let f: FetchResponse = b.call(ApiKey::Fetch, 12, &fetch_request("__acme.default.orders", 0, 5_000)).await;
    assert_eq!(f.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION, "beta's own namespace");
    let started = Instant::now();
    let f: FetchResponse = m.call(ApiKey::Fetch, 12, &fetch_request("__beta.default.orders", 0, 5_000)).await;
    assert_eq!(f.responses[0].partitions[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert!(started.elapsed() < Duration::from_secs(4), "a refused fetch is answered at once");

    // Producer ids need a produce grant somewhere.
    let consumer = token("reader", &["consume:acme/*/*"]);
    let mut c = Kafka::connect(&w.h).await;
    c.login(&consumer).await;
    let mut idempotent = InitProducerIdRequest::default();
    idempotent.transactional_id = None;
    idempotent.transaction_timeout_ms = 60_000;
    let r: InitProducerIdResponse = c.call(ApiKey::InitProducerId, 4, &idempotent).await;
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let r: InitProducerIdResponse = a.call(ApiKey::InitProducerId, 4, &idempotent).await;
    assert_eq!(r.error_code, 0);

    // Groups: `g` is acme's for acme and beta's for beta — two groups, each its own leader.
    for k in [&mut a, &mut b] {
        let j = join(k, "g").await;
        assert_eq!(j.error_code, 0);
        assert_eq!(j.leader, j.member_id, "alone in its tenant's group");
        assert_eq!(j.members.len(), 1);
    }
    // A tenant's groups in the global view: `acme/g`; not usable without a grant in acme.
    assert_eq!(join(&mut b, "acme/g").await.error_code, 0, "in beta's scope this is beta's `acme/g`");
    let mut fc = FindCoordinatorRequest::default();
    fc.key = StrBytes::from_static_str("beta/g");
    let r: FindCoordinatorResponse = m.call(ApiKey::FindCoordinator, 3, &fc).await;
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(join(&mut m, "beta/g").await.error_code, GROUP_AUTHORIZATION_FAILED);

    // Offsets (a group without members, as standalone consumers commit): acme commits on
    // its `orders` as group `c`; beta's `c` sees nothing of it.
    let r: OffsetCommitResponse = a.call(ApiKey::OffsetCommit, 8, &commit("c", "orders", 3)).await;
    assert_eq!(r.topics[0].name.as_str(), "orders");
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let req = FetchCommittedRequest {
        group: "acme/c".into(),
        topic: "acme/default/orders".into(),
        partitions: vec![],
    };
    let committed = w.h.groups.fetch_committed(authed(req, &w.root)).await.unwrap().into_inner();
    assert_eq!(committed.offsets[0].offset, 3, "stored as tenant acme's group `acme/c`");
    let r: OffsetCommitResponse =
        b.call(ApiKey::OffsetCommit, 8, &commit("c", "__acme.default.orders", 9)).await;
    assert_eq!(
        r.topics[0].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION,
        "beta's own namespace `__acme`"
    );
    let r: OffsetCommitResponse = m.call(ApiKey::OffsetCommit, 8, &commit("beta/g", "plain", 1)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let r: OffsetFetchResponse = m.call(ApiKey::OffsetFetch, 7, &offset_fetch("beta/g", None)).await;
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    let r: OffsetFetchResponse = a.call(ApiKey::OffsetFetch, 7, &offset_fetch("c", Some("orders"))).await;
    assert_eq!((r.topics[0].name.as_str(), r.topics[0].partitions[0].committed_offset), ("orders", 3));
    let r: OffsetFetchResponse = a.call(ApiKey::OffsetFetch, 7, &offset_fetch("c", None)).await;
    let listed: Vec<&str> = r.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(listed, ["orders"], "all of the group's topics, under the caller's names");
    let r: OffsetFetchResponse = b.call(ApiKey::OffsetFetch, 7, &offset_fetch("c", None)).await;
    assert!(r.topics.is_empty(), "beta's `c` holds nothing: {:?}", r.topics);
    w.h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn topics_are_created_and_deleted_in_the_callers_tenant_with_admin_only() {
    let w = World::start(None, None).await;
    let mut admin = Kafka::connect(&w.h).await;
    admin.login(&token("acme-admin", &["admin:acme"])).await;
    let mut app = Kafka::connect(&w.h).await;
    app.login(&token("acme-app", &["produce:acme/*/*", "consume:acme/*/*"])).await;
    let mut root = Kafka::connect(&w.h).await;
    root.login(&w.root).await;

    let create = |name: &str| {
        let mut t = CreatableTopic::default();
        t.name = kname(name);
        t.num_partitions = 2;
        t.replication_factor = -1;
        let mut r = CreateTopicsRequest::default();
        r.topics = vec![t];
        r.timeout_ms = 5_000;
        r
    };
    let r: CreateTopicsResponse = app.call(ApiKey::CreateTopics, 5, &create("billing.refunds")).await;
    assert_eq!(r.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED, "creating takes admin");
    let r: CreateTopicsResponse = admin.call(ApiKey::CreateTopics, 5, &create("billing.refunds")).await;
    assert_eq!((r.topics[0].name.as_str(), r.topics[0].error_code), ("billing.refunds", 0));
    assert!(names(&root.metadata(None).await).contains(&"__acme.billing.refunds".to_owned()));

    let delete = |name: &str| {
        let mut r = DeleteTopicsRequest::default();
        r.topic_names = vec![kname(name)];
        r.timeout_ms = 5_000;
        r
    };
    let r: DeleteTopicsResponse = app.call(ApiKey::DeleteTopics, 5, &delete("billing.refunds")).await;
    assert_eq!(r.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED, "deleting takes admin");
    let r: DeleteTopicsResponse = admin.call(ApiKey::DeleteTopics, 5, &delete("billing.refunds")).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[0].name.as_ref().unwrap().as_str(), "billing.refunds");
    assert!(!names(&root.metadata(None).await).contains(&"__acme.billing.refunds".to_owned()));
    w.h.server.shutdown().await.unwrap();
}

async fn join<S: AsyncRead + AsyncWrite + Unpin>(k: &mut Kafka<S>, group: &str) -> JoinGroupResponse {
    let mut p = JoinGroupRequestProtocol::default();
    p.name = StrBytes::from_static_str("range");
    p.metadata = Bytes::from_static(b"m");
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.into()));
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 1_000;
    r.protocol_type = StrBytes::from_static_str("consumer");
    r.protocols = vec![p];
    // v3: the broker names the member at once (no MEMBER_ID_REQUIRED round trip).
    k.call(ApiKey::JoinGroup, 3, &r).await
}

fn commit(group: &str, topic: &str, offset: i64) -> OffsetCommitRequest {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = kname(topic);
    t.partitions = vec![p];
    let mut r = OffsetCommitRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.into()));
    r.generation_id_or_member_epoch = -1;
    r.topics = vec![t];
    r
}

fn offset_fetch(group: &str, topic: Option<&str>) -> OffsetFetchRequest {
    let mut r = OffsetFetchRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.into()));
    r.topics = topic.map(|t| {
        let mut ft = OffsetFetchRequestTopic::default();
        ft.name = kname(t);
        ft.partition_indexes = vec![0];
        vec![ft]
    });
    r
}

/// A batch of `n` bytes of unchecked values (the topics validate nothing).
fn blob(n: usize) -> Bytes {
    common::batch_of(&[vec![7u8; n]])
}

#[tokio::test]
async fn a_tenant_over_its_quota_is_throttled_without_slowing_another() {
    const RATE: u64 = 64 * 1024;
    let quotas =
        TenantQuotas { produce_bytes_per_sec: RATE, consume_bytes_per_sec: RATE, ..Default::default() };
    let w = World::start(Some(quotas), None).await;
    let mut a = Kafka::connect(&w.h).await;
    a.login(&token("acme-app", &["produce:acme/*/*", "consume:acme/*/*"])).await;
    let mut b = Kafka::connect(&w.h).await;
    b.login(&token("beta-app", &["produce:beta/*/*", "consume:beta/*/*"])).await;

    // acme: one second's worth passes at once, the next two seconds' worth are throttled.
    let chunk = RATE as usize;
    let r = a.produce("orders", blob(chunk - 100)).await;
    assert_eq!((produce_error(&r), r.throttle_time_ms), (0, 0), "the burst passes");
    let r = a.produce("orders", blob(2 * chunk - 100)).await;
    assert_eq!(produce_error(&r), 0, "throttled, never refused");
    assert!((1_500..=2_100).contains(&r.throttle_time_ms), "two seconds of debt: {}", r.throttle_time_ms);
    let muted = Instant::now();
    // While acme's connection is muted, beta produces and fetches at full speed.
    for _ in 0..3 {
        let started = Instant::now();
        let r = b.produce("orders", blob(chunk - 100)).await;
        assert_eq!((produce_error(&r), r.throttle_time_ms), (0, 0));
        assert!(
            started.elapsed() < Duration::from_millis(1_500),
            "beta is not held: {:?}",
            started.elapsed()
        );
    }
    let f: FetchResponse = b.call(ApiKey::Fetch, 12, &fetch_request("orders", 0, 0)).await;
    assert_eq!(f.throttle_time_ms, 0);
    assert!(f.responses[0].partitions[0].records.as_ref().unwrap().len() > 3 * (chunk - 100));
    let beta_done = muted.elapsed();
    // acme's next request is read only after its throttle: its answer comes that late.
    let r = a.produce("orders", blob(100)).await;
    let acme_waited = muted.elapsed();
    assert_eq!(produce_error(&r), 0);
    eprintln!("acme muted for {acme_waited:?}; beta's 3 produces and a fetch took {beta_done:?}");
    assert!(acme_waited >= Duration::from_millis(1_400), "acme's connection was muted: {acme_waited:?}");
    assert!(beta_done < acme_waited, "beta finished ({beta_done:?}) while acme waited ({acme_waited:?})");

    // Fetch: acme reads about two seconds' worth at once and is told to hold back.
    let f: FetchResponse = a.call(ApiKey::Fetch, 12, &fetch_request("orders", 0, 0)).await;
    assert_eq!(f.responses[0].partitions[0].error_code, 0);
    assert!(f.throttle_time_ms > 0, "fetch over the consume rate is throttled");
    w.h.server.shutdown().await.unwrap();
}

/// A CA and a server certificate for 127.0.0.1/localhost, in PEM.
fn pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.as_ref().pem(), cert.pem(), key.serialize_pem())
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    ca: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    use tokio_rustls::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    connector.connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp).await
}

#[tokio::test]
async fn sasl_ssl_authenticates_over_tls_and_plaintext_clients_are_dropped() {
    let (ca, cert, key) = pki();
    let tls = TlsConfig { cert_pem: cert.into_bytes(), key_pem: key.into_bytes(), client_ca_pem: None };
    let w = World::start(None, Some(tls)).await;
    let addr = w.h.server.kafka_addr().expect("the Kafka listener runs with TLS and authentication");
    let mut k = Kafka { stream: tls_connect(addr, &ca).await.expect("TLS handshake"), correlation: 0 };
    let r = k.sasl(Mech::OAuth, &w.root).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let m = k.metadata(None).await;
    assert_eq!(m.brokers[0].port, i32::from(addr.port()));
    let mut k = Kafka { stream: tls_connect(addr, &ca).await.expect("TLS handshake"), correlation: 0 };
    let r = k.sasl(Mech::Plain, &token_with(OTHER_SECRET, "root", &["superuser"])).await;
    assert_eq!(r.error_code, SASL_AUTHENTICATION_FAILED, "a foreign token over TLS");

    // A plaintext Kafka client on the TLS listener: its handshake fails, it is dropped.
    let mut plain = Kafka { stream: TcpStream::connect(addr).await.unwrap(), correlation: 0 };
    plain.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), plain.stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the connection ends");
    // At most a TLS alert record (content type 21), never a Kafka answer.
    assert!(got.is_empty() || got[0] == 21, "{got:?}");
    w.h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_authentication_off_the_listener_is_plaintext_and_has_no_sasl() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(dir.path()).await;
    let mut k = Kafka::connect(&h).await;
    let r = k.handshake("PLAIN").await;
    assert_eq!(r.error_code, ILLEGAL_SASL_STATE, "as Kafka's PLAINTEXT listeners answer");
    // Everything is open, and tenants' topics have their explicit names.
    let m = k.metadata(Some(&["__nobody.default.x"])).await;
    assert_eq!(m.topics[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    h.server.shutdown().await.unwrap();
}

/// Transactional ids are scoped and authorized like group ids: a tenant's `tx` is its own,
/// and another tenant can neither fence nor end it, by either spelling.
#[tokio::test]
async fn transactional_ids_belong_to_the_callers_tenant() {
    use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId, TransactionalId};
    let w = World::start(None, None).await;
    let acme = token("acme-app", &["produce:acme/*/*", "consume:acme/*/*"]);
    let beta = token("beta-app", &["produce:beta/*/*", "consume:beta/*/*"]);
    let mixed = token("mixed", &["consume:acme/default/orders", "produce:public/default/plain"]);
    let reader = token("reader", &["consume:acme/*/*"]);
    let init = |id: &str| {
        let mut r = InitProducerIdRequest::default();
        r.transactional_id = Some(TransactionalId(StrBytes::from_string(id.to_owned())));
        r.transaction_timeout_ms = 60_000;
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
        r
    };
    let mut a = Kafka::connect(&w.h).await;
    a.login(&acme).await;
    let mut b = Kafka::connect(&w.h).await;
    b.login(&beta).await;
    let mut m = Kafka::connect(&w.h).await;
    m.login(&mixed).await;
    let mut r = Kafka::connect(&w.h).await;
    r.login(&reader).await;

    // acme and beta each own a `tx`: two producer ids, neither fences the other.
    let ia: InitProducerIdResponse = a.call(ApiKey::InitProducerId, 4, &init("tx")).await;
    let ib: InitProducerIdResponse = b.call(ApiKey::InitProducerId, 4, &init("tx")).await;
    assert_eq!((ia.error_code, ib.error_code), (0, 0));
    assert_ne!(ia.producer_id, ib.producer_id, "one `tx` per tenant");
    // acme's `tx` in the global spelling, from a principal without a produce grant in acme:
    // refused, so acme's producer is not fenced.
    for (k, id) in [(&mut m, "acme/tx"), (&mut r, "tx")] {
        let refused: InitProducerIdResponse = k.call(ApiKey::InitProducerId, 4, &init(id)).await;
        assert_eq!(refused.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "{id}");
        let mut fc = FindCoordinatorRequest::default();
        fc.key = StrBytes::from_string(id.to_owned());
        fc.key_type = 1;
        let found: FindCoordinatorResponse = k.call(ApiKey::FindCoordinator, 3, &fc).await;
        assert_eq!(found.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "{id}");
    }
    let mut end = EndTxnRequest::default();
    end.transactional_id = TransactionalId(StrBytes::from_static_str("acme/tx"));
    end.producer_id = ia.producer_id;
    end.producer_epoch = ia.producer_epoch;
    end.committed = false;
    let e: EndTxnResponse = m.call(ApiKey::EndTxn, 3, &end).await;
    assert_eq!(e.error_code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    // acme's producer is still the current one: ending with nothing open is a state error,
    // not a fence.
    end.transactional_id = TransactionalId(StrBytes::from_static_str("tx"));
    let e: EndTxnResponse = a.call(ApiKey::EndTxn, 3, &end).await;
    assert_eq!(e.error_code, INVALID_TXN_STATE, "acme's epoch still stands");
    w.h.server.shutdown().await.unwrap();
}

/// The admin APIs decide each group and topic as the data APIs do: a tenant lists and
/// describes only its own groups, under its own names, and changes only topics it administers.
#[tokio::test]
async fn admin_requests_reach_only_the_callers_groups_and_topics() {
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::{
        AlterConfigsRequest, AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
        DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
        ListGroupsRequest, ListGroupsResponse,
    };
    let w = World::start(None, None).await;
    let acme = token("acme-app", &["produce:acme/*/*", "consume:acme/*/*"]);
    // acme's admin with a grant outside acme too: the global view, explicit names.
    let acme_admin = token("acme-admin", &["admin:acme", "produce:public/default/plain"]);
    let beta = token("beta-app", &["produce:beta/*/*", "consume:beta/*/*"]);
    let mut a = Kafka::connect(&w.h).await;
    a.login(&acme).await;
    let mut aa = Kafka::connect(&w.h).await;
    aa.login(&acme_admin).await;
    let mut b = Kafka::connect(&w.h).await;
    b.login(&beta).await;
    let mut root = Kafka::connect(&w.h).await;
    root.login(&w.root).await;

    // Offsets committed by each tenant as group `c`: stored as `acme/c` and `beta/c`.
    let r: OffsetCommitResponse = a.call(ApiKey::OffsetCommit, 8, &commit("c", "orders", 1)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r: OffsetCommitResponse = b.call(ApiKey::OffsetCommit, 8, &commit("c", "orders", 2)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let listed = |r: ListGroupsResponse| {
        let mut ids: Vec<String> = r.groups.iter().map(|g| g.group_id.as_str().to_owned()).collect();
        ids.sort();
        ids
    };
    let r: ListGroupsResponse = a.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
    assert_eq!(listed(r), ["c"], "acme sees its own `c` only, in its own name");
    let r: ListGroupsResponse = root.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
    assert_eq!(listed(r), ["acme/c", "beta/c"]);

    // Describe and delete: in the global view (grants in two tenants) `beta/c` is beta's
    // group, refused without a grant in beta; acme's `c` is `acme/c` there.
    let mixed = token("mixed", &["consume:acme/default/orders", "produce:public/default/plain"]);
    let mut m = Kafka::connect(&w.h).await;
    m.login(&mixed).await;
    let mut d = DescribeGroupsRequest::default();
    d.groups =
        vec![GroupId(StrBytes::from_static_str("acme/c")), GroupId(StrBytes::from_static_str("beta/c"))];
    let r: DescribeGroupsResponse = m.call(ApiKey::DescribeGroups, 5, &d).await;
    let got: Vec<(&str, i16)> = r.groups.iter().map(|g| (g.group_id.as_str(), g.error_code)).collect();
    assert_eq!(got, [("acme/c", 0), ("beta/c", GROUP_AUTHORIZATION_FAILED)]);
    let r: ListGroupsResponse = m.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
    assert_eq!(listed(r), ["acme/c"]);
    let mut del = DeleteGroupsRequest::default();
    del.groups_names = vec![GroupId(StrBytes::from_static_str("beta/c"))];
    let r: DeleteGroupsResponse = m.call(ApiKey::DeleteGroups, 2, &del).await;
    assert_eq!(r.results[0].error_code, GROUP_AUTHORIZATION_FAILED);
    let r: ListGroupsResponse = root.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await;
    assert_eq!(listed(r), ["acme/c", "beta/c"], "beta's group is still there");

    // Partitions and configs need admin on the topic; the broker's configs a superuser.
    let grow = |name: &str| {
        let mut t = CreatePartitionsTopic::default();
        t.name = kname(name);
        t.count = 2;
        let mut r = CreatePartitionsRequest::default();
        r.topics = vec![t];
        r.timeout_ms = 5_000;
        r
    };
    let r: CreatePartitionsResponse = a.call(ApiKey::CreatePartitions, 3, &grow("orders")).await;
    assert_eq!(r.results[0].error_code, TOPIC_AUTHORIZATION_FAILED, "produce and consume are not admin");
    let r: CreatePartitionsResponse =
        aa.call(ApiKey::CreatePartitions, 3, &grow("__beta.default.orders")).await;
    assert_eq!(r.results[0].error_code, TOPIC_AUTHORIZATION_FAILED, "acme's admin is not beta's");
    let r: CreatePartitionsResponse =
        aa.call(ApiKey::CreatePartitions, 3, &grow("__acme.default.orders")).await;
    assert_eq!((r.results[0].name.as_str(), r.results[0].error_code), ("__acme.default.orders", 0));
    assert_eq!(a.metadata(Some(&["orders"])).await.topics[0].partitions.len(), 2, "grown in acme");
    let broker_config = |resource_type: i8, name: &str| {
        let mut c = AlterableConfig::default();
        c.name = StrBytes::from_static_str("retention.ms");
        c.value = Some(StrBytes::from_static_str("3600000"));
        let mut res = AlterConfigsResource::default();
        res.resource_type = resource_type;
        res.resource_name = StrBytes::from_string(name.to_owned());
        res.configs = vec![c];
        let mut r = AlterConfigsRequest::default();
        r.resources = vec![res];
        r
    };
    let r: AlterConfigsResponse = aa.call(ApiKey::AlterConfigs, 2, &broker_config(4, "0")).await;
    assert_eq!(r.responses[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let r: AlterConfigsResponse =
        aa.call(ApiKey::AlterConfigs, 2, &broker_config(2, "__beta.default.orders")).await;
    assert_eq!(r.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    let r: AlterConfigsResponse =
        aa.call(ApiKey::AlterConfigs, 2, &broker_config(2, "__acme.default.orders")).await;
    assert_eq!(
        (r.responses[0].resource_name.as_str(), r.responses[0].error_code),
        ("__acme.default.orders", 0)
    );
    w.h.server.shutdown().await.unwrap();
}
