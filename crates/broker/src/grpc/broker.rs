//! The `Broker` gRPC service: produce (one request, or a pipelined stream), fetch streams,
//! list-offsets and producer ids, over the produce and fetch paths. Produce takes the
//! produce permission on the topic (per request of a stream), fetch and offsets consume.
//!
//! A produce stream checks and queues its requests in arrival order, so batches of one
//! partition are appended in the order they were sent, and answers each as soon as it is
//! durable.

use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use futures::future::{self, BoxFuture};
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::{FutureExt, Stream, StreamExt};
use runnel_auth::names::TopicName;
use runnel_proto::v1::{self, broker_server::BrokerServer, ProduceRequest, ProduceResponse};
use runnel_proto::MAX_MESSAGE_BYTES;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::authorize_topic;
use crate::auth::{self, Caller, Permission, Resource};
use crate::broker::Broker;
use crate::error::BrokerError;
use crate::log::Appended;

/// The `Broker` service over the produce and fetch paths.
#[derive(Debug, Clone)]
pub struct BrokerService(Arc<Broker>);

/// The tonic server for [`BrokerService`], with the broker's message size limits.
pub fn server(broker: Arc<Broker>) -> BrokerServer<BrokerService> {
    BrokerServer::new(BrokerService(broker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Responses of a produce stream.
pub type ProduceStream = Pin<Box<dyn Stream<Item = Result<ProduceResponse, Status>> + Send>>;

/// Responses of a fetch stream.
pub type FetchStream = Pin<Box<dyn Stream<Item = Result<v1::FetchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl v1::broker_server::Broker for BrokerService {
    async fn produce(&self, req: Request<ProduceRequest>) -> Result<Response<ProduceResponse>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Produce)?;
        let req = req.into_inner();
        let (cid, p) = (req.correlation_id, req.partition);
        let appended = self.0.append.produce(&req.topic, p, req.batch).await?;
        Ok(Response::new(response(cid, p, Ok(appended))))
    }

    type ProduceStreamStream = ProduceStream;

    async fn produce_stream(
        &self,
        req: Request<tonic::Streaming<ProduceRequest>>,
    ) -> Result<Response<Self::ProduceStreamStream>, Status> {
        // Each request of the stream names its topic: authorized one by one.
        let caller = auth::caller_of(&req);
        let authorized = move |topic: &str| -> Result<(), BrokerError> {
            let name = TopicName::parse(topic).map_err(|e| BrokerError::InvalidArgument(e.to_string()))?;
            Caller::check(caller.as_ref(), Permission::Produce, &Resource::Topic(&name))
                .map_err(|d| BrokerError::PermissionDenied(d.to_string()))
        };
        Ok(Response::new(produce_stream(Arc::clone(&self.0), authorized, req.into_inner())))
    }

    type FetchStream = FetchStream;

    async fn fetch(&self, req: Request<v1::FetchRequest>) -> Result<Response<Self::FetchStream>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let chunks = self.0.fetch.fetch(req.into_inner())?;
        Ok(Response::new(Box::pin(chunks.map(|chunk| chunk.map_err(Status::from)))))
    }

    async fn list_offsets(
        &self,
        req: Request<v1::ListOffsetsRequest>,
    ) -> Result<Response<v1::ListOffsetsResponse>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        Ok(Response::new(self.0.fetch.list_offsets(req.into_inner()).await?))
    }

    async fn init_producer(
        &self,
        _: Request<v1::InitProducerRequest>,
    ) -> Result<Response<v1::InitProducerResponse>, Status> {
        let producer_id = self.0.append.next_producer_id().await?;
        Ok(Response::new(v1::InitProducerResponse { producer_id, epoch: 0 }))
    }
}

/// The response for one produce request.
fn response(correlation_id: u64, partition: u32, result: Result<Appended, BrokerError>) -> ProduceResponse {
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
/// produce permission); a refusal answers that request alone.
fn produce_stream(
    broker: Arc<Broker>,
    authorized: impl Fn(&str) -> Result<(), BrokerError> + Send + 'static,
    mut requests: tonic::Streaming<ProduceRequest>,
) -> ProduceStream {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let metrics = &broker.metrics;
        // Requests being checked, in arrival order.
        let mut checking = FuturesOrdered::new();
        let mut in_flight = FuturesUnordered::new();
        let mut open = true;
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
    });
    Box::pin(ReceiverStream::new(rx))
}
