//! Signed bearer tokens (JWT, HS256 or RS256) carrying a principal and its grants.
//!
//! A token is self-contained: its claims are `sub` (who), `iat` and `exp` (when it was issued
//! and until when it is good, seconds since the epoch) and `roles` (the grants, see
//! [`crate::authz`]). The server keeps no per-token state, so a token cannot be revoked
//! before it expires: issue short-lived tokens (an hour, a day) and rotate the key to revoke
//! them all.
//!
//! Keys: HS256 with a shared secret (the same bytes sign and verify; at least 32 of them), or
//! RS256 with an RSA key pair in PEM (the private key signs, the server holds only the public
//! key). Grants are parsed both when a token is signed (a typo never becomes a token) and
//! when it is verified (a token from another issuer with a bad grant is refused whole).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::authz::{GrantError, Principal};

/// Fewest bytes of an HS256 secret (RFC 7518 §3.2: at least the hash's size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Seconds of clock difference between signer and server that are tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of a Runnel token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal's name.
    pub sub: String,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expires at (seconds since the epoch).
    pub exp: u64,
    /// The grants (`superuser`, `produce:acme/web/orders`, ...).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Claims {
    /// Claims for `subject` with `roles`, issued now and good for `ttl`.
    pub fn new(subject: impl Into<String>, roles: Vec<String>, ttl: Duration) -> Claims {
        let iat = now_secs();
        Claims { sub: subject.into(), iat, exp: iat.saturating_add(ttl.as_secs().max(1)), roles }
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Why a key could not be loaded, a token not be signed, or not be accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A key file could not be read.
    #[error("cannot read the key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The key material is unusable (too short, not PEM, not RSA).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The token is not a JWT (three base64url parts of JSON).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token was signed with another algorithm than the server's key.
    #[error("token signed with {found}, the server accepts {expected} only")]
    WrongAlgorithm {
        /// The token header's `alg`.
        found: String,
        /// The server key's algorithm.
        expected: String,
    },
    /// The signature does not verify with the server's key.
    #[error("token signature is invalid (not signed with this server's key)")]
    BadSignature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// A required claim is missing or has the wrong type.
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
    /// A grant in `roles` does not parse.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// Signing failed.
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, TokenError> {
    std::fs::read(path).map_err(|source| TokenError::KeyFile { path: path.display().to_string(), source })
}

/// A shared secret as stored in a file: surrounding whitespace (a trailing newline) is not
/// part of it.
fn secret_of(bytes: &[u8]) -> Result<&[u8], TokenError> {
    let secret = bytes.trim_ascii();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(TokenError::InvalidKey(format!(
            "an HS256 secret must hold at least {MIN_SECRET_BYTES} bytes, this one holds {}",
            secret.len()
        )));
    }
    Ok(secret)
}

fn algorithm_name(a: Algorithm) -> String {
    format!("{a:?}")
}

/// Checks tokens against the server's key and turns them into principals.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    algorithm: Algorithm,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Verifier").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl Verifier {
    fn with(key: DecodingKey, algorithm: Algorithm) -> Verifier {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        Verifier { key, algorithm, validation }
    }

    /// An HS256 verifier with a shared secret (at least [`MIN_SECRET_BYTES`] bytes).
    pub fn hs256(secret: &[u8]) -> Result<Verifier, TokenError> {
        let secret = secret_of(secret)?;
        let key = DecodingKey::from_secret(secret).map_err(|e| TokenError::InvalidKey(e.to_string()))?;
        Ok(Verifier::with(key, Algorithm::HS256))
    }

    /// An RS256 verifier with an RSA public key in PEM (`BEGIN PUBLIC KEY` or
    /// `BEGIN RSA PUBLIC KEY`).
    pub fn rs256_pem(public_key_pem: &[u8]) -> Result<Verifier, TokenError> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|e| TokenError::InvalidKey(format!("not an RSA public key in PEM: {e}")))?;
        Ok(Verifier::with(key, Algorithm::RS256))
    }

    /// [`Verifier::hs256`] with the secret read from a file.
    pub fn from_secret_file(path: &Path) -> Result<Verifier, TokenError> {
        Verifier::hs256(&read_key_file(path)?)
    }

    /// [`Verifier::rs256_pem`] with the public key read from a file.
    pub fn from_public_key_file(path: &Path) -> Result<Verifier, TokenError> {
        Verifier::rs256_pem(&read_key_file(path)?)
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> String {
        algorithm_name(self.algorithm)
    }

    /// Verifies a token (signature, algorithm, expiry, claims, grants) and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_expiring(token).map(|(principal, _)| principal)
    }

    /// [`Verifier::verify`], also returning until when the token is accepted (its `exp` plus
    /// the tolerated skew, seconds since the epoch): sessions that outlive a request (a
    /// Kafka connection) end or re-authenticate then.
    pub fn verify_expiring(&self, token: &str) -> Result<(Principal, u64), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if header.alg != self.algorithm {
            return Err(TokenError::WrongAlgorithm {
                found: algorithm_name(header.alg),
                expected: algorithm_name(self.algorithm),
            });
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| match e
            .kind()
        {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm {
                found: algorithm_name(header.alg),
                expected: algorithm_name(self.algorithm),
            },
            ErrorKind::MissingRequiredClaim(c) => TokenError::InvalidClaims(format!("`{c}` is missing")),
            ErrorKind::InvalidClaimFormat(c) => TokenError::InvalidClaims(format!("`{c}` is malformed")),
            ErrorKind::Json(j) => TokenError::InvalidClaims(j.to_string()),
            _ => TokenError::Malformed(e.to_string()),
        })?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(TokenError::InvalidClaims("`sub` is empty".to_owned()));
        }
        let until = claims.exp.saturating_add(LEEWAY_SECS);
        Ok((Principal::new(claims.sub, &claims.roles)?, until))
    }
}

/// Signs tokens (the CLI's `runnel token create`, tests).
#[derive(Clone)]
pub struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl Signer {
    /// An HS256 signer with a shared secret (at least [`MIN_SECRET_BYTES`] bytes).
    pub fn hs256(secret: &[u8]) -> Result<Signer, TokenError> {
        let secret = secret_of(secret)?;
        let key = EncodingKey::from_secret(secret).map_err(|e| TokenError::InvalidKey(e.to_string()))?;
        Ok(Signer { key, algorithm: Algorithm::HS256 })
    }

    /// An RS256 signer with an RSA private key in PEM (PKCS#1 or PKCS#8).
    pub fn rs256_pem(private_key_pem: &[u8]) -> Result<Signer, TokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| {
            TokenError::InvalidKey(format!("not an RSA private key in PEM: {e}"))
        };
        let key = EncodingKey::from_rsa_pem(private_key_pem).map_err(invalid)?;
        // The PEM is only parsed lazily: sign once now so a wrong file fails here, not later.
        jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &Claims::new("probe", Vec::new(), Duration::ZERO),
            &key,
        )
        .map_err(invalid)?;
        Ok(Signer { key, algorithm: Algorithm::RS256 })
    }

    /// [`Signer::hs256`] with the secret read from a file.
    pub fn from_secret_file(path: &Path) -> Result<Signer, TokenError> {
        Signer::hs256(&read_key_file(path)?)
    }

    /// [`Signer::rs256_pem`] with the private key read from a file.
    pub fn from_private_key_file(path: &Path) -> Result<Signer, TokenError> {
        Signer::rs256_pem(&read_key_file(path)?)
    }

    /// A token for `subject` with `roles`, good for `ttl` from now. Every grant is checked.
    pub fn issue(&self, subject: &str, roles: &[String], ttl: Duration) -> Result<String, TokenError> {
        self.sign(&Claims::new(subject, roles.to_vec(), ttl))
    }

    /// Signs exactly these claims (after checking `sub` and every grant).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        if claims.sub.is_empty() {
            return Err(TokenError::InvalidClaims("`sub` is empty".to_owned()));
        }
        Principal::new(claims.sub.clone(), &claims.roles)?;
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, &self.key)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{Permission, Resource};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn signed_token_verifies_into_its_principal() {
        let signer = Signer::hs256(SECRET).unwrap();
        let token =
            signer.issue("alice", &["produce:acme/web/*".to_owned()], Duration::from_secs(60)).unwrap();
        let p = Verifier::hs256(SECRET).unwrap().verify(&token).unwrap();
        assert_eq!(p.subject, "alice");
        let t = crate::names::TopicName::parse("acme/web/orders").unwrap();
        assert!(p.allows(Permission::Produce, &Resource::Topic(&t)));
        assert!(!p.allows(Permission::Consume, &Resource::Topic(&t)));
    }

    #[test]
    fn secret_file_newline_is_not_part_of_the_secret() {
        let mut with_newline = SECRET.to_vec();
        with_newline.push(b'\n');
        let token = Signer::hs256(&with_newline).unwrap().issue("a", &[], Duration::from_secs(60)).unwrap();
        assert!(Verifier::hs256(SECRET).unwrap().verify(&token).is_ok());
    }

    #[test]
    fn refuses_short_secrets() {
        let e = Signer::hs256(b"short").unwrap_err();
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
        assert!(Verifier::hs256(b"").is_err());
    }

    #[test]
    fn refuses_expired_tokens() {
        let signer = Signer::hs256(SECRET).unwrap();
        let now = now_secs();
        let claims = Claims { sub: "a".into(), iat: now - 7200, exp: now - 3600, roles: vec![] };
        let token = signer.sign(&claims).unwrap();
        let e = Verifier::hs256(SECRET).unwrap().verify(&token).unwrap_err();
        assert!(matches!(e, TokenError::Expired), "{e}");
    }

    #[test]
    fn refuses_tokens_of_another_key() {
        let token = Signer::hs256(b"another secret that is long enough!!")
            .unwrap()
            .issue("a", &[], Duration::from_secs(60))
            .unwrap();
        let e = Verifier::hs256(SECRET).unwrap().verify(&token).unwrap_err();
        assert!(matches!(e, TokenError::BadSignature), "{e}");
    }

    #[test]
    fn refuses_malformed_tokens() {
        let v = Verifier::hs256(SECRET).unwrap();
        for bad in ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "\u{0}\u{1}"] {
            let e = v.verify(bad).unwrap_err();
            assert!(matches!(e, TokenError::Malformed(_) | TokenError::BadSignature), "{bad:?}: {e}");
        }
    }

    #[test]
    fn refuses_tokens_with_bad_grants_when_signing_and_verifying() {
        let signer = Signer::hs256(SECRET).unwrap();
        let e = signer.issue("a", &["produce:acme".to_owned()], Duration::from_secs(60)).unwrap_err();
        assert!(matches!(e, TokenError::Grant(_)), "{e}");
        // A token with a bad grant made by another issuer with the same key.
        let claims = Claims::new("a", vec!["fly:everywhere".to_owned()], Duration::from_secs(60));
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        let e = Verifier::hs256(SECRET).unwrap().verify(&token).unwrap_err();
        assert!(e.to_string().contains("invalid grant 'fly:everywhere'"), "{e}");
    }

    #[test]
    fn refuses_the_none_algorithm_and_algorithm_confusion() {
        // `alg: none` with an empty signature.
        let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
        let now = now_secs();
        let body = base64url(
            format!(r#"{{"sub":"a","iat":{now},"exp":{},"roles":["superuser"]}}"#, now + 60).as_bytes(),
        );
        let v = Verifier::hs256(SECRET).unwrap();
        assert!(v.verify(&format!("{header}.{body}.")).is_err());
        // An HS384 token is not accepted by an HS256 server.
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &Claims::new("a", vec![], Duration::from_secs(60)),
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap();
        assert!(matches!(v.verify(&token).unwrap_err(), TokenError::WrongAlgorithm { .. }));
    }

    fn base64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn rs256_signs_with_the_private_key_and_verifies_with_the_public_one() {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let mut rng = rand::thread_rng();
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let public = rsa::RsaPublicKey::from(&private);
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public_pem = public.to_public_key_pem(LineEnding::LF).unwrap();
        let token = Signer::rs256_pem(private_pem.as_bytes())
            .unwrap()
            .issue("bob", &["superuser".to_owned()], Duration::from_secs(60))
            .unwrap();
        let p = Verifier::rs256_pem(public_pem.as_bytes()).unwrap().verify(&token).unwrap();
        assert!(p.is_superuser());
        // The HS256 server does not take it, and an RS256 server does not take HS256 tokens.
        assert!(Verifier::hs256(SECRET).unwrap().verify(&token).is_err());
        let hs = Signer::hs256(SECRET).unwrap().issue("a", &[], Duration::from_secs(60)).unwrap();
        let e = Verifier::rs256_pem(public_pem.as_bytes()).unwrap().verify(&hs).unwrap_err();
        assert!(matches!(e, TokenError::WrongAlgorithm { .. }), "{e}");
        assert!(Verifier::rs256_pem(b"not a pem").is_err());
        assert!(Signer::rs256_pem(public_pem.as_bytes()).is_err());
    }
}
