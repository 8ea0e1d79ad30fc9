//! OffsetCommit and OffsetFetch over the same store as the gRPC groups (through the
//! groups service): `meta.redb`'s (group, topic, partition) → next offset table. A group that
//! committed over Kafka resumes over gRPC at the same place, and back.
//! Commits are fenced by the Kafka group's member id and generation; a
//! commit with generation -1 and no member (a standalone consumer) is taken
//! while the Kafka group has no members.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ResponseKind,
    TopicName,
};

use super::context::Ctx;
use crate::kafka_codes::{code, kstr};

pub(super) async fn commit(ctx: Ctx, req: OffsetCommitRequest) -> ResponseKind {
    let group = req.group_id.as_str().to_owned();
    let fenced =
        ctx.coordinator.check_commit(&group, req.member_id.as_str(), req.generation_id_or_member_epoch).err();
    let mut r = OffsetCommitResponse::default();
    for t in req.topics {
        let mut tr = OffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        let topic = ctx.broker.topics.get(t.name.as_str()).ok();
        let mut valid = Vec::new();
        for p in &t.partitions {
            let known = topic
                .as_ref()
                .is_some_and(|tp| u32::try_from(p.partition_index).is_ok_and(|i| tp.partition(i).is_ok()));
            let error_code = match fenced {
                Some(c) => c,
                None if !known => code::UNKNOWN_TOPIC_OR_PARTITION,
                None if p.committed_offset < 0 => code::INVALID_REQUEST,
                None => {
                    valid.push((p.partition_index as u32, p.committed_offset));
                    code::NONE
                }
            };
            let mut pr = OffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = error_code;
            tr.partitions.push(pr);
        }
        if !valid.is_empty() {
            let b = Arc::clone(&ctx.broker);
            let (g, name) = (group.clone(), t.name.as_str().to_owned());
            let stored = tokio::task::spawn_blocking(move || b.groups.store_offsets(&g, &name, &valid)).await;
            if !matches!(stored, Ok(Ok(()))) {
                tracing::warn!(group, topic = %t.name.as_str(), "Kafka offset commit failed to store");
                for pr in &mut tr.partitions {
                    if pr.error_code == code::NONE {
                        pr.error_code = code::COORDINATOR_NOT_AVAILABLE;
                    }
                }
            }
        }
        r.topics.push(tr);
    }
    ResponseKind::OffsetCommit(r)
}

pub(super) async fn fetch(ctx: Ctx, req: OffsetFetchRequest, version: i16) -> ResponseKind {
    let group = req.group_id.as_str().to_owned();
    let require_stable = req.require_stable;
    // Null topics (v2+): every topic the group has offsets on.
    let wanted: Vec<(TopicName, Option<Vec<i32>>)> = match req.topics {
        Some(topics) => topics.into_iter().map(|t| (t.name, Some(t.partition_indexes))).collect(),
        None => {
            ctx.broker.topics.list().iter().map(|t| (TopicName(kstr(t.meta.name.as_str())), None)).collect()
        }
    };
    let b = Arc::clone(&ctx.broker);
    let g = group.clone();
    let looked_up = tokio::task::spawn_blocking(move || {
        let group = g;
        wanted
            .into_iter()
            .map(|(name, parts)| {
                let committed = b.groups.committed(&group, name.as_str());
                (name, parts, committed)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let mut r = OffsetFetchResponse::default();
    // The top-level error code exists from v2; v1 answers an empty list instead.
    let top_error = if version >= 2 { code::COORDINATOR_NOT_AVAILABLE } else { code::NONE };
    let Ok(looked_up) = looked_up else {
        r.error_code = top_error;
        return ResponseKind::OffsetFetch(r);
    };
    for (name, parts, committed) in looked_up {
        let committed = match committed {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "Kafka offset fetch failed");
                r.error_code = top_error;
                r.topics.clear();
                return ResponseKind::OffsetFetch(r);
            }
        };
        let mut tr = OffsetFetchResponseTopic::default();
        tr.name = name;
        let partitions: Vec<i32> = match parts {
            Some(p) => p,
            None if committed.is_empty() => continue,
            None => committed.iter().map(|&(p, _)| p as i32).collect(),
        };
        for p in partitions {
            let mut pr = OffsetFetchResponsePartition::default();
            pr.partition_index = p;
            pr.committed_leader_epoch = -1;
            pr.metadata = Some(kstr(""));
            pr.committed_offset =
                committed.iter().find(|&&(cp, _)| i64::from(cp) == i64::from(p)).map_or(-1, |&(_, o)| o);
            // A read-committed consumer (v7+) waits while a transaction holds this offset.
            if require_stable
                && u32::try_from(p)
                    .is_ok_and(|p| ctx.broker.transactions.has_pending_offset(&group, tr.name.as_str(), p))
            {
                pr.error_code = code::UNSTABLE_OFFSET_COMMIT;
                pr.committed_offset = -1;
            }
            tr.partitions.push(pr);
        }
        r.topics.push(tr);
    }
    ResponseKind::OffsetFetch(r)
}
