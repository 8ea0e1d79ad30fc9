//! The `Groups` gRPC service: consumer groups (join streams, heartbeats, leaves, commits,
//! committed offsets, describe) over the groups service. Everything takes the consume
//! permission on the group's topic; a heartbeat or leave names no topic, so it takes
//! consume on every topic the member's group consumes.

use std::sync::Arc;

use futures::StreamExt;
use runnel_proto::v1::{self, groups_server::GroupsServer};
use runnel_proto::MAX_MESSAGE_BYTES;
use tokio_stream::wrappers::WatchStream;
use tonic::{Request, Response, Status};

use super::authorize_topic;
use crate::auth::Permission;
use crate::broker::Broker;

/// The `Groups` service over the broker's group coordinator.
#[derive(Debug, Clone)]
pub struct GroupsService(Arc<Broker>);

/// The tonic server for [`GroupsService`], with the broker's message size limits.
pub fn server(broker: Arc<Broker>) -> GroupsServer<GroupsService> {
    GroupsServer::new(GroupsService(broker))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

impl GroupsService {
    /// Authorizes a heartbeat or leave: consume on every topic the member's group consumes.
    /// (Member ids may be guessed; the group's topics are what they reach.)
    fn authorize_member<T>(&self, req: &Request<T>, group: &str, member: &str) -> Result<(), Status> {
        for topic in self.0.groups.topics_of_member(group, member) {
            authorize_topic(req, &topic, Permission::Consume)?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl v1::groups_server::Groups for GroupsService {
    type JoinStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<v1::Assignment, Status>> + Send>>;

    async fn join(&self, req: Request<v1::JoinRequest>) -> Result<Response<Self::JoinStream>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let (_member, rx) = self.0.groups.join(&req.into_inner())?;
        let shutdown = self.0.shutdown.clone();
        let stream = WatchStream::new(rx)
            .filter_map(|a| async move { a.map(Ok) })
            .take_until(async move { shutdown.cancelled().await });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn heartbeat(
        &self,
        req: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        self.authorize_member(&req, &req.get_ref().group, &req.get_ref().member_id)?;
        let req = req.into_inner();
        let rebalance_pending = self.0.groups.heartbeat(&req.group, &req.member_id, req.generation)?;
        Ok(Response::new(v1::HeartbeatResponse { rebalance_pending }))
    }

    async fn leave(&self, req: Request<v1::LeaveRequest>) -> Result<Response<v1::LeaveResponse>, Status> {
        self.authorize_member(&req, &req.get_ref().group, &req.get_ref().member_id)?;
        let req = req.into_inner();
        self.0.groups.leave(&req.group, &req.member_id)?;
        Ok(Response::new(v1::LeaveResponse {}))
    }

    async fn commit(&self, req: Request<v1::CommitRequest>) -> Result<Response<v1::CommitResponse>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        self.0.groups.commit(&req.into_inner()).await?;
        Ok(Response::new(v1::CommitResponse {}))
    }

    async fn fetch_committed(
        &self,
        req: Request<v1::FetchCommittedRequest>,
    ) -> Result<Response<v1::FetchCommittedResponse>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        Ok(Response::new(self.0.groups.fetch_committed(&req.into_inner())?))
    }

    async fn describe_group(
        &self,
        req: Request<v1::DescribeGroupRequest>,
    ) -> Result<Response<v1::GroupInfo>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let req = req.into_inner();
        Ok(Response::new(self.0.groups.describe(&req.group, &req.topic)?))
    }
}
