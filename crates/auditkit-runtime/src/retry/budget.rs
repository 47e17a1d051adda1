use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A token bucket shared by every call of a client: retries spend, successes refill, so a
/// failing service is not hammered by every caller retrying at once. AWS's defaults: 500
/// tokens, a retry costs 5, a retry after a timeout 10, a success gives 1 back.
#[derive(Clone)]
pub struct RetryBudget {
    state: Arc<BudgetState>,
}

/// Atomic, not behind a lock: every successful call of every task refills it, and a lock
/// here was contended between worker threads under load.
#[derive(Debug)]
struct BudgetState {
    capacity: u32,
    available: AtomicU32,
    retry_cost: u32,
    timeout_retry_cost: u32,
    success_refill: u32,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("available", &self.available())
            .field("capacity", &self.state.capacity)
            .finish()
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(500, 5, 10, 1)
    }
}

impl RetryBudget {
    /// A full bucket of `capacity` tokens: a retry costs `retry_cost`, a retry after a timeout
    /// `timeout_retry_cost`, and a successful call gives `success_refill` back (never past
    /// `capacity`).
    pub fn new(
        capacity: u32,
        retry_cost: u32,
        timeout_retry_cost: u32,
        success_refill: u32,
    ) -> Self {
        Self {
            state: Arc::new(BudgetState {
                capacity,
                available: AtomicU32::new(capacity),
                retry_cost,
                timeout_retry_cost,
                success_refill,
            }),
        }
    }

    /// A budget that never runs out.
    pub fn unlimited() -> Self {
        Self::new(u32::MAX, 0, 0, 0)
    }

    /// The tokens left at this moment; other calls sharing the budget change it at any time.
    pub fn available(&self) -> u32 {
        self.state.available.load(Ordering::Relaxed)
    }

    pub(crate) fn try_spend(&self, after_timeout: bool) -> bool {
        let cost = if after_timeout {
            self.state.timeout_retry_cost
        } else {
            self.state.retry_cost
        };
        self.state
            .available
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |available| {
                available.checked_sub(cost)
            })
            .is_ok()
    }

    pub(crate) fn refill(&self) {
        let state = &self.state;
        // The common case, a full bucket, reads without writing the shared cache line.
        if state.available.load(Ordering::Relaxed) >= state.capacity {
            return;
        }
        let _ = state
            .available
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |available| {
                Some(
                    available
                        .saturating_add(state.success_refill)
                        .min(state.capacity),
                )
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_stops_retries_and_successes_refill_it() {
        let budget = RetryBudget::new(10, 5, 10, 1);
        assert!(budget.try_spend(false));
        assert!(budget.try_spend(false));
        assert!(!budget.try_spend(false), "empty");
        budget.refill();
        budget.refill();
        budget.refill();
        budget.refill();
        assert!(!budget.try_spend(false), "4 < 5");
        budget.refill();
        assert!(budget.try_spend(false));
        assert!(!budget.try_spend(true), "a timeout retry costs more");
    }
}
