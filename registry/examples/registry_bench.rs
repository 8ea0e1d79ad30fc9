//! Registry benchmark: REST lookups by id and by schema (requests per second
//! with many concurrent keep-alive clients), and the latency of registering into
//! a FULL_TRANSITIVE subject that already holds 100 versions.
//!
//! Run: `cargo run --release -p runnel-registry --example registry_bench [SECONDS] [CONCURRENCY]`
//! (the server and the load generator share the machine, so numbers are a floor). The load
//! generator writes each request's bytes once and only reads the status line and the
//! length of each response, so that most of the CPU goes to the server.

mod common;

use std::time::{Duration, Instant};

use common::{load, request, version_schema};
use runnel_registry::{router, Compatibility, Registry, RegistryConfig};
use serde_json::json;

/// A 10-field record whose version n differs from the others only in a default:
/// distinct schemas (defaults are part of identity), all fully compatible.
fn default_schema(n: usize) -> String {
    let mut fields = vec![json!({"name": "id", "type": "long"})];
    for i in 1..9 {
        fields.push(json!({"name": format!("f{i}"), "type": ["null", "string"], "default": null}));
    }
    fields.push(json!({"name": "level", "type": "int", "default": n}));
    json!({"type": "record", "name": "Small", "namespace": "runnel.bench", "fields": fields}).to_string()
}

/// Register 100 versions with `make`, then time 20 more registrations.
fn time_registrations(
    registry: &Registry,
    subject: &str,
    make: fn(usize) -> String,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    registry.set_compatibility(Some(subject), Compatibility::FullTransitive)?;
    for n in 1..=100 {
        registry.register(subject, &make(n))?;
    }
    let mut samples = Vec::new();
    for n in 101..=120 {
        let schema = make(n);
        let start = Instant::now();
        let sv = registry.register(subject, &schema)?;
        samples.push(start.elapsed());
        assert_eq!(sv.version as usize, n);
    }
    samples.sort();
    Ok(samples)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(32);
    let dir = tempfile::tempdir()?;
    let registry = Registry::open(dir.path(), RegistryConfig::default())?;

    // Registration into FULL_TRANSITIVE with 100 versions already there.
    let small = time_registrations(&registry, "small", default_schema)?;
    println!(
        "register into FULL_TRANSITIVE, 100-119 versions of a 10-field record: median {:.2} ms, max {:.2} ms (incl. fsync)",
        ms(small[small.len() / 2]),
        ms(small[small.len() - 1])
    );
    let samples = time_registrations(&registry, "bench", version_schema)?;
    println!(
        "register into FULL_TRANSITIVE, 100-119 versions growing to 120 fields: median {:.2} ms, max {:.2} ms (incl. fsync)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    );

    // The same checks without the commit: how much of a registration is compatibility.
    let candidate = version_schema(121);
    let start = Instant::now();
    let problems = registry.check("bench", &candidate, runnel_registry::VersionSelector::Latest)?;
    println!(
        "  of which compatibility against 120 versions, both directions: {:.2} ms ({} problems)",
        start.elapsed().as_secs_f64() * 1e3,
        problems.len()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router(registry)).await });

    let by_id = load(addr, request("GET", "/schemas/ids/1", None), seconds, concurrency).await;
    println!("GET /schemas/ids/1: {by_id:.0} req/s ({concurrency} connections)");
    for n in [3, 50] {
        let body = json!({"schema": version_schema(n)}).to_string();
        let size = body.len();
        let lookup = request("POST", "/subjects/bench", Some(&body));
        let by_schema = load(addr, lookup, seconds, concurrency).await;
        println!("POST /subjects/bench (lookup by a {size}-byte schema): {by_schema:.0} req/s ({concurrency} connections)");
    }
    Ok(())
}
