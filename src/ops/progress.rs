//! Progress on a terminal: a spinner per long stage (indicatif), shown only when a person is
//! watching — standard error is a terminal and the log is human. Never in JSON mode (it would
//! corrupt the JSON lines) and never under a scheduler or in a pipe (control codes in a log file).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::logging::LogFormat;

/// Off until `logging::init` decides: a library caller (a test, another program) never gets
/// control codes on its standard error.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The spinners on screen (the gate's and the history's run side by side): log lines are
/// written around them, not through them.
fn on_screen() -> &'static MultiProgress {
    static ON_SCREEN: OnceLock<MultiProgress> = OnceLock::new();
    ON_SCREEN.get_or_init(MultiProgress::new)
}

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
    let bar = on_screen().add(ProgressBar::new_spinner());
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    bar.set_message(stage.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Clear a spinner and take it off the screen.
pub fn finish(bar: ProgressBar) {
    bar.finish_and_clear();
    on_screen().remove(&bar);
}

/// Standard error for the human log: a line is written with the spinners lifted, so log lines and
/// spinners never share a terminal line.
pub struct TerminalWriter;

impl Write for TerminalWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !enabled() {
            return std::io::stderr().write(buf);
        }
        on_screen().suspend(|| std::io::stderr().write_all(buf)).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A bar over `len` items (files, tables); hidden when progress is off, so callers need no branch.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = on_screen().add(ProgressBar::new(len));
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
