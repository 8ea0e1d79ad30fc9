//! Tenants and namespaces: their definitions (a tenant's quotas, a namespace's policy),
//! kept in `meta.redb` and in memory, the admin operations on them, and the gRPC
//! `Tenants` service.
//!
//! Topics are named `tenant/namespace/topic` ([`runnel_auth::names`]); a bare name is
//! `public/default/topic`, and tenant `public` with namespace `default` always exist, so
//! a data directory from before tenants opens unchanged. A topic can only be created in
//! a namespace that exists; a tenant or namespace that still holds topics cannot be
//! deleted. Every change runs under the topics' admin lock, so a topic cannot be created
//! in a namespace while the namespace is being deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use runnel_auth::authz::{Permission, Resource};
use runnel_auth::names::{self, NamespaceName, DEFAULT_NAMESPACE, DEFAULT_TENANT};
use runnel_proto::v1;
use runnel_registry::Compatibility;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use crate::auth::{authorize, can_see};
use crate::error::BrokerError;
use crate::meta::Meta;
use crate::quotas::{TenantQuota, TenantQuotas};
use crate::state::Broker;
use crate::topics::{now_ms, Topics, Validation};

/// A tenant's stored definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantMeta {
    /// The tenant's name.
    pub name: String,
    /// Its limits.
    pub quotas: TenantQuotas,
    /// Creation time, ms since the epoch (0 for the built-in `public`).
    pub created_ms: i64,
}

/// Defaults for topics created in a namespace; a create request's own settings win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacePolicy {
    /// Partitions of a new topic; 0 = the broker default.
    pub partitions: u32,
    /// Retention by age (ms); 0 = the broker default, -1 = forever.
    pub retention_ms: i64,
    /// Retention by size per partition; 0 = the broker default (unlimited), -1 = unlimited.
    pub retention_bytes: i64,
    /// Validation level; `None` = the broker default (full).
    pub validation: Option<Validation>,
    /// Whether producers may register new versions of a new topic's subject.
    pub auto_register: bool,
    /// Compatibility level set on a new topic's value subject; `None` = the registry's.
    pub compatibility: Option<String>,
}

impl NamespacePolicy {
    /// From the protocol form, checked.
    pub fn from_proto(p: Option<&v1::NamespacePolicy>) -> Result<NamespacePolicy, BrokerError> {
        let Some(p) = p else { return Ok(NamespacePolicy::default()) };
        let bad = |m: String| Err(BrokerError::InvalidArgument(m));
        if p.partitions > crate::topics::MAX_PARTITIONS {
            return bad(format!(
                "at most {} partitions per topic, not {}",
                crate::topics::MAX_PARTITIONS,
                p.partitions
            ));
        }
        if p.retention_ms < -1 || p.retention_bytes < -1 {
            return bad("retention must be -1 (unlimited), 0 (the default) or positive".into());
        }
        let validation = match v1::ValidationLevel::try_from(p.validation) {
            Ok(v1::ValidationLevel::Unspecified) => None,
            Ok(v1::ValidationLevel::Full) => Some(Validation::Full),
            Ok(v1::ValidationLevel::Id) => Some(Validation::Id),
            Ok(v1::ValidationLevel::None) => Some(Validation::None),
            Err(_) => return bad(format!("unknown validation level {}", p.validation)),
        };
        let compatibility = if p.compatibility.is_empty() {
            None
        } else {
            let level: Compatibility = p
                .compatibility
                .to_ascii_uppercase()
                .parse()
                .map_err(|e| BrokerError::InvalidArgument(format!("namespace policy: {e}")))?;
            Some(level.as_str().to_owned())
        };
        Ok(NamespacePolicy {
            partitions: p.partitions,
            retention_ms: p.retention_ms,
            retention_bytes: p.retention_bytes,
            validation,
            auto_register: p.auto_register,
            compatibility,
        })
    }

    /// The protocol form.
    pub fn to_proto(&self) -> v1::NamespacePolicy {
        v1::NamespacePolicy {
            partitions: self.partitions,
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
            validation: match self.validation {
                None => v1::ValidationLevel::Unspecified,
                Some(Validation::None) => v1::ValidationLevel::None,
                Some(Validation::Id) => v1::ValidationLevel::Id,
                Some(Validation::Full) => v1::ValidationLevel::Full,
            } as i32,
            auto_register: self.auto_register,
            compatibility: self.compatibility.clone().unwrap_or_default(),
        }
    }
}

/// A namespace's stored definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceMeta {
    /// `tenant/namespace`.
    pub name: String,
    /// Defaults for its new topics.
    pub policy: NamespacePolicy,
    /// Creation time, ms since the epoch (0 for the built-in `public/default`).
    pub created_ms: i64,
}

/// Every tenant and namespace, in memory (written through to `meta.redb`).
#[derive(Debug)]
pub struct Tenants {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    tenants: BTreeMap<String, (TenantMeta, Arc<TenantQuota>)>,
    namespaces: BTreeMap<String, NamespaceMeta>,
}

impl Tenants {
    /// Loads every tenant and namespace, creating `public` and `public/default` if missing
    /// (a data directory from before tenants).
    pub fn open(meta: &Meta) -> Result<Tenants, BrokerError> {
        let mut state = State::default();
        for t in meta.tenants()? {
            let quota = Arc::new(TenantQuota::new(&t.name, t.quotas));
            state.tenants.insert(t.name.clone(), (t, quota));
        }
        for n in meta.namespaces()? {
            state.namespaces.insert(n.name.clone(), n);
        }
        if !state.tenants.contains_key(DEFAULT_TENANT) {
            let t =
                TenantMeta { name: DEFAULT_TENANT.into(), quotas: TenantQuotas::default(), created_ms: 0 };
            meta.put_tenant(&t)?;
            let quota = Arc::new(TenantQuota::new(DEFAULT_TENANT, t.quotas));
            state.tenants.insert(t.name.clone(), (t, quota));
        }
        let default_ns = format!("{DEFAULT_TENANT}/{DEFAULT_NAMESPACE}");
        if let std::collections::btree_map::Entry::Vacant(slot) = state.namespaces.entry(default_ns.clone()) {
            let n = NamespaceMeta { name: default_ns, policy: NamespacePolicy::default(), created_ms: 0 };
            meta.put_namespace(&n)?;
            slot.insert(n);
        }
        Ok(Tenants { state: RwLock::new(state) })
    }

    /// The tenant's definition.
    pub fn tenant(&self, name: &str) -> Option<TenantMeta> {
        self.state.read().tenants.get(name).map(|(t, _)| t.clone())
    }

    /// The tenant's live quota state.
    pub fn quota(&self, tenant: &str) -> Option<Arc<TenantQuota>> {
        self.state.read().tenants.get(tenant).map(|(_, q)| Arc::clone(q))
    }

    /// The namespace's definition.
    pub fn namespace(&self, name: &NamespaceName) -> Option<NamespaceMeta> {
        self.state.read().namespaces.get(&name.to_string()).cloned()
    }

    /// Every tenant, by name.
    pub fn tenants(&self) -> Vec<TenantMeta> {
        self.state.read().tenants.values().map(|(t, _)| t.clone()).collect()
    }

    /// Every namespace of `tenant` (of every tenant with `None`), by name.
    pub fn namespaces(&self, tenant: Option<&str>) -> Vec<NamespaceMeta> {
        let prefix = tenant.map(|t| format!("{t}/"));
        self.state
            .read()
            .namespaces
            .values()
            .filter(|n| prefix.as_ref().is_none_or(|p| n.name.starts_with(p.as_str())))
            .cloned()
            .collect()
    }
}

fn invalid(e: names::NameError) -> BrokerError {
    BrokerError::InvalidArgument(e.to_string())
}

/// The admin operations: each under the topics' admin lock, written to `meta.redb` before
/// the in-memory state changes.
impl Topics {
    /// Creates a tenant (or returns the existing one with `if_not_exists`).
    pub async fn create_tenant(
        &self,
        meta: &Meta,
        name: &str,
        quotas: TenantQuotas,
        if_not_exists: bool,
    ) -> Result<TenantMeta, BrokerError> {
        names::validate_tenant(name).map_err(invalid)?;
        let _admin = self.admin.lock().await;
        if let Some(t) = self.tenants.tenant(name) {
            return if if_not_exists {
                Ok(t)
            } else {
                Err(BrokerError::AlreadyExists(format!("tenant '{name}' already exists")))
            };
        }
        let t = TenantMeta { name: name.to_owned(), quotas, created_ms: now_ms() };
        meta.put_tenant(&t)?;
        let quota = Arc::new(TenantQuota::new(name, quotas));
        self.tenants.state.write().tenants.insert(name.to_owned(), (t.clone(), quota));
        tracing::info!(tenant = name, "tenant created");
        Ok(t)
    }

    /// Deletes a tenant and its namespaces; refused while it holds topics, and for `public`.
    pub async fn delete_tenant(&self, meta: &Meta, name: &str) -> Result<(), BrokerError> {
        names::validate_tenant(name).map_err(invalid)?;
        if name == DEFAULT_TENANT {
            return Err(BrokerError::FailedPrecondition(format!(
                "tenant '{DEFAULT_TENANT}' holds the bare topic names and cannot be deleted"
            )));
        }
        let _admin = self.admin.lock().await;
        if self.tenants.tenant(name).is_none() {
            return Err(BrokerError::NotFound(format!("tenant '{name}' does not exist")));
        }
        let held = self.topics_of(name, None);
        if !held.is_empty() {
            return Err(BrokerError::FailedPrecondition(format!(
                "tenant '{name}' still holds {} topic(s) (e.g. '{}'); delete them first",
                held.len(),
                held[0]
            )));
        }
        meta.delete_tenant(name)?;
        let mut st = self.tenants.state.write();
        st.tenants.remove(name);
        let prefix = format!("{name}/");
        st.namespaces.retain(|k, _| !k.starts_with(&prefix));
        tracing::info!(tenant = name, "tenant deleted");
        Ok(())
    }

    /// Replaces a tenant's quotas; they apply at once to its topics.
    pub async fn set_tenant_quotas(
        &self,
        meta: &Meta,
        name: &str,
        quotas: TenantQuotas,
    ) -> Result<TenantMeta, BrokerError> {
        let _admin = self.admin.lock().await;
        let Some(mut t) = self.tenants.tenant(name) else {
            return Err(BrokerError::NotFound(format!("tenant '{name}' does not exist")));
        };
        t.quotas = quotas;
        meta.put_tenant(&t)?;
        let mut st = self.tenants.state.write();
        if let Some(entry) = st.tenants.get_mut(name) {
            entry.1.set(quotas);
            entry.0 = t.clone();
        }
        Ok(t)
    }

    /// Creates a namespace in an existing tenant (or returns it with `if_not_exists`).
    pub async fn create_namespace(
        &self,
        meta: &Meta,
        name: &NamespaceName,
        policy: NamespacePolicy,
        if_not_exists: bool,
    ) -> Result<NamespaceMeta, BrokerError> {
        let _admin = self.admin.lock().await;
        if self.tenants.tenant(name.tenant()).is_none() {
            return Err(BrokerError::NotFound(format!(
                "tenant '{}' does not exist (create it first: runnel tenant create {})",
                name.tenant(),
                name.tenant()
            )));
        }
        if let Some(n) = self.tenants.namespace(name) {
            return if if_not_exists {
                Ok(n)
            } else {
                Err(BrokerError::AlreadyExists(format!("namespace '{name}' already exists")))
            };
        }
        let n = NamespaceMeta { name: name.to_string(), policy, created_ms: now_ms() };
        meta.put_namespace(&n)?;
        self.tenants.state.write().namespaces.insert(n.name.clone(), n.clone());
        tracing::info!(namespace = %name, "namespace created");
        Ok(n)
    }

    /// Deletes a namespace; refused while it holds topics, and for `public/default`.
    pub async fn delete_namespace(&self, meta: &Meta, name: &NamespaceName) -> Result<(), BrokerError> {
        if name.is_default() {
            return Err(BrokerError::FailedPrecondition(format!(
                "namespace '{name}' holds the bare topic names and cannot be deleted"
            )));
        }
        let _admin = self.admin.lock().await;
        if self.tenants.namespace(name).is_none() {
            return Err(BrokerError::NotFound(format!("namespace '{name}' does not exist")));
        }
        let held = self.topics_of(name.tenant(), Some(name.namespace()));
        if !held.is_empty() {
            return Err(BrokerError::FailedPrecondition(format!(
                "namespace '{name}' still holds {} topic(s) (e.g. '{}'); delete them first",
                held.len(),
                held[0]
            )));
        }
        let key = name.to_string();
        meta.delete_namespace(&key)?;
        self.tenants.state.write().namespaces.remove(&key);
        tracing::info!(namespace = %name, "namespace deleted");
        Ok(())
    }

    /// Replaces a namespace's policy (topics created from now on get it).
    pub async fn set_namespace_policy(
        &self,
        meta: &Meta,
        name: &NamespaceName,
        policy: NamespacePolicy,
    ) -> Result<NamespaceMeta, BrokerError> {
        let _admin = self.admin.lock().await;
        let Some(mut n) = self.tenants.namespace(name) else {
            return Err(BrokerError::NotFound(format!("namespace '{name}' does not exist")));
        };
        n.policy = policy;
        meta.put_namespace(&n)?;
        self.tenants.state.write().namespaces.insert(n.name.clone(), n.clone());
        Ok(n)
    }
}

/// The gRPC `Tenants` service.
#[derive(Debug, Clone)]
pub struct TenantsService(pub Arc<Broker>);

/// The tonic server for the `Tenants` service over `broker`.
pub fn server(broker: Arc<Broker>) -> v1::tenants_server::TenantsServer<TenantsService> {
    v1::tenants_server::TenantsServer::new(TenantsService(broker))
}

fn parse_namespace(raw: &str) -> Result<NamespaceName, Status> {
    NamespaceName::parse(raw).map_err(|e| Status::invalid_argument(e.to_string()))
}

impl TenantsService {
    fn tenant_info<T>(&self, req: &Request<T>, t: &TenantMeta) -> v1::TenantInfo {
        let b = &self.0;
        let namespaces = b
            .topics
            .tenants
            .namespaces(Some(&t.name))
            .into_iter()
            .filter(|n| {
                let (tenant, ns) = n.name.split_once('/').unwrap_or((&t.name, ""));
                can_see(b, req, Resource::Namespace { tenant, namespace: ns })
            })
            .map(|n| n.name)
            .collect();
        let quota = b.topics.tenants.quota(&t.name);
        v1::TenantInfo {
            name: t.name.clone(),
            quotas: Some(t.quotas.to_proto()),
            namespaces,
            created_ms: t.created_ms,
            topics: b.topics.topics_of(&t.name, None).len() as u32,
            storage_bytes: quota.map_or(0, |q| b.topics.storage_of(&q)),
        }
    }

    fn namespace_info(&self, n: &NamespaceMeta) -> v1::NamespaceInfo {
        let (tenant, ns) = n.name.split_once('/').unwrap_or((&n.name, ""));
        v1::NamespaceInfo {
            name: n.name.clone(),
            policy: Some(n.policy.to_proto()),
            created_ms: n.created_ms,
            topics: self.0.topics.topics_of(tenant, Some(ns)).len() as u32,
        }
    }

    /// The tenant, if it exists and the caller may see it; NOT_FOUND alike otherwise.
    fn visible_tenant<T>(&self, req: &Request<T>, name: &str) -> Result<TenantMeta, Status> {
        names::validate_tenant(name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        match self.0.topics.tenants.tenant(name) {
            Some(t) if can_see(&self.0, req, Resource::Tenant(name)) => Ok(t),
            _ => Err(Status::not_found(format!("tenant '{name}' does not exist"))),
        }
    }
}

#[tonic::async_trait]
impl v1::tenants_server::Tenants for TenantsService {
    async fn create_tenant(
        &self,
        req: Request<v1::CreateTenantRequest>,
    ) -> Result<Response<v1::TenantInfo>, Status> {
        authorize(&self.0, &req, Permission::Admin, Resource::Cluster)?;
        let r = req.get_ref();
        let quotas = TenantQuotas::from_proto(r.quotas.as_ref());
        let t = self.0.topics.create_tenant(&self.0.meta, &r.name, quotas, r.if_not_exists).await?;
        Ok(Response::new(self.tenant_info(&req, &t)))
    }

    async fn get_tenant(&self, req: Request<v1::TenantRef>) -> Result<Response<v1::TenantInfo>, Status> {
        let t = self.visible_tenant(&req, &req.get_ref().name)?;
        Ok(Response::new(self.tenant_info(&req, &t)))
    }

    async fn list_tenants(
        &self,
        req: Request<v1::ListTenantsRequest>,
    ) -> Result<Response<v1::ListTenantsResponse>, Status> {
        let tenants = self
            .0
            .topics
            .tenants
            .tenants()
            .into_iter()
            .filter(|t| can_see(&self.0, &req, Resource::Tenant(&t.name)))
            .map(|t| self.tenant_info(&req, &t))
            .collect();
        Ok(Response::new(v1::ListTenantsResponse { tenants }))
    }

    async fn delete_tenant(
        &self,
        req: Request<v1::TenantRef>,
    ) -> Result<Response<v1::DeleteTenantResponse>, Status> {
        authorize(&self.0, &req, Permission::Admin, Resource::Cluster)?;
        self.0.topics.delete_tenant(&self.0.meta, &req.get_ref().name).await?;
        Ok(Response::new(v1::DeleteTenantResponse {}))
    }

    async fn set_tenant_quotas(
        &self,
        req: Request<v1::SetTenantQuotasRequest>,
    ) -> Result<Response<v1::TenantInfo>, Status> {
        // Quotas bound a tenant: only a cluster admin sets them, not the tenant's own admin.
        authorize(&self.0, &req, Permission::Admin, Resource::Cluster)?;
        let r = req.get_ref();
        let quotas = TenantQuotas::from_proto(r.quotas.as_ref());
        let t = self.0.topics.set_tenant_quotas(&self.0.meta, &r.name, quotas).await?;
        Ok(Response::new(self.tenant_info(&req, &t)))
    }

    async fn create_namespace(
        &self,
        req: Request<v1::CreateNamespaceRequest>,
    ) -> Result<Response<v1::NamespaceInfo>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        authorize(&self.0, &req, Permission::Admin, Resource::Tenant(name.tenant()))?;
        let r = req.get_ref();
        let policy = NamespacePolicy::from_proto(r.policy.as_ref())?;
        let n = self.0.topics.create_namespace(&self.0.meta, &name, policy, r.if_not_exists).await?;
        Ok(Response::new(self.namespace_info(&n)))
    }

    async fn get_namespace(
        &self,
        req: Request<v1::NamespaceRef>,
    ) -> Result<Response<v1::NamespaceInfo>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        let resource = Resource::Namespace { tenant: name.tenant(), namespace: name.namespace() };
        match self.0.topics.tenants.namespace(&name) {
            Some(n) if can_see(&self.0, &req, resource) => Ok(Response::new(self.namespace_info(&n))),
            _ => Err(Status::not_found(format!("namespace '{name}' does not exist"))),
        }
    }

    async fn list_namespaces(
        &self,
        req: Request<v1::ListNamespacesRequest>,
    ) -> Result<Response<v1::ListNamespacesResponse>, Status> {
        let tenant = req.get_ref().tenant.clone();
        if !tenant.is_empty() {
            self.visible_tenant(&req, &tenant)?;
        }
        let namespaces = self
            .0
            .topics
            .tenants
            .namespaces((!tenant.is_empty()).then_some(tenant.as_str()))
            .into_iter()
            .filter(|n| {
                let (t, ns) = n.name.split_once('/').unwrap_or((&n.name, ""));
                can_see(&self.0, &req, Resource::Namespace { tenant: t, namespace: ns })
            })
            .map(|n| self.namespace_info(&n))
            .collect();
        Ok(Response::new(v1::ListNamespacesResponse { namespaces }))
    }

    async fn delete_namespace(
        &self,
        req: Request<v1::NamespaceRef>,
    ) -> Result<Response<v1::DeleteNamespaceResponse>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        authorize(&self.0, &req, Permission::Admin, Resource::Tenant(name.tenant()))?;
        self.0.topics.delete_namespace(&self.0.meta, &name).await?;
        Ok(Response::new(v1::DeleteNamespaceResponse {}))
    }

    async fn set_namespace_policy(
        &self,
        req: Request<v1::SetNamespacePolicyRequest>,
    ) -> Result<Response<v1::NamespaceInfo>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        authorize(&self.0, &req, Permission::Admin, Resource::Tenant(name.tenant()))?;
        let policy = NamespacePolicy::from_proto(req.get_ref().policy.as_ref())?;
        let n = self.0.topics.set_namespace_policy(&self.0.meta, &name, policy).await?;
        Ok(Response::new(self.namespace_info(&n)))
    }
}
