//! The schema-first path, compiled for real: with the `codegen` feature the root
//! `build.rs` generates Rust types from `schemas/*.avsc` and the code
//! generator's corpus; here each generated type's derived schema is compared
//! with its input, both as Parsing Canonical Form and as apache-avro's full
//! model (docs, aliases, defaults, logical types, field order), and values
//! round-trip. The examples' copy of the generated `User` is checked too.

use runnel::avro::{from_slice, to_vec, Schema};
use runnel::Avro;

#[allow(dead_code)]
mod user {
    include!(concat!(env!("OUT_DIR"), "/user.rs"));
}
#[allow(dead_code)]
mod user_v2 {
    include!(concat!(env!("OUT_DIR"), "/user_v2.rs"));
}
#[allow(dead_code)]
mod user_v3 {
    include!(concat!(env!("OUT_DIR"), "/user_v3.rs"));
}
#[allow(dead_code)]
mod primitives {
    include!(concat!(env!("OUT_DIR"), "/primitives.rs"));
}
#[allow(dead_code)]
mod logical {
    include!(concat!(env!("OUT_DIR"), "/logical.rs"));
}
#[allow(dead_code)]
mod nested {
    include!(concat!(env!("OUT_DIR"), "/nested.rs"));
}
#[allow(dead_code)]
mod multi {
    include!(concat!(env!("OUT_DIR"), "/multi.rs"));
}

fn read(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The derived schema is the input schema: same canonical form, and the same
/// apache-avro model once serialized (which keeps what the canonical form drops).
fn assert_same_schema(derived: &Schema, input: &Schema, what: &str) {
    assert_eq!(derived.canonical_form(), input.canonical_form(), "canonical form of {what}");
    let derived_full = serde_json::to_value(derived.as_apache()).unwrap();
    let input_full = serde_json::to_value(input.as_apache()).unwrap();
    assert_eq!(derived_full, input_full, "full schema of {what}");
}

fn assert_file(path: &str, derived: &Schema) {
    let input = Schema::parse_str(&read(path)).unwrap();
    assert_same_schema(derived, &input, path);
}

#[test]
fn every_schema_in_schemas_dir_round_trips_through_codegen_and_derive() {
    assert_file("schemas/user.avsc", user::User::schema());
    assert_file("schemas/user_v2.avsc", user_v2::User::schema());
    assert_file("schemas/user_v3.avsc", user_v3::User::schema());
    // Nothing in schemas/ is left untested.
    let mut names: Vec<String> = std::fs::read_dir(format!("{}/schemas", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".avsc"))
        .collect();
    names.sort();
    assert_eq!(names, ["user.avsc", "user_v2.avsc", "user_v3.avsc"]);
}

#[test]
fn the_examples_generated_user_is_what_codegen_makes_of_schemas_user_avsc() {
    assert_eq!(
        include_str!("../examples/generated/user.rs"),
        include_str!(concat!(env!("OUT_DIR"), "/user.rs")),
        "regenerate it: runnel codegen schemas/user.avsc --out examples/generated"
    );
}

#[test]
fn corpus_schemas_round_trip_through_codegen_and_derive() {
    assert_file("crates/codegen/tests/corpus/primitives.avsc", primitives::Primitives::schema());
    assert_file("crates/codegen/tests/corpus/logical.avsc", logical::Logical::schema());
    assert_file("crates/codegen/tests/corpus/nested.avsc", nested::Order::schema());
}

#[test]
fn cross_file_schemas_round_trip_as_a_set() {
    let inputs = [
        read("crates/codegen/tests/corpus/multi/address.avsc"),
        read("crates/codegen/tests/corpus/multi/customer.avsc"),
    ];
    assert_file("crates/codegen/tests/corpus/multi/address.avsc", multi::ComAcmeAddress::schema());
    // The customer's derived schema defines Address inline where the input refers
    // to it by name: the same schema once the reference is replaced by the definition.
    let address: serde_json::Value = serde_json::from_str(&inputs[0]).unwrap();
    let mut customer: serde_json::Value = serde_json::from_str(&inputs[1]).unwrap();
    customer["fields"][1]["type"] = address;
    let customer = Schema::parse_json(&customer).unwrap();
    assert_same_schema(multi::Customer::schema(), &customer, "multi/customer.avsc");
}

#[test]
fn generated_user_round_trips_values() {
    let u = user::User {
        id: 7,
        name: "Grace".into(),
        email: None,
        age: 85,
        active: false,
        score: 1.25,
        tags: vec!["navy".into()],
        manager: Some("Ada".into()),
    };
    assert_eq!(from_slice::<user::User>(&to_vec(&u)).unwrap(), u);
}

#[test]
fn generated_nested_types_round_trip_values() {
    use nested::*;
    let line = Line { sku: "A-1".into(), qty: 2, sum: Checksum([1, 2, 3, 4]) };
    let address = Address { lines: vec!["1 Main St".into()], zip: "12345".into() };
    let inner = Order {
        order_id: 1,
        r#type: "retail".into(),
        status: Status::Paid,
        checksum: Checksum([0; 4]),
        customer: Customer { name: "C".into(), address: None },
        lines: vec![],
        notes: Default::default(),
        previous: None,
        children: vec![],
        payload: OrderPayload::Null,
        label: OrderLabel::Null,
        maybe: OrderMaybe::String("s".into()),
        home: address.clone(),
    };
    let order = Order {
        order_id: -5,
        r#type: "t".into(),
        status: Status::ShippedOut,
        checksum: Checksum([9; 4]),
        customer: Customer { name: "Ann".into(), address: Some(address.clone()) },
        lines: vec![line.clone()],
        notes: [("k".to_owned(), vec!["v".to_owned()])].into_iter().collect(),
        previous: Some(Box::new(inner.clone())),
        children: vec![inner],
        payload: OrderPayload::Line(line),
        label: OrderLabel::String("x".into()),
        maybe: OrderMaybe::Null,
        home: address,
    };
    assert_eq!(from_slice::<Order>(&to_vec(&order)).unwrap(), order);
}
