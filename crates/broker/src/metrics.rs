//! Counters for `GET /metrics` (Prometheus text format): records and bytes
//! produced and fetched, refused records by reason, fsyncs, active connections,
//! and each partition's high watermark.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::error::BrokerError;
use crate::topics::Topics;

/// The broker's counters; cheap atomics on the hot path.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Records appended.
    pub records_produced: AtomicU64,
    /// Batch bytes appended.
    pub bytes_produced: AtomicU64,
    /// Records sent to consumers.
    pub records_fetched: AtomicU64,
    /// Batch bytes sent to consumers.
    pub bytes_fetched: AtomicU64,
    /// Batches refused, by reason.
    pub refused_invalid_record: AtomicU64,
    /// Corrupt batches refused.
    pub refused_corrupt: AtomicU64,
    /// Batches over the size limits refused.
    pub refused_too_large: AtomicU64,
    /// Batches refused for another reason (unknown topic, sequence, storage).
    pub refused_other: AtomicU64,
    /// Idempotent retries answered as duplicates.
    pub duplicates: AtomicU64,
    /// fsync calls of the partition logs (shared with them).
    pub fsyncs: Arc<AtomicU64>,
    /// Open gRPC connections.
    pub connections: AtomicU64,
    /// Connections refused by the connection limit.
    pub connections_refused: AtomicU64,
}

impl Metrics {
    /// Counts a refused batch under its reason.
    pub fn refused(&self, e: &BrokerError) {
        let c = match e {
            BrokerError::InvalidRecord { .. } => &self.refused_invalid_record,
            BrokerError::Batch(_) => &self.refused_corrupt,
            BrokerError::TooLarge(_) => &self.refused_too_large,
            _ => &self.refused_other,
        };
        c.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, topics: &Topics) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter("runnel_records_produced_total", "Records appended.", self.records_produced.load(Relaxed));
        counter("runnel_bytes_produced_total", "Batch bytes appended.", self.bytes_produced.load(Relaxed));
        counter(
            "runnel_records_fetched_total",
            "Records sent to consumers.",
            self.records_fetched.load(Relaxed),
        );
        counter(
            "runnel_bytes_fetched_total",
            "Batch bytes sent to consumers.",
            self.bytes_fetched.load(Relaxed),
        );
        counter(
            "runnel_duplicate_batches_total",
            "Idempotent retries answered as duplicates.",
            self.duplicates.load(Relaxed),
        );
        counter("runnel_fsyncs_total", "fsync calls of partition logs.", self.fsyncs.load(Relaxed));
        counter(
            "runnel_connections_refused_total",
            "Connections refused by the connection limit.",
            self.connections_refused.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP runnel_refused_batches_total Batches refused, by reason.");
        let _ = writeln!(out, "# TYPE runnel_refused_batches_total counter");
        for (reason, c) in [
            ("invalid_record", &self.refused_invalid_record),
            ("corrupt_batch", &self.refused_corrupt),
            ("too_large", &self.refused_too_large),
            ("other", &self.refused_other),
        ] {
            let _ = writeln!(out, "runnel_refused_batches_total{{reason=\"{reason}\"}} {}", c.load(Relaxed));
        }
        let _ = writeln!(out, "# HELP runnel_active_connections Open gRPC connections.");
        let _ = writeln!(out, "# TYPE runnel_active_connections gauge");
        let _ = writeln!(out, "runnel_active_connections {}", self.connections.load(Relaxed));
        // The standard process gauges, so that memory under load can be watched
        // (and `runnel bench` reports it next to its results).
        if let Some((rss, peak)) = resident_memory() {
            let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.");
            let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
            let _ = writeln!(
                out,
                "# HELP runnel_process_peak_resident_memory_bytes Largest resident memory size since start."
            );
            let _ = writeln!(out, "# TYPE runnel_process_peak_resident_memory_bytes gauge");
            let _ = writeln!(out, "runnel_process_peak_resident_memory_bytes {peak}");
        }
        let _ = writeln!(out, "# HELP runnel_partition_high_watermark Next offset to be written.");
        let _ = writeln!(out, "# TYPE runnel_partition_high_watermark gauge");
        for topic in topics.list() {
            for (p, log) in topic.partitions.iter().enumerate() {
                let s = log.stats();
                let _ = writeln!(
                    out,
                    "runnel_partition_high_watermark{{topic=\"{}\",partition=\"{p}\"}} {}",
                    topic.meta.name, s.high_watermark
                );
            }
        }
        out
    }
}

/// This process's resident memory and its peak, in bytes (`VmRSS`, `VmHWM` of
/// `/proc/self/status`); `None` where there is no such file.
fn resident_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((kib("VmRSS:")? * 1024, kib("VmHWM:")? * 1024))
}
