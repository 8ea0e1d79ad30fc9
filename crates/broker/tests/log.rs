//! The partition log on its own: group commit, fsync policies, rolling, and
//! recovery, through `PartitionLog`'s public API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runnel_broker::log::{FsyncPolicy, LogConfig, PartitionLog};
use runnel_proto::BatchBuilder;

fn batch(first: i64, n: i64) -> bytes::Bytes {
    let mut b = BatchBuilder::new();
    for i in first..first + n {
        b.push(None, Some(format!("value-{i}").as_bytes()), 1_000 + i, &[]);
    }
    b.finish(-1, -1, -1)
}

fn values(log: &PartitionLog, from: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let r = log.read(offset, 1 << 20).unwrap();
        if r.batches.is_empty() {
            return out;
        }
        for b in runnel_proto::batch::batches(&r.batches) {
            for rec in b.unwrap().records() {
                let rec = rec.unwrap();
                out.push((rec.offset, String::from_utf8(rec.value.unwrap().to_vec()).unwrap()));
            }
        }
        offset = r.next_offset;
    }
}

#[tokio::test]
async fn queued_appends_share_one_write_and_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let fsyncs = Arc::new(AtomicU64::new(0));
    let log = PartitionLog::open(dir.path(), LogConfig::default(), Arc::clone(&fsyncs)).unwrap();
    // On this single-threaded runtime the writer cannot run until we wait, so all
    // 50 appends are queued when it wakes: one group, one fsync.
    let mut pending = Vec::new();
    for i in 0..50 {
        pending.push(log.submit(batch(i * 2, 2)).await.unwrap());
    }
    let mut bases = Vec::new();
    for p in pending {
        bases.push(p.wait().await.unwrap().base_offset);
    }
    assert_eq!(bases, (0..50).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(fsyncs.load(Ordering::Relaxed), 1);
    assert_eq!(log.stats().high_watermark, 100);
    log.close().await.unwrap();
}

#[tokio::test]
async fn rolls_segments_by_size_and_reads_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 1024, ..LogConfig::default() };
    let log = PartitionLog::open(dir.path(), config, Arc::default()).unwrap();
    for i in 0..40 {
        log.append(batch(i * 3, 3)).await.unwrap();
    }
    let stats = log.stats();
    assert!(stats.segments > 3, "{stats:?}");
    let got = values(&log, 0);
    assert_eq!(got.len(), 120);
    assert!(got.iter().enumerate().all(|(i, (o, v))| *o == i as i64 && *v == format!("value-{i}")));
    log.close().await.unwrap();
    // Reopened: same content, appends continue at the end.
    let log = PartitionLog::open(dir.path(), config, Arc::default()).unwrap();
    assert_eq!(log.stats().high_watermark, 120);
    assert_eq!(log.append(batch(120, 1)).await.unwrap().base_offset, 120);
    // From inside a batch, the whole batch (99..102) comes first.
    assert_eq!(values(&log, 100).first().map(|v| v.0), Some(99));
    assert_eq!(values(&log, 100).len(), 22);
    log.close().await.unwrap();
}

#[tokio::test]
async fn rolls_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_age: Duration::from_millis(1), ..LogConfig::default() };
    let log = PartitionLog::open(dir.path(), config, Arc::default()).unwrap();
    log.append(batch(0, 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    log.append(batch(1, 1)).await.unwrap();
    assert_eq!(log.stats().segments, 2);
    log.close().await.unwrap();
}

#[tokio::test]
async fn fsync_never_and_interval_acknowledge_and_persist_on_close() {
    for policy in [FsyncPolicy::Never, FsyncPolicy::Interval(Duration::from_millis(5))] {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig { fsync: policy, ..LogConfig::default() };
        let fsyncs = Arc::new(AtomicU64::new(0));
        let log = PartitionLog::open(dir.path(), config, Arc::clone(&fsyncs)).unwrap();
        for i in 0..10 {
            log.append(batch(i, 1)).await.unwrap();
        }
        if policy == FsyncPolicy::Never {
            assert_eq!(fsyncs.load(Ordering::Relaxed), 0, "no fsync per append");
        }
        log.close().await.unwrap();
        let log = PartitionLog::open(dir.path(), config, Arc::default()).unwrap();
        assert_eq!(values(&log, 0).len(), 10, "{policy:?}");
        log.close().await.unwrap();
    }
}

#[tokio::test]
async fn appends_after_close_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(dir.path(), LogConfig::default(), Arc::default()).unwrap();
    log.close().await.unwrap();
    assert!(matches!(log.append(batch(0, 1)).await, Err(runnel_broker::BrokerError::ShuttingDown)));
}

#[tokio::test]
async fn a_torn_batch_in_a_sealed_segment_is_reported_not_silently_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 1024, ..LogConfig::default() };
    let log = PartitionLog::open(dir.path(), config, Arc::default()).unwrap();
    for i in 0..40 {
        log.append(batch(i * 3, 3)).await.unwrap();
    }
    log.close().await.unwrap();
    // Corrupt the first (sealed) segment and remove its index so it is re-verified.
    let first = dir.path().join("00000000000000000000.log");
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    std::fs::remove_file(dir.path().join("00000000000000000000.index")).unwrap();
    let err = PartitionLog::open(dir.path(), config, Arc::default()).unwrap_err();
    assert!(matches!(err, runnel_broker::BrokerError::Corrupt { .. }), "{err}");
}
