//! The registry itself: subjects, versions, global ids, compatibility rules and
//! modes, kept in memory for fast reads and written through to its backend.
//!
//! Reads (`schema_by_id`, `version_of_id`, `version`, ...) take a read lock on the
//! in-memory state and never touch the backend or re-parse a schema. Writes are
//! serialized by one gate: a write plans its changes against the current state, then
//! - on redb, commits them in one transaction and only then applies them in memory,
//!   so a refused or failed request changes nothing, and two concurrent
//!   registrations of the same schema cannot both allocate an id;
//! - on a shared log (Kafka), appends them as one record naming the last write it had
//!   applied, and waits until the instance's reader has read it back: the reader applies
//!   records (every instance's, in log order) only when they were planned on the state it
//!   holds (see [`crate::log`]); a write that lost a race is planned again on the newer state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::{Mutex, RwLock};
use runnel_avro::compat::{self, Prepared};
use runnel_avro::Schema;

use crate::cache::TextCache;
use crate::error::RegistryError;
use crate::log::{self, Appended, Role, SharedLog};
use crate::normalize::normalized_form;
use crate::store::{Change, Snapshot, Store, StoredSchema};
use crate::text::java_text;
use crate::types::{Compatibility, Mode, RegistryConfig, SchemaReference, SubjectVersion, VersionSelector};

/// Where a registry keeps its state.
pub(crate) enum Backend {
    /// A redb file, written by this process alone.
    Redb(Store),
    /// A log shared with other instances (each request one record).
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    // the Kafka store (feature `kafka`) and the tests use it
    Log(Arc<dyn SharedLog>),
}

/// The only schema type this registry holds.
pub const AVRO: &str = "AVRO";

/// From how many versions to check a schema against on several threads.
const PARALLEL_CHECK_MIN: usize = 8;

/// How many times a write on a shared log is planned again after losing a race before the
/// caller is told to retry (each loss means another writer's write was applied meanwhile).
const LOG_WRITE_ATTEMPTS: usize = 16;

/// A schema registry over a redb file, shared by cloning (an `Arc` inside).
///
/// All methods block briefly: reads take an in-memory read lock; writes also
/// commit a redb transaction (an fsync). Async callers on a hot path can call the
/// read methods directly; writes belong in `spawn_blocking`.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("generation", &self.generation()).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    backend: Backend,
    state: RwLock<State>,
    /// Serializes this instance's writers: planning, the commit (redb) or the append and its
    /// read-back (log), and the in-memory update of one write happen with no other write of this
    /// instance in between.
    write_gate: Mutex<()>,
    /// Bumped after every applied change, so callers can cache derived data.
    generation: AtomicU64,
    /// Request text and references → parsed schema, so that repeated lookups, checks and
    /// registrations of the same text skip parsing and normalizing.
    parse_cache: TextCache<Parsed>,
    config: RegistryConfig,
}

/// A schema parsed, with everything the registry derives from it once.
struct Parsed {
    schema: Arc<Schema>,
    /// What makes two schemas the same schema (see [`crate::normalize`]).
    identity: String,
    /// The id registered for `identity`, once a lookup has found it (it never changes), so a
    /// repeated lookup skips hashing the identity.
    id: OnceLock<u32>,
    /// The graph the compatibility checker walks, built once per schema.
    prepared: Prepared,
    /// The text the registry returns (see [`crate::text`]).
    text: String,
    /// `text` as a JSON string literal, escaped once for every response that carries it.
    text_json: String,
}

/// A stored schema, parsed once.
pub(crate) struct SchemaEntry {
    references: Vec<SchemaReference>,
    parsed: Arc<Parsed>,
}

impl SchemaEntry {
    /// The schema text as the registry returns it (see [`crate::text`]).
    pub(crate) fn text(&self) -> &str {
        &self.parsed.text
    }

    /// The schema text as the registry returns it, as a JSON string literal (quoted, escaped).
    pub(crate) fn text_json(&self) -> &str {
        &self.parsed.text_json
    }

    /// The references the schema was registered with.
    pub(crate) fn references(&self) -> &[SchemaReference] {
        &self.references
    }
}

/// A version of a subject found, sharing its stored schema (the REST layer renders it without
/// copying the text).
pub(crate) struct Found {
    pub(crate) version: i32,
    pub(crate) id: u32,
    pub(crate) entry: Arc<SchemaEntry>,
}

impl Found {
    fn subject_version(&self, subject: &str) -> SubjectVersion {
        SubjectVersion {
            subject: subject.to_owned(),
            id: self.id,
            version: self.version,
            schema: self.entry.parsed.text.clone(),
            references: self.entry.references.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct VersionEntry {
    id: u32,
    deleted: bool,
}

struct State {
    schemas: HashMap<u32, Arc<SchemaEntry>>,
    by_identity: HashMap<String, u32>,
    subjects: BTreeMap<String, BTreeMap<i32, VersionEntry>>,
    global_compat: Compatibility,
    subject_compat: HashMap<String, Compatibility>,
    global_mode: Mode,
    subject_mode: HashMap<String, Mode>,
    next_id: u32,
    default_compat: Compatibility,
    /// On a shared log, the offset of the last write applied ([`log::NO_WRITE`] before any):
    /// what a write planned on this state names as its `prev`.
    log_applied: i64,
}

/// A write planned against the state: the changes to make (none: answer at once) and the answer.
struct Plan<T> {
    changes: Vec<Change>,
    value: T,
    /// The new schema, parsed already (redb path: applied in memory without parsing again).
    parsed: Option<Arc<Parsed>>,
}

impl<T> Plan<T> {
    fn nothing(value: T) -> Plan<T> {
        Plan { changes: Vec::new(), value, parsed: None }
    }

    fn changes(changes: Vec<Change>, value: T) -> Plan<T> {
        Plan { changes, value, parsed: None }
    }
}

/// A registry as its log's reader sees it: it applies records while the registry lives.
#[cfg_attr(not(feature = "kafka"), allow(dead_code))] // the Kafka store (feature `kafka`) and the tests use it
pub(crate) struct Replica(Weak<Inner>);

#[cfg_attr(not(feature = "kafka"), allow(dead_code))] // the Kafka store (feature `kafka`) and the tests use it
impl Replica {
    /// The registry, unless it was dropped (the reader then stops).
    pub(crate) fn registry(&self) -> Option<Registry> {
        self.0.upgrade().map(|inner| Registry { inner })
    }
}

/// A registration request in full (the REST body), for callers that need references or import.
#[derive(Debug, Clone, Default)]
pub struct RegisterRequest {
    /// The schema text.
    pub schema: String,
    /// Named types defined by other subjects' versions.
    pub references: Vec<SchemaReference>,
    /// The id to register under (IMPORT mode only).
    pub id: Option<u32>,
    /// The version to register as (IMPORT mode only).
    pub version: Option<i32>,
}

impl Registry {
    /// Opens the registry stored in `dir` (creating `dir/registry.redb` if needed) and
    /// loads it into memory, parsing every schema once.
    pub fn open(dir: &Path, config: RegistryConfig) -> Result<Registry, RegistryError> {
        let store = Store::open(dir)?;
        let state = State::from_snapshot(store.load()?, config.default_compatibility)?;
        Ok(Registry::with_backend(Backend::Redb(store), state, config))
    }

    /// An empty registry on a shared log, which the log's reader fills (see [`Replica`]).
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))] // the Kafka store (feature `kafka`) and the tests use it
    pub(crate) fn on_log(log: Arc<dyn SharedLog>, config: RegistryConfig) -> Result<Registry, RegistryError> {
        let state = State::from_snapshot(Snapshot::default(), config.default_compatibility)?;
        Ok(Registry::with_backend(Backend::Log(log), state, config))
    }

    fn with_backend(backend: Backend, state: State, config: RegistryConfig) -> Registry {
        Registry {
            inner: Arc::new(Inner {
                backend,
                state: RwLock::new(state),
                write_gate: Mutex::new(()),
                generation: AtomicU64::new(0),
                parse_cache: TextCache::new(),
                config,
            }),
        }
    }

    /// The handle a log's reader applies records through.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))] // the Kafka store (feature `kafka`) and the tests use it
    pub(crate) fn replica(&self) -> Replica {
        Replica(Arc::downgrade(&self.inner))
    }

    /// This instance's place among the instances sharing its store.
    pub fn role(&self) -> Role {
        match &self.inner.backend {
            Backend::Redb(_) => Role::Embedded,
            Backend::Log(log) => log.role(),
        }
    }

    /// On a shared log, how far this instance has applied it (every record below the value);
    /// `None` on redb.
    pub fn log_position(&self) -> Option<tokio::sync::watch::Receiver<i64>> {
        match &self.inner.backend {
            Backend::Redb(_) => None,
            Backend::Log(log) => Some(log.position()),
        }
    }

    /// Leaves the group of instances sharing the log, so that another becomes primary at once
    /// (a no-op on redb). Reads still answer from the state held; writes fail.
    pub fn close(&self) {
        if let Backend::Log(log) = &self.inner.backend {
            log.close();
        }
    }

    /// Why this instance stopped following its shared log, if it did (it then refuses writes
    /// and should be restarted once the log is repaired).
    pub fn failure(&self) -> Option<String> {
        match &self.inner.backend {
            Backend::Redb(_) => None,
            Backend::Log(log) => log.failure(),
        }
    }

    /// The configuration this registry was opened with.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// A counter bumped on every change (registration, deletion, config, mode).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// The schema with global id `id` (from memory; parsed when it was registered or loaded).
    pub fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        let state = self.inner.state.read();
        state.schemas.get(&id).map(|e| e.parsed.schema.clone()).ok_or_else(|| schema_not_found(id))
    }

    /// The text (as Confluent returns it: see [`crate::text`]) and references of the schema
    /// with global id `id`.
    pub fn schema_text_by_id(&self, id: u32) -> Result<(String, Vec<SchemaReference>), RegistryError> {
        let entry = self.entry_by_id(id)?;
        Ok((entry.parsed.text.clone(), entry.references.clone()))
    }

    /// The stored schema with global id `id`.
    pub(crate) fn entry_by_id(&self, id: u32) -> Result<Arc<SchemaEntry>, RegistryError> {
        let state = self.inner.state.read();
        state.schemas.get(&id).cloned().ok_or_else(|| schema_not_found(id))
    }

    /// The live version of `subject` that holds schema `id` (the highest if several), if any.
    pub fn version_of_id(&self, subject: &str, id: u32) -> Result<Option<i32>, RegistryError> {
        let state = self.inner.state.read();
        Ok(state.subjects.get(subject).and_then(|versions| {
            versions.iter().rev().find(|(_, v)| v.id == id && !v.deleted).map(|(n, _)| *n)
        }))
    }

    /// The (subject, version) pairs that hold schema `id`, soft-deleted ones too if `deleted`.
    pub fn subject_versions_of_id(
        &self,
        id: u32,
        deleted: bool,
    ) -> Result<Vec<(String, i32)>, RegistryError> {
        let state = self.inner.state.read();
        if !state.schemas.contains_key(&id) {
            return Err(schema_not_found(id));
        }
        let mut out = Vec::new();
        for (subject, versions) in &state.subjects {
            for (n, v) in versions {
                if v.id == id && (deleted || !v.deleted) {
                    out.push((subject.clone(), *n));
                }
            }
        }
        Ok(out)
    }

    /// Registers `schema` under `subject` (no references), returning its id and version.
    /// A schema already live in the subject returns its existing id and version.
    pub fn register(&self, subject: &str, schema: &str) -> Result<SubjectVersion, RegistryError> {
        self.register_request(subject, RegisterRequest { schema: schema.to_owned(), ..Default::default() })
    }

    /// Registers a schema with references, or with an explicit id and version in IMPORT mode.
    pub fn register_request(
        &self,
        subject: &str,
        req: RegisterRequest,
    ) -> Result<SubjectVersion, RegistryError> {
        validate_subject(subject)?;
        self.check_size(&req.schema)?;
        self.write(|state| {
            let mode = state.effective_mode(subject);
            match mode {
                Mode::ReadOnly | Mode::ReadOnlyOverride => {
                    return Err(RegistryError::OperationNotPermitted(format!(
                        "Subject {subject} is in read-only mode"
                    )))
                }
                Mode::ReadWrite if req.id.is_some() || req.version.is_some() => {
                    return Err(RegistryError::OperationNotPermitted(format!(
                        "Subject {subject} is not in import mode: an explicit id or version is not allowed"
                    )))
                }
                _ => {}
            }
            let parsed = self.parse(state, &req.schema, &req.references)?;
            let existing_id = state.by_identity.get(&parsed.identity).copied();
            let versions = state.subjects.get(subject);

            // Already live in the subject: answer with what is there, change nothing.
            if let (Some(id), Some(versions)) = (existing_id, versions) {
                let live = versions.iter().rev().find(|(_, v)| v.id == id && !v.deleted);
                if let Some((&version, _)) = live {
                    if req.id.is_none_or(|want| want == id) && req.version.is_none_or(|want| want == version)
                    {
                        return Ok(Plan::nothing(state.subject_version(subject, version, id)));
                    }
                }
            }

            let mut changes = Vec::new();
            let id = match (req.id, existing_id) {
                (Some(want), Some(have)) if want != have => {
                    return Err(RegistryError::IdDoesNotMatch(format!(
                        "The schema is already registered with id {have}, not {want}"
                    )))
                }
                // The schema is new (the arm above handled a known one): its id must be free.
                (Some(want), None) if state.schemas.contains_key(&want) => {
                    return Err(RegistryError::IdDoesNotMatch(format!(
                        "Overwrite new schema with id {want} is not permitted: another schema has it"
                    )))
                }
                (Some(want), _) => want,
                (None, Some(have)) => have,
                (None, None) => state.next_id,
            };
            if id == 0 {
                return Err(RegistryError::InvalidSchema("schema ids start at 1".into()));
            }
            if !state.schemas.contains_key(&id) {
                changes.push(Change::PutSchema {
                    id,
                    identity: parsed.identity.clone(),
                    stored: StoredSchema {
                        schema: req.schema.clone(),
                        schema_type: AVRO.into(),
                        references: req.references.clone(),
                    },
                });
                if id >= state.next_id {
                    let next = id.checked_add(1).ok_or_else(|| {
                        RegistryError::OperationNotPermitted("the schema id space is exhausted".into())
                    })?;
                    changes.push(Change::SetNextId(next));
                }
            }

            if mode != Mode::Import {
                let level = state.effective_compat(subject);
                let messages = state.incompatibilities(subject, &parsed.prepared, level, None);
                if !messages.is_empty() {
                    return Err(RegistryError::Incompatible { subject: subject.to_owned(), messages });
                }
            }

            let highest = versions.and_then(|v| v.keys().next_back().copied()).unwrap_or(0);
            let version = match req.version {
                Some(v) if v < 1 => return Err(RegistryError::InvalidVersion(v.to_string())),
                Some(v) if versions.is_some_and(|vs| vs.contains_key(&v)) => {
                    return Err(RegistryError::OperationNotPermitted(format!(
                        "Subject {subject} already has a version {v}"
                    )))
                }
                Some(v) => v,
                None => highest.checked_add(1).ok_or_else(|| {
                    RegistryError::OperationNotPermitted(format!("Subject {subject} has no versions left"))
                })?,
            };
            changes.push(Change::PutVersion { subject: subject.to_owned(), version, id, deleted: false });
            let result = match state.schemas.get(&id) {
                Some(_) => state.subject_version(subject, version, id),
                None => SubjectVersion {
                    subject: subject.to_owned(),
                    id,
                    version,
                    schema: parsed.text.clone(),
                    references: req.references.clone(),
                },
            };
            Ok(Plan { changes, value: result, parsed: Some(parsed) })
        })
    }

    /// Finds `schema` among the live versions of `subject`.
    pub fn lookup(&self, subject: &str, schema: &str) -> Result<SubjectVersion, RegistryError> {
        self.lookup_with(subject, schema, &[], false)
    }

    /// Finds a schema (with references) in `subject`, soft-deleted versions too if `deleted`.
    pub fn lookup_with(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
        deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        Ok(self.find(subject, schema, references, deleted)?.subject_version(subject))
    }

    /// [`Registry::lookup_with`], sharing the stored schema.
    pub(crate) fn find(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
        deleted: bool,
    ) -> Result<Found, RegistryError> {
        self.check_size(schema)?;
        let state = self.inner.state.read();
        let versions = state.live_subject(subject, deleted)?;
        let parsed = self.parse(&state, schema, references)?;
        let not_found = || RegistryError::SchemaNotFound("Schema not found".into());
        let id = match parsed.id.get() {
            Some(id) => *id,
            None => {
                let id = *state.by_identity.get(&parsed.identity).ok_or_else(not_found)?;
                *parsed.id.get_or_init(|| id)
            }
        };
        let (version, _) = versions
            .iter()
            .rev()
            .find(|(_, v)| v.id == id && (deleted || !v.deleted))
            .ok_or_else(not_found)?;
        state.found(*version, id).ok_or_else(not_found)
    }

    /// One version of a subject (soft-deleted ones are not found).
    pub fn version(&self, subject: &str, version: VersionSelector) -> Result<SubjectVersion, RegistryError> {
        self.version_with(subject, version, false)
    }

    /// One version of a subject; with `deleted`, soft-deleted versions are found too.
    pub fn version_with(
        &self,
        subject: &str,
        version: VersionSelector,
        deleted: bool,
    ) -> Result<SubjectVersion, RegistryError> {
        Ok(self.find_version(subject, version, deleted)?.subject_version(subject))
    }

    /// [`Registry::version_with`], sharing the stored schema.
    pub(crate) fn find_version(
        &self,
        subject: &str,
        version: VersionSelector,
        deleted: bool,
    ) -> Result<Found, RegistryError> {
        let state = self.inner.state.read();
        let versions = state.live_subject(subject, deleted)?;
        let (n, entry) = resolve_version(subject, versions, version, deleted)?;
        state.found(n, entry.id).ok_or_else(|| schema_not_found(entry.id))
    }

    /// The version numbers of a subject, ascending (soft-deleted ones too if `deleted`).
    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, RegistryError> {
        let state = self.inner.state.read();
        let versions = state.live_subject(subject, deleted)?;
        Ok(versions.iter().filter(|(_, v)| deleted || !v.deleted).map(|(n, _)| *n).collect())
    }

    /// The subjects with at least one live version, sorted.
    pub fn subjects(&self) -> Result<Vec<String>, RegistryError> {
        self.subjects_with(false)
    }

    /// The subjects, sorted; with `deleted`, also those whose versions are all soft-deleted.
    pub fn subjects_with(&self, deleted: bool) -> Result<Vec<String>, RegistryError> {
        let state = self.inner.state.read();
        Ok(state
            .subjects
            .iter()
            .filter(|(_, versions)| versions.values().any(|v| deleted || !v.deleted))
            .map(|(s, _)| s.clone())
            .collect())
    }

    /// Checks `schema` against `subject` under the subject's compatibility level:
    /// against the versions the level names for `Latest`, against that one version
    /// for `Number`. Returns every incompatibility (empty: compatible).
    pub fn check(
        &self,
        subject: &str,
        schema: &str,
        version: VersionSelector,
    ) -> Result<Vec<String>, RegistryError> {
        self.check_with(subject, schema, &[], version)
    }

    /// [`Registry::check`] for a schema with references.
    pub fn check_with(
        &self,
        subject: &str,
        schema: &str,
        references: &[SchemaReference],
        version: VersionSelector,
    ) -> Result<Vec<String>, RegistryError> {
        self.check_size(schema)?;
        let state = self.inner.state.read();
        let versions = state.live_subject(subject, false)?;
        let only = match version {
            VersionSelector::Latest => None,
            selector => Some(resolve_version(subject, versions, selector, false)?.0),
        };
        let parsed = self.parse(&state, schema, references)?;
        let level = state.effective_compat(subject);
        Ok(state.incompatibilities(subject, &parsed.prepared, level, only))
    }

    /// The ids of the schemas whose references name `subject` at `version` and that are
    /// registered under a live version.
    pub fn referenced_by(&self, subject: &str, version: VersionSelector) -> Result<Vec<u32>, RegistryError> {
        let state = self.inner.state.read();
        let versions = state.live_subject(subject, false)?;
        let (n, _) = resolve_version(subject, versions, version, false)?;
        Ok(state.referrers(subject, n, false))
    }

    /// Soft-deletes (or, if `permanent`, permanently deletes an already soft-deleted)
    /// version of `subject`; returns the version number.
    pub fn delete_version(
        &self,
        subject: &str,
        version: VersionSelector,
        permanent: bool,
    ) -> Result<i32, RegistryError> {
        self.write(|state| {
            state.refuse_if_read_only(subject)?;
            let versions = state.subjects.get(subject).ok_or_else(|| subject_not_found(subject))?;
            // A numbered version is found even if soft-deleted, so that deleting it again
            // says so (40406); `latest` is the latest live one unless deleting permanently.
            let include_deleted = permanent || matches!(version, VersionSelector::Number(_));
            let (n, entry) = resolve_version(subject, versions, version, include_deleted)?;
            let referrers = state.referrers(subject, n, permanent);
            if !referrers.is_empty() {
                return Err(reference_exists(subject, n, &referrers));
            }
            let change = if permanent {
                if !entry.deleted {
                    return Err(RegistryError::VersionNotSoftDeleted { subject: subject.into(), version: n });
                }
                Change::RemoveVersion { subject: subject.into(), version: n }
            } else {
                if entry.deleted {
                    return Err(RegistryError::VersionSoftDeleted { subject: subject.into(), version: n });
                }
                Change::PutVersion { subject: subject.into(), version: n, id: entry.id, deleted: true }
            };
            Ok(Plan::changes(vec![change], n))
        })
    }

    /// Soft-deletes every live version of `subject` (or, if `permanent`, removes a
    /// subject whose versions were all soft-deleted); returns the versions deleted.
    pub fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>, RegistryError> {
        self.write(|state| {
            state.refuse_if_read_only(subject)?;
            let versions = state.subjects.get(subject).ok_or_else(|| subject_not_found(subject))?;
            let live: Vec<i32> = versions.iter().filter(|(_, v)| !v.deleted).map(|(n, _)| *n).collect();
            if permanent && !live.is_empty() {
                return Err(RegistryError::SubjectNotSoftDeleted(subject.into()));
            }
            if !permanent && live.is_empty() {
                return Err(RegistryError::SubjectSoftDeleted(subject.into()));
            }
            let targets: Vec<i32> = if permanent { versions.keys().copied().collect() } else { live };
            let mut changes = Vec::with_capacity(targets.len());
            for &n in &targets {
                let referrers = state.referrers(subject, n, permanent);
                // A subject's own versions may not reference each other, so any referrer is foreign.
                if !referrers.is_empty() {
                    return Err(reference_exists(subject, n, &referrers));
                }
                changes.push(if permanent {
                    Change::RemoveVersion { subject: subject.into(), version: n }
                } else {
                    let id = versions.get(&n).map_or(0, |v| v.id);
                    Change::PutVersion { subject: subject.into(), version: n, id, deleted: true }
                });
            }
            if permanent {
                // A permanently deleted subject forgets its settings too.
                if state.subject_compat.contains_key(subject) {
                    changes.push(Change::SetCompatibility { subject: Some(subject.into()), level: None });
                }
                if state.subject_mode.contains_key(subject) {
                    changes.push(Change::SetMode { subject: Some(subject.into()), mode: None });
                }
            }
            Ok(Plan::changes(changes, targets))
        })
    }

    /// The compatibility level of `subject` (`None`: the global level). A subject
    /// without its own level answers the global one if `default_to_global`, else 40408.
    pub fn compatibility(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Compatibility, RegistryError> {
        let state = self.inner.state.read();
        match subject {
            None => Ok(state.global_compat),
            Some(s) => match state.subject_compat.get(s) {
                Some(level) => Ok(*level),
                None if default_to_global => Ok(state.global_compat),
                None => Err(RegistryError::SubjectCompatibilityNotConfigured(s.into())),
            },
        }
    }

    /// Sets the compatibility level of `subject` (`None`: the global level).
    pub fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: Compatibility,
    ) -> Result<(), RegistryError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        let change = Change::SetCompatibility {
            subject: subject.map(str::to_owned),
            level: Some(level.as_str().into()),
        };
        self.write(|_| Ok(Plan::changes(vec![change.clone()], ())))
    }

    /// Removes the level of `subject` (it then follows the global one), or resets the
    /// global level to the configured default; returns the level that was in force.
    pub fn delete_compatibility(&self, subject: Option<&str>) -> Result<Compatibility, RegistryError> {
        self.write(|state| {
            let previous = match subject {
                None => state.global_compat,
                Some(s) => *state
                    .subject_compat
                    .get(s)
                    .ok_or_else(|| RegistryError::SubjectCompatibilityNotConfigured(s.into()))?,
            };
            let change = Change::SetCompatibility { subject: subject.map(str::to_owned), level: None };
            Ok(Plan::changes(vec![change], previous))
        })
    }

    /// The mode of `subject` (`None`: the global mode); see [`Registry::compatibility`]
    /// for `default_to_global` (40409 here).
    pub fn mode(&self, subject: Option<&str>, default_to_global: bool) -> Result<Mode, RegistryError> {
        let state = self.inner.state.read();
        match subject {
            None => Ok(state.global_mode),
            Some(s) => match state.subject_mode.get(s) {
                Some(mode) => Ok(*mode),
                None if default_to_global => Ok(state.global_mode),
                None => Err(RegistryError::SubjectModeNotConfigured(s.into())),
            },
        }
    }

    /// Sets the mode of `subject` (`None`: the global mode). IMPORT is refused (42205)
    /// where schemas already exist, unless `force`, because imported ids could collide.
    pub fn set_mode(&self, subject: Option<&str>, mode: Mode, force: bool) -> Result<(), RegistryError> {
        if let Some(s) = subject {
            validate_subject(s)?;
        }
        self.write(|state| {
            if mode == Mode::Import && !force {
                let occupied = match subject {
                    None => !state.subjects.is_empty(),
                    Some(s) => state.subjects.contains_key(s),
                };
                if occupied {
                    return Err(RegistryError::OperationNotPermitted(
                        "Cannot import since found existing subjects (set force=true to override)".into(),
                    ));
                }
            }
            let change =
                Change::SetMode { subject: subject.map(str::to_owned), mode: Some(mode.as_str().into()) };
            Ok(Plan::changes(vec![change], ()))
        })
    }

    /// Removes the mode of `subject` (or resets the global mode to READWRITE); returns the previous one.
    pub fn delete_mode(&self, subject: Option<&str>) -> Result<Mode, RegistryError> {
        self.write(|state| {
            let previous = match subject {
                None => state.global_mode,
                Some(s) => *state
                    .subject_mode
                    .get(s)
                    .ok_or_else(|| RegistryError::SubjectModeNotConfigured(s.into()))?,
            };
            let change = Change::SetMode { subject: subject.map(str::to_owned), mode: None };
            Ok(Plan::changes(vec![change], previous))
        })
    }

    fn check_size(&self, schema: &str) -> Result<(), RegistryError> {
        let limit = self.inner.config.max_schema_bytes;
        if schema.len() > limit {
            return Err(RegistryError::SchemaTooLarge { size: schema.len(), limit });
        }
        Ok(())
    }

    /// Parses `text` with its references resolved against the state, or takes it from the cache.
    fn parse(
        &self,
        state: &State,
        text: &str,
        references: &[SchemaReference],
    ) -> Result<Arc<Parsed>, RegistryError> {
        if let Some(hit) = self.inner.parse_cache.get(text, references) {
            return Ok(hit);
        }
        let deps = state.reference_schemas(references)?;
        let parsed = Arc::new(parse_schema(text, references, &deps).map_err(RegistryError::InvalidSchema)?);
        self.inner.parse_cache.insert(text, references, parsed.clone());
        Ok(parsed)
    }

    /// Runs one write: `plan` decides the changes and the answer against the current state
    /// (it may run several times on a shared log: once per lost race), then the backend makes
    /// them durable and the state takes them.
    fn write<T>(&self, plan: impl Fn(&State) -> Result<Plan<T>, RegistryError>) -> Result<T, RegistryError> {
        let _gate = self.inner.write_gate.lock();
        match &self.inner.backend {
            Backend::Redb(store) => {
                let Plan { changes, value, parsed } = plan(&self.inner.state.read())?;
                if !changes.is_empty() {
                    store.apply(&changes)?;
                    let mut state = self.inner.state.write();
                    self.apply_changes(&mut state, changes, |_, _| Ok(parsed.clone()))?;
                }
                Ok(value)
            }
            Backend::Log(shared) => {
                for _ in 0..LOG_WRITE_ATTEMPTS {
                    if let Some(why) = shared.failure() {
                        return Err(RegistryError::Storage(why));
                    }
                    let (plan, prev) = {
                        let state = self.inner.state.read();
                        (plan(&state)?, state.log_applied)
                    };
                    if plan.changes.is_empty() {
                        return Ok(plan.value);
                    }
                    match shared.append(prev, &plan.changes)? {
                        Appended::Applied => return Ok(plan.value),
                        // The reader has applied the write that came first: plan again on it.
                        Appended::Stale => continue,
                    }
                }
                Err(RegistryError::Timeout(format!(
                    "{LOG_WRITE_ATTEMPTS} attempts lost to concurrent writes of other instances"
                )))
            }
        }
    }

    /// Applies a write read from the shared log at `offset`, planned on the state after write
    /// `prev`, if that is the state held (see [`log::admit`]); whether it was applied. An error
    /// (a schema that does not parse) means this instance cannot follow the log any more.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))] // the Kafka store (feature `kafka`) and the tests use it
    pub(crate) fn apply_logged(
        &self,
        offset: i64,
        prev: i64,
        changes: Vec<Change>,
    ) -> Result<bool, RegistryError> {
        let mut state = self.inner.state.write();
        if !log::admit(&mut state.log_applied, offset, prev) {
            return Ok(false);
        }
        self.apply_changes(&mut state, changes, |state, stored| {
            // Usually in the parse cache already: the writer (or a lookup) parsed the same text.
            self.parse(state, &stored.schema, &stored.references).map(Some).map_err(|e| {
                RegistryError::Storage(format!("the schema written at offset {offset} does not parse: {e}"))
            })
        })?;
        Ok(true)
    }

    /// Applies `changes` to `state` in order; `parse` gives each new schema parsed.
    fn apply_changes(
        &self,
        state: &mut State,
        changes: Vec<Change>,
        parse: impl Fn(&State, &StoredSchema) -> Result<Option<Arc<Parsed>>, RegistryError>,
    ) -> Result<(), RegistryError> {
        let removes = changes.iter().any(|c| matches!(c, Change::RemoveVersion { .. }));
        for change in changes {
            let parsed = match &change {
                Change::PutSchema { stored, .. } => parse(&*state, stored)?,
                _ => None,
            };
            state.apply(change, parsed);
        }
        if removes {
            // A removed version's number can be registered again, as another schema.
            self.inner.parse_cache.forget_references();
        }
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

impl State {
    fn from_snapshot(snap: Snapshot, default_compat: Compatibility) -> Result<State, RegistryError> {
        let corrupt = |what: String| RegistryError::Storage(format!("stored {what} is invalid"));
        let mut state = State {
            schemas: HashMap::new(),
            by_identity: snap.index.into_iter().collect(),
            subjects: BTreeMap::new(),
            global_compat: match snap.global_compatibility {
                Some(s) => s.parse().map_err(|_| corrupt(format!("compatibility level {s:?}")))?,
                None => default_compat,
            },
            subject_compat: HashMap::new(),
            global_mode: match snap.global_mode {
                Some(s) => s.parse().map_err(|_| corrupt(format!("mode {s:?}")))?,
                None => Mode::ReadWrite,
            },
            subject_mode: HashMap::new(),
            next_id: snap.next_id.unwrap_or(1),
            default_compat,
            log_applied: log::NO_WRITE,
        };
        for (subject, version, id, deleted) in snap.versions {
            state.subjects.entry(subject).or_default().insert(version, VersionEntry { id, deleted });
        }
        for (subject, level) in snap.subject_compatibility {
            let level = level.parse().map_err(|_| corrupt(format!("compatibility level {level:?}")))?;
            state.subject_compat.insert(subject, level);
        }
        for (subject, mode) in snap.subject_mode {
            let mode = mode.parse().map_err(|_| corrupt(format!("mode {mode:?}")))?;
            state.subject_mode.insert(subject, mode);
        }
        // Parse schemas so that every schema's references are parsed before it.
        let stored: HashMap<u32, StoredSchema> = snap.schemas.into_iter().collect();
        let mut ids: Vec<u32> = stored.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            state.load_schema(id, &stored, &mut HashSet::new())?;
        }
        Ok(state)
    }

    /// Parses stored schema `id` after the schemas it references (depth first).
    fn load_schema(
        &mut self,
        id: u32,
        stored: &HashMap<u32, StoredSchema>,
        visiting: &mut HashSet<u32>,
    ) -> Result<(), RegistryError> {
        if self.schemas.contains_key(&id) {
            return Ok(());
        }
        if !visiting.insert(id) {
            return Err(RegistryError::Storage(format!("schema {id} references itself")));
        }
        let entry =
            stored.get(&id).ok_or_else(|| RegistryError::Storage(format!("schema {id} is missing")))?;
        for reference in &entry.references {
            if let Some(dep) = self.reference_id(reference) {
                self.load_schema(dep, stored, visiting)?;
            }
        }
        let deps = self.reference_schemas(&entry.references)?;
        let parsed = parse_schema(&entry.schema, &entry.references, &deps)
            .map_err(|e| RegistryError::Storage(format!("stored schema {id} no longer parses: {e}")))?;
        self.by_identity.entry(parsed.identity.clone()).or_insert(id);
        self.schemas.insert(
            id,
            Arc::new(SchemaEntry { references: entry.references.clone(), parsed: Arc::new(parsed) }),
        );
        Ok(())
    }

    fn reference_id(&self, reference: &SchemaReference) -> Option<u32> {
        self.subjects.get(&reference.subject)?.get(&reference.version).map(|v| v.id)
    }

    /// The parsed schemas `references` name, each after the ones it references itself,
    /// without duplicates: what a parser needs to resolve the named types.
    fn reference_schemas(&self, references: &[SchemaReference]) -> Result<Vec<Arc<Schema>>, RegistryError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for reference in references {
            self.collect_reference(reference, &mut out, &mut seen, 0)?;
        }
        Ok(out)
    }

    fn collect_reference(
        &self,
        reference: &SchemaReference,
        out: &mut Vec<Arc<Schema>>,
        seen: &mut HashSet<u32>,
        depth: usize,
    ) -> Result<(), RegistryError> {
        let invalid = |why: &str| {
            RegistryError::InvalidSchema(format!(
                "Invalid reference {} to subject {} version {}: {why}",
                reference.name, reference.subject, reference.version
            ))
        };
        if depth > 64 {
            return Err(invalid("references nest too deep"));
        }
        let id = self.reference_id(reference).ok_or_else(|| invalid("no such subject version"))?;
        let entry = self.schemas.get(&id).ok_or_else(|| invalid("the schema is not loaded"))?;
        if !seen.insert(id) {
            return Ok(());
        }
        for nested in &entry.references {
            self.collect_reference(nested, out, seen, depth + 1)?;
        }
        out.push(entry.parsed.schema.clone());
        Ok(())
    }

    fn effective_mode(&self, subject: &str) -> Mode {
        if self.global_mode == Mode::ReadOnlyOverride {
            return Mode::ReadOnly;
        }
        self.subject_mode.get(subject).copied().unwrap_or(self.global_mode)
    }

    fn effective_compat(&self, subject: &str) -> Compatibility {
        self.subject_compat.get(subject).copied().unwrap_or(self.global_compat)
    }

    fn refuse_if_read_only(&self, subject: &str) -> Result<(), RegistryError> {
        match self.effective_mode(subject) {
            Mode::ReadOnly | Mode::ReadOnlyOverride => {
                Err(RegistryError::OperationNotPermitted(format!("Subject {subject} is in read-only mode")))
            }
            _ => Ok(()),
        }
    }

    /// The versions of `subject`, or 40401 if it has none (none live, unless `deleted`).
    fn live_subject(
        &self,
        subject: &str,
        deleted: bool,
    ) -> Result<&BTreeMap<i32, VersionEntry>, RegistryError> {
        match self.subjects.get(subject) {
            Some(versions) if versions.values().any(|v| deleted || !v.deleted) => Ok(versions),
            _ => Err(subject_not_found(subject)),
        }
    }

    fn subject_version(&self, subject: &str, version: i32, id: u32) -> SubjectVersion {
        let (schema, references) = self
            .schemas
            .get(&id)
            .map_or_else(Default::default, |e| (e.parsed.text.clone(), e.references.clone()));
        SubjectVersion { subject: subject.to_owned(), id, version, schema, references }
    }

    /// Version `version` of a subject, which holds schema `id`.
    fn found(&self, version: i32, id: u32) -> Option<Found> {
        Some(Found { version, id, entry: self.schemas.get(&id)?.clone() })
    }

    /// Every incompatibility of `new` with the subject's live versions the level names
    /// (or with version `only`), each message naming the version and direction.
    fn incompatibilities(
        &self,
        subject: &str,
        new: &Prepared,
        level: Compatibility,
        only: Option<i32>,
    ) -> Vec<String> {
        if level == Compatibility::None {
            return Vec::new();
        }
        let Some(versions) = self.subjects.get(subject) else { return Vec::new() };
        let live: Vec<(i32, u32)> =
            versions.iter().filter(|(_, v)| !v.deleted).map(|(n, v)| (*n, v.id)).collect();
        let targets: Vec<(i32, u32)> = match only {
            Some(n) => live.into_iter().filter(|(v, _)| *v == n).collect(),
            None if level.is_transitive() => live,
            None => live.last().copied().into_iter().collect(),
        };
        // Each version's verdict is independent: spread them over the cores, since a
        // transitive level on a long history is the slowest thing a registration does.
        let check_one = |&(version, id): &(i32, u32)| -> Vec<String> {
            let mut messages = Vec::new();
            let Some(old) = self.schemas.get(&id) else { return messages };
            if level.checks_backward() {
                for problem in compat::check_prepared(new, &old.parsed.prepared) {
                    messages.push(format!(
                        "{problem} (new schema reading data written with version {version}, {level})"
                    ));
                }
            }
            if level.checks_forward() {
                for problem in compat::check_prepared(&old.parsed.prepared, new) {
                    messages.push(format!(
                        "{problem} (version {version} reading data written with the new schema, {level})"
                    ));
                }
            }
            messages
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || targets.len() < PARALLEL_CHECK_MIN {
            return targets.iter().flat_map(check_one).collect();
        }
        let chunk = targets.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = targets
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().flat_map(check_one).collect::<Vec<_>>()))
                .collect();
            // In version order, as a sequential check would report them. A panicking
            // checker thread is a bug; report it rather than pass the schema.
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| vec!["/: the compatibility checker failed".to_owned()])
                })
                .collect()
        })
    }

    /// Ids of schemas referencing (`subject`, `version`) that are held by a live version
    /// (any version, soft-deleted too, if `including_deleted`).
    fn referrers(&self, subject: &str, version: i32, including_deleted: bool) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .schemas
            .iter()
            .filter(|(_, e)| e.references.iter().any(|r| r.subject == subject && r.version == version))
            .map(|(id, _)| *id)
            .filter(|id| {
                self.subjects
                    .values()
                    .any(|vs| vs.values().any(|v| v.id == *id && (including_deleted || !v.deleted)))
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    fn apply(&mut self, change: Change, parsed: Option<Arc<Parsed>>) {
        match change {
            Change::PutSchema { id, identity, stored } => {
                if let Some(parsed) = parsed {
                    self.by_identity.insert(identity, id);
                    self.schemas.insert(id, Arc::new(SchemaEntry { references: stored.references, parsed }));
                }
            }
            Change::PutVersion { subject, version, id, deleted } => {
                self.subjects.entry(subject).or_default().insert(version, VersionEntry { id, deleted });
            }
            Change::RemoveVersion { subject, version } => {
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    versions.remove(&version);
                    if versions.is_empty() {
                        self.subjects.remove(&subject);
                    }
                }
            }
            Change::SetCompatibility { subject, level } => {
                let level = level.and_then(|l| l.parse::<Compatibility>().ok());
                match (subject, level) {
                    (Some(s), Some(l)) => {
                        self.subject_compat.insert(s, l);
                    }
                    (Some(s), None) => {
                        self.subject_compat.remove(&s);
                    }
                    (None, Some(l)) => self.global_compat = l,
                    (None, None) => self.global_compat = self.default_compat,
                }
            }
            Change::SetMode { subject, mode } => {
                let mode = mode.and_then(|m| m.parse::<Mode>().ok());
                match (subject, mode) {
                    (Some(s), Some(m)) => {
                        self.subject_mode.insert(s, m);
                    }
                    (Some(s), None) => {
                        self.subject_mode.remove(&s);
                    }
                    (None, Some(m)) => self.global_mode = m,
                    (None, None) => self.global_mode = Mode::ReadWrite,
                }
            }
            Change::SetNextId(next) => self.next_id = next,
        }
    }
}

/// Resolves a selector among `versions`: `Latest` is the highest live version (the
/// highest of all if `deleted`); a number must exist, and be live unless `deleted`.
fn resolve_version(
    subject: &str,
    versions: &BTreeMap<i32, VersionEntry>,
    selector: VersionSelector,
    deleted: bool,
) -> Result<(i32, VersionEntry), RegistryError> {
    let not_found =
        || RegistryError::VersionNotFound { subject: subject.to_owned(), version: selector.to_string() };
    match selector {
        VersionSelector::Latest => versions
            .iter()
            .rev()
            .find(|(_, v)| deleted || !v.deleted)
            .map(|(n, v)| (*n, *v))
            .ok_or_else(not_found),
        VersionSelector::Number(n) => match versions.get(&n) {
            Some(v) if deleted || !v.deleted => Ok((n, *v)),
            _ => Err(not_found()),
        },
    }
}

/// Parses a schema with the schemas its references need, and derives its identity, its
/// prepared compatibility form and the text the registry returns.
fn parse_schema(text: &str, references: &[SchemaReference], deps: &[Arc<Schema>]) -> Result<Parsed, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("the schema is not valid JSON: {e}"))?;
    let schema = if deps.is_empty() {
        Schema::parse_json(&json).map_err(|e| e.reason().to_owned())?
    } else {
        let deps: Vec<Schema> = deps.iter().map(|d| Schema::clone(d)).collect();
        Schema::parse_with_references(text, &deps).map_err(|e| e.reason().to_owned())?
    };
    let mut identity = normalized_form(&json)?;
    if !references.is_empty() {
        // The same text with other references is another schema.
        let refs = serde_json::to_string(references).map_err(|e| e.to_string())?;
        identity.push_str("\u{0}refs:");
        identity.push_str(&refs);
    }
    let prepared = Prepared::new(&schema);
    let text = java_text(&json, schema.model());
    let text_json = serde_json::to_string(&text).map_err(|e| e.to_string())?;
    Ok(Parsed { schema: Arc::new(schema), identity, id: OnceLock::new(), prepared, text, text_json })
}

fn validate_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty() || subject.chars().any(char::is_control) || subject.len() > 4096 {
        return Err(RegistryError::InvalidSubject(subject.to_owned()));
    }
    Ok(())
}

fn subject_not_found(subject: &str) -> RegistryError {
    RegistryError::SubjectNotFound(subject.to_owned())
}

fn schema_not_found(id: u32) -> RegistryError {
    RegistryError::SchemaNotFound(format!("Schema {id} not found"))
}

fn reference_exists(subject: &str, version: i32, referrers: &[u32]) -> RegistryError {
    RegistryError::ReferenceExists(format!(
        "One or more references exist to the schema {{subject={subject},version={version}}}: schema ids {referrers:?}"
    ))
}

/// The shared-log write path against an in-memory log: several registries append to one list of
/// records and each applies it in order, as instances do with the Kafka topic (the Kafka store
/// itself is tested end to end against a real engine in tests/oracle/test_registry_kafka.py).
#[cfg(test)]
mod shared_log_tests {
    use std::collections::HashSet;

    use super::*;
    use crate::log::LogRecord;

    /// The topic: every record, in order.
    type Topic = Arc<Mutex<Vec<Vec<u8>>>>;

    /// One instance's view of the topic.
    struct MemLog {
        topic: Topic,
        instance: String,
        seq: AtomicU64,
        /// The next offset this instance reads.
        position: Mutex<i64>,
        position_tx: tokio::sync::watch::Sender<i64>,
        replica: OnceLock<Replica>,
        /// This instance's writes that were applied (sequence numbers).
        applied_mine: Mutex<HashSet<u64>>,
    }

    impl MemLog {
        /// Reads and applies every record not read yet, as the Kafka reader thread does.
        fn catch_up(&self) {
            let records: Vec<Vec<u8>> = self.topic.lock().clone();
            let mut position = self.position.lock();
            let registry = self.replica.get().and_then(Replica::registry).expect("the registry lives");
            while (*position as usize) < records.len() {
                let offset = *position;
                let record = LogRecord::decode(Some(&records[offset as usize])).expect("a registry record");
                if let LogRecord::Write { writer, seq, prev, changes } = record {
                    if registry.apply_logged(offset, prev, changes).expect("applies")
                        && writer == self.instance
                    {
                        self.applied_mine.lock().insert(seq);
                    }
                }
                *position += 1;
            }
            self.position_tx.send_replace(*position);
        }
    }

    impl SharedLog for MemLog {
        fn append(&self, prev: i64, changes: &[Change]) -> Result<Appended, RegistryError> {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            let record =
                LogRecord::Write { writer: self.instance.clone(), seq, prev, changes: changes.to_vec() };
            self.topic.lock().push(record.encode());
            self.catch_up();
            Ok(if self.applied_mine.lock().remove(&seq) { Appended::Applied } else { Appended::Stale })
        }
        fn role(&self) -> Role {
            Role::Primary
        }
        fn position(&self) -> tokio::sync::watch::Receiver<i64> {
            self.position_tx.subscribe()
        }
        fn failure(&self) -> Option<String> {
            None
        }
        fn close(&self) {}
    }

    /// A registry on `topic` (reading nothing until its first write or `catch_up`).
    fn instance(topic: &Topic, name: &str) -> (Registry, Arc<MemLog>) {
        let log = Arc::new(MemLog {
            topic: topic.clone(),
            instance: name.into(),
            seq: AtomicU64::new(0),
            position: Mutex::new(0),
            position_tx: tokio::sync::watch::channel(0).0,
            replica: OnceLock::new(),
            applied_mine: Mutex::new(HashSet::new()),
        });
        let registry = Registry::on_log(log.clone(), RegistryConfig::default()).unwrap();
        let _ = log.replica.set(registry.replica());
        (registry, log)
    }

    fn record(name: &str) -> String {
        format!(r#"{{"type":"record","name":"{name}","fields":[{{"name":"id","type":"long"}}]}}"#)
    }

    /// Every (id, schema text) and (subject, version, id) of a registry.
    type Contents = (Vec<(u32, String)>, Vec<(String, i32, u32)>);

    fn contents(r: &Registry) -> Contents {
        let state = r.inner.state.read();
        let mut schemas: Vec<(u32, String)> =
            state.schemas.iter().map(|(id, e)| (*id, e.parsed.text.clone())).collect();
        schemas.sort();
        let versions = state
            .subjects
            .iter()
            .flat_map(|(s, vs)| vs.iter().map(move |(n, v)| (s.clone(), *n, v.id)))
            .collect();
        (schemas, versions)
    }

    #[test]
    fn a_write_planned_on_a_stale_state_is_skipped_everywhere_and_planned_again() {
        let topic = Topic::default();
        let (a, _) = instance(&topic, "a");
        let (b, b_log) = instance(&topic, "b");
        assert_eq!(a.register("a-value", &record("A")).unwrap().id, 1);
        // B has not read A's write: it plans id 1 too, on the empty state (prev -1). Its record is
        // skipped by everyone (A's write came first); B reads on and plans again: id 2.
        let sv = b.register("b-value", &record("B")).unwrap();
        assert_eq!((sv.id, sv.version), (2, 1));
        assert_eq!(topic.lock().len(), 3, "A's write, B's stale one, B's second");
        // A, behind, registers what B registered: its write (planned with id 2 on its old state)
        // is stale, and planning again after reading on finds B's. A third instance replays it all.
        assert_eq!(a.register("b-value", &record("B")).unwrap().id, 2);
        assert_eq!(topic.lock().len(), 4);
        let (c, c_log) = instance(&topic, "c");
        c_log.catch_up();
        let expected = (
            vec![(1, record("A")), (2, record("B"))],
            vec![("a-value".to_owned(), 1, 1), ("b-value".to_owned(), 1, 2)],
        );
        assert_eq!(contents(&a), expected);
        assert_eq!(contents(&b), expected);
        assert_eq!(contents(&c), expected);
        assert_eq!(*b_log.position().borrow(), 3);
    }

    #[test]
    fn racing_registrations_of_one_schema_give_one_id_and_one_version() {
        let topic = Topic::default();
        let (a, _) = instance(&topic, "a");
        let (b, _) = instance(&topic, "b");
        let first = a.register("users-value", &record("User")).unwrap();
        // B, behind, registers the same schema: its stale write is skipped, and planning again
        // finds the version A made, so nothing more is written.
        let second = b.register("users-value", &record("User")).unwrap();
        assert_eq!((first.id, first.version), (1, 1));
        assert_eq!((second.id, second.version), (1, 1));
        assert_eq!(topic.lock().len(), 2);
        assert_eq!(b.versions("users-value", true).unwrap(), vec![1]);
    }

    #[test]
    fn ids_continue_after_the_highest_ever_applied_even_after_a_permanent_delete() {
        let topic = Topic::default();
        let (a, _) = instance(&topic, "a");
        a.register("x-value", &record("X")).unwrap();
        a.register("y-value", &record("Y")).unwrap();
        a.delete_subject("y-value", false).unwrap();
        a.delete_subject("y-value", true).unwrap();
        // A new instance (a new primary) replays the log and allocates after id 2.
        let (b, b_log) = instance(&topic, "b");
        b_log.catch_up();
        assert_eq!(b.register("z-value", &record("Z")).unwrap().id, 3);
        assert!(b.versions("y-value", true).is_err());
        // Settings travel through the log too.
        b.set_compatibility(Some("x-value"), Compatibility::Full).unwrap();
        a.register("w-value", &record("W")).unwrap();
        assert_eq!(a.compatibility(Some("x-value"), false).unwrap(), Compatibility::Full);
    }

    #[test]
    fn a_refused_write_appends_nothing() {
        let topic = Topic::default();
        let (a, _) = instance(&topic, "a");
        a.register("s", &record("S")).unwrap();
        let incompatible = r#"{"type":"record","name":"S","fields":[{"name":"id","type":"string"}]}"#;
        assert!(matches!(a.register("s", incompatible), Err(RegistryError::Incompatible { .. })));
        assert_eq!(topic.lock().len(), 1);
    }
}
