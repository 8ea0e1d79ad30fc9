//! Disk full: an append whose write fails (ENOSPC) is refused with a retryable
//! UNAVAILABLE status, nothing acknowledged is lost, and appends resume without
//! a restart once space returns.
//!
//! The normal suite injects the error at the write call (the log's
//! `set_write_fault` hook, filtered to each test's own directory). The
//! `#[ignore]`d test fills a real 4 MiB tmpfs; `scripts/disk-full.sh` runs it
//! (it needs root to mount).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use common::*;
use runnel_broker::log::set_write_fault;
use runnel_proto::v1::{InitProducerRequest, ProduceRequest, TopicConfig};
use runnel_proto::BatchBuilder;
use tonic::Code;

const ENOSPC: i32 = 28;

fn produce(topic: &str, batch: bytes::Bytes) -> ProduceRequest {
    ProduceRequest { correlation_id: 0, topic: topic.into(), partition: 0, batch }
}

/// Directories whose segment writes currently fail with ENOSPC.
static FULL_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Makes every segment write under `dir` fail with ENOSPC (`full`) or succeed.
/// The log's hook is process-wide: one hook is installed and consults the list
/// of full directories, so tests running in parallel stay apart.
fn set_disk_full(dir: &Path, full: bool) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        set_write_fault(Some(Arc::new(|path: &Path| {
            let full = FULL_DIRS.lock().unwrap_or_else(|e| e.into_inner());
            if full.iter().any(|d| path.starts_with(d)) {
                Err(std::io::Error::from_raw_os_error(ENOSPC))
            } else {
                Ok(())
            }
        })));
    });
    let mut dirs = FULL_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    dirs.retain(|d| d != dir);
    if full {
        dirs.push(dir.to_path_buf());
    }
}

fn assert_disk_full(status: &tonic::Status) {
    assert_eq!(status.code(), Code::Unavailable, "retryable status: {status:?}");
    assert!(status.message().starts_with("storage failure: write "), "message: {}", status.message());
    assert!(status.message().contains("No space left on device"), "message: {}", status.message());
}

#[tokio::test]
async fn full_disk_refuses_appends_retryably_and_they_resume_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("full", 1, TopicConfig::default()).await;

    let first = h.broker.produce(produce("full", users(id, 0..10, 1_000))).await.unwrap().into_inner();
    assert_eq!(first.base_offset, 0);

    set_disk_full(dir.path(), true);
    for _ in 0..3 {
        let refused = h.broker.produce(produce("full", users(id, 100..105, 1_000))).await.unwrap_err();
        assert_disk_full(&refused);
    }
    // Reads keep being served while the disk is full.
    assert_eq!(ages(&h.read_all("full", 0, 0).await).len(), 10);

    set_disk_full(dir.path(), false);
    let resumed = h.broker.produce(produce("full", users(id, 10..20, 1_000))).await.unwrap().into_inner();
    assert_eq!(resumed.base_offset, 10, "the refused batches took no offsets");
    let want: Vec<(i64, i32)> = (0..20).map(|i| (i64::from(i), i)).collect();
    assert_eq!(ages(&h.read_all("full", 0, 0).await), want);

    // And after a restart: the log holds exactly the acknowledged records.
    h.server.shutdown().await.unwrap();
    let mut h = start(dir.path()).await;
    assert_eq!(ages(&h.read_all("full", 0, 0).await), want);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotent_batch_refused_by_a_full_disk_is_appended_on_retry_not_called_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path()).await;
    let id = h.topic("idem", 1, TopicConfig::default()).await;
    let p = h.broker.init_producer(InitProducerRequest {}).await.unwrap().into_inner();
    let mk = |seq: i32, n: i32| {
        let mut b = BatchBuilder::new();
        for i in 0..n {
            b.push(None, Some(&framed(id, &user_body("x", seq + i))), 1_000, &[]);
        }
        b.finish(p.producer_id, p.epoch as i16, seq)
    };
    let first = h.broker.produce(produce("idem", mk(0, 3))).await.unwrap().into_inner();
    assert!(!first.duplicate);

    set_disk_full(dir.path(), true);
    assert_disk_full(&h.broker.produce(produce("idem", mk(3, 2))).await.unwrap_err());
    set_disk_full(dir.path(), false);

    let retry = h.broker.produce(produce("idem", mk(3, 2))).await.unwrap().into_inner();
    assert!(!retry.duplicate, "the refused batch was never written");
    assert_eq!(retry.base_offset, 3);
    let again = h.broker.produce(produce("idem", mk(3, 2))).await.unwrap().into_inner();
    assert!(again.duplicate, "a second retry is a duplicate of the appended one");
    assert_eq!(again.base_offset, 3);
    let want: Vec<(i64, i32)> = (0..5).map(|i| (i64::from(i), i)).collect();
    assert_eq!(ages(&h.read_all("idem", 0, 0).await), want);
    h.server.shutdown().await.unwrap();
}

/// A real full filesystem: a 4 MiB tmpfs with a 1 MiB filler file. Produces
/// until the broker refuses, checks the refusal, frees the filler, produces
/// again, restarts and checks that every acknowledged record is there exactly
/// once. Needs root (mount); run by `scripts/disk-full.sh`.
#[tokio::test]
#[ignore = "mounts a tmpfs: needs root; run by scripts/disk-full.sh"]
async fn real_full_tmpfs_refuses_retryably_loses_nothing_and_resumes() {
    let mnt = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(mnt.path())
        .status()
        .expect("run mount");
    assert!(status.success(), "mount tmpfs (needs root)");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let data = mnt.path().join("data");
    let filler = mnt.path().join("filler");
    std::fs::write(&filler, vec![1u8; 1 << 20]).unwrap();

    let mut h = start(&data).await;
    let id = h.topic("tmpfs", 1, TopicConfig::default()).await;
    let mut acked = 0i32;
    let refused = loop {
        let batch = users(id, acked..acked + 500, 1_000);
        match h.broker.produce(produce("tmpfs", batch)).await {
            Ok(r) => {
                assert_eq!(r.into_inner().base_offset, i64::from(acked));
                acked += 500;
            }
            Err(status) => break status,
        }
        assert!(acked < 1_000_000, "the 4 MiB filesystem never filled up");
    };
    eprintln!("disk full after {acked} records: {}", refused.message());
    assert_disk_full(&refused);

    std::fs::remove_file(&filler).unwrap();
    let resumed = h.broker.produce(produce("tmpfs", users(id, acked..acked + 500, 1_000))).await;
    let resumed = resumed.expect("appends resume once space returns").into_inner();
    assert_eq!(resumed.base_offset, i64::from(acked));
    acked += 500;
    let want: Vec<(i64, i32)> = (0..acked).map(|i| (i64::from(i), i)).collect();
    assert_eq!(ages(&h.read_all("tmpfs", 0, 0).await), want);
    h.server.shutdown().await.unwrap();
    let mut h = start(&data).await;
    assert_eq!(ages(&h.read_all("tmpfs", 0, 0).await), want);
    h.server.shutdown().await.unwrap();
}
