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
use crate::table::spill::{slices, TableSource};
use crate::table::{sorted_table, ColumnSpec, ColumnType, Table, TableSpec};

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

/// The columns of each of `SOURCE_TABLES` it reads, a slice of rows at a time: only those, not
/// three whole tables of the snapshot.
pub const SOURCE_COLUMNS: [&[&str]; 3] = [
    &["lieu_id", "nature_capacite_code", "statut_capacite_code", "temporalite_code", "nombre"],
    &["identifiant_ror", "commune_cog_code", "code_postal"],
    &["lieu_id", "champ_activite_code", "champ_activite_libelle", "unite_sensible"],
];

/// A champ d'activité as an offer gives it: its code (`MISSING` when absent) and label.
type Champ = (String, String);

/// No champ (yet) for a place.
const NO_CHAMP: u32 = u32::MAX;

/// The places, by the row of `lieux` that last carried their identifier (the key column is held,
/// borrowed by the index: at national scale a map of owned identifiers, and of owned champs and
/// départements per place, was most of a gigabyte).
struct Places<'k> {
    index: PlHashMap<&'k str, u32>,
    /// Each `lieux` row's département, as a number in `departement_names`.
    departements: Vec<u16>,
    departement_names: Vec<String>,
}

impl Places<'_> {
    fn row(&self, lieu: &str) -> Option<usize> {
        self.index.get(lieu).map(|&row| row as usize)
    }

    fn departement(&self, lieu: &str) -> &str {
        self.row(lieu).map_or(MISSING, |row| &self.departement_names[usize::from(self.departements[row])])
    }
}

/// Each place's champ: the champ of its non-sensitive offers, the smallest code when several
/// differ, the first label met for that code. Places missing from `lieux` are kept by identifier.
struct Champs {
    /// The distinct (code, label) pairs met (a handful).
    pairs: Vec<Champ>,
    /// Each `lieux` row's champ, as a number in `pairs` (`NO_CHAMP`: none).
    of_place: Vec<u32>,
    of_unknown_place: HashMap<Box<str>, u32>,
}

impl Champs {
    fn of(&self, places: &Places, lieu: &str) -> Option<u32> {
        let champ = match places.row(lieu) {
            Some(row) => self.of_place[row],
            None => *self.of_unknown_place.get(lieu)?,
        };
        (champ != NO_CHAMP).then_some(champ)
    }
}

/// Go through a table a slice of rows at a time, reading only `columns`.
fn for_each_slice(source: &dyn TableSource, name: &str, columns: &[&str], mut each: impl FnMut(&DataFrame) -> Result<(), String>) -> Result<(), String> {
    let rows = source.rows(name).ok_or_else(|| format!("the flattened snapshot has no table {name}"))?;
    for (offset, length) in slices(rows) {
        let slice = source.load_rows(name, Some(columns), offset, length).map_err(|e| e.to_string())?.ok_or_else(|| format!("the flattened snapshot has no table {name}"))?;
        each(&slice.frame)?;
    }
    Ok(())
}

fn text<'f>(frame: &'f DataFrame, column: &str) -> Result<&'f StringChunked, String> {
    frame.column(column).and_then(|c| c.str()).map_err(|e| e.to_string())
}

/// Each place's département: from its commune's COG code, else its postal code, else `MISSING`.
fn places<'k>(source: &dyn TableSource, ids: &'k StringChunked) -> Result<Places<'k>, String> {
    let mut index = PlHashMap::with_capacity(ids.len());
    for (row, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            index.insert(id, row as u32);
        }
    }
    let mut departements = Vec::with_capacity(ids.len());
    let mut departement_names: Vec<String> = Vec::new();
    let mut numbers: HashMap<String, u16> = HashMap::new();
    for_each_slice(source, "lieux", &["commune_cog_code", "code_postal"], |slice| {
        for (cog, postal) in text(slice, "commune_cog_code")?.iter().zip(text(slice, "code_postal")?.iter()) {
            let dep = cog.and_then(departement).or_else(|| postal.and_then(departement)).unwrap_or_else(|| MISSING.to_owned());
            let next = departement_names.len() as u16;
            let number = *numbers.entry(dep).or_insert_with_key(|dep| {
                departement_names.push(dep.clone());
                next
            });
            departements.push(number);
        }
        Ok(())
    })?;
    Ok(Places { index, departements, departement_names })
}

/// Each place's champ, from `offres` read a slice at a time.
fn champs(source: &dyn TableSource, places: &Places) -> Result<Champs, String> {
    let mut champs = Champs { pairs: Vec::new(), of_place: vec![NO_CHAMP; places.departements.len()], of_unknown_place: HashMap::new() };
    for_each_slice(source, "offres", &["lieu_id", "champ_activite_code", "champ_activite_libelle", "unite_sensible"], |slice| {
        let sensitive = slice.column("unite_sensible").and_then(|c| c.bool()).map_err(|e| e.to_string())?;
        let rows = text(slice, "lieu_id")?.iter().zip(text(slice, "champ_activite_code")?.iter()).zip(text(slice, "champ_activite_libelle")?.iter()).zip(sensitive.iter());
        for (((lieu, code), label), sensitive) in rows {
            let (Some(lieu), false) = (lieu, sensitive.unwrap_or(false)) else { continue };
            let (code, label) = (code.unwrap_or(MISSING), label.unwrap_or_default());
            let candidate = match champs.pairs.iter().position(|(c, l)| c == code && l == label) {
                Some(number) => number as u32,
                None => {
                    champs.pairs.push((code.to_owned(), label.to_owned()));
                    champs.pairs.len() as u32 - 1
                }
            };
            let current = match places.row(lieu) {
                Some(row) => &mut champs.of_place[row],
                None => champs.of_unknown_place.entry(lieu.into()).or_insert(NO_CHAMP),
            };
            if *current == NO_CHAMP || code < champs.pairs[*current as usize].0.as_str() {
                *current = candidate;
            }
        }
        Ok(())
    })?;
    Ok(champs)
}

/// The sums per (nature, statut) pair, département and champ code, and each champ code's label.
type Sums = (BTreeMap<(usize, String, String), u64>, BTreeMap<String, String>);

/// Build `capacites_departement` from the full (not yet disclosed) tables.
pub fn capacity_by_departement(source: &dyn TableSource, min_count: u64) -> Result<(Table, AggregateOutcome), String> {
    let (sums, champ_labels) = sums(source)?;
    masked_grids(&sums, &champ_labels, min_count)
}

/// The current capacities summed by cell, the tables each read a slice of rows at a time: what is
/// held is the places' identifiers and a number or two per place.
fn sums(source: &dyn TableSource) -> Result<Sums, String> {
    for name in SOURCE_TABLES {
        source.rows(name).ok_or_else(|| format!("the flattened snapshot has no table {name}"))?;
    }
    let ids = source.load_columns("lieux", &["identifiant_ror"]).map_err(|e| e.to_string())?.ok_or("the flattened snapshot has no table lieux")?;
    let ids = text(&ids.frame, "identifiant_ror")?.rechunk();
    let places = places(source, &ids)?;
    let champs = champs(source, &places)?;

    // Sums per slice, département and champ; a champ's label is the one of the last place counted
    // with its code.
    let mut sums_by_number: HashMap<(usize, &str, u32), u64> = HashMap::new();
    let mut last_counted = vec![0u64; champs.pairs.len()];
    let mut counted = 0u64;
    for_each_slice(source, "capacites", &["lieu_id", "nature_capacite_code", "statut_capacite_code", "temporalite_code", "nombre"], |slice| {
        let counts = slice.column("nombre").and_then(|c| c.i64()).map_err(|e| e.to_string())?;
        let rows = text(slice, "lieu_id")?.iter().zip(text(slice, "nature_capacite_code")?.iter()).zip(text(slice, "statut_capacite_code")?.iter()).zip(text(slice, "temporalite_code")?.iter()).zip(counts.iter());
        for ((((lieu, nature), statut), temporalite), count) in rows {
            if temporalite != Some(CURRENT) {
                continue;
            }
            let Some(slice) = SLICES.iter().position(|s| Some(s.0) == nature && Some(s.2) == statut) else { continue };
            let Some(lieu) = lieu else { continue };
            let Some(champ) = champs.of(&places, lieu) else { continue };
            counted += 1;
            last_counted[champ as usize] = counted;
            *sums_by_number.entry((slice, places.departement(lieu), champ)).or_default() += count.unwrap_or(0).max(0) as u64;
        }
        Ok(())
    })?;
    let mut sums: BTreeMap<(usize, String, String), u64> = BTreeMap::new();
    for ((slice, dep, champ), sum) in sums_by_number {
        *sums.entry((slice, dep.to_owned(), champs.pairs[champ as usize].0.clone())).or_default() += sum;
    }
    let mut champ_labels: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for ((code, label), &last) in champs.pairs.iter().zip(&last_counted).filter(|(_, &last)| last > 0) {
        let entry = champ_labels.entry(code.clone()).or_insert((0, String::new()));
        if last > entry.0 {
            *entry = (last, label.clone());
        }
    }
    Ok((sums, champ_labels.into_iter().map(|(code, (_, label))| (code, label)).collect()))
}

/// The columns of `masked_grids`' table, filled a cell at a time.
#[derive(Default)]
struct GridColumns<'a> {
    cell: Vec<String>,
    natures: Vec<&'a str>,
    nature_labels: Vec<&'a str>,
    statuts: Vec<&'a str>,
    statut_labels: Vec<&'a str>,
    departements: Vec<String>,
    champs: Vec<String>,
    champ_labels: Vec<Option<String>>,
    /// The beds counted, None where the cell is masked.
    counts: Vec<Option<i64>>,
    hidden: Vec<bool>,
}

/// The four grids of départements × champs with their margins, each masked on its own, as one table.
fn masked_grids(sums: &BTreeMap<(usize, String, String), u64>, champ_labels: &BTreeMap<String, String>, min_count: u64) -> Result<(Table, AggregateOutcome), String> {
    // Every grid has the same rows and columns, so the series keeps its cells from slice to slice.
    let deps: Vec<String> = sums.keys().map(|k| k.1.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let champs: Vec<String> = champ_labels.keys().cloned().collect();

    let mut cells = GridColumns::default();
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
                    cells.cell.push(format!("{nature}|{statut}|{dep}|{champ}"));
                    cells.natures.push(nature);
                    cells.nature_labels.push(nature_label);
                    cells.statuts.push(statut);
                    cells.statut_labels.push(statut_label);
                    cells.departements.push(dep.to_owned());
                    cells.champs.push(champ.to_owned());
                    cells.champ_labels.push(champ_labels.get(champ).filter(|l| !l.is_empty()).cloned());
                    cells.counts.push((!hidden).then_some(masking.values[i][j] as i64));
                    cells.hidden.push(hidden);
                    outcome.cells += 1;
                }
            }
        }
    }
    let frame = DataFrame::new_infer_height(vec![
        Column::new("cellule".into(), cells.cell),
        Column::new("nature_capacite_code".into(), cells.natures),
        Column::new("nature_capacite_libelle".into(), cells.nature_labels),
        Column::new("statut_capacite_code".into(), cells.statuts),
        Column::new("statut_capacite_libelle".into(), cells.statut_labels),
        Column::new("departement_code".into(), cells.departements),
        Column::new("champ_activite_code".into(), cells.champs),
        Column::new("champ_activite_libelle".into(), cells.champ_labels),
        Column::new("nombre".into(), cells.counts),
        Column::new("secret_statistique".into(), cells.hidden),
    ])
    .map_err(|e| e.to_string())?;
    let table = sorted_table(&SPEC, frame).map_err(|e| e.to_string())?;
    Ok((table, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder, Tables};

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

    /// The sums as they were made before the tables were read by slices: every column whole, as
    /// owned text. The reference the slice-at-a-time reading is held to.
    fn sums_of_whole_tables(tables: &Tables) -> Sums {
        let text = |t: &str, c: &str| tables[t].text_values(c).unwrap();
        let mut champs: HashMap<String, (String, String)> = HashMap::new();
        let sensitive = tables["offres"].frame.column("unite_sensible").unwrap().bool().unwrap().clone();
        for (((lieu, code), label), sensitive) in text("offres", "lieu_id").into_iter().zip(text("offres", "champ_activite_code")).zip(text("offres", "champ_activite_libelle")).zip(sensitive.iter()) {
            let (Some(lieu), false) = (lieu, sensitive.unwrap_or(false)) else { continue };
            let candidate = (code.unwrap_or_else(|| MISSING.to_owned()), label.unwrap_or_default());
            champs.entry(lieu).and_modify(|c| if candidate.0 < c.0 { *c = candidate.clone() }).or_insert(candidate);
        }
        let mut departements: HashMap<String, String> = HashMap::new();
        for ((id, cog), postal) in text("lieux", "identifiant_ror").into_iter().zip(text("lieux", "commune_cog_code")).zip(text("lieux", "code_postal")) {
            let dep = cog.as_deref().and_then(departement).or_else(|| postal.as_deref().and_then(departement)).unwrap_or_else(|| MISSING.to_owned());
            if let Some(id) = id {
                departements.insert(id, dep);
            }
        }
        let (mut sums, mut champ_labels) = (BTreeMap::new(), BTreeMap::new());
        let counts = tables["capacites"].frame.column("nombre").unwrap().i64().unwrap().clone();
        let rows = text("capacites", "lieu_id").into_iter().zip(text("capacites", "nature_capacite_code")).zip(text("capacites", "statut_capacite_code")).zip(text("capacites", "temporalite_code")).zip(counts.iter());
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
        (sums, champ_labels)
    }

    /// Tables of several slices (`slices`: 65,536 rows and more each) with everything the sums
    /// meet: places without a commune or with only a postal code, offers of places missing from
    /// `lieux`, sensitive offers, several champs and labels per code, absent codes, forecasts.
    fn national_tables(places: usize) -> Tables {
        let mut tables = crate::table::empty_tables();
        let (cogs, postals) = (["75056", "29019", "2A004", "97411", "nope", ""], ["75001", "20100", "20200", "13001", "x"]);
        let mut lieux = TableBuilder::new(&catalog::LIEUX);
        for p in 0..places {
            let mut r = lieux.row();
            r.set("identifiant_ror", format!("l{p:07}"));
            if p % 7 != 0 {
                r.set("commune_cog_code", cogs[p % cogs.len()]);
            }
            if p % 3 == 0 {
                r.set("code_postal", postals[p % postals.len()]);
            }
            lieux.push(r);
        }
        tables.insert("lieux", lieux.finish().unwrap());
        let (codes, labels) = (["01", "02", "03", "04", "05"], ["MCO", "SSR", "PSY", "autre libellé"]);
        let mut offres = TableBuilder::new(&catalog::OFFRES);
        for o in 0..places * 2 {
            // Some offers are of places `lieux` does not have.
            let lieu = if o % 11 == 0 { format!("m{:07}", o % 97) } else { format!("l{:07}", (o * 7919) % places) };
            let mut r = offres.row();
            r.set("identifiant_ror", format!("o{o:07}")).set("lieu_id", lieu).set("unite_sensible", Some(o % 13 == 0));
            if o % 17 != 0 {
                r.set("champ_activite_code", codes[(o / 3) % codes.len()]);
            }
            if o % 5 != 0 {
                r.set("champ_activite_libelle", labels[o % labels.len()]);
            }
            offres.push(r);
        }
        tables.insert("offres", offres.finish().unwrap());
        let mut capacites = TableBuilder::new(&catalog::CAPACITES);
        for c in 0..places * 3 {
            let lieu = if c % 19 == 0 { format!("m{:07}", c % 97) } else { format!("l{:07}", (c * 104_729) % places) };
            let mut r = capacites.row();
            r.set("capacite_id", format!("c{c:07}")).set("lieu_id", lieu).set("nature_capacite_code", ["01", "02", "03"][c % 3]).set("statut_capacite_code", ["01", "02"][(c / 3) % 2]).set("temporalite_code", ["01", "01", "03"][(c / 5) % 3]).set("nombre", (c % 23 != 0).then_some((c % 40) as i64 - 2));
            capacites.push(r);
        }
        tables.insert("capacites", capacites.finish().unwrap());
        tables
    }

    /// Read a slice at a time, from memory and from disk, the sums are those of the whole tables.
    #[test]
    fn sums_by_slices_are_the_sums_of_the_whole_tables() {
        let tables = national_tables(70_000);
        assert!(crate::table::spill::slices(tables["capacites"].rows()).len() >= 3);
        let whole = sums_of_whole_tables(&tables);
        assert!(whole.0.len() > 40 && whole.1.len() == 6, "{:?}", whole.1);
        assert_eq!(sums(&tables).unwrap(), whole);
        let dir = tempfile::tempdir().unwrap();
        let spilled = crate::table::spill::SpilledTables::create(dir.path()).unwrap();
        for (_, table) in tables {
            spilled.put_sorted(table.spec, table.frame).unwrap();
        }
        assert_eq!(sums(&spilled).unwrap(), whole);
    }

    #[test]
    fn a_missing_table_is_named() {
        let mut tables = tables();
        tables.remove("offres");
        assert_eq!(capacity_by_departement(&tables, 11).unwrap_err(), "the flattened snapshot has no table offres");
    }
}
