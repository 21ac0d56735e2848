//! Disclosure control: what each audience may see. A `Policy` (one TOML file per audience) says for
//! every table and column what happens to it; `apply` turns the full tables into that audience's
//! tables and reports what it removed.

pub mod apply;
pub mod policy;

pub use apply::{apply, Disclosed, TableDisclosure};
pub use policy::{ColumnRule, Policy, PUBLIC_POLICY};

use crate::table::TableError;

/// Errors of the disclosure stage; each names the policy, the audience and the table or column.
#[derive(Debug, thiserror::Error)]
pub enum DiscloseError {
    #[error("policy {origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("policy {origin} (audience {audience}): {message}")]
    Policy { origin: String, audience: String, message: String },
    #[error("policy {origin} (audience {audience}): table {table}: {message}")]
    Apply { origin: String, audience: String, table: String, message: String },
    #[error(transparent)]
    Table(#[from] TableError),
}
