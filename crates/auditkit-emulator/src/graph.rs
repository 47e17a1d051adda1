//! Microsoft Graph `/deviceManagement/auditEvents`, under `/v1.0` and `/beta`.
//!
//! Helpers return `Result<_, Response>`: the error is the finished answer, built once per
//! request on its way out, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;

use auditkit_graph::types::AuditEvent;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::auth::{Audience, TokenProblem};
use crate::config::MAX_PAGE_SIZE;
use crate::odata;
use crate::server::{
    Api, BodyError, Ctx, Shared, encode_query_value, graph_error, inject_fault, parse_pairs,
    percent_decode, read_api_body, throttled,
};
use crate::store::WriteError;

type Answer = Result<Response, Response>;

/// The longest id a create accepts; Intune's own ids are 36-character GUIDs.
const MAX_ID_LENGTH: usize = 256;

/// What a Graph path names.
#[derive(Debug)]
enum Target {
    Collection,
    Item(String),
    Count,
    Categories,
    ActivityTypes(String),
}

const COLLECTION: [&str; 2] = ["deviceManagement", "auditEvents"];

fn parse_target(ctx: &Ctx, rest: &str) -> Result<Target, Response> {
    let not_found = |segment: &str| {
        graph_error(
            ctx,
            StatusCode::NOT_FOUND,
            "itemNotFound",
            &format!("Resource not found for the segment '{segment}'."),
        )
    };
    let bad =
        |message: String| graph_error(ctx, StatusCode::BAD_REQUEST, "invalidRequest", &message);
    let mut segments = Vec::new();
    for raw in rest.trim_start_matches('/').split('/') {
        segments.push(percent_decode(raw).map_err(bad)?);
    }
    if segments.last().is_some_and(String::is_empty) && segments.len() > 1 {
        segments.pop();
    }
    for (at, expected) in COLLECTION.iter().enumerate() {
        match segments.get(at) {
            Some(segment) if segment.eq_ignore_ascii_case(expected) => {}
            Some(segment) => return Err(not_found(segment)),
            None => return Err(not_found(rest.trim_start_matches('/'))),
        }
    }
    match &segments[COLLECTION.len()..] {
        [] => Ok(Target::Collection),
        [one] => Ok(parse_item(one).map_err(bad)?),
        [_, extra, ..] => Err(not_found(extra)),
    }
}

fn parse_item(segment: &str) -> Result<Target, String> {
    if segment == "$count" {
        return Ok(Target::Count);
    }
    let function = segment.strip_prefix("microsoft.graph.").unwrap_or(segment);
    if function == "getAuditCategories" || function == "getAuditCategories()" {
        return Ok(Target::Categories);
    }
    if let Some(args) = function.strip_prefix("getAuditActivityTypes") {
        return parse_category(args).map(Target::ActivityTypes);
    }
    if segment.is_empty() {
        return Err("an audit event id must not be empty".to_owned());
    }
    Ok(Target::Item(segment.to_owned()))
}

/// `(category='Device ''X''')` → `Device 'X'`.
fn parse_category(args: &str) -> Result<String, String> {
    let usage = || {
        "getAuditActivityTypes takes one parameter: getAuditActivityTypes(category='{category}')"
            .to_owned()
    };
    let inner = args
        .strip_prefix('(')
        .and_then(|args| args.strip_suffix(')'))
        .ok_or_else(usage)?;
    let value = inner.trim();
    let value = value
        .strip_prefix("category")
        .map(|rest| rest.trim_start())
        .and_then(|rest| rest.strip_prefix('='))
        .map(str::trim)
        .unwrap_or(value);
    let literal = value
        .strip_prefix('\'')
        .and_then(|value| value.strip_suffix('\''))
        .ok_or_else(usage)?;
    let mut out = String::with_capacity(literal.len());
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return Err("a ' inside the category must be doubled ('')".to_owned());
        }
        out.push(c);
    }
    Ok(out)
}

/// Entry point for everything under `/v1.0` and `/beta`.
pub async fn handle(shared: &Shared, ctx: &Ctx, rest: &str, request: Request) -> Response {
    let target = match parse_target(ctx, rest) {
        Ok(target) => target,
        Err(response) => return response,
    };
    let method = request.method().clone();
    let allowed: &[Method] = match target {
        Target::Collection => &[Method::GET, Method::POST],
        Target::Item(_) => &[Method::GET, Method::PATCH, Method::DELETE],
        Target::Count | Target::Categories | Target::ActivityTypes(_) => &[Method::GET],
    };
    if !allowed.contains(&method) {
        let mut response = graph_error(
            ctx,
            StatusCode::METHOD_NOT_ALLOWED,
            "notAllowed",
            &format!("The HTTP method '{method}' is not allowed on this resource."),
        );
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    }
    // Authentication first, as Graph's front door does: an unauthenticated request gets its
    // 401 at once, never a fault or a throttle, and consumes no fault draw. Intune's limits
    // come next because they are counted per app, which only a valid token names. Injected
    // faults come last: they stand for the service failing a request it has admitted, so a
    // faulted request has used its share of the app's limits, as a real failure would.
    let app = match shared.tokens.check(request.headers(), Audience::Graph) {
        Ok(app) => app,
        Err(problem) => return unauthenticated(ctx, problem),
    };
    if let Some(limits) = &shared.limits {
        let write = method != Method::GET;
        if let Err(wait) = limits.admit(&app, write) {
            shared.stats.fault();
            return throttled(ctx, Api::Graph, Some(wait));
        }
    }
    if let Some(response) = inject_fault(shared, ctx, Api::Graph).await {
        return response;
    }
    let query = match Query::parse(request.uri().query()) {
        Ok(query) => query,
        Err(message) => {
            return graph_error(ctx, StatusCode::BAD_REQUEST, "invalidRequest", &message);
        }
    };
    let path = request.uri().path().to_owned();
    // Absolute links start at the emulator's own origin, never at the request's Host.
    let base = format!("{}{}", shared.origin, version_prefix(&path));
    let link = format!("{}{path}", shared.origin);
    let answer = match (target, method) {
        (Target::Collection, Method::GET) => list(shared, ctx, &query, &link, &base),
        (Target::Collection, _) => create(shared, ctx, &query, &base, request).await,
        (Target::Item(id), Method::GET) => get(shared, ctx, &query, &base, &id),
        (Target::Item(id), Method::PATCH) => update(shared, ctx, &query, &base, &id, request).await,
        (Target::Item(id), _) => delete(shared, ctx, &query, &id).await,
        (Target::Count, _) => count(shared, ctx, &query),
        (Target::Categories, _) => categories(shared, ctx, &query, &link, &base),
        (Target::ActivityTypes(category), _) => {
            activity_types(shared, ctx, &query, &link, &base, &category)
        }
    };
    answer.unwrap_or_else(|response| response)
}

fn version_prefix(path: &str) -> &'static str {
    if path.starts_with("/beta") {
        "/beta"
    } else {
        "/v1.0"
    }
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

// ---------------------------------------------------------------------------------------
// Query options
// ---------------------------------------------------------------------------------------

/// The OData system query options of one request (each at most once); other parameters are
/// kept so a `nextLink` carries them.
#[derive(Debug, Default)]
struct Query {
    filter: Option<String>,
    orderby: Option<String>,
    select: Option<String>,
    expand: Option<String>,
    search: Option<String>,
    top: Option<String>,
    skip: Option<String>,
    count: Option<String>,
    skiptoken: Option<String>,
    /// Every pair except `$skip` and `$skiptoken`, in order, for links.
    kept: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        let mut query = Query::default();
        for (name, value) in parse_pairs(raw.unwrap_or_default())? {
            let lower = name.to_ascii_lowercase();
            let slot = match lower.as_str() {
                "$filter" => &mut query.filter,
                "$orderby" => &mut query.orderby,
                "$select" => &mut query.select,
                "$expand" => &mut query.expand,
                "$search" => &mut query.search,
                "$top" => &mut query.top,
                "$skip" => &mut query.skip,
                "$count" => &mut query.count,
                "$skiptoken" => &mut query.skiptoken,
                other if other.starts_with('$') => {
                    return Err(format!("The query parameter '{name}' is not supported."));
                }
                _ => {
                    query.kept.push((name, value));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                ));
            }
            *slot = Some(value.clone());
            if lower != "$skip" && lower != "$skiptoken" {
                query.kept.push((name, value));
            }
        }
        Ok(query)
    }

    /// Refuses options the operation does not take.
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        let given = [
            ("$filter", &self.filter),
            ("$orderby", &self.orderby),
            ("$select", &self.select),
            ("$expand", &self.expand),
            ("$search", &self.search),
            ("$top", &self.top),
            ("$skip", &self.skip),
            ("$count", &self.count),
            ("$skiptoken", &self.skiptoken),
        ];
        for (name, value) in given {
            if value.is_some() && !allowed.contains(&name) {
                return Err(format!(
                    "The query option '{name}' is not allowed on this request."
                ));
            }
        }
        Ok(())
    }

    /// A hash of what decides the result list, so a skiptoken only fits its own query.
    fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            &self.filter,
            &self.orderby,
            &self.select,
            &self.search,
            &self.top,
            &self.count,
        ] {
            let text = part.as_deref().unwrap_or("\u{0}");
            for byte in text.bytes().chain([0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }
}

fn bad_request(ctx: &Ctx, message: &str) -> Response {
    graph_error(ctx, StatusCode::BAD_REQUEST, "invalidRequest", message)
}

fn reject_search(ctx: &Ctx, query: &Query) -> Result<(), Response> {
    if query.search.is_some() {
        return Err(graph_error(
            ctx,
            StatusCode::BAD_REQUEST,
            "notSupported",
            "$search is not supported on deviceManagement/auditEvents; use $filter instead.",
        ));
    }
    if query.expand.is_some() {
        return Err(bad_request(
            ctx,
            "$expand is not supported: auditEvent has no navigation properties.",
        ));
    }
    Ok(())
}

fn parse_count(ctx: &Ctx, query: &Query) -> Result<bool, Response> {
    match query
        .count
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(bad_request(
            ctx,
            &format!("The value '{other}' of $count is not valid: use true or false."),
        )),
    }
}

fn parse_filter(ctx: &Ctx, query: &Query) -> Result<Option<odata::Filter>, Response> {
    query
        .filter
        .as_deref()
        .map(|text| {
            odata::parse_filter(text)
                .map_err(|err| bad_request(ctx, &format!("Invalid $filter: {err}")))
        })
        .transpose()
}

fn parse_select(ctx: &Ctx, query: &Query) -> Result<Option<Vec<String>>, Response> {
    query
        .select
        .as_deref()
        .map(|text| {
            odata::parse_select(text)
                .map_err(|err| bad_request(ctx, &format!("Invalid $select: {err}")))
        })
        .transpose()
}

/// Where the page starts and how long it is.
fn page_window(shared: &Shared, ctx: &Ctx, query: &Query) -> Result<(usize, usize), Response> {
    let size = match query.top.as_deref() {
        None => shared.config.page_size.clamp(1, MAX_PAGE_SIZE),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(top) if (1..=MAX_PAGE_SIZE).contains(&top) => top,
            _ => {
                return Err(bad_request(
                    ctx,
                    &format!(
                        "Invalid $top value '{text}': it must be an integer from 1 to {MAX_PAGE_SIZE}."
                    ),
                ));
            }
        },
    };
    let offset = match (&query.skiptoken, &query.skip) {
        (Some(token), _) => decode_skiptoken(token, query.fingerprint()).ok_or_else(|| {
            bad_request(
                ctx,
                "The $skiptoken is not valid for this query. Follow @odata.nextLink exactly as returned.",
            )
        })?,
        (None, Some(text)) => text.trim().parse::<usize>().map_err(|_| {
            bad_request(
                ctx,
                &format!("Invalid $skip value '{text}': it must be a non-negative integer."),
            )
        })?,
        (None, None) => 0,
    };
    Ok((offset, size))
}

fn encode_skiptoken(offset: usize, fingerprint: u64) -> String {
    let text = json!({ "v": 1, "o": offset, "h": format!("{fingerprint:016x}") }).to_string();
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_skiptoken(token: &str, fingerprint: u64) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    if value.get("h")?.as_str()? != format!("{fingerprint:016x}") {
        return None;
    }
    usize::try_from(value.get("o")?.as_u64()?).ok()
}

/// Builds a collection answer from the full (filtered, sorted) list of values.
fn collection_page(
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

fn to_value(ctx: &Ctx, event: &AuditEvent, select: Option<&[String]>) -> Result<Value, Response> {
    match select {
        Some(fields) => Ok(odata::select(event, fields)),
        None => serde_json::to_value(event).map_err(|_| internal(ctx)),
    }
}

fn internal(ctx: &Ctx) -> Response {
    graph_error(
        ctx,
        StatusCode::INTERNAL_SERVER_ERROR,
        "generalException",
        "The emulator could not complete the request.",
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

fn list(shared: &Shared, ctx: &Ctx, query: &Query, link: &str, base: &str) -> Answer {
    query
        .only(&[
            "$filter",
            "$orderby",
            "$select",
            "$expand",
            "$search",
            "$top",
            "$skip",
            "$count",
            "$skiptoken",
        ])
        .map_err(|message| bad_request(ctx, &message))?;
    reject_search(ctx, query)?;
    let with_count = parse_count(ctx, query)?;
    let filter = parse_filter(ctx, query)?;
    let orderby = query
        .orderby
        .as_deref()
        .map(|text| {
            odata::parse_orderby(text)
                .map_err(|err| bad_request(ctx, &format!("Invalid $orderby: {err}")))
        })
        .transpose()?;
    let select = parse_select(ctx, query)?;
    let (offset, size) = page_window(shared, ctx, query)?;
    let values = shared.store.with_graph(|all| {
        let mut events: Vec<&AuditEvent> = all
            .iter()
            .filter(|event| filter.as_ref().is_none_or(|filter| filter.matches(event)))
            .collect();
        if let Some(orderby) = &orderby {
            events = stable_sort(events, |a, b| orderby.compare(a, b));
        }
        let total = events.len();
        // Only the page is turned into JSON; the rest only counts.
        let end = offset.saturating_add(size).min(total);
        let mut values = Vec::with_capacity(total);
        for (at, event) in events.into_iter().enumerate() {
            if (offset..end).contains(&at) {
                values.push(to_value(ctx, event, select.as_deref())?);
            } else {
                values.push(Value::Null);
            }
        }
        Ok(values)
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
        (offset, size),
        with_count,
    ))
}

/// A stable merge sort that, unlike `slice::sort_by`, cannot panic whatever the comparator
/// answers (an inconsistent order only gives an odd order).
fn stable_sort<T>(items: Vec<T>, compare: impl Fn(&T, &T) -> std::cmp::Ordering) -> Vec<T> {
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

fn entity_response(
    ctx: &Ctx,
    status: StatusCode,
    base: &str,
    event: &AuditEvent,
    select: Option<&[String]>,
) -> Answer {
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

fn get(shared: &Shared, ctx: &Ctx, query: &Query, base: &str, id: &str) -> Answer {
    query
        .only(&["$select", "$expand"])
        .map_err(|message| bad_request(ctx, &message))?;
    reject_search(ctx, query)?;
    let select = parse_select(ctx, query)?;
    let event = shared
        .store
        .get_graph(id)
        .ok_or_else(|| not_found_item(ctx))?;
    entity_response(ctx, StatusCode::OK, base, &event, select.as_deref())
}

/// Reads a JSON object body: 413 past 1 MiB, 415 for another content type, 400 otherwise.
async fn json_object(ctx: &Ctx, request: Request) -> Result<String, Response> {
    let content_type = request
        .headers()
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
    let text = match read_api_body(request.into_body()).await {
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

fn invalid_body(ctx: &Ctx, err: &serde_json::Error) -> Response {
    bad_request(
        ctx,
        &format!("The request body is not a valid auditEvent: {err}"),
    )
}

async fn create(shared: &Shared, ctx: &Ctx, query: &Query, base: &str, request: Request) -> Answer {
    query
        .only(&[])
        .map_err(|message| bad_request(ctx, &message))?;
    let text = json_object(ctx, request).await?;
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

async fn update(
    shared: &Shared,
    ctx: &Ctx,
    query: &Query,
    base: &str,
    id: &str,
    request: Request,
) -> Answer {
    query
        .only(&[])
        .map_err(|message| bad_request(ctx, &message))?;
    let minimal = request
        .headers()
        .get("prefer")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|prefer| prefer.to_ascii_lowercase().contains("return=minimal"));
    let text = json_object(ctx, request).await?;
    let patch: Map<String, Value> =
        serde_json::from_str(&text).map_err(|err| invalid_body(ctx, &err))?;
    // The patch must itself be a valid (partial) auditEvent.
    serde_json::from_str::<AuditEvent>(&text).map_err(|err| invalid_body(ctx, &err))?;
    for key in ["id", "activityDateTime", "correlationId"] {
        if patch.get(key).is_some_and(Value::is_null) {
            return Err(bad_request(
                ctx,
                &format!("The property '{key}' of an auditEvent cannot be null."),
            ));
        }
    }
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

async fn delete(shared: &Shared, ctx: &Ctx, query: &Query, id: &str) -> Answer {
    query
        .only(&[])
        .map_err(|message| bad_request(ctx, &message))?;
    shared
        .store
        .delete_graph(id)
        .await
        .map_err(|err| store_failed(ctx, err))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn count(shared: &Shared, ctx: &Ctx, query: &Query) -> Answer {
    query
        .only(&["$filter", "$search"])
        .map_err(|message| bad_request(ctx, &message))?;
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
    query
        .only(&["$top", "$skip", "$count", "$skiptoken"])
        .map_err(|message| bad_request(ctx, &message))?;
    let with_count = parse_count(ctx, query)?;
    let (offset, size) = page_window(shared, ctx, query)?;
    let values: Vec<Value> = values.into_iter().map(Value::String).collect();
    Ok(collection_page(
        query,
        link,
        format!("{base}/$metadata#Collection(Edm.String)"),
        values,
        (offset, size),
        with_count,
    ))
}

fn categories(shared: &Shared, ctx: &Ctx, query: &Query, link: &str, base: &str) -> Answer {
    let values = shared.store.with_graph(|events| {
        events
            .iter()
            .filter_map(|event| event.category.clone())
            .collect()
    });
    string_collection(shared, ctx, query, link, base, values)
}

fn activity_types(
    shared: &Shared,
    ctx: &Ctx,
    query: &Query,
    link: &str,
    base: &str,
    category: &str,
) -> Answer {
    let values = shared.store.with_graph(|events| {
        events
            .iter()
            .filter(|event| event.category.as_deref() == Some(category))
            .filter_map(|event| event.activity_type.clone())
            .collect()
    });
    string_collection(shared, ctx, query, link, base, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_function_segments() {
        assert!(matches!(parse_item("$count"), Ok(Target::Count)));
        assert!(matches!(
            parse_item("microsoft.graph.getAuditCategories()"),
            Ok(Target::Categories)
        ));
        assert!(matches!(
            parse_item("getAuditCategories"),
            Ok(Target::Categories)
        ));
        match parse_item("microsoft.graph.getAuditActivityTypes(category='It''s')") {
            Ok(Target::ActivityTypes(category)) => assert_eq!(category, "It's"),
            other => panic!("{other:?}"),
        }
        assert!(parse_item("microsoft.graph.getAuditActivityTypes(category='a'b')").is_err());
        assert!(parse_item("microsoft.graph.getAuditActivityTypes(category=x)").is_err());
        assert!(matches!(parse_item("abc"), Ok(Target::Item(id)) if id == "abc"));
    }

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

    #[test]
    fn skiptokens_fit_only_their_query() {
        let token = encode_skiptoken(300, 7);
        assert_eq!(decode_skiptoken(&token, 7), Some(300));
        assert_eq!(decode_skiptoken(&token, 8), None);
        assert_eq!(decode_skiptoken("garbage!", 7), None);
    }
}
