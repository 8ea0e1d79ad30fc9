//! A partition's transaction index: which producers have a transaction open in this
//! partition (and from which offset), and which transactions were aborted (producer id,
//! first offset, marker offset). From it come the **last stable offset** (LSO) — the
//! first offset of the oldest open transaction, else the high watermark — and the
//! aborted-transaction list a read-committed fetch returns with its batches.
//!
//! The index is derived data, like the producer state: recovery rebuilds it from the
//! batch headers of every segment (reading the single record of each control batch for
//! its marker type), and the writer updates it when a group is *published*, under the
//! lock that moves the high watermark, so a failed and undone write never touches it and
//! readers always see the index and the watermark agree. The invariant is written down
//! in `docs/log-format.md` ("Transactions") and `docs/transactions.md`.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use runnel_proto::batch::{self, BatchView, ControlType};

use super::segment::{self, BatchHeader};
use super::{PartitionLog, ReadResult};
use crate::error::BrokerError;

/// An aborted transaction as a fetch reports it (Kafka's `AbortedTransaction`): the
/// producer's batches from `first_offset` up to the abort marker at `last_offset` are
/// not to be read committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
}

/// What a published transactional batch does to the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TxnEvent {
    /// Data of `producer_id`'s open transaction at `base_offset`.
    Data { producer_id: i64, base_offset: i64 },
    /// The marker ending `producer_id`'s open transaction, at `offset`.
    Marker { producer_id: i64, offset: i64, kind: ControlType },
}

impl TxnEvent {
    /// The event of a batch appended at `base_offset`, if it is transactional.
    pub(super) fn of(view: &BatchView<'_>, base_offset: i64) -> Option<TxnEvent> {
        if !view.is_transactional() || view.producer_id() < 0 {
            return None;
        }
        let producer_id = view.producer_id();
        if view.is_control() {
            let kind = view.control_type()?;
            return Some(TxnEvent::Marker { producer_id, offset: base_offset, kind });
        }
        Some(TxnEvent::Data { producer_id, base_offset })
    }
}

/// The event of the stored batch at `position` whose header is `h`: control batches are
/// read whole (one small record) for their marker type. For recovery.
pub(super) fn event_at(file: &std::fs::File, position: u64, h: &BatchHeader) -> Option<TxnEvent> {
    let (producer_id, ..) = h.producer;
    if !h.is_transactional() || producer_id < 0 {
        return None;
    }
    if !h.is_control() {
        return Some(TxnEvent::Data { producer_id, base_offset: h.base_offset });
    }
    let bytes = segment::read_exact(file, position, h.size as usize).ok()?;
    let view = BatchView::parse(&bytes).ok()?;
    TxnEvent::of(&view, h.base_offset)
}

/// Open and aborted transactions of one partition.
#[derive(Debug, Clone, Default)]
pub struct TxnIndex {
    /// Producer id → first offset of its open transaction here.
    open: HashMap<i64, i64>,
    /// Aborted transactions in marker order (so sorted by `last_offset`).
    aborted: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Applies one published transactional batch. A marker for a producer with nothing
    /// open here changes nothing, which makes writing a marker twice (a coordinator
    /// completing a transaction again after a crash) harmless.
    pub(super) fn apply(&mut self, event: TxnEvent) {
        match event {
            TxnEvent::Data { producer_id, base_offset } => {
                self.open.entry(producer_id).or_insert(base_offset);
            }
            TxnEvent::Marker { producer_id, offset, kind } => {
                if let Some(first_offset) = self.open.remove(&producer_id) {
                    if kind == ControlType::Abort {
                        self.aborted.push(AbortedTxn { producer_id, first_offset, last_offset: offset });
                    }
                }
            }
        }
    }

    /// The first offset of the oldest open transaction, if any.
    pub fn first_open(&self) -> Option<i64> {
        self.open.values().copied().min()
    }

    /// Whether `producer_id` has a transaction open here.
    pub fn is_open(&self, producer_id: i64) -> bool {
        self.open.contains_key(&producer_id)
    }

    /// Aborted transactions that overlap `[from, to)`.
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..].iter().filter(|a| a.first_offset < to).copied().collect()
    }

    /// Forgets aborted transactions wholly below `log_start` (their batches are gone).
    pub(super) fn forget_below(&mut self, log_start: i64) {
        let n = self.aborted.partition_point(|a| a.last_offset < log_start);
        self.aborted.drain(..n);
    }
}

/// A read-committed read: whole batches below the last stable offset, and the aborted
/// transactions among them.
#[derive(Debug, Clone)]
pub struct CommittedRead {
    /// The batches (control and aborted batches included, as Kafka serves them).
    pub read: ReadResult,
    /// The partition's last stable offset when read.
    pub last_stable_offset: i64,
    /// Aborted transactions overlapping the batches read.
    pub aborted: Vec<AbortedTxn>,
}

impl PartitionLog {
    /// The last stable offset: the first offset of the oldest transaction still open in
    /// this partition, else the high watermark. Read-committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        let st = self.state.lock();
        st.txns.first_open().map_or(st.high_watermark, |first| first.min(st.high_watermark))
    }

    /// Whether `producer_id` has a published transactional batch not yet ended by a
    /// marker here (the coordinator writes markers where this is true after a restart).
    pub fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.state.lock().txns.is_open(producer_id)
    }

    /// Like [`read`](Self::read), but stops at the last stable offset and returns the
    /// aborted transactions among the batches read (Kafka's `read_committed`). Blocking.
    pub fn read_committed(&self, offset: i64, max_bytes: usize) -> Result<CommittedRead, BrokerError> {
        let lso = self.last_stable_offset();
        let mut read = if offset >= lso {
            // Between the LSO and the high watermark there is nothing committed to read yet.
            let s = self.stats();
            if offset < s.log_start_offset || offset > s.high_watermark {
                return Err(BrokerError::OffsetOutOfRange {
                    offset,
                    log_start: s.log_start_offset,
                    high_watermark: s.high_watermark,
                });
            }
            ReadResult {
                batches: Bytes::new(),
                next_offset: offset,
                high_watermark: s.high_watermark,
                log_start_offset: s.log_start_offset,
            }
        } else {
            self.read(offset, max_bytes)?
        };
        if read.next_offset > lso {
            // Keep the whole batches below the LSO (it is always a batch boundary).
            let mut used = 0;
            let mut next = offset;
            for b in batch::batches(&read.batches) {
                let Ok(view) = b else { break };
                if view.next_offset() > lso {
                    break;
                }
                used += view.size();
                next = view.next_offset();
            }
            read.batches = read.batches.slice(..used);
            read.next_offset = next;
        }
        let aborted = if read.batches.is_empty() {
            Vec::new()
        } else {
            self.state.lock().txns.aborted_between(offset, read.next_offset)
        };
        Ok(CommittedRead { read, last_stable_offset: lso, aborted })
    }
}

/// Drops what a committed reader must not see from `batches`: control batches (markers
/// are not records) and the batches of aborted transactions. Zero-copy when nothing is
/// dropped; used by the gRPC fetch path, whose clients get records, not Kafka's protocol.
pub fn committed_only(batches: &Bytes, aborted: &[AbortedTxn]) -> Bytes {
    let keep = |view: &BatchView<'_>| {
        if view.is_control() {
            return false;
        }
        if !view.is_transactional() {
            return true;
        }
        let (pid, base) = (view.producer_id(), view.base_offset());
        !aborted.iter().any(|a| a.producer_id == pid && a.first_offset <= base && base <= a.last_offset)
    };
    let mut pos = 0;
    let mut kept: Option<BytesMut> = None;
    for b in batch::batches(batches) {
        let Ok(view) = b else { break };
        let size = view.size();
        match (&mut kept, keep(&view)) {
            (None, true) => {}
            (None, false) => kept = Some(BytesMut::from(&batches[..pos])),
            (Some(out), true) => out.extend_from_slice(&batches[pos..pos + size]),
            (Some(_), false) => {}
        }
        pos += size;
    }
    match kept {
        None => batches.clone(),
        Some(out) => out.freeze(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_proto::BatchBuilder;

    #[test]
    fn lso_is_the_oldest_open_transaction_and_aborts_are_listed() {
        let mut t = TxnIndex::default();
        t.apply(TxnEvent::Data { producer_id: 1, base_offset: 10 });
        t.apply(TxnEvent::Data { producer_id: 2, base_offset: 12 });
        t.apply(TxnEvent::Data { producer_id: 1, base_offset: 14 });
        assert_eq!(t.first_open(), Some(10));
        t.apply(TxnEvent::Marker { producer_id: 1, offset: 20, kind: ControlType::Abort });
        assert_eq!(t.first_open(), Some(12));
        t.apply(TxnEvent::Marker { producer_id: 2, offset: 21, kind: ControlType::Commit });
        assert_eq!(t.first_open(), None);
        // A second marker (a coordinator completing again after a crash) changes nothing.
        t.apply(TxnEvent::Marker { producer_id: 1, offset: 22, kind: ControlType::Abort });
        let a = AbortedTxn { producer_id: 1, first_offset: 10, last_offset: 20 };
        assert_eq!(t.aborted_between(0, 100), vec![a]);
        assert_eq!(t.aborted_between(21, 100), vec![]);
        assert_eq!(t.aborted_between(0, 10), vec![]);
        t.forget_below(21);
        assert_eq!(t.aborted_between(0, 100), vec![]);
    }

    fn data(pid: i64, base: i64, transactional: bool) -> Vec<u8> {
        let mut b = BatchBuilder::new();
        b.push(None, Some(b"v"), 1, &[]);
        let bytes = if transactional { b.finish_transactional(pid, 0, 0) } else { b.finish(pid, 0, 0) };
        let mut v = bytes.to_vec();
        batch::set_base_offset(&mut v, base).unwrap();
        v
    }

    #[test]
    fn committed_only_drops_markers_and_aborted_batches() {
        let mut all = Vec::new();
        all.extend(data(1, 0, true)); // aborted below
        all.extend(data(-1, 1, false));
        all.extend(data(2, 2, true)); // committed
        let mut marker = batch::control_batch(1, 0, ControlType::Abort, 0, 1).to_vec();
        batch::set_base_offset(&mut marker, 3).unwrap();
        all.extend(marker);
        let all = Bytes::from(all);
        let aborted = [AbortedTxn { producer_id: 1, first_offset: 0, last_offset: 3 }];
        let kept = committed_only(&all, &aborted);
        let offsets: Vec<i64> = batch::batches(&kept).map(|b| b.unwrap().base_offset()).collect();
        assert_eq!(offsets, vec![1, 2]);
        // Nothing to drop: the same bytes, not a copy.
        let plain = Bytes::from(data(-1, 0, false));
        assert_eq!(committed_only(&plain, &[]).as_ptr(), plain.as_ptr());
    }
}
