//! Disclosure control: what each audience may see. A `Policy` (one TOML file per audience) says for
//! every table and column what happens to it — keep, drop, pseudonymise (keyed per audience),
//! generalise, band — which rows go out, which columns are quasi-identifiers and which aggregate
//! tables are published; `apply_with_key` turns the full tables into that audience's tables, runs
//! the k-anonymity gate and the small-count rule, and accounts for everything it did in a report
//! (`report.rs`) stored in the release.

pub mod aggregate;
pub mod apply;
pub mod capacity;
pub mod correspondence;
pub mod operators;
pub mod policy;
pub mod pseudonym;
pub mod report;
pub mod risk;
pub mod show;

pub use apply::{apply, apply_into, apply_with_key, Disclosed, TableDisclosure};
pub use operators::ColumnRule;
pub use policy::{Policy, PUBLIC_POLICY};
pub use pseudonym::{IdentifierKind, Pseudonymiser};

use crate::table::TableError;
use risk::RiskOutcome;

/// Errors of the disclosure stage; each names the policy, the audience and the table or column,
/// never a value of the data (values may be identifiers the audience must not see).
#[derive(Debug, thiserror::Error)]
pub enum DiscloseError {
    #[error("policy {origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("policy {origin} (audience {audience}): {message}")]
    Policy { origin: String, audience: String, message: String },
    #[error("policy {origin} (audience {audience}): table {table}: {message}")]
    Apply { origin: String, audience: String, table: String, message: String },
    /// The k-anonymity gate failed closed: nothing of this audience is released.
    #[error(
        "policy {origin} (audience {audience}): table {table}: k-anonymity gate failed: {} of {} rows are in equivalence classes under k = {} on the quasi-identifiers ({}), more than the {} rows ({} %) the policy allows to suppress; class sizes under k: {}. Generalise or drop a quasi-identifier, or change [risk] in the policy",
        outcome.rows_suppressed, outcome.rows_in, outcome.k_required, outcome.quasi_identifiers.join(", "), outcome.suppression_limit, outcome.max_suppression_percent, outcome.describe_small_classes()
    )]
    Risk { origin: String, audience: String, table: String, outcome: Box<RiskOutcome> },
    #[error(transparent)]
    Table(#[from] TableError),
}

impl DiscloseError {
    /// True when the data failed a disclosure check (as opposed to a policy or an internal error).
    pub fn is_check_failure(&self) -> bool {
        matches!(self, DiscloseError::Risk { .. })
    }
}
