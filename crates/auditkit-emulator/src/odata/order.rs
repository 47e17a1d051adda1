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
    /// Ascending, the default: nulls first.
    Asc,
    /// Descending (`desc`): nulls last.
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
        self.first_difference(|_, path| sort_order(value_of(path, a), value_of(path, b)))
    }

    /// `events` in this order, stably (events equal on every key keep their order). Each
    /// event's keys are read once, not once per comparison: a listing sorts every matching
    /// event for each page it serves.
    pub fn sort<'a>(&self, events: Vec<&'a AuditEvent>) -> Vec<&'a AuditEvent> {
        let width = self.keys.len();
        // Event `i`'s keys are `keys[i * width..][..width]`.
        let keys: Vec<Value<'a>> = events
            .iter()
            .flat_map(|event| self.keys.iter().map(|(path, _)| value_of(path, event)))
            .collect();
        let order = stable_sort((0..events.len()).collect(), |&a, &b| {
            let (a, b) = (&keys[a * width..][..width], &keys[b * width..][..width]);
            self.first_difference(|key, _| sort_order(a[key], b[key]))
        });
        order.into_iter().map(|at| events[at]).collect()
    }

    /// The order of the first key, in priority order, on which `ascending(index, path)`
    /// differs, turned by that key's direction.
    fn first_difference(&self, ascending: impl Fn(usize, &Path) -> Ordering) -> Ordering {
        for (index, (path, direction)) in self.keys.iter().enumerate() {
            let order = match direction {
                Direction::Asc => ascending(index, path),
                Direction::Desc => ascending(index, path).reverse(),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }
}

/// A stable merge sort that, unlike `slice::sort_by`, cannot panic whatever the comparator
/// answers (an inconsistent order only gives an odd order).
///
/// Bottom-up over one scratch buffer: a listing sorts every matching event for each page it
/// serves, so the sort allocates twice per request, not once per event.
fn stable_sort<T: Copy>(
    mut items: Vec<T>,
    compare: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    let len = items.len();
    let mut merged = items.clone();
    let mut width = 1;
    while width < len {
        for start in (0..len).step_by(2 * width) {
            let middle = (start + width).min(len);
            let end = (start + 2 * width).min(len);
            let (mut left, mut right) = (start, middle);
            for slot in &mut merged[start..end] {
                // The right run goes first only when strictly smaller: equal items keep
                // their order.
                let take_right = right < end
                    && (left >= middle
                        || compare(&items[left], &items[right]) == std::cmp::Ordering::Greater);
                if take_right {
                    *slot = items[right];
                    right += 1;
                } else {
                    *slot = items[left];
                    left += 1;
                }
            }
        }
        std::mem::swap(&mut items, &mut merged);
        width *= 2;
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_and_survives_bad_comparators() {
        let items = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        let sorted = stable_sort(items, |a, b| a.0.cmp(&b.0));
        assert_eq!(
            sorted,
            vec![(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]
        );
        let chaos = stable_sort((0..100).collect::<Vec<i32>>(), |_, _| {
            std::cmp::Ordering::Less
        });
        assert_eq!(chaos.len(), 100);
        assert!(stable_sort(Vec::<i32>::new(), |a, b| a.cmp(b)).is_empty());
    }
}
