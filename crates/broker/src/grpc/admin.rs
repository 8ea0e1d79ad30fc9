//! The `Admin` gRPC service: topics (create, describe, list, delete, add partitions) over
//! the topics service. Creating takes admin on the topic's namespace, the rest admin on the
//! topic; describing and listing show only what the caller may see.

use std::sync::Arc;

use runnel_auth::names::TopicName;
use runnel_proto::v1::{self, admin_server::AdminServer};
use runnel_proto::MAX_MESSAGE_BYTES;
use tonic::{Request, Response, Status};

use super::{authorize_topic, topic_name};
use crate::auth::{self, Permission, Resource};
use crate::broker::Broker;
use crate::topics::TopicConfig;

/// The `Admin` service over the broker's topics.
#[derive(Debug, Clone)]
pub struct AdminService(Arc<Broker>);

/// The tonic server for [`AdminService`], with the broker's message size limits.
pub fn server(broker: Arc<Broker>) -> AdminServer<AdminService> {
    AdminServer::new(AdminService(broker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

impl AdminService {
    /// Refuses a topic the caller may not see; what it may see it may describe.
    fn require_visible<T>(&self, req: &Request<T>, topic: &str) -> Result<(), Status> {
        let name = topic_name(topic)?;
        if auth::can_see(req, Resource::Topic(&name)) {
            return Ok(());
        }
        let who = auth::caller_of(req).and_then(|c| c.name().map(str::to_owned)).unwrap_or_default();
        Err(Status::permission_denied(format!(
            "permission denied: '{who}' has no permission on topic {name}"
        )))
    }
}

#[tonic::async_trait]
impl v1::admin_server::Admin for AdminService {
    async fn create_topic(
        &self,
        req: Request<v1::CreateTopicRequest>,
    ) -> Result<Response<v1::TopicInfo>, Status> {
        let name = topic_name(&req.get_ref().topic)?;
        let namespace = Resource::Namespace { tenant: name.tenant(), namespace: name.namespace() };
        auth::authorize(&req, Permission::Admin, namespace)?;
        let req = req.into_inner();
        let config = TopicConfig::from_proto(&req.topic, &req.config.unwrap_or_default())?;
        let topics = &self.0.topics;
        if topics.get(&req.topic).is_err() {
            topics.check_limits(1, config.partitions)?;
        }
        let t = topics.create(&req.topic, config, req.if_not_exists).await?;
        Ok(Response::new(t.info()))
    }

    async fn describe_topic(&self, req: Request<v1::TopicRef>) -> Result<Response<v1::TopicInfo>, Status> {
        self.require_visible(&req, &req.get_ref().topic)?;
        Ok(Response::new(self.0.topics.get(&req.into_inner().topic)?.info()))
    }

    async fn list_topics(
        &self,
        req: Request<v1::ListTopicsRequest>,
    ) -> Result<Response<v1::ListTopicsResponse>, Status> {
        let topics = self
            .0
            .topics
            .list()
            .iter()
            .map(|t| t.info())
            .filter(|info| {
                TopicName::parse(&info.name).is_ok_and(|name| auth::can_see(&req, Resource::Topic(&name)))
            })
            .collect();
        Ok(Response::new(v1::ListTopicsResponse { topics }))
    }

    async fn delete_topic(
        &self,
        req: Request<v1::TopicRef>,
    ) -> Result<Response<v1::DeleteTopicResponse>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Admin)?;
        self.0.topics.delete(&req.into_inner().topic).await?;
        Ok(Response::new(v1::DeleteTopicResponse {}))
    }

    async fn add_partitions(
        &self,
        req: Request<v1::AddPartitionsRequest>,
    ) -> Result<Response<v1::TopicInfo>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Admin)?;
        let req = req.into_inner();
        let topics = &self.0.topics;
        let current = topics.get(&req.topic)?.partitions.len() as u32;
        topics.check_limits(0, req.partitions.saturating_sub(current))?;
        let t = topics.add_partitions(&req.topic, req.partitions).await?;
        // Live groups on the topic get the new partitions now, not at their next rebalance.
        self.0.groups.partitions_changed(&req.topic);
        Ok(Response::new(t.info()))
    }
}
