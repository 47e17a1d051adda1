//! The state every request shares.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::EmulatorConfig;
use crate::faults::Faults;
use crate::store::Store;
use crate::tokens::Tokens;

/// Requests received and tokens issued (faults count themselves: [`Faults::injected`]).
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    tokens: AtomicU64,
}

impl Counters {
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub fn token_issued(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }
}

/// State shared by every request.
#[derive(Debug)]
pub struct Shared {
    pub config: EmulatorConfig,
    pub store: Store,
    pub tokens: Tokens,
    pub stats: Counters,
    pub faults: Faults,
    /// `http://127.0.0.1:PORT`, what [`Emulator::url`](crate::Emulator::url) returns without
    /// its final `/`: the one origin of every absolute link and of the token URL assertions
    /// are minted for. Never taken from a request's `Host` header, which any client can forge.
    pub origin: String,
}
