//! ror-opendata: the nightly publication of France's ROR as open data and sensitive extracts.
//!
//! The pipeline, one way through the stages (see DESIGN.md):
//! snapshot (`source`) → tables (`fhir`, `table`) → per-audience tables (`disclose`) → release
//! (`release`). Every stage between the ends is a pure function of its inputs, so the same snapshot
//! and policy give byte-identical releases.

pub mod config;
pub mod disclose;
pub mod fhir;
pub mod keys;
pub mod release;
pub mod source;
pub mod synth;
pub mod table;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use disclose::{DiscloseError, Policy};
use fhir::FhirError;
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
    #[error("the snapshot has no instant: it has no snapshot-info.json and no resource has meta.lastUpdated")]
    NoInstant,
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
}

impl PipelineError {
    pub fn class(&self) -> FailureClass {
        match self {
            PipelineError::Config(_) | PipelineError::Disclose(DiscloseError::Syntax { .. } | DiscloseError::Policy { .. }) => FailureClass::Configuration,
            PipelineError::Fhir(_) | PipelineError::NoInstant | PipelineError::Disclose(_) => FailureClass::Input,
            PipelineError::Release(_) => FailureClass::Output,
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
    match &config.policy.public {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| DiscloseError::Syntax { origin: path.display().to_string(), message: format!("cannot read: {e}") })?;
            Ok(Policy::parse(&text, &path.display().to_string())?)
        }
        None => Ok(Policy::parse(disclose::PUBLIC_POLICY, "datasets/policy/public.toml")?),
    }
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
    let release = release::write_release(
        &options.out_dir.join("releases"),
        &ReleaseInput {
            publication: PUBLIC_PUBLICATION,
            taken_at,
            taken_at_basis: basis,
            provenance: &snapshot.provenance,
            resources_by_type: &flattened.resources_by_type,
            latest_resource_update: flattened.latest_update,
            disclosed: &disclosed,
            documents: Vec::new(),
            keys: Vec::new(),
            gate: None,
        },
    )?;
    tracing::info!(version = %release.version, dir = %release.dir.display(), status = ?release.status, "release written");
    Ok(BuildOutcome { release, rows_by_table })
}
