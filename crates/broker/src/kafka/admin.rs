//! CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords, over the same topic
//! admin as the gRPC Admin service (the topics service). DescribeConfigs and the config
//! changes are in `configs.rs`. Kafka-created topics get Runnel's defaults
//! (subject `<topic>-value`, validation `full`) unless the request's configs
//! say otherwise: `retention.ms`, `retention.bytes`, `segment.bytes`,
//! `segment.ms`, and Runnel's own `runnel.validation` (none|id|full),
//! `runnel.value.subject`, `runnel.key.subject`.

use std::collections::HashSet;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse, ResponseKind,
    TopicName,
};
use runnel_proto::v1;

use super::context::Ctx;
use super::metadata::NODE_ID;
use crate::error::BrokerError;
use crate::kafka_codes::{code, kstr};
use crate::topics::{TopicConfig, MAX_PARTITIONS};

fn topic_error(e: &BrokerError) -> i16 {
    match e {
        BrokerError::TopicExists(_) => code::TOPIC_ALREADY_EXISTS,
        BrokerError::UnknownTopic(_) => code::UNKNOWN_TOPIC_OR_PARTITION,
        BrokerError::InvalidArgument(m) if m.contains("name") => code::INVALID_TOPIC_EXCEPTION,
        BrokerError::InvalidArgument(_) => code::INVALID_CONFIG,
        _ => code::UNKNOWN_SERVER_ERROR,
    }
}

/// The requested config, in the gRPC API's terms (one validation path for both).
fn requested_config(
    partitions: i32,
    replication: i16,
    configs: &[(String, Option<String>)],
) -> Result<v1::TopicConfig, (i16, String)> {
    if partitions == 0 || partitions < -1 {
        return Err((code::INVALID_PARTITIONS, format!("{partitions} partitions")));
    }
    if replication != -1 && replication != 1 {
        return Err((
            code::INVALID_REPLICATION_FACTOR,
            format!("replication factor {replication}: Runnel is one broker, use 1 or -1"),
        ));
    }
    let mut c = v1::TopicConfig { partitions: partitions.max(0) as u32, ..Default::default() };
    for (name, value) in configs {
        let value = value.as_deref().unwrap_or("");
        let bad = || (code::INVALID_CONFIG, format!("invalid value '{value}' for {name}"));
        match name.as_str() {
            "retention.ms" => c.retention_ms = value.parse().map_err(|_| bad())?,
            "retention.bytes" => c.retention_bytes = value.parse().map_err(|_| bad())?,
            "segment.bytes" => c.segment_bytes = value.parse().map_err(|_| bad())?,
            "segment.ms" => c.segment_ms = value.parse().map_err(|_| bad())?,
            "runnel.value.subject" => c.value_subject = value.to_owned(),
            "runnel.key.subject" => c.key_subject = value.to_owned(),
            "runnel.validation" => {
                c.validation = match value {
                    "none" => v1::ValidationLevel::None,
                    "id" => v1::ValidationLevel::Id,
                    "full" => v1::ValidationLevel::Full,
                    _ => return Err(bad()),
                } as i32
            }
            "cleanup.policy" if value == "delete" => {}
            _ => return Err((code::INVALID_CONFIG, format!("config {name} is not supported by Runnel"))),
        }
    }
    Ok(c)
}

pub(super) async fn create_topics(ctx: Ctx, req: CreateTopicsRequest) -> ResponseKind {
    let mut r = CreateTopicsResponse::default();
    for t in req.topics {
        let mut tr = CreatableTopicResult::default();
        tr.name = t.name.clone();
        let configs: Vec<(String, Option<String>)> = t
            .configs
            .iter()
            .map(|c| (c.name.as_str().to_owned(), c.value.as_ref().map(|v| v.as_str().to_owned())))
            .collect();
        let config = requested_config(t.num_partitions, t.replication_factor, &configs).and_then(|c| {
            TopicConfig::from_proto(t.name.as_str(), &c).map_err(|e| (topic_error(&e), e.to_string()))
        });
        let result = match config {
            Err(e) => Err(e),
            Ok(config) if req.validate_only => {
                let exists = ctx.broker.topics.get(t.name.as_str()).is_ok();
                let valid = crate::topics::validate_topic_name(t.name.as_str());
                match (exists, valid) {
                    (true, _) => Err((
                        code::TOPIC_ALREADY_EXISTS,
                        format!("topic '{}' already exists", t.name.as_str()),
                    )),
                    (_, Err(e)) => Err((code::INVALID_TOPIC_EXCEPTION, e.to_string())),
                    _ => Ok(config.partitions),
                }
            }
            Ok(config) => ctx
                .broker
                .topics
                .create(t.name.as_str(), config, false)
                .await
                .map(|topic| topic.partitions.len() as u32)
                .map_err(|e| (topic_error(&e), e.to_string())),
        };
        match result {
            Ok(partitions) => {
                tr.num_partitions = partitions as i32;
                tr.replication_factor = 1;
            }
            Err((c, message)) => {
                tr.error_code = c;
                tr.error_message = Some(kstr(message));
                tr.num_partitions = -1;
                tr.replication_factor = -1;
            }
        }
        r.topics.push(tr);
    }
    ResponseKind::CreateTopics(r)
}

pub(super) async fn delete_topics(ctx: Ctx, req: DeleteTopicsRequest, version: i16) -> ResponseKind {
    let names: Vec<TopicName> =
        if version >= 6 { req.topics.into_iter().filter_map(|t| t.name).collect() } else { req.topic_names };
    let mut r = DeleteTopicsResponse::default();
    for name in names {
        let mut dr = DeletableTopicResult::default();
        if let Err(e) = ctx.broker.topics.delete(name.as_str()).await {
            dr.error_code = topic_error(&e);
            dr.error_message = Some(kstr(e.to_string()));
        }
        dr.name = Some(name);
        r.responses.push(dr);
    }
    ResponseKind::DeleteTopics(r)
}

/// CreatePartitions: grows topics as the gRPC `AddPartitions` does (within the broker's
/// limits, new partition directories and the new count in `meta.redb`). Partitions only grow:
/// a count at or below the current one is INVALID_PARTITIONS, as Kafka answers. Manual
/// assignments may name broker 0 only, one replica per new partition.
pub(super) async fn create_partitions(ctx: Ctx, req: CreatePartitionsRequest) -> ResponseKind {
    let mut r = CreatePartitionsResponse::default();
    let mut seen = HashSet::new();
    let duplicated: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.as_str().to_owned()))
        .map(|t| t.name.as_str().to_owned())
        .collect();
    for t in req.topics {
        let name = t.name.as_str().to_owned();
        let outcome = if duplicated.contains(&name) {
            Err((code::INVALID_REQUEST, format!("topic '{name}' is named more than once")))
        } else {
            grow(&ctx, &name, t.count, t.assignments.as_deref(), req.validate_only).await
        };
        let mut tr = CreatePartitionsTopicResult::default();
        tr.name = t.name;
        if let Err((c, m)) = outcome {
            tracing::info!(topic = %name, code = c, message = %m, "Kafka CreatePartitions refused");
            tr.error_code = c;
            tr.error_message = Some(kstr(m));
        }
        r.results.push(tr);
    }
    ResponseKind::CreatePartitions(r)
}

async fn grow(
    ctx: &Ctx,
    name: &str,
    count: i32,
    assignments: Option<&[kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment]>,
    validate_only: bool,
) -> Result<(), (i16, String)> {
    let topics = &ctx.broker.topics;
    let topic = topics
        .get(name)
        .ok()
        .ok_or_else(|| (code::UNKNOWN_TOPIC_OR_PARTITION, format!("topic '{name}' does not exist")))?;
    let current = topic.partitions.len() as i32;
    if count < current {
        return Err((
            code::INVALID_PARTITIONS,
            format!("topic currently has {current} partitions, which is higher than the requested {count}"),
        ));
    }
    if count == current {
        return Err((code::INVALID_PARTITIONS, format!("topic already has {current} partitions")));
    }
    if count as u32 > MAX_PARTITIONS {
        return Err((
            code::INVALID_PARTITIONS,
            format!("at most {MAX_PARTITIONS} partitions per topic, not {count}"),
        ));
    }
    // Null (or an empty list, which some encoders send for null) lets the broker assign.
    if let Some(a) = assignments.filter(|a| !a.is_empty()) {
        if a.len() as i32 != count - current {
            return Err((
                code::INVALID_REPLICA_ASSIGNMENT,
                format!("{} assignments for {} new partitions", a.len(), count - current),
            ));
        }
        if a.iter().any(|p| p.broker_ids.len() != 1 || p.broker_ids[0].0 != NODE_ID) {
            return Err((
                code::INVALID_REPLICA_ASSIGNMENT,
                format!("Runnel is one broker: each new partition's replicas must be [{NODE_ID}]"),
            ));
        }
    }
    let added = (count - current) as u32;
    topics.check_limits(0, added).map_err(|e| (code::POLICY_VIOLATION, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    let grown = topics.add_partitions(name, count as u32).await;
    if grown.is_ok() {
        // gRPC groups on the topic get the new partitions now; Kafka clients see them in
        // their next metadata refresh and rebalance themselves.
        ctx.broker.groups.partitions_changed(name);
    }
    grown.map(|_| ()).map_err(|e| match e {
        crate::error::BrokerError::UnknownTopic(_) => (code::UNKNOWN_TOPIC_OR_PARTITION, e.to_string()),
        // Another request grew it first.
        crate::error::BrokerError::InvalidArgument(_) => (code::INVALID_PARTITIONS, e.to_string()),
        _ => {
            tracing::warn!(topic = name, error = %e, "Kafka CreatePartitions failed");
            (code::KAFKA_STORAGE_ERROR, e.to_string())
        }
    })
}

/// DeleteRecords: moves each partition's log start (`crate::log::start`); records below
/// it are never served again. Offset -1 means the high watermark; past it is
/// OFFSET_OUT_OF_RANGE.
pub(super) async fn delete_records(ctx: Ctx, req: DeleteRecordsRequest) -> ResponseKind {
    let mut r = DeleteRecordsResponse::default();
    for t in req.topics {
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut pr = DeleteRecordsPartitionResult::default();
            pr.partition_index = p.partition_index;
            pr.low_watermark = -1;
            let outcome = match u32::try_from(p.partition_index) {
                Ok(i) => ctx.broker.topics.delete_records(t.name.as_str(), i, p.offset).await,
                Err(_) => Err(crate::error::BrokerError::UnknownTopic(t.name.to_string())),
            };
            match outcome {
                Ok(low) => pr.low_watermark = low,
                Err(e) => {
                    pr.error_code = crate::kafka_codes::error_code(&e);
                    if pr.error_code != code::OFFSET_OUT_OF_RANGE
                        && pr.error_code != code::UNKNOWN_TOPIC_OR_PARTITION
                    {
                        let (topic, partition) = (t.name.as_str(), p.partition_index);
                        tracing::warn!(topic, partition, error = %e, "Kafka DeleteRecords failed");
                    }
                }
            }
            tr.partitions.push(pr);
        }
        r.topics.push(tr);
    }
    ResponseKind::DeleteRecords(r)
}
