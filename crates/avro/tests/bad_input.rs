//! Bad binary input: every kind of damage is an error naming the path and the
//! byte offset, never a panic and never an allocation sized by the input.

use runnel_avro::{json, validate, DecodeError, DecodeErrorKind, Schema};
use serde_json::json;

const USER: &str = r#"{
  "type": "record", "name": "User",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "age", "type": "int"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "manager", "type": ["null", "string"]},
    {"name": "scores", "type": {"type": "map", "values": "double"}}
  ]
}"#;

fn user() -> Schema {
    Schema::parse_str(USER).unwrap()
}

fn good() -> Vec<u8> {
    let v = json!({"id": 1, "name": "ada", "age": 36, "tags": ["a", "b"], "manager": {"string": "bob"},
                   "scores": {"x": 1.0}});
    json::to_vec(&user(), &v).unwrap()
}

/// Both readers must refuse `bytes` with the same error.
fn refused(schema: &Schema, bytes: &[u8]) -> DecodeError {
    let a = validate(schema, bytes).unwrap_err();
    let b = json::from_binary(schema, bytes).unwrap_err();
    assert_eq!(a, b, "the validator and the JSON decoder disagree");
    a
}

#[test]
fn truncation_at_every_cut_point_is_refused_with_a_path() {
    let schema = user();
    let bytes = good();
    for cut in 0..bytes.len() {
        let err = refused(&schema, &bytes[..cut]);
        assert!(err.offset() <= cut, "offset {} past the data at cut {cut}", err.offset());
        assert_ne!(err.path(), "/", "no path at cut {cut}: {err}");
    }
}

#[test]
fn trailing_bytes_are_refused_at_the_end_of_the_datum() {
    let mut bytes = good();
    let len = bytes.len();
    bytes.extend([0, 0]);
    let err = refused(&user(), &bytes);
    assert_eq!(err.kind(), &DecodeErrorKind::TrailingBytes(2));
    assert_eq!(err.offset(), len);
}

#[test]
fn overlong_varints_are_refused() {
    // id: eleven continuation bytes.
    let mut bytes = vec![0xff; 10];
    bytes.push(0x01);
    let err = refused(&user(), &bytes);
    assert_eq!(err.kind(), &DecodeErrorKind::VarintTooLong);
    assert_eq!((err.path().as_str(), err.offset()), ("/id", 0));
    // age: an int needing more than 32 bits.
    let mut bytes = vec![0x02, 0x00];
    bytes.extend([0x80, 0x80, 0x80, 0x80, 0x10]);
    let err = refused(&user(), &bytes);
    assert!(matches!(err.kind(), DecodeErrorKind::IntOutOfRange(_)), "{err}");
    assert_eq!((err.path().as_str(), err.offset()), ("/age", 2));
}

#[test]
fn huge_and_negative_lengths_are_refused_before_allocating() {
    // name: length 2^62.
    let mut bytes = vec![0x02];
    runnel_avro::binary::write_long(&mut bytes, 1 << 62);
    let err = refused(&user(), &bytes);
    assert!(matches!(err.kind(), DecodeErrorKind::LengthTooLarge { .. }), "{err}");
    assert_eq!((err.path().as_str(), err.offset()), ("/name", 1));
    // name: length -1.
    let err = refused(&user(), &[0x02, 0x01]);
    assert_eq!(err.kind(), &DecodeErrorKind::NegativeLength(-1));
    // tags: a block claiming 2^40 strings.
    let mut bytes = vec![0x02, 0x00, 0x02];
    runnel_avro::binary::write_long(&mut bytes, 1 << 40);
    let err = refused(&user(), &bytes);
    assert!(matches!(err.kind(), DecodeErrorKind::LengthTooLarge { .. }), "{err}");
    assert_eq!(err.path(), "/tags");
}

#[test]
fn bad_utf8_is_refused_with_the_element_path() {
    // tags[1] is not UTF-8.
    let bytes = [0x02, 0x00, 0x02, 0x04, 0x02, b'a', 0x02, 0xc3, 0x00];
    let err = refused(&user(), &bytes);
    assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
    assert_eq!((err.path().as_str(), err.offset()), ("/tags/1", 6));
}

#[test]
fn union_and_enum_indexes_out_of_range_are_refused() {
    let bytes = [0x02, 0x00, 0x02, 0x00, 0x04];
    let err = refused(&user(), &bytes);
    assert_eq!(err.kind(), &DecodeErrorKind::UnionIndexOutOfRange { index: 2, branches: 2 });
    assert_eq!((err.path().as_str(), err.offset()), ("/manager", 4));
    let e = Schema::parse_str(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#).unwrap();
    assert_eq!(refused(&e, &[0x01]).kind(), &DecodeErrorKind::EnumIndexOutOfRange { index: -1, symbols: 2 });
}

#[test]
fn map_errors_name_the_key_and_union_errors_the_branch() {
    // scores: {"k": <truncated double>}
    let bytes = [0x02, 0x00, 0x02, 0x00, 0x00, 0x02, 0x02, b'k', 0x01];
    let err = refused(&user(), &bytes);
    assert_eq!(err.path(), "/scores/k");
    let err = refused(&user(), &[0x02, 0x00, 0x02, 0x00, 0x02, 0x05]);
    assert_eq!(err.path(), "/manager/branch 1");
}

#[test]
fn blocks_with_byte_sizes_are_accepted_and_checked() {
    let s = Schema::parse_str(r#"{"type":"array","items":"int"}"#).unwrap();
    // Block of -2 items taking 2 bytes, then a plain block of 1, then the end.
    let bytes = [0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00];
    validate(&s, &bytes).unwrap();
    assert_eq!(json::from_binary(&s, &bytes).unwrap(), json!([1, 2, 3]));
    // The same block declaring 3 bytes.
    let err = refused(&s, &[0x03, 0x06, 0x02, 0x04, 0x00, 0x00]);
    assert_eq!(err.kind(), &DecodeErrorKind::BlockSizeMismatch { declared: 3, actual: 2 });
}

#[test]
fn many_empty_items_cost_nothing_to_validate_and_are_bounded_when_decoded() {
    let s = Schema::parse_str(r#"{"type":"array","items":"null"}"#).unwrap();
    // 60 blocks of 60 000 nulls: 3.6 million items in ~200 bytes.
    let mut bytes = Vec::new();
    for _ in 0..60 {
        runnel_avro::binary::write_long(&mut bytes, 60_000);
    }
    bytes.push(0);
    validate(&s, &bytes).unwrap();
    let err = json::from_binary(&s, &bytes).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::LengthTooLarge { .. }), "{err}");
}

#[test]
fn deep_recursive_data_is_refused_not_overflowing_the_stack() {
    let s = Schema::parse_str(
        r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}"#,
    )
    .unwrap();
    let mut bytes = vec![0x02; 100_000];
    bytes.push(0x00);
    let err = refused(&s, &bytes);
    assert_eq!(err.kind(), &DecodeErrorKind::TooDeep(runnel_avro::MAX_DEPTH));
    assert!(err.path().starts_with("/next/branch 1/next/branch 1/"));
    // Within the limit it is fine.
    let mut ok = vec![0x02; 50];
    ok.push(0x00);
    validate(&s, &ok).unwrap();
}

#[test]
fn deeply_nested_schemas_are_refused_by_the_parser() {
    let mut schema = String::from("\"int\"");
    for _ in 0..200 {
        schema = format!("{{\"type\":\"array\",\"items\":{schema}}}");
    }
    assert!(Schema::parse_str(&schema).is_err());
    let mut value = json!("int");
    for _ in 0..300 {
        value = json!({"type": "array", "items": value});
    }
    let err = Schema::parse_json(&value).unwrap_err();
    assert!(err.reason().contains("nested deeper"), "{err}");
}
