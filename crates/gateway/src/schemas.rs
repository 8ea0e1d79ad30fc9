//! The registry as the gateway sees it: Confluent's REST API at `--registry-url`,
//! behind a cache so that the produce path asks nothing over the network once an
//! id has been seen.
//!
//! Two facts are cached: an id's schema (immutable once assigned, kept for good)
//! and which subjects an id is a version of (trusted [`MEMBERSHIP_TTL`] for a
//! subject it names; for one it does not name, only [`MISS_TTL`], so that a schema
//! registered a moment ago, or the same schema registered under another subject, is
//! accepted almost at once, while a stream of records with a foreign id costs one
//! request a second).
//! [`RegistrySchemas::prefetch`] fills the cache for a batch's ids before the
//! synchronous check (`runnel-enforce`) reads it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use runnel_avro::Schema;
use runnel_enforce::SchemaSource;

/// How long "id N is (or is not) a version of subject S" is trusted: a deleted version stops
/// being accepted within this time.
pub const MEMBERSHIP_TTL: Duration = Duration::from_secs(30);
/// How long "id N is unknown / not a version of S" is trusted.
pub const MISS_TTL: Duration = Duration::from_secs(1);

/// Why the registry could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The registry was unreachable or answered with an error other than "not found".
    #[error("schema registry at {url}: {message}")]
    Registry {
        /// The registry's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

#[derive(Default)]
struct Cache {
    /// id → its schema (`None`: the registry does not know the id).
    schemas: HashMap<u32, (Option<Arc<Schema>>, Instant)>,
    /// id → the subjects it is a version of.
    subjects: HashMap<u32, (Vec<String>, Instant)>,
}

/// The registry over HTTP, cached.
pub struct RegistrySchemas {
    url: String,
    http: reqwest::Client,
    cache: Mutex<Cache>,
}

#[derive(serde::Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(default, rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(serde::Deserialize)]
struct SubjectVersion {
    subject: String,
}

impl RegistrySchemas {
    /// A client of the registry at `url` (`http://host:port`).
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        RegistrySchemas { url: url.trim_end_matches('/').to_owned(), http, cache: Mutex::default() }
    }

    fn fresh_schema(&self, id: u32) -> bool {
        let cache = self.cache.lock();
        matches!(cache.schemas.get(&id), Some((Some(_), _)))
            || matches!(cache.schemas.get(&id), Some((None, at)) if at.elapsed() < MISS_TTL)
    }

    /// Whether the cache may answer "is `id` a version of `subject`": a yes for
    /// [`MEMBERSHIP_TTL`], a no only for [`MISS_TTL`] (the same schema registered under
    /// another subject a moment ago keeps its id and gains a subject).
    fn fresh_subjects(&self, id: u32, subject: &str) -> bool {
        let cache = self.cache.lock();
        cache.subjects.get(&id).is_some_and(|(subjects, at)| {
            at.elapsed() < if subjects.iter().any(|s| s == subject) { MEMBERSHIP_TTL } else { MISS_TTL }
        })
    }

    /// Fetches what the cache lacks (or holds too long) about `ids` as versions of `subject`.
    pub async fn prefetch(
        &self,
        subject: &str,
        ids: impl IntoIterator<Item = u32>,
    ) -> Result<(), LookupError> {
        for id in ids {
            if !self.fresh_schema(id) {
                let schema = self.fetch_schema(id).await?;
                self.cache.lock().schemas.insert(id, (schema, Instant::now()));
            }
            if !self.fresh_subjects(id, subject) {
                let subjects = self.fetch_subjects(id).await?;
                self.cache.lock().subjects.insert(id, (subjects, Instant::now()));
            }
        }
        Ok(())
    }

    async fn get(&self, path: &str) -> Result<Option<String>, LookupError> {
        let url = format!("{}{path}", self.url);
        let failed = |message: String| LookupError::Registry { url: self.url.clone(), message };
        let response = self.http.get(&url).send().await.map_err(|e| failed(e.to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(failed(format!("GET {path} answered {}", response.status())));
        }
        response.text().await.map(Some).map_err(|e| failed(e.to_string()))
    }

    async fn fetch_schema(&self, id: u32) -> Result<Option<Arc<Schema>>, LookupError> {
        let Some(text) = self.get(&format!("/schemas/ids/{id}")).await? else {
            return Ok(None);
        };
        let bad = |message: String| LookupError::Registry {
            url: self.url.clone(),
            message: format!("schema id {id}: {message}"),
        };
        let body: SchemaBody = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if body.schema_type.as_deref().is_some_and(|t| t != "AVRO") {
            // Not an Avro schema: nothing this gateway can validate a body against. Treated
            // as unknown, so records framed with it are refused rather than passed unchecked.
            return Ok(None);
        }
        let schema = Schema::parse_str(&body.schema).map_err(|e| bad(e.to_string()))?;
        Ok(Some(Arc::new(schema)))
    }

    async fn fetch_subjects(&self, id: u32) -> Result<Vec<String>, LookupError> {
        let Some(text) = self.get(&format!("/schemas/ids/{id}/versions")).await? else {
            return Ok(Vec::new());
        };
        let versions: Vec<SubjectVersion> =
            serde_json::from_str(&text).map_err(|e| LookupError::Registry {
                url: self.url.clone(),
                message: format!("schema id {id}'s versions: {e}"),
            })?;
        Ok(versions.into_iter().map(|v| v.subject).collect())
    }
}

impl SchemaSource for RegistrySchemas {
    type Error = LookupError;

    /// Reads the cache only; [`RegistrySchemas::prefetch`] has filled it for the batch.
    fn schema(&self, subject: &str, id: u32) -> Result<Option<Arc<Schema>>, LookupError> {
        let cache = self.cache.lock();
        let member = cache.subjects.get(&id).is_some_and(|(s, _)| s.iter().any(|s| s == subject));
        if !member {
            return Ok(None);
        }
        Ok(cache.schemas.get(&id).and_then(|(schema, _)| schema.clone()))
    }
}
