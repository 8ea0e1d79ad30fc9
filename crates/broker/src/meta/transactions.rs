//! The transaction coordinator's table in `meta.redb`: one record per transactional id
//! (its producer id and epoch, state, partitions, groups and pending offsets), as JSON.
//!
//! A record is written *before* the coordinator acts on it (before a produce to an added
//! partition is accepted, before the first marker is written), so after a crash at any
//! point the table says what may be in the logs: a `PrepareCommit`/`PrepareAbort` is
//! completed again on start, an `Ongoing` one is aborted by its timeout. Completing a
//! commit stores the transaction's offsets in `group_offsets` and the completed record in
//! one redb transaction, so offsets are applied exactly when the commit completes.

use std::collections::BTreeSet;

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::{short_name, Meta, OFFSETS};
use crate::error::BrokerError;

/// Transactional id → its record, JSON.
pub(super) const TRANSACTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("transactions");

/// Where a transactional id's current transaction is (Kafka's `TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    /// A producer id is assigned; no transaction has begun.
    Empty,
    /// A transaction is open: partitions or groups were added.
    Ongoing,
    /// Commit decided: commit markers are being written (completed again after a crash).
    PrepareCommit,
    /// Abort decided: abort markers are being written (completed again after a crash).
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

/// A consumer group's offset held in a transaction until it commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOffset {
    /// The group.
    pub group: String,
    /// The topic (its short name).
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The next offset to read.
    pub offset: i64,
}

/// One transactional id's coordinator state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The producer's transactional id (the key).
    pub transactional_id: String,
    /// The producer id it maps to.
    pub producer_id: i64,
    /// The current epoch; older epochs are fenced.
    pub epoch: i16,
    /// The transaction timeout the producer asked for.
    pub timeout_ms: u32,
    /// The state.
    pub state: TxnState,
    /// Partitions in the current transaction, (topic short name, partition).
    pub partitions: BTreeSet<(String, u32)>,
    /// Groups whose offsets the current transaction may commit.
    pub groups: BTreeSet<String>,
    /// Offsets committed with the transaction, applied when it commits.
    pub offsets: Vec<PendingOffset>,
    /// When the current transaction began (ms since the epoch), for its timeout.
    pub started_ms: i64,
}

impl Meta {
    /// Every transactional id's record.
    pub fn transactions(&self) -> Result<Vec<TxnRecord>, BrokerError> {
        self.all_json(TRANSACTIONS)
    }

    /// Stores (creates or replaces) a transactional id's record.
    pub fn put_transaction(&self, record: &TxnRecord) -> Result<(), BrokerError> {
        self.put_json(TRANSACTIONS, &record.transactional_id, record)
    }

    /// Stores a completed transaction's record and, in the same redb transaction, its
    /// `offsets` into the groups' committed offsets.
    pub fn complete_transaction(
        &self,
        record: &TxnRecord,
        offsets: &[PendingOffset],
    ) -> Result<(), BrokerError> {
        let json = serde_json::to_vec(record).map_err(BrokerError::meta)?;
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        {
            let mut table = tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
            for o in offsets {
                let topic = short_name(&o.topic);
                table
                    .insert((o.group.as_str(), topic.as_ref(), o.partition), o.offset)
                    .map_err(BrokerError::meta)?;
            }
            tx.open_table(TRANSACTIONS)
                .map_err(BrokerError::meta)?
                .insert(record.transactional_id.as_str(), json.as_slice())
                .map_err(BrokerError::meta)?;
        }
        tx.commit().map_err(BrokerError::meta)
    }
}
