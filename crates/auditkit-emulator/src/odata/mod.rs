//! The server side of OData for `/deviceManagement/auditEvents`: `$filter`, `$orderby` and
//! `$select`, evaluated over the generated
//! [`AuditEvent`](auditkit_graph::types::AuditEvent) model. Which properties each option
//! takes, and their types, come from the generated property table
//! (`auditkit_graph::properties`, the spec's `x-auditkit-filterable` / `x-auditkit-sortable`).
//!
//! The work is split as a request meets it: `lexer` (tokens and comma lists), `property`
//! (paths resolved against the table), `parser` (the typed `$filter` tree), `eval` (its
//! value for an event), `order` (`$orderby`) and `select` (`$select`).
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

mod eval;
mod lexer;
mod order;
mod parser;
mod property;
mod select;
#[cfg(test)]
mod tests;

pub use eval::Filter;
pub use order::{Direction, OrderBy, parse_orderby};
pub use parser::parse_filter;
pub use select::{parse_select, select};

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
    Empty {
        /// The query option refused: `$filter`, `$orderby` or `$select`.
        option: &'static str,
    },
    /// The value is longer than [`MAX_FILTER_LENGTH`].
    #[error("{option} is {length} bytes long; the limit is {limit}")]
    TooLong {
        /// The query option refused: `$filter`, `$orderby` or `$select`.
        option: &'static str,
        /// The value's length, in bytes.
        length: usize,
        /// The longest value accepted, in bytes: [`MAX_FILTER_LENGTH`].
        limit: usize,
    },
    /// Parentheses, functions or operators nest deeper than [`MAX_FILTER_DEPTH`].
    #[error("filter nests deeper than {limit} levels at position {position}")]
    TooDeep {
        /// Where the nesting first went too deep.
        position: usize,
        /// The deepest nesting accepted: [`MAX_FILTER_DEPTH`].
        limit: usize,
    },
    /// A name that is not a property of `microsoft.graph.auditEvent`.
    #[error("unknown property '{name}' at position {position}{}", hint_suffix(.hint))]
    UnknownProperty {
        /// The name as written.
        name: String,
        /// Where the name starts.
        position: usize,
        /// A suggestion, such as the known name it matches but for case.
        hint: Option<String>,
    },
    /// Any other syntax or type error.
    #[error("{message} at position {position}{}", hint_suffix(.hint))]
    Invalid {
        /// What is wrong, for a human reader.
        message: String,
        /// Where the problem is.
        position: usize,
        /// How to fix it, when there is advice to give.
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

    pub(super) fn invalid(message: impl Into<String>, position: usize) -> Self {
        Self::Invalid {
            message: message.into(),
            position,
            hint: None,
        }
    }

    pub(super) fn invalid_hint(
        message: impl Into<String>,
        position: usize,
        hint: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            message: message.into(),
            position,
            hint: Some(hint.into()),
        }
    }
}

/// Bounds every option value before it is read.
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
