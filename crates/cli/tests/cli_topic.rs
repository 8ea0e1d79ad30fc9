//! `runnel topic ...` through the real binary against an in-process server.

use std::process::Output;

use runnel_broker::{RunningServer, ServerConfig};
use serde_json::Value;

const USER_AVSC: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;

async fn runnel(server: &RunningServer, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(args)
        .env("RUNNEL_URL", server.grpc_url())
        .env("RUNNEL_REGISTRY_URL", server.registry_url())
        .output()
        .await
        .expect("runnel runs")
}

fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_lifecycle_create_with_schema_list_describe_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server =
        runnel_broker::start(ServerConfig::ephemeral(dir.path().join("data"))).await.expect("server");
    let avsc = dir.path().join("user.avsc");
    std::fs::write(&avsc, USER_AVSC).expect("schema file");
    let avsc = avsc.to_str().expect("utf-8 path");

    let created = stdout_json(
        &runnel(
            &server,
            &["topic", "create", "users", "--partitions", "3", "--schema", avsc, "--output", "json"],
        )
        .await,
    );
    assert_eq!(created["name"], "users");
    assert_eq!(created["partitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(created["schema"]["subject"], "users-value");
    assert_eq!(created["schema"]["version"], 1);

    let listed = stdout_json(&runnel(&server, &["topic", "list", "--output", "json"]).await);
    let names: Vec<&str> =
        listed.as_array().expect("array").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, vec!["users"]);

    let text = runnel(&server, &["topic", "describe", "users"]).await;
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("users-value") && text.contains("partitions:    3"), "{text}");

    let deleted = runnel(&server, &["topic", "delete", "users"]).await;
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let missing = runnel(&server, &["topic", "describe", "users"]).await;
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "one-line error: {stderr}");
    assert!(stderr.contains("unknown topic `users`"), "{stderr}");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_existing_topic_fails_unless_if_not_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = runnel_broker::start(ServerConfig::ephemeral(dir.path())).await.expect("server");
    assert!(runnel(&server, &["topic", "create", "t", "--validation", "none"]).await.status.success());
    let again = runnel(&server, &["topic", "create", "t"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(runnel(&server, &["topic", "create", "t", "--if-not-exists"]).await.status.success());
    let bad = runnel(&server, &["topic", "create", "u", "--validation", "strict"]).await;
    assert!(!bad.status.success());
    server.shutdown().await.expect("shutdown");
}
