//! A small messenger: an HTTP service whose `POST /send {from, to, text}`
//! publishes a typed `ChatMessage` to topic `chat`, and a consumer task (group
//! `messenger-delivery`) that delivers each message to its recipient's inbox
//! and prints a notification line. `GET /inbox/{user}` lists an inbox.
//!
//! ```text
//! runnel serve &
//! cargo run --example messenger
//! curl -s localhost:3000/send -H 'content-type: application/json' \
//!      -d '{"from":"ada","to":"grace","text":"hello"}'
//! curl -s localhost:3000/inbox/grace
//! ```
//! Honours `RUNNEL_URL` (default `http://127.0.0.1:6650`) and
//! `MESSENGER_ADDR` (default `127.0.0.1:3000`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use runnel::{Avro, Client, NewTopic, Producer};
use serde::{Deserialize, Serialize};

/// One chat message, as stored on the topic.
#[derive(Avro, Serialize, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.messenger")]
struct ChatMessage {
    from: String,
    to: String,
    text: String,
    sent_at_ms: i64,
}

/// The body of `POST /send`.
#[derive(Deserialize)]
struct SendRequest {
    from: String,
    to: String,
    text: String,
}

/// Delivered messages per recipient.
type Inboxes = Arc<Mutex<HashMap<String, Vec<ChatMessage>>>>;

#[derive(Clone)]
struct App {
    producer: Producer<ChatMessage>,
    inboxes: Inboxes,
}

async fn send(
    State(app): State<App>,
    Json(req): Json<SendRequest>,
) -> Result<Json<serde_json::Value>, (StatusCode, String)> {
    if req.to.is_empty() || req.from.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "`from` and `to` are required".into()));
    }
    let sent_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let msg = ChatMessage { from: req.from, to: req.to, text: req.text, sent_at_ms };
    // Keyed by recipient: one inbox's messages stay in order.
    let meta = app.producer.send(&msg).await.map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(serde_json::json!({"partition": meta.partition, "offset": meta.offset})))
}

async fn inbox(State(app): State<App>, Path(user): Path<String>) -> Json<Vec<ChatMessage>> {
    let inboxes = app.inboxes.lock().unwrap_or_else(|p| p.into_inner());
    Json(inboxes.get(&user).cloned().unwrap_or_default())
}

/// Delivers every message to its recipient's inbox, forever.
async fn deliver(client: Client, inboxes: Inboxes) -> anyhow::Result<()> {
    let mut consumer = client.consumer::<ChatMessage>("chat").group("messenger-delivery").subscribe().await?;
    while let Some(msg) = consumer.next().await {
        let msg = match msg {
            Ok(msg) => msg,
            Err(e) => {
                eprintln!("skipping a record: {e}");
                continue;
            }
        };
        let chat = msg.value().clone();
        println!("new message for {} from {}: {}", chat.to, chat.from, chat.text);
        inboxes.lock().unwrap_or_else(|p| p.into_inner()).entry(chat.to.clone()).or_default().push(chat);
        msg.ack().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("RUNNEL_URL").unwrap_or_else(|_| "http://127.0.0.1:6650".into());
    let addr = std::env::var("MESSENGER_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let client = Client::connect(url).await?;
    client.register_schema("chat-value", ChatMessage::schema()).await?;
    client.create_topic(NewTopic::new("chat").partitions(3).if_not_exists(true)).await?;

    let producer =
        client.producer::<ChatMessage>("chat").key(|m: &ChatMessage| m.to.clone()).create().await?;
    let inboxes = Inboxes::default();
    let delivery = tokio::spawn(deliver(client.clone(), inboxes.clone()));

    let app = Router::new()
        .route("/send", post(send))
        .route("/inbox/{user}", get(inbox))
        .with_state(App { producer, inboxes });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("messenger listening on http://{addr} (POST /send, GET /inbox/{{user}})");
    tokio::select! {
        served = axum::serve(listener, app) => served?,
        delivered = delivery => delivered??,
        _ = tokio::signal::ctrl_c() => println!("bye"),
    }
    Ok(())
}
