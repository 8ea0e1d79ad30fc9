//! `runnel bench ... --via kafka` through the real binary, small enough to run
//! in seconds: the Kafka path's producers and consumers (librdkafka through the
//! embedded server's Kafka listener) deliver and read back every record, and
//! the reports say which path they measured.

mod common;

use std::process::Command;

use common::RUNNEL;
use serde_json::Value;

/// Runs `runnel --output json bench ARGS` and returns its one-line report.
fn bench(args: &[&str]) -> Value {
    let out = Command::new(RUNNEL)
        .args(["--output", "json", "bench"])
        .args(args)
        .output()
        .expect("run runnel bench");
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

#[test]
fn consume_via_kafka_reads_back_every_record_with_one_consumer_and_a_group() {
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
    ]);
    assert_eq!(report["via"], "kafka");
    assert_eq!(report["records"], 3000);
    // The single read and the group read each count exactly the records produced
    // (fewer fails the run), so a rate means they all arrived.
    assert!(rate(&report, "records_per_sec") > 0.0);
    assert!(rate(&report, "group_records_per_sec") > 0.0);
}

#[test]
fn bench_kafka_compares_both_paths_in_one_run() {
    let report = bench(&["kafka", "--embedded", "--records", "2000", "--partitions", "2", "--batch", "100"]);
    for path in ["grpc_produce", "kafka_produce", "grpc_fetch", "kafka_fetch"] {
        assert!(report[path]["records_per_sec"].as_f64().is_some_and(|r| r > 0.0), "{path} in {report}");
    }
    assert!(report["ratio_kafka_to_grpc"]["fetch"].as_f64().is_some_and(|r| r > 0.0));
}
