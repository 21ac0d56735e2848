//! Disclosure control end to end: the pseudonym known-answer vectors, the DREES and Health Data Hub
//! policies on the embedded sample (restricted data in, identities out, pseudonyms that no two
//! audiences share), the k-anonymity gate and the small-count rule recounted from the data, the
//! disclosure report of the public release recounted from its files, and no secret or canary in any
//! output, log line or error message.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::sync::OnceLock;

use polars::prelude::*;
use serde_json::Value;

use ror_opendata::disclose::policy::shipped;
use ror_opendata::disclose::{apply_with_key, Disclosed, IdentifierKind, Policy, Pseudonymiser};
use ror_opendata::keys::Keyring;
use ror_opendata::table::{Table, Tables};
use support::*;

/// The sample's full tables, flattened once for the whole file.
fn sample_tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let snapshot = ror_opendata::source::open_folder(&sample_dir(), "sample").unwrap();
        ror_opendata::fhir::flatten_snapshot(&snapshot).unwrap().tables
    })
}

fn policy(audience: &str) -> Policy {
    let (text, origin) = shipped(audience).unwrap();
    Policy::parse(text, origin).unwrap()
}

fn ring() -> Keyring {
    Keyring::from_master([0x5a; 32], BTreeMap::new(), true)
}

fn disclose(audience: &str) -> Disclosed {
    let ring = ring();
    let key = ring.audience_key(audience);
    apply_with_key(&policy(audience), sample_tables(), Some(&key)).unwrap()
}

fn text(table: &Table, column: &str) -> Vec<Option<String>> {
    let c = table.frame.column(column).unwrap().cast(&DataType::String).unwrap();
    c.str().unwrap().iter().map(|v| v.map(str::to_owned)).collect()
}

#[test]
fn known_answer_vectors() {
    let file: Value = serde_json::from_slice(&fs::read(repo().join("tests/vectors/pseudonyms.json")).unwrap()).unwrap();
    let hex = file["master_secret_hex"].as_str().unwrap();
    let mut master = [0u8; 32];
    for (i, b) in master.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let ring = Keyring::from_master(master, BTreeMap::new(), false);
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 40);
    for v in vectors {
        let (audience, epoch) = (v["audience"].as_str().unwrap(), v["epoch"].as_u64().unwrap() as u32);
        let kind = IdentifierKind::parse(v["kind"].as_str().unwrap()).unwrap();
        let value = v["value"].as_str().unwrap();
        let key = ring.audience_key_at(audience, epoch);
        assert_eq!(String::from_utf8(ror_opendata::disclose::pseudonym::mac_input(kind, value)).unwrap(), v["mac_input"].as_str().unwrap(), "{v}");
        assert_eq!(Pseudonymiser::new(&key).pseudonym(kind, value), v["pseudonym"].as_str().unwrap(), "{v}");
    }
    // The same canonical input gets a different pseudonym for every audience and every epoch.
    let mut by_input: HashMap<&str, HashSet<(&str, u64, &str)>> = HashMap::new();
    for v in vectors {
        by_input.entry(v["mac_input"].as_str().unwrap()).or_default().insert((v["audience"].as_str().unwrap(), v["epoch"].as_u64().unwrap(), v["pseudonym"].as_str().unwrap()));
    }
    for (input, outputs) in by_input {
        let keys: BTreeSet<_> = outputs.iter().map(|(a, e, _)| (*a, *e)).collect();
        let pseudonyms: BTreeSet<_> = outputs.iter().map(|(_, _, p)| *p).collect();
        assert_eq!(keys.len(), 4, "{input}: public, drees, hdh and drees epoch 2");
        assert_eq!(pseudonyms.len(), keys.len(), "{input}: two keys gave the same pseudonym");
    }
}

#[test]
fn drees_and_hdh_get_the_restricted_data_without_identities() {
    let full = sample_tables();
    let marker = ror_opendata::synth::CANARY_MARKER;
    for audience in ["drees", "hdh"] {
        let d = disclose(audience);
        for table in ["capacites", "equipements", "offres", "professionnels"] {
            assert!(d.tables[table].rows() > 0, "{audience}: {table} is empty");
        }
        // Everything the public does not get, they get: sensitive units, hospital practitioners.
        let sensitive = text(&d.tables["offres"], "unite_sensible").iter().filter(|v| v.as_deref() == Some("true")).count();
        assert!(sensitive > 50, "{audience}: {sensitive} sensitive offers");
        let hospital = text(&d.tables["professionnels"], "offre_champ_activite_code").iter().filter(|v| v.as_deref() != Some("05")).count();
        assert!(hospital > 1000, "{audience}: {hospital} hospital practitioners");
        // But no identity: names dropped, identifiers pseudonymised, nothing planted as a canary.
        let pros = &d.tables["professionnels"];
        for dropped in ["nom_exercice", "prenom_exercice"] {
            assert!(pros.frame.column(dropped).is_err(), "{audience}: {dropped} published");
        }
        let originals: HashSet<String> = text(&full["professionnels"], "id_nat_ps").into_iter().flatten().collect();
        for column in ["id_nat_ps", "professionnel_id", "identifiant_ror"] {
            for v in text(pros, column).into_iter().flatten() {
                assert!(v.len() == 26 && v.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{audience}: {column} = {v}");
                assert!(!originals.contains(&v));
            }
        }
        for (name, table) in &d.tables {
            for column in table.column_names() {
                for v in text(table, &column).into_iter().flatten() {
                    assert!(!v.contains(marker) && !v.starts_with("8100999"), "{audience}: {name}.{column} holds a canary");
                }
            }
        }
        // Places: département, not commune; dates of practitioners' records: month.
        let lieux = &d.tables["lieux"];
        for c in ["adresse", "commune", "latitude", "longitude"] {
            assert!(lieux.frame.column(c).is_err(), "{audience}: lieux.{c}");
        }
        let deps: BTreeSet<String> = text(lieux, "commune_cog_code").into_iter().flatten().collect();
        assert!(deps.iter().all(|d| d.len() == 2 || d.len() == 3), "{audience}: {deps:?}");
        assert!(deps.contains("75") && deps.contains("29"), "{audience}: {deps:?}");
        assert_eq!(lieux.spec.column("commune_cog_code").unwrap().kind, ror_opendata::table::ColumnType::String);
        assert!(text(pros, "date_mise_a_jour").into_iter().flatten().all(|m| m.len() == 7 && m.as_bytes()[4] == b'-'));
    }
    // DREES sees restricted contacts, pseudonymised; the HDH none.
    let drees = disclose("drees");
    let levels: BTreeSet<String> = text(&drees.tables["contacts"], "niveau_confidentialite_telecom_code").into_iter().flatten().collect();
    assert!(levels.contains("2") && levels.contains("3"), "{levels:?}");
    assert!(text(&drees.tables["contacts"], "valeur").into_iter().flatten().all(|v| v.len() == 26));
    let hdh = disclose("hdh");
    assert!(!hdh.tables.contains_key("contacts"));
    // The HDH gets bed counts by bands, DREES exact.
    let bands: BTreeSet<String> = text(&hdh.tables["capacites"], "nombre").into_iter().flatten().collect();
    assert!(bands.iter().all(|b| ["0", "1-4", "5-9", "10-19", "20-49", "50-99", "100+", "<0"].contains(&b.as_str())), "{bands:?}");
    assert_eq!(drees.tables["capacites"].frame.column("nombre").unwrap().dtype(), &DataType::Int64);
}

#[test]
fn pseudonyms_of_two_audiences_never_match_and_repeat_run_after_run() {
    let (drees, hdh) = (disclose("drees"), disclose("hdh"));
    for column in ["id_nat_ps", "professionnel_id"] {
        let a: HashSet<String> = text(&drees.tables["professionnels"], column).into_iter().flatten().collect();
        let b: HashSet<String> = text(&hdh.tables["professionnels"], column).into_iter().flatten().collect();
        assert!(a.len() > 1000 && b.len() > 1000);
        assert!(a.is_disjoint(&b), "{column}: DREES and HDH pseudonyms can be joined");
    }
    // Same key, same epoch: identical tables. Next epoch: every pseudonym changes.
    let again = disclose("drees");
    for (name, table) in &drees.tables {
        assert!(table.frame.equals_missing(&again.tables[name].frame), "{name} differs between two runs");
    }
    let ring = Keyring::from_master([0x5a; 32], BTreeMap::from([("drees".to_owned(), 2)]), true);
    let rotated = apply_with_key(&policy("drees"), sample_tables(), Some(&ring.audience_key("drees"))).unwrap();
    assert_eq!(rotated.keys[0].epoch, 2);
    assert_ne!(rotated.keys[0].key_id, drees.keys[0].key_id);
    let before: HashSet<String> = text(&drees.tables["professionnels"], "id_nat_ps").into_iter().flatten().collect();
    let after: HashSet<String> = text(&rotated.tables["professionnels"], "id_nat_ps").into_iter().flatten().collect();
    assert!(before.is_disjoint(&after), "rotation left pseudonyms unchanged");
}

/// Equivalence classes recounted from a published table: size = distinct individuals.
fn class_sizes(table: &Table, quasi_identifiers: &[String], individual: &str) -> Vec<usize> {
    let columns: Vec<Vec<Option<String>>> = quasi_identifiers.iter().map(|q| text(table, q)).collect();
    let who = text(table, individual);
    let mut classes: HashMap<Vec<Option<String>>, HashSet<Option<String>>> = HashMap::new();
    for row in 0..table.rows() {
        classes.entry(columns.iter().map(|c| c[row].clone()).collect()).or_default().insert(who[row].clone());
    }
    classes.values().map(HashSet::len).collect()
}

#[test]
fn risk_and_aggregate_figures_match_the_data() {
    for audience in ["drees", "hdh"] {
        let p = policy(audience);
        let d = disclose(audience);
        let report = d.report_json();
        assert_eq!(report["gate"]["passed"], true);
        assert_eq!(report["keys"][0]["audience"], audience);
        let tables = report["tables"].as_array().unwrap();
        let account = |name: &str| tables.iter().find(|t| t["table"] == name).unwrap_or_else(|| panic!("{name} not reported")).clone();

        // The gate on professionals: every published class has at least k persons, k reached is
        // the smallest, and the suppressed rows are exactly the ones missing.
        let pros = account("professionnels");
        let risk = &pros["risk"];
        let k = p.risk.k;
        let sizes = class_sizes(&d.tables["professionnels"], &p.tables["professionnels"].quasi_identifiers, "professionnel_id");
        assert!(sizes.iter().all(|s| *s >= k), "{audience}: a published class under k");
        assert_eq!(risk["k_reached"].as_u64().unwrap() as usize, *sizes.iter().min().unwrap());
        assert_eq!(risk["k_required"].as_u64().unwrap() as usize, k);
        let full_rows = sample_tables()["professionnels"].rows();
        assert_eq!(pros["rows_in"].as_u64().unwrap() as usize, full_rows);
        let suppressed = risk["rows_suppressed"].as_u64().unwrap() as usize;
        assert_eq!(full_rows - suppressed, d.tables["professionnels"].rows());
        assert!(suppressed > 0 && suppressed <= risk["suppression_limit"].as_u64().unwrap() as usize, "{audience}: {suppressed}");
        assert_eq!(pros["rows_out"].as_u64().unwrap() as usize, d.tables["professionnels"].rows());

        // The aggregate: recount every published cell from the published professionals.
        let aggregate = &d.tables["effectifs_professionnels"];
        let pros_table = &d.tables["professionnels"];
        let (rows, cols) = (text(pros_table, "profession_code"), text(pros_table, "offre_champ_activite_code"));
        let mut recount: HashMap<(String, String), i64> = HashMap::new();
        for (r, c) in rows.iter().zip(&cols) {
            let (r, c) = (r.clone().unwrap_or("non renseigné".into()), c.clone().unwrap_or("non renseigné".into()));
            for key in [(r.clone(), c.clone()), (r.clone(), "TOTAL".into()), ("TOTAL".into(), c.clone()), ("TOTAL".into(), "TOTAL".into())] {
                *recount.entry(key).or_default() += 1;
            }
        }
        let (cell_rows, cell_cols) = (text(aggregate, "profession_code"), text(aggregate, "offre_champ_activite_code"));
        let counts = aggregate.frame.column("effectif").unwrap().i64().unwrap().clone();
        let secret = aggregate.frame.column("secret_statistique").unwrap().bool().unwrap().clone();
        let mut masked = 0;
        for i in 0..aggregate.rows() {
            let truth = recount.get(&(cell_rows[i].clone().unwrap(), cell_cols[i].clone().unwrap())).copied().unwrap_or(0);
            match counts.get(i) {
                Some(published) => {
                    assert_eq!(published, truth, "{audience}: cell {i}");
                    assert!(published == 0 || published >= 11, "{audience}: a published cell under 11");
                    assert_eq!(secret.get(i), Some(false));
                }
                None => {
                    masked += 1;
                    assert_eq!(secret.get(i), Some(true));
                }
            }
        }
        let agg = account("effectifs_professionnels");
        let outcome = &agg["aggregate"];
        assert_eq!(outcome["cells"].as_u64().unwrap() as usize, aggregate.rows());
        assert_eq!((outcome["primary_suppressed"].as_u64().unwrap() + outcome["secondary_suppressed"].as_u64().unwrap()) as usize, masked);
        assert!(outcome["primary_suppressed"].as_u64().unwrap() > 0, "{audience}: the sample has small cells to mask");
        assert_eq!(report["gate"]["aggregate_cells_suppressed"].as_u64().unwrap() as usize, masked);

        // Every column's rule is reported, as the policy says.
        for (column, rule) in &p.tables["lieux"].columns {
            let reported = account("lieux")["columns"].as_array().unwrap().iter().find(|c| c["column"] == column.as_str()).unwrap()["rule"].clone();
            assert_eq!(reported, rule.describe().as_str(), "{audience}: lieux.{column}");
        }
        let md = d.report_markdown();
        assert!(md.contains(&d.keys[0].key_id) && md.contains(&format!("époque {}", d.keys[0].epoch)), "{md}");
        assert!(md.contains(&d.policy_sha256));
    }
}
