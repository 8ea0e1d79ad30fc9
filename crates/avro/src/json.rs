//! Avro-JSON ⇄ Avro binary, for any schema.
//!
//! Avro-JSON is the JSON encoding of the Avro specification, as avro-tools'
//! `jsontofrag`/`fragtojson`, fastavro's `json_writer`/`json_reader` and
//! Confluent's console tools use it:
//!
//! - `null`, booleans, numbers and strings as themselves; `int`/`long` must be
//!   integers in range;
//! - `bytes` and `fixed` as strings whose code points U+0000..U+00FF are the
//!   bytes (ISO-8859-1); a fixed's string must have exactly its size;
//! - enums as their symbol; arrays as arrays; maps and records as objects;
//! - a union value as `null` for the null branch, otherwise as an object with
//!   one member whose key names the branch: the full name of a named type, or
//!   the type name (`"int"`, `"array"`, ...; a logical type goes by its
//!   underlying type, e.g. `"long"` for `timestamp-millis`);
//! - `float`/`double` NaN and infinities as the strings `"NaN"`, `"Infinity"`
//!   and `"-Infinity"` (see below). A `float` is written as the exact value of
//!   its 32 bits;
//! - logical types as their underlying type (a decimal as its bytes, a uuid
//!   as its string, a timestamp as its number).
//!
//! On input, a record field that is absent takes the field's default, if it
//! has one (fastavro's behaviour; strict Avro-JSON requires every field). A
//! member that is not a field of the record is refused, so that a misspelt
//! field name is not silently dropped.
//!
//! JSON has no literal for NaN and the infinities, and writers disagree:
//! Python's `json`, fastavro's `json_writer` and Jackson with
//! `WRITE_NAN_AS_STRINGS` off write the bare tokens `NaN`, `Infinity` and
//! `-Infinity`; Avro Java's `JsonEncoder` (Jackson's default) and avro-tools
//! write the strings `"NaN"`, `"Infinity"` and `"-Infinity"`. On input both are
//! accepted for `float` and `double`: the strings by [`to_binary`], the bare
//! tokens by [`str_to_binary`], which reads text (a `serde_json::Value` cannot
//! hold them) and accepts them only where a float or a double is expected. On
//! output they are always the strings, the form Jackson writes and reads into a
//! double by default: the result stays JSON, for `jq` and every strict parser.
//! (fastavro's `json_reader` reads only the bare tokens as floats; the strings
//! reach it as strings, which its writer takes in a record field but not in an
//! array, a map or a union.)

use std::fmt;

use serde_json::{Map, Number, Value};

use crate::binary::{self, Reader};
use crate::error::{DecodeError, DecodeErrorKind, PathSegment};
use crate::model::{Model, NodeId, NodeKind};
use crate::schema::Schema;
use crate::validate::{check_block_size, MAX_DEPTH};

/// An Avro-JSON value that does not match the schema: what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    message: String,
    /// Innermost segment last; displayed outermost first.
    path_rev: Vec<PathSegment>,
}

impl JsonError {
    #[cold]
    fn new(message: impl Into<String>) -> Self {
        JsonError { message: message.into(), path_rev: Vec::new() }
    }

    #[cold]
    fn at(mut self, seg: PathSegment) -> Self {
        self.path_rev.push(seg);
        self
    }

    /// What is wrong with the value.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The path of the offending value, outermost first, e.g. `/tags/2`
    /// (`/` for the datum itself).
    pub fn path(&self) -> String {
        if self.path_rev.is_empty() {
            return "/".to_owned();
        }
        let mut out = String::new();
        for seg in self.path_rev.iter().rev() {
            out.push('/');
            match seg {
                PathSegment::Field(s) | PathSegment::Key(s) => out.push_str(s),
                PathSegment::Index(i) => out.push_str(&i.to_string()),
                PathSegment::Branch(b) => out.push_str(&format!("branch {b}")),
            }
        }
        out
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", self.path(), self.message)
    }
}

impl std::error::Error for JsonError {}

/// Appends the Avro binary encoding of the Avro-JSON datum `value` to `buf`.
/// On error, `buf` may hold part of the datum.
///
/// ```
/// use runnel_avro::{json, Schema};
/// let s = Schema::parse_str(r#"["null","string"]"#).unwrap();
/// let mut buf = Vec::new();
/// json::to_binary(&s, &serde_json::json!({"string": "hi"}), &mut buf).unwrap();
/// assert_eq!(buf, [2, 4, b'h', b'i']);
/// ```
pub fn to_binary(schema: &Schema, value: &Value, buf: &mut Vec<u8>) -> Result<(), JsonError> {
    let model = schema.model();
    Encoder { m: model, defaults: false }.encode(model.root(), value, buf, 0)
}

/// The Avro binary encoding of the Avro-JSON datum `value`, in a new vector.
pub fn to_vec(schema: &Schema, value: &Value) -> Result<Vec<u8>, JsonError> {
    let mut buf = Vec::new();
    to_binary(schema, value, &mut buf)?;
    Ok(buf)
}

/// Decodes exactly one binary datum of `schema` into Avro-JSON, refusing
/// trailing bytes.
///
/// ```
/// use runnel_avro::{json, Schema};
/// let s = Schema::parse_str(r#"["null","string"]"#).unwrap();
/// assert_eq!(json::from_binary(&s, &[2, 4, b'h', b'i']).unwrap(), serde_json::json!({"string": "hi"}));
/// ```
pub fn from_binary(schema: &Schema, datum: &[u8]) -> Result<Value, DecodeError> {
    let model = schema.model();
    let mut r = Reader::new(datum);
    let mut d = Decoder { m: model, empty_items_left: binary::MAX_ITEMS_WITHOUT_BYTES };
    let value = d.decode(model.root(), &mut r, 0)?;
    r.finish()?;
    Ok(value)
}

/// Why Avro-JSON text could not be encoded: it is not JSON, or not a datum of the schema.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// Not JSON (the bare tokens `NaN`, `Infinity` and `-Infinity` aside), with
    /// serde_json's line and column, which are the input's.
    #[error("not JSON: {0}")]
    Syntax(serde_json::Error),
    /// JSON, but not a datum of the schema.
    #[error(transparent)]
    Value(#[from] JsonError),
}

/// Parses one Avro-JSON datum from `text`, appends its binary encoding to
/// `buf` and returns the parsed value (for reading fields of it, e.g. a key).
/// On error, `buf` may hold part of the datum.
///
/// Besides JSON it accepts the bare tokens `NaN`, `Infinity` and `-Infinity`
/// as `float` and `double` values (nowhere else); in the returned value they
/// are the strings [`to_binary`] reads as the same numbers.
///
/// ```
/// use runnel_avro::{json, Schema};
/// let s = Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"x","type":"double"}]}"#).unwrap();
/// let mut buf = Vec::new();
/// let value = json::str_to_binary(&s, r#"{"x": -Infinity}"#, &mut buf).unwrap();
/// assert_eq!(buf, f64::NEG_INFINITY.to_le_bytes());
/// assert_eq!(value, serde_json::json!({"x": "-Infinity"}));
/// ```
pub fn str_to_binary(schema: &Schema, text: &str, buf: &mut Vec<u8>) -> Result<Value, TextError> {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(syntax) => return non_finite::str_to_binary(schema, text, buf, syntax),
    };
    to_binary(schema, &value, buf)?;
    Ok(value)
}

/// The bare tokens `NaN`, `Infinity` and `-Infinity`, which serde_json refuses.
///
/// Only text serde_json refused comes here, so JSON keeps its one path. The
/// text is parsed twice with each bare token replaced: by its string (`"NaN"`),
/// the value that is encoded; and by a zero of the same length (`0.0`), so that
/// serde_json's error positions stay the input's and so that a token standing
/// where no float or double is expected is caught: a string, an enum, bytes or
/// a fixed accept the string but refuse the number, which float and double take.
mod non_finite {
    use super::{to_binary, JsonError, Schema, TextError, Value};

    /// The bare tokens, longest first so that `-Infinity` is not read as `-` and `Infinity`.
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];

    pub(super) fn str_to_binary(
        schema: &Schema,
        text: &str,
        buf: &mut Vec<u8>,
        syntax: serde_json::Error,
    ) -> Result<Value, TextError> {
        let found = bare_tokens(text);
        if found.is_empty() {
            return Err(TextError::Syntax(syntax));
        }
        let zeros = replace(text, &found, zero_like);
        let zeros: Value = serde_json::from_str(&zeros).map_err(TextError::Syntax)?;
        let strings = replace(text, &found, |token| format!("\"{token}\""));
        let value: Value = serde_json::from_str(&strings).map_err(TextError::Syntax)?;
        let as_strings = to_binary(schema, &value, buf);
        let as_zeros = to_binary(schema, &zeros, &mut Vec::new());
        // Both are encoded in the same order and differ only at the tokens: where
        // the zeros fail first, or alone, a token stands where no number may.
        match (as_strings, as_zeros) {
            (Ok(()), Ok(())) => Ok(value),
            (Err(e), Err(z)) if e.path_rev == z.path_rev => Err(e.into()),
            (_, Err(z)) => {
                Err(JsonError { message: TOKEN_OUT_OF_PLACE.to_owned(), path_rev: z.path_rev }.into())
            }
            (Err(e), Ok(())) => Err(e.into()),
        }
    }

    const TOKEN_OUT_OF_PLACE: &str =
        "an unquoted NaN, Infinity or -Infinity is a float or double value (in a union, {\"double\": NaN})";

    /// Where the bare tokens are: outside strings, between JSON delimiters.
    fn bare_tokens(text: &str) -> Vec<(usize, &'static str)> {
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        let mut in_string = false;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if in_string {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
                i += 1;
                continue;
            }
            if b == b'"' {
                in_string = true;
                i += 1;
                continue;
            }
            let starts_token = i == 0 || is_delimiter(bytes[i - 1]);
            let token = TOKENS.iter().find(|t| {
                bytes[i..].starts_with(t.as_bytes())
                    && bytes.get(i + t.len()).is_none_or(|&next| is_delimiter(next))
            });
            match token {
                Some(t) if starts_token => {
                    found.push((i, *t));
                    i += t.len();
                }
                _ => i += 1,
            }
        }
        found
    }

    /// JSON whitespace and punctuation: what may stand next to a value.
    fn is_delimiter(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'[' | b']' | b'{' | b'}' | b',' | b':')
    }

    /// A JSON zero as long as `token`: `0.0`, `0.000000`, `-0.000000`.
    fn zero_like(token: &str) -> String {
        let sign = if token.starts_with('-') { "-" } else { "" };
        format!("{sign}0.{}", "0".repeat(token.len() - sign.len() - 2))
    }

    /// `text` with each found token replaced by `with(token)`.
    fn replace(text: &str, found: &[(usize, &str)], with: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(text.len() + 2 * found.len());
        let mut at = 0;
        for &(start, token) in found {
            out.push_str(&text[at..start]);
            out.push_str(&with(token));
            at = start + token.len();
        }
        out.push_str(&text[at..]);
        out
    }
}

/// Encodes a default value (`defaults`) or an Avro-JSON value. Default values
/// in a schema differ from Avro-JSON in one way: a union's default is the
/// bare value of one of its branches, not wrapped in `{"type": value}`.
struct Encoder<'m> {
    m: &'m Model,
    defaults: bool,
}

impl Encoder<'_> {
    fn encode(&self, id: NodeId, v: &Value, buf: &mut Vec<u8>, depth: usize) -> Result<(), JsonError> {
        let m = self.m;
        match m.kind(id) {
            NodeKind::Null => match v {
                Value::Null => Ok(()),
                _ => Err(expected("null", v)),
            },
            NodeKind::Boolean => match v {
                Value::Bool(b) => {
                    binary::write_bool(buf, *b);
                    Ok(())
                }
                _ => Err(expected("a boolean", v)),
            },
            NodeKind::Int => {
                let n = v.as_i64().ok_or_else(|| expected("an int", v))?;
                let n =
                    i32::try_from(n).map_err(|_| JsonError::new(format!("{n} is out of the int range")))?;
                binary::write_int(buf, n);
                Ok(())
            }
            NodeKind::Long => {
                let n = v.as_i64().ok_or_else(|| expected("a long", v))?;
                binary::write_long(buf, n);
                Ok(())
            }
            NodeKind::Float => {
                let x = float_of(v).ok_or_else(|| expected("a float", v))?;
                let f = x as f32;
                if x.is_finite() && !f.is_finite() {
                    return Err(JsonError::new(format!("{x} is out of the float range")));
                }
                binary::write_float(buf, f);
                Ok(())
            }
            NodeKind::Double => {
                let x = float_of(v).ok_or_else(|| expected("a double", v))?;
                binary::write_double(buf, x);
                Ok(())
            }
            NodeKind::String => match v {
                Value::String(s) => {
                    binary::write_string(buf, s);
                    Ok(())
                }
                _ => Err(expected("a string", v)),
            },
            NodeKind::Bytes => {
                let s = v.as_str().ok_or_else(|| expected("bytes as a string", v))?;
                let n = latin1_len(s)?;
                binary::write_long(buf, n as i64);
                push_latin1(s, buf);
                Ok(())
            }
            NodeKind::Fixed(f) => {
                let s = v.as_str().ok_or_else(|| expected("a fixed as a string", v))?;
                let n = latin1_len(s)?;
                if n != f.size {
                    return Err(JsonError::new(format!(
                        "{} is a fixed of {} bytes, got {n}",
                        f.name, f.size
                    )));
                }
                push_latin1(s, buf);
                Ok(())
            }
            NodeKind::Enum(e) => {
                let s = v.as_str().ok_or_else(|| expected("an enum symbol", v))?;
                let i = e
                    .symbols
                    .iter()
                    .position(|sym| sym == s)
                    .ok_or_else(|| JsonError::new(format!("{s:?} is not a symbol of {}", e.name)))?;
                binary::write_index(buf, i);
                Ok(())
            }
            NodeKind::Union { branches } => {
                let depth = self.deeper(depth)?;
                if self.defaults {
                    return self.encode_union_default(branches, v, buf, depth);
                }
                let (index, inner) = match v {
                    Value::Null => {
                        let i = branches
                            .iter()
                            .position(|b| matches!(m.kind(*b), NodeKind::Null))
                            .ok_or_else(|| JsonError::new("null is not a branch of this union"))?;
                        (i, v)
                    }
                    Value::Object(o) if o.len() == 1 => {
                        let Some((key, inner)) = o.iter().next() else {
                            return Err(self.union_mismatch(branches, v));
                        };
                        let i = branches
                            .iter()
                            .position(|b| m.type_name(*b) == key)
                            .ok_or_else(|| self.union_mismatch(branches, v))?;
                        (i, inner)
                    }
                    _ => return Err(self.union_mismatch(branches, v)),
                };
                binary::write_index(buf, index);
                self.encode(branches[index], inner, buf, depth)
                    .map_err(|e| e.at(PathSegment::Branch(index as u32)))
            }
            NodeKind::Record(rec) => {
                let depth = self.deeper(depth)?;
                let Value::Object(obj) = v else {
                    return Err(expected(&format!("a {} record as an object", rec.name), v));
                };
                let mut found = 0usize;
                for f in &rec.fields {
                    match obj.get(&f.name) {
                        Some(fv) => {
                            found += 1;
                            self.encode(f.node, fv, buf, depth)
                        }
                        None => match &f.default {
                            Some(d) => Encoder { m, defaults: true }
                                .encode(f.node, d, buf, depth)
                                .map_err(|e| JsonError::new(format!("invalid default: {}", e.message))),
                            None => Err(JsonError::new("missing field without a default")),
                        },
                    }
                    .map_err(|e| e.at(PathSegment::Field(f.name.clone())))?;
                }
                if found < obj.len() {
                    if let Some(extra) = obj.keys().find(|k| !rec.fields.iter().any(|f| &f.name == *k)) {
                        return Err(JsonError::new(format!("{extra:?} is not a field of {}", rec.name)));
                    }
                }
                Ok(())
            }
            NodeKind::Array { items } => {
                let depth = self.deeper(depth)?;
                let Value::Array(arr) = v else { return Err(expected("an array", v)) };
                binary::write_block_len(buf, arr.len());
                for (i, item) in arr.iter().enumerate() {
                    self.encode(*items, item, buf, depth).map_err(|e| e.at(PathSegment::Index(i as u64)))?;
                }
                binary::write_block_end(buf);
                Ok(())
            }
            NodeKind::Map { values } => {
                let depth = self.deeper(depth)?;
                let Value::Object(obj) = v else { return Err(expected("a map as an object", v)) };
                binary::write_block_len(buf, obj.len());
                for (k, item) in obj {
                    binary::write_string(buf, k);
                    self.encode(*values, item, buf, depth).map_err(|e| e.at(PathSegment::Key(k.clone())))?;
                }
                binary::write_block_end(buf);
                Ok(())
            }
        }
    }

    /// A union default is a bare value of a branch: the specification says
    /// the first; later versions allow any, so the first branch that accepts
    /// it is taken.
    fn encode_union_default(
        &self,
        branches: &[NodeId],
        v: &Value,
        buf: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), JsonError> {
        let mark = buf.len();
        for (i, b) in branches.iter().enumerate() {
            binary::write_index(buf, i);
            if self.encode(*b, v, buf, depth).is_ok() {
                return Ok(());
            }
            buf.truncate(mark);
        }
        Err(JsonError::new(format!("{} matches no branch of the union", short(v))))
    }

    fn union_mismatch(&self, branches: &[NodeId], v: &Value) -> JsonError {
        let names: Vec<String> = branches
            .iter()
            .map(|b| match self.m.kind(*b) {
                NodeKind::Null => "null".to_owned(),
                _ => format!("{{\"{}\": ...}}", self.m.type_name(*b)),
            })
            .collect();
        JsonError::new(format!("expected a union value, one of {}; got {}", names.join(", "), short(v)))
    }

    #[inline]
    fn deeper(&self, depth: usize) -> Result<usize, JsonError> {
        if depth >= MAX_DEPTH {
            return Err(JsonError::new(format!("value is nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(depth + 1)
    }
}

/// A float from a JSON number, or from the strings avro-tools uses for the
/// values JSON cannot write.
fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "+Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// The number of bytes an ISO-8859-1 string stands for, refusing code points above U+00FF.
fn latin1_len(s: &str) -> Result<usize, JsonError> {
    let mut n = 0usize;
    for c in s.chars() {
        if u32::from(c) > 0xff {
            return Err(JsonError::new(format!(
                "bytes are written as code points U+0000..U+00FF, found U+{:04X}",
                u32::from(c)
            )));
        }
        n += 1;
    }
    Ok(n)
}

fn push_latin1(s: &str, buf: &mut Vec<u8>) {
    // Checked by latin1_len: every char fits in a byte.
    buf.extend(s.chars().map(|c| c as u8));
}

#[cold]
fn expected(what: &str, v: &Value) -> JsonError {
    JsonError::new(format!("expected {what}, got {}", short(v)))
}

/// The value, shortened for an error message.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// Reads binary into Avro-JSON.
struct Decoder<'m> {
    m: &'m Model,
    /// Items of zero-width types (e.g. `null`) take no bytes, so their count
    /// is not bounded by the data: this budget bounds how many one datum may
    /// make us build.
    empty_items_left: u64,
}

impl Decoder<'_> {
    fn decode(&mut self, id: NodeId, r: &mut Reader<'_>, depth: usize) -> Result<Value, DecodeError> {
        let m = self.m;
        Ok(match m.kind(id) {
            NodeKind::Null => Value::Null,
            NodeKind::Boolean => Value::Bool(r.read_bool()?),
            NodeKind::Int => Value::from(r.read_int()?),
            NodeKind::Long => Value::from(r.read_long()?),
            NodeKind::Float => float_value(f64::from(r.read_float()?)),
            NodeKind::Double => float_value(r.read_double()?),
            NodeKind::String => Value::String(r.read_str()?.to_owned()),
            NodeKind::Bytes => Value::String(latin1(r.read_bytes()?)),
            NodeKind::Fixed(f) => Value::String(latin1(r.read_fixed(f.size)?)),
            NodeKind::Enum(e) => Value::String(e.symbols[r.read_enum_index(e.symbols.len())?].clone()),
            NodeKind::Union { branches } => {
                let i = r.read_union_index(branches.len())?;
                let depth = deeper(r, depth)?;
                let b = branches[i];
                let inner = self.decode(b, r, depth).map_err(|e| e.in_branch(i as u32))?;
                if matches!(m.kind(b), NodeKind::Null) {
                    Value::Null
                } else {
                    let mut obj = Map::with_capacity(1);
                    obj.insert(m.type_name(b).to_owned(), inner);
                    Value::Object(obj)
                }
            }
            NodeKind::Record(rec) => {
                let depth = deeper(r, depth)?;
                let mut obj = Map::with_capacity(rec.fields.len());
                for f in &rec.fields {
                    let v = self.decode(f.node, r, depth).map_err(|e| e.in_field(&f.name))?;
                    obj.insert(f.name.clone(), v);
                }
                Value::Object(obj)
            }
            NodeKind::Array { items } => {
                let depth = deeper(r, depth)?;
                let zero_width = m.is_zero_width(*items);
                let mut out = Vec::new();
                while let Some(block) = r.read_block()? {
                    if zero_width {
                        self.spend_empty_items(r, block.count)?;
                    }
                    out.reserve(block.count.min(r.remaining()));
                    let start = r.position();
                    for _ in 0..block.count {
                        let index = out.len() as u64;
                        out.push(self.decode(*items, r, depth).map_err(|e| e.in_index(index))?);
                    }
                    check_block_size(r, start, block.byte_size)?;
                }
                Value::Array(out)
            }
            NodeKind::Map { values } => {
                let depth = deeper(r, depth)?;
                let mut obj = Map::new();
                while let Some(block) = r.read_block()? {
                    let start = r.position();
                    for _ in 0..block.count {
                        let key = r.read_str()?;
                        let v = self.decode(*values, r, depth).map_err(|e| e.in_key(key))?;
                        obj.insert(key.to_owned(), v);
                    }
                    check_block_size(r, start, block.byte_size)?;
                }
                Value::Object(obj)
            }
        })
    }

    fn spend_empty_items(&mut self, r: &Reader<'_>, count: usize) -> Result<(), DecodeError> {
        match self.empty_items_left.checked_sub(count as u64) {
            Some(left) => {
                self.empty_items_left = left;
                Ok(())
            }
            None => {
                Err(r.error(DecodeErrorKind::LengthTooLarge {
                    length: count as u64,
                    remaining: r.remaining(),
                }))
            }
        }
    }
}

fn deeper(r: &Reader<'_>, depth: usize) -> Result<usize, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(r.error(DecodeErrorKind::TooDeep(MAX_DEPTH)));
    }
    Ok(depth + 1)
}

/// A float as a JSON number, or as avro-tools' string for NaN and the infinities.
fn float_value(x: f64) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::String("NaN".to_owned()),
        None if x > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

/// Bytes as an ISO-8859-1 string: each byte is the code point of one char.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
