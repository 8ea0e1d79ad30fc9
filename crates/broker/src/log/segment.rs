//! One segment file: `<base offset, 20 digits>.log`, a run of whole RecordBatch v2
//! byte strings with consecutive offsets, and its in-memory indexes.
//!
//! The file is written only by its partition's writer task, at explicit positions
//! (`pwrite`), and read by anyone with `pread` through a shared `Arc<File>`, so a
//! reader never sees a file position move and a deleted segment stays readable
//! to the readers that already hold it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use runnel_proto::batch::{self, BatchView, BATCH_HEADER_BYTES};

use super::index::{write_atomically, OffsetIndex, TimeIndex};
use crate::error::BrokerError;

/// File name of the segment starting at `base_offset`.
pub fn log_file_name(base_offset: i64) -> String {
    format!("{base_offset:020}.log")
}

/// Parses a segment file name back into its base offset.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment: its file, what is visible in it, and its indexes.
#[derive(Debug)]
pub struct Segment {
    /// Offset of the first batch (also the file's name).
    pub base_offset: i64,
    /// The `.log` file's path.
    pub path: PathBuf,
    /// Shared with readers, which `pread` from it without holding the log's lock.
    pub file: Arc<File>,
    /// Bytes written and published: readers never look past it.
    pub size: u64,
    /// Offset after the last published batch.
    pub next_offset: i64,
    /// Largest record timestamp in the segment (`i64::MIN` when empty).
    pub max_timestamp: i64,
    /// When the segment was opened for writing, for rolling by age.
    pub opened_at: Instant,
    /// Sparse offset index.
    pub index: OffsetIndex,
    /// Sparse time index.
    pub time_index: TimeIndex,
    /// Bytes appended since the last offset index entry.
    pub bytes_since_index: u64,
}

impl Segment {
    /// Creates an empty segment file (fails if it exists).
    pub fn create(dir: &Path, base_offset: i64) -> Result<Segment, BrokerError> {
        let path = dir.join(log_file_name(base_offset));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| BrokerError::io("create", &path, e))?;
        Ok(Segment::with_file(path, file, base_offset, 0))
    }

    /// Opens an existing segment file for reading and writing.
    pub fn open_file(path: &Path) -> Result<File, BrokerError> {
        OpenOptions::new().read(true).write(true).open(path).map_err(|e| BrokerError::io("open", path, e))
    }

    /// A segment over an open file of `size` valid bytes (indexes still empty).
    pub fn with_file(path: PathBuf, file: File, base_offset: i64, size: u64) -> Segment {
        Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size,
            next_offset: base_offset,
            max_timestamp: i64::MIN,
            opened_at: Instant::now(),
            index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            bytes_since_index: 0,
        }
    }

    /// Path of the offset index file.
    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension("index")
    }

    /// Path of the time index file.
    pub fn time_index_path(&self) -> PathBuf {
        self.path.with_extension("timeindex")
    }

    /// Records a published batch in the indexes: an offset index entry every
    /// `interval` bytes, a time index entry whenever the max timestamp grows.
    pub fn note_batch(
        &mut self,
        position: u64,
        base_offset: i64,
        next_offset: i64,
        max_timestamp: i64,
        len: u64,
        interval: u64,
    ) {
        let rel = (base_offset - self.base_offset) as u32;
        if self.bytes_since_index >= interval && position > 0 {
            self.index.push(rel, position as u32);
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += len;
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.time_index.push(max_timestamp, rel);
        }
        self.next_offset = next_offset;
        self.size = position + len;
    }

    /// Writes both index files (atomically); done when the segment is sealed or closed.
    pub fn write_indexes(&self) -> Result<(), BrokerError> {
        write_atomically(&self.index_path(), &self.index.to_bytes())?;
        write_atomically(&self.time_index_path(), &self.time_index.to_bytes())
    }

    /// Removes the segment's files.
    pub fn delete_files(&self) -> Result<(), BrokerError> {
        for p in [self.path.clone(), self.index_path(), self.time_index_path()] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BrokerError::io("delete", p, e)),
            }
        }
        Ok(())
    }
}

/// The header fields of the batch at a position, read without its body.
#[derive(Debug, Clone, Copy)]
pub struct BatchHeader {
    /// Base offset.
    pub base_offset: i64,
    /// Total size in bytes.
    pub size: u64,
    /// Offset after the batch.
    pub next_offset: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Producer id, epoch, base sequence, record count.
    pub producer: (i64, i16, i32, i32),
    /// The attributes (transactional and control bits).
    pub attributes: i16,
}

impl BatchHeader {
    /// Part of a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// A control batch: a transaction marker (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Reads the header of the batch at `position`, checking only that its declared
/// size fits before `limit`. `Ok(None)` at `limit`.
pub fn read_header(file: &File, position: u64, limit: u64) -> std::io::Result<Option<BatchHeader>> {
    if position >= limit {
        return Ok(None);
    }
    let mut h = [0u8; BATCH_HEADER_BYTES];
    if limit - position < h.len() as u64 {
        return Err(invalid("batch header runs past the end"));
    }
    file.read_exact_at(&mut h, position)?;
    let size = batch::declared_size(&h).ok_or_else(|| invalid("negative batch length"))? as u64;
    if size < BATCH_HEADER_BYTES as u64 || position + size > limit {
        return Err(invalid("batch length runs past the end"));
    }
    let be64 = |at: usize| i64::from_be_bytes(h[at..at + 8].try_into().unwrap_or([0; 8]));
    let be32 = |at: usize| i32::from_be_bytes(h[at..at + 4].try_into().unwrap_or([0; 4]));
    let base_offset = be64(0);
    let last_delta = be32(23);
    // A torn or corrupt header can hold any base offset: refuse, not overflow.
    let next_offset = base_offset
        .checked_add(i64::from(last_delta) + 1)
        .ok_or_else(|| invalid("batch offsets overflow"))?;
    Ok(Some(BatchHeader {
        base_offset,
        size,
        next_offset,
        max_timestamp: be64(35),
        producer: (be64(43), i16::from_be_bytes([h[51], h[52]]), be32(53), be32(57)),
        attributes: i16::from_be_bytes([h[21], h[22]]),
    }))
}

/// Reads exactly `len` bytes at `position`.
pub fn read_exact(file: &File, position: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, position)?;
    Ok(buf)
}

/// Reads the whole batch at `position` and verifies it completely (length, magic,
/// CRC, every record).
pub fn read_verified(file: &File, position: u64, limit: u64) -> Result<(BatchHeader, Vec<u8>), String> {
    let header = read_header(file, position, limit).map_err(|e| e.to_string())?.ok_or("end of segment")?;
    let bytes = read_exact(file, position, header.size as usize).map_err(|e| e.to_string())?;
    let view = BatchView::parse(&bytes).map_err(|e| e.to_string())?;
    view.check_records().map_err(|e| e.to_string())?;
    Ok((header, bytes))
}

fn invalid(msg: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_twenty_digit_base_offsets() {
        assert_eq!(log_file_name(0), "00000000000000000000.log");
        assert_eq!(log_file_name(1234), "00000000000000001234.log");
        assert_eq!(parse_log_file_name("00000000000000001234.log"), Some(1234));
        assert_eq!(parse_log_file_name("1234.log"), None);
        assert_eq!(parse_log_file_name("00000000000000001234.index"), None);
        assert_eq!(parse_log_file_name("0000000000000000123x.log"), None);
    }

    #[test]
    fn refuses_header_whose_offsets_overflow() {
        // Found by fuzz/fuzz_targets/segment_recovery.rs: a garbage tail header with
        // base offset i64::MIN and a negative last offset delta made recovery panic.
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(log_file_name(0));
        let mut h = [0u8; BATCH_HEADER_BYTES];
        h[0..8].copy_from_slice(&i64::MIN.to_be_bytes());
        h[8..12].copy_from_slice(&((BATCH_HEADER_BYTES - 12) as i32).to_be_bytes());
        h[23..27].copy_from_slice(&(-5i32).to_be_bytes());
        std::fs::write(&path, h).expect("write");
        let file = File::open(&path).expect("open");
        let err = read_header(&file, 0, h.len() as u64).expect_err("overflowing offsets are refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        h[0..8].copy_from_slice(&i64::MAX.to_be_bytes());
        h[23..27].copy_from_slice(&7i32.to_be_bytes());
        std::fs::write(&path, h).expect("write");
        let file = File::open(&path).expect("open");
        assert!(read_header(&file, 0, h.len() as u64).is_err());
    }
}
