//! Durable, at-least-once delivery of audit events: a local spool plus background workers.
//!
//! ```no_run
//! # async fn demo(client: auditkit::GraphClient) -> Result<(), auditkit_ship::ShipError> {
//! use std::time::{Duration, Instant};
//! use auditkit::graph::AuditEvent;
//! use auditkit_ship::Shipper;
//!
//! let shipper = Shipper::builder(client, "/var/lib/myapp/audit-spool.db").open().await?;
//! let id = shipper.send(AuditEvent::default()).await?; // durable once this returns
//! shipper.shutdown(Instant::now() + Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! # What is promised
//!
//! - **Durable on return.** [`Shipper::send`] returns once the event is committed to an SQLite
//!   spool (write-ahead log, `synchronous=FULL`: on disk, fsynced). Concurrent sends share a
//!   transaction (group commit), so many sends cost one fsync; [`Shipper::send_all`] records
//!   a whole batch in one commit, which is how a single producer gets the same effect.
//!   Commits that only remove delivered events, record retries or move events to the dead
//!   letters skip their own fsync (the next recording commit syncs them): a power cut can undo
//!   such a commit, which means a redelivery, never a loss. [`Shipper::spool_settings`]
//!   reports the `synchronous` level SQLite had inside the last commit that recorded events.
//!   [`Durability::Normal`] uses `synchronous=NORMAL`: an event survives the process dying,
//!   but an operating-system crash or power loss may lose the last commits.
//! - **At least once.** An event leaves the spool only after the service acknowledged it with a
//!   2xx. A process that dies while events are in flight delivers them again when the spool is
//!   next opened, so the service may store an event twice. Each event therefore carries a
//!   client-generated id to remove duplicates downstream: Graph's `correlationId` (a new GUID
//!   unless the event has one) and, for Adobe, the tag [`ADOBE_EVENT_ID_TAG`].
//! - **Never dropped.** When the spool holds [`ShipperBuilder::capacity`] events, `send` waits
//!   ([`WhenFull::Wait`], the default) or fails with [`ShipError::Full`] ([`WhenFull::Error`]).
//!   An event leaves the spool only for the service (a 2xx) or for the dead-letter table, with
//!   the status, the error, the answer body, the time and its attempts;
//!   [`Shipper::dead_letters`] lists them and [`Shipper::requeue`] sends one again, optionally
//!   corrected. What goes there is said in "How failures are handled" below.
//! - **No event holds up another.** A failing event backs off alone (its next attempt is
//!   recorded with it in the spool) while the others are delivered. Only a signal about the
//!   service as a whole pauses every delivery: throttling or unavailability (429, 503), a
//!   `Retry-After` (for just that long, at most the maximum backoff), no answer at all
//!   (network, timeouts) or refused credentials.
//! - **Accepted means done.** An event the service accepted is never sent again by this
//!   process, even when the spool cannot record it (a full or failing disk): the outcome is
//!   kept in memory and recorded again, and until it is, no delivery starts
//!   ([`Stats::unrecorded`], [`Stats::record_failures`], a `tracing` error). Delivery resumes
//!   on its own once the spool records again. A shipper that stops before that leaves those
//!   events spooled, and the next one delivers them again (at least once).
//! - **Private files.** The spool and the files SQLite keeps beside it (`-wal`, `-shm`,
//!   `-journal`) are created owner-only (0600) whatever the umask: they hold user names, IP
//!   addresses and actors. A spool left readable by others is made owner-only when opened; one
//!   that other users can write, or that belongs to another user, is refused with
//!   [`ShipError::NotPrivate`] and left untouched (Unix; elsewhere the platform's defaults).
//! - **Order.** Events are handed to the workers in the order their sends committed. With more
//!   than one worker ([`ShipperBuilder::concurrency`]) or after a retry they may reach the
//!   service in another order; nothing stronger is promised. Neither API orders by arrival:
//!   both sort by the event's own time (`activityDateTime`, `timestamp`), which the shipper
//!   never changes. Use `concurrency(1)` for arrival in send order except around retries.
//! - **Resumable input.** [`Shipper::send_all_with_checkpoint`] records a batch together with
//!   a checkpoint (a key and a value, e.g. "line 1500 of this file") in the same commit, and
//!   [`Shipper::checkpoint`] reads it back: a reader restarted after a crash resumes exactly
//!   after the last durably spooled input, losing none and spooling none twice.
//! - **One shipper per spool.** The file is locked (`locking_mode=EXCLUSIVE`) while open; a
//!   second shipper gets [`ShipError::Locked`].
//! - **Foreign files are left alone.** A file that is not a spool of this SDK for the same API
//!   (not SQLite, other tables, another `application_id` or `user_version`) is refused with
//!   [`ShipError::NotASpool`] without being written. Only a missing file, an empty file or an
//!   SQLite database with no schema at all is initialised.
//!
//! # How failures are handled
//!
//! Each delivery is one call of the facade client, with its own retries; the shipper adds no
//! loop around them beyond the per-event schedule below. The answer is judged by whose
//! failure it is:
//!
//! | the answer | the event | an attempt? |
//! |---|---|---|
//! | the API's 2xx, even if its body is over the size cap or does not decode, or the status is undocumented | delivered, removed | — |
//! | 400, 404, 409, 413 and every other 4xx not below; a request that cannot be built from the event | dead-lettered at once | yes |
//! | 408, 500, 502, 504 and other 5xx but 503 | retried on its own backoff | **yes** |
//! | 401, 403, 407; the token endpoint failing (even with a 2xx that is no token) | stays due; every delivery pauses | no |
//! | 429 or 503, from the API or the token endpoint | stays due; every delivery pauses | no |
//! | no answer: connection refused, reset, timed out; a policy refusal; a 1xx/3xx (a proxy or portal) | stays due; every delivery pauses | no |
//!
//! A pause lasts the service's `Retry-After` when it sent one (capped at the maximum backoff),
//! else the backoff below, counted in service-wide failures in a row. A `Retry-After` on a
//! 5xx of the event's own also pauses every delivery for that long, and the answer still
//! counts as the event's attempt.
//!
//! **What counts as an attempt**: only an answer of the API to this event that says this
//! event failed. A failure that would hit any event alike (the network, the credentials,
//! throttling, an outage announced as such) never counts, so a long outage cannot empty a
//! healthy spool into the dead letters; those events are retried for as long as it lasts.
//! After [`ShipperBuilder::max_attempts`] attempts (20 by default), or at an attempt more
//! than [`ShipperBuilder::max_age`] (24 hours) after its first one, the event is dead-lettered
//! with its last answer. A service answering 5xx to every event for longer than that does
//! dead-letter them: [`Shipper::requeue`] sends them again.
//!
//! The defaults, against the reference exporters: the backoff is 1 s doubling to 60 s with
//! jitter ([`ShipperBuilder::retry_backoff`]; OpenTelemetry's exporter uses 5 s to 30 s, Fluent
//! Bit 5 s to 2000 s), so 20 attempts of an event's own take about 7 to 14 minutes.
//! OpenTelemetry gives up after 300 s and drops the data; Vector retries temporary failures
//! without end and drops what it takes for permanent (a 403, a 404). An audit trail can afford
//! neither loss: the shipper gives up on an event's own failures later than OpenTelemetry,
//! never on a failure that is not the event's, and keeps what it gave up on.
//!
//! Delivery goes through the facade client you pass, with its retry policy, timeouts and
//! client-side rate limit. Give the shipper the same [`RateLimit`](auditkit::RateLimit) (see
//! [`ShipperBuilder::rate_limit`]) and [`Shipper::expected_drain_time`] says how long the
//! spooled events take at that pace.
//!
//! Counters are read with [`Shipper::stats`] and logged as `tracing` events (target
//! `auditkit::ship`) every [`ShipperBuilder::stats_interval`]. Event bodies are never logged.
#![warn(missing_docs)]

mod builder;
mod deliver;
mod destination;
mod error;
mod open;
mod permissions;
mod spool;
mod state;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use builder::Config;
pub use builder::ShipperBuilder;
pub use destination::{ADOBE_EVENT_ID_TAG, Destination};
pub use error::ShipError;
pub use spool::SpoolSettings;

use spool::{Cmd, Spool};
use state::Shared;

/// How hard a commit is pushed to disk before `send` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL` in write-ahead-log mode: every commit is fsynced; an acknowledged
    /// event survives a process crash, an OS crash and a power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the log is fsynced only at checkpoints. An acknowledged event
    /// survives the process dying (kill -9, panic) but an OS crash or power loss can lose the
    /// most recent commits. Faster when sends come one at a time.
    Normal,
}

/// What `send` does when the spool holds `capacity` events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenFull {
    /// Wait until deliveries make room (back-pressure on the caller).
    #[default]
    Wait,
    /// Fail at once with [`ShipError::Full`]; the event is not recorded.
    Error,
}

/// Counters of a shipper. Totals count since this shipper opened the spool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events in the spool (in flight included, dead letters excluded).
    pub spooled: u64,
    /// Deliveries under way, and finished ones whose outcome is not recorded yet (see
    /// `unrecorded`).
    pub in_flight: u64,
    /// Events the service acknowledged.
    pub delivered: u64,
    /// Failed deliveries that left the event spooled for a later retry (counted as attempts
    /// or not).
    pub retried: u64,
    /// Events moved to the dead-letter table.
    pub dead_lettered: u64,
    /// Events in the dead-letter table now.
    pub dead_letters: u64,
    /// Finished deliveries whose outcome the spool could not record (a full or failing
    /// disk), kept in memory and recorded again until it works. While this is above zero no
    /// delivery starts, and no event the service accepted is sent again; if the shipper
    /// stops first, those events stay spooled and the next shipper delivers them again.
    pub unrecorded: u64,
    /// Failed attempts to record a delivery outcome (each of `unrecorded`, each round).
    pub record_failures: u64,
    /// Why deliveries paused last, when the failure was no fault of the event's (credentials,
    /// throttling, the network); cleared by the next delivery the service accepts.
    pub last_pause: Option<Pause>,
    /// How long the oldest spooled event has waited.
    pub oldest_spooled_age: Option<Duration>,
}

/// A failure that paused every delivery: no fault of the event's.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pause {
    /// What kind of failure it was, which says whether waiting helps.
    pub cause: PauseCause,
    /// The error as the facade reported it.
    pub message: String,
}

/// What a [`Pause`] was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PauseCause {
    /// The credentials were refused or could not be obtained from their answer (a wrong
    /// secret, an unknown client, a token endpoint's page that is no token), or the API
    /// answered 401/403/407: waiting does not help until the configuration is fixed.
    Credentials,
    /// The API or the token endpoint throttled or was unavailable (429, 503, 5xx of a token
    /// endpoint): waiting helps.
    Throttled,
    /// No answer: the network, a timeout, a refused connection.
    Unreachable,
    /// Anything else that says nothing about the event (a 1xx or 3xx, a policy refusal).
    Other,
}

/// An event the service refused for good.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeadLetter<E> {
    /// Pass to [`Shipper::requeue`].
    pub id: i64,
    /// The client-generated event id.
    pub event_id: String,
    /// The event as it was spooled, decoded again.
    pub event: E,
    /// The HTTP status of the refusal.
    pub status: Option<u16>,
    /// The error as the facade reported it.
    pub error: String,
    /// The service's answer body, as received.
    pub error_body: Vec<u8>,
    /// When the event was dead-lettered.
    pub failed_at: SystemTime,
    /// When the event was spooled (by its send, or by its last [`Shipper::requeue`]).
    pub enqueued_at: SystemTime,
    /// Attempts counted towards dead-lettering, this one included (see "How failures are
    /// handled" in the [module documentation](self)); each may include the facade's own
    /// retries.
    pub attempts: u32,
}

struct Inner<D: Destination> {
    destination: D,
    path: PathBuf,
    config: Config,
    shared: Arc<Shared>,
    spool: Spool,
    paused: AtomicBool,
    stop: AtomicBool,
    rng: Mutex<fastrand::Rng>,
}

impl<D: Destination> Inner<D> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.admission.close();
        self.shared.wake.notify_one();
        self.shared.progress.notify_waiters();
    }

    /// The wait before attempt `attempt + 1` after `attempt` failures: capped exponential,
    /// half to all of it, at least `hint` (itself capped at the maximum backoff).
    fn backoff(&self, failures: u32, hint: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let ceiling = self
            .config
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.config.max_backoff);
        let random = self.rng.lock().unwrap_or_else(|p| p.into_inner()).f64();
        let wait = ceiling.mul_f64(0.5 + random / 2.0);
        match hint {
            Some(hint) => wait.max(hint.min(self.config.max_backoff)),
            None => wait,
        }
    }

    async fn stats(&self) -> Result<Stats, ShipError> {
        let oldest = self
            .spool
            .call(|reply| Cmd::OldestEnqueued { reply })
            .await?;
        let shared = &self.shared;
        Ok(Stats {
            spooled: shared.spooled(),
            in_flight: u64::try_from(shared.in_flight.load(Ordering::SeqCst)).unwrap_or(0),
            delivered: shared.delivered.load(Ordering::SeqCst),
            retried: shared.retried.load(Ordering::SeqCst),
            dead_lettered: shared.dead_lettered.load(Ordering::SeqCst),
            dead_letters: u64::try_from(shared.dead_letters.load(Ordering::SeqCst)).unwrap_or(0),
            unrecorded: shared.unrecorded.load(Ordering::SeqCst),
            record_failures: shared.record_failures.load(Ordering::SeqCst),
            last_pause: shared
                .last_pause
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            oldest_spooled_age: oldest.map(|ms| {
                SystemTime::now()
                    .duration_since(from_unix_ms(ms))
                    .unwrap_or_default()
            }),
        })
    }
}

/// Stops the background tasks when the last [`Shipper`] clone is dropped.
struct Handle<D: Destination> {
    inner: Arc<Inner<D>>,
    tasks: Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
}

impl<D: Destination> Drop for Handle<D> {
    fn drop(&mut self) {
        self.inner.request_stop();
    }
}

/// Spools audit events durably and delivers them in the background, at least once. Cheap to
/// clone; clones share the spool. See the [module documentation](self) for the guarantees.
pub struct Shipper<D: Destination> {
    inner: Arc<Inner<D>>,
    handle: Arc<Handle<D>>,
}

impl<D: Destination> Clone for Shipper<D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            handle: self.handle.clone(),
        }
    }
}

impl<D: Destination> fmt::Debug for Shipper<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shipper")
            .field("destination", &self.inner.destination)
            .field("path", &self.inner.path)
            .field("spooled", &self.inner.shared.spooled())
            .field("config", &self.inner.config)
            .finish()
    }
}

/// A shipper to Microsoft Graph (Intune audit events).
pub type GraphShipper = Shipper<auditkit::GraphClient>;
/// A shipper to the Adobe Audit Service.
pub type AdobeShipper = Shipper<auditkit::AdobeClient>;

impl<D: Destination> Shipper<D> {
    /// A shipper delivering through `destination` (a [`GraphClient`](auditkit::GraphClient) or an
    /// [`AdobeClient`](auditkit::AdobeClient)), spooling to the SQLite file at `path` (created
    /// if missing; yours to place on durable storage).
    pub fn builder(destination: D, path: impl Into<PathBuf>) -> ShipperBuilder<D> {
        ShipperBuilder {
            destination,
            path: path.into(),
            config: Config::default(),
        }
    }

    /// Records `event` durably and returns its client-generated id (set first if the event has
    /// none). Delivery happens in the background. Waits while the spool is full, or fails
    /// with [`ShipError::Full`] under [`WhenFull::Error`]. On error nothing was recorded —
    /// except when the error is a failed commit whose outcome SQLite could not report, which
    /// only a failing disk produces.
    ///
    /// Each `send` awaited on its own costs one commit (one fsync under [`Durability::Full`]);
    /// concurrent sends share commits. A producer that has many events at hand gets the same
    /// guarantee for far less with [`Shipper::send_all`].
    pub async fn send(&self, event: D::Event) -> Result<String, ShipError> {
        let mut ids = self.record(vec![event], None).await?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Records all of `events` durably in ONE commit (one fsync) and returns their
    /// client-generated ids, in order (each set first if its event has none).
    ///
    /// The same guarantees as [`send`](Self::send), for the batch as a whole: it returns once
    /// every event is durable, and it is all or nothing — on error none was recorded. Room is
    /// taken for the whole batch at once: while the spool has no room for all of it,
    /// `send_all` waits ([`WhenFull::Wait`]) or fails with [`ShipError::Full`]
    /// ([`WhenFull::Error`]) without recording any. A batch larger than the spool's
    /// [capacity](Self::capacity) could never fit in one commit: it is refused with
    /// [`ShipError::BatchTooLarge`] and nothing is recorded (it is not split, which would
    /// break the all-or-nothing promise); split it yourself into batches of at most
    /// `capacity` events. An empty batch records nothing and returns at once.
    ///
    /// Events of one batch are handed to the workers in their order in `events`.
    pub async fn send_all(
        &self,
        events: impl IntoIterator<Item = D::Event>,
    ) -> Result<Vec<String>, ShipError> {
        let events: Vec<D::Event> = events.into_iter().collect();
        if events.is_empty() {
            if self.inner.stopped() {
                return Err(ShipError::Closed);
            }
            return Ok(Vec::new());
        }
        self.record(events, None).await
    }

    /// [`send_all`](Self::send_all), and in the same commit sets the checkpoint `key` to
    /// `value` (see [`checkpoint`](Self::checkpoint)): either the events and the checkpoint
    /// are both durable, or neither is recorded.
    ///
    /// This is how a reader of a file (or any input with positions) resumes exactly: spool
    /// each batch of lines with the checkpoint "lines done", and after a crash or a stop
    /// start reading after [`checkpoint`](Self::checkpoint)`(key)`. No line is lost and none
    /// is spooled twice (delivery stays at least once: events in flight when the process
    /// died are delivered again). An empty `events` only sets the checkpoint, durably.
    ///
    /// Checkpoints live in the spool file, so they belong to it: a new spool starts with none.
    /// Keys and values are yours (a file's canonical path and a line number, say).
    pub async fn send_all_with_checkpoint(
        &self,
        events: impl IntoIterator<Item = D::Event>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Vec<String>, ShipError> {
        let events: Vec<D::Event> = events.into_iter().collect();
        self.record(events, Some((key.into(), value.into()))).await
    }

    /// The value the checkpoint `key` was last set to by a committed
    /// [`send_all_with_checkpoint`](Self::send_all_with_checkpoint), or `None` if it never was
    /// (in this spool file).
    pub async fn checkpoint(&self, key: &str) -> Result<Option<String>, ShipError> {
        let key = key.to_owned();
        self.inner
            .spool
            .call(|reply| Cmd::Checkpoint { key, reply })
            .await
    }

    /// The most events the spool holds ([`ShipperBuilder::capacity`]), and so the largest
    /// batch [`send_all`](Self::send_all) takes.
    pub fn capacity(&self) -> u64 {
        self.inner.shared.admission.capacity()
    }

    /// Records `events` (and the checkpoint) in one commit; the ids of the events, in order.
    async fn record(
        &self,
        mut events: Vec<D::Event>,
        checkpoint: Option<(String, String)>,
    ) -> Result<Vec<String>, ShipError> {
        if self.inner.stopped() {
            return Err(ShipError::Closed);
        }
        let mut ids = Vec::with_capacity(events.len());
        let mut rows = Vec::with_capacity(events.len());
        for event in &mut events {
            let id = D::event_id(event);
            let body = serde_json::to_vec(&*event).map_err(ShipError::Encode)?;
            ids.push(id.clone());
            rows.push((id, body));
        }
        let count = rows.len() as u64;
        let shared = &self.inner.shared;
        let permit = if count == 0 {
            None
        } else {
            Some(
                shared
                    .admission
                    .acquire_many(count, self.inner.config.when_full)
                    .await?,
            )
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.inner.spool.submit(Cmd::Append {
            events: rows,
            checkpoint,
            now_ms: unix_ms(SystemTime::now()),
            reply,
        })?;
        // The spool now owns the events' places: a commit keeps them, a failure gives them back.
        if let Some(permit) = permit {
            permit.forget();
        }
        match answer.await {
            Ok(Ok(())) => Ok(ids),
            Ok(Err(error)) => {
                shared.admission.release(count);
                Err(error)
            }
            Err(_) => {
                shared.admission.release(count);
                Err(ShipError::Closed)
            }
        }
    }

    /// Waits until the spool is empty or `deadline` passes, and reports what is left.
    /// Backoffs are respected; a paused shipper delivers nothing.
    pub async fn flush(&self, deadline: Instant) -> Result<Stats, ShipError> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let shared = &self.inner.shared;
        loop {
            let progress = shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if shared.spooled() == 0
                || self.inner.stopped()
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            tokio::select! {
                () = progress => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
        self.inner.stats().await
    }

    /// Flushes until `deadline`, then stops: deliveries still under way are abandoned (their
    /// events stay spooled and are delivered again by the next shipper on this file) and the
    /// spool is closed. Reports what is still spooled. Later sends fail with
    /// [`ShipError::Closed`].
    pub async fn shutdown(&self, deadline: Instant) -> Result<Stats, ShipError> {
        if !self.inner.stopped() {
            self.flush(deadline).await?;
        }
        self.inner.request_stop();
        let tasks = self
            .handle
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((dispatcher, reporter)) = tasks {
            let _ = dispatcher.await;
            let _ = reporter.await;
        }
        let stats = self.inner.stats().await;
        self.inner.spool.close().await;
        let stats = stats?;
        tracing::info!(
            target: "auditkit::ship",
            still_spooled = stats.spooled,
            delivered = stats.delivered,
            dead_letters = stats.dead_letters,
            "shipper shut down"
        );
        Ok(stats)
    }

    /// The counters now.
    pub async fn stats(&self) -> Result<Stats, ShipError> {
        self.inner.stats().await
    }

    /// Events in the spool now (in flight included).
    pub fn spooled(&self) -> u64 {
        self.inner.shared.spooled()
    }

    /// How long delivering what is spooled takes at the configured
    /// [`ShipperBuilder::rate_limit`] from an idle start ([`RateLimit::drain_time`](auditkit::RateLimit::drain_time)); `None`
    /// without a limit.
    pub fn expected_drain_time(&self) -> Option<Duration> {
        self.inner
            .config
            .rate_limit
            .as_ref()
            .map(|limit| limit.drain_time(self.spooled()))
    }

    /// Stops starting deliveries (those under way finish). Sends still spool.
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
    }

    /// Starts delivering again after [`Shipper::pause`] or
    /// [`ShipperBuilder::start_paused`]. A pause the service caused still runs its course.
    pub fn resume(&self) {
        self.inner.paused.store(false, Ordering::SeqCst);
        self.inner.shared.wake.notify_one();
    }

    /// The events the service refused for good, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter<D::Event>>, ShipError> {
        let rows = self
            .inner
            .spool
            .call(|reply| Cmd::DeadLetters { reply })
            .await?;
        rows.into_iter()
            .map(|row| {
                let event =
                    serde_json::from_slice(&row.body).map_err(|source| ShipError::Decode {
                        event_id: row.event_id.clone(),
                        source,
                    })?;
                Ok(DeadLetter {
                    id: row.id,
                    event_id: row.event_id,
                    event,
                    status: row.status,
                    error: row.error,
                    error_body: row.error_body,
                    failed_at: from_unix_ms(row.failed_ms),
                    enqueued_at: from_unix_ms(row.enqueued_ms),
                    attempts: row.attempts,
                })
            })
            .collect()
    }

    /// Moves dead letter `id` back into the spool, to be delivered again after the events
    /// spooled before it. With `fixed`, that event is sent instead; it keeps the dead letter's
    /// event id unless it carries one of its own. Re-queued events are admitted even when the
    /// spool is full.
    pub async fn requeue(&self, id: i64, fixed: Option<D::Event>) -> Result<(), ShipError> {
        let fixed = match fixed {
            None => None,
            Some(mut event) => {
                let letters = self
                    .inner
                    .spool
                    .call(|reply| Cmd::DeadLetters { reply })
                    .await?;
                let letter = letters
                    .into_iter()
                    .find(|letter| letter.id == id)
                    .ok_or(ShipError::UnknownDeadLetter(id))?;
                D::set_event_id_if_absent(&mut event, &letter.event_id);
                Some(serde_json::to_vec(&event).map_err(ShipError::Encode)?)
            }
        };
        self.inner
            .spool
            .call(|reply| Cmd::Requeue {
                id,
                fixed,
                now_ms: unix_ms(SystemTime::now()),
                reply,
            })
            .await
    }

    /// The spool's SQLite settings, read back from the open connection (`synchronous` from
    /// inside the last commit that recorded events).
    pub async fn spool_settings(&self) -> Result<SpoolSettings, ShipError> {
        let mut settings = self
            .inner
            .spool
            .call(|reply| Cmd::Settings { reply })
            .await?;
        settings.synchronous = self.inner.shared.recorded_synchronous();
        Ok(settings)
    }

    /// The spool file, as given to [`Shipper::builder`].
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The client the events are delivered through.
    pub fn destination(&self) -> &D {
        &self.inner.destination
    }
}

fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
