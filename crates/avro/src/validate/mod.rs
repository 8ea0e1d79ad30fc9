//! Payload validation: does this byte string hold exactly one datum of this schema?
//!
//! The broker calls [`validate`] for every record it accepts under `full`
//! validation, so nothing here builds anything: no value tree, no path, no
//! allocation unless it fails. Two ways answer it:
//! - the schema's program (`program.rs`), compiled once per schema, says yes
//!   or no quickly, and is what runs for every datum;
//! - the walk (`walk.rs`) goes down the model recursively and words the error.
//!   It runs when the program says no, and it is the reference the program is
//!   tested against.

pub(crate) mod program;
mod walk;

pub(crate) use walk::check_block_size;
use walk::walk;
pub use walk::{skip, MAX_DEPTH};

use crate::binary::Reader;
use crate::error::DecodeError;
use crate::schema::Schema;

/// Checks that `datum` is exactly one Avro binary datum of `schema`: every
/// varint well-formed and in range, every length within the data, strings
/// UTF-8, enum and union indexes in range, block byte sizes (when given)
/// equal to their items' bytes, and no trailing bytes.
///
/// The error names the field path and the byte offset of the first problem.
///
/// ```
/// use runnel_avro::{validate, Schema};
/// let s = Schema::parse_str(r#"{"type":"record","name":"R","fields":[{"name":"n","type":"string"}]}"#).unwrap();
/// assert!(validate(&s, &[4, b'h', b'i']).is_ok());
/// let err = validate(&s, &[4, 0xff, 0xfe]).unwrap_err();
/// assert_eq!(err.path(), "/n");
/// assert!(validate(&s, &[4, b'h', b'i', 0]).is_err()); // trailing byte
/// ```
pub fn validate(schema: &Schema, datum: &[u8]) -> Result<(), DecodeError> {
    if schema.program().accepts(schema.model(), datum) {
        return Ok(());
    }
    validate_by_walk(schema, datum)
}

/// [`validate`] by the walk alone, the reference the compiled program is
/// checked against (by the fuzzer and the tests); not for other use.
#[doc(hidden)]
pub fn validate_by_walk(schema: &Schema, datum: &[u8]) -> Result<(), DecodeError> {
    let model = schema.model();
    let mut r = Reader::new(datum);
    walk(model, model.root(), &mut r, 0)?;
    r.finish()
}
