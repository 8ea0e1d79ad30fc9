//! Persistence in redb: the registry's durable state and the one-transaction
//! writes that change it.
//!
//! Tables (`registry.redb`):
//! - `schemas`: global id → the schema as registered (JSON: text, type, references);
//! - `schema_index`: normalized identity → global id;
//! - `versions`: (subject, version) → (global id, soft-deleted);
//! - `subject_compatibility`, `subject_mode`: subject → level / mode;
//! - `meta`: `compatibility`, `mode` (global settings) and `next_id`, the id counter,
//!   which only grows so that ids are never reused, even after permanent deletes.
//!
//! Every change of one request is written by [`Store::apply`] in a single write
//! transaction, committed with immediate durability before the caller sees success.
//!
//! A registry keeps its state in this redb file (the embedded default) or in a log shared by
//! several instances (`crate::log`, the `_schemas` topic on Kafka), which receives the same
//! [`Change`]s as one record per request; `crate::registry`'s `Backend` picks one.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::types::SchemaReference;

const SCHEMAS: TableDefinition<u32, &str> = TableDefinition::new("schemas");
const SCHEMA_INDEX: TableDefinition<&str, u32> = TableDefinition::new("schema_index");
const VERSIONS: TableDefinition<(&str, i32), (u32, bool)> = TableDefinition::new("versions");
const SUBJECT_COMPATIBILITY: TableDefinition<&str, &str> = TableDefinition::new("subject_compatibility");
const SUBJECT_MODE: TableDefinition<&str, &str> = TableDefinition::new("subject_mode");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

const META_COMPATIBILITY: &str = "compatibility";
const META_MODE: &str = "mode";
const META_NEXT_ID: &str = "next_id";

/// A schema as stored under its id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSchema {
    /// The text as first registered.
    pub schema: String,
    /// The schema type; only `AVRO` is accepted today.
    #[serde(rename = "schemaType")]
    pub schema_type: String,
    /// Named types defined elsewhere.
    #[serde(default)]
    pub references: Vec<SchemaReference>,
}

/// Everything in the store, read once at open.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub schemas: Vec<(u32, StoredSchema)>,
    pub index: Vec<(String, u32)>,
    /// (subject, version, id, soft-deleted)
    pub versions: Vec<(String, i32, u32, bool)>,
    pub subject_compatibility: Vec<(String, String)>,
    pub subject_mode: Vec<(String, String)>,
    pub global_compatibility: Option<String>,
    pub global_mode: Option<String>,
    pub next_id: Option<u32>,
}

/// One change to the stored state. Serialized (JSON) into the records of the Kafka store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", rename_all = "snake_case")]
pub(crate) enum Change {
    /// A new schema under a new id, with its identity.
    PutSchema { id: u32, identity: String, stored: StoredSchema },
    /// A version created or re-marked.
    PutVersion { subject: String, version: i32, id: u32, deleted: bool },
    /// A version permanently deleted.
    RemoveVersion { subject: String, version: i32 },
    /// The compatibility level of a subject (`None` subject: the global level; `None` level: unset).
    SetCompatibility { subject: Option<String>, level: Option<String> },
    /// The mode of a subject (`None` subject: the global mode; `None` mode: unset).
    SetMode { subject: Option<String>, mode: Option<String> },
    /// The id counter.
    SetNextId(u32),
}

/// The redb database behind a registry.
pub(crate) struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) `registry.redb` in `dir`, creating the directory and the tables.
    pub fn open(dir: &Path) -> Result<Store, RegistryError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RegistryError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let db = Database::create(dir.join("registry.redb"))?;
        let txn = db.begin_write()?;
        {
            txn.open_table(SCHEMAS)?;
            txn.open_table(SCHEMA_INDEX)?;
            txn.open_table(VERSIONS)?;
            txn.open_table(SUBJECT_COMPATIBILITY)?;
            txn.open_table(SUBJECT_MODE)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        Ok(Store { db })
    }

    /// Reads the whole state (the registry keeps it in memory; it is small).
    pub fn load(&self) -> Result<Snapshot, RegistryError> {
        let txn = self.db.begin_read()?;
        let mut snap = Snapshot::default();
        for entry in txn.open_table(SCHEMAS)?.iter()? {
            let (id, json) = entry?;
            let stored: StoredSchema = serde_json::from_str(json.value())
                .map_err(|e| RegistryError::Storage(format!("schema {} is corrupt: {e}", id.value())))?;
            snap.schemas.push((id.value(), stored));
        }
        for entry in txn.open_table(SCHEMA_INDEX)?.iter()? {
            let (identity, id) = entry?;
            snap.index.push((identity.value().to_owned(), id.value()));
        }
        for entry in txn.open_table(VERSIONS)?.iter()? {
            let (key, value) = entry?;
            let (subject, version) = key.value();
            let (id, deleted) = value.value();
            snap.versions.push((subject.to_owned(), version, id, deleted));
        }
        for entry in txn.open_table(SUBJECT_COMPATIBILITY)?.iter()? {
            let (subject, level) = entry?;
            snap.subject_compatibility.push((subject.value().to_owned(), level.value().to_owned()));
        }
        for entry in txn.open_table(SUBJECT_MODE)?.iter()? {
            let (subject, mode) = entry?;
            snap.subject_mode.push((subject.value().to_owned(), mode.value().to_owned()));
        }
        let meta = txn.open_table(META)?;
        snap.global_compatibility = meta.get(META_COMPATIBILITY)?.map(|v| v.value().to_owned());
        snap.global_mode = meta.get(META_MODE)?.map(|v| v.value().to_owned());
        snap.next_id = match meta.get(META_NEXT_ID)? {
            Some(v) => Some(
                v.value()
                    .parse()
                    .map_err(|e| RegistryError::Storage(format!("the id counter is corrupt: {e}")))?,
            ),
            None => None,
        };
        Ok(snap)
    }

    /// Writes `changes` in one transaction: all of them or, on error, none.
    pub fn apply(&self, changes: &[Change]) -> Result<(), RegistryError> {
        let txn = self.db.begin_write()?;
        {
            let mut schemas = txn.open_table(SCHEMAS)?;
            let mut index = txn.open_table(SCHEMA_INDEX)?;
            let mut versions = txn.open_table(VERSIONS)?;
            let mut subject_compat = txn.open_table(SUBJECT_COMPATIBILITY)?;
            let mut subject_mode = txn.open_table(SUBJECT_MODE)?;
            let mut meta = txn.open_table(META)?;
            for change in changes {
                match change {
                    Change::PutSchema { id, identity, stored } => {
                        let json = serde_json::to_string(stored)
                            .map_err(|e| RegistryError::Storage(e.to_string()))?;
                        schemas.insert(*id, json.as_str())?;
                        index.insert(identity.as_str(), *id)?;
                    }
                    Change::PutVersion { subject, version, id, deleted } => {
                        versions.insert((subject.as_str(), *version), (*id, *deleted))?;
                    }
                    Change::RemoveVersion { subject, version } => {
                        versions.remove((subject.as_str(), *version))?;
                    }
                    Change::SetCompatibility { subject, level } => {
                        match (subject, level) {
                            (Some(s), Some(l)) => subject_compat.insert(s.as_str(), l.as_str())?,
                            (Some(s), None) => subject_compat.remove(s.as_str())?,
                            (None, Some(l)) => meta.insert(META_COMPATIBILITY, l.as_str())?,
                            (None, None) => meta.remove(META_COMPATIBILITY)?,
                        };
                    }
                    Change::SetMode { subject, mode } => {
                        match (subject, mode) {
                            (Some(s), Some(m)) => subject_mode.insert(s.as_str(), m.as_str())?,
                            (Some(s), None) => subject_mode.remove(s.as_str())?,
                            (None, Some(m)) => meta.insert(META_MODE, m.as_str())?,
                            (None, None) => meta.remove(META_MODE)?,
                        };
                    }
                    Change::SetNextId(next) => {
                        meta.insert(META_NEXT_ID, next.to_string().as_str())?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}
