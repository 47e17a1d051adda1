//! Injected faults (seeded), Intune's per-app request limits, and the answers both send in
//! place of the service's.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::sync::watch;

use crate::answer::{adobe_error_response, graph_error};
use crate::config::{Fault, FaultConfig};
use crate::request::Ctx;

/// Which API a fault answer must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Graph,
    Adobe,
}

/// Everything that can fail a request the service would otherwise admit, and how often it did.
#[derive(Debug)]
pub struct Faults {
    injector: Injector,
    limits: Option<IntuneLimits>,
    /// Faults injected, Intune-limit 429s included.
    injected: AtomicU64,
    /// A delayed or hanging request ends when this turns true.
    shutdown: watch::Receiver<bool>,
}

impl Faults {
    pub fn new(config: &FaultConfig, seed: u64, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            injector: Injector::new(config, seed),
            limits: config.intune_limits.then(IntuneLimits::intune),
            injected: AtomicU64::new(0),
            shutdown,
        }
    }

    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Counts one Graph request of `app` against Intune's limits, when they are enforced;
    /// `Err` is the 429 to send instead.
    #[allow(clippy::result_large_err, reason = "the error is the finished answer")]
    pub fn admit(&self, ctx: &Ctx, app: &str, write: bool) -> Result<(), Response> {
        let Some(limits) = &self.limits else {
            return Ok(());
        };
        limits.admit(app, write).map_err(|wait| {
            self.injected.fetch_add(1, Ordering::Relaxed);
            throttled(ctx, Api::Graph, Some(wait))
        })
    }

    /// Draws a fault for an authenticated API request: `Some` answer to send instead, or
    /// `None` to go on (after any injected delay). A hang lasts until the client gives up or
    /// shutdown. Callers check credentials first, so a client with bad ones is never made to
    /// wait.
    pub async fn inject(&self, ctx: &Ctx, api: Api) -> Option<Response> {
        let Decision::Fault(fault) = self.injector.decide() else {
            return None;
        };
        self.injected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?fault, request_id = %ctx.request_id, "injecting a fault");
        match fault {
            Fault::Delay(delay) => {
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    () = tokio::time::sleep(delay) => None,
                    _ = shutdown.wait_for(|stop| *stop) => Some(unavailable(ctx, api)),
                }
            }
            Fault::Hang => {
                let mut shutdown = self.shutdown.clone();
                let _ = shutdown.wait_for(|stop| *stop).await;
                Some(unavailable(ctx, api))
            }
            Fault::Throttle { retry_after } => Some(throttled(ctx, api, retry_after)),
            Fault::Unavailable => Some(unavailable(ctx, api)),
            Fault::GatewayTimeout => Some(answer(
                ctx,
                api,
                StatusCode::GATEWAY_TIMEOUT,
                (
                    "gatewayTimeout",
                    "The gateway did not receive a timely response from the service (injected by the emulator).",
                ),
                (
                    "Gateway Timeout",
                    "the gateway did not receive a timely response (injected by the emulator)",
                ),
            )),
        }
    }
}

/// The answer of `status` in the shape of `api`: Graph's `ODataError` (code, message) or
/// Adobe's `ErrorResponse` (reason, message).
fn answer(
    ctx: &Ctx,
    api: Api,
    status: StatusCode,
    (code, graph_message): (&str, &str),
    (reason, adobe_message): (&str, &str),
) -> Response {
    match api {
        Api::Graph => graph_error(ctx, status, code, graph_message),
        Api::Adobe => adobe_error_response(status, reason, adobe_message),
    }
}

fn throttled(ctx: &Ctx, api: Api, retry_after: Option<u64>) -> Response {
    let mut response = answer(
        ctx,
        api,
        StatusCode::TOO_MANY_REQUESTS,
        (
            "TooManyRequests",
            "Too many requests. Please retry after the time given in Retry-After, or back off.",
        ),
        ("Too Many Requests", "too many requests; retry later"),
    );
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn unavailable(ctx: &Ctx, api: Api) -> Response {
    answer(
        ctx,
        api,
        StatusCode::SERVICE_UNAVAILABLE,
        (
            "serviceNotAvailable",
            "The service is temporarily unavailable (injected by the emulator).",
        ),
        (
            "Service Unavailable",
            "the service is temporarily unavailable (injected by the emulator)",
        ),
    )
}

/// What fault injection decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Proceed,
    Fault(Fault),
}

/// The seeded fault picker.
#[derive(Debug)]
struct Injector {
    rate: f64,
    kinds: Vec<Fault>,
    rng: Mutex<fastrand::Rng>,
}

impl Injector {
    fn new(config: &FaultConfig, seed: u64) -> Self {
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
    fn decide(&self) -> Decision {
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
struct IntuneLimits {
    window: Duration,
    writes: usize,
    all: usize,
    apps: Mutex<Windows>,
}

impl IntuneLimits {
    /// 100 writes and 1000 requests per 20 seconds per app.
    fn intune() -> Self {
        Self {
            window: Duration::from_secs(20),
            writes: 100,
            all: 1000,
            apps: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `app`, or answers how many seconds to wait.
    fn admit(&self, app: &str, write: bool) -> Result<(), u64> {
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
