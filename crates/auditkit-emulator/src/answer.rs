//! The error answers more than one module sends: Graph's `ODataError` and Adobe's
//! `ErrorResponse` and JSON-string bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::request::Ctx;

/// A Graph `ODataError` answer.
pub fn graph_error(ctx: &Ctx, status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": ctx.request_id,
                "client-request-id": ctx.client_request_id.clone().unwrap_or_else(|| ctx.request_id.clone()),
            }
        }
    });
    (status, axum::Json(body)).into_response()
}

/// Graph's 400 `invalidRequest`.
pub fn bad_request(ctx: &Ctx, message: &str) -> Response {
    graph_error(ctx, StatusCode::BAD_REQUEST, "invalidRequest", message)
}

/// The Adobe `ErrorResponse` shape: `{"reason", "message"}`.
pub fn adobe_error_response(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "reason": reason, "message": message })),
    )
        .into_response()
}

/// An Adobe error answer whose body is a JSON string, as the service sends for 400 and 401.
pub fn adobe_string_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(Value::String(message.to_owned()))).into_response()
}
