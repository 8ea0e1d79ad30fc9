//! What Runnel's fuzz targets share: the fixed schema sets the Avro targets
//! pick from, the compatible writer/reader pairs, and small helpers.
//!
//! A target picks a schema with the first input byte (`index % len`), so the
//! fuzzer reaches every schema from any input; the sets cover every Avro type,
//! logical types, named references and recursion, which is where decoders
//! differ. `examples/gen_seeds.rs` writes the seed corpora from the same sets.

use runnel_avro::Schema;

/// Schemas the decode, JSON and frame targets choose from.
pub const SCHEMAS: &[&str] = &[
    r#""null""#,
    r#""boolean""#,
    r#""int""#,
    r#""long""#,
    r#""float""#,
    r#""double""#,
    r#""bytes""#,
    r#""string""#,
    r#"{"type":"fixed","name":"F4","size":4}"#,
    r#"{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"],"default":"RED"}"#,
    r#"{"type":"array","items":"long"}"#,
    r#"{"type":"array","items":"null"}"#,
    r#"{"type":"map","values":"string"}"#,
    r#"{"type":"map","values":"null"}"#,
    r#"["null","int","string",{"type":"array","items":"boolean"}]"#,
    // A recursive type: a linked list of ints.
    r#"{"type":"record","name":"Node","fields":[
        {"name":"value","type":"int"},
        {"name":"next","type":["null","Node"],"default":null}]}"#,
    // Logical types over every underlying type they use.
    r#"{"type":"record","name":"Logical","namespace":"fuzz","fields":[
        {"name":"d","type":{"type":"int","logicalType":"date"}},
        {"name":"tm","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"tu","type":{"type":"long","logicalType":"timestamp-micros"}},
        {"name":"u","type":{"type":"string","logicalType":"uuid"}},
        {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
        {"name":"fdec","type":{"type":"fixed","name":"D8","size":8,"logicalType":"decimal","precision":18,"scale":4}},
        {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}}]}"#,
    // Named types referenced again, nested containers, a union of named types.
    r#"{"type":"record","name":"Outer","namespace":"com.example","fields":[
        {"name":"id","type":"long"},
        {"name":"inner","type":{"type":"record","name":"Inner","fields":[
            {"name":"tags","type":{"type":"array","items":"string"}},
            {"name":"scores","type":{"type":"map","values":["null","double"]}}]}},
        {"name":"again","type":["null","Inner"]},
        {"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
        {"name":"either","type":["Kind",{"type":"fixed","name":"Id","size":2},"float"]},
        {"name":"grid","type":{"type":"array","items":{"type":"array","items":"int"}}}]}"#,
    include_str!("../../schemas/user.avsc"),
    include_str!("../../schemas/user_v2.avsc"),
    include_str!("../../schemas/user_v3.avsc"),
];

/// Writer → reader pairs that Avro's resolution rules accept: promotions,
/// added fields with defaults, removed fields, enum and union evolution,
/// aliases, and the schemas' own evolutions. `(writer, reader)`.
pub const COMPATIBLE_PAIRS: &[(&str, &str)] = &[
    (r#""int""#, r#""long""#),
    (r#""int""#, r#""double""#),
    (r#""long""#, r#""float""#),
    (r#""float""#, r#""double""#),
    (r#""string""#, r#""bytes""#),
    (r#""bytes""#, r#""string""#),
    (r#""int""#, r#"["null","long"]"#),
    (r#"["int","string"]"#, r#"["string","long","null"]"#),
    (r#"["null","int"]"#, r#"["null","double"]"#),
    (r#"{"type":"array","items":"int"}"#, r#"{"type":"array","items":"double"}"#),
    (r#"{"type":"map","values":"int"}"#, r#"{"type":"map","values":["null","long"]}"#),
    (
        r#"{"type":"enum","name":"E","symbols":["A","B","C"],"default":"A"}"#,
        r#"{"type":"enum","name":"E","symbols":["C","A"],"default":"A"}"#,
    ),
    (r#"{"type":"fixed","name":"F","size":3}"#, r#"{"type":"fixed","name":"G","aliases":["F"],"size":3}"#),
    (
        // Removed fields (skipped, including blocks), an added field with a default,
        // a renamed field through an alias, reordered fields.
        r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":"int"},
            {"name":"gone","type":{"type":"array","items":{"type":"map","values":"string"}}},
            {"name":"b","type":"string"},
            {"name":"old","type":["null","float"]}]}"#,
        r#"{"type":"record","name":"R","fields":[
            {"name":"new","type":["null","double"],"aliases":["old"]},
            {"name":"b","type":"string"},
            {"name":"a","type":"long"},
            {"name":"c","type":{"type":"array","items":"int"},"default":[1,2]},
            {"name":"d","type":{"type":"record","name":"D","fields":[{"name":"x","type":"int"}]},"default":{"x":7}}]}"#,
    ),
    (
        // A recursive type read by its evolution.
        r#"{"type":"record","name":"Node","fields":[
            {"name":"value","type":"int"},
            {"name":"next","type":["null","Node"],"default":null}]}"#,
        r#"{"type":"record","name":"Node","fields":[
            {"name":"value","type":"long"},
            {"name":"label","type":"string","default":""},
            {"name":"next","type":["null","Node"],"default":null}]}"#,
    ),
    (include_str!("../../schemas/user.avsc"), include_str!("../../schemas/user_v2.avsc")),
    (include_str!("../../schemas/user_v2.avsc"), include_str!("../../schemas/user_v3.avsc")),
    (include_str!("../../schemas/user_v3.avsc"), include_str!("../../schemas/user_v2.avsc")),
    (include_str!("../../schemas/user.avsc"), include_str!("../../schemas/user.avsc")),
];

/// Parses every schema of [`SCHEMAS`] once. A schema of the fixed set that does
/// not parse is a bug in this crate, so it panics (with the schema) at start-up.
pub fn parsed_schemas() -> Vec<Schema> {
    SCHEMAS
        .iter()
        .map(|s| Schema::parse_str(s).unwrap_or_else(|e| panic!("fixed schema {s} does not parse: {e}")))
        .collect()
}

/// Splits `data` at its first NUL byte: `(before, after)`, or `None` without one.
pub fn split_at_nul(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = data.iter().position(|&b| b == 0)?;
    Some((&data[..at], &data[at + 1..]))
}
