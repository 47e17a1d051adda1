use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::AuthError;
use crate::security::printable;

/// What the pipeline knows about a call: enough to report it and to quote to the service's
/// support.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallDetails {
    /// The operation, as the generated client names it.
    pub operation: &'static str,
    /// The service's id for the request (`request-id` on Graph, `x-debug-id` on Adobe).
    pub request_id: Option<String>,
    /// The `client-request-id` this SDK sent.
    pub client_request_id: Option<String>,
    /// How many times the request was sent.
    pub attempts: u32,
}

impl fmt::Display for CallDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.operation)?;
        if let Some(id) = &self.request_id {
            write!(f, ", request id {}", printable(id))?;
        }
        if let Some(id) = &self.client_request_id {
            write!(f, ", client request id {id}")?;
        }
        Ok(())
    }
}

/// The service answered with an error status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// The answer's HTTP status: an error status, or one the operation does not declare
    /// (a 3xx, since no redirect is followed).
    pub status: u16,
    /// Graph's `error.code`, Adobe's `reason`.
    pub code: Option<String>,
    /// Graph's `error.message`, Adobe's `message` or its plain string body.
    pub message: Option<String>,
    /// How long the service asked to wait before trying again (`Retry-After`), if it did.
    pub retry_after: Option<Duration>,
    /// The body as received, for what the fields above do not capture.
    pub body: Bytes,
    /// The call this answer belongs to.
    pub details: CallDetails,
}

impl ServiceError {
    /// An error for an answer with `status` and the raw `body`; code, message and wait stay
    /// `None` until the `with_` methods set them.
    pub fn new(status: u16, body: Bytes, details: CallDetails) -> Self {
        Self {
            status,
            code: None,
            message: None,
            retry_after: None,
            body,
            details,
        }
    }

    /// Sets [`ServiceError::code`] and [`ServiceError::message`], as read from the error body.
    pub fn with_code_and_message(mut self, code: Option<String>, message: Option<String>) -> Self {
        self.code = code;
        self.message = message;
        self
    }

    /// Sets [`ServiceError::retry_after`], the wait the service asked for.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The code and message are the service's words: shown without terminal controls.
        write!(f, "service answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {}", printable(code))?;
        }
        if let Some(message) = &self.message {
            write!(
                f,
                ": {}",
                printable(message.lines().next().unwrap_or_default())
            )?;
        }
        write!(f, " ({})", self.details)
    }
}

/// Every way a call can fail. Non-exhaustive: new kinds can arrive without breaking callers,
/// who should branch on the predicates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be built from the caller's input; nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Refused by policy before anything was sent (plain http to a remote host, a link to
    /// another host than the configured API).
    #[error("refused: {0}")]
    Refused(String),
    /// No credentials could be obtained; the API was not called (or its 401 could not be
    /// answered with a fresh token).
    #[error(transparent)]
    Auth(Box<AuthError>),
    /// The request could not be sent or its answer not received.
    #[error("could not complete the request ({details}){}", sent_note(*may_have_reached_server, *status))]
    Transport {
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
        /// The call that failed.
        details: Box<CallDetails>,
        /// False only when no attempt of the call made a connection: nothing reached the server.
        may_have_reached_server: bool,
        /// The API's status line, when it arrived before the body failed.
        status: Option<u16>,
    },
    /// An attempt or the whole operation ran out of time (see `Timeouts`): sending, reading
    /// the answer, waiting for credentials or for the client-side rate limit. `source` is
    /// reqwest's error when the time ran out on the wire.
    #[error("timed out ({details}){}", sent_note(*may_have_reached_server, *status))]
    Timeout {
        /// reqwest's error when the time ran out on the wire; `None` when the pipeline's own
        /// deadline ran out before an attempt could be sent.
        #[source]
        source: Option<reqwest::Error>,
        /// The call that ran out of time.
        details: Box<CallDetails>,
        /// False only when nothing reached the server: no connection was made, or the time ran
        /// out before the first attempt was sent.
        may_have_reached_server: bool,
        /// The API's status line, when it arrived before the body timed out.
        status: Option<u16>,
    },
    /// The answer was larger than the configured cap and was cut off.
    #[error("the {status} answer exceeded {limit} bytes and was cut off ({details})")]
    ResponseTooLarge {
        /// The cap, in bytes (see
        /// [`PipelineBuilder::max_response_bytes`](crate::PipelineBuilder::max_response_bytes)).
        limit: usize,
        /// The API's status: a 2xx means the request was accepted although its answer was
        /// not read.
        status: u16,
        /// The call whose answer was cut off.
        details: Box<CallDetails>,
    },
    /// A listing stopped before its end: the service handed out an `@odata.nextLink` that was
    /// already followed (following it would loop forever), or the caller's page limit was
    /// reached. The pages before were delivered; `next_link` is the link not followed.
    #[error("listing stopped after {pages} pages: {reason}")]
    ListingStopped {
        /// Why the listing stopped.
        reason: ListingStop,
        /// How many pages were delivered before the stop.
        pages: u64,
        /// The link that was not followed, if there was one.
        next_link: Option<NextLink>,
    },
    /// The service answered with an error status.
    #[error("{0}")]
    Service(Box<ServiceError>),
    /// The service answered, but the body is not what the spec describes; the bytes are kept.
    #[error("could not decode the {status} answer ({details})")]
    Decode {
        /// The answer's HTTP status, below 400 (an error status with an undecodable body is an
        /// [`Error::Service`]); 0 when it is unknown.
        status: u16,
        /// The body as received.
        body: Bytes,
        /// Why the body did not decode.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// The call whose answer did not decode.
        details: Box<CallDetails>,
    },
}

/// A link the service handed out (`@odata.nextLink`): kept whole, to resume a listing with,
/// and shown redacted (its query carries `$filter` values).
#[derive(Clone, PartialEq, Eq)]
pub struct NextLink(String);

impl NextLink {
    /// Wraps a link as the service handed it out; it is not checked to be a URL.
    pub fn new(link: impl Into<String>) -> Self {
        Self(link.into())
    }

    /// The whole link, unredacted (unlike `Debug`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole link, unredacted, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<NextLink> for String {
    fn from(link: NextLink) -> Self {
        link.0
    }
}

impl fmt::Debug for NextLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NextLink")
            .field(&crate::security::redact_text(&self.0))
            .finish()
    }
}

/// Why a listing stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListingStop {
    /// The service sent a `@odata.nextLink` this listing had already followed.
    RepeatedLink,
    /// The page limit was reached while more pages were announced.
    PageLimit(u64),
    /// The service sent a `@odata.nextLink` that is not a URL.
    InvalidLink,
    /// The service answered in another order than the one asked (`$orderby`), which a
    /// listing that resumes by time cannot follow without skipping events.
    OutOfOrder,
}

impl fmt::Display for ListingStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListingStop::RepeatedLink => {
                f.write_str("the service repeated an @odata.nextLink already followed")
            }
            ListingStop::PageLimit(limit) => write!(f, "the page limit of {limit} was reached"),
            ListingStop::InvalidLink => {
                f.write_str("the service sent an @odata.nextLink that is not a URL")
            }
            ListingStop::OutOfOrder => f.write_str(
                "the service answered out of the order asked ($orderby=activityDateTime asc)",
            ),
        }
    }
}

fn sent_note(may_have_reached_server: bool, status: Option<u16>) -> String {
    match status {
        Some(status) => format!("; the api had answered {status}"),
        None if may_have_reached_server => "; the request may have reached the server".to_owned(),
        None => "; nothing was sent".to_owned(),
    }
}

impl From<AuthError> for Error {
    fn from(error: AuthError) -> Self {
        Error::Auth(Box::new(error))
    }
}

impl Error {
    /// The HTTP status the **API** answered to the call's last attempt, when its status line
    /// arrived (even if the body then failed). Never a token endpoint's status: that one is
    /// [`Error::token_endpoint_status`], so a token endpoint's 200 can never pass for the API's
    /// acknowledgement.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Service(service) => Some(service.status),
            Error::Decode { status, .. } | Error::ResponseTooLarge { status, .. } => Some(*status),
            Error::Transport { status, .. } | Error::Timeout { status, .. } => *status,
            _ => None,
        }
    }

    /// The HTTP status a token endpoint answered, when credentials could not be obtained
    /// from its answer.
    pub fn token_endpoint_status(&self) -> Option<u16> {
        match self {
            Error::Auth(auth) => auth.status(),
            _ => None,
        }
    }

    /// The API answered 2xx: it accepted the request although this call still failed (the
    /// answer was cut off, over the size cap, undecodable or of an undocumented status). A
    /// write reported this way was delivered; sending it again stores it twice.
    pub fn api_accepted(&self) -> bool {
        self.status()
            .is_some_and(|status| (200..300).contains(&status))
    }

    /// The service's error answer, when this is an [`Error::Service`].
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(service) => Some(service),
            _ => None,
        }
    }

    /// What is known about the call; `None` for an invalid request, a refusal, an auth failure
    /// and a stopped listing.
    pub fn details(&self) -> Option<&CallDetails> {
        match self {
            Error::Service(service) => Some(&service.details),
            Error::Transport { details, .. }
            | Error::Timeout { details, .. }
            | Error::ResponseTooLarge { details, .. }
            | Error::Decode { details, .. } => Some(details),
            _ => None,
        }
    }

    /// The service's request id, to quote when asking its support.
    pub fn request_id(&self) -> Option<&str> {
        self.details()
            .and_then(|details| details.request_id.as_deref())
    }

    /// Credentials were refused or could not be obtained, or the API said 401/403.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Auth(_)) || matches!(self.status(), Some(401 | 403))
    }

    /// The service answered 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Service(service) if service.status == 404)
    }

    /// The API or the token endpoint said 429.
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429) || self.token_endpoint_status() == Some(429)
    }

    /// An attempt or the whole operation ran out of time ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether trying the same call again later may succeed: throttling, outages, timeouts and
    /// network failures — as opposed to a request the service will refuse again. For a write,
    /// check [`Error::may_have_reached_server`] too: neither audit API deduplicates.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Service(service) => crate::retry::transient_status(service.status),
            Error::Auth(auth) => auth.is_transient(),
            Error::Transport { .. } | Error::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Whether the service may have received (and acted on) the request. Refusals, build and
    /// auth failures and connection failures say no; an answer says yes.
    pub fn may_have_reached_server(&self) -> bool {
        match self {
            Error::Transport {
                may_have_reached_server,
                ..
            }
            | Error::Timeout {
                may_have_reached_server,
                ..
            } => *may_have_reached_server,
            Error::Service(_) | Error::Decode { .. } | Error::ResponseTooLarge { .. } => true,
            _ => false,
        }
    }

    /// How long the service asked to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Service(service) => service.retry_after,
            Error::Auth(auth) => auth.retry_after(),
            _ => None,
        }
    }

    /// The error for a transport failure, by what reqwest says; `status` is the API's status
    /// line when it arrived before the failure (the body then failed), and `reached_before`
    /// whether an earlier attempt of the call reached the server.
    pub fn from_transport(
        source: reqwest::Error,
        details: CallDetails,
        status: Option<u16>,
        reached_before: bool,
    ) -> Self {
        let details = Box::new(details);
        if let Some(limit) = body_limit(&source) {
            return Error::ResponseTooLarge {
                limit,
                status: status.unwrap_or_default(),
                details,
            };
        }
        // Only a connection that was never made proves nothing arrived, and only when no
        // earlier attempt of the call reached the server either.
        let may_have_reached_server = status.is_some() || !source.is_connect() || reached_before;
        let source = source.without_url();
        if source.is_timeout() {
            Error::Timeout {
                source: Some(source),
                details,
                may_have_reached_server,
                status,
            }
        } else {
            Error::Transport {
                source,
                details,
                may_have_reached_server,
                status,
            }
        }
    }
}

/// The cap of the body limit that cut this transfer, found in the error's sources.
fn body_limit(error: &reqwest::Error) -> Option<usize> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(limit) = current.downcast_ref::<crate::body::BodyLimitExceeded>() {
            return Some(limit.0);
        }
        source = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;

    #[tokio::test]
    async fn a_failed_connection_after_an_attempt_that_reached_the_server_may_have_arrived() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let refused = || async move {
            crate::transport::http_client_builder()
                .unwrap()
                .build()
                .unwrap()
                .get(format!("http://127.0.0.1:{port}/"))
                .send()
                .await
                .unwrap_err()
        };
        let reached = |reached_before| {
            let details = CallDetails {
                attempts: 2,
                ..CallDetails::default()
            };
            move |source| match Error::from_transport(source, details, None, reached_before) {
                Error::Transport {
                    may_have_reached_server,
                    ..
                } => may_have_reached_server,
                other => panic!("not a transport error: {other}"),
            }
        };
        assert!(
            !reached(false)(refused().await),
            "no attempt ever connected"
        );
        assert!(
            reached(true)(refused().await),
            "an earlier attempt reached the server"
        );
    }

    #[test]
    fn a_token_endpoint_status_is_never_the_apis() {
        let portal = AuthError::new(
            "entra id",
            AuthErrorKind::InvalidResponse,
            "token answer is not JSON",
        )
        .with_status(200);
        let error = Error::from(portal);
        assert_eq!(error.status(), None, "the api did not answer");
        assert_eq!(error.token_endpoint_status(), Some(200));
        assert!(!error.api_accepted());

        let throttled = Error::from(
            AuthError::new("adobe ims", AuthErrorKind::Unavailable, "refused").with_status(429),
        );
        assert!(throttled.is_throttled());
        assert_eq!(throttled.status(), None);
    }

    #[test]
    fn an_api_2xx_is_an_acceptance_whatever_followed() {
        let details = || Box::new(CallDetails::default());
        let too_large = Error::ResponseTooLarge {
            limit: 10,
            status: 201,
            details: details(),
        };
        assert!(too_large.api_accepted());
        let undecodable = Error::Decode {
            status: 200,
            body: Bytes::from_static(b"<html>"),
            source: "not json".into(),
            details: details(),
        };
        assert!(undecodable.api_accepted());
        let refused = Error::Service(Box::new(ServiceError::new(
            400,
            Bytes::new(),
            CallDetails::default(),
        )));
        assert!(!refused.api_accepted());
        assert_eq!(refused.status(), Some(400));
    }
}
