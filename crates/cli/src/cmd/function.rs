//! `runnel function create | list | status | delete`: the built-in functions
//! the server runs (`filter`, `route`, `project`), over the gRPC Functions
//! service. A create is checked by the server against the input's schema
//! (every problem is in the error); `status` shows what a function has
//! processed, dead-lettered and has left to read.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use runnel_client::{BuiltinFunction, FunctionInfo};
use serde_json::json;

use crate::cmd::count;
use crate::{Global, Output};

/// Which built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Records for which `--where` holds go to `--output`.
    Filter,
    /// Each record goes to the topic `--to` names from field `--by`.
    Route,
    /// Records read as `--schema` (a projection) go to `--output`.
    Project,
}

/// `runnel function ...`
#[derive(Debug, Subcommand)]
pub enum FunctionCommand {
    /// Creates a built-in function and starts it.
    Create {
        /// The function's name ([A-Za-z0-9._-]).
        name: String,
        /// Which built-in.
        #[arg(long)]
        builtin: Kind,
        /// The topic it reads.
        #[arg(long)]
        input: String,
        /// The topic it writes (filter, project); written `--output TOPIC`.
        #[arg(long = "output-topic", value_name = "TOPIC")]
        output_topic: Option<String>,
        /// The condition (filter): field paths, literals, == != < <= > >=, && || !, parentheses.
        #[arg(long = "where", value_name = "EXPR")]
        condition: Option<String>,
        /// The field whose value names the output topic (route).
        #[arg(long, value_name = "FIELD")]
        by: Option<String>,
        /// The output topic template, `{}` replaced by the field's value (route).
        #[arg(long, value_name = "TEMPLATE")]
        to: Option<String>,
        /// Where records whose field is null go (route).
        #[arg(long = "default", value_name = "TOPIC")]
        default_topic: Option<String>,
        /// The projection's schema (project).
        #[arg(long, value_name = "FILE.avsc")]
        schema: Option<PathBuf>,
    },
    /// Lists the functions.
    List,
    /// Shows a function's definition and status.
    Status {
        /// The function's name.
        name: String,
    },
    /// Stops and deletes a function.
    Delete {
        /// The function's name.
        name: String,
    },
}

fn required(value: Option<String>, flag: &str, kind: &str) -> anyhow::Result<String> {
    value.ok_or_else(|| anyhow::anyhow!("--builtin {kind} needs {flag}"))
}

/// Runs a function subcommand.
pub async fn run(global: &Global, command: FunctionCommand) -> anyhow::Result<()> {
    match command {
        FunctionCommand::Create {
            name,
            builtin,
            input,
            output_topic: output,
            condition,
            by,
            to,
            default_topic,
            schema,
        } => {
            let (unused, builtin): (Vec<&str>, BuiltinFunction) = match builtin {
                Kind::Filter => (
                    [
                        ("--by", by.is_some()),
                        ("--to", to.is_some()),
                        ("--default", default_topic.is_some()),
                        ("--schema", schema.is_some()),
                    ]
                    .iter()
                    .filter(|(_, set)| *set)
                    .map(|(f, _)| *f)
                    .collect(),
                    BuiltinFunction::Filter {
                        output: required(output, "--output", "filter")?,
                        condition: required(condition, "--where", "filter")?,
                    },
                ),
                Kind::Route => (
                    [
                        ("--output", output.is_some()),
                        ("--where", condition.is_some()),
                        ("--schema", schema.is_some()),
                    ]
                    .iter()
                    .filter(|(_, set)| *set)
                    .map(|(f, _)| *f)
                    .collect(),
                    BuiltinFunction::Route {
                        by: required(by, "--by", "route")?,
                        to: required(to, "--to", "route")?,
                        default_topic,
                    },
                ),
                Kind::Project => {
                    let path = schema.context("--builtin project needs --schema FILE.avsc")?;
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    (
                        [
                            ("--where", condition.is_some()),
                            ("--by", by.is_some()),
                            ("--to", to.is_some()),
                            ("--default", default_topic.is_some()),
                        ]
                        .iter()
                        .filter(|(_, set)| *set)
                        .map(|(f, _)| *f)
                        .collect(),
                        BuiltinFunction::Project {
                            output: required(output, "--output", "project")?,
                            schema: text,
                        },
                    )
                }
            };
            if !unused.is_empty() {
                bail!("--builtin {} does not take {}", kind_name(builtin_kind(&builtin)), unused.join(", "));
            }
            let client = global.connect().await?;
            let info = client.create_function(&name, &input, builtin).await?;
            print_one(global, "created function", &info);
        }
        FunctionCommand::List => {
            let client = global.connect().await?;
            let functions = client.list_functions().await?;
            match global.output {
                Output::Json => {
                    println!("{}", serde_json::Value::Array(functions.iter().map(function_json).collect()))
                }
                Output::Text => {
                    for f in &functions {
                        println!("{}\t{}\t{} -> {}\t{}", f.name, f.kind, f.input, f.definition, state(f));
                    }
                }
            }
        }
        FunctionCommand::Status { name } => {
            let client = global.connect().await?;
            let info = client.get_function(&name).await?;
            print_one(global, "function", &info);
        }
        FunctionCommand::Delete { name } => {
            let client = global.connect().await?;
            client.delete_function(&name).await?;
            match global.output {
                Output::Json => println!("{}", json!({"deleted": name})),
                Output::Text => println!("deleted function {name}"),
            }
        }
    }
    Ok(())
}

fn builtin_kind(b: &BuiltinFunction) -> Kind {
    match b {
        BuiltinFunction::Filter { .. } => Kind::Filter,
        BuiltinFunction::Route { .. } => Kind::Route,
        BuiltinFunction::Project { .. } => Kind::Project,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Filter => "filter",
        Kind::Route => "route",
        Kind::Project => "project",
    }
}

fn state(f: &FunctionInfo) -> String {
    let running = if f.instances > 0 { "running" } else { "stopped" };
    format!("{running}, {} processed, {} failed, lag {}", f.processed, f.failed, f.lag)
}

fn print_one(global: &Global, what: &str, f: &FunctionInfo) {
    match global.output {
        Output::Json => println!("{}", function_json(f)),
        Output::Text => {
            println!("{what} {}", f.name);
            println!("kind:       {}", f.kind);
            println!("input:      {}", f.input);
            println!("definition: {}", f.definition);
            println!("instances:  {}", f.instances);
            if f.kind == "rust" {
                println!("guarantee:  {}", f.guarantee);
                for i in &f.instance_list {
                    println!(
                        "  {}: partitions {:?}, {} processed, {} failed",
                        i.instance_id, i.partitions, i.processed, i.failed
                    );
                }
            }
            println!("processed:  {}", count(f.processed, "record"));
            println!("failed:     {} (dead-lettered to {}-dlq)", count(f.failed, "record"), f.name);
            println!("lag:        {}", count(f.lag.max(0) as u64, "record"));
            if !f.last_error.is_empty() {
                println!("last error: {}", f.last_error);
            }
        }
    }
}

/// The JSON of `status --output json`: {"name","kind","instances","processed","failed","lag","last_error"}, and more.
fn function_json(f: &FunctionInfo) -> serde_json::Value {
    json!({
        "name": f.name,
        "kind": f.kind,
        "input": f.input,
        "outputs": f.outputs,
        "definition": f.definition,
        "instances": f.instances,
        "processed": f.processed,
        "failed": f.failed,
        "lag": f.lag,
        "last_error": if f.last_error.is_empty() { serde_json::Value::Null } else { json!(f.last_error) },
        "created_ms": f.created_ms,
        "guarantee": f.guarantee,
        "instance_list": f.instance_list.iter().map(|i| json!({
            "instance_id": i.instance_id,
            "partitions": i.partitions,
            "processed": i.processed,
            "failed": i.failed,
            "last_report_ms": i.last_report_ms,
        })).collect::<Vec<_>>(),
    })
}
