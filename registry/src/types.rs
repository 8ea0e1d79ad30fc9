//! The registry's value types: compatibility levels, modes, version selectors,
//! references, what a lookup returns, and the registry's configuration.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// A compatibility rule, as Confluent names them.
///
/// BACKWARD: the new schema can read data written with the previous one;
/// FORWARD: the previous schema can read data written with the new one; FULL: both.
/// The `_TRANSITIVE` forms apply the rule against every live version, not only the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compatibility {
    /// No check.
    None,
    /// New reads the latest.
    Backward,
    /// New reads every live version.
    BackwardTransitive,
    /// The latest reads new.
    Forward,
    /// Every live version reads new.
    ForwardTransitive,
    /// Backward and forward against the latest.
    Full,
    /// Backward and forward against every live version.
    FullTransitive,
}

impl Compatibility {
    /// Every level, for listings and error messages.
    pub const ALL: [Compatibility; 7] = [
        Compatibility::None,
        Compatibility::Backward,
        Compatibility::BackwardTransitive,
        Compatibility::Forward,
        Compatibility::ForwardTransitive,
        Compatibility::Full,
        Compatibility::FullTransitive,
    ];

    /// The level's name as the REST API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether the new schema must read data written with the old ones.
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            Compatibility::Backward
                | Compatibility::BackwardTransitive
                | Compatibility::Full
                | Compatibility::FullTransitive
        )
    }

    /// Whether the old schemas must read data written with the new one.
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            Compatibility::Forward
                | Compatibility::ForwardTransitive
                | Compatibility::Full
                | Compatibility::FullTransitive
        )
    }

    /// Whether the rule applies to every live version rather than the latest only.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Compatibility::BackwardTransitive
                | Compatibility::ForwardTransitive
                | Compatibility::FullTransitive
        )
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compatibility {
    type Err = RegistryError;

    /// Case-insensitive, as Confluent accepts `backward` and `BACKWARD` alike.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compatibility::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| RegistryError::InvalidCompatibilityLevel(s.to_owned()))
    }
}

/// What writes a subject (or the whole registry) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Normal operation.
    ReadWrite,
    /// Registrations, deletions and config changes are refused (42205).
    ReadOnly,
    /// Like READONLY, but config and mode changes are still allowed.
    ReadOnlyOverride,
    /// Registrations may carry an explicit id and version and skip compatibility checks
    /// (for migrating from another registry).
    Import,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 4] = [Mode::ReadWrite, Mode::ReadOnly, Mode::ReadOnlyOverride, Mode::Import];

    /// The mode's name as the REST API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::ReadOnlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| RegistryError::InvalidMode(s.to_owned()))
    }
}

/// Which version of a subject an operation addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    /// The highest live version (`latest` or `-1` in URLs).
    Latest,
    /// A version number (1-based).
    Number(i32),
}

impl FromStr for VersionSelector {
    type Err = RegistryError;

    /// Parses a URL segment: a number in `[1, 2^31-1]`, `latest` or `-1`; anything else is 42202.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("latest") || s == "-1" {
            return Ok(VersionSelector::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(VersionSelector::Number(n)),
            _ => Err(RegistryError::InvalidVersion(s.to_owned())),
        }
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::Latest => f.write_str("latest"),
            VersionSelector::Number(n) => write!(f, "{n}"),
        }
    }
}

/// A named type a schema uses that is defined by another subject's version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    /// The full name of the referenced type, as the schema uses it.
    pub name: String,
    /// The subject that defines it.
    pub subject: String,
    /// The version of that subject.
    pub version: i32,
}

/// One version of a subject: what registration, lookup and `GET .../versions/{v}` return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    /// The subject.
    pub subject: String,
    /// The global schema id.
    pub id: u32,
    /// The version within the subject.
    pub version: i32,
    /// The schema text of this id, as Confluent returns it: compact, as Avro's Java
    /// `Schema.toString()` writes the schema first registered under the id.
    pub schema: String,
    /// The schema's references (empty for self-contained schemas).
    pub references: Vec<SchemaReference>,
}

/// How a registry is set up.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// The largest schema text accepted, in bytes (larger ones get 42209).
    pub max_schema_bytes: usize,
    /// The global compatibility level used until one is set with `PUT /config`.
    pub default_compatibility: Compatibility,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig { max_schema_bytes: 1024 * 1024, default_compatibility: Compatibility::Backward }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively_and_print_upper_case() {
        for level in Compatibility::ALL {
            assert_eq!(level.as_str().to_lowercase().parse::<Compatibility>(), Ok(level));
        }
        assert_eq!("sideways".parse::<Compatibility>().map_err(|e| e.error_code()), Err(42203));
    }

    #[test]
    fn versions_accept_numbers_latest_and_minus_one_only() {
        assert_eq!("3".parse::<VersionSelector>(), Ok(VersionSelector::Number(3)));
        assert_eq!("latest".parse::<VersionSelector>(), Ok(VersionSelector::Latest));
        assert_eq!("-1".parse::<VersionSelector>(), Ok(VersionSelector::Latest));
        for bad in ["0", "-2", "x", "2147483648", ""] {
            assert_eq!(bad.parse::<VersionSelector>().map_err(|e| e.error_code()), Err(42202), "{bad}");
        }
    }

    #[test]
    fn modes_parse_case_insensitively() {
        assert_eq!("import".parse::<Mode>(), Ok(Mode::Import));
        assert_eq!("WRITEONLY".parse::<Mode>().map_err(|e| e.error_code()), Err(42204));
    }
}
