//! `[publish]` in ror-opendata.toml: where the public release goes on data.gouv.fr (or any udata
//! instance) and how its dataset is described. The API key never comes from the file itself: from
//! DATAGOUV_API_KEY or from the file `api_key_file` names. DATAGOUV_API_URL and
//! DATAGOUV_ORGANIZATION override the file, so one command can aim the job at demo or a local server.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

use super::PublishError;

pub const ENV_API_URL: &str = "DATAGOUV_API_URL";
pub const ENV_API_KEY: &str = "DATAGOUV_API_KEY";
pub const ENV_ORGANIZATION: &str = "DATAGOUV_ORGANIZATION";

/// What the operator writes under `[publish]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// The instance: https://www.data.gouv.fr, https://demo.data.gouv.fr or any udata (with or
    /// without the trailing /api/1).
    pub api_url: Option<String>,
    /// A file holding the API key (DATAGOUV_API_KEY wins over it).
    pub api_key_file: Option<PathBuf>,
    /// The organisation that owns the dataset (its id); the key's user must be a member.
    pub organization: Option<String>,
    /// Where the state file (logical resource → id) lives; `<out>/state` by default.
    pub state_dir: Option<PathBuf>,
    /// Files above this size are sent in parts (udata's chunked protocol), as the web client does.
    pub chunk_threshold_bytes: u64,
    /// The size of each part.
    pub chunk_size_bytes: u64,
    /// How long one HTTP exchange may take before it counts as failed (and, for GET/PUT, is retried).
    pub timeout_seconds: u64,
    /// How many times a failed exchange is tried in all (GET, PUT, and a POST once re-reading showed
    /// it was not applied).
    pub attempts: u32,
    /// The first back-off delay; it doubles on each retry, with jitter, up to `max_backoff_ms`.
    pub backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How the dataset is described.
    pub dataset: DatasetConfig,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            api_url: None,
            api_key_file: None,
            organization: None,
            state_dir: None,
            chunk_threshold_bytes: 20 * 1024 * 1024,
            chunk_size_bytes: 20 * 1024 * 1024,
            timeout_seconds: 120,
            attempts: 4,
            backoff_ms: 1000,
            max_backoff_ms: 30_000,
            dataset: DatasetConfig::default(),
        }
    }
}

/// The dataset's metadata on the platform.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetConfig {
    pub title: String,
    /// A tera template for the description (Markdown); the shipped
    /// templates/dataset-description.md.tera when absent.
    pub description_template: Option<PathBuf>,
    /// A short description (at most 200 characters on data.gouv.fr).
    pub description_short: String,
    /// A licence id of /api/1/datasets/licenses/ (checked before anything is changed).
    pub license: String,
    /// A frequency id of /api/1/datasets/frequencies/.
    pub frequency: String,
    pub tags: Vec<String>,
    /// GeoZone ids (e.g. "country:fr"); none by default.
    pub spatial_zones: Vec<String>,
    /// A GeoLevel id (country, fr:region, fr:departement, fr:commune…).
    pub spatial_granularity: String,
    /// The start of the temporal coverage (YYYY-MM-DD); the first version in the release's history
    /// when absent. The end is the snapshot's date.
    pub temporal_coverage_start: Option<String>,
    /// Keep the dataset as a draft (private) on the platform.
    pub private: bool,
    /// The value of the marker in the dataset's extras by which the job finds its dataset again
    /// when its state file is lost. Two publications in one organisation need two markers.
    pub marker: String,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        DatasetConfig {
            title: "Répertoire national de l'offre et des ressources en santé (ROR) — données publiques".into(),
            description_template: None,
            description_short: "L'offre de santé en France (établissements, offres, lieux, horaires, contacts publics), chaque nuit, avec son historique.".into(),
            license: "lov2".into(),
            frequency: "daily".into(),
            tags: ["sante", "offre-de-soins", "ror", "etablissements-de-sante", "annuaire"].map(String::from).to_vec(),
            spatial_zones: Vec::new(),
            spatial_granularity: "fr:commune".into(),
            temporal_coverage_start: None,
            private: false,
            marker: "ror-opendata/public".into(),
        }
    }
}

/// Where to publish and as whom: the configuration with the environment applied.
#[derive(Debug, Clone)]
pub struct Target {
    /// The instance's root, without /api/1 and without a trailing slash.
    pub root: String,
    pub key: Secret,
    pub organization: String,
}

impl PublishConfig {
    /// Rebase relative paths on the configuration file's folder.
    pub fn rebase(&mut self, base: &std::path::Path) {
        for p in [&mut self.api_key_file, &mut self.state_dir, &mut self.dataset.description_template].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// The target, if one is configured: None when neither the file nor the environment names any
    /// part of one (then `run` skips publishing); an error when only part of it is given.
    pub fn target(&self) -> Result<Option<Target>, PublishError> {
        let url = env_value(ENV_API_URL).or(self.api_url.clone());
        let organization = env_value(ENV_ORGANIZATION).or(self.organization.clone());
        let key = match Secret::from_env(ENV_API_KEY) {
            Some(k) => Some(k),
            None => match &self.api_key_file {
                Some(path) => Some(Secret::from_file(path).map_err(|e| PublishError::Config(e.to_string()))?),
                None => None,
            },
        };
        if url.is_none() && organization.is_none() && key.is_none() {
            return Ok(None);
        }
        let missing: Vec<&str> = [
            (url.is_none(), "the API URL ([publish] api_url or DATAGOUV_API_URL)"),
            (key.is_none(), "the API key (DATAGOUV_API_KEY or [publish] api_key_file)"),
            (organization.is_none(), "the organisation id ([publish] organization or DATAGOUV_ORGANIZATION)"),
        ]
        .into_iter()
        .filter_map(|(m, what)| m.then_some(what))
        .collect();
        if !missing.is_empty() {
            return Err(PublishError::Config(format!("a data.gouv.fr target is only partly configured: missing {}", missing.join(", "))));
        }
        let root = normalise_root(&url.unwrap_or_default())?;
        Ok(Some(Target { root, key: key.expect("checked"), organization: organization.expect("checked") }))
    }

    pub fn check(&self) -> Result<(), PublishError> {
        if self.chunk_size_bytes == 0 || self.chunk_threshold_bytes == 0 {
            return Err(PublishError::Config("[publish] chunk_size_bytes and chunk_threshold_bytes must be above 0".into()));
        }
        if self.attempts == 0 {
            return Err(PublishError::Config("[publish] attempts must be at least 1".into()));
        }
        Ok(())
    }
}

fn env_value(variable: &str) -> Option<String> {
    std::env::var(variable).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// "https://demo.data.gouv.fr/api/1/" → "https://demo.data.gouv.fr".
fn normalise_root(url: &str) -> Result<String, PublishError> {
    let trimmed = url.trim().trim_end_matches('/');
    let root = trimmed.strip_suffix("/api/1").or_else(|| trimmed.strip_suffix("/api/2")).unwrap_or(trimmed);
    if !(root.starts_with("https://") || root.starts_with("http://")) {
        return Err(PublishError::Config(format!("the data.gouv.fr API URL {url:?} is not an http(s) URL")));
    }
    Ok(root.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_normalised() {
        assert_eq!(normalise_root("https://demo.data.gouv.fr/api/1/").unwrap(), "https://demo.data.gouv.fr");
        assert_eq!(normalise_root("http://127.0.0.1:5000").unwrap(), "http://127.0.0.1:5000");
        assert!(normalise_root("demo.data.gouv.fr").unwrap_err().to_string().contains("not an http(s) URL"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<PublishConfig>("chunk_treshold_bytes = 3").unwrap_err().to_string();
        assert!(e.contains("chunk_treshold_bytes"), "{e}");
        let c: PublishConfig = toml::from_str("[dataset]\nlicense = \"odc-odbl\"").unwrap();
        assert_eq!(c.dataset.license, "odc-odbl");
        assert_eq!(c.chunk_threshold_bytes, 20 * 1024 * 1024);
    }
}
