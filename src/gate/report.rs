//! The gate's report: gate.json for machines (every check with its status, every finding with its
//! examples, the exceptions used, the sha256 of the files checked), gate.md for people (a section
//! the release notes point to), the verdict for the manifest, and the lines the command prints.
//! Nothing in it depends on the clock, so it is as reproducible as the data files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::checks::{self, Family};
use super::config::{GateConfig, Level};
use super::exceptions::{Exception, Exceptions};
use super::{Finding, Severity};
use crate::release::manifest::GateRecord;
use crate::release::Document;

pub const JSON_FILE: &str = "gate.json";
pub const MARKDOWN_FILE: &str = "gate.md";
/// Version of gate.json's layout.
pub const REPORT_FORMAT: u32 = 1;

/// Size and sha256 of a file as the gate checked it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFacts {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The two files of one table, as checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableFiles {
    pub table: String,
    pub rows: u64,
    pub csv: FileFacts,
    pub parquet: FileFacts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Warning,
    Failed,
    Skipped,
    Off,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Passed => "réussi",
            Status::Warning => "avertissement",
            Status::Failed => "**échec**",
            Status::Skipped => "non applicable",
            Status::Off => "désactivé",
        }
    }
}

/// One check, whether or not it found anything.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub check: &'static str,
    pub family: Family,
    pub description: &'static str,
    pub level: Level,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub failures: u64,
    pub warnings: u64,
}

/// A documented exception that accepted values, and how many.
#[derive(Debug, Clone, Serialize)]
pub struct ExceptionUse {
    #[serde(flatten)]
    pub exception: Exception,
    pub values: u64,
}

/// The thresholds in force (never `now`: the report must not depend on the clock).
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub max_snapshot_age_hours: Option<f64>,
    pub max_update_lag_hours: f64,
    pub min_row_change_percent: f64,
    pub max_row_change_percent: f64,
    pub max_null_share_jump_points: f64,
    pub drift_min_rows: u64,
    pub large_file_bytes: u64,
    pub tolerances_percent: BTreeMap<&'static str, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub report_format: u32,
    /// True when no finding is a failure (warnings allowed).
    pub passed: bool,
    pub failures: u64,
    pub warnings: u64,
    /// The release drift was measured against, if any.
    pub previous_version: Option<String>,
    pub settings: Settings,
    pub checks: Vec<CheckOutcome>,
    pub findings: Vec<Finding>,
    pub exceptions_file: String,
    pub exceptions_used: Vec<ExceptionUse>,
    /// Exceptions that matched nothing: candidates for removal.
    pub exceptions_unused: Vec<Exception>,
    pub files: Vec<TableFiles>,
}

impl GateReport {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        config: &GateConfig,
        mut findings: Vec<Finding>,
        ran: BTreeSet<&'static str>,
        skipped: BTreeMap<&'static str, String>,
        exceptions: &Exceptions,
        uses: &BTreeMap<usize, u64>,
        files: Vec<TableFiles>,
        previous_version: Option<String>,
    ) -> GateReport {
        // Checks run in a fixed order, but sort anyway: the report's bytes must not depend on it.
        findings.sort_by(|a, b| (a.family, a.check, &a.table, &a.column, &a.message).cmp(&(b.family, b.check, &b.table, &b.column, &b.message)));
        let count = |check: &str, severity: Severity| findings.iter().filter(|f| f.check == check && f.severity == severity).count() as u64;
        let checks = checks::ALL
            .iter()
            .map(|def| {
                let level = config.level(def);
                let (failures, warnings) = (count(def.id, Severity::Failure), count(def.id, Severity::Warning));
                let (status, note) = if level == Level::Off {
                    (Status::Off, None)
                } else if failures > 0 {
                    (Status::Failed, None)
                } else if warnings > 0 {
                    (Status::Warning, None)
                } else if !ran.contains(def.id) {
                    (Status::Skipped, Some(skipped.get(def.id).cloned().unwrap_or_else(|| "nothing to check in the published tables".to_owned())))
                } else {
                    (Status::Passed, None)
                };
                CheckOutcome { check: def.id, family: def.family, description: def.description, level, status, note, failures, warnings }
            })
            .collect();
        let failures = findings.iter().filter(|f| f.severity == Severity::Failure).count() as u64;
        let warnings = findings.len() as u64 - failures;
        let settings = Settings {
            max_snapshot_age_hours: config.max_snapshot_age_hours,
            max_update_lag_hours: config.max_update_lag_hours,
            min_row_change_percent: config.min_row_change_percent,
            max_row_change_percent: config.max_row_change_percent,
            max_null_share_jump_points: config.max_null_share_jump_points,
            drift_min_rows: config.drift_min_rows,
            large_file_bytes: config.large_file_bytes,
            tolerances_percent: checks::ALL.iter().filter(|c| c.counted).map(|c| (c.id, config.tolerance(c))).collect(),
        };
        GateReport {
            report_format: REPORT_FORMAT,
            passed: failures == 0,
            failures,
            warnings,
            previous_version,
            settings,
            checks,
            findings,
            exceptions_file: exceptions.origin.clone(),
            exceptions_used: uses.iter().map(|(i, n)| ExceptionUse { exception: exceptions.list[*i].clone(), values: *n }).collect(),
            exceptions_unused: exceptions.list.iter().enumerate().filter(|(i, _)| !uses.contains_key(i)).map(|(_, e)| e.clone()).collect(),
            files,
        }
    }

    /// The verdict the manifest records.
    pub fn record(&self) -> GateRecord {
        GateRecord { passed: self.passed, failures: self.failures, warnings: self.warnings, report: JSON_FILE.to_owned() }
    }

    /// gate.json and gate.md, for the release.
    pub fn documents(&self) -> Vec<Document> {
        let mut json = serde_json::to_string_pretty(self).expect("the report serialises: plain data");
        json.push('\n');
        vec![Document { path: JSON_FILE.to_owned(), bytes: json.into_bytes() }, Document { path: MARKDOWN_FILE.to_owned(), bytes: self.markdown().into_bytes() }]
    }

    /// One line per finding, failures first, for the terminal and the log.
    pub fn lines(&self) -> Vec<String> {
        let mut findings: Vec<&Finding> = self.findings.iter().collect();
        findings.sort_by_key(|f| f.severity);
        findings
            .into_iter()
            .map(|f| {
                let tag = match f.severity {
                    Severity::Failure => "FAIL",
                    Severity::Warning => "WARN",
                };
                let examples = if f.examples.is_empty() { String::new() } else { format!(" (e.g. {})", f.examples.join(" | ")) };
                format!("{tag} [{}] {}{examples}", f.check, f.message)
            })
            .collect()
    }

    /// The readable section: verdict, every check, the findings with examples, the exceptions.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Contrôle qualité avant publication\n");
        if self.passed {
            let _ = writeln!(out, "**Réussi** : aucun échec, {} avertissement(s).\n", self.warnings);
        } else {
            let _ = writeln!(out, "**ÉCHOUÉ** : {} échec(s), {} avertissement(s). Cette version n'est pas publiable : `latest` n'a pas été déplacé.\n", self.failures, self.warnings);
        }
        match &self.previous_version {
            Some(v) => {
                let _ = writeln!(out, "Dérive mesurée par rapport à la version {v}.\n");
            }
            None => {
                let _ = writeln!(out, "Pas de version précédente : la dérive n'est pas mesurée.\n");
            }
        }
        let _ = writeln!(out, "## Contrôles\n");
        let _ = writeln!(out, "| famille | contrôle | ce qui est vérifié | niveau | résultat |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for c in &self.checks {
            let level = match c.level {
                Level::Fail => "bloquant",
                Level::Warn => "avertissement",
                Level::Off => "désactivé",
            };
            let result = match (&c.note, c.failures + c.warnings) {
                (Some(note), _) => format!("{} ({})", c.status.label(), cell(note)),
                (None, 0) => c.status.label().to_owned(),
                (None, n) => format!("{} ({n})", c.status.label()),
            };
            let _ = writeln!(out, "| {} | `{}` | {} | {level} | {result} |", c.family.label(), c.check, cell(c.description));
        }
        if !self.findings.is_empty() {
            let _ = writeln!(out, "\n## Constats\n");
            let _ = writeln!(out, "| gravité | contrôle | où | nombre | constat | exemples |");
            let _ = writeln!(out, "|---|---|---|---:|---|---|");
            for f in &self.findings {
                let severity = match f.severity {
                    Severity::Failure => "**échec**",
                    Severity::Warning => "avertissement",
                };
                let count = if f.checked > 0 { format!("{} / {}", f.count, f.checked) } else { f.count.to_string() };
                let examples = f.examples.iter().map(|e| format!("`{}`", cell(e).replace('`', "'"))).collect::<Vec<_>>().join(", ");
                let _ = writeln!(out, "| {severity} | `{}` | {} | {count} | {} | {examples} |", f.check, cell(&f.location()), cell(&f.message));
            }
        }
        if !self.exceptions_used.is_empty() {
            let _ = writeln!(out, "\n## Exceptions documentées appliquées ({})\n", self.exceptions_file);
            let _ = writeln!(out, "| contrôle | où | valeur | valeurs acceptées | raison |");
            let _ = writeln!(out, "|---|---|---|---:|---|");
            for u in &self.exceptions_used {
                let e = &u.exception;
                let _ = writeln!(out, "| `{}` | {}.{} | `{}` | {} | {} |", e.check, e.table, e.column, cell(&e.value), u.values, cell(&e.reason));
            }
        }
        if !self.exceptions_unused.is_empty() {
            let _ = writeln!(out, "\nExceptions sans effet dans cette version (à retirer si elles ne servent plus) : {}.", self.exceptions_unused.iter().map(|e| format!("`{}` {}.{} = `{}`", e.check, e.table, e.column, cell(&e.value))).collect::<Vec<_>>().join(", "));
        }
        out
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
