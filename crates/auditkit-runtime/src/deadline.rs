//! One deadline per operation: the whole call — waiting for the client-side rate limit,
//! fetching credentials, every attempt and every backoff — ends when it passes.

use std::time::{Duration, Instant};

use crate::Clock;

pub(crate) struct Deadline<'a> {
    at: Instant,
    clock: &'a dyn Clock,
}

impl<'a> Deadline<'a> {
    /// `budget` from now, on `clock` (an injected clock in tests).
    pub(crate) fn after(clock: &'a dyn Clock, budget: Duration) -> Self {
        Self {
            at: clock.now() + budget,
            clock,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The time left; zero once it passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(self.clock.now())
    }

    /// Whether waiting `wait` from now would still leave time to act.
    pub(crate) fn allows(&self, wait: Duration) -> bool {
        self.clock.now() + wait < self.at
    }

    /// `future`'s output, or `None` when the time left ran out first. The wait itself is on
    /// tokio's timer: only real I/O (a token request) is bounded this way.
    pub(crate) async fn bound<F: Future>(&self, future: F) -> Option<F::Output> {
        tokio::time::timeout(self.remaining(), future).await.ok()
    }
}
