//! `#[derive(Avro)]` through the `runnel` facade, as applications use it
//! (`runnel::avro::to_vec`, `from_slice`, `T::schema().canonical_form()`),
//! and the sample encodings the fastavro oracle
//! (`tests/oracle/test_derive_bytes.py`) compares byte for byte.

use std::collections::BTreeMap;

use runnel::avro::{from_slice, to_vec};
use runnel::Avro;
use serde_json::{json, Value};

#[path = "common/user.rs"]
mod user;
use user::{User, UserRef};

#[derive(Avro, Debug, Clone, Copy, PartialEq)]
#[avro(namespace = "com.example.sample")]
enum Color {
    Red,
    Green,
    #[avro(default)]
    Unknown,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.sample")]
struct Point {
    x: f32,
    y: f32,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(name = "com.example.sample.Hash")]
struct Hash([u8; 4]);

#[derive(Avro, Debug, Clone, PartialEq)]
enum Shape {
    Nothing,
    Label(String),
    At(Point),
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.sample")]
struct Sample {
    color: Color,
    colors: Vec<Color>,
    shape: Shape,
    hash: Hash,
    raw: Vec<u8>,
    counts: BTreeMap<String, i64>,
    origin: Option<Point>,
    big: i64,
    small: i32,
    ratio: f64,
    flag: bool,
    #[avro(logical = "uuid")]
    id: String,
    #[avro(logical = "date")]
    day: i32,
    #[avro(logical = "timestamp-micros")]
    at: i64,
    #[avro(decimal(precision = 20, scale = 2))]
    price: i128,
    #[avro(decimal(precision = 6, scale = 1))]
    fixed_price: [u8; 3],
    next: Option<Box<Sample>>,
}

fn user() -> User {
    User {
        id: 1_234_567,
        name: "Ada Lovelace-Byron".into(),
        email: Some("ada.lovelace@example.com".into()),
        age: 36,
        active: true,
        score: 98.25,
        tags: vec!["admin".into(), "math".into(), "engines".into()],
        manager: None,
    }
}

fn user_datum() -> Value {
    json!({"id": 1_234_567, "name": "Ada Lovelace-Byron", "email": "ada.lovelace@example.com", "age": 36,
           "active": true, "score": 98.25, "tags": ["admin", "math", "engines"], "manager": null})
}

fn sample(next: Option<Box<Sample>>) -> Sample {
    Sample {
        color: Color::Green,
        colors: vec![Color::Unknown, Color::Red],
        shape: Shape::At(Point { x: 1.5, y: -2.0 }),
        hash: Hash([0xde, 0xad, 0xbe, 0xef]),
        raw: vec![0, 1, 2, 255],
        counts: [("a".to_owned(), -1i64), ("b".to_owned(), i64::MAX)].into_iter().collect(),
        origin: None,
        big: i64::MIN,
        small: -64,
        ratio: std::f64::consts::PI,
        flag: false,
        id: "123e4567-e89b-12d3-a456-426614174000".into(),
        day: 19_723,
        at: 1_704_067_200_000_000,
        price: -123_456_789,
        fixed_price: [0x00, 0x30, 0x39],
        next,
    }
}

/// The datum of `sample(next)` as fastavro takes it. Markers the oracle turns
/// into Python values: `{"$bytes": hex}`, `{"$decimal": "..."}`, `{"$branch": [name, value]}`.
fn sample_datum(next: Option<Value>) -> Value {
    json!({
        "color": "Green", "colors": ["Unknown", "Red"],
        "shape": {"$branch": ["com.example.sample.Point", {"x": 1.5, "y": -2.0}]},
        "hash": {"$bytes": "deadbeef"}, "raw": {"$bytes": "000102ff"},
        "counts": {"a": -1, "b": i64::MAX}, "origin": null,
        "big": i64::MIN, "small": -64, "ratio": std::f64::consts::PI, "flag": false,
        "id": "123e4567-e89b-12d3-a456-426614174000", "day": 19_723, "at": 1_704_067_200_000_000i64,
        "price": {"$decimal": "-1234567.89"}, "fixed_price": {"$decimal": "1234.5"},
        "next": next,
    })
}

#[test]
fn facade_entry_points_round_trip_a_user() {
    let u = user();
    let bytes = runnel::avro::to_vec(&u);
    assert_eq!(runnel::avro::from_slice::<User>(&bytes).unwrap(), u);
    let avsc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/user.avsc")).unwrap();
    assert_eq!(User::schema().canonical_form(), runnel::Schema::parse_str(&avsc).unwrap().canonical_form());
}

#[test]
#[allow(deprecated)] // apache-avro 0.22's from_avro_datum: still its one-datum reader.
fn derived_bytes_decode_with_apache_avro_to_the_same_values() {
    // An independent decoder: apache-avro reads what the derive wrote.
    let bytes = to_vec(&sample(Some(Box::new(sample(None)))));
    let schema = apache_avro::Schema::parse_str(Sample::schema().json()).unwrap();
    let value = apache_avro::from_avro_datum(&schema, &mut &bytes[..], None).unwrap();
    let apache_avro::types::Value::Record(fields) = value else { panic!("not a record: {value:?}") };
    assert_eq!(fields[7], ("big".to_owned(), apache_avro::types::Value::Long(i64::MIN)));
    assert_eq!(fields[0], ("color".to_owned(), apache_avro::types::Value::Enum(1, "Green".into())));
    let apache_avro::types::Value::Union(1, next) = &fields[16].1 else { panic!("next: {:?}", fields[16]) };
    assert!(matches!(**next, apache_avro::types::Value::Record(_)));
}

#[test]
fn samples_round_trip_and_are_written_for_the_fastavro_oracle() {
    let samples = [
        (User::schema(), to_vec(&user()), user_datum()),
        (Sample::schema(), to_vec(&sample(None)), sample_datum(None)),
        (
            Sample::schema(),
            to_vec(&sample(Some(Box::new(sample(None))))),
            sample_datum(Some(sample_datum(None))),
        ),
    ];
    assert_eq!(from_slice::<User>(&samples[0].1).unwrap(), user());
    assert_eq!(from_slice::<Sample>(&samples[2].1).unwrap(), sample(Some(Box::new(sample(None)))));
    // The oracle sets this to collect the samples; CI's pytest run does.
    if let Some(path) = std::env::var_os("RUNNEL_DERIVE_SAMPLES") {
        let lines: Vec<String> = samples
            .iter()
            .map(|(schema, bytes, datum)| {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                json!({"schema": serde_json::from_str::<Value>(schema.json()).unwrap(), "datum": datum, "hex": hex})
                    .to_string()
            })
            .collect();
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }
}

/// Strategy for arbitrary users, strings ASCII and not.
fn any_user() -> impl proptest::strategy::Strategy<Value = User> {
    use proptest::prelude::*;
    let text = || "[a-zé😀 ]{0,40}";
    (
        any::<i64>(),
        text(),
        proptest::option::of(text()),
        any::<i32>(),
        any::<bool>(),
        any::<f64>(),
        proptest::collection::vec(text(), 0..5),
        proptest::option::of(text()),
    )
        .prop_map(|(id, name, email, age, active, score, tags, manager)| User {
            id,
            name,
            email,
            age,
            active,
            score,
            tags,
            manager,
        })
}

proptest::proptest! {
    /// The borrowed view reads the values the owned decode reads, and refuses
    /// (with the same error) every truncation and corruption the owned one refuses.
    #[test]
    fn borrowed_decode_agrees_with_the_owned_one(user in any_user(), cut in 0usize..200, flip in 0usize..200) {
        let bytes = to_vec(&user);
        let view: UserRef<'_> = runnel::avro::from_slice_borrowed(&bytes).unwrap();
        let owned = User {
            id: view.id,
            name: view.name.to_owned(),
            email: view.email.map(str::to_owned),
            age: view.age,
            active: view.active,
            score: view.score,
            tags: view.tags.iter().map(|t| (*t).to_owned()).collect(),
            manager: view.manager.as_ref().map(|m| m.to_string()),
        };
        // Compared as bytes: a NaN score is not equal to itself.
        proptest::prop_assert_eq!(to_vec(&owned), bytes.clone());
        let mut bad = bytes[..cut.min(bytes.len())].to_vec();
        if let Some(b) = bad.get_mut(flip) {
            *b ^= 0x80;
        }
        let owned = from_slice::<User>(&bad).map(|u| to_vec(&u));
        let view = runnel::avro::from_slice_borrowed::<UserRef<'_>>(&bad).map(|v| (v.id, v.tags.len()));
        match (owned, view) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b),
            (a, b) => proptest::prop_assert!(false, "owned {:?}, borrowed {:?}", a.is_ok(), b.is_ok()),
        }
    }
}

#[test]
fn borrowed_view_has_the_owned_schema() {
    use runnel::avro::BorrowDecode;
    assert_eq!(<UserRef<'_> as BorrowDecode>::schema().canonical_form(), User::schema().canonical_form());
}
