//! Deliver: the sensitive extracts of DREES, the Health Data Hub and any other configured
//! recipient. For each recipient, the newest complete release of its audience (written by `build`
//! under `<out>/releases/<audience>/`, disclosed with that audience's policy and pseudonymised with
//! its own key) is packed and encrypted to the recipient's age key (`package.rs`), sent to its
//! outbox or SFTP drop box (`outbox.rs`, `sftp.rs`) with retries, and every attempt is written to
//! the hash-chained audit log, with a receipt for each delivery (`audit.rs`).
//!
//! Files, under `<out>/deliveries/`: `audit.jsonl`, and per recipient the package
//! `<recipient>-<version>.tar.age` and its receipt `<recipient>-<version>.receipt.json`. A release
//! with a receipt is not sent again; a failed delivery is resumed by running `deliver` again.

pub mod audit;
pub mod config;
pub mod outbox;
pub mod package;
pub mod sftp;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};

use audit::{AuditEntry, AuditFile};
use config::{Recipient, Target};
use package::Package;

/// Errors of the delivery stage. None carries a secret: keys appear by id, targets by host, user
/// and folder.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("recipient {recipient}: no complete release of audience {audience} in {dir}: run `ror-opendata run` (or `build`) first")]
    NoRelease { recipient: String, audience: String, dir: String },
    #[error("package {path}: {message}")]
    Package { path: String, message: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("audit log {path}: {message}")]
    Audit { path: String, message: String },
    #[error("delivery of {package} to {recipient} ({target}) failed after {attempts} attempt(s): {reason}. Every attempt is in {log}; no file has the final name unless it is complete. Rerun `ror-opendata deliver --recipient {recipient}` once the cause is fixed")]
    Transfer { recipient: String, package: String, target: String, attempts: u32, reason: String, log: String },
}

impl DeliverError {
    /// True when the configuration, not the transfer, is at fault.
    pub fn is_configuration(&self) -> bool {
        matches!(self, DeliverError::Config(_))
    }
}

/// What one recipient's delivery did.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub recipient: String,
    /// `<publication>/<version>`
    pub release: String,
    pub package: Package,
    pub target: String,
    pub status: DeliveryStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Sent now; the receipt is at this path.
    Delivered { remote_bytes: u64, receipt: PathBuf },
    /// A receipt already exists for this release: nothing sent.
    AlreadyDelivered { receipt: PathBuf },
    /// `--dry-run`: the package was made and checked, nothing sent or logged.
    DryRun,
}

/// The folder of packages, receipts and the audit log.
pub fn deliveries_dir(out_dir: &Path) -> PathBuf {
    out_dir.join("deliveries")
}

/// The audit log of an output folder.
pub fn audit_log(out_dir: &Path) -> PathBuf {
    deliveries_dir(out_dir).join(audit::LOG_FILE)
}

/// Deliver the newest release of each recipient (all of them, or only `only`). Every recipient is
/// tried even when one fails; the first failure is returned after the others ran.
pub fn deliver(config: &crate::config::Config, out_dir: &Path, only: Option<&str>, dry_run: bool) -> Result<Vec<Delivery>, DeliverError> {
    let recipients = config::recipients(&config.recipients, out_dir).map_err(DeliverError::Config)?;
    if let Some(name) = only {
        if !recipients.iter().any(|r| r.name == name) {
            let known: Vec<&str> = recipients.iter().map(|r| r.name.as_str()).collect();
            return Err(DeliverError::Config(format!("no recipient {name}: the configured ones are {}", known.join(", "))));
        }
    }
    let mut done = Vec::new();
    let mut first_error = None;
    for recipient in recipients.iter().filter(|r| only.is_none_or(|o| o == r.name)) {
        match deliver_one(recipient, out_dir, dry_run) {
            Ok(d) => done.push(d),
            // The first failure ends the command with its message; later ones are logged here.
            Err(e) if first_error.is_some() => tracing::error!(recipient = %recipient.name, "{e}"),
            Err(e) => first_error = Some(e),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

fn deliver_one(recipient: &Recipient, out_dir: &Path, dry_run: bool) -> Result<Delivery, DeliverError> {
    let publication_dir = out_dir.join("releases").join(&recipient.audience);
    let no_release = || DeliverError::NoRelease { recipient: recipient.name.clone(), audience: recipient.audience.clone(), dir: publication_dir.display().to_string() };
    let version = crate::release::latest_version(&publication_dir).ok_or_else(no_release)?;
    let release_dir = publication_dir.join(&version);
    let release = crate::release::previous::load(&release_dir).map_err(|_| no_release())?;
    let (age_recipient, development_identity) = match &recipient.age_recipient {
        Some(k) => (k.clone(), false),
        None => (package::development_recipient(out_dir, &recipient.name)?, true),
    };
    let release_name = format!("{}/{version}", release.manifest.publication);
    let recipient_dir = deliveries_dir(out_dir).join(&recipient.name);
    let file_name = package::file_name(&recipient.name, &version);
    let receipt = recipient_dir.join(file_name.replace(".tar.age", ".receipt.json"));
    let target = recipient.target.describe();
    // After a key rotation, the correspondence old → new pseudonym, for authorised recipients only.
    let correspondence = Some(out_dir.join("correspondence").join(&recipient.audience).join(format!("{version}.csv"))).filter(|p| recipient.correspondence && p.exists());

    if dry_run {
        let scratch = std::env::temp_dir().join(format!("ror-opendata-deliver-dry-run-{}", std::process::id()));
        let made = package::make(&release_dir, &recipient.name, &version, &age_recipient, correspondence.as_deref(), &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        let package = made?;
        tracing::info!(recipient = %recipient.name, release = %release_name, bytes = package.bytes, target = %target, "dry run: package made, nothing sent");
        return Ok(Delivery { recipient: recipient.name.clone(), release: release_name, package, target, status: DeliveryStatus::DryRun });
    }
    let package = package::make(&release_dir, &recipient.name, &version, &age_recipient, correspondence.as_deref(), &recipient_dir)?;
    let mut files = vec![AuditFile { name: package.file_name.clone(), bytes: package.bytes, sha256: package.sha256.clone() }];
    if let Some(table) = &correspondence {
        let (bytes, sha256) = crate::release::sha256_file(table).map_err(|e| DeliverError::Package { path: table.display().to_string(), message: e.to_string() })?;
        files.push(AuditFile { name: format!("{}/{}", package.file_name, package::CORRESPONDENCE_FILE), bytes, sha256 });
    }
    if receipt.exists() {
        tracing::info!(recipient = %recipient.name, release = %release_name, receipt = %receipt.display(), "already delivered");
        return Ok(Delivery { recipient: recipient.name.clone(), release: release_name, package, target, status: DeliveryStatus::AlreadyDelivered { receipt } });
    }

    let log = audit_log(out_dir);
    let entry = |attempt: u32, result: &str, error: Option<String>| AuditEntry {
        sequence: 0,
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        recipient: recipient.name.clone(),
        audience: recipient.audience.clone(),
        release: release_name.clone(),
        manifest_sha256: release.manifest_sha256.clone(),
        target: target.clone(),
        attempt,
        result: result.to_owned(),
        error,
        files: files.clone(),
        keys: release.manifest.keys.clone(),
        encrypted_to: age_recipient.clone(),
        development: development_identity || release.manifest.development_keys,
        previous_sha256: String::new(),
        entry_sha256: None,
    };
    let mut reason = String::new();
    for attempt in 1..=recipient.attempts {
        tracing::info!(recipient = %recipient.name, release = %release_name, attempt, target = %target, bytes = package.bytes, "delivering");
        let sent = match &recipient.target {
            Target::Outbox(dir) => outbox::send(dir, &package),
            Target::Sftp(s) => sftp::send(s, &package),
        };
        match sent {
            Ok(remote_bytes) => {
                let written = audit::append(&log, entry(attempt, "delivered", None))?;
                audit::write_receipt(&receipt, &written, remote_bytes)?;
                tracing::info!(recipient = %recipient.name, release = %release_name, remote_bytes, receipt = %receipt.display(), "delivered");
                return Ok(Delivery { recipient: recipient.name.clone(), release: release_name, package, target, status: DeliveryStatus::Delivered { remote_bytes, receipt } });
            }
            Err(e) => {
                tracing::warn!(recipient = %recipient.name, attempt, attempts = recipient.attempts, "delivery attempt failed: {e}");
                audit::append(&log, entry(attempt, "failed", Some(e.clone())))?;
                reason = e;
                if attempt < recipient.attempts && recipient.retry_delay_seconds > 0 {
                    std::thread::sleep(std::time::Duration::from_secs(recipient.retry_delay_seconds));
                }
            }
        }
    }
    Err(DeliverError::Transfer {
        recipient: recipient.name.clone(),
        package: package.file_name.clone(),
        target,
        attempts: recipient.attempts,
        reason,
        log: log.display().to_string(),
    })
}
