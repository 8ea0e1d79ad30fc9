//! Fuzz target: a schema (one of the fixed set, or parsed from the input) and
//! arbitrary datum bytes through `runnel_avro::validate` and
//! `runnel_avro::json::from_binary`.
//!
//! Input: byte 0 < 0x80 picks `SCHEMAS[byte % len]` and the rest is the datum;
//! byte 0 ≥ 0x80 means the schema's JSON follows, up to a NUL byte, then the datum.
//!
//! Properties:
//! - `validate` (the schema's compiled program, then the walk to word a
//!   refusal) and the walk alone (`validate_by_walk`) give the same verdict;
//! - the validator accepts exactly the datums the JSON decoder accepts (one
//!   documented exception: the decoder also refuses a datum holding more than
//!   `binary::MAX_ITEMS_WITHOUT_BYTES` items of a zero-width type such as
//!   `null`, because each would cost a JSON value while costing no input byte;
//!   validation builds nothing and has no such limit);
//! - on acceptance, JSON → binary succeeds and gives the canonical encoding: it
//!   validates, decodes to the same JSON, is a fixed point of decode + encode,
//!   and is no longer than the input. It need not equal the input byte for
//!   byte: the Avro binary encoding has non-canonical forms that readers must
//!   accept (negative block counts with byte sizes, an array split in several
//!   blocks, over-long varints such as `0x80 0x00` for 0, NaN payloads), and
//!   each of them is at least as long as its canonical form.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runnel_avro::{json, validate, validate_by_walk, DecodeErrorKind, Schema};
use runnel_fuzz::{parsed_schemas, split_at_nul};

fn schemas() -> &'static [Schema] {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(parsed_schemas)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let parsed;
    let (schema, datum) = if selector < 0x80 {
        let set = schemas();
        (&set[usize::from(selector) % set.len()], rest)
    } else {
        let Some((text, datum)) = split_at_nul(rest) else { return };
        let Ok(text) = std::str::from_utf8(text) else { return };
        let Ok(s) = Schema::parse_str(text) else { return };
        parsed = s;
        (&parsed, datum)
    };
    check(schema, datum);
});

fn check(schema: &Schema, datum: &[u8]) {
    let valid = validate(schema, datum);
    let walked = validate_by_walk(schema, datum);
    assert_eq!(valid.is_ok(), walked.is_ok(), "the program and the walk disagree: {valid:?} / {walked:?}");
    let decoded = json::from_binary(schema, datum);
    let value = match (&valid, decoded) {
        (Ok(()), Ok(value)) => value,
        (Err(_), Err(_)) => return,
        (Ok(()), Err(e))
            if matches!(e.kind(), DecodeErrorKind::LengthTooLarge { .. }) && has_zero_width_items(schema) =>
        {
            return
        }
        (Ok(()), Err(e)) => panic!("validate accepts what from_binary refuses: {e}"),
        (Err(e), Ok(v)) => panic!("from_binary accepts {v} which validate refuses: {e}"),
    };
    let canonical = json::to_vec(schema, &value)
        .unwrap_or_else(|e| panic!("the decoder's own JSON {value} does not encode: {e}"));
    if let Err(e) = validate(schema, &canonical) {
        panic!("the encoder's output for {value} does not validate: {e}");
    }
    let again = json::from_binary(schema, &canonical)
        .unwrap_or_else(|e| panic!("the encoder's output for {value} does not decode: {e}"));
    assert_eq!(again, value, "re-encoding changed the value");
    let twice = json::to_vec(schema, &again).unwrap_or_else(|e| panic!("re-encoding {again} failed: {e}"));
    assert_eq!(twice, canonical, "the canonical encoding is not a fixed point");
    assert!(
        canonical.len() <= datum.len(),
        "canonical encoding ({} bytes) longer than the input ({} bytes)",
        canonical.len(),
        datum.len()
    );
}

/// Whether some array or map in `schema` has items that take no bytes.
fn has_zero_width_items(schema: &Schema) -> bool {
    use runnel_avro::model::NodeKind;
    let m = schema.model();
    m.nodes().iter().any(|n| matches!(&n.kind, NodeKind::Array { items } if m.is_zero_width(*items)))
}
