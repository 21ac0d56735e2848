//! Disclosure control end to end: the pseudonym known-answer vectors, the DREES and Health Data Hub
//! policies on the embedded sample (restricted data in, identities out, pseudonyms that no two
//! audiences share), the k-anonymity gate and the small-count rule recounted from the data, the
//! disclosure report of the public release recounted from its files, and no secret or canary in any
//! output, log line or error message.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::Path;
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

/// Run the binary with a log filter (the support helper removes ROR_OPENDATA_LOG).
fn run_logged(args: &[&str], filter: &str) -> std::process::Output {
    std::process::Command::new(BIN).args(args).env("ROR_OPENDATA_LOG", filter).env_remove(ror_opendata::keys::MASTER_KEY_ENV).output().unwrap()
}

/// A configuration whose public policy is the shipped one edited by `edit`, and the path to it.
fn edited_public_policy(dir: &Path, edit: impl Fn(&str) -> String) -> std::path::PathBuf {
    let shipped = fs::read_to_string(repo().join("datasets/policy/public.toml")).unwrap();
    let edited = edit(&shipped);
    assert_ne!(edited, shipped, "the edit changed nothing");
    fs::write(dir.join("public.toml"), edited).unwrap();
    let config = dir.join("ror-opendata.toml");
    fs::write(&config, "[policy]\npublic = \"public.toml\"\n").unwrap();
    config
}

fn offres_quasi_identifiers(qi: &str) -> impl Fn(&str) -> String + '_ {
    move |p: &str| p.replacen("[tables.offres]\npublish = true\nquasi_identifiers = []\n", &format!("[tables.offres]\npublish = true\nquasi_identifiers = [{qi}]\n"), 1)
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = fs::read_to_string(path).unwrap();
    let mut reader = text.lines();
    let header: Vec<String> = reader.next().unwrap().split(',').map(str::to_owned).collect();
    // The tables recounted here have no quoted comma in the columns read (codes and ids); rows
    // with quotes are parsed by a reader that handles them, DuckDB, in check_release.py.
    text.lines()
        .skip(1)
        .map(|line| header.iter().cloned().zip(split_csv(line)).collect())
        .collect()
}

/// RFC 4180 split of one line (fields may be quoted; no embedded newline in the tables read here).
fn split_csv(line: &str) -> Vec<String> {
    let (mut fields, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[test]
fn the_public_report_is_in_the_release_and_its_figures_match_the_data() {
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--out", out.path().to_str().unwrap()]);
    let release = latest_release(out.path());
    let report: Value = serde_json::from_slice(&fs::read(release.join("disclosure.json")).unwrap()).unwrap();
    let md = fs::read_to_string(release.join("disclosure.md")).unwrap();
    let manifest: Value = serde_json::from_slice(&fs::read(release.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(report["policy_sha256"], manifest["policy"]["sha256"]);
    assert_eq!(report["gate"]["passed"], true);
    assert!(md.contains(report["policy_sha256"].as_str().unwrap()) && md.contains("**réussi**"), "{md}");
    assert!(manifest["files"].as_array().unwrap().iter().any(|f| f["path"] == "disclosure.md"), "disclosure.md is not in the manifest");

    // Recount every filter from the snapshot's full tables and the published parents, with the
    // policy file read here, not through the library's policy code.
    let policy: toml::Value = toml::from_str(&fs::read_to_string(repo().join("datasets/policy/public.toml")).unwrap()).unwrap();
    let full = sample_tables();
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), full.len(), "every table of the catalogue is accounted for");
    for account in tables {
        let name = account["table"].as_str().unwrap();
        let table_policy = &policy["tables"][name];
        assert_eq!(account["rows_in"].as_u64().unwrap() as usize, full[name].rows(), "{name}");
        if !account["published"].as_bool().unwrap() {
            assert!(!release.join(format!("{name}.csv")).exists(), "{name} withheld but released");
            continue;
        }
        let published = csv_rows(&release.join(format!("{name}.csv")));
        assert_eq!(account["rows_out"].as_u64().unwrap() as usize, published.len(), "{name}: rows_out");
        // Columns: the rule of each, and the header is exactly the published ones.
        let header: Vec<String> = fs::read_to_string(release.join(format!("{name}.csv"))).unwrap().lines().next().unwrap().split(',').map(str::to_owned).collect();
        let kept: Vec<String> = account["columns"].as_array().unwrap().iter().filter(|c| c["rule"] != "drop").map(|c| c["column"].as_str().unwrap().to_owned()).collect();
        assert_eq!(header, kept, "{name}: columns");
        for c in account["columns"].as_array().unwrap() {
            assert_eq!(c["rule"].as_str().unwrap(), table_policy["columns"][c["column"].as_str().unwrap()].as_str().unwrap(), "{name}: rule");
        }
        // Filters, in order, on the full table's values.
        let mut alive = vec![true; full[name].rows()];
        let filters = table_policy.get("rows").and_then(|r| r.as_array()).cloned().unwrap_or_default();
        assert_eq!(account["filters"].as_array().unwrap().len(), filters.len());
        for (filter, reported) in filters.iter().zip(account["filters"].as_array().unwrap()) {
            let values = text(&full[name], filter["column"].as_str().unwrap());
            let parent_keys: Option<HashSet<String>> =
                filter.get("references").and_then(|t| t.as_str()).map(|target| csv_rows(&release.join(format!("{target}.csv"))).into_iter().map(|r| r["identifiant_ror"].clone()).collect());
            let accepts = |v: &Option<String>| -> bool {
                if let Some(keys) = &parent_keys {
                    return v.as_ref().is_none_or(|v| keys.contains(v));
                }
                let wanted = filter["equals"].clone();
                let wanted = match wanted {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                v.as_deref() == Some(wanted.as_str())
            };
            let mut removed = 0;
            for (row, v) in values.iter().enumerate() {
                if alive[row] && !accepts(v) {
                    alive[row] = false;
                    removed += 1;
                }
            }
            assert_eq!(reported["rows_removed"].as_u64().unwrap(), removed, "{name}: filter {filter}");
        }
        assert_eq!(alive.iter().filter(|a| **a).count(), published.len(), "{name}: what the filters keep is what is published");
    }
}

#[test]
fn classes_under_k_are_suppressed_within_the_limit_and_the_run_fails_closed_beyond() {
    // Within the limit: a few rare combinations of offer characteristics are withheld.
    let dir = tempfile::tempdir().unwrap();
    let config = edited_public_policy(dir.path(), offres_quasi_identifiers("\"champ_activite_code\", \"mode_prise_en_charge_code\", \"public_pris_en_charge_code\""));
    let out = tempfile::tempdir().unwrap();
    ok(&["run", "--config", config.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    let release = latest_release(out.path());
    let report: Value = serde_json::from_slice(&fs::read(release.join("disclosure.json")).unwrap()).unwrap();
    let account = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "offres").unwrap().clone();
    let risk = &account["risk"];
    let suppressed = risk["rows_suppressed"].as_u64().unwrap();
    assert!(suppressed > 0 && suppressed <= risk["suppression_limit"].as_u64().unwrap(), "{risk}");
    let offres = csv_rows(&release.join("offres.csv"));
    let mut classes: HashMap<(String, String, String), usize> = HashMap::new();
    for r in &offres {
        *classes.entry((r["champ_activite_code"].clone(), r["mode_prise_en_charge_code"].clone(), r["public_pris_en_charge_code"].clone())).or_default() += 1;
    }
    let smallest = *classes.values().min().unwrap();
    assert!(smallest >= 5, "a published class of {smallest}");
    assert_eq!(risk["k_reached"].as_u64().unwrap() as usize, smallest);
    let filtered: u64 = account["filters"].as_array().unwrap().iter().map(|f| f["rows_removed"].as_u64().unwrap()).sum();
    assert_eq!(account["rows_in"].as_u64().unwrap() - filtered - suppressed, offres.len() as u64);
    // Children follow: no schedule of a withheld offer.
    let ids: HashSet<String> = offres.iter().map(|r| r["identifiant_ror"].clone()).collect();
    assert!(csv_rows(&release.join("horaires.csv")).iter().all(|h| ids.contains(&h["offre_id"])));

    // Beyond the limit: every offer is unique on its functional id; nothing is released.
    let dir = tempfile::tempdir().unwrap();
    let config = edited_public_policy(dir.path(), offres_quasi_identifiers("\"identifiant_offre\""));
    let out = tempfile::tempdir().unwrap();
    let o = run_logged(&["run", "--config", config.to_str().unwrap(), "--out", out.path().to_str().unwrap()], "debug");
    let message = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{message}");
    for fragment in ["audience public", "table offres", "k-anonymity gate failed", "quasi-identifiers (identifiant_offre)", "classes of 1"] {
        assert!(message.contains(fragment), "lacks {fragment:?}: {message}");
    }
    // Nothing released for any audience; the report of why is there for the DPO, without a value.
    let written: Vec<String> = tree(out.path()).into_keys().collect();
    assert!(!written.iter().any(|p| p.starts_with("releases/")), "something was released: {written:?}");
    let report = fs::read_to_string(out.path().join("reports/public/20261125T020000Z-disclosure-failed.json")).unwrap();
    assert!(report.contains("\"passed\": false") && report.contains("identifiant_offre"), "{report}");
    assert!(!message.contains(ror_opendata::synth::CANARY_MARKER) && !report.contains(ror_opendata::synth::CANARY_MARKER));
}

#[test]
fn an_unclassified_column_of_any_audience_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = fs::read_to_string(repo().join("datasets/policy/hdh.toml")).unwrap();
    fs::write(dir.path().join("hdh.toml"), shipped.replacen("nombre_en_service = \"keep\"\n", "", 1)).unwrap();
    let config = dir.path().join("ror-opendata.toml");
    fs::write(&config, "[policy]\nhdh = \"hdh.toml\"\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run(&["run", "--config", config.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("(audience hdh)") && stderr(&o).contains("column equipements.nombre_en_service is not classified"), "{}", stderr(&o));
    assert!(!tree(out.path()).keys().any(|p| p.starts_with("releases/")), "something was released");
    let o = run(&["policy", "check", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let checked = ok(&["policy", "check"]);
    for audience in ["public", "drees", "hdh"] {
        assert!(checked.contains(&format!("(audience {audience}) classifies every table and column")), "{checked}");
    }
    let shown = ok(&["policy", "show", "--audience", "drees"]);
    assert!(shown.contains("pseudonymise (idnat_ps)") && shown.contains("capacites — published"), "{shown}");
    let o = run(&["policy", "show", "--audience", "nobody"]);
    assert_eq!(o.status.code(), Some(2));
}


#[test]
fn no_secret_or_canary_reaches_an_output_a_log_line_or_an_error() {
    let out = tempfile::tempdir().unwrap();
    let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, format) in ["human", "json"].iter().enumerate() {
        let o = run_logged(&["run", "--log-format", format, "--out", out.path().to_str().unwrap()], "trace");
        assert!(o.status.success(), "{}", stderr(&o));
        texts.push((format!("run {i} stdout"), o.stdout));
        texts.push((format!("run {i} stderr"), o.stderr));
    }
    // A failing run's message, at trace level too.
    let dir = tempfile::tempdir().unwrap();
    let config = edited_public_policy(dir.path(), offres_quasi_identifiers("\"nom\""));
    let o = run_logged(&["run", "--config", config.to_str().unwrap(), "--out", dir.path().join("out").to_str().unwrap()], "trace");
    assert_eq!(o.status.code(), Some(4));
    texts.push(("failed run stderr".into(), o.stderr));
    for audience in ["public", "drees", "hdh"] {
        texts.push((format!("policy show {audience}"), ok(&["policy", "show", "--audience", audience]).into_bytes()));
    }
    for (path, bytes) in tree(&out.path().join("releases")) {
        texts.push((path, bytes));
    }
    // The library's own reports for the sensitive audiences.
    for audience in ["drees", "hdh"] {
        let d = disclose(audience);
        texts.push((format!("{audience} disclosure.json"), d.report_json().to_string().into_bytes()));
        texts.push((format!("{audience} disclosure.md"), d.report_markdown().into_bytes()));
    }

    // Secrets: the development master key this run created, and every audience key derived from it
    // (derived here with the specification, not through the library).
    let master_hex = fs::read_to_string(out.path().join("keys/master.key")).unwrap();
    let master: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&master_hex.trim()[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut secrets = secret_forms(&master);
    for audience in ["public", "drees", "hdh"] {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"ror-opendata pseudonym keys v1"), &master);
        let mut key = [0u8; 32];
        hkdf.expand(format!("ror-opendata/pseudonym/{audience}/epoch-1").as_bytes(), &mut key).unwrap();
        secrets.extend(secret_forms(&key));
    }
    let canaries: HashSet<String> = serde_json::from_slice(&fs::read(sample_dir().join("snapshot-canaries.json")).unwrap()).unwrap();
    let marker = ror_opendata::synth::CANARY_MARKER;
    for (what, bytes) in &texts {
        let text = String::from_utf8_lossy(bytes);
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{what} contains a key");
        }
        assert!(!text.contains(marker), "{what} contains a canary");
        // The canary RPPS numbers carry no marker: look for each 12-digit number.
        for token in text.split(|c: char| !c.is_ascii_digit()).filter(|t| t.len() == 12) {
            assert!(!canaries.contains(token), "{what} contains the canary RPPS {token}");
        }
    }
    // And the Parquet files, decoded by a real reader (zstd hides bytes from the search above).
    let check = std::process::Command::new(python())
        .arg(repo().join("tests/support/check_release.py"))
        .arg(latest_release(out.path()))
        .args(["--canaries", sample_dir().join("snapshot-canaries.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}
