//! Whole batches: [`RawBatch`], records a producer built into one RecordBatch
//! itself (`Producer::send_batch`), the [`BatchSendFuture`] of its delivery and
//! the [`BatchReceipt`] it resolves to.
//!
//! A batch is sent as the caller built it: to one partition, appended all or
//! nothing, answered once. Against one future, one channel and one permit per
//! record on the record-at-a-time path, this leaves the per-record cost at the
//! encoding itself (see bench/RESULTS.md).

use bytes::Bytes;
// futures' oneshot, not tokio's: see the note in `raw`.
use futures::channel::oneshot;
use runnel_proto::BatchBuilder;

use super::raw::DeliveryFuture;
use crate::error::ClientError;

/// Where a batch sent with [`Producer::send_batch`](crate::Producer::send_batch) was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchReceipt {
    /// The partition every record of the batch went to.
    pub partition: u32,
    /// The first record's offset; the others follow it one by one.
    pub base_offset: i64,
    /// How many records the batch held.
    pub count: u32,
    /// The records' timestamp (ms since the epoch), or the log's append time.
    pub timestamp_ms: i64,
}

impl BatchReceipt {
    /// The offsets of the batch's records, in the order they were given.
    pub fn offsets(&self) -> std::ops::Range<i64> {
        self.base_offset..self.base_offset + i64::from(self.count)
    }
}

/// Records built into one batch by a producer, before the transport adds its
/// producer id and sequence.
#[derive(Debug)]
pub(crate) struct RawBatch {
    /// The records, at least one, without headers.
    pub(crate) records: BatchBuilder,
    /// Each record's key when the records have keys (they choose the
    /// partition, and must all choose the same); empty when they have none.
    pub(crate) keys: Vec<Bytes>,
    /// The partition; `None` = the partitioner's choice.
    pub(crate) partition: Option<u32>,
    /// The records' timestamp.
    pub(crate) timestamp_ms: i64,
}

impl RawBatch {
    /// The number of records.
    pub(crate) fn count(&self) -> usize {
        self.records.len()
    }
}

/// The answer channel of a whole batch in a producer's engine.
pub(crate) type BatchDelivery = oneshot::Receiver<Result<BatchReceipt, ClientError>>;

/// The future of a whole batch's delivery: where it was stored, or why none of it was.
pub type BatchSendFuture = DeliveryFuture<BatchReceipt>;

/// The partition a batch goes to among `n`: the one it names, else the one its
/// keys choose (all of them the same), else the partitioner's for a record
/// without a key.
pub(crate) fn choose_partition(
    partition: Option<u32>,
    keys: &[Bytes],
    topic: &str,
    n: u32,
    chooser: &mut crate::partitioner::PartitionChooser,
) -> Result<u32, ClientError> {
    if let Some(p) = partition {
        if p >= n {
            return Err(ClientError::UnknownPartition { topic: topic.to_owned(), partition: p });
        }
        return Ok(p);
    }
    let Some((first, rest)) = keys.split_first() else {
        return Ok(chooser.choose(None, n));
    };
    let p = chooser.choose(Some(first), n);
    for key in rest {
        let q = chooser.choose(Some(key), n);
        if q != p {
            return Err(ClientError::InvalidArgument(format!(
                "the records of one batch go to one partition, but their keys choose partitions {p} and {q}: \
                 send records of several partitions one by one, or one batch per partition"
            )));
        }
    }
    Ok(p)
}

/// Sends a batch's records one by one to partition `p` through `send`, for a
/// transport that has no whole-batch append (Kafka through librdkafka, which
/// batches on its own): all are handed over now, in order, and the future
/// resolves when the last is stored, or with the first failure.
#[cfg(feature = "kafka")]
pub(crate) fn send_one_by_one(
    batch: RawBatch,
    p: u32,
    send: impl Fn(crate::transport::RawRecord) -> crate::transport::SendFuture,
) -> BatchSendFuture {
    let count = batch.count() as u32;
    let timestamp_ms = batch.timestamp_ms;
    let bytes = batch.records.finish(-1, -1, -1);
    let view = match runnel_proto::BatchView::parse(&bytes) {
        Ok(view) => view,
        Err(e) => return BatchSendFuture::failed(ClientError::InvalidArgument(format!("batch: {e}"))),
    };
    // Every record is read out before any is sent: all of the batch goes, or none.
    let mut records = Vec::with_capacity(count as usize);
    for record in view.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => return BatchSendFuture::failed(ClientError::InvalidArgument(format!("batch: {e}"))),
        };
        records.push(crate::transport::RawRecord {
            key: record.key.map(|k| bytes.slice_ref(k)),
            value: record.value.map_or_else(Bytes::new, |v| bytes.slice_ref(v)),
            headers: Vec::new(),
            timestamp_ms: Some(timestamp_ms),
            partition: Some(p),
        });
    }
    let sends: Vec<_> = records.into_iter().map(send).collect();
    BatchSendFuture::from_future(async move {
        let stored = futures::future::try_join_all(sends).await?;
        let first = stored.first().map_or(-1, |m| m.offset);
        let timestamp_ms = stored.first().map_or(timestamp_ms, |m| m.timestamp_ms);
        Ok(BatchReceipt { partition: p, base_offset: first, count, timestamp_ms })
    })
}
