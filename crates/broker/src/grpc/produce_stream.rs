//! A pipelined produce stream, whoever read its requests (tonic's `Broker` service in
//! `broker.rs`, or the HTTP/2 chunks in `broker_routes.rs`): requests are authorized,
//! checked and queued in arrival order, so batches of one partition are appended in the
//! order they were sent, and each is answered as soon as it is durable.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use futures::future::{self, BoxFuture};
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt, Stream, StreamExt};
use runnel_auth::names::TopicName;
use runnel_proto::v1::{ProduceRequest, ProduceResponse};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::auth::{Caller, Permission, Resource};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::log::Appended;

/// Responses of a produce stream.
pub type ProduceStream = Pin<Box<dyn Stream<Item = Result<ProduceResponse, Status>> + Send>>;

/// Each request of a produce stream names its topic: the caller's produce permission is
/// asked about each, one by one.
pub(crate) fn produce_authorizer(
    caller: Option<Caller>,
) -> impl Fn(&str) -> Result<(), BrokerError> + Send + 'static {
    move |topic: &str| {
        let name = TopicName::parse(topic).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
        Caller::check(caller.as_ref(), Permission::Produce, &Resource::Topic(&name))
            .map_err(|d| BrokerError::PermissionDenied(d.to_string()))
    }
}

/// The response for one produce request.
pub(crate) fn response(
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

/// A batch at least this large is checked on a task of its own (see [`produce_stream`]):
/// its check takes tens of microseconds, against a microsecond or two to spawn a task.
const CHECK_APART_BYTES: usize = 32 * 1024;

/// Runs a pipelined produce stream: requests are checked and queued in order,
/// responses are sent as appends complete. Ends when the client closes its side
/// and every queued append is answered.
///
/// Checking a batch (its records against their schemas) is CPU work with no order
/// to keep, so a large batch is checked on a task of its own while the stream reads
/// the next request and checks it too, and the checks run on both cores; the checked
/// batches are queued in arrival order all the same. Done inline, the checks were a
/// serial stage: they added their whole time to the stream's.
///
/// `authorized` is asked about each request's topic before anything else (the caller's
/// produce permission); a refusal answers that request alone. A request that cannot be
/// read ends the stream: the queued ones are answered, then the stream ends with the
/// reading's error status.
pub(crate) fn produce_stream(
    broker: Arc<Broker>,
    authorized: impl Fn(&str) -> Result<(), BrokerError> + Send + 'static,
    mut requests: impl Stream<Item = Result<ProduceRequest, Status>> + Send + Unpin + 'static,
) -> ProduceStream {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let metrics = &broker.metrics;
        // Requests being checked, in arrival order.
        let mut checking = FuturesOrdered::new();
        let mut in_flight = FuturesUnordered::new();
        let mut open = true;
        let mut broken = None;
        let shutdown = broker.shutdown.clone();
        loop {
            tokio::select! {
                // On shutdown, stop taking requests; queued ones are still answered.
                _ = shutdown.cancelled(), if open => open = false,
                req = requests.next(), if open && in_flight.len() + checking.len() < 1024 => match req {
                    Some(Ok(req)) => {
                        let ProduceRequest { topic, partition, batch, correlation_id } = req;
                        let answer = (correlation_id, partition, batch.len() as u64);
                        let checked: BoxFuture<'static, _> = match authorized(&topic) {
                            Err(e) => future::ready(Err(e)).boxed(),
                            Ok(()) if batch.len() >= CHECK_APART_BYTES => {
                                let broker = Arc::clone(&broker);
                                let task = tokio::spawn(async move { broker.append.check(&topic, partition, batch) });
                                task.map(|joined| {
                                    joined.unwrap_or_else(|e| Err(BrokerError::Storage(format!("check task failed: {e}"))))
                                })
                                .boxed()
                            }
                            Ok(()) => future::ready(broker.append.check(&topic, partition, batch)).boxed(),
                        };
                        checking.push_back(checked.map(move |checked| (answer, checked)));
                    }
                    Some(Err(status)) => {
                        tracing::debug!(%status, "produce stream broken by the client");
                        broken = Some(status);
                        open = false;
                    }
                    None => open = false,
                },
                Some(((cid, p, bytes_len), checked)) = checking.next(), if !checking.is_empty() => {
                    let submitted = match checked {
                        Ok(checked) => broker.append.submit_checked(checked).await,
                        Err(e) => Err(e),
                    };
                    in_flight.push(async move {
                        let result = match submitted {
                            Ok(pending) => pending.wait().await,
                            Err(e) => Err(e),
                        };
                        if result.is_ok() {
                            metrics.bytes_produced.fetch_add(bytes_len, Relaxed);
                        }
                        if let Ok(a) = &result {
                            if a.duplicate {
                                metrics.duplicates.fetch_add(1, Relaxed);
                            } else {
                                metrics.records_produced.fetch_add(u64::from(a.record_count), Relaxed);
                            }
                        }
                        response(cid, p, result)
                    });
                }
                Some(resp) = in_flight.next(), if !in_flight.is_empty() => {
                    if tx.send(Ok(resp)).await.is_err() {
                        return; // the client is gone
                    }
                }
                else => break,
            }
            if !open && in_flight.is_empty() && checking.is_empty() {
                break;
            }
        }
        if let Some(status) = broken {
            let _ = tx.send(Err(status)).await;
        }
    });
    Box::pin(ReceiverStream::new(rx))
}
