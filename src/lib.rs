//! ror-opendata: the nightly publication of France's ROR as open data and sensitive extracts.
//!
//! The pipeline, one way through the stages (see DESIGN.md):
//! snapshot (`source`) → tables (`fhir`, `table`) → per-audience tables (`disclose`) → release
//! (`release`). Every stage between the ends is a pure function of its inputs, so the same snapshot
//! and policy give byte-identical releases.

mod arena;
pub mod config;
pub mod deliver;
pub mod disclose;
pub mod fhir;
pub mod gate;
pub mod history;
pub mod keys;
pub mod ops;
pub mod publish;
pub mod release;
pub mod report;
mod scratch;
pub mod sha256;
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
use table::spill::TableSource as _;

/// The publication name of the open-data release.
pub const PUBLIC_PUBLICATION: &str = "public";

/// The error of a pipeline run, by stage. `class` tells the CLI which exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Fhir(#[from] FhirError),
    /// Taking a snapshot from the ROR FHIR API failed (src/source/fhir).
    #[error(transparent)]
    Api(#[from] source::fhir::FhirSourceError),
    #[error(transparent)]
    Disclose(#[from] DiscloseError),
    /// A sensitive extract could not be delivered (src/deliver); the releases are complete.
    #[error(transparent)]
    Deliver(Box<deliver::DeliverError>),
    /// Publishing to data.gouv.fr failed or was refused (src/publish).
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
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
    /// The snapshot's tables could not be set aside on disk for the night, or read back.
    #[error("the snapshot's tables, set aside for the night: {0}")]
    Tables(#[from] table::TableError),
    /// The release was written for inspection, marked failed in its manifest; `latest` did not move.
    /// Another run holds the lock of the output folder, or the lock file cannot be made.
    #[error(transparent)]
    Lock(#[from] ops::lock::LockError),
    /// The report page could not be written (the release itself is complete).
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error("the quality gate refused release {publication}/{version}: {failures} failing check(s); the release is in {dir}, marked failed, and `latest` was not moved (details in its gate.md)\n{details}")]
    GateRefused { publication: String, version: String, dir: String, failures: u64, details: String },
}

/// Boxed: a delivery error carries a recipient's whole context, and every `Result` of the
/// pipeline would otherwise be as large as it.
impl From<deliver::DeliverError> for PipelineError {
    fn from(e: deliver::DeliverError) -> Self {
        PipelineError::Deliver(Box::new(e))
    }
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
    /// The release is written but publishing or delivering it did not complete: rerun the step
    /// the message names (it is idempotent).
    Incomplete,
    /// Another run holds the lock: nothing was done.
    Locked,
}

impl FailureClass {
    /// The exit code of each class, the contract with schedulers (README, `--help`).
    pub fn exit_code(self) -> u8 {
        match self {
            FailureClass::Configuration => 2,
            FailureClass::Input => 3,
            FailureClass::Checks => 4,
            FailureClass::Output => 5,
            FailureClass::Incomplete => 6,
            FailureClass::Locked => 7,
        }
    }
}

impl PipelineError {
    pub fn class(&self) -> FailureClass {
        match self {
            PipelineError::Disclose(e) if e.is_check_failure() => FailureClass::Checks,
            // The run's own folders (the snapshot's tables read back, the audience's disclosed
            // tables written and read back) failed: the disk.
            PipelineError::Disclose(DiscloseError::Table(table::TableError::Read { .. } | table::TableError::Io { .. })) => FailureClass::Output,
            PipelineError::Config(_) | PipelineError::Keys(_) | PipelineError::Disclose(DiscloseError::Syntax { .. } | DiscloseError::Policy { .. }) => FailureClass::Configuration,
            PipelineError::Fhir(_) | PipelineError::NoInstant | PipelineError::OutOfOrder { .. } | PipelineError::Disclose(_) => FailureClass::Input,
            PipelineError::Release(_) | PipelineError::History(_) | PipelineError::Tables(_) => FailureClass::Output,
            PipelineError::Gate(e) if e.is_configuration() => FailureClass::Configuration,
            PipelineError::Gate(_) => FailureClass::Output,
            PipelineError::GateRefused { .. } => FailureClass::Checks,
            PipelineError::Deliver(e) if e.is_configuration() => FailureClass::Configuration,
            PipelineError::Deliver(_) => FailureClass::Incomplete,
            PipelineError::Publish(e) => match e.class() {
                publish::PublishFailure::Configuration => FailureClass::Configuration,
                publish::PublishFailure::Input => FailureClass::Input,
                publish::PublishFailure::Checks => FailureClass::Checks,
                publish::PublishFailure::Incomplete => FailureClass::Incomplete,
            },
            PipelineError::Api(e) if e.is_configuration() => FailureClass::Configuration,
            PipelineError::Api(e) if e.is_storage() => FailureClass::Output,
            PipelineError::Api(_) => FailureClass::Input,
            PipelineError::Lock(ops::lock::LockError::Held { .. }) => FailureClass::Locked,
            PipelineError::Lock(ops::lock::LockError::Io { .. }) | PipelineError::Report(_) => FailureClass::Output,
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
    /// Build only the capacity publication (`run --only capacites`), fast enough to run hourly.
    pub capacity_only: bool,
}

/// What `build` produced.
#[derive(Debug)]
pub struct BuildOutcome {
    /// The public release (the capacity release with `capacity_only`).
    pub release: WrittenRelease,
    pub rows_by_table: Vec<(String, usize)>,
    /// The other publications written: the capacity series and each restricted audience's release.
    pub others: Vec<WrittenRelease>,
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
    let stage = ops::stage::Stage::start("snapshot");
    let snapshot = source::open_folder(&options.snapshot_dir, &options.source_label)?;
    tracing::info!(files = snapshot.provenance.files.len(), sha256 = %snapshot.provenance.sha256, "snapshot opened");
    stage.done(snapshot.provenance.files.len() as u64, snapshot.provenance.files.iter().map(|f| f.bytes).sum());
    // A dry run writes nothing under out/: its releases, and development keys it would have to
    // create, go to a scratch folder removed at the end. Keys come first: every audience but the
    // public one pseudonymises with its own key, and the keys are among a release's inputs.
    let scratch = options.dry_run.then(|| std::env::temp_dir().join(format!("ror-opendata-dry-run-{}", std::process::id())));
    let _remove_scratch = RemoveOnDrop(scratch.clone());
    let key_base = match &scratch {
        Some(s) if !options.out_dir.join("keys").exists() => s.clone(),
        _ => options.out_dir.clone(),
    };
    let keyring = keys::load_keyring(&options.config, &key_base)?;
    let signing = keys::load_signing_key(&options.config, &key_base)?;
    let releases_root = options.out_dir.join("releases");
    let inputs = NightInputs { snapshot: &snapshot, config: &options.config, keyring: &keyring, signing: &signing, program_sha256: program_sha256() };

    // The no-change night: when every publication of this snapshot's version is already released
    // from exactly these inputs, nothing is rebuilt.
    if let (false, Some(taken_at)) = (options.dry_run, snapshot.provenance.taken_at) {
        if let Some(outcome) = reuse_night(options, &inputs, &releases_root, &release::version_name(taken_at))? {
            return Ok(outcome);
        }
    }

    // The snapshot's tables go to disk as they are made: each file's rows as it is read, each
    // table from them at the end, one at a time; each publication then reads back the ones it
    // needs, one at a time, rather than all of them staying in memory beside every publication's
    // own. A disk error there is an output error, as any other of the run's folder.
    let stage = ops::stage::Stage::start("flatten");
    let spill_root = scratch.as_deref().unwrap_or(&options.out_dir);
    let fhir::Flattened { tables: spilled, resources_by_type, latest_update } = fhir::flatten_snapshot_to(&snapshot, spill_root).map_err(|e| match e {
        fhir::FhirError::Table(e @ (table::TableError::Io { .. } | table::TableError::Read { .. })) => PipelineError::Tables(e),
        e => PipelineError::Fhir(e),
    })?;
    tracing::info!(resources = resources_by_type.values().sum::<u64>(), "snapshot flattened");
    stage.done(resources_by_type.values().sum(), 0);
    let (taken_at, basis): (DateTime<Utc>, &str) = match (snapshot.provenance.taken_at, latest_update) {
        (Some(t), _) => (t, "snapshot"),
        (None, Some(t)) => (t, "latest-resource-update"),
        (None, None) => return Err(PipelineError::NoInstant),
    };
    let version = release::version_name(taken_at);
    let write_root = scratch.as_ref().map_or(releases_root.clone(), |s| s.join("releases"));
    let share = release::shared::NightShare::default();
    let context = ReleaseContext { snapshot: &snapshot, tables: &spilled, spill_root, resources_by_type: &resources_by_type, latest_update, taken_at, basis, version: &version, releases_root: &releases_root, write_root: &write_root, keyring: &keyring, signing: &signing, config: &options.config, inputs: &inputs, share: &share };

    build_publications(options, &context)
}

/// A scratch folder removed however the function that made it returns.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What every publication of one run shares.
struct ReleaseContext<'a> {
    snapshot: &'a source::Snapshot,
    /// The snapshot's tables, loaded one by one when a publication needs them.
    tables: &'a dyn table::spill::TableSource,
    /// Where the run sets tables aside (each publication's disclosed tables, beside the snapshot's).
    spill_root: &'a Path,
    /// Resources read per FHIR type, and the latest meta.lastUpdated (see `fhir::Flattened`).
    resources_by_type: &'a std::collections::BTreeMap<String, u64>,
    latest_update: Option<DateTime<Utc>>,
    taken_at: DateTime<Utc>,
    basis: &'a str,
    version: &'a str,
    /// Where previous releases are read from.
    releases_root: &'a Path,
    /// Where this run writes (a scratch folder on a dry run).
    write_root: &'a Path,
    keyring: &'a keys::Keyring,
    signing: &'a keys::SigningKey,
    config: &'a config::Config,
    inputs: &'a NightInputs<'a>,
    /// The files each publication made, which a later one takes for a table of the same
    /// fingerprint rather than making them again (DREES and the HDH share most tables).
    share: &'a release::shared::NightShare,
}

/// What the night's releases are a function of, besides the releases before them.
struct NightInputs<'a> {
    snapshot: &'a source::Snapshot,
    config: &'a config::Config,
    keyring: &'a keys::Keyring,
    signing: &'a keys::SigningKey,
    /// sha256 of this program's executable: its code, and the nomenclatures, templates and gate
    /// exceptions built into it.
    program_sha256: String,
}

impl NightInputs<'_> {
    /// The fingerprint a publication's manifest records (`inputs_sha256`): sha256 of the canonical
    /// JSON of every input that shapes its bytes. Secrets never go in, only key ids and epochs.
    fn fingerprint(&self, publication: &str, policy_sha256: &str) -> String {
        let exceptions = self.config.gate.exceptions.as_ref().map(|path| std::fs::read(path).map(|b| crate::sha256::hex_digest(&b)).unwrap_or_else(|e| format!("unreadable: {e}")));
        let inputs = serde_json::json!({
            "program": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION"), "sha256": self.program_sha256},
            "snapshot": {"source": self.snapshot.provenance.source, "sha256": self.snapshot.provenance.sha256},
            "publication": publication,
            "policy_sha256": policy_sha256,
            "key": self.keyring.audience_key(publication).record(),
            "signing_key_id": self.signing.key_id,
            "development_keys": self.keyring.is_development() || self.signing.development,
            "gate": self.config.gate,
            "gate_exceptions_sha256": exceptions,
            "release": self.config.release.gzip_large_csv,
        });
        crate::sha256::hex_digest(inputs.to_string().as_bytes())
    }
}

/// sha256 of the running executable; "unknown" (never matching a recorded fingerprint's program)
/// when it cannot be read.
fn program_sha256() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| release::sha256_file(&exe).ok())
        .map_or_else(|| format!("unknown-{}", std::process::id()), |(_, sha)| sha)
}

/// The policies of the night's audience publications: the public one first, then every other
/// audience's (none when only the capacity series is built).
fn night_policies(options: &BuildOptions) -> Result<Vec<Policy>, PipelineError> {
    if options.capacity_only {
        return Ok(Vec::new());
    }
    let mut policies = vec![options.public_policy.clone()];
    for audience in options.config.policy.audience_names().into_iter().filter(|a| a != PUBLIC_PUBLICATION) {
        policies.push(load_policy(&options.config, &audience)?);
    }
    Ok(policies)
}

/// Every publication the night would build, with the sha256 of its policy: the audiences', then
/// the capacity series (under the public policy).
fn night_publications(options: &BuildOptions) -> Result<Vec<(String, String)>, PipelineError> {
    let mut publications: Vec<(String, String)> = night_policies(options)?.into_iter().map(|p| (p.audience, p.sha256)).collect();
    publications.push((CAPACITY_PUBLICATION.to_owned(), options.public_policy.sha256.clone()));
    Ok(publications)
}

/// The night's outcome without building anything, when every publication's release of `version`
/// was built from the same inputs and still verifies; None as soon as one cannot be reused.
fn reuse_night(options: &BuildOptions, inputs: &NightInputs<'_>, releases_root: &Path, version: &str) -> Result<Option<BuildOutcome>, PipelineError> {
    let stage = ops::stage::Stage::start("reuse");
    let mut reused = Vec::new();
    for (publication, policy_sha256) in night_publications(options)? {
        match release::reuse(releases_root, &publication, version, &inputs.fingerprint(&publication, &policy_sha256))? {
            Some(release) => reused.push((publication, release)),
            None => return Ok(None),
        }
    }
    for (publication, release) in &reused {
        tracing::info!(publication, version = %release.version, dir = %release.dir.display(), status = ?release.status, "release written");
    }
    tracing::info!(version, publications = reused.len(), "no-change night: every release of this snapshot was already built from the same inputs; nothing rebuilt");
    stage.done(reused.len() as u64, 0);
    let mut releases = reused.into_iter().map(|(_, r)| r);
    let mut release = releases.next().expect("a night has at least one publication");
    let rows_by_table = release.manifest.tables.iter().map(|t| (t.name.clone(), t.rows as usize)).collect();
    release.status = release::ReleaseStatus::Unchanged;
    Ok(Some(BuildOutcome { release, rows_by_table, others: releases.collect() }))
}

/// The publications of one run: the public release, the public capacity series (`capacites`), and
/// one release per other audience (drees, hdh, …) — the sensitive extracts `deliver` packages.
///
/// Each is disclosed, gated, historised and written complete into its staging folder. They go
/// through those steps in two lanes (`ops::lanes`): disclosures and gates in order on one thread,
/// histories and releases in order on another, so that a publication's history finishes while the
/// next one is disclosed and gated; at most two steps run at once, each holding one table of its
/// publication in memory, never every audience's tables. Nothing is in place until every
/// publication is staged: a disclosure failure of any audience releases nothing, and the night is
/// one unit for the gate too (a refused publication keeps the others' `latest` where it was: the
/// capacity series must not advance on a snapshot the public release's gate found broken).
fn build_publications(options: &BuildOptions, ctx: &ReleaseContext<'_>) -> Result<BuildOutcome, PipelineError> {
    let policies = night_policies(options)?;
    let mut correspondences: Vec<Correspondence> = Vec::new();
    // The audiences' publications, then the capacity series' (under the public policy).
    let staged = ops::lanes::in_two_lanes(
        policies.len() + 1,
        ops::lanes::Steps {
            begin: |index| match policies.get(index) {
                Some(policy) => {
                    let (disclosed, sharing) = disclose_audience(ctx, policy)?;
                    if !options.dry_run {
                        correspondences.extend(correspondence(ctx, policy, &disclosed)?);
                    }
                    begin_publication(ctx, &policy.audience, disclosed, sharing)
                }
                None => {
                    let capacity = Box::new(capacity_disclosure(&options.public_policy, ctx.tables)?);
                    let sharing = release::shared::Sharing::new(ctx.share, &capacity.tables, ctx.tables)?;
                    begin_publication(ctx, CAPACITY_PUBLICATION, capacity, sharing)
                }
            },
            gate: |p: &Publishing<'_>| run_gate(ctx, p),
            history: |p: &Publishing<'_>| run_history(ctx, p),
            finish: |p, gate_report, history| release_publication(ctx, p, gate_report, &history),
        },
    );
    let staged = match staged {
        Ok(staged) => staged,
        Err(PipelineError::Disclose(e)) => {
            // Only the failure the night reports is written: the first lane may have run ahead of
            // an earlier publication's history that failed.
            if let (DiscloseError::Risk { audience, .. }, false) = (&e, options.dry_run) {
                if let Some(policy) = policies.iter().find(|p| p.audience == *audience) {
                    write_disclosure_failure(&options.out_dir, ctx.version, policy, &e);
                }
            }
            return Err(e.into());
        }
        Err(e) => return Err(e),
    };
    for c in &correspondences {
        c.write(&options.out_dir, ctx.version)?;
    }
    commit_night(options, staged)
}

/// One audience's tables as its policy discloses them, set aside on disk, with what each table's
/// files are made from (`release::shared`).
fn disclose_audience<'a>(ctx: &ReleaseContext<'a>, policy: &Policy) -> Result<(Box<disclose::Disclosed<dyn table::spill::TableSource>>, release::shared::Sharing<'a>), PipelineError> {
    let key = ctx.keyring.audience_key(&policy.audience);
    let stage = ops::stage::Stage::start("disclose").publication(&policy.audience);
    // The audience's tables go to disk as they are disclosed, and the stages after read them
    // back one at a time: memory holds one table of the publication, not all of them.
    let out = table::spill::SpilledTables::create_named(ctx.spill_root, &format!("-{}", policy.audience))?;
    let disclosed = disclose::apply_into(policy, ctx.tables, Some(&key), out)?;
    let sharing = release::shared::Sharing::new(ctx.share, &disclosed.tables, ctx.tables)?;
    stage.done(disclosed.tables.names().iter().filter_map(|t| disclosed.tables.rows(t)).map(|rows| rows as u64).sum(), 0);
    Ok((Box::new(disclosed), sharing))
}

/// One publication between its disclosure and its release: what its gate, its history and its
/// release read.
struct Publishing<'a> {
    publication: String,
    disclosed: Box<disclose::Disclosed<dyn table::spill::TableSource>>,
    /// What each table's files are made from, so that a table an earlier publication already
    /// made is taken rather than made again (`release::shared`).
    sharing: release::shared::Sharing<'a>,
    previous: Option<PreviousRelease>,
    staging: release::Staging,
}

/// A disclosed publication made ready for its gate and its history: its previous release, its
/// staging folder.
fn begin_publication<'a>(ctx: &ReleaseContext<'_>, publication: &str, disclosed: Box<disclose::Disclosed<dyn table::spill::TableSource>>, sharing: release::shared::Sharing<'a>) -> Result<Publishing<'a>, PipelineError> {
    let previous = previous_release(ctx.releases_root, publication, ctx.version)?;
    let staging = release::Staging::create(ctx.write_root, publication, ctx.version)?;
    Ok(Publishing { publication: publication.to_owned(), disclosed, sharing, previous, staging })
}

/// Put the night's staged publications in place: all of them, or, when a gate refused one, only
/// the refused ones (marked failed, for inspection) while the others are discarded.
fn commit_night(options: &BuildOptions, staged: Vec<StagedPublication>) -> Result<BuildOutcome, PipelineError> {
    let night_refused = staged.iter().any(|s| !s.gate_report.passed);
    let mut outcome: Option<BuildOutcome> = None;
    let mut others = Vec::new();
    let mut refused: Option<PipelineError> = None;
    for StagedPublication { publication, release, gate_report, rows_by_table } in staged {
        let passed = gate_report.passed;
        if night_refused && passed {
            tracing::warn!(publication = %publication, "not released: another publication of this night was refused by its quality gate");
            continue;
        }
        let release = release.commit()?;
        tracing::info!(publication, version = %release.version, dir = %release.dir.display(), status = ?release.status, "release written");
        if !passed && refused.is_none() {
            refused = Some(PipelineError::GateRefused { publication: publication.clone(), version: release.version.clone(), dir: release.dir.display().to_string(), failures: gate_report.failures, details: gate_report.lines().join("\n") });
        }
        if outcome.is_none() && (publication == PUBLIC_PUBLICATION || options.capacity_only) {
            outcome = Some(BuildOutcome { release, rows_by_table, others: Vec::new() });
        } else {
            others.push(release);
        }
    }
    if let Some(e) = refused {
        return Err(e);
    }
    let mut outcome = outcome.expect("the public or the capacity publication is always built");
    outcome.others = others;
    Ok(outcome)
}

/// One publication of the night, complete in its staging folder, not yet in place.
struct StagedPublication {
    publication: String,
    release: release::StagedRelease,
    gate_report: gate::GateReport,
    rows_by_table: Vec<(String, usize)>,
}

/// The release files of one publication, written into its staging folder beside what its gate
/// and its history wrote there. The gate judged the tables and the very files it spooled there; a
/// refused release is still staged, marked failed, so that the operator can inspect exactly what
/// was refused (`latest` never names it, and the run ends with the gate's findings, exit code 4).
fn release_publication(ctx: &ReleaseContext<'_>, publishing: Publishing<'_>, gate_report: gate::GateReport, history: &history::HistoryOutput) -> Result<StagedPublication, PipelineError> {
    let Publishing { publication, disclosed, previous, staging, .. } = publishing;
    let publication = publication.as_str();
    let stage = ops::stage::Stage::start("release").publication(publication);
    let release = release::stage_release(
        staging,
        &ReleaseInput {
            publication,
            taken_at: ctx.taken_at,
            taken_at_basis: ctx.basis,
            provenance: &ctx.snapshot.provenance,
            resources_by_type: ctx.resources_by_type,
            latest_resource_update: ctx.latest_update,
            disclosed: &disclosed,
            previous: previous.as_ref(),
            history,
            signing: ctx.signing,
            development_keys: ctx.keyring.is_development() || ctx.signing.development,
            documents: [gate_report.documents(), disclosed.documents()].concat(),
            keys: disclosed.keys.clone(),
            gate: Some(gate_report.record()),
            gzip_csv_above_bytes: ctx.config.release.gzip_large_csv.then_some(ctx.config.gate.large_file_bytes),
            inputs_sha256: Some(ctx.inputs.fingerprint(publication, &disclosed.policy_sha256)),
            table_files: &gate_report.files,
        },
    )?;
    let manifest = release.manifest();
    stage.done(manifest.files.len() as u64, manifest.files.iter().map(|f| f.bytes).sum());
    let rows_by_table = disclosed.tables.names().into_iter().map(|t| (t.to_owned(), disclosed.tables.rows(t).unwrap_or(0))).collect();
    Ok(StagedPublication { publication: publication.to_owned(), release, gate_report, rows_by_table })
}

/// The quality gate of one publication: its table files spooled into the staging folder and judged.
fn run_gate(ctx: &ReleaseContext<'_>, publishing: &Publishing<'_>) -> Result<gate::GateReport, PipelineError> {
    let Publishing { publication, disclosed, previous, staging, sharing } = publishing;
    let stage = ops::stage::Stage::start("gate").publication(publication);
    let gate_report = gate::run(&gate::GateInput {
        tables: &disclosed.tables,
        taken_at: ctx.taken_at,
        taken_at_basis: ctx.basis,
        latest_update: ctx.latest_update,
        policy_sha256: &disclosed.policy_sha256,
        previous: previous.as_ref(),
        config: &ctx.config.gate,
        staging,
        sharing: Some(sharing),
    })?;
    for line in gate_report.lines() {
        tracing::warn!(publication, "gate: {line}");
    }
    tracing::info!(publication, passed = gate_report.passed, failures = gate_report.failures, warnings = gate_report.warnings, "quality gate");
    stage.done(gate_report.failures + gate_report.warnings, 0);
    Ok(gate_report)
}

/// The history of one publication advanced by this night: its new stores and changelogs written
/// into the staging folder.
fn run_history(ctx: &ReleaseContext<'_>, publishing: &Publishing<'_>) -> Result<history::HistoryOutput, PipelineError> {
    let Publishing { publication, disclosed, previous, staging, sharing } = publishing;
    let previous = previous.as_ref();
    let stage = ops::stage::Stage::start("history").publication(publication);
    // The previous stores are read one table at a time, and each new store is written into the
    // staging folder as soon as it is made: only one table's store is in memory at once.
    let previous_index = match previous {
        Some(p) => p.history_index()?,
        None => Default::default(),
    };
    let history_error = |table: &str, e: ReleaseError| HistoryError::Table { table: table.to_owned(), message: e.to_string() };
    let previous_store = |table: &str| -> Result<Option<Box<dyn history::StoredRows>>, HistoryError> {
        let file = previous.map_or(Ok(None), |p| p.history_store_file(table)).map_err(|e| history_error(table, e))?;
        Ok(file.map(|f| Box::new(f) as Box<dyn history::StoredRows>))
    };
    let table_names = disclosed.tables.names();
    let history = history::advance(&previous_index, &previous_store, &disclosed.tables, ctx.version, ctx.spill_root, &mut |table, store, changes| {
        staging.write_history_store(table, &store).map_err(|e| history_error(table, e))?;
        match changes {
            // The table's own name, which outlives the night (the writers' errors name it).
            Some(changes) => staging.write_changes(table_names.iter().find(|n| **n == table).expect("a table of the publication"), &changes).map_err(|e| history_error(table, e)),
            None => Ok(()),
        }
    }, &release::shared::HistorySharing { sharing, staging, previous, index: &previous_index })?;
    for change in &history.summary {
        tracing::info!(publication, table = %change.table, added = change.added, removed = change.removed, modified = change.modified, schema_version = %change.schema_version, "changes");
    }
    stage.done(history.summary.iter().map(|c| c.added + c.removed + c.modified).sum(), 0);
    Ok(history)
}

/// The publication of the public capacity series: `capacites_departement` alone, under the public
/// audience's small-count threshold, so that `run --only capacites` can refresh it hourly without
/// rebuilding (or moving) the nightly releases.
pub const CAPACITY_PUBLICATION: &str = "capacites";

fn capacity_disclosure(public_policy: &Policy, tables: &dyn table::spill::TableSource) -> Result<disclose::Disclosed, PipelineError> {
    let apply_error = |message: String| DiscloseError::Apply { origin: public_policy.origin.clone(), audience: public_policy.audience.clone(), table: disclose::capacity::TABLE.to_owned(), message };
    let (table, outcome) = disclose::capacity::capacity_by_departement(tables, public_policy.risk.min_count).map_err(apply_error)?;
    tracing::info!(table = disclose::capacity::TABLE, cells = outcome.cells, primary = outcome.primary_suppressed, secondary = outcome.secondary_suppressed, "small-count rule");
    let account = disclose::TableDisclosure {
        table: disclose::capacity::TABLE.to_owned(),
        published: true,
        reason: Some("Capacités courantes en lits et places sommées par département et champ d'activité ; jamais le détail (Profil 0).".into()),
        rows_in: tables.rows("capacites").unwrap_or(0),
        rows_out: table.rows(),
        filters: Vec::new(),
        dropped_columns: Vec::new(),
        columns: table.column_names().into_iter().map(|c| disclose::apply::ColumnOutcome { column: c, rule: "computed".into() }).collect(),
        risk: None,
        aggregate: Some(outcome),
    };
    let mut out = table::Tables::new();
    out.insert(table.spec.name, table);
    Ok(disclose::Disclosed {
        audience: public_policy.audience.clone(),
        policy_sha256: public_policy.sha256.clone(),
        policy_origin: public_policy.origin.clone(),
        risk: public_policy.risk.clone(),
        tables: out,
        report: vec![account],
        keys: Vec::new(),
    })
}

/// The first release of a new pseudonym key epoch comes with the correspondence old → new pseudonym
/// of everything the audience receives, written outside the releases (it is in none of them) to
/// `<out>/correspondence/<audience>/<version>.csv`, owner-only; `deliver` adds it, encrypted, to the
/// package of the recipients authorised to receive it (`correspondence = true`).
struct Correspondence {
    audience: String,
    old_epoch: u32,
    new_epoch: u32,
    pairs: usize,
    csv: String,
}

/// The correspondence this audience's release needs, if its key epoch changed since its previous
/// release. Computed while the audience's tables are in memory, written once the night is staged.
fn correspondence(ctx: &ReleaseContext<'_>, policy: &Policy, disclosed: &disclose::Disclosed<dyn table::spill::TableSource>) -> Result<Option<Correspondence>, PipelineError> {
    let Some(new) = disclosed.keys.iter().find(|k| k.audience == policy.audience) else { return Ok(None) };
    let previous = previous_release(ctx.releases_root, &policy.audience, ctx.version)?;
    let Some(old_epoch) = previous.as_ref().and_then(|p| p.manifest.keys.iter().find(|k| k.audience == policy.audience)).map(|k| k.epoch) else { return Ok(None) };
    if old_epoch == new.epoch {
        return Ok(None);
    }
    let (old_key, new_key) = (ctx.keyring.audience_key_at(&policy.audience, old_epoch), ctx.keyring.audience_key(&policy.audience));
    let rows = disclose::correspondence::across_rotation(policy, ctx.tables, &disclosed.tables, &old_key, &new_key)
        .map_err(|message| DiscloseError::Apply { origin: policy.origin.clone(), audience: policy.audience.clone(), table: "correspondance".into(), message })?;
    Ok(Some(Correspondence { audience: policy.audience.clone(), old_epoch, new_epoch: new.epoch, pairs: rows.len(), csv: disclose::correspondence::to_csv(&rows) }))
}

impl Correspondence {
    fn write(&self, out_dir: &Path, version: &str) -> Result<(), PipelineError> {
        let dir = out_dir.join("correspondence").join(&self.audience);
        let path = dir.join(format!("{version}.csv"));
        let io = |source| PipelineError::Release(ReleaseError::Io { path: path.display().to_string(), source });
        std::fs::create_dir_all(&dir).map_err(io)?;
        let temp = dir.join(format!(".{version}.csv.tmp"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write as _;
        options.open(&temp).and_then(|mut f| f.write_all(self.csv.as_bytes()).and_then(|_| f.sync_all())).map_err(io)?;
        std::fs::rename(&temp, &path).map_err(io)?;
        tracing::info!(audience = %self.audience, old_epoch = self.old_epoch, new_epoch = self.new_epoch, pairs = self.pairs, file = %path.display(), "key rotation: correspondence table written (delivered only to authorised recipients)");
        Ok(())
    }
}

/// When the k-anonymity gate fails closed nothing is released, but the data-protection officer
/// still gets the report of why: `<out>/reports/<audience>/<version>-disclosure-failed.{json,md}`.
/// Only counts, names and sizes go in, as in every disclosure report. Best effort: the run fails
/// with the same message whether or not the file could be written.
fn write_disclosure_failure(out_dir: &Path, version: &str, policy: &Policy, error: &DiscloseError) {
    let DiscloseError::Risk { table, outcome, .. } = error else { return };
    let dir = out_dir.join("reports").join(&policy.audience);
    let json = serde_json::json!({
        "audience": policy.audience,
        "version": version,
        "policy": {"origin": policy.origin, "sha256": policy.sha256},
        "gate": {"passed": false, "table": table, "risk": outcome},
        "error": error.to_string(),
    });
    let markdown = format!(
        "# Contrôle de la divulgation — audience « {} » — ÉCHEC\n\n- Version : {version}\n- Politique : `{}`, sha256 `{}`\n- Table : {table}\n- Rien n'a été publié pour aucune audience.\n\n{error}\n",
        policy.audience, policy.origin, policy.sha256
    );
    let written = std::fs::create_dir_all(&dir).and_then(|_| {
        std::fs::write(dir.join(format!("{version}-disclosure-failed.json")), serde_json::to_string_pretty(&json).unwrap_or_default() + "\n")?;
        std::fs::write(dir.join(format!("{version}-disclosure-failed.md")), markdown)
    });
    match written {
        Ok(()) => tracing::error!(report = %dir.display(), "disclosure gate failed: report written"),
        Err(e) => tracing::error!(dir = %dir.display(), "disclosure gate failed; its report could not be written: {e}"),
    }
}

/// The release a new version follows. Rebuilding an existing version follows what it followed, so
/// the rebuild is identical; a version older than `latest` is refused, because the chain and the
/// history only go forward.
fn previous_release(releases_root: &Path, publication: &str, version: &str) -> Result<Option<PreviousRelease>, PipelineError> {
    let publication_dir = releases_root.join(publication);
    let existing = publication_dir.join(version);
    if existing.join(release::manifest::MANIFEST_FILE).exists() {
        let this = release::previous::load(&existing)?;
        return match this.manifest.previous {
            Some(p) => Ok(Some(release::previous::load(&publication_dir.join(&p.version))?)),
            None => Ok(None),
        };
    }
    let latest = release::previous::load_latest(releases_root, publication)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk error in the run's own table folders is an output error (exit 5), whichever way it
    /// went; what the disclosure refuses of the data is an input error.
    #[test]
    fn disclosure_disk_errors_are_output_errors() {
        let disk = || std::io::Error::other("No space left on device");
        let read = PipelineError::Disclose(DiscloseError::Table(table::TableError::Read { path: "t".into(), source: disk() }));
        let write = PipelineError::Disclose(DiscloseError::Table(table::TableError::Io { path: "t".into(), source: disk() }));
        let refused = PipelineError::Disclose(DiscloseError::Apply { origin: "o".into(), audience: "a".into(), table: "t".into(), message: "m".into() });
        assert_eq!((read.class(), write.class(), refused.class()), (FailureClass::Output, FailureClass::Output, FailureClass::Input));
    }
}
