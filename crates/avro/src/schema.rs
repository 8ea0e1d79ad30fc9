//! The schema type: parsed by apache-avro, with its Parsing Canonical Form and fingerprints.

use sha2::{Digest, Sha256};

use crate::error::SchemaError;

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
    json: String,
    canonical: String,
}

impl Schema {
    /// Parses a schema from its JSON text.
    pub fn parse_str(json: &str) -> Result<Schema, SchemaError> {
        let inner = apache_avro::Schema::parse_str(json).map_err(|e| SchemaError::new(e.to_string()))?;
        Ok(Self::from_parsed(inner, json.to_owned()))
    }

    /// Parses a schema from a JSON value.
    pub fn parse_json(json: &serde_json::Value) -> Result<Schema, SchemaError> {
        let inner = apache_avro::Schema::parse(json).map_err(|e| SchemaError::new(e.to_string()))?;
        Ok(Self::from_parsed(inner, json.to_string()))
    }

    fn from_parsed(inner: apache_avro::Schema, json: String) -> Schema {
        let canonical = inner.canonical_form();
        Schema { inner, json, canonical }
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
