//! Adobe Audit Service: `POST /audits`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::answer::{adobe_error_response, adobe_string_error};
use crate::faults::Api;
use crate::request::{BodyError, Ctx, read_api_body};
use crate::state::Shared;
use crate::store::{AdobeRecord, WriteError};
use crate::tokens::{Audience, TokenProblem};

/// Any method but `POST` on `/audits`.
pub async fn not_allowed(method: Method) -> Response {
    let mut response = adobe_string_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Request method '{method}' not supported"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    response
}

/// `POST /audits`: token, then API key, then faults, then the body.
pub async fn create(
    State(shared): State<Arc<Shared>>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let credentials = &shared.config.credentials;
    match shared.tokens.check(&headers, Audience::Adobe) {
        Ok(_) => {}
        Err(TokenProblem::Missing) => {
            return adobe_string_error(StatusCode::UNAUTHORIZED, "Oauth token is missing");
        }
        Err(TokenProblem::Unknown) => {
            return adobe_string_error(StatusCode::UNAUTHORIZED, "Oauth token is not valid");
        }
        Err(TokenProblem::Expired) => {
            return adobe_string_error(StatusCode::UNAUTHORIZED, "Oauth token is expired");
        }
    }
    let api_key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    if api_key != Some(credentials.adobe_client_id.as_str()) {
        return adobe_string_error(
            StatusCode::UNAUTHORIZED,
            "Api Key is invalid: x-api-key must be the client id of the project",
        );
    }
    // Only an authenticated request (token and API key) reaches fault injection: a client
    // with bad credentials must learn it at once, not after an injected hang or delay.
    if let Some(response) = shared.faults.inject(&ctx, Api::Adobe).await {
        return response;
    }
    let text = match read_api_body(body).await {
        Ok(text) => text,
        Err(BodyError::TooLarge(message)) => {
            return adobe_string_error(StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        Err(BodyError::Bad(message)) => {
            return adobe_string_error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let event = match validate(&text) {
        Ok(event) => event,
        Err(message) => return adobe_string_error(StatusCode::BAD_REQUEST, &message),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let record = AdobeRecord {
        id: id.clone(),
        event,
    };
    match shared.store.insert_adobe(record).await {
        Ok(()) => (StatusCode::CREATED, axum::Json(Value::String(id))).into_response(),
        Err(err) => {
            if let WriteError::Store(err) = &err {
                tracing::error!(error = %err, "the store failed");
            }
            adobe_error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "the event could not be stored",
            )
        }
    }
}

/// Checks the body field by field (for clear messages), then decodes it with the model.
pub fn validate(text: &str) -> Result<auditkit_adobe::types::AuditEvent, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| format!("the body is not valid JSON: {err}"))?;
    let Value::Object(object) = &value else {
        return Err("the body must be a JSON object (an audit event)".to_owned());
    };
    for field in [
        "action",
        "imsOrgId",
        "source",
        "userIdentifier",
        "timestamp",
    ] {
        match object.get(field) {
            None | Some(Value::Null) => return Err(format!("{field} is required")),
            Some(Value::String(text)) if text.trim().is_empty() => {
                return Err(format!("{field} must not be empty"));
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(format!("{field} must be a string")),
        }
    }
    for (field, inner) in [("resource", "resourceId"), ("service", "serviceId")] {
        match object.get(field) {
            None | Some(Value::Null) => return Err(format!("{field} is required")),
            Some(Value::Object(nested)) => match nested.get(inner) {
                Some(Value::String(text)) if !text.trim().is_empty() => {}
                Some(Value::String(_)) => {
                    return Err(format!("{field}.{inner} must not be empty"));
                }
                None | Some(Value::Null) => return Err(format!("{field}.{inner} is required")),
                Some(_) => return Err(format!("{field}.{inner} must be a string")),
            },
            Some(_) => return Err(format!("{field} must be an object with {inner}")),
        }
    }
    if let Some(tags) = object.get("tags") {
        match tags {
            Value::Null => {}
            Value::Object(tags) if tags.values().all(Value::is_string) => {}
            _ => return Err("tags must be an object of string values".to_owned()),
        }
    }
    let timestamp = object
        .get("timestamp")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !is_adobe_timestamp(timestamp) {
        return Err(format!(
            "timestamp {timestamp:?} must be UTC with milliseconds, exactly YYYY-MM-DDTHH:MM:SS.mmmZ (e.g. 2017-10-31T00:02:04.232Z)"
        ));
    }
    serde_json::from_value(value)
        .map_err(|err| format!("the body is not a valid audit event: {err}"))
}

/// Exactly `YYYY-MM-DDTHH:MM:SS.mmmZ`, and a real time.
fn is_adobe_timestamp(text: &str) -> bool {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    let bytes = text.as_bytes();
    bytes.len() == SHAPE.len()
        && bytes.iter().zip(SHAPE).all(|(&byte, &shape)| match shape {
            b'd' => byte.is_ascii_digit(),
            other => byte == other,
        })
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_need_milliseconds_and_z() {
        assert!(is_adobe_timestamp("2017-10-31T00:02:04.232Z"));
        for bad in [
            "2017-10-31T00:02:04Z",
            "2017-10-31T00:02:04.23Z",
            "2017-10-31T00:02:04.2320Z",
            "2017-10-31T00:02:04.232+00:00",
            "2017-13-31T00:02:04.232Z",
            "2017-10-31 00:02:04.232Z",
            "",
        ] {
            assert!(!is_adobe_timestamp(bad), "{bad}");
        }
    }
}
