//! Fuzz target: a writer/reader pair from a fixed set of compatible pairs and
//! arbitrary writer bytes through `runnel_avro::resolve::Plan::transcode`.
//!
//! Input: byte 0 picks `COMPATIBLE_PAIRS[byte % len]`; the rest is the writer's datum.
//!
//! Properties:
//! - every pair of the set compiles to a plan (they are compatible by the spec);
//! - when the writer bytes validate under the writer schema, transcoding succeeds
//!   (unless `bytes` promoted to `string` meets non-UTF-8 data) and its output
//!   validates under the reader schema;
//! - on failure, `transcode` leaves the output buffer as it was (and never
//!   touches what the buffer held before);
//! - a schema's plan to itself copies valid bytes unchanged.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runnel_avro::model::NodeKind;
use runnel_avro::{resolve::Plan, validate, DecodeErrorKind, Schema};
use runnel_fuzz::COMPATIBLE_PAIRS;

struct Pair {
    writer: Schema,
    reader: Schema,
    plan: Plan,
    identity: Plan,
    /// The writer has `bytes` and the reader `string`: a promotion that fails on non-UTF-8 data.
    bytes_to_string: bool,
}

fn has(schema: &Schema, kind: NodeKind) -> bool {
    schema.model().nodes().iter().any(|n| n.kind == kind)
}

fn pairs() -> &'static [Pair] {
    static PAIRS: OnceLock<Vec<Pair>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        COMPATIBLE_PAIRS
            .iter()
            .map(|(w, r)| {
                let parse =
                    |s: &str| Schema::parse_str(s).unwrap_or_else(|e| panic!("{s} does not parse: {e}"));
                let (writer, reader) = (parse(w), parse(r));
                let plan = Plan::new(&writer, &reader)
                    .unwrap_or_else(|e| panic!("compatible pair {w} → {r} has no plan: {e}"));
                let identity =
                    Plan::new(&writer, &writer).unwrap_or_else(|e| panic!("{w} has no plan to itself: {e}"));
                let bytes_to_string = has(&writer, NodeKind::Bytes) && has(&reader, NodeKind::String);
                Pair { writer, reader, plan, identity, bytes_to_string }
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let set = pairs();
    let pair = &set[usize::from(selector) % set.len()];

    // A prefix in the output buffer must survive both success and failure.
    let mut out = vec![0xAB; 3];
    let transcoded = pair.plan.transcode(bytes, &mut out);
    match (validate(&pair.writer, bytes), transcoded) {
        (Ok(()), Ok(())) => {
            assert_eq!(&out[..3], &[0xAB; 3]);
            if let Err(e) = validate(&pair.reader, &out[3..]) {
                panic!("transcoded output does not validate under the reader schema: {e}");
            }
        }
        // The one expected failure: `bytes` promoted to `string` holds bytes that
        // are not UTF-8 (the specification allows the promotion; the data decides).
        (Ok(()), Err(e)) if pair.bytes_to_string && matches!(e.kind(), DecodeErrorKind::InvalidUtf8) => {
            assert_eq!(out, [0xAB; 3], "a failed transcode left bytes behind")
        }
        (Ok(()), Err(e)) => panic!("valid writer bytes do not transcode: {e}"),
        // Allowed, and not checked further: `transcode` converts, it does not
        // validate. It copies unchanged parts (strings included) and skips dropped
        // fields by their block byte sizes without looking inside, so invalid
        // writer bytes can come out as invalid reader bytes. The broker validates
        // on produce, and the consumer's decoder refuses what is still wrong.
        (Err(_), Ok(())) => assert_eq!(&out[..3], &[0xAB; 3]),
        (Err(_), Err(_)) => assert_eq!(out, [0xAB; 3], "a failed transcode left bytes behind"),
    }

    let mut same = Vec::new();
    if pair.identity.transcode(bytes, &mut same).is_ok() && validate(&pair.writer, bytes).is_ok() {
        assert_eq!(same, bytes, "the identity plan changed valid bytes");
    }
});
