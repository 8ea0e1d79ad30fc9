//! A schema compiled for validation: the walk of `walk.rs` unrolled, once per
//! schema, into a flat program of a few kinds of op.
//!
//! Why not only the walk: the broker validates every record it accepts, and
//! with whole batches the walk was a sixth of the produce path's CPU, half of it
//! spent finding its way through the model (a recursive call and a dispatch on a
//! 152-byte node per field, union branch and array item) rather than reading
//! bytes. The program spends one dispatch per leaf, none per record, an array of
//! strings or of fixed-size items is one op, and a union of `null` and a leaf is
//! one op.
//!
//! The program answers yes or no only, and never builds an error: when it says
//! no, [`super::validate`] walks the datum again to word the error. The walk stays
//! the reference: the two must agree on every input (fuzzed in
//! `fuzz/fuzz_targets/avro_decode.rs`, tested in `tests/validate_program.rs`).
//!
//! Invariants the compiler keeps, so that `accepts` cannot index out of bounds:
//! - every jump target is at most `ops.len()` (the end), and a jump inside a
//!   loop's item stays inside it;
//! - loops nest at most [`MAX_LOOPS`] deep, which bounds the program's recursion;
//! - what it does not unroll (a recursive reference, a composite at
//!   [`MAX_DEPTH`], a fixed larger than 4 GiB, a program over [`MAX_OPS`]) it
//!   leaves to the walk with the depth the walk would have reached there, so
//!   the answers are the walk's.

use crate::binary::{Reader, MAX_ITEMS_WITHOUT_BYTES};
use crate::model::{Model, NodeId, NodeKind};

use super::walk::{walk, MAX_DEPTH};

/// Ops beyond which a schema is not unrolled (named types used in many places
/// can multiply a program's size): the walk validates it instead.
const MAX_OPS: usize = 1 << 14;

/// Arrays and maps of composites nested deeper than this are left to the walk.
const MAX_LOOPS: usize = 16;

/// A datum the program reads without a dispatch of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Bool,
    Int,
    Long,
    /// Bytes taken as they are: a float, a double, a fixed, or a run of them.
    Skip(u32),
    Bytes,
    Str,
    /// An enum of this many symbols.
    Enum(u32),
}

/// One step of a program. The leaves are ops of their own (not an op holding
/// a [`Leaf`]) so that running one costs one dispatch, not two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Bool,
    Int,
    Long,
    Skip(u32),
    Bytes,
    Str,
    Enum(u32),
    /// A union of `null` and one leaf: the leaf's branch index (0 or 1).
    Nullable {
        leaf: Leaf,
        leaf_index: u8,
    },
    /// Any other union: branch `i` starts at `targets[table + i]`.
    Union {
        branches: u32,
        table: u32,
    },
    Jump(u32),
    /// An array (or map: each item a string key, then the leaf) of one leaf.
    Items {
        leaf: Leaf,
        map: bool,
    },
    /// An array or map of anything else: the item's ops follow, up to `end`.
    Loop {
        end: u32,
    },
    /// A node left to the walk, at the depth the walk would have there.
    Walk {
        node: NodeId,
        depth: u32,
    },
}

/// A validation program; see the module comment.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    ops: Box<[Op]>,
    targets: Box<[u32]>,
}

impl Program {
    /// Compiles `model`'s root.
    pub(crate) fn compile(model: &Model) -> Program {
        let mut c = Compiler { model, ops: Vec::new(), targets: Vec::new(), loops: 0, path: Vec::new() };
        c.node(model.root(), 0);
        if c.ops.len() > MAX_OPS || c.targets.len() > MAX_OPS {
            return Program {
                ops: Box::new([Op::Walk { node: model.root(), depth: 0 }]),
                targets: Box::new([]),
            };
        }
        Program { ops: c.ops.into(), targets: c.targets.into() }
    }

    /// Whether `datum` is exactly one datum of the schema (the walk's verdict).
    pub(crate) fn accepts(&self, model: &Model, datum: &[u8]) -> bool {
        let mut c = Cursor { buf: datum, pos: 0 };
        self.run(model, &mut c, 0, self.ops.len()) && c.pos == datum.len()
    }

    /// Runs the ops `pc..end`. A loop's item runs in a call of its own, so the
    /// blocks being read live on the stack, at most [`MAX_LOOPS`] calls deep.
    fn run(&self, model: &Model, c: &mut Cursor<'_>, mut pc: usize, end: usize) -> bool {
        while pc < end {
            let Some(&op) = self.ops.get(pc) else { return false };
            pc += 1;
            let ok = match op {
                Op::Bool => c.bool(),
                Op::Int => c.int(),
                Op::Long => c.long(),
                Op::Skip(n) => c.skip(n as usize),
                Op::Bytes => c.bytes(),
                Op::Str => c.str(),
                Op::Enum(symbols) => c.index(u64::from(symbols)).is_some(),
                Op::Nullable { leaf, leaf_index } => match c.index(2) {
                    Some(i) => i != u64::from(leaf_index) || c.leaf(leaf),
                    None => false,
                },
                Op::Union { branches, table } => match c.index(u64::from(branches)) {
                    Some(i) => match self.targets.get(table as usize + i as usize) {
                        Some(&target) => {
                            pc = target as usize;
                            true
                        }
                        None => false,
                    },
                    None => false,
                },
                Op::Jump(target) => {
                    pc = target as usize;
                    true
                }
                Op::Items { leaf, map } => c.items(leaf, map),
                Op::Loop { end: item_end } => {
                    let (item, after) = (pc, item_end as usize);
                    pc = after;
                    loop {
                        let frame = match c.block() {
                            Ok(Some(frame)) => frame,
                            Ok(None) => break true,
                            Err(()) => break false,
                        };
                        if !(0..frame.left).all(|_| self.run(model, c, item, after))
                            || !c.block_filled(&frame)
                        {
                            break false;
                        }
                    }
                }
                Op::Walk { node, depth } => {
                    let mut r = Reader::new(c.rest());
                    let ok = walk(model, node, &mut r, depth as usize).is_ok();
                    c.pos += r.position();
                    ok
                }
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

struct Compiler<'m> {
    model: &'m Model,
    ops: Vec<Op>,
    targets: Vec<u32>,
    /// Loops open around the op being compiled.
    loops: usize,
    /// Records being compiled: a reference back to one is recursion.
    path: Vec<NodeId>,
}

impl Compiler<'_> {
    /// Appends the ops of one datum of `id`, at `depth` as the walk counts it.
    fn node(&mut self, id: NodeId, depth: usize) {
        if self.ops.len() > MAX_OPS || self.targets.len() > MAX_OPS {
            return; // given up: `compile` falls back to the walk
        }
        if let Some(leaf) = self.leaf(id) {
            return self.push_leaf(leaf);
        }
        let model = self.model;
        let kind = model.kind(id);
        if matches!(kind, NodeKind::Null | NodeKind::Fixed(_)) && model.is_zero_width(id) {
            return;
        }
        if depth >= MAX_DEPTH || !is_composite(kind) {
            // The walk refuses it as too deep, or it is a leaf this program has no op for.
            return self.walk(id, depth);
        }
        match kind {
            NodeKind::Record(rec) => {
                if self.path.contains(&id) {
                    return self.walk(id, depth);
                }
                self.path.push(id);
                for field in &rec.fields {
                    self.node(field.node, depth + 1);
                }
                self.path.pop();
            }
            NodeKind::Union { branches } => self.union(branches, depth),
            NodeKind::Array { items } => self.repeated(id, *items, false, depth),
            NodeKind::Map { values } => self.repeated(id, *values, true, depth),
            _ => self.walk(id, depth),
        }
    }

    fn union(&mut self, branches: &[NodeId], depth: usize) {
        let is_null = |b: &NodeId| matches!(self.model.kind(*b), NodeKind::Null);
        if let [a, b] = branches {
            let (leaf_index, other) = match (is_null(a), is_null(b)) {
                (true, false) => (1, *b),
                (false, true) => (0, *a),
                _ => (u8::MAX, *a),
            };
            if let (true, Some(leaf)) = (leaf_index <= 1, self.leaf(other)) {
                self.ops.push(Op::Nullable { leaf, leaf_index });
                return;
            }
        }
        // Both far inside u32: a union has fewer branches than its schema has
        // types, and `compile` refuses more than MAX_OPS targets.
        let (count, table) = (branches.len() as u32, self.targets.len() as u32);
        self.targets.extend(std::iter::repeat_n(0, branches.len()));
        self.ops.push(Op::Union { branches: count, table });
        let mut jumps = Vec::with_capacity(branches.len());
        for (i, &branch) in branches.iter().enumerate() {
            self.targets[table as usize + i] = self.here();
            self.node(branch, depth + 1);
            jumps.push(self.ops.len());
            self.ops.push(Op::Jump(0));
        }
        let end = self.here();
        for at in jumps {
            self.ops[at] = Op::Jump(end);
        }
    }

    /// An array (`map` false) or a map of `items`.
    fn repeated(&mut self, id: NodeId, items: NodeId, map: bool, depth: usize) {
        let model = self.model;
        // As the walk: an array of zero-width items is its block counts alone, and a map
        // of null (or empty fixed) values its keys alone. A map's zero-width records are
        // compiled as records, for the depth the walk checks when it enters them.
        let nothing_per_item = model.is_zero_width(items)
            && (!map || matches!(model.kind(items), NodeKind::Null | NodeKind::Fixed(_)));
        if nothing_per_item {
            self.ops.push(Op::Items { leaf: Leaf::Skip(0), map });
            return;
        }
        if let Some(leaf) = self.leaf(items) {
            self.ops.push(Op::Items { leaf, map });
            return;
        }
        if self.loops >= MAX_LOOPS {
            return self.walk(id, depth);
        }
        let start = self.ops.len();
        self.ops.push(Op::Loop { end: 0 });
        self.loops += 1;
        if map {
            self.ops.push(Op::Str);
        }
        self.node(items, depth + 1);
        self.loops -= 1;
        self.ops[start] = Op::Loop { end: self.here() };
    }

    /// The leaf `id` is, if it is one.
    fn leaf(&self, id: NodeId) -> Option<Leaf> {
        Some(match self.model.kind(id) {
            NodeKind::Boolean => Leaf::Bool,
            NodeKind::Int => Leaf::Int,
            NodeKind::Long => Leaf::Long,
            NodeKind::Float => Leaf::Skip(4),
            NodeKind::Double => Leaf::Skip(8),
            NodeKind::Bytes => Leaf::Bytes,
            NodeKind::String => Leaf::Str,
            NodeKind::Fixed(f) if f.size > 0 => Leaf::Skip(u32::try_from(f.size).ok()?),
            NodeKind::Enum(e) => Leaf::Enum(u32::try_from(e.symbols.len()).ok()?),
            _ => return None,
        })
    }

    /// Appends a leaf, merging a run of fixed-size ones into one skip.
    fn push_leaf(&mut self, leaf: Leaf) {
        if let (Leaf::Skip(n), Some(Op::Skip(m))) = (leaf, self.ops.last_mut()) {
            if let Some(sum) = m.checked_add(n) {
                *m = sum;
                return;
            }
        }
        self.ops.push(match leaf {
            Leaf::Bool => Op::Bool,
            Leaf::Int => Op::Int,
            Leaf::Long => Op::Long,
            Leaf::Skip(n) => Op::Skip(n),
            Leaf::Bytes => Op::Bytes,
            Leaf::Str => Op::Str,
            Leaf::Enum(symbols) => Op::Enum(symbols),
        });
    }

    fn walk(&mut self, node: NodeId, depth: usize) {
        // `depth` is at most MAX_DEPTH here, far inside u32.
        self.ops.push(Op::Walk { node, depth: depth as u32 });
    }

    /// The index the next op will have.
    fn here(&self) -> u32 {
        // At most MAX_OPS + a few: the compiler stops growing past MAX_OPS.
        self.ops.len() as u32
    }
}

fn is_composite(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Record(_) | NodeKind::Union { .. } | NodeKind::Array { .. } | NodeKind::Map { .. }
    )
}

/// An array or map block being read: items left, where its items started, and
/// the byte size its writer declared, if any.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: u64,
    start: usize,
    size: Option<usize>,
}

/// The program's reader: the checks of [`Reader`], answered yes or no.
///
/// Not [`Reader`] itself: written over `Reader`'s calls (their `Result`s dropped),
/// the program took 48 ns per User instead of 36 ns, a third of what it gains
/// over the walk; moving the one-load varint below into `Reader` slowed the
/// derive's decoders and the walk instead (inlining lost). The checks are the
/// same, and the tests and the fuzzer hold the two to one verdict.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline(always)]
    fn leaf(&mut self, leaf: Leaf) -> bool {
        match leaf {
            Leaf::Bool => self.bool(),
            Leaf::Int => self.int(),
            Leaf::Long => self.long(),
            Leaf::Skip(n) => self.skip(n as usize),
            Leaf::Bytes => self.bytes(),
            Leaf::Str => self.str(),
            Leaf::Enum(symbols) => self.index(u64::from(symbols)).is_some(),
        }
    }

    #[inline(always)]
    fn bool(&mut self) -> bool {
        match self.buf.get(self.pos) {
            Some(0 | 1) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// An int is a varint of at most 5 bytes whose zig-zag value fits 32 bits,
    /// which is a raw value under 2^32.
    #[inline(always)]
    fn int(&mut self) -> bool {
        self.varint(5).is_some_and(|raw| raw <= u64::from(u32::MAX))
    }

    #[inline(always)]
    fn long(&mut self) -> bool {
        self.varint(10).is_some()
    }

    #[inline(always)]
    fn bytes(&mut self) -> bool {
        self.len().is_some_and(|n| self.skip(n))
    }

    #[inline(always)]
    fn str(&mut self) -> bool {
        let Some(n) = self.len() else { return false };
        // `len` checked that n bytes remain.
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        crate::binary::is_ascii(bytes) || std::str::from_utf8(bytes).is_ok()
    }

    /// Every block of an array or map of one leaf.
    #[inline]
    fn items(&mut self, leaf: Leaf, map: bool) -> bool {
        loop {
            let frame = match self.block() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(()) => return false,
            };
            let ok = match (leaf, map) {
                (Leaf::Skip(n), false) => {
                    frame.left.checked_mul(u64::from(n)).is_some_and(|total| self.skip_u64(total))
                }
                (leaf, false) => (0..frame.left).all(|_| self.leaf(leaf)),
                (leaf, true) => (0..frame.left).all(|_| self.str() && self.leaf(leaf)),
            };
            if !ok || !self.block_filled(&frame) {
                return false;
            }
        }
    }

    #[inline]
    fn skip(&mut self, n: usize) -> bool {
        if n > self.remaining() {
            return false;
        }
        self.pos += n;
        true
    }

    #[inline]
    fn skip_u64(&mut self, n: u64) -> bool {
        usize::try_from(n).is_ok_and(|n| self.skip(n))
    }

    /// A zig-zag long in `0..bound` (a union branch or an enum symbol).
    #[inline(always)]
    fn index(&mut self, bound: u64) -> Option<u64> {
        let raw = self.varint(10)?;
        // Non-negative zig-zag values are the even raw values.
        (raw & 1 == 0 && raw >> 1 < bound).then_some(raw >> 1)
    }

    /// A length: a non-negative zig-zag long no larger than the bytes left.
    #[inline(always)]
    fn len(&mut self) -> Option<usize> {
        let raw = self.varint(10)?;
        let len = usize::try_from(raw >> 1).ok()?;
        (raw & 1 == 0 && len <= self.remaining()).then_some(len)
    }

    /// A block header, as [`Reader::read_block`] checks it; `Ok(None)` at the end.
    #[inline]
    fn block(&mut self) -> Result<Option<Frame>, ()> {
        let count = zigzag(self.varint(10).ok_or(())?);
        if count == 0 {
            return Ok(None);
        }
        let mut size = None;
        if count < 0 {
            let declared = zigzag(self.varint(10).ok_or(())?);
            if declared < 0 || declared as u64 > self.remaining() as u64 {
                return Err(());
            }
            size = Some(declared as usize);
        }
        let left = count.unsigned_abs();
        if left > self.remaining() as u64 && left > MAX_ITEMS_WITHOUT_BYTES {
            return Err(());
        }
        Ok(Some(Frame { left, start: self.pos, size }))
    }

    /// Whether a block that declared its byte size took exactly that many bytes.
    #[inline]
    fn block_filled(&self, frame: &Frame) -> bool {
        frame.size.is_none_or(|size| self.pos - frame.start == size)
    }

    /// A varint of at most `max` bytes, as [`Reader`] reads one (the tenth byte
    /// of a long may carry only the top bit).
    #[inline(always)]
    fn varint(&mut self, max: usize) -> Option<u64> {
        let &first = self.buf.get(self.pos)?;
        if first < 0x80 {
            self.pos += 1;
            return Some(u64::from(first));
        }
        self.varint_long(max)
    }

    /// A varint of two bytes or more. With eight bytes left, it is found in one
    /// load: the first byte whose top bit is clear ends it, and the seven-bit
    /// groups before it are gathered without a branch per byte.
    #[inline]
    fn varint_long(&mut self, max: usize) -> Option<u64> {
        if let Some(&word) = self.buf.get(self.pos..).and_then(|rest| rest.first_chunk::<8>()) {
            let word = u64::from_le_bytes(word);
            let ends = !word & 0x8080_8080_8080_8080;
            if ends != 0 {
                let len = (ends.trailing_zeros() as usize + 1) / 8;
                if len > max {
                    return None;
                }
                let word = word & (u64::MAX >> (64 - 8 * len));
                let mut value = 0u64;
                for i in 0..8 {
                    value |= ((word >> (8 * i)) & 0x7f) << (7 * i);
                }
                self.pos += len;
                return Some(value);
            }
        }
        let mut value = 0u64;
        for i in 0..max {
            let &b = self.buf.get(self.pos)?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return None;
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(value);
            }
        }
        None
    }
}

#[inline(always)]
fn zigzag(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}
