//! Idempotent producer state per partition: for each producer id, its epoch and
//! its last few batches' sequences and offsets, so that a retried batch is
//! recognised and answered with its original offsets instead of being appended
//! again. Rebuilt on start from the batch headers in the log (`recovery.rs`).

use std::collections::{HashMap, VecDeque};

use crate::error::BrokerError;

/// Batches remembered per producer (Kafka keeps five in flight).
const REMEMBERED_BATCHES: usize = 5;

/// One appended batch of an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SeqEntry {
    first_seq: i32,
    count: i32,
    base_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct Producer {
    epoch: i16,
    recent: VecDeque<SeqEntry>,
}

/// What to do with an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Append it.
    Append,
    /// A retry of a batch already appended at this base offset.
    Duplicate(i64),
}

/// Producer id → state.
#[derive(Debug, Clone, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

impl ProducerStates {
    /// Decides whether a batch from `(pid, epoch, first_seq, count)` is new, a
    /// duplicate, or refused. `pid < 0` is a non-idempotent producer: always new.
    pub fn check(&self, pid: i64, epoch: i16, first_seq: i32, count: i32) -> Result<SeqCheck, BrokerError> {
        if pid < 0 {
            return Ok(SeqCheck::Append);
        }
        let Some(p) = self.producers.get(&pid) else { return Ok(SeqCheck::Append) };
        if epoch < p.epoch {
            return Err(BrokerError::Fenced(format!(
                "producer {pid} epoch {epoch} is older than the current epoch {}",
                p.epoch
            )));
        }
        if epoch > p.epoch {
            return Ok(SeqCheck::Append);
        }
        if let Some(e) = p.recent.iter().find(|e| e.first_seq == first_seq && e.count == count) {
            return Ok(SeqCheck::Duplicate(e.base_offset));
        }
        let expected = p.recent.back().map_or(first_seq, |e| e.first_seq.wrapping_add(e.count));
        if first_seq != expected {
            return Err(BrokerError::OutOfOrderSequence(format!(
                "producer {pid} sent sequence {first_seq}, expected {expected}"
            )));
        }
        Ok(SeqCheck::Append)
    }

    /// Decides whether a transaction marker (a control batch, which has no sequence
    /// number) of `(pid, epoch)` may be appended: only a stale epoch is refused.
    pub fn check_marker(&self, pid: i64, epoch: i16) -> Result<SeqCheck, BrokerError> {
        match self.producers.get(&pid) {
            Some(p) if epoch < p.epoch => Err(BrokerError::Fenced(format!(
                "marker of producer {pid} epoch {epoch} is older than the current epoch {}",
                p.epoch
            ))),
            _ => Ok(SeqCheck::Append),
        }
    }

    /// Records an appended transaction marker: it raises the producer's epoch (a marker
    /// written after the coordinator bumped the epoch fences the older one here too) but
    /// takes no sequence number, so the producer's next batch continues its sequence.
    pub fn record_marker(&mut self, pid: i64, epoch: i16) {
        if pid < 0 {
            return;
        }
        let p = self.producers.entry(pid).or_default();
        if epoch > p.epoch {
            p.epoch = epoch;
            p.recent.clear();
        }
    }

    /// Records an appended batch.
    pub fn record(&mut self, pid: i64, epoch: i16, first_seq: i32, count: i32, base_offset: i64) {
        if pid < 0 {
            return;
        }
        let p = self.producers.entry(pid).or_default();
        if epoch != p.epoch {
            p.epoch = epoch;
            p.recent.clear();
        }
        if p.recent.len() == REMEMBERED_BATCHES {
            p.recent.pop_front();
        }
        p.recent.push_back(SeqEntry { first_seq, count, base_offset });
    }

    /// Forgets every batch recorded at `offset` or later: used when a write that
    /// recorded them was undone (e.g. the disk was full), so that the producer's
    /// retry is appended instead of answered as a duplicate of nothing.
    pub fn forget_from(&mut self, offset: i64) {
        for p in self.producers.values_mut() {
            p.recent.retain(|e| e.base_offset < offset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgotten_batches_are_appended_again_and_earlier_ones_stay_duplicates() {
        let mut s = ProducerStates::default();
        s.record(7, 0, 0, 10, 100);
        s.record(7, 0, 10, 5, 110);
        s.forget_from(110);
        assert_eq!(s.check(7, 0, 10, 5).unwrap(), SeqCheck::Append);
        assert_eq!(s.check(7, 0, 0, 10).unwrap(), SeqCheck::Duplicate(100));
    }

    #[test]
    fn retried_batch_is_a_duplicate_with_its_original_offset() {
        let mut s = ProducerStates::default();
        assert_eq!(s.check(7, 0, 0, 10).unwrap(), SeqCheck::Append);
        s.record(7, 0, 0, 10, 100);
        s.record(7, 0, 10, 5, 110);
        assert_eq!(s.check(7, 0, 0, 10).unwrap(), SeqCheck::Duplicate(100));
        assert_eq!(s.check(7, 0, 10, 5).unwrap(), SeqCheck::Duplicate(110));
        assert_eq!(s.check(7, 0, 15, 1).unwrap(), SeqCheck::Append);
    }

    #[test]
    fn refuses_gaps_and_stale_epochs() {
        let mut s = ProducerStates::default();
        s.record(7, 2, 0, 10, 0);
        assert!(matches!(s.check(7, 2, 11, 1), Err(BrokerError::OutOfOrderSequence(_))));
        assert!(matches!(s.check(7, 1, 10, 1), Err(BrokerError::Fenced(_))));
        assert_eq!(s.check(7, 3, 0, 1).unwrap(), SeqCheck::Append);
        assert_eq!(s.check(-1, 0, 0, 1).unwrap(), SeqCheck::Append);
    }
}
