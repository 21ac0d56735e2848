//! The ROR FHIR R4 profiles (typed serde structs, `model`), the conventions to read them (`codes`)
//! and their flattening into the catalogue's tables (`flatten`).

pub mod codes;
pub mod flatten;
pub mod identifiers;
pub mod nomenclature;
pub mod model;

pub use flatten::{flatten_snapshot, flatten_snapshot_to, Flattened};

use crate::source::SourceError;
use crate::table::TableError;

/// Errors of the FHIR stage. Every data error names the file, the resource and the field.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{file}: {resource}: field {field}: {message}")]
    Field { file: String, resource: String, field: String, message: String },
    #[error("{file}: {resource}: duplicate id: {resource} already appears in {first_file} ({first_position})")]
    DuplicateId { file: String, resource: String, first_file: String, first_position: String },
    #[error("{file}: {resource}: field {field}: dangling reference to {target}, which is not in the snapshot")]
    DanglingReference { file: String, resource: String, field: String, target: String },
    #[error(transparent)]
    Table(#[from] TableError),
}
