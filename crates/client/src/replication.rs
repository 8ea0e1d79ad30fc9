//! Geo-replication administration on [`Client`]: this cluster's name, the remote
//! clusters it knows, the namespaces it replicates, and the replicator's status
//! (the broker's `Replication` service; docs/replication.md).

use runnel_proto::v1;
use runnel_proto::v1::replication_client::ReplicationClient;
pub use runnel_proto::v1::{
    ClusterInfo, NamespaceReplication, ReplicationLink, ReplicationStatusResponse, TopicReplication,
};

use crate::client::Client;
use crate::error::ClientError;
use crate::grpc::connection::GrpcChannel;

impl Client {
    fn replication_svc(&self) -> ReplicationClient<GrpcChannel> {
        ReplicationClient::new(self.connection().channel())
    }

    /// The connected cluster's name (`runnel serve --cluster`).
    pub async fn local_cluster(&self) -> Result<String, ClientError> {
        Ok(self.replication_svc().local_cluster(v1::LocalClusterRequest {}).await?.into_inner().name)
    }

    /// Makes a remote cluster known to the connected one (which asks it its name first).
    pub async fn add_cluster(&self, cluster: ClusterInfo) -> Result<ClusterInfo, ClientError> {
        Ok(self.replication_svc().add_cluster(cluster).await?.into_inner())
    }

    /// The connected cluster's name and the remote clusters it knows.
    pub async fn list_clusters(&self) -> Result<(String, Vec<ClusterInfo>), ClientError> {
        let r = self.replication_svc().list_clusters(v1::ListClustersRequest {}).await?.into_inner();
        Ok((r.local, r.clusters))
    }

    /// Forgets a remote cluster (refused while a namespace replicates to it).
    pub async fn remove_cluster(&self, name: &str) -> Result<(), ClientError> {
        self.replication_svc().remove_cluster(v1::ClusterRef { name: name.to_owned() }).await?;
        Ok(())
    }

    /// Sets the clusters `namespace` is replicated between (the connected one among them);
    /// an empty list turns its replication off.
    pub async fn set_namespace_replication(
        &self,
        namespace: &str,
        clusters: &[String],
    ) -> Result<NamespaceReplication, ClientError> {
        let req = NamespaceReplication { namespace: namespace.to_owned(), clusters: clusters.to_vec() };
        Ok(self.replication_svc().set_namespace_replication(req).await?.into_inner())
    }

    /// Every replicated namespace with its clusters.
    pub async fn list_namespace_replication(&self) -> Result<Vec<NamespaceReplication>, ClientError> {
        Ok(self
            .replication_svc()
            .list_namespace_replication(v1::ListNamespaceReplicationRequest {})
            .await?
            .into_inner()
            .namespaces)
    }

    /// Sets `topic`'s own clusters, overriding its namespace's: `Some(list)` (the connected
    /// cluster among them; empty: the topic is not replicated), or `None` to remove the
    /// override so that the namespace's setting applies again.
    pub async fn set_topic_replication(
        &self,
        topic: &str,
        clusters: Option<&[String]>,
    ) -> Result<TopicReplication, ClientError> {
        let req = TopicReplication {
            topic: topic.to_owned(),
            clusters: clusters.map(<[String]>::to_vec).unwrap_or_default(),
            inherit: clusters.is_none(),
        };
        Ok(self.replication_svc().set_topic_replication(req).await?.into_inner())
    }

    /// Every topic whose replication overrides its namespace's.
    pub async fn list_topic_replication(&self) -> Result<Vec<TopicReplication>, ClientError> {
        Ok(self
            .replication_svc()
            .list_topic_replication(v1::ListTopicReplicationRequest {})
            .await?
            .into_inner()
            .topics)
    }

    /// Every replication link's state, lag, throughput and last error.
    pub async fn replication_status(&self) -> Result<ReplicationStatusResponse, ClientError> {
        Ok(self.replication_svc().status(v1::ReplicationStatusRequest {}).await?.into_inner())
    }
}
