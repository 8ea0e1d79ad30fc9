//! Rules that need the whole model: duplicate names, union branches, and
//! field defaults checked against the field's schema.
//!
//! A default is checked here when the macro knows the field's schema from its
//! Rust type (primitives, strings, bytes, fixed, options, arrays and maps of
//! those). Defaults of fields whose type is another derived type are checked
//! by the Avro parser when the schema is first built.

use std::collections::HashMap;

use serde_json::Value;

use crate::ctxt::Ctxt;
use crate::model::{Codec, Container, Field, Kind, Shape, Special};

/// Checks `cont`, recording every problem in `cx`.
pub fn check(cx: &Ctxt, cont: &Container) {
    match &cont.kind {
        Kind::Record { fields, .. } => check_record(cx, fields),
        Kind::Enum { symbols, .. } => {
            let mut seen = HashMap::new();
            for s in symbols {
                if seen.insert(s.name.clone(), ()).is_some() {
                    cx.error_spanned_by(&s.ident, format!("duplicate enum symbol `{}`", s.name));
                }
            }
        }
        Kind::Union { variants } => {
            let mut seen: HashMap<String, String> = HashMap::new();
            for v in variants {
                let key = match &v.value {
                    None => Some("null".to_owned()),
                    Some((_, codec)) => {
                        if matches!(v.shape, Shape::Option(_)) {
                            cx.error_at(
                                v.span,
                                "a union branch cannot be an Option (a union cannot hold a union); \
                                 add a unit variant for null instead",
                            );
                            continue;
                        }
                        branch_key(&v.shape, codec)
                    }
                };
                if let Some(key) = key {
                    if let Some(first) = seen.insert(key.clone(), v.ident.to_string()) {
                        cx.error_at(
                            v.span,
                            format!(
                                "a union holds one branch per type: `{}` and `{first}` are both `{key}`",
                                v.ident
                            ),
                        );
                    }
                }
            }
        }
        Kind::Fixed { .. } => {}
    }
}

fn check_record(cx: &Ctxt, fields: &[Field]) {
    let mut seen: HashMap<&str, &Field> = HashMap::new();
    for f in fields {
        if f.skip {
            if let Some((_, lit)) = &f.default {
                cx.error_spanned_by(
                    lit,
                    "a skipped field is not in the schema and takes `Default::default()`; remove `default`",
                );
            }
            continue;
        }
        if seen.insert(&f.name, f).is_some() {
            cx.error_at(f.span, format!("duplicate Avro field name `{}`", f.name));
        }
        if let Some((value, lit)) = &f.default {
            if let Err(msg) = check_default(&shape_for_default(f), value) {
                cx.error_spanned_by(lit, format!("invalid default for field `{}`: {msg}", f.name));
            }
        }
    }
}

/// A key that two branches of one union may not share (`None`: a named type
/// the macro cannot see; the Avro parser checks it).
fn branch_key(shape: &Shape, codec: &Codec) -> Option<String> {
    if let Codec::Special { special, .. } = codec {
        return Some(match special {
            Special::Annotated { base, .. } => (*base).to_owned(),
            Special::BytesDecimal { .. } => "bytes".to_owned(),
            Special::Uuid => "string".to_owned(),
            Special::Fixed { name, .. } => format!("fixed {name}"),
        });
    }
    Some(
        match shape.unboxed() {
            Shape::Null => "null",
            Shape::Bool => "boolean",
            Shape::Int => "int",
            Shape::Long => "long",
            Shape::Float => "float",
            Shape::Double => "double",
            Shape::String => "string",
            Shape::Bytes => "bytes",
            Shape::Array(_) => "array",
            Shape::Map(_) => "map",
            Shape::Other(tokens) => return Some(format!("type {tokens}")),
            _ => return None,
        }
        .to_owned(),
    )
}

/// What the default must match: the field's shape, with special codecs mapped to their encoding.
enum DefaultShape<'a> {
    Plain(&'a Shape),
    Fixed(usize),
    Bytes,
    Long,
    Int,
    String,
    Optional,
}

fn shape_for_default(f: &Field) -> DefaultShape<'_> {
    let Codec::Special { optional, special } = &f.codec else {
        return DefaultShape::Plain(&f.shape);
    };
    let inner = match special {
        Special::Annotated { base: "int", .. } => DefaultShape::Int,
        Special::Annotated { base: "long", .. } => DefaultShape::Long,
        Special::Annotated { .. } => DefaultShape::String,
        Special::BytesDecimal { .. } => DefaultShape::Bytes,
        Special::Uuid => DefaultShape::String,
        Special::Fixed { size, .. } => DefaultShape::Fixed(*size),
    };
    if *optional {
        DefaultShape::Optional
    } else {
        inner
    }
}

fn check_default(shape: &DefaultShape<'_>, v: &Value) -> Result<(), String> {
    match shape {
        DefaultShape::Plain(s) => check_plain(s, v),
        DefaultShape::Fixed(n) => match v.as_str() {
            Some(s) if s.chars().count() == *n && s.chars().all(|c| (c as u32) < 256) => Ok(()),
            _ => Err(format!("a fixed of {n} bytes takes a string of {n} characters U+0000..U+00FF")),
        },
        DefaultShape::Bytes => check_plain(&Shape::Bytes, v),
        DefaultShape::Long => check_plain(&Shape::Long, v),
        DefaultShape::Int => check_plain(&Shape::Int, v),
        DefaultShape::String => check_plain(&Shape::String, v),
        DefaultShape::Optional => {
            if v.is_null() {
                Ok(())
            } else {
                Err("the default of an Option field must be null (the first branch of [\"null\", T])".into())
            }
        }
    }
}

fn check_plain(shape: &Shape, v: &Value) -> Result<(), String> {
    let ok = match shape {
        Shape::Null => v.is_null(),
        Shape::Bool => v.is_boolean(),
        Shape::Int => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Shape::Long => v.as_i64().is_some(),
        Shape::Float | Shape::Double => v.is_number(),
        Shape::String => v.is_string(),
        Shape::Bytes => v.as_str().is_some_and(|s| s.chars().all(|c| (c as u32) < 256)),
        Shape::Option(_) => {
            return if v.is_null() {
                Ok(())
            } else {
                Err("the default of an Option field must be null (the first branch of [\"null\", T])".into())
            }
        }
        Shape::Array(items) => {
            let Some(arr) = v.as_array() else {
                return Err("expected a JSON array".into());
            };
            for (i, item) in arr.iter().enumerate() {
                check_plain(items, item).map_err(|e| format!("item {i}: {e}"))?;
            }
            true
        }
        Shape::Map(values) => {
            let Some(obj) = v.as_object() else {
                return Err("expected a JSON object".into());
            };
            for (k, item) in obj {
                check_plain(values, item).map_err(|e| format!("key {k:?}: {e}"))?;
            }
            true
        }
        Shape::Boxed(inner) => return check_plain(inner, v),
        // Known to the Avro parser only; checked when the schema is built.
        Shape::Fixed(_) | Shape::I128 | Shape::Other(_) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {}", expected(shape)))
    }
}

fn expected(shape: &Shape) -> &'static str {
    match shape {
        Shape::Null => "null",
        Shape::Bool => "a JSON boolean (boolean)",
        Shape::Int => "a JSON integer within 32 bits (int)",
        Shape::Long => "a JSON integer (long)",
        Shape::Float | Shape::Double => "a JSON number",
        Shape::String => "a JSON string (string)",
        Shape::Bytes => "a JSON string of characters U+0000..U+00FF (bytes)",
        _ => "a value of the field's schema",
    }
}
