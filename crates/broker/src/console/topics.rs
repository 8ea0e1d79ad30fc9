//! Topic pages: the list (partitions, records, sizes, rates, subjects, validation level) with
//! the create form, one topic's description with its partitions, and delete. Create and delete
//! make the checks the gRPC admin service makes for the CLI (`TopicConfig::from_proto`, the
//! broker's limits, the tenant's quota, the admin permission on the namespace or topic).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use runnel_auth::names::TopicName;
use runnel_proto::v1;

use super::chart::short_number;
use super::{
    fail, layout, notices, redirect_with, respond, url_encode, Console, CsrfForm, Failure, Nav, PageResult,
    Sess, Session,
};
use crate::auth::{Caller, Permission, Resource};
use crate::topics::{Topic, TopicConfig, Validation};

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new()
        .route("/ui/topics", get(list))
        .route("/ui/topic", get(describe))
        .route("/ui/topics/create", post(create))
        .route("/ui/topics/delete", post(delete))
}

/// The topic `name` if the session may see it (a refusal does not say whether it exists).
pub(crate) fn visible_topic(console: &Console, session: &Session, name: &str) -> Result<Arc<Topic>, Failure> {
    let parsed = TopicName::parse(name).map_err(|e| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
    if !Caller::sees(session.caller(), &Resource::Topic(&parsed)) {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            format!("permission denied: no permission on topic {parsed}"),
        ));
    }
    Ok(console.broker().topics.get(name)?)
}

pub(crate) fn validation_name(v: Validation) -> &'static str {
    match v {
        Validation::None => "none",
        Validation::Id => "id",
        Validation::Full => "full",
    }
}

/// Records per second appended to `topic` over the last ten seconds of samples.
fn rate_in(console: &Console, topic: &str) -> f64 {
    let samples = console.samples();
    let recent: Vec<_> = samples.iter().rev().take(11).collect();
    let (Some(last), Some(first)) = (recent.first(), recent.last()) else { return 0.0 };
    let (Some(a), Some(b)) = (first.topic_end.get(topic), last.topic_end.get(topic)) else { return 0.0 };
    let dt = (last.at_ms - first.at_ms) as f64 / 1000.0;
    if dt <= 0.0 {
        0.0
    } else {
        (b - a).max(0) as f64 / dt
    }
}

async fn list(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let topics = console.visible_topics(&session);
    let body = html! {
        (notices(q.get("msg").map(String::as_str), q.get("error").map(String::as_str)))
        table #topics {
            thead { tr { th { "Topic" } th.num { "Partitions" } th.num { "Records" } th.num { "Size" } th.num { "In (rec/s)" } th { "Value subject" } th { "Key subject" } th { "Validation" } } }
            tbody {
                @for t in &topics {
                    @let stats: Vec<_> = t.partitions.iter().map(|l| l.stats()).collect();
                    tr data-topic=(t.meta.name) {
                        td { a href=(format!("/ui/topic?name={}", url_encode(&t.meta.name))) { (t.meta.name) } }
                        td.num { (t.partitions.len()) }
                        td.num { (short_number(stats.iter().map(|s| (s.high_watermark - s.log_start_offset) as f64).sum())) }
                        td.num { (super::human_bytes(stats.iter().map(|s| s.size_bytes).sum())) }
                        td.num { (short_number(rate_in(&console, &t.meta.name))) }
                        td { a href=(format!("/ui/schemas/subject?name={}", url_encode(&t.meta.config.value_subject))) { (t.meta.config.value_subject) } }
                        td { (t.meta.config.key_subject.as_deref().unwrap_or("—")) }
                        td { (validation_name(t.meta.config.validation)) }
                    }
                }
                @if topics.is_empty() { tr { td colspan="8" { "No topics yet." } } }
            }
        }
        h2 { "Create a topic" }
        form.card #create-topic method="post" action="/ui/topics/create" {
            (session.csrf_field())
            label { "Name " input name="name" required placeholder="orders or tenant/namespace/orders"; }
            label { "Partitions " input name="partitions" type="number" min="1" value="1"; }
            label { "Validation "
                select name="validation" {
                    option value="full" selected { "full: the body is one datum of the schema" }
                    option value="id" { "id: framing and a live schema id" }
                    option value="none" { "none" }
                }
            }
            label { "Retention (ms, empty: default) " input name="retention_ms" type="number" min="-1"; }
            button type="submit" { "Create" }
        }
    };
    layout(Some(&session), Nav::Topics, "Topics", body).into_response()
}

async fn describe(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(describe_page(&console, &session, &q))
}

fn describe_page(console: &Console, session: &Arc<Session>, q: &HashMap<String, String>) -> PageResult {
    let name = q.get("name").map(String::as_str).unwrap_or("");
    let t = visible_topic(console, session, name).map_err(|f| fail(session, f))?;
    let c = &t.meta.config;
    let enc = url_encode(&t.meta.name);
    let body = html! {
        (notices(q.get("msg").map(String::as_str), q.get("error").map(String::as_str)))
        p { a.button href=(format!("/ui/messages?topic={enc}")) { "Browse messages" } " "
            a.button href=(format!("/ui/produce?topic={enc}")) { "Produce" } }
        table.kv #config {
            tr { th { "Full name" } td { (t.name) } }
            tr { th { "Value subject" } td { a href=(format!("/ui/schemas/subject?name={}", url_encode(&c.value_subject))) { (c.value_subject) } } }
            tr { th { "Key subject" } td { (c.key_subject.as_deref().unwrap_or("—")) } }
            tr { th { "Validation" } td { (validation_name(c.validation)) } }
            tr { th { "Retention" } td { @if c.retention_ms < 0 { "forever" } @else { (c.retention_ms) " ms" } ", " @if c.retention_bytes < 0 { "unlimited" } @else { (c.retention_bytes) " bytes per partition" } } }
            tr { th { "Segments" } td { (super::human_bytes(c.segment_bytes)) " / " (c.segment_ms) " ms" } }
            tr { th { "Fsync" } td { (format!("{:?}", c.fsync).to_lowercase()) } }
            tr { th { "Created" } td { (super::format_ms(t.meta.created_ms)) " UTC" } }
        }
        h2 { "Partitions" }
        table #partitions {
            thead { tr { th.num { "Partition" } th.num { "Start offset" } th.num { "End offset" } th.num { "Records" } th.num { "Size" } th.num { "Segments" } th {} } }
            tbody {
                @for (i, log) in t.partitions.iter().enumerate() {
                    @let s = log.stats();
                    tr {
                        td.num { (i) } td.num { (s.log_start_offset) } td.num { (s.high_watermark) }
                        td.num { (s.high_watermark - s.log_start_offset) } td.num { (super::human_bytes(s.size_bytes)) } td.num { (s.segments) }
                        td { a href=(format!("/ui/messages?topic={enc}&partition={i}")) { "messages" } }
                    }
                }
            }
        }
        h2 { "Delete" }
        form.card.danger #delete-topic method="post" action="/ui/topics/delete" {
            (session.csrf_field())
            input type="hidden" name="name" value=(t.meta.name);
            label { "Type the topic's name to delete it and all its records: " input name="confirm" required autocomplete="off"; }
            button type="submit" { "Delete topic" }
        }
    };
    Ok(layout(Some(session), Nav::Topics, &format!("Topic {}", t.meta.name), body).into_response())
}

async fn create(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    let name = form.text("name").trim().to_owned();
    match create_topic(&console, &form, &name).await {
        Ok(()) => redirect_with(
            &format!("/ui/topic?name={}", url_encode(&name)),
            "msg",
            &format!("topic {name} created"),
        ),
        Err(Failure(_, message)) => redirect_with("/ui/topics", "error", &message),
    }
}

async fn create_topic(console: &Console, form: &CsrfForm, name: &str) -> Result<(), Failure> {
    let bad = |m: String| Failure(StatusCode::BAD_REQUEST, m);
    let parsed = TopicName::parse(name).map_err(|e| bad(e.to_string()))?;
    let namespace = Resource::Namespace { tenant: parsed.tenant(), namespace: parsed.namespace() };
    Caller::check(form.session.caller(), Permission::Admin, &namespace)?;
    let partitions = match form.text("partitions").trim() {
        "" => 0,
        p => p.parse().map_err(|_| bad(format!("partitions must be a whole number, not {p:?}")))?,
    };
    let validation = match form.text("validation") {
        "" | "full" => v1::ValidationLevel::Full,
        "id" => v1::ValidationLevel::Id,
        "none" => v1::ValidationLevel::None,
        other => return Err(bad(format!("unknown validation level {other:?}"))),
    };
    let retention_ms = match form.text("retention_ms").trim() {
        "" => 0,
        r => r.parse().map_err(|_| bad(format!("retention must be a whole number of ms, not {r:?}")))?,
    };
    let proto =
        v1::TopicConfig { partitions, validation: validation as i32, retention_ms, ..Default::default() };
    let config = TopicConfig::from_proto(name, &proto)?;
    let topics = &console.broker().topics;
    if topics.get(name).is_err() {
        topics.check_limits(1, config.partitions)?;
    }
    topics.create(name, config, false).await?;
    tracing::info!(
        topic = name,
        by = form.session.caller().and_then(|c| c.name()).unwrap_or(""),
        "console: topic created"
    );
    Ok(())
}

async fn delete(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    let name = form.text("name").to_owned();
    let back = format!("/ui/topic?name={}", url_encode(&name));
    if form.text("confirm").trim() != name {
        return redirect_with(
            &back,
            "error",
            "the confirmation does not match the topic's name: nothing was deleted",
        );
    }
    let result: Result<(), Failure> = async {
        let parsed = TopicName::parse(&name).map_err(|e| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
        Caller::check(form.session.caller(), Permission::Admin, &Resource::Topic(&parsed))?;
        console.broker().topics.delete(&name).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(topic = %name, "console: topic deleted");
            redirect_with("/ui/topics", "msg", &format!("topic {name} deleted"))
        }
        Err(Failure(_, message)) => redirect_with(&back, "error", &message),
    }
}
