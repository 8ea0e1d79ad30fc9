//! Property tests: random schemas and random datums of them go Avro-JSON →
//! binary → Avro-JSON unchanged, the binary validates, every strict prefix of
//! it is refused (Avro binary is prefix-free), apache-avro (an implementation
//! written elsewhere) reads the bytes and writes the same datum back, and the
//! canonical form parses back to itself.

use proptest::prelude::*;
use runnel_avro::{json, validate, validate_by_walk, Schema};
use serde_json::{json, Map, Value};

/// A schema shape; names are given when it is written as JSON.
#[derive(Debug, Clone)]
enum Shape {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array(Box<Shape>),
    Map(Box<Shape>),
    /// Branches of distinct kinds (the specification forbids two of one unnamed kind).
    Union(Vec<Shape>),
    Record(Vec<Shape>),
    Enum(usize),
    Fixed(usize),
}

fn primitive() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Null),
        Just(Shape::Boolean),
        Just(Shape::Int),
        Just(Shape::Long),
        Just(Shape::Float),
        Just(Shape::Double),
        Just(Shape::Bytes),
        Just(Shape::String),
        (1usize..5).prop_map(Shape::Enum),
        (0usize..6).prop_map(Shape::Fixed),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    primitive().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Shape::Array(Box::new(s))),
            inner.clone().prop_map(|s| Shape::Map(Box::new(s))),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Shape::Record),
            (
                prop::sample::subsequence(
                    vec![Shape::Null, Shape::Boolean, Shape::Int, Shape::Long, Shape::Double, Shape::String],
                    1..4
                ),
                prop::option::of(inner.prop_filter("a kind the branches above cannot have", |s| {
                    matches!(
                        s,
                        Shape::Float
                            | Shape::Bytes
                            | Shape::Enum(_)
                            | Shape::Fixed(_)
                            | Shape::Array(_)
                            | Shape::Map(_)
                            | Shape::Record(_)
                    )
                }))
            )
                .prop_map(|(mut branches, extra)| {
                    branches.extend(extra);
                    Shape::Union(branches)
                }),
        ]
    })
}

/// Writes the schema JSON, naming named types `N0`, `N1`, ... in order.
fn schema_json(s: &Shape, next: &mut usize) -> Value {
    let mut name = || {
        *next += 1;
        format!("N{}", *next - 1)
    };
    match s {
        Shape::Null => json!("null"),
        Shape::Boolean => json!("boolean"),
        Shape::Int => json!("int"),
        Shape::Long => json!("long"),
        Shape::Float => json!("float"),
        Shape::Double => json!("double"),
        Shape::Bytes => json!("bytes"),
        Shape::String => json!("string"),
        Shape::Array(i) => json!({"type": "array", "items": schema_json(i, next)}),
        Shape::Map(v) => json!({"type": "map", "values": schema_json(v, next)}),
        Shape::Union(b) => Value::Array(b.iter().map(|b| schema_json(b, next)).collect()),
        Shape::Enum(n) => {
            json!({"type": "enum", "name": name(), "symbols": (0..*n).map(|i| format!("S{i}")).collect::<Vec<_>>()})
        }
        Shape::Fixed(n) => json!({"type": "fixed", "name": name(), "size": n}),
        Shape::Record(fields) => {
            let n = name();
            let fields: Vec<Value> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| json!({"name": format!("f{i}"), "type": schema_json(f, next)}))
                .collect();
            json!({"type": "record", "name": n, "fields": fields})
        }
    }
}

/// The Avro-JSON union key of a branch, given the names the schema writer assigned.
fn datum(s: &Shape, schema: &Value) -> BoxedStrategy<Value> {
    let latin1 = |b: Vec<u8>| Value::String(b.into_iter().map(char::from).collect());
    match s {
        Shape::Null => Just(Value::Null).boxed(),
        Shape::Boolean => any::<bool>().prop_map(Value::from).boxed(),
        Shape::Int => any::<i32>().prop_map(Value::from).boxed(),
        Shape::Long => any::<i64>().prop_map(Value::from).boxed(),
        Shape::Float => any::<f32>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::from(f64::from(f)))
            .boxed(),
        Shape::Double => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from).boxed(),
        Shape::Bytes => prop::collection::vec(any::<u8>(), 0..8).prop_map(latin1).boxed(),
        Shape::String => any::<String>().prop_map(Value::from).boxed(),
        Shape::Fixed(n) => prop::collection::vec(any::<u8>(), *n).prop_map(latin1).boxed(),
        Shape::Enum(n) => (0..*n).prop_map(|i| Value::from(format!("S{i}"))).boxed(),
        Shape::Array(i) => {
            prop::collection::vec(datum(i, &schema["items"]), 0..4).prop_map(Value::Array).boxed()
        }
        Shape::Map(v) => prop::collection::btree_map("[a-z]{0,3}", datum(v, &schema["values"]), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
            .boxed(),
        Shape::Record(fields) => {
            let strategies: Vec<BoxedStrategy<Value>> =
                fields.iter().enumerate().map(|(i, f)| datum(f, &schema["fields"][i]["type"])).collect();
            strategies
                .prop_map(|values| {
                    let obj: Map<String, Value> =
                        values.into_iter().enumerate().map(|(i, v)| (format!("f{i}"), v)).collect();
                    Value::Object(obj)
                })
                .boxed()
        }
        Shape::Union(branches) => {
            let options: Vec<BoxedStrategy<Value>> = branches
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let branch_schema = schema[i].clone();
                    let key = match &branch_schema {
                        Value::String(s) => s.clone(),
                        Value::Object(o) if o.contains_key("name") => {
                            o["name"].as_str().unwrap_or_default().to_owned()
                        }
                        Value::Object(o) => o["type"].as_str().unwrap_or_default().to_owned(),
                        _ => String::new(),
                    };
                    datum(b, &branch_schema)
                        .prop_map(
                            move |v| if key == "null" { Value::Null } else { json!({ key.clone(): v }) },
                        )
                        .boxed()
                })
                .collect();
            prop::strategy::Union::new(options).boxed()
        }
    }
}

fn schema_and_datum() -> impl Strategy<Value = (Value, Value)> {
    shape().prop_flat_map(|s| {
        let schema = schema_json(&s, &mut 0);
        let d = datum(&s, &schema);
        (Just(schema), d)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn json_to_binary_to_json_is_the_identity((schema_value, value) in schema_and_datum()) {
        let schema = Schema::parse_json(&schema_value).unwrap();
        let bytes = json::to_vec(&schema, &value).unwrap();
        prop_assert!(validate(&schema, &bytes).is_ok());
        prop_assert_eq!(json::from_binary(&schema, &bytes).unwrap(), value);
        for cut in 0..bytes.len() {
            let err = validate(&schema, &bytes[..cut]);
            prop_assert!(err.is_err(), "prefix of {} bytes accepted", cut);
            prop_assert!(json::from_binary(&schema, &bytes[..cut]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(validate(&schema, &longer).is_err());
        // apache-avro reads our bytes and writes back the same datum (its maps are
        // hash maps, so map entries may come back in another order).
        let apache = schema.as_apache();
        let reader = apache_avro::reader::datum::GenericDatumReader::builder(apache).build().unwrap();
        let value = reader.read_value(&mut &bytes[..]).unwrap();
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(apache).build().unwrap();
        let theirs = writer.write_value_to_vec(value).unwrap();
        prop_assert_eq!(theirs.len(), bytes.len());
        prop_assert_eq!(json::from_binary(&schema, &theirs).unwrap(), json::from_binary(&schema, &bytes).unwrap());
    }

    #[test]
    fn canonical_form_is_a_fixed_point(schema_value in shape().prop_map(|s| schema_json(&s, &mut 0))) {
        let schema = Schema::parse_json(&schema_value).unwrap();
        let again = Schema::parse_str(schema.canonical_str()).unwrap();
        prop_assert_eq!(again.canonical_str(), schema.canonical_str());
        prop_assert_eq!(again.fingerprint_crc64(), schema.fingerprint_crc64());
    }

    #[test]
    fn arbitrary_bytes_never_panic((schema_value, _v) in schema_and_datum(), junk in prop::collection::vec(any::<u8>(), 0..64)) {
        let schema = Schema::parse_json(&schema_value).unwrap();
        // Either outcome is fine; the two must agree, and neither may panic.
        prop_assert_eq!(validate(&schema, &junk).is_ok(), json::from_binary(&schema, &junk).is_ok());
    }

    /// The compiled program `validate` runs and the walk that words its errors agree
    /// on a datum, on every prefix of it, and on it with any one byte changed.
    #[test]
    fn the_program_and_the_walk_agree(
        (schema_value, value) in schema_and_datum(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let schema = Schema::parse_json(&schema_value).unwrap();
        let bytes = json::to_vec(&schema, &value).unwrap();
        let agree = |b: &[u8]| validate(&schema, b).is_ok() == validate_by_walk(&schema, b).is_ok();
        prop_assert!(agree(&bytes));
        for cut in 0..bytes.len() {
            prop_assert!(agree(&bytes[..cut]), "prefix of {} bytes", cut);
        }
        if !bytes.is_empty() {
            for (at, byte) in changes {
                let mut changed = bytes.clone();
                changed[at.index(bytes.len())] = byte;
                prop_assert!(agree(&changed), "{:?}", changed);
            }
        }
    }
}
