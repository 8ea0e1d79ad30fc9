//! Kafka's transaction APIs over the broker's transaction coordinator
//! (`crate::transactions`): InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit and EndTxn. Each handler translates the request, calls
//! the coordinator, and answers with the error code a Kafka broker gives for the same
//! refusal (logging why); the coordinator owns every state change.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    EndTxnRequest, EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse, ProducerId, ResponseKind,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::context::Ctx;
use crate::error::BrokerError;
use crate::kafka_codes::{code, error_code};
use crate::transactions::TxnError;

/// The Kafka code for a coordinator error. `fenced_since`: the first version of the API
/// that knows PRODUCER_FENCED; older versions get INVALID_PRODUCER_EPOCH, as Kafka
/// answers them.
fn txn_code(e: &TxnError, version: i16, fenced_since: i16) -> i16 {
    match e {
        TxnError::Fenced(_) if version >= fenced_since => code::PRODUCER_FENCED,
        TxnError::Fenced(_) => code::INVALID_PRODUCER_EPOCH,
        TxnError::UnknownProducer(_) => code::INVALID_PRODUCER_ID_MAPPING,
        TxnError::InvalidState(_) => code::INVALID_TXN_STATE,
        TxnError::InvalidTimeout(_) => code::INVALID_TRANSACTION_TIMEOUT,
        TxnError::UnknownPartitions(_) => code::UNKNOWN_TOPIC_OR_PARTITION,
        TxnError::Broker(
            BrokerError::Storage(_)
            | BrokerError::Io { .. }
            | BrokerError::Meta(_)
            | BrokerError::ShuttingDown,
        ) => code::COORDINATOR_NOT_AVAILABLE,
        TxnError::Broker(b) => error_code(b),
    }
}

fn log_refusal(api: &str, transactional_id: &str, e: &TxnError) {
    match e {
        TxnError::Broker(_) => {
            tracing::warn!(api, transactional_id, error = %e, "Kafka transaction request failed")
        }
        _ => tracing::info!(api, transactional_id, error = %e, "Kafka transaction request refused"),
    }
}

/// InitProducerId with a transactional id (the idempotent form is `metadata.rs`'s).
pub(super) async fn init_producer_id(ctx: Ctx, req: InitProducerIdRequest, version: i16) -> ResponseKind {
    let mut r = InitProducerIdResponse::default();
    let id = req.transactional_id.as_ref().map_or("", |t| t.as_str()).to_owned();
    let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
    match ctx.broker.transactions.init_producer(&id, req.transaction_timeout_ms, expected).await {
        Ok((pid, epoch)) => {
            r.producer_id = ProducerId(pid);
            r.producer_epoch = epoch;
        }
        Err(e) => {
            log_refusal("InitProducerId", &id, &e);
            r.error_code = txn_code(&e, version, 4);
            r.producer_id = ProducerId(-1);
            r.producer_epoch = -1;
        }
    }
    ResponseKind::InitProducerId(r)
}

pub(super) async fn add_partitions(ctx: Ctx, req: AddPartitionsToTxnRequest, version: i16) -> ResponseKind {
    let id = req.v3_and_below_transactional_id.as_str().to_owned();
    let mut wanted = Vec::new();
    for t in &req.v3_and_below_topics {
        for &p in &t.partitions {
            // A negative partition cannot exist: ask for one that does not.
            wanted.push((t.name.as_str().to_owned(), u32::try_from(p).unwrap_or(u32::MAX)));
        }
    }
    let result = ctx
        .broker
        .transactions
        .add_partitions(&id, req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch, &wanted)
        .await;
    if let Err(e) = &result {
        log_refusal("AddPartitionsToTxn", &id, e);
    }
    let mut r = AddPartitionsToTxnResponse::default();
    for t in req.v3_and_below_topics {
        let mut tr = AddPartitionsToTxnTopicResult::default();
        for p in t.partitions {
            let mut pr = AddPartitionsToTxnPartitionResult::default();
            pr.partition_index = p;
            pr.partition_error_code = match &result {
                Ok(()) => code::NONE,
                // Kafka: the unknown ones say so, the rest were not attempted.
                Err(TxnError::UnknownPartitions(unknown)) => {
                    let p = u32::try_from(p).unwrap_or(u32::MAX);
                    if unknown.iter().any(|(n, up)| n == t.name.as_str() && *up == p) {
                        code::UNKNOWN_TOPIC_OR_PARTITION
                    } else {
                        code::OPERATION_NOT_ATTEMPTED
                    }
                }
                Err(e) => txn_code(e, version, 2),
            };
            tr.results_by_partition.push(pr);
        }
        tr.name = t.name;
        r.results_by_topic_v3_and_below.push(tr);
    }
    ResponseKind::AddPartitionsToTxn(r)
}

pub(super) async fn add_offsets(ctx: Ctx, req: AddOffsetsToTxnRequest, version: i16) -> ResponseKind {
    let id = req.transactional_id.as_str().to_owned();
    let mut r = AddOffsetsToTxnResponse::default();
    if let Err(e) = ctx
        .broker
        .transactions
        .add_offsets(&id, req.producer_id.0, req.producer_epoch, req.group_id.as_str())
        .await
    {
        log_refusal("AddOffsetsToTxn", &id, &e);
        r.error_code = txn_code(&e, version, 2);
    }
    ResponseKind::AddOffsetsToTxn(r)
}

pub(super) async fn txn_offset_commit(ctx: Ctx, req: TxnOffsetCommitRequest) -> ResponseKind {
    let id = req.transactional_id.as_str().to_owned();
    let group = req.group_id.as_str().to_owned();
    // A consumer group member's commit (v3+, KIP-447) is fenced by the group's generation,
    // as a plain OffsetCommit is; without a member it is the transaction's alone.
    let fenced = if req.member_id.is_empty() {
        None
    } else {
        ctx.coordinator.check_commit(&group, req.member_id.as_str(), req.generation_id).err()
    };
    let mut offsets = Vec::new();
    let mut codes = Vec::new();
    for t in &req.topics {
        let topic = ctx.broker.topics.get(t.name.as_str()).ok();
        for p in &t.partitions {
            let known = topic
                .as_ref()
                .is_some_and(|tp| u32::try_from(p.partition_index).is_ok_and(|i| tp.partition(i).is_ok()));
            let c = match fenced {
                Some(c) => c,
                None if !known => code::UNKNOWN_TOPIC_OR_PARTITION,
                None if p.committed_offset < 0 => code::INVALID_REQUEST,
                None => {
                    offsets.push((t.name.as_str().to_owned(), p.partition_index as u32, p.committed_offset));
                    code::NONE
                }
            };
            codes.push(c);
        }
    }
    let stored = if offsets.is_empty() {
        Ok(())
    } else {
        ctx.broker
            .transactions
            .commit_offsets(&id, req.producer_id.0, req.producer_epoch, &group, &offsets)
            .await
    };
    let failed = match &stored {
        Ok(()) => None,
        Err(e) => {
            log_refusal("TxnOffsetCommit", &id, e);
            // Kafka's group coordinator answers a stale producer with INVALID_PRODUCER_EPOCH.
            Some(txn_code(e, 0, i16::MAX))
        }
    };
    if let Some(c) = fenced {
        tracing::info!(transactional_id = %id, group, code = c, "Kafka TxnOffsetCommit fenced by the group");
    }
    let mut r = TxnOffsetCommitResponse::default();
    let mut codes = codes.into_iter();
    for t in req.topics {
        let mut tr = TxnOffsetCommitResponseTopic::default();
        for p in t.partitions {
            let mut pr = TxnOffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            let c = codes.next().unwrap_or(code::UNKNOWN_SERVER_ERROR);
            pr.error_code = match failed {
                Some(f) if c == code::NONE => f,
                _ => c,
            };
            tr.partitions.push(pr);
        }
        tr.name = t.name;
        r.topics.push(tr);
    }
    ResponseKind::TxnOffsetCommit(r)
}

pub(super) async fn end_txn(ctx: Ctx, req: EndTxnRequest, version: i16) -> ResponseKind {
    let id = req.transactional_id.as_str().to_owned();
    let mut r = EndTxnResponse::default();
    r.producer_id = ProducerId(-1);
    r.producer_epoch = -1;
    if let Err(e) =
        ctx.broker.transactions.end(&id, req.producer_id.0, req.producer_epoch, req.committed).await
    {
        log_refusal("EndTxn", &id, &e);
        r.error_code = txn_code(&e, version, 2);
    }
    ResponseKind::EndTxn(r)
}
