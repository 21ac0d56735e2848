//! Integrity and history through the real binary: minisign signatures the stock tool accepts, a
//! verify that catches any changed byte and any broken link of the hash chain, changelogs that list
//! exactly the edits made between nights, schema versions bumped by the Frictionless rules, and
//! every past version rebuilt from the history with the digest its manifest recorded.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn changes(release: &Path, table: &str) -> Vec<String> {
    let text = fs::read_to_string(release.join(format!("changes/{table}.csv"))).unwrap();
    text.lines().skip(1).map(str::to_owned).collect()
}

fn manifest(release: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(release.join("manifest.json")).unwrap()).unwrap()
}

fn schema_version(release: &Path, table: &str) -> String {
    let m = manifest(release);
    m["tables"].as_array().unwrap().iter().find(|t| t["name"] == table).unwrap()["schema_version"].as_str().unwrap().to_owned()
}

/// Five nights with known edits, built in one output folder with one set of keys.
struct Sequence {
    _work: tempfile::TempDir,
    _keys: Keys,
    out: PathBuf,
    versions: Vec<String>,
}

fn build_sequence() -> Sequence {
    let work = tempfile::tempdir().unwrap();
    let keys = shared_keys();
    let out = work.path().join("out");
    let policy_without = fs::read_to_string(repo().join("datasets/policy/public.toml")).unwrap().replace("public_pris_en_charge_libelle = \"keep\"", "public_pris_en_charge_libelle = \"drop\"");
    let policy_file = work.path().join("public-without.toml");
    fs::write(&policy_file, policy_without).unwrap();
    let keys_dir = keys.dir.path().join("keys");
    let config_without = work.path().join("without.toml");
    fs::write(&config_without, format!("[keys]\ndir = \"{}\"\n[policy]\npublic = \"{}\"\n", keys_dir.display(), policy_file.display())).unwrap();

    let nights: Vec<(PathBuf, &Path)> = vec![
        (night(work.path(), 1, |_| {}), keys.config.as_path()),
        (night(work.path(), 2, rename_ville), keys.config.as_path()),
        (night(work.path(), 3, remove_place_add_offer), keys.config.as_path()),
        (night(work.path(), 4, remove_place_add_offer), config_without.as_path()),
        (night(work.path(), 5, remove_place_add_offer), keys.config.as_path()),
    ];
    let mut versions = Vec::new();
    for (snapshot, config) in &nights {
        ok(&["-q", "build", "--config", config.to_str().unwrap(), "--snapshot", snapshot.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        versions.push(fs::read_link(out.join("releases/public/latest")).unwrap().to_string_lossy().into_owned());
    }
    Sequence { _work: work, _keys: keys, out, versions }
}

#[test]
fn a_sequence_of_nights_is_signed_chained_changelogged_and_rebuildable() {
    let seq = build_sequence();
    let public = seq.out.join("releases/public");
    let release = |i: usize| public.join(&seq.versions[i]);
    assert_eq!(seq.versions, ["20261125T020000Z", "20261126T020000Z", "20261127T020000Z", "20261128T020000Z", "20261129T020000Z"]);

    // The stock minisign accepts every signature.
    for v in &seq.versions {
        let o = Command::new("minisign").args(["-Vm", "manifest.json", "-p", "signing.pub"]).current_dir(public.join(v)).output().unwrap();
        assert!(o.status.success(), "minisign -V on {v}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("version={v}")));
    }
    assert!(ok(&["verify", public.to_str().unwrap()]).contains("OK 5 release(s) verified"));

    // The chain.
    for i in 1..5 {
        let m = manifest(&release(i));
        assert_eq!(m["previous"]["version"], seq.versions[i - 1].as_str());
        let sha = sha256_hex(&fs::read(release(i - 1).join("manifest.json")).unwrap());
        assert_eq!(m["previous"]["manifest_sha256"], sha.as_str());
    }
    assert!(manifest(&release(0))["previous"].is_null());

    // Night 1: everything new. Night 2: one offer renamed.
    assert_eq!(changes(&release(0), "offres").len(), 2918);
    assert_eq!(changes(&release(1), "offres"), ["modification,ror-healthcareservice-exemple-ville,nom"]);
    for table in ["lieux", "contacts", "horaires", "professionnels", "entites_juridiques", "entites_geographiques", "organisations_internes"] {
        assert!(changes(&release(1), table).is_empty(), "night 2: {table} changed");
    }
    // Night 3: a place removed, an offer added.
    assert_eq!(changes(&release(2), "offres"), ["ajout,nouvelle-offre,"]);
    assert_eq!(changes(&release(2), "lieux"), ["suppression,ror-location-exemple,"]);
    assert!(changes(&release(2), "contacts").is_empty());
    // Night 4: the policy drops a column: every offer changes in that column, a major version.
    let night4 = changes(&release(3), "offres");
    assert_eq!(night4.len(), 2919);
    assert!(night4.iter().all(|l| l.starts_with("modification,") && l.ends_with(",public_pris_en_charge_libelle")), "{:?}", &night4[..3]);
    // Night 5: the column is back: a minor version.
    assert_eq!(changes(&release(4), "offres").len(), 2919);

    let versions: Vec<String> = (0..5).map(|i| schema_version(&release(i), "offres")).collect();
    assert_eq!(versions, ["1.0.0", "1.0.1", "1.0.2", "2.0.0", "2.1.0"]);
    assert_eq!(schema_version(&release(2), "lieux"), "1.0.1");
    assert_eq!(schema_version(&release(4), "contacts"), "1.0.0");
    assert!(fs::read_to_string(release(3).join("release-notes.md")).unwrap().contains("1.0.2 → 2.0.0 (majeure"));

    // Every version of every table, rebuilt from the newest history, is what was published.
    for v in &seq.versions {
        for table in ["offres", "lieux", "contacts", "horaires", "professionnels", "entites_juridiques", "entites_geographiques", "organisations_internes"] {
            let printed = ok(&["history", "as-of", v, "--table", table, "--releases", public.to_str().unwrap()]);
            assert!(printed.contains(&format!("identical to what version {v} published")), "{table} as of {v}: {printed}");
        }
    }
    // An instant between two releases means the version in force then.
    assert!(ok(&["history", "as-of", "2026-11-26T14:00:00Z", "--table", "offres", "--releases", public.to_str().unwrap()]).contains("as of version 20261126T020000Z"));

    // DuckDB runs the same as-of query on the SCD2 Parquet.
    let history = release(4).join("history/offres.parquet");
    let script = format!(
        "import duckdb, json\nc = duckdb.connect()\nout = {{}}\nfor v in {versions:?}:\n    out[v] = c.execute(\"select count(*) from read_parquet(?) where version_debut <= ? and (version_fin is null or version_fin > ?)\", [{path:?}, v, v]).fetchone()[0]\nprint(json.dumps(out))",
        versions = seq.versions,
        path = history.to_str().unwrap()
    );
    let o = Command::new(python()).args(["-c", &script]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let counts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (i, v) in seq.versions.iter().enumerate() {
        let rows = manifest(&release(i))["tables"].as_array().unwrap().iter().find(|t| t["name"] == "offres").unwrap()["rows"].clone();
        assert_eq!(counts[v], rows, "DuckDB as-of {v}");
    }

    // A middle release altered, then deleted: verify names the broken link.
    let middle = release(2);
    let original = fs::read(middle.join("manifest.json")).unwrap();
    let mut altered = original.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x20;
    fs::write(middle.join("manifest.json"), &altered).unwrap();
    let o = run(&["verify", public.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stdout(&o).contains(&format!("chain broken at {}", seq.versions[3])), "{}", stdout(&o));
    fs::write(middle.join("manifest.json"), &original).unwrap();
    assert!(run(&["verify", public.to_str().unwrap()]).status.success());
    let aside = seq.out.join("aside");
    fs::rename(&middle, &aside).unwrap();
    let o = run(&["verify", public.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stdout(&o).contains(&format!("chain broken at {}: its previous release {} is missing", seq.versions[3], seq.versions[2])), "{}", stdout(&o));
    fs::rename(&aside, &middle).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

#[test]
fn any_changed_byte_of_any_file_is_detected() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let release = latest_release(out.path());
    let files: Vec<String> = tree(&release).into_keys().collect();
    assert!(files.len() > 40, "{files:?}");
    let mut state: u64 = 42;
    for file in &files {
        let path = release.join(file);
        let original = fs::read(&path).unwrap();
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let at = (state >> 33) as usize % original.len();
        let mut mutated = original.clone();
        mutated[at] ^= 0x01;
        fs::write(&path, &mutated).unwrap();
        let o = run(&["verify", release.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(4), "a changed byte {at} of {file} went unnoticed:\n{}", stdout(&o));
        let report = stdout(&o);
        let named = report.contains(file.as_str()) || (file == "manifest.json" && report.contains("signature"));
        assert!(named, "the report does not name {file}:\n{report}");
        fs::write(&path, &original).unwrap();
    }
    assert!(run(&["verify", release.to_str().unwrap()]).status.success());
}

#[test]
fn a_pinned_public_key_proves_origin() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let release = latest_release(out.path());
    let ours = out.path().join("keys/signing.pub");
    assert!(ok(&["verify", release.to_str().unwrap(), "--public-key", ours.to_str().unwrap()]).contains("OK"));
    let other = shared_keys();
    let theirs = other.dir.path().join("keys/signing.pub");
    let o = run(&["verify", release.to_str().unwrap(), "--public-key", theirs.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stdout(&o).contains("manifest.json.minisig"), "{}", stdout(&o));
}

#[test]
fn keys_are_created_private_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let printed = ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    let master = fs::read_to_string(keys.join("master.key")).unwrap();
    let secret = fs::read_to_string(keys.join("signing.key")).unwrap();
    assert!(!printed.contains(master.trim()));
    assert!(!printed.contains(secret.lines().nth(1).unwrap()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["master.key", "signing.key"] {
            assert_eq!(fs::metadata(keys.join(f)).unwrap().permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
    let again = run(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("refusing to overwrite"));
    assert!(ok(&["keys", "rotate", "--audience", "drees", "--dir", keys.to_str().unwrap()]).contains("epoch 2"));
}

/// A previous release whose history store lost a byte: the next night refuses to advance the
/// history from it (naming the file and the release), builds nothing, and `latest` stays; once the
/// file is restored the night builds.
#[test]
fn a_damaged_history_store_is_not_advanced() {
    let work = tempfile::tempdir().unwrap();
    let keys = shared_keys();
    let out = work.path().join("out");
    let config = keys.config.to_str().unwrap();
    let first = night(work.path(), 1, |_| {});
    let second = night(work.path(), 2, rename_ville);
    ok(&["-q", "build", "--config", config, "--snapshot", first.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let public = out.join("releases/public");
    let store = public.join("20261125T020000Z/history/offres.parquet");
    let original = fs::read(&store).unwrap();
    let mut damaged = original.clone();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x01;
    fs::write(&store, &damaged).unwrap();

    let o = run(&["-q", "build", "--config", config, "--snapshot", second.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let message = stderr(&o);
    assert!(message.contains("history/offres.parquet") && message.contains("does not match the manifest of release 20261125T020000Z"), "{message}");
    assert_eq!(fs::read_link(public.join("latest")).unwrap().to_string_lossy(), "20261125T020000Z");
    assert!(!public.join("20261126T020000Z").exists(), "nothing released");

    fs::write(&store, &original).unwrap();
    ok(&["-q", "build", "--config", config, "--snapshot", second.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(fs::read_link(public.join("latest")).unwrap().to_string_lossy(), "20261126T020000Z");
    assert_eq!(changes(&public.join("20261126T020000Z"), "offres"), ["modification,ror-healthcareservice-exemple-ville,nom"]);
}
