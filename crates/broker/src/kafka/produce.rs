//! Kafka Produce: each partition's records are one or more RecordBatch v2,
//! the very format of the log, so they go through `Appender::submit` (the produce path)
//! as they are: the size limit, CRC, the topic's schema enforcement, the
//! producer id/sequence check and the group-committed fsync of the gRPC path.
//!
//! Batches are queued to their partitions before the next request is read
//! (the order the client sent them is the order in the log); the response
//! waits until every one is durable (acks=1 and acks=-1 alike, there being one
//! replica). acks=0 gets no response, but its appends still complete.
//! A refused batch is answered with the Kafka error that says why; schema
//! enforcement's refusal is INVALID_RECORD with a record-level error naming
//! the record index and the reason.
//!
//! Quotas: the batches are charged to their tenants' produce rates without being held
//! back; the answer carries the longest throttle as `throttle_time_ms`, and the connection
//! then reads nothing for that long (KIP-219, see `access.rs`). acks=0 has no answer to
//! carry it, so the connection is held here instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind, TopicName};

use super::access::throttle_ms;
use super::context::Ctx;
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::kafka_codes::{error_code, kstr};
use crate::log::{Appended, PendingAppend};

/// Size of a RecordBatch's base offset and length fields, before `length` bytes.
const BATCH_PREFIX: usize = 12;

/// One partition's submitted batches (or the reason they were not).
struct Submitted {
    index: i32,
    batches: Vec<(usize, Result<PendingAppend, BrokerError>)>,
}

/// Queues every batch of the request; returns the response future, or `None`
/// for acks=0 (whose appends are then awaited in the background).
pub(super) async fn submit(
    ctx: &Ctx,
    req: ProduceRequest,
) -> Option<Pin<Box<dyn Future<Output = ResponseKind> + Send>>> {
    let mut topics: Vec<(TopicName, Vec<Submitted>)> = Vec::with_capacity(req.topic_data.len());
    let mut throttle = Duration::ZERO;
    for t in req.topic_data {
        let mut parts = Vec::with_capacity(t.partition_data.len());
        for p in t.partition_data {
            let mut batches = Vec::new();
            match (u32::try_from(p.index), p.records) {
                (Err(_), _) => batches.push((
                    0,
                    Err(BrokerError::UnknownPartition {
                        topic: t.name.to_string(),
                        partition: u32::MAX,
                        count: 0,
                    }),
                )),
                (Ok(_), None) => batches
                    .push((0, Err(BrokerError::InvalidArgument("the partition's records are null".into())))),
                (Ok(partition), Some(records)) => match split_batches(records) {
                    Ok(list) => {
                        for batch in list {
                            let len = batch.len();
                            let submitted = match ctx
                                .broker
                                .append
                                .submit_unthrottled(t.name.as_str(), partition, batch)
                                .await
                            {
                                Ok((pending, delay)) => {
                                    throttle = throttle.max(delay);
                                    Ok(pending)
                                }
                                Err(e) => Err(e),
                            };
                            let failed = submitted.is_err();
                            batches.push((len, submitted));
                            if failed {
                                break; // later batches of a refused one would leave a gap
                            }
                        }
                    }
                    Err(e) => batches.push((0, Err(e))),
                },
            }
            parts.push(Submitted { index: p.index, batches });
        }
        topics.push((t.name, parts));
    }
    let broker = Arc::clone(&ctx.broker);
    let respond = async move {
        let mut r = ProduceResponse::default();
        r.throttle_time_ms = throttle_ms(throttle);
        for (name, parts) in topics {
            let mut tr = TopicProduceResponse::default();
            for p in parts {
                tr.partition_responses.push(wait_partition(&broker, name.as_str(), p).await);
            }
            tr.name = name;
            r.responses.push(tr);
        }
        ResponseKind::Produce(r)
    };
    if req.acks == 0 {
        tokio::spawn(respond);
        crate::quotas::throttle(throttle).await;
        return None;
    }
    Some(Box::pin(respond))
}

/// Splits a produce's records into its batches by their length fields.
fn split_batches(mut records: Bytes) -> Result<Vec<Bytes>, BrokerError> {
    let mut out = Vec::with_capacity(1);
    while !records.is_empty() {
        let truncated = |needed| {
            BrokerError::Batch(runnel_proto::BatchError::Truncated { needed, available: records.len() })
        };
        let Some(len) = records.get(8..BATCH_PREFIX) else {
            return Err(truncated(BATCH_PREFIX));
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let Some(size) = usize::try_from(len).ok().and_then(|l| l.checked_add(BATCH_PREFIX)) else {
            return Err(BrokerError::Batch(runnel_proto::BatchError::BadLength(len)));
        };
        if size > records.len() {
            return Err(truncated(size));
        }
        out.push(records.split_to(size));
    }
    if out.is_empty() {
        return Err(BrokerError::InvalidArgument("the partition's records are empty".into()));
    }
    Ok(out)
}

async fn wait_partition(broker: &Broker, topic: &str, p: Submitted) -> PartitionProduceResponse {
    let mut r = PartitionProduceResponse::default();
    r.index = p.index;
    let index = p.index;
    r.base_offset = -1;
    r.log_append_time_ms = -1;
    for (len, submitted) in p.batches {
        let appended: Result<Appended, BrokerError> = match submitted {
            Ok(pending) => pending.wait().await,
            Err(e) => Err(e),
        };
        match appended {
            Ok(a) => {
                if a.duplicate {
                    broker.metrics.duplicates.fetch_add(1, Relaxed);
                } else {
                    broker.metrics.records_produced.fetch_add(u64::from(a.record_count), Relaxed);
                    broker.metrics.bytes_produced.fetch_add(len as u64, Relaxed);
                }
                if r.base_offset < 0 {
                    r.base_offset = a.base_offset;
                }
            }
            Err(e) => {
                if !matches!(e, BrokerError::InvalidRecord { .. }) {
                    tracing::debug!(error = %e, "Kafka produce refused");
                }
                set_error(&mut r, &e);
                break;
            }
        }
    }
    if let Some(log) = broker
        .topics
        .get(topic)
        .ok()
        .and_then(|t| u32::try_from(index).ok().and_then(|i| t.partition(i).ok().cloned()))
    {
        r.log_start_offset = log.stats().log_start_offset;
    }
    r
}

fn set_error(r: &mut PartitionProduceResponse, e: &BrokerError) {
    r.error_code = error_code(e);
    r.error_message = Some(kstr(e.to_string()));
    let index = match e {
        BrokerError::InvalidRecord { index, .. } => Some(*index),
        BrokerError::Batch(runnel_proto::BatchError::MalformedRecord { index, .. }) => Some(*index),
        _ => None,
    };
    if let Some(index) = index {
        let mut re = BatchIndexAndErrorMessage::default();
        re.batch_index = i32::try_from(index).unwrap_or(i32::MAX);
        re.batch_index_error_message = Some(kstr(e.to_string()));
        r.record_errors.push(re);
    }
}
