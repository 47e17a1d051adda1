//! Progress on stderr, for people: shown only when stderr is a terminal.

use std::io::IsTerminal;

/// A progress indicator on stderr, only when stderr is a terminal.
pub(crate) struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub(crate) fn bar(total: u64, what: &'static str) -> Self {
        Self::when_terminal(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar
        })
    }

    pub(crate) fn bytes(total: u64, what: &'static str) -> Self {
        Self::when_terminal(|| {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar
        })
    }

    pub(crate) fn spinner(what: &'static str) -> Self {
        Self::when_terminal(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(what);
            bar
        })
    }

    fn when_terminal(make: impl FnOnce() -> indicatif::ProgressBar) -> Self {
        Self(std::io::stderr().is_terminal().then(make))
    }

    pub(crate) fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    pub(crate) fn set(&self, position: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(position);
        }
    }

    pub(crate) fn message(&self, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(message);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
