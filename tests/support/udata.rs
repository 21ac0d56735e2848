//! The real data.gouv.fr server (udata, tests/support/udata/server.py) and the fault-injecting
//! proxy (tests/support/udata/faultproxy.py) for tests/publish.rs: each started on a free port of
//! 127.0.0.1 by the test itself and killed when its handle is dropped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The Python of the udata virtual environment that scripts/test installs.
pub fn udata_python() -> PathBuf {
    let path = std::env::var_os("ROR_OPENDATA_UDATA_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        panic!("ROR_OPENDATA_UDATA_PYTHON is not set: run the tests with scripts/test, which installs udata from tests/support/udata/requirements.txt")
    });
    assert!(path.exists(), "ROR_OPENDATA_UDATA_PYTHON={} does not exist", path.display());
    path
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/udata").join(name)
}

/// Wait until `child` has written `info` (it writes it once it answers); its log on failure.
fn wait_for_info(child: &mut Child, info: &Path, log: &Path, what: &str) -> Value {
    // A bound only so that a broken install fails instead of hanging; it asserts nothing about speed.
    for _ in 0..1800 {
        if let Ok(text) = std::fs::read_to_string(info) {
            return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {} is not JSON: {e}", info.display()));
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what} exited ({status}) before answering:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("{what} did not answer:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

fn spawn(args: &[&std::ffi::OsStr], log: &Path) -> Child {
    let log_file = std::fs::File::create(log).unwrap();
    Command::new(udata_python()).args(args).stdin(Stdio::null()).stdout(log_file.try_clone().unwrap()).stderr(log_file).spawn().expect("the udata Python starts")
}

/// A udata server seeded with a publisher (member of the organisation), an outsider, licences and
/// geographic levels.
pub struct Udata {
    child: Child,
    _dir: tempfile::TempDir,
    pub base_url: String,
    pub organization: String,
    pub publisher_key: String,
    pub outsider_key: String,
}

impl Udata {
    pub fn start() -> Udata {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("udata.json");
        let log = dir.path().join("udata.log");
        let mut child = spawn(&[script("server.py").as_os_str(), info.as_os_str(), dir.path().as_os_str()], &log);
        let v = wait_for_info(&mut child, &info, &log, "the udata server");
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("udata.json has no {k}")).to_owned();
        Udata { base_url: s("base_url"), organization: s("organization"), publisher_key: s("publisher_key"), outsider_key: s("outsider_key"), child, _dir: dir }
    }

    /// GET an API path with the publisher's key; the JSON answer.
    pub fn get(&self, path: &str) -> Value {
        let response = reqwest::blocking::Client::new().get(format!("{}{path}", self.base_url)).header("X-API-KEY", &self.publisher_key).send().unwrap();
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().unwrap()
    }

    /// DELETE an API path with the publisher's key.
    pub fn delete(&self, path: &str) {
        let response = reqwest::blocking::Client::new().delete(format!("{}{path}", self.base_url)).header("X-API-KEY", &self.publisher_key).send().unwrap();
        assert!(response.status().is_success(), "DELETE {path}: {}", response.status());
    }

    /// The organisation's datasets (drafts included, deleted ones not) whose extras carry `marker`.
    pub fn datasets_with_marker(&self, marker: &str) -> Vec<Value> {
        let listed = self.get(&format!("/api/1/organizations/{}/datasets/?page_size=100", self.organization));
        assert!(listed["next_page"].is_null(), "more than 100 datasets in the test organisation");
        listed["data"].as_array().unwrap().iter().filter(|d| d["extras"]["ror-opendata:publication"] == marker && d["deleted"].is_null()).map(|d| self.get(&format!("/api/1/datasets/{}/", d["id"].as_str().unwrap()))).collect()
    }

    /// The bytes `latest` serves for a resource (following the redirect to the file).
    pub fn latest_bytes(&self, resource_id: &str) -> Vec<u8> {
        let response = reqwest::blocking::get(format!("{}/api/1/datasets/r/{resource_id}", self.base_url)).unwrap();
        assert!(response.status().is_success(), "latest of {resource_id}: {}", response.status());
        response.bytes().unwrap().to_vec()
    }
}

impl Drop for Udata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fault-injecting proxy in front of a server.
pub struct FaultProxy {
    child: Child,
    _dir: tempfile::TempDir,
    pub base_url: String,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_with(upstream, None)
    }

    /// A proxy that also appends every request it receives (method, target, headers, body) to
    /// `record`; the API key header is recorded by name only.
    pub fn start_recording(upstream: &str, record: &Path) -> FaultProxy {
        FaultProxy::start_with(upstream, Some(record))
    }

    fn start_with(upstream: &str, record: Option<&Path>) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("proxy.json");
        let log = dir.path().join("proxy.log");
        let mut args = vec![script("faultproxy.py").into_os_string(), upstream.into(), info.clone().into_os_string()];
        args.extend(record.map(|r| r.as_os_str().to_owned()));
        let mut child = spawn(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>(), &log);
        let v = wait_for_info(&mut child, &info, &log, "the fault proxy");
        FaultProxy { base_url: v["base_url"].as_str().unwrap().to_owned(), child, _dir: dir }
    }

    /// Replace the rules (see faultproxy.py): {method, path, fault, status, seconds, skip, times}.
    pub fn set_rules(&self, rules: Value) {
        let response = reqwest::blocking::Client::new().put(format!("{}/__proxy__/rules", self.base_url)).json(&rules).send().unwrap();
        assert!(response.status().is_success());
    }

    /// The faults injected so far.
    pub fn fired(&self) -> Vec<Value> {
        reqwest::blocking::get(format!("{}/__proxy__/fired", self.base_url)).unwrap().json::<Vec<Value>>().unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
