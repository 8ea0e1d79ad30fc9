//! Authentication, authorization and TLS against a real broker: tokens on gRPC metadata and
//! HTTP `Authorization`, tenants kept apart on every API, TLS with and without client
//! certificates.

mod common;

use std::time::Duration;

use common::*;
use runnel_auth::token::{Claims, Signer, Verifier};
use runnel_broker::tls::TlsConfig;
use runnel_broker::{RunningServer, ServerConfig};
use runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, groups_client::GroupsClient,
    registry_client::RegistryClient, subscription_request::Kind, subscriptions_client::SubscriptionsClient,
    tenants_client::TenantsClient, CommitRequest, CreateNamespaceRequest, CreateTenantRequest,
    CreateTopicRequest, FetchCommittedRequest, FetchRequest, GetSchemaRequest, GetVersionRequest,
    JoinRequest, ListOffsetsRequest, ListTopicsRequest, ProduceRequest, SubjectSchemaRequest,
    SubscribeRequest, SubscriptionRequest, TopicConfig, TopicRef,
};
use tonic::transport::Channel;
use tonic::{Code, Request};

const SECRET: &[u8] = b"a test secret that is long enough for HS256";

fn token(subject: &str, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    Signer::hs256(SECRET).unwrap().issue(subject, &roles, Duration::from_secs(600)).unwrap()
}

fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn auth_config(dir: &std::path::Path) -> ServerConfig {
    let mut c = config(dir);
    c.kafka_addr = None;
    c.auth = Some(Verifier::hs256(SECRET).unwrap());
    c
}

const ACME_SCHEMA: &str = r#"{"type":"record","name":"Acme","fields":[{"name":"a","type":"string"}]}"#;
const BETA_SCHEMA: &str = r#"{"type":"record","name":"Beta","fields":[{"name":"b","type":"long"}]}"#;

/// A broker with authentication on, tenants `acme` and `beta`, topic `orders` in each one's
/// default namespace with its own schema, all set up by a superuser.
struct World {
    server: RunningServer,
    channel: Channel,
    root: String,
    acme_id: u32,
    beta_id: u32,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = runnel_broker::start(auth_config(dir.path())).await.expect("server starts");
        let channel = Channel::from_shared(server.grpc_url()).unwrap().connect().await.unwrap();
        let root = token("root", &["superuser"]);
        let mut tenants = TenantsClient::new(channel.clone());
        let mut admin = AdminClient::new(channel.clone());
        let mut registry = RegistryClient::new(channel.clone());
        let mut ids = Vec::new();
        for (tenant, schema) in [("acme", ACME_SCHEMA), ("beta", BETA_SCHEMA)] {
            let req = CreateTenantRequest { name: tenant.into(), quotas: None, if_not_exists: true };
            tenants.create_tenant(authed(req, &root)).await.expect("create tenant");
            let ns = format!("{tenant}/default");
            let req = CreateNamespaceRequest { name: ns, policy: None, if_not_exists: true };
            tenants.create_namespace(authed(req, &root)).await.expect("create namespace");
            let subject = format!(":.{tenant}:orders-value");
            let req = SubjectSchemaRequest { subject, schema: schema.into() };
            ids.push(registry.register(authed(req, &root)).await.expect("register").into_inner().id);
            let config = TopicConfig { partitions: 1, ..Default::default() };
            let req = CreateTopicRequest {
                topic: format!("{tenant}/default/orders"),
                config: Some(config),
                if_not_exists: false,
            };
            admin.create_topic(authed(req, &root)).await.expect("create topic");
        }
        World { server, channel, root, acme_id: ids[0], beta_id: ids[1], _dir: dir }
    }

    fn admin(&self) -> AdminClient<Channel> {
        AdminClient::new(self.channel.clone())
    }

    fn broker(&self) -> BrokerClient<Channel> {
        BrokerClient::new(self.channel.clone())
    }

    fn registry(&self) -> RegistryClient<Channel> {
        RegistryClient::new(self.channel.clone())
    }

    /// One valid record for `tenant`'s topic.
    fn batch(&self, tenant: &str) -> bytes::Bytes {
        let (id, body) = match tenant {
            "acme" => (self.acme_id, vec![2, b'x']),
            _ => (self.beta_id, vec![4]),
        };
        batch_of(&[framed(id, &body)])
    }

    async fn produce(&self, topic: &str, tenant: &str, token: &str) -> Result<(), tonic::Status> {
        let req = ProduceRequest {
            topic: topic.into(),
            partition: 0,
            batch: self.batch(tenant),
            correlation_id: 1,
        };
        self.broker().produce(authed(req, token)).await.map(|_| ())
    }

    async fn fetch(&self, topic: &str, token: &str) -> Result<(), tonic::Status> {
        let req = FetchRequest {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            max_bytes: 0,
            max_wait_ms: 1,
            follow: false,
            end_offset: 0,
            ..Default::default()
        };
        let mut stream = self.broker().fetch(authed(req, token)).await?.into_inner();
        while stream.message().await?.is_some() {}
        Ok(())
    }

    async fn list(&self, token: &str) -> Vec<String> {
        let resp = self.admin().list_topics(authed(ListTopicsRequest {}, token)).await.expect("list");
        let mut names: Vec<String> = resp.into_inner().topics.into_iter().map(|t| t.name).collect();
        names.sort();
        names
    }

    fn rest(&self, path: &str) -> String {
        format!("{}{path}", self.server.registry_url())
    }
}

fn assert_denied(result: Result<impl std::fmt::Debug, tonic::Status>, permission: &str) {
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains(permission), "{}", status.message());
}

#[tokio::test]
async fn refuses_missing_malformed_expired_and_foreign_tokens_with_unauthenticated() {
    let w = World::start().await;
    let expired = {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let claims =
            Claims { sub: "late".into(), iat: now - 7200, exp: now - 3600, roles: vec!["superuser".into()] };
        Signer::hs256(SECRET).unwrap().sign(&claims).unwrap()
    };
    let foreign = Signer::hs256(b"some other secret, also long enough!!")
        .unwrap()
        .issue("mallory", &["superuser".to_owned()], Duration::from_secs(600))
        .unwrap();
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "authentication required"),
        (Some("Bearer not-a-jwt".into()), "malformed token"),
        (Some(format!("Bearer {expired}")), "token expired"),
        (Some(format!("Bearer {foreign}")), "signature is invalid"),
        (Some(format!("Basic {}", w.root)), "must be `Bearer <token>`"),
    ];
    let http = reqwest::Client::new();
    for (header, message) in cases {
        let mut req = Request::new(ListTopicsRequest {});
        if let Some(h) = &header {
            req.metadata_mut().insert("authorization", h.parse().unwrap());
        }
        let status = w.admin().list_topics(req).await.expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert!(status.message().contains(message), "{message}: {}", status.message());

        let mut get = http.get(w.rest("/subjects"));
        if let Some(h) = &header {
            get = get.header("authorization", h);
        }
        let resp = get.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error_code"], 40101, "{body}");
        assert!(body["message"].as_str().unwrap().contains(message), "{body}");
    }
    // The superuser's token passes, and /health stays open.
    assert_eq!(w.list(&w.root).await, ["acme/default/orders", "beta/default/orders"]);
    let health = http.get(w.rest("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    w.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_tenant_cannot_reach_another_tenants_topics_by_any_grpc_call() {
    let w = World::start().await;
    let acme = token("acme-admin", &["admin:acme"]);
    // Its own tenant: everything works.
    w.produce("acme/default/orders", "acme", &acme).await.expect("own produce");
    w.fetch("acme/default/orders", &acme).await.expect("own fetch");
    assert_eq!(w.list(&acme).await, ["acme/default/orders"]);

    // The other tenant: refused, with the same answer whether the topic exists or not.
    for topic in ["beta/default/orders", "beta/default/no-such-topic"] {
        assert_denied(w.produce(topic, "beta", &acme).await, "produce");
        assert_denied(w.fetch(topic, &acme).await, "consume");
        let req = TopicRef { topic: topic.into() };
        assert_denied(w.admin().describe_topic(authed(req, &acme)).await, "topic");
        let req = TopicRef { topic: topic.into() };
        assert_denied(w.admin().delete_topic(authed(req, &acme)).await, "admin");
        let req = ListOffsetsRequest { topic: topic.into(), ..Default::default() };
        assert_denied(w.broker().list_offsets(authed(req, &acme)).await, "consume");
        let mut groups = GroupsClient::new(w.channel.clone());
        let req = JoinRequest { group: "g".into(), topic: topic.into(), ..Default::default() };
        assert_denied(groups.join(authed(req, &acme)).await, "consume");
        let req = CommitRequest { group: "g".into(), topic: topic.into(), ..Default::default() };
        assert_denied(groups.commit(authed(req, &acme)).await, "consume");
        let req = FetchCommittedRequest { group: "g".into(), topic: topic.into(), partitions: vec![] };
        assert_denied(groups.fetch_committed(authed(req, &acme)).await, "consume");
    }
    let req = CreateTopicRequest { topic: "beta/default/new".into(), config: None, if_not_exists: false };
    assert_denied(w.admin().create_topic(authed(req, &acme)).await, "admin");
    // A bare name is public/default's, not acme's.
    let req = CreateTopicRequest { topic: "bare".into(), config: None, if_not_exists: false };
    assert_denied(w.admin().create_topic(authed(req, &acme)).await, "admin");

    // Queue subscriptions too.
    let mut subs = SubscriptionsClient::new(w.channel.clone());
    let first = SubscriptionRequest {
        kind: Some(Kind::Subscribe(SubscribeRequest {
            topic: "beta/default/orders".into(),
            subscription: "s".into(),
            permits: 10,
            ..Default::default()
        })),
    };
    let requests = tokio_stream::iter(vec![first]);
    assert_denied(subs.subscribe(authed(requests, &acme)).await, "consume");
    // Its own topic, but a dead-letter topic in the other tenant: the broker would write
    // there for it, so that takes produce on the dead-letter topic.
    let first = SubscriptionRequest {
        kind: Some(Kind::Subscribe(SubscribeRequest {
            topic: "acme/default/orders".into(),
            subscription: "s".into(),
            permits: 10,
            dead_letter: Some(runnel_proto::v1::DeadLetterPolicy {
                max_deliveries: 1,
                topic: "beta/default/orders".into(),
            }),
            ..Default::default()
        })),
    };
    let requests = tokio_stream::iter(vec![first]);
    assert_denied(subs.subscribe(authed(requests, &acme)).await, "produce permission on topic beta");
    w.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_produce_only_token_cannot_consume_or_administer() {
    let w = World::start().await;
    let producer = token("ingest", &["produce:acme/default/orders"]);
    w.produce("acme/default/orders", "acme", &producer).await.expect("produce");
    assert_denied(w.fetch("acme/default/orders", &producer).await, "consume");
    let req = TopicRef { topic: "acme/default/orders".into() };
    assert_denied(w.admin().delete_topic(authed(req, &producer)).await, "admin");
    // It sees its topic (to describe it) and reads its schema, but may not change it.
    assert_eq!(w.list(&producer).await, ["acme/default/orders"]);
    let req = TopicRef { topic: "acme/default/orders".into() };
    w.admin().describe_topic(authed(req, &producer)).await.expect("describe own topic");
    let req = GetVersionRequest { subject: ":.acme:orders-value".into(), version: -1 };
    w.registry().get_version(authed(req, &producer)).await.expect("read own subject");
    let req = SubjectSchemaRequest { subject: ":.acme:orders-value".into(), schema: ACME_SCHEMA.into() };
    assert_denied(w.registry().register(authed(req, &producer)).await, "schema-write");

    // A consume-only token: the reverse.
    let consumer = token("reader", &["consume:acme/*/*"]);
    w.fetch("acme/default/orders", &consumer).await.expect("consume");
    assert_denied(w.produce("acme/default/orders", "acme", &consumer).await, "produce");
    w.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn produce_streams_are_authorized_request_by_request() {
    let w = World::start().await;
    let acme = token("acme-app", &["produce:acme/default/orders"]);
    let mut requests = Vec::new();
    for (i, (topic, tenant)) in
        [("acme/default/orders", "acme"), ("beta/default/orders", "beta")].iter().enumerate()
    {
        requests.push(ProduceRequest {
            topic: topic.to_string(),
            partition: 0,
            batch: w.batch(tenant),
            correlation_id: i as u64,
        });
    }
    let stream = tokio_stream::iter(requests);
    let mut responses = w.broker().produce_stream(authed(stream, &acme)).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(r) = responses.message().await.unwrap() {
        seen.push((r.correlation_id, r.error.map(|e| (e.code, e.message))));
    }
    seen.sort();
    assert_eq!(seen[0], (0, None));
    let (code, refusal) = seen[1].1.as_ref().expect("the foreign topic is refused");
    assert_eq!(*code, runnel_proto::v1::ErrorCode::PermissionDenied as i32, "{refusal}");
    assert!(refusal.contains("lacks the produce permission on topic beta/default/orders"), "{refusal}");
    // Nothing reached beta's log.
    let req = ListOffsetsRequest {
        topic: "beta/default/orders".into(),
        spec: runnel_proto::v1::OffsetSpec::Latest as i32,
        ..Default::default()
    };
    let offsets = w.broker().list_offsets(authed(req, &w.root)).await.unwrap().into_inner();
    assert!(offsets.offsets.iter().all(|o| o.offset == 0), "{offsets:?}");
    w.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn another_tenants_schemas_are_invisible_over_grpc_and_rest() {
    let w = World::start().await;
    let acme = token("acme-admin", &["admin:acme"]);
    // gRPC: a foreign subject is refused, a foreign schema id is not found.
    let req = GetVersionRequest { subject: ":.beta:orders-value".into(), version: -1 };
    assert_denied(w.registry().get_version(authed(req, &acme)).await, "schema-read");
    let req = SubjectSchemaRequest { subject: ":.beta:orders-value".into(), schema: BETA_SCHEMA.into() };
    assert_denied(w.registry().register(authed(req, &acme)).await, "schema-write");
    let status =
        w.registry().get_schema(authed(GetSchemaRequest { id: w.beta_id }, &acme)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let own = w.registry().get_schema(authed(GetSchemaRequest { id: w.acme_id }, &acme)).await.unwrap();
    assert!(own.into_inner().schema.contains("Acme"));

    // REST: listings show only its own subjects; the other tenant's are not found.
    let http = reqwest::Client::new();
    let get = |path: &str, token: &str| http.get(w.rest(path)).bearer_auth(token).send();
    let subjects: Vec<String> = get("/subjects", &acme).await.unwrap().json().await.unwrap();
    assert_eq!(subjects, [":.acme:orders-value"]);
    let all: Vec<String> = get("/subjects", &w.root).await.unwrap().json().await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let resp = get("/subjects/:.beta:orders-value/versions", &acme).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 40401, "{body}");
    let resp = get(&format!("/schemas/ids/{}", w.beta_id), &acme).await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = get(&format!("/schemas/ids/{}", w.acme_id), &acme).await.unwrap();
    assert_eq!(resp.status(), 200);
    // Registry-wide settings are the cluster's: readable, not writable, by a tenant admin.
    assert_eq!(get("/config", &acme).await.unwrap().status(), 200);
    let resp = http
        .put(w.rest("/config"))
        .bearer_auth(&acme)
        .json(&serde_json::json!({"compatibility": "NONE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 40301, "{body}");
    assert!(body["message"].as_str().unwrap().contains("schema-write"), "{body}");
    // Metrics name every tenant's topics: superusers only.
    assert_eq!(get("/metrics", &acme).await.unwrap().status(), 403);
    assert_eq!(get("/metrics", &w.root).await.unwrap().status(), 200);
    w.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_kafka_listener_runs_with_authentication_on() {
    // It requires SASL then (kafka_auth.rs tests it).
    let dir = tempfile::tempdir().unwrap();
    let mut c = auth_config(dir.path());
    c.kafka_addr = Some("127.0.0.1:0".parse().unwrap());
    let server = runnel_broker::start(c).await.expect("starts with its Kafka listener");
    assert!(server.kafka_addr().is_some());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn authentication_off_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    h.topic("open", 1, TopicConfig::default()).await;
    let topics = h.admin.list_topics(ListTopicsRequest {}).await.unwrap().into_inner().topics;
    assert_eq!(topics.len(), 1);
    h.server.shutdown().await.unwrap();
}

/// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate, in PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names).unwrap().signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["client".into()]);
    Pki { ca: ca.as_ref().pem(), server_cert, server_key, client_cert, client_key }
}

async fn tls_server(dir: &std::path::Path, pki: &Pki, client_ca: bool) -> RunningServer {
    let mut c = auth_config(dir);
    c.tls = Some(TlsConfig {
        cert_pem: pki.server_cert.clone().into_bytes(),
        key_pem: pki.server_key.clone().into_bytes(),
        client_ca_pem: client_ca.then(|| pki.ca.clone().into_bytes()),
    });
    runnel_broker::start(c).await.expect("TLS server starts")
}

async fn tls_channel(url: &str, pki: &Pki, identity: bool) -> Result<Channel, tonic::transport::Error> {
    let mut tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&pki.ca))
        .domain_name("localhost");
    if identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(&pki.client_cert, &pki.client_key));
    }
    Channel::from_shared(url.to_owned()).unwrap().tls_config(tls)?.connect().await
}

/// GET /health over TLS by hand (rustls client), returning the status line.
async fn https_health(addr: std::net::SocketAddr, pki: &Pki) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::{self, pki_types::pem::PemObject, pki_types::CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca.as_bytes()).unwrap()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await?;
    Ok(out.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn tls_connections_work_and_plaintext_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = tls_server(dir.path(), &pki, false).await;
    assert!(server.grpc_url().starts_with("https://"));
    let root = token("root", &["superuser"]);

    // gRPC over TLS, with a token.
    let channel = tls_channel(&server.grpc_url(), &pki, false).await.expect("TLS connect");
    let mut admin = AdminClient::new(channel);
    admin.list_topics(authed(ListTopicsRequest {}, &root)).await.expect("list over TLS");

    // Plaintext gRPC: the connection or the first call fails.
    let plain_url = format!("http://{}", server.grpc_addr());
    let plain = match Channel::from_shared(plain_url).unwrap().connect().await {
        Ok(channel) => AdminClient::new(channel).list_topics(authed(ListTopicsRequest {}, &root)).await.err(),
        Err(_) => Some(tonic::Status::unavailable("refused")),
    };
    assert!(plain.is_some(), "plaintext gRPC must not be served");

    // HTTP over TLS works; plaintext HTTP gets no HTTP answer.
    let status = https_health(server.http_addr(), &pki).await.expect("HTTPS");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let plain = reqwest::Client::new().get(format!("http://{}/health", server.http_addr())).send().await;
    assert!(plain.is_err(), "plaintext HTTP must not be served: {plain:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_certificate_is_required_when_a_client_ca_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let server = tls_server(dir.path(), &pki, true).await;
    let root = token("root", &["superuser"]);
    let without = match tls_channel(&server.grpc_url(), &pki, false).await {
        Ok(channel) => AdminClient::new(channel).list_topics(authed(ListTopicsRequest {}, &root)).await.err(),
        Err(_) => Some(tonic::Status::unavailable("refused")),
    };
    assert!(without.is_some(), "a client without a certificate must be refused");
    let channel = tls_channel(&server.grpc_url(), &pki, true).await.expect("TLS connect with a certificate");
    AdminClient::new(channel).list_topics(authed(ListTopicsRequest {}, &root)).await.expect("list");
    // Without its token, a client with a certificate is still unauthenticated.
    let channel = tls_channel(&server.grpc_url(), &pki, true).await.unwrap();
    let status = AdminClient::new(channel).list_topics(ListTopicsRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_tls_files_fail_at_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = auth_config(dir.path());
    c.tls = Some(TlsConfig { cert_pem: b"nope".to_vec(), key_pem: b"nope".to_vec(), client_ca_pem: None });
    let e = runnel_broker::start(c).await.expect_err("refused");
    assert!(e.to_string().contains("TLS"), "{e}");
}
