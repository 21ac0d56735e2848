//! The quality gate through the real binary: the clean sample passes with zero findings (and
//! `frictionless validate` agrees); a snapshot that breaks a check — a SIRET key, a FINESS format, a
//! stale snapshot, a table emptied or a column retyped since the previous release — is refused with a
//! message naming table, column and values, its release is written marked failed, `latest` stays
//! where it was, and the run exits with code 4. Problems a built release cannot contain (a duplicate
//! key, a dangling foreign key, a CSV that disagrees with its Parquet file) are planted into written
//! files, where the gate and frictionless must find the same schema errors.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ror_opendata::gate::{check_release_dir, GateConfig};
use serde_json::Value;
use support::*;

const FIRST: &str = "20261125T020000Z";

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The sample, its instant moved to `taken_at`, with the given test inputs added.
fn snapshot(work: &Path, name: &str, taken_at: &str, inputs: &[&str]) -> PathBuf {
    let dir = work.join(name);
    copy_tree(&sample_dir(), &dir);
    fs::write(dir.join("snapshot-info.json"), format!("{{\"taken_at\": \"{taken_at}\"}}")).unwrap();
    for input in inputs {
        fs::copy(repo().join("tests/gate-inputs").join(input), dir.join(input)).unwrap();
    }
    dir
}

fn args<'a>(source: &'a Path, out: &'a Path, config: Option<&'a Path>) -> Vec<&'a str> {
    let mut args = vec!["run", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap()];
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    args
}

/// Build the clean sample as the first night, then `source` as the next one, which the gate must
/// refuse. Returns the refused run and its release folder, after checking what every refusal
/// guarantees.
fn refused(work: &Path, source: &Path, config: Option<&Path>) -> (Output, PathBuf) {
    let out = work.join("out");
    ok(&args(&sample_dir(), &out, config));
    let public = out.join("releases/public");
    let o = run(&args(source, &out, config));
    let message = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "the gate must refuse with exit code 4:\n{message}");
    assert!(message.contains("the quality gate refused release public/"), "{message}");
    assert!(message.contains("`latest` was not moved"), "{message}");
    assert_eq!(fs::read_link(public.join("latest")).unwrap().to_string_lossy(), FIRST, "latest moved to a refused release");
    let refused: Vec<PathBuf> = fs::read_dir(&public).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir() && !p.is_symlink() && !p.ends_with(FIRST)).collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let release = refused[0].clone();
    let manifest = json(&release.join("manifest.json"));
    assert_eq!(manifest["gate"]["passed"], false);
    assert_eq!(manifest["gate"]["report"], "gate.json");
    let report = json(&release.join("gate.json"));
    assert_eq!(report["passed"], false);
    assert_eq!(manifest["gate"]["failures"], report["failures"]);
    assert!(fs::read_to_string(release.join("gate.md")).unwrap().contains("**ÉCHOUÉ**"));
    assert!(fs::read_to_string(release.join("release-notes.md")).unwrap().contains("ÉCHOUÉ — version non publiable"));
    // The refused release is complete and intact, for inspection.
    assert!(ok(&["verify", public.to_str().unwrap()]).contains("OK 2 release(s) verified"));
    (o, release)
}

/// The failing findings of a gate.json, as (check, table.column) pairs.
fn failures(release: &Path) -> BTreeSet<(String, String)> {
    json(&release.join("gate.json"))["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "failure")
        .map(|f| {
            let at = [&f["table"], &f["column"]].iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(".");
            (f["check"].as_str().unwrap().to_owned(), at)
        })
        .collect()
}

fn pair(check: &str, at: &str) -> (String, String) {
    (check.to_owned(), at.to_owned())
}

#[test]
fn the_clean_sample_passes_with_zero_findings_and_frictionless_agrees() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let release = latest_release(out.path());
    let report = json(&release.join("gate.json"));
    assert_eq!(report["passed"], true);
    assert_eq!(report["findings"], serde_json::json!([]), "the clean sample must have zero findings");
    assert_eq!((report["failures"].as_u64(), report["warnings"].as_u64()), (Some(0), Some(0)));
    for check in report["checks"].as_array().unwrap() {
        assert!(check["status"] == "passed" || check["status"] == "skipped", "{check}");
    }
    // ANS's own examples are judged like real data; their fictitious values pass only as documented exceptions.
    let excepted: BTreeSet<&str> = report["exceptions_used"].as_array().unwrap().iter().map(|e| e["value"].as_str().unwrap()).collect();
    assert_eq!(excepted, BTreeSet::from(["157", "921317258", "2921317258", "ZZZ"]));
    assert_eq!(report["exceptions_unused"], serde_json::json!([]));

    let manifest = json(&release.join("manifest.json"));
    assert_eq!(manifest["gate"], serde_json::json!({"passed": true, "failures": 0, "warnings": 0, "report": "gate.json"}));
    // The gate checked exactly the bytes the release holds.
    for table in report["files"].as_array().unwrap() {
        for kind in ["csv", "parquet"] {
            let path = table[kind]["path"].as_str().unwrap();
            let listed = manifest["files"].as_array().unwrap().iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path} not in the manifest"));
            assert_eq!(listed["sha256"], table[kind]["sha256"], "{path}");
        }
    }
    for document in ["gate.json", "gate.md"] {
        assert!(manifest["files"].as_array().unwrap().iter().any(|f| f["path"] == document), "{document} not listed");
    }
    let notes = fs::read_to_string(release.join("release-notes.md")).unwrap();
    assert!(notes.contains("- Contrôle qualité : réussi (0 échec(s), 0 avertissement(s)"), "{notes}");
    assert!(notes.contains("## Contrôle qualité avant publication"), "the gate's section is in the notes");

    // Reading the written files gives the same verdict, and frictionless agrees.
    let from_files = check_release_dir(&release, &GateConfig::default()).unwrap();
    assert!(from_files.findings.is_empty(), "{:#?}", from_files.findings);
    assert!(frictionless_schema_errors(&release).is_empty());
}

#[test]
fn a_bad_siret_key_is_refused_naming_table_column_and_value() {
    let work = tempfile::tempdir().unwrap();
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &["eg-bad-siret.json"]);
    let (o, release) = refused(work.path(), &source, None);
    let message = stderr(&o);
    assert!(message.contains("FAIL [siret] entites_geographiques.siret: 1 of 183 value(s) are invalid (e.g. 11234567300018: wrong Luhn key)"), "{message}");
    assert_eq!(failures(&release), BTreeSet::from([pair("siret", "entites_geographiques.siret")]));
    let md = fs::read_to_string(release.join("gate.md")).unwrap();
    assert!(md.contains("| **échec** | `siret` | entites_geographiques.siret | 1 / 183 |") && md.contains("`11234567300018: wrong Luhn key`"), "{md}");
}

#[test]
fn a_finess_in_the_wrong_format_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &["eg-bad-finess.json"]);
    let (o, release) = refused(work.path(), &source, None);
    assert!(stderr(&o).contains("FAIL [finess] entites_geographiques.finess_eg: 1 of 183 value(s) are invalid (e.g. 75O712184: not [0-9][0-9AB][0-9]{7})"), "{}", stderr(&o));
    assert_eq!(failures(&release), BTreeSet::from([pair("finess", "entites_geographiques.finess_eg")]));
}

#[test]
fn a_stale_snapshot_is_refused() {
    // Older than the configured age at the reference instant.
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("ror-opendata.toml");
    fs::write(&config, "[gate]\nnow = \"2026-12-26T00:00:00Z\"\nmax_snapshot_age_hours = 48\n").unwrap();
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &[]);
    let out = work.path().join("out");
    let o = run(&args(&source, &out, Some(&config)));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("FAIL [snapshot_age] the snapshot was taken at 2026-11-26T02:00:00Z, more than 48 h before the reference time: it is stale"), "{}", stderr(&o));
    assert!(fs::symlink_metadata(out.join("releases/public/latest")).is_err(), "a refused first release is not latest");
    assert_eq!(failures(&out.join("releases/public/20261126T020000Z")), BTreeSet::from([pair("snapshot_age", "")]));

    // A snapshot whose newest edit is weeks older than its own instant: the source is stuck.
    let work = tempfile::tempdir().unwrap();
    let source = snapshot(work.path(), "snapshot", "2027-01-10T02:00:00Z", &[]);
    let (o, release) = refused(work.path(), &source, None);
    assert!(stderr(&o).contains("FAIL [update_lag] the newest meta.lastUpdated of the snapshot is 2026-11-24T17:41:31Z, 1112.3 h before the snapshot instant 2027-01-10T02:00:00Z"), "{}", stderr(&o));
    assert_eq!(failures(&release), BTreeSet::from([pair("update_lag", "")]));
}

#[test]
fn a_table_emptied_since_the_previous_release_is_refused() {
    let work = tempfile::tempdir().unwrap();
    // A policy whose professionals' filter keeps nothing: the table empties overnight.
    let shipped = fs::read_to_string(repo().join("datasets/policy/public.toml")).unwrap();
    let emptying = shipped.replacen("{ column = \"offre_champ_activite_code\", equals = \"05\"", "{ column = \"offre_champ_activite_code\", equals = \"99\"", 1);
    assert_ne!(emptying, shipped, "the professionals' filter moved: update this test");
    fs::write(work.path().join("emptying.toml"), emptying).unwrap();
    let config = work.path().join("ror-opendata.toml");
    fs::write(&config, "[policy]\npublic = \"emptying.toml\"\n").unwrap();
    let out = work.path().join("out");
    ok(&args(&sample_dir(), &out, None));
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &[]);
    let o = run(&args(&source, &out, Some(&config)));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("FAIL [emptied] professionnels: emptied (766 rows in 20261125T020000Z, none now)"), "{}", stderr(&o));
    let release = out.join("releases/public/20261126T020000Z");
    assert_eq!(failures(&release), BTreeSet::from([pair("emptied", "professionnels")]));
    assert_eq!(fs::read_link(out.join("releases/public/latest")).unwrap().to_string_lossy(), FIRST);
}

#[test]
fn a_column_retyped_since_the_previous_release_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    ok(&args(&sample_dir(), &out, None));
    // The previous release as an older version of the job could have written it: age_minimum as text.
    let parquet = out.join("releases/public").join(FIRST).join("offres.parquet");
    let script = "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
                  t = pq.read_table(sys.argv[1])\n\
                  i = t.schema.get_field_index('age_minimum')\n\
                  pq.write_table(t.set_column(i, 'age_minimum', t.column(i).cast(pa.string())), sys.argv[1])\n";
    let rewrite = Command::new(python()).args(["-c", script, parquet.to_str().unwrap()]).output().unwrap();
    assert!(rewrite.status.success(), "{}", String::from_utf8_lossy(&rewrite.stderr));

    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &[]);
    let o = run(&args(&source, &out, None));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("FAIL [schema_drift] offres.age_minimum: str in 20261125T020000Z, i64 now"), "{}", stderr(&o));
    assert_eq!(failures(&out.join("releases/public/20261126T020000Z")), BTreeSet::from([pair("schema_drift", "offres.age_minimum")]));
    assert_eq!(fs::read_link(out.join("releases/public/latest")).unwrap().to_string_lossy(), FIRST);
}

#[test]
fn an_unchanged_night_passes_with_the_drift_checks_run() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    ok(&args(&sample_dir(), &out, None));
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &[]);
    ok(&args(&source, &out, None));
    let release = out.join("releases/public/20261126T020000Z");
    let report = json(&release.join("gate.json"));
    assert_eq!(report["previous_version"], FIRST);
    assert_eq!(report["findings"], serde_json::json!([]));
    for check in report["checks"].as_array().unwrap().iter().filter(|c| c["family"] == "drift") {
        assert_eq!(check["status"], "passed", "{check}");
    }
    assert_eq!(fs::read_link(out.join("releases/public/latest")).unwrap().to_string_lossy(), "20261126T020000Z");
}

#[test]
fn a_refused_release_rebuilt_is_refused_again_identically() {
    let work = tempfile::tempdir().unwrap();
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &["eg-bad-siret.json"]);
    let (_, release) = refused(work.path(), &source, None);
    let before = tree(&release);
    let o = run(&args(&source, &work.path().join("out"), None));
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(tree(&release), before, "the same snapshot gives the same refused release");
}

#[test]
fn gate_settings_in_the_configuration_are_checked_and_applied() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("ror-opendata.toml");
    fs::write(&config, "[gate.checks.sirett]\nlevel = \"warn\"\n").unwrap();
    let o = run(&["run", "--dry-run", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("[gate.checks.sirett]: no such check"), "{}", stderr(&o));

    // A check lowered to a warning lets the release through, and says so.
    fs::write(&config, "[gate.checks.siret]\nlevel = \"warn\"\n").unwrap();
    let source = snapshot(work.path(), "snapshot", "2026-11-26T02:00:00Z", &["eg-bad-siret.json"]);
    let out = work.path().join("out");
    ok(&args(&source, &out, Some(&config)));
    let report = json(&latest_release(&out).join("gate.json"));
    assert_eq!((report["passed"].as_bool(), report["warnings"].as_u64()), (Some(true), Some(1)));
    assert_eq!(report["findings"][0]["severity"], "warning");
    assert_eq!(report["findings"][0]["examples"], serde_json::json!(["11234567300018: wrong Luhn key"]));
}

/// Schema errors frictionless finds in a release, as (check, table.column) in the gate's terms.
/// Byte and hash counts are left out: after planting they differ by construction, and the gate
/// leaves them to `verify`.
fn frictionless_schema_errors(release: &Path) -> BTreeSet<(String, String)> {
    let frictionless = python().parent().unwrap().join("frictionless");
    let o = Command::new(frictionless).args(["validate", "--json", "datapackage.json"]).current_dir(release).output().unwrap();
    let report: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("frictionless: {e}: {}", String::from_utf8_lossy(&o.stdout)));
    let mut found = BTreeSet::new();
    for task in report["tasks"].as_array().unwrap() {
        let resource = task["name"].as_str().unwrap();
        for error in task["errors"].as_array().unwrap() {
            let field = error["fieldName"].as_str().or(error["fieldNames"][0].as_str());
            let check = match error["type"].as_str().unwrap() {
                "hash-count" | "byte-count" => continue,
                "type-error" => "types",
                "constraint-error" if error["note"].as_str().unwrap_or_default().contains("required") => "required",
                "unique-error" | "primary-key" => "primary_key",
                "foreign-key" => "foreign_keys",
                other => panic!("frictionless error the gate has no counterpart for: {other}: {error}"),
            };
            // The primary-key error names no field: it is the table's key.
            let field = field.unwrap_or("identifiant_ror");
            found.insert((check.to_owned(), format!("{resource}.{field}")));
        }
    }
    found
}

#[test]
fn planted_schema_errors_are_found_by_the_gate_and_by_frictionless_alike() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let release = tempfile::tempdir().unwrap();
    copy_tree(&latest_release(out.path()), release.path());
    let edit = |file: &str, change: &dyn Fn(String) -> String| {
        let path = release.path().join(file);
        let before = fs::read_to_string(&path).unwrap();
        let after = change(before.clone());
        assert_ne!(after, before, "{file}: nothing planted");
        fs::write(&path, after).unwrap();
    };
    // offres: a row repeated (duplicate primary key) and a place that does not exist (dangling key).
    edit("offres.csv", &|text| {
        let repeated = text.lines().nth(2).unwrap().to_owned();
        text.replacen(",999999,,888888,", ",999999,,LIEU-INCONNU,", 1) + &repeated + "\n"
    });
    // horaires: a rank that is not an integer, and an opening time without its offer (required).
    edit("horaires.csv", &|text| text.replacen("\n1234564-2,1234564,2,", "\n1234564-2,1234564,deux,", 1).replacen("\n1234564-1,1234564,1,", "\n1234564-1,,1,", 1));

    let report = check_release_dir(release.path(), &GateConfig::default()).unwrap();
    let gate: BTreeSet<(String, String)> = report.findings.iter().filter(|f| f.family.label() == "schema").map(|f| (f.check.to_owned(), f.location())).collect();
    let expected = BTreeSet::from([
        pair("primary_key", "offres.identifiant_ror"),
        pair("foreign_keys", "offres.lieu_id"),
        pair("types", "horaires.rang"),
        pair("required", "horaires.offre_id"),
    ]);
    assert_eq!(gate, expected, "{:#?}", report.findings);
    assert_eq!(frictionless_schema_errors(release.path()), expected, "frictionless and the gate disagree");

    let example = |check: &str| report.findings.iter().find(|f| f.check == check).unwrap().examples.clone();
    assert_eq!(example("primary_key"), ["300000000"]);
    assert_eq!(example("foreign_keys"), ["LIEU-INCONNU"]);
    assert_eq!(example("types"), ["deux"]);
    assert_eq!(example("required"), ["horaire_id=1234564-1"]);

    // The CSV files now disagree with their Parquet files: parity names the table, column and key.
    let parity: Vec<String> = report.findings.iter().filter(|f| f.check == "parity").map(|f| format!("{} {:?}", f.message, f.examples)).collect();
    assert!(parity.iter().any(|p| p.contains("offres: 2 row(s) of the CSV are not in the Parquet, 1 row(s) of the Parquet are not in the CSV")), "{parity:#?}");
    assert!(parity.iter().any(|p| p.contains("horaires.offre_id: 1 of 17084 value(s) differ between the CSV and the Parquet") && p.contains(r#"horaire_id=\"1234564-1\": CSV null ≠ Parquet \"1234564\""#)), "{parity:#?}");
    assert!(!report.passed);
}

/// Where configured, a CSV above the platform's analysis limit gets a deterministic gzip copy in
/// the release: listed in the manifest and SHA256SUMS, identical to the CSV once decompressed, the
/// same bytes on every build; the gate still flags the CSV's size.
#[test]
fn large_csv_files_get_a_gzip_copy_where_configured() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("ror-opendata.toml");
    // 200 kB stands in for 100 MB: horaires.csv is above it, entites_juridiques.csv is not.
    fs::write(&config, "[release]\ngzip_large_csv = true\n\n[gate]\nlarge_file_bytes = 200000\n").unwrap();
    let mut releases = Vec::new();
    for n in 0..2 {
        let out = work.path().join(format!("out-{n}"));
        ok(&["build", "--snapshot", sample_dir().to_str().unwrap(), "--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()]);
        releases.push(latest_release(&out));
    }
    let release = &releases[0];
    let csv = fs::read(release.join("horaires.csv")).unwrap();
    assert!(csv.len() > 200_000, "the sample's horaires.csv is {} bytes", csv.len());
    let gz = fs::read(release.join("horaires.csv.gz")).unwrap();
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unpacked).unwrap();
    assert!(unpacked == csv, "horaires.csv.gz decompresses to horaires.csv");
    assert_eq!(gz, fs::read(releases[1].join("horaires.csv.gz")).unwrap(), "the gzip copy is deterministic");
    assert!(!release.join("entites_juridiques.csv.gz").exists(), "small CSVs stay as they are");
    let manifest = json(&release.join("manifest.json"));
    assert!(manifest["files"].as_array().unwrap().iter().any(|f| f["path"] == "horaires.csv.gz"), "the copy is in the manifest");
    assert!(fs::read_to_string(release.join("SHA256SUMS")).unwrap().contains("  horaires.csv.gz\n"));
    let sums = Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(release).output().unwrap();
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    ok(&["verify", release.to_str().unwrap()]);
    let gate = fs::read_to_string(release.join("gate.md")).unwrap();
    assert!(gate.contains("horaires.csv"), "the gate still flags the large CSV:\n{gate}");
}
