//! Turns what a generated client returned, plus the pipeline's record of the call, into the
//! facade's typed [`Error`].

use std::time::SystemTime;

use auditkit_runtime::{CallRecord, Error, ServiceError, retry_after};
use bytes::Bytes;
use progenitor_client::{Error as GeneratedError, ResponseValue};
use reqwest::header::HeaderMap;

/// How an API names the code and message inside its typed error body.
pub(crate) trait ErrorBody: serde::Serialize + std::fmt::Debug {
    fn code_and_message(&self) -> (Option<String>, Option<String>);
}

impl ErrorBody for auditkit_graph::types::ODataError {
    fn code_and_message(&self) -> (Option<String>, Option<String>) {
        (
            Some(self.error.code.clone()),
            Some(self.error.message.clone()),
        )
    }
}

impl ErrorBody for auditkit_adobe::types::ErrorBody {
    fn code_and_message(&self) -> (Option<String>, Option<String>) {
        match self {
            auditkit_adobe::types::ErrorBody::ErrorResponse(body) => {
                (body.reason.clone(), body.message.clone())
            }
            auditkit_adobe::types::ErrorBody::String(text) => (None, Some(text.clone())),
        }
    }
}

pub(crate) async fn finish<T, E: ErrorBody>(
    result: Result<ResponseValue<T>, GeneratedError<E>>,
    record: &CallRecord,
) -> Result<ResponseValue<T>, Error> {
    match result {
        Ok(value) => Ok(value),
        Err(error) => Err(convert(error, record).await),
    }
}

pub(crate) async fn convert<E: ErrorBody>(error: GeneratedError<E>, record: &CallRecord) -> Error {
    if let Some(refusal) = record.take_refusal() {
        return refusal;
    }
    let details = record.details();
    let report = record.report();
    match error {
        GeneratedError::InvalidRequest(message) => Error::InvalidRequest(message),
        GeneratedError::CommunicationError(source) | GeneratedError::ResponseBodyError(source) => {
            record.transport_error(source)
        }
        GeneratedError::ErrorResponse(answer) => {
            let status = answer.status().as_u16();
            let wait = retry_after(answer.headers(), SystemTime::now());
            let body = answer.into_inner();
            let (code, message) = body.code_and_message();
            let raw = serde_json::to_vec(&body)
                .map(Bytes::from)
                .unwrap_or_default();
            service_error(status, raw, code, message, wait, details)
        }
        GeneratedError::InvalidResponsePayload(raw, source) => {
            let status = report.status.map(|s| s.as_u16()).unwrap_or_default();
            decode_failure(status, &report.headers, raw, Box::new(source), details)
        }
        GeneratedError::UnexpectedResponse(response) => {
            let status = response.status().as_u16();
            let wait = retry_after(response.headers(), SystemTime::now());
            match response.bytes().await {
                Ok(body) => {
                    let message =
                        (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
                    service_error(status, body, None, message, wait, details)
                }
                Err(source) => record.transport_error(source),
            }
        }
        other => Error::InvalidRequest(format!("unexpected client failure: {other}")),
    }
}

/// An answer whose body is not what the spec says: an error status keeps the raw text as the
/// message (a gateway's HTML page), a success status is a decode failure.
pub(crate) fn decode_failure(
    status: u16,
    headers: &HeaderMap,
    raw: Bytes,
    source: Box<dyn std::error::Error + Send + Sync>,
    details: auditkit_runtime::CallDetails,
) -> Error {
    if status >= 400 {
        let message = (!raw.is_empty()).then(|| String::from_utf8_lossy(&raw).into_owned());
        let wait = retry_after(headers, SystemTime::now());
        return service_error(status, raw, None, message, wait, details);
    }
    Error::Decode {
        status,
        body: raw,
        source,
        details: Box::new(details),
    }
}

fn service_error(
    status: u16,
    body: Bytes,
    code: Option<String>,
    message: Option<String>,
    wait: Option<std::time::Duration>,
    details: auditkit_runtime::CallDetails,
) -> Error {
    Error::Service(Box::new(
        ServiceError::new(status, body, details)
            .with_code_and_message(code, message)
            .with_retry_after(wait),
    ))
}
