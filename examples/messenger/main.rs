//! A messenger on Runnel: a web app (one binary, axum, its page and script
//! embedded) where each user has a page with a send form, their conversations
//! and their inbox, updated live, with a browser notification (or an in-page
//! toast) for each new message.
//!
//! How a message travels:
//! 1. `POST /send {from, to, text, reply_to?}` checks the input, applies the
//!    sender's rate limit and writes a typed `ChatMessage` (`#[derive(Avro)]`,
//!    subject `chat-value`) to topic `chat`, keyed by the recipient;
//! 2. the server's built-in `route` function (created here once, as
//!    `runnel function create messenger-inboxes --builtin route --input chat --by to --to 'inbox-{}'`
//!    would) copies each record to `inbox-<to>`, effectively once (transactions);
//! 3. the app reads every inbox topic (committed records only) and streams each
//!    new message to its recipient's open pages (`GET /events/{user}`,
//!    server-sent events); a page first lists the inbox (`GET /inbox/{user}`)
//!    and then asks only for what follows its last offset, so each message is
//!    on it once, also after a reload or a restart of the app or the server.
//!
//! The app keeps nothing of its own: the topics are the inboxes.
//!
//! ```text
//! runnel serve &
//! cargo run --example messenger
//! open http://127.0.0.1:3000/u/ada and http://127.0.0.1:3000/u/grace
//! curl -s localhost:3000/send -H 'content-type: application/json' \
//!      -d '{"from":"ada","to":"grace","text":"hello"}'
//! curl -s localhost:3000/inbox/grace
//! curl -sN localhost:3000/events/grace
//! ```
//! Environment: `RUNNEL_URL` (default `http://127.0.0.1:6650`),
//! `RUNNEL_REGISTRY_URL` (default `http://127.0.0.1:8081`: the page links to
//! the console there; the schema calls go through the broker),
//! `MESSENGER_ADDR` (default `127.0.0.1:3000`), and `MESSENGER_SCHEMA`: `v2`
//! (default), or `v1` to run the previous release's message type next to this
//! one during a rollout.

mod inboxes;
mod limit;
mod model;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use runnel::{BuiltinFunction, Client, NewTopic, SendFuture};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use inboxes::{Delivered, Inboxes, CHAT_SUBJECT, INBOX_TEMPLATE};
use limit::RateLimit;
use model::{check_name, check_text, ChatMessage, ChatMessageV1, Wire};

/// The topic every message is first written to.
const CHAT: &str = "chat";
/// The `route` function that fans `chat` out to the inboxes.
const ROUTE: &str = "messenger-inboxes";
/// How long `POST /send` waits for the message to reach the recipient's inbox.
const DELIVERY_WAIT: Duration = Duration::from_secs(2);

const INDEX_HTML: &str = include_str!("index.html");
const PAGE_HTML: &str = include_str!("page.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Sends one message as the app's wire version.
type SendFn = dyn Fn(&ChatMessage) -> SendFuture + Send + Sync;

#[derive(Clone)]
struct App {
    send: Arc<SendFn>,
    inboxes: Arc<Inboxes>,
    limit: Arc<RateLimit>,
    schema_version: u32,
    console_url: String,
}

/// An error answer: a status and a JSON `{"error": "..."}` the page shows as is.
struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message: message.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The body of `POST /send`.
#[derive(Deserialize)]
struct SendRequest {
    from: String,
    to: String,
    text: String,
    #[serde(default)]
    reply_to: Option<String>,
}

async fn send(
    State(app): State<App>,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::new(e.status().as_u16(), e.body_text()))?;
    check_name("from", &req.from).map_err(|e| ApiError::new(400, e))?;
    check_name("to", &req.to).map_err(|e| ApiError::new(400, e))?;
    let text = check_text(&req.text).map_err(|(status, e)| ApiError::new(status, e))?;
    let reply_to = req.reply_to.filter(|r| !r.is_empty());
    if reply_to
        .as_ref()
        .is_some_and(|r| r.len() > 64 || !r.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
    {
        return Err(ApiError::new(400, "`reply_to` is not a message id"));
    }
    if let Err(wait) = app.limit.take(&req.from) {
        eprintln!("messenger: rate limit: refused a message from {}", req.from);
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                429,
                format!(
                    "{} is sending too fast: at most {} messages at once and {} a second; try again in {:.1} s",
                    req.from,
                    limit::BURST,
                    limit::PER_SECOND,
                    wait.as_secs_f64()
                ),
            )
        });
    }
    // The recipient's inbox exists (one partition) before the function routes to it.
    let inbox = app
        .inboxes
        .open(&req.to)
        .await
        .map_err(|e| ApiError::new(503, format!("the inbox of {}: {e}", req.to)))?;
    // Listening before sending: the message cannot arrive unseen in between.
    let (_, mut arrivals) = inbox.follow(i64::MAX);
    let sent_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let msg = ChatMessage {
        id: uuid::Uuid::new_v4().to_string(),
        from: req.from,
        to: req.to,
        text,
        sent_at_ms,
        reply_to,
    };
    let meta = (app.send)(&msg).await.map_err(|e| ApiError::new(503, format!("not sent: {e}")))?;
    // Answer once the message is in the recipient's inbox (tens of ms), so that a
    // `GET /inbox` after the answer has it; after DELIVERY_WAIT, answer anyway:
    // it is on `chat`, and the function delivers it when it can.
    let delivered = tokio::time::timeout(DELIVERY_WAIT, async {
        loop {
            match arrivals.recv().await {
                Ok(d) if d.message.id == msg.id => return Some(d.offset),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    if let Some(d) = inbox.all().iter().rev().find(|d| d.message.id == msg.id) {
                        return Some(d.offset);
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten();
    let mut message = serde_json::to_value(&msg).unwrap_or_default();
    if app.schema_version < 2 {
        // What this version wrote: it has no `reply_to`.
        message["reply_to"] = serde_json::Value::Null;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": msg.id,
            "partition": meta.partition,
            "offset": meta.offset,
            "delivered": delivered.is_some(),
            "inbox_offset": delivered,
            "message": message,
        })),
    ))
}

fn user_name(user: &str) -> Result<(), ApiError> {
    check_name("user", user).map_err(|e| ApiError::new(400, e))
}

/// `user`'s inbox, oldest first.
async fn inbox(State(app): State<App>, Path(user): Path<String>) -> Result<Json<Vec<Delivered>>, ApiError> {
    user_name(&user)?;
    let inbox = app.inboxes.open(&user).await.map_err(|e| ApiError::new(503, e.to_string()))?;
    inbox.loaded().await;
    Ok(Json(inbox.all()))
}

/// What `user` sent that has been delivered, oldest first.
async fn sent(State(app): State<App>, Path(user): Path<String>) -> Result<Json<Vec<Delivered>>, ApiError> {
    user_name(&user)?;
    Ok(Json(app.inboxes.sent_by(&user)))
}

#[derive(Deserialize)]
struct EventsQuery {
    /// Send the messages after this offset first (the page's last one).
    after: Option<i64>,
}

/// `user`'s new messages as server-sent events: `id:` the offset, `data:` the
/// message as JSON. Those after `?after=` or `Last-Event-ID` (a reconnecting
/// browser sends it) come first; without either, only messages still to come.
async fn events(
    State(app): State<App>,
    Path(user): Path<String>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    user_name(&user)?;
    let inbox = app.inboxes.open(&user).await.map_err(|e| ApiError::new(503, e.to_string()))?;
    inbox.loaded().await;
    let last_event_id =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let after = match (q.after, last_event_id) {
        (None, None) => inbox.last_offset(),
        (a, b) => a.unwrap_or(-1).max(b.unwrap_or(-1)),
    };
    let (backlog, mut live) = inbox.follow(after);
    let stream = async_stream::stream! {
        // Reconnect quickly when the app comes back after a restart.
        yield Ok(Event::default().retry(Duration::from_millis(500)).comment("inbox"));
        let mut last = after;
        for d in backlog {
            last = d.offset;
            yield Ok(event(&d));
        }
        loop {
            match live.recv().await {
                Ok(d) if d.offset > last => {
                    last = d.offset;
                    yield Ok(event(&d));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    // Too slow a reader: catch up from the inbox itself.
                    let (missed, rx) = inbox.follow(last);
                    live = rx;
                    for d in missed {
                        last = d.offset;
                        yield Ok(event(&d));
                    }
                }
                Err(RecvError::Closed) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn event(d: &Delivered) -> Event {
    Event::default().id(d.offset.to_string()).data(serde_json::to_string(d).unwrap_or_default())
}

/// What the page shows in its footer.
async fn config(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({"schema_version": app.schema_version, "console_url": app.console_url}))
}

async fn page(Path(user): Path<String>) -> Response {
    match check_name("user", &user) {
        Ok(()) => Html(PAGE_HTML).into_response(),
        Err(e) => {
            (StatusCode::BAD_REQUEST, Html(INDEX_HTML.replace("<!--error-->", &escape(&e)))).into_response()
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn asset(
    content_type: &'static str,
    body: &'static str,
) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || std::future::ready(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Creates the `route` function unless it exists (another instance made it, or an earlier run).
async fn ensure_route(client: &Client) -> anyhow::Result<()> {
    if client.get_function(ROUTE).await.is_ok() {
        return Ok(());
    }
    let route = BuiltinFunction::Route { by: "to".into(), to: INBOX_TEMPLATE.into(), default_topic: None };
    match client.create_function(ROUTE, CHAT, route).await {
        Ok(_) => Ok(()),
        Err(_) if client.get_function(ROUTE).await.is_ok() => Ok(()),
        Err(e) => Err(e).context("creating the route function"),
    }
}

async fn run<W: Wire>(url: String, registry_url: String, addr: String) -> anyhow::Result<()> {
    let client = Client::connect(&url).await.with_context(|| format!("connecting to {url}"))?;
    // A new version is registered when this one starts (the registry checks it is
    // compatible); an older one is found as the version it already is.
    let schema =
        client.register_schema(CHAT_SUBJECT, W::schema()).await.context("registering ChatMessage")?;
    client.create_topic(NewTopic::new(CHAT).partitions(3).if_not_exists(true)).await?;
    ensure_route(&client).await?;

    let producer = client.producer::<W>(CHAT).delivery_timeout(Duration::from_secs(10)).create().await?;
    // Keyed by recipient: one recipient's messages stay in order.
    let send_one: Arc<SendFn> =
        Arc::new(move |m: &ChatMessage| producer.send_with_key(m.to.clone(), &W::from_message(m)));
    let inboxes = Inboxes::new::<W>(client.clone());
    inboxes.discover().await?;
    {
        // Inboxes created by others (another instance, the function) are read too.
        let inboxes = inboxes.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Err(e) = inboxes.discover().await {
                    eprintln!("messenger: listing inboxes: {e}");
                }
            }
        });
    }

    let app = App {
        send: send_one,
        inboxes,
        limit: Arc::default(),
        schema_version: W::VERSION,
        console_url: format!("{}/ui", registry_url.trim_end_matches('/')),
    };
    let router = Router::new()
        .route("/", get(asset("text/html; charset=utf-8", INDEX_HTML)))
        .route("/u/{user}", get(page))
        .route("/assets/app.js", get(asset("text/javascript; charset=utf-8", APP_JS)))
        .route("/assets/style.css", get(asset("text/css; charset=utf-8", STYLE_CSS)))
        .route("/config", get(config))
        .route("/send", post(send))
        .route("/inbox/{user}", get(inbox))
        .route("/sent/{user}", get(sent))
        .route("/events/{user}", get(events))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    println!(
        "messenger listening on http://{addr} (ChatMessage v{} = schema id {}); pages at http://{addr}/u/<name>",
        W::VERSION,
        schema.id
    );
    // No graceful drain: open event streams never end by themselves, and the
    // pages reconnect (with `Last-Event-ID`) to the next instance.
    tokio::select! {
        served = axum::serve(listener, router) => served?,
        _ = shutdown() => println!("messenger: bye"),
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let url = env("RUNNEL_URL", "http://127.0.0.1:6650");
    let registry_url = env("RUNNEL_REGISTRY_URL", "http://127.0.0.1:8081");
    let addr = env("MESSENGER_ADDR", "127.0.0.1:3000");
    match env("MESSENGER_SCHEMA", "v2").as_str() {
        "v2" => run::<ChatMessage>(url, registry_url, addr).await,
        "v1" => run::<ChatMessageV1>(url, registry_url, addr).await,
        other => anyhow::bail!("MESSENGER_SCHEMA is {other:?}: v1 or v2"),
    }
}
