//! A function's keyed state: [`State<K, V>`] over the values of one input
//! partition, held in memory as Avro bytes of `V` and kept durable in the topic
//! `<name>-state` (partition p holds input partition p's values; a value is the
//! Avro union `["null", V]`, null for a removed key). A partition's values are
//! restored by reading its state partition from the start when an instance takes
//! the partition; values written with an older schema of `V` are resolved into
//! the current one, and one that cannot be is an error naming the state and type.

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::time::Duration;

use bytes::Bytes;
use runnel_avro::Avro;

use super::FunctionError;
use crate::client::Client;
use crate::error::ClientError;
use crate::raw_consumer::RawConsumer;
use crate::registry::{type_name, ValueDecoder};
use crate::transport::{ConsumerOptions, Position, Transport};

/// One partition's values: Avro of `K` → Avro of `V`.
pub(crate) type PartitionState = HashMap<Bytes, Bytes>;

type Restore = fn(
    Client,
    String,
    String,
    u32,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<PartitionState, ClientError>> + Send>,
>;

/// The declared state types, erased for the runtime.
#[derive(Clone)]
pub(crate) struct StateSpec {
    key: TypeId,
    value: TypeId,
    key_name: String,
    value_name: String,
    /// The changelog's value schema: `["null", V]`.
    pub changelog_schema: &'static runnel_avro::Schema,
    restore: Restore,
}

impl std::fmt::Debug for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateSpec({} -> {})", self.key_name, self.value_name)
    }
}

impl StateSpec {
    pub(crate) fn of<K: Avro + 'static, V: Avro + Send + 'static>() -> StateSpec {
        StateSpec {
            key: TypeId::of::<K>(),
            value: TypeId::of::<V>(),
            key_name: type_name(K::schema()),
            value_name: type_name(V::schema()),
            changelog_schema: <Option<V> as Avro>::schema(),
            restore: |client, function, topic, partition| {
                Box::pin(restore::<V>(client, function, topic, partition))
            },
        }
    }

    /// Whether `K`, `V` are the declared types.
    pub(crate) fn check<K: 'static, V: 'static>(&self) -> Result<(), FunctionError> {
        if self.key == TypeId::of::<K>() && self.value == TypeId::of::<V>() {
            Ok(())
        } else {
            Err(format!(
                "the function's state is declared as `{}` → `{}`, not `{}` → `{}`",
                self.key_name,
                self.value_name,
                std::any::type_name::<K>(),
                std::any::type_name::<V>()
            )
            .into())
        }
    }

    /// Reads partition `partition` of the state topic `topic` from its start.
    pub(crate) async fn restore(
        &self,
        client: &Client,
        function: &str,
        topic: &str,
        partition: u32,
    ) -> Result<PartitionState, ClientError> {
        (self.restore)(client.clone(), function.to_owned(), topic.to_owned(), partition).await
    }
}

/// How long the state topic may stay silent before it counts as read to its end
/// (the end is known; this only bounds the wait for trailing transaction markers).
const RESTORE_IDLE: Duration = Duration::from_secs(1);

async fn restore<V: Avro + Send + 'static>(
    client: Client,
    function: String,
    topic: String,
    partition: u32,
) -> Result<PartitionState, ClientError> {
    let mut values = PartitionState::new();
    let ends = client.list_offsets(&topic, &[partition], Position::Latest).await?;
    let end = ends.iter().find(|(p, _)| *p == partition).map_or(0, |(_, o)| *o);
    let starts = client.list_offsets(&topic, &[partition], Position::Earliest).await?;
    let start = starts.iter().find(|(p, _)| *p == partition).map_or(0, |(_, o)| *o);
    if end <= start {
        return Ok(values);
    }
    let options = ConsumerOptions {
        partitions: vec![partition],
        from: Position::Earliest,
        auto_commit: None,
        ..ConsumerOptions::default()
    };
    let mut consumer = RawConsumer::subscribe(&client, &topic, options).await?;
    let subject = crate::grpc::topics::value_subject(&client.describe_topic(&topic).await?);
    let mut decoder = ValueDecoder::<Option<V>, _>::new(
        client.schema_cache().clone(),
        client.transport().schemas(),
        &subject,
    )
    .await;
    loop {
        if consumer.position(partition).is_some_and(|p| p >= end) {
            break;
        }
        let msg = match tokio::time::timeout(RESTORE_IDLE, consumer.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(msg)) => msg?,
        };
        let Some(key) = msg.key.clone() else { continue };
        match decoder.decode(msg.partition, msg.offset, &msg.value).await {
            Ok((Some(v), _)) => {
                values.insert(key, Bytes::from(runnel_avro::to_vec(&v)));
            }
            Ok((None, _)) => {
                values.remove(&key);
            }
            Err(e) => {
                return Err(ClientError::Function(format!(
                    "function `{function}`: its state `{topic}` holds a value (partition {partition}, offset {}) \
                     that no longer decodes as `{}`: {e}",
                    msg.offset,
                    type_name(V::schema())
                )))
            }
        }
        if msg.offset + 1 >= end {
            break;
        }
    }
    let _ = consumer.close().await;
    Ok(values)
}

/// A function's keyed state in one input partition; from [`Context::state`](super::Context::state).
/// Changes are kept if the record's processing succeeds.
pub struct State<'a, K, V> {
    function: &'a str,
    live: &'a PartitionState,
    staged: &'a mut BTreeMap<Bytes, Option<Bytes>>,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V> std::fmt::Debug for State<'_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("function", &self.function).field("keys", &self.live.len()).finish()
    }
}

impl<'a, K: Avro, V: Avro> State<'a, K, V> {
    pub(crate) fn new(
        function: &'a str,
        live: &'a PartitionState,
        staged: &'a mut BTreeMap<Bytes, Option<Bytes>>,
    ) -> Self {
        State { function, live, staged, _types: PhantomData }
    }

    /// The value of `key`, if it has one.
    pub fn get(&self, key: &K) -> Result<Option<V>, FunctionError> {
        let k = Bytes::from(runnel_avro::to_vec(key));
        let bytes = match self.staged.get(&k) {
            Some(staged) => staged.as_ref(),
            None => self.live.get(&k),
        };
        let Some(bytes) = bytes else { return Ok(None) };
        runnel_avro::from_slice::<V>(bytes).map(Some).map_err(|e| {
            format!(
                "state of function `{}`: a value does not decode as `{}`: {e}",
                self.function,
                type_name(V::schema())
            )
            .into()
        })
    }

    /// Sets the value of `key`.
    pub fn put(&mut self, key: &K, value: &V) {
        self.staged
            .insert(Bytes::from(runnel_avro::to_vec(key)), Some(Bytes::from(runnel_avro::to_vec(value))));
    }

    /// Removes `key`'s value.
    pub fn remove(&mut self, key: &K) {
        self.staged.insert(Bytes::from(runnel_avro::to_vec(key)), None);
    }
}

/// The changelog record of a state change: the Confluent framing of `["null", V]`
/// with `schema_id`, from `V`'s Avro bytes (union branch 1, zig-zag 2) or null.
pub(crate) fn changelog_value(schema_id: u32, value: Option<&Bytes>) -> Bytes {
    let mut out = Vec::with_capacity(6 + value.map_or(0, |v| v.len()));
    crate::framing::write_header(&mut out, schema_id);
    match value {
        Some(v) => {
            out.push(2);
            out.extend_from_slice(v);
        }
        None => out.push(0),
    }
    Bytes::from(out)
}
