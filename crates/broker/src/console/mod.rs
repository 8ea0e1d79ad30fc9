//! The web console under `/ui` on the HTTP port: server-rendered pages over the same services
//! the gRPC and HTTP front ends call (topics, fetch, groups, tenants, metrics, the registry).
//!
//! A front end, like `grpc/` and `http.rs`: nothing below the front ends imports it. It owns
//! the console's sessions (who is logged in, each session's CSRF token), the page layout, the
//! embedded CSS and JavaScript (compiled into the binary: no CDN, nothing fetched at run time)
//! and a sampler that keeps a short history of the broker's counters for the charts.
//!
//! Pages are maud templates: checked at compile time and escaping every interpolated string,
//! so a record, key or schema holding `<script>` is shown as text. Every mutating action is
//! a POST whose form carries the session's CSRF token, checked by [`CsrfForm`] before the
//! handler runs; the session cookie is `HttpOnly; SameSite=Strict`.
//!
//! With authentication on, a session starts by posting a token to `/ui/login`; the session
//! then acts as that token's [`Caller`] and the pages show only what it may see. With
//! authentication off a session is opened on the first visit (it carries the CSRF token).

mod chart;
mod functions;
mod groups;
mod messages;
mod overview;
mod produce;
mod replication;
mod schemas;
mod tenants;
mod topics;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{html, Markup, DOCTYPE};
use parking_lot::Mutex;

use crate::auth::{self, Caller};
use crate::broker::Broker;
use crate::error::BrokerError;

/// The session cookie's name.
const COOKIE: &str = "runnel_console";
/// How long a session lives without use.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// Most sessions held; the least recently used goes first.
const MAX_SESSIONS: usize = 10_000;
/// Samples of the counters kept for charts (one a second: ten minutes).
const MAX_SAMPLES: usize = 600;
/// How often the sampler reads the counters.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The console's state: the broker, the token verifier, the sessions and the samples.
pub(crate) struct Console {
    broker: Arc<Broker>,
    verifier: auth::Authenticator,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    samples: Mutex<VecDeque<Sample>>,
}

/// One logged-in (or, without authentication, anonymous) browser.
pub(crate) struct Session {
    id: String,
    /// Who the session acts as.
    caller: Caller,
    /// Sent in every form, checked on every POST.
    csrf: String,
    last_used: Mutex<Instant>,
}

impl Session {
    /// The caller, for [`Caller::check`] and [`Caller::sees`].
    pub(crate) fn caller(&self) -> Option<&Caller> {
        Some(&self.caller)
    }

    /// The hidden CSRF field every form carries.
    pub(crate) fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }
}

/// The counters at one moment, for rates and lag over time.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    /// When taken (ms since the epoch).
    pub at_ms: i64,
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Each topic's summed high watermarks.
    pub topic_end: HashMap<String, i64>,
    /// Each (group, topic)'s total lag.
    pub lag: HashMap<(String, String), i64>,
    /// Each function's (processed, dead-lettered) counts.
    pub functions: HashMap<String, (u64, u64)>,
}

/// The console's routes under `/ui`, and its sampler (ended by the broker's shutdown).
pub(crate) fn router(broker: &Arc<Broker>, verifier: auth::Authenticator) -> axum::Router {
    let console = Arc::new(Console {
        broker: Arc::clone(broker),
        verifier,
        sessions: Mutex::new(HashMap::new()),
        samples: Mutex::new(VecDeque::new()),
    });
    spawn_sampler(Arc::downgrade(&console), broker.shutdown.clone());
    axum::Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/static/console.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/ui/static/console.js", get(|| async { asset("text/javascript; charset=utf-8", JS) }))
        .merge(topics::routes())
        .merge(messages::routes())
        .merge(schemas::routes())
        .merge(produce::routes())
        .merge(groups::routes())
        .merge(tenants::routes())
        .merge(functions::routes())
        .merge(replication::routes())
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&console), sessions))
        .with_state(console)
}

/// Whether `session` may see the topic named `topic` (a stored or full name).
pub(crate) fn sees_topic(session: &Session, topic: &str) -> bool {
    runnel_auth::names::TopicName::parse(topic)
        .is_ok_and(|n| Caller::sees(session.caller(), &auth::Resource::Topic(&n)))
}

/// Reads the counters every second into the ring of samples. Holds the console weakly, so
/// that the broker's services are not held by it between samples.
fn spawn_sampler(console: Weak<Console>, shutdown: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(console) = console.upgrade() else { return };
            // Group offsets are read from meta.redb: off the async workers.
            let Ok((console, sample)) = tokio::task::spawn_blocking(move || {
                let sample = take_sample(&console.broker);
                (console, sample)
            })
            .await
            else {
                return;
            };
            let mut samples = console.samples.lock();
            if samples.len() == MAX_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(sample);
        }
    });
}

fn take_sample(broker: &Broker) -> Sample {
    let m = &broker.metrics;
    let mut topic_end = HashMap::new();
    for t in broker.topics.list() {
        let end: i64 = t.partitions.iter().map(|l| l.stats().high_watermark).sum();
        topic_end.insert(t.meta.name.clone(), end);
    }
    Sample {
        at_ms: crate::meta::records::now_ms(),
        records_in: m.records_produced.load(Relaxed),
        records_out: m.records_fetched.load(Relaxed),
        bytes_in: m.bytes_produced.load(Relaxed),
        bytes_out: m.bytes_fetched.load(Relaxed),
        topic_end,
        lag: groups::lag_sample(broker),
        functions: broker.functions.counts(),
    }
}

impl Console {
    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> Vec<Sample> {
        self.samples.lock().iter().cloned().collect()
    }

    pub(crate) fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The topics `session` may see, by name (the overview's totals and the topic list).
    pub(crate) fn visible_topics(&self, session: &Session) -> Vec<Arc<crate::topics::Topic>> {
        self.broker.topics.list().into_iter().filter(|t| sees_topic(session, &t.meta.name)).collect()
    }

    fn new_session(&self, caller: Caller) -> Arc<Session> {
        let session = Arc::new(Session {
            id: random_token(),
            caller,
            csrf: random_token(),
            last_used: Mutex::new(Instant::now()),
        });
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.last_used.lock().elapsed() < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) =
                sessions.iter().min_by_key(|(_, s)| *s.last_used.lock()).map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(session.id.clone(), Arc::clone(&session));
        session
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        let sessions = self.sessions.lock();
        let s = sessions.get(id)?;
        let mut last = s.last_used.lock();
        if last.elapsed() >= SESSION_IDLE {
            return None;
        }
        *last = Instant::now();
        Some(Arc::clone(s))
    }
}

/// 32 random bytes as hex: session ids and CSRF tokens.
fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn session_cookie(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict"))
        .expect("hex is a valid header value")
}

fn cookie_value(request: &Request) -> Option<String> {
    request.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_owned())
        })
    })
}

/// The session edge of every console route: finds the request's session by its cookie; without
/// one, opens an anonymous session when authentication is off and sends the browser to the
/// login page when it is on (the login page and the static files need no session).
async fn sessions(
    State(console): State<Arc<Console>>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    let public = path == "/ui/login" || path.starts_with("/ui/static/");
    if let Some(session) = cookie_value(&request).and_then(|id| console.session(&id)) {
        request.extensions_mut().insert(session);
        return next.run(request).await;
    }
    if public {
        return next.run(request).await;
    }
    if console.verifier.is_some() {
        return Redirect::to("/ui/login").into_response();
    }
    let session = console.new_session(Caller::Open);
    request.extensions_mut().insert(Arc::clone(&session));
    let mut response = next.run(request).await;
    response.headers_mut().append(header::SET_COOKIE, session_cookie(&session.id));
    response
}

/// The request's session (every route but the login page and the static files has one).
pub(crate) struct Sess(pub Arc<Session>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Sess {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Arc<Session>>()
            .cloned()
            .map(Sess)
            .ok_or_else(|| Redirect::to("/ui/login").into_response())
    }
}

/// A POSTed form whose `csrf` field matched the session's token: the only way a handler gets
/// at a POST body, so no mutating route can forget the check. The fields in order, as sent.
pub(crate) struct CsrfForm {
    pub session: Arc<Session>,
    pub fields: Vec<(String, String)>,
}

impl CsrfForm {
    /// The first value of field `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of field `name`, empty when absent.
    pub(crate) fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }
}

impl<S: Send + Sync> FromRequest<S> for CsrfForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let session = request
            .extensions()
            .get::<Arc<Session>>()
            .cloned()
            .ok_or_else(|| Redirect::to("/ui/login").into_response())?;
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|e| e.into_response())?;
        let sent = fields.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_bytes()).unwrap_or(b"");
        if !constant_time_eq(sent, session.csrf.as_bytes()) {
            tracing::warn!("console: a POST without the session's CSRF token was refused");
            return Err(error_page(
                Some(&session),
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong: reload the page and try again",
            ));
        }
        Ok(CsrfForm { session, fields })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// The pages of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Topics,
    Schemas,
    Groups,
    Tenants,
    Functions,
    Replication,
    None,
}

/// A whole page: head, navigation, the session's principal and logout, then `body`.
pub(crate) fn layout(session: Option<&Session>, nav: Nav, title: &str, body: Markup) -> Markup {
    let item = |n: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[ (n == nav).then_some("active") ] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Runnel console" }
                link rel="stylesheet" href="/ui/static/console.css";
                script src="/ui/static/console.js" defer {}
            }
            body {
                header {
                    a.brand href="/ui" { "Runnel" }
                    nav {
                        (item(Nav::Overview, "/ui", "Overview"))
                        (item(Nav::Topics, "/ui/topics", "Topics"))
                        (item(Nav::Schemas, "/ui/schemas", "Schemas"))
                        (item(Nav::Groups, "/ui/groups", "Groups"))
                        (item(Nav::Tenants, "/ui/tenants", "Tenants"))
                        (item(Nav::Functions, "/ui/functions", "Functions"))
                        (item(Nav::Replication, "/ui/replication", "Replication"))
                    }
                    @if let Some(s) = session {
                        @if let Some(name) = s.caller.name() {
                            form.logout method="post" action="/ui/logout" {
                                (s.csrf_field())
                                span.who { (name) }
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page answering `status` with `message`.
pub(crate) fn error_page(session: Option<&Session>, status: StatusCode, message: &str) -> Response {
    let body = html! { p.error id="error" { (message) } };
    (
        status,
        layout(
            session,
            Nav::None,
            &format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")),
            body,
        ),
    )
        .into_response()
}

/// Why a console request failed: an HTTP status and a message for the page.
#[derive(Debug)]
pub(crate) struct Failure(pub StatusCode, pub String);

impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Failure {
        let status: tonic::Status = e.into();
        Failure(grpc_to_http(status.code()), status.message().to_owned())
    }
}

impl From<auth::Denied> for Failure {
    fn from(d: auth::Denied) -> Failure {
        match d {
            auth::Denied::Unauthenticated => Failure(StatusCode::UNAUTHORIZED, d.to_string()),
            auth::Denied::Permission(m) => Failure(StatusCode::FORBIDDEN, m),
        }
    }
}

impl From<runnel_registry::RegistryError> for Failure {
    fn from(e: runnel_registry::RegistryError) -> Failure {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Failure(status, e.to_string())
    }
}

fn grpc_to_http(code: tonic::Code) -> StatusCode {
    use tonic::Code;
    match code {
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A page or a failure, rendered in the session's layout.
pub(crate) type PageResult = Result<Response, (Option<Arc<Session>>, Failure)>;

/// Renders a failure of a handler as an error page.
pub(crate) fn fail(session: &Arc<Session>, f: impl Into<Failure>) -> (Option<Arc<Session>>, Failure) {
    (Some(Arc::clone(session)), f.into())
}

/// Turns a handler's result into a response.
pub(crate) fn respond(result: PageResult) -> Response {
    match result {
        Ok(r) => r,
        Err((session, Failure(status, message))) => error_page(session.as_deref(), status, &message),
    }
}

/// A 303 to `to` with a notice shown on the page (`msg`, escaped when shown).
pub(crate) fn redirect_with(to: &str, key: &str, message: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}{key}={}", url_encode(message))).into_response()
}

/// Percent-encodes a query value.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The notices a redirect carried (`msg`, `error`), shown at the top of a page.
pub(crate) fn notices(msg: Option<&str>, error: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg { p.notice id="notice" { (m) } }
        @if let Some(e) = error { p.error id="error" { (e) } }
    }
}

/// A byte count for people (`1.5 MiB`).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A timestamp in ms as UTC `YYYY-MM-DD hh:mm:ss.mmm`.
pub(crate) fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{milli:03}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

async fn login_page(session: Option<Sess>, State(console): State<Arc<Console>>) -> Response {
    if console.verifier.is_none() || session.is_some() {
        return Redirect::to("/ui").into_response();
    }
    login_form(StatusCode::OK, None)
}

fn login_form(status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(e) = error { p.error id="error" { (e) } }
        form.card method="post" action="/ui/login" {
            label for="token" { "Token" }
            textarea id="token" name="token" rows="4" cols="60" required {}
            p.hint { "A token from " code { "runnel token create" } ". It is kept on the server; \
                      the browser holds only a session cookie." }
            button type="submit" { "Log in" }
        }
    };
    (status, layout(None, Nav::None, "Log in", body)).into_response()
}

/// Verifies the posted token and opens a session acting as its principal. The login form has
/// no session to carry a CSRF token yet: a forged login only logs the browser into the forger's
/// own token, and the cookie is SameSite=Strict.
async fn login(
    State(console): State<Arc<Console>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let Some(verifier) = &console.verifier else { return Redirect::to("/ui").into_response() };
    let token = form.get("token").map(|t| t.trim()).unwrap_or("");
    match verifier.verify(token) {
        Ok(principal) => {
            let session = console.new_session(Caller::Authenticated(Arc::new(principal)));
            tracing::info!(principal = session.caller.name().unwrap_or(""), "console: logged in");
            let mut response = Redirect::to("/ui").into_response();
            response.headers_mut().append(header::SET_COOKIE, session_cookie(&session.id));
            response
        }
        Err(e) => {
            tracing::info!(error = %e, "console: login refused");
            login_form(StatusCode::UNAUTHORIZED, Some(&format!("invalid token: {e}")))
        }
    }
}

async fn logout(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    console.sessions.lock().remove(&form.session.id);
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("runnel_console=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

impl axum::extract::OptionalFromRequestParts<Arc<Console>> for Sess {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &Arc<Console>,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Arc<Session>>().cloned().map(Sess))
    }
}
