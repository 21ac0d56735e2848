//! feed.atom: one Atom 1.0 entry per release of the publication — version, date, rows per table,
//! what changed (added / removed / modified per table), schema version bumps, links to the manifest
//! and its signature — so reusers follow changes with any feed reader instead of diffing files.
//! Built from the chain of manifests, so it is deterministic and every release carries its own.

use std::fmt::Write;

use crate::history::{SchemaChange, TableChanges};

pub const FEED_FILE: &str = "feed.atom";

/// What one entry says of one release.
pub struct FeedEntry {
    pub version: String,
    /// RFC 3339 UTC.
    pub updated: String,
    pub rows: Vec<(String, u64)>,
    pub changes: Vec<TableChanges>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn summary(entry: &FeedEntry) -> String {
    let mut lines = Vec::new();
    for (table, rows) in &entry.rows {
        let change = entry.changes.iter().find(|c| &c.table == table);
        let mut line = format!("{table}: {rows} lignes");
        if let Some(c) = change {
            let _ = write!(line, ", {} ajoutées, {} supprimées, {} modifiées", c.added, c.removed, c.modified);
            match (c.schema_change, &c.previous_schema_version) {
                (SchemaChange::Major | SchemaChange::Minor, Some(before)) => {
                    let _ = write!(line, ", schéma {before} → {}", c.schema_version);
                }
                _ => {
                    let _ = write!(line, ", schéma {}", c.schema_version);
                }
            }
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// The feed, newest entry first. `base` is "" for the copy beside the releases and "../" for the
/// copy inside a release folder, so the same relative links resolve from both.
pub fn render(publication: &str, entries: &[FeedEntry], base: &str) -> String {
    let mut sorted: Vec<&FeedEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| b.version.cmp(&a.version));
    let updated = sorted.first().map(|e| e.updated.as_str()).unwrap_or("1970-01-01T00:00:00Z");
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let base_attr = if base.is_empty() { String::new() } else { format!(" xml:base=\"{}\"", escape(base)) };
    let _ = writeln!(out, "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"fr\"{base_attr}>");
    let _ = writeln!(out, "  <id>urn:ror-opendata:{}</id>", escape(publication));
    let _ = writeln!(out, "  <title>ROR — publication « {} » : versions publiées</title>", escape(publication));
    let _ = writeln!(out, "  <updated>{updated}</updated>");
    let _ = writeln!(out, "  <author><name>ror-opendata</name></author>");
    let _ = writeln!(out, "  <link rel=\"self\" href=\"{FEED_FILE}\"/>");
    for e in sorted {
        let v = escape(&e.version);
        let _ = writeln!(out, "  <entry>");
        let _ = writeln!(out, "    <id>urn:ror-opendata:{}:{v}</id>", escape(publication));
        let _ = writeln!(out, "    <title>Version {v}</title>");
        let _ = writeln!(out, "    <updated>{}</updated>", e.updated);
        let _ = writeln!(out, "    <link rel=\"alternate\" type=\"text/markdown\" href=\"{v}/release-notes.md\"/>");
        let _ = writeln!(out, "    <link rel=\"related\" type=\"application/json\" title=\"manifest\" href=\"{v}/manifest.json\"/>");
        let _ = writeln!(out, "    <link rel=\"related\" type=\"text/plain\" title=\"signature\" href=\"{v}/manifest.json.minisig\"/>");
        let _ = writeln!(out, "    <summary type=\"text\">{}</summary>", escape(&summary(e)));
        let _ = writeln!(out, "  </entry>");
    }
    let _ = writeln!(out, "</feed>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_and_escaped() {
        let e = |v: &str| FeedEntry { version: v.into(), updated: "2026-11-25T02:00:00Z".into(), rows: vec![("a<b".into(), 3)], changes: vec![] };
        let feed = render("public", &[e("1"), e("2")], "../");
        assert!(feed.find("Version 2").unwrap() < feed.find("Version 1").unwrap());
        assert!(feed.contains("a&lt;b: 3 lignes"));
        assert!(feed.contains("xml:base=\"../\""));
    }
}
