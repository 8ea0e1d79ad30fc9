//! The borrowed decode: [`BorrowDecode`], for views whose strings and bytes
//! point into the input instead of being copied, and [`from_slice_borrowed`].
//!
//! A consumer that reads a record, looks at it and drops it (filters, routing,
//! aggregates) does not need to own its strings: `#[derive(Avro)]` on a record
//! with a lifetime (`struct UserRef<'a> { name: &'a str, .. }`, or
//! `Cow<'a, str>`, `&'a [u8]`, `Cow<'a, [u8]>`, and `Option`/`Vec` of those)
//! implements this trait instead of [`Avro`](crate::Avro). Fields without a
//! lifetime (numbers, owned strings, other derived types) are read by their
//! `Avro` impl, so a view reads exactly the bytes, and refuses exactly the
//! input, that the owned type does, with the same errors.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

use crate::binary::Reader;
use crate::error::DecodeError;
use crate::schema::Schema;
use crate::traits::{build_schema, SchemaContext};

/// A type decoded from Avro binary by borrowing from the input `&'a [u8]`.
///
/// ```
/// use runnel_avro::{from_slice_borrowed, to_vec};
/// let bytes = to_vec(&vec![String::from("admin"), String::from("math")]);
/// let tags: Vec<&str> = from_slice_borrowed(&bytes).unwrap();
/// assert_eq!(tags, ["admin", "math"]);
/// ```
pub trait BorrowDecode<'a>: Sized {
    /// The schema of this type (the same as the owned type it views), built once.
    fn schema() -> &'static Schema;

    /// This type's schema as JSON, for embedding in an enclosing schema (see
    /// [`Avro::schema_json`](crate::Avro::schema_json)).
    fn schema_json(ctx: &mut SchemaContext) -> Value;

    /// Reads one value from `reader`, borrowing strings and bytes from its input.
    fn decode_borrowed(reader: &mut Reader<'a>) -> Result<Self, DecodeError>;
}

/// Decodes one value from bare Avro binary, borrowing from `bytes`, and
/// refusing trailing bytes (as [`from_slice`](crate::from_slice) does).
///
/// ```
/// let s: &str = runnel_avro::from_slice_borrowed(&[4, b'h', b'i']).unwrap();
/// assert_eq!(s, "hi");
/// ```
pub fn from_slice_borrowed<'a, T: BorrowDecode<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode_borrowed(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// The schema of a borrowed type, built once per type.
///
/// Keyed by type name, not `TypeId` (which needs `'static`): the name leaves
/// out lifetimes, which do not change a schema, so `Option<&'a str>` for every
/// `'a` shares one entry. Leaked like the owned types' generic schemas: one per
/// type used in the program.
fn schema_by_type_name<T: ?Sized>(json: impl FnOnce() -> Value) -> &'static Schema {
    static SCHEMAS: OnceLock<Mutex<HashMap<&'static str, &'static Schema>>> = OnceLock::new();
    let map = SCHEMAS.get_or_init(Default::default);
    let name = std::any::type_name::<T>();
    if let Some(s) = map.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
        return s;
    }
    // Built outside the lock: building may need other schemas.
    let schema: &'static Schema = Box::leak(Box::new(build_schema(json())));
    map.lock().unwrap_or_else(|p| p.into_inner()).entry(name).or_insert(schema)
}

macro_rules! leaf {
    ($ty:ty, $name:literal, |$r:ident| $dec:expr) => {
        impl<'a> BorrowDecode<'a> for $ty {
            fn schema() -> &'static Schema {
                <Self as SchemaByName<'a>>::schema_by_name()
            }
            fn schema_json(_ctx: &mut SchemaContext) -> Value {
                json!($name)
            }
            #[inline]
            fn decode_borrowed($r: &mut Reader<'a>) -> Result<Self, DecodeError> {
                $dec
            }
        }
    };
}

/// `schema()` of the impls here, from their `schema_json`.
trait SchemaByName<'a>: BorrowDecode<'a> {
    fn schema_by_name() -> &'static Schema {
        schema_by_type_name::<Self>(|| Self::schema_json(&mut SchemaContext::new()))
    }
}

impl<'a, T: BorrowDecode<'a>> SchemaByName<'a> for T {}

leaf!(&'a str, "string", |r| r.read_str());
leaf!(&'a [u8], "bytes", |r| r.read_bytes());
leaf!(Cow<'a, str>, "string", |r| r.read_str().map(Cow::Borrowed));
leaf!(Cow<'a, [u8]>, "bytes", |r| r.read_bytes().map(Cow::Borrowed));

/// `Option<T>` is the union `["null", T]`, as for owned types.
impl<'a, T: BorrowDecode<'a>> BorrowDecode<'a> for Option<T> {
    fn schema() -> &'static Schema {
        Self::schema_by_name()
    }
    fn schema_json(ctx: &mut SchemaContext) -> Value {
        json!(["null", T::schema_json(ctx)])
    }
    #[inline]
    fn decode_borrowed(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        match r.read_union_index(2)? {
            0 => Ok(None),
            _ => T::decode_borrowed(r).map(Some).map_err(|e| e.in_branch(1)),
        }
    }
}

/// `Vec<T>` is an array of `T`, as for owned types.
impl<'a, T: BorrowDecode<'a>> BorrowDecode<'a> for Vec<T> {
    fn schema() -> &'static Schema {
        Self::schema_by_name()
    }
    fn schema_json(ctx: &mut SchemaContext) -> Value {
        json!({"type": "array", "items": T::schema_json(ctx)})
    }
    #[inline]
    fn decode_borrowed(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        let mut index = 0u64;
        while let Some(count) = r.read_block_len()? {
            out.reserve(count.min(r.remaining()));
            for _ in 0..count {
                out.push(T::decode_borrowed(r).map_err(|e| e.in_index(index))?);
                index += 1;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{from_slice, to_vec, Avro};

    #[test]
    fn views_read_what_owned_types_read() {
        let v: Vec<Option<String>> = vec![Some("a".into()), None, Some("é".into())];
        let bytes = to_vec(&v);
        let view: Vec<Option<Cow<'_, str>>> = from_slice_borrowed(&bytes).unwrap();
        let owned: Vec<Option<String>> = view.iter().map(|o| o.as_ref().map(|c| c.to_string())).collect();
        assert_eq!(owned, v);
        let raw = to_vec(&vec![1u8, 2, 3]);
        assert_eq!(from_slice_borrowed::<&[u8]>(&raw).unwrap(), &[1, 2, 3]);
    }

    #[test]
    fn views_refuse_what_owned_types_refuse() {
        for bad in [&[2u8, 10, b'a'][..], &[2, 4, 0xff, 0xfe, 0], &[2, 2, b'a'], &[3, 0]] {
            let owned = from_slice::<Vec<String>>(bad).unwrap_err();
            let view = from_slice_borrowed::<Vec<&str>>(bad).unwrap_err();
            assert_eq!(owned, view, "input {bad:?}");
        }
    }

    #[test]
    fn schemas_match_the_owned_types() {
        assert_eq!(
            <Vec<Option<&str>> as BorrowDecode>::schema().canonical_form(),
            <Vec<Option<String>> as Avro>::schema().canonical_form()
        );
        assert_eq!(<Cow<'_, [u8]> as BorrowDecode>::schema().canonical_form(), r#""bytes""#);
    }
}
