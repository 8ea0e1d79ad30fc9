//! Runnel's names, in one place for every crate that needs them: tenant, namespace and topic
//! names (`tenant/namespace/topic`; a bare `topic` is `public/default/topic`), and the
//! schema-registry context and subject each topic binds to ([`context`]), and how Kafka
//! topic names and group ids reach them ([`kafka`]).
//!
//! The broker and the CLI reach this crate as `runnel_auth::names`; the registry uses
//! [`context`] directly, without the token and permission code of `runnel-auth`.
//!
//! The rules:
//! - tenant and namespace segments: `[A-Za-z0-9_-]{1,64}` (no dots, so they can name a
//!   registry context and a subject prefix unambiguously; no slashes);
//! - the topic segment: Kafka's rule, as bare topic names always had it: `[A-Za-z0-9._-]`,
//!   at most 249 characters, not `.` or `..`;
//! - exactly one or three segments; anything else is refused with the rule it breaks.

pub mod context;
pub mod kafka;

use std::fmt;

pub use context::{
    context_name, context_of, context_of_tenant, is_valid_context, normalize_subject, qualify,
    qualify_subject, split_subject, tenant_of_subject, DEFAULT_CONTEXT,
};

/// The tenant that holds bare names.
pub const DEFAULT_TENANT: &str = "public";
/// The namespace that holds bare names.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Longest tenant or namespace segment.
pub const MAX_SEGMENT_LEN: usize = 64;
/// Longest topic segment (Kafka's limit, and today's limit for bare names).
pub const MAX_TOPIC_LEN: usize = 249;

/// A name that breaks a rule; the message names the name, the kind and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name '{name}': {reason}")]
pub struct NameError {
    /// What was being named: `topic`, `tenant`, `namespace`.
    pub kind: &'static str,
    /// The offending input (shortened when very long).
    pub name: String,
    /// The rule it breaks.
    pub reason: String,
}

impl NameError {
    fn new(kind: &'static str, name: &str, reason: impl Into<String>) -> NameError {
        // An overlong input is not echoed whole into logs and error messages.
        let name = if name.chars().count() > 80 {
            format!("{}…", name.chars().take(80).collect::<String>())
        } else {
            name.to_owned()
        };
        NameError { kind, name, reason: reason.into() }
    }
}

/// Which half of a record a subject describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// The key's schema: `<name>-key`.
    Key,
    /// The value's schema: `<name>-value`.
    Value,
}

fn check_segment(kind: &'static str, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::new(kind, s, "it is empty"));
    }
    if s.len() > MAX_SEGMENT_LEN {
        return Err(NameError::new(kind, s, format!("it is longer than {MAX_SEGMENT_LEN} characters")));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))) {
        return Err(NameError::new(
            kind,
            s,
            format!(
                "character {c:?} is not allowed (use a-z, A-Z, 0-9, '_', '-'; at most {MAX_SEGMENT_LEN})"
            ),
        ));
    }
    Ok(())
}

/// Checks a tenant name: `[A-Za-z0-9_-]{1,64}`.
pub fn validate_tenant(name: &str) -> Result<(), NameError> {
    check_segment("tenant", name)
}

/// Checks a namespace name (the segment alone): `[A-Za-z0-9_-]{1,64}`.
pub fn validate_namespace(name: &str) -> Result<(), NameError> {
    check_segment("namespace", name)
}

/// Checks a topic segment: `[A-Za-z0-9._-]`, 1 to 249 characters, not `.` or `..`.
pub fn validate_topic_segment(name: &str) -> Result<(), NameError> {
    let bad = |why: String| Err(NameError::new("topic", name, why));
    if name.is_empty() {
        return bad("it is empty".into());
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed".into());
    }
    if name.len() > MAX_TOPIC_LEN {
        return bad(format!("it is longer than {MAX_TOPIC_LEN} characters"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return bad(format!("character {c:?} is not allowed (use a-z, A-Z, 0-9, '.', '_', '-')"));
    }
    Ok(())
}

/// A namespace's full name, `tenant/namespace`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceName {
    tenant: String,
    namespace: String,
}

impl NamespaceName {
    /// Builds a namespace name from checked segments.
    pub fn new(tenant: &str, namespace: &str) -> Result<NamespaceName, NameError> {
        validate_tenant(tenant)?;
        validate_namespace(namespace)?;
        Ok(NamespaceName { tenant: tenant.to_owned(), namespace: namespace.to_owned() })
    }

    /// Parses `tenant/namespace` (exactly two segments).
    pub fn parse(s: &str) -> Result<NamespaceName, NameError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [t, n] => NamespaceName::new(t, n).map_err(|e| NameError::new("namespace", s, e.to_string())),
            _ => Err(NameError::new(
                "namespace",
                s,
                format!("a namespace is named 'tenant/namespace' (2 segments), not {} segments", parts.len()),
            )),
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The namespace segment.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether this is `public/default`, the home of bare names.
    pub fn is_default(&self) -> bool {
        self.tenant == DEFAULT_TENANT && self.namespace == DEFAULT_NAMESPACE
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.namespace)
    }
}

/// A topic's full name: `tenant/namespace/topic`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName {
    tenant: String,
    namespace: String,
    topic: String,
}

impl TopicName {
    /// Builds a topic name from checked segments.
    pub fn new(tenant: &str, namespace: &str, topic: &str) -> Result<TopicName, NameError> {
        validate_tenant(tenant)?;
        validate_namespace(namespace)?;
        validate_topic_segment(topic)?;
        Ok(TopicName { tenant: tenant.to_owned(), namespace: namespace.to_owned(), topic: topic.to_owned() })
    }

    /// Parses a bare `topic` (meaning `public/default/topic`) or a full `tenant/namespace/topic`.
    pub fn parse(s: &str) -> Result<TopicName, NameError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [topic] => TopicName::new(DEFAULT_TENANT, DEFAULT_NAMESPACE, topic),
            [t, n, topic] => TopicName::new(t, n, topic).map_err(|e| {
                // Name the whole input and which segment broke which rule.
                NameError::new("topic", s, format!("{} segment: {}", e.kind, e.reason))
            }),
            _ => Err(NameError::new(
                "topic",
                s,
                format!(
                    "a topic is named 'topic' or 'tenant/namespace/topic' (1 or 3 segments), not {} segments",
                    parts.len()
                ),
            )),
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The namespace segment.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The topic segment.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The namespace the topic lives in.
    pub fn namespace_name(&self) -> NamespaceName {
        NamespaceName { tenant: self.tenant.clone(), namespace: self.namespace.clone() }
    }

    /// Whether the topic is in `public/default` (has a bare name).
    pub fn is_default(&self) -> bool {
        self.tenant == DEFAULT_TENANT && self.namespace == DEFAULT_NAMESPACE
    }

    /// The name as listed: bare for `public/default`, full otherwise.
    pub fn short(&self) -> String {
        if self.is_default() {
            self.topic.clone()
        } else {
            self.to_string()
        }
    }

    /// The registry subject the topic binds to (TopicNameStrategy within the tenant's context):
    /// `public/default/x` → `x-value`, `public/N/x` → `N.x-value`, `T/default/x` → `:.T:x-value`,
    /// `T/N/x` → `:.T:N.x-value`.
    pub fn subject(&self, kind: SubjectKind) -> String {
        let suffix = match kind {
            SubjectKind::Key => "key",
            SubjectKind::Value => "value",
        };
        let local = if self.namespace == DEFAULT_NAMESPACE {
            format!("{}-{suffix}", self.topic)
        } else {
            format!("{}.{}-{suffix}", self.namespace, self.topic)
        };
        qualify_subject(&self.tenant, &local)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.namespace, self.topic)
    }
}

impl std::str::FromStr for TopicName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<TopicName, NameError> {
        TopicName::parse(s)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_public_default() {
        let n = TopicName::parse("users").unwrap();
        assert_eq!((n.tenant(), n.namespace(), n.topic()), ("public", "default", "users"));
        assert!(n.is_default());
        assert_eq!(n.to_string(), "public/default/users");
        assert_eq!(n.short(), "users");
        assert_eq!(n, TopicName::parse("public/default/users").unwrap());
        assert_eq!(TopicName::parse("public/default/users").unwrap().short(), "users");
    }

    #[test]
    fn full_names_keep_their_segments() {
        let n = TopicName::parse("acme/billing/invoices.v2").unwrap();
        assert_eq!((n.tenant(), n.namespace(), n.topic()), ("acme", "billing", "invoices.v2"));
        assert!(!n.is_default());
        assert_eq!(n.short(), "acme/billing/invoices.v2");
        assert_eq!(n.namespace_name().to_string(), "acme/billing");
        assert_eq!(TopicName::parse("public/ops/x").unwrap().short(), "public/ops/x");
        assert_eq!(TopicName::parse("acme/default/x").unwrap().short(), "acme/default/x");
    }

    #[test]
    fn subjects_follow_the_tenant_context() {
        let s = |n: &str| TopicName::parse(n).unwrap().subject(SubjectKind::Value);
        assert_eq!(s("users"), "users-value");
        assert_eq!(s("public/default/users"), "users-value");
        assert_eq!(s("public/ops/users"), "ops.users-value");
        assert_eq!(s("acme/default/users"), ":.acme:users-value");
        assert_eq!(s("acme/billing/users"), ":.acme:billing.users-value");
        assert_eq!(TopicName::parse("acme/b/k").unwrap().subject(SubjectKind::Key), ":.acme:b.k-key");
    }

    #[test]
    fn refuses_bad_names_of_every_kind() {
        let long64 = "a".repeat(64);
        let long65 = "a".repeat(65);
        let ok = [
            "users".to_owned(),
            "a.b_c-d".to_owned(),
            "a".repeat(249),
            format!("{long64}/{long64}/x"),
            "T-1/n_2/..x".to_owned(),
        ];
        for n in &ok {
            assert!(TopicName::parse(n).is_ok(), "{n}");
        }
        let bad = [
            ("", "empty"),
            (".", "'.' and '..'"),
            ("..", "'.' and '..'"),
            ("a/b", "2 segments"),
            ("a/b/c/d", "4 segments"),
            ("/a/b", "tenant segment: it is empty"),
            ("a//b", "namespace segment: it is empty"),
            ("a/b/", "topic segment: it is empty"),
            ("a/b/..", "'.' and '..'"),
            ("../b/c", "not allowed"),
            ("a/../c", "not allowed"),
            ("a.b/ns/c", "character '.'"),
            ("a/n.s/c", "character '.'"),
            ("a b", "character ' '"),
            ("ü", "character 'ü'"),
            ("acme/ns/ünï", "character 'ü'"),
            ("a\\b", "character '\\\\'"),
            ("a/b/c\0", "character '\\0'"),
        ];
        for (n, why) in bad {
            let e = TopicName::parse(n).expect_err(n).to_string();
            assert!(e.contains(why), "{n:?}: {e}");
            assert!(e.starts_with("invalid topic name"), "{e}");
        }
        let e = TopicName::parse(&"a".repeat(250)).unwrap_err().to_string();
        assert!(e.contains("longer than 249"), "{e}");
        assert!(e.len() < 250, "overlong input is shortened in the message: {e}");
        let e = TopicName::parse(&format!("{long65}/n/x")).unwrap_err().to_string();
        assert!(e.contains("tenant segment: it is longer than 64"), "{e}");
        let e = TopicName::parse(&format!("t/{long65}/x")).unwrap_err().to_string();
        assert!(e.contains("namespace segment: it is longer than 64"), "{e}");
    }

    #[test]
    fn namespace_names_have_two_segments() {
        let n = NamespaceName::parse("acme/billing").unwrap();
        assert_eq!((n.tenant(), n.namespace()), ("acme", "billing"));
        assert!(!n.is_default());
        assert!(NamespaceName::parse("public/default").unwrap().is_default());
        for bad in ["acme", "a/b/c", "/b", "a/", "a/..", "a/b.c", "ü/x"] {
            let e = NamespaceName::parse(bad).expect_err(bad).to_string();
            assert!(e.starts_with("invalid namespace name"), "{e}");
        }
        assert!(validate_tenant("acme_1-x").is_ok());
        assert!(validate_tenant("").is_err());
        assert!(validate_tenant(&"x".repeat(65)).is_err());
    }
}
