//! The Kafka listener on the wire: raw frames built with the `kafka-protocol`
//! crate over TCP against a real broker on free ports. (Real clients are
//! tested in `tests/oracle/test_kafka_clients.py`.)

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{batch_of, framed, user_body, users, Harness};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, GroupId, JoinGroupRequest,
    JoinGroupResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest,
    ProduceResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_proto::v1::{CommitRequest, FetchCommittedRequest, PartitionOffset, TopicConfig};
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
    assert!(!r.api_keys.iter().any(|v| v.api_key == ApiKey::AddPartitionsToTxn as i16));

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
    // Produce v2 (message sets, not record batches) has nowhere to put the error: closed.
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
