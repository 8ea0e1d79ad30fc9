//! `runnel namespace create | list | describe | delete | policy | replication`: namespaces
//! (`tenant/namespace`) over the broker's gRPC Tenants service. A namespace's policy
//! gives the topics created in it their defaults (partitions, retention, validation,
//! auto-register, the subject's compatibility level); a create request's own settings win.

use clap::{Args, Subcommand};
use runnel_client::{proto, NamespaceInfo, NamespacePolicy, Validation};
use serde_json::json;

use crate::cmd::count;
use crate::{Global, Output};

/// `runnel namespace ...`
#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// Creates a namespace in an existing tenant.
    Create {
        /// `tenant/namespace`.
        name: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Lists the namespaces (of one tenant, if given).
    List {
        /// Only this tenant's.
        tenant: Option<String>,
    },
    /// Shows a namespace: its policy and topic count.
    Describe {
        /// `tenant/namespace`.
        name: String,
    },
    /// Deletes a namespace (refused while it holds topics).
    Delete {
        /// `tenant/namespace`.
        name: String,
    },
    /// Shows a namespace's policy, or changes the settings given (the others are kept).
    Policy {
        /// `tenant/namespace`.
        name: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Shows which clusters a namespace is replicated between, or sets them (run it on
    /// each cluster taking part; an empty list turns replication off).
    Replication {
        /// `tenant/namespace`.
        name: String,
        /// The clusters taking part, this one included: `A,B[,C]`.
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        clusters: Option<Vec<String>>,
    },
}

/// Policy flags.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Partitions of a new topic (0 = the broker default).
    #[arg(long, value_name = "N")]
    pub partitions: Option<u32>,
    /// Retention by age in ms (0 = the broker default, -1 = forever).
    #[arg(long, value_name = "MS", allow_hyphen_values = true)]
    pub retention_ms: Option<i64>,
    /// Retention by size per partition in bytes (0 = the broker default, -1 = unlimited).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub retention_bytes: Option<i64>,
    /// Validation level of a new topic: none, id or full.
    #[arg(long)]
    pub validation: Option<Validation>,
    /// Whether producers may register new versions of a new topic's subject.
    #[arg(long, value_name = "BOOL")]
    pub auto_register: Option<bool>,
    /// Compatibility level set on a new topic's subject (e.g. FULL; "" = the registry's).
    #[arg(long, value_name = "LEVEL")]
    pub compatibility: Option<String>,
}

impl PolicyArgs {
    fn any(&self) -> bool {
        self.partitions.is_some()
            || self.retention_ms.is_some()
            || self.retention_bytes.is_some()
            || self.validation.is_some()
            || self.auto_register.is_some()
            || self.compatibility.is_some()
    }

    fn over(&self, mut p: NamespacePolicy) -> NamespacePolicy {
        p.partitions = self.partitions.unwrap_or(p.partitions);
        p.retention_ms = self.retention_ms.unwrap_or(p.retention_ms);
        p.retention_bytes = self.retention_bytes.unwrap_or(p.retention_bytes);
        if let Some(v) = self.validation {
            p.validation = match v {
                Validation::None => proto::ValidationLevel::None,
                Validation::Id => proto::ValidationLevel::Id,
                Validation::Full => proto::ValidationLevel::Full,
            } as i32;
        }
        p.auto_register = self.auto_register.unwrap_or(p.auto_register);
        if let Some(c) = &self.compatibility {
            p.compatibility = c.clone();
        }
        p
    }
}

/// Runs a namespace subcommand.
pub async fn run(global: &Global, command: NamespaceCommand) -> anyhow::Result<()> {
    let client = global.connect().await?;
    match command {
        NamespaceCommand::Create { name, policy } => {
            let info = client.create_namespace(&name, policy.over(NamespacePolicy::default())).await?;
            print_one(global, "created namespace", &info);
        }
        NamespaceCommand::List { tenant } => {
            let all = client.list_namespaces(tenant.as_deref()).await?;
            match global.output {
                Output::Json => {
                    println!("{}", serde_json::Value::Array(all.iter().map(namespace_json).collect()))
                }
                Output::Text => {
                    for n in &all {
                        println!("{}\t{}", n.name, count(u64::from(n.topics), "topic"));
                    }
                }
            }
        }
        NamespaceCommand::Describe { name } => {
            let info = client.get_namespace(&name).await?;
            print_one(global, "namespace", &info);
        }
        NamespaceCommand::Delete { name } => {
            client.delete_namespace(&name).await?;
            match global.output {
                Output::Json => println!("{}", json!({"deleted": name})),
                Output::Text => println!("deleted namespace {name}"),
            }
        }
        NamespaceCommand::Replication { name, clusters } => {
            let set = match clusters {
                Some(list) => client.set_namespace_replication(&name, &list).await?,
                None => client
                    .list_namespace_replication()
                    .await?
                    .into_iter()
                    .find(|n| n.namespace == name)
                    .unwrap_or(runnel_client::NamespaceReplication {
                        namespace: name.clone(),
                        clusters: Vec::new(),
                    }),
            };
            match global.output {
                Output::Json => println!("{}", json!({"namespace": set.namespace, "clusters": set.clusters})),
                Output::Text if set.clusters.is_empty() => {
                    println!("namespace {} is not replicated", set.namespace)
                }
                Output::Text => {
                    println!("namespace {} replicated between {}", set.namespace, set.clusters.join(","))
                }
            }
        }
        NamespaceCommand::Policy { name, policy } => {
            let mut info = client.get_namespace(&name).await?;
            if policy.any() {
                let current = info.policy.clone().unwrap_or_default();
                info = client.set_namespace_policy(&name, policy.over(current)).await?;
            }
            print_one(global, "namespace", &info);
        }
    }
    Ok(())
}

fn validation_name(level: i32) -> &'static str {
    match proto::ValidationLevel::try_from(level) {
        Ok(proto::ValidationLevel::None) => "none",
        Ok(proto::ValidationLevel::Id) => "id",
        Ok(proto::ValidationLevel::Full) => "full",
        _ => "default",
    }
}

fn print_one(global: &Global, what: &str, info: &NamespaceInfo) {
    match global.output {
        Output::Json => println!("{}", namespace_json(info)),
        Output::Text => {
            let p = info.policy.clone().unwrap_or_default();
            let or_default = |n: i64| if n == 0 { "default".to_owned() } else { n.to_string() };
            println!("{what} {}", info.name);
            println!("topics:          {}", info.topics);
            println!("partitions:      {}", or_default(p.partitions.into()));
            println!("retention ms:    {}", or_default(p.retention_ms));
            println!("retention bytes: {}", or_default(p.retention_bytes));
            println!("validation:      {}", validation_name(p.validation));
            println!("auto-register:   {}", p.auto_register);
            let compat = if p.compatibility.is_empty() { "default" } else { p.compatibility.as_str() };
            println!("compatibility:   {compat}");
        }
    }
}

fn namespace_json(info: &NamespaceInfo) -> serde_json::Value {
    let p = info.policy.clone().unwrap_or_default();
    json!({
        "name": info.name,
        "topics": info.topics,
        "policy": {
            "partitions": p.partitions,
            "retention_ms": p.retention_ms,
            "retention_bytes": p.retention_bytes,
            "validation": validation_name(p.validation),
            "auto_register": p.auto_register,
            "compatibility": p.compatibility,
        },
    })
}
