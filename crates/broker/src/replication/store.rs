//! The replicator's tables in `meta.redb`: the clusters this one knows, the
//! namespaces replicated and to which clusters, the topics that override their
//! namespace's clusters, the producer id each remote handed
//! this cluster, and per (remote, topic, partition) the durable resume position.
//! Nothing else writes these tables.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// Cluster name → [`ClusterRecord`], JSON.
const CLUSTERS: TableDefinition<&str, &[u8]> = TableDefinition::new("replication_clusters");
/// `tenant/namespace` → the clusters taking part, JSON list.
const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("replication_namespaces");
/// Topic → its own clusters, JSON list, overriding its namespace's (empty: not
/// replicated). No entry: the namespace's setting applies.
const TOPICS: TableDefinition<&str, &[u8]> = TableDefinition::new("replication_topics");
/// Remote cluster name → the idempotent producer id it gave this cluster. Kept when the
/// cluster is removed, so that adding it again continues the same producer's sequences.
const PRODUCERS: TableDefinition<&str, i64> = TableDefinition::new("replication_producers");
/// (remote, topic, partition) → [`Position`], JSON.
const POSITIONS: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("replication_positions");

/// A remote cluster as `runnel cluster add` stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub name: String,
    pub url: String,
    pub registry_url: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub ca_cert_pem: Option<String>,
}

/// Where a partition's replication to one remote stands.
///
/// `next_offset` is the first local offset not known to be at the remote and `sequence`
/// the idempotent sequence of the first record after it. `in_flight` is written *before*
/// batches are sent (write-ahead): the batches sent and not yet acknowledged when it was
/// written, in order, each as `(end, count)`: the first covers the local range
/// `[next_offset, end)` and held `count` records of this cluster's origin, sent with
/// `sequence`; each next one starts where the previous ended, with the sequence after it.
/// After a crash the same ranges are sent again with the same sequences and counts, so
/// the remote's producer state answers those it appended as duplicates.
///
/// `pending` is the single-batch form older versions wrote; it is read as a one-batch
/// `in_flight` and never written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub next_offset: i64,
    pub sequence: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<(i64, i32)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_flight: Vec<(i64, i32)>,
}

impl Position {
    /// The batches to send again, in order, whichever form they were stored in.
    pub fn to_resend(&self) -> Vec<(i64, i32)> {
        self.pending.iter().chain(self.in_flight.iter()).copied().collect()
    }
}

fn meta_err(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Meta(e.to_string())
}

/// Creates the tables, so readers never find them missing.
pub fn init(db: &Database) -> Result<(), BrokerError> {
    let tx = db.begin_write().map_err(meta_err)?;
    tx.open_table(CLUSTERS).map_err(meta_err)?;
    tx.open_table(NAMESPACES).map_err(meta_err)?;
    tx.open_table(TOPICS).map_err(meta_err)?;
    tx.open_table(PRODUCERS).map_err(meta_err)?;
    tx.open_table(POSITIONS).map_err(meta_err)?;
    tx.commit().map_err(meta_err)
}

pub fn clusters(db: &Database) -> Result<Vec<ClusterRecord>, BrokerError> {
    let tx = db.begin_read().map_err(meta_err)?;
    let table = tx.open_table(CLUSTERS).map_err(meta_err)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(meta_err)? {
        let (_, v) = entry.map_err(meta_err)?;
        out.push(serde_json::from_slice(v.value()).map_err(meta_err)?);
    }
    Ok(out)
}

pub fn put_cluster(db: &Database, c: &ClusterRecord) -> Result<(), BrokerError> {
    let json = serde_json::to_vec(c).map_err(meta_err)?;
    let tx = db.begin_write().map_err(meta_err)?;
    tx.open_table(CLUSTERS).map_err(meta_err)?.insert(c.name.as_str(), json.as_slice()).map_err(meta_err)?;
    tx.commit().map_err(meta_err)
}

pub fn remove_cluster(db: &Database, name: &str) -> Result<bool, BrokerError> {
    let tx = db.begin_write().map_err(meta_err)?;
    let removed = tx.open_table(CLUSTERS).map_err(meta_err)?.remove(name).map_err(meta_err)?.is_some();
    tx.commit().map_err(meta_err)?;
    Ok(removed)
}

pub fn namespaces(db: &Database) -> Result<Vec<(String, Vec<String>)>, BrokerError> {
    let tx = db.begin_read().map_err(meta_err)?;
    let table = tx.open_table(NAMESPACES).map_err(meta_err)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(meta_err)? {
        let (k, v) = entry.map_err(meta_err)?;
        out.push((k.value().to_owned(), serde_json::from_slice(v.value()).map_err(meta_err)?));
    }
    Ok(out)
}

/// Stores a namespace's clusters; an empty list turns replication off.
pub fn put_namespace(db: &Database, namespace: &str, clusters: &[String]) -> Result<(), BrokerError> {
    let tx = db.begin_write().map_err(meta_err)?;
    {
        let mut table = tx.open_table(NAMESPACES).map_err(meta_err)?;
        if clusters.is_empty() {
            table.remove(namespace).map_err(meta_err)?;
        } else {
            let json = serde_json::to_vec(clusters).map_err(meta_err)?;
            table.insert(namespace, json.as_slice()).map_err(meta_err)?;
        }
    }
    tx.commit().map_err(meta_err)
}

/// Every topic's override of its namespace's clusters.
pub fn topics(db: &Database) -> Result<Vec<(String, Vec<String>)>, BrokerError> {
    let tx = db.begin_read().map_err(meta_err)?;
    let table = tx.open_table(TOPICS).map_err(meta_err)?;
    let mut out = Vec::new();
    for entry in table.iter().map_err(meta_err)? {
        let (k, v) = entry.map_err(meta_err)?;
        out.push((k.value().to_owned(), serde_json::from_slice(v.value()).map_err(meta_err)?));
    }
    Ok(out)
}

/// Stores a topic's own clusters (`Some`, empty: not replicated) or removes its override.
pub fn put_topic(db: &Database, topic: &str, clusters: Option<&[String]>) -> Result<(), BrokerError> {
    let tx = db.begin_write().map_err(meta_err)?;
    {
        let mut table = tx.open_table(TOPICS).map_err(meta_err)?;
        match clusters {
            None => {
                table.remove(topic).map_err(meta_err)?;
            }
            Some(list) => {
                let json = serde_json::to_vec(list).map_err(meta_err)?;
                table.insert(topic, json.as_slice()).map_err(meta_err)?;
            }
        }
    }
    tx.commit().map_err(meta_err)
}

pub fn producer_id(db: &Database, remote: &str) -> Result<Option<i64>, BrokerError> {
    let tx = db.begin_read().map_err(meta_err)?;
    let table = tx.open_table(PRODUCERS).map_err(meta_err)?;
    Ok(table.get(remote).map_err(meta_err)?.map(|v| v.value()))
}

pub fn put_producer_id(db: &Database, remote: &str, pid: i64) -> Result<(), BrokerError> {
    let tx = db.begin_write().map_err(meta_err)?;
    tx.open_table(PRODUCERS).map_err(meta_err)?.insert(remote, pid).map_err(meta_err)?;
    tx.commit().map_err(meta_err)
}

pub fn position(db: &Database, remote: &str, topic: &str, partition: u32) -> Result<Position, BrokerError> {
    let tx = db.begin_read().map_err(meta_err)?;
    let table = tx.open_table(POSITIONS).map_err(meta_err)?;
    match table.get((remote, topic, partition)).map_err(meta_err)? {
        Some(v) => serde_json::from_slice(v.value()).map_err(meta_err),
        None => Ok(Position::default()),
    }
}

pub fn put_position(
    db: &Database,
    remote: &str,
    topic: &str,
    partition: u32,
    p: &Position,
) -> Result<(), BrokerError> {
    let json = serde_json::to_vec(p).map_err(meta_err)?;
    let tx = db.begin_write().map_err(meta_err)?;
    tx.open_table(POSITIONS)
        .map_err(meta_err)?
        .insert((remote, topic, partition), json.as_slice())
        .map_err(meta_err)?;
    tx.commit().map_err(meta_err)
}
