//! History: what changed since the previous release (a changelog per table, keyed on the primary
//! key, with the columns that changed), the schema version of each table by the Frictionless rules,
//! and an SCD2 store per table (each row version with the releases it was valid in) from which any
//! past version can be rebuilt and proven identical to what was published.
//!
//! The stage is a pure function of the previous release's history and the new tables; the release
//! module reads the previous files and writes the new ones.

pub mod asof;
mod diff;
pub mod versioning;

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::table::{Table, Tables};
pub use versioning::SchemaChange;

/// Columns the SCD2 store adds to each table's own.
pub const VALID_FROM: &str = "version_debut";
pub const VALID_TO: &str = "version_fin";
pub const ROW_HASH: &str = "empreinte_ligne";
/// Columns of the changelog files besides the primary key.
pub const CHANGE: &str = "changement";
pub const CHANGED_COLUMNS: &str = "colonnes_modifiees";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history of table {table}: {message}")]
    Table { table: String, message: String },
    #[error("history: version {version} is not in the history (known: {known})")]
    UnknownVersion { version: String, known: String },
}

pub(crate) fn table_error(table: &str) -> impl Fn(PolarsError) -> HistoryError + '_ {
    move |e| HistoryError::Table { table: table.to_owned(), message: e.to_string() }
}

/// One table as published in one version: enough, with its schema, to rebuild it and prove it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableVersion {
    pub rows: u64,
    pub digest: String,
    pub schema_version: String,
}

/// A table's columns at one schema version. Stored once per schema version, not once per night,
/// so the index grows by a digest per table and night, nothing more.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaFields {
    pub primary_key: String,
    pub columns: Vec<String>,
    /// Table Schema type of each column.
    pub types: Vec<String>,
}

/// One version of the publication, in the history index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionEntry {
    pub version: String,
    pub tables: BTreeMap<String, TableVersion>,
}

/// history/index.json: every version the store can rebuild, oldest first, and every schema version
/// of every table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryIndex {
    /// table → schema version → fields.
    pub schemas: BTreeMap<String, BTreeMap<String, SchemaFields>>,
    pub versions: Vec<VersionEntry>,
}

impl HistoryIndex {
    /// The fields of a table as a version published it.
    pub fn fields(&self, table: &str, recorded: &TableVersion) -> Option<&SchemaFields> {
        self.schemas.get(table).and_then(|s| s.get(&recorded.schema_version))
    }

    pub fn find(&self, version: &str) -> Result<&VersionEntry, HistoryError> {
        self.versions.iter().find(|v| v.version == version).ok_or_else(|| HistoryError::UnknownVersion {
            version: version.to_owned(),
            known: self.versions.iter().map(|v| v.version.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// The newest version published at or before `version` (for "as of" a date between releases).
    pub fn at_or_before(&self, version: &str) -> Option<&VersionEntry> {
        self.versions.iter().rev().find(|v| v.version.as_str() <= version)
    }
}

/// The history as the previous release left it.
#[derive(Debug, Default)]
pub struct PreviousHistory {
    pub index: HistoryIndex,
    /// The SCD2 store of each table.
    pub stores: BTreeMap<String, DataFrame>,
}

/// What changed in one table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableChanges {
    pub table: String,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub schema_change: SchemaChange,
    pub previous_schema_version: Option<String>,
    pub schema_version: String,
}

/// The history stage's output for one release.
#[derive(Debug)]
pub struct HistoryOutput {
    pub index: HistoryIndex,
    pub stores: BTreeMap<String, DataFrame>,
    /// Per table: one row per added, removed or modified primary key.
    pub changes: BTreeMap<String, DataFrame>,
    pub summary: Vec<TableChanges>,
}

impl HistoryOutput {
    pub fn schema_version(&self, table: &str) -> Option<&str> {
        self.summary.iter().find(|s| s.table == table).map(|s| s.schema_version.as_str())
    }
}

/// Fields (name, Table Schema type) of a published table.
pub fn fields(table: &Table) -> Vec<(String, String)> {
    table.column_specs().iter().map(|c| (c.name.to_owned(), c.kind.table_schema_type().to_owned())).collect()
}

/// Advance the history by one release: `tables` become version `version`.
pub fn advance(previous: &PreviousHistory, tables: &Tables, version: &str) -> Result<HistoryOutput, HistoryError> {
    let last = previous.index.versions.last();
    let mut stores = BTreeMap::new();
    let mut changes = BTreeMap::new();
    let mut summary = Vec::new();
    let mut entry = VersionEntry { version: version.to_owned(), tables: BTreeMap::new() };
    let mut schemas = previous.index.schemas.clone();

    for table in tables.values() {
        let name = table.name();
        let before = last.and_then(|l| l.tables.get(name)).and_then(|b| previous.index.fields(name, b).map(|f| (b, f)));
        let outcome = diff::advance_table(table, previous.stores.get(name), before.map(|(_, f)| f.columns.as_slice()), version)?;
        let current_fields = fields(table);
        let data_changed = outcome.added + outcome.removed + outcome.modified > 0;
        let (change, previous_version) = match before {
            None => (SchemaChange::New, None),
            Some((b, f)) => {
                let previous_fields: Vec<(String, String)> = f.columns.iter().cloned().zip(f.types.iter().cloned()).collect();
                (versioning::classify(&previous_fields, &current_fields, data_changed), Some(b.schema_version.clone()))
            }
        };
        let schema_version = versioning::bump(previous_version.as_deref().unwrap_or("1.0.0"), change);
        let digest = outcome.digest.clone();
        schemas.entry(name.to_owned()).or_default().entry(schema_version.clone()).or_insert_with(|| SchemaFields {
            primary_key: table.spec.primary_key.to_owned(),
            columns: current_fields.iter().map(|f| f.0.clone()).collect(),
            types: current_fields.iter().map(|f| f.1.clone()).collect(),
        });
        entry.tables.insert(name.to_owned(), TableVersion { rows: table.rows() as u64, digest, schema_version: schema_version.clone() });
        summary.push(TableChanges {
            table: name.to_owned(),
            added: outcome.added,
            removed: outcome.removed,
            modified: outcome.modified,
            schema_change: change,
            previous_schema_version: previous_version,
            schema_version,
        });
        stores.insert(name.to_owned(), outcome.store);
        changes.insert(name.to_owned(), outcome.changes);
    }
    // A table this release no longer publishes keeps its history, every row closed.
    for (name, store) in &previous.stores {
        if !tables.contains_key(name.as_str()) {
            stores.insert(name.clone(), diff::close_all(name, store, version)?);
        }
    }
    let mut index = HistoryIndex { schemas, versions: previous.index.versions.clone() };
    index.versions.push(entry);
    Ok(HistoryOutput { index, stores, changes, summary })
}
