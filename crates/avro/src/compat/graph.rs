//! A compact, reference-resolved view of one schema, shared by the
//! compatibility checker and the resolver.
//!
//! apache-avro's model names a type once and refers to it elsewhere with
//! `Schema::Ref`; following those needs a name table, and a decimal's fixed
//! is not a `Schema` of its own. This module flattens a schema into an arena
//! of nodes where every reference is an index, logical types are reduced to
//! what resolution needs (only decimal's precision and scale matter; every
//! other logical type resolves as its underlying type), and names are full
//! names with aliases already qualified in the type's namespace (apache-avro
//! qualifies them while parsing).

use std::collections::HashMap;

use apache_avro::schema::{
    Alias, EnumSchema, FixedSchema, InnerDecimalSchema, Name, RecordSchema, Schema as Apache, UuidSchema,
};

/// Index of a node in a [`Graph`].
pub(crate) type NodeId = usize;

/// The precision and scale of a decimal logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub precision: usize,
    pub scale: usize,
}

/// The name of a named type: its full name and its aliases' full names.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub full: String,
    pub aliases: Vec<String>,
}

impl Named {
    /// The name without its namespace.
    pub fn simple(&self) -> &str {
        self.full.rsplit('.').next().unwrap_or(&self.full)
    }

    /// Whether a reader type with this name reads a writer type named
    /// `writer`: same unqualified name, or a reader alias equal to the
    /// writer's full name (the specification's alias rewriting).
    pub fn reads(&self, writer: &Named) -> bool {
        self.simple() == writer.simple() || self.aliases.contains(&writer.full)
    }
}

/// One record field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub aliases: Vec<String>,
    pub default: Option<serde_json::Value>,
    pub ty: NodeId,
}

/// One type.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes {
        decimal: Option<Decimal>,
    },
    String,
    Array(NodeId),
    Map(NodeId),
    Union(Vec<NodeId>),
    /// `positions`: each field name's position in `fields` (the first, were a name repeated).
    Record {
        name: Named,
        fields: Vec<Field>,
        positions: HashMap<String, usize>,
    },
    Enum {
        name: Named,
        symbols: Vec<String>,
        default: Option<String>,
    },
    Fixed {
        name: Named,
        size: usize,
        decimal: Option<Decimal>,
    },
}

impl Node {
    /// Whether this is a record, enum or fixed: a type other nodes may share.
    pub fn is_named(&self) -> bool {
        matches!(self, Node::Record { .. } | Node::Enum { .. } | Node::Fixed { .. })
    }

    /// A short description for messages: `"int"`, `record "a.B"`, `array`.
    pub fn describe(&self) -> String {
        match self {
            Node::Null => "\"null\"".into(),
            Node::Boolean => "\"boolean\"".into(),
            Node::Int => "\"int\"".into(),
            Node::Long => "\"long\"".into(),
            Node::Float => "\"float\"".into(),
            Node::Double => "\"double\"".into(),
            Node::Bytes { decimal: None } => "\"bytes\"".into(),
            Node::Bytes { decimal: Some(d) } => {
                format!("\"bytes\" (decimal({}, {}))", d.precision, d.scale)
            }
            Node::String => "\"string\"".into(),
            Node::Array(_) => "array".into(),
            Node::Map(_) => "map".into(),
            Node::Union(_) => "union".into(),
            Node::Record { name, .. } => format!("record \"{}\"", name.full),
            Node::Enum { name, .. } => format!("enum \"{}\"", name.full),
            Node::Fixed { name, size, .. } => format!("fixed \"{}\" (size {size})", name.full),
        }
    }
}

/// The writer field reader field `reader` (the `at`-th of its record) reads, given the
/// writer record's `fields` and their `positions`: the writer field of the same name, else the
/// first writer field (in the writer's order) that one of the reader field's aliases names.
pub(crate) fn source_field(
    fields: &[Field],
    positions: &HashMap<String, usize>,
    reader: &Field,
    at: usize,
) -> Option<usize> {
    // Fields usually keep their places: with every name once (as the parser ensures), the
    // same name at the same position is the field a lookup would find.
    if positions.len() == fields.len() && fields.get(at).is_some_and(|f| f.name == reader.name) {
        return Some(at);
    }
    positions
        .get(&reader.name)
        .copied()
        .or_else(|| reader.aliases.iter().filter_map(|a| positions.get(a).copied()).min())
}

/// A schema as an arena of nodes; `root` is the top-level type.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub root: NodeId,
}

impl Graph {
    /// The node at `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// Flattens an apache-avro schema. Fails only when a reference names a
    /// type the schema does not define (the parser normally rules that out).
    pub fn build(schema: &Apache) -> Result<Graph, String> {
        let mut defs = HashMap::new();
        collect(schema, &mut defs);
        let mut builder = Builder { defs, memo: HashMap::new(), nodes: Vec::new() };
        let root = builder.build(schema)?;
        Ok(Graph { nodes: builder.nodes, root })
    }
}

/// A named definition found in the schema.
#[derive(Clone, Copy)]
enum Def<'a> {
    Record(&'a RecordSchema),
    Enum(&'a EnumSchema),
    Fixed(&'a FixedSchema, Option<Decimal>),
}

impl Def<'_> {
    fn name(&self) -> &Name {
        match self {
            Def::Record(r) => &r.name,
            Def::Enum(e) => &e.name,
            Def::Fixed(f, _) => &f.name,
        }
    }
}

fn full(name: &Name) -> String {
    name.fullname(None)
}

fn alias_names(aliases: &Option<Vec<Alias>>) -> Vec<String> {
    aliases.iter().flatten().map(|a| a.fullname(None)).collect()
}

/// Records every named definition, under its full name and its aliases' (a
/// reference may use either).
fn collect<'a>(schema: &'a Apache, defs: &mut HashMap<String, Def<'a>>) {
    let mut add = |def: Def<'a>, aliases: &Option<Vec<Alias>>| {
        defs.entry(full(def.name())).or_insert(def);
        for alias in alias_names(aliases) {
            defs.entry(alias).or_insert(def);
        }
    };
    match schema {
        Apache::Record(r) => {
            add(Def::Record(r), &r.aliases);
            for f in &r.fields {
                collect(&f.schema, defs);
            }
        }
        Apache::Enum(e) => add(Def::Enum(e), &e.aliases),
        Apache::Fixed(f) | Apache::Duration(f) | Apache::Uuid(UuidSchema::Fixed(f)) => {
            add(Def::Fixed(f, None), &f.aliases)
        }
        Apache::Decimal(d) => {
            if let InnerDecimalSchema::Fixed(f) = &d.inner {
                let dec = Decimal { precision: d.precision, scale: d.scale };
                add(Def::Fixed(f, Some(dec)), &f.aliases);
            }
        }
        Apache::Array(a) => collect(&a.items, defs),
        Apache::Map(m) => collect(&m.types, defs),
        Apache::Union(u) => {
            for v in u.variants() {
                collect(v, defs);
            }
        }
        _ => {}
    }
}

struct Builder<'a> {
    defs: HashMap<String, Def<'a>>,
    /// Full name of a named type → its node, so each is built once and
    /// recursive references close into cycles.
    memo: HashMap<String, NodeId>,
    nodes: Vec<Node>,
}

impl<'a> Builder<'a> {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn build(&mut self, schema: &'a Apache) -> Result<NodeId, String> {
        let node = match schema {
            Apache::Null => Node::Null,
            Apache::Boolean => Node::Boolean,
            Apache::Int | Apache::Date | Apache::TimeMillis => Node::Int,
            Apache::Long
            | Apache::TimeMicros
            | Apache::TimestampMillis
            | Apache::TimestampMicros
            | Apache::TimestampNanos
            | Apache::LocalTimestampMillis
            | Apache::LocalTimestampMicros
            | Apache::LocalTimestampNanos => Node::Long,
            Apache::Float => Node::Float,
            Apache::Double => Node::Double,
            Apache::Bytes | Apache::BigDecimal | Apache::Uuid(UuidSchema::Bytes) => {
                Node::Bytes { decimal: None }
            }
            Apache::String | Apache::Uuid(UuidSchema::String) => Node::String,
            Apache::Decimal(d) => match &d.inner {
                InnerDecimalSchema::Bytes => {
                    Node::Bytes { decimal: Some(Decimal { precision: d.precision, scale: d.scale }) }
                }
                InnerDecimalSchema::Fixed(f) => {
                    let dec = Decimal { precision: d.precision, scale: d.scale };
                    return self.named(Def::Fixed(f, Some(dec)));
                }
            },
            Apache::Array(a) => {
                let items = self.build(&a.items)?;
                Node::Array(items)
            }
            Apache::Map(m) => {
                let values = self.build(&m.types)?;
                Node::Map(values)
            }
            Apache::Union(u) => {
                let mut branches = Vec::with_capacity(u.variants().len());
                for v in u.variants() {
                    branches.push(self.build(v)?);
                }
                Node::Union(branches)
            }
            Apache::Record(r) => return self.named(Def::Record(r)),
            Apache::Enum(e) => return self.named(Def::Enum(e)),
            Apache::Fixed(f) | Apache::Duration(f) | Apache::Uuid(UuidSchema::Fixed(f)) => {
                return self.named(Def::Fixed(f, None))
            }
            Apache::Ref { name } => {
                let key = full(name);
                if let Some(&id) = self.memo.get(&key) {
                    return Ok(id);
                }
                let def = *self.defs.get(&key).ok_or_else(|| format!("unknown type \"{key}\""))?;
                return self.named(def);
            }
        };
        Ok(self.push(node))
    }

    fn named(&mut self, def: Def<'a>) -> Result<NodeId, String> {
        let key = full(def.name());
        if let Some(&id) = self.memo.get(&key) {
            return Ok(id);
        }
        // Reserve the slot first: fields may refer back to this type.
        let id = self.push(Node::Null);
        self.memo.insert(key.clone(), id);
        let node = match def {
            Def::Record(r) => {
                let mut fields = Vec::with_capacity(r.fields.len());
                for f in &r.fields {
                    let ty = self.build(&f.schema)?;
                    fields.push(Field {
                        name: f.name.clone(),
                        aliases: f.aliases.clone(),
                        default: f.default.clone(),
                        ty,
                    });
                }
                let mut positions = HashMap::with_capacity(fields.len());
                for (i, f) in fields.iter().enumerate() {
                    positions.entry(f.name.clone()).or_insert(i);
                }
                Node::Record {
                    name: Named { full: key, aliases: alias_names(&r.aliases) },
                    fields,
                    positions,
                }
            }
            Def::Enum(e) => Node::Enum {
                name: Named { full: key, aliases: alias_names(&e.aliases) },
                symbols: e.symbols.clone(),
                // A default that is not a symbol cannot be used; treat it as absent.
                default: e.default.clone().filter(|d| e.symbols.contains(d)),
            },
            Def::Fixed(f, decimal) => Node::Fixed {
                name: Named { full: key, aliases: alias_names(&f.aliases) },
                size: f.size,
                decimal,
            },
        };
        self.nodes[id] = node;
        Ok(id)
    }
}
