//! When to send a request again, how long to wait, and how much retrying a client may do.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

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
            408 | 500 | 502 | 504 => is_idempotent(method) || self.retry_ambiguous_writes,
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

/// A token bucket shared by every call of a client: retries spend, successes refill, so a
/// failing service is not hammered by every caller retrying at once. AWS's defaults: 500
/// tokens, a retry costs 5, a retry after a timeout 10, a success gives 1 back.
#[derive(Clone)]
pub struct RetryBudget {
    state: Arc<BudgetState>,
}

/// Atomic, not behind a lock: every successful call of every task refills it, and a lock
/// here was contended between worker threads under load.
#[derive(Debug)]
struct BudgetState {
    capacity: u32,
    available: AtomicU32,
    retry_cost: u32,
    timeout_retry_cost: u32,
    success_refill: u32,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("available", &self.available())
            .field("capacity", &self.state.capacity)
            .finish()
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(500, 5, 10, 1)
    }
}

impl RetryBudget {
    pub fn new(
        capacity: u32,
        retry_cost: u32,
        timeout_retry_cost: u32,
        success_refill: u32,
    ) -> Self {
        Self {
            state: Arc::new(BudgetState {
                capacity,
                available: AtomicU32::new(capacity),
                retry_cost,
                timeout_retry_cost,
                success_refill,
            }),
        }
    }

    /// A budget that never runs out.
    pub fn unlimited() -> Self {
        Self::new(u32::MAX, 0, 0, 0)
    }

    pub fn available(&self) -> u32 {
        self.state.available.load(Ordering::Relaxed)
    }

    pub(crate) fn try_spend(&self, after_timeout: bool) -> bool {
        let cost = if after_timeout {
            self.state.timeout_retry_cost
        } else {
            self.state.retry_cost
        };
        self.state
            .available
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |available| {
                available.checked_sub(cost)
            })
            .is_ok()
    }

    pub(crate) fn refill(&self) {
        let state = &self.state;
        // The common case, a full bucket, reads without writing the shared cache line.
        if state.available.load(Ordering::Relaxed) >= state.capacity {
            return;
        }
        let _ = state
            .available
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |available| {
                Some(
                    available
                        .saturating_add(state.success_refill)
                        .min(state.capacity),
                )
            });
    }
}

/// Client-side pacing, e.g. Intune's 100 writes per 20 seconds per app: calls wait for a
/// slot instead of provoking 429s. Bursts up to `permits` pass at once, then calls are spaced
/// `per / permits` apart.
#[derive(Clone)]
pub struct RateLimit {
    permits: u32,
    per: Duration,
    writes_only: bool,
    next_free: Arc<Mutex<Option<Instant>>>,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("permits", &self.permits)
            .field("per", &self.per)
            .field("writes_only", &self.writes_only)
            .finish()
    }
}

impl RateLimit {
    /// At most `permits` requests per `per`, whatever their method.
    pub fn all(permits: u32, per: Duration) -> Self {
        Self {
            permits: permits.max(1),
            per,
            writes_only: false,
            next_free: Arc::default(),
        }
    }

    /// At most `permits` writes (POST, PATCH, PUT, DELETE) per `per`; reads pass.
    pub fn writes(permits: u32, per: Duration) -> Self {
        Self {
            writes_only: true,
            ..Self::all(permits, per)
        }
    }

    /// Intune's published per-app write limit: 100 per 20 seconds.
    pub fn intune_writes() -> Self {
        Self::writes(100, Duration::from_secs(20))
    }

    pub fn permits(&self) -> u32 {
        self.permits
    }

    pub fn period(&self) -> Duration {
        self.per
    }

    /// How long draining `requests` writes takes at this pace from an idle start.
    pub fn drain_time(&self, requests: u64) -> Duration {
        let beyond_burst = requests.saturating_sub(u64::from(self.permits));
        self.interval().mul_f64(beyond_burst as f64)
    }

    fn interval(&self) -> Duration {
        self.per / self.permits
    }

    pub(crate) fn applies_to(&self, method: &Method) -> bool {
        !self.writes_only || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
    }

    /// Takes a slot and says how long to wait for it (GCRA).
    #[cfg(test)]
    pub(crate) fn reserve(&self, now: Instant) -> Duration {
        self.reserve_within(now, Duration::MAX)
            .unwrap_or(Duration::MAX)
    }

    /// Takes a slot if it is free within `most` and says how long to wait for it; takes none
    /// (`None`) when the wait would be longer, so a call that gives up costs no slot.
    pub(crate) fn reserve_within(&self, now: Instant, most: Duration) -> Option<Duration> {
        let mut next_free = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        let interval = self.interval();
        let burst = self.per.saturating_sub(interval);
        let theoretical = next_free.map_or(now, |t| t.max(now));
        let earliest = theoretical.checked_sub(burst).unwrap_or(now);
        let wait = earliest.saturating_duration_since(now);
        if wait > most {
            return None;
        }
        *next_free = Some(theoretical + interval);
        Some(wait)
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

    #[test]
    fn the_budget_stops_retries_and_successes_refill_it() {
        let budget = RetryBudget::new(10, 5, 10, 1);
        assert!(budget.try_spend(false));
        assert!(budget.try_spend(false));
        assert!(!budget.try_spend(false), "empty");
        budget.refill();
        budget.refill();
        budget.refill();
        budget.refill();
        assert!(!budget.try_spend(false), "4 < 5");
        budget.refill();
        assert!(budget.try_spend(false));
        assert!(!budget.try_spend(true), "a timeout retry costs more");
    }

    #[test]
    fn the_rate_limit_lets_a_burst_through_then_paces() {
        let limit = RateLimit::writes(4, Duration::from_secs(20));
        let start = Instant::now();
        for _ in 0..4 {
            assert_eq!(limit.reserve(start), Duration::ZERO);
        }
        assert_eq!(limit.reserve(start), Duration::from_secs(5));
        assert_eq!(limit.reserve(start), Duration::from_secs(10));
        assert_eq!(
            limit.reserve(start + Duration::from_secs(60)),
            Duration::ZERO,
            "idle time refills"
        );
        assert!(!limit.applies_to(&Method::GET));
        assert!(limit.applies_to(&Method::POST));
        assert_eq!(
            RateLimit::intune_writes().drain_time(1100),
            Duration::from_secs(200)
        );
    }
}
