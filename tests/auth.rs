//! The typed client against a broker with authentication on: `ClientOptions::token` carries
//! a tenant's token through producers, consumer groups and the registry calls they make, and
//! another tenant's token reaches none of it.

mod common;

use std::time::Duration;

use runnel::{Avro, Client, ClientOptions, NewTopic, Position};
use runnel_auth::token::{Signer, Verifier};
use runnel_broker::ServerConfig;

const SECRET: &[u8] = b"the typed client's test secret, 32+ bytes";

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example", name = "Order")]
struct Order {
    id: i64,
    item: String,
}

async fn client(url: &str, subject: &str, roles: &[&str]) -> Client {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    let token = Signer::hs256(SECRET).unwrap().issue(subject, &roles, Duration::from_secs(600)).unwrap();
    let options = ClientOptions { token: Some(token), ..ClientOptions::default() };
    Client::connect_with(url, options).await.expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_producers_and_consumer_groups_carry_their_tenants_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::ephemeral(dir.path());
    config.kafka_addr = None;
    config.auth = Some(Verifier::hs256(SECRET).unwrap());
    let server = runnel_broker::start(config).await.expect("server starts");
    let url = server.grpc_url();

    let root = client(&url, "root", &["superuser"]).await;
    root.create_tenant("acme", Default::default()).await.expect("tenant");
    root.create_namespace("acme/shop", Default::default()).await.expect("namespace");
    root.register_schema(":.acme:shop.orders-value", Order::schema()).await.expect("schema");

    let admin = client(&url, "acme-admin", &["admin:acme/shop"]).await;
    admin.create_topic(NewTopic::new("acme/shop/orders").partitions(2)).await.expect("topic");

    let app = client(&url, "acme-app", &["produce:acme/shop/orders", "consume:acme/shop/*"]).await;
    let producer = app.producer::<Order>("acme/shop/orders").create().await.expect("producer");
    for id in 0..10 {
        producer.send(&Order { id, item: format!("item-{id}") }).await.expect("send");
    }
    producer.flush().await.expect("flush");
    let mut consumer = app
        .consumer::<Order>("acme/shop/orders")
        .group("billing")
        .from(Position::Earliest)
        .subscribe()
        .await
        .expect("consumer group");
    let mut ids = Vec::new();
    while ids.len() < 10 {
        let msg = tokio::time::timeout(Duration::from_secs(20), consumer.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("a record");
        ids.push(msg.value().id);
        msg.ack().await.expect("commit");
    }
    ids.sort();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());

    // Another tenant's token: neither a producer nor a consumer of acme's topic.
    let other = client(&url, "beta-app", &["produce:beta/*/*", "consume:beta/*/*"]).await;
    let e = other.producer::<Order>("acme/shop/orders").create().await.expect_err("refused");
    assert!(e.to_string().contains("permission denied"), "{e}");
    let e = other.consumer::<Order>("acme/shop/orders").group("g").subscribe().await;
    let refused = match e {
        Err(e) => e.to_string(),
        Ok(mut c) => match tokio::time::timeout(Duration::from_secs(20), c.next()).await {
            Ok(Some(Err(e))) => e.to_string(),
            other => panic!("a foreign consumer must be refused, got {other:?}"),
        },
    };
    assert!(refused.contains("permission denied"), "{refused}");
    assert!(other.list_topics().await.expect("list").is_empty());
    server.shutdown().await.unwrap();
}
