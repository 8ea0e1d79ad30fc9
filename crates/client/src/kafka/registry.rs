//! The schema registry over its Confluent REST API, the Kafka transport's
//! [`SchemaLookup`]: schema text by global id, lookup and registration of a
//! schema under a subject, and the verbose compatibility check that names
//! every problem. Answers are cached by the client's
//! [`SchemaCache`](crate::registry::SchemaCache), not here.

use reqwest::StatusCode;
use runnel_avro::Schema;
use serde_json::{json, Value};

use super::config::KafkaConfig;
use crate::error::ClientError;
use crate::transport::{SchemaLookup, SubjectVersion};

/// The registry's media type (Confluent's); plain JSON is accepted as well.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// A Confluent-compatible registry reached over HTTP. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HttpRegistry {
    base: String,
    http: reqwest::Client,
    retry_for: std::time::Duration,
}

/// One answer: the status and the JSON body (`Null` when there is none).
struct Answer {
    status: StatusCode,
    body: Value,
}

impl HttpRegistry {
    pub(crate) fn new(config: &KafkaConfig) -> Result<Self, ClientError> {
        let base = config.registry_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::InvalidArgument(format!(
                "registry_url `{}` is not an http:// URL",
                config.registry_url
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &config.registry_token {
            let mut value =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    ClientError::InvalidArgument(
                        "the registry token holds characters a header cannot carry".into(),
                    )
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder().use_rustls_tls().default_headers(headers);
        if let Some(pem) = &config.registry_ca_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ClientError::InvalidArgument(format!("the registry's CA certificates are not PEM: {e}"))
            })?;
            for root in roots {
                builder = builder.add_root_certificate(root);
            }
        }
        let http = builder
            .connect_timeout(config.connect_timeout)
            .timeout(config.registry_timeout)
            .build()
            .map_err(|e| registry_failure(&base, &e))?;
        Ok(HttpRegistry { base, http, retry_for: config.registry_timeout })
    }

    /// Fails unless the registry answers its subjects list.
    pub(crate) async fn check_reachable(&self) -> Result<(), ClientError> {
        let answer = self.call(reqwest::Method::GET, "/subjects", None).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(ClientError::Registry {
                message: format!("{} answered GET /subjects with {}", self.base, answer.status),
            })
        }
    }

    /// One call, retried with back-off while the registry cannot be reached
    /// or answers 5xx (restarting), up to the registry timeout.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{path}", self.base);
        let deadline = tokio::time::Instant::now() + self.retry_for;
        let mut backoff = std::time::Duration::from_millis(20);
        loop {
            let mut req = self.http.request(method.clone(), &url).header("Accept", CONTENT_TYPE);
            if let Some(b) = &body {
                req = req.header("Content-Type", CONTENT_TYPE).body(b.to_string());
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes().await {
                        Ok(bytes) => {
                            Ok(Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let retryable = match &outcome {
                Ok(a) => a.status.is_server_error(),
                Err(e) => e.is_connect() || e.is_timeout(),
            };
            if !retryable || tokio::time::Instant::now() >= deadline {
                return outcome.map_err(|e| registry_failure(&self.base, &e));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
        }
    }

    /// The body of a 2xx answer, or the registry's error as a [`ClientError::Registry`].
    fn success(&self, answer: Answer) -> Result<Value, ClientError> {
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(ClientError::Registry {
                message: format!("{} ({}): {}", self.base, answer.status, error_message(&answer.body)),
            })
        }
    }
}

impl SchemaLookup for HttpRegistry {
    async fn schema_text(&self, id: u32) -> Result<String, ClientError> {
        let answer = self.call(reqwest::Method::GET, &format!("/schemas/ids/{id}"), None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(ClientError::SchemaNotFound { id });
        }
        let body = self.success(answer)?;
        if let Some(kind) = body.get("schemaType").and_then(Value::as_str) {
            if kind != "AVRO" {
                return Err(ClientError::Registry {
                    message: format!("schema id {id} is a {kind} schema, not Avro"),
                });
            }
        }
        let text = body.get("schema").and_then(Value::as_str).ok_or_else(|| malformed("schema", &body))?;
        Ok(text.to_owned())
    }

    async fn lookup(&self, subject: &str, schema: &Schema) -> Result<Option<SubjectVersion>, ClientError> {
        let path = format!("/subjects/{}", encode(subject));
        let answer =
            self.call(reqwest::Method::POST, &path, Some(json!({ "schema": schema.json() }))).await?;
        if answer.status == StatusCode::NOT_FOUND {
            // 40401 (no such subject) or 40403 (not a version of it): not registered.
            return Ok(None);
        }
        let body = self.success(answer)?;
        let id = id_of(&body)?;
        let version =
            body.get("version").and_then(Value::as_i64).ok_or_else(|| malformed("version", &body))?;
        Ok(Some(version_of(subject, id, version as i32)))
    }

    async fn register(&self, subject: &str, schema: &Schema) -> Result<SubjectVersion, ClientError> {
        let path = format!("/subjects/{}/versions", encode(subject));
        let answer =
            self.call(reqwest::Method::POST, &path, Some(json!({ "schema": schema.json() }))).await?;
        if answer.status == StatusCode::CONFLICT {
            let reasons = self.incompatibilities(subject, schema).await.unwrap_or_default();
            let reasons = if reasons.is_empty() { vec![error_message(&answer.body)] } else { reasons };
            return Err(ClientError::Incompatible { subject: subject.to_owned(), reasons });
        }
        let body = self.success(answer)?;
        let id = id_of(&body)?;
        // The registration answer has only the id; the lookup gives the version.
        match self.lookup(subject, schema).await? {
            Some(r) => Ok(r),
            None => Ok(version_of(subject, id, -1)),
        }
    }
    async fn incompatibilities(&self, subject: &str, schema: &Schema) -> Result<Vec<String>, ClientError> {
        let path = format!("/compatibility/subjects/{}/versions/latest?verbose=true", encode(subject));
        let answer =
            self.call(reqwest::Method::POST, &path, Some(json!({ "schema": schema.json() }))).await?;
        let body = self.success(answer)?;
        if body.get("is_compatible").and_then(Value::as_bool) == Some(true) {
            return Ok(Vec::new());
        }
        let messages: Vec<String> = body
            .get("messages")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        Ok(if messages.is_empty() { vec!["incompatible".to_owned()] } else { messages })
    }

    async fn version(&self, subject: &str, version: i32) -> Result<SubjectVersion, ClientError> {
        let which = if version < 0 { "latest".to_owned() } else { version.to_string() };
        let path = format!("/subjects/{}/versions/{which}", encode(subject));
        let body = self.success(self.call(reqwest::Method::GET, &path, None).await?)?;
        let id = id_of(&body)?;
        let version =
            body.get("version").and_then(Value::as_i64).ok_or_else(|| malformed("version", &body))?;
        let schema = body.get("schema").and_then(Value::as_str).ok_or_else(|| malformed("schema", &body))?;
        Ok(SubjectVersion {
            subject: subject.to_owned(),
            id,
            version: version as i32,
            schema: schema.to_owned(),
        })
    }
}

/// A lookup or registration answer: the registry does not send the schema back.
fn version_of(subject: &str, id: u32, version: i32) -> SubjectVersion {
    SubjectVersion { subject: subject.to_owned(), id, version, schema: String::new() }
}

fn id_of(body: &Value) -> Result<u32, ClientError> {
    body.get("id")
        .and_then(Value::as_u64)
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| malformed("id", body))
}

fn error_message(body: &Value) -> String {
    match (body.get("error_code").and_then(Value::as_i64), body.get("message").and_then(Value::as_str)) {
        (Some(code), Some(m)) => format!("{m} (error {code})"),
        (None, Some(m)) => m.to_owned(),
        _ => body.to_string(),
    }
}

fn malformed(field: &str, body: &Value) -> ClientError {
    ClientError::Registry { message: format!("the registry's answer lacks `{field}`: {body}") }
}

fn registry_failure(base: &str, e: &reqwest::Error) -> ClientError {
    ClientError::Registry { message: format!("cannot reach the registry at {base}: {e}") }
}

/// Percent-encodes a subject for a URL path segment.
fn encode(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
