//! Where events live: in memory, written through to SQLite when a database file is given.
//!
//! Queries always run on the in-memory copy (loaded from SQLite at start). Every write is
//! applied to memory and sent, in the same order, to one dedicated SQLite thread; the caller
//! waits for the thread's answer, so a 2xx means the write is on disk. SQLite is never
//! called from an async worker thread.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, mpsc};

use auditkit_graph::types::AuditEvent;
use tokio::sync::oneshot;

/// A failure of the store: SQLite, or the thread that runs it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite error on {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the sqlite thread could not be started")]
    Thread(#[source] std::io::Error),
    #[error("the sqlite thread has stopped")]
    Stopped,
    #[error("a stored event could not be decoded")]
    Decode(#[source] serde_json::Error),
    #[error("an event could not be encoded")]
    Encode(#[source] serde_json::Error),
}

/// An Adobe audit event as stored: the id the emulator gave it and the body as received.
#[derive(Clone, Debug)]
pub struct AdobeRecord {
    pub id: String,
    pub event: auditkit_adobe::types::AuditEvent,
}

enum Write {
    PutGraph {
        id: String,
        time: Option<String>,
        json: String,
    },
    DeleteGraph {
        id: String,
    },
    PutAdobe {
        id: String,
        time: String,
        json: String,
    },
}

struct Job {
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

#[derive(Default)]
struct Memory {
    graph: Vec<AuditEvent>,
    /// Position in `graph` by id: without it every create scanned the whole store, and a
    /// long shipping run slowed down as it went.
    graph_ids: HashMap<String, usize>,
    adobe: Vec<AdobeRecord>,
}

impl Memory {
    fn graph_position(&self, id: &str) -> Option<usize> {
        self.graph_ids.get(id).copied()
    }

    fn push_graph(&mut self, event: AuditEvent) {
        if let Some(id) = &event.id {
            self.graph_ids.insert(id.clone(), self.graph.len());
        }
        self.graph.push(event);
    }

    fn remove_graph(&mut self, at: usize) {
        let removed = self.graph.remove(at);
        if let Some(id) = &removed.id {
            self.graph_ids.remove(id);
        }
        // Deletes are rare; the positions after the gap move down by one.
        for position in self.graph_ids.values_mut() {
            if *position > at {
                *position -= 1;
            }
        }
    }
}

/// The event store shared by all requests.
pub struct Store {
    memory: Mutex<Memory>,
    sqlite: Option<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("sqlite", &self.sqlite.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a write was refused.
#[derive(Debug)]
pub enum WriteError {
    Exists,
    NotFound,
    /// The merge of an update refused the stored event and its patch, with why.
    Invalid(String),
    Store(StoreError),
}

/// Turns the stored event into its updated form, or says why it cannot.
pub type Merge = Box<dyn FnOnce(&AuditEvent) -> Result<AuditEvent, String> + Send>;

impl Store {
    pub fn memory() -> Self {
        Self {
            memory: Mutex::new(Memory::default()),
            sqlite: None,
        }
    }

    /// Opens (or creates) the SQLite file on a dedicated thread and loads its events.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("auditkit-emulator-sqlite".to_owned())
            .spawn(move || sqlite_thread(path, ready_tx, jobs_rx))
            .map_err(StoreError::Thread)?;
        let memory = ready_rx.await.map_err(|_| StoreError::Stopped)??;
        Ok(Self {
            memory: Mutex::new(memory),
            sqlite: Some(jobs_tx),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        // A panic while holding the lock cannot leave the vectors half-written in a way
        // that matters more than refusing all later requests would.
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends writes to SQLite while the memory lock is still held, so both see one order.
    fn persist(
        &self,
        _guard: &MutexGuard<'_, Memory>,
        writes: Vec<Write>,
    ) -> Option<oneshot::Receiver<Result<(), StoreError>>> {
        let sqlite = self.sqlite.as_ref()?;
        let (done, wait) = oneshot::channel();
        if sqlite.send(Job { writes, done }).is_err() {
            let (done, wait) = oneshot::channel();
            let _ = done.send(Err(StoreError::Stopped));
            return Some(wait);
        }
        Some(wait)
    }

    async fn settle(
        wait: Option<oneshot::Receiver<Result<(), StoreError>>>,
    ) -> Result<(), StoreError> {
        match wait {
            None => Ok(()),
            Some(wait) => wait.await.map_err(|_| StoreError::Stopped)?,
        }
    }

    /// Runs `f` over every Graph event, in insertion order, without copying them: a page of
    /// a list must not cost a copy of the whole store.
    pub fn with_graph<R>(&self, f: impl FnOnce(&[AuditEvent]) -> R) -> R {
        f(&self.lock().graph)
    }

    pub fn graph_len(&self) -> usize {
        self.lock().graph.len()
    }

    pub fn adobe_len(&self) -> usize {
        self.lock().adobe.len()
    }

    pub fn get_graph(&self, id: &str) -> Option<AuditEvent> {
        let memory = self.lock();
        memory.graph_position(id).map(|at| memory.graph[at].clone())
    }

    /// Adds events that must have an id; refuses the whole batch if one id exists.
    pub async fn insert_graph(&self, events: Vec<AuditEvent>) -> Result<(), WriteError> {
        let mut writes = Vec::with_capacity(events.len());
        for event in &events {
            writes.push(graph_write(event).map_err(WriteError::Store)?);
        }
        let wait = {
            let mut memory = self.lock();
            let mut batch = HashSet::with_capacity(events.len());
            for event in &events {
                let id = event.id.as_deref().unwrap_or_default();
                if memory.graph_position(id).is_some() || !batch.insert(id) {
                    return Err(WriteError::Exists);
                }
            }
            let wait = self.persist(&memory, writes);
            for event in events {
                memory.push_graph(event);
            }
            wait
        };
        Self::settle(wait).await.map_err(WriteError::Store)
    }

    /// Updates the event `id` to what `merge` makes of it, and answers the result. Reading
    /// the stored event, merging and replacing it are one step under the lock: two updates
    /// of one event in flight at once each see the other's change, none is lost.
    pub async fn update_graph(&self, id: &str, merge: Merge) -> Result<AuditEvent, WriteError> {
        let (event, wait) = {
            let mut memory = self.lock();
            let Some(at) = memory.graph_position(id) else {
                return Err(WriteError::NotFound);
            };
            let event = merge(&memory.graph[at]).map_err(WriteError::Invalid)?;
            if event.id.as_deref() != Some(id) {
                return Err(WriteError::Invalid(
                    "the id of an auditEvent cannot be changed".to_owned(),
                ));
            }
            let write = graph_write(&event).map_err(WriteError::Store)?;
            memory.graph[at] = event.clone();
            (event, self.persist(&memory, vec![write]))
        };
        Self::settle(wait).await.map_err(WriteError::Store)?;
        Ok(event)
    }

    pub async fn delete_graph(&self, id: &str) -> Result<(), WriteError> {
        let wait = {
            let mut memory = self.lock();
            let Some(at) = memory.graph_position(id) else {
                return Err(WriteError::NotFound);
            };
            memory.remove_graph(at);
            self.persist(&memory, vec![Write::DeleteGraph { id: id.to_owned() }])
        };
        Self::settle(wait).await.map_err(WriteError::Store)
    }

    pub async fn insert_adobe(&self, record: AdobeRecord) -> Result<(), WriteError> {
        let json = serde_json::to_string(&record.event)
            .map_err(|err| WriteError::Store(StoreError::Encode(err)))?;
        let write = Write::PutAdobe {
            id: record.id.clone(),
            time: record.event.timestamp.to_string(),
            json,
        };
        let wait = {
            let mut memory = self.lock();
            let wait = self.persist(&memory, vec![write]);
            memory.adobe.push(record);
            wait
        };
        Self::settle(wait).await.map_err(WriteError::Store)
    }
}

fn graph_write(event: &AuditEvent) -> Result<Write, StoreError> {
    Ok(Write::PutGraph {
        id: event.id.clone().unwrap_or_default(),
        time: event
            .activity_date_time
            .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        json: serde_json::to_string(event).map_err(StoreError::Encode)?,
    })
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS graph_audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    activity_date_time TEXT,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adobe_audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    timestamp TEXT NOT NULL,
    json TEXT NOT NULL
);
";

fn sqlite_thread(
    path: PathBuf,
    ready: oneshot::Sender<Result<Memory, StoreError>>,
    jobs: mpsc::Receiver<Job>,
) {
    let sqlite_err = |source| StoreError::Sqlite {
        path: path.clone(),
        source,
    };
    let opened = rusqlite::Connection::open(&path)
        .and_then(|conn| conn.execute_batch(SCHEMA).map(|()| conn))
        .map_err(sqlite_err)
        .and_then(|conn| load(&conn).map(|memory| (conn, memory)));
    let mut conn = match opened {
        Ok((conn, memory)) => {
            if ready.send(Ok(memory)).is_err() {
                return;
            }
            conn
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    // Ends when the store (the only sender) is dropped.
    while let Ok(job) = jobs.recv() {
        let result = apply(&mut conn, job.writes).map_err(sqlite_err);
        let _ = job.done.send(result);
    }
}

fn load(conn: &rusqlite::Connection) -> Result<Memory, StoreError> {
    let sqlite_err = |source| StoreError::Sqlite {
        path: conn.path().map(PathBuf::from).unwrap_or_default(),
        source,
    };
    let mut memory = Memory::default();
    let mut statement = conn
        .prepare("SELECT json FROM graph_audit_events ORDER BY seq")
        .map_err(sqlite_err)?;
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sqlite_err)?;
    for row in rows {
        let json = row.map_err(sqlite_err)?;
        memory.push_graph(serde_json::from_str(&json).map_err(StoreError::Decode)?);
    }
    let mut statement = conn
        .prepare("SELECT id, json FROM adobe_audit_events ORDER BY seq")
        .map_err(sqlite_err)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(sqlite_err)?;
    for row in rows {
        let (id, json) = row.map_err(sqlite_err)?;
        let event = serde_json::from_str(&json).map_err(StoreError::Decode)?;
        memory.adobe.push(AdobeRecord { id, event });
    }
    Ok(memory)
}

fn apply(conn: &mut rusqlite::Connection, writes: Vec<Write>) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    for write in writes {
        match write {
            // An update keeps the row (and so its place in the insertion order).
            Write::PutGraph { id, time, json } => {
                tx.execute(
                    "INSERT INTO graph_audit_events (id, activity_date_time, json) VALUES (?1, ?2, ?3)
                     ON CONFLICT(id) DO UPDATE SET activity_date_time = excluded.activity_date_time,
                     json = excluded.json",
                    rusqlite::params![id, time, json],
                )?;
            }
            Write::DeleteGraph { id } => {
                tx.execute("DELETE FROM graph_audit_events WHERE id = ?1", [id])?;
            }
            Write::PutAdobe { id, time, json } => {
                tx.execute(
                    "INSERT INTO adobe_audit_events (id, timestamp, json) VALUES (?1, ?2, ?3)",
                    rusqlite::params![id, time, json],
                )?;
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, activity: &str) -> AuditEvent {
        AuditEvent {
            id: Some(id.to_owned()),
            activity: Some(activity.to_owned()),
            ..AuditEvent::default()
        }
    }

    fn ids(store: &Store) -> Vec<String> {
        store.with_graph(|events| events.iter().filter_map(|e| e.id.clone()).collect())
    }

    #[tokio::test]
    async fn the_id_index_follows_inserts_replacements_and_deletes() {
        let store = Store::memory();
        let batch = ["a", "b", "c", "d"].map(|id| event(id, "v1")).to_vec();
        store.insert_graph(batch).await.unwrap();

        store.delete_graph("b").await.unwrap();
        assert_eq!(ids(&store), ["a", "c", "d"]);
        for id in ["a", "c", "d"] {
            assert_eq!(store.get_graph(id).unwrap().id.as_deref(), Some(id));
        }
        assert!(store.get_graph("b").is_none());
        assert!(matches!(
            store.delete_graph("b").await,
            Err(WriteError::NotFound)
        ));

        let updated = store
            .update_graph(
                "d",
                Box::new(|old| {
                    Ok(AuditEvent {
                        activity: Some("v2".into()),
                        ..old.clone()
                    })
                }),
            )
            .await
            .unwrap();
        assert_eq!(updated.activity.as_deref(), Some("v2"));
        assert_eq!(
            store.get_graph("d").unwrap().activity.as_deref(),
            Some("v2")
        );
        assert_eq!(ids(&store), ["a", "c", "d"]);

        // An id again after its delete is a new event at the end.
        store.insert_graph(vec![event("b", "v3")]).await.unwrap();
        assert_eq!(ids(&store), ["a", "c", "d", "b"]);
        assert_eq!(
            store.get_graph("b").unwrap().activity.as_deref(),
            Some("v3")
        );
    }

    #[tokio::test]
    async fn a_batch_with_a_stored_or_repeated_id_is_refused_whole() {
        let store = Store::memory();
        store.insert_graph(vec![event("a", "v1")]).await.unwrap();

        let stored_again = vec![event("x", "v1"), event("a", "v2")];
        assert!(matches!(
            store.insert_graph(stored_again).await,
            Err(WriteError::Exists)
        ));
        let repeated = vec![event("y", "v1"), event("y", "v2")];
        assert!(matches!(
            store.insert_graph(repeated).await,
            Err(WriteError::Exists)
        ));
        assert_eq!(ids(&store), ["a"]);
        assert_eq!(
            store.get_graph("a").unwrap().activity.as_deref(),
            Some("v1")
        );
    }
}
