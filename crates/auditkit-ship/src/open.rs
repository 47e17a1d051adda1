//! Opening a spool file: what is refused untouched (foreign files, files other users could
//! write), what is initialised (nothing, an empty file, an empty database) and how an older
//! layout is brought up to date.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::spool::Opened;
use super::{Durability, ShipError, permissions};

/// `PRAGMA application_id` of a spool: "AKSP" (auditkit spool).
pub(crate) const APPLICATION_ID: i32 = 0x414b_5350;
/// `PRAGMA user_version`: the layout of the tables below.
pub(crate) const FORMAT_VERSION: i32 = 2;
/// The oldest layout this build brings up to date when it opens it.
const OLDEST_FORMAT: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    body BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    first_failed_at INTEGER
);
CREATE INDEX events_due ON events (next_attempt_at);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    body BLOB NOT NULL,
    enqueued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER,
    error TEXT NOT NULL,
    error_body BLOB NOT NULL,
    failed_at INTEGER NOT NULL
);
";
const TABLES: [&str; 4] = ["meta", "events", "dead_letters", "sqlite_sequence"];

/// Format 1 counted every failed delivery in `attempts` (throttling and outages included) and
/// had no `first_failed_at`. From format 2 on, `attempts` counts only the failures that
/// count towards dead-lettering, so the old counts are cleared rather than misread.
const FROM_FORMAT_1: &str = "
ALTER TABLE events ADD COLUMN first_failed_at INTEGER;
UPDATE events SET attempts = 0;
";

fn not_a_spool(path: &Path, reason: impl Into<String>) -> ShipError {
    ShipError::NotASpool {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Sorts an SQLite failure met while looking at an existing file.
fn inspect_error(path: &Path, error: rusqlite::Error) -> ShipError {
    match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => not_a_spool(path, "not an SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => ShipError::Corrupt {
            path: path.to_owned(),
            source: error,
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ShipError::Locked {
            path: path.to_owned(),
        },
        _ => ShipError::from(error),
    }
}

struct Found {
    application_id: i32,
    user_version: i32,
    tables: Vec<String>,
    objects: usize,
    kind: Option<String>,
}

fn look(conn: &Connection) -> rusqlite::Result<Found> {
    let application_id = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let user_version = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let mut statement = conn.prepare("SELECT type, name FROM sqlite_master")?;
    let objects: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let tables: Vec<String> = objects
        .iter()
        .filter(|(kind, _)| kind == "table")
        .map(|(_, name)| name.clone())
        .collect();
    let kind = if tables.iter().any(|t| t == "meta") {
        conn.query_row(
            "SELECT value FROM meta WHERE key = 'destination'",
            [],
            |row| row.get(0),
        )
        .optional()?
    } else {
        None
    };
    Ok(Found {
        application_id,
        user_version,
        tables,
        objects: objects.len(),
        kind,
    })
}

/// Whether what was found is an empty database (nothing to lose by initialising it).
fn is_empty(found: &Found) -> bool {
    found.application_id == 0 && found.user_version == 0 && found.objects == 0
}

fn check(path: &Path, found: &Found, kind: &str) -> Result<(), ShipError> {
    if found.application_id != APPLICATION_ID {
        let reason = if found.application_id == 0 {
            format!(
                "an SQLite database of another application (tables: {})",
                found.tables.join(", ")
            )
        } else {
            format!(
                "application_id is {:#x}, not auditkit's {APPLICATION_ID:#x}",
                found.application_id
            )
        };
        return Err(not_a_spool(path, reason));
    }
    if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&found.user_version) {
        return Err(not_a_spool(
            path,
            format!(
                "spool format {} (user_version); this build reads formats {OLDEST_FORMAT} to {FORMAT_VERSION}",
                found.user_version
            ),
        ));
    }
    if let Some(other) = found.tables.iter().find(|t| !TABLES.contains(&t.as_str())) {
        return Err(not_a_spool(
            path,
            format!("it has a foreign table `{other}`"),
        ));
    }
    match found.kind.as_deref() {
        Some(found_kind) if found_kind == kind => Ok(()),
        Some(found_kind) => Err(not_a_spool(
            path,
            format!("it spools {found_kind} events, and this shipper sends {kind} events"),
        )),
        None => Err(not_a_spool(path, "its destination is not recorded")),
    }
}

/// Opens the file, refusing anything that is not an empty file, an empty database or a
/// spool of `kind`, and anything other users could write. Existing files are inspected
/// read-only first, so a refused file is never written (not even a WAL checkpoint on close).
pub(crate) fn open(
    path: &Path,
    durability: Durability,
    kind: &str,
) -> Result<(Connection, Opened), ShipError> {
    let io = |source| ShipError::Io {
        path: path.to_owned(),
        source,
    };
    // Before anything reads the file: a file others can write cannot be trusted, and a
    // missing one is created owner-only (SQLite then gives its companions the same mode).
    permissions::refuse_shared(path)?;
    permissions::create_private(path)?;
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)
        .and_then(|file| file.take(100).read_to_end(&mut header))
        .map_err(io)?;
    if !header.is_empty() {
        if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
            return Err(not_a_spool(path, "not an SQLite database"));
        }
        // The header's application_id (offset 68). A spool always has it in the main file: it
        // is written before the spool switches to write-ahead logging.
        let application_id = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
        if application_id != APPLICATION_ID {
            if application_id != 0 {
                return Err(not_a_spool(
                    path,
                    format!(
                        "application_id is {application_id:#x}, not auditkit's {APPLICATION_ID:#x}"
                    ),
                ));
            }
            // Another application's database, or an empty one: look, read-only.
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|error| inspect_error(path, error))?;
            let found = look(&conn).map_err(|error| inspect_error(path, error))?;
            if !is_empty(&found) {
                check(path, &found, kind)?;
            }
            drop(conn);
        }
    }

    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|error| inspect_error(path, error))?;
    conn.busy_timeout(Duration::from_millis(200))?;
    // One shipper per spool: the lock is taken by the first write below and held until close.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(|error| inspect_error(path, error))?;
        let found = look(&tx).map_err(|error| inspect_error(path, error))?;
        if is_empty(&found) {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", FORMAT_VERSION)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('destination', ?1)",
                params![kind],
            )?;
        } else {
            check(path, &found, kind)?;
            if found.user_version == 1 {
                tx.execute_batch(FROM_FORMAT_1)?;
                tx.pragma_update(None, "user_version", FORMAT_VERSION)?;
            }
        }
        tx.commit()?;
    }
    // It is ours: a spool left readable by others (by an older build, or copied) is made
    // private, with whatever companions SQLite has opened beside it.
    permissions::restrict(path)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(not_a_spool(
            path,
            format!("SQLite refused write-ahead logging (journal_mode stays {mode})"),
        ));
    }
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    let spooled: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))?;
    let dead: i64 = conn.query_row("SELECT COUNT(*) FROM dead_letters", [], |row| row.get(0))?;
    Ok((
        conn,
        Opened {
            spooled: u64::try_from(spooled).unwrap_or_default(),
            dead_letters: u64::try_from(dead).unwrap_or_default(),
        },
    ))
}
