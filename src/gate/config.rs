//! The `[gate]` section of ror-opendata.toml: thresholds of the quality gate and the level of each
//! check. Every key is optional and the defaults are what the nightly job should run with; unknown
//! keys, and check names the gate does not have, are errors so a typo never turns a check off.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::checks::{self, CheckDef};

/// What a check's findings become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Findings above the check's tolerance fail the gate; those within it are warnings.
    Fail,
    /// Findings are reported and never fail the gate.
    Warn,
    /// The check does not run.
    Off,
}

/// Per-check overrides: `[gate.checks.<check>]`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    pub level: Option<Level>,
    /// For checks that count invalid values: the share of checked values (in percent) that may be
    /// invalid and still only warn. 0 by default: one invalid value fails a `fail` check.
    pub max_invalid_percent: Option<f64>,
}

/// `[gate]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// The instant the snapshot's age is measured at (RFC 3339); the wall clock when absent. Set it
    /// to replay a night, and in tests.
    pub now: Option<String>,
    /// Refuse a snapshot taken more than this many hours before `now`. Off when absent, because the
    /// embedded sample and any stored snapshot would otherwise fail once they are a few days old;
    /// a nightly production configuration should set it (48 suits a daily export).
    pub max_snapshot_age_hours: Option<f64>,
    /// Refuse a snapshot whose newest `meta.lastUpdated` is more than this many hours before the
    /// snapshot instant: a national ROR is edited every hour, so a silent export is a stuck one.
    pub max_update_lag_hours: f64,
    /// The band of row-count change against the previous release, in percent.
    pub min_row_change_percent: f64,
    pub max_row_change_percent: f64,
    /// A column's share of nulls may move by at most this many percentage points between releases.
    pub max_null_share_jump_points: f64,
    /// The null-share check skips tables smaller than this in either release, where one row moves
    /// the share by whole points.
    pub drift_min_rows: u64,
    /// Files above this size are flagged: data.gouv.fr does not analyse CSV above 100 MB.
    pub large_file_bytes: u64,
    /// A file of documented exceptions replacing the shipped datasets/gate/exceptions.toml.
    pub exceptions: Option<PathBuf>,
    pub checks: BTreeMap<String, CheckConfig>,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            now: None,
            max_snapshot_age_hours: None,
            max_update_lag_hours: 7.0 * 24.0,
            min_row_change_percent: -5.0,
            max_row_change_percent: 10.0,
            max_null_share_jump_points: 20.0,
            drift_min_rows: 100,
            large_file_bytes: 100_000_000,
            exceptions: None,
            checks: BTreeMap::new(),
        }
    }
}

impl GateConfig {
    /// Check what serde cannot: check names exist, numbers make sense, `now` parses.
    pub fn validate(&self) -> Result<(), String> {
        for (name, check) in &self.checks {
            if checks::find(name).is_none() {
                let known: Vec<&str> = checks::ALL.iter().map(|c| c.id).collect();
                return Err(format!("[gate.checks.{name}]: no such check (known: {})", known.join(", ")));
            }
            if let Some(p) = check.max_invalid_percent {
                if !(0.0..=100.0).contains(&p) {
                    return Err(format!("[gate.checks.{name}] max_invalid_percent = {p}: must be between 0 and 100"));
                }
            }
        }
        if self.min_row_change_percent > 0.0 || self.max_row_change_percent < 0.0 {
            return Err(format!(
                "[gate] the row-count band [{}, {}] % must contain 0",
                self.min_row_change_percent, self.max_row_change_percent
            ));
        }
        for (key, value) in [("max_update_lag_hours", Some(self.max_update_lag_hours)), ("max_snapshot_age_hours", self.max_snapshot_age_hours), ("max_null_share_jump_points", Some(self.max_null_share_jump_points))] {
            if value.is_some_and(|v| v.is_nan() || v < 0.0) {
                return Err(format!("[gate] {key} must be a number of at least 0"));
            }
        }
        self.reference_instant()?;
        Ok(())
    }

    /// `now`, parsed; None means the wall clock.
    pub fn reference_instant(&self) -> Result<Option<DateTime<Utc>>, String> {
        self.now
            .as_deref()
            .map(|t| DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("[gate] now = {t:?}: not an RFC 3339 instant: {e}")))
            .transpose()
    }

    /// The effective level of a check.
    pub fn level(&self, check: &CheckDef) -> Level {
        self.checks.get(check.id).and_then(|c| c.level).unwrap_or(check.default_level)
    }

    /// The effective tolerance of a counting check, in percent.
    pub fn tolerance(&self, check: &CheckDef) -> f64 {
        self.checks.get(check.id).and_then(|c| c.max_invalid_percent).unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_checks_and_bad_numbers_are_refused() {
        let config: GateConfig = toml::from_str("[checks.sirett]\nlevel = \"warn\"\n").unwrap();
        assert!(config.validate().unwrap_err().contains("[gate.checks.sirett]: no such check"));
        let config: GateConfig = toml::from_str("min_row_change_percent = 3.0\n").unwrap();
        assert!(config.validate().unwrap_err().contains("must contain 0"));
        let config: GateConfig = toml::from_str("now = \"yesterday\"\n").unwrap();
        assert!(config.validate().unwrap_err().contains("not an RFC 3339 instant"));
        assert!(toml::from_str::<GateConfig>("max_rows = 3\n").unwrap_err().to_string().contains("unknown field `max_rows`"));
        assert!(toml::from_str::<GateConfig>("[checks.siret]\nlevel = \"maybe\"\n").is_err());
    }

    #[test]
    fn levels_and_tolerances_default_per_check() {
        let config: GateConfig = toml::from_str("[checks.siret]\nlevel = \"warn\"\n[checks.finess]\nmax_invalid_percent = 1.5\n").unwrap();
        config.validate().unwrap();
        assert_eq!(config.level(checks::find("siret").unwrap()), Level::Warn);
        assert_eq!(config.level(checks::find("codes").unwrap()), Level::Warn);
        assert_eq!(config.level(checks::find("finess").unwrap()), Level::Fail);
        assert_eq!(config.tolerance(checks::find("finess").unwrap()), 1.5);
        assert_eq!(config.tolerance(checks::find("siren").unwrap()), 0.0);
    }
}
