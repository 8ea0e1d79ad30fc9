//! `runnel registry serve`: the schema registry's REST API alone, without the broker, on a redb
//! file (`--data`, the default) or on a Kafka cluster (`--kafka`), where several instances share
//! one topic and elect one primary (see `runnel_registry::KafkaOptions`). The hidden
//! `runnel registry-serve` is the same command under its earlier name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use runnel_registry::{KafkaOptions, Registry, RegistryConfig, Role};

/// The subcommands of `runnel registry`.
#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Runs the registry's REST API alone, on a data directory or a Kafka cluster.
    Serve(ServeArgs),
}

/// Arguments of `runnel registry serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The data directory (holds `registry.redb`); the default store (`./runnel-data`).
    #[arg(long, conflicts_with = "kafka")]
    pub data: Option<PathBuf>,
    /// Keep the registry in a topic of this Kafka cluster (bootstrap servers `host:port,...`);
    /// several instances on one topic elect a primary, the others forward writes to it.
    #[arg(long, value_name = "BOOTSTRAP")]
    pub kafka: Option<String>,
    /// The topic holding the registry (one partition; created if missing).
    #[arg(long, default_value = "_schemas", value_name = "TOPIC")]
    pub schemas_topic: String,
    /// The address of the REST API.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub http: SocketAddr,
    /// The URL the other instances reach this one at (default `http://` and the bound --http address).
    #[arg(long, value_name = "URL", requires = "kafka")]
    pub advertise_url: Option<String>,
    /// How soon a dead primary is replaced: the election's session timeout, in milliseconds
    /// (Apache Kafka refuses less than 6000 unless its group.min.session.timeout.ms is lowered).
    #[arg(long, default_value_t = 6000, value_name = "MS")]
    pub election_timeout_ms: u64,
    /// A librdkafka setting for the Kafka clients (security.protocol, sasl.*, ...), repeatable.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", requires = "kafka",
          value_parser = crate::cmd::connection::parse_property)]
    pub kafka_properties: Vec<(String, String)>,
}

/// Runs one `runnel registry` subcommand.
pub async fn run(command: RegistryCommand) -> anyhow::Result<()> {
    match command {
        RegistryCommand::Serve(args) => serve(args).await,
    }
}

/// Runs the registry's REST API alone until SIGINT or SIGTERM (or, on Kafka, until the instance
/// cannot follow the topic any more, which is an error).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    super::serve::init_logging();
    let listener = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot listen on {}", args.http))?;
    let local = listener.local_addr()?;
    let registry = match &args.kafka {
        None => {
            let data = args.data.clone().unwrap_or_else(|| PathBuf::from("./runnel-data"));
            let dir = data.clone();
            tokio::task::spawn_blocking(move || Registry::open(&dir, RegistryConfig::default()))
                .await?
                .with_context(|| format!("cannot open the registry in {}", data.display()))?
        }
        Some(bootstrap) => {
            let advertise = match &args.advertise_url {
                Some(url) => url.clone(),
                None if local.ip().is_unspecified() => {
                    bail!("--http {local} listens on every address: say with --advertise-url where the other instances reach this one")
                }
                None => format!("http://{local}"),
            };
            let mut options = KafkaOptions::new(bootstrap.clone(), advertise);
            options.topic = args.schemas_topic.clone();
            options.session_timeout = Duration::from_millis(args.election_timeout_ms);
            options.properties.extend(args.kafka_properties.iter().cloned());
            Registry::open_kafka(options, RegistryConfig::default())
                .await
                .with_context(|| format!("cannot open the registry on Kafka at {bootstrap}"))?
        }
    };
    match &args.kafka {
        None => eprintln!("registry listening on http://{local}"),
        Some(bootstrap) => eprintln!(
            "registry listening on http://{local} (state in topic {} at {bootstrap}; {})",
            args.schemas_topic,
            describe(&registry.role())
        ),
    }
    let failed = {
        let registry = registry.clone();
        async move {
            loop {
                if let Some(why) = registry.failure() {
                    return why;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(runnel_registry::serve(listener, registry.clone(), async move {
        let _ = stop_rx.await;
    }));
    let outcome = tokio::select! {
        _ = runnel_broker::shutdown::signal() => Ok(()),
        why = failed => Err(anyhow!("stopped following the registry's topic: {why}")),
    };
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    // Leave the election now rather than be timed out, so that another instance takes the writes.
    tokio::task::spawn_blocking(move || registry.close()).await?;
    outcome
}

fn describe(role: &Role) -> String {
    match role {
        Role::Embedded => "embedded".into(),
        Role::Primary => "primary".into(),
        Role::Follower { primary: Some(url) } => format!("following the primary at {url}"),
        Role::Follower { primary: None } => "joining the election".into(),
    }
}
