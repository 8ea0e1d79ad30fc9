//! The per-record schema check every enforcing front of Runnel applies: the
//! broker's produce path (`runnel-broker`'s `enforce.rs`, against its own
//! registry) and the gateway in front of a Kafka cluster (`runnel-gateway`,
//! against a registry over HTTP). One home so that a record refused by one is
//! refused by the other with the same reason.
//!
//! By validation level:
//! - `id`: the part carries the Confluent framing (magic byte 0, 4-byte
//!   big-endian schema id) and the id is a live version of the bound subject;
//! - `full`: `id`, and the bytes after the framing are exactly one datum of that
//!   schema (`runnel_avro::validate`, which allocates nothing).
//!
//! Where the schemas come from is the caller's: a [`SchemaSource`] answers "is
//! id N a version of subject S, and what is its schema".

use std::sync::Arc;

use runnel_avro::Schema;

/// Bytes of the Confluent framing: magic 0 + schema id.
pub const FRAMING_BYTES: usize = 5;

/// Which part of a record is being checked, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The record's key (topics that bind a key subject).
    Key,
    /// The record's value.
    Value,
}

impl Part {
    /// The part's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }
}

/// Answers which schema ids belong to which subject.
pub trait SchemaSource {
    /// Why a lookup could not be answered (the registry failed, not the record).
    type Error;
    /// The schema of `id` if it is a live version of `subject`, `None` if it is not.
    fn schema(&self, subject: &str, id: u32) -> Result<Option<Arc<Schema>>, Self::Error>;
}

/// Why a part was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked<E> {
    /// The record is refused: the field path ("/" for the framing) and the reason.
    Refused {
        /// The field path inside the record.
        path: String,
        /// Why.
        message: String,
    },
    /// The source could not answer.
    Source(E),
}

/// The schema id of a framed part, `None` when the part has no Confluent framing.
pub fn framed_id(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < FRAMING_BYTES || bytes[0] != 0 {
        return None;
    }
    Some(u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
}

/// Checks one part (`bytes`, `None` for a null) of a record of topic `topic`
/// against `subject`; `full` also validates the body.
pub fn check_part<S: SchemaSource>(
    source: &S,
    topic: &str,
    subject: &str,
    bytes: Option<&[u8]>,
    part: Part,
    full: bool,
) -> Result<(), Checked<S::Error>> {
    let refuse = |path: String, message: String| Err(Checked::Refused { path, message });
    let Some(bytes) = bytes else {
        return refuse(
            "/".into(),
            format!("the {} is null; topic '{topic}' requires an Avro {}", part.name(), part.name()),
        );
    };
    let Some(id) = framed_id(bytes) else {
        return refuse(
            "/".into(),
            format!(
                "the {} has no Confluent framing (magic byte 0 and a 4-byte schema id, then the Avro body)",
                part.name()
            ),
        );
    };
    let Some(schema) = source.schema(subject, id).map_err(Checked::Source)? else {
        return refuse(
            "/".into(),
            format!("schema id {id} is not a registered version of subject '{subject}'"),
        );
    };
    if full {
        if let Err(e) = runnel_avro::validate(&schema, &bytes[FRAMING_BYTES..]) {
            return refuse(
                e.path(),
                format!(
                    "the {} does not match schema id {id}: {e} (at byte {})",
                    part.name(),
                    e.offset() + FRAMING_BYTES
                ),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One(Arc<Schema>);

    impl SchemaSource for One {
        type Error = ();
        fn schema(&self, subject: &str, id: u32) -> Result<Option<Arc<Schema>>, ()> {
            Ok((subject == "s" && id == 7).then(|| Arc::clone(&self.0)))
        }
    }

    fn source() -> One {
        One(Arc::new(Schema::parse_str(r#""long""#).expect("schema")))
    }

    fn refused(r: Result<(), Checked<()>>) -> String {
        match r {
            Err(Checked::Refused { message, .. }) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_framed_datum_of_the_subject() {
        assert_eq!(check_part(&source(), "t", "s", Some(&[0, 0, 0, 0, 7, 2]), Part::Value, true), Ok(()));
    }

    #[test]
    fn refuses_a_foreign_id_a_missing_framing_a_null_and_a_bad_body() {
        let s = source();
        assert!(refused(check_part(&s, "t", "s", Some(&[0, 0, 0, 0, 8, 2]), Part::Value, true))
            .contains("schema id 8 is not a registered version of subject 's'"));
        assert!(refused(check_part(&s, "t", "s", Some(b"{}"), Part::Value, false))
            .contains("no Confluent framing"));
        assert!(refused(check_part(&s, "t", "s", None, Part::Key, false)).contains("the key is null"));
        // A long's varint that never ends: valid framing, corrupt body (refused at `full` only).
        let bad = [0, 0, 0, 0, 7, 0x80];
        assert!(refused(check_part(&s, "t", "s", Some(&bad), Part::Value, true))
            .contains("does not match schema id 7"));
        assert_eq!(check_part(&s, "t", "s", Some(&bad), Part::Value, false), Ok(()));
    }
}
