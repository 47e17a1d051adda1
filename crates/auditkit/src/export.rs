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
//!   file's identity, length and last bytes are part of the state, saved before the first
//!   page too, so a page written by a run that was killed before its state was saved is cut
//!   off the file and exported again: each id is written once.
//!
//! What the window cannot cover: an event that reaches the service more than the overlap
//! window after newer events were exported is older than anything the next pass asks for,
//! so no pass sees it. Make the window as long as the service's worst delay. An event the
//! service does hand back from before the window (a service that ignores `$filter`) is not
//! exported, since it may have been before, and its id is reported
//! ([`ExportPage::outside_window`]). A service that ignores `$orderby` stops the export
//! before anything of that page is written: the watermark would otherwise skip the rest.
//! An event dated in the future is exported, but the watermark never passes the present by
//! more than a few minutes, so one event with a wrong clock cannot hide the later ones.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::graph::{AuditEvent, AuditEvents, ListQuery, Page};
use crate::{Error, Field, Filter, ListingStop};

/// The format of a saved [`Checkpoint`]; a checkpoint of another version is refused.
const CHECKPOINT_VERSION: u32 = 1;

/// The largest state file read or written: ids of a busy tenant's overlap window fit many
/// times over.
const MAX_STATE_BYTES: u64 = 256 * 1024 * 1024;

/// How far past the present the watermark may move: clocks disagree by seconds, not by this.
const FUTURE_ALLOWANCE: chrono::Duration = chrono::Duration::minutes(5);

/// How many bytes before its end a saved output mark fingerprints.
const TAIL_BYTES: u64 = 4096;

/// Where an export stands. Serialise it (JSON) to resume; [`FileExport`] does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    version: u32,
    /// The `$filter` the export was started with: a checkpoint resumes the same export.
    pub filter: Option<String>,
    /// The export's start: no event before it is asked for.
    pub since: Option<DateTime<Utc>>,
    /// The `activityDateTime` of the newest event exported (never more than a few minutes
    /// past the time it was exported).
    pub watermark: Option<DateTime<Utc>>,
    /// The ids exported in the overlap window before the watermark, with their instants.
    pub seen: BTreeMap<String, DateTime<Utc>>,
    /// Before this instant, ids are no longer remembered: no pass asks for anything older,
    /// whatever the window, since those events may have been exported already.
    #[serde(default)]
    pub forgotten_before: Option<DateTime<Utc>>,
    /// How far the output file was written when this checkpoint was saved ([`FileExport`]).
    #[serde(default)]
    pub output: Option<OutputMark>,
}

/// The output file of a [`FileExport`] as its last saved page left it: which file (device
/// and inode), how long it was, and a fingerprint of its last bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputMark {
    /// The device holding the file (0 off Unix).
    pub device: u64,
    /// The file's inode number (0 off Unix).
    pub inode: u64,
    /// The file's length in bytes once the page was on disk.
    pub length: u64,
    /// SHA-256 of the (up to 4,096) bytes before `length`: a file that was replaced, even by
    /// one that reuses the inode number, is not mistaken for this one.
    #[serde(default)]
    pub tail_sha256: String,
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
            forgotten_before: None,
            output: None,
        }
    }

    /// The oldest instant a pass asks for: the watermark less the window, never before
    /// `since` nor before what is forgotten.
    fn lower_bound(&self, overlap: Duration) -> Option<DateTime<Utc>> {
        let window = chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::MAX);
        let reread = self.watermark.map(|mark| {
            mark.checked_sub_signed(window)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        });
        [reread, self.since, self.forgotten_before]
            .into_iter()
            .flatten()
            .max()
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
    /// forgets ids that fell out of the window. `last` is the newest instant of the pass so
    /// far: an older one means the service ignored `$orderby`, and nothing of the page is
    /// taken.
    fn take(
        &mut self,
        page: Vec<AuditEvent>,
        overlap: Duration,
        now: DateTime<Utc>,
        last: &mut Option<DateTime<Utc>>,
    ) -> Result<ExportPage, Error> {
        let mut order = *last;
        for at in page.iter().filter_map(|event| event.activity_date_time) {
            if order.is_some_and(|before| at < before) {
                return Err(Error::ListingStopped {
                    reason: ListingStop::OutOfOrder,
                    pages: 0,
                    next_link: None,
                });
            }
            order = Some(at);
        }
        *last = order;
        let ceiling = now + FUTURE_ALLOWANCE;
        let mut taken = ExportPage::default();
        for event in page {
            let Some(id) = event.id.clone() else {
                // Nothing to recognise it by in a later pass: exported, and counted.
                taken.untracked += 1;
                taken.events.push(event);
                continue;
            };
            if self.seen.contains_key(&id) {
                taken.repeated += 1;
                continue;
            }
            let Some(at) = event.activity_date_time else {
                // Without a time it cannot move the watermark; it is remembered as of now,
                // like an event that just arrived.
                self.seen.insert(id, now);
                taken.events.push(event);
                continue;
            };
            if self.lower_bound(overlap).is_some_and(|bound| at < bound) {
                // Older than anything this checkpoint still remembers: it may have been
                // exported before.
                taken.outside_window.push(id);
                continue;
            }
            if at > ceiling {
                taken.ahead_of_clock.push(id.clone());
            }
            self.seen.insert(id, at);
            let advanced = at.min(ceiling);
            self.watermark = Some(self.watermark.map_or(advanced, |mark| mark.max(advanced)));
            taken.events.push(event);
        }
        if let Some(bound) = self.lower_bound(overlap) {
            self.seen.retain(|_, at| *at >= bound);
            self.forgotten_before = Some(self.forgotten_before.map_or(bound, |f| f.max(bound)));
        }
        taken.checkpoint = Some(self.clone());
        Ok(taken)
    }
}

/// A `$filter` the export can put in parentheses: its own parentheses balance outside string
/// literals, so `A') or ('B` cannot take the time bound out of the `and`.
fn check_filter(filter: &str) -> Result<(), String> {
    let (mut depth, mut quoted) = (0_i64, false);
    for c in filter.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!(
                        "filter {filter:?} closes a parenthesis it never opened"
                    ));
                }
            }
            _ => {}
        }
    }
    match (depth, quoted) {
        (0, false) => Ok(()),
        (_, true) => Err(format!("filter {filter:?} leaves a string literal open")),
        _ => Err(format!("filter {filter:?} leaves a parenthesis open")),
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
    /// Ids of events the service handed back from before the window: not exported, because
    /// they may have been exported before; fetch them by id if they matter.
    pub outside_window: Vec<String>,
    /// Ids of events dated more than a few minutes in the future: exported, but the
    /// watermark stops at the present.
    pub ahead_of_clock: Vec<String>,
    /// Events without an id: exported, but a later pass that reads them again exports them
    /// again.
    pub untracked: u64,
}

pub(crate) fn pages(
    events: &AuditEvents<'_>,
    checkpoint: Checkpoint,
    options: &ExportOptions,
) -> BoxStream<'static, Result<ExportPage, Error>> {
    if let Some(Err(reason)) = checkpoint.filter.as_deref().map(check_filter) {
        return futures::stream::once(async move { Err(Error::InvalidRequest(reason)) }).boxed();
    }
    let query = checkpoint.query(options);
    let overlap = options.overlap;
    let mut checkpoint = checkpoint;
    let mut last = None;
    events
        .pages(query)
        .and_then(move |page: Page<AuditEvent>| {
            std::future::ready(checkpoint.take(page.items, overlap, Utc::now(), &mut last))
        })
        .boxed()
}

/// Why a [`FileExport`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The service (or the network) failed, or answered out of the order asked; everything
    /// written before is saved.
    #[error(transparent)]
    Service(#[from] Error),
    /// The state file cannot be read or written, or is not a checkpoint of this export.
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
    /// The filter cannot be combined with the export's time bound.
    #[error("{0}")]
    InvalidFilter(String),
    /// The output is the state file, or one of the files beside it.
    #[error("the output {output} is the export's own {what}: give the events another file")]
    SameFile {
        /// The output file.
        output: PathBuf,
        /// Which of the export's files it is: the state file, its `.tmp` or its `.lock`.
        what: &'static str,
    },
    /// Another export holds the state file or the output file.
    #[error("{path} is in use by another export")]
    Busy {
        /// The locked file: the state's lock (its name with `.lock` added) or the output.
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
    /// Appended to this file, fsynced after each page; created owner-only (0600) and locked
    /// while the export is open. Each id is written once, whenever the export is killed.
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
    /// Ids of events the service handed back from before the window, not exported (see
    /// [`ExportPage::outside_window`]).
    pub outside_window: Vec<String>,
    /// Ids of events dated in the future, exported (see [`ExportPage::ahead_of_clock`]).
    pub ahead_of_clock: Vec<String>,
    /// Events written without an id, which a later pass may write again (see
    /// [`ExportPage::untracked`]).
    pub untracked: u64,
    /// Bytes of a page an earlier, killed run wrote without saving its state, cut off the
    /// output before this pass (they are exported again).
    pub discarded_bytes: u64,
}

/// The output of an open [`FileExport`].
enum Sink {
    /// The file, open for appending and locked, and its path.
    File(File, PathBuf),
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::File(_, path) => f.debug_tuple("File").field(path).finish(),
            Sink::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// An export to a JSON Lines file with its checkpoint in a state file. Holds the state file
/// and the output file locked from [`FileExport::open`] until dropped, so two exports never
/// share either.
#[derive(Debug)]
pub struct FileExport {
    state_path: PathBuf,
    checkpoint: Checkpoint,
    sink: Sink,
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
        if let Some(filter) = &filter {
            check_filter(filter).map_err(ExportError::InvalidFilter)?;
        }
        let state_path = resolved(&state.into());
        if let ExportOutput::File(out) = &output {
            let out = resolved(out);
            for (what, path) in [
                ("state file", state_path.clone()),
                ("temporary state file", sibling(&state_path, ".tmp")),
                ("lock file", sibling(&state_path, ".lock")),
            ] {
                if out == path {
                    return Err(ExportError::SameFile { output: out, what });
                }
            }
        }
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
        let sink = match output {
            ExportOutput::File(path) => Sink::File(open_output(&path, &state_path)?, path),
            ExportOutput::Writer(writer) => Sink::Writer(writer),
        };
        Ok(Self {
            state_path,
            checkpoint,
            sink,
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
            discarded_bytes: self.settle_output().await?,
            ..ExportSummary::default()
        };
        let mut pages = pages(events, self.checkpoint.clone(), &self.options);
        while let Some(page) = pages.try_next().await? {
            summary.pages += 1;
            summary.repeated += page.repeated;
            summary.untracked += page.untracked;
            summary.outside_window.extend(page.outside_window);
            summary.ahead_of_clock.extend(page.ahead_of_clock);
            let Some(mut checkpoint) = page.checkpoint else {
                continue;
            };
            checkpoint.output = self.checkpoint.output.clone();
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
            if !lines.is_empty() {
                checkpoint.output = self.write(lines).await?;
            }
            save_checkpoint(&self.state_path, &checkpoint).await?;
            summary.written += page.events.len() as u64;
            self.checkpoint = checkpoint;
        }
        Ok(summary)
    }

    fn output_name(&self) -> PathBuf {
        match &self.sink {
            Sink::File(_, path) => path.clone(),
            Sink::Writer(_) => PathBuf::from("<output>"),
        }
    }

    /// Before a pass writes: a page a killed run appended after its last saved state is cut
    /// off, so that it is written once, by this run. An output the state does not describe
    /// (a new file, one rotated, truncated or replaced, a first run) is not cut; its mark is
    /// saved first, so that a run killed after its first page is cut back to it.
    async fn settle_output(&mut self) -> Result<u64, ExportError> {
        let Sink::File(file, path) = &self.sink else {
            return Ok(0);
        };
        let (file, path) = (clone_handle(file, path)?, path.clone());
        let saved = self.checkpoint.output.clone();
        // The file work (a stat, a read of its end, a cut and an fsync) stays off the runtime.
        let settled = blocking(move || {
            let io = |source| ExportError::Io {
                path: path.clone(),
                source,
            };
            let Some(current) = mark_of(&file, &path).map_err(io)? else {
                return Ok(Settled::AsIs); // A pipe or a terminal: nothing to cut or fingerprint.
            };
            if let Some(saved) = saved
                && saved.device == current.device
                && saved.inode == current.inode
            {
                if saved.length == current.length && saved.tail_sha256 == current.tail_sha256 {
                    return Ok(Settled::AsIs);
                }
                if current.length > saved.length
                    && tail_sha256(&path, saved.length).map_err(io)? == saved.tail_sha256
                {
                    file.set_len(saved.length).map_err(io)?;
                    file.sync_all().map_err(io)?;
                    return Ok(Settled::Cut(current.length - saved.length));
                }
            }
            Ok(Settled::Unknown(current))
        })
        .await?;
        match settled {
            Settled::AsIs => Ok(0),
            Settled::Cut(bytes) => Ok(bytes),
            Settled::Unknown(current) => {
                let mut checkpoint = self.checkpoint.clone();
                checkpoint.output = Some(current);
                save_checkpoint(&self.state_path, &checkpoint).await?;
                self.checkpoint = checkpoint;
                Ok(0)
            }
        }
    }

    /// Writes one page's lines durably; the output's mark after them.
    async fn write(&mut self, lines: Vec<u8>) -> Result<Option<OutputMark>, ExportError> {
        match &mut self.sink {
            Sink::File(file, path) => {
                let (mut file, path) = (clone_handle(file, path)?, path.clone());
                blocking(move || {
                    let io = |source| ExportError::Io {
                        path: path.clone(),
                        source,
                    };
                    file.write_all(&lines).map_err(io)?;
                    file.sync_data().map_err(io)?;
                    mark_of(&file, &path).map_err(io)
                })
                .await
            }
            Sink::Writer(writer) => {
                let io = |source| ExportError::Io {
                    path: PathBuf::from("<output>"),
                    source,
                };
                writer.write_all(&lines).map_err(io)?;
                writer.flush().map_err(io)?;
                Ok(None)
            }
        }
    }
}

/// What [`FileExport::settle_output`] found the output to be.
enum Settled {
    /// As the state describes it (or a pipe).
    AsIs,
    /// With an unsaved page after the state's mark, now cut off: its bytes.
    Cut(u64),
    /// Not the file the state describes: its mark, to save before writing.
    Unknown(OutputMark),
}

/// A second handle on the open output, for work on a blocking thread; the lock stays with the
/// first.
fn clone_handle(file: &File, path: &Path) -> Result<File, ExportError> {
    file.try_clone().map_err(|source| ExportError::Io {
        path: path.to_owned(),
        source,
    })
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

/// `path` with its directory resolved (symbolic links, `.`, `..`), and the file itself when
/// it is a symbolic link: what two spellings of one file have in common.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(directory), path.file_name()) {
        (Ok(directory), Some(name)) => directory.join(name),
        _ => path.to_owned(),
    }
}

/// Opens the output for appending, owner-only, locked; a new file's directory is fsynced so
/// that the file survives a power cut as surely as the state that counts on it. A file that
/// is the state file under another name is refused.
fn open_output(path: &Path, state: &Path) -> Result<File, ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let existed = path.exists();
    let file = owner_only()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io)?;
    #[cfg(unix)]
    if let (Ok(out), Ok(state_meta)) = (file.metadata(), std::fs::metadata(state)) {
        use std::os::unix::fs::MetadataExt;
        if out.dev() == state_meta.dev() && out.ino() == state_meta.ino() {
            return Err(ExportError::SameFile {
                output: path.to_owned(),
                what: "state file",
            });
        }
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(ExportError::Busy {
                path: path.to_owned(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
    }
    if !existed {
        sync_directory(path).map_err(io)?;
    }
    Ok(file)
}

fn sync_directory(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(directory)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The SHA-256 (hex) of the up to [`TAIL_BYTES`] bytes before `length` in the file at `path`.
fn tail_sha256(path: &Path, length: u64) -> io::Result<String> {
    let start = length.saturating_sub(TAIL_BYTES);
    let mut file = File::open(path)?;
    file.seek(io::SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(length - start).read_to_end(&mut tail)?;
    Ok(Sha256::digest(&tail)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A regular file's identity, length and fingerprint; `None` for a pipe or a terminal, which
/// cannot be cut.
fn mark_of(file: &File, path: &Path) -> io::Result<Option<OutputMark>> {
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Ok(None);
    }
    #[cfg(unix)]
    let (device, inode) = {
        use std::os::unix::fs::MetadataExt;
        (metadata.dev(), metadata.ino())
    };
    #[cfg(not(unix))]
    let (device, inode) = (0, 0);
    Ok(Some(OutputMark {
        device,
        inode,
        length: metadata.len(),
        tail_sha256: tail_sha256(path, metadata.len())?,
    }))
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
        Err(std::fs::TryLockError::WouldBlock) => Err(ExportError::Busy { path: path.clone() }),
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

/// Replaces the state file atomically: a new file beside it (created afresh, so neither a
/// stale one's permissions nor a planted link carry over), fsynced, renamed over it, and the
/// directory fsynced so the rename itself survives a power cut.
async fn save_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), ExportError> {
    let path = path.to_owned();
    let json = serde_json::to_vec(checkpoint).map_err(|err| ExportError::Io {
        path: path.clone(),
        source: io::Error::other(err),
    })?;
    if json.len() as u64 > MAX_STATE_BYTES {
        // Saved, it could not be read back: better to stop with the last state that can.
        return Err(ExportError::State {
            path,
            reason: format!(
                "the state would exceed {MAX_STATE_BYTES} bytes; use a shorter overlap window"
            ),
        });
    }
    blocking(move || {
        let fresh = sibling(&path, ".tmp");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ExportError::Io { path, source }
        };
        match std::fs::remove_file(&fresh) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(io(&fresh)(error)),
        }
        let mut file = owner_only()
            .write(true)
            .create_new(true)
            .open(&fresh)
            .map_err(io(&fresh))?;
        file.write_all(&json).map_err(io(&fresh))?;
        file.sync_all().map_err(io(&fresh))?;
        std::fs::rename(&fresh, &path).map_err(io(&path))?;
        sync_directory(&path).map_err(io(&path))?;
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

    fn now() -> DateTime<Utc> {
        "2026-01-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_page_out_of_the_order_asked_is_refused_whole() {
        let mut checkpoint = Checkpoint::new(None, None);
        let mut last = None;
        let newest_first = vec![
            event("b", "2026-01-01T10:05:00Z"),
            event("a", "2026-01-01T10:00:00Z"),
        ];
        let error = checkpoint
            .take(newest_first, MINUTE, now(), &mut last)
            .unwrap_err();
        assert!(error.to_string().contains("out of the order"), "{error}");
        assert_eq!(checkpoint, Checkpoint::new(None, None), "nothing taken");
        // Across pages too: the second page goes back before the first one's end.
        checkpoint
            .take(
                vec![event("c", "2026-01-01T10:05:00Z")],
                MINUTE,
                now(),
                &mut last,
            )
            .unwrap();
        assert!(
            checkpoint
                .take(
                    vec![event("d", "2026-01-01T10:01:00Z")],
                    MINUTE,
                    now(),
                    &mut last
                )
                .is_err()
        );
    }

    #[test]
    fn an_event_from_the_future_does_not_carry_the_watermark_with_it() {
        let mut checkpoint = Checkpoint::new(None, None);
        let page = checkpoint
            .take(
                vec![event("soon", "2099-01-01T00:00:00Z")],
                MINUTE,
                now(),
                &mut None,
            )
            .unwrap();
        assert_eq!(page.events.len(), 1, "exported");
        assert_eq!(page.ahead_of_clock, ["soon"]);
        assert_eq!(checkpoint.watermark, Some(now() + FUTURE_ALLOWANCE));
        // Remembered until its time: read again, not written again.
        let again = checkpoint
            .take(
                vec![event("soon", "2099-01-01T00:00:00Z")],
                MINUTE,
                now(),
                &mut None,
            )
            .unwrap();
        assert_eq!(again.repeated, 1);
    }

    #[test]
    fn a_wider_window_never_asks_for_what_was_forgotten() {
        let mut checkpoint = Checkpoint::new(None, None);
        checkpoint
            .take(
                vec![
                    event("a", "2026-01-01T10:00:00Z"),
                    event("b", "2026-01-01T11:00:00Z"),
                ],
                MINUTE,
                now(),
                &mut None,
            )
            .unwrap();
        // `a` is forgotten; a window of a day must not ask for it (and write it) again.
        let day = Duration::from_secs(86_400);
        assert_eq!(
            checkpoint.lower_bound(day),
            Some("2026-01-01T10:59:00Z".parse().unwrap())
        );
        let page = checkpoint
            .take(
                vec![event("a", "2026-01-01T10:00:00Z")],
                day,
                now(),
                &mut None,
            )
            .unwrap();
        assert_eq!(
            page.outside_window,
            ["a"],
            "handed back anyway: reported, not written"
        );
    }

    #[test]
    fn a_filter_that_could_escape_its_parentheses_is_refused() {
        // (`A') or ('B` is one string literal between two names: nothing escapes.)
        for bad in ["(a eq 'x'", "a eq 'x", "a) or (b", "a eq 'x') or (b eq 'y'"] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
        for good in [
            "category eq 'Device'",
            "(a eq '(') and b eq ')'",
            "x eq 'O''Brien'",
        ] {
            assert!(check_filter(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn a_reread_event_is_taken_once_and_the_window_forgets_what_it_left() {
        let mut checkpoint = Checkpoint::new(None, None);
        let mut last = None;
        let first = checkpoint
            .take(
                vec![
                    event("a", "2026-01-01T10:00:00Z"),
                    event("b", "2026-01-01T10:05:00Z"),
                ],
                MINUTE,
                now(),
                &mut last,
            )
            .unwrap();
        assert_eq!(ids(&first), ["a", "b"]);
        // `a` is older than the window before the watermark (10:05 less a minute): forgotten.
        assert_eq!(checkpoint.seen.keys().collect::<Vec<_>>(), ["b"]);
        // The next pass rereads `b`, and `c` came late but inside the window.
        let second = checkpoint
            .take(
                vec![
                    event("c", "2026-01-01T10:04:30Z"),
                    event("b", "2026-01-01T10:05:00Z"),
                    event("d", "2026-01-01T10:06:00Z"),
                ],
                MINUTE,
                now(),
                &mut None,
            )
            .unwrap();
        assert_eq!(ids(&second), ["c", "d"]);
        assert_eq!(second.repeated, 1);
        assert_eq!(
            checkpoint.watermark,
            Some("2026-01-01T10:06:00Z".parse().unwrap())
        );
        // Late by more than the window: reported, not taken (it may be one forgotten).
        let third = checkpoint
            .take(
                vec![event("e", "2026-01-01T10:04:00Z")],
                MINUTE,
                now(),
                &mut None,
            )
            .unwrap();
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
    fn events_without_an_id_are_exported_and_counted_and_those_without_a_time_remembered() {
        let mut checkpoint = Checkpoint::new(None, None);
        let untimed = AuditEvent {
            id: Some("untimed".into()),
            ..AuditEvent::default()
        };
        let page = checkpoint
            .take(
                vec![
                    AuditEvent::default(),
                    untimed.clone(),
                    event("a", "2026-01-01T10:00:00Z"),
                ],
                MINUTE,
                now(),
                &mut None,
            )
            .unwrap();
        assert_eq!(page.events.len(), 3);
        assert_eq!(page.untracked, 1, "only the one without an id");
        // One with an id and no time is remembered: read again, it is not written again.
        let again = checkpoint
            .take(vec![untimed], MINUTE, now(), &mut None)
            .unwrap();
        assert_eq!((again.events.len(), again.repeated), (0, 1));
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
