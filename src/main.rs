//! The `ror-opendata` command line: parse arguments, call the library, map failures to exit codes.
//! Exit codes are decided in one place (`exit_code`) because schedulers branch on them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use ror_opendata::config::Config;
use ror_opendata::{build, load_public_policy, release, sample_dir, synth, BuildOptions, FailureClass, PipelineError};

const EXIT_HELP: &str = "Exit codes:
  0  success
  1  internal error (a bug: please report it with the log)
  2  configuration or usage error (command line, ror-opendata.toml, policy file)
  3  invalid or unreadable input (the snapshot): the message names file, resource and field
  4  checks failed (verify found a difference)
  5  the release could not be written (disk, permissions, an existing different release)";

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
    /// The whole night: snapshot, build the public release.
    Run(RunArgs),
    /// Build a release from a stored snapshot folder.
    Build(BuildArgs),
    /// Check a release, or every release under a folder, against its manifest and SHA256SUMS.
    Verify {
        /// A release folder, a publication folder or a releases folder.
        path: PathBuf,
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
    /// Lint the disclosure policy files.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Check that the policy classifies every table and column (deny by default).
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A folder of FHIR JSON files; the embedded sample when absent.
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
        let code = match e.class() {
            FailureClass::Configuration => 2,
            FailureClass::Input => 3,
            FailureClass::Output => 5,
        };
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
    init_logging(format, cli.quiet);
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
        Command::Run(args) => run(args),
        Command::Build(args) => build_command(args),
        Command::Verify { path } => verify(path),
        Command::Synth { scale, seed, out, taken_at } => synth_command(scale, seed, out, taken_at),
        Command::Policy { action: PolicyAction::Check { config } } => policy_check(config),
    }
}

fn init_logging(format: LogFormat, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ROR_OPENDATA_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).with_ansi(color);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, Failure> {
    match path {
        Some(p) => Config::load(p).map_err(|e| PipelineError::from(e).into()),
        None => Ok(Config::default()),
    }
}

/// `run`: the whole night on a snapshot folder (the embedded sample by default).
fn run(args: RunArgs) -> Result<u8, Failure> {
    let config = load_config(args.config.as_ref())?;
    let (snapshot_dir, label) = match args.source.or(config.source.folder.clone()) {
        Some(dir) => (dir.clone(), dir.display().to_string()),
        None => (sample_dir(), "sample".to_owned()),
    };
    let scratch;
    let out_dir = if args.dry_run {
        scratch = tempfile_dir()?;
        scratch.clone()
    } else {
        args.out.or(config.release.out_dir.clone()).unwrap_or_else(|| PathBuf::from("out"))
    };
    let outcome = build(&BuildOptions { snapshot_dir, source_label: label, out_dir: out_dir.clone(), public_policy: load_public_policy(&config)? });
    if args.dry_run {
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    report_build(outcome?, args.dry_run);
    Ok(0)
}

/// `build`: a release from a stored snapshot folder.
fn build_command(args: BuildArgs) -> Result<u8, Failure> {
    let config = load_config(args.config.as_ref())?;
    let out_dir = args.out.or(config.release.out_dir.clone()).unwrap_or_else(|| PathBuf::from("out"));
    let label = args.snapshot.display().to_string();
    let outcome = build(&BuildOptions { snapshot_dir: args.snapshot, source_label: label, out_dir, public_policy: load_public_policy(&config)? })?;
    report_build(outcome, false);
    Ok(0)
}

fn tempfile_dir() -> Result<PathBuf, Failure> {
    let dir = std::env::temp_dir().join(format!("ror-opendata-dry-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn report_build(outcome: ror_opendata::BuildOutcome, dry_run: bool) {
    let r = &outcome.release;
    let status = match (dry_run, &r.status) {
        (true, _) => "built (dry run, nothing kept)",
        (false, release::ReleaseStatus::Created) => "created",
        (false, release::ReleaseStatus::Unchanged) => "unchanged (already released, identical)",
    };
    println!("release public/{} {status}", r.version);
    if !dry_run {
        println!("  {}", r.dir.display());
    }
    for (table, rows) in &outcome.rows_by_table {
        println!("  {table:<24} {rows:>9} rows");
    }
}

/// `verify`: re-check releases and list every difference.
fn verify(path: PathBuf) -> Result<u8, Failure> {
    let report = release::verify_path(&path);
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

/// `policy check`: parse every policy and check it against the catalogue.
fn policy_check(config: Option<PathBuf>) -> Result<u8, Failure> {
    let config = load_config(config.as_ref())?;
    let policy = load_public_policy(&config)?;
    println!("policy {} (audience {}) classifies every table and column; sha256 {}", policy.origin, policy.audience, policy.sha256);
    Ok(0)
}
