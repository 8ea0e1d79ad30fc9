//! The broker's metadata in redb (`meta.redb`): topic definitions, tenants and
//! namespaces (with quotas and policies), consumer groups' committed offsets and
//! the producer id counter. The log itself is in
//! segment files; this holds only what is small and changes rarely.
//!
//! The stored definitions are in [`records`]; the transaction coordinator's records and
//! table are in [`transactions`]; queue subscriptions keep their own tables in
//! this database (`subscriptions::store`), through `Meta::db`.

pub mod records;
pub mod transactions;

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::BrokerError;
use records::{NamespaceMeta, TenantMeta, TopicMeta};

/// Topic name → its definition, JSON.
const TOPICS: TableDefinition<&str, &[u8]> = TableDefinition::new("topics");
/// (group, topic, partition) → committed offset (the next offset to read).
const OFFSETS: TableDefinition<(&str, &str, u32), i64> = TableDefinition::new("group_offsets");
/// Tenant name → its definition, JSON.
const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
/// `tenant/namespace` → the namespace's definition, JSON.
const NAMESPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("namespaces");
/// Counter name → value.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

const PRODUCER_ID: &str = "producer_id";

/// The metadata store.
#[derive(Debug)]
pub struct Meta {
    db: Database,
}

impl Meta {
    /// Opens or creates `path`.
    pub fn open(path: &Path) -> Result<Meta, BrokerError> {
        let db = Database::create(path).map_err(BrokerError::meta)?;
        // Create the tables so that readers never find them missing.
        let tx = db.begin_write().map_err(BrokerError::meta)?;
        tx.open_table(TOPICS).map_err(BrokerError::meta)?;
        tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
        tx.open_table(COUNTERS).map_err(BrokerError::meta)?;
        tx.open_table(TENANTS).map_err(BrokerError::meta)?;
        tx.open_table(NAMESPACES).map_err(BrokerError::meta)?;
        tx.open_table(transactions::TRANSACTIONS).map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)?;
        Ok(Meta { db })
    }

    /// The database, for modules that keep their own tables (`subscriptions::store`).
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// Every stored topic.
    pub fn topics(&self) -> Result<Vec<TopicMeta>, BrokerError> {
        let tx = self.db.begin_read().map_err(BrokerError::meta)?;
        let table = tx.open_table(TOPICS).map_err(BrokerError::meta)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(BrokerError::meta)? {
            let (_, v) = entry.map_err(BrokerError::meta)?;
            out.push(serde_json::from_slice(v.value()).map_err(BrokerError::meta)?);
        }
        Ok(out)
    }

    /// Stores (creates or replaces) a topic's definition.
    pub fn put_topic(&self, topic: &TopicMeta) -> Result<(), BrokerError> {
        let json = serde_json::to_vec(topic).map_err(BrokerError::meta)?;
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        tx.open_table(TOPICS)
            .map_err(BrokerError::meta)?
            .insert(topic.name.as_str(), json.as_slice())
            .map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)
    }

    /// Removes a topic and every group offset on it.
    pub fn delete_topic(&self, name: &str) -> Result<(), BrokerError> {
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        tx.open_table(TOPICS).map_err(BrokerError::meta)?.remove(name).map_err(BrokerError::meta)?;
        tx.open_table(OFFSETS)
            .map_err(BrokerError::meta)?
            .retain(|(_, topic, _), _| topic != name)
            .map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)
    }

    /// Every stored tenant.
    pub fn tenants(&self) -> Result<Vec<TenantMeta>, BrokerError> {
        self.all_json(TENANTS)
    }

    /// Stores (creates or replaces) a tenant's definition.
    pub fn put_tenant(&self, tenant: &TenantMeta) -> Result<(), BrokerError> {
        self.put_json(TENANTS, &tenant.name, tenant)
    }

    /// Removes a tenant's definition and every namespace of it.
    pub fn delete_tenant(&self, name: &str) -> Result<(), BrokerError> {
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        tx.open_table(TENANTS).map_err(BrokerError::meta)?.remove(name).map_err(BrokerError::meta)?;
        let prefix = format!("{name}/");
        tx.open_table(NAMESPACES)
            .map_err(BrokerError::meta)?
            .retain(|k, _| !k.starts_with(&prefix))
            .map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)
    }

    /// Every stored namespace.
    pub fn namespaces(&self) -> Result<Vec<NamespaceMeta>, BrokerError> {
        self.all_json(NAMESPACES)
    }

    /// Stores (creates or replaces) a namespace's definition.
    pub fn put_namespace(&self, ns: &NamespaceMeta) -> Result<(), BrokerError> {
        self.put_json(NAMESPACES, &ns.name, ns)
    }

    /// Removes a namespace's definition.
    pub fn delete_namespace(&self, name: &str) -> Result<(), BrokerError> {
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        tx.open_table(NAMESPACES).map_err(BrokerError::meta)?.remove(name).map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)
    }

    fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, BrokerError> {
        let tx = self.db.begin_read().map_err(BrokerError::meta)?;
        let table = tx.open_table(table).map_err(BrokerError::meta)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(BrokerError::meta)? {
            let (_, v) = entry.map_err(BrokerError::meta)?;
            out.push(serde_json::from_slice(v.value()).map_err(BrokerError::meta)?);
        }
        Ok(out)
    }

    fn put_json<T: serde::Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<(), BrokerError> {
        let json = serde_json::to_vec(value).map_err(BrokerError::meta)?;
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        tx.open_table(table)
            .map_err(BrokerError::meta)?
            .insert(key, json.as_slice())
            .map_err(BrokerError::meta)?;
        tx.commit().map_err(BrokerError::meta)
    }

    /// Stores committed offsets of a group on a topic, in one transaction.
    pub fn commit_offsets(
        &self,
        group: &str,
        topic: &str,
        offsets: &[(u32, i64)],
    ) -> Result<(), BrokerError> {
        let topic = short_name(topic);
        let topic = topic.as_ref();
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        {
            let mut table = tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
            for &(p, o) in offsets {
                table.insert((group, topic, p), o).map_err(BrokerError::meta)?;
            }
        }
        tx.commit().map_err(BrokerError::meta)
    }

    /// Committed offsets of a group on a topic, by partition.
    pub fn committed(&self, group: &str, topic: &str) -> Result<Vec<(u32, i64)>, BrokerError> {
        let topic = short_name(topic);
        let topic = topic.as_ref();
        let tx = self.db.begin_read().map_err(BrokerError::meta)?;
        let table = tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
        let mut out = Vec::new();
        for entry in table.range((group, topic, 0)..=(group, topic, u32::MAX)).map_err(BrokerError::meta)? {
            let (k, v) = entry.map_err(BrokerError::meta)?;
            out.push((k.value().2, v.value()));
        }
        Ok(out)
    }

    /// The groups that hold committed offsets, sorted.
    pub fn groups_with_offsets(&self) -> Result<Vec<String>, BrokerError> {
        let tx = self.db.begin_read().map_err(BrokerError::meta)?;
        let table = tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
        let mut out: Vec<String> = Vec::new();
        for entry in table.iter().map_err(BrokerError::meta)? {
            let (k, _) = entry.map_err(BrokerError::meta)?;
            let group = k.value().0;
            if out.last().is_none_or(|g| g != group) {
                out.push(group.to_owned());
            }
        }
        Ok(out)
    }

    /// The topics (short names) on which `group` holds committed offsets, sorted.
    pub fn topics_with_offsets(&self, group: &str) -> Result<Vec<String>, BrokerError> {
        let tx = self.db.begin_read().map_err(BrokerError::meta)?;
        let table = tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
        let mut out: Vec<String> = Vec::new();
        for entry in table.range((group, "", 0)..).map_err(BrokerError::meta)? {
            let (k, _) = entry.map_err(BrokerError::meta)?;
            let (g, topic, _) = k.value();
            if g != group {
                break;
            }
            if out.last().is_none_or(|t| t != topic) {
                out.push(topic.to_owned());
            }
        }
        Ok(out)
    }

    /// Removes committed offsets of `group`: every one (`topic` `None`), those on one
    /// topic, or (with `partitions`) those of some of its partitions. One transaction.
    /// Returns how many were removed.
    pub fn delete_offsets(
        &self,
        group: &str,
        topic: Option<&str>,
        partitions: Option<&[u32]>,
    ) -> Result<usize, BrokerError> {
        let topic = topic.map(short_name);
        let topic = topic.as_deref();
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        let mut removed = 0;
        {
            let mut table = tx.open_table(OFFSETS).map_err(BrokerError::meta)?;
            table
                .retain(|(g, t, p), _| {
                    let hit = g == group
                        && topic.is_none_or(|want| want == t)
                        && partitions.is_none_or(|ps| ps.contains(&p));
                    removed += usize::from(hit);
                    !hit
                })
                .map_err(BrokerError::meta)?;
        }
        tx.commit().map_err(BrokerError::meta)?;
        Ok(removed)
    }

    /// Hands out the next producer id (persisted before it is returned).
    pub fn next_producer_id(&self) -> Result<i64, BrokerError> {
        let tx = self.db.begin_write().map_err(BrokerError::meta)?;
        let id = {
            let mut table = tx.open_table(COUNTERS).map_err(BrokerError::meta)?;
            let id = table.get(PRODUCER_ID).map_err(BrokerError::meta)?.map_or(0, |v| v.value());
            table.insert(PRODUCER_ID, id + 1).map_err(BrokerError::meta)?;
            id
        };
        tx.commit().map_err(BrokerError::meta)?;
        i64::try_from(id).map_err(|_| BrokerError::Meta("producer ids exhausted".into()))
    }
}

/// Offsets are keyed by a topic's short name (as topics are), so `public/default/users` and
/// `users` share them and deleting the topic removes them.
fn short_name(topic: &str) -> std::borrow::Cow<'_, str> {
    if topic.contains('/') {
        if let Ok(name) = runnel_auth::names::TopicName::parse(topic) {
            return std::borrow::Cow::Owned(name.short());
        }
    }
    std::borrow::Cow::Borrowed(topic)
}
