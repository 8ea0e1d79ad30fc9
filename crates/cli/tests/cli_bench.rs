//! `runnel bench ... --via kafka` through the real binary, small enough to run
//! in seconds: the Kafka path's producers and consumers (librdkafka through the
//! embedded server's Kafka listener) deliver and read back every record, and
//! the reports say which path they measured; `bench function`'s functions
//! process the whole input with each guarantee.
//!
//! The benchmark runs on one async worker thread (`TOKIO_WORKER_THREADS=1`),
//! as on a one-core machine: the embedded server and the clients then share
//! that thread, so a client call that blocks it (closing a librdkafka consumer
//! on it once did) stops the server answering and the run hangs, which fails
//! the test (see `common::COMMAND_LIMIT`) instead of passing on a machine
//! with threads to spare.

mod common;

use common::{run_with_input, RUNNEL};
use serde_json::Value;

/// Runs `runnel --output json bench ARGS` and returns its one-line report.
async fn bench(args: &[&str]) -> Value {
    let mut cmd = tokio::process::Command::new(RUNNEL);
    cmd.args(["--output", "json", "bench"]).args(args).env("TOKIO_WORKER_THREADS", "1");
    let out = run_with_input(cmd, "").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "runnel bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().expect("a report line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("report is not JSON ({e}): {line}"))
}

fn rate(report: &Value, key: &str) -> f64 {
    report[key].as_f64().unwrap_or_else(|| panic!("no `{key}` in {report}"))
}

#[tokio::test]
async fn consume_via_kafka_reads_back_every_record_with_one_consumer_and_a_group() {
    let report = bench(&[
        "consume",
        "--embedded",
        "--via",
        "kafka",
        "--records",
        "3000",
        "--partitions",
        "2",
        "--batch",
        "100",
        "--consumers",
        "2",
    ])
    .await;
    assert_eq!(report["via"], "kafka");
    assert_eq!(report["records"], 3000);
    // The single read and the group read each count exactly the records produced
    // (fewer fails the run), so a rate means they all arrived.
    assert!(rate(&report, "records_per_sec") > 0.0);
    assert!(rate(&report, "group_records_per_sec") > 0.0);
}

#[tokio::test]
async fn bench_kafka_compares_both_paths_in_one_run() {
    let report =
        bench(&["kafka", "--embedded", "--records", "2000", "--partitions", "2", "--batch", "100"]).await;
    for path in ["grpc_produce", "kafka_produce", "grpc_fetch", "kafka_fetch"] {
        assert!(report[path]["records_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{path} in {report}");
    }
    assert!(report["ratio_kafka_to_grpc"]["fetch"].as_f64().is_some_and(|r| r > 0.0));
}

#[tokio::test]
async fn bench_function_processes_the_whole_input_with_each_guarantee() {
    let report =
        bench(&["function", "--embedded", "--records", "2000", "--partitions", "2", "--batch", "100"]).await;
    for path in ["produce", "effectively_once", "at_least_once"] {
        assert!(report[path]["records_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{path} in {report}");
    }
    assert!(report["ratio_to_produce"]["effectively_once"].as_f64().is_some_and(|r| r > 0.0), "{report}");
}
