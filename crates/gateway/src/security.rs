//! The client side's security, as on Runnel's own Kafka listener: TLS (rustls with ring,
//! the server's certificate and key, optionally a client CA that makes client certificates
//! mandatory) and SASL, PLAIN (the password is a Runnel token) or OAUTHBEARER (the token),
//! verified by `runnel-auth`'s [`Verifier`] and authorized by the token's grants.
//!
//! This is a compact copy of the broker's `kafka/sasl.rs` state machine rather than a shared
//! one: the broker's is woven into its own `Access`/`Caller` types and error type, and the
//! gateway must not depend on the broker. What both must agree on byte for byte, the
//! mechanisms' client messages, is shared (`runnel_auth::sasl`). The behaviour is Kafka's
//! `SaslServerAuthenticator`'s, as on the broker: before authentication only ApiVersions and
//! SaslHandshake are read, anything else closes the connection with a log line; a failed
//! authentication is answered SASL_AUTHENTICATION_FAILED with the reason and the connection
//! closes; a v0 handshake is followed by the mechanism's bytes as a raw frame; SaslAuthenticate
//! v1+ gives the session's lifetime (the token's), clients re-authenticate before it ends
//! (same principal, same mechanism), and a request on an expired session closes the connection.
//!
//! Topic names are the cluster's own (the gateway renames nothing); for the grants a name is
//! read as the broker reads it in its global scope (`runnel-names`' [`KafkaScope::Global`]:
//! `orders` is `public/default/orders`, `__T.N.X` is `T/N/X`), so `produce:public/default/*`
//! allows producing to every bare-named topic of the cluster.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use runnel_auth::authz::{Permission, Principal, Resource};
use runnel_auth::names::kafka::KafkaScope;
use runnel_auth::sasl::{Mechanism, MECHANISMS};
use runnel_auth::token::Verifier;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore};

use crate::GatewayError;

/// How long a client may take to complete its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS side of the client listener.
#[derive(Clone)]
pub struct Tls(pub(crate) Arc<rustls::ServerConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain, its key and optionally the CA that signs client
    /// certificates (PEM files), and checks that they make a server identity.
    pub fn from_files(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Tls, GatewayError> {
        let read = |what: &str, p: &Path| {
            std::fs::read(p)
                .map_err(|e| GatewayError::Tls(format!("cannot read the {what} {}: {e}", p.display())))
        };
        let invalid = |what: &str, e: &dyn std::fmt::Display| GatewayError::Tls(format!("{what}: {e}"));
        let certs = CertificateDer::pem_slice_iter(&read("TLS certificate", cert)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid("the certificate file is not PEM", &e))?;
        if certs.is_empty() {
            return Err(GatewayError::Tls("the certificate file holds no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&read("TLS key", key)?)
            .map_err(|e| invalid("the key file holds no usable private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("protocol versions", &e))?;
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(&read("TLS client CA", ca)?) {
                    let c = c.map_err(|e| invalid("the client CA file is not PEM", &e))?;
                    roots.add(c).map_err(|e| invalid("the client CA certificate", &e))?;
                }
                if roots.is_empty() {
                    return Err(GatewayError::Tls("the client CA file holds no CERTIFICATE block".into()));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| invalid("the client CA", &e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(|e| invalid("the certificate and key do not make an identity", &e))?;
        Ok(Tls(Arc::new(config)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Authentication off.
    Open,
    /// Waiting for SaslHandshake (ApiVersions may come first).
    Handshake,
    /// SaslAuthenticate comes next (after a v0 handshake: the mechanism's raw bytes).
    Authenticate { mechanism: Mechanism, raw: bool },
    /// Authenticated.
    Done { mechanism: Mechanism },
    /// A re-authentication's handshake is done.
    Reauthenticate { mechanism: Mechanism },
}

/// One client connection's authentication.
pub(crate) struct Session {
    verifier: Option<Arc<Verifier>>,
    state: State,
    principal: Option<Principal>,
    /// When the authenticated session ends (ms since the epoch).
    expires_ms: u64,
    peer: SocketAddr,
    /// Set once the connection must close after the answers already queued.
    pub(crate) closing: bool,
}

impl Session {
    pub(crate) fn new(verifier: Option<Arc<Verifier>>, peer: SocketAddr) -> Session {
        let state = if verifier.is_some() { State::Handshake } else { State::Open };
        Session { verifier, state, principal: None, expires_ms: u64::MAX, peer, closing: false }
    }

    /// Whether SASL is required (and so answered by the gateway, not passed upstream).
    pub(crate) fn enforcing(&self) -> bool {
        self.state != State::Open
    }

    fn who(&self) -> &str {
        self.principal.as_ref().map_or("anonymous", |p| p.subject.as_str())
    }

    /// Whether the next frame is a raw SASL token (after a v0 handshake).
    pub(crate) fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Authenticate { raw: true, .. })
    }

    /// Whether a request of API key `raw` may be served now; the error closes the connection.
    pub(crate) fn admit(&self, raw: i16) -> Result<(), GatewayError> {
        let api = ApiKey::try_from(raw).ok();
        let name = api.map_or_else(|| format!("api key {raw}"), |a| format!("{a:?}"));
        let refused = |why: String| {
            tracing::warn!(peer = %self.peer, principal = self.who(), "Kafka connection refused: {why}");
            Err(GatewayError::Refused(why))
        };
        match self.state {
            State::Open => Ok(()),
            State::Handshake => match api {
                Some(ApiKey::ApiVersions | ApiKey::SaslHandshake) => Ok(()),
                _ => refused(format!(
                    "unexpected Kafka request of type {name} during SASL handshake: this gateway \
                     requires SASL authentication (PLAIN or OAUTHBEARER with a Runnel token)"
                )),
            },
            State::Authenticate { .. } | State::Reauthenticate { .. } => match api {
                Some(ApiKey::SaslAuthenticate) => Ok(()),
                _ => refused(format!("unexpected Kafka request of type {name} during SASL authentication")),
            },
            State::Done { .. } if now_ms() >= self.expires_ms && api != Some(ApiKey::SaslHandshake) => {
                refused(format!(
                    "the SASL session of '{}' expired (its token did) and the client did not \
                     re-authenticate; {name} refused",
                    self.who()
                ))
            }
            State::Done { .. } => Ok(()),
        }
    }

    /// Why the authenticated caller may not use `api` at all (Produce and Fetch are decided
    /// per topic instead). Default deny: what the gateway does not check request by request
    /// needs the grants the broker's listener would ask for (`kafka/access.rs`), read in the
    /// gateway's one scope (tenant `public`, where group and transactional ids live):
    /// the group protocol, offsets and ListOffsets a consume or admin grant reaching into
    /// it; transactions and producer ids a produce or admin grant; anything else (admin
    /// requests, configs, ACLs, an API this gateway does not know) `superuser`. The caller
    /// answers a refusal with the API's authorization error where the gateway builds it
    /// (producer ids, joining a group) and closes the connection otherwise.
    pub(crate) fn api_refusal(&self, api: Option<ApiKey>) -> Option<String> {
        let principal = self.principal.as_ref()?;
        let holds_in_public = |kinds: &[&str]| {
            principal.grants.iter().any(|g| {
                (g.is_superuser() || kinds.iter().any(|k| g.as_str().starts_with(k)))
                    && g.reaches(&Resource::Tenant("public"))
            })
        };
        let (allowed, needs) = match api {
            Some(
                ApiKey::ApiVersions
                | ApiKey::SaslHandshake
                | ApiKey::SaslAuthenticate
                | ApiKey::Metadata
                | ApiKey::FindCoordinator
                | ApiKey::DescribeCluster
                | ApiKey::Produce
                | ApiKey::Fetch
                // Client telemetry (KIP-714), which librdkafka asks for when offered.
                | ApiKey::GetTelemetrySubscriptions
                | ApiKey::PushTelemetry,
            ) => return None,
            Some(
                ApiKey::JoinGroup
                | ApiKey::SyncGroup
                | ApiKey::Heartbeat
                | ApiKey::LeaveGroup
                | ApiKey::OffsetCommit
                | ApiKey::OffsetFetch
                | ApiKey::ListOffsets
                | ApiKey::DescribeGroups
                | ApiKey::ListGroups
                | ApiKey::ConsumerGroupHeartbeat
                | ApiKey::ConsumerGroupDescribe,
            ) => (holds_in_public(&["consume:", "admin:"]), "a consume or admin grant in tenant public"),
            Some(
                ApiKey::InitProducerId
                | ApiKey::AddPartitionsToTxn
                | ApiKey::AddOffsetsToTxn
                | ApiKey::EndTxn
                | ApiKey::TxnOffsetCommit,
            ) => (holds_in_public(&["produce:", "admin:"]), "a produce or admin grant in tenant public"),
            _ => (principal.is_superuser(), "superuser"),
        };
        (!allowed).then(|| format!("'{}' may not: it needs {needs}", principal.subject))
    }

    /// Who Metadata answers are filtered for: the principal with authentication on.
    pub(crate) fn viewer(&self) -> Option<Principal> {
        self.principal.clone().filter(|_| self.enforcing())
    }

    /// Answers SaslHandshake.
    pub(crate) fn handshake(&mut self, req: &SaslHandshakeRequest, version: i16) -> SaslHandshakeResponse {
        let mut r = SaslHandshakeResponse::default();
        r.mechanisms = MECHANISMS.iter().map(|m| StrBytes::from_static_str(m)).collect();
        let asked = Mechanism::parse(req.mechanism.as_str());
        match (self.state, asked) {
            (State::Handshake, Some(mechanism)) => {
                self.state = State::Authenticate { mechanism, raw: version == 0 }
            }
            (State::Done { mechanism }, Some(m)) if version >= 1 && m == mechanism => {
                self.state = State::Reauthenticate { mechanism }
            }
            (_, None) => {
                tracing::warn!(peer = %self.peer, mechanism = req.mechanism.as_str(), "Kafka SASL mechanism not supported");
                r.error_code = ResponseError::UnsupportedSaslMechanism.code();
                self.closing = true;
            }
            (state, Some(_)) => {
                tracing::warn!(peer = %self.peer, ?state, version, "Kafka SaslHandshake out of turn");
                r.error_code = ResponseError::IllegalSaslState.code();
                self.closing = true;
            }
        }
        r
    }

    /// Answers SaslAuthenticate: verifies the token the mechanism carries.
    pub(crate) fn authenticate(
        &mut self,
        req: &SaslAuthenticateRequest,
        version: i16,
    ) -> SaslAuthenticateResponse {
        let mut r = SaslAuthenticateResponse::default();
        let (mechanism, reauth) = match self.state {
            State::Authenticate { mechanism, raw: false } => (mechanism, false),
            State::Reauthenticate { mechanism } => (mechanism, true),
            _ => {
                r.error_code = ResponseError::IllegalSaslState.code();
                r.error_message = Some(StrBytes::from_static_str("SaslAuthenticate out of turn"));
                self.closing = true;
                return r;
            }
        };
        match self.verify(mechanism, &req.auth_bytes, reauth) {
            Ok(lifetime_ms) if version >= 1 => r.session_lifetime_ms = lifetime_ms,
            Ok(_) => {}
            Err(message) => {
                r.error_code = ResponseError::SaslAuthenticationFailed.code();
                r.error_message = Some(StrBytes::from_string(message));
                self.closing = true;
            }
        }
        r
    }

    /// Takes the raw token that follows a v0 handshake; an error closes the connection (v0
    /// has no way to say why).
    pub(crate) fn raw_token(&mut self, frame: &[u8]) -> Result<(), GatewayError> {
        let State::Authenticate { mechanism, raw: true } = self.state else {
            return Err(GatewayError::Refused("raw SASL token out of turn".into()));
        };
        self.verify(mechanism, frame, false).map(|_| ()).map_err(GatewayError::Refused)
    }

    fn verify(&mut self, mechanism: Mechanism, message: &[u8], reauth: bool) -> Result<i64, String> {
        let fail = |why: String| {
            tracing::warn!(peer = %self.peer, mechanism = mechanism.name(), reauth, "Kafka SASL authentication failed: {why}");
            Err(format!("Authentication failed: {why}"))
        };
        let token = match mechanism.token(message) {
            Ok(t) => t,
            Err(why) => return fail(why),
        };
        let Some(verifier) = &self.verifier else {
            return fail("authentication is off on this gateway".into());
        };
        let (principal, until_secs) = match verifier.verify_expiring(token) {
            Ok(p) => p,
            Err(e) => return fail(format!("invalid token: {e}")),
        };
        if reauth && self.principal.as_ref().map(|p| p.subject.as_str()) != Some(principal.subject.as_str()) {
            return fail(format!(
                "cannot change principals during re-authentication from '{}' to '{}'",
                self.who(),
                principal.subject
            ));
        }
        tracing::info!(peer = %self.peer, principal = %principal.subject, mechanism = mechanism.name(), reauth, "Kafka client authenticated");
        self.principal = Some(principal);
        self.expires_ms = until_secs.saturating_mul(1000);
        self.state = State::Done { mechanism };
        Ok(i64::try_from(self.expires_ms.saturating_sub(now_ms()).max(1)).unwrap_or(i64::MAX))
    }

    /// Why the caller may not `permission` the cluster's topic `topic`; `None`: it may
    /// (always, with authentication off).
    pub(crate) fn refusal(&self, permission: Permission, topic: &str) -> Option<String> {
        if self.state == State::Open {
            return None;
        }
        let Some(principal) = &self.principal else {
            return Some("not authenticated".into());
        };
        match KafkaScope::Global.topic(topic) {
            Ok(name) if principal.allows(permission, &Resource::Topic(&name)) => None,
            Ok(name) => Some(format!("'{}' may not {permission} topic {name}", principal.subject)),
            Err(e) => Some(format!("'{}' may not {permission} '{topic}': {e}", principal.subject)),
        }
    }
}

/// Whether `viewer` may see the cluster's topic `topic` (Metadata lists only those, as
/// the broker's listener lists only what a caller's grants reach).
pub(crate) fn sees(viewer: &Principal, topic: &str) -> bool {
    KafkaScope::Global.topic(topic).is_ok_and(|name| viewer.can_see(&Resource::Topic(&name)))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_auth::token::Signer;

    const SECRET: &[u8] = b"a secret for the gateway's unit tests, 32+ bytes";

    fn session() -> Session {
        let verifier = Verifier::hs256(SECRET).unwrap();
        Session::new(Some(Arc::new(verifier)), "127.0.0.1:1".parse().unwrap())
    }

    fn token(roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        Signer::hs256(SECRET).unwrap().issue("app", &roles, Duration::from_secs(60)).unwrap()
    }

    fn handshake(s: &mut Session, mechanism: &'static str) -> i16 {
        let mut req = SaslHandshakeRequest::default();
        req.mechanism = StrBytes::from_static_str(mechanism);
        s.handshake(&req, 1).error_code
    }

    fn authenticate(s: &mut Session, bytes: Vec<u8>) -> SaslAuthenticateResponse {
        let mut req = SaslAuthenticateRequest::default();
        req.auth_bytes = bytes.into();
        s.authenticate(&req, 2)
    }

    #[test]
    fn only_the_sasl_exchange_before_authentication_then_grants_per_topic() {
        let mut s = session();
        assert!(s.admit(ApiKey::ApiVersions as i16).is_ok());
        assert!(s.admit(ApiKey::Metadata as i16).is_err(), "nothing else before SASL");
        assert!(s.admit(999).is_err(), "nor an unknown API");
        assert_eq!(handshake(&mut s, "PLAIN"), 0);
        assert!(s.admit(ApiKey::Produce as i16).is_err(), "nor during it");
        let r = authenticate(
            &mut s,
            format!("\0anyone\0{}", token(&["produce:public/default/orders"])).into_bytes(),
        );
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        assert!(r.session_lifetime_ms > 50_000, "the token's lifetime: {}", r.session_lifetime_ms);
        assert!(s.admit(ApiKey::Metadata as i16).is_ok() && !s.closing);
        assert_eq!(s.refusal(Permission::Produce, "orders"), None);
        assert!(s.refusal(Permission::Consume, "orders").unwrap().contains("may not consume"));
        assert!(s.refusal(Permission::Produce, "__acme.web.orders").is_some(), "another tenant's topic");
        assert!(s.refusal(Permission::Produce, "bad/name").is_some());
        // What is not decided per topic needs the grants the broker's listener asks for.
        assert!(s.api_refusal(Some(ApiKey::InitProducerId)).is_none(), "a producer's id");
        assert!(s.api_refusal(Some(ApiKey::JoinGroup)).is_some(), "groups need a consume grant");
        assert!(s.api_refusal(Some(ApiKey::DeleteTopics)).is_some(), "admin requests need superuser");
        let viewer = s.viewer().expect("filtered for the principal");
        assert!(sees(&viewer, "orders") && !sees(&viewer, "payroll"), "Metadata lists what the grants reach");
    }

    #[test]
    fn groups_need_a_consume_grant_and_admin_requests_a_superuser() {
        let signed_in = |roles: &[&str]| {
            let mut s = session();
            assert_eq!(handshake(&mut s, "PLAIN"), 0);
            let r = authenticate(&mut s, format!("\0anyone\0{}", token(roles)).into_bytes());
            assert_eq!(r.error_code, 0, "{:?}", r.error_message);
            s
        };
        let reader = signed_in(&["consume:public/default/*"]);
        for api in [ApiKey::JoinGroup, ApiKey::OffsetCommit, ApiKey::ListOffsets, ApiKey::OffsetFetch] {
            assert!(reader.api_refusal(Some(api)).is_none(), "{api:?}");
        }
        assert!(reader.api_refusal(Some(ApiKey::InitProducerId)).is_some(), "no produce grant");
        assert!(reader.api_refusal(Some(ApiKey::CreateTopics)).is_some());
        let elsewhere = signed_in(&["consume:acme/*/*"]);
        assert!(
            elsewhere.api_refusal(Some(ApiKey::JoinGroup)).is_some(),
            "public's groups are out of its reach"
        );
        let root = signed_in(&["superuser"]);
        for api in [ApiKey::CreateTopics, ApiKey::DeleteTopics, ApiKey::AlterConfigs, ApiKey::JoinGroup] {
            assert!(root.api_refusal(Some(api)).is_none(), "{api:?}");
        }
        assert!(root.api_refusal(None).is_none(), "an API the gateway does not know passes for a superuser");
    }

    #[test]
    fn a_bad_token_or_mechanism_closes_the_connection_after_the_answer() {
        let mut s = session();
        assert_eq!(handshake(&mut s, "OAUTHBEARER"), 0);
        let foreign = Signer::hs256(b"another secret, of another server, 32+ bytes")
            .unwrap()
            .issue("root", &["superuser".to_owned()], Duration::from_secs(60))
            .unwrap();
        let r = authenticate(&mut s, format!("n,,\x01auth=Bearer {foreign}\x01\x01").into_bytes());
        assert_eq!(r.error_code, ResponseError::SaslAuthenticationFailed.code());
        assert!(r.error_message.unwrap().contains("invalid token"));
        assert!(s.closing);

        let mut s = session();
        assert_eq!(handshake(&mut s, "SCRAM-SHA-256"), ResponseError::UnsupportedSaslMechanism.code());
        assert!(s.closing);

        let open = Session::new(None, "127.0.0.1:1".parse().unwrap());
        assert!(!open.enforcing() && open.admit(ApiKey::Produce as i16).is_ok());
        assert_eq!(open.refusal(Permission::Produce, "anything"), None);
    }
}
