//! The server side of OData for `/deviceManagement/auditEvents`: `$filter`, `$orderby` and
//! `$select`, evaluated over the generated [`AuditEvent`] model.
//!
//! # `$filter` grammar
//!
//! ```text
//! filter     = or
//! or         = and *( "or" and )
//! and        = equality *( "and" equality )
//! equality   = relational *( ("eq" / "ne") relational )
//! relational = unary *( ("gt" / "ge" / "lt" / "le") unary )
//! unary      = *"not" primary
//! primary    = "(" or ")" / function "(" or "," or ")" / path / literal
//! function   = "startswith" / "endswith" / "contains"
//! path       = name *( "/" name )             ; e.g. actor/userPrincipalName
//! literal    = 'text' ('' is a quote) / 2022-08-22 / 2025-03-24T15:14:04.218565Z
//!            / 2025-03-24T17:14:04+02:00 / 0b1e…-…guid / 42 / -7 / true / false / null
//! ```
//!
//! Precedence is OData's: `not` binds tighter than the comparisons (so write
//! `not (category eq 'x')`), `gt ge lt le` tighter than `eq ne`, those tighter than `and`,
//! which is tighter than `or`. Keywords are lowercase, as in OData; property names are
//! case-sensitive.
//!
//! Types are checked when parsing, as Graph does: `activityDateTime eq 'x'` is an error, and so
//! is a quoted GUID against `correlationId`. Date-times compare as instants (a bare date is
//! midnight UTC). Strings compare ordinally by code point: case-sensitive, which is how Graph
//! answers `eq` on these properties. A comparison with a missing (null) property is false,
//! except `ne` (true) and `eq null` (true); `gt ge lt le` with the literal `null` are refused.
//! Functions with a null argument yield null, and `and`, `or`, `not` follow OData's
//! three-valued logic (`not startswith(actor/userPrincipalName,'a')` does not match an event
//! without an actor); a filter that ends up null does not match.

use std::cmp::Ordering;

use auditkit_graph::types::{AuditActor, AuditEvent};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use uuid::Uuid;

/// The deepest nesting a `$filter` may have: open parentheses and function calls at once, and
/// the depth of the resulting expression tree. Deeper filters are refused, never recursed into.
pub const MAX_FILTER_DEPTH: usize = 32;
/// The longest `$filter`, `$orderby` or `$select` accepted, in bytes.
pub const MAX_FILTER_LENGTH: usize = 4096;

/// Why a `$filter`, `$orderby` or `$select` value was refused. Positions count characters from
/// 0 in the decoded query value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ODataError {
    /// The value is empty or only whitespace.
    #[error("empty {option}")]
    Empty { option: &'static str },
    /// The value is longer than [`MAX_FILTER_LENGTH`].
    #[error("{option} is {length} bytes long; the limit is {limit}")]
    TooLong {
        option: &'static str,
        length: usize,
        limit: usize,
    },
    /// Parentheses, functions or operators nest deeper than [`MAX_FILTER_DEPTH`].
    #[error("filter nests deeper than {limit} levels at position {position}")]
    TooDeep { position: usize, limit: usize },
    /// A name that is not a property of `microsoft.graph.auditEvent`.
    #[error("unknown property '{name}' at position {position}{}", hint_suffix(.hint))]
    UnknownProperty {
        name: String,
        position: usize,
        hint: Option<String>,
    },
    /// Any other syntax or type error.
    #[error("{message} at position {position}{}", hint_suffix(.hint))]
    Invalid {
        message: String,
        position: usize,
        hint: Option<String>,
    },
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(hint) => format!("; {hint}"),
        None => String::new(),
    }
}

impl ODataError {
    /// Where in the value the problem is, when there is one place.
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Empty { .. } | Self::TooLong { .. } => None,
            Self::TooDeep { position, .. }
            | Self::UnknownProperty { position, .. }
            | Self::Invalid { position, .. } => Some(*position),
        }
    }

    fn invalid(message: impl Into<String>, position: usize) -> Self {
        Self::Invalid {
            message: message.into(),
            position,
            hint: None,
        }
    }

    fn invalid_hint(message: impl Into<String>, position: usize, hint: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            position,
            hint: Some(hint.into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// The static type of an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    DateTime,
    Guid,
    Int,
    Bool,
    Null,
    Complex,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::DateTime => "a date-time",
            Kind::Guid => "a guid",
            Kind::Int => "an integer",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
            Kind::Complex => "a complex value",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActorField {
    Type,
    AuditActorType,
    ApplicationId,
    ApplicationDisplayName,
    UserPrincipalName,
    ServicePrincipalName,
    IpAddress,
    UserId,
    RemoteTenantId,
    RemoteUserId,
}

impl ActorField {
    fn get(self, actor: &AuditActor) -> Option<&str> {
        let field = match self {
            ActorField::Type => &actor.type_,
            ActorField::AuditActorType => &actor.audit_actor_type,
            ActorField::ApplicationId => &actor.application_id,
            ActorField::ApplicationDisplayName => &actor.application_display_name,
            ActorField::UserPrincipalName => &actor.user_principal_name,
            ActorField::ServicePrincipalName => &actor.service_principal_name,
            ActorField::IpAddress => &actor.ip_address,
            ActorField::UserId => &actor.user_id,
            ActorField::RemoteTenantId => &actor.remote_tenant_id,
            ActorField::RemoteUserId => &actor.remote_user_id,
        };
        field.as_deref()
    }
}

/// A filterable property of `microsoft.graph.auditEvent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Property {
    Id,
    DisplayName,
    ComponentName,
    Activity,
    ActivityDateTime,
    ActivityType,
    ActivityOperationType,
    ActivityResult,
    CorrelationId,
    Category,
    Actor,
    ActorField(ActorField),
}

/// Every filterable property by its wire name, with its kind.
const PROPERTIES: &[(&str, Property, Kind)] = &[
    ("id", Property::Id, Kind::Str),
    ("displayName", Property::DisplayName, Kind::Str),
    ("componentName", Property::ComponentName, Kind::Str),
    ("activity", Property::Activity, Kind::Str),
    (
        "activityDateTime",
        Property::ActivityDateTime,
        Kind::DateTime,
    ),
    ("activityType", Property::ActivityType, Kind::Str),
    (
        "activityOperationType",
        Property::ActivityOperationType,
        Kind::Str,
    ),
    ("activityResult", Property::ActivityResult, Kind::Str),
    ("correlationId", Property::CorrelationId, Kind::Guid),
    ("category", Property::Category, Kind::Str),
    ("actor", Property::Actor, Kind::Complex),
    (
        "actor/type",
        Property::ActorField(ActorField::Type),
        Kind::Str,
    ),
    (
        "actor/auditActorType",
        Property::ActorField(ActorField::AuditActorType),
        Kind::Str,
    ),
    (
        "actor/applicationId",
        Property::ActorField(ActorField::ApplicationId),
        Kind::Str,
    ),
    (
        "actor/applicationDisplayName",
        Property::ActorField(ActorField::ApplicationDisplayName),
        Kind::Str,
    ),
    (
        "actor/userPrincipalName",
        Property::ActorField(ActorField::UserPrincipalName),
        Kind::Str,
    ),
    (
        "actor/servicePrincipalName",
        Property::ActorField(ActorField::ServicePrincipalName),
        Kind::Str,
    ),
    (
        "actor/ipAddress",
        Property::ActorField(ActorField::IpAddress),
        Kind::Str,
    ),
    (
        "actor/userId",
        Property::ActorField(ActorField::UserId),
        Kind::Str,
    ),
    (
        "actor/remoteTenantId",
        Property::ActorField(ActorField::RemoteTenantId),
        Kind::Str,
    ),
    (
        "actor/remoteUserId",
        Property::ActorField(ActorField::RemoteUserId),
        Kind::Str,
    ),
];

/// Collection-valued properties: they exist, but comparing them needs `any`/`all`, which this
/// emulator does not implement.
const COLLECTIONS: &[&str] = &[
    "resources",
    "actor/userPermissions",
    "actor/userRoleScopeTags",
];

/// The top-level properties `$select` accepts.
const SELECTABLE: &[&str] = &[
    "id",
    "displayName",
    "componentName",
    "actor",
    "activity",
    "activityDateTime",
    "activityType",
    "activityOperationType",
    "activityResult",
    "correlationId",
    "resources",
    "category",
];

/// `; did you mean 'x'?` when `name` matches a known name but for case.
fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| format!("did you mean '{k}'? names are case-sensitive"))
}

/// Resolves a property path for `$filter` and `$orderby`.
fn lookup_property(name: &str, position: usize) -> Result<(Property, Kind), ODataError> {
    if let Some((_, property, kind)) = PROPERTIES.iter().find(|(n, _, _)| *n == name) {
        return Ok((*property, *kind));
    }
    if COLLECTIONS.contains(&name) {
        return Err(ODataError::invalid_hint(
            format!("property '{name}' is a collection and cannot be compared or sorted"),
            position,
            "any/all lambdas are not supported",
        ));
    }
    let known = PROPERTIES
        .iter()
        .map(|(n, _, _)| *n)
        .chain(COLLECTIONS.iter().copied());
    Err(ODataError::UnknownProperty {
        name: name.to_owned(),
        position,
        hint: did_you_mean(name, known),
    })
}

fn text_value(field: &Option<String>) -> Value<'_> {
    match field.as_deref() {
        Some(s) => Value::Str(s),
        None => Value::Null,
    }
}

impl Property {
    fn value(self, event: &AuditEvent) -> Value<'_> {
        let text = text_value;
        match self {
            Property::Id => text(&event.id),
            Property::DisplayName => text(&event.display_name),
            Property::ComponentName => text(&event.component_name),
            Property::Activity => text(&event.activity),
            Property::ActivityType => text(&event.activity_type),
            Property::ActivityOperationType => text(&event.activity_operation_type),
            Property::ActivityResult => text(&event.activity_result),
            Property::Category => text(&event.category),
            Property::ActivityDateTime => match event.activity_date_time {
                Some(at) => Value::DateTime(at),
                None => Value::Null,
            },
            Property::CorrelationId => match event.correlation_id {
                Some(id) => Value::Guid(id),
                None => Value::Null,
            },
            Property::Actor => match event.actor {
                Some(_) => Value::Complex,
                None => Value::Null,
            },
            Property::ActorField(field) => {
                match event.actor.as_ref().and_then(|actor| field.get(actor)) {
                    Some(s) => Value::Str(s),
                    None => Value::Null,
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A runtime value; `Null` is also OData's "unknown" in three-valued logic.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Value<'a> {
    Null,
    Str(&'a str),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    Int(i64),
    Bool(bool),
    Complex,
}

/// Orders two values of the same kind; `None` for different kinds or nulls.
fn order_of(a: Value<'_>, b: Value<'_>) -> Option<Ordering> {
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

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    Slash,
    Ident(String),
    Str(String),
    Int(i64),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// Character index of the token's first character.
    pos: usize,
    /// The token as written, for messages.
    text: String,
}

fn is_guid_at(chars: &[char], start: usize) -> bool {
    let Some(candidate) = chars.get(start..start + 36) else {
        return false;
    };
    let shape_ok = candidate.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    let ends_there = chars
        .get(start + 36)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')));
    shape_ok && ends_there
}

/// Characters that can continue an unquoted number or date-time literal.
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-' | '_')
}

fn parse_date_time(text: &str, position: usize) -> Result<DateTime<Utc>, ODataError> {
    let invalid = || {
        ODataError::invalid_hint(
            format!("invalid date-time literal '{text}'"),
            position,
            "expected e.g. 2022-08-22, 2025-03-24T15:14:04.218565Z or 2025-03-24T17:14:04+02:00",
        )
    };
    if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())?;
        return match date.and_hms_opt(0, 0, 0) {
            Some(midnight) => Ok(midnight.and_utc()),
            None => Err(invalid()),
        };
    }
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
        return Err(invalid());
    }
    let normalised = match text.strip_suffix(['Z', 'z']) {
        Some(rest) => format!("{rest}+00:00"),
        None => text.to_owned(),
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&normalised) {
        return Ok(at.with_timezone(&Utc));
    }
    // OData also allows date-times without seconds.
    if let Ok(at) = DateTime::parse_from_str(&normalised, "%Y-%m-%dT%H:%M%:z") {
        return Ok(at.with_timezone(&Utc));
    }
    let without_zone = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .any(|format| NaiveDateTime::parse_from_str(text, format).is_ok());
    if without_zone {
        return Err(ODataError::invalid_hint(
            format!("date-time literal '{text}' has no time zone"),
            position,
            "add Z or an offset such as +02:00",
        ));
    }
    Err(invalid())
}

/// Splits a `$filter` into tokens; the last one is always [`Tok::End`].
fn lex(text: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let start = i;
        let punct = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '/' => Some(Tok::Slash),
            _ => None,
        };
        if let Some(tok) = punct {
            tokens.push(Token {
                tok,
                pos: start,
                text: c.to_string(),
            });
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(ODataError::invalid_hint(
                            "unterminated string literal",
                            start,
                            "close it with ' and write a quote inside it as ''",
                        ));
                    }
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
            tokens.push(Token {
                tok: Tok::Str(value),
                pos: start,
                text: raw,
            });
            continue;
        }
        let starts_number =
            c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if (c.is_ascii_alphanumeric() || starts_number) && is_guid_at(&chars, i) {
            let raw: String = chars.get(i..i + 36).unwrap_or_default().iter().collect();
            let guid = Uuid::parse_str(&raw)
                .map_err(|_| ODataError::invalid(format!("invalid guid '{raw}'"), start))?;
            tokens.push(Token {
                tok: Tok::Guid(guid),
                pos: start,
                text: raw,
            });
            i += 36;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
            tokens.push(Token {
                tok: Tok::Ident(raw.clone()),
                pos: start,
                text: raw,
            });
            continue;
        }
        if starts_number {
            i += 1;
            while chars.get(i).is_some_and(|c| is_literal_char(*c)) {
                i += 1;
            }
            let raw: String = chars.get(start..i).unwrap_or_default().iter().collect();
            let digits = raw.strip_prefix('-').unwrap_or(&raw);
            let tok = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                let n = raw.parse::<i64>().map_err(|_| {
                    ODataError::invalid(format!("integer literal '{raw}' is out of range"), start)
                })?;
                Tok::Int(n)
            } else if raw.len() >= 10 && raw.as_bytes().get(4) == Some(&b'-') {
                Tok::DateTime(parse_date_time(&raw, start)?)
            } else {
                return Err(ODataError::invalid_hint(
                    format!("invalid literal '{raw}'"),
                    start,
                    "expected an integer, a date such as 2022-08-22 or a date-time",
                ));
            };
            tokens.push(Token {
                tok,
                pos: start,
                text: raw,
            });
            continue;
        }
        return Err(ODataError::invalid(
            format!("unexpected character '{c}'"),
            start,
        ));
    }
    tokens.push(Token {
        tok: Tok::End,
        pos: chars.len(),
        text: String::new(),
    });
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn from_keyword(word: &str) -> Option<Self> {
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

    fn keyword(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    fn is_equality(self) -> bool {
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
enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

impl Func {
    const NAMES: &'static [&'static str] = &["startswith", "endswith", "contains"];

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "startswith" => Func::StartsWith,
            "endswith" => Func::EndsWith,
            "contains" => Func::Contains,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
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
enum Literal {
    Str(String),
    Int(i64),
    DateTime(DateTime<Utc>),
    Guid(Uuid),
    Bool(bool),
    Null,
}

impl Literal {
    fn kind(&self) -> Kind {
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
enum Expr {
    Property(Property),
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
            Expr::Property(property) => property.value(event),
            Expr::Literal(literal) => literal.value(),
            Expr::Compare(op, left, right) => {
                Value::Bool(op.apply(left.eval(event), right.eval(event)))
            }
            Expr::And(terms) => {
                let mut unknown = false;
                for term in terms {
                    match term.eval(event) {
                        Value::Bool(false) => return Value::Bool(false),
                        Value::Bool(true) => {}
                        _ => unknown = true,
                    }
                }
                if unknown {
                    Value::Null
                } else {
                    Value::Bool(true)
                }
            }
            Expr::Or(terms) => {
                let mut unknown = false;
                for term in terms {
                    match term.eval(event) {
                        Value::Bool(true) => return Value::Bool(true),
                        Value::Bool(false) => {}
                        _ => unknown = true,
                    }
                }
                if unknown {
                    Value::Null
                } else {
                    Value::Bool(false)
                }
            }
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

/// A parsed expression with what the type checker and the depth limit need.
#[derive(Debug)]
struct Node {
    expr: Expr,
    kind: Kind,
    depth: usize,
    pos: usize,
    /// How to name this operand in a message.
    describe: String,
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

const OPERAND_EXPECTED: &str = "expected a property, a literal, a function or '('";

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Open parentheses and function calls around the current point.
    nesting: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.next).map_or(&Tok::End, |t| &t.tok)
    }

    fn peek_token(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn peek_pos(&self) -> usize {
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .map_or(0, |t| t.pos)
    }

    fn peek_keyword(&self) -> Option<&str> {
        match self.peek() {
            Tok::Ident(word) => Some(word.as_str()),
            _ => None,
        }
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    /// An "unexpected …" error at the next token.
    fn unexpected(&self, expected: &str) -> ODataError {
        let Some(token) = self.peek_token().filter(|t| t.tok != Tok::End) else {
            return ODataError::invalid_hint("unexpected end of filter", self.peek_pos(), expected);
        };
        let mut hint = expected.to_owned();
        if let Tok::Ident(word) = &token.tok {
            let lower = word.to_ascii_lowercase();
            if lower != *word
                && (is_keyword(&lower) || matches!(lower.as_str(), "true" | "false" | "null"))
            {
                hint = format!("{expected} (keywords are lowercase: '{lower}')");
            }
        }
        ODataError::invalid_hint(
            format!("unexpected token '{}'", token.text),
            token.pos,
            hint,
        )
    }

    fn enter(&mut self, position: usize) -> Result<(), ODataError> {
        self.nesting += 1;
        if self.nesting > MAX_FILTER_DEPTH {
            return Err(ODataError::TooDeep {
                position,
                limit: MAX_FILTER_DEPTH,
            });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn node(
        expr: Expr,
        kind: Kind,
        depth: usize,
        pos: usize,
        describe: String,
    ) -> Result<Node, ODataError> {
        if depth > MAX_FILTER_DEPTH {
            return Err(ODataError::TooDeep {
                position: pos,
                limit: MAX_FILTER_DEPTH,
            });
        }
        Ok(Node {
            expr,
            kind,
            depth,
            pos,
            describe,
        })
    }

    fn require_bool(node: &Node, operator: &str, position: usize) -> Result<(), ODataError> {
        if node.kind == Kind::Bool {
            return Ok(());
        }
        Err(ODataError::invalid_hint(
            format!(
                "'{operator}' needs a boolean operand, but {} is {}",
                node.describe,
                node.kind.describe()
            ),
            position,
            "write a comparison such as category eq 'x', in parentheses after not",
        ))
    }

    /// `and` and `or`: `next` parses the operands.
    fn parse_logical(
        &mut self,
        keyword: &str,
        next: fn(&mut Self) -> Result<Node, ODataError>,
    ) -> Result<Node, ODataError> {
        let first = next(self)?;
        if self.peek_keyword() != Some(keyword) {
            return Ok(first);
        }
        let pos = first.pos;
        let mut depth = first.depth;
        let mut terms = Vec::new();
        let mut pending = Some(first);
        while self.peek_keyword() == Some(keyword) {
            let op_pos = self.peek_pos();
            self.advance();
            let right = next(self)?;
            if let Some(left) = pending.take() {
                Self::require_bool(&left, keyword, op_pos)?;
                depth = depth.max(left.depth);
                terms.push(left.expr);
            }
            Self::require_bool(&right, keyword, op_pos)?;
            depth = depth.max(right.depth);
            terms.push(right.expr);
        }
        let expr = if keyword == "and" {
            Expr::And(terms)
        } else {
            Expr::Or(terms)
        };
        Self::node(expr, Kind::Bool, depth + 1, pos, "an expression".into())
    }

    fn parse_or(&mut self) -> Result<Node, ODataError> {
        self.parse_logical("or", Self::parse_and)
    }

    fn parse_and(&mut self) -> Result<Node, ODataError> {
        self.parse_logical("and", Self::parse_equality)
    }

    fn parse_equality(&mut self) -> Result<Node, ODataError> {
        self.parse_comparison(true)
    }

    fn parse_relational(&mut self) -> Result<Node, ODataError> {
        self.parse_comparison(false)
    }

    fn parse_comparison(&mut self, equality: bool) -> Result<Node, ODataError> {
        let operand = |p: &mut Self| {
            if equality {
                p.parse_relational()
            } else {
                p.parse_unary()
            }
        };
        let mut left = operand(self)?;
        loop {
            let Some(op) = self.peek_keyword().and_then(CmpOp::from_keyword) else {
                return Ok(left);
            };
            if op.is_equality() != equality {
                return Ok(left);
            }
            let op_pos = self.peek_pos();
            self.advance();
            let right = operand(self)?;
            check_comparison(op, &left, &right, op_pos)?;
            let depth = left.depth.max(right.depth) + 1;
            let pos = left.pos;
            left = Self::node(
                Expr::Compare(op, Box::new(left.expr), Box::new(right.expr)),
                Kind::Bool,
                depth,
                pos,
                "a comparison".into(),
            )?;
        }
    }

    /// `not` chains are read in a loop, so they cost no recursion; each adds a tree level.
    fn parse_unary(&mut self) -> Result<Node, ODataError> {
        let mut nots = Vec::new();
        while self.peek_keyword() == Some("not") {
            nots.push(self.peek_pos());
            self.advance();
        }
        let mut node = self.parse_primary()?;
        while let Some(pos) = nots.pop() {
            Self::require_bool(&node, "not", pos)?;
            let depth = node.depth + 1;
            node = Self::node(
                Expr::Not(Box::new(node.expr)),
                Kind::Bool,
                depth,
                pos,
                "a negation".into(),
            )?;
        }
        Ok(node)
    }

    fn expect_close(&mut self, open_pos: usize, what: &str) -> Result<(), ODataError> {
        match self.peek() {
            Tok::RParen => {
                self.advance();
                Ok(())
            }
            Tok::End => Err(ODataError::invalid(
                format!("missing ')' for the {what} opened at position {open_pos}"),
                self.peek_pos(),
            )),
            _ => Err(self.unexpected("expected ')', 'and' or 'or'")),
        }
    }

    fn parse_primary(&mut self) -> Result<Node, ODataError> {
        let Some(token) = self.peek_token().cloned() else {
            return Err(self.unexpected(OPERAND_EXPECTED));
        };
        let literal = |lit: Literal| {
            let kind = lit.kind();
            Self::node(Expr::Literal(lit), kind, 1, token.pos, token.text.clone())
        };
        match &token.tok {
            Tok::LParen => {
                self.advance();
                self.enter(token.pos)?;
                let inner = self.parse_or()?;
                self.expect_close(token.pos, "'('")?;
                self.leave();
                Ok(inner)
            }
            Tok::Str(s) => {
                self.advance();
                literal(Literal::Str(s.clone()))
            }
            Tok::Int(n) => {
                self.advance();
                literal(Literal::Int(*n))
            }
            Tok::DateTime(at) => {
                self.advance();
                literal(Literal::DateTime(*at))
            }
            Tok::Guid(id) => {
                self.advance();
                literal(Literal::Guid(*id))
            }
            Tok::Ident(word) => match word.as_str() {
                "true" => {
                    self.advance();
                    literal(Literal::Bool(true))
                }
                "false" => {
                    self.advance();
                    literal(Literal::Bool(false))
                }
                "null" => {
                    self.advance();
                    literal(Literal::Null)
                }
                w if is_keyword(w) => Err(self.unexpected(OPERAND_EXPECTED)),
                _ => {
                    self.advance();
                    if self.peek() == &Tok::LParen {
                        self.parse_call(&token)
                    } else {
                        self.parse_path(&token)
                    }
                }
            },
            Tok::RParen | Tok::Comma | Tok::Slash | Tok::End => {
                Err(self.unexpected(OPERAND_EXPECTED))
            }
        }
    }

    /// A property path; `first` (an identifier) is already consumed.
    fn parse_path(&mut self, first: &Token) -> Result<Node, ODataError> {
        let mut name = first.text.clone();
        let mut end = first.pos + first.text.chars().count();
        // Segments are written without spaces: `actor/userPrincipalName`.
        while matches!(self.peek_token(), Some(t) if t.tok == Tok::Slash && t.pos == end) {
            self.advance();
            let segment = match self.peek_token() {
                Some(Token {
                    tok: Tok::Ident(segment),
                    pos,
                    ..
                }) if *pos == end + 1 && !is_keyword(segment) => segment.clone(),
                _ => {
                    return Err(self.unexpected("expected a property name right after '/'"));
                }
            };
            self.advance();
            end += 1 + segment.chars().count();
            name.push('/');
            name.push_str(&segment);
        }
        let (property, kind) = lookup_property(&name, first.pos)?;
        Self::node(Expr::Property(property), kind, 1, first.pos, name)
    }

    /// `name(a, b)`; `name` is consumed and the next token is `(`.
    fn parse_call(&mut self, name: &Token) -> Result<Node, ODataError> {
        let Some(func) = Func::from_name(&name.text) else {
            return Err(ODataError::invalid_hint(
                format!("unknown function '{}'", name.text),
                name.pos,
                format!("supported: {}", Func::NAMES.join(", ")),
            ));
        };
        self.advance(); // (
        self.enter(name.pos)?;
        let mut args = Vec::new();
        loop {
            args.push(self.parse_or()?);
            match self.peek() {
                Tok::Comma => {
                    self.advance();
                }
                _ => break,
            }
        }
        self.expect_close(name.pos, &format!("call to '{}'", func.name()))?;
        self.leave();
        let count = args.len();
        let mut args = args.into_iter();
        let (Some(haystack), Some(needle), None) = (args.next(), args.next(), args.next()) else {
            return Err(ODataError::invalid(
                format!("'{}' takes 2 arguments, not {count}", func.name()),
                name.pos,
            ));
        };
        for (index, arg) in [&haystack, &needle].into_iter().enumerate() {
            if arg.kind != Kind::Str {
                return Err(ODataError::invalid(
                    format!(
                        "'{}' needs string arguments, but argument {} ({}) is {}",
                        func.name(),
                        index + 1,
                        arg.describe,
                        arg.kind.describe()
                    ),
                    arg.pos,
                ));
            }
        }
        let depth = haystack.depth.max(needle.depth) + 1;
        Self::node(
            Expr::Call(func, Box::new(haystack.expr), Box::new(needle.expr)),
            Kind::Bool,
            depth,
            name.pos,
            format!("{}(…)", func.name()),
        )
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "and" | "or" | "not"
    )
}

/// Refuses comparisons Graph would refuse: different kinds, order operators on null,
/// booleans and complex values.
fn check_comparison(op: CmpOp, left: &Node, right: &Node, pos: usize) -> Result<(), ODataError> {
    let (l, r) = (left.kind, right.kind);
    if l == Kind::Null || r == Kind::Null {
        if op.is_equality() {
            return Ok(());
        }
        return Err(ODataError::invalid_hint(
            format!("'{}' cannot compare with null", op.keyword()),
            pos,
            "use eq null or ne null",
        ));
    }
    if l != r {
        let hint = match (l, r) {
            (Kind::DateTime, Kind::Str) | (Kind::Str, Kind::DateTime) => {
                Some("write date-times unquoted, e.g. 2022-08-22 or 2025-03-24T15:14:04Z")
            }
            (Kind::Guid, Kind::Str) | (Kind::Str, Kind::Guid) => {
                Some("guids are unquoted and strings are quoted: 'text'")
            }
            (Kind::Str, Kind::Int) | (Kind::Int, Kind::Str) => Some("quote strings: 'text'"),
            _ => None,
        };
        let message = format!(
            "cannot compare {} ({}) with {} ({}) using '{}'",
            left.describe,
            l.describe(),
            right.describe,
            r.describe(),
            op.keyword()
        );
        return Err(match hint {
            Some(hint) => ODataError::invalid_hint(message, pos, hint),
            None => ODataError::invalid(message, pos),
        });
    }
    if matches!(l, Kind::Complex) {
        return Err(ODataError::invalid_hint(
            format!("{} is a complex value", left.describe),
            pos,
            "compare one of its properties, e.g. actor/userPrincipalName, or use eq null",
        ));
    }
    if l == Kind::Bool && !op.is_equality() {
        return Err(ODataError::invalid(
            format!("'{}' cannot order booleans; use eq or ne", op.keyword()),
            pos,
        ));
    }
    Ok(())
}

fn check_length(option: &'static str, text: &str) -> Result<(), ODataError> {
    if text.len() > MAX_FILTER_LENGTH {
        return Err(ODataError::TooLong {
            option,
            length: text.len(),
            limit: MAX_FILTER_LENGTH,
        });
    }
    if text.trim().is_empty() {
        return Err(ODataError::Empty { option });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// $filter
// ---------------------------------------------------------------------------------------------

/// A parsed, type-checked `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    root: Expr,
}

/// Parses a `$filter` value (already percent-decoded). Note that a `+` in an offset such as
/// `+02:00` must reach the server as `%2B`: a literal `+` in a query string decodes to a space.
pub fn parse_filter(text: &str) -> Result<Filter, ODataError> {
    check_length("$filter", text)?;
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        next: 0,
        nesting: 0,
    };
    let root = parser.parse_or()?;
    if parser.peek() != &Tok::End {
        return Err(parser.unexpected(if root.kind == Kind::Bool {
            "expected 'and', 'or' or the end of the filter"
        } else {
            "expected an operator: eq, ne, gt, ge, lt or le"
        }));
    }
    if root.kind != Kind::Bool {
        return Err(ODataError::invalid_hint(
            format!(
                "the filter must be true or false, but {} is {}",
                root.describe,
                root.kind.describe()
            ),
            root.pos,
            "write a comparison such as category eq 'x'",
        ));
    }
    Ok(Filter { root: root.expr })
}

impl Filter {
    /// Whether `event` passes the filter; a filter that evaluates to null does not match.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.root.eval(event) == Value::Bool(true)
    }
}

// ---------------------------------------------------------------------------------------------
// $orderby
// ---------------------------------------------------------------------------------------------

/// The direction of one `$orderby` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A parsed `$orderby`: keys in priority order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    keys: Vec<(&'static str, Property, Direction)>,
}

/// Splits `text` at commas; each piece with the character index where it starts.
fn split_commas(text: &str) -> Vec<(usize, String)> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (index, c) in text.chars().enumerate() {
        if c == ',' {
            pieces.push((start, std::mem::take(&mut current)));
            start = index + 1;
        } else {
            current.push(c);
        }
    }
    pieces.push((start, current));
    pieces
}

/// Splits at whitespace; each word with its character index.
fn words(text: &str, offset: usize) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut in_word = false;
    for (index, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            in_word = false;
        } else if in_word {
            if let Some((_, word)) = out.last_mut() {
                word.push(c);
            }
        } else {
            in_word = true;
            out.push((offset + index, c.to_string()));
        }
    }
    out
}

/// Parses a `$orderby` value such as `activityDateTime desc,id`: comma-separated keys, each a
/// property path and an optional `asc` (the default) or `desc`. Nulls sort first ascending and
/// last descending, as OData specifies.
pub fn parse_orderby(text: &str) -> Result<OrderBy, ODataError> {
    check_length("$orderby", text)?;
    let mut keys = Vec::new();
    for (start, piece) in split_commas(text) {
        let words = words(&piece, start);
        let mut words = words.into_iter();
        let Some((name_pos, name)) = words.next() else {
            return Err(ODataError::invalid("empty key in $orderby", start));
        };
        let (property, kind) = lookup_property(&name, name_pos)?;
        if kind == Kind::Complex {
            return Err(ODataError::invalid_hint(
                format!("cannot sort by '{name}', a complex value"),
                name_pos,
                "sort by one of its properties, e.g. actor/userPrincipalName",
            ));
        }
        let direction = match words.next() {
            None => Direction::Asc,
            Some((_, word)) if word == "asc" => Direction::Asc,
            Some((_, word)) if word == "desc" => Direction::Desc,
            Some((pos, word)) => {
                return Err(ODataError::invalid_hint(
                    format!("unexpected token '{word}'"),
                    pos,
                    "expected asc, desc or ','",
                ));
            }
        };
        if let Some((pos, word)) = words.next() {
            return Err(ODataError::invalid_hint(
                format!("unexpected token '{word}'"),
                pos,
                "expected ',' or the end of $orderby",
            ));
        }
        let name = PROPERTIES
            .iter()
            .find(|(_, p, _)| *p == property)
            .map_or("", |(n, _, _)| *n);
        keys.push((name, property, direction));
    }
    Ok(OrderBy { keys })
}

/// Nulls first; values of the same kind in their natural order.
fn sort_order(a: Value<'_>, b: Value<'_>) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => order_of(a, b).unwrap_or(Ordering::Equal),
    }
}

impl OrderBy {
    /// The keys, as wire names with their directions.
    pub fn keys(&self) -> impl Iterator<Item = (&'static str, Direction)> + '_ {
        self.keys
            .iter()
            .map(|(name, _, direction)| (*name, *direction))
    }

    /// Compares two events by the keys in turn. Events equal on every key compare equal: add
    /// `id` as a last key (or sort stably) for a deterministic page order.
    pub fn compare(&self, a: &AuditEvent, b: &AuditEvent) -> Ordering {
        for (_, property, direction) in &self.keys {
            let order = sort_order(property.value(a), property.value(b));
            let order = match direction {
                Direction::Asc => order,
                Direction::Desc => order.reverse(),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

// ---------------------------------------------------------------------------------------------
// $select
// ---------------------------------------------------------------------------------------------

/// Parses a `$select` value: comma-separated top-level property names of `auditEvent`, or `*`.
/// Duplicates are dropped; the order is kept.
pub fn parse_select(text: &str) -> Result<Vec<String>, ODataError> {
    check_length("$select", text)?;
    let mut names: Vec<String> = Vec::new();
    for (start, piece) in split_commas(text) {
        let words = words(&piece, start);
        let name = match words.as_slice() {
            [] => {
                return Err(ODataError::invalid("empty item in $select", start));
            }
            [(_, name)] => name,
            [_, (pos, extra), ..] => {
                return Err(ODataError::invalid_hint(
                    format!("unexpected token '{extra}'"),
                    *pos,
                    "expected ',' or the end of $select",
                ));
            }
        };
        let pos = words.first().map_or(start, |(pos, _)| *pos);
        if name != "*" && !SELECTABLE.contains(&name.as_str()) {
            if name.contains('/') {
                return Err(ODataError::invalid_hint(
                    format!("cannot select '{name}'"),
                    pos,
                    "$select takes top-level properties only, e.g. actor",
                ));
            }
            return Err(ODataError::UnknownProperty {
                name: name.clone(),
                position: pos,
                hint: did_you_mean(name, SELECTABLE.iter().copied()),
            });
        }
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

/// The event as JSON (its serde form: camelCase wire names, absent properties omitted) with
/// only the keys in `properties`, plus `id` and `@odata.type` when the event has them. `*`
/// keeps every key.
pub fn select(event: &AuditEvent, properties: &[String]) -> serde_json::Value {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(event) else {
        return serde_json::Value::Object(serde_json::Map::new());
    };
    if properties.iter().any(|p| p == "*") {
        return serde_json::Value::Object(map);
    }
    let kept = map
        .into_iter()
        .filter(|(key, _)| key == "id" || key == "@odata.type" || properties.contains(key))
        .collect();
    serde_json::Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use auditkit_graph::types::AuditActor;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn event(id: &str) -> AuditEvent {
        AuditEvent {
            id: Some(id.into()),
            ..Default::default()
        }
    }

    /// Four events covering the real-world filters, a null-heavy one included.
    fn events() -> Vec<AuditEvent> {
        vec![
            AuditEvent {
                display_name: Some("Bob's app".into()),
                component_name: Some("DeviceIntent".into()),
                category: Some("DeviceIntent".into()),
                activity_operation_type: Some("Patch".into()),
                activity_date_time: Some(
                    at(2025, 3, 24, 15, 14, 4) + chrono::Duration::microseconds(218_566),
                ),
                correlation_id: Some(
                    Uuid::parse_str("0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b").unwrap(),
                ),
                actor: Some(AuditActor {
                    user_principal_name: Some("alice@contoso.com".into()),
                    application_id: Some("app-1".into()),
                    ..Default::default()
                }),
                ..event("e1")
            },
            AuditEvent {
                display_name: Some("Get intent".into()),
                component_name: Some("DeviceIntent".into()),
                category: Some("DeviceIntent".into()),
                activity_operation_type: Some("Get".into()),
                activity_date_time: Some(at(2025, 3, 25, 8, 0, 0)),
                actor: Some(AuditActor {
                    user_principal_name: Some("bob@contoso.com".into()),
                    ..Default::default()
                }),
                ..event("e2")
            },
            AuditEvent {
                display_name: Some("Assign app".into()),
                component_name: Some("MobileApp".into()),
                category: Some("Application".into()),
                activity_operation_type: Some("Post".into()),
                activity_date_time: Some(at(2023, 1, 2, 3, 4, 5)),
                ..event("e3")
            },
            AuditEvent {
                component_name: Some("DeviceIntent".into()),
                category: Some("Compliance".into()),
                activity_date_time: Some(at(2022, 8, 21, 23, 59, 59)),
                ..event("e4")
            },
        ]
    }

    /// The ids of the sample events that `filter` matches.
    fn ids(filter: &str) -> Vec<String> {
        let parsed = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        events()
            .iter()
            .filter(|e| parsed.matches(e))
            .filter_map(|e| e.id.clone())
            .collect()
    }

    fn error(filter: &str) -> String {
        match parse_filter(filter) {
            Ok(parsed) => panic!("{filter} parsed as {parsed:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn real_world_date_and_category() {
        let filter = "activityDateTime ge 2022-08-22 and category ne 'Application'";
        assert_eq!(ids(filter), ["e1", "e2"]);
        // The bare date is midnight UTC: e4 is one second before it.
        assert_eq!(ids("activityDateTime lt 2022-08-22"), ["e4"]);
        assert_eq!(
            ids("activityDateTime ge 2022-08-21T23:59:59Z and category ne 'Application'"),
            ["e1", "e2", "e4"]
        );
    }

    #[test]
    fn real_world_component_time_operation_with_orderby() {
        let filter = "componentName eq 'DeviceIntent' and activityDateTime gt \
                      2025-03-24T15:14:04.218565Z and activityOperationType ne 'Get'";
        assert_eq!(ids(filter), ["e1"]);
        // Without the operation clause both intents are newer; e1 is 1 µs after the literal.
        let filter = "componentName eq 'DeviceIntent' and activityDateTime gt \
                      2025-03-24T15:14:04.218565Z";
        assert_eq!(ids(filter), ["e1", "e2"]);
        assert_eq!(
            ids("activityDateTime gt 2025-03-24T15:14:04.218566Z"),
            ["e2"],
            "instants compare to the microsecond"
        );

        let parsed = parse_filter(filter).unwrap();
        let order = parse_orderby("activityDateTime desc").unwrap();
        let mut matched: Vec<AuditEvent> =
            events().into_iter().filter(|e| parsed.matches(e)).collect();
        matched.sort_by(|a, b| order.compare(a, b));
        let sorted: Vec<_> = matched.iter().filter_map(|e| e.id.as_deref()).collect();
        assert_eq!(sorted, ["e2", "e1"]);
    }

    #[test]
    fn offsets_are_instants() {
        // 17:14:04.218566+02:00 is e1's instant exactly.
        assert_eq!(
            ids("activityDateTime eq 2025-03-24T17:14:04.218566+02:00"),
            ["e1"]
        );
        assert_eq!(ids("activityDateTime ge 2025-03-25T09:00+01:00"), ["e2"]);
        assert_eq!(
            ids("activityDateTime lt 2025-03-24T22:00:00-10:00"),
            ["e1", "e3", "e4"]
        );
    }

    #[test]
    fn every_operator_on_strings_and_date_times() {
        assert_eq!(ids("componentName eq 'MobileApp'"), ["e3"]);
        assert_eq!(ids("componentName ne 'MobileApp'"), ["e1", "e2", "e4"]);
        // Ordinal: "DeviceIntent" < "MobileApp".
        assert_eq!(ids("componentName gt 'DeviceIntent'"), ["e3"]);
        assert_eq!(
            ids("componentName ge 'DeviceIntent'"),
            ["e1", "e2", "e3", "e4"]
        );
        assert_eq!(ids("componentName lt 'MobileApp'"), ["e1", "e2", "e4"]);
        assert_eq!(ids("componentName le 'DeviceIntent'"), ["e1", "e2", "e4"]);
        assert_eq!(ids("activityDateTime eq 2023-01-02T03:04:05Z"), ["e3"]);
        assert_eq!(
            ids("activityDateTime ne 2023-01-02T03:04:05Z"),
            ["e1", "e2", "e4"]
        );
        assert_eq!(
            ids("activityDateTime gt 2023-01-02T03:04:05Z"),
            ["e1", "e2"]
        );
        assert_eq!(
            ids("activityDateTime ge 2023-01-02T03:04:05Z"),
            ["e1", "e2", "e3"]
        );
        assert_eq!(ids("activityDateTime lt 2023-01-02T03:04:05Z"), ["e4"]);
        assert_eq!(
            ids("activityDateTime le 2023-01-02T03:04:05Z"),
            ["e3", "e4"]
        );
        // Case-sensitive, like Graph's eq on these properties.
        assert!(ids("componentName eq 'mobileapp'").is_empty());
        // Literal on the left, guid property.
        assert_eq!(ids("'MobileApp' eq componentName"), ["e3"]);
        assert_eq!(
            ids("correlationId eq 0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b"),
            ["e1"]
        );
        assert_eq!(
            ids("correlationId eq 0B1E5A2C-3D4E-4F60-8A7B-9C0D1E2F3A4B"),
            ["e1"]
        );
        assert_eq!(ids("1 eq 1 and true"), ["e1", "e2", "e3", "e4"]);
        assert!(ids("false").is_empty());
    }

    #[test]
    fn not_and_precedence() {
        assert_eq!(ids("not (componentName eq 'DeviceIntent')"), ["e3"]);
        assert_eq!(ids("not not (componentName eq 'MobileApp')"), ["e3"]);
        // a or b and c  is  a or (b and c)
        let a = "componentName eq 'MobileApp'";
        let b = "category eq 'DeviceIntent'";
        let c = "activityOperationType eq 'Get'";
        assert_eq!(ids(&format!("{a} or {b} and {c}")), ["e2", "e3"]);
        assert_eq!(ids(&format!("{a} or ({b} and {c})")), ["e2", "e3"]);
        assert_eq!(ids(&format!("({a} or {b}) and {c}")), ["e2"]);
        // not binds tighter than and/or.
        assert_eq!(ids(&format!("not ({a}) and not ({b})")), ["e4"]);
        // ... and tighter than eq, as OData says: `not componentName` is not boolean.
        let message = error("not componentName eq 'x'");
        assert!(
            message.starts_with("'not' needs a boolean operand"),
            "{message}"
        );
        assert!(message.contains("at position 0"), "{message}");
    }

    #[test]
    fn quotes_are_escaped_by_doubling() {
        assert_eq!(ids("displayName eq 'Bob''s app'"), ["e1"]);
        assert!(ids("displayName eq 'Bob''''s app'").is_empty());
        // A literal made of two escaped quotes.
        let quotes = parse_filter("displayName eq ''''''").unwrap();
        let e = AuditEvent {
            display_name: Some("''".into()),
            ..Default::default()
        };
        assert!(quotes.matches(&e));
        let filter = parse_filter("displayName eq 'it''s'''").unwrap();
        let e = AuditEvent {
            display_name: Some("it's'".into()),
            ..Default::default()
        };
        assert!(filter.matches(&e));
        // Unicode inside strings is fine, positions count characters.
        assert_eq!(
            ids("displayName eq 'é' or displayName eq 'Bob''s app'"),
            ["e1"]
        );
        assert_eq!(
            error("displayName eq 'é' eqq"),
            "unexpected token 'eqq' at position 19; expected 'and', 'or' or the end of the filter"
        );
    }

    #[test]
    fn actor_paths() {
        assert_eq!(
            ids("actor/userPrincipalName eq 'alice@contoso.com'"),
            ["e1"]
        );
        assert_eq!(ids("actor/userPrincipalName eq 'x'"), Vec::<String>::new());
        assert_eq!(ids("actor/applicationId eq 'app-1'"), ["e1"]);
        assert!(error("actor / applicationId eq 'app-1'").starts_with("unexpected token '/'"));
        assert!(
            error("actor/ applicationId eq 'app-1'")
                .starts_with("unexpected token 'applicationId' at position 7")
        );
        assert_eq!(
            ids("actor/userPrincipalName ne 'x'"),
            ["e1", "e2", "e3", "e4"]
        );
        assert_eq!(
            error("actor/nope eq 'x'"),
            "unknown property 'actor/nope' at position 0"
        );
        let message = error("actor/ eq 'x'");
        assert!(
            message.starts_with("unexpected token 'eq' at position 7"),
            "{message}"
        );
    }

    #[test]
    fn null_comparisons() {
        assert_eq!(ids("actor eq null"), ["e3", "e4"]);
        assert_eq!(ids("actor ne null"), ["e1", "e2"]);
        assert_eq!(ids("displayName eq null"), ["e4"]);
        assert_eq!(ids("null eq displayName"), ["e4"]);
        assert_eq!(ids("actor/userPrincipalName ne null"), ["e1", "e2"]);
        assert_eq!(ids("correlationId eq null"), ["e2", "e3", "e4"]);
        assert_eq!(ids("activityOperationType eq null"), ["e4"]);
        // A missing property is not equal to anything but null, so `ne` matches it.
        assert_eq!(ids("activityOperationType ne 'Get'"), ["e1", "e3", "e4"]);
        assert_eq!(ids("activityOperationType lt 'Z'"), ["e1", "e2", "e3"]);
        assert_eq!(ids("null eq null"), ["e1", "e2", "e3", "e4"]);
        let message = error("displayName gt null");
        assert_eq!(
            message,
            "'gt' cannot compare with null at position 12; use eq null or ne null"
        );
        assert!(error("actor eq 'x'").starts_with("cannot compare actor (a complex value)"));
    }

    #[test]
    fn functions() {
        assert_eq!(ids("startswith(displayName,'Bob')"), ["e1"]);
        assert_eq!(ids("endswith(displayName, 'app')"), ["e1", "e3"]);
        assert_eq!(ids("contains(displayName,'int')"), ["e2"]);
        assert_eq!(
            ids("contains(actor/userPrincipalName,'@contoso')"),
            ["e1", "e2"]
        );
        assert!(
            ids("startswith(displayName,'bob')").is_empty(),
            "case-sensitive"
        );
        assert_eq!(ids("startswith(displayName,'Bob') eq true"), ["e1"]);
        assert_eq!(ids("startswith(displayName,'Bob') eq false"), ["e2", "e3"]);
        // Null argument: the function is null, and so is its negation.
        assert_eq!(ids("not startswith(displayName,'Bob')"), ["e2", "e3"]);
        assert_eq!(
            ids("not startswith(displayName,'Bob') or displayName eq null"),
            ["e2", "e3", "e4"]
        );
        assert_eq!(
            ids("contains(displayName,'app') and not (category eq 'Application')"),
            ["e1"]
        );
        assert_eq!(
            error("startswith(displayName)"),
            "'startswith' takes 2 arguments, not 1 at position 0"
        );
        assert_eq!(
            error("contains(activityDateTime,'2025')"),
            "'contains' needs string arguments, but argument 1 (activityDateTime) is a \
             date-time at position 9"
        );
        assert_eq!(
            error("substringof('a',displayName)"),
            "unknown function 'substringof' at position 0; supported: startswith, endswith, \
             contains"
        );
        let message = error("startswith(displayName,'a'");
        assert!(
            message.starts_with("missing ')' for the call to 'startswith'"),
            "{message}"
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error("componentName eqq 'x'"),
            "unexpected token 'eqq' at position 14; expected an operator: eq, ne, gt, ge, lt or le"
        );
        assert_eq!(
            error("unknownField eq 1"),
            "unknown property 'unknownField' at position 0"
        );
        assert_eq!(
            error("componentname eq 'x'"),
            "unknown property 'componentname' at position 0; did you mean 'componentName'? \
             names are case-sensitive"
        );
        assert_eq!(
            error("componentName eq 'abc"),
            "unterminated string literal at position 17; close it with ' and write a quote \
             inside it as ''"
        );
        assert_eq!(
            error("componentName eq 'x' garbage"),
            "unexpected token 'garbage' at position 21; expected 'and', 'or' or the end of the \
             filter"
        );
        assert_eq!(
            error("componentName eq 'x')"),
            "unexpected token ')' at position 20; expected 'and', 'or' or the end of the filter"
        );
        assert_eq!(error(""), "empty $filter");
        assert_eq!(error("   "), "empty $filter");
        assert!(error("componentName eq").starts_with("unexpected end of filter at position 16"));
        assert!(error("(componentName eq 'x'").starts_with("missing ')' for the '('"));
        assert_eq!(
            error("activityDateTime eq 'x'"),
            "cannot compare activityDateTime (a date-time) with 'x' (a string) using 'eq' at \
             position 17; write date-times unquoted, e.g. 2022-08-22 or 2025-03-24T15:14:04Z"
        );
        assert!(
            error("correlationId eq '0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b'")
                .contains("guids are unquoted")
        );
        assert!(error("id eq 5").contains("quote strings"));
        assert!(error("componentName EQ 'x'").contains("keywords are lowercase: 'eq'"));
        assert!(error("componentName eq 'x' AND id eq 'y'").contains("'and'"));
        assert_eq!(
            error("componentName"),
            "the filter must be true or false, but componentName is a string at position 0; \
             write a comparison such as category eq 'x'"
        );
        assert!(error("activityDateTime ge 2022-13-01").starts_with("invalid date-time literal"));
        assert!(
            error("activityDateTime ge 2022-08-22T10:00:00")
                .starts_with("date-time literal '2022-08-22T10:00:00' has no time zone")
        );
        assert!(error("id eq 99999999999999999999").contains("out of range"));
        assert!(error("id eq 'a' and").starts_with("unexpected end of filter"));
        assert!(error("id eq 'a' # x").starts_with("unexpected character '#' at position 10"));
        assert!(error("resources eq null").contains("is a collection"));
        assert!(error("true gt false").contains("cannot order booleans"));
        assert!(error("id eq 'a' and 'b'").starts_with("'and' needs a boolean operand"));
        // Keyword in operand position.
        assert!(error("eq eq 'x'").starts_with("unexpected token 'eq' at position 0"));
        // Every error that has a place reports it.
        let e = parse_filter("componentName eqq 'x'").unwrap_err();
        assert_eq!(e.position(), Some(14));
    }

    #[test]
    fn length_and_depth_limits_are_errors_not_overflows() {
        let parens = "(".repeat(10_000);
        assert_eq!(
            parse_filter(&parens).unwrap_err(),
            ODataError::TooLong {
                option: "$filter",
                length: 10_000,
                limit: MAX_FILTER_LENGTH
            }
        );
        // The same text past the length check still stops at the depth limit.
        let tokens = lex(&parens).unwrap();
        let mut parser = Parser {
            tokens,
            next: 0,
            nesting: 0,
        };
        assert!(matches!(
            parser.parse_or(),
            Err(ODataError::TooDeep { position: 32, .. })
        ));
        let deep = format!("{}true{}", "(".repeat(2000), ")".repeat(2000));
        assert_eq!(
            parse_filter(&deep).unwrap_err().to_string(),
            "filter nests deeper than 32 levels at position 32"
        );
        let ok = format!("{}true{}", "(".repeat(32), ")".repeat(32));
        assert!(parse_filter(&ok).unwrap().matches(&event("x")));
        let too_deep = format!("{}true{}", "(".repeat(33), ")".repeat(33));
        assert!(matches!(
            parse_filter(&too_deep),
            Err(ODataError::TooDeep { .. })
        ));
        // Nested function calls, `not` chains and `eq` chains are bounded too.
        let calls = format!("{}'a'{}", "startswith(".repeat(200), ",'b')".repeat(200));
        assert!(matches!(
            parse_filter(&calls),
            Err(ODataError::TooDeep { .. })
        ));
        let nots = format!("{}true", "not ".repeat(1000));
        assert!(matches!(
            parse_filter(&nots),
            Err(ODataError::TooDeep { .. })
        ));
        let chain = format!("true{}", " eq true".repeat(500));
        assert!(matches!(
            parse_filter(&chain),
            Err(ODataError::TooDeep { .. })
        ));
        // Long flat and/or chains are one level, not one per term.
        let flat = vec!["id ne 'z'"; 250].join(" and ");
        assert_eq!(ids(&flat).len(), 4);
        let long = "a".repeat(MAX_FILTER_LENGTH + 1);
        assert!(matches!(
            parse_filter(&long),
            Err(ODataError::TooLong { .. })
        ));
    }

    /// xorshift64*: deterministic garbage without a new dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
    }

    #[test]
    fn garbage_never_panics() {
        const PIECES: &[&str] = &[
            "(",
            ")",
            "((",
            "))",
            ",",
            "/",
            "'",
            "''",
            "'x'",
            "'Bob''s'",
            " ",
            "  ",
            "eq",
            "ne",
            "gt",
            "ge",
            "lt",
            "le",
            "and",
            "or",
            "not",
            "EQ",
            "true",
            "false",
            "null",
            "0",
            "-1",
            "99999999999999999999",
            "1.5",
            "2022-08-22",
            "2025-03-24T15:14:04.218565Z",
            "2025-03-24T17:14+02:00",
            "2025-02-30",
            "2022-08-22T",
            "+",
            "-",
            ":",
            ".",
            "0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4b",
            "0b1e5a2c-3d4e-4f60-8a7b-9c0d1e2f3a4",
            "id",
            "displayName",
            "componentName",
            "activityDateTime",
            "correlationId",
            "actor",
            "actor/userPrincipalName",
            "actor/",
            "resources",
            "startswith",
            "endswith(",
            "contains",
            "é",
            "日本",
            "\u{0}",
            "\t",
            "\n",
            "$",
            "*",
            "asc",
            "desc",
            "\u{1F600}",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let sample = events();
        let seeds = [
            "componentName eq 'DeviceIntent' and activityDateTime gt 2025-03-24T15:14:04.218565Z",
            "not (actor/userPrincipalName eq 'a') or startswith(displayName,'B''x')",
            "activityDateTime desc,id asc",
        ];
        for case in 0..6000 {
            let text: String = match case % 3 {
                // Concatenated fragments.
                0 => (0..rng.below(12))
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect::<Vec<_>>()
                    .join(if rng.below(2) == 0 { " " } else { "" }),
                // Random characters, ASCII-heavy.
                1 => (0..rng.below(40))
                    .map(|_| match rng.below(10) {
                        0 => char::from_u32(u32::try_from(rng.below(0x11_0000)).unwrap_or(0))
                            .unwrap_or('?'),
                        _ => char::from(u8::try_from(rng.below(95) + 32).unwrap_or(b'?')),
                    })
                    .collect(),
                // Mutations of valid inputs.
                _ => {
                    let mut chars: Vec<char> = seeds[rng.below(seeds.len())].chars().collect();
                    for _ in 0..=rng.below(4) {
                        let at = rng.below(chars.len() + 1);
                        match rng.below(3) {
                            0 if at < chars.len() => {
                                chars.remove(at);
                            }
                            1 => {
                                let piece = PIECES[rng.below(PIECES.len())];
                                for (k, c) in piece.chars().enumerate() {
                                    chars.insert(at + k, c);
                                }
                            }
                            _ if at < chars.len() => chars.truncate(at),
                            _ => {}
                        }
                    }
                    chars.into_iter().collect()
                }
            };
            if let Ok(filter) = parse_filter(&text) {
                for e in &sample {
                    let _ = filter.matches(e);
                }
            }
            if let Ok(order) = parse_orderby(&text) {
                let mut sorted = sample.clone();
                sorted.sort_by(|a, b| order.compare(a, b));
            }
            if let Ok(names) = parse_select(&text) {
                let _ = select(&sample[0], &names);
            }
            for result in [
                parse_filter(&text).map(|_| ()),
                parse_orderby(&text).map(|_| ()),
                parse_select(&text).map(|_| ()),
            ] {
                if let Err(e) = result {
                    let message = e.to_string();
                    assert!(!message.is_empty());
                    assert!(
                        message.chars().next().is_some_and(|c| !c.is_uppercase()),
                        "{message}"
                    );
                }
            }
        }
    }

    #[test]
    fn orderby() {
        let order = parse_orderby("activityDateTime desc,id").unwrap();
        assert_eq!(
            order.keys().collect::<Vec<_>>(),
            [
                ("activityDateTime", Direction::Desc),
                ("id", Direction::Asc)
            ]
        );
        let order = parse_orderby("  componentName asc , activityDateTime  desc ").unwrap();
        let mut sample = events();
        sample.sort_by(|a, b| order.compare(a, b));
        let sorted: Vec<_> = sample.iter().filter_map(|e| e.id.as_deref()).collect();
        assert_eq!(sorted, ["e2", "e1", "e4", "e3"]);

        // Nulls first ascending, last descending.
        let order = parse_orderby("actor/userPrincipalName").unwrap();
        let mut sample = events();
        sample.sort_by(|a, b| order.compare(a, b).then_with(|| a.id.cmp(&b.id)));
        let sorted: Vec<_> = sample.iter().filter_map(|e| e.id.as_deref()).collect();
        assert_eq!(sorted, ["e3", "e4", "e1", "e2"]);
        let order = parse_orderby("actor/userPrincipalName desc").unwrap();
        sample.sort_by(|a, b| order.compare(a, b).then_with(|| a.id.cmp(&b.id)));
        let sorted: Vec<_> = sample.iter().filter_map(|e| e.id.as_deref()).collect();
        assert_eq!(sorted, ["e2", "e1", "e3", "e4"]);

        let order = parse_orderby("correlationId desc").unwrap();
        assert_eq!(order.compare(&events()[0], &events()[1]), Ordering::Less);

        let err = |text: &str| parse_orderby(text).unwrap_err().to_string();
        assert_eq!(err(""), "empty $orderby");
        assert_eq!(
            err("activityDateTime down"),
            "unexpected token 'down' at position 17; expected asc, desc or ','"
        );
        assert_eq!(
            err("activityDateTime DESC"),
            "unexpected token 'DESC' at position 17; expected asc, desc or ','"
        );
        assert_eq!(
            err("id asc desc"),
            "unexpected token 'desc' at position 7; expected ',' or the end of $orderby"
        );
        assert_eq!(err("id,,category"), "empty key in $orderby at position 3");
        assert_eq!(err("id,foo desc"), "unknown property 'foo' at position 3");
        assert!(err("actor").starts_with("cannot sort by 'actor', a complex value"));
        assert!(err("resources").contains("is a collection"));
    }

    #[test]
    fn select_keeps_only_the_chosen_keys() {
        assert_eq!(
            parse_select("displayName, actor ,displayName").unwrap(),
            ["displayName", "actor"]
        );
        assert_eq!(parse_select("*").unwrap(), ["*"]);
        let err = |text: &str| parse_select(text).unwrap_err().to_string();
        assert_eq!(err(""), "empty $select");
        assert_eq!(
            err("displayName,,id"),
            "empty item in $select at position 12"
        );
        assert_eq!(
            err("displayname"),
            "unknown property 'displayname' at position 0; did you mean 'displayName'? names \
             are case-sensitive"
        );
        assert!(
            err("actor/userPrincipalName").starts_with("cannot select 'actor/userPrincipalName'")
        );
        assert!(err("id category").starts_with("unexpected token 'category' at position 3"));

        let mut e = events().remove(0);
        e.odata_type = Some("#microsoft.graph.auditEvent".into());
        let json = select(&e, &["displayName".into(), "actor".into()]);
        assert_eq!(
            json,
            serde_json::json!({
                "id": "e1",
                "@odata.type": "#microsoft.graph.auditEvent",
                "displayName": "Bob's app",
                "actor": {
                    "userPrincipalName": "alice@contoso.com",
                    "applicationId": "app-1",
                },
            })
        );
        // A selected property the event lacks is simply absent.
        let json = select(&events()[3], &["displayName".into()]);
        assert_eq!(json, serde_json::json!({ "id": "e4" }));
        let all = select(&e, &["*".into()]);
        assert_eq!(all, serde_json::to_value(&e).unwrap());
    }
}
