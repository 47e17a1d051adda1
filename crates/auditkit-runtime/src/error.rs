use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::AuthError;

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
            write!(f, ", request id {id}")?;
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
    pub status: u16,
    /// Graph's `error.code`, Adobe's `reason`.
    pub code: Option<String>,
    /// Graph's `error.message`, Adobe's `message` or its plain string body.
    pub message: Option<String>,
    pub retry_after: Option<Duration>,
    /// The body as received, for what the fields above do not capture.
    pub body: Bytes,
    pub details: CallDetails,
}

impl ServiceError {
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

    pub fn with_code_and_message(mut self, code: Option<String>, message: Option<String>) -> Self {
        self.code = code;
        self.message = message;
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service answered {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {}", message.lines().next().unwrap_or_default())?;
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
    #[error("could not complete the request ({details}){}", sent_note(*may_have_reached_server))]
    Transport {
        #[source]
        source: reqwest::Error,
        details: Box<CallDetails>,
        /// False only when no connection was made: nothing reached the server.
        may_have_reached_server: bool,
    },
    /// An attempt or the whole operation ran out of time (see `Timeouts`).
    #[error("timed out ({details}){}", sent_note(*may_have_reached_server))]
    Timeout {
        #[source]
        source: reqwest::Error,
        details: Box<CallDetails>,
        may_have_reached_server: bool,
    },
    /// The answer was larger than the configured cap and was cut off.
    #[error("the answer exceeded {limit} bytes and was cut off ({details})")]
    ResponseTooLarge {
        limit: usize,
        details: Box<CallDetails>,
    },
    /// The service answered with an error status.
    #[error("{0}")]
    Service(Box<ServiceError>),
    /// The service answered, but the body is not what the spec describes; the bytes are kept.
    #[error("could not decode the {status} answer ({details})")]
    Decode {
        status: u16,
        body: Bytes,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        details: Box<CallDetails>,
    },
}

fn sent_note(may_have_reached_server: bool) -> &'static str {
    if may_have_reached_server {
        "; the request may have reached the server"
    } else {
        "; nothing was sent"
    }
}

impl From<AuthError> for Error {
    fn from(error: AuthError) -> Self {
        Error::Auth(Box::new(error))
    }
}

impl Error {
    /// The HTTP status the service answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Service(service) => Some(service.status),
            Error::Decode { status, .. } => Some(*status),
            Error::Auth(auth) => auth.status(),
            _ => None,
        }
    }

    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(service) => Some(service),
            _ => None,
        }
    }

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

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Service(service) if service.status == 404)
    }

    /// The service (or the token endpoint) said 429.
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether trying the same call again later may succeed: throttling, outages, timeouts and
    /// network failures — as opposed to a request the service will refuse again. For a write,
    /// check [`Error::may_have_reached_server`] too: neither audit API deduplicates.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Service(service) => matches!(service.status, 408 | 429 | 500 | 502 | 503 | 504),
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

    /// The error for a transport failure of the generated client, by what reqwest says.
    pub fn from_transport(source: reqwest::Error, details: CallDetails) -> Self {
        let details = Box::new(details);
        if let Some(limit) = body_limit(&source) {
            return Error::ResponseTooLarge { limit, details };
        }
        let may_have_reached_server = !source.is_connect();
        let source = source.without_url();
        if source.is_timeout() {
            Error::Timeout {
                source,
                details,
                may_have_reached_server,
            }
        } else {
            Error::Transport {
                source,
                details,
                may_have_reached_server,
            }
        }
    }
}

/// The cap of the body limit that cut this transfer, found in the error's sources.
fn body_limit(error: &reqwest::Error) -> Option<usize> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(limit) = current.downcast_ref::<crate::pipeline::BodyLimitExceeded>() {
            return Some(limit.0);
        }
        source = current.source();
    }
    None
}
