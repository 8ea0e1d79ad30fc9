//! The client messages of the two SASL mechanisms Runnel's Kafka edges speak, reduced to the
//! token they carry: PLAIN (RFC 4616; any username, the password is a Runnel token) and
//! OAUTHBEARER (RFC 7628; the bearer is a Runnel token). Shared by the broker's Kafka listener
//! and the gateway, so both accept exactly the same messages and give the same reasons;
//! the exchanges around them (SaslHandshake, SaslAuthenticate) are each edge's own.

/// The mechanisms' names as SaslHandshake lists them.
pub const MECHANISMS: [&str; 2] = ["PLAIN", "OAUTHBEARER"];

/// A SASL mechanism Runnel's Kafka edges speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// PLAIN: the password is a Runnel token.
    Plain,
    /// OAUTHBEARER: the bearer is a Runnel token.
    OAuthBearer,
}

impl Mechanism {
    /// The mechanism a SaslHandshake names, if it is one of these.
    pub fn parse(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The token a client message of this mechanism carries.
    pub fn token(self, message: &[u8]) -> Result<&str, String> {
        match self {
            Mechanism::Plain => plain_password(message),
            Mechanism::OAuthBearer => oauth_bearer_token(message),
        }
    }
}

/// PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`; the password is the token. Any
/// username is accepted (the token says who the caller is); an authorization id, if given,
/// must equal it, as Kafka's PLAIN server requires.
pub fn plain_password(message: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(message).map_err(|_| "the SASL/PLAIN message is not UTF-8".to_owned())?;
    let parts: Vec<&str> = text.split('\0').collect();
    let [authzid, username, password] = parts.as_slice() else {
        return Err(format!(
            "invalid SASL/PLAIN message: expected 3 NUL-separated tokens, got {}",
            parts.len()
        ));
    };
    if username.is_empty() {
        return Err("SASL/PLAIN username not specified".to_owned());
    }
    if password.is_empty() {
        return Err("SASL/PLAIN password not specified (the password is a Runnel token)".to_owned());
    }
    if !authzid.is_empty() && authzid != username {
        return Err("client requested an authorization id that is different from the username".to_owned());
    }
    Ok(password)
}

/// OAUTHBEARER's client first message (RFC 7628 §3.1):
/// `gs2-header kvsep *(key=value kvsep) kvsep`, e.g. `n,,\x01auth=Bearer <token>\x01\x01`.
/// Extensions (other keys) are accepted and ignored.
pub fn oauth_bearer_token(message: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(message).map_err(|_| "the OAUTHBEARER message is not UTF-8".to_owned())?;
    let invalid = |why: &str| format!("invalid OAUTHBEARER client message: {why}");
    let Some(body) = text.strip_suffix("\x01\x01") else {
        return Err(invalid("it must end with two \\x01 separators"));
    };
    let mut fields = body.split('\x01');
    let gs2 = fields.next().unwrap_or("");
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) || !gs2.ends_with(',') {
        return Err(invalid("the GS2 header must be `n,,` or `n,a=<authzid>,`"));
    }
    let mut token = None;
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(invalid(&format!(
                "field '{}' is not key=value",
                field.chars().take(32).collect::<String>()
            )));
        };
        if key == "auth" {
            token = match value.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                    Some(t.trim())
                }
                _ => return Err(invalid("auth must be `Bearer <token>`")),
            };
        }
    }
    token.ok_or_else(|| invalid("no auth=Bearer <token> field"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_takes_the_password() {
        assert_eq!(plain_password(b"\0alice\0tok").unwrap(), "tok");
        assert_eq!(plain_password(b"alice\0alice\0tok").unwrap(), "tok");
        assert!(plain_password(b"bob\0alice\0tok").unwrap_err().contains("authorization id"));
        assert!(plain_password(b"\0\0tok").unwrap_err().contains("username"));
        assert!(plain_password(b"\0alice\0").unwrap_err().contains("password"));
        assert!(plain_password(b"alice tok").unwrap_err().contains("3 NUL-separated"));
        assert!(plain_password(b"\0a\0b\0c").is_err());
        assert!(plain_password(&[0, 0xff, 0, 1]).is_err());
    }

    #[test]
    fn oauthbearer_takes_the_bearer() {
        assert_eq!(oauth_bearer_token(b"n,,\x01auth=Bearer abc.def\x01\x01").unwrap(), "abc.def");
        assert_eq!(oauth_bearer_token(b"n,a=me,\x01host=x\x01auth=bearer t\x01\x01").unwrap(), "t");
        assert!(oauth_bearer_token(b"n,,\x01auth=Bearer t\x01").is_err());
        assert!(oauth_bearer_token(b"n,,\x01auth=Basic t\x01\x01").is_err());
        assert!(oauth_bearer_token(b"n,,\x01auth=Bearer \x01\x01").is_err());
        assert!(oauth_bearer_token(b"n,,\x01host=x\x01\x01").unwrap_err().contains("no auth"));
        assert!(oauth_bearer_token(b"p=x,,\x01auth=Bearer t\x01\x01").is_err());
        assert!(oauth_bearer_token(b"\x01").is_err());
    }
}
