//! Tenant, namespace and topic names and registry contexts: the `runnel-names` crate, re-exported
//! here so that `runnel_auth::names` stays the path the broker and the CLI use.

pub use runnel_names::*;
