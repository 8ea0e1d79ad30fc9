//! Fetch and list-offsets: reading the log, as a service ([`Fetcher`]) the gRPC front
//! end streams from.
//!
//! A fetch is a stream of chunks. Its task reads up to `max_bytes` of whole stored
//! batches (at least one) with `pread`, sends them without re-encoding, and
//! reads the next chunk only once the previous one was handed to the transport
//! (a channel of one slot), so HTTP/2 flow control paces the reads and nothing
//! is buffered without bound. At the head it long-polls on the partition's
//! high-watermark watch; with `follow` it stays open until the client leaves
//! or the broker shuts down. Each chunk is charged to the topic's tenant's consume
//! quota, and held back as long as that quota says (throttling, never failing).
//!
//! Transactions: a fetch reads committed data by default (`Isolation`): it stops at the
//! partition's last stable offset and leaves out transaction markers and the batches of
//! aborted transactions, here on the broker, so that every gRPC client gets records only
//! (ARCHITECTURE.md says why the broker filters rather than the client). Read-uncommitted
//! fetches get the stored batches as they are.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use runnel_proto::v1::{
    FetchRequest, FetchResponse, Isolation, ListOffsetsRequest, ListOffsetsResponse, OffsetSpec,
    PartitionOffset,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::error::BrokerError;
use crate::log::{txn, PartitionLog, ReadResult};
use crate::metrics::Metrics;
use crate::quotas::{self, TenantQuota};
use crate::topics::Topics;

const DEFAULT_MAX_BYTES: usize = 1 << 20;
const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(500);

/// The chunks of a fetch, in order; an error ends it.
pub type FetchStream = ReceiverStream<Result<FetchResponse, BrokerError>>;

/// Reads the log for consumers: fetch streams and offset lookups.
#[derive(Debug)]
pub struct Fetcher {
    topics: Arc<Topics>,
    metrics: Arc<Metrics>,
    /// Streams end when it is cancelled.
    shutdown: CancellationToken,
    /// Largest fetch response.
    max_fetch_bytes: usize,
}

impl Fetcher {
    /// Reads from `topics`, counting into `metrics`, streams ending on `shutdown`, chunks
    /// at most `max_fetch_bytes`.
    pub fn new(
        topics: Arc<Topics>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        max_fetch_bytes: usize,
    ) -> Fetcher {
        Fetcher { topics, metrics, shutdown, max_fetch_bytes }
    }

    /// Starts a fetch. Unknown topic or partition and an offset outside the log are
    /// refused before the stream starts.
    pub fn fetch(&self, req: FetchRequest) -> Result<FetchStream, BrokerError> {
        let topic = self.topics.get(&req.topic)?;
        let log = Arc::clone(topic.partition(req.partition)?);
        let stats = log.stats();
        if req.offset < stats.log_start_offset || req.offset > stats.high_watermark {
            return Err(BrokerError::OffsetOutOfRange {
                offset: req.offset,
                log_start: stats.log_start_offset,
                high_watermark: stats.high_watermark,
            });
        }
        let max_bytes = if req.max_bytes == 0 { DEFAULT_MAX_BYTES } else { req.max_bytes as usize }
            .min(self.max_fetch_bytes);
        let max_wait = if req.max_wait_ms == 0 {
            DEFAULT_MAX_WAIT
        } else {
            Duration::from_millis(req.max_wait_ms.into())
        };
        let (tx, rx) = mpsc::channel(1);
        let run = FetchTask {
            metrics: Arc::clone(&self.metrics),
            shutdown: self.shutdown.clone(),
            log,
            quota: Arc::clone(&topic.quota),
            max_bytes,
            max_wait,
        };
        tokio::spawn(run_fetch(run, req, tx));
        Ok(ReceiverStream::new(rx))
    }

    /// Offsets by spec (earliest, latest, timestamp) for some or all partitions.
    pub async fn list_offsets(&self, req: ListOffsetsRequest) -> Result<ListOffsetsResponse, BrokerError> {
        let topic = self.topics.get(&req.topic)?;
        let partitions: Vec<u32> = if req.partitions.is_empty() {
            (0..topic.partitions.len() as u32).collect()
        } else {
            req.partitions.clone()
        };
        let spec = OffsetSpec::try_from(req.spec).unwrap_or(OffsetSpec::Unspecified);
        let committed = req.isolation != Isolation::ReadUncommitted as i32;
        let mut offsets = Vec::with_capacity(partitions.len());
        for p in partitions {
            let log = Arc::clone(topic.partition(p)?);
            let stats = log.stats();
            let offset = match spec {
                OffsetSpec::Earliest => stats.log_start_offset,
                OffsetSpec::Latest if committed => log.last_stable_offset(),
                OffsetSpec::Latest => stats.high_watermark,
                OffsetSpec::Timestamp => {
                    let ts = req.timestamp_ms;
                    tokio::task::spawn_blocking(move || log.offset_for_timestamp(ts))
                        .await
                        .map_err(|e| BrokerError::Storage(format!("read task failed: {e}")))??
                }
                OffsetSpec::Unspecified => {
                    return Err(BrokerError::InvalidArgument(
                        "offset spec must be EARLIEST, LATEST or TIMESTAMP".into(),
                    ))
                }
            };
            offsets.push(PartitionOffset { partition: p, offset, timestamp_ms: req.timestamp_ms });
        }
        Ok(ListOffsetsResponse { offsets })
    }
}

/// What one fetch's task reads with.
struct FetchTask {
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    log: Arc<PartitionLog>,
    quota: Arc<TenantQuota>,
    max_bytes: usize,
    max_wait: Duration,
}

async fn run_fetch(task: FetchTask, req: FetchRequest, tx: mpsc::Sender<Result<FetchResponse, BrokerError>>) {
    let FetchTask { metrics, shutdown, log, quota, max_bytes, max_wait } = task;
    let mut offset = req.offset;
    let mut hw_rx = log.watch_high_watermark();
    let end = (req.end_offset > 0).then_some(req.end_offset);
    let committed = req.isolation != Isolation::ReadUncommitted as i32;
    let mut sent_any = false;
    loop {
        if end.is_some_and(|e| offset >= e) {
            return;
        }
        // Marked seen before the read, so a publish after it wakes the wait below.
        let seen_hw = *hw_rx.borrow_and_update();
        let reader = Arc::clone(&log);
        let read =
            tokio::task::spawn_blocking(move || read_chunk(&reader, offset, max_bytes, committed)).await;
        let read = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(BrokerError::Storage(format!("read task failed: {e}")))).await;
                return;
            }
        };
        if committed && read.batches.is_empty() && read.next_offset > offset {
            // Only markers or aborted batches: nothing to send, read on past them.
            offset = read.next_offset;
            continue;
        }
        if !read.batches.is_empty() {
            let records = (read.next_offset - offset).max(0) as u64;
            metrics.records_fetched.fetch_add(records, Relaxed);
            metrics.bytes_fetched.fetch_add(read.batches.len() as u64, Relaxed);
            offset = read.next_offset;
            sent_any = true;
            let delay = quota.consume.charge(read.batches.len() as u64);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                _ = quotas::throttle(delay) => {}
            }
            let resp = FetchResponse {
                partition: req.partition,
                batches: read.batches,
                high_watermark: read.high_watermark,
                log_start_offset: read.log_start_offset,
                next_offset: read.next_offset,
            };
            if tx.send(Ok(resp)).await.is_err() {
                return; // the client left
            }
            continue;
        }
        // At the head: without `follow`, end once something was sent (or after one wait).
        if !req.follow && sent_any {
            return;
        }
        // Reading committed below the high watermark, the head is the last stable offset: it
        // moves with a marker, which also moves the high watermark, so wait for any change.
        let below_hw = committed && seen_hw > offset;
        let waited = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tx.closed() => return,
            r = tokio::time::timeout(max_wait, async {
                if below_hw {
                    hw_rx.changed().await
                } else {
                    hw_rx.wait_for(|&hw| hw > offset).await.map(|_| ())
                }
            }) => r,
        };
        match waited {
            Ok(Ok(_)) => continue,
            Ok(Err(_)) => return, // the partition was closed (topic deleted)
            Err(_timeout) => {
                let s = log.stats();
                let idle = FetchResponse {
                    partition: req.partition,
                    batches: Default::default(),
                    high_watermark: s.high_watermark,
                    log_start_offset: s.log_start_offset,
                    next_offset: offset,
                };
                // An empty response tells a follower the stream is alive and where the head is.
                if tx.send(Ok(idle)).await.is_err() || !req.follow {
                    return;
                }
            }
        }
    }
}

/// Reads one chunk: the stored batches, or for a committed read those below the last stable
/// offset without markers and aborted transactions' batches (`next_offset` still moves past
/// what was left out). Blocking.
fn read_chunk(
    log: &PartitionLog,
    offset: i64,
    max_bytes: usize,
    committed: bool,
) -> Result<ReadResult, BrokerError> {
    if !committed {
        return log.read(offset, max_bytes);
    }
    let c = log.read_committed(offset, max_bytes)?;
    let mut read = c.read;
    read.batches = txn::committed_only(&read.batches, &c.aborted);
    Ok(read)
}
