//! [`ShipperBuilder`]: the shipper's options and their defaults, and opening the spool.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auditkit::RateLimit;

use super::spool::Spool;
use super::state::Shared;
use super::{Destination, Durability, Handle, Inner, ShipError, Shipper, WhenFull, deliver};

/// [`ShipperBuilder::max_attempts`] by default.
const DEFAULT_MAX_ATTEMPTS: u32 = 20;
/// [`ShipperBuilder::max_age`] by default.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Builds a [`Shipper`]; see [`Shipper::builder`].
#[must_use]
pub struct ShipperBuilder<D: Destination> {
    pub(super) destination: D,
    pub(super) path: PathBuf,
    pub(super) config: Config,
}

#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) durability: Durability,
    pub(super) capacity: u64,
    pub(super) when_full: WhenFull,
    pub(super) concurrency: usize,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) max_attempts: u32,
    pub(super) max_age: Duration,
    pub(super) jitter_seed: Option<u64>,
    pub(super) rate_limit: Option<RateLimit>,
    pub(super) stats_interval: Duration,
    pub(super) start_paused: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            capacity: 100_000,
            when_full: WhenFull::Wait,
            concurrency: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_age: DEFAULT_MAX_AGE,
            jitter_seed: None,
            rate_limit: None,
            stats_interval: Duration::from_secs(60),
            start_paused: false,
        }
    }
}

impl<D: Destination> fmt::Debug for ShipperBuilder<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShipperBuilder")
            .field("destination", &self.destination)
            .field("path", &self.path)
            .field("config", &self.config)
            .finish()
    }
}

impl<D: Destination> ShipperBuilder<D> {
    /// [`Durability::Full`] by default.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.config.durability = durability;
        self
    }

    /// The most events the spool holds (dead letters not counted); 100,000 by default.
    pub fn capacity(mut self, events: u64) -> Self {
        self.config.capacity = events.max(1);
        self
    }

    /// [`WhenFull::Wait`] by default.
    pub fn when_full(mut self, when_full: WhenFull) -> Self {
        self.config.when_full = when_full;
        self
    }

    /// Deliveries under way at once; 8 by default.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.config.concurrency = workers.max(1);
        self
    }

    /// The wait before an event that failed by its own answer is tried again: `initial`,
    /// doubling per attempt up to `max`, with jitter (half to all of it); other events go on
    /// meanwhile. A longer `Retry-After` wins but is also capped at `max`, so one hint of
    /// hours cannot park the spool: the event is tried again, and throttled again if the
    /// service still means it. 1 s to 60 s by default.
    ///
    /// The same backoff, counted in service-wide failures in a row, pauses every delivery
    /// after a failure that is not the event's (network, credentials, throttling); a
    /// `Retry-After` pauses them for just that long (at most `max`).
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.initial_backoff = initial;
        self.config.max_backoff = max.max(initial);
        self
    }

    /// After this many attempts (see "What counts as an attempt" in the [module
    /// documentation](super)) an event is moved to the dead letters with its last answer;
    /// 20 by default (about a quarter of an hour of its own failures at the default
    /// backoff). At least 1: with 1, the first failure of its own dead-letters an event.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts.max(1);
        self
    }

    /// An event that fails by its own answer this long after its first such failure is moved
    /// to the dead letters, whatever its count of attempts; 24 hours by default. Time spent
    /// waiting out failures that are not the event's (an outage, throttling) before its
    /// first own failure does not count.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.config.max_age = age;
        self
    }

    /// Makes the backoff jitter repeatable.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.config.jitter_seed = Some(seed);
        self
    }

    /// The client-side limit the facade client was built with (pacing is the client's job);
    /// the shipper uses it for [`Shipper::expected_drain_time`].
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.rate_limit = Some(limit);
        self
    }

    /// How often the counters are logged; 60 s by default.
    pub fn stats_interval(mut self, interval: Duration) -> Self {
        self.config.stats_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Opens the spool without delivering until [`Shipper::resume`].
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.config.start_paused = paused;
        self
    }

    /// Opens (or creates) the spool and starts delivering what it holds. Must run inside a
    /// tokio runtime.
    pub async fn open(self) -> Result<Shipper<D>, ShipError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShipError::NoRuntime)?;
        let shared = Arc::new(Shared::new(self.config.capacity));
        let (spool, opened) = Spool::open(
            self.path.clone(),
            self.config.durability,
            D::KIND,
            shared.clone(),
        )
        .await?;
        shared.opened(opened.spooled, opened.dead_letters);
        if opened.spooled > 0 {
            tracing::info!(
                target: "auditkit::ship",
                spooled = opened.spooled,
                dead_letters = opened.dead_letters,
                "spool reopened; delivering what a previous shipper left (events that were in flight may be delivered twice)"
            );
        }
        let inner = Arc::new(Inner {
            rng: Mutex::new(match self.config.jitter_seed {
                Some(seed) => fastrand::Rng::with_seed(seed),
                None => fastrand::Rng::new(),
            }),
            paused: AtomicBool::new(self.config.start_paused),
            stop: AtomicBool::new(false),
            destination: self.destination,
            path: self.path,
            config: self.config,
            shared,
            spool,
        });
        let dispatcher = runtime.spawn(deliver::dispatch(inner.clone()));
        let reporter = runtime.spawn(deliver::report(inner.clone()));
        Ok(Shipper {
            inner: inner.clone(),
            handle: Arc::new(Handle {
                inner,
                tasks: Mutex::new(Some((dispatcher, reporter))),
            }),
        })
    }
}
