//! Writer → reader schema resolution, compiled once into a [`Plan`] that
//! rewrites a datum written with the writer schema into the reader schema's
//! binary encoding.
//!
//! A typed consumer holds the reader's type `T` (whose derived decoder knows
//! only the reader schema) and receives data written with other versions.
//! Rather than decoding through a dynamic value tree, the plan transcodes
//! bytes to bytes and `T::decode` reads the result: fields are reordered,
//! writer fields the reader lacks are skipped (a whole array or map block at
//! once when the writer gave its byte size), reader fields the writer lacks
//! get their default's encoding (computed once, at plan time), numbers are
//! promoted, enum symbols and union branches are renumbered. Any part of the
//! datum whose encoding is the same under both schemas (the common case:
//! unchanged fields, `int` read as `long`, `string` read as `bytes`) is
//! checked for structure and copied with one `memcpy`.
//!
//! A successful transcode yields exactly one valid datum of the reader
//! schema: everything that reaches the output is checked as a reader's
//! decoder would check it (varints, lengths, `int` range, booleans, enum and
//! union indexes, UTF-8, block byte sizes, nesting depth up to
//! [`crate::MAX_DEPTH`], trailing bytes). Writer data that is dropped is only
//! walked far enough to find its end.
//!
//! The plan follows the same rules as [`crate::compat::check`], branch for
//! branch: a plan exists exactly when the check finds nothing.

pub(crate) mod default;

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::binary::{self, BlockSkip, Reader};
use crate::compat::graph::{Field, Graph, Node, NodeId};
use crate::compat::{check_graphs, select_branch, Incompatibility};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::{Schema, MAX_DEPTH};
use default::encode_default;

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The reader schema cannot read data of the writer schema.
    #[error("the reader schema cannot read the writer schema's data: {}", join(.0))]
    Incompatible(Vec<Incompatibility>),
    /// A schema refers to a type it does not define.
    #[error("schema cannot be resolved: {0}")]
    Unresolvable(String),
}

impl ResolveError {
    /// Every incompatibility found (empty for [`ResolveError::Unresolvable`]).
    pub fn incompatibilities(&self) -> &[Incompatibility] {
        match self {
            ResolveError::Incompatible(list) => list,
            ResolveError::Unresolvable(_) => &[],
        }
    }
}

fn join(list: &[Incompatibility]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

type OpId = usize;

/// How to walk one writer datum: primitives inline (no table lookup, no
/// call), containers through their op.
#[derive(Debug, Clone, Copy)]
enum Walk {
    Null,
    Bool,
    Int,
    Long,
    /// Float (4), double (8), fixed (n).
    Fixed(usize),
    /// A length, then that many bytes.
    Bytes,
    /// A length, then that many bytes of UTF-8 (checked when the string is copied).
    String,
    Enum(usize),
    /// A `Skip*` op.
    Container(OpId),
}

/// One step of the compiled program.
#[derive(Debug, Clone)]
enum Op {
    // Walking writer data without output (to skip it, or to find the span to copy).
    SkipArray(Walk),
    SkipMap(Walk),
    SkipUnion(Box<[Walk]>),
    SkipRecord(Box<[(Walk, Box<str>)]>),
    // Producing reader data.
    /// The encoding is the same under both schemas: walk the datum, copy its span.
    Copy(Walk),
    IntToFloat,
    IntToDouble,
    LongToFloat,
    LongToDouble,
    FloatToDouble,
    BytesToString,
    /// Writer symbol index → reader symbol index.
    Enum(Box<[u32]>),
    Array(OpId),
    Map(OpId),
    /// The writer's fields in the reader's order: stream through.
    Record(Box<[Step]>),
    /// The reader wants the writer's fields in another order: find each
    /// writer field's span first, then emit in the reader's order.
    RecordReordered {
        writer_fields: Box<[(Walk, Box<str>)]>,
        steps: Box<[ReorderedStep]>,
    },
    /// Writer branch index → (reader branch index, op).
    UnionToUnion(Box<[(u32, OpId)]>),
    /// Writer union, reader not a union: writer branch index → op.
    UnionToOne(Box<[OpId]>),
    /// Writer not a union, reader union: the reader branch index, then op.
    OneToUnion(u32, OpId),
}

#[derive(Debug, Clone)]
enum Step {
    /// Consecutive writer fields whose encoding is unchanged: skip them all, copy once.
    Copy(Box<[(Walk, Box<str>)]>),
    /// A writer field the reader lacks.
    Skip(Walk, Box<str>),
    /// A writer field transcoded into the reader field (named for errors).
    Field(OpId, Box<str>),
    /// The encoded defaults of consecutive reader fields the writer lacks.
    Default(Box<[u8]>),
}

#[derive(Debug, Clone)]
enum ReorderedStep {
    /// Transcode the writer field at this index.
    Field(usize, OpId),
    /// The encoded default of a reader field the writer lacks.
    Default(Box<[u8]>),
}

/// A compiled writer → reader resolution.
///
/// ```
/// use runnel_avro::{resolve::Plan, Schema};
/// let v1 = Schema::parse_str(r#"{"type":"record","name":"U","fields":[{"name":"age","type":"int"}]}"#).unwrap();
/// let v2 = Schema::parse_str(r#"{"type":"record","name":"U","fields":[
///     {"name":"email","type":["null","string"],"default":null},{"name":"age","type":"double"}]}"#).unwrap();
/// let plan = Plan::new(&v1, &v2).unwrap();
/// let mut out = Vec::new();
/// plan.transcode(&[0x54], &mut out).unwrap(); // age = 42
/// assert_eq!(out, [0x00, 0, 0, 0, 0, 0, 0, 0x45, 0x40]); // email = null, age = 42.0
/// ```
#[derive(Debug, Clone)]
pub struct Plan {
    ops: Vec<Op>,
    root: OpId,
}

impl Plan {
    /// Compiles the resolution of data written with `writer` into `reader`'s
    /// encoding; refuses, with every reason, when `reader` cannot read it.
    pub fn new(writer: &Schema, reader: &Schema) -> Result<Plan, ResolveError> {
        let w = Graph::build(writer.as_apache()).map_err(ResolveError::Unresolvable)?;
        let r = Graph::build(reader.as_apache()).map_err(ResolveError::Unresolvable)?;
        let problems = check_graphs(&r, &w);
        if !problems.is_empty() {
            return Err(ResolveError::Incompatible(problems));
        }
        let mut b =
            Builder { r: &r, w: &w, ops: Vec::new(), resolved: HashMap::new(), skips: HashMap::new() };
        let root = b.resolve(r.root, w.root).map_err(ResolveError::Unresolvable)?;
        Ok(Plan { ops: b.ops, root })
    }

    /// Whether the reader decodes the writer's bytes unchanged (the same
    /// schema, or differences that do not change the encoding, such as `int`
    /// read as `long` or an added enum symbol): callers may then skip
    /// [`Plan::transcode`] and decode the writer's bytes directly.
    pub fn is_identity(&self) -> bool {
        matches!(self.ops[self.root], Op::Copy(_))
    }

    /// Appends to `out` the reader-schema encoding of the one datum in
    /// `writer_bytes` (written with the writer schema). On error, `out` is left
    /// as it was and the error names the path and byte offset in `writer_bytes`.
    pub fn transcode(&self, writer_bytes: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let len = out.len();
        let mut r = Reader::new(writer_bytes);
        let mut budget = binary::MAX_ITEMS_WITHOUT_BYTES;
        let result = self.run(self.root, &mut r, out, 0, &mut budget).and_then(|()| r.finish());
        if result.is_err() {
            out.truncate(len);
        }
        result
    }

    fn run(
        &self,
        op: OpId,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
        budget: &mut u64,
    ) -> Result<(), DecodeError> {
        match &self.ops[op] {
            Op::Copy(skip) => {
                let rest = r.rest();
                let start = r.position();
                self.skip::<true>(*skip, r, depth, budget)?;
                out.extend_from_slice(&rest[..r.position() - start]);
            }
            Op::IntToFloat => binary::write_float(out, r.read_int()? as f32),
            Op::IntToDouble => binary::write_double(out, f64::from(r.read_int()?)),
            Op::LongToFloat => binary::write_float(out, r.read_long()? as f32),
            Op::LongToDouble => binary::write_double(out, r.read_long()? as f64),
            Op::FloatToDouble => binary::write_double(out, f64::from(r.read_float()?)),
            Op::BytesToString => {
                let start = r.position();
                let bytes = r.read_bytes()?;
                if std::str::from_utf8(bytes).is_err() {
                    return Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, start));
                }
                binary::write_bytes(out, bytes);
            }
            Op::Enum(map) => {
                let i = r.read_enum_index(map.len())?;
                binary::write_index(out, map[i] as usize);
            }
            Op::Array(item) => {
                let depth = deeper(r, depth)?;
                let mut index = 0u64;
                while let Some(count) = r.read_block_len()? {
                    binary::write_block_len(out, count);
                    for _ in 0..count {
                        let before = r.position();
                        self.run(*item, r, out, depth, budget).map_err(|e| e.in_index(index))?;
                        charge_if_empty(r, before, budget)?;
                        index += 1;
                    }
                }
                binary::write_block_end(out);
            }
            Op::Map(value) => {
                let depth = deeper(r, depth)?;
                while let Some(count) = r.read_block_len()? {
                    binary::write_block_len(out, count);
                    for _ in 0..count {
                        let key = r.read_str()?;
                        binary::write_string(out, key);
                        self.run(*value, r, out, depth, budget).map_err(|e| e.in_key(key))?;
                    }
                }
                binary::write_block_end(out);
            }
            Op::Record(steps) => {
                let depth = deeper(r, depth)?;
                for step in steps.iter() {
                    match step {
                        Step::Copy(fields) => {
                            let rest = r.rest();
                            let start = r.position();
                            for (skip, name) in fields.iter() {
                                self.skip::<true>(*skip, r, depth, budget).map_err(|e| e.in_field(name))?;
                            }
                            out.extend_from_slice(&rest[..r.position() - start]);
                        }
                        Step::Skip(skip, name) => {
                            self.skip::<false>(*skip, r, depth, budget).map_err(|e| e.in_field(name))?
                        }
                        Step::Field(op, name) => {
                            self.run(*op, r, out, depth, budget).map_err(|e| e.in_field(name))?
                        }
                        Step::Default(bytes) => out.extend_from_slice(bytes),
                    }
                }
            }
            Op::RecordReordered { writer_fields, steps } => {
                let depth = deeper(r, depth)?;
                self.run_reordered(writer_fields, steps, r, out, depth, budget)?;
            }
            Op::UnionToUnion(branches) => {
                let w = r.read_union_index(branches.len())?;
                let (reader_index, op) = branches[w];
                binary::write_index(out, reader_index as usize);
                let depth = deeper(r, depth)?;
                self.run(op, r, out, depth, budget).map_err(|e| e.in_branch(w as u32))?;
            }
            Op::UnionToOne(branches) => {
                let w = r.read_union_index(branches.len())?;
                let depth = deeper(r, depth)?;
                self.run(branches[w], r, out, depth, budget).map_err(|e| e.in_branch(w as u32))?;
            }
            Op::OneToUnion(reader_index, op) => {
                binary::write_index(out, *reader_index as usize);
                self.run(*op, r, out, depth, budget)?;
            }
            Op::SkipArray(_) | Op::SkipMap(_) | Op::SkipUnion(_) | Op::SkipRecord(_) => {
                // The builder only places skip ops under Copy and Skip steps.
                return Err(r.error(DecodeErrorKind::Invalid("resolution plan is malformed".into())));
            }
        }
        Ok(())
    }

    fn run_reordered(
        &self,
        writer_fields: &[(Walk, Box<str>)],
        steps: &[ReorderedStep],
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
        budget: &mut u64,
    ) -> Result<(), DecodeError> {
        // Spans of the writer's fields, relative to the record's start; on the
        // stack for records of up to INLINE fields.
        const INLINE: usize = 16;
        let mut inline = [(0usize, 0usize); INLINE];
        let mut heap = Vec::new();
        let spans: &mut [(usize, usize)] = if writer_fields.len() <= INLINE {
            &mut inline[..writer_fields.len()]
        } else {
            heap.resize(writer_fields.len(), (0, 0));
            &mut heap
        };
        let record = r.rest();
        let base = r.position();
        for ((skip, name), span) in writer_fields.iter().zip(spans.iter_mut()) {
            let start = r.position() - base;
            // Fields the reader keeps are checked when transcoded from their span.
            self.skip::<false>(*skip, r, depth, budget).map_err(|e| e.in_field(name))?;
            *span = (start, r.position() - base);
        }
        for step in steps {
            match step {
                ReorderedStep::Default(bytes) => out.extend_from_slice(bytes),
                ReorderedStep::Field(w, op) => {
                    let (start, end) = spans[*w];
                    let mut sub = Reader::new(&record[start..end]);
                    self.run(*op, &mut sub, out, depth, budget)
                        .map_err(|e| e.with_base_offset(base + start).in_field(&writer_fields[*w].1))?;
                }
            }
        }
        Ok(())
    }

    /// Walks one writer datum. With `FULL`, for data that is
    /// copied to the output, everything a reader's decoder would check is
    /// checked (UTF-8, every item of a block whose byte size is given, and
    /// that size); without, for data that is dropped, only what is needed to
    /// find the datum's end. The primitives are handled here, inline in the
    /// callers' loops; containers go to [`Plan::skip_container`].
    #[inline(always)]
    fn skip<const FULL: bool>(
        &self,
        walk: Walk,
        r: &mut Reader<'_>,
        depth: usize,
        budget: &mut u64,
    ) -> Result<(), DecodeError> {
        match walk {
            Walk::String if FULL => {
                let start = r.position();
                let bytes = r.read_bytes()?;
                // Most strings are ASCII, which is checked a word at a time.
                if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
                    Ok(())
                } else {
                    Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, start))
                }
            }
            Walk::Bytes | Walk::String => r.read_bytes().map(drop),
            Walk::Long => r.read_long().map(drop),
            Walk::Int => r.read_int().map(drop),
            Walk::Null => Ok(()),
            Walk::Bool => r.read_bool().map(drop),
            Walk::Fixed(n) => r.read_fixed(n).map(drop),
            Walk::Enum(symbols) => r.read_enum_index(symbols).map(drop),
            Walk::Container(op) => self.skip_container::<FULL>(&self.ops[op], r, depth, budget),
        }
    }

    fn skip_container<const FULL: bool>(
        &self,
        op: &Op,
        r: &mut Reader<'_>,
        depth: usize,
        budget: &mut u64,
    ) -> Result<(), DecodeError> {
        match op {
            Op::SkipArray(item) => {
                let depth = deeper(r, depth)?;
                let mut index = 0u64;
                self.skip_blocks::<FULL>(r, budget, |r, budget| {
                    self.skip::<FULL>(*item, r, depth, budget).map_err(|e| e.in_index(index))?;
                    index += 1;
                    Ok(())
                })?;
            }
            Op::SkipMap(value) => {
                let depth = deeper(r, depth)?;
                self.skip_blocks::<FULL>(r, budget, |r, budget| {
                    let key = if FULL { r.read_str()?.as_bytes() } else { r.read_bytes()? };
                    self.skip::<FULL>(*value, r, depth, budget)
                        .map_err(|e| e.in_key(&String::from_utf8_lossy(key)))
                })?;
            }
            Op::SkipUnion(branches) => {
                let w = r.read_union_index(branches.len())?;
                let depth = deeper(r, depth)?;
                self.skip::<FULL>(branches[w], r, depth, budget).map_err(|e| e.in_branch(w as u32))?;
            }
            Op::SkipRecord(fields) => {
                let depth = deeper(r, depth)?;
                for (skip, name) in fields.iter() {
                    self.skip::<FULL>(*skip, r, depth, budget).map_err(|e| e.in_field(name))?;
                }
            }
            _ => return Err(r.error(DecodeErrorKind::Invalid("resolution plan is malformed".into()))),
        }
        Ok(())
    }

    /// Walks the blocks of an array or map, calling `item` for each item. A
    /// block with a byte size is jumped over whole unless `FULL`, in which case
    /// its items are walked and the size checked against them.
    #[inline]
    fn skip_blocks<const FULL: bool>(
        &self,
        r: &mut Reader<'_>,
        budget: &mut u64,
        mut item: impl FnMut(&mut Reader<'_>, &mut u64) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if !FULL {
            loop {
                match r.skip_block()? {
                    BlockSkip::End => return Ok(()),
                    BlockSkip::Skipped => {}
                    BlockSkip::Items(count) => {
                        for _ in 0..count {
                            let before = r.position();
                            item(r, budget)?;
                            charge_if_empty(r, before, budget)?;
                        }
                    }
                }
            }
        }
        loop {
            let header = r.position();
            let count = r.read_long()?;
            if count == 0 {
                return Ok(());
            }
            let size = if count < 0 { Some((r.read_len()?, r.position())) } else { None };
            let count = count.unsigned_abs();
            if count > r.remaining() as u64 && count > binary::MAX_ITEMS_WITHOUT_BYTES {
                return Err(DecodeError::new(
                    DecodeErrorKind::LengthTooLarge { length: count, remaining: r.remaining() },
                    header,
                ));
            }
            for _ in 0..count {
                let before = r.position();
                item(r, budget)?;
                charge_if_empty(r, before, budget)?;
            }
            if let Some((size, start)) = size {
                let used = r.position() - start;
                if used != size {
                    return Err(DecodeError::new(
                        DecodeErrorKind::Invalid(format!(
                            "block byte size {size} does not match its items' {used} bytes"
                        )),
                        header,
                    ));
                }
            }
        }
    }
}

/// Counts an array item that took no bytes (of a type like `null` or an empty
/// record) against the datum's budget of [`binary::MAX_ITEMS_WITHOUT_BYTES`].
/// Items that take bytes are bounded by the input's length; these are not,
/// and without a bound a few bytes of block headers could make the plan loop,
/// and write defaults or branch indexes, for as long as an attacker likes.
#[inline]
fn charge_if_empty(r: &Reader<'_>, before: usize, budget: &mut u64) -> Result<(), DecodeError> {
    if r.position() == before {
        if *budget == 0 {
            return Err(r.error(DecodeErrorKind::Invalid(format!(
                "more than {} array items of zero bytes in one datum",
                binary::MAX_ITEMS_WITHOUT_BYTES
            ))));
        }
        *budget -= 1;
    }
    Ok(())
}

/// The depth one level down, or an error past [`MAX_DEPTH`].
#[inline]
fn deeper(r: &Reader<'_>, depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(r.error(DecodeErrorKind::TooDeep(MAX_DEPTH)));
    }
    Ok(depth + 1)
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resolution plan of {} steps", self.ops.len())
    }
}

/// Compiles ops from a checked (reader, writer) pair of graphs.
struct Builder<'a> {
    r: &'a Graph,
    w: &'a Graph,
    ops: Vec<Op>,
    /// (reader, writer) → op, so shared and recursive types compile once.
    resolved: HashMap<(NodeId, NodeId), OpId>,
    /// Writer node → its skip op.
    skips: HashMap<NodeId, OpId>,
}

impl Builder<'_> {
    fn reserve(&mut self) -> OpId {
        self.ops.push(Op::SkipRecord(Box::new([])));
        self.ops.len() - 1
    }

    /// How to walk (and check the structure of) writer node `w`.
    fn skip(&mut self, w: NodeId) -> Walk {
        let container = match self.w.node(w) {
            Node::Null => return Walk::Null,
            Node::Boolean => return Walk::Bool,
            Node::Int => return Walk::Int,
            Node::Long => return Walk::Long,
            Node::Float => return Walk::Fixed(4),
            Node::Double => return Walk::Fixed(8),
            Node::Fixed { size, .. } => return Walk::Fixed(*size),
            Node::Bytes { .. } => return Walk::Bytes,
            Node::String => return Walk::String,
            Node::Enum { symbols, .. } => return Walk::Enum(symbols.len()),
            container => container,
        };
        if let Some(&id) = self.skips.get(&w) {
            return Walk::Container(id);
        }
        let id = self.reserve();
        self.skips.insert(w, id);
        let op = match container {
            Node::Array(items) => Op::SkipArray(self.skip(*items)),
            Node::Map(values) => Op::SkipMap(self.skip(*values)),
            Node::Union(branches) => Op::SkipUnion(branches.iter().map(|&b| self.skip(b)).collect()),
            Node::Record { fields, .. } => {
                Op::SkipRecord(fields.iter().map(|f| (self.skip(f.ty), f.name.as_str().into())).collect())
            }
            // Every other node returned above.
            _ => Op::SkipRecord(Box::new([])),
        };
        self.ops[id] = op;
        Walk::Container(id)
    }

    /// The op that turns writer node `w`'s data into reader node `r`'s.
    fn resolve(&mut self, r: NodeId, w: NodeId) -> Result<OpId, String> {
        if let Some(&id) = self.resolved.get(&(r, w)) {
            return Ok(id);
        }
        if same_encoding(self.r, self.w, r, w, &mut HashSet::new()) {
            let skip = self.skip(w);
            self.ops.push(Op::Copy(skip));
            let id = self.ops.len() - 1;
            self.resolved.insert((r, w), id);
            return Ok(id);
        }
        let id = self.reserve();
        self.resolved.insert((r, w), id);
        let (rg, wg) = (self.r, self.w);
        let op = match (rg.node(r), wg.node(w)) {
            (Node::Union(rbs), Node::Union(wbs)) => {
                let mut branches = Vec::with_capacity(wbs.len());
                for &wb in wbs {
                    let j =
                        select_branch(rg, rbs, wg.node(wb)).ok_or("a writer branch has no reader branch")?;
                    branches.push((j as u32, self.resolve(rbs[j], wb)?));
                }
                Op::UnionToUnion(branches.into())
            }
            (_, Node::Union(wbs)) => {
                let mut branches = Vec::with_capacity(wbs.len());
                for &wb in wbs {
                    branches.push(self.resolve(r, wb)?);
                }
                Op::UnionToOne(branches.into())
            }
            (Node::Union(rbs), wn) => {
                let j = select_branch(rg, rbs, wn).ok_or("the writer type has no reader branch")?;
                Op::OneToUnion(j as u32, self.resolve(rbs[j], w)?)
            }
            (Node::Float, Node::Int) => Op::IntToFloat,
            (Node::Double, Node::Int) => Op::IntToDouble,
            (Node::Float, Node::Long) => Op::LongToFloat,
            (Node::Double, Node::Long) => Op::LongToDouble,
            (Node::Double, Node::Float) => Op::FloatToDouble,
            (Node::String, Node::Bytes { .. }) => Op::BytesToString,
            (Node::Array(ri), Node::Array(wi)) => Op::Array(self.resolve(*ri, *wi)?),
            (Node::Map(rv), Node::Map(wv)) => Op::Map(self.resolve(*rv, *wv)?),
            (Node::Enum { symbols: rs, default, .. }, Node::Enum { symbols: ws, .. }) => {
                let fallback = default.as_ref().and_then(|d| rs.iter().position(|s| s == d));
                let mut map = Vec::with_capacity(ws.len());
                for s in ws {
                    let i = rs
                        .iter()
                        .position(|x| x == s)
                        .or(fallback)
                        .ok_or("an enum symbol has no reader symbol")?;
                    map.push(i as u32);
                }
                Op::Enum(map.into())
            }
            (Node::Record { fields: rf, .. }, Node::Record { fields: wf, .. }) => self.record(rf, wf)?,
            (rn, wn) => return Err(format!("no resolution of {} from {}", rn.describe(), wn.describe())),
        };
        self.ops[id] = op;
        Ok(id)
    }

    fn record(&mut self, rfields: &[Field], wfields: &[Field]) -> Result<Op, String> {
        // Each reader field: the writer field it reads, or its default's encoding.
        enum Source {
            Writer(usize),
            Default(Vec<u8>),
        }
        let mut sources = Vec::with_capacity(rfields.len());
        for rf in rfields {
            let found = wfields
                .iter()
                .position(|wf| wf.name == rf.name)
                .or_else(|| wfields.iter().position(|wf| rf.aliases.contains(&wf.name)));
            sources.push(match (found, &rf.default) {
                (Some(i), _) => Source::Writer(i),
                (None, Some(default)) => {
                    let mut bytes = Vec::new();
                    encode_default(self.r, rf.ty, default, &mut bytes)?;
                    Source::Default(bytes)
                }
                (None, None) => return Err(format!("reader field \"{}\" has no source", rf.name)),
            });
        }
        let mut last = None;
        let in_order = sources.iter().all(|s| match s {
            Source::Writer(i) => {
                let ok = last.is_none_or(|l| *i > l);
                last = Some(*i);
                ok
            }
            Source::Default(_) => true,
        });
        if !in_order {
            let writer_fields = wfields.iter().map(|f| (self.skip(f.ty), f.name.as_str().into())).collect();
            let mut steps = Vec::with_capacity(rfields.len());
            for (rf, source) in rfields.iter().zip(sources) {
                steps.push(match source {
                    Source::Writer(i) => ReorderedStep::Field(i, self.resolve(rf.ty, wfields[i].ty)?),
                    Source::Default(bytes) => ReorderedStep::Default(bytes.into()),
                });
            }
            return Ok(Op::RecordReordered { writer_fields, steps: steps.into() });
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut next = 0;
        for (rf, source) in rfields.iter().zip(sources) {
            match source {
                Source::Default(bytes) => match steps.last_mut() {
                    Some(Step::Default(prev)) => {
                        let mut joined = prev.to_vec();
                        joined.extend_from_slice(&bytes);
                        *prev = joined.into();
                    }
                    _ => steps.push(Step::Default(bytes.into())),
                },
                Source::Writer(i) => {
                    for wf in &wfields[next..i] {
                        steps.push(Step::Skip(self.skip(wf.ty), wf.name.as_str().into()));
                    }
                    next = i + 1;
                    let op = self.resolve(rf.ty, wfields[i].ty)?;
                    let name: Box<str> = wfields[i].name.as_str().into();
                    match (&self.ops[op], steps.last_mut()) {
                        (Op::Copy(skip), Some(Step::Copy(prev))) => {
                            let mut joined = prev.to_vec();
                            joined.push((*skip, name));
                            *prev = joined.into();
                        }
                        (Op::Copy(skip), _) => steps.push(Step::Copy(vec![(*skip, name)].into())),
                        _ => steps.push(Step::Field(op, name)),
                    }
                }
            }
        }
        for wf in &wfields[next..] {
            steps.push(Step::Skip(self.skip(wf.ty), wf.name.as_str().into()));
        }
        Ok(Op::Record(steps.into()))
    }
}

/// Whether data of writer node `w` is, byte for byte, data of reader node
/// `r`: same structure, with only differences that keep the encoding (`int`
/// as `long`, `string` ↔ `bytes`, enum symbols and union branches appended,
/// renamed types and fields, defaults). Pairs met again while being compared
/// are assumed equal (the greatest fixpoint, right for recursive types: every
/// condition is a conjunction, so a false anywhere makes the whole false).
fn same_encoding(
    rg: &Graph,
    wg: &Graph,
    r: NodeId,
    w: NodeId,
    assumed: &mut HashSet<(NodeId, NodeId)>,
) -> bool {
    if !assumed.insert((r, w)) {
        return true;
    }
    match (rg.node(r), wg.node(w)) {
        (Node::Null, Node::Null)
        | (Node::Boolean, Node::Boolean)
        | (Node::Int, Node::Int)
        | (Node::Long, Node::Int | Node::Long)
        | (Node::Float, Node::Float)
        | (Node::Double, Node::Double)
        | (Node::Bytes { .. } | Node::String, Node::Bytes { .. } | Node::String) => {
            // bytes → string needs a UTF-8 check, so it is not a plain copy.
            !matches!((rg.node(r), wg.node(w)), (Node::String, Node::Bytes { .. }))
        }
        (Node::Fixed { size: rs, .. }, Node::Fixed { size: ws, .. }) => rs == ws,
        (Node::Enum { symbols: rs, .. }, Node::Enum { symbols: ws, .. }) => {
            ws.len() <= rs.len() && ws.iter().zip(rs).all(|(w, r)| w == r)
        }
        (Node::Array(ri), Node::Array(wi)) | (Node::Map(ri), Node::Map(wi)) => {
            same_encoding(rg, wg, *ri, *wi, assumed)
        }
        (Node::Union(rbs), Node::Union(wbs)) => {
            wbs.len() <= rbs.len()
                && wbs.iter().enumerate().all(|(i, &wb)| {
                    select_branch(rg, rbs, wg.node(wb)) == Some(i)
                        && same_encoding(rg, wg, rbs[i], wb, assumed)
                })
        }
        (Node::Record { fields: rf, .. }, Node::Record { fields: wf, .. }) => {
            rf.len() == wf.len()
                && rf.iter().zip(wf).all(|(r, w)| {
                    // The field must be the one the reader looks up, not only the one at the same place.
                    let matched = wf
                        .iter()
                        .find(|x| x.name == r.name)
                        .or_else(|| wf.iter().find(|x| r.aliases.contains(&x.name)));
                    matched.is_some_and(|m| std::ptr::eq(m, w)) && same_encoding(rg, wg, r.ty, w.ty, assumed)
                })
        }
        _ => false,
    }
}
