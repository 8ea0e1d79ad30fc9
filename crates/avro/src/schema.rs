//! The schema type: parsed by apache-avro, compiled into a [`Model`], with its
//! Parsing Canonical Form and fingerprints.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::SchemaError;
use crate::model::{self, Model};
use crate::validate::program::Program;

/// JSON nested deeper than this is refused before apache-avro (whose parser
/// recurses) sees it; the same limit serde_json applies when parsing text.
const MAX_JSON_DEPTH: usize = 128;

/// A parsed, valid Avro schema.
///
/// Parsing is apache-avro's; Runnel keeps the original JSON (for the registry,
/// which must return what was registered) and the Parsing Canonical Form (for
/// identity: two schemas with the same canonical form are the same schema).
///
/// ```
/// use runnel_avro::Schema;
/// let s = Schema::parse_str(r#"{"type": "record", "name": "U", "fields": [{"name": "a", "type": "int"}]}"#).unwrap();
/// assert_eq!(s.canonical_form(), r#"{"name":"U","type":"record","fields":[{"name":"a","type":"int"}]}"#);
/// ```
#[derive(Debug, Clone)]
pub struct Schema {
    inner: apache_avro::Schema,
    /// Shared: schemas are cloned into caches and plans, the model never changes.
    model: Arc<Model>,
    /// The model compiled for [`crate::validate`], which the broker runs per record.
    program: Arc<Program>,
    json: String,
    canonical: String,
}

impl Schema {
    /// Parses a schema from its JSON text.
    pub fn parse_str(json: &str) -> Result<Schema, SchemaError> {
        let inner = apache_avro::Schema::parse_str(json).map_err(|e| SchemaError::new(e.to_string()))?;
        Self::from_parsed(inner, json.to_owned())
    }

    /// Parses a schema from a JSON value.
    pub fn parse_json(json: &serde_json::Value) -> Result<Schema, SchemaError> {
        check_json_depth(json)?;
        let inner = apache_avro::Schema::parse(json).map_err(|e| SchemaError::new(e.to_string()))?;
        Self::from_parsed(inner, json.to_string())
    }

    /// Parses a schema whose JSON uses named types defined in other schemas
    /// (the registry's schema references). `references` must hold every
    /// schema the named types come from, transitively; each must be a named
    /// type (record, enum or fixed).
    ///
    /// The result is self-contained: its model, its canonical form and
    /// [`as_apache`](Self::as_apache) include the referenced definitions where
    /// they are first used, as the Java implementation's parser does, so a
    /// schema has the same fingerprint whether a type is referenced or written
    /// inline. [`json`](Self::json) stays the text given.
    ///
    /// ```
    /// use runnel_avro::Schema;
    /// let address = Schema::parse_str(r#"{"type":"record","name":"Address","namespace":"ex","fields":[{"name":"city","type":"string"}]}"#).unwrap();
    /// let user = Schema::parse_with_references(
    ///     r#"{"type":"record","name":"User","namespace":"ex","fields":[{"name":"home","type":"Address"}]}"#,
    ///     &[address],
    /// ).unwrap();
    /// assert!(user.canonical_str().contains(r#"{"name":"ex.Address","type":"record""#));
    /// ```
    pub fn parse_with_references(json: &str, references: &[Schema]) -> Result<Schema, SchemaError> {
        if references.is_empty() {
            return Self::parse_str(json);
        }
        let (mut inner, schemata) =
            apache_avro::Schema::parse_str_with_list(json, references.iter().map(|r| r.json()))
                .map_err(|e| SchemaError::new(e.to_string()))?;
        inner.denormalize(&schemata).map_err(|e| SchemaError::new(e.to_string()))?;
        Self::from_parsed(inner, json.to_owned())
    }

    fn from_parsed(inner: apache_avro::Schema, json: String) -> Result<Schema, SchemaError> {
        let model = Model::compile(&inner)?;
        let canonical = model::canonical_form(&model);
        let program = Arc::new(Program::compile(&model));
        Ok(Schema { inner, model: Arc::new(model), program, json, canonical })
    }

    /// The compiled model: nodes with named types resolved to indices.
    #[inline]
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model compiled for validation.
    #[inline]
    pub(crate) fn program(&self) -> &Program {
        &self.program
    }

    /// The Parsing Canonical Form of the specification.
    pub fn canonical_form(&self) -> String {
        self.canonical.clone()
    }

    /// The Parsing Canonical Form, borrowed.
    pub fn canonical_str(&self) -> &str {
        &self.canonical
    }

    /// The JSON text this schema was parsed from.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of the canonical form.
    pub fn fingerprint_crc64(&self) -> u64 {
        crc64_avro(self.canonical.as_bytes())
    }

    /// The SHA-256 fingerprint of the canonical form.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        Sha256::digest(self.canonical.as_bytes()).into()
    }

    /// The apache-avro schema, for code that needs its model.
    pub fn as_apache(&self) -> &apache_avro::Schema {
        &self.inner
    }
}

impl PartialEq for Schema {
    /// Schemas are equal when their canonical forms are.
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for Schema {}

/// Refuses JSON nested deeper than [`MAX_JSON_DEPTH`], without recursing.
fn check_json_depth(json: &serde_json::Value) -> Result<(), SchemaError> {
    let mut stack = vec![(json, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_JSON_DEPTH {
            return Err(SchemaError::new(format!(
                "schema JSON is nested deeper than {MAX_JSON_DEPTH} levels"
            )));
        }
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The CRC-64-AVRO fingerprint as the specification defines it (the Rabin
/// fingerprint with the empty polynomial), of `data`.
pub fn crc64_avro(data: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (0u64.wrapping_sub(fp & 1)));
            }
            *slot = fp;
        }
        t
    });
    let mut fp = EMPTY;
    for &b in data {
        fp = (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize];
    }
    fp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_of_int_matches_the_specification() {
        // From the Avro specification's test vectors: fingerprint of "int".
        let s = Schema::parse_str(r#""int""#).unwrap();
        assert_eq!(s.canonical_form(), r#""int""#);
        assert_eq!(s.fingerprint_crc64(), 0x7275_d51a_3f39_5c8f);
    }

    #[test]
    fn invalid_schemas_give_the_parsers_reason() {
        let err = Schema::parse_str(r#"{"type": "record", "name": "x"}"#).unwrap_err();
        assert!(!err.reason().is_empty());
    }
}
