//! Kafka Fetch and ListOffsets. A fetch returns the stored batches exactly as
//! they are on disk (they are RecordBatch v2 already: no re-encoding), whole
//! batches only, at least one per partition that has data, within the
//! request's and each partition's byte budget. With fewer than `min_bytes`
//! available it long-polls on the partitions' high-watermark watches until
//! `max_wait_ms`. With `isolation_level` read_committed (1) each partition is read
//! only up to its last stable offset and answered with the aborted transactions
//! among the batches (`log/txn.rs`); ListOffsets' latest is then the LSO too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, ProducerId, ResponseKind,
};
use tokio::sync::watch;

use super::context::Ctx;
use crate::error::BrokerError;
use crate::kafka_codes::{code, error_code};
use crate::log::PartitionLog;

/// The longest long poll accepted, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// One partition of a fetch, resolved to its log (or the error to answer).
struct Wanted {
    topic: usize,
    partition: i32,
    offset: i64,
    max_bytes: usize,
    log: Result<Arc<PartitionLog>, i16>,
}

pub(super) async fn fetch(ctx: Ctx, req: FetchRequest) -> ResponseKind {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let max_bytes =
        usize::try_from(req.max_bytes).unwrap_or(usize::MAX).min(ctx.broker.limits.max_fetch_bytes);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let committed = req.isolation_level == READ_COMMITTED;
    let mut names = Vec::with_capacity(req.topics.len());
    let mut wanted = Vec::new();
    for (ti, t) in req.topics.into_iter().enumerate() {
        let topic = ctx.broker.topics.get(t.topic.as_str());
        for p in t.partitions {
            let log = match (&topic, u32::try_from(p.partition)) {
                (Ok(topic), Ok(i)) => {
                    topic.partition(i).cloned().map_err(|_| code::UNKNOWN_TOPIC_OR_PARTITION)
                }
                _ => Err(code::UNKNOWN_TOPIC_OR_PARTITION),
            };
            wanted.push(Wanted {
                topic: ti,
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                log,
            });
        }
        names.push(t.topic);
    }
    let wanted = Arc::new(wanted);
    let mut watches: Vec<watch::Receiver<i64>> =
        wanted.iter().filter_map(|w| w.log.as_ref().ok().map(|l| l.watch_high_watermark())).collect();
    loop {
        let w = Arc::clone(&wanted);
        let read = tokio::task::spawn_blocking(move || read_all(&w, max_bytes, committed)).await;
        let (parts, total, errors) = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Kafka fetch read task failed");
                let mut r = FetchResponse::default();
                r.error_code = code::UNKNOWN_SERVER_ERROR;
                return ResponseKind::Fetch(r);
            }
        };
        let expired = tokio::time::Instant::now() >= deadline;
        if total >= min_bytes.max(1)
            || min_bytes == 0
            || errors
            || expired
            || ctx.broker.shutdown.is_cancelled()
        {
            if total > 0 {
                ctx.broker
                    .metrics
                    .bytes_fetched
                    .fetch_add(total as u64, std::sync::atomic::Ordering::Relaxed);
            }
            let mut r = FetchResponse::default();
            r.responses = names
                .iter()
                .map(|n| {
                    let mut t = FetchableTopicResponse::default();
                    t.topic = n.clone();
                    t
                })
                .collect();
            for (ti, pd) in parts {
                r.responses[ti].partitions.push(pd);
            }
            return ResponseKind::Fetch(r);
        }
        // Wait for any partition's high watermark to move, the deadline, or shutdown.
        let has_watches = !watches.is_empty();
        let mut closed = false;
        {
            let changed = futures::future::select_all(watches.iter_mut().map(|rx| Box::pin(rx.changed())));
            tokio::select! {
                _ = ctx.broker.shutdown.cancelled() => {}
                _ = tokio::time::sleep_until(deadline) => {}
                (res, _, _) = changed, if has_watches => closed = res.is_err(),
            }
        }
        if closed {
            // A partition closed (topic deleted): answer now, the next read says so.
            watches.clear();
        }
    }
}

/// Reads every wanted partition (blocking). Returns the partition answers,
/// the record bytes in them and whether any partition had an error.
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    committed: bool,
) -> (Vec<(usize, PartitionData)>, usize, bool) {
    let mut out = Vec::with_capacity(wanted.len());
    let mut total = 0usize;
    let mut errors = false;
    for w in wanted {
        let mut pd = PartitionData::default();
        pd.partition_index = w.partition;
        pd.records = Some(Bytes::new());
        match &w.log {
            Err(c) => {
                pd.error_code = *c;
                pd.high_watermark = -1;
                pd.last_stable_offset = -1;
                pd.log_start_offset = -1;
                errors = true;
            }
            Ok(log) => {
                // Past the overall budget (once something was read), only the watermarks are sent.
                let budget =
                    if total == 0 { w.max_bytes } else { w.max_bytes.min(max_bytes.saturating_sub(total)) };
                let result = if budget == 0 && total > 0 {
                    let s = log.stats();
                    if w.offset < s.log_start_offset || w.offset > s.high_watermark {
                        Err(BrokerError::OffsetOutOfRange {
                            offset: w.offset,
                            log_start: s.log_start_offset,
                            high_watermark: s.high_watermark,
                        })
                    } else {
                        Ok((Bytes::new(), s.high_watermark, s.log_start_offset))
                    }
                } else if committed {
                    read_committed(log, w.offset, budget.max(1), &mut pd)
                } else {
                    log.read(w.offset, budget.max(1))
                        .map(|r| (r.batches, r.high_watermark, r.log_start_offset))
                };
                match result {
                    Ok((batches, hw, start)) => {
                        total += batches.len();
                        pd.records = Some(batches);
                        pd.high_watermark = hw;
                        pd.last_stable_offset = if committed { log.last_stable_offset().min(hw) } else { hw };
                        pd.log_start_offset = start;
                        if !committed {
                            pd.aborted_transactions = None;
                        }
                    }
                    Err(e) => {
                        let s = log.stats();
                        pd.error_code = error_code(&e);
                        pd.high_watermark = s.high_watermark;
                        pd.last_stable_offset = s.high_watermark;
                        pd.log_start_offset = s.log_start_offset;
                        errors = true;
                    }
                }
            }
        }
        out.push((w.topic, pd));
    }
    (out, total, errors)
}

/// `isolation_level` of a read-committed fetch or offset lookup.
const READ_COMMITTED: i8 = 1;

/// A read-committed read of one partition: the batches below its last stable offset, with
/// the aborted transactions among them put in `pd`.
fn read_committed(
    log: &PartitionLog,
    offset: i64,
    budget: usize,
    pd: &mut PartitionData,
) -> Result<(Bytes, i64, i64), BrokerError> {
    let c = log.read_committed(offset, budget)?;
    pd.aborted_transactions = Some(
        c.aborted
            .iter()
            .map(|a| {
                let mut t = AbortedTransaction::default();
                t.producer_id = ProducerId(a.producer_id);
                t.first_offset = a.first_offset;
                t
            })
            .collect(),
    );
    Ok((c.read.batches, c.read.high_watermark, c.read.log_start_offset))
}

/// Offsets by timestamp: -2 the earliest, -1 the latest (the high watermark, or the last
/// stable offset for read_committed), otherwise the first offset whose timestamp is at or
/// after it.
pub(super) async fn list_offsets(ctx: Ctx, req: ListOffsetsRequest) -> ResponseKind {
    let mut r = ListOffsetsResponse::default();
    let t_committed = req.isolation_level == READ_COMMITTED;
    for t in req.topics {
        let topic = ctx.broker.topics.get(t.name.as_str());
        let mut tr = ListOffsetsTopicResponse::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default();
            pr.partition_index = p.partition_index;
            pr.timestamp = -1;
            pr.offset = -1;
            let log = match (&topic, u32::try_from(p.partition_index)) {
                (Ok(topic), Ok(i)) => topic.partition(i).ok().cloned(),
                _ => None,
            };
            let Some(log) = log else {
                pr.error_code = code::UNKNOWN_TOPIC_OR_PARTITION;
                tr.partitions.push(pr);
                continue;
            };
            let stats = log.stats();
            match p.timestamp {
                -2 => pr.offset = stats.log_start_offset,
                -1 if t_committed => pr.offset = log.last_stable_offset(),
                -1 => pr.offset = stats.high_watermark,
                ts if ts >= 0 => {
                    match tokio::task::spawn_blocking(move || log.offset_for_timestamp(ts)).await {
                        Ok(Ok(offset)) if offset < stats.high_watermark => {
                            pr.offset = offset;
                            pr.timestamp = ts;
                        }
                        // None at or after it: Kafka answers -1 (the consumer then uses the end).
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => pr.error_code = error_code(&e),
                        Err(_) => pr.error_code = code::UNKNOWN_SERVER_ERROR,
                    }
                }
                _ => pr.error_code = code::INVALID_REQUEST,
            }
            tr.partitions.push(pr);
        }
        r.topics.push(tr);
    }
    ResponseKind::ListOffsets(r)
}
