//! CreateTopics, DeleteTopics and DescribeConfigs, over the same topic admin
//! as the gRPC Admin service. Kafka-created topics get Runnel's defaults
//! (subject `<topic>-value`, validation `full`) unless the request's configs
//! say otherwise: `retention.ms`, `retention.bytes`, `segment.bytes`,
//! `segment.ms`, and Runnel's own `runnel.validation` (none|id|full),
//! `runnel.value.subject`, `runnel.key.subject`.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, ResponseKind, TopicName,
};
use runnel_proto::v1;

use super::codes::{code, kstr};
use super::context::Ctx;
use crate::error::BrokerError;
use crate::topics::{TopicConfig, Validation};

/// DescribeConfigs' resource type for topics.
const RESOURCE_TOPIC: i8 = 2;

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

pub(super) fn describe_configs(ctx: &Ctx, req: DescribeConfigsRequest) -> ResponseKind {
    let mut r = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut rr = DescribeConfigsResult::default();
        rr.resource_type = res.resource_type;
        rr.resource_name = res.resource_name.clone();
        if res.resource_type != RESOURCE_TOPIC {
            // Broker configs: none are settable over Kafka; an empty list is an honest answer.
            r.results.push(rr);
            continue;
        }
        let topic = match ctx.broker.topics.get(res.resource_name.as_str()) {
            Ok(t) => t,
            Err(e) => {
                rr.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                rr.error_message = Some(kstr(e.to_string()));
                r.results.push(rr);
                continue;
            }
        };
        let c = &topic.meta.config;
        let validation = match c.validation {
            Validation::None => "none",
            Validation::Id => "id",
            Validation::Full => "full",
        };
        let entries = [
            ("cleanup.policy", "delete".to_owned()),
            ("retention.ms", c.retention_ms.to_string()),
            ("retention.bytes", c.retention_bytes.to_string()),
            ("segment.bytes", c.segment_bytes.to_string()),
            ("segment.ms", c.segment_ms.to_string()),
            ("runnel.validation", validation.to_owned()),
            ("runnel.value.subject", c.value_subject.clone()),
            ("runnel.key.subject", c.key_subject.clone().unwrap_or_default()),
        ];
        // Null (or empty) asks for every entry.
        let keys: Option<Vec<String>> = res
            .configuration_keys
            .filter(|k| !k.is_empty())
            .map(|k| k.iter().map(|s| s.as_str().to_owned()).collect());
        for (name, value) in entries {
            if keys.as_ref().is_some_and(|k| !k.iter().any(|n| n == name)) {
                continue;
            }
            let mut e = DescribeConfigsResourceResult::default();
            e.name = kstr(name);
            e.value = Some(kstr(value));
            e.read_only = true;
            // 1 = DYNAMIC_TOPIC_CONFIG: set per topic.
            e.config_source = 1;
            rr.configs.push(e);
        }
        r.results.push(rr);
    }
    ResponseKind::DescribeConfigs(r)
}
