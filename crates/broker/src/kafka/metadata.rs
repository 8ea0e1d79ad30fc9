//! ApiVersions, Metadata, DescribeCluster, FindCoordinator and InitProducerId: what a
//! client asks before it produces or joins a group. Runnel is one broker (node 0),
//! the leader of every partition and the coordinator of every group and
//! transactional id; it is
//! advertised at the address the client connected to.
//!
//! Metadata lists only the topics the caller may see, under the caller's Kafka names
//! (`runnel_names::kafka`); a topic asked for by name that the caller may not see is
//! TOPIC_AUTHORIZATION_FAILED whether or not it exists, decided before the lookup.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeClusterRequest, DescribeClusterResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, MetadataRequest,
    MetadataResponse, ProducerId, ResponseKind, TopicName,
};

use super::access::TOPIC_AUTHORIZATION_FAILED;
use super::context::Ctx;
use super::versions;
use crate::auth::{Caller, Resource};
use crate::kafka_codes::{code, kstr};
use crate::topics::Topic;

/// The id of the only broker.
pub const NODE_ID: i32 = 0;

pub(super) fn api_versions() -> ResponseKind {
    ResponseKind::ApiVersions(versions::api_versions_response(code::NONE))
}

pub(super) fn metadata(ctx: &Ctx, req: MetadataRequest, _version: i16) -> ResponseKind {
    let mut r = MetadataResponse::default();
    let mut broker = MetadataResponseBroker::default();
    broker.node_id = BrokerId(NODE_ID);
    broker.host = kstr(ctx.host.as_ref());
    broker.port = ctx.port;
    r.brokers = vec![broker];
    r.cluster_id = Some(kstr("runnel"));
    r.controller_id = BrokerId(NODE_ID);
    let access = &ctx.access;
    r.topics = match req.topics {
        // Null (and, before v1, empty) means every topic: those the caller may see, under
        // the names its scope gives them (a tenant scope names its own tenant's only).
        None => ctx
            .broker
            .topics
            .list()
            .iter()
            .filter(|t| access.sees(&Resource::Topic(&t.name)))
            .filter_map(|t| access.scope.kafka_topic(&t.name).map(|k| topic_metadata(t, k)))
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .filter_map(|t| t.name)
            .map(|name| {
                let error = |code| {
                    let mut m = MetadataResponseTopic::default();
                    m.error_code = code;
                    m.name = Some(name.clone());
                    m
                };
                let full = match access.scope.topic(name.as_str()) {
                    Ok(full) => full,
                    Err(e) => {
                        tracing::info!(principal = access.who(), topic = %name.as_str(), "Kafka Metadata: {e}");
                        return error(match access.caller {
                            Caller::Open => code::INVALID_TOPIC_EXCEPTION,
                            Caller::Authenticated(_) => TOPIC_AUTHORIZATION_FAILED,
                        });
                    }
                };
                if !access.sees(&Resource::Topic(&full)) {
                    tracing::info!(principal = access.who(), topic = %full, "Kafka Metadata denied on topic");
                    return error(TOPIC_AUTHORIZATION_FAILED);
                }
                match ctx.broker.topics.get(&full.short()) {
                    Ok(t) => topic_metadata(&t, name.as_str().to_owned()),
                    Err(_) => error(code::UNKNOWN_TOPIC_OR_PARTITION),
                }
            })
            .collect(),
    };
    ResponseKind::Metadata(r)
}

/// A topic's metadata under its Kafka name `kafka`.
fn topic_metadata(t: &Topic, kafka: String) -> MetadataResponseTopic {
    let mut m = MetadataResponseTopic::default();
    m.name = Some(TopicName(kstr(kafka)));
    m.partitions = (0..t.partitions.len() as i32)
        .map(|p| {
            let mut pm = MetadataResponsePartition::default();
            pm.partition_index = p;
            pm.leader_id = BrokerId(NODE_ID);
            pm.leader_epoch = 0;
            pm.replica_nodes = vec![BrokerId(NODE_ID)];
            pm.isr_nodes = vec![BrokerId(NODE_ID)];
            pm
        })
        .collect();
    m
}

/// DescribeCluster: the cluster id, node 0 as the controller and the only broker.
/// A request for controller endpoints (v1+, endpoint type 2) is MISMATCHED_ENDPOINT_TYPE,
/// as a Kafka broker answers it (clients then ask for brokers).
pub(super) fn describe_cluster(ctx: &Ctx, req: DescribeClusterRequest) -> ResponseKind {
    /// Cluster operations reported: all of ALTER, ALTER_CONFIGS, CLUSTER_ACTION, CREATE, DESCRIBE, DESCRIBE_CONFIGS,
    /// IDEMPOTENT_WRITE (bits 4, 7, 9, 10, 11, 8, 12).
    const CLUSTER_OPERATIONS: i32 =
        (1 << 4) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
    let mut r = DescribeClusterResponse::default();
    r.endpoint_type = req.endpoint_type;
    if req.endpoint_type != 1 {
        r.error_code = code::MISMATCHED_ENDPOINT_TYPE;
        r.error_message = Some(kstr("Runnel is a broker; it answers for broker endpoints (type 1) only"));
        return ResponseKind::DescribeCluster(r);
    }
    r.cluster_id = kstr("runnel");
    r.controller_id = BrokerId(NODE_ID);
    let mut b = DescribeClusterBroker::default();
    b.broker_id = BrokerId(NODE_ID);
    b.host = kstr(ctx.host.as_ref());
    b.port = ctx.port;
    r.brokers = vec![b];
    r.cluster_authorized_operations =
        if req.include_cluster_authorized_operations { CLUSTER_OPERATIONS } else { i32::MIN };
    ResponseKind::DescribeCluster(r)
}

/// Key type 0 (a group) and 1 (a transactional id) both find this broker; v0 has no key
/// type and means a group. Other key types are refused as Kafka refuses them.
pub(super) fn find_coordinator(ctx: &Ctx, req: FindCoordinatorRequest, _version: i16) -> ResponseKind {
    let mut r = FindCoordinatorResponse::default();
    if !matches!(req.key_type, 0 | 1) {
        tracing::info!(key_type = req.key_type, "Kafka FindCoordinator for an unknown key type");
        r.error_code = code::INVALID_REQUEST;
        r.node_id = BrokerId(-1);
        r.port = -1;
        return ResponseKind::FindCoordinator(r);
    }
    r.node_id = BrokerId(NODE_ID);
    r.host = kstr(ctx.host.as_ref());
    r.port = ctx.port;
    ResponseKind::FindCoordinator(r)
}

/// Idempotent producers get a fresh id from the same counter the gRPC
/// `InitProducer` uses, epoch 0; the partition logs then deduplicate retried
/// batches by (producer id, epoch, sequence) whichever protocol sent them.
/// A transactional id goes to the transaction coordinator (`transactions.rs`).
pub(super) async fn init_producer_id(ctx: Ctx, req: InitProducerIdRequest, version: i16) -> ResponseKind {
    if req.transactional_id.is_some() {
        return super::transactions::init_producer_id(ctx, req, version).await;
    }
    let mut r = InitProducerIdResponse::default();
    match ctx.broker.append.next_producer_id().await {
        Ok(id) => {
            r.producer_id = ProducerId(id);
            r.producer_epoch = 0;
        }
        Err(e) => {
            tracing::warn!(error = %e, "Kafka InitProducerId failed");
            r.error_code = code::COORDINATOR_NOT_AVAILABLE;
            r.producer_id = ProducerId(-1);
            r.producer_epoch = -1;
        }
    }
    ResponseKind::InitProducerId(r)
}
