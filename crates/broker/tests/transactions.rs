//! The transaction coordinator on the wire: Kafka transaction requests (raw frames built with
//! the `kafka-protocol` crate) against a real broker on free ports, read back over Kafka
//! (read_committed and read_uncommitted) and over gRPC, across restarts.
//! (librdkafka's own transactions are tested in `tests/oracle/test_kafka_transactions.py`.)

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::{framed, user_body, Harness};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    ApiKey, EndTxnRequest, EndTxnResponse, FetchRequest, FetchResponse, GroupId, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse,
    ProducerId, RequestHeader, ResponseHeader, TopicName, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel_proto::v1::{FetchCommittedRequest, FetchRequest as GrpcFetch, Isolation, TopicConfig};
use runnel_proto::BatchBuilder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const PRODUCER_FENCED: i16 = 90;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// (error code, offset) of OffsetFetch v7 for group `g` on `t`/0.
async fn stable_offset(k: &mut Kafka, require_stable: bool) -> (i16, i64) {
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
    let mut t = OffsetFetchRequestTopic::default();
    t.name = name("t");
    t.partition_indexes = vec![0];
    let mut r = OffsetFetchRequest::default();
    r.group_id = GroupId(StrBytes::from_string("g".into()));
    r.topics = Some(vec![t]);
    r.require_stable = require_stable;
    let resp: OffsetFetchResponse = k.call(ApiKey::OffsetFetch, 7, &r).await;
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

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

    async fn call<Req: Encodable, Resp: Decodable>(&mut self, api: ApiKey, version: i16, req: &Req) -> Resp {
        self.correlation += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = self.correlation;
        let mut body = BytesMut::new();
        header.encode(&mut body, api.request_header_version(version)).expect("encode header");
        req.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).await.expect("write");
        let size = self.stream.read_i32().await.expect("response size");
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).await.expect("response body");
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("header");
        assert_eq!(header.correlation_id, self.correlation);
        let resp = Resp::decode(&mut body, version).expect("decode response");
        assert!(!body.has_remaining());
        resp
    }

    async fn init(&mut self, tid: &str, timeout_ms: i32) -> InitProducerIdResponse {
        let mut r = InitProducerIdRequest::default();
        r.transactional_id = Some(TransactionalId(StrBytes::from_string(tid.into())));
        r.transaction_timeout_ms = timeout_ms;
        r.producer_id = ProducerId(-1);
        r.producer_epoch = -1;
        self.call(ApiKey::InitProducerId, 4, &r).await
    }

    async fn add_partitions(
        &mut self,
        tid: &str,
        pid: i64,
        epoch: i16,
        topic: &str,
        parts: &[i32],
    ) -> Vec<i16> {
        let mut t = AddPartitionsToTxnTopic::default();
        t.name = name(topic);
        t.partitions = parts.to_vec();
        let mut r = AddPartitionsToTxnRequest::default();
        r.v3_and_below_transactional_id = TransactionalId(StrBytes::from_string(tid.into()));
        r.v3_and_below_producer_id = ProducerId(pid);
        r.v3_and_below_producer_epoch = epoch;
        r.v3_and_below_topics = vec![t];
        let resp: AddPartitionsToTxnResponse = self.call(ApiKey::AddPartitionsToTxn, 3, &r).await;
        resp.results_by_topic_v3_and_below[0]
            .results_by_partition
            .iter()
            .map(|p| p.partition_error_code)
            .collect()
    }

    async fn end(&mut self, tid: &str, pid: i64, epoch: i16, commit: bool, version: i16) -> i16 {
        let mut r = EndTxnRequest::default();
        r.transactional_id = TransactionalId(StrBytes::from_string(tid.into()));
        r.producer_id = ProducerId(pid);
        r.producer_epoch = epoch;
        r.committed = commit;
        let resp: EndTxnResponse = self.call(ApiKey::EndTxn, version, &r).await;
        resp.error_code
    }

    async fn produce(&mut self, topic: &str, partition: i32, batch: Bytes) -> i16 {
        let mut p = PartitionProduceData::default();
        p.index = partition;
        p.records = Some(batch);
        let mut t = TopicProduceData::default();
        t.name = name(topic);
        t.partition_data = vec![p];
        let mut r = ProduceRequest::default();
        r.acks = -1;
        r.timeout_ms = 10_000;
        r.topic_data = vec![t];
        let resp: ProduceResponse = self.call(ApiKey::Produce, 9, &r).await;
        resp.responses[0].partition_responses[0].error_code
    }

    /// (records, high watermark, last stable offset, aborted transactions) of one partition.
    async fn fetch(&mut self, topic: &str, partition: i32, offset: i64, committed: bool) -> FetchedPartition {
        let mut p = FetchPartition::default();
        p.partition = partition;
        p.fetch_offset = offset;
        p.partition_max_bytes = 1 << 20;
        let mut t = FetchTopic::default();
        t.topic = name(topic);
        t.partitions = vec![p];
        let mut r = FetchRequest::default();
        r.max_wait_ms = 10;
        r.min_bytes = 1;
        r.max_bytes = 4 << 20;
        r.isolation_level = i8::from(committed);
        r.topics = vec![t];
        let resp: FetchResponse = self.call(ApiKey::Fetch, 12, &r).await;
        let pd = &resp.responses[0].partitions[0];
        assert_eq!(pd.error_code, 0);
        FetchedPartition {
            records: pd.records.clone().unwrap_or_default(),
            high_watermark: pd.high_watermark,
            last_stable_offset: pd.last_stable_offset,
            aborted: pd.aborted_transactions.clone().unwrap_or_default(),
        }
    }

    async fn latest(&mut self, topic: &str, committed: bool) -> i64 {
        let mut p = ListOffsetsPartition::default();
        p.partition_index = 0;
        p.timestamp = -1;
        let mut t = ListOffsetsTopic::default();
        t.name = name(topic);
        t.partitions = vec![p];
        let mut r = ListOffsetsRequest::default();
        r.isolation_level = i8::from(committed);
        r.topics = vec![t];
        let resp: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 6, &r).await;
        resp.topics[0].partitions[0].offset
    }
}

struct FetchedPartition {
    records: Bytes,
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Vec<kafka_protocol::messages::fetch_response::AbortedTransaction>,
}

impl FetchedPartition {
    /// The ages a read_committed Kafka consumer hands out, filtering as the Java client and
    /// librdkafka do: from an aborted transaction's first offset, the producer's batches are
    /// dropped until its abort marker; markers are never records.
    fn committed_ages(&self) -> Vec<i32> {
        let mut pending: Vec<(i64, i64)> =
            self.aborted.iter().map(|a| (a.producer_id.0, a.first_offset)).collect();
        let mut skipping: Vec<i64> = Vec::new();
        let mut kept = Vec::new();
        for b in runnel_proto::batch::batches(&self.records) {
            let b = b.expect("valid batch");
            let pid = b.producer_id();
            if let Some(i) = pending.iter().position(|&(p, first)| p == pid && first <= b.base_offset()) {
                pending.remove(i);
                skipping.push(pid);
            }
            if b.is_control() {
                skipping.retain(|&p| p != pid);
                continue;
            }
            if !(b.is_transactional() && skipping.contains(&pid)) {
                kept.extend_from_slice(b.as_bytes());
            }
        }
        common::ages(&kept).into_iter().map(|(_, a)| a).collect()
    }
}

/// The ages of every data record (markers skipped), aborted or not.
fn data_ages(bytes: &[u8]) -> Vec<i32> {
    let data: Vec<u8> = runnel_proto::batch::batches(bytes)
        .map(|b| b.expect("valid batch"))
        .filter(|b| !b.is_control())
        .flat_map(|b| b.as_bytes().to_vec())
        .collect();
    common::ages(&data).into_iter().map(|(_, a)| a).collect()
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.into()))
}

/// A transactional batch of users aged `ages`.
fn txn_batch(id: u32, pid: i64, epoch: i16, seq: i32, ages: std::ops::Range<i32>) -> Bytes {
    let mut b = BatchBuilder::new();
    for a in ages {
        b.push(None, Some(&framed(id, &user_body("u", a))), common::now_ms(), &[]);
    }
    b.finish_transactional(pid, epoch, seq)
}

/// Transactional id `tx` writes three transactions to partition 0 of `topic`: aborted (ages
/// 0-2, offsets 0-2, its marker at 3), committed (ages 10-11, offsets 4-5, marker at 6) and
/// left open (age 20, offset 7). Returns the producer id and epoch.
async fn aborted_committed_open(k: &mut Kafka, id: u32, topic: &str) -> (i64, i16) {
    let init = k.init("tx", 60_000).await;
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    for (seq, ages, commit) in [(0, 0..3, Some(false)), (3, 10..12, Some(true)), (5, 20..21, None)] {
        assert_eq!(k.add_partitions("tx", pid, epoch, topic, &[0]).await, vec![0]);
        assert_eq!(k.produce(topic, 0, txn_batch(id, pid, epoch, seq, ages)).await, 0);
        if let Some(commit) = commit {
            assert_eq!(k.end("tx", pid, epoch, commit, 3).await, 0);
        }
    }
    (pid, epoch)
}

/// Every record over gRPC with `isolation`: (offset, age), control batches counted apart.
async fn grpc_ages(h: &mut Harness, topic: &str, isolation: Isolation) -> (Vec<i32>, usize) {
    let req = GrpcFetch {
        topic: topic.into(),
        partition: 0,
        offset: 0,
        max_wait_ms: 1,
        isolation: isolation as i32,
        ..Default::default()
    };
    let mut stream = h.broker.fetch(req).await.expect("fetch").into_inner();
    let mut bytes = Vec::new();
    while let Some(resp) = stream.message().await.expect("fetch stream") {
        bytes.extend_from_slice(&resp.batches);
    }
    let controls = runnel_proto::batch::batches(&bytes).filter(|b| b.as_ref().unwrap().is_control()).count();
    (data_ages(&bytes), controls)
}

#[tokio::test]
async fn committed_readers_see_committed_transactions_only_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic("t", 2, TopicConfig::default()).await;
    let mut k = Kafka::connect(&h).await;

    let (pid, epoch) = aborted_committed_open(&mut k, id, "t").await;
    assert_eq!(epoch, 0);
    // A partition not added to the transaction refuses transactional batches.
    assert_eq!(k.produce("t", 1, txn_batch(id, pid, epoch, 0, 90..91)).await, INVALID_TXN_STATE);

    let check = |f: &FetchedPartition| {
        assert_eq!(f.high_watermark, 8);
        assert_eq!(f.last_stable_offset, 7, "the open transaction holds the LSO at its first offset");
    };
    let committed = k.fetch("t", 0, 0, true).await;
    check(&committed);
    assert_eq!(committed.committed_ages(), vec![10, 11]);
    assert_eq!(committed.aborted.len(), 1);
    assert_eq!((committed.aborted[0].producer_id.0, committed.aborted[0].first_offset), (pid, 0));
    let uncommitted = k.fetch("t", 0, 0, false).await;
    let all: Vec<i32> = data_ages(&uncommitted.records);
    assert_eq!(all, vec![0, 1, 2, 10, 11, 20]);
    assert_eq!((k.latest("t", true).await, k.latest("t", false).await), (7, 8));
    // gRPC: committed by default, with neither markers nor aborted records.
    assert_eq!(grpc_ages(&mut h, "t", Isolation::ReadCommitted).await, (vec![10, 11], 0));
    assert_eq!(grpc_ages(&mut h, "t", Isolation::ReadUncommitted).await, (vec![0, 1, 2, 10, 11, 20], 2));

    // After a restart the index is rebuilt from the log and the coordinator from meta.redb:
    // the same answers, and the open transaction can still be committed.
    drop(k);
    h.server.shutdown().await.unwrap();
    let mut h = common::start(dir.path()).await;
    let mut k = Kafka::connect(&h).await;
    let committed = k.fetch("t", 0, 0, true).await;
    check(&committed);
    assert_eq!(committed.committed_ages(), vec![10, 11]);
    assert_eq!(k.end("tx", pid, epoch, true, 3).await, 0);
    assert_eq!(k.fetch("t", 0, 0, true).await.committed_ages(), vec![10, 11, 20]);
    assert_eq!(grpc_ages(&mut h, "t", Isolation::ReadCommitted).await.0, vec![10, 11, 20]);
    // Committing again (a retry of the same EndTxn) succeeds; aborting now is refused.
    assert_eq!(k.end("tx", pid, epoch, true, 3).await, 0);
    assert_eq!(k.end("tx", pid, epoch, false, 3).await, INVALID_TXN_STATE);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_new_epoch_fences_the_old_producer_and_aborts_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic("t", 1, TopicConfig::default()).await;
    let mut k = Kafka::connect(&h).await;
    let old = k.init("tx", 60_000).await;
    let (pid, e0) = (old.producer_id.0, old.producer_epoch);
    assert_eq!(k.add_partitions("tx", pid, e0, "t", &[0]).await, vec![0]);
    assert_eq!(k.produce("t", 0, txn_batch(id, pid, e0, 0, 0..2)).await, 0);

    let new = k.init("tx", 60_000).await;
    let e1 = new.producer_epoch;
    assert_eq!(new.producer_id.0, pid, "the same producer id");
    // The abort's markers carry one bump (fencing the old epoch in the logs), the new
    // producer gets the next, as Kafka's coordinator does.
    assert!(e1 > e0, "the epoch is bumped");
    // The old transaction was aborted on init: nothing open, nothing visible.
    let f = k.fetch("t", 0, 0, true).await;
    assert_eq!(f.last_stable_offset, f.high_watermark);
    assert!(f.committed_ages().is_empty());
    // The old epoch is fenced everywhere: PRODUCER_FENCED from EndTxn v2, INVALID_PRODUCER_EPOCH
    // before, and its batches are refused.
    assert_eq!(k.end("tx", pid, e0, true, 3).await, PRODUCER_FENCED);
    assert_eq!(k.end("tx", pid, e0, true, 1).await, INVALID_PRODUCER_EPOCH);
    assert_eq!(k.add_partitions("tx", pid, e0, "t", &[0]).await, vec![PRODUCER_FENCED]);
    assert_eq!(k.produce("t", 0, txn_batch(id, pid, e0, 2, 5..6)).await, INVALID_PRODUCER_EPOCH);
    // The new epoch: EndTxn with nothing begun is INVALID_TXN_STATE; a full transaction works.
    assert_eq!(k.end("tx", pid, e1, true, 3).await, INVALID_TXN_STATE);
    assert_eq!(k.add_partitions("tx", pid, e1, "t", &[0]).await, vec![0]);
    assert_eq!(k.produce("t", 0, txn_batch(id, pid, e1, 0, 7..8)).await, 0);
    assert_eq!(k.end("tx", pid, e1, true, 3).await, 0);
    assert_eq!(k.fetch("t", 0, 0, true).await.committed_ages(), vec![7]);
    // Unknown ids, wrong producer ids, bad timeouts, unknown partitions.
    assert_eq!(k.add_partitions("nope", pid, 0, "t", &[0]).await, vec![INVALID_PRODUCER_ID_MAPPING]);
    assert_eq!(k.end("tx", pid + 100, e1, true, 3).await, INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(k.init("tx2", 0).await.error_code, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(k.init("tx2", 16 * 60 * 1000).await.error_code, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(k.add_partitions("tx", pid, e1, "t", &[0, 9]).await, vec![55, 3]);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn offsets_reach_the_group_only_when_the_transaction_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic("t", 1, TopicConfig::default()).await;
    let mut k = Kafka::connect(&h).await;
    let init = k.init("tx", 60_000).await;
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let txn_commit = |group: &str, offset: i64| {
        let mut p = TxnOffsetCommitRequestPartition::default();
        p.partition_index = 0;
        p.committed_offset = offset;
        let mut t = TxnOffsetCommitRequestTopic::default();
        t.name = name("t");
        t.partitions = vec![p];
        let mut r = TxnOffsetCommitRequest::default();
        r.transactional_id = TransactionalId(StrBytes::from_string("tx".into()));
        r.group_id = GroupId(StrBytes::from_string(group.into()));
        r.producer_id = ProducerId(pid);
        r.producer_epoch = epoch;
        r.generation_id = -1;
        r.topics = vec![t];
        r
    };
    let add_offsets = |group: &str| {
        let mut r = AddOffsetsToTxnRequest::default();
        r.transactional_id = TransactionalId(StrBytes::from_string("tx".into()));
        r.producer_id = ProducerId(pid);
        r.producer_epoch = epoch;
        r.group_id = GroupId(StrBytes::from_string(group.into()));
        r
    };
    let committed = |h: &mut Harness| {
        let mut g = h.groups.clone();
        async move {
            let req = FetchCommittedRequest { group: "g".into(), topic: "t".into(), partitions: vec![] };
            g.fetch_committed(req).await.unwrap().into_inner().offsets.first().map(|o| o.offset)
        }
    };
    // Offsets for a group not added to the transaction are refused.
    let r: TxnOffsetCommitResponse = k.call(ApiKey::TxnOffsetCommit, 3, &txn_commit("g", 5)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, INVALID_TXN_STATE);
    let r: AddOffsetsToTxnResponse = k.call(ApiKey::AddOffsetsToTxn, 3, &add_offsets("g")).await;
    assert_eq!(r.error_code, 0);
    let r: TxnOffsetCommitResponse = k.call(ApiKey::TxnOffsetCommit, 3, &txn_commit("g", 5)).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(committed(&mut h).await, None, "held until the transaction commits");
    // A read-committed consumer asking for stable offsets is told to wait (KIP-447).
    assert_eq!(stable_offset(&mut k, true).await, (UNSTABLE_OFFSET_COMMIT, -1));
    assert_eq!(stable_offset(&mut k, false).await, (0, -1));
    assert_eq!(k.end("tx", pid, epoch, false, 3).await, 0);
    assert_eq!(committed(&mut h).await, None, "an abort drops them");
    let r: AddOffsetsToTxnResponse = k.call(ApiKey::AddOffsetsToTxn, 3, &add_offsets("g")).await;
    assert_eq!(r.error_code, 0);
    let _: TxnOffsetCommitResponse = k.call(ApiKey::TxnOffsetCommit, 3, &txn_commit("g", 7)).await;
    assert_eq!(k.add_partitions("tx", pid, epoch, "t", &[0]).await, vec![0]);
    assert_eq!(k.produce("t", 0, txn_batch(id, pid, epoch, 0, 1..2)).await, 0);
    // A restart between TxnOffsetCommit and EndTxn keeps the pending offsets.
    drop(k);
    h.server.shutdown().await.unwrap();
    let mut h = common::start(dir.path()).await;
    let mut k = Kafka::connect(&h).await;
    assert_eq!(k.end("tx", pid, epoch, true, 3).await, 0);
    assert_eq!(committed(&mut h).await, Some(7), "the commit applied them");
    assert_eq!(stable_offset(&mut k, true).await, (0, 7));
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_decided_commit_is_completed_on_restart_and_a_timed_out_transaction_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic("t", 1, TopicConfig::default()).await;
    let mut k = Kafka::connect(&h).await;
    let init = k.init("tx", 60_000).await;
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    assert_eq!(k.add_partitions("tx", pid, epoch, "t", &[0]).await, vec![0]);
    assert_eq!(k.produce("t", 0, txn_batch(id, pid, epoch, 0, 0..2)).await, 0);
    drop(k);
    h.server.shutdown().await.unwrap();

    // As if the broker died right after storing the commit decision, before any marker.
    {
        use runnel_broker::meta::{transactions::TxnState, Meta};
        let meta = Meta::open(&dir.path().join("meta.redb")).unwrap();
        let mut record =
            meta.transactions().unwrap().into_iter().find(|r| r.transactional_id == "tx").unwrap();
        assert_eq!(record.state, TxnState::Ongoing);
        record.state = TxnState::PrepareCommit;
        meta.put_transaction(&record).unwrap();
    }
    let h = common::start(dir.path()).await;
    let mut k = Kafka::connect(&h).await;
    let f = k.fetch("t", 0, 0, true).await;
    assert_eq!(f.committed_ages(), vec![0, 1], "the commit was completed before serving");
    assert_eq!(f.last_stable_offset, 3);
    // Completing it wrote one marker; a retried EndTxn writes none.
    assert_eq!(k.end("tx", pid, epoch, true, 3).await, 0);
    assert_eq!(k.fetch("t", 0, 0, false).await.high_watermark, 3);

    // A transaction left open past its timeout is aborted, and its producer fenced.
    let init = k.init("short", 300).await;
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    assert_eq!(k.add_partitions("short", pid, epoch, "t", &[0]).await, vec![0]);
    assert_eq!(k.produce("t", 0, txn_batch(id, pid, epoch, 0, 50..51)).await, 0);
    assert_eq!(k.fetch("t", 0, 0, true).await.last_stable_offset, 3);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let f = k.fetch("t", 0, 0, true).await;
        if f.last_stable_offset == f.high_watermark {
            assert_eq!(f.committed_ages(), vec![0, 1], "the timed-out records stay invisible");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the transaction was not aborted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(k.end("short", pid, epoch, true, 3).await, PRODUCER_FENCED);
    h.server.shutdown().await.unwrap();
}

/// Shared subscriptions read committed, as gRPC fetches do: an aborted transaction's records
/// and the markers are passed over, an open transaction's records wait for its commit.
#[tokio::test]
async fn a_shared_subscription_delivers_committed_records_only() {
    use runnel_proto::v1::subscription_event::Kind as EventKind;
    use runnel_proto::v1::subscription_request::Kind;
    use runnel_proto::v1::subscriptions_client::SubscriptionsClient;
    use runnel_proto::v1::{AckRequest, MessageId, SubscribeRequest, SubscriptionRequest, SubscriptionType};
    use tokio_stream::wrappers::UnboundedReceiverStream;

    let dir = tempfile::tempdir().unwrap();
    let mut h = common::start(dir.path()).await;
    let id = h.topic("q", 1, TopicConfig::default()).await;
    let mut k = Kafka::connect(&h).await;
    let (pid, epoch) = aborted_committed_open(&mut k, id, "q").await;

    let mut client = SubscriptionsClient::connect(h.server.grpc_url()).await.unwrap();
    let (requests, rx) = tokio::sync::mpsc::unbounded_channel();
    let subscribe = SubscribeRequest {
        topic: "q".into(),
        subscription: "work".into(),
        r#type: SubscriptionType::Shared as i32,
        permits: 100,
        ..Default::default()
    };
    requests.send(SubscriptionRequest { kind: Some(Kind::Subscribe(subscribe)) }).unwrap();
    let mut events = client.subscribe(UnboundedReceiverStream::new(rx)).await.unwrap().into_inner();
    // Every delivery within `wait`, acknowledged as it comes.
    async fn delivered(
        requests: &tokio::sync::mpsc::UnboundedSender<SubscriptionRequest>,
        events: &mut tonic::Streaming<runnel_proto::v1::SubscriptionEvent>,
        wait: Duration,
    ) -> Vec<i64> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut offsets = Vec::new();
        while let Ok(event) = tokio::time::timeout_at(deadline, events.message()).await {
            let Some(EventKind::Deliveries(d)) = event.unwrap().unwrap().kind else { continue };
            let ids: Vec<MessageId> =
                d.records.iter().map(|r| MessageId { partition: r.partition, offset: r.offset }).collect();
            offsets.extend(d.records.iter().map(|r| r.offset));
            requests.send(SubscriptionRequest { kind: Some(Kind::Ack(AckRequest { ids })) }).unwrap();
        }
        offsets
    }
    assert_eq!(
        delivered(&requests, &mut events, Duration::from_millis(1_500)).await,
        vec![4, 5],
        "committed only; 7 is open"
    );
    assert_eq!(k.end("tx", pid, epoch, true, 3).await, 0);
    assert_eq!(
        delivered(&requests, &mut events, Duration::from_millis(1_500)).await,
        vec![7],
        "delivered once committed"
    );
    h.server.shutdown().await.unwrap();
}
