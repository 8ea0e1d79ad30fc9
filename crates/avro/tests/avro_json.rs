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

/// A record with floats and doubles wherever Avro-JSON can hold them, and fields
/// where a bare NaN does not belong.
const NON_FINITE_HOLDER: &str = r#"{"type":"record","name":"R","fields":[
    {"name":"d","type":"double"},
    {"name":"f","type":"float"},
    {"name":"list","type":{"type":"array","items":"double"}},
    {"name":"map","type":{"type":"map","values":"float"}},
    {"name":"maybe","type":["null","double"]},
    {"name":"s","type":"string","default":""},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["NaN","Infinity"]},"default":"NaN"},
    {"name":"i","type":"int","default":0}]}"#;

/// The bytes of a `NON_FINITE_HOLDER` datum with these floats and the defaults.
fn holder_bytes(d: f64, f: f32, list: &[f64], map: Option<(&str, f32)>, maybe: Option<f64>) -> Vec<u8> {
    let mut out = d.to_le_bytes().to_vec();
    out.extend(f.to_le_bytes());
    if !list.is_empty() {
        out.push((list.len() * 2) as u8);
        for x in list {
            out.extend(x.to_le_bytes());
        }
    }
    out.push(0);
    if let Some((k, v)) = map {
        out.extend([2, (k.len() * 2) as u8]);
        out.extend(k.as_bytes());
        out.extend(v.to_le_bytes());
    }
    out.push(0);
    match maybe {
        None => out.push(0),
        Some(x) => {
            out.push(2);
            out.extend(x.to_le_bytes());
        }
    }
    out.extend([0, 0, 0]); // "", enum index 0, int 0
    out
}

#[test]
fn bare_nan_and_infinities_encode_floats_and_doubles_and_come_back_as_strings() {
    let s = Schema::parse_str(NON_FINITE_HOLDER).unwrap();
    // As Python's json.dumps and fastavro's json_writer write them.
    let text = r#"{"d": NaN, "f": -Infinity, "list": [Infinity,-Infinity, NaN,1.5], "map": {"k":NaN},
                  "maybe": {"double": -Infinity}}"#;
    let mut buf = Vec::new();
    let value = json::str_to_binary(&s, text, &mut buf).unwrap();
    let list = [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1.5];
    let expected =
        holder_bytes(f64::NAN, f32::NEG_INFINITY, &list, Some(("k", f32::NAN)), Some(f64::NEG_INFINITY));
    assert_eq!(buf, expected);
    runnel_avro::validate(&s, &buf).unwrap();
    // The value read is the documented string form, which encodes to the same bytes.
    let strings = json!({"d": "NaN", "f": "-Infinity", "list": ["Infinity", "-Infinity", "NaN", 1.5],
                         "map": {"k": "NaN"}, "maybe": {"double": "-Infinity"}});
    assert_eq!(value, strings);
    assert_eq!(json::to_vec(&s, &strings).unwrap(), expected);
    // And the bytes decode to that form, defaults included.
    let mut decoded = strings.clone();
    decoded["s"] = json!("");
    decoded["e"] = json!("NaN");
    decoded["i"] = json!(0);
    assert_eq!(json::from_binary(&s, &expected).unwrap(), decoded);
    // Quoted, as Avro Java and avro-tools write them: the same bytes.
    let mut again = Vec::new();
    json::str_to_binary(&s, &decoded.to_string(), &mut again).unwrap();
    assert_eq!(again, expected);
}

#[test]
fn bare_tokens_are_exact_ieee_values_for_lone_floats_and_doubles() {
    let double = Schema::parse_str(r#""double""#).unwrap();
    let float = Schema::parse_str(r#""float""#).unwrap();
    for (text, d, f) in [
        ("NaN", f64::NAN, f32::NAN),
        ("Infinity", f64::INFINITY, f32::INFINITY),
        (" -Infinity\n", f64::NEG_INFINITY, f32::NEG_INFINITY),
    ] {
        let mut buf = Vec::new();
        json::str_to_binary(&double, text, &mut buf).unwrap();
        assert_eq!(buf, d.to_bits().to_le_bytes(), "{text}");
        buf.clear();
        json::str_to_binary(&float, text, &mut buf).unwrap();
        assert_eq!(buf, f.to_bits().to_le_bytes(), "{text}");
    }
}

#[test]
fn bare_tokens_are_refused_where_no_float_or_double_is_expected() {
    let s = Schema::parse_str(NON_FINITE_HOLDER).unwrap();
    let with = |fields: &str| format!(r#"{{"d": 1, "f": 2, "map": {{}}, "maybe": null, {fields}}}"#);
    let out_of_place = "an unquoted NaN, Infinity or -Infinity is a float or double value";
    for (fields, path, message) in [
        (r#""list": [], "s": NaN"#, "/s", out_of_place),
        (r#""list": [], "e": Infinity"#, "/e", out_of_place),
        (r#""list": [], "i": -Infinity"#, "/i", "expected an int"),
        // The first wrong value is reported, token or not.
        (r#""list": [1, "x", NaN]"#, "/list/1", "expected a double"),
        (r#""list": [NaN], "s": "x", "e": "NaN", "i": NaN"#, "/i", "expected an int"),
        (r#""list": [], "s": Infinity, "i": "x""#, "/s", out_of_place),
    ] {
        let text = with(fields);
        let err = json::str_to_binary(&s, &text, &mut Vec::new()).unwrap_err();
        let json::TextError::Value(e) = err else { panic!("{text}: not a value error: {err}") };
        assert_eq!(e.path(), path, "{text}: {e}");
        assert!(e.message().starts_with(message), "{text}: {e}");
    }
    // A string or a symbol spelt like a token is a quoted one.
    let value =
        json::str_to_binary(&s, &with(r#""list": [NaN], "s": "NaN", "e": "Infinity""#), &mut Vec::new());
    let value = value.unwrap();
    assert_eq!(
        (&value["s"], &value["e"], &value["list"]),
        (&json!("NaN"), &json!("Infinity"), &json!(["NaN"]))
    );
    // In a union the branch is named, as for any value.
    let err = json::str_to_binary(&s, &with(r#""list": [], "maybe": NaN"#), &mut Vec::new()).unwrap_err();
    assert!(err.to_string().starts_with("at /maybe: "), "{err}");
}

#[test]
fn text_that_is_not_json_fails_as_serde_json_says_at_the_input_position() {
    let s = Schema::parse_str(NON_FINITE_HOLDER).unwrap();
    let serde = |text: &str| serde_json::from_str::<Value>(text).unwrap_err().to_string();
    // Without a bare token, serde_json's own error.
    for text in ["", "{", r#"{"d": nan}"#, r#"{"d": -NaN}"#, r#"{"d": Infinityx}"#, "[1,]", "\"NaN"] {
        let err = json::str_to_binary(&s, text, &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), format!("not JSON: {}", serde(text)), "{text:?}");
    }
    // With one, the error after it is reported where it is in the input.
    let err = json::str_to_binary(&s, r#"{"d": -Infinity, "f": }"#, &mut Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), format!("not JSON: {}", serde(r#"{"d": -12345678, "f": }"#)));
    assert!(err.to_string().ends_with("column 23"), "{err}");
    // Keys are strings: a bare token is no key.
    let err = json::str_to_binary(&s, r#"{NaN: 1}"#, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, json::TextError::Syntax(_)), "{err}");
}

#[test]
fn tokens_inside_strings_and_words_are_left_alone() {
    let s = Schema::parse_str(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},
            {"name":"b","type":"string"},{"name":"d","type":"double"}]}"#,
    )
    .unwrap();
    let text = r#"{"a": "Infinity \" NaN -Infinity", "b": "\\", "d": NaN}"#;
    let value = json::str_to_binary(&s, text, &mut Vec::new()).unwrap();
    assert_eq!(value, json!({"a": "Infinity \" NaN -Infinity", "b": "\\", "d": "NaN"}));
    let d = Schema::parse_str(r#"{"type":"array","items":"double"}"#).unwrap();
    for text in ["[NaNNaN]", "[1NaN]", "[NaN1]", "[Infinity-Infinity]", "[+Infinity]", "[\"NaN\" NaN]"] {
        assert!(
            matches!(json::str_to_binary(&d, text, &mut Vec::new()), Err(json::TextError::Syntax(_))),
            "{text}"
        );
    }
}

proptest::proptest! {
    /// Any text: no panic; JSON gives exactly what the `Value` path gives; with a bare
    /// token, the bytes are those of the same text with the tokens quoted.
    #[test]
    fn text_encoding_agrees_with_the_value_path(
        pieces in proptest::collection::vec(proptest::sample::select(vec![
            "NaN", "Infinity", "-Infinity", "1.5", "-0", "\"NaN\"", "\"a\\\"b\"", "[", "]", "{", "}",
            ",", ":", " ", "\"d\"", "\"list\"", "null", "{\"double\":", "\u{e9}", "\\",
        ]), 0..24)
    ) {
        let text: String = pieces.concat();
        let s = Schema::parse_str(NON_FINITE_HOLDER).unwrap();
        let list = Schema::parse_str(r#"{"type":"array","items":["null","double"]}"#).unwrap();
        for schema in [&s, &list] {
            let mut buf = Vec::new();
            let got = json::str_to_binary(schema, &text, &mut buf);
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let direct = json::to_vec(schema, &v);
                proptest::prop_assert_eq!(got.is_ok(), direct.is_ok());
                if let Ok(bytes) = direct {
                    proptest::prop_assert_eq!(buf, bytes);
                }
            } else if let Ok(value) = got {
                proptest::prop_assert_eq!(json::to_vec(schema, &value).unwrap(), buf);
            }
        }
    }
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
