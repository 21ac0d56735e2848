//! Starts tests/support/fhir_server.py (a ROR FHIR API on 127.0.0.1, on a free port) and kills it
//! when dropped. The server's log goes to a file, printed if the server fails to start.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The client credentials the test server accepts. The secret and the token prefix are canaries:
/// the tests check that neither ever appears in a log, an error or a stored file.
pub const CLIENT_ID: &str = "ror-opendata-test";
pub const CLIENT_SECRET: &str = "canary-client-secret-7f3a9c";
pub const TOKEN_PREFIX: &str = "ror-test-token-";

pub struct FhirServer {
    child: Child,
    /// http://127.0.0.1:PORT
    pub origin: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FhirServer {
    /// Serve the FHIR files of `data` folders; `args` adds server options (--fault, --now, …).
    pub fn start(data: &[&Path], args: &[&str]) -> FhirServer {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let python = std::env::var_os("ROR_OPENDATA_PYTHON").map(PathBuf::from).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("python3"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fhir_server.py");
        let mut command = Command::new(python);
        command.arg(script).args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
        for d in data {
            command.arg("--data").arg(d);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 runs tests/support/fhir_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(origin) = line.trim().strip_prefix("listening ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the FHIR test server did not start: {line:?}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        FhirServer { child, origin, log, _dir: dir }
    }

    pub fn base_url(&self) -> String {
        format!("{}/ws-diffusion-fhir", self.origin)
    }

    pub fn token_url(&self) -> String {
        format!("{}/auth/realms/ror/protocol/openid-connect/token", self.origin)
    }

    /// The environment a client of this server needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("ROR_FHIR_URL", self.base_url()), ("ROR_TOKEN_URL", self.token_url()), ("ROR_CLIENT_ID", CLIENT_ID.into()), ("ROR_CLIENT_SECRET", CLIENT_SECRET.into())]
    }

    /// The server's counters: tokens issued, faults served, jobs cancelled, requests.
    pub fn stats(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/_admin/stats", self.origin)).unwrap().json().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FhirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
