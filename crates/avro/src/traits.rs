//! The [`Avro`] trait that `#[derive(Avro)]` implements, its impls for the
//! standard types, and the `serde_json`-style entry points [`to_vec`] and
//! [`from_slice`].

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::binary::{self, Out, Reader, MAX_VARINT_LEN};
use crate::error::DecodeError;
use crate::schema::Schema;

/// A Rust type with an Avro schema and a direct binary codec.
///
/// Implemented by `#[derive(Avro)]` (re-exported by the `runnel` facade) and,
/// here, for the standard types. Encoding writes straight into a byte buffer
/// and decoding reads straight from a byte slice: no intermediate value tree.
pub trait Avro: Sized + 'static {
    /// The schema of this type, built once.
    fn schema() -> &'static Schema;

    /// This type's schema as JSON, for embedding in an enclosing schema.
    ///
    /// Named types already defined in `ctx` are written as their full name, so
    /// that each is defined once and recursive types terminate.
    fn schema_json(ctx: &mut SchemaContext) -> Value;

    /// Appends this value's Avro binary encoding to `buf`.
    fn encode(&self, buf: &mut Vec<u8>);

    /// An upper bound of the bytes [`encode`](Self::encode) appends for this value.
    ///
    /// A record sums its fields' bounds to size its buffer once, then writes
    /// them through [`encode_to`](Self::encode_to). The bound must never be
    /// below what `encode_to` writes (a write past it panics). The default
    /// encodes into a scratch vector; every impl in this crate and every derived
    /// one gives a cheap bound instead (10 bytes per varint, the length of
    /// each string and bytes).
    #[inline]
    fn encoded_len_bound(&self) -> usize {
        let mut scratch = Vec::new();
        self.encode(&mut scratch);
        scratch.len()
    }

    /// Writes this value's encoding into a buffer sized by
    /// [`encoded_len_bound`](Self::encoded_len_bound). The same bytes as
    /// [`encode`](Self::encode); the default goes through it.
    #[inline]
    fn encode_to(&self, out: &mut Out<'_>) {
        let mut scratch = Vec::new();
        self.encode(&mut scratch);
        out.put(&scratch);
    }

    /// Reads one value from `reader`.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Reads one value from `reader` into `self`, reusing its allocations where
    /// the type can (strings, vectors). The default replaces `self`.
    fn decode_into(&mut self, reader: &mut Reader<'_>) -> Result<(), DecodeError> {
        *self = Self::decode(reader)?;
        Ok(())
    }
}

/// The named types already written while building a schema's JSON.
#[derive(Debug, Default)]
pub struct SchemaContext {
    defined: HashSet<String>,
}

impl SchemaContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `full_name` as defined; returns `false` when it already was
    /// (the caller then writes the name instead of the definition).
    pub fn define(&mut self, full_name: &str) -> bool {
        self.defined.insert(full_name.to_owned())
    }

    /// Whether `full_name` is already defined.
    pub fn is_defined(&self, full_name: &str) -> bool {
        self.defined.contains(full_name)
    }
}

/// Encodes `value` as bare Avro binary (no framing).
///
/// ```
/// assert_eq!(runnel_avro::to_vec(&-1i64), vec![1]);
/// ```
pub fn to_vec<T: Avro>(value: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    value.encode(&mut buf);
    buf
}

/// Decodes one value from bare Avro binary, refusing trailing bytes.
///
/// ```
/// let s: String = runnel_avro::from_slice(&[4, b'h', b'i']).unwrap();
/// assert_eq!(s, "hi");
/// assert!(runnel_avro::from_slice::<String>(&[4, b'h', b'i', 0]).is_err());
/// ```
pub fn from_slice<T: Avro>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// Builds the static schema of a type from its `schema_json` (used by the impls
/// here and by derived code). Panics only if the type's own schema is invalid,
/// which the derive rules out at compile time.
#[doc(hidden)]
pub fn build_schema(json: Value) -> Schema {
    match Schema::parse_json(&json) {
        Ok(s) => s,
        Err(e) => panic!("a derived Avro schema is invalid ({e}); schema: {json}"),
    }
}

macro_rules! primitive {
    (
        $ty:ty, $name:literal, |$s:ident, $buf:ident| $enc:expr, |$r:ident| $dec:expr,
        bound |$bs:ident| $bound:expr, to |$ts:ident, $out:ident| $to:expr
    ) => {
        impl Avro for $ty {
            fn schema() -> &'static Schema {
                static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
                SCHEMA.get_or_init(|| build_schema(json!($name)))
            }
            fn schema_json(_ctx: &mut SchemaContext) -> Value {
                json!($name)
            }
            #[inline]
            fn encode(&self, $buf: &mut Vec<u8>) {
                let $s = self;
                $enc
            }
            #[inline]
            fn encoded_len_bound(&self) -> usize {
                let $bs = self;
                $bound
            }
            #[inline]
            fn encode_to(&self, $out: &mut Out<'_>) {
                let $ts = self;
                $to
            }
            #[inline]
            fn decode($r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                $dec
            }
        }
    };
}

primitive!(
    bool,
    "boolean",
    |s, buf| binary::write_bool(buf, *s),
    |r| r.read_bool(),
    bound | _s | 1,
    to | s,
    out | out.bool(*s)
);
primitive!(
    i32,
    "int",
    |s, buf| binary::write_int(buf, *s),
    |r| r.read_int(),
    bound | _s | 5,
    to | s,
    out | out.int(*s)
);
primitive!(
    i64,
    "long",
    |s, buf| binary::write_long(buf, *s),
    |r| r.read_long(),
    bound | _s | MAX_VARINT_LEN,
    to | s,
    out | out.long(*s)
);
primitive!(
    f32,
    "float",
    |s, buf| binary::write_float(buf, *s),
    |r| r.read_float(),
    bound | _s | 4,
    to | s,
    out | out.float(*s)
);
primitive!(
    f64,
    "double",
    |s, buf| binary::write_double(buf, *s),
    |r| r.read_double(),
    bound | _s | 8,
    to | s,
    out | out.double(*s)
);
primitive!((), "null", |_s, _buf| (), |_r| Ok(()), bound | _s | 0, to | _s, _out | ());
primitive!(
    Vec<u8>,
    "bytes",
    |s, buf| binary::write_bytes(buf, s),
    |r| r.read_bytes().map(<[u8]>::to_vec),
    bound | s | MAX_VARINT_LEN + s.len(),
    to | s,
    out | out.bytes(s)
);

impl Avro for String {
    fn schema() -> &'static Schema {
        static SCHEMA: std::sync::OnceLock<Schema> = std::sync::OnceLock::new();
        SCHEMA.get_or_init(|| build_schema(json!("string")))
    }
    fn schema_json(_ctx: &mut SchemaContext) -> Value {
        json!("string")
    }
    #[inline]
    fn encode(&self, buf: &mut Vec<u8>) {
        binary::write_string(buf, self)
    }
    #[inline]
    fn encoded_len_bound(&self) -> usize {
        MAX_VARINT_LEN + self.len()
    }
    #[inline]
    fn encode_to(&self, out: &mut Out<'_>) {
        out.string(self)
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_str().map(str::to_owned)
    }
    #[inline]
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        r.read_string_into(self)
    }
}

/// `Option<T>` is the union `["null", T]`.
impl<T: Avro> Avro for Option<T> {
    fn schema() -> &'static Schema {
        generic_schema::<Self>()
    }
    fn schema_json(ctx: &mut SchemaContext) -> Value {
        json!(["null", T::schema_json(ctx)])
    }
    #[inline]
    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            None => buf.push(0),
            Some(v) => {
                buf.push(2);
                v.encode(buf);
            }
        }
    }
    #[inline]
    fn encoded_len_bound(&self) -> usize {
        1 + self.as_ref().map_or(0, T::encoded_len_bound)
    }
    #[inline]
    fn encode_to(&self, out: &mut Out<'_>) {
        match self {
            None => out.byte(0),
            Some(v) => {
                out.byte(2);
                v.encode_to(out);
            }
        }
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_union_index(2)? {
            0 => Ok(None),
            _ => T::decode(r).map(Some).map_err(|e| e.in_branch(1)),
        }
    }
    #[inline]
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        match (r.read_union_index(2)?, self.as_mut()) {
            (0, _) => *self = None,
            (_, Some(v)) => v.decode_into(r).map_err(|e| e.in_branch(1))?,
            (_, None) => *self = Some(T::decode(r).map_err(|e| e.in_branch(1))?),
        }
        Ok(())
    }
}

/// `Box<T>` has `T`'s schema; it is how recursive types are written.
impl<T: Avro> Avro for Box<T> {
    fn schema() -> &'static Schema {
        T::schema()
    }
    fn schema_json(ctx: &mut SchemaContext) -> Value {
        T::schema_json(ctx)
    }
    #[inline]
    fn encode(&self, buf: &mut Vec<u8>) {
        (**self).encode(buf)
    }
    #[inline]
    fn encoded_len_bound(&self) -> usize {
        (**self).encoded_len_bound()
    }
    #[inline]
    fn encode_to(&self, out: &mut Out<'_>) {
        (**self).encode_to(out)
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        T::decode(r).map(Box::new)
    }
    #[inline]
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        (**self).decode_into(r)
    }
}

/// `Vec<T>` is an array of `T` (except `Vec<u8>`, which is `bytes`).
impl<T: Avro> Avro for Vec<T> {
    fn schema() -> &'static Schema {
        generic_schema::<Self>()
    }
    fn schema_json(ctx: &mut SchemaContext) -> Value {
        json!({"type": "array", "items": T::schema_json(ctx)})
    }
    #[inline]
    fn encode(&self, buf: &mut Vec<u8>) {
        binary::write_block_len(buf, self.len());
        for item in self {
            item.encode(buf);
        }
        binary::write_block_end(buf);
    }
    #[inline]
    fn encoded_len_bound(&self) -> usize {
        // The count, the items, the end block.
        MAX_VARINT_LEN + self.iter().map(T::encoded_len_bound).sum::<usize>() + 1
    }
    #[inline]
    fn encode_to(&self, out: &mut Out<'_>) {
        if !self.is_empty() {
            out.long(self.len() as i64);
        }
        for item in self {
            item.encode_to(out);
        }
        out.byte(0);
    }
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        decode_array_items(r, &mut out, 0)?;
        Ok(out)
    }
    fn decode_into(&mut self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        // Decode into the existing items first, reusing their allocations.
        let mut filled = 0usize;
        while let Some(count) = r.read_block_len()? {
            for _ in 0..count {
                if filled < self.len() {
                    self[filled].decode_into(r).map_err(|e| e.in_index(filled as u64))?;
                } else {
                    self.push(T::decode(r).map_err(|e| e.in_index(filled as u64))?);
                }
                filled += 1;
            }
        }
        self.truncate(filled);
        Ok(())
    }
}

fn decode_array_items<T: Avro>(
    r: &mut Reader<'_>,
    out: &mut Vec<T>,
    mut index: u64,
) -> Result<(), DecodeError> {
    while let Some(count) = r.read_block_len()? {
        out.reserve(count.min(r.remaining()));
        for _ in 0..count {
            out.push(T::decode(r).map_err(|e| e.in_index(index))?);
            index += 1;
        }
    }
    Ok(())
}

macro_rules! map_impl {
    ([$($generics:tt)*] $ty:ty) => {
        /// A map with string keys is an Avro `map`.
        impl<$($generics)*> Avro for $ty {
            fn schema() -> &'static Schema {
                generic_schema::<Self>()
            }
            fn schema_json(ctx: &mut SchemaContext) -> Value {
                json!({"type": "map", "values": T::schema_json(ctx)})
            }
            fn encode(&self, buf: &mut Vec<u8>) {
                binary::write_block_len(buf, self.len());
                for (k, v) in self {
                    binary::write_string(buf, k);
                    v.encode(buf);
                }
                binary::write_block_end(buf);
            }
            fn encoded_len_bound(&self) -> usize {
                MAX_VARINT_LEN
                    + self.iter().map(|(k, v)| MAX_VARINT_LEN + k.len() + v.encoded_len_bound()).sum::<usize>()
                    + 1
            }
            fn encode_to(&self, out: &mut Out<'_>) {
                if !self.is_empty() {
                    out.long(self.len() as i64);
                }
                for (k, v) in self {
                    out.string(k);
                    v.encode_to(out);
                }
                out.byte(0);
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let mut out = Self::default();
                while let Some(count) = r.read_block_len()? {
                    for _ in 0..count {
                        let key = r.read_str()?;
                        let value = T::decode(r).map_err(|e| e.in_key(key))?;
                        out.insert(key.to_owned(), value);
                    }
                }
                Ok(out)
            }
        }
    };
}

map_impl!([T: Avro, S: std::hash::BuildHasher + Default + 'static] HashMap<String, T, S>);
map_impl!([T: Avro] BTreeMap<String, T>);

/// Schemas of generic instantiations (`Option<User>`, `Vec<i64>`, ...) cannot
/// live in one `static` per impl (a static in a generic fn is shared by every
/// instantiation), so they are kept in a map by `TypeId`, built once each and
/// leaked: there is one per type used in the program.
fn generic_schema<T: Avro + 'static>() -> &'static Schema {
    use std::any::TypeId;
    use std::sync::{Mutex, OnceLock};
    static SCHEMAS: OnceLock<Mutex<HashMap<TypeId, &'static Schema>>> = OnceLock::new();
    let map = SCHEMAS.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(s) = map.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return s;
    }
    // Built outside the lock: building may need other generic schemas.
    let schema: &'static Schema =
        Box::leak(Box::new(build_schema(T::schema_json(&mut SchemaContext::new()))));
    map.lock().unwrap_or_else(|p| p.into_inner()).entry(id).or_insert(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_round_trip() {
        let v: Vec<Option<String>> = vec![Some("a".into()), None, Some(String::new())];
        assert_eq!(from_slice::<Vec<Option<String>>>(&to_vec(&v)).unwrap(), v);
        let mut m = HashMap::new();
        m.insert("k".to_owned(), 5i64);
        assert_eq!(from_slice::<HashMap<String, i64>>(&to_vec(&m)).unwrap(), m);
        let b: Vec<u8> = vec![1, 2, 3];
        assert_eq!(to_vec(&b), vec![6, 1, 2, 3]);
    }

    #[test]
    fn generic_schemas_are_distinct_per_type() {
        assert_eq!(<Vec<i64>>::schema().canonical_form(), r#"{"type":"array","items":"long"}"#);
        assert_eq!(<Vec<String>>::schema().canonical_form(), r#"{"type":"array","items":"string"}"#);
        assert_eq!(<Option<i32>>::schema().canonical_form(), r#"["null","int"]"#);
    }

    #[test]
    fn decode_into_reuses_and_truncates() {
        let mut v = vec!["x".to_owned(), "y".to_owned(), "z".to_owned()];
        let bytes = to_vec(&vec!["a".to_owned()]);
        let mut r = Reader::new(&bytes);
        v.decode_into(&mut r).unwrap();
        assert_eq!(v, vec!["a".to_owned()]);
    }

    #[test]
    fn errors_name_the_path() {
        // array of one string whose length runs past the end.
        let bytes = [2u8, 10, b'a'];
        let err = from_slice::<Vec<String>>(&bytes).unwrap_err();
        assert_eq!(err.path(), "/0");
    }
}
