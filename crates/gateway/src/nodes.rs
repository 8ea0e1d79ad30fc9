//! One gateway port per upstream broker, so that a cluster of several brokers is reached
//! through the gateway as Kafka clients expect: a client sends each partition's requests to
//! the broker that leads it, and the gateway must know, from the port a connection came to,
//! which broker that is (the approach of Kafka proxies such as Kroxylicious).
//!
//! Every broker the cluster names (in Metadata, FindCoordinator and DescribeCluster
//! answers) gets a listener of its own when it is first named: at `base + node id` with
//! `--node-port-base`, else at a free port; the answer is rewritten to name the gateway's
//! host and that port. A connection to that port is forwarded to the broker's own address,
//! as the cluster last named it. The bootstrap port forwards to the first bootstrap broker
//! that accepts, as before.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::net::TcpListener;

/// Where a client connection's requests go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The first bootstrap broker that accepts a connection.
    Bootstrap,
    /// The broker with this node id, at the address the cluster last gave for it.
    Node(i32),
}

/// Starts serving clients on a listener whose connections go to `Route`.
pub(crate) type Serve = Arc<dyn Fn(TcpListener, Route) + Send + Sync>;

/// The upstream brokers named so far, each with its gateway port.
pub(crate) struct Nodes {
    /// The address node listeners bind (the bootstrap listener's).
    bind_ip: IpAddr,
    /// Node N listens at `base + N`; `None`: at a free port.
    base: Option<u16>,
    by_id: Mutex<HashMap<i32, Node>>,
    /// Set once the gateway's state exists (the accept loops need it).
    serve: std::sync::OnceLock<Serve>,
}

struct Node {
    /// The broker's own address, as the cluster last gave it.
    upstream: String,
    /// The gateway's port for it.
    port: u16,
}

impl Nodes {
    pub(crate) fn new(bind_ip: IpAddr, base: Option<u16>) -> Nodes {
        Nodes { bind_ip, base, by_id: Mutex::new(HashMap::new()), serve: std::sync::OnceLock::new() }
    }

    /// Sets how a new node's listener is served (once, at start).
    pub(crate) fn serve_with(&self, serve: Serve) {
        let _ = self.serve.set(serve);
    }

    /// The gateway's port for broker `node_id`, now at `host:port` upstream: its
    /// listener is bound the first time the broker is named. `None` when no port can be
    /// bound (logged); the caller then names the bootstrap port.
    pub(crate) fn port_for(&self, node_id: i32, host: &str, port: i32) -> Option<u16> {
        let upstream = format!("{host}:{port}");
        let mut by_id = self.by_id.lock();
        if let Some(node) = by_id.get_mut(&node_id) {
            if node.upstream != upstream {
                tracing::info!(node_id, from = %node.upstream, to = %upstream, "an upstream broker moved");
                node.upstream = upstream;
            }
            return Some(node.port);
        }
        let listener = match self.bind(node_id) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(node_id, error = %e, "cannot listen for upstream broker {node_id}");
                return None;
            }
        };
        let bound = listener.local_addr().ok()?.port();
        tracing::info!(node_id, upstream = %upstream, port = bound, "serving an upstream broker");
        by_id.insert(node_id, Node { upstream, port: bound });
        match self.serve.get() {
            Some(serve) => serve(listener, Route::Node(node_id)),
            None => tracing::error!(node_id, "a node listener before the gateway started"),
        }
        Some(bound)
    }

    /// The upstream address of broker `node_id`, if the cluster has named it.
    pub(crate) fn upstream_of(&self, node_id: i32) -> Option<String> {
        self.by_id.lock().get(&node_id).map(|n| n.upstream.clone())
    }

    fn bind(&self, node_id: i32) -> std::io::Result<TcpListener> {
        let port = match self.base {
            None => 0,
            Some(base) => {
                u16::try_from(node_id).ok().and_then(|id| base.checked_add(id)).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("node id {node_id} does not fit above --node-port-base {base}"),
                    )
                })?
            }
        };
        let listener = std::net::TcpListener::bind(SocketAddr::new(self.bind_ip, port))?;
        listener.set_nonblocking(true)?;
        TcpListener::from_std(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ports served so far, with their routes.
    type Served = Arc<Mutex<Vec<(u16, Route)>>>;

    fn nodes(base: Option<u16>) -> (Arc<Nodes>, Served) {
        let nodes = Arc::new(Nodes::new(IpAddr::from([127, 0, 0, 1]), base));
        let served = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&served);
        nodes.serve_with(Arc::new(move |l: TcpListener, route| {
            seen.lock().push((l.local_addr().map(|a| a.port()).unwrap_or(0), route));
        }));
        (nodes, served)
    }

    #[tokio::test]
    async fn each_broker_gets_a_port_of_its_own_and_keeps_it() {
        let (nodes, served) = nodes(None);
        let a = nodes.port_for(1, "broker1", 9092).unwrap();
        let b = nodes.port_for(2, "broker2", 9092).unwrap();
        let c = nodes.port_for(3, "broker3", 9093).unwrap();
        assert!(a != b && b != c && a != c);
        assert_eq!(nodes.port_for(2, "broker2", 9092), Some(b));
        assert_eq!(nodes.upstream_of(3).as_deref(), Some("broker3:9093"));
        assert_eq!(nodes.upstream_of(4), None);
        // Named again at a new address: the same port, forwarded to the new address.
        assert_eq!(nodes.port_for(3, "broker3b", 9093), Some(c));
        assert_eq!(nodes.upstream_of(3).as_deref(), Some("broker3b:9093"));
        let served = served.lock().clone();
        assert_eq!(served, vec![(a, Route::Node(1)), (b, Route::Node(2)), (c, Route::Node(3))]);
    }

    #[tokio::test]
    async fn with_a_base_node_n_listens_at_base_plus_n() {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        let (at_base, _) = nodes(Some(base));
        assert_eq!(at_base.port_for(0, "broker0", 9092), Some(base));
        // An id that does not fit above the base: no port, said in the log.
        let (high, _) = nodes(Some(u16::MAX - 1));
        assert_eq!(high.port_for(5, "broker5", 9092), None);
    }
}
