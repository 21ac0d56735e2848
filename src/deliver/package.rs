//! The package of one recipient and release: the audience's release folder as written by the
//! release stage (tables in CSV and Parquet, Table Schemas, the disclosure report, the quality gate's
//! report, the manifest, SHA256SUMS and the manifest's signature — so the recipient checks it with
//! `sha256sum -c` and `minisign -V` exactly like the open data), packed into one tar and encrypted
//! with age to the recipient's X25519 key: `<recipient>-<version>.tar.age`, which the stock
//! `age -d -i <key>` decrypts.
//!
//! The tar is deterministic (sorted entries, fixed owner, modes and times) so its content is the
//! release byte for byte; the age layer is not (a fresh file key each time, as age requires). A
//! package already made for the same release and key is reused, so a retried or resumed delivery
//! sends the very same bytes and the audit log's sha256 stays the one the recipient receives.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;

use super::DeliverError;

/// File name of the development identity of a recipient under `<out>/keys/`.
pub fn development_identity_path(out_dir: &Path, recipient: &str) -> PathBuf {
    out_dir.join("keys").join(format!("age-{recipient}.key"))
}

/// The public key of the recipient's development identity, created (owner-only) on first use, in
/// the format `age-keygen` writes, so `age -d -i <file>` reads it.
pub fn development_recipient(out_dir: &Path, recipient: &str) -> Result<String, DeliverError> {
    let path = development_identity_path(out_dir, recipient);
    let io = |e: std::io::Error| DeliverError::Io { path: path.display().to_string(), source: e };
    if !path.exists() {
        tracing::warn!(recipient, identity = %path.display(), "no age public key configured for this recipient: encrypting to a development identity under out/keys (not for real deliveries)");
        fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
        let identity = age::x25519::Identity::generate();
        let text = format!("# ror-opendata development identity of recipient {recipient}: never use it for real data\n# public key: {}\n{}\n", identity.to_public(), identity.to_string().expose_secret());
        let temp = path.with_extension("key.tmp");
        write_owner_only(&temp, text.as_bytes()).map_err(io)?;
        fs::rename(&temp, &path).map_err(io)?;
    }
    let text = fs::read_to_string(&path).map_err(io)?;
    let identity: age::x25519::Identity = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| DeliverError::Package { path: path.display().to_string(), message: "holds no age identity (AGE-SECRET-KEY-…)".into() })?;
    Ok(identity.to_public().to_string())
}

fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A package on disk, ready to send.
#[derive(Debug, Clone)]
pub struct Package {
    pub path: PathBuf,
    /// `<recipient>-<version>.tar.age`
    pub file_name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The package file name of a recipient and release version.
pub fn file_name(recipient: &str, version: &str) -> String {
    format!("{recipient}-{version}.tar.age")
}

/// Inside a package, the name of the correspondence table of a key rotation (beside the release's
/// files, outside its SHA256SUMS: it is not part of the release).
pub const CORRESPONDENCE_FILE: &str = "correspondance-pseudonymes.csv";

/// Make (or reuse) the package of `release_dir` for `recipient`, encrypted to `age_recipient`, in
/// `packages_dir`, with the correspondence table of a key rotation when the recipient is authorised
/// (`correspondence`). Written under a temporary name and renamed, so a package under its final
/// name is always complete.
pub fn make(release_dir: &Path, recipient: &str, version: &str, age_recipient: &str, correspondence: Option<&Path>, packages_dir: &Path) -> Result<Package, DeliverError> {
    let file_name = file_name(recipient, version);
    let path = packages_dir.join(&file_name);
    let key_note = packages_dir.join(format!("{file_name}.recipient"));
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source: std::io::Error| DeliverError::Io { path: p.clone(), source }
    };
    if path.exists() && fs::read_to_string(&key_note).ok().as_deref().map(str::trim) == Some(age_recipient) {
        tracing::info!(package = %path.display(), "package already made for this release and key: reusing it");
        return describe(path, file_name);
    }
    let key: age::x25519::Recipient = age_recipient.parse().map_err(|e| DeliverError::Package { path: file_name.clone(), message: format!("the recipient key is not an age X25519 public key: {e}") })?;
    fs::create_dir_all(packages_dir).map_err(io(packages_dir))?;
    let temp = packages_dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let written = (|| -> Result<(), DeliverError> {
        let file = File::create(&temp).map_err(io(&temp))?;
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&key as &dyn age::Recipient)).map_err(|e| DeliverError::Package { path: file_name.clone(), message: format!("age: {e}") })?;
        let encrypted = encryptor.wrap_output(BufWriter::new(file)).map_err(io(&temp))?;
        let mut archive = tar::Builder::new(encrypted);
        let root = format!("{recipient}-{version}");
        append_tree(&mut archive, release_dir, release_dir, &root)?;
        if let Some(table) = correspondence {
            let file = File::open(table).map_err(io(table))?;
            let mut header = fixed_header(tar::EntryType::Regular, 0o600, file.metadata().map_err(io(table))?.len());
            archive.append_data(&mut header, format!("{root}/{CORRESPONDENCE_FILE}"), file).map_err(io(table))?;
        }
        let encrypted = archive.into_inner().map_err(io(&temp))?;
        let buffered = encrypted.finish().map_err(io(&temp))?;
        let file = buffered.into_inner().map_err(|e| DeliverError::Io { path: temp.display().to_string(), source: e.into_error() })?;
        file.sync_all().map_err(io(&temp))
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    fs::rename(&temp, &path).map_err(io(&path))?;
    fs::write(&key_note, format!("{age_recipient}\n")).map_err(io(&key_note))?;
    describe(path, file_name)
}

fn describe(path: PathBuf, file_name: String) -> Result<Package, DeliverError> {
    let (bytes, sha256) = crate::release::sha256_file(&path).map_err(|e| DeliverError::Package { path: path.display().to_string(), message: e.to_string() })?;
    Ok(Package { path, file_name, bytes, sha256 })
}

/// Append every file under `dir` (sorted, recursively) as `<root>/<relative path>`, with fixed
/// metadata: the archive depends on the release's bytes only.
fn append_tree<W: Write>(archive: &mut tar::Builder<W>, base: &Path, dir: &Path, root: &str) -> Result<(), DeliverError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source: std::io::Error| DeliverError::Io { path: p.clone(), source }
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).map_err(io(dir))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io(dir))?;
    entries.sort();
    for path in entries {
        let relative = path.strip_prefix(base).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let name = format!("{root}/{relative}");
        let meta = fs::metadata(&path).map_err(io(&path))?;
        if meta.is_dir() {
            let mut header = fixed_header(tar::EntryType::Directory, 0o755, 0);
            archive.append_data(&mut header, format!("{name}/"), std::io::empty()).map_err(io(&path))?;
            append_tree(archive, base, &path, root)?;
        } else {
            let mut header = fixed_header(tar::EntryType::Regular, 0o644, meta.len());
            let file = File::open(&path).map_err(io(&path))?;
            archive.append_data(&mut header, &name, file).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// A tar header that depends on nothing but the entry's kind, mode and size.
fn fixed_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header
}
