//! One task per function: the effectively-once loop.
//!
//! Each turn reads what is committed of every input partition from the
//! function's position (the committed offsets of group `__function.<name>`),
//! applies the built-in to each record, and commits in one transaction (id
//! `__function.<name>`): the outputs, as transactional batches; the records it
//! could not process, to `<name>-dlq` with the error in headers; and the next
//! input offsets. A crash, of the task or of the server, leaves either all of
//! a turn or none of it: an open transaction is aborted when the next
//! `init_producer` of the same id fences it (the restarted task's first step),
//! and the position is where the last committed turn left it. A failed turn
//! is aborted and retried from the committed position after a pause that
//! doubles while turns keep failing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use runnel_proto::partition::partition_for_key;
use runnel_proto::BatchBuilder;
use tokio_util::sync::CancellationToken;

use super::builtin::{latest, Applier, Compiled, FunctionSpec, Outcome};
use super::Services;
use crate::error::BrokerError;
use crate::log::txn;
use crate::topics::TopicMeta;

/// Bytes read per partition per turn.
const READ_BYTES: usize = 1 << 20;
/// How long an idle function waits before looking at its input again (a new
/// record wakes it sooner).
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// Pause after a failed turn, doubled after each failure in a row up to
/// [`MAX_RETRY_PAUSE`] (an input deleted under a function fails every turn).
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between failed turns.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);
/// The transaction timeout: a turn left open by a crash is aborted after it.
const TXN_TIMEOUT_MS: i32 = 60_000;

/// Header on a dead-lettered record: why the function could not process it.
pub const HEADER_ERROR: &str = "runnel-function-error";
/// Header: the function.
pub const HEADER_FUNCTION: &str = "runnel-function-name";
/// Header: where the record was read (`topic/partition/offset`).
pub const HEADER_SOURCE: &str = "runnel-function-source";

/// The consumer group holding a function's input position.
pub fn group_of(name: &str) -> String {
    format!("__function.{name}")
}

fn txn_id_of(name: &str) -> String {
    format!("__function.{name}")
}

/// Counters and state a runner shares with the status calls.
#[derive(Debug, Default)]
pub struct Stats {
    pub running: AtomicBool,
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, e: impl std::fmt::Display) {
        *self.last_error.lock() = Some(e.to_string());
    }
}

/// A running function.
pub struct Runner {
    pub spec: FunctionSpec,
    pub stats: Arc<Stats>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Runner {
    /// Starts the function's task.
    pub fn start(spec: FunctionSpec, services: Services, stop: CancellationToken) -> Runner {
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(run(spec.clone(), services, stats.clone(), stop.clone()));
        Runner { spec, stats, stop, task }
    }

    /// Stops the task and waits for it (an open turn is aborted).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Input records not yet processed: each partition's last stable offset
/// less the function's position.
pub fn lag(services: &Services, spec: &FunctionSpec) -> i64 {
    let Ok(topic) = services.topics.get(&spec.input) else { return 0 };
    let committed = services.groups.committed(&group_of(&spec.name), &spec.input).unwrap_or_default();
    topic
        .partitions
        .iter()
        .enumerate()
        .map(|(p, log)| {
            let s = log.stats();
            let pos =
                committed.iter().find(|(q, _)| *q as usize == p).map_or(s.log_start_offset, |(_, o)| *o);
            (log.last_stable_offset() - pos.max(s.log_start_offset)).max(0)
        })
        .sum()
}

async fn run(spec: FunctionSpec, services: Services, stats: Arc<Stats>, stop: CancellationToken) {
    let mut pause = RETRY_PAUSE;
    while !stop.is_cancelled() {
        stats.running.store(true, Relaxed);
        let processed_before = stats.processed.load(Relaxed);
        let result = session(&spec, &services, &stats, &stop).await;
        stats.running.store(false, Relaxed);
        match result {
            Ok(()) => return,
            Err(e) => {
                if stats.processed.load(Relaxed) > processed_before {
                    pause = RETRY_PAUSE;
                }
                tracing::warn!(function = %spec.name, error = %e, retry_in = ?pause, "function turn failed");
                stats.error(&e);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}

/// One owned input record.
struct Input {
    partition: u32,
    offset: i64,
    timestamp_ms: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Bytes)>,
}

/// Runs turns until stopped (Ok) or a turn fails (Err: the caller retries).
async fn session(
    spec: &FunctionSpec,
    s: &Services,
    stats: &Stats,
    stop: &CancellationToken,
) -> Result<(), BrokerError> {
    let input = s.topics.get(&spec.input)?;
    let reader = latest(&s.registry, &input.meta.config.value_subject, &spec.input)?;
    let mut applier = Applier::new(spec.builtin.clone(), Compiled::new(&spec.builtin, &reader)?);
    let (txn_id, group) = (txn_id_of(&spec.name), group_of(&spec.name));
    let fenced = |e: crate::transactions::TxnError| BrokerError::Fenced(e.to_string());
    // Fences an earlier task of this function and aborts what it left open.
    let (pid, epoch) = s.transactions.init_producer(&txn_id, TXN_TIMEOUT_MS, None).await.map_err(fenced)?;
    let parts = input.partitions.len();
    let committed = s.groups.committed(&group, &spec.input)?;
    let mut positions: Vec<i64> =
        (0..parts).map(|p| committed.iter().find(|(q, _)| *q as usize == p).map_or(0, |(_, o)| *o)).collect();
    let mut sequences: BTreeMap<(String, u32), i32> = BTreeMap::new();
    let mut watches: Vec<_> = input.partitions.iter().map(|l| l.watch_high_watermark()).collect();
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        // Read what is committed of every partition.
        let mut records = Vec::new();
        let mut next = positions.clone();
        for p in 0..parts {
            let log = Arc::clone(&input.partitions[p]);
            let pos = positions[p];
            let read = tokio::task::spawn_blocking(move || {
                log.read_committed(pos, READ_BYTES).map(|c| {
                    let mut read = c.read;
                    read.batches = txn::committed_only(&read.batches, &c.aborted);
                    read
                })
            })
            .await
            .map_err(|e| BrokerError::Storage(e.to_string()))?;
            let read = match read {
                Ok(r) => r,
                Err(BrokerError::OffsetOutOfRange { log_start, high_watermark, .. }) => {
                    // Retention removed records not yet processed: go on from what is left.
                    next[p] = pos.clamp(log_start, high_watermark);
                    continue;
                }
                Err(e) => return Err(e),
            };
            next[p] = next[p].max(read.next_offset);
            for batch in runnel_proto::batch::batches(&read.batches) {
                let batch = batch?;
                for r in batch.records() {
                    let r = r?;
                    if r.offset < pos {
                        continue;
                    }
                    let owned = |b: Option<&[u8]>| b.map(|b| read.batches.slice_ref(b));
                    records.push(Input {
                        partition: p as u32,
                        offset: r.offset,
                        timestamp_ms: r.timestamp_ms,
                        key: owned(r.key),
                        value: owned(r.value),
                        headers: r
                            .headers
                            .into_iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    h.value.map(|v| read.batches.slice_ref(v)).unwrap_or_default(),
                                )
                            })
                            .collect(),
                    });
                    next[p] = next[p].max(r.offset + 1);
                }
            }
        }
        if next == positions {
            // Nothing new: wait for a partition to grow (or a while).
            let changed = futures::future::select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = changed => {}
                _ = tokio::time::sleep(IDLE_WAIT) => {}
            }
            continue;
        }

        // Apply; the outputs grouped into one batch per partition.
        let mut outputs: BTreeMap<(String, u32), BatchBuilder> = BTreeMap::new();
        let (mut processed, mut failed) = (0u64, 0u64);
        for rec in &records {
            let targets = match applier.apply(&s.registry, rec.value.as_deref()) {
                Ok(Outcome::Drop) => Vec::new(),
                Ok(Outcome::Write(values)) => {
                    let mut targets = Vec::with_capacity(values.len());
                    let mut refused = None;
                    for (topic, value) in values {
                        match output_partition(s, &input.meta, &topic, rec).await {
                            Ok((stored, partition)) => targets.push((stored, partition, value, None)),
                            Err(e) => refused = Some(e.to_string()),
                        }
                    }
                    match refused {
                        None => targets,
                        Some(e) => vec![dead_letter(s, spec, &input.meta, stats, rec, &e).await?],
                    }
                }
                Err(e) => vec![dead_letter(s, spec, &input.meta, stats, rec, &e).await?],
            };
            processed += 1;
            for (topic, partition, value, error) in targets {
                if error.is_some() {
                    failed += 1;
                }
                let mut headers: Vec<(&str, &[u8])> =
                    rec.headers.iter().map(|(k, v)| (k.as_str(), v.as_ref())).collect();
                let source = format!("{}/{}/{}", spec.input, rec.partition, rec.offset);
                if let Some(e) = &error {
                    headers.extend([
                        (HEADER_FUNCTION, spec.name.as_bytes()),
                        (HEADER_ERROR, e.as_bytes()),
                        (HEADER_SOURCE, source.as_bytes()),
                    ]);
                }
                outputs.entry((topic, partition)).or_default().push(
                    rec.key.as_deref(),
                    Some(&value),
                    rec.timestamp_ms,
                    &headers,
                );
            }
        }

        // Commit the turn: outputs, dead letters and positions in one transaction.
        let turn: Result<(), BrokerError> = async {
            if !outputs.is_empty() {
                let partitions: Vec<(String, u32)> = outputs.keys().cloned().collect();
                s.transactions.add_partitions(&txn_id, pid, epoch, &partitions).await.map_err(fenced)?;
            }
            for ((topic, partition), batch) in std::mem::take(&mut outputs) {
                let n = batch.len() as i32;
                let seq = sequences.entry((topic.clone(), partition)).or_insert(0);
                let bytes = batch.finish_transactional(pid, epoch, *seq);
                s.append.produce(&topic, partition, bytes).await?;
                *seq = seq.wrapping_add(n);
            }
            s.transactions.add_offsets(&txn_id, pid, epoch, &group).await.map_err(fenced)?;
            let offsets: Vec<(String, u32, i64)> =
                next.iter().enumerate().map(|(p, o)| (spec.input.clone(), p as u32, *o)).collect();
            s.transactions.commit_offsets(&txn_id, pid, epoch, &group, &offsets).await.map_err(fenced)?;
            s.transactions.end(&txn_id, pid, epoch, true).await.map_err(fenced)?;
            Ok(())
        }
        .await;
        if let Err(e) = turn {
            let _ = s.transactions.end(&txn_id, pid, epoch, false).await;
            return Err(e);
        }
        positions = next;
        stats.processed.fetch_add(processed, Relaxed);
        stats.failed.fetch_add(failed, Relaxed);
    }
}

/// The topic (stored name) and partition an output record goes to: by its key
/// as Kafka's default partitioner puts it, else the input's partition. A
/// route's topics are created as needed, bound like the input.
async fn output_partition(
    s: &Services,
    input: &TopicMeta,
    topic: &str,
    rec: &Input,
) -> Result<(String, u32), BrokerError> {
    let t = s.topics.get_or_create_like(topic, input, input.config.partitions).await?;
    let n = t.partitions.len().max(1) as u32;
    let partition = match &rec.key {
        Some(k) => partition_for_key(k, n),
        None => rec.partition % n,
    };
    Ok((t.meta.name.clone(), partition))
}

/// Where a record the function could not process goes: `<name>-dlq`
/// (created like the input), with the error.
async fn dead_letter(
    s: &Services,
    spec: &FunctionSpec,
    input: &TopicMeta,
    stats: &Stats,
    rec: &Input,
    error: &str,
) -> Result<(String, u32, Bytes, Option<String>), BrokerError> {
    tracing::debug!(function = %spec.name, partition = rec.partition, offset = rec.offset, error, "dead-lettered");
    stats.error(format!("{}/{}/{}: {error}", spec.input, rec.partition, rec.offset));
    let dlq = format!("{}-dlq", spec.name);
    let (topic, partition) = output_partition(s, input, &dlq, rec).await?;
    Ok((topic, partition, rec.value.clone().unwrap_or_default(), Some(error.to_owned())))
}
