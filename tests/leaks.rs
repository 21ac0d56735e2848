//! The whole night — snapshot from the FHIR API, build, publish to the real udata, deliver to the
//! recipients — at trace log level, with canaries planted in every restricted field of the sample
//! and every secret known to the test: the master key and the audience keys derived from it, the
//! signing key, the data.gouv.fr API key, the FHIR client secret and its tokens, the recipients' age
//! identities. Then every channel is searched: every file under out/, every log line and message of
//! the runs (a successful one and a failing one), every request the job sent to udata (recorded by
//! the proxy in front of it), every file udata now serves, and the FHIR server's request log.
//! Zero occurrences.

mod support;
#[path = "support/fhir_server.rs"]
mod fhir_server;
#[path = "support/udata.rs"]
mod udata;

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::*;

/// What must never be seen, by kind.
struct Needles {
    /// Secrets: never anywhere but their own key files.
    secrets: Vec<(String, String)>,
    /// The sample's canaries (restricted values): never in anything public.
    canary_marker: &'static str,
    canary_rpps: HashSet<String>,
}

impl Needles {
    fn assert_no_secret(&self, what: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for (name, secret) in &self.secrets {
            assert!(!text.contains(secret.as_str()), "{what} contains the {name}");
        }
    }

    fn assert_no_canary(&self, what: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(self.canary_marker), "{what} contains a canary of a restricted field");
        for token in text.split(|c: char| !c.is_ascii_digit()).filter(|t| t.len() == 12) {
            assert!(!self.canary_rpps.contains(token), "{what} contains the canary RPPS {token}");
        }
    }
}

fn logged(output: &Output) -> Vec<u8> {
    [output.stdout.clone(), output.stderr.clone()].concat()
}

#[test]
fn no_secret_or_canary_leaves_through_any_channel() {
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");
    ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    let config = work.path().join("ror-opendata.toml");
    fs::write(&config, format!("[keys]\ndir = \"{}\"\n\n[publish.dataset]\nmarker = \"test/leaks\"\n", keys.display())).unwrap();
    let out = work.path().join("out");

    let fhir = fhir_server::FhirServer::start(&[&sample_dir()], &[]);
    let server = udata::Udata::start();
    let requests = work.path().join("requests-to-udata.log");
    let proxy = udata::FaultProxy::start_recording(&server.base_url, &requests);

    let night = |key: &str| -> Output {
        Command::new(BIN)
            .args(["--log-format", "json", "run", "--source", &fhir.base_url(), "--out", out.to_str().unwrap(), "--config", config.to_str().unwrap()])
            .envs(fhir.env())
            .env("ROR_OPENDATA_LOG", "trace")
            .env("DATAGOUV_API_URL", &proxy.base_url)
            .env("DATAGOUV_API_KEY", key)
            .env("DATAGOUV_ORGANIZATION", &server.organization)
            .output()
            .unwrap()
    };
    let good = night(&server.publisher_key);
    assert!(good.status.success(), "the night failed:\n{}", String::from_utf8_lossy(&good.stderr));
    let published = server.datasets_with_marker("test/leaks");
    assert_eq!(published.len(), 1, "one dataset published");
    // A night whose publication fails (a revoked-looking key): its error messages too.
    let bad_key = "canary-api-key-4b1d0c9e2f";
    let bad = night(bad_key);
    assert!(!bad.status.success(), "a wrong API key must fail the publication");

    // The secrets, read from where they live.
    let master_hex = fs::read_to_string(keys.join("master.key")).unwrap();
    let master: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&master_hex.trim()[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut secrets: Vec<(String, String)> = secret_forms(&master).into_iter().map(|s| ("master key".to_owned(), s)).collect();
    for audience in ["public", "drees", "hdh"] {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"ror-opendata pseudonym keys v1"), &master);
        for epoch in 0..3 {
            let mut key = [0u8; 32];
            hkdf.expand(format!("ror-opendata/pseudonym/{audience}/epoch-{epoch}").as_bytes(), &mut key).unwrap();
            secrets.extend(secret_forms(&key).into_iter().map(|s| (format!("{audience} pseudonym key"), s)));
        }
    }
    let signing = fs::read_to_string(keys.join("signing.key")).unwrap();
    let signing_line = signing.lines().nth(1).expect("a minisign secret key file has its key on line 2");
    secrets.push(("signing key".into(), signing_line[signing_line.len() - 48..].to_owned()));
    secrets.push(("data.gouv.fr API key".into(), server.publisher_key.clone()));
    secrets.push(("wrong data.gouv.fr API key".into(), bad_key.into()));
    secrets.push(("FHIR client secret".into(), fhir_server::CLIENT_SECRET.into()));
    secrets.push(("FHIR access token".into(), fhir_server::TOKEN_PREFIX.into()));
    secrets.push(("age identity".into(), "AGE-SECRET-KEY-1".into()));
    let needles = Needles {
        secrets,
        canary_marker: ror_opendata::synth::CANARY_MARKER,
        canary_rpps: serde_json::from_slice(&fs::read(sample_dir().join("snapshot-canaries.json")).unwrap()).unwrap(),
    };

    // The runs' logs and messages: every line is a JSON event (or the final message).
    for (what, output) in [("the night's log", &good), ("the failed night's log", &bad)] {
        let bytes = logged(output);
        assert!(String::from_utf8_lossy(&bytes).lines().count() > 20, "{what}: a trace-level log has events");
        needles.assert_no_secret(what, &bytes);
        needles.assert_no_canary(what, &bytes);
    }
    let failure = String::from_utf8_lossy(&bad.stderr);
    let errors: Vec<&str> = failure.lines().filter(|l| !l.starts_with('{') || l.contains("\"level\":\"ERROR\"")).collect();
    assert!(errors.iter().any(|l| l.contains("API key") || l.contains("API token")), "the failed night says why: {errors:?}\n(last lines: {:?})", failure.lines().rev().take(3).collect::<Vec<_>>());

    // Every file the job wrote. Key files are where secrets live; the stored snapshot is the raw
    // input (restricted values included, kept locally); the recipients' releases and encrypted
    // packages legitimately hold what their policy grants them. None may hold a secret.
    let mut files = 0;
    for (path, bytes) in tree(&out) {
        if path.starts_with("keys/") {
            continue;
        }
        files += 1;
        needles.assert_no_secret(&format!("out/{path}"), &bytes);
        let restricted = ["snapshots/", "releases/drees/", "releases/hdh/", "outbox/", "correspondence/"].iter().any(|p| path.starts_with(p));
        if !restricted {
            needles.assert_no_canary(&format!("out/{path}"), &bytes);
        }
    }
    assert!(files > 50, "only {files} files under out/");
    // Parquet is zstd-compressed: the public tables decoded by a real reader, cell by cell.
    for publication in ["public", "capacites"] {
        let release = out.join("releases").join(publication).join("latest");
        let check = Command::new(python())
            .arg(repo().join("tests/support/check_release.py"))
            .arg(&release)
            .args(["--canaries", sample_dir().join("snapshot-canaries.json").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(check.status.success(), "{publication}: {}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    }

    // What the job sent to udata, and what udata now serves to the public.
    let sent = fs::read(&requests).unwrap();
    assert!(sent.len() > 100_000, "the proxy recorded the uploads");
    needles.assert_no_secret("the requests sent to udata", &sent);
    needles.assert_no_canary("the requests sent to udata", &sent);
    let dataset = &published[0];
    needles.assert_no_secret("the dataset's metadata", dataset.to_string().as_bytes());
    needles.assert_no_canary("the dataset's metadata", dataset.to_string().as_bytes());
    for resource in dataset["resources"].as_array().unwrap() {
        let id = resource["id"].as_str().unwrap();
        let bytes = server.latest_bytes(id);
        let what = format!("the published file {}", resource["title"]);
        needles.assert_no_secret(&what, &bytes);
        needles.assert_no_canary(&what, &bytes);
    }

    // The FHIR server saw the client secret and the tokens, as it must; nothing else.
    let fhir_log = fhir.log();
    assert!(!fhir_log.is_empty());
    for (name, secret) in &needles.secrets {
        if !name.starts_with("FHIR") {
            assert!(!fhir_log.contains(secret.as_str()), "the FHIR server's log contains the {name}");
        }
    }
    assert!(Path::new(&requests).exists());
}
