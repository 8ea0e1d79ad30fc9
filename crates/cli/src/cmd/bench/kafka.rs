//! `runnel bench kafka`: the Kafka protocol against the gRPC path in one run,
//! against one server. The same typed records (`BenchUser`, Confluent-framed
//! Avro) are produced by `Producer<T>` and read back by `Consumer<T>` twice:
//! once over gRPC (`Client::connect`), once over the Kafka listener
//! (`Client::connect_kafka`, librdkafka), each path into its own fresh topic
//! with the same partitions, validation and fsync policy. Reported per path
//! and direction: records/s and MB/s, and the Kafka/gRPC ratios.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{FuturesUnordered, StreamExt};
use runnel_client::{Client, KafkaConfig, Position};
use serde_json::json;

use super::report::Report;
use super::{create_topic, BenchEnv, BenchUser, Target, TopicArgs};
use crate::cmd::count;

/// Arguments of `runnel bench kafka`.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    #[command(flatten)]
    target: Target,
    /// The Kafka listener to use without --embedded.
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka: String,
    /// Records to produce and fetch on each path.
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Partitions of each benchmark topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Records per batch (both paths).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How long a producer waits to fill a batch (both paths).
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    #[command(flatten)]
    topic: TopicArgs,
}

/// One path's measurements.
struct PathResult {
    produce: Duration,
    fetch: Duration,
}

/// Runs the comparison.
pub async fn run(global: &crate::Global, args: &KafkaArgs) -> anyhow::Result<Report> {
    if args.records == 0 || args.batch == 0 || args.partitions == 0 {
        bail!("--records, --batch and --partitions must be at least 1");
    }
    let env = BenchEnv::start(global, &args.target).await?;
    let result = compare(global, &env, args).await;
    env.stop().await?;
    result
}

async fn compare(global: &crate::Global, env: &BenchEnv, args: &KafkaArgs) -> anyhow::Result<Report> {
    let (bootstrap, registry_url) = match &env.server {
        Some(server) => (
            server.kafka_addr().context("the embedded server runs no Kafka listener")?.to_string(),
            server.registry_url(),
        ),
        None => (args.kafka.clone(), global.registry_url.clone()),
    };
    let grpc = Client::connect(env.url.clone()).await?;
    let kafka = Client::connect_kafka(KafkaConfig::new(&bootstrap, &registry_url))
        .await
        .with_context(|| format!("cannot use the Kafka listener at {bootstrap}"))?;
    let sample = BenchUser::sample(args.topic.record_size);
    let record_bytes = (runnel_avro::to_vec(&sample).len() + 5) as f64;

    let grpc_topic = create_topic(&grpc, args.partitions, &args.topic).await?;
    let over_grpc = round_trip(&grpc, &grpc_topic, args, &sample).await.context("over gRPC")?;
    let kafka_topic = create_topic(&grpc, args.partitions, &args.topic).await?;
    let over_kafka = round_trip(&kafka, &kafka_topic, args, &sample).await.context("over Kafka")?;

    let n = args.records as f64;
    let rates = |d: Duration| {
        let secs = d.as_secs_f64();
        json!({ "records_per_sec": n / secs, "mb_per_sec": n * record_bytes / 1e6 / secs, "seconds": secs })
    };
    let ratio = |kafka: Duration, grpc: Duration| grpc.as_secs_f64() / kafka.as_secs_f64();
    let mut report = Report::new("kafka");
    report.set("records", args.records);
    report.set("record_bytes", record_bytes);
    report.set("partitions", args.partitions);
    report.set("batch", args.batch as u64);
    report.set("validation", args.topic.validation.clone());
    report.set("fsync", args.topic.fsync.clone());
    report.set("grpc_produce", rates(over_grpc.produce));
    report.set("kafka_produce", rates(over_kafka.produce));
    report.set("grpc_fetch", rates(over_grpc.fetch));
    report.set("kafka_fetch", rates(over_kafka.fetch));
    report.set(
        "ratio_kafka_to_grpc",
        json!({
            "produce": ratio(over_kafka.produce, over_grpc.produce),
            "fetch": ratio(over_kafka.fetch, over_grpc.fetch),
        }),
    );
    Ok(report)
}

/// Produces `args.records` typed records into `topic` through `client`, then
/// reads them all back from the earliest offset.
async fn round_trip(
    client: &Client,
    topic: &str,
    args: &KafkaArgs,
    sample: &BenchUser,
) -> anyhow::Result<PathResult> {
    let record_bytes = runnel_avro::to_vec(sample).len() + 5;
    let partitions = args.partitions as usize;
    let producer = client
        .producer::<BenchUser>(topic)
        .batch_records(args.batch)
        .batch_bytes((args.batch * (record_bytes + 32)).max(1 << 16))
        .linger(Duration::from_millis(args.linger_ms))
        .buffer_records(args.batch * partitions * 8)
        .create()
        .await?;
    let start = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    // Half the buffer: a send always finds room (see `produce` in mod.rs).
    let window = args.batch * partitions * 4;
    let mut record = sample.clone();
    for i in 0..args.records {
        record.id = i as i64;
        in_flight.push(producer.send(&record));
        if in_flight.len() >= window {
            if let Some(r) = in_flight.next().await {
                r?;
            }
        }
    }
    while let Some(r) = in_flight.next().await {
        r?;
    }
    producer.flush().await?;
    let produce = start.elapsed();

    let start = Instant::now();
    let mut consumer = client.consumer::<BenchUser>(topic).from(Position::Earliest).subscribe().await?;
    let mut seen = 0u64;
    while seen < args.records {
        match tokio::time::timeout(Duration::from_secs(30), consumer.next()).await {
            Ok(Some(msg)) => {
                msg?;
                seen += 1;
            }
            Ok(None) => bail!("the consumer stream ended after {seen} of {}", count(args.records, "record")),
            Err(_) => bail!("no record for 30 s after {seen} of {}", count(args.records, "record")),
        }
    }
    let fetch = start.elapsed();
    Ok(PathResult { produce, fetch })
}
