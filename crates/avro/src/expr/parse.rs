//! The text of an expression to its syntax tree.
//!
//! The grammar (loosest binding first):
//!
//! ```text
//! or      := and ("||" and)*
//! and     := unary ("&&" unary)*
//! unary   := "!" unary | compare
//! compare := primary (("==" | "!=" | "<" | "<=" | ">" | ">=") primary)?
//! primary := "(" or ")" | literal | path
//! literal := "null" | "true" | "false" | number | string
//! path    := name ("." name)*          name: [A-Za-z_][A-Za-z0-9_]*
//! ```
//!
//! Written by hand rather than with a parser library: the grammar is a dozen
//! lines, and a hand-written descent reports every error with the exact byte
//! span a user needs to find it, in the words of this language.

use super::{ExprError, Span};

/// A parsed expression, with the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is in the text (byte offsets).
    pub span: Span,
}

/// The shapes of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A constant.
    Literal(Literal),
    /// A field of the record, by its path of names (`address.city`).
    Path(Vec<String>),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
    /// `a OP b`.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
}

/// A constant written in an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number without a fraction or exponent that fits in 64 bits.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string in double quotes, with JSON's escapes.
    Str(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the operator orders its operands (rather than testing equality).
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// Expressions nested deeper than this are refused, so that parsing and
/// evaluating cannot exhaust the stack.
pub const MAX_NESTING: usize = 64;

/// Expressions with more operators than this are refused: a chain of `&&`
/// is a tree as deep as it is long, walked recursively.
pub const MAX_OPERATORS: usize = 256;

/// Parses `text`.
///
/// ```
/// use runnel_avro::expr::{parse, ExprKind};
/// let e = parse("age >= 18 && country == \"NO\"").unwrap();
/// assert!(matches!(e.kind, ExprKind::And(..)));
/// assert!(parse("age >=").is_err());
/// ```
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let mut p = Parser { text, pos: 0, depth: 0, operators: 0 };
    let e = p.or()?;
    p.skip_space();
    if p.pos < text.len() {
        let end = p.token_end();
        return Err(ExprError::at(Span::new(p.pos, end), format!("unexpected `{}`", &text[p.pos..end])));
    }
    Ok(e)
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    depth: usize,
    operators: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    /// Consumes `token` (after spaces) when it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// The end of the token starting at `pos`, for error spans.
    fn token_end(&self) -> usize {
        let rest = self.rest();
        let len = match rest.chars().next() {
            None => 0,
            Some(c) if c.is_alphanumeric() || c == '_' || c == '.' => {
                rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len())
            }
            Some(c) => c.len_utf8(),
        };
        self.pos + len
    }

    fn nested<T>(
        &mut self,
        start: usize,
        f: impl FnOnce(&mut Self) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth >= MAX_NESTING {
            return Err(ExprError::at(
                Span::new(start, self.pos.max(start + 1)),
                format!("nested deeper than {MAX_NESTING}"),
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Counts one more operator, starting at `start`.
    fn operator(&mut self, start: usize) -> Result<(), ExprError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(ExprError::at(
                Span::new(start, self.pos),
                format!("more than {MAX_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.eat("||") {
            self.operator(left.span.start)?;
            let right = self.and()?;
            let span = left.span.to(right.span);
            left = Expr { kind: ExprKind::Or(Box::new(left), Box::new(right)), span };
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            self.operator(left.span.start)?;
            let right = self.unary()?;
            let span = left.span.to(right.span);
            left = Expr { kind: ExprKind::And(Box::new(left), Box::new(right)), span };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.skip_space();
        let start = self.pos;
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.pos += 1;
            self.operator(start)?;
            let inner = self.nested(start, |p| p.unary())?;
            let span = Span::new(start, inner.span.end);
            return Ok(Expr { kind: ExprKind::Not(Box::new(inner)), span });
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let left = self.primary()?;
        self.skip_space();
        // Two-character operators first, so that `<=` is not read as `<`.
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| self.rest().starts_with(t));
        let Some((token, op)) = op else {
            if self.rest().starts_with('=') {
                return Err(ExprError::at(
                    Span::new(self.pos, self.pos + 1),
                    "`=` is not an operator: equality is `==`",
                ));
            }
            return Ok(left);
        };
        self.pos += token.len();
        self.operator(left.span.start)?;
        let right = self.primary()?;
        let span = left.span.to(right.span);
        self.skip_space();
        if self.rest().starts_with(['=', '<', '>']) || self.rest().starts_with("!=") {
            let end = self.pos + self.rest().chars().take_while(|c| "=!<>".contains(*c)).count();
            return Err(ExprError::at(Span::new(self.pos, end), "comparisons do not chain: add parentheses"));
        }
        Ok(Expr { kind: ExprKind::Compare(op, Box::new(left), Box::new(right)), span })
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        self.skip_space();
        let start = self.pos;
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return Err(ExprError::at(
                Span::new(start, start),
                "the expression ends where a value was expected",
            ));
        };
        if first == '(' {
            self.pos += 1;
            let inner = self.nested(start, |p| p.or())?;
            if !self.eat(")") {
                let end = self.token_end();
                return Err(ExprError::at(Span::new(start, end.max(start + 1)), "`(` is not closed"));
            }
            return Ok(Expr { kind: inner.kind, span: Span::new(start, self.pos) });
        }
        if first == '"' {
            return self.string(start);
        }
        if first.is_ascii_digit() || (first == '-' && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
            return self.number(start);
        }
        if first.is_ascii_alphabetic() || first == '_' {
            return self.path_or_keyword(start);
        }
        if first == '=' {
            return Err(ExprError::at(
                Span::new(start, start + 1),
                "`=` is not an operator here: equality is `==`",
            ));
        }
        let end = self.token_end();
        Err(ExprError::at(
            Span::new(start, end),
            format!("expected a field, a literal or `(`, found `{}`", &self.text[start..end]),
        ))
    }

    fn string(&mut self, start: usize) -> Result<Expr, ExprError> {
        // The closing quote: the first `"` not escaped by a backslash.
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        if i >= bytes.len() {
            return Err(ExprError::at(
                Span::new(start, self.text.len()),
                "the string is not closed with `\"`",
            ));
        }
        let quoted = &self.text[start..=i];
        // JSON's string escapes, read by serde_json.
        let value: String = serde_json::from_str(quoted)
            .map_err(|e| ExprError::at(Span::new(start, i + 1), format!("bad string literal: {e}")))?;
        self.pos = i + 1;
        Ok(Expr { kind: ExprKind::Literal(Literal::Str(value)), span: Span::new(start, self.pos) })
    }

    fn number(&mut self, start: usize) -> Result<Expr, ExprError> {
        let rest = self.rest();
        let mut len = usize::from(rest.starts_with('-'));
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        len += digits(&rest[len..]);
        let mut float = false;
        if rest[len..].starts_with('.') && rest[len + 1..].starts_with(|c: char| c.is_ascii_digit()) {
            float = true;
            len += 1 + digits(&rest[len + 1..]);
        }
        if rest[len..].starts_with(['e', 'E']) {
            let mut e = len + 1;
            if rest[e..].starts_with(['+', '-']) {
                e += 1;
            }
            if rest[e..].starts_with(|c: char| c.is_ascii_digit()) {
                float = true;
                len = e + digits(&rest[e..]);
            }
        }
        let text = &rest[..len];
        let span = Span::new(start, start + len);
        if rest[len..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            let end = self.text[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
                .map_or(self.text.len(), |n| start + n);
            return Err(ExprError::at(
                Span::new(start, end),
                format!("`{}` is not a number", &self.text[start..end]),
            ));
        }
        let literal = match (float, text.parse::<i64>()) {
            (false, Ok(n)) => Literal::Int(n),
            _ => match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Literal::Float(f),
                _ => return Err(ExprError::at(span, format!("`{text}` is out of range"))),
            },
        };
        self.pos += len;
        Ok(Expr { kind: ExprKind::Literal(literal), span })
    }

    fn path_or_keyword(&mut self, start: usize) -> Result<Expr, ExprError> {
        let mut names = Vec::new();
        loop {
            let rest = self.rest();
            let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            if len == 0 || !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                let end = self.token_end().max(self.pos + 1).min(self.text.len());
                return Err(ExprError::at(Span::new(start, end), "a field name is expected after `.`"));
            }
            names.push(rest[..len].to_owned());
            self.pos += len;
            if names.len() > MAX_NESTING {
                return Err(ExprError::at(
                    Span::new(start, self.pos),
                    format!("a path of more than {MAX_NESTING} fields"),
                ));
            }
            if !self.rest().starts_with('.') {
                break;
            }
            self.pos += 1;
        }
        let span = Span::new(start, self.pos);
        let kind = match (names.len(), names[0].as_str()) {
            (1, "null") => ExprKind::Literal(Literal::Null),
            (1, "true") => ExprKind::Literal(Literal::Bool(true)),
            (1, "false") => ExprKind::Literal(Literal::Bool(false)),
            _ => ExprKind::Path(names),
        };
        Ok(Expr { kind, span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Literal {
        match parse(text).unwrap().kind {
            ExprKind::Literal(l) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn literals_read_as_written() {
        assert_eq!(lit("null"), Literal::Null);
        assert_eq!(lit("true"), Literal::Bool(true));
        assert_eq!(lit("-42"), Literal::Int(-42));
        assert_eq!(lit("2.5"), Literal::Float(2.5));
        assert_eq!(lit("1e3"), Literal::Float(1000.0));
        assert_eq!(lit("9223372036854775808"), Literal::Float(9.223372036854776e18));
        assert_eq!(lit(r#""a \"q\" \u00e5""#), Literal::Str("a \"q\" å".into()));
    }

    #[test]
    fn precedence_is_not_then_compare_then_and_then_or() {
        let e = parse("!a || b == 1 && c").unwrap();
        let ExprKind::Or(l, r) = e.kind else { panic!() };
        assert!(matches!(l.kind, ExprKind::Not(_)));
        let ExprKind::And(cmp, c) = r.kind else { panic!() };
        assert!(matches!(cmp.kind, ExprKind::Compare(CmpOp::Eq, ..)));
        assert_eq!(c.kind, ExprKind::Path(vec!["c".into()]));
        let e = parse("(a.b.c <= 2)").unwrap();
        assert_eq!(e.span, Span::new(0, 12));
        let ExprKind::Compare(CmpOp::Le, p, _) = e.kind else { panic!() };
        assert_eq!(p.kind, ExprKind::Path(vec!["a".into(), "b".into(), "c".into()]));
    }

    #[test]
    fn errors_name_the_place_and_the_problem() {
        for (text, span, words) in [
            ("age >=", (6, 6), "ends where a value"),
            ("age = 1", (4, 5), "equality is `==`"),
            ("= 1", (0, 1), "equality is `==`"),
            ("a < b < c", (6, 7), "do not chain"),
            ("(age > 1", (0, 8), "not closed"),
            ("name == \"x", (8, 10), "not closed"),
            ("age > 1 1", (8, 9), "unexpected `1`"),
            ("a. == 1", (0, 3), "field name is expected"),
            ("12ab > 1", (0, 4), "not a number"),
            ("age > #", (6, 7), "found `#`"),
        ] {
            let e = parse(text).unwrap_err();
            let (s, msg) = &e.problems()[0];
            assert_eq!((s.start, s.end), span, "{text}: {e}");
            assert!(msg.contains(words), "{text}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().to_string().contains("nested deeper"));
        let nots = format!("{}a", "!".repeat(10_000));
        assert!(parse(&nots).unwrap_err().to_string().contains("nested deeper"));
        assert!(parse(&format!("{}a{}", "(".repeat(20), ")".repeat(20))).is_ok());
        let long = vec!["a"; 10_000].join(" && ");
        assert!(parse(&long).unwrap_err().to_string().contains("more than 256 operators"));
        assert!(parse(&vec!["a"; 200].join(" && ")).is_ok());
    }
}
