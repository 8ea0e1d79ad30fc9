//! Reads typed values back: `User`s (generated from `schemas/user.avsc`) from
//! topic `users` and `Order`s (a plain `#[derive(Avro)]`) from `orders`, as
//! members of the group `typed-consumer`, committing as it goes. Run
//! `typed_producer` first. Stops after two seconds without a new record
//! (a real service would keep following the topic).
//!
//! ```text
//! cargo run --example typed_consumer
//! ```
//! Honours `RUNNEL_URL` (default `http://127.0.0.1:6650`).

use std::time::Duration;

use runnel::{Avro, Client, Consumer};

/// `com.example.User`, generated from `schemas/user.avsc` (see `typed_producer`).
#[allow(dead_code)]
mod generated {
    include!("generated/user.rs");
}
use generated::User;

/// The same type as `typed_producer`'s: the consumer decodes with its schema.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example")]
pub struct Order {
    pub id: i64,
    pub user: String,
    pub total_cents: i64,
    #[avro(default = "null")]
    pub note: Option<String>,
}

const IDLE: Duration = Duration::from_secs(2);

/// Prints every message until the topic is idle; returns how many were read.
async fn drain<T: Avro + Send + std::fmt::Debug>(consumer: &mut Consumer<T>) -> anyhow::Result<usize> {
    let mut count = 0;
    while let Ok(Some(msg)) = tokio::time::timeout(IDLE, consumer.next()).await {
        let msg = msg?;
        println!("{}@{} (schema {}): {:?}", msg.partition(), msg.offset(), msg.schema_id(), msg.value());
        msg.ack().await?;
        count += 1;
    }
    consumer.commit().await?;
    Ok(count)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("RUNNEL_URL").unwrap_or_else(|_| "http://127.0.0.1:6650".into());
    let client = Client::connect(url).await?;

    let mut users = client.consumer::<User>("users").group("typed-consumer").subscribe().await?;
    let n = drain(&mut users).await?;
    println!("{n} user(s) read; the group's offsets are committed, a second run reads only new ones");
    users.close().await?;

    let mut orders = client.consumer::<Order>("orders").group("typed-consumer").subscribe().await?;
    let n = drain(&mut orders).await?;
    println!("{n} order(s) read");
    orders.close().await?;
    Ok(())
}
