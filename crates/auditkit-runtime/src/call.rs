//! One call of an API, and the one place its typed [`Error`] is made.
//!
//! progenitor's `ClientHooks::exec` can only return `reqwest::Result<Response>`, and the
//! generated code's error path drops the status and headers of an undecodable answer. So a
//! [`Call`] carries a record that the pipeline fills while it sends (status, headers, request
//! ids, attempts, waits, or the reason it refused to send), and the same `Call` turns what the
//! generated method returned into the result: a record is written and read here only.
//!
//! The record reaches the pipeline as a task-local value set by [`Call::run`] around the
//! generated method's future, so one generated client serves every call. When the pipeline
//! refuses to send (no credentials, out of time, a redirected answer), `exec` answers with a
//! local response of status [`REFUSED`] that no operation declares (the generated code hands
//! it back as unexpected without reading it) and whose body says why; [`Call`] reports the
//! refusal itself, as the error value it is.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use progenitor_client::{ByteStream, Error as GeneratedError, ResponseValue};
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::{CallDetails, Error, ServiceError, retry_after};

/// The status of the local answer `exec` gives when the pipeline refused to send. Outside
/// every range an operation declares, so generated code never decodes it.
pub const REFUSED: u16 = 999;

tokio::task_local! {
    static CURRENT: Arc<Record>;
}

/// How an API names the code and message inside its typed error body.
pub trait ErrorBody: serde::Serialize + std::fmt::Debug {
    /// The service's error code and its message, each `None` when the body has none; they
    /// become [`ServiceError::code`] and [`ServiceError::message`].
    fn code_and_message(&self) -> (Option<String>, Option<String>);
}

/// What the pipeline learned about a call so far.
#[derive(Debug, Default)]
pub(crate) struct Record {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    operation: &'static str,
    /// The status of the last attempt's answer, once its headers arrived.
    status: Option<StatusCode>,
    /// Headers of the last answer when it was not a success (only error reports read them).
    headers: HeaderMap,
    request_id: Option<String>,
    client_request_id: Option<String>,
    attempts: u32,
    /// Whether an attempt so far reached the server: it answered, or failed after connecting.
    reached: bool,
    waits: Vec<Duration>,
    refusal: Option<Error>,
}

/// The local answer `exec` gives in place of sending: status [`REFUSED`], the reason as text
/// (for a caller that uses the generated client without a [`Call`]).
pub(crate) fn refusal_answer(error: &Error) -> Response {
    let mut answer = http::Response::new(reqwest::Body::from(error.to_string()));
    if let Ok(status) = StatusCode::from_u16(REFUSED) {
        *answer.status_mut() = status;
    }
    answer.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Response::from(answer)
}

/// The record of the call whose future is being polled, if it runs inside [`Call::run`].
pub(crate) fn current() -> Option<Arc<Record>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// The pipeline's side: it writes, [`Call`] reads.
impl Record {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn started(&self, operation: &'static str, client_request_id: Option<String>) {
        self.with(|state| {
            state.operation = operation;
            state.client_request_id = client_request_id;
        });
    }

    /// An attempt is being sent: what an earlier attempt answered says nothing about it.
    pub(crate) fn attempt(&self) {
        self.with(|state| {
            state.attempts += 1;
            state.status = None;
        });
    }

    pub(crate) fn answered(&self, response: &Response, request_id: Option<String>) {
        let status = response.status();
        // Copying a success's headers would tax every call; only errors read them.
        let headers = if status.is_success() {
            HeaderMap::new()
        } else {
            response.headers().clone()
        };
        self.with(|state| {
            state.status = Some(status);
            state.headers = headers;
            state.request_id = request_id;
            state.reached = true;
        });
    }

    /// An attempt failed on the wire after its connection was made: it may have arrived.
    pub(crate) fn failed_after_connecting(&self) {
        self.with(|state| state.reached = true);
    }

    pub(crate) fn waited(&self, wait: Duration) {
        self.with(|state| state.waits.push(wait));
    }

    pub(crate) fn refuse(&self, error: Error) {
        self.with(|state| state.refusal = Some(error));
    }

    pub(crate) fn status(&self) -> Option<u16> {
        self.with(|state| state.status.map(|status| status.as_u16()))
    }

    pub(crate) fn request_id(&self) -> Option<String> {
        self.with(|state| state.request_id.clone())
    }

    pub(crate) fn details(&self) -> CallDetails {
        self.with(|state| CallDetails {
            operation: state.operation,
            request_id: state.request_id.clone(),
            client_request_id: state.client_request_id.clone(),
            attempts: state.attempts,
        })
    }

    fn take_refusal(&self) -> Option<Error> {
        self.with(|state| state.refusal.take())
    }

    fn headers(&self) -> HeaderMap {
        self.with(|state| state.headers.clone())
    }

    /// The error for a transport failure met while sending or reading this call's answer.
    fn transport_error(&self, source: reqwest::Error) -> Error {
        let reached = self.with(|state| state.reached);
        Error::from_transport(source, self.details(), self.status(), reached)
    }
}

/// One operation of an API client: run the generated method inside [`Call::run`], then turn
/// what it returned into the result with the `finish` method that fits the operation.
#[derive(Debug, Default)]
pub struct Call {
    record: Arc<Record>,
}

impl Call {
    /// A call with nothing recorded yet; pass the generated method's future to [`Call::run`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `future` (a generated method's `send()`, or `Pipeline::execute`) with this call's
    /// record in reach of the pipeline.
    pub async fn run<F: Future>(&self, future: F) -> F::Output {
        CURRENT.scope(self.record.clone(), future).await
    }

    /// What the pipeline knows about the call so far (for an error the caller makes itself).
    pub fn details(&self) -> CallDetails {
        self.record.details()
    }

    /// The waits between attempts, in order.
    pub fn waits(&self) -> Vec<Duration> {
        self.record.with(|state| state.waits.clone())
    }

    /// A generated method's result: its decoded body, or the typed error.
    pub async fn finish<T, E: ErrorBody>(
        &self,
        result: Result<ResponseValue<T>, GeneratedError<E>>,
    ) -> Result<T, Error> {
        self.refused()?;
        match result {
            Ok(value) => Ok(value.into_inner()),
            Err(error) => Err(self.convert(error).await),
        }
    }

    /// Like [`Call::finish`], for an operation whose service may also answer 204 No Content
    /// (`None`) although the spec declares a body.
    pub async fn finish_or_no_content<T, E: ErrorBody>(
        &self,
        result: Result<ResponseValue<T>, GeneratedError<E>>,
    ) -> Result<Option<T>, Error> {
        self.refused()?;
        match result {
            Ok(value) => Ok(Some(value.into_inner())),
            Err(GeneratedError::UnexpectedResponse(response))
                if response.status() == StatusCode::NO_CONTENT =>
            {
                Ok(None)
            }
            Err(error) => Err(self.convert(error).await),
        }
    }

    /// Like [`Call::finish`] for a success declared as a JSON string: a 2xx whose body is not
    /// one (bare text, as some gateways send) is taken as that text, trimmed.
    pub async fn finish_text<E: ErrorBody>(
        &self,
        result: Result<ResponseValue<String>, GeneratedError<E>>,
    ) -> Result<String, Error> {
        self.refused()?;
        match result {
            Ok(value) => Ok(value.into_inner()),
            Err(GeneratedError::InvalidResponsePayload(raw, _))
                if self
                    .record
                    .status()
                    .is_some_and(|status| (200..300).contains(&status)) =>
            {
                Ok(String::from_utf8_lossy(&raw).trim().to_owned())
            }
            Err(error) => Err(self.convert(error).await),
        }
    }

    /// Like [`Call::finish`] for a body the generated code hands over as a stream (a
    /// `text/plain` answer): the bytes, read to the end.
    pub async fn finish_bytes<E: ErrorBody>(
        &self,
        result: Result<ResponseValue<ByteStream>, GeneratedError<E>>,
    ) -> Result<Bytes, Error> {
        let stream = self.finish(result).await?;
        let chunks: Vec<Bytes> = stream
            .into_inner()
            .try_collect()
            .await
            .map_err(|source| self.record.transport_error(source))?;
        Ok(chunks.concat().into())
    }

    /// The answer to a request made by hand through `Pipeline::execute` (a `nextLink` the
    /// generated client cannot follow): any 2xx decodes into `T`, anything else into the API's
    /// error body `E`, the way the generated code would.
    pub async fn finish_json<T: DeserializeOwned, E: ErrorBody + DeserializeOwned>(
        &self,
        outcome: reqwest::Result<Response>,
    ) -> Result<T, Error> {
        self.refused()?;
        let response = outcome.map_err(|source| self.record.transport_error(source))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|source| self.record.transport_error(source))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|err| self.undecodable(status.as_u16(), body, Box::new(err)));
        }
        match serde_json::from_slice::<E>(&body) {
            Ok(error_body) => {
                let (code, message) = error_body.code_and_message();
                Err(self.service_error(status.as_u16(), body, code, message))
            }
            Err(err) => Err(self.undecodable(status.as_u16(), body, Box::new(err))),
        }
    }

    fn refused(&self) -> Result<(), Error> {
        self.record.take_refusal().map_or(Ok(()), Err)
    }

    async fn convert<E: ErrorBody>(&self, error: GeneratedError<E>) -> Error {
        match error {
            GeneratedError::InvalidRequest(message) => Error::InvalidRequest(message),
            GeneratedError::CommunicationError(source)
            | GeneratedError::ResponseBodyError(source) => self.record.transport_error(source),
            GeneratedError::ErrorResponse(answer) => {
                let status = answer.status().as_u16();
                let body = answer.into_inner();
                let (code, message) = body.code_and_message();
                let raw = serde_json::to_vec(&body)
                    .map(Bytes::from)
                    .unwrap_or_default();
                self.service_error(status, raw, code, message)
            }
            GeneratedError::InvalidResponsePayload(raw, source) => {
                let status = self.record.status().unwrap_or_default();
                self.undecodable(status, raw, Box::new(source))
            }
            GeneratedError::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => {
                        let message =
                            (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned());
                        self.service_error(status, body, None, message)
                    }
                    Err(source) => self.record.transport_error(source),
                }
            }
            other => Error::InvalidRequest(format!("unexpected client failure: {other}")),
        }
    }

    /// An answer whose body is not what the spec says: an error status keeps the raw text as
    /// the message (a gateway's HTML page), a success status is a decode failure.
    fn undecodable(
        &self,
        status: u16,
        raw: Bytes,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> Error {
        if status >= 400 {
            let message = (!raw.is_empty()).then(|| String::from_utf8_lossy(&raw).into_owned());
            return self.service_error(status, raw, None, message);
        }
        Error::Decode {
            status,
            body: raw,
            source,
            details: Box::new(self.record.details()),
        }
    }

    fn service_error(
        &self,
        status: u16,
        body: Bytes,
        code: Option<String>,
        message: Option<String>,
    ) -> Error {
        let wait = retry_after(&self.record.headers(), SystemTime::now());
        Error::Service(Box::new(
            ServiceError::new(status, body, self.record.details())
                .with_code_and_message(code, message)
                .with_retry_after(wait),
        ))
    }
}
