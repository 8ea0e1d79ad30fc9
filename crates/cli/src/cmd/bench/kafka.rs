//! `runnel bench kafka`: the Kafka protocol against the gRPC path in one run,
//! against one server: `bench produce` and `bench consume`'s single-consumer
//! read, once `--via grpc` and once `--via kafka`. The same typed records
//! (`BenchUser`, Confluent-framed Avro) are produced by `Producer<T>` and read
//! back by `Consumer<T>`: over gRPC (`Client::connect`), then over the Kafka
//! listener (`Client::connect_kafka`, librdkafka), each path into its own fresh
//! topic with the same partitions, validation and fsync policy. Reported per
//! path and direction: records/s and MB/s, and the Kafka/gRPC ratios.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;

use super::report::Report;
use super::{produce, read_back, BenchEnv, ProduceArgs, Target, TopicArgs, Via};

/// Arguments of `runnel bench kafka`.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    #[command(flatten)]
    target: Target,
    /// The Kafka listener to use without --embedded.
    #[arg(long, default_value = "127.0.0.1:9092")]
    kafka: String,
    /// A librdkafka property over the client's own settings (repeatable).
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = crate::cmd::connection::parse_property)]
    kafka_properties: Vec<(String, String)>,
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
    let result = compare(&env, args).await;
    env.stop().await?;
    result
}

async fn compare(env: &BenchEnv, args: &KafkaArgs) -> anyhow::Result<Report> {
    let over_grpc = round_trip(env, args, Via::Grpc).await.context("over gRPC")?;
    let over_kafka = round_trip(env, args, Via::Kafka).await.context("over Kafka")?;
    let record_bytes = over_grpc.1;
    let (over_grpc, over_kafka) = (over_grpc.0, over_kafka.0);

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

/// `bench produce --via VIA` into a fresh topic, then `bench consume`'s
/// single consumer over the same path; the two durations and the record size.
async fn round_trip(env: &BenchEnv, args: &KafkaArgs, via: Via) -> anyhow::Result<(PathResult, f64)> {
    let produce_args = ProduceArgs {
        target: args.target.clone(),
        via,
        kafka: args.kafka.clone(),
        kafka_properties: args.kafka_properties.clone(),
        records: args.records,
        partitions: args.partitions,
        batch: args.batch,
        send: super::Send::Record,
        producers: 1,
        topic: args.topic.clone(),
        linger_ms: args.linger_ms,
        no_baseline: true,
        slow_consumers: 0,
    };
    let (produced, topic) = produce(env, &produce_args).await?;
    let seconds = produced.get_f64("seconds").context("the produce report has no duration")?;
    let record_bytes = produced.get_f64("record_bytes").unwrap_or(0.0);
    let client = env.endpoint(via, &args.kafka, &args.kafka_properties)?.client().await?;
    let fetch = read_back(&client, &topic, args.records).await?;
    Ok((PathResult { produce: Duration::from_secs_f64(seconds), fetch }, record_bytes))
}
