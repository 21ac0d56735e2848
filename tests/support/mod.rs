//! Shared helpers for the integration tests: run the real binary, snapshot a folder tree's bytes,
//! find the Python readers installed by scripts/test.

#![allow(dead_code)]

pub mod sshd;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_ror-opendata");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_dir() -> PathBuf {
    repo().join("datasets/sample")
}

/// Run the binary with arguments; the log goes to the captured stderr.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("ROR_OPENDATA_LOG").output().expect("the binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "ror-opendata {args:?} failed ({:?}):\n{}\n{}", o.status.code(), stdout(&o), stderr(&o));
    stdout(&o)
}

/// Every file under `root` (relative path → bytes); symlinks are recorded as "-> target".
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(relative, format!("-> {}", fs::read_link(&path).unwrap().display()).into_bytes());
            } else if meta.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

/// The Python with pyarrow, DuckDB and frictionless that scripts/test installs.
pub fn python() -> PathBuf {
    let path = std::env::var_os("ROR_OPENDATA_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        panic!("ROR_OPENDATA_PYTHON is not set: run the tests with scripts/test, which installs pyarrow, duckdb and frictionless")
    });
    assert!(path.exists(), "ROR_OPENDATA_PYTHON={} does not exist", path.display());
    path
}

/// The release folder `latest` names under `<out>/releases/public`.
pub fn latest_release(out: &Path) -> PathBuf {
    let public = out.join("releases/public");
    let target = fs::read_link(public.join("latest")).expect("latest exists");
    public.join(target)
}

/// Copy a folder tree (files only).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// A key folder made by `keys init`, and a configuration file pointing at it: two builds with the
/// same keys give the same bytes (except the hedged signature).
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

pub fn shared_keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    ok(&["keys", "init", "--dir", keys.to_str().unwrap()]);
    let config = dir.path().join("ror-opendata.toml");
    fs::write(&config, format!("[keys]\ndir = \"{}\"\n", keys.display())).unwrap();
    Keys { dir, config }
}

/// The tree without the signature files, whose bytes are randomised by design (hedged Ed25519).
pub fn tree_without_signatures(root: &Path) -> BTreeMap<String, Vec<u8>> {
    tree(root).into_iter().filter(|(path, _)| !path.ends_with(".minisig")).collect()
}

/// A night's snapshot: the sample with its instant moved and some edits applied.
pub fn night(work: &Path, n: usize, edit: impl FnOnce(&Path)) -> PathBuf {
    let dir = work.join(format!("snapshot-{n}"));
    copy_tree(&sample_dir(), &dir);
    fs::write(dir.join("snapshot-info.json"), format!("{{\"taken_at\": \"2026-11-{:02}T02:00:00Z\"}}", 24 + n)).unwrap();
    edit(&dir);
    dir
}

pub fn edit_json(path: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let text = fs::read_to_string(path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    change(&mut value);
    fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

pub const VILLE: &str = "ans-ig/HealthcareService-ror-healthcareservice-exemple-ville.json";
pub const PLACE: &str = "ans-ig/Location-ror-location-exemple.json";

pub fn rename_ville(dir: &Path) {
    edit_json(&dir.join(VILLE), |v| v["name"] = "Cabinet du Dr Julie JOURDIN (Versailles)".into());
}

pub fn remove_place_add_offer(dir: &Path) {
    rename_ville(dir);
    fs::remove_file(dir.join(PLACE)).unwrap();
    fs::write(
        dir.join("new-offer.json"),
        r#"{"resourceType":"HealthcareService","id":"nouvelle-offre","meta":{"lastUpdated":"2026-11-26T10:00:00+01:00"},
            "extension":[{"url":"https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-sensitive-unit","valueBoolean":false}],
            "providedBy":{"reference":"Organization/4947"},"location":[{"reference":"Location/1215"}],"name":"Nouvelle offre de ville",
            "type":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite","code":"05","display":"Ambulatoire"}]}]}"#,
    )
    .unwrap();
}


/// Every spelling of a 32-byte secret a careless line could print (hex in both cases, its first
/// half, base64): the leak tests search outputs for each.
pub fn secret_forms(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![hex.to_uppercase(), hex[..32].to_owned(), base64(secret), hex]
}

/// Standard base64 with padding (one function; no crate for it).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}
