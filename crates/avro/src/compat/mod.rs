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

use std::collections::HashSet;
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
    /// The graph, or why the schema's references do not resolve (reported by every check).
    graph: Result<Graph, String>,
}

impl Prepared {
    /// Builds `schema`'s graph.
    pub fn new(schema: &Schema) -> Prepared {
        Prepared { graph: Graph::build(schema.as_apache()) }
    }
}

/// Every reason the schema behind `reader` cannot read data written with the one behind
/// `writer` (see [`check`], whose verdicts these are).
pub fn check_prepared(reader: &Prepared, writer: &Prepared) -> Vec<Incompatibility> {
    match (&reader.graph, &writer.graph) {
        (Ok(r), Ok(w)) => check_graphs(r, w),
        (Err(e), _) => vec![unresolvable("reader", e.clone())],
        (_, Err(e)) => vec![unresolvable("writer", e.clone())],
    }
}

fn unresolvable(which: &str, reason: String) -> Incompatibility {
    Incompatibility { path: "/".into(), message: format!("the {which} schema cannot be resolved: {reason}") }
}

/// The checker over already-built graphs (the resolver calls this too).
pub(crate) fn check_graphs(reader: &Graph, writer: &Graph) -> Vec<Incompatibility> {
    let mut checker = Checker { r: reader, w: writer, seen: PairSet::default(), out: Vec::new() };
    let mut path = String::new();
    checker.check(reader.root, writer.root, &mut path);
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

struct Checker<'a> {
    r: &'a Graph,
    w: &'a Graph,
    /// (reader, writer) pairs already checked or being checked.
    seen: PairSet,
    out: Vec<Incompatibility>,
}

impl Checker<'_> {
    fn report(&mut self, path: &str, message: String) {
        let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
        self.out.push(Incompatibility { path, message });
    }

    /// Checks `r` against `w` with `segment` appended to the path.
    fn check_at(&mut self, r: NodeId, w: NodeId, path: &mut String, segment: &str) {
        let len = path.len();
        path.push_str(segment);
        self.check(r, w, path);
        path.truncate(len);
    }

    /// Checks `r` against `w` with `/index` appended to the path (a union branch).
    fn check_branch(&mut self, r: NodeId, w: NodeId, path: &mut String, index: usize) {
        let len = path.len();
        let _ = write!(path, "/{index}");
        self.check(r, w, path);
        path.truncate(len);
    }

    fn check(&mut self, r: NodeId, w: NodeId, path: &mut String) {
        if !self.seen.insert((r, w)) {
            return;
        }
        let (rg, wg) = (self.r, self.w);
        let (rn, wn) = (rg.node(r), wg.node(w));
        match (rn, wn) {
            (Node::Union(rbs), Node::Union(wbs)) => {
                for (i, &wb) in wbs.iter().enumerate() {
                    match select_branch(rg, rbs, wg.node(wb)) {
                        Some(j) => self.check_branch(rbs[j], wb, path, j),
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
                Some(j) => self.check_branch(rbs[j], w, path, j),
                None => {
                    self.report(path, format!("reader union has no branch for writer type {}", wn.describe()))
                }
            },
            (Node::Array(ri), Node::Array(wi)) => self.check_at(*ri, *wi, path, "/items"),
            (Node::Map(rv), Node::Map(wv)) => self.check_at(*rv, *wv, path, "/values"),
            (Node::Bytes { decimal: Some(rd) }, Node::Bytes { decimal: Some(wd) }) => {
                self.check_decimal(*rd, *wd, path)
            }
            (
                Node::Record { name: rname, fields: rfields, .. },
                Node::Record { name: wname, fields: wfields, positions },
            ) => {
                self.check_name(rname, wname, "record", path);
                for (i, rf) in rfields.iter().enumerate() {
                    let wf = source_field(positions, rf).map(|j| &wfields[j]);
                    let len = path.len();
                    let _ = write!(path, "/fields/{i}");
                    match (wf, &rf.default) {
                        (Some(wf), _) => self.check_at(rf.ty, wf.ty, path, "/type"),
                        (None, None) => self.report(
                            path,
                            format!(
                                "reader field \"{}\" has no default and the writer has no such field",
                                rf.name
                            ),
                        ),
                        (None, Some(default)) => {
                            let mut scratch = Vec::new();
                            if let Err(e) = encode_default(rg, rf.ty, default, &mut scratch) {
                                path.push_str("/default");
                                self.report(
                                    path,
                                    format!(
                                        "reader field \"{}\" is missing from the writer and its default is invalid: {e}",
                                        rf.name
                                    ),
                                );
                            }
                        }
                    }
                    path.truncate(len);
                }
            }
            (
                Node::Enum { name: rname, symbols: rsyms, default },
                Node::Enum { name: wname, symbols: wsyms, .. },
            ) => {
                self.check_name(rname, wname, "enum", path);
                let missing: Vec<&str> =
                    wsyms.iter().filter(|s| !rsyms.contains(s)).map(String::as_str).collect();
                if !missing.is_empty() && default.is_none() {
                    let len = path.len();
                    path.push_str("/symbols");
                    self.report(
                        path,
                        format!(
                            "writer symbols {missing:?} are not in the reader enum \"{}\", which has no default",
                            rname.full
                        ),
                    );
                    path.truncate(len);
                }
            }
            (
                Node::Fixed { name: rname, size: rsize, decimal: rdec },
                Node::Fixed { name: wname, size: wsize, decimal: wdec },
            ) => {
                self.check_name(rname, wname, "fixed", path);
                if rsize != wsize {
                    let len = path.len();
                    path.push_str("/size");
                    self.report(
                        path,
                        format!("reader fixed size {rsize} differs from the writer's size {wsize}"),
                    );
                    path.truncate(len);
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

    fn check_name(&mut self, reader: &graph::Named, writer: &graph::Named, kind: &str, path: &mut String) {
        if reader.reads(writer) {
            return;
        }
        let len = path.len();
        path.push_str("/name");
        self.report(
            path,
            format!(
                "reader {kind} \"{}\" cannot read writer {kind} \"{}\": the unqualified names differ and no reader alias is \"{}\"",
                reader.full, writer.full, writer.full
            ),
        );
        path.truncate(len);
    }

    fn check_decimal(&mut self, rd: graph::Decimal, wd: graph::Decimal, path: &str) {
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
