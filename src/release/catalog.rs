//! catalog.jsonld: a DCAT-AP catalogue of the release, for portals that harvest DCAT. One dataset
//! (title, description, publisher, licence, frequency, temporal and spatial coverage, keywords,
//! contact point, landing page, provenance) and one distribution per file (media type, size, sha256
//! as spdx:checksum, its Table Schema as dct:conformsTo). File URLs are relative to the catalogue
//! itself, so they resolve wherever the release folder is served or copied.

use serde_json::{json, Value};

use super::manifest::FileRecord;

pub const CATALOG_FILE: &str = "catalog.jsonld";
const LICENCE: &str = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/";

/// What the catalogue describes.
pub struct CatalogInput<'a> {
    pub publication: &'a str,
    pub version: &'a str,
    /// RFC 3339 UTC instants.
    pub taken_at: &'a str,
    pub first_release: &'a str,
    pub snapshot_sha256: &'a str,
    pub previous_version: Option<&'a str>,
    pub files: &'a [FileRecord],
    /// table name → its Table Schema path, for dct:conformsTo.
    pub schemas: &'a [(String, String)],
}

fn media_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("csv") => "text/csv",
        Some("parquet") => "application/vnd.apache.parquet",
        Some("json") => "application/json",
        Some("md") => "text/markdown",
        Some("html") => "text/html",
        Some("atom") => "application/atom+xml",
        _ => "text/plain",
    }
}

fn format_of(path: &str) -> String {
    path.rsplit('.').next().unwrap_or("txt").to_uppercase()
}

pub fn render(input: &CatalogInput<'_>) -> Value {
    let dataset_id = format!("urn:ror-opendata:{}", input.publication);
    let release_id = format!("{dataset_id}:{}", input.version);
    let publisher = json!({"@id": "urn:ror-opendata:publisher", "@type": "foaf:Agent", "foaf:name": "Agence du Numérique en Santé (ANS)"});
    let distributions: Vec<Value> = input
        .files
        .iter()
        .map(|f| {
            let table = f.path.rsplit('/').next().and_then(|n| n.split('.').next()).unwrap_or_default();
            let schema = input.schemas.iter().find(|(t, _)| t == table && (f.path.ends_with(".csv") || f.path.ends_with(".parquet")) && !f.path.contains('/'));
            let mut d = json!({
                "@id": format!("{release_id}:{}", f.path),
                "@type": "dcat:Distribution",
                "dct:title": f.path,
                "dcat:accessURL": {"@id": f.path},
                "dcat:downloadURL": {"@id": f.path},
                "dcat:mediaType": {"@id": format!("https://www.iana.org/assignments/media-types/{}", media_type(&f.path))},
                "dct:format": format_of(&f.path),
                "dcat:byteSize": {"@value": f.bytes.to_string(), "@type": "xsd:nonNegativeInteger"},
                "spdx:checksum": {
                    "@type": "spdx:Checksum",
                    "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                    "spdx:checksumValue": {"@value": f.sha256, "@type": "xsd:hexBinary"}
                },
                "dct:license": {"@id": LICENCE},
            });
            if let Some((_, schema_path)) = schema {
                d["dct:conformsTo"] = json!({"@id": schema_path});
            }
            d
        })
        .collect();
    let mut dataset = json!({
        "@id": dataset_id,
        "@type": "dcat:Dataset",
        "dct:identifier": format!("ror-{}", input.publication),
        "dct:title": {"@value": "Répertoire national de l'offre et des ressources en santé (ROR) — données publiques", "@language": "fr"},
        "dct:description": {"@value": "L'offre de santé en France telle que la décrit le ROR : entités juridiques et géographiques, organisations internes, offres, lieux, horaires, contacts publics, professionnels de ville. Sous-ensemble public (Profil 0), publié chaque nuit avec son historique, un journal des changements et des fichiers signés.", "@language": "fr"},
        "dct:publisher": publisher,
        "dct:license": {"@id": LICENCE},
        "dct:accrualPeriodicity": {"@id": "http://publications.europa.eu/resource/authority/frequency/DAILY"},
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": {"@value": input.first_release, "@type": "xsd:dateTime"},
            "dcat:endDate": {"@value": input.taken_at, "@type": "xsd:dateTime"}
        },
        "dct:spatial": {"@id": "http://publications.europa.eu/resource/authority/country/FRA"},
        "dcat:keyword": ["santé", "offre de soins", "établissements de santé", "ROR", "FINESS", "répertoire"],
        "dcat:theme": {"@id": "http://publications.europa.eu/resource/authority/data-theme/HEAL"},
        "dcat:contactPoint": {"@type": "vcard:Organization", "vcard:fn": "Équipe ror-opendata", "vcard:hasEmail": {"@id": "mailto:ror-opendata@esante.gouv.fr"}},
        "dcat:landingPage": {"@id": "documentation.html"},
        "dct:issued": {"@value": input.first_release, "@type": "xsd:dateTime"},
        "dct:modified": {"@value": input.taken_at, "@type": "xsd:dateTime"},
        "owl:versionInfo": input.version,
        "prov:wasDerivedFrom": {"@id": format!("urn:sha256:{}", input.snapshot_sha256)},
        "dcat:distribution": distributions,
    });
    if let Some(previous) = input.previous_version {
        dataset["prov:wasRevisionOf"] = json!({"@id": format!("{dataset_id}:{previous}")});
    }
    json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "vcard": "http://www.w3.org/2006/vcard/ns#",
            "spdx": "http://spdx.org/rdf/terms#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "prov": "http://www.w3.org/ns/prov#",
            "owl": "http://www.w3.org/2002/07/owl#"
        },
        "@id": "urn:ror-opendata:catalog",
        "@type": "dcat:Catalog",
        "dct:title": {"@value": "Catalogue ror-opendata", "@language": "fr"},
        "dct:description": {"@value": "Publications ouvertes du Répertoire national de l'offre et des ressources en santé.", "@language": "fr"},
        "dct:publisher": {"@id": "urn:ror-opendata:publisher"},
        "dct:license": {"@id": LICENCE},
        "foaf:homepage": {"@id": "documentation.html"},
        "dcat:dataset": dataset,
    })
}
