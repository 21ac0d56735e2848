//! The delivery audit log: append-only JSON lines, one per attempt (delivered or failed), each
//! naming the recipient, the release, the file sent with its size and sha256, the pseudonymisation
//! key id and epoch, the encryption key, the time and the result. Each line carries the sha256 of
//! its own content and the sha256 of the line before, so altering, removing or reordering any line
//! breaks the chain, and `verify` says which line. A successful delivery also leaves a receipt: the
//! line that records it, in a file beside the package, which the operator can hand to the recipient
//! or to an auditor (it pins the log's state at that point).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DeliverError;
use crate::release::manifest::KeyRecord;

/// The log's file name under `<out>/deliveries/`.
pub const LOG_FILE: &str = "audit.jsonl";
/// The `previous_sha256` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A file a delivery sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One attempt to deliver one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub sequence: u64,
    pub time: String,
    pub recipient: String,
    pub audience: String,
    /// `<publication>/<version>`
    pub release: String,
    /// sha256 of the release's manifest.json, which lists and hashes every file in the package.
    pub manifest_sha256: String,
    pub target: String,
    pub attempt: u32,
    /// "delivered" or "failed".
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub files: Vec<AuditFile>,
    /// The pseudonymisation keys of the release: id, epoch, algorithm (never a key).
    pub keys: Vec<KeyRecord>,
    /// The age public key the package is encrypted to.
    pub encrypted_to: String,
    /// Encrypted to a development identity, or built with development keys: not a real delivery.
    pub development: bool,
    pub previous_sha256: String,
    /// sha256 of this line serialised without this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_sha256: Option<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DeliverError + '_ {
    move |source| DeliverError::Io { path: path.display().to_string(), source }
}

/// The sha256 of an entry's content: its JSON line without `entry_sha256`.
fn content_sha256(line_without_hash: &str) -> String {
    crate::sha256::hex_digest(line_without_hash.as_bytes())
}

/// Append `entry` (its sequence, chain link and hash filled in here) and return it as written.
pub fn append(log: &Path, mut entry: AuditEntry) -> Result<AuditEntry, DeliverError> {
    if let Some(parent) = log.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let (sequence, previous) = match last_entry(log)? {
        Some(last) => (last.sequence + 1, last.entry_sha256.unwrap_or_default()),
        None => (1, GENESIS.to_owned()),
    };
    entry.sequence = sequence;
    entry.previous_sha256 = previous;
    entry.entry_sha256 = None;
    let content = serde_json::to_string(&entry).map_err(|e| DeliverError::Audit { path: log.display().to_string(), message: e.to_string() })?;
    entry.entry_sha256 = Some(content_sha256(&content));
    let line = serde_json::to_string(&entry).map_err(|e| DeliverError::Audit { path: log.display().to_string(), message: e.to_string() })?;
    let mut file = OpenOptions::new().create(true).append(true).open(log).map_err(io(log))?;
    file.write_all(format!("{line}\n").as_bytes()).map_err(io(log))?;
    file.sync_all().map_err(io(log))?;
    Ok(entry)
}

fn last_entry(log: &Path) -> Result<Option<AuditEntry>, DeliverError> {
    let text = match fs::read_to_string(log) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(log)(e)),
    };
    let Some(line) = text.lines().rev().find(|l| !l.trim().is_empty()) else { return Ok(None) };
    serde_json::from_str(line).map(Some).map_err(|e| DeliverError::Audit { path: log.display().to_string(), message: format!("its last line is not an audit entry ({e}); run `ror-opendata verify` on it") })
}

/// Every entry of the log, in order.
pub fn read(log: &Path) -> Result<Vec<AuditEntry>, DeliverError> {
    let text = fs::read_to_string(log).map_err(io(log))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| serde_json::from_str(l).map_err(|e| DeliverError::Audit { path: log.display().to_string(), message: format!("line {}: {e}", n + 1) }))
        .collect()
}

/// Check the log's hash chain: every line's own hash, every link to the line before, the sequence.
/// Returns the problems found, each naming the line; empty when the log is intact.
pub fn verify(log: &Path) -> Vec<String> {
    let name = log.display();
    let text = match fs::read_to_string(log) {
        Ok(t) => t,
        Err(e) => return vec![format!("{name}: cannot read: {e}")],
    };
    let mut problems = Vec::new();
    let mut previous = GENESIS.to_owned();
    let mut expected_sequence = 1u64;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            problems.push(format!("{name}: line {line_no} is empty (the log is append-only JSON lines)"));
            continue;
        }
        let mut value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{name}: line {line_no} is not JSON: {e}"));
                return problems;
            }
        };
        let recorded = value.as_object_mut().and_then(|o| o.remove("entry_sha256")).and_then(|v| v.as_str().map(str::to_owned));
        let Some(recorded) = recorded else {
            problems.push(format!("{name}: line {line_no} has no entry_sha256"));
            return problems;
        };
        let content = serde_json::to_string(&value).unwrap_or_default();
        let actual = content_sha256(&content);
        if actual != recorded {
            problems.push(format!("{name}: line {line_no} was altered: its content hashes to {actual}, the line records {recorded}"));
        }
        let link = value.get("previous_sha256").and_then(|v| v.as_str()).unwrap_or_default();
        if link != previous {
            problems.push(format!("{name}: chain broken at line {line_no}: it follows {link}, the line before hashes to {previous} (a line was removed, inserted or altered)"));
        }
        let sequence = value.get("sequence").and_then(|v| v.as_u64()).unwrap_or(0);
        if sequence != expected_sequence {
            problems.push(format!("{name}: line {line_no} has sequence {sequence}, expected {expected_sequence}"));
        }
        if serde_json::from_value::<AuditEntry>(value).is_err() {
            problems.push(format!("{name}: line {line_no} is not a complete audit entry"));
        }
        previous = recorded;
        expected_sequence = sequence + 1;
    }
    problems
}

/// The receipt of a delivery: the audit line that records it, pretty-printed, beside the package.
pub fn write_receipt(path: &Path, entry: &AuditEntry, remote_bytes: u64) -> Result<(), DeliverError> {
    let receipt = serde_json::json!({
        "receipt": "ror-opendata delivery",
        "recipient": entry.recipient,
        "release": entry.release,
        "target": entry.target,
        "time": entry.time,
        "files": entry.files,
        "remote_bytes": remote_bytes,
        "manifest_sha256": entry.manifest_sha256,
        "keys": entry.keys,
        "encrypted_to": entry.encrypted_to,
        "audit_log": LOG_FILE,
        "audit_sequence": entry.sequence,
        "audit_entry_sha256": entry.entry_sha256,
    });
    let text = serde_json::to_string_pretty(&receipt).unwrap_or_default() + "\n";
    let temp = path.with_extension("json.tmp");
    fs::write(&temp, text).map_err(io(&temp))?;
    fs::rename(&temp, path).map_err(io(path))
}
