//! Incremental, resumable export of Intune audit events: the job of every audit-log
//! collector.
//!
//! An export reads the events in `activityDateTime` order and remembers, in a [`Checkpoint`],
//! the newest instant it exported (the watermark) and the ids it exported in the
//! [overlap window](ExportOptions::overlap) before it. Each pass asks again for everything
//! from the watermark less the window, because events reach the service late; the ids in the
//! checkpoint keep any of them from being exported twice.
//!
//! Two levels:
//!
//! - [`AuditEvents::export`](crate::AuditEvents::export): a stream of [`ExportPage`]s, the
//!   new events of each service page with the checkpoint after it. Write the events
//!   durably, then save the checkpoint: a run killed in between exports that page again.
//! - [`FileExport`]: the same, written as JSON Lines to a file (or any writer), the
//!   checkpoint in a state file replaced atomically after each page is on disk. The output
//!   file's length is part of the state, so a page written by a run that was killed before
//!   its state was saved is cut off the file and exported again: each id is written once.
//!
//! An event that reaches the service more than the overlap window after events later than it
//! were exported cannot be told from one exported before and forgotten: it is not exported,
//! and its id is reported ([`ExportPage::outside_window`]), so nothing is skipped silently.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::graph::{AuditEvent, AuditEvents, ListQuery, Page};
use crate::{Error, Field, Filter};

/// The format of a saved [`Checkpoint`]; a checkpoint of another version is refused.
const CHECKPOINT_VERSION: u32 = 1;

/// The largest state file read: ids of a busy tenant's overlap window fit many times over.
const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

/// Where an export stands. Serialise it (JSON) to resume; [`FileExport`] does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    version: u32,
    /// The `$filter` the export was started with: a checkpoint resumes the same export.
    pub filter: Option<String>,
    /// The export's start: no event before it is asked for.
    pub since: Option<DateTime<Utc>>,
    /// The `activityDateTime` of the newest event exported.
    pub watermark: Option<DateTime<Utc>>,
    /// The ids exported in the overlap window before the watermark, with their instants.
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// How far the output file was written when this checkpoint was saved ([`FileExport`]).
    #[serde(default)]
    pub output: Option<OutputMark>,
}

/// The output file of a [`FileExport`] as its last saved page left it: which file (device
/// and inode) and how long it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputMark {
    /// The device holding the file (0 off Unix).
    pub device: u64,
    /// The file's inode number (0 off Unix).
    pub inode: u64,
    /// The file's length in bytes once the page was on disk.
    pub length: u64,
}

impl Checkpoint {
    /// A new export of the events matching `filter` (all when `None`) from `since` on (from
    /// the oldest the service keeps when `None`).
    pub fn new(filter: Option<String>, since: Option<DateTime<Utc>>) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            filter,
            since,
            watermark: None,
            seen: BTreeMap::new(),
            output: None,
        }
    }

    /// The oldest instant a pass asks for: the watermark less the window, never before
    /// `since`.
    fn lower_bound(&self, overlap: Duration) -> Option<DateTime<Utc>> {
        let window = chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::MAX);
        let reread = self.watermark.map(|mark| {
            mark.checked_sub_signed(window)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        });
        match (reread, self.since) {
            (Some(reread), Some(since)) => Some(reread.max(since)),
            (reread, since) => reread.or(since),
        }
    }

    /// The listing of one pass: the export's filter, from the lower bound on, oldest first.
    fn query(&self, options: &ExportOptions) -> ListQuery {
        let mut query = ListQuery::new().order_by("activityDateTime asc");
        let from = self
            .lower_bound(options.overlap)
            .map(|at| Filter::field(Field::ActivityDateTime).ge(at).to_string());
        let filter = match (self.filter.as_deref(), from) {
            (Some(filter), Some(from)) => Some(format!("({filter}) and {from}")),
            (Some(filter), None) => Some(filter.to_owned()),
            (None, from) => from,
        };
        if let Some(filter) = filter {
            query = query.filter(filter);
        }
        if let Some(top) = options.page_size {
            query = query.top(top);
        }
        query
    }

    /// Takes one page's events: keeps those not exported before, advances the watermark and
    /// forgets ids that fell out of the window.
    fn take(&mut self, page: Vec<AuditEvent>, overlap: Duration) -> ExportPage {
        let mut taken = ExportPage::default();
        for event in page {
            let (Some(id), Some(at)) = (event.id.clone(), event.activity_date_time) else {
                // Nothing to recognise it by in a later pass: exported, and counted.
                taken.untracked += 1;
                taken.events.push(event);
                continue;
            };
            if self.seen.contains_key(&id) {
                taken.repeated += 1;
                continue;
            }
            if self.lower_bound(overlap).is_some_and(|bound| at < bound) {
                // Older than anything this checkpoint still remembers: it may have been
                // exported before.
                taken.outside_window.push(id);
                continue;
            }
            self.seen.insert(id, at);
            self.watermark = Some(self.watermark.map_or(at, |mark| mark.max(at)));
            taken.events.push(event);
        }
        if let Some(bound) = self.lower_bound(overlap) {
            self.seen.retain(|_, at| *at >= bound);
        }
        taken.checkpoint = Some(self.clone());
        taken
    }
}

/// How an export reads.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// How late an event may reach the service and still be exported: each pass rereads
    /// this much before the watermark. [`ExportOptions::DEFAULT_OVERLAP`] by default.
    pub overlap: Duration,
    /// `$top` asked of the service (its default when `None`).
    pub page_size: Option<u64>,
}

impl ExportOptions {
    /// Fifteen minutes.
    pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(15 * 60);

    /// The defaults: a [`DEFAULT_OVERLAP`](ExportOptions::DEFAULT_OVERLAP) window and the
    /// service's page size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ExportOptions::overlap`]: how late an event may arrive and still be exported.
    #[must_use]
    pub fn overlap(mut self, overlap: Duration) -> Self {
        self.overlap = overlap;
        self
    }

    /// Sets [`ExportOptions::page_size`]: the `$top` asked of the service for each page.
    #[must_use]
    pub fn page_size(mut self, top: u64) -> Self {
        self.page_size = Some(top);
        self
    }
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            overlap: Self::DEFAULT_OVERLAP,
            page_size: None,
        }
    }
}

/// What one service page added to an export.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ExportPage {
    /// The events not exported before, in the service's order.
    pub events: Vec<AuditEvent>,
    /// The checkpoint once these events are written. Always set.
    pub checkpoint: Option<Checkpoint>,
    /// Events skipped because this export wrote them before (the overlap reread them).
    pub repeated: u64,
    /// Ids of events older than the overlap window: not exported, because they may have been
    /// exported before; fetch them by id if they matter.
    pub outside_window: Vec<String>,
    /// Events without an id or an `activityDateTime`: exported, but a later pass that reads
    /// them again exports them again.
    pub untracked: u64,
}

pub(crate) fn pages(
    events: &AuditEvents<'_>,
    checkpoint: Checkpoint,
    options: &ExportOptions,
) -> BoxStream<'static, Result<ExportPage, Error>> {
    let query = checkpoint.query(options);
    let overlap = options.overlap;
    let mut checkpoint = checkpoint;
    events
        .pages(query)
        .map_ok(move |page: Page<AuditEvent>| checkpoint.take(page.items, overlap))
        .boxed()
}

/// Why a [`FileExport`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The service (or the network) failed; everything written before is saved.
    #[error(transparent)]
    Service(#[from] Error),
    /// The state file cannot be read or is not a checkpoint of this export.
    #[error("state file {path}: {reason}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong: the read error, a file too large, or text that is no checkpoint of
        /// this version.
        reason: String,
    },
    /// The state file is the checkpoint of an export with another filter.
    #[error(
        "state file {path} is the export of filter {saved:?}, not {given:?}: give another state file for another filter"
    )]
    OtherExport {
        /// The state file.
        path: PathBuf,
        /// The filter saved in the state file (`None`: all events).
        saved: Option<String>,
        /// The filter given to [`FileExport::open`] (`None`: all events).
        given: Option<String>,
    },
    /// Another export holds the state file.
    #[error("state file {path} is in use by another export")]
    Busy {
        /// The state file; its lock (the file beside it, its name with `.lock` added) is held.
        path: PathBuf,
    },
    /// Writing the output or the state failed; the state still describes what is on disk.
    #[error("{path}: {source}")]
    Io {
        /// The file that failed; `<output>` for a writer output, `<export>` when the
        /// blocking task doing the file work failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Where a [`FileExport`] writes its JSON Lines.
pub enum ExportOutput {
    /// Appended to this file, fsynced after each page; created owner-only (0600). Each id
    /// is written once, whenever the export is killed.
    File(PathBuf),
    /// To this writer, flushed after each page. A run killed after a flush and before its
    /// state was saved writes that page again on the next run.
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for ExportOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportOutput::File(path) => f.debug_tuple("File").field(path).finish(),
            ExportOutput::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// What a pass of a [`FileExport`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Service pages read.
    pub pages: u64,
    /// Events written to the output.
    pub written: u64,
    /// Events skipped because this export wrote them before (see [`ExportPage::repeated`]).
    pub repeated: u64,
    /// Ids of events older than the overlap window, not exported (see
    /// [`ExportPage::outside_window`]).
    pub outside_window: Vec<String>,
    /// Events written without an id or an `activityDateTime`, which a later pass may write
    /// again (see [`ExportPage::untracked`]).
    pub untracked: u64,
    /// Bytes of a page an earlier, killed run wrote without saving its state, cut off the
    /// output before this pass (they are exported again).
    pub discarded_bytes: u64,
}

/// An export to a JSON Lines file with its checkpoint in a state file. Holds the state file
/// locked from [`FileExport::open`] until dropped, so two exports never share one.
#[derive(Debug)]
pub struct FileExport {
    state_path: PathBuf,
    checkpoint: Checkpoint,
    output: ExportOutput,
    options: ExportOptions,
    _lock: File,
}

impl FileExport {
    /// Opens the export kept in `state`: the saved checkpoint when the file exists (its
    /// filter must be `filter`; `since` only starts a new export), a new one otherwise.
    pub fn open(
        state: impl Into<PathBuf>,
        filter: Option<String>,
        since: Option<DateTime<Utc>>,
        output: ExportOutput,
        options: ExportOptions,
    ) -> Result<Self, ExportError> {
        let state_path = state.into();
        let lock = lock(&state_path)?;
        let checkpoint = match read_checkpoint(&state_path)? {
            Some(saved) if saved.filter != filter => {
                return Err(ExportError::OtherExport {
                    path: state_path,
                    saved: saved.filter,
                    given: filter,
                });
            }
            Some(saved) => saved,
            None => Checkpoint::new(filter, since),
        };
        Ok(Self {
            state_path,
            checkpoint,
            output,
            options,
            _lock: lock,
        })
    }

    /// The checkpoint as last saved (or new).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// One pass: every event not exported before, page after page, each page on disk before
    /// its checkpoint is saved. On an error, what was written before it stays saved.
    pub async fn run(&mut self, events: &AuditEvents<'_>) -> Result<ExportSummary, ExportError> {
        let mut summary = ExportSummary {
            discarded_bytes: self.cut_unsaved_tail()?,
            ..ExportSummary::default()
        };
        let mut pages = pages(events, self.checkpoint.clone(), &self.options);
        while let Some(page) = pages.try_next().await? {
            summary.pages += 1;
            summary.repeated += page.repeated;
            summary.untracked += page.untracked;
            summary.outside_window.extend(page.outside_window);
            let Some(mut checkpoint) = page.checkpoint else {
                continue;
            };
            if page.events.is_empty() && checkpoint == self.checkpoint {
                continue;
            }
            let mut lines = Vec::new();
            for event in &page.events {
                let json = serde_json::to_string(event).map_err(|err| ExportError::Io {
                    path: self.output_name(),
                    source: io::Error::other(err),
                })?;
                lines.extend_from_slice(crate::printable_json(&json).as_bytes());
                lines.push(b'\n');
            }
            checkpoint.output = self.write(&lines).await?;
            save_checkpoint(&self.state_path, &checkpoint).await?;
            summary.written += page.events.len() as u64;
            self.checkpoint = checkpoint;
        }
        Ok(summary)
    }

    fn output_name(&self) -> PathBuf {
        match &self.output {
            ExportOutput::File(path) => path.clone(),
            ExportOutput::Writer(_) => PathBuf::from("<output>"),
        }
    }

    /// A page a killed run appended after its last saved state is cut off, so that it is
    /// written once, by this run.
    fn cut_unsaved_tail(&self) -> Result<u64, ExportError> {
        let (ExportOutput::File(path), Some(mark)) = (&self.output, self.checkpoint.output) else {
            return Ok(0);
        };
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        let file = match OpenOptions::new().write(true).open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(error) => return Err(io(error)),
        };
        let metadata = file.metadata().map_err(io)?;
        // Another file (rotated, replaced) or one cut shorter by someone else: not ours to cut.
        if output_mark(&metadata).is_none_or(|now| {
            now.device != mark.device || now.inode != mark.inode || now.length <= mark.length
        }) {
            return Ok(0);
        }
        file.set_len(mark.length).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(metadata.len() - mark.length)
    }

    /// Writes one page's lines durably; the output's mark after them.
    async fn write(&mut self, lines: &[u8]) -> Result<Option<OutputMark>, ExportError> {
        match &mut self.output {
            ExportOutput::File(path) => {
                let path = path.clone();
                let lines = lines.to_vec();
                blocking(move || {
                    let io = |source| ExportError::Io {
                        path: path.clone(),
                        source,
                    };
                    let mut file = owner_only()
                        .append(true)
                        .create(true)
                        .open(&path)
                        .map_err(io)?;
                    file.write_all(&lines).map_err(io)?;
                    file.sync_data().map_err(io)?;
                    Ok(output_mark(&file.metadata().map_err(io)?))
                })
                .await
            }
            ExportOutput::Writer(writer) => {
                let io = |source| ExportError::Io {
                    path: PathBuf::from("<output>"),
                    source,
                };
                writer.write_all(lines).map_err(io)?;
                writer.flush().map_err(io)?;
                Ok(None)
            }
        }
    }
}

impl AuditEvents<'_> {
    /// One pass of an incremental export from `checkpoint`: one [`ExportPage`] per service
    /// page, with the events not exported before and the checkpoint to save once they are
    /// written. Start with [`Checkpoint::new`]; see [`crate::export`].
    pub fn export(
        &self,
        checkpoint: Checkpoint,
        options: &ExportOptions,
    ) -> BoxStream<'static, Result<ExportPage, Error>> {
        pages(self, checkpoint, options)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ExportError> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ExportError::Io {
            path: PathBuf::from("<export>"),
            source: io::Error::other(err),
        })?
}

fn owner_only() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// A regular file's identity and length; `None` for a pipe or a terminal, which cannot be cut.
fn output_mark(metadata: &std::fs::Metadata) -> Option<OutputMark> {
    if !metadata.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(OutputMark {
            device: metadata.dev(),
            inode: metadata.ino(),
            length: metadata.len(),
        })
    }
    #[cfg(not(unix))]
    {
        Some(OutputMark {
            device: 0,
            inode: 0,
            length: metadata.len(),
        })
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock(state: &Path) -> Result<File, ExportError> {
    let path = sibling(state, ".lock");
    let file = owner_only()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ExportError::Busy {
            path: state.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ExportError::Io { path, source }),
    }
}

fn read_checkpoint(path: &Path) -> Result<Option<Checkpoint>, ExportError> {
    let state = |reason: String| ExportError::State {
        path: path.to_owned(),
        reason,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(state(error.to_string())),
    };
    let mut text = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(file, MAX_STATE_BYTES + 1), &mut text)
        .map_err(|err| state(err.to_string()))?;
    if text.len() as u64 > MAX_STATE_BYTES {
        return Err(state(format!("larger than {MAX_STATE_BYTES} bytes")));
    }
    let checkpoint: Checkpoint = serde_json::from_slice(&text)
        .map_err(|err| state(format!("not an export checkpoint ({err})")))?;
    if checkpoint.version != CHECKPOINT_VERSION {
        return Err(state(format!(
            "checkpoint version {} (this auditkit reads {CHECKPOINT_VERSION})",
            checkpoint.version
        )));
    }
    Ok(Some(checkpoint))
}

/// Replaces the state file atomically: a new file beside it, fsynced, renamed over it, and
/// the directory fsynced so the rename itself survives a power cut.
async fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), ExportError> {
    let path = path.to_owned();
    let json = serde_json::to_vec(checkpoint).map_err(|err| ExportError::Io {
        path: path.clone(),
        source: io::Error::other(err),
    })?;
    blocking(move || {
        let fresh = sibling(&path, ".tmp");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ExportError::Io { path, source }
        };
        let mut file = owner_only()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&fresh)
            .map_err(io(&fresh))?;
        file.write_all(&json).map_err(io(&fresh))?;
        file.sync_all().map_err(io(&fresh))?;
        std::fs::rename(&fresh, &path).map_err(io(&path))?;
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        #[cfg(unix)]
        File::open(directory)
            .and_then(|dir| dir.sync_all())
            .map_err(io(directory))?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, at: &str) -> AuditEvent {
        AuditEvent {
            id: Some(id.into()),
            activity_date_time: Some(at.parse().unwrap()),
            ..AuditEvent::default()
        }
    }

    fn ids(page: &ExportPage) -> Vec<&str> {
        page.events.iter().filter_map(|e| e.id.as_deref()).collect()
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_reread_event_is_taken_once_and_the_window_forgets_what_it_left() {
        let mut checkpoint = Checkpoint::new(None, None);
        let first = checkpoint.take(
            vec![
                event("a", "2026-01-01T10:00:00Z"),
                event("b", "2026-01-01T10:05:00Z"),
            ],
            MINUTE,
        );
        assert_eq!(ids(&first), ["a", "b"]);
        // `a` is older than the window before the watermark (10:05 less a minute): forgotten.
        assert_eq!(checkpoint.seen.keys().collect::<Vec<_>>(), ["b"]);
        // The next pass rereads `b`, and `c` came late but inside the window.
        let second = checkpoint.take(
            vec![
                event("c", "2026-01-01T10:04:30Z"),
                event("b", "2026-01-01T10:05:00Z"),
                event("d", "2026-01-01T10:06:00Z"),
            ],
            MINUTE,
        );
        assert_eq!(ids(&second), ["c", "d"]);
        assert_eq!(second.repeated, 1);
        assert_eq!(
            checkpoint.watermark,
            Some("2026-01-01T10:06:00Z".parse().unwrap())
        );
        // Late by more than the window: reported, not taken (it may be one forgotten).
        let third = checkpoint.take(vec![event("e", "2026-01-01T10:04:00Z")], MINUTE);
        assert!(third.events.is_empty());
        assert_eq!(third.outside_window, ["e"]);
    }

    #[test]
    fn a_pass_asks_from_the_watermark_less_the_window_never_before_since() {
        let options = ExportOptions::new().overlap(MINUTE).page_size(50);
        let since: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let mut checkpoint = Checkpoint::new(Some("category eq 'Device'".into()), Some(since));
        let query = |checkpoint: &Checkpoint| format!("{:?}", checkpoint.query(&options));
        assert!(
            query(&checkpoint)
                .contains("(category eq 'Device') and activityDateTime ge 2026-01-01T10:00:00Z"),
            "{}",
            query(&checkpoint)
        );
        checkpoint.watermark = Some("2026-01-01T10:00:30Z".parse().unwrap());
        assert!(query(&checkpoint).contains("ge 2026-01-01T10:00:00Z"));
        checkpoint.watermark = Some("2026-01-01T11:00:00Z".parse().unwrap());
        assert!(query(&checkpoint).contains("ge 2026-01-01T10:59:00Z"));
        assert!(query(&checkpoint).contains("activityDateTime asc"));
    }

    #[test]
    fn events_without_an_id_or_a_time_are_exported_and_counted() {
        let mut checkpoint = Checkpoint::new(None, None);
        let page = checkpoint.take(
            vec![AuditEvent::default(), event("a", "2026-01-01T10:00:00Z")],
            MINUTE,
        );
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.untracked, 1);
    }

    #[test]
    fn a_state_file_that_is_no_checkpoint_is_refused_with_its_reason() {
        let dir = std::env::temp_dir().join(format!("auditkit-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        for (text, reason) in [
            ("{not json", "not an export checkpoint"),
            (
                r#"{"version":2,"filter":null,"since":null,"watermark":null,"seen":{}}"#,
                "version 2",
            ),
            (
                r#"{"version":1,"filter":null,"since":null,"watermark":null,"seen":{},"extra":1}"#,
                "unknown field",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = read_checkpoint(&path).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
