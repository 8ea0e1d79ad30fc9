//! `runnel consume TOPIC`: prints one JSON object per record,
//! `{"partition","offset","timestamp","schema_id","key","value"}`, with the
//! value decoded to Avro-JSON under the record's own writer schema. Follows the
//! topic until Ctrl-C, `--max` records, `--timeout-ms` without a new record,
//! or, with `--exit-at-end`, until every partition it reads is at the end
//! offset it had when the command started (as `kcat -e`). With `--kafka` it
//! reads a Kafka cluster and takes writer schemas from the registry at
//! `--registry-url`.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::FutureExt;
use runnel_client::{
    framing, Client, ClientError, ConsumerOptions, Position, RawConsumer, RawMessage, RawQueueConsumer,
    SubscriptionOptions, SubscriptionType,
};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::cmd::connection::KafkaTarget;
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
    /// Stop once every partition read is at the end offset it had when the command
    /// started (with a group: every partition the group assigned to it).
    #[arg(long)]
    pub exit_at_end: bool,
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
    #[command(flatten)]
    pub target: KafkaTarget,
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
    let over_kafka = args.target.kafka.is_some();
    if over_kafka && (args.subscription.is_some() || args.subscription_type.is_some()) {
        bail!("--subscription needs a Runnel broker (--url): Kafka has no broker-side subscriptions");
    }
    if over_kafka && args.exit_at_end && args.group.is_some() {
        // A group member learns where a partition starts only from its first
        // record; a caught-up partition would never be seen at its end.
        bail!("--exit-at-end with --group needs a Runnel broker (--url); over --kafka read without a group");
    }
    let client = global.connect_to(&args.target).await?;
    if args.subscription.is_some() || args.subscription_type.is_some() {
        if args.exit_at_end {
            bail!("--exit-at-end cannot be used with a subscription (the broker spreads the records)");
        }
        return run_subscription(&client, args, from).await;
    }
    // Read before subscribing: records produced from now on are past the end.
    let ends: Option<HashMap<u32, i64>> = if args.exit_at_end {
        Some(client.list_offsets(&args.topic, &[], Position::Latest).await?.into_iter().collect())
    } else {
        None
    };
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
    let mut stop = Stop::new(&args);
    let mut result = Ok(());
    while count < limit {
        let next = match &ends {
            Some(ends) => stop.next_before_end(&mut consumer, ends).await,
            None => stop.next(consumer.next()).await,
        };
        let msg = match next {
            None => break,
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                result = Err(anyhow::Error::new(e));
                break;
            }
        };
        match render(&client, &msg).await {
            Ok(line) => write_line(&mut out, &line)?,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
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
    let mut stop = Stop::new(&args);
    let mut result = Ok(());
    while count < limit {
        let msg = match stop.next(consumer.next()).await {
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
        match render(client, &raw).await {
            Ok(line) => write_line(&mut out, &line)?,
            Err(e) => {
                // Left unacknowledged: the subscription delivers it again.
                result = Err(e);
                break;
            }
        }
        msg.ack().await?;
        count += 1;
    }
    out.flush().context("cannot write to stdout")?;
    drop(out);
    // Closing sends the last acks and waits for the broker to take them.
    consumer.close().await.context("cannot close the subscription")?;
    result
}

/// One line out, flushed at once so that a reader of the pipe sees each record as it comes.
fn write_line(out: &mut impl Write, line: &Value) -> anyhow::Result<()> {
    writeln!(out, "{line}").context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")
}

/// One record as the JSON line `runnel consume` prints; an error names the record.
async fn render(client: &Client, msg: &RawMessage) -> anyhow::Result<Value> {
    render_value(client, msg)
        .await
        .with_context(|| format!("partition {} offset {}", msg.partition, msg.offset))
}

async fn render_value(client: &Client, msg: &RawMessage) -> anyhow::Result<Value> {
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

/// How often `--exit-at-end` looks at the partitions' positions while no record comes.
const END_CHECK: Duration = Duration::from_millis(100);

/// The ways `runnel consume` stops reading besides `--max`: the consumer ends,
/// Ctrl-C, `--timeout-ms` without a record, and the ends of `--exit-at-end`.
struct Stop {
    idle: Option<Duration>,
    /// Ctrl-C, listened to for the whole command so that none is missed between records.
    interrupt: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl Stop {
    fn new(args: &Args) -> Stop {
        let interrupt = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        Stop { idle: args.timeout_ms.map(Duration::from_millis), interrupt: Box::pin(interrupt.fuse()) }
    }

    /// The next item of a consumer, or `None` when reading stops.
    async fn next<T>(&mut self, next: impl Future<Output = Option<T>>) -> Option<T> {
        self.within(next, self.idle).await.unwrap_or(None)
    }

    /// The next record, or `None` when reading stops, also once every partition
    /// the consumer reads is at its end in `ends` (a partition missing there was
    /// created since: its end is 0).
    async fn next_before_end(
        &mut self,
        consumer: &mut RawConsumer,
        ends: &HashMap<u32, i64>,
    ) -> Option<Result<RawMessage, ClientError>> {
        let idle_since = Instant::now();
        // Seen twice, one check apart, with the same partitions: a group's
        // assignment is not caught half applied.
        let mut at_end_before = None;
        loop {
            let assigned = consumer.assignment();
            let at_end = !assigned.is_empty()
                && assigned.iter().all(|p| {
                    consumer.position(*p).is_some_and(|pos| pos >= ends.get(p).copied().unwrap_or(0))
                });
            let at_end = at_end.then_some(assigned);
            if at_end.is_some() && at_end == at_end_before {
                return None;
            }
            at_end_before = at_end;
            let mut wait = END_CHECK;
            if let Some(idle) = self.idle {
                wait = wait.min(idle.saturating_sub(idle_since.elapsed()));
                if wait.is_zero() {
                    return None;
                }
            }
            match self.within(consumer.next(), Some(wait)).await {
                Ok(item) => return item,
                Err(NoneYet) => continue,
            }
        }
    }

    /// What `next` gives (`None` on Ctrl-C too), or `NoneYet` after `limit`.
    async fn within<T>(
        &mut self,
        next: impl Future<Output = Option<T>>,
        limit: Option<Duration>,
    ) -> Result<Option<T>, NoneYet> {
        let next = async {
            match limit {
                Some(limit) => tokio::time::timeout(limit, next).await.map_err(|_| NoneYet),
                None => Ok(next.await),
            }
        };
        tokio::select! {
            item = next => item,
            () = &mut self.interrupt => Ok(None),
        }
    }
}

/// Nothing came within the time given.
struct NoneYet;

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
