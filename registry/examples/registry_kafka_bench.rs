//! Registry lookups per second on a follower of the Kafka store against the embedded (redb)
//! registry, in one run: the same schemas, the same load generator (see `common`), the two
//! measured in turn so that both see the same machine.
//!
//! Run against a Kafka-compatible cluster (Tansu in bench/RESULTS.md):
//! `cargo run --release -p runnel-registry --features kafka --example registry_kafka_bench -- BOOTSTRAP [SECONDS] [CONCURRENCY]`
//!
//! Two instances on a fresh topic elect a primary; 50 versions are registered through the
//! primary; the follower reads them from the topic; then `GET /schemas/ids/{id}` and lookups by
//! schema (`POST /subjects/{s}`) go to the follower's REST API and to the embedded registry's.

mod common;

use std::time::{Duration, Instant};

use common::{load, request, version_schema};
use runnel_registry::{router, KafkaOptions, Registry, RegistryConfig, Role};
use serde_json::json;

async fn serve(registry: Registry) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(registry)).await });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().ok_or("usage: registry_kafka_bench BOOTSTRAP [SECONDS] [CONCURRENCY]")?;
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let topic = format!("_schemas-bench-{}", std::process::id());

    let dir = tempfile::tempdir()?;
    let embedded = Registry::open(dir.path(), RegistryConfig::default())?;
    let mut instances = Vec::new();
    for _ in 0..2 {
        // The advertised URL is only used for forwarding writes, which this benchmark does not do.
        let mut options = KafkaOptions::new(bootstrap.clone(), "http://127.0.0.1:9");
        options.topic = topic.clone();
        options.session_timeout = Duration::from_secs(3);
        instances.push(Registry::open_kafka(options, RegistryConfig::default()).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (primary, follower) = loop {
        match (instances[0].role(), instances[1].role()) {
            (Role::Primary, Role::Follower { .. }) => break (instances[0].clone(), instances[1].clone()),
            (Role::Follower { .. }, Role::Primary) => break (instances[1].clone(), instances[0].clone()),
            _ if Instant::now() > deadline => return Err("no primary elected within 60 s".into()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let start = Instant::now();
    for n in 1..=50 {
        let text = version_schema(n);
        let (p, e) = (primary.clone(), embedded.clone());
        tokio::task::spawn_blocking(move || -> Result<(), runnel_registry::RegistryError> {
            p.register("bench", &text)?;
            e.register("bench", &text)?;
            Ok(())
        })
        .await??;
    }
    println!(
        "50 registrations through the primary (and the embedded registry): {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let target = *primary.log_position().ok_or("not on a log")?.borrow();
    let mut position = follower.log_position().ok_or("not on a log")?;
    tokio::time::timeout(Duration::from_secs(30), position.wait_for(|p| *p >= target)).await??;
    assert_eq!(follower.versions("bench", false)?.len(), 50, "the follower holds every version");

    let follower_addr = serve(follower.clone()).await?;
    let embedded_addr = serve(embedded.clone()).await?;
    let by_id = request("GET", "/schemas/ids/1", None);
    let body = json!({"schema": version_schema(50)}).to_string();
    let lookup = request("POST", "/subjects/bench", Some(&body));
    println!("{seconds} s per load, {concurrency} connections; two rounds, alternating");
    for round in 1..=2 {
        for (what, req) in
            [("GET /schemas/ids/1", &by_id), ("POST /subjects/bench (lookup, 3.4 KB)", &lookup)]
        {
            let e = load(embedded_addr, req.clone(), seconds, concurrency).await;
            let f = load(follower_addr, req.clone(), seconds, concurrency).await;
            println!("round {round}: {what}: embedded {e:.0} req/s, follower {f:.0} req/s ({:.2}×)", f / e);
        }
    }
    for r in &instances {
        let r = r.clone();
        tokio::task::spawn_blocking(move || r.close()).await?;
    }
    Ok(())
}
