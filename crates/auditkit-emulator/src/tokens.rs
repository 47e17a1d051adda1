//! The opaque bearer tokens both token endpoints issue, and how a request's token is checked.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Which API a token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Graph,
    Adobe,
}

#[derive(Debug)]
struct Issued {
    audience: Audience,
    client_id: String,
    expires: Instant,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Unknown,
    Expired,
}

/// How long an expired token is still known, so its bearer is told it expired rather than
/// that the emulator never issued it.
const EXPIRED_KEPT_FOR: Duration = Duration::from_secs(3600);

/// Issued tokens, by their text, at most `capacity` of them.
///
/// Every token has the same lifetime, so issue order is expiry order: the oldest token is
/// always at the front of `order`, and forgetting expired ones is a pop per token (amortised
/// O(1) per issue), never a scan. `check` is one map lookup.
pub struct Tokens {
    lifetime: Duration,
    capacity: usize,
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    by_text: HashMap<String, Issued>,
    /// The same tokens, oldest first.
    order: VecDeque<String>,
}

impl std::fmt::Debug for Tokens {
    /// Counts only: token texts are bearer secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("lifetime", &self.lifetime)
            .field("capacity", &self.capacity)
            .field("kept", &self.len())
            .finish()
    }
}

impl Tokens {
    /// Tokens valid for `lifetime`; past `capacity` (at least 1) the oldest is forgotten.
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            lifetime,
            capacity: capacity.max(1),
            state: Mutex::new(TokenState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many tokens are kept now.
    pub fn len(&self) -> usize {
        self.lock().by_text.len()
    }

    /// A new random opaque token.
    pub fn issue(&self, audience: Audience, client_id: &str) -> String {
        self.issue_at(audience, client_id, Instant::now())
    }

    /// [`Tokens::issue`] at `now`: forgets the tokens that expired long enough ago, then the
    /// oldest while the store is full, so a client fetching a token per request (or an
    /// attacker) cannot grow it without bound.
    fn issue_at(&self, audience: Audience, client_id: &str, now: Instant) -> String {
        let mut random = [0u8; 32];
        random[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        random[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let prefix = match audience {
            Audience::Graph => "emu-graph.",
            Audience::Adobe => "emu-ims.",
        };
        let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random));
        let mut state = self.lock();
        let TokenState { by_text, order } = &mut *state;
        while let Some(oldest) = order.front() {
            let forgettable = by_text
                .get(oldest)
                .is_none_or(|old| old.expires + EXPIRED_KEPT_FOR <= now);
            if !forgettable && order.len() < self.capacity {
                break;
            }
            if let Some(oldest) = order.pop_front() {
                by_text.remove(&oldest);
            }
        }
        by_text.insert(
            token.clone(),
            Issued {
                audience,
                client_id: client_id.to_owned(),
                expires: now + self.lifetime,
            },
        );
        order.push_back(token.clone());
        token
    }

    /// The client id a valid token was issued to.
    pub fn check(&self, headers: &HeaderMap, audience: Audience) -> Result<String, TokenProblem> {
        self.check_at(headers, audience, Instant::now())
    }

    fn check_at(
        &self,
        headers: &HeaderMap,
        audience: Audience,
        now: Instant,
    ) -> Result<String, TokenProblem> {
        let token = bearer(headers).ok_or(TokenProblem::Missing)?;
        let state = self.lock();
        let found = state
            .by_text
            .get(token)
            .filter(|found| found.audience == audience)
            .ok_or(TokenProblem::Unknown)?;
        if found.expires <= now {
            return Err(TokenProblem::Expired);
        }
        Ok(found.client_id.clone())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer_headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    #[test]
    fn keeps_at_most_capacity_tokens_forgetting_the_oldest() {
        let tokens = Tokens::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        let issued: Vec<String> = (0..5)
            .map(|_| tokens.issue_at(Audience::Graph, "app", now))
            .collect();
        assert_eq!(tokens.len(), 3);
        assert_eq!(tokens.lock().order.len(), 3);
        for evicted in &issued[..2] {
            let problem = tokens.check_at(&bearer_headers(evicted), Audience::Graph, now);
            assert_eq!(problem, Err(TokenProblem::Unknown));
        }
        for kept in &issued[2..] {
            let app = tokens.check_at(&bearer_headers(kept), Audience::Graph, now);
            assert_eq!(app.as_deref(), Ok("app"));
        }
    }

    #[test]
    fn expired_tokens_are_told_expired_then_forgotten_without_a_scan() {
        let lifetime = Duration::from_secs(60);
        let tokens = Tokens::new(lifetime, 1000);
        let start = Instant::now();
        let first = tokens.issue_at(Audience::Adobe, "app", start);
        let second = tokens.issue_at(Audience::Adobe, "app", start + Duration::from_secs(30));
        let expired = start + lifetime;
        assert_eq!(
            tokens.check_at(&bearer_headers(&first), Audience::Adobe, expired),
            Err(TokenProblem::Expired)
        );
        assert_eq!(
            tokens
                .check_at(&bearer_headers(&second), Audience::Adobe, expired)
                .as_deref(),
            Ok("app")
        );
        // an hour after its expiry, the next issue forgets the first token only
        let later = expired + EXPIRED_KEPT_FOR;
        let third = tokens.issue_at(Audience::Adobe, "app", later);
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens.check_at(&bearer_headers(&first), Audience::Adobe, later),
            Err(TokenProblem::Unknown)
        );
        assert_eq!(
            tokens.check_at(&bearer_headers(&second), Audience::Adobe, later),
            Err(TokenProblem::Expired)
        );
        assert!(
            tokens
                .check_at(&bearer_headers(&third), Audience::Adobe, later)
                .is_ok()
        );
        // a token for one API opens no other
        assert_eq!(
            tokens.check_at(&bearer_headers(&third), Audience::Graph, later),
            Err(TokenProblem::Unknown)
        );
        assert!(!format!("{tokens:?}").contains(&third));
    }
}
