//! Resolution cost: a ~100-byte `User` record written by an older producer
//! (v1: no `verified` field, `age` an int) read as v2 (`verified` with a
//! default, `age` a long) — transcoding then decoding, against decoding v2
//! bytes directly. The decoder is what `#[derive(Avro)]` generates, written
//! out by hand: it reads straight into the struct, allocating its strings.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use runnel_avro::binary::{
    write_block_end, write_block_len, write_bool, write_int, write_long, write_string, Reader,
};
use runnel_avro::resolve::Plan;
use runnel_avro::{DecodeError, Schema};

const V1: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"id","type":"long"},
    {"name":"name","type":"string"},
    {"name":"email","type":"string"},
    {"name":"age","type":"int"},
    {"name":"city","type":"string"},
    {"name":"country","type":"string"},
    {"name":"tags","type":{"type":"array","items":"string"}}]}"#;

const V2: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"id","type":"long"},
    {"name":"name","type":"string"},
    {"name":"email","type":"string"},
    {"name":"verified","type":"boolean","default":false},
    {"name":"age","type":"long"},
    {"name":"city","type":"string"},
    {"name":"country","type":"string"},
    {"name":"tags","type":{"type":"array","items":"string"}}]}"#;

#[derive(Debug)]
struct User {
    id: i64,
    name: String,
    email: String,
    verified: bool,
    age: i64,
    city: String,
    country: String,
    tags: Vec<String>,
}

/// What the derive generates for v2.
fn decode_v2(r: &mut Reader<'_>) -> Result<User, DecodeError> {
    let id = r.read_long()?;
    let name = r.read_str()?.to_owned();
    let email = r.read_str()?.to_owned();
    let verified = r.read_bool()?;
    let age = r.read_long()?;
    let city = r.read_str()?.to_owned();
    let country = r.read_str()?.to_owned();
    let mut tags = Vec::new();
    while let Some(n) = r.read_block_len()? {
        tags.reserve(n);
        for _ in 0..n {
            tags.push(r.read_str()?.to_owned());
        }
    }
    r.finish()?;
    Ok(User { id, name, email, verified, age, city, country, tags })
}

fn v1_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    write_long(&mut b, 1_234_567_890);
    write_string(&mut b, "Ada Lovelace");
    write_string(&mut b, "ada.lovelace@example.com");
    write_int(&mut b, 36);
    write_string(&mut b, "London");
    write_string(&mut b, "United Kingdom");
    write_block_len(&mut b, 3);
    for t in ["mathematics", "poetry", "engines"] {
        write_string(&mut b, t);
    }
    write_block_end(&mut b);
    b
}

fn v2_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    write_long(&mut b, 1_234_567_890);
    write_string(&mut b, "Ada Lovelace");
    write_string(&mut b, "ada.lovelace@example.com");
    write_bool(&mut b, false);
    write_long(&mut b, 36);
    write_string(&mut b, "London");
    write_string(&mut b, "United Kingdom");
    write_block_len(&mut b, 3);
    for t in ["mathematics", "poetry", "engines"] {
        write_string(&mut b, t);
    }
    write_block_end(&mut b);
    b
}

fn bench(c: &mut Criterion) {
    let v1 = Schema::parse_str(V1).expect("v1 parses");
    let v2 = Schema::parse_str(V2).expect("v2 parses");
    let plan = Plan::new(&v1, &v2).expect("v2 reads v1");
    let old = v1_bytes();
    let new = v2_bytes();
    let mut out = Vec::new();
    plan.transcode(&old, &mut out).expect("transcodes");
    assert_eq!(out, new, "transcoding v1 gives v2's encoding");
    let user = decode_v2(&mut Reader::new(&out)).expect("decodes");
    let fields = (user.id, user.name.as_str(), user.email.as_str(), user.verified, user.age);
    assert_eq!(fields, (1_234_567_890, "Ada Lovelace", "ada.lovelace@example.com", false, 36));
    assert_eq!((user.city.as_str(), user.country.as_str(), user.tags.len()), ("London", "United Kingdom", 3));

    let mut g = c.benchmark_group(format!("user_{}_bytes", old.len()));
    g.bench_function("decode_v2", |b| {
        b.iter(|| decode_v2(&mut Reader::new(black_box(&new))).expect("decodes"))
    });
    g.bench_function("transcode_v1_to_v2", |b| {
        b.iter(|| {
            out.clear();
            plan.transcode(black_box(&old), &mut out).expect("transcodes");
        })
    });
    g.bench_function("transcode_then_decode", |b| {
        b.iter(|| {
            out.clear();
            plan.transcode(black_box(&old), &mut out).expect("transcodes");
            decode_v2(&mut Reader::new(&out)).expect("decodes")
        })
    });
    g.bench_function("plan_new", |b| b.iter(|| Plan::new(black_box(&v1), black_box(&v2)).expect("plans")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
