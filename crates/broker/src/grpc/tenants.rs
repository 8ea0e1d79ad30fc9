//! The `Tenants` gRPC service: tenants (with their quotas) and namespaces (with their
//! policies) over the tenants service, which asks the topics service what each holds.
//! Tenant create/delete and quotas need admin on the cluster (a tenant's own admin cannot
//! raise its quotas), namespaces admin on the tenant; listings are filtered by what the
//! caller may see, and an invisible tenant or namespace is NOT_FOUND exactly like a
//! missing one.

use std::sync::Arc;

use runnel_auth::authz::{Permission, Resource};
use runnel_auth::names::{self, NamespaceName};
use runnel_proto::v1::{self, tenants_server::TenantsServer};
use tonic::{Request, Response, Status};

use crate::auth::{authorize, can_see};
use crate::broker::Broker;
use crate::quotas::TenantQuotas;
use crate::tenants::{NamespaceMeta, NamespacePolicy, TenantMeta};

/// The gRPC `Tenants` service.
#[derive(Debug, Clone)]
pub struct TenantsService(Arc<Broker>);

/// The tonic server for the `Tenants` service over `broker`.
pub fn server(broker: Arc<Broker>) -> TenantsServer<TenantsService> {
    TenantsServer::new(TenantsService(broker))
}

fn parse_namespace(raw: &str) -> Result<NamespaceName, Status> {
    NamespaceName::parse(raw).map_err(|e| Status::invalid_argument(e.to_string()))
}

impl TenantsService {
    fn tenant_info<T>(&self, req: &Request<T>, t: &TenantMeta) -> v1::TenantInfo {
        let b = &self.0;
        let namespaces = b
            .tenants
            .namespaces(Some(&t.name))
            .into_iter()
            .filter(|n| {
                let (tenant, ns) = n.name.split_once('/').unwrap_or((&t.name, ""));
                can_see(req, Resource::Namespace { tenant, namespace: ns })
            })
            .map(|n| n.name)
            .collect();
        let quota = b.tenants.quota(&t.name);
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
        match self.0.tenants.tenant(name) {
            Some(t) if can_see(req, Resource::Tenant(name)) => Ok(t),
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
        authorize(&req, Permission::Admin, Resource::Cluster)?;
        let r = req.get_ref();
        let quotas = TenantQuotas::from_proto(r.quotas.as_ref());
        let t = self.0.tenants.create_tenant(&r.name, quotas, r.if_not_exists).await?;
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
            .tenants
            .tenants()
            .into_iter()
            .filter(|t| can_see(&req, Resource::Tenant(&t.name)))
            .map(|t| self.tenant_info(&req, &t))
            .collect();
        Ok(Response::new(v1::ListTenantsResponse { tenants }))
    }

    async fn delete_tenant(
        &self,
        req: Request<v1::TenantRef>,
    ) -> Result<Response<v1::DeleteTenantResponse>, Status> {
        authorize(&req, Permission::Admin, Resource::Cluster)?;
        self.0.tenants.delete_tenant(&req.get_ref().name, &*self.0.topics).await?;
        Ok(Response::new(v1::DeleteTenantResponse {}))
    }

    async fn set_tenant_quotas(
        &self,
        req: Request<v1::SetTenantQuotasRequest>,
    ) -> Result<Response<v1::TenantInfo>, Status> {
        // Quotas bound a tenant: only a cluster admin sets them, not the tenant's own admin.
        authorize(&req, Permission::Admin, Resource::Cluster)?;
        let r = req.get_ref();
        let quotas = TenantQuotas::from_proto(r.quotas.as_ref());
        let t = self.0.tenants.set_tenant_quotas(&r.name, quotas).await?;
        Ok(Response::new(self.tenant_info(&req, &t)))
    }

    async fn create_namespace(
        &self,
        req: Request<v1::CreateNamespaceRequest>,
    ) -> Result<Response<v1::NamespaceInfo>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        authorize(&req, Permission::Admin, Resource::Tenant(name.tenant()))?;
        let r = req.get_ref();
        let policy = NamespacePolicy::from_proto(r.policy.as_ref())?;
        let n = self.0.tenants.create_namespace(&name, policy, r.if_not_exists).await?;
        Ok(Response::new(self.namespace_info(&n)))
    }

    async fn get_namespace(
        &self,
        req: Request<v1::NamespaceRef>,
    ) -> Result<Response<v1::NamespaceInfo>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        let resource = Resource::Namespace { tenant: name.tenant(), namespace: name.namespace() };
        match self.0.tenants.namespace(&name) {
            Some(n) if can_see(&req, resource) => Ok(Response::new(self.namespace_info(&n))),
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
            .tenants
            .namespaces((!tenant.is_empty()).then_some(tenant.as_str()))
            .into_iter()
            .filter(|n| {
                let (t, ns) = n.name.split_once('/').unwrap_or((&n.name, ""));
                can_see(&req, Resource::Namespace { tenant: t, namespace: ns })
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
        authorize(&req, Permission::Admin, Resource::Tenant(name.tenant()))?;
        self.0.tenants.delete_namespace(&name, &*self.0.topics).await?;
        Ok(Response::new(v1::DeleteNamespaceResponse {}))
    }

    async fn set_namespace_policy(
        &self,
        req: Request<v1::SetNamespacePolicyRequest>,
    ) -> Result<Response<v1::NamespaceInfo>, Status> {
        let name = parse_namespace(&req.get_ref().name)?;
        authorize(&req, Permission::Admin, Resource::Tenant(name.tenant()))?;
        let policy = NamespacePolicy::from_proto(req.get_ref().policy.as_ref())?;
        let n = self.0.tenants.set_namespace_policy(&name, policy).await?;
        Ok(Response::new(self.namespace_info(&n)))
    }
}
