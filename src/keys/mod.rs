//! Keys: the master secret from which every audience's pseudonymisation key is derived (HKDF-SHA-256,
//! one key per audience and epoch, so pseudonyms of DREES, of the Health Data Hub and of the open
//! data cannot be joined), and the minisign key pair that signs manifests.
//!
//! Production keys come from files (`keys init` makes them; ROR_OPENDATA_MASTER_KEY_FILE and
//! ROR_OPENDATA_SIGNING_KEY_FILE or `[keys] dir` name them). Without them, development keys are
//! created under `<out>/keys/` and every release built with them says so in its manifest: such a
//! release is not for publication. Secrets never reach a log, an output or an error message: the
//! types holding them print as "[redacted]".

mod files;
mod signing;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::release::manifest::KeyRecord;
use crate::sha256::{hkdf_32, HmacKey};

pub use files::{init_key_dir, rotate, EPOCHS_FILE, MASTER_FILE, SIGNING_PUBLIC_FILE, SIGNING_SECRET_FILE};
pub use signing::{load_signing_key, SigningKey};

/// Environment variables that name key files (they win over the configuration).
pub const MASTER_KEY_ENV: &str = "ROR_OPENDATA_MASTER_KEY_FILE";
pub const SIGNING_KEY_ENV: &str = "ROR_OPENDATA_SIGNING_KEY_FILE";
/// The pseudonym algorithm, as recorded in manifests.
pub const PSEUDONYM_ALGORITHM: &str = "HMAC-SHA-256, key = HKDF-SHA-256(master, info = ror-opendata/pseudonym/<audience>/epoch-<n>)";
const HKDF_SALT: &[u8] = b"ror-opendata pseudonym keys v1";

/// Errors about keys. They name files, never their content.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {message}")]
    File { path: String, message: String },
    #[error("key folder {path} already holds keys; refusing to overwrite them (rotate pseudonym keys with `keys rotate`)")]
    Exists { path: String },
    #[error("signing key {path}: {message}")]
    Signing { path: String, message: String },
}

/// One audience's pseudonymisation key at one epoch.
pub struct AudienceKey {
    pub audience: String,
    pub epoch: u32,
    /// Derived from the key by a one-way function: names the key without revealing it.
    pub key_id: String,
    /// HMAC-SHA-256 already keyed with the secret (its pads hashed once, not per pseudonym).
    keyed: HmacKey,
}

impl fmt::Debug for AudienceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudienceKey").field("audience", &self.audience).field("epoch", &self.epoch).field("key_id", &self.key_id).field("secret", &"[redacted]").finish()
    }
}

impl AudienceKey {
    /// HMAC-SHA-256 of an already canonicalised input.
    pub fn mac(&self, canonical_input: &[u8]) -> [u8; 32] {
        self.keyed.mac(canonical_input)
    }

    /// What the manifest records of this key.
    pub fn record(&self) -> KeyRecord {
        KeyRecord { audience: self.audience.clone(), key_id: self.key_id.clone(), epoch: self.epoch, algorithm: PSEUDONYM_ALGORITHM.to_owned() }
    }
}

/// The master secret and the current epoch of each audience.
pub struct Keyring {
    master: [u8; 32],
    epochs: BTreeMap<String, u32>,
    development: bool,
    /// Where the master secret was read from (a path, for messages).
    pub origin: PathBuf,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("origin", &self.origin).field("epochs", &self.epochs).field("development", &self.development).field("master", &"[redacted]").finish()
    }
}

impl Keyring {
    /// A keyring from raw parts (tests and known-answer vectors).
    pub fn from_master(master: [u8; 32], epochs: BTreeMap<String, u32>, development: bool) -> Keyring {
        Keyring { master, epochs, development, origin: PathBuf::from("(in memory)") }
    }

    /// The audience's key at its current epoch (1 until the first rotation).
    pub fn audience_key(&self, audience: &str) -> AudienceKey {
        self.audience_key_at(audience, self.epoch(audience))
    }

    /// The audience's current epoch.
    pub fn epoch(&self, audience: &str) -> u32 {
        self.epochs.get(audience).copied().unwrap_or(1)
    }

    /// The audience's key at a given epoch (to translate pseudonyms across a rotation).
    pub fn audience_key_at(&self, audience: &str, epoch: u32) -> AudienceKey {
        let info = format!("ror-opendata/pseudonym/{audience}/epoch-{epoch}");
        let secret = hkdf_32(HKDF_SALT, &self.master, info.as_bytes());
        let key_id = key_id(&secret);
        let keyed = HmacKey::new(&secret);
        AudienceKey { audience: audience.to_owned(), epoch, key_id, keyed }
    }

    /// True when the master secret is a development key (the release is not for publication).
    pub fn is_development(&self) -> bool {
        self.development
    }
}

/// A key's public name: the first 8 bytes of HMAC(key, "key id"), in hex.
fn key_id(secret: &[u8; 32]) -> String {
    crate::sha256::hex(&HmacKey::new(secret).mac(b"ror-opendata key id")[..8])
}

/// Where keys are for this run: the configured folder, or `<out>/keys` for development keys.
fn key_dir(config: &Config, out_dir: &Path) -> (PathBuf, bool) {
    match &config.keys.dir {
        Some(dir) => (dir.clone(), false),
        None => (out_dir.join("keys"), true),
    }
}

/// Load the master secret and epochs: ROR_OPENDATA_MASTER_KEY_FILE, else `[keys] dir`, else
/// development keys under `<out>/keys` (created on first use, with a warning).
pub fn load_keyring(config: &Config, out_dir: &Path) -> Result<Keyring, KeyError> {
    let (path, development) = match std::env::var_os(MASTER_KEY_ENV) {
        Some(p) => (PathBuf::from(p), false),
        None => {
            let (dir, development) = key_dir(config, out_dir);
            if development && !dir.join(MASTER_FILE).exists() {
                tracing::warn!(dir = %dir.display(), "no pseudonymisation key configured: creating development keys; releases built with them are not for publication");
                files::create_master(&dir)?;
            }
            (dir.join(MASTER_FILE), development)
        }
    };
    let master = files::read_master(&path)?;
    let epochs = files::read_epochs(&path.with_file_name(EPOCHS_FILE))?;
    Ok(Keyring { master, epochs, development, origin: path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_and_epochs_get_different_keys_and_ids() {
        let ring = Keyring::from_master([7u8; 32], BTreeMap::new(), true);
        let public = ring.audience_key("public");
        let drees = ring.audience_key("drees");
        let public2 = ring.audience_key_at("public", 2);
        assert_ne!(public.mac(b"810001234567"), drees.mac(b"810001234567"));
        assert_ne!(public.mac(b"810001234567"), public2.mac(b"810001234567"));
        assert_eq!(public.mac(b"x"), ring.audience_key("public").mac(b"x"));
        assert_ne!(public.key_id, drees.key_id);
        assert_eq!(public.key_id.len(), 16);
        assert!(!format!("{public:?} {ring:?}").contains("7, 7"));
    }

    #[test]
    fn known_answer() {
        // HKDF-SHA-256 and HMAC-SHA-256 over a fixed master: pins the derivation for good.
        let ring = Keyring::from_master([0x42; 32], BTreeMap::new(), false);
        let key = ring.audience_key("public");
        let mac = crate::sha256::hex(&key.mac(b"810001234567"));
        assert_eq!(key.epoch, 1);
        assert_eq!((key.key_id.as_str(), &mac[..16]), KNOWN);
    }

    /// Computed independently with Python's hmac and hashlib (RFC 5869 HKDF by hand).
    const KNOWN: (&str, &str) = ("c5e55a2859f2675f", "3fc1c13ce459d40f");
}
