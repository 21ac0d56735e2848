//! ror-opendata.toml: every key optional, every default works with no file at all. Unknown keys are
//! errors, so a typo never silently changes what gets published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration {path}: cannot read: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("configuration {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The effective configuration.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub source: SourceConfig,
    #[serde(default)]
    pub release: ReleaseConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub keys: KeysConfig,
    /// The quality gate's thresholds and check levels (src/gate/config.rs).
    #[serde(default)]
    pub gate: crate::gate::GateConfig,
    /// The recipients of sensitive extracts, by name (src/deliver/config.rs); with none, drees and
    /// hdh get development outboxes under `<out>/outbox/`.
    #[serde(default)]
    pub recipients: BTreeMap<String, crate::deliver::config::RecipientConfig>,
    /// Where and how the public release is published on data.gouv.fr (src/publish/config.rs).
    #[serde(default)]
    pub publish: crate::publish::config::PublishConfig,
}

/// Where production keys live (`keys init` makes the folder). Without it, development keys are
/// created under `<out>/keys` and releases are marked not for publication.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub dir: Option<PathBuf>,
}

/// Where the snapshot comes from.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A folder of FHIR files; the embedded sample when absent.
    pub folder: Option<PathBuf>,
    /// `folder` (the default) or `fhir`: take the snapshot from the ROR FHIR API.
    pub kind: Option<SourceKind>,
    /// `[source.fhir]`: the ROR FHIR API (src/source/fhir/config.rs).
    #[serde(default)]
    pub fhir: crate::source::fhir::FhirConfig,
}

/// What `[source] kind` may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Folder,
    Fhir,
}

/// Where releases go.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// The output folder (releases under <out>/releases); ./out when absent.
    pub out_dir: Option<PathBuf>,
    /// Give every CSV above `[gate] large_file_bytes` (100 MB) a gzip-compressed copy beside it,
    /// `<table>.csv.gz`, published too: data.gouv.fr analyses CSV up to 100 MB only. Off by default.
    #[serde(default)]
    pub gzip_large_csv: bool,
}

/// The policy files, per audience; the shipped ones when absent.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub public: Option<PathBuf>,
    pub drees: Option<PathBuf>,
    pub hdh: Option<PathBuf>,
    /// Any other audience: its name and its policy file.
    #[serde(default)]
    pub audiences: BTreeMap<String, PathBuf>,
}

impl PolicyConfig {
    /// Every audience: public, drees, hdh, then the others the configuration names.
    pub fn audience_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["public", "drees", "hdh"].map(String::from).to_vec();
        names.extend(self.audiences.keys().filter(|a| !["public", "drees", "hdh"].contains(&a.as_str())).cloned());
        names
    }

    /// The policy file configured for an audience (None: the shipped one, if any).
    pub fn path(&self, audience: &str) -> Option<&Path> {
        match audience {
            "public" => self.public.as_deref().or(self.audiences.get("public").map(PathBuf::as_path)),
            "drees" => self.drees.as_deref().or(self.audiences.get("drees").map(PathBuf::as_path)),
            "hdh" => self.hdh.as_deref().or(self.audiences.get("hdh").map(PathBuf::as_path)),
            other => self.audiences.get(other).map(PathBuf::as_path),
        }
    }
}

/// A secret (API key, client secret) read from the environment or a file at run time. It is never
/// part of the configuration file, and it cannot leak through `{:?}`, `{}` or `config show`: its
/// Debug and Serialize forms are a fixed placeholder. Call `expose` only where the value is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub const REDACTED: &'static str = "***redacted***";

    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Read a secret from a file (surrounding whitespace trimmed). The error names the file only.
    pub fn from_file(path: &Path) -> Result<Secret, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(ConfigError::Invalid { path: path.display().to_string(), message: "the secret file is empty".into() });
        }
        Ok(Secret(value.to_owned()))
    }

    /// Read a secret from an environment variable; None when unset or empty.
    pub fn from_env(variable: &str) -> Option<Secret> {
        std::env::var(variable).ok().filter(|v| !v.trim().is_empty()).map(|v| Secret(v.trim().to_owned()))
    }

    /// The value, for the one place that sends it (a header, a form field).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Secret::REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Secret::REDACTED)
    }
}

impl Config {
    /// Read a configuration file. Relative paths inside it are relative to the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut Option<PathBuf>| {
            if let Some(p) = p.as_mut() {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        };
        rebase(&mut config.source.folder);
        rebase(&mut config.source.fhir.client_secret_file);
        rebase(&mut config.source.fhir.snapshots_dir);
        rebase(&mut config.release.out_dir);
        rebase(&mut config.policy.public);
        rebase(&mut config.policy.drees);
        rebase(&mut config.policy.hdh);
        for path in config.policy.audiences.values_mut() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        rebase(&mut config.keys.dir);
        for recipient in config.recipients.values_mut() {
            crate::deliver::config::rebase(recipient, base);
        }
        rebase(&mut config.gate.exceptions);
        config.publish.rebase(base);
        config.gate.validate().map_err(|message| ConfigError::Invalid { path: path.display().to_string(), message })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("s3cr3t-value");
        assert_eq!(format!("{secret:?}"), Secret::REDACTED);
        assert_eq!(serde_json::to_string(&secret).unwrap(), format!("\"{}\"", Secret::REDACTED));
        assert_eq!(secret.expose(), "s3cr3t-value");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[release]\nout_dri = \"x\"\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field `out_dri`"), "{e}");
        std::fs::write(&path, "[release]\nout_dir = \"x\"\n").unwrap();
        assert_eq!(Config::load(&path).unwrap().release.out_dir.unwrap(), dir.path().join("x"));
    }
}
