//! The gateway alone, for benchmarks (`scripts/bench-gateway.py`): a release build of this
//! compiles the gateway's crates only, not the whole `runnel` binary. Accepts the arguments
//! `runnel --registry-url URL gateway --listen ADDR --upstream BOOTSTRAP` takes and prints
//! the same ready line.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let listen: SocketAddr = value("--listen").unwrap_or_else(|| "127.0.0.1:9093".into()).parse()?;
    let upstream = value("--upstream").ok_or("--upstream BOOTSTRAP is required")?;
    let registry_url = value("--registry-url").unwrap_or_else(|| "http://127.0.0.1:8081".into());
    let config = runnel_gateway::Config {
        listen,
        advertised: None,
        upstream: upstream.clone(),
        registry_url: registry_url.clone(),
        level: runnel_gateway::Level::Full,
        auth: None,
        tls: None,
    };
    let (bound, task) = runnel_gateway::start(config).await?;
    println!("gateway listening on {bound} in front of {upstream} (registry {registry_url})");
    task.await?;
    Ok(())
}
