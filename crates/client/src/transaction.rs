//! Transactions for typed producers: records sent to several topics through their
//! `Producer<T>`s and a consumer group's offsets become visible together when the
//! transaction commits, and never if it aborts (the broker's coordinator, over the
//! `Transactions` gRPC service; docs/transactions.md).
//!
//! ```no_run
//! # use runnel_client::{Client, ClientError, Producer};
//! # async fn run(client: Client, orders: Producer<String>, audit: Producer<String>) -> Result<(), ClientError> {
//! let mut tx = client.transaction("order-pipeline").await?; // fences older holders of the id
//! tx.send(&orders, &"order-1".to_owned()).await?;
//! tx.send(&audit, &"order-1 accepted".to_owned()).await?;
//! tx.commit_offsets("order-workers", "incoming", &[(0, 42)]).await?; // input consumed up to 42
//! tx.commit().await?; // all of it, or (on error, or `tx.abort()`) none of it
//! # Ok(())
//! # }
//! ```
//!
//! Records are buffered in the transaction and written when it commits (or on
//! [`Transaction::flush`]), one batch per partition.
//! Each [`Client::transaction`] call starts a new producer epoch of its transactional id,
//! which aborts whatever an earlier holder left open and fences it: a zombie worker's
//! commit fails with [`ClientError::Transaction`]. A transaction dropped without `commit`
//! or `abort` stays open on the broker until its timeout aborts it.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use runnel_avro::Avro;
use runnel_proto::v1;
use runnel_proto::BatchBuilder;

use crate::client::Client;
use crate::error::ClientError;
use crate::grpc::connection::Connection;
use crate::partitioner::partition_for_key;
use crate::producer::Producer;
use crate::transport::now_ms;

/// A record waiting in a transaction.
struct Pending {
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Bytes)>,
    timestamp_ms: i64,
}

/// An open transaction of a transactional id; see the module documentation.
pub struct Transaction {
    connection: Connection,
    transactional_id: String,
    producer_id: i64,
    epoch: u32,
    /// Records by (topic, partition), in send order.
    pending: BTreeMap<(String, u32), Vec<Pending>>,
    /// Partition counts of the topics sent to.
    partitions: HashMap<String, u32>,
    /// Round-robin position for records without a key.
    next: u32,
    /// Next sequence number per partition written to (this epoch's, from 0).
    sequences: HashMap<(String, u32), i32>,
    /// Whether anything was added on the broker (offsets), so that abort has something to end.
    begun: bool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("transactional_id", &self.transactional_id)
            .field("producer_id", &self.producer_id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A refusal of the `Transactions` service as a client error.
fn txn_error(status: tonic::Status) -> ClientError {
    match status.code() {
        tonic::Code::FailedPrecondition | tonic::Code::NotFound => {
            ClientError::Transaction(status.message().to_owned())
        }
        tonic::Code::InvalidArgument => ClientError::InvalidArgument(status.message().to_owned()),
        _ => ClientError::Transport(status),
    }
}

impl Client {
    /// Begins a transaction under `transactional_id` (a name stable across restarts of the
    /// worker that owns it): the broker gives the id a new epoch, aborting what an earlier
    /// holder left open and fencing it. Needs a Runnel broker (not a Kafka client).
    pub async fn transaction(&self, transactional_id: impl Into<String>) -> Result<Transaction, ClientError> {
        let transactional_id = transactional_id.into();
        let connection = self.connection().clone();
        let req = v1::InitTransactionsRequest { transactional_id: transactional_id.clone(), timeout_ms: 0 };
        let resp = connection.transactions().init_transactions(req).await.map_err(txn_error)?.into_inner();
        Ok(Transaction {
            connection,
            transactional_id,
            producer_id: resp.producer_id,
            epoch: resp.epoch,
            pending: BTreeMap::new(),
            partitions: HashMap::new(),
            next: 0,
            sequences: HashMap::new(),
            begun: false,
        })
    }
}

impl Transaction {
    fn producer(&self) -> v1::TxnProducer {
        v1::TxnProducer {
            transactional_id: self.transactional_id.clone(),
            producer_id: self.producer_id,
            epoch: self.epoch,
        }
    }

    async fn partition_count(&mut self, topic: &str) -> Result<u32, ClientError> {
        if let Some(&n) = self.partitions.get(topic) {
            return Ok(n);
        }
        let info = self
            .connection
            .admin()
            .describe_topic(v1::TopicRef { topic: topic.to_owned() })
            .await
            .map_err(|s| ClientError::from_topic_status(topic, s))?
            .into_inner();
        let n = (info.partitions.len() as u32).max(1);
        self.partitions.insert(topic.to_owned(), n);
        Ok(n)
    }

    /// Adds `value` to the transaction, encoded and keyed as `producer` sends it, to the
    /// partition its key hashes to (round-robin without a key). Written at `commit`.
    pub async fn send<T: Avro>(&mut self, producer: &Producer<T>, value: &T) -> Result<(), ClientError> {
        self.send_with_key(producer, None, value).await
    }

    /// Like [`send`](Self::send) with an explicit key (`None`: the producer's key function).
    pub async fn send_with_key<T: Avro>(
        &mut self,
        producer: &Producer<T>,
        key: Option<Bytes>,
        value: &T,
    ) -> Result<(), ClientError> {
        let (key, value) = producer.encode_record(value, key);
        self.push(producer.topic(), None, key, Some(value), Vec::new(), now_ms()).await
    }

    /// Adds an encoded record to `topic`: to `partition`, else where its key hashes
    /// (round-robin without a key). `value` None is a tombstone.
    pub(crate) async fn push(
        &mut self,
        topic: &str,
        partition: Option<u32>,
        key: Option<Bytes>,
        value: Option<Bytes>,
        headers: Vec<(String, Bytes)>,
        timestamp_ms: i64,
    ) -> Result<(), ClientError> {
        let n = self.partition_count(topic).await?;
        let partition = match (partition, &key) {
            (Some(p), _) if p < n => p,
            (Some(p), _) => {
                return Err(ClientError::InvalidArgument(format!(
                    "topic '{topic}' has {n} partitions, not a partition {p}"
                )))
            }
            (None, Some(k)) => partition_for_key(k, n),
            (None, None) => {
                self.next = self.next.wrapping_add(1);
                self.next % n
            }
        };
        self.pending.entry((topic.to_owned(), partition)).or_default().push(Pending {
            key,
            value,
            headers,
            timestamp_ms,
        });
        Ok(())
    }

    /// Commits `offsets` (partition, next offset to read) of `group` on `topic` with the
    /// transaction: the group's committed offsets move only if it commits.
    pub async fn commit_offsets(
        &mut self,
        group: &str,
        topic: &str,
        offsets: &[(u32, i64)],
    ) -> Result<(), ClientError> {
        let req = v1::TxnCommitOffsetsRequest {
            producer: Some(self.producer()),
            group: group.to_owned(),
            topic: topic.to_owned(),
            offsets: offsets
                .iter()
                .map(|&(partition, offset)| v1::PartitionOffset { partition, offset, timestamp_ms: 0 })
                .collect(),
        };
        self.begun = true;
        self.connection.transactions().commit_offsets(req).await.map_err(txn_error)?;
        Ok(())
    }

    /// Writes the records buffered so far to the broker, still uncommitted (invisible to
    /// committed readers), freeing their memory: for transactions larger than memory or
    /// than one batch. `commit` writes whatever is left.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        self.write_pending().await
    }

    /// Writes the buffered records (one transactional batch per partition) and commits:
    /// when this returns, committed readers see every record and the group its offsets. On
    /// an error the transaction is aborted (if the broker still lets this producer end it)
    /// and the error returned.
    pub async fn commit(mut self) -> Result<(), ClientError> {
        self.commit_and_continue().await
    }

    /// Commits like [`commit`](Self::commit), keeping the handle for the next transaction
    /// of the same producer epoch (no new `InitTransactions`, so no fencing round trip):
    /// for loops that commit every turn. On an error the transaction is aborted if the
    /// broker still lets this producer end it, and the error returned.
    pub(crate) async fn commit_and_continue(&mut self) -> Result<(), ClientError> {
        match self.write_pending().await {
            Ok(()) => self.end(true).await,
            Err(e) => {
                self.pending.clear();
                if let Err(abort) = self.end(false).await {
                    tracing::debug!(error = %abort, "aborting the failed transaction failed");
                }
                Err(e)
            }
        }
    }

    /// Aborts: nothing of the transaction becomes visible to committed readers.
    pub async fn abort(mut self) -> Result<(), ClientError> {
        self.pending.clear();
        self.end(false).await
    }

    async fn end(&mut self, commit: bool) -> Result<(), ClientError> {
        if !self.begun {
            return Ok(()); // nothing was added: there is no transaction on the broker
        }
        let req = v1::EndTransactionRequest { producer: Some(self.producer()), commit };
        self.connection.transactions().end_transaction(req).await.map_err(txn_error)?;
        self.begun = false;
        Ok(())
    }

    async fn write_pending(&mut self) -> Result<(), ClientError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let req = v1::AddTxnPartitionsRequest {
            producer: Some(self.producer()),
            partitions: self
                .pending
                .keys()
                .map(|(topic, partition)| v1::TxnPartition { topic: topic.clone(), partition: *partition })
                .collect(),
        };
        self.begun = true;
        self.connection.transactions().add_partitions(req).await.map_err(txn_error)?;
        let epoch = i16::try_from(self.epoch).unwrap_or(i16::MAX);
        let mut produces = Vec::with_capacity(self.pending.len());
        for ((topic, partition), records) in std::mem::take(&mut self.pending) {
            let mut b = BatchBuilder::new();
            for r in &records {
                let headers: Vec<(&str, &[u8])> =
                    r.headers.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
                b.push(r.key.as_deref(), r.value.as_deref(), r.timestamp_ms, &headers);
            }
            // Each `Client::transaction` is a new epoch, whose sequences start at 0 in every
            // partition (the broker takes a new epoch's first batch at any sequence).
            let seq = self.sequences.entry((topic.clone(), partition)).or_insert(0);
            let batch = b.finish_transactional(self.producer_id, epoch, *seq);
            *seq = seq.wrapping_add(records.len() as i32);
            let mut broker = self.connection.broker();
            let req = v1::ProduceRequest { correlation_id: 0, topic: topic.clone(), partition, batch };
            produces.push(async move {
                let resp =
                    broker.produce(req).await.map_err(|s| ClientError::from_topic_status(&topic, s))?;
                match resp.into_inner().error {
                    Some(e) => Err(ClientError::from_broker(&topic, partition, &e)),
                    None => Ok(()),
                }
            });
        }
        for r in futures::future::join_all(produces).await {
            r?;
        }
        Ok(())
    }
}
