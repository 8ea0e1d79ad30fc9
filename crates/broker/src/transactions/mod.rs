//! The transaction coordinator: Kafka's transactions (KIP-98) as a broker service that the
//! Kafka listener and the gRPC front end both call.
//!
//! It owns one record per transactional id (`meta::transactions::TxnRecord`: producer id,
//! epoch, state, partitions, groups, pending offsets) and the state machine over it:
//!
//! ```text
//!            init_producer (epoch + 1; an open transaction is aborted first)
//!   Empty / CompleteCommit / CompleteAbort ──add_partitions / add_offsets──▶ Ongoing
//!   Ongoing ──end(commit)──▶ PrepareCommit ──markers, offsets──▶ CompleteCommit
//!   Ongoing ──end(abort) / timeout / init──▶ PrepareAbort ──markers──▶ CompleteAbort
//! ```
//!
//! Every transition is stored in `meta.redb` before it takes effect, so a SIGKILL at any
//! point leaves a state that [`Transactions::recover`] finishes: `Prepare*` is completed
//! (markers written again where the partition's log still shows the transaction open, so
//! completing twice writes nothing twice), `Ongoing` is aborted by its timeout
//! ([`Transactions::run_timeouts`]). Markers are control batches appended straight to the
//! partition logs (`markers.rs`); the logs keep the last stable offset and the aborted
//! index from them (`log/txn.rs`).
//!
//! Produce calls [`Transactions::admit`] for every transactional batch: the batch must
//! carry the current epoch and belong to a partition added to the open transaction. The
//! returned [`Admission`] is held until the batch is queued to its partition, and ending a
//! transaction waits until no admission is held, so every admitted batch is in its
//! partition's queue before the marker: no batch of a transaction lands after its marker.
//!
//! The full design, with the failure cases, is `docs/transactions.md`.

mod error;
mod markers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use error::TxnError;

use crate::error::BrokerError;
use crate::meta::transactions::{PendingOffset, TxnRecord, TxnState};
use crate::meta::Meta;
use crate::topics::Topics;

/// The longest transaction timeout a producer may ask for (Kafka's
/// `transaction.max.timeout.ms` default, 15 minutes); longer is INVALID_TRANSACTION_TIMEOUT.
pub const MAX_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How often open transactions are checked against their timeout.
const TIMEOUT_CHECK: Duration = Duration::from_millis(200);

/// One transactional id's state in memory.
#[derive(Debug)]
struct Slot {
    /// Serializes the coordinator's operations on this id: each stores a record and may
    /// write markers, and the next must see the result.
    op: Arc<tokio::sync::Mutex<()>>,
    /// The record as last stored (or about to be), and the admissions held.
    state: Mutex<SlotState>,
    /// Woken when the last admission is released.
    drained: Notify,
}

#[derive(Debug)]
struct SlotState {
    record: TxnRecord,
    /// Transactional batches admitted and not yet queued to their partitions.
    in_flight: usize,
}

/// A transactional batch's admission: hold it until the batch is queued to its partition.
#[derive(Debug)]
pub struct Admission {
    slot: Arc<Slot>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut st = self.slot.state.lock();
        st.in_flight -= 1;
        if st.in_flight == 0 {
            self.slot.drained.notify_waiters();
        }
    }
}

/// The transaction coordinator.
#[derive(Debug)]
pub struct Transactions {
    meta: Arc<Meta>,
    /// The partitions markers are written to.
    topics: Arc<Topics>,
    /// Transactional id → its slot.
    ids: Mutex<HashMap<String, Arc<Slot>>>,
    /// Producer id → the slot of the transactional id it belongs to (for produce).
    by_producer: Mutex<HashMap<i64, Arc<Slot>>>,
    /// Serializes first initializations, so that an id gets one producer id.
    first_init: tokio::sync::Mutex<()>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Runs blocking meta.redb work off the runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BrokerError> + Send + 'static,
) -> Result<T, BrokerError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BrokerError::Storage(format!("task failed: {e}")))?
}

impl Transactions {
    /// The coordinator over `meta` (its records and the producer id counter) writing
    /// markers to `topics`. Call [`recover`](Self::recover) before serving.
    pub fn new(meta: Arc<Meta>, topics: Arc<Topics>) -> Transactions {
        Transactions {
            meta,
            topics,
            ids: Mutex::default(),
            by_producer: Mutex::default(),
            first_init: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads every record and completes the transactions a crash left in `PrepareCommit` or
    /// `PrepareAbort`. `Ongoing` ones stay open until their timeout aborts them (their
    /// producer may still be alive and commit; a restart alone does not decide).
    pub async fn recover(&self) -> Result<(), BrokerError> {
        let meta = Arc::clone(&self.meta);
        let records = blocking(move || meta.transactions()).await?;
        let mut unfinished = Vec::new();
        for record in records {
            let slot = self.slot_for(record.clone());
            if matches!(record.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                unfinished.push(slot);
            }
        }
        for slot in unfinished {
            let _op = slot.op.lock().await;
            let record = slot.state.lock().record.clone();
            tracing::info!(
                transactional_id = %record.transactional_id,
                state = ?record.state,
                "completing a transaction interrupted by a restart"
            );
            if let Err(e) = self.complete(&slot, record, true).await {
                tracing::warn!(error = %e, "completing an interrupted transaction failed; retried later");
            }
        }
        Ok(())
    }

    /// Installs a slot for `record` (replacing none: ids are loaded once).
    fn slot_for(&self, record: TxnRecord) -> Arc<Slot> {
        let id = record.transactional_id.clone();
        let pid = record.producer_id;
        let slot = Arc::new(Slot {
            op: Arc::new(tokio::sync::Mutex::new(())),
            state: Mutex::new(SlotState { record, in_flight: 0 }),
            drained: Notify::new(),
        });
        self.ids.lock().insert(id, Arc::clone(&slot));
        self.by_producer.lock().insert(pid, Arc::clone(&slot));
        slot
    }

    fn slot(&self, transactional_id: &str) -> Option<Arc<Slot>> {
        self.ids.lock().get(transactional_id).cloned()
    }

    /// Stores `record` and makes it the slot's state.
    async fn store(&self, slot: &Slot, record: TxnRecord) -> Result<(), BrokerError> {
        let meta = Arc::clone(&self.meta);
        let stored = record.clone();
        blocking(move || meta.put_transaction(&stored)).await?;
        slot.state.lock().record = record;
        Ok(())
    }

    /// InitProducerId with a transactional id: the id's producer id (a new one the first
    /// time) with its epoch bumped, which fences every older producer of the id. A
    /// transaction left open by the previous epoch is aborted first (its markers carry the
    /// new epoch); one left half-completed is completed. `expected` is the producer's
    /// current (id, epoch) when it re-initializes itself (KIP-360); a mismatch is fenced.
    pub async fn init_producer(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        let max = MAX_TRANSACTION_TIMEOUT.as_millis() as i64;
        if timeout_ms <= 0 || i64::from(timeout_ms) > max {
            return Err(TxnError::InvalidTimeout(format!(
                "transaction timeout {timeout_ms} ms is not within 1..={max} ms"
            )));
        }
        if transactional_id.is_empty() {
            return Err(TxnError::InvalidState("the transactional id is empty".into()));
        }
        let slot = match self.slot(transactional_id) {
            Some(slot) => slot,
            None => {
                let _first = self.first_init.lock().await;
                match self.slot(transactional_id) {
                    Some(slot) => slot,
                    None => return self.first_init(transactional_id, timeout_ms as u32).await,
                }
            }
        };
        let _op = slot.op.lock().await;
        let mut record = slot.state.lock().record.clone();
        if let Some((pid, epoch)) = expected {
            if (pid, epoch) != (record.producer_id, record.epoch) {
                return Err(TxnError::Fenced(format!(
                    "transactional id '{transactional_id}' is at producer {} epoch {}, not {pid} epoch {epoch}",
                    record.producer_id, record.epoch
                )));
            }
        }
        match record.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                record = self.complete(&slot, record, false).await?;
            }
            TxnState::Ongoing => {
                tracing::info!(transactional_id, "a new producer epoch aborts the open transaction");
                record.epoch = record.epoch.saturating_add(1);
                record.state = TxnState::PrepareAbort;
                self.store(&slot, record.clone()).await?;
                record = self.complete(&slot, record, false).await?;
            }
            _ => {}
        }
        // As in Kafka, a new epoch starts with no transaction (Empty): EndTxn before
        // anything is added is INVALID_TXN_STATE.
        record.timeout_ms = timeout_ms as u32;
        record.state = TxnState::Empty;
        record.partitions.clear();
        record.groups.clear();
        record.offsets.clear();
        if record.epoch >= i16::MAX - 1 {
            // Epochs are exhausted: the id moves to a new producer id at epoch 0.
            let old = record.producer_id;
            record.producer_id = self.next_producer_id().await?;
            record.epoch = 0;
            self.store(&slot, record.clone()).await?;
            let mut by = self.by_producer.lock();
            by.remove(&old);
            by.insert(record.producer_id, Arc::clone(&slot));
        } else {
            record.epoch += 1;
            self.store(&slot, record.clone()).await?;
        }
        Ok((record.producer_id, record.epoch))
    }

    async fn first_init(&self, transactional_id: &str, timeout_ms: u32) -> Result<(i64, i16), TxnError> {
        let producer_id = self.next_producer_id().await?;
        let record = TxnRecord {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            epoch: 0,
            timeout_ms,
            state: TxnState::Empty,
            partitions: Default::default(),
            groups: Default::default(),
            offsets: Vec::new(),
            started_ms: 0,
        };
        let meta = Arc::clone(&self.meta);
        let stored = record.clone();
        blocking(move || meta.put_transaction(&stored)).await?;
        self.slot_for(record);
        Ok((producer_id, 0))
    }

    async fn next_producer_id(&self) -> Result<i64, BrokerError> {
        let meta = Arc::clone(&self.meta);
        blocking(move || meta.next_producer_id()).await
    }

    /// Checks that `(producer_id, epoch)` is the id's current producer.
    fn check_producer(record: &TxnRecord, producer_id: i64, epoch: i16) -> Result<(), TxnError> {
        if record.producer_id != producer_id {
            return Err(TxnError::UnknownProducer(format!(
                "transactional id '{}' does not belong to producer {producer_id}",
                record.transactional_id
            )));
        }
        if record.epoch != epoch {
            return Err(TxnError::Fenced(format!(
                "transactional id '{}' is at epoch {}, the request has epoch {epoch}",
                record.transactional_id, record.epoch
            )));
        }
        Ok(())
    }

    /// Locks the id's slot and checks the producer; returns the slot, the lock and the record.
    async fn begin_op(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(Arc<Slot>, tokio::sync::OwnedMutexGuard<()>, TxnRecord), TxnError> {
        let slot = self.slot(transactional_id).ok_or_else(|| {
            TxnError::UnknownProducer(format!("unknown transactional id '{transactional_id}'"))
        })?;
        let guard = Arc::clone(&slot.op).lock_owned().await;
        let record = slot.state.lock().record.clone();
        Self::check_producer(&record, producer_id, epoch)?;
        Ok((slot, guard, record))
    }

    /// Opens the transaction if none is open (Empty/Complete* → Ongoing).
    fn open(record: &mut TxnRecord) -> Result<(), TxnError> {
        match record.state {
            TxnState::Ongoing => Ok(()),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                record.state = TxnState::Ongoing;
                record.started_ms = now_ms();
                record.partitions.clear();
                record.groups.clear();
                record.offsets.clear();
                Ok(())
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(TxnError::InvalidState(format!(
                "transactional id '{}' is completing its previous transaction ({:?})",
                record.transactional_id, record.state
            ))),
        }
    }

    /// AddPartitionsToTxn: adds partitions to the open transaction (opening one if none),
    /// stored before the producer may write to them. Unknown partitions refuse the whole
    /// request.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, u32)],
    ) -> Result<(), TxnError> {
        let mut resolved = Vec::with_capacity(partitions.len());
        let mut unknown = Vec::new();
        for (topic, p) in partitions {
            match self.topics.get(topic) {
                Ok(t) if t.partition(*p).is_ok() => resolved.push((t.meta.name.clone(), *p)),
                _ => unknown.push((topic.clone(), *p)),
            }
        }
        if !unknown.is_empty() {
            return Err(TxnError::UnknownPartitions(unknown));
        }
        let (slot, _op, mut record) = self.begin_op(transactional_id, producer_id, epoch).await?;
        Self::open(&mut record)?;
        let before = record.partitions.len();
        record.partitions.extend(resolved);
        if record.partitions.len() != before || slot.state.lock().record.state != TxnState::Ongoing {
            self.store(&slot, record).await?;
        }
        Ok(())
    }

    /// AddOffsetsToTxn: lets the open transaction (opened if none) commit `group`'s offsets.
    pub async fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
    ) -> Result<(), TxnError> {
        let (slot, _op, mut record) = self.begin_op(transactional_id, producer_id, epoch).await?;
        Self::open(&mut record)?;
        record.groups.insert(group.to_owned());
        self.store(&slot, record).await?;
        Ok(())
    }

    /// TxnOffsetCommit: holds `offsets` (topic, partition, next offset) of `group` in the
    /// open transaction; they reach the group's committed offsets only if it commits. The
    /// group must have been added with [`add_offsets`](Self::add_offsets).
    pub async fn commit_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        group: &str,
        offsets: &[(String, u32, i64)],
    ) -> Result<(), TxnError> {
        let (slot, _op, mut record) = self.begin_op(transactional_id, producer_id, epoch).await?;
        if record.state != TxnState::Ongoing || !record.groups.contains(group) {
            return Err(TxnError::InvalidState(format!(
                "group '{group}' was not added to the open transaction of '{transactional_id}' \
                 (AddOffsetsToTxn first)"
            )));
        }
        for (topic, partition, offset) in offsets {
            let topic = self.topics.get(topic).map(|t| t.meta.name.clone()).unwrap_or_else(|_| topic.clone());
            let pending =
                PendingOffset { group: group.to_owned(), topic, partition: *partition, offset: *offset };
            match record.offsets.iter_mut().find(|o| {
                o.group == pending.group && o.topic == pending.topic && o.partition == pending.partition
            }) {
                Some(o) => o.offset = pending.offset,
                None => record.offsets.push(pending),
            }
        }
        // Stored now: after a restart the transaction is still open and its producer may
        // commit it, and the commit must carry these offsets.
        self.store(&slot, record).await?;
        Ok(())
    }

    /// EndTxn: commits or aborts the open transaction, returning once the markers are in
    /// every partition (and, on commit, the offsets are the groups'). Repeating the same
    /// decision for a completed transaction succeeds (a retry); anything else without an
    /// open transaction is INVALID_TXN_STATE.
    pub async fn end(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), TxnError> {
        let (slot, _op, mut record) = self.begin_op(transactional_id, producer_id, epoch).await?;
        let prepare = if commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort };
        let done = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        match record.state {
            TxnState::Ongoing => {
                record.state = prepare;
                self.store(&slot, record.clone()).await?;
                self.complete(&slot, record, false).await?;
                Ok(())
            }
            s if s == prepare => {
                self.complete(&slot, record, false).await?;
                Ok(())
            }
            s if s == done => Ok(()),
            s => Err(TxnError::InvalidState(format!(
                "transactional id '{transactional_id}' has no open transaction to {} (state {s:?})",
                if commit { "commit" } else { "abort" }
            ))),
        }
    }

    /// Finishes a decided transaction (`record` is PrepareCommit or PrepareAbort and
    /// stored): waits for admitted batches to be queued, writes the markers, and stores the
    /// completed record (with the offsets, on commit). `recovering`: after a restart, write
    /// markers only where the partition still has the transaction open.
    async fn complete(
        &self,
        slot: &Slot,
        record: TxnRecord,
        recovering: bool,
    ) -> Result<TxnRecord, TxnError> {
        // No admission is granted outside Ongoing; wait for those already granted.
        loop {
            let drained = slot.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if slot.state.lock().in_flight == 0 {
                break;
            }
            drained.await;
        }
        let commit = record.state == TxnState::PrepareCommit;
        markers::write(&self.topics, &record, commit, recovering).await?;
        let mut done = record.clone();
        done.state = if commit { TxnState::CompleteCommit } else { TxnState::CompleteAbort };
        done.partitions.clear();
        done.groups.clear();
        let offsets = if commit { std::mem::take(&mut done.offsets) } else { Vec::new() };
        done.offsets.clear();
        let meta = Arc::clone(&self.meta);
        let stored = done.clone();
        blocking(move || meta.complete_transaction(&stored, &offsets)).await?;
        tracing::info!(
            transactional_id = %done.transactional_id,
            producer_id = done.producer_id,
            epoch = done.epoch,
            outcome = if commit { "commit" } else { "abort" },
            "transaction completed"
        );
        slot.state.lock().record = done.clone();
        Ok(done)
    }

    /// Admits one transactional batch of `(producer_id, epoch)` for `topic` (its short
    /// name) and `partition`: the producer must be its transactional id's current one and
    /// the partition part of its open transaction. Hold the admission until the batch is
    /// queued to the partition.
    pub fn admit(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: u32,
    ) -> Result<Admission, BrokerError> {
        let slot = self.by_producer.lock().get(&producer_id).cloned().ok_or_else(|| {
            BrokerError::InvalidTxnState(format!("producer {producer_id} has no transactional id"))
        })?;
        {
            let mut st = slot.state.lock();
            let r = &st.record;
            if r.producer_id != producer_id || r.epoch != epoch {
                return Err(BrokerError::Fenced(format!(
                    "transactional producer {producer_id} epoch {epoch} is not the current epoch {}",
                    r.epoch
                )));
            }
            if r.state != TxnState::Ongoing || !r.partitions.contains(&(topic.to_owned(), partition)) {
                return Err(BrokerError::InvalidTxnState(format!(
                    "partition {topic}/{partition} is not in an open transaction of producer {producer_id} \
                     (AddPartitionsToTxn first)"
                )));
            }
            st.in_flight += 1;
        }
        Ok(Admission { slot })
    }

    /// Aborts the open transactions older than their timeout, with the epoch bumped so the
    /// producer that let it expire is fenced; also retries completions that failed. Runs
    /// until `shutdown`.
    pub async fn run_timeouts(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TIMEOUT_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = now_ms();
            let due: Vec<Arc<Slot>> = self
                .ids
                .lock()
                .values()
                .filter(|s| {
                    let r = &s.state.lock().record;
                    match r.state {
                        TxnState::Ongoing => now.saturating_sub(r.started_ms) > i64::from(r.timeout_ms),
                        TxnState::PrepareCommit | TxnState::PrepareAbort => true,
                        _ => false,
                    }
                })
                .cloned()
                .collect();
            for slot in due {
                // An operation in progress decides for itself.
                let Ok(_op) = slot.op.try_lock() else { continue };
                let mut record = slot.state.lock().record.clone();
                let result = match record.state {
                    TxnState::Ongoing
                        if now.saturating_sub(record.started_ms) > i64::from(record.timeout_ms) =>
                    {
                        tracing::info!(
                            transactional_id = %record.transactional_id,
                            timeout_ms = record.timeout_ms,
                            "transaction timed out; aborting it and fencing its producer"
                        );
                        record.epoch = record.epoch.saturating_add(1);
                        record.state = TxnState::PrepareAbort;
                        match self.store(&slot, record.clone()).await {
                            Ok(()) => self.complete(&slot, record, false).await.map(|_| ()),
                            Err(e) => Err(e.into()),
                        }
                    }
                    TxnState::PrepareCommit | TxnState::PrepareAbort => {
                        self.complete(&slot, record, false).await.map(|_| ())
                    }
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "completing a transaction failed; retried later");
                }
            }
        }
    }

    /// Whether an open or completing transaction holds an offset of `group` on `topic`'s
    /// `partition` (Kafka's OffsetFetch answers UNSTABLE_OFFSET_COMMIT for it, KIP-447, so a
    /// read-committed consumer does not start from an offset about to move).
    pub fn has_pending_offset(&self, group: &str, topic: &str, partition: u32) -> bool {
        let topic = self.topics.get(topic).map(|t| t.meta.name.clone()).unwrap_or_else(|_| topic.to_owned());
        self.ids.lock().values().any(|slot| {
            let st = slot.state.lock();
            matches!(st.record.state, TxnState::Ongoing | TxnState::PrepareCommit)
                && st
                    .record
                    .offsets
                    .iter()
                    .any(|o| o.group == group && o.topic == topic && o.partition == partition)
        })
    }

    /// The state of a transactional id (for tests and describe).
    pub fn state_of(&self, transactional_id: &str) -> Option<(i64, i16, TxnState)> {
        let slot = self.slot(transactional_id)?;
        let st = slot.state.lock();
        Some((st.record.producer_id, st.record.epoch, st.record.state))
    }
}
