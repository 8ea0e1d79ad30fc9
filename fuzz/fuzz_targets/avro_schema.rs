//! Fuzz target: arbitrary bytes as schema JSON through `runnel_avro::Schema::parse_str`
//! (apache-avro's parser, Runnel's compiled model and its Parsing Canonical Form).
//!
//! Properties checked on every schema that parses:
//! - its canonical form parses again, to the same canonical form and fingerprints
//!   (the canonical form is a fixed point). One exception, from the specification
//!   itself: Parsing Canonical Form writes full names and drops `namespace`, so a
//!   type in the null namespace (e.g. named `".Dur"`) nested in a namespaced
//!   record comes out as `"Dur"`, which a parser reads in the enclosing
//!   namespace. Java's `SchemaNormalization` does the same, and fingerprints must
//!   match it, so such schemas are only checked to re-parse;
//! - a schema can read its own data: `compat::check(s, s)` finds nothing, and the
//!   writer → reader plan from a schema to itself is the identity.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_avro::{compat, resolve::Plan, Schema};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(schema) = Schema::parse_str(text) else { return };
    let canonical = schema.canonical_form();
    let again = Schema::parse_str(&canonical)
        .unwrap_or_else(|e| panic!("canonical form {canonical} of {text} does not parse: {e}"));
    if !null_namespace_among_namespaced(&schema) {
        assert_eq!(again.canonical_form(), canonical, "canonical form is not a fixed point");
        assert_eq!(again.fingerprint_crc64(), schema.fingerprint_crc64());
        assert_eq!(again.fingerprint_sha256(), schema.fingerprint_sha256());
        assert_eq!(again, schema);
    }

    let problems = compat::check(&schema, &schema);
    assert!(problems.is_empty(), "{text} cannot read its own data: {problems:?}");
    match Plan::new(&schema, &schema) {
        Ok(plan) => assert!(plan.is_identity(), "{text}: the plan to itself is not the identity"),
        Err(e) => panic!("{text}: no plan from the schema to itself: {e}"),
    }
});

/// Whether the schema has a named type in the null namespace and one in some
/// namespace: the case Parsing Canonical Form cannot express unambiguously.
fn null_namespace_among_namespaced(schema: &Schema) -> bool {
    let names: Vec<&str> = schema.model().named_types().map(|(name, _)| name).collect();
    names.iter().any(|n| !n.contains('.')) && names.iter().any(|n| n.contains('.'))
}
