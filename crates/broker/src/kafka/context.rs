//! The context every Kafka request handler runs with ([`Ctx`]): the broker's services, the
//! listener's group coordinator, and the address clients reached the listener on.

use std::sync::Arc;

use super::groups::Coordinator;
use crate::broker::Broker;

/// What every request handler needs: the broker, the group coordinator, the
/// address clients reached this listener on (advertised as broker 0), and the peer's.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) broker: Arc<Broker>,
    pub(crate) coordinator: Arc<Coordinator>,
    pub(crate) host: Arc<str>,
    pub(crate) port: i32,
    /// The client's IP as Kafka shows it (`/127.0.0.1`, DescribeGroups' client host).
    pub(crate) client_host: Arc<str>,
}
