//! The context every Kafka request handler runs with ([`Ctx`]): the broker's services, the
//! listener's group coordinator, and the address clients reached the listener on.

use std::sync::Arc;

use super::groups::Coordinator;
use crate::broker::Broker;

/// What every request handler needs: the broker, the group coordinator, and
/// the address clients reached this listener on (advertised as broker 0).
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) broker: Arc<Broker>,
    pub(crate) coordinator: Arc<Coordinator>,
    pub(crate) host: Arc<str>,
    pub(crate) port: i32,
}
