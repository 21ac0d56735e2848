//! The snapshot store: what the API sent becomes an immutable folder of gzipped FHIR collection
//! Bundles that `source::open_folder` reads offline, with its provenance in snapshot-info.json
//! (request URLs, job id, transaction time, every download's and every stored file's sha256,
//! resources per type, and the checks that ran). The folder is written under a hidden temporary
//! name and renamed only once every check passed: a failed or partial download never becomes a
//! snapshot, and a crash leaves at most a hidden `.partial` folder that no reader lists.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use serde_json::Value;

use super::FhirSourceError;
use crate::source::{for_each_resource, Provenance, RawResource, Snapshot, SnapshotFile, SNAPSHOT_INFO_FILE};

/// The resource types whose references are checked: the ones the ROR's extraction links together.
const LINKED_TYPES: &[&str] = &["Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole"];
/// Downloads wait here, inside the temporary folder, until their resources are stored.
const DOWNLOADS: &str = ".downloads";
/// At most this many examples in a failed check's message.
const EXAMPLES: usize = 5;
/// The hidden temporary folder of a snapshot being written: `<prefix><pid>-<uuid>`.
const PARTIAL_PREFIX: &str = ".snapshot.partial-";

/// Remove the temporary folders of snapshot processes that died without cleaning up (killed, or
/// the machine stopped): at national scale each holds gigabytes. A folder whose process is still
/// running is left alone. Where /proc does not exist, nothing is removed.
fn remove_abandoned(parent: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PARTIAL_PREFIX).and_then(|rest| rest.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            tracing::warn!(folder = %entry.path().display(), "removing the temporary folder of an interrupted snapshot");
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// What to do with a resource whose type and id were already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Identical copies are stored once; a copy that differs fails the snapshot (export files).
    Compare,
    /// The first copy wins (search pages, whose includes repeat; a delta over its base).
    KeepFirst,
}

/// One check and its result, as provenance records it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRecord {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
struct DownloadRecord {
    url: String,
    bytes: u64,
    sha256: String,
    stored_as: String,
}

#[derive(Debug, Clone, Serialize)]
struct StoredFile {
    path: String,
    bytes: u64,
    sha256: String,
    resources: u64,
}

/// Where the first reference to a target was seen, for the dangling-reference message.
struct Referrer {
    file: String,
    resource: String,
    field: String,
}

/// What the caller knows about the snapshot when it is complete.
pub struct SnapshotMeta {
    pub taken_at: DateTime<Utc>,
    /// The API base URL (no credentials: those are refused in URLs).
    pub source: String,
    /// "export", "search" or "delta".
    pub method: &'static str,
    pub job_id: Option<String>,
    pub requests: Vec<String>,
    pub checks: Vec<CheckRecord>,
    /// For a delta: the snapshot it was merged onto.
    pub base: Option<BaseRecord>,
}

/// The snapshot a delta was merged onto.
#[derive(Debug, Clone, Serialize)]
pub struct BaseRecord {
    /// The delta holds the offers updated at or after this instant.
    pub folder: String,
    pub taken_at: String,
    pub sha256: String,
}

/// A snapshot now stored.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    pub dir: PathBuf,
    /// The API base URL it came from.
    pub source: String,
    pub taken_at: DateTime<Utc>,
    pub resources_by_type: BTreeMap<String, u64>,
    pub files: usize,
    /// Bytes received from the API, as downloaded.
    pub bytes_received: u64,
}

#[derive(Serialize)]
struct SnapshotInfo<'a> {
    generator: &'static str,
    tool_version: &'static str,
    taken_at: String,
    source: &'a str,
    method: &'a str,
    job_id: Option<&'a str>,
    base: Option<&'a BaseRecord>,
    requests: &'a [String],
    downloads: &'a [DownloadRecord],
    files: &'a [StoredFile],
    resources_by_type: &'a BTreeMap<String, u64>,
    duplicates_merged: u64,
    checks: &'a [CheckRecord],
}

/// A snapshot being written.
pub struct SnapshotWriter {
    parent: PathBuf,
    partial: PathBuf,
    committed: bool,
    /// "Type/id" → sha256 of the resource's JSON as received.
    seen: HashMap<String, [u8; 32]>,
    referrers: HashMap<String, Referrer>,
    by_type: BTreeMap<String, u64>,
    files: Vec<StoredFile>,
    downloads: Vec<DownloadRecord>,
    duplicates_merged: u64,
}

fn store_error(path: &Path, message: impl std::fmt::Display) -> FhirSourceError {
    FhirSourceError::Store { path: path.display().to_string(), message: message.to_string() }
}

impl SnapshotWriter {
    /// Start a snapshot under `parent` (created if needed), in a hidden temporary folder.
    pub fn create(parent: &Path) -> Result<SnapshotWriter, FhirSourceError> {
        fs::create_dir_all(parent).map_err(|e| store_error(parent, format!("cannot create: {e}")))?;
        remove_abandoned(parent);
        let partial = parent.join(format!("{PARTIAL_PREFIX}{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(partial.join(DOWNLOADS)).map_err(|e| store_error(&partial, format!("cannot create: {e}")))?;
        Ok(SnapshotWriter {
            parent: parent.to_path_buf(),
            partial,
            committed: false,
            seen: HashMap::new(),
            referrers: HashMap::new(),
            by_type: BTreeMap::new(),
            files: Vec::new(),
            downloads: Vec::new(),
            duplicates_merged: 0,
        })
    }

    /// Where a download of this name goes before its resources are stored.
    pub fn download_path(&self, name: &str) -> PathBuf {
        self.partial.join(DOWNLOADS).join(name)
    }

    /// Record a download as received.
    pub fn record_download(&mut self, url: &str, bytes: u64, sha256: &str, stored_as: &str) {
        self.downloads.push(DownloadRecord { url: url.to_owned(), bytes, sha256: sha256.to_owned(), stored_as: stored_as.to_owned() });
    }

    /// Store the resources of `source` (a FHIR JSON file, possibly gzipped) as `stored_name`, a
    /// gzipped collection Bundle. `label` names the source in errors (its URL). Returns how many
    /// resources the source held, duplicates included.
    pub fn add_file(&mut self, stored_name: &str, source: &Path, label: &str, on_duplicate: OnDuplicate) -> Result<u64, FhirSourceError> {
        let target = self.partial.join(stored_name);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).map_err(|e| store_error(dir, format!("cannot create: {e}")))?;
        }
        let file = File::create(&target).map_err(|e| store_error(&target, format!("cannot write: {e}")))?;
        let mut out = GzEncoder::new(BufWriter::new(file), Compression::default());
        let write_error = |e: std::io::Error| store_error(&target, format!("cannot write: {e}"));
        out.write_all(br#"{"resourceType":"Bundle","type":"collection","entry":["#).map_err(write_error)?;
        let (mut held, mut written) = (0u64, 0u64);
        let snapshot = single_file_snapshot(source, label)?;
        for_each_resource(&snapshot, |raw: RawResource<'_>| -> Result<(), FhirSourceError> {
            held += 1;
            let key = format!("{}/{}", raw.resource_type, raw.id);
            let digest = crate::sha256::digest(raw.json.get().as_bytes());
            if let Some(first) = self.seen.get(&key) {
                if on_duplicate == OnDuplicate::Compare && *first != digest {
                    return Err(FhirSourceError::Check {
                        check: "duplicate ids".into(),
                        message: format!("{label}: {} {key} appears again with different content", raw.position),
                    });
                }
                self.duplicates_merged += u64::from(on_duplicate == OnDuplicate::Compare);
                return Ok(());
            }
            self.seen.insert(key.clone(), digest);
            *self.by_type.entry(raw.resource_type.to_owned()).or_default() += 1;
            self.note_references(label, &key, raw)?;
            if written > 0 {
                out.write_all(b",").map_err(write_error)?;
            }
            out.write_all(b"{\"resource\":").map_err(write_error)?;
            out.write_all(raw.json.get().as_bytes()).map_err(write_error)?;
            out.write_all(b"}").map_err(write_error)?;
            written += 1;
            Ok(())
        })?;
        out.write_all(b"]}").map_err(write_error)?;
        out.finish().and_then(|mut w| w.flush()).map_err(write_error)?;
        if written == 0 {
            // Everything in it was already stored: an empty Bundle would only add noise.
            fs::remove_file(&target).map_err(|e| store_error(&target, format!("cannot remove: {e}")))?;
        } else {
            let (bytes, sha256) = hash(&target)?;
            self.files.push(StoredFile { path: stored_name.to_owned(), bytes, sha256, resources: written });
        }
        Ok(held)
    }

    /// Remember the first referrer of every linked target, for the dangling-reference check.
    fn note_references(&mut self, label: &str, key: &str, raw: RawResource<'_>) -> Result<(), FhirSourceError> {
        let value: Value = serde_json::from_str(raw.json.get()).map_err(|e| FhirSourceError::Check { check: "json".into(), message: format!("{label}: {key}: {e}") })?;
        let mut found = Vec::new();
        collect_references(&value, "", &mut found);
        for (field, target) in found {
            self.referrers.entry(target).or_insert_with(|| Referrer { file: label.to_owned(), resource: format!("{} {key}", raw.position), field });
        }
        Ok(())
    }

    /// Run the final checks, write the provenance and rename the folder into place.
    pub fn finish(mut self, mut meta: SnapshotMeta) -> Result<StoredSnapshot, FhirSourceError> {
        let mut dangling: Vec<String> = self
            .referrers
            .iter()
            .filter(|(target, _)| !self.seen.contains_key(*target))
            .map(|(target, r)| format!("{}: {}: field {}: {target}", r.file, r.resource, r.field))
            .collect();
        dangling.sort();
        if !dangling.is_empty() {
            let more = dangling.len().saturating_sub(EXAMPLES);
            let mut message = format!("{} reference(s) to resources not in the snapshot: {}", dangling.len(), dangling[..dangling.len().min(EXAMPLES)].join("; "));
            if more > 0 {
                message.push_str(&format!("; and {more} more"));
            }
            return Err(FhirSourceError::Check { check: "dangling references".into(), message });
        }
        if self.files.is_empty() {
            return Err(FhirSourceError::Check { check: "resources".into(), message: "the API returned no resource at all".into() });
        }
        meta.checks.push(CheckRecord { name: "duplicate ids".into(), passed: true, detail: format!("{} identical duplicate(s) stored once; none differed", self.duplicates_merged) });
        meta.checks.push(CheckRecord { name: "dangling references".into(), passed: true, detail: format!("{} referenced resources, all present", self.referrers.len()) });

        let downloads = self.partial.join(DOWNLOADS);
        fs::remove_dir_all(&downloads).map_err(|e| store_error(&downloads, format!("cannot remove: {e}")))?;
        let taken_at = meta.taken_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let info = SnapshotInfo {
            generator: "ror-opendata snapshot",
            tool_version: env!("CARGO_PKG_VERSION"),
            taken_at,
            source: &meta.source,
            method: meta.method,
            job_id: meta.job_id.as_deref(),
            base: meta.base.as_ref(),
            requests: &meta.requests,
            downloads: &self.downloads,
            files: &self.files,
            resources_by_type: &self.by_type,
            duplicates_merged: self.duplicates_merged,
            checks: &meta.checks,
        };
        let info_path = self.partial.join(SNAPSHOT_INFO_FILE);
        let text = serde_json::to_string_pretty(&info).map_err(|e| store_error(&info_path, e))?;
        fs::write(&info_path, text + "\n").map_err(|e| store_error(&info_path, format!("cannot write: {e}")))?;

        let name = meta.taken_at.format("%Y%m%dT%H%M%SZ").to_string();
        let dir = self.parent.join(&name);
        if dir.exists() {
            // The same instant taken again (a rerun of the night after a failed publication): the
            // stored snapshot stands if it holds exactly these files; different content at the same
            // instant is a conflict an operator must look at.
            let stored_files = fs::read(dir.join(SNAPSHOT_INFO_FILE)).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).map(|v| v["files"].clone());
            let these_files = serde_json::to_value(&self.files).ok();
            if stored_files.is_none() || stored_files != these_files {
                return Err(FhirSourceError::Exists { path: dir.display().to_string() });
            }
            tracing::info!(snapshot = %dir.display(), "the API gave the same files as the snapshot already stored for this instant: keeping it");
            let _ = fs::remove_dir_all(&self.partial);
            self.committed = true;
            let bytes_received = self.downloads.iter().map(|d| d.bytes).sum();
            return Ok(StoredSnapshot { dir, source: meta.source.clone(), taken_at: meta.taken_at, resources_by_type: std::mem::take(&mut self.by_type), files: self.files.len(), bytes_received });
        }
        fs::rename(&self.partial, &dir).map_err(|e| store_error(&dir, format!("cannot move the finished snapshot into place: {e}")))?;
        self.committed = true;
        let bytes_received = self.downloads.iter().map(|d| d.bytes).sum();
        Ok(StoredSnapshot { dir, source: meta.source.clone(), taken_at: meta.taken_at, resources_by_type: std::mem::take(&mut self.by_type), files: self.files.len(), bytes_received })
    }
}

impl Drop for SnapshotWriter {
    /// A snapshot that did not finish leaves nothing behind.
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.partial);
        }
    }
}

/// A one-file Snapshot, so that the folder reader parses downloads exactly as it parses stored files.
fn single_file_snapshot(path: &Path, label: &str) -> Result<Snapshot, FhirSourceError> {
    let bytes = fs::metadata(path).map_err(|e| store_error(path, format!("cannot read: {e}")))?.len();
    Ok(Snapshot {
        root: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        provenance: Provenance {
            source: label.to_owned(),
            taken_at: None,
            sha256: String::new(),
            files: vec![SnapshotFile { path: label.to_owned(), bytes, sha256: String::new(), absolute: path.to_path_buf() }],
        },
    })
}

/// Check that a download is well-formed FHIR JSON the reader accepts, without storing anything.
pub fn check_download(path: &Path, label: &str) -> Result<(), FhirSourceError> {
    let snapshot = single_file_snapshot(path, label)?;
    for_each_resource(&snapshot, |_| Ok::<(), FhirSourceError>(()))
}

/// The `Type/id` targets of the references inside a resource, with the field holding each.
/// Contained (`#x`) and other resource types are not the extraction's business.
fn collect_references(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if key == "reference" {
                    if let Some(target) = child.as_str().and_then(linked_target) {
                        out.push((child_path, target));
                    }
                } else {
                    collect_references(child, &child_path, out);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_references(item, path, out);
            }
        }
        _ => {}
    }
}

/// "Organization/123" from a relative or absolute reference to one of the linked types.
fn linked_target(reference: &str) -> Option<String> {
    let reference = reference.split("/_history/").next()?;
    let mut parts = reference.rsplit('/');
    let id = parts.next()?;
    let kind = parts.next()?;
    (LINKED_TYPES.contains(&kind) && !id.is_empty()).then(|| format!("{kind}/{id}"))
}

fn hash(path: &Path) -> Result<(u64, String), FhirSourceError> {
    crate::sha256::file(path).map_err(|e| store_error(path, format!("cannot read: {e}")))
}

/// The newest stored snapshot under `parent` (folder names are UTC instants, so they sort).
pub fn latest_snapshot(parent: &Path) -> Option<PathBuf> {
    let mut names: Vec<String> = fs::read_dir(parent)
        .ok()?
        .flatten()
        .filter(|e| e.path().join(SNAPSHOT_INFO_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names.pop().map(|n| parent.join(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SnapshotMeta {
        SnapshotMeta {
            taken_at: DateTime::parse_from_rfc3339("2026-11-25T02:00:00Z").unwrap().with_timezone(&Utc),
            source: "http://127.0.0.1/fhir/".into(),
            method: "export",
            job_id: Some("job".into()),
            requests: vec![],
            checks: vec![],
            base: None,
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    const ORG: &str = r#"{"resourceType":"Organization","id":"o1"}"#;
    const HS: &str = r#"{"resourceType":"HealthcareService","id":"h1","providedBy":{"reference":"Organization/o1"},"location":[{"reference":"https://x/fhir/Location/l1/_history/2"}]}"#;
    const LOC: &str = r#"{"resourceType":"Location","id":"l1"}"#;

    #[test]
    fn identical_duplicates_merge_and_the_folder_opens() {
        let work = tempfile::tempdir().unwrap();
        let mut w = SnapshotWriter::create(&work.path().join("snaps")).unwrap();
        let a = write(work.path(), "a.json", &format!(r#"{{"resourceType":"Bundle","entry":[{{"resource":{ORG}}},{{"resource":{HS}}}]}}"#));
        let b = write(work.path(), "b.json", &format!(r#"{{"resourceType":"Bundle","entry":[{{"resource":{ORG}}},{{"resource":{LOC}}}]}}"#));
        assert_eq!(w.add_file("export/1.json.gz", &a, "http://x/1", OnDuplicate::Compare).unwrap(), 2);
        assert_eq!(w.add_file("export/2.json.gz", &b, "http://x/2", OnDuplicate::Compare).unwrap(), 2);
        let stored = w.finish(meta()).unwrap();
        assert_eq!(stored.dir.file_name().unwrap(), "20261125T020000Z");
        assert_eq!(stored.resources_by_type.values().sum::<u64>(), 3);
        let opened = crate::source::open_folder(&stored.dir, "t").unwrap();
        assert_eq!(opened.provenance.files.len(), 2);
        assert_eq!(opened.provenance.taken_at, Some(meta().taken_at));
        assert_eq!(fs::read_dir(work.path().join("snaps")).unwrap().count(), 1, "no temporary folder left");
    }

    #[test]
    fn differing_duplicates_and_dangling_references_leave_nothing() {
        let work = tempfile::tempdir().unwrap();
        let snaps = work.path().join("snaps");
        let a = write(work.path(), "a.json", ORG);
        let b = write(work.path(), "b.json", r#"{"resourceType":"Organization","id":"o1","name":"changed"}"#);
        let mut w = SnapshotWriter::create(&snaps).unwrap();
        w.add_file("1.json.gz", &a, "http://x/1", OnDuplicate::Compare).unwrap();
        let e = w.add_file("2.json.gz", &b, "http://x/2", OnDuplicate::Compare).unwrap_err().to_string();
        assert!(e.contains("duplicate ids") && e.contains("Organization/o1") && e.contains("http://x/2"), "{e}");
        drop(w);
        assert_eq!(fs::read_dir(&snaps).unwrap().count(), 0);

        let h = write(work.path(), "h.json", HS);
        let mut w = SnapshotWriter::create(&snaps).unwrap();
        w.add_file("1.json.gz", &h, "http://x/h", OnDuplicate::Compare).unwrap();
        let e = w.finish(meta()).unwrap_err().to_string();
        assert!(e.contains("2 reference(s)") && e.contains("field location.reference: Location/l1") && e.contains("Organization/o1"), "{e}");
        assert_eq!(fs::read_dir(&snaps).unwrap().count(), 0);
    }

    #[test]
    fn abandoned_temporary_folders_are_removed_live_ones_kept() {
        let work = tempfile::tempdir().unwrap();
        let dead = work.path().join(format!("{PARTIAL_PREFIX}4294967295-abc"));
        let alive = work.path().join(format!("{PARTIAL_PREFIX}{}-def", std::process::id()));
        fs::create_dir_all(&dead).unwrap();
        fs::create_dir_all(&alive).unwrap();
        let w = SnapshotWriter::create(work.path()).unwrap();
        assert!(!dead.exists() && alive.exists());
        drop(w);
    }

    #[test]
    fn references_are_read_relative_and_absolute() {
        assert_eq!(linked_target("Organization/1"), Some("Organization/1".into()));
        assert_eq!(linked_target("https://x/fhir/Location/9/_history/3"), Some("Location/9".into()));
        assert_eq!(linked_target("#contained"), None);
        assert_eq!(linked_target("Patient/1"), None);
    }
}
