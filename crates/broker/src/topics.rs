//! Topics: their definitions (partitions, retention, durability, schema
//! binding, validation level), their partition logs, and the admin operations
//! (create, describe, list, delete, add partitions).
//!
//! Names: a topic is `tenant/namespace/topic`; a bare name is `public/default/topic`
//! ([`runnel_auth::names::TopicName`]). Topics are keyed, stored and listed by the short
//! form ([`TopicName::short`]): bare for `public/default`, full otherwise, so a data
//! directory from before tenants opens unchanged, and `public/default/users` finds `users`.
//! A topic is created only in an existing namespace, takes the namespace policy's defaults
//! for what its create request leaves unset, and counts against its tenant's quotas.
//!
//! Files: `<data>/topics/<topic>/<partition>/` holds a bare topic's partition segments,
//! `<data>/tenants/<tenant>/<namespace>/<topic>/<partition>/` any other topic's;
//! definitions are in `meta.redb`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use runnel_auth::names::{SubjectKind, TopicName};
use runnel_proto::v1;
use runnel_registry::{Registry, RegistryError};
use serde::{Deserialize, Serialize};

use crate::enforce::SchemaCache;
use crate::error::BrokerError;
use crate::log::{FsyncPolicy, LogConfig, PartitionLog};
use crate::meta::Meta;
use crate::quotas::TenantQuota;
use crate::tenants::{NamespacePolicy, Tenants};

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
    /// What the create request left to the defaults, which a namespace policy may fill in.
    #[serde(skip)]
    pub unset: Unset,
}

/// The settings a create request left to the defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unset {
    /// `partitions` was 0.
    pub partitions: bool,
    /// `validation` was UNSPECIFIED.
    pub validation: bool,
    /// `retention_ms` was 0.
    pub retention_ms: bool,
    /// `retention_bytes` was 0.
    pub retention_bytes: bool,
}

impl TopicConfig {
    /// The config requested for `topic` (bare or full name), with defaults filled in and
    /// values checked. The value subject defaults to the topic's ([`TopicName::subject`]).
    pub fn from_proto(topic: &str, c: &v1::TopicConfig) -> Result<TopicConfig, BrokerError> {
        let bad = |m: String| Err(BrokerError::InvalidArgument(m));
        let name = TopicName::parse(topic).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
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
        let value_subject = if c.value_subject.is_empty() {
            name.subject(SubjectKind::Value)
        } else {
            c.value_subject.clone()
        };
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
            unset: Unset {
                partitions: c.partitions == 0,
                validation: c.validation == v1::ValidationLevel::Unspecified as i32,
                retention_ms: c.retention_ms == 0,
                retention_bytes: c.retention_bytes == 0,
            },
        })
    }

    /// Fills what the request left unset from the namespace's policy; auto-register is on
    /// when either the request or the policy asks for it.
    pub fn apply_policy(&mut self, policy: &NamespacePolicy) {
        if self.unset.partitions && policy.partitions > 0 {
            self.partitions = policy.partitions;
        }
        if self.unset.validation {
            if let Some(v) = policy.validation {
                self.validation = v;
            }
        }
        if self.unset.retention_ms && policy.retention_ms != 0 {
            self.retention_ms = policy.retention_ms;
        }
        if self.unset.retention_bytes && policy.retention_bytes != 0 {
            self.retention_bytes = if policy.retention_bytes < 0 { -1 } else { policy.retention_bytes };
        }
        self.auto_register |= policy.auto_register;
        self.unset = Unset::default();
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
    /// The definition (`meta.name` is the short form of `name`).
    pub meta: TopicMeta,
    /// The full name.
    pub name: TopicName,
    /// Its tenant's quotas.
    pub quota: Arc<TenantQuota>,
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

/// Checks a topic name: a bare topic (Kafka's rules) or `tenant/namespace/topic`.
pub fn validate_topic_name(name: &str) -> Result<(), BrokerError> {
    TopicName::parse(name).map(|_| ()).map_err(|e| BrokerError::InvalidArgument(e.to_string()))
}

/// Every topic, live, and the tenants and namespaces they live in.
#[derive(Debug)]
pub struct Topics {
    root: PathBuf,
    /// Where topics outside `public/default` keep their files: `<data>/tenants`.
    tenants_root: PathBuf,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serializes admin changes (topics, tenants, namespaces) so that two creates of one
    /// name cannot race, and a namespace cannot be deleted while a topic is created in it.
    pub(crate) admin: tokio::sync::Mutex<()>,
    /// Shared fsync counter (metrics).
    fsyncs: Arc<AtomicU64>,
    /// Tenants and namespaces.
    pub tenants: Tenants,
    /// The registry, where a namespace policy's compatibility level is set on new topics' subjects.
    registry: Option<Registry>,
}

/// Now, in ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn topic_dir(root: &Path, tenants_root: &Path, short: &str) -> PathBuf {
    if short.contains('/') {
        tenants_root.join(short)
    } else {
        root.join(short)
    }
}

impl Topics {
    /// Opens every topic stored in `meta`, recovering each partition, with the tenants and
    /// namespaces stored there (`public/default` is created if missing).
    pub fn open(root: PathBuf, meta: &Meta, fsyncs: Arc<AtomicU64>) -> Result<Topics, BrokerError> {
        std::fs::create_dir_all(&root).map_err(|e| BrokerError::io("create", &root, e))?;
        let tenants_root = root.parent().unwrap_or(&root).join("tenants");
        let tenants = Tenants::open(meta)?;
        let mut topics = HashMap::new();
        for tm in meta.topics()? {
            let name = TopicName::parse(&tm.name).map_err(|e| BrokerError::Meta(e.to_string()))?;
            let dir = topic_dir(&root, &tenants_root, &tm.name);
            let mut partitions = Vec::new();
            for p in 0..tm.config.partitions {
                let dir = dir.join(p.to_string());
                partitions.push(PartitionLog::open(&dir, tm.config.log_config(), Arc::clone(&fsyncs))?);
            }
            // A topic whose tenant is gone (not possible through the API) keeps working unlimited.
            let quota = tenants
                .quota(name.tenant())
                .unwrap_or_else(|| Arc::new(TenantQuota::new(name.tenant(), Default::default())));
            let topic = Topic { meta: tm, name, quota, partitions, schemas: SchemaCache::default() };
            topics.insert(topic.meta.name.clone(), Arc::new(topic));
        }
        Ok(Topics {
            root,
            tenants_root,
            topics: RwLock::new(topics),
            admin: tokio::sync::Mutex::new(()),
            fsyncs,
            tenants,
            registry: None,
        })
    }

    /// Sets the registry in which a namespace policy's compatibility level is applied.
    pub fn with_registry(mut self, registry: Registry) -> Topics {
        self.registry = Some(registry);
        self
    }

    /// The topic by bare or full name, or `UnknownTopic`.
    pub fn get(&self, name: &str) -> Result<Arc<Topic>, BrokerError> {
        if let Some(t) = self.topics.read().get(name) {
            return Ok(Arc::clone(t));
        }
        // `public/default/x` is stored as `x`.
        if name.contains('/') {
            if let Ok(full) = TopicName::parse(name) {
                if let Some(t) = self.topics.read().get(&full.short()) {
                    return Ok(Arc::clone(t));
                }
            }
        }
        Err(BrokerError::UnknownTopic(name.to_owned()))
    }

    /// The short names of the topics of `tenant` (in `namespace` only, if given).
    pub fn topics_of(&self, tenant: &str, namespace: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = self
            .topics
            .read()
            .values()
            .filter(|t| t.name.tenant() == tenant && namespace.is_none_or(|n| t.name.namespace() == n))
            .map(|t| t.meta.name.clone())
            .collect();
        out.sort();
        out
    }

    /// Bytes held by the logs of the tenant whose quota state is `quota`.
    pub fn storage_of(&self, quota: &Arc<TenantQuota>) -> u64 {
        let topics: Vec<Arc<Topic>> =
            self.topics.read().values().filter(|t| Arc::ptr_eq(&t.quota, quota)).cloned().collect();
        topics.iter().flat_map(|t| t.partitions.iter()).map(|log| log.stats().size_bytes).sum()
    }

    /// Every topic, by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self.topics.read().values().cloned().collect();
        all.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        all
    }

    /// Creates a topic (or returns the existing one with `if_not_exists`) in an existing
    /// namespace, with the namespace policy filling what `config` left unset, within the
    /// tenant's topic quota.
    pub async fn create(
        &self,
        meta: &Meta,
        name: &str,
        mut config: TopicConfig,
        if_not_exists: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        let full = TopicName::parse(name).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        let short = full.short();
        let name = short.as_str();
        let _admin = self.admin.lock().await;
        if let Ok(t) = self.get(name) {
            return if if_not_exists { Ok(t) } else { Err(BrokerError::TopicExists(name.to_owned())) };
        }
        let ns_name = full.namespace_name();
        let Some(ns) = self.tenants.namespace(&ns_name) else {
            return Err(BrokerError::NotFound(if self.tenants.tenant(full.tenant()).is_none() {
                format!("tenant '{}' does not exist", full.tenant())
            } else {
                format!("namespace '{ns_name}' does not exist")
            }));
        };
        let quota = self
            .tenants
            .quota(full.tenant())
            .ok_or_else(|| BrokerError::NotFound(format!("tenant '{}' does not exist", full.tenant())))?;
        let held = self.topics_of(full.tenant(), None).len();
        let max = quota.max_topics();
        if max > 0 && held >= max as usize {
            return Err(BrokerError::QuotaExceeded(format!(
                "tenant '{}' holds {held} topics, its quota is {max}",
                full.tenant()
            )));
        }
        config.apply_policy(&ns.policy);
        // Leftover files of a topic deleted while the broker was down are not this topic's.
        let dir = topic_dir(&self.root, &self.tenants_root, name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| BrokerError::io("delete", &dir, e))?;
        }
        let tm = TopicMeta { name: name.to_owned(), config, created_ms: now_ms() };
        let mut partitions = Vec::new();
        for p in 0..tm.config.partitions {
            let dir = dir.join(p.to_string());
            partitions.push(PartitionLog::open(&dir, tm.config.log_config(), Arc::clone(&self.fsyncs))?);
        }
        meta.put_topic(&tm)?;
        if let (Some(level), Some(registry)) = (&ns.policy.compatibility, &self.registry) {
            apply_compatibility(registry, &tm.config.value_subject, level).await?;
        }
        let topic =
            Arc::new(Topic { meta: tm, name: full, quota, partitions, schemas: SchemaCache::default() });
        self.topics.write().insert(name.to_owned(), Arc::clone(&topic));
        tracing::info!(topic = name, partitions = topic.partitions.len(), "topic created");
        Ok(topic)
    }

    /// Deletes a topic: its definition, group offsets and files.
    pub async fn delete(&self, meta: &Meta, name: &str) -> Result<(), BrokerError> {
        let _admin = self.admin.lock().await;
        let topic = self.get(name)?;
        let name = topic.meta.name.as_str();
        meta.delete_topic(name)?;
        self.topics.write().remove(name);
        for log in &topic.partitions {
            let _ = log.close().await;
        }
        let dir = topic_dir(&self.root, &self.tenants_root, name);
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
        let name = topic.meta.name.as_str();
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
        let dir = topic_dir(&self.root, &self.tenants_root, name);
        for p in current..total {
            let dir = dir.join(p.to_string());
            partitions.push(PartitionLog::open(&dir, tm.config.log_config(), Arc::clone(&self.fsyncs))?);
        }
        meta.put_topic(&tm)?;
        let new = Arc::new(Topic {
            meta: tm,
            name: topic.name.clone(),
            quota: Arc::clone(&topic.quota),
            partitions,
            schemas: SchemaCache::default(),
        });
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

/// Sets a namespace policy's compatibility level on a new topic's subject, unless the subject
/// has a level of its own already.
async fn apply_compatibility(registry: &Registry, subject: &str, level: &str) -> Result<(), BrokerError> {
    let level: runnel_registry::Compatibility = level.parse()?;
    match registry.compatibility(Some(subject), false) {
        Err(RegistryError::SubjectCompatibilityNotConfigured(_)) => {
            let (registry, subject) = (registry.clone(), subject.to_owned());
            tokio::task::spawn_blocking(move || registry.set_compatibility(Some(&subject), level))
                .await
                .map_err(|e| BrokerError::Storage(format!("registry task failed: {e}")))??;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
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
        for bad in ["", ".", "..", "a b", "a/b", "ü", &"a".repeat(250), "a/b/c/d", "a/../c", "t/n/.."] {
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
        let c = TopicConfig::from_proto("acme/billing/users", &v1::TopicConfig::default()).unwrap();
        assert_eq!(c.value_subject, ":.acme:billing.users-value");
        assert_eq!(
            TopicConfig::from_proto("public/default/users", &Default::default()).unwrap().value_subject,
            "users-value"
        );
    }

    #[test]
    fn namespace_policy_fills_only_what_the_request_left_unset() {
        let policy = NamespacePolicy {
            partitions: 4,
            retention_ms: 60_000,
            retention_bytes: 1 << 20,
            validation: Some(Validation::Id),
            auto_register: true,
            compatibility: None,
        };
        let mut c = TopicConfig::from_proto("t", &v1::TopicConfig::default()).unwrap();
        c.apply_policy(&policy);
        assert_eq!((c.partitions, c.retention_ms, c.retention_bytes), (4, 60_000, 1 << 20));
        assert_eq!(c.validation, Validation::Id);
        assert!(c.auto_register);
        let asked = v1::TopicConfig {
            partitions: 2,
            retention_ms: -1,
            validation: v1::ValidationLevel::None as i32,
            ..Default::default()
        };
        let mut c = TopicConfig::from_proto("t", &asked).unwrap();
        c.apply_policy(&policy);
        assert_eq!((c.partitions, c.retention_ms), (2, -1));
        assert_eq!(c.validation, Validation::None);
    }
}
