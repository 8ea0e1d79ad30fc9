//! `runnel gateway`: the enforcing Kafka-protocol proxy (`runnel-gateway`) in front of a
//! Kafka-compatible cluster, checking produced records against the registry at
//! `--registry-url`. Runs until interrupted.
//!
//! The client side takes `runnel serve`'s security options: `--auth-secret-file` or
//! `--auth-public-key` require SASL (PLAIN with a token as the password, or OAUTHBEARER with
//! the token) and the token's produce / consume grants per topic; `--tls-cert`/`--tls-key`
//! make it SSL / SASL_SSL, `--tls-client-ca` also requires client certificates.

use std::net::SocketAddr;

use anyhow::Context;

use crate::Global;

/// How much of each record the gateway checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Validation {
    /// The Confluent framing and that the id is a version of `<topic>-value`.
    Id,
    /// `id`, and the body is one datum of that schema.
    Full,
}

/// `runnel gateway`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where Kafka clients connect.
    #[arg(long, default_value = "127.0.0.1:9093")]
    pub listen: SocketAddr,
    /// The cluster's bootstrap brokers, host:port[,host:port...].
    #[arg(long)]
    pub upstream: String,
    /// The address clients are told is every broker's (default: the listening address).
    #[arg(long)]
    pub advertise: Option<SocketAddr>,
    /// How much of each record is checked.
    #[arg(long, value_enum, default_value_t = Validation::Full)]
    pub validation: Validation,
    /// Authentication and TLS for clients, as on `runnel serve`.
    #[command(flatten)]
    pub security: super::serve::Security,
}

pub async fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    super::serve::init_logging();
    let config = runnel_gateway::Config {
        listen: args.listen,
        advertised: args.advertise,
        upstream: args.upstream.clone(),
        registry_url: global.registry_url.clone(),
        level: match args.validation {
            Validation::Id => runnel_gateway::Level::Id,
            Validation::Full => runnel_gateway::Level::Full,
        },
        auth: args.security.verifier()?,
        tls: match args.security.tls_files() {
            Some((cert, key, client_ca)) => Some(
                runnel_gateway::Tls::from_files(cert, key, client_ca)
                    .context("cannot load the TLS certificate and key")?,
            ),
            None => None,
        },
    };
    let (bound, task) = runnel_gateway::start(config)
        .await
        .with_context(|| format!("cannot start the gateway in front of {}", args.upstream))?;
    // The tests and scripts wait for this line.
    println!("gateway listening on {bound} in front of {} (registry {})", args.upstream, global.registry_url);
    tokio::select! {
        _ = task => anyhow::bail!("the gateway's listener stopped"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
