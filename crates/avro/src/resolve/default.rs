//! Encodes a record field's JSON default value into Avro binary, once, at
//! plan time.
//!
//! The JSON is the specification's default-value encoding: a union's default
//! is a value of its FIRST branch, `bytes` and `fixed` are strings whose
//! characters are code points 0–255 (ISO-8859-1), enums are symbol strings,
//! records are objects whose missing fields take their own defaults.

use serde_json::Value;

use crate::binary;
use crate::compat::graph::{Graph, Node, NodeId};

/// Records may nest defaults inside defaults (a field omitted from a record
/// default takes its own default); a type whose default refers back to
/// itself would never end, so nesting is capped.
const MAX_DEPTH: usize = 64;

/// Appends the binary encoding of `value` under type `ty` of `graph`, or says
/// why `value` is not a valid default for that type.
pub(crate) fn encode_default(
    graph: &Graph,
    ty: NodeId,
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    encode(graph, ty, value, out, 0)
}

fn encode(graph: &Graph, ty: NodeId, value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("defaults nest deeper than {MAX_DEPTH} levels"));
    }
    let node = graph.node(ty);
    let mismatch = || format!("{value} is not a valid {}", node.describe());
    match node {
        Node::Null => value.is_null().then_some(()).ok_or_else(mismatch),
        Node::Boolean => {
            binary::write_bool(out, value.as_bool().ok_or_else(mismatch)?);
            Ok(())
        }
        Node::Int => {
            let v = value.as_i64().and_then(|v| i32::try_from(v).ok()).ok_or_else(mismatch)?;
            binary::write_int(out, v);
            Ok(())
        }
        Node::Long => {
            binary::write_long(out, value.as_i64().ok_or_else(mismatch)?);
            Ok(())
        }
        Node::Float => {
            // JSON numbers only; the narrowing to f32 is the specification's.
            binary::write_float(out, value.as_f64().ok_or_else(mismatch)? as f32);
            Ok(())
        }
        Node::Double => {
            binary::write_double(out, value.as_f64().ok_or_else(mismatch)?);
            Ok(())
        }
        Node::Bytes { .. } => {
            let bytes = latin1(value).ok_or_else(mismatch)?;
            binary::write_bytes(out, &bytes);
            Ok(())
        }
        Node::Fixed { size, .. } => {
            let bytes = latin1(value).ok_or_else(mismatch)?;
            if bytes.len() != *size {
                return Err(format!("{value} has {} bytes, the fixed needs {size}", bytes.len()));
            }
            binary::write_fixed(out, &bytes);
            Ok(())
        }
        Node::String => {
            binary::write_string(out, value.as_str().ok_or_else(mismatch)?);
            Ok(())
        }
        Node::Enum { symbols, .. } => {
            let s = value.as_str().ok_or_else(mismatch)?;
            let i = symbols.iter().position(|x| x == s).ok_or_else(mismatch)?;
            binary::write_index(out, i);
            Ok(())
        }
        Node::Array(items) => {
            let arr = value.as_array().ok_or_else(mismatch)?;
            binary::write_block_len(out, arr.len());
            for v in arr {
                encode(graph, *items, v, out, depth + 1)?;
            }
            binary::write_block_end(out);
            Ok(())
        }
        Node::Map(values) => {
            let obj = value.as_object().ok_or_else(mismatch)?;
            binary::write_block_len(out, obj.len());
            for (k, v) in obj {
                binary::write_string(out, k);
                encode(graph, *values, v, out, depth + 1)?;
            }
            binary::write_block_end(out);
            Ok(())
        }
        Node::Union(branches) => {
            let first = *branches.first().ok_or_else(|| "an empty union has no default".to_owned())?;
            binary::write_index(out, 0);
            encode(graph, first, value, out, depth + 1)
                .map_err(|e| format!("a union's default must be a value of its first branch: {e}"))
        }
        Node::Record { fields, .. } => {
            let obj = value.as_object().ok_or_else(mismatch)?;
            for f in fields {
                let v = match (obj.get(&f.name), &f.default) {
                    (Some(v), _) => v,
                    (None, Some(d)) => d,
                    (None, None) => {
                        return Err(format!("{value} lacks field \"{}\", which has no default", f.name))
                    }
                };
                encode(graph, f.ty, v, out, depth + 1).map_err(|e| format!("field \"{}\": {e}", f.name))?;
            }
            Ok(())
        }
    }
}

/// A JSON string whose characters are all code points 0–255, as bytes.
fn latin1(value: &Value) -> Option<Vec<u8>> {
    value.as_str()?.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}
