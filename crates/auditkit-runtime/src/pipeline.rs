use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Request, Response, StatusCode, Url};
use tracing::Instrument;
use tracing::field::Empty;

use crate::retry::{RateLimit, RetryBudget, RetryPolicy, Timeouts};
use crate::security::{check_transport, origin, same_origin};
use crate::{
    CallDetails, Clock, Credential, CredentialHeaders, Error, Sleeper, SystemClock, TokioSleeper,
};

/// The request path of one client: authentication headers, ids, tracing, and (with the
/// reliability work) retries and timeouts. Cheap to clone; clones share configuration.
#[derive(Clone, Default)]
pub struct Pipeline {
    config: Arc<Config>,
    retry: Option<Arc<RetryOverride>>,
    timeouts: Option<Timeouts>,
    call: Option<Arc<CallRecord>>,
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
    allow_insecure_http: bool,
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
}

/// Answers are JSON pages of at most a few megabytes; past this the body is cut off.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            credential: None,
            api_base: None,
            allow_insecure_http: false,
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
    /// requests to any other origin go without it.
    pub fn credential(mut self, api_base: Url, credential: Arc<dyn Credential>) -> Self {
        self.config.api_base = Some(api_base);
        self.config.credential = Some(credential);
        self
    }

    /// Lets credentials travel over plain http to a host that is not loopback. For a test
    /// server on another machine only.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.config.allow_insecure_http = allow;
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

    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.config.timeouts = timeouts;
        self
    }

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

    pub fn build(self) -> Result<Pipeline, Error> {
        if let Some(api) = &self.config.api_base {
            check_transport(api, self.config.allow_insecure_http).map_err(Error::Refused)?;
        }
        Ok(Pipeline {
            config: Arc::new(self.config),
            retry: None,
            timeouts: None,
            call: None,
        })
    }
}

/// What happened during one call, written by the pipeline and read by the facade to build its
/// typed error (progenitor's error path drops status and headers).
#[derive(Debug, Default)]
pub struct CallRecord {
    state: Mutex<CallReport>,
    refusal: Mutex<Option<Error>>,
}

/// A snapshot of a [`CallRecord`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallReport {
    pub operation: &'static str,
    pub status: Option<StatusCode>,
    /// Headers of the last response when it was not a success (2xx).
    pub headers: HeaderMap,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    pub attempts: u32,
    /// The waits between attempts, in order.
    pub waits: Vec<std::time::Duration>,
    /// Why the call stopped retrying while the last answer was still retryable.
    pub gave_up: Option<&'static str>,
}

impl CallRecord {
    pub fn report(&self) -> CallReport {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn details(&self) -> CallDetails {
        let report = self.report();
        CallDetails {
            operation: report.operation,
            request_id: report.request_id,
            client_request_id: report.client_request_id,
            attempts: report.attempts,
        }
    }

    /// The error for a transport failure met while sending or reading this call's answer.
    pub fn transport_error(&self, source: reqwest::Error) -> Error {
        let report = self.report();
        let status = report.status.map(|status| status.as_u16());
        Error::from_transport(source, self.details(), status)
    }

    /// Why the pipeline refused to send or to answer a 401, if it did. The generated client
    /// then reports only a stand-in transport error; this is the real reason.
    pub fn take_refusal(&self) -> Option<Error> {
        self.refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn update(&self, f: impl FnOnce(&mut CallReport)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn inspect(&self, f: impl FnOnce(&CallReport)) {
        f(&self.state.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn refuse(&self, error: Error) {
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }
}

impl Pipeline {
    /// A pipeline with no credential: requests go out as the generated client built them,
    /// less the `api-version` header.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// A copy whose requests are written to a fresh [`CallRecord`], returned alongside.
    pub fn for_call(&self) -> (Self, Arc<CallRecord>) {
        let record = Arc::new(CallRecord::default());
        (
            Self {
                call: Some(record.clone()),
                ..self.clone()
            },
            record,
        )
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

    pub fn timeout_settings(&self) -> Timeouts {
        self.timeouts.unwrap_or(self.config.timeouts)
    }

    pub fn rate_limit_settings(&self) -> Option<&RateLimit> {
        self.config.rate_limit.as_ref()
    }

    /// Sends one request of `operation` (the generated method's name).
    pub async fn execute(
        &self,
        client: &reqwest::Client,
        mut request: Request,
        operation: &'static str,
    ) -> reqwest::Result<Response> {
        let headers = request.headers_mut();
        // progenitor stamps `api-version: <info.version>` on every request and has no switch
        // for it; neither service defines such a header.
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
        self.update(|report| {
            report.operation = operation;
            report.client_request_id = client_request_id.clone();
        });

        let span = tracing::info_span!(
            "auditkit.call",
            operation,
            method = request.method().as_str(),
            path = request.url().path(),
            client_request_id = client_request_id.as_deref(),
            status = Empty,
            request_id = Empty,
            attempts = Empty,
            duration_ms = Empty,
        );
        let started = Instant::now();
        let outcome = self
            .authenticate_and_send(client, request)
            .instrument(span.clone())
            .await;
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        self.inspect(|report| {
            span.record("attempts", report.attempts);
            if let Some(status) = report.status {
                span.record("status", status.as_u16());
            }
            if let Some(id) = &report.request_id {
                span.record("request_id", id.as_str());
            }
        });
        span.in_scope(|| match &outcome {
            Ok(response) => tracing::debug!(status = response.status().as_u16(), "answered"),
            Err(error) => {
                tracing::debug!(error = %crate::transport::describe(error), "not answered")
            }
        });
        outcome
    }

    /// Attempts until an answer is final, the policy or the budget says stop, or the
    /// operation's time is up. A 401 gets one fresh token and one replay, outside the count.
    async fn authenticate_and_send(
        &self,
        client: &reqwest::Client,
        request: Request,
    ) -> reqwest::Result<Response> {
        let policy = self.retry_policy().clone();
        let timeouts = self.timeout_settings();
        let clock = &self.config.clock;
        let deadline = clock.now() + timeouts.operation;
        let method = request.method().clone();
        let credential = match (&self.config.credential, &self.config.api_base) {
            (Some(credential), Some(api)) if same_origin(request.url(), api) => {
                Some(credential.clone())
            }
            _ => None,
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
                let left = deadline.saturating_duration_since(clock.now());
                let Some(wait) = limit.reserve_within(clock.now(), left) else {
                    return Err(self.out_of_time(
                        client,
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

            // The token fetch is part of the operation: a hung token endpoint cannot outlast
            // the caller's deadline.
            let used = match &credential {
                Some(credential) => {
                    let left = deadline.saturating_duration_since(clock.now());
                    match tokio::time::timeout(left, credential.headers()).await {
                        Ok(Ok(headers)) => {
                            apply(&mut pending, &headers);
                            Some(headers)
                        }
                        Ok(Err(error)) => return Err(self.refuse(client, Error::from(error))),
                        Err(_) => {
                            return Err(self.out_of_time(
                                client,
                                attempt,
                                "credentials were not obtained within the operation timeout",
                            ));
                        }
                    }
                }
                None => None,
            };
            let remaining = deadline.saturating_duration_since(clock.now());
            if remaining.is_zero() {
                return Err(self.out_of_time(
                    client,
                    attempt,
                    "the operation timeout passed before the request could be sent",
                ));
            }
            *pending.timeout_mut() = Some(timeouts.attempt.min(remaining));
            let outcome = self.send(client, pending).await;

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

            let (retryable, hint, after_timeout) = match &outcome {
                Ok(response) => (
                    policy.retryable_status(&method, response.status()),
                    crate::retry_after(response.headers(), std::time::SystemTime::now()),
                    false,
                ),
                Err(error) => (
                    policy.retryable_failure(&method, error),
                    None,
                    error.is_timeout(),
                ),
            };
            if !retryable {
                if outcome
                    .as_ref()
                    .is_ok_and(|response| response.status().is_success())
                {
                    self.config.budget.refill();
                }
                return outcome;
            }
            let give_up = |why: &'static str| {
                tracing::debug!(reason = why, "not retrying");
                self.update(|report| report.gave_up = Some(why));
            };
            let Some(replay) = next else {
                give_up("the request body cannot be replayed");
                return outcome;
            };
            if attempt >= policy.attempts() {
                give_up("attempts exhausted");
                return outcome;
            }
            if hint.is_some_and(|hint| hint > policy.retry_after_cap()) {
                give_up("retry-after is longer than the policy waits");
                return outcome;
            }
            let throttled = outcome
                .as_ref()
                .is_ok_and(|r| matches!(r.status().as_u16(), 429 | 503));
            let backoff = policy.backoff(attempt + 1, throttled, self.jitter());
            let wait = hint.map_or(backoff, |hint| hint.max(backoff));
            if clock.now() + wait >= deadline {
                give_up("the operation timeout leaves no time for another attempt");
                return outcome;
            }
            if !self.config.budget.try_spend(after_timeout) {
                give_up("the client's retry budget is spent");
                return outcome;
            }
            tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
            self.update(|report| report.waits.push(wait));
            self.config.sleeper.sleep(wait).await;
            pending = replay;
        }
    }

    async fn send(&self, client: &reqwest::Client, request: Request) -> reqwest::Result<Response> {
        self.update(|report| {
            report.attempts += 1;
            // The status of an earlier attempt says nothing about this one.
            report.status = None;
        });
        let requested = request.url().clone();
        let response = client.execute(request).await?;
        if let Some(why) = crate::transport::followed_redirect(&requested, &response) {
            return Err(self.refuse(
                client,
                Error::Redirected {
                    message: why,
                    details: Box::new(self.details()),
                },
            ));
        }
        let request_id = self
            .config
            .request_id_headers
            .iter()
            .find_map(|name| response.headers().get(name))
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        self.update(|report| {
            report.status = Some(response.status());
            // Only error reports read them; copying a success's headers would tax every call.
            report.headers = if response.status().is_success() {
                HeaderMap::new()
            } else {
                response.headers().clone()
            };
            report.request_id = request_id;
        });
        Ok(self.guard_body(response))
    }

    /// The error for an operation whose time ran out outside an attempt (waiting for the
    /// rate limit or for credentials); attempts before this one may have reached the server.
    fn out_of_time(
        &self,
        client: &reqwest::Client,
        attempt: u32,
        why: &'static str,
    ) -> reqwest::Error {
        tracing::debug!(reason = why, "operation timed out");
        let error = Error::Timeout {
            source: None,
            details: Box::new(self.details()),
            may_have_reached_server: attempt > 1,
            status: None,
        };
        self.refuse(client, error)
    }

    fn details(&self) -> CallDetails {
        self.call
            .as_ref()
            .map(|record| record.details())
            .unwrap_or_default()
    }

    /// Records why nothing was sent and returns the stand-in error the generated client
    /// requires: a request that fails to build, so no byte leaves the process.
    fn refuse(&self, client: &reqwest::Client, error: Error) -> reqwest::Error {
        tracing::debug!(error = %error, "refused before sending");
        if let Some(record) = &self.call {
            record.refuse(error);
        }
        // A constant unparseable URL: building it fails every time, without I/O.
        #[allow(clippy::expect_used)]
        client
            .get("http://[refused")
            .build()
            .expect_err("an unparseable URL never builds")
    }

    /// Puts the answer's body behind the size cap and the BOM removal ([`crate::body`]).
    fn guard_body(&self, response: Response) -> Response {
        let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        let guarded = crate::body::Guarded::new(body, self.config.max_response_bytes);
        Response::from(http::Response::from_parts(
            parts,
            reqwest::Body::wrap(guarded),
        ))
    }

    fn update(&self, f: impl FnOnce(&mut CallReport)) {
        if let Some(record) = &self.call {
            record.update(f);
        }
    }

    fn inspect(&self, f: impl FnOnce(&CallReport)) {
        if let Some(record) = &self.call {
            record.inspect(f);
        }
    }
}

fn apply(request: &mut Request, headers: &CredentialHeaders) {
    for (name, value) in headers.iter() {
        request.headers_mut().insert(name.clone(), value.clone());
    }
}
