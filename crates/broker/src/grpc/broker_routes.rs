//! The `Broker` service's routes: `ProduceStream` read from HTTP/2's own chunks and
//! answered here, every other call (and a compressed produce stream) handed to tonic's
//! service (`broker.rs`).
//!
//! Why: tonic's codec gathers each request it receives into one buffer, a copy of every
//! byte produced (4% of the CPU with 10 KiB records). Here the body's chunks, which
//! HTTP/2 hands over as slices of what it read from the socket, are read as gRPC frames
//! in place ([`runnel_proto::frames`]), and a batch that arrived in one DATA frame goes to
//! the log as those same bytes. The server allows frames large enough for a batch
//! ([`MAX_FRAME_BYTES`]). A stream whose requests are compressed (`grpc-encoding`) goes
//! to tonic, which decompresses; both ways run [`super::produce_stream`].

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use runnel_proto::frames::{message_frame, FrameError, MessageReader, PRODUCE_STREAM_PATH};
use runnel_proto::v1::broker_server::BrokerServer;
use runnel_proto::v1::ProduceRequest;
use runnel_proto::MAX_MESSAGE_BYTES;
use tonic::body::Body;
use tonic::codegen::http::{self, header, HeaderMap, HeaderValue};
use tonic::codegen::Service;
use tonic::server::NamedService;
use tonic::Status;

use super::broker::BrokerService;
use super::produce_stream::{produce_authorizer, produce_stream, ProduceStream};
use crate::auth::Caller;
use crate::broker::Broker;

/// The largest HTTP/2 frame the broker accepts: room for a produce batch of a few
/// megabytes to arrive in one DATA frame, and so be stored without being gathered.
pub const MAX_FRAME_BYTES: u32 = 4 << 20;

/// The `Broker` service's routes: `ProduceStream` here, the rest through tonic.
#[derive(Debug, Clone)]
pub struct BrokerRoutes {
    broker: Arc<Broker>,
    tonic: BrokerServer<BrokerService>,
}

/// The `Broker` service's routes: the tonic server for [`BrokerService`], with the
/// broker's message size limits and gzip-compressed requests accepted, behind the
/// produce stream read from HTTP/2's chunks.
pub fn server(broker: Arc<Broker>) -> BrokerRoutes {
    let tonic = BrokerServer::new(BrokerService(Arc::clone(&broker)))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    BrokerRoutes { broker, tonic }
}

impl NamedService for BrokerRoutes {
    const NAME: &'static str = <BrokerServer<BrokerService> as NamedService>::NAME;
}

impl Service<http::Request<Body>> for BrokerRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<http::Request<Body>>::poll_ready(&mut self.tonic, cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if !is_plain_produce_stream(&req) {
            return self.tonic.call(req).boxed();
        }
        let caller = req.extensions().get::<Caller>().cloned();
        let authorized = produce_authorizer(caller);
        let responses = produce_stream(Arc::clone(&self.broker), authorized, requests(req.into_body()));
        futures::future::ready(Ok(response(responses))).boxed()
    }
}

/// A produce stream this module reads: uncompressed gRPC (anything else goes to tonic,
/// which answers it or refuses it as it would any call).
fn is_plain_produce_stream(req: &http::Request<Body>) -> bool {
    let headers = req.headers();
    req.method() == http::Method::POST
        && req.uri().path() == PRODUCE_STREAM_PATH
        && headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t == "application/grpc" || t == "application/grpc+proto")
        && headers.get("grpc-encoding").is_none_or(|e| e == "identity")
}

/// The requests of a produce stream, read from the body's chunks. A frame that cannot be
/// read (too large, compressed, cut short, not a `ProduceRequest`) ends the stream with
/// an error status.
fn requests(body: Body) -> impl Stream<Item = Result<ProduceRequest, Status>> + Send + Unpin + 'static {
    let reader = MessageReader::new(MAX_MESSAGE_BYTES);
    futures::stream::unfold(Some((body, reader)), |state| async move {
        let (mut body, mut reader) = state?;
        loop {
            match reader.next_message() {
                Ok(Some(message)) => {
                    return match ProduceRequest::decode(message) {
                        Ok(req) => Some((Ok(req), Some((body, reader)))),
                        Err(e) => {
                            Some((Err(Status::internal(format!("malformed ProduceRequest: {e}"))), None))
                        }
                    };
                }
                Ok(None) => {}
                Err(e) => return Some((Err(frame_status(e)), None)),
            }
            match body.frame().await {
                // Trailers on a request carry nothing this call reads.
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        reader.push(data);
                    }
                }
                Some(Err(status)) => return Some((Err(status), None)),
                None => return reader.finish().err().map(|e| (Err(frame_status(e)), None)),
            }
        }
    })
    .boxed()
}

/// The status tonic gives the same fault.
fn frame_status(e: FrameError) -> Status {
    match e {
        FrameError::TooLarge { .. } => Status::out_of_range(e.to_string()),
        FrameError::Compressed | FrameError::BadFlag(_) | FrameError::Truncated(_) => {
            Status::internal(e.to_string())
        }
    }
}

/// The gRPC response: each answer as a frame, then the status in the trailers.
fn response(responses: ProduceStream) -> http::Response<Body> {
    let frames = futures::stream::unfold(Some(responses), |state| async move {
        let mut responses = state?;
        let frame = match responses.next().await {
            Some(Ok(answer)) => {
                return Some((Ok(http_body::Frame::data(message_frame(&answer))), Some(responses)))
            }
            Some(Err(status)) => trailers(&status),
            None => trailers(&Status::ok("")),
        };
        Some((Ok::<_, Status>(http_body::Frame::trailers(frame)), None))
    });
    let mut response = http::Response::new(Body::new(StreamBody::new(frames)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

fn trailers(status: &Status) -> HeaderMap {
    let mut map = HeaderMap::new();
    if status.add_header(&mut map).is_err() {
        // Only a message that cannot be a header value gets here: the code alone.
        let _ = Status::new(status.code(), "").add_header(&mut map);
    }
    map
}
