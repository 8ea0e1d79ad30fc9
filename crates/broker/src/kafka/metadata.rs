//! ApiVersions, Metadata, FindCoordinator and InitProducerId: what a client
//! asks before it produces or joins a group. Runnel is one broker (node 0),
//! the leader of every partition and the coordinator of every group and
//! transactional id; it is
//! advertised at the address the client connected to.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProducerId, ResponseKind, TopicName,
};

use super::codes::{code, kstr};
use super::context::Ctx;
use super::versions;
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
    r.topics = match req.topics {
        // Null (and, before v1, empty) means every topic.
        // Kafka topic names cannot hold `/`: the listener serves the bare names
        // (tenant `public`, namespace `default`) and shows no other tenant's topics.
        None => ctx
            .broker
            .topics
            .list()
            .iter()
            .filter(|t| !t.meta.name.contains('/'))
            .map(|t| topic_metadata(t))
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .filter_map(|t| t.name)
            .map(|name| match ctx.broker.topics.get(name.as_str()).ok().filter(|_| !name.contains('/')) {
                Some(t) => topic_metadata(&t),
                None => {
                    let mut m = MetadataResponseTopic::default();
                    m.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                    m.name = Some(name);
                    m
                }
            })
            .collect(),
    };
    ResponseKind::Metadata(r)
}

fn topic_metadata(t: &Topic) -> MetadataResponseTopic {
    let mut m = MetadataResponseTopic::default();
    m.name = Some(TopicName(kstr(t.meta.name.as_str())));
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
