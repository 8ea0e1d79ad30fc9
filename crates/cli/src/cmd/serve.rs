//! `runnel serve`: runs the broker (gRPC) and the HTTP side (registry REST API,
//! health, metrics) over one data directory until SIGINT or SIGTERM, then shuts
//! down gracefully (in-flight appends are written and fsynced).
//!
//! With `--auth-secret-file` (HS256) or `--auth-public-key` (RS256) every request needs a
//! bearer token (`runnel token create`); with `--tls-cert`/`--tls-key` every listener speaks
//! TLS only, and `--tls-client-ca` also requires client certificates. The Kafka listener
//! follows both: with authentication on it requires SASL (PLAIN with the token as the
//! password, or OAUTHBEARER with the token), with TLS on it is SSL / SASL_SSL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use runnel_auth::token::Verifier;
use runnel_broker::tls::TlsConfig;

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
    /// Kafka protocol listen address, or `none` for no Kafka listener [default: 127.0.0.1:9092].
    /// With authentication on it requires SASL (PLAIN or OAUTHBEARER with a token); with TLS
    /// on it speaks TLS.
    #[arg(long, value_parser = parse_kafka_addr)]
    pub kafka: Option<KafkaAddr>,
    /// Authentication and TLS.
    #[command(flatten)]
    pub security: Security,
    /// This cluster's name, as other clusters know it for geo-replication.
    #[arg(long, default_value = "standalone")]
    pub cluster: String,
    /// Keep the registry in a topic of this Kafka cluster instead of `DATA/registry`, shared with
    /// other `runnel serve` and `runnel registry serve` instances (see `runnel registry serve`).
    #[arg(long, value_name = "BOOTSTRAP")]
    pub registry_kafka: Option<String>,
    /// The topic holding the registry, with --registry-kafka.
    #[arg(long, default_value = "_schemas", value_name = "TOPIC")]
    pub schemas_topic: String,
    /// The URL the other registry instances reach this one's HTTP port at (default `http://`
    /// and --http, which must then name a port and an address).
    #[arg(long, value_name = "URL", requires = "registry_kafka")]
    pub registry_advertise_url: Option<String>,
    /// How soon a dead registry primary is replaced, in milliseconds (with --registry-kafka).
    #[arg(long, default_value_t = 6000, value_name = "MS")]
    pub election_timeout_ms: u64,
}

/// The security options `runnel serve` and `runnel gateway` share, as the clients of both
/// see one kind of listener.
#[derive(Debug, Clone, clap::Args)]
pub struct Security {
    /// Turns authentication on: the HS256 shared secret (at least 32 bytes) tokens are signed with.
    #[arg(long, conflicts_with = "auth_public_key")]
    pub auth_secret_file: Option<PathBuf>,
    /// Turns authentication on: the RSA public key (PEM) that verifies RS256 tokens.
    #[arg(long)]
    pub auth_public_key: Option<PathBuf>,
    /// Turns TLS on: this listener's certificate chain (PEM), with --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificate(s) (PEM) that sign client certificates: clients must present one.
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl Security {
    /// The token verifier, with authentication on.
    pub fn verifier(&self) -> anyhow::Result<Option<Verifier>> {
        Ok(match (&self.auth_secret_file, &self.auth_public_key) {
            (Some(f), _) => Some(Verifier::from_secret_file(f).context("cannot load --auth-secret-file")?),
            (None, Some(f)) => {
                Some(Verifier::from_public_key_file(f).context("cannot load --auth-public-key")?)
            }
            (None, None) => None,
        })
    }

    /// The certificate, its key and the client CA, with TLS on.
    pub fn tls_files(&self) -> Option<(&Path, &Path, Option<&Path>)> {
        let (cert, key) = (self.tls_cert.as_deref()?, self.tls_key.as_deref()?);
        Some((cert, key, self.tls_client_ca.as_deref()))
    }
}

/// The Kafka listener's default address.
const DEFAULT_KAFKA_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9092);

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
    config.auth = args.security.verifier()?;
    if let Some((cert, key, client_ca)) = args.security.tls_files() {
        let tls =
            TlsConfig::from_files(cert, key, client_ca).context("cannot load the TLS certificate and key")?;
        config.tls = Some(tls);
    }
    config.kafka_addr = match args.kafka {
        Some(KafkaAddr(addr)) => addr,
        None => Some(DEFAULT_KAFKA_ADDR),
    };
    config.retention_check_interval = std::time::Duration::from_millis(args.retention_check_ms);
    config.cluster_name = args.cluster.clone();
    if let Some(bootstrap) = &args.registry_kafka {
        let advertise = match &args.registry_advertise_url {
            Some(url) => url.clone(),
            None if args.http.port() == 0 || args.http.ip().is_unspecified() => anyhow::bail!(
                "--http {} does not say where the other registry instances reach this one: give --registry-advertise-url",
                args.http
            ),
            None => format!("http://{}", args.http),
        };
        let mut options = runnel_registry::KafkaOptions::new(bootstrap.clone(), advertise);
        options.topic = args.schemas_topic.clone();
        options.session_timeout = std::time::Duration::from_millis(args.election_timeout_ms);
        let registry_config = runnel_registry::RegistryConfig {
            max_schema_bytes: config.max_schema_bytes,
            ..Default::default()
        };
        let registry = runnel_registry::Registry::open_kafka(options, registry_config)
            .await
            .with_context(|| format!("cannot open the registry on Kafka at {bootstrap}"))?;
        config.registry = Some(registry);
    }
    let registry = config.registry.clone();
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
    // A registry on Kafka that can no longer follow its topic stops the server (with an error):
    // serving a registry state that diverges from the other instances' would be worse.
    let failed = {
        let registry = registry.clone();
        async move {
            loop {
                if let Some(why) = registry.as_ref().and_then(|r| r.failure()) {
                    return why;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    let outcome = tokio::select! {
        _ = runnel_broker::shutdown::signal() => Ok(()),
        why = failed => Err(anyhow::anyhow!("stopped following the registry's topic: {why}")),
    };
    tracing::info!("shutting down");
    if let Some(registry) = registry {
        // Leave the registry's election at once, so that another instance takes the writes.
        tokio::task::spawn_blocking(move || registry.close()).await?;
    }
    server.shutdown().await.context("shutdown")?;
    tracing::info!("stopped cleanly");
    outcome
}

/// Structured logs on stderr, filtered by `RUST_LOG` (default `info`).
pub(crate) fn init_logging() {
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
