//! What reusers read before the data: a DCAT-AP catalogue that rdflib accepts with the mandatory
//! properties and right checksums, an Atom feed of releases that feedparser reads, and a
//! documentation page that documents every published column — all in every release, listed in its
//! manifest and so signed with it.

mod support;

use std::fs;
use std::process::Command;

use support::*;

fn check_docs(release: &std::path::Path) -> serde_json::Value {
    let o = Command::new(python()).arg(repo().join("tests/support/check_reuser_docs.py")).arg(release).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "reuser documents rejected:\n{text}\n{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn three_releases_give_a_catalogue_a_feed_and_documentation_each() {
    let work = tempfile::tempdir().unwrap();
    let keys = shared_keys();
    let out = work.path().join("out");
    let nights = [night(work.path(), 1, |_| {}), night(work.path(), 2, rename_ville), night(work.path(), 3, remove_place_add_offer)];
    let mut releases = Vec::new();
    for snapshot in &nights {
        ok(&["-q", "build", "--config", keys.config.to_str().unwrap(), "--snapshot", snapshot.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        releases.push(latest_release(&out));
    }
    for release in &releases {
        let manifest: serde_json::Value = serde_json::from_slice(&fs::read(release.join("manifest.json")).unwrap()).unwrap();
        let listed: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        for artefact in ["catalog.jsonld", "feed.atom", "documentation.md", "documentation.html"] {
            assert!(listed.contains(&artefact), "{artefact} is not in the manifest of {}", release.display());
        }
        let report = check_docs(release);
        assert!(report["checksums_checked"].as_u64().unwrap() as usize + 1 >= listed.len(), "{report}");
    }
    assert!(ok(&["verify", out.join("releases/public").to_str().unwrap()]).contains("OK 3 release(s) verified"));

    // The newest feed has exactly the three releases, newest first, with their changes.
    let report = check_docs(&releases[2]);
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{report}");
    assert_eq!(report["feed_version"], "atom10");
    let titles: Vec<&str> = entries.iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Version 20261127T020000Z", "Version 20261126T020000Z", "Version 20261125T020000Z"]);
    assert!(entries[0]["summary"].as_str().unwrap().contains("offres: 2919 lignes, 1 ajoutées, 0 supprimées, 0 modifiées"), "{}", entries[0]["summary"]);
    assert!(entries[0]["summary"].as_str().unwrap().contains("lieux: 1502 lignes, 0 ajoutées, 1 supprimées, 0 modifiées"));
    assert!(entries[1]["summary"].as_str().unwrap().contains("offres: 2918 lignes, 0 ajoutées, 0 supprimées, 1 modifiées"));
    assert!(entries[2]["summary"].as_str().unwrap().contains("offres: 2918 lignes, 2918 ajoutées"));
    assert!(entries[0]["links"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().ends_with("20261127T020000Z/manifest.json.minisig")));
    // The feed beside the releases is the newest one's.
    let beside = fs::read_to_string(out.join("releases/public/feed.atom")).unwrap();
    assert_eq!(beside.matches("<entry>").count(), 3);
}

#[test]
fn every_published_column_is_documented() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let release = latest_release(out.path());
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(release.join("manifest.json")).unwrap()).unwrap();
    let markdown = fs::read_to_string(release.join("documentation.md")).unwrap();
    let html = fs::read_to_string(release.join("documentation.html")).unwrap();
    for table in manifest["tables"].as_array().unwrap() {
        let name = table["name"].as_str().unwrap();
        assert!(markdown.contains(&format!("### {name} — ")), "table {name} is not documented");
        assert!(html.contains(&format!("id=\"{name}\"")));
        for column in table["columns"].as_array().unwrap() {
            let column = column.as_str().unwrap();
            let row = markdown.lines().find(|l| l.starts_with(&format!("| `{column}` |"))).unwrap_or_else(|| panic!("column {name}.{column} is not documented"));
            let cells: Vec<&str> = row.split(" | ").collect();
            assert!(cells.len() >= 4 && cells[2].trim().len() > 10, "column {name}.{column} has no description: {row}");
        }
    }
    assert!(markdown.contains("In English."), "the public subset must be explained in English too");
    assert!(markdown.contains("minisign -Vm manifest.json -p signing.pub"));
    assert!(markdown.contains("history as-of"));
}
