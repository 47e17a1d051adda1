//! The bodies of Graph's answers: a page of a collection with its links, and one entity.
//!
//! Helpers return `Result<_, Response>`: the error is the finished answer, built once per
//! request on its way out, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

use auditkit_graph::types::AuditEvent;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::query::{Query, encode_skiptoken};
use crate::answer::graph_error;
use crate::odata;
use crate::request::{Ctx, encode_query_value};

/// Builds a collection answer from the full (filtered, sorted) list of values.
pub fn collection_page(
    query: &Query,
    link: &str,
    context: String,
    values: Vec<Value>,
    (offset, size): (usize, usize),
    with_count: bool,
) -> Response {
    let total = values.len();
    let end = offset.saturating_add(size).min(total);
    let page: Vec<Value> = values
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    let mut body = Map::new();
    body.insert("@odata.context".to_owned(), Value::String(context));
    if with_count {
        body.insert("@odata.count".to_owned(), json!(total));
    }
    if end < total {
        let mut link = format!("{link}?");
        for (name, value) in &query.kept {
            link.push_str(&encode_query_value(name));
            link.push('=');
            link.push_str(&encode_query_value(value));
            link.push('&');
        }
        link.push_str("$skiptoken=");
        link.push_str(&encode_skiptoken(end, query.fingerprint()));
        body.insert("@odata.nextLink".to_owned(), Value::String(link));
    }
    body.insert("value".to_owned(), Value::Array(page));
    (StatusCode::OK, axum::Json(Value::Object(body))).into_response()
}

pub fn to_value(
    ctx: &Ctx,
    event: &AuditEvent,
    select: Option<&[String]>,
) -> Result<Value, Response> {
    match select {
        Some(fields) => Ok(odata::select(event, fields)),
        None => serde_json::to_value(event).map_err(|_| internal(ctx)),
    }
}

pub fn internal(ctx: &Ctx) -> Response {
    graph_error(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        "The emulator could not complete the request.",
    )
}

/// A stable merge sort that, unlike `slice::sort_by`, cannot panic whatever the comparator
/// answers (an inconsistent order only gives an odd order).
pub fn stable_sort<T>(items: Vec<T>, compare: impl Fn(&T, &T) -> std::cmp::Ordering) -> Vec<T> {
    let mut runs: Vec<Vec<T>> = items.into_iter().map(|item| vec![item]).collect();
    while runs.len() > 1 {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pending = runs.into_iter();
        while let Some(left) = pending.next() {
            let Some(right) = pending.next() else {
                merged.push(left);
                break;
            };
            let mut out = Vec::with_capacity(left.len() + right.len());
            let mut left = left.into_iter().peekable();
            let mut right = right.into_iter().peekable();
            loop {
                let take_right = match (left.peek(), right.peek()) {
                    (Some(a), Some(b)) => compare(a, b) == std::cmp::Ordering::Greater,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (None, None) => break,
                };
                let next = if take_right {
                    right.next()
                } else {
                    left.next()
                };
                out.extend(next);
            }
            merged.push(out);
        }
        runs = merged;
    }
    runs.into_iter().next().unwrap_or_default()
}

pub fn entity_response(
    ctx: &Ctx,
    status: StatusCode,
    base: &str,
    event: &AuditEvent,
    select: Option<&[String]>,
) -> Result<Response, Response> {
    let mut value = to_value(ctx, event, select)?;
    if let Value::Object(map) = &mut value {
        let context = match select {
            Some(fields) => format!(
                "{base}/$metadata#deviceManagement/auditEvents({})/$entity",
                fields.join(",")
            ),
            None => format!("{base}/$metadata#deviceManagement/auditEvents/$entity"),
        };
        map.insert("@odata.context".to_owned(), Value::String(context));
    }
    Ok((status, axum::Json(value)).into_response())
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
