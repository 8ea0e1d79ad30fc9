//! Kafka names ↔ Runnel names: how a Kafka topic name (Kafka's characters only,
//! `[A-Za-z0-9._-]`, no `/`) and a Kafka group id reach `tenant/namespace/topic` and a
//! tenant's group, seen from one [`KafkaScope`].
//!
//! Two scopes, chosen per connection from the authenticated principal (the broker decides
//! which; this module only maps):
//!
//! - [`KafkaScope::Tenant`]`(T)`, for a principal whose topic grants all lie in one tenant
//!   `T` other than `public`: names are relative to the tenant. `orders` is
//!   `T/default/orders`, `billing.invoices` is `T/billing/invoices` (the part before the
//!   first dot is the namespace: namespace segments hold no dots, so the split is never
//!   ambiguous), and a default-namespace topic whose own name holds a dot is spelled with
//!   its namespace, `default.a.b` for `T/default/a.b`. Nothing outside `T` can be named.
//!   Group `g` is the tenant's group `T/g`.
//! - [`KafkaScope::Global`], with authentication off, for superusers and for principals whose
//!   grants span tenants (or are `public`'s): a name is `public/default/<name>` exactly as
//!   the listener always had it, except the explicit form `__T.N.X` (two underscores, then
//!   tenant, namespace and topic joined by dots; tenant and namespace hold no dots, so the
//!   topic keeps its own) for `T/N/X`. A `public/default` topic whose bare name would read as
//!   an explicit form is listed in the explicit form too (`__public.default.__a.b.c`), so
//!   every topic has exactly one Kafka name. Group ids are the stored names themselves:
//!   `g` is `public`'s group, `T/g` tenant `T`'s.
//!
//! Both directions are pure functions and inverse to each other on every valid name
//! ([`KafkaScope::topic`] of [`KafkaScope::kafka_topic`] is the identity), so a name listed
//! to a client always leads back to the same topic. The mapping confers nothing: whether
//! the caller may use what a name reaches is the authorizer's decision.

use crate::{
    validate_namespace, validate_tenant, validate_topic_segment, NameError, TopicName, DEFAULT_NAMESPACE,
    DEFAULT_TENANT,
};

/// The prefix of the global scope's explicit `__T.N.X` form.
pub const EXPLICIT_PREFIX: &str = "__";

/// Longest Kafka name accepted: the explicit form of the longest full name.
const MAX_KAFKA_NAME: usize = EXPLICIT_PREFIX.len() + 2 * crate::MAX_SEGMENT_LEN + 2 + crate::MAX_TOPIC_LEN;

/// How a connection's Kafka names map to Runnel names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KafkaScope {
    /// Bare names are `public/default`'s; `__T.N.X` names any topic.
    Global,
    /// Names are relative to this tenant (never `public`): `X`, `N.X`.
    Tenant(String),
}

impl KafkaScope {
    /// The scope of a principal whose topic grants all lie in `home` (`None`: several
    /// tenants, wildcards, a superuser, or authentication off). `public` is global: its
    /// topics keep the bare names they always had.
    pub fn for_home(home: Option<&str>) -> KafkaScope {
        match home {
            Some(t) if t != DEFAULT_TENANT && validate_tenant(t).is_ok() => KafkaScope::Tenant(t.to_owned()),
            _ => KafkaScope::Global,
        }
    }

    /// The topic a Kafka name reaches in this scope, or why it reaches none.
    pub fn topic(&self, kafka: &str) -> Result<TopicName, NameError> {
        check_kafka_name(kafka)?;
        match self {
            KafkaScope::Global => {
                explicit(kafka).unwrap_or_else(|| TopicName::new(DEFAULT_TENANT, DEFAULT_NAMESPACE, kafka))
            }
            KafkaScope::Tenant(tenant) => match kafka.split_once('.') {
                None => TopicName::new(tenant, DEFAULT_NAMESPACE, kafka),
                Some((ns, topic)) => {
                    validate_namespace(ns).map_err(|e| {
                        NameError::new(
                            "topic",
                            kafka,
                            format!(
                                "the part before the first '.' names the namespace ({}): {}",
                                ns, e.reason
                            ),
                        )
                    })?;
                    TopicName::new(tenant, ns, topic).map_err(|e| {
                        NameError::new("topic", kafka, format!("after the namespace: {}", e.reason))
                    })
                }
            },
        }
    }

    /// The Kafka name of `topic` in this scope; `None` when the scope cannot name it (a
    /// topic of another tenant, seen from a tenant scope).
    pub fn kafka_topic(&self, topic: &TopicName) -> Option<String> {
        match self {
            KafkaScope::Global => {
                let bare = topic.is_default() && explicit(topic.topic()).is_none();
                Some(if bare {
                    topic.topic().to_owned()
                } else {
                    format!("{EXPLICIT_PREFIX}{}.{}.{}", topic.tenant(), topic.namespace(), topic.topic())
                })
            }
            KafkaScope::Tenant(tenant) if topic.tenant() == tenant => {
                Some(if topic.namespace() == DEFAULT_NAMESPACE && !topic.topic().contains('.') {
                    topic.topic().to_owned()
                } else {
                    format!("{}.{}", topic.namespace(), topic.topic())
                })
            }
            KafkaScope::Tenant(_) => None,
        }
    }

    /// The stored name of the group a Kafka group id names in this scope: `g` in tenant
    /// `T`'s scope is `T/g`; in the global scope the id is the stored name.
    pub fn group(&self, kafka: &str) -> Result<String, NameError> {
        if kafka.is_empty() {
            return Err(NameError::new("group", kafka, "it is empty"));
        }
        Ok(match self {
            KafkaScope::Global => kafka.to_owned(),
            KafkaScope::Tenant(tenant) => format!("{tenant}/{kafka}"),
        })
    }

    /// The Kafka group id of a stored group name; `None` when this scope cannot name it.
    pub fn kafka_group(&self, stored: &str) -> Option<String> {
        match self {
            KafkaScope::Global => Some(stored.to_owned()),
            KafkaScope::Tenant(tenant) => {
                stored.strip_prefix(tenant.as_str())?.strip_prefix('/').map(str::to_owned)
            }
        }
    }
}

/// The tenant a stored group name belongs to: `T` for `T/g` (`T` a valid tenant name),
/// `public` otherwise.
pub fn group_tenant(stored: &str) -> &str {
    match stored.split_once('/') {
        Some((tenant, rest)) if !rest.is_empty() && validate_tenant(tenant).is_ok() => tenant,
        _ => DEFAULT_TENANT,
    }
}

/// The explicit `__T.N.X` form, if `kafka` is one.
fn explicit(kafka: &str) -> Option<Result<TopicName, NameError>> {
    let rest = kafka.strip_prefix(EXPLICIT_PREFIX)?;
    let (tenant, rest) = rest.split_once('.')?;
    let (ns, topic) = rest.split_once('.')?;
    if validate_tenant(tenant).is_err()
        || validate_namespace(ns).is_err()
        || validate_topic_segment(topic).is_err()
    {
        return None;
    }
    Some(TopicName::new(tenant, ns, topic))
}

/// Kafka's characters: `[A-Za-z0-9._-]`, not empty, not `.` or `..`.
fn check_kafka_name(kafka: &str) -> Result<(), NameError> {
    if kafka.is_empty() {
        return Err(NameError::new("topic", kafka, "it is empty"));
    }
    if kafka.len() > MAX_KAFKA_NAME {
        return Err(NameError::new("topic", kafka, format!("it is longer than {MAX_KAFKA_NAME} characters")));
    }
    if let Some(c) = kafka.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(NameError::new(
            "topic",
            kafka,
            format!("character {c:?} is not a Kafka topic character (a-z, A-Z, 0-9, '.', '_', '-')"),
        ));
    }
    if kafka == "." || kafka == ".." {
        return Err(NameError::new("topic", kafka, "'.' and '..' are not topic names"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> TopicName {
        TopicName::parse(s).unwrap()
    }

    fn acme() -> KafkaScope {
        KafkaScope::Tenant("acme".into())
    }

    #[test]
    fn global_scope_keeps_bare_names_and_has_an_explicit_form() {
        let g = KafkaScope::Global;
        assert_eq!(g.topic("users").unwrap(), full("users"));
        assert_eq!(g.topic("invoices.v2").unwrap(), full("public/default/invoices.v2"));
        assert_eq!(g.topic("__consumer_offsets").unwrap(), full("__consumer_offsets"));
        assert_eq!(g.topic("__acme.billing.invoices.v2").unwrap(), full("acme/billing/invoices.v2"));
        assert_eq!(g.topic("__acme.default.orders").unwrap(), full("acme/default/orders"));
        // Not a valid explicit form (a dot in no tenant, a bad namespace): a bare name.
        assert_eq!(g.topic("__acme.orders").unwrap(), full("__acme.orders"));
        assert_eq!(g.kafka_topic(&full("users")).unwrap(), "users");
        assert_eq!(g.kafka_topic(&full("public/ops/x")).unwrap(), "__public.ops.x");
        assert_eq!(g.kafka_topic(&full("acme/default/orders")).unwrap(), "__acme.default.orders");
        // A bare name that would read as the explicit form is listed explicitly.
        assert_eq!(g.kafka_topic(&full("__a.b.c")).unwrap(), "__public.default.__a.b.c");
        assert_eq!(g.topic("__public.default.__a.b.c").unwrap(), full("__a.b.c"));
        assert_eq!(g.kafka_topic(&full("__x")).unwrap(), "__x");
    }

    #[test]
    fn tenant_scope_is_relative_and_closed() {
        let a = acme();
        assert_eq!(a.topic("orders").unwrap(), full("acme/default/orders"));
        assert_eq!(a.topic("billing.invoices").unwrap(), full("acme/billing/invoices"));
        assert_eq!(a.topic("billing.invoices.v2").unwrap(), full("acme/billing/invoices.v2"));
        assert_eq!(a.topic("default.a.b").unwrap(), full("acme/default/a.b"));
        // Every name stays inside the tenant: the explicit form is just a namespace here.
        assert_eq!(a.topic("__beta.default.orders").unwrap(), full("acme/__beta/default.orders"));
        assert_eq!(a.kafka_topic(&full("acme/default/orders")).unwrap(), "orders");
        assert_eq!(a.kafka_topic(&full("acme/billing/invoices")).unwrap(), "billing.invoices");
        assert_eq!(a.kafka_topic(&full("acme/default/a.b")).unwrap(), "default.a.b");
        assert_eq!(a.kafka_topic(&full("beta/default/orders")), None);
        assert_eq!(a.kafka_topic(&full("orders")), None);
        let e = a.topic("bad!ns.x").unwrap_err().to_string();
        assert!(e.contains("character '!'"), "{e}");
        let e = a.topic(".x").unwrap_err().to_string();
        assert!(e.contains("names the namespace"), "{e}");
        let e = a.topic("ns.").unwrap_err().to_string();
        assert!(e.contains("after the namespace"), "{e}");
    }

    #[test]
    fn both_directions_are_inverse() {
        let names = [
            "users",
            "a.b.c",
            "__x",
            "__a.b.c",
            "__public.default.x",
            "public/ops/x",
            "acme/default/orders",
            "acme/default/a.b",
            "acme/billing/invoices.v2",
            "acme/default/..x",
            "beta/web/__a.b.c",
        ];
        for scope in [KafkaScope::Global, acme()] {
            for n in names {
                let t = full(n);
                if let Some(k) = scope.kafka_topic(&t) {
                    assert!(check_kafka_name(&k).is_ok(), "{k}");
                    assert_eq!(scope.topic(&k).unwrap(), t, "{scope:?} {n} -> {k}");
                }
            }
        }
    }

    #[test]
    fn refuses_non_kafka_names() {
        for scope in [KafkaScope::Global, acme()] {
            for bad in ["", ".", "..", "a/b", "acme/default/x", "a b", "ü", "x\0"] {
                let e = scope.topic(bad).expect_err(bad).to_string();
                assert!(e.starts_with("invalid topic name"), "{e}");
            }
        }
        assert!(KafkaScope::Global.topic(&"a".repeat(250)).is_err(), "a bare name keeps Kafka's 249");
    }

    #[test]
    fn scopes_come_from_the_home_tenant() {
        assert_eq!(KafkaScope::for_home(None), KafkaScope::Global);
        assert_eq!(KafkaScope::for_home(Some("public")), KafkaScope::Global);
        assert_eq!(KafkaScope::for_home(Some("acme")), acme());
        assert_eq!(KafkaScope::for_home(Some("a*")), KafkaScope::Global);
    }

    #[test]
    fn groups_are_scoped_like_topics() {
        let a = acme();
        assert_eq!(a.group("mailer").unwrap(), "acme/mailer");
        assert_eq!(a.kafka_group("acme/mailer").unwrap(), "mailer");
        assert_eq!(a.kafka_group("beta/mailer"), None);
        assert_eq!(a.kafka_group("mailer"), None);
        assert_eq!(a.kafka_group("acmex/mailer"), None);
        assert_eq!(KafkaScope::Global.group("mailer").unwrap(), "mailer");
        assert_eq!(KafkaScope::Global.group("acme/mailer").unwrap(), "acme/mailer");
        assert!(a.group("").is_err());
        assert_eq!(group_tenant("acme/mailer"), "acme");
        assert_eq!(group_tenant("mailer"), "public");
        assert_eq!(group_tenant("a.b/x"), "public");
        assert_eq!(group_tenant("acme/"), "public");
        assert_eq!(group_tenant(&a.group("x/y").unwrap()), "acme");
    }
}
