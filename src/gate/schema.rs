//! Schema checks: what the release's Table Schemas promise, checked on the data itself — columns and
//! their types, required values, primary keys present and unique, foreign keys that resolve inside
//! the release, and coded columns drawn from their ANS value set. The first four are exactly what
//! `frictionless validate` checks on the written files (the tests compare the two); the code lists
//! are what frictionless cannot know, since the Table Schemas carry no enumerations.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;

use super::nomenclature::Nomenclatures;
use super::parity::Unparsed;
use super::{Context, GateError, Severity, Tally};
use crate::table::spill::TableSource;
use crate::table::{ColumnType, Table, Tables};

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
/// set aside on disk, one table is in memory, beside the key columns that foreign keys refer to
/// (loaded first and kept to the end, since their key sets borrow from them). Findings come in
/// another order than when every table was at hand (codes table by table); the report sorts them.
pub fn check(ctx: &mut Context<'_>, tables: &dyn TableSource, unparsed: &Unparsed) -> Result<(), GateError> {
    let referenced = referenced(ctx, tables)?;
    let mut checks = Checks::new(ctx, &referenced);
    for name in tables.names() {
        let Some(table) = tables.load(name)? else { continue };
        checks.table(ctx, &table, unparsed);
    }
    Ok(())
}

/// The key columns the foreign keys of `tables` refer to (`referenced_keys`), when that check runs.
pub fn referenced(ctx: &Context<'_>, tables: &dyn TableSource) -> Result<Tables, GateError> {
    if ctx.enabled("foreign_keys") {
        referenced_keys(tables, &tables.names())
    } else {
        Ok(Tables::new())
    }
}

/// The schema checks of one table after another, for a caller that loads each table for other
/// checks too (the gate's parity check): each table is then read from disk once, not twice.
pub struct Checks<'r> {
    referenced: &'r Tables,
    nomenclatures: Option<Nomenclatures>,
    targets: Targets<'r>,
}

impl<'r> Checks<'r> {
    /// `referenced`: what `referenced` gave for the same tables.
    pub fn new(ctx: &mut Context<'_>, referenced: &'r Tables) -> Self {
        Checks { referenced, nomenclatures: value_sets(ctx), targets: Targets::new() }
    }

    pub fn table(&mut self, ctx: &mut Context<'_>, table: &Table, unparsed: &Unparsed) {
        columns(ctx, table);
        times(ctx, table);
        required(ctx, table, unparsed.get(table.name()));
        primary_key(ctx, table);
        foreign_keys(ctx, table, self.referenced, &mut self.targets);
        if let Some(nomenclatures) = &self.nomenclatures {
            codes(ctx, table, nomenclatures);
        }
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
fn times(ctx: &mut Context<'_>, table: &Table) {
    if !ctx.runs("types") {
        return;
    }
    for spec in table.column_specs().into_iter().filter(|c| c.kind == ColumnType::Time) {
        let Some(values) = text_column(table, spec.name) else { continue };
        let mut tally = Tally::default();
        for value in values.flatten() {
            if is_time(value) {
                tally.valid();
            } else {
                tally.invalid(value);
            }
        }
        ctx.tally("types", table.name(), spec.name, tally, "are not a time of day HH:MM:SS");
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

/// Required columns have a value in every row.
fn required(ctx: &mut Context<'_>, table: &Table, unparsed: Option<&BTreeMap<String, BTreeSet<usize>>>) {
    if !ctx.runs("required") {
        return;
    }
    let pk = table.spec.primary_key;
    let keys = table.frame.column(pk).ok().and_then(|c| c.str().ok().cloned());
    for spec in table.column_specs().into_iter().filter(|c| c.required && c.name != pk) {
        let Ok(column) = table.frame.column(spec.name) else { continue };
        // One vectorised pass for the nulls; text also counts "" as missing (the schemas say so).
        let nulls = column.is_null();
        let text = column.str().ok();
        let not_typed = unparsed.and_then(|u| u.get(spec.name));
        let mut tally = Tally::default();
        for (row, null) in nulls.iter().enumerate() {
            if not_typed.is_some_and(|rows| rows.contains(&row)) {
                continue;
            }
            let missing = null.unwrap_or(true) || text.is_some_and(|t| t.get(row) == Some(""));
            if missing {
                let key = keys.as_ref().and_then(|k| k.get(row)).unwrap_or_default();
                tally.invalid(format!("{pk}={key}"));
            } else {
                tally.valid();
            }
        }
        ctx.tally("required", table.name(), spec.name, tally, "are empty in a required column (examples are the rows' keys)");
    }
}

/// The primary key is present and unique.
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

/// The values of the columns foreign keys refer to, by (table, column): several tables refer to
/// the same key, whose set is made once. Sets hash with polars' foldhash rather than SipHash:
/// hashing keys was most of the schema checks' time.
type Targets<'t> = BTreeMap<(&'static str, &'static str), PlHashSet<&'t str>>;

/// The columns the tables' foreign keys refer to, of the tables the source has (the only targets
/// the Table Schemas declare), each target table with only those columns: what the key sets are
/// made from, whichever table's turn it is.
fn referenced_keys(tables: &dyn TableSource, names: &[&'static str]) -> Result<Tables, GateError> {
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
    let mut referenced = Tables::new();
    for (name, columns) in wanted {
        if let Some(keys) = tables.load_columns(name, &columns)? {
            referenced.insert(name, keys);
        }
    }
    Ok(referenced)
}

/// Foreign keys resolve to a row of their target table, when the target is published (the Table
/// Schemas declare only those). `referenced` holds the targets' key columns (`referenced_keys`).
fn foreign_keys<'t>(ctx: &mut Context<'_>, table: &Table, referenced: &'t Tables, targets: &mut Targets<'t>) {
    if !ctx.runs("foreign_keys") {
        return;
    }
    for fk in table.spec.foreign_keys {
        let Some(target) = referenced.get(fk.table) else { continue };
        let Some(values) = text_column(table, fk.column) else { continue };
        if !targets.contains_key(&(fk.table, fk.reference)) {
            let Some(keys) = text_column(target, fk.reference) else { continue };
            let mut set = PlHashSet::with_capacity(target.rows());
            set.extend(keys.flatten());
            targets.insert((fk.table, fk.reference), set);
        }
        let keys = &targets[&(fk.table, fk.reference)];
        let mut tally = Tally::default();
        for value in values.flatten() {
            if keys.contains(value) {
                tally.valid();
            } else {
                tally.invalid(value);
            }
        }
        ctx.tally("foreign_keys", table.name(), fk.column, tally, &format!("refer to no row of {}.{}", fk.table, fk.reference));
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
fn codes(ctx: &mut Context<'_>, table: &Table, nomenclatures: &Nomenclatures) {
    for column in table.column_names() {
        let Some((value_set, codes)) = nomenclatures.for_column(table.name(), &column) else { continue };
        let Some(values) = text_column(table, &column) else { continue };
        let mut tally = Tally::default();
        for value in values.flatten() {
            if codes.contains(value) || ctx.excepted("codes", table.name(), &column, value) {
                tally.valid();
            } else {
                tally.invalid(value);
            }
        }
        ctx.tally("codes", table.name(), &column, tally, &format!("are not codes of {value_set}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::exceptions::Exceptions;
    use crate::gate::{GateConfig, Severity};
    use crate::table::{catalog, TableSpec};

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

    #[test]
    fn times_are_checked_strictly() {
        assert!(is_time("00:00:00") && is_time("23:59:59"));
        for bad in ["24:00:00", "9:00:00", "09:60:00", "09:00", "09:00:00Z", "ab:cd:ef"] {
            assert!(!is_time(bad), "{bad}");
        }
    }
}
