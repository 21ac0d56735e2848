//! A build killed at any moment leaves either the whole release or none of it: never a folder that
//! looks like a release and is not complete, never a `latest` naming an incomplete one.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::*;

/// Only complete releases (verify accepts them), temporaries under their dot-name, and `latest`.
fn assert_consistent(out: &Path, attempt: usize) {
    let public = out.join("releases/public");
    let Ok(entries) = fs::read_dir(&public) else { return };
    let visible = entries.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp-")).count();
    if visible == 0 {
        return;
    }
    // Verifying the publication folder checks every release in it and what `latest` names.
    let o = run(&["verify", public.to_str().unwrap()]);
    assert!(o.status.success(), "attempt {attempt}: the releases are not all complete:\n{}", stdout(&o));
}

#[test]
fn a_build_killed_midway_leaves_no_partial_release() {
    let work = tempfile::tempdir().unwrap();
    let snapshot = work.path().join("snapshot");
    ok(&["synth", "--scale", "0.01", "--seed", "7", "--out", snapshot.to_str().unwrap()]);
    let out = work.path().join("out");
    let keys = shared_keys();
    let config = keys.config.to_str().unwrap();
    let args = ["-q", "build", "--config", config, "--snapshot", snapshot.to_str().unwrap(), "--out", out.to_str().unwrap()];

    // How long a whole build takes here, to spread the kills over it.
    let reference = work.path().join("reference");
    let started = Instant::now();
    ok(&["-q", "build", "--config", config, "--snapshot", snapshot.to_str().unwrap(), "--out", reference.to_str().unwrap()]);
    let full = started.elapsed();

    // Seeded, so a failure can be replayed: kill moments spread over the build's duration.
    let mut state: u64 = 0x5eed;
    for attempt in 0..10 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let fraction = (state >> 33) as f64 / (1u64 << 31) as f64;
        let delay = full.mul_f64(fraction.min(0.98));
        let mut child = Command::new(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        assert_consistent(&out, attempt);
    }
    ok(&args);
    assert_consistent(&out, 99);
    let public = out.join("releases/public");
    let leftovers: Vec<_> = fs::read_dir(&public).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-")).collect();
    assert!(leftovers.is_empty(), "a completed run must clear the temporaries of killed ones");
    assert_eq!(tree_without_signatures(&latest_release(&out)), tree_without_signatures(&latest_release(&reference)), "the rerun equals an uninterrupted build");
}
