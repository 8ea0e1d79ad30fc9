//! Generates `Avro::encode`: each value written straight into the buffer.
//!
//! A record sizes the buffer once, from an upper bound of its encoded size
//! (fixed-size parts, 10 bytes per varint, plus the lengths of its strings and
//! bytes), then each field writes itself through a cursor that needs no
//! capacity check per byte.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Codec, Container, Kind, Special};

/// The `encode`, `encoded_len_bound` and `encode_to` methods.
///
/// `encode` sizes the buffer once from `encoded_len_bound` (the sum of the
/// fields' bounds) and writes through `encode_to`, whose cursor needs no
/// capacity check per byte (see `binary::Out`).
pub fn method(cont: &Container) -> TokenStream {
    let krate = &cont.krate;
    let (bound, body) = match &cont.kind {
        Kind::Record { fields, .. } => {
            let fields: Vec<_> = fields.iter().filter(|f| !f.skip).collect();
            let bounds = fields.iter().map(|f| {
                let ident = &f.ident;
                bound_value(cont, &f.ty, &f.codec, quote!(&self.#ident))
            });
            let writes = fields.iter().map(|f| {
                let ident = &f.ident;
                encode_value(cont, &f.ty, &f.codec, quote!(&self.#ident))
            });
            (quote!(0usize #(+ #bounds)*), quote!(#(#writes)*))
        }
        Kind::Enum { symbols, .. } => {
            let arms = symbols.iter().enumerate().map(|(i, s)| {
                let ident = &s.ident;
                quote!(Self::#ident => #i)
            });
            let write = write_index(quote!(index), symbols.len());
            let bound = index_bound(symbols.len());
            (
                quote!(#bound),
                quote! {
                    let index: usize = match self { #(#arms),* };
                    #write
                },
            )
        }
        Kind::Union { variants } => {
            let index = index_bound(variants.len());
            let bound_arms = variants.iter().map(|v| {
                let ident = &v.ident;
                match &v.value {
                    None => quote!(Self::#ident => #index,),
                    Some((ty, codec)) => {
                        let value = bound_value(cont, ty, codec, quote!(value));
                        quote!(Self::#ident(value) => #index + #value,)
                    }
                }
            });
            let arms = variants.iter().enumerate().map(|(i, v)| {
                let ident = &v.ident;
                let write = write_index(quote!(#i), variants.len());
                match &v.value {
                    None => quote!(Self::#ident => { #write }),
                    Some((ty, codec)) => {
                        let value = encode_value(cont, ty, codec, quote!(value));
                        quote!(Self::#ident(value) => { #write #value })
                    }
                }
            });
            (quote!(match self { #(#bound_arms)* }), quote!(match self { #(#arms)* }))
        }
        Kind::Fixed { size, .. } => (quote!(#size), quote!(out.put(&self.0[..]);)),
    };
    quote! {
        #[inline]
        fn encode(&self, buf: &mut ::std::vec::Vec<u8>) {
            #krate::binary::encode_bounded(
                buf,
                <Self as #krate::Avro>::encoded_len_bound(self),
                |out| <Self as #krate::Avro>::encode_to(self, out),
            )
        }

        #[inline]
        fn encoded_len_bound(&self) -> usize {
            #bound
        }

        #[inline]
        fn encode_to(&self, out: &mut #krate::binary::Out<'_>) {
            #body
        }
    }
}

/// An index below 64 is one zig-zag byte; write it directly.
fn write_index(index: TokenStream, count: usize) -> TokenStream {
    if count <= 64 {
        quote!(out.byte((#index as u8) << 1);)
    } else {
        quote!(out.long(#index as i64);)
    }
}

/// The bytes an enum or union index of `count` choices takes at most.
fn index_bound(count: usize) -> usize {
    if count <= 64 {
        1
    } else {
        10
    }
}

/// The special codecs the macro writes itself (the others go through the trait).
fn special_of(codec: &Codec) -> Option<(bool, &Special)> {
    match codec {
        Codec::Special {
            optional,
            special:
                special @ (Special::Fixed { .. } | Special::Uuid | Special::BytesDecimal { i128: true, .. }),
        } => Some((*optional, special)),
        _ => None,
    }
}

/// An upper bound of the bytes the value `value` (an expression of type `&T`) takes.
fn bound_value(cont: &Container, ty: &syn::Type, codec: &Codec, value: TokenStream) -> TokenStream {
    let krate = &cont.krate;
    let Some((optional, special)) = special_of(codec) else {
        return quote_spanned!(ty.span()=> <#ty as #krate::Avro>::encoded_len_bound(#value));
    };
    let size = match special {
        Special::Fixed { size, .. } => *size,
        // A hyphenated UUID is 36 characters; an i128 at most 16 bytes.
        Special::Uuid => 10 + 36,
        _ => 10 + 16,
    };
    // The union index of an Option takes one byte.
    let size = size + usize::from(optional);
    quote!(#size)
}

/// Writes the value `value` (an expression of type `&T`) to `out`.
pub fn encode_value(cont: &Container, ty: &syn::Type, codec: &Codec, value: TokenStream) -> TokenStream {
    let krate = &cont.krate;
    let Some((optional, special)) = special_of(codec) else {
        return quote_spanned!(ty.span()=> <#ty as #krate::Avro>::encode_to(#value, out););
    };
    let write = |v: TokenStream| match special {
        Special::Fixed { .. } => quote!(out.put(&#v[..]);),
        Special::Uuid => quote! {
            let mut text = [0u8; 36];
            out.string(#v.hyphenated().encode_lower(&mut text));
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
            out.bytes(&bytes[start..]);
        },
    };
    if optional {
        let inner = write(quote!(inner));
        quote! {
            match #value {
                ::core::option::Option::None => out.byte(0),
                ::core::option::Option::Some(inner) => {
                    out.byte(2);
                    #inner
                }
            }
        }
    } else {
        let inner = write(quote!((*#value)));
        quote!({ #inner })
    }
}
