//! `runnel avro`: offline Avro tools over stdin/stdout, with no server.
//!
//! - `encode`: one Avro-JSON datum per line in (NaN and the infinities bare or quoted), the
//!   lowercase hex of its binary encoding per line out;
//! - `decode`: hex per line in, the Avro-JSON datum per line out (compact JSON; NaN and the
//!   infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`);
//! - `fingerprint`: the schema's Parsing Canonical Form and its CRC-64-AVRO and SHA-256
//!   fingerprints, as one JSON object.
//!
//! Blank lines are skipped. The first bad line stops the command with a one-line
//! error naming the line number and the reason (the exit code is then non-zero).

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use runnel_avro::{json, Schema};

/// The `runnel avro` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AvroCommand {
    /// Avro-JSON datums (one per line) on stdin → hex of their binary encoding, one per line.
    Encode(SchemaArgs),
    /// Hex of binary datums (one per line) on stdin → Avro-JSON datums, one per line.
    Decode(SchemaArgs),
    /// Prints the schema's Parsing Canonical Form and its CRC-64-AVRO and SHA-256 fingerprints as JSON.
    Fingerprint(SchemaArgs),
}

/// Which schema to use.
#[derive(Debug, Clone, clap::Args)]
pub struct SchemaArgs {
    /// The schema file (.avsc).
    #[arg(long)]
    pub schema: PathBuf,
    /// A schema file defining named types the schema refers to (repeatable).
    #[arg(long = "reference")]
    pub references: Vec<PathBuf>,
}

/// Runs one `runnel avro` subcommand over the process's stdin and stdout.
pub fn run(command: AvroCommand) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match command {
        AvroCommand::Encode(args) => encode(&load(&args)?, stdin.lock(), &mut out)?,
        AvroCommand::Decode(args) => decode(&load(&args)?, stdin.lock(), &mut out)?,
        AvroCommand::Fingerprint(args) => fingerprint(&load(&args)?, &mut out)?,
    }
    out.flush().context("cannot write to stdout")?;
    Ok(())
}

fn read_schema_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Loads the schema (and the schemas it references).
fn load(args: &SchemaArgs) -> anyhow::Result<Schema> {
    let text = read_schema_file(&args.schema)?;
    let references = args
        .references
        .iter()
        .map(|p| Schema::parse_str(&read_schema_file(p)?).with_context(|| format!("in {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Schema::parse_with_references(&text, &references).with_context(|| format!("in {}", args.schema.display()))
}

/// Calls `each` with every non-blank line and its 1-based number; its error is
/// prefixed with the line number.
fn for_each_line(
    input: impl BufRead,
    mut each: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("line {n}: cannot read stdin"))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        each(line).map_err(|e| anyhow!("line {n}: {e:#}"))?;
    }
    Ok(())
}

/// Avro-JSON lines → hex lines.
pub fn encode(schema: &Schema, input: impl BufRead, out: &mut impl Write) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    for_each_line(input, |line| {
        buf.clear();
        json::str_to_binary(schema, line, &mut buf)?;
        writeln!(out, "{}", hex::encode(&buf)).context("cannot write to stdout")
    })
}

/// Hex lines → Avro-JSON lines.
pub fn decode(schema: &Schema, input: impl BufRead, out: &mut impl Write) -> anyhow::Result<()> {
    for_each_line(input, |line| {
        let bytes = hex::decode(line).context("not hexadecimal")?;
        let value = json::from_binary(schema, &bytes)?;
        serde_json::to_writer(&mut *out, &value).context("cannot write to stdout")?;
        out.write_all(b"\n").context("cannot write to stdout")
    })
}

/// The canonical form and fingerprints as one JSON object.
pub fn fingerprint(schema: &Schema, out: &mut impl Write) -> anyhow::Result<()> {
    let report = serde_json::json!({
        "canonical_form": schema.canonical_str(),
        "crc64": format!("{:016x}", schema.fingerprint_crc64()),
        // The same 64 bits as the single-object encoding writes them (and fastavro prints them).
        "crc64_le": hex::encode(schema.fingerprint_crc64().to_le_bytes()),
        "sha256": hex::encode(schema.fingerprint_sha256()),
    });
    writeln!(out, "{report}").context("cannot write to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#).unwrap()
    }

    #[test]
    fn encodes_and_decodes_lines_skipping_blank_ones() {
        let mut hexes = Vec::new();
        encode(&schema(), &b"{\"a\": 1}\n\n  \n{\"a\": -1}\n"[..], &mut hexes).unwrap();
        assert_eq!(String::from_utf8(hexes.clone()).unwrap(), "02\n01\n");
        let mut json_out = Vec::new();
        decode(&schema(), &hexes[..], &mut json_out).unwrap();
        assert_eq!(String::from_utf8(json_out).unwrap(), "{\"a\":1}\n{\"a\":-1}\n");
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let err = encode(&schema(), &b"{\"a\": 1}\n\n{\"a\": \"x\"}\n"[..], &mut Vec::new()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.starts_with("line 3: at /a: expected an int"), "{msg}");
        let err = decode(&schema(), &b"0202\n"[..], &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").starts_with("line 1: at / (byte 1): 1 trailing bytes"), "{err:#}");
        let err = decode(&schema(), &b"zz\n"[..], &mut Vec::new()).unwrap_err();
        assert!(format!("{err:#}").starts_with("line 1: not hexadecimal"), "{err:#}");
    }
}
