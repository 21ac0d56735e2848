//! One log event per pipeline stage, when it finishes: its name, how long it took, what it counted
//! and how many bytes it handled (fields documented in `logging`). The same records go into the
//! night's report page.
//!
//! The records are kept in a process-wide journal rather than threaded through every stage's
//! signature: one process is one run, and the stages stay plain functions of their inputs.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

/// The message of every stage event; log collectors filter on it.
pub const STAGE_FINISHED: &str = "stage finished";

/// A finished stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    pub stage: String,
    /// The publication the stage worked on (public, capacites, drees…), for per-publication stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication: Option<String>,
    pub duration_ms: u64,
    pub items: u64,
    pub bytes: u64,
    /// The process's resident memory when the stage finished, and its peak so far, in MiB (Linux;
    /// absent elsewhere): what the benchmark reads to see which stage holds the memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<u64>,
}

static JOURNAL: Mutex<Vec<StageRecord>> = Mutex::new(Vec::new());

/// A running stage: `Stage::start("gate")`, then `done(items, bytes)`. A stage dropped without
/// `done` failed; its error is reported by whoever returns it, so it emits nothing itself.
pub struct Stage {
    name: &'static str,
    publication: Option<String>,
    started: Instant,
    spinner: Option<ProgressBar>,
}

impl Stage {
    pub fn start(name: &'static str) -> Stage {
        Stage { name, publication: None, started: Instant::now(), spinner: super::progress::spinner(name) }
    }

    /// The publication this stage works on: a field of its event.
    pub fn publication(mut self, publication: &str) -> Stage {
        if let Some(s) = &self.spinner {
            s.set_message(format!("{} ({publication})", self.name));
        }
        self.publication = Some(publication.to_owned());
        self
    }

    /// Log the stage's event and record it for the report.
    pub fn done(mut self, items: u64, bytes: u64) -> StageRecord {
        if let Some(s) = self.spinner.take() {
            super::progress::finish(s);
        }
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (rss_mib, peak_rss_mib) = resident_memory_mib();
        tracing::info!(stage = self.name, publication = self.publication.as_deref(), duration_ms, items, bytes, rss_mib, peak_rss_mib, "{STAGE_FINISHED}");
        let record = StageRecord { stage: self.name.to_owned(), publication: self.publication.take(), duration_ms, items, bytes, rss_mib, peak_rss_mib };
        JOURNAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(record.clone());
        record
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(s) = self.spinner.take() {
            super::progress::finish(s);
        }
    }
}

/// Current and peak resident set size of this process in MiB, from /proc/self/status (VmRSS,
/// VmHWM); None where there is no such file.
fn resident_memory_mib() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return (None, None) };
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The stages finished so far in this process, in order.
pub fn journal() -> Vec<StageRecord> {
    JOURNAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_stage_is_in_the_journal() {
        let record = Stage::start("unit-test-stage").done(3, 42);
        assert_eq!((record.items, record.bytes), (3, 42));
        assert!(journal().iter().any(|r| r.stage == "unit-test-stage" && r.items == 3 && r.bytes == 42));
        if cfg!(target_os = "linux") {
            let (rss, peak) = (record.rss_mib.unwrap(), record.peak_rss_mib.unwrap());
            assert!(rss > 0 && peak >= rss, "rss {rss} MiB, peak {peak} MiB");
        }
    }
}
