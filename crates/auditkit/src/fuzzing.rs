//! Entry points for the fuzz target and property tests, not API.
//!
//! Hidden from the documentation and exempt from semver: these functions exist so that
//! `fuzz/fuzz_targets/decode.rs` and `tests/decode_props.rs` can push arbitrary bytes through
//! the same decoding the clients do, without a network. Everything here must return (never
//! panic) whatever the input.

use std::fmt::Write as _;
use std::time::Duration;

use auditkit_identity::fuzzing::{ExpiresIn, entra_answer, ims_answer};
use auditkit_runtime::{CallDetails, CallRecord, Error};
use bytes::Bytes;
use progenitor_client::{Error as GeneratedError, ResponseValue};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::call::{self, ErrorBody};

/// Feeds `body`, answered with `status`, to every response decoder of both APIs and to both
/// token parsers (Entra; IMS in seconds and in milliseconds), and renders every error that
/// comes out. Results are ignored: the only contract is that this returns.
///
/// `status` is clamped to 100..=599, the range `reqwest::StatusCode` accepts.
pub fn decode_everything(status: u16, body: &[u8]) {
    let status = status_code(status);
    let body = Bytes::copy_from_slice(body);

    // Token endpoints, without headers and with the body as `Retry-After` / `x-debug-id` when
    // it is a valid header value (exercises those parsers with the same bytes).
    for headers in [HeaderMap::new(), headers_from(&body)] {
        let _ = entra_lifetime(status, &body, headers.clone());
        let _ = ims_lifetime(status, &body, headers.clone(), ExpiresIn::Seconds);
        let _ = ims_lifetime(status, &body, headers, ExpiresIn::Milliseconds);
    }

    graph(status, &body);
    adobe(status, &body);

    // The models on their own, whatever the status.
    use auditkit_adobe::types as adobe_types;
    use auditkit_graph::types as graph_types;
    decode_only::<graph_types::AuditEvent>(&body);
    decode_only::<graph_types::AuditEventCollectionResponse>(&body);
    decode_only::<graph_types::StringCollectionResponse>(&body);
    decode_only::<graph_types::ODataError>(&body);
    decode_only::<adobe_types::ErrorBody>(&body);
    decode_only::<adobe_types::AuditEvent>(&body);
    decode_only::<auditkit_adobe::Timestamp>(&body);
    decode_only::<String>(&body);
    if let Ok(text) = std::str::from_utf8(&body) {
        let _ = text.trim().parse::<u64>();
        let _ = text.parse::<auditkit_adobe::Timestamp>();
    }
}

/// The lifetime of the token Entra ID's parser accepts from this answer, `None` when it
/// refuses it.
pub fn entra_token_lifetime(status: u16, body: &[u8]) -> Option<Duration> {
    entra_lifetime(
        status_code(status),
        &Bytes::copy_from_slice(body),
        HeaderMap::new(),
    )
}

/// The lifetime of the token Adobe IMS's parser accepts from this answer (`expires_in` in
/// milliseconds when `milliseconds`, the JWT exchange; in seconds otherwise), `None` when it
/// refuses it.
pub fn ims_token_lifetime(status: u16, body: &[u8], milliseconds: bool) -> Option<Duration> {
    let unit = if milliseconds {
        ExpiresIn::Milliseconds
    } else {
        ExpiresIn::Seconds
    };
    ims_lifetime(
        status_code(status),
        &Bytes::copy_from_slice(body),
        HeaderMap::new(),
        unit,
    )
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status.clamp(100, 599)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn headers_from(body: &Bytes) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(body) {
        headers.insert(RETRY_AFTER, value.clone());
        headers.insert("x-debug-id", value);
    }
    headers
}

fn entra_lifetime(status: StatusCode, body: &Bytes, headers: HeaderMap) -> Option<Duration> {
    match entra_answer(status, headers, body.clone()) {
        Ok(lifetime) => Some(lifetime),
        Err(error) => {
            render(&error);
            None
        }
    }
}

fn ims_lifetime(
    status: StatusCode,
    body: &Bytes,
    headers: HeaderMap,
    unit: ExpiresIn,
) -> Option<Duration> {
    match ims_answer(status, headers, body.clone(), unit) {
        Ok(lifetime) => Some(lifetime),
        Err(error) => {
            render(&error);
            None
        }
    }
}

/// Every Graph operation's decoding of this answer, as the generated client and the facade
/// do it.
fn graph(status: StatusCode, body: &Bytes) {
    use auditkit_graph::types::{
        AuditEvent, AuditEventCollectionResponse, ODataError, StringCollectionResponse,
    };
    let documented_error = |code: u16| (400..=599).contains(&code);

    // list_page: 200 → a page of events.
    let list = generated::<AuditEventCollectionResponse, ODataError>;
    if let Some(page) = list(status, Success::Json(200), documented_error, body) {
        let page = crate::graph::Page {
            items: page.value,
            next_link: page.odata_next_link,
            count: page.odata_count,
        };
        let _ = format!("{page:?}");
    }
    // get, update: 200 → an event; create: 201 → an event.
    let event = generated::<AuditEvent, ODataError>;
    let _ = event(status, Success::Json(200), documented_error, body);
    let _ = event(status, Success::Json(201), documented_error, body);
    // update may answer 204, delete does: no body is read then.
    let _ = generated::<(), ODataError>(status, Success::Unread(204), documented_error, body);
    // categories, activity_types: 200 → a page of strings.
    let strings = generated::<StringCollectionResponse, ODataError>;
    let _ = strings(status, Success::Json(200), documented_error, body);
    // count: 200 → a stream the facade reads as text holding a number.
    let _ = generated::<(), ODataError>(status, Success::Unread(200), documented_error, body);
    if status == StatusCode::OK {
        let _ = String::from_utf8_lossy(body).trim().parse::<u64>();
    }
    // next_page and the string pages after the first: the facade's own decoding of a link.
    let _ = follow::<AuditEventCollectionResponse, ODataError>(status, body);
    let _ = follow::<StringCollectionResponse, ODataError>(status, body);
}

/// `POST /audits`: 201 with a JSON string (or bare text from some gateways); 400, 401, 500
/// and 503 with an `ErrorBody`.
fn adobe(status: StatusCode, body: &Bytes) {
    use auditkit_adobe::types::ErrorBody as AdobeError;
    let documented_error = |code: u16| matches!(code, 400 | 401 | 500 | 503);
    if status.as_u16() == 201 {
        // `post_audit` takes the bare text when the body is not a JSON string.
        if serde_json::from_slice::<String>(body).is_err() {
            let _ = String::from_utf8_lossy(body).trim().to_owned();
        }
    } else {
        let _ = generated::<String, AdobeError>(status, Success::Json(201), documented_error, body);
    }
}

/// How a generated `send()` reads the body of its success status.
#[derive(Clone, Copy)]
enum Success {
    /// `ResponseValue::from_response`: JSON into the success type.
    Json(u16),
    /// `ResponseValue::empty` (204) or `ResponseValue::stream` ($count): not decoded here.
    Unread(u16),
}

/// What a generated `send()` followed by `call::finish` makes of an answer: the success
/// status decodes into `T`, documented error statuses into `E`, anything else is unexpected.
fn generated<T: DeserializeOwned, E: ErrorBody + DeserializeOwned>(
    status: StatusCode,
    success: Success,
    documented_error: impl Fn(u16) -> bool,
    body: &Bytes,
) -> Option<T> {
    let code = status.as_u16();
    let result: Result<ResponseValue<T>, GeneratedError<E>> = match success {
        Success::Json(expected) if code == expected => match serde_json::from_slice::<T>(body) {
            Ok(inner) => Ok(ResponseValue::new(inner, status, HeaderMap::new())),
            Err(err) => return rendered(payload(status, body, err)),
        },
        Success::Unread(expected) if code == expected => return None,
        _ if documented_error(code) => match serde_json::from_slice::<E>(body) {
            Ok(inner) => Err(GeneratedError::ErrorResponse(ResponseValue::new(
                inner,
                status,
                HeaderMap::new(),
            ))),
            Err(err) => return rendered(payload(status, body, err)),
        },
        _ => return rendered(unexpected(status, body)),
    };
    let record = CallRecord::default();
    // `finish` awaits nothing when the body was read already, so it completes on first poll;
    // no executor needed (and none compiled into users' builds).
    match futures::FutureExt::now_or_never(call::finish(result, &record)) {
        Some(Ok(value)) => Some(value.into_inner()),
        Some(Err(error)) => rendered(error),
        None => unreachable!("call::finish awaited I/O on an already-read body"),
    }
}

/// `graph::decode_json`: any success status decodes into `T`, any other into `E`.
fn follow<T: DeserializeOwned, E: ErrorBody + DeserializeOwned>(
    status: StatusCode,
    body: &Bytes,
) -> Option<T> {
    if status.is_success() {
        return match serde_json::from_slice(body) {
            Ok(value) => Some(value),
            Err(err) => rendered(payload(status, body, err)),
        };
    }
    match serde_json::from_slice::<E>(body) {
        Ok(error_body) => {
            let (code, message) = error_body.code_and_message();
            rendered(Error::Service(Box::new(
                auditkit_runtime::ServiceError::new(
                    status.as_u16(),
                    body.clone(),
                    CallDetails::default(),
                )
                .with_code_and_message(code, message),
            )))
        }
        Err(err) => rendered(payload(status, body, err)),
    }
}

/// `GeneratedError::InvalidResponsePayload` as `call::convert` turns it into an error, with
/// the status the call record would hold.
fn payload(status: StatusCode, body: &Bytes, err: serde_json::Error) -> Error {
    call::decode_failure(
        status.as_u16(),
        &HeaderMap::new(),
        body.clone(),
        Box::new(err),
        CallDetails::default(),
    )
}

/// `GeneratedError::UnexpectedResponse` as `call::convert` turns it into an error.
fn unexpected(status: StatusCode, body: &Bytes) -> Error {
    let message = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
    Error::Service(Box::new(
        auditkit_runtime::ServiceError::new(status.as_u16(), body.clone(), CallDetails::default())
            .with_code_and_message(None, message),
    ))
}

fn decode_only<T: DeserializeOwned + serde::Serialize + std::fmt::Debug>(body: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(body) {
        let _ = format!("{value:?}");
        let _ = serde_json::to_vec(&value);
    }
}

/// Renders an error and yields no value.
fn rendered<T>(error: Error) -> Option<T> {
    render(&error);
    None
}

/// Formats an error the ways a caller would (`Display`, `Debug`, the source chain): the
/// formatting is part of what must not panic.
fn render(error: &dyn std::error::Error) {
    let mut text = String::new();
    let _ = write!(text, "{error} {error:?}");
    let mut source = error.source();
    while let Some(inner) = source {
        let _ = write!(text, " {inner}");
        source = inner.source();
    }
}
