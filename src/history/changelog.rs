//! A table's changelog as `advance` hands it over to be written: made a slice of rows at a time as
//! it is written, from the night's changes in a few bytes each (set aside on disk past a few
//! thousand) and the table's key column, read
//! from the table a slice at a time, never whole. A night that modifies most rows of the largest table (a new update date everywhere) has
//! a changelog about as long as the table: three text columns of it held whole came to several
//! hundred megabytes at national scale, beside the store being written.

use polars::prelude::*;

use super::current::Current;
use super::diff::ADDED;
use super::walk::{Change, Kind, NO_COLUMNS};
use super::{CHANGE, CHANGED_COLUMNS};
use crate::table::digest::SpilledRecords;

pub enum Changelog<'a> {
    /// The changelog, whole (a table compared whole, in memory).
    Frame(DataFrame),
    /// Every row of the table added (a first night): its key column, in order and without nulls,
    /// read from the table a slice at a time, beside two constant columns.
    EveryRowAdded { table: Current<'a> },
    /// The walk's changes, in key order: a change names a row of `table` (added, modified), whose
    /// key is read from the table's key column a slice at a time (`Current::take_keys`), or one of
    /// `removed_keys`, and a modification one of `column_sets`.
    Walked { table: Current<'a>, changes: SpilledRecords<9>, removed_keys: Vec<String>, column_sets: Vec<String> },
}

impl Changelog<'_> {
    pub fn height(&self) -> usize {
        match self {
            Changelog::Frame(frame) => frame.height(),
            Changelog::EveryRowAdded { table } => table.height(),
            Changelog::Walked { changes, .. } => changes.len(),
        }
    }

    /// Rows `offset .. offset + rows` of the changelog (fewer past its end).
    pub fn slice(&self, offset: usize, rows: usize) -> PolarsResult<DataFrame> {
        let rows = rows.min(self.height().saturating_sub(offset));
        match self {
            Changelog::Frame(frame) => Ok(frame.slice(offset as i64, rows)),
            Changelog::EveryRowAdded { table } => DataFrame::new_infer_height(vec![
                StringChunked::full(PlSmallStr::from_static(CHANGE), ADDED, rows).into_column(),
                table.keys(offset, rows)?,
                StringChunked::full_null(PlSmallStr::from_static(CHANGED_COLUMNS), rows).into_column(),
            ]),
            Changelog::Walked { table, changes, removed_keys, column_sets } => {
                let changes: Vec<Change> = changes.read(offset, rows).map_err(|e| polars_err!(ComputeError: "{e}"))?.iter().map(Change::of_record).collect();
                let kinds: StringChunked = changes.iter().map(|c| Some(c.kind.name())).collect();
                // The table's rows these changes name, in increasing order (the changes are in key
                // order, and so is the table).
                let rows_named: Vec<IdxSize> = changes.iter().filter(|c| c.kind != Kind::Removed).map(|c| c.key as IdxSize).collect();
                let keys = table.take_keys(&rows_named)?;
                let mut keys = keys.iter();
                let change_keys: StringChunked = changes
                    .iter()
                    .map(|c| match c.kind {
                        Kind::Removed => Some(removed_keys[c.key as usize].as_str()),
                        Kind::Added | Kind::Modified => Some(keys.next().flatten().expect("the walk takes keys without nulls")),
                    })
                    .collect();
                let changed_columns: StringChunked = changes.iter().map(|c| (c.columns != NO_COLUMNS).then(|| column_sets[c.columns as usize].as_str())).collect();
                DataFrame::new_infer_height(vec![
                    kinds.with_name(PlSmallStr::from_static(CHANGE)).into_column(),
                    change_keys.with_name(PlSmallStr::from_static(table.primary_key())).into_column(),
                    changed_columns.with_name(PlSmallStr::from_static(CHANGED_COLUMNS)).into_column(),
                ])
            }
        }
    }

    /// The changelog's columns and types.
    pub fn schema(&self) -> PolarsResult<Schema> {
        Ok(self.slice(0, 0)?.schema().as_ref().clone())
    }

    /// The whole changelog in memory.
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        self.slice(0, self.height())
    }
}
