//! manifest.json: what a release is — publication, version, provenance of the snapshot, the tool,
//! the policy digest, every table and every file with its size and sha256 — and SHA256SUMS, the same
//! digests in the format `sha256sum -c` reads. No wall-clock time goes in: the same inputs give the
//! same manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The manifest format version; readers refuse a newer major.
pub const MANIFEST_FORMAT: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";
pub const SUMS_FILE: &str = "SHA256SUMS";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub manifest_format: u32,
    pub publication: String,
    pub audience: String,
    pub version: String,
    pub snapshot: SnapshotRecord,
    pub generator: Generator,
    /// The release this one follows: the hash chain back to the first release.
    #[serde(default)]
    pub previous: Option<PreviousRecord>,
    /// True when pseudonym or signing keys were development keys: not for publication.
    #[serde(default)]
    pub development_keys: bool,
    pub signature: SignatureRecord,
    pub policy: PolicyRecord,
    /// Pseudonymisation keys used, by id and epoch (never the keys themselves).
    #[serde(default)]
    pub keys: Vec<KeyRecord>,
    /// The quality gate's verdict, when the gate ran.
    #[serde(default)]
    pub gate: Option<GateRecord>,
    /// sha256 of everything this release is a function of besides the releases before it (the
    /// snapshot, the policy, the keys' ids and epochs, the settings that shape the output, the
    /// program itself): a later run of the same snapshot that computes the same value reuses this
    /// release instead of rebuilding it (the no-change night).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_sha256: Option<String>,
    pub tables: Vec<TableRecord>,
    /// What changed since the previous release, per table.
    #[serde(default)]
    pub changes: Vec<crate::history::TableChanges>,
    /// Every file of the release except manifest.json and SHA256SUMS, sorted by path.
    pub files: Vec<FileRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotRecord {
    pub source: String,
    /// The snapshot instant (RFC 3339, UTC), from which the version is named.
    pub taken_at: String,
    /// Whether taken_at came from the snapshot itself or from its latest meta.lastUpdated.
    pub taken_at_basis: String,
    pub sha256: String,
    pub files: Vec<SnapshotFileRecord>,
    pub resources_by_type: BTreeMap<String, u64>,
    pub latest_resource_update: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotFileRecord {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Generator {
    pub name: String,
    pub version: String,
    /// The git commit the tool was built from ("unknown" outside a checkout).
    pub git_commit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreviousRecord {
    pub version: String,
    pub manifest_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignatureRecord {
    pub algorithm: String,
    /// The minisign key id (as `minisign -V` prints it).
    pub key_id: String,
    pub public_key: String,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyRecord {
    pub audience: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub audience: String,
    pub key_id: String,
    pub epoch: u32,
    pub algorithm: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateRecord {
    /// True when no check failed (warnings allowed).
    pub passed: bool,
    pub failures: u64,
    pub warnings: u64,
    /// The gate's full report inside the release.
    pub report: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableRecord {
    pub name: String,
    pub rows: u64,
    pub columns: Vec<String>,
    pub schema: String,
    pub schema_version: String,
    /// Table Schema type of each column.
    pub types: Vec<String>,
    /// Order-independent digest of the rows (see table::digest).
    pub digest: String,
    pub csv: String,
    pub parquet: String,
    pub changes_csv: String,
    pub changes_parquet: String,
    pub history: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Data rows, for table files.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rows: Option<u64>,
}

/// SHA256SUMS text: one `<sha256>  <path>` line per file, sorted by path.
pub fn sums_text(entries: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted.iter().map(|(path, sha)| format!("{sha}  {path}\n")).collect()
}

/// Parse SHA256SUMS text into (path, sha256) pairs; Err(line number) on a malformed line.
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>, usize> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let (sha, path) = line.split_once("  ").ok_or(i + 1)?;
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(i + 1);
            }
            Ok((path.to_owned(), sha.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_round_trip() {
        let entries = vec![("b.csv".to_owned(), "a".repeat(64)), ("a.csv".to_owned(), "b".repeat(64))];
        let text = sums_text(&entries);
        assert!(text.starts_with(&format!("{}  a.csv\n", "b".repeat(64))));
        let mut parsed = parse_sums(&text).unwrap();
        parsed.sort();
        let mut expected = entries.clone();
        expected.sort();
        assert_eq!(parsed, expected);
        assert_eq!(parse_sums("xyz  a\n"), Err(1));
    }
}
