//! What the operator writes about each recipient of a sensitive extract, under `[recipients.<name>]`
//! in ror-opendata.toml:
//!
//! ```toml
//! [recipients.drees]
//! audience = "drees"                          # the disclosure policy, and the release delivered
//! age_recipient = "age1…"                     # the recipient's X25519 public key (or age_recipient_file)
//! [recipients.drees.sftp]
//! host = "sftp.drees.example"
//! port = 22
//! user = "ror"
//! identity_file = "/etc/ror-opendata/keys/sftp_ed25519"   # our private key, never their secret
//! known_hosts = "/etc/ror-opendata/known_hosts"          # their host key, pinned
//! remote_dir = "/depot/ror"
//! ```
//!
//! or `outbox = "<folder>"` instead of `[…sftp]`: the package is dropped in a local folder (a mount,
//! a folder another tool collects). With no `[recipients]` at all, drees and hdh each get an outbox
//! under `<out>/outbox/` and an age key generated under `<out>/keys/` — a development setup that
//! needs no network and no secret; deliveries made with it are marked as such.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One recipient of sensitive extracts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecipientConfig {
    /// The audience whose release is delivered (its policy decided the tables); the recipient's own
    /// name when absent.
    pub audience: Option<String>,
    /// The recipient's age X25519 public key (`age1…`). Public, so it may sit in the file.
    pub age_recipient: Option<String>,
    /// A file holding the public key instead (what `age-keygen -y` prints).
    pub age_recipient_file: Option<PathBuf>,
    /// Drop the package in this local folder.
    pub outbox: Option<PathBuf>,
    /// Send the package over SFTP.
    pub sftp: Option<SftpTarget>,
    /// Transfer attempts before giving up (each is in the audit log); 3 when absent.
    pub attempts: Option<u32>,
    /// Seconds between attempts; 30 when absent.
    pub retry_delay_seconds: Option<u64>,
    /// Authorised to receive, after a rotation of the audience's pseudonym key, the correspondence
    /// old → new pseudonym (inside the encrypted package); false when absent.
    pub correspondence: Option<bool>,
}

/// An SFTP drop box, reached with the system OpenSSH client in batch mode.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SftpTarget {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    /// Our private key for this recipient (owner-only permissions, as ssh requires).
    pub identity_file: PathBuf,
    /// The recipient's host key(s), pinned: an unknown or changed host key stops the delivery.
    pub known_hosts: PathBuf,
    /// Where packages go on their side; "." (the login or chroot folder) when absent.
    #[serde(default = "default_remote_dir")]
    pub remote_dir: String,
}

fn default_port() -> u16 {
    22
}

fn default_remote_dir() -> String {
    ".".into()
}

/// Where a recipient's packages go.
#[derive(Debug, Clone)]
pub enum Target {
    Outbox(PathBuf),
    Sftp(SftpTarget),
}

impl Target {
    /// How the audit log and messages name it (no secret in it: host, user, folder).
    pub fn describe(&self) -> String {
        match self {
            Target::Outbox(dir) => format!("outbox {}", dir.display()),
            Target::Sftp(s) => format!("sftp://{}@{}:{}/{}", s.user, s.host, s.port, s.remote_dir.trim_start_matches('/')),
        }
    }
}

/// A recipient with every default filled in.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub name: String,
    pub audience: String,
    /// The age public key, or None: a development key under `<out>/keys/` is used.
    pub age_recipient: Option<String>,
    pub target: Target,
    pub attempts: u32,
    pub retry_delay_seconds: u64,
    pub correspondence: bool,
}

/// The recipients of the run: those configured, or the development defaults (drees and hdh into
/// `<out>/outbox/<name>`) when there are none.
pub fn recipients(configured: &BTreeMap<String, RecipientConfig>, out_dir: &Path) -> Result<Vec<Recipient>, String> {
    if configured.is_empty() {
        return Ok(["drees", "hdh"]
            .iter()
            .map(|name| Recipient {
                name: (*name).to_owned(),
                audience: (*name).to_owned(),
                age_recipient: None,
                target: Target::Outbox(out_dir.join("outbox").join(name)),
                attempts: 1,
                retry_delay_seconds: 0,
                correspondence: false,
            })
            .collect());
    }
    configured.iter().map(|(name, c)| resolve(name, c)).collect()
}

fn resolve(name: &str, c: &RecipientConfig) -> Result<Recipient, String> {
    if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
        return Err(format!("[recipients.{name}]: a recipient name is letters, digits, - and _ (it names files)"));
    }
    let target = match (&c.outbox, &c.sftp) {
        (Some(dir), None) => Target::Outbox(dir.clone()),
        (None, Some(s)) => Target::Sftp(s.clone()),
        (Some(_), Some(_)) => return Err(format!("[recipients.{name}]: give either outbox or [recipients.{name}.sftp], not both")),
        (None, None) => return Err(format!("[recipients.{name}]: no target: give outbox = \"<folder>\" or [recipients.{name}.sftp]")),
    };
    let age_recipient = match (&c.age_recipient, &c.age_recipient_file) {
        (Some(k), None) => Some(k.trim().to_owned()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("[recipients.{name}] age_recipient_file {}: {e}", path.display()))?;
            let key = text.lines().map(str::trim).find(|l| l.starts_with("age1")).ok_or_else(|| format!("[recipients.{name}] age_recipient_file {}: no age1… public key in it", path.display()))?;
            Some(key.to_owned())
        }
        (Some(_), Some(_)) => return Err(format!("[recipients.{name}]: give either age_recipient or age_recipient_file, not both")),
        (None, None) => return Err(format!("[recipients.{name}]: no age_recipient: the recipient's age public key (age1…) is required to encrypt their extract")),
    };
    if let Some(k) = &age_recipient {
        k.parse::<age::x25519::Recipient>().map_err(|e| format!("[recipients.{name}] age_recipient: not an age X25519 public key: {e}"))?;
    }
    if c.attempts == Some(0) {
        return Err(format!("[recipients.{name}] attempts: at least 1"));
    }
    Ok(Recipient {
        name: name.to_owned(),
        audience: c.audience.clone().unwrap_or_else(|| name.to_owned()),
        age_recipient,
        target,
        attempts: c.attempts.unwrap_or(3),
        retry_delay_seconds: c.retry_delay_seconds.unwrap_or(30),
        correspondence: c.correspondence.unwrap_or(false),
    })
}

/// Rebase the relative paths of a recipient onto the configuration file's folder.
pub fn rebase(c: &mut RecipientConfig, base: &Path) {
    let rebase = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    if let Some(p) = c.outbox.as_mut() {
        rebase(p);
    }
    if let Some(p) = c.age_recipient_file.as_mut() {
        rebase(p);
    }
    if let Some(s) = c.sftp.as_mut() {
        rebase(&mut s.identity_file);
        rebase(&mut s.known_hosts);
    }
}
