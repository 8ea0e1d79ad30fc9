//! Avro-JSON conversion and schema behaviour: the specification's encoding
//! rules, defaults, errors with paths, canonical forms and schema references.

use runnel_avro::{json, Schema};
use serde_json::{json, Value};

fn round_trip(schema: &str, value: Value) -> Vec<u8> {
    let s = Schema::parse_str(schema).unwrap();
    let bytes = json::to_vec(&s, &value).unwrap();
    runnel_avro::validate(&s, &bytes).unwrap();
    assert_eq!(json::from_binary(&s, &bytes).unwrap(), value);
    bytes
}

#[test]
fn unions_are_keyed_by_full_name_or_type_name() {
    let schema = r#"["null", "long", {"type":"record","name":"P","namespace":"a.b","fields":[]},
                     {"type":"array","items":"int"}, {"type":"long","logicalType":"timestamp-millis"}]"#;
    // A union may not hold two longs; the timestamp branch makes the schema invalid.
    assert!(Schema::parse_str(schema).is_err());
    let schema = r#"["null", "long", {"type":"record","name":"P","namespace":"a.b","fields":[]}, {"type":"array","items":"int"}]"#;
    assert_eq!(round_trip(schema, json!(null)), [0]);
    assert_eq!(round_trip(schema, json!({"long": -1})), [2, 1]);
    assert_eq!(round_trip(schema, json!({"a.b.P": {}})), [4]);
    assert_eq!(round_trip(schema, json!({"array": [1]})), [6, 2, 2, 0]);
    let s = Schema::parse_str(schema).unwrap();
    let err = json::to_vec(&s, &json!({"P": {}})).unwrap_err();
    assert!(err.message().contains("{\"a.b.P\": ...}"), "{err}");
    assert!(json::to_vec(&s, &json!(5)).is_err());
}

#[test]
fn logical_types_use_their_underlying_type_name_in_unions() {
    let schema = r#"["null", {"type":"long","logicalType":"timestamp-millis"}]"#;
    assert_eq!(round_trip(schema, json!({"long": 1_700_000_000_000_i64})).len(), 7);
}

#[test]
fn bytes_and_fixed_are_iso_8859_1_strings() {
    assert_eq!(round_trip(r#""bytes""#, json!("\u{0}\u{7f}\u{80}\u{ff}")), [8, 0, 0x7f, 0x80, 0xff]);
    let fixed = r#"{"type":"fixed","name":"F","size":2}"#;
    assert_eq!(round_trip(fixed, json!("\u{ff}a")), [0xff, b'a']);
    let s = Schema::parse_str(fixed).unwrap();
    assert!(json::to_vec(&s, &json!("abc")).unwrap_err().message().contains("fixed of 2 bytes"));
    let b = Schema::parse_str(r#""bytes""#).unwrap();
    assert!(json::to_vec(&b, &json!("€")).unwrap_err().message().contains("U+20AC"));
}

#[test]
fn non_finite_floats_are_strings_as_avro_tools_writes_them() {
    for (text, bits) in [("NaN", f64::NAN.to_bits()), ("Infinity", f64::INFINITY.to_bits())] {
        let bytes = round_trip(r#""double""#, json!(text));
        assert_eq!(bytes, bits.to_le_bytes());
    }
    assert_eq!(round_trip(r#""float""#, json!("-Infinity")), f32::NEG_INFINITY.to_le_bytes());
    // A float is written as the exact value of its 32 bits.
    let s = Schema::parse_str(r#""float""#).unwrap();
    let bytes = json::to_vec(&s, &json!(0.1)).unwrap();
    assert_eq!(json::from_binary(&s, &bytes).unwrap(), json!(f64::from(0.1f32)));
    assert!(json::to_vec(&s, &json!(1e300)).unwrap_err().message().contains("float range"));
}

#[test]
fn int_and_long_ranges_are_enforced() {
    round_trip(r#""int""#, json!(i32::MIN));
    round_trip(r#""long""#, json!(i64::MAX));
    let s = Schema::parse_str(r#""int""#).unwrap();
    assert!(json::to_vec(&s, &json!(2_147_483_648_i64)).is_err());
    assert!(json::to_vec(&s, &json!(1.5)).is_err());
    let l = Schema::parse_str(r#""long""#).unwrap();
    assert!(json::to_vec(&l, &json!(u64::MAX)).is_err());
}

#[test]
fn missing_fields_take_their_defaults_and_unknown_fields_are_refused() {
    let schema = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":"int"},
            {"name":"b","type":["null","string"],"default":null},
            {"name":"c","type":["string","null"],"default":"x"},
            {"name":"d","type":{"type":"record","name":"In","fields":[{"name":"e","type":["null","long"]}]},
             "default":{"e":null}},
            {"name":"f","type":"bytes","default":"\u00ff"}
        ]}"#,
    )
    .unwrap();
    let bytes = json::to_vec(&schema, &json!({"a": 1})).unwrap();
    assert_eq!(bytes, [2, 0, 0, 2, b'x', 0, 2, 0xff]);
    assert_eq!(
        json::from_binary(&schema, &bytes).unwrap(),
        json!({"a": 1, "b": null, "c": {"string": "x"}, "d": {"e": null}, "f": "\u{ff}"})
    );
    let err = json::to_vec(&schema, &json!({})).unwrap_err();
    assert_eq!(err.path(), "/a");
    let err = json::to_vec(&schema, &json!({"a": 1, "z": 2})).unwrap_err();
    assert!(err.message().contains("\"z\" is not a field of R"), "{err}");
}

#[test]
fn errors_name_the_path_of_the_offending_value() {
    let schema = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[
            {"name":"items","type":{"type":"array","items":{"type":"map","values":["null","int"]}}}]}"#,
    )
    .unwrap();
    let err = json::to_vec(&schema, &json!({"items": [{}, {"k": {"int": "x"}}]})).unwrap_err();
    assert_eq!(err.path(), "/items/1/k/branch 1");
    assert_eq!(err.to_string(), "at /items/1/k/branch 1: expected an int, got \"x\"");
}

#[test]
fn canonical_form_follows_the_specification() {
    assert_eq!(Schema::parse_str(r#"{"type":"int"}"#).unwrap().canonical_form(), r#""int""#);
    let s = Schema::parse_str(
        r#"{"type":"record","name":"R","namespace":"n","doc":"d","aliases":["Q"],"fields":[
            {"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2},"default":"","order":"descending"},
            {"name":"b","type":{"type":"fixed","name":"F","size":16,"logicalType":"uuid"}},
            {"name":"c","type":"F"},
            {"name":"d","type":{"type":"enum","name":"o.E","symbols":["X"],"default":"X"}},
            {"name":"e","type":{"type":"map","values":{"type":"array","items":"o.E"}}}]}"#,
    )
    .unwrap();
    assert_eq!(
        s.canonical_form(),
        concat!(
            r#"{"name":"n.R","type":"record","fields":["#,
            r#"{"name":"a","type":"bytes"},"#,
            r#"{"name":"b","type":{"name":"n.F","type":"fixed","size":16}},"#,
            r#"{"name":"c","type":"n.F"},"#,
            r#"{"name":"d","type":{"name":"o.E","type":"enum","symbols":["X"]}},"#,
            r#"{"name":"e","type":{"type":"map","values":{"type":"array","items":"o.E"}}}]}"#
        )
    );
    // Why the form is written by Runnel: apache-avro 0.22 keeps `precision`,
    // `scale` and `order`, which the [STRIP] rule removes.
    let apache = s.as_apache().canonical_form();
    assert!(apache.contains("precision") && apache != s.canonical_form(), "{apache}");
}

#[test]
fn fingerprints_match_the_specification_examples() {
    // CRC-64-AVRO of the canonical forms, as the Java implementation computes them
    // (share/test/data/schema-tests.txt of the Avro repository).
    let cases: [(&str, i64); 3] = [
        (r#""null""#, 7195948357588979594),
        (r#""boolean""#, -6970731678124411036),
        (r#""int""#, 8247732601305521295),
    ];
    for (schema, fp) in cases {
        assert_eq!(Schema::parse_str(schema).unwrap().fingerprint_crc64() as i64, fp, "{schema}");
    }
    let s = Schema::parse_str(r#""int""#).unwrap();
    assert_eq!(
        s.fingerprint_sha256()[..4],
        [0x3f, 0x2b, 0x87, 0xa9],
        "SHA-256 of the four bytes \"int\" with quotes"
    );
}

#[test]
fn references_are_resolved_and_inlined_in_the_canonical_form() {
    let address = Schema::parse_str(
        r#"{"type":"record","name":"Address","namespace":"ex","fields":[{"name":"city","type":"string"}]}"#,
    )
    .unwrap();
    let user_text = r#"{"type":"record","name":"User","namespace":"ex","fields":[
        {"name":"home","type":"Address"},{"name":"work","type":["null","ex.Address"]}]}"#;
    let user = Schema::parse_with_references(user_text, &[address]).unwrap();
    let inline = Schema::parse_str(
        r#"{"type":"record","name":"User","namespace":"ex","fields":[
        {"name":"home","type":{"type":"record","name":"Address","fields":[{"name":"city","type":"string"}]}},
        {"name":"work","type":["null","Address"]}]}"#,
    )
    .unwrap();
    assert_eq!(user.canonical_form(), inline.canonical_form());
    assert_eq!(user.json(), user_text);
    let v = json!({"home": {"city": "Oslo"}, "work": {"ex.Address": {"city": "Bergen"}}});
    let bytes = json::to_vec(&user, &v).unwrap();
    assert_eq!(json::from_binary(&user, &bytes).unwrap(), v);
    assert!(Schema::parse_with_references(user_text, &[]).is_err());
}

#[test]
fn the_model_resolves_recursive_names_to_indices() {
    use runnel_avro::model::NodeKind;
    let s = Schema::parse_str(
        r#"{"type":"record","name":"L","namespace":"x","fields":[{"name":"next","type":["null","L"]}]}"#,
    )
    .unwrap();
    let m = s.model();
    let root = m.root();
    assert_eq!(m.named("x.L"), Some(root));
    let NodeKind::Record(r) = m.kind(root) else { panic!("root is not a record") };
    let NodeKind::Union { branches } = m.kind(r.fields[0].node) else { panic!("not a union") };
    assert_eq!(branches[1], root);
    assert_eq!(m.type_name(root), "x.L");
}

#[test]
fn an_explicit_empty_namespace_does_not_inherit_the_enclosing_one() {
    let s = Schema::parse_str(
        r#"{"type":"record","name":"A","namespace":"x","fields":[
            {"name":"b","type":{"type":"record","name":"B","namespace":"","fields":[]}},
            {"name":"c","type":{"type":"record","name":"C","fields":[]}}]}"#,
    )
    .unwrap();
    assert!(s.model().named("B").is_some());
    assert!(s.model().named("x.C").is_some());
    assert!(s.canonical_str().contains(r#"{"name":"B","type":"record""#), "{}", s.canonical_str());
}
