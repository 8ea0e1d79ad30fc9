//! Expressions checked against the schema records are read as.
//!
//! Each field path is resolved through the reader's records (an optional
//! record, `["null", Record]`, may be passed through: a null on the way reads
//! as null), and given the type comparisons see; each comparison must compare
//! like with like. The result is a tree whose leaves are constants and
//! numbered slots, one per distinct field path, which [`bind`](super::bind)
//! fills from each datum.

use std::sync::Arc;

use super::parse::{parse, CmpOp, Expr, ExprKind, Literal};
use super::{ExprError, Span};
use crate::model::{FieldNode, LogicalType, Model, NodeId, NodeKind};
use crate::Schema;

/// What a field or a literal holds, as comparisons see it.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueType {
    /// Only `null`.
    Null,
    /// `boolean`.
    Boolean,
    /// `int`, `long`, `float`, `double` (and the date and time logical types on them).
    Number,
    /// `string`.
    String,
    /// An enum, compared by symbol.
    Enum {
        /// The enum's full name.
        name: String,
        /// Its symbols.
        symbols: Vec<String>,
    },
    /// `bytes` or a `fixed`.
    Bytes,
    /// A record, array or map: only tested against `null` (when optional).
    Composite(String),
}

impl ValueType {
    fn describe(&self) -> String {
        match self {
            ValueType::Null => "null".into(),
            ValueType::Boolean => "a boolean".into(),
            ValueType::Number => "a number".into(),
            ValueType::String => "a string".into(),
            ValueType::Enum { name, .. } => format!("the enum `{name}`"),
            ValueType::Bytes => "bytes".into(),
            ValueType::Composite(what) => what.clone(),
        }
    }
}

/// A field path resolved in the reader's schema.
#[derive(Debug, Clone)]
pub(crate) struct ReaderPath {
    /// The names as written.
    pub names: Vec<String>,
    /// The reader's field at each step (its aliases and default serve binding).
    pub fields: Vec<FieldNode>,
    /// What the path holds.
    pub ty: ValueType,
    /// Whether it may be null (an optional field, or one on the way).
    pub nullable: bool,
}

/// A constant of a checked expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(String),
}

/// A checked expression.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(Const),
    /// The value of field path number `n`.
    Slot(usize),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare(CmpOp, Box<Node>, Box<Node>),
}

/// A condition over records of one schema: parsed, checked, ready to be
/// [bound](Predicate::bind) to the schemas the records were written with.
///
/// ```
/// use runnel_avro::{expr::Predicate, Schema};
/// let schema = Schema::parse_str(r#"{"type":"record","name":"User","fields":[
///     {"name":"name","type":"string"},{"name":"age","type":"int"}]}"#).unwrap();
/// let adults = Predicate::new(&schema, "age >= 18").unwrap();
/// let bound = adults.bind(&schema).unwrap();
/// let mut datum = Vec::new();
/// runnel_avro::binary::write_string(&mut datum, "ann");
/// runnel_avro::binary::write_int(&mut datum, 42);
/// assert!(bound.matches(&datum).unwrap());
/// let err = Predicate::new(&schema, "agee >= 18 && name > 1").unwrap_err();
/// assert_eq!(err.problems().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Predicate {
    pub(crate) text: String,
    pub(crate) paths: Arc<[ReaderPath]>,
    pub(crate) root: Arc<Node>,
}

impl Predicate {
    /// Parses `text` and checks it against `reader`, the schema records are
    /// read as: every problem is reported, each with its span.
    pub fn new(reader: &Schema, text: &str) -> Result<Predicate, ExprError> {
        let expr = parse(text)?;
        let mut checker = Checker { model: reader.model(), text, paths: Vec::new(), problems: Vec::new() };
        let root = checker.condition(&expr);
        if !checker.problems.is_empty() {
            return Err(ExprError::from_problems(checker.problems));
        }
        let root = root.expect("no problems, so a tree");
        Ok(Predicate { text: text.to_owned(), paths: checker.paths.into(), root: Arc::new(root) })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// One field of records of one schema, for reading its value (the built-in
/// `route` names its output topic from it).
#[derive(Debug, Clone)]
pub struct FieldPath {
    pub(crate) path: Arc<ReaderPath>,
}

impl FieldPath {
    /// Resolves `path` (`a.b`) in `reader`: it must name a field holding a
    /// boolean, number, string, enum or bytes (perhaps optional).
    pub fn new(reader: &Schema, path: &str) -> Result<FieldPath, ExprError> {
        let span = Span::new(0, path.len());
        let expr = parse(path)?;
        let ExprKind::Path(names) = expr.kind else {
            return Err(ExprError::at(span, format!("`{path}` is not a field path (a or a.b)")));
        };
        let resolved = resolve(reader.model(), &names).map_err(|m| ExprError::at(span, m))?;
        if let ValueType::Composite(what) = &resolved.ty {
            return Err(ExprError::at(span, composite_problem(path, what)));
        }
        Ok(FieldPath { path: Arc::new(resolved) })
    }

    /// What the field holds.
    pub fn value_type(&self) -> &ValueType {
        &self.path.ty
    }

    /// Whether the field may be null.
    pub fn nullable(&self) -> bool {
        self.path.nullable
    }
}

/// The record node `id` is, looking through `["null", Record]`; whether a null was passed.
fn record_of(model: &Model, id: NodeId) -> Option<(NodeId, bool)> {
    match model.kind(id) {
        NodeKind::Record(_) => Some((id, false)),
        NodeKind::Union { branches } => {
            let mut non_null = branches.iter().filter(|&&b| !matches!(model.kind(b), NodeKind::Null));
            let only = non_null.next()?;
            (non_null.next().is_none() && matches!(model.kind(*only), NodeKind::Record(_)))
                .then_some((*only, true))
        }
        _ => None,
    }
}

/// What a leaf node holds for comparisons, and whether it may be null.
fn leaf_type(model: &Model, id: NodeId, shown: &str) -> Result<(ValueType, bool), String> {
    let node = model.node(id);
    if let Some(logical @ (LogicalType::Decimal { .. } | LogicalType::BigDecimal | LogicalType::Duration)) =
        node.logical
    {
        return Err(format!("`{shown}` is a {}: it cannot be compared yet", logical.name()));
    }
    let ty = match &node.kind {
        NodeKind::Null => ValueType::Null,
        NodeKind::Boolean => ValueType::Boolean,
        NodeKind::Int | NodeKind::Long | NodeKind::Float | NodeKind::Double => ValueType::Number,
        NodeKind::String => ValueType::String,
        NodeKind::Bytes | NodeKind::Fixed(_) => ValueType::Bytes,
        NodeKind::Enum(e) => ValueType::Enum { name: e.name.full().to_owned(), symbols: e.symbols.clone() },
        NodeKind::Union { branches } => {
            let non_null: Vec<NodeId> =
                branches.iter().copied().filter(|&b| !matches!(model.kind(b), NodeKind::Null)).collect();
            return match non_null.as_slice() {
                [] => Ok((ValueType::Null, true)),
                [one] if !matches!(model.kind(*one), NodeKind::Union { .. }) => {
                    leaf_type(model, *one, shown).map(|(ty, _)| (ty, true))
                }
                _ => Err(format!(
                    "`{shown}` is a union of several types ({}): only a type or null is compared",
                    branches.iter().map(|&b| model.type_name(b)).collect::<Vec<_>>().join(", ")
                )),
            };
        }
        NodeKind::Record(r) => ValueType::Composite(format!("the record `{}`", r.name)),
        NodeKind::Array { .. } => ValueType::Composite("an array".into()),
        NodeKind::Map { .. } => ValueType::Composite("a map".into()),
    };
    Ok((ty, false))
}

/// Resolves `names` through the reader's records.
pub(crate) fn resolve(model: &Model, names: &[String]) -> Result<ReaderPath, String> {
    let mut id = model.root();
    let mut nullable = false;
    let mut fields = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let Some((record_id, through_null)) = record_of(model, id) else {
            return Err(if i == 0 {
                format!("records are `{}`, not records with fields", model.type_name(id))
            } else {
                format!(
                    "`{}` is `{}`, not a record: it has no field `{name}`",
                    names[..i].join("."),
                    model.type_name(id)
                )
            });
        };
        nullable |= through_null;
        let NodeKind::Record(record) = model.kind(record_id) else { unreachable!("record_of gives records") };
        let Some(field) = record.fields.iter().find(|f| &f.name == name) else {
            let known: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "no field `{name}` in the record `{}` (its fields: {})",
                record.name,
                known.join(", ")
            ));
        };
        fields.push(field.clone());
        id = field.node;
    }
    let (ty, leaf_nullable) = leaf_type(model, id, &names.join("."))?;
    Ok(ReaderPath { names: names.to_vec(), fields, ty, nullable: nullable || leaf_nullable })
}

/// The type of a checked operand: what it holds and whether it may be null.
#[derive(Debug, Clone)]
struct Typed {
    ty: ValueType,
    nullable: bool,
}

struct Checker<'a> {
    model: &'a Model,
    text: &'a str,
    paths: Vec<ReaderPath>,
    problems: Vec<(Span, String)>,
}

impl Checker<'_> {
    fn shown(&self, e: &Expr) -> &str {
        self.text.get(e.span.start..e.span.end).unwrap_or("?")
    }

    /// `e` used as a condition: it must be a boolean (a null one counts as false).
    fn condition(&mut self, e: &Expr) -> Option<Node> {
        let (node, typed) = self.operand(e)?;
        if typed.ty != ValueType::Boolean {
            let shown = self.shown(e).to_owned();
            self.problems.push((
                e.span,
                format!(
                    "`{shown}` is {}, not a condition (compare it, as in `{shown} == ...`)",
                    typed.ty.describe()
                ),
            ));
            return None;
        }
        Some(node)
    }

    /// `e` as a value; `None` when a problem was recorded.
    fn operand(&mut self, e: &Expr) -> Option<(Node, Typed)> {
        let boolean = Typed { ty: ValueType::Boolean, nullable: false };
        match &e.kind {
            ExprKind::Literal(l) => {
                let (c, ty) = match l {
                    Literal::Null => (Const::Null, ValueType::Null),
                    Literal::Bool(b) => (Const::Bool(*b), ValueType::Boolean),
                    Literal::Int(n) => (Const::Long(*n), ValueType::Number),
                    Literal::Float(f) => (Const::Double(*f), ValueType::Number),
                    Literal::Str(s) => (Const::Str(s.clone()), ValueType::String),
                };
                let nullable = ty == ValueType::Null;
                Some((Node::Const(c), Typed { ty, nullable }))
            }
            ExprKind::Path(names) => match resolve(self.model, names) {
                Ok(path) => {
                    let typed = Typed { ty: path.ty.clone(), nullable: path.nullable };
                    let slot = match self.paths.iter().position(|p| p.names == *names) {
                        Some(slot) => slot,
                        None => {
                            self.paths.push(path);
                            self.paths.len() - 1
                        }
                    };
                    Some((Node::Slot(slot), typed))
                }
                Err(message) => {
                    self.problems.push((e.span, message));
                    None
                }
            },
            ExprKind::Not(inner) => {
                let inner = self.condition(inner)?;
                Some((Node::Not(Box::new(inner)), boolean))
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                // Both sides are checked, so that every problem is reported.
                let (a, b) = (self.condition(a), self.condition(b));
                let (a, b) = (Box::new(a?), Box::new(b?));
                let node = if matches!(e.kind, ExprKind::And(..)) { Node::And(a, b) } else { Node::Or(a, b) };
                Some((node, boolean))
            }
            ExprKind::Compare(op, a, b) => {
                let (left, right) = (self.operand(a), self.operand(b));
                let ((ln, lt), (rn, rt)) = (left?, right?);
                match self.comparable(*op, (a, &lt), (b, &rt)) {
                    Ok(()) => Some((Node::Compare(*op, Box::new(ln), Box::new(rn)), boolean)),
                    Err(message) => {
                        self.problems.push((e.span, message));
                        None
                    }
                }
            }
        }
    }

    /// Whether `op` may compare the two operands.
    fn comparable(
        &self,
        op: CmpOp,
        (a, at): (&Expr, &Typed),
        (b, bt): (&Expr, &Typed),
    ) -> Result<(), String> {
        let (sa, sb) = (self.shown(a), self.shown(b));
        let whole = format!("`{sa} {} {sb}`", op.as_str());
        // `null` on one side: equality only, and the other side must be able to be null.
        for (side, other, other_typed) in [(at, sb, bt), (bt, sa, at)] {
            if side.ty == ValueType::Null {
                if op.is_ordering() {
                    return Err(format!("{whole}: null is compared with == and != only"));
                }
                if !other_typed.nullable {
                    return Err(format!("{whole}: `{other}` is never null"));
                }
                return Ok(());
            }
        }
        use ValueType as T;
        for (typed, shown) in [(at, sa), (bt, sb)] {
            if let T::Composite(what) = &typed.ty {
                return Err(composite_problem(shown, what));
            }
        }
        match (&at.ty, &bt.ty) {
            (T::Number, T::Number) | (T::String, T::String) => Ok(()),
            (T::Enum { name, symbols }, T::String) | (T::String, T::Enum { name, symbols }) => {
                if op.is_ordering() {
                    return Err(format!("{whole}: enums are compared with == and != only"));
                }
                let literal = match (&a.kind, &b.kind) {
                    (ExprKind::Literal(Literal::Str(s)), _) | (_, ExprKind::Literal(Literal::Str(s))) => {
                        Some(s)
                    }
                    _ => None,
                };
                match literal {
                    Some(s) if !symbols.contains(s) => Err(format!(
                        "{whole}: \"{s}\" is not a symbol of the enum `{name}` (its symbols: {})",
                        symbols.join(", ")
                    )),
                    _ => Ok(()),
                }
            }
            (T::Enum { name: x, .. }, T::Enum { name: y, .. }) if x == y && !op.is_ordering() => Ok(()),
            (T::Boolean, T::Boolean) | (T::Bytes, T::Bytes) if !op.is_ordering() => Ok(()),
            (T::Boolean, T::Boolean) | (T::Bytes, T::Bytes) | (T::Enum { .. }, T::Enum { .. }) => {
                Err(format!("{whole}: {} are compared with == and != only", plural(&at.ty)))
            }
            (x, y) => Err(format!("{whole} compares {} with {}", x.describe(), y.describe())),
        }
    }
}

fn composite_problem(shown: &str, what: &str) -> String {
    format!("`{shown}` is {what}: only booleans, numbers, strings, enums and bytes are compared (and optional ones with null)")
}

fn plural(ty: &ValueType) -> &'static str {
    match ty {
        ValueType::Boolean => "booleans",
        ValueType::Bytes => "bytes",
        _ => "enums",
    }
}
