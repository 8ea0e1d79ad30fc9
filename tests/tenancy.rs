//! Two tenants sharing one server: each owns a `users` topic and a `users-value` subject of
//! its own, with different schemas, through the typed client and through the registry's
//! REST API (authentication off; isolation by tokens is tested with auth on elsewhere).

mod common;

use std::time::Duration;

use common::TestServer;
use runnel::{Avro, ClientError, NamespacePolicy, NewTopic, Position, TenantQuotas};
use serde_json::{json, Value};

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "acme", name = "User")]
struct AcmeUser {
    name: String,
    age: i32,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "globex", name = "User")]
struct GlobexUser {
    id: i64,
    email: String,
}

async fn rest(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req.header("content-type", "application/vnd.schemaregistry.v1+json").body(b.to_string());
    }
    let resp = req.send().await.expect("HTTP call");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_each_own_a_users_topic_and_subject() {
    let t = TestServer::start().await;
    let c = &t.client;
    for tenant in ["acme", "globex"] {
        c.create_tenant(tenant, TenantQuotas::default()).await.expect("tenant");
        c.create_namespace(&format!("{tenant}/default"), NamespacePolicy::default())
            .await
            .expect("namespace");
    }
    // Each registers its own schema under its own `users-value`, over REST.
    let reg = t.registry_url();
    let (s, acme) = rest(
        reqwest::Method::POST,
        format!("{reg}/subjects/:.acme:users-value/versions"),
        Some(json!({"schema": AcmeUser::schema().canonical_form()})),
    )
    .await;
    assert_eq!(s, 200, "{acme}");
    let (s, globex) = rest(
        reqwest::Method::POST,
        format!("{reg}/contexts/.globex/subjects/users-value/versions"),
        Some(json!({"schema": GlobexUser::schema().canonical_form()})),
    )
    .await;
    assert_eq!(s, 200, "{globex}");
    assert_eq!((acme["version"].clone(), globex["version"].clone()), (json!(1), json!(1)));
    assert_ne!(acme["id"], globex["id"]);
    let (_, contexts) = rest(reqwest::Method::GET, format!("{reg}/contexts"), None).await;
    assert_eq!(contexts, json!([".", ".acme", ".globex"]));

    // Their `users` topics bind to their own subjects.
    for tenant in ["acme", "globex"] {
        let info = c.create_topic(NewTopic::new(format!("{tenant}/default/users"))).await.expect("topic");
        assert_eq!(runnel::value_subject(&info), format!(":.{tenant}:users-value"));
    }
    let mut names: Vec<String> = c.list_topics().await.unwrap().into_iter().map(|t| t.name).collect();
    names.sort();
    assert_eq!(names, ["acme/default/users", "globex/default/users"]);

    let acme_p = c.producer::<AcmeUser>("acme/default/users").create().await.expect("acme producer");
    acme_p.send(&AcmeUser { name: "ann".into(), age: 31 }).await.expect("acme send");
    let globex_p = c.producer::<GlobexUser>("globex/default/users").create().await.expect("globex producer");
    globex_p.send(&GlobexUser { id: 7, email: "g@x".into() }).await.expect("globex send");
    // A type registered only in the other tenant's context is not the topic's schema.
    match c.producer::<GlobexUser>("acme/default/users").create().await {
        Err(ClientError::SchemaNotRegistered { subject, .. }) => assert_eq!(subject, ":.acme:users-value"),
        other => panic!("expected SchemaNotRegistered, got {other:?}"),
    }

    let mut acme_c =
        c.consumer::<AcmeUser>("acme/default/users").from(Position::Earliest).subscribe().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(20), acme_c.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(msg.value(), &AcmeUser { name: "ann".into(), age: 31 });
    let mut globex_c =
        c.consumer::<GlobexUser>("globex/default/users").from(Position::Earliest).subscribe().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(20), globex_c.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(msg.value().id, 7);

    // A namespace policy's compatibility level lands on a new topic's subject.
    let policy = NamespacePolicy { compatibility: "FULL_TRANSITIVE".into(), ..Default::default() };
    c.create_namespace("acme/strict", policy).await.unwrap();
    c.create_topic(NewTopic::new("acme/strict/orders")).await.unwrap();
    let (s, level) =
        rest(reqwest::Method::GET, format!("{reg}/config/:.acme:strict.orders-value"), None).await;
    assert_eq!((s, level), (200, json!({"compatibilityLevel": "FULL_TRANSITIVE"})));
}
