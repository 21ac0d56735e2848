//! Unit tests of the delivery stage that need no server: the audit chain and its tamper detection,
//! the package round trip through age, the outbox transport, recipient configuration errors.

use std::collections::BTreeMap;
use std::io::Read;

use super::audit::{self, AuditEntry, AuditFile};
use super::config::{recipients, RecipientConfig};
use super::package;

fn entry(result: &str) -> AuditEntry {
    AuditEntry {
        sequence: 0,
        time: "2026-11-26T02:00:00Z".into(),
        recipient: "drees".into(),
        audience: "drees".into(),
        release: "drees/20261125T020000Z".into(),
        manifest_sha256: "ab".repeat(32),
        target: "outbox /x".into(),
        attempt: 1,
        result: result.into(),
        error: None,
        files: vec![AuditFile { name: "drees-20261125T020000Z.tar.age".into(), bytes: 10, sha256: "cd".repeat(32) }],
        keys: Vec::new(),
        encrypted_to: "age1xyz".into(),
        development: true,
        previous_sha256: String::new(),
        entry_sha256: None,
    }
}

#[test]
fn the_audit_chain_detects_any_altered_removed_or_reordered_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    for r in ["failed", "failed", "delivered"] {
        audit::append(&log, entry(r)).unwrap();
    }
    assert!(audit::verify(&log).is_empty(), "{:?}", audit::verify(&log));
    let entries = audit::read(&log).unwrap();
    assert_eq!(entries.iter().map(|e| e.sequence).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(entries[1].previous_sha256, entries[0].entry_sha256.clone().unwrap());

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The last line altered: only its own hash can tell.
    std::fs::write(&log, format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2].replace("\"delivered\"", "\"failed\""))).unwrap();
    let problems = audit::verify(&log);
    assert!(problems.iter().any(|p| p.contains("line 3 was altered")), "{problems:?}");
    // A line removed.
    std::fs::write(&log, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let problems = audit::verify(&log);
    assert!(problems.iter().any(|p| p.contains("chain broken at line 2")), "{problems:?}");
    // Lines swapped.
    std::fs::write(&log, format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2])).unwrap();
    assert!(!audit::verify(&log).is_empty());
}

#[test]
fn a_package_decrypts_to_the_release_with_the_recipients_identity_only() {
    let out = tempfile::tempdir().unwrap();
    let release = out.path().join("release");
    std::fs::create_dir_all(release.join("schemas")).unwrap();
    std::fs::write(release.join("a.csv"), "x\n1\n").unwrap();
    std::fs::write(release.join("schemas/a.schema.json"), "{}\n").unwrap();
    let public = package::development_recipient(out.path(), "drees").unwrap();
    assert_eq!(public, package::development_recipient(out.path(), "drees").unwrap(), "the identity is made once");
    let made = package::make(&release, "drees", "20261125T020000Z", &public, None, &out.path().join("pkg")).unwrap();
    assert_eq!(made.file_name, "drees-20261125T020000Z.tar.age");
    let bytes = std::fs::read(&made.path).unwrap();
    assert!(!bytes.windows(4).any(|w| w == b"x\n1\n"), "the content is encrypted");

    let identity_text = std::fs::read_to_string(package::development_identity_path(out.path(), "drees")).unwrap();
    let identity: age::x25519::Identity = identity_text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().parse().unwrap();
    let decryptor = age::Decryptor::new(&bytes[..]).unwrap();
    let mut tar_bytes = Vec::new();
    decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).unwrap().read_to_end(&mut tar_bytes).unwrap();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut names: Vec<String> = archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    names.sort();
    assert_eq!(names, ["drees-20261125T020000Z/a.csv", "drees-20261125T020000Z/schemas/", "drees-20261125T020000Z/schemas/a.schema.json"]);

    // Another recipient's identity cannot open it.
    let other = age::x25519::Identity::generate();
    let decryptor = age::Decryptor::new(&bytes[..]).unwrap();
    assert!(decryptor.decrypt(std::iter::once(&other as &dyn age::Identity)).is_err());

    // Same release, same key: reused, byte for byte.
    let again = package::make(&release, "drees", "20261125T020000Z", &public, None, &out.path().join("pkg")).unwrap();
    assert_eq!(again.sha256, made.sha256);
}

#[test]
fn the_outbox_receives_complete_packages_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.tar.age");
    std::fs::write(&file, vec![7u8; 1000]).unwrap();
    let p = package::Package { path: file, file_name: "p.tar.age".into(), bytes: 1000, sha256: String::new() };
    let outbox = dir.path().join("outbox");
    assert_eq!(super::outbox::send(&outbox, &p).unwrap(), 1000);
    let names: Vec<String> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["p.tar.age"]);
}

#[test]
fn recipients_need_a_key_and_one_target() {
    let out = std::path::Path::new("/out");
    let defaults = recipients(&BTreeMap::new(), out).unwrap();
    assert_eq!(defaults.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["drees", "hdh"]);
    let mut configured = BTreeMap::new();
    configured.insert("drees".to_owned(), RecipientConfig { outbox: Some("/x".into()), ..Default::default() });
    let e = recipients(&configured, out).unwrap_err();
    assert!(e.contains("[recipients.drees]") && e.contains("age_recipient"), "{e}");
    configured.insert("drees".to_owned(), RecipientConfig { outbox: Some("/x".into()), age_recipient: Some("age1nope".into()), ..Default::default() });
    let e = recipients(&configured, out).unwrap_err();
    assert!(e.contains("not an age X25519 public key"), "{e}");
    let key = age::x25519::Identity::generate().to_public().to_string();
    configured.insert("drees".to_owned(), RecipientConfig { age_recipient: Some(key), ..Default::default() });
    let e = recipients(&configured, out).unwrap_err();
    assert!(e.contains("no target"), "{e}");
}
