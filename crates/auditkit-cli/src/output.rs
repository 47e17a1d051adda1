//! Events and strings as a table for people, or JSON / JSON Lines for programs.

use std::io::Write;

use auditkit::graph::AuditEvent;

use crate::Format;
use crate::exit::{Failure, UNEXPECTED};
use crate::terminal::clean;

pub(crate) struct Printer {
    format: Format,
    /// JSON output is one array, written at the end; tables and JSON Lines stream.
    collected: Vec<serde_json::Value>,
    header_done: bool,
}

fn write_failed(err: std::io::Error) -> Failure {
    Failure::new(UNEXPECTED, format!("cannot write the output: {err}"))
}

impl Printer {
    pub(crate) fn new(format: Format) -> Self {
        Self {
            format,
            collected: Vec::new(),
            header_done: false,
        }
    }

    pub(crate) fn event(&mut self, event: &AuditEvent) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        match self.format {
            Format::Jsonl => {
                let line = serde_json::to_string(event)
                    .map_err(|err| Failure::new(UNEXPECTED, err.to_string()))?;
                writeln!(out, "{line}").map_err(write_failed)
            }
            Format::Json => {
                let value = serde_json::to_value(event)
                    .map_err(|err| Failure::new(UNEXPECTED, err.to_string()))?;
                self.collected.push(value);
                Ok(())
            }
            Format::Table => {
                if !self.header_done {
                    writeln!(
                        out,
                        "{:<24}  {:<20}  {:<32}  {:<8}  ID",
                        "TIME (UTC)", "CATEGORY", "ACTIVITY", "RESULT"
                    )
                    .map_err(write_failed)?;
                    self.header_done = true;
                }
                let time = event
                    .activity_date_time
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<24}  {:<20}  {:<32}  {:<8}  {}",
                    time,
                    clip(event.category.as_deref(), 20),
                    clip(
                        event.activity.as_deref().or(event.display_name.as_deref()),
                        32
                    ),
                    clip(event.activity_result.as_deref(), 8),
                    clean(event.id.as_deref().unwrap_or("-")),
                )
                .map_err(write_failed)
            }
        }
    }

    pub(crate) fn strings(self, values: &[String]) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        match self.format {
            Format::Json => {
                writeln!(out, "{}", serde_json::Value::from(values.to_vec())).map_err(write_failed)
            }
            Format::Jsonl => values
                .iter()
                .try_for_each(|value| writeln!(out, "{}", serde_json::Value::from(value.as_str())))
                .map_err(write_failed),
            Format::Table => values
                .iter()
                .try_for_each(|value| writeln!(out, "{}", clean(value)))
                .map_err(write_failed),
        }
    }

    pub(crate) fn finish(self) -> Result<(), Failure> {
        if self.format == Format::Json {
            let text = serde_json::to_string_pretty(&self.collected)
                .map_err(|err| Failure::new(UNEXPECTED, err.to_string()))?;
            writeln!(std::io::stdout().lock(), "{text}").map_err(write_failed)?;
        }
        Ok(())
    }
}

/// A table cell: cleaned for the terminal, then cut to `width` characters.
fn clip(text: Option<&str>, width: usize) -> String {
    let text = clean(text.unwrap_or("-"));
    if text.chars().count() <= width {
        return text.into_owned();
    }
    let mut clipped: String = text.chars().take(width - 1).collect();
    clipped.push('…');
    clipped
}
