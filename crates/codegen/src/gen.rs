//! From parsed Avro schemas to Rust items carrying `#[derive(Avro)]`.
//!
//! Every named type (record, enum, fixed) becomes one Rust type, generated the
//! first time it is met; references use its Rust name. Records become structs,
//! enums become unit-variant enums, fixed become newtypes over `[u8; N]`,
//! `["null", T]` becomes `Option<T>`, and any other union becomes an enum
//! with one variant per branch. Names that are not idiomatic Rust are
//! converted and the Avro name is kept with `rename`/`name`, so the derived
//! schema is the input schema.

use std::collections::{HashMap, HashSet};

use apache_avro::schema::{
    Alias, ArraySchema, EnumSchema, FixedSchema, InnerDecimalSchema, MapSchema, Name, RecordField,
    RecordSchema, UnionSchema, UuidSchema,
};
use apache_avro::Schema;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::Error;

/// What the generated code refers to.
pub struct Options<'a> {
    pub derive_path: &'a str,
    pub crate_path: Option<&'a str>,
    pub extra_derives: &'a [String],
}

/// Generates the items for `schemas` as one file.
pub fn generate(schemas: &[Schema], options: &Options<'_>) -> Result<syn::File, Error> {
    let mut defs = HashMap::new();
    for s in schemas {
        collect_named(s, &mut defs);
    }
    let mut gen = Gen {
        options,
        rust_names: assign_rust_names(&defs),
        defs,
        done: HashSet::new(),
        stack: Vec::new(),
        items: Vec::new(),
        union_names: HashSet::new(),
    };
    for s in schemas {
        gen.ty(s, "", "", Pos::Direct)?;
    }
    let items = gen.items;
    syn::parse2(quote!(#(#items)*)).map_err(|e| Error::Unsupported {
        path: "(generated code)".into(),
        reason: format!("generated code does not parse: {e}"),
    })
}

/// Where a type appears: attributes can describe it only directly in a field
/// (or a union variant, or an Option of it), and `Box` breaks a cycle only
/// where the value is stored inline.
#[derive(Clone, Copy, PartialEq)]
enum Pos {
    Direct,
    Option,
    Union,
    Container,
}

/// A Rust type and the `#[avro(...)]` arguments its field or variant needs.
struct Ty {
    tokens: TokenStream,
    attrs: Vec<TokenStream>,
}

impl Ty {
    fn plain(tokens: TokenStream) -> Ty {
        Ty { tokens, attrs: Vec::new() }
    }
}

struct Gen<'a> {
    options: &'a Options<'a>,
    defs: HashMap<String, Schema>,
    rust_names: HashMap<String, String>,
    done: HashSet<String>,
    /// Records being generated, for `Box` on recursion.
    stack: Vec<String>,
    items: Vec<TokenStream>,
    union_names: HashSet<String>,
}

fn full(name: &Name) -> String {
    name.fullname(None)
}

fn named_of(s: &Schema) -> Option<&Name> {
    match s {
        Schema::Record(RecordSchema { name, .. })
        | Schema::Enum(EnumSchema { name, .. })
        | Schema::Fixed(FixedSchema { name, .. })
        | Schema::Duration(FixedSchema { name, .. }) => Some(name),
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Fixed(f) => Some(&f.name),
            InnerDecimalSchema::Bytes => None,
        },
        Schema::Uuid(UuidSchema::Fixed(f)) => Some(&f.name),
        _ => None,
    }
}

fn collect_named(s: &Schema, defs: &mut HashMap<String, Schema>) {
    if let Some(name) = named_of(s) {
        defs.entry(full(name)).or_insert_with(|| s.clone());
    }
    match s {
        Schema::Record(r) => r.fields.iter().for_each(|f| collect_named(&f.schema, defs)),
        Schema::Array(ArraySchema { items, .. }) => collect_named(items, defs),
        Schema::Map(MapSchema { types, .. }) => collect_named(types, defs),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_named(v, defs)),
        _ => {}
    }
}

/// Rust names: the Avro simple name in PascalCase, prefixed by the namespace when two collide.
fn assign_rust_names(defs: &HashMap<String, Schema>) -> HashMap<String, String> {
    let mut by_simple: HashMap<String, Vec<String>> = HashMap::new();
    for full_name in defs.keys() {
        let simple = full_name.rsplit('.').next().unwrap_or(full_name);
        by_simple.entry(pascal(simple)).or_default().push(full_name.clone());
    }
    let mut out = HashMap::new();
    for (simple, fulls) in by_simple {
        if fulls.len() == 1 {
            out.insert(fulls[0].clone(), simple);
        } else {
            for f in fulls {
                out.insert(f.clone(), f.split('.').map(pascal).collect::<String>());
            }
        }
    }
    out
}

impl Gen<'_> {
    fn derive_attrs(&self) -> TokenStream {
        self.derives_with(&[])
    }

    /// One `#[derive(...)]` (rustfmt would merge several): the configured derives, `Avro`, then `more`.
    fn derives_with(&self, more: &[&str]) -> TokenStream {
        let derive: syn::Path =
            syn::parse_str(self.options.derive_path).unwrap_or_else(|_| syn::parse_quote!(Avro));
        let extra = self.options.extra_derives.iter().filter_map(|d| syn::parse_str::<syn::Path>(d).ok());
        let more = more.iter().map(|m| format_ident!("{}", m));
        quote!(#[derive(#(#extra,)* #derive #(, #more)*)])
    }

    /// The derives of enums and fixed: also `Copy, Eq, Hash` when the derives they build on are there.
    fn value_derives(&self) -> TokenStream {
        let has = |d: &str| self.options.extra_derives.iter().any(|x| x == d);
        let mut extra = Vec::new();
        if has("Clone") {
            extra.push("Copy");
        }
        if has("PartialEq") {
            extra.push("Eq");
            extra.push("Hash");
        }
        self.derives_with(&extra)
    }

    fn crate_attr(&self) -> Option<TokenStream> {
        self.options.crate_path.map(|c| quote!(crate = #c))
    }

    fn rust_ident(&self, name: &Name) -> syn::Ident {
        let fallback = pascal(name.name());
        let s = self.rust_names.get(&full(name)).cloned().unwrap_or(fallback);
        format_ident!("{}", s)
    }

    /// The container attributes of a named type: name (when the Rust name differs), namespace, doc, aliases.
    fn named_attrs(
        &self,
        name: &Name,
        doc: &Option<String>,
        aliases: &Option<Vec<Alias>>,
    ) -> Vec<TokenStream> {
        let mut attrs = Vec::new();
        if let Some(c) = self.crate_attr() {
            attrs.push(c);
        }
        if self.rust_ident(name) != name.name() {
            let n = name.name();
            attrs.push(quote!(name = #n));
        }
        if let Some(ns) = name.namespace() {
            attrs.push(quote!(namespace = #ns));
        }
        if let Some(doc) = doc {
            attrs.push(quote!(doc = #doc));
        }
        if let Some(aliases) = aliases {
            let list = aliases.iter().map(|a| a.fullname(name.namespace()));
            attrs.push(quote!(aliases = [#(#list),*]));
        }
        attrs
    }

    /// Generates the named type `s` once.
    fn define(&mut self, s: &Schema) -> Result<(), Error> {
        let Some(name) = named_of(s) else { return Ok(()) };
        let key = full(name);
        if !self.done.insert(key.clone()) {
            return Ok(());
        }
        let derive = self.derive_attrs();
        let ident = self.rust_ident(name);
        let item = match s {
            Schema::Record(r) => {
                self.stack.push(key.clone());
                let result = self.record(r, &ident);
                self.stack.pop();
                let fields = result?;
                let attrs = avro_attr(self.named_attrs(&r.name, &r.doc, &r.aliases));
                let doc = rust_doc(&r.doc);
                quote! {
                    #doc
                    #derive
                    #attrs
                    pub struct #ident { #(#fields),* }
                }
            }
            Schema::Enum(e) => {
                let attrs = avro_attr(self.named_attrs(&e.name, &e.doc, &e.aliases));
                let variant_names = unique(e.symbols.iter().map(|s| pascal(s)).collect());
                let variants = e.symbols.iter().zip(variant_names).map(|(symbol, v)| {
                    let v = format_ident!("{}", v);
                    let mut va = Vec::new();
                    if v != symbol {
                        va.push(quote!(rename = #symbol));
                    }
                    if e.default.as_deref() == Some(symbol.as_str()) {
                        va.push(quote!(default));
                    }
                    if va.is_empty() {
                        quote!(#v)
                    } else {
                        quote!(#[avro(#(#va),*)] #v)
                    }
                });
                let doc = rust_doc(&e.doc);
                let extra = self.value_derives();
                quote! {
                    #doc
                    #extra
                    #attrs
                    pub enum #ident { #(#variants),* }
                }
            }
            Schema::Fixed(f) => self.fixed(f, &ident, None),
            Schema::Duration(f) => self.fixed(f, &ident, Some(quote!(logical = "duration"))),
            Schema::Uuid(UuidSchema::Fixed(f)) => self.fixed(f, &ident, Some(quote!(logical = "uuid"))),
            Schema::Decimal(d) => match &d.inner {
                InnerDecimalSchema::Fixed(f) => {
                    let (p, sc) = (d.precision as u32, d.scale as u32);
                    self.fixed(f, &ident, Some(quote!(decimal(precision = #p, scale = #sc))))
                }
                InnerDecimalSchema::Bytes => return Ok(()),
            },
            _ => return Ok(()),
        };
        self.items.push(item);
        Ok(())
    }

    fn fixed(&self, f: &FixedSchema, ident: &syn::Ident, logical: Option<TokenStream>) -> TokenStream {
        let mut attrs = self.named_attrs(&f.name, &f.doc, &f.aliases);
        attrs.extend(logical);
        let attrs = avro_attr(attrs);
        let size = proc_macro2::Literal::usize_unsuffixed(f.size);
        let extra = self.value_derives();
        let doc = rust_doc(&f.doc);
        quote! {
            #doc
            #extra
            #attrs
            pub struct #ident(pub [u8; #size]);
        }
    }

    fn record(&mut self, r: &RecordSchema, ident: &syn::Ident) -> Result<Vec<TokenStream>, Error> {
        let idents = unique(r.fields.iter().map(|f| snake(&f.name)).collect());
        let mut fields = Vec::new();
        for (f, field_ident) in r.fields.iter().zip(idents) {
            let ty = self.field_ty(f, &ident.to_string())?;
            let mut attrs = ty.attrs;
            let rust_ident = ident_of(&field_ident);
            if syn::ext::IdentExt::unraw(&rust_ident) != f.name {
                let n = &f.name;
                attrs.push(quote!(rename = #n));
            }
            if let Some(doc) = &f.doc {
                attrs.push(quote!(doc = #doc));
            }
            if !f.aliases.is_empty() {
                let a = &f.aliases;
                attrs.push(quote!(aliases = [#(#a),*]));
            }
            if let Some(default) = &f.default {
                let json = default.to_string();
                attrs.push(quote!(default = #json));
            }
            if let Some(order) = f.custom_attributes.get("order").and_then(|o| o.as_str()) {
                if order != "ascending" {
                    attrs.push(quote!(order = #order));
                }
            }
            let doc = rust_doc(&f.doc);
            let tokens = ty.tokens;
            let attr = (!attrs.is_empty()).then(|| quote!(#[avro(#(#attrs),*)]));
            fields.push(quote!(#doc #attr pub #rust_ident: #tokens));
        }
        Ok(fields)
    }

    fn field_ty(&mut self, f: &RecordField, owner: &str) -> Result<Ty, Error> {
        // `Option<T>` only when the default (if any) is null: a derived Option field's default must be.
        if let Schema::Union(u) = &f.schema {
            if f.default.as_ref().is_some_and(|d| !d.is_null()) {
                return self.union_enum(u, &format!("{owner}{}", pascal(&f.name)));
            }
        }
        self.ty(&f.schema, owner, &f.name, Pos::Direct)
    }

    fn unsupported(&self, what: &str, owner: &str, field: &str) -> Error {
        Error::Unsupported { path: format!("{owner}.{field}"), reason: what.to_owned() }
    }

    /// The Rust type of schema `s`, met in field `field` of `owner` at position `pos`.
    fn ty(&mut self, s: &Schema, owner: &str, field: &str, pos: Pos) -> Result<Ty, Error> {
        let logical = |this: &Self, lt: &str, rust: TokenStream| -> Result<Ty, Error> {
            if pos == Pos::Container {
                return Err(this.unsupported(
                    &format!(
                        "a `{lt}` logical type inside an array or map cannot be expressed by attributes"
                    ),
                    owner,
                    field,
                ));
            }
            Ok(Ty { tokens: rust, attrs: vec![quote!(logical = #lt)] })
        };
        Ok(match s {
            Schema::Null => Ty::plain(quote!(())),
            Schema::Boolean => Ty::plain(quote!(bool)),
            Schema::Int => Ty::plain(quote!(i32)),
            Schema::Long => Ty::plain(quote!(i64)),
            Schema::Float => Ty::plain(quote!(f32)),
            Schema::Double => Ty::plain(quote!(f64)),
            Schema::Bytes => Ty::plain(quote!(Vec<u8>)),
            Schema::String => Ty::plain(quote!(String)),
            Schema::Uuid(UuidSchema::String) => logical(self, "uuid", quote!(String))?,
            Schema::Date => logical(self, "date", quote!(i32))?,
            Schema::TimeMillis => logical(self, "time-millis", quote!(i32))?,
            Schema::TimeMicros => logical(self, "time-micros", quote!(i64))?,
            Schema::TimestampMillis => logical(self, "timestamp-millis", quote!(i64))?,
            Schema::TimestampMicros => logical(self, "timestamp-micros", quote!(i64))?,
            Schema::TimestampNanos => logical(self, "timestamp-nanos", quote!(i64))?,
            Schema::LocalTimestampMillis => logical(self, "local-timestamp-millis", quote!(i64))?,
            Schema::LocalTimestampMicros => logical(self, "local-timestamp-micros", quote!(i64))?,
            Schema::LocalTimestampNanos => logical(self, "local-timestamp-nanos", quote!(i64))?,
            Schema::Decimal(d) if matches!(d.inner, InnerDecimalSchema::Bytes) => {
                if pos == Pos::Container {
                    return Err(self.unsupported("a bytes decimal inside an array or map", owner, field));
                }
                let (p, sc) = (d.precision as u32, d.scale as u32);
                let tokens = if p <= 38 { quote!(i128) } else { quote!(Vec<u8>) };
                Ty { tokens, attrs: vec![quote!(decimal(precision = #p, scale = #sc))] }
            }
            Schema::Uuid(UuidSchema::Bytes) => {
                return Err(self.unsupported(
                    "a uuid on bytes is not in the Avro specification",
                    owner,
                    field,
                ))
            }
            Schema::BigDecimal => return Err(self.unsupported("big-decimal is not supported", owner, field)),
            Schema::Array(a) => {
                let inner = self.ty(&a.items, owner, &format!("{field}_item"), Pos::Container)?;
                let t = inner.tokens;
                Ty::plain(quote!(Vec<#t>))
            }
            Schema::Map(m) => {
                let inner = self.ty(&m.types, owner, &format!("{field}_value"), Pos::Container)?;
                let t = inner.tokens;
                Ty::plain(quote!(::std::collections::HashMap<String, #t>))
            }
            Schema::Union(u) => {
                let v = u.variants();
                if v.len() == 2 && matches!(v[0], Schema::Null) && !matches!(v[1], Schema::Null) {
                    let inner = self.ty(&v[1], owner, field, Pos::Option)?;
                    let t = inner.tokens;
                    Ty { tokens: quote!(Option<#t>), attrs: inner.attrs }
                } else {
                    let hint = format!("{owner}{}", pascal(field));
                    self.union_enum(u, &hint)?
                }
            }
            Schema::Ref { name } => {
                let key = full(name);
                let def = self.defs.get(&key).cloned();
                if let Some(def) = def {
                    self.define(&def)?;
                }
                self.named_ref(name, pos)
            }
            named => {
                self.define(named)?;
                match named_of(named) {
                    Some(name) => self.named_ref(name, pos),
                    None => return Err(self.unsupported("this schema", owner, field)),
                }
            }
        })
    }

    fn named_ref(&self, name: &Name, pos: Pos) -> Ty {
        let ident = self.rust_ident(name);
        // A record being generated, stored inline, needs a Box to have a size.
        if self.stack.contains(&full(name)) && pos != Pos::Container {
            Ty::plain(quote!(Box<#ident>))
        } else {
            Ty::plain(quote!(#ident))
        }
    }

    /// A general union as an enum named `hint` (made unique), one variant per branch.
    fn union_enum(&mut self, u: &UnionSchema, hint: &str) -> Result<Ty, Error> {
        let mut name = pascal(hint);
        while self.union_names.contains(&name) || self.rust_names.values().any(|n| *n == name) {
            name.push('_');
        }
        self.union_names.insert(name.clone());
        let ident = format_ident!("{}", name);
        let mut variants = Vec::new();
        let mut used = HashSet::new();
        for branch in u.variants() {
            let mut vname = match branch {
                Schema::Null => "Null".to_owned(),
                Schema::Ref { name } => self.rust_ident(name).to_string(),
                other => match named_of(other) {
                    Some(n) => self.rust_ident(n).to_string(),
                    None => format!("{:?}", apache_avro::schema::SchemaKind::from(other)),
                },
            };
            while !used.insert(vname.clone()) {
                vname.push('_');
            }
            let v = format_ident!("{}", vname);
            if matches!(branch, Schema::Null) {
                variants.push(quote!(#v));
                continue;
            }
            let ty = self.ty(branch, &name, &vname, Pos::Union)?;
            let t = ty.tokens;
            let attrs = ty.attrs;
            let attr = (!attrs.is_empty()).then(|| quote!(#[avro(#(#attrs),*)]));
            variants.push(quote!(#attr #v(#t)));
        }
        let derive = self.derive_attrs();
        let crate_attr = self.crate_attr().map(|c| quote!(#[avro(#c)]));
        self.items.push(quote! {
            #[doc = " An Avro union: one variant per branch."]
            #derive
            #crate_attr
            #[allow(clippy::large_enum_variant)]
            pub enum #ident { #(#variants),* }
        });
        Ok(Ty::plain(quote!(#ident)))
    }
}

/// `#[avro(...)]` with `args`, or nothing when there are none.
fn avro_attr(args: Vec<TokenStream>) -> Option<TokenStream> {
    (!args.is_empty()).then(|| quote!(#[avro(#(#args),*)]))
}

fn rust_doc(doc: &Option<String>) -> Option<TokenStream> {
    doc.as_ref().map(|d| {
        let lines = d.lines().map(|l| format!(" {l}"));
        quote!(#(#[doc = #lines])*)
    })
}

/// `user_id`, `userId`, `UserID`, `MD5` → `UserId`, `UserId`, `UserID`, `Md5`.
pub fn pascal(s: &str) -> String {
    let mut out = String::new();
    for part in s.split(['_', '-', '.']).filter(|p| !p.is_empty()) {
        let all_upper = part.chars().all(|c| !c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            if all_upper {
                out.extend(chars.map(|c| c.to_ascii_lowercase()));
            } else {
                out.extend(chars);
            }
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// `userId`, `UserID`, `user_id` → `user_id`, `user_id`, `user_id`.
pub fn snake(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && !out.ends_with('_') && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'f');
    }
    out
}

/// A field identifier: raw for keywords, with a trailing `_` for those that cannot be raw.
fn ident_of(name: &str) -> syn::Ident {
    if let Ok(ident) = syn::parse_str::<syn::Ident>(name) {
        return ident;
    }
    match name {
        "self" | "super" | "crate" | "Self" | "_" => format_ident!("{}_", name),
        _ => format_ident!("r#{}", name),
    }
}

/// Makes names unique by appending `_` (after conversion two Avro names may meet).
fn unique(names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .into_iter()
        .map(|mut n| {
            while !seen.insert(n.clone()) {
                n.push('_');
            }
            n
        })
        .collect()
}
