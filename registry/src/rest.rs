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

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::RegistryError;
use crate::registry::{RegisterRequest, Registry, AVRO};
use crate::types::{Compatibility, Mode, SchemaReference, SubjectVersion, VersionSelector};

/// The content type of every response, as Confluent's API answers.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Params = Query<HashMap<String, String>>;
type Body = Result<Bytes, BytesRejection>;

/// The REST API over `registry`, to be served on the HTTP port (routes at the root).
pub fn router(registry: Registry) -> Router {
    // A body holds one schema plus a little JSON around it (escaping can double it).
    let body_limit = registry.config().max_schema_bytes.saturating_mul(2).saturating_add(64 * 1024);
    Router::new()
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
        .route("/config", get(get_global_config).put(put_global_config).delete(delete_global_config))
        .route("/config/{subject}", get(get_config).put(put_config).delete(delete_config))
        .route("/mode", get(get_global_mode).put(put_global_mode).delete(delete_global_mode))
        .route("/mode/{subject}", get(get_mode).put(put_mode).delete(delete_mode))
        .route("/compatibility/subjects/{subject}/versions", post(check_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(check_version))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(registry)
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

/// Serializes straight to the body, without a `Value` tree (the hot lookup path).
fn ok_serialized<T: serde::Serialize>(value: &T) -> Result<Reply, ApiError> {
    serde_json::to_string(value)
        .map(|body| Reply(StatusCode::OK, body))
        .map_err(|e| ApiError(RegistryError::Storage(format!("cannot serialize the answer: {e}"))))
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

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn parse_version(raw: &str) -> Result<VersionSelector, ApiError> {
    raw.parse().map_err(ApiError)
}

fn parse_id(raw: &str) -> Result<u32, ApiError> {
    raw.parse().map_err(|_| ApiError(RegistryError::SchemaNotFound(format!("Schema {raw} not found"))))
}

/// Parses a JSON body into `T`; a missing, oversized or malformed body is a 42201/42209 error.
fn parse_body<T: for<'de> Deserialize<'de>>(body: Body, max: usize) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(RegistryError::SchemaTooLarge { size: max.saturating_add(1), limit: max })
        } else {
            ApiError(RegistryError::InvalidSchema(format!("cannot read the request body: {e}")))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError(RegistryError::InvalidSchema(format!("the request body is not valid: {e}"))))
}

/// The body of a registration, lookup or compatibility check.
#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<SchemaReference>>,
    id: Option<i64>,
    version: Option<i64>,
}

impl SchemaBody {
    fn references(&self) -> Vec<SchemaReference> {
        self.references.clone().unwrap_or_default()
    }

    fn check_type(&self) -> Result<(), ApiError> {
        match self.schema_type.as_deref() {
            None => Ok(()),
            Some(t) if t.eq_ignore_ascii_case(AVRO) => Ok(()),
            Some(other) => Err(ApiError(RegistryError::InvalidSchema(format!(
                "schema type {other} is not supported: this registry holds AVRO schemas only"
            )))),
        }
    }
}

/// A subject version as Confluent shows it (`schemaType` omitted for AVRO,
/// `references` only when there are some).
#[derive(serde::Serialize)]
struct SubjectVersionBody<'a> {
    subject: &'a str,
    version: i32,
    id: u32,
    schema: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    references: &'a [SchemaReference],
}

/// `GET /schemas/ids/{id}`: the schema text, and its references if any.
#[derive(serde::Serialize)]
struct SchemaByIdBody<'a> {
    schema: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    references: &'a [SchemaReference],
}

fn subject_version_json(sv: &SubjectVersion) -> Result<Reply, ApiError> {
    ok_serialized(&SubjectVersionBody {
        subject: &sv.subject,
        version: sv.version,
        id: sv.id,
        schema: &sv.schema,
        references: &sv.references,
    })
}

async fn list_subjects(State(reg): State<Registry>, Query(params): Params) -> ApiResult {
    let mut subjects = reg.subjects_with(flag(&params, "deleted"))?;
    if let Some(prefix) = params.get("subjectPrefix") {
        subjects.retain(|s| s.starts_with(prefix.as_str()));
    }
    ok(json!(subjects))
}

async fn list_versions(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult {
    ok(json!(reg.versions(&subject, flag(&params, "deleted"))?))
}

async fn register(State(reg): State<Registry>, Path(subject): Path<String>, body: Body) -> ApiResult {
    let body: SchemaBody = parse_body(body, reg.config().max_schema_bytes)?;
    body.check_type()?;
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
    let request = RegisterRequest { references: body.references(), schema: body.schema, id, version };
    let sv = blocking(move || reg.register_request(&subject, request)).await?;
    subject_version_json(&sv)
}

async fn lookup(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> ApiResult {
    let body: SchemaBody = parse_body(body, reg.config().max_schema_bytes)?;
    body.check_type()?;
    let sv = reg.lookup_with(&subject, &body.schema, &body.references(), flag(&params, "deleted"))?;
    subject_version_json(&sv)
}

async fn get_version(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult {
    let sv = reg.version_with(&subject, parse_version(&version)?, flag(&params, "deleted"))?;
    subject_version_json(&sv)
}

async fn get_version_schema(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let sv = reg.version_with(&subject, parse_version(&version)?, flag(&params, "deleted"))?;
    Ok(raw_schema(sv.schema))
}

/// The schema text itself as the body (what `.../schema` endpoints return).
fn raw_schema(text: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn referenced_by(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
) -> ApiResult {
    ok(json!(reg.referenced_by(&subject, parse_version(&version)?)?))
}

async fn delete_version(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult {
    let selector = parse_version(&version)?;
    let permanent = flag(&params, "permanent");
    let n = blocking(move || reg.delete_version(&subject, selector, permanent)).await?;
    ok(json!(n))
}

async fn delete_subject(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let permanent = flag(&params, "permanent");
    let versions = blocking(move || reg.delete_subject(&subject, permanent)).await?;
    ok(json!(versions))
}

async fn schema_types() -> ApiResult {
    ok(json!([AVRO]))
}

async fn get_schema(State(reg): State<Registry>, Path(id): Path<String>) -> ApiResult {
    let (schema, references) = reg.schema_text_by_id(parse_id(&id)?)?;
    ok_serialized(&SchemaByIdBody { schema: &schema, references: &references })
}

async fn get_schema_text(State(reg): State<Registry>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (schema, _) = reg.schema_text_by_id(parse_id(&id)?)?;
    Ok(raw_schema(schema))
}

async fn get_schema_subjects(
    State(reg): State<Registry>,
    Path(id): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let pairs = reg.subject_versions_of_id(parse_id(&id)?, flag(&params, "deleted"))?;
    let mut subjects: Vec<String> = pairs.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    ok(json!(subjects))
}

async fn get_schema_versions(
    State(reg): State<Registry>,
    Path(id): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let pairs = reg.subject_versions_of_id(parse_id(&id)?, flag(&params, "deleted"))?;
    ok(Value::Array(
        pairs.into_iter().map(|(subject, version)| json!({"subject": subject, "version": version})).collect(),
    ))
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

fn level_from(body: Body, max: usize) -> Result<Compatibility, ApiError> {
    let body: ConfigBody = parse_body(body, max).map_err(|e| match e.0 {
        RegistryError::InvalidSchema(m) => ApiError(RegistryError::InvalidCompatibilityLevel(m)),
        other => ApiError(other),
    })?;
    let raw = body.compatibility.or(body.compatibility_level).unwrap_or_default();
    raw.parse().map_err(ApiError)
}

async fn get_global_config(State(reg): State<Registry>) -> ApiResult {
    ok(json!({"compatibilityLevel": reg.compatibility(None, true)?.as_str()}))
}

async fn get_config(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult {
    let level = reg.compatibility(Some(&subject), flag(&params, "defaultToGlobal"))?;
    ok(json!({"compatibilityLevel": level.as_str()}))
}

async fn put_global_config(State(reg): State<Registry>, body: Body) -> ApiResult {
    let level = level_from(body, reg.config().max_schema_bytes)?;
    blocking(move || reg.set_compatibility(None, level)).await?;
    ok(json!({"compatibility": level.as_str()}))
}

async fn put_config(State(reg): State<Registry>, Path(subject): Path<String>, body: Body) -> ApiResult {
    let level = level_from(body, reg.config().max_schema_bytes)?;
    blocking(move || reg.set_compatibility(Some(&subject), level)).await?;
    ok(json!({"compatibility": level.as_str()}))
}

async fn delete_global_config(State(reg): State<Registry>) -> ApiResult {
    let previous = blocking(move || reg.delete_compatibility(None)).await?;
    ok(json!({"compatibilityLevel": previous.as_str()}))
}

async fn delete_config(State(reg): State<Registry>, Path(subject): Path<String>) -> ApiResult {
    let previous = blocking(move || reg.delete_compatibility(Some(&subject))).await?;
    ok(json!({"compatibilityLevel": previous.as_str()}))
}

#[derive(Deserialize)]
struct ModeBody {
    mode: Option<String>,
}

fn mode_from(body: Body, max: usize) -> Result<Mode, ApiError> {
    let body: ModeBody = parse_body(body, max).map_err(|e| match e.0 {
        RegistryError::InvalidSchema(m) => ApiError(RegistryError::InvalidMode(m)),
        other => ApiError(other),
    })?;
    body.mode.unwrap_or_default().parse().map_err(ApiError)
}

async fn get_global_mode(State(reg): State<Registry>) -> ApiResult {
    ok(json!({"mode": reg.mode(None, true)?.as_str()}))
}

async fn get_mode(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
) -> ApiResult {
    ok(json!({"mode": reg.mode(Some(&subject), flag(&params, "defaultToGlobal"))?.as_str()}))
}

async fn put_global_mode(State(reg): State<Registry>, Query(params): Params, body: Body) -> ApiResult {
    let mode = mode_from(body, reg.config().max_schema_bytes)?;
    let force = flag(&params, "force");
    blocking(move || reg.set_mode(None, mode, force)).await?;
    ok(json!({"mode": mode.as_str()}))
}

async fn put_mode(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> ApiResult {
    let mode = mode_from(body, reg.config().max_schema_bytes)?;
    let force = flag(&params, "force");
    blocking(move || reg.set_mode(Some(&subject), mode, force)).await?;
    ok(json!({"mode": mode.as_str()}))
}

async fn delete_global_mode(State(reg): State<Registry>) -> ApiResult {
    let previous = blocking(move || reg.delete_mode(None)).await?;
    ok(json!({"mode": previous.as_str()}))
}

async fn delete_mode(State(reg): State<Registry>, Path(subject): Path<String>) -> ApiResult {
    let previous = blocking(move || reg.delete_mode(Some(&subject))).await?;
    ok(json!({"mode": previous.as_str()}))
}

fn verdict(messages: Vec<String>, verbose: bool) -> Value {
    let mut v = json!({"is_compatible": messages.is_empty()});
    if verbose {
        v["messages"] = json!(messages);
    }
    v
}

/// Checks against the versions the subject's level names; a subject with no
/// versions accepts anything, as a registration there would succeed.
async fn check_all(
    State(reg): State<Registry>,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Body,
) -> ApiResult {
    let body: SchemaBody = parse_body(body, reg.config().max_schema_bytes)?;
    body.check_type()?;
    let messages = match reg.check_with(&subject, &body.schema, &body.references(), VersionSelector::Latest) {
        Err(RegistryError::SubjectNotFound(_)) => Vec::new(),
        other => other?,
    };
    ok(verdict(messages, flag(&params, "verbose")))
}

async fn check_version(
    State(reg): State<Registry>,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
    body: Body,
) -> ApiResult {
    let mut selector = parse_version(&version)?;
    let body: SchemaBody = parse_body(body, reg.config().max_schema_bytes)?;
    body.check_type()?;
    if selector == VersionSelector::Latest {
        // As Confluent: `latest` names one version, checked in the directions the level
        // says; checking against every version is `POST .../versions` (no version).
        selector = VersionSelector::Number(reg.version(&subject, VersionSelector::Latest)?.version);
    }
    let messages = reg.check_with(&subject, &body.schema, &body.references(), selector)?;
    ok(verdict(messages, flag(&params, "verbose")))
}
