//! The definitions `meta.redb` stores, as JSON: a topic's ([`TopicMeta`], its [`TopicConfig`]),
//! a tenant's ([`TenantMeta`], its [`TenantQuotas`]) and a namespace's ([`NamespaceMeta`], its
//! [`NamespacePolicy`]), with their protocol forms and the checks a create request passes.
//!
//! They live at the storage layer so that the store depends on no service: the topics,
//! tenants and quotas services build their live state from these records.

use std::time::Duration;

use runnel_auth::names::{SubjectKind, TopicName};
use runnel_proto::v1;
use runnel_registry::Compatibility;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;
use crate::log::{FsyncPolicy, LogConfig};

/// Most partitions a topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;

const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;
const DEFAULT_SEGMENT_BYTES: u64 = 128 << 20;
const DEFAULT_SEGMENT_MS: u64 = 7 * 24 * 3600 * 1000;
/// Segments must fit 32-bit index positions.
const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// Now, in ms since the epoch (the creation time stamped on new definitions).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

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
            validation: self.validation.to_proto() as i32,
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

impl Validation {
    /// The protocol form.
    pub fn to_proto(self) -> v1::ValidationLevel {
        match self {
            Validation::None => v1::ValidationLevel::None,
            Validation::Id => v1::ValidationLevel::Id,
            Validation::Full => v1::ValidationLevel::Full,
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

/// A tenant's limits, as stored; 0 = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantQuotas {
    /// Produce rate, bytes per second (throttled).
    pub produce_bytes_per_sec: u64,
    /// Consume rate, bytes per second (throttled).
    pub consume_bytes_per_sec: u64,
    /// Bytes the tenant's logs may hold (produce refused above).
    pub storage_bytes: u64,
    /// Topics the tenant may hold (creation refused beyond).
    pub max_topics: u32,
}

impl TenantQuotas {
    /// From the protocol form (absent = unlimited).
    pub fn from_proto(q: Option<&v1::TenantQuotas>) -> TenantQuotas {
        q.map_or_else(TenantQuotas::default, |q| TenantQuotas {
            produce_bytes_per_sec: q.produce_bytes_per_sec,
            consume_bytes_per_sec: q.consume_bytes_per_sec,
            storage_bytes: q.storage_bytes,
            max_topics: q.max_topics,
        })
    }

    /// The protocol form.
    pub fn to_proto(self) -> v1::TenantQuotas {
        v1::TenantQuotas {
            produce_bytes_per_sec: self.produce_bytes_per_sec,
            consume_bytes_per_sec: self.consume_bytes_per_sec,
            storage_bytes: self.storage_bytes,
            max_topics: self.max_topics,
        }
    }
}

/// A tenant's stored definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantMeta {
    /// The tenant's name.
    pub name: String,
    /// Its limits.
    pub quotas: TenantQuotas,
    /// Creation time, ms since the epoch (0 for the built-in `public`).
    pub created_ms: i64,
}

/// Defaults for topics created in a namespace; a create request's own settings win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacePolicy {
    /// Partitions of a new topic; 0 = the broker default.
    pub partitions: u32,
    /// Retention by age (ms); 0 = the broker default, -1 = forever.
    pub retention_ms: i64,
    /// Retention by size per partition; 0 = the broker default (unlimited), -1 = unlimited.
    pub retention_bytes: i64,
    /// Validation level; `None` = the broker default (full).
    pub validation: Option<Validation>,
    /// Whether producers may register new versions of a new topic's subject.
    pub auto_register: bool,
    /// Compatibility level set on a new topic's value subject; `None` = the registry's.
    pub compatibility: Option<String>,
}

impl NamespacePolicy {
    /// From the protocol form, checked.
    pub fn from_proto(p: Option<&v1::NamespacePolicy>) -> Result<NamespacePolicy, BrokerError> {
        let Some(p) = p else { return Ok(NamespacePolicy::default()) };
        let bad = |m: String| Err(BrokerError::InvalidArgument(m));
        if p.partitions > MAX_PARTITIONS {
            return bad(format!("at most {MAX_PARTITIONS} partitions per topic, not {}", p.partitions));
        }
        if p.retention_ms < -1 || p.retention_bytes < -1 {
            return bad("retention must be -1 (unlimited), 0 (the default) or positive".into());
        }
        let validation = match v1::ValidationLevel::try_from(p.validation) {
            Ok(v1::ValidationLevel::Unspecified) => None,
            Ok(v1::ValidationLevel::Full) => Some(Validation::Full),
            Ok(v1::ValidationLevel::Id) => Some(Validation::Id),
            Ok(v1::ValidationLevel::None) => Some(Validation::None),
            Err(_) => return bad(format!("unknown validation level {}", p.validation)),
        };
        let compatibility = if p.compatibility.is_empty() {
            None
        } else {
            let level: Compatibility = p
                .compatibility
                .to_ascii_uppercase()
                .parse()
                .map_err(|e| BrokerError::InvalidArgument(format!("namespace policy: {e}")))?;
            Some(level.as_str().to_owned())
        };
        Ok(NamespacePolicy {
            partitions: p.partitions,
            retention_ms: p.retention_ms,
            retention_bytes: p.retention_bytes,
            validation,
            auto_register: p.auto_register,
            compatibility,
        })
    }

    /// The protocol form.
    pub fn to_proto(&self) -> v1::NamespacePolicy {
        v1::NamespacePolicy {
            partitions: self.partitions,
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            validation: self.validation.map_or(v1::ValidationLevel::Unspecified, Validation::to_proto) as i32,
            auto_register: self.auto_register,
            compatibility: self.compatibility.clone().unwrap_or_default(),
        }
    }
}

/// A namespace's stored definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceMeta {
    /// `tenant/namespace`.
    pub name: String,
    /// Defaults for its new topics.
    pub policy: NamespacePolicy,
    /// Creation time, ms since the epoch (0 for the built-in `public/default`).
    pub created_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
