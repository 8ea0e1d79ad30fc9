//! `runnel bench`: end-to-end benchmarks against a running server (or one
//! started in-process with `--embedded`), each next to the raw disk baseline
//! measured in the same run, since these machines are shared and noisy: a
//! ratio to the same run's physical limit means more than an absolute number.
//!
//! - `produce`: N typed records from P producers into K partitions; records/s,
//!   MB/s, ack latency percentiles, and the ratio to the disk appending the
//!   same bytes with the same bytes per fsync;
//! - `consume`: produces N records, then reads them back with one consumer and
//!   with a group of C;
//! - `e2e`: a fixed produce rate with a consumer at the head, publish→deliver latency;
//! - `disk`: the baseline alone;
//! - `kafka`: produce and fetch over the Kafka protocol against the gRPC path, same run;
//! - `function`: a pass-through Rust function against typed produce, same run;
//! - `replication`: two in-process clusters, replication against local produce, and lag.

mod disk;
mod function;
mod kafka;
mod replication;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{FuturesUnordered, StreamExt};
use runnel_avro::Avro;
use runnel_client::{proto, Client, KafkaConfig, NewTopic, Position, Validation};
use runnel_derive::Avro;

use report::{LatencyRecorder, Report};

use crate::cmd::count;

/// The record every benchmark sends: the fields of `schemas/user.avsc`, the
/// send time (for end-to-end latency), and padding for `--record-size`.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro", namespace = "runnel.bench", name = "BenchUser")]
struct BenchUser {
    id: i64,
    name: String,
    email: Option<String>,
    age: i32,
    active: bool,
    score: f64,
    tags: Vec<String>,
    manager: Option<String>,
    sent_us: i64,
    pad: Vec<u8>,
}

impl BenchUser {
    /// A record whose Avro encoding (without the 5-byte frame) is about `size` bytes.
    fn sample(size: usize) -> BenchUser {
        let mut u = BenchUser {
            id: 1_000_000,
            name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            age: 36,
            active: true,
            score: 97.5,
            tags: vec!["admin".into(), "math".into()],
            manager: Some("Charles".into()),
            sent_us: now_us(),
            pad: Vec::new(),
        };
        let base = runnel_avro::to_vec(&u).len();
        if size > base + 2 {
            // The length prefix of `pad` grows by a byte or two; get within a couple of bytes.
            let mut pad = size - base;
            while pad > 0 && {
                u.pad = vec![0x5a; pad];
                runnel_avro::to_vec(&u).len() > size
            } {
                pad -= 1;
            }
        }
        u
    }
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// `runnel bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Typed produce throughput and ack latency, with the disk baseline.
    Produce(ProduceArgs),
    /// Produce, then read back with one consumer and with a group.
    Consume(ConsumeArgs),
    /// A fixed produce rate with a consumer at the head: publish→deliver latency.
    E2e(E2eArgs),
    /// The raw disk baseline: sequential appends with an fsync every B bytes.
    Disk(DiskArgs),
    /// Typed produce and fetch over the Kafka protocol against the gRPC path, in one run.
    Kafka(kafka::KafkaArgs),
    /// A pass-through Rust function (effectively once, at least once) against typed produce.
    Function(function::FunctionArgs),
    /// Geo-replication between two in-process clusters: throughput against local produce, lag.
    Replication(replication::ReplicationArgs),
}

/// Where the benchmark runs: a server already running, or one started here.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Start a server in-process on a temporary directory (under --data) instead of using --url.
    #[arg(long)]
    embedded: bool,
    /// Directory for the embedded server and the disk baseline (default: a temp dir).
    #[arg(long)]
    data: Option<PathBuf>,
}

/// The protocol a benchmark's producers and consumers speak. Topics and
/// schemas are set up over gRPC either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// The typed client over gRPC (`Client::connect`).
    Grpc,
    /// The typed client over the Kafka listener (`Client::connect_kafka`: librdkafka).
    Kafka,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Grpc => "grpc",
            Via::Kafka => "kafka",
        }
    }
}

/// How a benchmark's producers hand records over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Send {
    /// One `Producer::send` per record, each with its own future (the producer batches them).
    Record,
    /// One `Producer::send_batch` per --batch records: one future per batch.
    Batch,
}

impl Send {
    fn name(self) -> &'static str {
        match self {
            Send::Record => "record",
            Send::Batch => "batch",
        }
    }
}

/// The topic and the produce side.
#[derive(Debug, Clone, clap::Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    target: Target,
    /// The client path: grpc, or kafka (librdkafka through the Kafka listener).
    #[arg(long, value_enum, default_value_t = Via::Grpc)]
    via: Via,
    /// The Kafka listener for --via kafka without --embedded.
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka: String,
    /// A librdkafka property for --via kafka's producers and consumers, over
    /// the client's own settings (repeatable): `--kafka-property linger.ms=10`.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = crate::cmd::connection::parse_property)]
    kafka_properties: Vec<(String, String)>,
    /// Records to produce in all.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Records per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How records are handed to the producer: a future per record, or a whole
    /// batch of --batch records at a time (`send_batch`).
    #[arg(long, value_enum, default_value_t = Send::Record)]
    send: Send,
    /// Concurrent producers (each with its own connection).
    #[arg(long, default_value_t = 1)]
    producers: usize,
    #[command(flatten)]
    topic: TopicArgs,
    /// How long a producer waits to fill a batch.
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// Skip the disk baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Consumers reading the topic from the start while it is produced, each
    /// pausing 1 ms every 10 records (to show the broker's memory stays bounded
    /// when readers fall behind).
    #[arg(long, default_value_t = 0)]
    slow_consumers: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    produce: ProduceArgs,
    /// Members of the consumer group for the group read.
    #[arg(long, default_value_t = 2)]
    consumers: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct E2eArgs {
    #[command(flatten)]
    target: Target,
    /// Records per second to produce.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    #[command(flatten)]
    topic: TopicArgs,
}

/// The benchmark topic's validation and fsync policy, and its records' size.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicArgs {
    /// Topic validation level: none, id or full.
    #[arg(long, default_value = "full")]
    validation: String,
    /// Topic fsync policy: always, never, or a number of milliseconds (interval).
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Encoded record size in bytes (the record is padded with a bytes field).
    #[arg(long, default_value_t = 100)]
    record_size: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DiskArgs {
    /// Directory to write in (default: a temp dir).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Bytes written between two fsyncs.
    #[arg(long, default_value_t = 1 << 20)]
    bytes_per_fsync: usize,
    /// Bytes to write in all.
    #[arg(long, default_value_t = 256 << 20)]
    total_bytes: u64,
}

/// Runs one benchmark and prints its report.
pub async fn run(global: &crate::Global, command: BenchCommand) -> anyhow::Result<()> {
    let json = global.output == crate::Output::Json;
    let report = match command {
        BenchCommand::Disk(args) => {
            let dir = WorkDir::new(args.data)?;
            let (path, total, per) = (dir.path().to_owned(), args.total_bytes, args.bytes_per_fsync);
            tokio::task::spawn_blocking(move || disk::run(&path, total, per)).await??
        }
        BenchCommand::Produce(args) => {
            let env = BenchEnv::start(global, &args.target).await?;
            let result = produce(&env, &args).await;
            env.stop().await?;
            result?.0
        }
        BenchCommand::Consume(args) => {
            let env = BenchEnv::start(global, &args.produce.target).await?;
            let result = consume(&env, &args).await;
            env.stop().await?;
            result?
        }
        BenchCommand::Kafka(args) => kafka::run(global, &args).await?,
        BenchCommand::Function(args) => function::run(global, &args).await?,
        BenchCommand::Replication(args) => replication::run(&args).await?,
        BenchCommand::E2e(args) => {
            let env = BenchEnv::start(global, &args.target).await?;
            let result = e2e(&env, &args).await;
            env.stop().await?;
            result?
        }
    };
    report.print(json);
    Ok(())
}

/// A directory for the benchmark's files: the given one, or a temp dir removed afterwards.
struct WorkDir {
    path: PathBuf,
    temp: Option<tempfile::TempDir>,
}

impl WorkDir {
    fn new(dir: Option<PathBuf>) -> anyhow::Result<WorkDir> {
        match dir {
            Some(path) => {
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Ok(WorkDir { path, temp: None })
            }
            None => {
                let temp = tempfile::Builder::new().prefix("runnel-bench-").tempdir()?;
                Ok(WorkDir { path: temp.path().to_owned(), temp: Some(temp) })
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// The server the benchmark talks to, and the directory for the disk baseline.
struct BenchEnv {
    url: String,
    /// The server's HTTP address (its `/metrics`, the registry).
    http_url: String,
    dir: WorkDir,
    server: Option<runnel_broker::RunningServer>,
}

/// How a benchmark's clients connect: cheap to clone into producer tasks.
#[derive(Debug, Clone)]
struct Endpoint {
    via: Via,
    grpc: String,
    /// The Kafka listener (`host:port`).
    kafka: String,
    registry: String,
    /// librdkafka properties over the client's own (`--kafka-property`).
    properties: Vec<(String, String)>,
}

impl Endpoint {
    /// A new client (its own connection) on this path.
    async fn client(&self) -> anyhow::Result<Client> {
        match self.via {
            Via::Grpc => Ok(Client::connect(self.grpc.clone()).await?),
            Via::Kafka => {
                let mut config = KafkaConfig::new(&self.kafka, &self.registry);
                for (k, v) in &self.properties {
                    config = config.property(k, v);
                }
                Client::connect_kafka(config)
                    .await
                    .with_context(|| format!("cannot use the Kafka listener at {}", self.kafka))
            }
        }
    }
}

impl BenchEnv {
    async fn start(global: &crate::Global, target: &Target) -> anyhow::Result<BenchEnv> {
        let dir = WorkDir::new(target.data.clone())?;
        if target.embedded {
            let data = dir.path().join("server");
            let server = runnel_broker::start(runnel_broker::ServerConfig::ephemeral(data))
                .await
                .context("cannot start the embedded server")?;
            Ok(BenchEnv {
                url: server.grpc_url(),
                http_url: server.registry_url(),
                dir,
                server: Some(server),
            })
        } else {
            Ok(BenchEnv { url: global.url.clone(), http_url: global.registry_url.clone(), dir, server: None })
        }
    }

    /// Where clients on path `via` connect; `kafka` is the listener when not embedded.
    fn endpoint(&self, via: Via, kafka: &str, properties: &[(String, String)]) -> anyhow::Result<Endpoint> {
        let kafka = match &self.server {
            Some(server) => {
                server.kafka_addr().context("the embedded server runs no Kafka listener")?.to_string()
            }
            None => kafka.to_owned(),
        };
        Ok(Endpoint {
            via,
            grpc: self.url.clone(),
            kafka,
            registry: self.http_url.clone(),
            properties: properties.to_vec(),
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        if let Some(server) = self.server {
            server.shutdown().await.context("embedded server shutdown failed")?;
        }
        drop(self.dir.temp);
        Ok(())
    }
}

fn fsync_config(policy: &str, config: &mut proto::TopicConfig) -> anyhow::Result<()> {
    match policy {
        "always" => config.fsync = proto::FsyncPolicy::Always as i32,
        "never" => config.fsync = proto::FsyncPolicy::Never as i32,
        ms => {
            let ms: u64 = ms
                .parse()
                .with_context(|| format!("--fsync: expected always, never or milliseconds, got `{ms}`"))?;
            config.fsync = proto::FsyncPolicy::Interval as i32;
            config.fsync_interval_ms = ms;
        }
    }
    Ok(())
}

/// Creates a fresh topic bound to `BenchUser`'s schema.
async fn create_topic(client: &Client, partitions: u32, settings: &TopicArgs) -> anyhow::Result<String> {
    let topic = format!("bench-{}-{}", std::process::id(), now_us());
    let validation: Validation = settings.validation.parse()?;
    let mut new = NewTopic::new(&topic).partitions(partitions).validation(validation);
    fsync_config(&settings.fsync, new.config_mut())?;
    client.register_schema(&format!("{topic}-value"), BenchUser::schema()).await?;
    client.create_topic(new).await?;
    Ok(topic)
}

/// Produces `args.records` records; returns the report and the topic.
async fn produce(env: &BenchEnv, args: &ProduceArgs) -> anyhow::Result<(Report, String)> {
    if args.producers == 0 || args.records == 0 || args.batch == 0 {
        bail!("--producers, --records and --batch must be at least 1");
    }
    let admin = Client::connect(env.url.clone()).await?;
    let topic = create_topic(&admin, args.partitions, &args.topic).await?;
    let sample = BenchUser::sample(args.topic.record_size);
    let record_bytes = runnel_avro::to_vec(&sample).len() + 5;
    // The disk baseline runs before and after the run, and the faster of the two is the
    // disk's: on a shared or virtual disk one measurement alone swings two- or threefold
    // (the previous run's files being written back or trimmed), which made the ratio
    // say more about the disk's moment than about the broker.
    let per_fsync = (args.batch * record_bytes).max(4096);
    let baseline_bytes = (args.records * record_bytes as u64).clamp(per_fsync as u64 * 16, 512 << 20);
    let disk_before =
        if args.no_baseline { None } else { Some(disk_baseline(env, baseline_bytes, per_fsync).await?) };

    let endpoint = env.endpoint(args.via, &args.kafka, &args.kafka_properties)?;
    let (stop_readers, stop) = tokio::sync::watch::channel(false);
    let mut readers = Vec::new();
    let reader_client = if args.slow_consumers > 0 { Some(endpoint.client().await?) } else { None };
    for client in std::iter::repeat_n(reader_client, args.slow_consumers).flatten() {
        let (topic, mut stop) = (topic.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut consumer =
                client.consumer::<BenchUser>(&topic).from(Position::Earliest).subscribe().await?;
            let mut seen = 0u64;
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    msg = consumer.next() => match msg {
                        Some(msg) => { msg?; }
                        None => break,
                    },
                }
                seen += 1;
                if seen.is_multiple_of(10) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            anyhow::Ok(seen)
        }));
    }

    let progress = Progress::new(args.records);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..args.producers {
        let count = args.records / args.producers as u64
            + u64::from((p as u64) < args.records % args.producers as u64);
        let endpoint = endpoint.clone();
        let topic = topic.clone();
        let sample = sample.clone();
        let (batch, linger, partitions) = (args.batch, args.linger_ms, args.partitions as usize);
        let progress = progress.clone();
        let send = args.send;
        tasks.push(tokio::spawn(async move {
            let client = endpoint.client().await?;
            let producer = client
                .producer::<BenchUser>(&topic)
                .batch_records(batch)
                .batch_bytes((batch * (record_bytes + 32)).max(1 << 16))
                .linger(Duration::from_millis(linger))
                .buffer_records(batch * partitions * 8)
                .create()
                .await?;
            let mut latencies = LatencyRecorder::new();
            if send == Send::Batch {
                return send_batches(&producer, sample, count, batch, partitions, &progress).await;
            }
            let mut in_flight = FuturesUnordered::new();
            // Half the producer's buffer: `send` then always finds room and hands the
            // record over at once, instead of waiting to be polled for room.
            let window = batch * partitions * 4;
            let mut record = sample;
            for i in 0..count {
                record.id = i as i64;
                let sent = Instant::now();
                let ack = producer.send(&record);
                in_flight.push(async move { ack.await.map(|_| sent.elapsed()) });
                if in_flight.len() >= window {
                    if let Some(r) = in_flight.next().await {
                        latencies.record(r?);
                        progress.inc(1);
                    }
                }
            }
            while let Some(r) = in_flight.next().await {
                latencies.record(r?);
                progress.inc(1);
            }
            producer.flush().await?;
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = LatencyRecorder::new();
    for t in tasks {
        latencies.merge(&t.await??);
    }
    let elapsed = start.elapsed();
    progress.finish();
    // The broker's memory while the slow readers still hold their positions.
    let broker_memory = broker_memory(&env.http_url).await;
    let _ = stop_readers.send(true);
    let mut slow_read = 0u64;
    for r in readers {
        slow_read += r.await??;
    }

    let total_bytes = args.records * record_bytes as u64;
    let mut report = Report::new("produce");
    report.set("via", args.via.name());
    report.set("records", args.records);
    report.set("record_bytes", record_bytes as u64);
    report.set("partitions", args.partitions);
    report.set("producers", args.producers as u64);
    report.set("batch", args.batch as u64);
    report.set("send", args.send.name());
    report.set("validation", args.topic.validation.clone());
    report.set("fsync", args.topic.fsync.clone());
    report.set("seconds", elapsed.as_secs_f64());
    report.set("records_per_sec", args.records as f64 / elapsed.as_secs_f64());
    let mb_per_sec = total_bytes as f64 / 1e6 / elapsed.as_secs_f64();
    report.set("mb_per_sec", mb_per_sec);
    report.latency(&latencies);
    if let Some(rss) = rss_mb() {
        report.set("process_rss_mb", rss);
    }
    if let Some((rss, peak)) = broker_memory {
        report.set("broker_rss_mb", rss);
        report.set("broker_peak_rss_mb", peak);
    }
    if args.slow_consumers > 0 {
        report.set("slow_consumers", args.slow_consumers as u64);
        report.set("slow_consumer_records_read", slow_read);
    }
    if let Some(before) = disk_before {
        let after = disk_baseline(env, baseline_bytes, per_fsync).await?;
        let disk = before.max(after);
        report.set("disk_baseline_bytes_per_fsync", per_fsync as u64);
        report.set("disk_baseline_before_mb_per_sec", before);
        report.set("disk_baseline_after_mb_per_sec", after);
        report.set("disk_baseline_mb_per_sec", disk);
        report.set("ratio_to_disk", mb_per_sec / disk);
    }
    Ok((report, topic))
}

/// The disk alone, in MB/s: `total` bytes appended with an fsync every `per_fsync` (the
/// same bytes per fsync as one full batch, and as many bytes as the run writes, bounded
/// so that the baseline does not dominate the run), in the run's data directory.
async fn disk_baseline(env: &BenchEnv, total: u64, per_fsync: usize) -> anyhow::Result<f64> {
    let dir = env.dir.path().join("disk-baseline");
    let disk = tokio::task::spawn_blocking(move || {
        disk::measure(&dir, total, per_fsync, &mut LatencyRecorder::new())
    })
    .await??;
    Ok(disk.mb_per_sec())
}

/// Sends `count` records in whole batches of `batch` (the last one shorter), up to
/// four batches per partition in flight; one latency sample per batch.
async fn send_batches(
    producer: &runnel_client::Producer<BenchUser>,
    sample: BenchUser,
    count: u64,
    batch: usize,
    partitions: usize,
    progress: &Progress,
) -> anyhow::Result<LatencyRecorder> {
    let mut latencies = LatencyRecorder::new();
    let mut in_flight = FuturesUnordered::new();
    let window = partitions * 4;
    let mut values = vec![sample; batch];
    let mut next_id = 0u64;
    while next_id < count {
        let n = (count - next_id).min(batch as u64) as usize;
        for (i, v) in values[..n].iter_mut().enumerate() {
            v.id = (next_id + i as u64) as i64;
        }
        next_id += n as u64;
        let sent = Instant::now();
        let ack = producer.send_batch(&values[..n]);
        in_flight.push(async move { ack.await.map(|r| (r.count, sent.elapsed())) });
        if in_flight.len() >= window {
            if let Some(r) = in_flight.next().await {
                let (n, latency) = r?;
                latencies.record(latency);
                progress.inc(u64::from(n));
            }
        }
    }
    while let Some(r) = in_flight.next().await {
        let (n, latency) = r?;
        latencies.record(latency);
        progress.inc(u64::from(n));
    }
    producer.flush().await?;
    Ok(latencies)
}

/// Produces, then reads everything back with one consumer and with a group.
async fn consume(env: &BenchEnv, args: &ConsumeArgs) -> anyhow::Result<Report> {
    let mut produce_args = args.produce.clone();
    produce_args.no_baseline = true;
    let (produced, topic) = produce(env, &produce_args).await?;
    let records = args.produce.records;
    let record_bytes = produced.get_f64("record_bytes").unwrap_or(0.0);

    let client =
        env.endpoint(args.produce.via, &args.produce.kafka, &args.produce.kafka_properties)?.client().await?;
    let single = read_back(&client, &topic, records).await?;
    let raw = read_back_raw(&client, &topic, records).await?;
    let batched = read_back_batches(&client, &topic, records).await?;

    let group = format!("bench-group-{}", now_us());
    let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut members = Vec::new();
    for _ in 0..args.consumers.max(1) {
        let client = client.clone();
        let (topic, group, counted) = (topic.clone(), group.clone(), counted.clone());
        members.push(tokio::spawn(async move {
            let mut consumer = client
                .consumer::<BenchUser>(&topic)
                .group(group)
                .from(Position::Earliest)
                .subscribe()
                .await?;
            while counted.load(std::sync::atomic::Ordering::Relaxed) < records {
                match tokio::time::timeout(Duration::from_millis(200), consumer.next()).await {
                    Ok(Some(msg)) => {
                        msg?;
                        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(None) => break,
                    Err(_) => {}
                }
            }
            // Leaves the group while the server (perhaps embedded) still
            // answers. The commit before may be refused, a member joining
            // late having started a rebalance; the benchmark commits nothing
            // it needs, and the close leaves the group all the same.
            let _ = consumer.close().await;
            anyhow::Ok(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while counted.load(std::sync::atomic::Ordering::Relaxed) < records && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let group_elapsed = start.elapsed();
    for m in members {
        m.await??;
    }
    let group_seen = counted.load(std::sync::atomic::Ordering::Relaxed);
    if group_seen < records {
        bail!("the group read {group_seen} of {} in 120 s", count(records, "record"));
    }

    let mut report = Report::new("consume");
    report.set("via", args.produce.via.name());
    report.set("records", records);
    report.set("record_bytes", record_bytes);
    report.set("partitions", args.produce.partitions);
    report.set("produce_records_per_sec", produced.get_f64("records_per_sec").unwrap_or(0.0));
    report.set("records_per_sec", records as f64 / single.as_secs_f64());
    report.set("mb_per_sec", records as f64 * record_bytes / 1e6 / single.as_secs_f64());
    report.set("raw_records_per_sec", records as f64 / raw.as_secs_f64());
    report.set("batch_records_per_sec", records as f64 / batched.as_secs_f64());
    report.set("group_consumers", args.consumers as u64);
    report.set("group_records_per_sec", records as f64 / group_elapsed.as_secs_f64());
    report.set("group_mb_per_sec", records as f64 * record_bytes / 1e6 / group_elapsed.as_secs_f64());
    Ok(report)
}

/// How long one consumer may take to read a topic back before the benchmark gives up:
/// generous (30 s plus 10 µs a record), checked once for the whole read rather than with
/// a timer per record, which would cost more than the read of a record.
fn read_limit(records: u64) -> Duration {
    Duration::from_secs(30) + Duration::from_micros(10 * records)
}

/// Reads `records` records of `topic` from the earliest offset with one
/// consumer (no group), decoding each; how long that took.
async fn read_back(client: &Client, topic: &str, records: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut consumer = client.consumer::<BenchUser>(topic).from(Position::Earliest).subscribe().await?;
    take_records(records, async || Some(consumer.next().await?.map(|_| 1).map_err(Into::into))).await?;
    let elapsed = start.elapsed();
    consumer.close().await?;
    Ok(elapsed)
}

/// As [`read_back`], a batch at a time (`Consumer::next_batch`, decoding into the
/// previous batch's values).
async fn read_back_batches(client: &Client, topic: &str, records: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut consumer = client.consumer::<BenchUser>(topic).from(Position::Earliest).subscribe().await?;
    let mut batch = Vec::new();
    take_records(records, async || match consumer.next_batch(&mut batch, 1000).await {
        Ok(0) => None,
        Ok(n) => Some(Ok(n as u64)),
        Err(e) => Some(Err(e.into())),
    })
    .await?;
    let elapsed = start.elapsed();
    consumer.close().await?;
    Ok(elapsed)
}

/// As [`read_back`], without decoding: the records as bytes (`RawConsumer`), what a
/// consumer that forwards or stores records reads.
async fn read_back_raw(client: &Client, topic: &str, records: u64) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let options = runnel_client::ConsumerOptions { from: Position::Earliest, ..Default::default() };
    let mut consumer = runnel_client::RawConsumer::subscribe(client, topic, options).await?;
    take_records(records, async || Some(consumer.next().await?.map(|_| 1).map_err(Into::into))).await?;
    let elapsed = start.elapsed();
    consumer.close().await?;
    Ok(elapsed)
}

/// Takes `records` records from `next`, which says how many each call took (`None`: the
/// stream ended), failing on the first error or after [`read_limit`].
async fn take_records(
    records: u64,
    mut next: impl AsyncFnMut() -> Option<anyhow::Result<u64>>,
) -> anyhow::Result<()> {
    let mut seen = 0u64;
    let read = async {
        while seen < records {
            match next().await {
                Some(taken) => seen += taken?,
                None => bail!("the consumer stream ended after {seen} of {}", count(records, "record")),
            }
        }
        anyhow::Ok(())
    };
    let limit = read_limit(records);
    tokio::time::timeout(limit, read)
        .await
        .map_err(|_| anyhow::anyhow!("read {seen} of {} in {limit:?}", count(records, "record")))?
}

/// A fixed rate with a consumer at the head; latency from `send` to delivery.
async fn e2e(env: &BenchEnv, args: &E2eArgs) -> anyhow::Result<Report> {
    if args.rate == 0 || args.seconds == 0 {
        bail!("--rate and --seconds must be at least 1");
    }
    let client = Client::connect(env.url.clone()).await?;
    let topic = create_topic(&client, args.partitions, &args.topic).await?;
    let total = args.rate * args.seconds;
    let mut consumer = client.consumer::<BenchUser>(&topic).from(Position::Earliest).subscribe().await?;
    let reader = tokio::spawn(async move {
        let mut latencies = LatencyRecorder::new();
        let mut seen = 0u64;
        while seen < total {
            match tokio::time::timeout(Duration::from_secs(30), consumer.next()).await {
                Ok(Some(msg)) => {
                    let msg = msg?;
                    let sent = msg.value().sent_us;
                    latencies.record(Duration::from_micros(now_us().saturating_sub(sent).max(0) as u64));
                    seen += 1;
                }
                Ok(None) => bail!("the consumer stream ended after {seen} of {}", count(total, "record")),
                Err(_) => bail!("no record for 30 s after {seen} of {}", count(total, "record")),
            }
        }
        anyhow::Ok(latencies)
    });
    let producer = client.producer::<BenchUser>(&topic).linger(Duration::from_millis(1)).create().await?;
    let mut record = BenchUser::sample(args.topic.record_size);
    // The target is "5 ms plus one fsync": sample what one small fsync costs in
    // the same directory while the run goes on (the disk's latency swings with
    // whatever else the machine writes).
    let fsync_probe = disk::FsyncProbe::start(env.dir.path().join("fsync-probe"), Duration::from_millis(10));
    // Send in ticks of 1 ms, each with its share of the rate.
    let start = Instant::now();
    let mut sent = 0u64;
    let mut acks = FuturesUnordered::new();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        while sent < due {
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
    let produce_elapsed = start.elapsed();
    let latencies = reader.await??;
    let fsync_latencies = fsync_probe.finish()?;
    let mut report = Report::new("e2e");
    report.set("records", total);
    report.set("target_rate", args.rate);
    report.set("records_per_sec", total as f64 / produce_elapsed.as_secs_f64());
    report.set(
        "mb_per_sec",
        total as f64 * (runnel_avro::to_vec(&record).len() + 5) as f64 / 1e6 / produce_elapsed.as_secs_f64(),
    );
    report.set("fsync", args.topic.fsync.clone());
    report.latency(&latencies);
    let fsync_p99 = fsync_latencies.summary()["p99"].as_f64().unwrap_or(0.0);
    report.set("fsync_probe_latency_ms", fsync_latencies.summary());
    report.set("target_p99_ms", 5.0 + fsync_p99);
    Ok(report)
}

/// The server's resident memory and its peak in MB, from its `/metrics`
/// (`None` when it does not say). With `--embedded` this is the benchmark's own
/// process, clients included.
async fn broker_memory(http_url: &str) -> Option<(f64, f64)> {
    let text =
        reqwest::get(format!("{}/metrics", http_url.trim_end_matches('/'))).await.ok()?.text().await.ok()?;
    let gauge = |name: &str| -> Option<f64> {
        let v: f64 =
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))?.trim().parse().ok()?;
        Some(v / (1024.0 * 1024.0))
    };
    Some((gauge("process_resident_memory_bytes")?, gauge("runnel_process_peak_resident_memory_bytes")?))
}

/// This process's resident memory, in MB (Linux).
fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A progress bar on a terminal; nothing otherwise.
#[derive(Clone)]
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(total: u64) -> Progress {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Progress(Some(bar))
        } else {
            Progress(None)
        }
    }

    fn inc(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
