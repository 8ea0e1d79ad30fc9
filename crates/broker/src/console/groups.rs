//! Consumer group pages: the groups (those holding committed offsets and those with live
//! members, joined over gRPC or Kafka's group protocol), one group's members and assignments
//! (a Kafka member's decoded from its consumer-protocol assignment), its committed offsets and lag per partition
//! with a chart of its lag over time (from the console's samples), and resetting its offsets
//! to the earliest, the latest or the first offset at a time. A reset is refused while the
//! group has live members on the topic (a live member would commit over it), as Kafka refuses
//! it for a non-empty group.
//!
//! Group ids of a tenant other than `public` are stored as `tenant/id`; a session sees and
//! resets the groups of the tenants its grants let it consume from (the rule the Kafka
//! listener applies).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;

use super::chart::{self, Series};
use super::{
    fail, layout, notices, redirect_with, respond, url_encode, Console, CsrfForm, Failure, Nav, PageResult,
    Sess, Session,
};
use crate::broker::Broker;
use crate::groups::LiveMember;

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new()
        .route("/ui/groups", get(list))
        .route("/ui/group", get(describe))
        .route("/ui/groups/reset", post(reset))
}

/// The tenant a stored group id belongs to.
fn tenant_of(group: &str) -> &str {
    group.split_once('/').map_or("public", |(t, _)| t)
}

fn may_use(session: &Session, group: &str) -> bool {
    session.caller().is_some_and(|c| c.may_use_groups_of(tenant_of(group)))
}

/// Every group the broker knows: with committed offsets or live members (gRPC or Kafka).
fn all_groups(broker: &Broker) -> Result<BTreeSet<String>, Failure> {
    let mut groups: BTreeSet<String> = broker.groups.groups_with_offsets()?.into_iter().collect();
    groups.extend(broker.groups.live_groups());
    groups.extend(broker.kafka_groups.live_groups());
    Ok(groups)
}

/// Which protocol a member joined with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Grpc,
    Kafka,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Grpc => "gRPC",
            Via::Kafka => "Kafka",
        }
    }
}

/// The live members of `group`, gRPC and Kafka, each Kafka member's topics resolved to the
/// names the broker keeps (a client may name `t` or `public/default/t`).
fn live_members(broker: &Broker, group: &str) -> Vec<(Via, LiveMember)> {
    let mut out: Vec<(Via, LiveMember)> =
        broker.groups.live_members(group).into_iter().map(|m| (Via::Grpc, m)).collect();
    for mut m in broker.kafka_groups.live_members(group) {
        if let Ok(t) = broker.topics.get(&m.topic) {
            m.topic = t.meta.name.clone();
        }
        out.push((Via::Kafka, m));
    }
    out
}

/// One partition of a group on a topic.
struct PartitionLag {
    partition: u32,
    committed: Option<i64>,
    end: i64,
    lag: i64,
    owner: Option<String>,
}

/// The group's partitions on `topic`: committed offset, end, lag (from the log start where
/// nothing is committed), owner.
fn lag_of(
    broker: &Broker,
    members: &[(Via, LiveMember)],
    group: &str,
    topic: &str,
) -> Result<Vec<PartitionLag>, Failure> {
    let t = broker.topics.get(topic)?;
    let committed: HashMap<u32, i64> = broker.groups.committed(group, topic)?.into_iter().collect();
    let mut owners = HashMap::new();
    for (_, m) in members {
        if m.topic == t.meta.name {
            for p in &m.partitions {
                owners.insert(*p, m.member_id.clone());
            }
        }
    }
    Ok(t.partitions
        .iter()
        .enumerate()
        .map(|(p, log)| {
            let s = log.stats();
            let c = committed.get(&(p as u32)).copied();
            PartitionLag {
                partition: p as u32,
                committed: c,
                end: s.high_watermark,
                lag: (s.high_watermark - c.unwrap_or(s.log_start_offset).max(s.log_start_offset)).max(0),
                owner: owners.get(&(p as u32)).cloned(),
            }
        })
        .collect())
}

/// The topics a group is on: with committed offsets or live members.
fn topics_of(broker: &Broker, members: &[(Via, LiveMember)], group: &str) -> Result<Vec<String>, Failure> {
    let mut topics: BTreeSet<String> = broker.groups.topics_with_offsets(group)?.into_iter().collect();
    topics.extend(members.iter().map(|(_, m)| m.topic.clone()));
    Ok(topics.into_iter().filter(|t| broker.topics.get(t).is_ok()).collect())
}

/// Each (group, topic)'s total lag now, for the sampler.
pub(crate) fn lag_sample(broker: &Broker) -> HashMap<(String, String), i64> {
    let mut out = HashMap::new();
    let Ok(groups) = all_groups(broker) else { return out };
    for g in groups {
        let members = live_members(broker, &g);
        for t in topics_of(broker, &members, &g).unwrap_or_default() {
            if let Ok(parts) = lag_of(broker, &members, &g, &t) {
                out.insert((g.clone(), t), parts.iter().map(|p| p.lag).sum());
            }
        }
    }
    out
}

async fn list(State(console): State<Arc<Console>>, Sess(session): Sess) -> Response {
    let subscriptions: Vec<_> = console
        .broker()
        .subscriptions
        .describe_all()
        .await
        .into_iter()
        .filter(|s| super::sees_topic(&session, &s.topic))
        .collect();
    respond((|| -> PageResult {
        let broker = console.broker();
        let groups: Vec<String> = all_groups(broker)
            .map_err(|f| fail(&session, f))?
            .into_iter()
            .filter(|g| may_use(&session, g))
            .collect();
        let body = html! {
            table #groups {
                thead { tr { th { "Group" } th { "Topics" } th.num { "Live members" } th.num { "Lag" } } }
                tbody {
                    @for g in &groups {
                        @let members = live_members(broker, g);
                        @let topics = topics_of(broker, &members, g).unwrap_or_default();
                        @let lag: i64 = topics.iter().filter_map(|t| lag_of(broker, &members, g, t).ok()).flatten().map(|p| p.lag).sum();
                        tr data-group=(g) {
                            td { a href=(format!("/ui/group?name={}", url_encode(g))) { (g) } }
                            td { (topics.join(", ")) }
                            td.num { (members.iter().map(|(_, m)| &m.member_id).collect::<BTreeSet<_>>().len()) }
                            td.num { (lag) }
                        }
                    }
                    @if groups.is_empty() { tr { td colspan="4" { "No consumer groups yet." } } }
                }
            }
            h2 { "Queue subscriptions" }
            table #subscriptions {
                thead { tr { th { "Topic" } th { "Subscription" } th { "Type" } th { "Consumers" } th.num { "Unacknowledged" } th.num { "Out with consumers" } } }
                tbody {
                    @for sub in &subscriptions {
                        @let unacked: i64 = sub.partitions.iter().map(|(_, acked, end)| (end - acked).max(0)).sum();
                        tr data-subscription=(format!("{}/{}", sub.topic, sub.name)) {
                            td { a href=(format!("/ui/topic?name={}", url_encode(&sub.topic))) { (sub.topic) } }
                            td { (sub.name) }
                            td.kind { (sub.kind.map(|k| format!("{k:?}")).unwrap_or_else(|| "no consumers".into())) }
                            td.consumers {
                                @for (name, permits, out) in &sub.consumers {
                                    span.consumer { (name) " (" (out) " out, " (permits) " permits)" } " "
                                }
                            }
                            td.num.unacked { (unacked) }
                            td.num { (sub.outstanding) }
                        }
                    }
                    @if subscriptions.is_empty() { tr { td colspan="6" { "No queue subscription has had a consumer since the server started." } } }
                }
            }
            p.hint { "Queue subscriptions (exclusive, failover, shared, key_shared) keep their acknowledgements with the subscription; those with a consumer since the server started are listed. Unacknowledged counts records from each partition's first unacknowledged one to its end." }
        };
        Ok(layout(Some(&session), Nav::Groups, "Consumer groups", body).into_response())
    })())
}

async fn describe(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond((|| -> PageResult {
        let broker = console.broker();
        let group = q.get("name").cloned().unwrap_or_default();
        if !may_use(&session, &group) {
            return Err(fail(
                &session,
                Failure(
                    StatusCode::FORBIDDEN,
                    format!("permission denied: no permission on the groups of tenant {}", tenant_of(&group)),
                ),
            ));
        }
        let members = live_members(broker, &group);
        let topics = topics_of(broker, &members, &group).map_err(|f| fail(&session, f))?;
        if topics.is_empty() {
            return Err(fail(
                &session,
                Failure(StatusCode::NOT_FOUND, format!("group {group} has no offsets and no members")),
            ));
        }
        let samples = console.samples();
        let body = html! {
            (notices(q.get("msg").map(String::as_str), q.get("error").map(String::as_str)))
            h2 { "Members" }
            table #members {
                thead { tr { th { "Member" } th { "Client" } th { "Protocol" } th { "Topic" } th { "Partitions" } } }
                tbody {
                    @for (via, m) in &members {
                        tr.member data-via=(via.name()) {
                            td { code { (m.member_id) } } td { (m.client_id) } td { (via.name()) }
                            td { @if m.topic.is_empty() { span.hint { "not assigned" } } @else { (m.topic) } }
                            td { (m.partitions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                    @if members.is_empty() { tr { td colspan="5" { "No live members." } } }
                }
            }
            @for t in &topics {
                @let parts = lag_of(broker, &members, &group, t).unwrap_or_default();
                @let total: i64 = parts.iter().map(|p| p.lag).sum();
                section.topic-lag data-topic=(t) {
                    h2 { "Topic " a href=(format!("/ui/topic?name={}", url_encode(t))) { (t) } " · lag " span.total-lag { (total) } }
                    table.lag {
                        thead { tr { th.num { "Partition" } th.num { "Committed" } th.num { "End" } th.num { "Lag" } th { "Owner" } } }
                        tbody {
                            @for p in &parts {
                                tr data-partition=(p.partition) {
                                    td.num { (p.partition) }
                                    td.num { @if let Some(c) = p.committed { (c) } @else { span.hint { "—" } } }
                                    td.num { (p.end) }
                                    td.num.lag { (p.lag) }
                                    td { (p.owner.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    }
                    @let key = (group.clone(), t.clone());
                    (chart::line_chart(&format!("lag-{}", url_encode(t)), "Lag over time (records)", "", &[Series {
                        label: "lag", color: "#b3261e",
                        points: samples.iter().filter_map(|s| s.lag.get(&key).map(|l| (s.at_ms, *l as f64))).collect(),
                    }]))
                    form.card.reset method="post" action="/ui/groups/reset" {
                        (session.csrf_field())
                        input type="hidden" name="group" value=(group);
                        input type="hidden" name="topic" value=(t);
                        label { "Reset offsets to " select name="to" {
                            option value="earliest" { "earliest" }
                            option value="latest" { "latest" }
                            option value="time" { "the first record at or after (UTC)" }
                        } }
                        label { "Time " input name="time" placeholder="2026-12-04T15:00"; }
                        button type="submit" { "Reset" }
                    }
                }
            }
            meta data-refresh="5";
        };
        Ok(layout(Some(&session), Nav::Groups, &format!("Group {group}"), body).into_response())
    })())
}

async fn reset(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    let group = form.text("group").to_owned();
    let topic = form.text("topic").to_owned();
    let back = format!("/ui/group?name={}", url_encode(&group));
    let console2 = Arc::clone(&console);
    let session = Arc::clone(&form.session);
    let (to, time) = (form.text("to").to_owned(), form.text("time").to_owned());
    let result = tokio::task::spawn_blocking(move || -> Result<String, Failure> {
        let broker = console2.broker();
        if !may_use(&session, &group) {
            return Err(Failure(
                StatusCode::FORBIDDEN,
                format!("permission denied: no permission on the groups of tenant {}", tenant_of(&group)),
            ));
        }
        let t = broker.topics.get(&topic)?;
        // A Kafka group must be empty to be reset (as Kafka's own tools require); a gRPC
        // group, free of members on this topic.
        let live = live_members(broker, &group);
        if live.iter().any(|(via, m)| *via == Via::Kafka || m.topic == t.meta.name) {
            return Err(Failure(
                StatusCode::CONFLICT,
                format!("group {group} has live members on {topic}: stop them before resetting its offsets"),
            ));
        }
        let ts = match to.as_str() {
            "time" => {
                Some(super::messages::parse_time(&time).map_err(|e| Failure(StatusCode::BAD_REQUEST, e))?)
            }
            "earliest" | "latest" => None,
            other => {
                return Err(Failure(
                    StatusCode::BAD_REQUEST,
                    format!("reset to earliest, latest or time, not {other:?}"),
                ))
            }
        };
        let mut offsets = Vec::new();
        for (p, log) in t.partitions.iter().enumerate() {
            let s = log.stats();
            let o = match (to.as_str(), ts) {
                ("earliest", _) => s.log_start_offset,
                ("latest", _) => s.high_watermark,
                (_, Some(ms)) => log.offset_for_timestamp(ms)?,
                _ => unreachable!("checked above"),
            };
            offsets.push((p as u32, o));
        }
        broker.groups.store_offsets(&group, &t.meta.name, &offsets)?;
        tracing::info!(group = %group, topic = %topic, to = %to, "console: group offsets reset");
        let list: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}:{o}")).collect();
        Ok(format!("offsets of {group} on {topic} reset to {to}: {}", list.join(", ")))
    })
    .await
    .unwrap_or_else(|e| Err(Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())));
    match result {
        Ok(m) => redirect_with(&back, "msg", &m),
        Err(Failure(_, m)) => redirect_with(&back, "error", &m),
    }
}
