//! The built-in functions: their stored definitions, the checks made when one
//! is created, and what each does to one record.
//!
//! A definition is checked against the registry as it is now: the input's
//! subject must have a schema; a `filter` condition and a `route` field are
//! checked against its latest version (`runnel_avro::expr`), a `project`
//! schema must be readable from every live version. Records are then handled
//! per writer schema id: the condition, field or projection is bound once per
//! id met (by name, alias or default) and cached.

use std::collections::HashMap;
use std::sync::Arc;

use runnel_avro::expr::{BoundFieldPath, BoundPredicate, FieldPath, Predicate, Scalar, ValueType};
use runnel_avro::resolve::Plan;
use runnel_avro::Schema;
use runnel_registry::{Registry, VersionSelector};
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// A function as stored (JSON in `meta.redb`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// The function's name.
    pub name: String,
    /// The topic it reads.
    pub input: String,
    /// What it does.
    pub builtin: Builtin,
    /// When it was created, ms since the epoch.
    pub created_ms: i64,
}

/// What a built-in does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Builtin {
    /// Records for which `condition` holds go to `output`.
    Filter {
        /// The output topic.
        output: String,
        /// The condition, as written.
        condition: String,
    },
    /// Records go to the topic `to` names with `{}` replaced by field `by`'s value.
    Route {
        /// The field path.
        by: String,
        /// The topic template, holding `{}`.
        to: String,
        /// Where records whose field is null go.
        default_topic: Option<String>,
    },
    /// Records read as `schema` go to `output`, framed with `schema_id`.
    Project {
        /// The output topic.
        output: String,
        /// The projection's schema text.
        schema: String,
        /// Its id, registered under the output's value subject at create.
        schema_id: u32,
    },
    /// Not a built-in: a Rust function run by its users' processes, which report
    /// it (`instances.rs`). Never stored.
    #[serde(skip)]
    Rust {
        /// The output topics its instances declared.
        outputs: Vec<String>,
        /// Their processing guarantee.
        guarantee: String,
    },
}

impl Builtin {
    /// `filter`, `route` or `project`.
    pub fn kind(&self) -> &'static str {
        match self {
            Builtin::Filter { .. } => "filter",
            Builtin::Route { .. } => "route",
            Builtin::Project { .. } => "project",
            Builtin::Rust { .. } => "rust",
        }
    }

    /// The topics named when created.
    pub fn outputs(&self) -> Vec<String> {
        match self {
            Builtin::Filter { output, .. } | Builtin::Project { output, .. } => vec![output.clone()],
            Builtin::Route { default_topic, .. } => default_topic.iter().cloned().collect(),
            Builtin::Rust { outputs, .. } => outputs.clone(),
        }
    }

    /// The settings on one line.
    pub fn definition(&self) -> String {
        match self {
            Builtin::Filter { output, condition } => format!("where {condition} to {output}"),
            Builtin::Route { by, to, default_topic } => match default_topic {
                Some(d) => format!("by {by} to {to} default {d}"),
                None => format!("by {by} to {to}"),
            },
            Builtin::Project { output, schema_id, .. } => format!("as schema id {schema_id} to {output}"),
            Builtin::Rust { guarantee, .. } => format!("rust, {guarantee}"),
        }
    }
}

/// The schema the input's records are read as: its subject's latest version.
pub fn latest(registry: &Registry, subject: &str, topic: &str) -> Result<Schema, BrokerError> {
    let latest = registry.version(subject, VersionSelector::Latest).map_err(|_| {
        BrokerError::InvalidArgument(format!(
            "the topic `{topic}` has no schema: its subject `{subject}` has no version"
        ))
    })?;
    Ok((*registry.schema_by_id(latest.id)?).clone())
}

/// The ids of the live versions of `subject`.
pub fn live_ids(registry: &Registry, subject: &str) -> Result<Vec<(i32, u32)>, BrokerError> {
    let mut ids = Vec::new();
    for version in registry.versions(subject, false)? {
        ids.push((version, registry.version(subject, VersionSelector::Number(version))?.id));
    }
    Ok(ids)
}

/// A definition's condition, field or projection, checked against the input's schema.
#[derive(Debug)]
pub enum Compiled {
    /// A checked condition.
    Filter(Predicate),
    /// A checked field path.
    Route(FieldPath),
    /// The projection's schema.
    Project(Arc<Schema>),
}

impl Compiled {
    /// Checks `builtin` against `reader` (the input's latest schema).
    pub fn new(builtin: &Builtin, reader: &Schema) -> Result<Compiled, BrokerError> {
        let invalid = |what: &str, e: runnel_avro::expr::ExprError| {
            BrokerError::InvalidArgument(format!("{what}: {e}"))
        };
        Ok(match builtin {
            Builtin::Filter { condition, .. } => Compiled::Filter(
                Predicate::new(reader, condition).map_err(|e| invalid(&format!("`{condition}`"), e))?,
            ),
            Builtin::Route { by, to, .. } => {
                if !to.contains("{}") {
                    return Err(BrokerError::InvalidArgument(format!(
                        "the topic template `{to}` has no `{{}}` for the value of `{by}`"
                    )));
                }
                let field = FieldPath::new(reader, by).map_err(|e| invalid(&format!("`{by}`"), e))?;
                if matches!(field.value_type(), ValueType::Bytes | ValueType::Null) {
                    return Err(BrokerError::InvalidArgument(format!(
                        "`{by}` holds {}: topics are named from strings, enums, numbers and booleans",
                        if field.value_type() == &ValueType::Null { "only null" } else { "bytes" }
                    )));
                }
                Compiled::Route(field)
            }
            Builtin::Project { schema, .. } => {
                let parsed = Schema::parse_str(schema)
                    .map_err(|e| BrokerError::InvalidArgument(format!("the projection's schema: {e}")))?;
                Compiled::Project(Arc::new(parsed))
            }
            Builtin::Rust { .. } => {
                return Err(BrokerError::InvalidArgument(
                    "a Rust function runs in its own processes, not on the server".into(),
                ))
            }
        })
    }
}

/// What one record became.
#[derive(Debug)]
pub enum Outcome {
    /// Written to these topics with these values (Confluent-framed).
    Write(Vec<(String, bytes::Bytes)>),
    /// Dropped (a filter's condition did not hold).
    Drop,
}

/// A compiled built-in bound per writer schema id as records arrive.
#[derive(Debug)]
pub struct Applier {
    builtin: Builtin,
    compiled: Compiled,
    bound: HashMap<u32, Bound>,
}

#[derive(Debug)]
enum Bound {
    Filter(BoundPredicate),
    Route(BoundFieldPath),
    Project(Plan),
}

impl Applier {
    /// The built-in, ready to apply.
    pub fn new(builtin: Builtin, compiled: Compiled) -> Applier {
        Applier { builtin, compiled, bound: HashMap::new() }
    }

    /// What `value` (a Confluent-framed record value) becomes. An error is the
    /// record's: it is dead-lettered.
    pub fn apply(&mut self, registry: &Registry, value: Option<&[u8]>) -> Result<Outcome, String> {
        let Some(value) = value else { return Err("the record has no value (a tombstone)".into()) };
        let (id, datum) = match value {
            [0, a, b, c, d, datum @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]), datum),
            _ => return Err("the value is not in the Confluent wire format (magic byte 0, schema id)".into()),
        };
        if !self.bound.contains_key(&id) {
            let writer = registry.schema_by_id(id).map_err(|e| format!("schema id {id}: {e}"))?;
            let bound = match &self.compiled {
                Compiled::Filter(p) => {
                    Bound::Filter(p.bind(&writer).map_err(|e| format!("schema id {id}: {e}"))?)
                }
                Compiled::Route(f) => {
                    Bound::Route(f.bind(&writer).map_err(|e| format!("schema id {id}: {e}"))?)
                }
                Compiled::Project(schema) => Bound::Project(
                    Plan::new(&writer, schema)
                        .map_err(|e| format!("schema id {id} cannot be read as the projection: {e}"))?,
                ),
            };
            self.bound.insert(id, bound);
        }
        let bound = &self.bound[&id];
        match (bound, &self.builtin) {
            (Bound::Filter(p), Builtin::Filter { output, .. }) => {
                match p.matches(datum).map_err(|e| format!("schema id {id}: {e}"))? {
                    true => Ok(Outcome::Write(vec![(output.clone(), bytes::Bytes::copy_from_slice(value))])),
                    false => Ok(Outcome::Drop),
                }
            }
            (Bound::Route(f), Builtin::Route { to, default_topic, .. }) => {
                let topic = match f.value(datum).map_err(|e| format!("schema id {id}: {e}"))? {
                    Scalar::Null => {
                        default_topic.clone().ok_or("the field is null and there is no default topic")?
                    }
                    v => {
                        let v = v.to_string();
                        // A value with `/` would name a topic of another tenant or
                        // namespace than the one the template was authorized in.
                        if v.contains('/') {
                            return Err(format!(
                                "the value \"{v}\" holds `/`, which a routed topic name may not"
                            ));
                        }
                        to.replace("{}", &v)
                    }
                };
                Ok(Outcome::Write(vec![(topic, bytes::Bytes::copy_from_slice(value))]))
            }
            (Bound::Project(plan), Builtin::Project { output, schema_id, .. }) => {
                let mut out = Vec::with_capacity(value.len());
                out.push(0);
                out.extend_from_slice(&schema_id.to_be_bytes());
                plan.transcode(datum, &mut out).map_err(|e| format!("schema id {id}: {e}"))?;
                Ok(Outcome::Write(vec![(output.clone(), out.into())]))
            }
            _ => Err("internal: the bound form does not match the built-in".into()),
        }
    }
}
