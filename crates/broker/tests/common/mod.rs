//! Test helpers: a real broker on free ports over a temporary directory, the
//! generated tonic clients, and records in the Confluent wire format.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use runnel_broker::{RunningServer, ServerConfig};
use runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, groups_client::GroupsClient,
    registry_client::RegistryClient, CreateTopicRequest, FetchRequest, SubjectSchemaRequest, TopicConfig,
};
use runnel_proto::{BatchBuilder, BatchView};
use tonic::transport::Channel;

/// The schema the tests produce with.
pub const USER_SCHEMA: &str = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
/// An unrelated schema, registered under another subject.
pub const OTHER_SCHEMA: &str =
    r#"{"type":"record","name":"Other","namespace":"t","fields":[{"name":"x","type":"long"}]}"#;

/// A running broker with connected clients.
pub struct Harness {
    pub server: RunningServer,
    pub dir: std::path::PathBuf,
    pub admin: AdminClient<Channel>,
    pub broker: BrokerClient<Channel>,
    pub groups: GroupsClient<Channel>,
    pub registry: RegistryClient<Channel>,
}

/// Test config: free ports, fast retention checks.
pub fn config(dir: &std::path::Path) -> ServerConfig {
    let mut c = ServerConfig::ephemeral(dir);
    c.retention_check_interval = Duration::from_millis(50);
    c
}

/// Starts a broker over `dir` with `config` and connects the clients.
pub async fn start_with(dir: &std::path::Path, config: ServerConfig) -> Harness {
    let server = runnel_broker::start(config).await.expect("server starts");
    let channel = Channel::from_shared(server.grpc_url()).unwrap().connect().await.expect("connect");
    let max = runnel_proto::MAX_MESSAGE_BYTES;
    Harness {
        dir: dir.to_path_buf(),
        admin: AdminClient::new(channel.clone()),
        broker: BrokerClient::new(channel.clone())
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
        groups: GroupsClient::new(channel.clone()),
        registry: RegistryClient::new(channel),
        server,
    }
}

/// Starts a broker over `dir` with the test config.
pub async fn start(dir: &std::path::Path) -> Harness {
    start_with(dir, config(dir)).await
}

impl Harness {
    /// Registers `schema` under `subject`; returns its id.
    pub async fn register(&mut self, subject: &str, schema: &str) -> u32 {
        let req = SubjectSchemaRequest { subject: subject.into(), schema: schema.into() };
        self.registry.register(req).await.expect("register").into_inner().id
    }

    /// Creates `topic` with `partitions` and registers the user schema under
    /// `<topic>-value`; returns the schema id.
    pub async fn topic(&mut self, topic: &str, partitions: u32, mut config: TopicConfig) -> u32 {
        let id = self.register(&format!("{topic}-value"), USER_SCHEMA).await;
        config.partitions = partitions;
        let req = CreateTopicRequest { topic: topic.into(), config: Some(config), if_not_exists: false };
        self.admin.create_topic(req).await.expect("create topic");
        id
    }

    /// Reads every batch of a partition from `from` to the high watermark.
    pub async fn read_all(&mut self, topic: &str, partition: u32, from: i64) -> Vec<u8> {
        let req = FetchRequest {
            topic: topic.into(),
            partition,
            offset: from,
            max_bytes: 0,
            max_wait_ms: 1,
            follow: false,
            end_offset: 0,
            ..Default::default()
        };
        let mut stream = self.broker.fetch(req).await.expect("fetch").into_inner();
        let mut out = Vec::new();
        while let Some(resp) = stream.message().await.expect("fetch stream") {
            out.extend_from_slice(&resp.batches);
        }
        out
    }
}

/// Avro binary of `User { name, age }`.
pub fn user_body(name: &str, age: i32) -> Vec<u8> {
    let mut out = Vec::new();
    zigzag(&mut out, name.len() as i64);
    out.extend_from_slice(name.as_bytes());
    zigzag(&mut out, i64::from(age));
    out
}

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Confluent framing: magic 0, big-endian id, body.
pub fn framed(id: u32, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A batch of valid users `name-<i>` for `i` in `range`, timestamps `ts`.
pub fn users(id: u32, range: std::ops::Range<i32>, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new();
    for i in range {
        let v = framed(id, &user_body(&format!("name-{i}"), i));
        b.push(None, Some(&v), ts, &[]);
    }
    b.finish(-1, -1, -1)
}

/// A batch of the given values.
pub fn batch_of(values: &[Vec<u8>]) -> Bytes {
    let mut b = BatchBuilder::new();
    for v in values {
        b.push(None, Some(v), 1_000, &[]);
    }
    b.finish(-1, -1, -1)
}

/// (offset, age) of every record in concatenated batches.
pub fn ages(bytes: &[u8]) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    for batch in runnel_proto::batch::batches(bytes) {
        let batch: BatchView<'_> = batch.expect("valid batch");
        for r in batch.records() {
            let r = r.expect("valid record");
            let v = r.value.expect("value");
            let body = &v[5..];
            // name: zig-zag length + bytes, then age.
            let (len, n) = unzigzag(body);
            let (age, _) = unzigzag(&body[n + len as usize..]);
            out.push((r.offset, age as i32));
        }
    }
    out
}

fn unzigzag(b: &[u8]) -> (i64, usize) {
    let mut raw = 0u64;
    for (i, &byte) in b.iter().enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1);
        }
    }
    panic!("bad varint")
}

/// Now in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
