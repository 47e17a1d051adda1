//! The incremental export against the emulator: each event written once across runs, late
//! arrivals inside the window taken, a page a killed run wrote without its state cut off,
//! and the state of another export refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use auditkit::export::{Checkpoint, ExportError, ExportOutput};
use auditkit::graph::AuditEvent;
use auditkit::{ExportOptions, FileExport, GraphClient};
use auditkit_emulator::{Emulator, EmulatorConfig};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

async fn emulator() -> (Emulator, GraphClient) {
    let emulator = Emulator::start(EmulatorConfig::new().seed_events(0))
        .await
        .unwrap();
    let client = auditkit_testing::emulator_graph(&emulator).build().unwrap();
    (emulator, client)
}

fn at(seconds: i64) -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::seconds(seconds)
}

/// Creates one event at `seconds` after the test's epoch; its id.
async fn create(client: &GraphClient, seconds: i64, category: &str) -> String {
    let event = AuditEvent {
        display_name: Some(format!("export test at {seconds}")),
        category: Some(category.into()),
        activity_date_time: Some(at(seconds)),
        ..AuditEvent::default()
    };
    client
        .audit_events()
        .create(&event)
        .await
        .unwrap()
        .id
        .unwrap()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("auditkit-export-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options() -> ExportOptions {
    ExportOptions::new()
        .overlap(Duration::from_secs(600))
        .page_size(4)
}

fn open(state: &Path, out: &Path) -> FileExport {
    FileExport::open(
        state,
        None,
        None,
        ExportOutput::File(out.to_owned()),
        options(),
    )
    .unwrap()
}

/// The ids in a JSON Lines output, in order.
fn written(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<AuditEvent>(line)
                .unwrap()
                .id
                .unwrap()
        })
        .collect()
}

fn once_each(ids: &[String]) -> BTreeSet<String> {
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "an id was written twice: {ids:?}");
    unique
}

#[tokio::test]
async fn runs_write_each_event_once_and_take_late_events_inside_the_window() {
    let (emulator, client) = emulator().await;
    let scratch = Scratch::new("runs");
    let (state, out) = (scratch.path("state.json"), scratch.path("events.jsonl"));
    let mut expected = BTreeSet::new();
    for n in 0..10 {
        expected.insert(create(&client, n * 10, "Device").await);
    }

    let first = open(&state, &out)
        .run(&client.audit_events())
        .await
        .unwrap();
    assert_eq!((first.written, first.pages), (10, 3));
    assert_eq!(once_each(&written(&out)), expected);

    // Newer events, and two that reach the service late: older than the watermark (90 s),
    // inside the ten-minute window.
    for seconds in [15, 200, 75, 210] {
        expected.insert(create(&client, seconds, "Device").await);
    }
    let second = open(&state, &out)
        .run(&client.audit_events())
        .await
        .unwrap();
    assert_eq!(second.written, 4);
    assert_eq!(second.repeated, 10, "the window rereads what was written");
    assert!(second.outside_window.is_empty());
    assert_eq!(once_each(&written(&out)), expected);

    // Nothing new: nothing written, the output untouched.
    let third = open(&state, &out)
        .run(&client.audit_events())
        .await
        .unwrap();
    assert_eq!(third.written, 0);
    assert_eq!(written(&out).len(), 14);

    // Later than the window allows (the watermark is now 210 s): reported, not written.
    let too_late = create(&client, -1000, "Device").await;
    let saved: Checkpoint = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let mut export = FileExport::open(
        &state,
        None,
        None,
        ExportOutput::File(out.clone()),
        options(),
    )
    .unwrap();
    assert_eq!(export.checkpoint(), &saved);
    let fourth = export.run(&client.audit_events()).await.unwrap();
    assert_eq!(fourth.written, 0);
    // The listing asks from the watermark less the window, so the service does not send it;
    // a pass with a window wide enough does, once.
    assert!(fourth.outside_window.is_empty());
    drop(export);
    let wide = ExportOptions::new()
        .overlap(Duration::from_secs(3600))
        .page_size(4);
    let fifth = FileExport::open(&state, None, None, ExportOutput::File(out.clone()), wide)
        .unwrap()
        .run(&client.audit_events())
        .await
        .unwrap();
    assert_eq!(fifth.written, 1);
    expected.insert(too_late);
    assert_eq!(once_each(&written(&out)), expected);
    emulator.shutdown().await;
}

#[tokio::test]
async fn events_that_arrive_while_the_export_pages_are_taken_once_by_this_pass_or_the_next() {
    let (emulator, client) = emulator().await;
    let mut expected = BTreeSet::new();
    for n in 0..12 {
        expected.insert(create(&client, n * 10, "Device").await);
    }
    let options = options();
    let mut checkpoint = Checkpoint::new(None, None);
    let mut seen = Vec::new();
    for pass in 0..2 {
        let mut pages = client.audit_events().export(checkpoint.clone(), &options);
        let mut page_number = 0;
        while let Some(page) = pages.try_next().await.unwrap() {
            seen.extend(page.events.iter().map(|e| e.id.clone().unwrap()));
            checkpoint = page.checkpoint.unwrap();
            page_number += 1;
            if pass == 0 && page_number == 1 {
                // While the first pass pages: one behind it, one ahead of it, one at the
                // instant it stands on.
                for seconds in [5, 300, 30] {
                    expected.insert(create(&client, seconds, "Device").await);
                }
            }
        }
    }
    assert_eq!(once_each(&seen), expected);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_page_a_killed_run_wrote_without_its_state_is_cut_off_and_written_once() {
    let (emulator, client) = emulator().await;
    let scratch = Scratch::new("killed");
    let (state, out) = (scratch.path("state.json"), scratch.path("events.jsonl"));
    let mut expected = BTreeSet::new();
    for n in 0..6 {
        expected.insert(create(&client, n, "Device").await);
    }
    open(&state, &out)
        .run(&client.audit_events())
        .await
        .unwrap();
    // A run killed after its page reached the file and before its state was replaced: the
    // file holds lines the state does not know (here, new events' lines).
    let mut late_lines = String::new();
    for n in 6..9 {
        let id = create(&client, n, "Device").await;
        expected.insert(id.clone());
        late_lines.push_str(
            &serde_json::to_string(&client.audit_events().get(&id).await.unwrap()).unwrap(),
        );
        late_lines.push('\n');
    }
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .unwrap()
        .write_all(late_lines.as_bytes())
        .unwrap();

    let rerun = open(&state, &out)
        .run(&client.audit_events())
        .await
        .unwrap();
    assert_eq!(rerun.discarded_bytes, late_lines.len() as u64);
    assert_eq!(rerun.written, 3);
    assert_eq!(once_each(&written(&out)), expected);

    // A file someone else replaced is not cut: only what this export wrote is its to cut.
    std::fs::remove_file(&out).unwrap();
    std::fs::write(&out, late_lines.repeat(3)).unwrap();
    let replaced = open(&state, &out)
        .run(&client.audit_events())
        .await
        .unwrap();
    assert_eq!((replaced.discarded_bytes, replaced.written), (0, 0));
    assert_eq!(written(&out).len(), 9);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::remove_file(&out).unwrap();
        std::fs::remove_file(&state).unwrap();
        open(&state, &out)
            .run(&client.audit_events())
            .await
            .unwrap();
        for file in [&out, &state] {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_state_in_use_or_of_another_filter_is_refused_and_left_as_it_is() {
    let (emulator, client) = emulator().await;
    let scratch = Scratch::new("refused");
    let (state, out) = (scratch.path("state.json"), scratch.path("events.jsonl"));
    create(&client, 0, "Device").await;
    create(&client, 1, "Application").await;
    let filter = Some("category eq 'Device'".to_owned());
    let open_with = |filter: Option<String>| {
        FileExport::open(
            &state,
            filter,
            None,
            ExportOutput::File(out.clone()),
            options(),
        )
    };
    let mut export = open_with(filter.clone()).unwrap();
    assert!(matches!(
        open_with(filter.clone()),
        Err(ExportError::Busy { .. })
    ));
    let summary = export.run(&client.audit_events()).await.unwrap();
    assert_eq!(summary.written, 1, "only the filter's events");
    drop(export);

    let saved = std::fs::read(&state).unwrap();
    let error = open_with(None).unwrap_err();
    assert!(matches!(error, ExportError::OtherExport { .. }), "{error}");
    assert!(
        error.to_string().contains("category eq 'Device'"),
        "{error}"
    );
    std::fs::write(&state, b"{\"version\":1,").unwrap();
    assert!(matches!(
        open_with(filter.clone()),
        Err(ExportError::State { .. })
    ));
    std::fs::write(&state, &saved).unwrap();
    assert!(open_with(filter).is_ok());
    emulator.shutdown().await;
}
