//! `runnel bench disk`: the physical baseline. Sequential appends to a file in
//! the data directory with an fsync every `bytes_per_fsync` bytes, the way the
//! log writes, so broker results can be printed as a ratio to what the disk
//! itself does in the same run.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::report::{LatencyRecorder, Report};

/// What the disk did.
#[derive(Debug, Clone, Copy)]
pub struct DiskResult {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl DiskResult {
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Appends `total_bytes` to a fresh file under `dir`, fsyncing every
/// `bytes_per_fsync` bytes; records the latency of each write+fsync.
pub fn measure(
    dir: &Path,
    total_bytes: u64,
    bytes_per_fsync: usize,
    latencies: &mut LatencyRecorder,
) -> anyhow::Result<DiskResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("bench-disk-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        // Not all zeroes, so no layer can take a shortcut on them.
        let chunk: Vec<u8> = (0..bytes_per_fsync.max(1)).map(|i| (i * 31 + 7) as u8).collect();
        let start = Instant::now();
        let mut written = 0u64;
        while written < total_bytes {
            let t = Instant::now();
            file.write_all(&chunk).context("disk baseline write failed")?;
            file.sync_data().context("disk baseline fsync failed")?;
            latencies.record(t.elapsed());
            written += chunk.len() as u64;
        }
        Ok(DiskResult { bytes: written, elapsed: start.elapsed() })
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Runs the disk baseline alone and builds its report.
pub fn run(dir: &Path, total_bytes: u64, bytes_per_fsync: usize) -> anyhow::Result<Report> {
    let mut latencies = LatencyRecorder::new();
    let r = measure(dir, total_bytes, bytes_per_fsync, &mut latencies)?;
    let mut report = Report::new("disk");
    report.set("bytes_per_fsync", bytes_per_fsync as u64);
    report.set("bytes", r.bytes);
    report.set("seconds", r.elapsed.as_secs_f64());
    report.set("mb_per_sec", r.mb_per_sec());
    report.set("records_per_sec", (r.bytes / bytes_per_fsync.max(1) as u64) as f64 / r.elapsed.as_secs_f64());
    report.latency(&latencies);
    Ok(report)
}

/// A thread that appends 1 KiB and fsyncs it every `every` in `dir`, recording
/// each write+fsync's latency, until [`FsyncProbe::finish`].
pub struct FsyncProbe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<LatencyRecorder>>,
}

impl FsyncProbe {
    pub fn start(dir: std::path::PathBuf, every: std::time::Duration) -> FsyncProbe {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(format!("fsync-probe-{}.tmp", std::process::id()));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let chunk = [0x5au8; 1024];
            let mut latencies = LatencyRecorder::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                file.write_all(&chunk).context("fsync probe write failed")?;
                file.sync_data().context("fsync probe fsync failed")?;
                latencies.record(t.elapsed());
                std::thread::sleep(every);
            }
            drop(file);
            let _ = std::fs::remove_file(&path);
            Ok(latencies)
        });
        FsyncProbe { stop, thread }
    }

    /// Stops the probe; the latencies it saw.
    pub fn finish(self) -> anyhow::Result<LatencyRecorder> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().map_err(|_| anyhow::anyhow!("the fsync probe thread panicked"))?
    }
}
