//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and the broker.
//!
//! Topic configs are Kafka's names for what a Runnel topic has, plus Runnel's own under
//! `runnel.`: `runnel.validation` is the topic's validation level (`none` | `id` | `full`,
//! DESIGN.md's "Validation level per topic"), `runnel.value.subject`, `runnel.key.subject`
//! and `runnel.auto.register` its schema binding. Alterable (through the topics service,
//! stored in `meta.redb` before they apply): `retention.ms`, `retention.bytes`,
//! `segment.bytes`, `segment.ms` and `runnel.validation`. The rest are read-only: the
//! binding and the fsync policy (`flush.messages` / `flush.ms`) are fixed at creation,
//! and `cleanup.policy` is always `delete` (setting it to `delete` is accepted and changes
//! nothing; `compact` is refused).
//!
//! A topic value equal to its default (the broker's, or its namespace policy's) shows source
//! DEFAULT_CONFIG; a different one DYNAMIC_TOPIC_CONFIG, with the broker-level synonym
//! (`log.retention.ms`, …) after it as Kafka lists them. Broker configs (resource type
//! BROKER, name `0` or empty) are read-only: the server's flags and built-in values, none
//! sensitive (Runnel's Kafka listener has no credentials to hide).
//!
//! AlterConfigs replaces a topic's alterable configs (those it leaves out return to their
//! defaults, as Kafka does); IncrementalAlterConfigs SETs or DELETEs (resets) one at a time;
//! APPEND and SUBTRACT apply to list configs only, which Runnel's alterable ones are not
//! (INVALID_CONFIG). A change to a read-only or unknown config is INVALID_CONFIG, to a broker
//! config INVALID_REQUEST; each resource is all-or-nothing.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, ResponseKind,
};

use super::context::Ctx;
use super::metadata::NODE_ID;
use crate::error::BrokerError;
use crate::kafka_codes::{code, kstr};
use crate::topics::{ConfigChange, Fsync, Topic, TopicConfig, Validation};

/// Kafka's resource types.
pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;

/// Kafka's config sources.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

/// Kafka's config types (DescribeConfigs v3+).
const BOOLEAN: i8 = 1;
const STRING: i8 = 2;
const INT: i8 = 3;
const LONG: i8 = 5;
const LIST: i8 = 7;

/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// One entry of a DescribeConfigs answer.
struct Entry {
    name: &'static str,
    value: String,
    read_only: bool,
    source: i8,
    kind: i8,
    doc: &'static str,
    /// (name, value, source), most specific first, after the entry itself.
    synonyms: Vec<(&'static str, String, i8)>,
}

fn validation_name(v: Validation) -> &'static str {
    match v {
        Validation::None => "none",
        Validation::Id => "id",
        Validation::Full => "full",
    }
}

fn parse_validation(v: &str) -> Option<Validation> {
    match v {
        "none" => Some(Validation::None),
        "id" => Some(Validation::Id),
        "full" => Some(Validation::Full),
        _ => None,
    }
}

/// What `flush.messages` / `flush.ms` say of a topic's fsync policy.
fn flush(c: &TopicConfig) -> (String, String) {
    let never = i64::MAX.to_string();
    match c.fsync {
        Fsync::Always => ("1".into(), never),
        Fsync::Interval => (never, c.fsync_interval_ms.to_string()),
        Fsync::Never => (never.clone(), never),
    }
}

/// A topic's configs, each with its source judged against `defaults` (what the topic
/// would have had with nothing set): a value that differs was set for this topic
/// (DYNAMIC_TOPIC_CONFIG, at creation or by AlterConfigs). With synonyms, the topic's own
/// value comes first and the broker-level default (when Kafka has one) after it.
fn topic_entries(ctx: &Ctx, t: &Topic, defaults: &TopicConfig) -> Vec<Entry> {
    let c = &t.meta.config;
    let entry = |name: &'static str,
                 value: String,
                 default: String,
                 broker: Option<&'static str>,
                 read_only: bool,
                 kind: i8,
                 doc: &'static str| {
        let overridden = value != default;
        let mut synonyms = Vec::new();
        if overridden {
            synonyms.push((name, value.clone(), DYNAMIC_TOPIC_CONFIG));
        }
        if let Some(b) = broker {
            synonyms.push((b, default, DEFAULT_CONFIG));
        }
        Entry {
            name,
            value,
            read_only,
            source: if overridden { DYNAMIC_TOPIC_CONFIG } else { DEFAULT_CONFIG },
            kind,
            doc,
            synonyms,
        }
    };
    let (flush_messages, flush_ms) = flush(c);
    let (default_flush_messages, default_flush_ms) = flush(defaults);
    let index_interval = c.log_config().index_interval_bytes.to_string();
    let max_batch = ctx.broker.limits.max_batch_bytes.to_string();
    let value_subject = crate::topics::TopicConfig::from_proto(&t.meta.name, &Default::default())
        .map(|d| d.value_subject)
        .unwrap_or_default();
    vec![
        entry(
            "cleanup.policy",
            "delete".into(),
            "delete".into(),
            Some("log.cleanup.policy"),
            true,
            LIST,
            "Always delete: Runnel does not compact.",
        ),
        entry(
            "compression.type",
            "uncompressed".into(),
            "uncompressed".into(),
            Some("compression.type"),
            true,
            STRING,
            "Runnel stores batches as sent and refuses compressed ones.",
        ),
        entry(
            "flush.messages",
            flush_messages,
            default_flush_messages,
            Some("log.flush.interval.messages"),
            true,
            LONG,
            "1 when every batch is fsynced before it is acknowledged (the fsync policy, fixed at creation).",
        ),
        entry(
            "flush.ms",
            flush_ms,
            default_flush_ms,
            Some("log.flush.interval.ms"),
            true,
            LONG,
            "The fsync interval of a topic created with fsync policy INTERVAL.",
        ),
        entry(
            "index.interval.bytes",
            index_interval.clone(),
            index_interval,
            Some("log.index.interval.bytes"),
            true,
            INT,
            "Bytes between offset index entries.",
        ),
        entry(
            "max.message.bytes",
            max_batch.clone(),
            max_batch,
            Some("message.max.bytes"),
            true,
            INT,
            "The largest record batch the broker accepts.",
        ),
        entry(
            "message.timestamp.type",
            "CreateTime".into(),
            "CreateTime".into(),
            Some("log.message.timestamp.type"),
            true,
            STRING,
            "Records keep the producer's timestamps.",
        ),
        entry(
            "min.insync.replicas",
            "1".into(),
            "1".into(),
            Some("min.insync.replicas"),
            true,
            INT,
            "Runnel is one broker.",
        ),
        entry(
            "retention.bytes",
            c.retention_bytes.to_string(),
            defaults.retention_bytes.to_string(),
            Some("log.retention.bytes"),
            false,
            LONG,
            "Delete the oldest sealed segments while a partition is larger; -1 = unlimited.",
        ),
        entry(
            "retention.ms",
            c.retention_ms.to_string(),
            defaults.retention_ms.to_string(),
            Some("log.retention.ms"),
            false,
            LONG,
            "Delete sealed segments whose newest record is older; -1 = forever.",
        ),
        entry(
            "segment.bytes",
            c.segment_bytes.to_string(),
            defaults.segment_bytes.to_string(),
            Some("log.segment.bytes"),
            false,
            INT,
            "Roll a partition's segment before it grows past this size.",
        ),
        entry(
            "segment.ms",
            c.segment_ms.to_string(),
            defaults.segment_ms.to_string(),
            Some("log.roll.ms"),
            false,
            LONG,
            "Roll a partition's segment when it is older than this.",
        ),
        entry(
            "runnel.auto.register",
            c.auto_register.to_string(),
            defaults.auto_register.to_string(),
            None,
            true,
            BOOLEAN,
            "Whether producers may register new schema versions (fixed at creation).",
        ),
        entry(
            "runnel.key.subject",
            c.key_subject.clone().unwrap_or_default(),
            String::new(),
            None,
            true,
            STRING,
            "The subject keys are validated against (empty: keys are not); fixed at creation.",
        ),
        entry(
            "runnel.validation",
            validation_name(c.validation).into(),
            validation_name(defaults.validation).into(),
            Some("runnel.validation"),
            false,
            STRING,
            "How much of each record is checked: none, id (a registered version) or full (decoded).",
        ),
        entry(
            "runnel.value.subject",
            c.value_subject.clone(),
            value_subject,
            None,
            true,
            STRING,
            "The subject values are validated against; fixed at creation.",
        ),
    ]
}

/// The broker's configs (read-only: flags and built-in values).
fn broker_entries(ctx: &Ctx, defaults: &TopicConfig) -> Vec<Entry> {
    let l = &ctx.broker.limits;
    let listener = format!("PLAINTEXT://{}:{}", ctx.host, ctx.port);
    // As Kafka lists a broker config: its own synonym at its source.
    let e = |name: &'static str, value: String, source: i8, kind: i8, doc: &'static str| Entry {
        name,
        synonyms: vec![(name, value.clone(), source)],
        value,
        read_only: true,
        source,
        kind,
        doc,
    };
    let (flush_messages, flush_ms) = flush(defaults);
    vec![
        e(
            "advertised.listeners",
            listener.clone(),
            STATIC_BROKER_CONFIG,
            LIST,
            "The address clients reached this listener on.",
        ),
        e(
            "auto.create.topics.enable",
            "false".into(),
            DEFAULT_CONFIG,
            BOOLEAN,
            "Topics are created explicitly (they bind a schema).",
        ),
        e("broker.id", NODE_ID.to_string(), DEFAULT_CONFIG, INT, "Runnel is one broker, node 0."),
        e(
            "compression.type",
            "uncompressed".into(),
            DEFAULT_CONFIG,
            STRING,
            "Compressed batches are refused.",
        ),
        e("default.replication.factor", "1".into(), DEFAULT_CONFIG, INT, "One broker, one replica."),
        e("delete.topic.enable", "true".into(), DEFAULT_CONFIG, BOOLEAN, "DeleteTopics deletes."),
        e(
            "group.max.session.timeout.ms",
            "300000".into(),
            DEFAULT_CONFIG,
            INT,
            "Longest session timeout a member may ask for.",
        ),
        e(
            "group.min.session.timeout.ms",
            "100".into(),
            DEFAULT_CONFIG,
            INT,
            "Shortest session timeout a member may ask for.",
        ),
        e(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT".into(),
            DEFAULT_CONFIG,
            STRING,
            "The Kafka listener speaks plaintext only.",
        ),
        e("listeners", listener, STATIC_BROKER_CONFIG, LIST, "The Kafka listener's address."),
        e("log.cleanup.policy", "delete".into(), DEFAULT_CONFIG, LIST, "Runnel does not compact."),
        e(
            "log.flush.interval.ms",
            flush_ms,
            DEFAULT_CONFIG,
            LONG,
            "The fsync interval of topics created with fsync policy INTERVAL.",
        ),
        e(
            "log.message.timestamp.type",
            "CreateTime".into(),
            DEFAULT_CONFIG,
            STRING,
            "Records keep the producer's timestamps.",
        ),
        e(
            "log.flush.interval.messages",
            flush_messages,
            DEFAULT_CONFIG,
            LONG,
            "Topics fsync every batch unless created otherwise.",
        ),
        e(
            "log.index.interval.bytes",
            defaults.log_config().index_interval_bytes.to_string(),
            DEFAULT_CONFIG,
            INT,
            "Bytes between offset index entries.",
        ),
        e(
            "log.retention.bytes",
            defaults.retention_bytes.to_string(),
            DEFAULT_CONFIG,
            LONG,
            "Default retention by size per partition.",
        ),
        e(
            "log.retention.ms",
            defaults.retention_ms.to_string(),
            DEFAULT_CONFIG,
            LONG,
            "Default retention by age.",
        ),
        e(
            "log.roll.ms",
            defaults.segment_ms.to_string(),
            DEFAULT_CONFIG,
            LONG,
            "Default segment age before rolling.",
        ),
        e(
            "log.segment.bytes",
            defaults.segment_bytes.to_string(),
            DEFAULT_CONFIG,
            INT,
            "Default segment size before rolling.",
        ),
        e(
            "message.max.bytes",
            l.max_batch_bytes.to_string(),
            STATIC_BROKER_CONFIG,
            INT,
            "The largest record batch accepted.",
        ),
        e("min.insync.replicas", "1".into(), DEFAULT_CONFIG, INT, "One broker, one replica."),
        e("node.id", NODE_ID.to_string(), DEFAULT_CONFIG, INT, "Runnel is one broker, node 0."),
        e(
            "num.partitions",
            defaults.partitions.to_string(),
            DEFAULT_CONFIG,
            INT,
            "Partitions of a topic created without a count.",
        ),
        e(
            "runnel.max.partitions",
            l.max_partitions.to_string(),
            STATIC_BROKER_CONFIG,
            INT,
            "Most partitions over all topics.",
        ),
        e(
            "runnel.max.topics",
            l.max_topics.to_string(),
            STATIC_BROKER_CONFIG,
            INT,
            "Most topics the broker holds.",
        ),
        e(
            "runnel.validation",
            validation_name(defaults.validation).into(),
            DEFAULT_CONFIG,
            STRING,
            "Default validation level of new topics.",
        ),
    ]
}

pub(super) fn describe_configs(ctx: &Ctx, req: DescribeConfigsRequest, version: i16) -> ResponseKind {
    let mut r = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut rr = DescribeConfigsResult::default();
        rr.resource_type = res.resource_type;
        rr.resource_name = res.resource_name.clone();
        let name = res.resource_name.as_str();
        let entries = match res.resource_type {
            RESOURCE_TOPIC => match ctx.broker.topics.get(name).ok() {
                None => Err((code::UNKNOWN_TOPIC_OR_PARTITION, format!("topic '{name}' does not exist"))),
                Some(t) => ctx
                    .broker
                    .topics
                    .default_config(&t.meta.name)
                    .map(|d| topic_entries(ctx, &t, &d))
                    .map_err(|e| (code::UNKNOWN_SERVER_ERROR, e.to_string())),
            },
            RESOURCE_BROKER if name.is_empty() || name == NODE_ID.to_string() => ctx
                .broker
                .topics
                .default_config("t")
                .map(|d| broker_entries(ctx, &d))
                .map_err(|e| (code::UNKNOWN_SERVER_ERROR, e.to_string())),
            RESOURCE_BROKER => {
                Err((code::INVALID_REQUEST, format!("no broker '{name}': Runnel is broker {NODE_ID}")))
            }
            other => Err((code::INVALID_REQUEST, format!("resource type {other} has no configs in Runnel"))),
        };
        let entries = match entries {
            Ok(e) => e,
            Err((c, message)) => {
                rr.error_code = c;
                rr.error_message = Some(kstr(message));
                r.results.push(rr);
                continue;
            }
        };
        // Null (or empty) asks for every entry.
        let keys: Option<Vec<String>> = res
            .configuration_keys
            .filter(|k| !k.is_empty())
            .map(|k| k.iter().map(|s| s.as_str().to_owned()).collect());
        for e in entries {
            if keys.as_ref().is_some_and(|k| !k.iter().any(|n| n == e.name)) {
                continue;
            }
            let mut d = DescribeConfigsResourceResult::default();
            d.name = kstr(e.name);
            d.value = Some(kstr(e.value));
            d.read_only = e.read_only;
            d.config_source = e.source;
            d.is_sensitive = false;
            if req.include_synonyms {
                d.synonyms = e
                    .synonyms
                    .into_iter()
                    .map(|(n, v, s)| {
                        let mut syn = DescribeConfigsSynonym::default();
                        syn.name = kstr(n);
                        syn.value = Some(kstr(v));
                        syn.source = s;
                        syn
                    })
                    .collect();
            }
            if version >= 3 {
                d.config_type = e.kind;
                if req.include_documentation {
                    d.documentation = Some(kstr(e.doc));
                }
            }
            rr.configs.push(d);
        }
        r.results.push(rr);
    }
    ResponseKind::DescribeConfigs(r)
}

/// One requested change of a topic config, parsed: `None` when the name is one Runnel
/// accepts but nothing changes (`cleanup.policy=delete`).
fn topic_change(name: &str, value: Option<&str>) -> Result<Option<ConfigChange>, String> {
    let int = |v: Option<&str>| -> Result<Option<i64>, String> {
        v.map(|s| s.trim().parse::<i64>().map_err(|_| format!("invalid value '{s}' for {name}"))).transpose()
    };
    let uint = |v: Option<&str>| -> Result<Option<u64>, String> {
        v.map(|s| s.trim().parse::<u64>().map_err(|_| format!("invalid value '{s}' for {name}"))).transpose()
    };
    Ok(Some(match name {
        "retention.ms" => ConfigChange::RetentionMs(int(value)?),
        "retention.bytes" => ConfigChange::RetentionBytes(int(value)?),
        "segment.bytes" => ConfigChange::SegmentBytes(uint(value)?),
        "segment.ms" => ConfigChange::SegmentMs(uint(value)?),
        "runnel.validation" => ConfigChange::Validation(
            value
                .map(|v| {
                    parse_validation(v)
                        .ok_or_else(|| format!("invalid value '{v}' for {name}: none, id or full"))
                })
                .transpose()?,
        ),
        "cleanup.policy" if value.is_none_or(|v| v == "delete") => return Ok(None),
        "cleanup.policy" => return Err("cleanup.policy: Runnel does not compact; only 'delete'".into()),
        "compression.type"
        | "flush.messages"
        | "flush.ms"
        | "index.interval.bytes"
        | "max.message.bytes"
        | "message.timestamp.type"
        | "min.insync.replicas"
        | "runnel.auto.register"
        | "runnel.key.subject"
        | "runnel.value.subject" => return Err(format!("config {name} is read-only in Runnel")),
        _ => return Err(format!("unknown topic config {name}")),
    }))
}

/// Applies `changes` (config name, value; `None` resets) to one resource, all or nothing.
async fn alter_resource(
    ctx: &Ctx,
    resource_type: i8,
    resource_name: &str,
    changes: Vec<(String, Option<String>)>,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    match resource_type {
        RESOURCE_TOPIC => {}
        RESOURCE_BROKER => {
            return Err((
                code::INVALID_REQUEST,
                "broker configs are read-only in Runnel (server flags)".into(),
            ))
        }
        other => {
            return Err((code::INVALID_REQUEST, format!("resource type {other} has no configs in Runnel")))
        }
    }
    if ctx.broker.topics.get(resource_name).is_err() {
        return Err((code::UNKNOWN_TOPIC_OR_PARTITION, format!("topic '{resource_name}' does not exist")));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((dup, _)) = changes.iter().find(|(n, _)| !seen.insert(n.as_str())) {
        return Err((code::INVALID_REQUEST, format!("config {dup} is named more than once")));
    }
    let mut parsed = Vec::new();
    for (name, value) in &changes {
        if let Some(c) = topic_change(name, value.as_deref()).map_err(|m| (code::INVALID_CONFIG, m))? {
            parsed.push(c);
        }
    }
    ctx.broker.topics.alter_config(resource_name, &parsed, validate_only).await.map(|_| ()).map_err(|e| {
        match e {
            BrokerError::UnknownTopic(_) => (code::UNKNOWN_TOPIC_OR_PARTITION, e.to_string()),
            BrokerError::InvalidArgument(_) => (code::INVALID_CONFIG, e.to_string()),
            _ => {
                tracing::warn!(topic = resource_name, error = %e, "Kafka config change failed");
                (code::KAFKA_STORAGE_ERROR, e.to_string())
            }
        }
    })
}

fn resource_response(
    resource_type: i8,
    resource_name: kafka_protocol::protocol::StrBytes,
    outcome: Result<(), (i16, String)>,
) -> AlterConfigsResourceResponse {
    let mut rr = AlterConfigsResourceResponse::default();
    rr.resource_type = resource_type;
    rr.resource_name = resource_name;
    if let Err((c, m)) = outcome {
        tracing::info!(code = c, message = %m, "Kafka config change refused");
        rr.error_code = c;
        rr.error_message = Some(kstr(m));
    }
    rr
}

/// AlterConfigs: the listed configs are set, every other alterable one returns to its default.
pub(super) async fn alter_configs(ctx: Ctx, req: AlterConfigsRequest) -> ResponseKind {
    let mut r = AlterConfigsResponse::default();
    for res in req.resources {
        let mut changes: Vec<(String, Option<String>)> =
            ["retention.ms", "retention.bytes", "segment.bytes", "segment.ms", "runnel.validation"]
                .iter()
                .filter(|n| !res.configs.iter().any(|c| c.name.as_str() == **n))
                .map(|n| ((*n).to_owned(), None))
                .collect();
        changes.extend(
            res.configs
                .iter()
                .map(|c| (c.name.as_str().to_owned(), c.value.as_ref().map(|v| v.as_str().to_owned()))),
        );
        let outcome =
            alter_resource(&ctx, res.resource_type, res.resource_name.as_str(), changes, req.validate_only)
                .await;
        r.responses.push(resource_response(res.resource_type, res.resource_name, outcome));
    }
    ResponseKind::AlterConfigs(r)
}

/// IncrementalAlterConfigs: SET or DELETE (back to the default) one config at a time.
pub(super) async fn incremental_alter_configs(ctx: Ctx, req: IncrementalAlterConfigsRequest) -> ResponseKind {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as Resp;
    let mut r = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let mut changes = Vec::new();
        let mut refused = None;
        for c in &res.configs {
            let value = c.value.as_ref().map(|v| v.as_str().to_owned());
            match c.config_operation {
                OP_SET if value.is_some() => changes.push((c.name.as_str().to_owned(), value)),
                OP_SET => {
                    refused =
                        Some((code::INVALID_REQUEST, format!("SET {} without a value", c.name.as_str())))
                }
                OP_DELETE => changes.push((c.name.as_str().to_owned(), None)),
                2 | 3 => {
                    refused = Some((
                        code::INVALID_CONFIG,
                        format!("{} is not a list config: APPEND and SUBTRACT do not apply", c.name.as_str()),
                    ))
                }
                op => refused = Some((code::INVALID_REQUEST, format!("unknown config operation {op}"))),
            }
        }
        let outcome = match refused {
            Some(e) => Err(e),
            None => {
                alter_resource(
                    &ctx,
                    res.resource_type,
                    res.resource_name.as_str(),
                    changes,
                    req.validate_only,
                )
                .await
            }
        };
        let rr = resource_response(res.resource_type, res.resource_name, outcome);
        let mut out = Resp::default();
        out.error_code = rr.error_code;
        out.error_message = rr.error_message;
        out.resource_type = rr.resource_type;
        out.resource_name = rr.resource_name;
        r.responses.push(out);
    }
    ResponseKind::IncrementalAlterConfigs(r)
}
