//! The dispatcher: hands due events to a bounded set of workers, each delivering one event
//! through the facade and recording the outcome in the spool before it counts as done.
//!
//! A failure is judged by [`verdict`] (the rule is the module documentation's "What counts
//! as an attempt"): a failure of the event's own backs that event off alone; a failure that
//! says nothing about the event (network, credentials, throttling) leaves it due and pauses
//! every delivery. When an outcome cannot be recorded, it is kept here and recorded again
//! before any other delivery starts, so an event the service accepted is never sent twice by
//! this process.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;

use super::spool::{Cmd, Row};
use super::{Destination, Inner, ShipError, from_unix_ms, unix_ms};
use auditkit::Error;

/// Longest idle wait between looks at the spool (a safety net; commits ring the doorbell).
const IDLE: Duration = Duration::from_secs(5);
/// Shortest wait between two rounds of recording outcomes the spool refused.
const MIN_RECORD_DELAY: Duration = Duration::from_millis(10);

/// What the spool must hold about an event after one delivery.
#[derive(Clone, Debug)]
enum Record {
    /// Accepted: remove it.
    Ack,
    /// Failed by its own answer: count the attempt; due again at `next_attempt_ms`.
    Retry {
        next_attempt_ms: i64,
        error: String,
        now_ms: i64,
    },
    /// Move it to the dead letters with the last answer.
    DeadLetter {
        status: Option<u16>,
        error: String,
        error_body: Vec<u8>,
        now_ms: i64,
    },
}

/// What a worker reports when its delivery is over.
#[derive(Debug)]
struct Finished {
    seq: i64,
    event_id: String,
    /// `None` when the failure said nothing about the event: it stays due as it was.
    record: Option<Record>,
    /// Whether `record` is committed.
    recorded: bool,
    /// The failure was the service's, the network's or the credentials', not the event's.
    service_wide: Option<super::Pause>,
    /// The service's `Retry-After`.
    hint: Option<Duration>,
}

/// What a facade error means for the event.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The API answered 2xx: delivered, whatever followed (a body over the size cap, one that
    /// does not decode, an undocumented 2xx).
    Accepted,
    /// The API refused this event and would refuse it again.
    Refused,
    /// The API answered this event with a failure that may pass (408, 5xx but 503): an
    /// attempt, retried on the event's own backoff, dead-lettered after `max_attempts` or
    /// `max_age`.
    Failed,
    /// Says nothing about the event: no answer from the API (network, timeout, a policy
    /// refusal), credentials (token endpoint, 401, 403, 407), throttling (429, 503, from the
    /// API or the token endpoint), or a status that is no answer of the API to a POST (1xx,
    /// 3xx: a proxy or a captive portal). Not an attempt; every delivery pauses.
    ServiceWide,
}

fn verdict(error: &Error) -> Verdict {
    if error.api_accepted() {
        return Verdict::Accepted;
    }
    // Credentials and throttling concern every event alike: dead-lettering on them would
    // empty a healthy spool into the dead-letter table.
    if error.is_auth() || error.is_throttled() {
        return Verdict::ServiceWide;
    }
    match error.status() {
        // The request could not be built from this event: it never will be.
        None if matches!(error, Error::InvalidRequest(_)) => Verdict::Refused,
        None => Verdict::ServiceWide,
        Some(503 | 407) => Verdict::ServiceWide,
        Some(status) if !(400..600).contains(&status) => Verdict::ServiceWide,
        Some(status) if status >= 500 || error.is_retryable() => Verdict::Failed,
        Some(_) => Verdict::Refused,
    }
}

/// What a service-wide failure was about.
fn pause_cause(error: &Error) -> super::PauseCause {
    use super::PauseCause;
    match error {
        Error::Auth(auth) if auth.kind() == auditkit::AuthErrorKind::Transport => {
            PauseCause::Unreachable
        }
        Error::Auth(auth) if auth.is_transient() => PauseCause::Throttled,
        Error::Auth(_) => PauseCause::Credentials,
        _ if error.is_auth() || error.status() == Some(407) => PauseCause::Credentials,
        _ if error.is_throttled() || error.status() == Some(503) => PauseCause::Throttled,
        Error::Transport { .. } | Error::Timeout { .. } => PauseCause::Unreachable,
        _ => PauseCause::Other,
    }
}

/// The answer body an error carries, as received.
fn answer_body(error: &Error) -> Vec<u8> {
    match error {
        Error::Service(service) => service.body.to_vec(),
        Error::Decode { body, .. } => body.to_vec(),
        _ => Vec::new(),
    }
}

fn dead_letter(error: &Error, now: SystemTime) -> Record {
    Record::DeadLetter {
        status: error.status(),
        error: error.to_string(),
        error_body: answer_body(error),
        now_ms: unix_ms(now),
    }
}

/// The record, whether the failure is service-wide (and why), and the service's hint.
fn judge<D: Destination>(
    inner: &Inner<D>,
    row: &Row,
    error: &Error,
) -> (Option<Record>, Option<super::Pause>, Option<Duration>) {
    let hint = error.retry_after();
    let now = SystemTime::now();
    match verdict(error) {
        Verdict::Accepted => (Some(Record::Ack), None, None),
        Verdict::Refused => {
            tracing::warn!(
                target: "auditkit::ship",
                event_id = %row.event_id,
                status = error.status(),
                error = %error,
                "the service refused the event; moved to the dead-letter table"
            );
            (Some(dead_letter(error, now)), None, None)
        }
        Verdict::ServiceWide => {
            tracing::debug!(
                target: "auditkit::ship",
                event_id = %row.event_id,
                error = %error,
                "delivery failed for a reason that is not the event's; it stays due"
            );
            let pause = super::Pause {
                cause: pause_cause(error),
                message: error.to_string(),
            };
            (None, Some(pause), hint)
        }
        Verdict::Failed => {
            let attempts = row.attempts.saturating_add(1);
            // The clock starts at the event's first failure of its own.
            let failing_for = row
                .first_failed_ms
                .map(|ms| now.duration_since(from_unix_ms(ms)).unwrap_or_default());
            let config = &inner.config;
            let too_old = failing_for.is_some_and(|age| age >= config.max_age);
            if attempts >= config.max_attempts || too_old {
                tracing::warn!(
                    target: "auditkit::ship",
                    event_id = %row.event_id,
                    attempts,
                    failing_for_s = failing_for.unwrap_or_default().as_secs(),
                    status = error.status(),
                    error = %error,
                    "the event kept failing; moved to the dead-letter table"
                );
                return (Some(dead_letter(error, now)), None, hint);
            }
            let wait = inner.backoff(attempts, hint);
            tracing::debug!(
                target: "auditkit::ship",
                event_id = %row.event_id,
                attempts,
                status = error.status(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "delivery failed; the event stays spooled"
            );
            let retry = Record::Retry {
                next_attempt_ms: unix_ms(now + wait),
                error: error.to_string(),
                now_ms: unix_ms(now),
            };
            (Some(retry), None, hint)
        }
    }
}

async fn deliver_one<D: Destination>(inner: Arc<Inner<D>>, row: Row) -> Finished {
    let (record, service_wide, hint) = match serde_json::from_slice::<D::Event>(&row.body) {
        Err(error) => {
            let error = format!("the spooled event no longer decodes: {error}");
            tracing::warn!(
                target: "auditkit::ship",
                event_id = %row.event_id,
                error = %error,
                "moved to the dead-letter table"
            );
            let record = Record::DeadLetter {
                status: None,
                error,
                error_body: Vec::new(),
                now_ms: unix_ms(SystemTime::now()),
            };
            (Some(record), None, None)
        }
        Ok(event) => match inner.destination.deliver(&event).await {
            Ok(()) => (Some(Record::Ack), None, None),
            Err(error) => judge(&inner, &row, &error),
        },
    };
    let shared = &inner.shared;
    let recorded = match &record {
        None => {
            // Nothing to write: the delivery ends here.
            shared.retried.fetch_add(1, Ordering::SeqCst);
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            true
        }
        Some(record) => match write(&inner, row.seq, record).await {
            Ok(()) => true,
            Err(error) => {
                shared.record_failures.fetch_add(1, Ordering::SeqCst);
                tracing::error!(
                    target: "auditkit::ship",
                    event_id = %row.event_id,
                    error = %error,
                    "cannot record a delivery outcome in the spool; it is kept in memory and recorded again"
                );
                false
            }
        },
    };
    Finished {
        seq: row.seq,
        event_id: row.event_id,
        record,
        recorded,
        service_wide,
        hint,
    }
}

async fn write<D: Destination>(
    inner: &Inner<D>,
    seq: i64,
    record: &Record,
) -> Result<(), ShipError> {
    let spool = &inner.spool;
    match record {
        Record::Ack => spool.call(|reply| Cmd::Ack { seq, reply }).await,
        Record::Retry {
            next_attempt_ms,
            error,
            now_ms,
        } => {
            spool
                .call(|reply| Cmd::Retry {
                    seq,
                    next_attempt_ms: *next_attempt_ms,
                    error: error.clone(),
                    now_ms: *now_ms,
                    reply,
                })
                .await
        }
        Record::DeadLetter {
            status,
            error,
            error_body,
            now_ms,
        } => {
            spool
                .call(|reply| Cmd::DeadLetter {
                    seq,
                    status: *status,
                    error: error.clone(),
                    error_body: error_body.clone(),
                    now_ms: *now_ms,
                    reply,
                })
                .await
        }
    }
}

pub(super) async fn dispatch<D: Destination>(inner: Arc<Inner<D>>) {
    Dispatcher {
        inner,
        workers: JoinSet::new(),
        in_flight: HashMap::new(),
        unrecorded: BTreeMap::new(),
        record_again_at: Instant::now(),
        record_rounds_failed: 0,
        streak: 0,
        pause_until: None,
    }
    .run()
    .await;
}

struct Dispatcher<D: Destination> {
    inner: Arc<Inner<D>>,
    workers: JoinSet<Finished>,
    /// Task id -> spool seq of every delivery under way.
    in_flight: HashMap<Id, i64>,
    /// Outcomes of finished deliveries that the spool could not record, by seq. While any is
    /// here no delivery starts: the events stay due in the file, and one the service accepted
    /// must not be sent again.
    unrecorded: BTreeMap<i64, (String, Record)>,
    record_again_at: Instant,
    record_rounds_failed: u32,
    /// Service-wide failures in a row (any other outcome resets it), for the pause's backoff.
    streak: u32,
    /// No delivery starts before this (a service-wide failure or a `Retry-After`).
    pause_until: Option<Instant>,
}

impl<D: Destination> Dispatcher<D> {
    async fn run(mut self) {
        let inner = self.inner.clone();
        let shared = inner.shared.clone();
        loop {
            while let Some(joined) = self.workers.try_join_next_with_id() {
                self.settle(joined);
            }
            if inner.stopped() {
                break;
            }
            let now = Instant::now();
            let mut wake_at = now + IDLE;
            if !self.unrecorded.is_empty() {
                if now >= self.record_again_at {
                    self.record_again().await;
                    continue;
                }
                wake_at = wake_at.min(self.record_again_at);
            } else if let Some(until) = self.pause_until.filter(|until| *until > now) {
                wake_at = wake_at.min(until);
            } else if !inner.paused.load(Ordering::SeqCst) {
                let free = inner.config.concurrency.saturating_sub(self.workers.len());
                if free > 0 {
                    match self.start(free).await {
                        Some(due) => wake_at = wake_at.min(due),
                        None => continue,
                    }
                }
            }
            tokio::select! {
                Some(joined) = self.workers.join_next_with_id(), if !self.workers.is_empty() => {
                    self.settle(joined);
                }
                () = shared.wake.notified() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        // Stopping: deliveries under way are abandoned (their events stay spooled), but the
        // outcomes of those that finished are recorded if the spool lets us.
        self.workers.abort_all();
        while let Some(joined) = self.workers.join_next_with_id().await {
            self.settle(joined);
        }
        if !self.unrecorded.is_empty() {
            self.record_again().await;
        }
        if !self.unrecorded.is_empty() {
            // Named, so that the duplicates the next shipper will make can be removed.
            let accepted: Vec<&str> = self
                .unrecorded
                .values()
                .filter(|(_, record)| matches!(record, Record::Ack))
                .map(|(event_id, _)| event_id.as_str())
                .collect();
            tracing::error!(
                target: "auditkit::ship",
                unrecorded = self.unrecorded.len(),
                accepted_event_ids = ?accepted,
                "stopped with delivery outcomes the spool could not record: those events are still spooled, and the ones the service accepted will be delivered again by the next shipper"
            );
        }
        shared.in_flight.store(0, Ordering::SeqCst);
    }

    /// Starts deliveries of due events on up to `free` workers. `None` when some started;
    /// otherwise when the next backed-off event is due.
    async fn start(&mut self, free: usize) -> Option<Instant> {
        let inner = &self.inner;
        let fetched = inner
            .spool
            .call(|reply| Cmd::Fetch {
                now_ms: unix_ms(SystemTime::now()),
                limit: free + self.in_flight.len(),
                reply,
            })
            .await;
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::error!(target: "auditkit::ship", error = %error, "cannot read the spool; trying again shortly");
                return Some(Instant::now() + inner.config.initial_backoff.max(MIN_RECORD_DELAY));
            }
        };
        let mut started = 0;
        for row in fetched.rows {
            if started == free {
                break;
            }
            let seq = row.seq;
            if self.in_flight.values().any(|s| *s == seq) || self.unrecorded.contains_key(&seq) {
                continue;
            }
            let task = self.workers.spawn(deliver_one(inner.clone(), row));
            self.in_flight.insert(task.id(), seq);
            inner.shared.in_flight.fetch_add(1, Ordering::SeqCst);
            started += 1;
        }
        if started > 0 {
            return None;
        }
        let due = fetched.next_due_ms.map(|due_ms| {
            let now_ms = unix_ms(SystemTime::now());
            Instant::now() + Duration::from_millis(u64::try_from(due_ms - now_ms).unwrap_or(0))
        });
        Some(due.unwrap_or_else(|| Instant::now() + IDLE))
    }

    fn settle(&mut self, joined: Result<(Id, Finished), JoinError>) {
        let shared = &self.inner.shared;
        let finished = match joined {
            Ok((id, finished)) => {
                self.in_flight.remove(&id);
                finished
            }
            Err(error) => {
                // A worker panicked or was aborted: its event stays spooled as it was.
                self.in_flight.remove(&error.id());
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        };
        if matches!(finished.record, Some(Record::Ack)) {
            *shared.last_pause.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        if !finished.recorded
            && let Some(record) = finished.record
        {
            if self.unrecorded.is_empty() {
                tracing::error!(
                    target: "auditkit::ship",
                    "the spool cannot record delivery outcomes; no delivery starts until it can, and events the service accepted are not sent again"
                );
                self.record_rounds_failed = 0;
                self.record_again_at = Instant::now() + self.record_delay();
            }
            self.unrecorded
                .insert(finished.seq, (finished.event_id, record));
            shared
                .unrecorded
                .store(self.unrecorded.len() as u64, Ordering::SeqCst);
        }
        let now = Instant::now();
        let config = &self.inner.config;
        match finished.service_wide {
            Some(pause) => {
                let reason = pause.message.clone();
                *shared.last_pause.lock().unwrap_or_else(|p| p.into_inner()) = Some(pause);
                // Deliveries that were under way when the pause began fail alike: only the
                // first failure after a pause escalates it.
                let pausing = self.pause_until.is_some_and(|until| until > now);
                if !pausing {
                    self.streak = self.streak.saturating_add(1);
                }
                let wait = match finished.hint {
                    Some(hint) => hint.min(config.max_backoff),
                    None if pausing => Duration::ZERO,
                    None => self.inner.backoff(self.streak, None),
                };
                if !pausing {
                    tracing::warn!(
                        target: "auditkit::ship",
                        failures_in_row = self.streak,
                        pause_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        error = %reason,
                        "delivery failed for a reason that is not the event's; all deliveries pause"
                    );
                }
                self.pause(now + wait);
            }
            None => {
                self.streak = 0;
                if let Some(hint) = finished.hint {
                    self.pause(now + hint.min(config.max_backoff));
                }
            }
        }
    }

    fn pause(&mut self, until: Instant) {
        self.pause_until = Some(self.pause_until.map_or(until, |current| current.max(until)));
    }

    fn record_delay(&self) -> Duration {
        let config = &self.inner.config;
        let exponent = self.record_rounds_failed.min(30);
        config
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(config.max_backoff.min(IDLE))
            .max(MIN_RECORD_DELAY)
    }

    /// One round of recording the kept outcomes (in one transaction, as they go together).
    async fn record_again(&mut self) {
        let inner = &self.inner;
        let seqs: Vec<i64> = self.unrecorded.keys().copied().collect();
        let results = futures::future::join_all(
            self.unrecorded
                .iter()
                .map(|(seq, (_, record))| write(inner, *seq, record)),
        )
        .await;
        let mut last_error = None;
        for (seq, result) in seqs.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    self.unrecorded.remove(&seq);
                }
                Err(error) => {
                    inner.shared.record_failures.fetch_add(1, Ordering::SeqCst);
                    last_error = Some(error);
                }
            }
        }
        inner
            .shared
            .unrecorded
            .store(self.unrecorded.len() as u64, Ordering::SeqCst);
        match last_error {
            None => {
                tracing::info!(
                    target: "auditkit::ship",
                    "the spool records delivery outcomes again; delivery resumes"
                );
                self.record_rounds_failed = 0;
                inner.shared.wake.notify_one();
            }
            Some(error) => {
                self.record_rounds_failed = self.record_rounds_failed.saturating_add(1);
                let delay = self.record_delay();
                self.record_again_at = Instant::now() + delay;
                tracing::warn!(
                    target: "auditkit::ship",
                    unrecorded = self.unrecorded.len(),
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "the spool still cannot record delivery outcomes"
                );
            }
        }
    }
}

/// Logs the counters every `stats_interval` until the shipper stops.
pub(super) async fn report<D: Destination>(inner: Arc<Inner<D>>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(inner.config.stats_interval) => {}
            () = until_stopped(&inner) => break,
        }
        match inner.stats().await {
            Ok(stats) => tracing::info!(
                target: "auditkit::ship",
                spooled = stats.spooled,
                in_flight = stats.in_flight,
                delivered = stats.delivered,
                retried = stats.retried,
                dead_lettered = stats.dead_lettered,
                dead_letters = stats.dead_letters,
                unrecorded = stats.unrecorded,
                record_failures = stats.record_failures,
                oldest_spooled_age_ms = stats
                    .oldest_spooled_age
                    .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
                "shipper stats"
            ),
            Err(error) => {
                tracing::warn!(target: "auditkit::ship", error = %error, "cannot read the shipper stats");
            }
        }
    }
}

async fn until_stopped<D: Destination>(inner: &Inner<D>) {
    loop {
        let progress = inner.shared.progress.notified();
        tokio::pin!(progress);
        progress.as_mut().enable();
        if inner.stopped() {
            return;
        }
        progress.await;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use auditkit::{AuthError, AuthErrorKind, CallDetails, ServiceError};

    fn service(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Service(Box::new(
            ServiceError::new(status, Bytes::from_static(b"{}"), CallDetails::default())
                .with_retry_after(retry_after),
        ))
    }

    #[test]
    fn verdicts_by_whose_failure_it_is() {
        for status in [400, 404, 409, 410, 413, 422] {
            assert_eq!(
                verdict(&service(status, None)),
                Verdict::Refused,
                "{status}"
            );
        }
        for status in [408, 500, 502, 504, 501, 507] {
            assert_eq!(verdict(&service(status, None)), Verdict::Failed, "{status}");
        }
        // A 500 that asks for a pause is still this event's answer: it counts.
        let hinted = service(500, Some(Duration::from_secs(2)));
        assert_eq!(verdict(&hinted), Verdict::Failed);
        for status in [401, 403, 407, 429, 503, 302, 304, 101] {
            assert_eq!(
                verdict(&service(status, None)),
                Verdict::ServiceWide,
                "{status}"
            );
        }
        let portal = Error::from(
            AuthError::new("entra id", AuthErrorKind::InvalidResponse, "not a token")
                .with_status(200),
        );
        assert_eq!(
            verdict(&portal),
            Verdict::ServiceWide,
            "a token endpoint's 200"
        );
        let undecodable = Error::Decode {
            status: 201,
            body: Bytes::from_static(b"<html>"),
            source: "not json".into(),
            details: Box::default(),
        };
        assert_eq!(verdict(&undecodable), Verdict::Accepted);
        let too_large = Error::ResponseTooLarge {
            limit: 1,
            status: 201,
            details: Box::default(),
        };
        assert_eq!(verdict(&too_large), Verdict::Accepted);
        assert_eq!(
            verdict(&Error::InvalidRequest("bad header".into())),
            Verdict::Refused
        );
        assert_eq!(
            verdict(&Error::Refused("plain http".into())),
            Verdict::ServiceWide
        );
    }
}
