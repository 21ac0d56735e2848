//! The tables: each one a polars DataFrame with its catalogue definition, built row by row by the
//! flatteners, always sorted by primary key so every writer downstream is deterministic.

pub mod ahead;
pub mod catalog;
pub mod digest;
pub mod keys;
pub mod spec;
pub mod parts;
pub mod spill;
pub mod write;

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;

pub use spec::{ColumnSpec, ColumnType, TableSpec};

/// Errors of the table stage. Building a table only fails on an internal inconsistency (a primary
/// key seen twice after the snapshot's own duplicate check) or a polars failure.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("table {table}: primary key {key:?} appears more than once")]
    DuplicateKey { table: &'static str, key: String },
    #[error("table {table}: {source}")]
    Polars { table: &'static str, source: PolarsError },
    #[error("writing {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
}

/// One table: its definition and its rows, sorted by primary key.
#[derive(Debug, Clone)]
pub struct Table {
    pub spec: &'static TableSpec,
    pub frame: DataFrame,
}

impl Table {
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    pub fn rows(&self) -> usize {
        self.frame.height()
    }

    /// The names of the columns actually present (after the disclosure stage may have dropped some).
    pub fn column_names(&self) -> Vec<String> {
        self.frame.get_column_names().iter().map(|s| s.to_string()).collect()
    }

    /// The catalogue definitions of the columns present, in their order.
    pub fn column_specs(&self) -> Vec<&'static ColumnSpec> {
        self.frame
            .get_column_names()
            .iter()
            .filter_map(|n| self.spec.column(n.as_str()))
            .collect()
    }

    /// Values of a text column as owned strings (None for null), for joins and checks.
    pub fn text_values(&self, column: &str) -> Result<Vec<Option<String>>, TableError> {
        let polars = |source| TableError::Polars { table: self.spec.name, source };
        let col = self.frame.column(column).map_err(polars)?;
        let ca = col.str().map_err(polars)?;
        Ok(ca.iter().map(|v| v.map(str::to_owned)).collect())
    }
}

/// All tables of one stage's output, by name (BTreeMap: iteration order is the name order).
pub type Tables = BTreeMap<&'static str, Table>;

/// Every table of the catalogue, empty: unit tests' fixtures start here and fill in their rows.
#[cfg(test)]
pub fn empty_tables() -> Tables {
    catalog::ALL.iter().map(|spec| (spec.name, TableBuilder::new(spec).finish().expect("an empty table builds"))).collect()
}

/// A single value on its way into a column. Text may be borrowed (from the snapshot's text, say):
/// the row copies it once, into its own buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    Int(i64),
    Num(f64),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

/// A text column being built: every value's bytes in one buffer, where each value ends, and which
/// are null. At national scale the tables hold a few hundred million cells; a `String` each (24
/// bytes, plus an allocation of its own) cost several times the text itself.
#[derive(Default)]
pub(crate) struct TextColumn {
    bytes: String,
    ends: Vec<usize>,
    nulls: Vec<bool>,
}

impl TextColumn {
    pub(crate) fn push(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.bytes.push_str(v);
        }
        self.ends.push(self.bytes.len());
        self.nulls.push(value.is_none());
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).zip(&self.nulls).map(|((start, &end), &null)| (!null).then(|| &self.bytes[start..end]))
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

enum ColumnData {
    Text(TextColumn),
    Int(Vec<Option<i64>>),
    Num(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Date(Vec<Option<i32>>),
    DateTime(Vec<Option<i64>>),
}

impl ColumnData {
    fn len(&self) -> usize {
        match self {
            ColumnData::Text(v) => v.len(),
            ColumnData::Int(v) => v.len(),
            ColumnData::Num(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Date(v) => v.len(),
            ColumnData::DateTime(v) => v.len(),
        }
    }

    fn for_type(kind: ColumnType) -> Self {
        match kind {
            ColumnType::String | ColumnType::Time => ColumnData::Text(TextColumn::default()),
            ColumnType::Integer => ColumnData::Int(Vec::new()),
            ColumnType::Number => ColumnData::Num(Vec::new()),
            ColumnType::Boolean => ColumnData::Bool(Vec::new()),
            ColumnType::Date => ColumnData::Date(Vec::new()),
            ColumnType::DateTime => ColumnData::DateTime(Vec::new()),
        }
    }
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// One row being filled by a flattener; unset columns stay null. Its text values sit one after
/// the other in one buffer: a `String` per cell cost an allocation and a free per value, on
/// every row of every table. The buffers are the builder's, lent for the row and given back when
/// it is pushed: a row allocates nothing once the first is made.
pub struct Row {
    spec: &'static TableSpec,
    cells: Vec<Slot>,
    text: String,
    /// Where `set` looks for its column first: after the one set last. Flatteners set a row's
    /// columns mostly in the table's order, so a column is found at the first comparison rather
    /// than after comparing the names of those before it (the tens of millions of rows of a
    /// national snapshot set about ten columns each).
    next: usize,
}

/// A cell of a `Row`: a `Cell` whose text is a range of the row's buffer.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Null,
    Text { start: usize, end: usize },
    Int(i64),
    Num(f64),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

impl Row {
    /// Set a column. Panics on a column the table does not have: that is a bug in a flattener,
    /// which the unit tests of every flattener exercise.
    pub fn set<'v>(&mut self, column: &str, value: impl Into<Cell<'v>>) -> &mut Self {
        let index = self.index_of(column);
        self.cells[index] = match value.into() {
            Cell::Null => Slot::Null,
            Cell::Text(text) => {
                let start = self.text.len();
                self.text.push_str(&text);
                Slot::Text { start, end: self.text.len() }
            }
            Cell::Int(i) => Slot::Int(i),
            Cell::Num(x) => Slot::Num(x),
            Cell::Bool(b) => Slot::Bool(b),
            Cell::Date(d) => Slot::Date(d),
            Cell::DateTime(t) => Slot::DateTime(t),
        };
        self
    }

    /// Set a text column to formatted text, written straight into the row's buffer: an id made of
    /// parts (`format_args!("{offer}-{rank}")`) without a `String` of its own for each row.
    pub fn set_fmt(&mut self, column: &str, text: std::fmt::Arguments<'_>) -> &mut Self {
        let index = self.index_of(column);
        let start = self.text.len();
        std::fmt::Write::write_fmt(&mut self.text, text).expect("a String takes any text");
        self.cells[index] = Slot::Text { start, end: self.text.len() };
        self
    }

    /// A column's position, looked for from the one after the column set last, round the table.
    fn index_of(&mut self, column: &str) -> usize {
        let columns = self.spec.columns;
        // The flatteners name columns with the same literals as the catalogue, which the compiler
        // stores once: the same pointer is the same name, without comparing the bytes.
        let found = (0..columns.len()).map(|k| (self.next + k) % columns.len()).find(|&i| std::ptr::eq(columns[i].name, column) || columns[i].name == column);
        let index = found.unwrap_or_else(|| panic!("table {} has no column {column}", self.spec.name));
        self.next = index + 1;
        index
    }

    /// The value set so far for a column, if the table has it.
    pub fn get(&self, column: &str) -> Option<Cell<'_>> {
        self.spec.column_index(column).map(|i| match self.cells[i] {
            Slot::Null => Cell::Null,
            Slot::Text { start, end } => Cell::Text(Cow::Borrowed(&self.text[start..end])),
            Slot::Int(i) => Cell::Int(i),
            Slot::Num(x) => Cell::Num(x),
            Slot::Bool(b) => Cell::Bool(b),
            Slot::Date(d) => Cell::Date(d),
            Slot::DateTime(t) => Cell::DateTime(t),
        })
    }
}

impl From<Option<String>> for Cell<'_> {
    fn from(v: Option<String>) -> Self {
        v.map_or(Cell::Null, |s| Cell::Text(Cow::Owned(s)))
    }
}
impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Cell::Null, |s| Cell::Text(Cow::Borrowed(s)))
    }
}
impl<'a> From<&'a str> for Cell<'a> {
    fn from(v: &'a str) -> Self {
        Cell::Text(Cow::Borrowed(v))
    }
}
impl From<String> for Cell<'_> {
    fn from(v: String) -> Self {
        Cell::Text(Cow::Owned(v))
    }
}
impl From<Option<i64>> for Cell<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Cell::Null, Cell::Int)
    }
}
impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<Option<f64>> for Cell<'_> {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Cell::Null, Cell::Num)
    }
}
impl From<Option<bool>> for Cell<'_> {
    fn from(v: Option<bool>) -> Self {
        v.map_or(Cell::Null, Cell::Bool)
    }
}
impl From<Option<NaiveDate>> for Cell<'_> {
    fn from(v: Option<NaiveDate>) -> Self {
        v.map_or(Cell::Null, Cell::Date)
    }
}
impl From<Option<DateTime<Utc>>> for Cell<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        v.map_or(Cell::Null, Cell::DateTime)
    }
}

/// Accumulates rows column by column, then becomes a sorted `Table`.
pub struct TableBuilder {
    spec: &'static TableSpec,
    columns: Vec<ColumnData>,
    /// The buffers of the last row pushed, for the next row (`row`).
    spare: (Vec<Slot>, String),
}

impl TableBuilder {
    pub fn new(spec: &'static TableSpec) -> Self {
        let columns = spec.columns.iter().map(|c| ColumnData::for_type(c.kind)).collect();
        TableBuilder { spec, columns, spare: (Vec::new(), String::new()) }
    }

    pub fn spec(&self) -> &'static TableSpec {
        self.spec
    }

    /// A fresh row of nulls for this table, in the buffers of the row pushed last.
    pub fn row(&mut self) -> Row {
        let (mut cells, mut text) = std::mem::take(&mut self.spare);
        cells.clear();
        cells.resize(self.spec.columns.len(), Slot::Null);
        text.clear();
        Row { spec: self.spec, cells, text, next: 0 }
    }

    /// Append a row. Panics when a value does not match its column's type (a flattener bug).
    pub fn push(&mut self, row: Row) {
        for ((data, &slot), spec) in self.columns.iter_mut().zip(&row.cells).zip(self.spec.columns) {
            let mismatch = || panic!("table {}: wrong value type for column {}", self.spec.name, spec.name);
            match (data, slot) {
                (ColumnData::Text(v), Slot::Text { start, end }) => v.push(Some(&row.text[start..end])),
                (ColumnData::Text(v), Slot::Null) => v.push(None),
                (ColumnData::Int(v), Slot::Int(i)) => v.push(Some(i)),
                (ColumnData::Int(v), Slot::Null) => v.push(None),
                (ColumnData::Num(v), Slot::Num(x)) => v.push(Some(x)),
                (ColumnData::Num(v), Slot::Null) => v.push(None),
                (ColumnData::Bool(v), Slot::Bool(b)) => v.push(Some(b)),
                (ColumnData::Bool(v), Slot::Null) => v.push(None),
                (ColumnData::Date(v), Slot::Date(d)) => v.push(Some((d - EPOCH).num_days() as i32)),
                (ColumnData::Date(v), Slot::Null) => v.push(None),
                (ColumnData::DateTime(v), Slot::DateTime(t)) => v.push(Some(t.timestamp_millis())),
                (ColumnData::DateTime(v), Slot::Null) => v.push(None),
                _ => mismatch(),
            }
        }
        self.spare = (row.cells, row.text);
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, ColumnData::len)
    }

    /// Build the DataFrame, sorted by primary key, refusing duplicate keys.
    pub fn finish(self) -> Result<Table, TableError> {
        let spec = self.spec;
        sorted_table(spec, self.into_frame()?)
    }

    /// The DataFrame of the rows in push order, unsorted and unchecked: a part of a table (one
    /// file's rows), which `sorted_table` makes whole once every part is in.
    pub fn into_frame(self) -> Result<DataFrame, TableError> {
        let table = self.spec.name;
        let polars = |source| TableError::Polars { table, source };
        let mut columns = Vec::with_capacity(self.columns.len());
        for (data, spec) in self.columns.into_iter().zip(self.spec.columns) {
            let name = PlSmallStr::from_static(spec.name);
            let column = match data {
                ColumnData::Text(v) => v.values().collect::<StringChunked>().with_name(name).into_column(),
                ColumnData::Int(v) => Column::new(name, v),
                ColumnData::Num(v) => Column::new(name, v),
                ColumnData::Bool(v) => Column::new(name, v),
                ColumnData::Date(v) => Column::new(name, v).cast(&DataType::Date).map_err(polars)?,
                ColumnData::DateTime(v) => Column::new(name, v)
                    .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                    .map_err(polars)?,
            };
            columns.push(column);
        }
        DataFrame::new_infer_height(columns).map_err(polars)
    }
}

/// A text column of a frame, as a chunked array of its own (a clone shares the buffers), so that
/// values read from it can fill another column of the same frame.
pub fn text_column(spec: &'static TableSpec, frame: &DataFrame, column: &str) -> Result<StringChunked, TableError> {
    let polars = |source| TableError::Polars { table: spec.name, source };
    Ok(frame.column(column).map_err(polars)?.str().map_err(polars)?.clone())
}

/// Fill the null cells of a text column, one value per row in frame order (`None` leaves the cell
/// null); the cells rows set keep theirs. For values known only once every row is in (an offer's
/// establishment, a role's professional): the rows go to disk as their file is read, not kept
/// whole until then.
pub fn fill_text_nulls<'v>(spec: &'static TableSpec, frame: &mut DataFrame, column: &str, values: impl IntoIterator<Item = Option<&'v str>>) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: spec.name, source };
    let current = text_column(spec, frame, column)?;
    let mut values = values.into_iter();
    let filled: StringChunked = current.iter().map(|cell| cell.or(values.next().expect("one value per row"))).collect();
    assert!(values.next().is_none(), "one value per row");
    drop(current);
    frame.replace(column, filled.with_name(PlSmallStr::from_str(column)).into_column()).map_err(polars)?;
    Ok(())
}

/// Sort a frame by the table's primary key and check the key is unique.
pub fn sorted_table(spec: &'static TableSpec, frame: DataFrame) -> Result<Table, TableError> {
    let polars = |source| TableError::Polars { table: spec.name, source };
    let frame = frame
        .sort([spec.primary_key], SortMultipleOptions::default().with_maintain_order(true))
        .map_err(polars)?;
    let keys = frame.column(spec.primary_key).map_err(polars)?.str().map_err(polars)?.clone();
    check_sorted_keys(spec, &keys)?;
    Ok(Table { spec, frame })
}

/// Refuse a primary key seen twice, in keys already sorted: the first one repeated.
pub(crate) fn check_sorted_keys(spec: &'static TableSpec, keys: &StringChunked) -> Result<(), TableError> {
    let mut previous: Option<&str> = None;
    for key in keys.iter() {
        if key.is_some() && key == previous {
            return Err(TableError::DuplicateKey { table: spec.name, key: key.unwrap_or_default().to_owned() });
        }
        previous = key;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_set_in_any_order_and_rows_made_in_the_last_ones_buffers_keep_only_their_own_values() {
        let spec = &catalog::EQUIPEMENTS;
        let mut b = TableBuilder::new(spec);
        let mut r = b.row();
        // Out of the table's order, one set twice (the last value wins).
        r.set("nombre_en_service", Some(3i64)).set("lieu_id", "L1").set("equipement_id", "e1").set("type_equipement_libelle", "IRM").set("lieu_id", "L2");
        assert_eq!(r.get("lieu_id"), Some(Cell::Text(Cow::Borrowed("L2"))));
        b.push(r);
        // The next row reuses the buffers: nothing of the first row's is left in it.
        let mut r = b.row();
        assert!(spec.columns.iter().all(|c| r.get(c.name) == Some(Cell::Null)));
        r.set("equipement_id", "e0").set("lieu_id", "L3");
        b.push(r);
        let t = b.finish().unwrap();
        assert_eq!(t.text_values("equipement_id").unwrap(), vec![Some("e0".into()), Some("e1".into())]);
        assert_eq!(t.text_values("lieu_id").unwrap(), vec![Some("L3".into()), Some("L2".into())]);
        assert_eq!(t.text_values("type_equipement_libelle").unwrap(), vec![None, Some("IRM".into())]);
        assert_eq!(t.frame.column("nombre_en_service").unwrap().i64().unwrap().iter().collect::<Vec<_>>(), vec![None, Some(3)]);
    }

    #[test]
    #[should_panic(expected = "table equipements has no column nom")]
    fn a_column_the_table_does_not_have_is_a_bug() {
        TableBuilder::new(&catalog::EQUIPEMENTS).row().set("nom", "x");
    }

    #[test]
    fn builder_sorts_by_primary_key_and_rejects_duplicates() {
        let spec = &catalog::EQUIPEMENTS;
        let mut b = TableBuilder::new(spec);
        for id in ["b", "a", "c"] {
            let mut r = b.row();
            r.set("equipement_id", id).set("lieu_id", "L").set("nombre_en_service", Some(2i64));
            b.push(r);
        }
        let t = b.finish().unwrap();
        assert_eq!(t.text_values("equipement_id").unwrap(), vec![Some("a".into()), Some("b".into()), Some("c".into())]);

        let mut b = TableBuilder::new(spec);
        for id in ["a", "a"] {
            let mut r = b.row();
            r.set("equipement_id", id).set("lieu_id", "L");
            b.push(r);
        }
        assert!(matches!(b.finish(), Err(TableError::DuplicateKey { .. })));
    }

    #[test]
    fn filling_a_text_column_keeps_what_rows_set() {
        let spec = &catalog::EQUIPEMENTS;
        let mut b = TableBuilder::new(spec);
        for (id, lieu) in [("a", Some("L1")), ("b", None), ("c", Some("")), ("d", None)] {
            let mut r = b.row();
            r.set("equipement_id", id).set("lieu_id", lieu);
            b.push(r);
        }
        assert_eq!(b.rows(), 4);
        let mut frame = b.into_frame().unwrap();
        fill_text_nulls(spec, &mut frame, "lieu_id", [Some("x"), Some("y"), Some("z"), None]).unwrap();
        assert_eq!(text_column(spec, &frame, "lieu_id").unwrap().iter().collect::<Vec<_>>(), vec![Some("L1"), Some("y"), Some(""), None]);
        assert_eq!(frame.get_column_names().iter().map(|n| n.as_str()).collect::<Vec<_>>(), spec.columns.iter().map(|c| c.name).collect::<Vec<_>>(), "the filled column keeps its place");
    }
}
