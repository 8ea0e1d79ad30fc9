//! The validator's compiled program against the walk, on the shapes the program
//! handles specially or leaves to the walk: recursion, nesting past its loop
//! limit and past `MAX_DEPTH`, blocks with byte sizes, zero-width items, runs of
//! fixed-size fields, unions of null and a leaf, and the edges of varints.
//!
//! `validate` runs the program and, when it refuses, the walk to word the error;
//! `validate_by_walk` is the walk alone. Each case states the verdict and checks
//! that both give it.

use runnel_avro::{validate, validate_by_walk, Schema};

fn schema(json: &str) -> Schema {
    Schema::parse_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

#[track_caller]
fn verdict(schema: &Schema, datum: &[u8], valid: bool) {
    let walk = validate_by_walk(schema, datum);
    assert_eq!(walk.is_ok(), valid, "the walk on {datum:02x?}: {walk:?}");
    let both = validate(schema, datum);
    assert_eq!(both.is_ok(), valid, "validate on {datum:02x?}: {both:?}");
    // A refusal is the walk's, word for word.
    assert_eq!(both, walk);
}

/// Zig-zag varint of `v`.
fn long(v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    runnel_avro::binary::write_long(&mut out, v);
    out
}

#[test]
fn varints_at_their_limits() {
    let int = schema(r#""int""#);
    verdict(&int, &long(i64::from(i32::MAX)), true);
    verdict(&int, &long(i64::from(i32::MIN)), true);
    verdict(&int, &long(i64::from(i32::MAX) + 1), false);
    verdict(&int, &long(i64::from(i32::MIN) - 1), false);
    // Over-long but legal encodings of 0, and a sixth byte for an int.
    verdict(&int, &[0x80, 0x00], true);
    verdict(&int, &[0x80, 0x80, 0x80, 0x80, 0x00], true);
    verdict(&int, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], false);
    // Eight bytes or more left, so the one-load path reads them.
    verdict(&int, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0, 0], false);

    let long_schema = schema(r#""long""#);
    verdict(&long_schema, &long(i64::MAX), true);
    verdict(&long_schema, &long(i64::MIN), true);
    // A tenth byte may carry only the top bit.
    verdict(&long_schema, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], true);
    verdict(&long_schema, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], false);
    verdict(&long_schema, &[0xff; 11], false);
    for cut in 0..10 {
        verdict(&long_schema, &long(i64::MAX)[..cut], false);
    }
    // Every length of a varint, with and without eight bytes after its start.
    let record = schema(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"long"}]}"#,
    );
    for shift in (0..63).step_by(7) {
        let mut datum = long(1i64 << shift);
        datum.extend(long(-(1i64 << shift)));
        verdict(&record, &datum, true);
        datum.push(0);
        verdict(&record, &datum, false);
    }
}

#[test]
fn strings_and_bytes() {
    let s = schema(r#""string""#);
    for n in 0..40usize {
        let text: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
        let mut datum = long(n as i64);
        datum.extend(&text);
        verdict(&s, &datum, true);
        // One byte that is not UTF-8, at every position.
        for at in 0..n {
            let mut bad = datum.clone();
            bad[datum.len() - n + at] = 0xff;
            verdict(&s, &bad, false);
        }
    }
    // Non-ASCII UTF-8 goes through the full check.
    let mut datum = long("héllo wörld".len() as i64);
    datum.extend("héllo wörld".as_bytes());
    verdict(&s, &datum, true);
    // A length past the end, and a negative length.
    verdict(&s, &[0x08, b'a'], false);
    verdict(&s, &[0x01], false);
    verdict(&schema(r#""bytes""#), &[0x04, 0xff, 0xfe], true);
}

#[test]
fn runs_of_fixed_size_fields_and_arrays_of_them() {
    let s = schema(
        r#"{"type":"record","name":"P","fields":[
            {"name":"x","type":"double"},{"name":"y","type":"float"},
            {"name":"h","type":{"type":"fixed","name":"H","size":3}},
            {"name":"ok","type":"boolean"},
            {"name":"pts","type":{"type":"array","items":"double"}}]}"#,
    );
    let mut datum = vec![0u8; 15];
    datum.push(1); // ok
    datum.extend(long(2));
    datum.extend([0u8; 16]);
    datum.push(0);
    verdict(&s, &datum, true);
    // A boolean other than 0 or 1.
    let mut bad = datum.clone();
    bad[15] = 2;
    verdict(&s, &bad, false);
    // An array claiming more doubles than there are bytes.
    let mut short = datum[..16].to_vec();
    short.extend(long(3));
    short.extend([0u8; 16]);
    short.push(0);
    verdict(&s, &short, false);
    // A count so large that count × 8 overflows.
    let mut huge = datum[..16].to_vec();
    huge.extend(long(i64::MAX / 4));
    verdict(&s, &huge, false);
}

#[test]
fn blocks_with_byte_sizes() {
    let s = schema(r#"{"type":"array","items":"string"}"#);
    // "a" and "b" in one block, given as count -2 (zig-zag 3) and byte size 4 (8).
    let good = [0x03, 0x08, 0x02, b'a', 0x02, b'b', 0x00];
    verdict(&s, &good, true);
    let wrong_size = [0x03, 0x0c, 0x02, b'a', 0x02, b'b', 0x00];
    verdict(&s, &wrong_size, false);
    let negative_size = [0x03, 0x07, 0x02, b'a', 0x02, b'b', 0x00];
    verdict(&s, &negative_size, false);
    // The same through a loop: an array of records.
    let r = schema(
        r#"{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}}"#,
    );
    verdict(&r, &[0x03, 0x0c, 0x02, 0x02, b'x', 0x04, 0x02, b'y', 0x00], true);
    verdict(&r, &[0x03, 0x10, 0x02, 0x02, b'x', 0x04, 0x02, b'y', 0x00], false);
    // Split across blocks, then a missing end.
    verdict(&r, &[0x02, 0x02, 0x02, b'x', 0x02, 0x04, 0x02, b'y', 0x00], true);
    verdict(&r, &[0x02, 0x02, 0x02, b'x', 0x02, 0x04, 0x02, b'y'], false);
    // Maps: key, then value.
    let m = schema(r#"{"type":"map","values":{"type":"array","items":"long"}}"#);
    verdict(&m, &[0x02, 0x02, b'k', 0x04, 0x06, 0x08, 0x00, 0x00], true);
    verdict(&m, &[0x02, 0x02, b'k', 0x04, 0x06, 0x08, 0x00], false);
}

#[test]
fn zero_width_items() {
    let nulls = schema(r#"{"type":"array","items":"null"}"#);
    // A count alone, as large as the limit allows.
    let mut datum = long(1 << 16);
    datum.push(0);
    verdict(&nulls, &datum, true);
    let mut datum = long((1 << 16) + 1);
    datum.push(0);
    verdict(&nulls, &datum, false);
    let empty_records = schema(r#"{"type":"array","items":{"type":"record","name":"E","fields":[]}}"#);
    verdict(&empty_records, &[0x14, 0x00], true);
    let null_values = schema(r#"{"type":"map","values":"null"}"#);
    verdict(&null_values, &[0x04, 0x02, b'a', 0x02, b'b', 0x00], true);
    verdict(&null_values, &[0x04, 0x02, b'a', 0x02, 0xff, 0x00], false);
}

#[test]
fn unions() {
    let nullable = schema(r#"["null","string"]"#);
    verdict(&nullable, &[0x00], true);
    verdict(&nullable, &[0x02, 0x02, b'a'], true);
    verdict(&nullable, &[0x04], false);
    verdict(&nullable, &[0x01], false);
    // An over-long branch index is still the index.
    verdict(&nullable, &[0x82, 0x00, 0x02, b'a'], true);
    let reversed = schema(r#"["long","null"]"#);
    verdict(&reversed, &[0x00, 0x06], true);
    verdict(&reversed, &[0x02], true);
    verdict(&reversed, &[0x02, 0x00], false);
    let wide = schema(
        r#"["null","int",{"type":"record","name":"A","fields":[{"name":"s","type":"string"},{"name":"n","type":["null","A"]}]},
            {"type":"enum","name":"E","symbols":["X","Y"]}]"#,
    );
    verdict(&wide, &[0x00], true);
    verdict(&wide, &[0x02, 0x7e], true);
    verdict(&wide, &[0x04, 0x02, b'a', 0x02, 0x02, b'b', 0x00], true);
    verdict(&wide, &[0x06, 0x02], true);
    verdict(&wide, &[0x06, 0x04], false);
    verdict(&wide, &[0x08], false);
}

#[test]
fn recursion_is_left_to_the_walk_with_its_depth_limit() {
    let list = schema(
        r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#,
    );
    let chain = |n: usize| {
        let mut datum = Vec::new();
        for i in 0..n {
            datum.extend(long(i as i64));
            datum.push(if i + 1 < n { 0x02 } else { 0x00 });
        }
        datum
    };
    verdict(&list, &chain(1), true);
    verdict(&list, &chain(40), true);
    // Each link is a record and a union: two levels of the walk's depth.
    verdict(&list, &chain(63), true);
    verdict(&list, &chain(65), false);
    let mut cut = chain(10);
    cut.pop();
    verdict(&list, &cut, false);
}

#[test]
fn arrays_nested_past_the_programs_loop_limit() {
    // 20 arrays of records, each record an int and the next array: past the
    // program's 16 loops, the rest is walked.
    let mut json = r#""int""#.to_owned();
    for i in 0..20 {
        json = format!(
            r#"{{"type":"array","items":{{"type":"record","name":"L{i}","fields":[{{"name":"n","type":"int"}},{{"name":"c","type":{json}}}]}}}}"#
        );
    }
    let s = schema(&json);
    // One item per level, down to a plain int.
    let mut datum = Vec::new();
    for _ in 0..20 {
        datum.extend([0x02, 0x02]);
    }
    datum.push(0x04);
    datum.extend([0u8; 20]);
    verdict(&s, &datum, true);
    // An int out of range at the bottom.
    let mut bad = datum.clone();
    bad[40] = 0xff;
    verdict(&s, &bad, false);
    verdict(&s, &datum[..datum.len() - 1], false);
}

#[test]
fn the_bench_record() {
    let user = schema(include_str!("../../../schemas/user.avsc"));
    let mut datum = long(1_000_000);
    datum.extend(long(12));
    datum.extend(b"Ada Lovelace");
    datum.extend([0x02, 0x06, b'a', b'@', b'b']); // email
    datum.extend(long(36));
    datum.push(1);
    datum.extend(97.5f64.to_le_bytes());
    datum.extend([0x04, 0x02, b'x', 0x04, b'y', b'z', 0x00]); // tags
    datum.push(0x00); // manager
    verdict(&user, &datum, true);
    for at in 0..datum.len() {
        for byte in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff] {
            let mut changed = datum.clone();
            changed[at] = byte;
            let walk = validate_by_walk(&user, &changed).is_ok();
            verdict(&user, &changed, walk);
        }
    }
}
