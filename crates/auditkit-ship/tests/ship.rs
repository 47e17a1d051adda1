//! The shipper over loopback: a spool file in a temp directory, wiremock on 127.0.0.1 standing
//! in for Graph (and its Entra token endpoint) or Adobe. The crash test ships to the emulator
//! instead, with injected faults: it runs this test binary again as a child process
//! (`ship_child_process`, switched on by environment variables) and kills it with SIGKILL at
//! seeded points.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auditkit::graph::AuditEvent;
use auditkit::{
    AdobeClient, EntraCredential, GraphClient, ImsCredential, ImsEnvironment, ListQuery,
    ManualClock, RateLimit, RetryPolicy, Timeouts,
};
use auditkit_emulator::{Emulator, EmulatorConfig, Fault, FaultConfig};
use auditkit_ship::{ADOBE_EVENT_ID_TAG, Durability, GraphShipper, ShipError, Shipper, WhenFull};
use futures::TryStreamExt;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[cfg(unix)]
#[path = "ship/children.rs"]
mod children;
#[path = "ship/failures.rs"]
mod failures;
#[cfg(unix)]
#[path = "ship/files.rs"]
mod files;

// The one place test servers are made, under the names these tests use.
use auditkit_testing::{EVENTS, SEED, TOKEN_PATH, server as start};

fn graph_builder(uri: &str) -> auditkit::GraphClientBuilder {
    let uri = url::Url::parse(uri).unwrap();
    GraphClient::builder()
        .credential(
            EntraCredential::client_secret("tenant", "app", "secret").authority_host(uri.clone()),
        )
        .base_url(uri.join("/v1.0").unwrap())
        .http_client(auditkit::HttpClient::new().unwrap())
        .retry(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(1))
                .max_backoff(Duration::from_millis(5))
                .jitter_seed(SEED),
        )
}

fn graph(server: &MockServer) -> GraphClient {
    graph_builder(&server.uri()).build().unwrap()
}

/// A fresh directory for one test's spool; removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "auditkit-ship-{name}-{}-{}",
            std::process::id(),
            Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn spool(&self) -> PathBuf {
        self.0.join("spool.db")
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn deadline(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

/// Answers event POSTs: 201 for accepted ones (recording their correlationId), and 400 for
/// events without an `activity` when `require_activity`.
#[derive(Clone, Default)]
struct Recorder {
    accepted: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    require_activity: bool,
}

impl Recorder {
    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = request.body_json().unwrap();
        if self.require_activity && body.get("activity").is_none() {
            return ResponseTemplate::new(400).set_body_json(json!({
                "error": {"code": "BadRequest", "message": "activity is required"}
            }));
        }
        let id = body
            .get("correlationId")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        self.accepted.lock().unwrap().push(id.clone());
        self.bodies.lock().unwrap().push(body);
        ResponseTemplate::new(201).set_body_json(json!({"id": id}))
    }
}

async fn mount_events(server: &MockServer, recorder: &Recorder) {
    Mock::given(method("POST"))
        .and(path(EVENTS))
        .respond_with(recorder.clone())
        .mount(server)
        .await;
}

fn event(n: u128) -> AuditEvent {
    AuditEvent {
        correlation_id: Some(Uuid::from_u128(
            0xa0d1_7000_0000_0000_0000_0000_0000_0000 | n,
        )),
        activity: Some(format!("event {n}")),
        ..AuditEvent::default()
    }
}

async fn shipper(server: &MockServer, spool: &Path) -> GraphShipper {
    Shipper::builder(graph(server), spool)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
        .jitter_seed(SEED)
        .open()
        .await
        .unwrap()
}

#[tokio::test]
async fn delivers_every_event_with_its_correlation_id_and_counts_it() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("deliver");
    let shipper = shipper(&server, &dir.spool()).await;

    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(shipper.send(event(n)).await.unwrap());
    }
    // An event without an id gets a new GUID, returned by send.
    let fresh = shipper.send(AuditEvent::default()).await.unwrap();
    assert!(Uuid::parse_str(&fresh).is_ok(), "{fresh}");
    ids.push(fresh);

    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!(stats.spooled, 0, "{stats:?}");
    assert_eq!(stats.delivered, 21, "{stats:?}");
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.oldest_spooled_age, None);
    let mut accepted = recorder.accepted();
    accepted.sort();
    ids.sort();
    assert_eq!(accepted, ids);
    shipper.shutdown(deadline(5)).await.unwrap();
    assert!(matches!(
        shipper.send(event(99)).await,
        Err(ShipError::Closed)
    ));
}

/// Under `Durability::Full`, the commits that record events run with `synchronous=FULL`: the
/// level is read by the spool thread inside each committed transaction that appended events,
/// just before its commit; asking for the settings changes nothing.
#[tokio::test]
async fn commits_that_record_events_run_with_full_sync_by_default_and_normal_on_request() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("pragmas");
    let open = |durability| {
        Shipper::builder(graph(&server), dir.spool())
            .durability(durability)
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
            .start_paused(true)
            .open()
    };
    let shipper = open(Durability::Full).await.unwrap();
    let settings = shipper.spool_settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, None, "no event recorded yet");
    assert_eq!(settings.locking_mode, "exclusive");
    assert_eq!(settings.user_version, 2);
    let application_id = settings.application_id;
    assert_ne!(application_id, 0);
    // Deliveries in between commit at NORMAL (removals); each send is a commit of its own.
    for n in 0..3 {
        shipper.send(event(n)).await.unwrap();
        assert_eq!(
            shipper.spool_settings().await.unwrap().synchronous,
            Some(2),
            "the append of event {n} committed with FULL"
        );
        shipper.resume();
        let stats = shipper.flush(deadline(10)).await.unwrap();
        assert_eq!(stats.delivered, n as u64 + 1);
        shipper.pause();
    }
    shipper
        .send_all_with_checkpoint(Vec::new(), "input", "1")
        .await
        .unwrap();
    assert_eq!(shipper.spool_settings().await.unwrap().synchronous, Some(2));
    shipper.shutdown(deadline(5)).await.unwrap();

    // WAL is a property of the file: another connection sees it too.
    let conn = rusqlite::Connection::open(dir.spool()).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    assert_eq!(id, application_id);
    drop(conn);

    let normal = open(Durability::Normal).await.unwrap();
    normal.send(event(10)).await.unwrap();
    let settings = normal.spool_settings().await.unwrap();
    assert_eq!(settings.journal_mode, "wal");
    assert_eq!(settings.synchronous, Some(1), "NORMAL");
    normal.shutdown(deadline(5)).await.unwrap();
}

async fn eventually<T>(mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let until = deadline(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_400_is_dead_lettered_with_its_body_and_a_fixed_requeue_is_delivered() {
    let server = start().await;
    let recorder = Recorder {
        require_activity: true,
        ..Recorder::default()
    };
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("dead");
    let shipper = shipper(&server, &dir.spool()).await;

    let bad = AuditEvent {
        display_name: Some("no activity".into()),
        ..AuditEvent::default()
    };
    let id = shipper.send(bad).await.unwrap();
    shipper.send(event(1)).await.unwrap();
    let letters = eventually(async || {
        let letters = shipper.dead_letters().await.unwrap();
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.event_id, id);
    assert_eq!(letter.status, Some(400));
    let body = String::from_utf8(letter.error_body.clone()).unwrap();
    assert!(body.contains("activity is required"), "{body}");
    assert!(letter.error.contains("400"), "{}", letter.error);
    let age = letter.failed_at.elapsed().unwrap();
    assert!(age < Duration::from_secs(60), "{age:?}");
    assert_eq!(letter.event.display_name.as_deref(), Some("no activity"));

    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!(
        (stats.spooled, stats.dead_letters, stats.dead_lettered),
        (0, 1, 1)
    );
    assert_eq!(stats.delivered, 1, "the good event went through");

    // Fixed without an id of its own: it keeps the dead letter's id.
    let fixed = AuditEvent {
        activity: Some("fixed".into()),
        display_name: Some("no activity".into()),
        ..AuditEvent::default()
    };
    shipper.requeue(letter.id, Some(fixed)).await.unwrap();
    assert!(matches!(
        shipper.requeue(letter.id, None).await,
        Err(ShipError::UnknownDeadLetter(_))
    ));
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.dead_letters), (0, 0), "{stats:?}");
    assert!(shipper.dead_letters().await.unwrap().is_empty());
    let bodies = recorder.bodies.lock().unwrap().clone();
    let redelivered = bodies
        .iter()
        .find(|body| body["correlationId"] == id.as_str())
        .unwrap();
    assert_eq!(redelivered["activity"], "fixed");
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn a_full_spool_makes_send_wait_until_deliveries_make_room() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("full-wait");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .capacity(2)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    shipper.send(event(1)).await.unwrap();
    shipper.send(event(2)).await.unwrap();
    let blocked = tokio::spawn({
        let shipper = shipper.clone();
        async move { shipper.send(event(3)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!blocked.is_finished(), "send waits while the spool is full");
    assert_eq!(shipper.spooled(), 2);

    shipper.resume();
    tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("send unblocks once deliveries made room")
        .unwrap()
        .unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 3), "{stats:?}");
    assert_eq!(recorder.accepted().len(), 3);
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn a_full_spool_refuses_with_a_clear_error_when_asked_to() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("full-error");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .capacity(2)
        .when_full(WhenFull::Error)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    shipper.send(event(1)).await.unwrap();
    shipper.send(event(2)).await.unwrap();
    let error = shipper.send(event(3)).await.unwrap_err();
    assert!(
        matches!(error, ShipError::Full { capacity: 2 }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the spool is full (2 events); the event was not recorded"
    );
    assert_eq!(shipper.spooled(), 2, "nothing dropped, nothing added");

    shipper.resume();
    shipper.flush(deadline(10)).await.unwrap();
    shipper.send(event(3)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 3), "{stats:?}");
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn send_all_records_a_batch_at_once_and_all_or_nothing() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("send-all");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .capacity(10)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    assert_eq!(shipper.capacity(), 10);
    assert!(shipper.send_all(Vec::new()).await.unwrap().is_empty());

    // Ids come back in order; an event without one gets a fresh GUID.
    let mut batch: Vec<AuditEvent> = (0..7).map(event).collect();
    batch.push(AuditEvent {
        activity: Some("no id".into()),
        ..AuditEvent::default()
    });
    let ids = shipper.send_all(batch).await.unwrap();
    assert_eq!(ids.len(), 8);
    for (n, id) in ids.iter().take(7).enumerate() {
        assert_eq!(*id, event(n as u128).correlation_id.unwrap().to_string());
    }
    assert!(Uuid::parse_str(&ids[7]).is_ok());
    assert_eq!(shipper.spooled(), 8);

    // Larger than the capacity: refused, nothing recorded.
    let error = shipper.send_all((100..111).map(event)).await.unwrap_err();
    assert!(
        matches!(
            error,
            ShipError::BatchTooLarge {
                events: 11,
                capacity: 10
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("nothing was recorded"),
        "{error}"
    );
    assert_eq!(shipper.spooled(), 8);

    // Fits the capacity but not the room left: waits for all of it, then records all of it.
    let blocked = tokio::spawn({
        let shipper = shipper.clone();
        async move { shipper.send_all((200..205).map(event)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !blocked.is_finished(),
        "send_all waits for room for the whole batch"
    );
    assert_eq!(shipper.spooled(), 8, "no part of the batch was recorded");
    shipper.resume();
    let ids = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("send_all unblocks once deliveries made room")
        .unwrap()
        .unwrap();
    assert_eq!(ids.len(), 5);
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 13), "{stats:?}");
    let accepted: HashSet<String> = recorder.accepted().into_iter().collect();
    assert_eq!(accepted.len(), 13);
    assert!(accepted.contains(&ids[4]));
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn send_all_refuses_a_batch_without_room_when_asked_to() {
    let server = start().await;
    let dir = TempDir::new("send-all-full");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .capacity(10)
        .when_full(WhenFull::Error)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    shipper.send_all((0..8).map(event)).await.unwrap();
    let error = shipper.send_all((8..11).map(event)).await.unwrap_err();
    assert!(
        matches!(error, ShipError::Full { capacity: 10 }),
        "{error:?}"
    );
    assert_eq!(shipper.spooled(), 8, "all or nothing");
    shipper.send_all((8..10).map(event)).await.unwrap();
    assert_eq!(shipper.spooled(), 10);
    shipper.shutdown(Instant::now()).await.unwrap();
}

#[tokio::test]
async fn checkpoints_commit_with_their_batch_and_survive_a_reopen() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("checkpoint");
    let open = || {
        Shipper::builder(graph(&server), dir.spool())
            .capacity(10)
            .when_full(WhenFull::Error)
            .start_paused(true)
            .open()
    };
    let shipper = open().await.unwrap();
    assert_eq!(shipper.checkpoint("input.jsonl").await.unwrap(), None);
    let ids = shipper
        .send_all_with_checkpoint((0..4).map(event), "input.jsonl", "4")
        .await
        .unwrap();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        shipper.checkpoint("input.jsonl").await.unwrap().as_deref(),
        Some("4")
    );
    // Moves forward with the next batch; other keys are separate.
    shipper
        .send_all_with_checkpoint((4..6).map(event), "input.jsonl", "6")
        .await
        .unwrap();
    shipper
        .send_all_with_checkpoint(Vec::new(), "other.jsonl", "blank lines only")
        .await
        .unwrap();
    // A batch that is refused leaves the checkpoint where it was.
    let error = shipper
        .send_all_with_checkpoint((6..11).map(event), "input.jsonl", "11")
        .await
        .unwrap_err();
    assert!(matches!(error, ShipError::Full { .. }), "{error:?}");
    let error = shipper
        .send_all_with_checkpoint((6..17).map(event), "input.jsonl", "17")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ShipError::BatchTooLarge { .. }),
        "{error:?}"
    );
    assert_eq!(
        shipper.checkpoint("input.jsonl").await.unwrap().as_deref(),
        Some("6")
    );
    assert_eq!(shipper.spooled(), 6);
    // The key `destination` of the spool's own metadata is not a checkpoint.
    assert_eq!(shipper.checkpoint("destination").await.unwrap(), None);
    shipper.shutdown(Instant::now()).await.unwrap();

    let shipper = open().await.unwrap();
    assert_eq!(shipper.spooled(), 6);
    assert_eq!(
        shipper.checkpoint("input.jsonl").await.unwrap().as_deref(),
        Some("6")
    );
    assert_eq!(
        shipper.checkpoint("other.jsonl").await.unwrap().as_deref(),
        Some("blank lines only")
    );
    shipper.resume();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 6), "{stats:?}");
    assert_eq!(
        shipper.checkpoint("input.jsonl").await.unwrap().as_deref(),
        Some("6"),
        "delivery does not move the checkpoint"
    );
    shipper.shutdown(deadline(5)).await.unwrap();
    assert_eq!(recorder.accepted().len(), 6);
}

fn assert_refused_untouched(
    dir: &TempDir,
    error: Result<GraphShipper, ShipError>,
    before: &[u8],
    files: &[String],
    expect: &str,
) {
    let error = error.unwrap_err();
    assert!(matches!(error, ShipError::NotASpool { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(expect), "{message}");
    assert!(message.contains("left untouched"), "{message}");
    assert_eq!(
        std::fs::read(dir.spool()).unwrap(),
        before,
        "the file is unchanged"
    );
    assert_eq!(dir.files(), files, "no journal, WAL or shm file appeared");
}

#[tokio::test]
async fn foreign_or_corrupt_spool_files_are_refused_and_left_untouched() {
    let server = start().await;

    // Not SQLite at all.
    let dir = TempDir::new("foreign-bytes");
    let mut rng = fastrand::Rng::with_seed(SEED);
    let bytes: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
    std::fs::write(dir.spool(), &bytes).unwrap();
    let files = dir.files();
    let result = Shipper::builder(graph(&server), dir.spool()).open().await;
    assert_refused_untouched(&dir, result, &bytes, &files, "not an SQLite database");

    // Another application's SQLite database.
    let dir = TempDir::new("foreign-tables");
    {
        let conn = rusqlite::Connection::open(dir.spool()).unwrap();
        conn.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada');")
            .unwrap();
    }
    let before = std::fs::read(dir.spool()).unwrap();
    let files = dir.files();
    let result = Shipper::builder(graph(&server), dir.spool()).open().await;
    assert_refused_untouched(
        &dir,
        result,
        &before,
        &files,
        "another application (tables: users)",
    );

    // Another application_id.
    let dir = TempDir::new("foreign-appid");
    {
        let conn = rusqlite::Connection::open(dir.spool()).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234; CREATE TABLE events (x);")
            .unwrap();
    }
    let before = std::fs::read(dir.spool()).unwrap();
    let files = dir.files();
    let result = Shipper::builder(graph(&server), dir.spool()).open().await;
    assert_refused_untouched(&dir, result, &before, &files, "application_id is 0x4d2");

    // A spool of a future format (user_version), and a spool with a table added.
    for (name, change, expect) in [
        ("version", "PRAGMA user_version = 99;", "spool format 99"),
        ("extra", "CREATE TABLE mine (x);", "foreign table `mine`"),
    ] {
        let dir = TempDir::new(name);
        shipper(&server, &dir.spool())
            .await
            .shutdown(deadline(5))
            .await
            .unwrap();
        {
            let conn = rusqlite::Connection::open(dir.spool()).unwrap();
            conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
            conn.execute_batch(change).unwrap();
        }
        let before = std::fs::read(dir.spool()).unwrap();
        let files = dir.files();
        let result = Shipper::builder(graph(&server), dir.spool()).open().await;
        assert_refused_untouched(&dir, result, &before, &files, expect);
    }

    // A Graph spool is not delivered to Adobe.
    let dir = TempDir::new("other-api");
    shipper(&server, &dir.spool())
        .await
        .shutdown(deadline(5))
        .await
        .unwrap();
    let before = std::fs::read(dir.spool()).unwrap();
    let error = Shipper::builder(adobe(&server), dir.spool())
        .open()
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("it spools graph events"),
        "{error}"
    );
    assert_eq!(std::fs::read(dir.spool()).unwrap(), before);
}

#[tokio::test]
async fn one_spool_one_shipper_and_a_reopened_spool_delivers_what_was_left() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("reopen");
    let first = Shipper::builder(graph(&server), dir.spool())
        .start_paused(true)
        .open()
        .await
        .unwrap();
    for n in 0..5 {
        first.send(event(n)).await.unwrap();
    }
    let error = Shipper::builder(graph(&server), dir.spool())
        .open()
        .await
        .unwrap_err();
    assert!(matches!(error, ShipError::Locked { .. }), "{error:?}");

    let left = first.shutdown(Instant::now()).await.unwrap();
    assert_eq!(left.spooled, 5, "shutdown reports what is still spooled");
    assert!(recorder.accepted().is_empty());

    let second = shipper(&server, &dir.spool()).await;
    assert_eq!(second.spooled(), 5);
    let stats = second.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 5), "{stats:?}");
    let accepted: HashSet<String> = recorder.accepted().into_iter().collect();
    let expected: HashSet<String> = (0..5)
        .map(|n| event(n).correlation_id.unwrap().to_string())
        .collect();
    assert_eq!(accepted, expected);
    second.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn retryable_failures_stay_spooled_and_are_retried_with_backoff() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path(EVENTS))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(6)
        .mount(&server)
        .await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let dir = TempDir::new("retry");
    let shipper = Shipper::builder(graph(&server), dir.spool())
        .concurrency(1)
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(10))
        .open()
        .await
        .unwrap();
    let id = shipper.send(event(7)).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!(stats.spooled, 0, "{stats:?}");
    assert_eq!(stats.delivered, 1);
    assert_eq!(
        stats.retried, 3,
        "6 answers of 503 at 2 facade attempts each"
    );
    assert_eq!(stats.dead_lettered, 0);
    assert_eq!(recorder.accepted(), [id]);
    shipper.shutdown(deadline(5)).await.unwrap();
}

#[tokio::test]
async fn with_a_rate_limit_the_shipper_paces_and_reports_the_drain_time() {
    let server = start().await;
    let recorder = Recorder::default();
    mount_events(&server, &recorder).await;
    let clock = ManualClock::new();
    let limit = RateLimit::writes(2, Duration::from_secs(10));
    let client = graph_builder(&server.uri())
        .rate_limit(limit.clone())
        .time(Arc::new(clock.clone()), Arc::new(clock.clone()))
        .build()
        .unwrap();
    let dir = TempDir::new("rate");
    let shipper = Shipper::builder(client, dir.spool())
        .rate_limit(limit)
        .concurrency(1)
        .start_paused(true)
        .open()
        .await
        .unwrap();
    assert_eq!(shipper.expected_drain_time(), Some(Duration::ZERO));
    for n in 0..6 {
        shipper.send(event(n)).await.unwrap();
    }
    assert_eq!(
        shipper.expected_drain_time(),
        Some(Duration::from_secs(20)),
        "a burst of 2, then 4 more at one per 5 s"
    );
    shipper.resume();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 6));
    assert_eq!(clock.sleeps(), [Duration::from_secs(5); 4]);
    assert_eq!(shipper.expected_drain_time(), Some(Duration::ZERO));
    shipper.shutdown(deadline(5)).await.unwrap();

    let unlimited = Shipper::builder(graph(&server), TempDir::new("norate").spool());
    assert!(format!("{unlimited:?}").contains("rate_limit: None"));
}

fn adobe(server: &MockServer) -> AdobeClient {
    let uri = url::Url::parse(&server.uri()).unwrap();
    AdobeClient::builder()
        .base_url(uri.clone())
        .credential(
            ImsCredential::server_to_server("adobe-client", "s3cret", ["openid"])
                .org_id("ORG@AdobeOrg")
                .environment(ImsEnvironment::Custom(uri)),
        )
        .http_client(auditkit::HttpClient::new().unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn adobe_events_carry_the_event_id_tag() {
    let server = start().await;
    Mock::given(method("POST"))
        .and(path("/ims/token/v3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "t", "token_type": "bearer", "expires_in": 86399}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/audits"))
        .respond_with(ResponseTemplate::new(201).set_body_raw("\"id-1\"", "application/json"))
        .mount(&server)
        .await;
    let dir = TempDir::new("adobe");
    let shipper = Shipper::builder(adobe(&server), dir.spool())
        .open()
        .await
        .unwrap();
    let event = auditkit::adobe::AdobeAuditEvent {
        action: "create".into(),
        ims_org_id: "ORG@AdobeOrg".into(),
        resource: auditkit::adobe::Resource {
            resource_id: "r".into(),
        },
        service: auditkit::adobe::Service {
            service_id: "s".into(),
        },
        source: "azure".into(),
        tags: BTreeMap::from([("team".to_owned(), "sec".to_owned())]),
        timestamp: auditkit::adobe::Timestamp::now(),
        user_identifier: "u".into(),
    };
    let id = shipper.send(event).await.unwrap();
    let stats = shipper.flush(deadline(10)).await.unwrap();
    assert_eq!((stats.spooled, stats.delivered), (0, 1));
    let posted: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/audits")
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["tags"][ADOBE_EVENT_ID_TAG], id.as_str());
    assert_eq!(posted[0]["tags"]["team"], "sec");
    shipper.shutdown(deadline(5)).await.unwrap();
}

// ---- crash safety: a child process killed with SIGKILL --------------------------------------

const CHILD_URL: &str = "AUDITKIT_SHIP_CHILD_URL";
const CHILD_GRAPH_URL: &str = "AUDITKIT_SHIP_CHILD_GRAPH_URL";
const CHILD_TENANT: &str = "AUDITKIT_SHIP_CHILD_TENANT";
const CHILD_CLIENT_ID: &str = "AUDITKIT_SHIP_CHILD_CLIENT_ID";
const CHILD_CLIENT_SECRET: &str = "AUDITKIT_SHIP_CHILD_CLIENT_SECRET";
const CHILD_SEED: &str = "AUDITKIT_SHIP_CHILD_SEED";
const CHILD_SPOOL: &str = "AUDITKIT_SHIP_CHILD_SPOOL";
const CHILD_FROM: &str = "AUDITKIT_SHIP_CHILD_FROM";
const CHILD_TOTAL: &str = "AUDITKIT_SHIP_CHILD_TOTAL";
/// Events sent concurrently by the child before it reports them durable.
const CHUNK: u128 = 200;
/// The child's limit on one HTTP attempt. Short, so that an injected hang costs a worker a
/// moment rather than the run its time budget; a genuinely slow answer cut by it is retried
/// and at worst stored twice, which the test counts rather than forbids.
const CHILD_ATTEMPT: Duration = Duration::from_millis(250);

/// The emulator as the crash test's children see it: the Entra ID authority and Graph base URL
/// of a deployment, the app's client secret, and the seed their jitter is drawn from.
#[derive(Clone)]
struct Target {
    url: String,
    graph_url: String,
    tenant: String,
    client_id: String,
    client_secret: String,
    seed: u64,
}

impl Target {
    fn of(emulator: &Emulator, seed: u64) -> Self {
        let credentials = emulator.credentials();
        Self {
            url: emulator.url().to_string(),
            graph_url: emulator.graph_url().to_string(),
            tenant: credentials.tenant.clone(),
            client_id: credentials.graph_client_id.clone(),
            client_secret: credentials.graph_client_secret.clone(),
            seed,
        }
    }

    fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).unwrap();
        Some(Self {
            url: std::env::var(CHILD_URL).ok()?,
            graph_url: var(CHILD_GRAPH_URL),
            tenant: var(CHILD_TENANT),
            client_id: var(CHILD_CLIENT_ID),
            client_secret: var(CHILD_CLIENT_SECRET),
            seed: var(CHILD_SEED).parse().unwrap(),
        })
    }

    fn pass_to(&self, command: &mut Command) {
        command
            .env(CHILD_URL, &self.url)
            .env(CHILD_GRAPH_URL, &self.graph_url)
            .env(CHILD_TENANT, &self.tenant)
            .env(CHILD_CLIENT_ID, &self.client_id)
            .env(CHILD_CLIENT_SECRET, &self.client_secret)
            .env(CHILD_SEED, self.seed.to_string());
    }

    /// A client that fetches its token from the emulator's token endpoint, as against Entra ID.
    fn client(&self, attempt: Duration, retry: RetryPolicy) -> GraphClient {
        GraphClient::builder()
            .credential(
                EntraCredential::client_secret(&self.tenant, &self.client_id, &self.client_secret)
                    .authority_host(url::Url::parse(&self.url).unwrap()),
            )
            .base_url(url::Url::parse(&self.graph_url).unwrap())
            .http_client(auditkit::HttpClient::new().unwrap())
            .retry(retry.jitter_seed(self.seed))
            .timeouts(Timeouts {
                attempt,
                operation: Duration::from_secs(30),
            })
            .build()
            .unwrap()
    }
}

fn millisecond_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(attempts)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
}

/// Every kind of fault the emulator injects, none of them holding a request beyond the child's
/// attempt timeout for good: a hang is cut by that timeout, a delay stays below it.
fn crash_faults() -> FaultConfig {
    FaultConfig {
        rate: 0.1,
        kinds: vec![
            Fault::Throttle {
                retry_after: Some(1),
            },
            Fault::Throttle { retry_after: None },
            Fault::Unavailable,
            Fault::GatewayTimeout,
            Fault::Delay(Duration::from_millis(20)),
            Fault::Hang,
        ],
        intune_limits: false,
    }
}

/// Not a test of its own: the body of the child process of the crash test. Without the
/// environment variables it does nothing.
#[test]
fn ship_child_process() {
    let Some(target) = Target::from_env() else {
        return;
    };
    let spool = PathBuf::from(std::env::var(CHILD_SPOOL).unwrap());
    let from: u128 = std::env::var(CHILD_FROM).unwrap().parse().unwrap();
    let total: u128 = std::env::var(CHILD_TOTAL).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let retry = millisecond_retries(3)
            // An injected `Retry-After: 1` then goes back to the shipper, whose pause is capped
            // by its own millisecond backoff, instead of holding a worker for a second.
            .max_retry_after(Duration::from_millis(10));
        let shipper = Shipper::builder(target.client(CHILD_ATTEMPT, retry), &spool)
            .concurrency(16)
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(20))
            .jitter_seed(target.seed)
            .open()
            .await
            .unwrap();
        println!("CHILD READY {}", shipper.spooled());
        let mut next = from;
        while next < total {
            let end = (next + CHUNK).min(total);
            futures::future::try_join_all((next..end).map(|n| shipper.send(event(n))))
                .await
                .unwrap();
            println!("CHILD SPOOLED {end}");
            next = end;
        }
        println!("CHILD SENT_ALL");
        let stats = shipper.shutdown(deadline(120)).await.unwrap();
        println!(
            "CHILD DONE {} {} {}",
            stats.spooled, stats.dead_letters, stats.delivered
        );
    });
}

enum Kill {
    /// Once this many events are reported durable (mid-send).
    AtSpooled(u128),
    /// This long after the child has spooled everything (mid-delivery).
    AfterSentAll(Duration),
    Never,
}

/// Runs one child from event `from`; returns how far it got (events reported durable) and
/// whether it finished.
fn run_child(target: &Target, spool: &Path, from: u128, total: u128, kill: Kill) -> (u128, bool) {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(exe);
    command
        .args([
            "ship_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SPOOL, spool)
        .env(CHILD_FROM, from.to_string())
        .env(CHILD_TOTAL, total.to_string())
        .stdout(Stdio::piped())
        .stderr(match kill {
            Kill::Never => Stdio::inherit(),
            _ => Stdio::null(),
        });
    target.pass_to(&mut command);
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut durable = from;
    let mut done = false;
    let mut killed = false;
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("CHILD SPOOLED ") {
            durable = durable.max(n.parse().unwrap());
            if let Kill::AtSpooled(at) = kill
                && durable >= at
                && !killed
            {
                child.kill().unwrap(); // SIGKILL on Unix
                killed = true;
            }
        } else if line == "CHILD SENT_ALL" {
            if let Kill::AfterSentAll(wait) = kill
                && !killed
            {
                std::thread::sleep(wait);
                child.kill().unwrap();
                killed = true;
            }
        } else if let Some(rest) = line.strip_prefix("CHILD DONE ") {
            eprintln!("final child: still spooled / dead letters / delivered by it: {rest}");
            assert!(
                rest.starts_with("0 0 "),
                "the final child emptied the spool and dead-lettered nothing: {rest}"
            );
            done = true;
        }
    }
    let status = child.wait().unwrap();
    if !killed {
        assert!(status.success(), "child failed: {status:?}");
    }
    (durable, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_shippers_lose_no_event_and_duplicates_are_counted() {
    let seed = std::env::var("AUDITKIT_SHIP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let total: u128 = std::env::var("AUDITKIT_SHIP_CRASH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    eprintln!("crash test seed {seed} (AUDITKIT_SHIP_CRASH_SEED), {total} events");
    let emulator = Emulator::start(EmulatorConfig::new().rng_seed(seed).faults(crash_faults()))
        .await
        .unwrap();
    let target = Target::of(&emulator, seed);
    let dir = TempDir::new("crash");
    let spool = dir.spool();

    let plan = tokio::task::spawn_blocking({
        let target = target.clone();
        move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut from = 0;
            let mut kills = Vec::new();
            for round in 0..4 {
                let kill = if round == 3 {
                    Kill::AfterSentAll(Duration::from_millis(rng.u64(20..300)))
                } else {
                    let remaining = total - from;
                    Kill::AtSpooled(
                        from + 1
                            + u128::from(rng.u64(0..u64::try_from(remaining / 2).unwrap().max(1))),
                    )
                };
                kills.push(match kill {
                    Kill::AtSpooled(at) => format!("at {at} spooled"),
                    Kill::AfterSentAll(wait) => format!("{wait:?} after all spooled"),
                    Kill::Never => unreachable!(),
                });
                let (durable, done) = run_child(&target, &spool, from, total, kill);
                assert!(!done, "round {round} was meant to be killed");
                from = durable;
            }
            let (durable, done) = run_child(&target, &spool, from, total, Kill::Never);
            assert!(done && durable == total);
            kills
        }
    })
    .await
    .unwrap();

    // Read back through the API itself, faults and all: the emulator has no other window on
    // its store, and a listing that skipped or repeated a page would show in the count below.
    // Unlike the shipper, a listing has no retry of its own beyond the facade's: it waits out
    // `Retry-After` and gets enough attempts that injected faults cannot end it.
    let stored: Vec<AuditEvent> = target
        .client(Duration::from_secs(2), millisecond_retries(10))
        .audit_events()
        .list(ListQuery::new().top(1000))
        .try_collect()
        .await
        .unwrap();
    let stats = emulator.stats();
    emulator.shutdown().await;
    assert_eq!(
        stored.len() as u64,
        stats.events_stored,
        "the listing returned every stored event once"
    );
    if total >= 1_000 {
        // At this share of over a thousand requests, none at all means injection is off.
        assert!(stats.faults_injected > 0, "seed {seed}: no fault was met");
    }

    let expected: BTreeMap<String, u128> = (0..total)
        .map(|n| (event(n).correlation_id.unwrap().to_string(), n))
        .collect();
    let mut distinct = HashSet::new();
    for stored in &stored {
        let id = stored
            .correlation_id
            .expect("the shipper sent a correlationId")
            .to_string();
        let n = expected
            .get(&id)
            .unwrap_or_else(|| panic!("seed {seed}: unknown id {id} arrived"));
        assert_eq!(
            stored.activity.as_deref(),
            Some(format!("event {n}").as_str()),
            "seed {seed}: {id} arrived with another body"
        );
        distinct.insert(id);
    }
    let missing = expected.keys().filter(|id| !distinct.contains(*id)).count();
    eprintln!(
        "seed {seed}: kills {plan:?}; {} faults injected; {} stored, {} distinct, {} duplicates, {missing} missing",
        stats.faults_injected,
        stored.len(),
        distinct.len(),
        stored.len() - distinct.len()
    );
    assert_eq!(missing, 0, "seed {seed}: events lost");
    assert_eq!(distinct.len() as u128, total, "seed {seed}: distinct ids");
}
