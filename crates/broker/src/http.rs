//! The HTTP front end: the registry's Confluent REST API (mounted with the broker's access
//! decisions, `auth.rs`), `/metrics` (Prometheus text; cluster admins only with
//! authentication on), `/health` (always open) and the web console under `/ui` (`console/`,
//! with its own sessions). Everything but `/health` and `/ui` passes the bearer-token
//! authentication middleware, which is open when authentication is off.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::auth::{self, Caller, Permission, Resource};
use crate::broker::Broker;

/// The HTTP routes over `broker`, authenticating with `verifier`.
pub(crate) fn router(broker: &Arc<Broker>, verifier: auth::Authenticator) -> axum::Router {
    let verifier_for_console = verifier.clone();
    let guarded =
        runnel_registry::router_with_access(broker.registry.clone(), Arc::new(auth::RegistryAccess))
            .merge(
                axum::Router::new()
                    .route("/metrics", axum::routing::get(metrics_text))
                    .with_state(Arc::clone(broker)),
            )
            .layer(axum::middleware::from_fn_with_state(verifier, auth::http_authenticate));
    guarded
        .merge(
            axum::Router::new().route("/health", axum::routing::get(health)).with_state(Arc::clone(broker)),
        )
        // The console authenticates with its own session cookie, not a bearer header.
        .merge(crate::console::router(broker, verifier_for_console))
}

async fn health(State(broker): State<Arc<Broker>>) -> impl IntoResponse {
    let topics = broker.topics.list().len();
    axum::Json(serde_json::json!({ "status": "ok", "topics": topics }))
}

/// The metrics name every topic of every tenant: with authentication on, superusers only.
async fn metrics_text(
    State(broker): State<Arc<Broker>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    if let Err(denied) = Caller::check(request.extensions().get(), Permission::Admin, &Resource::Cluster) {
        return auth::http_error(axum::http::StatusCode::FORBIDDEN, 40301, &denied.to_string());
    }
    let mut text = broker.metrics.render(&broker.topics);
    text.push_str(&broker.functions.render_metrics());
    text.push_str(&broker.replication.render_metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
