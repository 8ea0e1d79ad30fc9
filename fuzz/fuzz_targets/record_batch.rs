//! Fuzz target: arbitrary bytes as Kafka RecordBatch v2 through
//! `runnel_proto::batch` (`BatchView::parse`, `parse_prefix`, `batches`, the
//! record and header iterators), and a round trip through `BatchBuilder`.
//!
//! Each input is used three ways:
//! 1. as is (a fetch response or a produce request: one or more batches);
//! 2. with its header made plausible (magic 2, no compression, the CRC-32C
//!    recomputed), so that the fuzzer reaches the record parser without having
//!    to find a CRC;
//! 3. as a description of records (key, value, timestamp, headers) built with
//!    `BatchBuilder`, which must parse back to exactly those records.
//!
//! Properties: nothing panics; a batch whose records all check has exactly
//! `record_count` of them, with consecutive offsets; `batches` yields the views
//! `parse_prefix` finds, covering the input up to the first error.

#![no_main]

use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use runnel_proto::batch::{self, BatchBuilder, BatchView, BATCH_HEADER_BYTES};

fuzz_target!(|data: &[u8]| {
    exercise_all(data);
    if data.len() >= BATCH_HEADER_BYTES {
        let mut fixed = data.to_vec();
        fixed[16] = 2; // magic
        fixed[22] &= !0x07; // attributes: compression none
        let crc = crc32c(&fixed[21..]);
        fixed[17..21].copy_from_slice(&crc.to_be_bytes());
        exercise_all(&fixed);
    }
    let _ = round_trip(&mut Unstructured::new(data));
});

/// Walks every batch of `buf` and every record and header of each.
fn exercise_all(buf: &[u8]) {
    let _ = batch::declared_size(buf);
    let single = BatchView::parse(buf);
    let mut covered = 0;
    let mut views = 0;
    for item in batch::batches(buf) {
        match item {
            Ok(view) => {
                let (again, used) = BatchView::parse_prefix(&buf[covered..]).expect("batches yielded a view");
                assert_eq!(again, view);
                assert_eq!(used, view.size());
                covered += used;
                views += 1;
                exercise_batch(&view);
            }
            Err(e) => {
                assert_eq!(BatchView::parse_prefix(&buf[covered..]).err(), Some(e));
                break;
            }
        }
    }
    if let Ok(view) = single {
        assert_eq!(views, 1, "parse accepted a single batch that batches split differently");
        assert_eq!(view.size(), buf.len());
    }
}

fn exercise_batch(view: &BatchView<'_>) {
    let _ = format!("{view:?}");
    let (_, _, _) = (view.is_log_append_time(), view.is_transactional(), view.is_control());
    let _ = (view.partition_leader_epoch(), view.max_timestamp(), view.producer_id());
    let _ = (view.producer_epoch(), view.base_sequence(), view.attributes(), view.batch_length());
    assert_eq!(view.as_bytes().len(), view.size());
    assert!(view.record_count() >= 1);
    assert_eq!(view.last_offset(), view.base_offset().wrapping_add(i64::from(view.last_offset_delta())));
    let checked = view.check_records();
    let mut n = 0u32;
    let mut failed = false;
    for record in view.records() {
        match record {
            Ok(r) => {
                assert_eq!(r.offset, view.base_offset().wrapping_add(i64::from(n)));
                let listed: Vec<_> = r.headers.iter().collect();
                assert_eq!(listed.len(), r.headers.len(), "a checked header failed to read back");
                for h in &listed {
                    // `get` finds the first header with the key.
                    let first = listed.iter().find(|o| o.key == h.key).map(|o| o.value);
                    assert_eq!(r.headers.get(h.key), first);
                }
                n += 1;
            }
            Err(_) => {
                failed = true;
            }
        }
    }
    if checked.is_ok() {
        assert!(!failed);
        assert_eq!(n, view.record_count(), "check_records passed but records() yielded {n}");
    } else {
        // Either a record failed, or all read and bytes were left over.
        assert!(failed || n == view.record_count());
    }
}

/// One record as the builder takes it.
struct Rec<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    timestamp: i64,
    headers: Vec<(&'a str, &'a [u8])>,
}

fn round_trip(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let count = u.int_in_range(1..=16)?;
    let mut recs = Vec::with_capacity(count);
    for _ in 0..count {
        let key = if u.arbitrary()? { Some(u.arbitrary::<&[u8]>()?) } else { None };
        let value = if u.arbitrary()? { Some(u.arbitrary::<&[u8]>()?) } else { None };
        let timestamp = u.arbitrary::<i64>()?;
        let mut headers = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            headers.push((u.arbitrary::<&str>()?, u.arbitrary::<&[u8]>()?));
        }
        recs.push(Rec { key, value, timestamp, headers });
    }
    let (pid, epoch, seq) = (u.arbitrary::<i64>()?, u.arbitrary::<i16>()?, u.arbitrary::<i32>()?);
    let mut builder = BatchBuilder::new();
    for r in &recs {
        let predicted = builder.size_with(r.key, r.value, r.timestamp, &r.headers);
        builder.push(r.key, r.value, r.timestamp, &r.headers);
        assert_eq!(builder.size_bytes(), predicted, "size_with mispredicted the batch size");
    }
    assert_eq!(builder.len(), recs.len());
    let bytes = builder.finish(pid, epoch, seq);
    let mut stored = bytes.to_vec();
    let base = u.arbitrary::<i64>()?;
    batch::set_base_offset(&mut stored, base).expect("a built batch has a base offset field");
    let view = BatchView::parse(&stored).unwrap_or_else(|e| panic!("a built batch does not parse: {e}"));
    view.check_records().unwrap_or_else(|e| panic!("a built batch's records do not check: {e}"));
    assert_eq!(view.base_offset(), base);
    assert_eq!(view.record_count() as usize, recs.len());
    assert_eq!((view.producer_id(), view.producer_epoch(), view.base_sequence()), (pid, epoch, seq));
    assert_eq!(view.base_timestamp(), recs[0].timestamp);
    assert_eq!(view.max_timestamp(), recs.iter().map(|r| r.timestamp).max().unwrap_or(i64::MIN));
    for (i, (got, want)) in view.records().zip(&recs).enumerate() {
        let got = got.unwrap_or_else(|e| panic!("record {i} of a built batch: {e}"));
        assert_eq!(got.offset, base.wrapping_add(i as i64));
        assert_eq!(got.timestamp_ms, want.timestamp);
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        let headers: Vec<_> = got.headers.iter().map(|h| (h.key, h.value)).collect();
        let expected: Vec<_> = want.headers.iter().map(|&(k, v)| (k, Some(v))).collect();
        assert_eq!(headers, expected);
    }
    Ok(())
}

/// CRC-32C (Castagnoli), bitwise: independent of the `crc32c` crate the parser
/// uses, so a wrong table there would show up as CRC mismatches here.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}
