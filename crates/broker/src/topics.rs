//! Topics: their definitions (partitions, retention, durability, schema
//! binding, validation level), their partition logs, and the admin operations
//! (create, describe, list, delete, add partitions).
//!
//! Files: `<data>/topics/<topic>/<partition>/` holds a partition's segments;
//! definitions are in `meta.redb`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use runnel_proto::v1;
use serde::{Deserialize, Serialize};

use crate::enforce::SchemaCache;
use crate::error::BrokerError;
use crate::log::{FsyncPolicy, LogConfig, PartitionLog};
use crate::meta::Meta;

/// Longest topic name (Kafka's limit).
pub const MAX_TOPIC_NAME: usize = 249;
/// Most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;

const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
const DEFAULT_SEGMENT_BYTES: u64 = 128 << 20;
const DEFAULT_SEGMENT_MS: u64 = 7 * 24 * 3600 * 1000;
/// Segments must fit 32-bit index positions.
const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// How much of each record the broker checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Nothing.
    None,
    /// Confluent framing, and the id is a live version of the bound subject.
    Id,
    /// `Id`, and the body is exactly one datum of that schema.
    Full,
}

/// When a topic's partitions fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fsync {
    /// Before every acknowledgement (group commit).
    Always,
    /// Every `fsync_interval_ms`.
    Interval,
    /// Left to the OS.
    Never,
}

/// A topic's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    /// Number of partitions.
    pub partitions: u32,
    /// Validation level.
    pub validation: Validation,
    /// Subject of the values' schema.
    pub value_subject: String,
    /// Subject of the keys' schema, if keys are validated.
    pub key_subject: Option<String>,
    /// Whether producers may register new versions.
    pub auto_register: bool,
    /// Durability policy.
    pub fsync: Fsync,
    /// Interval for `Fsync::Interval`.
    pub fsync_interval_ms: u64,
    /// Retention by age (ms), -1 = forever.
    pub retention_ms: i64,
    /// Retention by size per partition, -1 = unlimited.
    pub retention_bytes: i64,
    /// Segment size before rolling.
    pub segment_bytes: u64,
    /// Segment age before rolling (ms).
    pub segment_ms: u64,
}

impl TopicConfig {
    /// The config requested for `topic`, with defaults filled in and values checked.
    pub fn from_proto(topic: &str, c: &v1::TopicConfig) -> Result<TopicConfig, BrokerError> {
        let bad = |m: String| Err(BrokerError::InvalidArgument(m));
        let partitions = if c.partitions == 0 { 1 } else { c.partitions };
        if partitions > MAX_PARTITIONS {
            return bad(format!("at most {MAX_PARTITIONS} partitions per topic, {partitions} requested"));
        }
        let validation = match v1::ValidationLevel::try_from(c.validation) {
            Ok(v1::ValidationLevel::Unspecified | v1::ValidationLevel::Full) => Validation::Full,
            Ok(v1::ValidationLevel::Id) => Validation::Id,
            Ok(v1::ValidationLevel::None) => Validation::None,
            Err(_) => return bad(format!("unknown validation level {}", c.validation)),
        };
        let fsync = match v1::FsyncPolicy::try_from(c.fsync) {
            Ok(v1::FsyncPolicy::Unspecified | v1::FsyncPolicy::Always) => Fsync::Always,
            Ok(v1::FsyncPolicy::Interval) => Fsync::Interval,
            Ok(v1::FsyncPolicy::Never) => Fsync::Never,
            Err(_) => return bad(format!("unknown fsync policy {}", c.fsync)),
        };
        if fsync == Fsync::Interval && c.fsync_interval_ms == 0 {
            return bad("fsync policy INTERVAL needs fsync_interval_ms > 0".into());
        }
        if c.retention_ms < -1 {
            return bad(format!(
                "retention_ms must be -1 (forever), 0 (default) or positive, not {}",
                c.retention_ms
            ));
        }
        if c.segment_bytes > MAX_SEGMENT_BYTES || (c.segment_bytes != 0 && c.segment_bytes < 1024) {
            return bad(format!("segment_bytes must be between 1 KiB and 1 GiB, not {}", c.segment_bytes));
        }
        let value_subject =
            if c.value_subject.is_empty() { format!("{topic}-value") } else { c.value_subject.clone() };
        Ok(TopicConfig {
            partitions,
            validation,
            value_subject,
            key_subject: (!c.key_subject.is_empty()).then(|| c.key_subject.clone()),
            auto_register: c.auto_register,
            fsync,
            fsync_interval_ms: c.fsync_interval_ms,
            retention_ms: if c.retention_ms == 0 { DEFAULT_RETENTION_MS } else { c.retention_ms },
            retention_bytes: if c.retention_bytes <= 0 { -1 } else { c.retention_bytes },
            segment_bytes: if c.segment_bytes == 0 { DEFAULT_SEGMENT_BYTES } else { c.segment_bytes },
            segment_ms: if c.segment_ms == 0 { DEFAULT_SEGMENT_MS } else { c.segment_ms },
        })
    }

    /// The protocol form.
    pub fn to_proto(&self) -> v1::TopicConfig {
        v1::TopicConfig {
            partitions: self.partitions,
            validation: match self.validation {
                Validation::None => v1::ValidationLevel::None,
                Validation::Id => v1::ValidationLevel::Id,
                Validation::Full => v1::ValidationLevel::Full,
            } as i32,
            value_subject: self.value_subject.clone(),
            key_subject: self.key_subject.clone().unwrap_or_default(),
            auto_register: self.auto_register,
            fsync: match self.fsync {
                Fsync::Always => v1::FsyncPolicy::Always,
                Fsync::Interval => v1::FsyncPolicy::Interval,
                Fsync::Never => v1::FsyncPolicy::Never,
            } as i32,
            fsync_interval_ms: self.fsync_interval_ms,
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            segment_bytes: self.segment_bytes,
            segment_ms: self.segment_ms,
        }
    }

    /// The partition logs' settings.
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            segment_age: Duration::from_millis(self.segment_ms),
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            fsync: match self.fsync {
                Fsync::Always => FsyncPolicy::Always,
                Fsync::Interval => FsyncPolicy::Interval(Duration::from_millis(self.fsync_interval_ms)),
                Fsync::Never => FsyncPolicy::Never,
            },
            index_interval_bytes: 4096,
        }
    }
}

/// A topic's stored definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// The name.
    pub name: String,
    /// The settings.
    pub config: TopicConfig,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
}

/// A live topic: definition, partition logs, and its schema cache.
#[derive(Debug)]
pub struct Topic {
    /// The definition.
    pub meta: TopicMeta,
    /// The partitions' logs, by partition number.
    pub partitions: Vec<Arc<PartitionLog>>,
    /// Schema ids known to be live versions of the bound subjects.
    pub schemas: SchemaCache,
}

impl Topic {
    /// The partition's log, or `UnknownPartition`.
    pub fn partition(&self, partition: u32) -> Result<&Arc<PartitionLog>, BrokerError> {
        self.partitions.get(partition as usize).ok_or_else(|| BrokerError::UnknownPartition {
            topic: self.meta.name.clone(),
            partition,
            count: self.partitions.len() as u32,
        })
    }

    /// Describe: the definition and each partition's offsets and size.
    pub fn info(&self) -> v1::TopicInfo {
        v1::TopicInfo {
            name: self.meta.name.clone(),
            config: Some(self.meta.config.to_proto()),
            partitions: self
                .partitions
                .iter()
                .enumerate()
                .map(|(i, log)| {
                    let s = log.stats();
                    v1::PartitionInfo {
                        partition: i as u32,
                        log_start_offset: s.log_start_offset,
                        high_watermark: s.high_watermark,
                        size_bytes: s.size_bytes,
                        segments: s.segments,
                    }
                })
                .collect(),
            created_ms: self.meta.created_ms,
        }
    }
}

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    let bad = |why: &str| Err(BrokerError::InvalidArgument(format!("invalid topic name '{name}': {why}")));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME {
        return bad(&format!("it is longer than {MAX_TOPIC_NAME} characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return bad(&format!("character {c:?} is not allowed (use a-z, A-Z, 0-9, '.', '_', '-')"));
    }
    Ok(())
}

/// Every topic, live.
#[derive(Debug)]
pub struct Topics {
    root: PathBuf,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serializes admin changes so that two creates of one name cannot race.
    admin: tokio::sync::Mutex<()>,
    /// Shared fsync counter (metrics).
    fsyncs: Arc<AtomicU64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn partition_dir(root: &Path, topic: &str, partition: u32) -> PathBuf {
    root.join(topic).join(partition.to_string())
}

impl Topics {
    /// Opens every topic stored in `meta`, recovering each partition.
    pub fn open(root: PathBuf, meta: &Meta, fsyncs: Arc<AtomicU64>) -> Result<Topics, BrokerError> {
        std::fs::create_dir_all(&root).map_err(|e| BrokerError::io("create", &root, e))?;
        let mut topics = HashMap::new();
        for tm in meta.topics()? {
            let mut partitions = Vec::new();
            for p in 0..tm.config.partitions {
                let dir = partition_dir(&root, &tm.name, p);
                partitions.push(PartitionLog::open(&dir, tm.config.log_config(), Arc::clone(&fsyncs))?);
            }
            let topic = Topic { meta: tm, partitions, schemas: SchemaCache::default() };
            topics.insert(topic.meta.name.clone(), Arc::new(topic));
        }
        Ok(Topics { root, topics: RwLock::new(topics), admin: tokio::sync::Mutex::new(()), fsyncs })
    }

    /// The topic, or `UnknownTopic`.
    pub fn get(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        self.topics.read().get(name).cloned().ok_or_else(|| BrokerError::UnknownTopic(name.to_owned()))
    }

    /// Every topic, by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.topics.read().values().cloned().collect();
        all.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        all
    }

    /// Creates a topic (or returns the existing one with `if_not_exists`).
    pub async fn create(
        &self,
        meta: &Meta,
        name: &str,
        config: TopicConfig,
        if_not_exists: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        validate_topic_name(name)?;
        let _admin = self.admin.lock().await;
        if let Ok(t) = self.get(name) {
            return if if_not_exists { Ok(t) } else { Err(BrokerError::TopicExists(name.to_owned())) };
        }
        // Leftover files of a topic deleted while the broker was down are not this topic's.
        let dir = self.root.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| BrokerError::io("delete", &dir, e))?;
        }
        let tm = TopicMeta { name: name.to_owned(), config, created_ms: now_ms() };
        let mut partitions = Vec::new();
        for p in 0..tm.config.partitions {
            let dir = partition_dir(&self.root, name, p);
            partitions.push(PartitionLog::open(&dir, tm.config.log_config(), Arc::clone(&self.fsyncs))?);
        }
        meta.put_topic(&tm)?;
        let topic = Arc::new(Topic { meta: tm, partitions, schemas: SchemaCache::default() });
        self.topics.write().insert(name.to_owned(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions = topic.partitions.len(), "topic created");
        Ok(topic)
    }

    /// Deletes a topic: its definition, group offsets and files.
    pub async fn delete(&self, meta: &Meta, name: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        let topic = self.get(name)?;
        meta.delete_topic(name)?;
        self.topics.write().remove(name);
        for log in &topic.partitions {
            let _ = log.close().await;
        }
        let dir = self.root.join(name);
        // Still under the admin lock: a create of the same name waits for this.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BrokerError::io("delete", dir, e)),
        }
        tracing::info!(topic = name, "topic deleted");
        Ok(())
    }

    /// Grows a topic to `total` partitions.
    pub async fn add_partitions(
        &self,
        meta: &Meta,
        name: &str,
        total: u32,
    ) -> Result<Arc<Topic>, BrokerError> {
        let _admin = self.admin.lock().await;
        let topic = self.get(name)?;
        let current = topic.partitions.len() as u32;
        if total <= current {
            return Err(BrokerError::InvalidArgument(format!(
                "topic '{name}' has {current} partitions; the new count must be larger, not {total}"
            )));
        }
        if total > MAX_PARTITIONS {
            return Err(BrokerError::InvalidArgument(format!(
                "at most {MAX_PARTITIONS} partitions per topic"
            )));
        }
        let mut tm = topic.meta.clone();
        tm.config.partitions = total;
        let mut partitions = topic.partitions.clone();
        for p in current..total {
            let dir = partition_dir(&self.root, name, p);
            partitions.push(PartitionLog::open(&dir, tm.config.log_config(), Arc::clone(&self.fsyncs))?);
        }
        meta.put_topic(&tm)?;
        let new = Arc::new(Topic { meta: tm, partitions, schemas: SchemaCache::default() });
        self.topics.write().insert(name.to_owned(), Arc::clone(&new));
        Ok(new)
    }

    /// Applies retention to every partition; returns the segments deleted.
    pub fn apply_retention(&self) -> usize {
        let mut deleted = 0;
        for topic in self.list() {
            for log in &topic.partitions {
                match log.apply_retention() {
                    Ok(n) => deleted += n,
                    Err(e) => tracing::warn!(topic = %topic.meta.name, error = %e, "retention failed"),
                }
            }
        }
        deleted
    }

    /// Closes every partition: everything queued is written and fsynced.
    pub async fn close(&self) -> Result<(), BrokerError> {
        let mut first_err = None;
        for topic in self.list() {
            for log in &topic.partitions {
                if let Err(e) = log.close().await {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["users", "a.b_c-d", "X9", &"a".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a b", "a/b", "ü", &"a".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let c = TopicConfig::from_proto("users", &v1::TopicConfig::default()).unwrap();
        assert_eq!(c.partitions, 1);
        assert_eq!(c.validation, Validation::Full);
        assert_eq!(c.value_subject, "users-value");
        assert_eq!(c.key_subject, None);
        assert_eq!(c.fsync, Fsync::Always);
        assert_eq!(c.retention_ms, DEFAULT_RETENTION_MS);
        assert_eq!(c.segment_bytes, DEFAULT_SEGMENT_BYTES);
    }
}
