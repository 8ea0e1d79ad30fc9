//! Runnel: typed, schema-first streaming for Rust.
//!
//! This crate is the facade applications depend on. It re-exports:
//! - the typed client (`Client`, `Producer<T>`, `Consumer<T>`) from `runnel-client`
//!   (feature `client`, on by default);
//! - the [`Avro`] trait and its `#[derive(Avro)]` macro;
//! - the Avro core as [`avro`] (`runnel::avro::to_vec`, `runnel::avro::from_slice`, schemas,
//!   validation, resolution).
//!
//! ```
//! use runnel::Avro;
//!
//! #[derive(Avro, Debug, Clone, PartialEq)]
//! #[avro(namespace = "com.example")]
//! struct User {
//!     name: String,
//!     age: i32,
//!     #[avro(default = "null")]
//!     email: Option<String>,
//! }
//!
//! let user = User { name: "Ada".into(), age: 36, email: None };
//! let bytes = runnel::avro::to_vec(&user);
//! assert_eq!(runnel::avro::from_slice::<User>(&bytes).unwrap(), user);
//! assert!(User::schema().canonical_form().contains("com.example.User"));
//! ```

pub use runnel_avro as avro;
pub use runnel_avro::{Avro, Schema};
#[cfg(feature = "client")]
pub use runnel_client::*;
/// `#[derive(Avro)]`: an Avro schema and a direct binary codec for a struct or enum.
pub use runnel_derive::Avro;
