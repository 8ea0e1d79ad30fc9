//! Soak: a real `runnel serve` child under steady produce and consume for
//! `RUNNEL_SOAK_SECONDS` (default 600), with consumer-group rebalances (a second
//! member joins and leaves every 20 s) and a schema evolution half-way. Every
//! 5 s it samples the server's RSS (`/proc/PID/status`) and open file
//! descriptors (`/proc/PID/fd`); it fails if either grows beyond a bound after
//! warm-up, and prints a summary table. `#[ignore]`d: `scripts/soak.sh` runs it.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{now_ms, zigzag, Server};
use runnel_broker::runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, groups_client::GroupsClient,
    registry_client::RegistryClient, CommitRequest, CreateTopicRequest, FetchCommittedRequest, FetchRequest,
    HeartbeatRequest, JoinRequest, PartitionOffset, ProduceRequest, SubjectSchemaRequest, TopicConfig,
};
use runnel_broker::runnel_proto::{batch, BatchBuilder};

const TOPIC: &str = "soak";
const PARTITIONS: u32 = 4;
const GROUP: &str = "soak-group";
const V1: &str = r#"{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"long"}]}"#;
const V2: &str = r#"{"type":"record","name":"Reading","fields":[{"name":"sensor","type":"string"},{"name":"value","type":"long"},{"name":"unit","type":"string","default":"C"}]}"#;

/// A framed `Reading` under schema `id` (v2 adds the `unit` string).
fn reading(id: u32, v2: bool, sensor: &str, value: i64) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(&id.to_be_bytes());
    zigzag(&mut v, sensor.len() as i64);
    v.extend_from_slice(sensor.as_bytes());
    zigzag(&mut v, value);
    if v2 {
        zigzag(&mut v, 1);
        v.push(b'K');
    }
    v
}

/// (RSS bytes, open fds) of a process.
fn sample(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server alive");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").count();
    (kb * 1024, fds)
}

/// Steady producer: 100-record batches, 20 per second, switching to the
/// evolved schema once `evolved` holds an id.
async fn produce(
    url: String,
    n: u32,
    v1: u32,
    evolved: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) {
    let mut client = BrokerClient::connect(url).await.expect("connect");
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let sensor = format!("sensor-{n}");
    let mut i = 0i64;
    while !stop.load(Relaxed) {
        tick.tick().await;
        let v2 = evolved.load(Relaxed);
        let id = if v2 == 0 { v1 } else { v2 };
        let mut b = BatchBuilder::new();
        for _ in 0..100 {
            b.push(None, Some(&reading(id, v2 != 0, &sensor, i)), now_ms(), &[]);
            i += 1;
        }
        let req = ProduceRequest {
            correlation_id: 0,
            topic: TOPIC.into(),
            partition: (i as u32 / 100) % PARTITIONS,
            batch: b.finish(-1, -1, -1),
        };
        let resp = client.produce(req).await.expect("produce during the soak").into_inner();
        assert!(resp.error.is_none(), "produce refused: {:?}", resp.error);
        count.fetch_add(100, Relaxed);
    }
}

/// A group member: consumes its assigned partitions from the committed
/// offsets, commits after each read, follows rebalances; leaves at `until`.
async fn member(url: String, name: String, until: Instant, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) {
    let mut groups = GroupsClient::connect(url.clone()).await.expect("connect");
    let mut broker = BrokerClient::connect(url).await.expect("connect");
    let join = JoinRequest {
        group: GROUP.into(),
        topic: TOPIC.into(),
        member_id: String::new(),
        session_timeout_ms: 3_000,
        client_id: name,
    };
    let mut assignments = groups.join(join).await.expect("join").into_inner();
    let mut assignment = assignments.message().await.expect("assignment").expect("first assignment");
    while Instant::now() < until && !stop.load(Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(200), assignments.message()).await;
        if let Ok(next) = next {
            match next.expect("assignment stream") {
                Some(a) => assignment = a,
                None => return,
            }
        }
        let beat = HeartbeatRequest {
            group: GROUP.into(),
            member_id: assignment.member_id.clone(),
            generation: assignment.generation,
        };
        groups.heartbeat(beat).await.expect("heartbeat");
        let req = FetchCommittedRequest {
            group: GROUP.into(),
            topic: TOPIC.into(),
            partitions: assignment.partitions.clone(),
        };
        let committed = groups.fetch_committed(req).await.expect("fetch committed").into_inner();
        let committed: HashMap<u32, i64> =
            committed.offsets.iter().map(|o| (o.partition, o.offset)).collect();
        let mut offsets = Vec::new();
        for &p in &assignment.partitions {
            let from = committed.get(&p).copied().unwrap_or(0);
            let req = FetchRequest {
                topic: TOPIC.into(),
                partition: p,
                offset: from,
                max_bytes: 256 << 10,
                max_wait_ms: 1,
                follow: false,
                end_offset: 0,
                ..Default::default()
            };
            let mut stream = broker.fetch(req).await.expect("fetch").into_inner();
            let mut next = from;
            // One response per partition per round keeps rounds short.
            if let Some(resp) = stream.message().await.expect("fetch stream") {
                for b in batch::batches(&resp.batches) {
                    let b = b.expect("served batches verify");
                    next = b.base_offset() + i64::from(b.record_count());
                    count.fetch_add(u64::from(b.record_count()), Relaxed);
                }
            }
            if next > from {
                offsets.push(PartitionOffset { partition: p, offset: next, timestamp_ms: 0 });
            }
        }
        if !offsets.is_empty() {
            let req = CommitRequest {
                group: GROUP.into(),
                topic: TOPIC.into(),
                member_id: assignment.member_id.clone(),
                generation: assignment.generation,
                offsets,
            };
            // A commit from a generation a rebalance just ended is refused: the
            // next round reads again from the committed offsets.
            let _ = groups.commit(req).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run by scripts/soak.sh"]
async fn memory_and_file_descriptors_stay_flat_under_steady_load_rebalances_and_evolution() {
    let seconds: u64 = std::env::var("RUNNEL_SOAK_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(600);
    let server = Server::start(&[]);
    let pid = server.pid();
    let url = server.grpc_url().to_owned();
    let mut registry = RegistryClient::connect(url.clone()).await.expect("connect");
    let req = SubjectSchemaRequest { subject: format!("{TOPIC}-value"), schema: V1.into() };
    let v1 = registry.register(req).await.expect("register v1").into_inner().id;
    let config = TopicConfig {
        partitions: PARTITIONS,
        segment_bytes: 1 << 20,
        retention_bytes: 4 << 20,
        ..Default::default()
    };
    let req = CreateTopicRequest { topic: TOPIC.into(), config: Some(config), if_not_exists: false };
    AdminClient::connect(url.clone()).await.expect("connect").create_topic(req).await.expect("create");

    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let evolved = Arc::new(AtomicU32::new(0));
    let produced = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for n in 0..2 {
        let (url, ev, st, c) = (url.clone(), evolved.clone(), stop.clone(), produced.clone());
        tasks.push(tokio::spawn(produce(url, n, v1, ev, st, c)));
    }
    tasks.push(tokio::spawn(member(url.clone(), "steady".into(), end, stop.clone(), consumed.clone())));

    let mut samples: Vec<(u64, u64, usize)> = Vec::new();
    let mut joiners = 0u32;
    let mut next_join = start + Duration::from_secs(10);
    println!("{:>6} {:>10} {:>5} {:>10} {:>10}", "t(s)", "RSS(KiB)", "fds", "produced", "consumed");
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let t = start.elapsed().as_secs();
        if evolved.load(Relaxed) == 0 && t >= seconds / 2 {
            let req = SubjectSchemaRequest { subject: format!("{TOPIC}-value"), schema: V2.into() };
            let v2 = registry.register(req).await.expect("register v2 (backward compatible)").into_inner();
            println!("t={t}s: schema evolved to id {} (version {})", v2.id, v2.version);
            evolved.store(v2.id, Relaxed);
        }
        if Instant::now() >= next_join && Instant::now() + Duration::from_secs(10) < end {
            // A member joins for 10 s and leaves: two rebalances.
            joiners += 1;
            let until = Instant::now() + Duration::from_secs(10);
            let name = format!("visitor-{joiners}");
            tasks.push(tokio::spawn(member(url.clone(), name, until, stop.clone(), consumed.clone())));
            next_join += Duration::from_secs(20);
        }
        let (rss, fds) = sample(pid);
        samples.push((t, rss, fds));
        println!(
            "{t:>6} {:>10} {fds:>5} {:>10} {:>10}",
            rss / 1024,
            produced.load(Relaxed),
            consumed.load(Relaxed)
        );
    }
    stop.store(true, Relaxed);
    for t in tasks {
        t.await.expect("soak task");
    }

    // Warm-up: the first quarter; then compare the last quarter with the second.
    let q = (samples.len() / 4).max(1);
    let warm = &samples[q..(2 * q).min(samples.len())];
    let last = &samples[samples.len().saturating_sub(q)..];
    let warm_rss = warm.iter().map(|s| s.1).max().unwrap_or(0);
    let last_rss = last.iter().map(|s| s.1).max().unwrap_or(0);
    let warm_fds = warm.iter().map(|s| s.2).max().unwrap_or(0);
    let last_fds = last.iter().map(|s| s.2).max().unwrap_or(0);
    let (p, c) = (produced.load(Relaxed), consumed.load(Relaxed));
    println!("\n| metric | after warm-up (max) | last quarter (max) | bound |");
    println!("| --- | --- | --- | --- |");
    let rss_bound = warm_rss + warm_rss / 2 + (16 << 20);
    println!("| RSS (MiB) | {:.1} | {:.1} | {:.1} |", mib(warm_rss), mib(last_rss), mib(rss_bound));
    println!("| open fds | {warm_fds} | {last_fds} | {} |", warm_fds + 16);
    println!(
        "| records | produced {p} | consumed {c} (at least once) | {seconds} s, {joiners} visiting members |"
    );
    assert!(last_rss <= rss_bound, "RSS grew from {warm_rss} to {last_rss}");
    assert!(last_fds <= warm_fds + 16, "open fds grew from {warm_fds} to {last_fds}");
    assert!(c >= p * 9 / 10, "consumers kept up: {c} of {p}");
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}
