//! ListGroups, DescribeGroups, DeleteGroups and OffsetDelete: the group admin a Kafka broker
//! answers, over both kinds of groups Runnel has.
//!
//! A group name is one namespace shared by the listener's Kafka groups (`groups.rs`, the
//! classic protocol), the gRPC groups (`crate::groups`, server-side assignment) and the
//! committed offsets both store in `meta.redb`. So a group is listed when either coordinator
//! has it or it holds committed offsets (then "Empty", as Kafka lists a group whose members
//! left), a gRPC group shows protocol type "runnel" (its members' assignments encoded as
//! Kafka's ConsumerProtocolAssignment), and an unknown group is described as "Dead" with no
//! error, as Kafka does.
//!
//! Deleting is refused while someone could commit again: DeleteGroups answers
//! NON_EMPTY_GROUP while the group has a live member in either coordinator, OffsetDelete
//! GROUP_SUBSCRIBED_TO_TOPIC for a topic a live member consumes (a Kafka member's
//! consumer-protocol subscription, or a gRPC member's topic). The check and the deletion run
//! under the Kafka coordinator's lock and the groups service's lock, so no member joins in
//! between.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, ResponseKind, TopicName,
};
use kafka_protocol::protocol::Encodable;

use super::context::Ctx;
use crate::error::BrokerError;
use crate::groups::LiveMember;
use crate::kafka_codes::{code, kstr};

/// The protocol type a gRPC group shows.
const RUNNEL_PROTOCOL_TYPE: &str = "runnel";
/// Kafka's group type of the classic protocol (ListGroups v5).
const CLASSIC: &str = "classic";
/// DescribeGroups' authorized operations when the client asks: READ, DELETE, DESCRIBE
/// (the Kafka listener has no authorization, so every group operation is allowed).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// One group as ListGroups shows it.
struct Listed {
    name: String,
    protocol_type: String,
    state: &'static str,
}

/// Every group: the Kafka coordinator's, then live gRPC groups, then groups that only hold
/// committed offsets.
async fn all_groups(ctx: &Ctx) -> Result<Vec<Listed>, BrokerError> {
    let mut out: Vec<Listed> = ctx
        .coordinator
        .list()
        .into_iter()
        .map(|(name, protocol_type, state)| Listed { name, protocol_type, state: state.kafka_name() })
        .collect();
    let known = |out: &[Listed], name: &str| out.iter().any(|l| l.name == name);
    for name in ctx.broker.groups.live_groups() {
        if !known(&out, &name) {
            out.push(Listed { name, protocol_type: RUNNEL_PROTOCOL_TYPE.into(), state: "Stable" });
        }
    }
    let b = Arc::clone(&ctx.broker);
    let with_offsets = tokio::task::spawn_blocking(move || b.groups.groups_with_offsets())
        .await
        .map_err(|e| BrokerError::Storage(format!("group listing task failed: {e}")))??;
    for name in with_offsets {
        if !known(&out, &name) {
            out.push(Listed { name, protocol_type: String::new(), state: "Empty" });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

pub(super) async fn list_groups(ctx: Ctx, req: ListGroupsRequest) -> ResponseKind {
    let mut r = ListGroupsResponse::default();
    let groups = match all_groups(&ctx).await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(error = %e, "Kafka ListGroups failed");
            r.error_code = code::COORDINATOR_NOT_AVAILABLE;
            return ResponseKind::ListGroups(r);
        }
    };
    let states: Vec<String> = req.states_filter.iter().map(|s| s.as_str().to_ascii_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.as_str().to_ascii_lowercase()).collect();
    if !types.is_empty() && !types.iter().any(|t| t == CLASSIC) {
        // Every Runnel group is a classic one (no KIP-848 "consumer" or share groups).
        return ResponseKind::ListGroups(r);
    }
    for g in groups {
        if !states.is_empty() && !states.iter().any(|s| *s == g.state.to_ascii_lowercase()) {
            continue;
        }
        let mut l = ListedGroup::default();
        l.group_id = GroupId(kstr(g.name));
        l.protocol_type = kstr(g.protocol_type);
        l.group_state = kstr(g.state);
        l.group_type = kstr(CLASSIC);
        r.groups.push(l);
    }
    ResponseKind::ListGroups(r)
}

/// A gRPC member's partitions as Kafka's ConsumerProtocolAssignment (v0 header and body).
fn encode_assignment(m: &LiveMember) -> Bytes {
    let mut tp = TopicPartition::default();
    tp.topic = TopicName(kstr(m.topic.as_str()));
    tp.partitions = m.partitions.iter().map(|&p| p as i32).collect();
    let mut a = ConsumerProtocolAssignment::default();
    a.assigned_partitions = vec![tp];
    let mut out = BytesMut::new();
    out.put_i16(0);
    if a.encode(&mut out, 0).is_err() {
        return Bytes::new();
    }
    out.freeze()
}

pub(super) async fn describe_groups(ctx: Ctx, req: DescribeGroupsRequest) -> ResponseKind {
    let mut r = DescribeGroupsResponse::default();
    for id in req.groups {
        let name = id.as_str().to_owned();
        let mut d = DescribedGroup::default();
        d.group_id = id;
        d.authorized_operations = if req.include_authorized_operations { GROUP_OPERATIONS } else { i32::MIN };
        if name.is_empty() {
            d.error_code = code::INVALID_GROUP_ID;
            r.groups.push(d);
            continue;
        }
        if let Some(s) = ctx.coordinator.snapshot(&name) {
            d.group_state = kstr(s.state.kafka_name());
            d.protocol_type = kstr(s.protocol_type);
            d.protocol_data = kstr(s.protocol);
            d.members = s
                .members
                .into_iter()
                .map(|m| {
                    let mut dm = DescribedGroupMember::default();
                    dm.member_id = kstr(m.member_id);
                    dm.client_id = kstr(m.client_id);
                    dm.client_host = kstr(m.client_host);
                    dm.member_metadata = m.metadata;
                    dm.member_assignment = m.assignment;
                    dm
                })
                .collect();
            r.groups.push(d);
            continue;
        }
        let live = ctx.broker.groups.live_members(&name);
        if !live.is_empty() {
            d.group_state = kstr("Stable");
            d.protocol_type = kstr(RUNNEL_PROTOCOL_TYPE);
            d.protocol_data = kstr("sticky");
            d.members = live
                .iter()
                .map(|m| {
                    let mut dm = DescribedGroupMember::default();
                    dm.member_id = kstr(m.member_id.as_str());
                    dm.client_id = kstr(m.client_id.as_str());
                    dm.member_assignment = encode_assignment(m);
                    dm
                })
                .collect();
            r.groups.push(d);
            continue;
        }
        let b = Arc::clone(&ctx.broker);
        let g = name.clone();
        let offsets = tokio::task::spawn_blocking(move || b.groups.topics_with_offsets(&g)).await;
        match offsets {
            Ok(Ok(topics)) => {
                // Kafka describes a group it does not know as Dead, without an error.
                d.group_state = kstr(if topics.is_empty() { "Dead" } else { "Empty" });
            }
            _ => {
                tracing::warn!(group = %name, "Kafka DescribeGroups could not read committed offsets");
                d.error_code = code::COORDINATOR_NOT_AVAILABLE;
            }
        }
        r.groups.push(d);
    }
    ResponseKind::DescribeGroups(r)
}

pub(super) async fn delete_groups(ctx: Ctx, req: DeleteGroupsRequest) -> ResponseKind {
    let mut r = DeleteGroupsResponse::default();
    for id in req.groups_names {
        let name = id.as_str().to_owned();
        let mut dr = DeletableGroupResult::default();
        dr.group_id = id;
        dr.error_code = if name.is_empty() {
            code::INVALID_GROUP_ID
        } else {
            let c = ctx.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                c.coordinator.with_group_locked(&name, true, |g| {
                    if g.live {
                        return Err(code::NON_EMPTY_GROUP);
                    }
                    match c.broker.groups.delete_offsets(&name, None, None) {
                        Ok(0) if !g.known => Err(code::GROUP_ID_NOT_FOUND),
                        Ok(removed) => {
                            tracing::info!(group = %name, offsets = removed, "Kafka DeleteGroups: deleted");
                            Ok(())
                        }
                        Err(BrokerError::FailedPrecondition(_)) => Err(code::NON_EMPTY_GROUP),
                        Err(e) => {
                            tracing::warn!(group = %name, error = %e, "Kafka DeleteGroups failed");
                            Err(code::KAFKA_STORAGE_ERROR)
                        }
                    }
                })
            })
            .await;
            match outcome {
                Ok(Ok(())) => code::NONE,
                Ok(Err(c)) => c,
                Err(_) => code::UNKNOWN_SERVER_ERROR,
            }
        };
        r.results.push(dr);
    }
    ResponseKind::DeleteGroups(r)
}

pub(super) async fn offset_delete(ctx: Ctx, req: OffsetDeleteRequest) -> ResponseKind {
    let group = req.group_id.as_str().to_owned();
    let c = ctx.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        c.coordinator.with_group_locked(&group, false, |g| -> Result<Vec<OffsetDeleteResponseTopic>, i16> {
            if group.is_empty() {
                return Err(code::INVALID_GROUP_ID);
            }
            // A live group of another protocol: its members' topics are unknown (Kafka's answer).
            if g.live && !g.consumer_protocol {
                return Err(code::NON_EMPTY_GROUP);
            }
            let with_offsets = c.broker.groups.topics_with_offsets(&group).map_err(|e| {
                tracing::warn!(group, error = %e, "Kafka OffsetDelete could not read offsets");
                code::COORDINATOR_NOT_AVAILABLE
            })?;
            let grpc_live = !c.broker.groups.live_members(&group).is_empty();
            if !g.known && with_offsets.is_empty() && !grpc_live {
                return Err(code::GROUP_ID_NOT_FOUND);
            }
            let mut topics = Vec::new();
            for t in &req.topics {
                let mut tr = OffsetDeleteResponseTopic::default();
                tr.name = t.name.clone();
                let parts: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
                let topic = c.broker.topics.get(t.name.as_str()).ok();
                let error = match &topic {
                    None => code::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(tp) if g.subscribed.contains(tp.meta.name.as_str()) => {
                        code::GROUP_SUBSCRIBED_TO_TOPIC
                    }
                    Some(tp) => {
                        let known: Vec<u32> = parts
                            .iter()
                            .filter_map(|&p| u32::try_from(p).ok())
                            .filter(|&p| tp.partition(p).is_ok())
                            .collect();
                        match c.broker.groups.delete_offsets(&group, Some(&tp.meta.name), Some(&known)) {
                            Ok(_) => code::NONE,
                            Err(BrokerError::FailedPrecondition(_)) => code::GROUP_SUBSCRIBED_TO_TOPIC,
                            Err(e) => {
                                tracing::warn!(group, error = %e, "Kafka OffsetDelete failed");
                                code::KAFKA_STORAGE_ERROR
                            }
                        }
                    }
                };
                for p in parts {
                    let mut pr = OffsetDeleteResponsePartition::default();
                    pr.partition_index = p;
                    let unknown_partition = topic
                        .as_ref()
                        .is_some_and(|tp| u32::try_from(p).map_or(true, |i| tp.partition(i).is_err()));
                    pr.error_code = if error == code::NONE && unknown_partition {
                        code::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        error
                    };
                    tr.partitions.push(pr);
                }
                topics.push(tr);
            }
            Ok(topics)
        })
    })
    .await;
    let mut r = OffsetDeleteResponse::default();
    match outcome {
        Ok(Ok(topics)) => r.topics = topics,
        Ok(Err(c)) => r.error_code = c,
        Err(_) => r.error_code = code::UNKNOWN_SERVER_ERROR,
    }
    ResponseKind::OffsetDelete(r)
}
