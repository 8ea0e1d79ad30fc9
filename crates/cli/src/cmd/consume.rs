//! `runnel consume TOPIC`: prints one JSON object per record,
//! `{"partition","offset","timestamp","schema_id","key","value"}`, with the
//! value decoded to Avro-JSON under the record's own writer schema. Stops
//! after `--max` records, or `--timeout-ms` without a new record.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use runnel_client::{
    framing, Client, ConsumerOptions, Position, RawConsumer, RawMessage, RawQueueConsumer,
    SubscriptionOptions, SubscriptionType,
};
use serde_json::{json, Value};

use crate::Global;

/// `runnel consume` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    pub topic: String,
    /// Consume as a member of this group (resumes from, and commits, the group's offsets).
    #[arg(long)]
    pub group: Option<String>,
    /// Where to start: earliest, latest or an offset (with a group: where it has no commit).
    #[arg(long, default_value = "earliest")]
    pub from: String,
    /// Stop after this many records.
    #[arg(long)]
    pub max: Option<u64>,
    /// Stop when no record came for this long.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Read only this partition (without a group).
    #[arg(long)]
    pub partition: Option<u32>,
    /// Consume through this broker-side subscription (queue semantics: each
    /// record is acknowledged after it is printed).
    #[arg(long, value_name = "NAME")]
    pub subscription: Option<String>,
    /// The subscription's type: exclusive, failover, shared or key_shared
    /// (default exclusive; the subscription is named by --subscription or --group).
    #[arg(long, value_name = "TYPE")]
    pub subscription_type: Option<String>,
}

/// Parses `--from`.
fn parse_from(s: &str) -> anyhow::Result<Position> {
    match s {
        "earliest" => Ok(Position::Earliest),
        "latest" => Ok(Position::Latest),
        n => match n.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Position::Offset(offset)),
            _ => bail!("--from must be earliest, latest or a non-negative offset, not `{n}`"),
        },
    }
}

/// Runs `runnel consume`.
pub async fn run(global: &Global, args: Args) -> anyhow::Result<()> {
    let from = parse_from(&args.from)?;
    if args.group.is_some() && args.partition.is_some() {
        bail!("--partition cannot be used with --group (the group assigns partitions)");
    }
    let client = global.connect().await?;
    if args.subscription.is_some() || args.subscription_type.is_some() {
        return run_subscription(&client, args, from).await;
    }
    let options = ConsumerOptions {
        group: args.group.clone(),
        from,
        // Committed once at the end (and by the periodic auto-commit while running).
        auto_commit: Some(Duration::from_secs(5)),
        partitions: args.partition.into_iter().collect(),
        ..ConsumerOptions::default()
    };
    let mut consumer = RawConsumer::subscribe(&client, &args.topic, options).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count = 0u64;
    let limit = args.max.unwrap_or(u64::MAX);
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut result = Ok(());
    while count < limit {
        let msg = match next_or_stop(consumer.next(), timeout).await {
            None => break,
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                result = Err(anyhow::Error::new(e));
                break;
            }
        };
        let line = match render(&client, &msg).await {
            Ok(line) => line,
            Err(e) => {
                result = Err(e.context(format!("partition {} offset {}", msg.partition, msg.offset)));
                break;
            }
        };
        writeln!(out, "{line}").context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
        count += 1;
    }
    out.flush().context("cannot write to stdout")?;
    drop(out);
    consumer.close().await.context("cannot commit the group's offsets")?;
    result
}

/// `runnel consume --subscription`: prints each record, then acknowledges it.
async fn run_subscription(client: &Client, args: Args, from: Position) -> anyhow::Result<()> {
    let Some(name) = args.subscription.clone().or_else(|| args.group.clone()) else {
        bail!("--subscription-type needs a subscription name: --subscription NAME");
    };
    if args.partition.is_some() {
        bail!("--partition cannot be used with a subscription (the broker spreads the records)");
    }
    let mut options = SubscriptionOptions::new(name);
    options.from = from;
    if let Some(kind) = &args.subscription_type {
        options.kind = kind.parse::<SubscriptionType>()?;
    }
    let mut consumer = RawQueueConsumer::subscribe(client, &args.topic, options).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count = 0u64;
    let limit = args.max.unwrap_or(u64::MAX);
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut result = Ok(());
    while count < limit {
        let msg = match next_or_stop(consumer.next(), timeout).await {
            None => break,
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                result = Err(anyhow::Error::new(e));
                break;
            }
        };
        let raw = RawMessage {
            partition: msg.partition,
            offset: msg.offset,
            timestamp_ms: msg.timestamp_ms,
            key: msg.key.clone(),
            value: msg.value.clone(),
            headers: msg.headers.clone(),
        };
        let line = match render(client, &raw).await {
            Ok(line) => line,
            Err(e) => {
                // Left unacknowledged: the subscription delivers it again.
                result = Err(e.context(format!("partition {} offset {}", msg.partition, msg.offset)));
                break;
            }
        };
        writeln!(out, "{line}").context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
        msg.ack().await?;
        count += 1;
    }
    out.flush().context("cannot write to stdout")?;
    drop(out);
    // Closing sends the last acks and waits for the broker to take them.
    consumer.close().await.context("cannot close the subscription")?;
    result
}

/// One record as the JSON line `runnel consume` prints.
async fn render(client: &Client, msg: &RawMessage) -> anyhow::Result<Value> {
    let key = msg.key.as_ref().map(|k| match std::str::from_utf8(k) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => Value::String(hex::encode(k)),
    });
    let (schema_id, value) = match framing::split(&msg.value) {
        Some((id, body)) => {
            let schema = client.schema_by_id(id).await?;
            let value = runnel_avro::json::from_binary(&schema, body)
                .with_context(|| format!("cannot decode the value with its writer schema {id}"))?;
            (Value::from(id), value)
        }
        // Not in the Confluent format (a topic without validation): the bytes, in hex.
        None => (Value::Null, Value::String(hex::encode(&msg.value))),
    };
    Ok(json!({
        "partition": msg.partition,
        "offset": msg.offset,
        "timestamp": msg.timestamp_ms,
        "schema_id": schema_id,
        "key": key,
        "value": value,
    }))
}

/// The next item of a consumer, or `None` when it ends, when `timeout` passes
/// without one, or on Ctrl-C: the three ways `runnel consume` stops reading.
async fn next_or_stop<T>(
    next: impl std::future::Future<Output = Option<T>>,
    timeout: Option<Duration>,
) -> Option<T> {
    let next = async {
        match timeout {
            Some(t) => tokio::time::timeout(t, next).await.ok().flatten(),
            None => next.await,
        }
    };
    tokio::select! {
        item = next => item,
        _ = tokio::signal::ctrl_c() => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_accepts_positions_and_offsets() {
        assert_eq!(parse_from("earliest").unwrap(), Position::Earliest);
        assert_eq!(parse_from("latest").unwrap(), Position::Latest);
        assert_eq!(parse_from("42").unwrap(), Position::Offset(42));
        assert!(parse_from("-1").is_err());
        assert!(parse_from("soon").is_err());
    }
}
