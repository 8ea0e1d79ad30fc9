//! The `Subscriptions` gRPC service (the front end of the subscriptions service): one
//! bidirectional stream per consumer.
//! The first request must be `subscribe` (answered with a status if the
//! consumer is refused, e.g. a second consumer on an exclusive subscription);
//! the rest (flow, ack, nack, ack_cumulative) go to the subscription's
//! dispatcher. The stream ending, either way, is the consumer leaving.
//!
//! Subscribing takes the consume permission on the topic and, with a dead-letter policy,
//! the produce permission on the dead-letter topic (the broker writes there for the caller).

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use runnel_proto::v1::{
    self, subscription_request::Kind, subscriptions_server::SubscriptionsServer, SubscriptionEvent,
    SubscriptionRequest,
};
use runnel_proto::MAX_MESSAGE_BYTES;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use runnel_auth::names::TopicName;

use crate::auth::{self, Caller, Permission, Resource};
use crate::broker::Broker;
use crate::subscriptions::{ConsumerSpec, SubscriptionError};

/// The service over the broker's subscriptions.
#[derive(Debug, Clone)]
pub struct SubscriptionService(Arc<Broker>);

/// The tonic server for [`SubscriptionService`], with the broker's message size limits.
pub fn server(broker: Arc<Broker>) -> SubscriptionsServer<SubscriptionService> {
    SubscriptionsServer::new(SubscriptionService(broker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Events of one consumer's stream.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<SubscriptionEvent, Status>> + Send>>;

#[tonic::async_trait]
impl v1::subscriptions_server::Subscriptions for SubscriptionService {
    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        req: Request<Streaming<SubscriptionRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let broker = Arc::clone(&self.0);
        let caller = auth::caller_of(&req);
        let authorize = |permission: Permission, topic: &str| -> Result<(), Status> {
            let name = TopicName::parse(topic).map_err(|e| Status::invalid_argument(e.to_string()))?;
            Caller::check(caller.as_ref(), permission, &Resource::Topic(&name)).map_err(Status::from)
        };
        let mut requests = req.into_inner();
        let first = requests
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the stream ended before its subscribe request"))?;
        let Some(Kind::Subscribe(sub)) = first.kind else {
            return Err(Status::invalid_argument(
                "the first request of a subscription stream must be subscribe",
            ));
        };
        authorize(Permission::Consume, &sub.topic)?;
        let id = broker.subscriptions.next_consumer_id();
        let spec = ConsumerSpec::from_proto(&sub, id)?;
        // With authentication off this is skipped, so a bad dead-letter name is reported
        // when the first move fails, as it always was.
        if let (Some(dead_letter), Some(Caller::Authenticated(_))) = (&spec.dead_letter, &caller) {
            authorize(Permission::Produce, &dead_letter.topic)?;
        }
        let link = broker.subscriptions.connect(id, spec).await?;
        let consumer_requests = link.requests;
        let stop = broker.shutdown.clone();
        tokio::spawn(async move {
            loop {
                // On shutdown the request side is dropped too: a client that keeps
                // its side open must not hold the server's graceful shutdown.
                let message = tokio::select! {
                    _ = stop.cancelled() => break,
                    m = requests.message() => m,
                };
                match message {
                    Ok(Some(SubscriptionRequest { kind: Some(kind) })) => {
                        if let Err(e) = consumer_requests.send(kind) {
                            tracing::debug!(error = %e, "subscription request refused");
                            if matches!(e, SubscriptionError::Broker(_)) {
                                break;
                            }
                        }
                    }
                    Ok(Some(SubscriptionRequest { kind: None })) => {}
                    Ok(None) => break,
                    Err(status) => {
                        tracing::debug!(%status, "subscription stream broken by the client");
                        break;
                    }
                }
            }
            // Dropping `consumer_requests` tells the dispatcher the consumer left.
            drop(consumer_requests);
        });
        let shutdown = broker.shutdown.clone();
        let events = UnboundedReceiverStream::new(link.events)
            .map(Ok)
            .take_until(async move { shutdown.cancelled().await });
        Ok(Response::new(Box::pin(events)))
    }
}

impl From<SubscriptionError> for Status {
    fn from(e: SubscriptionError) -> Status {
        match e {
            SubscriptionError::Invalid(m) => Status::invalid_argument(m),
            SubscriptionError::Refused(m) => Status::failed_precondition(m),
            SubscriptionError::Broker(e) => e.into(),
        }
    }
}
