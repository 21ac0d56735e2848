//! The publish state file: which dataset and which resource ids hold this publication on one
//! instance, so that the next run replaces files in place instead of creating new ones. It is a
//! cache, not the truth: when it is lost, the markers in the platform's extras find everything
//! again. Written atomically (temporary file, fsync, rename) after every change, so a run killed at
//! any point leaves a state that is either the old one or the new one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PublishError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PublishState {
    /// The instance's root URL (the file name is derived from it and the organisation too).
    pub root: String,
    pub organization: String,
    pub dataset_id: Option<String>,
    /// Logical resource (path in the release) → resource id.
    pub resources: BTreeMap<String, String>,
    /// The last release version published completely.
    pub published_version: Option<String>,
}

/// The state file of one instance, organisation and marker inside `state_dir`.
pub fn state_path(state_dir: &Path, root: &str, organization: &str, marker: &str) -> PathBuf {
    let digest = crate::sha256::digest(format!("{root}\n{organization}\n{marker}").as_bytes());
    let short = crate::sha256::hex(&digest[..6]);
    state_dir.join(format!("datagouv-{short}.json"))
}

/// Read the state; an absent file is an empty state.
pub fn load(path: &Path) -> Result<Option<PublishState>, PublishError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| PublishError::State { path: path.display().to_string(), message: format!("unreadable ({e}); remove it, the markers on the platform will find the dataset again") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(PublishError::State { path: path.display().to_string(), message: e.to_string() }),
    }
}

/// Write the state atomically.
pub fn save(path: &Path, state: &PublishState) -> Result<(), PublishError> {
    let fail = |e: std::io::Error| PublishError::State { path: path.display().to_string(), message: e.to_string() };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("state"), std::process::id()));
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(&serde_json::to_vec_pretty(state).expect("the state serialises")).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_absent_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path(), "https://demo.data.gouv.fr", "org", "m");
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("datagouv-"));
        assert_eq!(load(&path).unwrap(), None);
        let state = PublishState { root: "r".into(), organization: "o".into(), dataset_id: Some("d".into()), resources: BTreeMap::from([("a.csv".into(), "id".into())]), published_version: None };
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), Some(state));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        std::fs::write(&path, "{").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("remove it"));
    }

    #[test]
    fn instances_do_not_share_a_state() {
        let d = Path::new("s");
        assert_ne!(state_path(d, "https://demo.data.gouv.fr", "o", "m"), state_path(d, "https://www.data.gouv.fr", "o", "m"));
    }
}
