//! `runnel cluster add | list | remove`: the remote clusters the connected cluster
//! knows, for geo-replication (`runnel namespace replication`, docs/replication.md).
//!
//! In `cluster add NAME --url URL --registry-url URL [--token T] [--ca-cert F]` the
//! flags describe the *remote* (the documented form), while the same global flags
//! name the cluster the CLI talks to: `main` renames them to `--remote-*` for this one
//! command, and the local cluster is then the one of `RUNNEL_URL` (and `RUNNEL_TOKEN`,
//! `RUNNEL_CA_CERT`), or the default address.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use runnel_client::ClusterInfo;
use serde_json::json;

use crate::{Global, Output};

/// `runnel cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Makes a remote cluster known (it is asked its name, which must be NAME).
    Add {
        /// The remote's name (its `runnel serve --cluster`).
        name: String,
        /// The remote broker's gRPC URL (written `--url`).
        #[arg(long = "remote-url", value_name = "URL")]
        remote_url: String,
        /// The remote's registry REST URL (written `--registry-url`).
        #[arg(long = "remote-registry-url", value_name = "URL")]
        remote_registry_url: String,
        /// A token the remote accepts, with the grants replication needs there (written `--token`).
        #[arg(long = "remote-token", value_name = "T")]
        remote_token: Option<String>,
        /// The CA certificate (PEM) of the remote's TLS certificate (written `--ca-cert`).
        #[arg(long = "remote-ca-cert", value_name = "F")]
        remote_ca_cert: Option<PathBuf>,
    },
    /// Lists this cluster's name and the remote clusters it knows.
    List,
    /// Forgets a remote cluster (refused while a namespace replicates to it).
    Remove {
        /// The remote's name.
        name: String,
    },
}

/// In `cluster add`, the flags `--url`, `--registry-url`, `--token` and `--ca-cert`
/// describe the remote: renamed here so that clap does not take them as the global ones.
pub fn remote_flags(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // Only the flags after `cluster add`: those before it are the global ones.
    let Some(add) = args.windows(2).position(|w| w[0] == "cluster" && w[1] == "add") else {
        return args;
    };
    const RENAMED: [&str; 4] = ["--url", "--registry-url", "--token", "--ca-cert"];
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if i <= add + 1 {
                return arg;
            }
            let Some(s) = arg.to_str() else { return arg };
            for flag in RENAMED {
                if s == flag {
                    return format!("--remote-{}", &flag[2..]).into();
                }
                if let Some(v) = s.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
                    return format!("--remote-{}={v}", &flag[2..]).into();
                }
            }
            arg
        })
        .collect()
}

/// Runs a cluster subcommand.
pub async fn run(global: &Global, command: ClusterCommand) -> anyhow::Result<()> {
    let client = global.connect().await?;
    match command {
        ClusterCommand::Add { name, remote_url, remote_registry_url, remote_token, remote_ca_cert } => {
            let ca_cert_pem = match remote_ca_cert {
                Some(f) => {
                    std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?
                }
                None => String::new(),
            };
            let info = ClusterInfo {
                name,
                url: remote_url,
                registry_url: remote_registry_url,
                token: remote_token.unwrap_or_default(),
                ca_cert_pem,
            };
            let added = client.add_cluster(info).await?;
            match global.output {
                Output::Json => println!("{}", cluster_json(&added)),
                Output::Text => println!("added cluster {} at {}", added.name, added.url),
            }
        }
        ClusterCommand::List => {
            let (local, clusters) = client.list_clusters().await?;
            match global.output {
                Output::Json => println!(
                    "{}",
                    json!({"local": local, "clusters": clusters.iter().map(cluster_json).collect::<Vec<_>>()})
                ),
                Output::Text => {
                    println!("{local}\t(this cluster)");
                    for c in &clusters {
                        println!("{}\t{}\t{}", c.name, c.url, c.registry_url);
                    }
                }
            }
        }
        ClusterCommand::Remove { name } => {
            client.remove_cluster(&name).await?;
            match global.output {
                Output::Json => println!("{}", json!({"removed": name})),
                Output::Text => println!("removed cluster {name}"),
            }
        }
    }
    Ok(())
}

fn cluster_json(c: &ClusterInfo) -> serde_json::Value {
    json!({"name": c.name, "url": c.url, "registry_url": c.registry_url})
}

#[cfg(test)]
mod tests {
    use super::remote_flags;

    fn rewrite(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(std::ffi::OsString::from).collect();
        remote_flags(args).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn only_the_flags_after_cluster_add_name_the_remote() {
        assert_eq!(
            rewrite(&["runnel", "--url", "L", "cluster", "add", "west", "--url", "R", "--token=T"]),
            ["runnel", "--url", "L", "cluster", "add", "west", "--remote-url", "R", "--remote-token=T"]
        );
        assert_eq!(
            rewrite(&["runnel", "--url", "L", "cluster", "list"]),
            ["runnel", "--url", "L", "cluster", "list"]
        );
    }
}
