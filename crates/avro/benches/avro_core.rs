//! Benchmarks of the validator and of Avro-JSON conversion on a ~100-byte User
//! record (id, name, email, age, active, score, tags, manager), with
//! apache-avro's decoder into its `Value` tree as a point of reference.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use runnel_avro::binary::Reader;
use runnel_avro::{json, validate, validate_by_walk, DecodeError, Schema};

const USER: &str = r#"{
  "type": "record", "name": "User", "namespace": "com.example",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "name", "type": "string"},
    {"name": "email", "type": "string"},
    {"name": "age", "type": "int"},
    {"name": "active", "type": "boolean"},
    {"name": "score", "type": "double"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "manager", "type": ["null", "string"], "default": null}
  ]
}"#;

fn user_datum() -> serde_json::Value {
    serde_json::json!({
        "id": 1_234_567_890_123_i64,
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "age": 36,
        "active": true,
        "score": 98.25,
        "tags": ["mathematics", "engines", "poetry"],
        "manager": {"string": "Charles Babbage"}
    })
}

/// The benchmark's User validated by code written for its schema alone: the
/// bound a validator generated per schema could reach, against which the
/// compiled program `validate` runs is measured (bench/RESULTS.md).
#[inline(never)]
fn validate_user_by_hand(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    r.read_long()?;
    r.read_str()?;
    r.read_str()?;
    r.read_int()?;
    r.read_bool()?;
    r.read_double()?;
    while let Some(block) = r.read_block()? {
        for _ in 0..block.count {
            r.read_str()?;
        }
    }
    if r.read_union_index(2)? == 1 {
        r.read_str()?;
    }
    r.finish()
}

fn benches(c: &mut Criterion) {
    let schema = Schema::parse_str(USER).expect("the benchmark schema is valid");
    let datum = user_datum();
    let bytes = json::to_vec(&schema, &datum).expect("the benchmark datum matches its schema");
    println!("User record: {} bytes", bytes.len());

    let mut g = c.benchmark_group("user_record");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("validate", |b| b.iter(|| validate(black_box(&schema), black_box(&bytes))));
    g.bench_function("validate_by_walk", |b| {
        b.iter(|| validate_by_walk(black_box(&schema), black_box(&bytes)))
    });
    g.bench_function("validate_by_hand", |b| b.iter(|| validate_user_by_hand(black_box(&bytes))));
    let mut buf = Vec::with_capacity(256);
    g.bench_function("json_to_binary", |b| {
        b.iter(|| {
            buf.clear();
            json::to_binary(black_box(&schema), black_box(&datum), &mut buf)
        })
    });
    g.bench_function("binary_to_json", |b| {
        b.iter(|| json::from_binary(black_box(&schema), black_box(&bytes)))
    });
    // Built once, as a long-lived consumer would.
    let apache = apache_avro::reader::datum::GenericDatumReader::builder(schema.as_apache())
        .build()
        .expect("apache-avro accepts the benchmark schema");
    g.bench_function("apache_avro_decode_to_value", |b| {
        b.iter(|| apache.read_value(&mut black_box(&bytes[..])))
    });
    g.finish();
}

criterion_group!(avro_core, benches);
criterion_main!(avro_core);
