//! Compile-fail tests of `#[derive(Avro)]`: every misuse is a compile error
//! pointing at the offending field or attribute, and all of a type's errors
//! are reported together. The expected messages are in `tests/ui/*.stderr`.

#[test]
fn derive_misuse_is_a_compile_error_with_a_span() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
