//! Who is calling and whether they may: the broker's side of authentication and
//! authorization.
//!
//! A front-end concern: it knows tonic requests and HTTP headers, and no service knows it.
//! The servers' edges (the gRPC interceptor and the HTTP middleware, set up in `server.rs`)
//! put a [`Caller`] into every request's extensions: [`Caller::Open`] when authentication is
//! off (no key configured, today's default), [`Caller::Authenticated`] with the verified
//! token's principal otherwise. Handlers then ask [`authorize`] (a permission on a resource)
//! or [`can_see`] (whether to list something). A request without a `Caller` never passes:
//! a route that forgot the edge fails closed, not open.
//!
//! Denials are PERMISSION_DENIED naming the missing permission and the resource as the caller
//! named it, before anything is looked up, so a refusal says nothing about whether the
//! resource exists.

use std::sync::Arc;

pub use runnel_auth::authz::{Permission, Principal, Resource};
pub use runnel_auth::token::Verifier;

/// The authenticated identity of a request, as its server's edge established it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Authentication is off: every request may do everything.
    Open,
    /// A verified token's principal.
    Authenticated(Arc<Principal>),
}

impl Caller {
    /// Ok when this caller may act, or why not (`None`: no caller was established).
    pub fn check(
        caller: Option<&Caller>,
        permission: Permission,
        resource: &Resource<'_>,
    ) -> Result<(), Denied> {
        match caller {
            Some(Caller::Open) => Ok(()),
            Some(Caller::Authenticated(p)) if p.allows(permission, resource) => Ok(()),
            Some(Caller::Authenticated(p)) => Err(Denied::Permission(format!(
                "permission denied: '{}' lacks the {permission} permission on {resource}",
                p.subject
            ))),
            None => Err(Denied::Unauthenticated),
        }
    }

    /// Whether this caller may see `resource` in a listing (`None`: no caller, nothing).
    pub fn sees(caller: Option<&Caller>, resource: &Resource<'_>) -> bool {
        match caller {
            Some(Caller::Open) => true,
            Some(Caller::Authenticated(p)) => p.can_see(resource),
            None => false,
        }
    }

    /// Whether this caller may use the consumer groups of `tenant` (Kafka groups have no
    /// grants of their own): a consume or admin grant reaching into the tenant.
    pub fn may_use_groups_of(&self, tenant: &str) -> bool {
        self.holds_in_tenant(&["consume:", "admin:"], tenant)
    }

    /// Whether this caller may use the transactional ids of `tenant` (begin, add to, end
    /// transactions there; Kafka: WRITE on the TransactionalId): a produce or admin grant
    /// reaching into the tenant. Transactional ids are stored as group ids are (`T/id`, or
    /// a bare id for `public`), so one tenant can neither fence nor end another's.
    pub fn may_use_transactions_of(&self, tenant: &str) -> bool {
        self.holds_in_tenant(&["produce:", "admin:"], tenant)
    }

    /// Whether this caller holds a grant of one of `kinds` (prefixes such as `"consume:"`),
    /// or superuser, that reaches into `tenant`.
    fn holds_in_tenant(&self, kinds: &[&str], tenant: &str) -> bool {
        match self {
            Caller::Open => true,
            Caller::Authenticated(p) => p.grants.iter().any(|g| {
                (g.is_superuser() || kinds.iter().any(|k| g.as_str().starts_with(k)))
                    && g.reaches(&Resource::Tenant(tenant))
            }),
        }
    }

    /// The principal's name, for logs (`None` with authentication off).
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::Open => None,
            Caller::Authenticated(p) => Some(&p.subject),
        }
    }
}

/// Why a request may not proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No identity was established for the request.
    #[error("the request carries no verified identity")]
    Unauthenticated,
    /// The identity lacks a permission (the message names it).
    #[error("{0}")]
    Permission(String),
}

impl From<Denied> for tonic::Status {
    fn from(d: Denied) -> tonic::Status {
        match d {
            Denied::Unauthenticated => tonic::Status::unauthenticated(d.to_string()),
            Denied::Permission(m) => tonic::Status::permission_denied(m),
        }
    }
}

/// Ok when the request's caller holds `permission` on `resource`; PERMISSION_DENIED naming
/// the permission otherwise (UNAUTHENTICATED if the request has no established caller).
pub(crate) fn authorize<T>(
    request: &tonic::Request<T>,
    permission: Permission,
    resource: Resource<'_>,
) -> Result<(), tonic::Status> {
    Caller::check(request.extensions().get::<Caller>(), permission, &resource).map_err(Into::into)
}

/// Whether the request's caller may see `resource` in a listing.
pub(crate) fn can_see<T>(request: &tonic::Request<T>, resource: Resource<'_>) -> bool {
    Caller::sees(request.extensions().get::<Caller>(), &resource)
}

/// The request's caller, for handlers that check per message of a stream after taking the
/// request apart.
pub(crate) fn caller_of<T>(request: &tonic::Request<T>) -> Option<Caller> {
    request.extensions().get::<Caller>().cloned()
}

/// The server's verifier of bearer tokens (`None`: authentication is off).
pub type Authenticator = Option<Arc<Verifier>>;

/// Establishes the caller of a request from its `authorization` header value: open when
/// authentication is off, the token's principal when it verifies, the reason otherwise.
fn authenticate(verifier: &Authenticator, header: Option<&[u8]>) -> Result<Caller, String> {
    let Some(verifier) = verifier else { return Ok(Caller::Open) };
    let Some(header) = header else {
        return Err("authentication required: send `authorization: Bearer <token>` \
                    (the CLI's --token or RUNNEL_TOKEN)"
            .to_owned());
    };
    let header =
        std::str::from_utf8(header).map_err(|_| "the authorization header is not text".to_owned())?;
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err("the authorization header must be `Bearer <token>`".to_owned()),
    };
    match verifier.verify(token) {
        Ok(principal) => Ok(Caller::Authenticated(Arc::new(principal))),
        Err(e) => Err(format!("invalid token: {e}")),
    }
}

/// The gRPC edge: establishes every request's [`Caller`]; with authentication on, a request
/// without a valid bearer token is UNAUTHENTICATED before it reaches any service.
#[derive(Debug, Clone)]
pub(crate) struct GrpcAuthenticator {
    verifier: Authenticator,
}

impl GrpcAuthenticator {
    /// An authenticator with the server's verifier (`None`: authentication off).
    pub(crate) fn new(verifier: Authenticator) -> GrpcAuthenticator {
        GrpcAuthenticator { verifier }
    }
}

impl tonic::service::Interceptor for GrpcAuthenticator {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let header = request.metadata().get("authorization").map(|v| v.as_bytes());
        let caller = authenticate(&self.verifier, header).map_err(tonic::Status::unauthenticated)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The HTTP edge (axum middleware over the registry REST API and `/metrics`): establishes the
/// request's [`Caller`]; with authentication on, a missing or invalid token is 401 with
/// Confluent's error shape (error_code 40101).
pub(crate) async fn http_authenticate(
    axum::extract::State(verifier): axum::extract::State<Authenticator>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let header = request.headers().get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes());
    match authenticate(&verifier, header) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(message) => http_error(axum::http::StatusCode::UNAUTHORIZED, 40101, &message),
    }
}

/// A registry-style JSON error (`{"error_code": .., "message": ..}`).
pub(crate) fn http_error(
    status: axum::http::StatusCode,
    code: u32,
    message: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/vnd.schemaregistry.v1+json")],
        serde_json::json!({ "error_code": code, "message": message }).to_string(),
    )
        .into_response();
    if status == axum::http::StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
    }
    response
}

/// The registry REST API's access decisions, from the request's [`Caller`]: reading a subject
/// takes `schema-read` on it, writing `schema-write`; registry-wide settings are readable by
/// every authenticated caller and writable by the cluster's admins (superusers) only.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RegistryAccess;

impl runnel_registry::SubjectAccess for RegistryAccess {
    fn check(
        &self,
        request: &axum::http::Extensions,
        subject: Option<&str>,
        action: runnel_registry::SchemaAction,
    ) -> Result<(), String> {
        let caller = request.get::<Caller>();
        let checked = match (subject, action) {
            (None, runnel_registry::SchemaAction::Read) => match caller {
                Some(_) => Ok(()),
                None => Err(Denied::Unauthenticated),
            },
            (None, runnel_registry::SchemaAction::Write) => {
                Caller::check(caller, Permission::SchemaWrite, &Resource::Cluster)
            }
            (Some(s), runnel_registry::SchemaAction::Read) => {
                Caller::check(caller, Permission::SchemaRead, &Resource::Subject(s))
            }
            (Some(s), runnel_registry::SchemaAction::Write) => {
                Caller::check(caller, Permission::SchemaWrite, &Resource::Subject(s))
            }
        };
        checked.map_err(|d| d.to_string())
    }

    fn visible(&self, request: &axum::http::Extensions, subject: &str) -> bool {
        Caller::sees(request.get::<Caller>(), &Resource::Subject(subject))
    }
}
