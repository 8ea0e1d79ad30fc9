//! The produce form (`/ui/produce`): an HTML form generated from the topic's latest value
//! schema (typed inputs, enum dropdowns, union branch pickers, dates, timestamps and decimals
//! as such, defaults filled in), whose post is turned into Avro-JSON, encoded with the Avro
//! core's Avro-JSON encoder (the one `runnel produce` uses: its errors name the field's path,
//! shown beside that field), framed with the schema's id and appended through the broker's
//! produce path, which checks it as it checks every producer's records.
//!
//! Inputs are named by the JSON path of their value (`/customer/name`); a union's branch
//! picker is `PATH#` and a branch's inputs are under `PATH|BRANCH`. Without JavaScript every
//! branch's inputs show and only the picked one is read.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{html, Markup};
use runnel_proto::BatchBuilder;
use runnel_registry::VersionSelector;
use serde_json::{Map, Number, Value};

use super::{
    fail, layout, redirect_with, respond, url_encode, Console, CsrfForm, Failure, Nav, PageResult, Sess,
    Session,
};
use crate::auth::{Caller, Permission, Resource};
use crate::topics::Topic;

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/ui/produce", get(page).post(produce))
}

const PRIMITIVES: [&str; 8] = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// Named types by full name, for references.
type Names = HashMap<String, Value>;

fn full_name(name: &str, ns: &str) -> String {
    if name.contains('.') || ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

fn namespace_of(o: &Map<String, Value>, ns: &str) -> String {
    match (o.get("name").and_then(Value::as_str), o.get("namespace").and_then(Value::as_str)) {
        (Some(n), _) if n.contains('.') => n.rsplit_once('.').map(|(a, _)| a.to_owned()).unwrap_or_default(),
        (_, Some(explicit)) => explicit.to_owned(),
        _ => ns.to_owned(),
    }
}

/// Collects the named types of `schema`.
fn collect_names(schema: &Value, ns: &str, names: &mut Names) {
    match schema {
        Value::Array(items) => items.iter().for_each(|s| collect_names(s, ns, names)),
        Value::Object(o) => {
            let inner = namespace_of(o, ns);
            if let (Some(t), Some(n)) =
                (o.get("type").and_then(Value::as_str), o.get("name").and_then(Value::as_str))
            {
                if matches!(t, "record" | "error" | "enum" | "fixed") {
                    names.insert(full_name(n, ns), schema.clone());
                }
            }
            if let Some(fields) = o.get("fields").and_then(Value::as_array) {
                for f in fields {
                    if let Some(t) = f.get("type") {
                        collect_names(t, &inner, names);
                    }
                }
            }
            for k in ["items", "values"] {
                if let Some(t) = o.get(k) {
                    collect_names(t, &inner, names);
                }
            }
            if let Some(t @ (Value::Object(_) | Value::Array(_))) = o.get("type") {
                collect_names(t, ns, names);
            }
        }
        _ => {}
    }
}

/// A schema node seen through references: (the node, the namespace inside it).
fn resolve<'a>(schema: &'a Value, ns: &str, names: &'a Names) -> (&'a Value, String) {
    match schema {
        Value::String(s) if !PRIMITIVES.contains(&s.as_str()) => {
            let key = if names.contains_key(s) { s.clone() } else { full_name(s, ns) };
            match names.get(&key) {
                Some(v) => (v, key.rsplit_once('.').map(|(a, _)| a.to_owned()).unwrap_or_default()),
                None => (schema, ns.to_owned()),
            }
        }
        Value::Object(o) if o.get("type").is_some_and(|t| !t.is_string()) => resolve(&o["type"], ns, names),
        _ => (schema, ns.to_owned()),
    }
}

/// The Avro-JSON union branch name of a member type.
fn branch_name(schema: &Value, ns: &str) -> String {
    match schema {
        Value::String(s) if PRIMITIVES.contains(&s.as_str()) => s.clone(),
        Value::String(s) => full_name(s, ns),
        Value::Object(o) => {
            let t = o.get("type").and_then(Value::as_str).unwrap_or("");
            match (t, o.get("name").and_then(Value::as_str)) {
                ("record" | "error" | "enum" | "fixed", Some(n)) => full_name(n, ns),
                _ => t.to_owned(),
            }
        }
        _ => String::new(),
    }
}

fn logical(schema: &Value) -> Option<(&str, &str)> {
    let o = schema.as_object()?;
    Some((o.get("type")?.as_str()?, o.get("logicalType")?.as_str()?))
}

fn type_str(schema: &Value) -> &str {
    match schema {
        Value::String(s) => s,
        Value::Object(o) => o.get("type").and_then(Value::as_str).unwrap_or(""),
        Value::Array(_) => "union",
        _ => "",
    }
}

/// The form values a default gives (`path` → text), for the first rendering.
fn defaults(
    schema: &Value,
    ns: &str,
    names: &Names,
    path: &str,
    default: Option<&Value>,
    out: &mut HashMap<String, String>,
) {
    let (schema, ns) = resolve(schema, ns, names);
    match schema {
        Value::Array(branches) => {
            // A union's default is of its first branch.
            let Some(first) = branches.first() else { return };
            let b = branch_name(first, &ns);
            match default {
                Some(d) => {
                    out.insert(format!("{path}#"), b.clone());
                    if !d.is_null() {
                        defaults(first, &ns, names, &format!("{path}|{b}"), Some(d), out);
                    }
                }
                None => {
                    out.insert(format!("{path}#"), b.clone());
                }
            }
        }
        Value::Object(o) if matches!(type_str(schema), "record" | "error") => {
            let inner = namespace_of(o, &ns);
            for f in o.get("fields").and_then(Value::as_array).into_iter().flatten() {
                let name = f.get("name").and_then(Value::as_str).unwrap_or("");
                let d = default.and_then(|d| d.get(name)).or(f.get("default"));
                defaults(
                    f.get("type").unwrap_or(&Value::Null),
                    &inner,
                    names,
                    &format!("{path}/{name}"),
                    d,
                    out,
                );
            }
        }
        _ => {
            let Some(d) = default else {
                if matches!(type_str(schema), "array") {
                    out.insert(path.to_owned(), "[]".into());
                } else if matches!(type_str(schema), "map") {
                    out.insert(path.to_owned(), "{}".into());
                }
                return;
            };
            let text = match (logical(schema), d) {
                (Some((_, "date")), Value::Number(n)) => n.as_i64().map(date_text).unwrap_or_default(),
                (Some((_, "timestamp-millis" | "local-timestamp-millis")), Value::Number(n)) => {
                    n.as_i64().map(|ms| ts_text(ms, 1)).unwrap_or_default()
                }
                (Some((_, "timestamp-micros" | "local-timestamp-micros")), Value::Number(n)) => {
                    n.as_i64().map(|us| ts_text(us, 1000)).unwrap_or_default()
                }
                (_, Value::String(s)) => s.clone(),
                (_, Value::Array(_) | Value::Object(_)) => d.to_string(),
                (_, other) => other.to_string(),
            };
            out.insert(path.to_owned(), text);
        }
    }
}

fn date_text(days: i64) -> String {
    let (y, m, d) = super::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn ts_text(v: i64, per_ms: i64) -> String {
    let s = super::format_ms(v.div_euclid(per_ms));
    format!("{}T{}", &s[..10], &s[11..])
}

/// The inputs of `schema` at `path`, prefilled from `values`, errors beside their fields.
#[allow(clippy::too_many_arguments)]
fn inputs(
    schema: &Value,
    ns: &str,
    names: &Names,
    path: &str,
    label: &str,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    depth: usize,
) -> Markup {
    let (schema, ns) = resolve(schema, ns, names);
    let value = values.get(path).map(String::as_str).unwrap_or("");
    let error = errors.get(path);
    let id = format!("in{}", path.replace(['/', '|', '.', '#'], "_"));
    let field = |control: Markup, hint: &str| {
        html! {
            div.field data-path=(path) {
                label for=(id) { (label) " " span.hint { (hint) } }
                (control)
                @if let Some(e) = error { div.field-error data-error-for=(path) { (e) } }
            }
        }
    };
    if depth > 16 {
        return field(html! { textarea id=(id) name=(path) rows="3" { (value) } }, "Avro-JSON");
    }
    match schema {
        Value::Array(branches) => {
            let picker = format!("{path}#");
            let chosen = values
                .get(&picker)
                .cloned()
                .unwrap_or_else(|| branches.first().map(|b| branch_name(b, &ns)).unwrap_or_default());
            html! {
                fieldset.union data-path=(path) {
                    legend { (label) " " span.hint { "one of" } }
                    select name=(picker) data-union="" id=(id) {
                        @for b in branches { @let n = branch_name(b, &ns); option value=(n) selected[n == chosen] { (n) } }
                    }
                    @if let Some(e) = error { div.field-error data-error-for=(path) { (e) } }
                    @for b in branches {
                        @let n = branch_name(b, &ns);
                        @if n != "null" {
                            div data-branch-of=(picker) data-branch=(n) {
                                (inputs(b, &ns, names, &format!("{path}|{n}"), &n, values, errors, depth + 1))
                            }
                        }
                    }
                }
            }
        }
        Value::Object(o) if matches!(type_str(schema), "record" | "error") => {
            let inner = namespace_of(o, &ns);
            html! {
                fieldset.record data-path=(path) {
                    legend { (label) " " span.hint { "record " (o.get("name").and_then(Value::as_str).unwrap_or("")) } }
                    @if let Some(e) = error { div.field-error data-error-for=(path) { (e) } }
                    @for f in o.get("fields").and_then(Value::as_array).into_iter().flatten() {
                        @let name = f.get("name").and_then(Value::as_str).unwrap_or("");
                        (inputs(f.get("type").unwrap_or(&Value::Null), &inner, names, &format!("{path}/{name}"), name, values, errors, depth + 1))
                    }
                }
            }
        }
        _ => match (type_str(schema), logical(schema)) {
            ("null", _) => html! {},
            (_, Some(("int", "date"))) => {
                field(html! { input id=(id) type="date" name=(path) value=(value); }, "date")
            }
            (
                _,
                Some((
                    "long",
                    l @ ("timestamp-millis"
                    | "local-timestamp-millis"
                    | "timestamp-micros"
                    | "local-timestamp-micros"),
                )),
            ) => field(
                html! { input id=(id) type="datetime-local" step="0.001" name=(path) value=(value); },
                l,
            ),
            (_, Some((_, "decimal"))) => {
                let o = schema.as_object().expect("logical types are objects");
                let hint = format!(
                    "decimal({}, {})",
                    o.get("precision").and_then(Value::as_u64).unwrap_or(0),
                    o.get("scale").and_then(Value::as_u64).unwrap_or(0)
                );
                field(
                    html! { input id=(id) name=(path) inputmode="decimal" pattern="-?[0-9]+(\\.[0-9]+)?" value=(value); },
                    &hint,
                )
            }
            (_, Some(("string", "uuid"))) => field(
                html! { input id=(id) name=(path) value=(value) placeholder="xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" size="38"; },
                "uuid",
            ),
            ("boolean", _) => field(
                html! { select id=(id) name=(path) { option value="false" selected[value != "true"] { "false" } option value="true" selected[value == "true"] { "true" } } },
                "boolean",
            ),
            (t @ ("int" | "long"), _) => {
                field(html! { input id=(id) name=(path) inputmode="numeric" value=(value); }, t)
            }
            (t @ ("float" | "double"), _) => {
                field(html! { input id=(id) name=(path) inputmode="decimal" value=(value); }, t)
            }
            ("enum", _) => {
                let symbols: Vec<&str> = schema
                    .get("symbols")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                field(
                    html! { select id=(id) name=(path) { @for s in &symbols { option value=(s) selected[*s == value] { (s) } } } },
                    "enum",
                )
            }
            (t @ ("array" | "map"), _) => field(
                html! { textarea id=(id) name=(path) rows="3" cols="50" { (value) } },
                &format!("{t} as Avro-JSON"),
            ),
            (t @ ("string" | "bytes" | "fixed"), _) => {
                field(html! { input id=(id) name=(path) value=(value) size="40"; }, t)
            }
            (t, _) => field(html! { textarea id=(id) name=(path) rows="3" { (value) } }, t),
        },
    }
}

/// The Avro-JSON value the posted fields give for `schema` at `path`. A text that is not of
/// the input's type is passed on as a string, so that the encoder names the field it fails at.
fn build(
    schema: &Value,
    ns: &str,
    names: &Names,
    path: &str,
    form: &HashMap<String, String>,
    errors: &mut HashMap<String, String>,
    depth: usize,
) -> Value {
    let (schema, ns) = resolve(schema, ns, names);
    let text = form.get(path).map(|s| s.trim()).unwrap_or("");
    if depth > 16 {
        return serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()));
    }
    match schema {
        Value::Array(branches) => {
            let picked = form.get(&format!("{path}#")).cloned().unwrap_or_default();
            let Some(b) = branches.iter().find(|b| branch_name(b, &ns) == picked) else {
                errors.insert(path.to_owned(), format!("pick one of the union's branches, not {picked:?}"));
                return Value::Null;
            };
            if picked == "null" {
                return Value::Null;
            }
            let inner = build(b, &ns, names, &format!("{path}|{picked}"), form, errors, depth + 1);
            let mut m = Map::new();
            m.insert(picked, inner);
            Value::Object(m)
        }
        Value::Object(o) if matches!(type_str(schema), "record" | "error") => {
            let inner = namespace_of(o, &ns);
            let mut m = Map::new();
            for f in o.get("fields").and_then(Value::as_array).into_iter().flatten() {
                let name = f.get("name").and_then(Value::as_str).unwrap_or("");
                m.insert(
                    name.to_owned(),
                    build(
                        f.get("type").unwrap_or(&Value::Null),
                        &inner,
                        names,
                        &format!("{path}/{name}"),
                        form,
                        errors,
                        depth + 1,
                    ),
                );
            }
            Value::Object(m)
        }
        _ => {
            let mut bad = |why: String| {
                errors.insert(path.to_owned(), why);
                Value::String(text.to_owned())
            };
            match (type_str(schema), logical(schema)) {
                ("null", _) => Value::Null,
                (_, Some(("int", "date"))) => match parse_date(text) {
                    Some(days) => Value::from(days),
                    None => bad(format!("{text:?} is not a date (YYYY-MM-DD)")),
                },
                (_, Some(("long", l))) if l.contains("timestamp") => match parse_datetime(text) {
                    Some(ms) if l.ends_with("micros") => Value::from(ms * 1000),
                    Some(ms) => Value::from(ms),
                    None => bad(format!("{text:?} is not a date and time (YYYY-MM-DDTHH:MM[:SS.mmm])")),
                },
                (_, Some((_, "decimal"))) => {
                    let scale = schema.get("scale").and_then(Value::as_u64).unwrap_or(0) as usize;
                    match decimal_bytes(text, scale) {
                        Ok(bytes) => Value::String(bytes.iter().map(|&b| b as char).collect()),
                        Err(why) => bad(why),
                    }
                }
                ("boolean", _) => Value::Bool(text == "true"),
                ("int" | "long", _) => {
                    text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(text.to_owned()))
                }
                ("float" | "double", _) => text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(text.to_owned())),
                ("array" | "map", _) => match serde_json::from_str(text) {
                    Ok(v) => v,
                    Err(e) => bad(format!("not JSON: {e}")),
                },
                _ => Value::String(text.to_owned()),
            }
        }
    }
}

fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then(|| super::days_from_civil(y, m, d))
}

fn parse_datetime(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(['T', ' '])?;
    let days = parse_date(date)?;
    let mut parts = time.trim_end_matches('Z').split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let min: i64 = parts.next()?.parse().ok()?;
    let sec: f64 = parts.next().map(|s| s.parse().ok()).unwrap_or(Some(0.0))?;
    if h > 23 || min > 59 || !(0.0..60.0).contains(&sec) {
        return None;
    }
    Some(days * 86_400_000 + h * 3_600_000 + min * 60_000 + (sec * 1000.0).round() as i64)
}

/// A decimal's unscaled value at `scale` as big-endian two's complement bytes.
fn decimal_bytes(text: &str, scale: usize) -> Result<Vec<u8>, String> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return Err(format!("{text:?} is not a decimal number"));
    }
    if frac.len() > scale {
        return Err(format!("{text:?} has {} digits after the point; the scale is {scale}", frac.len()));
    }
    let unscaled: String = format!("{int}{frac:0<scale$}");
    let v: i128 = unscaled.parse().map_err(|_| format!("{text:?} is too large"))?;
    let v = if neg { -v } else { v };
    let bytes = v.to_be_bytes();
    // The shortest two's complement form.
    let mut start = 0;
    while start < 15
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    Ok(bytes[start..].to_vec())
}

/// The topic and its value subject's latest schema (id, JSON) the form is made from.
fn form_schema(
    console: &Console,
    session: &Session,
    topic_name: &str,
) -> Result<(Arc<Topic>, u32, i32, Value), Failure> {
    let topic = super::topics::visible_topic(console, session, topic_name)?;
    Caller::check(session.caller(), Permission::Produce, &Resource::Topic(&topic.name))?;
    let latest =
        console.broker().registry.version(&topic.meta.config.value_subject, VersionSelector::Latest)?;
    let json: Value = serde_json::from_str(&latest.schema)
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((topic, latest.id, latest.version, json))
}

async fn page(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond((|| -> PageResult {
        let name = q.get("topic").cloned().unwrap_or_default();
        let (topic, id, version, schema) =
            form_schema(&console, &session, &name).map_err(|f| fail(&session, f))?;
        let mut names = Names::new();
        collect_names(&schema, "", &mut names);
        let mut values = HashMap::new();
        defaults(&schema, "", &names, "", None, &mut values);
        Ok(render(
            &session,
            &topic,
            id,
            version,
            &schema,
            &names,
            &values,
            &HashMap::new(),
            None,
            StatusCode::OK,
        ))
    })())
}

#[allow(clippy::too_many_arguments)]
fn render(
    session: &Session,
    topic: &Topic,
    id: u32,
    version: i32,
    schema: &Value,
    names: &Names,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
    general: Option<&str>,
    status: StatusCode,
) -> Response {
    let subject = &topic.meta.config.value_subject;
    let body = html! {
        p { "Encoded with " a href=(format!("/ui/schemas/subject?name={}&v={version}", url_encode(subject))) { (subject) " v" (version) } " (id " (id) "), checked by the broker as every producer's records are." }
        @if let Some(g) = general { p.error #error { (g) } }
        @if !errors.is_empty() {
            ul.error #field-errors { @for (path, e) in errors { li { code { (if path.is_empty() { "/" } else { path }) } ": " (e) } } }
        }
        form.card.stack #produce method="post" action="/ui/produce" {
            (session.csrf_field())
            input type="hidden" name="topic" value=(topic.meta.name);
            div.field {
                label for="key" { "Key " span.hint { "text; empty: no key" } }
                input #key name="key" value=(values.get("key").map(String::as_str).unwrap_or(""));
            }
            div.field {
                label for="partition" { "Partition" }
                select #partition name="partition" {
                    @for p in 0..topic.partitions.len() { option value=(p) selected[values.get("partition").is_some_and(|v| *v == p.to_string())] { (p) } }
                }
            }
            (inputs(schema, "", names, "", "value", values, errors, 0))
            div { button type="submit" { "Produce" } }
        }
    };
    (status, layout(Some(session), Nav::Topics, &format!("Produce to {}", topic.meta.name), body))
        .into_response()
}

async fn produce(State(console): State<Arc<Console>>, form: CsrfForm) -> Response {
    let session = Arc::clone(&form.session);
    let values: HashMap<String, String> = form.fields.iter().filter(|(k, _)| k != "csrf").cloned().collect();
    let name = values.get("topic").cloned().unwrap_or_default();
    let (topic, id, version, schema) = match form_schema(&console, &session, &name) {
        Ok(x) => x,
        Err(f) => return respond(Err(fail(&session, f))),
    };
    let mut names = Names::new();
    collect_names(&schema, "", &mut names);
    let mut errors = HashMap::new();
    let value = build(&schema, "", &names, "", &values, &mut errors, 0);
    let again = |errors: &HashMap<String, String>, general: Option<&str>| {
        render(
            &session,
            &topic,
            id,
            version,
            &schema,
            &names,
            &values,
            errors,
            general,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    if !errors.is_empty() {
        return again(&errors, None);
    }
    let parsed = match console.broker().registry.schema_by_id(id) {
        Ok(s) => s,
        Err(e) => return respond(Err(fail(&session, e))),
    };
    let mut framed = vec![0u8];
    framed.extend_from_slice(&id.to_be_bytes());
    if let Err(e) = runnel_avro::json::to_binary(&parsed, &value, &mut framed) {
        // The encoder's path is the value's (`/customer/name`); a union's branch shows as
        // `/branch NAME`, which the form names `|NAME`.
        let path = to_form_path(&e.path(), &value);
        errors.insert(path, e.message().to_owned());
        return again(&errors, None);
    }
    let partition: u32 = values.get("partition").and_then(|p| p.parse().ok()).unwrap_or(0);
    let key = values.get("key").map(String::as_str).unwrap_or("");
    let mut batch = BatchBuilder::new();
    batch.push(
        (!key.is_empty()).then_some(key.as_bytes()),
        Some(&framed),
        crate::meta::records::now_ms(),
        &[],
    );
    match console.broker().append.produce(&topic.meta.name, partition, batch.finish(-1, -1, -1)).await {
        Ok(appended) => {
            tracing::info!(topic = %topic.meta.name, partition, offset = appended.base_offset, "console: record produced");
            redirect_with(
                &format!("/ui/messages?topic={}&partition={partition}", url_encode(&topic.meta.name)),
                "msg",
                &format!("produced to partition {partition} at offset {}", appended.base_offset),
            )
        }
        Err(e) => {
            let f: Failure = e.into();
            again(&errors, Some(&format!("the broker refused the record: {}", f.1)))
        }
    }
}

/// The encoder's error path (`/note/branch string/…`, `/` for the datum) as the form's input
/// names (`/note|string/…`, empty for the datum).
fn to_form_path(path: &str, _value: &Value) -> String {
    if path == "/" {
        return String::new();
    }
    let mut out = String::new();
    for seg in path.split('/').skip(1) {
        match seg.strip_prefix("branch ") {
            Some(b) => {
                out.push('|');
                out.push_str(b);
            }
            None => {
                out.push('/');
                out.push_str(seg);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_dates_and_times() {
        assert_eq!(decimal_bytes("12.34", 2).unwrap(), vec![0x04, 0xd2]);
        assert_eq!(decimal_bytes("-1", 0).unwrap(), vec![0xff]);
        assert_eq!(decimal_bytes("128", 0).unwrap(), vec![0x00, 0x80]);
        assert!(decimal_bytes("1.234", 2).is_err());
        assert!(decimal_bytes("abc", 2).is_err());
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_datetime("1970-01-01T00:00:01.5"), Some(1500));
        assert_eq!(date_text(1), "1970-01-02");
    }

    #[test]
    fn form_round_trip() {
        let schema = json!({"type": "record", "name": "R", "namespace": "n", "fields": [
            {"name": "a", "type": "int", "default": 3},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}, "default": "Y"},
            {"name": "u", "type": ["null", "E"], "default": null},
        ]});
        let mut names = Names::new();
        collect_names(&schema, "", &mut names);
        assert!(names.contains_key("n.E"));
        let mut values = HashMap::new();
        defaults(&schema, "", &names, "", None, &mut values);
        assert_eq!(values["/a"], "3");
        assert_eq!(values["/e"], "Y");
        assert_eq!(values["/u#"], "null");
        values.insert("/u#".into(), "n.E".into());
        values.insert("/u|n.E".into(), "X".into());
        let mut errors = HashMap::new();
        let v = build(&schema, "", &names, "", &values, &mut errors, 0);
        assert!(errors.is_empty());
        assert_eq!(v, json!({"a": 3, "e": "Y", "u": {"n.E": "X"}}));
        assert_eq!(to_form_path("/u/branch n.E", &v), "/u|n.E");
    }
}
