//! The `Replication` gRPC service: this cluster's name, the remote clusters it knows,
//! the namespaces it replicates (and the topics that override theirs), and the replicator's status (`crate::replication`).
//! Everything but the cluster's name and carried subscriptions takes Admin on the
//! cluster; the name is open to any authenticated caller, since a cluster being added
//! asks it of the remote, and a subscription's position carried by another cluster's
//! replicator takes consume on its topic, as a group's offsets carried do.

use std::sync::Arc;

use runnel_proto::v1::{self, replication_server::ReplicationServer};
use tonic::{Request, Response, Status};

use crate::auth::{self, Permission, Resource};
use crate::broker::Broker;
use crate::replication::ClusterRecord;

/// The `Replication` service over the broker's replicator.
#[derive(Debug, Clone)]
pub struct ReplicationService(Arc<Broker>);

/// The tonic server for [`ReplicationService`].
pub fn server(broker: Arc<Broker>) -> ReplicationServer<ReplicationService> {
    ReplicationServer::new(ReplicationService(broker))
}

fn admin<T>(req: &Request<T>) -> Result<(), Status> {
    auth::authorize(req, Permission::Admin, Resource::Cluster)
}

/// A cluster as listed: without its token and certificate.
fn listed(c: ClusterRecord) -> v1::ClusterInfo {
    v1::ClusterInfo {
        name: c.name,
        url: c.url,
        registry_url: c.registry_url,
        token: String::new(),
        ca_cert_pem: String::new(),
    }
}

#[tonic::async_trait]
impl v1::replication_server::Replication for ReplicationService {
    async fn local_cluster(
        &self,
        _req: Request<v1::LocalClusterRequest>,
    ) -> Result<Response<v1::LocalClusterResponse>, Status> {
        Ok(Response::new(v1::LocalClusterResponse { name: self.0.replication.local().to_owned() }))
    }

    async fn add_cluster(&self, req: Request<v1::ClusterInfo>) -> Result<Response<v1::ClusterInfo>, Status> {
        admin(&req)?;
        let c = req.into_inner();
        let none_if_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        let record = ClusterRecord {
            name: c.name,
            url: c.url,
            registry_url: c.registry_url,
            token: none_if_empty(c.token),
            ca_cert_pem: none_if_empty(c.ca_cert_pem),
        };
        let added = self.0.replication.add_cluster(record).await?;
        Ok(Response::new(listed(added)))
    }

    async fn list_clusters(
        &self,
        req: Request<v1::ListClustersRequest>,
    ) -> Result<Response<v1::ListClustersResponse>, Status> {
        admin(&req)?;
        let clusters = self.0.replication.clusters()?.into_iter().map(listed).collect();
        Ok(Response::new(v1::ListClustersResponse { local: self.0.replication.local().to_owned(), clusters }))
    }

    async fn remove_cluster(
        &self,
        req: Request<v1::ClusterRef>,
    ) -> Result<Response<v1::RemoveClusterResponse>, Status> {
        admin(&req)?;
        self.0.replication.remove_cluster(&req.get_ref().name).await?;
        Ok(Response::new(v1::RemoveClusterResponse {}))
    }

    async fn set_namespace_replication(
        &self,
        req: Request<v1::NamespaceReplication>,
    ) -> Result<Response<v1::NamespaceReplication>, Status> {
        admin(&req)?;
        let r = req.into_inner();
        let clusters = self.0.replication.set_namespace(&r.namespace, &r.clusters).await?;
        Ok(Response::new(v1::NamespaceReplication { namespace: r.namespace, clusters }))
    }

    async fn list_namespace_replication(
        &self,
        req: Request<v1::ListNamespaceReplicationRequest>,
    ) -> Result<Response<v1::ListNamespaceReplicationResponse>, Status> {
        admin(&req)?;
        let namespaces = self
            .0
            .replication
            .namespaces()?
            .into_iter()
            .map(|(namespace, clusters)| v1::NamespaceReplication { namespace, clusters })
            .collect();
        Ok(Response::new(v1::ListNamespaceReplicationResponse { namespaces }))
    }

    async fn set_topic_replication(
        &self,
        req: Request<v1::TopicReplication>,
    ) -> Result<Response<v1::TopicReplication>, Status> {
        admin(&req)?;
        let r = req.into_inner();
        if r.inherit && !r.clusters.is_empty() {
            return Err(Status::invalid_argument(
                "a topic either has its own clusters or inherits its namespace's, not both",
            ));
        }
        let clusters = if r.inherit { None } else { Some(r.clusters.as_slice()) };
        let set = self.0.replication.set_topic(&r.topic, clusters).await?;
        Ok(Response::new(v1::TopicReplication {
            topic: r.topic,
            inherit: set.is_none(),
            clusters: set.unwrap_or_default(),
        }))
    }

    async fn list_topic_replication(
        &self,
        req: Request<v1::ListTopicReplicationRequest>,
    ) -> Result<Response<v1::ListTopicReplicationResponse>, Status> {
        admin(&req)?;
        let topics = self
            .0
            .replication
            .topic_overrides()?
            .into_iter()
            .map(|(topic, clusters)| v1::TopicReplication { topic, clusters, inherit: false })
            .collect();
        Ok(Response::new(v1::ListTopicReplicationResponse { topics }))
    }

    async fn carry_subscription(
        &self,
        req: Request<v1::CarrySubscriptionRequest>,
    ) -> Result<Response<v1::CarrySubscriptionResponse>, Status> {
        super::authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let r = req.into_inner();
        let positions: Vec<(u32, i64)> = r.positions.iter().map(|p| (p.partition, p.offset)).collect();
        self.0.subscriptions.carry(&r.topic, &r.subscription, &positions).await?;
        Ok(Response::new(v1::CarrySubscriptionResponse {}))
    }

    async fn status(
        &self,
        req: Request<v1::ReplicationStatusRequest>,
    ) -> Result<Response<v1::ReplicationStatusResponse>, Status> {
        admin(&req)?;
        let links = self
            .0
            .replication
            .status()
            .into_iter()
            .map(|s| v1::ReplicationLink {
                topic: s.topic,
                remote: s.remote,
                state: s.state,
                lag_records: s.lag_records,
                lag_seconds: s.lag_seconds,
                replicated: s.replicated,
                records_per_sec: s.records_per_sec,
                last_error: s.last_error.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(v1::ReplicationStatusResponse {
            local: self.0.replication.local().to_owned(),
            links,
        }))
    }
}
