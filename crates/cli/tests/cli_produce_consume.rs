//! `runnel produce` and `runnel consume` through the real binary against a
//! `runnel serve` child: Avro-JSON in, one JSON object per record out.

mod common;

use common::{stdout, stdout_lines as lines, Server};
use serde_json::{json, Value};

const USER_AVSC: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"int"},
    {"name":"email","type":["null","string"],"default":null}]}"#;

/// A server with topic `users` (2 partitions) bound to the User schema, and a
/// directory for schema files.
async fn setup() -> (tempfile::TempDir, Server) {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let avsc = dir.path().join("user.avsc");
    std::fs::write(&avsc, USER_AVSC).expect("schema file");
    let avsc = avsc.to_str().expect("utf-8 path").to_owned();
    stdout(&server.run(&["topic", "create", "users", "--partitions", "2", "--schema", &avsc]).await);
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
        server.run_with_input(&["produce", "users", "--key-field", "name", "--output", "json"], &input).await;
    let summary: Value = serde_json::from_str(&stdout(&summary)).expect("JSON summary");
    assert_eq!(summary["count"], 3);
    let schema_id = summary["schema_id"].clone();

    let records = lines(&server.run(&["consume", "users", "--max", "3"]).await);
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
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_stops_after_the_timeout_and_a_group_resumes_where_it_stopped() {
    let (_dir, server) = setup().await;
    let input = DATUMS.join("\n");
    stdout(&server.run_with_input(&["produce", "users", "--partition", "0"], &input).await);

    // Without --max, the timeout ends the command once the records are read.
    let all = lines(&server.run(&["consume", "users", "--timeout-ms", "700"]).await);
    assert_eq!(all.len(), 3);

    let first = lines(&server.run(&["consume", "users", "--group", "g", "--max", "2"]).await);
    assert_eq!(first.iter().map(|r| r["offset"].clone()).collect::<Vec<_>>(), vec![json!(0), json!(1)]);
    let rest = lines(&server.run(&["consume", "users", "--group", "g", "--timeout-ms", "700"]).await);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["offset"], 2);
    assert_eq!(rest[0]["value"]["name"], "cy");

    let from = lines(&server.run(&["consume", "users", "--from", "1", "--max", "1"]).await);
    assert_eq!(from[0]["offset"], 1);
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_reports_the_bad_line_and_foreign_schema_ids_are_refused() {
    let (dir, server) = setup().await;
    let input = format!("{}\n{{\"name\":\"x\"}}\n{}\n", DATUMS[0], DATUMS[1]);
    let out = server.run_with_input(&["produce", "users"], &input).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one-line error: {stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    // Only the error: no summary, and the line before it counted in the error.
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.trim_end().ends_with("(1 record acknowledged)"), "{stderr}");

    // A schema registered under another subject is not this topic's.
    let other = dir.path().join("other.avsc");
    std::fs::write(&other, r#"{"type":"record","name":"Other","fields":[{"name":"n","type":"long"}]}"#)
        .expect("schema file");
    let registered = stdout(
        &server
            .run(&[
                "topic",
                "create",
                "others",
                "--schema",
                other.to_str().expect("path"),
                "--output",
                "json",
            ])
            .await,
    );
    let id = serde_json::from_str::<Value>(&registered).expect("JSON")["schema"]["id"].to_string();
    let out = server.run_with_input(&["produce", "users", "--schema-id", &id], "{\"n\": 5}\n").await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("acknowledged"));
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_count_in_words() {
    let (_dir, server) = setup().await;
    let out = stdout(&server.run_with_input(&["produce", "users", "--partition", "1"], DATUMS[0]).await);
    let schema_id = lines(&server.run(&["consume", "users", "--max", "1"]).await)[0]["schema_id"].clone();
    assert_eq!(
        out,
        format!(
            "produced 1 record to users with schema id {schema_id}\n  partition 1: 1 record, offsets 0..=0\n"
        )
    );
    let out = stdout(
        &server.run_with_input(&["produce", "users", "--partition", "1"], &DATUMS[1..].join("\n")).await,
    );
    assert!(
        out.starts_with("produced 2 records to users")
            && out.contains("partition 1: 2 records, offsets 1..=2"),
        "{out}"
    );
    let listed = stdout(&server.run(&["topic", "list"]).await);
    assert!(listed.starts_with("users\t2 partitions\t"), "{listed}");
    server.shutdown();
}

/// `runnel consume ARGS`, which must end by itself: a hang fails the test instead of stalling it.
async fn consume_to_the_end(server: &Server, args: &[&str]) -> Vec<Value> {
    let run = server.run(args);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), run).await;
    lines(&out.unwrap_or_else(|_| panic!("runnel {args:?} did not stop at the end")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_exit_at_end_stops_at_the_end_offsets_of_the_start() {
    let (_dir, server) = setup().await;
    // Partition 0 holds the three records; partition 1 none: it is at its end from the start.
    stdout(&server.run_with_input(&["produce", "users", "--partition", "0"], &DATUMS.join("\n")).await);

    let all = consume_to_the_end(
        &server,
        &["consume", "users", "--from", "earliest", "--exit-at-end", "--max", "10"],
    )
    .await;
    assert_eq!(
        all.iter().map(|r| r["offset"].clone()).collect::<Vec<_>>(),
        vec![json!(0), json!(1), json!(2)]
    );
    let one = consume_to_the_end(
        &server,
        &["consume", "users", "--partition", "0", "--from", "2", "--exit-at-end"],
    )
    .await;
    assert_eq!(one.len(), 1);
    assert!(consume_to_the_end(&server, &["consume", "users", "--from", "latest", "--exit-at-end"])
        .await
        .is_empty());

    // A group starts at its commits: at the end, it stops at once.
    let first = lines(&server.run(&["consume", "users", "--group", "g", "--max", "2"]).await);
    assert_eq!(first.len(), 2);
    let rest = consume_to_the_end(&server, &["consume", "users", "--group", "g", "--exit-at-end"]).await;
    assert_eq!(rest.iter().map(|r| r["value"]["name"].clone()).collect::<Vec<_>>(), vec![json!("cy")]);
    assert!(consume_to_the_end(&server, &["consume", "users", "--group", "g", "--exit-at-end"])
        .await
        .is_empty());
    let fresh = consume_to_the_end(&server, &["consume", "users", "--group", "other", "--exit-at-end"]).await;
    assert_eq!(fresh.len(), 3);

    let out = server.run(&["consume", "users", "--subscription", "s", "--exit-at-end"]).await;
    assert!(common::error(&out).contains("--exit-at-end cannot be used with a subscription"));
    server.shutdown();
}
