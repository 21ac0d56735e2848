//! Key files on disk: the master secret (64 hex characters), the epochs of each audience, and the
//! key folder that `keys init` creates with owner-only permissions.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use rand::TryRngCore;

use super::{signing, KeyError};

pub const MASTER_FILE: &str = "master.key";
pub const EPOCHS_FILE: &str = "epochs.toml";
pub const SIGNING_SECRET_FILE: &str = "signing.key";
pub const SIGNING_PUBLIC_FILE: &str = "signing.pub";

fn file_error(path: &Path, message: impl Into<String>) -> KeyError {
    KeyError::File { path: path.display().to_string(), message: message.into() }
}

/// Write a secret file readable by its owner only, created exclusively (never overwriting).
pub(super) fn write_secret(path: &Path, content: &[u8]) -> Result<(), KeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| file_error(path, format!("cannot create: {e}")))?;
    file.write_all(content).and_then(|_| file.sync_all()).map_err(|e| file_error(path, format!("cannot write: {e}")))
}

/// Create a folder for keys, owner-only.
fn create_dir(dir: &Path) -> Result<(), KeyError> {
    fs::create_dir_all(dir).map_err(|e| file_error(dir, format!("cannot create: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| file_error(dir, format!("cannot restrict: {e}")))?;
    }
    Ok(())
}

/// A new 256-bit master secret from the operating system's generator.
pub(super) fn create_master(dir: &Path) -> Result<(), KeyError> {
    create_dir(dir)?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut secret).map_err(|e| file_error(dir, format!("no randomness from the system: {e}")))?;
    let hex = crate::sha256::hex(&secret);
    write_secret(&dir.join(MASTER_FILE), format!("{hex}\n").as_bytes())
}

/// Read a master secret: exactly 64 hex characters (256 bits). The message never quotes the file.
pub(super) fn read_master(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = fs::read_to_string(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(file_error(path, "must hold 64 hexadecimal characters (a 256-bit secret)"));
    }
    let mut master = [0u8; 32];
    for (i, byte) in master.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| file_error(path, "must hold hexadecimal characters"))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the master key file is readable by others than its owner: chmod 600 it");
            }
        }
    }
    Ok(master)
}

/// Audience → current epoch; a missing file means every audience is at epoch 1.
pub(super) fn read_epochs(path: &Path) -> Result<BTreeMap<String, u32>, KeyError> {
    match fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| file_error(path, format!("invalid: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(file_error(path, format!("cannot read: {e}"))),
    }
}

/// `keys init`: a new master secret and a new signing key pair in `dir`, refusing to overwrite.
pub fn init_key_dir(dir: &Path) -> Result<(), KeyError> {
    for name in [MASTER_FILE, SIGNING_SECRET_FILE, SIGNING_PUBLIC_FILE] {
        if dir.join(name).exists() {
            return Err(KeyError::Exists { path: dir.display().to_string() });
        }
    }
    create_master(dir)?;
    signing::create_signing_pair(dir)
}

/// `keys rotate`: start the next epoch for an audience; returns the new epoch.
pub fn rotate(master_path: &Path, audience: &str) -> Result<u32, KeyError> {
    read_master(master_path)?;
    let path = master_path.with_file_name(EPOCHS_FILE);
    let mut epochs = read_epochs(&path)?;
    let next = epochs.get(audience).copied().unwrap_or(1) + 1;
    epochs.insert(audience.to_owned(), next);
    let text = toml::to_string(&epochs).map_err(|e| file_error(&path, e.to_string()))?;
    let temp = path.with_extension("toml.tmp");
    fs::write(&temp, format!("# Current pseudonym key epoch of each audience (ror-opendata keys rotate).\n{text}")).map_err(|e| file_error(&temp, e.to_string()))?;
    fs::rename(&temp, &path).map_err(|e| file_error(&path, e.to_string()))?;
    Ok(next)
}
