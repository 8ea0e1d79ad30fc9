//! [`Record<T>`]: one record with its value decoded, the view that
//! [`Message<T>`](crate::Message) and [`QueueMessage<T>`](crate::QueueMessage)
//! share: both deref to it, so its accessors are theirs.

use bytes::Bytes;

use crate::transport::RawMessage;

/// One record, decoded: its value, key, place, timestamp, headers and writer schema.
#[derive(Debug)]
pub struct Record<T> {
    value: T,
    key: Option<Bytes>,
    partition: u32,
    offset: i64,
    timestamp_ms: i64,
    headers: Vec<(String, Bytes)>,
    schema_id: u32,
}

impl<T> Record<T> {
    /// `raw` with its value decoded into `value`, written with schema `schema_id`.
    #[inline]
    pub(crate) fn decoded(raw: RawMessage, value: T, schema_id: u32) -> Self {
        Record {
            value,
            key: raw.key,
            partition: raw.partition,
            offset: raw.offset,
            timestamp_ms: raw.timestamp_ms,
            headers: raw.headers,
            schema_id,
        }
    }

    /// The value, for decoding the next record into it (`Consumer::next_batch`).
    pub(crate) fn value_mut(&mut self) -> &mut T {
        &mut self.value
    }

    /// This record becomes `raw`, whose value was decoded into [`value_mut`](Self::value_mut).
    #[inline]
    pub(crate) fn refill(&mut self, raw: RawMessage, schema_id: u32) {
        self.key = raw.key;
        self.partition = raw.partition;
        self.offset = raw.offset;
        self.timestamp_ms = raw.timestamp_ms;
        self.headers = raw.headers;
        self.schema_id = schema_id;
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, owned.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The key, if the record has one.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The offset in the partition.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The timestamp (ms since the epoch).
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[(String, Bytes)] {
        &self.headers
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// The global id of the schema the record was written with.
    pub fn schema_id(&self) -> u32 {
        self.schema_id
    }
}
