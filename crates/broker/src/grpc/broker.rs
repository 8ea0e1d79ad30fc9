//! The `Broker` gRPC service as tonic serves it: produce (one request, or a pipelined
//! stream), fetch streams, list-offsets and producer ids, over the produce and fetch
//! paths. Produce takes the produce permission on the topic (per request of a stream),
//! fetch and offsets consume. A plain produce stream does not come here: the service's
//! routes (`broker_routes.rs`) read it from the HTTP/2 chunks; both run
//! `produce_stream.rs`.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use runnel_proto::v1::{self, ProduceRequest, ProduceResponse};
use tonic::{Request, Response, Status};

use super::authorize_topic;
use super::produce_stream::{produce_authorizer, produce_stream, response, ProduceStream};
use crate::auth::{self, Permission};
use crate::broker::Broker;

/// The `Broker` service over the produce and fetch paths.
#[derive(Debug, Clone)]
pub struct BrokerService(pub(crate) Arc<Broker>);

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
        let authorized = produce_authorizer(auth::caller_of(&req));
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
