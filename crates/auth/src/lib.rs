//! Runnel's multi-tenancy vocabulary, shared by the broker, the registry and the CLI:
//!
//! - [`names`]: `tenant/namespace/topic` names, their validation, and the registry
//!   context and subject each topic binds to;
//! - [`authz`]: permissions, resources, grants and the decision whether a principal may act;
//! - [`sasl`]: the token inside a Kafka client's SASL PLAIN or OAUTHBEARER message;
//! - [`token`]: signed bearer tokens (JWT, HS256 or RS256) that carry a principal.

pub mod authz;
pub mod names;
pub mod sasl;
pub mod token;
