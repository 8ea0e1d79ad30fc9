//! Parsing of `#[avro(...)]` attributes into typed settings.
//!
//! One parser reads every key the derive knows, wherever it appears, and
//! remembers the span of each; `model.rs` then says which keys are allowed on
//! a container, a field or a variant. Unknown keys, duplicates and malformed
//! values are reported through the [`Ctxt`] and parsing carries on, so that
//! every mistake is shown at once.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr};

use crate::ctxt::Ctxt;

/// The value of `default`: a bare flag (on an enum variant) or a JSON literal (on a field).
#[derive(Clone)]
pub enum DefaultAttr {
    /// `#[avro(default)]`: this enum symbol is the enum's default.
    Flag(Span),
    /// `#[avro(default = "<JSON>")]`: the field's default value, parsed.
    Json { value: serde_json::Value, lit: LitStr },
}

impl DefaultAttr {
    /// Where the attribute was written.
    pub fn span(&self) -> Span {
        match self {
            DefaultAttr::Flag(span) => *span,
            DefaultAttr::Json { lit, .. } => lit.span(),
        }
    }
}

/// `decimal(precision = P, scale = S)`.
#[derive(Clone, Copy)]
pub struct DecimalAttr {
    pub precision: u32,
    pub scale: u32,
    pub span: Span,
}

/// Every `#[avro(...)]` key, as written; `None` when absent.
#[derive(Default, Clone)]
pub struct Attrs {
    pub name: Option<LitStr>,
    pub namespace: Option<LitStr>,
    pub doc: Option<LitStr>,
    pub aliases: Option<(Vec<LitStr>, Span)>,
    pub krate: Option<(syn::Path, Span)>,
    pub rename: Option<LitStr>,
    pub default: Option<DefaultAttr>,
    pub skip: Option<Span>,
    pub logical: Option<LitStr>,
    pub decimal: Option<DecimalAttr>,
    pub fixed_name: Option<LitStr>,
    pub order: Option<LitStr>,
}

impl Attrs {
    /// Each key present, with its span, for "not allowed here" checks.
    pub fn present(&self) -> Vec<(&'static str, Span)> {
        let mut out = Vec::new();
        let mut push = |key, span: Option<Span>| {
            if let Some(span) = span {
                out.push((key, span));
            }
        };
        push("name", self.name.as_ref().map(LitStr::span));
        push("namespace", self.namespace.as_ref().map(LitStr::span));
        push("doc", self.doc.as_ref().map(LitStr::span));
        push("aliases", self.aliases.as_ref().map(|a| a.1));
        push("crate", self.krate.as_ref().map(|k| k.1));
        push("rename", self.rename.as_ref().map(LitStr::span));
        push("default", self.default.as_ref().map(DefaultAttr::span));
        push("skip", self.skip);
        push("logical", self.logical.as_ref().map(LitStr::span));
        push("decimal", self.decimal.map(|d| d.span));
        push("fixed_name", self.fixed_name.as_ref().map(LitStr::span));
        push("order", self.order.as_ref().map(LitStr::span));
        out
    }
}

const KEYS: &str =
    "name, namespace, doc, aliases, crate, rename, default, skip, logical, decimal, fixed_name, order";

/// Parses every `#[avro(...)]` among `attrs`.
pub fn parse(cx: &Ctxt, attrs: &[Attribute]) -> Attrs {
    let mut out = Attrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("avro")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let span = meta.path.span();
            macro_rules! set {
                ($slot:expr, $value:expr) => {{
                    let value = $value;
                    if $slot.is_some() {
                        cx.error_at(span, format!("duplicate `{key}` attribute"));
                    } else {
                        $slot = Some(value);
                    }
                }};
            }
            match key.as_str() {
                "name" => set!(out.name, meta.value()?.parse::<LitStr>()?),
                "namespace" => set!(out.namespace, meta.value()?.parse::<LitStr>()?),
                "doc" => set!(out.doc, meta.value()?.parse::<LitStr>()?),
                "rename" => set!(out.rename, meta.value()?.parse::<LitStr>()?),
                "logical" => set!(out.logical, meta.value()?.parse::<LitStr>()?),
                "fixed_name" => set!(out.fixed_name, meta.value()?.parse::<LitStr>()?),
                "order" => set!(out.order, meta.value()?.parse::<LitStr>()?),
                "crate" => {
                    let lit = meta.value()?.parse::<LitStr>()?;
                    match lit.parse::<syn::Path>() {
                        Ok(path) => set!(out.krate, (path, span)),
                        Err(_) => cx.error_spanned_by(&lit, "`crate` must be a path, e.g. \"runnel_avro\""),
                    }
                }
                "aliases" => {
                    let array = meta.value()?.parse::<syn::ExprArray>()?;
                    let mut lits = Vec::new();
                    for elem in &array.elems {
                        match elem {
                            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => lits.push(s.clone()),
                            other => cx.error_spanned_by(other, "aliases are string literals"),
                        }
                    }
                    set!(out.aliases, (lits, span));
                }
                "skip" => set!(out.skip, span),
                "default" => {
                    if meta.input.peek(syn::Token![=]) {
                        let lit = meta.value()?.parse::<LitStr>()?;
                        match serde_json::from_str::<serde_json::Value>(&lit.value()) {
                            Ok(value) => set!(out.default, DefaultAttr::Json { value, lit }),
                            Err(e) => cx.error_spanned_by(
                                &lit,
                                format!("`default` must be a JSON value (e.g. \"null\", \"0\", \"\\\"text\\\"\"): {e}"),
                            ),
                        }
                    } else {
                        set!(out.default, DefaultAttr::Flag(span));
                    }
                }
                "decimal" => {
                    let mut precision = None;
                    let mut scale = None;
                    meta.parse_nested_meta(|inner| {
                        let lit = inner.value()?.parse::<syn::LitInt>()?;
                        let value = lit.base10_parse::<u32>()?;
                        if inner.path.is_ident("precision") {
                            precision = Some(value);
                        } else if inner.path.is_ident("scale") {
                            scale = Some(value);
                        } else {
                            return Err(inner.error("expected `precision` or `scale`"));
                        }
                        Ok(())
                    })?;
                    match precision {
                        Some(precision) => set!(
                            out.decimal,
                            DecimalAttr { precision, scale: scale.unwrap_or(0), span }
                        ),
                        None => cx.error_at(span, "`decimal` needs `precision = P` (and optionally `scale = S`)"),
                    }
                }
                _ => {
                    cx.error_at(span, format!("unknown avro attribute `{key}`; expected one of: {KEYS}"));
                    // Consume a value if one follows, so that parsing can continue.
                    if meta.input.peek(syn::Token![=]) {
                        let _ = meta.value()?.parse::<syn::Expr>()?;
                    } else if meta.input.peek(syn::token::Paren) {
                        meta.parse_nested_meta(|_| Ok(()))?;
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.syn_error(e);
        }
    }
    out
}

/// The span of the first `#[avro(...)]` among `attrs`, for places that take none.
pub fn first_avro_attr(attrs: &[Attribute]) -> Option<Span> {
    attrs.iter().find(|a| a.path().is_ident("avro")).map(|a| a.span())
}
