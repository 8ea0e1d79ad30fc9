//! The tenants page (`/ui/tenants`): each tenant the session may see with its quotas and
//! their use (topics held, storage used against the storage quota, the produce and consume
//! rates allowed), and its namespaces with their policies (the defaults their topics take).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{human_bytes, layout, Console, Nav, Sess};
use crate::auth::{Caller, Resource};

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/ui/tenants", axum::routing::get(page))
}

fn limit(v: u64, unit: impl Fn(u64) -> String) -> String {
    if v == 0 {
        "unlimited".to_owned()
    } else {
        unit(v)
    }
}

async fn page(State(console): State<Arc<Console>>, Sess(session): Sess) -> Response {
    let broker = console.broker();
    let tenants: Vec<_> = broker
        .tenants
        .tenants()
        .into_iter()
        .filter(|t| Caller::sees(session.caller(), &Resource::Tenant(&t.name)))
        .collect();
    let body = html! {
        @for t in &tenants {
            @let q = &t.quotas;
            @let held = broker.topics.topics_of(&t.name, None).len();
            @let used = broker.tenants.quota(&t.name).map(|quota| broker.topics.storage_of(&quota)).unwrap_or(0);
            section.tenant data-tenant=(t.name) {
                h2 { "Tenant " (t.name) }
                table.kv {
                    tr { th { "Topics" } td.topics-used { (held) " of " (if q.max_topics == 0 { "unlimited".to_owned() } else { q.max_topics.to_string() }) } }
                    tr { th { "Storage" } td.storage-used {
                        (human_bytes(used)) " of " (limit(q.storage_bytes, human_bytes))
                        @if q.storage_bytes > 0 { " (" (format!("{:.1}", used as f64 * 100.0 / q.storage_bytes as f64)) "%)" }
                    } }
                    tr { th { "Produce rate" } td { (limit(q.produce_bytes_per_sec, |v| format!("{}/s", human_bytes(v)))) } }
                    tr { th { "Consume rate" } td { (limit(q.consume_bytes_per_sec, |v| format!("{}/s", human_bytes(v)))) } }
                    tr { th { "Created" } td { (super::format_ms(t.created_ms)) " UTC" } }
                }
                table.namespaces {
                    thead { tr { th { "Namespace" } th.num { "Topics" } th.num { "Partitions" } th { "Retention" } th { "Validation" } th { "Compatibility" } th { "Auto-register" } } }
                    tbody {
                        @for ns in broker.tenants.namespaces(Some(&t.name)) {
                            @let short = ns.name.rsplit_once('/').map_or(ns.name.as_str(), |(_, n)| n);
                            @let p = &ns.policy;
                            tr data-namespace=(ns.name) {
                                td { (ns.name) }
                                td.num { (broker.topics.topics_of(&t.name, Some(short)).len()) }
                                td.num { @if p.partitions == 0 { "default" } @else { (p.partitions) } }
                                td { @if p.retention_ms == 0 { "default" } @else if p.retention_ms < 0 { "forever" } @else { (p.retention_ms) " ms" } }
                                td { (p.validation.map(super::topics::validation_name).unwrap_or("default")) }
                                td { (p.compatibility.as_deref().unwrap_or("default")) }
                                td { (p.auto_register) }
                            }
                        }
                    }
                }
            }
        }
        @if tenants.is_empty() { p { "No tenant is visible to this session." } }
    };
    layout(Some(&session), Nav::Tenants, "Tenants and namespaces", body).into_response()
}
