//! `verify`: re-check a release (or every release under a folder) against its manifest and
//! SHA256SUMS, and say precisely what differs: a missing or extra file, a size, a digest, a
//! `latest` pointer naming nothing complete.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use super::manifest::{parse_sums, Manifest, MANIFEST_FILE, SUMS_FILE};
use super::{sha256_file, LATEST, TEMP_PREFIX};

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

/// Verify `path`: a release folder, a publication folder, or a releases folder.
pub fn verify_path(path: &Path) -> VerifyReport {
    let mut report = VerifyReport::default();
    if !path.is_dir() {
        report.problems.push(format!("{}: not a folder", path.display()));
        return report;
    }
    if path.join(MANIFEST_FILE).exists() {
        verify_release(path, &mut report);
    } else {
        verify_tree(path, 0, &mut report);
        if report.releases.is_empty() && report.problems.is_empty() {
            report.problems.push(format!("{}: holds no release (no {MANIFEST_FILE} found)", path.display()));
        }
    }
    report
}

fn verify_tree(dir: &Path, depth: usize, report: &mut VerifyReport) {
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
            verify_release(&path, report);
        } else if depth < 2 {
            verify_tree(&path, depth + 1, report);
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
}

/// Check one release folder.
pub fn verify_release(dir: &Path, report: &mut VerifyReport) {
    let name = dir.display().to_string();
    report.releases.push(name.clone());
    let mut problem = |message: String| report.problems.push(format!("{name}: {message}"));

    let manifest: Manifest = match fs::read(dir.join(MANIFEST_FILE)).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
        Ok(m) => m,
        Err(e) => {
            problem(format!("{MANIFEST_FILE} cannot be read: {e}"));
            return;
        }
    };
    // Through `latest` the folder's own name is the link's target's.
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if real.file_name().is_some_and(|n| n.to_string_lossy() != manifest.version) {
        problem(format!("the folder name differs from the manifest's version {}", manifest.version));
    }

    let mut expected: BTreeMap<String, Option<String>> = BTreeMap::new();
    for file in &manifest.files {
        expected.insert(file.path.clone(), Some(file.sha256.clone()));
        match sha256_file(&dir.join(&file.path)) {
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
                        Some(None) => match sha256_file(&dir.join(path)) {
                            Ok((_, actual)) if &actual == sha => {}
                            Ok((_, actual)) => problem(format!("{path}: sha256 {actual}, {SUMS_FILE} says {sha}")),
                            Err(_) => problem(format!("{path} is missing")),
                        },
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

    let mut present = Vec::new();
    list_files(dir, dir, &mut present);
    for path in present {
        if path != SUMS_FILE && !expected.contains_key(&path) {
            problem(format!("{path} is not part of the release (not in the manifest)"));
        }
    }
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
