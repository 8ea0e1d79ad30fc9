//! Schema evolution on one topic, end to end; exits 0 when every step worked.
//!
//! 1. a topic bound to `Person` v1, and a v1 producer;
//! 2. v2 adds an optional `email` (with a default): registered as a new
//!    version of the subject after a compatibility check (the CLI equivalent is
//!    `runnel schema check TOPIC-value v2.avsc` then `runnel schema register ...`);
//! 3. a v2 producer writes to the same topic;
//! 4. a v2 consumer reads both versions (v1 records get the default), and a
//!    v1 consumer reads both too (it skips the field it does not know).
//!
//! ```text
//! cargo run --example schema_evolution
//! ```
//! Honours `RUNNEL_URL` (default `http://127.0.0.1:6650`).

use std::time::Duration;

use anyhow::{ensure, Context};
use runnel::{Avro, Client, Consumer, NewTopic};

/// Version 1.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.evolution", name = "Person")]
struct PersonV1 {
    name: String,
    age: i32,
}

/// Version 2: a new field with a default, so each version reads the other's data.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.evolution", name = "Person")]
struct PersonV2 {
    name: String,
    age: i32,
    #[avro(default = "null")]
    email: Option<String>,
}

async fn read_all<T: Avro + Send>(mut consumer: Consumer<T>, n: usize) -> anyhow::Result<Vec<(u32, T)>> {
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .context("no record within 10 s")?
            .context("the consumer ended")??;
        out.push((msg.schema_id(), msg.into_value()));
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("RUNNEL_URL").unwrap_or_else(|_| "http://127.0.0.1:6650".into());
    let client = Client::connect(url).await?;
    // A fresh topic per run, so the example can run again on the same server.
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let topic = format!("people-evolution-{stamp}");
    let subject = format!("{topic}-value");

    // 1. The topic and its first schema version.
    let v1 = client.register_schema(&subject, PersonV1::schema()).await?;
    client.create_topic(NewTopic::new(&topic)).await?;
    println!("created {topic}; {subject} v{} = schema id {}", v1.version, v1.id);
    let p1 = client.producer::<PersonV1>(&topic).create().await?;
    p1.send(&PersonV1 { name: "ada".into(), age: 36 }).await?;
    p1.send(&PersonV1 { name: "grace".into(), age: 45 }).await?;
    println!("v1 producer wrote 2 records");

    // 2. Evolve: check, then register v2.
    let problems = client.check_compatibility(&subject, PersonV2::schema()).await?;
    ensure!(problems.is_empty(), "v2 should be compatible: {problems:?}");
    let v2 = client.register_schema(&subject, PersonV2::schema()).await?;
    ensure!(v2.id != v1.id && v2.version == 2, "v2 should be a new version");
    println!("registered {subject} v{} = schema id {}", v2.version, v2.id);

    // 3. A v2 producer on the same topic.
    let p2 = client.producer::<PersonV2>(&topic).create().await?;
    p2.send(&PersonV2 { name: "linus".into(), age: 28, email: Some("linus@example.com".into()) }).await?;
    p2.send(&PersonV2 { name: "ken".into(), age: 80, email: None }).await?;
    println!("v2 producer wrote 2 records");

    // 4. Readers of each version read everything.
    let as_v2 = read_all(client.consumer::<PersonV2>(&topic).subscribe().await?, 4).await?;
    for (id, p) in &as_v2 {
        println!("v2 reader, written with schema {id}: {p:?}");
    }
    ensure!(as_v2[0] == (v1.id, PersonV2 { name: "ada".into(), age: 36, email: None }), "v1 data read as v2");
    ensure!(as_v2[2].1.email.as_deref() == Some("linus@example.com"), "v2 data read as v2");

    let as_v1 = read_all(client.consumer::<PersonV1>(&topic).subscribe().await?, 4).await?;
    for (id, p) in &as_v1 {
        println!("v1 reader, written with schema {id}: {p:?}");
    }
    ensure!(as_v1[2] == (v2.id, PersonV1 { name: "linus".into(), age: 28 }), "v2 data read as v1");

    client.delete_topic(&topic).await?;
    println!("ok: both versions written, both read by v1 and v2 readers");
    Ok(())
}
