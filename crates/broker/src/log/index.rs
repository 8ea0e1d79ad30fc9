//! The sparse per-segment indexes: an offset index (relative offset → byte
//! position) and a time index (max timestamp so far → relative offset).
//!
//! Both live in memory while the broker runs and are written to
//! `<base>.index` / `<base>.timeindex` when a segment is sealed or the broker
//! closes (tmp file + fsync + rename). They are derived data: recovery rebuilds
//! a missing or invalid one by scanning the segment (see `recovery.rs`), and
//! always rebuilds the tail segment's.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::BrokerError;

/// Bytes of one offset index entry: relative offset u32 BE, position u32 BE.
pub const OFFSET_ENTRY_BYTES: usize = 8;
/// Bytes of one time index entry: timestamp i64 BE, relative offset u32 BE.
pub const TIME_ENTRY_BYTES: usize = 12;

/// Relative offset → byte position of the batch starting at that offset, sparse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    /// Strictly increasing in both fields.
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Adds an entry; ignored unless it is past the last one (keeps the invariant).
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        if self.entries.last().is_none_or(|&(o, p)| relative_offset > o && position > p) {
            self.entries.push((relative_offset, position));
        }
    }

    /// The position of the last indexed batch starting at or before `relative_offset`
    /// (0, the segment start, when none is).
    pub fn floor(&self, relative_offset: u32) -> u64 {
        let i = self.entries.partition_point(|&(o, _)| o <= relative_offset);
        if i == 0 {
            0
        } else {
            u64::from(self.entries[i - 1].1)
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serialized form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_BYTES);
        for &(o, p) in &self.entries {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// Parses a serialized index, checking that it is whole, strictly increasing and
    /// points inside a segment of `segment_size` bytes. `None` if it is not valid.
    pub fn from_bytes(bytes: &[u8], segment_size: u64) -> Option<Self> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_BYTES) {
            return None;
        }
        let mut index = OffsetIndex::default();
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_BYTES) {
            let o = u32::from_be_bytes(chunk[0..4].try_into().ok()?);
            let p = u32::from_be_bytes(chunk[4..8].try_into().ok()?);
            if u64::from(p) >= segment_size {
                return None;
            }
            if let Some(&(lo, lp)) = index.entries.last() {
                if o <= lo || p <= lp {
                    return None;
                }
            }
            index.entries.push((o, p));
        }
        Some(index)
    }
}

/// Largest timestamp so far → relative offset of the batch that reached it, sparse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeIndex {
    /// Strictly increasing in both fields.
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Adds an entry; ignored unless both fields grow.
    pub fn push(&mut self, max_timestamp: i64, relative_offset: u32) {
        if self.entries.last().is_none_or(|&(t, o)| max_timestamp > t && relative_offset > o) {
            self.entries.push((max_timestamp, relative_offset));
        }
    }

    /// A relative offset from which scanning finds the first record with a
    /// timestamp ≥ `target`: every batch before the returned offset's batch has
    /// only timestamps < `target`.
    pub fn scan_start(&self, target: i64) -> u32 {
        let i = self.entries.partition_point(|&(t, _)| t < target);
        if i == 0 {
            0
        } else {
            // Entry i-1's batch (and all before it) hold timestamps < target.
            self.entries[i - 1].1
        }
    }

    /// Serialized form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY_BYTES);
        for &(t, o) in &self.entries {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&o.to_be_bytes());
        }
        out
    }

    /// Parses a serialized time index; `None` if it is not whole and increasing.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_BYTES) {
            return None;
        }
        let mut index = TimeIndex::default();
        for chunk in bytes.chunks_exact(TIME_ENTRY_BYTES) {
            let t = i64::from_be_bytes(chunk[0..8].try_into().ok()?);
            let o = u32::from_be_bytes(chunk[8..12].try_into().ok()?);
            if let Some(&(lt, lo)) = index.entries.last() {
                if t <= lt || o <= lo {
                    return None;
                }
            }
            index.entries.push((t, o));
        }
        Some(index)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(|e| BrokerError::io("create", &tmp, e))?;
    f.write_all(bytes).map_err(|e| BrokerError::io("write", &tmp, e))?;
    f.sync_data().map_err(|e| BrokerError::io("fsync", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| BrokerError::io("rename", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_finds_the_last_entry_at_or_before() {
        let mut i = OffsetIndex::default();
        i.push(10, 4_000);
        i.push(20, 8_000);
        i.push(15, 9_000); // out of order: ignored
        assert_eq!(i.floor(0), 0);
        assert_eq!(i.floor(10), 4_000);
        assert_eq!(i.floor(19), 4_000);
        assert_eq!(i.floor(25), 8_000);
        assert_eq!(i.len(), 2);
    }

    #[test]
    fn offset_index_round_trips_and_rejects_torn_or_foreign_bytes() {
        let mut i = OffsetIndex::default();
        i.push(3, 100);
        i.push(9, 5_000);
        let b = i.to_bytes();
        assert_eq!(OffsetIndex::from_bytes(&b, 6_000), Some(i));
        assert_eq!(OffsetIndex::from_bytes(&b[..11], 6_000), None);
        assert_eq!(OffsetIndex::from_bytes(&b, 5_000), None, "position past the segment");
        let mut swapped = b[8..].to_vec();
        swapped.extend_from_slice(&b[..8]);
        assert_eq!(OffsetIndex::from_bytes(&swapped, 6_000), None);
    }

    #[test]
    fn time_index_scan_start_skips_only_older_batches() {
        let mut t = TimeIndex::default();
        t.push(100, 0);
        t.push(200, 5);
        t.push(300, 9);
        assert_eq!(t.scan_start(50), 0);
        assert_eq!(t.scan_start(100), 0);
        assert_eq!(t.scan_start(150), 0);
        assert_eq!(t.scan_start(250), 5);
        assert_eq!(t.scan_start(1_000), 9);
        assert_eq!(TimeIndex::from_bytes(&t.to_bytes()), Some(t.clone()));
        assert_eq!(TimeIndex::from_bytes(&t.to_bytes()[..13]), None);
    }
}
