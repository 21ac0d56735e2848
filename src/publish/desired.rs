//! The desired state: what the dataset should look like once a release is published — its fields,
//! and one resource per file of the release with a stable title, description, type, schema link
//! and the file's sha256 in extras. Read from the release folder only; the order of `resources` is
//! the order reusers see.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};

use crate::release::manifest::{Manifest, MANIFEST_FILE, SUMS_FILE};

use super::config::DatasetConfig;
use super::plan::{DesiredDataset, DesiredResource, ResourceMeta, DATASET_MARKER, RESOURCE_MARKER, SHA256_EXTRA};
use super::PublishError;

/// Dataset extras naming the release published.
pub const VERSION_EXTRA: &str = "ror-opendata:version";
pub const MANIFEST_SHA256_EXTRA: &str = "ror-opendata:manifest-sha256";

/// Everything `desired_dataset` needs besides the release folder.
pub struct DesiredInput<'a> {
    pub dataset: &'a DatasetConfig,
    /// The rendered description.
    pub description: String,
    /// File extensions the platform accepts (/api/1/datasets/extensions/).
    pub extensions: &'a [String],
}

/// The files of a release that go to the platform: every file of the manifest (except HTML, which
/// data.gouv.fr refuses), the manifest, SHA256SUMS and the signature.
fn release_files(manifest: &Manifest) -> Vec<String> {
    let mut files: Vec<String> = manifest.files.iter().map(|f| f.path.clone()).filter(|p| !p.ends_with(".html")).collect();
    for extra in [MANIFEST_FILE.to_owned(), SUMS_FILE.to_owned(), manifest.signature.file.clone()] {
        if !files.contains(&extra) {
            files.push(extra);
        }
    }
    files
}

/// The name a file is uploaded under: unique in the dataset (folders become dashes) and with an
/// extension the platform accepts (`.txt` is added otherwise).
pub fn upload_name(path: &str, extensions: &[String]) -> String {
    let flat = path.replace('/', "-");
    let accepted = flat.rsplit_once('.').is_some_and(|(_, ext)| extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)));
    if accepted {
        flat
    } else {
        format!("{flat}.txt")
    }
}

/// Where a file goes in the order reusers see, its type, title and description.
fn describe(path: &str, manifest: &Manifest, titles: &BTreeMap<String, (String, String)>) -> (u8, String, String, String, Option<String>) {
    let table_title = |name: &str| titles.get(name).map(|t| t.0.clone()).unwrap_or_else(|| name.to_owned());
    let table_description = |name: &str| titles.get(name).map(|t| t.1.clone()).unwrap_or_default();
    for t in &manifest.tables {
        let schema = Some(t.schema.clone());
        if path == t.csv {
            return (0, "main".into(), format!("{} — CSV", table_title(&t.name)), format!("{} Fichier CSV (UTF-8, séparateur virgule, en-tête), table `{}` ; schéma : ressource « Schéma de la table {} ».", table_description(&t.name), t.name, t.name), schema);
        }
        if path.strip_suffix(".gz") == Some(t.csv.as_str()) {
            return (0, "main".into(), format!("{} — CSV compressé (gzip)", table_title(&t.name)), format!("{} Le fichier CSV de la table `{}`, compressé avec gzip (au-delà de 100 Mo, data.gouv.fr n'analyse pas un CSV).", table_description(&t.name), t.name), schema);
        }
        if path == t.parquet {
            return (0, "main".into(), format!("{} — Parquet", table_title(&t.name)), format!("{} Fichier Parquet (mêmes lignes et colonnes que le CSV), table `{}`.", table_description(&t.name), t.name), schema);
        }
        if path == t.changes_csv || path == t.changes_parquet {
            let format = if path.ends_with(".csv") { "CSV" } else { "Parquet" };
            return (2, "update".into(), format!("Changements depuis la version précédente — {} ({format})", table_title(&t.name)), format!("Lignes de la table `{}` ajoutées, supprimées ou modifiées depuis la version précédente.", t.name), None);
        }
        if path == t.history {
            return (3, "other".into(), format!("Historique — {} (Parquet, SCD2)", table_title(&t.name)), format!("Toutes les versions des lignes de la table `{}` avec leur période de validité : de quoi reconstruire la table à n'importe quelle version publiée.", t.name), None);
        }
        if path == t.schema {
            return (1, "documentation".into(), format!("Schéma de la table {} (Table Schema)", t.name), format!("Le schéma Table Schema (Frictionless) de la table `{}`, version {} : colonnes, types, descriptions, clés.", t.name, t.schema_version), None);
        }
    }
    let known: &[(&str, &str, &str)] = &[
        ("datapackage.json", "Data Package (datapackage.json)", "Le descripteur Frictionless Data Package de la version : toutes les tables, leurs fichiers et leurs schémas."),
        ("documentation.md", "Documentation des tables", "Chaque table avec son rôle, ses clés, chaque colonne avec son type, sa description, ses codes et des exemples."),
        ("release-notes.md", "Notes de version", "Ce qui a changé dans cette version : lignes par table, changements de schéma, contrôles de qualité."),
        ("SHA256SUMS", "Empreintes SHA-256 (SHA256SUMS)", "L'empreinte SHA-256 de chaque fichier de la version, au format de `sha256sum -c`."),
        ("manifest.json", "Manifeste de la version (manifest.json)", "La version, sa provenance, chaque table et chaque fichier avec sa taille et son empreinte SHA-256, chaîné au manifeste précédent."),
        ("manifest.json.minisig", "Signature du manifeste (minisign)", "La signature minisign de manifest.json : `minisign -Vm manifest.json -p signing.pub`."),
        ("signing.pub", "Clé publique de signature (minisign)", "La clé publique minisign qui vérifie manifest.json.minisig."),
        ("disclosure.md", "Rapport de diffusion", "Ce que la politique de diffusion publique a fait de chaque table et colonne (conservée, retirée), les filtres de lignes et les contrôles de confidentialité."),
        ("disclosure.json", "Rapport de diffusion (JSON)", "Le rapport de diffusion, lisible par une machine."),
        ("gate.md", "Rapport des contrôles de qualité", "Les contrôles de qualité passés par la version : schéma, identifiants, dérive, fraîcheur, parité CSV/Parquet, limites de la plateforme."),
        ("gate.json", "Rapport des contrôles de qualité (JSON)", "Le rapport des contrôles de qualité, lisible par une machine."),
        ("catalog.jsonld", "Catalogue DCAT-AP (JSON-LD)", "Le catalogue DCAT-AP de la publication : jeu de données, distributions, empreintes."),
        ("feed.atom", "Flux Atom des versions", "Une entrée par version publiée, avec les changements par table."),
        ("history/index.json", "Index de l'historique", "Les versions publiées, l'empreinte de chaque table à chaque version et les schémas successifs."),
    ];
    match known.iter().position(|(p, _, _)| *p == path) {
        Some(i) => {
            let (p, title, description) = known[i];
            let rank = if p == "history/index.json" { 3 } else { 1 };
            let kind = if rank == 3 { "other" } else { "documentation" };
            (rank, kind.into(), title.into(), description.into(), None)
        }
        None => (1, "documentation".into(), path.to_owned(), format!("Le fichier `{path}` de la version."), None),
    }
}

fn sha1_of(path: &Path) -> Result<String, PublishError> {
    let mut file = std::fs::File::open(path).map_err(|e| PublishError::Release { path: path.display().to_string(), message: e.to_string() })?;
    let mut hasher = Sha1::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| PublishError::Release { path: path.display().to_string(), message: e.to_string() })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn sha256_of(path: &Path) -> Result<String, PublishError> {
    let (_, sha256) = crate::sha256::file(path).map_err(|e| PublishError::Release { path: path.display().to_string(), message: e.to_string() })?;
    Ok(sha256)
}

/// The desired dataset for the release in `release_dir`.
pub fn desired_dataset(release_dir: &Path, manifest: &Manifest, input: &DesiredInput<'_>) -> Result<DesiredDataset, PublishError> {
    let mut titles = BTreeMap::new();
    for t in &manifest.tables {
        let schema: Value = std::fs::read(release_dir.join(&t.schema)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        let s = |k: &str| schema.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        titles.insert(t.name.clone(), (if s("title").is_empty() { t.name.clone() } else { s("title") }, s("description")));
    }
    let sha256_by_path: BTreeMap<&str, &str> = manifest.files.iter().map(|f| (f.path.as_str(), f.sha256.as_str())).collect();
    let mut resources = Vec::new();
    for path in release_files(manifest) {
        let local_path = release_dir.join(&path);
        let bytes = std::fs::metadata(&local_path).map_err(|e| PublishError::Release { path: local_path.display().to_string(), message: format!("a file of the release is missing: {e}") })?.len();
        let sha256 = match sha256_by_path.get(path.as_str()) {
            Some(s) => (*s).to_owned(),
            None => sha256_of(&local_path)?,
        };
        let (rank, kind, title, description, schema_of) = describe(&path, manifest, &titles);
        let extras = BTreeMap::from([(RESOURCE_MARKER.to_owned(), path.clone()), (SHA256_EXTRA.to_owned(), sha256.clone())]);
        let resource = DesiredResource { upload_name: upload_name(&path, input.extensions), key: path, sha1: sha1_of(&local_path)?, sha256, bytes, local_path, meta: ResourceMeta { title, description, kind, schema_of, extras } };
        resources.push((rank, resource));
    }
    // Tables first (CSV then Parquet of each, in the manifest's order), documentation, changes, history.
    resources.sort_by_key(|(rank, _)| *rank);
    let resources: Vec<DesiredResource> = resources.into_iter().map(|(_, r)| r).collect();

    let config = input.dataset;
    let end: String = manifest.snapshot.taken_at.chars().take(10).collect();
    let start = match &config.temporal_coverage_start {
        Some(s) => s.clone(),
        None => first_history_version(release_dir).unwrap_or_else(|| end.clone()),
    };
    let mut fields = Map::new();
    fields.insert("title".into(), json!(config.title));
    fields.insert("description".into(), json!(input.description));
    fields.insert("description_short".into(), json!(config.description_short));
    fields.insert("license".into(), json!(config.license));
    fields.insert("frequency".into(), json!(config.frequency));
    fields.insert("tags".into(), json!(config.tags));
    fields.insert("spatial".into(), json!({"zones": config.spatial_zones, "granularity": config.spatial_granularity}));
    fields.insert("temporal_coverage".into(), json!({"start": start, "end": end}));
    fields.insert("private".into(), json!(config.private));
    let manifest_sha256 = sha256_of(&release_dir.join(MANIFEST_FILE))?;
    let extras = Map::from_iter([
        (DATASET_MARKER.to_owned(), json!(config.marker)),
        (VERSION_EXTRA.to_owned(), json!(manifest.version)),
        (MANIFEST_SHA256_EXTRA.to_owned(), json!(manifest_sha256)),
    ]);
    Ok(DesiredDataset { fields, extras, resources })
}

/// The date of the oldest version in the release's history index (YYYY-MM-DD).
fn first_history_version(release_dir: &Path) -> Option<String> {
    let index: Value = serde_json::from_slice(&std::fs::read(release_dir.join("history/index.json")).ok()?).ok()?;
    let first = index.get("versions")?.as_array()?.iter().filter_map(|v| v.get("version").and_then(Value::as_str)).min()?.to_owned();
    (first.len() >= 8).then(|| format!("{}-{}-{}", &first[0..4], &first[4..6], &first[6..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_flat_and_accepted() {
        let ext = ["csv".to_owned(), "json".to_owned(), "parquet".to_owned(), "txt".to_owned()];
        assert_eq!(upload_name("changes/offres.csv", &ext), "changes-offres.csv");
        assert_eq!(upload_name("schemas/offres.schema.json", &ext), "schemas-offres.schema.json");
        assert_eq!(upload_name("SHA256SUMS", &ext), "SHA256SUMS.txt");
        assert_eq!(upload_name("manifest.json.minisig", &ext), "manifest.json.minisig.txt");
    }
}
