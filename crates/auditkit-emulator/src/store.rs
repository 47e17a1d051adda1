//! Where events live: in memory, written through to SQLite when a database file is given.
//!
//! Queries always run on the in-memory copy (loaded from SQLite at start). A write is first
//! decided against the store (does the id exist, what does the merge give), then committed,
//! and only then applied to memory: a client never sees, nor builds on, a write whose
//! commit failed. With SQLite, one dedicated thread is the only writer of memory and disk
//! alike: it takes writes in arrival order and decides, commits and applies each before the
//! next, so both see one order and nothing decided can go stale before it is applied. The
//! caller waits for the thread's answer, so a 2xx means the write is on disk; a caller that
//! stops waiting (a client hanging up) changes nothing, the write still lands in both or
//! neither. SQLite is never called from an async worker thread. Without SQLite, a write is
//! decided and applied under the memory lock in one step.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use auditkit_graph::types::AuditEvent;
use tokio::sync::oneshot;

/// A failure of the store: SQLite, or the thread that runs it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening, reading or writing the SQLite file failed.
    #[error("sqlite error on {path}")]
    Sqlite {
        /// The SQLite file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The thread that runs SQLite could not be started.
    #[error("the sqlite thread could not be started")]
    Thread(#[source] std::io::Error),
    /// The thread that runs SQLite has stopped, so it could not answer.
    #[error("the sqlite thread has stopped")]
    Stopped,
    /// An event in the SQLite file does not decode as its model.
    #[error("a stored event could not be decoded")]
    Decode(#[source] serde_json::Error),
    /// An event could not be turned into JSON to be stored.
    #[error("an event could not be encoded")]
    Encode(#[source] serde_json::Error),
}

/// An Adobe audit event as stored: the id the emulator gave it and the body as received.
#[derive(Clone, Debug)]
pub struct AdobeRecord {
    pub id: String,
    pub event: auditkit_adobe::types::AuditEvent,
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

/// A write as asked for, not yet checked against the store.
enum Op {
    InsertGraph(Vec<AuditEvent>),
    UpdateGraph { id: String, merge: Merge },
    DeleteGraph(String),
    InsertAdobe(AdobeRecord),
}

/// A write decided against the store: what memory becomes once the disk has it.
enum Change {
    PushGraph(Vec<AuditEvent>),
    SetGraph { at: usize, event: Box<AuditEvent> },
    RemoveGraph { at: usize, id: String },
    PushAdobe(AdobeRecord),
}

/// The rows one change writes, in one transaction.
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

/// What a write answers: the updated event for an update.
type Done = Result<Option<AuditEvent>, WriteError>;

struct Job {
    op: Op,
    done: oneshot::Sender<Done>,
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

    /// Decides `op` against the store as it is now, changing nothing. An update's merge
    /// runs here, so it sees every write applied before it.
    fn plan(&self, op: Op) -> Result<Change, WriteError> {
        match op {
            Op::InsertGraph(events) => {
                let mut batch = HashSet::with_capacity(events.len());
                for event in &events {
                    let id = event.id.as_deref().unwrap_or_default();
                    if self.graph_position(id).is_some() || !batch.insert(id) {
                        return Err(WriteError::Exists);
                    }
                }
                Ok(Change::PushGraph(events))
            }
            Op::UpdateGraph { id, merge } => {
                let at = self.graph_position(&id).ok_or(WriteError::NotFound)?;
                let event = merge(&self.graph[at]).map_err(WriteError::Invalid)?;
                if event.id.as_deref() != Some(id.as_str()) {
                    return Err(WriteError::Invalid(
                        "the id of an auditEvent cannot be changed".to_owned(),
                    ));
                }
                Ok(Change::SetGraph {
                    at,
                    event: Box::new(event),
                })
            }
            Op::DeleteGraph(id) => {
                let at = self.graph_position(&id).ok_or(WriteError::NotFound)?;
                Ok(Change::RemoveGraph { at, id })
            }
            Op::InsertAdobe(record) => Ok(Change::PushAdobe(record)),
        }
    }

    /// Applies a change decided against this very state.
    fn apply(&mut self, change: Change) -> Option<AuditEvent> {
        match change {
            Change::PushGraph(events) => {
                for event in events {
                    self.push_graph(event);
                }
                None
            }
            Change::SetGraph { at, event } => {
                self.graph[at] = (*event).clone();
                Some(*event)
            }
            Change::RemoveGraph { at, .. } => {
                self.remove_graph(at);
                None
            }
            Change::PushAdobe(record) => {
                self.adobe.push(record);
                None
            }
        }
    }
}

impl Change {
    fn writes(&self) -> Result<Vec<Write>, StoreError> {
        match self {
            Change::PushGraph(events) => events.iter().map(graph_write).collect(),
            Change::SetGraph { event, .. } => Ok(vec![graph_write(event)?]),
            Change::RemoveGraph { id, .. } => Ok(vec![Write::DeleteGraph { id: id.clone() }]),
            Change::PushAdobe(record) => Ok(vec![Write::PutAdobe {
                id: record.id.clone(),
                time: record.event.timestamp.to_string(),
                json: serde_json::to_string(&record.event).map_err(StoreError::Encode)?,
            }]),
        }
    }
}

fn lock(memory: &Mutex<Memory>) -> MutexGuard<'_, Memory> {
    // A panic while holding the lock cannot leave the vectors half-written in a way that
    // matters more than refusing all later requests would.
    memory
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The event store shared by all requests.
pub struct Store {
    memory: Arc<Mutex<Memory>>,
    sqlite: Option<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("sqlite", &self.sqlite.is_some())
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn memory() -> Self {
        Self {
            memory: Arc::new(Mutex::new(Memory::default())),
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
            memory,
            sqlite: Some(jobs_tx),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Memory> {
        lock(&self.memory)
    }

    /// Decides, commits and applies one write; see the module docs for the order.
    async fn write(&self, op: Op) -> Done {
        let Some(sqlite) = &self.sqlite else {
            let mut memory = self.lock();
            let change = memory.plan(op)?;
            return Ok(memory.apply(change));
        };
        let (done, wait) = oneshot::channel();
        sqlite
            .send(Job { op, done })
            .map_err(|_| WriteError::Store(StoreError::Stopped))?;
        wait.await
            .map_err(|_| WriteError::Store(StoreError::Stopped))?
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
        self.write(Op::InsertGraph(events)).await.map(drop)
    }

    /// Updates the event `id` to what `merge` makes of it, and answers the result. The
    /// merge reads the event as every earlier write left it and nothing writes in between,
    /// so two updates of one event in flight at once each keep the other's change.
    pub async fn update_graph(&self, id: &str, merge: Merge) -> Result<AuditEvent, WriteError> {
        let op = Op::UpdateGraph {
            id: id.to_owned(),
            merge,
        };
        match self.write(op).await? {
            Some(event) => Ok(event),
            None => Err(WriteError::NotFound),
        }
    }

    pub async fn delete_graph(&self, id: &str) -> Result<(), WriteError> {
        self.write(Op::DeleteGraph(id.to_owned())).await.map(drop)
    }

    pub async fn insert_adobe(&self, record: AdobeRecord) -> Result<(), WriteError> {
        self.write(Op::InsertAdobe(record)).await.map(drop)
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
    ready: oneshot::Sender<Result<Arc<Mutex<Memory>>, StoreError>>,
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
    let (mut conn, memory) = match opened {
        Ok((conn, memory)) => {
            let memory = Arc::new(Mutex::new(memory));
            if ready.send(Ok(Arc::clone(&memory))).is_err() {
                return;
            }
            (conn, memory)
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    // Ends when the store (the only sender) is dropped.
    while let Ok(job) = jobs.recv() {
        let result = write_through(&memory, &mut conn, job.op, &sqlite_err);
        let _ = job.done.send(result);
    }
}

/// One write, on the thread that is memory's only writer: nothing can change the store
/// between deciding the write and applying it, and memory changes only after the commit.
fn write_through(
    memory: &Mutex<Memory>,
    conn: &mut rusqlite::Connection,
    op: Op,
    sqlite_err: &impl Fn(rusqlite::Error) -> StoreError,
) -> Done {
    let change = lock(memory).plan(op)?;
    let writes = change.writes().map_err(WriteError::Store)?;
    apply(conn, writes).map_err(|err| WriteError::Store(sqlite_err(err)))?;
    Ok(lock(memory).apply(change))
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

    fn snapshot(store: &Store) -> Vec<(Option<String>, Option<String>)> {
        store.with_graph(|events| {
            events
                .iter()
                .map(|event| (event.id.clone(), event.activity.clone()))
                .collect()
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_leave_memory_and_disk_in_one_order() {
        let dir = std::env::temp_dir().join(format!(
            "auditkit-emulator-store-order-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.db");
        let store = std::sync::Arc::new(Store::open(&path).await.unwrap());
        let mut writers = Vec::new();
        for writer in 0..8 {
            let store = std::sync::Arc::clone(&store);
            writers.push(tokio::spawn(async move {
                let mut outcomes = Vec::new();
                // ends on inserts then updates, so the store is not left empty and its
                // last values come from both kinds of write
                for step in 0..44 {
                    // few ids, so writers collide on the same events all the time
                    let id = format!("e{}", (writer * 3 + step) % 7);
                    let value = format!("w{writer}s{step}");
                    let outcome = match step % 5 {
                        0 | 1 => store.insert_graph(vec![event(&id, &value)]).await,
                        2 | 3 => store
                            .update_graph(
                                &id,
                                Box::new(move |old| {
                                    Ok(AuditEvent {
                                        activity: Some(value),
                                        ..old.clone()
                                    })
                                }),
                            )
                            .await
                            .map(drop),
                        _ => store.delete_graph(&id).await,
                    };
                    outcomes.push(outcome);
                }
                outcomes
            }));
        }
        let mut refused = 0;
        for writer in writers {
            for outcome in writer.await.unwrap() {
                match outcome {
                    Ok(()) => {}
                    Err(WriteError::Exists | WriteError::NotFound) => refused += 1,
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
        assert!(refused > 0, "the writers never collided");
        let live = snapshot(&store);
        assert!(!live.is_empty());
        let reopened = Store::open(&path).await.unwrap();
        assert_eq!(live, snapshot(&reopened));
        drop((store, reopened));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
