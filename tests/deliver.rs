//! Sensitive extracts and their delivery, through the real binary and real tools: the stock `age`
//! and `tar` CLIs open the packages, a real OpenSSH server (tests/support/sshd.rs) receives them
//! over SFTP, a real TCP cut drops a transfer half-way, DuckDB recounts the public capacity
//! dataset from the detailed one.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use ror_opendata::disclose::{IdentifierKind, Pseudonymiser};
use support::sshd::{CuttingProxy, Sshd};
use support::{ok, run, sample_dir, stderr, stdout};

const VERSION: &str = "20261125T020000Z";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `age -d -i identity package | tar -x` into `into`, with the stock CLIs; returns the release root.
fn open_package(package: &Path, identity: &Path, into: &Path) -> PathBuf {
    fs::create_dir_all(into).unwrap();
    let tar = into.join("package.tar");
    let out = Command::new("age").args(["-d", "-i", s(identity), "-o", s(&tar), s(package)]).output().expect("age runs (scripts/test installs it)");
    assert!(out.status.success(), "age -d failed: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("tar").args(["-xf", s(&tar), "-C", s(into)]).output().unwrap();
    assert!(out.status.success(), "tar -x failed: {}", String::from_utf8_lossy(&out.stderr));
    let name = package.file_name().unwrap().to_str().unwrap().trim_end_matches(".tar.age");
    into.join(name)
}

/// Every text file under `dir` (CSV, JSON, Markdown, HTML, feeds), concatenated.
fn texts(dir: &Path) -> String {
    let mut all = String::new();
    for (path, bytes) in support::tree(dir) {
        if [".csv", ".json", ".md", ".html", ".atom", ".jsonld", "SUMS"].iter().any(|e| path.ends_with(e)) {
            all.push_str(&String::from_utf8_lossy(&bytes));
            all.push('\n');
        }
    }
    all
}

fn column(dir: &Path, table: &str, name: &str) -> Vec<Option<String>> {
    let frame = ror_opendata::release::previous::read_parquet(&dir.join(format!("{table}.parquet"))).unwrap();
    let c = frame.column(name).unwrap().cast(&polars::prelude::DataType::String).unwrap();
    c.str().unwrap().iter().map(|v| v.map(str::to_owned)).collect()
}

/// The full, undisclosed tables of the sample, as the job flattens them.
fn full_tables() -> ror_opendata::table::Tables {
    let snapshot = ror_opendata::source::open_folder(&sample_dir(), "sample").unwrap();
    ror_opendata::fhir::flatten_snapshot(&snapshot).unwrap().tables
}

fn text_values(tables: &ror_opendata::table::Tables, table: &str, column: &str) -> Vec<String> {
    tables[table].text_values(column).unwrap().into_iter().flatten().collect()
}

#[test]
fn packages_open_with_the_stock_age_cli_and_hold_the_pseudonymised_sensitive_data() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let printed = ok(&["run", "--out", s(&out)]);
    assert!(printed.contains("delivery drees drees-20261125T020000Z.tar.age") && printed.contains("delivery hdh"), "{printed}");
    let full = full_tables();
    let canaries: Vec<String> = serde_json::from_slice(&fs::read(sample_dir().join("snapshot-canaries.json")).unwrap()).unwrap();
    let ids: BTreeSet<String> = text_values(&full, "professionnels", "id_nat_ps").into_iter().collect();
    assert!(ids.len() > 100);

    let mut opened = Vec::new();
    for recipient in ["drees", "hdh"] {
        let package = out.join(format!("outbox/{recipient}/{recipient}-{VERSION}.tar.age"));
        let raw = fs::read(&package).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1"), "an age file");
        for needle in [&b"CANARI"[..], b"capacite_id", b"manifest.json"] {
            assert!(!raw.windows(needle.len()).any(|w| w == needle), "{recipient}: readable without the key");
        }
        // Another identity cannot open it.
        let stranger = work.path().join(format!("stranger-{recipient}.key"));
        assert!(Command::new("age-keygen").args(["-o", s(&stranger)]).output().unwrap().status.success());
        let refused = Command::new("age").args(["-d", "-i", s(&stranger), s(&package)]).output().unwrap();
        assert!(!refused.status.success(), "{recipient}: a stranger's key opened the package");

        let root = open_package(&package, &out.join(format!("keys/age-{recipient}.key")), &work.path().join(format!("opened-{recipient}")));
        // The package is the audience's signed release, byte for byte, and checks with the standard tools.
        let release = out.join(format!("releases/{recipient}/{VERSION}"));
        assert_eq!(support::tree(&root), support::tree(&release), "{recipient}: the package is the release");
        let sums = Command::new("sha256sum").args(["-c", "--quiet", "SHA256SUMS"]).current_dir(&root).output().unwrap();
        assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
        let signed = Command::new("minisign").args(["-Vm", "manifest.json", "-p", "signing.pub"]).current_dir(&root).output().unwrap();
        assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
        let manifest: serde_json::Value = serde_json::from_slice(&fs::read(root.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["audience"], recipient);
        assert!(root.join("disclosure.md").exists() && root.join("disclosure.json").exists());

        // The sensitive data of the sample: every capacity record with its count, the equipment.
        let capacity_ids: BTreeSet<String> = column(&root, "capacites", "capacite_id").into_iter().flatten().collect();
        assert_eq!(capacity_ids, text_values(&full, "capacites", "capacite_id").into_iter().collect::<BTreeSet<_>>(), "{recipient}: capacites");
        let sum = |values: Vec<String>| values.iter().map(|v| v.parse::<i64>().unwrap()).sum::<i64>();
        if recipient == "drees" {
            // DREES counts beds exactly; the Health Data Hub's policy gives them in bands.
            let full_sum: i64 = full["capacites"].frame.column("nombre").unwrap().i64().unwrap().iter().flatten().sum();
            assert_eq!(sum(column(&root, "capacites", "nombre").into_iter().flatten().collect()), full_sum);
        }
        assert_eq!(column(&root, "equipements", "equipement_id").len(), full["equipements"].rows(), "{recipient}: equipements");
        assert!(column(&root, "professionnels", "id_nat_ps").len() > 1000, "{recipient}: hospital practitioners' roles");

        // No name, RPPS / ADELI number, restricted contact or sensitive unit name in any file.
        // Every canary of the sample holds the word CANARI; identifiers are runs of digits.
        let text = texts(&root);
        assert!(canaries.iter().all(|c| c.contains("CANARI")));
        assert!(!text.contains("CANARI"), "{recipient}: a canary (name, restricted contact, sensitive unit) in the package");
        let numbers: BTreeSet<&str> = text.split(|c: char| !c.is_ascii_digit()).filter(|t| t.len() >= 9).collect();
        let leaked: Vec<&String> = ids.iter().filter(|id| numbers.contains(id.as_str()) || numbers.contains(&id[1..])).take(3).collect();
        assert!(leaked.is_empty(), "{recipient}: idNat_PS / RPPS in the package: {leaked:?}");
        opened.push(root);
    }
    // DREES sees the sensitive units; the Health Data Hub's policy decides for itself.
    let sensitive = |root: &Path| column(root, "offres", "unite_sensible").into_iter().filter(|v| v.as_deref() == Some("true")).count();
    assert_eq!(sensitive(&opened[0]), full["offres"].frame.column("unite_sensible").unwrap().bool().unwrap().iter().filter(|v| *v == Some(true)).count());
    let restricted = column(&opened[0], "contacts", "niveau_confidentialite_telecom_code");
    assert!(restricted.iter().any(|v| matches!(v.as_deref(), Some("2" | "3"))), "DREES gets restricted contacts");

    // One professional, three audiences, three values that cannot be joined: the public shows the
    // ambulatory practitioner's idNat_PS (public by law), DREES and HDH each their own pseudonym.
    let keyring = ror_opendata::keys::load_keyring(&ror_opendata::config::Config::default(), &out).unwrap();
    let public = out.join(format!("releases/public/{VERSION}"));
    let someone = column(&public, "professionnels", "id_nat_ps").into_iter().flatten().next().expect("a public practitioner");
    let mut seen = vec![someone.clone()];
    for (recipient, root) in ["drees", "hdh"].iter().zip(&opened) {
        let key = keyring.audience_key(recipient);
        let pseudonym = Pseudonymiser::new(&key).pseudonym(IdentifierKind::IdnatPs, &someone);
        assert!(column(root, "professionnels", "id_nat_ps").contains(&Some(pseudonym.clone())), "{recipient} has the practitioner under its own pseudonym");
        assert!(!seen.contains(&pseudonym));
        seen.push(pseudonym);
    }

    // A dry run makes and checks the package, and sends and logs nothing.
    let dry = ok(&["deliver", "--recipient", "hdh", "--dry-run", "--out", s(&out)]);
    assert!(dry.contains("delivery hdh") && dry.contains("dry run"), "{dry}");
    // Delivered once: a second run sends nothing again, and the audit log records both deliveries.
    let again = ok(&["deliver", "--out", s(&out)]);
    assert!(again.contains("already delivered"), "{again}");
    let log = fs::read_to_string(out.join("deliveries/audit.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    ok(&["verify", s(&out.join("releases"))]);
}

#[test]
fn delivery_over_sftp_survives_a_dropped_connection_and_a_permission_error() {
    let server = Sshd::start();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    // The recipient's key pair, made by the recipient's own tool.
    let identity = work.path().join("drees-age.key");
    let keygen = Command::new("age-keygen").args(["-o", s(&identity)]).output().unwrap();
    assert!(keygen.status.success());
    let age_public = String::from_utf8_lossy(&keygen.stderr).trim().trim_start_matches("Public key: ").to_owned();
    assert!(age_public.starts_with("age1"), "{age_public}");
    let config_for = |port: u16, name: &str| {
        let path = work.path().join(name);
        fs::write(&path, server.recipient_toml("drees", &age_public, port)).unwrap();
        path
    };
    let direct = config_for(server.port, "direct.toml");
    ok(&["run", "--out", s(&out), "--config", s(&direct), "--no-deliver"]);
    let final_name = format!("drees-{VERSION}.tar.age");
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(server.upload_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };

    // 1. The connection drops after 1 MB of the ~6 MB package, on both attempts.
    let proxy = CuttingProxy::start(server.port, 1 << 20);
    let cut = config_for(proxy.port, "cut.toml");
    let o = run(&["deliver", "--recipient", "drees", "--out", s(&out), "--config", s(&cut)]);
    assert_eq!(o.status.code(), Some(6), "{}\n{}", stdout(&o), stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("failed after 2 attempt(s)") && e.contains("connection was lost") && e.contains("ror-opendata deliver --recipient drees"), "{e}");
    assert!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert!(!listing().contains(&final_name), "a partial file under the final name: {:?}", listing());
    drop(proxy);

    // 2. The drop box refuses writes.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(server.upload_dir(), fs::Permissions::from_mode(0o555)).unwrap();
    let o = run(&["deliver", "--recipient", "drees", "--out", s(&out), "--config", s(&direct)]);
    assert_eq!(o.status.code(), Some(6), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
    assert!(!listing().contains(&final_name));

    // 3. Fixed: the rerun completes, and only the complete package is there.
    fs::set_permissions(server.upload_dir(), fs::Permissions::from_mode(0o755)).unwrap();
    let done = ok(&["deliver", "--recipient", "drees", "--out", s(&out), "--config", s(&direct)]);
    assert!(done.contains("delivered ("), "{done}");
    assert_eq!(listing(), vec![final_name.clone()], "{}", server.log());
    let local = out.join(format!("deliveries/drees/{final_name}"));
    assert_eq!(fs::read(server.upload_dir().join(&final_name)).unwrap(), fs::read(&local).unwrap());
    let root = open_package(&server.upload_dir().join(&final_name), &identity, &work.path().join("opened"));
    assert!(root.join("capacites.parquet").exists() && root.join("manifest.json.minisig").exists());

    // The audit log: every attempt, chained; the receipt names the last line.
    let entries: Vec<serde_json::Value> = fs::read_to_string(out.join("deliveries/audit.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let results: Vec<&str> = entries.iter().map(|e| e["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["failed", "failed", "failed", "failed", "delivered"]);
    let last = entries.last().unwrap();
    assert_eq!(last["files"][0]["sha256"].as_str().unwrap(), ror_opendata::release::sha256_file(&local).unwrap().1);
    assert_eq!(last["recipient"], "drees");
    assert!(last["keys"][0]["key_id"].as_str().is_some_and(|k| k.len() == 16) && last["keys"][0]["epoch"] == 1);
    assert!(entries.iter().all(|e| !e.to_string().contains(&fs::read_to_string(&server.identity).unwrap()[..40])));
    let receipt: serde_json::Value = serde_json::from_slice(&fs::read(out.join(format!("deliveries/drees/drees-{VERSION}.receipt.json"))).unwrap()).unwrap();
    assert_eq!(receipt["audit_entry_sha256"], last["entry_sha256"]);
    ok(&["verify", s(&out.join("releases"))]);

    // verify detects a tampered line: a failure rewritten as a success.
    let log = out.join("deliveries/audit.jsonl");
    let text = fs::read_to_string(&log).unwrap();
    fs::write(&log, text.replacen("\"result\":\"failed\"", "\"result\":\"delivered\"", 1)).unwrap();
    let o = run(&["verify", s(&out.join("releases"))]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    assert!(stdout(&o).contains("audit.jsonl: line 1 was altered"), "{}", stdout(&o));
}

#[test]
fn the_public_capacity_dataset_masks_small_cells_matches_a_recount_and_keeps_its_series() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    ok(&["run", "--out", s(&out), "--no-deliver"]);
    let release = out.join(format!("releases/capacites/{VERSION}"));
    let check = Command::new(support::python())
        .arg(support::repo().join("tests/support/check_capacity.py"))
        .arg(release.join("capacites_departement.csv"))
        .arg(out.join(format!("releases/drees/{VERSION}")))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}\n{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    let figures: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(figures["masked"].as_u64().unwrap() > 0, "the sample has small cells to mask: {figures}");
    assert!(figures["checked"].as_u64().unwrap() > 50, "{figures}");
    // The detailed capacities never reach the public release.
    assert!(!out.join(format!("releases/public/{VERSION}/capacites.csv")).exists());

    // An hourly refresh: only the capacity series moves, and its history holds both instants.
    let next = support::night(work.path(), 2, |_| {});
    let printed = ok(&["run", "--only", "capacites", "--source", s(&next), "--out", s(&out)]);
    assert!(printed.contains("release capacites/20261126T020000Z created") && !printed.contains("release public/"), "{printed}");
    assert_eq!(ror_opendata::release::latest_version(&out.join("releases/public")).unwrap(), VERSION);
    let index: serde_json::Value = serde_json::from_slice(&fs::read(out.join("releases/capacites/20261126T020000Z/history/index.json")).unwrap()).unwrap();
    let versions: Vec<&str> = index["versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, [VERSION, "20261126T020000Z"]);
    ok(&["verify", s(&out.join("releases"))]);
}

#[test]
fn a_failed_k_anonymity_gate_leaves_its_report() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    // A DREES policy demanding k = 1000 on the practitioners: the gate must fail closed.
    let policy = work.path().join("drees.toml");
    let shipped = fs::read_to_string(support::repo().join("datasets/policy/drees.toml")).unwrap();
    fs::write(&policy, shipped.replacen("k = 5", "k = 1000", 1)).unwrap();
    let config = work.path().join("c.toml");
    fs::write(&config, format!("[policy]\ndrees = \"{}\"\n", policy.display())).unwrap();
    let o = run(&["run", "--out", s(&out), "--config", s(&config)]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(!out.join("releases/drees").exists() && !out.join("releases/public").exists(), "nothing released");
    let report: serde_json::Value = serde_json::from_slice(&fs::read(out.join(format!("reports/drees/{VERSION}-disclosure-failed.json"))).unwrap()).unwrap();
    assert_eq!(report["gate"]["passed"], false);
    assert_eq!(report["gate"]["table"], "professionnels");
    assert_eq!(report["gate"]["risk"]["k_required"], 1000);
    let md = fs::read_to_string(out.join(format!("reports/drees/{VERSION}-disclosure-failed.md"))).unwrap();
    assert!(md.contains("ÉCHEC") && md.contains("professionnels"), "{md}");
}

#[test]
fn after_a_key_rotation_only_an_authorised_recipient_gets_the_correspondence() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let keys = work.path().join("keys");
    ok(&["keys", "init", "--dir", s(&keys)]);
    let identity = work.path().join("drees-age.key");
    let keygen = Command::new("age-keygen").args(["-o", s(&identity)]).output().unwrap();
    let age_public = String::from_utf8_lossy(&keygen.stderr).trim().trim_start_matches("Public key: ").to_owned();
    // Two recipients of the DREES extract; only the first may follow pseudonyms across a rotation.
    let config = work.path().join("ror-opendata.toml");
    fs::write(
        &config,
        format!(
            "[keys]\ndir = \"{}\"\n[recipients.drees]\nage_recipient = \"{age_public}\"\noutbox = \"outbox-drees\"\ncorrespondence = true\n[recipients.drees-copie]\naudience = \"drees\"\nage_recipient = \"{age_public}\"\noutbox = \"outbox-copie\"\n",
            keys.display()
        ),
    )
    .unwrap();
    ok(&["run", "--out", s(&out), "--config", s(&config)]);
    ok(&["keys", "rotate", "--audience", "drees", "--dir", s(&keys)]);
    let next = support::night(work.path(), 2, |_| {});
    ok(&["run", "--source", s(&next), "--out", s(&out), "--config", s(&config)]);

    let open = |outbox: &str, version: &str, name: &str| open_package(&work.path().join(format!("{outbox}/{name}-{version}.tar.age")), &identity, &work.path().join(format!("opened-{outbox}-{version}")));
    let before = open("outbox-drees", VERSION, "drees");
    let after = open("outbox-drees", "20261126T020000Z", "drees");
    let copy = open("outbox-copie", "20261126T020000Z", "drees-copie");
    assert!(!before.join("correspondance-pseudonymes.csv").exists(), "no rotation, no table");
    assert!(!copy.join("correspondance-pseudonymes.csv").exists(), "an unauthorised recipient never gets it");
    let table = fs::read_to_string(after.join("correspondance-pseudonymes.csv")).unwrap();

    let old: BTreeSet<String> = column(&before, "professionnels", "id_nat_ps").into_iter().flatten().collect();
    let new: BTreeSet<String> = column(&after, "professionnels", "id_nat_ps").into_iter().flatten().collect();
    assert!(old.is_disjoint(&new), "the rotation changed every pseudonym");
    let pairs: Vec<(String, String)> = table.lines().skip(1).filter(|l| l.starts_with("idnat_ps,")).map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (f[1].to_owned(), f[2].to_owned())
    }).collect();
    // Every practitioner published after the rotation is linked to the pseudonym published before.
    assert_eq!(pairs.iter().map(|p| p.1.clone()).collect::<BTreeSet<_>>(), new);
    assert!(pairs.iter().all(|(o, _)| old.contains(o)), "old pseudonyms are those of the previous extract");
    // Nowhere in the releases, and no identifier in the table.
    assert!(!support::tree(&out.join("releases")).keys().any(|p| p.contains("correspondance")));
    // Every field but the kind is a pseudonym (26 characters of lower-case base32), so no
    // identifier can be there; a digit-run check would trip on a pseudonym such as "…234567732…".
    let is_pseudonym = |f: &str| f.len() == 26 && f.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    assert!(!table.contains("CANARI"), "{table}");
    assert!(table.lines().skip(1).all(|l| { let f: Vec<&str> = l.split(',').collect(); f.len() == 3 && is_pseudonym(f[1]) && is_pseudonym(f[2]) }), "{table}");
    let log = fs::read_to_string(out.join("deliveries/audit.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"recipient\":\"drees\"") && l.contains("correspondance-pseudonymes.csv")), "{log}");
    ok(&["verify", s(&out.join("releases"))]);
}
