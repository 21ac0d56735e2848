//! The catalogue: every table the job can produce from a ROR snapshot, with every column documented.
//! These are the tables *before* disclosure control; the policy of each audience decides which
//! tables, rows and columns it receives (deny by default).

use super::spec::{col, fk, req, ColumnSpec, ColumnType::*, TableSpec};

const COMMON_TAIL: [ColumnSpec; 3] = [
    col("region_code", String, "Code de la région (TRE_R30-RegionOM) de l'instance ROR source, d'après meta.tag."),
    col("date_creation", DateTime, "Date de création de la ressource dans le ROR (extension ror-meta-creation-date), en UTC."),
    col("date_mise_a_jour", DateTime, "Date de dernière mise à jour de la ressource (meta.lastUpdated), en UTC."),
];

macro_rules! columns {
    ($($c:expr),* $(,)?) => {{
        const HEAD: &[ColumnSpec] = &[$($c),*];
        const N: usize = HEAD.len() + COMMON_TAIL.len();
        const ALL: [ColumnSpec; N] = {
            let mut all = [COMMON_TAIL[0]; N];
            let mut i = 0;
            while i < HEAD.len() { all[i] = HEAD[i]; i += 1; }
            let mut j = 0;
            while j < COMMON_TAIL.len() { all[HEAD.len() + j] = COMMON_TAIL[j]; j += 1; }
            all
        };
        &ALL
    }};
}

pub const ENTITES_JURIDIQUES: TableSpec = TableSpec {
    name: "entites_juridiques",
    title: "Entités juridiques",
    description: "Entités juridiques (EJ) du ROR : la personne morale qui gère un ou plusieurs établissements.",
    primary_key: "identifiant_ror",
    foreign_keys: &[],
    columns: columns![
        req("identifiant_ror", String, "Identifiant technique ROR de l'entité juridique (Organization.id)."),
        col("id_nat_struct", String, "Identifiant national de structure (idNatStruct, urn:oid:1.2.250.1.71.4.2.2)."),
        col("finess_ej", String, "Numéro FINESS de l'entité juridique (9 caractères)."),
        col("siren", String, "Numéro SIREN (9 chiffres)."),
        col("raison_sociale", String, "Raison sociale."),
        col("statut_juridique_code", String, "Code du statut juridique FINESS (TRE_R72-FinessStatutJuridique)."),
        col("statut_juridique_libelle", String, "Libellé du statut juridique FINESS."),
        col("adresse", String, "Ligne d'adresse."),
        col("code_postal", String, "Code postal."),
        col("commune", String, "Commune (libellé de l'adresse)."),
    ],
};

pub const ENTITES_GEOGRAPHIQUES: TableSpec = TableSpec {
    name: "entites_geographiques",
    title: "Entités géographiques",
    description: "Entités géographiques (EG) du ROR : les établissements, rattachés à une entité juridique.",
    primary_key: "identifiant_ror",
    foreign_keys: &[fk("entite_juridique_id", "entites_juridiques", "identifiant_ror")],
    columns: columns![
        req("identifiant_ror", String, "Identifiant technique ROR de l'entité géographique (Organization.id)."),
        col("entite_juridique_id", String, "Identifiant ROR de l'entité juridique de rattachement (Organization.partOf)."),
        col("id_nat_struct", String, "Identifiant national de structure (idNatStruct)."),
        col("finess_eg", String, "Numéro FINESS de l'établissement (9 caractères)."),
        col("siret", String, "Numéro SIRET (14 chiffres)."),
        col("denomination", String, "Dénomination de l'établissement."),
        col("nom_operationnel", String, "Nom opérationnel (Organization.alias)."),
        col("categorie_code", String, "Code de la catégorie d'établissement (TRE_R66-CategorieEtablissement)."),
        col("categorie_libelle", String, "Libellé de la catégorie d'établissement."),
        col("adresse", String, "Ligne d'adresse."),
        col("code_postal", String, "Code postal."),
        col("commune", String, "Commune (libellé de l'adresse)."),
        col("latitude", Number, "Latitude WGS84 en degrés décimaux."),
        col("longitude", Number, "Longitude WGS84 en degrés décimaux."),
        col("niveau_recours_orsan_code", String, "Code du niveau de recours ORSAN (donnée restreinte)."),
        col("niveau_recours_orsan_libelle", String, "Libellé du niveau de recours ORSAN (donnée restreinte)."),
        col("zone_poser_helicoptere", Boolean, "Présence d'une zone de poser pour hélicoptère (donnée restreinte)."),
    ],
};

pub const ORGANISATIONS_INTERNES: TableSpec = TableSpec {
    name: "organisations_internes",
    title: "Organisations internes",
    description: "Organisations internes (OI) des établissements : pôles, services, unités fonctionnelles, unités élémentaires.",
    primary_key: "identifiant_ror",
    foreign_keys: &[fk("entite_geographique_id", "entites_geographiques", "identifiant_ror")],
    columns: columns![
        req("identifiant_ror", String, "Identifiant technique ROR de l'organisation interne (Organization.id)."),
        col("identifiant_national_oi", String, "Identifiant national de l'organisation interne (système https://oi.esante.gouv.fr)."),
        col("type_code", String, "Code du type d'organisation interne (TRE_R207-TypeOrganisationInterne)."),
        col("type_libelle", String, "Libellé du type d'organisation interne."),
        col("nom", String, "Nom de l'organisation interne."),
        col("organisation_parente_id", String, "Identifiant ROR de l'organisation de rattachement directe (Organization.partOf)."),
        col("entite_geographique_id", String, "Identifiant ROR de l'entité géographique à laquelle l'organisation appartient."),
    ],
};

pub const OFFRES: TableSpec = TableSpec {
    name: "offres",
    title: "Offres opérationnelles",
    description: "Offres de santé opérationnelles (HealthcareService) : une activité, un mode de prise en charge, un lieu.",
    primary_key: "identifiant_ror",
    foreign_keys: &[
        fk("entite_geographique_id", "entites_geographiques", "identifiant_ror"),
        fk("organisation_interne_id", "organisations_internes", "identifiant_ror"),
        fk("lieu_id", "lieux", "identifiant_ror"),
    ],
    columns: columns![
        req("identifiant_ror", String, "Identifiant technique ROR de l'offre (HealthcareService.id)."),
        col("identifiant_offre", String, "Identifiant fonctionnel de l'offre (RR/nnnnnnn)."),
        col("nom", String, "Nom de l'offre."),
        col("entite_geographique_id", String, "Identifiant ROR de l'entité géographique qui porte l'offre."),
        col("organisation_interne_id", String, "Identifiant ROR de l'organisation interne qui porte l'offre, le cas échéant."),
        col("lieu_id", String, "Identifiant ROR du lieu de réalisation principal."),
        col("type_offre_code", String, "Code du type d'offre (TRE_R244-CategorieOrganisation)."),
        col("type_offre_libelle", String, "Libellé du type d'offre."),
        col("champ_activite_code", String, "Code du champ d'activité (TRE_R227-ChampActivite : 01 MCO, 02 SSR, 03 PSY, 04 MS, 05 ville)."),
        col("champ_activite_libelle", String, "Libellé du champ d'activité."),
        col("activite_operationnelle_code", String, "Code de l'activité opérationnelle (TRE_R211-ActiviteOperationnelle)."),
        col("activite_operationnelle_libelle", String, "Libellé de l'activité opérationnelle."),
        col("mode_prise_en_charge_code", String, "Code du mode de prise en charge (TRE_R213-ModePriseEnCharge)."),
        col("mode_prise_en_charge_libelle", String, "Libellé du mode de prise en charge."),
        col("public_pris_en_charge_code", String, "Code du public pris en charge (TRE_R239-PublicPrisEnCharge)."),
        col("public_pris_en_charge_libelle", String, "Libellé du public pris en charge."),
        col("age_minimum", Integer, "Âge minimum des patients pris en charge, en années."),
        col("age_maximum", Integer, "Âge maximum des patients pris en charge, en années."),
        col("unite_sensible", Boolean, "Vrai si l'offre relève d'une unité sensible (extension ror-healthcareservice-sensitive-unit)."),
    ],
};

pub const LIEUX: TableSpec = TableSpec {
    name: "lieux",
    title: "Lieux de réalisation",
    description: "Lieux de réalisation des offres (Location) : adresse, position, statut, capacité d'habitation.",
    primary_key: "identifiant_ror",
    foreign_keys: &[fk("entite_geographique_id", "entites_geographiques", "identifiant_ror")],
    columns: columns![
        req("identifiant_ror", String, "Identifiant technique ROR du lieu (Location.id)."),
        col("identifiant_lieu", String, "Identifiant fonctionnel du lieu (RR/nnnn)."),
        col("nom", String, "Nom du lieu."),
        col("entite_geographique_id", String, "Identifiant ROR de l'entité géographique gestionnaire (Location.managingOrganization)."),
        col("fonction_code", String, "Code de la fonction du lieu (TRE_R343-FonctionLieu)."),
        col("fonction_libelle", String, "Libellé de la fonction du lieu."),
        col("statut_code", String, "Code du statut du lieu (TRE_R203-StatutLieu : 1 fermé définitivement, 2 fermé temporairement, 3 opérationnel)."),
        col("statut_libelle", String, "Libellé du statut du lieu."),
        col("adresse", String, "Ligne d'adresse."),
        col("code_postal", String, "Code postal."),
        col("commune", String, "Commune (libellé de l'adresse)."),
        col("commune_cog_code", String, "Code officiel géographique (COG) de la commune."),
        col("commune_cog_libelle", String, "Libellé COG de la commune."),
        col("latitude", Number, "Latitude WGS84 en degrés décimaux."),
        col("longitude", Number, "Longitude WGS84 en degrés décimaux."),
        col("type_habitation_code", String, "Code du type d'habitation (capacité d'habitation)."),
        col("type_habitation_libelle", String, "Libellé du type d'habitation."),
        col("nombre_habitations", Integer, "Nombre d'habitations de ce type."),
    ],
};

pub const HORAIRES: TableSpec = TableSpec {
    name: "horaires",
    title: "Horaires des offres",
    description: "Plages horaires des offres (HealthcareService.availableTime), une ligne par plage.",
    primary_key: "horaire_id",
    foreign_keys: &[fk("offre_id", "offres", "identifiant_ror")],
    columns: &[
        req("horaire_id", String, "Identifiant de la plage : identifiant de l'offre, tiret, rang de la plage."),
        req("offre_id", String, "Identifiant ROR de l'offre."),
        req("rang", Integer, "Rang de la plage dans l'offre (à partir de 1)."),
        col("type_horaire_code", String, "Code du type d'horaire (TRE_R252-TypeHoraire)."),
        col("type_horaire_libelle", String, "Libellé du type d'horaire."),
        col("jour_semaine", Integer, "Jour de la semaine, de 1 (lundi) à 7 (dimanche)."),
        col("heure_debut", Time, "Heure de début (HH:MM:SS)."),
        col("heure_fin", Time, "Heure de fin (HH:MM:SS)."),
        col("date_debut", Date, "Date de début d'effet de la plage."),
        col("date_fin", Date, "Date de fin d'effet de la plage."),
    ],
};

pub const CONTACTS: TableSpec = TableSpec {
    name: "contacts",
    title: "Contacts",
    description: "Moyens de contact des offres et des établissements, une ligne par télécommunication.",
    primary_key: "contact_id",
    foreign_keys: &[
        fk("offre_id", "offres", "identifiant_ror"),
        fk("entite_geographique_id", "entites_geographiques", "identifiant_ror"),
    ],
    columns: &[
        req("contact_id", String, "Identifiant du contact : type et identifiant de l'entité, rang du contact, rang de la télécommunication."),
        req("entite_type", String, "Entité décrite : « offre » ou « entite_geographique »."),
        col("offre_id", String, "Identifiant ROR de l'offre, si le contact est celui d'une offre."),
        col("entite_geographique_id", String, "Identifiant ROR de l'entité géographique, si le contact est celui d'un établissement."),
        col("nature_contact_code", String, "Code de la nature du contact (TRE_R287-NatureContact)."),
        col("nature_contact_libelle", String, "Libellé de la nature du contact."),
        col("niveau_confidentialite_contact_code", String, "Niveau de confidentialité du contact (TRE_R283 : 1 accès libre, 2 restreint, 3 très restreint)."),
        col("niveau_confidentialite_contact_libelle", String, "Libellé du niveau de confidentialité du contact."),
        col("canal_code", String, "Code du canal de communication (TRE_R200-CanalCommunication)."),
        col("canal_libelle", String, "Libellé du canal de communication."),
        col("niveau_confidentialite_telecom_code", String, "Niveau de confidentialité de la télécommunication (TRE_R283)."),
        col("niveau_confidentialite_telecom_libelle", String, "Libellé du niveau de confidentialité de la télécommunication."),
        col("systeme", String, "Système FHIR de la télécommunication (phone, email, url…)."),
        col("valeur", String, "Numéro, adresse ou URL."),
    ],
};

pub const PROFESSIONNELS: TableSpec = TableSpec {
    name: "professionnels",
    title: "Professionnels (situations opérationnelles)",
    description: "Situations opérationnelles des professionnels (PractitionerRole) : un professionnel exerçant dans une offre.",
    primary_key: "identifiant_ror",
    foreign_keys: &[fk("offre_id", "offres", "identifiant_ror")],
    columns: &[
        req("identifiant_ror", String, "Identifiant technique ROR de la situation opérationnelle (PractitionerRole.id)."),
        col("professionnel_id", String, "Identifiant technique ROR du professionnel (Practitioner.id)."),
        col("id_nat_ps", String, "Identifiant national du professionnel (idNat_PS : 8 + RPPS ou 0 + ADELI)."),
        col("type_identifiant", String, "Nature de l'identifiant national : RPPS ou ADELI."),
        col("nom_exercice", String, "Nom d'exercice."),
        col("prenom_exercice", String, "Prénom d'exercice."),
        col("profession_code", String, "Code de la profession (TRE_G15-ProfessionSante)."),
        col("profession_libelle", String, "Libellé de la profession."),
        col("savoir_faire_code", String, "Code du savoir-faire (spécialité, compétence)."),
        col("savoir_faire_libelle", String, "Libellé du savoir-faire."),
        col("mode_exercice_code", String, "Code du mode d'exercice (TRE_R23-ModeExercice)."),
        col("mode_exercice_libelle", String, "Libellé du mode d'exercice."),
        col("offre_id", String, "Identifiant ROR de l'offre dans laquelle le professionnel exerce."),
        col("offre_champ_activite_code", String, "Champ d'activité de l'offre (05 = ville), recopié pour les règles de diffusion."),
        col("date_mise_a_jour", DateTime, "Date de dernière mise à jour de la situation opérationnelle (meta.lastUpdated), en UTC."),
    ],
};

pub const CAPACITES: TableSpec = TableSpec {
    name: "capacites",
    title: "Capacités en lits et places",
    description: "Enregistrements de capacité (extension ror-location-supported-capacity) : une ligne par nature, statut et temporalité.",
    primary_key: "capacite_id",
    foreign_keys: &[
        fk("lieu_id", "lieux", "identifiant_ror"),
        fk("offre_id", "offres", "identifiant_ror"),
        fk("entite_geographique_id", "entites_geographiques", "identifiant_ror"),
    ],
    columns: &[
        req("capacite_id", String, "Identifiant de l'enregistrement : identifiant du lieu, tiret, rang."),
        req("lieu_id", String, "Identifiant ROR du lieu."),
        col("offre_id", String, "Identifiant ROR de l'offre opérationnelle réalisée dans ce lieu (la plus petite par identifiant quand le lieu en accueille plusieurs)."),
        col("entite_geographique_id", String, "Identifiant ROR de l'entité géographique gestionnaire du lieu."),
        col("finess_eg", String, "Numéro FINESS de cette entité géographique."),
        col("nature_capacite_code", String, "Code de la nature de capacité (TRE_R329 : 01 lit, 02 place)."),
        col("nature_capacite_libelle", String, "Libellé de la nature de capacité."),
        col("statut_capacite_code", String, "Code du statut de capacité (TRE_R330)."),
        col("statut_capacite_libelle", String, "Libellé du statut de capacité."),
        col("temporalite_code", String, "Code de la temporalité (TRE_R331)."),
        col("temporalite_libelle", String, "Libellé de la temporalité."),
        col("nombre", Integer, "Nombre de lits ou de places."),
        col("type_source_code", String, "Code du type de source (TRE_R335)."),
        col("type_source_libelle", String, "Libellé du type de source."),
        col("genre_code", String, "Code du genre de la capacité disponible (TRE_R332)."),
        col("genre_libelle", String, "Libellé du genre."),
        col("date_mise_a_jour_capacite", DateTime, "Date de mise à jour de la capacité, en UTC."),
        col("type_fermeture_code", String, "Code du type de fermeture (TRE_R333)."),
        col("type_fermeture_libelle", String, "Libellé du type de fermeture."),
        col("type_lit_supplementaire_code", String, "Code du type de lit supplémentaire (TRE_R334)."),
        col("type_lit_supplementaire_libelle", String, "Libellé du type de lit supplémentaire."),
        col("type_crise_code", String, "Code du type de crise (TRE_R336)."),
        col("type_crise_libelle", String, "Libellé du type de crise."),
        col("affectation_temporaire_code", String, "Code de l'affectation temporaire (TRE_R337)."),
        col("affectation_temporaire_libelle", String, "Libellé de l'affectation temporaire."),
    ],
};

pub const EQUIPEMENTS: TableSpec = TableSpec {
    name: "equipements",
    title: "Équipements spécifiques",
    description: "Équipements spécifiques des lieux (extension ror-location-equipement).",
    primary_key: "equipement_id",
    foreign_keys: &[fk("lieu_id", "lieux", "identifiant_ror")],
    columns: &[
        req("equipement_id", String, "Identifiant : identifiant du lieu, tiret, rang."),
        req("lieu_id", String, "Identifiant ROR du lieu."),
        col("type_equipement_code", String, "Code du type d'équipement."),
        col("type_equipement_libelle", String, "Libellé du type d'équipement."),
        col("nombre_en_service", Integer, "Nombre d'équipements en service."),
    ],
};

/// Every table, in dependency order (a table comes after the tables its foreign keys point to,
/// except `offres` → `lieux`, which the disclosure stage orders by itself).
pub const ALL: &[&TableSpec] = &[
    &ENTITES_JURIDIQUES,
    &ENTITES_GEOGRAPHIQUES,
    &ORGANISATIONS_INTERNES,
    &LIEUX,
    &OFFRES,
    &HORAIRES,
    &CONTACTS,
    &PROFESSIONNELS,
    &CAPACITES,
    &EQUIPEMENTS,
];

/// Look a table up by name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    ALL.iter().copied().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_snake_case_and_short() {
        for t in ALL {
            let mut seen = BTreeSet::new();
            for c in t.columns {
                assert!(c.name.len() <= 63, "{}.{} too long", t.name, c.name);
                assert!(c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'), "{}.{}", t.name, c.name);
                assert!(seen.insert(c.name), "duplicate column {}.{}", t.name, c.name);
                assert!(!c.description.is_empty());
            }
            assert!(t.column(t.primary_key).is_some_and(|c| c.required), "{} primary key", t.name);
        }
    }

    #[test]
    fn foreign_keys_point_to_primary_keys() {
        for t in ALL {
            for f in t.foreign_keys {
                assert!(t.column(f.column).is_some(), "{}.{}", t.name, f.column);
                let target = table(f.table).expect("target table exists");
                assert_eq!(target.primary_key, f.reference);
            }
        }
    }
}
