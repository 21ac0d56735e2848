//! The manifest's signature: minisign format (Ed25519 over the BLAKE2b-512 of manifest.json), so
//! anyone checks it with the stock tool: `minisign -Vm manifest.json -p signing.pub`. The trusted
//! comment names publication and version, so a signature cannot be moved to another release.
//!
//! minisign adds random bytes to each signature (hedged Ed25519), so the `.minisig` file is the one
//! file of a release that is not byte-identical between two builds; it is outside the manifest and
//! SHA256SUMS, which it signs.

use std::io::Cursor;

use minisign::{PublicKeyBox, SignatureBox};

use crate::keys::SigningKey;

pub const SIGNATURE_FILE: &str = "manifest.json.minisig";
pub const PUBLIC_KEY_FILE: &str = "signing.pub";
pub const ALGORITHM: &str = "minisign (Ed25519, prehashed BLAKE2b-512)";
/// Fixed, so that any change to the signature file's first line is detected too.
pub const UNTRUSTED_COMMENT: &str = "signature from ror-opendata";

/// The trusted comment of a release's signature.
pub fn trusted_comment(publication: &str, version: &str) -> String {
    format!("ror-opendata publication={publication} version={version} file=manifest.json")
}

/// Sign the manifest's bytes; returns the `.minisig` text.
pub fn sign(key: &SigningKey, manifest: &[u8], publication: &str, version: &str) -> Result<String, String> {
    let signature = minisign::sign(Some(&key.public), &key.secret, Cursor::new(manifest), Some(&trusted_comment(publication, version)), Some(UNTRUSTED_COMMENT))
        .map_err(|e| format!("signing failed: {e}"))?;
    Ok(signature.into_string())
}

/// Check a `.minisig` text against the manifest bytes and a public key file's text; Err says why.
pub fn check(signature_text: &str, manifest: &[u8], public_key_text: &str, publication: &str, version: &str) -> Result<(), String> {
    let public = PublicKeyBox::from_string(public_key_text).and_then(|b| b.into_public_key()).map_err(|e| format!("the public key cannot be read: {e}"))?;
    let signature = SignatureBox::from_string(signature_text).map_err(|e| format!("the signature cannot be read: {e}"))?;
    // A byte changed where minisign would not look (non-canonical encoding, comment line) still
    // makes the file differ from what we wrote.
    if signature.to_string() != signature_text {
        return Err("the signature file is not in canonical minisign form (altered)".into());
    }
    if signature.untrusted_comment().map_err(|e| e.to_string())? != UNTRUSTED_COMMENT {
        return Err("the signature's comment line was altered".into());
    }
    minisign::verify(&public, &signature, Cursor::new(manifest), true, false, false).map_err(|e| format!("the signature does not match: {e}"))?;
    let expected = trusted_comment(publication, version);
    let trusted = signature.trusted_comment().map_err(|e| e.to_string())?;
    if trusted != expected {
        return Err(format!("the signature was made for another release ({trusted:?}, expected {expected:?})"));
    }
    Ok(())
}
