//! Counts and back-pressure shared by senders, workers and the spool thread. The spool thread
//! changes the counts only after a commit, so they follow what is durably in the file.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::{Notify, Semaphore, TryAcquireError};

use super::{ShipError, WhenFull};

/// What one committed transaction changed.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    pub(crate) appended: u64,
    pub(crate) acked: u64,
    pub(crate) dead_lettered: u64,
    pub(crate) requeued: u64,
    pub(crate) retried: u64,
    /// Deliveries whose outcome (ack, retry, dead letter) this commit recorded.
    pub(crate) ended: u64,
    /// `PRAGMA synchronous` read inside this transaction, when it recorded events.
    pub(crate) synchronous: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) spooled: AtomicI64,
    pub(crate) dead_letters: AtomicI64,
    pub(crate) in_flight: AtomicI64,
    pub(crate) delivered: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    /// Finished deliveries whose outcome the spool could not record yet (held in memory).
    pub(crate) unrecorded: AtomicU64,
    /// Failed attempts to record an outcome.
    pub(crate) record_failures: AtomicU64,
    /// Why deliveries paused last; cleared by an accepted delivery.
    pub(crate) last_pause: Mutex<Option<super::Pause>>,
    /// `PRAGMA synchronous` of the last commit that recorded events; -1 before the first.
    pub(crate) recorded_synchronous: AtomicI64,
    pub(crate) admission: Admission,
    /// The dispatcher's doorbell: new events, a finished worker, resume, stop.
    pub(crate) wake: Notify,
    /// Rung when events leave the spool (flush waits on it).
    pub(crate) progress: Notify,
}

impl Shared {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            spooled: AtomicI64::new(0),
            dead_letters: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            delivered: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            unrecorded: AtomicU64::new(0),
            record_failures: AtomicU64::new(0),
            last_pause: Mutex::new(None),
            recorded_synchronous: AtomicI64::new(-1),
            admission: Admission::new(capacity),
            wake: Notify::new(),
            progress: Notify::new(),
        }
    }

    /// Sets the counts from what a reopened spool holds.
    pub(crate) fn opened(&self, spooled: u64, dead_letters: u64) {
        self.spooled
            .store(i64::try_from(spooled).unwrap_or(i64::MAX), Ordering::SeqCst);
        self.dead_letters.store(
            i64::try_from(dead_letters).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
        self.admission.admit_over(spooled);
    }

    pub(crate) fn committed(&self, delta: Delta) {
        let added = delta.appended + delta.requeued;
        let removed = delta.acked + delta.dead_lettered;
        self.spooled
            .fetch_add(signed(added) - signed(removed), Ordering::SeqCst);
        self.dead_letters.fetch_add(
            signed(delta.dead_lettered) - signed(delta.requeued),
            Ordering::SeqCst,
        );
        self.dead_lettered
            .fetch_add(delta.dead_lettered, Ordering::SeqCst);
        self.delivered.fetch_add(delta.acked, Ordering::SeqCst);
        self.retried.fetch_add(delta.retried, Ordering::SeqCst);
        self.in_flight
            .fetch_sub(signed(delta.ended), Ordering::SeqCst);
        if let Some(level) = delta.synchronous {
            self.recorded_synchronous.store(level, Ordering::SeqCst);
        }
        self.admission.admit_over(delta.requeued);
        self.admission.release(removed);
        if added > 0 {
            self.wake.notify_one();
        }
        if removed > 0 {
            self.progress.notify_waiters();
        }
    }

    pub(crate) fn spooled(&self) -> u64 {
        u64::try_from(self.spooled.load(Ordering::SeqCst)).unwrap_or(0)
    }

    pub(crate) fn recorded_synchronous(&self) -> Option<i64> {
        let level = self.recorded_synchronous.load(Ordering::SeqCst);
        (level >= 0).then_some(level)
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// At most `capacity` events in the spool: a sender takes a permit, a commit that removes
/// events gives them back. Events admitted without a permit (re-queued dead letters, or more
/// than the capacity found at open) are a debt paid from the next releases.
#[derive(Debug)]
pub(crate) struct Admission {
    capacity: u64,
    permits: Semaphore,
    debt: Mutex<u64>,
}

impl Admission {
    fn new(capacity: u64) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            capacity,
            permits: Semaphore::new(usize::try_from(capacity).unwrap_or(Semaphore::MAX_PERMITS)),
            debt: Mutex::new(0),
        }
    }

    /// Permits for `n` events at once (all or none), for a batch recorded in one commit;
    /// forget them once the batch is handed to the spool thread. A batch larger than the
    /// capacity could never be admitted and is refused with [`ShipError::BatchTooLarge`].
    pub(crate) async fn acquire_many(
        &self,
        n: u64,
        when_full: WhenFull,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, ShipError> {
        let too_large = || ShipError::BatchTooLarge {
            events: n,
            capacity: self.capacity,
        };
        if n > self.capacity {
            return Err(too_large());
        }
        let n = u32::try_from(n).map_err(|_| too_large())?;
        match when_full {
            WhenFull::Wait => self
                .permits
                .acquire_many(n)
                .await
                .map_err(|_| ShipError::Closed),
            WhenFull::Error => self
                .permits
                .try_acquire_many(n)
                .map_err(|error| match error {
                    TryAcquireError::NoPermits => ShipError::Full {
                        capacity: self.capacity,
                    },
                    TryAcquireError::Closed => ShipError::Closed,
                }),
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Counts `n` events that entered without a permit.
    fn admit_over(&self, n: u64) {
        let mut debt = self.debt.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..n {
            match self.permits.try_acquire() {
                Ok(permit) => permit.forget(),
                Err(_) => *debt += 1,
            }
        }
    }

    /// Gives back the permits of `n` events that left the spool.
    pub(crate) fn release(&self, n: u64) {
        let mut debt = self.debt.lock().unwrap_or_else(|p| p.into_inner());
        let paid = n.min(*debt);
        *debt -= paid;
        self.permits
            .add_permits(usize::try_from(n - paid).unwrap_or(usize::MAX));
    }

    /// Wakes blocked senders with [`ShipError::Closed`].
    pub(crate) fn close(&self) {
        self.permits.close();
    }
}
