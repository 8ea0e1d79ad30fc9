//! gRPC's message framing (a compression flag, a 4-byte big-endian length, the
//! message), written and read by hand for the one call where a copy of the payload
//! costs: the produce stream, whose requests carry batches of up to megabytes.
//!
//! tonic's codec copies every message it sends into its encode buffer, and every
//! message it receives from the HTTP/2 frames into one contiguous buffer. Here a
//! produce request goes out as two chunks, its head (the frame header and the small
//! fields) and the batch's own `Bytes`, and comes in as the chunks HTTP/2 delivered: a
//! message is a [`Rope`] over them, and the batch is taken out of it without a copy
//! whenever it arrived in one DATA frame (the broker allows frames large enough for a
//! batch). The bytes on the wire are gRPC's, field for field what prost would write,
//! so tonic's own codec on either side reads them the same.
//!
//! ```
//! use bytes::Bytes;
//! use prost::Message;
//! use runnel_proto::frames::{produce_request_frames, MessageReader};
//! use runnel_proto::v1::ProduceRequest;
//!
//! let batch = Bytes::from(vec![7u8; 4096]);
//! let [head, body] = produce_request_frames(9, "orders", 2, batch.clone()).unwrap();
//! let mut reader = MessageReader::new(1 << 20);
//! reader.push(head);
//! reader.push(body);
//! let message = reader.next_message().unwrap().unwrap();
//! let request = ProduceRequest::decode(message).unwrap();
//! assert_eq!((request.correlation_id, request.partition), (9, 2));
//! assert_eq!(request.batch.as_ptr(), batch.as_ptr()); // the same bytes, not a copy
//! ```

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

use crate::MAX_MESSAGE_BYTES;

/// The produce stream's path, which the broker serves from the HTTP/2 chunks directly.
pub const PRODUCE_STREAM_PATH: &str = "/runnel.v1.Broker/ProduceStream";

/// Bytes of gRPC's frame header: the compression flag and the message's length.
pub const FRAME_HEADER_BYTES: usize = 5;

/// Why a stream of frames cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message longer than the reader (or the protocol) accepts.
    #[error("a message of {len} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// The message's length, from its frame header.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A compressed message, on a stream that declared no compression.
    #[error("a compressed message on a stream without grpc-encoding")]
    Compressed,
    /// A compression flag other than 0 or 1.
    #[error("a frame with compression flag {0}")]
    BadFlag(u8),
    /// The stream ended inside a message.
    #[error("the stream ended {0} bytes into an unfinished message")]
    Truncated(usize),
}

/// One produce request as gRPC frames: the head (the frame header, `correlation_id`,
/// `topic`, `partition`, and the tag and length of `batch`) and the batch itself,
/// uncopied. Their concatenation is what tonic would send for the same request.
///
/// Fails when the message would be over [`MAX_MESSAGE_BYTES`].
pub fn produce_request_frames(
    correlation_id: u64,
    topic: &str,
    partition: u32,
    batch: Bytes,
) -> Result<[Bytes; 2], FrameError> {
    // Fields in number order, and none at its default, as prost writes them.
    let mut head = BytesMut::with_capacity(FRAME_HEADER_BYTES + 32 + topic.len());
    head.put_bytes(0, FRAME_HEADER_BYTES);
    if correlation_id != 0 {
        prost::encoding::uint64::encode(1, &correlation_id, &mut head);
    }
    if !topic.is_empty() {
        encode_key(2, WireType::LengthDelimited, &mut head);
        encode_varint(topic.len() as u64, &mut head);
        head.put_slice(topic.as_bytes());
    }
    if partition != 0 {
        prost::encoding::uint32::encode(3, &partition, &mut head);
    }
    if !batch.is_empty() {
        encode_key(4, WireType::LengthDelimited, &mut head);
        encode_varint(batch.len() as u64, &mut head);
    }
    let len = head.len() - FRAME_HEADER_BYTES + batch.len();
    if len > MAX_MESSAGE_BYTES {
        return Err(FrameError::TooLarge { len, max: MAX_MESSAGE_BYTES });
    }
    // `len` fits: MAX_MESSAGE_BYTES is under u32::MAX.
    head[1..FRAME_HEADER_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
    Ok([head.freeze(), batch])
}

/// One message as a gRPC frame (header and encoded message), uncompressed.
pub fn message_frame(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut frame = BytesMut::with_capacity(FRAME_HEADER_BYTES + len);
    frame.put_u8(0);
    frame.put_u32(len as u32);
    // Cannot fail: the buffer holds `len` more bytes.
    let _ = message.encode(&mut frame);
    frame.freeze()
}

/// Reads gRPC messages out of the chunks a body delivers, keeping each message in
/// the chunks it arrived in (see [`Rope`]).
#[derive(Debug)]
pub struct MessageReader {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    max_message_bytes: usize,
}

impl MessageReader {
    /// A reader refusing messages over `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> MessageReader {
        MessageReader { chunks: VecDeque::new(), buffered: 0, max_message_bytes }
    }

    /// Adds the body's next chunk.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.buffered += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// The next whole message, `None` until its last byte has been pushed. A message
    /// that is refused (too large, compressed) is an error, and so is every later call:
    /// the stream cannot be resynchronised.
    pub fn next_message(&mut self) -> Result<Option<Rope>, FrameError> {
        if self.buffered < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let mut header = [0u8; FRAME_HEADER_BYTES];
        self.peek(&mut header);
        match header[0] {
            0 => {}
            1 => return Err(FrameError::Compressed),
            flag => return Err(FrameError::BadFlag(flag)),
        }
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if len > self.max_message_bytes {
            return Err(FrameError::TooLarge { len, max: self.max_message_bytes });
        }
        if self.buffered < FRAME_HEADER_BYTES + len {
            return Ok(None);
        }
        self.skip(FRAME_HEADER_BYTES);
        Ok(Some(self.take(len)))
    }

    /// Bytes pushed and not yet returned in a message: at the end of the body, anything
    /// here is a message cut short.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Ends the stream: an error when a message was left unfinished.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buffered {
            0 => Ok(()),
            n => Err(FrameError::Truncated(n)),
        }
    }

    fn peek(&self, out: &mut [u8]) {
        let mut filled = 0;
        for chunk in &self.chunks {
            let n = chunk.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&chunk[..n]);
            filled += n;
            if filled == out.len() {
                break;
            }
        }
    }

    fn skip(&mut self, n: usize) {
        self.buffered -= n;
        drop_front(&mut self.chunks, n);
    }

    fn take(&mut self, len: usize) -> Rope {
        let mut rope = Rope { segments: VecDeque::new(), remaining: len };
        let mut left = len;
        while left > 0 {
            let Some(front) = self.chunks.front_mut() else { break };
            if front.len() > left {
                rope.segments.push_back(front.split_to(left));
                left = 0;
            } else {
                left -= front.len();
                rope.segments.extend(self.chunks.pop_front());
            }
        }
        self.buffered -= len;
        rope
    }
}

/// A message held in the chunks it arrived in. As a [`Buf`], it hands out a
/// length-delimited field (prost's `copy_to_bytes`) without copying when the field
/// lies within one chunk, which is where a produce request's batch is.
#[derive(Debug, Default)]
pub struct Rope {
    segments: VecDeque<Bytes>,
    remaining: usize,
}

impl Rope {
    /// How many chunks the message spans.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }
}

impl Buf for Rope {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.segments.front().map_or(&[], |s| &s[..])
    }

    fn advance(&mut self, cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a message");
        self.remaining -= cnt;
        drop_front(&mut self.segments, cnt);
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        assert!(len <= self.remaining, "copy_to_bytes past the end of a message");
        match self.segments.front_mut() {
            Some(front) if front.len() >= len => {
                let taken = front.split_to(len);
                if front.is_empty() {
                    self.segments.pop_front();
                }
                self.remaining -= len;
                taken
            }
            // Spread over chunks: gathered into one buffer, the copy tonic always makes.
            _ => {
                let mut out = BytesMut::with_capacity(len);
                out.put((&mut *self).take(len));
                out.freeze()
            }
        }
    }
}

/// Drops the first `n` bytes of a queue of chunks.
fn drop_front(chunks: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = chunks.front_mut() else { return };
        if front.len() > n {
            front.advance(n);
            return;
        }
        n -= front.len();
        chunks.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::ProduceRequest;

    fn tonic_bytes(req: &ProduceRequest) -> Vec<u8> {
        message_frame(req).to_vec()
    }

    #[test]
    fn the_frames_are_what_prost_writes() {
        for (cid, topic, partition, batch_len) in
            [(0, "", 0, 0), (1, "t", 0, 1), (u64::MAX, "orders.eu", 7, 300), (5, "x", u32::MAX, 70_000)]
        {
            let batch = Bytes::from((0..batch_len).map(|i| i as u8).collect::<Vec<_>>());
            let req =
                ProduceRequest { correlation_id: cid, topic: topic.into(), partition, batch: batch.clone() };
            let [head, body] = produce_request_frames(cid, topic, partition, batch).unwrap();
            assert_eq!([&head[..], &body[..]].concat(), tonic_bytes(&req));
        }
    }

    #[test]
    fn a_batch_in_one_chunk_is_not_copied_and_a_split_one_is_gathered() {
        let batch = Bytes::from(vec![3u8; 10_000]);
        let [head, body] = produce_request_frames(4, "t", 1, batch.clone()).unwrap();
        let mut reader = MessageReader::new(MAX_MESSAGE_BYTES);
        reader.push(head.clone());
        assert!(reader.next_message().unwrap().is_none());
        reader.push(body.clone());
        let req = ProduceRequest::decode(reader.next_message().unwrap().unwrap()).unwrap();
        assert_eq!(req.batch.as_ptr(), batch.as_ptr());
        assert_eq!(reader.buffered(), 0);

        // Cut anywhere, into pieces of every size: the same request, nothing left over.
        let whole = [&head[..], &body[..]].concat();
        for piece in [1, 2, 5, 7, 4096, 9_999] {
            let mut reader = MessageReader::new(MAX_MESSAGE_BYTES);
            let mut got = None;
            for chunk in whole.chunks(piece) {
                reader.push(Bytes::copy_from_slice(chunk));
                if let Some(m) = reader.next_message().unwrap() {
                    got = Some(ProduceRequest::decode(m).unwrap());
                }
            }
            let got = got.expect("a whole message");
            assert_eq!((got.correlation_id, got.partition, &got.topic[..]), (4, 1, "t"));
            assert_eq!(got.batch, batch);
            reader.finish().unwrap();
        }
    }

    #[test]
    fn messages_share_chunks_and_chunks_share_messages() {
        let mut wire = Vec::new();
        for cid in 1..=5u64 {
            let [head, body] = produce_request_frames(cid, "t", 0, Bytes::from(vec![cid as u8; 33])).unwrap();
            wire.extend_from_slice(&head);
            wire.extend_from_slice(&body);
        }
        let mut reader = MessageReader::new(MAX_MESSAGE_BYTES);
        let mut seen = Vec::new();
        for chunk in wire.chunks(50) {
            reader.push(Bytes::copy_from_slice(chunk));
            while let Some(m) = reader.next_message().unwrap() {
                let req = ProduceRequest::decode(m).unwrap();
                assert_eq!(req.batch, vec![req.correlation_id as u8; 33]);
                seen.push(req.correlation_id);
            }
        }
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        reader.finish().unwrap();
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut reader = MessageReader::new(100);
        reader.push(Bytes::from_static(&[0, 0, 0, 0, 101]));
        assert_eq!(reader.next_message().unwrap_err(), FrameError::TooLarge { len: 101, max: 100 });
        let mut reader = MessageReader::new(100);
        reader.push(Bytes::from_static(&[1, 0, 0, 0, 1, 0]));
        assert_eq!(reader.next_message().unwrap_err(), FrameError::Compressed);
        let mut reader = MessageReader::new(100);
        reader.push(Bytes::from_static(&[9, 0, 0, 0, 1, 0]));
        assert_eq!(reader.next_message().unwrap_err(), FrameError::BadFlag(9));
        let mut reader = MessageReader::new(100);
        reader.push(Bytes::from_static(&[0, 0, 0, 0, 3, 1]));
        assert!(reader.next_message().unwrap().is_none());
        assert_eq!(reader.finish().unwrap_err(), FrameError::Truncated(6));
        assert!(produce_request_frames(1, "t", 0, Bytes::from(vec![0; MAX_MESSAGE_BYTES])).is_err());
    }
}
