//! release-notes.md: what a person reads first — what this version holds, what changed since the
//! previous one, schema version bumps, and how to check the files with standard tools.

use std::fmt::Write;

use super::signature::{PUBLIC_KEY_FILE, SIGNATURE_FILE};
use super::ReleaseInput;
use crate::history::SchemaChange;

pub const NOTES_FILE: &str = "release-notes.md";

pub fn render(input: &ReleaseInput<'_>, version: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# ROR — publication « {} », version {version}\n", input.publication);
    let _ = writeln!(out, "- Instantané du ROR : {} ({}), sha256 `{}`", input.taken_at.format("%Y-%m-%d %H:%M:%S UTC"), input.provenance.source, input.provenance.sha256);
    match input.previous {
        Some(p) => {
            let _ = writeln!(out, "- Version précédente : {} (manifest sha256 `{}`)", p.manifest.version, p.manifest_sha256);
        }
        None => {
            let _ = writeln!(out, "- Première version de la publication.");
        }
    }
    if input.development_keys {
        let _ = writeln!(out, "- **Clés de développement : cette version n'est pas destinée à être publiée.**");
    }
    if let Some(gate) = &input.gate {
        let verdict = if gate.passed { "réussi" } else { "ÉCHOUÉ — version non publiable" };
        let _ = writeln!(out, "- Contrôle qualité : {verdict} ({} échec(s), {} avertissement(s), voir la dernière section et `{}`)", gate.failures, gate.warnings, gate.report);
    }
    let _ = writeln!(out, "\n## Tables et changements\n");
    let _ = writeln!(out, "| table | lignes | ajoutées | supprimées | modifiées | version du schéma |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for change in &input.history.summary {
        let rows = input.disclosed.tables.rows(change.table.as_str()).unwrap_or(0);
        let schema = match (change.schema_change, &change.previous_schema_version) {
            (SchemaChange::New, _) => format!("{} (nouvelle table)", change.schema_version),
            (SchemaChange::None, _) | (_, None) => change.schema_version.clone(),
            (kind, Some(before)) => format!("{before} → {} ({})", change.schema_version, match kind {
                SchemaChange::Major => "majeure : champ retiré ou retypé",
                SchemaChange::Minor => "mineure : champ ajouté",
                _ => "correctif : données seules",
            }),
        };
        let _ = writeln!(out, "| {} | {rows} | {} | {} | {} | {schema} |", change.table, change.added, change.removed, change.modified);
    }
    let _ = writeln!(
        out,
        "\nLe détail des changements est dans `changes/<table>.csv` (une ligne par clé ajoutée, supprimée ou modifiée, avec les colonnes modifiées). \
L'historique complet est dans `history/<table>.parquet` (une ligne par version de ligne, valable de `version_debut` inclus à `version_fin` exclu) : \
`ror-opendata history as-of <version> --table <table>` reconstruit une version passée et vérifie son empreinte.\n"
    );
    let _ = writeln!(out, "## Vérifier les fichiers\n");
    let _ = writeln!(out, "    sha256sum -c SHA256SUMS");
    let _ = writeln!(out, "    minisign -Vm manifest.json -p {PUBLIC_KEY_FILE}    # signature {SIGNATURE_FILE}, clé {}", input.signing.key_id);
    let _ = writeln!(out, "    ror-opendata verify .");
    // The quality gate's readable report (gate.md) is a section of the notes, one heading level down.
    if let Some(gate) = input.documents.iter().find(|d| d.path == crate::gate::report::MARKDOWN_FILE) {
        let _ = writeln!(out);
        for line in String::from_utf8_lossy(&gate.bytes).lines() {
            let _ = writeln!(out, "{}{line}", if line.starts_with('#') { "#" } else { "" });
        }
    }
    out
}
