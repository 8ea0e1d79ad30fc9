//! Generates `Avro::encode`: each value written straight into the buffer.
//!
//! A record reserves its estimated size once (fixed-size parts plus the
//! lengths of its string and bytes fields), then each field appends itself.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Codec, Container, Kind, Shape, Special};

/// The `encode` method.
pub fn method(cont: &Container) -> TokenStream {
    let krate = &cont.krate;
    let body = match &cont.kind {
        Kind::Record { fields, .. } => {
            let fields: Vec<_> = fields.iter().filter(|f| !f.skip).collect();
            let mut estimate = 0usize;
            let mut lens = Vec::new();
            for f in &fields {
                estimate += estimate_of(&f.shape);
                let ident = &f.ident;
                match &f.shape {
                    Shape::String | Shape::Bytes => lens.push(quote!(self.#ident.len())),
                    Shape::Option(inner) if matches!(**inner, Shape::String | Shape::Bytes) => {
                        lens.push(quote!(self.#ident.as_ref().map_or(0, |v| v.len())))
                    }
                    _ => {}
                }
            }
            let writes = fields.iter().map(|f| {
                let ident = &f.ident;
                encode_value(cont, &f.ty, &f.codec, quote!(&self.#ident))
            });
            quote! {
                buf.reserve(#estimate #(+ #lens)*);
                #(#writes)*
            }
        }
        Kind::Enum { symbols, .. } => {
            let arms = symbols.iter().enumerate().map(|(i, s)| {
                let ident = &s.ident;
                quote!(Self::#ident => #i)
            });
            let write = write_index(krate, quote!(index), symbols.len());
            quote! {
                let index: usize = match self { #(#arms),* };
                #write
            }
        }
        Kind::Union { variants } => {
            let arms = variants.iter().enumerate().map(|(i, v)| {
                let ident = &v.ident;
                let write = write_index(krate, quote!(#i), variants.len());
                match &v.value {
                    None => quote!(Self::#ident => { #write }),
                    Some((ty, codec)) => {
                        let value = encode_value(cont, ty, codec, quote!(value));
                        quote!(Self::#ident(value) => { #write #value })
                    }
                }
            });
            quote!(match self { #(#arms)* })
        }
        Kind::Fixed { .. } => quote!(#krate::binary::write_fixed(buf, &self.0);),
    };
    quote! {
        #[inline]
        fn encode(&self, buf: &mut ::std::vec::Vec<u8>) {
            #body
        }
    }
}

/// An index below 64 is one zig-zag byte; push it directly.
fn write_index(krate: &TokenStream, index: TokenStream, count: usize) -> TokenStream {
    if count <= 64 {
        quote!(buf.push((#index as u8) << 1);)
    } else {
        quote!(#krate::binary::write_index(buf, #index);)
    }
}

/// A guess of the encoded size, for the one `reserve` of a record.
fn estimate_of(shape: &Shape) -> usize {
    match shape {
        Shape::Null => 0,
        Shape::Bool => 1,
        Shape::Int => 3,
        Shape::Long => 5,
        Shape::Float => 4,
        Shape::Double => 8,
        Shape::String | Shape::Bytes => 2,
        Shape::Fixed(n) => *n,
        Shape::I128 => 9,
        Shape::Option(inner) => 1 + estimate_of(inner),
        Shape::Boxed(inner) => estimate_of(inner),
        Shape::Array(_) | Shape::Map(_) | Shape::Other(_) => 16,
    }
}

/// Appends the value `value` (an expression of type `&T`).
pub fn encode_value(cont: &Container, ty: &syn::Type, codec: &Codec, value: TokenStream) -> TokenStream {
    let krate = &cont.krate;
    let special = match codec {
        Codec::Special {
            optional,
            special:
                special @ (Special::Fixed { .. } | Special::Uuid | Special::BytesDecimal { i128: true, .. }),
        } => Some((*optional, special)),
        _ => None,
    };
    let Some((optional, special)) = special else {
        return quote_spanned!(ty.span()=> <#ty as #krate::Avro>::encode(#value, buf););
    };
    let write = |v: TokenStream| match special {
        Special::Fixed { .. } => quote!(#krate::binary::write_fixed(buf, &#v[..]);),
        Special::Uuid => quote! {
            let mut text = [0u8; 36];
            #krate::binary::write_string(buf, #v.hyphenated().encode_lower(&mut text));
        },
        _ => quote! {
            // The shortest big-endian two's complement form, as the specification asks.
            let bytes = #v.to_be_bytes();
            let mut start = 0usize;
            while start < 15
                && ((bytes[start] == 0 && bytes[start + 1] < 0x80)
                    || (bytes[start] == 0xff && bytes[start + 1] >= 0x80))
            {
                start += 1;
            }
            #krate::binary::write_bytes(buf, &bytes[start..]);
        },
    };
    if optional {
        let inner = write(quote!(inner));
        quote! {
            match #value {
                ::core::option::Option::None => buf.push(0),
                ::core::option::Option::Some(inner) => {
                    buf.push(2);
                    #inner
                }
            }
        }
    } else {
        let inner = write(quote!((*#value)));
        quote!({ #inner })
    }
}
