//! Records as every transport carries them, before typing: [`RawRecord`] to
//! send, the [`SendFuture`] of its delivery and the [`RecordMetadata`] it
//! resolves to, and [`RawMessage`], a record read back with its value as bytes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
// futures' oneshot, not tokio's: tokio's takes from the task's cooperative
// budget, so a caller polling thousands of send futures in one
// `FuturesUnordered` (the way to pipeline sends) saw all but the first 128 of
// them answer "pending, wake me again" on each turn: the caller's task spun
// re-polling them, and some acknowledged records were seen seconds late.
use futures::channel::oneshot;

use crate::error::ClientError;

/// Where a record was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition.
    pub partition: u32,
    /// The record's offset in the partition.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch).
    pub timestamp_ms: i64,
}

/// A record for [`RawProducer::send`](crate::RawProducer::send).
#[derive(Debug, Clone, Default)]
pub struct RawRecord {
    /// The key (used for partitioning), if any.
    pub key: Option<Bytes>,
    /// The value: Confluent-framed Avro for topics with validation.
    pub value: Bytes,
    /// Headers, in order.
    pub headers: Vec<(String, Bytes)>,
    /// The timestamp in ms; `None` = now.
    pub timestamp_ms: Option<i64>,
    /// The partition; `None` = the partitioner's choice.
    pub partition: Option<u32>,
}

/// One record as stored: the value is the bytes the producer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch).
    pub timestamp_ms: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value (empty for a null value).
    pub value: Bytes,
    /// The headers, in order (a null header value is empty).
    pub headers: Vec<(String, Bytes)>,
}

/// The answer channel of one record in a producer's engine (futures' oneshot:
/// see the note on its import).
pub(crate) type Delivery = oneshot::Receiver<Result<RecordMetadata, ClientError>>;

/// The future of one record's delivery: its partition and offset, or why it failed.
pub type SendFuture = DeliveryFuture<RecordMetadata>;

/// The future of a delivery (a record's: [`SendFuture`]; a whole batch's:
/// [`BatchSendFuture`](crate::BatchSendFuture)): where it was stored, or why it was not.
#[must_use = "a send future does nothing unless awaited when the buffer is full; await it for the offsets"]
pub struct DeliveryFuture<T> {
    state: DeliveryState<T>,
}

enum DeliveryState<T> {
    /// The records are in the engine; the answer comes on this channel.
    Waiting(oneshot::Receiver<Result<T, ClientError>>),
    /// The records still have to be handed over (room to wait for), or are
    /// delivered through another library's future (librdkafka's).
    Pending(Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send>>),
    Failed(Option<ClientError>),
}

impl<T> DeliveryFuture<T> {
    /// A future answered on `delivery`: the common case, no allocation of its own.
    pub(crate) fn waiting(delivery: oneshot::Receiver<Result<T, ClientError>>) -> Self {
        DeliveryFuture { state: DeliveryState::Waiting(delivery) }
    }

    /// A future that resolves as `delivery` does.
    pub(crate) fn from_future(
        delivery: impl Future<Output = Result<T, ClientError>> + Send + 'static,
    ) -> Self {
        DeliveryFuture { state: DeliveryState::Pending(Box::pin(delivery)) }
    }

    pub(crate) fn failed(e: ClientError) -> Self {
        DeliveryFuture { state: DeliveryState::Failed(Some(e)) }
    }
}

impl<T> std::fmt::Debug for DeliveryFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryFuture")
    }
}

impl<T> Unpin for DeliveryFuture<T> {}

impl<T> Future for DeliveryFuture<T> {
    type Output = Result<T, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            DeliveryState::Waiting(rx) => {
                Pin::new(rx).poll(cx).map(|r| r.unwrap_or(Err(ClientError::Closed)))
            }
            DeliveryState::Pending(fut) => fut.as_mut().poll(cx),
            DeliveryState::Failed(e) => Poll::Ready(Err(e.take().unwrap_or(ClientError::Closed))),
        }
    }
}

/// Now, in ms since the epoch: the timestamp of a record sent without one.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64)
}
