//! Writer → reader resolution plans: data encoded under a writer schema with
//! the binary runtime, transcoded, must equal the direct encoding of the same
//! datum under the reader schema; bad data gives an error with path and offset.

use runnel_avro::binary::{
    write_block_end, write_block_len, write_bool, write_bytes, write_double, write_fixed, write_float,
    write_index, write_int, write_long, write_string,
};
use runnel_avro::resolve::{Plan, ResolveError};
use runnel_avro::{validate, DecodeErrorKind, Schema};

fn schema(json: &str) -> Schema {
    Schema::parse_str(json).unwrap_or_else(|e| panic!("test schema {json}: {e}"))
}

fn plan(writer: &str, reader: &str) -> Plan {
    Plan::new(&schema(writer), &schema(reader)).unwrap_or_else(|e| panic!("plan: {e}"))
}

fn transcode(plan: &Plan, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    plan.transcode(bytes, &mut out).unwrap_or_else(|e| panic!("transcode: {e}"));
    out
}

fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut buf = Vec::new();
    f(&mut buf);
    buf
}

const USER_V1: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},
    {"name":"age","type":"int"},
    {"name":"tags","type":{"type":"array","items":"string"}}]}"#;

const USER_V2: &str = r#"{"type":"record","name":"User","namespace":"com.example","fields":[
    {"name":"name","type":"string"},
    {"name":"age","type":"long"},
    {"name":"email","type":["null","string"],"default":null},
    {"name":"tags","type":{"type":"array","items":"string"}},
    {"name":"score","type":"double","default":1.5}]}"#;

#[test]
fn same_schema_gives_an_identity_plan_that_copies_the_bytes() {
    let p = plan(USER_V1, USER_V1);
    assert!(p.is_identity());
    let data = enc(|b| {
        write_string(b, "ann");
        write_int(b, 30);
        write_block_len(b, 1);
        write_string(b, "x");
        write_block_end(b);
    });
    assert_eq!(transcode(&p, &data), data);
}

#[test]
fn int_read_as_long_keeps_the_encoding_and_is_identity() {
    let p = plan(r#""int""#, r#""long""#);
    assert!(p.is_identity());
    assert_eq!(transcode(&p, &enc(|b| write_int(b, -123_456))), enc(|b| write_long(b, -123_456)));
}

#[test]
fn numeric_promotions_rewrite_the_value() {
    let cases: Vec<(&str, &str, Vec<u8>, Vec<u8>)> = vec![
        ("int", "float", enc(|b| write_int(b, 16_777_217)), enc(|b| write_float(b, 16_777_217i32 as f32))),
        ("int", "double", enc(|b| write_int(b, i32::MIN)), enc(|b| write_double(b, f64::from(i32::MIN)))),
        ("long", "float", enc(|b| write_long(b, i64::MAX)), enc(|b| write_float(b, i64::MAX as f32))),
        ("long", "double", enc(|b| write_long(b, -7)), enc(|b| write_double(b, -7.0))),
        ("float", "double", enc(|b| write_float(b, 0.1)), enc(|b| write_double(b, f64::from(0.1f32)))),
    ];
    for (w, r, data, want) in cases {
        let p = plan(&format!("\"{w}\""), &format!("\"{r}\""));
        assert!(!p.is_identity(), "{w} -> {r}");
        assert_eq!(transcode(&p, &data), want, "{w} -> {r}");
    }
}

#[test]
fn string_and_bytes_read_as_each_other() {
    let p = plan(r#""string""#, r#""bytes""#);
    assert!(p.is_identity());
    let p = plan(r#""bytes""#, r#""string""#);
    assert_eq!(transcode(&p, &enc(|b| write_bytes(b, "hé".as_bytes()))), enc(|b| write_string(b, "hé")));
}

#[test]
fn bytes_read_as_string_must_be_utf8() {
    let p = plan(
        r#"{"type":"record","name":"R","fields":[{"name":"s","type":"bytes"}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}"#,
    );
    let mut out = vec![9];
    let err = p.transcode(&enc(|b| write_bytes(b, &[0xff, 0xfe])), &mut out).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
    assert_eq!(err.path(), "/s");
    assert_eq!(err.offset(), 0);
    assert_eq!(out, [9], "output is left as it was on error");
}

#[test]
fn older_writer_gets_defaults_promotions_and_keeps_field_order() {
    let p = plan(USER_V1, USER_V2);
    assert!(!p.is_identity());
    let data = enc(|b| {
        write_string(b, "ann");
        write_int(b, 30);
        write_block_len(b, 2);
        write_string(b, "a");
        write_string(b, "b");
        write_block_end(b);
    });
    let want = enc(|b| {
        write_string(b, "ann");
        write_long(b, 30);
        write_index(b, 0); // email: null, the first branch
        write_block_len(b, 2);
        write_string(b, "a");
        write_string(b, "b");
        write_block_end(b);
        write_double(b, 1.5);
    });
    assert_eq!(transcode(&p, &data), want);
}

#[test]
fn newer_writer_fields_the_reader_lacks_are_skipped() {
    let reader = USER_V1.replace(r#""type":"int""#, r#""type":"long""#);
    let p = plan(USER_V2, &reader);
    let data = enc(|b| {
        write_string(b, "bob");
        write_long(b, 41);
        write_index(b, 1);
        write_string(b, "bob@example.com");
        write_block_end(b);
        write_double(b, 2.0);
    });
    let want = enc(|b| {
        write_string(b, "bob");
        write_long(b, 41);
        write_block_end(b);
    });
    assert_eq!(transcode(&p, &data), want);
}

#[test]
fn reading_a_long_as_int_is_refused_at_plan_time_with_the_path() {
    let err = Plan::new(&schema(USER_V2), &schema(USER_V1)).unwrap_err();
    let shown: Vec<String> = err.incompatibilities().iter().map(ToString::to_string).collect();
    assert_eq!(shown, [r#"/fields/1/type: reader type "int" cannot read writer type "long""#]);
}

#[test]
fn every_default_type_is_encoded_as_the_specification_says() {
    let writer = r#"{"type":"record","name":"D","fields":[]}"#;
    let reader = r#"{"type":"record","name":"D","fields":[
        {"name":"a","type":"int","default":-3},
        {"name":"b","type":"long","default":300},
        {"name":"c","type":"float","default":1.5},
        {"name":"d","type":"double","default":2},
        {"name":"e","type":"bytes","default":"\u00ffA"},
        {"name":"f","type":"string","default":"hé"},
        {"name":"g","type":"boolean","default":true},
        {"name":"h","type":"null","default":null},
        {"name":"i","type":{"type":"array","items":"int"},"default":[1,2]},
        {"name":"j","type":{"type":"map","values":"string"},"default":{"k":"v"}},
        {"name":"k","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]},"default":"GREEN"},
        {"name":"l","type":{"type":"fixed","name":"Two","size":2},"default":"\u00e9x"},
        {"name":"m","type":{"type":"record","name":"In","fields":[
            {"name":"x","type":"int"},{"name":"y","type":"string","default":"z"}]},"default":{"x":7}},
        {"name":"n","type":["int","null"],"default":5},
        {"name":"o","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2},"default":"\u0001"}]}"#;
    let want = enc(|b| {
        write_int(b, -3);
        write_long(b, 300);
        write_float(b, 1.5);
        write_double(b, 2.0);
        write_bytes(b, &[0xff, b'A']);
        write_string(b, "hé");
        write_bool(b, true);
        write_block_len(b, 2);
        write_int(b, 1);
        write_int(b, 2);
        write_block_end(b);
        write_block_len(b, 1);
        write_string(b, "k");
        write_string(b, "v");
        write_block_end(b);
        write_index(b, 1);
        write_fixed(b, &[0xe9, b'x']);
        write_int(b, 7);
        write_string(b, "z");
        write_index(b, 0);
        write_int(b, 5);
        write_bytes(b, &[1]);
    });
    assert_eq!(transcode(&plan(writer, reader), &[]), want);
}

#[test]
fn reordered_fields_come_out_in_the_reader_order() {
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"a","type":"int"},{"name":"b","type":"string"},{"name":"gone","type":"long"},{"name":"c","type":"float"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"c","type":"double"},{"name":"new","type":"int","default":9},{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#;
    let data = enc(|b| {
        write_int(b, 1);
        write_string(b, "two");
        write_long(b, 3);
        write_float(b, 4.5);
    });
    let want = enc(|b| {
        write_double(b, 4.5);
        write_int(b, 9);
        write_long(b, 1);
        write_string(b, "two");
    });
    assert_eq!(transcode(&plan(writer, reader), &data), want);
}

#[test]
fn renamed_record_and_field_are_found_through_reader_aliases() {
    let writer = r#"{"type":"record","name":"Old","namespace":"a","fields":[{"name":"n","type":"int"}]}"#;
    let reader = r#"{"type":"record","name":"New","namespace":"b","aliases":["a.Old"],
        "fields":[{"name":"count","aliases":["n"],"type":"long"}]}"#;
    let p = plan(writer, reader);
    assert!(p.is_identity(), "renames do not change the encoding");
    assert_eq!(transcode(&p, &enc(|b| write_int(b, 5))), enc(|b| write_long(b, 5)));
}

#[test]
fn enum_symbols_are_renumbered_and_unknown_ones_take_the_reader_default() {
    let writer = r#"{"type":"enum","name":"E","symbols":["A","B","C","D"]}"#;
    let reader = r#"{"type":"enum","name":"E","symbols":["UNKNOWN","D","C","A"],"default":"UNKNOWN"}"#;
    let p = plan(writer, reader);
    let got: Vec<Vec<u8>> = (0..4).map(|i| transcode(&p, &enc(|b| write_index(b, i)))).collect();
    let want: Vec<Vec<u8>> = [3, 0, 2, 1].iter().map(|&i| enc(|b| write_index(b, i))).collect();
    assert_eq!(got, want);
}

#[test]
fn enum_with_appended_reader_symbols_is_identity() {
    let p = plan(
        r#"{"type":"enum","name":"E","symbols":["A","B"]}"#,
        r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#,
    );
    assert!(p.is_identity());
}

#[test]
fn union_branches_are_renumbered() {
    let p = plan(r#"["null","string","int"]"#, r#"["long","null","string","boolean"]"#);
    let cases = [
        (enc(|b| write_index(b, 0)), enc(|b| write_index(b, 1))),
        (
            enc(|b| {
                write_index(b, 1);
                write_string(b, "s");
            }),
            enc(|b| {
                write_index(b, 2);
                write_string(b, "s");
            }),
        ),
        (
            enc(|b| {
                write_index(b, 2);
                write_int(b, -2);
            }),
            enc(|b| {
                write_index(b, 0);
                write_long(b, -2);
            }),
        ),
    ];
    for (data, want) in cases {
        assert_eq!(transcode(&p, &data), want);
    }
}

#[test]
fn non_union_writer_is_written_as_the_matching_reader_branch() {
    // The union has no "int": the first branch an int promotes to ("double") is taken.
    let p = plan(r#""int""#, r#"["null","string","double","long"]"#);
    let want = enc(|b| {
        write_index(b, 2);
        write_double(b, 4.0);
    });
    assert_eq!(transcode(&p, &enc(|b| write_int(b, 4))), want);
    let p = plan(r#""string""#, r#"["null","bytes","string"]"#);
    let want = enc(|b| {
        write_index(b, 2);
        write_string(b, "x");
    });
    assert_eq!(transcode(&p, &enc(|b| write_string(b, "x"))), want, "the exact type wins over a promotion");
}

#[test]
fn union_writer_read_by_a_non_union_reader_drops_the_branch_index() {
    let p = plan(r#"["int","float"]"#, r#""double""#);
    assert_eq!(
        transcode(
            &p,
            &enc(|b| {
                write_index(b, 1);
                write_float(b, 0.5);
            })
        ),
        enc(|b| write_double(b, 0.5))
    );
    let p = plan(r#"["int","float"]"#, r#""double""#);
    let err = p.transcode(&enc(|b| write_index(b, 2)), &mut Vec::new()).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::UnionIndexOutOfRange { index: 2, branches: 2 }));
}

#[test]
fn arrays_and_maps_transcode_every_item_across_blocks() {
    let p = plan(
        r#"{"type":"map","values":{"type":"array","items":"int"}}"#,
        r#"{"type":"map","values":{"type":"array","items":"double"}}"#,
    );
    // Writer: two map blocks, the first with a negative count and byte size.
    let inner = enc(|b| {
        write_string(b, "k1");
        write_block_len(b, 1);
        write_int(b, 1);
        write_block_end(b);
    });
    let data = enc(|b| {
        write_long(b, -1);
        write_long(b, inner.len() as i64);
        b.extend_from_slice(&inner);
        write_block_len(b, 1);
        write_string(b, "k2");
        write_block_len(b, 2);
        write_int(b, 2);
        write_int(b, 3);
        write_block_end(b);
        write_block_end(b);
    });
    let want = enc(|b| {
        write_block_len(b, 1);
        write_string(b, "k1");
        write_block_len(b, 1);
        write_double(b, 1.0);
        write_block_end(b);
        write_block_len(b, 1);
        write_string(b, "k2");
        write_block_len(b, 2);
        write_double(b, 2.0);
        write_double(b, 3.0);
        write_block_end(b);
        write_block_end(b);
    });
    assert_eq!(transcode(&p, &data), want);
}

#[test]
fn skipped_arrays_with_byte_sizes_are_skipped_whole() {
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"big","type":{"type":"array","items":{"type":"map","values":"string"}}},{"name":"x","type":"int"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}"#;
    // The block's items are not valid maps at all: a byte-sized block is not looked into.
    let data = enc(|b| {
        write_long(b, -3);
        write_long(b, 3);
        b.extend_from_slice(&[0xff, 0xff, 0xff]);
        write_block_end(b);
        write_int(b, 8);
    });
    assert_eq!(transcode(&plan(writer, reader), &data), enc(|b| write_int(b, 8)));
}

const LIST_INT: &str = r#"{"type":"record","name":"Node","fields":[
    {"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}"#;
const LIST_DOUBLE: &str = r#"{"type":"record","name":"Node","fields":[
    {"name":"v","type":"double"},{"name":"next","type":["null","Node"]},{"name":"w","type":"int","default":0}]}"#;

fn list_int(values: &[i32]) -> Vec<u8> {
    enc(|b| {
        for v in values {
            write_int(b, *v);
            write_index(b, 1);
        }
        // Replace the last "next = Node" with "next = null".
        if !values.is_empty() {
            b.pop();
        }
        write_index(b, 0);
    })
}

#[test]
fn recursive_types_resolve_at_every_level() {
    let p = plan(LIST_INT, LIST_DOUBLE);
    let want = enc(|b| {
        for (i, v) in [1, 2, 3].iter().enumerate() {
            write_double(b, f64::from(*v));
            write_index(b, if i < 2 { 1 } else { 0 });
            if i == 2 {
                write_int(b, 0);
            }
        }
        // The defaults of the outer nodes come after their nested "next".
        write_int(b, 0);
        write_int(b, 0);
    });
    assert_eq!(transcode(&p, &list_int(&[1, 2, 3])), want);
}

#[test]
fn nesting_past_the_depth_limit_is_an_error_not_a_stack_overflow() {
    let p = plan(LIST_INT, LIST_DOUBLE);
    let deep = list_int(&vec![1; 100_000]);
    let err = p.transcode(&deep, &mut Vec::new()).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::TooDeep(_)), "{err}");
    let identity = plan(LIST_INT, LIST_INT);
    let err = identity.transcode(&deep, &mut Vec::new()).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::TooDeep(_)), "{err}");
}

#[test]
fn truncated_data_names_the_field_and_offset() {
    let p = plan(USER_V1, USER_V2);
    let data = enc(|b| {
        write_string(b, "ann");
        write_int(b, 30);
        write_block_len(b, 2);
        write_string(b, "a");
    });
    let err = p.transcode(&data, &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::UnexpectedEof);
    assert_eq!(err.path(), "/tags/1");
    assert_eq!(err.offset(), data.len());
}

#[test]
fn trailing_bytes_are_refused() {
    let p = plan(r#""int""#, r#""double""#);
    let err = p.transcode(&[2, 0], &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::TrailingBytes(1));
    assert_eq!(err.offset(), 1);
}

#[test]
fn errors_inside_reordered_fields_report_offsets_in_the_whole_datum() {
    let writer =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"bytes"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[{"name":"b","type":"string"},{"name":"a","type":"string"}]}"#;
    let data = enc(|b| {
        write_string(b, "ok");
        write_bytes(b, &[0xc3]);
    });
    let err = plan(writer, reader).transcode(&data, &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
    assert_eq!(err.path(), "/b");
    assert_eq!(err.offset(), 3);
}

#[test]
fn incompatible_schemas_give_no_plan_and_every_reason() {
    let writer =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#;
    let reader =
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"c","type":"int"}]}"#;
    let err = Plan::new(&schema(writer), &schema(reader)).unwrap_err();
    let ResolveError::Incompatible(list) = &err else { panic!("{err}") };
    let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"/fields/0/type: reader type "int" cannot read writer type "long""#,
            r#"/fields/1: reader field "c" has no default and the writer has no such field"#,
        ]
    );
    assert_eq!(err.incompatibilities().len(), 2);
}

#[test]
fn arbitrary_bytes_never_panic_and_success_means_a_valid_reader_datum() {
    // A plan exercising every op, fed every short byte string and some longer patterns.
    let writer = r#"{"type":"record","name":"R","fields":[
        {"name":"a","type":["null","int","string",{"type":"array","items":"float"}]},
        {"name":"b","type":{"type":"map","values":{"type":"enum","name":"E","symbols":["X","Y"]}}},
        {"name":"c","type":"bytes"},{"name":"d","type":{"type":"fixed","name":"F","size":2}},
        {"name":"e","type":"long"},{"name":"f","type":"boolean"},{"name":"g","type":"double"}]}"#;
    let reader = r#"{"type":"record","name":"R","fields":[
        {"name":"g","type":"double"},{"name":"c","type":"string"},
        {"name":"a","type":["string","null","long",{"type":"array","items":"double"}]},
        {"name":"b","type":{"type":"map","values":{"type":"enum","name":"E","symbols":["Y","X"]}}},
        {"name":"e","type":"float"},{"name":"z","type":"int","default":1}]}"#;
    let p = plan(writer, reader);
    let reader = schema(reader);
    let mut out = Vec::new();
    let mut successes = 0;
    let mut attempt = |bytes: &[u8]| {
        out.clear();
        if p.transcode(bytes, &mut out).is_ok() {
            successes += 1;
            if let Err(e) = validate(&reader, &out) {
                panic!("transcoding {bytes:02x?} gave {out:02x?}, not a reader datum: {e}");
            }
        }
    };
    for len in 0..=2usize {
        for n in 0..(1u32 << (8 * len)) {
            attempt(&n.to_le_bytes()[..len]);
        }
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let len = (next(&mut seed) % 40) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next(&mut seed) as u8).collect();
        attempt(&bytes);
    }
    // Random bytes rarely form a datum: mutate a valid one (flip bytes, cut it short)
    // so that both success and failures deep inside are exercised.
    let valid = enc(|b| {
        write_index(b, 3); // a: the array branch
        write_block_len(b, 2);
        write_float(b, 0.5);
        write_float(b, 1.5);
        write_block_end(b);
        write_block_len(b, 2); // b: {"k": Y, "é": X}
        write_string(b, "k");
        write_index(b, 1);
        write_string(b, "é");
        write_index(b, 0);
        write_block_end(b);
        write_bytes(b, b"ab"); // c
        write_fixed(b, b"xy"); // d
        write_long(b, 2); // e
        write_bool(b, true); // f
        write_double(b, 1.0); // g
    });
    attempt(&valid);
    for _ in 0..20_000 {
        let mut bytes = valid.clone();
        for _ in 0..1 + next(&mut seed) % 3 {
            let i = (next(&mut seed) % bytes.len() as u64) as usize;
            bytes[i] = next(&mut seed) as u8;
        }
        bytes.truncate(bytes.len() - (next(&mut seed) % 3) as usize);
        attempt(&bytes);
    }
    assert!(successes > 100, "only {successes} inputs transcoded");
}

/// xorshift64: a deterministic stream, so failures reproduce.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn copied_strings_must_be_utf8_and_copied_blocks_must_match_their_byte_size() {
    let s = r#"{"type":"record","name":"R","fields":[{"name":"s","type":"string"},
        {"name":"a","type":{"type":"array","items":"int"}}]}"#;
    let p = plan(s, s);
    let err = p.transcode(&[4, 0xff, 0xfe, 0], &mut Vec::new()).unwrap_err();
    assert_eq!((err.kind(), err.path().as_str()), (&DecodeErrorKind::InvalidUtf8, "/s"));
    // A block of 2 items (negative count) claiming 3 bytes, whose items take 2.
    let data = enc(|b| {
        write_string(b, "ok");
        write_long(b, -2);
        write_long(b, 3);
        write_int(b, 1);
        write_int(b, 2);
        b.push(0);
        write_block_end(b);
    });
    let err = p.transcode(&data, &mut Vec::new()).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::Invalid(m) if m.contains("byte size")), "{err}");
    assert_eq!(err.path(), "/a");
    // Map keys are strings too, also when the values are rewritten.
    let p = plan(r#"{"type":"map","values":"int"}"#, r#"{"type":"map","values":"double"}"#);
    let data = enc(|b| {
        write_block_len(b, 1);
        write_bytes(b, &[0xc0]);
        write_int(b, 1);
        write_block_end(b);
    });
    assert_eq!(p.transcode(&data, &mut Vec::new()).unwrap_err().kind(), &DecodeErrorKind::InvalidUtf8);
}

#[test]
fn items_of_zero_bytes_are_bounded_per_datum() {
    // Each null item costs no input but one output byte (its union branch): a few bytes of
    // block headers must not make the plan write without bound.
    let p = plan(r#"{"type":"array","items":"null"}"#, r#"{"type":"array","items":["null","int"]}"#);
    let blocks = |n: usize, count: i64| {
        enc(|b| {
            for _ in 0..n {
                write_long(b, count);
            }
            write_block_end(b);
        })
    };
    let mut out = Vec::new();
    p.transcode(&blocks(1, 1000), &mut out).expect("a thousand nulls are fine");
    assert_eq!(out.len(), 2 + 1000 + 1);
    let err = p.transcode(&blocks(100, 65_536), &mut Vec::new()).unwrap_err();
    assert!(matches!(err.kind(), DecodeErrorKind::Invalid(m) if m.contains("zero bytes")), "{err}");
    // The same bound holds when such an array is only walked (copied unchanged, or skipped).
    let same = plan(r#"{"type":"array","items":"null"}"#, r#"{"type":"array","items":"null"}"#);
    assert!(same.transcode(&blocks(100, 65_536), &mut Vec::new()).is_err());
    let dropped = plan(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"array","items":"null"}}]}"#,
        r#"{"type":"record","name":"R","fields":[]}"#,
    );
    assert!(dropped.transcode(&blocks(100, 65_536), &mut Vec::new()).is_err());
}
