//! The disclosure policy of one audience, as the data-protection officer writes it (TOML): for every
//! table of the catalogue whether the audience gets it, which rows (filters), and for every column
//! what happens to it. Deny by default: a table or a column the policy does not classify stops the
//! run with a message naming it.

use std::collections::BTreeMap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::DiscloseError;
use crate::table::{catalog, ColumnType, TableSpec};

/// What happens to one column for one audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnRule {
    /// Published as is.
    Keep,
    /// Not published.
    Drop,
}

/// One row filter: a row is published only if every filter of its table accepts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowFilter {
    pub column: String,
    /// Keep rows whose value equals this one (null never equals anything: fail closed).
    pub equals: Option<toml::Value>,
    /// Keep rows whose value is one of these.
    pub one_of: Option<Vec<toml::Value>>,
    /// Keep rows whose value is null or the primary key of a row this audience gets in that table,
    /// so that nothing published refers to something withheld.
    pub references: Option<String>,
    /// Why, in words the DPO can check (shown in `policy show` and the disclosure report).
    pub reason: Option<String>,
}

/// The policy of one table for one audience.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablePolicy {
    pub publish: bool,
    pub reason: Option<String>,
    #[serde(default)]
    pub rows: Vec<RowFilter>,
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    audience: String,
    description: Option<String>,
    tables: BTreeMap<String, TablePolicy>,
}

/// A checked policy: every table and column of the catalogue classified, every filter valid.
#[derive(Debug, Clone)]
pub struct Policy {
    pub audience: String,
    pub description: Option<String>,
    pub tables: BTreeMap<String, TablePolicy>,
    /// sha256 of the policy file's bytes, recorded in every manifest.
    pub sha256: String,
    /// Where it was read from, for messages ("datasets/policy/public.toml").
    pub origin: String,
}

/// The public policy shipped with the job: ROR Profil 0.
pub const PUBLIC_POLICY: &str = include_str!("../../datasets/policy/public.toml");

impl Policy {
    /// Parse and check a policy file's text against the catalogue.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, DiscloseError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| DiscloseError::Syntax { origin: origin.to_owned(), message: e.to_string() })?;
        let policy = Policy {
            audience: file.audience,
            description: file.description,
            tables: file.tables,
            sha256: format!("{:x}", Sha256::digest(text.as_bytes())),
            origin: origin.to_owned(),
        };
        policy.check()?;
        Ok(policy)
    }

    /// The table policy, for tables the audience gets.
    pub fn published(&self, table: &str) -> Option<&TablePolicy> {
        self.tables.get(table).filter(|t| t.publish)
    }

    fn error(&self, message: String) -> DiscloseError {
        DiscloseError::Policy { origin: self.origin.clone(), audience: self.audience.clone(), message }
    }

    fn check(&self) -> Result<(), DiscloseError> {
        for name in self.tables.keys() {
            if catalog::table(name).is_none() {
                let known: Vec<_> = catalog::ALL.iter().map(|t| t.name).collect();
                return Err(self.error(format!("table {name} is not in the catalogue (tables: {})", known.join(", "))));
            }
        }
        for spec in catalog::ALL {
            let Some(table) = self.tables.get(spec.name) else {
                return Err(self.error(format!(
                    "table {} is not classified: add [tables.{}] with publish = true or false (deny by default)",
                    spec.name, spec.name
                )));
            };
            if table.publish {
                self.check_table(spec, table)?;
            }
        }
        Ok(())
    }

    fn check_table(&self, spec: &TableSpec, table: &TablePolicy) -> Result<(), DiscloseError> {
        let name = spec.name;
        for column in spec.columns {
            if !table.columns.contains_key(column.name) {
                return Err(self.error(format!(
                    "column {name}.{} is not classified: add it under [tables.{name}.columns] as \"keep\" or \"drop\" (deny by default)",
                    column.name
                )));
            }
        }
        for column in table.columns.keys() {
            if spec.column(column).is_none() {
                return Err(self.error(format!("column {name}.{column} does not exist in the catalogue")));
            }
        }
        if table.columns.get(spec.primary_key) != Some(&ColumnRule::Keep) {
            return Err(self.error(format!("column {name}.{} is the primary key of a published table: it must be kept", spec.primary_key)));
        }
        for filter in &table.rows {
            self.check_filter(spec, filter)?;
        }
        Ok(())
    }

    fn check_filter(&self, spec: &TableSpec, filter: &RowFilter) -> Result<(), DiscloseError> {
        let name = spec.name;
        let Some(column) = spec.column(&filter.column) else {
            return Err(self.error(format!("row filter of {name}: column {} does not exist", filter.column)));
        };
        let kinds = [filter.equals.is_some(), filter.one_of.is_some(), filter.references.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(self.error(format!("row filter of {name} on {}: give exactly one of equals, one_of, references", filter.column)));
        }
        let values = filter.equals.iter().chain(filter.one_of.iter().flatten());
        for value in values {
            let fits = matches!(
                (column.kind, value),
                (ColumnType::String | ColumnType::Time, toml::Value::String(_)) | (ColumnType::Boolean, toml::Value::Boolean(_)) | (ColumnType::Integer, toml::Value::Integer(_))
            );
            if !fits {
                return Err(self.error(format!(
                    "row filter of {name} on {}: value {value} does not fit a column of type {}",
                    filter.column,
                    column.kind.table_schema_type()
                )));
            }
        }
        if let Some(target) = &filter.references {
            if self.published(target).is_none() {
                return Err(self.error(format!("row filter of {name} on {}: references table {target}, which this audience does not get", filter.column)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_public_policy_is_valid() {
        let p = Policy::parse(PUBLIC_POLICY, "public.toml").unwrap();
        assert_eq!(p.audience, "public");
        assert!(p.published("capacites").is_none());
        assert!(p.published("offres").is_some());
    }

    #[test]
    fn unclassified_column_is_named() {
        let text = PUBLIC_POLICY.replacen("unite_sensible = \"keep\"", "", 1);
        let e = Policy::parse(&text, "public.toml").unwrap_err().to_string();
        assert!(e.contains("column offres.unite_sensible is not classified"), "{e}");
        assert!(e.contains("audience public"), "{e}");
    }

    #[test]
    fn unknown_names_are_errors() {
        let text = format!("{PUBLIC_POLICY}\n[tables.nope]\npublish = false\n");
        assert!(Policy::parse(&text, "p").unwrap_err().to_string().contains("table nope is not in the catalogue"));
        let text = PUBLIC_POLICY.replacen("unite_sensible = \"keep\"", "unite_sensible = \"keep\"\nunite_sensibel = \"drop\"", 1);
        assert!(Policy::parse(&text, "p").unwrap_err().to_string().contains("offres.unite_sensibel does not exist"));
        let text = PUBLIC_POLICY.replacen("unite_sensible = \"keep\"", "unite_sensible = \"show\"", 1);
        assert!(Policy::parse(&text, "p").is_err());
    }
}
