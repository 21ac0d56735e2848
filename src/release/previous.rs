//! The previous release of a publication, as the next night needs it: its manifest (to chain to it)
//! and its history store (to advance it). Read from the folder `latest` names.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, MANIFEST_FILE};
use super::{latest_version, ReleaseError};
use crate::history::{HistoryIndex, PreviousHistory};

/// Folder of the history store inside a release.
pub const HISTORY_DIR: &str = "history";
pub const HISTORY_INDEX: &str = "history/index.json";

/// The newest complete release of a publication.
#[derive(Debug)]
pub struct PreviousRelease {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub manifest_sha256: String,
}

fn invalid(path: &Path, message: impl Into<String>) -> ReleaseError {
    ReleaseError::Invalid { path: path.display().to_string(), message: message.into() }
}

/// The release `latest` names under `<releases>/<publication>`, if there is one.
pub fn load_latest(releases_root: &Path, publication: &str) -> Result<Option<PreviousRelease>, ReleaseError> {
    let publication_dir = releases_root.join(publication);
    let Some(version) = latest_version(&publication_dir) else { return Ok(None) };
    load(&publication_dir.join(version)).map(Some)
}

/// Read a release's manifest and its digest.
pub fn load(dir: &Path) -> Result<PreviousRelease, ReleaseError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&path).map_err(|e| invalid(&path, format!("cannot read: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| invalid(&path, format!("not a ror-opendata manifest: {e}")))?;
    Ok(PreviousRelease { dir: dir.to_path_buf(), manifest, manifest_sha256: format!("{:x}", Sha256::digest(&bytes)) })
}

impl PreviousRelease {
    /// The history as this release left it (empty for a release made before history existed).
    pub fn history(&self) -> Result<PreviousHistory, ReleaseError> {
        let index = self.history_index()?;
        let mut stores = BTreeMap::new();
        for table in index.tables() {
            if let Some(store) = self.history_store(table)? {
                stores.insert(table.to_owned(), store);
            }
        }
        Ok(PreviousHistory { index, stores })
    }

    /// The release's history index (empty when it has none).
    pub fn history_index(&self) -> Result<HistoryIndex, ReleaseError> {
        let index_path = self.dir.join(HISTORY_INDEX);
        if !index_path.exists() {
            return Ok(HistoryIndex::default());
        }
        serde_json::from_slice(&fs::read(&index_path).map_err(|e| invalid(&index_path, e.to_string()))?).map_err(|e| invalid(&index_path, format!("not a history index: {e}")))
    }

    /// The release's SCD2 store of one table, if it has one.
    pub fn history_store(&self, table: &str) -> Result<Option<DataFrame>, ReleaseError> {
        let path = self.dir.join(HISTORY_DIR).join(format!("{table}.parquet"));
        if !path.exists() {
            return Ok(None);
        }
        read_parquet(&path).map(Some)
    }
}

/// Read a Parquet file written by this job.
pub fn read_parquet(path: &Path) -> Result<DataFrame, ReleaseError> {
    let file = fs::File::open(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    ParquetReader::new(file).finish().map_err(|e| invalid(path, format!("not readable as Parquet: {e}")))
}
