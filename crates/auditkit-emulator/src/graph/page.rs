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

/// Builds a collection answer from one page of values (the window at `offset`) and the
/// number of values in the whole (filtered, sorted) result.
pub fn collection_page(
    query: &Query,
    link: &str,
    context: String,
    page: Vec<Value>,
    (offset, total): (usize, usize),
    with_count: bool,
) -> Response {
    let end = offset.saturating_add(page.len()).min(total);
    let mut body = Map::new();
    body.insert("@odata.context".to_owned(), Value::String(context));
    if with_count {
        body.insert("@odata.count".to_owned(), json!(total));
    }
    // An empty page before the end was asked for (`$top=0`): a link to the same place
    // again would never end.
    if end < total && !page.is_empty() {
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
