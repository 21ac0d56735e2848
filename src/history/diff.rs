//! One table's step of the history: compare the new rows with the rows the store holds as current
//! (valid_to empty), by primary key and row hash; close what was removed or modified, append what
//! was added or modified, and list the changes with the columns that changed.

use std::collections::HashMap;

use polars::prelude::*;

use super::{table_error, HistoryError, CHANGE, CHANGED_COLUMNS, ROW_HASH, VALID_FROM, VALID_TO};
use crate::table::digest::{canonical_columns, hex, row_hashes};
use crate::table::Table;

pub(super) struct TableOutcome {
    pub store: DataFrame,
    /// The table's content digest, from the row hashes computed here.
    pub digest: String,
    pub changes: DataFrame,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
}

pub(super) const ADDED: &str = "ajout";
pub(super) const REMOVED: &str = "suppression";
pub(super) const MODIFIED: &str = "modification";

fn text(frame: &DataFrame, column: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(frame.column(column)?.str()?.iter().map(|v| v.map(str::to_owned)).collect())
}

pub(super) fn advance_table(table: &Table, previous: Option<&DataFrame>, previous_columns: Option<&[String]>, version: &str) -> Result<TableOutcome, HistoryError> {
    let name = table.name();
    let err = table_error(name);
    let pk = table.spec.primary_key;
    let current = &table.frame;
    let hashes = row_hashes(current).map_err(&err)?;
    let keys = text(current, pk).map_err(&err)?;
    // Every cell as text, on both sides, is only needed to name the changed columns of modified
    // rows: built on the first one, so a night with no modification (most, and every first night)
    // never holds a national-scale table twice more in Strings.
    let mut values: Option<(Vec<(String, Vec<Option<String>>)>, Vec<(String, Vec<Option<String>>)>)> = None;

    // The previous version's rows: the store's open rows.
    let mut open: HashMap<String, usize> = HashMap::new();
    let (mut stored_hashes, mut closed) = (Vec::new(), Vec::new());
    if let Some(store) = previous {
        let valid_to = text(store, VALID_TO).map_err(&err)?;
        let stored_keys = text(store, pk).map_err(&err)?;
        for (i, (key, to)) in stored_keys.into_iter().zip(&valid_to).enumerate() {
            if let (Some(key), None) = (key, to) {
                open.insert(key, i);
            }
        }
        stored_hashes = text(store, ROW_HASH).map_err(&err)?;
        closed = vec![false; store.height()];
    }

    let mut appended: Vec<IdxSize> = Vec::new();
    let mut changes: Vec<(&'static str, String, Option<String>)> = Vec::new();
    let (mut added, mut modified) = (0u64, 0u64);
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key else { continue };
        match open.remove(key) {
            None => {
                added += 1;
                appended.push(i as IdxSize);
                changes.push((ADDED, key.clone(), None));
            }
            Some(j) if stored_hashes[j].as_deref() != Some(hex(&hashes[i]).as_str()) => {
                modified += 1;
                closed[j] = true;
                appended.push(i as IdxSize);
                let (current_values, previous_values) = match &mut values {
                    Some(v) => &*v,
                    None => values.insert((canonical_columns(current).map_err(&err)?, previous_values(previous, previous_columns).map_err(&err)?)),
                };
                let changed = changed_columns(current_values, i, previous_values, j);
                changes.push((MODIFIED, key.clone(), Some(changed.join(";"))));
            }
            Some(_) => {}
        }
    }
    let removed = open.len() as u64;
    for (key, j) in open {
        closed[j] = true;
        changes.push((REMOVED, key, None));
    }
    changes.sort_by(|a, b| a.1.cmp(&b.1));

    let new_rows = current.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), appended.clone())).map_err(&err)?;
    let row_hash_values: Vec<String> = appended.iter().map(|&i| hex(&hashes[i as usize])).collect();
    let mut new_rows = new_rows;
    let height = new_rows.height();
    new_rows
        .hstack_mut(&[
            Column::new(PlSmallStr::from_static(VALID_FROM), vec![version; height]),
            Column::full_null(PlSmallStr::from_static(VALID_TO), height, &DataType::String),
            Column::new(PlSmallStr::from_static(ROW_HASH), row_hash_values),
        ])
        .map_err(&err)?;

    let store = match previous {
        None => new_rows,
        Some(store) => {
            let valid_to: Vec<Option<String>> = text(store, VALID_TO)
                .map_err(&err)?
                .into_iter()
                .zip(&closed)
                .map(|(to, close)| if *close { Some(version.to_owned()) } else { to })
                .collect();
            let mut old = store.clone();
            old.replace(VALID_TO, Column::new(PlSmallStr::from_static(VALID_TO), valid_to)).map_err(&err)?;
            let (old, new_rows) = align(old, new_rows, pk).map_err(&err)?;
            old.vstack(&new_rows).map_err(&err)?
        }
    };
    let store = store.sort([pk, VALID_FROM], SortMultipleOptions::default()).map_err(&err)?;

    let change_frame = DataFrame::new_infer_height(vec![
        Column::new(PlSmallStr::from_static(CHANGE), changes.iter().map(|c| c.0).collect::<Vec<_>>()),
        Column::new(PlSmallStr::from(pk), changes.iter().map(|c| c.1.clone()).collect::<Vec<_>>()),
        Column::new(PlSmallStr::from_static(CHANGED_COLUMNS), changes.iter().map(|c| c.2.clone()).collect::<Vec<_>>()),
    ])
    .map_err(&err)?;
    let digest = crate::table::digest::digest_of(hashes);
    Ok(TableOutcome { store, digest, changes: change_frame, added, removed, modified })
}

/// The store's rows as text, in the columns the previous version published.
fn previous_values(store: Option<&DataFrame>, previous_columns: Option<&[String]>) -> PolarsResult<Vec<(String, Vec<Option<String>>)>> {
    let Some(store) = store else { return Ok(Vec::new()) };
    let columns: Vec<&str> = previous_columns.unwrap_or_default().iter().map(String::as_str).filter(|c| store.column(c).is_ok()).collect();
    canonical_columns(&store.select(columns)?)
}

/// Columns whose canonical value differs between a new row and a stored one. A column present on
/// one side only always counts: the row as published gained or lost it.
fn changed_columns(current: &[(String, Vec<Option<String>>)], i: usize, previous: &[(String, Vec<Option<String>>)], j: usize) -> Vec<String> {
    let mut names: Vec<&str> = current.iter().map(|(n, _)| n.as_str()).collect();
    names.extend(previous.iter().map(|(n, _)| n.as_str()).filter(|n| !current.iter().any(|(c, _)| c == n)));
    names
        .into_iter()
        .filter(|name| {
            let now = current.iter().find(|(n, _)| n == name).map(|(_, v)| v[i].clone());
            let before = previous.iter().find(|(n, _)| n == name).map(|(_, v)| v[j].clone());
            now != before
        })
        .map(str::to_owned)
        .collect()
}

/// Give both frames the same columns in the same order (a column missing on one side is null
/// there), so the store can keep rows written under different schemas.
fn align(old: DataFrame, new: DataFrame, pk: &str) -> PolarsResult<(DataFrame, DataFrame)> {
    let scd = [VALID_FROM, VALID_TO, ROW_HASH];
    let mut order: Vec<String> = vec![pk.to_owned()];
    for frame in [&new, &old] {
        for name in frame.get_column_names() {
            let name = name.to_string();
            if !order.contains(&name) && !scd.contains(&name.as_str()) {
                order.push(name);
            }
        }
    }
    order.extend(scd.iter().map(|s| s.to_string()));
    let complete = |mut frame: DataFrame, other: &DataFrame| -> PolarsResult<DataFrame> {
        for name in &order {
            if frame.column(name).is_err() {
                let dtype = other.column(name)?.dtype().clone();
                frame.with_column(Column::full_null(PlSmallStr::from(name.as_str()), frame.height(), &dtype))?;
            }
        }
        frame.select(order.iter().map(String::as_str))
    };
    let old_complete = complete(old, &new)?;
    let new_complete = complete(new, &old_complete)?;
    Ok((old_complete, new_complete))
}

/// Close every open row (the table is no longer published).
pub(super) fn close_all(name: &str, store: &DataFrame, version: &str) -> Result<DataFrame, HistoryError> {
    let err = table_error(name);
    let valid_to: Vec<Option<String>> = text(store, VALID_TO).map_err(&err)?.into_iter().map(|to| to.or_else(|| Some(version.to_owned()))).collect();
    let mut store = store.clone();
    store.replace(VALID_TO, Column::new(PlSmallStr::from_static(VALID_TO), valid_to)).map_err(&err)?;
    Ok(store)
}
