//! `runnel replication status`: per replicated topic and remote cluster, the link's
//! state, lag in records and seconds, throughput and last error (docs/replication.md).

use clap::Subcommand;
use serde_json::json;

use crate::{Global, Output};

/// `runnel replication ...`
#[derive(Debug, Subcommand)]
pub enum ReplicationCommand {
    /// Every replication link of the connected cluster.
    Status,
}

/// Runs a replication subcommand.
pub async fn run(global: &Global, command: ReplicationCommand) -> anyhow::Result<()> {
    let client = global.connect().await?;
    match command {
        ReplicationCommand::Status => {
            let status = client.replication_status().await?;
            match global.output {
                Output::Json => {
                    let links: Vec<serde_json::Value> = status
                        .links
                        .iter()
                        .map(|l| {
                            json!({
                                "topic": l.topic,
                                "remote": l.remote,
                                "state": l.state,
                                "lag_records": l.lag_records,
                                "lag_seconds": l.lag_seconds,
                                "replicated": l.replicated,
                                "records_per_sec": l.records_per_sec,
                                "last_error": if l.last_error.is_empty() { None } else { Some(&l.last_error) },
                            })
                        })
                        .collect();
                    println!("{}", json!({"local": status.local, "links": links}));
                }
                Output::Text => {
                    println!("cluster {}", status.local);
                    for l in &status.links {
                        println!(
                            "{} -> {}\t{}\tlag {} records, {:.1} s\t{} replicated, {:.0}/s{}",
                            l.topic,
                            l.remote,
                            l.state,
                            l.lag_records,
                            l.lag_seconds,
                            l.replicated,
                            l.records_per_sec,
                            if l.last_error.is_empty() {
                                String::new()
                            } else {
                                format!("\tlast error: {}", l.last_error)
                            }
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
