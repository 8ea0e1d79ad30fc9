//! `runnel compat`: the schema compatibility verdict of `runnel_avro::compat`
//! for one reader/writer pair, or for many at once (`--pairs`), offline.
//!
//! Prints one JSON object per pair:
//! `{"compatible": bool, "incompatibilities": ["path: message", ...]}`, and
//! exits 0 whatever the verdict (a verdict is a result, not a failure). It is
//! how the differential test against the official Apache Avro checker gets
//! Runnel's verdicts from the real binary.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use runnel_avro::{compat, Schema};
use serde_json::{json, Value};

/// Arguments of `runnel compat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The reader schema (.avsc).
    #[arg(long, requires = "writer", conflicts_with = "pairs")]
    pub reader: Option<PathBuf>,
    /// The writer schema (.avsc).
    #[arg(long, requires = "reader")]
    pub writer: Option<PathBuf>,
    /// A file of pairs, one JSON object `{"reader": SCHEMA, "writer": SCHEMA}`
    /// per line (`-` for stdin); prints one verdict per line, in order. A line
    /// whose schemas do not parse gets `{"error": "..."}`.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match (&args.pairs, &args.reader, &args.writer) {
        (Some(pairs), _, _) => {
            let input: Box<dyn BufRead> = if pairs.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                let file =
                    std::fs::File::open(pairs).with_context(|| format!("cannot open {}", pairs.display()))?;
                Box::new(std::io::BufReader::new(file))
            };
            for (n, line) in input.lines().enumerate() {
                let line = line.with_context(|| format!("cannot read line {}", n + 1))?;
                if line.trim().is_empty() {
                    continue;
                }
                let verdict = match pair_verdict(&line) {
                    Ok(v) => v,
                    Err(e) => json!({ "error": format!("{e:#}") }),
                };
                writeln!(out, "{verdict}")?;
            }
        }
        (None, Some(reader), Some(writer)) => {
            let reader = read_schema(reader)?;
            let writer = read_schema(writer)?;
            writeln!(out, "{}", verdict(&reader, &writer))?;
        }
        _ => anyhow::bail!("give --reader and --writer, or --pairs"),
    }
    out.flush()?;
    Ok(())
}

fn read_schema(path: &PathBuf) -> anyhow::Result<Schema> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Schema::parse_str(&text).with_context(|| format!("{}", path.display()))
}

fn pair_verdict(line: &str) -> anyhow::Result<Value> {
    let pair: Value = serde_json::from_str(line).context("the line is not JSON")?;
    let schema = |key: &str| -> anyhow::Result<Schema> {
        let v = pair.get(key).with_context(|| format!("the line has no \"{key}\""))?;
        Schema::parse_json(v).with_context(|| format!("{key} schema"))
    };
    Ok(verdict(&schema("reader")?, &schema("writer")?))
}

fn verdict(reader: &Schema, writer: &Schema) -> Value {
    let problems: Vec<String> = compat::check(reader, writer).iter().map(ToString::to_string).collect();
    json!({ "compatible": problems.is_empty(), "incompatibilities": problems })
}
