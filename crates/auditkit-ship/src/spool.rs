//! The spool: one SQLite file owned by one thread. Every read and write of the shipper is a
//! command to that thread, which applies all the commands waiting for it in one transaction
//! (group commit: one fsync for many sends) and answers them only after the commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::state::{Delta, Shared};
use super::{Durability, ShipError};

/// The prefix of checkpoint keys in the `meta` table (which also holds `destination`).
const CHECKPOINT_PREFIX: &str = "checkpoint:";
/// Commands applied in one transaction at most.
const MAX_BATCH: usize = 8192;

/// A spooled event handed to a worker.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) seq: i64,
    pub(crate) event_id: String,
    pub(crate) body: Vec<u8>,
    /// Failures that count towards dead-lettering so far.
    pub(crate) attempts: u32,
    /// When the first of them happened (unix ms).
    pub(crate) first_failed_ms: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) rows: Vec<Row>,
    /// When the next backed-off event is due (unix ms), if any.
    pub(crate) next_due_ms: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct DeadRow {
    pub(crate) id: i64,
    pub(crate) event_id: String,
    pub(crate) body: Vec<u8>,
    pub(crate) enqueued_ms: i64,
    pub(crate) attempts: u32,
    pub(crate) status: Option<u16>,
    pub(crate) error: String,
    pub(crate) error_body: Vec<u8>,
    pub(crate) failed_ms: i64,
}

/// The settings of the spool's connection, read back from SQLite itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolSettings {
    /// `PRAGMA journal_mode`: `wal`.
    pub journal_mode: String,
    /// `PRAGMA synchronous` as read inside the last committed transaction that recorded
    /// events (a send or a requeue), just before its commit: 2 (`FULL`) for
    /// [`Durability::Full`], 1 (`NORMAL`) for [`Durability::Normal`]. `None` until this
    /// shipper has recorded an event. (Commits that only remove delivered events or record
    /// retries run at `NORMAL` in both: losing one means a redelivery.)
    pub synchronous: Option<i64>,
    /// `PRAGMA locking_mode`: `exclusive` (one shipper per spool).
    pub locking_mode: String,
    /// `PRAGMA application_id`: `0x414b5350` ("AKSP"), which marks the file as a spool.
    pub application_id: i32,
    /// `PRAGMA user_version`: the layout of the spool's tables (2 for this build, which
    /// upgrades older spools when it opens them).
    pub user_version: i32,
}

/// What the spool held when it was opened.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opened {
    pub(crate) spooled: u64,
    pub(crate) dead_letters: u64,
}

type Reply<T> = oneshot::Sender<Result<T, ShipError>>;

pub(crate) enum Cmd {
    /// Records `events` and, in the same transaction, the checkpoint `(key, value)`.
    Append {
        events: Vec<(String, Vec<u8>)>,
        checkpoint: Option<(String, String)>,
        now_ms: i64,
        reply: Reply<()>,
    },
    Checkpoint {
        key: String,
        reply: Reply<Option<String>>,
    },
    Ack {
        seq: i64,
        reply: Reply<()>,
    },
    /// Counts a failed attempt and sets when the next one is due.
    Retry {
        seq: i64,
        next_attempt_ms: i64,
        error: String,
        now_ms: i64,
        reply: Reply<()>,
    },
    DeadLetter {
        seq: i64,
        status: Option<u16>,
        error: String,
        error_body: Vec<u8>,
        now_ms: i64,
        reply: Reply<()>,
    },
    Fetch {
        now_ms: i64,
        limit: usize,
        reply: Reply<Fetched>,
    },
    DeadLetters {
        reply: Reply<Vec<DeadRow>>,
    },
    Requeue {
        id: i64,
        fixed: Option<Vec<u8>>,
        now_ms: i64,
        reply: Reply<()>,
    },
    OldestEnqueued {
        reply: Reply<Option<i64>>,
    },
    Settings {
        reply: Reply<SpoolSettings>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

impl Cmd {
    /// Whether the command only reads.
    fn reads(&self) -> bool {
        matches!(
            self,
            Cmd::Checkpoint { .. }
                | Cmd::Fetch { .. }
                | Cmd::DeadLetters { .. }
                | Cmd::OldestEnqueued { .. }
                | Cmd::Settings { .. }
        )
    }
}

/// The sending side of the spool thread.
#[derive(Clone, Debug)]
pub(crate) struct Spool {
    tx: mpsc::Sender<Cmd>,
}

impl Spool {
    /// Opens (or creates) the spool on its own thread, which keeps `shared`'s counts and the
    /// admission permits in step with what each commit changed.
    pub(crate) async fn open(
        path: PathBuf,
        durability: Durability,
        kind: &'static str,
        shared: Arc<Shared>,
    ) -> Result<(Spool, Opened), ShipError> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("auditkit-spool".into())
            .spawn(
                move || match super::open::open(&thread_path, durability, kind) {
                    Ok((conn, opened)) => {
                        if ready_tx.send(Ok(opened)).is_ok() {
                            run(conn, &rx, &shared, durability);
                        }
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                },
            )
            .map_err(|source| ShipError::Io { path, source })?;
        let opened = ready_rx.await.map_err(|_| ShipError::Closed)??;
        Ok((Spool { tx }, opened))
    }

    pub(crate) async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T, ShipError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| ShipError::Closed)?;
        answer.await.map_err(|_| ShipError::Closed)?
    }

    /// Hands a command to the spool thread without waiting for its answer.
    pub(crate) fn submit(&self, cmd: Cmd) -> Result<(), ShipError> {
        self.tx.send(cmd).map_err(|_| ShipError::Closed)
    }

    /// Stops the thread after what is queued and waits until the file is closed.
    pub(crate) async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Cmd::Close { reply }).is_ok() {
            let _ = answer.await;
        }
    }
}

/// Sends a command's answer once the transaction it was part of has committed (or failed).
type Done = Box<dyn FnOnce(Option<&Arc<rusqlite::Error>>) + Send>;

fn done<T: Send + 'static>(reply: Reply<T>, value: Result<T, ShipError>) -> Done {
    Box::new(move |failure| {
        let answer = match failure {
            None => value,
            Some(error) => Err(ShipError::Database(error.clone())),
        };
        let _ = reply.send(answer);
    })
}

/// The `synchronous` level a batch must commit with: under [`Durability::Full`], `FULL` when
/// it records events (a send, a requeue, a checkpoint) and `NORMAL` when it only removes
/// delivered events or records retries and dead letters (no fsync of its own; made durable by
/// the next `FULL` commit; losing it to a power cut means a redelivery, never a loss). A batch
/// that only reads leaves the level as it is. `None`: leave it.
fn level_for(batch: &[Cmd], durability: Durability) -> Option<bool> {
    let writes = |cmd: &Cmd| {
        matches!(
            cmd,
            Cmd::Ack { .. } | Cmd::Retry { .. } | Cmd::DeadLetter { .. }
        )
    };
    if durability != Durability::Full {
        None
    } else if records(batch) {
        Some(true)
    } else if batch.iter().any(writes) {
        Some(false)
    } else {
        None
    }
}

/// Whether the batch records events (or a checkpoint).
fn records(batch: &[Cmd]) -> bool {
    batch
        .iter()
        .any(|cmd| matches!(cmd, Cmd::Append { .. } | Cmd::Requeue { .. }))
}

fn run(mut conn: Connection, rx: &mpsc::Receiver<Cmd>, shared: &Shared, durability: Durability) {
    let mut full = durability == Durability::Full;
    let mut close_reply = None;
    while close_reply.is_none() {
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        // The commands of a batch were sent concurrently, so any order is theirs. Reads go
        // first, in a transaction of their own: a write that fails (a full disk) must not take
        // the counters, the fetch of due events or a checkpoint down with it.
        let (reads, writes): (Vec<Cmd>, Vec<Cmd>) = batch.into_iter().partition(Cmd::reads);
        if !reads.is_empty() {
            transact(&mut conn, reads, None, shared, &mut close_reply);
        }
        if writes.is_empty() {
            continue;
        }
        let mut failure = None;
        if let Some(wanted) = level_for(&writes, durability)
            && wanted != full
        {
            let level = if wanted { "FULL" } else { "NORMAL" };
            match conn.pragma_update(None, "synchronous", level) {
                Ok(()) => full = wanted,
                // Events are never recorded at a weaker level than promised.
                Err(error) if wanted => failure = Some(Arc::new(error)),
                Err(error) => {
                    tracing::warn!(target: "auditkit::ship", error = %error, "cannot lower the spool's synchronous level");
                }
            }
        }
        transact(&mut conn, writes, failure, shared, &mut close_reply);
    }
    if let Err((_, error)) = conn.close() {
        tracing::warn!(target: "auditkit::ship", error = %error, "closing the spool failed");
    }
    if let Some(reply) = close_reply {
        let _ = reply.send(());
    }
}

/// Applies `batch` in one transaction (or fails all of it with `failure`) and answers each
/// command once it committed or failed.
fn transact(
    conn: &mut Connection,
    batch: Vec<Cmd>,
    mut failure: Option<Arc<rusqlite::Error>>,
    shared: &Shared,
    close_reply: &mut Option<oneshot::Sender<()>>,
) {
    let mut finished: Vec<Done> = Vec::with_capacity(batch.len());
    let mut delta = Delta::default();
    let recording = records(&batch);
    let behavior = if batch.iter().all(Cmd::reads) {
        TransactionBehavior::Deferred
    } else {
        TransactionBehavior::Immediate
    };
    let begun = match failure.take() {
        Some(error) => Err(error),
        None => conn.transaction_with_behavior(behavior).map_err(Arc::new),
    };
    match begun {
        Ok(tx) => {
            for cmd in batch {
                if let Cmd::Close { reply } = cmd {
                    *close_reply = Some(reply);
                    continue;
                }
                if failure.is_some() {
                    finished.push(abandon(cmd));
                    continue;
                }
                match apply(&tx, cmd, &mut delta) {
                    Ok(next) => finished.push(next),
                    Err((error, next)) => {
                        failure = Some(Arc::new(error));
                        finished.push(next);
                    }
                }
            }
            // What this commit of events runs with, as SQLite has it, not as we meant it.
            if failure.is_none() && recording {
                match tx.pragma_query_value(None, "synchronous", |row| row.get(0)) {
                    Ok(level) => delta.synchronous = Some(level),
                    Err(error) => failure = Some(Arc::new(error)),
                }
            }
            let outcome = match failure {
                Some(_) => tx.rollback(),
                None => tx.commit(),
            };
            if let Err(error) = outcome
                && failure.is_none()
            {
                failure = Some(Arc::new(error));
            }
        }
        Err(error) => {
            failure = Some(error);
            for cmd in batch {
                match cmd {
                    Cmd::Close { reply } => *close_reply = Some(reply),
                    other => finished.push(abandon(other)),
                }
            }
        }
    }
    if let Some(error) = &failure {
        tracing::error!(target: "auditkit::ship", error = %error, "spool transaction failed; its commands report the error");
    }
    // Counts first, answers second: a caller that sees its answer sees the counts too.
    if failure.is_none() {
        shared.committed(delta);
    }
    for next in finished {
        next(failure.as_ref());
    }
}

/// The answer of a command that was not applied because an earlier one in its batch failed.
fn abandon(cmd: Cmd) -> Done {
    fn skipped<T: Send + 'static>(reply: Reply<T>) -> Done {
        Box::new(move |failure| {
            let answer = match failure {
                Some(error) => ShipError::Database(error.clone()),
                None => ShipError::Closed,
            };
            let _ = reply.send(Err(answer));
        })
    }
    match cmd {
        Cmd::Append { reply, .. }
        | Cmd::Ack { reply, .. }
        | Cmd::Retry { reply, .. }
        | Cmd::DeadLetter { reply, .. }
        | Cmd::Requeue { reply, .. } => skipped(reply),
        Cmd::Fetch { reply, .. } => skipped(reply),
        Cmd::Checkpoint { reply, .. } => skipped(reply),
        Cmd::DeadLetters { reply } => skipped(reply),
        Cmd::OldestEnqueued { reply } => skipped(reply),
        Cmd::Settings { reply } => skipped(reply),
        Cmd::Close { reply } => Box::new(move |_| {
            let _ = reply.send(());
        }),
    }
}

/// Applies one command inside the batch's transaction.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    cmd: Cmd,
    delta: &mut Delta,
) -> Result<Done, (rusqlite::Error, Done)> {
    macro_rules! attempt {
        ($reply:expr, $body:expr) => {{
            let result: rusqlite::Result<_> = (|| $body)();
            match result {
                Ok(value) => Ok(done($reply, value)),
                Err(error) => Err((error, done($reply, Err(ShipError::Closed)))),
            }
        }};
    }
    match cmd {
        Cmd::Append {
            events,
            checkpoint,
            now_ms,
            reply,
        } => attempt!(reply, {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (event_id, body, enqueued_at) VALUES (?1, ?2, ?3)",
            )?;
            for (id, body) in &events {
                insert.execute(params![id, body, now_ms])?;
            }
            if let Some((key, value)) = &checkpoint {
                tx.prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![format!("{CHECKPOINT_PREFIX}{key}"), value])?;
            }
            delta.appended += events.len() as u64;
            Ok(Ok(()))
        }),
        Cmd::Checkpoint { key, reply } => attempt!(reply, {
            let value = tx
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row(params![format!("{CHECKPOINT_PREFIX}{key}")], |row| {
                    row.get(0)
                })
                .optional()?;
            Ok(Ok(value))
        }),
        Cmd::Ack { seq, reply } => attempt!(reply, {
            delta.acked += tx
                .prepare_cached("DELETE FROM events WHERE seq = ?1")?
                .execute(params![seq])? as u64;
            delta.ended += 1;
            Ok(Ok(()))
        }),
        Cmd::Retry {
            seq,
            next_attempt_ms,
            error,
            now_ms,
            reply,
        } => attempt!(reply, {
            tx.prepare_cached(
                "UPDATE events SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3, \
                 first_failed_at = COALESCE(first_failed_at, ?4) WHERE seq = ?1",
            )?
            .execute(params![seq, next_attempt_ms, error, now_ms])?;
            delta.retried += 1;
            delta.ended += 1;
            Ok(Ok(()))
        }),
        Cmd::DeadLetter {
            seq,
            status,
            error,
            error_body,
            now_ms,
            reply,
        } => attempt!(reply, {
            tx.prepare_cached(
                "INSERT INTO dead_letters \
                 (event_id, body, enqueued_at, attempts, status, error, error_body, failed_at) \
                 SELECT event_id, body, enqueued_at, attempts + 1, ?2, ?3, ?4, ?5 \
                 FROM events WHERE seq = ?1",
            )?
            .execute(params![seq, status, error, error_body, now_ms])?;
            delta.dead_lettered += tx
                .prepare_cached("DELETE FROM events WHERE seq = ?1")?
                .execute(params![seq])? as u64;
            delta.ended += 1;
            Ok(Ok(()))
        }),
        Cmd::Fetch {
            now_ms,
            limit,
            reply,
        } => attempt!(reply, {
            let mut select = tx.prepare_cached(
                "SELECT seq, event_id, body, attempts, first_failed_at FROM events NOT INDEXED \
                 WHERE next_attempt_at <= ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows: Vec<Row> = select
                .query_map(
                    params![now_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
                    |row| {
                        Ok(Row {
                            seq: row.get(0)?,
                            event_id: row.get(1)?,
                            body: row.get(2)?,
                            attempts: row.get(3)?,
                            first_failed_ms: row.get(4)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<_>>()?;
            let next_due_ms = if rows.len() < limit {
                tx.prepare_cached(
                    "SELECT MIN(next_attempt_at) FROM events WHERE next_attempt_at > ?1",
                )?
                .query_row(params![now_ms], |row| row.get(0))?
            } else {
                None
            };
            Ok(Ok(Fetched { rows, next_due_ms }))
        }),
        Cmd::DeadLetters { reply } => attempt!(reply, {
            let mut select = tx.prepare_cached(
                "SELECT id, event_id, body, enqueued_at, attempts, status, error, error_body, \
                 failed_at FROM dead_letters ORDER BY id",
            )?;
            let rows = select
                .query_map([], |row| {
                    Ok(DeadRow {
                        id: row.get(0)?,
                        event_id: row.get(1)?,
                        body: row.get(2)?,
                        enqueued_ms: row.get(3)?,
                        attempts: row.get(4)?,
                        status: row.get(5)?,
                        error: row.get(6)?,
                        error_body: row.get(7)?,
                        failed_ms: row.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Ok(rows))
        }),
        Cmd::Requeue {
            id,
            fixed,
            now_ms,
            reply,
        } => attempt!(reply, {
            let moved = tx
                .prepare_cached(
                    "INSERT INTO events (event_id, body, enqueued_at) \
                     SELECT event_id, COALESCE(?2, body), ?3 FROM dead_letters WHERE id = ?1",
                )?
                .execute(params![id, fixed, now_ms])?;
            if moved == 0 {
                return Ok(Err(ShipError::UnknownDeadLetter(id)));
            }
            tx.prepare_cached("DELETE FROM dead_letters WHERE id = ?1")?
                .execute(params![id])?;
            delta.requeued += 1;
            Ok(Ok(()))
        }),
        Cmd::OldestEnqueued { reply } => attempt!(reply, {
            let oldest = tx
                .prepare_cached("SELECT enqueued_at FROM events ORDER BY seq LIMIT 1")?
                .query_row([], |row| row.get(0))
                .optional()?;
            Ok(Ok(oldest))
        }),
        Cmd::Settings { reply } => attempt!(reply, {
            Ok(Ok(SpoolSettings {
                journal_mode: tx.pragma_query_value(None, "journal_mode", |row| row.get(0))?,
                // Filled in from the last commit that recorded events.
                synchronous: None,
                locking_mode: tx.pragma_query_value(None, "locking_mode", |row| row.get(0))?,
                application_id: tx.pragma_query_value(None, "application_id", |row| row.get(0))?,
                user_version: tx.pragma_query_value(None, "user_version", |row| row.get(0))?,
            }))
        }),
        Cmd::Close { reply } => Ok(Box::new(move |_| {
            let _ = reply.send(());
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Cmd {
        Cmd::Settings {
            reply: oneshot::channel().0,
        }
    }

    fn append() -> Cmd {
        Cmd::Append {
            events: Vec::new(),
            checkpoint: None,
            now_ms: 0,
            reply: oneshot::channel().0,
        }
    }

    fn ack() -> Cmd {
        Cmd::Ack {
            seq: 1,
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn what_a_batch_writes_chooses_its_level_and_reading_settings_changes_none() {
        let full = Durability::Full;
        assert_eq!(level_for(&[settings()], full), None);
        assert_eq!(level_for(&[ack(), settings()], full), Some(false));
        assert_eq!(level_for(&[ack(), append(), settings()], full), Some(true));
        assert_eq!(level_for(&[append()], Durability::Normal), None);
    }
}
