//! The whole pipeline on the embedded sample, through the real binary: a complete, verified,
//! deterministic public release that real readers accept and that leaks nothing restricted.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::*;

fn build_sample(out: &Path) {
    ok(&["run", "--out", out.to_str().unwrap()]);
}

#[test]
fn run_on_the_sample_gives_a_complete_verified_release() {
    let out = tempfile::tempdir().unwrap();
    let printed = ok(&["run", "--out", out.path().to_str().unwrap()]);
    assert!(printed.contains("release public/20261125T020000Z created"), "{printed}");

    let release = latest_release(out.path());
    assert_eq!(release.file_name().unwrap(), "20261125T020000Z");
    for table in ["entites_juridiques", "entites_geographiques", "organisations_internes", "offres", "lieux", "horaires", "contacts", "professionnels"] {
        for file in [format!("{table}.csv"), format!("{table}.parquet"), format!("schemas/{table}.schema.json")] {
            assert!(release.join(&file).is_file(), "missing {file}");
        }
        let csv = fs::read_to_string(release.join(format!("{table}.csv"))).unwrap();
        assert!(csv.lines().count() > 1, "{table} is empty in the sample release");
        assert!(!csv.starts_with('\u{feff}') && !csv.contains('\r'), "{table}.csv: BOM or CR");
    }
    for file in ["datapackage.json", "manifest.json", "SHA256SUMS", "disclosure.json"] {
        assert!(release.join(file).is_file(), "missing {file}");
    }
    assert!(ok(&["verify", out.path().join("releases").to_str().unwrap()]).contains("OK 4 release(s) verified"), "public, drees, hdh and capacites");

    let sums = Command::new("sha256sum").args(["--check", "--strict", "SHA256SUMS"]).current_dir(&release).output().unwrap();
    assert!(sums.status.success(), "sha256sum -c: {}", String::from_utf8_lossy(&sums.stdout));
}

#[test]
fn readers_accept_every_file_and_nothing_restricted_is_public() {
    let out = tempfile::tempdir().unwrap();
    build_sample(out.path());
    let release = latest_release(out.path());
    let canaries = sample_dir().join("snapshot-canaries.json");
    let check = Command::new(python())
        .arg(repo().join("tests/support/check_release.py"))
        .arg(&release)
        .args(["--canaries", canaries.to_str().unwrap(), "--profil0"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "readers disagree:\n{report}\n{}", String::from_utf8_lossy(&check.stderr));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["frictionless_valid"], true);
    assert!(report["tables"]["offres"]["pyarrow_rows"].as_u64().unwrap() > 1000);
}

#[test]
fn canaries_are_really_in_the_sample() {
    // Guard against a leak test that proves nothing: the restricted values must be in the input.
    let canaries: Vec<String> = serde_json::from_slice(&fs::read(sample_dir().join("snapshot-canaries.json")).unwrap()).unwrap();
    assert!(canaries.len() >= 20, "only {} canaries", canaries.len());
    assert!(canaries.iter().all(|c| c.contains("CANARI") || c.starts_with("8100999")), "unrecognisable canary");
}

#[test]
fn ans_fixture_values_reach_the_public_files() {
    let out = tempfile::tempdir().unwrap();
    build_sample(out.path());
    let release = latest_release(out.path());
    let read = |f: &str| fs::read_to_string(release.join(f)).unwrap();
    let offres = read("offres.csv");
    assert!(offres.contains("1234564,06/0099999,5812  Chirurgie gynécologique - HOSPITALISATION COMPLETE,999999,"), "HealthcareService-1234564 missing");
    assert!(offres.contains("ror-healthcareservice-exemple-ville,ZZZ,Cabinet du Dr Julie JOURDIN,4947,"), "ville fixture missing");
    assert!(read("contacts.csv").contains(",0199999999\n"));
    assert!(read("entites_juridiques.csv").contains("ror-organization-exemple-ej,2921317258,,921317258,Quiétude,72,Société à responsabilité limitée (SARL),"));
    assert!(read("lieux.csv").contains("ror-location-exemple,"));
    assert!(read("lieux.csv").contains(",78646,Versailles,"));
    let professionals = read("professionnels.csv");
    assert!(professionals.contains("ror-practitionerrole-exemple,2524,"), "{}", &professionals[..400.min(professionals.len())]);
    assert!(professionals.contains(",Tenor,Mylène,60,Infirmier,CEX,Compétence exclusive,L,"));
}

#[test]
fn two_builds_are_byte_identical() {
    // Same snapshot, policy and keys: the same bytes, signatures aside (hedged, see signature.rs).
    let keys = shared_keys();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for out in [a.path(), b.path()] {
        // Deliveries are not part of a build: their age layer and audit times differ by design.
        ok(&["run", "--no-deliver", "--config", keys.config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    }
    // The report pages (out/reports/) record how each night went, durations included: they sit
    // beside the releases precisely because they are not rebuilt byte for byte.
    let built = |dir: &std::path::Path| -> std::collections::BTreeMap<String, Vec<u8>> { tree_without_signatures(dir).into_iter().filter(|(path, _)| !path.starts_with("reports/")).collect() };
    let (ta, tb) = (built(a.path()), built(b.path()));
    assert!(ta.keys().any(|k| k.ends_with("offres.parquet")) && ta.keys().any(|k| k.ends_with("history/offres.parquet")));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (path, bytes) in &ta {
        assert!(bytes == &tb[path], "{path} differs between two builds of the same snapshot");
    }
}

#[test]
fn rebuilding_a_version_is_a_no_op_and_a_different_one_is_refused() {
    let out = tempfile::tempdir().unwrap();
    build_sample(out.path());
    let before = tree(out.path());
    assert!(ok(&["run", "--out", out.path().to_str().unwrap()]).contains("unchanged"));
    assert_eq!(before, tree(out.path()));

    // Same instant, different data: an existing release is never overwritten.
    let snapshot = tempfile::tempdir().unwrap();
    copy_tree(&sample_dir(), snapshot.path());
    fs::remove_file(snapshot.path().join("ans-ig/Location-ror-location-exemple.json")).unwrap();
    let o = run(&["run", "--source", snapshot.path().to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists with different content"), "{}", stderr(&o));
    assert_eq!(before, tree(out.path()));
}

/// The stages a run's JSON log says it went through.
fn stages_run(o: &std::process::Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "stage finished" || e["message"] == "stage finished")
        .map(|e| e["fields"]["stage"].as_str().or(e["stage"].as_str()).unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_no_change_night_rebuilds_nothing_and_a_damaged_release_is_not_reused() {
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    let first = run(&["--log-format", "json", "run", "--no-deliver", "--out", out_arg]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stages_run(&first).contains(&"flatten".to_owned()));
    let before = tree(&out.path().join("releases"));

    // Same snapshot, same policy, keys, settings and program: every release is reused as it is.
    let second = run(&["--log-format", "json", "run", "--no-deliver", "--out", out_arg]);
    assert!(second.status.success(), "{}", stderr(&second));
    let stages = stages_run(&second);
    assert!(stages.contains(&"reuse".to_owned()) && !stages.iter().any(|s| ["flatten", "disclose", "gate", "history", "release"].contains(&s.as_str())), "{stages:?}");
    assert!(String::from_utf8_lossy(&second.stdout).contains("unchanged"));
    assert_eq!(before, tree(&out.path().join("releases")));

    // A release whose files no longer match its checksums is never taken as built: the night is
    // rebuilt (and the rebuilt release compared with it).
    let latest = fs::read_link(out.path().join("releases/public/latest")).unwrap();
    let csv = out.path().join("releases/public").join(latest).join("offres.csv");
    let mut text = fs::read_to_string(&csv).unwrap();
    text.push('\n');
    fs::write(&csv, text).unwrap();
    let third = run(&["--log-format", "json", "run", "--no-deliver", "--out", out_arg]);
    assert!(stages_run(&third).contains(&"flatten".to_owned()), "{}", stderr(&third));
    assert!(stderr(&third).contains("does not verify: rebuilding it"), "{}", stderr(&third));
}

#[test]
fn dry_run_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let printed = ok(&["run", "--dry-run", "--out", out.path().to_str().unwrap()]);
    assert!(printed.contains("dry run"), "{printed}");
    assert!(tree(out.path()).is_empty());
}

#[test]
fn the_committed_sample_is_what_synth_generates() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("sample");
    ok(&["synth", "--scale", "0.003", "--seed", "20261125", "--out", generated.to_str().unwrap()]);
    let (expected, actual) = (tree(&sample_dir()), tree(&generated));
    assert_eq!(expected.keys().collect::<Vec<_>>(), actual.keys().collect::<Vec<_>>());
    for (path, bytes) in &expected {
        assert!(bytes == &actual[path], "datasets/sample/{path} differs from what synth generates: regenerate the sample");
    }
}

#[test]
fn verify_names_what_differs() {
    let out = tempfile::tempdir().unwrap();
    build_sample(out.path());
    let release = latest_release(out.path());
    let mut csv = fs::read(release.join("lieux.csv")).unwrap();
    csv[200] ^= 1;
    fs::write(release.join("lieux.csv"), csv).unwrap();
    fs::write(release.join("extra.txt"), "x").unwrap();
    fs::remove_file(release.join("schemas/offres.schema.json")).unwrap();
    let o = run(&["verify", release.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    let text = stdout(&o);
    assert!(text.contains("lieux.csv: sha256"), "{text}");
    assert!(text.contains("extra.txt is not part of the release"), "{text}");
    assert!(text.contains("schemas/offres.schema.json is listed in the manifest but missing"), "{text}");
}
