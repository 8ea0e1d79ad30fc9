//! Generates `Avro::schema` and `Avro::schema_json` from the checked model.
//!
//! The schema is built as JSON at run time by `schema_json`, so that nested
//! derived types contribute their own definitions and each named type is
//! defined once (the [`SchemaContext`] tracks which are). `schema()` parses
//! that JSON once into a static. The constant parts of each definition are
//! computed here, at compile time, and emitted as a literal `Value`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use serde_json::{json, Map, Value};
use syn::spanned::Spanned;

use crate::model::{Codec, Container, FixedLogical, Kind, Named, Special};

/// The `schema` and `schema_json` methods.
pub fn methods(cont: &Container) -> TokenStream {
    let krate = &cont.krate;
    let sj = quote!(#krate::__private::serde_json);
    let body = match &cont.kind {
        Kind::Record { named, fields } => {
            let head = match named_header(named, "record") {
                Value::Object(m) => map_tokens(&sj, &m),
                _ => quote!(#sj::Map::new()),
            };
            let field_values = fields.iter().filter(|f| !f.skip).map(|f| {
                let mut meta = Map::new();
                meta.insert("name".into(), json!(f.name));
                if let Some(doc) = &f.doc {
                    meta.insert("doc".into(), json!(doc));
                }
                let meta = map_tokens(&sj, &meta);
                let ty_schema = value_schema(cont, &f.ty, &f.codec);
                let mut tail = Map::new();
                if let Some((default, _)) = &f.default {
                    tail.insert("default".into(), default.clone());
                }
                if !f.aliases.is_empty() {
                    tail.insert("aliases".into(), json!(f.aliases));
                }
                if let Some(order) = &f.order {
                    tail.insert("order".into(), json!(order));
                }
                let tail = tail.iter().map(|(k, v)| {
                    let v = json_tokens(&sj, v);
                    quote!(field.insert(#k.to_owned(), #v);)
                });
                quote! {{
                    let mut field = #meta;
                    field.insert("type".to_owned(), #ty_schema);
                    #(#tail)*
                    fields.push(#sj::Value::Object(field));
                }}
            });
            let full = named.full_name();
            let n = fields.len();
            quote! {
                if !ctx.define(#full) {
                    return #sj::Value::String(#full.to_owned());
                }
                let mut fields: ::std::vec::Vec<#sj::Value> = ::std::vec::Vec::with_capacity(#n);
                #(#field_values)*
                let mut record = #head;
                record.insert("fields".to_owned(), #sj::Value::Array(fields));
                #sj::Value::Object(record)
            }
        }
        Kind::Enum { named, symbols, default } => {
            let mut head = named_header(named, "enum");
            if let Value::Object(m) = &mut head {
                m.insert("symbols".into(), json!(symbols.iter().map(|s| &s.name).collect::<Vec<_>>()));
                if let Some(d) = default {
                    m.insert("default".into(), json!(d));
                }
            }
            define_or_name(&sj, named, json_tokens(&sj, &head))
        }
        Kind::Fixed { named, size, logical } => {
            let mut head = named_header(named, "fixed");
            if let Value::Object(m) = &mut head {
                m.insert("size".into(), json!(size));
                add_fixed_logical(m, *logical);
            }
            define_or_name(&sj, named, json_tokens(&sj, &head))
        }
        Kind::Union { variants } => {
            let branches = variants.iter().map(|v| match &v.value {
                None => quote!(#sj::Value::String("null".to_owned())),
                Some((ty, codec)) => value_schema(cont, ty, codec),
            });
            quote!(#sj::Value::Array(::std::vec![#(#branches),*]))
        }
    };
    let this = match &cont.borrowed {
        Some(lt) => quote!(#krate::BorrowDecode<#lt>),
        None => quote!(#krate::Avro),
    };
    quote! {
        fn schema() -> &'static #krate::Schema {
            // One static for every lifetime of a borrowing record: lifetimes do not
            // change the schema.
            static SCHEMA: ::std::sync::OnceLock<#krate::Schema> = ::std::sync::OnceLock::new();
            SCHEMA.get_or_init(|| {
                #krate::__private::build_schema(
                    <Self as #this>::schema_json(&mut #krate::SchemaContext::new()),
                )
            })
        }

        fn schema_json(ctx: &mut #krate::SchemaContext) -> #sj::Value {
            let _ = &ctx;
            #body
        }
    }
}

/// `{"type": kind, "name", "namespace", "doc", "aliases"}` of a named type.
fn named_header(named: &Named, kind: &str) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    m.insert("name".into(), json!(named.name));
    // A type without a namespace takes the one of the record it is nested in, as
    // in any Avro schema: give shared types their own namespace.
    if let Some(ns) = &named.namespace {
        m.insert("namespace".into(), json!(ns));
    }
    if let Some(doc) = &named.doc {
        m.insert("doc".into(), json!(doc));
    }
    if !named.aliases.is_empty() {
        m.insert("aliases".into(), json!(named.aliases));
    }
    Value::Object(m)
}

fn add_fixed_logical(m: &mut Map<String, Value>, logical: Option<FixedLogical>) {
    match logical {
        Some(FixedLogical::Decimal { precision, scale }) => {
            m.insert("logicalType".into(), json!("decimal"));
            m.insert("precision".into(), json!(precision));
            m.insert("scale".into(), json!(scale));
        }
        Some(FixedLogical::Duration) => {
            m.insert("logicalType".into(), json!("duration"));
        }
        Some(FixedLogical::Uuid) => {
            m.insert("logicalType".into(), json!("uuid"));
        }
        None => {}
    }
}

/// The definition of a named type the first time, its full name afterwards.
fn define_or_name(sj: &TokenStream, named: &Named, definition: TokenStream) -> TokenStream {
    let full = named.full_name();
    quote! {
        if ctx.define(#full) {
            #definition
        } else {
            #sj::Value::String(#full.to_owned())
        }
    }
}

/// The schema JSON of one value (a field or a union branch).
fn value_schema(cont: &Container, ty: &syn::Type, codec: &Codec) -> TokenStream {
    let krate = &cont.krate;
    let sj = quote!(#krate::__private::serde_json);
    let Codec::Special { optional, special } = codec else {
        // Spanned at the type, so that a missing `Avro` impl is reported on the field.
        if let (true, Some(lt)) = (cont.borrows(ty), &cont.borrowed) {
            return quote_spanned!(ty.span()=> <#ty as #krate::BorrowDecode<#lt>>::schema_json(ctx));
        }
        return quote_spanned!(ty.span()=> <#ty as #krate::Avro>::schema_json(ctx));
    };
    let inner = match special {
        Special::Annotated { base, logical } => {
            json_tokens(&sj, &json!({"type": base, "logicalType": logical}))
        }
        Special::Uuid => json_tokens(&sj, &json!({"type": "string", "logicalType": "uuid"})),
        Special::BytesDecimal { precision, scale, .. } => json_tokens(
            &sj,
            &json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}),
        ),
        Special::Fixed { size, name, namespace, logical } => {
            let named =
                Named { name: name.clone(), namespace: namespace.clone(), doc: None, aliases: Vec::new() };
            let mut head = named_header(&named, "fixed");
            if let Value::Object(m) = &mut head {
                m.insert("size".into(), json!(size));
                add_fixed_logical(m, *logical);
            }
            define_or_name(&sj, &named, json_tokens(&sj, &head))
        }
    };
    if *optional {
        quote!(#sj::Value::Array(::std::vec![#sj::Value::String("null".to_owned()), #inner]))
    } else {
        inner
    }
}

/// Tokens that build `v` at run time.
pub fn json_tokens(sj: &TokenStream, v: &Value) -> TokenStream {
    match v {
        Value::Null => quote!(#sj::Value::Null),
        Value::Bool(b) => quote!(#sj::Value::Bool(#b)),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                quote!(#sj::Value::Number(#sj::Number::from(#u)))
            } else if let Some(i) = n.as_i64() {
                quote!(#sj::Value::Number(#sj::Number::from(#i)))
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                quote!(#sj::Number::from_f64(#f).map_or(#sj::Value::Null, #sj::Value::Number))
            }
        }
        Value::String(s) => quote!(#sj::Value::String(#s.to_owned())),
        Value::Array(items) => {
            let items = items.iter().map(|i| json_tokens(sj, i));
            quote!(#sj::Value::Array(::std::vec![#(#items),*]))
        }
        Value::Object(m) => {
            let map = map_tokens(sj, m);
            quote!(#sj::Value::Object(#map))
        }
    }
}

/// Tokens that build the JSON object `m` (as a `Map`) at run time.
fn map_tokens(sj: &TokenStream, m: &Map<String, Value>) -> TokenStream {
    let entries = m.iter().map(|(k, v)| {
        let v = json_tokens(sj, v);
        quote!(m.insert(#k.to_owned(), #v);)
    });
    quote!({
        let mut m = #sj::Map::new();
        #(#entries)*
        m
    })
}
