//! Compatibility levels over the REST API: for each level a schema it accepts and
//! one it refuses, the 409 body naming every problem with its path, and the
//! `/compatibility` endpoint.

mod common;

use common::{user, Server};
use serde_json::json;

const A: &str = r#"{"name":"a","type":"string"}"#;
const B: &str = r#"{"name":"b","type":"int"}"#;
const B_DEFAULT: &str = r#"{"name":"b","type":"int","default":0}"#;
const C: &str = r#"{"name":"c","type":"int"}"#;
const C_DEFAULT: &str = r#"{"name":"c","type":"int","default":0}"#;

/// Registers `history` under a fresh subject with level NONE, then sets `level`
/// and tries `candidate`: returns the status and body.
async fn try_after(
    server: &Server,
    subject: &str,
    level: &str,
    history: &[String],
    candidate: &str,
) -> common::Reply {
    server.set_level(subject, "NONE").await;
    for schema in history {
        server.register_ok(subject, schema).await;
    }
    server.set_level(subject, level).await;
    server.register(subject, candidate).await
}

#[tokio::test]
async fn every_level_accepts_a_compatible_schema_and_refuses_an_incompatible_one() {
    let server = Server::start().await;
    let base = user(&[A, B]);
    let add_required = user(&[A, B, C]);
    let add_optional = user(&[A, B, C_DEFAULT]);
    let drop_required = user(&[A]);
    let retyped = user(&[r#"{"name":"a","type":"int"}"#, B]);
    // (level, accepted, refused) against a single previous version.
    let cases = [
        ("NONE", retyped.clone(), None),
        ("BACKWARD", drop_required.clone(), Some(add_required.clone())),
        ("FORWARD", add_required.clone(), Some(drop_required.clone())),
        ("FULL", add_optional.clone(), Some(add_required.clone())),
        ("BACKWARD_TRANSITIVE", drop_required.clone(), Some(retyped.clone())),
        ("FORWARD_TRANSITIVE", add_required.clone(), Some(retyped.clone())),
        ("FULL_TRANSITIVE", add_optional.clone(), Some(drop_required.clone())),
    ];
    for (i, (level, accepted, refused)) in cases.into_iter().enumerate() {
        let ok = try_after(&server, &format!("ok{i}"), level, std::slice::from_ref(&base), &accepted).await;
        assert_eq!(ok.status, 200, "{level} should accept: {:?}", ok.body);
        if let Some(refused) = refused {
            let no =
                try_after(&server, &format!("no{i}"), level, std::slice::from_ref(&base), &refused).await;
            assert_eq!((no.status, no.code()), (409, 409), "{level} should refuse: {:?}", no.body);
            assert_eq!(server.get(&format!("/subjects/no{i}/versions")).await.body, json!([1]));
        }
    }
}

#[tokio::test]
async fn transitive_levels_check_every_live_version_and_plain_levels_only_the_latest() {
    let server = Server::start().await;
    // v1 {a}, v2 {a, b=0}, v3 {a, b}: v3 reads v2 data but not v1 data (b has no default).
    let backward_history = [user(&[A]), user(&[A, B_DEFAULT])];
    let v3 = user(&[A, B]);
    for (level, status) in
        [("BACKWARD", 200), ("BACKWARD_TRANSITIVE", 409), ("FULL", 200), ("FULL_TRANSITIVE", 409)]
    {
        let reply = try_after(&server, &format!("back-{level}"), level, &backward_history, &v3).await;
        assert_eq!(reply.status, status, "{level}: {:?}", reply.body);
    }
    // v1 {a, b}, v2 {a, b=0}, v3 {a}: v2 reads v3 data, v1 does not (b has no default).
    let forward_history = [user(&[A, B]), user(&[A, B_DEFAULT])];
    let v3 = user(&[A]);
    for (level, status) in [("FORWARD", 200), ("FORWARD_TRANSITIVE", 409)] {
        let reply = try_after(&server, &format!("fwd-{level}"), level, &forward_history, &v3).await;
        assert_eq!(reply.status, status, "{level}: {:?}", reply.body);
    }
    // A soft-deleted version is not checked against.
    server.set_level("soft", "NONE").await;
    server.register_ok("soft", &user(&[A])).await;
    server.register_ok("soft", &user(&[A, B_DEFAULT])).await;
    server.delete("/subjects/soft/versions/1").await;
    server.set_level("soft", "BACKWARD_TRANSITIVE").await;
    assert_eq!(server.register("soft", &user(&[A, B])).await.status, 200);
}

#[tokio::test]
async fn refusal_names_every_incompatibility_with_its_path() {
    let server = Server::start().await;
    server.register_ok("s", &user(&[A])).await;
    let two_problems = user(&[r#"{"name":"a","type":"int"}"#, B, C]);
    let reply = server.register("s", &two_problems).await;
    assert_eq!((reply.status, reply.code()), (409, 409));
    let message = reply.body["message"].as_str().unwrap();
    for path in ["/fields/0/type", "/fields/1", "/fields/2"] {
        assert!(message.contains(&format!("{path}: ")), "{path} missing from {message}");
    }
    assert!(message.contains("version 1"), "{message}");
}

#[tokio::test]
async fn compatibility_endpoint_reports_verdicts_and_messages() {
    let server = Server::start().await;
    server.register_ok("s", &user(&[A])).await;
    let bad = json!({"schema": user(&[A, B])});
    let good = json!({"schema": user(&[A, B_DEFAULT])});

    let verbose = server.post("/compatibility/subjects/s/versions/latest?verbose=true", bad.clone()).await;
    assert_eq!(verbose.body["is_compatible"], false);
    let messages = verbose.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].as_str().unwrap().starts_with("/fields/1: "), "{messages:?}");
    let terse = server.post("/compatibility/subjects/s/versions/1", bad).await;
    assert_eq!(terse.body, json!({"is_compatible": false}));
    let fine = server.post("/compatibility/subjects/s/versions/latest?verbose=true", good.clone()).await;
    assert_eq!(fine.body, json!({"is_compatible": true, "messages": []}));
    assert_eq!(
        server.post("/compatibility/subjects/s/versions", good.clone()).await.body["is_compatible"],
        true
    );
    assert_eq!(
        server.post("/compatibility/subjects/new/versions", good.clone()).await.body["is_compatible"],
        true
    );
    assert_eq!(server.post("/compatibility/subjects/new/versions/latest", good.clone()).await.code(), 40401);
    assert_eq!(server.post("/compatibility/subjects/s/versions/3", good.clone()).await.code(), 40402);
    assert_eq!(server.post("/compatibility/subjects/s/versions/zero", good).await.code(), 42202);
    // Checking registers nothing.
    assert_eq!(server.get("/subjects/s/versions").await.body, json!([1]));
    assert_eq!(
        server.registry.check("s", &user(&[A, B]), runnel_registry::VersionSelector::Latest).unwrap().len(),
        1
    );
}

#[tokio::test]
async fn latest_names_one_version_while_no_version_means_every_version_the_level_names() {
    let server = Server::start().await;
    let history = [user(&[A]), user(&[A, B_DEFAULT])];
    let v3 = json!({"schema": user(&[A, B])});
    server.set_level("t", "NONE").await;
    for schema in &history {
        server.register_ok("t", schema).await;
    }
    server.set_level("t", "BACKWARD_TRANSITIVE").await;
    let latest = server.post("/compatibility/subjects/t/versions/latest", v3.clone()).await;
    assert_eq!(latest.body["is_compatible"], true, "{:?}", latest.body);
    let first = server.post("/compatibility/subjects/t/versions/1?verbose=true", v3.clone()).await;
    assert_eq!(first.body["is_compatible"], false);
    let all = server.post("/compatibility/subjects/t/versions?verbose=true", v3).await;
    assert_eq!(all.body["is_compatible"], false);
    assert!(all.body["messages"][0].as_str().unwrap().contains("version 1"), "{:?}", all.body);
}
