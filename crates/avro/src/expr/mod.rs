//! Field expressions over Avro records: `age >= 18 && country == "NO"`.
//!
//! The language of the built-in functions' conditions and of the console's
//! filters: field paths (`address.city`), literals (`1`, `2.5`, `"s"`, `true`,
//! `false`, `null`), `== != < <= > >=`, `&& || !` and parentheses.
//!
//! An expression is [parsed](parse), then checked against the schema records
//! are read as ([`Predicate::new`], [`FieldPath::new`]): every field must
//! exist, comparisons must compare like with like, an enum is compared with
//! one of its symbols. Every problem is reported at once, each with its span.
//! The checked expression is then [bound](Predicate::bind) to each writer
//! schema met in the data, resolving fields by name or alias as Avro
//! resolution does (a field the writer lacks reads as the reader's default),
//! and evaluated on the binary datum directly: the record is walked field by
//! field, only the fields named are read, and the walk stops after the last.

mod bind;
mod parse;
#[cfg(test)]
mod tests;
mod typed;

use std::fmt;

pub use bind::{BoundFieldPath, BoundPredicate, Scalar};
pub use parse::{parse, CmpOp, Expr, ExprKind, Literal, MAX_NESTING, MAX_OPERATORS};
pub use typed::{FieldPath, Predicate, ValueType};

/// A range of byte offsets in an expression's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The span covering `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// Why an expression was refused: every problem found, each with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    problems: Vec<(Span, String)>,
}

impl ExprError {
    /// One problem at `span`.
    pub fn at(span: Span, message: impl Into<String>) -> ExprError {
        ExprError { problems: vec![(span, message.into())] }
    }

    /// The problems, in the order they were found.
    pub fn problems(&self) -> &[(Span, String)] {
        &self.problems
    }

    fn from_problems(problems: Vec<(Span, String)>) -> ExprError {
        ExprError { problems }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (span, message)) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "at {}..{}: {message}", span.start, span.end)?;
        }
        Ok(())
    }
}

impl std::error::Error for ExprError {}
