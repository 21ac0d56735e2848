//! Applying one audience's policy to the full tables: withhold tables, filter rows (in dependency
//! order, so a `references` filter sees the filtered parent), drop columns, then prove that every
//! foreign key still resolves inside what the audience gets.

use std::collections::{BTreeMap, HashSet};

use polars::prelude::*;
use serde::Serialize;

use super::policy::{ColumnRule, Policy, RowFilter, TablePolicy};
use super::DiscloseError;
use crate::table::{catalog, ColumnType, Table, Tables};

/// What one filter removed.
#[derive(Debug, Clone, Serialize)]
pub struct FilterOutcome {
    pub column: String,
    pub rule: String,
    pub reason: Option<String>,
    pub rows_removed: usize,
}

/// What the policy did to one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableDisclosure {
    pub table: String,
    pub published: bool,
    pub reason: Option<String>,
    pub rows_in: usize,
    pub rows_out: usize,
    pub filters: Vec<FilterOutcome>,
    pub dropped_columns: Vec<String>,
}

/// One audience's tables, and the account of how they were made.
#[derive(Debug)]
pub struct Disclosed {
    pub audience: String,
    pub policy_sha256: String,
    pub tables: Tables,
    pub report: Vec<TableDisclosure>,
}

/// Apply `policy` to `tables` (the full, flattened tables).
pub fn apply(policy: &Policy, tables: &Tables) -> Result<Disclosed, DiscloseError> {
    let apply_error = |table: &str, message: String| DiscloseError::Apply {
        origin: policy.origin.clone(),
        audience: policy.audience.clone(),
        table: table.to_owned(),
        message,
    };
    let order = filter_order(policy).map_err(|t| apply_error(&t, "its row filters reference each other in a cycle".into()))?;
    let mut out = Tables::new();
    let mut report = Vec::new();
    for spec in catalog::ALL {
        let table_policy = &policy.tables[spec.name];
        if !table_policy.publish {
            let rows_in = tables.get(spec.name).map_or(0, Table::rows);
            report.push(TableDisclosure {
                table: spec.name.into(),
                published: false,
                reason: table_policy.reason.clone(),
                rows_in,
                rows_out: 0,
                filters: Vec::new(),
                dropped_columns: spec.columns.iter().map(|c| c.name.to_owned()).collect(),
            });
        }
    }
    for name in order {
        let table_policy = &policy.tables[name.as_str()];
        let table = tables.get(name.as_str()).ok_or_else(|| apply_error(&name, "the flattened snapshot has no such table".into()))?;
        let (disclosed, account) = disclose_table(table, table_policy, &out).map_err(|m| apply_error(&name, m))?;
        out.insert(table.spec.name, disclosed);
        report.push(account);
    }
    check_foreign_keys(&out).map_err(|(t, m)| apply_error(&t, m))?;
    report.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(Disclosed { audience: policy.audience.clone(), policy_sha256: policy.sha256.clone(), tables: out, report })
}

/// Published tables, each after the tables its `references` filters read. Err(table) on a cycle.
fn filter_order(policy: &Policy) -> Result<Vec<String>, String> {
    let mut pending: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, table) in policy.tables.iter().filter(|(_, t)| t.publish) {
        pending.insert(name, table.rows.iter().filter_map(|f| f.references.as_deref()).filter(|r| r != name).collect());
    }
    let mut order: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<&str> = pending.iter().filter(|(_, deps)| deps.iter().all(|d| order.iter().any(|o| o == d))).map(|(n, _)| *n).collect();
        if ready.is_empty() {
            return Err(pending.keys().next().map(|s| s.to_string()).unwrap_or_default());
        }
        for name in ready {
            pending.remove(name);
            order.push(name.to_owned());
        }
    }
    Ok(order)
}

fn disclose_table(table: &Table, policy: &TablePolicy, done: &Tables) -> Result<(Table, TableDisclosure), String> {
    let rows_in = table.rows();
    let mut keep = vec![true; rows_in];
    let mut filters = Vec::new();
    for filter in &policy.rows {
        let before = keep.iter().filter(|k| **k).count();
        let accepted = evaluate(table, filter, done)?;
        for (k, a) in keep.iter_mut().zip(accepted) {
            *k &= a;
        }
        let after = keep.iter().filter(|k| **k).count();
        filters.push(FilterOutcome { column: filter.column.clone(), rule: describe(filter), reason: filter.reason.clone(), rows_removed: before - after });
    }
    let mask = BooleanChunked::from_slice(PlSmallStr::from_static("keep"), &keep);
    let frame = table.frame.filter(&mask).map_err(|e| e.to_string())?;
    let kept: Vec<&str> = table.spec.columns.iter().filter(|c| policy.columns.get(c.name) == Some(&ColumnRule::Keep)).map(|c| c.name).collect();
    let dropped = table.spec.columns.iter().filter(|c| !kept.contains(&c.name)).map(|c| c.name.to_owned()).collect();
    let frame = frame.select(kept).map_err(|e| e.to_string())?;
    let rows_out = frame.height();
    Ok((
        Table { spec: table.spec, frame },
        TableDisclosure { table: table.spec.name.into(), published: true, reason: policy.reason.clone(), rows_in, rows_out, filters, dropped_columns: dropped },
    ))
}

/// A readable form of a filter: `unite_sensible = false`, `offre_id ∈ offres`.
pub fn describe(filter: &RowFilter) -> String {
    if let Some(v) = &filter.equals {
        format!("{} = {v}", filter.column)
    } else if let Some(values) = &filter.one_of {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        format!("{} ∈ {{{}}}", filter.column, values.join(", "))
    } else {
        format!("{} ∈ {} (or empty)", filter.column, filter.references.as_deref().unwrap_or("?"))
    }
}

/// Which rows a filter accepts.
fn evaluate(table: &Table, filter: &RowFilter, done: &Tables) -> Result<Vec<bool>, String> {
    let column = table.frame.column(&filter.column).map_err(|e| e.to_string())?;
    if let Some(target) = &filter.references {
        let parent = done.get(target.as_str()).ok_or_else(|| format!("references {target}, which is not built yet"))?;
        let keys: HashSet<String> = parent.text_values(parent.spec.primary_key).map_err(|e| e.to_string())?.into_iter().flatten().collect();
        let values = column.str().map_err(|e| e.to_string())?;
        return Ok(values.iter().map(|v| v.is_none_or(|v| keys.contains(v))).collect());
    }
    let wanted: Vec<&toml::Value> = filter.equals.iter().chain(filter.one_of.iter().flatten()).collect();
    let kind = table.spec.column(&filter.column).map(|c| c.kind);
    let accepted = match kind {
        Some(ColumnType::Boolean) => {
            let wanted: Vec<bool> = wanted.iter().filter_map(|v| v.as_bool()).collect();
            column.bool().map_err(|e| e.to_string())?.iter().map(|v| v.is_some_and(|v| wanted.contains(&v))).collect()
        }
        Some(ColumnType::Integer) => {
            let wanted: Vec<i64> = wanted.iter().filter_map(|v| v.as_integer()).collect();
            column.i64().map_err(|e| e.to_string())?.iter().map(|v| v.is_some_and(|v| wanted.contains(&v))).collect()
        }
        _ => {
            let wanted: Vec<&str> = wanted.iter().filter_map(|v| v.as_str()).collect();
            column.str().map_err(|e| e.to_string())?.iter().map(|v| v.is_some_and(|v| wanted.contains(&v))).collect()
        }
    };
    Ok(accepted)
}

/// Every kept foreign key of every published table must point to a row the audience also gets;
/// otherwise the policy lacks a `references` filter.
fn check_foreign_keys(tables: &Tables) -> Result<(), (String, String)> {
    for table in tables.values() {
        for fk in table.spec.foreign_keys {
            let Some(target) = tables.get(fk.table) else { continue };
            if table.frame.column(fk.column).is_err() {
                continue;
            }
            let keys: HashSet<String> = target.text_values(target.spec.primary_key).map_err(|e| (table.spec.name.to_owned(), e.to_string()))?.into_iter().flatten().collect();
            let values = table.text_values(fk.column).map_err(|e| (table.spec.name.to_owned(), e.to_string()))?;
            if let Some(missing) = values.into_iter().flatten().find(|v| !keys.contains(v)) {
                return Err((
                    table.spec.name.to_owned(),
                    format!(
                        "column {} refers to {} {missing:?}, which this audience does not get; add the row filter {{ column = \"{}\", references = \"{}\" }}",
                        fk.column, fk.table, fk.column, fk.table
                    ),
                ));
            }
        }
    }
    Ok(())
}
