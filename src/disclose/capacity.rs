//! The public bed-capacity dataset `capacites_departement`: installed and available beds and places
//! by département and champ d'activité, at the snapshot instant, under the small-count rule with
//! secondary suppression (`aggregate::suppress`, the same masking as every aggregate of the job).
//!
//! The detailed capacities are never public (ROR Profil 0); only these sums are. Each (nature,
//! statut) pair — lits installés, lits disponibles, places installées, places disponibles — is its
//! own grid of départements × champs with its margins, masked on its own: the pairs are not linked
//! by any published total (available is not installed minus something published), so masking one
//! grid cannot be undone from another. Only current figures (temporalité 01) are counted; forecasts
//! would add the same beds again.
//!
//! A place is attributed to the champ d'activité of the offers it hosts (the smallest code when
//! several differ, so the choice is deterministic). Places hosting only offers of sensitive units are
//! left out entirely: nothing of a sensitive unit reaches the public, not even inside a sum.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;

use super::aggregate::{suppress, AggregateOutcome, MISSING, TOTAL};
use super::operators::departement;
use crate::table::spec::{col, req};
use crate::table::{sorted_table, ColumnSpec, ColumnType, Table, TableSpec, Tables};

/// The table's name, in the public release and the `capacites` publication.
pub const TABLE: &str = "capacites_departement";

/// The (nature, statut) pairs published, with their labels (TRE_R329, TRE_R330).
pub const SLICES: [(&str, &str, &str, &str); 4] = [
    ("01", "Lit", "01", "Installé"),
    ("01", "Lit", "02", "Disponible"),
    ("02", "Place", "01", "Installé"),
    ("02", "Place", "02", "Disponible"),
];
/// Current capacities only (TRE_R331 01 "Courant").
const CURRENT: &str = "01";

const COLUMNS: &[ColumnSpec] = &[
    req("cellule", ColumnType::String, "Identifiant de la cellule : nature, statut, département et champ d'activité séparés par des barres verticales."),
    req("nature_capacite_code", ColumnType::String, "Code de la nature de capacité (TRE_R329 : 01 lit, 02 place)."),
    req("nature_capacite_libelle", ColumnType::String, "Libellé de la nature de capacité."),
    req("statut_capacite_code", ColumnType::String, "Code du statut de capacité (TRE_R330 : 01 installé, 02 disponible)."),
    req("statut_capacite_libelle", ColumnType::String, "Libellé du statut de capacité."),
    req("departement_code", ColumnType::String, "Code du département du lieu (75, 2A, 974…) ; « TOTAL » : tous les départements ; « non renseigné » : commune absente."),
    req("champ_activite_code", ColumnType::String, "Code du champ d'activité des offres du lieu (TRE_R227 : 01 MCO, 02 SSR, 03 PSY, 04 médico-social, 05 ville) ; « TOTAL » : tous les champs."),
    col("champ_activite_libelle", ColumnType::String, "Libellé du champ d'activité."),
    col("nombre", ColumnType::Integer, "Nombre de lits ou de places (somme des capacités courantes) ; vide quand il est couvert par le secret statistique."),
    req("secret_statistique", ColumnType::Boolean, "Vrai quand le nombre est masqué : inférieur au seuil (11), ou masqué pour qu'aucun nombre masqué ne se déduise des totaux."),
];

pub const SPEC: TableSpec = TableSpec {
    name: TABLE,
    title: "Capacités en lits et places par département et champ d'activité",
    description: "Lits et places installés et disponibles (capacités courantes du ROR) par département et champ d'activité, à l'instant de l'extraction, avec les totaux, sous la règle des petits effectifs (aucun nombre publié sous 11) et le secret secondaire. L'historique des versions donne la série dans le temps.",
    primary_key: "cellule",
    foreign_keys: &[],
    columns: COLUMNS,
};

/// The full tables `capacity_by_departement` reads.
pub const SOURCE_TABLES: [&str; 3] = ["capacites", "lieux", "offres"];

/// The columns of each of `SOURCE_TABLES` it reads: only those are loaded (the night's tables are
/// on disk), not three whole tables of the snapshot.
pub const SOURCE_COLUMNS: [&[&str]; 3] = [
    &["lieu_id", "nature_capacite_code", "statut_capacite_code", "temporalite_code", "nombre"],
    &["identifiant_ror", "commune_cog_code", "code_postal"],
    &["lieu_id", "champ_activite_code", "champ_activite_libelle", "unite_sensible"],
];

/// What `capacity_by_departement` reads of the snapshot's tables: `SOURCE_COLUMNS` of each.
pub fn load_sources(source: &dyn crate::table::spill::TableSource) -> Result<Tables, crate::table::TableError> {
    let mut tables = Tables::new();
    for (name, columns) in SOURCE_TABLES.into_iter().zip(SOURCE_COLUMNS) {
        if let Some(table) = source.load_columns(name, columns)? {
            tables.insert(table.spec.name, table);
        }
    }
    Ok(tables)
}

/// Build `capacites_departement` from the full (not yet disclosed) tables.
pub fn capacity_by_departement(tables: &Tables, min_count: u64) -> Result<(Table, AggregateOutcome), String> {
    let get = |name: &str| tables.get(name).ok_or_else(|| format!("the flattened snapshot has no table {name}"));
    let [capacites, lieux, offres] = SOURCE_TABLES.map(get);
    let (capacites, lieux, offres) = (capacites?, lieux?, offres?);
    let text = |t: &Table, c: &str| t.text_values(c).map_err(|e| e.to_string());

    // The champ of each place, from its non-sensitive offers.
    let mut champs: HashMap<String, (String, String)> = HashMap::new();
    let sensitive = offres.frame.column("unite_sensible").map_err(|e| e.to_string())?.bool().map_err(|e| e.to_string())?.clone();
    for (((lieu, code), label), sensitive) in text(offres, "lieu_id")?.into_iter().zip(text(offres, "champ_activite_code")?).zip(text(offres, "champ_activite_libelle")?).zip(sensitive.iter()) {
        let (Some(lieu), false) = (lieu, sensitive.unwrap_or(false)) else { continue };
        let candidate = (code.unwrap_or_else(|| MISSING.to_owned()), label.unwrap_or_default());
        champs.entry(lieu).and_modify(|c| if candidate.0 < c.0 { *c = candidate.clone() }).or_insert(candidate);
    }
    let mut departements: HashMap<String, String> = HashMap::new();
    for ((id, cog), postal) in text(lieux, "identifiant_ror")?.into_iter().zip(text(lieux, "commune_cog_code")?).zip(text(lieux, "code_postal")?) {
        let dep = cog.as_deref().and_then(departement).or_else(|| postal.as_deref().and_then(departement)).unwrap_or_else(|| MISSING.to_owned());
        if let Some(id) = id {
            departements.insert(id, dep);
        }
    }

    // Sums per slice, département and champ.
    let mut sums: BTreeMap<(usize, String, String), u64> = BTreeMap::new();
    let mut champ_labels: BTreeMap<String, String> = BTreeMap::new();
    let counts = capacites.frame.column("nombre").map_err(|e| e.to_string())?.i64().map_err(|e| e.to_string())?.clone();
    let rows = text(capacites, "lieu_id")?.into_iter().zip(text(capacites, "nature_capacite_code")?).zip(text(capacites, "statut_capacite_code")?).zip(text(capacites, "temporalite_code")?).zip(counts.iter());
    for ((((lieu, nature), statut), temporalite), count) in rows {
        if temporalite.as_deref() != Some(CURRENT) {
            continue;
        }
        let Some(slice) = SLICES.iter().position(|s| Some(s.0) == nature.as_deref() && Some(s.2) == statut.as_deref()) else { continue };
        let Some(lieu) = lieu else { continue };
        let Some((champ, label)) = champs.get(&lieu) else { continue };
        let dep = departements.get(&lieu).cloned().unwrap_or_else(|| MISSING.to_owned());
        champ_labels.insert(champ.clone(), label.clone());
        *sums.entry((slice, dep, champ.clone())).or_default() += count.unwrap_or(0).max(0) as u64;
    }
    // Every grid has the same rows and columns, so the series keeps its cells from slice to slice.
    let deps: Vec<String> = sums.keys().map(|k| k.1.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let champs: Vec<String> = champ_labels.keys().cloned().collect();

    let mut cells: (Vec<String>, [Vec<&str>; 4], Vec<String>, Vec<String>, Vec<Option<String>>, Vec<Option<i64>>, Vec<bool>) = Default::default();
    let mut outcome = AggregateOutcome { from: "capacites".into(), rows: "departement_code".into(), columns: "champ_activite_code".into(), min_count, cells: 0, primary_suppressed: 0, secondary_suppressed: 0 };
    if !deps.is_empty() {
        for (slice, (nature, nature_label, statut, statut_label)) in SLICES.iter().enumerate() {
            let grid: Vec<Vec<u64>> = deps.iter().map(|d| champs.iter().map(|c| sums.get(&(slice, d.clone(), c.clone())).copied().unwrap_or(0)).collect()).collect();
            let masking = suppress(&grid, min_count);
            outcome.primary_suppressed += masking.primary;
            outcome.secondary_suppressed += masking.secondary;
            let dep_labels = deps.iter().map(String::as_str).chain([TOTAL]);
            for (i, dep) in dep_labels.enumerate() {
                for (j, champ) in champs.iter().map(String::as_str).chain([TOTAL]).enumerate() {
                    let hidden = masking.masked[i][j];
                    cells.0.push(format!("{nature}|{statut}|{dep}|{champ}"));
                    cells.1[0].push(nature);
                    cells.1[1].push(nature_label);
                    cells.1[2].push(statut);
                    cells.1[3].push(statut_label);
                    cells.2.push(dep.to_owned());
                    cells.3.push(champ.to_owned());
                    cells.4.push(champ_labels.get(champ).filter(|l| !l.is_empty()).cloned());
                    cells.5.push((!hidden).then_some(masking.values[i][j] as i64));
                    cells.6.push(hidden);
                    outcome.cells += 1;
                }
            }
        }
    }
    let [natures, nature_labels, statuts, statut_labels] = cells.1;
    let frame = DataFrame::new_infer_height(vec![
        Column::new("cellule".into(), cells.0),
        Column::new("nature_capacite_code".into(), natures),
        Column::new("nature_capacite_libelle".into(), nature_labels),
        Column::new("statut_capacite_code".into(), statuts),
        Column::new("statut_capacite_libelle".into(), statut_labels),
        Column::new("departement_code".into(), cells.2),
        Column::new("champ_activite_code".into(), cells.3),
        Column::new("champ_activite_libelle".into(), cells.4),
        Column::new("nombre".into(), cells.5),
        Column::new("secret_statistique".into(), cells.6),
    ])
    .map_err(|e| e.to_string())?;
    let table = sorted_table(&SPEC, frame).map_err(|e| e.to_string())?;
    Ok((table, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder};

    /// Three places in two départements; one hosts only a sensitive unit.
    fn tables() -> Tables {
        let mut tables = crate::table::empty_tables();
        let mut lieux = TableBuilder::new(&catalog::LIEUX);
        for (id, cog) in [("l1", "75056"), ("l2", "75056"), ("l3", "29019"), ("l4", "29019")] {
            let mut r = lieux.row();
            r.set("identifiant_ror", id).set("commune_cog_code", cog);
            lieux.push(r);
        }
        tables.insert("lieux", lieux.finish().unwrap());
        let mut offres = TableBuilder::new(&catalog::OFFRES);
        for (id, lieu, champ, sensitive) in [("o1", "l1", "01", false), ("o2", "l2", "02", false), ("o3", "l3", "01", false), ("o4", "l4", "03", true)] {
            let mut r = offres.row();
            r.set("identifiant_ror", id).set("lieu_id", lieu).set("champ_activite_code", champ).set("champ_activite_libelle", format!("champ {champ}")).set("unite_sensible", Some(sensitive));
            offres.push(r);
        }
        tables.insert("offres", offres.finish().unwrap());
        let mut capacites = TableBuilder::new(&catalog::CAPACITES);
        for (n, (lieu, nature, statut, temporalite, count)) in
            [("l1", "01", "01", "01", 40), ("l1", "01", "01", "03", 999), ("l1", "01", "02", "01", 3), ("l2", "01", "01", "01", 30), ("l3", "01", "01", "01", 25), ("l3", "01", "02", "01", 12), ("l4", "01", "01", "01", 50)].into_iter().enumerate()
        {
            let mut r = capacites.row();
            r.set("capacite_id", format!("c{n}")).set("lieu_id", lieu).set("nature_capacite_code", nature).set("statut_capacite_code", statut).set("temporalite_code", temporalite).set("nombre", Some(count as i64));
            capacites.push(r);
        }
        tables.insert("capacites", capacites.finish().unwrap());
        tables
    }

    fn cell(t: &Table, id: &str) -> (Option<i64>, bool) {
        let ids = t.text_values("cellule").unwrap();
        let i = ids.iter().position(|v| v.as_deref() == Some(id)).unwrap_or_else(|| panic!("no cell {id}"));
        let n = t.frame.column("nombre").unwrap().i64().unwrap().get(i);
        let s = t.frame.column("secret_statistique").unwrap().bool().unwrap().get(i).unwrap();
        (n, s)
    }

    #[test]
    fn sums_current_capacities_and_masks_small_ones() {
        let (t, outcome) = capacity_by_departement(&tables(), 11).unwrap();
        // Forecasts (temporalité 03) and the sensitive unit's 50 beds are not counted.
        assert_eq!(cell(&t, "01|01|75|01"), (Some(40), false));
        assert_eq!(cell(&t, "01|01|75|TOTAL"), (Some(70), false));
        assert_eq!(cell(&t, "01|01|TOTAL|TOTAL"), (Some(95), false));
        // 3 available beds in Paris MCO: masked, and so is enough around it that totals don't give it away.
        assert_eq!(cell(&t, "01|02|75|01"), (None, true));
        assert!(outcome.primary_suppressed >= 1 && outcome.secondary_suppressed >= 1, "{outcome:?}");
        let numbers = t.frame.column("nombre").unwrap().i64().unwrap().clone();
        assert!(numbers.iter().flatten().all(|n| n == 0 || n >= 11));
        assert!(!t.text_values("departement_code").unwrap().iter().flatten().any(|d| d == "non renseigné"));
    }

    #[test]
    fn deterministic() {
        let (a, _) = capacity_by_departement(&tables(), 11).unwrap();
        let (b, _) = capacity_by_departement(&tables(), 11).unwrap();
        assert!(a.frame.equals_missing(&b.frame));
    }

    /// Only the columns it reads are loaded, and they give the same series as the whole tables.
    #[test]
    fn the_columns_it_reads_are_enough() {
        let full = tables();
        let sources = load_sources(&full).unwrap();
        assert_eq!(sources["lieux"].frame.width(), 3);
        let (a, outcome_a) = capacity_by_departement(&full, 11).unwrap();
        let (b, outcome_b) = capacity_by_departement(&sources, 11).unwrap();
        assert!(a.frame.equals_missing(&b.frame));
        assert_eq!(format!("{outcome_a:?}"), format!("{outcome_b:?}"));
    }
}
