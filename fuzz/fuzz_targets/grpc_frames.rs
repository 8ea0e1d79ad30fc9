//! Fuzz target: arbitrary bytes as the body of a produce stream, read by
//! `runnel_proto::frames::MessageReader` in arbitrary chunks, and a round trip of
//! arbitrary requests through `produce_request_frames`.
//!
//! Properties: nothing panics; however the body is cut into chunks, the reader yields
//! the same messages (the same bytes) and the same error, or the same leftover at the
//! end; a `Rope` reads out exactly its message's bytes, by `chunk`/`advance` or by
//! `copy_to_bytes`; framed requests decode (prost) back to exactly what was framed.

#![no_main]

use bytes::{Buf, Bytes};
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use runnel_proto::frames::{produce_request_frames, FrameError, MessageReader};
use runnel_proto::v1::ProduceRequest;

/// A small limit, so that the fuzzer reaches it.
const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(cuts) = u.arbitrary::<Vec<u8>>() else { return };
    let body = u.take_rest();
    let whole = read(body, &[]);
    let chunked = read(body, &cuts);
    assert_eq!(whole, chunked, "the chunking changed what was read");
    let _ = round_trip(&mut Unstructured::new(data));
});

/// What the reader makes of `body` cut at the sizes `cuts` gives (cycled; none: one chunk):
/// each message's bytes (read both ways a Rope allows), and how the stream ended.
fn read(body: &[u8], cuts: &[u8]) -> (Vec<Vec<u8>>, Result<(), FrameError>) {
    let mut reader = MessageReader::new(MAX);
    let mut messages = Vec::new();
    let mut rest = body;
    let mut sizes = cuts.iter().map(|&c| usize::from(c) + 1).cycle();
    while !rest.is_empty() {
        let n = if cuts.is_empty() { rest.len() } else { sizes.next().unwrap_or(1).min(rest.len()) };
        reader.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
        loop {
            match reader.next_message() {
                Ok(Some(mut rope)) => {
                    let len = rope.remaining();
                    // Half by copy_to_bytes, the rest chunk by chunk.
                    let mut bytes = rope.copy_to_bytes(len / 2).to_vec();
                    while rope.has_remaining() {
                        let chunk = rope.chunk();
                        assert!(!chunk.is_empty(), "a rope with bytes left showed an empty chunk");
                        let n = chunk.len();
                        bytes.extend_from_slice(chunk);
                        rope.advance(n);
                    }
                    assert_eq!(bytes.len(), len);
                    let _ = ProduceRequest::decode(Bytes::from(bytes.clone()));
                    messages.push(bytes);
                }
                Ok(None) => break,
                // A refused frame ends the stream, whatever follows.
                Err(e) => return (messages, Err(e)),
            }
        }
    }
    (messages, reader.finish())
}

fn round_trip(u: &mut Unstructured<'_>) -> ArbResult<()> {
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..u.int_in_range(1..=4)? {
        let req = ProduceRequest {
            correlation_id: u.arbitrary()?,
            topic: u.arbitrary()?,
            partition: u.arbitrary()?,
            batch: Bytes::from(u.arbitrary::<Vec<u8>>()?),
        };
        let [head, batch] = produce_request_frames(req.correlation_id, &req.topic, req.partition, req.batch.clone())
            .expect("a small request is framed");
        wire.extend_from_slice(&head);
        wire.extend_from_slice(&batch);
        sent.push(req);
    }
    let cuts = u.arbitrary::<Vec<u8>>()?;
    let mut reader = MessageReader::new(usize::MAX);
    let mut got = Vec::new();
    let mut rest = &wire[..];
    let mut sizes = cuts.iter().map(|&c| usize::from(c) + 1).cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        reader.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
        while let Some(message) = reader.next_message().expect("framed requests read back") {
            got.push(ProduceRequest::decode(message).expect("a framed request decodes"));
        }
    }
    reader.finish().expect("nothing left over");
    assert_eq!(got, sent);
    Ok(())
}
