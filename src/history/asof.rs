//! Time travel: rebuild a table as a given version published it, from the SCD2 store, and compute
//! its content digest so it can be compared with that version's manifest.

use polars::prelude::*;

use super::{table_error, HistoryError, HistoryIndex, SchemaFields, TableVersion, VALID_FROM, VALID_TO};
use crate::table::digest::content_digest;

/// A table rebuilt as of a version.
#[derive(Debug)]
pub struct Rebuilt {
    pub version: String,
    pub frame: DataFrame,
    pub digest: String,
    /// What the history index recorded for that version.
    pub recorded: TableVersion,
    pub fields: SchemaFields,
}

/// The rows valid in `version`: valid_from ≤ version < valid_to (versions sort as text).
pub fn rows_valid_in(store: &DataFrame, version: &str) -> PolarsResult<BooleanChunked> {
    let from = store.column(VALID_FROM)?.str()?.clone();
    let to = store.column(VALID_TO)?.str()?.clone();
    let mask: Vec<bool> = from.iter().zip(to.iter()).map(|(f, t)| f.is_some_and(|f| f <= version) && t.is_none_or(|t| t > version)).collect();
    Ok(BooleanChunked::from_slice(PlSmallStr::from_static("valid"), &mask))
}

/// Rebuild `table` as published in `version` (exactly that version, from the index).
pub fn rebuild(index: &HistoryIndex, store: &DataFrame, table: &str, version: &str) -> Result<Rebuilt, HistoryError> {
    let err = table_error(table);
    let entry = index.find(version)?;
    let recorded = entry.tables.get(table).cloned().ok_or_else(|| HistoryError::Table { table: table.to_owned(), message: format!("was not published in version {version}") })?;
    let fields = index.fields(table, &recorded).cloned().ok_or_else(|| HistoryError::Table { table: table.to_owned(), message: format!("the index has no schema {} for it", recorded.schema_version) })?;
    let mask = rows_valid_in(store, version).map_err(&err)?;
    let frame = store
        .filter(&mask)
        .and_then(|f| f.select(fields.columns.iter().map(String::as_str)))
        .and_then(|f| f.sort([fields.primary_key.as_str()], SortMultipleOptions::default()))
        .map_err(&err)?;
    let digest = content_digest(&frame).map_err(&err)?;
    Ok(Rebuilt { version: version.to_owned(), frame, digest, recorded, fields })
}
