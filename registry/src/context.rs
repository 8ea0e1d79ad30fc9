//! Confluent's schema contexts: a qualified subject `:.ctx:name` lives in context `.ctx`;
//! a bare subject (or `:.:name`) lives in the default context `.`.
//!
//! The registry stores a qualified subject under its qualified name, so two contexts'
//! `users-value` are two independent subjects (versions, configuration, mode), while
//! schema ids stay global (the same schema has one id in every context). What contexts
//! change is naming: the default context is spelled out, unqualified references are
//! resolved in their referrer's context, and the REST API lists contexts and accepts the
//! `/contexts/{ctx}/...` base path.

/// The default context's name.
pub const DEFAULT_CONTEXT: &str = ".";

/// Splits `:.ctx:name` into (`Some(".ctx")`, `name`); a bare subject or the explicit
/// default context `:.:name` gives (`None`, `name`).
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

/// The context a subject lives in: `.` for the default context, `.ctx` otherwise.
pub fn context_name(subject: &str) -> &str {
    split_subject(subject).0.unwrap_or(DEFAULT_CONTEXT)
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
    let (ctx, name) = split_subject(subject);
    match ctx {
        None => name.to_owned(),
        Some(_) => subject.to_owned(),
    }
}

/// Whether `context` is a context name the `/contexts/{ctx}/...` path accepts: `.`, or
/// `.` followed by letters, digits, `_`, `-` and further dots.
pub fn is_valid_context(context: &str) -> bool {
    context == DEFAULT_CONTEXT
        || (context.len() > 1
            && context.len() <= 256
            && context.starts_with('.')
            && context.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
}

#[cfg(test)]
mod tests {
    use super::*;

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
