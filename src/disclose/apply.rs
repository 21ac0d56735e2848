//! Applying one audience's policy to the full tables, table by table in dependency order (so that a
//! `references` filter sees what the audience gets of the parent): filter rows on the original
//! values, apply the column rules (keep, pseudonymise, generalise, band; drop the rest), run the
//! k-anonymity gate on the published quasi-identifiers, then build the aggregate tables and prove
//! that every published foreign key still resolves inside what the audience gets.

use std::collections::{BTreeMap, HashMap, HashSet};

use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use super::aggregate::{aggregate_table, AggregateOutcome};
use super::operators::{derived_spec, transform, ColumnRule};
use super::policy::{Policy, RowFilter, TablePolicy};
use super::pseudonym::Pseudonymiser;
#[cfg(test)]
use super::risk::k_anonymise;
use super::risk::{Classes, RiskOutcome};
use super::DiscloseError;
use crate::table::keys::KeySet;
use crate::keys::AudienceKey;
use crate::release::manifest::KeyRecord;
use crate::table::spill::{TableSink, TableSource};
use crate::table::{catalog, ColumnType, Table, TableError, TableSpec, Tables};

/// What one filter removed.
#[derive(Debug, Clone, Serialize)]
pub struct FilterOutcome {
    pub column: String,
    pub rule: String,
    pub reason: Option<String>,
    pub rows_removed: usize,
}

/// The rule applied to one column, as the DPO reads it.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnOutcome {
    pub column: String,
    pub rule: String,
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
    /// Every column of the table with its rule (for an aggregate: its own columns, "computed").
    pub columns: Vec<ColumnOutcome>,
    /// The k-anonymity gate, for tables that declare quasi-identifiers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<RiskOutcome>,
    /// The small-count rule, for aggregate tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateOutcome>,
}

/// One audience's tables, and the account of how they were made. The tables are in memory
/// (`Tables`, the default) or set aside on disk (`SpilledTables`, what a night uses); the stages
/// after disclosure read them through `&Disclosed<dyn TableSource>`, one table at a time.
#[derive(Debug)]
pub struct Disclosed<T: ?Sized = Tables> {
    pub audience: String,
    pub policy_sha256: String,
    /// Where the policy was read from ("datasets/policy/drees.toml").
    pub policy_origin: String,
    pub risk: super::policy::RiskSettings,
    pub report: Vec<TableDisclosure>,
    /// The pseudonymisation key used (id, epoch, algorithm; never the key), if any.
    pub keys: Vec<KeyRecord>,
    /// Last, so that a `&Disclosed<Tables>` or `&Disclosed<SpilledTables>` is a `&Disclosed<dyn TableSource>`.
    pub tables: T,
}

/// Apply `policy` to `tables` (the full, flattened tables) for a policy that pseudonymises nothing.
pub fn apply(policy: &Policy, tables: &Tables) -> Result<Disclosed, DiscloseError> {
    apply_with_key(policy, tables, None)
}

/// Apply `policy` to the tables of `source` with the audience's pseudonymisation key, the disclosed
/// tables kept in memory (see `apply_into`).
pub fn apply_with_key(policy: &Policy, source: &dyn TableSource, key: Option<&AudienceKey>) -> Result<Disclosed, DiscloseError> {
    apply_into(policy, source, key, Tables::new())
}

/// Apply `policy` to the tables of `source` with the audience's pseudonymisation key (required when
/// the policy pseudonymises; it must be this audience's key, so that audiences cannot join their
/// pseudonyms), giving each disclosed table to `out` as soon as it is made. Each table of the
/// snapshot is loaded when its turn comes and dropped once disclosed; with `out` on disk
/// (`SpilledTables`), memory holds one table of the snapshot's and its disclosed version, not the
/// audience's tables.
pub fn apply_into<S: TableSink + TableSource>(policy: &Policy, source: &dyn TableSource, key: Option<&AudienceKey>, mut out: S) -> Result<Disclosed<S>, DiscloseError> {
    let apply_error = |table: &str, message: String| DiscloseError::Apply {
        origin: policy.origin.clone(),
        audience: policy.audience.clone(),
        table: table.to_owned(),
        message,
    };
    let key = match key {
        Some(k) if k.audience != policy.audience => {
            return Err(DiscloseError::Policy {
                origin: policy.origin.clone(),
                audience: policy.audience.clone(),
                message: format!("was given the pseudonymisation key of audience {}: each audience has its own key", k.audience),
            })
        }
        Some(k) if policy.pseudonymises() => Some(k),
        Some(_) => None,
        None if policy.pseudonymises() => {
            return Err(DiscloseError::Policy {
                origin: policy.origin.clone(),
                audience: policy.audience.clone(),
                message: "pseudonymises columns but no pseudonymisation key was loaded for this audience".into(),
            })
        }
        None => None,
    };
    let pseudonymiser = key.map(Pseudonymiser::new);
    let order = filter_order(policy).map_err(|t| apply_error(&t, "its row filters reference each other in a cycle".into()))?;
    let mut report = Vec::new();
    for spec in catalog::ALL {
        let table_policy = &policy.tables[spec.name];
        if !table_policy.publish {
            let rows_in = source.rows(spec.name).unwrap_or(0);
            report.push(TableDisclosure {
                table: spec.name.into(),
                published: false,
                reason: table_policy.reason.clone(),
                rows_in,
                rows_out: 0,
                filters: Vec::new(),
                dropped_columns: spec.columns.iter().map(|c| c.name.to_owned()).collect(),
                columns: spec.columns.iter().map(|c| ColumnOutcome { column: c.name.to_owned(), rule: "drop".into() }).collect(),
                risk: None,
                aggregate: None,
            });
        }
    }
    // The original primary keys each table kept: `references` filters compare original values,
    // whatever the parent's key became (a pseudonym, for instance).
    // Only tables some filter references keep that set: at national scale a set of every table's
    // keys costs seconds and gigabytes for nothing.
    let referenced: HashSet<&str> = policy.tables.values().filter(|t| t.publish).flat_map(|t| t.rows.iter().filter_map(|f| f.references.as_deref())).collect();
    let mut kept_keys: HashMap<String, KeySet> = HashMap::new();
    for name in order {
        let table_policy = &policy.tables[name.as_str()];
        let needs_keys = referenced.contains(name.as_str());
        // Only the columns the audience gets, its filters read, and the key when another
        // table's filter needs it: a withheld column is never read.
        let spec = catalog::table(&name).ok_or_else(|| apply_error(&name, "the flattened snapshot has no such table".into()))?;
        let needed: Vec<&str> = spec.columns.iter().map(|c| c.name).filter(|c| table_policy.rule(c).publishes() || table_policy.rows.iter().any(|f| f.column == *c) || (needs_keys && *c == spec.primary_key)).collect();
        let failure = |e| match e {
            TableFailure::Message(m) => apply_error(&name, m),
            TableFailure::Table(e) => DiscloseError::Table(e),
            TableFailure::Risk(outcome) => DiscloseError::Risk {
                origin: policy.origin.clone(),
                audience: policy.audience.clone(),
                table: name.clone(),
                outcome,
            },
        };
        let rows_in = source.rows(&name).ok_or_else(|| apply_error(&name, "the flattened snapshot has no such table".into()))?;
        // No table is held whole: its filters, its k-anonymity gate and each published column
        // read their own columns, and the disclosed table is written a slice at a time.
        let (account, keys) = disclose_into(policy, source, spec, rows_in, &needed, table_policy, &kept_keys, pseudonymiser.as_ref(), needs_keys, &mut out).map_err(failure)?;
        if let Some(keys) = keys {
            kept_keys.insert(name.clone(), keys);
        }
        tracing::info!(audience = %policy.audience, table = %name, rows_in = account.rows_in, rows_out = account.rows_out, "table disclosed");
        report.push(account);
    }
    for (name, aggregate) in &policy.aggregates {
        // Only the two columns it counts: the whole table (professionnels) was the stage's peak.
        let source = out.load_columns(aggregate.from.as_str(), &[aggregate.rows.as_str(), aggregate.columns.as_str()])?.ok_or_else(|| apply_error(name, format!("counts {}, which was not built", aggregate.from)))?;
        let min_count = aggregate.min_count.unwrap_or(policy.risk.min_count);
        let (table, outcome) = aggregate_table(name, &source, &aggregate.rows, &aggregate.columns, min_count, None).map_err(|m| apply_error(name, m))?;
        tracing::info!(audience = %policy.audience, table = %name, cells = outcome.cells, primary = outcome.primary_suppressed, secondary = outcome.secondary_suppressed, "small-count rule");
        report.push(TableDisclosure {
            table: name.clone(),
            published: true,
            reason: aggregate.reason.clone(),
            rows_in: source.rows(),
            rows_out: table.rows(),
            filters: Vec::new(),
            dropped_columns: Vec::new(),
            columns: table.column_names().into_iter().map(|c| ColumnOutcome { column: c, rule: "computed".into() }).collect(),
            risk: None,
            aggregate: Some(outcome),
        });
        drop(source);
        out.put(table)?;
    }
    check_foreign_keys(&out, &apply_error)?;
    report.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(Disclosed {
        audience: policy.audience.clone(),
        policy_sha256: policy.sha256.clone(),
        policy_origin: policy.origin.clone(),
        risk: policy.risk.clone(),
        report,
        keys: key.map(AudienceKey::record).into_iter().collect(),
        tables: out,
    })
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

enum TableFailure {
    Message(String),
    /// Reading the snapshot's table or writing the disclosed one failed (an output error).
    Table(crate::table::TableError),
    Risk(Box<RiskOutcome>),
}

impl From<crate::table::TableError> for TableFailure {
    fn from(e: crate::table::TableError) -> Self {
        TableFailure::Table(e)
    }
}

impl From<String> for TableFailure {
    fn from(m: String) -> Self {
        TableFailure::Message(m)
    }
}

/// The disclosed table, its account, and the original primary keys it kept (when asked for).
#[cfg(test)]
type Disclosure = (Table, TableDisclosure, Option<HashSet<String>>);

/// Disclose one table taken whole: filter its rows, transform each column, run the k-anonymity
/// gate on the transformed frame, sort it again when its key is pseudonymised. What the night
/// did before `disclose_into`, which never holds a table whole; kept as the tests' reference of
/// what that must give, since it reads as the policy does.
#[cfg(test)]
fn disclose_table(policy: &Policy, table: Table, table_policy: &TablePolicy, kept_keys: &HashMap<String, KeySet>, pseudonymiser: Option<&Pseudonymiser<'_>>, needs_keys: bool) -> Result<Disclosure, TableFailure> {
    let spec = table.spec;
    let rows_in = table.rows();
    let (keep, filters) = filter_rows(&table, table_policy, kept_keys)?;
    let mut original_keys: Vec<Option<String>> = if needs_keys { table.text_values(spec.primary_key).map_err(|e| e.to_string())?.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| v).collect() } else { Vec::new() };
    // Every row kept: the columns as they are (filtering would copy them all). Otherwise a column
    // at a time, two on two cores, each source column given up once filtered: the filtered table
    // is never made beside the whole source.
    let columns = table.frame.into_columns();
    let filtered: Vec<Column> = if keep.iter().all(|k| *k) {
        columns
    } else {
        let mask = mask(&keep);
        columns.into_par_iter().map(|c| c.filter(&mask)).collect::<PolarsResult<_>>().map_err(|e| e.to_string())?
    };
    let mut filtered: HashMap<String, Column> = filtered.into_iter().map(|c| (c.name().to_string(), c)).collect();

    let mut columns = Vec::new();
    let mut rules = Vec::new();
    let mut dropped = Vec::new();
    for c in spec.columns {
        let rule = table_policy.rule(c.name);
        if rule.publishes() {
            let source = filtered.remove(c.name).ok_or_else(|| format!("column {} not found", c.name))?;
            columns.push(transform(rule, &source, pseudonymiser).map_err(|m| format!("column {}: {m}", c.name))?);
            rules.push((c.name, rule));
        } else {
            dropped.push(c.name.to_owned());
        }
    }
    drop(filtered);
    let mut frame = DataFrame::new_infer_height(columns).map_err(|e| e.to_string())?;

    let mut risk = None;
    if !table_policy.quasi_identifiers.is_empty() {
        let settings = &policy.risk;
        match k_anonymise(&frame, &table_policy.quasi_identifiers, table_policy.individual.as_deref(), settings.k, settings.max_suppression_percent)? {
            Ok((published, outcome)) => {
                tracing::info!(audience = %policy.audience, table = spec.name, k = outcome.k_required, k_reached = ?outcome.k_reached, rows_suppressed = outcome.rows_suppressed, "k-anonymity gate");
                if outcome.rows_suppressed > 0 {
                    frame = frame.filter(&mask(&published)).map_err(|e| e.to_string())?;
                    if needs_keys {
                        original_keys = original_keys.into_iter().zip(&published).filter(|(_, k)| **k).map(|(v, _)| v).collect();
                    }
                }
                risk = Some(outcome);
            }
            Err(outcome) => return Err(TableFailure::Risk(outcome)),
        }
    }

    // A pseudonymised primary key no longer sorts like the original: re-sort, so every writer
    // downstream stays deterministic.
    let derived = derived_spec(spec, &rules);
    let disclosed = if table_policy.rule(spec.primary_key).is_keep() { Table { spec: derived, frame } } else { crate::table::sorted_table(derived, frame).map_err(|e| e.to_string())? };
    let rows_out = disclosed.rows();
    let account = published_account(spec, table_policy, (rows_in, rows_out), filters, dropped, risk);
    Ok((disclosed, account, needs_keys.then(|| original_keys.into_iter().flatten().collect())))
}

/// The account of a published table of the snapshot, however it was disclosed.
fn published_account(spec: &'static TableSpec, table_policy: &TablePolicy, (rows_in, rows_out): (usize, usize), filters: Vec<FilterOutcome>, dropped: Vec<String>, risk: Option<RiskOutcome>) -> TableDisclosure {
    TableDisclosure {
        table: spec.name.into(),
        published: true,
        reason: table_policy.reason.clone(),
        rows_in,
        rows_out,
        filters,
        dropped_columns: dropped,
        columns: spec.columns.iter().map(|c| ColumnOutcome { column: c.name.to_owned(), rule: table_policy.rule(c.name).describe() }).collect(),
        risk,
        aggregate: None,
    }
}

/// Which rows of a table its filters keep, and each filter's account. `table` holds at least the
/// columns the filters read.
fn filter_rows(table: &Table, table_policy: &TablePolicy, kept_keys: &HashMap<String, KeySet>) -> Result<(Vec<bool>, Vec<FilterOutcome>), TableFailure> {
    let mut keep = vec![true; table.rows()];
    let mut filters = Vec::new();
    for filter in &table_policy.rows {
        let before = keep.iter().filter(|k| **k).count();
        let accepted = evaluate(table, filter, kept_keys)?;
        for (k, a) in keep.iter_mut().zip(accepted) {
            *k &= a;
        }
        let after = keep.iter().filter(|k| **k).count();
        filters.push(FilterOutcome { column: filter.column.clone(), rule: describe(filter), reason: filter.reason.clone(), rows_removed: before - after });
    }
    Ok((keep, filters))
}

/// `filter_rows` of a table's columns `read` (the filters' columns, and the key), read a slice of
/// rows at a time, two slices on two cores: a filter decides row by row, so the rows kept, each
/// filter's count (the rows it removed of those the filters before it kept) and the kept keys
/// are those of the slices, in order. The columns read whole were most of the public's
/// disclosure at national scale (the opening hours' offer, millions of rows).
fn filter_by_slice(source: &dyn TableSource, spec: &'static TableSpec, rows_in: usize, read: &[&str], table_policy: &TablePolicy, kept_keys: &HashMap<String, KeySet>) -> Result<(Vec<bool>, Vec<FilterOutcome>), TableFailure> {
    // No rows: the filters still run once, on none (a filter that cannot run is an error).
    let ranges = if rows_in == 0 { vec![(0, 0)] } else { crate::table::spill::slices(rows_in) };
    let parts: Vec<Result<_, TableFailure>> = ranges
        .into_par_iter()
        .map(|(offset, rows)| {
            let slice = source.load_rows(spec.name, Some(read), offset, rows)?.ok_or_else(no_table)?;
            filter_rows(&slice, table_policy, kept_keys)
        })
        .collect();
    let mut keep = Vec::with_capacity(rows_in);
    let mut filters: Vec<FilterOutcome> = table_policy.rows.iter().map(|filter| FilterOutcome { column: filter.column.clone(), rule: describe(filter), reason: filter.reason.clone(), rows_removed: 0 }).collect();
    for part in parts {
        let (part_keep, part_filters) = part?;
        keep.extend(part_keep);
        for (filter, part) in filters.iter_mut().zip(part_filters) {
            filter.rows_removed += part.rows_removed;
        }
    }
    Ok((keep, filters))
}

/// Disclose one table straight into `out`, never whole: the filters read their columns (and the
/// key, when another table's filter needs the kept keys), the k-anonymity gate its own (the
/// quasi-identifiers and the individual column, as the audience gets them), then each published
/// column is made from the rows both kept and written a slice at a time. A table published in its
/// own order (its key kept) goes a slice of rows at a time (`write_by_slice`); one whose key is
/// pseudonymised (it no longer sorts like the original) a slice at a time too, sorted by its new
/// key in runs merged (`write_sorted`). At national scale `professionnels` held whole, with its
/// disclosed columns and its sorted copy, set the stage's peak. The same table, account and kept
/// keys as `disclose_table` of the whole.
#[allow(clippy::too_many_arguments)]
fn disclose_into<S: TableSink>(
    policy: &Policy,
    source: &dyn TableSource,
    spec: &'static TableSpec,
    rows_in: usize,
    needed: &[&str],
    table_policy: &TablePolicy,
    kept_keys: &HashMap<String, KeySet>,
    pseudonymiser: Option<&Pseudonymiser<'_>>,
    needs_keys: bool,
    out: &mut S,
) -> Result<(TableDisclosure, Option<KeySet>), TableFailure> {
    let read: Vec<&str> = table_policy.rows.iter().map(|f| f.column.as_str()).collect();
    let (mut keep, filters) = if read.is_empty() { (vec![true; rows_in], Vec::new()) } else { filter_by_slice(source, spec, rows_in, &read, table_policy, kept_keys)? };
    let mut rules = Vec::new();
    let mut dropped = Vec::new();
    for c in spec.columns {
        let rule = table_policy.rule(c.name);
        if rule.publishes() {
            rules.push((c.name, rule));
        } else {
            dropped.push(c.name.to_owned());
        }
    }
    let mut risk = None;
    if !table_policy.quasi_identifiers.is_empty() {
        let (published, outcome) = k_anonymity(policy, source, spec, table_policy, &keep, pseudonymiser)?;
        tracing::info!(audience = %policy.audience, table = spec.name, k = outcome.k_required, k_reached = ?outcome.k_reached, rows_suppressed = outcome.rows_suppressed, "k-anonymity gate");
        if outcome.rows_suppressed > 0 {
            // The gate's verdicts are over the rows the filters kept, in their order.
            let mut published = published.into_iter();
            for k in keep.iter_mut().filter(|k| **k) {
                *k = published.next().expect("a verdict for each row kept");
            }
        }
        risk = Some(outcome);
    }
    let rows_out = keep.iter().filter(|k| **k).count();
    let derived = derived_spec(spec, &rules);
    if table_policy.rule(spec.primary_key).is_keep() {
        write_by_slice(source, spec, derived, needed, &rules, &keep, (rows_in, rows_out), pseudonymiser, out)?;
    } else {
        write_sorted(source, spec, derived, &rules, &keep, pseudonymiser, out)?;
    }
    let account = published_account(spec, table_policy, (rows_in, rows_out), filters, dropped, risk);
    let kept = if needs_keys { Some(kept_key_set(source, spec, &keep)?) } else { None };
    Ok((account, kept))
}

/// The original keys of the rows published (`keep`), read a slice of the key column at a time
/// into a compact set (`KeySet`: about 10 bytes a numeric key): what another table's `references`
/// filter compares its values with. An owned String per key in a HashSet, gathered beside the
/// whole column's text, cost about a hundred bytes a key of the offers at national scale.
fn kept_key_set(source: &dyn TableSource, spec: &'static TableSpec, keep: &[bool]) -> Result<KeySet, TableFailure> {
    let mut keys = KeySet::builder(keep.iter().filter(|k| **k).count());
    for (offset, rows) in crate::table::spill::slices(keep.len()) {
        let kept = &keep[offset..offset + rows];
        if !kept.contains(&true) {
            continue;
        }
        let slice = source.load_rows(spec.name, Some(&[spec.primary_key]), offset, rows)?.ok_or_else(no_table)?;
        let column = crate::table::text_column(spec, &slice.frame, spec.primary_key)?;
        for key in column.iter().zip(kept).filter(|(_, k)| **k).filter_map(|(key, _)| key) {
            keys.push(key);
        }
    }
    Ok(keys.finish())
}

fn no_table() -> String {
    "the flattened snapshot has no such table".to_owned()
}

/// The k-anonymity gate of a table, on the columns it reads only (the quasi-identifiers and the
/// individual column) of the rows the filters kept (`keep`), made as the audience gets them and
/// counted a slice of rows at a time (`Classes`: two numbers a row): which of those rows are
/// published, and the gate's account. A gate that fails fails the table.
fn k_anonymity(policy: &Policy, source: &dyn TableSource, spec: &'static TableSpec, table_policy: &TablePolicy, keep: &[bool], pseudonymiser: Option<&Pseudonymiser<'_>>) -> Result<(Vec<bool>, RiskOutcome), TableFailure> {
    let read: Vec<&str> = spec.columns.iter().map(|c| c.name).filter(|c| table_policy.quasi_identifiers.iter().chain(&table_policy.individual).any(|q| q == c)).collect();
    let rules: Vec<(&str, &ColumnRule)> = read.iter().map(|c| (*c, table_policy.rule(c))).collect();
    let mut classes = Classes::new(&table_policy.quasi_identifiers, table_policy.individual.as_deref());
    // No rows: the gate still reads its columns once, from none (a column it lacks is an error).
    let ranges = if keep.is_empty() { vec![(0, 0)] } else { crate::table::spill::slices(keep.len()) };
    for (offset, rows) in ranges {
        let kept = &keep[offset..offset + rows];
        classes.add(&published_rows(source, spec, &rules, offset, kept, pseudonymiser)?)?;
    }
    let settings = &policy.risk;
    classes.gate(settings.k, settings.max_suppression_percent).map_err(TableFailure::Risk)
}

/// Write a table published in its own order a slice of rows at a time: each slice of the
/// disclosed table is made from the range of the snapshot's rows that holds its kept rows (`keep`).
/// Every row kept, the columns published as they are are the snapshot's, which the sink takes
/// without their values passing through here (on disk: linked files).
#[allow(clippy::too_many_arguments)]
fn write_by_slice<S: TableSink>(
    source: &dyn TableSource,
    spec: &'static TableSpec,
    derived: &'static TableSpec,
    needed: &[&str],
    rules: &[(&str, &ColumnRule)],
    keep: &[bool],
    (rows_in, rows_out): (usize, usize),
    pseudonymiser: Option<&Pseudonymiser<'_>>,
    out: &mut S,
) -> Result<(), TableFailure> {
    if rows_out < rows_in {
        // Where each slice of the disclosed table comes from.
        let kept = KeptPositions::new(keep);
        out.put_by_slice(derived, rows_out, |offset, rows| -> Result<DataFrame, TableFailure> {
            let (start, end) = if rows > 0 { (kept.position(offset), kept.position(offset + rows - 1) + 1) } else { (0, 0) };
            let slice = source.load_rows(spec.name, Some(needed), start, end - start)?.ok_or_else(no_table)?;
            let columns = filter_columns(slice.frame.into_columns(), &keep[start..end])?;
            let columns: HashMap<&str, Column> = columns.into_iter().map(|c| (needed.iter().copied().find(|n| *n == c.name().as_str()).expect("a column asked for"), c)).collect();
            Ok(publish(rules, |name| columns.get(name), pseudonymiser, rows)?)
        })
    } else {
        let same: Vec<&str> = rules.iter().filter(|(_, rule)| rule.is_keep()).map(|(name, _)| *name).collect();
        let made: Vec<(&str, &ColumnRule)> = rules.iter().filter(|(_, rule)| !rule.is_keep()).map(|(name, rule)| (*name, *rule)).collect();
        let made_names: Vec<&str> = made.iter().map(|(name, _)| *name).collect();
        out.put_by_slice_sharing(derived, rows_out, source, spec.name, &same, |offset, rows| -> Result<DataFrame, TableFailure> {
            if made.is_empty() {
                return Ok(DataFrame::empty_with_height(rows));
            }
            let slice = source.load_rows(spec.name, Some(&made_names), offset, rows)?.ok_or_else(no_table)?;
            Ok(publish(&made, |name| slice.frame.column(name).ok(), pseudonymiser, rows)?)
        })
    }
}

/// Where the rows `keep` keeps are among the snapshot's, without a position for each: the
/// position of every 4,096th kept row, the others found by walking `keep` from there. A position
/// per kept row (8 bytes) of the opening hours came to 180 MB at four times national scale.
struct KeptPositions<'k> {
    keep: &'k [bool],
    checkpoints: Vec<usize>,
}

impl<'k> KeptPositions<'k> {
    const EVERY: usize = 4096;

    fn new(keep: &'k [bool]) -> KeptPositions<'k> {
        // The position of every `EVERY`th row kept, from the first.
        let checkpoints = keep.iter().enumerate().filter(|(_, k)| **k).map(|(position, _)| position).step_by(Self::EVERY).collect();
        KeptPositions { keep, checkpoints }
    }

    /// The position of the `n`th row kept (from 0; there must be one).
    fn position(&self, n: usize) -> usize {
        let mut position = self.checkpoints[n / Self::EVERY];
        let mut left = n % Self::EVERY;
        loop {
            if self.keep[position] {
                if left == 0 {
                    return position;
                }
                left -= 1;
            }
            position += 1;
        }
    }
}

/// Write a table whose key is pseudonymised in the order of its new key, as `sorted_table` orders
/// it: each slice of the snapshot's rows made as the audience gets it (the rows `keep` keeps),
/// then sorted by the sink (on disk, in runs merged: `put_sorted_by_chunks`), never whole.
fn write_sorted<S: TableSink>(source: &dyn TableSource, spec: &'static TableSpec, derived: &'static TableSpec, rules: &[(&str, &ColumnRule)], keep: &[bool], pseudonymiser: Option<&Pseudonymiser<'_>>, out: &mut S) -> Result<(), TableFailure> {
    // The disclosed table's columns and types: its columns made of none of the snapshot's rows.
    let shape = source.shape(spec.name).ok_or_else(no_table)?;
    let shape = publish(rules, |name| shape.frame.column(name).ok(), pseudonymiser, 0)?;
    let mut slices = crate::table::spill::slices(keep.len()).into_iter();
    let mut next = || -> Result<Option<DataFrame>, TableFailure> {
        let Some((offset, rows)) = slices.next() else { return Ok(None) };
        let kept = &keep[offset..offset + rows];
        Ok(Some(published_rows(source, spec, rules, offset, kept, pseudonymiser)?))
    };
    out.put_sorted_by_chunks(derived, shape, &mut next).map_err(|e| match e {
        // A pseudonym seen twice fails the table's disclosure, as `sorted_table`'s refusal did.
        TableFailure::Table(e @ TableError::DuplicateKey { .. }) => TableFailure::Message(e.to_string()),
        e => e,
    })
}

/// The rows `offset..` of a table that `kept` keeps (one flag a row), only the columns of `rules`,
/// made as the audience gets them: a slice of what the k-anonymity gate counts and of a table
/// sorted by its pseudonymised key.
fn published_rows(source: &dyn TableSource, spec: &'static TableSpec, rules: &[(&str, &ColumnRule)], offset: usize, kept: &[bool], pseudonymiser: Option<&Pseudonymiser<'_>>) -> Result<DataFrame, TableFailure> {
    let read: Vec<&str> = rules.iter().map(|(name, _)| *name).collect();
    let slice = source.load_rows(spec.name, Some(&read), offset, kept.len())?.ok_or_else(no_table)?;
    let columns: HashMap<String, Column> = filter_columns(slice.frame.into_columns(), kept)?.into_iter().map(|c| (c.name().to_string(), c)).collect();
    Ok(publish(rules, |name| columns.get(name), pseudonymiser, kept.iter().filter(|k| **k).count())?)
}

/// Columns of the same rows, only those `keep` keeps (all of them as they are when it keeps every
/// row: filtering would copy them), two at a time on two cores.
fn filter_columns(columns: Vec<Column>, keep: &[bool]) -> Result<Vec<Column>, String> {
    if keep.iter().all(|k| *k) {
        return Ok(columns);
    }
    let mask = mask(keep);
    columns.into_par_iter().map(|c| c.filter(&mask)).collect::<PolarsResult<_>>().map_err(|e| e.to_string())
}

/// A slice of the disclosed table: each rule's column (`column(name)`, the source's rows of the
/// slice) made as the audience gets it, on every core.
fn publish<'c>(rules: &[(&str, &ColumnRule)], column: impl Fn(&str) -> Option<&'c Column> + Sync, pseudonymiser: Option<&Pseudonymiser<'_>>, rows: usize) -> Result<DataFrame, String> {
    let published = rules
        .par_iter()
        .map(|(name, rule)| {
            let column = column(name).ok_or_else(|| format!("column {name} not found"))?;
            transform(rule, column, pseudonymiser).map_err(|m| format!("column {name}: {m}"))
        })
        .collect::<Result<Vec<Column>, String>>()?;
    DataFrame::new(rows, published).map_err(|e| e.to_string())
}

fn mask(keep: &[bool]) -> BooleanChunked {
    BooleanChunked::from_slice(PlSmallStr::from_static("keep"), keep)
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
fn evaluate(table: &Table, filter: &RowFilter, kept_keys: &HashMap<String, KeySet>) -> Result<Vec<bool>, String> {
    let column = table.frame.column(&filter.column).map_err(|e| e.to_string())?;
    if let Some(target) = &filter.references {
        let keys = kept_keys.get(target.as_str()).ok_or_else(|| format!("references {target}, which is not built yet"))?;
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

/// Every published foreign key of every published table must point to a row the audience also
/// gets; otherwise the policy lacks a `references` filter. `refused` makes the error of one that
/// does not (the first in table and key order): its message names the column, never the value
/// (which may be a pseudonym or an identifier the audience must not see). Only the two columns of
/// each foreign key are loaded. Every key is counted before the first refusal is reported.
fn check_foreign_keys(tables: &dyn TableSource, refused: &dyn Fn(&str, String) -> DiscloseError) -> Result<(), DiscloseError> {
    // The keys that refer to each target table, in table and key order. Several tables refer to
    // the same target (the offers from the hours, contacts, roles and capacities; the places and
    // geographical entities from three to five tables): its key set is made once for all of them
    // and dropped before the next target's, where it was made again for each key.
    let mut by_target: BTreeMap<&'static str, Vec<(usize, &'static str, &'static crate::table::spec::ForeignKey)>> = BTreeMap::new();
    let mut order = 0;
    for name in tables.names() {
        let table = tables.shape(name).expect("a name the source gave");
        for fk in table.spec.foreign_keys {
            if tables.shape(fk.table).is_some() && table.frame.column(fk.column).is_ok() {
                by_target.entry(fk.table).or_default().push((order, name, fk));
                order += 1;
            }
        }
    }
    let mut refusals = BTreeMap::new();
    for (target, referring) in by_target {
        let target = tables.shape(target).expect("a table the source has");
        // The target's keys in a compact set, read a slice at a time (its key column whole and
        // a set borrowing from it were the stage's end's peak at national scale; an owned
        // string per key, hashed with SipHash, cost seconds per publication before that).
        let keys = crate::table::keys::of_column(tables, target.spec, target.spec.primary_key)?;
        for (order, name, fk) in referring {
            let missing = rows_missing_from(tables, name, fk.column, &keys)?;
            if missing > 0 {
                refusals.insert(order, (name, fk, missing));
            }
        }
    }
    match refusals.into_values().next() {
        None => Ok(()),
        Some((name, fk, missing)) => Err(refused(
            name,
            format!(
                "column {} refers in {missing} row(s) to {} rows this audience does not get; add the row filter {{ column = \"{}\", references = \"{}\" }}",
                fk.column, fk.table, fk.column, fk.table
            ),
        )),
    }
}

/// Rows of table `name` whose `column` has a value that is not in `keys`. The values a slice at a
/// time, two on two cores: a foreign key of the largest table (the opening hours' offer, millions
/// of rows) read whole was the stage's peak. A value repeating the one before has its answer: rows
/// referring to the same row come together (an offer's hours and contacts, in key order), as in
/// the gate's check.
fn rows_missing_from(tables: &dyn TableSource, name: &str, column: &str, keys: &KeySet) -> Result<usize, crate::table::TableError> {
    let rows = tables.rows(name).expect("a table the source has");
    crate::table::spill::slices(rows)
        .into_par_iter()
        .map(|(offset, length)| {
            let values = tables.load_rows(name, Some(&[column]), offset, length)?.expect("a table the source has");
            let values = crate::table::text_column(values.spec, &values.frame, column)?;
            let mut last: Option<(&str, bool)> = None;
            let mut missing = 0;
            for value in values.iter().flatten() {
                let found = match last {
                    Some((before, found)) if before == value => found,
                    _ => keys.contains(value),
                };
                last = Some((value, found));
                missing += usize::from(!found);
            }
            Ok(missing)
        })
        .sum::<Result<usize, _>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `KeySet` of `keys`.
    fn key_set<'k>(keys: impl IntoIterator<Item = &'k str>) -> KeySet {
        let mut set = KeySet::builder(0);
        for key in keys {
            set.push(key);
        }
        set.finish()
    }
    use crate::keys::Keyring;
    use crate::table::TableBuilder;

    /// Tiny full tables: every table empty except a few professionals and their offers.
    fn tables() -> Tables {
        let mut tables = crate::table::empty_tables();
        let mut offres = TableBuilder::new(&catalog::OFFRES);
        for (id, sensitive) in [("o1", false), ("o2", true)] {
            let mut r = offres.row();
            r.set("identifiant_ror", id).set("unite_sensible", Some(sensitive)).set("champ_activite_code", "05");
            offres.push(r);
        }
        tables.insert("offres", offres.finish().unwrap());
        let mut pros = TableBuilder::new(&catalog::PROFESSIONNELS);
        for i in 0..12 {
            let mut r = pros.row();
            r.set("identifiant_ror", format!("pr{i:02}"))
                .set("professionnel_id", format!("p{i:02}"))
                .set("id_nat_ps", format!("8100{i:08}"))
                .set("nom_exercice", format!("NOM{i}"))
                .set("profession_code", if i < 11 { "10" } else { "99" })
                .set("offre_id", if i % 2 == 0 { "o1" } else { "o2" })
                .set("offre_champ_activite_code", "05");
            pros.push(r);
        }
        tables.insert("professionnels", pros.finish().unwrap());
        tables
    }

    fn drees() -> Policy {
        let (text, origin) = super::super::policy::shipped("drees").unwrap();
        Policy::parse(text, origin).unwrap()
    }

    /// The kept rows' positions found from checkpoints are those of a list of every one: rows
    /// kept densely, sparsely, in long gaps, the first and last rows.
    #[test]
    fn kept_positions_are_found_from_checkpoints() {
        for pattern in [1usize, 2, 7, 4096, 10_007] {
            let keep: Vec<bool> = (0..50_000usize).map(|i| i % pattern == 0 || (20_000..20_100).contains(&i) || i == 49_999).collect();
            let every: Vec<usize> = keep.iter().enumerate().filter(|(_, k)| **k).map(|(i, _)| i).collect();
            let kept = KeptPositions::new(&keep);
            for (n, &position) in every.iter().enumerate() {
                assert_eq!(kept.position(n), position, "pattern {pattern}, row {n}");
            }
        }
    }

    #[test]
    fn rules_apply_and_the_key_is_recorded() {
        let ring = Keyring::from_master([9; 32], BTreeMap::new(), true);
        let key = ring.audience_key("drees");
        let mut policy = drees();
        policy.risk.max_suppression_percent = 10.0;
        let d = apply_with_key(&policy, &tables(), Some(&key)).unwrap();
        let pros = &d.tables["professionnels"];
        let names = pros.column_names();
        assert!(!names.contains(&"nom_exercice".to_owned()));
        let ids = pros.text_values("id_nat_ps").unwrap();
        assert!(ids.iter().flatten().all(|v| v.len() == 26 && !v.starts_with("8100")), "{ids:?}");
        assert_eq!(d.keys, vec![key.record()]);
        assert!(pros.spec.column("id_nat_ps").unwrap().description.contains("Pseudonymisé"));
        // Sensitive offers are DREES's to see.
        assert_eq!(d.tables["offres"].rows(), 2);
    }

    /// Every published foreign key resolves inside what the audience gets, or the disclosure is
    /// refused, naming the column, the rows and the filter to add.
    #[test]
    fn a_foreign_key_to_rows_the_audience_does_not_get_is_refused() {
        let refused = |table: &str, message: String| DiscloseError::Apply { origin: "o".into(), audience: "a".into(), table: table.to_owned(), message };
        // The rows of a table of several slices (200,000 rows make 3) are all counted.
        for (mut t, missing) in [(tables(), 6), (many_professionals(), 100_000)] {
            assert!(check_foreign_keys(&t, &refused).is_ok());
            let offres = &t["offres"];
            let only_o1 = Table { spec: offres.spec, frame: offres.frame.filter(&mask(&[true, false])).unwrap() };
            t.insert("offres", only_o1);
            // The same from memory and from disk.
            let work = tempfile::tempdir().unwrap();
            let spilled = crate::table::spill::SpilledTables::create_named(work.path(), "-fk").unwrap();
            for table in t.values() {
                spilled.put(table.clone()).unwrap();
            }
            for source in [&t as &dyn TableSource, &spilled] {
                let Err(DiscloseError::Apply { table, message, .. }) = check_foreign_keys(source, &refused) else { panic!("refused") };
                assert_eq!(table, "professionnels");
                assert!(message.starts_with(&format!("column offre_id refers in {missing} row(s) to offres rows this audience does not get")), "{message}");
            }
        }
    }

    /// Two tables refer to the same target, whose key set serves both: each is counted on its own
    /// (a value repeating the one before counts again), and the refusal is the first table's in
    /// table order, whichever keys fail.
    #[test]
    fn keys_referring_to_one_target_are_each_counted_and_the_first_refused_is_reported() {
        let refused = |table: &str, message: String| DiscloseError::Apply { origin: "o".into(), audience: "a".into(), table: table.to_owned(), message };
        let mut t = tables();
        let mut horaires = TableBuilder::new(&catalog::HORAIRES);
        for (rank, offer) in ["o1", "o2", "o2", "o1", "o2"].into_iter().enumerate() {
            let mut r = horaires.row();
            r.set("horaire_id", format!("{offer}-{rank}")).set("offre_id", offer).set("rang", Some(rank as i64));
            horaires.push(r);
        }
        t.insert("horaires", horaires.finish().unwrap());
        assert!(check_foreign_keys(&t, &refused).is_ok());
        let offres = &t["offres"];
        let only_o1 = Table { spec: offres.spec, frame: offres.frame.filter(&mask(&[true, false])).unwrap() };
        t.insert("offres", only_o1);
        let refusal = |t: &Tables| match check_foreign_keys(t, &refused) {
            Err(DiscloseError::Apply { table, message, .. }) => (table, message),
            other => panic!("refused, not {other:?}"),
        };
        // Both refer to o2: the hours come first.
        let (table, message) = refusal(&t);
        assert_eq!(table, "horaires");
        assert!(message.starts_with("column offre_id refers in 3 row(s) to offres rows"), "{message}");
        // Only the roles refer to o2: theirs is the refusal, counted in full. (The hours are in
        // key order: o1's two, then o2's three.)
        let hours = &t["horaires"];
        let only_o1 = Table { spec: hours.spec, frame: hours.frame.filter(&mask(&[true, true, false, false, false])).unwrap() };
        t.insert("horaires", only_o1);
        let (table, message) = refusal(&t);
        assert_eq!(table, "professionnels");
        assert!(message.starts_with("column offre_id refers in 6 row(s) to offres rows"), "{message}");
    }

    /// A table of several slices (200,000 rows make 3), disclosed a slice at a time into memory
    /// and onto disk, is the table `disclose_table` makes of it whole, with the same account:
    /// filters on two columns and a reference, rows removed in runs across slice boundaries, a
    /// pseudonymised column.
    #[test]
    fn a_table_disclosed_a_slice_at_a_time_is_the_table_disclosed_whole() {
        let ring = Keyring::from_master([9; 32], BTreeMap::new(), true);
        let mut full = tables();
        let mut contacts = TableBuilder::new(&catalog::CONTACTS);
        for i in 0..200_000 {
            let mut r = contacts.row();
            let level = |n: usize| if (i / n).is_multiple_of(3) { "2" } else { "1" };
            r.set("contact_id", format!("c{i:07}"))
                .set("entite_type", "offre")
                .set("offre_id", if i % 7 == 0 { "o2" } else { "o1" })
                .set("niveau_confidentialite_contact_code", level(50_000))
                .set("niveau_confidentialite_telecom_code", level(11))
                .set("valeur", (i % 13 != 0).then(|| format!("01 23 45 {i:06}")));
            contacts.push(r);
        }
        full.insert("contacts", contacts.finish().unwrap());
        for (policy, key) in [({ let (text, origin) = super::super::policy::shipped("public").unwrap(); Policy::parse(text, origin).unwrap() }, None), (drees(), Some(ring.audience_key("drees")))] {
            let mut policy = policy;
            policy.risk.max_suppression_percent = 10.0;
            let in_memory = apply_with_key(&policy, &full, key.as_ref()).unwrap();
            let work = tempfile::tempdir().unwrap();
            let spilled = crate::table::spill::SpilledTables::create_named(work.path(), "-slices").unwrap();
            let on_disk = apply_into(&policy, &full, key.as_ref(), spilled).unwrap();
            // From the snapshot's folder too: the columns kept as they are are then linked.
            let snapshot = crate::table::spill::SpilledTables::create_named(work.path(), "-snapshot").unwrap();
            for name in full.names() {
                snapshot.put(full.load(name).unwrap().unwrap()).unwrap();
            }
            let linked = apply_into(&policy, &snapshot, key.as_ref(), crate::table::spill::SpilledTables::create_named(work.path(), "-linked").unwrap()).unwrap();
            // The whole path, from the same offres kept.
            let table_policy = &policy.tables["contacts"];
            let kept_offres = key_set(in_memory.tables["offres"].text_values("identifiant_ror").unwrap().iter().flatten().map(String::as_str));
            let kept_keys = HashMap::from([("offres".to_owned(), kept_offres)]);
            let needed: Vec<&str> = catalog::CONTACTS.columns.iter().map(|c| c.name).filter(|c| table_policy.rule(c).publishes() || table_policy.rows.iter().any(|f| f.column == *c)).collect();
            let pseudonymiser = key.as_ref().map(Pseudonymiser::new);
            let Ok((whole, account, _)) = disclose_table(&policy, full.load_columns("contacts", &needed).unwrap().unwrap(), table_policy, &kept_keys, pseudonymiser.as_ref(), false) else { panic!("disclosed whole") };
            // The public gets some rows, DREES all of them.
            assert!(whole.rows() > 1_000 && (whole.rows() < 200_000) != table_policy.rows.is_empty(), "{}", whole.rows());
            let from_disk = on_disk.tables.load("contacts").unwrap().unwrap();
            let from_links = linked.tables.load("contacts").unwrap().unwrap();
            for sliced in [&in_memory.tables["contacts"], &from_disk, &from_links] {
                assert!(sliced.frame.equals_missing(&whole.frame), "{} rows against {}", sliced.rows(), whole.rows());
                assert_eq!(sliced.frame.schema(), whole.frame.schema());
                assert_eq!(sliced.spec.name, whole.spec.name);
                assert_eq!(sliced.spec.column("valeur").map(|c| c.description), whole.spec.column("valeur").map(|c| c.description));
            }
            for report in [&in_memory.report, &on_disk.report, &linked.report] {
                let sliced = report.iter().find(|t| t.table == "contacts").unwrap();
                assert_eq!(serde_json::to_string(sliced).unwrap(), serde_json::to_string(&account).unwrap());
            }
        }
    }

    /// Professionals' roles over several slices (200,000 rows make 3), two roles a person, for the
    /// k-anonymity gate: one row in 1,000 is a class of its own (a savoir-faire no one else has),
    /// every 37th has no savoir-faire (nulls form their own value), every 11th is outside the
    /// city's field (05), for a filter.
    fn many_professionals() -> Tables {
        use chrono::{TimeZone, Utc};
        let mut full = tables();
        let mut pros = TableBuilder::new(&catalog::PROFESSIONNELS);
        for i in 0..200_000usize {
            let mut r = pros.row();
            let savoir_faire = if i % 1_000 == 7 { Some(format!("SF{i}")) } else if i % 37 == 0 { None } else { Some(format!("S{}", i % 5)) };
            r.set("identifiant_ror", format!("pr{i:07}"))
                .set("professionnel_id", format!("p{:07}", i / 2))
                .set("id_nat_ps", format!("8100{:08}", i / 2))
                .set("type_identifiant", "RPPS")
                .set("nom_exercice", format!("NOM{i}"))
                .set("profession_code", ["10", "21", "40", "60"][i % 4])
                .set("savoir_faire_code", savoir_faire)
                .set("mode_exercice_code", if i % 3 == 0 { "L" } else { "S" })
                .set("offre_id", if i % 2 == 0 { "o1" } else { "o2" })
                .set("offre_champ_activite_code", if i % 11 == 0 { "06" } else { "05" })
                .set("date_mise_a_jour", Some(Utc.with_ymd_and_hms(2025, 1 + (i % 12) as u32, 1 + (i % 28) as u32, 12, 0, 0).unwrap()));
            pros.push(r);
        }
        full.insert("professionnels", pros.finish().unwrap());
        full
    }

    /// A table whose key is pseudonymised and that the k-anonymity gate reads (professionnels for
    /// the DREES and the HDH), of several slices, disclosed a column at a time into memory and onto
    /// disk (from memory and from a folder of the night) is the table `disclose_table` makes of it
    /// whole, in the order of its new key, with the same account and kept keys: with and without
    /// filters, the gate suppressing rows within the limit, and the same failure beyond it.
    #[test]
    fn a_table_disclosed_a_column_at_a_time_is_the_table_disclosed_whole() {
        let ring = Keyring::from_master([9; 32], BTreeMap::new(), true);
        let full = many_professionals();
        let work = tempfile::tempdir().unwrap();
        let snapshot = crate::table::spill::SpilledTables::create_named(work.path(), "-snapshot").unwrap();
        for name in full.names() {
            snapshot.put(full.load(name).unwrap().unwrap()).unwrap();
        }
        let spec = &catalog::PROFESSIONNELS;
        let filtered = |text: &str| text.replacen("individual = \"professionnel_id\"\n", "individual = \"professionnel_id\"\nrows = [{ column = \"offre_champ_activite_code\", equals = \"05\" }, { column = \"offre_id\", references = \"offres\" }]\n", 1);
        for (audience, filter) in [("drees", false), ("hdh", false), ("drees", true), ("hdh", true)] {
            let (text, origin) = super::super::policy::shipped(audience).unwrap();
            let text = if filter { filtered(text) } else { text.to_owned() };
            let mut policy = Policy::parse(&text, origin).unwrap();
            assert_eq!(policy.tables["professionnels"].rows.len(), if filter { 2 } else { 0 });
            let key = ring.audience_key(audience);
            let pseudonymiser = Pseudonymiser::new(&key);
            let table_policy = policy.tables["professionnels"].clone();
            let kept_keys = HashMap::from([("offres".to_owned(), key_set(["o1", "o2"]))]);
            let needed = |needs_keys: bool| -> Vec<&str> { spec.columns.iter().map(|c| c.name).filter(|c| table_policy.rule(c).publishes() || table_policy.rows.iter().any(|f| f.column == *c) || (needs_keys && *c == spec.primary_key)).collect() };
            let whole = |policy: &Policy, needs_keys: bool| disclose_table(policy, full.load_columns("professionnels", &needed(needs_keys)).unwrap().unwrap(), &table_policy, &kept_keys, Some(&pseudonymiser), needs_keys);

            // Within the limit: the one-person classes are withheld.
            policy.risk.max_suppression_percent = 1.0;
            let Ok((expected, account, _)) = whole(&policy, false) else { panic!("disclosed whole") };
            let risk = account.risk.as_ref().unwrap();
            assert!(risk.rows_suppressed > 150 && expected.rows() + risk.rows_suppressed == risk.rows_in, "{risk:?}");
            assert_eq!(expected.rows() < 190_000, filter);
            let keys = expected.text_values("identifiant_ror").unwrap();
            assert!(keys.windows(2).all(|w| w[0] < w[1]) && keys.iter().flatten().all(|k| k.len() == 26), "sorted by pseudonym");
            let in_memory = apply_with_key(&policy, &full, Some(&key)).unwrap();
            let on_disk = apply_into(&policy, &full, Some(&key), crate::table::spill::SpilledTables::create_named(work.path(), "-disk").unwrap()).unwrap();
            let linked = apply_into(&policy, &snapshot, Some(&key), crate::table::spill::SpilledTables::create_named(work.path(), "-linked").unwrap()).unwrap();
            let from_disk = on_disk.tables.load("professionnels").unwrap().unwrap();
            let from_links = linked.tables.load("professionnels").unwrap().unwrap();
            for by_columns in [&in_memory.tables["professionnels"], &from_disk, &from_links] {
                assert!(by_columns.frame.equals_missing(&expected.frame), "{audience}: {} rows against {}", by_columns.rows(), expected.rows());
                assert_eq!(by_columns.frame.schema(), expected.frame.schema());
                assert!(std::ptr::eq(by_columns.spec, expected.spec));
            }
            for report in [&in_memory.report, &on_disk.report, &linked.report] {
                let by_columns = report.iter().find(|t| t.table == "professionnels").unwrap();
                assert_eq!(serde_json::to_string(by_columns).unwrap(), serde_json::to_string(&account).unwrap());
            }
            // The original keys kept, for a filter of another table that would reference it.
            let Ok((expected, account, Some(kept))) = whole(&policy, true) else { panic!("disclosed whole") };
            assert_eq!(kept.len(), expected.rows());
            for source in [&full as &dyn TableSource, &snapshot] {
                let mut memory = Tables::new();
                let mut disk = crate::table::spill::SpilledTables::create_named(work.path(), "-keys").unwrap();
                let rows_in = source.rows("professionnels").unwrap();
                let (in_memory, memory_keys) = disclose_into(&policy, source, spec, rows_in, &needed(true), &table_policy, &kept_keys, Some(&pseudonymiser), true, &mut memory).unwrap_or_else(|_| panic!("disclosed"));
                let (on_disk, disk_keys) = disclose_into(&policy, source, spec, rows_in, &needed(true), &table_policy, &kept_keys, Some(&pseudonymiser), true, &mut disk).unwrap_or_else(|_| panic!("disclosed"));
                // The same keys: every key kept is in each set, and no key of a row withheld.
                let all = full.load_columns("professionnels", &["identifiant_ror"]).unwrap().unwrap().text_values("identifiant_ror").unwrap();
                for keys in [memory_keys.unwrap(), disk_keys.unwrap()] {
                    assert!(all.iter().flatten().all(|key| keys.contains(key) == kept.contains(key)));
                }
                assert_eq!(serde_json::to_string(&in_memory).unwrap(), serde_json::to_string(&account).unwrap());
                assert_eq!(serde_json::to_string(&on_disk).unwrap(), serde_json::to_string(&account).unwrap());
                assert!(memory["professionnels"].frame.equals_missing(&expected.frame));
                assert!(disk.load("professionnels").unwrap().unwrap().frame.equals_missing(&expected.frame));
            }

            // Beyond the limit: the same failure, nothing written.
            policy.risk.max_suppression_percent = 0.05;
            let Err(TableFailure::Risk(expected)) = whole(&policy, false) else { panic!("the gate fails") };
            assert!(!expected.passed && expected.rows_suppressed > expected.suppression_limit);
            let in_memory = apply_with_key(&policy, &full, Some(&key)).unwrap_err();
            let on_disk = apply_into(&policy, &full, Some(&key), crate::table::spill::SpilledTables::create_named(work.path(), "-disk").unwrap()).unwrap_err();
            let linked = apply_into(&policy, &snapshot, Some(&key), crate::table::spill::SpilledTables::create_named(work.path(), "-linked").unwrap()).unwrap_err();
            for error in [in_memory, on_disk, linked] {
                let DiscloseError::Risk { table, outcome, .. } = error else { panic!("a risk failure: {error}") };
                assert_eq!((table.as_str(), &outcome), ("professionnels", &expected));
            }
        }
    }

    #[test]
    fn a_pseudonymising_policy_needs_its_own_audience_key() {
        let e = apply(&drees(), &tables()).unwrap_err().to_string();
        assert!(e.contains("audience drees") && e.contains("no pseudonymisation key"), "{e}");
        let ring = Keyring::from_master([9; 32], BTreeMap::new(), true);
        let e = apply_with_key(&drees(), &tables(), Some(&ring.audience_key("hdh"))).unwrap_err().to_string();
        assert!(e.contains("key of audience hdh"), "{e}");
    }

    #[test]
    fn the_risk_gate_suppresses_within_the_limit_and_fails_beyond() {
        let ring = Keyring::from_master([9; 32], BTreeMap::new(), true);
        let key = ring.audience_key("drees");
        let mut policy = drees();
        policy.risk.k = 2;
        policy.risk.max_suppression_percent = 10.0;
        let d = apply_with_key(&policy, &tables(), Some(&key)).unwrap();
        let account = d.report.iter().find(|t| t.table == "professionnels").unwrap();
        let risk = account.risk.as_ref().unwrap();
        assert_eq!((risk.rows_suppressed, risk.k_before, risk.k_reached), (1, Some(1), Some(11)));
        assert_eq!(d.tables["professionnels"].rows(), 11);

        policy.risk.max_suppression_percent = 5.0;
        let e = apply_with_key(&policy, &tables(), Some(&key)).unwrap_err();
        assert!(matches!(e, DiscloseError::Risk { .. }));
        let m = e.to_string();
        assert!(m.contains("audience drees") && m.contains("table professionnels") && m.contains("1 class of 1"), "{m}");
        assert!(!m.contains("99"), "the message names sizes, not values: {m}");
    }
}
