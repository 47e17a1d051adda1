//! Microsoft Graph `/deviceManagement/auditEvents`, under `/v1.0` and `/beta`: one handler
//! per operation (the router maps paths and methods to them), and what every one of them does
//! first, [`Call`].
//!
//! Handlers return `Result<_, Response>`: the error is the finished answer, built once per
//! request on its way out, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod body;
pub mod page;
pub mod path;
pub mod query;

use std::collections::BTreeSet;
use std::sync::Arc;

use auditkit_graph::types::AuditEvent;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use self::page::{collection_page, entity_response, internal, to_value};
use self::query::{
    Query, page_window, parse_count, parse_filter, parse_orderby, parse_select, reject_search,
};
use crate::answer::{bad_request, graph_error};
use crate::faults::Api;
use crate::request::{BodyError, Ctx, encode_query_value, read_api_body};
use crate::state::Shared;
use crate::store::WriteError;
use crate::tokens::{Audience, TokenProblem};

type Answer = Result<Response, Response>;

/// The longest id a create accepts; Intune's own ids are 36-character GUIDs.
const MAX_ID_LENGTH: usize = 256;

/// What every Graph handler starts from, once the request is admitted: the shared state, the
/// request's facts and its query options.
///
/// Admission is Graph's front door, in its order. Authentication first: an unauthenticated
/// request gets its 401 at once, never a fault or a throttle, and consumes no fault draw.
/// Intune's limits come next because they are counted per app, which only a valid token
/// names. Injected faults come last: they stand for the service failing a request it has
/// admitted, so a faulted request has used its share of the app's limits, as a real failure
/// would. Only then is the query read (a 400 for a bad one).
pub struct Call {
    shared: Arc<Shared>,
    ctx: Ctx,
    query: Query,
}

impl FromRequestParts<Arc<Shared>> for Call {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        let Ok(ctx) = Ctx::from_request_parts(parts, shared).await;
        let app = shared
            .tokens
            .check(&parts.headers, Audience::Graph)
            .map_err(|problem| unauthenticated(&ctx, problem))?;
        shared
            .faults
            .admit(&ctx, &app, parts.method != Method::GET)?;
        if let Some(response) = shared.faults.inject(&ctx, Api::Graph).await {
            return Err(response);
        }
        let query = Query::from_request_parts(parts, shared).await?;
        Ok(Call {
            shared: Arc::clone(shared),
            ctx,
            query,
        })
    }
}

/// A method the resource does not take; `allow` lists those it does.
pub async fn not_allowed(ctx: Ctx, method: Method, allow: &'static str) -> Response {
    let mut response = graph_error(
        &ctx,
        StatusCode::METHOD_NOT_ALLOWED,
        "notAllowed",
        &format!("The HTTP method '{method}' is not allowed on this resource."),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn unauthenticated(ctx: &Ctx, problem: TokenProblem) -> Response {
    let message = match problem {
        TokenProblem::Missing => "Access token is empty.",
        TokenProblem::Unknown => "Invalid access token: the emulator did not issue it.",
        TokenProblem::Expired => "Lifetime validation failed, the token is expired.",
    };
    let mut response = graph_error(
        ctx,
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"\", error=\"invalid_token\""),
    );
    response
}

/// The path as sent, which a `nextLink` repeats, and the version's base for `@odata.context`
/// and `Location`; both start at the emulator's own origin, never at the request's `Host`.
fn links(shared: &Shared, ctx: &Ctx) -> (String, String) {
    let version = if ctx.path.starts_with("/beta") {
        "/beta"
    } else {
        "/v1.0"
    };
    (
        format!("{}{}", shared.origin, ctx.path),
        format!("{}{version}", shared.origin),
    )
}

fn store_failed(ctx: &Ctx, err: WriteError) -> Response {
    match err {
        WriteError::NotFound => not_found_item(ctx),
        WriteError::Exists => graph_error(
            ctx,
            StatusCode::CONFLICT,
            "conflict",
            "An auditEvent with this id already exists.",
        ),
        WriteError::Invalid(message) => bad_request(
            ctx,
            &format!("The request body is not a valid auditEvent: {message}"),
        ),
        WriteError::Store(err) => {
            tracing::error!(error = %err, "the store failed");
            internal(ctx)
        }
    }
}

fn not_found_item(ctx: &Ctx) -> Response {
    graph_error(
        ctx,
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "The requested auditEvent was not found.",
    )
}

// ---------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------

pub async fn list(call: Call) -> Answer {
    let Call { shared, ctx, query } = &call;
    let (link, base) = &links(shared, ctx);
    query.only(
        ctx,
        &[
            "$filter",
            "$orderby",
            "$select",
            "$expand",
            "$search",
            "$top",
            "$skip",
            "$count",
            "$skiptoken",
        ],
    )?;
    reject_search(ctx, query)?;
    let with_count = parse_count(ctx, query)?;
    let filter = parse_filter(ctx, query)?;
    let orderby = parse_orderby(ctx, query)?;
    let select = parse_select(ctx, query)?;
    let (offset, size) = page_window(shared, ctx, query)?;
    let (values, total) = shared.store.with_graph(|all| {
        let mut events: Vec<&AuditEvent> = all
            .iter()
            .filter(|event| filter.as_ref().is_none_or(|filter| filter.matches(event)))
            .collect();
        if let Some(orderby) = &orderby {
            events = orderby.sort(events);
        }
        // Only the page is turned into JSON; the rest only counts.
        let page = events
            .iter()
            .skip(offset)
            .take(size)
            .map(|event| to_value(ctx, event, select.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((page, events.len()))
    })?;
    let context = match &select {
        Some(fields) => format!(
            "{base}/$metadata#deviceManagement/auditEvents({})",
            fields.join(",")
        ),
        None => format!("{base}/$metadata#deviceManagement/auditEvents"),
    };
    Ok(collection_page(
        query,
        link,
        context,
        values,
        (offset, total),
        with_count,
    ))
}

pub async fn get(call: Call, Path(id): Path<String>) -> Answer {
    let (Call { shared, ctx, query }, id) = (&call, id.as_str());
    let (_, base) = &links(shared, ctx);
    query.only(ctx, &["$select", "$expand"])?;
    reject_search(ctx, query)?;
    let select = parse_select(ctx, query)?;
    let event = shared
        .store
        .get_graph(id)
        .ok_or_else(|| not_found_item(ctx))?;
    entity_response(ctx, StatusCode::OK, base, &event, select.as_deref())
}

/// Reads a JSON object body: 413 past 1 MiB, 415 for another content type, 400 otherwise.
async fn json_object(ctx: &Ctx, headers: &HeaderMap, body: Body) -> Result<String, Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or_default().to_ascii_lowercase());
    if let Some(content_type) = content_type
        && !content_type.contains("json")
    {
        return Err(graph_error(
            ctx,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "The request body must be application/json.",
        ));
    }
    let text = match read_api_body(body).await {
        Ok(text) => text,
        Err(BodyError::TooLarge(message)) => {
            return Err(graph_error(
                ctx,
                StatusCode::PAYLOAD_TOO_LARGE,
                "requestEntityTooLarge",
                &message,
            ));
        }
        Err(BodyError::Bad(message)) => return Err(bad_request(ctx, &message)),
    };
    if !text.trim_start().starts_with('{') {
        return Err(bad_request(
            ctx,
            "The request body must be a JSON object (an auditEvent).",
        ));
    }
    Ok(text)
}

/// Refuses a body with a `null` the spec does not allow, naming where.
fn refuse_disallowed_null(ctx: &Ctx, object: &Map<String, Value>) -> Result<(), Response> {
    match body::disallowed_null(&auditkit_graph::properties::AUDIT_EVENT, object) {
        Some(path) => Err(bad_request(
            ctx,
            &format!("The property '{path}' of an auditEvent cannot be null."),
        )),
        None => Ok(()),
    }
}

fn invalid_body(ctx: &Ctx, err: &serde_json::Error) -> Response {
    bad_request(
        ctx,
        &format!("The request body is not a valid auditEvent: {err}"),
    )
}

pub async fn create(call: Call, headers: HeaderMap, body: Body) -> Answer {
    let Call { shared, ctx, query } = &call;
    let (_, base) = &links(shared, ctx);
    query.only(ctx, &[])?;
    let text = json_object(ctx, &headers, body).await?;
    let object: Map<String, Value> =
        serde_json::from_str(&text).map_err(|err| invalid_body(ctx, &err))?;
    refuse_disallowed_null(ctx, &object)?;
    let mut event: AuditEvent =
        serde_json::from_str(&text).map_err(|err| invalid_body(ctx, &err))?;
    match &event.id {
        Some(id) if id.trim().is_empty() => {
            return Err(bad_request(
                ctx,
                "The id of an auditEvent must not be empty.",
            ));
        }
        // The id comes back in Location and in every link to the event: unbounded, one
        // create could make answers no client can read.
        Some(id) if id.len() > MAX_ID_LENGTH => {
            return Err(bad_request(
                ctx,
                &format!("The id of an auditEvent must be at most {MAX_ID_LENGTH} bytes long."),
            ));
        }
        // An id is the last segment of the event's URL: one that is not exactly one segment
        // could never be read back, updated or deleted.
        Some(id)
            if id == "."
                || id == ".."
                || id.contains(['/', '\\'])
                || id.chars().any(char::is_control) =>
        {
            return Err(bad_request(
                ctx,
                "The id of an auditEvent must be one URL path segment: not . or .., without / or \\ or control characters.",
            ));
        }
        Some(_) => {}
        None => event.id = Some(uuid::Uuid::new_v4().to_string()),
    }
    event
        .activity_date_time
        .get_or_insert_with(chrono::Utc::now);
    event.correlation_id.get_or_insert_with(uuid::Uuid::new_v4);
    shared
        .store
        .insert_graph(vec![event.clone()])
        .await
        .map_err(|err| store_failed(ctx, err))?;
    let mut response = entity_response(ctx, StatusCode::CREATED, base, &event, None)?;
    let id = event.id.as_deref().unwrap_or_default();
    let location = format!(
        "{base}/deviceManagement/auditEvents/{}",
        encode_query_value(id)
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

pub async fn update(call: Call, Path(id): Path<String>, headers: HeaderMap, body: Body) -> Answer {
    let (Call { shared, ctx, query }, id) = (&call, id.as_str());
    let (_, base) = &links(shared, ctx);
    query.only(ctx, &[])?;
    let minimal = headers
        .get("prefer")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|prefer| prefer.to_ascii_lowercase().contains("return=minimal"));
    let text = json_object(ctx, &headers, body).await?;
    let patch: Map<String, Value> =
        serde_json::from_str(&text).map_err(|err| invalid_body(ctx, &err))?;
    // The patch must itself be a valid (partial) auditEvent.
    serde_json::from_str::<AuditEvent>(&text).map_err(|err| invalid_body(ctx, &err))?;
    refuse_disallowed_null(ctx, &patch)?;
    if let Some(new_id) = patch.get("id")
        && new_id.as_str() != Some(id)
    {
        return Err(bad_request(
            ctx,
            "The id of an auditEvent cannot be changed.",
        ));
    }
    // The store merges under its lock, so concurrent PATCHes of one event all land.
    let event = shared
        .store
        .update_graph(id, Box::new(move |stored| merge_patch(stored, patch)))
        .await
        .map_err(|err| store_failed(ctx, err))?;
    if minimal {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    entity_response(ctx, StatusCode::OK, base, &event, None)
}

/// The stored event with the patch's properties over it.
fn merge_patch(stored: &AuditEvent, patch: Map<String, Value>) -> Result<AuditEvent, String> {
    let mut merged = match serde_json::to_value(stored) {
        Ok(Value::Object(map)) => map,
        _ => return Err("the stored auditEvent could not be read".to_owned()),
    };
    merged.extend(patch);
    serde_json::from_value(Value::Object(merged)).map_err(|err| err.to_string())
}

pub async fn delete(call: Call, Path(id): Path<String>) -> Answer {
    let (Call { shared, ctx, query }, id) = (&call, id.as_str());
    query.only(ctx, &[])?;
    shared
        .store
        .delete_graph(id)
        .await
        .map_err(|err| store_failed(ctx, err))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn count(call: Call) -> Answer {
    let Call { shared, ctx, query } = &call;
    query.only(ctx, &["$filter", "$search"])?;
    reject_search(ctx, query)?;
    let filter = parse_filter(ctx, query)?;
    let n = shared.store.with_graph(|events| match &filter {
        Some(filter) => events.iter().filter(|event| filter.matches(event)).count(),
        None => events.len(),
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        n.to_string(),
    )
        .into_response())
}

fn string_collection(
    shared: &Shared,
    ctx: &Ctx,
    query: &Query,
    link: &str,
    base: &str,
    values: BTreeSet<String>,
) -> Answer {
    query.only(ctx, &["$top", "$skip", "$count", "$skiptoken"])?;
    let with_count = parse_count(ctx, query)?;
    let (offset, size) = page_window(shared, ctx, query)?;
    let total = values.len();
    let page: Vec<Value> = values
        .into_iter()
        .skip(offset)
        .take(size)
        .map(Value::String)
        .collect();
    Ok(collection_page(
        query,
        link,
        format!("{base}/$metadata#Collection(Edm.String)"),
        page,
        (offset, total),
        with_count,
    ))
}

pub async fn categories(call: Call) -> Answer {
    let Call { shared, ctx, query } = &call;
    let (link, base) = &links(shared, ctx);
    let values = shared.store.with_graph(|events| {
        events
            .iter()
            .filter_map(|event| event.category.clone())
            .collect()
    });
    string_collection(shared, ctx, query, link, base, values)
}

pub async fn activity_types(call: Call, Path(category): Path<String>) -> Answer {
    let (Call { shared, ctx, query }, category) = (&call, path::quoted_category(&category));
    let (link, base) = &links(shared, ctx);
    let values = shared.store.with_graph(|events| {
        events
            .iter()
            .filter(|event| event.category.as_deref() == Some(category))
            .filter_map(|event| event.activity_type.clone())
            .collect()
    });
    string_collection(shared, ctx, query, link, base, values)
}
