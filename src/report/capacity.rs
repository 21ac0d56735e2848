//! Beds available by région over the releases, from the public capacity series
//! (`capacites_departement` in the `capacites` publication): each version rebuilt from that
//! publication's history store, its département totals of available beds summed by région.
//!
//! Only what was published is summed: a département total masked by the small-count rule adds
//! nothing, and the région's point says how many départements were masked, so the page never
//! presents a partial sum as complete.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use crate::disclose::capacity::TABLE;
use crate::disclose::operators::region;
use crate::history::asof;
use crate::release::previous;
use crate::CAPACITY_PUBLICATION;

/// At most this many versions are drawn: the series can be refreshed hourly.
pub const MAX_VERSIONS: usize = 90;

/// Available beds of one région in one version.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionBeds {
    pub beds: i64,
    /// Départements of the région whose total was masked (not counted in `beds`).
    pub masked_departements: u32,
}

/// The series: versions in order, and per région (INSEE code) a value per version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacitySeries {
    pub versions: Vec<String>,
    pub regions: BTreeMap<String, Vec<Option<RegionBeds>>>,
}

/// The label of a région (INSEE code, regions of 2016).
pub fn region_label(code: &str) -> &str {
    match code {
        "01" => "Guadeloupe",
        "02" => "Martinique",
        "03" => "Guyane",
        "04" => "La Réunion",
        "06" => "Mayotte",
        "11" => "Île-de-France",
        "24" => "Centre-Val de Loire",
        "27" => "Bourgogne-Franche-Comté",
        "28" => "Normandie",
        "32" => "Hauts-de-France",
        "44" => "Grand Est",
        "52" => "Pays de la Loire",
        "53" => "Bretagne",
        "75" => "Nouvelle-Aquitaine",
        "76" => "Occitanie",
        "84" => "Auvergne-Rhône-Alpes",
        "93" => "Provence-Alpes-Côte d'Azur",
        "94" => "Corse",
        other => other,
    }
}

/// The series up to `until` (a version; later ones are not shown in an older release's report),
/// or None when there is no capacity publication or its history has no `capacites_departement`.
pub fn load(releases_root: &Path, until: &str) -> Result<Option<CapacitySeries>, String> {
    let Some(latest) = previous::load_latest(releases_root, CAPACITY_PUBLICATION).map_err(|e| e.to_string())? else { return Ok(None) };
    let history = latest.history().map_err(|e| e.to_string())?;
    let Some(store) = history.stores.get(TABLE) else { return Ok(None) };
    let versions: Vec<String> = history.index.versions.iter().filter(|v| v.version.as_str() <= until && v.tables.contains_key(TABLE)).map(|v| v.version.clone()).collect();
    let versions = versions[versions.len().saturating_sub(MAX_VERSIONS)..].to_vec();
    if versions.is_empty() {
        return Ok(None);
    }
    let mut series = CapacitySeries { versions: versions.clone(), regions: BTreeMap::new() };
    for (i, version) in versions.iter().enumerate() {
        let rebuilt = asof::rebuild(&history.index, store, TABLE, version).map_err(|e| e.to_string())?;
        let by_region = available_beds_by_region(&rebuilt.frame).map_err(|e| format!("{TABLE} version {version}: {e}"))?;
        for (code, beds) in by_region {
            series.regions.entry(code).or_insert_with(|| vec![None; versions.len()])[i] = Some(beds);
        }
    }
    Ok(Some(series))
}

/// Sum the published département totals of available beds (nature 01 lit, statut 02 disponible,
/// all champs) by région.
pub fn available_beds_by_region(frame: &DataFrame) -> PolarsResult<BTreeMap<String, RegionBeds>> {
    let text = |name: &str| -> PolarsResult<Vec<Option<String>>> { Ok(frame.column(name)?.cast(&DataType::String)?.str()?.iter().map(|v| v.map(str::to_owned)).collect()) };
    let nature = text("nature_capacite_code")?;
    let statut = text("statut_capacite_code")?;
    let departement = text("departement_code")?;
    let champ = text("champ_activite_code")?;
    let count = frame.column("nombre")?.cast(&DataType::Int64)?;
    let count = count.i64()?;
    let mut out: BTreeMap<String, RegionBeds> = BTreeMap::new();
    for (i, n) in count.iter().enumerate() {
        let is = |column: &[Option<String>], value: &str| column[i].as_deref() == Some(value);
        if !(is(&nature, "01") && is(&statut, "02") && is(&champ, "TOTAL")) {
            continue;
        }
        let Some(code) = departement[i].as_deref().and_then(region) else { continue };
        let entry = out.entry(code).or_insert(RegionBeds { beds: 0, masked_departements: 0 });
        match n {
            Some(n) => entry.beds += n,
            None => entry.masked_departements += 1,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_published_departement_totals_of_available_beds_by_region() {
        let frame = df!(
            "nature_capacite_code" => ["01", "01", "01", "01", "01", "02", "01"],
            "statut_capacite_code" => ["02", "02", "02", "02", "01", "02", "02"],
            "departement_code" => ["75", "92", "35", "29", "75", "75", "TOTAL"],
            "champ_activite_code" => ["TOTAL", "TOTAL", "TOTAL", "TOTAL", "TOTAL", "TOTAL", "TOTAL"],
            "nombre" => [Some(120i64), Some(30), Some(40), None, Some(999), Some(999), Some(999)],
        )
        .unwrap();
        let sums = available_beds_by_region(&frame).unwrap();
        assert_eq!(sums["11"], RegionBeds { beds: 150, masked_departements: 0 });
        assert_eq!(sums["53"], RegionBeds { beds: 40, masked_departements: 1 });
        assert_eq!(sums.len(), 2);
        assert_eq!(region_label("53"), "Bretagne");
    }
}
