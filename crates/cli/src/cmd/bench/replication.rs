//! `runnel bench replication`: two clusters started in-process on free ports, the
//! first replicating `public/default` to the second. Phase zero produces `--records`
//! before replication is set up, then sets it up and measures how fast that backlog
//! reaches the remote: replication alone against local durable produce alone. Phase one produces `--records`
//! durably on the origin as fast as the typed producer goes and measures how fast they
//! arrive at the remote: replication throughput as a ratio of the local durable produce
//! throughput of the same run. Phase two produces at `--rate` records per second for
//! `--seconds` and measures, per record, the time from its send on the origin to its
//! delivery by a consumer on the remote (replication lag, p50/p99).

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use runnel_client::{Client, ClusterInfo, Position};

use super::report::{LatencyRecorder, Report};
use super::{create_topic, now_us, BenchUser, TopicArgs, WorkDir};

/// Arguments of `runnel bench replication`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicationArgs {
    /// Records produced in the throughput phase.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Produce rate of the lag phase, records per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Length of the lag phase, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Directory for both clusters' data (default: a temp dir).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    #[command(flatten)]
    topic: TopicArgs,
}

async fn cluster(dir: &std::path::Path, name: &str) -> anyhow::Result<runnel_broker::RunningServer> {
    let mut config = runnel_broker::ServerConfig::ephemeral(dir.join(name));
    config.kafka_addr = None;
    config.cluster_name = name.to_owned();
    Ok(runnel_broker::start(config).await?)
}

/// Produces `n` records to `topic` durably, as fast as the typed producer goes.
async fn produce_all(client: &Client, topic: &str, sample: &BenchUser, n: u64) -> anyhow::Result<()> {
    let producer = client
        .producer::<BenchUser>(topic)
        .batch_records(1000)
        .linger(Duration::from_millis(5))
        .create()
        .await?;
    let mut in_flight = FuturesUnordered::new();
    let mut record = sample.clone();
    for i in 0..n {
        record.id = i as i64;
        in_flight.push(producer.send(&record));
        if in_flight.len() >= 20_000 {
            if let Some(r) = in_flight.next().await {
                r?;
            }
        }
    }
    while let Some(r) = in_flight.next().await {
        r?;
    }
    Ok(())
}

/// Waits until the links of `topic` report `n` records appended at the remote (or ten
/// minutes pass); returns how many they report.
async fn wait_replicated(client: &Client, topic: &str, n: u64) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = client.replication_status().await?;
        let done: u64 = status.links.iter().filter(|l| l.topic == topic).map(|l| l.replicated).sum();
        if done >= n || Instant::now() > deadline {
            return Ok(done);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the phases.
pub async fn run(args: &ReplicationArgs) -> anyhow::Result<Report> {
    let dir = WorkDir::new(args.data.clone())?;
    let a = cluster(dir.path(), "bench-origin").await?;
    let b = cluster(dir.path(), "bench-remote").await?;
    let result = phases(args, &a, &b).await;
    a.shutdown().await?;
    b.shutdown().await?;
    result
}

async fn phases(
    args: &ReplicationArgs,
    a: &runnel_broker::RunningServer,
    b: &runnel_broker::RunningServer,
) -> anyhow::Result<Report> {
    let ca = Client::connect(a.grpc_url()).await?;
    let cb = Client::connect(b.grpc_url()).await?;
    let info = |name: &str, s: &runnel_broker::RunningServer| ClusterInfo {
        name: name.to_owned(),
        url: s.grpc_url(),
        registry_url: s.registry_url(),
        ..Default::default()
    };
    let mut report = Report::new("replication");
    let sample = BenchUser::sample(args.topic.record_size);

    // Phase zero: a backlog. `--records` are produced before replication is set up (local
    // durable produce alone on the machine), then `public/default` is replicated and the
    // time until all of them are at the remote is replication alone: reading, sending in
    // batches as large and as many at once as the link makes them, the remote's appends.
    let backlog = create_topic(&ca, args.partitions, &args.topic).await?;
    let start = Instant::now();
    produce_all(&ca, &backlog, &sample, args.records).await?;
    let backlog_produce_rate = args.records as f64 / start.elapsed().as_secs_f64();
    ca.add_cluster(info("bench-remote", b)).await?;
    cb.add_cluster(info("bench-origin", a)).await?;
    let both = ["bench-origin".to_owned(), "bench-remote".to_owned()];
    cb.set_namespace_replication("public/default", &both).await?;
    let start = Instant::now();
    ca.set_namespace_replication("public/default", &both).await?;
    let drained = wait_replicated(&ca, &backlog, args.records).await?;
    let drain_rate = drained as f64 / start.elapsed().as_secs_f64();
    report.set("backlog_local_produce_records_per_sec", backlog_produce_rate.round());
    report.set("backlog_replicated_records_per_sec", drain_rate.round());
    report.set("backlog_to_produce_ratio", (drain_rate / backlog_produce_rate * 100.0).round() / 100.0);

    // Phase one: throughput, replicating while producing.
    let topic = create_topic(&ca, args.partitions, &args.topic).await?;
    let start = Instant::now();
    produce_all(&ca, &topic, &sample, args.records).await?;
    let produce_s = start.elapsed().as_secs_f64();
    let replicated = wait_replicated(&ca, &topic, args.records).await?;
    let replicate_s = start.elapsed().as_secs_f64();
    let produce_rate = args.records as f64 / produce_s;
    let replicate_rate = replicated as f64 / replicate_s;
    report.set("records", args.records);
    report.set("record_size", args.topic.record_size as u64);
    report.set("local_produce_records_per_sec", produce_rate.round());
    report.set("replicated_records_per_sec", replicate_rate.round());
    report.set("replication_to_produce_ratio", (replicate_rate / produce_rate * 100.0).round() / 100.0);

    // Phase two: lag at a fixed rate, measured by a consumer on the remote.
    let topic = create_topic(&ca, args.partitions, &args.topic).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while cb.describe_topic(&topic).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the topic did not appear at the remote");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut consumer = cb.consumer::<BenchUser>(&topic).from(Position::Earliest).subscribe().await?;
    let producer = ca.producer::<BenchUser>(&topic).linger(Duration::from_millis(1)).create().await?;
    let total = args.rate * args.seconds;
    let rate = args.rate;
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let per_tick = (rate / 100).max(1);
        let mut record = sample;
        let mut sent = 0u64;
        let mut acks = FuturesUnordered::new();
        while sent < total {
            tick.tick().await;
            for _ in 0..per_tick.min(total - sent) {
                record.id = sent as i64;
                record.sent_us = now_us();
                acks.push(producer.send(&record));
                sent += 1;
            }
            while let Some(Some(r)) = futures::FutureExt::now_or_never(acks.next()) {
                r?;
            }
        }
        while let Some(r) = acks.next().await {
            r?;
        }
        anyhow::Ok(())
    });
    let mut lags = LatencyRecorder::new();
    let mut seen = 0u64;
    let deadline = Instant::now() + Duration::from_secs(args.seconds + 120);
    while seen < total && Instant::now() < deadline {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await else {
            continue;
        };
        let msg = msg?;
        let lag_us = (now_us() - msg.value().sent_us).max(0) as u64;
        lags.record(Duration::from_micros(lag_us));
        seen += 1;
    }
    sender.await??;
    report.set("lag_rate_records_per_sec", args.rate);
    report.set("lag_records_seen", seen);
    report.set("lag_ms", lags.summary());
    Ok(report)
}
