//! Writes on a registry that shares a Kafka log with other instances (cargo feature `kafka`):
//! a follower forwards them to the primary, the primary (or whoever is asked by a follower)
//! runs them, and the answer says how far the log must be read to see the write.
//!
//! Read-your-writes: the instance that ran a write answers with `x-runnel-registry-position`,
//! its log position after the write; the follower that forwarded it waits until it has applied
//! the log that far before it answers, so the caller's next read on the follower sees the write.
//!
//! A follower that knows no primary (an election under way), or whose primary refuses the
//! connection (it died; the announcement of the next one has not been read yet), waits and
//! retries for up to [`PRIMARY_WAIT`]; a refused connection means the write was not received,
//! so sending it again is safe. Any other failure is answered 50003 without retrying.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::error::RegistryError;
use crate::log::Role;
use crate::registry::Registry;

/// Marks a request a follower forwarded: it is run where it arrives, never forwarded again.
const FORWARDED: &str = "x-runnel-registry-forwarded";

/// The log position of the instance that ran a write, after it.
const POSITION: &str = "x-runnel-registry-position";

/// How long a follower waits for a reachable primary.
const PRIMARY_WAIT: Duration = Duration::from_secs(20);

/// How long a follower waits to read its forwarded write before answering anyway.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

/// The middleware's state.
#[derive(Clone)]
pub(super) struct Forwarder {
    reg: Registry,
    http: reqwest::Client,
    body_limit: usize,
}

impl Forwarder {
    pub(super) fn new(reg: Registry, body_limit: usize) -> Forwarder {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Forwarder { reg, http, body_limit }
    }

    /// Whether the registry shares a log with other instances (else there is nothing to route).
    pub(super) fn shares_a_log(&self) -> bool {
        self.reg.role() != Role::Embedded
    }
}

/// Whether a request changes the registry. Lookups (`POST /subjects/{s}`) and compatibility
/// checks are reads although they are POSTs.
fn is_write(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => path.ends_with("/versions") && !path.contains("/compatibility/"),
        _ => true,
    }
}

/// Runs reads here, and writes here (primary, or asked by a follower) or at the primary.
pub(super) async fn route_writes(State(fwd): State<Forwarder>, request: Request, next: Next) -> Response {
    if !is_write(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    if request.headers().contains_key(FORWARDED) || fwd.reg.role() == Role::Primary {
        return run_here(&fwd.reg, request, next).await;
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, fwd.body_limit).await {
        Ok(body) => body,
        Err(e) => return error(RegistryError::InvalidSchema(format!("cannot read the request body: {e}"))),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let deadline = Instant::now() + PRIMARY_WAIT;
    loop {
        match fwd.reg.role() {
            Role::Primary | Role::Embedded => {
                // Elected while waiting: run it here.
                let request = Request::from_parts(parts, Body::from(body));
                return run_here(&fwd.reg, request, next).await;
            }
            Role::Follower { primary: Some(url) } => {
                let mut call = fwd
                    .http
                    .request(parts.method.clone(), format!("{}{path}", url.trim_end_matches('/')))
                    .header(FORWARDED, "1")
                    .body(body.clone());
                for name in [header::CONTENT_TYPE, header::ACCEPT, header::AUTHORIZATION] {
                    if let Some(value) = parts.headers.get(&name) {
                        call = call.header(name, value);
                    }
                }
                match call.send().await {
                    Ok(answer) => return relay(&fwd.reg, answer).await,
                    // Not received: safe to send again once a primary answers.
                    Err(e) if e.is_connect() && Instant::now() < deadline => {
                        tracing::debug!(%url, error = %e, "primary unreachable; waiting for the next one");
                    }
                    Err(e) => return error(RegistryError::Forwarding(format!("{url}: {e}"))),
                }
            }
            Role::Follower { primary: None } => {}
        }
        if Instant::now() >= deadline {
            return error(RegistryError::UnknownPrimary(format!(
                "no primary reachable within {} s (an election may be under way); retry",
                PRIMARY_WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a write here and says how far the log must be read to see it.
async fn run_here(reg: &Registry, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(position) = reg.log_position() {
        let at = *position.borrow();
        if let Ok(value) = HeaderValue::from_str(&at.to_string()) {
            response.headers_mut().insert(POSITION, value);
        }
    }
    response
}

/// The primary's answer, once this follower has read the log as far as the primary had.
async fn relay(reg: &Registry, answer: reqwest::Response) -> Response {
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let position: Option<i64> =
        answer.headers().get(POSITION).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(e) => return error(RegistryError::Forwarding(format!("reading the primary's answer: {e}"))),
    };
    if let (Some(target), Some(mut mine)) = (position, reg.log_position()) {
        let caught_up = tokio::time::timeout(CATCH_UP_WAIT, mine.wait_for(|p| *p >= target)).await;
        if !matches!(caught_up, Ok(Ok(_))) {
            tracing::warn!(target, "the forwarded write was not read here in time; answering anyway");
        }
    }
    let mut response = (status, body).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(p) = position.and_then(|p| HeaderValue::from_str(&p.to_string()).ok()) {
        response.headers_mut().insert(POSITION, p);
    }
    response
}

fn error(e: RegistryError) -> Response {
    ApiError(e).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_deletes_and_settings_are_writes_lookups_and_checks_are_not() {
        let writes = [
            (Method::POST, "/subjects/s/versions"),
            (Method::POST, "/contexts/.c/subjects/s/versions"),
            (Method::DELETE, "/subjects/s"),
            (Method::DELETE, "/subjects/s/versions/1"),
            (Method::PUT, "/config"),
            (Method::PUT, "/mode/s"),
            (Method::DELETE, "/config/s"),
        ];
        for (m, p) in writes {
            assert!(is_write(&m, p), "{m} {p}");
        }
        let reads = [
            (Method::GET, "/subjects/s/versions"),
            (Method::POST, "/subjects/s"),
            (Method::POST, "/compatibility/subjects/s/versions"),
            (Method::POST, "/compatibility/subjects/s/versions/latest"),
            (Method::POST, "/contexts/.c/compatibility/subjects/s/versions"),
        ];
        for (m, p) in reads {
            assert!(!is_write(&m, p), "{m} {p}");
        }
    }
}
