//! Operations through the real binary, as a scheduler and an operator meet them: two concurrent runs
//! (one runs, the other exits 7 naming the holder), every documented failure class with its exit
//! code and message, JSON logs that are JSON lines only with the documented fields, the report page
//! of three nights rendered by Debian's headless Chromium with its charts and no external asset,
//! the example configuration in sync with the code, `config show`, the CI workflows checked against
//! GitHub's workflow schema, and the systemd units checked by `systemd-analyze verify`.

mod support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::*;

/// A snapshot folder whose snapshot-info.json is a named pipe: a run that reads it blocks until the
/// test writes it, which holds that run inside the lock for exactly as long as the test needs —
/// no sleep, no race.
fn blocking_snapshot(work: &Path) -> (PathBuf, PathBuf) {
    let dir = night(work, 1, |_| {});
    let info = dir.join("snapshot-info.json");
    fs::remove_file(&info).unwrap();
    let status = Command::new("mkfifo").arg(&info).status().expect("mkfifo (coreutils) runs");
    assert!(status.success());
    (dir, info)
}

#[test]
fn a_second_concurrent_run_exits_7_naming_the_holder_and_the_first_completes() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (source, fifo) = blocking_snapshot(work.path());
    let mut first = Command::new(BIN)
        .args(["run", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env_remove("ROR_OPENDATA_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the pipe for writing succeeds only once the first run has it open for reading, which
    // it does after taking the lock. O_NONBLOCK: until then the open fails at once (ENXIO) and we
    // check the first run is still alive before trying again.
    const O_NONBLOCK: i32 = 0o4000;
    let mut writer = loop {
        match fs::OpenOptions::new().write(true).custom_flags(O_NONBLOCK).open(&fifo) {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(6) => {
                if let Some(status) = first.try_wait().unwrap() {
                    let o = first.wait_with_output().unwrap();
                    panic!("the first run ended ({status}) before reading its snapshot:\n{}", stderr(&o));
                }
                std::thread::yield_now();
            }
            Err(e) => panic!("{}: {e}", fifo.display()),
        }
    };

    let second = run(&["run", "--source", sample_dir().to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let message = stderr(&second);
    assert_eq!(second.status.code(), Some(7), "{message}");
    assert!(message.contains("another run holds the lock"), "{message}");
    assert!(message.contains(&out.join("state/run.lock").display().to_string()), "{message}");
    assert!(message.contains(&format!("pid {}", first.id())), "the message names the holder's PID:\n{message}");
    assert!(!out.join("releases").exists(), "neither run has written a release yet");

    writer.write_all(br#"{"taken_at": "2026-11-25T02:00:00Z"}"#).unwrap();
    drop(writer);
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "the first run completes:\n{}", stderr(&o));
    assert_eq!(fs::read_link(out.join("releases/public/latest")).unwrap().to_string_lossy(), "20261125T020000Z");
    // Released and removed with the run: the next one takes it.
    assert!(!out.join("state/run.lock").exists());
    let next_night = night(work.path(), 2, |_| {});
    ok(&["run", "--source", next_night.to_str().unwrap(), "--out", out.to_str().unwrap()]);
}

#[test]
fn each_failure_class_has_its_exit_code_and_a_message_naming_what_to_fix() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let out = out.to_str().unwrap();

    // 2: a typo in the configuration names the file and the key.
    let config = work.path().join("ror-opendata.toml");
    fs::write(&config, "[release]\nout_dri = \"x\"\n").unwrap();
    let o = run(&["run", "--out", out, "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&config.display().to_string()) && stderr(&o).contains("unknown field `out_dri`"), "{}", stderr(&o));
    // 2: a usage error (clap) too.
    assert_eq!(run(&["run", "--no-such-flag"]).status.code(), Some(2));

    // 3: a source that is not there.
    let missing = work.path().join("no-such-snapshot");
    let o = run(&["run", "--out", out, "--source", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains(&missing.display().to_string()) && stderr(&o).contains("cannot open"), "{}", stderr(&o));

    // 3: an invalid source file names the file.
    let broken = night(work.path(), 1, |dir| fs::write(dir.join("broken.json"), "{\"resourceType\": \"Organization\", ").unwrap());
    let o = run(&["run", "--out", out, "--source", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("broken.json"), "{}", stderr(&o));

    // 4: the gate refuses a stale snapshot; the release is kept for inspection, with its report page.
    let stale = work.path().join("stale.toml");
    fs::write(&stale, "[gate]\nnow = \"2026-12-26T00:00:00Z\"\nmax_snapshot_age_hours = 48\n").unwrap();
    let o = run(&["run", "--out", out, "--config", stale.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("the quality gate refused release public/20261125T020000Z"), "{}", stderr(&o));
    let page = fs::read_to_string(Path::new(out).join("reports/public/20261125T020000Z.html")).unwrap();
    assert!(page.contains("Contrôle qualité : ÉCHOUÉ"), "the report page of a refused release says so");

    // 5: the output folder cannot be written (a file where the state folder should be).
    let blocked = work.path().join("blocked");
    fs::create_dir_all(&blocked).unwrap();
    fs::write(blocked.join("state"), "not a folder").unwrap();
    let o = run(&["run", "--out", blocked.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("run lock") && stderr(&o).contains("state"), "{}", stderr(&o));

    // The codes are documented where the operator looks.
    let help = ok(&["--help"]);
    for line in ["0  success", "2  configuration", "3  invalid or unreadable input", "4  checks failed", "5  the release could not be written", "6  publish or delivery incomplete", "7  another run holds the lock"] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    for code in 0..=7 {
        assert!(readme.contains(&format!("| {code} |")), "README's exit-code table lacks {code}");
    }
}

/// Every line of a JSON log, parsed; panics on a line that is not a JSON object.
fn json_lines(text: &str) -> Vec<serde_json::Map<String, Value>> {
    text.lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => map,
            other => panic!("not a JSON object line: {line:?} ({other:?})"),
        })
        .collect()
}

#[test]
fn json_logs_are_json_lines_with_the_documented_fields() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let o = run(&["--log-format", "json", "run", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = stderr(&o);
    assert!(!log.contains('\u{1b}'), "no terminal control codes (colours, progress) in a JSON log");
    let lines = json_lines(&log);
    assert!(lines.len() > 5, "{log}");
    // The result on standard output is JSON lines too: the releases, then the deliveries.
    let results = json_lines(&stdout(&o));
    assert!(results.iter().any(|r| r["releases"].as_array().is_some_and(|a| a.iter().any(|x| x["publication"] == "public" && x["status"] == "created"))), "{results:?}");
    for line in &lines {
        for field in ror_opendata::ops::logging::JSON_FIELDS {
            assert!(line.contains_key(*field), "line without {field}: {line:?}");
        }
        assert!(chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok(), "{line:?}");
        assert!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&line["level"].as_str().unwrap()), "{line:?}");
    }
    let stages: Vec<&serde_json::Map<String, Value>> = lines.iter().filter(|l| l["message"] == ror_opendata::ops::stage::STAGE_FINISHED).collect();
    for stage in &stages {
        for field in ["stage", "duration_ms", "items", "bytes"] {
            assert!(stage.contains_key(field), "stage event without {field}: {stage:?}");
        }
        assert!(stage["duration_ms"].is_u64() && stage["items"].is_u64() && stage["bytes"].is_u64(), "{stage:?}");
    }
    let names: Vec<&str> = stages.iter().map(|s| s["stage"].as_str().unwrap()).collect();
    for expected in ["snapshot", "flatten", "disclose", "gate", "history", "release", "publish", "deliver"] {
        assert!(names.contains(&expected), "no {expected} stage event in {names:?}");
    }
    let snapshot = stages.iter().find(|s| s["stage"] == "snapshot").unwrap();
    let files = fs::read_dir(sample_dir()).unwrap().count() as u64;
    assert!(snapshot["items"].as_u64().unwrap() > 0 && snapshot["items"].as_u64().unwrap() <= files * 10, "{snapshot:?}");
    assert!(snapshot["bytes"].as_u64().unwrap() > 100_000, "the sample's bytes: {snapshot:?}");
    let release = stages.iter().find(|s| s["stage"] == "release" && s["publication"] == "public").unwrap();
    let manifest: Value = serde_json::from_slice(&fs::read(latest_release(&out).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(release["items"].as_u64().unwrap(), manifest["files"].as_array().unwrap().len() as u64);

    // A failure in JSON mode is a JSON line too, with its exit code.
    let o = run(&["--log-format", "json", "run", "--out", out.to_str().unwrap(), "--source", "/no/such/folder"]);
    assert_eq!(o.status.code(), Some(3));
    let lines = json_lines(&stderr(&o));
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["exit_code"], 3);
    assert!(last["message"].as_str().unwrap().contains("/no/such/folder"), "{last:?}");
}

/// Rows of a table per version, from the newest release's history index.
fn rows_by_version(out: &Path, table: &str) -> Vec<(String, u64)> {
    let index: Value = serde_json::from_slice(&fs::read(latest_release(out).join("history/index.json")).unwrap()).unwrap();
    index["versions"].as_array().unwrap().iter().filter_map(|v| v["tables"][table]["rows"].as_u64().map(|r| (v["version"].as_str().unwrap().to_owned(), r))).collect()
}

/// The `data-value`s of a chart's points for one series.
fn points(html: &str, series: &str) -> Vec<f64> {
    html.split("<circle ")
        .skip(1)
        .map(|c| c.split('>').next().unwrap())
        .filter(|c| c.contains(&format!("data-series=\"{series}\"")))
        .map(|c| c.split("data-value=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_report_page_of_three_nights_renders_in_chromium_with_its_charts_and_no_external_asset() {
    let keys = shared_keys();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let config = keys.config.to_str().unwrap();
    let nights = [night(work.path(), 1, |_| {}), night(work.path(), 2, rename_ville), night(work.path(), 3, remove_place_add_offer)];
    for source in &nights {
        ok(&["run", "--source", source.to_str().unwrap(), "--out", out.to_str().unwrap(), "--config", config]);
    }
    let version = "20261127T020000Z";
    let html_path = out.join("reports/public").join(format!("{version}.html"));
    let html = fs::read_to_string(&html_path).unwrap();

    // The charts: an inline SVG per table, each point carrying the rows its version published.
    assert!(html.matches("<svg").count() >= 9, "a chart per table and the capacity chart");
    for table in ["offres", "lieux", "entites_juridiques"] {
        let expected: Vec<f64> = rows_by_version(&out, table).into_iter().map(|(_, r)| r as f64).collect();
        assert_eq!(expected.len(), 3);
        assert_eq!(points(&html, table), expected, "points of {table}");
    }
    let offres = rows_by_version(&out, "offres");
    assert_eq!(offres[2].1, offres[1].1 + 1, "the third night adds an offer");
    // Available beds by région, from the capacity series: one point per night for each région
    // of the sample, equal to a recount of the published département totals.
    let capacity = latest_release(&out).parent().unwrap().parent().unwrap().join("capacites/latest/capacites_departement.csv");
    let mut beds_by_region: std::collections::BTreeMap<String, i64> = Default::default();
    let text = fs::read_to_string(&capacity).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for line in rows {
        let cells: Vec<&str> = line.split(',').collect();
        if cells[at("nature_capacite_code")] == "01" && cells[at("statut_capacite_code")] == "02" && cells[at("champ_activite_code")] == "TOTAL" && cells[at("departement_code")] != "TOTAL" {
            if let (Some(region), Ok(n)) = (ror_opendata::disclose::operators::region(cells[at("departement_code")]), cells[at("nombre")].parse::<i64>()) {
                *beds_by_region.entry(region).or_default() += n;
            }
        }
    }
    assert!(!beds_by_region.is_empty(), "the sample has available beds");
    for (region, beds) in &beds_by_region {
        let label = ror_opendata::report::capacity::region_label(region);
        let values = points(&html, label);
        assert_eq!(values.len(), 3, "{label}: a point per night");
        assert_eq!(*values.last().unwrap(), *beds as f64, "{label}");
    }
    // The rest of the page.
    for text in ["Résumé de la nuit", "Lignes par table et changements", "Contrôle qualité : réussi", "sha256sum -c SHA256SUMS", "minisign -Vm manifest.json -p signing.pub", version, "20261126T020000Z"] {
        assert!(html.contains(text), "the page lacks {text:?}");
    }
    let manifest_sha = fs::read_to_string(out.join("releases/public").join(version).join("SHA256SUMS")).unwrap().lines().find(|l| l.ends_with("  manifest.json")).unwrap()[..64].to_owned();
    assert!(html.contains(&manifest_sha), "the page cites the manifest's sha256");
    // Self-contained: no asset from elsewhere.
    let lower = html.to_lowercase();
    for pattern in ["src=\"http", "href=\"http", "src='http", "href='http", "url(http", "url(\"http", "@import", "<script", "<link"] {
        assert!(!lower.contains(pattern), "the page references an external asset ({pattern})");
    }
    // Its Markdown twin.
    let markdown = fs::read_to_string(out.join("reports/public").join(format!("{version}.md"))).unwrap();
    assert!(markdown.contains("| `offres` |") && markdown.contains(&manifest_sha), "{markdown}");

    // Debian's Chromium renders it; the screenshot is a real 1200×2000 PNG with content.
    let profile = tempfile::tempdir().unwrap();
    let png = work.path().join("report.png");
    let o = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2000")
        .arg(format!("file://{}", html_path.display()))
        .output()
        .expect("chromium (installed by scripts/test) runs");
    assert!(o.status.success(), "chromium failed:\n{}", stderr(&o));
    let bytes = fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (width, height) = (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap()));
    assert_eq!((width, height), (1200, 2000));
    // A blank page compresses to a few kilobytes; text, tables and charts do not.
    assert!(bytes.len() > 50_000, "the screenshot looks empty ({} bytes)", bytes.len());
}

/// The example with every "# key = value" and "# [section]" line enabled.
fn every_setting_enabled(text: &str) -> String {
    let is_setting = |rest: &str| {
        let rest = rest.trim_end();
        (rest.starts_with('[') && rest.ends_with(']') && !rest.contains(' ')) || rest.split_once(" = ").is_some_and(|(key, _)| !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    };
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_setting(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every leaf key of a TOML document, as dotted paths.
fn leaf_keys(value: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaf_keys(v, &path, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

#[test]
fn the_example_configuration_loads_and_documents_every_key_the_program_knows() {
    use ror_opendata::config::Config;
    let example = repo().join("examples/ror-opendata.toml");
    Config::load(&example).unwrap_or_else(|e| panic!("the example as shipped: {e}"));
    let text = fs::read_to_string(&example).unwrap();
    let enabled = every_setting_enabled(&text);
    let work = tempfile::tempdir().unwrap();
    let all = work.path().join("all.toml");
    fs::write(&all, &enabled).unwrap();
    // deny_unknown_fields: a key the program does not know (a typo, a removed setting) fails here.
    let config = Config::load(&all).unwrap_or_else(|e| panic!("the example with every setting enabled: {e}"));
    let mut documented = std::collections::BTreeSet::new();
    leaf_keys(&toml::from_str(&enabled).unwrap(), "", &mut documented);
    // Every key the program serialises — its defaults and the example's optional keys — is in it.
    for effective in [Config::default(), config] {
        let mut known = std::collections::BTreeSet::new();
        leaf_keys(&toml::from_str(&toml::to_string(&effective).unwrap()).unwrap(), "", &mut known);
        let missing: Vec<&String> = known.difference(&documented).collect();
        assert!(missing.is_empty(), "examples/ror-opendata.toml does not document {missing:?}");
    }
    // Each setting has a comment saying what it does, on the lines just above it.
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let setting = line.strip_prefix("# ").unwrap_or(line);
        if setting.split_once(" = ").is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')) && !setting.is_empty() {
            let commented = lines[..i].iter().rev().take_while(|l| l.starts_with('#') || l.split_once(" = ").is_some()).any(|l| l.starts_with("# ") && l[2..].split_once(" = ").is_none());
            assert!(commented, "line {} ({line}) has no comment above it", i + 1);
        }
    }
}

#[test]
fn config_show_prints_the_effective_configuration_reloadable_with_secrets_redacted() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("ror-opendata.toml");
    fs::write(&config, "[gate]\nmax_snapshot_age_hours = 48\n[release]\nout_dir = \"night\"\n").unwrap();
    let (canary_key, canary_secret) = ("datagouv-key-canary-5f1e", "ror-client-secret-canary-9a2b");
    let o = Command::new(BIN)
        .args(["config", "show", "--config", config.to_str().unwrap()])
        .env("DATAGOUV_API_KEY", canary_key)
        .env("ROR_CLIENT_SECRET", canary_secret)
        .env("ROR_FHIR_URL", "http://127.0.0.1:9/fhir")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = stdout(&o);
    assert!(!shown.contains(canary_key) && !shown.contains(canary_secret) && !stderr(&o).contains(canary_key), "a secret was printed:\n{shown}");
    assert!(shown.contains("# DATAGOUV_API_KEY = ***redacted***") && shown.contains("# ROR_CLIENT_SECRET = ***redacted***"), "{shown}");
    assert!(shown.contains("# ROR_FHIR_URL = \"http://127.0.0.1:9/fhir\""), "endpoints are shown: {shown}");
    assert!(shown.contains("max_snapshot_age_hours = 48.0") && shown.contains("max_update_lag_hours = 168.0"), "the file's values and the defaults: {shown}");
    assert!(shown.contains(&work.path().join("night").display().to_string()), "relative paths shown rebased: {shown}");
    // What it prints is itself a configuration that gives the same effective configuration.
    let again = work.path().join("shown.toml");
    fs::write(&again, &shown).unwrap();
    let reshown = ok(&["config", "show", "--config", again.to_str().unwrap()]);
    let body = |s: &str| s.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&reshown), body(&shown));
    // A typo is a configuration error, exit 2.
    fs::write(&config, "[gate]\nmax_snapshot_age_hour = 48\n").unwrap();
    let o = run(&["config", "show", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("max_snapshot_age_hour"), "{}", stderr(&o));
}

/// The readers' virtual environment's bin folder, where scripts/test installs check-jsonschema.
fn venv_bin() -> PathBuf {
    python().parent().unwrap().to_path_buf()
}

#[test]
fn the_workflows_are_valid_github_workflows_running_the_test_command_and_the_night() {
    let workflows = repo().join(".github/workflows");
    let files = [workflows.join("ci.yml"), workflows.join("nightly.yml")];
    // GitHub's workflow schema (SchemaStore's, vendored by check-jsonschema: no network).
    let o = Command::new(venv_bin().join("check-jsonschema")).arg("--builtin-schema").arg("vendor.github-workflows").args(&files).output().expect("check-jsonschema (tests/support/requirements.txt) runs");
    assert!(o.status.success(), "the workflows do not match GitHub's schema:\n{}\n{}", stdout(&o), stderr(&o));
    // Every `run:` script parses as bash.
    let script = r#"
import sys, yaml, subprocess
for path in sys.argv[1:]:
    doc = yaml.safe_load(open(path))
    for job_name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            if "run" in step:
                r = subprocess.run(["bash", "-n"], input=step["run"], text=True, capture_output=True)
                if r.returncode != 0:
                    sys.exit(f"{path} {job_name} step {step.get('name')!r}: {r.stderr}")
"#;
    let o = Command::new(python()).arg("-c").arg(script).args(&files).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let ci = fs::read_to_string(&files[0]).unwrap();
    assert!(ci.contains("scripts/test") && ci.contains("actions/cache@"), "ci.yml runs the README's test command with caches");
    let nightly = fs::read_to_string(&files[1]).unwrap();
    assert!(nightly.contains("schedule:") && nightly.contains("cron:"), "nightly.yml is scheduled");
    for secret in ["DATAGOUV_API_KEY", "ROR_CLIENT_SECRET", "ROR_OPENDATA_MASTER_KEY", "ROR_OPENDATA_SIGNING_KEY"] {
        assert!(nightly.contains(&format!("${{{{ secrets.{secret} }}}}")), "nightly.yml takes {secret} from the repository's secrets");
    }
    assert!(nightly.contains("actions/upload-artifact@") && nightly.contains("out/reports/"), "the report page is an artifact");
    assert!(nightly.contains("actions/cache/restore@") && nightly.contains("actions/cache/save@"), "the history follows from night to night");
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify_with_their_hardening() {
    let deploy = repo().join("deploy");
    let work = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for name in ["ror-opendata.service", "ror-opendata.timer", "ror-opendata-capacites.service", "ror-opendata-capacites.timer"] {
        let text = fs::read_to_string(deploy.join(name)).unwrap();
        // verify checks that ExecStart's binary exists: point it at the one under test.
        let text = text.replace("/usr/local/bin/ror-opendata", BIN);
        let path = work.path().join(name);
        fs::write(&path, &text).unwrap();
        units.push(path);
    }
    let o = Command::new("systemd-analyze").arg("verify").arg("--man=no").args(&units).output().expect("systemd-analyze (installed by scripts/test) runs");
    // verify exits 0 on an unknown key or an unparsable value ("…, ignoring"): any message fails.
    assert!(o.status.success() && stderr(&o).trim().is_empty(), "systemd-analyze verify:\n{}\n{}", stdout(&o), stderr(&o));

    for name in ["ror-opendata.service", "ror-opendata-capacites.service"] {
        let text = fs::read_to_string(deploy.join(name)).unwrap();
        for setting in ["User=ror-opendata", "ProtectSystem=strict", "ReadWritePaths=/var/lib/ror-opendata", "PrivateTmp=yes", "NoNewPrivileges=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "SuccessExitStatus=7"] {
            assert!(text.contains(setting), "{name} lacks {setting:?}");
        }
        assert!(!text.contains("DATAGOUV_API_KEY=") && !text.contains("ROR_CLIENT_SECRET="), "{name}: secrets go through LoadCredential, never in the unit");
    }
    let sysusers = fs::read_to_string(deploy.join("ror-opendata.sysusers.conf")).unwrap();
    assert!(sysusers.contains("u ror-opendata "), "the dedicated user is declared");
    // The production configuration the units name loads (unknown keys would be errors).
    ror_opendata::config::Config::load(&deploy.join("ror-opendata.toml")).unwrap();
}

/// Run the binary under a pseudo-terminal (util-linux `script`), as a person at a terminal would;
/// returns everything the terminal received.
fn on_a_terminal(args: &str, work: &Path) -> String {
    let log = work.join("terminal.log");
    let o = Command::new("script").arg("-qec").arg(format!("{BIN} {args}")).arg(&log).stdin(Stdio::null()).output().expect("script (util-linux) runs");
    assert!(o.status.success(), "{args}: {}", String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()));
    String::from_utf8_lossy(&fs::read(&log).unwrap()).into_owned()
}

#[test]
fn progress_shows_on_a_terminal_only_and_never_in_json_mode() {
    let work = tempfile::tempdir().unwrap();
    // The spinner line is "<frame> <stage> <elapsed>", e.g. "⠁ flatten 0s"; log lines say stage="flatten".
    let spinner = |text: &str| text.split("flatten ").skip(1).any(|rest| rest.split('s').next().is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())));
    let human = on_a_terminal(&format!("run --out {}", work.path().join("a").display()), work.path());
    assert!(spinner(&human), "no spinner on a terminal:\n{human}");
    let json = on_a_terminal(&format!("--log-format json run --out {}", work.path().join("b").display()), work.path());
    assert!(!json.contains('\u{1b}') && !spinner(&json), "control codes in a JSON log on a terminal");
    // script(1) frames the session with its own "Script started/done" lines.
    for line in json.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty() && !l.starts_with("Script ")) {
        assert!(serde_json::from_str::<Value>(line).is_ok(), "not JSON: {line:?}");
    }
    let piped = run(&["run", "--out", work.path().join("c").to_str().unwrap()]);
    assert!(piped.status.success() && !spinner(&stderr(&piped)) && !stderr(&piped).contains('\u{1b}'), "progress or colours in a pipe");
}
