//! The compiled schema model: a flat arena of nodes with named references
//! resolved to indices.
//!
//! apache-avro parses the JSON and checks the schema; its tree is then
//! compiled once, at parse time, into a [`Model`]: every named type is defined
//! once in the arena and every use of it (including recursive ones) is the
//! node's [`NodeId`]. The validator, the Avro-JSON converter and the Parsing
//! Canonical Form walk this model, so none of them looks a name up per datum.
//!
//! The model is read-only outside this crate: a [`Schema`](crate::Schema)
//! hands out `&Model`.

use std::collections::HashMap;
use std::fmt;

use apache_avro::schema::{
    DecimalSchema, EnumSchema, FixedSchema, InnerDecimalSchema, Name as ApacheName, RecordSchema,
    Schema as ApacheSchema, UuidSchema,
};

use crate::error::SchemaError;

/// Schemas nested deeper than this (counting every array, map, union, record
/// and field level) are refused, so that no walk over a schema can exhaust
/// the stack.
pub const MAX_SCHEMA_DEPTH: usize = 128;

/// The index of a node in a [`Model`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u32);

impl NodeId {
    /// The position of the node in [`Model::nodes`].
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A compiled schema: its nodes, its root and its named types.
#[derive(Debug, Clone)]
pub struct Model {
    nodes: Vec<Node>,
    root: NodeId,
    named: HashMap<String, NodeId>,
    /// Per node: whether its values always encode to zero bytes.
    zero_width: Vec<bool>,
}

/// One schema node: its physical shape and, when it carries one the
/// specification recognises, its logical type.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// How the value is encoded.
    pub kind: NodeKind,
    /// The logical type annotating the encoding, if any (ignored by the binary
    /// and JSON encodings, which use the underlying type).
    pub logical: Option<LogicalType>,
}

/// The physical shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`: no bytes.
    Null,
    /// `boolean`: one byte.
    Boolean,
    /// `int`: a zig-zag varint of at most 32 bits.
    Int,
    /// `long`: a zig-zag varint of at most 64 bits.
    Long,
    /// `float`: 4 bytes, little-endian.
    Float,
    /// `double`: 8 bytes, little-endian.
    Double,
    /// `bytes`: a length, then the bytes.
    Bytes,
    /// `string`: a length, then UTF-8.
    String,
    /// `array`: blocks of items.
    Array {
        /// The items' node.
        items: NodeId,
    },
    /// `map`: blocks of string keys and values.
    Map {
        /// The values' node.
        values: NodeId,
    },
    /// A union: a branch index, then the branch's value.
    Union {
        /// The branches, in order.
        branches: Vec<NodeId>,
    },
    /// A named record.
    Record(RecordNode),
    /// A named enum.
    Enum(EnumNode),
    /// A named fixed.
    Fixed(FixedNode),
}

/// The full name of a named type, e.g. `com.example.User`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name {
    full: String,
    /// Byte offset of the simple name in `full` (0 when there is no namespace).
    name_start: usize,
}

impl Name {
    /// A name from its full form (`namespace.name` or just `name`).
    pub fn from_full(full: impl Into<String>) -> Name {
        let full = full.into();
        let name_start = full.rfind('.').map_or(0, |i| i + 1);
        Name { full, name_start }
    }

    /// The full name, namespace included.
    pub fn full(&self) -> &str {
        &self.full
    }

    /// The simple name, without the namespace.
    pub fn name(&self) -> &str {
        &self.full[self.name_start..]
    }

    /// The namespace, if the name has one.
    pub fn namespace(&self) -> Option<&str> {
        if self.name_start == 0 {
            None
        } else {
            Some(&self.full[..self.name_start - 1])
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// A record: its name and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordNode {
    /// The full name.
    pub name: Name,
    /// Aliases, as full names.
    pub aliases: Vec<Name>,
    /// The documentation, if any.
    pub doc: Option<String>,
    /// The fields, in schema order (the order of the encoding).
    pub fields: Vec<FieldNode>,
}

/// A record field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldNode {
    /// The field name.
    pub name: String,
    /// Aliases of the field name.
    pub aliases: Vec<String>,
    /// The documentation, if any.
    pub doc: Option<String>,
    /// The field's type.
    pub node: NodeId,
    /// The default value in the JSON form the schema wrote it (for a union,
    /// a value of one of its branches, not wrapped).
    pub default: Option<serde_json::Value>,
}

/// An enum: its name and symbols.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumNode {
    /// The full name.
    pub name: Name,
    /// Aliases, as full names.
    pub aliases: Vec<Name>,
    /// The documentation, if any.
    pub doc: Option<String>,
    /// The symbols, in order (a symbol's index is its encoding).
    pub symbols: Vec<String>,
    /// The symbol a reader uses for a writer symbol it lacks.
    pub default: Option<String>,
}

/// A fixed: its name and size.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedNode {
    /// The full name.
    pub name: Name,
    /// Aliases, as full names.
    pub aliases: Vec<Name>,
    /// The documentation, if any.
    pub doc: Option<String>,
    /// The number of bytes.
    pub size: usize,
}

/// The logical types of the specification (as apache-avro recognises them:
/// a logical type on a wrong underlying type is ignored, as the specification
/// requires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalType {
    /// `decimal` on `bytes` or `fixed`: a big-endian two's-complement unscaled value.
    Decimal {
        /// Total number of digits.
        precision: usize,
        /// Digits after the decimal point.
        scale: usize,
    },
    /// `big-decimal` on `bytes` (apache-avro's extension: the scale travels with the value).
    BigDecimal,
    /// `uuid` on `string` (or on `fixed` of 16).
    Uuid,
    /// `date` on `int`: days since 1970-01-01.
    Date,
    /// `time-millis` on `int`: milliseconds after midnight.
    TimeMillis,
    /// `time-micros` on `long`: microseconds after midnight.
    TimeMicros,
    /// `timestamp-millis` on `long`: milliseconds since the epoch, UTC.
    TimestampMillis,
    /// `timestamp-micros` on `long`: microseconds since the epoch, UTC.
    TimestampMicros,
    /// `timestamp-nanos` on `long`: nanoseconds since the epoch, UTC.
    TimestampNanos,
    /// `local-timestamp-millis` on `long`: milliseconds, local time.
    LocalTimestampMillis,
    /// `local-timestamp-micros` on `long`: microseconds, local time.
    LocalTimestampMicros,
    /// `local-timestamp-nanos` on `long`: nanoseconds, local time.
    LocalTimestampNanos,
    /// `duration` on `fixed` of 12: months, days, milliseconds as three little-endian u32.
    Duration,
}

impl LogicalType {
    /// The `logicalType` attribute's value.
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::Decimal { .. } => "decimal",
            LogicalType::BigDecimal => "big-decimal",
            LogicalType::Uuid => "uuid",
            LogicalType::Date => "date",
            LogicalType::TimeMillis => "time-millis",
            LogicalType::TimeMicros => "time-micros",
            LogicalType::TimestampMillis => "timestamp-millis",
            LogicalType::TimestampMicros => "timestamp-micros",
            LogicalType::TimestampNanos => "timestamp-nanos",
            LogicalType::LocalTimestampMillis => "local-timestamp-millis",
            LogicalType::LocalTimestampMicros => "local-timestamp-micros",
            LogicalType::LocalTimestampNanos => "local-timestamp-nanos",
            LogicalType::Duration => "duration",
        }
    }
}

impl Model {
    /// The root node.
    #[inline]
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The node `id` (ids come from this model, so the lookup cannot fail).
    #[inline]
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The node kind of `id`.
    #[inline]
    pub fn kind(&self, id: NodeId) -> &NodeKind {
        &self.nodes[id.index()].kind
    }

    /// Every node, indexed by [`NodeId::index`].
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The named type with this full name, if the schema defines it.
    pub fn named(&self, full_name: &str) -> Option<NodeId> {
        self.named.get(full_name).copied()
    }

    /// Every named type: full name and node.
    pub fn named_types(&self) -> impl Iterator<Item = (&str, NodeId)> {
        self.named.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The full name of a named node (record, enum, fixed).
    pub fn name_of(&self, id: NodeId) -> Option<&Name> {
        match self.kind(id) {
            NodeKind::Record(r) => Some(&r.name),
            NodeKind::Enum(e) => Some(&e.name),
            NodeKind::Fixed(f) => Some(&f.name),
            _ => None,
        }
    }

    /// The name that identifies a union branch of this node in Avro-JSON: the
    /// full name of a named type, otherwise the type's name (`"int"`,
    /// `"array"`, ...; logical types go by their underlying type).
    pub fn type_name(&self, id: NodeId) -> &str {
        match self.kind(id) {
            NodeKind::Null => "null",
            NodeKind::Boolean => "boolean",
            NodeKind::Int => "int",
            NodeKind::Long => "long",
            NodeKind::Float => "float",
            NodeKind::Double => "double",
            NodeKind::Bytes => "bytes",
            NodeKind::String => "string",
            NodeKind::Array { .. } => "array",
            NodeKind::Map { .. } => "map",
            NodeKind::Union { .. } => "union",
            NodeKind::Record(r) => r.name.full(),
            NodeKind::Enum(e) => e.name.full(),
            NodeKind::Fixed(f) => f.name.full(),
        }
    }

    /// Whether values of `id` always encode to zero bytes (`null`, a fixed of
    /// size 0, a record of such fields). Such items cost nothing to skip, so
    /// the validator does not loop over them.
    #[inline]
    pub fn is_zero_width(&self, id: NodeId) -> bool {
        self.zero_width[id.index()]
    }

    /// Computes [`is_zero_width`](Self::is_zero_width) for every node: the
    /// least fixed point, so a record that contains itself (which no finite
    /// datum can satisfy) counts as not empty.
    fn compute_zero_width(nodes: &[Node]) -> Vec<bool> {
        let mut zero: Vec<bool> = nodes
            .iter()
            .map(|n| matches!(n.kind, NodeKind::Null) || matches!(&n.kind, NodeKind::Fixed(f) if f.size == 0))
            .collect();
        loop {
            let mut changed = false;
            for (i, n) in nodes.iter().enumerate() {
                if let NodeKind::Record(r) = &n.kind {
                    if !zero[i] && r.fields.iter().all(|f| zero[f.node.index()]) {
                        zero[i] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                return zero;
            }
        }
    }

    /// Compiles apache-avro's tree. `root` must be self-contained (no
    /// references to names it does not define).
    pub(crate) fn compile(root: &ApacheSchema) -> Result<Model, SchemaError> {
        let mut c = Compiler { nodes: Vec::new(), named: HashMap::new(), pending: Vec::new() };
        let root = c.compile(root, 0)?;
        // Every reference must have been defined somewhere in the schema; the
        // placeholder is then left unused (uses are redirected to the definition).
        for (slot, name) in std::mem::take(&mut c.pending) {
            let Some(&target) = c.named.get(&name) else {
                return Err(SchemaError::new(format!("unknown type name {name}")));
            };
            c.redirect(slot, target);
        }
        let zero_width = Self::compute_zero_width(&c.nodes);
        Ok(Model { nodes: c.nodes, root, named: c.named, zero_width })
    }
}

/// Builds the arena from apache-avro's tree.
struct Compiler {
    nodes: Vec<Node>,
    named: HashMap<String, NodeId>,
    /// Placeholder nodes for references to names not defined yet when met,
    /// patched once the whole tree is compiled.
    pending: Vec<(NodeId, String)>,
}

impl Compiler {
    fn push(&mut self, kind: NodeKind, logical: Option<LogicalType>) -> Result<NodeId, SchemaError> {
        let id =
            u32::try_from(self.nodes.len()).map_err(|_| SchemaError::new("schema has too many nodes"))?;
        self.nodes.push(Node { kind, logical });
        Ok(NodeId(id))
    }

    /// Replaces every use of `from` by `to` (for forward references).
    fn redirect(&mut self, from: NodeId, to: NodeId) {
        let fix = |id: &mut NodeId| {
            if *id == from {
                *id = to;
            }
        };
        for node in &mut self.nodes {
            match &mut node.kind {
                NodeKind::Array { items } => fix(items),
                NodeKind::Map { values } => fix(values),
                NodeKind::Union { branches } => branches.iter_mut().for_each(fix),
                NodeKind::Record(r) => r.fields.iter_mut().for_each(|f| fix(&mut f.node)),
                _ => {}
            }
        }
    }

    fn define(&mut self, name: &Name, id: NodeId) -> Result<(), SchemaError> {
        if self.named.insert(name.full().to_owned(), id).is_some() {
            return Err(SchemaError::new(format!("the name {name} is defined twice")));
        }
        Ok(())
    }

    fn compile(&mut self, s: &ApacheSchema, depth: usize) -> Result<NodeId, SchemaError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(SchemaError::new(format!("schema is nested deeper than {MAX_SCHEMA_DEPTH} levels")));
        }
        use LogicalType as L;
        match s {
            ApacheSchema::Null => self.push(NodeKind::Null, None),
            ApacheSchema::Boolean => self.push(NodeKind::Boolean, None),
            ApacheSchema::Int => self.push(NodeKind::Int, None),
            ApacheSchema::Long => self.push(NodeKind::Long, None),
            ApacheSchema::Float => self.push(NodeKind::Float, None),
            ApacheSchema::Double => self.push(NodeKind::Double, None),
            ApacheSchema::Bytes => self.push(NodeKind::Bytes, None),
            ApacheSchema::String => self.push(NodeKind::String, None),
            ApacheSchema::Date => self.push(NodeKind::Int, Some(L::Date)),
            ApacheSchema::TimeMillis => self.push(NodeKind::Int, Some(L::TimeMillis)),
            ApacheSchema::TimeMicros => self.push(NodeKind::Long, Some(L::TimeMicros)),
            ApacheSchema::TimestampMillis => self.push(NodeKind::Long, Some(L::TimestampMillis)),
            ApacheSchema::TimestampMicros => self.push(NodeKind::Long, Some(L::TimestampMicros)),
            ApacheSchema::TimestampNanos => self.push(NodeKind::Long, Some(L::TimestampNanos)),
            ApacheSchema::LocalTimestampMillis => self.push(NodeKind::Long, Some(L::LocalTimestampMillis)),
            ApacheSchema::LocalTimestampMicros => self.push(NodeKind::Long, Some(L::LocalTimestampMicros)),
            ApacheSchema::LocalTimestampNanos => self.push(NodeKind::Long, Some(L::LocalTimestampNanos)),
            ApacheSchema::BigDecimal => self.push(NodeKind::Bytes, Some(L::BigDecimal)),
            // A uuid on bytes is not in the specification: the logical type is ignored.
            ApacheSchema::Uuid(UuidSchema::Bytes) => self.push(NodeKind::Bytes, None),
            ApacheSchema::Uuid(UuidSchema::String) => self.push(NodeKind::String, Some(L::Uuid)),
            ApacheSchema::Uuid(UuidSchema::Fixed(f)) => self.fixed(f, Some(L::Uuid)),
            ApacheSchema::Duration(f) => self.fixed(f, Some(L::Duration)),
            ApacheSchema::Decimal(DecimalSchema { precision, scale, inner }) => {
                let logical = Some(L::Decimal { precision: *precision, scale: *scale });
                match inner {
                    InnerDecimalSchema::Bytes => self.push(NodeKind::Bytes, logical),
                    InnerDecimalSchema::Fixed(f) => self.fixed(f, logical),
                }
            }
            ApacheSchema::Fixed(f) => self.fixed(f, None),
            ApacheSchema::Array(a) => {
                let id = self.push(NodeKind::Null, None)?;
                let items = self.compile(&a.items, depth + 1)?;
                self.nodes[id.index()].kind = NodeKind::Array { items };
                Ok(id)
            }
            ApacheSchema::Map(m) => {
                let id = self.push(NodeKind::Null, None)?;
                let values = self.compile(&m.types, depth + 1)?;
                self.nodes[id.index()].kind = NodeKind::Map { values };
                Ok(id)
            }
            ApacheSchema::Union(u) => {
                let id = self.push(NodeKind::Null, None)?;
                let branches =
                    u.variants().iter().map(|b| self.compile(b, depth + 1)).collect::<Result<Vec<_>, _>>()?;
                self.nodes[id.index()].kind = NodeKind::Union { branches };
                Ok(id)
            }
            ApacheSchema::Record(r) => self.record(r, depth),
            ApacheSchema::Enum(e) => self.enumeration(e),
            ApacheSchema::Ref { name } => {
                let full = qualify(name);
                match self.named.get(full.full()) {
                    Some(&id) => Ok(id),
                    None => {
                        // Not defined yet (apache-avro may reorder definitions): patch later.
                        let id = self.push(NodeKind::Null, None)?;
                        self.pending.push((id, full.full().to_owned()));
                        Ok(id)
                    }
                }
            }
        }
    }

    fn fixed(&mut self, f: &FixedSchema, logical: Option<LogicalType>) -> Result<NodeId, SchemaError> {
        let name = qualify(&f.name);
        let aliases = aliases(f.aliases.as_deref(), name.namespace());
        let node = FixedNode { name: name.clone(), aliases, doc: f.doc.clone(), size: f.size };
        let id = self.push(NodeKind::Fixed(node), logical)?;
        self.define(&name, id)?;
        Ok(id)
    }

    fn enumeration(&mut self, e: &EnumSchema) -> Result<NodeId, SchemaError> {
        let name = qualify(&e.name);
        let node = EnumNode {
            name: name.clone(),
            aliases: aliases(e.aliases.as_deref(), name.namespace()),
            doc: e.doc.clone(),
            symbols: e.symbols.clone(),
            default: e.default.clone(),
        };
        let id = self.push(NodeKind::Enum(node), None)?;
        self.define(&name, id)?;
        Ok(id)
    }

    fn record(&mut self, r: &RecordSchema, depth: usize) -> Result<NodeId, SchemaError> {
        let name = qualify(&r.name);
        let node = RecordNode {
            name: name.clone(),
            aliases: aliases(r.aliases.as_deref(), name.namespace()),
            doc: r.doc.clone(),
            fields: Vec::with_capacity(r.fields.len()),
        };
        // Defined before its fields are compiled, so that recursive uses find it.
        let id = self.push(NodeKind::Record(node), None)?;
        self.define(&name, id)?;
        let mut fields = Vec::with_capacity(r.fields.len());
        for f in &r.fields {
            let node = self.compile(&f.schema, depth + 2)?;
            fields.push(FieldNode {
                name: f.name.clone(),
                aliases: f.aliases.clone(),
                doc: f.doc.clone(),
                node,
                default: f.default.clone(),
            });
        }
        if let NodeKind::Record(rec) = &mut self.nodes[id.index()].kind {
            rec.fields = fields;
        }
        Ok(id)
    }
}

/// The full name of `name`. apache-avro's parser has already qualified every
/// name (definitions and references) with its enclosing namespace, and only it
/// knows an explicit `"namespace": ""` (which must not inherit one), so the name
/// is taken as it stands.
fn qualify(name: &ApacheName) -> Name {
    Name::from_full(name.fullname(None))
}

fn aliases(aliases: Option<&[apache_avro::schema::Alias]>, ns: Option<&str>) -> Vec<Name> {
    aliases
        .unwrap_or_default()
        .iter()
        .map(|a| Name::from_full(a.fully_qualified_name(ns).fullname(None)))
        .collect()
}

/// Writes the Parsing Canonical Form of the specification for `model`.
///
/// Written from the model rather than taken from apache-avro because
/// apache-avro 0.22 keeps attributes the specification's [STRIP] rule removes
/// (`order`, `precision`, `scale`: a decimal on `bytes` comes out as
/// `{"type":"bytes","precision":..}` instead of `"bytes"`), which would give
/// different fingerprints than the Java, Python and C# implementations.
pub(crate) fn canonical_form(model: &Model) -> String {
    let mut out = String::new();
    let mut seen = vec![false; model.nodes.len()];
    write_canonical(model, model.root, &mut seen, &mut out);
    out
}

fn write_canonical(model: &Model, id: NodeId, seen: &mut [bool], out: &mut String) {
    let named = |out: &mut String, name: &Name, ty: &str| {
        out.push_str("{\"name\":");
        push_json_str(out, name.full());
        out.push_str(",\"type\":\"");
        out.push_str(ty);
        out.push('"');
    };
    match model.kind(id) {
        NodeKind::Array { items } => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write_canonical(model, *items, seen, out);
            out.push('}');
        }
        NodeKind::Map { values } => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write_canonical(model, *values, seen, out);
            out.push('}');
        }
        NodeKind::Union { branches } => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(model, *b, seen, out);
            }
            out.push(']');
        }
        NodeKind::Record(_) | NodeKind::Enum(_) | NodeKind::Fixed(_) if seen[id.index()] => {
            push_json_str(out, model.type_name(id));
        }
        NodeKind::Record(r) => {
            seen[id.index()] = true;
            named(out, &r.name, "record");
            out.push_str(",\"fields\":[");
            for (i, f) in r.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                push_json_str(out, &f.name);
                out.push_str(",\"type\":");
                write_canonical(model, f.node, seen, out);
                out.push('}');
            }
            out.push_str("]}");
        }
        NodeKind::Enum(e) => {
            seen[id.index()] = true;
            named(out, &e.name, "enum");
            out.push_str(",\"symbols\":[");
            for (i, s) in e.symbols.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str(out, s);
            }
            out.push_str("]}");
        }
        NodeKind::Fixed(f) => {
            seen[id.index()] = true;
            named(out, &f.name, "fixed");
            out.push_str(",\"size\":");
            out.push_str(&f.size.to_string());
            out.push('}');
        }
        _ => {
            out.push('"');
            out.push_str(model.type_name(id));
            out.push('"');
        }
    }
}

/// Appends `s` as a JSON string ([STRINGS] rule: JSON escapes where needed).
fn push_json_str(out: &mut String, s: &str) {
    // Serialising a &str cannot fail.
    out.push_str(&serde_json::Value::from(s).to_string());
}
