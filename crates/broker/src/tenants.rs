//! Tenants and namespaces: their definitions (a tenant's quotas, a namespace's policy),
//! kept in `meta.redb` and in memory, and the admin operations on them.
//!
//! Topics are named `tenant/namespace/topic` ([`runnel_auth::names`]); a bare name is
//! `public/default/topic`, and tenant `public` with namespace `default` always exist, so
//! a data directory from before tenants opens unchanged. A topic can only be created in
//! a namespace that exists; a tenant or namespace that still holds topics cannot be
//! deleted. Every change of tenants, namespaces and topics runs under the admin lock this
//! service owns ([`Tenants::lock_admin`], taken by the topics service too), so a topic
//! cannot be created in a namespace while the namespace is being deleted. Which topics a
//! tenant holds is asked of the caller's [`TopicsHeld`] (the topics service), which this
//! service does not know.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use runnel_auth::names::{self, NamespaceName, DEFAULT_NAMESPACE, DEFAULT_TENANT};

use crate::error::BrokerError;
use crate::meta::records::now_ms;
pub use crate::meta::records::{NamespaceMeta, NamespacePolicy, TenantMeta};
use crate::meta::Meta;
use crate::quotas::{TenantQuota, TenantQuotas};

/// The topics a tenant or namespace holds, asked before it is deleted.
pub trait TopicsHeld: Send + Sync {
    /// The short names of the topics of `tenant` (in `namespace` only, if given), sorted.
    fn topics_of(&self, tenant: &str, namespace: Option<&str>) -> Vec<String>;
}

/// Every tenant and namespace, in memory (written through to `meta.redb`).
#[derive(Debug)]
pub struct Tenants {
    meta: Arc<Meta>,
    state: RwLock<State>,
    /// Serializes admin changes (topics, tenants, namespaces) so that two creates of one
    /// name cannot race, and a namespace cannot be deleted while a topic is created in it.
    admin: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    tenants: BTreeMap<String, (TenantMeta, Arc<TenantQuota>)>,
    namespaces: BTreeMap<String, NamespaceMeta>,
}

impl Tenants {
    /// Loads every tenant and namespace, creating `public` and `public/default` if missing
    /// (a data directory from before tenants).
    pub fn open(meta: Arc<Meta>) -> Result<Tenants, BrokerError> {
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
        Ok(Tenants { meta, state: RwLock::new(state), admin: tokio::sync::Mutex::new(()) })
    }

    /// Takes the admin lock: held across every change of a tenant, namespace or topic.
    pub async fn lock_admin(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.admin.lock().await
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

    // The admin operations: each under the admin lock, written to `meta.redb` before the
    // in-memory state changes.

    /// Creates a tenant (or returns the existing one with `if_not_exists`).
    pub async fn create_tenant(
        &self,
        name: &str,
        quotas: TenantQuotas,
        if_not_exists: bool,
    ) -> Result<TenantMeta, BrokerError> {
        names::validate_tenant(name).map_err(invalid)?;
        let _admin = self.lock_admin().await;
        if let Some(t) = self.tenant(name) {
            return if if_not_exists {
                Ok(t)
            } else {
                Err(BrokerError::AlreadyExists(format!("tenant '{name}' already exists")))
            };
        }
        let t = TenantMeta { name: name.to_owned(), quotas, created_ms: now_ms() };
        self.meta.put_tenant(&t)?;
        let quota = Arc::new(TenantQuota::new(name, quotas));
        self.state.write().tenants.insert(name.to_owned(), (t.clone(), quota));
        tracing::info!(tenant = name, "tenant created");
        Ok(t)
    }

    /// Deletes a tenant and its namespaces; refused while it holds topics (as `topics` says),
    /// and for `public`.
    pub async fn delete_tenant(&self, name: &str, topics: &dyn TopicsHeld) -> Result<(), BrokerError> {
        names::validate_tenant(name).map_err(invalid)?;
        if name == DEFAULT_TENANT {
            return Err(BrokerError::FailedPrecondition(format!(
                "tenant '{DEFAULT_TENANT}' holds the bare topic names and cannot be deleted"
            )));
        }
        let _admin = self.lock_admin().await;
        if self.tenant(name).is_none() {
            return Err(BrokerError::NotFound(format!("tenant '{name}' does not exist")));
        }
        let held = topics.topics_of(name, None);
        if !held.is_empty() {
            return Err(BrokerError::FailedPrecondition(format!(
                "tenant '{name}' still holds {} topic(s) (e.g. '{}'); delete them first",
                held.len(),
                held[0]
            )));
        }
        self.meta.delete_tenant(name)?;
        let mut st = self.state.write();
        st.tenants.remove(name);
        let prefix = format!("{name}/");
        st.namespaces.retain(|k, _| !k.starts_with(&prefix));
        tracing::info!(tenant = name, "tenant deleted");
        Ok(())
    }

    /// Replaces a tenant's quotas; they apply at once to its topics.
    pub async fn set_tenant_quotas(
        &self,
        name: &str,
        quotas: TenantQuotas,
    ) -> Result<TenantMeta, BrokerError> {
        let _admin = self.lock_admin().await;
        let Some(mut t) = self.tenant(name) else {
            return Err(BrokerError::NotFound(format!("tenant '{name}' does not exist")));
        };
        t.quotas = quotas;
        self.meta.put_tenant(&t)?;
        let mut st = self.state.write();
        if let Some(entry) = st.tenants.get_mut(name) {
            entry.1.set(quotas);
            entry.0 = t.clone();
        }
        Ok(t)
    }

    /// Creates a namespace in an existing tenant (or returns it with `if_not_exists`).
    pub async fn create_namespace(
        &self,
        name: &NamespaceName,
        policy: NamespacePolicy,
        if_not_exists: bool,
    ) -> Result<NamespaceMeta, BrokerError> {
        let _admin = self.lock_admin().await;
        if self.tenant(name.tenant()).is_none() {
            return Err(BrokerError::NotFound(format!(
                "tenant '{}' does not exist (create it first: runnel tenant create {})",
                name.tenant(),
                name.tenant()
            )));
        }
        if let Some(n) = self.namespace(name) {
            return if if_not_exists {
                Ok(n)
            } else {
                Err(BrokerError::AlreadyExists(format!("namespace '{name}' already exists")))
            };
        }
        let n = NamespaceMeta { name: name.to_string(), policy, created_ms: now_ms() };
        self.meta.put_namespace(&n)?;
        self.state.write().namespaces.insert(n.name.clone(), n.clone());
        tracing::info!(namespace = %name, "namespace created");
        Ok(n)
    }

    /// Deletes a namespace; refused while it holds topics (as `topics` says), and for
    /// `public/default`.
    pub async fn delete_namespace(
        &self,
        name: &NamespaceName,
        topics: &dyn TopicsHeld,
    ) -> Result<(), BrokerError> {
        if name.is_default() {
            return Err(BrokerError::FailedPrecondition(format!(
                "namespace '{name}' holds the bare topic names and cannot be deleted"
            )));
        }
        let _admin = self.lock_admin().await;
        if self.namespace(name).is_none() {
            return Err(BrokerError::NotFound(format!("namespace '{name}' does not exist")));
        }
        let held = topics.topics_of(name.tenant(), Some(name.namespace()));
        if !held.is_empty() {
            return Err(BrokerError::FailedPrecondition(format!(
                "namespace '{name}' still holds {} topic(s) (e.g. '{}'); delete them first",
                held.len(),
                held[0]
            )));
        }
        let key = name.to_string();
        self.meta.delete_namespace(&key)?;
        self.state.write().namespaces.remove(&key);
        tracing::info!(namespace = %name, "namespace deleted");
        Ok(())
    }

    /// Replaces a namespace's policy (topics created from now on get it).
    pub async fn set_namespace_policy(
        &self,
        name: &NamespaceName,
        policy: NamespacePolicy,
    ) -> Result<NamespaceMeta, BrokerError> {
        let _admin = self.lock_admin().await;
        let Some(mut n) = self.namespace(name) else {
            return Err(BrokerError::NotFound(format!("namespace '{name}' does not exist")));
        };
        n.policy = policy;
        self.meta.put_namespace(&n)?;
        self.state.write().namespaces.insert(n.name.clone(), n.clone());
        Ok(n)
    }
}

fn invalid(e: names::NameError) -> BrokerError {
    BrokerError::InvalidArgument(e.to_string())
}
