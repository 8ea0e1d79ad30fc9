//! The partition's log start offset set by an administrator (Kafka's DeleteRecords): the
//! first offset a reader may ask for, kept in `<partition>/log-start` so that it survives a
//! restart.
//!
//! Invariant: the log start offset a reader sees is `max(stored start, base offset of the
//! first segment)`, it never decreases, and it is never past the high watermark. Reads
//! below it are `OffsetOutOfRange` (as Kafka answers OFFSET_OUT_OF_RANGE); ListOffsets
//! "earliest" answers it. Records below it stay on disk until their whole segment lies
//! below it: a sealed segment whose next offset is ≤ the start is deleted at once by
//! [`PartitionLog::delete_records`](super::PartitionLog::delete_records) and later by
//! retention; the active segment is never deleted (a batch straddling the start is still
//! served whole from the batch holding the start, as Kafka does: clients skip the records
//! before the offset they asked for).
//!
//! The file is 16 bytes: the offset (i64, big-endian), 4 bytes `RNLS`, and the CRC-32C of
//! the first 12 bytes. It is replaced atomically (temporary file, fsync, rename, fsync of
//! the directory) before the new start is published, so an acknowledged DeleteRecords is
//! never forgotten. A missing file means 0 (every log before this file existed). A file
//! that fails its checksum is refused (`Corrupt`) rather than guessed at. After a crash
//! with a lax fsync policy the log may end below the stored start; the start is then
//! clamped to the log end on open, which keeps the invariant (the records it hid are gone).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::BrokerError;

/// The file's name inside the partition directory.
pub const FILE_NAME: &str = "log-start";
const MAGIC: &[u8; 4] = b"RNLS";
const LEN: usize = 16;

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The stored start offset of the partition in `dir` (0 when none was ever set).
pub fn load(dir: &Path) -> Result<i64, BrokerError> {
    let p = path(dir);
    let bytes = match fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(BrokerError::io("read", &p, e)),
    };
    let corrupt = |reason: &str| BrokerError::Corrupt { path: p.clone(), position: 0, reason: reason.into() };
    if bytes.len() != LEN || &bytes[8..12] != MAGIC {
        return Err(corrupt("log-start file has the wrong size or magic"));
    }
    let crc = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if crc32c::crc32c(&bytes[..12]) != crc {
        return Err(corrupt("log-start file fails its CRC-32C"));
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&bytes[..8]);
    let offset = i64::from_be_bytes(offset);
    if offset < 0 {
        return Err(corrupt("log-start file holds a negative offset"));
    }
    Ok(offset)
}

/// Makes `offset` the stored start of the partition in `dir`, durably. Blocking.
pub fn store(dir: &Path, offset: i64) -> Result<(), BrokerError> {
    let mut bytes = [0u8; LEN];
    bytes[..8].copy_from_slice(&offset.to_be_bytes());
    bytes[8..12].copy_from_slice(MAGIC);
    let crc = crc32c::crc32c(&bytes[..12]);
    bytes[12..].copy_from_slice(&crc.to_be_bytes());
    let p = path(dir);
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &p)?;
        // The rename itself is durable only once the directory is.
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| BrokerError::io("write", &p, e))
}

impl super::PartitionLog {
    /// Kafka's DeleteRecords: makes `offset` the partition's log start (-1: the high
    /// watermark) and returns the log start afterwards. An offset at or below the current
    /// start changes nothing; one past the high watermark is `OffsetOutOfRange`. The new
    /// start is durable before it is published; sealed segments wholly below it are then
    /// deleted. Blocking: call it from a blocking context.
    pub fn delete_records(&self, offset: i64) -> Result<i64, BrokerError> {
        let _one_at_a_time = self.start_admin.lock();
        let (current, hw) = {
            let st = self.state.lock();
            (st.log_start(), st.high_watermark)
        };
        let offset = if offset == -1 { hw } else { offset };
        if offset < 0 || offset > hw {
            return Err(BrokerError::OffsetOutOfRange { offset, log_start: current, high_watermark: hw });
        }
        if offset <= current {
            return Ok(current);
        }
        store(&self.dir, offset)?;
        let removed: Vec<super::segment::Segment> = {
            let mut st = self.state.lock();
            st.start = st.start.max(offset);
            let last = st.segments.keys().next_back().copied();
            let doomed: Vec<i64> = st
                .segments
                .iter()
                .filter(|(base, s)| Some(**base) != last && s.next_offset <= offset)
                .map(|(base, _)| *base)
                .collect();
            doomed.iter().filter_map(|b| st.segments.remove(b)).collect()
        };
        for seg in &removed {
            tracing::info!(path = %seg.path.display(), "segment below the log start deleted");
            seg.delete_files()?;
        }
        tracing::info!(dir = %self.dir.display(), log_start = offset, "log start moved (DeleteRecords)");
        Ok(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_start_reads_back_and_a_missing_one_is_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), 0);
        store(dir.path(), 42).unwrap();
        assert_eq!(load(dir.path()).unwrap(), 42);
        store(dir.path(), 7_000_000_000).unwrap();
        assert_eq!(load(dir.path()).unwrap(), 7_000_000_000);
    }

    fn batch(first: i64, n: i64) -> bytes::Bytes {
        let mut b = runnel_proto::BatchBuilder::new();
        for i in first..first + n {
            b.push(None, Some(format!("value-{i}").as_bytes()), 1_000 + i, &[]);
        }
        b.finish(-1, -1, -1)
    }

    #[tokio::test]
    async fn a_new_start_hides_what_is_below_deletes_whole_segments_and_survives_reopening() {
        use std::sync::atomic::AtomicU64;
        use std::sync::Arc;

        use crate::log::{LogConfig, PartitionLog};

        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { segment_bytes: 1024, index_interval_bytes: 256, ..LogConfig::default() };
        let log = PartitionLog::open(dir.path(), config, Arc::new(AtomicU64::new(0))).unwrap();
        for i in 0..50 {
            log.append(batch(i * 2, 2)).await.unwrap();
        }
        let before = log.stats();
        assert!(before.segments >= 3, "small segments: {before:?}");
        assert_eq!(log.delete_records(52).unwrap(), 52);
        let after = log.stats();
        assert_eq!((after.log_start_offset, after.high_watermark), (52, 100));
        assert!(after.segments < before.segments, "whole segments below 52 are gone: {after:?}");
        let logs = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
            .count();
        assert_eq!(logs as u32, after.segments, "their files too");
        assert!(matches!(log.read(51, 1 << 20), Err(BrokerError::OffsetOutOfRange { log_start: 52, .. })));
        let r = log.read(52, 1 << 20).unwrap();
        assert_eq!(r.log_start_offset, 52);
        assert!(r.next_offset > 52);
        // By timestamp: nothing below the start is found.
        assert_eq!(log.offset_for_timestamp(0).unwrap(), 52);
        // Never back; never past the end; -1 is the end.
        assert_eq!(log.delete_records(10).unwrap(), 52);
        assert!(matches!(log.delete_records(101), Err(BrokerError::OffsetOutOfRange { .. })));
        log.close().await.unwrap();

        let log = PartitionLog::open(dir.path(), config, Arc::new(AtomicU64::new(0))).unwrap();
        assert_eq!(log.stats().log_start_offset, 52);
        assert!(matches!(log.read(51, 1 << 20), Err(BrokerError::OffsetOutOfRange { .. })));
        assert_eq!(log.delete_records(-1).unwrap(), 100);
        assert_eq!(log.stats().log_start_offset, 100);
        log.close().await.unwrap();
    }

    #[test]
    fn a_damaged_file_is_refused_not_guessed() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), 42).unwrap();
        let p = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&p).unwrap();
        bytes[7] ^= 1;
        fs::write(&p, &bytes).unwrap();
        assert!(matches!(load(dir.path()), Err(BrokerError::Corrupt { .. })));
    }
}
