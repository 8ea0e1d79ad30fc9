//! Confluent's schema contexts: a qualified subject `:.ctx:name` lives in context `.ctx`; a
//! bare subject (or `:.:name`) lives in the default context `.`.
//!
//! The registry stores a qualified subject under its qualified name, so two contexts'
//! `users-value` are two independent subjects, while schema ids stay global. Tenant `T` owns
//! context `.T`; tenant `public` uses the default context, so bare topics bind to the subjects
//! they always had.

use crate::{validate_tenant, DEFAULT_TENANT};

/// The default context's name.
pub const DEFAULT_CONTEXT: &str = ".";

/// Splits a subject into its context and its name: `:.acme:users-value` → (`Some(".acme")`,
/// `users-value`); a bare subject and the explicit default context `:.:x` give `None`.
/// A string that starts like a qualified subject but is not one is left whole and bare.
pub fn split_subject(subject: &str) -> (Option<&str>, &str) {
    if let Some(rest) = subject.strip_prefix(':') {
        if rest.starts_with('.') {
            if let Some(end) = rest.find(':') {
                let ctx = &rest[..end];
                let name = &rest[end + 1..];
                return (if ctx == DEFAULT_CONTEXT { None } else { Some(ctx) }, name);
            }
        }
    }
    (None, subject)
}

/// The context of a qualified subject, Confluent's way: `:.acme:users-value` → `Some(".acme")`
/// (the context's name, with its leading dot); a bare subject, or `:.:x`, is in the default
/// context: `None`.
pub fn context_of(subject: &str) -> Option<&str> {
    split_subject(subject).0
}

/// The context a subject lives in, spelled out: `.` for the default context, `.ctx` otherwise.
pub fn context_name(subject: &str) -> &str {
    context_of(subject).unwrap_or(DEFAULT_CONTEXT)
}

/// `name` in `context` (`None` or `.` = default): `name` or `:.ctx:name`.
pub fn qualify(context: Option<&str>, name: &str) -> String {
    match context {
        None | Some(DEFAULT_CONTEXT) => name.to_owned(),
        Some(ctx) => format!(":{ctx}:{name}"),
    }
}

/// The one spelling a subject is stored under: `:.:name` (the default context spelled
/// out) is `name`; everything else is itself.
pub fn normalize_subject(subject: &str) -> String {
    match split_subject(subject) {
        (None, name) => name.to_owned(),
        (Some(_), _) => subject.to_owned(),
    }
}

/// Whether `context` is a context name the registry's `/contexts/{ctx}/...` path accepts:
/// `.`, or `.` followed by letters, digits, `_`, `-` and further dots.
pub fn is_valid_context(context: &str) -> bool {
    context == DEFAULT_CONTEXT
        || (context.len() > 1
            && context.len() <= 256
            && context.starts_with('.')
            && context.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

/// The tenant whose context holds `subject`: `public` for the default context, `T` for `.T`;
/// `None` when the context is not a valid tenant name (no tenant owns it).
pub fn tenant_of_subject(subject: &str) -> Option<&str> {
    match context_of(subject) {
        None => Some(DEFAULT_TENANT),
        Some(ctx) => {
            let tenant = ctx.strip_prefix('.')?;
            validate_tenant(tenant).ok().map(|()| tenant)
        }
    }
}

/// The registry context of a tenant: `None` (the default context) for `public`, `.T` otherwise.
pub fn context_of_tenant(tenant: &str) -> Option<String> {
    (tenant != DEFAULT_TENANT).then(|| format!(".{tenant}"))
}

/// `name` qualified with `tenant`'s context: bare for `public`, `:.T:name` otherwise.
pub fn qualify_subject(tenant: &str, name: &str) -> String {
    qualify(context_of_tenant(tenant).as_deref(), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_are_parsed_confluents_way() {
        assert_eq!(context_of("users-value"), None);
        assert_eq!(context_of(":.acme:users-value"), Some(".acme"));
        assert_eq!(context_of(":.:users-value"), None);
        assert_eq!(split_subject(":.acme:users-value"), (Some(".acme"), "users-value"));
        assert_eq!(split_subject(":.:users-value"), (None, "users-value"));
        // Not qualified: left whole.
        assert_eq!(split_subject(":acme:x"), (None, ":acme:x"));
        assert_eq!(split_subject(":.acme"), (None, ":.acme"));
        assert_eq!(tenant_of_subject("x"), Some("public"));
        assert_eq!(tenant_of_subject(":.acme:x"), Some("acme"));
        assert_eq!(tenant_of_subject(":.a.b:x"), None);
        assert_eq!(qualify_subject("public", "x"), "x");
        assert_eq!(qualify_subject("acme", "x"), ":.acme:x");
        assert_eq!(context_of_tenant("acme").as_deref(), Some(".acme"));
        assert_eq!(context_of_tenant("public"), None);
    }

    #[test]
    fn qualified_subjects_split_into_context_and_name() {
        assert_eq!(split_subject("users-value"), (None, "users-value"));
        assert_eq!(split_subject(":.acme:users-value"), (Some(".acme"), "users-value"));
        assert_eq!(split_subject(":.:users-value"), (None, "users-value"));
        assert_eq!(split_subject(":acme:x"), (None, ":acme:x"));
        assert_eq!(context_name(":.acme:x"), ".acme");
        assert_eq!(context_name("x"), ".");
        assert_eq!(qualify(Some(".acme"), "x"), ":.acme:x");
        assert_eq!(qualify(Some("."), "x"), "x");
        assert_eq!(normalize_subject(":.:x"), "x");
        assert_eq!(normalize_subject(":.acme:x"), ":.acme:x");
        assert!(is_valid_context(".acme") && is_valid_context(".") && is_valid_context(".a.b"));
        assert!(!is_valid_context("acme") && !is_valid_context(".a/b") && !is_valid_context(""));
    }
}
