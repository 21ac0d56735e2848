//! Flattening tests: ANS's own fixture resources must reach the tables with their real values, and
//! bad input must name its file, resource and field.

use std::fs;
use std::path::Path;

use polars::prelude::*;

use super::*;
use crate::table::spill::TableSource;
use crate::source::open_folder;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/fixtures/ror-ig");

/// The resources ANS's fixtures point to, so that every reference resolves.
const COMPANIONS: &str = r#"{"resourceType":"Bundle","type":"collection","entry":[
 {"resource":{"resourceType":"Organization","id":"999999","partOf":{"reference":"Organization/ror-organization-exemple-ej"},"name":"EG 999999"}},
 {"resource":{"resourceType":"Organization","id":"4947","partOf":{"reference":"Organization/ror-organization-exemple-ej"},"name":"Cabinet"}},
 {"resource":{"resourceType":"Location","id":"888888","managingOrganization":{"reference":"Organization/999999"}}},
 {"resource":{"resourceType":"Location","id":"1215","managingOrganization":{"reference":"Organization/4947"}}},
 {"resource":{"resourceType":"Practitioner","id":"2524","identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.1","value":"810102379616"}],"name":[{"family":"TENOR","given":["Mylène"]}]}},
 {"resource":{"resourceType":"HealthcareService","id":"9597","providedBy":{"reference":"Organization/4947"},"type":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R227-ChampActivite/FHIR/TRE-R227-ChampActivite","code":"05"}]}]}}
]}"#;

fn fixture_snapshot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    fs::write(dir.path().join("companions.json"), COMPANIONS).unwrap();
    dir
}

fn flatten_dir(dir: &Path) -> Result<Flattened, FhirError> {
    flatten_snapshot(&open_folder(dir, "test").unwrap())
}

fn cell(flat: &Flattened, table: &str, key: &str, column: &str) -> String {
    let t = &flat.tables[table];
    let keys = t.text_values(t.spec.primary_key).unwrap();
    let row = keys.iter().position(|k| k.as_deref() == Some(key)).unwrap_or_else(|| panic!("{table} has no row {key}"));
    let value = t.frame.column(column).unwrap().get(row).unwrap();
    match value {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_owned(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

#[test]
fn ans_fixtures_reach_the_tables_with_their_values() {
    let dir = fixture_snapshot();
    let flat = flatten_dir(dir.path()).unwrap();

    assert_eq!(cell(&flat, "offres", "1234564", "identifiant_offre"), "06/0099999");
    assert_eq!(cell(&flat, "offres", "1234564", "nom"), "5812  Chirurgie gynécologique - HOSPITALISATION COMPLETE");
    assert_eq!(cell(&flat, "offres", "1234564", "type_offre_code"), "157");
    assert_eq!(cell(&flat, "offres", "1234564", "champ_activite_code"), "01");
    assert_eq!(cell(&flat, "offres", "1234564", "activite_operationnelle_libelle"), "Chirurgie gynécologique");
    assert_eq!(cell(&flat, "offres", "1234564", "age_minimum"), "15");
    assert_eq!(cell(&flat, "offres", "1234564", "age_maximum"), "150");
    assert_eq!(cell(&flat, "offres", "1234564", "unite_sensible"), "false");
    assert_eq!(cell(&flat, "offres", "1234564", "region_code"), "06");
    assert_eq!(cell(&flat, "offres", "1234564", "entite_geographique_id"), "999999");
    assert_eq!(cell(&flat, "offres", "1234564", "lieu_id"), "888888");
    assert_eq!(cell(&flat, "horaires", "1234564-7", "jour_semaine"), "7");
    assert_eq!(cell(&flat, "horaires", "1234564-7", "heure_fin"), "23:59:00");
    assert_eq!(cell(&flat, "contacts", "offre-1234564-1-1", "valeur"), "0199999999");
    assert_eq!(cell(&flat, "contacts", "offre-1234564-1-1", "niveau_confidentialite_telecom_code"), "1");

    assert_eq!(cell(&flat, "offres", "ror-healthcareservice-exemple-ville", "nom"), "Cabinet du Dr Julie JOURDIN");
    assert_eq!(cell(&flat, "offres", "ror-healthcareservice-exemple-ville", "mode_prise_en_charge_code"), "32");
    assert_eq!(cell(&flat, "contacts", "offre-ror-healthcareservice-exemple-ville-1-1", "valeur"), "01.01.01.01.01");
    assert_eq!(cell(&flat, "horaires", "ror-healthcareservice-exemple-ville-6", "heure_debut"), "09:00:00");

    assert_eq!(cell(&flat, "entites_juridiques", "ror-organization-exemple-ej", "raison_sociale"), "Quiétude");
    assert_eq!(cell(&flat, "entites_juridiques", "ror-organization-exemple-ej", "siren"), "921317258");
    assert_eq!(cell(&flat, "entites_juridiques", "ror-organization-exemple-ej", "id_nat_struct"), "2921317258");
    assert_eq!(cell(&flat, "entites_juridiques", "ror-organization-exemple-ej", "statut_juridique_code"), "72");
    assert_eq!(cell(&flat, "entites_juridiques", "ror-organization-exemple-ej", "code_postal"), "92270");

    assert_eq!(cell(&flat, "lieux", "ror-location-exemple", "commune_cog_code"), "78646");
    assert_eq!(cell(&flat, "lieux", "ror-location-exemple", "commune_cog_libelle"), "Versailles");
    assert_eq!(cell(&flat, "lieux", "ror-location-exemple", "fonction_libelle"), "Hébergement");

    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "nom_exercice"), "Tenor");
    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "prenom_exercice"), "Mylène");
    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "profession_code"), "60");
    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "savoir_faire_code"), "CEX");
    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "mode_exercice_code"), "L");
    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "id_nat_ps"), "810102379616");
    assert_eq!(cell(&flat, "professionnels", "ror-practitionerrole-exemple", "offre_champ_activite_code"), "05");
}

fn error_for(extra_name: &str, extra: &[u8]) -> String {
    let dir = fixture_snapshot();
    fs::write(dir.path().join(extra_name), extra).unwrap();
    flatten_dir(dir.path()).unwrap_err().to_string()
}

#[test]
fn bad_input_names_file_resource_and_field() {
    let e = error_for("x.json", br#"{"resourceType":"Location","id":"L1","position":{"latitude":"north"}}"#);
    assert!(e.contains("x.json: resource Location/L1: field position.latitude: invalid type"), "{e}");

    let e = error_for("x.json", br#"{"resourceType":"Location","id":"L1","position":{"latitude":91.5,"longitude":2}}"#);
    assert!(e.contains("x.json: resource Location/L1: field position.latitude: 91.5 is not a WGS84 coordinate"), "{e}");

    let e = error_for("x.json", br#"{"resourceType":"HealthcareService","id":"H1","providedBy":{"reference":"Organization/nowhere"}}"#);
    assert!(e.contains("x.json: resource HealthcareService/H1: field providedBy: dangling reference to Organization/nowhere"), "{e}");

    let e = error_for("zz.json", br#"{"resourceType":"Location","id":"1215"}"#);
    assert!(e.contains("zz.json: resource Location/1215: duplicate id") && e.contains("companions.json (entry[3])"), "{e}");

    let e = error_for("x.json", br#"{"resourceType":"Location","id":"L1","meta":{"lastUpdated":"yesterday"}}"#);
    assert!(e.contains("field meta.lastUpdated: \"yesterday\" is not a FHIR dateTime"), "{e}");

    let e = error_for("x.json", br#"{"resourceType":"HealthcareService","id":"H1","providedBy":{"reference":"Location/1215"}}"#);
    assert!(e.contains("field providedBy: \"Location/1215\" points to a Location, expected a Organization"), "{e}");

    let e = error_for("x.json", b"{\"resourceType\":\"Location\",\"id\":\"L\xff\"}");
    assert!(e.contains("x.json: not valid UTF-8"), "{e}");
}

#[test]
fn organisations_are_classified_and_internal_ones_find_their_establishment() {
    let dir = fixture_snapshot();
    fs::write(
        dir.path().join("oi.json"),
        r#"{"resourceType":"Bundle","entry":[
          {"resource":{"resourceType":"Organization","id":"P1","partOf":{"reference":"Organization/999999"},"identifier":[{"system":"https://oi.esante.gouv.fr","value":"x-1"}],"type":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R207-TypeOrganisationInterne/FHIR/TRE-R207-TypeOrganisationInterne","code":"1","display":"Pôle"}]}]}},
          {"resource":{"resourceType":"Organization","id":"U1","partOf":{"reference":"Organization/P1"},"type":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R207-TypeOrganisationInterne/FHIR/TRE-R207-TypeOrganisationInterne","code":"3","display":"Unité fonctionnelle"}]}]}},
          {"resource":{"resourceType":"HealthcareService","id":"H2","providedBy":{"reference":"Organization/U1"}}}
        ]}"#,
    )
    .unwrap();
    let flat = flatten_dir(dir.path()).unwrap();
    assert_eq!(cell(&flat, "organisations_internes", "U1", "entite_geographique_id"), "999999");
    assert_eq!(cell(&flat, "organisations_internes", "U1", "organisation_parente_id"), "P1");
    assert_eq!(cell(&flat, "offres", "H2", "organisation_interne_id"), "U1");
    assert_eq!(cell(&flat, "offres", "H2", "entite_geographique_id"), "999999");
    assert_eq!(flat.tables["entites_geographiques"].rows(), 2);
}

#[test]
fn references_to_later_files_resolve_and_the_first_dangling_one_is_reported() {
    // R1 names a Practitioner of a later file (references that resolve when their file is merged
    // are not kept for the final check; these are); H1 and H2 name nothing.
    let role = r#"{"resourceType":"PractitionerRole","id":"R1","practitioner":{"reference":"Practitioner/PZ"}}"#;
    let later = r#"{"resourceType":"Practitioner","id":"PZ","identifier":[{"value":"810000000001"}],"name":[{"family":"ZED","given":["Ada"]}]}"#;
    let dangling = |id: &str, target: &str| format!(r#"{{"resourceType":"HealthcareService","id":"{id}","providedBy":{{"reference":"Organization/{target}"}}}}"#);
    let snapshot = |a: &str, b: &str| {
        let dir = fixture_snapshot();
        fs::write(dir.path().join("a.ndjson"), a).unwrap();
        fs::write(dir.path().join("b.ndjson"), b).unwrap();
        fs::write(dir.path().join("z.ndjson"), later).unwrap();
        dir
    };

    let dir = snapshot(&format!("{role}\n{}\n", dangling("H1", "nowhere-a")), &dangling("H2", "nowhere-b"));
    let e = flatten_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("a.ndjson: line 2 HealthcareService/H1: field providedBy: dangling reference to Organization/nowhere-a"), "{e}");

    let dir = snapshot(role, &format!("{}\n{}\n", dangling("H2", "nowhere-b"), dangling("H3", "nowhere-c")));
    let e = flatten_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("b.ndjson: line 1 HealthcareService/H2: field providedBy: dangling reference to Organization/nowhere-b"), "{e}");

    let dir = snapshot(role, r#"{"resourceType":"Location","id":"L9"}"#);
    let flat = flatten_dir(dir.path()).unwrap();
    assert_eq!(cell(&flat, "professionnels", "R1", "id_nat_ps"), "810000000001");
    assert_eq!(cell(&flat, "professionnels", "R1", "type_identifiant"), "RPPS");
    assert_eq!(cell(&flat, "professionnels", "R1", "nom_exercice"), "ZED");
    assert_eq!(cell(&flat, "professionnels", "R1", "prenom_exercice"), "Ada");
}

#[test]
fn a_table_is_made_from_every_files_part_in_file_order_and_its_folder_goes_with_it() {
    // Offer z1 (file 1) is provided by an internal organisation of file 2, offer a2 (file 2) by
    // an establishment of file 1: each offer's resolved columns come from its own provider only if
    // the parts are put together in the order the providers were noted (file order), whatever the
    // sort does after.
    let dir = tempfile::tempdir().unwrap();
    let org = |id: &str, rest: &str| format!(r#"{{"resourceType":"Organization","id":"{id}"{rest}}}"#);
    let offer = |id: &str, provider: &str| format!(r#"{{"resourceType":"HealthcareService","id":"{id}","providedBy":{{"reference":"Organization/{provider}"}}}}"#);
    let first = [org("ej", ""), org("eg-1", r#","partOf":{"reference":"Organization/ej"}"#), offer("z1", "oi-b")].join("\n");
    let internal = org("oi-b", r#","partOf":{"reference":"Organization/eg-1"},"identifier":[{"system":"https://oi.esante.gouv.fr","value":"x"}]"#);
    let second = [internal, offer("a2", "eg-1"), offer("m2", "oi-b")].join("\n");
    fs::write(dir.path().join("f1.ndjson"), first).unwrap();
    fs::write(dir.path().join("f2.ndjson"), second).unwrap();
    let work = tempfile::tempdir().unwrap();
    let flat = flatten_snapshot_to(&open_folder(dir.path(), "test").unwrap(), work.path()).unwrap();

    let run_dirs: Vec<_> = fs::read_dir(work.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(run_dirs.len(), 1, "{run_dirs:?}");
    assert!(!run_dirs[0].join("parts").exists(), "the parts go once the tables are made");
    for builder in Builders::default().into_vec() {
        assert!(flat.tables.rows(builder.spec().name).is_some(), "table {} is written", builder.spec().name);
    }
    assert_eq!(flat.tables.rows("offres"), Some(3));

    let names: Vec<&str> = catalog::ALL.iter().map(|s| s.name).collect();
    let loaded = Flattened { tables: load_tables(&flat.tables, &names).unwrap(), resources_by_type: flat.resources_by_type.clone(), latest_update: flat.latest_update };
    let offres = &loaded.tables["offres"];
    assert_eq!(offres.text_values("identifiant_ror").unwrap(), vec![Some("a2".into()), Some("m2".into()), Some("z1".into())], "sorted by key");
    assert_eq!(cell(&loaded, "offres", "z1", "organisation_interne_id"), "oi-b");
    assert_eq!(cell(&loaded, "offres", "z1", "entite_geographique_id"), "eg-1");
    assert_eq!(cell(&loaded, "offres", "a2", "organisation_interne_id"), "");
    assert_eq!(cell(&loaded, "offres", "a2", "entite_geographique_id"), "eg-1");
    assert_eq!(cell(&loaded, "offres", "m2", "organisation_interne_id"), "oi-b");
    assert_eq!(cell(&loaded, "organisations_internes", "oi-b", "entite_geographique_id"), "eg-1");

    // The in-memory path makes the same tables.
    let memory = flatten_snapshot(&open_folder(dir.path(), "test").unwrap()).unwrap();
    for (name, table) in &loaded.tables {
        assert!(table.frame.equals_missing(&memory.tables[name].frame), "{name}");
    }

    drop(flat);
    assert!(!run_dirs[0].exists(), "the run's folder goes with the tables");
}

/// A duplicate found when the parts are checked names the first resource's position as the
/// reader wrote it, whatever its text.
#[test]
fn a_duplicate_names_the_first_position_as_written() {
    let mut state = State::default();
    let part = |file: &str, position: &str| FilePart { path: file.into(), state: State { keys: vec![("Location/L1".into(), position.into())], ..State::default() }, error: None };
    state.absorb(part("a.ndjson", "line 7 of 9")).unwrap();
    state.absorb(part("b.ndjson", "line 1")).unwrap();
    let Some(FhirError::DuplicateId { file, first_file, first_position, .. }) = state.first_duplicate().unwrap() else { panic!("a duplicate") };
    assert_eq!((file.as_str(), first_file.as_str(), first_position.as_str()), ("b.ndjson", "a.ndjson", "line 7 of 9"));
}

/// The ids are compared as "Type/id" texts (`checks`): an id that starts or ends like another, or
/// another type's id, is not one the snapshot has; and an indexed field comes back with its index.
#[test]
fn a_reference_to_an_id_like_another_is_dangling() {
    let offer = |target: &str| format!(r#"{{"resourceType":"HealthcareService","id":"H1","providedBy":{{"reference":"{target}"}}}}"#);
    // Organization/4947 is a companion, 888888 a Location's id.
    for target in ["Organization/494", "Organization/49470", "Organization/94947", "Organization/888888"] {
        let e = error_for("x.json", offer(target).as_bytes());
        assert!(e.contains(&format!("x.json: resource HealthcareService/H1: field providedBy: dangling reference to {target}, which is not in the snapshot")), "{e}");
    }
    let places = r#"{"resourceType":"HealthcareService","id":"H1","location":[{"reference":"Location/888888"},{"reference":"Location/88888"}]}"#;
    let e = error_for("x.json", places.as_bytes());
    assert!(e.contains("x.json: resource HealthcareService/H1: field location[1]: dangling reference to Location/88888,"), "{e}");
}

/// An id referred to before its resource is seen, then seen twice: the duplicate names where it
/// was first seen, not where it was first referred to.
#[test]
fn a_duplicate_of_an_id_referred_to_earlier_names_its_first_resource() {
    let dir = fixture_snapshot();
    fs::write(dir.path().join("a.ndjson"), r#"{"resourceType":"PractitionerRole","id":"R1","practitioner":{"reference":"Practitioner/PZ"}}"#).unwrap();
    fs::write(dir.path().join("b.ndjson"), "{\"resourceType\":\"Location\",\"id\":\"L9\"}\n{\"resourceType\":\"Practitioner\",\"id\":\"PZ\"}\n").unwrap();
    fs::write(dir.path().join("c.json"), r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location","id":"L8"}},{"resource":{"resourceType":"Practitioner","id":"PZ"}}]}"#).unwrap();
    let e = flatten_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("c.json: entry[1] Practitioner/PZ: duplicate id: entry[1] Practitioner/PZ already appears in b.ndjson (line 2)"), "{e}");
}

/// The checks are made once every file is merged, or at the first file that fails; the error
/// reported is still the one reading the files one by one meets first: a duplicate id before a
/// later file's parse error, that parse error before a dangling reference of an earlier file, and
/// the dangling reference when nothing else is wrong.
#[test]
fn the_error_reported_is_the_first_a_single_pass_meets() {
    let dir = fixture_snapshot();
    let dangling = r#"{"resourceType":"HealthcareService","id":"HX","location":[{"reference":"Location/NOPE"}]}"#;
    fs::write(dir.path().join("a.ndjson"), format!("{{\"resourceType\":\"Location\",\"id\":\"L1\"}}\n{dangling}\n")).unwrap();
    fs::write(dir.path().join("b.ndjson"), "{\"resourceType\":\"Location\",\"id\":\"L2\"}\n{\"resourceType\":\"Location\",\"id\":\"L1\"}\n").unwrap();
    fs::write(dir.path().join("c.ndjson"), r#"{"resourceType":"Practitioner","id":"PX","name":5}"#).unwrap();
    let e = flatten_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("b.ndjson: line 2 Location/L1: duplicate id: line 2 Location/L1 already appears in a.ndjson (line 1)"), "{e}");
    fs::write(dir.path().join("b.ndjson"), "{\"resourceType\":\"Location\",\"id\":\"L2\"}\n").unwrap();
    let e = flatten_dir(dir.path()).unwrap_err().to_string();
    assert!(e.starts_with("c.ndjson: resource Practitioner/PX: field name"), "{e}");
    fs::remove_file(dir.path().join("c.ndjson")).unwrap();
    let e = flatten_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("a.ndjson: line 2 HealthcareService/HX: field location[0]: dangling reference to Location/NOPE"), "{e}");
}
