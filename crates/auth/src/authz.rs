//! Permissions, resources, grants, and the decision whether a principal may act.
//!
//! A token carries a list of grants (its `roles` claim), each a string:
//!
//! | grant | allows |
//! | --- | --- |
//! | `superuser` | everything, including the cluster (tenants, registry-wide config) |
//! | `admin:T`, `admin:T/N`, `admin:T/N/X` | every permission inside the tenant, namespace or topic, and on the subjects of its topics |
//! | `produce:T/N/X` | produce to the matching topics, and read their subjects' schemas |
//! | `consume:T/N/X` | consume (fetch, groups, subscriptions) the matching topics, and read their subjects' schemas |
//! | `schema-read:T[:PATTERN]` | read the subjects of tenant `T`'s registry context (those whose name matches `PATTERN`) |
//! | `schema-write:T[:PATTERN]` | read and write them |
//!
//! Every segment (`T`, `N`, `X`, `PATTERN`) may hold `*` wildcards (`*` alone matches any
//! segment, `orders-*` any segment with that prefix). The decision is a pure function of the
//! grants: tokens are self-contained, the server keeps no per-principal state.
//!
//! Visibility (for listings) is wider than permission: a tenant, namespace or topic is
//! visible when some grant reaches into it (`produce:acme/web/orders` shows tenant `acme`,
//! namespace `acme/web` and that one topic), so a caller sees the path to what it may use and
//! nothing else.

use std::fmt;

use crate::names::{self, TopicName, DEFAULT_NAMESPACE};

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Append records to a topic.
    Produce,
    /// Read records of a topic: fetch, list offsets, consumer groups, subscriptions.
    Consume,
    /// Create, configure and delete topics, namespaces and tenants.
    Admin,
    /// Read schemas, versions and configuration of a subject.
    SchemaRead,
    /// Register, delete and configure a subject.
    SchemaWrite,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 5] = [
        Permission::Produce,
        Permission::Consume,
        Permission::Admin,
        Permission::SchemaRead,
        Permission::SchemaWrite,
    ];

    /// The name used in grants and error messages: `produce`, `consume`, `admin`,
    /// `schema-read`, `schema-write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Produce => "produce",
            Permission::Consume => "consume",
            Permission::Admin => "admin",
            Permission::SchemaRead => "schema-read",
            Permission::SchemaWrite => "schema-write",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller wants to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The cluster itself: tenants as a whole, registry-wide configuration and mode.
    Cluster,
    /// One tenant.
    Tenant(&'a str),
    /// One namespace of a tenant.
    Namespace {
        /// The tenant.
        tenant: &'a str,
        /// The namespace.
        namespace: &'a str,
    },
    /// One topic.
    Topic(&'a TopicName),
    /// A registry subject, qualified (`:.ctx:name`) or bare (the default context).
    Subject(&'a str),
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Cluster => f.write_str("the cluster"),
            Resource::Tenant(t) => write!(f, "tenant {t}"),
            Resource::Namespace { tenant, namespace } => write!(f, "namespace {tenant}/{namespace}"),
            Resource::Topic(t) => write!(f, "topic {t}"),
            Resource::Subject(s) => write!(f, "subject {s}"),
        }
    }
}

/// A grant that cannot be parsed; the message names the grant and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid grant '{grant}': {reason}")]
pub struct GrantError {
    /// The grant as written.
    pub grant: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One segment of a grant: a literal or a pattern with `*` wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Whether the pattern matches every value (`*`).
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    /// Whether `value` matches: `*` matches any run of characters (also an empty one).
    pub fn matches(&self, value: &str) -> bool {
        glob_match(self.0.as_bytes(), value.as_bytes())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Iterative glob matching with `*` only (linear backtracking on the last star).
fn glob_match(pattern: &[u8], value: &[u8]) -> bool {
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, v));
            p += 1;
        } else if p < pattern.len() && pattern[p] == value[v] {
            p += 1;
            v += 1;
        } else if let Some((sp, sv)) = star {
            p = sp + 1;
            v = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What a grant is about: a path prefix of `tenant/namespace/topic`, or subjects of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Everything, the cluster included.
    All,
    /// Tenants, namespaces and topics under the path (1 to 3 segments).
    Path(Vec<Pattern>),
    /// Subjects of a tenant's context whose name matches (`None`: all of them).
    Subjects { tenant: Pattern, name: Option<Pattern> },
}

/// One parsed grant of a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    text: String,
    kind: GrantKind,
    scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantKind {
    Superuser,
    Admin,
    Produce,
    Consume,
    SchemaRead,
    SchemaWrite,
}

impl Grant {
    /// Parses one grant (see the module documentation for the syntax).
    pub fn parse(text: &str) -> Result<Grant, GrantError> {
        let err = |reason: &str| GrantError { grant: text.to_owned(), reason: reason.to_owned() };
        if text == "superuser" {
            return Ok(Grant { text: text.to_owned(), kind: GrantKind::Superuser, scope: Scope::All });
        }
        let Some((verb, rest)) = text.split_once(':') else {
            return Err(err(
                "expected `superuser` or `VERB:SCOPE` with VERB one of admin, produce, consume, \
                 schema-read, schema-write",
            ));
        };
        let kind = match verb {
            "admin" => GrantKind::Admin,
            "produce" => GrantKind::Produce,
            "consume" => GrantKind::Consume,
            "schema-read" => GrantKind::SchemaRead,
            "schema-write" => GrantKind::SchemaWrite,
            _ => {
                return Err(err(
                    "unknown permission; expected admin, produce, consume, schema-read or schema-write",
                ))
            }
        };
        let scope = match kind {
            GrantKind::Admin => {
                let segments = parse_path(rest).map_err(|r| err(&r))?;
                if segments.is_empty() || segments.len() > 3 {
                    return Err(err("admin takes TENANT, TENANT/NAMESPACE or TENANT/NAMESPACE/TOPIC"));
                }
                Scope::Path(segments)
            }
            GrantKind::Produce | GrantKind::Consume => {
                let segments = parse_path(rest).map_err(|r| err(&r))?;
                if segments.len() != 3 {
                    return Err(err(&format!(
                        "{verb} takes TENANT/NAMESPACE/TOPIC (use `*` for any segment)"
                    )));
                }
                Scope::Path(segments)
            }
            GrantKind::SchemaRead | GrantKind::SchemaWrite => {
                let (tenant, name) = match rest.split_once(':') {
                    Some((t, n)) => (t, Some(n)),
                    None => (rest, None),
                };
                let tenant = parse_segment(tenant, SegmentKind::Tenant).map_err(|r| err(&r))?;
                let name = match name {
                    Some(n) => Some(parse_subject_pattern(n).map_err(|r| err(&r))?),
                    None => None,
                };
                Scope::Subjects { tenant, name }
            }
            GrantKind::Superuser => Scope::All,
        };
        Ok(Grant { text: text.to_owned(), kind, scope })
    }

    /// The grant as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the `superuser` grant.
    pub fn is_superuser(&self) -> bool {
        self.kind == GrantKind::Superuser
    }

    /// The one tenant this grant is confined to: the literal tenant segment of a path or
    /// schema grant; `None` for `superuser` and for a tenant pattern with `*`.
    pub fn tenant(&self) -> Option<&str> {
        let tenant = match &self.scope {
            Scope::All => return None,
            Scope::Path(segments) => segments.first()?,
            Scope::Subjects { tenant, .. } => tenant,
        };
        (!tenant.as_str().contains('*')).then_some(tenant.as_str())
    }

    /// Whether this grant is about topics (admin, produce, consume or superuser) rather
    /// than schema subjects only.
    pub fn is_topic_grant(&self) -> bool {
        !matches!(self.scope, Scope::Subjects { .. })
    }

    /// Whether this grant alone allows `permission` on `resource`.
    pub fn allows(&self, permission: Permission, resource: &Resource<'_>) -> bool {
        match (&self.scope, resource) {
            (Scope::All, _) => true,
            (_, Resource::Cluster) => false,
            (Scope::Path(grant), Resource::Subject(subject)) => {
                let reads = permission == Permission::SchemaRead;
                match self.kind {
                    GrantKind::Admin => subject_in_path(grant, subject, false),
                    GrantKind::Produce | GrantKind::Consume => reads && subject_in_path(grant, subject, true),
                    _ => false,
                }
            }
            (Scope::Path(grant), _) => {
                let Some(path) = resource_path(resource) else { return false };
                self.kind_allows(permission) && covers(grant, &path)
            }
            (Scope::Subjects { tenant, name }, Resource::Subject(subject)) => {
                self.kind_allows(permission) && subject_matches(tenant, name.as_ref(), subject)
            }
            (Scope::Subjects { .. }, _) => false,
        }
    }

    /// Whether this grant reaches into `resource` (see the module documentation).
    pub fn reaches(&self, resource: &Resource<'_>) -> bool {
        match (&self.scope, resource) {
            (Scope::All, _) => true,
            (_, Resource::Cluster) => true,
            (_, Resource::Subject(_)) => self.allows(Permission::SchemaRead, resource),
            (Scope::Path(grant), _) => {
                let Some(path) = resource_path(resource) else { return false };
                grant.iter().zip(path.iter()).all(|(p, v)| p.matches(v))
            }
            // A schema grant shows its tenant (the tenant holds the context), nothing below it.
            (Scope::Subjects { tenant, .. }, Resource::Tenant(t)) => tenant.matches(t),
            (Scope::Subjects { .. }, _) => false,
        }
    }

    fn kind_allows(&self, permission: Permission) -> bool {
        match self.kind {
            GrantKind::Superuser | GrantKind::Admin => true,
            GrantKind::Produce => permission == Permission::Produce,
            GrantKind::Consume => permission == Permission::Consume,
            GrantKind::SchemaRead => permission == Permission::SchemaRead,
            GrantKind::SchemaWrite => matches!(permission, Permission::SchemaRead | Permission::SchemaWrite),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Grant {
    type Err = GrantError;

    fn from_str(s: &str) -> Result<Grant, GrantError> {
        Grant::parse(s)
    }
}

/// Who is calling, and what it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: who the caller is (for logs and error messages).
    pub subject: String,
    /// What the caller may do.
    pub grants: Vec<Grant>,
}

impl Principal {
    /// A principal from its name and grant strings; the first bad grant is the error.
    pub fn new<S: AsRef<str>>(subject: impl Into<String>, grants: &[S]) -> Result<Principal, GrantError> {
        let grants = grants.iter().map(|g| Grant::parse(g.as_ref())).collect::<Result<_, _>>()?;
        Ok(Principal { subject: subject.into(), grants })
    }

    /// Whether some grant allows `permission` on `resource`.
    pub fn allows(&self, permission: Permission, resource: &Resource<'_>) -> bool {
        self.grants.iter().any(|g| g.allows(permission, resource))
    }

    /// Whether `resource` is visible to the caller: for subjects, readable; for tenants,
    /// namespaces and topics, reached into by some grant. Listings are filtered with it.
    pub fn can_see(&self, resource: &Resource<'_>) -> bool {
        self.grants.iter().any(|g| g.reaches(resource))
    }

    /// The one tenant all of the principal's topic grants are confined to, if there is one
    /// (`None`: no topic grant, several tenants, a tenant wildcard, or `superuser`). The
    /// Kafka listener names topics relative to it.
    pub fn home_tenant(&self) -> Option<&str> {
        let mut tenants = self.grants.iter().filter(|g| g.is_topic_grant()).map(Grant::tenant);
        let first = tenants.next()??;
        tenants.all(|t| t == Some(first)).then_some(first)
    }

    /// Whether the principal holds `superuser`.
    pub fn is_superuser(&self) -> bool {
        self.grants.iter().any(Grant::is_superuser)
    }
}

#[derive(Clone, Copy)]
enum SegmentKind {
    Tenant,
    Namespace,
    Topic,
}

impl SegmentKind {
    fn name(self) -> &'static str {
        match self {
            SegmentKind::Tenant => "tenant",
            SegmentKind::Namespace => "namespace",
            SegmentKind::Topic => "topic",
        }
    }
}

/// `T`, `T/N` or `T/N/X`, each segment a pattern over that segment's characters.
fn parse_path(text: &str) -> Result<Vec<Pattern>, String> {
    let kinds = [SegmentKind::Tenant, SegmentKind::Namespace, SegmentKind::Topic];
    let parts: Vec<&str> = text.split('/').collect();
    if parts.len() > kinds.len() {
        return Err("at most three segments: TENANT/NAMESPACE/TOPIC".to_owned());
    }
    parts.iter().zip(kinds).map(|(part, kind)| parse_segment(part, kind)).collect()
}

fn parse_segment(text: &str, kind: SegmentKind) -> Result<Pattern, String> {
    if text.is_empty() {
        return Err(format!("the {} segment is empty", kind.name()));
    }
    if text.contains('*') {
        // A pattern: the segment's characters and `*`; its literal parts follow the name rule.
        let allowed = |c: char| match kind {
            SegmentKind::Topic => c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*'),
            _ => c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*'),
        };
        let limit = match kind {
            SegmentKind::Topic => names::MAX_TOPIC_LEN,
            _ => names::MAX_SEGMENT_LEN,
        };
        if text.len() > limit || !text.chars().all(allowed) {
            return Err(format!(
                "the {} pattern '{text}' may hold only the characters of a {} name and `*`, \
                 at most {limit} of them",
                kind.name(),
                kind.name()
            ));
        }
    } else {
        let checked = match kind {
            SegmentKind::Tenant => names::validate_tenant(text),
            SegmentKind::Namespace => names::validate_namespace(text),
            SegmentKind::Topic => names::validate_topic_segment(text),
        };
        checked.map_err(|e| e.to_string())?;
    }
    Ok(Pattern(text.to_owned()))
}

fn parse_subject_pattern(text: &str) -> Result<Pattern, String> {
    if text.is_empty() {
        return Err("the subject pattern is empty".to_owned());
    }
    if text.len() > 255 || text.chars().any(|c| c.is_control() || c.is_whitespace() || c == ':') {
        return Err(format!(
            "the subject pattern '{text}' must be at most 255 characters without spaces, \
             control characters or `:`"
        ));
    }
    Ok(Pattern(text.to_owned()))
}

/// A tenant, namespace or topic as path segments.
fn resource_path<'a>(resource: &Resource<'a>) -> Option<Vec<&'a str>> {
    match *resource {
        Resource::Tenant(t) => Some(vec![t]),
        Resource::Namespace { tenant, namespace } => Some(vec![tenant, namespace]),
        Resource::Topic(t) => Some(vec![t.tenant(), t.namespace(), t.topic()]),
        Resource::Cluster | Resource::Subject(_) => None,
    }
}

/// Whether a grant's path covers all of `path`: each of the grant's segments matches, and a
/// grant deeper than the resource covers it only with `*` in every deeper segment
/// (`produce:acme/*/*` covers tenant `acme`; `produce:acme/web/*` does not).
fn covers(grant: &[Pattern], path: &[&str]) -> bool {
    grant.iter().enumerate().all(|(i, p)| match path.get(i) {
        Some(v) => p.matches(v),
        None => p.is_any(),
    })
}

/// Whether `subject` is a subject of a topic the grant's path covers. With `topic_only`, the
/// grant must name topics (produce/consume: their topics' subjects); otherwise (admin) any
/// depth. A subject maps back to its topics by the naming rule of [`TopicName::subject`]:
/// `[N.]X-value|-key` in tenant `T`'s context; a name with a dot may be namespace `N`'s topic
/// `X` or the default namespace's topic `N.X` (both bind that subject), so either counts.
fn subject_in_path(grant: &[Pattern], subject: &str, topic_only: bool) -> bool {
    if topic_only && grant.len() != 3 {
        return false;
    }
    let Some(tenant) = names::tenant_of_subject(subject) else { return false };
    let (_, name) = names::split_subject(subject);
    let Some(base) = name.strip_suffix("-value").or_else(|| name.strip_suffix("-key")) else {
        // Not a topic's subject: only a tenant-wide admin reaches it.
        return grant.len() == 1 && grant[0].matches(tenant);
    };
    let mut candidates = vec![(DEFAULT_NAMESPACE, base)];
    if let Some((ns, topic)) = base.split_once('.') {
        if names::validate_namespace(ns).is_ok() && !topic.is_empty() {
            candidates.push((ns, topic));
        }
    }
    candidates.iter().any(|(ns, topic)| covers_prefix(grant, &[tenant, ns, topic]))
}

/// Whether each of the grant's segments matches the corresponding one of `path` (the grant
/// may be shallower: `admin:acme` covers every topic of `acme`).
fn covers_prefix(grant: &[Pattern], path: &[&str]) -> bool {
    grant.len() <= path.len() && grant.iter().zip(path).all(|(p, v)| p.matches(v))
}

fn subject_matches(tenant: &Pattern, name: Option<&Pattern>, subject: &str) -> bool {
    let Some(owner) = names::tenant_of_subject(subject) else { return false };
    let (_, bare) = names::split_subject(subject);
    tenant.matches(owner) && name.is_none_or(|n| n.matches(bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(grants: &[&str]) -> Principal {
        Principal::new("tester", grants).unwrap()
    }

    fn topic(name: &str) -> TopicName {
        TopicName::parse(name).unwrap()
    }

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"abc"));
        assert!(glob_match(b"orders-*", b"orders-eu"));
        assert!(!glob_match(b"orders-*", b"order"));
        assert!(glob_match(b"*-value", b"users-value"));
        assert!(glob_match(b"a*b*c", b"aXXbYYc"));
        assert!(!glob_match(b"a*b*c", b"aXXbYY"));
        assert!(glob_match(b"abc", b"abc"));
        assert!(!glob_match(b"abc", b"abd"));
    }

    #[test]
    fn home_tenant_is_the_one_tenant_of_all_topic_grants() {
        assert_eq!(principal(&["produce:acme/web/orders", "consume:acme/*/*"]).home_tenant(), Some("acme"));
        assert_eq!(principal(&["admin:acme", "schema-read:beta"]).home_tenant(), Some("acme"));
        assert_eq!(principal(&["admin:acme", "consume:beta/default/x"]).home_tenant(), None);
        assert_eq!(principal(&["consume:*/default/x"]).home_tenant(), None);
        assert_eq!(principal(&["superuser"]).home_tenant(), None);
        assert_eq!(principal(&["admin:acme", "superuser"]).home_tenant(), None);
        assert_eq!(principal(&["schema-read:acme"]).home_tenant(), None);
    }

    #[test]
    fn superuser_allows_everything() {
        let p = principal(&["superuser"]);
        let t = topic("acme/web/orders");
        for perm in Permission::ALL {
            assert!(p.allows(perm, &Resource::Cluster));
            assert!(p.allows(perm, &Resource::Topic(&t)));
            assert!(p.allows(perm, &Resource::Subject(":.acme:x-value")));
        }
        assert!(p.is_superuser());
    }

    #[test]
    fn produce_grant_allows_produce_only_on_its_topics() {
        let p = principal(&["produce:acme/web/orders"]);
        let orders = topic("acme/web/orders");
        assert!(p.allows(Permission::Produce, &Resource::Topic(&orders)));
        assert!(!p.allows(Permission::Consume, &Resource::Topic(&orders)));
        assert!(!p.allows(Permission::Admin, &Resource::Topic(&orders)));
        assert!(!p.allows(Permission::Produce, &Resource::Topic(&topic("acme/web/payments"))));
        assert!(!p.allows(Permission::Produce, &Resource::Topic(&topic("beta/web/orders"))));
        assert!(!p.allows(Permission::Produce, &Resource::Namespace { tenant: "acme", namespace: "web" }));
        assert!(!p.allows(Permission::Produce, &Resource::Cluster));
    }

    #[test]
    fn topic_grants_read_their_topics_subjects_only() {
        let p = principal(&["consume:acme/web/orders"]);
        assert!(p.allows(Permission::SchemaRead, &Resource::Subject(":.acme:web.orders-value")));
        assert!(p.allows(Permission::SchemaRead, &Resource::Subject(":.acme:web.orders-key")));
        assert!(!p.allows(Permission::SchemaWrite, &Resource::Subject(":.acme:web.orders-value")));
        assert!(!p.allows(Permission::SchemaRead, &Resource::Subject(":.acme:web.payments-value")));
        assert!(!p.allows(Permission::SchemaRead, &Resource::Subject(":.beta:web.orders-value")));
        assert!(!p.allows(Permission::SchemaRead, &Resource::Subject("web.orders-value")));
        let bare = principal(&["produce:public/default/users"]);
        assert!(bare.allows(Permission::SchemaRead, &Resource::Subject("users-value")));
        assert!(!bare.allows(Permission::SchemaRead, &Resource::Subject(":.acme:users-value")));
        let default_ns = principal(&["produce:acme/default/users"]);
        assert!(default_ns.allows(Permission::SchemaRead, &Resource::Subject(":.acme:users-value")));
    }

    #[test]
    fn wildcards_match_per_segment() {
        let p = principal(&["consume:acme/*/*", "produce:*/ingest/events-*"]);
        assert!(p.allows(Permission::Consume, &Resource::Topic(&topic("acme/a/b"))));
        assert!(p.allows(Permission::Consume, &Resource::Tenant("acme")));
        assert!(!p.allows(Permission::Consume, &Resource::Topic(&topic("beta/a/b"))));
        assert!(p.allows(Permission::Produce, &Resource::Topic(&topic("beta/ingest/events-eu"))));
        assert!(!p.allows(Permission::Produce, &Resource::Topic(&topic("beta/ingest/metrics"))));
        assert!(!p.allows(Permission::Produce, &Resource::Namespace { tenant: "beta", namespace: "ingest" }));
    }

    #[test]
    fn admin_grants_everything_inside_its_scope() {
        let p = principal(&["admin:acme"]);
        for perm in Permission::ALL {
            assert!(p.allows(perm, &Resource::Tenant("acme")));
            assert!(p.allows(perm, &Resource::Namespace { tenant: "acme", namespace: "x" }));
            assert!(p.allows(perm, &Resource::Topic(&topic("acme/x/y"))));
            assert!(p.allows(perm, &Resource::Subject(":.acme:anything")));
            assert!(!p.allows(perm, &Resource::Tenant("beta")));
            assert!(!p.allows(perm, &Resource::Subject(":.beta:x-value")));
            assert!(!p.allows(perm, &Resource::Subject("x-value")));
            assert!(!p.allows(perm, &Resource::Cluster));
        }
        let ns = principal(&["admin:acme/web"]);
        assert!(ns.allows(Permission::Admin, &Resource::Namespace { tenant: "acme", namespace: "web" }));
        assert!(ns.allows(Permission::Produce, &Resource::Topic(&topic("acme/web/y"))));
        assert!(!ns.allows(Permission::Admin, &Resource::Tenant("acme")));
        assert!(!ns.allows(Permission::Admin, &Resource::Namespace { tenant: "acme", namespace: "ops" }));
        assert!(ns.allows(Permission::SchemaWrite, &Resource::Subject(":.acme:web.y-value")));
        assert!(!ns.allows(Permission::SchemaWrite, &Resource::Subject(":.acme:ops.y-value")));
        assert!(!ns.allows(Permission::SchemaWrite, &Resource::Subject(":.acme:not-a-topic-subject")));
    }

    #[test]
    fn schema_grants_cover_their_tenant_context() {
        let p = principal(&["schema-read:acme", "schema-write:beta:users-*"]);
        assert!(p.allows(Permission::SchemaRead, &Resource::Subject(":.acme:anything")));
        assert!(!p.allows(Permission::SchemaWrite, &Resource::Subject(":.acme:anything")));
        assert!(p.allows(Permission::SchemaWrite, &Resource::Subject(":.beta:users-value")));
        assert!(p.allows(Permission::SchemaRead, &Resource::Subject(":.beta:users-value")));
        assert!(!p.allows(Permission::SchemaRead, &Resource::Subject(":.beta:orders-value")));
        assert!(!p.allows(Permission::SchemaRead, &Resource::Subject("users-value")));
        assert!(!p.allows(Permission::Produce, &Resource::Topic(&topic("acme/default/x"))));
        let public = principal(&["schema-read:public"]);
        assert!(public.allows(Permission::SchemaRead, &Resource::Subject("users-value")));
        assert!(public.allows(Permission::SchemaRead, &Resource::Subject(":.:users-value")));
        assert!(!public.allows(Permission::SchemaRead, &Resource::Subject(":.acme:users-value")));
    }

    #[test]
    fn visibility_follows_the_path_to_granted_topics() {
        let p = principal(&["produce:acme/web/orders"]);
        assert!(p.can_see(&Resource::Tenant("acme")));
        assert!(p.can_see(&Resource::Namespace { tenant: "acme", namespace: "web" }));
        assert!(p.can_see(&Resource::Topic(&topic("acme/web/orders"))));
        assert!(!p.can_see(&Resource::Topic(&topic("acme/web/payments"))));
        assert!(!p.can_see(&Resource::Namespace { tenant: "acme", namespace: "ops" }));
        assert!(!p.can_see(&Resource::Tenant("beta")));
        assert!(p.can_see(&Resource::Subject(":.acme:web.orders-value")));
        assert!(!p.can_see(&Resource::Subject(":.acme:web.payments-value")));
        let schema = principal(&["schema-read:beta"]);
        assert!(schema.can_see(&Resource::Tenant("beta")));
        assert!(!schema.can_see(&Resource::Topic(&topic("beta/default/x"))));
    }

    #[test]
    fn bad_grants_are_refused_with_the_rule() {
        for bad in [
            "",
            "root",
            "read:acme/x/y",
            "produce:acme",
            "produce:acme/web",
            "produce:acme/web/orders/extra",
            "admin:",
            "admin:acme/../x",
            "admin:a.b",
            "consume:acme//x",
            "produce:acme/web/..",
            "schema-read:",
            "schema-read:acme:",
            "schema-read:ac me",
            "schema-write:acme:a b",
            "admin:acme/we/b/x",
        ] {
            let e = Grant::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("invalid grant"), "{bad}: {e}");
        }
    }
}
