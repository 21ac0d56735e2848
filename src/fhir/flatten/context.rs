//! The resource being flattened, so every error can name its file, resource and field.

use chrono::{DateTime, NaiveDate, Utc};

use crate::fhir::codes::{parse_date, parse_instant, parse_time};
use crate::fhir::FhirError;

/// The resource is named by its parts, and the name ("entry[3] HealthcareService/1234564") is
/// only made when an error needs it: making it for every resource cost a few percent of the parse.
pub(super) struct Context<'a> {
    pub file: &'a str,
    /// Where the resource is in its file: "entry[3]".
    pub position: &'a str,
    pub resource_type: &'a str,
    pub id: &'a str,
}

/// A field's name for an error message: a literal, or a closure that formats one with its index,
/// so that the name is only made when an error needs it (never, on good data).
pub trait FieldName {
    fn name(self) -> String;
}

impl FieldName for &str {
    fn name(self) -> String {
        self.to_owned()
    }
}

impl<F: FnOnce() -> String> FieldName for F {
    fn name(self) -> String {
        self()
    }
}

impl Context<'_> {
    pub fn field_error(&self, field: impl FieldName, message: impl Into<String>) -> FhirError {
        let resource = format!("{} {}/{}", self.position, self.resource_type, self.id);
        FhirError::Field { file: self.file.to_owned(), resource, field: field.name(), message: message.into() }
    }

    pub fn instant(&self, field: impl FieldName, text: &str) -> Result<DateTime<Utc>, FhirError> {
        parse_instant(text).map_err(|m| self.field_error(field, m))
    }

    pub fn optional_instant(&self, field: impl FieldName, text: Option<&str>) -> Result<Option<DateTime<Utc>>, FhirError> {
        text.map(|t| self.instant(field, t)).transpose()
    }

    pub fn optional_date(&self, field: impl FieldName, text: Option<&str>) -> Result<Option<NaiveDate>, FhirError> {
        text.map(|t| parse_date(t).map_err(|m| self.field_error(field, m))).transpose()
    }

    pub fn optional_time(&self, field: impl FieldName, text: Option<&str>) -> Result<Option<String>, FhirError> {
        text.map(|t| parse_time(t).map_err(|m| self.field_error(field, m))).transpose()
    }

    /// A WGS84 coordinate must be a finite number within its range.
    pub fn coordinate(&self, field: impl FieldName, value: Option<f64>, limit: f64) -> Result<Option<f64>, FhirError> {
        match value {
            Some(v) if !v.is_finite() || v.abs() > limit => Err(self.field_error(field, format!("{v} is not a WGS84 coordinate (|value| ≤ {limit})"))),
            other => Ok(other),
        }
    }
}
