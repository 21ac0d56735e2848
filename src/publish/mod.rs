//! Publish a public release to data.gouv.fr (or any udata instance) through its API.
//!
//! One shape, like every target: `config` (what the operator writes), `client` (the transport:
//! key header, timeouts, retries), `desired` and `description` (what the release should look like
//! on the platform), `plan` (pure: desired + remote → steps), `apply` (carries the steps out,
//! recovering from answers lost after a POST), `state` (which ids hold which files).
//!
//! The sequence is the safe one the platform's behaviour calls for (DATAGOUV-API.md): check the
//! key, the organisation, the vocabularies and the Parquet extension before anything changes; find
//! the dataset by its id or its marker; replace files in place so ids and `latest` URLs stay
//! stable; skip files whose sha1 already matches; GET, merge and PUT the dataset's full state.

pub mod apply;
pub mod client;
pub mod config;
pub mod description;
pub mod desired;
pub mod plan;
pub mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::release::manifest::Manifest;
use client::{Client, ClientError, RetryPolicy};
use config::{PublishConfig, Target};
use plan::{Plan, RemoteDataset, DATASET_MARKER};
use state::PublishState;

pub use config::PublishConfig as Config;

/// Why publishing failed, by what the operator should do about it.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publish configuration: {0}")]
    Config(String),
    #[error("no data.gouv.fr target is configured: set DATAGOUV_API_URL, DATAGOUV_API_KEY and DATAGOUV_ORGANIZATION (or [publish] api_url, api_key_file, organization)")]
    NoTarget,
    #[error("{root} refused the API key: {message}. Check DATAGOUV_API_KEY (or [publish] api_key_file): a key of this instance (demo and www have separate accounts), not revoked or expired. Nothing was changed.")]
    Auth { root: String, message: String },
    #[error("{0} Nothing was changed.")]
    Permission(String),
    #[error("release {path}: {message}")]
    Release { path: String, message: String },
    /// The release must not be published (gate failed, development keys) and --force was not given.
    #[error("release {dir} is not for publication: {reason}. Nothing was published; fix the cause and build again, or publish it anyway with `ror-opendata publish --release {dir} --force`")]
    Refused { dir: String, reason: String },
    #[error("publish state {path}: {message}")]
    State { path: String, message: String },
    /// The platform does not support what the release needs (Parquet, the licence…).
    #[error("{root}: {message}. Nothing was changed.")]
    Platform { root: String, message: String },
    /// The platform could not be read before anything changed (down, 5xx, timeouts after retries).
    #[error("{root} is unavailable: {message}. Nothing was changed; rerun `ror-opendata publish --release {dir}` when it answers again")]
    Unavailable { root: String, dir: String, message: String },
    /// Something failed after changes began: the dataset may show part of the new release.
    #[error("publishing release {version} to {root} is incomplete: {message}. Rerun `ror-opendata publish --release {dir}` to complete it: files already in place are skipped and nothing is duplicated")]
    Incomplete { version: String, root: String, dir: String, message: String },
}

/// What kind of failure, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFailure {
    /// The configuration, the key or the membership: fix and rerun.
    Configuration,
    /// The release folder is unreadable.
    Input,
    /// The release is not for publication (gate, development keys).
    Checks,
    /// The platform did not take everything: rerun publish.
    Incomplete,
}

impl PublishError {
    pub fn class(&self) -> PublishFailure {
        match self {
            PublishError::Config(_) | PublishError::NoTarget | PublishError::Auth { .. } | PublishError::Permission(_) | PublishError::Platform { .. } => PublishFailure::Configuration,
            PublishError::Release { .. } => PublishFailure::Input,
            PublishError::Refused { .. } => PublishFailure::Checks,
            PublishError::State { .. } | PublishError::Incomplete { .. } | PublishError::Unavailable { .. } => PublishFailure::Incomplete,
        }
    }
}

/// What to publish and how.
pub struct PublishOptions<'a> {
    pub release_dir: &'a Path,
    pub config: &'a PublishConfig,
    pub target: &'a Target,
    /// The state folder (`[publish] state_dir`, else `<out>/state`).
    pub state_dir: PathBuf,
    /// Compute and print the plan; change nothing.
    pub dry_run: bool,
    /// Publish a release whose gate failed or which was built with development keys.
    pub force: bool,
}

/// What a publish did.
#[derive(Debug)]
pub struct PublishOutcome {
    pub version: String,
    pub dataset_id: Option<String>,
    pub plan: Plan,
    /// Bytes of file content sent to the platform (0 when nothing changed, or on a dry run).
    pub bytes_uploaded: u64,
    pub files_uploaded: usize,
    pub dataset_url: Option<String>,
}

/// Publish the release in `options.release_dir`.
pub fn publish(options: &PublishOptions<'_>) -> Result<PublishOutcome, PublishError> {
    options.config.check()?;
    let release_dir = options.release_dir;
    let manifest = read_manifest(release_dir)?;
    refuse_unpublishable(release_dir, &manifest, options.force)?;

    let config = options.config;
    let target = options.target;
    let retry = RetryPolicy { attempts: config.attempts, backoff: Duration::from_millis(config.backoff_ms), max_backoff: Duration::from_millis(config.max_backoff_ms) };
    let client = Client::new(target, Duration::from_secs(config.timeout_seconds), retry).map_err(|e| PublishError::Config(e.to_string()))?;
    let vocabulary = preflight(&client, target, config, release_dir)?;

    let description = description::render(
        release_dir,
        &manifest,
        &description::DescriptionInput { title: &config.dataset.title, license_title: &vocabulary.license_title, license_url: vocabulary.license_url.as_deref(), template: config.dataset.description_template.as_deref() },
    )?;
    let desired = desired::desired_dataset(release_dir, &manifest, &desired::DesiredInput { dataset: &config.dataset, description, extensions: &vocabulary.extensions })?;

    let state_path = state::state_path(&options.state_dir, &target.root, &target.organization, &config.dataset.marker);
    let mut state = state::load(&state_path)?.unwrap_or_else(|| PublishState { root: target.root.clone(), organization: target.organization.clone(), ..Default::default() });
    let remote = find_dataset(&client, &target.organization, &config.dataset.marker, state.dataset_id.as_deref()).map_err(|e| PublishError::Unavailable { root: target.root.clone(), dir: release_dir.display().to_string(), message: format!("cannot read the organisation's datasets: {e}") })?;
    if remote.is_none() && state.dataset_id.is_some() {
        tracing::warn!(dataset = state.dataset_id.as_deref().unwrap_or_default(), "the dataset the state file names is gone; a new one will be created");
        state.dataset_id = None;
        state.resources.clear();
    }
    let latest = latest_lookup(&client, remote.as_ref());
    let plan = plan::plan(&desired, remote.as_ref(), &state.resources, config.chunk_threshold_bytes, &latest);
    tracing::info!(version = %manifest.version, dataset = remote.as_ref().map(|r| r.id.as_str()).unwrap_or("(new)"), upload_bytes = plan.upload_bytes(), "publish plan");
    let dataset_page = |id: &str| format!("{}/api/1/datasets/{id}/", target.root);
    drop(latest);
    if options.dry_run {
        return Ok(PublishOutcome { version: manifest.version.clone(), dataset_url: remote.as_ref().map(|r| dataset_page(&r.id)), dataset_id: remote.as_ref().map(|r| r.id.clone()), plan, bytes_uploaded: 0, files_uploaded: 0 });
    }

    let incomplete = |message: String| PublishError::Incomplete { version: manifest.version.clone(), root: target.root.clone(), dir: release_dir.display().to_string(), message };
    let applied = apply::apply(
        &apply::ApplyInput { client: &client, organization: &target.organization, desired: &desired, plan: &plan, remote: remote.as_ref(), chunk_threshold: config.chunk_threshold_bytes, chunk_size: config.chunk_size_bytes, marker: &config.dataset.marker },
        &mut state,
        &state_path,
    )
    .map_err(|e| match e {
        apply::ApplyError::State(s) => s,
        apply::ApplyError::Remote(message) => incomplete(message),
        apply::ApplyError::Refused(message) => PublishError::Permission(message),
    })?;
    state.published_version = Some(manifest.version.clone());
    state::save(&state_path, &state)?;
    tracing::info!(version = %manifest.version, dataset = %applied.dataset_id, bytes_uploaded = applied.bytes_uploaded, files_uploaded = applied.files_uploaded, "published: {} bytes uploaded", applied.bytes_uploaded);
    Ok(PublishOutcome { version: manifest.version.clone(), dataset_url: Some(dataset_page(&applied.dataset_id)), dataset_id: Some(applied.dataset_id), plan, bytes_uploaded: applied.bytes_uploaded, files_uploaded: applied.files_uploaded })
}

fn read_manifest(release_dir: &Path) -> Result<Manifest, PublishError> {
    let path = release_dir.join(crate::release::manifest::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| PublishError::Release { path: path.display().to_string(), message: format!("cannot read the manifest: {e} (is this a release folder?)") })?;
    serde_json::from_slice(&bytes).map_err(|e| PublishError::Release { path: path.display().to_string(), message: format!("not a ror-opendata manifest: {e}") })
}

/// A release whose gate failed, or signed or pseudonymised with development keys, is not for the
/// public; `--force` publishes it anyway, loudly.
fn refuse_unpublishable(release_dir: &Path, manifest: &Manifest, force: bool) -> Result<(), PublishError> {
    let mut reasons = Vec::new();
    if manifest.gate.as_ref().is_some_and(|g| !g.passed) {
        reasons.push("its quality gate failed (manifest gate.passed = false; see gate.md)".to_owned());
    }
    if manifest.development_keys {
        reasons.push("it was built with development keys (manifest development_keys = true; create production keys with `ror-opendata keys init`)".to_owned());
    }
    if reasons.is_empty() {
        return Ok(());
    }
    if force {
        for reason in &reasons {
            tracing::warn!(release = %release_dir.display(), "publishing anyway (--force): {reason}");
        }
        return Ok(());
    }
    Err(PublishError::Refused { dir: release_dir.display().to_string(), reason: reasons.join("; ") })
}

/// What the platform told us before anything changed.
struct Vocabulary {
    extensions: Vec<String>,
    license_title: String,
    license_url: Option<String>,
}

/// Check the key, the membership, Parquet, the licence and the frequency. Nothing is changed.
fn preflight(client: &Client, target: &Target, config: &PublishConfig, release_dir: &Path) -> Result<Vocabulary, PublishError> {
    let platform = |message: String| PublishError::Platform { root: target.root.clone(), message };
    // A platform that is down is a reason to rerun later; one that answers no is not.
    let read = |path: &str| {
        client.get(path).map_err(|e| match e.status() {
            Some(401) | Some(403) => PublishError::Auth { root: target.root.clone(), message: status_message(&e) },
            _ if e.is_transient() => PublishError::Unavailable { root: target.root.clone(), dir: release_dir.display().to_string(), message: e.to_string() },
            _ => platform(e.to_string()),
        })
    };
    let me = read("/api/1/me/")?;
    let member = me.get("organizations").and_then(Value::as_array).is_some_and(|orgs| orgs.iter().any(|o| o.get("id").and_then(Value::as_str) == Some(target.organization.as_str()) || o.get("slug").and_then(Value::as_str) == Some(target.organization.as_str())));
    if !member {
        let user = me.get("slug").and_then(Value::as_str).unwrap_or("the key's user");
        return Err(PublishError::Permission(format!("the API key's user ({user}) is not a member of organisation {} on {}: ask an administrator of the organisation to add them, or use a member's key.", target.organization, target.root)));
    }
    let extensions: Vec<String> = read("/api/1/datasets/extensions/")?.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
    if !extensions.iter().any(|e| e == "parquet") {
        return Err(platform("the platform does not accept .parquet files (not in /api/1/datasets/extensions/)".into()));
    }
    let licenses = read("/api/1/datasets/licenses/")?;
    let license = licenses.as_array().and_then(|a| a.iter().find(|l| l.get("id").and_then(Value::as_str) == Some(config.dataset.license.as_str()))).cloned();
    let Some(license) = license else {
        let known: Vec<&str> = licenses.as_array().map(|a| a.iter().filter_map(|l| l.get("id").and_then(Value::as_str)).collect()).unwrap_or_default();
        return Err(PublishError::Config(format!("[publish.dataset] license {:?} is not a licence of {} (known: {})", config.dataset.license, target.root, known.join(", "))));
    };
    let frequencies = read("/api/1/datasets/frequencies/")?;
    let known_frequency = frequencies.as_array().is_some_and(|a| a.iter().any(|f| f.get("id").and_then(Value::as_str) == Some(config.dataset.frequency.as_str())));
    if !known_frequency {
        return Err(PublishError::Config(format!("[publish.dataset] frequency {:?} is not a frequency of {}", config.dataset.frequency, target.root)));
    }
    let text = |k: &str| license.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    Ok(Vocabulary { extensions, license_title: text("title").unwrap_or_else(|| config.dataset.license.clone()), license_url: text("url") })
}

fn status_message(e: &ClientError) -> String {
    match e {
        ClientError::Status { status, message, .. } => format!("HTTP {status}: {message}"),
        other => other.to_string(),
    }
}

/// The dataset: by the id the state remembers (if it still carries the marker and is not deleted),
/// else by the marker among the organisation's datasets (drafts included, the key being a member's).
pub fn find_dataset(client: &Client, organization: &str, marker: &str, known_id: Option<&str>) -> Result<Option<RemoteDataset>, ClientError> {
    let ours = |d: &Value| d.get("extras").and_then(|e| e.get(DATASET_MARKER)).and_then(Value::as_str) == Some(marker) && d.get("deleted").is_none_or(Value::is_null);
    if let Some(id) = known_id {
        match client.get(&format!("/api/1/datasets/{id}/")) {
            Ok(d) if ours(&d) => return Ok(RemoteDataset::from_json(d)),
            Ok(_) => tracing::warn!(dataset = id, "the dataset the state file names no longer carries the marker; looking for the marker"),
            Err(e) if matches!(e.status(), Some(404) | Some(410)) => tracing::warn!(dataset = id, "the dataset the state file names is gone; looking for the marker"),
            Err(e) => return Err(e),
        }
    }
    let mut found: Vec<Value> = Vec::new();
    let mut path = format!("/api/1/organizations/{organization}/datasets/?page_size=100");
    for _ in 0..1000 {
        let page = client.get(&path)?;
        found.extend(page.get("data").and_then(Value::as_array).into_iter().flatten().filter(|d| ours(d)).cloned());
        match page.get("next_page").and_then(Value::as_str) {
            // next_page is absolute; keep its path and query on our root (a proxy may sit in front).
            Some(next) => match next.find("/api/") {
                Some(i) => path = next[i..].to_owned(),
                None => break,
            },
            None => break,
        }
    }
    // Several datasets with our marker can only come from a creation whose answer was lost and
    // that someone retried by hand: keep the oldest, say so.
    found.sort_by(|a, b| a.get("created_at").and_then(Value::as_str).cmp(&b.get("created_at").and_then(Value::as_str)));
    if found.len() > 1 {
        tracing::warn!(count = found.len(), "several datasets carry the marker {marker}; publishing to the oldest");
    }
    match found.first().and_then(|d| d.get("id")).and_then(Value::as_str) {
        Some(id) => Ok(RemoteDataset::from_json(client.get(&format!("/api/1/datasets/{id}/"))?)),
        None => Ok(None),
    }
}

/// The `latest` URL of a resource: as the platform states it (stable whatever URL we reach it
/// through), else built from the root.
fn latest_lookup<'a>(client: &'a Client, remote: Option<&'a RemoteDataset>) -> impl Fn(&str) -> String + 'a {
    let known: BTreeMap<String, String> = remote
        .map(|r| r.resources.iter().filter_map(|res| res.raw.get("latest").and_then(Value::as_str).map(|l| (res.id.clone(), l.to_owned()))).collect())
        .unwrap_or_default();
    move |id: &str| known.get(id).cloned().unwrap_or_else(|| client.latest_url(id))
}

/// Publish with the configuration: the release given, or `<out>/releases/public/latest`. Ok(None)
/// when no target is configured (then `run` only logs that publishing was skipped).
pub fn publish_configured(config: &crate::config::Config, out_dir: &Path, release: Option<&Path>, dry_run: bool, force: bool) -> Result<Option<PublishOutcome>, PublishError> {
    let Some(target) = config.publish.target()? else {
        return Ok(None);
    };
    let release_dir = match release {
        Some(dir) => dir.to_path_buf(),
        None => {
            let publication = out_dir.join("releases").join(crate::PUBLIC_PUBLICATION);
            let version = crate::release::latest_version(&publication)
                .ok_or_else(|| PublishError::Release { path: publication.display().to_string(), message: "no complete release here to publish (build one with `ror-opendata run`, or pass --release DIR)".into() })?;
            publication.join(version)
        }
    };
    let state_dir = config.publish.state_dir.clone().unwrap_or_else(|| out_dir.join("state"));
    publish(&PublishOptions { release_dir: &release_dir, config: &config.publish, target: &target, state_dir, dry_run, force }).map(Some)
}
