//! The derive against the Avro runtime directly (`crate = "runnel_avro"`):
//! schemas, round trips, byte layouts and errors, type by type.

use std::collections::{BTreeMap, HashMap};

use runnel_avro::{from_slice, to_vec, Avro, Reader};
use runnel_derive::Avro;

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro", namespace = "com.example", doc = "A user of the example application.")]
struct User {
    id: i64,
    name: String,
    #[avro(default = "null")]
    email: Option<String>,
    age: i32,
    active: bool,
    score: f64,
    tags: Vec<String>,
    #[avro(default = "null")]
    manager: Option<String>,
}

fn user() -> User {
    User {
        id: 42,
        name: "Ada Lovelace".into(),
        email: Some("ada@example.com".into()),
        age: 36,
        active: true,
        score: 99.5,
        tags: vec!["admin".into(), "math".into()],
        manager: None,
    }
}

#[test]
fn record_schema_matches_user_avsc() {
    let avsc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/user.avsc")).unwrap();
    let expected = runnel_avro::Schema::parse_str(&avsc).unwrap();
    assert_eq!(User::schema().canonical_form(), expected.canonical_form());
}

#[test]
fn record_round_trips_and_lays_fields_out_in_order() {
    let u = user();
    let bytes = to_vec(&u);
    // id 42 → zig-zag 84; name length 12 → 24.
    assert_eq!(&bytes[..2], &[84, 24]);
    assert_eq!(from_slice::<User>(&bytes).unwrap(), u);
}

#[test]
fn decode_into_reuses_and_replaces_every_field() {
    let mut target = User {
        id: 1,
        name: "x".repeat(100),
        email: None,
        age: 0,
        active: false,
        score: 0.0,
        tags: vec!["a".into(), "b".into(), "c".into()],
        manager: Some("m".into()),
    };
    let capacity = target.name.capacity();
    let bytes = to_vec(&user());
    let mut r = Reader::new(&bytes);
    target.decode_into(&mut r).unwrap();
    r.finish().unwrap();
    assert_eq!(target, user());
    assert_eq!(target.name.capacity(), capacity);
}

#[test]
fn truncated_record_error_names_the_field() {
    let bytes = to_vec(&user());
    let err = from_slice::<User>(&bytes[..5]).unwrap_err();
    assert_eq!(err.path(), "/name");
}

#[derive(Avro, Debug, Clone, Copy, PartialEq)]
#[avro(crate = "runnel_avro", namespace = "com.example")]
enum Suit {
    Spades,
    #[avro(rename = "HEARTS")]
    Hearts,
    #[avro(default)]
    Unknown,
}

#[test]
fn unit_enum_is_an_avro_enum_with_its_default() {
    assert_eq!(
        Suit::schema().canonical_form(),
        r#"{"name":"com.example.Suit","type":"enum","symbols":["Spades","HEARTS","Unknown"]}"#
    );
    let json: serde_json::Value = serde_json::from_str(Suit::schema().json()).unwrap();
    assert_eq!(json["default"], "Unknown");
    assert_eq!(to_vec(&Suit::Hearts), vec![2]);
    assert_eq!(from_slice::<Suit>(&[4]).unwrap(), Suit::Unknown);
    assert!(from_slice::<Suit>(&[6]).is_err());
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro")]
enum Payload {
    Nothing,
    Text(String),
    Number(i64),
    Card(Suit),
}

#[test]
fn data_enum_is_a_union_with_unit_as_null() {
    assert_eq!(
        Payload::schema().canonical_form(),
        r#"["null","string","long",{"name":"com.example.Suit","type":"enum","symbols":["Spades","HEARTS","Unknown"]}]"#
    );
    for p in [Payload::Nothing, Payload::Text("hi".into()), Payload::Number(-3), Payload::Card(Suit::Hearts)]
    {
        assert_eq!(from_slice::<Payload>(&to_vec(&p)).unwrap(), p);
    }
    assert_eq!(to_vec(&Payload::Number(-3)), vec![4, 5]);
    let err = from_slice::<Payload>(&[2, 9]).unwrap_err();
    assert_eq!(err.path(), "/branch 1");
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro", name = "org.demo.Md5", doc = "an MD5 digest")]
struct Md5([u8; 16]);

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro", namespace = "org.demo")]
struct Everything {
    b: bool,
    i: i32,
    l: i64,
    f: f32,
    d: f64,
    s: String,
    bytes: Vec<u8>,
    fixed: [u8; 4],
    #[avro(fixed_name = "Pair")]
    maybe_fixed: Option<[u8; 2]>,
    digest: Md5,
    digests: Vec<Md5>,
    list: Vec<i32>,
    map: HashMap<String, i64>,
    sorted: BTreeMap<String, Vec<String>>,
    nested: Option<Box<Everything>>,
    #[avro(logical = "uuid")]
    id: String,
    #[avro(logical = "date")]
    day: i32,
    #[avro(logical = "time-millis")]
    tm: i32,
    #[avro(logical = "time-micros")]
    tu: i64,
    #[avro(logical = "timestamp-millis")]
    at: i64,
    #[avro(logical = "timestamp-micros", default = "null")]
    at_us: Option<i64>,
    #[avro(logical = "local-timestamp-millis")]
    local: i64,
    #[avro(decimal(precision = 20, scale = 2))]
    price: i128,
    #[avro(decimal(precision = 9, scale = 3))]
    raw_decimal: Vec<u8>,
    #[avro(decimal(precision = 7, scale = 1))]
    fixed_decimal: [u8; 4],
    #[avro(decimal(precision = 30, scale = 0), default = "null")]
    maybe_price: Option<i128>,
    #[avro(skip)]
    cache: Vec<u64>,
}

fn everything(depth: u32) -> Everything {
    let mut map = HashMap::new();
    map.insert("k".to_owned(), -7i64);
    let mut sorted = BTreeMap::new();
    sorted.insert("a".to_owned(), vec!["x".to_owned()]);
    Everything {
        b: true,
        i: i32::MIN,
        l: i64::MAX,
        f: 1.5,
        d: -0.25,
        s: "héllo".into(),
        bytes: vec![0, 255],
        fixed: [1, 2, 3, 4],
        maybe_fixed: Some([9, 8]),
        digest: Md5([7; 16]),
        digests: vec![Md5([1; 16]), Md5([2; 16])],
        list: vec![1, -1],
        map,
        sorted,
        nested: (depth > 0).then(|| Box::new(everything(depth - 1))),
        id: "123e4567-e89b-12d3-a456-426614174000".into(),
        day: 19_000,
        tm: 1000,
        tu: 1_000_000,
        at: 1_700_000_000_000,
        at_us: Some(1_700_000_000_000_000),
        local: 5,
        price: -12_345_678_901_234_567_890,
        raw_decimal: vec![0x01, 0x00],
        fixed_decimal: [0, 0, 1, 0],
        maybe_price: Some(i128::from(i64::MIN) * 1000),
        cache: Vec::new(),
    }
}

#[test]
fn every_supported_type_round_trips() {
    let v = everything(2);
    assert_eq!(from_slice::<Everything>(&to_vec(&v)).unwrap(), v);
    let mut reused = everything(0);
    let bytes = to_vec(&v);
    reused.decode_into(&mut Reader::new(&bytes)).unwrap();
    assert_eq!(reused, v);
}

#[test]
fn schema_carries_logical_types_names_and_recursion() {
    let json: serde_json::Value = serde_json::from_str(Everything::schema().json()).unwrap();
    let field =
        |name: &str| json["fields"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    assert_eq!(field("id")["type"], serde_json::json!({"type": "string", "logicalType": "uuid"}));
    assert_eq!(field("at_us")["type"][1]["logicalType"], "timestamp-micros");
    assert_eq!(field("price")["type"]["precision"], 20);
    assert_eq!(field("fixed")["type"]["name"], "EverythingFixed");
    assert_eq!(field("fixed_decimal")["type"]["logicalType"], "decimal");
    assert_eq!(field("maybe_fixed")["type"][1]["name"], "Pair");
    assert_eq!(field("digest")["type"]["name"], "Md5");
    assert_eq!(field("digests")["type"]["items"], "org.demo.Md5");
    assert_eq!(field("nested")["type"], serde_json::json!(["null", "org.demo.Everything"]));
    assert!(json["fields"].as_array().unwrap().iter().all(|f| f["name"] != "cache"));
    // The parsed schema agrees: apache-avro sees the logical types.
    let canonical = Everything::schema().canonical_form();
    assert!(canonical.contains(r#"{"name":"org.demo.Md5","type":"fixed","size":16}"#), "{canonical}");
}

#[test]
fn decimals_use_the_shortest_twos_complement() {
    #[derive(Avro, Debug, PartialEq)]
    #[avro(crate = "runnel_avro")]
    struct Price {
        #[avro(decimal(precision = 10, scale = 2))]
        amount: i128,
    }
    let cases: &[(i128, &[u8])] =
        &[(0, &[0]), (1, &[1]), (-1, &[0xff]), (127, &[0x7f]), (128, &[0, 0x80]), (-129, &[0xff, 0x7f])];
    for (value, body) in cases {
        let bytes = to_vec(&Price { amount: *value });
        assert_eq!(bytes[0] as usize, body.len() * 2, "length of {value}");
        assert_eq!(&bytes[1..], *body, "bytes of {value}");
        assert_eq!(from_slice::<Price>(&bytes).unwrap().amount, *value);
    }
    // 17 bytes whose first is not a sign extension do not fit.
    let mut too_big = vec![34u8, 1];
    too_big.extend_from_slice(&[0; 16]);
    assert!(from_slice::<Price>(&too_big).is_err());
    // 17 bytes that are a sign extension do.
    let mut padded = vec![34u8, 0xff];
    padded.extend_from_slice(&[0xff; 16]);
    assert_eq!(from_slice::<Price>(&padded).unwrap().amount, -1);
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro", namespace = "com.example", aliases = ["com.example.OldNode"])]
struct Node {
    #[avro(rename = "value", aliases = ["v"], doc = "the payload", order = "descending")]
    payload: i64,
    #[avro(default = "null")]
    next: Option<Box<Node>>,
    #[avro(default = "[1, 2]")]
    counts: Vec<i32>,
    #[avro(default = r#"{"a": "b"}"#)]
    labels: HashMap<String, String>,
}

#[test]
fn attributes_reach_the_schema() {
    let json: serde_json::Value = serde_json::from_str(Node::schema().json()).unwrap();
    assert_eq!(json["aliases"], serde_json::json!(["com.example.OldNode"]));
    let value = &json["fields"][0];
    assert_eq!(value["name"], "value");
    assert_eq!(value["aliases"], serde_json::json!(["v"]));
    assert_eq!(value["doc"], "the payload");
    assert_eq!(value["order"], "descending");
    assert_eq!(json["fields"][2]["default"], serde_json::json!([1, 2]));
    assert_eq!(json["fields"][3]["default"], serde_json::json!({"a": "b"}));
    assert_eq!(
        Node::schema().canonical_form(),
        r#"{"name":"com.example.Node","type":"record","fields":[{"name":"value","type":"long"},{"name":"next","type":["null","com.example.Node"]},{"name":"counts","type":{"type":"array","items":"int"}},{"name":"labels","type":{"type":"map","values":"string"}}]}"#
    );
    let list = Node {
        payload: 1,
        next: Some(Box::new(Node { payload: 2, next: None, counts: vec![], labels: HashMap::new() })),
        counts: vec![3],
        labels: HashMap::new(),
    };
    assert_eq!(from_slice::<Node>(&to_vec(&list)).unwrap(), list);
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro")]
struct Twice {
    first: Inner,
    second: Inner,
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro")]
struct Inner {
    x: i32,
}

#[test]
fn a_named_type_used_twice_is_defined_once_then_referenced() {
    assert_eq!(
        Twice::schema().canonical_form(),
        r#"{"name":"Twice","type":"record","fields":[{"name":"first","type":{"name":"Inner","type":"record","fields":[{"name":"x","type":"int"}]}},{"name":"second","type":"Inner"}]}"#
    );
}

#[test]
fn schemas_of_derived_types_match_apache_avro_derive_output_form() {
    // The stored JSON parses with apache-avro to the same canonical form.
    let reparsed = apache_avro::Schema::parse_str(User::schema().json()).unwrap();
    assert_eq!(reparsed.canonical_form(), User::schema().canonical_form());
}

#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(crate = "runnel_avro")]
struct Tracked {
    #[avro(logical = "uuid")]
    id: uuid::Uuid,
    #[avro(logical = "uuid", default = "null")]
    parent: Option<uuid::Uuid>,
}

#[test]
fn uuid_fields_are_uuid_strings() {
    let id = uuid::Uuid::parse_str("123e4567-e89b-12d3-a456-426614174000").unwrap();
    let t = Tracked { id, parent: Some(id) };
    let bytes = to_vec(&t);
    assert_eq!(bytes[0], 72); // a 36-character string
    assert_eq!(&bytes[1..37], b"123e4567-e89b-12d3-a456-426614174000");
    assert_eq!(from_slice::<Tracked>(&bytes).unwrap(), t);
    let json: serde_json::Value = serde_json::from_str(Tracked::schema().json()).unwrap();
    assert_eq!(json["fields"][0]["type"], serde_json::json!({"type": "string", "logicalType": "uuid"}));
    let mut bad = vec![6u8];
    bad.extend_from_slice(b"abc");
    bad.push(0);
    assert_eq!(from_slice::<Tracked>(&bad).unwrap_err().path(), "/id");
}
