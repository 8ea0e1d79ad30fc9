//! Who is calling and whether they may: the broker's side of authentication and
//! authorization.
//!
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

use crate::state::Broker;

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
    broker: &Broker,
    request: &tonic::Request<T>,
    permission: Permission,
    resource: Resource<'_>,
) -> Result<(), tonic::Status> {
    let _ = broker;
    Caller::check(request.extensions().get::<Caller>(), permission, &resource).map_err(Into::into)
}

/// Whether the request's caller may see `resource` in a listing.
pub(crate) fn can_see<T>(broker: &Broker, request: &tonic::Request<T>, resource: Resource<'_>) -> bool {
    let _ = broker;
    Caller::sees(request.extensions().get::<Caller>(), &resource)
}

/// The request's caller, for handlers that check per message of a stream after taking the
/// request apart.
pub(crate) fn caller_of<T>(request: &tonic::Request<T>) -> Option<Caller> {
    request.extensions().get::<Caller>().cloned()
}

/// The gRPC edge: establishes every request's [`Caller`].
#[derive(Debug, Clone, Default)]
pub(crate) struct GrpcAuthenticator {}

impl GrpcAuthenticator {
    /// An authenticator for a server without authentication.
    pub(crate) fn new() -> GrpcAuthenticator {
        GrpcAuthenticator {}
    }
}

impl tonic::service::Interceptor for GrpcAuthenticator {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.extensions_mut().insert(Caller::Open);
        Ok(request)
    }
}
