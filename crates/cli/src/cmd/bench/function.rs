//! `runnel bench function`: a pass-through Rust function (`runnel_client::function`)
//! against plain typed produce, in one run on one server. First `bench produce`
//! writes the input (the baseline: durable, validated typed produce); then a
//! function copies the input to a fresh topic of the same schema, once effectively
//! once and once at least once, each from the start of the input. A function's time
//! runs from its start until its group's committed offsets cover the whole input
//! (its outputs are then stored, and committed when effectively once). Reported:
//! records/s of each, and their ratios to the produce baseline.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use runnel_client::function::{Context, FunctionError, Guarantee};
use runnel_client::Client;
use serde_json::json;

use super::report::Report;
use super::{create_topic, produce, BenchEnv, BenchUser, ProduceArgs, Target, TopicArgs, Via};

/// Arguments of `runnel bench function`.
#[derive(Debug, Clone, clap::Args)]
pub struct FunctionArgs {
    #[command(flatten)]
    target: Target,
    /// Input records (produced first, then processed by each function).
    #[arg(long, default_value_t = 200_000)]
    records: u64,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Records per produce batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Most records per function turn (the function's `.batch(n)`).
    #[arg(long, default_value_t = 10_000)]
    turn: usize,
    #[command(flatten)]
    topic: TopicArgs,
}

/// Runs the comparison.
pub async fn run(global: &crate::Global, args: &FunctionArgs) -> anyhow::Result<Report> {
    if args.records == 0 || args.batch == 0 || args.partitions == 0 {
        bail!("--records, --batch and --partitions must be at least 1");
    }
    let env = BenchEnv::start(global, &args.target).await?;
    let result = compare(&env, args).await;
    env.stop().await?;
    result
}

async fn compare(env: &BenchEnv, args: &FunctionArgs) -> anyhow::Result<Report> {
    let produce_args = ProduceArgs {
        target: args.target.clone(),
        via: Via::Grpc,
        kafka: String::new(),
        kafka_properties: Vec::new(),
        records: args.records,
        partitions: args.partitions,
        batch: args.batch,
        send: super::Send::Record,
        producers: 1,
        topic: args.topic.clone(),
        linger_ms: 5,
        no_baseline: true,
        slow_consumers: 0,
    };
    let (produced, input) = produce(env, &produce_args).await?;
    let produce_secs = produced.get_f64("seconds").context("the produce report has no duration")?;
    let client = Client::connect(env.url.clone()).await?;
    let exactly = pass_through(&client, args, &input, Guarantee::EffectivelyOnce).await?;
    let at_least = pass_through(&client, args, &input, Guarantee::AtLeastOnce).await?;

    let n = args.records as f64;
    let rate = |secs: f64| json!({ "records_per_sec": n / secs, "seconds": secs });
    let mut report = Report::new("function");
    report.set("records", args.records);
    report.set("partitions", args.partitions);
    report.set("batch", args.batch as u64);
    report.set("turn", args.turn as u64);
    report.set("validation", args.topic.validation.clone());
    report.set("fsync", args.topic.fsync.clone());
    report.set("produce", rate(produce_secs));
    report.set("effectively_once", rate(exactly.as_secs_f64()));
    report.set("at_least_once", rate(at_least.as_secs_f64()));
    report.set(
        "ratio_to_produce",
        json!({
            "effectively_once": produce_secs / exactly.as_secs_f64(),
            "at_least_once": produce_secs / at_least.as_secs_f64(),
        }),
    );
    Ok(report)
}

/// Copies `input` to a fresh topic with `guarantee`; the time until every input
/// offset is committed by the function's group.
async fn pass_through(
    client: &Client,
    args: &FunctionArgs,
    input: &str,
    guarantee: Guarantee,
) -> anyhow::Result<Duration> {
    let output = create_topic(client, args.partitions, &args.topic).await?;
    let name = format!("bench-fn-{}-{}", guarantee.as_str(), std::process::id());
    let ends = client.list_offsets(input, &[], runnel_client::Position::Latest).await?;
    let total: i64 = ends.iter().map(|(_, o)| o).sum();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let function = client
        .function::<BenchUser, BenchUser>(name.clone())
        .input(input)
        .output(output)
        .guarantee(guarantee)
        .batch(args.turn)
        .run_until(|user: BenchUser, _: &mut Context<'_>| Ok::<_, FunctionError>(Some(user)), async move {
            let _ = stop_rx.await;
        });
    let start = Instant::now();
    let running = tokio::spawn(function);
    let group = format!("__function.{name}");
    loop {
        if running.is_finished() {
            running.await??;
            bail!("the function {name} stopped before the end of its input");
        }
        let committed: i64 = client.committed_offsets(&group, input).await?.iter().map(|(_, o)| o).sum();
        if committed >= total {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("the function {name} committed {committed} of {total} offsets in 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    let _ = stop_tx.send(());
    running.await??;
    Ok(took)
}
