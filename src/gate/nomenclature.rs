//! The coded columns of the catalogue and the ANS value set (JDV) each must draw from, read from the
//! JDV files in datasets/nomenclatures/ (embedded in the binary, so the gate judges with exactly the
//! lists the job was built with). Columns coded by a terminology that has no JDV file here (legal
//! status, profession, housing type…) are not checked rather than guessed.

use std::collections::{BTreeMap, BTreeSet};

use crate::fhir::nomenclature;

use super::GateError;

/// The value sets the gate checks columns against (embedded in crate::fhir::nomenclature).
const FILES: &[&str] = &[
    "JDV_J17-ActiviteOperationnelle",
    "JDV_J19-ModePriseEnCharge",
    "JDV_J20-ChampActivite",
    "JDV_J29-PublicPrisEnCharge",
    "JDV_J34-CategorieOrganisation",
    "JDV_J55-CategorieEG",
    "JDV_J187-NatureCapacite",
    "JDV_J188-TypeStatutCapacite",
    "JDV_J189-TemporaliteCapacite",
    "JDV_J190-GenreCapacite",
    "JDV_J191-TypeFermetureCapacite",
    "JDV_J192-TypeLitSupplementaire",
    "JDV_J193-TypeSourceCapacite",
    "JDV_J194-TypeCrise",
    "JDV_J195-AffectationTemporaire",
    "JDV_J198-FonctionLieu",
    "JDV_J203-TypeOrganisationInterne",
    "JDV_J221-NatureContact",
    "JDV_J222-NiveauConfidentialite",
    "JDV_J224-StatutLieu",
    "JDV_J225-CanalCommunication",
];

/// (table, column, JDV): which value set each coded column draws from.
pub const CODED_COLUMNS: &[(&str, &str, &str)] = &[
    ("entites_geographiques", "categorie_code", "JDV_J55-CategorieEG"),
    ("organisations_internes", "type_code", "JDV_J203-TypeOrganisationInterne"),
    ("offres", "type_offre_code", "JDV_J34-CategorieOrganisation"),
    ("offres", "champ_activite_code", "JDV_J20-ChampActivite"),
    ("offres", "activite_operationnelle_code", "JDV_J17-ActiviteOperationnelle"),
    ("offres", "mode_prise_en_charge_code", "JDV_J19-ModePriseEnCharge"),
    ("offres", "public_pris_en_charge_code", "JDV_J29-PublicPrisEnCharge"),
    ("lieux", "fonction_code", "JDV_J198-FonctionLieu"),
    ("lieux", "statut_code", "JDV_J224-StatutLieu"),
    ("contacts", "nature_contact_code", "JDV_J221-NatureContact"),
    ("contacts", "niveau_confidentialite_contact_code", "JDV_J222-NiveauConfidentialite"),
    ("contacts", "canal_code", "JDV_J225-CanalCommunication"),
    ("contacts", "niveau_confidentialite_telecom_code", "JDV_J222-NiveauConfidentialite"),
    ("professionnels", "offre_champ_activite_code", "JDV_J20-ChampActivite"),
    ("capacites", "nature_capacite_code", "JDV_J187-NatureCapacite"),
    ("capacites", "statut_capacite_code", "JDV_J188-TypeStatutCapacite"),
    ("capacites", "temporalite_code", "JDV_J189-TemporaliteCapacite"),
    ("capacites", "genre_code", "JDV_J190-GenreCapacite"),
    ("capacites", "type_fermeture_code", "JDV_J191-TypeFermetureCapacite"),
    ("capacites", "type_lit_supplementaire_code", "JDV_J192-TypeLitSupplementaire"),
    ("capacites", "type_source_code", "JDV_J193-TypeSourceCapacite"),
    ("capacites", "type_crise_code", "JDV_J194-TypeCrise"),
    ("capacites", "affectation_temporaire_code", "JDV_J195-AffectationTemporaire"),
];

/// The codes of every embedded value set, by JDV name. A JDV may include several code systems
/// (J55 does); a column accepts a code of any of them, since the table keeps the code, not the system.
pub struct Nomenclatures {
    pub codes: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Nomenclatures {
    pub fn load() -> Result<Nomenclatures, GateError> {
        let mut codes = BTreeMap::new();
        for name in FILES {
            let read_error = |message: String| GateError::Read { path: format!("datasets/nomenclatures/{name}-ROR-FHIR.json"), message };
            let file = nomenclature::file(name).ok_or_else(|| read_error("not embedded".into()))?;
            codes.insert(*name, file.concepts().map_err(read_error)?.into_iter().map(|c| c.code).collect());
        }
        Ok(Nomenclatures { codes })
    }

    /// The codes a column accepts, if the column is coded by an embedded value set.
    pub fn for_column(&self, table: &str, column: &str) -> Option<(&'static str, &BTreeSet<String>)> {
        let (_, _, name) = CODED_COLUMNS.iter().find(|(t, c, _)| *t == table && *c == column)?;
        self.codes.get(name).map(|codes| (*name, codes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::catalog;

    #[test]
    fn every_mapping_names_a_real_column_and_an_embedded_value_set() {
        let n = Nomenclatures::load().unwrap();
        for (table, column, jdv) in CODED_COLUMNS {
            let spec = catalog::table(table).unwrap_or_else(|| panic!("no table {table}"));
            assert!(spec.column(column).is_some(), "{table}.{column}");
            assert!(!n.codes[jdv].is_empty(), "{jdv} is empty");
        }
        assert_eq!(n.codes.len(), FILES.len());
        let (name, codes) = n.for_column("offres", "champ_activite_code").unwrap();
        assert_eq!(name, "JDV_J20-ChampActivite");
        assert_eq!(codes.iter().map(String::as_str).collect::<Vec<_>>(), ["01", "02", "03", "04", "05"]);
        assert!(!n.for_column("offres", "type_offre_code").unwrap().1.contains("157"), "J34 is older than code 157");
        assert!(n.for_column("offres", "nom").is_none());
    }
}
