//! The ROR FHIR R4 profiles as typed serde structs: only the elements the tables use. Unknown
//! elements and extensions are ignored (real servers send more than any profile says); a known
//! element of the wrong type is an error that names its path.
//!
//! Strings borrow from the file's text (`Text`): a resource is flattened while its file is in
//! memory, and most of its strings are read once into a row, so owning each one cost an
//! allocation and a free for nothing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, Visitor};
use serde::Deserialize;

/// A JSON string of a resource: borrowed from the file's text, or owned when it had escapes
/// (its text is then not the string's).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The string as the file's text holds it, when it had no escapes.
    pub fn borrowed(&self) -> Option<&'a str> {
        match self.0 {
            Cow::Borrowed(text) => Some(text),
            Cow::Owned(_) => None,
        }
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Self {
        Text(Cow::Borrowed(text))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_string(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    /// As `String`'s visitor says it, so that messages about a wrong type are unchanged.
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(text)))
    }
}

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
pub struct Meta<'a> {
    #[serde(borrow)]
    pub last_updated: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub tag: Vec<Coding<'a>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Coding<'a> {
    #[serde(borrow)]
    pub system: Option<Text<'a>>,
    #[serde(borrow)]
    pub code: Option<Text<'a>>,
    #[serde(borrow)]
    pub display: Option<Text<'a>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct CodeableConcept<'a> {
    #[serde(borrow, default)]
    pub coding: Vec<Coding<'a>>,
    #[serde(borrow)]
    pub text: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier<'a> {
    #[serde(borrow)]
    pub system: Option<Text<'a>>,
    #[serde(borrow)]
    pub value: Option<Text<'a>>,
    #[serde(borrow, rename = "type")]
    pub kind: Option<CodeableConcept<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Reference<'a> {
    #[serde(borrow)]
    pub reference: Option<Text<'a>>,
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
pub struct Period<'a> {
    #[serde(borrow)]
    pub start: Option<Text<'a>>,
    #[serde(borrow)]
    pub end: Option<Text<'a>>,
}

/// An extension with the value types the ROR profiles use; nested extensions for complex ones.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension<'a> {
    #[serde(borrow)]
    pub url: Text<'a>,
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub value_string: Option<Text<'a>>,
    pub value_boolean: Option<bool>,
    pub value_integer: Option<i64>,
    pub value_decimal: Option<f64>,
    #[serde(borrow)]
    pub value_date_time: Option<Text<'a>>,
    #[serde(borrow)]
    pub value_codeable_concept: Option<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub value_period: Option<Period<'a>>,
    pub value_range: Option<Range>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address<'a> {
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow, default)]
    pub line: Vec<Text<'a>>,
    #[serde(borrow)]
    pub city: Option<Text<'a>>,
    #[serde(borrow)]
    pub postal_code: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactPoint<'a> {
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub system: Option<Text<'a>>,
    #[serde(borrow)]
    pub value: Option<Text<'a>>,
}

/// Organization.contact (EG contacts): purpose, confidentiality extension, telecoms.
#[derive(Debug, Default, Deserialize)]
pub struct OrganizationContact<'a> {
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub purpose: Option<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    pub telecom: Vec<ContactPoint<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HumanName<'a> {
    #[serde(borrow)]
    pub family: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub given: Vec<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Position {
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailableTime<'a> {
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow, default)]
    pub days_of_week: Vec<Text<'a>>,
    #[serde(borrow)]
    pub available_start_time: Option<Text<'a>>,
    #[serde(borrow)]
    pub available_end_time: Option<Text<'a>>,
}

/// Organization: entité juridique, entité géographique or organisation interne.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization<'a> {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub meta: Meta<'a>,
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow, default)]
    pub identifier: Vec<Identifier<'a>>,
    #[serde(borrow, rename = "type", default)]
    pub kind: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub alias: Vec<Text<'a>>,
    #[serde(borrow)]
    pub part_of: Option<Reference<'a>>,
    #[serde(borrow, default)]
    pub address: Vec<Address<'a>>,
    #[serde(borrow, default)]
    pub contact: Vec<OrganizationContact<'a>>,
}

/// Location: lieu de réalisation, with capacities and equipment as extensions.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location<'a> {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub meta: Meta<'a>,
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow, default)]
    pub identifier: Vec<Identifier<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, rename = "type", default)]
    pub kind: Vec<CodeableConcept<'a>>,
    #[serde(borrow)]
    pub address: Option<Address<'a>>,
    pub position: Option<Position>,
    #[serde(borrow)]
    pub managing_organization: Option<Reference<'a>>,
}

/// HealthcareService: offre opérationnelle.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthcareService<'a> {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub meta: Meta<'a>,
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow, default)]
    pub identifier: Vec<Identifier<'a>>,
    #[serde(borrow)]
    pub provided_by: Option<Reference<'a>>,
    #[serde(borrow, default)]
    pub category: Vec<CodeableConcept<'a>>,
    #[serde(borrow, rename = "type", default)]
    pub kind: Vec<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    pub specialty: Vec<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    pub location: Vec<Reference<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub characteristic: Vec<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    pub available_time: Vec<AvailableTime<'a>>,
}

/// Practitioner: the professional's identity.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Practitioner<'a> {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub meta: Meta<'a>,
    #[serde(borrow, default)]
    pub identifier: Vec<Identifier<'a>>,
    #[serde(borrow, default)]
    pub name: Vec<HumanName<'a>>,
}

/// PractitionerRole: situation opérationnelle of a professional in an offer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerRole<'a> {
    #[serde(default)]
    pub resource_type: ResourceTypeMember,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow, default)]
    pub meta: Meta<'a>,
    #[serde(borrow, default)]
    pub extension: Vec<Extension<'a>>,
    #[serde(borrow)]
    pub practitioner: Option<Reference<'a>>,
    #[serde(borrow, default)]
    pub code: Vec<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    pub specialty: Vec<CodeableConcept<'a>>,
    #[serde(borrow, default)]
    pub healthcare_service: Vec<Reference<'a>>,
}
