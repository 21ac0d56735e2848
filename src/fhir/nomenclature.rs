//! ANS's value sets (JDV) shipped in datasets/nomenclatures/, embedded in the binary so the
//! generator and the quality gate use exactly the lists the job was built with, parsed once here.

use serde::Deserialize;

/// A JDV file embedded in the binary, named by its value-set name (file name without `-ROR-FHIR.json`).
pub struct ValueSetFile {
    pub name: &'static str,
    pub text: &'static str,
}

pub const VALUE_SET_FILES: [ValueSetFile; 21] = [
    ValueSetFile {
        name: "JDV_J17-ActiviteOperationnelle",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J17-ActiviteOperationnelle-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J187-NatureCapacite",
        text: include_str!("../../datasets/nomenclatures/JDV_J187-NatureCapacite-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J188-TypeStatutCapacite",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J188-TypeStatutCapacite-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J189-TemporaliteCapacite",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J189-TemporaliteCapacite-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J19-ModePriseEnCharge",
        text: include_str!("../../datasets/nomenclatures/JDV_J19-ModePriseEnCharge-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J190-GenreCapacite",
        text: include_str!("../../datasets/nomenclatures/JDV_J190-GenreCapacite-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J191-TypeFermetureCapacite",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J191-TypeFermetureCapacite-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J192-TypeLitSupplementaire",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J192-TypeLitSupplementaire-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J193-TypeSourceCapacite",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J193-TypeSourceCapacite-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J194-TypeCrise",
        text: include_str!("../../datasets/nomenclatures/JDV_J194-TypeCrise-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J195-AffectationTemporaire",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J195-AffectationTemporaire-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J198-FonctionLieu",
        text: include_str!("../../datasets/nomenclatures/JDV_J198-FonctionLieu-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J20-ChampActivite",
        text: include_str!("../../datasets/nomenclatures/JDV_J20-ChampActivite-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J203-TypeOrganisationInterne",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J203-TypeOrganisationInterne-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J221-NatureContact",
        text: include_str!("../../datasets/nomenclatures/JDV_J221-NatureContact-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J222-NiveauConfidentialite",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J222-NiveauConfidentialite-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J224-StatutLieu",
        text: include_str!("../../datasets/nomenclatures/JDV_J224-StatutLieu-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J225-CanalCommunication",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J225-CanalCommunication-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J29-PublicPrisEnCharge",
        text: include_str!("../../datasets/nomenclatures/JDV_J29-PublicPrisEnCharge-ROR-FHIR.json"),
    },
    ValueSetFile {
        name: "JDV_J34-CategorieOrganisation",
        text: include_str!(
            "../../datasets/nomenclatures/JDV_J34-CategorieOrganisation-ROR-FHIR.json"
        ),
    },
    ValueSetFile {
        name: "JDV_J55-CategorieEG",
        text: include_str!("../../datasets/nomenclatures/JDV_J55-CategorieEG-ROR-FHIR.json"),
    },
];

/// One concept of a value set, with the code system it belongs to.
pub struct Concept {
    pub system: String,
    pub code: String,
    pub display: String,
}

#[derive(Deserialize)]
struct ValueSetJson {
    compose: Compose,
}

#[derive(Deserialize)]
struct Compose {
    include: Vec<Include>,
}

#[derive(Deserialize)]
struct Include {
    system: String,
    #[serde(default)]
    concept: Vec<ConceptJson>,
}

#[derive(Deserialize)]
struct ConceptJson {
    code: String,
    #[serde(default)]
    display: String,
}

impl ValueSetFile {
    /// The concepts across every code system the value set includes; Err is the parser's message.
    pub fn concepts(&self) -> Result<Vec<Concept>, String> {
        let parsed: ValueSetJson = serde_json::from_str(self.text).map_err(|e| e.to_string())?;
        Ok(parsed
            .compose
            .include
            .into_iter()
            .flat_map(|inc| {
                let system = inc.system;
                inc.concept.into_iter().map(move |c| Concept { system: system.clone(), code: c.code, display: c.display })
            })
            .collect())
    }
}

/// An embedded value set by name ("JDV_J20-ChampActivite").
pub fn file(name: &str) -> Option<&'static ValueSetFile> {
    VALUE_SET_FILES.iter().find(|f| f.name == name)
}
