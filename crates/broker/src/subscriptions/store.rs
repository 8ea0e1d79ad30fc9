//! Persistence of subscriptions' acknowledgement state in the broker's redb
//! metadata (`meta.redb`, table `subscription_acks`): one row per (topic,
//! subscription, partition) holding the topic's creation time and the
//! [`AckState`]'s compact encoding. The creation time makes rows left by a
//! deleted topic harmless to a new topic of the same name: they are ignored.
//!
//! Writes come in batches from the dispatcher (every few hundred milliseconds
//! and on shutdown), one transaction per batch, never one per ack.

use std::collections::HashMap;

use redb::{ReadableDatabase, TableDefinition};

use super::acks::AckState;
use crate::error::BrokerError;
use crate::meta::Meta;

/// (topic, subscription, partition) → topic `created_ms` (8 bytes, big-endian) + encoded `AckState`.
const ACKS: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("subscription_acks");

/// Loads the stored state of every partition of a subscription; partitions
/// without a row (or with a row of an older topic of that name) are absent.
pub fn load(
    meta: &Meta,
    topic: &str,
    subscription: &str,
    created_ms: i64,
) -> Result<HashMap<u32, AckState>, BrokerError> {
    let tx = meta.db().begin_read().map_err(BrokerError::meta)?;
    let table = match tx.open_table(ACKS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
        Err(e) => return Err(BrokerError::meta(e)),
    };
    let mut out = HashMap::new();
    let range = (topic, subscription, 0)..=(topic, subscription, u32::MAX);
    for entry in table.range(range).map_err(BrokerError::meta)? {
        let (k, v) = entry.map_err(BrokerError::meta)?;
        let bytes = v.value();
        let Some((stamp, state)) = bytes.split_first_chunk::<8>() else {
            return Err(BrokerError::Meta(format!("subscription '{subscription}' on '{topic}': short row")));
        };
        if i64::from_be_bytes(*stamp) != created_ms {
            continue; // written for an earlier topic of this name
        }
        let state = AckState::decode(state)
            .map_err(|e| BrokerError::Meta(format!("subscription '{subscription}' on '{topic}': {e}")))?;
        out.insert(k.value().2, state);
    }
    Ok(out)
}

/// Stores the state of some partitions of a subscription in one transaction.
pub fn save(
    meta: &Meta,
    topic: &str,
    subscription: &str,
    created_ms: i64,
    partitions: &[(u32, AckState)],
) -> Result<(), BrokerError> {
    let tx = meta.db().begin_write().map_err(BrokerError::meta)?;
    {
        let mut table = tx.open_table(ACKS).map_err(BrokerError::meta)?;
        let mut row = Vec::new();
        for (p, state) in partitions {
            row.clear();
            row.extend_from_slice(&created_ms.to_be_bytes());
            row.extend_from_slice(&state.encode());
            table.insert((topic, subscription, *p), row.as_slice()).map_err(BrokerError::meta)?;
        }
    }
    tx.commit().map_err(BrokerError::meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_survives_reopening_and_ignores_rows_of_an_older_topic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        let mut s = AckState::starting_at(10);
        s.ack(12);
        {
            let meta = Meta::open(&path).unwrap();
            assert!(load(&meta, "t", "sub", 1).unwrap().is_empty());
            save(&meta, "t", "sub", 1, &[(0, s.clone()), (3, AckState::starting_at(7))]).unwrap();
            save(&meta, "t", "other", 1, &[(0, AckState::starting_at(99))]).unwrap();
        }
        let meta = Meta::open(&path).unwrap();
        let loaded = load(&meta, "t", "sub", 1).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[&0], s);
        assert_eq!(loaded[&3].mark_delete(), 7);
        assert!(load(&meta, "t", "sub", 2).unwrap().is_empty(), "a recreated topic starts afresh");
    }
}
