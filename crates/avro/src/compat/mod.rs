//! Schema compatibility: can a reader schema read everything a writer schema
//! writes, by the Avro specification's "Schema Resolution" rules. Every
//! incompatibility is reported, each with its path.
//!
//! # Rules
//!
//! - Primitives match themselves and the promotions: `int` → `long`, `float`,
//!   `double`; `long` → `float`, `double`; `float` → `double`; `string` ↔ `bytes`.
//! - Records, enums and fixed match when the reader's unqualified name equals
//!   the writer's, or one of the reader's aliases (qualified in the reader's
//!   namespace) equals the writer's full name.
//! - Record fields match by name, then by the reader field's aliases. A reader
//!   field the writer lacks needs a default, and that default must be valid
//!   for the field's type (it is what the reader will decode). Writer fields the
//!   reader lacks are ignored.
//! - Enums: every writer symbol must be a reader symbol, unless the reader has
//!   a default symbol. Fixed: same size.
//! - Arrays and maps: items and values resolve recursively.
//! - A writer union: every branch must be readable by the reader. A reader
//!   union (writer not a union): the specification resolves the writer against
//!   the first reader branch that *matches* it, and signals an error when that
//!   resolution fails; here the match prefers the branch of the writer's exact
//!   type (or full name) and then takes the first branch by the matching rules
//!   above (names, aliases, promotions), as Java's resolver does. The verdict
//!   is on that one branch, not on "any branch" ([`crate::resolve::Plan`]
//!   decodes through the same branch, so the verdict and the plan agree).
//! - Logical types resolve as their underlying types, except that two decimals
//!   must agree on precision and scale (the specification: "two schemas that
//!   are decimal logical types match if their scales and precisions match").
//! - Recursive and shared named types: each (reader type, writer type) pair is
//!   checked once; a pair met again while it is being checked is assumed to
//!   hold, so cycles end and each problem is reported once.
//!
//! # Paths
//!
//! A path is a JSON pointer into the READER schema's JSON, as Confluent
//! Schema Registry and the Java/Python checkers print it: `/fields/2/type` is
//! the type of the reader's third field, `/fields/2/type/1` the second branch
//! of that union, `/items`, `/values`, `/name`, `/symbols`, `/size`. The root
//! is `/`. Messages name fields and types so a path needs no lookup.
//!
//! # Why not apache-avro's `schema_compatibility`
//!
//! apache-avro 0.22's `SchemaCompatibility::can_read` contradicts the
//! specification (and the official checker) in both directions; the test
//! `apache_avros_own_checker_contradicts_the_specification_on_these_pairs`
//! pins each case. It accepts pairs whose data the reader cannot decode: a
//! writer union branch the reader union lacks, a writer enum symbol the reader
//! lacks when the reader has no enum default, a nullable writer field read as
//! non-null, decimals on fixed types of different sizes. It refuses pairs the
//! specification resolves: records, enums and fixed renamed with reader
//! aliases. And it stops at the first problem, where a registry must report
//! every one. A registry trusting it would let producers break consumers, so
//! this module implements the rules itself, over [`graph::Graph`] (a
//! reference-resolved view of apache-avro's parsed model), and is tested
//! against the official Apache Avro checker on about two thousand pairs
//! (`tests/oracle/test_compat_differential.py`).

pub(crate) mod graph;

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::hash::{BuildHasherDefault, Hasher};

use crate::resolve::default::encode_default;
use crate::Schema;
use graph::{source_field, Graph, Node, NodeId};

/// One reason a reader schema cannot read a writer schema's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Incompatibility {
    /// A JSON pointer into the reader schema, e.g. `/fields/2/type`.
    pub path: String,
    /// What does not resolve, e.g. `reader type "int" cannot read writer type "long"`.
    pub message: String,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every reason `reader` cannot read data written with `writer`; empty when
/// it can.
///
/// ```
/// use runnel_avro::{compat, Schema};
/// let v1 = Schema::parse_str(r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int"}]}"#).unwrap();
/// let v2 = Schema::parse_str(
///     r#"{"type":"record","name":"U","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#,
/// ).unwrap();
/// // v2 reads v1's data except field "b", which v1 lacks and v2 gives no default.
/// let problems = compat::check(&v2, &v1);
/// assert_eq!(problems.len(), 1);
/// assert_eq!(problems[0].to_string(), "/fields/1: reader field \"b\" has no default and the writer has no such field");
/// // v1 cannot read v2's data: "a" is a long there, and a long does not fit an int.
/// assert_eq!(compat::check(&v1, &v2)[0].path, "/fields/0/type");
/// ```
pub fn check(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
    check_prepared(&Prepared::new(reader), &Prepared::new(writer))
}

/// Whether `reader` can read everything `writer` writes.
pub fn is_compatible(reader: &Schema, writer: &Schema) -> bool {
    check(reader, writer).is_empty()
}

/// A schema made ready for checking: its reference-resolved graph, built once.
///
/// [`check`] builds both schemas' graphs on every call; a caller that checks one schema
/// against many (a registry checking a new version against a subject's whole history) keeps a
/// `Prepared` per stored schema and calls [`check_prepared`], which builds nothing. The
/// verdicts are the same: [`check`] is [`check_prepared`] over two fresh `Prepared`.
///
/// ```
/// use runnel_avro::{compat, Schema};
/// let v1 = Schema::parse_str(r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int"}]}"#).unwrap();
/// let v2 = Schema::parse_str(r#"{"type":"record","name":"U","fields":[{"name":"a","type":"long"}]}"#).unwrap();
/// let (p1, p2) = (compat::Prepared::new(&v1), compat::Prepared::new(&v2));
/// assert!(compat::check_prepared(&p2, &p1).is_empty());
/// assert_eq!(compat::check_prepared(&p1, &p2), compat::check(&v1, &v2));
/// ```
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The graph and what the checker needs to know of it as a reader, or why the schema's
    /// references do not resolve (reported by every check).
    graph: Result<(Graph, InvalidDefaults), String>,
}

/// Why the default of a record field cannot be encoded, by (record node, field index), for
/// the fields whose default is invalid: a reader field the writer lacks is read from it.
type InvalidDefaults = HashMap<(NodeId, usize), String>;

impl Prepared {
    /// Builds `schema`'s graph, and encodes each field default once.
    pub fn new(schema: &Schema) -> Prepared {
        let graph = Graph::build(schema.as_apache()).map(|graph| {
            let mut invalid = InvalidDefaults::new();
            let mut scratch = Vec::new();
            for (id, node) in graph.nodes.iter().enumerate() {
                let Node::Record { fields, .. } = node else { continue };
                for (i, field) in fields.iter().enumerate() {
                    let Some(default) = &field.default else { continue };
                    scratch.clear();
                    if let Err(e) = encode_default(&graph, field.ty, default, &mut scratch) {
                        invalid.insert((id, i), e);
                    }
                }
            }
            (graph, invalid)
        });
        Prepared { graph }
    }
}

/// Every reason the schema behind `reader` cannot read data written with the one behind
/// `writer` (see [`check`], whose verdicts these are).
pub fn check_prepared(reader: &Prepared, writer: &Prepared) -> Vec<Incompatibility> {
    match (&reader.graph, &writer.graph) {
        (Ok((r, invalid)), Ok((w, _))) => run_checker(r, w, Some(invalid)),
        (Err(e), _) => vec![unresolvable("reader", e.clone())],
        (_, Err(e)) => vec![unresolvable("writer", e.clone())],
    }
}

fn unresolvable(which: &str, reason: String) -> Incompatibility {
    Incompatibility { path: "/".into(), message: format!("the {which} schema cannot be resolved: {reason}") }
}

/// The checker over already-built graphs (the resolver calls this too).
pub(crate) fn check_graphs(reader: &Graph, writer: &Graph) -> Vec<Incompatibility> {
    run_checker(reader, writer, None)
}

/// The checker; `invalid_defaults`, when the reader is prepared, saves encoding its defaults.
fn run_checker(
    reader: &Graph,
    writer: &Graph,
    invalid_defaults: Option<&InvalidDefaults>,
) -> Vec<Incompatibility> {
    let mut checker =
        Checker { r: reader, w: writer, invalid_defaults, seen: PairSet::default(), out: Vec::new() };
    checker.check(reader.root, writer.root, &mut Pointer::default());
    checker.out
}

/// Whether a writer primitive promotes to a reader primitive (the
/// specification's list; identity not included).
pub(crate) fn promotes(reader: &Node, writer: &Node) -> bool {
    matches!(
        (reader, writer),
        (Node::Long, Node::Int)
            | (Node::Float, Node::Int | Node::Long)
            | (Node::Double, Node::Int | Node::Long | Node::Float)
            | (Node::Bytes { .. }, Node::String)
            | (Node::String, Node::Bytes { .. })
    )
}

/// Whether two nodes are the same kind of primitive, or the same kind of
/// named type with the same full name, or both arrays or both maps.
fn same_type(reader: &Node, writer: &Node) -> bool {
    match (reader, writer) {
        (Node::Null, Node::Null)
        | (Node::Boolean, Node::Boolean)
        | (Node::Int, Node::Int)
        | (Node::Long, Node::Long)
        | (Node::Float, Node::Float)
        | (Node::Double, Node::Double)
        | (Node::Bytes { .. }, Node::Bytes { .. })
        | (Node::String, Node::String)
        | (Node::Array(_), Node::Array(_))
        | (Node::Map(_), Node::Map(_)) => true,
        (Node::Record { name: a, .. }, Node::Record { name: b, .. })
        | (Node::Enum { name: a, .. }, Node::Enum { name: b, .. })
        | (Node::Fixed { name: a, .. }, Node::Fixed { name: b, .. }) => a.full == b.full,
        _ => false,
    }
}

/// The specification's shallow "match" of a reader type against a writer type.
fn matches(reader: &Node, writer: &Node) -> bool {
    match (reader, writer) {
        (Node::Record { name: a, .. }, Node::Record { name: b, .. })
        | (Node::Enum { name: a, .. }, Node::Enum { name: b, .. })
        | (Node::Fixed { name: a, .. }, Node::Fixed { name: b, .. }) => a.reads(b),
        _ => same_type(reader, writer) || promotes(reader, writer),
    }
}

/// The reader union branch that a (non-union) writer type resolves against:
/// the writer's exact type first, else the first branch that matches.
pub(crate) fn select_branch(reader: &Graph, branches: &[NodeId], writer: &Node) -> Option<usize> {
    branches
        .iter()
        .position(|&b| same_type(reader.node(b), writer))
        .or_else(|| branches.iter().position(|&b| matches(reader.node(b), writer)))
}

/// A set of node pairs, hashed with one multiply: the keys are small integers, never input.
type PairSet = HashSet<(NodeId, NodeId), BuildHasherDefault<PairHasher>>;

#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A step of a JSON pointer: an object key or an array index.
#[derive(Debug, Clone, Copy)]
enum Segment {
    Key(&'static str),
    Index(usize),
}

/// The JSON pointer into the reader schema being checked, kept as segments and written out
/// only when a problem is reported (most checks report none).
#[derive(Default)]
struct Pointer(Vec<Segment>);

impl Pointer {
    fn render(&self) -> String {
        if self.0.is_empty() {
            return "/".to_owned();
        }
        let mut out = String::new();
        for segment in &self.0 {
            let _ = match segment {
                Segment::Key(key) => write!(out, "/{key}"),
                Segment::Index(i) => write!(out, "/{i}"),
            };
        }
        out
    }
}

struct Checker<'a> {
    r: &'a Graph,
    w: &'a Graph,
    /// The reader's invalid field defaults, if known in advance.
    invalid_defaults: Option<&'a InvalidDefaults>,
    /// Pairs with a named type on either side already checked or being checked. Only they
    /// can be met twice: every other node has a single parent, so every second path to a pair
    /// and every cycle passes through a named type.
    seen: PairSet,
    out: Vec<Incompatibility>,
}

impl Checker<'_> {
    fn report(&mut self, path: &Pointer, message: String) {
        self.out.push(Incompatibility { path: path.render(), message });
    }

    /// Reports with `segment` appended to the path.
    fn report_at(&mut self, path: &mut Pointer, segment: Segment, message: String) {
        path.0.push(segment);
        self.report(path, message);
        path.0.pop();
    }

    /// Checks `r` against `w` with `segment` appended to the path.
    fn check_at(&mut self, r: NodeId, w: NodeId, path: &mut Pointer, segment: Segment) {
        path.0.push(segment);
        self.check(r, w, path);
        path.0.pop();
    }

    fn check(&mut self, r: NodeId, w: NodeId, path: &mut Pointer) {
        let (rg, wg) = (self.r, self.w);
        let (rn, wn) = (rg.node(r), wg.node(w));
        if (rn.is_named() || wn.is_named()) && !self.seen.insert((r, w)) {
            return;
        }
        match (rn, wn) {
            (Node::Union(rbs), Node::Union(wbs)) => {
                for (i, &wb) in wbs.iter().enumerate() {
                    match select_branch(rg, rbs, wg.node(wb)) {
                        Some(j) => self.check_at(rbs[j], wb, path, Segment::Index(j)),
                        None => self.report(
                            path,
                            format!(
                                "reader union has no branch for writer union branch {i} ({})",
                                wg.node(wb).describe()
                            ),
                        ),
                    }
                }
            }
            (_, Node::Union(wbs)) => {
                for (i, &wb) in wbs.iter().enumerate() {
                    let before = self.out.len();
                    self.check(r, wb, path);
                    for inc in &mut self.out[before..] {
                        inc.message = format!("writer union branch {i}: {}", inc.message);
                    }
                }
            }
            (Node::Union(rbs), _) => match select_branch(rg, rbs, wn) {
                Some(j) => self.check_at(rbs[j], w, path, Segment::Index(j)),
                None => {
                    self.report(path, format!("reader union has no branch for writer type {}", wn.describe()))
                }
            },
            (Node::Array(ri), Node::Array(wi)) => self.check_at(*ri, *wi, path, Segment::Key("items")),
            (Node::Map(rv), Node::Map(wv)) => self.check_at(*rv, *wv, path, Segment::Key("values")),
            (Node::Bytes { decimal: Some(rd) }, Node::Bytes { decimal: Some(wd) }) => {
                self.check_decimal(*rd, *wd, path)
            }
            (
                Node::Record { name: rname, fields: rfields, .. },
                Node::Record { name: wname, fields: wfields, positions },
            ) => {
                self.check_name(rname, wname, "record", path);
                path.0.push(Segment::Key("fields"));
                for (i, rf) in rfields.iter().enumerate() {
                    path.0.push(Segment::Index(i));
                    match (source_field(wfields, positions, rf, i), &rf.default) {
                        (Some(j), _) => self.check_at(rf.ty, wfields[j].ty, path, Segment::Key("type")),
                        (None, None) => self.report(
                            path,
                            format!(
                                "reader field \"{}\" has no default and the writer has no such field",
                                rf.name
                            ),
                        ),
                        (None, Some(default)) => {
                            let invalid = match self.invalid_defaults {
                                Some(known) => known.get(&(r, i)).cloned().map(Err).unwrap_or(Ok(())),
                                None => encode_default(rg, rf.ty, default, &mut Vec::new()),
                            };
                            if let Err(e) = invalid {
                                self.report_at(
                                    path,
                                    Segment::Key("default"),
                                    format!(
                                        "reader field \"{}\" is missing from the writer and its default is invalid: {e}",
                                        rf.name
                                    ),
                                );
                            }
                        }
                    }
                    path.0.pop();
                }
                path.0.pop();
            }
            (
                Node::Enum { name: rname, symbols: rsyms, default },
                Node::Enum { name: wname, symbols: wsyms, .. },
            ) => {
                self.check_name(rname, wname, "enum", path);
                let missing: Vec<&str> =
                    wsyms.iter().filter(|s| !rsyms.contains(s)).map(String::as_str).collect();
                if !missing.is_empty() && default.is_none() {
                    self.report_at(
                        path,
                        Segment::Key("symbols"),
                        format!(
                            "writer symbols {missing:?} are not in the reader enum \"{}\", which has no default",
                            rname.full
                        ),
                    );
                }
            }
            (
                Node::Fixed { name: rname, size: rsize, decimal: rdec },
                Node::Fixed { name: wname, size: wsize, decimal: wdec },
            ) => {
                self.check_name(rname, wname, "fixed", path);
                if rsize != wsize {
                    self.report_at(
                        path,
                        Segment::Key("size"),
                        format!("reader fixed size {rsize} differs from the writer's size {wsize}"),
                    );
                }
                if let (Some(rd), Some(wd)) = (rdec, wdec) {
                    self.check_decimal(*rd, *wd, path);
                }
            }
            _ if same_type(rn, wn) || promotes(rn, wn) => {}
            _ => self.report(
                path,
                format!("reader type {} cannot read writer type {}", rn.describe(), wn.describe()),
            ),
        }
    }

    fn check_name(&mut self, reader: &graph::Named, writer: &graph::Named, kind: &str, path: &mut Pointer) {
        if reader.reads(writer) {
            return;
        }
        self.report_at(
            path,
            Segment::Key("name"),
            format!(
                "reader {kind} \"{}\" cannot read writer {kind} \"{}\": the unqualified names differ and no reader alias is \"{}\"",
                reader.full, writer.full, writer.full
            ),
        );
    }

    fn check_decimal(&mut self, rd: graph::Decimal, wd: graph::Decimal, path: &Pointer) {
        if rd != wd {
            self.report(
                path,
                format!(
                    "reader decimal({}, {}) cannot read writer decimal({}, {}): precision and scale must match",
                    rd.precision, rd.scale, wd.precision, wd.scale
                ),
            );
        }
    }
}
