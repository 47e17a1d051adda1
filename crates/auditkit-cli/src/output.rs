//! Events and strings as a table for people, or JSON / JSON Lines for programs. Every format
//! streams: each item is written as it arrives, so `graph list --all` holds one page, not the
//! whole listing, whatever the output.

use std::io::Write;

use auditkit::graph::AuditEvent;

use crate::Format;
use crate::exit::{Failure, UNEXPECTED};
use crate::terminal::clean;

pub(crate) struct Printer<W: Write> {
    format: Format,
    out: W,
    /// Items written so far: for JSON, the first opens the array and later ones follow a
    /// separator; for a table of events, the first follows the header.
    written: u64,
    /// How the open JSON array is closed: events are pretty-printed, strings compact.
    pretty: bool,
}

fn write_failed(err: std::io::Error) -> Failure {
    Failure::new(UNEXPECTED, format!("cannot write the output: {err}"))
}

fn encode_failed(err: serde_json::Error) -> Failure {
    Failure::new(UNEXPECTED, format!("cannot encode the output: {err}"))
}

impl Printer<std::io::Stdout> {
    /// On standard output, which buffers by line: one write per item, not per field.
    pub(crate) fn stdout(format: Format) -> Self {
        Self::new(format, std::io::stdout())
    }
}

impl<W: Write> Printer<W> {
    pub(crate) fn new(format: Format, out: W) -> Self {
        Self {
            format,
            out,
            written: 0,
            pretty: false,
        }
    }

    pub(crate) fn event(&mut self, event: &AuditEvent) -> Result<(), Failure> {
        let mut text = String::new();
        match self.format {
            Format::Jsonl => {
                text = serde_json::to_string(event).map_err(encode_failed)?;
                text.push('\n');
            }
            Format::Json => {
                // The element as `to_string_pretty` of the whole array would print it: one
                // level deeper. A JSON string holds no raw newline, so indenting by line is
                // exact.
                text.push_str(if self.written == 0 { "[\n" } else { ",\n" });
                let element = serde_json::to_string_pretty(event).map_err(encode_failed)?;
                for (n, line) in element.lines().enumerate() {
                    if n > 0 {
                        text.push('\n');
                    }
                    text.push_str("  ");
                    text.push_str(line);
                }
                self.pretty = true;
            }
            Format::Table => {
                if self.written == 0 {
                    text = format!(
                        "{:<24}  {:<20}  {:<32}  {:<8}  ID\n",
                        "TIME (UTC)", "CATEGORY", "ACTIVITY", "RESULT"
                    );
                }
                let time = event
                    .activity_date_time
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                text.push_str(&format!(
                    "{:<24}  {:<20}  {:<32}  {:<8}  {}\n",
                    time,
                    clip(event.category.as_deref(), 20),
                    clip(
                        event.activity.as_deref().or(event.display_name.as_deref()),
                        32
                    ),
                    clip(event.activity_result.as_deref(), 8),
                    clean(event.id.as_deref().unwrap_or("-")),
                ));
            }
        }
        self.emit(&text)
    }

    /// One category, activity type or other string.
    pub(crate) fn string(&mut self, value: &str) -> Result<(), Failure> {
        let text = match self.format {
            Format::Json => {
                let separator = if self.written == 0 { "[" } else { "," };
                format!("{separator}{}", serde_json::Value::from(value))
            }
            Format::Jsonl => format!("{}\n", serde_json::Value::from(value)),
            Format::Table => format!("{}\n", clean(value)),
        };
        self.emit(&text)
    }

    fn emit(&mut self, text: &str) -> Result<(), Failure> {
        // Table cells are cleaned one by one; JSON keeps every value exact, with what a
        // terminal would act on written as `\uXXXX` escapes.
        let text = match self.format {
            Format::Table => std::borrow::Cow::Borrowed(text),
            Format::Json | Format::Jsonl => auditkit::printable_json(text),
        };
        self.out.write_all(text.as_bytes()).map_err(write_failed)?;
        self.written += 1;
        Ok(())
    }

    /// Closes the JSON array (`[]` when nothing was listed). Not called after a failure: a
    /// listing cut short is left unterminated, so it never parses as a complete one.
    pub(crate) fn finish(mut self) -> Result<(), Failure> {
        if self.format == Format::Json {
            let close = match (self.written, self.pretty) {
                (0, _) => "[]\n",
                (_, true) => "\n]\n",
                (_, false) => "]\n",
            };
            self.out.write_all(close.as_bytes()).map_err(write_failed)?;
        }
        self.out.flush().map_err(write_failed)
    }

    #[cfg(test)]
    fn written_so_far(&self) -> &W {
        &self.out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u32) -> AuditEvent {
        AuditEvent {
            id: Some(format!("id-{n}")),
            display_name: Some(format!("event \"{n}\"\nwith a newline")),
            category: Some("Application".into()),
            ..AuditEvent::default()
        }
    }

    fn so_far(printer: &Printer<&mut Vec<u8>>) -> String {
        String::from_utf8(printer.written_so_far().to_vec()).unwrap()
    }

    #[test]
    fn a_json_array_is_written_as_the_events_arrive() {
        let events = [event(1), event(2), event(3)];
        let mut out = Vec::new();
        let mut printer = Printer::new(Format::Json, &mut out);
        printer.event(&events[0]).unwrap();
        let after_one = so_far(&printer);
        assert!(
            after_one.starts_with("[\n  {\n") && after_one.contains("\"id\": \"id-1\""),
            "the first event is out before the second arrives: {after_one:?}"
        );
        printer.event(&events[1]).unwrap();
        let after_two = so_far(&printer);
        assert!(after_two.starts_with(&after_one), "nothing is held back");
        assert!(after_two.contains("\"id\": \"id-2\""), "{after_two:?}");
        printer.event(&events[2]).unwrap();
        printer.finish().unwrap();

        let mut whole = serde_json::to_string_pretty(&events).unwrap();
        whole.push('\n');
        assert_eq!(
            String::from_utf8(out).unwrap(),
            whole,
            "the same text as the whole array pretty-printed"
        );
    }

    #[test]
    fn an_empty_listing_is_an_empty_array_in_both_json_styles() {
        let mut out = Vec::new();
        Printer::new(Format::Json, &mut out).finish().unwrap();
        assert_eq!(out, b"[]\n");

        let mut out = Vec::new();
        let mut printer = Printer::new(Format::Json, &mut out);
        for value in ["Application", "Bob's \"Apps\""] {
            printer.string(value).unwrap();
        }
        printer.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "[\"Application\",\"Bob's \\\"Apps\\\"\"]\n");
        let parsed: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, ["Application", "Bob's \"Apps\""]);
    }

    #[test]
    fn lines_and_tables_write_one_line_per_item() {
        let mut out = Vec::new();
        let mut printer = Printer::new(Format::Jsonl, &mut out);
        printer.event(&event(1)).unwrap();
        assert_eq!(so_far(&printer).lines().count(), 1);
        printer.event(&event(2)).unwrap();
        printer.finish().unwrap();
        let ids: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["id"].to_string())
            .collect();
        assert_eq!(ids, ["\"id-1\"", "\"id-2\""]);

        let mut out = Vec::new();
        let mut printer = Printer::new(Format::Table, &mut out);
        printer.event(&event(1)).unwrap();
        printer.event(&event(2)).unwrap();
        printer.finish().unwrap();
        let table = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "one header, one line per event: {table}");
        assert!(lines[0].starts_with("TIME (UTC)"));
        assert!(lines[1].ends_with("id-1") && lines[1].contains("event \"1\"\u{FFFD}with"));
    }
}
