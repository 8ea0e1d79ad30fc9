//! Fuzz target: arbitrary bytes as an Avro-JSON datum for a schema of the fixed
//! set through the text → binary encoder (`runnel_avro::json::str_to_binary`:
//! JSON, plus bare `NaN`/`Infinity`/`-Infinity` for floats and doubles), the path
//! `runnel produce` and `runnel avro encode` take with user input.
//!
//! Input: byte 0 picks `SCHEMAS[byte % len]`; the rest is the text (bytes that are
//! not UTF-8 end the run).
//!
//! Properties, when the encoder accepts the value:
//! - the binary validates under the schema and decodes back to JSON;
//! - that JSON encodes to the same bytes (the encoder's output is canonical and
//!   the decoder's JSON carries everything the bytes hold, defaults included).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runnel_avro::{json, validate, Schema};
use runnel_fuzz::parsed_schemas;

fn schemas() -> &'static [Schema] {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(parsed_schemas)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else { return };
    let set = schemas();
    let schema = &set[usize::from(selector) % set.len()];
    let Ok(text) = std::str::from_utf8(text) else { return };
    let mut bytes = Vec::new();
    let Ok(value) = json::str_to_binary(schema, text, &mut bytes) else { return };
    if let Err(e) = validate(schema, &bytes) {
        panic!("the encoding of {value} does not validate: {e}");
    }
    let decoded = json::from_binary(schema, &bytes)
        .unwrap_or_else(|e| panic!("the encoding of {value} does not decode: {e}"));
    let again = json::to_vec(schema, &decoded)
        .unwrap_or_else(|e| panic!("{decoded} (decoded from the encoding of {value}) does not encode: {e}"));
    assert_eq!(again, bytes, "{value} → binary → {decoded} → different binary");
});
