//! End-to-end tests of the broker over gRPC: a real server on free ports with a
//! temporary data directory, driven through the generated tonic clients.

mod common;

use std::time::Duration;

use common::*;
use runnel_proto::v1::{
    CommitRequest, ErrorCode, FetchCommittedRequest, FetchRequest, InitProducerRequest, JoinRequest,
    ListOffsetsRequest, OffsetSpec, PartitionOffset, ProduceRequest, TopicConfig, TopicRef, ValidationLevel,
};
use runnel_proto::BatchBuilder;
use tokio_stream::StreamExt;
use tonic::Code;

fn produce(topic: &str, partition: u32, batch: bytes::Bytes) -> ProduceRequest {
    ProduceRequest { correlation_id: 0, topic: topic.into(), partition, batch }
}

async fn hw(h: &mut Harness, topic: &str, partition: u32) -> i64 {
    let req = TopicRef { topic: topic.into() };
    h.admin.describe_topic(req).await.unwrap().into_inner().partitions[partition as usize].high_watermark
}

#[tokio::test]
async fn produces_and_reads_back_in_order_per_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("users", 3, TopicConfig::default()).await;
    for round in 0..4 {
        for p in 0..3u32 {
            let start = round * 10 + p as i32 * 1000;
            let resp =
                h.broker.produce(produce("users", p, users(id, start..start + 10, 1_000))).await.unwrap();
            let resp = resp.into_inner();
            assert_eq!(resp.error, None);
            assert_eq!(resp.base_offset, i64::from(round) * 10);
            assert_eq!(resp.record_count, 10);
        }
    }
    for p in 0..3u32 {
        let got = ages(&h.read_all("users", p, 0).await);
        let want: Vec<(i64, i32)> = (0..40).map(|i| (i64::from(i), i + p as i32 * 1000)).collect();
        assert_eq!(got, want, "partition {p}");
        assert_eq!(hw(&mut h, "users", p).await, 40);
    }
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn refuses_bad_records_whole_naming_index_path_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_record_bytes = 1024;
    let mut h = start_with(dir.path(), cfg).await;
    let id = h.topic("users", 1, TopicConfig::default()).await;
    let foreign = h.register("elsewhere-value", OTHER_SCHEMA).await;
    let good = framed(id, &user_body("ok", 1));
    let mut bad_utf8 = user_body("ab", 1);
    bad_utf8[1] = 0xff;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("foreign schema id", framed(foreign, &user_body("x", 1)), "is not a registered version"),
        ("corrupt body", framed(id, &bad_utf8), "does not match"),
        ("truncated body", framed(id, &user_body("truncated", 1)[..4]), "does not match"),
        ("trailing bytes", framed(id, &[user_body("x", 1), vec![0]].concat()), "does not match"),
        ("no framing", user_body("x", 1), "no Confluent framing"),
        ("unknown id", framed(9_999, &user_body("x", 1)), "is not a registered version"),
    ];
    h.broker.produce(produce("users", 0, batch_of(std::slice::from_ref(&good)))).await.unwrap();
    for (what, bad, reason) in cases {
        let batch = batch_of(&[good.clone(), bad.clone(), good.clone()]);
        let status = h.broker.produce(produce("users", 0, batch.clone())).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(status.message().contains("record 1"), "{what}: {}", status.message());
        assert!(status.message().contains(reason), "{what}: {}", status.message());
        // The streamed form carries the same refusal as an Error.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(ProduceRequest { correlation_id: 7, topic: "users".into(), partition: 0, batch })
            .await
            .unwrap();
        drop(tx);
        let mut responses = h
            .broker
            .produce_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let resp = responses.next().await.unwrap().unwrap();
        let err = resp.error.expect("refused");
        assert_eq!(resp.correlation_id, 7);
        assert_eq!(err.code, ErrorCode::InvalidRecord as i32, "{what}");
        assert_eq!(err.record_index, 1, "{what}");
        assert!(err.message.contains(reason), "{what}: {}", err.message);
        assert_eq!(hw(&mut h, "users", 0).await, 1, "{what}: nothing appended");
    }
    // The path names the field inside the record.
    let status = h.broker.produce(produce("users", 0, batch_of(&[framed(id, &bad_utf8)]))).await.unwrap_err();
    assert!(status.message().contains("/name"), "{}", status.message());
    // Over the record limit.
    let big = framed(id, &user_body(&"x".repeat(2_000), 1));
    let status = h.broker.produce(produce("users", 0, batch_of(&[big]))).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    // A corrupt batch (flipped byte under the CRC).
    let mut corrupt = batch_of(&[good]).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    let status = h.broker.produce(produce("users", 0, corrupt.into())).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("CRC"), "{}", status.message());
    assert_eq!(hw(&mut h, "users", 0).await, 1);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn validation_none_and_id_levels_check_less() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let none = TopicConfig { validation: ValidationLevel::None as i32, ..Default::default() };
    h.topic("raw", 1, none).await;
    let r = h.broker.produce(produce("raw", 0, batch_of(&[b"anything".to_vec()]))).await;
    assert!(r.is_ok());
    let id_only = TopicConfig { validation: ValidationLevel::Id as i32, ..Default::default() };
    let id = h.topic("ids", 1, id_only).await;
    let r = h.broker.produce(produce("ids", 0, batch_of(&[framed(id, b"\xff\xff")]))).await;
    assert!(r.is_ok(), "id level does not decode the body");
    let r = h.broker.produce(produce("ids", 0, batch_of(&[b"unframed".to_vec()]))).await;
    assert_eq!(r.unwrap_err().code(), Code::InvalidArgument);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_topic_and_partition_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("users", 2, TopicConfig::default()).await;
    let s = h.broker.produce(produce("nope", 0, users(id, 0..1, 0))).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    assert!(s.message().contains("nope"));
    let s = h.broker.produce(produce("users", 5, users(id, 0..1, 0))).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    let s = h.admin.describe_topic(TopicRef { topic: "nope".into() }).await.unwrap_err();
    assert_eq!(s.code(), Code::NotFound);
    let req = FetchRequest { topic: "nope".into(), ..Default::default() };
    assert_eq!(h.broker.fetch(req).await.unwrap_err().code(), Code::NotFound);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn topic_admin_validates_names_and_deletes_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    for bad in ["", "..", "a/b", "sp ace"] {
        let req = runnel_proto::v1::CreateTopicRequest { topic: bad.into(), ..Default::default() };
        assert_eq!(h.admin.create_topic(req).await.unwrap_err().code(), Code::InvalidArgument, "{bad:?}");
    }
    let id = h.topic("t1", 1, TopicConfig::default()).await;
    let again = runnel_proto::v1::CreateTopicRequest { topic: "t1".into(), ..Default::default() };
    assert_eq!(h.admin.create_topic(again).await.unwrap_err().code(), Code::AlreadyExists);
    h.broker.produce(produce("t1", 0, users(id, 0..3, 0))).await.unwrap();
    let req = runnel_proto::v1::AddPartitionsRequest { topic: "t1".into(), partitions: 3 };
    let info = h.admin.add_partitions(req).await.unwrap().into_inner();
    assert_eq!(info.partitions.len(), 3);
    h.broker.produce(produce("t1", 2, users(id, 0..3, 0))).await.unwrap();
    let list = h.admin.list_topics(runnel_proto::v1::ListTopicsRequest {}).await.unwrap().into_inner();
    assert_eq!(list.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec!["t1"]);
    assert!(dir.path().join("topics/t1/2").exists());
    h.admin.delete_topic(TopicRef { topic: "t1".into() }).await.unwrap();
    assert!(!dir.path().join("topics/t1").exists());
    assert_eq!(
        h.admin.describe_topic(TopicRef { topic: "t1".into() }).await.unwrap_err().code(),
        Code::NotFound
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_deletes_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let cfg = TopicConfig { segment_bytes: 1024, retention_ms: 60_000, ..Default::default() };
    let id = h.topic("old", 1, cfg).await;
    let hour_ago = now_ms() - 3_600_000;
    for i in 0..20 {
        h.broker.produce(produce("old", 0, users(id, i * 10..i * 10 + 10, hour_ago))).await.unwrap();
    }
    let segment_files = || {
        std::fs::read_dir(dir.path().join("topics/old/0"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log"))
            .count()
    };
    // Retention runs every 50 ms in tests; wait until it has removed the segments
    // from the log and then their files.
    let mut info = None;
    for _ in 0..250 {
        let i = h.admin.describe_topic(TopicRef { topic: "old".into() }).await.unwrap().into_inner();
        if i.partitions[0].segments == 1 && segment_files() == 1 {
            info = Some(i);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info = info.expect("old segments and their files deleted");
    let p = &info.partitions[0];
    assert_eq!(p.high_watermark, 200);
    assert!(p.log_start_offset > 0 && p.log_start_offset < 200, "{p:?}");
    let req = FetchRequest { topic: "old".into(), offset: 0, ..Default::default() };
    assert_eq!(h.broker.fetch(req).await.unwrap_err().code(), Code::OutOfRange);
    let rest = ages(&h.read_all("old", 0, p.log_start_offset).await);
    assert_eq!(rest.last().copied(), Some((199, 199)));
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn start_positions_earliest_latest_offset_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    // Timestamps from 1970: keep them forever, or retention would delete them.
    let cfg = TopicConfig { segment_bytes: 2048, retention_ms: -1, ..Default::default() };
    let id = h.topic("pos", 1, cfg).await;
    for i in 0..30 {
        h.broker
            .produce(produce("pos", 0, users(id, i * 5..i * 5 + 5, 10_000 + i64::from(i) * 100)))
            .await
            .unwrap();
    }
    let list = |spec: OffsetSpec, ts: i64| ListOffsetsRequest {
        topic: "pos".into(),
        partitions: vec![],
        spec: spec as i32,
        timestamp_ms: ts,
        ..Default::default()
    };
    let off = |r: tonic::Response<runnel_proto::v1::ListOffsetsResponse>| r.into_inner().offsets[0].offset;
    assert_eq!(off(h.broker.list_offsets(list(OffsetSpec::Earliest, 0)).await.unwrap()), 0);
    assert_eq!(off(h.broker.list_offsets(list(OffsetSpec::Latest, 0)).await.unwrap()), 150);
    // Batch i has timestamp 10_000 + 100 i and offsets 5i..5i+5.
    assert_eq!(off(h.broker.list_offsets(list(OffsetSpec::Timestamp, 12_000)).await.unwrap()), 100);
    assert_eq!(off(h.broker.list_offsets(list(OffsetSpec::Timestamp, 12_050)).await.unwrap()), 105);
    assert_eq!(off(h.broker.list_offsets(list(OffsetSpec::Timestamp, 0)).await.unwrap()), 0);
    assert_eq!(off(h.broker.list_offsets(list(OffsetSpec::Timestamp, 99_999)).await.unwrap()), 150);
    // From an offset inside a batch: the batch holding it comes first, whole.
    let got = ages(&h.read_all("pos", 0, 77).await);
    assert_eq!(got.first().copied(), Some((75, 75)));
    assert_eq!(got.last().copied(), Some((149, 149)));
    // Beyond the high watermark.
    let req = FetchRequest { topic: "pos".into(), offset: 151, ..Default::default() };
    assert_eq!(h.broker.fetch(req).await.unwrap_err().code(), Code::OutOfRange);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn follow_fetch_long_polls_and_delivers_new_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("live", 1, TopicConfig::default()).await;
    let req = FetchRequest {
        topic: "live".into(),
        offset: 0,
        follow: true,
        max_wait_ms: 10_000,
        ..Default::default()
    };
    let mut stream = h.broker.fetch(req).await.unwrap().into_inner();
    let mut producer = h.broker.clone();
    tokio::spawn(async move {
        for i in 0..3 {
            producer.produce(produce("live", 0, users(id, i..i + 1, 0))).await.unwrap();
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let resp = stream.message().await.unwrap().unwrap();
        seen.extend(ages(&resp.batches));
    }
    assert_eq!(seen, vec![(0, 0), (1, 1), (2, 2)]);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn small_max_bytes_still_returns_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("chunks", 1, TopicConfig::default()).await;
    for i in 0..5 {
        h.broker.produce(produce("chunks", 0, users(id, i * 4..i * 4 + 4, 0))).await.unwrap();
    }
    let req = FetchRequest {
        topic: "chunks".into(),
        offset: 0,
        max_bytes: 1,
        max_wait_ms: 1,
        ..Default::default()
    };
    let mut stream = h.broker.fetch(req).await.unwrap().into_inner();
    let mut responses = 0;
    let mut all = Vec::new();
    while let Some(resp) = stream.message().await.unwrap() {
        if resp.batches.is_empty() {
            continue;
        }
        responses += 1;
        assert_eq!(runnel_proto::batch::batches(&resp.batches).count(), 1);
        all.extend(ages(&resp.batches));
    }
    assert_eq!(responses, 5);
    assert_eq!(all.len(), 20);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotent_retry_is_answered_as_duplicate_and_not_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("idem", 1, TopicConfig::default()).await;
    let p = h.broker.init_producer(InitProducerRequest {}).await.unwrap().into_inner();
    let p2 = h.broker.init_producer(InitProducerRequest {}).await.unwrap().into_inner();
    assert_ne!(p.producer_id, p2.producer_id);
    let mk = |seq: i32, n: i32| {
        let mut b = BatchBuilder::new();
        for i in 0..n {
            b.push(None, Some(&framed(id, &user_body("x", seq + i))), 0, &[]);
        }
        b.finish(p.producer_id, p.epoch as i16, seq)
    };
    let first = h.broker.produce(produce("idem", 0, mk(0, 3))).await.unwrap().into_inner();
    let retry = h.broker.produce(produce("idem", 0, mk(0, 3))).await.unwrap().into_inner();
    assert!(!first.duplicate);
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, first.base_offset);
    let next = h.broker.produce(produce("idem", 0, mk(3, 2))).await.unwrap().into_inner();
    assert_eq!(next.base_offset, 3);
    let gap = h.broker.produce(produce("idem", 0, mk(9, 1))).await.unwrap_err();
    assert_eq!(gap.code(), Code::FailedPrecondition);
    assert_eq!(hw(&mut h, "idem", 0).await, 5);
    // Still a duplicate after a restart: producer state is rebuilt from the log.
    h.server.shutdown().await.unwrap();
    let mut h = start(dir.path()).await;
    let retry = h.broker.produce(produce("idem", 0, mk(3, 2))).await.unwrap().into_inner();
    assert!(retry.duplicate);
    assert_eq!(retry.base_offset, 3);
    assert_eq!(hw(&mut h, "idem", 0).await, 5);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn pipelined_stream_appends_in_send_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("pipe", 1, TopicConfig::default()).await;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut responses =
        h.broker.produce_stream(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    for i in 0..50u64 {
        let batch = users(id, i as i32 * 2..i as i32 * 2 + 2, 0);
        tx.send(ProduceRequest { correlation_id: i, topic: "pipe".into(), partition: 0, batch })
            .await
            .unwrap();
    }
    drop(tx);
    let mut acked = Vec::new();
    while let Some(r) = responses.next().await {
        let r = r.unwrap();
        assert_eq!(r.error, None);
        acked.push((r.correlation_id, r.base_offset));
    }
    acked.sort_unstable();
    assert_eq!(acked, (0..50).map(|i| (i, i as i64 * 2)).collect::<Vec<_>>());
    let got = ages(&h.read_all("pipe", 0, 0).await);
    assert_eq!(got, (0..100).map(|i| (i64::from(i), i)).collect::<Vec<_>>());
    h.server.shutdown().await.unwrap();
}

async fn next_assignment(
    s: &mut tonic::Streaming<runnel_proto::v1::Assignment>,
    min_generation: u64,
) -> runnel_proto::v1::Assignment {
    loop {
        let a = tokio::time::timeout(Duration::from_secs(10), s.message()).await.unwrap().unwrap().unwrap();
        if a.generation >= min_generation {
            return a;
        }
    }
}

#[tokio::test]
async fn group_of_three_splits_six_partitions_and_takes_over_a_dead_members_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    h.topic("work", 6, TopicConfig::default()).await;
    let join = |id: &str| JoinRequest {
        group: "g".into(),
        topic: "work".into(),
        member_id: id.into(),
        session_timeout_ms: 30_000,
        client_id: "test".into(),
    };
    let mut a = h.groups.join(join("a")).await.unwrap().into_inner();
    let mut b = h.groups.join(join("b")).await.unwrap().into_inner();
    let mut c = h.groups.join(join("c")).await.unwrap().into_inner();
    let (aa, ab, ac) = (
        next_assignment(&mut a, 3).await,
        next_assignment(&mut b, 3).await,
        next_assignment(&mut c, 3).await,
    );
    let mut all: Vec<u32> = [&aa, &ab, &ac].iter().flat_map(|x| x.partitions.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
    assert!([&aa, &ab, &ac].iter().all(|x| x.partitions.len() == 2));
    // Kill b: its Join stream closes.
    drop(b);
    let (na, nc) = (next_assignment(&mut a, 4).await, next_assignment(&mut c, 4).await);
    assert_eq!(na.partitions.len() + nc.partitions.len(), 6);
    assert!(aa.partitions.iter().all(|p| na.partitions.contains(p)), "a keeps its partitions");
    assert!(ac.partitions.iter().all(|p| nc.partitions.contains(p)), "c keeps its partitions");
    let mut all: Vec<u32> = na.partitions.iter().chain(&nc.partitions).copied().collect();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
    // A stale commit for a partition a no longer owns is fenced.
    let foreign = (0..6).find(|p| !na.partitions.contains(p)).unwrap();
    let stale = CommitRequest {
        group: "g".into(),
        topic: "work".into(),
        member_id: "a".into(),
        generation: 3,
        offsets: vec![PartitionOffset { partition: foreign, offset: 1, timestamp_ms: 0 }],
    };
    assert_eq!(h.groups.commit(stale).await.unwrap_err().code(), Code::FailedPrecondition);
    let describe = runnel_proto::v1::DescribeGroupRequest { group: "g".into(), topic: "work".into() };
    let info = h.groups.describe_group(describe).await.unwrap().into_inner();
    assert_eq!(info.members.len(), 2);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn silent_member_is_removed_after_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    h.topic("hb", 2, TopicConfig::default()).await;
    let join = |id: &str, timeout| JoinRequest {
        group: "g".into(),
        topic: "hb".into(),
        member_id: id.into(),
        session_timeout_ms: timeout,
        client_id: String::new(),
    };
    let mut live = h.groups.join(join("live", 60_000)).await.unwrap().into_inner();
    let _silent = h.groups.join(join("silent", 200)).await.unwrap().into_inner();
    assert_eq!(next_assignment(&mut live, 2).await.partitions.len(), 1);
    // The silent member never heartbeats; its stream stays open.
    assert_eq!(next_assignment(&mut live, 3).await.partitions, vec![0, 1]);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn committed_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("keep", 2, TopicConfig::default()).await;
    h.broker.produce(produce("keep", 1, users(id, 0..10, 0))).await.unwrap();
    let commit = CommitRequest {
        group: "g".into(),
        topic: "keep".into(),
        member_id: String::new(),
        generation: 0,
        offsets: vec![
            PartitionOffset { partition: 0, offset: 0, timestamp_ms: 0 },
            PartitionOffset { partition: 1, offset: 7, timestamp_ms: 0 },
        ],
    };
    h.groups.commit(commit).await.unwrap();
    h.server.shutdown().await.unwrap();
    let mut h = start(dir.path()).await;
    let req = FetchCommittedRequest { group: "g".into(), topic: "keep".into(), partitions: vec![] };
    let got = h.groups.fetch_committed(req).await.unwrap().into_inner().offsets;
    let got: Vec<(u32, i64)> = got.iter().map(|o| (o.partition, o.offset)).collect();
    assert_eq!(got, vec![(0, 0), (1, 7)]);
    assert_eq!(ages(&h.read_all("keep", 1, 7).await).first().copied(), Some((0, 0)), "whole first batch");
    h.server.shutdown().await.unwrap();
}

fn segment_path(dir: &std::path::Path, topic: &str) -> std::path::PathBuf {
    dir.join("topics").join(topic).join("0").join("00000000000000000000.log")
}

#[tokio::test]
async fn recovery_truncates_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("torn", 1, TopicConfig::default()).await;
    for i in 0..5 {
        h.broker.produce(produce("torn", 0, users(id, i * 3..i * 3 + 3, 0))).await.unwrap();
    }
    h.server.shutdown().await.unwrap();
    let path = segment_path(dir.path(), "torn");
    let full = std::fs::metadata(&path).unwrap().len();

    // Garbage after the last batch.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0xAB; 37]);
    std::fs::write(&path, &bytes).unwrap();
    let mut h = start(dir.path()).await;
    assert_eq!(hw(&mut h, "torn", 0).await, 15);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
    h.server.shutdown().await.unwrap();

    // The last batch cut in half.
    let bytes = std::fs::read(&path).unwrap();
    let last_len = runnel_proto::batch::batches(&bytes).last().unwrap().unwrap().size();
    std::fs::write(&path, &bytes[..bytes.len() - last_len / 2]).unwrap();
    let mut h = start(dir.path()).await;
    assert_eq!(hw(&mut h, "torn", 0).await, 12);
    let got = ages(&h.read_all("torn", 0, 0).await);
    assert_eq!(got, (0..12).map(|i| (i64::from(i), i)).collect::<Vec<_>>());
    // New appends continue cleanly after the cut.
    let resp = h.broker.produce(produce("torn", 0, users(id, 100..101, 0))).await.unwrap().into_inner();
    assert_eq!(resp.base_offset, 12);
    h.server.shutdown().await.unwrap();

    // A flipped byte inside the last batch: CRC catches it.
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let mut h = start(dir.path()).await;
    assert_eq!(hw(&mut h, "torn", 0).await, 12);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_index_of_a_sealed_segment_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id =
        h.topic("idx", 1, TopicConfig { segment_bytes: 4096, retention_ms: -1, ..Default::default() }).await;
    for i in 0..40 {
        h.broker.produce(produce("idx", 0, users(id, i * 4..i * 4 + 4, 0))).await.unwrap();
    }
    h.server.shutdown().await.unwrap();
    let pdir = dir.path().join("topics/idx/0");
    let mut removed = 0;
    for e in std::fs::read_dir(&pdir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "index") {
            std::fs::remove_file(&p).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 1, "several segments");
    let mut h = start(dir.path()).await;
    let got = ages(&h.read_all("idx", 0, 97).await);
    assert_eq!(got.first().copied(), Some((96, 96)));
    assert_eq!(got.len(), 160 - 96);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_and_metrics_are_served_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("m", 1, TopicConfig::default()).await;
    h.broker.produce(produce("m", 0, users(id, 0..4, 0))).await.unwrap();
    let _ = h.broker.produce(produce("m", 0, batch_of(&[b"junk".to_vec()]))).await;
    let base = h.server.registry_url();
    let health = http_get(&format!("{base}/health")).await;
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let metrics = http_get(&format!("{base}/metrics")).await;
    assert!(metrics.contains("runnel_records_produced_total 4"), "{metrics}");
    assert!(metrics.contains("runnel_refused_batches_total{reason=\"invalid_record\"} 1"), "{metrics}");
    assert!(metrics.contains("runnel_partition_high_watermark{topic=\"m\",partition=\"0\"} 4"), "{metrics}");
    assert!(metrics.contains("runnel_active_connections 1"), "{metrics}");
    let rss: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no resident memory gauge in {metrics}"));
    assert!(rss > 1 << 20, "a running broker holds more than 1 MiB: {rss}");
    let subjects = http_get(&format!("{base}/subjects")).await;
    assert!(subjects.contains("m-value"), "{subjects}");
    h.server.shutdown().await.unwrap();
}

/// A minimal HTTP/1.1 GET (the body), so the tests need no HTTP client crate.
async fn http_get(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_and_others_keep_being_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_connections = 1;
    let mut h = start_with(dir.path(), cfg).await;
    let id = h.topic("limit", 1, TopicConfig::default()).await;
    let extra = tonic::transport::Channel::from_shared(h.server.grpc_url()).unwrap().connect_lazy();
    let mut extra = runnel_proto::v1::admin_client::AdminClient::new(extra);
    let refused = extra.list_topics(runnel_proto::v1::ListTopicsRequest {}).await;
    assert!(refused.is_err(), "a second connection is refused");
    let ok = h.broker.produce(produce("limit", 0, users(id, 0..1, 0))).await;
    assert!(ok.is_ok(), "the first connection is still served");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_leaving_mid_fetch_does_not_disturb_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("leave", 1, TopicConfig::default()).await;
    for i in 0..20 {
        h.broker.produce(produce("leave", 0, users(id, i * 10..i * 10 + 10, 0))).await.unwrap();
    }
    for _ in 0..5 {
        let req = FetchRequest {
            topic: "leave".into(),
            offset: 0,
            max_bytes: 1,
            follow: true,
            ..Default::default()
        };
        let mut stream = h.broker.fetch(req).await.unwrap().into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert!(!first.batches.is_empty());
        drop(stream);
    }
    assert_eq!(ages(&h.read_all("leave", 0, 0).await).len(), 200);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn registry_service_registers_looks_up_and_checks_compatibility() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.register("r-value", USER_SCHEMA).await;
    let again = h.register("r-value", USER_SCHEMA).await;
    assert_eq!(id, again, "same schema, same id");
    let req =
        runnel_proto::v1::SubjectSchemaRequest { subject: "r-value".into(), schema: USER_SCHEMA.into() };
    let found = h.registry.lookup(req).await.unwrap().into_inner();
    assert_eq!((found.id, found.version), (id, 1));
    let schema = h.registry.get_schema(runnel_proto::v1::GetSchemaRequest { id }).await.unwrap().into_inner();
    assert!(schema.schema.contains("User"));
    let latest = runnel_proto::v1::GetVersionRequest { subject: "r-value".into(), version: -1 };
    assert_eq!(h.registry.get_version(latest).await.unwrap().into_inner().id, id);
    // Adding a field without a default breaks BACKWARD compatibility.
    let breaking = r#"{"type":"record","name":"User","namespace":"t","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":"string"}]}"#;
    let req = runnel_proto::v1::SubjectSchemaRequest { subject: "r-value".into(), schema: breaking.into() };
    let verdict = h.registry.check_compatibility(req.clone()).await.unwrap().into_inner();
    assert!(!verdict.compatible);
    assert!(verdict.messages.iter().any(|m| m.contains("email")), "{:?}", verdict.messages);
    let refused = h.registry.register(req).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let missing = h.registry.get_schema(runnel_proto::v1::GetSchemaRequest { id: 4_242 }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    h.server.shutdown().await.unwrap();
}
