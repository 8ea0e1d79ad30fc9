//! Authorization, tenancy and quotas of Kafka requests, around the handlers: [`admit`] takes
//! a decoded request, decides every topic and group it names with the caller's grants
//! *before* anything is looked up (so a refusal is the same for a topic that exists and one
//! that does not), rewrites the names it may use from the caller's Kafka names to Runnel's
//! (`runnel_names::kafka`), and returns the rest of the work: after the handler, [`Finish`]
//! renames the answer back, adds the refused topics with their Kafka error, and charges a
//! fetch's bytes to its tenants' consume quotas.
//!
//! Permissions, as the gRPC API takes them: Produce → produce on the topic; Fetch,
//! ListOffsets, OffsetCommit, OffsetFetch → consume; CreateTopics → admin on the
//! namespace; DeleteTopics → admin on the topic; DescribeConfigs → the topic visible;
//! InitProducerId → some produce or admin grant (Kafka's KIP-679: write on any topic).
//! Groups have no grants of their own: a group of tenant `T` may be used by a principal with
//! a consume or admin grant reaching into `T`; what it reads or commits is then checked per
//! topic. Refusals are TOPIC_AUTHORIZATION_FAILED per topic, GROUP_AUTHORIZATION_FAILED and
//! CLUSTER_AUTHORIZATION_FAILED as Kafka answers them, each with a log line. An API this
//! module does not know is served to superusers (and with authentication off) only; anyone
//! else's connection is closed with a log line rather than served unchecked.
//!
//! Quotas (KIP-219, as Kafka brokers do since 2.0): a produce or fetch over its tenant's rate
//! is answered at once with `throttle_time_ms`, and the connection reads nothing more for
//! that long ([`throttle_of`]; the connection loop mutes itself); clients of newer versions
//! also hold back on their own. Every tenant has its own buckets, so one tenant's debt
//! never delays another's connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{alter_configs_response, incremental_alter_configs_response};
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, ApiKey, BrokerId, EndTxnResponse, FetchResponse,
    FindCoordinatorResponse, GroupId, HeartbeatResponse, InitProducerIdResponse, JoinGroupResponse,
    LeaveGroupResponse, OffsetCommitResponse, OffsetDeleteResponse, OffsetFetchResponse, ProducerId,
    RequestKind, ResponseKind, SyncGroupResponse, TopicName as KafkaTopic, TransactionalId,
    TxnOffsetCommitResponse,
};
use kafka_protocol::protocol::StrBytes;
use runnel_auth::names::kafka::group_tenant;
use runnel_auth::names::TopicName;

use super::codec::KafkaError;
use super::context::{Access, Ctx};
use crate::auth::{Caller, Permission, Resource};
use crate::broker::Broker;
use crate::kafka_codes::{code, kstr};

/// Topic authorization failed.
pub(super) const TOPIC_AUTHORIZATION_FAILED: i16 =
    kafka_protocol::ResponseError::TopicAuthorizationFailed.code();
/// Group authorization failed.
pub(super) const GROUP_AUTHORIZATION_FAILED: i16 =
    kafka_protocol::ResponseError::GroupAuthorizationFailed.code();
/// Cluster authorization failed.
pub(super) const CLUSTER_AUTHORIZATION_FAILED: i16 =
    kafka_protocol::ResponseError::ClusterAuthorizationFailed.code();

/// DescribeConfigs' resource type for topics.
const RESOURCE_TOPIC: i8 = 2;
/// FindCoordinator's key type for transactions.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// What becomes of a request.
pub(super) enum Admission {
    /// Run the handler on this (renamed) request, then [`Finish`] its answer.
    Go(RequestKind, Finish),
    /// Answered without the handler (everything it named was refused).
    Answer(ResponseKind),
}

type Step = Box<dyn FnOnce(ResponseKind) -> ResponseKind + Send>;

/// The work left after the handler: renaming the answer back, adding refusals, quotas.
pub(super) struct Finish(Option<Step>);

impl Finish {
    fn none() -> Finish {
        Finish(None)
    }

    fn then(step: impl FnOnce(ResponseKind) -> ResponseKind + Send + 'static) -> Finish {
        Finish(Some(Box::new(step)))
    }

    /// Applies the remaining work to the handler's answer.
    pub(super) fn apply(self, body: ResponseKind) -> ResponseKind {
        match self.0 {
            Some(step) => step(body),
            None => body,
        }
    }
}

/// How long the connection stays muted after this answer (its `throttle_time_ms`).
pub(super) fn throttle_of(body: &ResponseKind) -> Duration {
    let ms = match body {
        ResponseKind::Produce(r) => r.throttle_time_ms,
        ResponseKind::Fetch(r) => r.throttle_time_ms,
        _ => 0,
    };
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Milliseconds of a throttle, for `throttle_time_ms`.
pub(super) fn throttle_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// What a named topic needs.
#[derive(Clone, Copy)]
enum Need {
    Do(Permission),
    /// Visible (describe).
    See,
    /// Admin on its namespace (creation).
    AdminNamespace,
}

/// Decides a topic named in a request: its stored name, or the error code it gets instead.
fn topic(access: &Access, api: ApiKey, kafka: &str, need: Need) -> Result<String, i16> {
    let name = match access.scope.topic(kafka) {
        Ok(n) => n,
        // Not a name this caller can form: nothing to authorize, so nothing is allowed.
        Err(e) => {
            tracing::info!(principal = access.who(), ?api, topic = kafka, "Kafka topic name refused: {e}");
            return Err(match access.caller {
                Caller::Open => code::INVALID_TOPIC_EXCEPTION,
                Caller::Authenticated(_) => TOPIC_AUTHORIZATION_FAILED,
            });
        }
    };
    let allowed = match need {
        Need::Do(p) => access.allows(p, &name),
        Need::See => access.sees(&Resource::Topic(&name)),
        Need::AdminNamespace => Caller::check(
            Some(&access.caller),
            Permission::Admin,
            &Resource::Namespace { tenant: name.tenant(), namespace: name.namespace() },
        )
        .is_ok(),
    };
    if !allowed {
        tracing::info!(principal = access.who(), ?api, topic = %name, "Kafka request denied on topic");
        return Err(TOPIC_AUTHORIZATION_FAILED);
    }
    Ok(name.short())
}

/// Decides a group id: its stored name, or GROUP_AUTHORIZATION_FAILED.
fn group(access: &Access, api: ApiKey, kafka: &str) -> Result<String, i16> {
    scoped_id(access, api, kafka, ScopedId::Group)
}

/// Decides a transactional id: its stored name, or TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
/// Transactional ids are scoped like group ids (a tenant-scoped principal's `tx` is `T/tx`),
/// so one tenant can neither fence nor end another's transactions; using one needs a produce
/// or admin grant reaching into its tenant (Kafka: WRITE on the TransactionalId).
fn transactional_id(access: &Access, api: ApiKey, kafka: &str) -> Result<String, i16> {
    scoped_id(access, api, kafka, ScopedId::Transactional)
}

/// The ids named in the caller's scope and stored per tenant (`T/id`).
#[derive(Debug, Clone, Copy)]
enum ScopedId {
    Group,
    Transactional,
}

/// Maps `kafka` to its stored id and checks the caller may use ids of that tenant.
fn scoped_id(access: &Access, api: ApiKey, kafka: &str, kind: ScopedId) -> Result<String, i16> {
    if matches!(access.caller, Caller::Open) {
        return Ok(kafka.to_owned());
    }
    let refused = match kind {
        ScopedId::Group => GROUP_AUTHORIZATION_FAILED,
        ScopedId::Transactional => code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    };
    let allowed = |stored: &String| match kind {
        ScopedId::Group => access.caller.may_use_groups_of(group_tenant(stored)),
        ScopedId::Transactional => access.caller.may_use_transactions_of(group_tenant(stored)),
    };
    match access.scope.group(kafka).ok().filter(allowed) {
        Some(stored) => Ok(stored),
        None => {
            tracing::info!(principal = access.who(), ?api, id = kafka, "Kafka request denied on {kind:?} id");
            Err(refused)
        }
    }
}

fn is_superuser(caller: &Caller) -> bool {
    match caller {
        Caller::Open => true,
        Caller::Authenticated(p) => p.is_superuser(),
    }
}

/// Whether the caller may produce somewhere (idempotent producer ids, KIP-679).
fn may_produce_somewhere(caller: &Caller) -> bool {
    match caller {
        Caller::Open => true,
        Caller::Authenticated(p) => p.grants.iter().any(|g| {
            let text = g.as_str();
            g.is_superuser() || text.starts_with("produce:") || text.starts_with("admin:")
        }),
    }
}

/// Decides a config resource to alter: a topic needs `admin` on it (its stored name is
/// returned), the broker needs a superuser (CLUSTER_AUTHORIZATION_FAILED).
fn config_resource(
    access: &Access,
    api: ApiKey,
    resource_type: i8,
    name: &StrBytes,
) -> Result<StrBytes, i16> {
    if resource_type == RESOURCE_TOPIC {
        return topic(access, api, name.as_str(), Need::Do(Permission::Admin)).map(kstr);
    }
    if is_superuser(&access.caller) {
        Ok(name.clone())
    } else {
        tracing::info!(principal = access.who(), ?api, "Kafka change of broker configs denied");
        Err(CLUSTER_AUTHORIZATION_FAILED)
    }
}

fn ktopic(s: String) -> KafkaTopic {
    KafkaTopic(kstr(s))
}

/// Renames a config resource in an answer back to the caller's Kafka name (topics only; the
/// broker is named by its id).
fn rename_resource(access: &Access, resource_type: i8, name: &mut StrBytes) {
    if resource_type == RESOURCE_TOPIC {
        if let Some(k) = access.kafka_name(name.as_str()) {
            *name = kstr(k);
        }
    }
}

/// Renames a stored group id in an answer back to the caller's Kafka name.
fn rename_group(access: &Access, id: &mut GroupId) {
    if let Some(k) = access.scope.kafka_group(id.as_str()) {
        *id = GroupId(kstr(k));
    }
}

/// Renames a stored topic name in an answer back to the caller's Kafka name.
fn rename(access: &Access, name: &mut KafkaTopic) {
    if let Some(k) = access.kafka_name(name.as_str()) {
        *name = ktopic(k);
    }
}

/// Authorizes and renames `request`. An error closes the connection (an API this module
/// cannot check, asked by a caller who is not a superuser).
pub(super) fn admit(
    ctx: &Ctx,
    api: ApiKey,
    request: RequestKind,
    version: i16,
) -> Result<Admission, KafkaError> {
    let access = Arc::clone(&ctx.access);
    let a = &*access;
    Ok(match request {
        // Nothing named (DescribeCluster: the one broker), or filtered by its handler (Metadata).
        RequestKind::ApiVersions(_) | RequestKind::Metadata(_) | RequestKind::DescribeCluster(_) => {
            Admission::Go(request, Finish::none())
        }
        RequestKind::Produce(mut r) => {
            let mut refused = Vec::new();
            r.topic_data.retain_mut(|t| {
                match topic(a, ApiKey::Produce, t.name.as_str(), Need::Do(Permission::Produce)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = TopicProduceResponse::default();
                        tr.name = t.name.clone();
                        tr.partition_responses = t
                            .partition_data
                            .iter()
                            .map(|p| {
                                let mut pr = PartitionProduceResponse::default();
                                pr.index = p.index;
                                pr.error_code = c;
                                pr.base_offset = -1;
                                pr.log_append_time_ms = -1;
                                pr.log_start_offset = -1;
                                pr
                            })
                            .collect();
                        refused.push(tr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::Produce(r),
                Finish::then(move |body| match body {
                    ResponseKind::Produce(mut r) => {
                        r.responses.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.responses.extend(refused);
                        ResponseKind::Produce(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::Fetch(mut r) => {
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::Fetch, t.topic.as_str(), Need::Do(Permission::Consume)) {
                    Ok(stored) => {
                        t.topic = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = FetchableTopicResponse::default();
                        tr.topic = t.topic.clone();
                        tr.partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let mut pd = PartitionData::default();
                                pd.partition_index = p.partition;
                                pd.error_code = c;
                                pd.high_watermark = -1;
                                pd.last_stable_offset = -1;
                                pd.log_start_offset = -1;
                                pd.records = Some(Bytes::new());
                                pd
                            })
                            .collect();
                        refused.push(tr);
                        false
                    }
                }
            });
            r.forgotten_topics_data.retain_mut(|t| match a.scope.topic(t.topic.as_str()) {
                Ok(name) => {
                    t.topic = ktopic(name.short());
                    true
                }
                Err(_) => false,
            });
            if r.topics.is_empty() && !refused.is_empty() {
                // Nothing left to wait for: answer now, as Kafka does.
                let mut resp = FetchResponse::default();
                resp.responses = refused;
                return Ok(Admission::Answer(ResponseKind::Fetch(resp)));
            }
            let broker = Arc::clone(&ctx.broker);
            Admission::Go(
                RequestKind::Fetch(r),
                Finish::then(move |body| match body {
                    ResponseKind::Fetch(mut r) => {
                        let throttle = charge_fetch(&broker, &r);
                        r.throttle_time_ms = r.throttle_time_ms.max(throttle_ms(throttle));
                        r.responses.iter_mut().for_each(|t| rename(&access, &mut t.topic));
                        r.responses.extend(refused);
                        ResponseKind::Fetch(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::ListOffsets(mut r) => {
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::ListOffsets, t.name.as_str(), Need::Do(Permission::Consume)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = ListOffsetsTopicResponse::default();
                        tr.name = t.name.clone();
                        tr.partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let mut pr = ListOffsetsPartitionResponse::default();
                                pr.partition_index = p.partition_index;
                                pr.error_code = c;
                                pr.timestamp = -1;
                                pr.offset = -1;
                                pr
                            })
                            .collect();
                        refused.push(tr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::ListOffsets(r),
                Finish::then(move |body| match body {
                    ResponseKind::ListOffsets(mut r) => {
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::ListOffsets(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::OffsetCommit(mut r) => {
            let group_ok = group(a, ApiKey::OffsetCommit, r.group_id.as_str());
            let mut refused = Vec::new();
            let deny = |t: &kafka_protocol::messages::offset_commit_request::OffsetCommitRequestTopic,
                        c: i16| {
                let mut tr = OffsetCommitResponseTopic::default();
                tr.name = t.name.clone();
                tr.partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let mut pr = OffsetCommitResponsePartition::default();
                        pr.partition_index = p.partition_index;
                        pr.error_code = c;
                        pr
                    })
                    .collect();
                tr
            };
            match group_ok {
                Err(c) => {
                    let mut resp = OffsetCommitResponse::default();
                    resp.topics = r.topics.iter().map(|t| deny(t, c)).collect();
                    return Ok(Admission::Answer(ResponseKind::OffsetCommit(resp)));
                }
                Ok(stored) => r.group_id = GroupId(kstr(stored)),
            }
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::OffsetCommit, t.name.as_str(), Need::Do(Permission::Consume)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        refused.push(deny(t, c));
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::OffsetCommit(r),
                Finish::then(move |body| match body {
                    ResponseKind::OffsetCommit(mut r) => {
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::OffsetCommit(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::OffsetFetch(mut r) => {
            let deny_partitions = |parts: &[i32], c: i16| -> Vec<OffsetFetchResponsePartition> {
                parts
                    .iter()
                    .map(|&p| {
                        let mut pr = OffsetFetchResponsePartition::default();
                        pr.partition_index = p;
                        pr.committed_offset = -1;
                        pr.committed_leader_epoch = -1;
                        pr.metadata = Some(kstr(""));
                        pr.error_code = c;
                        pr
                    })
                    .collect()
            };
            match group(a, ApiKey::OffsetFetch, r.group_id.as_str()) {
                Err(c) => {
                    let mut resp = OffsetFetchResponse::default();
                    if version >= 2 {
                        resp.error_code = c;
                    } else if let Some(topics) = &r.topics {
                        resp.topics = topics
                            .iter()
                            .map(|t| {
                                let mut tr = OffsetFetchResponseTopic::default();
                                tr.name = t.name.clone();
                                tr.partitions = deny_partitions(&t.partition_indexes, c);
                                tr
                            })
                            .collect();
                    }
                    return Ok(Admission::Answer(ResponseKind::OffsetFetch(resp)));
                }
                Ok(stored) => r.group_id = GroupId(kstr(stored)),
            }
            let mut refused = Vec::new();
            let all_topics = r.topics.is_none();
            if let Some(topics) = r.topics.as_mut() {
                topics.retain_mut(|t| {
                    match topic(a, ApiKey::OffsetFetch, t.name.as_str(), Need::Do(Permission::Consume)) {
                        Ok(stored) => {
                            t.name = ktopic(stored);
                            true
                        }
                        Err(c) => {
                            let mut tr = OffsetFetchResponseTopic::default();
                            tr.name = t.name.clone();
                            tr.partitions = deny_partitions(&t.partition_indexes, c);
                            refused.push(tr);
                            false
                        }
                    }
                });
            }
            Admission::Go(
                RequestKind::OffsetFetch(r),
                Finish::then(move |body| match body {
                    ResponseKind::OffsetFetch(mut r) => {
                        if all_topics {
                            // Every topic the group has offsets on: only those the caller may
                            // read, and only those its names can reach.
                            r.topics.retain(|t| {
                                TopicName::parse(t.name.as_str()).is_ok_and(|n| {
                                    access.allows(Permission::Consume, &n)
                                        && access.scope.kafka_topic(&n).is_some()
                                })
                            });
                        }
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::OffsetFetch(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::FindCoordinator(r) => {
            let refused = if r.key_type == KEY_TYPE_TRANSACTION {
                transactional_id(a, ApiKey::FindCoordinator, r.key.as_str()).err()
            } else {
                group(a, ApiKey::FindCoordinator, r.key.as_str()).err()
            };
            match refused {
                Some(c) => {
                    let mut resp = FindCoordinatorResponse::default();
                    resp.error_code = c;
                    resp.error_message = Some(kstr("authorization failed"));
                    resp.node_id = BrokerId(-1);
                    resp.host = kstr("");
                    resp.port = -1;
                    Admission::Answer(ResponseKind::FindCoordinator(resp))
                }
                None => Admission::Go(RequestKind::FindCoordinator(r), Finish::none()),
            }
        }
        RequestKind::JoinGroup(mut r) => match group(a, ApiKey::JoinGroup, r.group_id.as_str()) {
            Ok(stored) => {
                r.group_id = GroupId(kstr(stored));
                Admission::Go(RequestKind::JoinGroup(r), Finish::none())
            }
            Err(c) => {
                let mut resp = JoinGroupResponse::default();
                resp.error_code = c;
                resp.generation_id = -1;
                resp.member_id = r.member_id;
                Admission::Answer(ResponseKind::JoinGroup(resp))
            }
        },
        RequestKind::SyncGroup(mut r) => match group(a, ApiKey::SyncGroup, r.group_id.as_str()) {
            Ok(stored) => {
                r.group_id = GroupId(kstr(stored));
                Admission::Go(RequestKind::SyncGroup(r), Finish::none())
            }
            Err(c) => {
                let mut resp = SyncGroupResponse::default();
                resp.error_code = c;
                Admission::Answer(ResponseKind::SyncGroup(resp))
            }
        },
        RequestKind::Heartbeat(mut r) => match group(a, ApiKey::Heartbeat, r.group_id.as_str()) {
            Ok(stored) => {
                r.group_id = GroupId(kstr(stored));
                Admission::Go(RequestKind::Heartbeat(r), Finish::none())
            }
            Err(c) => {
                let mut resp = HeartbeatResponse::default();
                resp.error_code = c;
                Admission::Answer(ResponseKind::Heartbeat(resp))
            }
        },
        RequestKind::LeaveGroup(mut r) => match group(a, ApiKey::LeaveGroup, r.group_id.as_str()) {
            Ok(stored) => {
                r.group_id = GroupId(kstr(stored));
                Admission::Go(RequestKind::LeaveGroup(r), Finish::none())
            }
            Err(c) => {
                let mut resp = LeaveGroupResponse::default();
                resp.error_code = c;
                Admission::Answer(ResponseKind::LeaveGroup(resp))
            }
        },
        RequestKind::InitProducerId(mut r) if r.transactional_id.is_some() => {
            let kafka = r.transactional_id.as_ref().map_or("", |t| t.as_str()).to_owned();
            match transactional_id(a, ApiKey::InitProducerId, &kafka) {
                Ok(stored) => {
                    r.transactional_id = Some(TransactionalId(kstr(stored)));
                    Admission::Go(RequestKind::InitProducerId(r), Finish::none())
                }
                Err(c) => {
                    let mut resp = InitProducerIdResponse::default();
                    resp.error_code = c;
                    resp.producer_id = ProducerId(-1);
                    resp.producer_epoch = -1;
                    Admission::Answer(ResponseKind::InitProducerId(resp))
                }
            }
        }
        // Transactions: the id as above; partitions added need produce, offsets committed
        // need the group (as OffsetCommit) and consume on each topic.
        RequestKind::AddPartitionsToTxn(mut r) => {
            let id =
                transactional_id(a, ApiKey::AddPartitionsToTxn, r.v3_and_below_transactional_id.as_str());
            let mut codes: Vec<(KafkaTopic, Vec<i32>, i16)> = Vec::new();
            let mut refused = false;
            for t in r.v3_and_below_topics.iter_mut() {
                let c = match &id {
                    Err(c) => *c,
                    Ok(_) => match topic(
                        a,
                        ApiKey::AddPartitionsToTxn,
                        t.name.as_str(),
                        Need::Do(Permission::Produce),
                    ) {
                        Ok(stored) => {
                            let kafka = std::mem::replace(&mut t.name, ktopic(stored));
                            codes.push((kafka, t.partitions.clone(), 0));
                            continue;
                        }
                        Err(c) => c,
                    },
                };
                refused = true;
                codes.push((t.name.clone(), t.partitions.clone(), c));
            }
            match id {
                Ok(stored) if !refused => {
                    r.v3_and_below_transactional_id = TransactionalId(kstr(stored));
                    Admission::Go(
                        RequestKind::AddPartitionsToTxn(r),
                        Finish::then(move |body| match body {
                            ResponseKind::AddPartitionsToTxn(mut r) => {
                                r.results_by_topic_v3_and_below
                                    .iter_mut()
                                    .for_each(|t| rename(&access, &mut t.name));
                                ResponseKind::AddPartitionsToTxn(r)
                            }
                            other => other,
                        }),
                    )
                }
                // Nothing is added when anything is refused: the refused partitions carry
                // their code, the others OPERATION_NOT_ATTEMPTED (as Kafka answers).
                _ => {
                    let mut resp = AddPartitionsToTxnResponse::default();
                    resp.results_by_topic_v3_and_below = codes
                        .into_iter()
                        .map(|(name, parts, c)| {
                            let mut tr = AddPartitionsToTxnTopicResult::default();
                            tr.name = name;
                            tr.results_by_partition = parts
                                .into_iter()
                                .map(|p| {
                                    let mut pr = AddPartitionsToTxnPartitionResult::default();
                                    pr.partition_index = p;
                                    pr.partition_error_code =
                                        if c == 0 { code::OPERATION_NOT_ATTEMPTED } else { c };
                                    pr
                                })
                                .collect();
                            tr
                        })
                        .collect();
                    Admission::Answer(ResponseKind::AddPartitionsToTxn(resp))
                }
            }
        }
        RequestKind::AddOffsetsToTxn(mut r) => {
            let decided = transactional_id(a, ApiKey::AddOffsetsToTxn, r.transactional_id.as_str())
                .and_then(|id| group(a, ApiKey::AddOffsetsToTxn, r.group_id.as_str()).map(|g| (id, g)));
            match decided {
                Ok((id, g)) => {
                    r.transactional_id = TransactionalId(kstr(id));
                    r.group_id = GroupId(kstr(g));
                    Admission::Go(RequestKind::AddOffsetsToTxn(r), Finish::none())
                }
                Err(c) => {
                    let mut resp = AddOffsetsToTxnResponse::default();
                    resp.error_code = c;
                    Admission::Answer(ResponseKind::AddOffsetsToTxn(resp))
                }
            }
        }
        RequestKind::EndTxn(mut r) => {
            match transactional_id(a, ApiKey::EndTxn, r.transactional_id.as_str()) {
                Ok(id) => {
                    r.transactional_id = TransactionalId(kstr(id));
                    Admission::Go(RequestKind::EndTxn(r), Finish::none())
                }
                Err(c) => {
                    let mut resp = EndTxnResponse::default();
                    resp.error_code = c;
                    Admission::Answer(ResponseKind::EndTxn(resp))
                }
            }
        }
        RequestKind::TxnOffsetCommit(mut r) => {
            let deny =
                |t: &kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequestTopic,
                 c: i16| {
                    let mut tr = TxnOffsetCommitResponseTopic::default();
                    tr.name = t.name.clone();
                    tr.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut pr = TxnOffsetCommitResponsePartition::default();
                            pr.partition_index = p.partition_index;
                            pr.error_code = c;
                            pr
                        })
                        .collect();
                    tr
                };
            let decided = transactional_id(a, ApiKey::TxnOffsetCommit, r.transactional_id.as_str())
                .and_then(|id| group(a, ApiKey::TxnOffsetCommit, r.group_id.as_str()).map(|g| (id, g)));
            match decided {
                Err(c) => {
                    let mut resp = TxnOffsetCommitResponse::default();
                    resp.topics = r.topics.iter().map(|t| deny(t, c)).collect();
                    return Ok(Admission::Answer(ResponseKind::TxnOffsetCommit(resp)));
                }
                Ok((id, g)) => {
                    r.transactional_id = TransactionalId(kstr(id));
                    r.group_id = GroupId(kstr(g));
                }
            }
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::TxnOffsetCommit, t.name.as_str(), Need::Do(Permission::Consume)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        refused.push(deny(t, c));
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::TxnOffsetCommit(r),
                Finish::then(move |body| match body {
                    ResponseKind::TxnOffsetCommit(mut r) => {
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::TxnOffsetCommit(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::InitProducerId(r) => {
            if may_produce_somewhere(&a.caller) {
                Admission::Go(RequestKind::InitProducerId(r), Finish::none())
            } else {
                tracing::info!(principal = a.who(), "Kafka InitProducerId denied: no produce grant");
                let mut resp = InitProducerIdResponse::default();
                resp.error_code = CLUSTER_AUTHORIZATION_FAILED;
                resp.producer_id = ProducerId(-1);
                resp.producer_epoch = -1;
                Admission::Answer(ResponseKind::InitProducerId(resp))
            }
        }
        RequestKind::CreateTopics(mut r) => {
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::CreateTopics, t.name.as_str(), Need::AdminNamespace) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = CreatableTopicResult::default();
                        tr.name = t.name.clone();
                        tr.error_code = c;
                        tr.error_message = Some(kstr(refusal(c, "admin on the topic's namespace")));
                        tr.num_partitions = -1;
                        tr.replication_factor = -1;
                        refused.push(tr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::CreateTopics(r),
                Finish::then(move |body| match body {
                    ResponseKind::CreateTopics(mut r) => {
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::CreateTopics(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DeleteTopics(mut r) => {
            let mut refused = Vec::new();
            r.topic_names.retain_mut(|t| {
                match topic(a, ApiKey::DeleteTopics, t.as_str(), Need::Do(Permission::Admin)) {
                    Ok(stored) => {
                        *t = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut dr = DeletableTopicResult::default();
                        dr.name = Some(t.clone());
                        dr.error_code = c;
                        dr.error_message = Some(kstr(refusal(c, "admin on the topic")));
                        refused.push(dr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::DeleteTopics(r),
                Finish::then(move |body| match body {
                    ResponseKind::DeleteTopics(mut r) => {
                        for t in &mut r.responses {
                            if let Some(n) = t.name.as_mut() {
                                rename(&access, n);
                            }
                        }
                        r.responses.extend(refused);
                        ResponseKind::DeleteTopics(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DescribeConfigs(mut r) => {
            let mut refused = Vec::new();
            let superuser = is_superuser(&a.caller);
            r.resources.retain_mut(|res| {
                let decided = if res.resource_type == RESOURCE_TOPIC {
                    topic(a, ApiKey::DescribeConfigs, res.resource_name.as_str(), Need::See)
                } else if superuser {
                    Ok(res.resource_name.as_str().to_owned())
                } else {
                    tracing::info!(principal = a.who(), "Kafka DescribeConfigs of the broker denied");
                    Err(CLUSTER_AUTHORIZATION_FAILED)
                };
                match decided {
                    Ok(stored) => {
                        res.resource_name = kstr(stored);
                        true
                    }
                    Err(c) => {
                        let mut rr = DescribeConfigsResult::default();
                        rr.error_code = c;
                        rr.error_message = Some(kstr(refusal(c, "a grant on it")));
                        rr.resource_type = res.resource_type;
                        rr.resource_name = res.resource_name.clone();
                        refused.push(rr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::DescribeConfigs(r),
                Finish::then(move |body| match body {
                    ResponseKind::DescribeConfigs(mut r) => {
                        for res in r.results.iter_mut() {
                            rename_resource(&access, res.resource_type, &mut res.resource_name);
                        }
                        r.results.extend(refused);
                        ResponseKind::DescribeConfigs(r)
                    }
                    other => other,
                }),
            )
        }
        // Group administration: each group as the group APIs decide it; listings only show
        // groups the caller may use, under its names.
        RequestKind::ListGroups(r) => Admission::Go(
            RequestKind::ListGroups(r),
            Finish::then(move |body| match body {
                ResponseKind::ListGroups(mut r) => {
                    r.groups.retain_mut(|g| {
                        if !access.caller.may_use_groups_of(group_tenant(g.group_id.as_str())) {
                            return false;
                        }
                        match access.scope.kafka_group(g.group_id.as_str()) {
                            Some(k) => {
                                g.group_id = GroupId(kstr(k));
                                true
                            }
                            None => false,
                        }
                    });
                    ResponseKind::ListGroups(r)
                }
                other => other,
            }),
        ),
        RequestKind::DescribeGroups(mut r) => {
            let mut refused = Vec::new();
            r.groups.retain_mut(|g| match group(a, ApiKey::DescribeGroups, g.as_str()) {
                Ok(stored) => {
                    *g = GroupId(kstr(stored));
                    true
                }
                Err(c) => {
                    let mut d = DescribedGroup::default();
                    d.group_id = g.clone();
                    // No error_message: it exists from v6 on, and v5 is the highest served.
                    d.error_code = c;
                    refused.push(d);
                    false
                }
            });
            Admission::Go(
                RequestKind::DescribeGroups(r),
                Finish::then(move |body| match body {
                    ResponseKind::DescribeGroups(mut r) => {
                        r.groups.iter_mut().for_each(|g| rename_group(&access, &mut g.group_id));
                        r.groups.extend(refused);
                        ResponseKind::DescribeGroups(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DeleteGroups(mut r) => {
            let mut refused = Vec::new();
            r.groups_names.retain_mut(|g| match group(a, ApiKey::DeleteGroups, g.as_str()) {
                Ok(stored) => {
                    *g = GroupId(kstr(stored));
                    true
                }
                Err(c) => {
                    let mut d = DeletableGroupResult::default();
                    d.group_id = g.clone();
                    d.error_code = c;
                    refused.push(d);
                    false
                }
            });
            Admission::Go(
                RequestKind::DeleteGroups(r),
                Finish::then(move |body| match body {
                    ResponseKind::DeleteGroups(mut r) => {
                        r.results.iter_mut().for_each(|g| rename_group(&access, &mut g.group_id));
                        r.results.extend(refused);
                        ResponseKind::DeleteGroups(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::OffsetDelete(mut r) => {
            match group(a, ApiKey::OffsetDelete, r.group_id.as_str()) {
                Err(c) => {
                    let mut resp = OffsetDeleteResponse::default();
                    resp.error_code = c;
                    return Ok(Admission::Answer(ResponseKind::OffsetDelete(resp)));
                }
                Ok(stored) => r.group_id = GroupId(kstr(stored)),
            }
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::OffsetDelete, t.name.as_str(), Need::Do(Permission::Consume)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = OffsetDeleteResponseTopic::default();
                        tr.name = t.name.clone();
                        tr.partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let mut pr = OffsetDeleteResponsePartition::default();
                                pr.partition_index = p.partition_index;
                                pr.error_code = c;
                                pr
                            })
                            .collect();
                        refused.push(tr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::OffsetDelete(r),
                Finish::then(move |body| match body {
                    ResponseKind::OffsetDelete(mut r) => {
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::OffsetDelete(r)
                    }
                    other => other,
                }),
            )
        }
        // Topic administration: `admin` on each topic (as DeleteTopics).
        RequestKind::CreatePartitions(mut r) => {
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::CreatePartitions, t.name.as_str(), Need::Do(Permission::Admin)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = CreatePartitionsTopicResult::default();
                        tr.name = t.name.clone();
                        tr.error_code = c;
                        tr.error_message = Some(kstr(refusal(c, "admin on the topic")));
                        refused.push(tr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::CreatePartitions(r),
                Finish::then(move |body| match body {
                    ResponseKind::CreatePartitions(mut r) => {
                        r.results.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.results.extend(refused);
                        ResponseKind::CreatePartitions(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::DeleteRecords(mut r) => {
            let mut refused = Vec::new();
            r.topics.retain_mut(|t| {
                match topic(a, ApiKey::DeleteRecords, t.name.as_str(), Need::Do(Permission::Admin)) {
                    Ok(stored) => {
                        t.name = ktopic(stored);
                        true
                    }
                    Err(c) => {
                        let mut tr = DeleteRecordsTopicResult::default();
                        tr.name = t.name.clone();
                        tr.partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                let mut pr = DeleteRecordsPartitionResult::default();
                                pr.partition_index = p.partition_index;
                                pr.low_watermark = -1;
                                pr.error_code = c;
                                pr
                            })
                            .collect();
                        refused.push(tr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::DeleteRecords(r),
                Finish::then(move |body| match body {
                    ResponseKind::DeleteRecords(mut r) => {
                        r.topics.iter_mut().for_each(|t| rename(&access, &mut t.name));
                        r.topics.extend(refused);
                        ResponseKind::DeleteRecords(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::AlterConfigs(mut r) => {
            let mut refused = Vec::new();
            r.resources.retain_mut(|res| {
                match config_resource(a, ApiKey::AlterConfigs, res.resource_type, &res.resource_name) {
                    Ok(stored) => {
                        res.resource_name = stored;
                        true
                    }
                    Err(c) => {
                        let mut rr = alter_configs_response::AlterConfigsResourceResponse::default();
                        rr.error_code = c;
                        rr.error_message = Some(kstr(refusal(c, "admin on it")));
                        rr.resource_type = res.resource_type;
                        rr.resource_name = res.resource_name.clone();
                        refused.push(rr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::AlterConfigs(r),
                Finish::then(move |body| match body {
                    ResponseKind::AlterConfigs(mut r) => {
                        for res in r.responses.iter_mut() {
                            rename_resource(&access, res.resource_type, &mut res.resource_name);
                        }
                        r.responses.extend(refused);
                        ResponseKind::AlterConfigs(r)
                    }
                    other => other,
                }),
            )
        }
        RequestKind::IncrementalAlterConfigs(mut r) => {
            let mut refused = Vec::new();
            r.resources.retain_mut(|res| {
                match config_resource(
                    a,
                    ApiKey::IncrementalAlterConfigs,
                    res.resource_type,
                    &res.resource_name,
                ) {
                    Ok(stored) => {
                        res.resource_name = stored;
                        true
                    }
                    Err(c) => {
                        let mut rr =
                            incremental_alter_configs_response::AlterConfigsResourceResponse::default();
                        rr.error_code = c;
                        rr.error_message = Some(kstr(refusal(c, "admin on it")));
                        rr.resource_type = res.resource_type;
                        rr.resource_name = res.resource_name.clone();
                        refused.push(rr);
                        false
                    }
                }
            });
            Admission::Go(
                RequestKind::IncrementalAlterConfigs(r),
                Finish::then(move |body| match body {
                    ResponseKind::IncrementalAlterConfigs(mut r) => {
                        for res in r.responses.iter_mut() {
                            rename_resource(&access, res.resource_type, &mut res.resource_name);
                        }
                        r.responses.extend(refused);
                        ResponseKind::IncrementalAlterConfigs(r)
                    }
                    other => other,
                }),
            )
        }
        other => {
            // Served unchecked only to those who may do everything anyway.
            if is_superuser(&a.caller) {
                Admission::Go(other, Finish::none())
            } else {
                tracing::warn!(principal = a.who(), ?api, "Kafka API has no authorization check; refused");
                return Err(KafkaError::Refused(format!(
                    "{api:?} is served to superusers only on a listener with authentication"
                )));
            }
        }
    })
}

/// The error message of a refusal.
fn refusal(code: i16, needs: &str) -> String {
    match code {
        code::INVALID_TOPIC_EXCEPTION => "not a valid topic name".to_owned(),
        _ => format!("authorization failed: this needs {needs}"),
    }
}

/// Charges a fetch answer's record bytes to each topic's tenant consume quota; returns the
/// longest throttle any of them asks for.
fn charge_fetch(broker: &Broker, r: &FetchResponse) -> Duration {
    let mut per_topic: HashMap<&str, u64> = HashMap::new();
    for t in &r.responses {
        let bytes: usize = t.partitions.iter().map(|p| p.records.as_ref().map_or(0, Bytes::len)).sum();
        if bytes > 0 {
            *per_topic.entry(t.topic.as_str()).or_default() += bytes as u64;
        }
    }
    per_topic
        .into_iter()
        .filter_map(|(name, bytes)| broker.topics.get(name).ok().map(|t| t.quota.consume.charge(bytes)))
        .max()
        .unwrap_or(Duration::ZERO)
}
