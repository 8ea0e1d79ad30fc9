//! Expressions checked against schemas and evaluated on datums, including
//! datums of older and newer writer schemas.

use proptest::prelude::*;
use serde_json::json;

use super::{FieldPath, Predicate, Scalar};
use crate::{json, Schema};

fn user_schema() -> Schema {
    Schema::parse_str(
        r#"{"type":"record","name":"User","namespace":"t","fields":[
            {"name":"name","type":"string"},
            {"name":"age","type":"int"},
            {"name":"email","type":["null","string"],"default":null},
            {"name":"country","type":{"type":"enum","name":"Country","symbols":["NO","SE","DK"]}},
            {"name":"score","type":"double"},
            {"name":"active","type":"boolean"},
            {"name":"address","type":["null",{"type":"record","name":"Address","fields":[
                {"name":"city","type":"string"},{"name":"zip","type":"long"}]}],"default":null},
            {"name":"tags","type":{"type":"array","items":"string"}},
            {"name":"choice","type":["null","int","string"],"default":null}
        ]}"#,
    )
    .unwrap()
}

fn user(name: &str, age: i32, email: Option<&str>, country: &str, city: Option<(&str, i64)>) -> Vec<u8> {
    let value = json!({
        "name": name, "age": age,
        "email": email.map_or(json!(null), |e| json!({"string": e})),
        "country": country, "score": 2.5, "active": age % 2 == 0,
        "address": city.map_or(json!(null), |(c, z)| json!({"t.Address": {"city": c, "zip": z}})),
        "tags": ["a"], "choice": null,
    });
    json::to_vec(&user_schema(), &value).unwrap()
}

fn eval(text: &str, datum: &[u8]) -> bool {
    let schema = user_schema();
    Predicate::new(&schema, text).unwrap().bind(&schema).unwrap().matches(datum).unwrap()
}

#[test]
fn conditions_evaluate_as_written() {
    let ann = user("ann", 42, Some("a@x"), "NO", Some(("Oslo", 150)));
    let bob = user("bob", 17, None, "SE", None);
    for (text, on_ann, on_bob) in [
        ("age >= 18", true, false),
        ("age >= 18 && country == \"NO\"", true, false),
        ("!(age >= 18) || name == \"nobody\"", false, true),
        ("email == null", false, true),
        ("email != null && email == \"a@x\"", true, false),
        ("address.city == \"Oslo\"", true, false),
        ("address.zip > 100", true, false),
        ("address == null", false, true),
        ("address.city != \"Oslo\"", false, true),
        ("score > 2 && score < 3.0", true, true),
        ("age > 41.5", true, false),
        ("active", true, false),
        ("active == false", false, true),
        ("name < \"b\"", true, false),
        ("country != \"DK\"", true, true),
        ("true", true, true),
        ("(age == 42) == true", true, false),
        ("(age >= 18) == (country == \"NO\")", true, true),
    ] {
        assert_eq!(eval(text, &ann), on_ann, "{text} on ann");
        assert_eq!(eval(text, &bob), on_bob, "{text} on bob");
    }
}

#[test]
fn every_problem_is_reported_with_its_place() {
    let schema = user_schema();
    let text = "agee > 1 && name > 2 && country == \"FI\" && tags == 1 && active < true && age == null";
    let err = Predicate::new(&schema, text).unwrap_err();
    let messages: Vec<&str> = err.problems().iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(messages.len(), 6, "{err}");
    assert!(
        messages[0].contains("no field `agee` in the record `t.User` (its fields: name, age, email"),
        "{err}"
    );
    assert!(messages[1].contains("`name > 2` compares a string with a number"), "{err}");
    assert!(
        messages[2].contains("\"FI\" is not a symbol of the enum `t.Country` (its symbols: NO, SE, DK)"),
        "{err}"
    );
    assert!(messages[3].contains("`tags` is an array"), "{err}");
    assert!(messages[4].contains("booleans are compared with == and != only"), "{err}");
    assert!(messages[5].contains("`age` is never null"), "{err}");
    let (span, _) = err.problems()[0];
    assert_eq!(&text[span.start..span.end], "agee");

    for (text, words) in [
        ("age", "`age` is a number, not a condition"),
        ("name.first == \"a\"", "`name` is `string`, not a record: it has no field `first`"),
        ("address.street == \"x\"", "no field `street` in the record `t.Address`"),
        ("choice == 1", "union of several types (null, int, string)"),
        ("address == \"x\"", "`address` is the record `t.Address`: only booleans"),
        ("tags == null", "`tags` is never null"),
        ("country < \"NO\"", "enums are compared with == and != only"),
        ("age > null", "null is compared with == and != only"),
    ] {
        let err = Predicate::new(&schema, text).unwrap_err().to_string();
        assert!(err.contains(words), "{text}: {err}");
    }
}

#[test]
fn older_and_newer_writers_are_read_by_name_alias_and_default() {
    let reader = Schema::parse_str(
        r#"{"type":"record","name":"U","fields":[
            {"name":"name","type":"string","aliases":["full_name"]},
            {"name":"level","type":"int","default":3}]}"#,
    )
    .unwrap();
    // An older writer: the name under its old name, no level.
    let old =
        Schema::parse_str(r#"{"type":"record","name":"U","fields":[{"name":"full_name","type":"string"}]}"#)
            .unwrap();
    // A newer writer: fields in another order, one more, level a long.
    let new = Schema::parse_str(
        r#"{"type":"record","name":"U","fields":[
            {"name":"extra","type":{"type":"map","values":"string"}},
            {"name":"level","type":"long"},{"name":"name","type":"string"}]}"#,
    )
    .unwrap();
    let p = Predicate::new(&reader, "name == \"ann\" && level == 3").unwrap();
    let datum_old = json::to_vec(&old, &json!({"full_name": "ann"})).unwrap();
    assert!(p.bind(&old).unwrap().matches(&datum_old).unwrap());
    let datum_new = json::to_vec(&new, &json!({"extra": {"k": "v"}, "level": 4, "name": "ann"})).unwrap();
    assert!(!p.bind(&new).unwrap().matches(&datum_new).unwrap());
    let q = Predicate::new(&reader, "level == 4").unwrap();
    assert!(q.bind(&new).unwrap().matches(&datum_new).unwrap());

    // A writer lacking a field the reader cannot default is refused at binding.
    let strict =
        Schema::parse_str(r#"{"type":"record","name":"U","fields":[{"name":"x","type":"int"}]}"#).unwrap();
    let err = Predicate::new(&reader, "name == \"a\"").unwrap().bind(&strict).unwrap_err();
    assert!(err.to_string().contains("lacks the field and the reader's gives no default"), "{err}");
}

#[test]
fn reading_stops_after_the_last_field_named_and_bad_bytes_are_errors() {
    let schema = user_schema();
    let datum = user("ann", 42, None, "NO", None);
    let bound = Predicate::new(&schema, "age == 42").unwrap().bind(&schema).unwrap();
    // name (1 + 3 bytes) and age (1 byte): the rest is not read.
    assert!(bound.matches(&datum[..5]).unwrap());
    assert!(bound.matches(&datum[..4]).is_err());
    let country = Predicate::new(&schema, "country == \"NO\"").unwrap().bind(&schema).unwrap();
    let mut bad = datum.clone();
    bad[6] = 0x7f; // the enum index, out of range
    let err = country.matches(&bad).unwrap_err();
    assert!(err.to_string().contains("country"), "{err}");
    for cut in 0..datum.len() {
        let _ = country.matches(&datum[..cut]);
    }
}

#[test]
fn a_field_path_gives_the_value_route_names_topics_from() {
    let schema = user_schema();
    let country = FieldPath::new(&schema, "country").unwrap().bind(&schema).unwrap();
    let city = FieldPath::new(&schema, "address.city").unwrap().bind(&schema).unwrap();
    let datum = user("ann", 42, None, "SE", Some(("Oslo", 1)));
    assert_eq!(country.value(&datum).unwrap(), Scalar::Str("SE"));
    assert_eq!(city.value(&datum).unwrap().to_string(), "Oslo");
    assert_eq!(city.value(&user("b", 1, None, "NO", None)).unwrap(), Scalar::Null);
    assert!(FieldPath::new(&schema, "tags").is_err());
    assert!(FieldPath::new(&schema, "age > 1").unwrap_err().to_string().contains("not a field path"));
}

proptest! {
    #[test]
    fn numeric_and_string_conditions_agree_with_rust(age in any::<i32>(), bound in any::<i32>(), name in "[a-c]{0,3}", other in "[a-c]{0,3}") {
        let datum = user(&name, age, None, "NO", None);
        prop_assert_eq!(eval(&format!("age >= {bound}"), &datum), age >= bound);
        prop_assert_eq!(eval(&format!("age < {bound} || age == {bound}"), &datum), age <= bound);
        prop_assert_eq!(eval(&format!("name > {}", json!(other)), &datum), name > other);
        prop_assert_eq!(eval(&format!("!(name == {})", json!(other)), &datum), name != other);
    }
}
