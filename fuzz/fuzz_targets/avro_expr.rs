//! Fuzz target: field expressions (`runnel_avro::expr`), from text to a verdict.
//!
//! Input: an expression's text, a 0xFF byte, then a datum's bytes.
//!
//! Properties:
//! - parsing and checking any text against a fixed schema never panics (nor
//!   overflows the stack), and a refusal names at least one problem whose span
//!   lies within the text;
//! - a checked expression binds to its own schema, and evaluating it on any
//!   bytes never panics; on bytes that validate under the schema it succeeds;
//! - a field path accepted by `FieldPath` reads a value from valid bytes.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runnel_avro::expr::{FieldPath, Predicate};
use runnel_avro::{validate, Schema};

const SCHEMA: &str = r#"{"type":"record","name":"User","fields":[
    {"name":"name","type":"string"},
    {"name":"age","type":"int"},
    {"name":"email","type":["null","string"],"default":null},
    {"name":"country","type":{"type":"enum","name":"Country","symbols":["NO","SE"]}},
    {"name":"score","type":"double"},
    {"name":"active","type":"boolean"},
    {"name":"next","type":["null","User"],"default":null},
    {"name":"tags","type":{"type":"array","items":"string"}}
]}"#;

fn schema() -> &'static Schema {
    static SCHEMA_PARSED: OnceLock<Schema> = OnceLock::new();
    SCHEMA_PARSED.get_or_init(|| Schema::parse_str(SCHEMA).expect("the fuzz schema parses"))
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xFF).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else { return };
    let datum = data.get(split + 1..).unwrap_or(&[]);
    let schema = schema();
    let valid = validate(schema, datum).is_ok();
    match Predicate::new(schema, text) {
        Ok(predicate) => {
            let bound = predicate.bind(schema).expect("a checked expression binds to its own schema");
            let verdict = bound.matches(datum);
            assert!(!valid || verdict.is_ok(), "{text:?} failed on valid bytes: {verdict:?}");
        }
        Err(e) => {
            assert!(!e.problems().is_empty());
            for (span, _) in e.problems() {
                assert!(span.start <= span.end && span.end <= text.len(), "{text:?}: {e}");
            }
        }
    }
    if let Ok(path) = FieldPath::new(schema, text) {
        let bound = path.bind(schema).expect("a field path binds to its own schema");
        let value = bound.value(datum);
        assert!(!valid || value.is_ok(), "{text:?} failed on valid bytes: {value:?}");
    }
});
