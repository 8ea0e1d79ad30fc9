//! Produce: the hot path. Per batch: size limit → parse (length, magic,
//! CRC-32C) → enforcement of every record → the tenant's quotas (storage refuses,
//! rate throttles: the batch waits before it is queued) → queue to the partition's writer
//! (which copies it once into its write buffer, patches the base offset, writes,
//! fsyncs and acknowledges). A refused batch leaves the log untouched.
//!
//! `ProduceStream` checks and queues requests in arrival order, so batches of
//! one partition are appended in the order they were sent, and answers each as
//! soon as it is durable.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use runnel_proto::v1::{ProduceRequest, ProduceResponse};
use runnel_proto::BatchView;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::enforce;
use crate::error::BrokerError;
use crate::log::{Appended, PendingAppend};
use crate::quotas;
use crate::state::Broker;
use crate::topics::Topic;

impl Broker {
    /// Checks a batch and queues it for its partition; the returned handle
    /// resolves once it is durable.
    pub async fn submit_produce(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
    ) -> Result<PendingAppend, BrokerError> {
        let result = self.check_and_submit(topic, partition, batch).await;
        if let Err(e) = &result {
            self.metrics.refused(e);
        }
        result
    }

    async fn check_and_submit(
        &self,
        topic: &str,
        partition: u32,
        batch: Bytes,
    ) -> Result<PendingAppend, BrokerError> {
        let t = self.topics.get(topic)?;
        let log = t.partition(partition)?;
        if batch.len() > self.limits.max_batch_bytes {
            return Err(BrokerError::TooLarge(format!(
                "batch of {} bytes is over the limit of {} bytes",
                batch.len(),
                self.limits.max_batch_bytes
            )));
        }
        let view = BatchView::parse(&batch)?;
        enforce::check_batch(&self.registry, &t, &view, self.limits.max_record_bytes)?;
        self.check_storage_quota(&t, batch.len() as u64)?;
        quotas::throttle(t.quota.produce.charge(batch.len() as u64)).await;
        log.submit(batch).await
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
        let pending = self.submit_produce(topic, partition, batch).await?;
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
}

/// The response for one produce request.
pub fn response(
    correlation_id: u64,
    partition: u32,
    result: Result<Appended, BrokerError>,
) -> ProduceResponse {
    match result {
        Ok(a) => ProduceResponse {
            correlation_id,
            partition,
            base_offset: a.base_offset,
            record_count: a.record_count,
            log_append_time_ms: a.log_append_time_ms,
            error: None,
            duplicate: a.duplicate,
        },
        Err(e) => ProduceResponse {
            correlation_id,
            partition,
            base_offset: -1,
            error: Some(e.to_proto()),
            ..Default::default()
        },
    }
}

/// Responses of a produce stream.
pub type ProduceStream = Pin<Box<dyn Stream<Item = Result<ProduceResponse, tonic::Status>> + Send>>;

/// Runs a pipelined produce stream: requests are checked and queued in order,
/// responses are sent as appends complete. Ends when the client closes its side
/// and every queued append is answered.
///
/// `authorized` is asked about each request's topic before anything else (the caller's
/// produce permission); a refusal answers that request alone.
pub fn produce_stream(
    broker: Arc<Broker>,
    authorized: impl Fn(&str) -> Result<(), BrokerError> + Send + 'static,
    mut requests: tonic::Streaming<ProduceRequest>,
) -> ProduceStream {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut in_flight = FuturesUnordered::new();
        let mut open = true;
        let shutdown = broker.shutdown.clone();
        loop {
            tokio::select! {
                // On shutdown, stop taking requests; queued ones are still answered.
                _ = shutdown.cancelled(), if open => open = false,
                req = requests.next(), if open && in_flight.len() < 1024 => match req {
                    Some(Ok(req)) => {
                        let bytes_len = req.batch.len() as u64;
                        let submitted = match authorized(&req.topic) {
                            Ok(()) => broker.submit_produce(&req.topic, req.partition, req.batch).await,
                            Err(e) => Err(e),
                        };
                        let (cid, p) = (req.correlation_id, req.partition);
                        let b = Arc::clone(&broker);
                        in_flight.push(async move {
                            let result = match submitted {
                                Ok(pending) => pending.wait().await,
                                Err(e) => Err(e),
                            };
                            if result.is_ok() {
                                b.metrics.bytes_produced.fetch_add(bytes_len, Relaxed);
                            }
                            if let Ok(a) = &result {
                                if a.duplicate {
                                    b.metrics.duplicates.fetch_add(1, Relaxed);
                                } else {
                                    b.metrics.records_produced.fetch_add(u64::from(a.record_count), Relaxed);
                                }
                            }
                            response(cid, p, result)
                        });
                    }
                    Some(Err(status)) => {
                        tracing::debug!(%status, "produce stream broken by the client");
                        open = false;
                    }
                    None => open = false,
                },
                Some(resp) = in_flight.next(), if !in_flight.is_empty() => {
                    if tx.send(Ok(resp)).await.is_err() {
                        return; // the client is gone
                    }
                }
                else => break,
            }
            if !open && in_flight.is_empty() {
                break;
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}
