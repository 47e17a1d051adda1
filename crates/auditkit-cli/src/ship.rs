//! `auditkit ship`: a JSON Lines file delivered through the durable shipper. Each batch of
//! lines is committed to the spool together with the byte offset after its last line, so a
//! killed run resumes exactly after what is durable: nothing lost, nothing spooled twice.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use auditkit_ship::{Destination, PauseCause, ShipError, Shipper, Stats};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use crate::clients::{adobe_client, graph_client};
use crate::exit::{AUTH, BAD_INPUT, Failure, NETWORK, REJECTED, RETRY_LATER, UNEXPECTED};
use crate::progress::Progress;
use crate::{AdobeTarget, Format, GraphTarget, ShipArgs, ShipOutput, ShipTo};

pub(crate) async fn run(args: ShipArgs) -> Result<(), Failure> {
    crate::secret::stdin_read_once(
        args.secret.client_secret_file.as_deref(),
        args.file.as_deref().is_some_and(crate::secret::is_stdin),
        "FILE",
    )?;
    match args.to {
        ShipTo::Graph => {
            let target = GraphTarget {
                base_url: args.base_url.clone().or(env_url("AUDITKIT_GRAPH_URL")?),
                authority_host: args.authority_host.clone(),
                cloud: args.cloud,
                beta: args.beta,
                output: Format::Json,
                tenant: args.tenant.clone(),
                client_id: args.client_id.clone(),
                secret: args.secret.clone(),
            };
            ship(graph_client(&target)?, &args).await
        }
        ShipTo::Adobe => {
            let Some(base_url) = args.base_url.clone().or(env_url("AUDITKIT_ADOBE_URL")?) else {
                return Err(Failure::input(
                    "--to adobe needs --base-url or AUDITKIT_ADOBE_URL: Adobe publishes no host",
                ));
            };
            let target = AdobeTarget {
                base_url,
                ims_host: args.ims_host.clone(),
                client_id: args.client_id.clone(),
                secret: args.secret.clone(),
                scopes: args.scopes.clone(),
                org_id: args.org_id.clone(),
            };
            ship(adobe_client(target)?, &args).await
        }
    }
}

fn env_url(name: &str) -> Result<Option<url::Url>, Failure> {
    match std::env::var(name) {
        Ok(text) if !text.is_empty() => url::Url::parse(&text)
            .map(Some)
            .map_err(|err| Failure::input(format!("{name}={text:?} is not a URL: {err}"))),
        _ => Ok(None),
    }
}

async fn ship<D: Destination>(destination: D, args: &ShipArgs) -> Result<(), Failure> {
    let file = match &args.file {
        Some(file) => Some(
            tokio::fs::canonicalize(file)
                .await
                .map_err(|err| Failure::input(format!("cannot read {}: {err}", file.display())))?,
        ),
        None => None,
    };
    let spool = match (&args.spool, &file) {
        (Some(spool), _) => spool.clone(),
        (None, Some(file)) => {
            let mut name = file.clone().into_os_string();
            name.push(".spool");
            PathBuf::from(name)
        }
        (None, None) => unreachable!("clap requires FILE or --spool"),
    };
    if args.dead_letters && !tokio::fs::try_exists(&spool).await.unwrap_or(false) {
        // Opening would create an empty spool, hiding a mistyped path.
        return Err(Failure::input(format!("no spool at {}", spool.display())));
    }
    if args.batch > args.capacity {
        return Err(Failure::input(format!(
            "--batch {} is larger than --capacity {}: a batch is recorded at once",
            args.batch, args.capacity
        )));
    }
    let shipper = Shipper::builder(destination, &spool)
        .capacity(args.capacity)
        .concurrency(usize::try_from(args.concurrency).unwrap_or(8))
        .start_paused(args.dead_letters)
        .open()
        .await
        .map_err(spool_failure)?;
    if args.dead_letters {
        let printed = print_dead_letters(&shipper).await;
        let closed = shipper
            .shutdown(Instant::now())
            .await
            .map_err(spool_failure);
        return printed.and(closed.map(drop));
    }
    let Some(file) = file else {
        unreachable!("clap requires FILE unless --dead-letters")
    };

    let read = read_into(&shipper, &file, args).await;
    let delivered = deliver(&shipper, Duration::from_secs(args.timeout)).await;
    // What shutdown reports is final: it makes a last attempt at recording what the spool
    // could not record before.
    let stats = match (delivered, shipper.shutdown(Instant::now()).await) {
        (Ok(_), Ok(stats)) => stats,
        (Err(error), _) | (_, Err(error)) => return Err(spool_failure(error)),
    };
    let read = read?;
    report(args.output, &file, &spool, &read, &stats);
    if let Some(failure) = read.stopped_by {
        return Err(failure);
    }
    if stats.unrecorded > 0 {
        return Err(Failure::new(
            UNEXPECTED,
            format!(
                "the spool {} could not record the outcome of {} deliveries (is its disk full or failing?): those events are still spooled, and the next run sends them again even if the service already stored them; {} events are still spooled in all",
                spool.display(),
                stats.unrecorded,
                stats.spooled
            ),
        ));
    }
    if stats.spooled > 0 {
        // Why they are still there decides what the caller should do about it.
        let (code, why) = match &stats.last_pause {
            Some(pause) => {
                let code = match pause.cause {
                    PauseCause::Credentials => AUTH,
                    PauseCause::Unreachable => NETWORK,
                    _ => RETRY_LATER,
                };
                (code, format!("; the last failure: {}", pause.message))
            }
            None => (RETRY_LATER, String::new()),
        };
        return Err(Failure::new(
            code,
            format!(
                "{} events are still spooled in {} (not delivered within --timeout {}s){why}; run the same command again to deliver them",
                stats.spooled,
                spool.display(),
                args.timeout
            ),
        ));
    }
    if stats.dead_letters > 0 {
        return Err(Failure::new(
            REJECTED,
            format!(
                "{} events were refused by the service and kept as dead letters in {}; see them with --dead-letters --spool {}",
                stats.dead_letters,
                spool.display(),
                spool.display()
            ),
        ));
    }
    Ok(())
}

/// How far reading got.
struct Read {
    /// The line number where this run started reading (1-based).
    first_line: u64,
    /// Lines read this run (blank ones included).
    lines: u64,
    /// Events recorded in the spool this run.
    spooled: u64,
    /// Set when an unreadable line stopped reading; the lines before it are spooled.
    stopped_by: Option<Failure>,
}

/// Where the spool's checkpoint says reading resumes: byte offset and line number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Position {
    offset: u64,
    line: u64,
}

impl Position {
    fn encode(self) -> String {
        format!("offset={} line={}", self.offset, self.line)
    }

    fn decode(text: &str) -> Option<Self> {
        let (offset, line) = text.split_once(' ')?;
        Some(Self {
            offset: offset.strip_prefix("offset=")?.parse().ok()?,
            line: line.strip_prefix("line=")?.parse().ok()?,
        })
    }
}

fn checkpoint_key(file: &Path) -> String {
    format!("auditkit ship {}", file.display())
}

async fn read_into<D: Destination>(
    shipper: &Shipper<D>,
    file: &Path,
    args: &ShipArgs,
) -> Result<Read, Failure> {
    let key = checkpoint_key(file);
    let start = if args.restart {
        Position::default()
    } else {
        match shipper.checkpoint(&key).await.map_err(spool_failure)? {
            None => Position::default(),
            Some(text) => Position::decode(&text).ok_or_else(|| {
                Failure::new(
                    UNEXPECTED,
                    format!(
                        "the spool's position in {} is unreadable: {text:?}",
                        file.display()
                    ),
                )
            })?,
        }
    };
    let cannot_read =
        |err: std::io::Error| Failure::input(format!("cannot read {}: {err}", file.display()));
    let mut input = tokio::fs::File::open(file).await.map_err(cannot_read)?;
    let length = input.metadata().await.map_err(cannot_read)?.len();
    if length < start.offset {
        return Err(Failure::input(format!(
            "{} is shorter ({length} bytes) than where an earlier run stopped reading it (byte {}, line {}): it was replaced or truncated. Ship it with --restart (its events are sent again) or use another --spool",
            file.display(),
            start.offset,
            start.line + 1
        )));
    }
    input
        .seek(std::io::SeekFrom::Start(start.offset))
        .await
        .map_err(cannot_read)?;
    let mut input = BufReader::new(input);

    let progress = Progress::bytes(length, "spooling");
    progress.set(start.offset);
    let batch_size = usize::try_from(args.batch).unwrap_or(500);
    let mut position = start;
    let mut committed = start;
    let mut batch = Vec::with_capacity(batch_size);
    let mut read = Read {
        first_line: start.line + 1,
        lines: 0,
        spooled: 0,
        stopped_by: None,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        let bytes = input
            .read_until(b'\n', &mut line)
            .await
            .map_err(cannot_read)?;
        let at_end = bytes == 0;
        if !at_end {
            let number = position.line + 1;
            match parse_line::<D::Event>(&line) {
                Ok(Some(event)) => batch.push(event),
                Ok(None) => {}
                Err(reason) => {
                    read.stopped_by = Some(Failure::new(
                        BAD_INPUT,
                        format!(
                            "{} line {number}: {reason}; the lines before it are spooled: fix it and run again to resume at line {number}",
                            file.display()
                        ),
                    ));
                }
            }
            if read.stopped_by.is_none() {
                position.offset += bytes as u64;
                position.line = number;
                read.lines += 1;
            }
        }
        let stop = at_end || read.stopped_by.is_some();
        if batch.len() >= batch_size || (stop && position != committed) {
            let events = std::mem::take(&mut batch);
            let count = events.len() as u64;
            shipper
                .send_all_with_checkpoint(events, key.clone(), position.encode())
                .await
                .map_err(spool_failure)?;
            read.spooled += count;
            committed = position;
            progress.set(position.offset);
            progress.message(format!("spooling, {} delivered", delivered(shipper).await));
        }
        if stop {
            break;
        }
    }
    progress.finish();
    Ok(read)
}

/// `None` for a blank line.
fn parse_line<E: serde::de::DeserializeOwned>(line: &[u8]) -> Result<Option<E>, String> {
    let text = std::str::from_utf8(line).map_err(|err| format!("not UTF-8 ({err})"))?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|err| format!("not an event: {err}"))
}

async fn delivered<D: Destination>(shipper: &Shipper<D>) -> u64 {
    shipper.stats().await.map_or(0, |stats| stats.delivered)
}

/// Flushes until everything is delivered or `timeout` passes, showing what is left.
async fn deliver<D: Destination>(
    shipper: &Shipper<D>,
    timeout: Duration,
) -> Result<Stats, ShipError> {
    let deadline = Instant::now() + timeout;
    let progress = Progress::spinner("delivering");
    loop {
        let step = (Instant::now() + Duration::from_millis(250)).min(deadline);
        let stats = shipper.flush(step).await?;
        let trouble = if stats.unrecorded > 0 {
            " (the spool cannot record outcomes: is its disk full? waiting for it)"
        } else {
            ""
        };
        progress.message(format!(
            "delivering: {} delivered, {} left, {} dead letters{trouble}",
            stats.delivered, stats.spooled, stats.dead_letters
        ));
        // Refused credentials stay refused however long we wait: stop now, events spooled.
        let credentials_refused = stats
            .last_pause
            .as_ref()
            .is_some_and(|pause| pause.cause == PauseCause::Credentials);
        if stats.spooled == 0 || credentials_refused || Instant::now() >= deadline {
            progress.finish();
            return Ok(stats);
        }
    }
}

fn report(format: ShipOutput, file: &Path, spool: &Path, read: &Read, stats: &Stats) {
    match format {
        ShipOutput::Json => println!(
            "{}",
            json_line(&serde_json::json!({
                "file": file,
                "spool": spool,
                "first_line": read.first_line,
                "lines_read": read.lines,
                "events_spooled": read.spooled,
                "delivered": stats.delivered,
                "still_spooled": stats.spooled,
                "dead_letters": stats.dead_letters,
                "unrecorded": stats.unrecorded,
                "record_failures": stats.record_failures,
            }))
        ),
        ShipOutput::Text => {
            println!(
                "{}: read {} lines from line {}, spooled {} events",
                crate::terminal::clean(&file.display().to_string()),
                read.lines,
                read.first_line,
                read.spooled
            );
            println!(
                "delivered {}, still spooled {}, dead letters {} (spool {})",
                stats.delivered,
                stats.spooled,
                stats.dead_letters,
                crate::terminal::clean(&spool.display().to_string())
            );
            if stats.record_failures > 0 {
                println!(
                    "the spool failed {} times to record a delivery outcome; {} outcomes are still unrecorded",
                    stats.record_failures, stats.unrecorded
                );
            }
        }
    }
}

/// A JSON value on one line, safe for a terminal and exactly the same value.
fn json_line(value: &serde_json::Value) -> String {
    auditkit::printable_json(&value.to_string()).into_owned()
}

async fn print_dead_letters<D: Destination>(shipper: &Shipper<D>) -> Result<(), Failure> {
    for letter in shipper.dead_letters().await.map_err(spool_failure)? {
        let failed_at: chrono::DateTime<chrono::Utc> = letter.failed_at.into();
        println!(
            "{}",
            json_line(&serde_json::json!({
                "id": letter.id,
                "event_id": letter.event_id,
                "status": letter.status,
                "error": letter.error,
                "error_body": String::from_utf8_lossy(&letter.error_body),
                "failed_at": failed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "attempts": letter.attempts,
                "event": letter.event,
            }))
        );
    }
    Ok(())
}

/// A spool error as one line with its causes; a file that is not a spool (or not this
/// user's alone) is bad input.
fn spool_failure(error: ShipError) -> Failure {
    let code = match error {
        ShipError::NotASpool { .. } | ShipError::Corrupt { .. } | ShipError::NotPrivate { .. } => {
            BAD_INPUT
        }
        _ => UNEXPECTED,
    };
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::new(code, message)
}
