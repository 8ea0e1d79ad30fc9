//! `runnel`: the command-line interface. A thin layer: each subcommand parses
//! its arguments with clap and calls the library crates (or the server's APIs).
//! Exit code 0 on success; otherwise a one-line error on stderr and a non-zero code.

use clap::{Parser, Subcommand, ValueEnum};

mod cmd;

/// Runnel: typed, schema-first streaming.
#[derive(Debug, Parser)]
#[command(name = "runnel", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The broker's gRPC address.
    #[arg(long, global = true, env = "RUNNEL_URL", default_value = "http://127.0.0.1:6650")]
    pub url: String,
    /// The schema registry's REST address.
    #[arg(long, global = true, env = "RUNNEL_REGISTRY_URL", default_value = "http://127.0.0.1:8081")]
    pub registry_url: String,
    /// How results are printed.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// A bearer token for a server with authentication on (see `runnel token create`).
    #[arg(long, global = true, env = "RUNNEL_TOKEN", hide_env_values = true)]
    pub token: Option<cmd::connection::Secret>,
    /// The CA certificate (PEM) that signed the server's TLS certificate (`https://` URLs).
    #[arg(long, global = true, env = "RUNNEL_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// A client certificate (PEM), for a server that requires one; with --client-key.
    #[arg(long, global = true, env = "RUNNEL_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "RUNNEL_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<std::path::PathBuf>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable text.
    Text,
    /// JSON, one object per result.
    Json,
}

// Each subcommand lives in its own module under `cmd/`; add a variant here and
// an arm in `run` when a module lands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Offline Avro tools: Avro-JSON ⇄ binary (hex), canonical form and fingerprints.
    Avro {
        #[command(subcommand)]
        command: cmd::avro::AvroCommand,
    },
    /// The schema registry: register, check, get, list, versions, delete, config.
    Schema {
        #[command(subcommand)]
        command: cmd::schema::SchemaCommand,
    },
    /// The schema registry alone: `registry serve` on a data directory or a Kafka cluster.
    Registry {
        #[command(subcommand)]
        command: cmd::registry::RegistryCommand,
    },
    /// `runnel registry serve` under its earlier name.
    #[command(hide = true)]
    RegistryServe(cmd::registry::ServeArgs),
    /// End-to-end benchmarks: produce, consume, e2e latency, and the disk baseline.
    Bench {
        #[command(subcommand)]
        command: cmd::bench::BenchCommand,
    },
    /// Schema compatibility verdicts, offline: can READER read WRITER's data?
    #[command(hide = true)]
    Compat(cmd::compat::Args),
    /// Topics: create (with their schema), list, describe, delete.
    Topic {
        #[command(subcommand)]
        command: cmd::topic::TopicCommand,
    },
    /// Built-in functions the server runs: create (filter, route, project), list, status, delete.
    Function {
        #[command(subcommand)]
        command: cmd::function::FunctionCommand,
    },
    /// Tenants: create, list, describe, delete, quota.
    Tenant {
        #[command(subcommand)]
        command: cmd::tenant::TenantCommand,
    },
    /// Namespaces (tenant/namespace): create, list, describe, delete, policy.
    Namespace {
        #[command(subcommand)]
        command: cmd::namespace::NamespaceCommand,
    },
    /// Remote clusters for geo-replication: add, list, remove.
    Cluster {
        #[command(subcommand)]
        command: cmd::cluster::ClusterCommand,
    },
    /// Geo-replication: status of every replicated topic and remote.
    Replication {
        #[command(subcommand)]
        command: cmd::replication::ReplicationCommand,
    },
    /// Sends Avro-JSON datums (one per line on stdin) to a topic.
    Produce(cmd::produce::Args),
    /// Prints a topic's records as JSON, one object per line.
    Consume(cmd::consume::Args),
    /// Runs the broker and the schema registry (gRPC and HTTP) on one data directory.
    Serve(cmd::serve::Args),
    /// An enforcing Kafka-protocol proxy in front of a Kafka-compatible cluster.
    Gateway(cmd::gateway::Args),
    /// Bearer tokens for servers with authentication on.
    Token {
        #[command(subcommand)]
        command: cmd::token::TokenCommand,
    },
    /// Generates Rust types with #[derive(Avro)] from .avsc files.
    Codegen(cmd::codegen::Args),
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { global, command } = cli;
    let _ = &global;
    match command {
        Command::Avro { command } => cmd::avro::run(command),
        Command::Bench { command } => cmd::bench::run(&global, command).await,
        Command::Compat(args) => cmd::compat::run(args),
        Command::Topic { command } => cmd::topic::run(&global, command).await,
        Command::Function { command } => cmd::function::run(&global, command).await,
        Command::Tenant { command } => cmd::tenant::run(&global, command).await,
        Command::Namespace { command } => cmd::namespace::run(&global, command).await,
        Command::Cluster { command } => cmd::cluster::run(&global, command).await,
        Command::Replication { command } => cmd::replication::run(&global, command).await,
        Command::Produce(args) => cmd::produce::run(&global, args).await,
        Command::Consume(args) => cmd::consume::run(&global, args).await,
        Command::Serve(args) => cmd::serve::run(args).await,
        Command::Gateway(args) => cmd::gateway::run(&global, args).await,
        Command::Token { command } => cmd::token::run(&global, command),
        Command::Codegen(args) => cmd::codegen::run(&global, args),
        Command::Schema { command } => cmd::schema::run(&global, command).await,
        Command::Registry { command } => cmd::registry::run(command).await,
        Command::RegistryServe(args) => cmd::registry::serve(args).await,
    }
}

/// `runnel function create ... --output TOPIC` (the documented form) names the
/// output topic, while `--output text|json` is the global output format: clap
/// cannot give one flag two meanings in one command, so in `function create`
/// an `--output` whose value is not a format becomes `--output-topic`.
fn function_output_topic(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is_create = args.windows(2).any(|w| w[0] == "function" && w[1] == "create");
    if !is_create {
        return args;
    }
    let format = |v: &std::ffi::OsStr| v == "text" || v == "json";
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        if arg == "--output" && iter.peek().is_some_and(|v| !format(v)) {
            out.push("--output-topic".into());
        } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--output=")) {
            let flag = if format(value.as_ref()) { "--output" } else { "--output-topic" };
            out.push(format!("{flag}={value}").into());
        } else {
            out.push(arg);
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let cli =
        Cli::parse_from(cmd::cluster::remote_flags(function_output_topic(std::env::args_os().collect())));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, joined.
            let msg = e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
            eprintln!("error: {msg}");
            std::process::ExitCode::FAILURE
        }
    }
}
