//! Injected faults (seeded) and Intune's per-app request limits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{Fault, FaultConfig};

/// What fault injection decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Proceed,
    Fault(Fault),
}

/// The seeded fault picker.
#[derive(Debug)]
pub struct Injector {
    rate: f64,
    kinds: Vec<Fault>,
    rng: Mutex<fastrand::Rng>,
}

impl Injector {
    pub fn new(config: &FaultConfig, seed: u64) -> Self {
        let kinds = if config.kinds.is_empty() {
            vec![
                Fault::Throttle {
                    retry_after: Some(1),
                },
                Fault::Unavailable,
                Fault::GatewayTimeout,
            ]
        } else {
            config.kinds.clone()
        };
        let rate = if config.rate.is_finite() {
            config.rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            rate,
            kinds,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    /// One draw per API request, in arrival order.
    pub fn decide(&self) -> Decision {
        if self.rate <= 0.0 {
            return Decision::Proceed;
        }
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rng.f64() >= self.rate {
            return Decision::Proceed;
        }
        match self.kinds.get(rng.usize(..self.kinds.len())) {
            Some(fault) => Decision::Fault(fault.clone()),
            None => Decision::Proceed,
        }
    }
}

/// Per app: the times of its recent writes and of all its recent requests.
type Windows = HashMap<String, (VecDeque<Instant>, VecDeque<Instant>)>;

/// Intune's published per-app limits, as sliding windows.
#[derive(Debug)]
pub struct IntuneLimits {
    window: Duration,
    writes: usize,
    all: usize,
    apps: Mutex<Windows>,
}

impl IntuneLimits {
    /// 100 writes and 1000 requests per 20 seconds per app.
    pub fn intune() -> Self {
        Self {
            window: Duration::from_secs(20),
            writes: 100,
            all: 1000,
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `app`, or answers how many seconds to wait.
    pub fn admit(&self, app: &str, write: bool) -> Result<(), u64> {
        let now = Instant::now();
        let mut apps = self
            .apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (writes, all) = apps.entry(app.to_owned()).or_default();
        for queue in [&mut *writes, &mut *all] {
            while queue
                .front()
                .is_some_and(|&at| now.duration_since(at) >= self.window)
            {
                queue.pop_front();
            }
        }
        let wait = |queue: &VecDeque<Instant>| {
            let oldest = queue.front().copied().unwrap_or(now);
            let left = self.window.saturating_sub(now.duration_since(oldest));
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        };
        if all.len() >= self.all {
            return Err(wait(all).max(1));
        }
        if write && writes.len() >= self.writes {
            return Err(wait(writes).max(1));
        }
        all.push_back(now);
        if write {
            writes.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let config = FaultConfig {
            rate: 0.5,
            kinds: vec![Fault::Unavailable, Fault::Throttle { retry_after: None }],
            intune_limits: false,
        };
        let draw = |seed| {
            let injector = Injector::new(&config, seed);
            (0..100).map(|_| injector.decide()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        let faults = draw(42).iter().filter(|d| **d != Decision::Proceed).count();
        assert!((20..80).contains(&faults), "{faults}");
    }

    #[test]
    fn limits_writes_and_all_requests_per_app() {
        let limits = IntuneLimits::intune();
        for _ in 0..100 {
            assert!(limits.admit("a", true).is_ok());
        }
        let wait = limits.admit("a", true).unwrap_err();
        assert!((1..=20).contains(&wait));
        assert!(limits.admit("a", false).is_ok());
        assert!(limits.admit("b", true).is_ok());
        for _ in 0..999 {
            assert!(limits.admit("c", false).is_ok());
        }
        assert!(limits.admit("c", false).is_ok());
        assert!(limits.admit("c", false).is_err());
    }
}
