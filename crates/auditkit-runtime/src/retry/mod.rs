//! When to send a request again, how long to wait, and how much retrying a client may do:
//! the policy and the one classification of what is transient (here), the shared budget
//! (`budget`), client-side pacing (`rate_limit`) and the service's `Retry-After`
//! (`retry_after`).

mod budget;
mod rate_limit;
mod retry_after;

use std::time::Duration;

use reqwest::{Method, StatusCode};

pub use budget::RetryBudget;
pub use rate_limit::RateLimit;
pub use retry_after::retry_after;

/// The statuses that say "try again later": timeouts, throttling and outages. The one list:
/// the pipeline's retries and [`crate::Error::is_retryable`] both read it.
pub(crate) fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Retries of one call. Defaults follow the AWS SDK's standard mode and Microsoft Graph's
/// SDKs: 3 attempts, exponential backoff from 1 s capped at 20 s with full jitter,
/// `Retry-After` honoured up to 60 s.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    retry_ambiguous_writes: bool,
    jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
            retry_ambiguous_writes: false,
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// Sends once, never again.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Attempts in all, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff before the second attempt; it doubles for each further one.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The cap of the doubling backoff (default 20 s). A longer `Retry-After` is still waited
    /// for, up to [`RetryPolicy::max_retry_after`].
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` this client waits for; a longer hint ends the call with the
    /// error, which carries the hint.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// Retries a POST or PATCH also when it may already have been processed: a timeout after
    /// sending, or a 500/502/504/408. Off by default, since neither audit API has idempotency
    /// keys and a retry can then store an event twice. A 429 or 503 (the service says it did
    /// not process the request) and a connection that failed before sending are retried
    /// regardless.
    pub fn retry_ambiguous_writes(mut self, retry: bool) -> Self {
        self.retry_ambiguous_writes = retry;
        self
    }

    /// Makes the jitter repeatable (tests, reproducing a run).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The most attempts a call makes, the first included (a replay after a 401 is not
    /// counted).
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// The wait before attempt `next` (2 for the first retry): full jitter over the capped
    /// exponential delay; for throttling without a hint, at least half of it, so a 429 with no
    /// `Retry-After` still backs off.
    pub(crate) fn backoff(&self, next: u32, throttled: bool, random: f64) -> Duration {
        let exponent = next.saturating_sub(2).min(30);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        if throttled {
            ceiling.mul_f64(0.5 + random / 2.0)
        } else {
            ceiling.mul_f64(random)
        }
    }

    pub(crate) fn retry_after_cap(&self) -> Duration {
        self.max_retry_after
    }

    /// Whether an answer with `status` to a `method` request may be sent again.
    pub(crate) fn retryable_status(&self, method: &Method, status: StatusCode) -> bool {
        match status.as_u16() {
            // The service says it did not process the request.
            429 | 503 => true,
            // It may have: only what can be repeated safely, unless the caller accepts that.
            other if transient_status(other) => {
                is_idempotent(method) || self.retry_ambiguous_writes
            }
            _ => false,
        }
    }

    /// Whether a transport failure may be retried. A connection that was never established
    /// carried nothing; anything later may have reached the server.
    pub(crate) fn retryable_failure(&self, method: &Method, error: &reqwest::Error) -> bool {
        if error.is_connect() {
            return true;
        }
        (error.is_timeout() || error.is_request() || error.is_body())
            && (is_idempotent(method) || self.retry_ambiguous_writes)
    }
}

pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Time limits of a call. Connect is set on the HTTP client by whoever builds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Timeouts {
    /// One attempt, from sending until the whole answer is read (a hung `nextLink` is cut here).
    pub attempt: Duration,
    /// The whole call: every attempt and every wait between them.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            attempt: Duration::from_secs(30),
            operation: Duration::from_secs(120),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(2, false, 1.0), Duration::from_secs(1));
        assert_eq!(policy.backoff(3, false, 1.0), Duration::from_secs(2));
        assert_eq!(policy.backoff(4, false, 0.5), Duration::from_secs(2));
        assert_eq!(policy.backoff(40, false, 1.0), Duration::from_secs(20));
        assert_eq!(policy.backoff(2, false, 0.0), Duration::ZERO);
        assert_eq!(
            policy.backoff(2, true, 0.0),
            Duration::from_millis(500),
            "throttling always waits"
        );
    }

    #[test]
    fn classification_follows_idempotency() {
        let policy = RetryPolicy::default();
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                policy.retryable_status(&Method::GET, StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 409, 412, 501] {
            assert!(
                !policy.retryable_status(&Method::GET, StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        assert!(policy.retryable_status(&Method::POST, StatusCode::TOO_MANY_REQUESTS));
        assert!(policy.retryable_status(&Method::POST, StatusCode::SERVICE_UNAVAILABLE));
        assert!(!policy.retryable_status(&Method::POST, StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!policy.retryable_status(&Method::PATCH, StatusCode::GATEWAY_TIMEOUT));
        let lenient = RetryPolicy::default().retry_ambiguous_writes(true);
        assert!(lenient.retryable_status(&Method::POST, StatusCode::INTERNAL_SERVER_ERROR));
    }
}
