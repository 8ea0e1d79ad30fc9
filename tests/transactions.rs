//! Transactions of the typed client (`Client::transaction`) against a real server: a commit
//! makes every record (several topics) and the group's offsets visible together, an abort
//! none of them, and a transaction left open by a crashed or fenced holder is aborted when
//! its transactional id is taken again.

mod common;

use std::time::Duration;

use common::typed::PersonV1;
use common::{next_message, next_within, TestServer};
use runnel::{Avro, ClientError};

fn person(name: &str, age: i32) -> PersonV1 {
    PersonV1 { name: name.into(), age }
}

/// Names a committed reader of `topic` sees, waiting `quiet` for more after the last.
async fn committed_names(t: &TestServer, topic: &str, quiet: Duration) -> Vec<String> {
    let mut c = t.client.consumer::<PersonV1>(topic).subscribe().await.expect("consumer");
    let mut names = Vec::new();
    while let Some(m) = next_within(quiet, &mut c).await {
        names.push(m.value().name.clone());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_shows_records_of_every_topic_and_the_offsets_together_and_an_abort_nothing() {
    let t = TestServer::start().await;
    for topic in ["input", "orders", "audit"] {
        t.topic_with_schema(topic, 1, PersonV1::schema()).await;
    }
    let input = t.client.producer::<PersonV1>("input").create().await.unwrap();
    for i in 0..5 {
        input.send(&person(&format!("in-{i}"), i)).await.unwrap();
    }
    let orders = t.client.producer::<PersonV1>("orders").create().await.unwrap();
    let audit = t.client.producer::<PersonV1>("audit").create().await.unwrap();

    let mut tx = t.client.transaction("pipeline").await.unwrap();
    for i in 0..3 {
        tx.send(&orders, &person(&format!("order-{i}"), i)).await.unwrap();
    }
    tx.send(&audit, &person("audit-0", 0)).await.unwrap();
    tx.flush().await.unwrap(); // written, not yet committed
    tx.commit_offsets("workers", "input", &[(0, 3)]).await.unwrap();
    assert!(committed_names(&t, "orders", Duration::from_millis(500)).await.is_empty());
    tx.send(&audit, &person("audit-1", 1)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        committed_names(&t, "orders", Duration::from_millis(500)).await,
        ["order-0", "order-1", "order-2"]
    );
    assert_eq!(committed_names(&t, "audit", Duration::from_millis(500)).await, ["audit-0", "audit-1"]);
    // The group resumes where the transaction committed it.
    let mut g = t.client.consumer::<PersonV1>("input").group("workers").subscribe().await.unwrap();
    assert_eq!(next_message(&mut g).await.value().name, "in-3");
    drop(g);

    let mut tx = t.client.transaction("pipeline").await.unwrap();
    tx.send(&audit, &person("aborted", 9)).await.unwrap();
    tx.flush().await.unwrap();
    tx.commit_offsets("workers", "input", &[(0, 5)]).await.unwrap();
    tx.abort().await.unwrap();
    let mut tx = t.client.transaction("pipeline").await.unwrap();
    tx.send(&audit, &person("audit-2", 2)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        committed_names(&t, "audit", Duration::from_millis(500)).await,
        ["audit-0", "audit-1", "audit-2"]
    );
    let mut g = t.client.consumer::<PersonV1>("input").group("workers").subscribe().await.unwrap();
    assert_eq!(next_message(&mut g).await.value().name, "in-3", "the aborted offsets were not applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_or_crashed_transaction_is_aborted_and_its_holder_refused() {
    let t = TestServer::start().await;
    t.topic_with_schema("out", 2, PersonV1::schema()).await;
    let out = t.client.producer::<PersonV1>("out").key(|p: &PersonV1| p.name.clone()).create().await.unwrap();

    // A holder that "crashed" after writing: its transaction stays open...
    let mut crashed = t.client.transaction("worker").await.unwrap();
    for i in 0..4 {
        crashed.send(&out, &person(&format!("lost-{i}"), i)).await.unwrap();
    }
    crashed.flush().await.unwrap();
    std::mem::forget(crashed);
    // ...until the id is taken again, which aborts it.
    let mut zombie = t.client.transaction("worker").await.unwrap();
    zombie.send(&out, &person("zombie", 0)).await.unwrap();
    zombie.flush().await.unwrap();
    // A newer holder fences the zombie: its commit is refused, its records never shown.
    let mut fresh = t.client.transaction("worker").await.unwrap();
    match zombie.commit().await {
        Err(ClientError::Transaction(msg)) => assert!(msg.contains("fenced"), "{msg}"),
        other => panic!("a fenced commit must fail, got {other:?}"),
    }
    for i in 0..3 {
        fresh.send(&out, &person(&format!("kept-{i}"), i)).await.unwrap();
    }
    fresh.commit().await.unwrap();
    let mut names = committed_names(&t, "out", Duration::from_millis(700)).await;
    names.sort();
    assert_eq!(names, ["kept-0", "kept-1", "kept-2"]);
}
