//! `$filter` and `$orderby` values for `/deviceManagement/auditEvents`, built from typed
//! properties instead of format strings.
//!
//! Hand-written filters go wrong in two ways: a value with a `'` in it ends its literal early
//! (and can smuggle in `or 1 eq 1`), and a date-time gets quoted or a string does not. Here a
//! property's type decides which values it can be compared with, and every value is written
//! by this module, so neither can happen.
//!
//! ```
//! use auditkit::ListQuery;
//! use auditkit::filter::{Field, Filter, OrderBy};
//! use chrono::{TimeZone, Utc};
//!
//! let since = Utc.with_ymd_and_hms(2025, 3, 24, 15, 14, 4).unwrap();
//! let filter = Filter::field(Field::ComponentName)
//!     .eq("DeviceIntent")
//!     .and(Filter::activity_after(since))
//!     .and(Filter::field(Field::ActivityOperationType).ne("Get"));
//! assert_eq!(
//!     filter.to_string(),
//!     "componentName eq 'DeviceIntent' and activityDateTime gt 2025-03-24T15:14:04Z \
//!      and activityOperationType ne 'Get'"
//! );
//! let query = ListQuery::new()
//!     .filter(filter)
//!     .order_by(OrderBy::desc(Field::ActivityDateTime));
//! # let _ = query;
//! ```
//!
//! A value of the wrong kind does not compile:
//!
//! ```compile_fail,E0277
//! use auditkit::filter::{Field, Filter};
//! let _ = Filter::field(Field::ActivityDateTime).eq("2025-03-24");
//! ```
//!
//! ```compile_fail,E0277
//! use auditkit::filter::{Field, Filter};
//! let _ = Filter::field(Field::CorrelationId).eq("not-a-guid");
//! ```

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use uuid::Uuid;

// The kinds of properties and the typed constants are generated from the spec's property
// table (`auditkit_graph::properties`): a property added to `openapi/graph-audit-events.yaml`
// with `x-auditkit-filterable` becomes a `Field` constant without anyone writing it here.
pub use auditkit_graph::properties::typed::AuditEventField as Field;
pub use auditkit_graph::properties::typed::{DateTimeOffset, Guid, Property, Text};

mod sealed {
    /// Holds the writing of literals, so that no type outside this module can write one and
    /// escape its quotes.
    pub trait Sealed<K> {
        fn literal(self) -> String;
    }
}

/// A value that can be compared with a property of kind `K`. Sealed: only the values this
/// module knows how to write safely.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be compared with a `{K}` property",
    label = "wrong kind of value for this property",
    note = "text properties take &str or String; activityDateTime takes chrono::DateTime<Utc> \
            or chrono::NaiveDate; correlationId takes uuid::Uuid"
)]
pub trait Literal<K>: sealed::Sealed<K> {}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl sealed::Sealed<Text> for &str {
    fn literal(self) -> String {
        quote(self)
    }
}
impl Literal<Text> for &str {}

impl sealed::Sealed<Text> for String {
    fn literal(self) -> String {
        quote(&self)
    }
}
impl Literal<Text> for String {}

impl sealed::Sealed<Text> for &String {
    fn literal(self) -> String {
        quote(self)
    }
}
impl Literal<Text> for &String {}

impl sealed::Sealed<Text> for Cow<'_, str> {
    fn literal(self) -> String {
        quote(&self)
    }
}
impl Literal<Text> for Cow<'_, str> {}

impl sealed::Sealed<DateTimeOffset> for DateTime<Utc> {
    /// `Z` rather than `+00:00`, and sub-second digits only when there are some: the form
    /// Graph itself writes and its documentation shows.
    fn literal(self) -> String {
        self.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}
impl Literal<DateTimeOffset> for DateTime<Utc> {}

impl sealed::Sealed<DateTimeOffset> for NaiveDate {
    /// A bare `yyyy-mm-dd`, which Graph accepts against `activityDateTime` (midnight UTC).
    fn literal(self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}
impl Literal<DateTimeOffset> for NaiveDate {}

impl sealed::Sealed<Guid> for Uuid {
    fn literal(self) -> String {
        self.hyphenated().to_string()
    }
}
impl Literal<Guid> for Uuid {}

/// Why a filter could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// An empty list most often means "no restriction" to whoever filled it, but `or` over
    /// nothing matches nothing: refusing beats silently listing no events.
    #[error("any_of on `{property}` needs at least one value")]
    EmptyAnyOf {
        /// The property's OData name, e.g. `activityResult`.
        property: &'static str,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    /// `name op literal`, already written.
    Compare(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// A `$filter` expression. Turn it into the `String` that [`ListQuery::filter`] takes with
/// `.into()` or `to_string()`.
///
/// Parentheses: `not` binds tighter than `and`, which binds tighter than `or`, so an
/// `and` chain needs none. An `or` group is always written in parentheses, even alone, so that
/// the string stays correct when pasted into a larger hand-written expression.
///
/// [`ListQuery::filter`]: crate::graph::ListQuery::filter
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Filter(Expr);

/// A property waiting for its operator; see [`Filter::field`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct FieldFilter<K> {
    property: Property<K>,
}

impl<K> Clone for FieldFilter<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for FieldFilter<K> {}

impl<K> FieldFilter<K> {
    fn compare(self, op: &str, value: impl Literal<K>) -> Filter {
        Filter(Expr::Compare(format!(
            "{} {op} {}",
            self.property.name(),
            value.literal()
        )))
    }

    /// The property equals `value` (`eq`). The value is written as an OData literal of the
    /// property's kind, a text's quotes doubled.
    pub fn eq(self, value: impl Literal<K>) -> Filter {
        self.compare("eq", value)
    }

    /// The property differs from `value` (`ne`).
    pub fn ne(self, value: impl Literal<K>) -> Filter {
        self.compare("ne", value)
    }

    /// The property is strictly greater than (for a date-time, after) `value` (`gt`).
    pub fn gt(self, value: impl Literal<K>) -> Filter {
        self.compare("gt", value)
    }

    /// The property is greater than or equal to (for a date-time, at or after) `value` (`ge`).
    pub fn ge(self, value: impl Literal<K>) -> Filter {
        self.compare("ge", value)
    }

    /// The property is strictly less than (for a date-time, before) `value` (`lt`).
    pub fn lt(self, value: impl Literal<K>) -> Filter {
        self.compare("lt", value)
    }

    /// The property is less than or equal to (for a date-time, at or before) `value` (`le`).
    pub fn le(self, value: impl Literal<K>) -> Filter {
        self.compare("le", value)
    }

    /// `eq` any of `values`, as an `or` of `eq`s: Intune's audit events do not document the
    /// OData `in` operator, while `or` works everywhere. One value gives a plain `eq`.
    pub fn any_of<V: Literal<K>>(
        self,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Filter, FilterError> {
        let mut terms: Vec<Expr> = values.into_iter().map(|v| self.eq(v).0).collect();
        match terms.len() {
            0 => Err(FilterError::EmptyAnyOf {
                property: self.property.name(),
            }),
            1 => Ok(Filter(terms.remove(0))),
            _ => Ok(Filter(Expr::Or(terms))),
        }
    }
}

impl Filter {
    /// Starts a comparison; the property's kind decides which values the operators take.
    pub fn field<K>(property: Property<K>) -> FieldFilter<K> {
        FieldFilter { property }
    }

    /// Events strictly after `at` (`activityDateTime gt at`), the usual "since my last poll".
    pub fn activity_after(at: impl Literal<DateTimeOffset>) -> Filter {
        Filter::field(Field::ActivityDateTime).gt(at)
    }

    /// Events strictly before `at` (`activityDateTime lt at`).
    pub fn activity_before(at: impl Literal<DateTimeOffset>) -> Filter {
        Filter::field(Field::ActivityDateTime).lt(at)
    }

    /// Events in the half-open range `[from, to)`: `activityDateTime ge from and
    /// activityDateTime lt to`. Half-open so that consecutive windows (`[a, b)`, `[b, c)`)
    /// neither miss nor repeat an event stamped exactly on a boundary.
    pub fn activity_between(
        from: impl Literal<DateTimeOffset>,
        to: impl Literal<DateTimeOffset>,
    ) -> Filter {
        Filter::field(Field::ActivityDateTime)
            .ge(from)
            .and(Filter::field(Field::ActivityDateTime).lt(to))
    }

    /// Both must hold. Chains flatten: `a.and(b).and(c)` is `a and b and c`.
    pub fn and(self, other: Filter) -> Filter {
        let mut terms = Vec::new();
        for Filter(expr) in [self, other] {
            match expr {
                Expr::And(inner) => terms.extend(inner),
                expr => terms.push(expr),
            }
        }
        Filter(Expr::And(terms))
    }

    /// Either may hold. Chains flatten into one parenthesised group.
    pub fn or(self, other: Filter) -> Filter {
        let mut terms = Vec::new();
        for Filter(expr) in [self, other] {
            match expr {
                Expr::Or(inner) => terms.extend(inner),
                expr => terms.push(expr),
            }
        }
        Filter(Expr::Or(terms))
    }

    /// Negation, always written `not (…)`: OData's `not` binds tighter than `eq`, so a bare
    /// `not category eq 'x'` would negate `category`, not the comparison.
    #[allow(
        clippy::should_implement_trait,
        reason = "read as `Filter::not(x)`, like `and`/`or`"
    )]
    pub fn not(filter: Filter) -> Filter {
        Filter(Expr::Not(Box::new(filter.0)))
    }
}

fn write_expr(expr: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match expr {
        Expr::Compare(text) => f.write_str(text),
        Expr::And(terms) => write_joined(terms, " and ", f),
        Expr::Or(terms) => {
            f.write_str("(")?;
            write_joined(terms, " or ", f)?;
            f.write_str(")")
        }
        // An `or` brings its own parentheses.
        Expr::Not(inner) if matches!(**inner, Expr::Or(_)) => {
            f.write_str("not ")?;
            write_expr(inner, f)
        }
        Expr::Not(inner) => {
            f.write_str("not (")?;
            write_expr(inner, f)?;
            f.write_str(")")
        }
    }
}

fn write_joined(terms: &[Expr], separator: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_expr(term, f)?;
    }
    Ok(())
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(&self.0, f)
    }
}

impl From<Filter> for String {
    fn from(filter: Filter) -> Self {
        filter.to_string()
    }
}

/// A `$orderby` value: keys in priority order, written `activityDateTime desc,id asc`.
///
/// It converts into the one comma-joined `String` that [`ListQuery::order_by`] takes; since
/// `ListQuery` joins its keys with `,` as well, the request is the same as adding the keys one
/// by one. Directions are always written, so nobody has to remember OData's default.
///
/// [`ListQuery::order_by`]: crate::graph::ListQuery::order_by
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct OrderBy(Vec<(&'static str, Direction)>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Asc,
    Desc,
}

impl OrderBy {
    /// Orders by `property`, ascending (for a date-time, oldest first).
    pub fn asc<K>(property: Property<K>) -> OrderBy {
        OrderBy(vec![(property.name(), Direction::Asc)])
    }

    /// Orders by `property`, descending (for a date-time, newest first).
    pub fn desc<K>(property: Property<K>) -> OrderBy {
        OrderBy(vec![(property.name(), Direction::Desc)])
    }

    /// Breaks ties of the keys before it.
    pub fn then_asc<K>(mut self, property: Property<K>) -> OrderBy {
        self.0.push((property.name(), Direction::Asc));
        self
    }

    /// Breaks ties of the keys before it.
    pub fn then_desc<K>(mut self, property: Property<K>) -> OrderBy {
        self.0.push((property.name(), Direction::Desc));
        self
    }

    /// The keys one by one (`activityDateTime desc`), for callers that add them separately.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|(name, direction)| match direction {
            Direction::Asc => format!("{name} asc"),
            Direction::Desc => format!("{name} desc"),
        })
    }
}

impl fmt::Display for OrderBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, key) in self.keys().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(&key)?;
        }
        Ok(())
    }
}

impl From<OrderBy> for String {
    fn from(order: OrderBy) -> Self {
        order.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::sealed::Sealed;
    use super::*;
    use chrono::TimeZone;

    fn text(value: &str) -> String {
        Filter::field(Field::Category).eq(value).to_string()
    }

    #[test]
    fn quote_doubles_every_apostrophe_and_nothing_else() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("'"), "''''");
        assert_eq!(quote("a''b"), "'a''''b'");
        assert_eq!(quote("é ü 日本 🎉"), "'é ü 日本 🎉'");
        assert_eq!(quote("a\"b\\c"), "'a\"b\\c'");
    }

    #[test]
    fn every_text_value_type_is_escaped_alike() {
        let expected = "category eq 'O''Brien'";
        assert_eq!(text("O'Brien"), expected);
        let owned = String::from("O'Brien");
        assert_eq!(
            Filter::field(Field::Category).eq(&owned).to_string(),
            expected
        );
        assert_eq!(
            Filter::field(Field::Category)
                .eq(Cow::Borrowed("O'Brien"))
                .to_string(),
            expected
        );
        assert_eq!(
            Filter::field(Field::Category).eq(owned).to_string(),
            expected
        );
    }

    #[test]
    fn date_time_keeps_sub_seconds_only_when_present() {
        let whole = Utc.with_ymd_and_hms(2025, 3, 24, 15, 14, 4).unwrap();
        assert_eq!(whole.literal(), "2025-03-24T15:14:04Z");
        let micros = whole + chrono::Duration::microseconds(218_565);
        assert_eq!(micros.literal(), "2025-03-24T15:14:04.218565Z");
        let nanos = whole + chrono::Duration::nanoseconds(1);
        assert_eq!(nanos.literal(), "2025-03-24T15:14:04.000000001Z");
    }

    #[test]
    fn date_is_bare_and_zero_padded() {
        let date = NaiveDate::from_ymd_opt(2022, 8, 2).unwrap();
        assert_eq!(date.literal(), "2022-08-02");
    }

    #[test]
    fn not_of_or_writes_one_pair_of_parentheses() {
        let either = Filter::field(Field::Category)
            .eq("a")
            .or(Filter::field(Field::Category).eq("b"));
        assert_eq!(
            Filter::not(either).to_string(),
            "not (category eq 'a' or category eq 'b')"
        );
    }

    #[test]
    fn empty_any_of_names_the_property() {
        let err = Filter::field(Field::ActivityResult)
            .any_of(Vec::<String>::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "any_of on `activityResult` needs at least one value"
        );
    }
}
