//! The Avro binary encoding, one primitive at a time.
//!
//! This is the runtime that `#[derive(Avro)]` code, the validator, the Avro-JSON
//! converter and the resolver all call. It is written by hand rather than taken
//! from apache-avro because apache-avro only decodes into its own `Value` tree;
//! generated code needs to read straight into Rust fields (see
//! bench/RESULTS.md for what that buys).
//!
//! Reading never panics and never allocates on its own: every length and count
//! is checked against the bytes that remain before anything is reserved.

use crate::error::{DecodeError, DecodeErrorKind};

/// A block count above this is refused when it also exceeds the bytes that
/// remain. Items of a non-empty type take at least one byte each, so a larger
/// count cannot be honest; items of an empty type (`null`, an empty record)
/// take none, and this bounds how many of those one datum may claim.
pub const MAX_ITEMS_WITHOUT_BYTES: u64 = 1 << 16;

/// Whether every byte of `b` is ASCII.
///
/// Written by hand for the short strings most records carry: std's
/// `is_ascii` finishes a string's last few bytes one at a time, and the
/// branch on where it ends was a fifth of the validator's time. Up to 16
/// bytes, two overlapping loads cover the string with no branch on its length
/// beyond the size class.
#[inline]
pub(crate) fn is_ascii(b: &[u8]) -> bool {
    const HIGH32: u32 = 0x8080_8080;
    const HIGH64: u64 = 0x8080_8080_8080_8080;
    let n = b.len();
    match n {
        0 => true,
        // The first, middle and last byte are all of them.
        1..=3 => (b[0] | b[n / 2] | b[n - 1]) < 0x80,
        4..=8 => {
            let head = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let tail = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
            (head | tail) & HIGH32 == 0
        }
        9..=16 => {
            let word = |at: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&b[at..at + 8]);
                u64::from_le_bytes(w)
            };
            (word(0) | word(n - 8)) & HIGH64 == 0
        }
        _ => b.is_ascii(),
    }
}

/// A cursor over Avro binary data.
///
/// ```
/// use runnel_avro::binary::{write_long, write_string, Reader};
/// let mut buf = Vec::new();
/// write_long(&mut buf, -3);
/// write_string(&mut buf, "hé");
/// let mut r = Reader::new(&buf);
/// assert_eq!(r.read_long().unwrap(), -3);
/// assert_eq!(r.read_str().unwrap(), "hé");
/// assert!(r.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    #[inline]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The current byte offset.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes remain.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// The bytes not read yet.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// An error of `kind` at the current offset.
    #[cold]
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    /// Fails with [`DecodeErrorKind::TrailingBytes`] unless every byte was read.
    #[inline]
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(DecodeErrorKind::TrailingBytes(self.remaining())))
        }
    }

    /// Reads a zig-zag varint `long`.
    #[inline]
    pub fn read_long(&mut self) -> Result<i64, DecodeError> {
        let raw = self.read_varint(10)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    /// Reads a zig-zag varint `int`, refusing values outside 32 bits.
    #[inline]
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        let start = self.pos;
        let raw = self.read_varint(5)?;
        let v = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
        i32::try_from(v).map_err(|_| DecodeError::new(DecodeErrorKind::IntOutOfRange(v), start))
    }

    #[inline]
    fn read_varint(&mut self, max_bytes: usize) -> Result<u64, DecodeError> {
        // Fast path: one byte, the most common case for lengths, indexes and small numbers.
        if let Some(&b) = self.buf.get(self.pos) {
            if b & 0x80 == 0 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let start = self.pos;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        for i in 0..max_bytes {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(DecodeError::new(DecodeErrorKind::UnexpectedEof, self.pos));
            };
            self.pos += 1;
            // The 10th byte of a long may only carry the top bit.
            if i == 9 && b > 1 {
                return Err(DecodeError::new(DecodeErrorKind::VarintTooLong, start));
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
        Err(DecodeError::new(DecodeErrorKind::VarintTooLong, start))
    }

    /// Reads a `boolean` (one byte, 0 or 1).
    #[inline]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(&b) => Err(self.error(DecodeErrorKind::InvalidBool(b))),
            None => Err(self.error(DecodeErrorKind::UnexpectedEof)),
        }
    }

    /// Reads a `float` (4 bytes, little-endian IEEE 754).
    #[inline]
    pub fn read_float(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.read_array::<4>()?))
    }

    /// Reads a `double` (8 bytes, little-endian IEEE 754).
    #[inline]
    pub fn read_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.read_array::<8>()?))
    }

    /// Reads exactly `N` bytes (a `fixed` of size `N`).
    #[inline]
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.read_fixed(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads exactly `n` bytes (a `fixed` of size `n`), borrowed.
    #[inline]
    pub fn read_fixed(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEof));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a length prefix (a non-negative `long`) no larger than the bytes remaining.
    #[inline]
    pub fn read_len(&mut self) -> Result<usize, DecodeError> {
        let start = self.pos;
        let len = self.read_long()?;
        if len < 0 {
            return Err(DecodeError::new(DecodeErrorKind::NegativeLength(len), start));
        }
        if len as u64 > self.remaining() as u64 {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthTooLarge { length: len as u64, remaining: self.remaining() },
                start,
            ));
        }
        Ok(len as usize)
    }

    /// Reads `bytes`, borrowed.
    #[inline]
    pub fn read_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.read_len()?;
        self.read_fixed(len)
    }

    /// Reads a `string`, borrowed, checking UTF-8.
    #[inline]
    pub fn read_str(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        let bytes = self.read_bytes()?;
        // Most strings on the wire are short and ASCII, where `from_utf8`'s set-up
        // dominates; a word-at-a-time ASCII scan settles them for a fraction of it.
        if is_ascii(bytes) {
            // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        std::str::from_utf8(bytes).map_err(|_| DecodeError::new(DecodeErrorKind::InvalidUtf8, start))
    }

    /// Reads a `string` into `out`, reusing its capacity.
    #[inline]
    pub fn read_string_into(&mut self, out: &mut String) -> Result<(), DecodeError> {
        let s = self.read_str()?;
        out.clear();
        out.push_str(s);
        Ok(())
    }

    /// Reads an enum symbol index and checks it against the number of symbols.
    #[inline]
    pub fn read_enum_index(&mut self, symbols: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let i = self.read_long()?;
        if i < 0 || i as u64 >= symbols as u64 {
            return Err(DecodeError::new(DecodeErrorKind::EnumIndexOutOfRange { index: i, symbols }, start));
        }
        Ok(i as usize)
    }

    /// Reads a union branch index and checks it against the number of branches.
    #[inline]
    pub fn read_union_index(&mut self, branches: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let i = self.read_long()?;
        if i < 0 || i as u64 >= branches as u64 {
            return Err(DecodeError::new(
                DecodeErrorKind::UnionIndexOutOfRange { index: i, branches },
                start,
            ));
        }
        Ok(i as usize)
    }

    /// Reads the header of the next block of an array or map: `Some(count)`,
    /// or `None` at the terminating zero block.
    ///
    /// A negative count (the writer's "count then byte size" form) is accepted:
    /// its byte size is read and checked, and the absolute count returned.
    /// Counts that could not possibly fit in the remaining bytes are refused
    /// (see [`MAX_ITEMS_WITHOUT_BYTES`]).
    #[inline]
    pub fn read_block_len(&mut self) -> Result<Option<usize>, DecodeError> {
        Ok(self.read_block()?.map(|b| b.count))
    }

    /// Reads the header of the next block of an array or map, keeping the byte
    /// size the writer gave with a negative count (so that a caller can check
    /// that the items it reads fill exactly that many bytes). `None` at the
    /// terminating zero block. The same checks as [`read_block_len`](Self::read_block_len).
    #[inline]
    pub fn read_block(&mut self) -> Result<Option<Block>, DecodeError> {
        let start = self.pos;
        let count = self.read_long()?;
        if count == 0 {
            return Ok(None);
        }
        let mut byte_size = None;
        let count = if count < 0 {
            let size_at = self.pos;
            let size = self.read_long()?;
            if size < 0 {
                return Err(DecodeError::new(DecodeErrorKind::NegativeLength(size), size_at));
            }
            if size as u64 > self.remaining() as u64 {
                return Err(DecodeError::new(
                    DecodeErrorKind::LengthTooLarge { length: size as u64, remaining: self.remaining() },
                    size_at,
                ));
            }
            byte_size = Some(size as usize);
            count.unsigned_abs()
        } else {
            count as u64
        };
        if count > self.remaining() as u64 && count > MAX_ITEMS_WITHOUT_BYTES {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthTooLarge { length: count, remaining: self.remaining() },
                start,
            ));
        }
        Ok(Some(Block { count: count as usize, byte_size }))
    }

    /// Skips the next block of an array or map without decoding its items when
    /// the writer gave its byte size; returns `Ok(Some(count))` with the reader
    /// unmoved past the header when it did not (the caller must then skip item
    /// by item), `Ok(None)` at the end.
    pub fn skip_block(&mut self) -> Result<BlockSkip, DecodeError> {
        let start = self.pos;
        let count = self.read_long()?;
        if count == 0 {
            return Ok(BlockSkip::End);
        }
        if count < 0 {
            let size = self.read_len()?;
            self.pos += size;
            return Ok(BlockSkip::Skipped);
        }
        let count = count as u64;
        if count > self.remaining() as u64 && count > MAX_ITEMS_WITHOUT_BYTES {
            return Err(DecodeError::new(
                DecodeErrorKind::LengthTooLarge { length: count, remaining: self.remaining() },
                start,
            ));
        }
        Ok(BlockSkip::Items(count as usize))
    }
}

/// The header of one block of an array or map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// How many items the block holds (never 0).
    pub count: usize,
    /// The byte size of the items, when the writer gave one (negative count form).
    pub byte_size: Option<usize>,
}

/// What [`Reader::skip_block`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSkip {
    /// The terminating zero block was read.
    End,
    /// A block with a byte size was skipped whole.
    Skipped,
    /// A block of this many items follows; skip them one by one.
    Items(usize),
}

/// The most bytes a zig-zag varint takes (a `long`; an `int` takes at most 5).
pub const MAX_VARINT_LEN: usize = 10;

/// A write cursor over a buffer sized in advance: what `Avro::encode_to` writes into.
///
/// Encoding one value through a `&mut Vec<u8>` checks the capacity, and stores
/// the length back to memory, on every byte pushed. A record instead asks its
/// fields for an upper bound of their encoded size
/// ([`Avro::encoded_len_bound`](crate::Avro::encoded_len_bound)), grows the
/// vector once to that size ([`encode_bounded`]), and writes through this
/// cursor, whose slice and position stay in registers. Every write is still
/// bounds-checked (a branch that is never taken when the bound holds), so a
/// wrong bound in a hand-written impl panics instead of corrupting memory.
///
/// ```
/// use runnel_avro::binary::{encode_bounded, MAX_VARINT_LEN};
/// let mut buf = Vec::new();
/// encode_bounded(&mut buf, MAX_VARINT_LEN + 2, |out| out.string("hi"));
/// assert_eq!(buf, [4, b'h', b'i']);
/// ```
#[derive(Debug)]
pub struct Out<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Out<'b> {
    /// A cursor at the start of `buf`.
    #[inline]
    pub fn new(buf: &'b mut [u8]) -> Self {
        Out { buf, pos: 0 }
    }

    /// How many bytes have been written.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Writes one byte.
    #[inline(always)]
    pub fn byte(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }

    /// Writes `bytes` as they are (a `fixed`, or the body of `bytes`/`string`).
    #[inline(always)]
    pub fn put(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let end = self.pos + n;
        let dst = &mut self.buf[self.pos..end];
        // Most strings on the wire are short: two overlapping fixed-size copies
        // move them in registers, where `copy_from_slice` would call `memcpy`
        // (under perf, a third of the encode time went to those calls).
        if (16..=32).contains(&n) {
            dst[..16].copy_from_slice(&bytes[..16]);
            dst[n - 16..].copy_from_slice(&bytes[n - 16..]);
        } else if (8..16).contains(&n) {
            dst[..8].copy_from_slice(&bytes[..8]);
            dst[n - 8..].copy_from_slice(&bytes[n - 8..]);
        } else if (4..8).contains(&n) {
            dst[..4].copy_from_slice(&bytes[..4]);
            dst[n - 4..].copy_from_slice(&bytes[n - 4..]);
        } else if n < 4 {
            for (d, b) in dst.iter_mut().zip(bytes) {
                *d = *b;
            }
        } else {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    /// Writes a zig-zag varint `long`.
    #[inline(always)]
    pub fn long(&mut self, v: i64) {
        let z = ((v << 1) ^ (v >> 63)) as u64;
        // Lengths, indexes and most numbers take one byte: one store, no loop.
        if z < 0x80 {
            self.byte(z as u8);
        } else {
            self.varint(z);
        }
    }

    // Kept out of line so that `long`, inlined at every field, stays one compare and one store.
    #[inline(never)]
    fn varint(&mut self, mut z: u64) {
        // The bound gave this varint MAX_VARINT_LEN bytes; take them as one array so
        // that the loop below has no bounds checks of its own.
        match self.buf.get_mut(self.pos..self.pos + MAX_VARINT_LEN) {
            Some(dst) => {
                let mut n = 0;
                while z >= 0x80 {
                    dst[n] = (z as u8) | 0x80;
                    z >>= 7;
                    n += 1;
                }
                dst[n] = z as u8;
                self.pos += n + 1;
            }
            // Near the end of a tighter buffer: byte by byte.
            None => {
                while z >= 0x80 {
                    self.byte((z as u8) | 0x80);
                    z >>= 7;
                }
                self.byte(z as u8);
            }
        }
    }

    /// Writes a zig-zag varint `int`.
    #[inline]
    pub fn int(&mut self, v: i32) {
        self.long(i64::from(v));
    }

    /// Writes a `boolean`.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.byte(u8::from(v));
    }

    /// Writes a `float`.
    #[inline]
    pub fn float(&mut self, v: f32) {
        self.put(&v.to_le_bytes());
    }

    /// Writes a `double`.
    #[inline]
    pub fn double(&mut self, v: f64) {
        self.put(&v.to_le_bytes());
    }

    /// Writes `bytes` (length, then the bytes).
    #[inline]
    pub fn bytes(&mut self, v: &[u8]) {
        self.long(v.len() as i64);
        self.put(v);
    }

    /// Writes a `string` (length, then the UTF-8 bytes).
    #[inline]
    pub fn string(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
}

/// Appends what `write` writes, given an upper bound of its size: the vector
/// grows once, `write` fills it through an [`Out`], and the unused tail of the
/// bound is cut off again.
#[inline]
pub fn encode_bounded(buf: &mut Vec<u8>, bound: usize, write: impl FnOnce(&mut Out<'_>)) {
    let start = buf.len();
    // Zero-filled rather than written through uninitialised capacity: the fill is
    // a short memset, and it keeps this module free of `unsafe`.
    buf.resize(start + bound, 0);
    let mut out = Out::new(&mut buf[start..]);
    write(&mut out);
    let end = start + out.position();
    buf.truncate(end);
}

/// Appends a zig-zag varint `long`.
#[inline]
pub fn write_long(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    // Worst case is 10 bytes; reserving once keeps the loop free of capacity checks.
    buf.reserve(10);
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

/// Appends a zig-zag varint `int`.
#[inline]
pub fn write_int(buf: &mut Vec<u8>, v: i32) {
    write_long(buf, i64::from(v));
}

/// Appends a `boolean`.
#[inline]
pub fn write_bool(buf: &mut Vec<u8>, v: bool) {
    buf.push(u8::from(v));
}

/// Appends a `float`.
#[inline]
pub fn write_float(buf: &mut Vec<u8>, v: f32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `double`.
#[inline]
pub fn write_double(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `bytes` (length, then the bytes).
#[inline]
pub fn write_bytes(buf: &mut Vec<u8>, v: &[u8]) {
    write_long(buf, v.len() as i64);
    buf.extend_from_slice(v);
}

/// Appends a `string` (length, then the UTF-8 bytes).
#[inline]
pub fn write_string(buf: &mut Vec<u8>, v: &str) {
    write_bytes(buf, v.as_bytes());
}

/// Appends a `fixed` (the bytes, no length).
#[inline]
pub fn write_fixed(buf: &mut Vec<u8>, v: &[u8]) {
    buf.extend_from_slice(v);
}

/// Appends an enum symbol index or a union branch index.
#[inline]
pub fn write_index(buf: &mut Vec<u8>, index: usize) {
    write_long(buf, index as i64);
}

/// Appends the header of a block of `count` items (nothing for an empty collection's block).
#[inline]
pub fn write_block_len(buf: &mut Vec<u8>, count: usize) {
    if count > 0 {
        write_long(buf, count as i64);
    }
}

/// Appends the zero block that ends an array or map.
#[inline]
pub fn write_block_end(buf: &mut Vec<u8>) {
    buf.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_round_trip_at_the_edges() {
        for v in [0, -1, 1, 63, -64, 64, i64::from(i32::MAX), i64::from(i32::MIN), i64::MAX, i64::MIN] {
            let mut buf = Vec::new();
            write_long(&mut buf, v);
            let mut r = Reader::new(&buf);
            assert_eq!(r.read_long().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn zigzag_bytes_match_the_specification() {
        let cases: &[(i64, &[u8])] = &[(0, &[0]), (-1, &[1]), (1, &[2]), (-64, &[0x7f]), (64, &[0x80, 1])];
        for (v, bytes) in cases {
            let mut buf = Vec::new();
            write_long(&mut buf, *v);
            assert_eq!(&buf, bytes);
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        let eleven = [0xffu8; 11];
        assert_eq!(Reader::new(&eleven).read_long().unwrap_err().kind(), &DecodeErrorKind::VarintTooLong);
        let six = [0x80u8, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(Reader::new(&six).read_int().unwrap_err().kind(), &DecodeErrorKind::VarintTooLong);
        let ten_with_high_bits = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            Reader::new(&ten_with_high_bits).read_long().unwrap_err().kind(),
            &DecodeErrorKind::VarintTooLong
        );
    }

    #[test]
    fn int_range_is_checked() {
        let mut buf = Vec::new();
        write_long(&mut buf, i64::from(i32::MAX) + 1);
        assert!(matches!(
            Reader::new(&buf).read_int().unwrap_err().kind(),
            DecodeErrorKind::IntOutOfRange(_)
        ));
    }

    #[test]
    fn lengths_are_capped_by_remaining_bytes() {
        let mut buf = Vec::new();
        write_long(&mut buf, 1 << 40);
        let err = Reader::new(&buf).read_bytes().unwrap_err();
        assert!(matches!(err.kind(), DecodeErrorKind::LengthTooLarge { .. }));
        let mut buf = Vec::new();
        write_long(&mut buf, -5);
        assert_eq!(Reader::new(&buf).read_str().unwrap_err().kind(), &DecodeErrorKind::NegativeLength(-5));
    }

    #[test]
    fn bad_utf8_and_bools_are_refused() {
        // Length 3 (zig-zag 6) with two bytes left: refused before reading.
        let buf = [6u8, 0xff, 0xfe];
        assert_eq!(
            Reader::new(&buf[..]).read_str().unwrap_err().kind(),
            &DecodeErrorKind::LengthTooLarge { length: 3, remaining: 2 }
        );
        let buf = [4u8, 0xff, 0xfe];
        assert_eq!(Reader::new(&buf[..]).read_str().unwrap_err().kind(), &DecodeErrorKind::InvalidUtf8);
        assert_eq!(Reader::new(&[2u8]).read_bool().unwrap_err().kind(), &DecodeErrorKind::InvalidBool(2));
    }

    #[test]
    fn negative_block_counts_carry_a_size() {
        // count -2, size 2, items 1 and 2 (as ints), then end.
        let buf = [3u8, 4, 2, 4, 0];
        let mut r = Reader::new(&buf);
        assert_eq!(r.read_block_len().unwrap(), Some(2));
        assert_eq!(r.read_int().unwrap(), 1);
        assert_eq!(r.read_int().unwrap(), 2);
        assert_eq!(r.read_block_len().unwrap(), None);
        let mut r = Reader::new(&buf);
        assert_eq!(r.skip_block().unwrap(), BlockSkip::Skipped);
        assert_eq!(r.skip_block().unwrap(), BlockSkip::End);
    }

    #[test]
    fn huge_block_counts_are_refused() {
        let mut buf = Vec::new();
        write_long(&mut buf, 1 << 50);
        assert!(Reader::new(&buf).read_block_len().is_err());
    }
}
