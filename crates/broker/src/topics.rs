//! Topics: the live topics (their definitions, partition logs and schema caches) and the
//! admin operations on them (create, describe, list, delete, add partitions), retention
//! and closing; changing a live topic's settings and its partitions' log start (Kafka's
//! AlterConfigs, IncrementalAlterConfigs and DeleteRecords).
//!
//! Names: a topic is `tenant/namespace/topic`; a bare name is `public/default/topic`
//! ([`runnel_auth::names::TopicName`]). Topics are keyed, stored and listed by the short
//! form ([`TopicName::short`]): bare for `public/default`, full otherwise, so a data
//! directory from before tenants opens unchanged, and `public/default/users` finds `users`.
//! A topic is created only in an existing namespace (asked of the tenants service), takes
//! the namespace policy's defaults for what its create request leaves unset, and counts
//! against its tenant's quotas. The definitions themselves ([`TopicConfig`], [`TopicMeta`])
//! are records of `meta.redb`.
//!
//! Files: `<data>/topics/<topic>/<partition>/` holds a bare topic's partition segments,
//! `<data>/tenants/<tenant>/<namespace>/<topic>/<partition>/` any other topic's;
//! definitions are in `meta.redb`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::RwLock;
use runnel_auth::names::TopicName;
use runnel_proto::v1;
use runnel_registry::{Registry, RegistryError};

use crate::enforce::SchemaCache;
use crate::error::BrokerError;
use crate::log::PartitionLog;
use crate::meta::records::now_ms;
pub use crate::meta::records::{Fsync, TopicConfig, TopicMeta, Unset, Validation, MAX_PARTITIONS};
use crate::meta::Meta;
use crate::quotas::TenantQuota;
use crate::tenants::{Tenants, TopicsHeld};

/// Longest topic name (Kafka's limit).
pub const MAX_TOPIC_NAME: usize = 249;

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

/// The broker-wide limits on topics and partitions (`ServerConfig::max_topics`, `max_partitions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLimits {
    /// Most topics the broker holds.
    pub max_topics: usize,
    /// Most partitions over all topics.
    pub max_partitions: usize,
}

/// One change of a live topic's settings ([`Topics::alter_config`]); `None` returns the
/// setting to its default ([`Topics::default_config`]). These are the settings that can
/// change after creation; partitions only grow ([`Topics::add_partitions`]), and the bound
/// subjects and the fsync policy are fixed at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigChange {
    /// Retention by age (ms), -1 = forever.
    RetentionMs(Option<i64>),
    /// Retention by size per partition, -1 = unlimited.
    RetentionBytes(Option<i64>),
    /// Validation level.
    Validation(Option<Validation>),
    /// Segment size before rolling.
    SegmentBytes(Option<u64>),
    /// Segment age before rolling (ms).
    SegmentMs(Option<u64>),
}

impl ConfigChange {
    /// Applies the change to `config`, checked as a create request's settings are.
    fn apply(self, config: &mut TopicConfig, defaults: &TopicConfig) -> Result<(), BrokerError> {
        let bad = |m: String| Err(BrokerError::InvalidArgument(m));
        match self {
            ConfigChange::RetentionMs(v) => {
                let v = v.unwrap_or(defaults.retention_ms);
                if v < -1 || v == 0 {
                    return bad(format!("retention.ms must be -1 (forever) or positive, not {v}"));
                }
                config.retention_ms = v;
            }
            ConfigChange::RetentionBytes(v) => {
                let v = v.unwrap_or(defaults.retention_bytes);
                if v < -1 || v == 0 {
                    return bad(format!("retention.bytes must be -1 (unlimited) or positive, not {v}"));
                }
                config.retention_bytes = v;
            }
            ConfigChange::Validation(v) => config.validation = v.unwrap_or(defaults.validation),
            ConfigChange::SegmentBytes(v) => {
                let v = v.unwrap_or(defaults.segment_bytes);
                if !(1024..=1 << 30).contains(&v) {
                    return bad(format!("segment.bytes must be between 1 KiB and 1 GiB, not {v}"));
                }
                config.segment_bytes = v;
            }
            ConfigChange::SegmentMs(v) => {
                let v = v.unwrap_or(defaults.segment_ms);
                if v == 0 {
                    return bad("segment.ms must be positive".into());
                }
                config.segment_ms = v;
            }
        }
        Ok(())
    }
}

/// Every topic, live.
#[derive(Debug)]
pub struct Topics {
    root: PathBuf,
    /// Where topics outside `public/default` keep their files: `<data>/tenants`.
    tenants_root: PathBuf,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Shared fsync counter (metrics).
    fsyncs: Arc<AtomicU64>,
    /// Where definitions are stored.
    meta: Arc<Meta>,
    /// The tenants and namespaces topics live in (and the admin lock).
    tenants: Arc<Tenants>,
    /// The registry, where a namespace policy's compatibility level is set on new topics' subjects.
    registry: Registry,
    limits: TopicLimits,
    /// Bumped when a topic is created, deleted or grows partitions, for services that
    /// follow the set of topics (the replicator starts links at once, not at its next look).
    changed: tokio::sync::watch::Sender<u64>,
}

fn topic_dir(root: &Path, tenants_root: &Path, short: &str) -> PathBuf {
    if short.contains('/') {
        tenants_root.join(short)
    } else {
        root.join(short)
    }
}

impl Topics {
    /// Opens every topic stored in `meta` under `root` (`<data>/topics`), recovering each
    /// partition, in the tenants and namespaces of `tenants`.
    pub fn open(
        root: PathBuf,
        meta: Arc<Meta>,
        tenants: Arc<Tenants>,
        registry: Registry,
        limits: TopicLimits,
        fsyncs: Arc<AtomicU64>,
    ) -> Result<Topics, BrokerError> {
        std::fs::create_dir_all(&root).map_err(|e| BrokerError::io("create", &root, e))?;
        let tenants_root = root.parent().unwrap_or(&root).join("tenants");
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
            fsyncs,
            meta,
            tenants,
            registry,
            limits,
            changed: tokio::sync::watch::Sender::new(0),
        })
    }

    /// A receiver that sees a change each time a topic is created, deleted or grows partitions.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Refuses `topics` more topics with `partitions` more partitions when that
    /// would pass the configured limits. (Concurrent creates may pass a limit by
    /// the few created at the same instant: the limits guard memory, not a count.)
    pub fn check_limits(&self, topics: usize, partitions: u32) -> Result<(), BrokerError> {
        let all = self.list();
        if all.len() + topics > self.limits.max_topics {
            return Err(BrokerError::TooLarge(format!(
                "the broker holds {} topics, the limit is {}",
                all.len(),
                self.limits.max_topics
            )));
        }
        let held: usize = all.iter().map(|t| t.partitions.len()).sum();
        if held + partitions as usize > self.limits.max_partitions {
            return Err(BrokerError::TooLarge(format!(
                "the broker holds {held} partitions, {partitions} more would pass the limit of {}",
                self.limits.max_partitions
            )));
        }
        Ok(())
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

    /// The topic `name`, created first when it does not exist, bound like `source` (its
    /// value and key subjects and validation level, so that `source`'s records stay valid
    /// there) with `partitions` partitions and the namespace's defaults for the rest: where
    /// the broker itself writes records of `source` (dead letters, functions' outputs).
    pub async fn get_or_create_like(
        &self,
        name: &str,
        source: &TopicMeta,
        partitions: u32,
    ) -> Result<Arc<Topic>, BrokerError> {
        match self.get(name) {
            Err(BrokerError::UnknownTopic(_)) => {}
            found => return found,
        }
        let c = &source.config;
        let proto = v1::TopicConfig {
            partitions,
            validation: c.validation.to_proto() as i32,
            value_subject: c.value_subject.clone(),
            key_subject: c.key_subject.clone().unwrap_or_default(),
            ..Default::default()
        };
        let config = TopicConfig::from_proto(name, &proto)?;
        let topic = self.create(name, config, true).await?;
        tracing::info!(topic = name, source = %source.name, "topic created like its source");
        Ok(topic)
    }

    /// Creates a topic (or returns the existing one with `if_not_exists`) in an existing
    /// namespace, with the namespace policy filling what `config` left unset, within the
    /// tenant's topic quota.
    pub async fn create(
        &self,
        name: &str,
        mut config: TopicConfig,
        if_not_exists: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        let full = TopicName::parse(name).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        let short = full.short();
        let name = short.as_str();
        let _admin = self.tenants.lock_admin().await;
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
        self.meta.put_topic(&tm)?;
        if let Some(level) = &ns.policy.compatibility {
            apply_compatibility(&self.registry, &tm.config.value_subject, level).await?;
        }
        let topic =
            Arc::new(Topic { meta: tm, name: full, quota, partitions, schemas: SchemaCache::default() });
        self.topics.write().insert(name.to_owned(), Arc::clone(&topic));
        self.bump();
        tracing::info!(topic = name, partitions = topic.partitions.len(), "topic created");
        Ok(topic)
    }

    /// Deletes a topic: its definition, group offsets and files.
    pub async fn delete(&self, name: &str) -> Result<(), BrokerError> {
        let _admin = self.tenants.lock_admin().await;
        let topic = self.get(name)?;
        let name = topic.meta.name.as_str();
        self.meta.delete_topic(name)?;
        self.topics.write().remove(name);
        self.bump();
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
    pub async fn add_partitions(&self, name: &str, total: u32) -> Result<Arc<Topic>, BrokerError> {
        let _admin = self.tenants.lock_admin().await;
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
        self.meta.put_topic(&tm)?;
        let new = Arc::new(Topic {
            meta: tm,
            name: topic.name.clone(),
            quota: Arc::clone(&topic.quota),
            partitions,
            schemas: SchemaCache::default(),
        });
        self.topics.write().insert(name.to_owned(), Arc::clone(&new));
        self.bump();
        Ok(new)
    }

    /// The settings a topic named `name` gets when its create request leaves them unset: the
    /// broker's defaults, then its namespace's policy (what "reset to default" returns to).
    pub fn default_config(&self, name: &str) -> Result<TopicConfig, BrokerError> {
        let full = TopicName::parse(name).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        let mut config = TopicConfig::from_proto(name, &v1::TopicConfig::default())?;
        if let Some(ns) = self.tenants.namespace(&full.namespace_name()) {
            config.apply_policy(&ns.policy);
        }
        Ok(config)
    }

    /// Changes settings of a live topic (Kafka's AlterConfigs and IncrementalAlterConfigs):
    /// each change is checked by the rules a create request passes, all of them are applied
    /// or none, and the new definition is in `meta.redb` before it is used, so it survives a
    /// restart. The partition logs take the new retention and segment settings at once;
    /// producers see the new validation level on their next batch. With `validate_only`
    /// nothing is changed. Returns the topic as it is (or would be) afterwards.
    pub async fn alter_config(
        &self,
        name: &str,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<Arc<Topic>, BrokerError> {
        let _admin = self.tenants.lock_admin().await;
        let topic = self.get(name)?;
        let name = topic.meta.name.as_str();
        let defaults = self.default_config(name)?;
        let mut config = topic.meta.config.clone();
        for change in changes {
            change.apply(&mut config, &defaults)?;
        }
        let mut tm = topic.meta.clone();
        tm.config = config;
        let new = Arc::new(Topic {
            meta: tm,
            name: topic.name.clone(),
            quota: Arc::clone(&topic.quota),
            partitions: topic.partitions.clone(),
            schemas: SchemaCache::default(),
        });
        if validate_only || new.meta == topic.meta {
            return Ok(if validate_only { new } else { topic });
        }
        self.meta.put_topic(&new.meta)?;
        for log in &new.partitions {
            log.set_config(new.meta.config.log_config());
        }
        self.topics.write().insert(name.to_owned(), Arc::clone(&new));
        self.bump();
        tracing::info!(topic = name, ?changes, "topic config changed");
        Ok(new)
    }

    /// Kafka's DeleteRecords on one partition: moves its log start to `offset` (-1: the high
    /// watermark), durably; returns the log start afterwards (the log's `start.rs` holds the
    /// invariant).
    pub async fn delete_records(&self, name: &str, partition: u32, offset: i64) -> Result<i64, BrokerError> {
        let topic = self.get(name)?;
        let log = Arc::clone(topic.partition(partition)?);
        tokio::task::spawn_blocking(move || log.delete_records(offset))
            .await
            .map_err(|e| BrokerError::Storage(format!("delete-records task failed: {e}")))?
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

impl TopicsHeld for Topics {
    fn topics_of(&self, tenant: &str, namespace: Option<&str>) -> Vec<String> {
        Topics::topics_of(self, tenant, namespace)
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
}
