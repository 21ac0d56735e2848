//! Every check the gate runs, by name: the names operators write in `[gate.checks.<name>]` and
//! read in the report. One list, so the configuration, the report and the code cannot disagree.

use super::config::Level;

/// The families the report groups checks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Schema,
    Identifiers,
    Drift,
    Freshness,
    Parity,
    Limits,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Schema => "schema",
            Family::Identifiers => "identifiers",
            Family::Drift => "drift",
            Family::Freshness => "freshness",
            Family::Parity => "parity",
            Family::Limits => "limits",
        }
    }
}

/// One check.
#[derive(Debug)]
pub struct CheckDef {
    pub id: &'static str,
    pub family: Family,
    pub default_level: Level,
    /// True when findings count invalid values among checked ones, so a tolerance applies.
    pub counted: bool,
    pub description: &'static str,
}

const fn check(id: &'static str, family: Family, default_level: Level, counted: bool, description: &'static str) -> CheckDef {
    CheckDef { id, family, default_level, counted, description }
}

use Family::*;
use Level::*;

pub const ALL: &[CheckDef] = &[
    check("columns", Schema, Fail, false, "every column is in the catalogue, with the catalogue's type"),
    check("types", Schema, Fail, true, "every value has its column's type (Time as HH:MM:SS)"),
    check("required", Schema, Fail, true, "required columns have no empty value"),
    check("primary_key", Schema, Fail, true, "primary keys are present and unique"),
    check("foreign_keys", Schema, Fail, true, "foreign keys resolve to a row of the published target table"),
    // Warn by default: ANS's code systems grow faster than the value sets shipped with the job.
    check("codes", Schema, Warn, true, "coded columns hold codes of their ANS value set (datasets/nomenclatures)"),
    check("finess", Identifiers, Fail, true, "FINESS numbers: [0-9][0-9AB][0-9]{7} with a valid Luhn key"),
    check("siren", Identifiers, Fail, true, "SIREN: 9 digits with a valid Luhn key"),
    check("siret", Identifiers, Fail, true, "SIRET: 14 digits, Luhn-valid SIREN and SIRET (La Poste's SIRET: digit sum multiple of 5)"),
    check("id_nat_struct", Identifiers, Fail, true, "idNatStruct: 1 + FINESS, 2 + SIREN, 3 + SIRET or 4 + RPPS rang"),
    check("id_nat_ps", Identifiers, Fail, true, "idNat_PS: 8 + Luhn-valid RPPS (11 digits) or 0 + ADELI (9 digits), matching type_identifiant"),
    check("ror_id", Identifiers, Fail, true, "ROR offer and place identifiers: region code, slash, digits (RR/n…)"),
    check("cog", Identifiers, Fail, true, "commune COG codes: 5 characters, département 01–95, 2A, 2B or 97x/98x"),
    check("postal_code", Identifiers, Fail, true, "postal codes: 5 digits"),
    check("coordinates", Identifiers, Fail, true, "coordinates: both or neither, inside metropolitan France or an overseas territory"),
    check("schema_drift", Drift, Fail, false, "no column removed or retyped since the previous release (a warning when the policy or the generator changed)"),
    check("row_count", Drift, Fail, false, "row counts within the configured band of the previous release"),
    check("emptied", Drift, Fail, false, "no table emptied since the previous release"),
    check("null_share", Drift, Fail, false, "no column's share of nulls jumps by more than the configured points"),
    check("snapshot_age", Freshness, Fail, false, "the snapshot is not older than max_snapshot_age_hours (when set)"),
    check("update_lag", Freshness, Fail, false, "the newest meta.lastUpdated is within max_update_lag_hours of the snapshot instant"),
    check("parity", Parity, Fail, true, "each CSV and its Parquet file hold the same rows as the built table"),
    check("csv_dialect", Parity, Fail, false, "CSV is UTF-8 without BOM, with the declared header, comma, quotes and \\n"),
    check("column_names", Limits, Fail, false, "column names are at most 63 characters (data.gouv.fr)"),
    check("file_size", Limits, Warn, false, "files above large_file_bytes are flagged (data.gouv.fr analyses CSV up to 100 MB)"),
];

pub fn find(id: &str) -> Option<&'static CheckDef> {
    ALL.iter().find(|c| c.id == id)
}

/// The definition of a check the code names; panics on a name missing from `ALL` (a bug the
/// unit tests exercise, since every check runs on the sample).
pub fn get(id: &str) -> &'static CheckDef {
    find(id).unwrap_or_else(|| panic!("gate check {id} is not declared in checks::ALL"))
}
