//! Tenants, namespaces, full topic names, namespace policies and tenant quotas,
//! against a real broker over gRPC (authentication off).

mod common;

use std::time::{Duration, Instant};

use common::*;
use runnel_proto::v1::tenants_client::TenantsClient;
use runnel_proto::v1::{
    CreateNamespaceRequest, CreateTenantRequest, CreateTopicRequest, ListTopicsRequest, NamespacePolicy,
    NamespaceRef, ProduceRequest, SetTenantQuotasRequest, TenantQuotas, TenantRef, TopicConfig, TopicRef,
    ValidationLevel,
};
use tonic::transport::Channel;
use tonic::Code;

async fn tenants(h: &Harness) -> TenantsClient<Channel> {
    TenantsClient::connect(h.server.grpc_url()).await.expect("connect")
}

async fn create_tenant(t: &mut TenantsClient<Channel>, name: &str, quotas: TenantQuotas) {
    let req = CreateTenantRequest { name: name.into(), quotas: Some(quotas), if_not_exists: false };
    t.create_tenant(req).await.expect("create tenant");
}

async fn create_namespace(t: &mut TenantsClient<Channel>, name: &str, policy: NamespacePolicy) {
    let req = CreateNamespaceRequest { name: name.into(), policy: Some(policy), if_not_exists: false };
    t.create_namespace(req).await.expect("create namespace");
}

fn unchecked() -> TopicConfig {
    TopicConfig { validation: ValidationLevel::None as i32, ..Default::default() }
}

async fn create_topic(h: &mut Harness, name: &str, config: TopicConfig) -> Result<(), tonic::Status> {
    let req = CreateTopicRequest { topic: name.into(), config: Some(config), if_not_exists: false };
    h.admin.create_topic(req).await.map(|_| ())
}

fn blob_batch(bytes: usize) -> bytes::Bytes {
    batch_of(&[vec![7u8; bytes]])
}

async fn produce(h: &mut Harness, topic: &str, batch: bytes::Bytes) -> Result<(), tonic::Status> {
    let req = ProduceRequest { topic: topic.into(), partition: 0, batch, correlation_id: 0 };
    h.broker.produce(req).await.map(|_| ())
}

#[tokio::test]
async fn public_default_always_exists_and_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path()).await;
    let mut t = tenants(&h).await;
    let list = t.list_tenants(runnel_proto::v1::ListTenantsRequest {}).await.unwrap().into_inner();
    let names: Vec<_> = list.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["public"]);
    assert_eq!(list.tenants[0].namespaces, ["public/default"]);
    let e = t.delete_tenant(TenantRef { name: "public".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = t.delete_namespace(NamespaceRef { name: "public/default".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("bare topic names"), "{}", e.message());
}

#[tokio::test]
async fn tenant_and_namespace_lifecycle_with_every_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let mut t = tenants(&h).await;

    // Bad names never reach storage.
    for bad in ["", "a.b", "a/b", "..", "ü", &"x".repeat(65)] {
        let req = CreateTenantRequest { name: bad.into(), quotas: None, if_not_exists: false };
        let e = t.create_tenant(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}: {e:?}");
        assert!(e.message().contains("invalid tenant name"), "{}", e.message());
    }
    for bad in ["acme", "acme/", "acme/a/b", "acme/..", "acme/x.y"] {
        let req = CreateNamespaceRequest { name: bad.into(), policy: None, if_not_exists: false };
        let e = t.create_namespace(req).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}: {e:?}");
    }

    // A namespace needs its tenant; a topic needs its namespace.
    let req = CreateNamespaceRequest { name: "acme/billing".into(), policy: None, if_not_exists: false };
    let e = t.create_namespace(req).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("tenant 'acme' does not exist"), "{}", e.message());
    let e = create_topic(&mut h, "acme/billing/invoices", unchecked()).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("tenant 'acme'"), "{}", e.message());

    create_tenant(&mut t, "acme", TenantQuotas::default()).await;
    let req = CreateTenantRequest { name: "acme".into(), quotas: None, if_not_exists: false };
    assert_eq!(t.create_tenant(req).await.unwrap_err().code(), Code::AlreadyExists);
    let e = create_topic(&mut h, "acme/billing/invoices", unchecked()).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("namespace 'acme/billing' does not exist"), "{}", e.message());

    create_namespace(&mut t, "acme/billing", NamespacePolicy::default()).await;
    create_topic(&mut h, "acme/billing/invoices", unchecked()).await.expect("created in its namespace");
    create_topic(&mut h, "users", unchecked()).await.unwrap();

    // Bad topic names of every kind.
    for bad in
        ["acme/billing", "acme/billing/x/y", "acme//x", "acme/billing/..", "../billing/x", "acme/bil.ling/x"]
    {
        let e = create_topic(&mut h, bad, unchecked()).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}: {e:?}");
        assert!(e.message().contains("invalid topic name"), "{}", e.message());
    }

    // Listed by short name: bare for public/default, full otherwise.
    let listed = h.admin.list_topics(ListTopicsRequest {}).await.unwrap().into_inner();
    let mut names: Vec<_> = listed.topics.iter().map(|t| t.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["acme/billing/invoices", "users"]);

    let info = t.get_tenant(TenantRef { name: "acme".into() }).await.unwrap().into_inner();
    assert_eq!((info.topics, info.namespaces.clone()), (1, vec!["acme/billing".to_owned()]));

    // Not while they hold topics.
    let e = t.delete_namespace(NamespaceRef { name: "acme/billing".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("still holds 1 topic(s)"), "{}", e.message());
    let e = t.delete_tenant(TenantRef { name: "acme".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("acme/billing/invoices"), "{}", e.message());

    h.admin.delete_topic(TopicRef { topic: "acme/billing/invoices".into() }).await.unwrap();
    t.delete_namespace(NamespaceRef { name: "acme/billing".into() }).await.unwrap();
    let e = t.get_namespace(NamespaceRef { name: "acme/billing".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    t.delete_tenant(TenantRef { name: "acme".into() }).await.unwrap();
    let e = t.get_tenant(TenantRef { name: "acme".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn bare_and_full_default_names_are_one_topic() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    create_topic(&mut h, "public/default/users", unchecked()).await.unwrap();
    let e = create_topic(&mut h, "users", unchecked()).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "the bare name is the same topic");
    let info = h.admin.describe_topic(TopicRef { topic: "users".into() }).await.unwrap().into_inner();
    assert_eq!(info.name, "users");
    assert_eq!(info.config.unwrap().value_subject, "users-value");
    produce(&mut h, "public/default/users", blob_batch(10)).await.unwrap();
    assert!(!h.read_all("users", 0, 0).await.is_empty());
    // Stored where bare topics always were.
    assert!(dir.path().join("topics/users/0").is_dir());
    // Group offsets committed under one spelling are read under the other.
    let offsets = vec![runnel_proto::v1::PartitionOffset { partition: 0, offset: 1, timestamp_ms: 0 }];
    let commit = runnel_proto::v1::CommitRequest {
        group: "g".into(),
        topic: "public/default/users".into(),
        member_id: String::new(),
        generation: 0,
        offsets,
    };
    h.groups.commit(commit).await.expect("standalone commit");
    let req = runnel_proto::v1::FetchCommittedRequest {
        group: "g".into(),
        topic: "users".into(),
        partitions: vec![],
    };
    let committed = h.groups.fetch_committed(req).await.unwrap().into_inner();
    let got: Vec<(u32, i64)> = committed.offsets.iter().map(|o| (o.partition, o.offset)).collect();
    assert_eq!(got, [(0, 1)]);
}

#[tokio::test]
async fn tenant_topics_bind_to_their_context_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let mut t = tenants(&h).await;
    for tenant in ["acme", "globex"] {
        create_tenant(&mut t, tenant, TenantQuotas::default()).await;
        create_namespace(&mut t, &format!("{tenant}/default"), NamespacePolicy::default()).await;
    }
    // Each tenant registers its own `users-value` (in its context), with different schemas.
    let acme_id = h.register(":.acme:users-value", USER_SCHEMA).await;
    let globex_id = h.register(":.globex:users-value", OTHER_SCHEMA).await;
    assert_ne!(acme_id, globex_id);
    for tenant in ["acme", "globex"] {
        let req = CreateTopicRequest {
            topic: format!("{tenant}/default/users"),
            config: None,
            if_not_exists: false,
        };
        let info = h.admin.create_topic(req).await.unwrap().into_inner();
        assert_eq!(info.config.unwrap().value_subject, format!(":.{tenant}:users-value"));
    }
    // acme's topic takes acme's schema and refuses globex's id: the subjects are independent.
    let good = users(acme_id, 0..3, now_ms());
    produce(&mut h, "acme/default/users", good).await.expect("acme's own schema");
    let foreign = batch_of(&[framed(globex_id, &[2])]);
    let e = produce(&mut h, "acme/default/users", foreign).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

    h.server.shutdown().await.unwrap();
    assert!(dir.path().join("tenants/acme/default/users/0").is_dir());
    let mut h = start(dir.path()).await;
    let ages_read = ages(&h.read_all("acme/default/users", 0, 0).await);
    assert_eq!(ages_read.iter().map(|(_, a)| *a).collect::<Vec<_>>(), [0, 1, 2]);
    let mut t = tenants(&h).await;
    let info = t.get_tenant(TenantRef { name: "globex".into() }).await.unwrap().into_inner();
    assert_eq!(info.topics, 1, "tenants and their topics are stored");
}

#[tokio::test]
async fn namespace_policy_gives_new_topics_their_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let mut t = tenants(&h).await;
    create_tenant(&mut t, "acme", TenantQuotas::default()).await;
    let policy = NamespacePolicy {
        partitions: 3,
        retention_ms: 60_000,
        retention_bytes: 1 << 20,
        validation: ValidationLevel::Id as i32,
        auto_register: true,
        compatibility: "full".into(),
    };
    create_namespace(&mut t, "acme/ops", policy.clone()).await;
    let ns = t.get_namespace(NamespaceRef { name: "acme/ops".into() }).await.unwrap().into_inner();
    assert_eq!(ns.policy.unwrap().compatibility, "FULL", "the level is checked and normalised");

    let req = CreateTopicRequest { topic: "acme/ops/a".into(), config: None, if_not_exists: false };
    let c = h.admin.create_topic(req).await.unwrap().into_inner().config.unwrap();
    assert_eq!((c.partitions, c.retention_ms, c.retention_bytes), (3, 60_000, 1 << 20));
    assert_eq!(c.validation, ValidationLevel::Id as i32);
    assert!(c.auto_register);

    // The request's own settings win.
    let own = TopicConfig { partitions: 1, validation: ValidationLevel::Full as i32, ..Default::default() };
    let req = CreateTopicRequest { topic: "acme/ops/b".into(), config: Some(own), if_not_exists: false };
    let c = h.admin.create_topic(req).await.unwrap().into_inner().config.unwrap();
    assert_eq!((c.partitions, c.validation), (1, ValidationLevel::Full as i32));
    assert_eq!(c.retention_ms, 60_000);

    // A bad level is refused when the policy is set.
    let bad = NamespacePolicy { compatibility: "SIDEWAYS".into(), ..policy };
    let req = CreateNamespaceRequest { name: "acme/bad".into(), policy: Some(bad), if_not_exists: false };
    assert_eq!(t.create_namespace(req).await.unwrap_err().code(), Code::InvalidArgument);
}

#[tokio::test]
async fn topic_and_storage_quotas_refuse_what_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let mut t = tenants(&h).await;
    let quotas = TenantQuotas { max_topics: 1, storage_bytes: 64 * 1024, ..Default::default() };
    create_tenant(&mut t, "small", quotas).await;
    create_namespace(&mut t, "small/default", NamespacePolicy::default()).await;
    create_topic(&mut h, "small/default/a", unchecked()).await.unwrap();
    let e = create_topic(&mut h, "small/default/b", unchecked()).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("its quota is 1"), "{}", e.message());

    // 64 KiB of storage: 16 KiB batches pass until the next would go over.
    let mut accepted = 0;
    let refusal = loop {
        match produce(&mut h, "small/default/a", blob_batch(16 * 1024)).await {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 10, "the storage quota never refused");
    };
    assert_eq!(refusal.code(), Code::ResourceExhausted, "{refusal:?}");
    assert!(refusal.message().contains("storage quota"), "{}", refusal.message());
    assert_eq!(accepted, 3, "3 × 16 KiB (plus framing) fit in 64 KiB, a 4th does not");
    // Another tenant is not affected, and raising the quota lets the tenant produce again.
    create_topic(&mut h, "other", unchecked()).await.unwrap();
    produce(&mut h, "other", blob_batch(16 * 1024)).await.unwrap();
    let more = TenantQuotas { max_topics: 2, storage_bytes: 1 << 20, ..Default::default() };
    t.set_tenant_quotas(SetTenantQuotasRequest { name: "small".into(), quotas: Some(more) }).await.unwrap();
    produce(&mut h, "small/default/a", blob_batch(16 * 1024)).await.unwrap();
    create_topic(&mut h, "small/default/b", unchecked()).await.unwrap();
}

/// Produces 16 KiB batches to `topic` for `window`; returns the bytes/s achieved.
async fn produce_rate(url: String, topic: &str, window: Duration) -> f64 {
    let mut broker = runnel_proto::v1::broker_client::BrokerClient::connect(url).await.unwrap();
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < window {
        let batch = blob_batch(16 * 1024);
        bytes += batch.len() as u64;
        let req = ProduceRequest { topic: topic.into(), partition: 0, batch, correlation_id: 0 };
        broker.produce(req).await.expect("throttled, never refused");
    }
    bytes as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test]
async fn a_tenant_over_its_produce_quota_is_throttled_while_another_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let mut t = tenants(&h).await;
    // Low enough that the unlimited tenant, fsync-bound on a busy machine, is still far above it.
    const QUOTA: u64 = 64 * 1024;
    create_tenant(&mut t, "slow", TenantQuotas { produce_bytes_per_sec: QUOTA, ..Default::default() }).await;
    create_tenant(&mut t, "fast", TenantQuotas::default()).await;
    for ns in ["slow/default", "fast/default"] {
        create_namespace(&mut t, ns, NamespacePolicy::default()).await;
        create_topic(&mut h, &format!("{ns}/t"), unchecked()).await.unwrap();
    }
    let window = Duration::from_secs(3);
    let url = h.server.grpc_url();
    let (slow, fast) = tokio::join!(
        produce_rate(url.clone(), "slow/default/t", window),
        produce_rate(url.clone(), "fast/default/t", window)
    );
    let quota = QUOTA as f64;
    eprintln!("slow tenant: {:.0} B/s, fast tenant: {:.0} B/s, quota {quota} B/s", slow, fast);
    // The limited tenant gets its quota (plus the one-second burst spread over the window), no more.
    assert!(slow < quota * 2.0, "slow tenant at {slow:.0} B/s, quota {quota}");
    assert!(slow > quota * 0.5, "slow tenant starved at {slow:.0} B/s");
    // The other tenant runs far above it at the same time.
    assert!(fast > slow * 4.0, "fast tenant at {fast:.0} B/s against {slow:.0}");
}

#[tokio::test]
async fn a_tenant_over_its_consume_quota_reads_slower_than_one_without() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let mut t = tenants(&h).await;
    const QUOTA: u64 = 256 * 1024;
    create_tenant(&mut t, "slow", TenantQuotas::default()).await;
    create_tenant(&mut t, "fast", TenantQuotas::default()).await;
    for ns in ["slow/default", "fast/default"] {
        create_namespace(&mut t, ns, NamespacePolicy::default()).await;
        create_topic(&mut h, &format!("{ns}/t"), unchecked()).await.unwrap();
        for _ in 0..64 {
            produce(&mut h, &format!("{ns}/t"), blob_batch(16 * 1024)).await.unwrap();
        }
    }
    let limited = TenantQuotas { consume_bytes_per_sec: QUOTA, ..Default::default() };
    t.set_tenant_quotas(SetTenantQuotasRequest { name: "slow".into(), quotas: Some(limited) }).await.unwrap();
    let read_rate = |topic: &'static str| {
        let url = h.server.grpc_url();
        async move {
            let mut broker = runnel_proto::v1::broker_client::BrokerClient::connect(url).await.unwrap();
            let start = Instant::now();
            let req = runnel_proto::v1::FetchRequest {
                topic: topic.into(),
                partition: 0,
                offset: 0,
                max_bytes: 64 * 1024,
                max_wait_ms: 1,
                follow: false,
                end_offset: 64,
                ..Default::default()
            };
            let mut stream = broker.fetch(req).await.unwrap().into_inner();
            let mut bytes = 0;
            while let Some(r) = stream.message().await.unwrap() {
                bytes += r.batches.len();
            }
            assert!(bytes >= 64 * 16 * 1024, "read everything: {bytes}");
            bytes as f64 / start.elapsed().as_secs_f64()
        }
    };
    let (slow, fast) = tokio::join!(read_rate("slow/default/t"), read_rate("fast/default/t"));
    let quota = QUOTA as f64;
    eprintln!("slow tenant read {slow:.0} B/s, fast tenant {fast:.0} B/s, quota {quota}");
    assert!(slow < quota * 2.0, "slow tenant read at {slow:.0} B/s, quota {quota}");
    assert!(fast > slow * 4.0, "fast tenant read at {fast:.0} B/s against {slow:.0}");
}
