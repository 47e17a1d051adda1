//! What the emulator is started with: address, store, seed data, faults, credentials.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The largest page Graph serves, and so the largest `$top` and page size accepted.
pub const MAX_PAGE_SIZE: usize = 1000;

/// How many issued tokens are kept by default: far more than clients that cache their token
/// hold at once, few enough that a client fetching one per request cannot exhaust memory.
const DEFAULT_MAX_TOKENS: usize = 10_000;

/// How an [`Emulator`](crate::Emulator) is started. Builder-style; [`EmulatorConfig::new`]
/// binds `127.0.0.1:0` (a free port), keeps events in memory, injects no faults, issues
/// tokens valid for an hour and serves pages of 100 events.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    pub(crate) bind: SocketAddr,
    pub(crate) db: Option<PathBuf>,
    pub(crate) seed_events: usize,
    pub(crate) rng_seed: Option<u64>,
    pub(crate) faults: FaultConfig,
    pub(crate) token_lifetime: Duration,
    pub(crate) max_tokens: usize,
    pub(crate) page_size: usize,
    pub(crate) credentials: EmulatorCredentials,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            db: None,
            seed_events: 0,
            rng_seed: None,
            faults: FaultConfig::default(),
            token_lifetime: Duration::from_secs(3600),
            max_tokens: DEFAULT_MAX_TOKENS,
            page_size: 100,
            credentials: EmulatorCredentials::default(),
        }
    }
}

impl EmulatorConfig {
    /// `127.0.0.1:0`, memory store, no faults, tokens for 3600 s, pages of 100.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on; port 0 picks a free port (see [`Emulator::url`](crate::Emulator::url)).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Keep events in this SQLite file, so they survive restarts.
    pub fn db(mut self, path: impl Into<PathBuf>) -> Self {
        self.db = Some(path.into());
        self
    }

    /// Fill the store with `n` realistic Graph audit events at start, if it is empty.
    pub fn seed_events(mut self, n: usize) -> Self {
        self.seed_events = n;
        self
    }

    /// The seed of seeding and fault injection; without it a random seed is picked and logged.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }

    /// Which faults to inject, how often, and whether to enforce Intune's request limits.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// How long an issued token stays valid.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// How many issued tokens are kept at once (default 10 000, at least 1). Issuing one
    /// more forgets the oldest, whose bearer then gets 401 as for a token never issued.
    pub fn max_tokens(mut self, n: usize) -> Self {
        self.max_tokens = n.max(1);
        self
    }

    /// The page size when `$top` is absent, clamped to `1..=1000` as Graph does.
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// The tenant, client ids and secrets the token endpoints accept.
    pub fn credentials(mut self, credentials: EmulatorCredentials) -> Self {
        self.credentials = credentials;
        self
    }
}

/// The identities the emulator's token endpoints accept.
///
/// The defaults are fixed, public development values: they are for the emulator only and
/// open nothing anywhere else. `Debug` shows the ids, never the secrets: a test may set
/// its own, and `Debug` output ends up in logs.
#[derive(Clone)]
pub struct EmulatorCredentials {
    /// The Entra ID tenant in the token path: `/{tenant}/oauth2/v2.0/token`.
    pub tenant: String,
    /// The client id the Entra ID token endpoint accepts, with a secret or a client assertion.
    pub graph_client_id: String,
    /// The client secret the Entra ID token endpoint accepts for `graph_client_id`.
    pub graph_client_secret: String,
    /// The client id the IMS token endpoint accepts, and the `x-api-key` the Adobe Audit
    /// Service requires.
    pub adobe_client_id: String,
    /// The client secret the IMS token endpoint accepts for `adobe_client_id`.
    pub adobe_client_secret: String,
    /// The Adobe organization id (`…@AdobeOrg`) for clients to use; the emulator reports it
    /// but does not check it.
    pub adobe_org_id: String,
}

impl std::fmt::Debug for EmulatorCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorCredentials")
            .field("tenant", &self.tenant)
            .field("graph_client_id", &self.graph_client_id)
            .field("graph_client_secret", &"<redacted>")
            .field("adobe_client_id", &self.adobe_client_id)
            .field("adobe_client_secret", &"<redacted>")
            .field("adobe_org_id", &self.adobe_org_id)
            .finish()
    }
}

impl Default for EmulatorCredentials {
    fn default() -> Self {
        Self {
            tenant: "emulator".to_owned(),
            graph_client_id: "00000000-0000-4000-8000-000000000001".to_owned(),
            graph_client_secret: "emulator-only-graph-secret".to_owned(),
            adobe_client_id: "emulator-adobe-client".to_owned(),
            adobe_client_secret: "emulator-only-adobe-secret".to_owned(),
            adobe_org_id: "EMULATOR0000000000000000@AdobeOrg".to_owned(),
        }
    }
}

/// Fault injection on the API routes, for authenticated requests only (never on the token
/// routes, and never before a 401).
#[derive(Clone, Debug, Default)]
pub struct FaultConfig {
    /// Share of authenticated API requests, `0..=1`, that get a fault.
    pub rate: f64,
    /// The faults to pick from, uniformly; empty means 429 (`Retry-After: 1`), 503 and 504.
    pub kinds: Vec<Fault>,
    /// Enforce Intune's per-app limits on Graph: 100 writes and 1000 requests per 20 s.
    pub intune_limits: bool,
}

/// One injected fault.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `TooManyRequests`, with `Retry-After` when given (seconds).
    Throttle {
        /// The `Retry-After` to send, in seconds; `None` sends no `Retry-After`.
        retry_after: Option<u64>,
    },
    /// 503 Service Unavailable.
    Unavailable,
    /// 504 Gateway Timeout.
    GatewayTimeout,
    /// Answer normally, after this long.
    Delay(Duration),
    /// Never answer (until the client gives up or the emulator shuts down).
    Hang,
}

/// A fault name that [`Fault::from_str`] does not know.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown fault {0:?}: expected 429, 429:SECONDS, 503, 504, delay:DURATION (250ms, 2s) or hang"
)]
pub struct ParseFaultError(String);

impl FromStr for Fault {
    type Err = ParseFaultError;

    /// `429`, `429:2` (Retry-After 2), `503`, `504`, `delay:250ms`, `delay:2s`, `hang`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseFaultError(text.to_owned());
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "429" => return Ok(Fault::Throttle { retry_after: None }),
            "503" => return Ok(Fault::Unavailable),
            "504" => return Ok(Fault::GatewayTimeout),
            "hang" => return Ok(Fault::Hang),
            _ => {}
        }
        if let Some(secs) = lower.strip_prefix("429:") {
            let secs = secs.parse().map_err(|_| bad())?;
            return Ok(Fault::Throttle {
                retry_after: Some(secs),
            });
        }
        if let Some(duration) = lower.strip_prefix("delay:") {
            return parse_duration(duration).map(Fault::Delay).ok_or_else(bad);
        }
        Err(bad())
    }
}

/// `250ms`, `2s`, `1m`, or bare milliseconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "ms"),
    };
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => number.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault_name() {
        assert_eq!(
            "429".parse::<Fault>().unwrap(),
            Fault::Throttle { retry_after: None }
        );
        assert_eq!(
            "429:2".parse::<Fault>().unwrap(),
            Fault::Throttle {
                retry_after: Some(2)
            }
        );
        assert_eq!("503".parse::<Fault>().unwrap(), Fault::Unavailable);
        assert_eq!("504".parse::<Fault>().unwrap(), Fault::GatewayTimeout);
        assert_eq!(
            "delay:250ms".parse::<Fault>().unwrap(),
            Fault::Delay(Duration::from_millis(250))
        );
        assert_eq!(
            "delay:2s".parse::<Fault>().unwrap(),
            Fault::Delay(Duration::from_secs(2))
        );
        assert_eq!("hang".parse::<Fault>().unwrap(), Fault::Hang);
        for bad in ["", "500", "429:x", "delay:", "delay:3h", "hang:1"] {
            assert!(bad.parse::<Fault>().is_err(), "{bad}");
        }
    }
}
