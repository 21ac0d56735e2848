//! `verify`: re-check a release (or every release under a folder) against its manifest and
//! SHA256SUMS, its signature, and its tables' row counts and content digests; check the hash chain
//! from the newest release back to the first; and say precisely what differs: a missing or extra
//! file, a size, a digest, a signature, a broken link, a `latest` naming nothing complete.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use rayon::iter::{IntoParallelRefIterator, ParallelIterator};

use super::manifest::{parse_sums, Manifest, MANIFEST_FILE, SUMS_FILE};
use super::signature::{self, PUBLIC_KEY_FILE, SIGNATURE_FILE};
use super::{sha256_file, LATEST, TEMP_PREFIX};
use crate::table::digest::{digest_of, row_hashes};
use super::previous::StoreFile;
use super::ReleaseError;
use crate::history::StoredRows;

/// What to trust.
#[derive(Debug, Default, Clone)]
pub struct VerifyOptions {
    /// The public key text to check signatures with. Without it each release's own signing.pub is
    /// used, which proves integrity but not origin: pin the published key to prove both.
    pub public_key: Option<String>,
}

/// The outcome of a verification: what was checked and every problem found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub releases: Vec<String>,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && !self.releases.is_empty()
    }
}

/// Verify `path`: a release folder, a publication folder, or a releases folder (then also the
/// delivery audit log beside it, `<out>/deliveries/audit.jsonl`), or an audit log itself.
pub fn verify_path(path: &Path, options: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport::default();
    if path.is_file() && path.extension().is_some_and(|e| e == "jsonl") {
        report.releases.push(path.display().to_string());
        report.problems.extend(crate::deliver::audit::verify(path));
        return report;
    }
    if let Some(log) = path.parent().map(crate::deliver::audit_log).filter(|l| path.file_name().is_some_and(|n| n == "releases") && l.exists()) {
        report.problems.extend(crate::deliver::audit::verify(&log));
    }
    if !path.is_dir() {
        report.problems.push(format!("{}: not a folder", path.display()));
        return report;
    }
    if path.join(MANIFEST_FILE).exists() {
        verify_release(path, options, &mut report);
    } else {
        verify_tree(path, 0, options, &mut report);
        if report.releases.is_empty() && report.problems.is_empty() {
            report.problems.push(format!("{}: holds no release (no {MANIFEST_FILE} found)", path.display()));
        }
    }
    report
}

fn verify_tree(dir: &Path, depth: usize, options: &VerifyOptions, report: &mut VerifyReport) {
    let Ok(entries) = fs::read_dir(dir) else {
        report.problems.push(format!("{}: cannot list", dir.display()));
        return;
    };
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for name in &names {
        let path = dir.join(name);
        if name.starts_with('.') || name == LATEST || !path.is_dir() {
            continue;
        }
        if path.join(MANIFEST_FILE).exists() {
            verify_release(&path, options, report);
        } else if depth < 2 {
            verify_tree(&path, depth + 1, options, report);
        } else {
            report.problems.push(format!("{}: a folder in a releases tree without {MANIFEST_FILE} (incomplete release?)", path.display()));
        }
    }
    let latest = dir.join(LATEST);
    if fs::symlink_metadata(&latest).is_ok() {
        match fs::read_link(&latest) {
            Ok(target) => {
                let target_dir = dir.join(&target);
                if !target_dir.join(MANIFEST_FILE).exists() || target.to_string_lossy().starts_with(TEMP_PREFIX) {
                    report.problems.push(format!("{}: points to {}, which is not a complete release", latest.display(), target.display()));
                }
            }
            Err(e) => report.problems.push(format!("{}: not a link: {e}", latest.display())),
        }
    }
    let has_releases = names.iter().any(|n| !n.starts_with('.') && dir.join(n).join(MANIFEST_FILE).exists());
    if has_releases {
        verify_chain(dir, &names, report);
    }
}

/// Follow `previous` links from the newest release back to the first: every link must name a
/// release that is here and whose manifest has exactly the recorded sha256.
fn verify_chain(dir: &Path, names: &[String], report: &mut VerifyReport) {
    let mut manifests: BTreeMap<String, (Manifest, String)> = BTreeMap::new();
    for name in names.iter().filter(|n| !n.starts_with('.') && n.as_str() != LATEST) {
        if let Ok(bytes) = fs::read(dir.join(name).join(MANIFEST_FILE)) {
            if let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) {
                manifests.insert(name.clone(), (manifest, crate::sha256::hex_digest(&bytes)));
            }
        }
    }
    let start = fs::read_link(dir.join(LATEST)).ok().map(|t| t.to_string_lossy().into_owned()).or_else(|| manifests.keys().next_back().cloned());
    let mut on_chain = BTreeSet::new();
    let mut current = start;
    while let Some(version) = current.take() {
        let Some((manifest, _)) = manifests.get(&version) else { break };
        on_chain.insert(version.clone());
        let Some(previous) = &manifest.previous else { break };
        match manifests.get(&previous.version) {
            None => {
                report.problems.push(format!("{}: chain broken at {version}: its previous release {} is missing", dir.display(), previous.version));
                return;
            }
            Some((_, sha)) if *sha != previous.manifest_sha256 => {
                report.problems.push(format!(
                    "{}: chain broken at {version}: the manifest of its previous release {} has sha256 {sha}, {version} recorded {} (altered or replaced)",
                    dir.display(),
                    previous.version,
                    previous.manifest_sha256
                ));
                return;
            }
            Some(_) => current = Some(previous.version.clone()),
        }
    }
    for (version, (manifest, _)) in &manifests {
        let failed_gate = manifest.gate.as_ref().is_some_and(|g| !g.passed);
        if !on_chain.contains(version) && !failed_gate {
            report.problems.push(format!("{}: release {version} is not on the chain from the latest release back to the first", dir.display()));
        }
    }
}

/// Check one release folder.
pub fn verify_release(dir: &Path, options: &VerifyOptions, report: &mut VerifyReport) {
    let name = dir.display().to_string();
    report.releases.push(name.clone());
    report.problems.extend(release_problems(dir, options).into_iter().map(|p| format!("{name}: {p}")));
}

/// Every problem of one release folder, each naming the file or table concerned.
fn release_problems(dir: &Path, options: &VerifyOptions) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |message: String| problems.push(message);

    // Read once: its parse, its SHA256SUMS line and its signature are all of these bytes.
    let read = fs::read(dir.join(MANIFEST_FILE)).map_err(|e| e.to_string());
    let (manifest_bytes, manifest): (Vec<u8>, Manifest) = match read.and_then(|bytes| serde_json::from_slice(&bytes).map(|m| (bytes, m)).map_err(|e| e.to_string())) {
        Ok(read) => read,
        Err(e) => {
            problem(format!("{MANIFEST_FILE} cannot be read: {e}"));
            return problems;
        }
    };
    // Through `latest` the folder's own name is the link's target's.
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if real.file_name().is_some_and(|n| n.to_string_lossy() != manifest.version) {
        problem(format!("the folder name differs from the manifest's version {}", manifest.version));
    }

    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    // The files hashed on every core (a release holds gigabytes at national scale, and one core
    // hashes about 250 MB/s without SHA extensions), their problems told in the manifest's order.
    let hashed: Vec<_> = manifest.files.par_iter().map(|file| sha256_file(&dir.join(&file.path))).collect();
    for (file, hashed) in manifest.files.iter().zip(hashed) {
        expected.insert(file.path.clone(), Some(file.sha256.clone()));
        match hashed {
            Err(_) => problem(format!("{} is listed in the manifest but missing", file.path)),
            Ok((bytes, sha)) => {
                if bytes != file.bytes {
                    problem(format!("{}: {bytes} bytes, the manifest says {}", file.path, file.bytes));
                }
                if sha != file.sha256 {
                    problem(format!("{}: sha256 {sha}, the manifest says {}", file.path, file.sha256));
                }
            }
        }
    }
    expected.insert(MANIFEST_FILE.to_owned(), None);

    match fs::read_to_string(dir.join(SUMS_FILE)) {
        Err(e) => problem(format!("{SUMS_FILE} cannot be read: {e}")),
        Ok(text) => match parse_sums(&text) {
            Err(line) => problem(format!("{SUMS_FILE} line {line} is not \"<sha256>  <path>\"")),
            Ok(sums) => {
                let listed: BTreeSet<&String> = sums.iter().map(|(p, _)| p).collect();
                for (path, sha) in &sums {
                    match expected.get(path) {
                        None => problem(format!("{SUMS_FILE} lists {path}, which the manifest does not")),
                        Some(Some(manifest_sha)) if manifest_sha != sha => problem(format!("{SUMS_FILE} and the manifest disagree on {path}")),
                        // The manifest itself, read above.
                        Some(None) => {
                            let actual = crate::sha256::hex_digest(&manifest_bytes);
                            if &actual != sha {
                                problem(format!("{path}: sha256 {actual}, {SUMS_FILE} says {sha}"));
                            }
                        }
                        _ => {}
                    }
                }
                for path in expected.keys() {
                    if !listed.contains(path) {
                        problem(format!("{SUMS_FILE} does not list {path}"));
                    }
                }
            }
        },
    }

    // The signature, over the manifest's exact bytes.
    match fs::read_to_string(dir.join(SIGNATURE_FILE)) {
        Ok(sig) => {
            let key = options.public_key.clone().or_else(|| fs::read_to_string(dir.join(PUBLIC_KEY_FILE)).ok());
            match key {
                None => problem(format!("{PUBLIC_KEY_FILE} is missing and no public key was given")),
                Some(key) => {
                    if let Err(e) = signature::check(&sig, &manifest_bytes, &key, &manifest.publication, &manifest.version) {
                        problem(format!("{SIGNATURE_FILE}: {e}"));
                    }
                }
            }
        }
        Err(_) => problem(format!("{SIGNATURE_FILE} is missing: the manifest is not signed")),
    }
    // Row counts and content digests, from the Parquet files themselves.
    for table in &manifest.tables {
        match rows_and_digest(&dir.join(&table.parquet)) {
            Err(e) => problem(format!("{}: {e}", table.parquet)),
            Ok((rows, digest)) => {
                if rows as u64 != table.rows {
                    problem(format!("{}: {rows} rows, the manifest says {}", table.parquet, table.rows));
                }
                match digest {
                    Ok(d) if d != table.digest => problem(format!("table {}: content digest {d}, the manifest says {}", table.name, table.digest)),
                    Err(e) => problem(format!("table {}: {e}", table.name)),
                    _ => {}
                }
            }
        }
    }

    let mut present = Vec::new();
    list_files(dir, dir, &mut present);
    for path in present {
        if path != SUMS_FILE && path != SIGNATURE_FILE && !expected.contains_key(&path) {
            problem(format!("{path} is not part of the release (not in the manifest)"));
        }
    }
    problems
}

/// A table's rows and content digest from its Parquet file, read a row group at a time: only the
/// row hashes (32 bytes a row) are kept, never the table. Reading the file whole set the peak
/// memory of a no-change night (every release verified before it is reused): 1.36 GB at scale 1.
/// Err when the file is not readable Parquet; the digest's own Err when a row cannot be hashed.
fn rows_and_digest(path: &Path) -> Result<(usize, Result<String, String>), String> {
    let file = StoreFile::open(path).map_err(|e| match e {
        ReleaseError::Invalid { message, .. } => message,
        other => other.to_string(),
    })?;
    let mut hashes = Vec::with_capacity(file.height());
    for (offset, rows) in file.parts() {
        let frame = file.read(offset, rows, None).map_err(|e| e.to_string())?;
        match row_hashes(&frame) {
            Ok(more) => hashes.extend(more),
            Err(e) => return Ok((file.height(), Err(e.to_string()))),
        }
    }
    Ok((file.height(), Ok(digest_of(hashes))))
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            list_files(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::digest::content_digest;

    /// Read a row group at a time, a table of several groups gives the rows and the digest of the
    /// whole table; a file that is not Parquet is a problem naming why.
    #[test]
    fn rows_and_digest_by_row_group_are_those_of_the_whole_table() {
        let work = tempfile::tempdir().unwrap();
        for rows in [0usize, 3, 200_000] {
            let (frame, path) = crate::table::write::parquet_of_rows(work.path(), rows);
            let (read, digest) = rows_and_digest(&path).unwrap();
            assert_eq!((read, digest.unwrap()), (rows, content_digest(&frame).unwrap()));
        }
        let path = work.path().join("not.parquet");
        fs::write(&path, "id,n\n").unwrap();
        assert!(rows_and_digest(&path).unwrap_err().starts_with("not readable as Parquet"));
        assert!(rows_and_digest(&work.path().join("missing.parquet")).unwrap_err().starts_with("cannot read"));
    }
}
