//! A checked expression bound to the schema a record was written with, and
//! evaluated on the record's bytes.
//!
//! Binding resolves each reader field path in the writer's schema as Avro
//! resolution does: a reader field matches the writer's field of its name or
//! of one of its aliases; a field the writer lacks reads as the reader's
//! default. The paths become a plan over the writer's record fields, read in
//! order: fields no path names are skipped without decoding, and reading
//! stops after the last field named, so a condition on the first field of a
//! large record reads a few bytes.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use super::parse::CmpOp;
use super::typed::{Const, FieldPath, Node, Predicate, ReaderPath};
use super::{ExprError, Span};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::model::{Model, NodeId, NodeKind};
use crate::{skip, Reader, Schema};

/// A field's value read from a datum: borrowed from the datum or the schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// `null` (also an optional record on the way that was null).
    Null,
    /// A boolean.
    Bool(bool),
    /// An `int` or `long`.
    Long(i64),
    /// A `float` or `double`.
    Double(f64),
    /// A string, or an enum's symbol.
    Str(&'a str),
    /// `bytes` or a `fixed`.
    Bytes(&'a [u8]),
}

impl fmt::Display for Scalar<'_> {
    /// The value as text: strings and symbols as they are, numbers in
    /// decimal, bytes in lowercase hex (how `route` names topics).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Long(n) => write!(f, "{n}"),
            Scalar::Double(x) => write!(f, "{x}"),
            Scalar::Str(s) => f.write_str(s),
            Scalar::Bytes(b) => b.iter().try_for_each(|byte| write!(f, "{byte:02x}")),
        }
    }
}

/// Where one reader path's value comes from for one writer schema.
#[derive(Debug, Clone)]
enum Source {
    /// Read from the datum along these writer field indices.
    Read(Vec<Step>),
    /// The writer lacks the field: the reader's default.
    Default(Const),
}

#[derive(Debug, Clone, Copy)]
struct Step {
    /// The field's index in the writer's record.
    field: usize,
}

/// The reading plan of one writer record: the fields to read, in order.
#[derive(Debug, Clone, Default)]
struct RecordPlan {
    fields: Vec<FieldPlan>,
}

#[derive(Debug, Clone)]
struct FieldPlan {
    /// The field's index in the writer's record.
    index: usize,
    /// Slots this field's value fills (when it is a leaf).
    slots: Vec<usize>,
    /// The fields to read inside it (when it is a record, perhaps optional).
    inner: Option<RecordPlan>,
    /// Every slot filled inside it, set to null when it is a null.
    slots_inside: Vec<usize>,
}

impl RecordPlan {
    fn add(&mut self, steps: &[Step], slot: usize) {
        let index = steps[0].field;
        let at = match self.fields.binary_search_by_key(&index, |f| f.index) {
            Ok(at) => at,
            Err(at) => {
                self.fields.insert(
                    at,
                    FieldPlan { index, slots: Vec::new(), inner: None, slots_inside: Vec::new() },
                );
                at
            }
        };
        let field = &mut self.fields[at];
        if steps.len() == 1 {
            field.slots.push(slot);
        } else {
            field.slots_inside.push(slot);
            field.inner.get_or_insert_with(RecordPlan::default).add(&steps[1..], slot);
        }
    }
}

/// The slots' values and how to read them from datums of one writer schema.
#[derive(Debug, Clone)]
struct Reading {
    writer: Schema,
    plan: RecordPlan,
    /// Slots filled from the reader's defaults.
    defaults: Vec<(usize, Const)>,
    slots: usize,
}

impl Reading {
    fn new(writer: &Schema, paths: &[&ReaderPath]) -> Result<Reading, String> {
        let mut plan = RecordPlan::default();
        let mut defaults = Vec::new();
        for (slot, path) in paths.iter().enumerate() {
            match locate(writer.model(), path)? {
                Source::Read(steps) => plan.add(&steps, slot),
                Source::Default(c) => defaults.push((slot, c)),
            }
        }
        Ok(Reading { writer: writer.clone(), plan, defaults, slots: paths.len() })
    }

    /// The slots' values in `datum`.
    fn read<'a>(&'a self, datum: &'a [u8], slots: &mut Vec<Scalar<'a>>) -> Result<(), DecodeError> {
        slots.clear();
        slots.resize(self.slots, Scalar::Null);
        for (slot, c) in &self.defaults {
            slots[*slot] = const_scalar(c);
        }
        let model = self.writer.model();
        let mut r = Reader::new(datum);
        read_record(model, model.root(), &self.plan, &mut r, slots)
    }
}

fn const_scalar(c: &Const) -> Scalar<'_> {
    match c {
        Const::Null => Scalar::Null,
        Const::Bool(b) => Scalar::Bool(*b),
        Const::Long(n) => Scalar::Long(*n),
        Const::Double(x) => Scalar::Double(*x),
        Const::Str(s) => Scalar::Str(s),
    }
}

/// The record node `id` is, looking through a union holding one record;
/// `Some(branch)` when it is in a union (its branch index).
fn writer_record(model: &Model, id: NodeId) -> Option<(NodeId, Option<(usize, usize)>)> {
    match model.kind(id) {
        NodeKind::Record(_) => Some((id, None)),
        NodeKind::Union { branches } => {
            let records: Vec<usize> = (0..branches.len())
                .filter(|&i| matches!(model.kind(branches[i]), NodeKind::Record(_)))
                .collect();
            match records.as_slice() {
                [one] => Some((branches[*one], Some((*one, branches.len())))),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Where `path`'s value is in datums of `writer`.
fn locate(writer: &Model, path: &ReaderPath) -> Result<Source, String> {
    let mut id = writer.root();
    let mut steps = Vec::with_capacity(path.fields.len());
    for (i, reader_field) in path.fields.iter().enumerate() {
        let shown = path.names[..=i].join(".");
        let Some((record_id, _)) = writer_record(writer, id) else {
            return Err(format!(
                "`{shown}`: the writer's schema has `{}` there, not a record",
                writer.type_name(id)
            ));
        };
        let NodeKind::Record(record) = writer.kind(record_id) else {
            unreachable!("writer_record gives records")
        };
        let found = record
            .fields
            .iter()
            .position(|f| f.name == reader_field.name || reader_field.aliases.contains(&f.name));
        let Some(index) = found else {
            // The reader's default, and inside it the rest of the path.
            let mut value = reader_field.default.as_ref().ok_or_else(|| {
                format!("`{shown}`: the writer's schema lacks the field and the reader's gives no default")
            })?;
            for name in &path.names[i + 1..] {
                value = match value.get(name) {
                    Some(v) => v,
                    None => return Ok(Source::Default(Const::Null)),
                };
            }
            return Ok(Source::Default(json_const(value)));
        };
        steps.push(Step { field: index });
        id = record.fields[index].node;
    }
    Ok(Source::Read(steps))
}

fn json_const(v: &serde_json::Value) -> Const {
    match v {
        serde_json::Value::Bool(b) => Const::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Const::Long(i),
            None => Const::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Const::Str(s.clone()),
        _ => Const::Null,
    }
}

fn read_record<'a>(
    model: &'a Model,
    id: NodeId,
    plan: &RecordPlan,
    r: &mut Reader<'a>,
    slots: &mut [Scalar<'a>],
) -> Result<(), DecodeError> {
    let NodeKind::Record(record) = model.kind(id) else {
        return Err(r.error(DecodeErrorKind::Invalid(format!("`{}` is not a record", model.type_name(id)))));
    };
    let mut wanted = plan.fields.iter().peekable();
    for (index, field) in record.fields.iter().enumerate() {
        // Past the last field named: the rest of the datum is not read.
        let Some(next) = wanted.peek() else { break };
        if next.index != index {
            skip(model, field.node, r).map_err(|e| e.in_field(&field.name))?;
            continue;
        }
        let wanted_field = wanted.next().expect("peeked");
        match &wanted_field.inner {
            None => {
                let value = read_leaf(model, field.node, r).map_err(|e| e.in_field(&field.name))?;
                for &slot in &wanted_field.slots {
                    slots[slot] = value;
                }
            }
            Some(inner) => {
                let Some((record_id, union)) = writer_record(model, field.node) else {
                    return Err(
                        r.error(DecodeErrorKind::Invalid(format!("`{}` is not a record", field.name)))
                    );
                };
                if let Some((branch, branches)) = union {
                    let chosen = r.read_union_index(branches).map_err(|e| e.in_field(&field.name))?;
                    if chosen != branch {
                        // Not the record (null): everything inside reads as null.
                        for &slot in &wanted_field.slots_inside {
                            slots[slot] = Scalar::Null;
                        }
                        let NodeKind::Union { branches } = model.kind(field.node) else { unreachable!() };
                        skip(model, branches[chosen], r).map_err(|e| e.in_field(&field.name))?;
                        continue;
                    }
                }
                read_record(model, record_id, inner, r, slots).map_err(|e| e.in_field(&field.name))?;
            }
        }
    }
    Ok(())
}

fn read_leaf<'a>(model: &'a Model, id: NodeId, r: &mut Reader<'a>) -> Result<Scalar<'a>, DecodeError> {
    Ok(match model.kind(id) {
        NodeKind::Null => Scalar::Null,
        NodeKind::Boolean => Scalar::Bool(r.read_bool()?),
        NodeKind::Int => Scalar::Long(i64::from(r.read_int()?)),
        NodeKind::Long => Scalar::Long(r.read_long()?),
        NodeKind::Float => Scalar::Double(f64::from(r.read_float()?)),
        NodeKind::Double => Scalar::Double(r.read_double()?),
        NodeKind::String => Scalar::Str(r.read_str()?),
        NodeKind::Bytes => Scalar::Bytes(r.read_bytes()?),
        NodeKind::Fixed(f) => Scalar::Bytes(r.read_fixed(f.size)?),
        NodeKind::Enum(e) => Scalar::Str(&e.symbols[r.read_enum_index(e.symbols.len())?]),
        NodeKind::Union { branches } => {
            let chosen = r.read_union_index(branches.len())?;
            read_leaf(model, branches[chosen], r).map_err(|e| e.in_branch(chosen as u32))?
        }
        // A record, array or map, compared with null only: its encoded bytes.
        NodeKind::Record(_) | NodeKind::Array { .. } | NodeKind::Map { .. } => {
            let before = r.rest();
            skip(model, id, r)?;
            Scalar::Bytes(&before[..before.len() - r.rest().len()])
        }
    })
}

/// A [`Predicate`] bound to one writer schema: evaluates datums written with it.
#[derive(Debug, Clone)]
pub struct BoundPredicate {
    reading: Reading,
    root: Arc<Node>,
}

impl Predicate {
    /// Binds the predicate to `writer`, the schema datums were written with
    /// (the reader's own schema, or an older or newer version of it). Fails
    /// when a field cannot be found in the writer and has no default.
    pub fn bind(&self, writer: &Schema) -> Result<BoundPredicate, ExprError> {
        let paths: Vec<&ReaderPath> = self.paths.iter().collect();
        let reading =
            Reading::new(writer, &paths).map_err(|m| ExprError::at(Span::new(0, self.text.len()), m))?;
        Ok(BoundPredicate { reading, root: self.root.clone() })
    }
}

impl BoundPredicate {
    /// Whether `datum` (bare Avro binary, no framing) satisfies the
    /// condition. Only the fields it names are decoded; bytes after the last
    /// of them are not looked at.
    pub fn matches(&self, datum: &[u8]) -> Result<bool, DecodeError> {
        let mut slots = Vec::new();
        self.reading.read(datum, &mut slots)?;
        Ok(truth(&self.root, &slots))
    }
}

/// A [`FieldPath`] bound to one writer schema.
#[derive(Debug, Clone)]
pub struct BoundFieldPath {
    reading: Reading,
}

impl FieldPath {
    /// Binds the field to `writer` (see [`Predicate::bind`]).
    pub fn bind(&self, writer: &Schema) -> Result<BoundFieldPath, ExprError> {
        let reading = Reading::new(writer, &[&self.path])
            .map_err(|m| ExprError::at(Span::new(0, self.path.names.join(".").len()), m))?;
        Ok(BoundFieldPath { reading })
    }
}

impl BoundFieldPath {
    /// The field's value in `datum`.
    pub fn value<'a>(&'a self, datum: &'a [u8]) -> Result<Scalar<'a>, DecodeError> {
        let mut slots = Vec::with_capacity(1);
        self.reading.read(datum, &mut slots)?;
        Ok(slots[0])
    }
}

fn truth(node: &Node, slots: &[Scalar<'_>]) -> bool {
    match node {
        Node::Const(Const::Bool(b)) => *b,
        Node::Const(_) => false,
        Node::Slot(slot) => matches!(slots[*slot], Scalar::Bool(true)),
        Node::Not(inner) => !truth(inner, slots),
        Node::And(a, b) => truth(a, slots) && truth(b, slots),
        Node::Or(a, b) => truth(a, slots) || truth(b, slots),
        Node::Compare(op, a, b) => compare(*op, value(a, slots), value(b, slots)),
    }
}

fn value<'a>(node: &'a Node, slots: &[Scalar<'a>]) -> Scalar<'a> {
    match node {
        Node::Const(c) => const_scalar(c),
        Node::Slot(slot) => slots[*slot],
        other => Scalar::Bool(truth(other, slots)),
    }
}

/// `a op b`. Equality: null equals only null; numbers compare by value
/// across int, long, float and double; a string equals bytes holding its
/// UTF-8. Ordering: numbers, and strings by their bytes; anything else
/// (null among them) is not ordered, and the comparison is false.
fn compare(op: CmpOp, a: Scalar<'_>, b: Scalar<'_>) -> bool {
    let order = match (a, b) {
        (Scalar::Null, Scalar::Null) => Some(Ordering::Equal),
        (Scalar::Long(x), Scalar::Long(y)) => Some(x.cmp(&y)),
        (Scalar::Long(x), Scalar::Double(y)) => (x as f64).partial_cmp(&y),
        (Scalar::Double(x), Scalar::Long(y)) => x.partial_cmp(&(y as f64)),
        (Scalar::Double(x), Scalar::Double(y)) => x.partial_cmp(&y),
        (Scalar::Str(x), Scalar::Str(y)) => Some(x.cmp(y)),
        (Scalar::Str(x), Scalar::Bytes(y)) => Some(x.as_bytes().cmp(y)),
        (Scalar::Bytes(x), Scalar::Str(y)) => Some(x.cmp(y.as_bytes())),
        (Scalar::Bytes(x), Scalar::Bytes(y)) => Some(x.cmp(y)),
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    };
    let null_involved = matches!(a, Scalar::Null) || matches!(b, Scalar::Null);
    match op {
        CmpOp::Eq => order == Some(Ordering::Equal),
        CmpOp::Ne => order != Some(Ordering::Equal),
        _ if null_involved => false,
        CmpOp::Lt => order == Some(Ordering::Less),
        CmpOp::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
    }
}
