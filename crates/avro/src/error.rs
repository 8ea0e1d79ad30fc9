//! Error types of the Avro core.
//!
//! Decoding errors carry the byte offset where the problem was found and the
//! path of the field being decoded. The path is built while the error travels
//! back up through the decoders (`in_field`, `in_index`, ...), so the happy path
//! pays nothing for it.

use std::fmt;

/// One step of the path to the datum where decoding failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A record field, by name.
    Field(String),
    /// An array item, by index.
    Index(u64),
    /// A map value, by key.
    Key(String),
    /// A union branch, by index in the union.
    Branch(u32),
}

/// What went wrong while reading Avro binary data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The data ended before the datum was complete.
    UnexpectedEof,
    /// A varint ran over its maximum length (5 bytes for int, 10 for long).
    VarintTooLong,
    /// An `int` value did not fit in 32 bits.
    IntOutOfRange(i64),
    /// A length or count was negative where that is not allowed.
    NegativeLength(i64),
    /// A length or count exceeded the bytes that remain.
    LengthTooLarge { length: u64, remaining: usize },
    /// A string was not valid UTF-8.
    InvalidUtf8,
    /// A boolean byte other than 0 or 1.
    InvalidBool(u8),
    /// A union branch index outside the union.
    UnionIndexOutOfRange { index: i64, branches: usize },
    /// An enum symbol index outside the enum.
    EnumIndexOutOfRange { index: i64, symbols: usize },
    /// Bytes were left over after a complete datum.
    TrailingBytes(usize),
    /// The datum nests deeper than the limit (recursive types), which bounds the stack used.
    TooDeep(usize),
    /// An array or map block's declared byte size differs from the bytes its items took.
    BlockSizeMismatch {
        /// The size the writer declared.
        declared: usize,
        /// The bytes the items actually took.
        actual: usize,
    },
    /// Any other problem, described.
    Invalid(String),
}

/// An error decoding Avro binary data: what, where in the bytes, and where in the datum.
///
/// Boxed, so that `Result<T, DecodeError>` stays one pointer wide and the
/// decoders' happy path does not move a large error type around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    inner: Box<ErrorInner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ErrorInner {
    kind: DecodeErrorKind,
    offset: usize,
    /// Innermost segment last; displayed outermost first.
    path_rev: Vec<PathSegment>,
}

impl DecodeError {
    /// A new error at byte `offset`.
    #[cold]
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError { inner: Box::new(ErrorInner { kind, offset, path_rev: Vec::new() }) }
    }

    /// What went wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.inner.kind
    }

    /// The byte offset, from the start of the datum, where the problem was found.
    pub fn offset(&self) -> usize {
        self.inner.offset
    }

    /// The path of the datum that failed, outermost first, e.g. `/address/lines/2`.
    pub fn path(&self) -> String {
        if self.inner.path_rev.is_empty() {
            return "/".to_owned();
        }
        let mut out = String::new();
        for seg in self.inner.path_rev.iter().rev() {
            out.push('/');
            match seg {
                PathSegment::Field(name) => out.push_str(name),
                PathSegment::Index(i) => out.push_str(&i.to_string()),
                PathSegment::Key(k) => out.push_str(k),
                PathSegment::Branch(b) => {
                    out.push_str("branch ");
                    out.push_str(&b.to_string());
                }
            }
        }
        out
    }

    /// The path segments, outermost first.
    pub fn path_segments(&self) -> impl Iterator<Item = &PathSegment> {
        self.inner.path_rev.iter().rev()
    }

    /// Adds the record field this error happened in (called while unwinding).
    #[cold]
    pub fn in_field(mut self, name: &str) -> Self {
        self.inner.path_rev.push(PathSegment::Field(name.to_owned()));
        self
    }

    /// Adds the array index this error happened at (called while unwinding).
    #[cold]
    pub fn in_index(mut self, index: u64) -> Self {
        self.inner.path_rev.push(PathSegment::Index(index));
        self
    }

    /// Adds the map key this error happened under (called while unwinding).
    #[cold]
    pub fn in_key(mut self, key: &str) -> Self {
        self.inner.path_rev.push(PathSegment::Key(key.to_owned()));
        self
    }

    /// Adds the union branch this error happened in (called while unwinding).
    #[cold]
    pub fn in_branch(mut self, branch: u32) -> Self {
        self.inner.path_rev.push(PathSegment::Branch(branch));
        self
    }

    /// Shifts the offset by `base`, for data decoded from the middle of a larger buffer.
    pub fn with_base_offset(mut self, base: usize) -> Self {
        self.inner.offset += base;
        self
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::UnexpectedEof => f.write_str("unexpected end of data"),
            DecodeErrorKind::VarintTooLong => f.write_str("varint is too long"),
            DecodeErrorKind::IntOutOfRange(v) => write!(f, "int value {v} is out of the 32-bit range"),
            DecodeErrorKind::NegativeLength(v) => write!(f, "negative length {v}"),
            DecodeErrorKind::LengthTooLarge { length, remaining } => {
                write!(f, "length {length} exceeds the {remaining} bytes remaining")
            }
            DecodeErrorKind::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            DecodeErrorKind::InvalidBool(b) => write!(f, "invalid boolean byte {b:#04x}"),
            DecodeErrorKind::UnionIndexOutOfRange { index, branches } => {
                write!(f, "union branch index {index} is out of range (the union has {branches} branches)")
            }
            DecodeErrorKind::EnumIndexOutOfRange { index, symbols } => {
                write!(f, "enum symbol index {index} is out of range (the enum has {symbols} symbols)")
            }
            DecodeErrorKind::TrailingBytes(n) => write!(f, "{n} trailing bytes after the datum"),
            DecodeErrorKind::TooDeep(limit) => write!(f, "datum is nested deeper than {limit} levels"),
            DecodeErrorKind::BlockSizeMismatch { declared, actual } => {
                write!(f, "block declares {declared} bytes but its items take {actual}")
            }
            DecodeErrorKind::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {} (byte {}): {}", self.path(), self.inner.offset, self.inner.kind)
    }
}

impl std::error::Error for DecodeError {}

/// An invalid Avro schema, with the parser's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Avro schema: {reason}")]
pub struct SchemaError {
    reason: String,
}

impl SchemaError {
    /// A schema error with the given reason.
    pub fn new(reason: impl Into<String>) -> Self {
        SchemaError { reason: reason.into() }
    }

    /// Why the schema was refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
