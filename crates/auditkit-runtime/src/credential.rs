use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::security::printable;

/// The boxed future that [`Credential`] and [`Sleeper`](crate::Sleeper) return, so both
/// traits can be used as `dyn` objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that authenticates requests: the facade implements it for Entra ID and Adobe
/// IMS; the runtime never sees a concrete provider.
pub trait Credential: Send + Sync + fmt::Debug {
    /// The headers one attempt carries (a bearer token, an API key …). Called for every
    /// attempt, so implementations cache their tokens.
    fn headers(&self) -> BoxFuture<'_, Result<CredentialHeaders, AuthError>>;

    /// The API answered 401 to a request that carried `used`: forget that token so the next
    /// [`Credential::headers`] fetches a fresh one. A token already replaced is left alone,
    /// so concurrent 401s cause one refresh, not one each.
    fn invalidate(&self, used: &CredentialHeaders);
}

/// Authentication headers; every value is marked sensitive and `Debug` shows names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CredentialHeaders(HeaderMap);

impl CredentialHeaders {
    /// No headers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing an earlier value of that name; the value is marked
    /// sensitive ([`HeaderValue::set_sensitive`]).
    pub fn insert(&mut self, name: HeaderName, mut value: HeaderValue) {
        value.set_sensitive(true);
        self.0.insert(name, value);
    }

    /// The value set for `name`, if any.
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.0.get(name)
    }

    /// Every header, name and value, as the pipeline copies them onto a request.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.0.iter()
    }
}

impl fmt::Debug for CredentialHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|name| (name.as_str(), "<redacted>")))
            .finish()
    }
}

/// What went wrong, in words a caller can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// A setting is missing or malformed (an environment variable, a key file, a URL).
    Configuration,
    /// Refused before sending: credentials only travel over https (loopback excepted).
    Insecure,
    /// The token endpoint answered and said no (wrong secret, unknown client, bad scope).
    Rejected,
    /// The token endpoint is throttling or failing (429, 5xx): worth trying again later.
    Unavailable,
    /// The token endpoint could not be reached or did not answer in time.
    Transport,
    /// The token endpoint answered something that is not a usable token.
    InvalidResponse,
}

/// A failure to obtain credentials. Carries the provider's own diagnostics (OAuth `error`,
/// the `AADSTS…` code, trace and correlation ids, Adobe's `x-debug-id`) and never a secret or a
/// token.
#[derive(Debug)]
pub struct AuthError(Box<Details>);

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.render())
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[derive(Debug)]
struct Details {
    provider: &'static str,
    kind: AuthErrorKind,
    message: String,
    status: Option<u16>,
    error: Option<String>,
    description: Option<String>,
    service_code: Option<String>,
    trace_id: Option<String>,
    correlation_id: Option<String>,
    debug_id: Option<String>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AuthError {
    /// `provider` names the issuer ("entra id", "adobe ims"); `message` is a lowercase phrase.
    pub fn new(provider: &'static str, kind: AuthErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Details {
            provider,
            kind,
            message: message.into(),
            status: None,
            error: None,
            description: None,
            service_code: None,
            trace_id: None,
            correlation_id: None,
            debug_id: None,
            retry_after: None,
            source: None,
        }))
    }

    /// The HTTP status the token endpoint answered. It is reported by
    /// [`Error::token_endpoint_status`](crate::Error::token_endpoint_status), never as the
    /// API's status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }

    /// The OAuth `error` code (`invalid_client`) and its `error_description`.
    pub fn with_oauth_error(mut self, error: Option<String>, description: Option<String>) -> Self {
        self.0.error = error;
        self.0.description = description;
        self
    }

    /// The provider's own code, e.g. Entra's `AADSTS7000215`.
    pub fn with_service_code(mut self, code: Option<String>) -> Self {
        self.0.service_code = code;
        self
    }

    /// The provider's trace and correlation ids (Entra's `trace_id` and `correlation_id`), to
    /// quote to its support.
    pub fn with_trace_ids(
        mut self,
        trace_id: Option<String>,
        correlation_id: Option<String>,
    ) -> Self {
        self.0.trace_id = trace_id;
        self.0.correlation_id = correlation_id;
        self
    }

    /// Adobe's `x-debug-id`, the id to quote to Adobe support.
    pub fn with_debug_id(mut self, debug_id: Option<String>) -> Self {
        self.0.debug_id = debug_id;
        self
    }

    /// How long the token endpoint asked to wait (`Retry-After`), if it did.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.0.retry_after = retry_after;
        self
    }

    /// The lower-level failure behind this one, returned as its
    /// [`source`](std::error::Error::source); like the rest, it must not hold a secret or a token.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Box::new(source));
        self
    }

    /// The issuer named at construction, e.g. `"entra id"`.
    pub fn provider(&self) -> &'static str {
        self.0.provider
    }
    /// What went wrong, to branch on.
    pub fn kind(&self) -> AuthErrorKind {
        self.0.kind
    }
    /// The HTTP status the token endpoint answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }
    /// The OAuth `error` code, e.g. `invalid_client`.
    pub fn error_code(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// The provider's description of the failure (OAuth `error_description`); `Display` shows
    /// its first line only.
    pub fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The provider's own error code, e.g. Entra's `AADSTS7000215`.
    pub fn service_code(&self) -> Option<&str> {
        self.0.service_code.as_deref()
    }
    /// The provider's trace id (Entra's `trace_id`).
    pub fn trace_id(&self) -> Option<&str> {
        self.0.trace_id.as_deref()
    }
    /// The provider's correlation id (Entra's `correlation_id`).
    pub fn correlation_id(&self) -> Option<&str> {
        self.0.correlation_id.as_deref()
    }
    /// Adobe's `x-debug-id`, the id to quote to Adobe support.
    pub fn debug_id(&self) -> Option<&str> {
        self.0.debug_id.as_deref()
    }
    /// How long the token endpoint asked to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// Whether asking again later may succeed (throttling, outages, network), as opposed to
    /// a configuration or a refusal that will fail the same way.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.0.kind,
            AuthErrorKind::Unavailable | AuthErrorKind::Transport
        )
    }
}

impl Details {
    /// The provider's own words (codes, descriptions, ids) are shown without terminal
    /// controls.
    fn render(&self) -> String {
        let mut text = format!("{}: {}", self.provider, printable(&self.message));
        let mut facts = Vec::new();
        if let Some(status) = self.status {
            facts.push(format!("status {status}"));
        }
        if let Some(error) = &self.error {
            facts.push(printable(error).into_owned());
        }
        if let Some(code) = &self.service_code {
            facts.push(printable(code).into_owned());
        }
        if !facts.is_empty() {
            text.push_str(&format!(" ({})", facts.join(", ")));
        }
        if let Some(description) = &self.description {
            text.push_str(&format!(
                ": {}",
                printable(description.lines().next().unwrap_or_default())
            ));
        }
        for (label, value) in [
            ("trace id", &self.trace_id),
            ("correlation id", &self.correlation_id),
            ("x-debug-id", &self.debug_id),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("; {label} {}", printable(value)));
            }
        }
        text
    }
}
