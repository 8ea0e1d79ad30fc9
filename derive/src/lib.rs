//! `#[derive(Avro)]`: an Avro schema and a direct binary codec for a Rust type.
//!
//! This file is only the entry point: the input is parsed and checked into a
//! small model (`model.rs`, `attr.rs`, `check.rs`), every problem collected
//! with its span (`ctxt.rs`), and code is generated from the checked model
//! (`schema.rs`, `encode.rs`, `decode.rs`). See the `runnel` facade's docs for
//! the supported types and attributes.

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

mod attr;
mod check;
mod ctxt;
mod decode;
mod encode;
mod model;
mod schema;

/// Derives `Avro` (the runtime trait of `runnel::avro`) for a struct with
/// named fields (an Avro record), a newtype over `[u8; N]` (a fixed), an enum
/// of unit variants (an Avro enum) or an enum whose variants each hold one
/// value (an Avro union; a unit variant is its `null` branch).
///
/// Container attributes: `name`, `namespace`, `doc`, `aliases = [..]`,
/// `crate = "path"`; on a fixed also `logical` and `decimal(..)`.
/// Field attributes: `rename`, `aliases`, `doc`, `default = "<JSON>"`, `skip`,
/// `order`, `logical = "<type>"`, `decimal(precision = P, scale = S)`,
/// `fixed_name`. Enum symbol attributes: `rename`, `default`.
///
/// A record with one lifetime (`struct UserRef<'a> { name: &'a str, .. }`,
/// with `&'a str`, `&'a [u8]`, `Cow<'a, str>`, `Cow<'a, [u8]>`, and `Option` or
/// `Vec` of those) derives `BorrowDecode<'a>` instead: a decode that borrows
/// its strings and bytes from the input, for consumers that do not keep the record.
#[proc_macro_derive(Avro, attributes(avro))]
pub fn derive_avro(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

fn expand(input: &DeriveInput) -> Result<proc_macro2::TokenStream, syn::Error> {
    let cx = ctxt::Ctxt::new();
    let Some(cont) = model::from_ast(&cx, input) else {
        cx.check()?;
        return Err(syn::Error::new_spanned(&input.ident, "#[derive(Avro)] cannot handle this type"));
    };
    check::check(&cx, &cont);
    cx.check()?;
    let ident = &cont.ident;
    let krate = &cont.krate;
    let schema = schema::methods(&cont);
    if let Some(lt) = &cont.borrowed {
        // A view that borrows from the input: decode only (it is built to be read and dropped).
        let decode = decode::borrowed_method(&cont);
        return Ok(quote::quote! {
            #[automatically_derived]
            impl<#lt> #krate::BorrowDecode<#lt> for #ident<#lt> {
                #schema
                #decode
            }
        });
    }
    let encode = encode::method(&cont);
    let decode = decode::methods(&cont);
    Ok(quote::quote! {
        #[automatically_derived]
        impl #krate::Avro for #ident {
            #schema
            #encode
            #decode
        }
    })
}
