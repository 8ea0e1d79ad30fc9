//! Kafka RecordBatch v2 (magic 2): the unit the client produces, the broker
//! stores, and fetches return, byte for byte as Kafka and Redpanda store it.
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset            i64 BE   (outside the CRC: the broker patches it)
//!      8     4  batchLength           i32 BE   bytes after this field (total - 12)
//!     12     4  partitionLeaderEpoch  i32 BE   (outside the CRC)
//!     16     1  magic                 i8 = 2
//!     17     4  crc                   u32 BE   CRC-32C of bytes 21..end
//!     21     2  attributes            i16 BE   bits 0-2 compression (only 0 = none here),
//!                                              bit 3 timestamp type, bit 4 transactional,
//!                                              bit 5 control, bit 6 delete horizon
//!     23     4  lastOffsetDelta       i32 BE
//!     27     8  baseTimestamp         i64 BE
//!     35     8  maxTimestamp          i64 BE
//!     43     8  producerId            i64 BE   (-1 = not idempotent)
//!     51     2  producerEpoch         i16 BE
//!     53     4  baseSequence          i32 BE
//!     57     4  recordCount           i32 BE
//!     61     …  records
//! ```
//!
//! Each record: `length` (zig-zag varint, bytes after it), `attributes` i8 (unused, 0),
//! `timestampDelta` (zig-zag varlong), `offsetDelta` (zig-zag varint), key length
//! (varint, -1 = null) and key, value length and value, header count (varint) and per
//! header a key (varint length + UTF-8) and a value (varint length, -1 = null).
//!
//! Compressed batches (attribute bits 0-2 other than 0) are refused with
//! [`BatchError::UnsupportedCompression`]: Runnel stores records uncompressed so that the
//! broker can validate every record without inflating, and fetches serve stored bytes as is.
//!
//! Every length read from the input is checked before it is used: no input makes this
//! module panic, allocate in proportion to a claimed length, or loop without progress.

use bytes::Bytes;
use std::fmt;

/// Size of the fixed batch header, up to and including `recordCount`.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength`'s coverage starts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
/// The only supported batch format.
pub const MAGIC: i8 = 2;

const OFF_BASE_OFFSET: usize = 0;
const OFF_LENGTH: usize = 8;
const OFF_LEADER_EPOCH: usize = 12;
const OFF_MAGIC: usize = 16;
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_LAST_OFFSET_DELTA: usize = 23;
const OFF_BASE_TIMESTAMP: usize = 27;
const OFF_MAX_TIMESTAMP: usize = 35;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQUENCE: usize = 53;
const OFF_RECORD_COUNT: usize = 57;

/// Attribute bits 0-2: the compression codec.
const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamps are the broker's log-append time.
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit 4: part of a transaction.
const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attribute bit 5: a control batch (transaction markers).
const CONTROL_BIT: i16 = 0x20;

/// Why bytes are not a valid RecordBatch v2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the header or the declared length needs.
    #[error("batch truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// `batchLength` is negative or smaller than the fixed header.
    #[error("invalid batch length {0}")]
    BadLength(i32),
    /// The magic byte is not 2.
    #[error("unsupported batch magic {0} (only RecordBatch v2, magic 2)")]
    BadMagic(i8),
    /// The stored CRC-32C does not match the bytes.
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The batch is compressed; Runnel accepts uncompressed batches only.
    #[error("compressed batches are not supported (codec {0}); send uncompressed batches")]
    UnsupportedCompression(u8),
    /// The header's record count or last offset delta is impossible.
    #[error("invalid record count {count} (last offset delta {last_offset_delta})")]
    BadRecordCount {
        /// The header's record count.
        count: i32,
        /// The header's last offset delta.
        last_offset_delta: i32,
    },
    /// A record inside the batch is malformed.
    #[error("record {index}: {reason}")]
    MalformedRecord {
        /// The record's index in the batch.
        index: u32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Bytes after the single batch that was expected.
    #[error("{0} unexpected bytes after the batch")]
    TrailingBytes(usize),
}

/// Builds one uncompressed RecordBatch v2, record by record, in a single buffer.
///
/// The buffer starts with room for the header, so [`finish`](Self::finish) writes the
/// header in place and hands the buffer over without copying the records.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    /// Header room followed by the encoded records.
    buf: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// An empty batch.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty batch whose buffer can hold `bytes` bytes of records without growing.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(BATCH_HEADER_BYTES + bytes);
        buf.resize(BATCH_HEADER_BYTES, 0);
        BatchBuilder { buf, count: 0, base_timestamp: 0, max_timestamp: i64::MIN }
    }

    /// Records pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The exact size in bytes of the batch [`finish`](Self::finish) would return now.
    pub fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The size the batch would have after pushing this record: lets a producer cap
    /// its batches' bytes before pushing.
    pub fn size_with(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: i64,
        headers: &[(&str, &[u8])],
    ) -> usize {
        let base = if self.count == 0 { timestamp_ms } else { self.base_timestamp };
        let body = record_body_len(self.count, timestamp_ms.wrapping_sub(base), key, value, headers);
        self.buf.len() + varint_len(zigzag32(body as i32)) + body
    }

    /// Appends a record. The first record's timestamp is the batch's base timestamp.
    ///
    /// Lengths beyond `i32::MAX` cannot be expressed in the format; a producer keeps
    /// batches far below that (see `MAX_MESSAGE_BYTES`).
    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp_ms: i64,
        headers: &[(&str, &[u8])],
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        let delta = timestamp_ms.wrapping_sub(self.base_timestamp);
        let body = record_body_len(self.count, delta, key, value, headers);
        self.buf.reserve(body + 5);
        put_varint(&mut self.buf, body as i32);
        self.buf.push(0); // record attributes: unused
        put_varlong(&mut self.buf, delta);
        put_varint(&mut self.buf, self.count);
        put_bytes(&mut self.buf, key);
        put_bytes(&mut self.buf, value);
        put_varint(&mut self.buf, headers.len() as i32);
        for (k, v) in headers {
            put_bytes(&mut self.buf, Some(k.as_bytes()));
            put_bytes(&mut self.buf, Some(v));
        }
        self.count = self.count.saturating_add(1);
    }

    /// Appends a record without headers whose value `write` appends to the buffer in
    /// place, `value_bound` bytes at most: the value is written once, straight into
    /// the batch, instead of into a buffer of its own and then copied here.
    ///
    /// The two lengths in front of the value are sized from the bound; when the
    /// value turns out shorter by enough to need fewer bytes for a length, the record
    /// is rewritten once (lengths are written minimal, as Kafka's own writers do).
    ///
    /// ```
    /// use runnel_proto::{BatchBuilder, BatchView};
    /// let mut b = BatchBuilder::new();
    /// b.push_with(Some(b"k"), 1, 300, |buf| buf.extend_from_slice(b"short"));
    /// let batch = b.finish(-1, -1, -1);
    /// let record = BatchView::parse(&batch).unwrap().records().next().unwrap().unwrap();
    /// assert_eq!((record.key, record.value), (Some(&b"k"[..]), Some(&b"short"[..])));
    /// ```
    pub fn push_with(
        &mut self,
        key: Option<&[u8]>,
        timestamp_ms: i64,
        value_bound: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        if self.count == 0 {
            self.base_timestamp = timestamp_ms;
        }
        self.max_timestamp = self.max_timestamp.max(timestamp_ms);
        let delta = timestamp_ms.wrapping_sub(self.base_timestamp);
        let bound = value_bound.min(i32::MAX as usize / 2);
        let before_value =
            1 + varlong_len(zigzag64(delta)) + varint_len(zigzag32(self.count)) + bytes_len(key);
        let value_width = varint_len(zigzag32(bound as i32));
        let body_bound = before_value + value_width + bound + 1;
        let body_width = varint_len(zigzag32(body_bound as i32));
        let start = self.buf.len();
        self.buf.reserve(body_width + body_bound);
        self.buf.resize(start + body_width, 0);
        self.buf.push(0); // record attributes: unused
        put_varlong(&mut self.buf, delta);
        put_varint(&mut self.buf, self.count);
        put_bytes(&mut self.buf, key);
        let value_len_at = self.buf.len();
        self.buf.resize(value_len_at + value_width, 0);
        let value_at = self.buf.len();
        write(&mut self.buf);
        let value_len = self.buf.len() - value_at;
        self.buf.push(0); // no headers
        let body = self.buf.len() - start - body_width;
        let fits = value_len <= bound
            && varint_len(zigzag32(value_len as i32)) == value_width
            && varint_len(zigzag32(body as i32)) == body_width;
        if fits {
            put_varint_at(&mut self.buf[value_len_at..value_at], value_len as i32);
            put_varint_at(&mut self.buf[start..start + body_width], body as i32);
            self.count = self.count.saturating_add(1);
        } else {
            // Rare: the lengths need other widths. The value is copied out once and
            // the record written the ordinary way.
            let value = self.buf[value_at..value_at + value_len].to_vec();
            self.buf.truncate(start);
            self.push(key, Some(&value), timestamp_ms, &[]);
        }
    }

    /// Writes the header and returns the batch. `producer_id` -1 (with epoch -1 and
    /// sequence -1) means a non-idempotent producer. The base offset is 0: the broker
    /// assigns offsets. A batch needs at least one record: an empty builder gives a
    /// batch that [`BatchView::parse`] (and so the broker) refuses as `BadRecordCount`.
    pub fn finish(self, producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
        self.finish_with_attributes(0, producer_id, epoch, base_sequence)
    }

    /// Like [`finish`](Self::finish), for a transactional producer: the batch carries the
    /// transactional attribute bit, so it belongs to the producer's open transaction and
    /// stays invisible to read-committed consumers until the transaction commits.
    pub fn finish_transactional(self, producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
        self.finish_with_attributes(TRANSACTIONAL_BIT, producer_id, epoch, base_sequence)
    }

    fn finish_with_attributes(
        self,
        attributes: i16,
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
    ) -> Bytes {
        let mut buf = self.buf;
        let batch_length = (buf.len() - LOG_OVERHEAD) as i32;
        buf[OFF_BASE_OFFSET..OFF_LENGTH].copy_from_slice(&0i64.to_be_bytes());
        buf[OFF_LENGTH..OFF_LEADER_EPOCH].copy_from_slice(&batch_length.to_be_bytes());
        buf[OFF_LEADER_EPOCH..OFF_MAGIC].copy_from_slice(&(-1i32).to_be_bytes());
        buf[OFF_MAGIC] = MAGIC as u8;
        buf[OFF_ATTRIBUTES..OFF_LAST_OFFSET_DELTA].copy_from_slice(&attributes.to_be_bytes());
        buf[OFF_LAST_OFFSET_DELTA..OFF_BASE_TIMESTAMP].copy_from_slice(&(self.count - 1).to_be_bytes());
        buf[OFF_BASE_TIMESTAMP..OFF_MAX_TIMESTAMP].copy_from_slice(&self.base_timestamp.to_be_bytes());
        buf[OFF_MAX_TIMESTAMP..OFF_PRODUCER_ID].copy_from_slice(&self.max_timestamp.to_be_bytes());
        buf[OFF_PRODUCER_ID..OFF_PRODUCER_EPOCH].copy_from_slice(&producer_id.to_be_bytes());
        buf[OFF_PRODUCER_EPOCH..OFF_BASE_SEQUENCE].copy_from_slice(&epoch.to_be_bytes());
        buf[OFF_BASE_SEQUENCE..OFF_RECORD_COUNT].copy_from_slice(&base_sequence.to_be_bytes());
        buf[OFF_RECORD_COUNT..BATCH_HEADER_BYTES].copy_from_slice(&self.count.to_be_bytes());
        let crc = crc32c::crc32c(&buf[OFF_ATTRIBUTES..]);
        buf[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(buf)
    }
}

/// What a transaction marker (the record of a control batch) says: Kafka's
/// `EndTransactionMarker`, key version 0 and type 0 (abort) or 1 (commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    /// The producer's open transaction was aborted: its records are never read committed.
    Abort = 0,
    /// The producer's open transaction was committed.
    Commit = 1,
}

/// A transaction marker as Kafka writes it: a control batch (attributes transactional |
/// control) of one record whose key is `version: i16 = 0, type: i16` (0 abort, 1 commit)
/// and whose value is `version: i16 = 0, coordinator_epoch: i32`; base sequence -1 (markers
/// take no sequence number).
pub fn control_batch(
    producer_id: i64,
    epoch: i16,
    kind: ControlType,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Bytes {
    let mut key = [0u8; 4];
    key[2..4].copy_from_slice(&(kind as i16).to_be_bytes());
    let mut value = [0u8; 6];
    value[2..6].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let mut b = BatchBuilder::with_capacity(32);
    b.push(Some(&key), Some(&value), timestamp_ms, &[]);
    b.finish_with_attributes(TRANSACTIONAL_BIT | CONTROL_BIT, producer_id, epoch, -1)
}

impl ControlType {
    /// The marker type of a control batch's key (`None` for a key that is not a
    /// version-0 marker: Kafka reserves other control types, which carry no transaction
    /// outcome).
    pub fn from_key(key: &[u8]) -> Option<ControlType> {
        match key {
            [0, 0, 0, 0] => Some(ControlType::Abort),
            [0, 0, 0, 1] => Some(ControlType::Commit),
            _ => None,
        }
    }
}

/// Writes `offset` as the batch's base offset. The base offset is outside the CRC,
/// so the batch stays valid.
pub fn set_base_offset(batch: &mut [u8], offset: i64) -> Result<(), BatchError> {
    let field = batch
        .get_mut(OFF_BASE_OFFSET..OFF_LENGTH)
        .ok_or(BatchError::Truncated { needed: OFF_LENGTH, available: 0 })?;
    field.copy_from_slice(&offset.to_be_bytes());
    Ok(())
}

/// A copy of `batch` under another producer id, epoch and base sequence, its CRC
/// recomputed: an idempotent producer that takes back a batch it built and sent sends it
/// again under new sequence numbers without rebuilding its records.
///
/// ```
/// use runnel_proto::{batch::with_producer, BatchBuilder, BatchView};
/// let mut b = BatchBuilder::new();
/// b.push(None, Some(b"v"), 1, &[]);
/// let first = b.finish(7, 0, 0);
/// let again = with_producer(&first, 7, 0, 40).unwrap();
/// let view = BatchView::parse(&again).unwrap();
/// assert_eq!((view.producer_id(), view.base_sequence()), (7, 40));
/// ```
pub fn with_producer(
    batch: &[u8],
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
) -> Result<Bytes, BatchError> {
    BatchView::parse(batch)?;
    let mut buf = batch.to_vec();
    buf[OFF_PRODUCER_ID..OFF_PRODUCER_EPOCH].copy_from_slice(&producer_id.to_be_bytes());
    buf[OFF_PRODUCER_EPOCH..OFF_BASE_SEQUENCE].copy_from_slice(&epoch.to_be_bytes());
    buf[OFF_BASE_SEQUENCE..OFF_RECORD_COUNT].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&buf[OFF_ATTRIBUTES..]);
    buf[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
    Ok(Bytes::from(buf))
}

/// Reads the total size (`batchLength` + 12) declared by the batch starting at `buf`,
/// without checking anything else. `None` if fewer than 12 bytes or a negative length.
pub fn declared_size(buf: &[u8]) -> Option<usize> {
    let len = read_i32(buf, OFF_LENGTH)?;
    usize::try_from(len).ok().map(|l| l + LOG_OVERHEAD)
}

/// A checked, borrowed view of one RecordBatch v2.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
}

impl fmt::Debug for BatchView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchView")
            .field("base_offset", &self.base_offset())
            .field("records", &self.record_count())
            .field("bytes", &self.bytes.len())
            .field("producer_id", &self.producer_id())
            .field("base_sequence", &self.base_sequence())
            .finish()
    }
}

impl<'a> BatchView<'a> {
    /// Checks that `buf` is exactly one uncompressed batch: length, magic, CRC-32C,
    /// record count. The records themselves are checked as [`records`](Self::records)
    /// walks them (or all at once by [`check_records`](Self::check_records)).
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        let (view, used) = Self::parse_prefix(buf)?;
        if used != buf.len() {
            return Err(BatchError::TrailingBytes(buf.len() - used));
        }
        Ok(view)
    }

    /// Like [`parse_prefix`](Self::parse_prefix) without recomputing the CRC: for
    /// bytes this process verified already (the broker's writer, after the produce
    /// path checked them). Lengths and magic are still checked, so no input panics.
    pub fn parse_prefix_verified(buf: &'a [u8]) -> Result<(Self, usize), BatchError> {
        Self::parse_inner(buf, false)
    }

    /// Parses the batch at the start of `buf` and returns it with its size; bytes
    /// after it are left alone.
    pub fn parse_prefix(buf: &'a [u8]) -> Result<(Self, usize), BatchError> {
        Self::parse_inner(buf, true)
    }

    fn parse_inner(buf: &'a [u8], check_crc: bool) -> Result<(Self, usize), BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated { needed: BATCH_HEADER_BYTES, available: buf.len() });
        }
        let length = read_i32(buf, OFF_LENGTH).unwrap_or(-1);
        let total = match usize::try_from(length) {
            Ok(l) if l + LOG_OVERHEAD >= BATCH_HEADER_BYTES => l + LOG_OVERHEAD,
            _ => return Err(BatchError::BadLength(length)),
        };
        if buf.len() < total {
            return Err(BatchError::Truncated { needed: total, available: buf.len() });
        }
        let bytes = &buf[..total];
        let magic = bytes[OFF_MAGIC] as i8;
        if magic != MAGIC {
            return Err(BatchError::BadMagic(magic));
        }
        let view = BatchView { bytes };
        if check_crc {
            let stored = view.crc();
            let computed = crc32c::crc32c(&bytes[OFF_ATTRIBUTES..]);
            if stored != computed {
                return Err(BatchError::CrcMismatch { stored, computed });
            }
        }
        let codec = view.compression();
        if codec != 0 {
            return Err(BatchError::UnsupportedCompression(codec));
        }
        let count = view.record_count_raw();
        let last = view.last_offset_delta();
        // Each record takes at least 7 bytes, which bounds a sane count by the size.
        if count <= 0 || last != count - 1 || (count as usize) > (total - BATCH_HEADER_BYTES) / 7 {
            return Err(BatchError::BadRecordCount { count, last_offset_delta: last });
        }
        Ok((view, total))
    }

    /// The batch's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The marker type of a control batch (its first record's key); `None` for a data
    /// batch or a control record that is not a transaction marker.
    pub fn control_type(&self) -> Option<ControlType> {
        if !self.is_control() {
            return None;
        }
        let record = self.records().next()?.ok()?;
        ControlType::from_key(record.key?)
    }

    /// Total size in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        read_i64(self.bytes, OFF_BASE_OFFSET).unwrap_or(0)
    }

    /// `batchLength`: the size minus 12.
    pub fn batch_length(&self) -> i32 {
        read_i32(self.bytes, OFF_LENGTH).unwrap_or(0)
    }

    /// The partition leader epoch (-1 from a producer).
    pub fn partition_leader_epoch(&self) -> i32 {
        read_i32(self.bytes, OFF_LEADER_EPOCH).unwrap_or(-1)
    }

    /// The stored CRC-32C.
    pub fn crc(&self) -> u32 {
        read_i32(self.bytes, OFF_CRC).unwrap_or(0) as u32
    }

    /// The attributes field.
    pub fn attributes(&self) -> i16 {
        read_i16(self.bytes, OFF_ATTRIBUTES).unwrap_or(0)
    }

    /// Compression codec (attribute bits 0-2); always 0 for a parsed view.
    pub fn compression(&self) -> u8 {
        (self.attributes() & COMPRESSION_MASK) as u8
    }

    /// True when the timestamps are the broker's append time (attribute bit 3).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & TIMESTAMP_TYPE_BIT != 0
    }

    /// True for a transactional batch (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }

    /// True for a control batch (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }

    /// Offset delta of the last record.
    pub fn last_offset_delta(&self) -> i32 {
        read_i32(self.bytes, OFF_LAST_OFFSET_DELTA).unwrap_or(0)
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset().saturating_add(i64::from(self.last_offset_delta()))
    }

    /// Offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// The first record's timestamp (ms).
    pub fn base_timestamp(&self) -> i64 {
        read_i64(self.bytes, OFF_BASE_TIMESTAMP).unwrap_or(0)
    }

    /// The largest record timestamp (ms).
    pub fn max_timestamp(&self) -> i64 {
        read_i64(self.bytes, OFF_MAX_TIMESTAMP).unwrap_or(0)
    }

    /// The idempotent producer's id, -1 if none.
    pub fn producer_id(&self) -> i64 {
        read_i64(self.bytes, OFF_PRODUCER_ID).unwrap_or(-1)
    }

    /// The producer's epoch.
    pub fn producer_epoch(&self) -> i16 {
        read_i16(self.bytes, OFF_PRODUCER_EPOCH).unwrap_or(-1)
    }

    /// The sequence number of the first record.
    pub fn base_sequence(&self) -> i32 {
        read_i32(self.bytes, OFF_BASE_SEQUENCE).unwrap_or(-1)
    }

    fn record_count_raw(&self) -> i32 {
        read_i32(self.bytes, OFF_RECORD_COUNT).unwrap_or(0)
    }

    /// Number of records (at least 1 for a parsed view).
    pub fn record_count(&self) -> u32 {
        self.record_count_raw().max(0) as u32
    }

    /// The records, in order. Each item is checked as it is read; after an error the
    /// iterator ends.
    pub fn records(&self) -> Records<'a> {
        Records {
            rest: self.bytes.get(BATCH_HEADER_BYTES..).unwrap_or(&[]),
            index: 0,
            count: self.record_count(),
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
            failed: false,
        }
    }

    /// Walks every record and checks it, and that the records fill the batch exactly.
    pub fn check_records(&self) -> Result<(), BatchError> {
        let mut records = self.records();
        for r in records.by_ref() {
            r?;
        }
        if !records.rest.is_empty() {
            return Err(BatchError::TrailingBytes(records.rest.len()));
        }
        Ok(())
    }
}

/// Iterates over concatenated batches (a fetch response, a segment's bytes). Stops
/// after the first error, which it yields.
pub fn batches(buf: &[u8]) -> Batches<'_> {
    Batches { rest: buf, failed: false }
}

/// Iterator returned by [`batches`].
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<BatchView<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match BatchView::parse_prefix(self.rest) {
            Ok((view, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(view))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// One record, borrowing the batch's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's offset (base offset + offset delta).
    pub offset: i64,
    /// The record's timestamp (base timestamp + timestamp delta), ms.
    pub timestamp_ms: i64,
    /// The key, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// The headers.
    pub headers: Headers<'a>,
}

/// Iterator over a batch's records.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    index: u32,
    count: u32,
    base_offset: i64,
    base_timestamp: i64,
    failed: bool,
}

impl<'a> Records<'a> {
    fn read_one(&mut self) -> Result<RecordView<'a>, BatchError> {
        let index = self.index;
        let bad = |reason| BatchError::MalformedRecord { index, reason };
        let (len, n) = get_varint(self.rest).ok_or(bad("bad record length varint"))?;
        let len = usize::try_from(len).map_err(|_| bad("negative record length"))?;
        let body = self.rest.get(n..n + len).ok_or(bad("record length runs past the batch"))?;
        let mut r = Cursor { buf: body };
        let _attributes = r.byte().ok_or(bad("missing record attributes"))?;
        let ts_delta = r.varlong().ok_or(bad("bad timestamp delta"))?;
        let offset_delta = r.varint().ok_or(bad("bad offset delta"))?;
        if i64::from(offset_delta) != i64::from(index) {
            return Err(bad("offset delta out of sequence"));
        }
        let key = r.nullable_bytes().ok_or(bad("bad key length"))?;
        let value = r.nullable_bytes().ok_or(bad("bad value length"))?;
        let header_count = r.varint().ok_or(bad("bad header count"))?;
        let header_count = u32::try_from(header_count).map_err(|_| bad("negative header count"))?;
        let headers_start = r.buf;
        for _ in 0..header_count {
            let k = r.nullable_bytes().ok_or(bad("bad header key"))?.ok_or(bad("null header key"))?;
            std::str::from_utf8(k).map_err(|_| bad("header key is not UTF-8"))?;
            r.nullable_bytes().ok_or(bad("bad header value"))?;
        }
        if !r.buf.is_empty() {
            return Err(bad("bytes left over after the record's headers"));
        }
        self.rest = &self.rest[n + len..];
        self.index += 1;
        Ok(RecordView {
            offset: self.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp_ms: self.base_timestamp.wrapping_add(ts_delta),
            key,
            value,
            headers: Headers { buf: headers_start, count: header_count },
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.index >= self.count {
            return None;
        }
        let r = self.read_one();
        self.failed = r.is_err();
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.count - self.index.min(self.count)) as usize;
        (0, Some(left))
    }
}

/// A record's headers, already checked when the record was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    buf: &'a [u8],
    count: u32,
}

/// One header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's key.
    pub key: &'a str,
    /// The header's value, `None` for null.
    pub value: Option<&'a [u8]>,
}

impl<'a> Headers<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the record has no headers.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The headers, in order.
    pub fn iter(&self) -> HeaderIter<'a> {
        HeaderIter { cursor: Cursor { buf: self.buf }, left: self.count }
    }

    /// The value of the first header named `key`.
    pub fn get(&self, key: &str) -> Option<Option<&'a [u8]>> {
        self.iter().find(|h| h.key == key).map(|h| h.value)
    }
}

impl<'a> IntoIterator for Headers<'a> {
    type Item = Header<'a>;
    type IntoIter = HeaderIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a record's headers.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    cursor: Cursor<'a>,
    left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The record reader checked these bytes; a failure here cannot happen, and
        // ends the iteration rather than panicking.
        let key = self.cursor.nullable_bytes()??;
        let key = std::str::from_utf8(key).ok()?;
        let value = self.cursor.nullable_bytes()?;
        Some(Header { key, value })
    }
}

/// A bounds-checked reader over a record's bytes.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<i32> {
        let (v, n) = get_varint(self.buf)?;
        self.buf = &self.buf[n..];
        Some(v)
    }

    fn varlong(&mut self) -> Option<i64> {
        let (v, n) = get_varlong(self.buf)?;
        self.buf = &self.buf[n..];
        Some(v)
    }

    /// A varint length then that many bytes; -1 is null. Outer `None` = malformed.
    fn nullable_bytes(&mut self) -> Option<Option<&'a [u8]>> {
        let len = self.varint()?;
        if len == -1 {
            return Some(None);
        }
        let len = usize::try_from(len).ok()?;
        if len > self.buf.len() {
            return None;
        }
        let (b, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(Some(b))
    }
}

fn read_i16(buf: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn read_i32(buf: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn read_i64(buf: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn varint_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn varlong_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a zig-zag varint (Kafka's `varint`).
pub fn put_varint(buf: &mut Vec<u8>, v: i32) {
    put_uvarint(buf, u64::from(zigzag32(v)));
}

/// Appends a zig-zag varlong (Kafka's `varlong`).
pub fn put_varlong(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, zigzag64(v));
}

/// Writes `v`'s zigzag varint into `out`, which is exactly as long as it.
fn put_varint_at(out: &mut [u8], v: i32) {
    let mut z = zigzag32(v);
    let last = out.len() - 1;
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = if i == last { z as u8 } else { (z as u8 & 0x7f) | 0x80 };
        z >>= 7;
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varint_len(zigzag32(b.len() as i32)) + b.len(),
    }
}

fn record_body_len(
    offset_delta: i32,
    ts_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, &[u8])],
) -> usize {
    let mut n = 1 + varlong_len(zigzag64(ts_delta)) + varint_len(zigzag32(offset_delta));
    n += bytes_len(key) + bytes_len(value);
    n += varint_len(zigzag32(headers.len() as i32));
    for (k, v) in headers {
        n += bytes_len(Some(k.as_bytes())) + bytes_len(Some(v));
    }
    n
}

/// Reads a zig-zag varint (at most 5 bytes) and the bytes it took.
pub fn get_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let mut raw: u32 = 0;
    for (i, &b) in buf.iter().take(5).enumerate() {
        if i == 4 && b > 0x0f {
            return None;
        }
        raw |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((((raw >> 1) as i32) ^ -((raw & 1) as i32), i + 1));
        }
    }
    None
}

/// Reads a zig-zag varlong (at most 10 bytes) and the bytes it took.
pub fn get_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (i, &b) in buf.iter().take(10).enumerate() {
        if i == 9 && b > 0x01 {
            return None;
        }
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((((raw >> 1) as i64) ^ -((raw & 1) as i64), i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_batches_carry_the_marker_and_parse_back() {
        for kind in [ControlType::Abort, ControlType::Commit] {
            let b = control_batch(42, 3, kind, 0, 1_000);
            let view = BatchView::parse(&b).expect("a valid batch");
            assert!(view.is_control() && view.is_transactional());
            assert_eq!((view.producer_id(), view.producer_epoch(), view.base_sequence()), (42, 3, -1));
            assert_eq!(view.control_type(), Some(kind));
            let r = view.records().next().unwrap().unwrap();
            assert_eq!(r.key.unwrap(), &[0, 0, 0, kind as u8]);
            assert_eq!(r.value.unwrap(), &[0, 0, 0, 0, 0, 0]);
        }
        let mut data = BatchBuilder::new();
        data.push(None, Some(b"x"), 1, &[]);
        let data = data.finish_transactional(7, 0, 0);
        let view = BatchView::parse(&data).unwrap();
        assert!(view.is_transactional() && !view.is_control());
        assert_eq!(view.control_type(), None);
    }

    /// A value written in place is the same batch as one pushed from a buffer,
    /// whatever the bound (at or above the value) does to the lengths' widths.
    #[test]
    fn values_written_in_place_are_the_bytes_pushed_ones_make() {
        let sizes = [0usize, 1, 62, 63, 64, 100, 8190, 8191, 8192, 10_240, 70_000];
        let extra = [0usize, 1, 2, 60, 8_000, 200_000];
        for (i, &len) in sizes.iter().enumerate() {
            for &more in &extra {
                let value: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
                let key = (i % 2 == 0).then_some(&b"key"[..]);
                let (mut pushed, mut written) = (BatchBuilder::new(), BatchBuilder::new());
                for n in 0..3i64 {
                    pushed.push(key, Some(&value), 1_000 + n * 300, &[]);
                    written.push_with(key, 1_000 + n * 300, len + more, |buf| buf.extend_from_slice(&value));
                }
                assert_eq!(pushed.finish(1, 0, 0), written.finish(1, 0, 0), "value of {len}, bound +{more}");
            }
        }
    }

    fn sample() -> Bytes {
        let mut b = BatchBuilder::new();
        b.push(Some(b"k1"), Some(b"value one"), 1_000, &[("h", b"x")]);
        b.push(None, Some(b"value two"), 1_005, &[]);
        b.push(Some(b"k3"), None, 999, &[("a", b""), ("b", b"yy")]);
        b.finish(7, 1, 42)
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn builds_batch_with_exact_kafka_layout() {
        // One record, key "k", value "v", timestamp 1000, no headers, hand-encoded per
        // the Kafka protocol documentation, independent of the builder.
        let record: Vec<u8> = vec![
            0x10, // length 8, zig-zag
            0x00, // attributes
            0x00, // timestamp delta 0
            0x00, // offset delta 0
            0x02, b'k', // key length 1, key
            0x02, b'v', // value length 1, value
            0x00, // no headers
        ];
        let mut tail = Vec::new(); // attributes .. end (the CRC's coverage)
        tail.extend_from_slice(&0i16.to_be_bytes());
        tail.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
        tail.extend_from_slice(&1000i64.to_be_bytes());
        tail.extend_from_slice(&1000i64.to_be_bytes());
        tail.extend_from_slice(&(-1i64).to_be_bytes());
        tail.extend_from_slice(&(-1i16).to_be_bytes());
        tail.extend_from_slice(&(-1i32).to_be_bytes());
        tail.extend_from_slice(&1i32.to_be_bytes());
        tail.extend_from_slice(&record);
        let mut expected = Vec::new();
        expected.extend_from_slice(&0i64.to_be_bytes());
        expected.extend_from_slice(&((tail.len() + 9) as i32).to_be_bytes());
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.push(2);
        expected.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
        expected.extend_from_slice(&tail);

        let mut b = BatchBuilder::new();
        b.push(Some(b"k"), Some(b"v"), 1000, &[]);
        assert_eq!(b.size_bytes(), expected.len());
        let built = b.finish(-1, -1, -1);
        assert_eq!(&built[..], &expected[..]);
        assert_eq!(built.len(), 70);
    }

    #[test]
    fn reads_back_what_it_built() {
        let bytes = sample();
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(view.record_count(), 3);
        assert_eq!(view.base_timestamp(), 1_000);
        assert_eq!(view.max_timestamp(), 1_005);
        assert_eq!((view.producer_id(), view.producer_epoch(), view.base_sequence()), (7, 1, 42));
        assert_eq!(view.last_offset_delta(), 2);
        view.check_records().unwrap();
        let recs: Vec<_> = view.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(recs[0].key, Some(&b"k1"[..]));
        assert_eq!(recs[0].value, Some(&b"value one"[..]));
        assert_eq!(recs[0].headers.get("h"), Some(Some(&b"x"[..])));
        assert_eq!(recs[1].key, None);
        assert_eq!(recs[1].timestamp_ms, 1_005);
        assert_eq!(recs[2].value, None);
        assert_eq!(recs[2].timestamp_ms, 999);
        let hs: Vec<_> = recs[2].headers.iter().map(|h| (h.key, h.value)).collect();
        assert_eq!(hs, vec![("a", Some(&b""[..])), ("b", Some(&b"yy"[..]))]);
        assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn size_with_predicts_the_size_after_push() {
        let mut b = BatchBuilder::new();
        for i in 0..50i64 {
            let v = vec![7u8; (i * 13) as usize];
            let predicted = b.size_with(Some(b"key"), Some(&v), 1_000_000 + i * 1_000, &[("t", b"1")]);
            b.push(Some(b"key"), Some(&v), 1_000_000 + i * 1_000, &[("t", b"1")]);
            assert_eq!(predicted, b.size_bytes());
        }
        assert_eq!(b.finish(-1, -1, -1).len(), b_size_after(50));
        fn b_size_after(n: i64) -> usize {
            let mut b = BatchBuilder::new();
            for i in 0..n {
                b.push(
                    Some(b"key"),
                    Some(&vec![7u8; (i * 13) as usize]),
                    1_000_000 + i * 1_000,
                    &[("t", b"1")],
                );
            }
            b.size_bytes()
        }
    }

    #[test]
    fn base_offset_patch_keeps_crc_valid() {
        let mut bytes = sample().to_vec();
        set_base_offset(&mut bytes, 1_234).unwrap();
        let view = BatchView::parse(&bytes).unwrap();
        assert_eq!(view.base_offset(), 1_234);
        assert_eq!(view.last_offset(), 1_236);
        let offsets: Vec<_> = view.records().map(|r| r.unwrap().offset).collect();
        assert_eq!(offsets, vec![1_234, 1_235, 1_236]);
    }

    #[test]
    fn refuses_flipped_bit_with_crc_mismatch() {
        let bytes = sample();
        for at in OFF_ATTRIBUTES..bytes.len() {
            let mut b = bytes.to_vec();
            b[at] ^= 0x01;
            assert!(matches!(BatchView::parse(&b), Err(BatchError::CrcMismatch { .. })), "byte {at}");
        }
    }

    #[test]
    fn refuses_truncation_and_trailing_bytes() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(BatchView::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(BatchView::parse(&longer), Err(BatchError::TrailingBytes(1)));
    }

    #[test]
    fn refuses_wrong_magic_and_compression() {
        let mut b = sample().to_vec();
        b[OFF_MAGIC] = 1;
        assert_eq!(BatchView::parse(&b), Err(BatchError::BadMagic(1)));
        let mut b = sample().to_vec();
        b[OFF_ATTRIBUTES + 1] = 0x02; // snappy
        let crc = crc32c::crc32c(&b[OFF_ATTRIBUTES..]);
        b[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(BatchView::parse(&b), Err(BatchError::UnsupportedCompression(2)));
    }

    #[test]
    fn empty_builder_gives_a_batch_that_parse_refuses() {
        let b = BatchBuilder::new().finish(-1, -1, -1);
        assert!(matches!(BatchView::parse(&b), Err(BatchError::BadRecordCount { count: 0, .. })));
    }

    #[test]
    fn iterates_concatenated_batches_and_stops_at_garbage() {
        let mut all = Vec::new();
        for base in [0i64, 3, 6] {
            let mut b = sample().to_vec();
            set_base_offset(&mut b, base).unwrap();
            all.extend_from_slice(&b);
        }
        let bases: Vec<_> = batches(&all).map(|b| b.unwrap().base_offset()).collect();
        assert_eq!(bases, vec![0, 3, 6]);
        all.extend_from_slice(&[0xff; 20]);
        let results: Vec<_> = batches(&all).collect();
        assert_eq!(results.len(), 4);
        assert!(results[3].is_err());
    }

    #[test]
    fn malformed_records_with_valid_crc_are_errors_not_panics() {
        // Rewrite the record area with arbitrary bytes, fix the CRC, and walk it: the
        // reader must return errors, never panic or loop.
        let base = sample();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2_000 {
            let mut b = base.to_vec();
            for byte in &mut b[BATCH_HEADER_BYTES..] {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if seed & 3 == 0 {
                    *byte = (seed >> 24) as u8;
                }
            }
            let crc = crc32c::crc32c(&b[OFF_ATTRIBUTES..]);
            b[OFF_CRC..OFF_ATTRIBUTES].copy_from_slice(&crc.to_be_bytes());
            if let Ok(view) = BatchView::parse(&b) {
                let _ = view.check_records();
                for r in view.records().flatten() {
                    let _ = r.headers.iter().count();
                }
            }
        }
    }

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [0i32, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(get_varint(&buf), Some((v, buf.len())));
        }
        for v in [0i64, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            assert_eq!(get_varlong(&buf), Some((v, buf.len())));
        }
        assert_eq!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(get_varint(&[0x80]), None);
    }
}
