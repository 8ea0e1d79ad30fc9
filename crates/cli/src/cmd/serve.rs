//! `runnel serve`: runs the broker (gRPC) and the HTTP side (registry REST API,
//! health, metrics) over one data directory until SIGINT or SIGTERM, then shuts
//! down gracefully (in-flight appends are written and fsynced).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `runnel serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Data directory (topics, metadata, registry).
    #[arg(long, default_value = "./runnel-data")]
    pub data: PathBuf,
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:6650")]
    pub grpc: SocketAddr,
    /// HTTP listen address (schema registry REST API, /health, /metrics).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub http: SocketAddr,
    /// How often retention runs, in milliseconds (tests shorten it).
    #[arg(long, default_value_t = 60_000)]
    pub retention_check_ms: u64,
    /// Kafka protocol listen address, or `none` for no Kafka listener.
    #[arg(long, default_value = "127.0.0.1:9092", value_parser = parse_kafka_addr)]
    pub kafka: KafkaAddr,
}

/// `--kafka`: an address, or none.
#[derive(Debug, Clone, Copy)]
pub struct KafkaAddr(pub Option<SocketAddr>);

/// `none` turns the Kafka listener off; anything else is an address.
fn parse_kafka_addr(s: &str) -> Result<KafkaAddr, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(KafkaAddr(None));
    }
    s.parse()
        .map(|a| KafkaAddr(Some(a)))
        .map_err(|e| format!("'{s}' is neither an address (HOST:PORT) nor 'none': {e}"))
}

/// Runs the server until a signal arrives.
pub async fn run(args: Args) -> anyhow::Result<()> {
    init_logging();
    let mut config = runnel_broker::ServerConfig::new(&args.data);
    config.grpc_addr = args.grpc;
    config.http_addr = args.http;
    config.kafka_addr = args.kafka.0;
    config.retention_check_interval = std::time::Duration::from_millis(args.retention_check_ms);
    let server = runnel_broker::start(config)
        .await
        .with_context(|| format!("cannot start the broker on {}", args.data.display()))?;
    // One line for humans and scripts (the crash test reads it to find the ports).
    println!(
        "runnel serving: grpc={} http={} data={}",
        server.grpc_url(),
        server.registry_url(),
        args.data.display()
    );
    if let Some(kafka) = server.kafka_addr() {
        println!("runnel kafka: {kafka}");
    }
    runnel_broker::shutdown::signal().await;
    tracing::info!("shutting down");
    server.shutdown().await.context("shutdown")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Structured logs on stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal, so redirected logs stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
