//! The partition log: segments of RecordBatch v2 bytes on disk, one writer task
//! per partition doing group commit, and lock-light readers.
//!
//! Appends go through a bounded channel to the partition's writer task. The task
//! takes every append waiting, assigns offsets (each batch's base offset is
//! rewritten on the way: small batches are copied into one write buffer, large
//! ones written from where they were received, `group.rs`), writes the group with
//! one `pwritev`, fsyncs once (per the fsync policy), then publishes the new high
//! watermark and acknowledges every append of the group. Readers see only
//! published bytes, so nothing that could still be lost is ever served.
//!
//! The format on disk is described byte by byte in `docs/log-format.md`.

mod group;
pub mod index;
pub mod producers;
pub mod recovery;
pub mod segment;
pub mod start;
pub mod txn;

use group::GroupBytes;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use runnel_proto::batch::{self, BatchView};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::BrokerError;
use producers::{ProducerStates, SeqCheck};
use segment::Segment;
use txn::{TxnEvent, TxnIndex};

/// When the log fsyncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before acknowledging, shared by every append of a group commit.
    Always,
    /// Every interval; appends are acknowledged after the write.
    Interval(Duration),
    /// Never explicitly (on roll and close only); the OS decides.
    Never,
}

/// A partition log's settings (from its topic's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll the active segment when it would grow past this many bytes.
    pub segment_bytes: u64,
    /// Roll the active segment when it is older than this.
    pub segment_age: Duration,
    /// Delete sealed segments whose newest record is older than this (ms); -1 = keep.
    pub retention_ms: i64,
    /// Delete the oldest sealed segments while the partition is larger; ≤ 0 = unlimited.
    pub retention_bytes: i64,
    /// The durability policy.
    pub fsync: FsyncPolicy,
    /// Bytes between two offset index entries.
    pub index_interval_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 128 << 20,
            segment_age: Duration::from_secs(7 * 24 * 3600),
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            fsync: FsyncPolicy::Always,
            index_interval_bytes: 4096,
        }
    }
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Records in the batch.
    pub record_count: u32,
    /// The broker's clock when the batch was appended (ms since the epoch).
    pub log_append_time_ms: i64,
    /// True when this was an idempotent retry of a batch already in the log.
    pub duplicate: bool,
}

/// Bytes read from the log.
#[derive(Debug, Clone)]
pub struct ReadResult {
    /// Whole batches, concatenated, as stored.
    pub batches: Bytes,
    /// Where the next read continues.
    pub next_offset: i64,
    /// The partition's high watermark when read.
    pub high_watermark: i64,
    /// The first stored offset when read.
    pub log_start_offset: i64,
}

/// Size and shape of a partition, for describe and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// First stored offset.
    pub log_start_offset: i64,
    /// Next offset to be written (visible end).
    pub high_watermark: i64,
    /// Bytes in all segments.
    pub size_bytes: u64,
    /// Number of segments.
    pub segments: u32,
}

/// A queued append; [`wait`](Self::wait) resolves once it is durable.
#[derive(Debug)]
pub struct PendingAppend {
    rx: oneshot::Receiver<Result<Appended, BrokerError>>,
}

impl PendingAppend {
    /// Waits for the append's outcome.
    pub async fn wait(self) -> Result<Appended, BrokerError> {
        self.rx.await.map_err(|_| BrokerError::ShuttingDown)?
    }
}

struct AppendRequest {
    /// The batch as received; copied into the write buffer if it is small.
    batch: Bytes,
    reply: oneshot::Sender<Result<Appended, BrokerError>>,
}

/// State shared by the writer and the readers.
struct State {
    segments: BTreeMap<i64, Segment>,
    /// Next offset the writer assigns (≥ high watermark while a write is in flight).
    log_end: i64,
    /// Offset after the last published batch.
    high_watermark: i64,
    producers: ProducerStates,
    /// Open and aborted transactions (`txn.rs`), updated when a group is published.
    txns: TxnIndex,
    /// Set after a failed write or fsync: the file's state is unknown, refuse appends.
    failed: Option<String>,
    /// The start offset set by DeleteRecords (`start.rs`); see [`State::log_start`].
    start: i64,
}

impl State {
    /// The first offset readers may ask for: the stored start or the first segment's base,
    /// whichever is later (`start.rs` states the invariant).
    fn log_start(&self) -> i64 {
        self.segments.values().next().map_or(0, |s| s.base_offset).max(self.start)
    }
}

/// One partition's log.
pub struct PartitionLog {
    dir: PathBuf,
    config: Mutex<LogConfig>,
    state: Mutex<State>,
    /// The high watermark, for long-polling readers.
    hw_tx: watch::Sender<i64>,
    /// To the writer task; `None` once closed.
    tx: Mutex<Option<mpsc::Sender<AppendRequest>>>,
    writer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Counts fsyncs, for metrics.
    fsyncs: Arc<std::sync::atomic::AtomicU64>,
    /// Serializes DeleteRecords calls: each stores the start file before publishing it.
    start_admin: Mutex<()>,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// A fault to inject before segment writes (tests only): called with the
/// segment's path; an `Err` is returned as if the write had failed.
#[doc(hidden)]
pub type WriteFault = Arc<dyn Fn(&Path) -> std::io::Result<()> + Send + Sync>;

/// Whether a write fault is installed: one relaxed load per group write, so the
/// hook costs nothing when unset.
static WRITE_FAULT_SET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static WRITE_FAULT: Mutex<Option<WriteFault>> = Mutex::new(None);

/// Installs (or with `None` removes) the process-wide write fault hook. For
/// tests of disk-full handling; the hook should filter on the path, since
/// every log in the process consults it.
#[doc(hidden)]
pub fn set_write_fault(fault: Option<WriteFault>) {
    let set = fault.is_some();
    *WRITE_FAULT.lock() = fault;
    WRITE_FAULT_SET.store(set, std::sync::atomic::Ordering::Release);
}

fn injected_fault(path: &Path) -> std::io::Result<()> {
    if !WRITE_FAULT_SET.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let fault = WRITE_FAULT.lock().clone();
    fault.map_or(Ok(()), |f| f(path))
}

/// Most bytes one group commit writes at once.
const MAX_GROUP_BYTES: usize = 16 << 20;
/// Appends waiting for the writer before producers are slowed down.
const QUEUE_DEPTH: usize = 4096;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl PartitionLog {
    /// Opens (recovering) or creates the log in `dir` and starts its writer task.
    /// Must be called inside a tokio runtime.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        fsyncs: Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Arc<PartitionLog>, BrokerError> {
        let rec = recovery::recover(dir, config.index_interval_bytes)?;
        if rec.truncated_bytes > 0 {
            tracing::warn!(dir = %dir.display(), bytes = rec.truncated_bytes, "recovery truncated a torn tail");
        }
        let end = rec.segments.values().next_back().map_or(0, |s| s.next_offset);
        let stored_start = start::load(dir)?;
        if stored_start > end {
            tracing::warn!(dir = %dir.display(), stored_start, end, "log ends below its stored start; start clamped to the end");
        }
        let (hw_tx, _) = watch::channel(end);
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let log = Arc::new(PartitionLog {
            dir: dir.to_path_buf(),
            config: Mutex::new(config),
            state: Mutex::new(State {
                segments: rec.segments,
                log_end: end,
                high_watermark: end,
                producers: rec.producers,
                txns: rec.txns,
                failed: None,
                start: stored_start.min(end),
            }),
            hw_tx,
            tx: Mutex::new(Some(tx)),
            writer: Mutex::new(None),
            fsyncs,
            start_admin: Mutex::new(()),
        });
        let handle = tokio::spawn(writer_loop(Arc::clone(&log), rx));
        *log.writer.lock() = Some(handle);
        Ok(log)
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replaces the settings (retention, fsync, segment size).
    pub fn set_config(&self, config: LogConfig) {
        *self.config.lock() = config;
    }

    /// Appends one batch (already checked by the caller: CRC, records, schema) and
    /// waits until it is durable per the fsync policy.
    pub async fn append(&self, batch: Bytes) -> Result<Appended, BrokerError> {
        self.submit(batch).await?.wait().await
    }

    /// Queues one batch for the writer and returns without waiting for it to be
    /// written: batches submitted one after another are appended in that order,
    /// which lets a stream pipeline many batches of one partition.
    pub async fn submit(&self, batch: Bytes) -> Result<PendingAppend, BrokerError> {
        let tx = self.tx.lock().clone().ok_or(BrokerError::ShuttingDown)?;
        let (reply, rx) = oneshot::channel();
        tx.send(AppendRequest { batch, reply }).await.map_err(|_| BrokerError::ShuttingDown)?;
        Ok(PendingAppend { rx })
    }

    /// Watches the high watermark (for long polls).
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.hw_tx.subscribe()
    }

    /// Log start, high watermark, size and segment count.
    pub fn stats(&self) -> LogStats {
        let st = self.state.lock();
        LogStats {
            log_start_offset: st.log_start(),
            high_watermark: st.high_watermark,
            size_bytes: st.segments.values().map(|s| s.size).sum(),
            segments: st.segments.len() as u32,
        }
    }

    /// Reads whole batches from the one holding `offset`, up to `max_bytes` (but at
    /// least one batch). Empty at the high watermark. Blocking (`pread`): call it
    /// from a blocking context.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, BrokerError> {
        let (file, path, start_pos, seg_size, log_start, hw) = {
            let st = self.state.lock();
            let log_start = st.log_start();
            let hw = st.high_watermark;
            if offset < log_start || offset > hw {
                return Err(BrokerError::OffsetOutOfRange { offset, log_start, high_watermark: hw });
            }
            let empty = ReadResult {
                batches: Bytes::new(),
                next_offset: offset,
                high_watermark: hw,
                log_start_offset: log_start,
            };
            if offset == hw {
                return Ok(empty);
            }
            let Some((_, seg)) = st.segments.range(..=offset).next_back() else { return Ok(empty) };
            let rel = u32::try_from(offset - seg.base_offset).unwrap_or(u32::MAX);
            (Arc::clone(&seg.file), seg.path.clone(), seg.index.floor(rel), seg.size, log_start, hw)
        };
        let io = |e| BrokerError::io("read", &path, e);
        // Walk batch headers from the index entry to the batch holding `offset`.
        let mut pos = start_pos;
        let first = loop {
            match segment::read_header(&file, pos, seg_size).map_err(io)? {
                None => {
                    return Ok(ReadResult {
                        batches: Bytes::new(),
                        next_offset: offset,
                        high_watermark: hw,
                        log_start_offset: log_start,
                    })
                }
                Some(h) if h.next_offset > offset => break h,
                Some(h) => pos += h.size,
            }
        };
        // One pread of up to max_bytes, trimmed to whole batches; at least the first.
        let want = (seg_size - pos).min(max_bytes.max(first.size as usize) as u64) as usize;
        let mut buf = segment::read_exact(&file, pos, want).map_err(io)?;
        let mut used = 0;
        let mut next_offset = offset;
        for b in batch::batches(&buf) {
            match b {
                Ok(view) => {
                    used += view.size();
                    next_offset = view.next_offset();
                }
                Err(_) => break, // a partial batch at the end of the read: left for the next
            }
        }
        if used == 0 {
            return Err(BrokerError::Corrupt {
                path,
                position: pos,
                reason: "published bytes do not parse as a batch".into(),
            });
        }
        buf.truncate(used);
        Ok(ReadResult {
            batches: Bytes::from(buf),
            next_offset,
            high_watermark: hw,
            log_start_offset: log_start,
        })
    }

    /// The first offset whose record timestamp is ≥ `timestamp_ms` (the high
    /// watermark if none is). Blocking.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<i64, BrokerError> {
        let (candidates, hw, log_start) = {
            let st = self.state.lock();
            let c: Vec<_> = st
                .segments
                .values()
                .filter(|s| s.max_timestamp >= timestamp_ms)
                .map(|s| {
                    let rel = s.time_index.scan_start(timestamp_ms);
                    (Arc::clone(&s.file), s.path.clone(), s.index.floor(rel), s.size)
                })
                .collect();
            (c, st.high_watermark, st.log_start())
        };
        for (file, path, mut pos, size) in candidates {
            while let Some(h) =
                segment::read_header(&file, pos, size).map_err(|e| BrokerError::io("read", &path, e))?
            {
                if h.max_timestamp >= timestamp_ms {
                    let bytes = segment::read_exact(&file, pos, h.size as usize)
                        .map_err(|e| BrokerError::io("read", &path, e))?;
                    let view = BatchView::parse(&bytes)?;
                    for r in view.records() {
                        let r = r?;
                        // Records below the log start are not readable any more.
                        if r.timestamp_ms >= timestamp_ms && r.offset >= log_start {
                            return Ok(r.offset);
                        }
                    }
                }
                pos += h.size;
            }
        }
        Ok(hw)
    }

    /// Deletes sealed segments past the retention limits (never the active one).
    /// Returns how many were deleted.
    pub fn apply_retention(&self) -> Result<usize, BrokerError> {
        let config = *self.config.lock();
        let now = now_ms();
        let removed: Vec<Segment> = {
            let mut st = self.state.lock();
            let mut total: u64 = st.segments.values().map(|s| s.size).sum();
            let mut doomed = Vec::new();
            let sealed: Vec<i64> = st.segments.keys().copied().collect();
            let log_start = st.log_start();
            for base in sealed.iter().take(sealed.len().saturating_sub(1)) {
                let seg = &st.segments[base];
                // Wholly below the start set by DeleteRecords: nothing in it is readable.
                let below_start = seg.next_offset <= log_start;
                let too_old = config.retention_ms >= 0
                    && seg.max_timestamp != i64::MIN
                    && seg.max_timestamp < now.saturating_sub(config.retention_ms);
                let too_big = config.retention_bytes > 0 && total > config.retention_bytes as u64;
                if !(too_old || too_big || below_start) {
                    break;
                }
                total -= seg.size;
                doomed.push(*base);
            }
            let removed: Vec<Segment> = doomed.iter().filter_map(|b| st.segments.remove(b)).collect();
            let log_start = st.segments.values().next().map_or(0, |s| s.base_offset);
            st.txns.forget_below(log_start);
            removed
        };
        for seg in &removed {
            tracing::info!(path = %seg.path.display(), "retention deleted segment");
            seg.delete_files()?;
        }
        Ok(removed.len())
    }

    /// Stops the writer after it has written and fsynced everything queued, and
    /// writes the indexes. Appends after this fail with `ShuttingDown`.
    pub async fn close(&self) -> Result<(), BrokerError> {
        drop(self.tx.lock().take());
        let handle = self.writer.lock().take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        let segs: Vec<(Arc<std::fs::File>, PathBuf)> = {
            let st = self.state.lock();
            st.segments.values().map(|s| (Arc::clone(&s.file), s.path.clone())).collect()
        };
        for (file, path) in segs {
            file.sync_all().map_err(|e| BrokerError::io("fsync", &path, e))?;
        }
        let st = self.state.lock();
        for s in st.segments.values() {
            s.write_indexes()?;
        }
        Ok(())
    }
}

/// A group of appends being written together.
struct Group {
    file: Arc<std::fs::File>,
    path: PathBuf,
    position: u64,
    bytes: GroupBytes,
    /// (position in the group, len, base offset, next offset, max timestamp) per written batch.
    written: Vec<(usize, usize, i64, i64, i64)>,
    replies: Vec<(oneshot::Sender<Result<Appended, BrokerError>>, Appended)>,
    /// What the group's transactional batches do to the transaction index, applied
    /// only once the group is published.
    txn_events: Vec<TxnEvent>,
}

async fn writer_loop(log: Arc<PartitionLog>, mut rx: mpsc::Receiver<AppendRequest>) {
    let mut pending: VecDeque<AppendRequest> = VecDeque::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut dirty = false;
    let interval = match log.config.lock().fsync {
        FsyncPolicy::Interval(d) => d.max(Duration::from_millis(1)),
        _ => Duration::from_secs(3600),
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if pending.is_empty() {
            tokio::select! {
                req = rx.recv() => match req {
                    Some(r) => pending.push_back(r),
                    None => break,
                },
                _ = tick.tick() => {
                    if dirty && matches!(log.config.lock().fsync, FsyncPolicy::Interval(_)) {
                        dirty = false;
                        let _ = sync_active(&log).await;
                    }
                    continue;
                }
            }
        }
        let mut queued: usize = pending.iter().map(|r| r.batch.len()).sum();
        while queued < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(r) => {
                    queued += r.batch.len();
                    pending.push_back(r);
                }
                Err(_) => break,
            }
        }
        buf.clear();
        let group = plan_group(&log, &mut pending, std::mem::take(&mut buf));
        if let Some(group) = group {
            dirty |= !group.written.is_empty();
            buf = commit_group(&log, group).await;
        }
    }
    // Channel closed: everything queued was written by the loop above.
    if dirty {
        let _ = sync_active(&log).await;
    }
}

/// Takes appends from `pending` into one write, assigning offsets. Appends that
/// fail their checks are answered at once; the group stops before an append that
/// needs a new segment (the next group rolls).
fn plan_group(log: &PartitionLog, pending: &mut VecDeque<AppendRequest>, buf: Vec<u8>) -> Option<Group> {
    let mut bytes = GroupBytes::with_buffer(buf);
    let config = *log.config.lock();
    let mut st = log.state.lock();
    if let Some(reason) = &st.failed {
        for r in pending.drain(..) {
            let _ = r.reply.send(Err(BrokerError::Storage(reason.clone())));
        }
        return None;
    }
    let mut written = Vec::new();
    let mut replies = Vec::new();
    let mut txn_events = Vec::new();
    let append_time = now_ms();
    while let Some(req) = pending.pop_front() {
        // The produce path verified the CRC; only the header is read here.
        let Ok((view, _)) = BatchView::parse_prefix_verified(&req.batch) else {
            let _ =
                req.reply.send(Err(BrokerError::InvalidArgument("unparsable batch reached the log".into())));
            continue;
        };
        let count = view.record_count() as i32;
        let (pid, epoch, seq) = (view.producer_id(), view.producer_epoch(), view.base_sequence());
        let checked = if view.is_control() {
            st.producers.check_marker(pid, epoch)
        } else {
            st.producers.check(pid, epoch, seq, count)
        };
        match checked {
            Err(e) => {
                let _ = req.reply.send(Err(e));
                continue;
            }
            Ok(SeqCheck::Duplicate(base_offset)) => {
                // Acknowledged with this group, so that it is never acked before the original.
                let dup = Appended {
                    base_offset,
                    record_count: count as u32,
                    log_append_time_ms: append_time,
                    duplicate: true,
                };
                replies.push((req.reply, dup));
                continue;
            }
            Ok(SeqCheck::Append) => {}
        }
        let st_ref = &mut *st;
        let Some((_, active)) = st_ref.segments.iter().next_back() else {
            let _ = req.reply.send(Err(BrokerError::Storage("partition has no segment".into())));
            continue;
        };
        let active_size = active.size + bytes.len() as u64;
        let needs_roll = active_size > 0
            && (active_size + req.batch.len() as u64 > config.segment_bytes
                || active.opened_at.elapsed() >= config.segment_age);
        if needs_roll {
            if !bytes.is_empty() {
                pending.push_front(req);
                break;
            }
            if let Err(e) = roll(st_ref, &log.dir) {
                st_ref.failed = Some(e.to_string());
                let _ = req.reply.send(Err(e));
                for r in pending.drain(..) {
                    let _ = r.reply.send(Err(BrokerError::Storage("segment roll failed".into())));
                }
                break;
            }
        }
        let base_offset = st_ref.log_end;
        let start = bytes.len();
        bytes.push(&req.batch.slice(..view.size()), base_offset);
        let next = base_offset + i64::from(count);
        st_ref.log_end = next;
        if view.is_control() {
            st_ref.producers.record_marker(pid, epoch);
        } else {
            st_ref.producers.record(pid, epoch, seq, count, base_offset);
        }
        txn_events.extend(TxnEvent::of(&view, base_offset));
        written.push((start, view.size(), base_offset, next, view.max_timestamp()));
        replies.push((
            req.reply,
            Appended {
                base_offset,
                record_count: count as u32,
                log_append_time_ms: append_time,
                duplicate: false,
            },
        ));
        if bytes.len() >= MAX_GROUP_BYTES {
            break;
        }
    }
    let (_, active) = st.segments.iter().next_back()?;
    Some(Group {
        file: Arc::clone(&active.file),
        path: active.path.clone(),
        position: active.size,
        bytes,
        written,
        replies,
        txn_events,
    })
}

/// Seals the active segment (fsync, index files) and opens a new one at the log end.
fn roll(st: &mut State, dir: &Path) -> Result<(), BrokerError> {
    if let Some((_, active)) = st.segments.iter().next_back() {
        active.file.sync_data().map_err(|e| BrokerError::io("fsync", &active.path, e))?;
        active.write_indexes()?;
    }
    let seg = Segment::create(dir, st.log_end)?;
    st.segments.insert(st.log_end, seg);
    Ok(())
}

/// Writes and (per policy) fsyncs a group, publishes it, answers its appends.
/// Returns the write buffer for reuse.
async fn commit_group(log: &Arc<PartitionLog>, group: Group) -> Vec<u8> {
    let Group { file, path, position, bytes, written, replies, txn_events } = group;
    let fsync = matches!(log.config.lock().fsync, FsyncPolicy::Always);
    let io_result = if written.is_empty() {
        Ok(bytes.write_buffer())
    } else {
        let fsyncs = Arc::clone(&log.fsyncs);
        tokio::task::spawn_blocking(move || {
            let written = injected_fault(&path).and_then(|()| bytes.write_at(&file, position));
            let buf = match written {
                Ok(buf) => buf,
                Err(e) => {
                    // A failed write (e.g. ENOSPC) may have left part of the group in
                    // the file. Cutting the file back to the last published byte and
                    // making that durable restores a known state, so appends can
                    // resume once space returns; if even that fails, the partition
                    // stays failed until a restart's recovery.
                    let undone = file.set_len(position).and_then(|()| file.sync_data()).is_ok();
                    return Err((BrokerError::io("write", &path, e), undone));
                }
            };
            if fsync {
                // After a failed fsync the page cache may already have dropped the
                // dirty pages: the file's contents are unknown, never undone here.
                file.sync_data().map_err(|e| (BrokerError::io("fsync", &path, e), false))?;
                fsyncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(buf)
        })
        .await
        .unwrap_or_else(|e| Err((BrokerError::Storage(format!("write task failed: {e}")), false)))
    };
    match io_result {
        Ok(buf) => {
            let interval = log.config.lock().index_interval_bytes;
            let hw = {
                let mut st = log.state.lock();
                if let Some((_, active)) = st.segments.iter_mut().next_back() {
                    for &(at, len, base, next, max_ts) in &written {
                        active.note_batch(position + at as u64, base, next, max_ts, len as u64, interval);
                    }
                }
                for &event in &txn_events {
                    st.txns.apply(event);
                }
                st.high_watermark = st.log_end;
                st.high_watermark
            };
            log.hw_tx.send_replace(hw);
            for (reply, appended) in replies {
                let _ = reply.send(Ok(appended));
            }
            buf
        }
        Err((e, undone)) => {
            let reason = e.to_string();
            let mut st = log.state.lock();
            st.log_end = st.high_watermark;
            if undone {
                // The file ends at the high watermark again: forget the group's
                // sequences so that the producers' retries are appended.
                tracing::warn!(dir = %log.dir.display(), %reason, "partition write failed and was undone");
                let hw = st.high_watermark;
                st.producers.forget_from(hw);
            } else {
                // The file's contents are unknown: stop accepting appends;
                // recovery on restart finds the true tail.
                tracing::error!(dir = %log.dir.display(), %reason, "partition write failed; refusing appends");
                st.failed = Some(reason.clone());
            }
            drop(st);
            for (reply, _) in replies {
                let _ = reply.send(Err(BrokerError::Storage(reason.clone())));
            }
            Vec::new()
        }
    }
}

async fn sync_active(log: &Arc<PartitionLog>) -> Result<(), BrokerError> {
    let target =
        log.state.lock().segments.values().next_back().map(|s| (Arc::clone(&s.file), s.path.clone()));
    let Some((file, path)) = target else { return Ok(()) };
    let fsyncs = Arc::clone(&log.fsyncs);
    tokio::task::spawn_blocking(move || {
        file.sync_data().map_err(|e| BrokerError::io("fsync", &path, e))?;
        fsyncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    })
    .await
    .unwrap_or_else(|e| Err(BrokerError::Storage(format!("fsync task failed: {e}"))))
}
