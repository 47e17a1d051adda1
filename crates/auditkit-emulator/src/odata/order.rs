//! `$orderby`: keys, directions and the order they give events.

use std::cmp::Ordering;

use auditkit_graph::types::AuditEvent;

use super::eval::{Value, order_of, value_of};
use super::lexer::{split_commas, words};
use super::property::{Kind, Path, lookup};
use super::{ODataError, check_length};

/// The direction of one `$orderby` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A parsed `$orderby`: keys in priority order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBy {
    keys: Vec<(&'static Path, Direction)>,
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
        let path = lookup(&name, name_pos)?;
        if path.kind == Kind::Complex {
            return Err(ODataError::invalid_hint(
                format!("cannot sort by '{name}', a complex value"),
                name_pos,
                "sort by one of its properties, e.g. actor/userPrincipalName",
            ));
        }
        if !path.sortable {
            return Err(ODataError::invalid(
                format!("cannot sort by '{name}'"),
                name_pos,
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
        keys.push((path, direction));
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
            .map(|(path, direction)| (path.name.as_str(), *direction))
    }

    /// Compares two events by the keys in turn. Events equal on every key compare equal: add
    /// `id` as a last key (or sort stably) for a deterministic page order.
    pub fn compare(&self, a: &AuditEvent, b: &AuditEvent) -> Ordering {
        for (path, direction) in &self.keys {
            let order = sort_order(value_of(path, a), value_of(path, b));
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
