//! `runnel topic ...` through the real binary against a `runnel serve` child.

mod common;

use common::{one_line_error, stdout_json, Server};

const USER_AVSC: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_lifecycle_create_with_schema_list_describe_delete() {
    let server = Server::start(&[]);
    let files = tempfile::tempdir().expect("tempdir");
    let avsc = files.path().join("user.avsc");
    std::fs::write(&avsc, USER_AVSC).expect("schema file");
    let avsc = avsc.to_str().expect("utf-8 path");

    let created = stdout_json(
        &server
            .run(&["topic", "create", "users", "--partitions", "3", "--schema", avsc, "--output", "json"])
            .await,
    );
    assert_eq!(created["name"], "users");
    assert_eq!(created["partitions"].as_array().map(Vec::len), Some(3));
    assert_eq!(created["schema"]["subject"], "users-value");
    assert_eq!(created["schema"]["version"], 1);

    let listed = stdout_json(&server.run(&["topic", "list", "--output", "json"]).await);
    let names: Vec<&str> =
        listed.as_array().expect("array").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, vec!["users"]);

    let text = server.run(&["topic", "describe", "users"]).await;
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("users-value") && text.contains("partitions:    3"), "{text}");

    let deleted = server.run(&["topic", "delete", "users"]).await;
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let stderr = one_line_error(&server.run(&["topic", "describe", "users"]).await);
    assert!(stderr.contains("unknown topic `users`"), "{stderr}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_an_existing_topic_fails_unless_if_not_exists() {
    let server = Server::start(&[]);
    assert!(server.run(&["topic", "create", "t", "--validation", "none"]).await.status.success());
    let again = server.run(&["topic", "create", "t"]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(server.run(&["topic", "create", "t", "--if-not-exists"]).await.status.success());
    let bad = server.run(&["topic", "create", "u", "--validation", "strict"]).await;
    assert!(!bad.status.success());
    server.shutdown();
}
