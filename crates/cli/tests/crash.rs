//! Crash test: a real `runnel serve` child is killed with SIGKILL at random
//! moments while producers write; after each restart every acknowledged record
//! must be in the log exactly once, in order, and the log must end cleanly.
//!
//! Eight iterations (a few seconds) run in the normal test suite; set
//! `RUNNEL_CRASH_ITERATIONS=100` for a long run.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{tick, unzigzag, Server, TICK_SCHEMA};
use runnel_broker::runnel_proto::v1::{
    admin_client::AdminClient, broker_client::BrokerClient, registry_client::RegistryClient,
    CreateTopicRequest, FetchRequest, ProduceRequest, SubjectSchemaRequest, TopicConfig, TopicRef,
};
use runnel_broker::runnel_proto::{batch, BatchBuilder};

const TOPIC: &str = "crash";
const PARTITIONS: u32 = 2;
const PRODUCERS: u32 = 4;

/// Acknowledged (producer → seqs) and the next seq of each producer.
#[derive(Default, Clone)]
struct Ledger {
    acked: HashMap<u32, Vec<i64>>,
    next_seq: HashMap<u32, i64>,
}

async fn produce_until_killed(url: String, id: u32, ledger: Arc<Mutex<Ledger>>) {
    let Ok(client) = BrokerClient::connect(url).await else { return };
    let mut tasks = Vec::new();
    for producer in 0..PRODUCERS {
        let mut client = client.clone();
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            loop {
                let start = *ledger.lock().unwrap().next_seq.entry(producer).or_insert(0);
                let n = 1 + (start % 7);
                let mut b = BatchBuilder::new();
                for seq in start..start + n {
                    b.push(None, Some(&tick(id, producer, seq)), 1_000, &[]);
                }
                // Sequences are never reused, acknowledged or not: a record seen twice is a broker bug.
                ledger.lock().unwrap().next_seq.insert(producer, start + n);
                let req = ProduceRequest {
                    correlation_id: 0,
                    topic: TOPIC.into(),
                    partition: producer % PARTITIONS,
                    batch: b.finish(-1, -1, -1),
                };
                match client.produce(req).await {
                    Ok(r) if r.get_ref().error.is_none() => {
                        ledger.lock().unwrap().acked.entry(producer).or_default().extend(start..start + n);
                    }
                    _ => return, // the broker died
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Reads the whole topic and checks it against the ledger.
async fn verify(url: &str, dir: &std::path::Path, ledger: &Ledger) {
    let mut client = BrokerClient::connect(url.to_owned()).await.expect("connect");
    let mut seen: HashMap<u32, Vec<i64>> = HashMap::new();
    for p in 0..PARTITIONS {
        let req = FetchRequest {
            topic: TOPIC.into(),
            partition: p,
            offset: 0,
            max_wait_ms: 1,
            ..Default::default()
        };
        let mut stream = client.fetch(req).await.expect("fetch").into_inner();
        let mut bytes = Vec::new();
        while let Some(resp) = stream.message().await.expect("fetch stream") {
            bytes.extend_from_slice(&resp.batches);
        }
        let mut expected_offset = 0;
        for b in batch::batches(&bytes) {
            let b = b.expect("every served batch is whole and CRC-valid");
            for r in b.records() {
                let r = r.expect("valid record");
                assert_eq!(r.offset, expected_offset, "offsets are dense");
                expected_offset += 1;
                let v = r.value.expect("value");
                let (producer, n) = unzigzag(&v[5..]).expect("bad varint in stored record");
                let (seq, _) = unzigzag(&v[5 + n..]).expect("bad varint in stored record");
                seen.entry(producer as u32).or_default().push(seq);
            }
        }
        // The tail is clean: the segment holds exactly the served batches.
        let seg = dir.join("topics").join(TOPIC).join(p.to_string()).join("00000000000000000000.log");
        assert_eq!(std::fs::metadata(&seg).expect("segment").len(), bytes.len() as u64, "partition {p} tail");
    }
    for (producer, acked) in &ledger.acked {
        let got = seen.get(producer).cloned().unwrap_or_default();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "producer {producer}: in order, no duplicates");
        let present: std::collections::HashSet<i64> = got.iter().copied().collect();
        let missing: Vec<i64> = acked.iter().copied().filter(|s| !present.contains(s)).collect();
        assert!(missing.is_empty(), "producer {producer}: acknowledged but lost: {missing:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill_exactly_once_in_order() {
    let iterations: u32 =
        std::env::var("RUNNEL_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    let mut server = Server::start(&[]);
    let mut registry = RegistryClient::connect(server.grpc_url().to_owned()).await.expect("connect");
    let req = SubjectSchemaRequest { subject: format!("{TOPIC}-value"), schema: TICK_SCHEMA.into() };
    let id = registry.register(req).await.expect("register").into_inner().id;
    let mut admin = AdminClient::connect(server.grpc_url().to_owned()).await.expect("connect");
    let config = TopicConfig { partitions: PARTITIONS, ..Default::default() };
    admin
        .create_topic(CreateTopicRequest { topic: TOPIC.into(), config: Some(config), if_not_exists: false })
        .await
        .expect("create topic");

    // A small deterministic generator for kill delays (no rand dependency).
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D ^ u64::from(std::process::id());
    for i in 0..iterations {
        if i > 0 {
            server.restart();
        }
        let url = server.grpc_url().to_owned();
        let snapshot = ledger.lock().unwrap().clone();
        verify(&url, server.dir(), &snapshot).await;
        let producers = tokio::spawn(produce_until_killed(url, id, Arc::clone(&ledger)));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(50 + seed % 400)).await;
        server.kill(); // SIGKILL, wait
        let _ = tokio::time::timeout(Duration::from_secs(10), producers).await;
        let acked: usize = ledger.lock().unwrap().acked.values().map(Vec::len).sum();
        eprintln!("iteration {i}: {acked} records acknowledged so far");
    }
    server.restart();
    let snapshot = ledger.lock().unwrap().clone();
    verify(server.grpc_url(), server.dir(), &snapshot).await;
    let mut admin = AdminClient::connect(server.grpc_url().to_owned()).await.expect("connect");
    let info = admin.describe_topic(TopicRef { topic: TOPIC.into() }).await.expect("describe").into_inner();
    let total: i64 = info.partitions.iter().map(|p| p.high_watermark).sum();
    let acked: usize = ledger.lock().unwrap().acked.values().map(Vec::len).sum();
    assert!(acked > 0, "the producers got acknowledgements");
    assert!(total >= acked as i64);
}
