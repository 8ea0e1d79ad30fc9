//! Crash harness: a real `runnel serve` child on loopback is SIGKILLed at random
//! moments while idempotent producers append (to a topic with tiny segments, so
//! kills land in segment rolls, and to one with a tiny size retention, so they
//! land in retention deletes), a registry writer registers new subjects, and a
//! group member commits offsets. After every restart:
//! - every acknowledged batch is at its acknowledged offsets (unless retention
//!   removed it), each (producer, seq) at most once, in order, with the schema id
//!   it was written with, and every served batch verifies (length, CRC);
//! - committed offsets never go back past one the broker acknowledged;
//! - every acknowledged registration keeps its id and version.
//!
//! `torn_tails_corrupt_and_lost_indexes_are_recovered` damages the files of a
//! killed server by hand: a torn segment tail, a truncated and a corrupted
//! index, a deleted index.
//!
//! Count- and time-bounded: `RUNNEL_CRASH_KILLS` (default 5) kills, at most
//! `RUNNEL_CRASH_SECONDS` (default 60) seconds. `scripts/crash-loop.sh` runs 100+.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{now_ms, tick, untick, Server, TICK_SCHEMA};
use runnel_broker::runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, groups_client::GroupsClient,
    registry_client::RegistryClient, CommitRequest, CreateTopicRequest, FetchCommittedRequest, FetchRequest,
    GetVersionRequest, HeartbeatRequest, InitProducerRequest, JoinRequest, PartitionOffset, ProduceRequest,
    SubjectSchemaRequest, TopicConfig, TopicRef,
};
use runnel_broker::runnel_proto::{batch, BatchBuilder};

/// Tiny segments: most kills find a roll nearby.
const ROLLING: &str = "rolling";
const ROLLING_PARTITIONS: u32 = 2;
/// Tiny segments and a tiny size retention: old segments are deleted constantly.
const RETAINED: &str = "retained";
const PRODUCERS: u32 = 3;
const GROUP: &str = "harness-group";

/// What the broker acknowledged, kept across kills.
#[derive(Default, Clone)]
struct Ledger {
    /// (topic, partition) → offset → (producer, seq), for acknowledged records.
    acked: HashMap<(String, u32), BTreeMap<i64, (u32, i64)>>,
    /// Next tick seq per producer: never reused, acknowledged or not.
    next_seq: HashMap<u32, i64>,
    /// Partition → highest committed offset the broker acknowledged.
    committed: HashMap<u32, i64>,
    /// Partition → highest committed offset ever sent (acknowledged or not).
    commit_sent: HashMap<u32, i64>,
    /// Subject → (id, version) of acknowledged registrations.
    registered: BTreeMap<String, (u32, i32)>,
    /// Subjects registered so far (to name the next one).
    subjects_sent: u32,
}

type Shared = Arc<Mutex<Ledger>>;

fn lock(l: &Shared) -> std::sync::MutexGuard<'_, Ledger> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// One idempotent producer: a fresh producer id per server life, batches of
/// 1–7 ticks, alternating between the rolling and the retained topic. Every fourth
/// batch carries a 4 KiB header per record, so that batches from 4 to 28 KiB are
/// written both ways the log writes them (copied, or from the bytes received).
async fn produce_until_killed(ch: String, schema_id: u32, producer: u32, ledger: Shared) {
    let Ok(mut client) = BrokerClient::connect(ch).await else { return };
    let Ok(init) = client.init_producer(InitProducerRequest {}).await else { return };
    let init = init.into_inner();
    // Idempotence sequences run per partition, as in Kafka.
    let mut batch_seq: HashMap<(&str, u32), i32> = HashMap::new();
    for round in 0u64.. {
        let (topic, partition) = if round % 3 == 2 {
            (RETAINED, 0)
        } else {
            (ROLLING, (producer + round as u32) % ROLLING_PARTITIONS)
        };
        let start = {
            let mut l = lock(&ledger);
            let s = *l.next_seq.entry(producer).or_insert(0);
            let n = 1 + (s % 7);
            l.next_seq.insert(producer, s + n);
            s
        };
        let n = 1 + (start % 7);
        let mut b = BatchBuilder::new();
        let ballast = [0x5au8; 4096];
        let headers: &[(&str, &[u8])] = if round % 4 == 3 { &[("ballast", &ballast)] } else { &[] };
        for seq in start..start + n {
            b.push(None, Some(&tick(schema_id, producer, seq)), now_ms(), headers);
        }
        let req = ProduceRequest {
            correlation_id: round,
            topic: topic.into(),
            partition,
            batch: b.finish(
                init.producer_id,
                init.epoch as i16,
                *batch_seq.entry((topic, partition)).or_default(),
            ),
        };
        *batch_seq.entry((topic, partition)).or_default() += n as i32;
        match client.produce(req).await {
            Ok(r) => {
                let r = r.into_inner();
                assert!(r.error.is_none(), "unexpected produce error {:?}", r.error);
                let mut l = lock(&ledger);
                let records = l.acked.entry((topic.to_owned(), partition)).or_default();
                for (i, seq) in (start..start + n).enumerate() {
                    records.insert(r.base_offset + i as i64, (producer, seq));
                }
            }
            Err(status) => {
                assert!(died(status.code().into()), "refused while alive: {status:?}");
                return;
            }
        }
    }
}

/// Whether a gRPC status code is the transport failing (the kill), not an
/// answer: CANCELLED (1), UNKNOWN (2), INTERNAL (13), UNAVAILABLE (14).
fn died(code: i32) -> bool {
    matches!(code, 1 | 2 | 13 | 14)
}

/// Registers a new subject in a loop (each with its own schema, so new ids).
async fn register_until_killed(ch: String, ledger: Shared) {
    let Ok(mut registry) = RegistryClient::connect(ch).await else { return };
    loop {
        let n = {
            let mut l = lock(&ledger);
            l.subjects_sent += 1;
            l.subjects_sent
        };
        let subject = format!("harness-{n}");
        let schema =
            format!(r#"{{"type":"record","name":"R{n}","fields":[{{"name":"f{n}","type":"long"}}]}}"#);
        match registry.register(SubjectSchemaRequest { subject: subject.clone(), schema }).await {
            Ok(v) => {
                let v = v.into_inner();
                lock(&ledger).registered.insert(subject, (v.id, v.version));
            }
            Err(_) => return,
        }
    }
}

/// A group member commits ever larger offsets (up to what is acknowledged).
async fn commit_until_killed(ch: String, ledger: Shared) {
    let Ok(mut groups) = GroupsClient::connect(ch).await else { return };
    let join = JoinRequest {
        group: GROUP.into(),
        topic: ROLLING.into(),
        member_id: String::new(),
        session_timeout_ms: 1_000,
        client_id: "harness".into(),
    };
    let Ok(stream) = groups.join(join).await else { return };
    let mut stream = stream.into_inner();
    let Ok(Some(assignment)) = stream.message().await else { return };
    loop {
        let offsets: Vec<PartitionOffset> = {
            let mut l = lock(&ledger);
            let mut out = Vec::new();
            for &p in &assignment.partitions {
                let acked = l.acked.get(&(ROLLING.to_owned(), p)).and_then(|m| m.keys().next_back()).copied();
                let target = acked.map_or(0, |o| o + 1);
                let sent = l.commit_sent.get(&p).copied().unwrap_or(0);
                if target > sent {
                    l.commit_sent.insert(p, target);
                    out.push(PartitionOffset { partition: p, offset: target, timestamp_ms: 0 });
                }
            }
            out
        };
        if offsets.is_empty() {
            // Nothing new to commit: a heartbeat notices the kill instead.
            let beat = HeartbeatRequest {
                group: GROUP.into(),
                member_id: assignment.member_id.clone(),
                generation: assignment.generation,
            };
            if groups.heartbeat(beat).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let req = CommitRequest {
            group: GROUP.into(),
            topic: ROLLING.into(),
            member_id: assignment.member_id.clone(),
            generation: assignment.generation,
            offsets: offsets.clone(),
        };
        match groups.commit(req).await {
            Ok(_) => {
                let mut l = lock(&ledger);
                for o in offsets {
                    l.committed.insert(o.partition, o.offset);
                }
            }
            Err(_) => return,
        }
    }
}

/// Reads a whole partition from its first stored offset: (log start, records as
/// (offset, (schema id, producer, seq))). Retention may move the start between
/// the describe and the fetch: then it reads again.
async fn read_partition(ch: &str, topic: &str, partition: u32) -> (i64, Vec<(i64, (u32, u32, i64))>) {
    let mut client = BrokerClient::connect(ch.to_owned()).await.expect("connect");
    let mut admin = AdminClient::connect(ch.to_owned()).await.expect("connect");
    for _ in 0..10 {
        let info = admin.describe_topic(TopicRef { topic: topic.into() }).await.expect("describe");
        let log_start = info.into_inner().partitions[partition as usize].log_start_offset;
        let req = FetchRequest {
            topic: topic.into(),
            partition,
            offset: log_start,
            max_wait_ms: 1,
            ..Default::default()
        };
        let Ok(stream) = client.fetch(req).await else { continue };
        let mut stream = stream.into_inner();
        let mut bytes = Vec::new();
        let mut complete = true;
        loop {
            match stream.message().await {
                Ok(Some(resp)) => bytes.extend_from_slice(&resp.batches),
                Ok(None) => break,
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        if !complete {
            continue;
        }
        let mut out = Vec::new();
        for b in batch::batches(&bytes) {
            let b = b.expect("every served batch is whole and CRC-valid");
            for r in b.records() {
                let r = r.expect("every served record is well formed");
                out.push((r.offset, untick(r.value.expect("value"))));
            }
        }
        return (log_start, out);
    }
    panic!("{topic}/{partition}: no complete read in 10 attempts")
}

/// Checks everything the broker acknowledged against a restarted server.
async fn verify(ch: &str, schema_id: u32, ledger: &Ledger) {
    for (topic, partitions) in [(ROLLING, ROLLING_PARTITIONS), (RETAINED, 1)] {
        for p in 0..partitions {
            let (log_start, records) = read_partition(ch, topic, p).await;
            let mut seen = HashSet::new();
            let mut last_seq: HashMap<u32, i64> = HashMap::new();
            let first = records.first().map_or(log_start, |r| r.0);
            assert!(first <= log_start, "{topic}/{p}: the log starts at {log_start}, served from {first}");
            for (expected, &(offset, (id, producer, seq))) in (first..).zip(&records) {
                assert_eq!(offset, expected, "{topic}/{p}: offsets are dense");
                assert_eq!(id, schema_id, "{topic}/{p}@{offset}: schema id kept");
                assert!(seen.insert((producer, seq)), "{topic}/{p}: ({producer},{seq}) stored twice");
                let last = last_seq.insert(producer, seq).unwrap_or(-1);
                assert!(seq > last, "{topic}/{p}: producer {producer} out of order at {offset}");
            }
            let stored: HashMap<i64, (u32, i64)> =
                records.iter().map(|&(o, (_, producer, seq))| (o, (producer, seq))).collect();
            let acked = ledger.acked.get(&(topic.to_owned(), p));
            for (offset, want) in acked.into_iter().flatten() {
                if *offset < log_start {
                    continue; // deleted by retention
                }
                assert_eq!(stored.get(offset), Some(want), "{topic}/{p}@{offset}: acknowledged record lost");
            }
        }
    }
    let mut groups = GroupsClient::connect(ch.to_owned()).await.expect("connect");
    let req = FetchCommittedRequest { group: GROUP.into(), topic: ROLLING.into(), partitions: vec![] };
    let committed = groups.fetch_committed(req).await.expect("fetch committed").into_inner();
    let committed: HashMap<u32, i64> = committed.offsets.iter().map(|o| (o.partition, o.offset)).collect();
    for (p, acked) in &ledger.committed {
        let got = committed.get(p).copied().unwrap_or(-1);
        let sent = ledger.commit_sent.get(p).copied().unwrap_or(0);
        assert!(got >= *acked && got <= sent, "partition {p}: committed {got}, acknowledged {acked}");
    }
    let mut registry = RegistryClient::connect(ch.to_owned()).await.expect("connect");
    for (subject, &(id, version)) in &ledger.registered {
        let req = GetVersionRequest { subject: subject.clone(), version };
        let got = registry.get_version(req).await.expect("registered version survives").into_inner();
        assert_eq!((got.id, got.version), (id, version), "{subject}: id and version unchanged");
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Creates the topics and the schema; returns the schema id.
async fn setup(ch: &str) -> u32 {
    let mut registry = RegistryClient::connect(ch.to_owned()).await.expect("connect");
    let mut admin = AdminClient::connect(ch.to_owned()).await.expect("connect");
    let mut id = 0;
    for (topic, partitions, retention_bytes) in [(ROLLING, ROLLING_PARTITIONS, -1), (RETAINED, 1, 4096)] {
        let req = SubjectSchemaRequest { subject: format!("{topic}-value"), schema: TICK_SCHEMA.into() };
        id = registry.register(req).await.expect("register").into_inner().id;
        let config = TopicConfig { partitions, segment_bytes: 1024, retention_bytes, ..Default::default() };
        let req = CreateTopicRequest { topic: topic.into(), config: Some(config), if_not_exists: false };
        admin.create_topic(req).await.expect("create topic");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_random_sigkills_during_rolls_retention_registry_and_commits() {
    let kills = env_or("RUNNEL_CRASH_KILLS", 5);
    let deadline = Instant::now() + Duration::from_secs(env_or("RUNNEL_CRASH_SECONDS", 60));
    let ledger: Shared = Arc::default();
    let mut server = Server::start(&["--retention-check-ms", "20"]);
    let schema_id = setup(server.grpc_url()).await;
    // xorshift for kill delays: no rand dependency, a different run each time.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D ^ u64::from(std::process::id());
    let mut done = 0;
    while done < kills && Instant::now() < deadline {
        if done > 0 {
            server.restart();
        }
        let ch = server.grpc_url().to_owned();
        let snapshot = lock(&ledger).clone();
        verify(&ch, schema_id, &snapshot).await;
        let mut tasks = Vec::new();
        for producer in 0..PRODUCERS {
            tasks.push(tokio::spawn(produce_until_killed(ch.clone(), schema_id, producer, ledger.clone())));
        }
        tasks.push(tokio::spawn(register_until_killed(ch.clone(), ledger.clone())));
        tasks.push(tokio::spawn(commit_until_killed(ch.clone(), ledger.clone())));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(30 + seed % 300)).await;
        server.kill();
        for t in tasks {
            // A task that panicked found a wrong answer from the live server.
            match tokio::time::timeout(Duration::from_secs(10), t).await {
                Ok(joined) => joined.expect("client task"),
                Err(_) => panic!("a client did not notice the kill within 10 s"),
            }
        }
        done += 1;
        let l = lock(&ledger);
        let records: usize = l.acked.values().map(BTreeMap::len).sum();
        eprintln!(
            "kill {done}: {records} records, {} registrations, commits {:?} acknowledged so far",
            l.registered.len(),
            l.committed
        );
    }
    server.restart();
    let ch = server.grpc_url().to_owned();
    let l = lock(&ledger).clone();
    verify(&ch, schema_id, &l).await;
    assert!(done >= 1, "at least one kill");
    assert!(l.acked.values().map(BTreeMap::len).sum::<usize>() > 0, "the producers got acknowledgements");
    let retained = AdminClient::connect(ch.clone())
        .await
        .expect("connect")
        .describe_topic(TopicRef { topic: RETAINED.into() })
        .await;
    let start = retained.expect("describe").into_inner().partitions[0].log_start_offset;
    eprintln!("{done} kills; retention moved the retained topic's start to {start}");
}

/// Every segment file (`.log`) of a partition, sorted by base offset.
fn segment_files(part: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(part)
        .expect("partition dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tails_corrupt_and_lost_indexes_are_recovered() {
    let mut server = Server::start(&["--retention-check-ms", "20"]);
    let ch = server.grpc_url().to_owned();
    let schema_id = setup(&ch).await;
    let mut client = BrokerClient::connect(ch.to_owned()).await.expect("connect");
    let mut want = Vec::new();
    for seq in 0..200i64 {
        let mut b = BatchBuilder::new();
        b.push(None, Some(&tick(schema_id, 9, seq)), now_ms(), &[]);
        let req = ProduceRequest {
            correlation_id: 0,
            topic: ROLLING.into(),
            partition: 0,
            batch: b.finish(-1, -1, -1),
        };
        let r = client.produce(req).await.expect("produce").into_inner();
        assert_eq!(r.base_offset, seq);
        want.push((seq, (schema_id, 9u32, seq)));
    }
    server.kill();

    let part = server.dir().join("topics").join(ROLLING).join("0");
    let logs = segment_files(&part, "log");
    let indexes = segment_files(&part, "index");
    assert!(logs.len() >= 4 && indexes.len() >= 3, "small segments rolled: {logs:?}");
    // A torn tail: half of a copy of the last batch appended to the active segment.
    let active = logs.last().expect("active segment");
    let bytes = std::fs::read(active).expect("read active");
    let mut torn = bytes.clone();
    torn.extend_from_slice(&bytes[..bytes.len() / 2]);
    std::fs::write(active, &torn).expect("write torn tail");
    // A truncated index, a corrupted index, a deleted index.
    let len = std::fs::metadata(&indexes[0]).expect("index").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&indexes[0])
        .unwrap()
        .set_len(len.saturating_sub(3))
        .unwrap();
    let mut garbage = std::fs::read(&indexes[1]).expect("index");
    for b in garbage.iter_mut().rev().take(8) {
        *b ^= 0xa5;
    }
    std::fs::write(&indexes[1], garbage).expect("corrupt index");
    std::fs::remove_file(&indexes[2]).expect("delete index");

    server.restart();
    let ch = server.grpc_url().to_owned();
    let (_, got) = read_partition(&ch, ROLLING, 0).await;
    assert_eq!(got, want, "every acknowledged record, nothing of the torn tail");
    assert_eq!(std::fs::metadata(active).expect("active").len(), bytes.len() as u64, "torn tail truncated");
    // Reads from the middle of each damaged segment land on the right record.
    let mut client = BrokerClient::connect(ch.to_owned()).await.expect("connect");
    for from in [1i64, 37, 75, 120, 199] {
        let req = FetchRequest {
            topic: ROLLING.into(),
            partition: 0,
            offset: from,
            max_wait_ms: 1,
            ..Default::default()
        };
        let mut stream = client.fetch(req).await.expect("fetch").into_inner();
        let resp = stream.message().await.expect("fetch stream").expect("a response");
        let first = batch::batches(&resp.batches).next().expect("a batch").expect("valid batch");
        let rec = first.records().find_map(|r| r.ok().filter(|r| r.offset == from));
        let rec = rec.unwrap_or_else(|| panic!("offset {from} is in the first batch served"));
        assert_eq!(untick(rec.value.expect("value")), (schema_id, 9, from));
    }
    // Appends continue right after the last acknowledged record.
    let mut b = BatchBuilder::new();
    b.push(None, Some(&tick(schema_id, 9, 200)), now_ms(), &[]);
    let req = ProduceRequest {
        correlation_id: 0,
        topic: ROLLING.into(),
        partition: 0,
        batch: b.finish(-1, -1, -1),
    };
    assert_eq!(client.produce(req).await.expect("produce").into_inner().base_offset, 200);
}
