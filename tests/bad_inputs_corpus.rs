//! The corpus of bad inputs under tests/bad-inputs/: every case is a snapshot that must be refused
//! with its documented exit code and a message naming the file, resource and field, and must leave
//! the existing releases and `latest` exactly as they were.
//!
//! A case is a folder holding `case.toml` (description, exit, message fragments, optional base,
//! generated content and configuration) and `files/`, laid over a copy of the embedded sample (or
//! over an empty folder). Contents too big or too odd for git (100 MB strings, symlink loops) are
//! generated here, from the case's `generate` key.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use support::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    exit: i32,
    messages: Vec<String>,
    #[serde(default = "sample_base")]
    base: String,
    generate: Option<String>,
    config: Option<String>,
}

fn sample_base() -> String {
    "sample".into()
}

fn corpus() -> Vec<(String, PathBuf, Case)> {
    let root = repo().join("tests/bad-inputs");
    let mut cases: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|dir| {
            let text = fs::read_to_string(dir.join("case.toml")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let case: Case = toml::from_str(&text).unwrap_or_else(|e| panic!("{}/case.toml: {e}", dir.display()));
            (dir.file_name().unwrap().to_string_lossy().into_owned(), dir, case)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

/// Lay `from` over `to`, file by file.
fn overlay(from: &Path, to: &Path) {
    if !from.is_dir() {
        return;
    }
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            overlay(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Contents the repository does not store.
fn generate(kind: &str, snapshot: &Path) {
    match kind {
        "huge-string" => {
            let mut text = String::with_capacity(100 * 1024 * 1024 + 100);
            text.push_str(r#"{"resourceType":"Location","id":"L-HUGE","name":""#);
            text.extend(std::iter::repeat_n('x', 100 * 1024 * 1024));
            text.push_str(r#""}"#);
            fs::write(snapshot.join("huge.json"), text).unwrap();
        }
        "deep-nesting" => {
            let depth = 100_000;
            let text = format!(r#"{{"resourceType":"Location","id":"L-DEEP","extension":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
            fs::write(snapshot.join("deep.json"), text).unwrap();
        }
        "symlink-loop" => {
            fs::create_dir_all(snapshot.join("more")).unwrap();
            std::os::unix::fs::symlink("..", snapshot.join("more/loop")).unwrap();
        }
        "dangling-symlink" => std::os::unix::fs::symlink("/nonexistent/ror-export.json", snapshot.join("broken.json")).unwrap(),
        other => panic!("unknown generator {other:?}"),
    }
}

/// Every release folder's bytes, and where `latest` points.
fn releases_state(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    tree(&out.join("releases"))
}

#[test]
fn every_bad_input_of_the_corpus_is_refused_and_changes_nothing() {
    let cases = corpus();
    assert!(cases.len() >= 25, "the corpus has {} cases; the robustness issue asks for at least 25", cases.len());
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let before = releases_state(out.path());
    let mut report = Vec::new();
    for (name, dir, case) in &cases {
        let snapshot = tempfile::tempdir().unwrap();
        match case.base.as_str() {
            "sample" => copy_tree(&sample_dir(), snapshot.path()),
            "empty" => {}
            other => panic!("{name}: unknown base {other:?}"),
        }
        overlay(&dir.join("files"), snapshot.path());
        if let Some(kind) = &case.generate {
            generate(kind, snapshot.path());
        }
        let mut args = vec!["run".to_owned(), "--source".into(), snapshot.path().display().to_string(), "--out".into(), out.path().display().to_string()];
        let config_dir = tempfile::tempdir().unwrap();
        if let Some(config) = &case.config {
            let path = config_dir.path().join("ror-opendata.toml");
            fs::write(&path, config).unwrap();
            args.extend(["--config".into(), path.display().to_string()]);
        }
        let o = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let message = stderr(&o);
        assert_eq!(o.status.code(), Some(case.exit), "{name} ({}): exit code; stderr:\n{message}", case.description);
        for fragment in &case.messages {
            assert!(message.contains(fragment.as_str()), "{name} ({}): the message lacks {fragment:?}:\n{message}", case.description);
        }
        let after = releases_state(out.path());
        if case.exit == 4 {
            // A refused release is kept for inspection beside the others, marked failed; every
            // earlier file and the `latest` pointer stay as they were.
            for (path, bytes) in &before {
                assert!(after.get(path) == Some(bytes), "{name}: {path} changed");
            }
            // Every publication its gate refused is kept, marked failed; none that passed is
            // written, because the night is one unit.
            let added: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
            let kept: std::collections::BTreeSet<&str> = added.iter().map(|p| p.split('/').next().unwrap()).collect();
            assert!(!kept.is_empty() && kept.contains("public"), "{name}: the refused public release was not kept: {added:?}");
            for publication in kept {
                let release = format!("{publication}/20261126T020000Z");
                assert!(added.iter().all(|p| !p.starts_with(&format!("{publication}/")) || p.starts_with(&format!("{release}/"))), "{name}: unexpected files {added:?}");
                let manifest: serde_json::Value = serde_json::from_slice(&after[&format!("{release}/manifest.json")]).unwrap();
                assert_eq!(manifest["gate"]["passed"], false, "{name}: {release} is kept but not marked failed");
                fs::remove_dir_all(out.path().join("releases").join(&release)).unwrap();
            }
        } else {
            let changed: Vec<_> = before.keys().chain(after.keys()).filter(|p| before.get(*p) != after.get(*p)).collect();
            assert!(changed.is_empty(), "{name}: the releases changed: {changed:?}");
        }
        let first_line = message.lines().rev().find(|l| l.starts_with("error")).unwrap_or("").chars().take(160).collect::<String>();
        report.push(format!("{name}: exit {} — {first_line}", case.exit));
    }
    // The corpus's outcome, for the README's robustness figures (`cargo test -- --nocapture`).
    println!("{} bad inputs refused:\n{}", cases.len(), report.join("\n"));
}
