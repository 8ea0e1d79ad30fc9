//! A partition's acknowledgement state: the mark-delete offset (every record
//! below it is acknowledged) and the acknowledged ranges above it, kept as
//! disjoint half-open intervals so that a million acks in order cost one entry,
//! and acks out of order cost one entry per gap, never one per record.
//!
//! [`AckState::encode`] gives the compact form stored in `meta.redb`:
//! the mark-delete offset, then each range as (gap since the previous end,
//! length) in LEB128 varints.

use std::collections::BTreeMap;

/// Acknowledged offsets of one partition for one subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckState {
    /// Every offset below this is acknowledged.
    mark_delete: i64,
    /// Acknowledged `[start, end)` ranges, all above `mark_delete + 1` (a range
    /// touching the mark-delete offset is absorbed into it), disjoint and not adjacent.
    ranges: BTreeMap<i64, i64>,
}

/// The stored form could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt acknowledgement state: {0}")]
pub struct DecodeAckError(&'static str);

impl AckState {
    /// A state where exactly the offsets below `start` are acknowledged.
    pub fn starting_at(start: i64) -> AckState {
        AckState { mark_delete: start, ranges: BTreeMap::new() }
    }

    /// Every offset below this is acknowledged.
    pub fn mark_delete(&self) -> i64 {
        self.mark_delete
    }

    /// Number of acknowledged ranges kept above the mark-delete offset.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The acknowledged ranges above the mark-delete offset, `[start, end)`.
    pub fn ranges(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }

    /// Whether `offset` is acknowledged.
    pub fn is_acked(&self, offset: i64) -> bool {
        offset < self.mark_delete
            || self.ranges.range(..=offset).next_back().is_some_and(|(_, &e)| offset < e)
    }

    /// Acknowledges one offset. Returns false when it already was.
    pub fn ack(&mut self, offset: i64) -> bool {
        if self.is_acked(offset) {
            return false;
        }
        self.insert_range(offset, offset + 1);
        true
    }

    /// Acknowledges the offsets `[start, end)`. Returns false when all of them already were
    /// (an empty range included).
    pub fn ack_range(&mut self, start: i64, end: i64) -> bool {
        let covered = end <= self.mark_delete
            || self.ranges.range(..=start).next_back().is_some_and(|(_, &e)| end <= e);
        if start >= end || covered {
            return false;
        }
        self.insert_range(start.max(self.mark_delete), end);
        true
    }

    /// Acknowledges every offset below `end` (a cumulative ack, or records
    /// removed by retention).
    pub fn ack_below(&mut self, end: i64) {
        if end <= self.mark_delete {
            return;
        }
        self.mark_delete = end;
        // Drop the ranges now under the mark, keep the part of one straddling it.
        let straddling = self.ranges.range(..end).next_back().map(|(&s, &e)| (s, e));
        self.ranges = self.ranges.split_off(&end);
        if let Some((_, e)) = straddling.filter(|&(_, e)| e > end) {
            self.mark_delete = e;
        }
        self.absorb();
    }

    fn insert_range(&mut self, mut start: i64, mut end: i64) {
        // Merge with a range ending at or after `start` that begins before it.
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
                self.ranges.remove(&s);
            }
        }
        // Merge with ranges beginning inside or right after.
        while let Some((&s, &e)) = self.ranges.range(start..=end).next() {
            end = end.max(e);
            self.ranges.remove(&s);
        }
        self.ranges.insert(start, end);
        self.absorb();
    }

    /// Moves the mark-delete offset over a range that starts at it.
    fn absorb(&mut self) {
        while let Some((&s, &e)) = self.ranges.iter().next() {
            if s > self.mark_delete {
                break;
            }
            self.ranges.remove(&s);
            self.mark_delete = self.mark_delete.max(e);
        }
    }

    /// The compact stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(10 + self.ranges.len() * 4);
        put_varint(&mut out, zigzag(self.mark_delete));
        put_varint(&mut out, self.ranges.len() as u64);
        let mut prev = self.mark_delete;
        for (&s, &e) in &self.ranges {
            put_varint(&mut out, (s - prev) as u64);
            put_varint(&mut out, (e - s) as u64);
            prev = e;
        }
        out
    }

    /// Reads the stored form back.
    pub fn decode(mut buf: &[u8]) -> Result<AckState, DecodeAckError> {
        let mark_delete = unzigzag(get_varint(&mut buf)?);
        let count = get_varint(&mut buf)?;
        let mut ranges = BTreeMap::new();
        let mut prev = mark_delete;
        for _ in 0..count {
            let gap = get_varint(&mut buf)?;
            let len = get_varint(&mut buf)?;
            let start = i64::try_from(gap).ok().and_then(|g| prev.checked_add(g));
            let end = start.and_then(|s| i64::try_from(len).ok().and_then(|l| s.checked_add(l)));
            let (Some(start), Some(end)) = (start, end) else {
                return Err(DecodeAckError("range out of bounds"));
            };
            if start <= prev || end <= start {
                return Err(DecodeAckError("ranges overlap or are empty"));
            }
            ranges.insert(start, end);
            prev = end;
        }
        if !buf.is_empty() {
            return Err(DecodeAckError("trailing bytes"));
        }
        Ok(AckState { mark_delete, ranges })
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &mut &[u8]) -> Result<u64, DecodeAckError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or(DecodeAckError("truncated varint"))?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeAckError("varint longer than 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_acks_move_the_mark_delete_offset_and_keep_no_ranges() {
        let mut s = AckState::starting_at(0);
        for o in 0..10_000 {
            assert!(s.ack(o));
        }
        assert_eq!(s.mark_delete(), 10_000);
        assert_eq!(s.range_count(), 0);
    }

    #[test]
    fn ranges_acknowledge_what_single_acks_would_and_say_whether_anything_was_new() {
        let mut s = AckState::starting_at(5);
        assert!(!s.ack_range(2, 5), "below the mark");
        assert!(!s.ack_range(9, 9), "empty");
        assert!(s.ack_range(10, 20));
        assert!(!s.ack_range(12, 18), "inside a range");
        assert_eq!(s.ranges().collect::<Vec<_>>(), [(10, 20)]);
        assert!(s.ack_range(3, 11), "straddling the mark: the mark moves over both");
        assert_eq!((s.mark_delete(), s.range_count()), (20, 0));
        for o in 0..20 {
            assert!(s.is_acked(o));
        }
        assert!(!s.is_acked(20));
    }

    #[test]
    fn out_of_order_acks_keep_one_range_per_gap() {
        let mut s = AckState::starting_at(0);
        for o in (1..1000).step_by(2) {
            s.ack(o);
        }
        assert_eq!(s.mark_delete(), 0);
        assert_eq!(s.range_count(), 500);
        // Filling the gaps collapses everything into the mark-delete offset.
        for o in (0..1000).step_by(2) {
            s.ack(o);
        }
        assert_eq!(s.mark_delete(), 1000);
        assert_eq!(s.range_count(), 0);
    }

    #[test]
    fn adjacent_acks_merge_into_one_range() {
        let mut s = AckState::starting_at(0);
        s.ack(5);
        s.ack(7);
        s.ack(6);
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(5, 8)]);
        assert!(!s.ack(6), "a second ack of one offset reports it was acked already");
        assert!(s.is_acked(7) && !s.is_acked(8) && !s.is_acked(4));
    }

    #[test]
    fn ack_below_drops_covered_ranges_and_absorbs_a_straddling_one() {
        let mut s = AckState::starting_at(0);
        s.ack(3);
        s.ack(10);
        s.ack(11);
        s.ack(20);
        s.ack_below(11);
        assert_eq!(s.mark_delete(), 12);
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(20, 21)]);
    }

    #[test]
    fn encoding_round_trips_and_stays_small() {
        let mut s = AckState::starting_at(1_000_000);
        for o in (1_000_001..1_100_000).filter(|o| o % 1000 != 0) {
            s.ack(o);
        }
        let bytes = s.encode();
        assert_eq!(AckState::decode(&bytes), Ok(s.clone()));
        assert!(bytes.len() < 100 * 8, "{} bytes for {} ranges", bytes.len(), s.range_count());
    }

    #[test]
    fn decoding_refuses_garbage() {
        assert!(AckState::decode(&[]).is_err());
        assert!(AckState::decode(&[0, 1]).is_err(), "a range announced but missing");
        assert!(AckState::decode(&[0, 1, 0, 1]).is_err(), "a range starting at the mark-delete offset");
        assert!(AckState::decode(&[0, 0, 9]).is_err(), "trailing bytes");
        assert!(AckState::decode(&[0xff; 11]).is_err());
    }
}
