//! Persistence of subscriptions' state in the broker's redb metadata (`meta.redb`),
//! three tables, every row stamped with its topic's creation time so that rows left by a
//! deleted topic are harmless to a new topic of the same name (they are ignored, and
//! the delivery rows among them removed):
//!
//! - `subscription_acks`: one row per (topic, subscription, partition) holding the
//!   [`AckState`]'s compact encoding;
//! - `subscription_deliveries`: one row per (topic, subscription, partition, offset) of a
//!   record that was delivered and is not yet acknowledged nor dead-lettered, holding how
//!   many times it was delivered; written before a redelivery is handed out (see
//!   `dispatcher`), removed with the acknowledgement that ends it;
//! - `subscription_dispatched`: one row per (topic, subscription, partition) holding a
//!   mark above every offset ever handed out as a first delivery, raised ahead in leaps.
//!
//! Writes come in batches from the dispatcher, one transaction per batch, never one per
//! ack: acknowledgement state every few hundred milliseconds and on shutdown; delivery
//! counts and marks once per dispatcher turn that needs them.
//! The one other writer is a position carried from another cluster by geo-replication
//! (`Subscriptions::carry`), written only while no dispatcher runs for the subscription;
//! the replicator reads positions to carry with [`positions`].

use std::collections::HashMap;

use redb::{ReadableDatabase, TableDefinition};

use super::acks::AckState;
use crate::error::BrokerError;
use crate::meta::Meta;

/// (topic, subscription, partition) → topic `created_ms` (8 bytes, big-endian) + encoded `AckState`.
const ACKS: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("subscription_acks");
/// (topic, subscription, partition, offset) → (topic `created_ms`, deliveries).
const DELIVERIES: TableDefinition<(&str, &str, u32, i64), (i64, u32)> =
    TableDefinition::new("subscription_deliveries");
/// (topic, subscription, partition) → (topic `created_ms`, the dispatched mark).
const DISPATCHED: TableDefinition<(&str, &str, u32), (i64, i64)> =
    TableDefinition::new("subscription_dispatched");

/// A subscription's stored state.
#[derive(Debug, Default)]
pub struct Stored {
    /// Acknowledgement state by partition; partitions without a row are absent.
    pub acks: HashMap<u32, AckState>,
    /// Delivery counts of delivered, unacknowledged records, by (partition, offset).
    pub deliveries: HashMap<(u32, i64), u32>,
    /// Delivery rows of an earlier topic of this name, to remove.
    pub stale: Vec<(u32, i64)>,
    /// By partition: every offset handed out as a first delivery is below it.
    pub dispatched: HashMap<u32, i64>,
}

/// What one write changes: each part may be empty.
#[derive(Debug, Default)]
pub struct Changes {
    /// Acknowledgement state of some partitions.
    pub acks: Vec<(u32, AckState)>,
    /// Delivery counts to store, by (partition, offset).
    pub deliveries: Vec<((u32, i64), u32)>,
    /// Delivery rows to remove (their records were acknowledged or dead-lettered).
    pub cleared: Vec<(u32, i64)>,
    /// Dispatched marks of some partitions.
    pub dispatched: Vec<(u32, i64)>,
}

impl Changes {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
            && self.deliveries.is_empty()
            && self.cleared.is_empty()
            && self.dispatched.is_empty()
    }
}

fn missing_is_empty<T>(opened: Result<T, redb::TableError>) -> Result<Option<T>, BrokerError> {
    match opened {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(BrokerError::meta(e)),
    }
}

/// Loads the stored state of a subscription of the topic created at `created_ms`; rows of
/// an older topic of that name are ignored.
pub fn load(meta: &Meta, topic: &str, subscription: &str, created_ms: i64) -> Result<Stored, BrokerError> {
    let tx = meta.db().begin_read().map_err(BrokerError::meta)?;
    let mut out = Stored::default();
    if let Some(table) = missing_is_empty(tx.open_table(ACKS))? {
        let range = (topic, subscription, 0)..=(topic, subscription, u32::MAX);
        for entry in table.range(range).map_err(BrokerError::meta)? {
            let (k, v) = entry.map_err(BrokerError::meta)?;
            let bytes = v.value();
            let Some((stamp, state)) = bytes.split_first_chunk::<8>() else {
                return Err(BrokerError::Meta(format!(
                    "subscription '{subscription}' on '{topic}': short row"
                )));
            };
            if i64::from_be_bytes(*stamp) != created_ms {
                continue; // written for an earlier topic of this name
            }
            let state = AckState::decode(state)
                .map_err(|e| BrokerError::Meta(format!("subscription '{subscription}' on '{topic}': {e}")))?;
            out.acks.insert(k.value().2, state);
        }
    }
    if let Some(table) = missing_is_empty(tx.open_table(DELIVERIES))? {
        let range = (topic, subscription, 0, i64::MIN)..=(topic, subscription, u32::MAX, i64::MAX);
        for entry in table.range(range).map_err(BrokerError::meta)? {
            let (k, v) = entry.map_err(BrokerError::meta)?;
            let (_, _, partition, offset) = k.value();
            let (stamp, deliveries) = v.value();
            if stamp == created_ms {
                out.deliveries.insert((partition, offset), deliveries);
            } else {
                out.stale.push((partition, offset));
            }
        }
    }
    if let Some(table) = missing_is_empty(tx.open_table(DISPATCHED))? {
        let range = (topic, subscription, 0)..=(topic, subscription, u32::MAX);
        for entry in table.range(range).map_err(BrokerError::meta)? {
            let (k, v) = entry.map_err(BrokerError::meta)?;
            let (stamp, mark) = v.value();
            if stamp == created_ms {
                out.dispatched.insert(k.value().2, mark);
            }
        }
    }
    Ok(out)
}

/// Every subscription's position on the topic created at `created_ms`, as (subscription,
/// partition, the offset below which everything is acknowledged), from the stored state
/// (at most a flush interval behind the dispatchers'). For the replicator.
pub fn positions(meta: &Meta, topic: &str, created_ms: i64) -> Result<Vec<(String, u32, i64)>, BrokerError> {
    let tx = meta.db().begin_read().map_err(BrokerError::meta)?;
    let mut out = Vec::new();
    let Some(table) = missing_is_empty(tx.open_table(ACKS))? else { return Ok(out) };
    for entry in table.range((topic, "", 0)..).map_err(BrokerError::meta)? {
        let (k, v) = entry.map_err(BrokerError::meta)?;
        let (t, subscription, partition) = k.value();
        if t != topic {
            break;
        }
        let Some((stamp, state)) = v.value().split_first_chunk::<8>() else { continue };
        if i64::from_be_bytes(*stamp) != created_ms {
            continue;
        }
        let Ok(state) = AckState::decode(state) else { continue };
        out.push((subscription.to_owned(), partition, state.mark_delete()));
    }
    Ok(out)
}

/// Writes `changes` to a subscription of the topic created at `created_ms`, in one
/// transaction.
pub fn save(
    meta: &Meta,
    topic: &str,
    subscription: &str,
    created_ms: i64,
    changes: &Changes,
) -> Result<(), BrokerError> {
    let tx = meta.db().begin_write().map_err(BrokerError::meta)?;
    if !changes.acks.is_empty() {
        let mut table = tx.open_table(ACKS).map_err(BrokerError::meta)?;
        let mut row = Vec::new();
        for (p, state) in &changes.acks {
            row.clear();
            row.extend_from_slice(&created_ms.to_be_bytes());
            row.extend_from_slice(&state.encode());
            table.insert((topic, subscription, *p), row.as_slice()).map_err(BrokerError::meta)?;
        }
    }
    if !changes.deliveries.is_empty() || !changes.cleared.is_empty() {
        let mut table = tx.open_table(DELIVERIES).map_err(BrokerError::meta)?;
        for &((p, offset), deliveries) in &changes.deliveries {
            table
                .insert((topic, subscription, p, offset), (created_ms, deliveries))
                .map_err(BrokerError::meta)?;
        }
        for &(p, offset) in &changes.cleared {
            table.remove((topic, subscription, p, offset)).map_err(BrokerError::meta)?;
        }
    }
    if !changes.dispatched.is_empty() {
        let mut table = tx.open_table(DISPATCHED).map_err(BrokerError::meta)?;
        for &(p, mark) in &changes.dispatched {
            table.insert((topic, subscription, p), (created_ms, mark)).map_err(BrokerError::meta)?;
        }
    }
    tx.commit().map_err(BrokerError::meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acks(partitions: &[(u32, AckState)]) -> Changes {
        Changes { acks: partitions.to_vec(), ..Default::default() }
    }

    #[test]
    fn state_survives_reopening_and_ignores_rows_of_an_older_topic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        let mut s = AckState::starting_at(10);
        s.ack(12);
        {
            let meta = Meta::open(&path).unwrap();
            assert!(load(&meta, "t", "sub", 1).unwrap().acks.is_empty());
            save(&meta, "t", "sub", 1, &acks(&[(0, s.clone()), (3, AckState::starting_at(7))])).unwrap();
            save(&meta, "t", "other", 1, &acks(&[(0, AckState::starting_at(99))])).unwrap();
        }
        let meta = Meta::open(&path).unwrap();
        let loaded = load(&meta, "t", "sub", 1).unwrap().acks;
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[&0], s);
        assert_eq!(loaded[&3].mark_delete(), 7);
        assert!(load(&meta, "t", "sub", 2).unwrap().acks.is_empty(), "a recreated topic starts afresh");
    }

    #[test]
    fn delivery_counts_and_marks_survive_reopening_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let meta = Meta::open(&path).unwrap();
            let empty = load(&meta, "t", "sub", 1).unwrap();
            assert!(empty.deliveries.is_empty() && empty.dispatched.is_empty());
            let counts = vec![((0, 5), 2), ((0, 9), 1), ((2, 5), 4)];
            save(
                &meta,
                "t",
                "sub",
                1,
                &Changes { deliveries: counts, dispatched: vec![(0, 100)], ..Default::default() },
            )
            .unwrap();
            save(&meta, "t", "other", 1, &Changes { deliveries: vec![((0, 5), 7)], ..Default::default() })
                .unwrap();
            // One count raised, one record acknowledged.
            save(
                &meta,
                "t",
                "sub",
                1,
                &Changes { deliveries: vec![((0, 5), 3)], cleared: vec![(0, 9)], ..Default::default() },
            )
            .unwrap();
        }
        let meta = Meta::open(&path).unwrap();
        let loaded = load(&meta, "t", "sub", 1).unwrap();
        assert_eq!(loaded.deliveries, HashMap::from([((0, 5), 3), ((2, 5), 4)]));
        assert_eq!(loaded.dispatched, HashMap::from([(0, 100)]));
        assert!(loaded.stale.is_empty());
        let recreated = load(&meta, "t", "sub", 2).unwrap();
        assert!(
            recreated.deliveries.is_empty() && recreated.dispatched.is_empty(),
            "a recreated topic starts afresh"
        );
        let mut stale = recreated.stale;
        stale.sort_unstable();
        assert_eq!(stale, vec![(0, 5), (2, 5)], "an older topic's rows are named for removal");
    }
}
