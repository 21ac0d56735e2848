//! The previous release of a publication, as the next night needs it: its manifest (to chain to it)
//! and its history store (to advance it). Read from the folder `latest` names.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;

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
    Ok(PreviousRelease { dir: dir.to_path_buf(), manifest, manifest_sha256: crate::sha256::hex_digest(&bytes) })
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

    /// The release's history index (empty when it has none), as its manifest recorded it.
    pub fn history_index(&self) -> Result<HistoryIndex, ReleaseError> {
        let index_path = self.dir.join(HISTORY_INDEX);
        if !index_path.exists() {
            return Ok(HistoryIndex::default());
        }
        self.check_recorded(HISTORY_INDEX, &index_path)?;
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

    /// The release's SCD2 store of one table, opened to be read a row group at a time, once its
    /// bytes are proven to be those the release's manifest recorded: the new store is made from
    /// it and signed in turn, so a damaged store would otherwise carry its damage into every
    /// release after it.
    pub fn history_store_file(&self, table: &str) -> Result<Option<StoreFile>, ReleaseError> {
        let relative = format!("{HISTORY_DIR}/{table}.parquet");
        let path = self.dir.join(&relative);
        if !path.exists() {
            return Ok(None);
        }
        self.check_recorded(&relative, &path)?;
        StoreFile::open(&path).map(Some)
    }

    /// The file's size and SHA-256 are the ones the manifest recorded for it.
    fn check_recorded(&self, relative: &str, path: &Path) -> Result<(), ReleaseError> {
        let Some(recorded) = self.manifest.files.iter().find(|f| f.path == relative) else {
            return Err(invalid(path, format!("is not in the manifest of release {}: the history cannot advance from a file the release did not sign", self.manifest.version)));
        };
        let (bytes, sha256) = super::sha256_file(path)?;
        if bytes != recorded.bytes || sha256 != recorded.sha256 {
            return Err(invalid(path, format!("does not match the manifest of release {} ({bytes} bytes, sha256 {sha256}; recorded {} bytes, sha256 {}): the history cannot advance from a damaged store; restore the release's file (`verify` checks them all)", self.manifest.version, recorded.bytes, recorded.sha256)));
        }
        Ok(())
    }
}

/// A Parquet file of a release read by range (a history store; also a table's file, which
/// `verify` and the gate's drift check read a row group at a time): only the row groups a range
/// touches are decoded, and the last whole group read is kept, so that reading the file in order
/// decodes each group once.
pub struct StoreFile {
    path: PathBuf,
    metadata: std::sync::Arc<polars::io::parquet::read::FileMetadata>,
    columns: Vec<String>,
    groups: Vec<(usize, usize)>,
    /// The last group read with every column: (its index, its rows).
    last_group: std::sync::Mutex<Option<(usize, DataFrame)>>,
}

impl StoreFile {
    pub fn open(path: &Path) -> Result<StoreFile, ReleaseError> {
        let unreadable = |e: PolarsError| invalid(path, format!("not readable as Parquet: {e}"));
        let mut reader = ParquetReader::new(open_file(path)?);
        let metadata = reader.get_metadata().map_err(unreadable)?.clone();
        let columns = reader.schema().map_err(unreadable)?.iter_names().map(|n| n.to_string()).collect();
        let mut offset = 0;
        let groups = metadata
            .row_groups
            .iter()
            .map(|g| {
                offset += g.num_rows();
                (offset - g.num_rows(), g.num_rows())
            })
            .collect();
        Ok(StoreFile { path: path.to_path_buf(), metadata, columns, groups, last_group: std::sync::Mutex::new(None) })
    }

    /// Rows `offset .. offset + rows` of the file, straight from its row groups.
    fn read_range(&self, offset: usize, rows: usize, columns: Option<&[&str]>) -> PolarsResult<DataFrame> {
        let file = std::fs::File::open(&self.path).map_err(|e| polars_err!(ComputeError: "{}: cannot read: {e}", self.path.display()))?;
        let mut reader = ParquetReader::new(file).with_slice(Some((offset, rows))).with_columns(columns.map(|c| c.iter().map(|c| c.to_string()).collect()));
        reader.set_metadata(self.metadata.clone());
        reader.finish().map_err(|e| polars_err!(ComputeError: "{}: not readable as Parquet: {e}", self.path.display()))
    }
}

impl crate::history::StoredRows for StoreFile {
    fn height(&self) -> usize {
        self.metadata.num_rows
    }

    fn parts(&self) -> Vec<(usize, usize)> {
        self.groups.clone()
    }

    fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c == name)
    }

    fn read(&self, offset: usize, rows: usize, columns: Option<&[&str]>) -> PolarsResult<DataFrame> {
        if columns.is_some() || rows == 0 {
            return self.read_range(offset, rows, columns);
        }
        // Every column: the whole groups the range touches, each decoded once however the ranges
        // that cover it are cut.
        let mut last_group = self.last_group.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out: Option<DataFrame> = None;
        for (index, &(start, length)) in self.groups.iter().enumerate() {
            if start + length <= offset || start >= offset + rows {
                continue;
            }
            if last_group.as_ref().is_none_or(|(cached, _)| *cached != index) {
                *last_group = Some((index, self.read_range(start, length, None)?));
            }
            let group = &last_group.as_ref().expect("just read").1;
            let from = offset.max(start);
            let to = (offset + rows).min(start + length);
            let part = group.slice((from - start) as i64, to - from);
            match out.as_mut() {
                None => out = Some(part),
                Some(out) => {
                    out.vstack_mut(&part)?;
                }
            }
        }
        out.ok_or_else(|| polars_err!(OutOfBounds: "{}: rows {offset}..{} are past its {} rows", self.path.display(), offset + rows, self.metadata.num_rows))
    }
}

fn open_file(path: &Path) -> Result<std::fs::File, ReleaseError> {
    std::fs::File::open(path).map_err(|e| invalid(path, format!("cannot read: {e}")))
}

/// Read a Parquet file written by this job.
pub fn read_parquet(path: &Path) -> Result<DataFrame, ReleaseError> {
    let file = fs::File::open(path).map_err(|e| invalid(path, format!("cannot read: {e}")))?;
    ParquetReader::new(file).finish().map_err(|e| invalid(path, format!("not readable as Parquet: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::StoredRows;

    /// Any range of a stored file, with every column or a few, in any order: the same rows as the
    /// frame that was written, each row group decoded from the file.
    #[test]
    fn a_store_file_reads_any_range_across_row_groups() {
        let rows = 200_000;
        let frame = df!(
            "k" => (0..rows).map(|i| format!("k{i:07}")).collect::<Vec<_>>(),
            "n" => (0..rows as i64).collect::<Vec<_>>(),
            "t" => (0..rows).map(|i| (i % 3 == 0).then(|| format!("t{i}"))).collect::<Vec<_>>()
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.parquet");
        crate::table::write::write_frame_parquet(&frame, "history", &path).unwrap();
        let file = StoreFile::open(&path).unwrap();
        assert_eq!(file.height(), rows);
        assert_eq!(file.parts(), crate::table::write::row_groups(rows));
        assert!(file.parts().len() > 1, "several row groups");
        assert!(file.has_column("t") && !file.has_column("x"));
        for (offset, length) in [(0, 10), (65_000, 3_000), (66_660, 70_000), (0, rows), (199_990, 10), (5, 0), (130_000, 1), (0, 66_666)] {
            let expected = frame.slice(offset as i64, length);
            assert!(file.read(offset, length, None).unwrap().equals_missing(&expected), "rows {offset}+{length}");
            let projected = file.read(offset, length, Some(&["t", "k"])).unwrap();
            assert!(projected.equals_missing(&expected.select(["t", "k"]).unwrap()), "rows {offset}+{length}, two columns");
        }
        assert!(file.read_all().unwrap().equals_missing(&frame));
        assert!(file.read(rows, 5, None).is_err(), "past the end");
    }
}
