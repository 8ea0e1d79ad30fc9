//! The Confluent Schema Registry REST API over a [`Registry`], as an axum router.
//!
//! Shapes, status codes and error codes follow Confluent's API reference so that
//! existing clients (confluent-kafka's `SchemaRegistryClient`, the Java client)
//! work unchanged. Request bodies are read as bytes and parsed here, whatever the
//! content type (`application/vnd.schemaregistry.v1+json`,
//! `application/vnd.schemaregistry+json`, `application/json` or none), so a
//! malformed body gets a Confluent error body rather than axum's plain-text
//! rejection. Writes run on the blocking pool (they commit to redb); reads are
//! in-memory and run inline.

mod extract;
#[cfg(feature = "kafka")]
mod forward;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, Extensions, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tower::Layer;

use crate::access::{AllowAll, SchemaAction, SubjectAccess};
use crate::cache::TextCache;
use crate::context::{self, DEFAULT_CONTEXT};
use crate::error::RegistryError;
use crate::registry::{Found, RegisterRequest, Registry, SchemaEntry};
use crate::types::{SchemaReference, VersionSelector};
use extract::{
    Flags, LevelBody, ModeBody, Reads, SchemaBody, SchemaId, SchemaJson, Scope, Subject, Version, Writes,
};

/// The content type of every response, as Confluent's API answers.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The REST API over `registry`, to be served on the HTTP port (routes at the root).
/// Everyone may do everything; see [`router_with_access`] for a registry behind authentication.
pub fn router(registry: Registry) -> Router {
    router_with_access(registry, Arc::new(AllowAll))
}

/// The REST API over `registry`, consulting `access` on every request: listings show only the
/// subjects the caller may see, a subject it may not see is answered as not found, and an
/// action it may not take is 403 (error code 40301).
///
/// Subjects may be qualified with a context (`:.acme:users-value`), and every route is also
/// served under Confluent's base context path `/contexts/{ctx}/...`, which qualifies the
/// subjects it names with `ctx`.
pub fn router_with_access(registry: Registry, access: Arc<dyn SubjectAccess>) -> Router {
    // A body holds one schema plus a little JSON around it (escaping can double it).
    let body_limit = registry.config().max_schema_bytes.saturating_mul(2).saturating_add(64 * 1024);
    #[cfg(feature = "kafka")]
    let forwarder = forward::Forwarder::new(registry.clone(), body_limit);
    let api = Api { reg: registry, access, bodies: Arc::new(TextCache::new()) };
    let routes = Router::new()
        .route("/contexts", get(list_contexts))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(get_version).delete(delete_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(get_version_schema))
        .route("/subjects/{subject}/versions/{version}/referencedby", get(referenced_by))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(get_schema))
        .route("/schemas/ids/{id}/schema", get(get_schema_text))
        .route("/schemas/ids/{id}/subjects", get(get_schema_subjects))
        .route("/schemas/ids/{id}/versions", get(get_schema_versions))
        .route("/config", get(get_config).put(put_config).delete(delete_config))
        .route("/config/{subject}", get(get_config).put(put_config).delete(delete_config))
        .route("/mode", get(get_mode).put(put_mode).delete(delete_mode))
        .route("/mode/{subject}", get(get_mode).put(put_mode).delete(delete_mode))
        .route("/compatibility/subjects/{subject}/versions", post(check_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(check_version))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(api);
    // The base context path is rewritten before routing, so each route is written once.
    let with_contexts = axum::middleware::map_request(context_path).layer(routes);
    let router = Router::new().fallback_service(with_contexts);
    // On a shared log, writes go to the primary (and are seen here before the answer).
    #[cfg(feature = "kafka")]
    let router = if forwarder.shares_a_log() {
        router.layer(axum::middleware::from_fn_with_state(forwarder, forward::route_writes))
    } else {
        router
    };
    router
}

/// Rewrites `/contexts/{ctx}/rest` to the root route with `ctx` applied: subjects in the path
/// are qualified with it, `/contexts/{ctx}/subjects` lists the context's subjects, and schema
/// ids (global) are served as at the root. Context-wide configuration and mode (`/contexts/
/// {ctx}/config`) are not supported and are left to fail as an invalid subject.
async fn context_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/contexts/") else { return request };
    let Some((ctx, tail)) = rest.split_once('/') else { return request };
    if !context::is_valid_context(ctx) {
        return request;
    }
    let qualified = |name: &str| context::qualify(Some(ctx), name);
    let mut query: Vec<String> = request.uri().query().map(|q| vec![q.to_owned()]).unwrap_or_default();
    let new_path = if tail == "subjects" {
        query.push(format!("subjectPrefix={}", qualified("")));
        "/subjects".to_owned()
    } else if let Some(r) = tail.strip_prefix("subjects/") {
        format!("/subjects/{}", qualified(r))
    } else if let Some(r) = tail.strip_prefix("compatibility/subjects/") {
        format!("/compatibility/subjects/{}", qualified(r))
    } else if let Some(r) = tail.strip_prefix("config/") {
        format!("/config/{}", qualified(r))
    } else if let Some(r) = tail.strip_prefix("mode/") {
        format!("/mode/{}", qualified(r))
    } else if tail.starts_with("schemas/") || ((tail == "config" || tail == "mode") && ctx == DEFAULT_CONTEXT)
    {
        // Schema ids are global; the default context's settings are the registry's.
        format!("/{tail}")
    } else if tail == "config" || tail == "mode" {
        // Context-wide settings: an empty qualified subject, refused as invalid.
        format!("/{tail}/{}", qualified(""))
    } else {
        return request;
    };
    let uri = if query.is_empty() { new_path } else { format!("{new_path}?{}", query.join("&")) };
    if let Ok(uri) = uri.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    request
}

/// The handlers' state: the registry, the access decision and the recent request bodies.
#[derive(Clone)]
struct Api {
    reg: Registry,
    access: Arc<dyn SubjectAccess>,
    /// Schema request bodies recently parsed (see [`SchemaBody`]).
    bodies: Arc<TextCache<SchemaJson>>,
}

impl Api {
    /// Whether the caller may see schema `id`: through a subject that holds (or held) it, or,
    /// for an id no subject holds any more, with registry-wide read access.
    fn id_visible(&self, ext: &Extensions, id: u32) -> Result<(), ApiError> {
        let pairs = self.reg.subject_versions_of_id(id, true)?;
        let seen = if pairs.is_empty() {
            self.access.check(ext, None, SchemaAction::Read).is_ok()
        } else {
            pairs.iter().any(|(s, _)| self.access.visible(ext, s))
        };
        if seen {
            Ok(())
        } else {
            Err(ApiError(RegistryError::SchemaNotFound(format!("Schema {id} not found"))))
        }
    }

    /// References named without a context are resolved in the referrer's context (as
    /// Confluent does), and each must be readable by the caller.
    fn references(
        &self,
        ext: &Extensions,
        subject: &str,
        refs: Option<Vec<SchemaReference>>,
    ) -> Result<Vec<SchemaReference>, ApiError> {
        let (ctx, _) = context::split_subject(subject);
        let mut out = refs.unwrap_or_default();
        for r in &mut out {
            if ctx.is_some() && context::split_subject(&r.subject).0.is_none() {
                r.subject = context::qualify(ctx, &context::normalize_subject(&r.subject));
            }
            r.subject = self.subject(ext, &r.subject, SchemaAction::Read)?;
        }
        Ok(out)
    }
}

/// Serves the REST API over `registry` on `listener` until `shutdown` completes
/// (then lets in-flight requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(registry)).with_graceful_shutdown(shutdown).await
}

/// A JSON response (already serialized) with the registry content type.
struct Reply(StatusCode, String);

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, CONTENT_TYPE)], self.1).into_response()
    }
}

fn ok(value: Value) -> Result<Reply, ApiError> {
    Ok(Reply(StatusCode::OK, value.to_string()))
}

/// A registry error as a Confluent error body.
struct ApiError(RegistryError);

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %self.0, "registry request failed");
        }
        let body = json!({"error_code": self.0.error_code(), "message": self.0.to_string()});
        Reply(status, body.to_string()).into_response()
    }
}

type ApiResult = Result<Reply, ApiError>;

async fn not_found() -> Response {
    let body = json!({"error_code": 404, "message": "HTTP 404 Not Found"});
    Reply(StatusCode::NOT_FOUND, body.to_string()).into_response()
}

async fn method_not_allowed() -> Response {
    let body = json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"});
    Reply(StatusCode::METHOD_NOT_ALLOWED, body.to_string()).into_response()
}

/// Runs a write on the blocking pool: it commits to redb, which fsyncs.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(RegistryError::Storage(format!("the registry task failed: {e}"))))?
        .map_err(ApiError)
}

/// A subject version as Confluent shows it: subject, version, id, schema, and references
/// only when there are some (`schemaType` is omitted for AVRO). `schema_json` is the schema
/// text already written as a JSON string, as the registry keeps it for responses.
fn subject_version_reply(
    subject: &str,
    version: i32,
    id: u32,
    schema_json: &str,
    references: &[SchemaReference],
) -> ApiResult {
    let mut body = String::with_capacity(schema_json.len() + subject.len() + 64);
    body.push_str(r#"{"subject":"#);
    body.push_str(&to_json(subject)?);
    let _ = write!(body, r#","version":{version},"id":{id},"schema":"#);
    body.push_str(schema_json);
    push_references(&mut body, references)?;
    body.push('}');
    Ok(Reply(StatusCode::OK, body))
}

/// `GET /schemas/ids/{id}`: the schema text, and its references if any.
fn schema_reply(entry: &SchemaEntry) -> ApiResult {
    let mut body = String::with_capacity(entry.text_json().len() + 16);
    body.push_str(r#"{"schema":"#);
    body.push_str(entry.text_json());
    push_references(&mut body, entry.references())?;
    body.push('}');
    Ok(Reply(StatusCode::OK, body))
}

fn found_reply(subject: &str, found: &Found) -> ApiResult {
    subject_version_reply(subject, found.version, found.id, found.entry.text_json(), found.entry.references())
}

fn push_references(body: &mut String, references: &[SchemaReference]) -> Result<(), ApiError> {
    if !references.is_empty() {
        body.push_str(r#","references":"#);
        body.push_str(&to_json(references)?);
    }
    Ok(())
}

fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value)
        .map_err(|e| ApiError(RegistryError::Storage(format!("cannot serialize the answer: {e}"))))
}

/// The schema text itself as the body (what `.../schema` endpoints return).
fn raw_schema(text: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

type Reg = State<Api>;

/// `GET /contexts`: the default context and every context holding a subject the caller sees.
async fn list_contexts(State(api): Reg, ext: Extensions) -> ApiResult {
    let mut contexts = BTreeSet::from([DEFAULT_CONTEXT.to_owned()]);
    for subject in api.reg.subjects_with(true)? {
        if api.access.visible(&ext, &subject) {
            contexts.insert(context::context_name(&subject).to_owned());
        }
    }
    ok(json!(contexts))
}

/// `GET /subjects`: every visible subject of every context (Confluent's default prefix
/// `:*:`), or those starting with `subjectPrefix` (`:.acme:` for one context).
async fn list_subjects(State(api): Reg, ext: Extensions, flags: Flags) -> ApiResult {
    let mut subjects = api.reg.subjects_with(flags.on("deleted"))?;
    subjects.retain(|s| api.access.visible(&ext, s));
    if let Some(prefix) = flags.get("subjectPrefix").filter(|p| *p != ":*:") {
        let prefix = context::normalize_subject(prefix);
        subjects.retain(|s| s.starts_with(prefix.as_str()));
    }
    ok(json!(subjects))
}

async fn list_versions(State(api): Reg, subject: Subject<Reads>, flags: Flags) -> ApiResult {
    ok(json!(api.reg.versions(&subject, flags.on("deleted"))?))
}

async fn register(State(api): Reg, ext: Extensions, subject: Subject<Writes>, body: SchemaBody) -> ApiResult {
    let id = match body.id {
        None => None,
        Some(id) => Some(u32::try_from(id).map_err(|_| {
            ApiError(RegistryError::InvalidSchema(format!("id {id} is not a valid schema id")))
        })?),
    };
    let version = match body.version {
        None => None,
        Some(v) => {
            Some(i32::try_from(v).map_err(|_| ApiError(RegistryError::InvalidVersion(v.to_string())))?)
        }
    };
    let references = api.references(&ext, &subject, body.references.clone())?;
    let request = RegisterRequest { references, schema: body.schema.clone(), id, version };
    let (reg, subject) = (api.reg, subject.into_string());
    let sv = blocking(move || reg.register_request(&subject, request)).await?;
    subject_version_reply(&sv.subject, sv.version, sv.id, &to_json(&sv.schema)?, &sv.references)
}

async fn lookup(
    State(api): Reg,
    ext: Extensions,
    subject: Subject<Reads>,
    flags: Flags,
    body: SchemaBody,
) -> ApiResult {
    let references = api.references(&ext, &subject, body.references.clone())?;
    found_reply(&subject, &api.reg.find(&subject, &body.schema, &references, flags.on("deleted"))?)
}

async fn get_version(
    State(api): Reg,
    subject: Subject<Reads>,
    Version(v): Version,
    flags: Flags,
) -> ApiResult {
    found_reply(&subject, &api.reg.find_version(&subject, v, flags.on("deleted"))?)
}

async fn get_version_schema(
    State(api): Reg,
    subject: Subject<Reads>,
    Version(v): Version,
    flags: Flags,
) -> Result<Response, ApiError> {
    Ok(raw_schema(api.reg.find_version(&subject, v, flags.on("deleted"))?.entry.text().to_owned()))
}

/// The ids referencing the version, those the caller may not see left out.
async fn referenced_by(
    State(api): Reg,
    ext: Extensions,
    subject: Subject<Reads>,
    Version(v): Version,
) -> ApiResult {
    let mut ids = api.reg.referenced_by(&subject, v)?;
    ids.retain(|id| api.id_visible(&ext, *id).is_ok());
    ok(json!(ids))
}

async fn delete_version(
    State(api): Reg,
    subject: Subject<Writes>,
    Version(v): Version,
    flags: Flags,
) -> ApiResult {
    let (reg, subject, permanent) = (api.reg, subject.into_string(), flags.on("permanent"));
    ok(json!(blocking(move || reg.delete_version(&subject, v, permanent)).await?))
}

async fn delete_subject(State(api): Reg, subject: Subject<Writes>, flags: Flags) -> ApiResult {
    let (reg, subject, permanent) = (api.reg, subject.into_string(), flags.on("permanent"));
    ok(json!(blocking(move || reg.delete_subject(&subject, permanent)).await?))
}

async fn schema_types() -> ApiResult {
    ok(json!([crate::registry::AVRO]))
}

async fn get_schema(State(api): Reg, SchemaId(id): SchemaId) -> ApiResult {
    schema_reply(&*api.reg.entry_by_id(id)?)
}

async fn get_schema_text(State(api): Reg, SchemaId(id): SchemaId) -> Result<Response, ApiError> {
    Ok(raw_schema(api.reg.entry_by_id(id)?.text().to_owned()))
}

/// The (subject, version) pairs holding schema `id` that the caller may see.
fn visible_pairs(
    api: &Api,
    ext: &Extensions,
    id: u32,
    deleted: bool,
) -> Result<Vec<(String, i32)>, ApiError> {
    let mut pairs = api.reg.subject_versions_of_id(id, deleted)?;
    pairs.retain(|(s, _)| api.access.visible(ext, s));
    Ok(pairs)
}

async fn get_schema_subjects(
    State(api): Reg,
    ext: Extensions,
    SchemaId(id): SchemaId,
    flags: Flags,
) -> ApiResult {
    let pairs = visible_pairs(&api, &ext, id, flags.on("deleted"))?;
    let mut subjects: Vec<String> = pairs.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    ok(json!(subjects))
}

async fn get_schema_versions(
    State(api): Reg,
    ext: Extensions,
    SchemaId(id): SchemaId,
    flags: Flags,
) -> ApiResult {
    let pairs = visible_pairs(&api, &ext, id, flags.on("deleted"))?;
    ok(Value::Array(
        pairs.into_iter().map(|(subject, version)| json!({"subject": subject, "version": version})).collect(),
    ))
}

/// `GET /config[/{subject}]`: the level of the subject (or, with `defaultToGlobal`, the global
/// one where it has none), or the global level.
async fn get_config(State(api): Reg, scope: Scope<Reads>, flags: Flags) -> ApiResult {
    let level = api.reg.compatibility(scope.subject(), flags.on("defaultToGlobal"))?;
    ok(json!({"compatibilityLevel": level.as_str()}))
}

async fn put_config(State(api): Reg, scope: Scope<Writes>, LevelBody(level): LevelBody) -> ApiResult {
    let (reg, subject) = (api.reg, scope.into_subject());
    blocking(move || reg.set_compatibility(subject.as_deref(), level)).await?;
    ok(json!({"compatibility": level.as_str()}))
}

async fn delete_config(State(api): Reg, scope: Scope<Writes>) -> ApiResult {
    let (reg, subject) = (api.reg, scope.into_subject());
    let previous = blocking(move || reg.delete_compatibility(subject.as_deref())).await?;
    ok(json!({"compatibilityLevel": previous.as_str()}))
}

/// `GET /mode[/{subject}]`, as [`get_config`] for modes.
async fn get_mode(State(api): Reg, scope: Scope<Reads>, flags: Flags) -> ApiResult {
    ok(json!({"mode": api.reg.mode(scope.subject(), flags.on("defaultToGlobal"))?.as_str()}))
}

async fn put_mode(
    State(api): Reg,
    scope: Scope<Writes>,
    flags: Flags,
    ModeBody(mode): ModeBody,
) -> ApiResult {
    let (reg, subject, force) = (api.reg, scope.into_subject(), flags.on("force"));
    blocking(move || reg.set_mode(subject.as_deref(), mode, force)).await?;
    ok(json!({"mode": mode.as_str()}))
}

async fn delete_mode(State(api): Reg, scope: Scope<Writes>) -> ApiResult {
    let (reg, subject) = (api.reg, scope.into_subject());
    let previous = blocking(move || reg.delete_mode(subject.as_deref())).await?;
    ok(json!({"mode": previous.as_str()}))
}

fn verdict(messages: Vec<String>, verbose: bool) -> ApiResult {
    let mut v = json!({"is_compatible": messages.is_empty()});
    if verbose {
        v["messages"] = json!(messages);
    }
    ok(v)
}

/// Checks against the versions the subject's level names; a subject with no
/// versions accepts anything, as a registration there would succeed.
async fn check_all(
    State(api): Reg,
    ext: Extensions,
    subject: Subject<Reads>,
    flags: Flags,
    body: SchemaBody,
) -> ApiResult {
    let references = api.references(&ext, &subject, body.references.clone())?;
    let messages = match api.reg.check_with(&subject, &body.schema, &references, VersionSelector::Latest) {
        Err(RegistryError::SubjectNotFound(_)) => Vec::new(),
        other => other?,
    };
    verdict(messages, flags.on("verbose"))
}

async fn check_version(
    State(api): Reg,
    ext: Extensions,
    subject: Subject<Reads>,
    Version(mut selector): Version,
    flags: Flags,
    body: SchemaBody,
) -> ApiResult {
    let references = api.references(&ext, &subject, body.references.clone())?;
    if selector == VersionSelector::Latest {
        // As Confluent: `latest` names one version, checked in the directions the level
        // says; checking against every version is `POST .../versions` (no version).
        selector = VersionSelector::Number(api.reg.version(&subject, VersionSelector::Latest)?.version);
    }
    let messages = api.reg.check_with(&subject, &body.schema, &references, selector)?;
    verdict(messages, flags.on("verbose"))
}
