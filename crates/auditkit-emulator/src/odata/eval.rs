//! The typed expression tree of a `$filter` and its evaluation over an event.

use std::cmp::Ordering;

use auditkit_graph::properties::{self, Object};
use auditkit_graph::types::AuditEvent;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::property::{Kind, Path};

/// The value at `path` in `event`: null when a step is missing.
pub(super) fn value_of<'a>(path: &Path, event: &'a AuditEvent) -> Value<'a> {
    let mut at = Object::AuditEvent(event);
    let mut steps = path.steps.iter().peekable();
    while let Some(step) = steps.next() {
        let value = at.get(step.json_name);
        match value {
            Some(properties::Value::Object(nested)) if steps.peek().is_some() => at = nested,
            Some(value) if steps.peek().is_none() => return Value::from_table(value),
            _ => return Value::Null,
        }
    }
    Value::Null
}

/// A runtime value; `Null` is also OData's "unknown" in three-valued logic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Str(&'a str),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    Int(i64),
    Bool(bool),
    Complex,
}

impl<'a> Value<'a> {
    /// A value of the kinds paths resolve to; anything else (a collection, which no path
    /// names) is null.
    fn from_table(value: properties::Value<'a>) -> Self {
        match value {
            properties::Value::String(text) => Value::Str(text),
            properties::Value::DateTimeOffset(at) => Value::DateTime(at),
            properties::Value::Guid(id) => Value::Guid(id),
            properties::Value::Int32(n) => Value::Int(i64::from(n)),
            properties::Value::Int64(n) => Value::Int(n),
            properties::Value::Boolean(b) => Value::Bool(b),
            properties::Value::Object(_) => Value::Complex,
            _ => Value::Null,
        }
    }
}

/// Orders two values of the same kind; `None` for different kinds or nulls.
pub(super) fn order_of(a: Value<'_>, b: Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(&y)),
        (Value::Guid(x), Value::Guid(y)) => Some(x.cmp(&y)),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

fn equal(a: Value<'_>, b: Value<'_>) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Complex, Value::Complex) => true,
        _ => order_of(a, b) == Some(Ordering::Equal),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub(super) fn from_keyword(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    pub(super) fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    pub(super) fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    fn apply(self, a: Value<'_>, b: Value<'_>) -> bool {
        match self {
            CmpOp::Eq => equal(a, b),
            CmpOp::Ne => !equal(a, b),
            // With a null on either side the order operators are false.
            CmpOp::Gt => order_of(a, b) == Some(Ordering::Greater),
            CmpOp::Ge => matches!(order_of(a, b), Some(Ordering::Greater | Ordering::Equal)),
            CmpOp::Lt => order_of(a, b) == Some(Ordering::Less),
            CmpOp::Le => matches!(order_of(a, b), Some(Ordering::Less | Ordering::Equal)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

impl Func {
    pub(super) const NAMES: &'static [&'static str] = &["startswith", "endswith", "contains"];

    pub(super) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "startswith" => Func::StartsWith,
            "endswith" => Func::EndsWith,
            "contains" => Func::Contains,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Func::StartsWith => "startswith",
            Func::EndsWith => "endswith",
            Func::Contains => "contains",
        }
    }

    /// Case-sensitive, like the comparisons.
    fn apply(self, haystack: &str, needle: &str) -> bool {
        match self {
            Func::StartsWith => haystack.starts_with(needle),
            Func::EndsWith => haystack.ends_with(needle),
            Func::Contains => haystack.contains(needle),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Literal {
    Str(String),
    Int(i64),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    Bool(bool),
    Null,
}

impl Literal {
    pub(super) fn kind(&self) -> Kind {
        match self {
            Literal::Str(_) => Kind::Str,
            Literal::Int(_) => Kind::Int,
            Literal::DateTime(_) => Kind::DateTime,
            Literal::Guid(_) => Kind::Guid,
            Literal::Bool(_) => Kind::Bool,
            Literal::Null => Kind::Null,
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Literal::Str(s) => Value::Str(s),
            Literal::Int(n) => Value::Int(*n),
            Literal::DateTime(at) => Value::DateTime(*at),
            Literal::Guid(id) => Value::Guid(*id),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Expr {
    Property(&'static Path),
    Literal(Literal),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Call(Func, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Recursion is bounded: parsing refuses trees deeper than [`MAX_FILTER_DEPTH`].
    fn eval<'a>(&'a self, event: &'a AuditEvent) -> Value<'a> {
        match self {
            Expr::Property(path) => value_of(path, event),
            Expr::Literal(literal) => literal.value(),
            Expr::Compare(op, left, right) => {
                Value::Bool(op.apply(left.eval(event), right.eval(event)))
            }
            Expr::And(terms) => logical(terms, event, false),
            Expr::Or(terms) => logical(terms, event, true),
            Expr::Not(inner) => match inner.eval(event) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            Expr::Call(func, haystack, needle) => {
                match (haystack.eval(event), needle.eval(event)) {
                    (Value::Str(h), Value::Str(n)) => Value::Bool(func.apply(h, n)),
                    _ => Value::Null,
                }
            }
        }
    }
}

/// OData's three-valued `and` (`decisive` false) and `or` (`decisive` true): one decisive
/// operand decides; otherwise any null (unknown) operand makes the result null.
fn logical<'a>(terms: &'a [Expr], event: &'a AuditEvent, decisive: bool) -> Value<'a> {
    let mut unknown = false;
    for term in terms {
        match term.eval(event) {
            Value::Bool(b) if b == decisive => return Value::Bool(decisive),
            Value::Bool(_) => {}
            _ => unknown = true,
        }
    }
    if unknown {
        Value::Null
    } else {
        Value::Bool(!decisive)
    }
}

/// A parsed, type-checked `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub(super) root: Expr,
}

impl Filter {
    /// Whether `event` passes the filter; a filter that evaluates to null does not match.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.root.eval(event) == Value::Bool(true)
    }
}
