//! Publishes typed values: `User`s generated from `schemas/user.avsc` (the
//! schema-first path) to topic `users`, and `Order`s declared with a plain
//! `#[derive(Avro)]` (the code-first path) to `orders`. `generated/user.rs` is
//! the output of `runnel codegen schemas/user.avsc --out examples/generated`;
//! an application may instead generate it in its build.rs with
//! `runnel_codegen::Builder`, as prost-build does.
//!
//! ```text
//! runnel serve &
//! cargo run --example typed_producer
//! ```
//! Honours `RUNNEL_URL` (default `http://127.0.0.1:6650`).

use runnel::{Avro, Client, NewTopic};

/// `com.example.User`, generated from `schemas/user.avsc`.
#[allow(dead_code)]
mod generated {
    include!("generated/user.rs");
}
use generated::User;

/// An order, declared in Rust: the derive gives it its Avro schema and codec.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example")]
pub struct Order {
    pub id: i64,
    pub user: String,
    pub total_cents: i64,
    #[avro(default = "null")]
    pub note: Option<String>,
}

/// Creates `topic` if it is missing and registers `T`'s schema under its subject.
async fn ensure_topic<T: Avro>(client: &Client, topic: &str, partitions: u32) -> anyhow::Result<()> {
    let registered = client.register_schema(&format!("{topic}-value"), T::schema()).await?;
    client.create_topic(NewTopic::new(topic).partitions(partitions).if_not_exists(true)).await?;
    println!("topic {topic}: schema id {} (version {})", registered.id, registered.version);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("RUNNEL_URL").unwrap_or_else(|_| "http://127.0.0.1:6650".into());
    let client = Client::connect(url).await?;
    ensure_topic::<User>(&client, "users", 3).await?;
    ensure_topic::<Order>(&client, "orders", 3).await?;

    // Keyed by name: one user's records stay in one partition, in order.
    let users = client.producer::<User>("users").key(|u: &User| u.name.clone()).create().await?;
    let names = ["ada", "grace", "linus", "barbara", "ken"];
    // Creating the futures first lets the producer batch them together.
    let sends: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            users.send(&User {
                id: i as i64,
                name: (*name).to_owned(),
                email: Some(format!("{name}@example.com")),
                age: 30 + i as i32,
                active: true,
                score: 0.5 * i as f64,
                tags: vec!["example".to_owned()],
                manager: None,
            })
        })
        .collect();
    for (name, sent) in names.iter().zip(sends) {
        let meta = sent.await?;
        println!("user {name:<8} -> users/{}@{}", meta.partition, meta.offset);
    }

    let orders = client.producer::<Order>("orders").key(|o: &Order| o.user.clone()).create().await?;
    for (i, name) in names.iter().enumerate() {
        let order = Order {
            id: 1000 + i as i64,
            user: (*name).to_owned(),
            total_cents: 1999 * (i as i64 + 1),
            note: None,
        };
        let meta = orders.send(&order).await?;
        println!("order {} -> orders/{}@{}", order.id, meta.partition, meta.offset);
    }
    users.flush().await?;
    orders.flush().await?;
    Ok(())
}
