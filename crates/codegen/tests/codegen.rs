//! The generator's output for known schemas: names, attributes, and errors.

use runnel_codegen::{Builder, Error};

fn generate(schemas: &[&str]) -> String {
    Builder::new().compile_schemas_to_string(schemas).unwrap()
}

#[test]
fn user_avsc_becomes_a_struct_with_its_namespace_doc_and_defaults() {
    let out = Builder::new()
        .compile_to_string(&[concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/user.avsc")])
        .unwrap();
    println!("{out}");
    assert!(
        out.contains("#[avro(namespace = \"com.example\", doc = \"A user of the example application.\")]"),
        "{out}"
    );
    assert!(out.contains("pub struct User {"), "{out}");
    assert!(out.contains("#[avro(default = \"null\")]\n    pub email: Option<String>,"), "{out}");
    assert!(out.contains("pub tags: Vec<String>,"), "{out}");
    assert!(out.contains("#[derive(Debug, Clone, PartialEq, ::runnel::Avro)]"), "{out}");
}

#[test]
fn non_rust_names_are_converted_and_kept_with_rename() {
    let out = generate(&[r#"{"type": "record", "name": "order_line", "namespace": "shop", "fields": [
        {"name": "itemID", "type": "long"},
        {"name": "type", "type": "string"},
        {"name": "status", "type": {"type": "enum", "name": "STATUS", "symbols": ["OPEN", "closed_now"], "default": "OPEN"}}
    ]}"#]);
    println!("{out}");
    assert!(
        out.contains("#[avro(name = \"order_line\", namespace = \"shop\")]\npub struct OrderLine"),
        "{out}"
    );
    assert!(out.contains("#[avro(rename = \"itemID\")]\n    pub item_id: i64"), "{out}");
    assert!(out.contains("pub r#type: String"), "{out}");
    assert!(out.contains("#[avro(rename = \"OPEN\", default)]\n    Open,"), "{out}");
    assert!(out.contains("#[avro(rename = \"closed_now\")]\n    ClosedNow,"), "{out}");
}

#[test]
fn general_unions_become_enums_and_recursion_gets_a_box() {
    let out = generate(&[r#"{"type": "record", "name": "Tree", "namespace": "t", "fields": [
        {"name": "value", "type": ["int", "string", "null"]},
        {"name": "left", "type": ["null", "Tree"], "default": null},
        {"name": "children", "type": {"type": "array", "items": "Tree"}},
        {"name": "when", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null}
    ]}"#]);
    println!("{out}");
    assert!(out.contains("pub enum TreeValue {\n    Int(i32),\n    String(String),\n    Null,\n}"), "{out}");
    assert!(out.contains("pub left: Option<Box<Tree>>"), "{out}");
    assert!(out.contains("pub children: Vec<Tree>"), "{out}");
    assert!(out.contains("#[avro(logical = \"timestamp-millis\", default = \"null\")]"), "{out}");
}

#[test]
fn named_types_resolve_across_inputs() {
    let out = generate(&[
        r#"{"type": "fixed", "name": "Md5", "namespace": "x", "size": 16}"#,
        r#"{"type": "record", "name": "File", "namespace": "x", "fields": [{"name": "sum", "type": "Md5"}]}"#,
    ]);
    assert!(out.contains("pub struct Md5(pub [u8; 16]);"), "{out}");
    assert!(out.contains("pub sum: Md5"), "{out}");
}

#[test]
fn unresolved_names_are_a_schema_error() {
    let err = Builder::new()
        .compile_schemas_to_string(&[
            r#"{"type": "record", "name": "A", "fields": [{"name": "b", "type": "Missing"}]}"#,
        ])
        .unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[test]
fn logical_types_inside_arrays_are_refused_with_their_path() {
    let err = Builder::new()
        .compile_schemas_to_string(&[r#"{"type": "record", "name": "A", "fields": [
            {"name": "days", "type": {"type": "array", "items": {"type": "int", "logicalType": "date"}}}]}"#])
        .unwrap_err();
    assert!(err.to_string().contains("A.days"), "{err}");
}

#[test]
fn compile_writes_one_file_named_after_the_first_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = Builder::new()
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .compile(&[concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/multi")])
        .unwrap();
    assert_eq!(path.file_name().unwrap(), "address.rs");
    let source = std::fs::read_to_string(path).unwrap();
    assert!(source.contains("pub struct Customer"), "{source}");
}

#[test]
fn the_whole_corpus_generates() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    for entry in std::fs::read_dir(corpus).unwrap() {
        let path = entry.unwrap().path();
        let out = Builder::new().compile_to_string(&[&path]);
        assert!(out.is_ok(), "{}: {}", path.display(), out.unwrap_err());
    }
    let multi = Builder::new().compile_to_string(&[format!("{corpus}/multi")]).unwrap();
    assert!(multi.contains("pub struct ComAcmeAddress"), "{multi}");
    assert!(multi.contains("pub struct ComOtherAddress"), "{multi}");
}

#[test]
fn output_is_already_rustfmt_formatted() {
    let out = Builder::new()
        .compile_to_string(&[concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/nested.avsc")])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested.rs");
    std::fs::write(&file, &out).unwrap();
    let status = std::process::Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", "2021", "--check"])
        .arg(&file)
        .status()
        .expect("rustfmt runs");
    assert!(status.success(), "rustfmt would change:\n{out}");
}

#[test]
fn a_missing_input_is_an_io_error_naming_the_file() {
    let err = Builder::new().compile_to_string(&["/nonexistent/dir/x.avsc"]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(err.to_string(), "cannot read or write /nonexistent/dir/x.avsc");
}

#[test]
fn a_directory_without_avsc_files_is_no_input() {
    let dir = tempfile::tempdir().unwrap();
    let err = Builder::new().compile_to_string(&[dir.path()]).unwrap_err();
    assert!(matches!(err, Error::NoInput), "{err}");
}
