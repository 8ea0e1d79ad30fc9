//! Schema enforcement on produce: every record of a batch is checked against
//! its topic's binding before anything is appended.
//!
//! Per record, by validation level:
//! - `none`: nothing;
//! - `id`: the value (and the key, if the topic binds a key subject) carries the
//!   Confluent framing (magic byte 0, 4-byte big-endian schema id) and the id is
//!   a live version of the bound subject;
//! - `full`: `id`, and the bytes after the framing are exactly one datum of
//!   that schema (`runnel_avro::validate`, which allocates nothing).
//!
//! The check of one record's key or value is `runnel-enforce`'s, which the gateway in
//! front of a Kafka cluster shares; this file binds it to the broker's topics and registry.
//!
//! The first bad record refuses the whole batch with its index, the field path
//! and the reason. Which ids belong to which subject is cached per topic (a
//! [`SchemaCache`] each live topic holds) and invalidated by the registry's
//! generation, so the hot path does not touch the registry's store.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use runnel_avro::Schema;
use runnel_enforce::{check_part, framed_id, Checked as Refusal, Part, SchemaSource};
use runnel_proto::BatchView;
use runnel_registry::{Registry, RegistryError};

use crate::error::BrokerError;
use crate::meta::records::{TopicMeta, Validation};

/// Bytes of the Confluent framing: magic 0 + schema id.
pub use runnel_enforce::FRAMING_BYTES;

/// What a topic knows about schema ids, valid for one registry generation.
#[derive(Debug, Default)]
pub struct SchemaCache {
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    generation: u64,
    /// subject → id → the schema if the id is a live version of the subject.
    /// Nested so that a hit borrows the subject instead of allocating a key.
    ids: HashMap<String, HashMap<u32, Option<Arc<Schema>>>>,
}

impl SchemaCache {
    /// The schema of `id` if it is a live version of `subject`, `None` if it is not.
    fn lookup(
        &self,
        registry: &Registry,
        subject: &str,
        id: u32,
    ) -> Result<Option<Arc<Schema>>, BrokerError> {
        let generation = registry.generation();
        let mut inner = self.inner.lock();
        if inner.generation != generation {
            inner.ids.clear();
            inner.generation = generation;
        }
        if let Some(hit) = inner.ids.get(subject).and_then(|ids| ids.get(&id)) {
            return Ok(hit.clone());
        }
        let found = match registry.version_of_id(subject, id) {
            Ok(Some(_)) => Some(registry.schema_by_id(id)?),
            Ok(None) | Err(RegistryError::SubjectNotFound(_)) | Err(RegistryError::SchemaNotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        inner.ids.entry(subject.to_owned()).or_default().insert(id, found.clone());
        Ok(found)
    }
}

/// The broker's registry seen through a topic's cache, as the shared check asks for it.
struct Checked<'a> {
    registry: &'a Registry,
    schemas: &'a SchemaCache,
}

impl SchemaSource for Checked<'_> {
    type Error = BrokerError;
    fn schema(&self, subject: &str, id: u32) -> Result<Option<Arc<Schema>>, BrokerError> {
        self.schemas.lookup(self.registry, subject, id)
    }
}

/// Checks every record of `batch` for the topic defined by `topic`, whose ids are cached in
/// `schemas`; also checks the records' framing (lengths, varints) and the per-record size limit.
pub fn check_batch(
    registry: &Registry,
    topic: &TopicMeta,
    schemas: &SchemaCache,
    batch: &BatchView<'_>,
    max_record_bytes: usize,
) -> Result<(), BrokerError> {
    let config = &topic.config;
    let source = Checked { registry, schemas };
    // The schema each part's last checked bytes were framed with (value, key): a
    // batch's records nearly always share it, and then only their bodies are left to
    // check (no cache lookup, no reference count, no message built per record; the
    // lookups were a tenth of the produce path's CPU).
    let mut last: [Option<(u32, Arc<Schema>)>; 2] = [None, None];
    for (index, record) in batch.records().enumerate() {
        let record = record?;
        let index = index as u32;
        let size = record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len);
        if size > max_record_bytes {
            return Err(BrokerError::TooLarge(format!(
                "record {index} is {size} bytes, over the limit of {max_record_bytes}"
            )));
        }
        if config.validation == Validation::None {
            continue;
        }
        let full = config.validation == Validation::Full;
        let mut check = |slot: usize, subject: &str, bytes: Option<&[u8]>, part| {
            if let (Some((id, schema)), Some(bytes)) = (&last[slot], bytes) {
                if framed_id(bytes) == Some(*id)
                    && (!full || runnel_avro::validate(schema, &bytes[FRAMING_BYTES..]).is_ok())
                {
                    return Ok(());
                }
            }
            // The whole check, which also words a refusal.
            check_part(&source, &topic.name, subject, bytes, part, full).map_err(|e| match e {
                Refusal::Refused { path, message } => BrokerError::InvalidRecord { index, path, message },
                Refusal::Source(e) => e,
            })?;
            if let Some(id) = bytes.and_then(framed_id) {
                last[slot] = source.schema(subject, id)?.map(|schema| (id, schema));
            }
            Ok::<(), BrokerError>(())
        };
        check(0, &config.value_subject, record.value, Part::Value)?;
        if let Some(subject) = &config.key_subject {
            check(1, subject, record.key, Part::Key)?;
        }
    }
    Ok(())
}
