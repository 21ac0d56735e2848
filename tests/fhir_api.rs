//! The snapshot from the ROR FHIR API, against a real HTTP server on 127.0.0.1
//! (tests/support/fhir_server.py) serving the embedded sample and ANS's own example resources
//! with HAPI's response shapes: the snapshot builds the same tables as the same resources given as
//! files; injected faults end in a correct snapshot or a clear error with no snapshot left; no
//! secret (client secret, access token) reaches a log, an error or a stored file.

mod support;
#[path = "support/fhir_server.rs"]
mod fhir_server;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fhir_server::{FhirServer, CLIENT_SECRET, TOKEN_PREFIX};
use support::{stderr, stdout, BIN};

/// ANS's example resources: the shared copy when present, else the repository's.
fn fixtures() -> PathBuf {
    let shared = support::repo().join("../shared/fixtures/ror-ig");
    if shared.is_dir() {
        shared
    } else {
        support::repo().join("datasets/fixtures/ror-ig")
    }
}

fn sample_export() -> PathBuf {
    support::sample_dir().join("export")
}

/// The same resources as a snapshot folder, with the instant the server announces.
fn as_folder(work: &Path, name: &str, taken_at: &str, data: &[&Path]) -> PathBuf {
    let dir = work.join(name);
    for (i, d) in data.iter().enumerate() {
        for entry in fs::read_dir(d).unwrap().flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.ends_with(".json") || file_name.ends_with(".json.gz") {
                fs::create_dir_all(dir.join(format!("part-{i}"))).unwrap();
                fs::copy(entry.path(), dir.join(format!("part-{i}")).join(&file_name)).unwrap();
            }
        }
    }
    fs::write(dir.join("snapshot-info.json"), format!("{{\"taken_at\": \"{taken_at}\"}}")).unwrap();
    dir
}

/// A configuration with shared keys (so two builds pseudonymise alike) and short waits.
fn config(work: &Path, fhir: &str) -> PathBuf {
    let keys = work.join("keys");
    if !keys.exists() {
        support::ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    }
    let path = work.join("ror-opendata.toml");
    fs::write(
        &path,
        format!("[keys]\ndir = \"{}\"\n\n[source.fhir]\nmax_retries = 3\npoll_interval_seconds = 1\ndeadline_seconds = 120\nrequest_timeout_seconds = 60\n{fhir}\n", keys.display()),
    )
    .unwrap();
    path
}

/// Run the binary against the server, logging at debug level (the secret checks read it all).
fn run_with(server: &FhirServer, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env("ROR_OPENDATA_LOG", "debug").env_remove("ROR_FHIR_URL").env_remove("ROR_CLIENT_SECRET");
    for (k, v) in server.env() {
        command.env(k, v);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("the binary runs");
    assert_no_secret(&format!("{}{}", stdout(&output), stderr(&output)), "the output of ror-opendata");
    output
}

fn snapshot(server: &FhirServer, snaps: &Path, config: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["snapshot", "--out", snaps.to_str().unwrap(), "--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_with(server, &args, &[])
}

fn assert_no_secret(text: &str, what: &str) {
    assert!(!text.contains(CLIENT_SECRET), "the client secret appears in {what}");
    assert!(!text.contains(TOKEN_PREFIX), "an access token appears in {what}");
}

/// Every file of a stored snapshot, decompressed, is free of secrets.
fn assert_no_secret_in_tree(dir: &Path) {
    for (path, bytes) in support::tree(dir) {
        let text = if path.ends_with(".gz") {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out).unwrap();
            out
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        assert_no_secret(&text, &format!("stored file {path}"));
    }
}

fn succeeded(o: &Output) -> String {
    assert!(o.status.success(), "failed ({:?}):\n{}\n{}", o.status.code(), stdout(o), stderr(o));
    stdout(o)
}

/// The one snapshot folder under `snaps`, and its provenance.
fn stored(snaps: &Path) -> (PathBuf, serde_json::Value) {
    let dirs: Vec<PathBuf> = fs::read_dir(snaps).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(dirs.len(), 1, "one snapshot folder, no temporary one: {dirs:?}");
    let info = serde_json::from_str(&fs::read_to_string(dirs[0].join("snapshot-info.json")).unwrap()).unwrap();
    (dirs[0].clone(), info)
}

/// Nothing under `snaps`: no snapshot, no temporary folder.
fn assert_nothing_stored(snaps: &Path) {
    let left: Vec<_> = fs::read_dir(snaps).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "a failed snapshot left {left:?} in {}", snaps.display());
}

/// Build the public release from a snapshot folder; return its table records and CSV files.
fn build(snapshot: &Path, out: &Path, config: &Path) -> (BTreeMap<String, (u64, String)>, BTreeMap<String, Vec<u8>>) {
    let o = Command::new(BIN).args(["build", "--snapshot", snapshot.to_str().unwrap(), "--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()]).output().unwrap();
    succeeded(&o);
    let release = support::latest_release(out);
    let manifest: serde_json::Value = serde_json::from_str(&fs::read_to_string(release.join("manifest.json")).unwrap()).unwrap();
    let tables = manifest["tables"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap().to_owned(), (t["rows"].as_u64().unwrap(), t["digest"].as_str().unwrap().to_owned()))).collect();
    let csv = fs::read_dir(&release).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".csv")).map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap())).collect();
    (tables, csv)
}

#[test]
fn export_snapshot_builds_the_same_tables_as_the_files() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &["--file-size", "3000"]);
    let config = config(work.path(), "");
    let snaps = work.path().join("snaps");

    let out = succeeded(&snapshot(&server, &snaps, &config, &[]));
    assert!(out.contains("snapshot 2026-11-25T02:00:00Z stored (4 files)"), "{out}");
    let (dir, info) = stored(&snaps);
    assert_eq!(dir.file_name().unwrap(), "20261125T020000Z");
    assert_eq!(info["method"], "export");
    assert_eq!(info["taken_at"], "2026-11-25T02:00:00Z");
    assert!(!info["job_id"].as_str().unwrap().is_empty());
    assert!(info["requests"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("$export?_type=HealthcareService&_outputFormat=application%2Ffhir%2Bjson&includeAssociatedData=_myCompleteExtract")));
    // Each stored file's sha256 is the file's; each download is recorded as received.
    for f in info["files"].as_array().unwrap() {
        let bytes = fs::read(dir.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"].as_str().unwrap(), format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    }
    assert_eq!(info["downloads"].as_array().unwrap().len(), 4);
    let checks: Vec<&str> = info["checks"].as_array().unwrap().iter().filter(|c| c["passed"] == true).map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(checks, ["counts against the job's output", "duplicate ids", "dangling references"]);
    assert_no_secret_in_tree(&dir);

    // The same resources as files give the same public tables, byte for byte.
    let folder = as_folder(work.path(), "files", "2026-11-25T02:00:00Z", &data);
    let from_api = build(&dir, &work.path().join("out-api"), &config);
    let from_files = build(&folder, &work.path().join("out-files"), &config);
    assert!(from_api.0.len() >= 5, "{:?}", from_api.0);
    assert_eq!(from_api.0, from_files.0, "table rows and digests");
    assert_eq!(from_api.1, from_files.1, "CSV bytes");
    let stored_total: u64 = info["resources_by_type"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(stored_total, resources_in(&folder), "every resource arrived, once");
}

/// How many resources a snapshot folder holds.
fn resources_in(folder: &Path) -> u64 {
    let mut n = 0;
    let snapshot = ror_opendata::source::open_folder(folder, "t").unwrap();
    ror_opendata::source::for_each_resource::<ror_opendata::source::SourceError, _>(&snapshot, |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    n
}
