//! Tenant, namespace and topic names (`tenant/namespace/topic`; a bare `topic` is
//! `public/default/topic`), and the registry context and subject each topic binds to.
