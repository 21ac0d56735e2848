//! Progress on a terminal: a spinner per long stage (indicatif), shown only when a person is
//! watching — standard error is a terminal and the log is human. Never in JSON mode (it would
//! corrupt the JSON lines) and never under a scheduler or in a pipe (control codes in a log file).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::logging::LogFormat;

/// Off until `logging::init` decides: a library caller (a test, another program) never gets
/// control codes on its standard error.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether progress may be drawn: a human log on a terminal, and a terminal that can draw it.
pub fn should_show(format: LogFormat, stderr_is_terminal: bool) -> bool {
    format == LogFormat::Human && stderr_is_terminal && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A spinner naming a stage while it runs; None when progress is off.
pub fn spinner(stage: &str) -> Option<ProgressBar> {
    if !enabled() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.set_message(stage.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// A bar over `len` items (files, tables); hidden when progress is off, so callers need no branch.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_human_log_on_a_terminal_shows_progress() {
        assert!(!should_show(LogFormat::Json, true));
        assert!(!should_show(LogFormat::Json, false));
        assert!(!should_show(LogFormat::Human, false));
    }

    #[test]
    fn disabled_progress_draws_nothing() {
        assert!(spinner("x").is_none() || enabled());
        assert!(bar(3, "x").is_hidden() || enabled());
    }
}
