//! The `ror-opendata` command line: parse arguments, call the library, map failures to exit codes.
//! Exit codes are decided in one place (`exit_code`) because schedulers branch on them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use ror_opendata::config::Config;
use ror_opendata::ops::{self, logging};
/// mimalloc rather than glibc's malloc: see Cargo.toml (measured in bench/NOTES.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ror_opendata::{build, load_policies, load_policy, load_public_policy, release, sample_dir, synth, BuildOptions, PipelineError};

const EXIT_HELP: &str = "Exit codes:
  0  success
  1  internal error (a bug: please report it with the log)
  2  configuration or usage error (command line, ror-opendata.toml, policy file)
  3  invalid or unreadable input (the snapshot): the message names file, resource and field;
     or the ROR FHIR API gave no complete snapshot (unreachable, credentials or headers refused,
     export failed, deadline passed): nothing was stored, the message says what to fix or rerun
  4  checks failed: the quality gate refused the release (written, marked failed, `latest` not
     moved; its gate.md says why), the disclosure gate found classes under k beyond the
     suppression limit (nothing written; the message names table, quasi-identifiers and class
     sizes), or verify found a difference
  5  the release could not be written (disk, permissions, an existing different release)
  6  publish or delivery incomplete: the release is written; the message says which step to rerun
  7  another run holds the lock of the output folder (<out>/state/run.lock): nothing was done";

#[derive(Parser)]
#[command(name = "ror-opendata", version, about = "Publish France's ROR as open data: snapshot, flatten, disclose, release.", after_help = EXIT_HELP)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Only warnings and errors in the log.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The whole night, in order: snapshot, build (flatten, disclose, gate, history, release), report
    /// page, publish, deliver — under the output folder's lock (exit codes below).
    Run(RunArgs),
    /// Build a release from a stored snapshot folder.
    Build(BuildArgs),
    /// Send the newest release of each recipient (drees, hdh, …) encrypted to its age key, to its
    /// SFTP drop box or outbox, with a receipt and a line in the hash-chained audit log.
    Deliver(DeliverArgs),
    /// Take a snapshot from the ROR FHIR API ($export, or search) and store it, checked and
    /// immutable, under <out>/<transaction time>; `build --snapshot` then works offline.
    Snapshot(SnapshotArgs),
    /// Publish a public release to data.gouv.fr (or any udata): print the plan (create, upload,
    /// replace in place, keep, update metadata, reorder), then apply it unless --dry-run.
    Publish(PublishArgs),
    /// Check a release, or every release under a folder, against its manifest and SHA256SUMS.
    Verify {
        /// A release folder, a publication folder or a releases folder.
        path: PathBuf,
        /// The publisher's minisign public key: checks origin, not only integrity.
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Write a deterministic synthetic ROR snapshot (FHIR JSON, as ANS's $export gives it).
    Synth {
        /// 1 = national scale (about a million offers); the embedded sample is 0.003.
        #[arg(long, default_value_t = 0.003)]
        scale: f64,
        #[arg(long, default_value_t = 20261125)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// The snapshot instant (RFC 3339); 2026-11-25T02:00:00Z by default.
        #[arg(long)]
        taken_at: Option<String>,
    },
    /// Create or rotate keys: the pseudonymisation master secret and the signing key pair.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The history of the published tables.
    History {
        #[command(subcommand)]
        action: HistoryAction,
    },
    /// Lint the disclosure policy files.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// The configuration the job runs with.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective configuration as TOML (defaults filled in, secrets redacted) and the
    /// environment variables that override it.
    Show {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Create a key folder: master.key (pseudonyms), signing.key and signing.pub (minisign), owner-only.
    Init {
        /// Where to create them; then point `[keys] dir` (or the ROR_OPENDATA_*_KEY_FILE variables) at it.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start a new pseudonym key epoch for one audience (its pseudonyms all change).
    Rotate {
        #[arg(long)]
        audience: String,
        /// The key folder (default: `[keys] dir` of the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum HistoryAction {
    /// Rebuild a table as a past version published it, and prove it against that version's digest.
    AsOf {
        /// A version (20261125T020000Z) or an instant (RFC 3339): the newest version at or before it.
        at: String,
        #[arg(long)]
        table: String,
        /// The publication folder (default out/releases/public).
        #[arg(long, default_value = "out/releases/public")]
        releases: PathBuf,
        /// Write the rebuilt table here as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Check that every audience's policy classifies every table and column (deny by default).
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print an audience's policy as a table: every table, filter and column with its rule.
    Show {
        /// public, drees, hdh, or an audience named under [policy.audiences].
        #[arg(long, default_value = "public")]
        audience: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A folder of FHIR JSON files, or the http(s) base URL of the ROR FHIR API (then ROR_TOKEN_URL,
    /// ROR_CLIENT_ID and ROR_CLIENT_SECRET give the credentials); the embedded sample when absent.
    #[arg(long)]
    source: Option<PathBuf>,
    /// The output folder (releases go to <out>/releases/public/<version>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A ror-opendata.toml file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Build and check everything in a scratch folder; write nothing under --out.
    #[arg(long)]
    dry_run: bool,
    /// Refresh only these datasets: `capacites` rebuilds the public capacity series
    /// (out/releases/capacites) from the snapshot, fast enough to run hourly.
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Build the recipients' releases but do not deliver them (`deliver` sends them later).
    #[arg(long)]
    no_deliver: bool,
    /// Do not publish to data.gouv.fr even when a target is configured (`publish` does it later).
    #[arg(long)]
    no_publish: bool,
}

#[derive(clap::Args)]
struct DeliverArgs {
    /// One recipient (a name under [recipients]); every recipient when absent.
    #[arg(long)]
    recipient: Option<String>,
    /// The output folder holding the releases (<out>/releases/<audience>) and deliveries.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    config: Option<PathBuf>,
    /// Make and check the packages, send and log nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
struct PublishArgs {
    /// The release folder; the newest public release (<out>/releases/public/latest) when absent.
    #[arg(long)]
    release: Option<PathBuf>,
    /// The output folder (its state/ keeps which resource ids hold which files).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the plan; change nothing on the platform.
    #[arg(long)]
    dry_run: bool,
    /// Publish even a release whose gate failed or that was built with development keys.
    #[arg(long)]
    force: bool,
}

/// Datasets `run --only` can refresh on their own.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// capacites_departement: beds and places by département and champ d'activité.
    Capacites,
}

#[derive(clap::Args)]
struct SnapshotArgs {
    /// The ROR FHIR API base URL (over ROR_FHIR_URL and [source.fhir] base_url).
    #[arg(long)]
    source: Option<String>,
    /// The folder of stored snapshots (default [source.fhir] snapshots_dir, or out/snapshots).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only the offers updated since the newest stored snapshot (`_lastUpdated=ge…`), merged onto it.
    #[arg(long)]
    delta: bool,
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The stored snapshot folder.
    #[arg(long)]
    snapshot: PathBuf,
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long)]
    config: Option<PathBuf>,
}

/// A failure with the exit code it deserves.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl From<PipelineError> for Failure {
    fn from(e: PipelineError) -> Self {
        let code = e.class().exit_code();
        Failure { code, error: e.into() }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: 1, error }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.log_format;
    logging::init(
        match format {
            LogFormat::Human => logging::LogFormat::Human,
            LogFormat::Json => logging::LogFormat::Json,
        },
        cli.quiet,
    );
    match try_main(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            // One message, in the format the operator chose: a JSON log must stay JSON lines only.
            match format {
                LogFormat::Json => tracing::error!(exit_code = failure.code, "{:#}", failure.error),
                LogFormat::Human => eprintln!("error: {:#}", failure.error),
            }
            ExitCode::from(failure.code)
        }
    }
}

fn try_main(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Run(args) => run(args, cli.log_format),
        Command::Build(args) => build_command(args, cli.log_format),
        Command::Deliver(args) => deliver_command(args),
        Command::Snapshot(args) => snapshot_command(args),
        Command::Publish(args) => publish_command(args),
        Command::Verify { path, public_key } => verify(path, public_key),
        Command::Synth { scale, seed, out, taken_at } => synth_command(scale, seed, out, taken_at),
        Command::Policy { action: PolicyAction::Check { config } } => policy_check(config),
        Command::Policy { action: PolicyAction::Show { audience, config } } => policy_show(audience, config),
        Command::Config { action: ConfigAction::Show { config } } => config_show(config),
        Command::Keys { action: KeysAction::Init { dir } } => keys_init(dir),
        Command::Keys { action: KeysAction::Rotate { audience, dir, config } } => keys_rotate(audience, dir, config),
        Command::History { action: HistoryAction::AsOf { at, table, releases, csv } } => history_as_of(at, table, releases, csv),
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, Failure> {
    match path {
        Some(p) => Config::load(p).map_err(|e| PipelineError::from(e).into()),
        None => Ok(Config::default()),
    }
}

/// Hold the run lock of `out_dir` for as long as the returned guard lives: two runs writing the
/// same releases would interleave. A dry run writes nothing there, so it takes no lock.
fn lock_out_dir(out_dir: &std::path::Path, dry_run: bool) -> Result<Option<ops::lock::RunLock>, Failure> {
    if dry_run {
        return Ok(None);
    }
    Ok(Some(ops::lock::acquire(out_dir).map_err(PipelineError::from)?))
}

/// `run`: the whole night, in order — snapshot, build (flatten, disclose, gate, history, release),
/// the report page, then the steps that leave the machine (publish, deliver). Each step starts only
/// when the previous one succeeded, so nothing is published from a failed night.
fn run(args: RunArgs, format: LogFormat) -> Result<u8, Failure> {
    let config = load_config(args.config.as_ref())?;
    let out_dir = args.out.or(config.release.out_dir.clone()).unwrap_or_else(|| PathBuf::from("out"));
    let _lock = lock_out_dir(&out_dir, args.dry_run)?;
    let (snapshot_dir, label, _scratch_snapshot) = run_source(args.source, &config, &out_dir, args.dry_run)?;
    load_policies(&config)?;
    let public_policy = load_public_policy(&config)?;
    let capacity_only = args.only == Some(Only::Capacites);
    let publish_config = config.clone();
    let built = build(&BuildOptions { snapshot_dir, source_label: label, out_dir: out_dir.clone(), public_policy, config, dry_run: args.dry_run, capacity_only });
    // The report page is written as soon as the release is, so a failure further on still leaves
    // it; it is written again at the end with the publish and deliver stages.
    let report_dir = if args.dry_run { None } else { report_release_dir(&built, &out_dir) };
    if let Some(dir) = &report_dir {
        write_report(&out_dir, dir)?;
    }
    let outcome = built?;
    report_build(outcome, args.dry_run, format);
    if !args.dry_run && !args.no_publish && !capacity_only {
        let stage = ops::stage::Stage::start("publish");
        let published = ror_opendata::publish::publish_configured(&publish_config, &out_dir, None, false, false).map_err(PipelineError::from)?;
        stage.done(published.as_ref().map_or(0, |o| o.files_uploaded as u64), published.as_ref().map_or(0, |o| o.bytes_uploaded));
        match published {
            Some(outcome) if matches!(format, LogFormat::Json) => println!("{}", publish_json(&outcome)),
            Some(outcome) => report_publish(&outcome, false),
            None => tracing::info!("publishing skipped: no data.gouv.fr target configured (DATAGOUV_API_URL, DATAGOUV_API_KEY, DATAGOUV_ORGANIZATION)"),
        }
    }
    if !args.dry_run && !args.no_deliver && !capacity_only {
        let stage = ops::stage::Stage::start("deliver");
        let deliveries = ror_opendata::deliver::deliver(&publish_config, &out_dir, None, false).map_err(PipelineError::from)?;
        stage.done(deliveries.len() as u64, 0);
        match format {
            LogFormat::Json => println!("{}", deliveries_json(&deliveries)),
            LogFormat::Human => report_deliveries(&deliveries),
        }
    }
    if let Some(dir) = &report_dir {
        write_report(&out_dir, dir)?;
    }
    Ok(0)
}

/// `run`'s publish result as one JSON line, for `--log-format json` (standard output stays JSON).
fn publish_json(outcome: &ror_opendata::publish::PublishOutcome) -> serde_json::Value {
    serde_json::json!({"publish": {"version": outcome.version, "dataset_url": outcome.dataset_url, "files_uploaded": outcome.files_uploaded, "bytes_uploaded": outcome.bytes_uploaded}})
}

/// `run`'s deliveries as one JSON line, for `--log-format json`.
fn deliveries_json(deliveries: &[ror_opendata::deliver::Delivery]) -> serde_json::Value {
    use ror_opendata::deliver::DeliveryStatus;
    let items: Vec<serde_json::Value> = deliveries
        .iter()
        .map(|d| {
            let (status, receipt) = match &d.status {
                DeliveryStatus::Delivered { receipt, .. } => ("delivered", Some(receipt.display().to_string())),
                DeliveryStatus::AlreadyDelivered { receipt } => ("already-delivered", Some(receipt.display().to_string())),
                DeliveryStatus::DryRun => ("dry-run", None),
            };
            serde_json::json!({"recipient": d.recipient, "package": d.package.file_name, "sha256": d.package.sha256, "target": d.target.to_string(), "status": status, "receipt": receipt})
        })
        .collect();
    serde_json::json!({"deliveries": items})
}

/// `deliver`: the sensitive extracts, to one recipient or all of them.
fn deliver_command(args: DeliverArgs) -> Result<u8, Failure> {
    let config = load_config(args.config.as_ref())?;
    let out_dir = args.out.or(config.release.out_dir.clone()).unwrap_or_else(|| PathBuf::from("out"));
    let _lock = lock_out_dir(&out_dir, args.dry_run)?;
    let deliveries = ror_opendata::deliver::deliver(&config, &out_dir, args.recipient.as_deref(), args.dry_run).map_err(PipelineError::from)?;
    report_deliveries(&deliveries);
    Ok(0)
}

fn report_deliveries(deliveries: &[ror_opendata::deliver::Delivery]) {
    use ror_opendata::deliver::DeliveryStatus;
    for d in deliveries {
        let status = match &d.status {
            DeliveryStatus::Delivered { remote_bytes, receipt } => format!("delivered ({remote_bytes} bytes), receipt {}", receipt.display()),
            DeliveryStatus::AlreadyDelivered { receipt } => format!("already delivered, receipt {}", receipt.display()),
            DeliveryStatus::DryRun => "dry run: package made and checked, nothing sent".to_owned(),
        };
        println!("delivery {} {} -> {}: {status}", d.recipient, d.package.file_name, d.target);
        println!("  sha256 {}", d.package.sha256);
    }
}

/// `publish`: a public release onto its data.gouv.fr dataset, plan first.
fn publish_command(args: PublishArgs) -> Result<u8, Failure> {
    let config = load_config(args.config.as_ref())?;
    let out_dir = args.out.or(config.release.out_dir.clone()).unwrap_or_else(|| PathBuf::from("out"));
    let _lock = lock_out_dir(&out_dir, args.dry_run)?;
    let outcome = ror_opendata::publish::publish_configured(&config, &out_dir, args.release.as_deref(), args.dry_run, args.force)
        .map_err(PipelineError::from)?
        .ok_or(PipelineError::from(ror_opendata::publish::PublishError::NoTarget))?;
    report_publish(&outcome, args.dry_run);
    Ok(0)
}

fn report_publish(outcome: &ror_opendata::publish::PublishOutcome, dry_run: bool) {
    println!("publish plan for release {}:", outcome.version);
    println!("{}", outcome.plan);
    match (&outcome.dataset_url, dry_run) {
        (_, true) => println!("dry run: nothing was changed"),
        (Some(url), false) => println!("published release {} to {url}: {} file(s), {} bytes uploaded", outcome.version, outcome.files_uploaded, outcome.bytes_uploaded),
        (None, false) => {}
    }
}

/// The public release a night's report page is about: the one built, or the one the gate refused
/// (that is the night its reader needs the page most). None for a capacity-only run, and for a rerun
/// of a night already released: the release is unchanged, so is the page of the night that made it.
fn report_release_dir(built: &Result<ror_opendata::BuildOutcome, PipelineError>, out_dir: &std::path::Path) -> Option<PathBuf> {
    match built {
        Ok(outcome) if outcome.release.manifest.publication == ror_opendata::PUBLIC_PUBLICATION => {
            let release = &outcome.release;
            let page = out_dir.join(ror_opendata::report::REPORTS_DIR).join(ror_opendata::PUBLIC_PUBLICATION).join(format!("{}.html", release.version));
            (release.status == release::ReleaseStatus::Created || !page.exists()).then(|| release.dir.clone())
        }
        Err(PipelineError::GateRefused { publication, dir, .. }) if publication == ror_opendata::PUBLIC_PUBLICATION => Some(PathBuf::from(dir)),
        _ => None,
    }
}

/// The report page of the night's public release, beside the releases (out/reports/public/).
fn write_report(out_dir: &std::path::Path, release_dir: &std::path::Path) -> Result<(), Failure> {
    let written = ror_opendata::report::write(&ror_opendata::report::ReportInput { release_dir, out_dir, stages: &ops::stage::journal() }).map_err(PipelineError::from)?;
    tracing::info!(html = %written.html.display(), markdown = %written.markdown.display(), "report page written");
    Ok(())
}

/// The snapshot a run builds from: a folder (the embedded sample by default), or a new snapshot
/// taken from the ROR FHIR API when the source is an http(s) URL or `[source] kind = "fhir"`. A
/// dry run stores that snapshot in a scratch folder, never under out/, removed when the run ends.
fn run_source(source: Option<PathBuf>, config: &Config, out_dir: &std::path::Path, dry_run: bool) -> Result<(PathBuf, String, ScratchDir), Failure> {
    use ror_opendata::config::SourceKind;
    use ror_opendata::source::fhir;
    let url = source.as_ref().and_then(|s| s.to_str()).filter(|s| s.starts_with("http://") || s.starts_with("https://")).map(str::to_owned);
    if url.is_none() && (source.is_some() || config.source.kind != Some(SourceKind::Fhir)) {
        return Ok(match source.or(config.source.folder.clone()) {
            Some(dir) => (dir.clone(), dir.display().to_string(), ScratchDir(None)),
            None => (sample_dir(), "sample".to_owned(), ScratchDir(None)),
        });
    }
    let snapshots_dir = if dry_run {
        std::env::temp_dir().join(format!("ror-opendata-dry-run-snapshots-{}", std::process::id()))
    } else {
        fhir::default_snapshots_dir(&config.source.fhir, out_dir)
    };
    let scratch = ScratchDir(dry_run.then(|| snapshots_dir.clone()));
    let stored = fhir::take_snapshot(&fhir::SnapshotRequest { config: &config.source.fhir, base_override: url.as_deref(), snapshots_dir: &snapshots_dir, delta: false }).map_err(PipelineError::from)?;
    Ok((stored.dir, stored.source, scratch))
}

/// A folder removed when dropped.
struct ScratchDir(Option<PathBuf>);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `snapshot`: take a snapshot from the ROR FHIR API and store it.
fn snapshot_command(args: SnapshotArgs) -> Result<u8, Failure> {
    use ror_opendata::source::fhir;
    let config = load_config(args.config.as_ref())?;
    let out_dir = config.release.out_dir.clone().unwrap_or_else(|| PathBuf::from("out"));
    let snapshots_dir = args.out.unwrap_or_else(|| fhir::default_snapshots_dir(&config.source.fhir, &out_dir));
    let stored = fhir::take_snapshot(&fhir::SnapshotRequest { config: &config.source.fhir, base_override: args.source.as_deref(), snapshots_dir: &snapshots_dir, delta: args.delta }).map_err(PipelineError::from)?;
    println!("snapshot {} stored ({} files)", stored.taken_at.format("%Y-%m-%dT%H:%M:%SZ"), stored.files);
    println!("  {}", stored.dir.display());
    for (kind, count) in &stored.resources_by_type {
        println!("  {kind:<20} {count:>9}");
    }
    Ok(0)
}

/// `build`: a release from a stored snapshot folder.
fn build_command(args: BuildArgs, format: LogFormat) -> Result<u8, Failure> {
    let config = load_config(args.config.as_ref())?;
    let out_dir = args.out.or(config.release.out_dir.clone()).unwrap_or_else(|| PathBuf::from("out"));
    let _lock = lock_out_dir(&out_dir, false)?;
    let label = args.snapshot.display().to_string();
    load_policies(&config)?;
    let public_policy = load_public_policy(&config)?;
    let outcome = build(&BuildOptions { snapshot_dir: args.snapshot, source_label: label, out_dir, public_policy, config, dry_run: false, capacity_only: false })?;
    report_build(outcome, false, format);
    Ok(0)
}

fn report_build(outcome: ror_opendata::BuildOutcome, dry_run: bool, format: LogFormat) {
    if let LogFormat::Json = format {
        // A scheduler reading JSON gets the result as one JSON line too.
        let releases: Vec<serde_json::Value> = std::iter::once(&outcome.release)
            .chain(&outcome.others)
            .map(|r| serde_json::json!({"publication": r.manifest.publication, "version": r.version, "status": if dry_run { "dry-run" } else if r.status == release::ReleaseStatus::Unchanged { "unchanged" } else { "created" }, "dir": if dry_run { None } else { Some(r.dir.display().to_string()) }}))
            .collect();
        let rows: serde_json::Map<String, serde_json::Value> = outcome.rows_by_table.iter().map(|(t, n)| (t.clone(), (*n).into())).collect();
        println!("{}", serde_json::json!({"releases": releases, "rows": rows}));
        return;
    }
    let r = &outcome.release;
    let status = match (dry_run, &r.status) {
        (true, _) => "built (dry run, nothing kept)",
        (false, release::ReleaseStatus::Created) => "created",
        (false, release::ReleaseStatus::Unchanged) => "unchanged (already released, identical)",
    };
    println!("release {}/{} {status}", r.manifest.publication, r.version);
    if !dry_run {
        println!("  {}", r.dir.display());
    }
    for (table, rows) in &outcome.rows_by_table {
        println!("  {table:<24} {rows:>9} rows");
    }
    for other in &outcome.others {
        let status = if dry_run { "built (dry run, nothing kept)" } else if other.status == release::ReleaseStatus::Unchanged { "unchanged (already released, identical)" } else { "created" };
        println!("release {}/{} {status}", other.manifest.publication, other.version);
        if !dry_run {
            println!("  {}", other.dir.display());
        }
    }
}

/// `verify`: re-check releases and list every difference.
fn verify(path: PathBuf, public_key: Option<PathBuf>) -> Result<u8, Failure> {
    let public_key = match public_key {
        Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| Failure { code: 2, error: anyhow::anyhow!("--public-key {}: {e}", p.display()) })?),
        None => None,
    };
    let report = release::verify_path(&path, &release::VerifyOptions { public_key });
    for problem in &report.problems {
        println!("FAIL {problem}");
    }
    if report.ok() {
        println!("OK {} release(s) verified", report.releases.len());
        Ok(0)
    } else {
        println!("{} problem(s) in {} release(s)", report.problems.len(), report.releases.len());
        Ok(4)
    }
}

/// `synth`: a synthetic snapshot at any scale.
fn synth_command(scale: f64, seed: u64, out: PathBuf, taken_at: Option<String>) -> Result<u8, Failure> {
    let taken_at = match taken_at {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(&t)
                .map_err(|e| Failure { code: 2, error: anyhow::anyhow!("--taken-at {t:?}: {e}") })?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let report = synth::generate(&synth::SynthOptions { scale, seed, out_dir: out.clone(), taken_at }).map_err(|e| Failure { code: 2, error: e.into() })?;
    println!("synthetic snapshot written to {} ({} files, {} bytes)", out.display(), report.files.len(), report.bytes_written);
    for (kind, count) in &report.resources_by_type {
        println!("  {kind:<20} {count:>9}");
    }
    Ok(0)
}

/// `policy check`: parse every audience's policy and check it against the catalogue.
fn policy_check(config: Option<PathBuf>) -> Result<u8, Failure> {
    let config = load_config(config.as_ref())?;
    for policy in load_policies(&config)? {
        println!("policy {} (audience {}) classifies every table and column; sha256 {}", policy.origin, policy.audience, policy.sha256);
    }
    Ok(0)
}

/// Environment variables that override the configuration, and whether each holds a secret.
const ENVIRONMENT: &[(&str, bool)] = &[
    ("DATAGOUV_API_URL", false),
    ("DATAGOUV_API_KEY", true),
    ("DATAGOUV_ORGANIZATION", false),
    ("ROR_FHIR_URL", false),
    ("ROR_TOKEN_URL", false),
    ("ROR_CLIENT_ID", false),
    ("ROR_CLIENT_SECRET", true),
    ("ROR_OPENDATA_MASTER_KEY_FILE", false),
    ("ROR_OPENDATA_SIGNING_KEY_FILE", false),
    ("ROR_OPENDATA_LOG", false),
];

/// `config show`: the effective configuration, re-loadable as a ror-opendata.toml. Secrets are
/// `Secret`s, which serialise as a placeholder; the environment's are listed, secrets redacted.
fn config_show(path: Option<PathBuf>) -> Result<u8, Failure> {
    let config = load_config(path.as_ref())?;
    let text = toml::to_string(&config).context("printing the configuration as TOML")?;
    match &path {
        Some(p) => println!("# effective configuration: {} with every default filled in", p.display()),
        None => println!("# effective configuration: no file, every default"),
    }
    print!("{text}");
    println!("
# environment overrides");
    for (name, secret) in ENVIRONMENT {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => println!("# {name} = {}", if *secret { ror_opendata::config::Secret::REDACTED.to_owned() } else { format!("{value:?}") }),
            _ => println!("# {name} (not set)"),
        }
    }
    Ok(0)
}

/// `policy show`: one audience's policy as the data-protection officer reads it.
fn policy_show(audience: String, config: Option<PathBuf>) -> Result<u8, Failure> {
    let config = load_config(config.as_ref())?;
    let policy = load_policy(&config, &audience)?;
    print!("{}", ror_opendata::disclose::show::render(&policy));
    Ok(0)
}

/// `keys init`: a new key folder; prints where it is and the public signing key, never a secret.
fn keys_init(dir: PathBuf) -> Result<u8, Failure> {
    ror_opendata::keys::init_key_dir(&dir).map_err(|e| Failure { code: 2, error: e.into() })?;
    let public = std::fs::read_to_string(dir.join(ror_opendata::keys::SIGNING_PUBLIC_FILE)).with_context(|| format!("reading {}", dir.display()))?;
    println!("keys created in {} (owner-only): {}, {}, {}", dir.display(), ror_opendata::keys::MASTER_FILE, ror_opendata::keys::SIGNING_SECRET_FILE, ror_opendata::keys::SIGNING_PUBLIC_FILE);
    println!("public signing key (publish it in the README and on data.gouv.fr):\n{public}");
    println!("then set [keys] dir = \"{}\" in ror-opendata.toml", dir.display());
    Ok(0)
}

/// `keys rotate`: the audience's next pseudonym epoch.
fn keys_rotate(audience: String, dir: Option<PathBuf>, config: Option<PathBuf>) -> Result<u8, Failure> {
    let config = load_config(config.as_ref())?;
    let dir = dir.or(config.keys.dir).ok_or_else(|| Failure { code: 2, error: anyhow::anyhow!("no key folder: pass --dir or set [keys] dir") })?;
    let epoch = ror_opendata::keys::rotate(&dir.join(ror_opendata::keys::MASTER_FILE), &audience).map_err(|e| Failure { code: 2, error: e.into() })?;
    println!("audience {audience}: pseudonym key epoch {epoch} from the next run on");
    Ok(0)
}

/// `history as-of`: rebuild a table from the newest release's history and compare digests.
fn history_as_of(at: String, table: String, releases: PathBuf, csv: Option<PathBuf>) -> Result<u8, Failure> {
    let outcome = ror_opendata::rebuild_as_of(&releases, &at, &table).map_err(Failure::from)?;
    if let Some(path) = &csv {
        ror_opendata::table::write::write_frame_csv(&outcome.rebuilt.frame, "history", path).map_err(|e| Failure { code: 5, error: e.into() })?;
    }
    println!("table {table} as of version {}: {} rows, digest {}", outcome.rebuilt.version, outcome.rebuilt.frame.height(), outcome.rebuilt.digest);
    match &outcome.published_digest {
        Some(d) if *d == outcome.rebuilt.digest => println!("identical to what version {} published (manifest digest {d})", outcome.rebuilt.version),
        Some(d) => {
            println!("DIFFERENT from what version {} published (manifest digest {d})", outcome.rebuilt.version);
            return Ok(4);
        }
        None => println!("the release {} is not here; the history index recorded digest {}", outcome.rebuilt.version, outcome.rebuilt.recorded.digest),
    }
    if outcome.rebuilt.recorded.digest != outcome.rebuilt.digest {
        println!("DIFFERENT from the digest the history index recorded ({})", outcome.rebuilt.recorded.digest);
        return Ok(4);
    }
    Ok(0)
}
