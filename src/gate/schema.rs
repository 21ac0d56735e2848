//! Schema checks: what the release's Table Schemas promise, checked on the data itself — columns and
//! their types, required values, primary keys present and unique, foreign keys that resolve inside
//! the release, and coded columns drawn from their ANS value set. The first four are exactly what
//! `frictionless validate` checks on the written files (the tests compare the two); the code lists
//! are what frictionless cannot know, since the Table Schemas carry no enumerations.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;

use crate::table::keys::KeySet;
use super::nomenclature::Nomenclatures;
use super::parity::Unparsed;
use super::{Context, GateError, Severity, Tally};
use crate::table::spill::{slices, TableSource};
use crate::table::spec::ForeignKey;
use crate::table::{ColumnType, Table};

/// The polars type a column of this catalogue type has in a built table and in its Parquet file.
pub fn dtype_of(kind: ColumnType) -> DataType {
    match kind {
        ColumnType::String | ColumnType::Time => DataType::String,
        ColumnType::Integer => DataType::Int64,
        ColumnType::Number => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Date => DataType::Date,
        ColumnType::DateTime => DataType::Datetime(TimeUnit::Milliseconds, None),
    }
}

/// A column's text values (None for null or empty: the Table Schemas declare "" as missing), or
/// None when the column is absent or not text.
pub fn text_column<'t>(table: &'t Table, column: &str) -> Option<impl Iterator<Item = Option<&'t str>>> {
    let values = table.frame.column(column).ok()?.str().ok()?;
    Some(values.iter().map(|v| v.filter(|s| !s.is_empty())))
}

/// Run the schema checks. `unparsed` names the cells of CSV files read back that were not of their
/// column's type: already reported, they are not also counted as missing.
///
/// A table at a time, each loaded when its turn comes and dropped after its checks: with tables
/// set aside on disk, one table is in memory, beside the sets of keys that foreign keys refer to
/// (made first and kept to the end). Findings come in
/// another order than when every table was at hand (codes table by table); the report sorts them.
/// (The gate proper runs the same checks a slice of rows at a time, `Checks::begin`; this is for a
/// release folder read back whole.)
pub fn check(ctx: &mut Context<'_>, tables: &dyn TableSource, unparsed: &Unparsed) -> Result<(), GateError> {
    let referenced = referenced(ctx, tables)?;
    let mut checks = Checks::new(ctx, &referenced);
    for name in tables.names() {
        let Some(table) = tables.load(name)? else { continue };
        let mut each = checks.begin(ctx, &table, unparsed.get(name));
        checks.slice(ctx, &mut each, &table);
        checks.finish(ctx, each, tables)?;
    }
    Ok(())
}

/// The sets of keys the foreign keys of `tables` refer to (`referenced_keys`), when that check runs.
pub fn referenced(ctx: &Context<'_>, tables: &dyn TableSource) -> Result<Targets, GateError> {
    if ctx.enabled("foreign_keys") {
        referenced_keys(tables, &tables.names())
    } else {
        Ok(Targets::new())
    }
}

/// The schema checks of one table after another, each table given a slice of rows at a time
/// (`begin`, then `slice` for each slice in order, then `finish`), for a caller that goes through
/// each table's rows for other checks too (the gate's parity check): each table is then read from
/// disk once for both, and never whole. The findings are those of the whole table (same counts,
/// same examples in the same order): each check tallies slice after slice, and reports at `finish`.
pub struct Checks<'r> {
    referenced: &'r Targets,
    nomenclatures: Option<Nomenclatures>,
}

/// One table's checks under way: what each check has counted so far, and what it needs of the
/// rows to come. Which checks run and which columns they read are settled from the table's
/// columns (`Checks::begin`), so a table without rows is judged as before.
pub struct TableChecks<'u> {
    /// The table without its rows.
    shape: Table,
    unparsed: Option<&'u BTreeMap<String, BTreeSet<usize>>>,
    /// Rows seen so far: the next slice's first row.
    rows: usize,
    /// Time columns (when `types` runs).
    times: Vec<(&'static str, Tally)>,
    /// Required columns, the key aside (when `required` runs).
    required: Vec<(&'static str, Tally)>,
    primary_key: PrimaryKey,
    /// The foreign keys whose targets are published (when `foreign_keys` runs).
    foreign_keys: Vec<(&'static ForeignKey, Tally)>,
    /// Coded columns (when `codes` runs).
    codes: Vec<(String, Tally)>,
}

/// The primary key's check across slices. The tables are sorted by their key, so a repeated key
/// follows its first occurrence: each key is compared with the last one seen, where a set of
/// every key would hold a whole column. A key out of order (which a built table never has) makes
/// the check run again at `finish` on the whole key column, with the set.
enum PrimaryKey {
    Off,
    /// The key column is missing or not text.
    Missing,
    Sorted { tally: Tally, last: Option<String> },
    Unsorted,
}

impl<'r> Checks<'r> {
    /// `referenced`: what `referenced` gave for the same tables.
    pub fn new(ctx: &mut Context<'_>, referenced: &'r Targets) -> Self {
        Checks { referenced, nomenclatures: value_sets(ctx) }
    }

    /// Start a table's checks; `shape` needs only its columns (rows are ignored). A check that is
    /// off counts nothing (`finish` records which checks ran, as the whole-table checks did).
    pub fn begin<'u>(&mut self, ctx: &Context<'_>, shape: &Table, unparsed: Option<&'u BTreeMap<String, BTreeSet<usize>>>) -> TableChecks<'u> {
        let shape = Table { spec: shape.spec, frame: shape.frame.clear() };
        let pk = shape.spec.primary_key;
        let on = |check: &str| ctx.enabled(check);
        let times = if on("types") { shape.column_specs().into_iter().filter(|c| c.kind == ColumnType::Time && text_column(&shape, c.name).is_some()).map(|c| (c.name, Tally::default())).collect() } else { Vec::new() };
        let required = if on("required") { shape.column_specs().into_iter().filter(|c| c.required && c.name != pk).map(|c| (c.name, Tally::default())).collect() } else { Vec::new() };
        let primary_key = match (on("primary_key"), text_column(&shape, pk).is_some()) {
            (false, _) => PrimaryKey::Off,
            (true, true) => PrimaryKey::Sorted { tally: Tally::default(), last: None },
            (true, false) => PrimaryKey::Missing,
        };
        let mut foreign_keys = Vec::new();
        // `referenced` is empty when the check is off, and has no set for a target that is not
        // published or whose key column is not text.
        for fk in shape.spec.foreign_keys {
            if !self.referenced.contains_key(&(fk.table, fk.reference)) || text_column(&shape, fk.column).is_none() {
                continue;
            }
            foreign_keys.push((fk, Tally::default()));
        }
        let codes = match &self.nomenclatures {
            Some(nomenclatures) => shape.column_names().into_iter().filter(|c| nomenclatures.for_column(shape.name(), c).is_some() && text_column(&shape, c).is_some()).map(|c| (c, Tally::default())).collect(),
            None => Vec::new(),
        };
        TableChecks { shape, unparsed, rows: 0, times, required, primary_key, foreign_keys, codes }
    }

    /// The table's next rows (the columns `begin` was given, in order).
    pub fn slice(&mut self, ctx: &mut Context<'_>, each: &mut TableChecks<'_>, rows: &Table) {
        let offset = each.rows;
        each.rows += rows.rows();
        for (column, tally) in &mut each.times {
            times(rows, column, tally);
        }
        if !each.required.is_empty() {
            let keys = rows.frame.column(rows.spec.primary_key).ok().and_then(|c| c.str().ok());
            for (column, tally) in &mut each.required {
                required(rows, column, keys, offset, each.unparsed, tally);
            }
        }
        if let PrimaryKey::Sorted { tally, last } = &mut each.primary_key {
            if !primary_key_sorted(rows, tally, last) {
                each.primary_key = PrimaryKey::Unsorted;
            }
        }
        for (fk, tally) in &mut each.foreign_keys {
            foreign_keys(rows, fk, &self.referenced[&(fk.table, fk.reference)], tally);
        }
        if let Some(nomenclatures) = &self.nomenclatures {
            for (column, tally) in &mut each.codes {
                codes(ctx, rows, column, nomenclatures, tally);
            }
        }
    }

    /// Report the table's findings, in the order the checks run: columns, times, required values,
    /// primary key, foreign keys, codes. `tables` gives the key column again when its keys came out
    /// of order.
    pub fn finish(&mut self, ctx: &mut Context<'_>, each: TableChecks<'_>, tables: &dyn TableSource) -> Result<(), GateError> {
        let TableChecks { shape, times, required, primary_key: pk, foreign_keys, codes, .. } = each;
        let name = shape.name();
        columns(ctx, &shape);
        if ctx.runs("types") {
            for (column, tally) in times {
                ctx.tally("types", name, column, tally, "are not a time of day HH:MM:SS");
            }
        }
        if ctx.runs("required") {
            for (column, tally) in required {
                ctx.tally("required", name, column, tally, "are empty in a required column (examples are the rows' keys)");
            }
        }
        if ctx.runs("primary_key") {
            let key = shape.spec.primary_key;
            match pk {
                PrimaryKey::Off => {}
                PrimaryKey::Missing => ctx.finding("primary_key", Severity::Failure, Some(name), Some(key), 1, format!("{name}: primary key column {key} is missing or not text"), Vec::new()),
                PrimaryKey::Sorted { tally, .. } => ctx.tally("primary_key", name, key, tally, "are an empty or repeated primary key"),
                PrimaryKey::Unsorted => {
                    if let Some(keys) = tables.load_columns(name, &[key])? {
                        primary_key(ctx, &keys);
                    }
                }
            }
        }
        if ctx.runs("foreign_keys") {
            for (fk, tally) in foreign_keys {
                ctx.tally("foreign_keys", name, fk.column, tally, &format!("refer to no row of {}.{}", fk.table, fk.reference));
            }
        }
        if let Some(nomenclatures) = &self.nomenclatures {
            for (column, tally) in codes {
                let Some((value_set, _)) = nomenclatures.for_column(name, &column) else { continue };
                ctx.tally("codes", name, &column, tally, &format!("are not codes of {value_set}"));
            }
        }
        Ok(())
    }
}

/// Every column is in the catalogue, with the catalogue's type.
fn columns(ctx: &mut Context<'_>, table: &Table) {
    if !ctx.runs("columns") {
        return;
    }
    let name = table.name();
    for column in table.frame.columns() {
        let column_name = column.name().as_str();
        match table.spec.column(column_name) {
            None => ctx.finding("columns", Severity::Failure, Some(name), Some(column_name), 1, format!("{name}.{column_name}: not a column of the catalogue"), Vec::new()),
            Some(spec) => {
                let expected = dtype_of(spec.kind);
                if column.dtype() != &expected {
                    ctx.finding(
                        "columns",
                        Severity::Failure,
                        Some(name),
                        Some(column_name),
                        1,
                        format!("{name}.{column_name}: stored as {}, the catalogue says {} ({expected})", column.dtype(), spec.kind.table_schema_type()),
                        Vec::new(),
                    );
                }
            }
        }
    }
}

/// Time columns hold `HH:MM:SS` (they are text in the files so every reader agrees on them).
fn times(rows: &Table, column: &str, tally: &mut Tally) {
    let Some(values) = text_column(rows, column) else { return };
    for value in values.flatten() {
        if is_time(value) {
            tally.valid();
        } else {
            tally.invalid(value);
        }
    }
}

pub fn is_time(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 8
        && b[2] == b':'
        && b[5] == b':'
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
        && (b[0] - b'0') * 10 + (b[1] - b'0') < 24
        && b[3] < b'6'
        && b[6] < b'6'
}

/// Required columns have a value in every row. `keys`: the rows' primary keys, for the examples;
/// `offset`: the rows' first row in the table (`unparsed` counts rows in the table).
fn required(rows: &Table, column: &str, keys: Option<&StringChunked>, offset: usize, unparsed: Option<&BTreeMap<String, BTreeSet<usize>>>, tally: &mut Tally) {
    let pk = rows.spec.primary_key;
    let Ok(values) = rows.frame.column(column) else { return };
    // One vectorised pass for the nulls; text also counts "" as missing (the schemas say so).
    let nulls = values.is_null();
    let text = values.str().ok();
    let not_typed = unparsed.and_then(|u| u.get(column));
    for (row, null) in nulls.iter().enumerate() {
        if not_typed.is_some_and(|rows| rows.contains(&(offset + row))) {
            continue;
        }
        let missing = null.unwrap_or(true) || text.is_some_and(|t| t.get(row) == Some(""));
        if missing {
            let key = keys.and_then(|k| k.get(row)).unwrap_or_default();
            tally.invalid(format!("{pk}={key}"));
        } else {
            tally.valid();
        }
    }
}

/// The primary key is present and unique, over a whole key column (in any order).
fn primary_key(ctx: &mut Context<'_>, table: &Table) {
    if !ctx.runs("primary_key") {
        return;
    }
    let name = table.name();
    let pk = table.spec.primary_key;
    let Some(values) = text_column(table, pk) else {
        ctx.finding("primary_key", Severity::Failure, Some(name), Some(pk), 1, format!("{name}: primary key column {pk} is missing or not text"), Vec::new());
        return;
    };
    let mut seen = PlHashSet::with_capacity(table.rows());
    let mut tally = Tally::default();
    for value in values {
        match value {
            None => tally.invalid("(empty)"),
            Some(v) if !seen.insert(v) => tally.invalid(v),
            Some(_) => tally.valid(),
        }
    }
    ctx.tally("primary_key", name, pk, tally, "are an empty or repeated primary key");
}

/// The primary key over the next rows of a table sorted by it, `last` the last key before them
/// (and after them, on return): what `primary_key` counts, as long as the keys come in order
/// (then a key seen before is the last one). False as soon as a key comes out of order.
fn primary_key_sorted(rows: &Table, tally: &mut Tally, last: &mut Option<String>) -> bool {
    let Some(values) = text_column(rows, rows.spec.primary_key) else { return false };
    let before = last.take();
    let mut previous = before.as_deref();
    for value in values {
        let Some(v) = value else {
            tally.invalid("(empty)");
            continue;
        };
        match previous.map(|p| v.cmp(p)) {
            Some(std::cmp::Ordering::Equal) => tally.invalid(v),
            Some(std::cmp::Ordering::Less) => return false,
            _ => {
                tally.valid();
                previous = Some(v);
            }
        }
    }
    *last = previous.map(str::to_owned);
    true
}

/// The values of the columns foreign keys refer to, by (table, column): several tables refer to
/// the same key, whose set is made once. Compact sets (`KeySet`, a word a numeric key) rather than
/// sets of strings borrowed from the whole key column: at scale 4 the offers' and places' keys
/// held that way were half the gate's peak memory.
pub type Targets = BTreeMap<(&'static str, &'static str), KeySet>;

/// The sets of the columns the tables' foreign keys refer to, of the tables the source has (the
/// only targets the Table Schemas declare), each made from its key column read a slice of rows at
/// a time (never whole); none for a key column that is missing or not text, whose foreign keys are
/// then not checked.
fn referenced_keys(tables: &dyn TableSource, names: &[&'static str]) -> Result<Targets, GateError> {
    let mut wanted: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for shape in names.iter().filter_map(|name| tables.shape(name)) {
        // A key the policy dropped from the referring table is not checked: its target is not needed.
        for fk in shape.spec.foreign_keys.iter().filter(|fk| names.contains(&fk.table) && shape.frame.get_column_index(fk.column).is_some()) {
            let columns = wanted.entry(fk.table).or_default();
            if !columns.contains(&fk.reference) {
                columns.push(fk.reference);
            }
        }
    }
    let mut referenced = Targets::new();
    for (name, columns) in wanted {
        let (Some(shape), Some(rows)) = (tables.shape(name), tables.rows(name)) else { continue };
        let columns: Vec<&'static str> = columns.into_iter().filter(|column| text_column(&shape, column).is_some()).collect();
        if columns.is_empty() {
            continue;
        }
        let mut sets: Vec<_> = columns.iter().map(|_| KeySet::builder(rows)).collect();
        for (offset, length) in slices(rows) {
            let Some(slice) = tables.load_rows(name, Some(columns.as_slice()), offset, length)? else { continue };
            for (column, set) in columns.iter().zip(&mut sets) {
                for key in text_column(&slice, column).into_iter().flatten().flatten() {
                    set.push(key);
                }
            }
        }
        for (column, set) in columns.into_iter().zip(sets) {
            referenced.insert((name, column), set.finish());
        }
    }
    Ok(referenced)
}

/// Foreign keys resolve to a row of their target table, when the target is published (the Table
/// Schemas declare only those). `keys`: the values of the column they refer to (`Targets`).
/// A value repeating the one before has its answer: rows referring to the same row come together
/// (the schedules and contacts of an offer, in key order), and a look-up is a cache miss or two.
fn foreign_keys(rows: &Table, fk: &ForeignKey, keys: &KeySet, tally: &mut Tally) {
    let Some(values) = text_column(rows, fk.column) else { return };
    let mut last: Option<(&str, bool)> = None;
    for value in values.flatten() {
        let found = match last {
            Some((before, found)) if before == value => found,
            _ => keys.contains(value),
        };
        last = Some((value, found));
        if found {
            tally.valid();
        } else {
            tally.invalid(value);
        }
    }
}

/// The embedded value sets, when the codes check runs; a finding when they cannot be read.
fn value_sets(ctx: &mut Context<'_>) -> Option<Nomenclatures> {
    if !ctx.runs("codes") {
        return None;
    }
    match Nomenclatures::load() {
        Ok(n) => Some(n),
        Err(e) => {
            ctx.finding("codes", Severity::Failure, None, None, 1, format!("the embedded value sets cannot be read: {e}"), Vec::new());
            None
        }
    }
}

/// Coded columns hold codes of their value set, apart from documented exceptions.
fn codes(ctx: &mut Context<'_>, rows: &Table, column: &str, nomenclatures: &Nomenclatures, tally: &mut Tally) {
    let Some((_, codes)) = nomenclatures.for_column(rows.name(), column) else { return };
    let Some(values) = text_column(rows, column) else { return };
    for value in values.flatten() {
        if codes.contains(value) || ctx.excepted("codes", rows.name(), column, value) {
            tally.valid();
        } else {
            tally.invalid(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::exceptions::Exceptions;
    use crate::gate::{GateConfig, Severity};
    use crate::table::{catalog, TableSpec, Tables};

    /// A table built straight from a frame, bypassing the builder's own key check: the gate must
    /// catch what a future stage (or a bug) could produce.
    fn raw(spec: &'static TableSpec, frame: DataFrame) -> Table {
        Table { spec, frame }
    }

    fn run(tables: &Tables) -> Vec<crate::gate::Finding> {
        let config = GateConfig::default();
        let exceptions = Exceptions::parse(crate::gate::exceptions::SHIPPED, "shipped").unwrap();
        let mut ctx = Context::new(&config, &exceptions);
        check(&mut ctx, tables, &Unparsed::new()).unwrap();
        ctx.findings
    }

    fn lieux() -> Table {
        raw(&catalog::LIEUX, df!("identifiant_ror" => ["L1", "L2"], "statut_code" => [Some("3"), Some("9")]).unwrap())
    }

    #[test]
    fn a_duplicate_primary_key_is_caught_with_the_key() {
        let offres = raw(&catalog::OFFRES, df!("identifiant_ror" => ["A", "B", "B", ""], "lieu_id" => [Some("L1"), None, Some("L2"), None]).unwrap());
        let tables = Tables::from([("offres", offres), ("lieux", lieux())]);
        let findings = run(&tables);
        let pk = findings.iter().find(|f| f.check == "primary_key").expect("duplicate found");
        assert_eq!((pk.table.as_deref(), pk.column.as_deref(), pk.count, pk.checked), (Some("offres"), Some("identifiant_ror"), 2, 4));
        assert_eq!(pk.examples, ["B", "(empty)"]);
        assert_eq!(pk.severity, Severity::Failure);
        assert!(pk.message.contains("offres.identifiant_ror: 2 of 4 value(s)"), "{}", pk.message);
    }

    #[test]
    fn a_dangling_foreign_key_is_caught_with_the_value() {
        let offres = raw(&catalog::OFFRES, df!("identifiant_ror" => ["A", "B", "C"], "lieu_id" => [Some("L1"), Some("L-GONE"), None]).unwrap());
        let tables = Tables::from([("offres", offres.clone()), ("lieux", lieux())]);
        let findings = run(&tables);
        let fk = findings.iter().find(|f| f.check == "foreign_keys").expect("dangling key found");
        assert_eq!((fk.table.as_deref(), fk.column.as_deref(), fk.count, fk.checked), (Some("offres"), Some("lieu_id"), 1, 2));
        assert_eq!(fk.examples, ["L-GONE"]);
        assert!(fk.message.contains("refer to no row of lieux.identifiant_ror"), "{}", fk.message);
        // A target the audience does not get is no foreign key in its Table Schema.
        assert!(run(&Tables::from([("offres", offres)])).iter().all(|f| f.check != "foreign_keys"));
    }

    #[test]
    fn codes_outside_their_value_set_warn_unless_excepted() {
        let offres = raw(&catalog::OFFRES, df!("identifiant_ror" => ["A", "B", "C"], "type_offre_code" => ["157", "999", "01"], "champ_activite_code" => ["01", "05", "06"]).unwrap());
        let findings = run(&Tables::from([("offres", offres), ("lieux", lieux())]));
        let mut codes: Vec<(String, Vec<String>, Severity)> =
            findings.iter().filter(|f| f.check == "codes").map(|f| (f.location(), f.examples.clone(), f.severity)).collect();
        codes.sort();
        let expected = [("lieux.statut_code", "9"), ("offres.champ_activite_code", "06"), ("offres.type_offre_code", "999")];
        assert_eq!(codes, expected.map(|(l, e)| (l.to_owned(), vec![e.to_owned()], Severity::Warning)));
    }

    #[test]
    fn types_required_and_columns() {
        let horaires = raw(
            &catalog::HORAIRES,
            df!("horaire_id" => ["1-1", "1-2"], "offre_id" => [Some("1"), None], "rang" => [1i32, 2], "heure_debut" => ["09:00:00", "9h"], "extra" => [1i64, 2]).unwrap(),
        );
        let findings = run(&Tables::from([("horaires", horaires)]));
        let find = |check: &str, column: &str| findings.iter().find(|f| f.check == check && f.column.as_deref() == Some(column)).unwrap_or_else(|| panic!("{check} {column}: {findings:#?}"));
        assert!(find("columns", "extra").message.contains("not a column of the catalogue"));
        assert!(find("columns", "rang").message.contains("stored as i32, the catalogue says integer"));
        assert_eq!(find("types", "heure_debut").examples, ["9h"]);
        assert_eq!(find("required", "offre_id").examples, ["horaire_id=1-2"]);
    }

    /// A table of several slices (200,000 rows make three) gives the same findings checked a slice
    /// at a time as whole: the same counts and the same examples in the same order, a key repeated
    /// across a slice's end, cells of the CSV that did not parse counted by their row in the
    /// table; and a key out of order, which sends the key check back to the whole key column.
    #[test]
    fn a_table_checked_slice_by_slice_has_the_whole_tables_findings() {
        use crate::table::spill::slices;
        let rows = 200_000usize;
        let key = |i: usize| if i == 66_666 || i == 133_332 { format!("H{:07}", i - 1) } else { format!("H{i:07}") };
        let horaires = |key: &dyn Fn(usize) -> String| {
            raw(
                &catalog::HORAIRES,
                df!(
                    "horaire_id" => (0..rows).map(|i| match i { 5 => None, 100_000 => Some(String::new()), _ => Some(key(i)) }).collect::<Vec<_>>(),
                    "offre_id" => (0..rows).map(|i| if i % 50_000 == 7 { None } else if i % 30_011 == 3 { Some(String::new()) } else if i % 40_000 == 9 { Some(format!("GONE{i}")) } else { Some(format!("O{:06}", i % 1000)) }).collect::<Vec<_>>(),
                    "rang" => (0..rows).map(|i| (i % 45_000 != 1 && i != 70_000 && i != 150_001).then_some(i as i64)).collect::<Vec<_>>(),
                    "heure_debut" => (0..rows).map(|i| if i % 33_333 == 2 { format!("{i}h") } else { "09:00:00".to_owned() }).collect::<Vec<_>>()
                )
                .unwrap(),
            )
        };
        let offres = raw(
            &catalog::OFFRES,
            df!(
                "identifiant_ror" => (0..rows).map(|i| format!("O{i:06}")).collect::<Vec<_>>(),
                "lieu_id" => (0..rows).map(|i| if i % 60_000 == 11 { "L-GONE" } else { "L1" }).collect::<Vec<_>>(),
                "type_offre_code" => (0..rows).map(|i| if i % 20_000 == 5 { format!("X{}", i / 20_000) } else { "157".to_owned() }).collect::<Vec<_>>()
            )
            .unwrap(),
        );
        let unparsed: Unparsed = [("horaires".to_owned(), [("rang".to_owned(), BTreeSet::from([70_000, 150_001]))].into())].into();
        let (config, exceptions) = (GateConfig::default(), Exceptions::parse(crate::gate::exceptions::SHIPPED, "shipped").unwrap());
        let judged = |tables: &Tables, sliced: bool| {
            let mut ctx = Context::new(&config, &exceptions);
            if sliced {
                let referenced = referenced(&ctx, tables).unwrap();
                let mut checks = Checks::new(&mut ctx, &referenced);
                for name in tables.names() {
                    let mut each = checks.begin(&ctx, &tables.shape(name).unwrap(), unparsed.get(name));
                    for (offset, length) in slices(tables.rows(name).unwrap()) {
                        checks.slice(&mut ctx, &mut each, &tables.load_rows(name, None, offset, length).unwrap().unwrap());
                    }
                    checks.finish(&mut ctx, each, tables).unwrap();
                }
            } else {
                check(&mut ctx, tables, &unparsed).unwrap();
            }
            (ctx.findings, ctx.ran, ctx.exception_uses)
        };
        let tables = Tables::from([("horaires", horaires(&key)), ("offres", offres.clone()), ("lieux", lieux())]);
        assert_eq!(slices(rows).len(), 3);
        let whole = judged(&tables, false);
        assert_eq!(judged(&tables, true), whole);
        let find = |check: &str, location: &str| whole.0.iter().find(|f| f.check == check && f.location() == location).unwrap_or_else(|| panic!("{check} {location}: {:#?}", whole.0)).clone();
        let pk = find("primary_key", "horaires.horaire_id");
        assert_eq!((pk.count, pk.examples.as_slice()), (4, ["(empty)", "H0066665", "H0133331"].map(String::from).as_slice()));
        assert_eq!(find("required", "horaires.rang").count, 5, "the rows that did not parse are not missing");
        assert_eq!(find("foreign_keys", "horaires.offre_id").examples.len(), 5);
        assert_eq!(find("codes", "offres.type_offre_code").examples, ["X0", "X1", "X2", "X3", "X4"]);
        assert_eq!(find("types", "horaires.heure_debut").count, 6);
        // A key out of order, repeating one two slices before.
        let unsorted = |i: usize| if i == 150_000 { key(10) } else { key(i) };
        let tables = Tables::from([("horaires", horaires(&unsorted)), ("offres", offres), ("lieux", lieux())]);
        let whole = judged(&tables, false);
        assert_eq!(judged(&tables, true), whole);
        let pk = whole.0.iter().find(|f| f.check == "primary_key").unwrap();
        assert_eq!((pk.count, pk.examples.as_slice()), (5, ["(empty)", "H0066665", "H0133331", "H0000010"].map(String::from).as_slice()));
    }

    /// Foreign keys checked against the compact key sets (`KeySet`, made a slice at a time) find
    /// what a set of the target's key strings finds: the same count, checked values and examples in
    /// the same order. The target has numeric keys (some with leading zeros), text keys, a null and
    /// an empty key over three slices; the referring values are keys of every kind, numbers one off
    /// or with a zero more, text not among the keys, nulls and empty values, over three slices too,
    /// in runs of the same value (whose answer is the one before's).
    #[test]
    fn foreign_keys_against_compact_key_sets_find_what_a_set_of_strings_finds() {
        let rows = 200_000usize;
        let target_key = |i: usize| match i {
            7 => None,
            8 => Some(String::new()),
            _ if i % 1000 == 1 => Some(format!("ror-offre-{i}")),
            _ if i % 100 == 2 => Some(format!("{i:09}")),
            _ => Some((300_000_000 + i).to_string()),
        };
        let offres = raw(&catalog::OFFRES, df!("identifiant_ror" => (0..rows).map(target_key).collect::<Vec<_>>(), "lieu_id" => vec![Some("L1"); rows]).unwrap());
        let referring = |i: usize| match i % 9_973 {
            0 => None,
            1 => Some(String::new()),
            2 => Some((300_000_000 + rows + i).to_string()),
            3 => Some(format!("0{i:09}")),
            4 => Some(format!("ror-offre-{}", i + 1)),
            5 => Some("12345678901234567890".to_owned()),
            6 | 7 => Some("999".to_owned()),
            // Runs of three rows referring to the same row, as an offer's schedules do.
            _ => target_key(i / 3 * 2 + 1 - i / 3 % 2).or(Some("300000000".to_owned())),
        };
        let horaires = raw(&catalog::HORAIRES, df!("horaire_id" => (0..rows).map(|i| format!("H{i:07}")).collect::<Vec<_>>(), "offre_id" => (0..rows).map(referring).collect::<Vec<_>>()).unwrap());
        let targets: PlHashSet<&str> = text_column(&offres, "identifiant_ror").unwrap().flatten().collect();
        let mut expected = Tally::default();
        for value in text_column(&horaires, "offre_id").unwrap().flatten() {
            if targets.contains(value) {
                expected.valid();
            } else {
                expected.invalid(value);
            }
        }
        assert!(expected.invalid > 50 && expected.checked > expected.invalid, "{expected:?}");
        let findings = run(&Tables::from([("horaires", horaires.clone()), ("offres", offres.clone()), ("lieux", lieux())]));
        let fk = findings.iter().find(|f| f.check == "foreign_keys" && f.location() == "horaires.offre_id").expect("dangling keys found");
        assert_eq!((fk.count, fk.checked, &fk.examples), (expected.invalid, expected.checked, &expected.examples));
        assert_eq!(fk.examples, ["300200002", "0000000003", "ror-offre-5", "12345678901234567890", "999"]);
    }

    #[test]
    fn times_are_checked_strictly() {
        assert!(is_time("00:00:00") && is_time("23:59:59"));
        for bad in ["24:00:00", "9:00:00", "09:60:00", "09:00", "09:00:00Z", "ab:cd:ef"] {
            assert!(!is_time(bad), "{bad}");
        }
    }
}
