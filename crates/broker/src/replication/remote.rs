//! A connection to a remote cluster's gRPC services (Admin, Broker, Registry,
//! Replication), over the proto crate's generated clients: with the cluster's token
//! on every call and, for `https://` URLs, its CA certificate. The channel connects
//! lazily and reconnects by itself, so a remote that is down costs a failed call,
//! not a broken link.

use std::time::Duration;

use runnel_proto::v1::admin_client::AdminClient;
use runnel_proto::v1::broker_client::BrokerClient;
use runnel_proto::v1::registry_client::RegistryClient;
use runnel_proto::v1::replication_client::ReplicationClient;
use runnel_proto::MAX_MESSAGE_BYTES;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::store::ClusterRecord;
use crate::error::BrokerError;

/// Adds the remote's bearer token to every request.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub type Chan = InterceptedService<Channel, Bearer>;

/// One remote cluster's clients.
#[derive(Clone)]
pub struct Remote {
    pub name: String,
    channel: Channel,
    bearer: Bearer,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Remote {
    /// The clients for `cluster` (no connection is made yet).
    pub fn new(cluster: &ClusterRecord) -> Result<Remote, BrokerError> {
        let bad = |e: &dyn std::fmt::Display| {
            BrokerError::InvalidArgument(format!("cluster '{}': {e}", cluster.name))
        };
        let mut endpoint = Endpoint::from_shared(cluster.url.clone())
            .map_err(|e| bad(&format!("bad URL '{}': {e}", cluster.url)))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30));
        if cluster.url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(pem) = &cluster.ca_cert_pem {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(|e| bad(&format!("TLS: {e}")))?;
        }
        let bearer = match &cluster.token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| bad(&"the token holds characters a header cannot carry"))?,
            ),
            None => None,
        };
        Ok(Remote { name: cluster.name.clone(), channel: endpoint.connect_lazy(), bearer: Bearer(bearer) })
    }

    pub fn chan(&self) -> Chan {
        InterceptedService::new(self.channel.clone(), self.bearer.clone())
    }

    pub fn admin(&self) -> AdminClient<Chan> {
        AdminClient::new(self.chan())
    }

    pub fn broker(&self) -> BrokerClient<Chan> {
        BrokerClient::new(self.chan())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn registry(&self) -> RegistryClient<Chan> {
        RegistryClient::new(self.chan())
    }

    pub fn replication(&self) -> ReplicationClient<Chan> {
        ReplicationClient::new(self.chan())
    }
}

/// A remote's refusal or failure as one line, with the gRPC code's meaning.
pub fn describe(remote: &str, what: &str, s: &tonic::Status) -> String {
    use tonic::Code;
    let kind = match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => "unreachable",
        Code::PermissionDenied => "permission denied",
        Code::Unauthenticated => "not authenticated",
        Code::AlreadyExists | Code::FailedPrecondition | Code::InvalidArgument => "refused",
        Code::NotFound => "not found",
        _ => "failed",
    };
    format!("{what} at cluster '{remote}': {kind}: {}", s.message())
}

/// Whether a failure is one the remote will keep giving until someone fixes it (a refusal),
/// as opposed to one that passes (the remote down): the link is then `paused`, not `retrying`.
pub fn is_refusal(s: &tonic::Status) -> bool {
    use tonic::Code;
    !matches!(
        s.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
            | Code::ResourceExhausted
    )
}
