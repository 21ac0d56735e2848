//! Bad input gets a clear error naming file, resource and field, a non-zero exit, and leaves the
//! previous release exactly as it was.

mod support;

use std::fs;

use support::*;

/// (case, file name, content, expected exit code, fragments the message must contain)
const CASES: &[(&str, &str, &[u8], i32, &[&str])] = &[
    ("malformed JSON", "bad.json", b"{\"resourceType\": \"Location\",\n \"id\": \"L1\",\n \"name\": }", 3, &["bad.json", "malformed JSON at line 3"]),
    ("truncated Bundle", "bad.json", b"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Location\",\"id\":\"L1\"}", 3, &["bad.json", "malformed JSON"]),
    ("resource without id", "bad.json", b"{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Location\",\"name\":\"x\"}}]}", 3, &["bad.json", "entry[0] (Location)", "field id"]),
    ("dangling reference", "bad.json", b"{\"resourceType\":\"HealthcareService\",\"id\":\"HS-BAD\",\"providedBy\":{\"reference\":\"Organization/does-not-exist\"}}", 3, &["bad.json", "HealthcareService/HS-BAD", "field providedBy", "Organization/does-not-exist"]),
    ("duplicate id", "bad.json", b"{\"resourceType\":\"HealthcareService\",\"id\":\"1234564\"}", 3, &["bad.json", "HealthcareService/1234564", "duplicate id", "HealthcareService-1234564.json"]),
    ("invalid UTF-8", "bad.json", b"{\"resourceType\":\"Location\",\"id\":\"L\xe9\"}", 3, &["bad.json", "not valid UTF-8", "offset"]),
    ("wrong type", "bad.json", b"{\"resourceType\":\"Location\",\"id\":\"L1\",\"extension\":[{\"url\":\"https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-residential-capacity\",\"extension\":[{\"url\":\"residentialNumber\",\"valueInteger\":\"three\"}]}]}", 3, &["bad.json", "Location/L1", "field extension[0].extension[0].valueInteger", "invalid type"]),
    ("a gzip that is not gzip", "bad.json.gz", b"{\"resourceType\":\"Location\",\"id\":\"L1\"}", 3, &["bad.json.gz", "not a valid gzip stream"]),
];

#[test]
fn each_bad_input_is_named_and_changes_nothing() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let before = tree(out.path());
    for (case, name, content, code, fragments) in CASES {
        let snapshot = tempfile::tempdir().unwrap();
        copy_tree(&sample_dir(), snapshot.path());
        fs::write(snapshot.path().join(name), content).unwrap();
        let o = run(&["run", "--source", snapshot.path().to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
        let message = stderr(&o);
        assert_eq!(o.status.code(), Some(*code), "{case}: exit code; stderr:\n{message}");
        for fragment in *fragments {
            assert!(message.contains(fragment), "{case}: message lacks {fragment:?}:\n{message}");
        }
        assert_eq!(tree(out.path()), before, "{case}: out/ changed");
    }
}

#[test]
fn an_empty_snapshot_folder_is_refused() {
    let snapshot = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(&["run", "--source", snapshot.path().to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("holds no FHIR file"), "{}", stderr(&o));
    assert!(tree(out.path()).is_empty());
}

#[test]
fn an_unclassified_column_stops_the_run_naming_it() {
    let out = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shipped = fs::read_to_string(repo().join("datasets/policy/public.toml")).unwrap();
    let policy = shipped.replacen("nom_operationnel = \"keep\"\n", "", 1);
    assert_ne!(policy, shipped);
    fs::write(dir.path().join("public.toml"), policy).unwrap();
    fs::write(dir.path().join("ror-opendata.toml"), "[policy]\npublic = \"public.toml\"\n").unwrap();
    let config = dir.path().join("ror-opendata.toml");
    let o = run(&["run", "--config", config.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("audience public"), "{}", stderr(&o));
    assert!(stderr(&o).contains("column entites_geographiques.nom_operationnel is not classified"), "{}", stderr(&o));
    assert!(tree(out.path()).is_empty(), "something was released");

    let o = run(&["policy", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(ok(&["policy", "check"]).contains("classifies every table and column"));
}

#[test]
fn a_typo_in_the_configuration_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ror-opendata.toml");
    fs::write(&config, "[release]\nout_dri = \"x\"\n").unwrap();
    let o = run(&["run", "--config", config.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown field `out_dri`"), "{}", stderr(&o));
}
