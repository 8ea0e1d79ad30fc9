//! Fuzz target: arbitrary bytes as a Confluent-framed record value through the
//! client's frame parser (`runnel_client::framing::split`) and on into the
//! decode a consumer does: the body validated and decoded under the schema the
//! frame's id names (ids map onto the fixed schema set).
//!
//! Properties:
//! - `split` accepts exactly the values of at least 5 bytes starting with the
//!   magic byte 0, and returns the big-endian id of bytes 1..5 and the rest;
//! - `write_header(id)` + body gives back the value;
//! - the body's validation and JSON decoding agree.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runnel_avro::{json, validate, Schema};
use runnel_client::framing::{split, write_header, HEADER_LEN};
use runnel_fuzz::parsed_schemas;

fn schemas() -> &'static [Schema] {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    SCHEMAS.get_or_init(parsed_schemas)
}

fuzz_target!(|value: &[u8]| {
    let framed = value.len() >= HEADER_LEN && value[0] == 0;
    let Some((id, body)) = split(value) else {
        assert!(!framed, "split refused a framed value");
        return;
    };
    assert!(framed, "split accepted a value without the framing");
    assert_eq!(id, u32::from_be_bytes([value[1], value[2], value[3], value[4]]));
    assert_eq!(body, &value[HEADER_LEN..]);
    let mut rebuilt = Vec::with_capacity(value.len());
    write_header(&mut rebuilt, id);
    rebuilt.extend_from_slice(body);
    assert_eq!(rebuilt, value);

    let set = schemas();
    let schema = &set[id as usize % set.len()];
    let valid = validate(schema, body).is_ok();
    let decoded = json::from_binary(schema, body).is_ok();
    // The decoder's one extra limit (zero-width items) is exercised by avro_decode.
    if decoded {
        assert!(valid, "from_binary accepted a body that validate refuses");
    }
});
