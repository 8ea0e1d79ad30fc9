//! The Kafka listener on the wire: raw frames built with the `kafka-protocol`
//! crate over TCP against a real broker on free ports. (Real clients are
//! tested in `tests/oracle/test_kafka_clients.py`.)

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{ages, batch_of, framed, user_body, users, Harness};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse, FetchRequest,
    FetchResponse, GroupId, HeartbeatRequest, HeartbeatResponse, InitProducerIdRequest,
    InitProducerIdResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse,
    RequestHeader, ResponseHeader, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_proto::v1::{
    CommitRequest, CreateTopicRequest, FetchCommittedRequest, PartitionOffset, TopicConfig, ValidationLevel,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const INVALID_RECORD: i16 = 87;
const UNSUPPORTED_VERSION: i16 = 35;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// A Kafka connection speaking raw frames.
struct Kafka {
    stream: TcpStream,
    correlation: i32,
}

impl Kafka {
    async fn connect(h: &Harness) -> Kafka {
        let addr = h.server.kafka_addr().expect("the Kafka listener runs");
        Kafka { stream: TcpStream::connect(addr).await.expect("connect"), correlation: 0 }
    }

    async fn send<Req: Encodable>(&mut self, api: ApiKey, version: i16, req: &Req) -> i32 {
        self.send_as(api, version, version, req).await
    }

    /// Sends `req` encoded at `version` but labelled `wire_version` (a version
    /// the encoder does not know, as a newer client would send).
    async fn send_as<Req: Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        wire_version: i16,
        req: &Req,
    ) -> i32 {
        self.correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        header.client_id = Some(StrBytes::from_static_str("kafka-test"));
        let mut body = BytesMut::new();
        header.encode(&mut body, api.request_header_version(version)).expect("encode header");
        req.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        frame[6..8].copy_from_slice(&wire_version.to_be_bytes());
        self.stream.write_all(&frame).await.expect("write");
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

    /// Whether the broker closed the connection (reads EOF).
    async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    let mut p = PartitionProduceData::default();
    p.index = partition;
    p.records = Some(records);
    let mut t = TopicProduceData::default();
    t.name = TopicName(StrBytes::from_string(topic.into()));
    t.partition_data = vec![p];
    let mut r = ProduceRequest::default();
    r.acks = acks;
    r.timeout_ms = 10_000;
    r.topic_data = vec![t];
    r
}

fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.into()));
    t.partitions = vec![p];
    let mut r = FetchRequest::default();
    r.max_wait_ms = max_wait_ms;
    r.min_bytes = 1;
    r.max_bytes = 4 << 20;
    r.topics = vec![t];
    r
}

async fn setup(topic: &str, partitions: u32) -> (tempfile::TempDir, Harness, u32) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic(topic, partitions, TopicConfig::default()).await;
    (dir, h, id)
}

#[tokio::test]
async fn api_versions_advertises_the_served_apis_and_refuses_unknown_versions_with_the_list() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    let r: ApiVersionsResponse = k.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    assert_eq!(r.error_code, 0);
    let produce = r.api_keys.iter().find(|v| v.api_key == ApiKey::Produce as i16).expect("Produce");
    assert_eq!((produce.min_version, produce.max_version), (3, 9));
    assert!(r.api_keys.iter().any(|v| v.api_key == ApiKey::JoinGroup as i16));
    let txn =
        r.api_keys.iter().find(|v| v.api_key == ApiKey::AddPartitionsToTxn as i16).expect("transactions");
    assert_eq!((txn.min_version, txn.max_version), (0, 3));

    // A future ApiVersions version: answered in v0 with UNSUPPORTED_VERSION and the list.
    let cid = k.send_as(ApiKey::ApiVersions, 3, 99, &ApiVersionsRequest::default()).await;
    let r: ApiVersionsResponse = k.recv(ApiKey::ApiVersions, 0, cid).await;
    assert_eq!(r.error_code, UNSUPPORTED_VERSION);
    assert!(r.api_keys.iter().any(|v| v.api_key == ApiKey::Fetch as i16));
}

#[tokio::test]
async fn other_unsupported_versions_get_unsupported_version_or_a_closed_connection() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    // JoinGroup v8 is a real version this broker does not serve: its response has an error field.
    let r: JoinGroupResponse = k.call(ApiKey::JoinGroup, 8, &JoinGroupRequest::default()).await;
    assert_eq!(r.error_code, UNSUPPORTED_VERSION);
    // Produce v2 (message sets, not record batches) is older than any version the
    // `kafka-protocol` crate decodes: no answer can be built, so the connection closes.
    k.send_as(ApiKey::Produce, 3, 2, &produce_request("t", 0, Bytes::new(), -1)).await;
    assert!(k.closed().await);
}

#[tokio::test]
async fn metadata_names_this_broker_as_leader_of_every_partition() {
    let (_dir, h, _) = setup("orders", 3).await;
    let mut k = Kafka::connect(&h).await;
    let mut req = MetadataRequest::default();
    req.topics = None;
    let r: MetadataResponse = k.call(ApiKey::Metadata, 9, &req).await;
    assert_eq!(r.brokers.len(), 1);
    assert_eq!(r.brokers[0].port, i32::from(h.server.kafka_addr().unwrap().port()));
    let t = r.topics.iter().find(|t| t.name.as_ref().map(|n| n.as_str()) == Some("orders")).expect("topic");
    assert_eq!(t.partitions.len(), 3);
    assert!(t.partitions.iter().all(|p| p.leader_id.0 == 0 && p.error_code == 0));
}

#[tokio::test]
async fn metadata_names_tenant_topics_in_the_explicit_form_and_refuses_slashes() {
    let (_dir, mut h, _) = setup("orders", 1).await;
    let mut tenants =
        runnel_proto::v1::tenants_client::TenantsClient::connect(h.server.grpc_url()).await.expect("connect");
    let req =
        runnel_proto::v1::CreateTenantRequest { name: "acme".into(), quotas: None, if_not_exists: false };
    tenants.create_tenant(req).await.expect("create tenant");
    let req = runnel_proto::v1::CreateNamespaceRequest {
        name: "acme/default".into(),
        policy: None,
        if_not_exists: false,
    };
    tenants.create_namespace(req).await.expect("create namespace");
    let config =
        TopicConfig { partitions: 1, validation: ValidationLevel::None as i32, ..Default::default() };
    let req = CreateTopicRequest {
        topic: "acme/default/secret".into(),
        config: Some(config),
        if_not_exists: false,
    };
    h.admin.create_topic(req).await.expect("create the tenant's topic");

    let mut k = Kafka::connect(&h).await;
    let mut all = MetadataRequest::default();
    all.topics = None;
    let r: MetadataResponse = k.call(ApiKey::Metadata, 9, &all).await;
    let names: Vec<&str> = r.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.as_str())).collect();
    // Authentication off: everything is visible; a tenant's topic has its `__T.N.X` name
    // (docs/kafka.md, Tenancy). Access control is kafka_auth.rs's.
    assert_eq!(names, vec!["__acme.default.secret", "orders"]);

    let mut one = MetadataRequest::default();
    let mut wanted = MetadataRequestTopic::default();
    wanted.name = Some(TopicName(StrBytes::from_static_str("acme/default/secret")));
    one.topics = Some(vec![wanted]);
    let r: MetadataResponse = k.call(ApiKey::Metadata, 9, &one).await;
    assert_eq!(r.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION: Kafka names cannot hold '/'");
    let mut wanted = MetadataRequestTopic::default();
    wanted.name = Some(TopicName(StrBytes::from_static_str("__acme.default.secret")));
    one.topics = Some(vec![wanted]);
    let r: MetadataResponse = k.call(ApiKey::Metadata, 9, &one).await;
    assert_eq!((r.topics[0].error_code, r.topics[0].partitions.len()), (0, 1));
}

#[tokio::test]
async fn produced_batches_are_fetched_back_byte_for_byte_as_stored() {
    let (_dir, mut h, id) = setup("t", 2).await;
    let mut k = Kafka::connect(&h).await;
    let r: ProduceResponse =
        k.call(ApiKey::Produce, 9, &produce_request("t", 1, users(id, 0..5, 1_000), -1)).await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let r: ProduceResponse =
        k.call(ApiKey::Produce, 7, &produce_request("t", 1, users(id, 5..8, 2_000), 1)).await;
    assert_eq!(r.responses[0].partition_responses[0].base_offset, 5);

    let stored = h.read_all("t", 1, 0).await;
    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("t", 1, 0, 100)).await;
    let pd = &r.responses[0].partitions[0];
    assert_eq!(pd.error_code, 0);
    assert_eq!(pd.high_watermark, 8);
    assert_eq!(pd.records.as_deref(), Some(&stored[..]), "the stored batches, not re-encoded");
    assert_eq!(common::ages(&stored).len(), 8);
}

#[tokio::test]
async fn refuses_a_schema_violation_with_invalid_record_naming_the_index() {
    let (_dir, mut h, id) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    let good = framed(id, &user_body("a", 1));
    let truncated = framed(id, &user_body("b", 2)[..1]);
    let batch = batch_of(&[good.clone(), truncated, good]);
    let r: ProduceResponse = k.call(ApiKey::Produce, 9, &produce_request("t", 0, batch, -1)).await;
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, INVALID_RECORD);
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(p.record_errors[0].batch_index, 1);
    let message =
        p.record_errors[0].batch_index_error_message.as_ref().map(|m| m.to_string()).unwrap_or_default();
    assert!(message.contains("record 1"), "{message}");
    assert!(
        p.error_message.as_ref().is_some_and(|m| m.contains("does not match schema id")),
        "{:?}",
        p.error_message
    );
    assert!(h.read_all("t", 0, 0).await.is_empty(), "nothing of the batch was appended");
}

#[tokio::test]
async fn fetch_long_polls_until_a_record_arrives() {
    let (_dir, h, id) = setup("t", 1).await;
    let mut consumer = Kafka::connect(&h).await;
    let mut producer = Kafka::connect(&h).await;
    let cid = consumer.send(ApiKey::Fetch, 11, &fetch_request("t", 0, 0, 20_000)).await;
    let r: ProduceResponse =
        producer.call(ApiKey::Produce, 9, &produce_request("t", 0, users(id, 0..1, 5), -1)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let r: FetchResponse = consumer.recv(ApiKey::Fetch, 11, cid).await;
    let pd = &r.responses[0].partitions[0];
    assert_eq!(pd.high_watermark, 1);
    assert!(pd.records.as_ref().is_some_and(|b| !b.is_empty()));
}

#[tokio::test]
async fn unknown_partitions_and_offsets_out_of_range_are_answered_per_partition() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("nope", 0, 0, 10)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("t", 0, 42, 10)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 1, "OFFSET_OUT_OF_RANGE");
}

#[tokio::test]
async fn list_offsets_gives_earliest_latest_and_by_timestamp() {
    let (_dir, h, id) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    k.call::<_, ProduceResponse>(ApiKey::Produce, 9, &produce_request("t", 0, users(id, 0..3, 1_000), -1))
        .await;
    k.call::<_, ProduceResponse>(ApiKey::Produce, 9, &produce_request("t", 0, users(id, 3..5, 5_000), -1))
        .await;
    let mut answers = Vec::new();
    for ts in [-2, -1, 4_000, 9_000] {
        let mut p = ListOffsetsPartition::default();
        p.partition_index = 0;
        p.timestamp = ts;
        let mut t = ListOffsetsTopic::default();
        t.name = TopicName(StrBytes::from_static_str("t"));
        t.partitions = vec![p];
        let mut req = ListOffsetsRequest::default();
        req.replica_id = kafka_protocol::messages::BrokerId(-1);
        req.topics = vec![t];
        let r: ListOffsetsResponse = k.call(ApiKey::ListOffsets, 6, &req).await;
        answers.push(r.topics[0].partitions[0].offset);
    }
    assert_eq!(answers, vec![0, 5, 3, -1]);
}

#[tokio::test]
async fn offsets_committed_over_kafka_are_read_over_grpc_and_back() {
    let (_dir, mut h, id) = setup("t", 2).await;
    let mut k = Kafka::connect(&h).await;
    k.call::<_, ProduceResponse>(ApiKey::Produce, 9, &produce_request("t", 1, users(id, 0..9, 1), -1)).await;
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 1;
    p.committed_offset = 7;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str("t"));
    t.partitions = vec![p];
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(StrBytes::from_static_str("mailer"));
    req.generation_id_or_member_epoch = -1;
    req.topics = vec![t];
    let r: OffsetCommitResponse = k.call(ApiKey::OffsetCommit, 8, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);

    let got = h
        .groups
        .fetch_committed(FetchCommittedRequest {
            group: "mailer".into(),
            topic: "t".into(),
            partitions: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.offsets.iter().map(|o| (o.partition, o.offset)).collect::<Vec<_>>(), vec![(1, 7)]);

    h.groups
        .commit(CommitRequest {
            group: "mailer".into(),
            topic: "t".into(),
            offsets: vec![
                PartitionOffset { partition: 0, offset: 0, timestamp_ms: 0 },
                PartitionOffset { partition: 1, offset: 9, timestamp_ms: 0 },
            ],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut t = OffsetFetchRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str("t"));
    t.partition_indexes = vec![0, 1];
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(StrBytes::from_static_str("mailer"));
    req.topics = Some(vec![t]);
    let r: OffsetFetchResponse = k.call(ApiKey::OffsetFetch, 7, &req).await;
    let offsets: Vec<(i32, i64)> =
        r.topics[0].partitions.iter().map(|p| (p.partition_index, p.committed_offset)).collect();
    assert_eq!(offsets, vec![(0, 0), (1, 9)]);
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_connection() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut bad = Kafka::connect(&h).await;
    let mut good = Kafka::connect(&h).await;
    bad.stream.write_all(&(1i32 << 30).to_be_bytes()).await.unwrap();
    assert!(bad.closed().await);
    let r: ApiVersionsResponse = good.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn a_malformed_request_closes_only_its_connection() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut bad = Kafka::connect(&h).await;
    let mut good = Kafka::connect(&h).await;
    // A Metadata v9 header that promises a client id longer than the frame.
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(ApiKey::Metadata as i16);
    frame.put_i16(9);
    frame.put_i32(1);
    frame.put_i16(500);
    bad.stream.write_all(&frame).await.unwrap();
    assert!(bad.closed().await);
    let r: ApiVersionsResponse = good.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let (_dir, h, id) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    let mut cids = Vec::new();
    for i in 0..10 {
        cids.push(k.send(ApiKey::Produce, 9, &produce_request("t", 0, users(id, i..i + 1, 1), -1)).await);
    }
    for (i, cid) in cids.into_iter().enumerate() {
        let r: ProduceResponse = k.recv(ApiKey::Produce, 9, cid).await;
        assert_eq!(r.responses[0].partition_responses[0].base_offset, i as i64);
    }
}

#[tokio::test]
async fn acks_zero_gets_no_answer_but_is_appended() {
    let (_dir, mut h, id) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    k.send(ApiKey::Produce, 9, &produce_request("t", 0, users(id, 0..2, 1), 0)).await;
    // The next answer on the connection is the ApiVersions that followed.
    let cid = k.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).await;
    let r: ApiVersionsResponse = k.recv(ApiKey::ApiVersions, 3, cid).await;
    assert_eq!(r.error_code, 0);
    let mut stored = Vec::new();
    for _ in 0..200 {
        stored = h.read_all("t", 0, 0).await;
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(common::ages(&stored).len(), 2);
}

fn join_request(group: &str, member_id: &str, metadata: &'static [u8]) -> JoinGroupRequest {
    let mut p = JoinGroupRequestProtocol::default();
    p.name = StrBytes::from_static_str("range");
    p.metadata = Bytes::from_static(metadata);
    let mut r = JoinGroupRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.into()));
    r.session_timeout_ms = 10_000;
    r.rebalance_timeout_ms = 10_000;
    r.member_id = StrBytes::from_string(member_id.into());
    r.protocol_type = StrBytes::from_static_str("consumer");
    r.protocols = vec![p];
    r
}

/// JoinGroup v5 twice: the first hands out a member id (MEMBER_ID_REQUIRED).
async fn join(k: &mut Kafka, group: &str, metadata: &'static [u8]) -> JoinGroupResponse {
    let r: JoinGroupResponse = k.call(ApiKey::JoinGroup, 5, &join_request(group, "", metadata)).await;
    assert_eq!(r.error_code, 79, "MEMBER_ID_REQUIRED");
    let id = r.member_id.to_string();
    k.call(ApiKey::JoinGroup, 5, &join_request(group, &id, metadata)).await
}

fn sync_request(
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(&str, &'static [u8])],
) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.into()));
    r.generation_id = generation;
    r.member_id = StrBytes::from_string(member.into());
    r.assignments = assignments
        .iter()
        .map(|(m, a)| {
            let mut s = SyncGroupRequestAssignment::default();
            s.member_id = StrBytes::from_string((*m).into());
            s.assignment = Bytes::from_static(a);
            s
        })
        .collect();
    r
}

fn heartbeat_request(group: &str, generation: i32, member: &str) -> HeartbeatRequest {
    let mut r = HeartbeatRequest::default();
    r.group_id = GroupId(StrBytes::from_string(group.into()));
    r.generation_id = generation;
    r.member_id = StrBytes::from_string(member.into());
    r
}

#[tokio::test]
async fn a_group_elects_a_leader_passes_its_assignment_and_rebalances_when_a_member_joins() {
    let (_dir, h, _) = setup("t", 2).await;
    let (mut a, mut b) = (Kafka::connect(&h).await, Kafka::connect(&h).await);
    let ja = join(&mut a, "g", b"meta-a").await;
    assert_eq!(ja.error_code, 0);
    let a_id = ja.member_id.to_string();
    assert_eq!(ja.leader.to_string(), a_id, "the only member leads");
    assert_eq!(ja.members.len(), 1);
    let s: SyncGroupResponse =
        a.call(ApiKey::SyncGroup, 3, &sync_request("g", ja.generation_id, &a_id, &[(&a_id, b"all")])).await;
    assert_eq!((s.error_code, &s.assignment[..]), (0, &b"all"[..]));

    // B joins: its JoinGroup waits until A rejoins, which A learns from its heartbeat.
    let b_join = tokio::spawn(async move {
        let r = join(&mut b, "g", b"meta-b").await;
        (b, r)
    });
    let mut rebalancing = false;
    for _ in 0..500 {
        let hb: HeartbeatResponse =
            a.call(ApiKey::Heartbeat, 3, &heartbeat_request("g", ja.generation_id, &a_id)).await;
        if hb.error_code == 27 {
            rebalancing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rebalancing, "REBALANCE_IN_PROGRESS after a member joined");
    let ja2: JoinGroupResponse = a.call(ApiKey::JoinGroup, 5, &join_request("g", &a_id, b"meta-a")).await;
    let (mut b, jb) = b_join.await.unwrap();
    assert_eq!(ja2.generation_id, ja.generation_id + 1);
    assert_eq!(jb.generation_id, ja2.generation_id);
    assert_eq!(ja2.leader.to_string(), a_id, "the leader stays");
    let mut metadata: Vec<Vec<u8>> = ja2.members.iter().map(|m| m.metadata.to_vec()).collect();
    metadata.sort();
    assert_eq!(metadata, vec![b"meta-a".to_vec(), b"meta-b".to_vec()], "the leader sees every member");
    assert!(jb.members.is_empty(), "followers do not");

    // B's SyncGroup waits for the leader's.
    let b_id = jb.member_id.to_string();
    let generation = jb.generation_id;
    let b_sync = tokio::spawn(async move {
        let r: SyncGroupResponse =
            b.call(ApiKey::SyncGroup, 3, &sync_request("g", generation, &b_id, &[])).await;
        r
    });
    let leader_sync =
        sync_request("g", generation, &a_id, &[(&a_id, b"p0"), (&jb.member_id.to_string(), b"p1")]);
    let s: SyncGroupResponse = a.call(ApiKey::SyncGroup, 3, &leader_sync).await;
    assert_eq!(&s.assignment[..], b"p0");
    let sb = b_sync.await.unwrap();
    assert_eq!((sb.error_code, &sb.assignment[..]), (0, &b"p1"[..]));

    // A stale generation is refused.
    let hb: HeartbeatResponse =
        a.call(ApiKey::Heartbeat, 3, &heartbeat_request("g", ja.generation_id, &a_id)).await;
    assert_eq!(hb.error_code, 22, "ILLEGAL_GENERATION");
}

#[tokio::test]
async fn idempotent_retries_are_appended_once() {
    let (_dir, mut h, id) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.producer_id = kafka_protocol::messages::ProducerId(-1);
    req.producer_epoch = -1;
    let init: InitProducerIdResponse = k.call(ApiKey::InitProducerId, 4, &req).await;
    assert_eq!(init.error_code, 0);
    let mut b = runnel_proto::BatchBuilder::new();
    for i in 0..3 {
        b.push(None, Some(&framed(id, &user_body("x", i))), 1, &[]);
    }
    let batch = b.finish(init.producer_id.0, init.producer_epoch, 0);
    let first: ProduceResponse =
        k.call(ApiKey::Produce, 9, &produce_request("t", 0, batch.clone(), -1)).await;
    let retry: ProduceResponse = k.call(ApiKey::Produce, 9, &produce_request("t", 0, batch, -1)).await;
    let (f, r) = (&first.responses[0].partition_responses[0], &retry.responses[0].partition_responses[0]);
    assert_eq!((f.error_code, r.error_code), (0, 0));
    assert_eq!(f.base_offset, r.base_offset, "the retry is answered with the original's offset");
    assert_eq!(common::ages(&h.read_all("t", 0, 0).await).len(), 3);
}

#[tokio::test]
async fn topics_are_created_described_and_deleted_over_kafka() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    let mut cfg = CreatableTopicConfig::default();
    cfg.name = StrBytes::from_static_str("runnel.validation");
    cfg.value = Some(StrBytes::from_static_str("none"));
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_static_str("raw"));
    t.num_partitions = 3;
    t.replication_factor = 1;
    t.configs = vec![cfg];
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t.clone()];
    req.timeout_ms = 5_000;
    let r: CreateTopicsResponse = k.call(ApiKey::CreateTopics, 5, &req).await;
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 3));
    let again: CreateTopicsResponse = k.call(ApiKey::CreateTopics, 5, &req).await;
    assert_eq!(again.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");

    // Validation none: any bytes are accepted.
    let r: ProduceResponse =
        k.call(ApiKey::Produce, 9, &produce_request("raw", 2, batch_of(&[b"x".to_vec()]), -1)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

    let mut res = DescribeConfigsResource::default();
    res.resource_type = 2;
    res.resource_name = StrBytes::from_static_str("raw");
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![res];
    let r: DescribeConfigsResponse = k.call(ApiKey::DescribeConfigs, 4, &req).await;
    let validation =
        r.results[0].configs.iter().find(|c| c.name.as_str() == "runnel.validation").expect("entry");
    assert_eq!(validation.value.as_ref().map(|v| v.as_str()), Some("none"));

    let mut req = DeleteTopicsRequest::default();
    req.topic_names = vec![TopicName(StrBytes::from_static_str("raw"))];
    let r: DeleteTopicsResponse = k.call(ApiKey::DeleteTopics, 5, &req).await;
    assert_eq!(r.responses[0].error_code, 0);
    assert!(h.server.kafka_addr().is_some());
    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("raw", 0, 0, 10)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
}

#[tokio::test]
async fn old_versions_librdkafka_uses_are_answered_in_their_own_shape() {
    let (_dir, h, _) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;
    // librdkafka 2.16 leaves a group with LeaveGroup v1 (no per-member answers).
    let j = join(&mut k, "old", b"m").await;
    let mut req = LeaveGroupRequest::default();
    req.group_id = GroupId(StrBytes::from_static_str("old"));
    req.member_id = j.member_id.clone();
    let r: LeaveGroupResponse = k.call(ApiKey::LeaveGroup, 1, &req).await;
    assert_eq!(r.error_code, 0);
    let r: LeaveGroupResponse = k.call(ApiKey::LeaveGroup, 1, &req).await;
    assert_eq!(r.error_code, 25, "UNKNOWN_MEMBER_ID once gone");

    // ListOffsets v1 has no leader epoch.
    let mut p = ListOffsetsPartition::default();
    p.timestamp = -1;
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(StrBytes::from_static_str("t"));
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.topics = vec![t];
    let r: ListOffsetsResponse = k.call(ApiKey::ListOffsets, 1, &req).await;
    assert_eq!((r.topics[0].partitions[0].error_code, r.topics[0].partitions[0].offset), (0, 0));
}

#[tokio::test]
async fn shutdown_answers_a_waiting_join_and_closes_the_connection() {
    let (_dir, h, _) = setup("t", 1).await;
    let (mut a, mut b) = (Kafka::connect(&h).await, Kafka::connect(&h).await);
    let ja = join(&mut a, "g", b"a").await;
    assert_eq!(ja.error_code, 0);
    // B's join waits for A to rejoin, which A never does.
    let r: JoinGroupResponse = b.call(ApiKey::JoinGroup, 5, &join_request("g", "", b"b")).await;
    let cid = b.send(ApiKey::JoinGroup, 5, &join_request("g", &r.member_id.to_string(), b"b")).await;
    // A's heartbeat says "rebalance" once B's join is in.
    for _ in 0..500 {
        let hb: HeartbeatResponse = a
            .call(ApiKey::Heartbeat, 3, &heartbeat_request("g", ja.generation_id, &ja.member_id.to_string()))
            .await;
        if hb.error_code == 27 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let shutdown = tokio::spawn(h.server.shutdown());
    let r: JoinGroupResponse = b.recv(ApiKey::JoinGroup, 5, cid).await;
    assert_eq!(r.error_code, 15, "COORDINATOR_NOT_AVAILABLE");
    assert!(b.closed().await);
    shutdown.await.unwrap().expect("clean shutdown");
}

// --- Admin and group APIs: unsupported answers, resolved-topic groups, DeleteRecords ---

const NON_EMPTY_GROUP: i16 = 68;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// A frame with only a request header (API key, version, correlation id, no client id).
async fn send_raw_header(k: &mut Kafka, api_key: i16, version: i16) {
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(api_key);
    frame.put_i16(version);
    frame.put_i32(77);
    frame.put_i16(-1);
    k.stream.write_all(&frame).await.expect("write");
}

#[tokio::test]
async fn every_request_whose_header_decodes_is_answered_with_unsupported_version() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::{
        CreateAclsRequest, CreateAclsResponse, DescribeAclsRequest, DescribeAclsResponse,
        DescribeGroupsRequest, DescribeGroupsResponse,
    };
    let (_dir, h, _) = setup("t", 1).await;
    let mut k = Kafka::connect(&h).await;

    // An API Runnel does not serve, with a top-level error code.
    let r: DescribeAclsResponse = k.call(ApiKey::DescribeAcls, 1, &DescribeAclsRequest::default()).await;
    assert_eq!(r.error_code, UNSUPPORTED_VERSION);
    // An API Runnel does not serve, errors per item: one per ACL asked for.
    let mut req = CreateAclsRequest::default();
    req.creations = vec![AclCreation::default(), AclCreation::default()];
    let r: CreateAclsResponse = k.call(ApiKey::CreateAcls, 2, &req).await;
    assert_eq!(r.results.iter().map(|a| a.error_code).collect::<Vec<_>>(), vec![UNSUPPORTED_VERSION; 2]);
    // A served API at a version above the served range: per topic, per group, per partition.
    let mut t = MetadataRequestTopic::default();
    t.name = Some(TopicName(StrBytes::from_static_str("t")));
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![t]);
    let r: MetadataResponse = k.call(ApiKey::Metadata, 12, &req).await;
    assert_eq!(r.topics.len(), 1);
    assert_eq!(r.topics[0].error_code, UNSUPPORTED_VERSION);
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(StrBytes::from_static_str("g"))];
    let r: DescribeGroupsResponse = k.call(ApiKey::DescribeGroups, 6, &req).await;
    assert_eq!((r.groups[0].group_id.as_str(), r.groups[0].error_code), ("g", UNSUPPORTED_VERSION));
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -1;
    let mut lt = ListOffsetsTopic::default();
    lt.name = TopicName(StrBytes::from_static_str("t"));
    lt.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.topics = vec![lt];
    let r: ListOffsetsResponse = k.call(ApiKey::ListOffsets, 8, &req).await;
    assert_eq!(r.topics[0].partitions[0].error_code, UNSUPPORTED_VERSION);

    // The connection is still good: ApiVersions v4 (flexible) lists the admin APIs.
    let r: ApiVersionsResponse = k.call(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default()).await;
    assert_eq!(r.error_code, 0);
    for api in [ApiKey::DeleteRecords, ApiKey::CreatePartitions, ApiKey::DeleteGroups, ApiKey::OffsetDelete] {
        assert!(r.api_keys.iter().any(|v| v.api_key == api as i16), "{api:?} advertised");
    }

    // An API key no Kafka version knows: no response can be encoded, so the connection
    // closes (as a Kafka broker closes it).
    send_raw_header(&mut k, 999, 0).await;
    assert!(k.closed().await);
}

#[tokio::test]
async fn group_members_of_one_topic_spelled_two_ways_are_one_group_with_shared_offsets() {
    use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::{
        DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse, OffsetDeleteRequest,
        OffsetDeleteResponse,
    };
    use runnel_proto::v1::JoinRequest;

    let (_dir, mut h, _) = setup("orders", 2).await;
    let join = |topic: &str| JoinRequest {
        group: "billing".into(),
        topic: topic.into(),
        client_id: "grpc".into(),
        ..Default::default()
    };
    let mut a = h.groups.join(join("orders")).await.unwrap().into_inner();
    let first = a.message().await.unwrap().unwrap();
    assert_eq!(first.partitions, vec![0, 1]);
    let mut b = h.groups.join(join("public/default/orders")).await.unwrap().into_inner();
    let b_assigned = b.message().await.unwrap().unwrap();
    // One group: the second member's join rebalanced the first, the partitions are split.
    let a_assigned = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let m = a.message().await.unwrap().unwrap();
            if m.generation == b_assigned.generation && m.partitions.len() == 1 {
                break m;
            }
        }
    })
    .await
    .expect("the first member is rebalanced by the second one's join");
    assert_eq!(a_assigned.partitions.len() + b_assigned.partitions.len(), 2);
    assert!(a_assigned.partitions.iter().all(|p| !b_assigned.partitions.contains(p)));

    // A commit under one spelling is the group's offset under the other.
    h.groups
        .commit(CommitRequest {
            group: "billing".into(),
            topic: "public/default/orders".into(),
            member_id: b_assigned.member_id.clone(),
            generation: b_assigned.generation,
            offsets: vec![PartitionOffset {
                partition: b_assigned.partitions[0],
                offset: 5,
                timestamp_ms: 0,
            }],
        })
        .await
        .expect("a member commits under its own spelling");
    h.groups
        .commit(CommitRequest {
            group: "billing".into(),
            topic: "orders".into(),
            member_id: a_assigned.member_id.clone(),
            generation: a_assigned.generation,
            offsets: vec![PartitionOffset {
                partition: a_assigned.partitions[0],
                offset: 3,
                timestamp_ms: 0,
            }],
        })
        .await
        .expect("so does the other");
    let got = h
        .groups
        .fetch_committed(FetchCommittedRequest {
            group: "billing".into(),
            topic: "orders".into(),
            partitions: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let mut want = vec![(a_assigned.partitions[0], 3), (b_assigned.partitions[0], 5)];
    want.sort_unstable();
    assert_eq!(got.offsets.iter().map(|o| (o.partition, o.offset)).collect::<Vec<_>>(), want);

    // Over Kafka: the group is described with both members, and its offsets and the group
    // itself cannot be deleted while they are live.
    let mut k = Kafka::connect(&h).await;
    let mut req = DescribeGroupsRequest::default();
    req.groups = vec![GroupId(StrBytes::from_static_str("billing"))];
    let r: DescribeGroupsResponse = k.call(ApiKey::DescribeGroups, 5, &req).await;
    assert_eq!(r.groups[0].group_state.as_str(), "Stable");
    assert_eq!(r.groups[0].members.len(), 2);
    let mut p = OffsetDeleteRequestPartition::default();
    p.partition_index = b_assigned.partitions[0] as i32;
    let mut t = OffsetDeleteRequestTopic::default();
    t.name = TopicName(StrBytes::from_static_str("orders"));
    t.partitions = vec![p];
    let mut od = OffsetDeleteRequest::default();
    od.group_id = GroupId(StrBytes::from_static_str("billing"));
    od.topics = vec![t];
    let r: OffsetDeleteResponse = k.call(ApiKey::OffsetDelete, 0, &od).await;
    assert_eq!((r.error_code, r.topics[0].partitions[0].error_code), (0, GROUP_SUBSCRIBED_TO_TOPIC));
    let mut dg = DeleteGroupsRequest::default();
    dg.groups_names = vec![GroupId(StrBytes::from_static_str("billing"))];
    let r: DeleteGroupsResponse = k.call(ApiKey::DeleteGroups, 2, &dg).await;
    assert_eq!(r.results[0].error_code, NON_EMPTY_GROUP);

    // Once both streams are gone, OffsetDelete and DeleteGroups go through.
    drop(a);
    drop(b);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r: OffsetDeleteResponse = k.call(ApiKey::OffsetDelete, 0, &od).await;
        if r.topics[0].partitions[0].error_code == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "members never left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = h
        .groups
        .fetch_committed(FetchCommittedRequest {
            group: "billing".into(),
            topic: "orders".into(),
            partitions: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let left: Vec<(u32, i64)> = got.offsets.iter().map(|o| (o.partition, o.offset)).collect();
    assert_eq!(left, vec![(a_assigned.partitions[0], 3)], "OffsetDelete removed only the partition it named");
    let r: DeleteGroupsResponse = k.call(ApiKey::DeleteGroups, 2, &dg).await;
    assert_eq!(r.results[0].error_code, 0);
    let got = h
        .groups
        .fetch_committed(FetchCommittedRequest {
            group: "billing".into(),
            topic: "orders".into(),
            partitions: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(got.offsets.is_empty(), "DeleteGroups removed every offset: {got:?}");
    // Gone: a second delete finds nothing.
    let r: DeleteGroupsResponse = k.call(ApiKey::DeleteGroups, 2, &dg).await;
    assert_eq!(r.results[0].error_code, 69, "GROUP_ID_NOT_FOUND");
}

#[tokio::test]
async fn delete_records_moves_the_log_start_durably_and_reads_below_it_are_out_of_range() {
    use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic("t", 1, TopicConfig::default()).await;
    let mut k = Kafka::connect(&h).await;
    for i in 0..4 {
        let r: ProduceResponse =
            k.call(ApiKey::Produce, 9, &produce_request("t", 0, users(id, i * 3..i * 3 + 3, 1), -1)).await;
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let delete = |offset: i64| {
        let mut p = DeleteRecordsPartition::default();
        p.offset = offset;
        let mut t = DeleteRecordsTopic::default();
        t.name = TopicName(StrBytes::from_static_str("t"));
        t.partitions = vec![p];
        let mut req = DeleteRecordsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = 5_000;
        req
    };
    let r: DeleteRecordsResponse = k.call(ApiKey::DeleteRecords, 2, &delete(7)).await;
    assert_eq!((r.topics[0].partitions[0].error_code, r.topics[0].partitions[0].low_watermark), (0, 7));
    // Lower than the start: nothing moves back.
    let r: DeleteRecordsResponse = k.call(ApiKey::DeleteRecords, 2, &delete(2)).await;
    assert_eq!(r.topics[0].partitions[0].low_watermark, 7);
    let r: DeleteRecordsResponse = k.call(ApiKey::DeleteRecords, 2, &delete(13)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, OFFSET_OUT_OF_RANGE);

    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("t", 0, 3, 10)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, OFFSET_OUT_OF_RANGE);
    assert_eq!(r.responses[0].partitions[0].log_start_offset, 7);
    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("t", 0, 7, 10)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    let got: Vec<i64> = ages(r.responses[0].partitions[0].records.as_deref().unwrap_or_default())
        .into_iter()
        .map(|(offset, _)| offset)
        .filter(|&o| o >= 7)
        .collect();
    assert_eq!(got, vec![7, 8, 9, 10, 11]);

    // After a restart the start is where DeleteRecords left it.
    drop(k);
    h.server.shutdown().await.expect("clean shutdown");
    let h = common::start(dir.path()).await;
    let mut k = Kafka::connect(&h).await;
    let mut p = ListOffsetsPartition::default();
    p.timestamp = -2;
    let mut t = ListOffsetsTopic::default();
    t.name = TopicName(StrBytes::from_static_str("t"));
    t.partitions = vec![p];
    let mut req = ListOffsetsRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.topics = vec![t];
    let r: ListOffsetsResponse = k.call(ApiKey::ListOffsets, 6, &req).await;
    assert_eq!(r.topics[0].partitions[0].offset, 7);
    let r: FetchResponse = k.call(ApiKey::Fetch, 11, &fetch_request("t", 0, 6, 10)).await;
    assert_eq!(r.responses[0].partitions[0].error_code, OFFSET_OUT_OF_RANGE);
}

#[tokio::test]
async fn create_partitions_grows_the_topic_and_hands_new_partitions_to_live_grpc_groups() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
    use runnel_proto::v1::JoinRequest;

    let (_dir, mut h, id) = setup("grow", 1).await;
    let join = JoinRequest { group: "g".into(), topic: "grow".into(), ..Default::default() };
    let mut member = h.groups.join(join).await.unwrap().into_inner();
    assert_eq!(member.message().await.unwrap().unwrap().partitions, vec![0]);

    let mut k = Kafka::connect(&h).await;
    let grow = |count: i32| {
        let mut t = CreatePartitionsTopic::default();
        t.name = TopicName(StrBytes::from_static_str("grow"));
        t.count = count;
        let mut req = CreatePartitionsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = 5_000;
        req
    };
    let r: CreatePartitionsResponse = k.call(ApiKey::CreatePartitions, 3, &grow(3)).await;
    assert_eq!(r.results[0].error_code, 0);
    let next = tokio::time::timeout(Duration::from_secs(5), member.message())
        .await
        .expect("the live member is rebalanced")
        .unwrap()
        .unwrap();
    assert_eq!(next.partitions, vec![0, 1, 2]);
    // The new partitions exist and take records; the count cannot shrink or stay.
    let r: ProduceResponse =
        k.call(ApiKey::Produce, 9, &produce_request("grow", 2, users(id, 0..3, 1), -1)).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    for count in [3, 2] {
        let r: CreatePartitionsResponse = k.call(ApiKey::CreatePartitions, 3, &grow(count)).await;
        assert_eq!(r.results[0].error_code, 37, "INVALID_PARTITIONS for {count}");
    }
}
