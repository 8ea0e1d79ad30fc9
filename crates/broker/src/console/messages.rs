//! The message browser of a topic (`/ui/messages`): one partition at a time, newest first or
//! forward from an offset or a time, each record decoded to Avro-JSON under the schema that
//! wrote it (the id in its Confluent framing) and labelled with that schema's subject version;
//! filtered by key and by a field condition (the functions' language, `runnel_avro::expr`);
//! downloaded as JSON lines
//! (`/ui/messages.jsonl`). Paging is done here on the server: a page reads only the batches
//! around its offsets (the log's offset index finds them), so a topic of millions of records
//! pages as fast as a small one; a filtered page scans at most [`MAX_SCAN`] records and links
//! to where it stopped.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use runnel_avro::expr::{BoundPredicate, Predicate};
use runnel_avro::Schema;
use runnel_proto::batch;
use serde_json::{json, Value};

use super::{fail, layout, respond, url_encode, Console, Failure, Nav, PageResult, Sess, Session};
use crate::auth::{Caller, Permission, Resource};
use crate::log::PartitionLog;
use crate::topics::Topic;

/// Records on a page unless asked otherwise, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// Records a download holds at most.
const MAX_DOWNLOAD: usize = 100_000;
/// Records a filtered page reads at most before it stops and links on.
const MAX_SCAN: i64 = 20_000;
/// Bytes per log read.
const READ_BYTES: usize = 1 << 20;

pub(crate) fn routes() -> axum::Router<Arc<Console>> {
    axum::Router::new().route("/ui/messages", get(page)).route("/ui/messages.jsonl", get(download))
}

/// One decoded record.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub offset: i64,
    pub timestamp_ms: i64,
    /// The key as text (decoded Avro-JSON, UTF-8, or hex), `None` for a null key.
    pub key: Option<String>,
    /// The value as Avro-JSON, or why it could not be decoded.
    pub value: Result<Value, String>,
    pub schema_id: Option<u32>,
    /// `subject vN` of the schema id in the topic's value subject.
    pub version: Option<i32>,
}

impl Decoded {
    fn to_json(&self, partition: u32) -> Value {
        json!({
            "partition": partition,
            "offset": self.offset,
            "timestamp": self.timestamp_ms,
            "schema_id": self.schema_id,
            "version": self.version,
            "key": self.key,
            "value": match &self.value { Ok(v) => v.clone(), Err(e) => json!({ "undecodable": e }) },
        })
    }
}

/// What the browser asked for.
#[derive(Debug, Clone)]
struct Ask {
    topic: String,
    partition: u32,
    /// `newest` (backwards from `before` or the end), `offset` or `time` (forwards).
    mode: String,
    offset: Option<i64>,
    before: Option<i64>,
    time: String,
    key: String,
    filter: String,
    limit: usize,
    /// A notice carried by a redirect (after a produce).
    msg: Option<String>,
}

impl Ask {
    fn parse(q: &HashMap<String, String>, max: usize) -> Ask {
        let get = |k: &str| q.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
        Ask {
            topic: get("topic"),
            partition: get("partition").parse().unwrap_or(0),
            mode: match get("mode").as_str() {
                "offset" => "offset".into(),
                "time" => "time".into(),
                _ => "newest".into(),
            },
            offset: get("offset").parse().ok(),
            before: get("before").parse().ok(),
            time: get("time"),
            key: get("key"),
            filter: get("filter"),
            limit: get("limit").parse().unwrap_or(DEFAULT_LIMIT).clamp(1, max),
            msg: q.get("msg").cloned(),
        }
    }

    /// The query string of this ask with `mode`/`offset`/`before` replaced.
    fn link(&self, path: &str, mode: &str, offset: Option<i64>, before: Option<i64>) -> String {
        let mut s = format!(
            "{path}?topic={}&partition={}&mode={mode}&limit={}",
            url_encode(&self.topic),
            self.partition,
            self.limit
        );
        for (k, v) in [("key", &self.key), ("filter", &self.filter), ("time", &self.time)] {
            if !v.is_empty() {
                s.push_str(&format!("&{k}={}", url_encode(v)));
            }
        }
        if let Some(o) = offset {
            s.push_str(&format!("&offset={o}"));
        }
        if let Some(b) = before {
            s.push_str(&format!("&before={b}"));
        }
        s
    }
}

/// A page of records and where the next page starts.
struct Page {
    records: Vec<Decoded>,
    /// Newest-first: the offset below which the older page starts (None: at the start).
    older: Option<i64>,
    /// Forward: the offset the next page starts at (None: at the end).
    next: Option<i64>,
    log_start: i64,
    high_watermark: i64,
    /// Records read (filtered pages read more than they show).
    scanned: i64,
}

/// A writer schema and its version in the topic's value subject.
type WriterSchema = (Arc<Schema>, Option<i32>);

/// The parsed filters and start time of an ask, or why they do not parse.
type Parsed = Result<(Filter, Option<i64>), String>;

/// Decodes record values and keys with the registry, caching each schema id's schema.
struct Decoder<'a> {
    console: &'a Console,
    value_subject: String,
    key_subject: Option<String>,
    schemas: HashMap<u32, Option<WriterSchema>>,
}

impl<'a> Decoder<'a> {
    fn new(console: &'a Console, topic: &Topic) -> Decoder<'a> {
        Decoder {
            console,
            value_subject: topic.meta.config.value_subject.clone(),
            key_subject: topic.meta.config.key_subject.clone(),
            schemas: HashMap::new(),
        }
    }

    fn schema(&mut self, id: u32, subject: &str) -> Option<(Arc<Schema>, Option<i32>)> {
        let registry = &self.console.broker().registry;
        self.schemas
            .entry(id)
            .or_insert_with(|| {
                let schema = registry.schema_by_id(id).ok()?;
                Some((schema, registry.version_of_id(subject, id).ok().flatten()))
            })
            .clone()
    }

    /// Decodes a framed datum: (schema id, version, Avro-JSON or why not).
    fn framed(&mut self, bytes: &[u8], subject: &str) -> Option<(u32, Option<i32>, Result<Value, String>)> {
        if bytes.len() < 5 || bytes[0] != 0 {
            return None;
        }
        let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Some(match self.schema(id, subject) {
            Some((schema, version)) => {
                (id, version, runnel_avro::json::from_binary(&schema, &bytes[5..]).map_err(|e| e.to_string()))
            }
            None => (id, None, Err(format!("schema id {id} is not in the registry"))),
        })
    }

    fn record(&mut self, r: &batch::RecordView<'_>) -> Decoded {
        let key = r.key.map(|k| {
            let subject = self.key_subject.clone();
            match subject.and_then(|s| self.framed(k, &s)) {
                Some((_, _, Ok(v))) => v.to_string(),
                _ => match std::str::from_utf8(k) {
                    Ok(s) => s.to_owned(),
                    Err(_) => hex(k),
                },
            }
        });
        let subject = self.value_subject.clone();
        let (schema_id, version, value) = match r.value {
            None => (None, None, Ok(Value::Null)),
            Some(v) => match self.framed(v, &subject) {
                Some((id, version, value)) => (Some(id), version, value),
                None => (
                    None,
                    None,
                    Err(format!("not Confluent-framed ({} bytes: {})", v.len(), hex(&v[..v.len().min(32)]))),
                ),
            },
        };
        Decoded { offset: r.offset, timestamp_ms: r.timestamp_ms, key, value, schema_id, version }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads the records of `[from, to)`, calling `each` on each until it returns false.
/// Blocking. Control batches are left out; a compressed batch shows as one undecodable entry.
fn read_range(
    log: &PartitionLog,
    from: i64,
    to: i64,
    mut each: impl FnMut(Result<batch::RecordView<'_>, (i64, String)>) -> bool,
) -> Result<(), Failure> {
    let mut offset = from;
    while offset < to {
        let read = log.read(offset, READ_BYTES)?;
        if read.batches.is_empty() {
            return Ok(());
        }
        for b in batch::batches(&read.batches) {
            let b = b.map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            if b.is_control() {
                continue;
            }
            if b.compression() != 0 {
                if b.last_offset() >= offset && b.base_offset() < to {
                    let msg = format!("compressed batch (codec {}), not decoded here", b.compression());
                    if !each(Err((b.base_offset().max(offset), msg))) {
                        return Ok(());
                    }
                }
                continue;
            }
            for r in b.records() {
                let r = r.map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
                if r.offset < offset {
                    continue;
                }
                if r.offset >= to {
                    return Ok(());
                }
                if !each(Ok(r)) {
                    return Ok(());
                }
            }
        }
        if read.next_offset <= offset {
            return Ok(());
        }
        offset = read.next_offset;
    }
    Ok(())
}

/// A filter: the key contains `key`, and `condition` holds of the value. The condition is
/// the language of the functions' `filter` (`runnel_avro::expr`): checked against the value
/// subject's latest schema when the page is asked for, bound once per writer schema id met,
/// and evaluated on the binary datum (only records that match are decoded).
struct Filter {
    key: String,
    condition: Option<Predicate>,
    /// Writer schema id → the condition bound to it (`None`: it names a field that schema
    /// cannot supply, so none of its records match).
    bound: HashMap<u32, Option<BoundPredicate>>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.key.is_empty() && self.condition.is_none()
    }

    /// Whether the condition holds of a stored value (Confluent-framed Avro).
    fn value_matches(&mut self, registry: &runnel_registry::Registry, value: Option<&[u8]>) -> bool {
        let Some(condition) = &self.condition else { return true };
        let Some(v) = value.filter(|v| v.len() >= 5 && v[0] == 0) else { return false };
        let id = u32::from_be_bytes([v[1], v[2], v[3], v[4]]);
        let bound = self
            .bound
            .entry(id)
            .or_insert_with(|| registry.schema_by_id(id).ok().and_then(|w| condition.bind(&w).ok()));
        bound.as_ref().is_some_and(|b| b.matches(&v[5..]).unwrap_or(false))
    }

    fn key_matches(&self, d: &Decoded) -> bool {
        self.key.is_empty() || d.key.as_deref().is_some_and(|k| k.contains(&self.key))
    }
}

/// The field condition `text`, checked against the latest schema of `subject`.
fn condition(console: &Console, subject: &str, text: &str) -> Result<Predicate, String> {
    let registry = &console.broker().registry;
    let latest = registry
        .version(subject, runnel_registry::VersionSelector::Latest)
        .map_err(|_| format!("the topic's subject `{subject}` has no schema to filter by"))?;
    let schema = registry.schema_by_id(latest.id).map_err(|e| e.to_string())?;
    Predicate::new(&schema, text).map_err(|e| e.to_string())
}

fn read_page(
    console: &Console,
    topic: &Topic,
    ask: &Ask,
    filter: &mut Filter,
    start_ms: Option<i64>,
) -> Result<Page, Failure> {
    let log = topic.partition(ask.partition)?;
    let stats = log.stats();
    let (ls, hw) = (stats.log_start_offset, stats.high_watermark);
    let mut decoder = Decoder::new(console, topic);
    let mut records = Vec::new();
    let mut scanned = 0i64;
    let registry = &console.broker().registry;
    let unfiltered = filter.is_empty();
    let mut push = |r: Result<batch::RecordView<'_>, (i64, String)>, out: &mut Vec<Decoded>| {
        scanned += 1;
        let d = match r {
            Ok(r) if !filter.value_matches(registry, r.value) => return,
            Ok(r) => decoder.record(&r),
            Err((offset, why)) => Decoded {
                offset,
                timestamp_ms: 0,
                key: None,
                value: Err(why),
                schema_id: None,
                version: None,
            },
        };
        if filter.key_matches(&d) && (filter.condition.is_none() || d.value.is_ok()) {
            out.push(d);
        }
    };
    if ask.mode == "newest" {
        // Backwards in chunks from `before` (or the end) until the page is full.
        let mut end = ask.before.unwrap_or(hw).clamp(ls, hw);
        let chunk = if unfiltered { ask.limit as i64 } else { (ask.limit as i64 * 8).max(1000) };
        let mut read = 0i64;
        while end > ls && records.len() < ask.limit && read < MAX_SCAN.max(ask.limit as i64) {
            let start = (end - chunk).max(ls);
            let mut got = Vec::new();
            read_range(log, start, end, |r| {
                push(r, &mut got);
                true
            })?;
            read += end - start;
            got.reverse();
            records.extend(got);
            end = start;
        }
        // Over-full chunks: keep the newest `limit`, and page on from the oldest kept.
        let older = if records.len() > ask.limit {
            records.truncate(ask.limit);
            records.last().map(|d| d.offset)
        } else {
            (end > ls).then_some(end)
        };
        return Ok(Page { records, older, next: None, log_start: ls, high_watermark: hw, scanned });
    }
    let from = match (ask.mode.as_str(), start_ms) {
        ("time", Some(ms)) => log.offset_for_timestamp(ms)?,
        _ => ask.offset.unwrap_or(ls),
    }
    .clamp(ls, hw);
    let mut at = from;
    let limit = ask.limit;
    let to = (from + MAX_SCAN.max(limit as i64)).min(hw);
    read_range(log, from, to, |r| {
        at = match &r {
            Ok(r) => r.offset + 1,
            Err((o, _)) => o + 1,
        };
        push(r, &mut records);
        records.len() < limit
    })?;
    if records.len() < limit {
        at = to;
    }
    Ok(Page {
        records,
        older: None,
        next: (at < hw).then_some(at),
        log_start: ls,
        high_watermark: hw,
        scanned,
    })
}

/// `YYYY-MM-DDTHH:MM[:SS]` (a datetime-local input, read as UTC) or ms since the epoch.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || format!("{s:?} is not a time: use YYYY-MM-DDTHH:MM (UTC) or ms since the epoch");
    let (date, time) = s.split_once(['T', ' ']).ok_or_else(bad)?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
    let t: Vec<f64> = time
        .trim_end_matches('Z')
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3 || t.len() < 2 || !(1..=12).contains(&d[1]) || !(1..=31).contains(&d[2]) {
        return Err(bad());
    }
    let days = super::days_from_civil(d[0], d[1] as u32, d[2] as u32);
    let secs = t[0] * 3600.0 + t[1] * 60.0 + t.get(2).copied().unwrap_or(0.0);
    Ok(days * 86_400_000 + (secs * 1000.0) as i64)
}

/// Checks the session may read the topic and parses the filters.
fn prepare(console: &Console, session: &Session, ask: &Ask) -> Result<(Arc<Topic>, Parsed), Failure> {
    let topic = super::topics::visible_topic(console, session, &ask.topic)?;
    Caller::check(session.caller(), Permission::Consume, &Resource::Topic(&topic.name))?;
    let parsed = (|| -> Result<(Filter, Option<i64>), String> {
        let condition = if ask.filter.is_empty() {
            None
        } else {
            Some(condition(console, &topic.meta.config.value_subject, &ask.filter)?)
        };
        let start = if ask.mode == "time" { Some(parse_time(&ask.time)?) } else { None };
        Ok((Filter { key: ask.key.clone(), condition, bound: HashMap::new() }, start))
    })();
    Ok((topic, parsed))
}

async fn page(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ask = Ask::parse(&q, MAX_LIMIT);
    let console2 = Arc::clone(&console);
    let session2 = Arc::clone(&session);
    let result = tokio::task::spawn_blocking(move || render(&console2, &session2, &ask))
        .await
        .unwrap_or_else(|e| Err(fail(&session, Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))));
    respond(result)
}

fn render(console: &Console, session: &Arc<Session>, ask: &Ask) -> PageResult {
    let started = std::time::Instant::now();
    let (topic, parsed) = prepare(console, session, ask).map_err(|f| fail(session, f))?;
    let (page, form_error) = match parsed {
        Ok((mut filter, start)) => {
            (Some(read_page(console, &topic, ask, &mut filter, start).map_err(|f| fail(session, f))?), None)
        }
        Err(e) => (None, Some(e)),
    };
    let took = started.elapsed();
    let subject = &topic.meta.config.value_subject;
    let body = html! {
        (super::notices(ask.msg.as_deref(), None))
        form.card #browse method="get" action="/ui/messages" {
            input type="hidden" name="topic" value=(ask.topic);
            label { "Partition " select name="partition" {
                @for p in 0..topic.partitions.len() as u32 { option value=(p) selected[p == ask.partition] { (p) } }
            } }
            label { "Start " select name="mode" {
                option value="newest" selected[ask.mode == "newest"] { "newest first" }
                option value="offset" selected[ask.mode == "offset"] { "from offset" }
                option value="time" selected[ask.mode == "time"] { "from time (UTC)" }
            } }
            label { "Offset " input name="offset" type="number" min="0" value=[ask.offset]; }
            label { "Time " input name="time" placeholder="2026-12-04T15:00" value=(ask.time); }
            label { "Key contains " input name="key" value=(ask.key); }
            label { "Field filter " input name="filter" placeholder="amount > 10" value=(ask.filter) size="24"; }
            label { "Per page " input name="limit" type="number" min="1" max=(MAX_LIMIT) value=(ask.limit); }
            button type="submit" { "Show" }
        }
        @if let Some(e) = &form_error { p.error id="filter-error" { (e) } }
        @if let Some(page) = &page {
            div.pager {
                span #range { "Partition " (ask.partition) ": offsets " (page.log_start) "…" (page.high_watermark) "; " (page.records.len()) " shown, " (page.scanned) " read in " (format!("{:.1}", took.as_secs_f64() * 1000.0)) " ms" }
                @if ask.mode == "newest" {
                    a.button href=(ask.link("/ui/messages", "newest", None, None)) { "Newest" }
                    @if let Some(o) = page.older { a.button #older href=(ask.link("/ui/messages", "newest", None, Some(o))) { "Older →" } }
                } @else if let Some(n) = page.next {
                    a.button #next href=(ask.link("/ui/messages", "offset", Some(n), None)) { "Next →" }
                }
                a.button #download href=(ask.link("/ui/messages.jsonl", &ask.mode, ask.offset, ask.before)) { "Download JSON lines" }
            }
            table #messages {
                thead { tr { th.num { "Offset" } th { "Timestamp (UTC)" } th { "Key" } th { "Schema" } th { "Value" } } }
                tbody {
                    @for d in &page.records {
                        tr data-offset=(d.offset) {
                            td.num { (d.offset) }
                            td { (super::format_ms(d.timestamp_ms)) }
                            td.key { @if let Some(k) = &d.key { code { (k) } } @else { span.hint { "null" } } }
                            td.schema {
                                @match (d.schema_id, d.version) {
                                    (Some(id), Some(v)) => { a href=(format!("/ui/schemas/subject?name={}&v={v}", url_encode(subject))) { (subject) " v" (v) } br; span.hint { "id " (id) } }
                                    (Some(id), None) => { "id " (id) }
                                    _ => { span.hint { "—" } }
                                }
                            }
                            td.value { @match &d.value {
                                Ok(v) => { pre.json { (serde_json::to_string_pretty(v).unwrap_or_default()) } }
                                Err(e) => { span.error { (e) } }
                            } }
                        }
                    }
                    @if page.records.is_empty() { tr { td colspan="5" { "No records here." } } }
                }
            }
        }
    };
    Ok(layout(Some(session), Nav::Topics, &format!("Messages of {}", topic.meta.name), body).into_response())
}

async fn download(
    State(console): State<Arc<Console>>,
    Sess(session): Sess,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut ask = Ask::parse(&q, MAX_DOWNLOAD);
    if !q.contains_key("limit") {
        ask.limit = MAX_LIMIT;
    }
    let s2 = Arc::clone(&session);
    let result = tokio::task::spawn_blocking(move || -> PageResult {
        let (topic, parsed) = prepare(&console, &s2, &ask).map_err(|f| fail(&s2, f))?;
        let (mut filter, start) = parsed.map_err(|e| fail(&s2, Failure(StatusCode::BAD_REQUEST, e)))?;
        let page = read_page(&console, &topic, &ask, &mut filter, start).map_err(|f| fail(&s2, f))?;
        let mut out = String::new();
        for d in &page.records {
            out.push_str(&d.to_json(ask.partition).to_string());
            out.push('\n');
        }
        let file = format!("{}-p{}.jsonl", topic.meta.name.replace('/', "_"), ask.partition);
        Ok((
            [
                (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
            ],
            out,
        )
            .into_response())
    })
    .await
    .unwrap_or_else(|e| Err(fail(&session, Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))));
    respond(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-02T00:00").unwrap(), 86_400_000);
        assert_eq!(parse_time("12345").unwrap(), 12345);
        assert!(parse_time("yesterday").is_err());
    }
}
