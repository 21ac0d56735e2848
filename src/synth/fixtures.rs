//! ANS's own example resources, embedded byte for byte (CRLF, narrative, no final newline) so every
//! snapshot contains resources written by ANS and not by this generator; and the ids of the resources
//! the generator adds so that every reference in those examples resolves.

/// An example file: its name in `ans-ig/` and its exact bytes.
pub struct Fixture {
    pub file_name: &'static str,
    pub resource_type: &'static str,
    pub text: &'static str,
}

pub const FIXTURES: [Fixture; 5] = [
    Fixture {
        file_name: "HealthcareService-1234564.json",
        resource_type: "HealthcareService",
        text: include_str!("../../datasets/fixtures/ror-ig/HealthcareService-1234564.json"),
    },
    Fixture {
        file_name: "HealthcareService-ror-healthcareservice-exemple-ville.json",
        resource_type: "HealthcareService",
        text: include_str!("../../datasets/fixtures/ror-ig/HealthcareService-ror-healthcareservice-exemple-ville.json"),
    },
    Fixture {
        file_name: "Location-ror-location-exemple.json",
        resource_type: "Location",
        text: include_str!("../../datasets/fixtures/ror-ig/Location-ror-location-exemple.json"),
    },
    Fixture {
        file_name: "Organization-ror-organization-exemple-ej.json",
        resource_type: "Organization",
        text: include_str!("../../datasets/fixtures/ror-ig/Organization-ror-organization-exemple-ej.json"),
    },
    Fixture {
        file_name: "PractitionerRole-ror-practitionerrole-exemple.json",
        resource_type: "PractitionerRole",
        text: include_str!("../../datasets/fixtures/ror-ig/PractitionerRole-ror-practitionerrole-exemple.json"),
    },
];

/// The EJ of ANS's examples, parent of the generated EG 999999.
pub const EXAMPLE_EJ_ID: &str = "ror-organization-exemple-ej";
/// EG providing HealthcareService-1234564.
pub const HOSPITAL_EG_ID: &str = "999999";
/// Place of HealthcareService-1234564.
pub const HOSPITAL_LOCATION_ID: &str = "888888";
/// Cabinet providing the ville example and offer 9597.
pub const CABINET_EG_ID: &str = "4947";
/// Place of the ville example and offer 9597.
pub const CABINET_LOCATION_ID: &str = "1215";
/// The nurse of ANS's PractitionerRole example.
pub const NURSE_PRACTITIONER_ID: &str = "2524";
/// The ville offer of ANS's PractitionerRole example.
pub const NURSE_OFFER_ID: &str = "9597";
/// Region holding these resources: ANS's example EJ is in Bois-Colombes (Île-de-France), and
/// Île-de-France is in every snapshot.
pub const REGION: &str = "11";
/// Commune of the example EJ, where its EG 999999 is placed.
pub const HOSPITAL_COG: &str = "92009";
/// Commune of the cabinet.
pub const CABINET_COG: &str = "75056";
