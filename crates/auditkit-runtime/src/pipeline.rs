//! The request path of every API call.
//!
//! Every request a generated client sends passes these stages, in this order:
//!
//! 1. **The call's headers**: progenitor's `api-version` removed, `User-Agent`, and a fresh
//!    `client-request-id` GUID (when configured) kept across the call's attempts.
//! 2. **A span** `auditkit.call` (`otel.kind` client) over the whole call, attempts
//!    included, with OpenTelemetry's HTTP client fields (`http.request.method`,
//!    `server.address`, `server.port`, `url.full` with query values and user-info redacted,
//!    `url.path`; at the end `http.response.status_code` of the last answer,
//!    `http.request.resend_count` when the request was sent again, `error.type` on failure)
//!    and auditkit's own (`auditkit.operation`, `auditkit.client_request_id`,
//!    `auditkit.request_id`, `auditkit.duration_ms`).
//! 3. **One deadline** for the whole operation ([`Timeouts::operation`]); then, attempt after
//!    attempt:
//!    1. **pacing**: a slot of the client-side [`RateLimit`], refused at once when it would
//!       only come after the deadline;
//!    2. **credentials**: the [`Credential`]'s headers, fetched within the deadline (a
//!       request for another origin than the configured API's is refused before this);
//!    3. **send**, with the smaller of [`Timeouts::attempt`] and the time left;
//!    4. **guard the body**: the size cap and the removal of a leading BOM (`body.rs`);
//!       a redirect is an answer like any other (see [`crate::transport`]: none is followed);
//!    5. **401**: the token is dropped and the request replayed once with a fresh one,
//!       outside the attempt count;
//!    6. **retry or stop**: the policy's classification, `Retry-After`, capped exponential
//!       backoff with jitter, the shared budget and the deadline decide.
//!
//! What happened is written to the [`Call`](crate::Call) the request runs in; when the
//! pipeline refuses to send, the call holds the reason as a typed error (see [`crate::call`]).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Request, Response, StatusCode, Url};
use tracing::Instrument;
use tracing::field::Empty;

use crate::call::{self, Record};
use crate::deadline::Deadline;
use crate::retry::{RateLimit, RetryBudget, RetryPolicy, Timeouts};
use crate::security::{origin, same_origin};
use crate::{Clock, Credential, CredentialHeaders, Error, Sleeper, SystemClock, TokioSleeper};

/// The request path of one client. Cheap to clone; clones share configuration, the retry
/// budget and the rate limit.
#[derive(Clone, Default)]
pub struct Pipeline {
    config: Arc<Config>,
    retry: Option<Arc<RetryOverride>>,
    timeouts: Option<Timeouts>,
}

/// A retry policy given for some calls ([`Pipeline::with_retry`]), with the jitter it asks
/// for: its own seeded generator when it has a seed, the client's otherwise.
struct RetryOverride {
    policy: RetryPolicy,
    jitter: Option<Mutex<fastrand::Rng>>,
}

struct Config {
    credential: Option<Arc<dyn Credential>>,
    api_base: Option<Url>,
    user_agent: Option<HeaderValue>,
    client_request_id: Option<HeaderName>,
    request_id_headers: Vec<HeaderName>,
    retry: RetryPolicy,
    budget: RetryBudget,
    timeouts: Timeouts,
    rate_limit: Option<RateLimit>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    jitter: Mutex<fastrand::Rng>,
    max_response_bytes: usize,
    local_answers: Option<LocalAnswers>,
}

/// Answers produced in the process instead of sent over the network (see
/// [`PipelineBuilder::local_answers`]).
pub type LocalAnswers = Arc<dyn Fn(&Request) -> http::Response<bytes::Bytes> + Send + Sync>;

/// Answers are JSON pages of at most a few megabytes; past this the body is cut off.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            credential: None,
            api_base: None,
            user_agent: None,
            client_request_id: None,
            request_id_headers: Vec::new(),
            retry: RetryPolicy::default(),
            budget: RetryBudget::default(),
            timeouts: Timeouts::default(),
            rate_limit: None,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            jitter: Mutex::new(fastrand::Rng::new()),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            local_answers: None,
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("api", &self.config.api_base.as_ref().map(origin))
            .field("credential", &self.config.credential)
            .field("client_request_id", &self.config.client_request_id)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Pipeline`].
#[derive(Default)]
#[must_use]
pub struct PipelineBuilder {
    config: Config,
}

impl fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("api", &self.config.api_base.as_ref().map(origin))
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// Authenticates requests to `api_base`'s origin (scheme, host, port) with `credential`;
    /// a request for any other origin is refused (`Error::Refused`), nothing sent.
    pub fn credential(mut self, api_base: Url, credential: Arc<dyn Credential>) -> Self {
        self.config.api_base = Some(api_base);
        self.config.credential = Some(credential);
        self
    }

    /// Sends a fresh GUID under `name` on every call (kept across attempts of one call).
    pub fn client_request_id_header(mut self, name: HeaderName) -> Self {
        self.config.client_request_id = Some(name);
        self
    }

    /// Response headers that carry the service's request id, first match wins.
    pub fn request_id_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.config.request_id_headers = names.into_iter().collect();
        self
    }

    /// Appended to `auditkit/<version>` in `User-Agent` (e.g. an application's own name).
    pub fn user_agent_suffix(mut self, suffix: &str) -> Result<Self, Error> {
        let value = HeaderValue::from_str(&format!("{} {suffix}", crate::transport::USER_AGENT))
            .map_err(|_| {
                Error::InvalidRequest(format!(
                    "user agent suffix {suffix:?} is not a valid header value"
                ))
            })?;
        self.config.user_agent = Some(value);
        Ok(self)
    }

    /// The largest answer body read; a bigger one fails with `Error::ResponseTooLarge`.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.config.max_response_bytes = limit;
        self
    }

    /// Retries of every call (per call: [`Pipeline::with_retry`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        if let Some(seed) = policy.seed() {
            self.config.jitter = Mutex::new(fastrand::Rng::with_seed(seed));
        }
        self.config.retry = policy;
        self
    }

    /// The retry budget; share one between clients to bound their retries together.
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.config.budget = budget;
        self
    }

    /// The time limits of every call (default: [`Timeouts::default`]; per call:
    /// [`Pipeline::with_timeouts`]).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

    /// Paces requests client-side (none by default); pipelines given clones of one
    /// [`RateLimit`] share its slots.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.rate_limit = Some(limit);
        self
    }

    /// Where the pipeline reads time and how it waits between attempts. Tests pass a
    /// `ManualClock` for both and read the waits back from it.
    pub fn time(mut self, clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> Self {
        self.config.clock = clock;
        self.config.sleeper = sleeper;
        self
    }

    /// Answers every request with `answer` instead of sending it: for the fuzz target and
    /// property tests, which push arbitrary answers through the real decoding of every
    /// operation without a network. Every other stage runs as usual.
    #[doc(hidden)]
    pub fn local_answers(mut self, answer: LocalAnswers) -> Self {
        self.config.local_answers = Some(answer);
        self
    }

    /// The pipeline with this configuration; currently this never fails.
    pub fn build(self) -> Result<Pipeline, Error> {
        Ok(Pipeline {
            config: Arc::new(self.config),
            retry: None,
            timeouts: None,
        })
    }
}

impl Pipeline {
    /// A pipeline with no credential: requests go out as the generated client built them,
    /// less the `api-version` header.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with the defaults: no credential, [`RetryPolicy::default`],
    /// [`Timeouts::default`], no rate limit, [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// A copy with another retry policy (the budget stays shared). A policy with a
    /// [`RetryPolicy::jitter_seed`] gets its own generator from that seed.
    pub fn with_retry(&self, policy: RetryPolicy) -> Self {
        let jitter = policy
            .seed()
            .map(|seed| Mutex::new(fastrand::Rng::with_seed(seed)));
        Self {
            retry: Some(Arc::new(RetryOverride { policy, jitter })),
            ..self.clone()
        }
    }

    /// A copy with other timeouts.
    pub fn with_timeouts(&self, timeouts: Timeouts) -> Self {
        Self {
            timeouts: Some(timeouts),
            ..self.clone()
        }
    }

    /// The retry policy in force: the one of [`Pipeline::with_retry`], else the builder's.
    pub fn retry_policy(&self) -> &RetryPolicy {
        self.retry
            .as_deref()
            .map_or(&self.config.retry, |retry| &retry.policy)
    }

    /// A number in [0, 1) from the jitter generator of the policy in force.
    fn jitter(&self) -> f64 {
        let generator = self
            .retry
            .as_deref()
            .and_then(|retry| retry.jitter.as_ref())
            .unwrap_or(&self.config.jitter);
        generator.lock().unwrap_or_else(|p| p.into_inner()).f64()
    }

    /// The timeouts in force: those of [`Pipeline::with_timeouts`], else the builder's.
    pub fn timeout_settings(&self) -> Timeouts {
        self.timeouts.unwrap_or(self.config.timeouts)
    }

    /// The client-side rate limit, if one was configured.
    pub fn rate_limit_settings(&self) -> Option<&RateLimit> {
        self.config.rate_limit.as_ref()
    }

    /// Sends one request of `operation` (the generated method's name) through every stage.
    /// Run it inside [`Call::run`](crate::Call::run) to learn what happened; a refusal then
    /// comes back from the call as a typed error.
    ///
    /// The future is boxed: its state (retry loop, credentials, deadline, reqwest's future)
    /// is kilobytes, and every `async` layer above it (the generated method, the call, the
    /// caller's) would otherwise copy it on each move: one allocation is cheaper than the
    /// copies (BENCHMARKS.md, per call).
    pub fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: Request,
        operation: &'static str,
    ) -> futures::future::BoxFuture<'a, reqwest::Result<Response>> {
        Box::pin(self.execute_unboxed(client, request, operation))
    }

    async fn execute_unboxed(
        &self,
        client: &reqwest::Client,
        mut request: Request,
        operation: &'static str,
    ) -> reqwest::Result<Response> {
        let record = call::current();
        let record = record.as_deref();
        let headers = request.headers_mut();
        headers.remove("api-version");
        headers.insert(
            USER_AGENT,
            self.config
                .user_agent
                .clone()
                .unwrap_or_else(|| HeaderValue::from_static(crate::transport::USER_AGENT)),
        );
        let client_request_id = self.config.client_request_id.as_ref().map(|name| {
            // A correlation id, not a secret: the thread-local generator spares every call a
            // `getrandom` system call.
            let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
            let mut text = uuid::Uuid::encode_buffer();
            let id = id.hyphenated().encode_lower(&mut text);
            if let Ok(value) = HeaderValue::from_str(id) {
                headers.insert(name.clone(), value);
            }
            id.to_owned()
        });

        // Field names follow OpenTelemetry's HTTP client conventions; what they do not name
        // is under `auditkit.`. Strings are recorded with `%` (Display): a subscriber then
        // copies them as they are instead of escaping them character by character. The path
        // is recorded without the query, which carries filter values.
        let url = request.url();
        let span = tracing::info_span!(
            "auditkit.call",
            "otel.kind" = "client",
            "http.request.method" = %request.method().as_str(),
            "server.address" = %ServerAddress(url),
            "server.port" = url.port_or_known_default(),
            "url.full" = %crate::security::redact(url),
            "url.path" = %url.path(),
            "auditkit.operation" = %operation,
            "auditkit.client_request_id" = client_request_id.as_deref().map(tracing::field::display),
            "http.response.status_code" = Empty,
            "http.request.resend_count" = Empty,
            "error.type" = Empty,
            "auditkit.request_id" = Empty,
            "auditkit.duration_ms" = Empty,
        );
        if let Some(record) = record {
            record.started(operation, client_request_id);
        }
        let started = std::time::Instant::now();
        let sends = AtomicU32::new(0);
        let outcome = self
            .attempts(client, request, record, &sends)
            .instrument(span.clone())
            .await;
        // Read only when the span records: a call without a subscriber pays nothing here.
        record_outcome(&span, || Ending {
            elapsed: started.elapsed(),
            sends: sends.load(Ordering::Relaxed),
            status: match &outcome {
                Ok(response) => Some(response.status().as_u16()),
                Err(_) => record.and_then(Record::status),
            },
            request_id: match &outcome {
                Ok(response) => self.request_id(response),
                Err(_) => record.and_then(Record::request_id),
            },
            error_type: error_type(&outcome),
        });
        let outcome = match outcome {
            Ok(response) => Ok(response),
            Err(Stop::Failed(error)) => Err(error),
            Err(Stop::Refused(error)) => {
                tracing::debug!(parent: &span, error = %error, "refused");
                let answer = call::refusal_answer(&error);
                if let Some(record) = record {
                    record.refuse(error);
                }
                return Ok(answer);
            }
        };
        span.in_scope(|| match &outcome {
            Ok(response) => tracing::debug!(status = response.status().as_u16(), "answered"),
            Err(error) => {
                tracing::debug!(error = %crate::transport::describe(error), "not answered")
            }
        });
        outcome
    }

    /// Attempts until an answer is final, the policy or the budget says stop, or the
    /// operation's time is up (stage 3 of the module documentation).
    async fn attempts(
        &self,
        client: &reqwest::Client,
        request: Request,
        record: Option<&Record>,
        sends: &AtomicU32,
    ) -> Result<Response, Stop> {
        let policy = self.retry_policy().clone();
        let timeouts = self.timeout_settings();
        let deadline = Deadline::after(self.config.clock.as_ref(), timeouts.operation);
        let method = request.method().clone();
        // A pipeline serves one API: a request for another origin (a `nextLink` or a saved
        // cursor pointing elsewhere) is refused before anything is sent, token or not.
        if let Some(api) = &self.config.api_base
            && !same_origin(request.url(), api)
        {
            return Err(Stop::Refused(Error::Refused(format!(
                "{} is not the configured API {}; nothing is sent there",
                origin(request.url()),
                origin(api)
            ))));
        }
        let credential = self.config.credential.clone();
        let out_of_time = |attempt: u32, why: &'static str| {
            tracing::debug!(reason = why, "operation timed out");
            Stop::Refused(Error::Timeout {
                source: None,
                details: Box::new(record.map(Record::details).unwrap_or_default()),
                // Attempts before this one may have reached the server.
                may_have_reached_server: attempt > 1,
                status: None,
            })
        };

        let mut pending = request;
        let mut attempt = 0_u32;
        let mut replayed_after_401 = false;
        loop {
            attempt += 1;
            // Bodies here are JSON in memory, so a copy can be kept for the next attempt.
            let mut next = pending.try_clone();
            if let Some(limit) = self
                .config
                .rate_limit
                .as_ref()
                .filter(|limit| limit.applies_to(&method))
            {
                let Some(wait) = limit.reserve_within(deadline.now(), deadline.remaining()) else {
                    return Err(out_of_time(
                        attempt,
                        "the client-side rate limit would wait past the operation timeout",
                    ));
                };
                if !wait.is_zero() {
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "pacing to the client-side rate limit"
                    );
                    self.config.sleeper.sleep(wait).await;
                }
            }
            if attempt > 1 {
                pending
                    .headers_mut()
                    .insert("retry-attempt", HeaderValue::from(attempt - 1));
            }
            let used = match &credential {
                Some(credential) => match deadline.bound(credential.headers()).await {
                    Some(Ok(headers)) => {
                        apply(&mut pending, &headers);
                        Some(headers)
                    }
                    Some(Err(error)) => return Err(Stop::Refused(Error::from(error))),
                    None => {
                        return Err(out_of_time(
                            attempt,
                            "credentials were not obtained within the operation timeout",
                        ));
                    }
                },
                None => None,
            };
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(out_of_time(
                    attempt,
                    "the operation timeout passed before the request could be sent",
                ));
            }
            *pending.timeout_mut() = Some(timeouts.attempt.min(remaining));
            sends.fetch_add(1, Ordering::Relaxed);
            let outcome = self.send(client, pending, record).await;

            if let (Ok(response), Some(credential), Some(used)) = (&outcome, &credential, &used)
                && response.status() == StatusCode::UNAUTHORIZED
                && !replayed_after_401
                && let Some(replay) = next.take()
            {
                // The token may have been revoked or rotated before its expiry: drop it and
                // replay once with a fresh one. Never a loop.
                tracing::debug!("401: replaying once with a fresh token");
                credential.invalidate(used);
                replayed_after_401 = true;
                attempt -= 1;
                pending = replay;
                continue;
            }

            let (retryable, after_timeout) = match &outcome {
                Ok(response) => (policy.retryable_status(&method, response.status()), false),
                Err(error) => (policy.retryable_failure(&method, error), error.is_timeout()),
            };
            if !retryable {
                if outcome
                    .as_ref()
                    .is_ok_and(|response| response.status().is_success())
                {
                    self.config.budget.refill();
                }
                return outcome.map_err(Stop::Failed);
            }
            let hint = outcome.as_ref().ok().and_then(|response| {
                crate::retry_after(response.headers(), std::time::SystemTime::now())
            });
            let Some(replay) = next else {
                return give_up(outcome, "the request body cannot be replayed");
            };
            if attempt >= policy.attempts() {
                return give_up(outcome, "attempts exhausted");
            }
            if hint.is_some_and(|hint| hint > policy.retry_after_cap()) {
                return give_up(outcome, "retry-after is longer than the policy waits");
            }
            let throttled = outcome
                .as_ref()
                .is_ok_and(|r| matches!(r.status().as_u16(), 429 | 503));
            let backoff = policy.backoff(attempt + 1, throttled, self.jitter());
            let wait = hint.map_or(backoff, |hint| hint.max(backoff));
            if !deadline.allows(wait) {
                return give_up(
                    outcome,
                    "the operation timeout leaves no time for another attempt",
                );
            }
            if !self.config.budget.try_spend(after_timeout) {
                return give_up(outcome, "the client's retry budget is spent");
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
            if let Some(record) = record {
                record.waited(wait);
            }
            self.config.sleeper.sleep(wait).await;
            pending = replay;
        }
    }

    /// One attempt on the wire (stages 3.3 and 3.4).
    async fn send(
        &self,
        client: &reqwest::Client,
        request: Request,
        record: Option<&Record>,
    ) -> reqwest::Result<Response> {
        if let Some(record) = record {
            record.attempt();
        }
        if let Some(answer) = &self.config.local_answers {
            let response = Response::from(answer(&request));
            if let Some(record) = record {
                record.answered(&response, None);
            }
            return Ok(self.guard_body(response));
        }
        let response = match client.execute(request).await {
            Ok(response) => response,
            Err(error) => {
                if let Some(record) = record
                    && !error.is_connect()
                {
                    record.failed_after_connecting();
                }
                return Err(error);
            }
        };
        if let Some(record) = record {
            record.answered(&response, self.request_id(&response));
        }
        Ok(self.guard_body(response))
    }

    /// The service's id of the request, from the first of the configured headers it sent.
    fn request_id(&self, response: &Response) -> Option<String> {
        self.config
            .request_id_headers
            .iter()
            .find_map(|name| response.headers().get(name))
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    }

    /// Puts the answer's body behind the size cap and the BOM removal ([`crate::body`]).
    fn guard_body(&self, response: Response) -> Response {
        use reqwest::ResponseBuilderExt;
        let url = response.url().clone();
        let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        // Without its URL among the extensions, reqwest's conversion back parses a placeholder
        // URL on every answer: carry the real one across.
        if let Ok(carrier) = http::Response::builder().url(url).body(()) {
            parts.extensions.extend(carrier.into_parts().0.extensions);
        }
        let guarded = crate::body::Guarded::new(body, self.config.max_response_bytes);
        Response::from(http::Response::from_parts(
            parts,
            reqwest::Body::wrap(guarded),
        ))
    }
}

/// A URL's host as OpenTelemetry writes `server.address`: an IPv6 address without the URL's
/// brackets. Formatted only if a subscriber records the field.
struct ServerAddress<'a>(&'a Url);

impl fmt::Display for ServerAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.host() {
            Some(url::Host::Ipv6(address)) => write!(f, "{address}"),
            _ => f.write_str(self.0.host_str().unwrap_or_default()),
        }
    }
}

/// How a call ended, as its span records it.
struct Ending {
    elapsed: std::time::Duration,
    /// Requests sent, the first included.
    sends: u32,
    /// The last answer's status, if one came.
    status: Option<u16>,
    request_id: Option<String>,
    error_type: Option<ErrorType>,
}

/// The end of a call on its span, in one `record` (one visit of the subscriber, not one per
/// field). A span nothing records has no metadata and costs nothing here; with `tracing`'s
/// `log` feature a disabled span keeps its metadata, and the fields still reach `log`. Read
/// from the call itself, so a pipeline used without a `Call` records the same.
fn record_outcome(span: &tracing::Span, ending: impl FnOnce() -> Ending) {
    let Some(fields) = span.metadata().map(tracing::Metadata::fields) else {
        return;
    };
    let (Some(status), Some(resends), Some(error), Some(request_id_field), Some(duration)) = (
        fields.field("http.response.status_code"),
        fields.field("http.request.resend_count"),
        fields.field("error.type"),
        fields.field("auditkit.request_id"),
        fields.field("auditkit.duration_ms"),
    ) else {
        return;
    };
    let ending = ending();
    let duration_ms = ending.elapsed.as_millis() as u64;
    // OpenTelemetry records a resend count only for a request that was sent again.
    let resend_count = ending.sends.checked_sub(1).filter(|resends| *resends > 0);
    let request_id = ending.request_id.as_deref().map(tracing::field::display);
    let error_type = ending.error_type.map(tracing::field::display);
    let values: [(&tracing::field::Field, Option<&dyn tracing::Value>); 5] = [
        (&duration, Some(&duration_ms)),
        (
            &resends,
            resend_count.as_ref().map(|v| v as &dyn tracing::Value),
        ),
        (
            &status,
            ending.status.as_ref().map(|v| v as &dyn tracing::Value),
        ),
        (
            &error,
            error_type.as_ref().map(|v| v as &dyn tracing::Value),
        ),
        (
            &request_id_field,
            request_id.as_ref().map(|v| v as &dyn tracing::Value),
        ),
    ];
    span.record_all(&fields.value_set(&values));
}

/// OpenTelemetry's `error.type` of a call that failed: the status code of an error answer, or
/// the kind of failure when none came. `None` for a success.
fn error_type(outcome: &Result<Response, Stop>) -> Option<ErrorType> {
    match outcome {
        Ok(response) if response.status().as_u16() >= 400 => {
            Some(ErrorType::Status(response.status().as_u16()))
        }
        Ok(_) => None,
        Err(Stop::Failed(error)) if error.is_timeout() => Some(ErrorType::Kind("timeout")),
        Err(Stop::Failed(error)) if error.is_connect() => Some(ErrorType::Kind("connect")),
        Err(Stop::Failed(_)) => Some(ErrorType::Kind("transport")),
        Err(Stop::Refused(Error::Timeout { .. })) => Some(ErrorType::Kind("timeout")),
        Err(Stop::Refused(_)) => Some(ErrorType::Kind("refused")),
    }
}

/// The value of `error.type`: a status code (as text, as OpenTelemetry asks) or a kind.
enum ErrorType {
    Status(u16),
    Kind(&'static str),
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorType::Status(code) => write!(f, "{code}"),
            ErrorType::Kind(kind) => f.write_str(kind),
        }
    }
}

/// The last attempt's outcome, handed back although it was retryable.
fn give_up(outcome: reqwest::Result<Response>, why: &'static str) -> Result<Response, Stop> {
    tracing::debug!(reason = why, "not retrying");
    outcome.map_err(Stop::Failed)
}

/// Why the attempts stopped without an answer to hand back.
enum Stop {
    /// Nothing (more) was sent, by policy: the reason is the call's error.
    Refused(Error),
    /// The last attempt failed on the wire.
    Failed(reqwest::Error),
}

fn apply(request: &mut Request, headers: &CredentialHeaders) {
    for (name, value) in headers.iter() {
        request.headers_mut().insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_address_is_the_host_without_an_ipv6_addresss_brackets() {
        for (url, address) in [
            ("https://graph.microsoft.com/v1.0", "graph.microsoft.com"),
            ("http://127.0.0.1:8080/v1.0", "127.0.0.1"),
            ("http://[::1]:8080/v1.0", "::1"),
        ] {
            let url = Url::parse(url).unwrap();
            assert_eq!(ServerAddress(&url).to_string(), address);
        }
    }
}
