//! The replication page (`/ui/replication`): this cluster's name, the clusters it knows (never
//! their tokens), the replicated namespaces with their clusters, and every replication link the
//! session may see (per topic and remote: state, lag in records and seconds, records replicated,
//! rate, the last error). Cluster settings are read by those who administer something: a
//! cluster's URL is not a secret, but the list of namespaces is the superuser's to see whole.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{layout, Console, Nav, Sess};
use crate::auth::{Caller, Resource};

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/ui/replication", axum::routing::get(page))
}

async fn page(State(console): State<Arc<Console>>, Sess(session): Sess) -> Response {
    let replication = &console.broker().replication;
    let links: Vec<_> =
        replication.status().into_iter().filter(|l| super::sees_topic(&session, &l.topic)).collect();
    let clusters = replication.clusters().unwrap_or_default();
    let namespaces: Vec<_> = replication
        .namespaces()
        .unwrap_or_default()
        .into_iter()
        .filter(|(ns, _)| {
            let tenant = ns.split('/').next().unwrap_or(ns);
            Caller::sees(session.caller(), &Resource::Tenant(tenant))
        })
        .collect();
    let body = html! {
        p { "This cluster: " strong #local-cluster { (replication.local()) } }
        h2 { "Clusters" }
        table #clusters {
            thead { tr { th { "Name" } th { "gRPC" } th { "Registry" } th { "Token" } th { "CA" } } }
            tbody {
                @for c in &clusters {
                    tr data-cluster=(c.name) {
                        td { (c.name) } td { (c.url) } td { (c.registry_url) }
                        td { @if c.token.is_some() { "set" } @else { "none" } }
                        td { @if c.ca_cert_pem.is_some() { "set" } @else { "system" } }
                    }
                }
                @if clusters.is_empty() { tr { td colspan="5" { "No other cluster: add one with " code { "runnel cluster add NAME --url … --registry-url …" } } } }
            }
        }
        h2 { "Replicated namespaces" }
        table #namespaces {
            thead { tr { th { "Namespace" } th { "Clusters" } } }
            tbody {
                @for (ns, with) in &namespaces { tr data-namespace=(ns) { td { (ns) } td { (with.join(", ")) } } }
                @if namespaces.is_empty() { tr { td colspan="2" { "None: " code { "runnel namespace replication TENANT/NS --clusters A,B" } } } }
            }
        }
        h2 { "Links" }
        table #links {
            thead { tr { th { "Topic" } th { "Remote" } th { "State" } th.num { "Lag (records)" } th.num { "Lag (s)" } th.num { "Replicated" } th.num { "Records/s" } th { "Last error" } } }
            tbody {
                @for l in &links {
                    tr data-link=(format!("{}>{}", l.topic, l.remote)) {
                        td { a href=(format!("/ui/topic?name={}", super::url_encode(&l.topic))) { (l.topic) } }
                        td { (l.remote) }
                        td.state { (l.state) }
                        td.num.lag { (l.lag_records) }
                        td.num { (format!("{:.1}", l.lag_seconds)) }
                        td.num.replicated { (l.replicated) }
                        td.num { (format!("{:.0}", l.records_per_sec)) }
                        td.last-error { (l.last_error.as_deref().unwrap_or("none")) }
                    }
                }
                @if links.is_empty() { tr { td colspan="8" { "No replication link runs on this cluster." } } }
            }
        }
    };
    layout(Some(&session), Nav::Replication, "Replication", body).into_response()
}
