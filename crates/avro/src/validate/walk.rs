//! The walk: one datum checked by going down the schema's [`Model`] recursively.
//!
//! It is the reference for what a valid datum is, and it words a refusal: the
//! error's path is assembled while the error travels back up. [`super::validate`]
//! runs it when the schema's program says no; the program hands it what it does not
//! unroll.

use crate::binary::Reader;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::model::{Model, NodeId, NodeKind};

/// Data nested deeper than this many records, arrays, maps and unions is
/// refused, which bounds the stack a datum of a recursive type can use.
pub const MAX_DEPTH: usize = 128;

/// Walks one datum of `id`, leaving the reader after it.
///
/// Also usable on its own to skip a datum inside a larger buffer.
pub fn skip(model: &Model, id: NodeId, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    walk(model, id, r, 0)
}

/// One datum of `id`: leaves are read here, inline, so that the fields of a
/// record and the items of an array cost no call each; composites go to
/// [`walk_composite`].
#[inline(always)]
pub(super) fn walk(m: &Model, id: NodeId, r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    match m.kind(id) {
        NodeKind::Null => Ok(()),
        NodeKind::Boolean => r.read_bool().map(drop),
        NodeKind::Int => r.read_int().map(drop),
        NodeKind::Long => r.read_long().map(drop),
        NodeKind::Float => r.read_fixed(4).map(drop),
        NodeKind::Double => r.read_fixed(8).map(drop),
        NodeKind::Bytes => r.read_bytes().map(drop),
        NodeKind::String => r.read_str().map(drop),
        NodeKind::Fixed(f) => r.read_fixed(f.size).map(drop),
        NodeKind::Enum(e) => r.read_enum_index(e.symbols.len()).map(drop),
        kind => walk_composite(m, kind, r, depth),
    }
}

#[inline(never)]
fn walk_composite(m: &Model, kind: &NodeKind, r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    let depth = deeper(r, depth)?;
    match kind {
        NodeKind::Union { branches } => {
            let i = r.read_union_index(branches.len())?;
            walk(m, branches[i], r, depth).map_err(|e| e.in_branch(i as u32))
        }
        NodeKind::Record(rec) => {
            for f in &rec.fields {
                walk(m, f.node, r, depth).map_err(|e| e.in_field(&f.name))?;
            }
            Ok(())
        }
        NodeKind::Array { items } => {
            let zero_width = m.is_zero_width(*items);
            let mut index = 0u64;
            while let Some(block) = r.read_block()? {
                let start = r.position();
                if zero_width {
                    // Nothing to read: the count alone is the content.
                    index += block.count as u64;
                } else {
                    for _ in 0..block.count {
                        walk(m, *items, r, depth).map_err(|e| e.in_index(index))?;
                        index += 1;
                    }
                }
                check_block_size(r, start, block.byte_size)?;
            }
            Ok(())
        }
        NodeKind::Map { values } => {
            while let Some(block) = r.read_block()? {
                let start = r.position();
                for _ in 0..block.count {
                    let key = r.read_str()?;
                    walk(m, *values, r, depth).map_err(|e| e.in_key(key))?;
                }
                check_block_size(r, start, block.byte_size)?;
            }
            Ok(())
        }
        // Leaves are handled by `walk`.
        _ => Ok(()),
    }
}

/// The depth one level down, or an error past [`MAX_DEPTH`].
#[inline]
fn deeper(r: &Reader<'_>, depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(r.error(DecodeErrorKind::TooDeep(MAX_DEPTH)));
    }
    Ok(depth + 1)
}

/// A block that declared its byte size must have taken exactly that many bytes.
#[inline]
pub(crate) fn check_block_size(
    r: &Reader<'_>,
    start: usize,
    declared: Option<usize>,
) -> Result<(), DecodeError> {
    match declared {
        Some(declared) if r.position() - start != declared => Err(DecodeError::new(
            DecodeErrorKind::BlockSizeMismatch { declared, actual: r.position() - start },
            start,
        )),
        _ => Ok(()),
    }
}
