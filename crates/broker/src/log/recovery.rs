//! Opening a partition directory after a clean stop or a crash.
//!
//! - Every segment file is found by its name; the highest base offset is the tail.
//! - Sealed segments load their index files when those are whole and consistent,
//!   and are rebuilt by a header scan otherwise.
//! - The tail segment is read completely: each batch's length, magic, CRC-32C and
//!   records are verified, and its base offset must continue the previous batch.
//!   At the first batch that fails, the file is truncated there (a torn tail: the
//!   bytes of a write that was never acknowledged) and the truncation is fsynced.
//! - Producer states and the transaction index (open transactions, aborted ones) are
//!   rebuilt from the batch headers of every segment.
//!
//! After recovery every byte in the log is a whole, checked batch; nothing
//! half-written can be served.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::index::{OffsetIndex, TimeIndex};
use super::producers::ProducerStates;
use super::segment::{self, parse_log_file_name, Segment};
use super::txn::{self, TxnIndex};
use crate::error::BrokerError;

/// The state of a partition read back from disk.
#[derive(Debug)]
pub struct Recovered {
    /// Segments by base offset; the last is the active one.
    pub segments: BTreeMap<i64, Segment>,
    /// Idempotent producers' recent batches.
    pub producers: ProducerStates,
    /// Open and aborted transactions.
    pub txns: TxnIndex,
    /// Bytes cut from the tail (0 after a clean stop).
    pub truncated_bytes: u64,
}

/// Opens (creating if needed) the partition directory `dir`.
pub fn recover(dir: &Path, index_interval: u64) -> Result<Recovered, BrokerError> {
    fs::create_dir_all(dir).map_err(|e| BrokerError::io("create", dir, e))?;
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| BrokerError::io("list", dir, e))? {
        let entry = entry.map_err(|e| BrokerError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_log_file_name(name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            // An index write interrupted by a crash; the index is rebuilt if needed.
            let _ = fs::remove_file(entry.path());
        }
    }
    bases.sort_unstable();
    let mut segments = BTreeMap::new();
    let mut producers = ProducerStates::default();
    let mut txns = TxnIndex::default();
    let mut truncated_bytes = 0;
    if bases.is_empty() {
        segments.insert(0, Segment::create(dir, 0)?);
        return Ok(Recovered { segments, producers, txns, truncated_bytes });
    }
    let tail_base = bases[bases.len() - 1];
    let mut expected_next: Option<i64> = None;
    for &base in &bases {
        let path = dir.join(segment::log_file_name(base));
        let file = Segment::open_file(&path)?;
        let len = file.metadata().map_err(|e| BrokerError::io("stat", &path, e))?.len();
        let mut seg = Segment::with_file(path.clone(), file, base, 0);
        if let Some(next) = expected_next {
            if next != base {
                return Err(BrokerError::Corrupt {
                    path,
                    position: 0,
                    reason: format!("segment starts at offset {base}, the previous one ends at {next}"),
                });
            }
        }
        if base == tail_base {
            truncated_bytes = scan_tail(&mut seg, len, index_interval, &mut producers, &mut txns)?;
        } else {
            scan_sealed(&mut seg, len, index_interval, &mut producers, &mut txns)?;
        }
        expected_next = Some(seg.next_offset);
        segments.insert(base, seg);
    }
    Ok(Recovered { segments, producers, txns, truncated_bytes })
}

/// Verifies every batch of the tail segment and truncates at the first bad one.
fn scan_tail(
    seg: &mut Segment,
    len: u64,
    interval: u64,
    producers: &mut ProducerStates,
    txns: &mut TxnIndex,
) -> Result<u64, BrokerError> {
    let mut pos = 0;
    while pos < len {
        match segment::read_verified(&seg.file, pos, len) {
            Ok((h, _)) if h.base_offset == seg.next_offset => {
                note(seg, pos, &h, interval, producers, txns);
                pos += h.size;
            }
            Ok((h, _)) => {
                tracing::warn!(path = %seg.path.display(), pos, base = h.base_offset,
                    expected = seg.next_offset, "batch does not continue the log; truncating");
                break;
            }
            Err(reason) => {
                tracing::warn!(path = %seg.path.display(), pos, %reason, "torn tail; truncating");
                break;
            }
        }
    }
    if pos < len {
        seg.file.set_len(pos).map_err(|e| BrokerError::io("truncate", &seg.path, e))?;
        seg.file.sync_all().map_err(|e| BrokerError::io("fsync", &seg.path, e))?;
    }
    seg.size = pos;
    Ok(len - pos)
}

/// Loads a sealed segment's indexes, or rebuilds them, and its producer states.
fn scan_sealed(
    seg: &mut Segment,
    len: u64,
    interval: u64,
    producers: &mut ProducerStates,
    txns: &mut TxnIndex,
) -> Result<(), BrokerError> {
    let index = fs::read(seg.index_path()).ok().and_then(|b| OffsetIndex::from_bytes(&b, len.max(1)));
    let time_index = fs::read(seg.time_index_path()).ok().and_then(|b| TimeIndex::from_bytes(&b));
    let indexes_ok = index.is_some() && time_index.is_some();
    let mut pos = 0;
    while pos < len {
        // Without trustworthy indexes, verify each batch fully while rebuilding them.
        let header = if indexes_ok {
            segment::read_header(&seg.file, pos, len)
                .map_err(|e| e.to_string())
                .and_then(|h| h.ok_or_else(String::new))
        } else {
            segment::read_verified(&seg.file, pos, len).map(|(h, _)| h)
        };
        let h = header.map_err(|reason| BrokerError::Corrupt {
            path: seg.path.clone(),
            position: pos,
            reason,
        })?;
        if h.base_offset != seg.next_offset {
            return Err(BrokerError::Corrupt {
                path: seg.path.clone(),
                position: pos,
                reason: format!("batch at offset {} where {} was expected", h.base_offset, seg.next_offset),
            });
        }
        note(seg, pos, &h, interval, producers, txns);
        pos += h.size;
    }
    if let (Some(index), Some(time_index)) = (index, time_index) {
        seg.index = index;
        seg.time_index = time_index;
    } else {
        tracing::info!(path = %seg.path.display(), "rebuilt missing or invalid indexes");
        seg.write_indexes()?;
    }
    Ok(())
}

fn note(
    seg: &mut Segment,
    pos: u64,
    h: &segment::BatchHeader,
    interval: u64,
    producers: &mut ProducerStates,
    txns: &mut TxnIndex,
) {
    seg.note_batch(pos, h.base_offset, h.next_offset, h.max_timestamp, h.size, interval);
    let (pid, epoch, seq, count) = h.producer;
    if h.is_control() {
        producers.record_marker(pid, epoch);
    } else {
        producers.record(pid, epoch, seq, count, h.base_offset);
    }
    if let Some(event) = txn::event_at(&seg.file, pos, h) {
        txns.apply(event);
    }
}
