//! `runnel topic create | list | describe | delete | replication`: topic administration
//! over the broker's gRPC Admin service; `create --schema` first registers the
//! schema under the topic's subject. `replication` sets or shows a topic's own
//! geo-replication clusters over the Replication service (docs/replication.md).

use anyhow::Context;
use clap::Subcommand;
use runnel_avro::Schema;
use runnel_client::{proto, value_subject, NewTopic, TopicInfo, Validation};
use serde_json::json;

use crate::cmd::count;
use crate::{Global, Output};

/// `runnel topic ...`
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Creates a topic (and registers its value schema with --schema).
    Create {
        /// The topic's name.
        topic: String,
        /// Number of partitions (default: the namespace policy's, else 1).
        #[arg(long)]
        partitions: Option<u32>,
        /// An .avsc file to register under `<topic>-value` before creating the topic.
        #[arg(long, value_name = "FILE.avsc")]
        schema: Option<std::path::PathBuf>,
        /// How strictly the broker checks records: none, id or full (default: the namespace
        /// policy's, else full).
        #[arg(long)]
        validation: Option<Validation>,
        /// Let producers register new versions of the subject.
        #[arg(long)]
        auto_register: bool,
        /// Succeed if the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Lists the topics.
    List,
    /// Shows a topic's settings and partitions.
    Describe {
        /// The topic's name.
        topic: String,
    },
    /// Deletes a topic and its data.
    Delete {
        /// The topic's name.
        topic: String,
    },
    /// Shows which clusters a topic is replicated between, or overrides its namespace's
    /// setting (run it on each cluster taking part). The topic need not exist yet.
    Replication {
        /// The topic's name.
        topic: String,
        /// The topic's own clusters, this one included: `A,B[,C]`.
        #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with_all = ["none", "inherit"])]
        clusters: Option<Vec<String>>,
        /// Not replicated, whatever its namespace says.
        #[arg(long, conflicts_with = "inherit")]
        none: bool,
        /// Remove the override: the namespace's setting applies again.
        #[arg(long)]
        inherit: bool,
    },
}

/// Runs a topic subcommand.
pub async fn run(global: &Global, command: TopicCommand) -> anyhow::Result<()> {
    let client = global.connect().await?;
    match command {
        TopicCommand::Create { topic, partitions, schema, validation, auto_register, if_not_exists } => {
            let registered = match schema {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let schema = Schema::parse_str(&text)
                        .with_context(|| format!("{} is not a valid schema", path.display()))?;
                    // The topic's subject: `<topic>-value` in its tenant's registry context.
                    let subject =
                        runnel_broker::topics::TopicConfig::from_proto(&topic, &Default::default())?
                            .value_subject;
                    Some(client.register_schema(&subject, &schema).await?)
                }
                None => None,
            };
            let mut new = NewTopic::new(&topic).auto_register(auto_register).if_not_exists(if_not_exists);
            if let Some(n) = partitions {
                new = new.partitions(n);
            }
            if let Some(v) = validation {
                new = new.validation(v);
            }
            let info = client.create_topic(new).await?;
            match global.output {
                Output::Json => {
                    let mut v = topic_json(&info);
                    if let Some(r) = &registered {
                        v["schema"] = json!({"subject": r.subject, "id": r.id, "version": r.version});
                    }
                    println!("{v}");
                }
                Output::Text => {
                    print!(
                        "created topic {} with {}",
                        info.name,
                        count(info.partitions.len() as u64, "partition")
                    );
                    match &registered {
                        Some(r) => println!("; schema id {} version {} under {}", r.id, r.version, r.subject),
                        None => println!(),
                    }
                }
            }
        }
        TopicCommand::List => {
            let mut topics = client.list_topics().await?;
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            match global.output {
                Output::Json => {
                    println!("{}", serde_json::Value::Array(topics.iter().map(topic_json).collect()))
                }
                Output::Text => {
                    for t in &topics {
                        println!(
                            "{}\t{}\t{}",
                            t.name,
                            count(t.partitions.len() as u64, "partition"),
                            value_subject(t)
                        );
                    }
                }
            }
        }
        TopicCommand::Describe { topic } => {
            let info = client.describe_topic(&topic).await?;
            match global.output {
                Output::Json => println!("{}", topic_json(&info)),
                Output::Text => print_topic(&info),
            }
        }
        TopicCommand::Delete { topic } => {
            client.delete_topic(&topic).await?;
            match global.output {
                Output::Json => println!("{}", json!({"deleted": topic})),
                Output::Text => println!("deleted topic {topic}"),
            }
        }
        TopicCommand::Replication { topic, clusters, none, inherit } => {
            replication(global, &client, &topic, clusters, none, inherit).await?;
        }
    }
    Ok(())
}

/// `topic replication`: sets the override if asked, then shows what applies to the topic:
/// its own clusters, or its namespace's.
async fn replication(
    global: &Global,
    client: &runnel_client::Client,
    topic: &str,
    clusters: Option<Vec<String>>,
    none: bool,
    inherit: bool,
) -> anyhow::Result<()> {
    let name = runnel_auth::names::TopicName::parse(topic)?;
    if let Some(list) = &clusters {
        client.set_topic_replication(topic, Some(list.as_slice())).await?;
    } else if none {
        client.set_topic_replication(topic, Some(&[][..])).await?;
    } else if inherit {
        client.set_topic_replication(topic, None).await?;
    }
    let own = client.list_topic_replication().await?.into_iter().find(|t| t.topic == name.short());
    let namespace = name.namespace_name().to_string();
    let (overridden, list) = match own {
        Some(t) => (true, t.clusters),
        None => (
            false,
            client
                .list_namespace_replication()
                .await?
                .into_iter()
                .find(|n| n.namespace == namespace)
                .map(|n| n.clusters)
                .unwrap_or_default(),
        ),
    };
    match global.output {
        Output::Json => println!(
            "{}",
            json!({"topic": name.short(), "override": overridden, "namespace": namespace, "clusters": list})
        ),
        Output::Text => {
            let whose = if overridden {
                "its own setting".to_owned()
            } else {
                format!("namespace {namespace}'s setting")
            };
            if list.is_empty() {
                println!("topic {} is not replicated ({whose})", name.short());
            } else {
                println!("topic {} replicated between {} ({whose})", name.short(), list.join(","));
            }
        }
    }
    Ok(())
}

fn validation_name(config: Option<&proto::TopicConfig>) -> &'static str {
    match config.and_then(|c| proto::ValidationLevel::try_from(c.validation).ok()) {
        Some(proto::ValidationLevel::None) => "none",
        Some(proto::ValidationLevel::Id) => "id",
        _ => "full",
    }
}

fn topic_json(info: &TopicInfo) -> serde_json::Value {
    let config = info.config.as_ref();
    json!({
        "name": info.name,
        "subject": value_subject(info),
        "validation": validation_name(config),
        "auto_register": config.is_some_and(|c| c.auto_register),
        "retention_ms": config.map_or(0, |c| c.retention_ms),
        "partitions": info.partitions.iter().map(|p| json!({
            "partition": p.partition,
            "log_start_offset": p.log_start_offset,
            "high_watermark": p.high_watermark,
            "size_bytes": p.size_bytes,
            "segments": p.segments,
        })).collect::<Vec<_>>(),
    })
}

fn print_topic(info: &TopicInfo) {
    let config = info.config.as_ref();
    println!("topic:         {}", info.name);
    println!("subject:       {}", value_subject(info));
    println!("validation:    {}", validation_name(config));
    println!("auto-register: {}", config.is_some_and(|c| c.auto_register));
    println!("partitions:    {}", info.partitions.len());
    for p in &info.partitions {
        println!(
            "  {:>4}  offsets {}..{}  {} in {}",
            p.partition,
            p.log_start_offset,
            p.high_watermark,
            count(p.size_bytes, "byte"),
            count(u64::from(p.segments), "segment")
        );
    }
}
