//! `auditkit graph export`: the events not exported before, as JSON Lines, with the state
//! that makes a rerun (or a killed run) pick up where it stopped.

use std::time::Duration;

use auditkit::export::{ExportError, ExportOutput, ExportSummary};
use auditkit::{ExportOptions, FileExport};

use crate::clients::graph_client;
use crate::exit::{Failure, NETWORK, RETRY_LATER, UNEXPECTED, USAGE};
use crate::{ExportArgs, terminal};

pub(crate) async fn run(args: ExportArgs) -> Result<(), Failure> {
    let since = args
        .since
        .as_deref()
        .map(|text| crate::commands::instant("--since", text))
        .transpose()?;
    if args
        .follow
        .is_some_and(|interval| interval < Duration::from_secs(1))
    {
        return Err(Failure::usage("--follow polls at most once a second"));
    }
    let client = graph_client(&args.target)?;
    let output = match &args.out {
        Some(path) => ExportOutput::File(path.clone()),
        None => ExportOutput::Writer(Box::new(std::io::stdout())),
    };
    let mut options = ExportOptions::new().overlap(args.overlap);
    if let Some(top) = args.top {
        options = options.page_size(top);
    }
    let mut export = FileExport::open(&args.state, args.filter.clone(), since, output, options)
        .map_err(|error| failure(error, &args.state))?;
    if since.is_some() && export.checkpoint().since != since {
        eprintln!(
            "warning: --since is ignored: {} holds an export under way, which resumes where it stopped",
            terminal::clean(&args.state.display().to_string())
        );
    }
    loop {
        match export.run(&client.audit_events()).await {
            Ok(summary) => report(&summary),
            Err(error) => {
                let failure = failure(error, &args.state);
                // A follower outlives an outage: what it wrote is saved, the next poll resumes.
                if args.follow.is_none() || ![RETRY_LATER, NETWORK].contains(&failure.code) {
                    return Err(failure);
                }
                eprintln!(
                    "warning: {} (trying again at the next poll)",
                    terminal::clean(&failure.message)
                );
            }
        }
        let Some(interval) = args.follow else {
            return Ok(());
        };
        tokio::time::sleep(interval).await;
    }
}

fn report(summary: &ExportSummary) {
    eprintln!(
        "exported {} events from {} pages ({} read again and skipped)",
        summary.written, summary.pages, summary.repeated
    );
    if summary.discarded_bytes > 0 {
        eprintln!(
            "note: {} bytes that a stopped run wrote after its last saved state were cut off the output and written again",
            summary.discarded_bytes
        );
    }
    if summary.untracked > 0 {
        eprintln!(
            "warning: {} events without an id or an activityDateTime were exported; a later run may export them again",
            summary.untracked
        );
    }
    if !summary.outside_window.is_empty() {
        eprintln!(
            "warning: the service handed back {} events from before the export's window, not exported (they may have been before): {}",
            summary.outside_window.len(),
            first_ids(&summary.outside_window)
        );
    }
    if !summary.ahead_of_clock.is_empty() {
        eprintln!(
            "warning: {} events are dated in the future; exported, but the export goes on from the present: {}",
            summary.ahead_of_clock.len(),
            first_ids(&summary.ahead_of_clock)
        );
    }
}

/// The first ids of a list, cleaned for the terminal, and how many more there are.
fn first_ids(ids: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut text = terminal::clean(&ids[..ids.len().min(SHOWN)].join(", ")).into_owned();
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

fn failure(error: ExportError, state: &std::path::Path) -> Failure {
    match error {
        ExportError::Service(error) => Failure::from(error),
        ExportError::State { .. } => Failure::input(error.to_string()),
        ExportError::OtherExport { .. }
        | ExportError::InvalidFilter(_)
        | ExportError::SameFile { .. } => Failure::new(USAGE, error.to_string()),
        ExportError::Busy { .. } | ExportError::Io { .. } => {
            Failure::new(UNEXPECTED, error.to_string())
        }
        other => Failure::new(
            UNEXPECTED,
            format!("export with state {}: {other}", state.display()),
        ),
    }
}

/// `30s`, `5m`, `1h`, `250ms`, or a number of seconds.
pub(crate) fn interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 5m, 1h or 250ms"))?;
    let unit = match unit {
        "" | "s" => Duration::from_secs(1),
        "ms" => Duration::from_millis(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return Err(format!("{text:?}: the unit is ms, s, m or h")),
    };
    unit.checked_mul(u32::try_from(number).map_err(|_| format!("{text:?} is too long"))?)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_have_a_unit_or_are_seconds() {
        assert_eq!(interval("30"), Ok(Duration::from_secs(30)));
        assert_eq!(interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(interval("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(interval("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "m", "5 minutes", "-1s", "1.5s", "99999999999h"] {
            assert!(interval(bad).is_err(), "{bad}");
        }
    }
}
