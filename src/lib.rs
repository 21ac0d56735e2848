//! ror-opendata: the nightly publication of France's ROR as open data and sensitive extracts.
//!
//! The pipeline, one way through the stages (see DESIGN.md):
//! snapshot (`source`) → tables (`fhir`, `table`) → per-audience tables (`disclose`) → release
//! (`release`). Every stage between the ends is a pure function of its inputs, so the same snapshot
//! and policy give byte-identical releases.

pub mod config;
pub mod disclose;
pub mod fhir;
pub mod gate;
pub mod history;
pub mod keys;
pub mod release;
pub mod source;
pub mod synth;
pub mod table;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use disclose::{DiscloseError, Policy};
use fhir::FhirError;
use history::HistoryError;
use keys::KeyError;
use release::previous::PreviousRelease;
use release::{ReleaseError, ReleaseInput, WrittenRelease};
use source::SourceError;

/// The publication name of the open-data release.
pub const PUBLIC_PUBLICATION: &str = "public";

/// The error of a pipeline run, by stage. `class` tells the CLI which exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Fhir(#[from] FhirError),
    #[error(transparent)]
    Disclose(#[from] DiscloseError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("the snapshot's version {version} is older than the latest release {latest}: releases are built in time order")]
    OutOfOrder { version: String, latest: String },
    #[error("the snapshot has no instant: it has no snapshot-info.json and no resource has meta.lastUpdated")]
    NoInstant,
    #[error(transparent)]
    Gate(#[from] gate::GateError),
    /// The release was written for inspection, marked failed in its manifest; `latest` did not move.
    #[error("the quality gate refused release {publication}/{version}: {failures} failing check(s); the release is in {dir}, marked failed, and `latest` was not moved (details in its gate.md)\n{details}")]
    GateRefused { publication: String, version: String, dir: String, failures: u64, details: String },
}

impl From<SourceError> for PipelineError {
    fn from(e: SourceError) -> Self {
        PipelineError::Fhir(FhirError::Source(e))
    }
}

/// What kind of failure, for exit codes and for what the operator should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Fix the configuration or the policy.
    Configuration,
    /// The snapshot is unreadable or invalid: fix the source.
    Input,
    /// Writing the release failed (disk, permissions, an existing different release).
    Output,
    /// The quality gate refused the release: read its report, fix the source or the thresholds.
    Checks,
}

impl PipelineError {
    pub fn class(&self) -> FailureClass {
        match self {
            PipelineError::Disclose(e) if e.is_check_failure() => FailureClass::Checks,
            PipelineError::Config(_) | PipelineError::Keys(_) | PipelineError::Disclose(DiscloseError::Syntax { .. } | DiscloseError::Policy { .. }) => FailureClass::Configuration,
            PipelineError::Fhir(_) | PipelineError::NoInstant | PipelineError::OutOfOrder { .. } | PipelineError::Disclose(_) => FailureClass::Input,
            PipelineError::Release(_) | PipelineError::History(_) => FailureClass::Output,
            PipelineError::Gate(e) if e.is_configuration() => FailureClass::Configuration,
            PipelineError::Gate(_) => FailureClass::Output,
            PipelineError::GateRefused { .. } => FailureClass::Checks,
        }
    }
}

/// Everything `build` needs.
pub struct BuildOptions {
    /// The snapshot folder.
    pub snapshot_dir: PathBuf,
    /// How provenance names it ("sample", or the folder as the operator gave it).
    pub source_label: String,
    /// The output folder; releases go to `<out>/releases/<publication>/<version>`.
    pub out_dir: PathBuf,
    pub public_policy: Policy,
    /// Keys and other settings.
    pub config: config::Config,
    /// Build and check everything, but write the release in a scratch folder, never under out_dir.
    pub dry_run: bool,
}

/// What `build` produced.
#[derive(Debug)]
pub struct BuildOutcome {
    pub release: WrittenRelease,
    pub rows_by_table: Vec<(String, usize)>,
}

/// The folder of the embedded sample snapshot: beside the sources when run from a checkout.
pub fn sample_dir() -> PathBuf {
    let beside_sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample");
    if beside_sources.is_dir() {
        beside_sources
    } else {
        PathBuf::from("datasets/sample")
    }
}

/// Load the public policy: the file the configuration names, or the shipped one.
pub fn load_public_policy(config: &config::Config) -> Result<Policy, PipelineError> {
    load_policy(config, PUBLIC_PUBLICATION)
}

/// Load one audience's policy: the file the configuration names, or the shipped one.
pub fn load_policy(config: &config::Config, audience: &str) -> Result<Policy, PipelineError> {
    Ok(disclose::policy::load(audience, config.policy.path(audience))?)
}

/// Load every audience's policy. A run checks them all, not only the one it builds: a column some
/// policy leaves unclassified stops the night (deny by default), before anything is written.
pub fn load_policies(config: &config::Config) -> Result<Vec<Policy>, PipelineError> {
    config.policy.audience_names().iter().map(|a| load_policy(config, a)).collect()
}

/// snapshot → tables → public tables → release. Nothing is written unless every stage succeeded;
/// the release itself is written atomically.
pub fn build(options: &BuildOptions) -> Result<BuildOutcome, PipelineError> {
    let snapshot = source::open_folder(&options.snapshot_dir, &options.source_label)?;
    tracing::info!(files = snapshot.provenance.files.len(), sha256 = %snapshot.provenance.sha256, "snapshot opened");
    let flattened = fhir::flatten_snapshot(&snapshot)?;
    tracing::info!(resources = flattened.resources_by_type.values().sum::<u64>(), "snapshot flattened");
    let (taken_at, basis): (DateTime<Utc>, &str) = match (snapshot.provenance.taken_at, flattened.latest_update) {
        (Some(t), _) => (t, "snapshot"),
        (None, Some(t)) => (t, "latest-resource-update"),
        (None, None) => return Err(PipelineError::NoInstant),
    };
    let disclosed = disclose::apply(&options.public_policy, &flattened.tables)?;
    let rows_by_table = disclosed.tables.values().map(|t| (t.name().to_owned(), t.rows())).collect();

    let releases_root = options.out_dir.join("releases");
    let version = release::version_name(taken_at);
    let previous = previous_release(&releases_root, &version)?;

    // The gate judges the public tables before anything is written. A refused release is still
    // written, marked failed, so the operator can inspect exactly what was refused; `latest` does
    // not move, and the run ends with the gate's findings (exit code 4).
    let gate_report = gate::run(&gate::GateInput {
        tables: &disclosed.tables,
        taken_at,
        taken_at_basis: basis,
        latest_update: flattened.latest_update,
        policy_sha256: &disclosed.policy_sha256,
        previous: previous.as_ref(),
        config: &options.config.gate,
    })?;
    for line in gate_report.lines() {
        tracing::warn!("gate: {line}");
    }
    tracing::info!(passed = gate_report.passed, failures = gate_report.failures, warnings = gate_report.warnings, "quality gate");
    let previous_history = match &previous {
        Some(p) => p.history()?,
        None => Default::default(),
    };
    let history = history::advance(&previous_history, &disclosed.tables, &version)?;
    for change in &history.summary {
        tracing::info!(table = %change.table, added = change.added, removed = change.removed, modified = change.modified, schema_version = %change.schema_version, "changes");
    }

    // A dry run writes nothing under out/: its release, and development keys it would have to
    // create, go to a scratch folder removed at the end.
    let scratch = options.dry_run.then(|| std::env::temp_dir().join(format!("ror-opendata-dry-run-{}", std::process::id())));
    let key_base = match &scratch {
        Some(s) if !options.out_dir.join("keys").exists() => s.clone(),
        _ => options.out_dir.clone(),
    };
    let keyring = keys::load_keyring(&options.config, &key_base)?;
    let signing = keys::load_signing_key(&options.config, &key_base)?;
    let write_root = scratch.as_ref().map_or(releases_root.clone(), |s| s.join("releases"));
    let written = release::write_release(
        &write_root,
        &ReleaseInput {
            publication: PUBLIC_PUBLICATION,
            taken_at,
            taken_at_basis: basis,
            provenance: &snapshot.provenance,
            resources_by_type: &flattened.resources_by_type,
            latest_resource_update: flattened.latest_update,
            disclosed: &disclosed,
            previous: previous.as_ref(),
            history: &history,
            signing: &signing,
            development_keys: keyring.is_development() || signing.development,
            documents: [gate_report.documents(), disclosed.documents()].concat(),
            keys: disclosed.keys.clone(),
            gate: Some(gate_report.record()),
        },
    );
    if let Some(s) = &scratch {
        let _ = std::fs::remove_dir_all(s);
    }
    let release = written?;
    tracing::info!(version = %release.version, dir = %release.dir.display(), status = ?release.status, "release written");
    if !gate_report.passed {
        return Err(PipelineError::GateRefused {
            publication: PUBLIC_PUBLICATION.to_owned(),
            version: release.version,
            dir: release.dir.display().to_string(),
            failures: gate_report.failures,
            details: gate_report.lines().join("\n"),
        });
    }
    Ok(BuildOutcome { release, rows_by_table })
}

/// The release a new version follows. Rebuilding an existing version follows what it followed, so
/// the rebuild is identical; a version older than `latest` is refused, because the chain and the
/// history only go forward.
fn previous_release(releases_root: &Path, version: &str) -> Result<Option<PreviousRelease>, PipelineError> {
    let publication_dir = releases_root.join(PUBLIC_PUBLICATION);
    let existing = publication_dir.join(version);
    if existing.join(release::manifest::MANIFEST_FILE).exists() {
        let this = release::previous::load(&existing)?;
        return match this.manifest.previous {
            Some(p) => Ok(Some(release::previous::load(&publication_dir.join(&p.version))?)),
            None => Ok(None),
        };
    }
    let latest = release::previous::load_latest(releases_root, PUBLIC_PUBLICATION)?;
    if let Some(l) = &latest {
        if l.manifest.version.as_str() > version {
            return Err(PipelineError::OutOfOrder { version: version.to_owned(), latest: l.manifest.version.clone() });
        }
    }
    Ok(latest)
}

/// A table rebuilt from the history, with the digest its version's manifest recorded (when that
/// release is still there to read).
pub struct AsOf {
    pub rebuilt: history::asof::Rebuilt,
    pub published_digest: Option<String>,
}

/// Rebuild `table` as of `at` (a version, or an RFC 3339 instant: the newest version at or before
/// it) from the history in the newest release of `publication_dir`.
pub fn rebuild_as_of(publication_dir: &Path, at: &str, table: &str) -> Result<AsOf, PipelineError> {
    let latest = release::latest_version(publication_dir).ok_or_else(|| ReleaseError::Invalid { path: publication_dir.display().to_string(), message: "no latest release here".into() })?;
    let newest = release::previous::load(&publication_dir.join(&latest))?;
    let stored = newest.history()?;
    let version = match DateTime::parse_from_rfc3339(at) {
        Ok(t) => release::version_name(t.with_timezone(&Utc)),
        Err(_) => at.to_owned(),
    };
    let entry = stored.index.at_or_before(&version).ok_or_else(|| HistoryError::UnknownVersion { version: version.clone(), known: stored.index.versions.iter().map(|v| v.version.clone()).collect::<Vec<_>>().join(", ") })?;
    let store = stored.stores.get(table).ok_or_else(|| HistoryError::Table { table: table.to_owned(), message: "has no history".into() })?;
    let rebuilt = history::asof::rebuild(&stored.index, store, table, &entry.version)?;
    let published_digest = release::previous::load(&publication_dir.join(&entry.version))
        .ok()
        .and_then(|r| r.manifest.tables.iter().find(|t| t.name == table).map(|t| t.digest.clone()));
    Ok(AsOf { rebuilt, published_digest })
}
