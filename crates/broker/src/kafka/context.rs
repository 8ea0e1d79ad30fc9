//! The context every Kafka request handler runs with ([`Ctx`]): the broker's services, the
//! listener's group coordinator, the address clients reached the listener on, and who is
//! asking ([`Access`]: the connection's authenticated caller and how its Kafka names map to
//! Runnel's).

use std::sync::Arc;

use runnel_auth::names::kafka::KafkaScope;
use runnel_auth::names::TopicName;

use crate::auth::{Caller, Permission, Resource};
use crate::broker::Broker;
use crate::kafka_groups::Coordinator;

/// What every request handler needs: the broker, the group coordinator, the address
/// clients reached this listener on (advertised as broker 0), the peer's, and the caller.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) broker: Arc<Broker>,
    pub(crate) coordinator: Arc<Coordinator>,
    pub(crate) host: Arc<str>,
    pub(crate) port: i32,
    /// The client's IP as Kafka shows it (`/127.0.0.1`, DescribeGroups' client host).
    pub(crate) client_host: Arc<str>,
    /// The connection's caller as of this request (SASL may change it between requests).
    pub(crate) access: Arc<Access>,
}

/// Who a connection's requests come from, and how it names things.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// [`Caller::Open`] with authentication off; the SASL-authenticated principal otherwise.
    pub(crate) caller: Caller,
    /// How Kafka topic names and group ids map to Runnel's for this caller.
    pub(crate) scope: KafkaScope,
}

impl Access {
    /// Authentication off: everything allowed, bare names are `public/default`'s.
    pub(crate) fn open() -> Access {
        Access { caller: Caller::Open, scope: KafkaScope::Global }
    }

    /// Whether the caller holds `permission` on `topic`.
    pub(crate) fn allows(&self, permission: Permission, topic: &TopicName) -> bool {
        Caller::check(Some(&self.caller), permission, &Resource::Topic(topic)).is_ok()
    }

    /// Whether the caller may see `resource` (Metadata, listings).
    pub(crate) fn sees(&self, resource: &Resource<'_>) -> bool {
        Caller::sees(Some(&self.caller), resource)
    }

    /// The caller's name for logs (`-` with authentication off).
    pub(crate) fn who(&self) -> &str {
        self.caller.name().unwrap_or("-")
    }

    /// The Kafka name of a topic stored under `stored` (a short name), as this caller
    /// sees it; `None` when its scope cannot name it.
    pub(crate) fn kafka_name(&self, stored: &str) -> Option<String> {
        TopicName::parse(stored).ok().and_then(|t| self.scope.kafka_topic(&t))
    }
}
