//! Fuzz target: arbitrary bytes as segment files of a partition directory
//! through the broker's crash recovery (`runnel_broker::log::recovery::recover`)
//! and then the log itself (`PartitionLog::open`, `read`, `append`).
//!
//! Input: byte 0 holds flags, then the segment bytes.
//! - bits 0-1 pick the first segment's base offset from `BASES`;
//! - bit 2: two segments. Bytes 1-2 (u16 BE) say where the sealed segment
//!   ends and bytes 3-4 (u16 BE) how many offsets it claims to hold (the
//!   tail's base offset is the sealed one's plus that); the rest is split
//!   between the sealed segment and the tail;
//! - bit 3: the sealed segment comes with empty, well-formed index files, which
//!   recovery trusts (a cleanly sealed segment is not re-verified), instead of
//!   none, which makes recovery rebuild them by verifying every batch.
//!
//! Properties: recovery never panics. When it succeeds,
//! - the tail file was cut to the reported size, by the reported number of
//!   bytes, and every batch left in it (and in every sealed segment that was
//!   verified) parses, passes its CRC, checks record by record, and continues
//!   the offsets of the batch before it;
//! - recovering again changes nothing (recovery is idempotent);
//! - the opened log serves every offset from its start to its end and accepts a
//!   new batch right after them.

#![no_main]

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use runnel_broker::log::recovery::{recover, Recovered};
use runnel_broker::log::segment::log_file_name;
use runnel_broker::log::{LogConfig, PartitionLog};
use runnel_proto::batch::{self, BatchBuilder, BatchView};

const BASES: [i64; 4] = [0, 1, 1000, 1 << 40];
/// Small, so that inputs of a few batches get index entries too.
const INDEX_INTERVAL: u64 = 128;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
    })
}

fn scratch_dir() -> tempfile::TempDir {
    // tmpfs when there is one: recovery fsyncs what it truncates.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    dir.expect("a temporary directory")
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let base = BASES[usize::from(flags & 3)];
    let two = flags & 4 != 0;
    let trusted_indexes = two && flags & 8 != 0;

    let tmp = scratch_dir();
    let dir = tmp.path().join("topic-0");
    std::fs::create_dir(&dir).expect("create the partition directory");
    let (sealed, tail, tail_base) = if two {
        if rest.len() < 4 {
            return;
        }
        let split = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let claimed = i64::from(u16::from_be_bytes([rest[2], rest[3]]));
        let body = &rest[4..];
        let split = split.min(body.len());
        (Some(&body[..split]), &body[split..], base + claimed)
    } else {
        (None, rest, base)
    };
    if let Some(sealed) = sealed {
        let path = dir.join(log_file_name(base));
        std::fs::write(&path, sealed).expect("write the sealed segment");
        if trusted_indexes {
            std::fs::write(path.with_extension("index"), b"").expect("write the index");
            std::fs::write(path.with_extension("timeindex"), b"").expect("write the time index");
        }
    }
    std::fs::write(dir.join(log_file_name(tail_base)), tail).expect("write the tail segment");

    let Ok(recovered) = recover(&dir, INDEX_INTERVAL) else { return };
    check_recovered(&dir, &recovered, tail.len() as u64, trusted_indexes);
    let again = recover(&dir, INDEX_INTERVAL).expect("a recovered log recovers again");
    assert_eq!(again.truncated_bytes, 0, "a second recovery truncated more");
    let shape = |r: &Recovered| {
        r.segments.values().map(|s| (s.base_offset, s.size, s.next_offset)).collect::<Vec<_>>()
    };
    assert_eq!(shape(&again), shape(&recovered), "a second recovery found another log");
    drop((recovered, again));
    runtime().block_on(serve_everything(&dir, trusted_indexes));
});

fn check_recovered(dir: &Path, rec: &Recovered, tail_len: u64, trusted_indexes: bool) {
    let tail = rec.segments.values().next_back().expect("a recovered log has a segment");
    assert_eq!(tail.size + rec.truncated_bytes, tail_len, "the tail's size and the cut bytes disagree");
    let mut expected_base = None;
    for seg in rec.segments.values() {
        let bytes = std::fs::read(&seg.path).expect("read a recovered segment");
        assert_eq!(
            bytes.len() as u64,
            seg.size,
            "{}: file size differs from the recovered size",
            seg.path.display()
        );
        if let Some(next) = expected_base {
            assert_eq!(seg.base_offset, next, "segments do not continue each other");
        }
        let verified = seg.base_offset == tail.base_offset || !trusted_indexes;
        if verified {
            let mut next = seg.base_offset;
            for item in batch::batches(&bytes) {
                let view =
                    item.unwrap_or_else(|e| panic!("{}: recovery left a bad batch: {e}", seg.path.display()));
                view.check_records()
                    .unwrap_or_else(|e| panic!("recovery left a batch with bad records: {e}"));
                assert_eq!(view.base_offset(), next, "recovery left a batch out of sequence");
                next = view.next_offset();
            }
            assert_eq!(next, seg.next_offset, "the recovered end offset is not the last batch's");
        }
        expected_base = Some(seg.next_offset);
    }
    assert!(dir.is_dir());
}

async fn serve_everything(dir: &Path, trusted_indexes: bool) {
    let log = PartitionLog::open(dir, LogConfig::default(), Arc::new(AtomicU64::new(0)))
        .expect("a recovered directory opens");
    let stats = log.stats();
    let mut offset = stats.log_start_offset;
    while offset < stats.high_watermark {
        let read = match log.read(offset, 1 << 20) {
            Ok(read) => read,
            // A trusted (unverified) sealed segment may hold bytes that do not
            // parse; the read must then fail cleanly, as it just did.
            Err(_) if trusted_indexes => break,
            Err(e) => panic!("offset {offset} of a recovered log does not read: {e}"),
        };
        assert!(read.next_offset > offset, "a read at {offset} made no progress");
        let mut last = offset;
        for item in batch::batches(&read.batches) {
            let view = item.unwrap_or_else(|e| panic!("a read returned a bad batch: {e}"));
            if !trusted_indexes {
                view.check_records().unwrap_or_else(|e| panic!("a read returned bad records: {e}"));
            }
            last = view.next_offset();
        }
        assert_eq!(last, read.next_offset);
        offset = read.next_offset;
    }
    if offset == stats.high_watermark {
        let mut b = BatchBuilder::new();
        b.push(Some(b"k"), Some(b"after recovery"), 1, &[]);
        let appended = log.append(b.finish(-1, -1, -1)).await.expect("a recovered log accepts an append");
        assert_eq!(appended.base_offset, stats.high_watermark, "the append did not continue the log");
        let read = log.read(appended.base_offset, 1 << 20).expect("the appended batch reads back");
        let view = BatchView::parse(&read.batches).expect("the appended batch parses");
        assert_eq!(view.base_offset(), appended.base_offset);
    }
    log.close().await.expect("the log closes");
}
