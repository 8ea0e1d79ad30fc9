//! What the REST handlers take from a request, each parsed and checked once: the subject of
//! the path (normalized, and only once the caller may act on it) or the registry-wide scope of
//! a setting, the version and schema id of the path, the query flags, and the JSON bodies.
//!
//! Axum runs a handler's extractors in argument order, so a handler lists them in the order
//! Confluent reports failures: the subject (40401, 403) before the version (42202) before the
//! body (42201, 42209). A failed extraction answers with the Confluent error body.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{Api, ApiError};
use crate::access::SchemaAction;
use crate::context;
use crate::error::RegistryError;
use crate::registry::AVRO;
use crate::types::{Compatibility, Mode, SchemaReference, VersionSelector};

/// What a handler does: read or write. The marker types [`Reads`] and [`Writes`] name it in
/// the extractor's type, so a handler's signature says which permission it needs.
pub(super) trait Action: Send + Sync {
    const ACTION: SchemaAction;
}

/// The handler reads (versions, schemas, settings, verdicts).
pub(super) enum Reads {}
/// The handler changes something (registers, deletes, sets).
pub(super) enum Writes {}

impl Action for Reads {
    const ACTION: SchemaAction = SchemaAction::Read;
}

impl Action for Writes {
    const ACTION: SchemaAction = SchemaAction::Write;
}

/// The `{subject}` of the path as stored (the default context's explicit `:.:` spelling
/// removed), once the caller may take action `A` on it. A subject the caller may not see does
/// not exist for it (40401); one it sees but may not change is 403.
pub(super) struct Subject<A> {
    name: String,
    action: PhantomData<A>,
}

impl<A> Subject<A> {
    /// The stored spelling, owned (for a write moved to the blocking pool).
    pub(super) fn into_string(self) -> String {
        self.name
    }
}

impl<A> Deref for Subject<A> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.name
    }
}

#[derive(Deserialize)]
struct SubjectParam {
    subject: String,
}

impl<A: Action> FromRequestParts<Api> for Subject<A> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        let SubjectParam { subject } = params(parts, api).await?;
        let name =
            api.subject(&parts.extensions, &subject, A::ACTION).map_err(IntoResponse::into_response)?;
        Ok(Subject { name, action: PhantomData })
    }
}

/// The path parameters, percent-decoded, into `T` (a struct naming the ones it needs).
async fn params<T: DeserializeOwned + Send + 'static>(parts: &mut Parts, api: &Api) -> Result<T, Response> {
    Path::from_request_parts(parts, api).await.map(|Path(t)| t).map_err(IntoResponse::into_response)
}

/// What a configuration or mode request addresses: the `{subject}` of the path, checked as
/// [`Subject`] checks it, or on a path without one the whole registry, once the caller may take
/// action `A` on its settings.
pub(super) struct Scope<A> {
    subject: Option<String>,
    action: PhantomData<A>,
}

impl<A> Scope<A> {
    /// The subject as stored, or `None` for the registry-wide settings.
    pub(super) fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// [`Scope::subject`], owned (for a write moved to the blocking pool).
    pub(super) fn into_subject(self) -> Option<String> {
        self.subject
    }
}

impl<A: Action> FromRequestParts<Api> for Scope<A> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        let mut all: HashMap<String, String> = params(parts, api).await?;
        let subject = match all.remove("subject") {
            Some(raw) => {
                Some(api.subject(&parts.extensions, &raw, A::ACTION).map_err(IntoResponse::into_response)?)
            }
            None => {
                api.access
                    .check(&parts.extensions, None, A::ACTION)
                    .map_err(|m| ApiError(RegistryError::Forbidden(m)).into_response())?;
                None
            }
        };
        Ok(Scope { subject, action: PhantomData })
    }
}

/// The `{version}` of the path: a number in `[1, 2^31-1]`, `latest` or `-1`; else 42202.
pub(super) struct Version(pub(super) VersionSelector);

#[derive(Deserialize)]
struct VersionParam {
    version: String,
}

impl FromRequestParts<Api> for Version {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        let VersionParam { version } = params(parts, api).await?;
        version.parse().map(Version).map_err(|e| ApiError(e).into_response())
    }
}

/// The `{id}` of the path, a schema the caller may see (through a subject that holds or held
/// it, or, for an id no subject holds any more, with registry-wide read access); else 40403.
pub(super) struct SchemaId(pub(super) u32);

#[derive(Deserialize)]
struct IdParam {
    id: String,
}

impl FromRequestParts<Api> for SchemaId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        let IdParam { id: raw } = params(parts, api).await?;
        let id: u32 = raw.parse().map_err(|_| {
            ApiError(RegistryError::SchemaNotFound(format!("Schema {raw} not found"))).into_response()
        })?;
        api.id_visible(&parts.extensions, id).map_err(IntoResponse::into_response)?;
        Ok(SchemaId(id))
    }
}

/// The query string's parameters; a flag is set when its value is `true` (any case).
pub(super) struct Flags(HashMap<String, String>);

impl Flags {
    /// Whether `?name=true`.
    pub(super) fn on(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The raw value of `name`, if given.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl FromRequestParts<Api> for Flags {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, Response> {
        let Query(params) =
            Query::from_request_parts(parts, api).await.map_err(IntoResponse::into_response)?;
        Ok(Flags(params))
    }
}

/// Reads the body, whatever its content type; an oversized body is 42209, an unreadable one 42201.
async fn body_bytes(req: Request, api: &Api) -> Result<Bytes, ApiError> {
    let max = api.reg.config().max_schema_bytes;
    Bytes::from_request(req, api).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(RegistryError::SchemaTooLarge { size: max.saturating_add(1), limit: max })
        } else {
            ApiError(RegistryError::InvalidSchema(format!("cannot read the request body: {e}")))
        }
    })
}

/// Parses a body as JSON into `T`; a missing or malformed one is 42201.
fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(RegistryError::InvalidSchema(format!("the request body is not valid: {e}"))))
}

/// Reads the body and parses it as JSON into `T` (see [`body_bytes`] and [`parse_json`]).
async fn json_body<T: for<'de> Deserialize<'de>>(req: Request, api: &Api) -> Result<T, ApiError> {
    parse_json(&body_bytes(req, api).await?)
}

/// The body of a registration, lookup or compatibility check, of schema type AVRO (or none).
///
/// A body is parsed once: the parse is a function of the bytes alone, so a body sent again
/// (a client looking its schema up before every batch) is taken from a cache of recent bodies
/// and its schema text, often thousands of escaped characters, is not unescaped again.
pub(super) struct SchemaBody(Arc<SchemaJson>);

/// What a [`SchemaBody`] holds.
#[derive(Deserialize)]
pub(super) struct SchemaJson {
    pub(super) schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    pub(super) references: Option<Vec<SchemaReference>>,
    pub(super) id: Option<i64>,
    pub(super) version: Option<i64>,
}

impl Deref for SchemaBody {
    type Target = SchemaJson;

    fn deref(&self) -> &SchemaJson {
        &self.0
    }
}

impl FromRequest<Api> for SchemaBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, api: &Api) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, api).await?;
        let text = std::str::from_utf8(&bytes).ok();
        if let Some(hit) = text.and_then(|t| api.bodies.get(t, &[])) {
            return Ok(SchemaBody(hit));
        }
        let body: SchemaJson = parse_json(&bytes)?;
        match body.schema_type.as_deref() {
            None => {}
            Some(t) if t.eq_ignore_ascii_case(AVRO) => {}
            Some(other) => {
                return Err(ApiError(RegistryError::InvalidSchema(format!(
                    "schema type {other} is not supported: this registry holds AVRO schemas only"
                ))))
            }
        }
        let body = Arc::new(body);
        if let Some(text) = text {
            api.bodies.insert(text, &[], body.clone());
        }
        Ok(SchemaBody(body))
    }
}

/// A `PUT /config` body: `compatibility` (or `compatibilityLevel`); 42203 if unknown or malformed.
pub(super) struct LevelBody(pub(super) Compatibility);

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

impl FromRequest<Api> for LevelBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, api: &Api) -> Result<Self, ApiError> {
        let body: ConfigBody = json_body(req, api).await.map_err(|e| match e.0 {
            RegistryError::InvalidSchema(m) => ApiError(RegistryError::InvalidCompatibilityLevel(m)),
            other => ApiError(other),
        })?;
        let raw = body.compatibility.or(body.compatibility_level).unwrap_or_default();
        raw.parse().map(LevelBody).map_err(ApiError)
    }
}

/// A `PUT /mode` body: `mode`; 42204 if unknown or malformed.
pub(super) struct ModeBody(pub(super) Mode);

#[derive(Deserialize)]
struct ModeJson {
    mode: Option<String>,
}

impl FromRequest<Api> for ModeBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, api: &Api) -> Result<Self, ApiError> {
        let body: ModeJson = json_body(req, api).await.map_err(|e| match e.0 {
            RegistryError::InvalidSchema(m) => ApiError(RegistryError::InvalidMode(m)),
            other => ApiError(other),
        })?;
        body.mode.unwrap_or_default().parse().map(ModeBody).map_err(ApiError)
    }
}

impl Api {
    /// The subject as stored, once the caller may `action` it (see [`Subject`]); also used for
    /// the subjects a body's references name.
    pub(super) fn subject(
        &self,
        ext: &axum::http::Extensions,
        raw: &str,
        action: SchemaAction,
    ) -> Result<String, ApiError> {
        let subject = context::normalize_subject(raw);
        if context::split_subject(&subject).1.is_empty() {
            // `:.ctx:` alone names a context, which has no settings of its own here.
            return Err(ApiError(RegistryError::InvalidSubject(subject)));
        }
        if action == SchemaAction::Read && !self.access.visible(ext, &subject) {
            return Err(ApiError(RegistryError::SubjectNotFound(subject)));
        }
        self.access.check(ext, Some(&subject), action).map_err(|m| ApiError(RegistryError::Forbidden(m)))?;
        Ok(subject)
    }
}
