//! `runnel produce` and `runnel consume` through the real binary against an
//! in-process server: Avro-JSON in, one JSON object per record out.

use std::process::{Output, Stdio};

use runnel_broker::{RunningServer, ServerConfig};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const USER_AVSC: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"int"},
    {"name":"email","type":["null","string"],"default":null}]}"#;

async fn runnel(server: &RunningServer, args: &[&str], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .env("RUNNEL_URL", server.grpc_url())
        .env("RUNNEL_REGISTRY_URL", server.registry_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runnel starts");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).await.expect("write stdin");
    drop(input);
    child.wait_with_output().await.expect("runnel runs")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

fn lines(out: &Output) -> Vec<Value> {
    ok(out).lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect()
}

/// A server with topic `users` (2 partitions) bound to the User schema.
async fn setup() -> (tempfile::TempDir, RunningServer) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server =
        runnel_broker::start(ServerConfig::ephemeral(dir.path().join("data"))).await.expect("server");
    let avsc = dir.path().join("user.avsc");
    std::fs::write(&avsc, USER_AVSC).expect("schema file");
    let avsc = avsc.to_str().expect("utf-8 path").to_owned();
    ok(&runnel(&server, &["topic", "create", "users", "--partitions", "2", "--schema", &avsc], "").await);
    (dir, server)
}

const DATUMS: [&str; 3] = [
    r#"{"name":"ada","age":36,"email":{"string":"ada@example.com"}}"#,
    r#"{"name":"bob","age":41,"email":null}"#,
    r#"{"name":"cy","age":7,"email":null}"#,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_avro_json_lines_come_back_as_json_records() {
    let (_dir, server) = setup().await;
    let input = format!("{}\n\n{}\n{}\n", DATUMS[0], DATUMS[1], DATUMS[2]);
    let summary =
        runnel(&server, &["produce", "users", "--key-field", "name", "--output", "json"], &input).await;
    let summary: Value = serde_json::from_str(&ok(&summary)).expect("JSON summary");
    assert_eq!(summary["count"], 3);
    let schema_id = summary["schema_id"].clone();

    let records = lines(&runnel(&server, &["consume", "users", "--max", "3"], "").await);
    assert_eq!(records.len(), 3);
    let mut by_key: Vec<(String, Value)> = records
        .iter()
        .map(|r| {
            assert_eq!(r["schema_id"], schema_id);
            assert!(r["timestamp"].as_i64().is_some_and(|t| t > 0));
            assert!(r["partition"].as_u64().is_some_and(|p| p < 2));
            assert!(r["offset"].as_i64().is_some());
            (r["key"].as_str().expect("string key").to_owned(), r["value"].clone())
        })
        .collect();
    by_key.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, Value)> = DATUMS
        .iter()
        .map(|d| {
            let v: Value = serde_json::from_str(d).expect("datum");
            (v["name"].as_str().expect("name").to_owned(), v)
        })
        .collect();
    assert_eq!(by_key, expected);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_stops_after_the_timeout_and_a_group_resumes_where_it_stopped() {
    let (_dir, server) = setup().await;
    let input = DATUMS.join("\n");
    ok(&runnel(&server, &["produce", "users", "--partition", "0"], &input).await);

    // Without --max, the timeout ends the command once the records are read.
    let all = lines(&runnel(&server, &["consume", "users", "--timeout-ms", "700"], "").await);
    assert_eq!(all.len(), 3);

    let first = lines(&runnel(&server, &["consume", "users", "--group", "g", "--max", "2"], "").await);
    assert_eq!(first.iter().map(|r| r["offset"].clone()).collect::<Vec<_>>(), vec![json!(0), json!(1)]);
    let rest =
        lines(&runnel(&server, &["consume", "users", "--group", "g", "--timeout-ms", "700"], "").await);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["offset"], 2);
    assert_eq!(rest[0]["value"]["name"], "cy");

    let from = lines(&runnel(&server, &["consume", "users", "--from", "1", "--max", "1"], "").await);
    assert_eq!(from[0]["offset"], 1);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_reports_the_bad_line_and_foreign_schema_ids_are_refused() {
    let (dir, server) = setup().await;
    let input = format!("{}\n{{\"name\":\"x\"}}\n{}\n", DATUMS[0], DATUMS[1]);
    let out = runnel(&server, &["produce", "users"], &input).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one-line error: {stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");

    // A schema registered under another subject is not this topic's.
    let other = dir.path().join("other.avsc");
    std::fs::write(&other, r#"{"type":"record","name":"Other","fields":[{"name":"n","type":"long"}]}"#)
        .expect("schema file");
    let registered = ok(&runnel(
        &server,
        &["topic", "create", "others", "--schema", other.to_str().expect("path"), "--output", "json"],
        "",
    )
    .await);
    let id = serde_json::from_str::<Value>(&registered).expect("JSON")["schema"]["id"].to_string();
    let out = runnel(&server, &["produce", "users", "--schema-id", &id], "{\"n\": 5}\n").await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.shutdown().await.expect("shutdown");
}
