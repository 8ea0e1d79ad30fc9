//! The codec benchmark: a ~100-byte User record (schemas/user.avsc) encoded
//! and decoded by `#[derive(Avro)]` (owned, into an existing value, and as a
//! borrowed view), by apache-avro's two paths, and by prost with an equivalent
//! message; plus decoding v1 data as v2 through a resolution plan.
//!
//! apache-avro is measured on its fastest path, the schema-aware serde
//! serializer and deserializer that write and read bytes directly
//! (`GenericDatumWriter::write_ser`, `GenericDatumReader::read_deser`), and on
//! its `Value` path (`to_value` + `to_avro_datum`, `from_avro_datum` +
//! `from_value`). Run:
//! `cargo bench --bench codec --features codegen -- --warm-up-time 1 --measurement-time 3`.

// apache-avro 0.22 deprecates `to_avro_datum`/`from_avro_datum` in favour of
// GenericDatumWriter/Reader; they remain its `Value` path, measured as the second row.
#![allow(deprecated)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use runnel::avro::{from_slice, from_slice_borrowed, resolve::Plan, to_vec, Reader};
use runnel::Avro;

#[path = "../tests/common/user.rs"]
mod user;
use user::{User, UserRef};

#[allow(dead_code)]
mod v2 {
    include!(concat!(env!("OUT_DIR"), "/user_v2.rs"));
}

/// The same record for apache-avro's serde path.
/// (apache-avro's schema-aware deserializer checks the record's name: `User`.)
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[serde(rename = "User")]
struct UserSerde {
    id: i64,
    name: String,
    email: Option<String>,
    age: i32,
    active: bool,
    score: f64,
    tags: Vec<String>,
    manager: Option<String>,
}

/// The same record as a protobuf message.
#[derive(Clone, PartialEq, prost::Message)]
struct UserProto {
    #[prost(int64, tag = "1")]
    id: i64,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(string, optional, tag = "3")]
    email: Option<String>,
    #[prost(int32, tag = "4")]
    age: i32,
    #[prost(bool, tag = "5")]
    active: bool,
    #[prost(double, tag = "6")]
    score: f64,
    #[prost(string, repeated, tag = "7")]
    tags: Vec<String>,
    #[prost(string, optional, tag = "8")]
    manager: Option<String>,
}

fn sample() -> User {
    User {
        id: 1_234_567,
        name: "Ada Lovelace-Byron".into(),
        email: Some("ada.lovelace@example.com".into()),
        age: 36,
        active: true,
        score: 98.25,
        tags: vec!["admin".into(), "math".into(), "engines".into()],
        manager: Some("Charles Babbage".into()),
    }
}

fn bench(c: &mut Criterion) {
    let user = sample();
    let serde_user = UserSerde {
        id: user.id,
        name: user.name.clone(),
        email: user.email.clone(),
        age: user.age,
        active: user.active,
        score: user.score,
        tags: user.tags.clone(),
        manager: user.manager.clone(),
    };
    let proto_user = UserProto {
        id: user.id,
        name: user.name.clone(),
        email: user.email.clone(),
        age: user.age,
        active: user.active,
        score: user.score,
        tags: user.tags.clone(),
        manager: user.manager.clone(),
    };
    let apache_schema = apache_avro::Schema::parse_str(User::schema().json()).expect("schema");
    let avro_bytes = to_vec(&user);
    let proto_bytes = prost::Message::encode_to_vec(&proto_user);
    eprintln!("sizes: avro {} bytes, protobuf {} bytes", avro_bytes.len(), proto_bytes.len());
    // The three codecs agree on the data.
    let apache_bytes =
        apache_avro::to_avro_datum(&apache_schema, apache_avro::to_value(&serde_user).expect("value"))
            .expect("datum");
    assert_eq!(apache_bytes, avro_bytes);

    // apache-avro's fastest path: serde straight to and from bytes, schema-aware.
    let apache_writer = apache_avro::writer::datum::GenericDatumWriter::builder(&apache_schema)
        .human_readable(false)
        .build()
        .expect("writer");
    let apache_reader = apache_avro::reader::datum::GenericDatumReader::builder(&apache_schema)
        .human_readable(false)
        .build()
        .expect("reader");
    let mut ser_bytes = Vec::new();
    apache_writer.write_ser(&mut ser_bytes, &serde_user).expect("write_ser");
    assert_eq!(ser_bytes, avro_bytes);
    let read_back: UserSerde = apache_reader.read_deser(&mut &avro_bytes[..]).expect("read_deser");
    assert_eq!(read_back, serde_user);
    // The borrowed view reads the same values.
    let view: UserRef<'_> = from_slice_borrowed(&avro_bytes).expect("borrowed");
    assert_eq!((view.name, view.tags.len()), (user.name.as_str(), user.tags.len()));

    let mut g = c.benchmark_group("encode");
    g.bench_function("runnel_derive", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            buf.clear();
            black_box(&user).encode(&mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("runnel_derive_to_vec", |b| b.iter(|| to_vec(black_box(&user))));
    g.bench_function("apache_avro_write_ser", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            buf.clear();
            apache_writer.write_ser(&mut buf, black_box(&serde_user)).expect("write_ser");
            black_box(buf.len())
        })
    });
    g.bench_function("apache_avro_value", |b| {
        b.iter(|| {
            let value = apache_avro::to_value(black_box(&serde_user)).expect("value");
            apache_avro::to_avro_datum(&apache_schema, value).expect("datum")
        })
    });
    g.bench_function("prost", |b| {
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            buf.clear();
            prost::Message::encode(black_box(&proto_user), &mut buf).expect("capacity");
            black_box(buf.len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode");
    g.bench_function("runnel_derive", |b| {
        b.iter(|| from_slice::<User>(black_box(&avro_bytes)).expect("decode"))
    });
    g.bench_function("runnel_derive_decode_into", |b| {
        let mut target = sample();
        b.iter(|| {
            let mut r = Reader::new(black_box(&avro_bytes));
            target.decode_into(&mut r).expect("decode");
            black_box(&target);
        })
    });
    g.bench_function("runnel_derive_borrowed", |b| {
        b.iter(|| {
            let view: UserRef<'_> = from_slice_borrowed(black_box(&avro_bytes)).expect("decode");
            black_box(view.id)
        })
    });
    g.bench_function("apache_avro_read_deser", |b| {
        b.iter(|| apache_reader.read_deser::<UserSerde>(&mut black_box(&avro_bytes[..])).expect("read_deser"))
    });
    g.bench_function("apache_avro_value", |b| {
        b.iter(|| {
            let value = apache_avro::from_avro_datum(&apache_schema, &mut black_box(&avro_bytes[..]), None)
                .expect("datum");
            apache_avro::from_value::<UserSerde>(&value).expect("value")
        })
    });
    g.bench_function("prost", |b| {
        b.iter(|| <UserProto as prost::Message>::decode(black_box(&proto_bytes[..])).expect("decode"))
    });
    // Data written as v1, read as v2 (age int→long, manager dropped, status and country defaulted).
    match Plan::new(User::schema(), v2::User::schema()) {
        Ok(plan) => {
            g.bench_function("runnel_derive_v1_as_v2", |b| {
                let mut buf = Vec::with_capacity(256);
                b.iter(|| {
                    buf.clear();
                    plan.transcode(black_box(&avro_bytes), &mut buf).expect("transcode");
                    from_slice::<v2::User>(&buf).expect("decode")
                })
            });
        }
        Err(e) => eprintln!("no v1→v2 plan: {e}"),
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
