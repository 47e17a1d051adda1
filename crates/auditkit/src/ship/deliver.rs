//! The dispatcher: hands spooled events to a bounded set of workers, each delivering one
//! event through the facade and recording the outcome in the spool before it counts as done.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::spool::{Cmd, Row};
use super::{Destination, Inner, unix_ms};
use crate::Error;

/// How a worker's event ended.
#[derive(Debug)]
enum Outcome {
    Delivered,
    /// Failed retryably; the service may want a pause (`Retry-After`, throttling, outage).
    Retry {
        hint: Option<Duration>,
    },
    DeadLettered,
    /// The outcome could not be written to the spool; the event stays as it was.
    Unrecorded,
}

/// Longest idle wait between looks at the spool (a safety net; commits ring the doorbell).
const IDLE: Duration = Duration::from_secs(5);

pub(super) async fn dispatch<D: Destination>(inner: Arc<Inner<D>>) {
    let shared = inner.shared.clone();
    let mut workers: JoinSet<Outcome> = JoinSet::new();
    // Task id -> spool seq of every delivery under way.
    let mut in_flight: HashMap<Id, i64> = HashMap::new();
    let mut failures_in_row: u32 = 0;
    let mut pause_until: Option<Instant> = None;
    loop {
        while let Some(joined) = workers.try_join_next_with_id() {
            settle(
                joined,
                &inner,
                &mut in_flight,
                &mut failures_in_row,
                &mut pause_until,
            );
        }
        if inner.stopped() {
            break;
        }
        let free = inner.config.concurrency.saturating_sub(workers.len());
        let paused = inner.paused.load(Ordering::SeqCst);
        let backing_off = pause_until.filter(|until| *until > Instant::now());
        let mut wait_until = None;
        if free > 0 && !paused && backing_off.is_none() {
            let fetched = inner
                .spool
                .call(|reply| Cmd::Fetch {
                    now_ms: unix_ms(SystemTime::now()),
                    limit: free + in_flight.len(),
                    reply,
                })
                .await;
            match fetched {
                Ok(fetched) => {
                    let mut started = 0;
                    for row in fetched.rows {
                        if started == free {
                            break;
                        }
                        if !in_flight.values().any(|seq| *seq == row.seq) {
                            let seq = row.seq;
                            let task = workers.spawn(deliver_one(inner.clone(), row));
                            in_flight.insert(task.id(), seq);
                            shared.in_flight.fetch_add(1, Ordering::SeqCst);
                            started += 1;
                        }
                    }
                    if started > 0 {
                        continue;
                    }
                    wait_until = fetched.next_due_ms.map(|due_ms| {
                        let now_ms = unix_ms(SystemTime::now());
                        Instant::now()
                            + Duration::from_millis(u64::try_from(due_ms - now_ms).unwrap_or(0))
                    });
                }
                Err(error) => {
                    tracing::error!(target: "auditkit::ship", error = %error, "cannot read the spool; trying again shortly");
                    wait_until = Some(Instant::now() + inner.config.initial_backoff);
                }
            }
        }
        if let Some(until) = backing_off {
            wait_until = Some(until);
        }
        let sleep_until = wait_until
            .unwrap_or_else(|| Instant::now() + IDLE)
            .min(Instant::now() + IDLE);
        tokio::select! {
            Some(joined) = workers.join_next_with_id(), if !workers.is_empty() => {
                settle(joined, &inner, &mut in_flight, &mut failures_in_row, &mut pause_until);
            }
            () = shared.wake.notified() => {}
            () = tokio::time::sleep_until(sleep_until) => {}
        }
    }
    // Stopping: deliveries under way are abandoned; their events stay spooled.
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    shared.in_flight.store(0, Ordering::SeqCst);
}

fn settle<D: Destination>(
    joined: Result<(Id, Outcome), tokio::task::JoinError>,
    inner: &Inner<D>,
    in_flight: &mut HashMap<Id, i64>,
    failures_in_row: &mut u32,
    pause_until: &mut Option<Instant>,
) {
    let outcome = match joined {
        Ok((id, outcome)) => {
            in_flight.remove(&id);
            outcome
        }
        Err(error) => {
            // A worker panicked: its event stays spooled and is fetched again.
            in_flight.remove(&error.id());
            Outcome::Unrecorded
        }
    };
    let shared = &inner.shared;
    match outcome {
        Outcome::Delivered => *failures_in_row = 0,
        Outcome::DeadLettered => *failures_in_row = 0,
        Outcome::Retry { hint } => {
            *failures_in_row = failures_in_row.saturating_add(1);
            let until = Instant::now() + inner.backoff(*failures_in_row, hint);
            *pause_until = Some(pause_until.map_or(until, |current| current.max(until)));
        }
        Outcome::Unrecorded => {
            // The spool thread did not count this delivery as ended.
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            let until = Instant::now() + inner.config.initial_backoff;
            *pause_until = Some(pause_until.map_or(until, |current| current.max(until)));
        }
    }
}

/// What a facade error means for the event.
enum Verdict {
    /// The service answered 2xx (perhaps with a body the facade could not decode).
    Acknowledged,
    /// The service refused this event and will refuse it again.
    Permanent,
    Retryable,
}

fn verdict(error: &Error) -> Verdict {
    match error.status() {
        _ if error.api_accepted() => Verdict::Acknowledged,
        // Credentials are not the event's fault: dead-lettering would empty the spool into
        // the dead-letter table. Keep them and retry.
        _ if error.is_auth() => Verdict::Retryable,
        Some(_) if !error.is_retryable() => Verdict::Permanent,
        _ => Verdict::Retryable,
    }
}

async fn deliver_one<D: Destination>(inner: Arc<Inner<D>>, row: Row) -> Outcome {
    let seq = row.seq;
    let event: D::Event = match serde_json::from_slice(&row.body) {
        Ok(event) => event,
        Err(error) => {
            let outcome = dead_letter(
                &inner,
                &row,
                None,
                format!("the spooled event no longer decodes: {error}"),
                Vec::new(),
            )
            .await;
            return outcome;
        }
    };
    let result = inner.destination.deliver(&event).await;
    match result {
        Ok(()) => acknowledge(&inner, &row).await,
        Err(error) => match verdict(&error) {
            Verdict::Acknowledged => acknowledge(&inner, &row).await,
            Verdict::Permanent => {
                let body = match &error {
                    Error::Service(service) => service.body.to_vec(),
                    Error::Decode { body, .. } => body.to_vec(),
                    _ => Vec::new(),
                };
                dead_letter(&inner, &row, error.status(), error.to_string(), body).await
            }
            Verdict::Retryable => {
                let attempts = row.attempts.saturating_add(1);
                let hint = error.retry_after();
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
                let next_attempt_ms = unix_ms(SystemTime::now() + wait);
                let error = error.to_string();
                match inner
                    .spool
                    .call(|reply| Cmd::Retry {
                        seq,
                        next_attempt_ms,
                        error,
                        reply,
                    })
                    .await
                {
                    Ok(()) => Outcome::Retry { hint },
                    Err(error) => unrecorded(&row, &error),
                }
            }
        },
    }
}

async fn acknowledge<D: Destination>(inner: &Inner<D>, row: &Row) -> Outcome {
    let seq = row.seq;
    match inner.spool.call(|reply| Cmd::Ack { seq, reply }).await {
        Ok(()) => Outcome::Delivered,
        Err(error) => unrecorded(row, &error),
    }
}

async fn dead_letter<D: Destination>(
    inner: &Inner<D>,
    row: &Row,
    status: Option<u16>,
    error: String,
    error_body: Vec<u8>,
) -> Outcome {
    tracing::warn!(
        target: "auditkit::ship",
        event_id = %row.event_id,
        status,
        error = %error,
        "the service refused the event; moved to the dead-letter table"
    );
    let seq = row.seq;
    let now_ms = unix_ms(SystemTime::now());
    match inner
        .spool
        .call(|reply| Cmd::DeadLetter {
            seq,
            status,
            error,
            error_body,
            now_ms,
            reply,
        })
        .await
    {
        Ok(()) => Outcome::DeadLettered,
        Err(error) => unrecorded(row, &error),
    }
}

fn unrecorded(row: &Row, error: &super::ShipError) -> Outcome {
    tracing::error!(
        target: "auditkit::ship",
        event_id = %row.event_id,
        error = %error,
        "cannot record a delivery outcome; the event stays spooled and will be sent again"
    );
    Outcome::Unrecorded
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
