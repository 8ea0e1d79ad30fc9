//! The registry as a replicated log: the records of the `_schemas` topic (their format and
//! version), the rule that decides which of them change the state, and the interface a log
//! store offers the registry ([`SharedLog`]).
//!
//! Every write request becomes one [`LogRecord::Write`] holding the request's [`Change`]s, the
//! same list the redb store commits in one transaction. Every instance reads the log from the
//! start and applies a write only if its `prev` is the offset of the last write the instance
//! applied (`-1` before the first): the writer planned its changes against exactly that state.
//! A write planned against an older state (two primaries racing, a stale primary after an
//! election, a duplicate from a producer retry) is skipped by every instance alike, since they
//! all read the same records in the same order. So ids are allocated from the applied log alone,
//! never twice, and no applied version is lost; the loser of a race reads on and plans again.
//!
//! [`LogRecord::Primary`] records announce an elected primary's REST address, so that followers
//! know where to forward writes; they change no state and take no part in the `prev` chain.

// Without the `kafka` feature only the unit tests use this module's log side.
#![cfg_attr(not(feature = "kafka"), allow(dead_code))]

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::store::Change;

/// The format version written in every record. A reader refuses a record of another version
/// (or of no version: not Runnel's) rather than guess at it.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// The field naming the format, the first thing a reader checks.
const FORMAT_FIELD: &str = "runnel_registry";

/// The key of every record (one partition, so the key only marks the records as Runnel's).
pub(crate) const RECORD_KEY: &[u8] = b"runnel-registry";

/// The offset of the last applied write before any: the `prev` of the first write.
pub(crate) const NO_WRITE: i64 = -1;

/// One record of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum LogRecord {
    /// The changes of one write request.
    Write {
        /// The instance that wrote it (a random id per process), so it finds its own records.
        writer: String,
        /// The writer's sequence number, so a duplicate (a producer retry) is recognised.
        seq: u64,
        /// The offset of the last write the writer had applied when it planned `changes`.
        prev: i64,
        /// What the request changes, in order.
        changes: Vec<Change>,
    },
    /// An instance won the election and takes writes at `url`.
    Primary {
        /// The instance (as in `writer`).
        instance: String,
        /// Its REST API's base URL.
        url: String,
    },
}

/// A record with its format version, as stored (JSON).
#[derive(Serialize)]
struct Envelope<'a> {
    runnel_registry: u32,
    #[serde(flatten)]
    record: &'a LogRecord,
}

impl LogRecord {
    /// The record's value as written to the topic.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serializing these types cannot fail (string keys, no non-finite floats).
        serde_json::to_vec(&Envelope { runnel_registry: FORMAT_VERSION, record: self }).unwrap_or_default()
    }

    /// Reads a record's value; the error says why it is not a record Runnel wrote (the caller
    /// adds where it was found).
    pub(crate) fn decode(value: Option<&[u8]>) -> Result<LogRecord, String> {
        let value = value.ok_or("the record has no value")?;
        let json: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| format!("the value is not JSON ({e})"))?;
        let version = json
            .get(FORMAT_FIELD)
            .ok_or_else(|| format!("the value has no `{FORMAT_FIELD}` field: Runnel did not write it"))?;
        if version.as_u64() != Some(u64::from(FORMAT_VERSION)) {
            return Err(format!(
                "format version {version} is not one this build reads (it reads {FORMAT_VERSION})"
            ));
        }
        serde_json::from_value(json).map_err(|e| format!("the record does not parse ({e})"))
    }
}

/// Whether a write read at `offset` with `prev` is applied, given the offset of the last write
/// applied so far; updates it if so. Every instance runs this on the same records in the same
/// order, so all of them apply the same writes.
pub(crate) fn admit(last_applied: &mut i64, offset: i64, prev: i64) -> bool {
    if prev == *last_applied && offset > *last_applied {
        *last_applied = offset;
        true
    } else {
        false
    }
}

/// What became of an appended write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// It was applied (this instance has read it back and applied it).
    Applied,
    /// Another write came first; its changes were not applied anywhere. Plan again.
    Stale,
}

/// What a registry instance is in a group of instances sharing one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The only instance, on its own redb file.
    Embedded,
    /// The elected primary: it takes the writes.
    Primary,
    /// A follower: it serves reads from its copy and forwards writes to `primary` (`None` while
    /// no primary is known, e.g. during an election).
    Follower {
        /// The primary's REST base URL, from its last announcement.
        primary: Option<String>,
    },
}

/// A log shared by several registry instances (the `_schemas` topic).
pub(crate) trait SharedLog: Send + Sync {
    /// Appends a write planned against the state after write `prev`, and returns once this
    /// instance has read it back: [`Appended::Applied`] if it was applied.
    fn append(&self, prev: i64, changes: &[Change]) -> Result<Appended, RegistryError>;

    /// This instance's place in the group.
    fn role(&self) -> Role;

    /// How far this instance has read and applied the log: every record below this offset.
    fn position(&self) -> tokio::sync::watch::Receiver<i64>;

    /// Why this instance stopped following the log (a record it cannot apply), if it did.
    fn failure(&self) -> Option<String>;

    /// Stops following the log and leaves the election (another instance takes over at once).
    fn close(&self);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoredSchema;

    #[test]
    fn a_record_round_trips_with_its_format_version() {
        let record = LogRecord::Write {
            writer: "a".into(),
            seq: 7,
            prev: 3,
            changes: vec![
                Change::PutSchema {
                    id: 1,
                    identity: "x".into(),
                    stored: StoredSchema {
                        schema: "\"int\"".into(),
                        schema_type: "AVRO".into(),
                        references: vec![],
                    },
                },
                Change::SetNextId(2),
                Change::SetCompatibility { subject: None, level: Some("FULL".into()) },
            ],
        };
        let bytes = record.encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(r#"{"runnel_registry":1,"kind":"write""#), "{text}");
        match LogRecord::decode(Some(&bytes)).unwrap() {
            LogRecord::Write { writer, seq, prev, changes } => {
                assert_eq!((writer.as_str(), seq, prev, changes.len()), ("a", 7, 3, 3));
                assert!(matches!(changes[1], Change::SetNextId(2)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_records_are_refused_with_the_reason() {
        let cases: [(Option<&[u8]>, &str); 5] = [
            (None, "no value"),
            (Some(b"\x00\x00\x00\x00\x01abc"), "not JSON"),
            (Some(br#"{"keytype":"SCHEMA","subject":"s","version":1}"#), "Runnel did not write it"),
            (Some(br#"{"runnel_registry":2,"kind":"write"}"#), "format version 2"),
            (Some(br#"{"runnel_registry":1,"kind":"explode"}"#), "does not parse"),
        ];
        for (value, why) in cases {
            let err = LogRecord::decode(value).unwrap_err();
            assert!(err.contains(why), "{err:?} should say {why:?}");
        }
    }

    #[test]
    fn only_a_write_planned_on_the_last_applied_one_is_applied() {
        let mut last = NO_WRITE;
        // Two writers both planned on the empty log: the first record wins, the second is stale.
        assert!(admit(&mut last, 0, NO_WRITE));
        assert!(!admit(&mut last, 1, NO_WRITE));
        assert_eq!(last, 0);
        // The loser replans on write 0 and wins; a duplicate of it (a producer retry) is stale.
        assert!(admit(&mut last, 2, 0));
        assert!(!admit(&mut last, 3, 0));
        // An announcement at 4 takes no part: a write planned on 2 at offset 5 applies.
        assert!(admit(&mut last, 5, 2));
        // A record naming a later or unknown offset never applies.
        assert!(!admit(&mut last, 6, 6));
        assert!(!admit(&mut last, 7, 4));
        assert_eq!(last, 5);
    }
}
