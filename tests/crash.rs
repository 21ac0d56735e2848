//! A build killed at any moment leaves either the whole release or none of it: never a folder that
//! looks like a release and is not complete, never a `latest` naming an incomplete one.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::*;

/// Only complete releases (verify accepts them), temporaries under their dot-name, and `latest`
/// naming a complete one, in every publication (public, the recipients' and the capacity series).
/// Releases already verified are not verified again (`seen`); `None` verifies every publication
/// folder whole, chains included.
fn assert_consistent(out: &Path, attempt: usize, seen: Option<&mut std::collections::BTreeSet<std::path::PathBuf>>) {
    let Ok(publications) = fs::read_dir(out.join("releases")) else { return };
    let verify = |path: &Path| {
        let o = run(&["verify", path.to_str().unwrap()]);
        assert!(o.status.success(), "attempt {attempt}: {} is not complete:\n{}{}", path.display(), stdout(&o), stderr(&o));
    };
    let mut seen = seen;
    for publication in publications.flatten().filter(|e| e.path().is_dir()) {
        let dir = publication.path();
        let Some(seen) = seen.as_deref_mut() else {
            if fs::read_dir(&dir).unwrap().flatten().any(|e| !e.file_name().to_string_lossy().starts_with(".tmp-")) {
                verify(&dir);
            }
            continue;
        };
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp-") || !path.is_dir() || name == "latest" || seen.contains(&path) {
                continue;
            }
            verify(&path);
            seen.insert(path);
        }
        if let Ok(target) = fs::read_link(dir.join("latest")) {
            assert!(seen.contains(&dir.join(&target)), "attempt {attempt}: latest names {} which is not a complete release", target.display());
        }
    }
}

/// The sample as taken on night `n` (one day apart from 2026-01-01), so every attempt writes a new
/// release that must chain onto whatever the killed attempts before it left.
fn night_snapshot(work: &Path, n: u32) -> std::path::PathBuf {
    let dir = work.join(format!("night-{n}"));
    if !dir.exists() {
        copy_tree(&sample_dir(), &dir);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(n));
        fs::write(dir.join("snapshot-info.json"), format!("{{\"taken_at\": \"{day}T02:00:00Z\"}}")).unwrap();
    }
    dir
}

#[test]
fn a_build_killed_midway_leaves_no_partial_release() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let keys = shared_keys();
    let config = keys.config.to_str().unwrap().to_owned();
    let build = |snapshot: &Path, out: &Path| -> Vec<String> {
        ["-q", "build", "--config", &config, "--snapshot", snapshot.to_str().unwrap(), "--out", out.to_str().unwrap()].map(String::from).to_vec()
    };

    // How long a whole build takes here, to spread the kills over it.
    let reference = work.path().join("reference");
    let started = Instant::now();
    let args = build(&night_snapshot(work.path(), 0), &reference);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let full = started.elapsed();

    // Fifty nights, each killed at a seeded moment of its build (a failure can be replayed): the
    // moments cover the whole build, from reading the snapshot to moving `latest`.
    let mut state: u64 = 0x5eed;
    let mut last = 0;
    let mut verified = std::collections::BTreeSet::new();
    for attempt in 0..50u32 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let fraction = (state >> 33) as f64 / (1u64 << 31) as f64;
        let delay = full.mul_f64(fraction.min(0.98));
        let snapshot = night_snapshot(work.path(), attempt + 1);
        let mut child = Command::new(BIN).args(build(&snapshot, &out)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(&out, attempt as usize, Some(&mut verified));
        if attempt > 0 {
            fs::remove_dir_all(night_snapshot(work.path(), attempt)).unwrap();
        }
        last = attempt + 1;
    }
    // The scheduler's next try of the last night completes, on top of whatever the kills left.
    let args = build(&night_snapshot(work.path(), last), &out);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_consistent(&out, 99, None);
    let public = out.join("releases/public");
    let leftovers: Vec<_> = fs::read_dir(&public).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-")).collect();
    assert!(leftovers.is_empty(), "a completed run must clear the temporaries of killed ones");
    let tables_set_aside: Vec<_> = fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with(".tmp-")).collect();
    assert!(tables_set_aside.is_empty(), "a completed run must clear the tables killed runs set aside: {tables_set_aside:?}");
    let tables = |release: &Path| -> serde_json::Value {
        let manifest: serde_json::Value = serde_json::from_slice(&fs::read(release.join("manifest.json")).unwrap()).unwrap();
        manifest["tables"].clone()
    };
    assert_eq!(tables(&latest_release(&out)), tables(&latest_release(&reference)), "the last night's tables equal an uninterrupted build's");
}
