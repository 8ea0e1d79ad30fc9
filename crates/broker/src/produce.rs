//! Produce: the hot path, as a service ([`Appender`]) that the gRPC and Kafka front ends
//! call. Per batch: size limit → parse (length, magic, CRC-32C) → enforcement of every
//! record → the tenant's quotas (storage refuses, rate throttles: the batch waits before
//! it is queued) → queue to the partition's writer (which copies it once into its write
//! buffer, patches the base offset, writes, fsyncs and acknowledges). A refused batch
//! leaves the log untouched.
//!
//! [`Appender::submit`] returns once the batch is queued, so a caller that submits in
//! arrival order (a produce stream, a Kafka connection) has the batches of one partition
//! appended in that order, and waits for durability separately. Idempotent producers take
//! their ids here too ([`Appender::next_producer_id`]). A transactional batch must belong to
//! a partition of its producer's open transaction (`transactions`); control batches
//! (transaction markers) are refused: only the coordinator writes them.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use runnel_proto::BatchView;
use runnel_registry::Registry;

use crate::enforce;
use crate::error::BrokerError;
use crate::log::{Appended, PendingAppend};
use crate::meta::Meta;
use crate::metrics::Metrics;
use crate::quotas;
use crate::topics::{Topic, Topics};
use crate::transactions::Transactions;

/// A batch that passed [`Appender::check`], to be queued with [`Appender::submit_checked`].
#[derive(Debug)]
pub struct CheckedBatch {
    topic: Arc<Topic>,
    partition: u32,
    batch: Bytes,
    /// Producer id and epoch of a transactional batch.
    transactional: Option<(i64, i16)>,
}

/// The produce path: checks batches and appends them to their partitions.
#[derive(Debug)]
pub struct Appender {
    topics: Arc<Topics>,
    registry: Registry,
    metrics: Arc<Metrics>,
    meta: Arc<Meta>,
    /// Admits transactional batches (their partition must be in the open transaction).
    transactions: Arc<Transactions>,
    /// Largest batch accepted.
    max_batch_bytes: usize,
    /// Largest record (key + value bytes) accepted.
    max_record_bytes: usize,
}

impl Appender {
    /// The produce path over `topics`, enforcing schemas from `registry`, counting into
    /// `metrics`, handing out producer ids from `meta`, admitting transactional batches
    /// through `transactions`, with the size limits given.
    pub fn new(
        topics: Arc<Topics>,
        registry: Registry,
        metrics: Arc<Metrics>,
        meta: Arc<Meta>,
        transactions: Arc<Transactions>,
        max_batch_bytes: usize,
        max_record_bytes: usize,
    ) -> Appender {
        Appender { topics, registry, metrics, meta, transactions, max_batch_bytes, max_record_bytes }
    }

    /// Checks a batch and queues it for its partition; the returned handle
    /// resolves once it is durable.
    pub async fn submit(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
    ) -> Result<PendingAppend, BrokerError> {
        let checked = self.check(topic, partition, batch)?;
        self.submit_checked(checked).await
    }

    /// [`Appender::submit`] for a front end that throttles its clients itself (the Kafka
    /// listener answers at once with `throttle_time_ms` and then reads nothing from the
    /// connection for that long, as Kafka brokers do): the batch is charged to its tenant's
    /// produce rate but not held back; the returned delay is what the rate asks for.
    pub async fn submit_unthrottled(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
    ) -> Result<(PendingAppend, Duration), BrokerError> {
        let checked = self.check(topic, partition, batch)?;
        self.counted(self.queue(checked, false).await)
    }

    /// The checks that read a batch (size limit, framing and CRC, every record's schema),
    /// which take CPU and nothing else: a produce stream runs those of a large batch on a
    /// task of its own, beside the next request's, then queues the batches in arrival order
    /// with [`Appender::submit_checked`]. A refusal is counted in the metrics.
    pub fn check(&self, topic: &str, partition: u32, batch: Bytes) -> Result<CheckedBatch, BrokerError> {
        self.counted(self.check_batch(topic, partition, batch))
    }

    /// Queues a batch [`Appender::check`] passed, as [`Appender::submit`] does.
    pub async fn submit_checked(&self, checked: CheckedBatch) -> Result<PendingAppend, BrokerError> {
        self.counted(self.queue(checked, true).await).map(|(pending, _)| pending)
    }

    /// `result`, its refusal counted in the metrics.
    fn counted<T>(&self, result: Result<T, BrokerError>) -> Result<T, BrokerError> {
        if let Err(e) = &result {
            self.metrics.refused(e);
        }
        result
    }

    fn check_batch(&self, topic: &str, partition: u32, batch: Bytes) -> Result<CheckedBatch, BrokerError> {
        let t = self.topics.get(topic)?;
        t.partition(partition)?;
        if batch.len() > self.max_batch_bytes {
            return Err(BrokerError::TooLarge(format!(
                "batch of {} bytes is over the limit of {} bytes",
                batch.len(),
                self.max_batch_bytes
            )));
        }
        let view = BatchView::parse(&batch)?;
        if view.is_control() {
            // Markers are the transaction coordinator's to write (as in Kafka).
            return Err(BrokerError::InvalidRecord {
                index: 0,
                path: "/".into(),
                message: "clients may not write control batches".into(),
            });
        }
        let transactional = view.is_transactional().then(|| (view.producer_id(), view.producer_epoch()));
        enforce::check_batch(&self.registry, &t.meta, &t.schemas, &view, self.max_record_bytes)?;
        Ok(CheckedBatch { topic: t, partition, batch, transactional })
    }

    /// The tenant's quotas, then the partition's queue.
    async fn queue(
        &self,
        checked: CheckedBatch,
        hold: bool,
    ) -> Result<(PendingAppend, Duration), BrokerError> {
        let CheckedBatch { topic: t, partition, batch, transactional } = checked;
        let log = t.partition(partition)?;
        self.check_storage_quota(&t, batch.len() as u64)?;
        let mut delay = t.quota.produce.charge(batch.len() as u64);
        if hold {
            quotas::throttle(delay).await;
            delay = Duration::ZERO;
        }
        // A transactional batch is admitted last (after any throttling) and the admission
        // held until the batch is queued: ending its transaction waits for that, so the
        // marker is queued behind it.
        let _admission = match transactional {
            Some((pid, epoch)) => Some(self.transactions.admit(pid, epoch, &t.meta.name, partition)?),
            None => None,
        };
        Ok((log.submit(batch).await?, delay))
    }

    /// Refuses a batch that would take the topic's tenant past its storage quota.
    fn check_storage_quota(&self, t: &Topic, len: u64) -> Result<(), BrokerError> {
        let limit = t.quota.storage_limit();
        if limit == 0 {
            return Ok(());
        }
        let used = self.topics.storage_of(&t.quota);
        if used.saturating_add(len) > limit {
            return Err(BrokerError::QuotaExceeded(format!(
                "tenant '{}' holds {used} bytes; {len} more would pass its storage quota of {limit} bytes",
                t.quota.tenant
            )));
        }
        Ok(())
    }

    /// Produces one batch and waits until it is durable.
    pub async fn produce(&self, topic: &str, partition: u32, batch: Bytes) -> Result<Appended, BrokerError> {
        let len = batch.len() as u64;
        let pending = self.submit(topic, partition, batch).await?;
        let appended = pending.wait().await;
        if appended.is_ok() {
            self.metrics.bytes_produced.fetch_add(len, Relaxed);
        }
        self.count_appended(&appended);
        appended
    }

    fn count_appended(&self, appended: &Result<Appended, BrokerError>) {
        match appended {
            Ok(a) if a.duplicate => {
                self.metrics.duplicates.fetch_add(1, Relaxed);
            }
            Ok(a) => {
                self.metrics.records_produced.fetch_add(u64::from(a.record_count), Relaxed);
            }
            Err(e) => self.metrics.refused(e),
        }
    }

    /// Hands out the next idempotent producer id (stored before it is returned).
    pub async fn next_producer_id(&self) -> Result<i64, BrokerError> {
        let meta = Arc::clone(&self.meta);
        tokio::task::spawn_blocking(move || meta.next_producer_id())
            .await
            .map_err(|e| BrokerError::Storage(format!("task failed: {e}")))?
    }
}
