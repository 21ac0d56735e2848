//! The codes generated resources carry: ANS's JDV value sets embedded from datasets/nomenclatures
//! (so each coding has the exact code and display ANS publishes), the few TRE lists that have no JDV
//! file here, and every system, profile and extension URL the generator writes.

use serde_json::{json, Value};

use super::SynthError;

/// Start of every NOS terminology URL; real servers also send the `http://` form.
pub const NOS_HTTPS: &str = "https://mos.esante.gouv.fr/NOS/";
pub const NOS_HTTP: &str = "http://mos.esante.gouv.fr/NOS/";

/// Code systems and identifier systems that are not read from a JDV file.
pub mod system {
    pub const REGION: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";
    pub const COMMUNE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM";
    pub const ID_TYPE_STRUCTURE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_G07-TypeIdentifiantStructure/FHIR/TRE-G07-TypeIdentifiantStructure";
    pub const STATUT_JURIDIQUE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R72-FinessStatutJuridique/FHIR/TRE-R72-FinessStatutJuridique";
    pub const ORSAN: &str = "https://mos.esante.gouv.fr/NOS/TRE_R342-NiveauRecoursORSAN/FHIR/TRE-R342-NiveauRecoursORSAN";
    pub const LOCATION_ID_TYPE: &str = "https://mos.esante.gouv.fr/NOS/TRE_R354-TypeIdentifiantRessourceOperationnelle/FHIR/TRE-R354-TypeIdentifiantRessourceOperationnelle";
    pub const OFFER_ID_TYPE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R355-TypeIdentifiantOffre/FHIR/TRE-R355-TypeIdentifiantOffre";
    pub const TYPE_OF_TIME: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R252-TypeHoraire/FHIR/TRE-R252-TypeHoraire";
    pub const RESIDENTIAL_TYPE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R242-TypeHabitation/FHIR/TRE-R242-TypeHabitation";
    pub const EQUIPMENT: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R212-Equipement/FHIR/TRE-R212-Equipement";
    pub const UCUM_UNIT: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R247-UcumUniteMesure/FHIR/TRE-R247-UcumUniteMesure";
    pub const PROFESSION: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante";
    /// The value-set URL ANS's PractitionerRole example uses as the savoir-faire coding system.
    pub const SAVOIR_FAIRE: &str = "https://mos.esante.gouv.fr/NOS/JDV_J209-TypeSavoirFaire-ROR/FHIR/JDV-J209-TypeSavoirFaire-ROR";
    pub const EXERCISE_MODE: &str =
        "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice";

    pub const ID_NAT_STRUCT: &str = "urn:oid:1.2.250.1.71.4.2.2";
    pub const FINESS: &str = "https://finess.esante.gouv.fr";
    pub const SIRENE_HTTP: &str = "http://sirene.fr";
    pub const SIRENE_HTTPS: &str = "https://sirene.fr";
    pub const OI: &str = "https://oi.esante.gouv.fr";
    pub const ID_NAT_PS: &str = "urn:oid:1.2.250.1.71.4.2.1";
}

/// Profiles in `meta.profile`.
pub mod profile {
    pub const ORGANIZATION: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization";
    pub const LOCATION: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location";
    pub const HEALTHCARE_SERVICE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice";
    pub const PRACTITIONER: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-practitioner";
    pub const PRACTITIONER_ROLE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-practitionerrole";
}

/// Extension URLs (ROR extensions under ANS's StructureDefinition base, plus the HL7 ones the ROR uses).
pub mod ext {
    pub const META_CREATION_DATE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-meta-creation-date";
    pub const ORSAN: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-level-recours-orsan";
    pub const DROP_ZONE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-organization-drop-zone";
    pub const CONTACT_CONFIDENTIALITY: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-contact-confidentiality-level";
    pub const TELECOM_CHANNEL: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-telecom-communication-channel";
    pub const TELECOM_CONFIDENTIALITY: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-telecom-confidentiality-level";
    pub const LOCATION_STATUS: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-status";
    pub const COMMUNE_COG: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-commune-cog";
    pub const RESIDENTIAL_CAPACITY: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-residential-capacity";
    pub const SUPPORTED_CAPACITY: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-supported-capacity";
    pub const EQUIPMENT: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-location-equipement";
    pub const SENSITIVE_UNIT: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-sensitive-unit";
    pub const PATIENT_TYPE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-patient-type";
    pub const HS_CONTACT: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-contact";
    pub const CONFIDENTIALITY: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-confidentiality-level";
    pub const HS_CONTACT_TELECOM: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-healthcareservice-contact-telecom";
    pub const DAYS_OF_WEEK: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-available-time-number-days-of-week";
    pub const OPENING_CLOSING_DATE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-available-time-effective-opening-closing-date";
    pub const TYPE_OF_TIME: &str = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-available-time-type-of-time";
    pub const PRACTITIONER_ROLE_NAME: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/RORPractitionerRoleName";
    pub const UNIT_EXERCISE_MODE: &str =
        "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-practitionerrole-unit-exercise-mode";

    pub const GEOLOCATION: &str = "http://hl7.org/fhir/StructureDefinition/geolocation";
    pub const ADXP_HOUSE_NUMBER: &str =
        "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber";
    pub const ADXP_STREET_NAME_TYPE: &str =
        "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetNameType";
    pub const ADXP_STREET_NAME_BASE: &str =
        "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetNameBase";

    /// An extension no reader knows, as real servers send: readers must ignore it.
    pub const UNKNOWN: &str = "https://example.org/fhir/StructureDefinition/unknown-ext";
}

/// One code of a code system, with the label ANS gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Coding {
    pub system: String,
    pub code: String,
    pub display: String,
    /// The CodeableConcept, built once: cloning it is much cheaper than building it for each of the
    /// tens of millions of codings of a national snapshot.
    concept: Value,
}

impl Coding {
    pub fn new(system: String, code: String, display: String) -> Self {
        let concept = json!({"coding": [{"system": system, "code": code, "display": display}]});
        Coding {
            system,
            code,
            display,
            concept,
        }
    }

    fn fixed(system: &str, (code, display): (&str, &str)) -> Self {
        Coding::new(system.to_string(), code.to_string(), display.to_string())
    }

    /// The FHIR CodeableConcept holding this one coding.
    pub fn concept(&self) -> Value {
        self.concept.clone()
    }
}

pub use crate::fhir::nomenclature::{ValueSetFile, VALUE_SET_FILES};

/// The concepts of one JDV, across all the code systems it includes.
pub struct ValueSet {
    pub name: &'static str,
    pub concepts: Vec<Coding>,
}

impl ValueSet {
    pub fn parse(file: &ValueSetFile) -> Result<Self, SynthError> {
        let concepts = file
            .concepts()
            .map_err(|detail| SynthError::Nomenclature { file: file.name, detail })?
            .into_iter()
            .map(|c| Coding::new(c.system, c.code, c.display))
            .collect();
        Ok(ValueSet { name: file.name, concepts })
    }

    /// The concept with this code. Codes whose display is empty in ANS's file are refused: a coding
    /// must carry a label.
    pub fn get(&self, code: &str) -> Result<Coding, SynthError> {
        self.concepts
            .iter()
            .find(|c| c.code == code && !c.display.is_empty())
            .cloned()
            .ok_or_else(|| SynthError::Nomenclature {
                file: self.name,
                detail: format!("no code {code:?} with a display"),
            })
    }

    fn many(&self, codes: &[&str]) -> Result<Vec<Coding>, SynthError> {
        codes.iter().map(|c| self.get(c)).collect()
    }

    fn array<const N: usize>(&self, codes: [&str; N]) -> Result<[Coding; N], SynthError> {
        let list = self.many(&codes)?;
        list.try_into().map_err(|_| SynthError::Nomenclature {
            file: self.name,
            detail: "wrong number of codes".to_string(),
        })
    }
}

/// Every embedded JDV, parsed.
pub fn value_sets() -> Result<Vec<ValueSet>, SynthError> {
    VALUE_SET_FILES.iter().map(ValueSet::parse).collect()
}

fn find<'a>(sets: &'a [ValueSet], name: &'static str) -> Result<&'a ValueSet, SynthError> {
    sets.iter()
        .find(|s| s.name == name)
        .ok_or(SynthError::Nomenclature {
            file: name,
            detail: "value set not embedded".to_string(),
        })
}

fn fixed<const N: usize>(system: &str, items: [(&str, &str); N]) -> [Coding; N] {
    items.map(|item| Coding::fixed(system, item))
}

/// Kinds of entité géographique, which decide what a site offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Hospital,
    MedicoSocial,
    Ville,
}

impl Kind {
    pub fn index(self) -> usize {
        match self {
            Kind::Hospital => 0,
            Kind::MedicoSocial => 1,
            Kind::Ville => 2,
        }
    }
}

/// Champ d'activité of an offer: index into `CodeBook::champ` (0 = 01 MCO … 4 = 05 ville).
pub const CHAMP_MCO: usize = 0;
pub const CHAMP_SSR: usize = 1;
pub const CHAMP_PSY: usize = 2;
pub const CHAMP_MS: usize = 3;
pub const CHAMP_VILLE: usize = 4;

/// Activités opérationnelles offered per champ (JDV_J17), and the relative frequency of each for ville.
const SPECIALTY_MCO: [&str; 20] = [
    "013", "022", "025", "031", "033", "037", "041", "046", "055", "085", "088", "094", "095",
    "097", "100", "102", "103", "114", "126", "157",
];
const SPECIALTY_SSR: [&str; 9] = [
    "172", "233", "234", "235", "236", "241", "456", "458", "459",
];
const SPECIALTY_PSY: [&str; 7] = ["051", "158", "227", "228", "229", "230", "231"];
const SPECIALTY_MS: [&str; 10] = [
    "285", "288", "293", "298", "300", "306", "312", "313", "325", "333",
];
pub const SPECIALTY_VILLE: [&str; 10] = [
    "437", "339", "287", "101", "013", "103", "037", "053", "200", "201",
];
pub const SPECIALTY_VILLE_WEIGHTS: [u32; 10] = [40, 15, 15, 8, 4, 4, 4, 4, 3, 3];
/// Index in SPECIALTY_VILLE of 287 "Soins techniques infirmiers" (the ville example's nurse).
pub const SPECIALTY_VILLE_NURSING: usize = 2;

/// Types d'offre per champ (JDV_J34); ville offers have none, as in ANS's ville example.
const CATEGORY_MCO_SSR: [&str; 6] = ["16", "11", "69", "20", "71", "92"];
const CATEGORY_PSY: [&str; 7] = ["10", "05", "11", "16", "15", "68", "77"];
const CATEGORY_MS: [&str; 13] = [
    "21", "22", "24", "25", "28", "30", "39", "40", "41", "43", "48", "57", "61",
];

/// Modes de prise en charge per champ (JDV_J19).
const MODE_MCO: [&str; 7] = ["28", "29", "32", "09", "33", "13", "34"];
const MODE_SSR: [&str; 3] = ["28", "29", "32"];
const MODE_PSY: [&str; 5] = ["28", "29", "32", "11", "41"];
const MODE_MS: [&str; 5] = ["46", "54", "49", "48", "50"];
const MODE_VILLE: [&str; 2] = ["32", "27"];

/// Catégories d'établissement per kind of EG (JDV_J55; SA07/SA08 are its TRE_R02 cabinet codes).
const EG_CATEGORY_HOSPITAL: [&str; 8] = ["355", "101", "106", "128", "129", "365", "292", "109"];
const EG_CATEGORY_MS: [&str; 9] = [
    "500", "183", "354", "255", "437", "246", "202", "382", "209",
];
pub const EG_CATEGORY_VILLE: [&str; 5] = ["603", "124", "439", "SA07", "SA08"];
/// Index in EG_CATEGORY_VILLE of SA08 "Cabinet de groupe".
pub const EG_CATEGORY_CABINET_GROUPE: usize = 4;

/// Indices in `CodeBook::purpose` (TRE_R287, codes 01…14 in order).
pub const PURPOSE_PRISE_RDV: usize = 1;
pub const PURPOSE_ADMISSION: usize = 2;
pub const PURPOSE_MEDICAL: usize = 3;
pub const PURPOSE_SOIGNANT: usize = 4;
pub const PURPOSE_STANDARD: usize = 5;
pub const PURPOSE_SECRETARIAT: usize = 6;
pub const PURPOSE_ALERTE_SSE: usize = 7;
pub const PURPOSE_DIRECTION: usize = 9;
pub const PURPOSE_ALERTE_H24: usize = 12;
pub const PURPOSE_GARDE: usize = 13;

/// Every code list the generator draws from, resolved once so that generation cannot fail on a code.
pub struct CodeBook {
    pub champ: [Coding; 5],
    pub specialty: [Vec<Coding>; 5],
    pub category: [Vec<Coding>; 4],
    pub mode: [Vec<Coding>; 5],
    pub public: [Coding; 5],
    pub eg_category: [Vec<Coding>; 3],
    pub oi_type: [Coding; 4],
    pub purpose: [Coding; 14],
    /// TRE_R283 levels 1, 2, 3.
    pub confidentiality: [Coding; 3],
    /// TRE_R200 channels 1…9.
    pub channel: [Coding; 9],
    pub location_function: [Coding; 1],
    /// TRE_R203 statuses 1 fermé définitivement, 2 fermé temporairement, 3 opérationnel.
    pub location_status: [Coding; 3],
    pub capacity_type: [Coding; 2],
    pub capacity_status: [Coding; 6],
    pub temporality: [Coding; 5],
    pub gender: [Coding; 4],
    pub closing: [Coding; 3],
    pub additional_bed: [Coding; 3],
    pub capacity_source: [Coding; 4],
    pub crisis: [Coding; 2],
    pub assignment: [Coding; 3],

    /// TRE_G07: 40 idNatStruct, 1 FINESS, 2 SIREN, 3 SIRET.
    pub id_type_structure: [Coding; 4],
    pub statut_juridique: [Coding; 5],
    pub orsan: [Coding; 3],
    pub location_id_type: Coding,
    pub offer_id_type: Coding,
    /// TRE_R252: 01 ouverture, 06 consultation sans RDV, 07 consultation sur RDV.
    pub type_of_time: [Coding; 3],
    pub residential_type: [Coding; 4],
    pub equipment: [Coding; 4],
    /// TRE_G15: 10, 21, 40, 50, 60, 70.
    pub profession: [Coding; 6],
    pub savoir_faire: [Coding; 4],
    /// TRE_R23: L, S, B.
    pub exercise_mode: [Coding; 3],
}

impl CodeBook {
    pub fn load() -> Result<Self, SynthError> {
        let sets = value_sets()?;
        let j17 = find(&sets, "JDV_J17-ActiviteOperationnelle")?;
        let j19 = find(&sets, "JDV_J19-ModePriseEnCharge")?;
        let j34 = find(&sets, "JDV_J34-CategorieOrganisation")?;
        let j55 = find(&sets, "JDV_J55-CategorieEG")?;
        Ok(CodeBook {
            champ: find(&sets, "JDV_J20-ChampActivite")?.array(["01", "02", "03", "04", "05"])?,
            specialty: [
                j17.many(&SPECIALTY_MCO)?,
                j17.many(&SPECIALTY_SSR)?,
                j17.many(&SPECIALTY_PSY)?,
                j17.many(&SPECIALTY_MS)?,
                j17.many(&SPECIALTY_VILLE)?,
            ],
            category: [
                j34.many(&CATEGORY_MCO_SSR)?,
                j34.many(&CATEGORY_MCO_SSR)?,
                j34.many(&CATEGORY_PSY)?,
                j34.many(&CATEGORY_MS)?,
            ],
            mode: [
                j19.many(&MODE_MCO)?,
                j19.many(&MODE_SSR)?,
                j19.many(&MODE_PSY)?,
                j19.many(&MODE_MS)?,
                j19.many(&MODE_VILLE)?,
            ],
            public: find(&sets, "JDV_J29-PublicPrisEnCharge")?
                .array(["01", "02", "03", "04", "05"])?,
            eg_category: [
                j55.many(&EG_CATEGORY_HOSPITAL)?,
                j55.many(&EG_CATEGORY_MS)?,
                j55.many(&EG_CATEGORY_VILLE)?,
            ],
            oi_type: find(&sets, "JDV_J203-TypeOrganisationInterne")?
                .array(["1", "2", "3", "4"])?,
            purpose: find(&sets, "JDV_J221-NatureContact")?.array([
                "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
            ])?,
            confidentiality: find(&sets, "JDV_J222-NiveauConfidentialite")?
                .array(["1", "2", "3"])?,
            channel: find(&sets, "JDV_J225-CanalCommunication")?
                .array(["1", "2", "3", "4", "5", "6", "7", "8", "9"])?,
            location_function: find(&sets, "JDV_J198-FonctionLieu")?.array(["001"])?,
            location_status: find(&sets, "JDV_J224-StatutLieu")?.array(["1", "2", "3"])?,
            capacity_type: find(&sets, "JDV_J187-NatureCapacite")?.array(["01", "02"])?,
            capacity_status: find(&sets, "JDV_J188-TypeStatutCapacite")?
                .array(["01", "02", "03", "04", "05", "06"])?,
            temporality: find(&sets, "JDV_J189-TemporaliteCapacite")?
                .array(["01", "02", "03", "04", "05"])?,
            gender: find(&sets, "JDV_J190-GenreCapacite")?.array(["01", "02", "03", "04"])?,
            closing: find(&sets, "JDV_J191-TypeFermetureCapacite")?.array(["01", "02", "03"])?,
            additional_bed: find(&sets, "JDV_J192-TypeLitSupplementaire")?
                .array(["01", "02", "03"])?,
            capacity_source: find(&sets, "JDV_J193-TypeSourceCapacite")?
                .array(["01", "02", "03", "04"])?,
            crisis: find(&sets, "JDV_J194-TypeCrise")?.array(["01", "02"])?,
            assignment: find(&sets, "JDV_J195-AffectationTemporaire")?.array(["01", "02", "03"])?,

            id_type_structure: fixed(
                system::ID_TYPE_STRUCTURE,
                [
                    ("40", "Identifiant national de structure"),
                    ("1", "FINESS"),
                    ("2", "SIREN"),
                    ("3", "SIRET"),
                ],
            ),
            statut_juridique: fixed(
                system::STATUT_JURIDIQUE,
                [
                    ("1", "Etat"),
                    ("13", "Etablissement Public Communal d'Hospitalisation"),
                    ("60", "Association Loi 1901 non Reconnue d'Utilité Publique"),
                    ("72", "Société à responsabilité limitée (SARL)"),
                    ("73", "Société Anonyme (S.A.)"),
                ],
            ),
            orsan: fixed(
                system::ORSAN,
                [("1", "Niveau 1"), ("2", "Niveau 2"), ("3", "Niveau 3")],
            ),
            location_id_type: Coding::fixed(
                system::LOCATION_ID_TYPE,
                (
                    "25",
                    "Identifiant du lieu de réalisation de l'offre connu par l'instance ROR",
                ),
            ),
            offer_id_type: Coding::fixed(
                system::OFFER_ID_TYPE,
                (
                    "35",
                    "Identifiant fonctionnel de l'offre connu par l'instance ROR",
                ),
            ),
            type_of_time: fixed(
                system::TYPE_OF_TIME,
                [
                    ("01", "Horaire d'ouverture"),
                    ("06", "Horaire de consultation sans RDV"),
                    ("07", "Horaire de consultation sur RDV"),
                ],
            ),
            residential_type: fixed(
                system::RESIDENTIAL_TYPE,
                [
                    ("01", "Chambre double"),
                    ("02", "Chambre simple"),
                    ("03", "F1"),
                    ("04", "F2"),
                ],
            ),
            equipment: fixed(
                system::EQUIPMENT,
                [
                    ("230", "Imagerie par Résonance Magnétique"),
                    ("231", "Scanner"),
                    ("232", "Tomographie par Émission Monophotonique"),
                    ("233", "Tomographie par Émission de Positons"),
                ],
            ),
            profession: fixed(
                system::PROFESSION,
                [
                    ("10", "Médecin"),
                    ("21", "Pharmacien"),
                    ("40", "Chirurgien-Dentiste"),
                    ("50", "Sage-Femme"),
                    ("60", "Infirmier"),
                    ("70", "Masseur-Kinésithérapeute"),
                ],
            ),
            savoir_faire: fixed(
                system::SAVOIR_FAIRE,
                [
                    ("S", "Spécialité ordinale"),
                    ("CEX", "Compétence exclusive"),
                    ("CAPA", "Capacité"),
                    ("OP", "Orientation particulière"),
                ],
            ),
            exercise_mode: fixed(
                system::EXERCISE_MODE,
                [
                    ("L", "Libéral, indépendant, artisan, commerçant"),
                    ("S", "Salarié"),
                    ("B", "Bénévole"),
                ],
            ),
        })
    }

    /// The commune coding (TRE_R13) of the `ror-commune-cog` extension.
    pub fn commune(cog: &str, name: &str) -> Coding {
        Coding::fixed(system::COMMUNE, (cog, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_resolves_and_is_non_empty() {
        let book = CodeBook::load().expect("embedded code lists resolve");
        for list in book
            .specialty
            .iter()
            .chain(book.category.iter())
            .chain(book.mode.iter())
            .chain(book.eg_category.iter())
        {
            assert!(!list.is_empty());
        }
        assert_eq!(book.champ[CHAMP_VILLE].code, "05");
        assert_eq!(book.purpose[PURPOSE_STANDARD].code, "06");
        assert_eq!(book.purpose[PURPOSE_ALERTE_SSE].code, "08");
        assert_eq!(book.purpose[PURPOSE_DIRECTION].code, "10");
        assert_eq!(book.purpose[PURPOSE_ALERTE_H24].code, "13");
        assert_eq!(
            book.specialty[CHAMP_VILLE][SPECIALTY_VILLE_NURSING].code,
            "287"
        );
        assert_eq!(
            book.eg_category[Kind::Ville.index()][EG_CATEGORY_CABINET_GROUPE].code,
            "SA08"
        );
        assert_eq!(SPECIALTY_VILLE.len(), SPECIALTY_VILLE_WEIGHTS.len());
    }

    #[test]
    fn value_sets_are_the_copied_files() {
        let sets = value_sets().expect("embedded value sets parse");
        assert_eq!(sets.len(), 21);
        assert!(sets.iter().all(|s| !s.concepts.is_empty()));
    }
}
