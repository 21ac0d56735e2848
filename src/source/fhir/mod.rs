//! A snapshot from the ROR FHIR API. ANS's Profil 0 client: an OAuth2 client-credentials token
//! (`token`), the four Ror-* headers, retries and a deadline on every request (`client`); a full
//! extraction by `$export` (`export`) or by the paged HealthcareService search (`search`), or a
//! delta (`_lastUpdated=ge…`) merged onto the last stored snapshot; and the immutable store that
//! checks and records what was received (`store`). The stored folder is an ordinary snapshot
//! folder: `build --snapshot DIR` reads it offline. Configuration lives in `config`.

pub mod client;
pub mod config;
pub mod export;
pub mod outcome;
pub mod search;
pub mod store;
pub mod token;

use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};

pub use config::{FhirConfig, FhirSettings, Method};
pub use store::StoredSnapshot;

use crate::source::{open_folder, SourceError};
use client::Api;
use store::{BaseRecord, OnDuplicate, SnapshotMeta, SnapshotWriter};

/// Errors taking a snapshot from the API. Each says what to do next; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum FhirSourceError {
    #[error("FHIR API source: {message}")]
    Config { message: String },
    #[error("{what}: cannot reach {url}: {message}; check the URL and the network, then rerun")]
    Unreachable { what: String, url: String, message: String },
    #[error("the token endpoint {url} refused the client credentials ({status}): {detail}; check ROR_CLIENT_ID and ROR_CLIENT_SECRET (or client_secret_file)")]
    Credentials { url: String, status: u16, detail: String },
    #[error("{url}: the API refused a freshly issued token (401): {detail}; check that this client is enabled for the ROR FHIR API")]
    Unauthorized { url: String, detail: String },
    #[error("{what}: {url} answered {status}: {detail}{hint}")]
    Refused { what: String, url: String, status: u16, detail: String, hint: &'static str },
    #[error("{what}: {url} still failing after {attempts} attempt(s) (last: {detail}); rerun later")]
    Unavailable { what: String, url: String, attempts: u32, detail: String },
    #[error("deadline of {seconds} s passed while {what}; nothing was stored; rerun, or raise [source.fhir] deadline_seconds")]
    Deadline { seconds: u64, what: String },
    #[error("export job {job} failed: {detail}; nothing was stored; rerun the snapshot")]
    ExportFailed { job: String, detail: String },
    #[error("download of {url} failed: {message}; nothing was stored; rerun the snapshot")]
    Download { url: String, message: String },
    #[error("search page {url}: {message}; nothing was stored; rerun the snapshot")]
    Page { url: String, message: String },
    #[error("snapshot check failed ({check}): {message}; nothing was stored")]
    Check { check: String, message: String },
    #[error("{0}; nothing was stored")]
    Source(#[from] SourceError),
    #[error("snapshot store {path}: {message}")]
    Store { path: String, message: String },
    #[error("snapshot {path} already exists with different files: stored snapshots are immutable (look at both; remove the stored one by hand only if it was never built)")]
    Exists { path: String },
    #[error("no snapshot in {path} to merge a delta onto: take a full one first with `ror-opendata snapshot`")]
    NoBase { path: String },
}

impl FhirSourceError {
    /// A request the server refused, with a hint for the refusals an operator can fix.
    pub fn refused(what: &str, url: &str, status: u16, detail: String) -> FhirSourceError {
        let hint = match status {
            400 | 403 => "; check the Ror-* headers ([source.fhir] profile_code, profile_system, role_code, role_system) and the request",
            404 | 410 => "; the URL or the search expired: rerun the snapshot",
            _ => "",
        };
        FhirSourceError::Refused { what: what.to_owned(), url: url.to_owned(), status, detail, hint }
    }

    /// Configuration errors: the operator fixes the file or the environment (exit code 2).
    pub fn is_configuration(&self) -> bool {
        matches!(self, FhirSourceError::Config { .. })
    }

    /// The snapshot could not be written locally (exit code 5), as opposed to the source failing.
    pub fn is_storage(&self) -> bool {
        matches!(self, FhirSourceError::Store { .. } | FhirSourceError::Exists { .. })
    }
}

/// What to take and where to store it.
pub struct SnapshotRequest<'a> {
    pub config: &'a FhirConfig,
    /// The base URL from the command line (`--source https://…`), over ROR_FHIR_URL and the file.
    pub base_override: Option<&'a str>,
    /// The folder of stored snapshots; this one goes to `<dir>/<transaction time>`.
    pub snapshots_dir: &'a Path,
    /// Merge the offers updated since the newest stored snapshot onto it, instead of a full one.
    pub delta: bool,
}

/// Take a snapshot from the API and store it. Nothing is stored unless everything arrived and
/// every check passed.
pub fn take_snapshot(request: &SnapshotRequest<'_>) -> Result<StoredSnapshot, FhirSourceError> {
    let settings = request.config.resolve(request.base_override)?;
    let source = settings.base_url.to_string();
    let base = if request.delta {
        let dir = store::latest_snapshot(request.snapshots_dir).ok_or_else(|| FhirSourceError::NoBase { path: request.snapshots_dir.display().to_string() })?;
        Some(dir)
    } else {
        None
    };
    let method = settings.method;
    let started = Utc::now();
    tracing::info!(source = %source, method = if base.is_some() { "delta" } else { match method { Method::Export => "export", Method::Search => "search" } }, "taking a snapshot from the ROR FHIR API");
    let stage = crate::ops::stage::Stage::start("fetch");
    let mut api = Api::new(settings)?;
    let mut writer = SnapshotWriter::create(request.snapshots_dir)?;
    let meta = match base {
        Some(base_dir) => delta(&mut api, &mut writer, &base_dir, &source)?,
        None if method == Method::Export => {
            let exported = export::run(&mut api, &mut writer)?;
            SnapshotMeta { taken_at: exported.transaction_time, source, method: "export", job_id: Some(exported.job_id), requests: std::mem::take(&mut api.requests), checks: exported.checks, base: None }
        }
        None => {
            let searched = search::run(&mut api, &mut writer, None, "search")?;
            SnapshotMeta { taken_at: searched.server_time.unwrap_or(started), source, method: "search", job_id: None, requests: std::mem::take(&mut api.requests), checks: searched.checks, base: None }
        }
    };
    let stored = writer.finish(meta)?;
    stage.done(stored.resources_by_type.values().sum(), stored.bytes_received);
    tracing::info!(dir = %stored.dir.display(), files = stored.files, resources = stored.resources_by_type.values().sum::<u64>(), "snapshot stored");
    Ok(stored)
}

/// The offers updated since the base snapshot (with their linked resources, as the search includes
/// them), then every resource of the base that the delta did not replace.
fn delta(api: &mut Api, writer: &mut SnapshotWriter, base_dir: &Path, source: &str) -> Result<SnapshotMeta, FhirSourceError> {
    let started = Utc::now();
    let base = open_folder(base_dir, &base_dir.display().to_string())?;
    let since = base.provenance.taken_at.ok_or_else(|| FhirSourceError::NoBase { path: format!("{} (it has no taken_at in its snapshot-info.json)", base_dir.display()) })?;
    let searched = search::run(api, writer, Some(since), "delta")?;
    for (index, file) in base.provenance.files.iter().enumerate() {
        let stored_name = format!("base/{:04}.json.gz", index + 1);
        writer.add_file(&stored_name, &file.absolute, &format!("{}/{}", base_dir.display(), file.path), OnDuplicate::KeepFirst)?;
    }
    // The base was already checked when it was stored; reading it again proves it unchanged.
    let reread = open_folder(base_dir, "base")?;
    if reread.provenance.sha256 != base.provenance.sha256 {
        return Err(FhirSourceError::Check { check: "base unchanged".into(), message: format!("{} changed while the delta was merged onto it", base_dir.display()) });
    }
    let mut checks = searched.checks;
    checks.push(store::CheckRecord { name: "base unchanged".into(), passed: true, detail: format!("sha256 {}", base.provenance.sha256) });
    Ok(SnapshotMeta {
        taken_at: searched.server_time.unwrap_or(started),
        source: source.to_owned(),
        method: "delta",
        job_id: None,
        requests: std::mem::take(&mut api.requests),
        checks,
        base: Some(BaseRecord {
            folder: base_dir.display().to_string(),
            taken_at: since.to_rfc3339_opts(SecondsFormat::Secs, true),
            sha256: base.provenance.sha256.clone(),
        }),
    })
}

/// Where snapshots go by default: `<out>/snapshots`.
pub fn default_snapshots_dir(config: &FhirConfig, out_dir: &Path) -> PathBuf {
    config.snapshots_dir.clone().unwrap_or_else(|| out_dir.join("snapshots"))
}
