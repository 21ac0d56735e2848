//! The ROR FHIR R4 profiles as typed serde structs: only the elements the tables use. Unknown
//! elements and extensions are ignored (real servers send more than any profile says); a known
//! element of the wrong type is an error that names its path.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// The `resourceType` member of a resource, declared (and not read: the reader knows the type)
/// so that a resource naming it twice fails the parse, as the reader's header check would.
#[derive(Debug, Default)]
pub struct ResourceTypeMember;

impl<'de> Deserialize<'de> for ResourceTypeMember {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| ResourceTypeMember)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub last_updated: Option<String>,
    #[serde(default)]
    pub tag: Vec<Coding>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Coding {
    pub system: Option<String>,
    pub code: Option<String>,
    pub display: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct CodeableConcept {
    #[serde(default)]
    pub coding: Vec<Coding>,
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier {
    pub system: Option<String>,
    pub value: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<CodeableConcept>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Reference {
    pub reference: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Quantity {
    pub value: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Range {
    pub low: Option<Quantity>,
    pub high: Option<Quantity>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Period {
    pub start: Option<String>,
    pub end: Option<String>,
}

/// An extension with the value types the ROR profiles use; nested extensions for complex ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    pub url: String,
    #[serde(default)]
    pub extension: Vec<Extension>,
    pub value_string: Option<String>,
    pub value_boolean: Option<bool>,
    pub value_integer: Option<i64>,
    pub value_decimal: Option<f64>,
    pub value_date_time: Option<String>,
    pub value_codeable_concept: Option<CodeableConcept>,
    pub value_period: Option<Period>,
    pub value_range: Option<Range>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default)]
    pub extension: Vec<Extension>,
    #[serde(default)]
    pub line: Vec<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactPoint {
    #[serde(default)]
    pub extension: Vec<Extension>,
    pub system: Option<String>,
    pub value: Option<String>,
}

/// Organization.contact (EG contacts): purpose, confidentiality extension, telecoms.
#[derive(Debug, Default, Deserialize)]
pub struct OrganizationContact {
    #[serde(default)]
    pub extension: Vec<Extension>,
    pub purpose: Option<CodeableConcept>,
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HumanName {
    pub family: Option<String>,
    #[serde(default)]
    pub given: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Position {
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableTime {
    #[serde(default)]
    pub extension: Vec<Extension>,
    #[serde(default)]
    pub days_of_week: Vec<String>,
    pub available_start_time: Option<String>,
    pub available_end_time: Option<String>,
}

/// Organization: entité juridique, entité géographique or organisation interne.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    pub id: String,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub extension: Vec<Extension>,
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    #[serde(rename = "type", default)]
    pub kind: Vec<CodeableConcept>,
    pub name: Option<String>,
    #[serde(default)]
    pub alias: Vec<String>,
    pub part_of: Option<Reference>,
    #[serde(default)]
    pub address: Vec<Address>,
    #[serde(default)]
    pub contact: Vec<OrganizationContact>,
}

/// Location: lieu de réalisation, with capacities and equipment as extensions.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    pub id: String,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub extension: Vec<Extension>,
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Vec<CodeableConcept>,
    pub address: Option<Address>,
    pub position: Option<Position>,
    pub managing_organization: Option<Reference>,
}

/// HealthcareService: offre opérationnelle.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthcareService {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    pub id: String,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub extension: Vec<Extension>,
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    pub provided_by: Option<Reference>,
    #[serde(default)]
    pub category: Vec<CodeableConcept>,
    #[serde(rename = "type", default)]
    pub kind: Vec<CodeableConcept>,
    #[serde(default)]
    pub specialty: Vec<CodeableConcept>,
    #[serde(default)]
    pub location: Vec<Reference>,
    pub name: Option<String>,
    #[serde(default)]
    pub characteristic: Vec<CodeableConcept>,
    #[serde(default)]
    pub available_time: Vec<AvailableTime>,
}

/// Practitioner: the professional's identity.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Practitioner {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    pub id: String,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub name: Vec<HumanName>,
}

/// PractitionerRole: situation opérationnelle of a professional in an offer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerRole {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    pub id: String,
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub extension: Vec<Extension>,
    pub practitioner: Option<Reference>,
    #[serde(default)]
    pub code: Vec<CodeableConcept>,
    #[serde(default)]
    pub specialty: Vec<CodeableConcept>,
    #[serde(default)]
    pub healthcare_service: Vec<Reference>,
}
