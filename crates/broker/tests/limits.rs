//! Limits and overload: every configured limit refuses with its precise status
//! and message, overload is answered with back-pressure or a retryable status,
//! and a slow consumer does not make the broker buffer without bound.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use common::*;
use runnel_broker::log::set_write_fault;
use runnel_proto::v1::{
    admin_client::AdminClient, AddPartitionsRequest, CreateTopicRequest, FetchRequest, ListTopicsRequest,
    ProduceRequest, SubjectSchemaRequest, TopicConfig, ValidationLevel,
};
use runnel_proto::BatchBuilder;
use tonic::transport::Channel;
use tonic::Code;

fn produce(topic: &str, batch: bytes::Bytes) -> ProduceRequest {
    ProduceRequest { correlation_id: 0, topic: topic.into(), partition: 0, batch }
}

fn create(topic: &str, partitions: u32) -> CreateTopicRequest {
    let config = TopicConfig { partitions, validation: ValidationLevel::None as i32, ..Default::default() };
    CreateTopicRequest { topic: topic.into(), config: Some(config), if_not_exists: false }
}

#[tokio::test]
async fn record_over_the_limit_is_refused_naming_its_index_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_record_bytes = 100;
    let mut h = start_with(dir.path(), cfg).await;
    let id = h.topic("rec", 1, TopicConfig::default()).await;
    let small = framed(id, &user_body("ok", 1));
    let big = framed(id, &user_body(&"x".repeat(200), 2));
    let err = h.broker.produce(produce("rec", batch_of(&[small.clone(), big.clone()]))).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), format!("record 1 is {} bytes, over the limit of 100", big.len()));
    // Nothing of the refused batch was appended; a batch within the limit is.
    let ok = h.broker.produce(produce("rec", batch_of(&[small]))).await.unwrap().into_inner();
    assert_eq!(ok.base_offset, 0);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn batch_over_the_limit_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_batch_bytes = 1_000;
    let mut h = start_with(dir.path(), cfg).await;
    let id = h.topic("batch", 1, TopicConfig::default()).await;
    let batch = users(id, 0..100, 1_000);
    let err = h.broker.produce(produce("batch", batch.clone())).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), format!("batch of {} bytes is over the limit of 1000 bytes", batch.len()));
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn schema_over_the_limit_is_refused_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_schema_bytes = 512;
    let mut h = start_with(dir.path(), cfg).await;
    let doc = "d".repeat(600);
    let schema = format!(r#"{{"type":"record","name":"Big","doc":"{doc}","fields":[]}}"#);
    let req = SubjectSchemaRequest { subject: "big-value".into(), schema: schema.clone() };
    let err = h.registry.register(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.message(),
        format!("registry: Schema of {} bytes exceeds the limit of 512 bytes", schema.len())
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn topics_over_the_limit_are_refused_and_existing_ones_still_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_topics = 2;
    let mut h = start_with(dir.path(), cfg).await;
    h.admin.create_topic(create("a", 1)).await.unwrap();
    h.admin.create_topic(create("b", 1)).await.unwrap();
    let err = h.admin.create_topic(create("c", 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), "the broker holds 2 topics, the limit is 2");
    let mut again = create("a", 1);
    again.if_not_exists = true;
    h.admin.create_topic(again).await.expect("if_not_exists on an existing topic is not a new topic");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn partitions_over_the_limit_are_refused_on_create_and_on_add() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_partitions = 4;
    let mut h = start_with(dir.path(), cfg).await;
    h.admin.create_topic(create("a", 3)).await.unwrap();
    let err = h.admin.create_topic(create("b", 2)).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), "the broker holds 3 partitions, 2 more would pass the limit of 4");
    let add = AddPartitionsRequest { topic: "a".into(), partitions: 5 };
    let err = h.admin.add_partitions(add).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), "the broker holds 3 partitions, 2 more would pass the limit of 4");
    h.admin.add_partitions(AddPartitionsRequest { topic: "a".into(), partitions: 4 }).await.unwrap();
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn connection_over_the_limit_is_unavailable_and_accepted_once_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_connections = 1;
    let h = start_with(dir.path(), cfg).await;
    let url = h.server.grpc_url();
    let refused = AdminClient::new(Channel::from_shared(url.clone()).unwrap().connect_lazy())
        .list_topics(ListTopicsRequest {})
        .await
        .unwrap_err();
    // The broker closes the connection before any HTTP/2 exchange, so the client
    // sees the transport end: UNAVAILABLE or CANCELLED depending on when it
    // noticed, both retryable, with the closed connection as the cause.
    assert!(matches!(refused.code(), Code::Unavailable | Code::Cancelled), "retryable: {refused:?}");
    let cause = format!("{:?}", std::error::Error::source(&refused));
    assert!(cause.contains("connection") || cause.contains("Connect"), "cause: {cause}");
    let Harness { server, admin, broker, groups, registry, .. } = h;
    drop((admin, broker, groups, registry));
    // The slot frees when the first connection closes: a client that retries gets in.
    let mut served = false;
    for _ in 0..200 {
        let ch = Channel::from_shared(url.clone()).unwrap().connect_lazy();
        if AdminClient::new(ch).list_topics(ListTopicsRequest {}).await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "a new connection is accepted once the first one closed");
    server.shutdown().await.unwrap();
}

/// Directories whose segment writes block until released.
static BLOCKED: Mutex<Vec<(PathBuf, Gate)>> = Mutex::new(Vec::new());

/// Opened (true) once the blocked writes may go on.
type Gate = Arc<(Mutex<bool>, std::sync::Condvar)>;

/// Blocks every segment write under `dir` until the returned gate is opened.
fn block_writes_under(dir: &Path) -> Gate {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        set_write_fault(Some(Arc::new(|path: &Path| {
            let gate =
                BLOCKED.lock().unwrap().iter().find(|(d, _)| path.starts_with(d)).map(|(_, g)| g.clone());
            if let Some(gate) = gate {
                let (open, cv) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
            }
            Ok(())
        })));
    });
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    BLOCKED.lock().unwrap().push((dir.to_path_buf(), gate.clone()));
    gate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_wait_for_a_slot_on_their_connection_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_in_flight_per_connection = 1;
    let mut h = start_with(dir.path(), cfg).await;
    let id = h.topic("slow", 1, TopicConfig::default()).await;
    let gate = block_writes_under(dir.path());
    // The produce holds the connection's only slot while its write is blocked.
    let mut producer = h.broker.clone();
    let stuck = tokio::spawn(async move { producer.produce(produce("slow", users(id, 0..1, 1_000))).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut same_connection = h.admin.clone();
    let waiting = tokio::spawn(async move { same_connection.list_topics(ListTopicsRequest {}).await });
    // Another connection is served meanwhile.
    let other = Channel::from_shared(h.server.grpc_url()).unwrap().connect().await.unwrap();
    AdminClient::new(other).list_topics(ListTopicsRequest {}).await.expect("other connections are served");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the second request on a full connection waits (back-pressure)");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let appended = stuck.await.unwrap().expect("the blocked produce completes").into_inner();
    assert_eq!(appended.base_offset, 0);
    let topics = waiting.await.unwrap().expect("the waiting request is served, not refused");
    assert_eq!(topics.into_inner().topics.len(), 1);
    h.server.shutdown().await.unwrap();
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_does_not_make_the_broker_buffer_the_backlog() {
    const BACKLOG: usize = 96 << 20;
    const RECORD: usize = 60 << 10;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.http2_window_bytes = 1 << 20;
    let mut h = start_with(dir.path(), cfg).await;
    h.admin.create_topic(create("backlog", 1)).await.unwrap();
    let value = vec![7u8; RECORD];
    for _ in 0..BACKLOG / (16 * RECORD) {
        let mut b = BatchBuilder::new();
        for _ in 0..16 {
            b.push(None, Some(&value), 1_000, &[]);
        }
        h.broker.produce(produce("backlog", b.finish(-1, -1, -1))).await.unwrap();
    }
    let before = rss_bytes();
    let req = FetchRequest {
        topic: "backlog".into(),
        partition: 0,
        offset: 0,
        max_bytes: 1 << 20,
        max_wait_ms: 1,
        follow: true,
        end_offset: 0,
        ..Default::default()
    };
    let mut stream = h.broker.fetch(req).await.unwrap().into_inner();
    let mut received = 0usize;
    let mut peak = before;
    for _ in 0..8 {
        let resp = stream.message().await.unwrap().expect("a response");
        received += resp.batches.len();
        // Reading slowly: a broker that read ahead without bound would now hold the backlog.
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_bytes());
    }
    let growth = peak.saturating_sub(before);
    eprintln!("received {received} of {BACKLOG} bytes; RSS {before} → peak {peak} (+{growth})");
    assert!(received < BACKLOG / 4, "the consumer is behind");
    assert!(growth < (24 << 20) as u64, "broker memory grew by {growth} bytes for a {BACKLOG}-byte backlog");
    drop(stream);
    h.server.shutdown().await.unwrap();
}
