//! The log: tracing events on standard error, readable on a terminal (`human`) or as JSON lines
//! (`json`) for a log collector. Standard output stays for the command's result.
//!
//! Every JSON line is one object with at least these fields (the README documents them too):
//!
//! - `timestamp`: RFC 3339, UTC
//! - `level`: `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`
//! - `message`: what happened, in words
//!
//! and, on the one event each pipeline stage emits when it finishes (message `stage finished`,
//! see `stage`): `stage`, `duration_ms`, `items` (what the stage counts: files, resources, rows,
//! findings), `bytes` (what it read or wrote, 0 when it has no bytes to speak of), and on Linux
//! `rss_mib` and `peak_rss_mib` (the process's resident memory then, and its peak so far). The final
//! error of a failed command carries `exit_code`.
//!
//! No secret reaches a log: secrets are `config::Secret`, whose Debug form is a placeholder.

use std::io::IsTerminal;

/// The log's format on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Fields every JSON log line has.
pub const JSON_FIELDS: &[&str] = &["timestamp", "level", "message"];

/// Install the global subscriber. `ROR_OPENDATA_LOG` takes a tracing filter and wins over `quiet`.
pub fn init(format: LogFormat, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROR_OPENDATA_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match format {
        LogFormat::Human => builder.with_writer(|| super::progress::TerminalWriter).with_ansi(std::io::stderr().is_terminal()).init(),
        // No colour codes in JSON, whatever the terminal: a collector parses every byte.
        LogFormat::Json => builder.with_writer(std::io::stderr).with_ansi(false).json().flatten_event(true).init(),
    }
    super::progress::enable(super::progress::should_show(format, std::io::stderr().is_terminal()));
}
