//! `runnel schema ...`: the schema registry from the command line, over its REST
//! API at `--registry-url` (register, check, get, list, versions, delete, config),
//! (`runnel registry serve` runs the registry alone: see `registry.rs`).
//!
//! Text output is for people; `--output json` prints the registry's JSON.
//! `check` exits 1 when the schema is incompatible, after printing every reason;
//! `register` of an incompatible schema fails with every reason in the error.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::cmd::count;
use crate::{Global, Output};

/// The subcommands of `runnel schema`.
#[derive(Debug, clap::Subcommand)]
pub enum SchemaCommand {
    /// Registers FILE.avsc under SUBJECT; prints its id and version.
    Register {
        /// The subject, e.g. `users-value`.
        subject: String,
        /// The schema file (.avsc).
        file: PathBuf,
        /// A named type defined by another subject: `NAME=SUBJECT:VERSION` (repeatable).
        #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
        references: Vec<String>,
    },
    /// Checks FILE.avsc against SUBJECT's compatibility rule; exits 1 if incompatible.
    Check {
        /// The subject.
        subject: String,
        /// The schema file (.avsc).
        file: PathBuf,
        /// A named type defined by another subject: `NAME=SUBJECT:VERSION` (repeatable).
        #[arg(long = "reference", value_name = "NAME=SUBJECT:VERSION")]
        references: Vec<String>,
    },
    /// Prints a version's schema JSON.
    Get {
        /// The subject.
        subject: String,
        /// A version number or `latest`.
        #[arg(long, default_value = "latest")]
        version: String,
    },
    /// Lists the subjects.
    List,
    /// Lists a subject's versions.
    Versions {
        /// The subject.
        subject: String,
    },
    /// Deletes a subject, or one version of it (soft; `--permanent` after a soft delete).
    Delete {
        /// The subject.
        subject: String,
        /// Only this version (a number or `latest`).
        #[arg(long)]
        version: Option<String>,
        /// Remove for good (the subject or version must be soft-deleted first).
        #[arg(long)]
        permanent: bool,
    },
    /// Shows, or with `--level` sets, the compatibility level (of SUBJECT, or the global one).
    Config {
        /// The subject; the global level if omitted.
        subject: Option<String>,
        /// NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE.
        #[arg(long)]
        level: Option<String>,
    },
}

/// Runs one `runnel schema` subcommand.
pub async fn run(global: &Global, command: SchemaCommand) -> anyhow::Result<()> {
    let api = Api::new(&global.registry_url, global.registry_http()?);
    let json_out = global.output == Output::Json;
    match command {
        SchemaCommand::Register { subject, file, references } => {
            let body = schema_body(&file, &references)?;
            let path = format!("/subjects/{}/versions", seg(&subject));
            let reply = api.call(Method::POST, &path, Some(body)).await?;
            if json_out {
                print_json(&json!({"subject": subject, "id": reply["id"], "version": reply["version"]}));
            } else {
                println!("registered {subject} version {} with id {}", reply["version"], reply["id"]);
            }
        }
        SchemaCommand::Check { subject, file, references } => {
            let body = schema_body(&file, &references)?;
            let path = format!("/compatibility/subjects/{}/versions?verbose=true", seg(&subject));
            let reply = api.call(Method::POST, &path, Some(body)).await?;
            let compatible = reply["is_compatible"].as_bool().unwrap_or(false);
            let messages: Vec<String> = reply["messages"]
                .as_array()
                .map(|m| m.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect())
                .unwrap_or_default();
            if json_out {
                print_json(&json!({"subject": subject, "is_compatible": compatible, "messages": messages}));
            } else if compatible {
                println!("compatible with {subject}");
            } else {
                println!("incompatible with {subject}:");
                for m in &messages {
                    println!("  {m}");
                }
            }
            if !compatible {
                bail!(
                    "{} is not compatible with subject {subject} ({})",
                    file.display(),
                    count(messages.len() as u64, "problem")
                );
            }
        }
        SchemaCommand::Get { subject, version } => {
            let path = format!("/subjects/{}/versions/{}", seg(&subject), seg(&version));
            let reply = api.call(Method::GET, &path, None).await?;
            if json_out {
                print_json(&reply);
            } else {
                let text = reply["schema"].as_str().unwrap_or_default();
                // Pretty-print when it is JSON (always, for Avro), else as stored.
                match serde_json::from_str::<Value>(text) {
                    Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
                    Err(_) => println!("{text}"),
                }
            }
        }
        SchemaCommand::List => {
            let reply = api.call(Method::GET, "/subjects", None).await?;
            print_list(&reply, json_out);
        }
        SchemaCommand::Versions { subject } => {
            let reply = api.call(Method::GET, &format!("/subjects/{}/versions", seg(&subject)), None).await?;
            print_list(&reply, json_out);
        }
        SchemaCommand::Delete { subject, version, permanent } => {
            let mut path = match &version {
                Some(v) => format!("/subjects/{}/versions/{}", seg(&subject), seg(v)),
                None => format!("/subjects/{}", seg(&subject)),
            };
            if permanent {
                path.push_str("?permanent=true");
            }
            let reply = api.call(Method::DELETE, &path, None).await?;
            let versions = match reply {
                Value::Array(v) => v,
                single => vec![single],
            };
            if json_out {
                print_json(&json!({"subject": subject, "deleted": versions, "permanent": permanent}));
            } else {
                let list: Vec<String> = versions.iter().map(Value::to_string).collect();
                let how = if permanent { "permanently deleted" } else { "deleted" };
                let noun = if list.len() == 1 { "version" } else { "versions" };
                println!("{how} {subject} {noun} {}", list.join(", "));
            }
        }
        SchemaCommand::Config { subject, level } => {
            let path = match &subject {
                Some(s) => format!("/config/{}", seg(s)),
                None => "/config".to_owned(),
            };
            let shown = match level {
                Some(level) => {
                    let reply = api.call(Method::PUT, &path, Some(json!({"compatibility": level}))).await?;
                    reply["compatibility"].clone()
                }
                None => {
                    let reply = api.call(Method::GET, &format!("{path}?defaultToGlobal=true"), None).await?;
                    reply["compatibilityLevel"].clone()
                }
            };
            if json_out {
                print_json(&json!({"subject": subject, "compatibility": shown}));
            } else {
                println!("{}", shown.as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

/// A thin client of the registry's REST API that turns error bodies into errors.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// `http` carries the global token and TLS settings (`Global::registry_http`).
    fn new(base: &str, http: reqwest::Client) -> Api {
        Api { base: base.trim_end_matches('/').to_owned(), http }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.header("content-type", runnel_registry::CONTENT_TYPE).body(body.to_string());
        }
        let resp = req.send().await.with_context(|| format!("cannot reach the registry at {}", self.base))?;
        let status = resp.status();
        let text =
            resp.text().await.with_context(|| format!("cannot read the registry's answer from {url}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == StatusCode::OK {
            return Ok(value);
        }
        let message = value["message"].as_str().map_or_else(|| value.to_string(), str::to_owned);
        match value["error_code"].as_u64() {
            Some(code) => Err(anyhow!("{message} (registry error {code}, HTTP {})", status.as_u16())),
            None => Err(anyhow!("the registry answered HTTP {}: {message}", status.as_u16())),
        }
    }
}

/// Percent-encodes a path segment (subjects may hold any character but `/` in URLs).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The registration body for the schema in `file`, with its references.
fn schema_body(file: &PathBuf, references: &[String]) -> anyhow::Result<Value> {
    let schema = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut refs = Vec::with_capacity(references.len());
    for r in references {
        let parsed = r.split_once('=').and_then(|(name, target)| {
            let (subject, version) = target.rsplit_once(':')?;
            Some((name, subject, version.parse::<i32>().ok()?))
        });
        let (name, subject, version) =
            parsed.ok_or_else(|| anyhow!("invalid reference {r:?}: expected NAME=SUBJECT:VERSION"))?;
        refs.push(json!({"name": name, "subject": subject, "version": version}));
    }
    let mut body = json!({"schema": schema});
    if !refs.is_empty() {
        body["references"] = Value::Array(refs);
    }
    Ok(body)
}

fn print_json(value: &Value) {
    println!("{value}");
}

fn print_list(value: &Value, json_out: bool) {
    if json_out {
        print_json(value);
        return;
    }
    for item in value.as_array().into_iter().flatten() {
        match item.as_str() {
            Some(s) => println!("{s}"),
            None => println!("{item}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_percent_encoded_as_one_path_segment() {
        assert_eq!(seg("users-value"), "users-value");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("é"), "%C3%A9");
    }

    #[test]
    fn references_parse_as_name_subject_version_and_bad_ones_are_refused() {
        let dir = tempfile_dir();
        let file = dir.join("s.avsc");
        std::fs::write(&file, r#""string""#).unwrap();
        let body = schema_body(&file, &["ex.Address=addr-value:3".to_owned()]).unwrap();
        assert_eq!(
            body["references"],
            json!([{"name": "ex.Address", "subject": "addr-value", "version": 3}])
        );
        assert_eq!(body["schema"], json!(r#""string""#));
        assert!(schema_body(&file, &["no-version=addr".to_owned()]).is_err());
        assert!(schema_body(&dir.join("missing.avsc"), &[]).is_err());
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runnel-schema-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
