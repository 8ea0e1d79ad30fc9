//! `runnel tenant create | list | describe | delete | quota`: tenants over the broker's
//! gRPC Tenants service. A tenant holds namespaces, which hold topics
//! (`tenant/namespace/topic`); its quotas bound its produce and consume rates, the
//! bytes its logs hold and its number of topics.

use clap::{Args, Subcommand};
use runnel_client::{TenantInfo, TenantQuotas};
use serde_json::json;

use crate::cmd::count;
use crate::{Global, Output};

/// `runnel tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Creates a tenant.
    Create {
        /// The tenant's name ([A-Za-z0-9_-], at most 64 characters).
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// Lists the tenants.
    List,
    /// Shows a tenant: quotas, namespaces, topics, bytes stored.
    Describe {
        /// The tenant's name.
        name: String,
    },
    /// Deletes a tenant and its namespaces (refused while it holds topics).
    Delete {
        /// The tenant's name.
        name: String,
    },
    /// Shows a tenant's quotas, or changes those given (the others are kept).
    Quota {
        /// The tenant's name.
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
}

/// Quota flags; 0 = unlimited.
#[derive(Debug, Clone, Args)]
pub struct QuotaArgs {
    /// Produce rate in bytes per second (throttled above it).
    #[arg(long, value_name = "BYTES")]
    pub produce_rate: Option<u64>,
    /// Consume rate in bytes per second (throttled above it).
    #[arg(long, value_name = "BYTES")]
    pub consume_rate: Option<u64>,
    /// Bytes the tenant's logs may hold (produce refused above it).
    #[arg(long, value_name = "BYTES")]
    pub storage_bytes: Option<u64>,
    /// Topics the tenant may hold.
    #[arg(long, value_name = "N")]
    pub max_topics: Option<u32>,
}

impl QuotaArgs {
    fn any(&self) -> bool {
        self.produce_rate.is_some()
            || self.consume_rate.is_some()
            || self.storage_bytes.is_some()
            || self.max_topics.is_some()
    }

    fn over(&self, mut q: TenantQuotas) -> TenantQuotas {
        q.produce_bytes_per_sec = self.produce_rate.unwrap_or(q.produce_bytes_per_sec);
        q.consume_bytes_per_sec = self.consume_rate.unwrap_or(q.consume_bytes_per_sec);
        q.storage_bytes = self.storage_bytes.unwrap_or(q.storage_bytes);
        q.max_topics = self.max_topics.unwrap_or(q.max_topics);
        q
    }
}

/// Runs a tenant subcommand.
pub async fn run(global: &Global, command: TenantCommand) -> anyhow::Result<()> {
    let client = global.connect().await?;
    match command {
        TenantCommand::Create { name, quotas } => {
            let info = client.create_tenant(&name, quotas.over(TenantQuotas::default())).await?;
            print_one(global, "created tenant", &info);
        }
        TenantCommand::List => {
            let tenants = client.list_tenants().await?;
            match global.output {
                Output::Json => {
                    println!("{}", serde_json::Value::Array(tenants.iter().map(tenant_json).collect()))
                }
                Output::Text => {
                    for t in &tenants {
                        println!(
                            "{}\t{}\t{}",
                            t.name,
                            count(t.namespaces.len() as u64, "namespace"),
                            count(u64::from(t.topics), "topic")
                        );
                    }
                }
            }
        }
        TenantCommand::Describe { name } => {
            let info = client.get_tenant(&name).await?;
            print_one(global, "tenant", &info);
        }
        TenantCommand::Delete { name } => {
            client.delete_tenant(&name).await?;
            match global.output {
                Output::Json => println!("{}", json!({"deleted": name})),
                Output::Text => println!("deleted tenant {name}"),
            }
        }
        TenantCommand::Quota { name, quotas } => {
            let mut info = client.get_tenant(&name).await?;
            if quotas.any() {
                let current = info.quotas.unwrap_or_default();
                info = client.set_tenant_quotas(&name, quotas.over(current)).await?;
            }
            print_one(global, "tenant", &info);
        }
    }
    Ok(())
}

fn print_one(global: &Global, what: &str, info: &TenantInfo) {
    match global.output {
        Output::Json => println!("{}", tenant_json(info)),
        Output::Text => {
            let q = info.quotas.unwrap_or_default();
            let limit = |n: u64| if n == 0 { "unlimited".to_owned() } else { n.to_string() };
            println!("{what} {}", info.name);
            println!("namespaces:    {}", info.namespaces.join(", "));
            println!("topics:        {} (max {})", info.topics, limit(q.max_topics.into()));
            println!("storage:       {} (max {})", count(info.storage_bytes, "byte"), limit(q.storage_bytes));
            println!("produce rate:  {} bytes/s", limit(q.produce_bytes_per_sec));
            println!("consume rate:  {} bytes/s", limit(q.consume_bytes_per_sec));
        }
    }
}

fn tenant_json(info: &TenantInfo) -> serde_json::Value {
    let q = info.quotas.unwrap_or_default();
    json!({
        "name": info.name,
        "namespaces": info.namespaces,
        "topics": info.topics,
        "storage_bytes": info.storage_bytes,
        "quotas": {
            "produce_bytes_per_sec": q.produce_bytes_per_sec,
            "consume_bytes_per_sec": q.consume_bytes_per_sec,
            "storage_bytes": q.storage_bytes,
            "max_topics": q.max_topics,
        },
    })
}
