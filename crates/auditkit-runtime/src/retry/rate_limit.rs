use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;

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

    /// How many requests may pass per [`RateLimit::period`] (at least 1).
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// The span of time [`RateLimit::permits`] refers to.
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
