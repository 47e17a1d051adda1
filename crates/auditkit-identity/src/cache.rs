//! The one token cache every provider uses.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use auditkit_runtime::{AuthError, Clock, SystemClock};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::token::{Token, TokenSource};

/// Refresh no earlier than this before expiry, however long the token lives.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Which token: the same client asking the same authority for the same scope shares one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The token endpoint's URL (for a managed identity, without its query).
    pub authority: String,
    /// The application's client id; `system-assigned` for a system-assigned managed identity.
    pub client_id: String,
    /// What the token is for: the scope asked (IMS scopes comma-joined), or a managed
    /// identity's resource.
    pub scope: String,
}

impl TokenKey {
    pub(crate) fn new(authority: &str, client_id: &str, scope: String) -> Self {
        Self {
            authority: authority.to_owned(),
            client_id: client_id.to_owned(),
            scope,
        }
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            // The authority is a URL, which may carry a password or a query.
            .field(
                "authority",
                &auditkit_runtime::security::redact_text(&self.authority),
            )
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Access tokens by (authority, client, scope). Refreshes a token when less than
/// min(5 minutes, half its lifetime) remains (minus a little jitter, so many processes do not
/// refresh in step); lets exactly one request per key fetch while concurrent callers wait for
/// it; keeps serving a still-valid token when a refresh fails transiently. Clones share
/// entries, so one cache can serve many clients.
#[derive(Clone)]
pub struct TokenCache {
    clock: Arc<dyn Clock>,
    slots: Arc<Mutex<HashMap<TokenKey, Arc<Slot>>>>,
}

/// One key's entry. A credential keeps its own `Arc` so a call does not lock the map.
#[derive(Default)]
pub(crate) struct Slot {
    current: RwLock<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Cached {
    token: SecretString,
    bearer: Option<HeaderValue>,
    refresh_at: Instant,
    expires_at: Instant,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<TokenKey> = self
            .slots
            .lock()
            .map(|slots| slots.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("TokenCache")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    /// An empty cache on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A cache reading time from `clock` (tests move a `ManualClock` instead of sleeping).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            slots: Arc::default(),
        }
    }

    /// The token of `source`, whose entry is `slot` (from [`TokenCache::slot`]).
    pub(crate) async fn token(
        &self,
        slot: &Slot,
        source: &dyn TokenSource,
    ) -> Result<SecretString, AuthError> {
        self.current(slot, source, |cached| cached.token.clone())
            .await
    }

    /// `Bearer <token>` as a sensitive header value, made once per token rather than once per
    /// request; `None` when the token holds characters a header cannot carry.
    pub(crate) async fn bearer(
        &self,
        slot: &Slot,
        source: &dyn TokenSource,
    ) -> Result<Option<HeaderValue>, AuthError> {
        self.current(slot, source, |cached| cached.bearer.clone())
            .await
    }

    /// `read` of the current token of `source`, fetched first when it is due.
    async fn current<T>(
        &self,
        slot: &Slot,
        source: &dyn TokenSource,
        read: impl Fn(&Cached) -> T,
    ) -> Result<T, AuthError> {
        let fresh = |cached: &Cached, now: Instant| now < cached.refresh_at;
        if let Some(value) = slot.usable(self.clock.now(), fresh, &read) {
            return Ok(value);
        }
        let _only_fetcher = slot.fetching.lock().await;
        // Whoever held the lock before us may have just refreshed it.
        if let Some(value) = slot.usable(self.clock.now(), fresh, &read) {
            return Ok(value);
        }
        match source.fetch().await {
            Ok(token) => {
                let cached = self.schedule(token);
                let value = read(&cached);
                *slot.current.write().unwrap_or_else(|p| p.into_inner()) = Some(cached);
                Ok(value)
            }
            Err(error) if error.is_transient() => {
                let valid = |cached: &Cached, now: Instant| now < cached.expires_at;
                match slot.usable(self.clock.now(), valid, &read) {
                    Some(value) => {
                        tracing::warn!(error = %error, "token refresh failed; the current token is still valid and stays in use");
                        Ok(value)
                    }
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The entry of `key`, created on first use and kept for the cache's life, so clients
    /// sharing the cache share it.
    pub(crate) fn slot(&self, key: TokenKey) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key).or_default().clone()
    }

    fn schedule(&self, token: Token) -> Cached {
        let now = self.clock.now();
        let lifetime = token.lifetime;
        let margin = MAX_REFRESH_MARGIN.min(lifetime / 2);
        let jitter = margin.mul_f64(fastrand::f64() * 0.1);
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", token.secret.expose_secret())).ok();
        if let Some(value) = &mut bearer {
            value.set_sensitive(true);
        }
        Cached {
            token: token.secret,
            bearer,
            refresh_at: now + (lifetime - margin - jitter),
            expires_at: now + lifetime,
        }
    }
}

impl Slot {
    /// Forgets the token if it is still `used`: a newer token is kept.
    pub(crate) fn invalidate(&self, used: &str) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current
            .as_ref()
            .is_some_and(|cached| cached.token.expose_secret() == used)
        {
            *current = None;
        }
    }

    fn usable<T>(
        &self,
        now: Instant,
        fresh_enough: impl Fn(&Cached, Instant) -> bool,
        read: impl Fn(&Cached) -> T,
    ) -> Option<T> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|cached| fresh_enough(cached, now))
            .map(read)
    }
}
