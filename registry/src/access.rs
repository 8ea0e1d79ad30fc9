//! Who may read and write which subjects through the REST API: the hook the broker
//! implements with its principals and grants, and the allow-all default.
//!
//! Every REST handler asks the hook before it acts. A subject the caller may not see at
//! all is answered exactly as a subject that does not exist (40401, or 40403 for a schema
//! id none of whose subjects the caller may see), so nothing is learnt about other
//! tenants' subjects; a subject the caller sees but may not act on is 403 with error
//! code 40301 and a message naming the missing permission.

/// What a request does to a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaAction {
    /// Reads versions, schemas, configuration, compatibility verdicts.
    Read,
    /// Registers, deletes, sets configuration or mode.
    Write,
}

/// The access decision the REST API consults on every request.
///
/// `request` holds the request's extensions, where an authentication layer in front of
/// the router puts the caller's identity; the registry itself never looks inside.
pub trait SubjectAccess: Send + Sync + 'static {
    /// Ok, or the reason the caller may not (→ HTTP 403, error_code 40301, message naming the
    /// missing permission). `subject`: qualified subject; `None`: registry-wide config/mode.
    fn check(
        &self,
        request: &http::Extensions,
        subject: Option<&str>,
        action: SchemaAction,
    ) -> Result<(), String>;

    /// Whether the caller may see `subject` at all; listings are filtered with it, and a subject
    /// (or a schema id whose every subject is) the caller may not see is answered as NOT FOUND.
    fn visible(&self, request: &http::Extensions, subject: &str) -> bool;
}

/// The default: everyone may do everything (the registry without authentication).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl SubjectAccess for AllowAll {
    fn check(&self, _: &http::Extensions, _: Option<&str>, _: SchemaAction) -> Result<(), String> {
        Ok(())
    }

    fn visible(&self, _: &http::Extensions, _: &str) -> bool {
        true
    }
}
