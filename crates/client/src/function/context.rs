//! [`Context`]: what a function knows of the record it processes (key, topic,
//! partition, offset, timestamp, writer schema), and what it may do besides
//! returning outputs: publish typed records to other topics, read and write its
//! keyed state, count metrics and log. Everything it does is staged, and kept
//! only if the record's processing succeeds (so a retried or dead-lettered record
//! leaves nothing behind).

use std::collections::BTreeMap;

use bytes::Bytes;
use runnel_avro::Avro;

use super::state::{PartitionState, State, StateSpec};
use super::FunctionError;
use crate::producer::Producer;

/// A record to write, encoded, staged by a function.
#[derive(Debug, Clone)]
pub(crate) struct Publish {
    pub topic: String,
    pub key: Option<Bytes>,
    pub value: Bytes,
}

/// Where the record being processed came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub topic: String,
    pub partition: u32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub schema_id: u32,
    pub schema_version: i32,
}

/// What one attempt at a record staged.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    pub publishes: Vec<Publish>,
    pub state: BTreeMap<Bytes, Option<Bytes>>,
    pub metrics: BTreeMap<String, i64>,
}

/// The record a function is processing, and its means besides its outputs.
pub struct Context<'a> {
    pub(crate) function: &'a str,
    pub(crate) origin: &'a Origin,
    pub(crate) state_spec: Option<&'a StateSpec>,
    pub(crate) state: Option<&'a PartitionState>,
    pub(crate) staged: &'a mut Staged,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("function", &self.function)
            .field("topic", &self.origin.topic)
            .field("partition", &self.origin.partition)
            .field("offset", &self.origin.offset)
            .finish_non_exhaustive()
    }
}

impl Context<'_> {
    /// The function's name.
    pub fn function(&self) -> &str {
        self.function
    }

    /// The input record's key, if it has one.
    pub fn key(&self) -> Option<&[u8]> {
        self.origin.key.as_deref()
    }

    /// The input topic.
    pub fn topic(&self) -> &str {
        &self.origin.topic
    }

    /// The input record's partition.
    pub fn partition(&self) -> u32 {
        self.origin.partition
    }

    /// The input record's offset.
    pub fn offset(&self) -> i64 {
        self.origin.offset
    }

    /// The input record's timestamp, ms since the epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.origin.timestamp_ms
    }

    /// The global id of the schema that wrote the input record.
    pub fn schema_id(&self) -> u32 {
        self.origin.schema_id
    }

    /// Its version in the input's subject (0 if it is not a version of it).
    pub fn schema_version(&self) -> i32 {
        self.origin.schema_version
    }

    /// Publishes `value` through `producer` (its topic, schema and key function), with
    /// the function's outputs: in the same transaction when effectively once.
    pub fn publish<T: Avro>(&mut self, producer: &Producer<T>, value: &T) {
        let (key, value) = producer.encode_record(value, None);
        self.staged.publishes.push(Publish { topic: producer.topic().to_owned(), key, value });
    }

    /// Publishes `value` through `producer` with an explicit key.
    pub fn publish_with_key<T: Avro>(&mut self, producer: &Producer<T>, key: impl Into<Bytes>, value: &T) {
        let (key, value) = producer.encode_record(value, Some(key.into()));
        self.staged.publishes.push(Publish { topic: producer.topic().to_owned(), key, value });
    }

    /// Adds `delta` to the function's counter `name` (summed over instances, shown by
    /// `runnel function status` and in `/metrics` as `runnel_function_metric`).
    pub fn count(&mut self, name: &str, delta: i64) {
        *self.staged.metrics.entry(name.to_owned()).or_insert(0) += delta;
    }

    /// Logs `message` with the function's name and the record's place.
    pub fn log(&self, message: impl std::fmt::Display) {
        tracing::info!(
            function = self.function,
            partition = self.origin.partition,
            offset = self.origin.offset,
            "{message}"
        );
    }

    /// The function's keyed state, as declared with
    /// [`FunctionBuilder::state`](super::FunctionBuilder::state): the values of this
    /// record's partition (the keys an instance sees are those of its partitions).
    pub fn state<K: Avro + 'static, V: Avro + 'static>(&mut self) -> Result<State<'_, K, V>, FunctionError> {
        let (Some(spec), Some(live)) = (self.state_spec, self.state) else {
            return Err(format!(
                "function `{}` declared no state: call `.state::<K, V>()` on its builder",
                self.function
            )
            .into());
        };
        spec.check::<K, V>()?;
        Ok(State::new(self.function, live, &mut self.staged.state))
    }
}
