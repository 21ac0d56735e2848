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
    let defaults = ["max_retries = 3", "poll_interval_seconds = 1", "deadline_seconds = 120", "request_timeout_seconds = 60"];
    let kept: Vec<&str> = defaults.into_iter().filter(|d| !fhir.contains(d.split(" = ").next().unwrap())).collect();
    fs::write(&path, format!("[keys]\ndir = \"{}\"\n\n[source.fhir]\n{}\n{fhir}\n", keys.display(), kept.join("\n"))).unwrap();
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

/// A public release as the comparisons see it: table → (rows, digest) from the manifest, and
/// every CSV file's bytes.
type Built = (BTreeMap<String, (u64, String)>, BTreeMap<String, Vec<u8>>);

/// Build the public release from a snapshot folder.
fn build(snapshot: &Path, out: &Path, config: &Path) -> Built {
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

/// The stored files of a snapshot, path → sha256, from its provenance.
fn stored_files(info: &serde_json::Value) -> BTreeMap<String, String> {
    info["files"].as_array().unwrap().iter().map(|f| (f["path"].as_str().unwrap().to_owned(), f["sha256"].as_str().unwrap().to_owned())).collect()
}

#[test]
fn transient_faults_end_in_the_same_snapshot() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let config = config(work.path(), "");
    let clean = FhirServer::start(&data, &["--file-size", "3000"]);
    succeeded(&snapshot(&clean, &work.path().join("clean"), &config, &[]));
    let (_, clean_info) = stored(&work.path().join("clean"));

    // 429 then 503 on the kick-off, the token revoked at the first download, which is then cut
    // halfway, then answered with half a JSON body: every one retried, the result identical.
    let faults = ["throttle", "unavailable", "expire-token", "cut-download", "truncated-json"];
    let mut args = vec!["--file-size", "3000"];
    for f in &faults {
        args.extend(["--fault", f]);
    }
    let server = FhirServer::start(&data, &args);
    let snaps = work.path().join("snaps");
    let o = snapshot(&server, &snaps, &config, &[]);
    succeeded(&o);
    let (dir, info) = stored(&snaps);
    assert_eq!(stored_files(&info), stored_files(&clean_info), "the same stored files, byte for byte");
    let stats = server.stats();
    for f in faults {
        assert_eq!(stats["faults_served"][f], 1, "fault {f} was served: {stats}");
    }
    assert!(stats["tokens_issued"].as_u64().unwrap() >= 2, "the token was renewed after the 401: {stats}");
    let log = stderr(&o);
    assert!(log.contains("429 Too Many Requests") && log.contains("503 Service Unavailable") && log.contains("renewing it once"), "{log}");
    assert_no_secret_in_tree(&dir);
}

/// One persistent fault: the snapshot fails with exit code 3, a message holding `expected`, and
/// leaves nothing behind.
fn fails_cleanly(fhir: &str, server_args: &[&str], expected: &[&str]) -> FhirServer {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, server_args);
    // Two retries are enough to tell a persistent fault from a passing one.
    let config = config(work.path(), &format!("max_retries = 2\n{fhir}"));
    let snaps = work.path().join("snaps");
    let o = snapshot(&server, &snaps, &config, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{server_args:?}: {}\n{err}", stdout(&o));
    let last = err.lines().rev().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line: {err}"));
    for e in expected {
        assert!(last.contains(e), "{server_args:?}: {e:?} not in the error:\n{last}");
    }
    assert_nothing_stored(&snaps);
    server
}

#[test]
fn persistent_faults_fail_clearly_and_store_nothing() {
    fails_cleanly("", &["--fault", "unavailable=always"], &["export kick-off", "503 Service Unavailable", "Service temporairement indisponible", "after 3 attempt(s)", "rerun later"]);
    fails_cleanly("", &["--fault", "cut-download=always"], &["download of", "/Binary/", "nothing was stored"]);
    fails_cleanly("", &["--fault", "truncated-json=always"], &["/Binary/", "malformed JSON", "nothing was stored"]);
    fails_cleanly("", &["--fault", "export-error"], &["export job", "failed", "HAPI-1234: database connection lost"]);
    fails_cleanly("method = \"search\"", &["--fault", "broken-next"], &["search page", "410", "does not exist and may have expired", "rerun"]);
    fails_cleanly("method = \"search\"", &["--fault", "cap-search"], &["counts against total", "announced 3003 offers and its 1 page(s) held 200", "use the $export method"]);
    fails_cleanly("", &["--fault", "expire-token=always"], &["refused a freshly issued token (401)", "Token invalide ou expiré", "check that this client is enabled"]);
    fails_cleanly("profile_code = \"CU99\"", &[], &["403", "Valeur CU99 non autorisée pour le header Ror-Profil-Utilisateur-Code", "check the Ror-* headers"]);
}

#[test]
fn deadlines_stop_a_stalled_job_and_a_slow_server() {
    let stalled = fails_cleanly("deadline_seconds = 3", &["--fault", "stall-export=always"], &["deadline of 3 s passed while waiting for export job", "nothing was stored"]);
    assert_eq!(stalled.stats()["jobs_cancelled"], 1, "the abandoned job was cancelled");
    fails_cleanly("deadline_seconds = 2", &["--fault", "slow", "--slow-seconds", "8"], &["deadline of 2 s passed while export kick-off"]);
}

#[test]
fn bad_credentials_and_missing_settings_are_named() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &[]);
    let config = config(work.path(), "");
    let snaps = work.path().join("snaps");
    let args = ["snapshot", "--out", snaps.to_str().unwrap(), "--config", config.to_str().unwrap()];

    let o = run_with(&server, &args, &[("ROR_CLIENT_SECRET", "not-the-secret")]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("refused the client credentials (401): OAuth2 error invalid_client: Invalid client or Invalid client credentials; check ROR_CLIENT_ID and ROR_CLIENT_SECRET"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not-the-secret"), "a wrong secret is a secret too");

    let o = run_with(&server, &args, &[("ROR_TOKEN_URL", "")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no token URL: set ROR_TOKEN_URL or [source.fhir] token_url"), "{}", stderr(&o));

    // A secret from a file (relative to the configuration) works like the environment's.
    fs::write(work.path().join("client.secret"), format!("{CLIENT_SECRET}\n")).unwrap();
    let with_file = work.path().join("file.toml");
    fs::write(&with_file, fs::read_to_string(&config).unwrap() + "client_secret_file = \"client.secret\"\n").unwrap();
    let mut command = Command::new(BIN);
    command.args(["snapshot", "--out", snaps.to_str().unwrap(), "--config", with_file.to_str().unwrap()]).env("ROR_OPENDATA_LOG", "debug").env_remove("ROR_CLIENT_SECRET");
    for (k, v) in server.env().into_iter().filter(|(k, _)| *k != "ROR_CLIENT_SECRET") {
        command.env(k, v);
    }
    let o = command.output().unwrap();
    succeeded(&o);
    assert_no_secret(&stderr(&o), "the log");
}

#[test]
fn dangling_references_in_what_the_api_sent_store_nothing() {
    // ANS's examples alone point to organisations and places they do not contain.
    let work = tempfile::tempdir().unwrap();
    let data = [fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &[]);
    let snaps = work.path().join("snaps");
    let o = snapshot(&server, &snaps, &config(work.path(), ""), &[]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(err.contains("snapshot check failed (dangling references): 6 reference(s) to resources not in the snapshot") && err.contains("HealthcareService/1234564: field providedBy.reference: Organization/999999"), "{err}");
    assert_nothing_stored(&snaps);
}

#[test]
fn search_snapshot_checks_counts_and_follows_pages() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &[]);
    let config = config(work.path(), "method = \"search\"");
    let snaps = work.path().join("snaps");
    succeeded(&snapshot(&server, &snaps, &config, &[]));
    let (dir, info) = stored(&snaps);
    assert_eq!(info["method"], "search");
    let offers = info["resources_by_type"]["HealthcareService"].as_u64().unwrap();
    let pages = info["files"].as_array().unwrap().len() as u64;
    assert_eq!(pages, offers.div_ceil(200), "one stored file per page of 200 offers");
    let counts = info["checks"].as_array().unwrap().iter().find(|c| c["name"] == "counts against total").unwrap();
    assert!(counts["detail"].as_str().unwrap().starts_with(&format!("{offers} offers announced, {offers} received")), "{counts}");
    let first = info["requests"][0].as_str().unwrap();
    assert!(first.contains("HealthcareService?_include=HealthcareService%3Aorganization&_include%3Aiterate=Organization%3Apartof&_include=HealthcareService%3Alocation&_revinclude=PractitionerRole%3Aservice&_include=PractitionerRole%3Apractitioner&_count=200"), "{first}");
    assert!(info["requests"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("_getpages=")), "next links followed");
    let opened = ror_opendata::source::open_folder(&dir, "t").unwrap();
    ror_opendata::fhir::flatten_snapshot(&opened).expect("the search snapshot flattens");
}

#[test]
fn delta_merged_onto_the_last_snapshot_builds_like_the_new_files() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let config = config(work.path(), "");
    let snaps = work.path().join("snaps");
    {
        let night1 = FhirServer::start(&data, &[]);
        succeeded(&snapshot(&night1, &snaps, &config, &[]));
    }

    // The next day one offer of ANS's examples is renamed; the delta brings it and its links.
    let edited = work.path().join("edited-fixtures");
    support::copy_tree(&fixtures(), &edited);
    support::edit_json(&edited.join("HealthcareService-ror-healthcareservice-exemple-ville.json"), |v| {
        v["name"] = "Cabinet du Dr Julie JOURDIN (Versailles)".into();
        v["meta"]["lastUpdated"] = "2026-11-26T01:30:00Z".into();
    });
    let data2 = [sample_export(), edited.clone()];
    let data2: Vec<&Path> = data2.iter().map(PathBuf::as_path).collect();
    let night2 = FhirServer::start(&data2, &["--now", "2026-11-26T02:00:00Z"]);
    let out = succeeded(&snapshot(&night2, &snaps, &config, &["--delta"]));
    assert!(out.contains("snapshot 2026-11-26T02:00:00Z stored"), "{out}");
    let delta_dir = snaps.join("20261126T020000Z");
    let info: serde_json::Value = serde_json::from_str(&fs::read_to_string(delta_dir.join("snapshot-info.json")).unwrap()).unwrap();
    assert_eq!(info["method"], "delta");
    assert_eq!(info["base"]["taken_at"], "2026-11-25T02:00:00Z");
    assert!(info["requests"][0].as_str().unwrap().contains("_lastUpdated=ge2026-11-25T02%3A00%3A00Z"), "{}", info["requests"]);
    assert!(info["resources_by_type"]["HealthcareService"].as_u64().unwrap() > 3000);
    assert_no_secret_in_tree(&delta_dir);

    let folder = as_folder(work.path(), "files2", "2026-11-26T02:00:00Z", &data2);
    let from_delta = build(&delta_dir, &work.path().join("out-delta"), &config);
    let from_files = build(&folder, &work.path().join("out-files"), &config);
    assert_eq!(from_delta.0, from_files.0, "table rows and digests");
    assert_eq!(from_delta.1, from_files.1, "CSV bytes");
    assert!(String::from_utf8_lossy(&from_delta.1["offres.csv"]).contains("Cabinet du Dr Julie JOURDIN (Versailles)"));

    // Without a stored snapshot there is nothing to merge onto.
    let o = snapshot(&night2, &work.path().join("empty"), &config, &["--delta"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no snapshot in") && stderr(&o).contains("take a full one first"), "{}", stderr(&o));
}

#[test]
fn run_takes_the_snapshot_from_a_url() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &[]);
    let config = config(work.path(), "");
    let out = work.path().join("out");
    let base = server.base_url();
    let o = run_with(&server, &["run", "--source", &base, "--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()], &[("ROR_FHIR_URL", "")]);
    succeeded(&o);
    let release = support::latest_release(&out);
    let manifest = fs::read_to_string(release.join("manifest.json")).unwrap();
    assert!(manifest.contains(&base), "the manifest names the API as the source");
    assert!(out.join("snapshots/20261125T020000Z/snapshot-info.json").is_file());
    assert_no_secret(&manifest, "the manifest");
    assert_no_secret_in_tree(&out);

    // `[source] kind = "fhir"` does the same without --source (the base URL from ROR_FHIR_URL).
    let by_config = work.path().join("kind.toml");
    fs::write(&by_config, format!("[source]\nkind = \"fhir\"\n{}", fs::read_to_string(&config).unwrap())).unwrap();
    let out2 = work.path().join("out2");
    succeeded(&run_with(&server, &["run", "--out", out2.to_str().unwrap(), "--config", by_config.to_str().unwrap()], &[]));
    assert!(out2.join("snapshots/20261125T020000Z/snapshot-info.json").is_file());
    assert_eq!(
        fs::read(support::latest_release(&out2).join("offres.csv")).unwrap(),
        fs::read(release.join("offres.csv")).unwrap(),
        "the same offers either way"
    );
}

#[test]
fn tokens_are_renewed_before_they_expire() {
    // Tokens that live 30 s with a renewal margin of 60 s are always "about to expire": each
    // request renews first, and the server never has to refuse one.
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &["--token-ttl", "30", "--file-size", "5000"]);
    let snaps = work.path().join("snaps");
    succeeded(&snapshot(&server, &snaps, &config(work.path(), "token_refresh_margin_seconds = 60"), &[]));
    let (_, info) = stored(&snaps);
    let stats = server.stats();
    let requests = info["requests"].as_array().unwrap().len() as u64;
    assert_eq!(stats["tokens_issued"].as_u64().unwrap(), requests, "one fresh token per request: {stats}");
    assert_eq!(stats["unauthorized"], 0, "no request went out with an expired token: {stats}");
}

#[test]
fn a_region_filter_exports_that_region_and_its_links() {
    let work = tempfile::tempdir().unwrap();
    let data = [sample_export(), fixtures()];
    let data: Vec<&Path> = data.iter().map(PathBuf::as_path).collect();
    let server = FhirServer::start(&data, &[]);
    let snaps = work.path().join("snaps");
    succeeded(&snapshot(&server, &snaps, &config(work.path(), "regions = [\"53\"]"), &[]));
    let (dir, info) = stored(&snaps);
    assert!(info["requests"][0].as_str().unwrap().contains("&_typeFilter=HealthcareService%3F_tag%3Dhttps%3A%2F%2Fmos.esante.gouv.fr%2FNOS%2FTRE_R30-RegionOM%2FFHIR%2FTRE-R30-RegionOM%7C53"), "{}", info["requests"]);
    let snapshot = ror_opendata::source::open_folder(&dir, "t").unwrap();
    let mut offers = 0;
    ror_opendata::source::for_each_resource::<ror_opendata::source::SourceError, _>(&snapshot, |r| {
        if r.resource_type == "HealthcareService" {
            offers += 1;
            let v: serde_json::Value = serde_json::from_str(r.json.get()).unwrap();
            assert_eq!(v["meta"]["tag"][0]["code"], "53", "only Bretagne's offers");
        }
        Ok(())
    })
    .unwrap();
    assert!(offers > 0 && offers < 3003, "{offers}");
}
