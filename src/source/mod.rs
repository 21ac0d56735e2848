//! Where a snapshot comes from. Today: a folder of FHIR JSON files (the embedded sample, the output
//! of ANS's `$export`, a stored snapshot). A `Snapshot` names its files and carries provenance
//! (source, instant, sha256 of everything read); `reader` streams its resources one by one.
//! `fhir` takes a snapshot from the ROR FHIR API and stores it as such a folder.

pub mod fhir;
pub mod folder;
pub mod reader;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use folder::open_folder;
pub use reader::{for_each_resource, for_each_resource_in_file, for_each_typed_resource_in_file, Found, HeaderCheck, RawResource, TypedResources};

/// Name of the optional provenance file a snapshot folder may hold (written by `synth` and by the
/// API source). Its `taken_at` is the snapshot instant.
pub const SNAPSHOT_INFO_FILE: &str = "snapshot-info.json";
/// Files in a snapshot folder that are not FHIR data.
pub const NON_DATA_FILES: &[&str] = &[SNAPSHOT_INFO_FILE, "snapshot-canaries.json"];

/// Errors of the source stage: they always name the file, and the resource and field when known.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("snapshot folder {path}: {message}")]
    Folder { path: String, message: String },
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: not valid UTF-8 (first invalid byte at offset {offset}); FHIR JSON must be UTF-8")]
    Utf8 { file: String, offset: usize },
    #[error("{file}: not a valid gzip stream: {source}")]
    Gzip { file: String, source: std::io::Error },
    #[error("{file}: malformed JSON at line {line}, column {column}: {message}")]
    Json { file: String, line: usize, column: usize, message: String },
    #[error("{file}: {location}: {message}")]
    Resource { file: String, location: String, message: String },
    #[error("{file}: {SNAPSHOT_INFO_FILE}: {message}")]
    Info { file: String, message: String },
}

/// One file of a snapshot, with the digest of its bytes as stored (compressed or not).
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    /// Path relative to the snapshot folder, with `/` separators.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub absolute: PathBuf,
}

/// Where the data came from and what exactly was read: recorded in every release.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// What the operator asked for: "sample", a folder as given, or an API URL (never secrets).
    pub source: String,
    /// The snapshot instant, when the snapshot says it (snapshot-info.json).
    pub taken_at: Option<DateTime<Utc>>,
    /// sha256 over the SHA256SUMS-style listing of the files ("<sha256>  <path>\n", sorted by path).
    pub sha256: String,
    pub files: Vec<SnapshotFile>,
}

/// A snapshot ready to be read: its files in a fixed order, and its provenance.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub root: PathBuf,
    pub provenance: Provenance,
}
