//! `runnel produce TOPIC`: Avro-JSON datums, one per line on stdin, encoded
//! with the subject's latest schema (or `--schema-id`), framed in the
//! Confluent wire format and sent in batches; prints a summary. On a failure
//! it prints only the error, with how many records were acknowledged. With
//! `--kafka` the records go to a Kafka cluster and the schemas come from the
//! registry at `--registry-url`.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt};
use runnel_client::{framing, ProducerOptions, RawProducer, RawRecord, RecordMetadata, SendFuture};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

use crate::cmd::connection::KafkaTarget;
use crate::cmd::count;
use crate::{Global, Output};

/// Records sent but not yet acknowledged, at most; beyond it the oldest is awaited.
const WINDOW: usize = 50_000;

/// `runnel produce` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    pub topic: String,
    /// Use this field of each datum as the record key (strings as their text, other values as JSON).
    #[arg(long, value_name = "NAME")]
    pub key_field: Option<String>,
    /// Encode with this registered schema id instead of the subject's latest version.
    #[arg(long, value_name = "N")]
    pub schema_id: Option<u32>,
    /// Send every record to this partition.
    #[arg(long)]
    pub partition: Option<u32>,
    #[command(flatten)]
    pub target: KafkaTarget,
}

#[derive(Default)]
struct PartitionSummary {
    count: u64,
    first: i64,
    last: i64,
}

/// Runs `runnel produce`.
pub async fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let client = global.connect_to(&args.target).await?;
    // Started first: an unknown topic is the first thing said.
    let producer = RawProducer::start(&client, &args.topic, ProducerOptions::default()).await?;
    if let Some(p) = args.partition.filter(|p| *p >= producer.partitions()) {
        bail!("`{}` has {} partitions, no partition {p}", args.topic, producer.partitions());
    }
    let (schema_id, schema) = match args.schema_id {
        Some(id) => (id, client.schema_by_id(id).await?),
        None => {
            let subject = client.value_subject_of(&args.topic).await?;
            let latest = client
                .latest_schema(&subject)
                .await
                .with_context(|| format!("no schema for subject `{subject}`; register one with `runnel schema register {subject} FILE.avsc`"))?;
            (latest.id, latest.schema)
        }
    };

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} records sent ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });

    let mut pending: FuturesOrdered<Labelled> = FuturesOrdered::new();
    let mut summary: BTreeMap<u32, PartitionSummary> = BTreeMap::new();
    let mut total = 0u64;
    // Read asynchronously: the runtime's workers keep sending while stdin waits.
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut failure: Option<anyhow::Error> = None;
    let mut line_no = 0usize;
    while let Some(line) = lines.next_line().await.context("cannot read stdin")? {
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = match encode_line(&line, schema_id, &schema, args.key_field.as_deref()) {
            Ok(mut r) => {
                r.partition = args.partition;
                r
            }
            Err(e) => {
                failure = Some(e.context(format!("line {line_no}")));
                break;
            }
        };
        pending.push_back(Labelled { line: line_no, fut: producer.send(record) });
        if pending.len() >= WINDOW {
            if let Some(done) = pending.next().await {
                if let Err(e) = record_result(done, &mut summary, &mut total, progress.as_ref()) {
                    failure = Some(e);
                    break;
                }
            }
        }
    }
    // Whatever was sent before a failure is still awaited, so the summary is true.
    while let Some(done) = pending.next().await {
        if let Err(e) = record_result(done, &mut summary, &mut total, progress.as_ref()) {
            failure.get_or_insert(e);
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    match failure {
        Some(e) if total == 0 => Err(e),
        Some(e) => Err(anyhow::anyhow!("{e:#} ({} acknowledged)", count(total, "record"))),
        None => {
            print_summary(global.output, &args.topic, schema_id, total, &summary);
            Ok(())
        }
    }
}

/// A send future with the input line it came from, for error messages.
struct Labelled {
    line: usize,
    fut: SendFuture,
}

impl std::future::Future for Labelled {
    type Output = (usize, Result<RecordMetadata, runnel_client::ClientError>);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let line = self.line;
        std::pin::Pin::new(&mut self.fut).poll(cx).map(|r| (line, r))
    }
}

fn record_result(
    (line, result): (usize, Result<RecordMetadata, runnel_client::ClientError>),
    summary: &mut BTreeMap<u32, PartitionSummary>,
    total: &mut u64,
    progress: Option<&indicatif::ProgressBar>,
) -> anyhow::Result<()> {
    let meta = result.with_context(|| format!("line {line}"))?;
    let s = summary.entry(meta.partition).or_insert(PartitionSummary {
        count: 0,
        first: meta.offset,
        last: meta.offset,
    });
    s.count += 1;
    s.first = s.first.min(meta.offset);
    s.last = s.last.max(meta.offset);
    *total += 1;
    if let Some(bar) = progress {
        bar.inc(1);
    }
    Ok(())
}

fn encode_line(
    line: &str,
    schema_id: u32,
    schema: &runnel_avro::Schema,
    key_field: Option<&str>,
) -> anyhow::Result<RawRecord> {
    let mut buf = Vec::with_capacity(line.len() + framing::HEADER_LEN);
    framing::write_header(&mut buf, schema_id);
    let datum = runnel_avro::json::str_to_binary(schema, line, &mut buf)?;
    let key = match key_field {
        None => None,
        Some(name) => match datum.get(name) {
            Some(v) => Some(Bytes::from(key_text(v))),
            None => bail!("the datum has no field `{name}` for the key"),
        },
    };
    Ok(RawRecord { key, value: Bytes::from(buf), ..RawRecord::default() })
}

/// A key from a field's Avro-JSON: strings as their text; a union's
/// `{"type": value}` as its value; anything else as its JSON text.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(map) if map.len() == 1 => match map.values().next() {
            Some(inner) => key_text(inner),
            None => v.to_string(),
        },
        other => other.to_string(),
    }
}

fn print_summary(
    output: Output,
    topic: &str,
    schema_id: u32,
    total: u64,
    summary: &BTreeMap<u32, PartitionSummary>,
) {
    match output {
        Output::Json => {
            let parts: Vec<Value> = summary
                .iter()
                .map(|(p, s)| json!({"partition": p, "count": s.count, "first_offset": s.first, "last_offset": s.last}))
                .collect();
            println!(
                "{}",
                json!({"topic": topic, "schema_id": schema_id, "count": total, "partitions": parts})
            );
        }
        Output::Text => {
            println!("produced {} to {topic} with schema id {schema_id}", count(total, "record"));
            for (p, s) in summary {
                println!("  partition {p}: {}, offsets {}..={}", count(s.count, "record"), s.first, s.last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_unwraps_strings_and_unions() {
        assert_eq!(key_text(&json!("ada")), "ada");
        assert_eq!(key_text(&json!({"string": "ada"})), "ada");
        assert_eq!(key_text(&json!(42)), "42");
        assert_eq!(key_text(&json!(null)), "null");
    }

    #[test]
    fn encode_line_frames_the_datum_with_the_schema_id() {
        let schema = runnel_avro::Schema::parse_str(
            r#"{"type":"record","name":"U","fields":[{"name":"name","type":"string"}]}"#,
        )
        .unwrap();
        let r = encode_line(r#"{"name":"ab"}"#, 7, &schema, Some("name")).unwrap();
        assert_eq!(&r.value[..], &[0, 0, 0, 0, 7, 4, b'a', b'b']);
        assert_eq!(r.key.as_deref(), Some(&b"ab"[..]));
        assert!(encode_line(r#"{"nom":"ab"}"#, 7, &schema, None).is_err());
        assert!(encode_line(r#"{"name":"ab"}"#, 7, &schema, Some("missing")).is_err());
    }
}
