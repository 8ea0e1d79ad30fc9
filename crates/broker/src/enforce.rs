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
//! The first bad record refuses the whole batch with its index, the field path
//! and the reason. Which ids belong to which subject is cached per topic (a
//! [`SchemaCache`] each live topic holds) and invalidated by the registry's
//! generation, so the hot path does not touch the registry's store.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use runnel_avro::Schema;
use runnel_proto::BatchView;
use runnel_registry::{Registry, RegistryError};

use crate::error::BrokerError;
use crate::meta::records::{TopicMeta, Validation};

/// Bytes of the Confluent framing: magic 0 + schema id.
pub const FRAMING_BYTES: usize = 5;

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

/// Which part of the record is being checked, for messages.
#[derive(Clone, Copy)]
enum Part {
    Key,
    Value,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
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
    let topic = Checked { registry, topic, schemas };
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
        check_part(&topic, &config.value_subject, record.value, index, Part::Value, full)?;
        if let Some(subject) = &config.key_subject {
            check_part(&topic, subject, record.key, index, Part::Key, full)?;
        }
    }
    Ok(())
}

/// What one batch is checked against.
struct Checked<'a> {
    registry: &'a Registry,
    topic: &'a TopicMeta,
    schemas: &'a SchemaCache,
}

fn check_part(
    topic: &Checked<'_>,
    subject: &str,
    bytes: Option<&[u8]>,
    index: u32,
    part: Part,
    full: bool,
) -> Result<(), BrokerError> {
    let refuse = |path: String, message: String| Err(BrokerError::InvalidRecord { index, path, message });
    let Some(bytes) = bytes else {
        return refuse(
            "/".into(),
            format!(
                "the {} is null; topic '{}' requires an Avro {}",
                part.name(),
                topic.topic.name,
                part.name()
            ),
        );
    };
    if bytes.len() < FRAMING_BYTES || bytes[0] != 0 {
        return refuse(
            "/".into(),
            format!(
                "the {} has no Confluent framing (magic byte 0 and a 4-byte schema id, then the Avro body)",
                part.name()
            ),
        );
    }
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let Some(schema) = topic.schemas.lookup(topic.registry, subject, id)? else {
        return refuse(
            "/".into(),
            format!("schema id {id} is not a registered version of subject '{subject}'"),
        );
    };
    if full {
        if let Err(e) = runnel_avro::validate(&schema, &bytes[FRAMING_BYTES..]) {
            return refuse(
                e.path(),
                format!(
                    "the {} does not match schema id {id}: {e} (at byte {})",
                    part.name(),
                    e.offset() + FRAMING_BYTES
                ),
            );
        }
    }
    Ok(())
}
