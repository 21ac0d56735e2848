//! The minisign signing key pair: standard minisign files, so reusers check signatures with the stock
//! `minisign -V` and the published `signing.pub`. The secret key is stored unencrypted with
//! owner-only permissions, because a nightly job has nobody to type a password.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox};

use super::files::{write_secret, SIGNING_PUBLIC_FILE, SIGNING_SECRET_FILE};
use super::{key_dir, KeyError, SIGNING_KEY_ENV};
use crate::config::Config;

/// A loaded signing key pair.
pub struct SigningKey {
    pub secret: SecretKey,
    pub public: PublicKey,
    /// The public key file's text (untrusted comment line and key), as published.
    pub public_text: String,
    /// The key's id as minisign prints it (16 hex digits).
    pub key_id: String,
    pub development: bool,
    pub origin: PathBuf,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("key_id", &self.key_id).field("development", &self.development).field("origin", &self.origin).field("secret", &"[redacted]").finish()
    }
}

fn signing_error(path: &Path, message: impl fmt::Display) -> KeyError {
    KeyError::Signing { path: path.display().to_string(), message: message.to_string() }
}

/// Create `signing.key` (owner-only) and `signing.pub` in `dir`.
pub(super) fn create_signing_pair(dir: &Path) -> Result<(), KeyError> {
    let pair = KeyPair::generate_unencrypted_keypair().map_err(|e| signing_error(dir, e))?;
    let secret_box = pair.sk.to_box(Some("ror-opendata signing key (unencrypted, keep it private)")).map_err(|e| signing_error(dir, e))?;
    let public_box = pair.pk.to_box().map_err(|e| signing_error(dir, e))?;
    write_secret(&dir.join(SIGNING_SECRET_FILE), secret_box.into_string().as_bytes())?;
    let public_path = dir.join(SIGNING_PUBLIC_FILE);
    fs::write(&public_path, public_box.into_string()).map_err(|e| signing_error(&public_path, format!("cannot write: {e}")))
}

/// Load the signing key: ROR_OPENDATA_SIGNING_KEY_FILE (its `.pub` beside it), else `[keys] dir`,
/// else development keys under `<out>/keys` (created on first use).
pub fn load_signing_key(config: &Config, out_dir: &Path) -> Result<SigningKey, KeyError> {
    let (secret_path, development) = match std::env::var_os(SIGNING_KEY_ENV) {
        Some(p) => (PathBuf::from(p), false),
        None => {
            let (dir, development) = key_dir(config, out_dir);
            if development && !dir.join(SIGNING_SECRET_FILE).exists() {
                tracing::warn!(dir = %dir.display(), "no signing key configured: creating a development signing key; releases signed with it are not for publication");
                fs::create_dir_all(&dir).map_err(|e| signing_error(&dir, e))?;
                create_signing_pair(&dir)?;
            }
            (dir.join(SIGNING_SECRET_FILE), development)
        }
    };
    let public_path = secret_path.with_file_name(SIGNING_PUBLIC_FILE);
    let secret_text = fs::read_to_string(&secret_path).map_err(|e| signing_error(&secret_path, format!("cannot read: {e}")))?;
    // The crate's parse errors do not quote the key, but keep ours generic all the same.
    let secret = SecretKeyBox::from_string(&secret_text)
        .and_then(|b| b.into_unencrypted_secret_key())
        .map_err(|_| signing_error(&secret_path, "not an unencrypted minisign secret key (make one with `ror-opendata keys init`)"))?;
    let public_text = fs::read_to_string(&public_path).map_err(|e| signing_error(&public_path, format!("cannot read: {e}")))?;
    let public = PublicKeyBox::from_string(&public_text)
        .and_then(|b| b.into_public_key())
        .map_err(|e| signing_error(&public_path, format!("not a minisign public key: {e}")))?;
    if public.keynum() != secret.keynum() {
        return Err(signing_error(&public_path, "does not belong to the secret key beside it"));
    }
    let key_id = public.keynum().iter().rev().map(|b| format!("{b:02X}")).collect();
    Ok(SigningKey { secret, public, public_text, key_id, development, origin: secret_path })
}
