use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where token expiry (and, later, backoff) reads the time, so tests can move it by hand
/// instead of sleeping. `tokio::time::pause` is no substitute: it stops reqwest's own timers.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant, as this clock tells it.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// Waits between attempts. Injected so tests record the waits instead of sleeping.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Waits `duration`: the future completes when the wait is over (at once for a
    /// [`ManualClock`], which only records it).
    fn sleep(&self, duration: Duration) -> crate::BoxFuture<'static, ()>;
}

/// Sleeps on tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> crate::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to; clones share the same time. As a [`Sleeper`] it
/// returns at once, moves itself forward by the wait and remembers it, so a test sees every
/// backoff without waiting for it.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<Instant>>,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl ManualClock {
    /// A clock that starts at the real current instant, with no wait recorded.
    pub fn new() -> Self {
        Self {
            now: Arc::new(Mutex::new(Instant::now())),
            slept: Arc::default(),
        }
    }

    /// Moves this clock, and every clone of it, forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl ManualClock {
    /// Every wait asked of this clock as a sleeper, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.slept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) -> crate::BoxFuture<'static, ()> {
        self.slept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(duration);
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
