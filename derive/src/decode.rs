//! Generates `Avro::decode` and `Avro::decode_into`: values read straight
//! from the byte slice, errors tagged with the field or branch they came from.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::model::{Codec, Container, Field, Kind, Special};

/// The `decode` (and, for records, `decode_into`) methods.
pub fn methods(cont: &Container) -> TokenStream {
    let krate = &cont.krate;
    let result = quote!(::core::result::Result<Self, #krate::DecodeError>);
    match &cont.kind {
        Kind::Record { fields, .. } => {
            let (reads, inits) = record_reads(cont, fields);
            let into = record_into(cont, fields);
            quote! {
                #[inline]
                fn decode(r: &mut #krate::Reader<'_>) -> #result {
                    #(#reads)*
                    ::core::result::Result::Ok(Self { #(#inits),* })
                }

                /// Decodes into `self`, reusing the capacity of its strings and vectors.
                /// On error, the fields before the failing one hold the new values.
                #[inline]
                fn decode_into(&mut self, r: &mut #krate::Reader<'_>) -> ::core::result::Result<(), #krate::DecodeError> {
                    #(#into)*
                    ::core::result::Result::Ok(())
                }
            }
        }
        Kind::Enum { symbols, .. } => {
            let n = symbols.len();
            let last = symbols.len() - 1;
            let arms = symbols.iter().enumerate().map(|(i, s)| {
                let ident = &s.ident;
                if i == last {
                    quote!(_ => Self::#ident)
                } else {
                    quote!(#i => Self::#ident)
                }
            });
            quote! {
                #[inline]
                fn decode(r: &mut #krate::Reader<'_>) -> #result {
                    ::core::result::Result::Ok(match r.read_enum_index(#n)? { #(#arms),* })
                }
            }
        }
        Kind::Union { variants } => {
            let n = variants.len();
            let last = variants.len() - 1;
            let arms = variants.iter().enumerate().map(|(i, v)| {
                let ident = &v.ident;
                let pat = if i == last { quote!(_) } else { quote!(#i) };
                let branch = i as u32;
                match &v.value {
                    None => quote!(#pat => Self::#ident),
                    Some((ty, codec)) => {
                        let read = decode_value(cont, ty, codec);
                        quote!(#pat => Self::#ident(#read.map_err(|e| e.in_branch(#branch))?))
                    }
                }
            });
            quote! {
                #[inline]
                fn decode(r: &mut #krate::Reader<'_>) -> #result {
                    ::core::result::Result::Ok(match r.read_union_index(#n)? { #(#arms),* })
                }
            }
        }
        Kind::Fixed { size, .. } => quote! {
            #[inline]
            fn decode(r: &mut #krate::Reader<'_>) -> #result {
                r.read_array::<#size>().map(Self)
            }
        },
    }
}

/// `BorrowDecode::decode_borrowed` of a record with a lifetime: the same reads
/// as `decode`, with borrowed fields read through their `BorrowDecode` impl.
pub fn borrowed_method(cont: &Container) -> TokenStream {
    let krate = &cont.krate;
    let Kind::Record { fields, .. } = &cont.kind else {
        // Refused in the model: only records borrow.
        return TokenStream::new();
    };
    let lt = &cont.borrowed;
    let (reads, inits) = record_reads(cont, fields);
    quote! {
        #[inline]
        fn decode_borrowed(r: &mut #krate::Reader<#lt>) -> ::core::result::Result<Self, #krate::DecodeError> {
            #(#reads)*
            ::core::result::Result::Ok(Self { #(#inits),* })
        }
    }
}

/// The statements of `decode_into`: each field decoded into its place, in order
/// (through the field type's own `decode_into` when it has one, so that its
/// capacity is reused), skipped fields reset to their default.
fn record_into(cont: &Container, fields: &[Field]) -> Vec<TokenStream> {
    let krate = &cont.krate;
    fields
        .iter()
        .map(|f| {
            let (ident, ty) = (&f.ident, &f.ty);
            if f.skip {
                let default = quote_spanned!(f.ty.span()=> <#ty as ::core::default::Default>::default());
                return quote!(self.#ident = #default;);
            }
            let name = &f.name;
            if is_trait(&f.codec) {
                quote_spanned!(f.ty.span()=>
                    <#ty as #krate::Avro>::decode_into(&mut self.#ident, r).map_err(|e| e.in_field(#name))?;
                )
            } else {
                let read = decode_value(cont, &f.ty, &f.codec);
                quote!(self.#ident = #read.map_err(|e| e.in_field(#name))?;)
            }
        })
        .collect()
}

/// The reads of a record's fields, in order, and the field initialisers.
fn record_reads(cont: &Container, fields: &[Field]) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let mut reads = Vec::new();
    let mut inits = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let ident = &f.ident;
        if f.skip {
            let ty = &f.ty;
            // Spanned at the field, so that a type without `Default` is reported there.
            let default = quote_spanned!(f.ty.span()=> <#ty as ::core::default::Default>::default());
            inits.push(quote!(#ident: #default));
            continue;
        }
        let tmp = format_ident!("__field{}", i);
        let name = &f.name;
        let read = decode_value(cont, &f.ty, &f.codec);
        reads.push(quote!(let #tmp = #read.map_err(|e| e.in_field(#name))?;));
        inits.push(quote!(#ident: #tmp));
    }
    (reads, inits)
}

fn is_trait(codec: &Codec) -> bool {
    !matches!(
        codec,
        Codec::Special {
            special: Special::Fixed { .. } | Special::Uuid | Special::BytesDecimal { i128: true, .. },
            ..
        }
    )
}

/// An expression of type `Result<T, DecodeError>` reading one value from `r`.
fn decode_value(cont: &Container, ty: &syn::Type, codec: &Codec) -> TokenStream {
    let krate = &cont.krate;
    let (optional, special) = match codec {
        Codec::Special { optional, special } if !is_trait(codec) => (*optional, special),
        _ => {
            if let (true, Some(lt)) = (cont.borrows(ty), &cont.borrowed) {
                return quote_spanned!(ty.span()=> (<#ty as #krate::BorrowDecode<#lt>>::decode_borrowed(r)));
            }
            return quote_spanned!(ty.span()=> (<#ty as #krate::Avro>::decode(r)));
        }
    };
    let read = match special {
        Special::Fixed { size, .. } => quote!(r.read_array::<#size>()),
        Special::Uuid => quote! {
            (match r.read_str() {
                ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
                ::core::result::Result::Ok(text) => ::uuid::Uuid::parse_str(text).map_err(|_| {
                    r.error(#krate::DecodeErrorKind::Invalid(::std::format!("{text:?} is not a UUID")))
                }),
            })
        },
        _ => quote! {
            (match r.read_bytes() {
                ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
                ::core::result::Result::Ok(raw) => {
                    // Sign-extend the big-endian two's complement bytes to 16.
                    let negative = raw.first().is_some_and(|b| *b >= 0x80);
                    let fill = if negative { 0xffu8 } else { 0 };
                    let (head, tail) = raw.split_at(raw.len().saturating_sub(16));
                    if head.iter().any(|b| *b != fill) || (!head.is_empty() && (tail[0] >= 0x80) != negative) {
                        ::core::result::Result::Err(r.error(#krate::DecodeErrorKind::Invalid(
                            ::std::string::String::from("decimal value does not fit in an i128"),
                        )))
                    } else {
                        let mut bytes = [fill; 16];
                        bytes[16 - tail.len()..].copy_from_slice(tail);
                        ::core::result::Result::Ok(i128::from_be_bytes(bytes))
                    }
                }
            })
        },
    };
    if optional {
        quote! {
            (match r.read_union_index(2) {
                ::core::result::Result::Err(e) => ::core::result::Result::Err(e),
                ::core::result::Result::Ok(0) => ::core::result::Result::Ok(::core::option::Option::None),
                ::core::result::Result::Ok(_) => #read.map(::core::option::Option::Some).map_err(|e| e.in_branch(1)),
            })
        }
    } else {
        read
    }
}
