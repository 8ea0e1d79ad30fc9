//! SASL on the Kafka listener: one connection's authentication state ([`Session`]), the
//! SaslHandshake (v0–v1) and SaslAuthenticate (v0–v2) exchanges, and the two mechanisms,
//! PLAIN (any username; the password is a Runnel token) and OAUTHBEARER (RFC 7628: the
//! bearer is a Runnel token). Tokens are verified by the same [`Verifier`] as gRPC's
//! `authorization: Bearer` and REST's, so a token means the same principal and grants on
//! every edge.
//!
//! With authentication off the listener is PLAINTEXT (or SSL): no SASL, every caller open,
//! and SASL requests are answered ILLEGAL_SASL_STATE as Kafka's non-SASL listeners answer
//! them. With it on, as Apache Kafka's `SaslServerAuthenticator` does: before authentication
//! only ApiVersions and SaslHandshake are read; anything else closes the connection with a
//! log line (Kafka's "Unexpected Kafka request of type X during SASL handshake"), and so does
//! a failed authentication, after its SASL_AUTHENTICATION_FAILED answer carrying the reason.
//! A v0 handshake is followed by the mechanism's bytes as a raw frame, not wrapped in
//! SaslAuthenticate (Kafka's pre-KIP-152 flow).
//!
//! Expiry (KIP-368): SaslAuthenticate v1+ answers `session_lifetime_ms`, the time until the
//! token stops verifying (its `exp` plus the tolerated skew). Clients re-authenticate before
//! then on the same connection (SaslHandshake + SaslAuthenticate again; the principal must
//! stay the same, the new token's grants apply from then on); a request on a session past its
//! lifetime closes the connection, as Kafka's brokers do. OAUTHBEARER failures are answered at
//! once with SASL_AUTHENTICATION_FAILED and the reason in `error_message` (not RFC 7628's
//! error challenge, which every Kafka client turns into the same failure one round trip later).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use runnel_auth::names::kafka::KafkaScope;
use runnel_auth::sasl::{Mechanism, MECHANISMS};

use super::codec::KafkaError;
use super::context::Access;
use crate::auth::{Authenticator, Caller};
use crate::kafka_codes::kstr;

const SASL_AUTHENTICATION_FAILED: i16 = kafka_protocol::ResponseError::SaslAuthenticationFailed.code();
const ILLEGAL_SASL_STATE: i16 = kafka_protocol::ResponseError::IllegalSaslState.code();
const UNSUPPORTED_SASL_MECHANISM: i16 = kafka_protocol::ResponseError::UnsupportedSaslMechanism.code();

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Authentication off: nothing to do.
    Open,
    /// Waiting for SaslHandshake (ApiVersions may come first).
    Handshake,
    /// Handshake done; the next request is SaslAuthenticate (or, after a v0 handshake, the
    /// mechanism's raw bytes).
    Authenticate { mechanism: Mechanism, raw: bool },
    /// Authenticated.
    Done { mechanism: Mechanism },
    /// A re-authentication's handshake is done; SaslAuthenticate comes next.
    Reauthenticate { mechanism: Mechanism },
}

/// One connection's authentication state.
#[derive(Debug)]
pub(super) struct Session {
    verifier: Authenticator,
    state: State,
    access: Arc<Access>,
    /// When the authenticated session ends (ms since the epoch).
    expires_ms: u64,
    peer: SocketAddr,
    /// Set once the connection must close after the answers already queued.
    pub(super) closing: bool,
}

impl Session {
    /// A new connection's session: open with authentication off, waiting for SASL otherwise.
    pub(super) fn new(verifier: Authenticator, peer: SocketAddr) -> Session {
        let state = if verifier.is_some() { State::Handshake } else { State::Open };
        Session {
            verifier,
            state,
            access: Arc::new(Access::open()),
            expires_ms: u64::MAX,
            peer,
            closing: false,
        }
    }

    /// Who the connection's requests come from now.
    pub(super) fn access(&self) -> Arc<Access> {
        Arc::clone(&self.access)
    }

    /// Whether the next frame is a raw SASL token (after a v0 handshake) rather than a request.
    pub(super) fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Authenticate { raw: true, .. })
    }

    /// Whether a request of `api` may be served in the current state; the error closes the
    /// connection (Kafka's `IllegalSaslStateException`, or an expired session).
    pub(super) fn admit(&self, api: ApiKey) -> Result<(), KafkaError> {
        let refused = |why: String| {
            tracing::warn!(peer = %self.peer, principal = self.access.who(), "Kafka connection refused: {why}");
            Err(KafkaError::Refused(why))
        };
        match self.state {
            State::Open => Ok(()),
            State::Handshake => match api {
                ApiKey::ApiVersions | ApiKey::SaslHandshake => Ok(()),
                _ => refused(format!(
                    "unexpected Kafka request of type {api:?} during SASL handshake: this listener \
                     requires SASL authentication (PLAIN or OAUTHBEARER with a Runnel token)"
                )),
            },
            State::Authenticate { .. } | State::Reauthenticate { .. } => match api {
                ApiKey::SaslAuthenticate => Ok(()),
                _ => refused(format!("unexpected Kafka request of type {api:?} during SASL authentication")),
            },
            State::Done { .. } => {
                if now_ms() >= self.expires_ms && !matches!(api, ApiKey::SaslHandshake) {
                    return refused(format!(
                        "the SASL session of '{}' expired (its token did) and the client did not \
                         re-authenticate; {api:?} refused",
                        self.access.who()
                    ));
                }
                Ok(())
            }
        }
    }

    /// Answers SaslHandshake: the mechanism is chosen, or the ones offered are listed.
    pub(super) fn handshake(&mut self, req: &SaslHandshakeRequest, version: i16) -> SaslHandshakeResponse {
        let mut r = SaslHandshakeResponse::default();
        r.mechanisms = MECHANISMS.iter().map(|m| kstr(*m)).collect();
        let asked = req.mechanism.as_str();
        match self.state {
            State::Open => {
                tracing::warn!(peer = %self.peer, "Kafka SaslHandshake on a listener without SASL (authentication is off)");
                r.error_code = ILLEGAL_SASL_STATE;
                r.mechanisms.clear();
            }
            State::Handshake => match Mechanism::parse(asked) {
                Some(mechanism) => self.state = State::Authenticate { mechanism, raw: version == 0 },
                None => {
                    tracing::warn!(peer = %self.peer, mechanism = asked, "Kafka SASL mechanism not supported");
                    r.error_code = UNSUPPORTED_SASL_MECHANISM;
                    self.closing = true;
                }
            },
            State::Done { mechanism } if version >= 1 && Mechanism::parse(asked) == Some(mechanism) => {
                self.state = State::Reauthenticate { mechanism };
            }
            State::Done { mechanism } => {
                tracing::warn!(
                    peer = %self.peer,
                    principal = self.access.who(),
                    asked,
                    authenticated_with = mechanism.name(),
                    version,
                    "Kafka re-authentication refused: it must use SaslHandshake v1+ and the same mechanism"
                );
                r.error_code = if Mechanism::parse(asked).is_some() {
                    ILLEGAL_SASL_STATE
                } else {
                    UNSUPPORTED_SASL_MECHANISM
                };
                self.closing = true;
            }
            State::Authenticate { .. } | State::Reauthenticate { .. } => {
                // `admit` lets only SaslAuthenticate through in these states.
                r.error_code = ILLEGAL_SASL_STATE;
                self.closing = true;
            }
        }
        r
    }

    /// Answers SaslAuthenticate: verifies the token the mechanism carries.
    pub(super) fn authenticate(
        &mut self,
        req: &SaslAuthenticateRequest,
        version: i16,
    ) -> SaslAuthenticateResponse {
        let mut r = SaslAuthenticateResponse::default();
        let (mechanism, reauth) = match self.state {
            State::Authenticate { mechanism, raw: false } => (mechanism, false),
            State::Reauthenticate { mechanism } => (mechanism, true),
            State::Open | State::Done { .. } => {
                r.error_code = ILLEGAL_SASL_STATE;
                r.error_message = Some(kstr(match self.state {
                    State::Open => "SaslAuthenticate on a listener without SASL (authentication is off)",
                    _ => "SaslAuthenticate request received after successful authentication",
                }));
                return r;
            }
            State::Handshake | State::Authenticate { raw: true, .. } => {
                r.error_code = ILLEGAL_SASL_STATE;
                r.error_message = Some(kstr("SaslAuthenticate before SaslHandshake v1"));
                self.closing = true;
                return r;
            }
        };
        match self.verify(mechanism, &req.auth_bytes, reauth) {
            Ok(lifetime_ms) => {
                if version >= 1 {
                    r.session_lifetime_ms = lifetime_ms;
                }
            }
            Err(message) => {
                r.error_code = SASL_AUTHENTICATION_FAILED;
                r.error_message = Some(kstr(message));
                self.closing = true;
            }
        }
        r
    }

    /// Takes the raw token that follows a v0 handshake; the answer is the (empty) server
    /// message as a raw frame. A failure closes the connection: v0 has no way to say why.
    pub(super) fn raw_token(&mut self, frame: &Bytes) -> Result<BytesMut, KafkaError> {
        let State::Authenticate { mechanism, raw: true } = self.state else {
            return Err(KafkaError::Refused("raw SASL token out of turn".to_owned()));
        };
        match self.verify(mechanism, frame, false) {
            Ok(_) => {
                let mut out = BytesMut::with_capacity(4);
                out.put_i32(0);
                Ok(out)
            }
            Err(message) => {
                self.closing = true;
                Err(KafkaError::Refused(message))
            }
        }
    }

    /// Verifies the token of a mechanism's client message; on success the session is
    /// authenticated and the session lifetime (ms) is returned, otherwise the message of the
    /// SASL_AUTHENTICATION_FAILED answer (logged here).
    fn verify(&mut self, mechanism: Mechanism, message: &[u8], reauth: bool) -> Result<i64, String> {
        let fail = |why: String| {
            tracing::warn!(
                peer = %self.peer,
                mechanism = mechanism.name(),
                reauth,
                "Kafka SASL authentication failed: {why}"
            );
            Err(format!("Authentication failed: {why}"))
        };
        let token = match mechanism.token(message) {
            Ok(t) => t,
            Err(why) => return fail(why),
        };
        let Some(verifier) = &self.verifier else {
            return fail("authentication is off on this listener".to_owned());
        };
        let (principal, until_secs) = match verifier.verify_expiring(token) {
            Ok(p) => p,
            Err(e) => return fail(format!("invalid token: {e}")),
        };
        if reauth && Some(principal.subject.as_str()) != self.access.caller.name() {
            return fail(format!(
                "cannot change principals during re-authentication from '{}' to '{}'",
                self.access.who(),
                principal.subject
            ));
        }
        let scope = KafkaScope::for_home(principal.home_tenant());
        tracing::info!(
            peer = %self.peer,
            principal = %principal.subject,
            mechanism = mechanism.name(),
            reauth,
            ?scope,
            "Kafka client authenticated"
        );
        self.access = Arc::new(Access { caller: Caller::Authenticated(Arc::new(principal)), scope });
        self.expires_ms = until_secs.saturating_mul(1000);
        self.state = State::Done { mechanism };
        let left = self.expires_ms.saturating_sub(now_ms()).max(1);
        Ok(i64::try_from(left).unwrap_or(i64::MAX))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
