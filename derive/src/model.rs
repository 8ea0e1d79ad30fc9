//! The checked model the generators work from.
//!
//! `from_ast` turns a `DeriveInput` into a [`Container`]: which Avro type it
//! is (record, enum, union or fixed), its names, and for each field the Avro
//! shape of its Rust type and how it is encoded. Everything the user can get
//! wrong is reported through the [`Ctxt`] here or in `check.rs`; the generators
//! (`schema.rs`, `encode.rs`, `decode.rs`) never fail.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, LitStr, PathArguments, Type};

use crate::attr::{self, Attrs, DefaultAttr};
use crate::ctxt::Ctxt;

/// The type being derived.
pub struct Container {
    pub ident: Ident,
    /// The path generated code uses for the runtime (`::runnel::avro` unless `crate = ...`).
    pub krate: TokenStream,
    pub kind: Kind,
    /// The lifetime of a record that borrows from its input (`struct UserRef<'a>`):
    /// it derives `BorrowDecode<'a>` (a decode whose strings and bytes point into
    /// the input) instead of `Avro`.
    pub borrowed: Option<syn::Lifetime>,
}

impl Container {
    /// Whether a value of type `ty` is read through `BorrowDecode` (it names a
    /// lifetime, in a borrowing record) rather than through `Avro`.
    pub fn borrows(&self, ty: &Type) -> bool {
        self.borrowed.is_some() && mentions_lifetime(ty)
    }
}

/// Whether `ty` names a lifetime or is a reference, i.e. cannot be an `Avro` (`'static`) type.
pub fn mentions_lifetime(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Punct(p) => p.as_char() == '\'' || p.as_char() == '&',
            proc_macro2::TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(quote!(#ty))
}

/// A named Avro type's name and metadata.
pub struct Named {
    pub name: String,
    pub namespace: Option<String>,
    pub doc: Option<String>,
    pub aliases: Vec<String>,
}

impl Named {
    /// The full name, `namespace.name` or `name`.
    pub fn full_name(&self) -> String {
        match &self.namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Which Avro type the Rust type becomes.
pub enum Kind {
    /// A struct with named fields.
    Record { named: Named, fields: Vec<Field> },
    /// An enum of unit variants.
    Enum { named: Named, symbols: Vec<Symbol>, default: Option<String> },
    /// An enum whose variants each hold one value (or none, for `null`).
    Union { variants: Vec<Variant> },
    /// A newtype over `[u8; N]`.
    Fixed { named: Named, size: usize, logical: Option<FixedLogical> },
}

/// One record field.
pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub shape: Shape,
    /// The Avro field name.
    pub name: String,
    pub aliases: Vec<String>,
    pub doc: Option<String>,
    pub order: Option<String>,
    pub default: Option<(serde_json::Value, LitStr)>,
    pub skip: bool,
    pub codec: Codec,
    pub span: Span,
}

/// One symbol of an Avro enum.
pub struct Symbol {
    pub ident: Ident,
    pub name: String,
}

/// One branch of a union.
pub struct Variant {
    pub ident: Ident,
    /// `None`: a unit variant, the `null` branch.
    pub value: Option<(Type, Codec)>,
    pub shape: Shape,
    pub span: Span,
}

/// The Avro shape of a Rust type, as far as the macro can see it from the syntax.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Null,
    Bool,
    Int,
    Long,
    Float,
    Double,
    String,
    Bytes,
    Fixed(usize),
    I128,
    Option(Box<Shape>),
    Array(Box<Shape>),
    Map(Box<Shape>),
    Boxed(Box<Shape>),
    /// A type the macro does not know: it must implement `Avro` itself.
    Other(String),
}

impl Shape {
    /// The shape with any `Box` removed.
    pub fn unboxed(&self) -> &Shape {
        match self {
            Shape::Boxed(inner) => inner.unboxed(),
            other => other,
        }
    }
}

/// How a value is encoded and what schema it has.
#[derive(Clone)]
pub enum Codec {
    /// Through the type's own `Avro` impl.
    Trait,
    /// Something the macro writes itself; `optional` wraps it in `["null", _]` (`Option<_>`).
    Special { optional: bool, special: Special },
}

/// The codecs the macro writes itself.
#[derive(Clone)]
pub enum Special {
    /// A primitive with a logical type (same bytes as the primitive: the trait encodes it).
    Annotated { base: &'static str, logical: String },
    /// A bytes decimal; `i128` says whether the Rust value is an `i128` (else raw `Vec<u8>`).
    BytesDecimal { precision: u32, scale: u32, i128: bool },
    /// A `uuid::Uuid` as a `uuid` string (hyphenated, lowercase).
    Uuid,
    /// A `[u8; N]` as a named fixed.
    Fixed { size: usize, name: String, namespace: Option<String>, logical: Option<FixedLogical> },
}

/// Logical types that annotate a fixed.
#[derive(Clone, Copy)]
pub enum FixedLogical {
    Decimal { precision: u32, scale: u32 },
    Duration,
    Uuid,
}

/// The logical types on primitives, and the primitive each annotates.
const LOGICAL: &[(&str, &str)] = &[
    ("uuid", "string"),
    ("date", "int"),
    ("time-millis", "int"),
    ("time-micros", "long"),
    ("timestamp-millis", "long"),
    ("timestamp-micros", "long"),
    ("timestamp-nanos", "long"),
    ("local-timestamp-millis", "long"),
    ("local-timestamp-micros", "long"),
    ("local-timestamp-nanos", "long"),
];

/// Whether `s` is a valid Avro simple name.
pub fn is_avro_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` is a valid Avro full name (dot-separated simple names).
pub fn is_avro_full_name(s: &str) -> bool {
    s.split('.').all(is_avro_name)
}

/// Builds the model, recording every problem in `cx`. Returns `None` only when
/// the input's form is unusable (errors are then already recorded).
pub fn from_ast(cx: &Ctxt, input: &DeriveInput) -> Option<Container> {
    let attrs = attr::parse(cx, &input.attrs);
    let generics = &input.generics;
    let lifetimes: Vec<_> = generics.lifetimes().collect();
    let borrowed = match lifetimes.as_slice() {
        [one] if generics.params.len() == 1 && one.bounds.is_empty() => {
            if !matches!(&input.data, Data::Struct(d) if matches!(d.fields, Fields::Named(_))) {
                cx.error_spanned_by(
                    generics,
                    "only a record (a struct with named fields) can borrow from the input; \
                     use owned types (String, Vec<u8>) here",
                );
            }
            Some(one.lifetime.clone())
        }
        _ => {
            if !generics.params.is_empty() {
                cx.error_spanned_by(
                    generics,
                    "#[derive(Avro)] does not support generic types: an Avro schema names one concrete type; \
                     define a concrete struct per instantiation (one lifetime, `struct UserRef<'a>`, \
                     is allowed: it makes a view that borrows from the input)",
                );
            }
            None
        }
    };
    let krate = match &attrs.krate {
        Some((path, _)) => quote!(#path),
        None => quote!(::runnel::avro),
    };
    let ident = input.ident.clone();
    let kind = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                allow(cx, &attrs, &["name", "namespace", "doc", "aliases", "crate"], "on a record struct");
                let named_ty = named_type(cx, &attrs, &ident);
                let fields = named
                    .named
                    .iter()
                    .filter_map(|f| field(cx, f, &named_ty, borrowed.is_some()))
                    .collect::<Vec<_>>();
                Kind::Record { named: named_ty, fields }
            }
            Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
                let ty = &unnamed.unnamed[0].ty;
                let Shape::Fixed(size) = shape_of(ty) else {
                    cx.error_spanned_by(
                        ty,
                        "a tuple struct derives Avro only as a `fixed`: its one field must be `[u8; N]`",
                    );
                    return None;
                };
                allow(
                    cx,
                    &attrs,
                    &["name", "namespace", "doc", "aliases", "crate", "logical", "decimal"],
                    "on a fixed newtype",
                );
                if let Some(a) = attr::first_avro_attr(&unnamed.unnamed[0].attrs) {
                    cx.error_at(a, "attributes of a fixed go on the struct, not its field");
                }
                let named = named_type(cx, &attrs, &ident);
                let logical = fixed_logical(cx, &attrs, size);
                Kind::Fixed { named, size, logical }
            }
            _ => {
                cx.error_spanned_by(
                    &input.ident,
                    "#[derive(Avro)] needs a struct with named fields (a record), a newtype over `[u8; N]` \
                     (a fixed), or an enum",
                );
                return None;
            }
        },
        Data::Enum(data) => {
            if data.variants.is_empty() {
                cx.error_spanned_by(&input.ident, "an Avro enum or union needs at least one variant");
                return None;
            }
            let all_unit = data.variants.iter().all(|v| matches!(v.fields, Fields::Unit));
            if all_unit {
                allow(cx, &attrs, &["name", "namespace", "doc", "aliases", "crate"], "on an enum");
                let named = named_type(cx, &attrs, &ident);
                let mut symbols = Vec::new();
                let mut default: Option<(String, Span)> = None;
                for v in &data.variants {
                    let va = attr::parse(cx, &v.attrs);
                    allow(cx, &va, &["rename", "default"], "on an enum symbol");
                    let name = va.rename.as_ref().map(LitStr::value).unwrap_or_else(|| v.ident.to_string());
                    if let Some(r) = &va.rename {
                        if !is_avro_name(&name) {
                            cx.error_spanned_by(r, format!("`{name}` is not a valid Avro enum symbol"));
                        }
                    }
                    match &va.default {
                        Some(DefaultAttr::Flag(span)) => {
                            if let Some((first, _)) = &default {
                                cx.error_at(
                                    *span,
                                    format!("only one symbol can be the enum default (`{first}` already is)"),
                                );
                            } else {
                                default = Some((name.clone(), *span));
                            }
                        }
                        Some(DefaultAttr::Json { lit, .. }) => cx.error_spanned_by(
                            lit,
                            "on an enum symbol, write `#[avro(default)]` to make it the enum's default",
                        ),
                        None => {}
                    }
                    symbols.push(Symbol { ident: v.ident.clone(), name });
                }
                Kind::Enum { named, symbols, default: default.map(|d| d.0) }
            } else {
                allow(cx, &attrs, &["crate"], "on a union (an Avro union has no name)");
                let mut variants = Vec::new();
                for v in &data.variants {
                    let va = attr::parse(cx, &v.attrs);
                    allow(cx, &va, &["logical", "decimal", "fixed_name"], "on a union variant");
                    match &v.fields {
                        Fields::Unit => {
                            variants.push(Variant { ident: v.ident.clone(), value: None, shape: Shape::Null, span: v.span() })
                        }
                        Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                            let ty = f.unnamed[0].ty.clone();
                            refuse_borrowed(cx, &ty);
                            let shape = shape_of(&ty);
                            let owner = Named { name: ident.to_string(), namespace: None, doc: None, aliases: vec![] };
                            let codec = codec(cx, &ty, &shape, &va, &owner, &v.ident.to_string());
                            variants.push(Variant {
                                ident: v.ident.clone(),
                                value: Some((ty, codec)),
                                shape,
                                span: v.span(),
                            });
                        }
                        _ => cx.error_spanned_by(
                            &v.ident,
                            "a union variant holds exactly one unnamed value, e.g. `Text(String)`, or none (the null branch)",
                        ),
                    }
                }
                Kind::Union { variants }
            }
        }
        Data::Union(u) => {
            cx.error_spanned_by(u.union_token, "#[derive(Avro)] does not support Rust unions");
            return None;
        }
    };
    Some(Container { ident, krate, kind, borrowed })
}

/// Reports every key of `attrs` not in `allowed`.
fn allow(cx: &Ctxt, attrs: &Attrs, allowed: &[&str], place: &str) {
    for (key, span) in attrs.present() {
        if !allowed.contains(&key) {
            cx.error_at(
                span,
                format!("`{key}` is not allowed {place}; allowed here: {}", allowed.join(", ")),
            );
        }
    }
}

fn named_type(cx: &Ctxt, attrs: &Attrs, ident: &Ident) -> Named {
    let mut name = ident.to_string();
    let mut namespace = attrs.namespace.as_ref().map(LitStr::value);
    if let Some(lit) = &attrs.name {
        let value = lit.value();
        // A dotted name carries its namespace, as in Avro.
        if let Some((ns, simple)) = value.rsplit_once('.') {
            if namespace.is_some() {
                cx.error_spanned_by(lit, "a dotted `name` already carries a namespace; drop `namespace`");
            }
            namespace = Some(ns.to_owned());
            name = simple.to_owned();
        } else {
            name = value;
        }
        if !is_avro_full_name(&lit.value()) {
            cx.error_spanned_by(lit, format!("`{}` is not a valid Avro name", lit.value()));
        }
    }
    if let (Some(ns), Some(lit)) = (&namespace, &attrs.namespace) {
        if !ns.is_empty() && !is_avro_full_name(ns) {
            cx.error_spanned_by(lit, format!("`{ns}` is not a valid Avro namespace"));
        }
    }
    let aliases = aliases(cx, attrs);
    Named { name, namespace, doc: attrs.doc.as_ref().map(LitStr::value), aliases }
}

fn aliases(cx: &Ctxt, attrs: &Attrs) -> Vec<String> {
    let mut out = Vec::new();
    for lit in attrs.aliases.iter().flat_map(|a| a.0.iter()) {
        if !is_avro_full_name(&lit.value()) {
            cx.error_spanned_by(lit, format!("`{}` is not a valid Avro name", lit.value()));
        }
        out.push(lit.value());
    }
    out
}

/// Reports a borrowed type where only owned ones can go (a record without a lifetime, a union).
fn refuse_borrowed(cx: &Ctxt, ty: &Type) {
    if mentions_lifetime(ty) {
        cx.error_spanned_by(
            ty,
            "a borrowed field needs a record with a lifetime (`struct UserRef<'a> { name: &'a str }`), \
             which derives a decode that borrows from the input; or use an owned type (String, Vec<u8>)",
        );
    }
}

fn field(cx: &Ctxt, f: &syn::Field, owner: &Named, borrowed: bool) -> Option<Field> {
    let ident = f.ident.clone()?;
    let attrs = attr::parse(cx, &f.attrs);
    let rust_name = syn::ext::IdentExt::unraw(&ident).to_string();
    let name = attrs.rename.as_ref().map(LitStr::value).unwrap_or_else(|| rust_name.clone());
    if let Some(r) = &attrs.rename {
        if !is_avro_name(&name) {
            cx.error_spanned_by(r, format!("`{name}` is not a valid Avro field name"));
        }
    }
    let default = match &attrs.default {
        Some(DefaultAttr::Json { value, lit }) => Some((value.clone(), lit.clone())),
        Some(DefaultAttr::Flag(span)) => {
            cx.error_at(*span, "a field's default is a JSON value: `#[avro(default = \"<JSON>\")]`");
            None
        }
        None => None,
    };
    if let Some(order) = &attrs.order {
        if !["ascending", "descending", "ignore"].contains(&order.value().as_str()) {
            cx.error_spanned_by(order, "`order` is one of \"ascending\", \"descending\", \"ignore\"");
        }
    }
    if !borrowed {
        refuse_borrowed(cx, &f.ty);
    }
    let shape = shape_of(&f.ty);
    let skip = attrs.skip.is_some();
    let codec = if skip { Codec::Trait } else { codec(cx, &f.ty, &shape, &attrs, owner, &rust_name) };
    Some(Field {
        ident,
        ty: f.ty.clone(),
        shape,
        name,
        aliases: aliases(cx, &attrs),
        doc: attrs.doc.as_ref().map(LitStr::value),
        order: attrs.order.as_ref().map(LitStr::value),
        default,
        skip,
        codec,
        span: f.span(),
    })
}

/// Decides how a value of type `ty` is encoded, from its shape and its attributes.
fn codec(cx: &Ctxt, ty: &Type, shape: &Shape, attrs: &Attrs, owner: &Named, field: &str) -> Codec {
    let (optional, base) = match shape {
        Shape::Option(inner) => (true, inner.as_ref()),
        other => (false, other),
    };
    if let Some(fixed_name) = &attrs.fixed_name {
        if !matches!(base, Shape::Fixed(_)) {
            cx.error_spanned_by(fixed_name, "`fixed_name` applies to `[u8; N]` values");
        } else if !is_avro_full_name(&fixed_name.value()) {
            cx.error_spanned_by(fixed_name, format!("`{}` is not a valid Avro name", fixed_name.value()));
        }
    }
    if let (Some(logical), Some(decimal)) = (&attrs.logical, &attrs.decimal) {
        cx.error_at(
            decimal.span,
            format!("`decimal` and `logical = \"{}\"` exclude each other", logical.value()),
        );
        return Codec::Trait;
    }
    let fixed = |size: usize, logical: Option<FixedLogical>| {
        let (name, namespace) = match &attrs.fixed_name {
            Some(lit) => {
                let v = lit.value();
                match v.rsplit_once('.') {
                    Some((ns, n)) => (n.to_owned(), Some(ns.to_owned())),
                    None => (v, owner.namespace.clone()),
                }
            }
            None => (format!("{}{}", owner.name, pascal(field)), owner.namespace.clone()),
        };
        Codec::Special { optional, special: Special::Fixed { size, name, namespace, logical } }
    };
    if let Some(decimal) = attrs.decimal {
        let (precision, scale) = (decimal.precision, decimal.scale);
        if precision == 0 || scale > precision {
            cx.error_at(decimal.span, "a decimal needs precision >= 1 and scale <= precision");
        }
        return match base {
            Shape::I128 => {
                if precision > 38 {
                    cx.error_at(
                        decimal.span,
                        "an i128 holds at most 38 decimal digits; use Vec<u8> for more",
                    );
                }
                Codec::Special { optional, special: Special::BytesDecimal { precision, scale, i128: true } }
            }
            Shape::Bytes => {
                Codec::Special { optional, special: Special::BytesDecimal { precision, scale, i128: false } }
            }
            Shape::Fixed(size) => {
                let max = max_decimal_digits(*size);
                if u64::from(precision) > max {
                    cx.error_at(
                        decimal.span,
                        format!("a fixed of {size} bytes holds at most {max} decimal digits"),
                    );
                }
                fixed(*size, Some(FixedLogical::Decimal { precision, scale }))
            }
            _ => {
                cx.error_spanned_by(
                    ty,
                    "`decimal` applies to i128, Vec<u8> or [u8; N] (or an Option of one)",
                );
                Codec::Trait
            }
        };
    }
    if let Some(lit) = &attrs.logical {
        let logical = lit.value();
        if logical == "duration" || (logical == "uuid" && matches!(base, Shape::Fixed(_))) {
            let wanted = if logical == "duration" { 12 } else { 16 };
            return match base {
                Shape::Fixed(size) if *size == wanted => fixed(
                    *size,
                    Some(if logical == "duration" { FixedLogical::Duration } else { FixedLogical::Uuid }),
                ),
                _ => {
                    cx.error_spanned_by(
                        ty,
                        format!("logical type `{logical}` on a fixed needs `[u8; {wanted}]`"),
                    );
                    Codec::Trait
                }
            };
        }
        let Some(&(_, primitive)) = LOGICAL.iter().find(|(l, _)| *l == logical) else {
            cx.error_spanned_by(
                lit,
                format!(
                    "unknown logical type `{logical}`; expected one of: {}, duration (or `decimal(precision = P, scale = S)`)",
                    LOGICAL.iter().map(|l| l.0).collect::<Vec<_>>().join(", ")
                ),
            );
            return Codec::Trait;
        };
        if logical == "uuid" && matches!(base, Shape::Other(t) if t == "Uuid" || t.ends_with(":: Uuid")) {
            return Codec::Special { optional, special: Special::Uuid };
        }
        let ok = matches!(
            (primitive, base),
            ("string", Shape::String) | ("int", Shape::Int) | ("long", Shape::Long)
        );
        if !ok {
            let rust = match primitive {
                "string" => "String or uuid::Uuid",
                "int" => "i32",
                _ => "i64",
            };
            cx.error_spanned_by(ty, format!("logical type `{logical}` annotates `{primitive}`: the field must be {rust} or Option<{rust}>"));
            return Codec::Trait;
        }
        return Codec::Special { optional, special: Special::Annotated { base: primitive, logical } };
    }
    if let Shape::Fixed(size) = base {
        return fixed(*size, None);
    }
    check_supported(cx, ty, shape);
    Codec::Trait
}

/// Reports the Rust types the `Avro` trait cannot carry, with a hint each.
fn check_supported(cx: &Ctxt, ty: &Type, shape: &Shape) {
    let problem = |s: &Shape| -> Option<String> {
        fn walk(s: &Shape) -> Option<String> {
            match s {
                Shape::I128 => Some("an i128 is an Avro decimal: add `#[avro(decimal(precision = P, scale = S))]`".into()),
                Shape::Fixed(_) => Some("`[u8; N]` is a fixed only as a field's own type or an Option of it; wrap it in a newtype that derives Avro".into()),
                Shape::Option(inner) if matches!(**inner, Shape::Option(_)) => {
                    Some("Option<Option<T>> has no Avro schema (a union cannot hold a union)".into())
                }
                Shape::Option(inner) | Shape::Array(inner) | Shape::Map(inner) | Shape::Boxed(inner) => walk(inner),
                Shape::Other(msg) if msg.starts_with('!') => Some(msg[1..].to_owned()),
                _ => None,
            }
        }
        walk(s)
    };
    if let Some(msg) = problem(shape) {
        cx.error_spanned_by(ty, msg);
    }
}

/// The most decimal digits a two's-complement number of `size` bytes always holds.
fn max_decimal_digits(size: usize) -> u64 {
    if size == 0 {
        return 0;
    }
    // floor(log10(2^(8*size - 1) - 1))
    ((8.0 * size as f64 - 1.0) * std::f64::consts::LOG10_2).floor() as u64
}

/// `user_id` → `UserId`.
pub fn pascal(s: &str) -> String {
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The Avro shape of a Rust type, from its syntax. Unsupported types become
/// `Shape::Other("!<reason>")` so the caller can report them with their span.
pub fn shape_of(ty: &Type) -> Shape {
    match ty {
        Type::Paren(p) => shape_of(&p.elem),
        Type::Group(g) => shape_of(&g.elem),
        Type::Tuple(t) if t.elems.is_empty() => Shape::Null,
        Type::Array(a) => {
            let elem_is_u8 = matches!(&*a.elem, Type::Path(p) if p.path.is_ident("u8"));
            let len = match &a.len {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(n), .. }) => n.base10_parse::<usize>().ok(),
                _ => None,
            };
            match (elem_is_u8, len) {
                (true, Some(n)) => Shape::Fixed(n),
                (true, None) => {
                    Shape::Other("!the size of a fixed `[u8; N]` must be an integer literal".into())
                }
                _ => Shape::Other("!arrays other than `[u8; N]` have no Avro schema; use Vec<T>".into()),
            }
        }
        // Borrowed views (in a record with a lifetime): `&str` and `&[u8]` have the
        // schemas of `String` and `Vec<u8>`.
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) if p.path.is_ident("str") => Shape::String,
            Type::Slice(s) if matches!(&*s.elem, Type::Path(p) if p.path.is_ident("u8")) => Shape::Bytes,
            _ => Shape::Other(
                "!only strings and bytes are borrowed (`&'a str`, `&'a [u8]`, or `Cow` of them)".into(),
            ),
        },
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return Shape::Other(String::new());
            };
            let args: Vec<&Type> = match &last.arguments {
                PathArguments::AngleBracketed(a) => a
                    .args
                    .iter()
                    .filter_map(|g| match g {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let name = last.ident.to_string();
            match (name.as_str(), args.as_slice()) {
                ("bool", []) => Shape::Bool,
                ("i32", []) => Shape::Int,
                ("i64", []) => Shape::Long,
                ("f32", []) => Shape::Float,
                ("f64", []) => Shape::Double,
                ("String", []) => Shape::String,
                ("i128", []) => Shape::I128,
                ("u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "isize", []) => {
                    Shape::Other(format!(
                    "!`{name}` has no Avro type: Avro has signed 32-bit `int` (i32) and 64-bit `long` (i64)"
                ))
                }
                ("char" | "str", []) => Shape::Other(format!("!`{name}` has no Avro type; use String")),
                ("Vec", [Type::Path(p)]) if p.path.is_ident("u8") => Shape::Bytes,
                ("Cow", [Type::Path(p)]) if p.path.is_ident("str") => Shape::String,
                ("Cow", [Type::Slice(s)]) if matches!(&*s.elem, Type::Path(p) if p.path.is_ident("u8")) => {
                    Shape::Bytes
                }
                ("Vec", [inner]) => Shape::Array(Box::new(shape_of(inner))),
                ("Option", [inner]) => Shape::Option(Box::new(shape_of(inner))),
                ("Box", [inner]) => Shape::Boxed(Box::new(shape_of(inner))),
                ("HashMap" | "BTreeMap", [key, value, ..]) => {
                    let key_is_string = matches!(key, Type::Path(p)
                        if p.path.segments.last().is_some_and(|s| s.ident == "String" && s.arguments.is_empty()));
                    if key_is_string {
                        Shape::Map(Box::new(shape_of(value)))
                    } else {
                        Shape::Other(
                            "!Avro map keys are strings: use HashMap<String, T> or BTreeMap<String, T>"
                                .into(),
                        )
                    }
                }
                _ => Shape::Other(quote!(#ty).to_string()),
            }
        }
        _ => Shape::Other("!this type has no Avro schema".into()),
    }
}

fn fixed_logical(cx: &Ctxt, attrs: &Attrs, size: usize) -> Option<FixedLogical> {
    if let Some(d) = attrs.decimal {
        if d.precision == 0 || d.scale > d.precision {
            cx.error_at(d.span, "a decimal needs precision >= 1 and scale <= precision");
        }
        let max = max_decimal_digits(size);
        if u64::from(d.precision) > max {
            cx.error_at(d.span, format!("a fixed of {size} bytes holds at most {max} decimal digits"));
        }
        return Some(FixedLogical::Decimal { precision: d.precision, scale: d.scale });
    }
    let lit = attrs.logical.as_ref()?;
    match (lit.value().as_str(), size) {
        ("duration", 12) => Some(FixedLogical::Duration),
        ("uuid", 16) => Some(FixedLogical::Uuid),
        ("duration", _) => {
            cx.error_spanned_by(lit, "a duration is a fixed of 12 bytes");
            None
        }
        ("uuid", _) => {
            cx.error_spanned_by(lit, "a uuid fixed is 16 bytes");
            None
        }
        (other, _) => {
            cx.error_spanned_by(
                lit,
                format!("logical type `{other}` does not apply to a fixed (uuid, duration, or decimal)"),
            );
            None
        }
    }
}
