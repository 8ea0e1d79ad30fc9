//! Schema pages: the subjects, one subject's versions (paged on the server, so a subject of
//! hundreds of versions is as quick as one of two), a version's text, its compatibility level
//! (shown and set), a semantic diff between any two versions beside their text diff, and a
//! check box that lists every incompatibility of a candidate schema with its path before
//! registering it.
//!
//! The diff's verdicts are the registry's compatibility checker's (`runnel_avro::compat`, which
//! `runnel schema check` uses), not rules of its own: each change is marked breaking when an
//! incompatibility the checker finds between the two versions, in a direction the subject's
//! level asks for, lies at or under that change's place in the schema.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{html, Markup};
use runnel_avro::Schema;
use runnel_registry::{Compatibility, VersionSelector};
use serde_json::Value;

use super::{
    fail, layout, notices, redirect_with, respond, url_encode, Console, CsrfForm, Failure, Nav, PageResult,
    Sess, Session,
};
use crate::auth::{Caller, Permission, Resource};

/// Versions per page of a subject.
const VERSIONS_PER_PAGE: usize = 50;

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new()
        .route("/ui/schemas", get(list))
        .route("/ui/schemas/subject", get(subject))
        .route("/ui/schemas/diff", get(diff))
        .route("/ui/schemas/check", post(check))
        .route("/ui/schemas/level", post(set_level))
}

fn may_read(session: &Session, subject: &str) -> Result<(), Failure> {
    Ok(Caller::check(session.caller(), Permission::SchemaRead, &Resource::Subject(subject))?)
}

async fn list(State(console): State<Arc<Console>>, Sess(session): Sess) -> Response {
    respond(list_page(&console, &session))
}

fn list_page(console: &Console, session: &Arc<Session>) -> PageResult {
    let registry = &console.broker().registry;
    let subjects: Vec<String> = registry
        .subjects()
        .map_err(|e| fail(session, e))?
        .into_iter()
        .filter(|s| Caller::sees(session.caller(), &Resource::Subject(s)))
        .collect();
    let body = html! {
        table #subjects {
            thead { tr { th { "Subject" } th.num { "Versions" } th.num { "Latest id" } th { "Compatibility" } } }
            tbody {
                @for s in &subjects {
                    @let versions = registry.versions(s, false).unwrap_or_default();
                    @let latest = registry.version(s, VersionSelector::Latest).ok();
                    tr data-subject=(s) {
                        td { a href=(format!("/ui/schemas/subject?name={}", url_encode(s))) { (s) } }
                        td.num { (versions.len()) }
                        td.num { (latest.map(|l| l.id.to_string()).unwrap_or_default()) }
                        td { (registry.compatibility(Some(s), true).map(|c| c.as_str()).unwrap_or("")) }
                    }
                }
                @if subjects.is_empty() { tr { td colspan="4" { "No subjects yet." } } }
            }
        }
    };
    Ok(layout(Some(session), Nav::Schemas, "Schemas", body).into_response())
}

/// Pretty JSON of a schema text (the text itself if it is not JSON).
fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| text.to_owned())
}

async fn subject(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(subject_page(&console, &session, &q))
}

fn subject_page(console: &Console, session: &Arc<Session>, q: &HashMap<String, String>) -> PageResult {
    let name = q.get("name").cloned().unwrap_or_default();
    may_read(session, &name).map_err(|f| fail(session, f))?;
    let registry = &console.broker().registry;
    let versions = registry.versions(&name, false).map_err(|e| fail(session, e))?;
    let shown = match q.get("v").and_then(|v| v.parse::<i32>().ok()) {
        Some(v) => registry.version(&name, VersionSelector::Number(v)),
        None => registry.version(&name, VersionSelector::Latest),
    }
    .map_err(|e| fail(session, e))?;
    let level = registry.compatibility(Some(&name), true).map_err(|e| fail(session, e))?;
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let newest_first: Vec<i32> = versions.iter().rev().copied().collect();
    let pages = newest_first.len().div_ceil(VERSIONS_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let slice =
        &newest_first[page * VERSIONS_PER_PAGE..((page + 1) * VERSIONS_PER_PAGE).min(newest_first.len())];
    let enc = url_encode(&name);
    let (a_default, b_default) =
        (versions.len().checked_sub(2).map(|i| versions[i]).unwrap_or(shown.version), shown.version);
    let body = html! {
        (notices(q.get("msg").map(String::as_str), q.get("error").map(String::as_str)))
        table.kv {
            tr { th { "Versions" } td #version-count { (versions.len()) } }
            tr { th { "Compatibility" } td {
                form #level method="post" action="/ui/schemas/level" {
                    (session.csrf_field())
                    input type="hidden" name="subject" value=(name);
                    select name="level" {
                        @for l in Compatibility::ALL { option value=(l.as_str()) selected[l == level] { (l.as_str()) } }
                    }
                    " " button type="submit" { "Set" }
                }
            } }
        }
        h2 { "Compare two versions" }
        form.card #compare method="get" action="/ui/schemas/diff" {
            input type="hidden" name="name" value=(name);
            label { "From version " input name="a" type="number" min="1" value=(a_default); }
            label { "To version " input name="b" type="number" min="1" value=(b_default); }
            button type="submit" { "Diff" }
        }
        div.diff {
            div {
                h2 { "Versions" }
                table #versions {
                    thead { tr { th.num { "Version" } th.num { "Id" } th {} } }
                    tbody {
                        @for v in slice {
                            tr data-version=(v) {
                                td.num { a href=(format!("/ui/schemas/subject?name={enc}&v={v}")) { "v" (v) } }
                                td.num { (registry.version(&name, VersionSelector::Number(*v)).map(|x| x.id.to_string()).unwrap_or_default()) }
                                td { @if *v > 1 { a href=(format!("/ui/schemas/diff?name={enc}&a={}&b={v}", v - 1)) { "diff with v" (v - 1) } } }
                            }
                        }
                    }
                }
                div.pager {
                    span #version-page { "page " (page + 1) " of " (pages) }
                    @if page > 0 { a.button href=(format!("/ui/schemas/subject?name={enc}&page={}", page - 1)) { "← Newer" } }
                    @if page + 1 < pages { a.button #older-versions href=(format!("/ui/schemas/subject?name={enc}&page={}", page + 1)) { "Older →" } }
                }
            }
            div {
                h2 #shown { "v" (shown.version) " (id " (shown.id) ")" }
                pre #schema-text { (pretty(&shown.schema)) }
            }
        }
        h2 { "Check a new version" }
        (check_form(session, &name, ""))
    };
    Ok(layout(Some(session), Nav::Schemas, &format!("Subject {name}"), body).into_response())
}

fn check_form(session: &Session, subject: &str, text: &str) -> Markup {
    html! {
        form.card.stack #check method="post" action="/ui/schemas/check" {
            (session.csrf_field())
            input type="hidden" name="subject" value=(subject);
            textarea name="schema" rows="12" placeholder="{\"type\": \"record\", ...}" { (text) }
            div {
                button type="submit" name="action" value="check" { "Check compatibility" } " "
                button type="submit" name="action" value="register" { "Check and register" }
            }
        }
    }
}

async fn check(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    let session = Arc::clone(&form.session);
    respond(check_page(&console, &form).map_err(|f| fail(&session, f)))
}

fn check_page(console: &Console, form: &CsrfForm) -> Result<Response, Failure> {
    let session = &form.session;
    let subject = form.text("subject").to_owned();
    let text = form.text("schema").to_owned();
    let register = form.text("action") == "register";
    may_read(session, &subject)?;
    let registry = &console.broker().registry;
    let level = registry.compatibility(Some(&subject), true)?;
    // The registry's own check: the versions the level names, each reason with its path.
    let (reasons, parse_error) = match registry.check(&subject, &text, VersionSelector::Latest) {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut registered = None;
    let mut register_error = None;
    if register && reasons.is_empty() && parse_error.is_none() {
        Caller::check(session.caller(), Permission::SchemaWrite, &Resource::Subject(&subject))?;
        match registry.register(&subject, &text) {
            Ok(v) => {
                tracing::info!(subject = %subject, version = v.version, "console: schema registered");
                registered = Some(v);
            }
            Err(e) => register_error = Some(e.to_string()),
        }
    }
    let status = if parse_error.is_some() || !reasons.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = html! {
        p { a href=(format!("/ui/schemas/subject?name={}", url_encode(&subject))) { "← " (subject) } }
        @if let Some(e) = &parse_error { p.error #check-error { (e) } }
        @else if reasons.is_empty() {
            p.notice #check-ok { "Compatible with " (subject) " under " (level.as_str()) "." }
        } @else {
            p.error #check-error { (reasons.len()) " incompatibilit" (if reasons.len() == 1 { "y" } else { "ies" }) " under " (level.as_str()) ":" }
            table #reasons {
                thead { tr { th { "Path" } th { "Reason" } } }
                tbody { @for r in &reasons {
                    @let (path, why) = split_reason(r);
                    tr { td { code { (path) } } td { (why) } }
                } }
            }
        }
        @if let Some(v) = &registered { p.notice #registered { "Registered as " (subject) " v" (v.version) " (id " (v.id) ")." } }
        @if let Some(e) = &register_error { p.error #register-error { (e) } }
        (check_form(session, &subject, &text))
    };
    Ok((status, layout(Some(session), Nav::Schemas, &format!("Check {subject}"), body)).into_response())
}

/// `"/fields/1: reader field ..."` (as the checker writes reasons) into the path and the reason.
fn split_reason(r: &str) -> (&str, &str) {
    match r.find(": ") {
        Some(i) if r.starts_with('/') || r.starts_with("version") => (&r[..i], &r[i + 2..]),
        _ => ("", r),
    }
}

async fn set_level(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    let subject = form.text("subject").to_owned();
    let back = format!("/ui/schemas/subject?name={}", url_encode(&subject));
    let result = (|| -> Result<Compatibility, Failure> {
        Caller::check(form.session.caller(), Permission::SchemaWrite, &Resource::Subject(&subject))?;
        let level: Compatibility = form
            .text("level")
            .parse()
            .map_err(|e: runnel_registry::RegistryError| Failure(StatusCode::BAD_REQUEST, e.to_string()))?;
        console.broker().registry.set_compatibility(Some(&subject), level)?;
        Ok(level)
    })();
    match result {
        Ok(level) => {
            redirect_with(&back, "msg", &format!("compatibility of {subject} set to {}", level.as_str()))
        }
        Err(Failure(_, m)) => redirect_with(&back, "error", &m),
    }
}

/// One semantic change between two versions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    /// A field path for people, e.g. `Order.customer.name`.
    pub what: String,
    pub kind: &'static str,
    pub detail: String,
    /// JSON pointers of the place in the old and the new schema.
    old_ptr: Option<String>,
    new_ptr: Option<String>,
}

/// The changes from `old` to `new`: record fields added, removed, retyped, renamed through
/// aliases, defaults changed; enum symbols added or removed; other type changes.
pub(crate) fn semantic_diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let name = match new.get("name").and_then(Value::as_str) {
        Some(n) => n.rsplit('.').next().unwrap_or(n).to_owned(),
        None => type_label(new),
    };
    walk(old, new, "", "", &name, &mut out, 0);
    out
}

fn type_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(type_label).collect::<Vec<_>>().join(" | "),
        Value::Object(o) => {
            match (o.get("type").and_then(Value::as_str), o.get("logicalType").and_then(Value::as_str)) {
                (_, Some(l)) => format!("{}({l})", o.get("type").and_then(Value::as_str).unwrap_or("")),
                (Some(t @ ("record" | "enum" | "fixed" | "error")), _) => {
                    format!("{t} {}", o.get("name").and_then(Value::as_str).unwrap_or(""))
                }
                (Some("array"), _) => {
                    format!("array<{}>", o.get("items").map(type_label).unwrap_or_default())
                }
                (Some("map"), _) => format!("map<{}>", o.get("values").map(type_label).unwrap_or_default()),
                (Some(t), _) => t.to_owned(),
                (None, _) => o.get("type").map(type_label).unwrap_or_default(),
            }
        }
        other => other.to_string(),
    }
}

fn walk(old: &Value, new: &Value, op: &str, np: &str, what: &str, out: &mut Vec<Change>, depth: usize) {
    if depth > 32 {
        return;
    }
    let kind =
        |v: &Value| v.as_object().and_then(|o| o.get("type")).and_then(Value::as_str).map(str::to_owned);
    match (old, new) {
        (Value::Object(o), Value::Object(n))
            if kind(old).as_deref() == Some("record") && kind(new).as_deref() == Some("record") =>
        {
            let empty = Vec::new();
            let of = o.get("fields").and_then(Value::as_array).unwrap_or(&empty);
            let nf = n.get("fields").and_then(Value::as_array).unwrap_or(&empty);
            let fname = |f: &Value| f.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
            let aliases = |f: &Value| -> Vec<String> {
                f.get("aliases")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default()
            };
            let mut matched_old = vec![false; of.len()];
            for (ni, f) in nf.iter().enumerate() {
                let n_name = fname(f);
                let nptr = format!("{np}/fields/{ni}");
                let path = format!("{what}.{n_name}");
                let by_name = of.iter().position(|g| fname(g) == n_name);
                let by_alias = by_name
                    .is_none()
                    .then(|| of.iter().position(|g| aliases(f).contains(&fname(g))))
                    .flatten();
                match by_name.or(by_alias) {
                    Some(oi) => {
                        matched_old[oi] = true;
                        let g = &of[oi];
                        let optr = format!("{op}/fields/{oi}");
                        if by_alias.is_some() {
                            out.push(Change {
                                what: path.clone(),
                                kind: "renamed",
                                detail: format!("{} → {n_name} (alias)", fname(g)),
                                old_ptr: Some(optr.clone()),
                                new_ptr: Some(nptr.clone()),
                            });
                        }
                        match (g.get("default"), f.get("default")) {
                            (a, b) if a == b => {}
                            (None, Some(b)) => out.push(Change {
                                what: path.clone(),
                                kind: "default added",
                                detail: b.to_string(),
                                old_ptr: Some(optr.clone()),
                                new_ptr: Some(nptr.clone()),
                            }),
                            (Some(a), None) => out.push(Change {
                                what: path.clone(),
                                kind: "default removed",
                                detail: format!("was {a}"),
                                old_ptr: Some(optr.clone()),
                                new_ptr: Some(nptr.clone()),
                            }),
                            (Some(a), Some(b)) => out.push(Change {
                                what: path.clone(),
                                kind: "default changed",
                                detail: format!("{a} → {b}"),
                                old_ptr: Some(optr.clone()),
                                new_ptr: Some(nptr.clone()),
                            }),
                            _ => {}
                        }
                        walk(
                            g.get("type").unwrap_or(&Value::Null),
                            f.get("type").unwrap_or(&Value::Null),
                            &format!("{optr}/type"),
                            &format!("{nptr}/type"),
                            &path,
                            out,
                            depth + 1,
                        );
                    }
                    None => out.push(Change {
                        what: path,
                        kind: "added",
                        detail: match f.get("default") {
                            Some(d) => format!(
                                "{} with default {d}",
                                type_label(f.get("type").unwrap_or(&Value::Null))
                            ),
                            None => format!(
                                "{} without a default",
                                type_label(f.get("type").unwrap_or(&Value::Null))
                            ),
                        },
                        old_ptr: None,
                        new_ptr: Some(nptr),
                    }),
                }
            }
            for (oi, g) in of.iter().enumerate() {
                if !matched_old[oi] {
                    out.push(Change {
                        what: format!("{what}.{}", fname(g)),
                        kind: "removed",
                        detail: match g.get("default") {
                            Some(d) => format!(
                                "{} (had default {d})",
                                type_label(g.get("type").unwrap_or(&Value::Null))
                            ),
                            None => format!(
                                "{} (had no default)",
                                type_label(g.get("type").unwrap_or(&Value::Null))
                            ),
                        },
                        old_ptr: Some(format!("{op}/fields/{oi}")),
                        new_ptr: None,
                    });
                }
            }
        }
        (Value::Object(o), Value::Object(n))
            if kind(old).as_deref() == Some("enum") && kind(new).as_deref() == Some("enum") =>
        {
            let syms = |x: &serde_json::Map<String, Value>| -> Vec<String> {
                x.get("symbols")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default()
            };
            let (a, b) = (syms(o), syms(n));
            let added: Vec<_> = b.iter().filter(|s| !a.contains(s)).cloned().collect();
            let removed: Vec<_> = a.iter().filter(|s| !b.contains(s)).cloned().collect();
            if !added.is_empty() {
                out.push(Change {
                    what: what.to_owned(),
                    kind: "symbols added",
                    detail: added.join(", "),
                    old_ptr: Some(op.to_owned()),
                    new_ptr: Some(np.to_owned()),
                });
            }
            if !removed.is_empty() {
                out.push(Change {
                    what: what.to_owned(),
                    kind: "symbols removed",
                    detail: removed.join(", "),
                    old_ptr: Some(op.to_owned()),
                    new_ptr: Some(np.to_owned()),
                });
            }
            if o.get("default") != n.get("default") {
                out.push(Change {
                    what: what.to_owned(),
                    kind: "default changed",
                    detail: format!(
                        "{} → {}",
                        o.get("default").unwrap_or(&Value::Null),
                        n.get("default").unwrap_or(&Value::Null)
                    ),
                    old_ptr: Some(op.to_owned()),
                    new_ptr: Some(np.to_owned()),
                });
            }
        }
        (Value::Object(o), Value::Object(n))
            if kind(old) == kind(new) && matches!(kind(old).as_deref(), Some("array" | "map")) =>
        {
            let key = if kind(old).as_deref() == Some("array") { "items" } else { "values" };
            walk(
                o.get(key).unwrap_or(&Value::Null),
                n.get(key).unwrap_or(&Value::Null),
                &format!("{op}/{key}"),
                &format!("{np}/{key}"),
                &format!("{what}[]"),
                out,
                depth + 1,
            );
        }
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len() && a.iter().zip(b).all(|(x, y)| type_label(x) == type_label(y)) =>
        {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(x, y, &format!("{op}/{i}"), &format!("{np}/{i}"), what, out, depth + 1);
            }
        }
        _ => {
            let (a, b) = (type_label(old), type_label(new));
            if a != b {
                out.push(Change {
                    what: what.to_owned(),
                    kind: "retyped",
                    detail: format!("{a} → {b}"),
                    old_ptr: Some(op.to_owned()),
                    new_ptr: Some(np.to_owned()),
                });
            } else if old != new && !old.is_object() {
                out.push(Change {
                    what: what.to_owned(),
                    kind: "changed",
                    detail: format!("{old} → {new}"),
                    old_ptr: Some(op.to_owned()),
                    new_ptr: Some(np.to_owned()),
                });
            }
        }
    }
}

/// Whether `ptr` is `at` or lies under it.
fn under(ptr: &str, at: &str) -> bool {
    ptr == at || (ptr.starts_with(at) && ptr[at.len()..].starts_with('/')) || at.is_empty()
}

/// The directions a level checks: (new reads old, old reads new).
fn directions(level: Compatibility) -> (bool, bool) {
    use Compatibility::*;
    match level {
        None => (false, false),
        Backward | BackwardTransitive => (true, false),
        Forward | ForwardTransitive => (false, true),
        Full | FullTransitive => (true, true),
    }
}

async fn diff(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(diff_page(&console, &session, &q))
}

fn diff_page(console: &Console, session: &Arc<Session>, q: &HashMap<String, String>) -> PageResult {
    let name = q.get("name").cloned().unwrap_or_default();
    may_read(session, &name).map_err(|f| fail(session, f))?;
    let registry = &console.broker().registry;
    let version = |k: &str| -> Result<_, (Option<Arc<Session>>, Failure)> {
        let n: i32 = q.get(k).and_then(|v| v.parse().ok()).ok_or_else(|| {
            fail(session, Failure(StatusCode::BAD_REQUEST, format!("{k} must be a version number")))
        })?;
        registry.version(&name, VersionSelector::Number(n)).map_err(|e| fail(session, e))
    };
    let (a, b) = (version("a")?, version("b")?);
    let level = registry.compatibility(Some(&name), true).map_err(|e| fail(session, e))?;
    let (backward, forward) = directions(level);
    let parse = |text: &str| {
        Schema::parse_str(text)
            .map_err(|e| fail(session, Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
    };
    let (sa, sb) = (parse(&a.schema)?, parse(&b.schema)?);
    // new reads old (backward) and old reads new (forward), each reason with its path.
    let reads_old = runnel_avro::compat::check(&sb, &sa);
    let reads_new = runnel_avro::compat::check(&sa, &sb);
    let ja: Value = serde_json::from_str(&a.schema).unwrap_or(Value::Null);
    let jb: Value = serde_json::from_str(&b.schema).unwrap_or(Value::Null);
    let changes = semantic_diff(&ja, &jb);
    let breaking = |c: &Change| -> Vec<String> {
        let mut why = Vec::new();
        if backward {
            if let Some(p) = &c.new_ptr {
                why.extend(
                    reads_old
                        .iter()
                        .filter(|i| under(&i.path, p))
                        .map(|i| format!("v{} cannot read v{}: {i}", b.version, a.version)),
                );
            }
        }
        if forward {
            if let Some(p) = &c.old_ptr {
                why.extend(
                    reads_new
                        .iter()
                        .filter(|i| under(&i.path, p))
                        .map(|i| format!("v{} cannot read v{}: {i}", a.version, b.version)),
                );
            }
        }
        why
    };
    let (ta, tb) = (pretty(&a.schema), pretty(&b.schema));
    let lines = text_diff(&ta, &tb);
    let enc = url_encode(&name);
    let body = html! {
        p { a href=(format!("/ui/schemas/subject?name={enc}")) { "← " (name) } " · v" (a.version) " → v" (b.version) " under " strong #level { (level.as_str()) } }
        h2 { "Changes" }
        table #changes {
            thead { tr { th { "Field" } th { "Change" } th { "Detail" } th { "Verdict" } } }
            tbody {
                @for c in &changes {
                    @let why = breaking(c);
                    tr.change {
                        td { code { (c.what) } } td.kind { (c.kind) } td { (c.detail) }
                        td { @if why.is_empty() { span.compatible { "compatible" } } @else { span.breaking { "breaking" } @for w in &why { br; span.hint { (w) } } } }
                    }
                }
                @if changes.is_empty() { tr { td colspan="4" { "No changes." } } }
            }
        }
        @let all: Vec<String> = reads_old.iter().map(|i| format!("v{} reading v{}: {i}", b.version, a.version)).chain(reads_new.iter().map(|i| format!("v{} reading v{}: {i}", a.version, b.version))).collect();
        @if !all.is_empty() {
            details { summary { "Every incompatibility the checker finds, both directions (" (all.len()) ")" } ul { @for x in &all { li { code { (x) } } } } }
        }
        h2 { "Text" }
        div.diff #text-diff {
            pre { @for (tag, l) in &lines { @if *tag != '+' { span class=[(*tag == '-').then_some("del")] { (l) "\n" } } } }
            pre { @for (tag, l) in &lines { @if *tag != '-' { span class=[(*tag == '+').then_some("add")] { (l) "\n" } } } }
        }
    };
    Ok(layout(Some(session), Nav::Schemas, &format!("{name}: v{} → v{}", a.version, b.version), body)
        .into_response())
}

/// A line diff (longest common subsequence): `' '` kept, `'-'` only in `a`, `'+'` only in `b`.
fn text_diff<'a>(a: &'a str, b: &'a str) -> Vec<(char, &'a str)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    if a.len() * b.len() > 4_000_000 {
        return a.iter().map(|l| ('-', *l)).chain(b.iter().map(|l| ('+', *l))).collect();
    }
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(('-', a[i]));
            i += 1;
        } else {
            out.push(('+', b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| ('-', *l)));
    out.extend(b[j..].iter().map(|l| ('+', *l)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_finds_each_kind_of_change() {
        let old = json!({"type": "record", "name": "U", "fields": [
            {"name": "id", "type": "int"},
            {"name": "mail", "type": "string"},
            {"name": "age", "type": "int", "default": 0},
            {"name": "gone", "type": "string"},
        ]});
        let new = json!({"type": "record", "name": "U", "fields": [
            {"name": "id", "type": "long"},
            {"name": "email", "type": "string", "aliases": ["mail"]},
            {"name": "age", "type": "int", "default": 18},
            {"name": "extra", "type": "string"},
        ]});
        let kinds: Vec<(String, &str)> =
            semantic_diff(&old, &new).into_iter().map(|c| (c.what, c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("U.id".to_owned(), "retyped"),
                ("U.email".to_owned(), "renamed"),
                ("U.age".to_owned(), "default changed"),
                ("U.extra".to_owned(), "added"),
                ("U.gone".to_owned(), "removed"),
            ]
        );
    }

    #[test]
    fn line_diff() {
        let d = text_diff("a\nb\nc", "a\nc\nd");
        assert_eq!(d, vec![(' ', "a"), ('-', "b"), (' ', "c"), ('+', "d")]);
    }
}
