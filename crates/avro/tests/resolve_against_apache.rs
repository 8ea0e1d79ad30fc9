//! Cross-check of resolution plans against an implementation nobody here
//! wrote: apache-avro's own datum resolution. Random datums are encoded under
//! a writer schema; Runnel's transcoded bytes, decoded under the reader
//! schema, must equal apache-avro's resolved value.
//!
//! The pairs avoid the areas where apache-avro's resolution itself departs
//! from the specification (aliases, enum defaults, non-union writers read
//! through a reader union), which the rule-by-rule tests in `resolve.rs` cover.

#![allow(deprecated)] // apache-avro 0.22 deprecates the one-call datum helpers used here.

use std::collections::HashMap;

use apache_avro::schema::Schema as Apache;
use apache_avro::types::Value;
use runnel_avro::resolve::Plan;
use runnel_avro::{validate, Schema};

/// A small deterministic generator (xorshift64), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        let len = self.below(12) as usize;
        (0..len).map(|_| ['a', 'é', 'z', '7', ' ', '字'][self.below(6) as usize]).collect()
    }
}

/// A random value of `schema` (no named references: the pairs below define each type inline).
fn random_value(schema: &Apache, rng: &mut Rng) -> Value {
    match schema {
        Apache::Null => Value::Null,
        Apache::Boolean => Value::Boolean(rng.below(2) == 1),
        Apache::Int => Value::Int(rng.next() as i32 >> rng.below(32)),
        Apache::Long => Value::Long(rng.next() as i64 >> rng.below(64)),
        Apache::Float => Value::Float((rng.next() as i32 >> 8) as f32 / 64.0),
        Apache::Double => Value::Double((rng.next() as i64 >> 11) as f64 / 1024.0),
        Apache::Bytes => Value::Bytes((0..rng.below(8)).map(|_| rng.next() as u8).collect()),
        Apache::String => Value::String(rng.string()),
        Apache::Fixed(f) => Value::Fixed(f.size, (0..f.size).map(|_| rng.next() as u8).collect()),
        Apache::Enum(e) => {
            let i = rng.below(e.symbols.len() as u64) as usize;
            Value::Enum(i as u32, e.symbols[i].clone())
        }
        Apache::Array(a) => Value::Array((0..rng.below(4)).map(|_| random_value(&a.items, rng)).collect()),
        Apache::Map(m) => {
            let map: HashMap<String, Value> =
                (0..rng.below(4)).map(|i| (format!("k{i}"), random_value(&m.types, rng))).collect();
            Value::Map(map)
        }
        Apache::Union(u) => {
            let i = rng.below(u.variants().len() as u64) as usize;
            Value::Union(i as u32, Box::new(random_value(&u.variants()[i], rng)))
        }
        Apache::Record(r) => {
            Value::Record(r.fields.iter().map(|f| (f.name.clone(), random_value(&f.schema, rng))).collect())
        }
        other => panic!("the pairs here do not use {other:?}"),
    }
}

/// (writer, reader) pairs covering field addition with defaults, removal,
/// reordering, promotions, enum growth, union growth and nested types.
const PAIRS: &[(&str, &str)] = &[
    (
        r#"{"type":"record","name":"U","fields":[
            {"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"gone","type":{"type":"map","values":"long"}}]}"#,
        r#"{"type":"record","name":"U","fields":[
            {"name":"age","type":"double"},{"name":"email","type":["null","string"],"default":null},
            {"name":"name","type":"bytes"},{"name":"n","type":"long","default":7}]}"#,
    ),
    (
        r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"array","items":{"type":"record","name":"I","fields":[
                {"name":"x","type":"int"},{"name":"y","type":"float"},{"name":"z","type":"string"}]}}},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
            {"name":"u","type":["null","int","string"]}]}"#,
        r#"{"type":"record","name":"R","fields":[
            {"name":"u","type":["null","string","long","boolean"]},
            {"name":"a","type":{"type":"array","items":{"type":"record","name":"I","fields":[
                {"name":"z","type":"string"},{"name":"y","type":"double"},{"name":"w","type":"int","default":-1}]}}},
            {"name":"e","type":{"type":"enum","name":"E","symbols":["B","C","A"]}}]}"#,
    ),
    (
        r#"{"type":"record","name":"M","fields":[
            {"name":"m","type":{"type":"map","values":["null","long"]}},
            {"name":"f","type":{"type":"fixed","name":"F","size":3}},
            {"name":"b","type":"boolean"},{"name":"s","type":"string"}]}"#,
        r#"{"type":"record","name":"M","fields":[
            {"name":"m","type":{"type":"map","values":["null","float"]}},
            {"name":"f","type":{"type":"fixed","name":"F","size":3}},
            {"name":"s","type":"string"}]}"#,
    ),
];

#[test]
fn transcoded_bytes_decode_to_apache_avros_resolved_value() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (writer_json, reader_json) in PAIRS {
        let writer = Schema::parse_str(writer_json).expect("writer parses");
        let reader = Schema::parse_str(reader_json).expect("reader parses");
        let plan = Plan::new(&writer, &reader).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        for _ in 0..300 {
            let value = random_value(writer.as_apache(), &mut rng);
            let bytes =
                apache_avro::to_avro_datum(writer.as_apache(), value.clone()).expect("apache encodes");
            let resolved =
                apache_avro::from_avro_datum(writer.as_apache(), &mut &bytes[..], Some(reader.as_apache()))
                    .expect("apache resolves");
            out.clear();
            plan.transcode(&bytes, &mut out).unwrap_or_else(|e| panic!("transcode {value:?}: {e}"));
            validate(&reader, &out)
                .unwrap_or_else(|e| panic!("transcoded {value:?} is not a reader datum: {e}"));
            // Compared as values: a map's entries may come in any order.
            let mine = apache_avro::from_avro_datum(reader.as_apache(), &mut &out[..], None)
                .unwrap_or_else(|e| panic!("the transcoded bytes of {value:?} do not decode: {e}"));
            assert_eq!(mine, resolved, "datum {value:?}");
        }
    }
}
