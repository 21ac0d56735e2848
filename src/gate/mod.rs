//! The quality gate: every check a release must pass before it may become `latest` — schema
//! (types, required values, keys, ANS code lists), French health identifiers (FINESS, SIREN,
//! SIRET, idNatStruct, RPPS/ADELI, ROR ids, COG, postal codes, coordinates), drift against the
//! previous release, freshness, CSV/Parquet parity and data.gouv.fr's limits.
//!
//! French publishers spread these over frictionless, Validata, csv-detective and the platform's own
//! analysis, and none of those knows a FINESS key. Here they run as one stage whose report goes into
//! the release (gate.json, gate.md), whose verdict goes into the manifest, and whose failure stops
//! `latest` from moving and makes the run exit with code 4.
//!
//! The gate is a pure function of its inputs (the public tables, the snapshot instants, the previous
//! release, the configuration and its exceptions file), so its report is as deterministic as the
//! rest of the release. The one exception is the optional snapshot-age check, which compares with
//! the wall clock unless `[gate] now` is set; its verdict, never the clock itself, reaches the files.

pub mod checks;
pub mod config;
pub mod drift;
pub mod exceptions;
pub mod freshness;
pub mod identifiers;
pub mod limits;
pub mod nomenclature;
pub mod parity;
pub mod report;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use polars::prelude::PolarsError;
use serde::Serialize;

use crate::release::previous::PreviousRelease;
use crate::table::spill::TableSource;
use crate::table::TableError;
use checks::{CheckDef, Family};
pub use config::{CheckConfig, GateConfig, Level};
use exceptions::Exceptions;
pub use report::GateReport;

/// Errors that stop the gate from judging at all (as opposed to findings, which are its verdict).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("configuration [gate]: {0}")]
    Config(String),
    #[error("gate exceptions {origin}: {message}")]
    Exceptions { origin: String, message: String },
    #[error("gate: table {table}: {source}")]
    Polars { table: String, source: PolarsError },
    #[error("gate: {path}: {message}")]
    Read { path: String, message: String },
    /// A table could not be read back from where the run set it aside (the disk, as a release's
    /// own files would be).
    #[error("gate: {0}")]
    Table(#[from] TableError),
}

impl GateError {
    /// True when the operator must fix the configuration (exit code 2).
    pub fn is_configuration(&self) -> bool {
        matches!(self, GateError::Config(_) | GateError::Exceptions { .. })
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Failure,
    Warning,
}

/// One problem: which check, where, how many values out of how many, and a few examples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub family: Family,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Invalid values (or rows) found.
    pub count: u64,
    /// Values (or rows) checked, when the check counts; 0 otherwise.
    pub checked: u64,
    pub message: String,
    /// Up to five distinct examples, in table order (which is primary-key order).
    pub examples: Vec<String>,
}

impl Finding {
    /// `table.column`, `table` or nothing: where the finding is.
    pub fn location(&self) -> String {
        match (&self.table, &self.column) {
            (Some(t), Some(c)) => format!("{t}.{c}"),
            (Some(t), None) => t.clone(),
            _ => String::new(),
        }
    }
}

/// At most this many examples per finding: enough to find the rows, short enough to read.
pub const MAX_EXAMPLES: usize = 5;
/// Examples longer than this are cut, so one odd value cannot swamp the report.
const MAX_EXAMPLE_CHARS: usize = 80;

/// Counts checked and invalid values of one column for one check, keeping a few examples.
#[derive(Debug, Default)]
pub struct Tally {
    pub checked: u64,
    pub invalid: u64,
    pub examples: Vec<String>,
}

impl Tally {
    pub fn valid(&mut self) {
        self.checked += 1;
    }

    pub fn invalid(&mut self, example: impl Into<String>) {
        self.checked += 1;
        self.invalid += 1;
        let mut example: String = example.into();
        if example.chars().count() > MAX_EXAMPLE_CHARS {
            example = example.chars().take(MAX_EXAMPLE_CHARS).collect::<String>() + "…";
        }
        if self.examples.len() < MAX_EXAMPLES && !self.examples.contains(&example) {
            self.examples.push(example);
        }
    }
}

/// What the checks share while they run: the configuration, the exceptions, and what they found.
pub struct Context<'a> {
    pub config: &'a GateConfig,
    exceptions: &'a Exceptions,
    exception_uses: BTreeMap<usize, u64>,
    findings: Vec<Finding>,
    ran: BTreeSet<&'static str>,
    skipped: BTreeMap<&'static str, String>,
}

impl<'a> Context<'a> {
    pub fn new(config: &'a GateConfig, exceptions: &'a Exceptions) -> Self {
        Context { config, exceptions, exception_uses: BTreeMap::new(), findings: Vec::new(), ran: BTreeSet::new(), skipped: BTreeMap::new() }
    }

    /// Whether a check runs at all; records that it did.
    pub fn runs(&mut self, check: &str) -> bool {
        let def = checks::get(check);
        if self.config.level(def) == Level::Off {
            return false;
        }
        self.ran.insert(def.id);
        true
    }

    /// Whether a check is on, without recording that it ran: for work done ahead of the check
    /// (the keys foreign keys refer to), which must not make a check that never ran look run.
    pub fn enabled(&self, check: &str) -> bool {
        self.config.level(checks::get(check)) != Level::Off
    }

    /// Record why a check could not run (no previous release, a column the policy dropped…).
    pub fn skip(&mut self, check: &str, reason: impl Into<String>) {
        let def = checks::get(check);
        self.skipped.entry(def.id).or_insert_with(|| reason.into());
    }

    /// True (and counted) when the exceptions file accepts this value for this check.
    pub fn excepted(&mut self, check: &str, table: &str, column: &str, value: &str) -> bool {
        match self.exceptions.find(check, table, column, value) {
            Some(index) => {
                *self.exception_uses.entry(index).or_default() += 1;
                true
            }
            None => false,
        }
    }

    /// Report a counting check's tally for one column, if anything was invalid. A `fail` check
    /// within its tolerance only warns.
    pub fn tally(&mut self, check: &str, table: &str, column: &str, tally: Tally, what: &str) {
        if tally.invalid == 0 {
            return;
        }
        let def = checks::get(check);
        let severity = match self.config.level(def) {
            Level::Off => return,
            Level::Warn => Severity::Warning,
            Level::Fail => {
                let share = 100.0 * tally.invalid as f64 / tally.checked.max(1) as f64;
                if share > self.config.tolerance(def) {
                    Severity::Failure
                } else {
                    Severity::Warning
                }
            }
        };
        let message = format!("{table}.{column}: {} of {} value(s) {what}", tally.invalid, tally.checked);
        self.push(def, severity, Some(table), Some(column), tally.invalid, tally.checked, message, tally.examples);
    }

    /// Report a finding of a check that does not count values. `at_most` lowers the severity (a
    /// schema change that came with a policy change is only a warning).
    #[allow(clippy::too_many_arguments)]
    pub fn finding(&mut self, check: &str, at_most: Severity, table: Option<&str>, column: Option<&str>, count: u64, message: String, examples: Vec<String>) {
        let def = checks::get(check);
        let severity = match self.config.level(def) {
            Level::Off => return,
            Level::Warn => Severity::Warning,
            Level::Fail => at_most,
        };
        self.push(def, severity, table, column, count, 0, message, examples);
    }

    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, def: &'static CheckDef, severity: Severity, table: Option<&str>, column: Option<&str>, count: u64, checked: u64, message: String, examples: Vec<String>) {
        self.ran.insert(def.id);
        self.findings.push(Finding {
            check: def.id,
            family: def.family,
            severity,
            table: table.map(str::to_owned),
            column: column.map(str::to_owned),
            count,
            checked,
            message,
            examples,
        });
    }

    fn finish(self, tables: Vec<report::TableFiles>, previous_version: Option<String>) -> GateReport {
        let uses = self.exception_uses;
        report::GateReport::new(self.config, self.findings, self.ran, self.skipped, self.exceptions, &uses, tables, previous_version)
    }
}

/// What the gate judges when a release is built.
pub struct GateInput<'a> {
    /// The audience's tables, as they will be written: in memory or set aside on disk, read a
    /// slice of rows (or a few columns) at a time, so the gate holds a few slices of rows, the
    /// columns its identifier and drift checks read, and the key columns foreign keys refer to;
    /// a table whole only when one of its files differs from it.
    pub tables: &'a dyn TableSource,
    pub taken_at: DateTime<Utc>,
    /// "snapshot" or "latest-resource-update" (then the update lag is zero by construction).
    pub taken_at_basis: &'a str,
    pub latest_update: Option<DateTime<Utc>>,
    pub policy_sha256: &'a str,
    /// The release this one follows, for the drift checks.
    pub previous: Option<&'a PreviousRelease>,
    pub config: &'a GateConfig,
    /// The release's staging folder: the gate writes the table files there and reads them back.
    pub staging: &'a crate::release::Staging,
    /// The files earlier publications of the night made, which a table of the same fingerprint
    /// takes rather than writing and reading back its own (`release::shared`); None: every
    /// table's files are written here.
    pub sharing: Option<&'a crate::release::shared::Sharing<'a>>,
}

/// Run every check on the tables of a release about to be written.
pub fn run(input: &GateInput<'_>) -> Result<GateReport, GateError> {
    input.config.validate().map_err(GateError::Config)?;
    let exceptions = Exceptions::load(input.config)?;
    let mut ctx = Context::new(input.config, &exceptions);
    limits::column_names(&mut ctx, input.tables);
    identifiers::check(&mut ctx, input.tables)?;
    // The schema checks run on each table's slices as the parity check loads them: one read of
    // each table.
    let referenced = schema::referenced(&ctx, input.tables)?;
    let mut schema_checks = schema::Checks::new(&mut ctx, &referenced);
    let files = parity::check_spooled(&mut ctx, input.tables, input.staging, &mut schema_checks, input.sharing)?;
    drift::check(&mut ctx, input.tables, input.policy_sha256, input.previous)?;
    let now = input.config.reference_instant().map_err(GateError::Config)?.unwrap_or_else(Utc::now);
    freshness::check(&mut ctx, input.taken_at, input.taken_at_basis, input.latest_update, now);
    let previous_version = input.previous.map(|p| p.manifest.version.clone());
    Ok(ctx.finish(files, previous_version))
}

/// Run the checks that need only the files (schema, identifiers, parity, limits) on a release
/// folder already written: what a reuser's validator would see, and what `frictionless validate`
/// is compared with in the tests.
pub fn check_release_dir(dir: &Path, config: &GateConfig) -> Result<GateReport, GateError> {
    config.validate().map_err(GateError::Config)?;
    let exceptions = Exceptions::load(config)?;
    let mut ctx = Context::new(config, &exceptions);
    let written = parity::check_written(&mut ctx, dir)?;
    limits::column_names(&mut ctx, &written.tables);
    schema::check(&mut ctx, &written.tables, &written.unparsed)?;
    identifiers::check(&mut ctx, &written.tables)?;
    Ok(ctx.finish(written.files, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::spill::SpilledTables;
    use crate::table::{catalog, Table, TableBuilder, Tables};
    use chrono::TimeZone;

    /// Places, one with a bad postal code and swapped coordinates; offers, one referring to a place
    /// that is not published, one with a bad ROR id; schedules of those offers.
    fn tables() -> Tables {
        let mut lieux = TableBuilder::new(&catalog::LIEUX);
        for (id, postal, lat, lon) in [("L1", "75015", 48.84, 2.29), ("L2", "7501", 2.29, 48.84), ("L3", "35000", 48.11, -1.68)] {
            let mut r = lieux.row();
            r.set("identifiant_ror", id).set("identifiant_lieu", format!("11/{}", &id[1..])).set("code_postal", postal).set("latitude", Some(lat)).set("longitude", Some(lon));
            lieux.push(r);
        }
        let mut offres = TableBuilder::new(&catalog::OFFRES);
        for (id, ror, lieu) in [("O1", "11/1000001", "L1"), ("O2", "11-2", "L-GONE"), ("O3", "53/7", "L3")] {
            let mut r = offres.row();
            r.set("identifiant_ror", id).set("identifiant_offre", ror).set("lieu_id", lieu).set("type_offre_code", "999");
            offres.push(r);
        }
        let mut horaires = TableBuilder::new(&catalog::HORAIRES);
        for (id, offre) in [("1", "O1"), ("2", "O9")] {
            let mut r = horaires.row();
            r.set("horaire_id", id).set("offre_id", offre).set("heure_debut", "9h");
            horaires.push(r);
        }
        [lieux, offres, horaires].into_iter().map(|b| b.finish().unwrap()).map(|t: Table| (t.name(), t)).collect()
    }

    fn run_on(tables: &dyn TableSource, releases: &Path) -> Result<GateReport, GateError> {
        let staging = crate::release::Staging::create(releases, "public", "20261125T020000Z").unwrap();
        run_staged(tables, &staging, None)
    }

    fn run_staged(tables: &dyn TableSource, staging: &crate::release::Staging, sharing: Option<&crate::release::shared::Sharing<'_>>) -> Result<GateReport, GateError> {
        let config = GateConfig { now: Some("2026-11-25T03:00:00Z".into()), ..GateConfig::default() };
        run(&GateInput {
            tables,
            taken_at: Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap(),
            taken_at_basis: "snapshot",
            latest_update: None,
            policy_sha256: "policy",
            previous: None,
            config: &config,
            staging,
            sharing,
        })
    }

    /// The gate reads tables set aside on disk a table or a few columns at a time, and judges them
    /// exactly as the same tables in memory: same findings, same report bytes, same files.
    #[test]
    fn tables_set_aside_on_disk_are_judged_as_the_same_tables_in_memory() {
        let work = tempfile::tempdir().unwrap();
        let memory = tables();
        let spilled = SpilledTables::create_named(work.path(), "-test").unwrap();
        for table in memory.values() {
            spilled.put(table.clone()).unwrap();
        }
        let from_memory = run_on(&memory, &work.path().join("memory")).unwrap();
        let from_disk = run_on(&spilled, &work.path().join("disk")).unwrap();
        assert_eq!(from_disk.findings, from_memory.findings);
        let bytes = |report: &GateReport| report.documents().into_iter().map(|d| (d.path, d.bytes)).collect::<Vec<_>>();
        assert_eq!(bytes(&from_disk), bytes(&from_memory));
        let found = |check: &str, location: &str| from_disk.findings.iter().find(|f| f.check == check && f.location() == location).unwrap_or_else(|| panic!("{check} {location}: {:#?}", from_disk.findings));
        assert_eq!(found("foreign_keys", "offres.lieu_id").examples, ["L-GONE"]);
        assert_eq!(found("foreign_keys", "horaires.offre_id").examples, ["O9"]);
        assert_eq!(found("postal_code", "lieux.code_postal").examples, ["7501: not 5 digits"]);
        assert_eq!(found("ror_id", "offres.identifiant_offre").examples, ["11-2: not RR/digits"]);
        assert_eq!(found("coordinates", "lieux.latitude").examples, ["L2: 2.29, 48.84 (latitude and longitude swapped)"]);
        assert_eq!(found("types", "horaires.heure_debut").examples, ["9h"]);
        assert_eq!(found("codes", "offres.type_offre_code").examples, ["999"]);
        assert_eq!(from_disk.files.iter().map(|f| (f.table.as_str(), f.rows)).collect::<Vec<_>>(), [("horaires", 2), ("lieux", 3), ("offres", 3)]);

        // A table that cannot be read back stops the gate with an error naming it, an output error
        // (the disk), not the operator's configuration.
        let folder = std::fs::read_dir(work.path()).unwrap().flatten().find(|e| e.file_name().to_string_lossy().ends_with("-test")).unwrap().path();
        for file in std::fs::read_dir(&folder).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("lieux.")) {
            std::fs::remove_file(file.path()).unwrap();
        }
        let error = run_on(&spilled, &work.path().join("broken")).unwrap_err();
        assert!(matches!(error, GateError::Table(_)) && !error.is_configuration(), "{error:?}");
        assert!(error.to_string().contains("lieux."), "{error}");
    }

    /// A publication whose table has the fingerprint of one an earlier publication of the night
    /// made takes that publication's files (the same bytes, not written again) and is judged
    /// exactly as if it had written them: same findings, same report, same facts. A table made
    /// otherwise is written by its own gate.
    #[test]
    fn a_table_an_earlier_publication_made_is_taken_and_judged_the_same() {
        use std::os::unix::fs::MetadataExt;
        let work = tempfile::tempdir().unwrap();
        let folder = |suffix: &str, tables: &Tables| {
            let folder = SpilledTables::create_named(work.path(), suffix).unwrap();
            for table in tables.values() {
                folder.put(table.clone()).unwrap();
            }
            folder
        };
        let mut changed = tables();
        let mut lieux = changed.remove("lieux").unwrap();
        lieux.frame = lieux.frame.head(Some(2));
        changed.insert("lieux", lieux);
        let (drees_tables, hdh_tables, alone_tables) = (folder("-drees", &changed), folder("-hdh", &tables()), folder("-alone", &tables()));
        let releases = work.path().join("releases");
        let night = crate::release::shared::NightShare::default();
        let staging = |publication: &str| crate::release::Staging::create(&releases, publication, "20261125T020000Z").unwrap();
        let (drees, hdh, alone) = (staging("drees"), staging("hdh"), staging("alone"));
        run_staged(&drees_tables, &drees, Some(&crate::release::shared::Sharing::new(&night, &drees_tables, &drees_tables).unwrap())).unwrap();
        let shared = run_staged(&hdh_tables, &hdh, Some(&crate::release::shared::Sharing::new(&night, &hdh_tables, &hdh_tables).unwrap())).unwrap();
        let made = run_staged(&alone_tables, &alone, None).unwrap();

        assert_eq!(shared.findings, made.findings);
        let bytes = |report: &GateReport| report.documents().into_iter().map(|d| (d.path, d.bytes)).collect::<Vec<_>>();
        assert_eq!(bytes(&shared), bytes(&made));
        assert_eq!(shared.files, made.files);
        let inode = |staging: &crate::release::Staging, file: &str| std::fs::metadata(staging.dir().join(file)).unwrap().ino();
        for file in ["horaires.csv", "horaires.parquet", "offres.csv", "offres.parquet"] {
            assert_eq!(inode(&hdh, file), inode(&drees, file), "{file} taken from the DREES");
            assert_eq!(std::fs::read(hdh.dir().join(file)).unwrap(), std::fs::read(alone.dir().join(file)).unwrap(), "{file}");
        }
        for file in ["lieux.csv", "lieux.parquet"] {
            assert_ne!(inode(&hdh, file), inode(&drees, file), "{file}: another table, written");
            assert_eq!(std::fs::read(hdh.dir().join(file)).unwrap(), std::fs::read(alone.dir().join(file)).unwrap(), "{file}");
        }
    }
}
