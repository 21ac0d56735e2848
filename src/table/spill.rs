//! Tables set aside on disk for the night. The flatten stage writes the snapshot's as it makes
//! them, one table at a time (`put_sorted`); each publication reads the tables it needs, one at a
//! time, and drops each once disclosed: at national scale the snapshot's tables (several
//! gigabytes) never sit in memory all at once, nor beside every publication's own tables. A
//! publication's disclosed tables are set aside the same way (`put`), each as soon as it is made,
//! and the gate, history and release stages read them back one at a time (or a few columns).
//!
//! Arrow IPC, uncompressed, a file per column: writing and reading it back is little more
//! than a copy (the page cache usually keeps it), and the columns come back exactly as they were
//! (same types, same values, same order). The folder is the run's own (`.tmp-tables-<pid>` in the
//! output folder, under the run's lock) and is removed when the run ends, however it ends.
//!
//! The files are read back without checking their text again (`read_own_segment`): polars' reader
//! checks every text it reads (UTF-8, and each value's place in its buffers), most of the time a
//! stage spent reading, for text this run wrote from arrays that were valid. Each file's length
//! and modification time are recorded as it is written and compared before it is read: a file
//! cut short or replaced is a read error naming it, never read unchecked.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use polars::prelude::*;
use rayon::prelude::*;

use super::{check_sorted_keys, Table, TableError, TableSpec, Tables};

mod fingerprint;
mod link;
mod runs;

pub use link::hard_link_or_copy;
pub use runs::RUN_BYTES;

const PREFIX: &str = ".tmp-tables-";

/// Where a stage's tables come from: in memory (tests, small tools) or set aside on disk. Shared
/// by threads (a publication's gate and history read it at once) and handed from one to another
/// (`ops::lanes`).
pub trait TableSource: Send + Sync {
    /// The names of the tables, in name order (the order in which `Tables` iterates).
    fn names(&self) -> Vec<&'static str>;
    /// A table's definition and columns without its rows (an empty frame of the same columns and
    /// types); None when the source has no such table.
    fn shape(&self, name: &str) -> Option<Table>;
    /// Rows of a table, without reading it; None when the source has no such table.
    fn rows(&self, name: &str) -> Option<usize>;
    /// The table, owned: the caller keeps it only as long as it needs it.
    fn load(&self, name: &str) -> Result<Option<Table>, TableError>;
    /// Only the named columns the table has, in the table's order: what a check of a few columns
    /// needs, without the rest.
    fn load_columns(&self, name: &str, columns: &[&str]) -> Result<Option<Table>, TableError>;
    /// Empty cells of a column, without reading it; None when the table or the column is missing.
    fn null_count(&self, name: &str, column: &str) -> Option<usize>;
    /// Rows `offset..offset + rows` of a table (only the named columns it has, in the table's
    /// order, when `columns` is given), one chunk per column: what a stage that goes through a
    /// table a slice of rows at a time reads. A range of `slices(rows)` is read without touching
    /// the rest of the table (each slice has its own files on disk). None when the source has no
    /// such table; a range past the table's end is an error.
    fn load_rows(&self, name: &str, columns: Option<&[&str]>, offset: usize, rows: usize) -> Result<Option<Table>, TableError>;
    /// The night's folder the tables are in, when they are in one (a sink writing to another
    /// folder of the night can then link a column's files rather than read and write them).
    fn folder(&self) -> Option<&SpilledTables> {
        None
    }
    /// A digest of everything a table's files are made from (`spill::fingerprint`): two tables
    /// with the same fingerprint give the same files. None when the source cannot tell cheaply
    /// (tables in memory) or has no such table: the files are then always made.
    fn fingerprint(&self, name: &str) -> Result<Option<String>, TableError> {
        let _ = name;
        Ok(None)
    }
}

/// The slices of rows (offset, rows) a table of `rows` rows is kept in on disk, and the row groups
/// of its Parquet file (`write::row_groups`): a stage that goes through a table slice by slice
/// reads each slice's files once, and writes each of its Parquet row groups from one slice.
pub fn slices(rows: usize) -> Vec<(usize, usize)> {
    super::write::row_groups(rows)
}

/// Go through table `spec` of `source` a slice of rows at a time (`slices`), reading only
/// `columns`: for what a stage needs of every row (a set of keys, a map by id) without the
/// columns whole. A table the source lacks has no rows.
pub fn for_each_slice<E: From<TableError>>(source: &dyn TableSource, spec: &'static TableSpec, columns: &[&str], mut each: impl FnMut(&DataFrame) -> Result<(), E>) -> Result<(), E> {
    for (offset, length) in slices(source.rows(spec.name).unwrap_or(0)) {
        let Some(slice) = source.load_rows(spec.name, Some(columns), offset, length)? else { break };
        each(&slice.frame)?;
    }
    Ok(())
}

impl TableSource for Tables {
    fn names(&self) -> Vec<&'static str> {
        self.keys().copied().collect()
    }

    fn shape(&self, name: &str) -> Option<Table> {
        self.get(name).map(|t| Table { spec: t.spec, frame: t.frame.clear() })
    }

    fn rows(&self, name: &str) -> Option<usize> {
        self.get(name).map(Table::rows)
    }

    /// A clone shares the columns' buffers: no copy.
    fn load(&self, name: &str) -> Result<Option<Table>, TableError> {
        Ok(self.get(name).cloned())
    }

    fn load_columns(&self, name: &str, columns: &[&str]) -> Result<Option<Table>, TableError> {
        let Some(table) = self.get(name) else { return Ok(None) };
        let kept: Vec<Column> = table.frame.columns().iter().filter(|c| columns.contains(&c.name().as_str())).cloned().collect();
        let frame = DataFrame::new(table.rows(), kept).map_err(|source| TableError::Polars { table: table.spec.name, source })?;
        Ok(Some(Table { spec: table.spec, frame }))
    }

    fn null_count(&self, name: &str, column: &str) -> Option<usize> {
        self.get(name)?.frame.column(column).ok().map(Column::null_count)
    }

    fn load_rows(&self, name: &str, columns: Option<&[&str]>, offset: usize, rows: usize) -> Result<Option<Table>, TableError> {
        let Some(table) = self.get(name) else { return Ok(None) };
        check_range(table.spec, table.rows(), offset, rows)?;
        let mut frame = table.frame.slice(offset as i64, rows);
        if let Some(columns) = columns {
            let kept: Vec<Column> = frame.columns().iter().filter(|c| columns.contains(&c.name().as_str())).cloned().collect();
            frame = DataFrame::new(rows, kept).map_err(|source| TableError::Polars { table: table.spec.name, source })?;
        }
        frame.rechunk_mut();
        Ok(Some(Table { spec: table.spec, frame }))
    }
}

/// A range of rows past a table's end is the caller's mistake, reported as an error naming the table.
fn check_range(spec: &'static TableSpec, height: usize, offset: usize, rows: usize) -> Result<(), TableError> {
    if offset.checked_add(rows).is_none_or(|end| end > height) {
        let message = format!("rows {offset}..{} asked of a table of {height} rows", offset.saturating_add(rows));
        return Err(TableError::Polars { table: spec.name, source: polars::prelude::polars_err!(OutOfBounds: "{message}") });
    }
    Ok(())
}

/// Where a stage puts the tables it makes, each as soon as it is made: in memory, or on disk.
pub trait TableSink {
    /// Keep a table already in key order, as it is.
    fn put(&mut self, table: Table) -> Result<(), TableError>;

    /// Keep a table of `rows` rows in key order, made a slice of `slices(rows)` at a time by
    /// `make(offset, rows)`, in order (and once with no rows first, for its columns and types):
    /// on disk only one slice of it is ever in memory. The same table as `put` of the whole.
    fn put_by_slice<E: From<TableError>>(&mut self, spec: &'static TableSpec, rows: usize, make: impl FnMut(usize, usize) -> Result<DataFrame, E>) -> Result<(), E>;

    /// `put_by_slice` of a table some of whose columns (`same`) are those of `source`'s table
    /// `from`, every row and value as they are: `make` gives only the other columns (in the
    /// table's order), and the sink takes `same` from the source however it can do so cheapest
    /// (on disk, from a folder of the night: linked files; here, read a slice at a time).
    fn put_by_slice_sharing<E: From<TableError>>(&mut self, spec: &'static TableSpec, rows: usize, source: &dyn TableSource, from: &str, same: &[&str], make: impl FnMut(usize, usize) -> Result<DataFrame, E>) -> Result<(), E> {
        self.put_by_slice(spec, rows, link::reading_shared(spec, source, from, same, make))
    }

    /// Keep a table of the columns and types of `shape` (no rows), sorted by its primary key as
    /// `sorted_table` sorts it (and refused as it refuses a key seen twice), whose columns come one
    /// at a time: `column(index)`, asked once each, the key first. On disk the table is never
    /// whole in memory: the key, the order, and a column per core. The same table as `put` of
    /// `sorted_table` of the whole.
    fn put_sorted_by_column<E: From<TableError> + Send>(&mut self, spec: &'static TableSpec, shape: DataFrame, column: &(dyn Fn(usize) -> Result<Column, E> + Sync)) -> Result<(), E>;

    /// Keep a table of the columns and types of `shape` (no rows), sorted by its primary key as
    /// `sorted_table` sorts it (and refused as it refuses a key seen twice), whose rows come a
    /// chunk at a time (`next()`, every column, None once there are none left). On disk the
    /// table is never whole in memory: sorted runs of `RUN_BYTES` merged (`runs.rs`).
    fn put_sorted_by_chunks<E: From<TableError> + Send>(&mut self, spec: &'static TableSpec, shape: DataFrame, next: &mut dyn FnMut() -> Result<Option<DataFrame>, E>) -> Result<(), E>;
}

impl TableSink for Tables {
    fn put(&mut self, table: Table) -> Result<(), TableError> {
        self.insert(table.spec.name, table);
        Ok(())
    }

    fn put_by_slice<E: From<TableError>>(&mut self, spec: &'static TableSpec, rows: usize, mut make: impl FnMut(usize, usize) -> Result<DataFrame, E>) -> Result<(), E> {
        let polars = |source| TableError::Polars { table: spec.name, source };
        let mut frame = make(0, 0)?;
        for (offset, length) in slices(rows) {
            let slice = make(offset, length)?;
            check_slice(spec, &frame, &slice, length)?;
            frame.vstack_mut_owned(slice).map_err(polars)?;
        }
        frame.rechunk_mut();
        self.insert(spec.name, Table { spec, frame });
        Ok(())
    }

    fn put_sorted_by_column<E: From<TableError> + Send>(&mut self, spec: &'static TableSpec, shape: DataFrame, column: &(dyn Fn(usize) -> Result<Column, E> + Sync)) -> Result<(), E> {
        let KeyOrder { index: key_index, order, keys, .. } = key_order(spec, &shape, column)?;
        let rows = order.len();
        let columns: Vec<Result<Column, E>> = (0..shape.width())
            .into_par_iter()
            .map(|index| {
                if index == key_index {
                    return Ok(keys.clone());
                }
                let unsorted = sortable(spec, &shape, index, Some(rows), column(index)?)?;
                Ok(unsorted.take(&order).map_err(|source| TableError::Polars { table: spec.name, source })?)
            })
            .collect();
        // The first error in column order, as on disk.
        let columns = columns.into_iter().collect::<Result<Vec<Column>, E>>()?;
        let frame = DataFrame::new(rows, columns).map_err(|source| TableError::Polars { table: spec.name, source })?;
        self.insert(spec.name, Table { spec, frame });
        Ok(())
    }

    fn put_sorted_by_chunks<E: From<TableError> + Send>(&mut self, spec: &'static TableSpec, shape: DataFrame, next: &mut dyn FnMut() -> Result<Option<DataFrame>, E>) -> Result<(), E> {
        let mut frame = shape;
        while let Some(chunk) = next()? {
            frame.vstack_mut_owned(chunk).map_err(|source| TableError::Polars { table: spec.name, source })?;
        }
        frame.rechunk_mut();
        self.put(super::sorted_table(spec, frame)?)?;
        Ok(())
    }
}

impl TableSink for SpilledTables {
    fn put(&mut self, table: Table) -> Result<(), TableError> {
        SpilledTables::put(self, table)
    }

    fn put_by_slice<E: From<TableError>>(&mut self, spec: &'static TableSpec, rows: usize, mut make: impl FnMut(usize, usize) -> Result<DataFrame, E>) -> Result<(), E> {
        let shape = make(0, 0)?;
        let mut nulls = vec![0; shape.width()];
        for (number, (offset, length)) in slices(rows).into_iter().enumerate() {
            let slice = make(offset, length)?;
            check_slice(spec, &shape, &slice, length)?;
            for (count, column) in nulls.iter_mut().zip(slice.columns()) {
                *count += column.null_count();
            }
            slice.into_columns().into_par_iter().enumerate().map(|(index, column)| self.write_slice(spec, index, number, column)).collect::<Result<Vec<()>, TableError>>()?;
        }
        self.record(Table { spec, frame: shape.clear() }, rows, nulls);
        Ok(())
    }

    fn put_by_slice_sharing<E: From<TableError>>(&mut self, spec: &'static TableSpec, rows: usize, source: &dyn TableSource, from: &str, same: &[&str], make: impl FnMut(usize, usize) -> Result<DataFrame, E>) -> Result<(), E> {
        match source.folder() {
            Some(folder) => self.put_sharing(spec, rows, folder, from, same, make),
            None => self.put_by_slice(spec, rows, link::reading_shared(spec, source, from, same, make)),
        }
    }

    fn put_sorted_by_column<E: From<TableError> + Send>(&mut self, spec: &'static TableSpec, shape: DataFrame, column: &(dyn Fn(usize) -> Result<Column, E> + Sync)) -> Result<(), E> {
        SpilledTables::put_sorted_by_column(self, spec, shape, column)
    }

    fn put_sorted_by_chunks<E: From<TableError> + Send>(&mut self, spec: &'static TableSpec, shape: DataFrame, next: &mut dyn FnMut() -> Result<Option<DataFrame>, E>) -> Result<(), E> {
        SpilledTables::put_sorted_by_chunks(self, spec, shape, RUN_BYTES, next)
    }
}

/// A slice made for `put_by_slice` has the rows asked and the table's columns and types: anything
/// else is the maker's mistake, an error naming the table rather than a table that is not one.
fn check_slice(spec: &'static TableSpec, shape: &DataFrame, slice: &DataFrame, rows: usize) -> Result<(), TableError> {
    if slice.height() != rows || slice.schema() != shape.schema() {
        let message = format!("a slice of {} rows and columns {:?} where {rows} rows of {:?} were expected", slice.height(), slice.schema(), shape.schema());
        return Err(TableError::Polars { table: spec.name, source: polars::prelude::polars_err!(ShapeMismatch: "{message}") });
    }
    Ok(())
}

/// The key of a table sorted, and where each row goes: what both sinks' `put_sorted_by_column`
/// gather every other column by.
struct KeyOrder {
    /// The key's position in the table.
    index: usize,
    /// The rows in key order (the position in the unsorted table of each sorted row).
    order: IdxCa,
    /// The key in that order, flagged sorted.
    keys: Column,
    /// The key's empty cells.
    nulls: usize,
}

/// Sort a table's key (`column` of the key's position, the first column asked) as `sorted_table`
/// sorts the table (DataFrame::sort's options: ascending, nulls first, equal keys in their order;
/// and its sorted flag on the key), refusing a key seen twice as it does.
fn key_order<E: From<TableError>>(spec: &'static TableSpec, shape: &DataFrame, column: &(dyn Fn(usize) -> Result<Column, E> + Sync)) -> Result<KeyOrder, E> {
    let polars = |source| TableError::Polars { table: spec.name, source };
    let index = shape.get_column_index(spec.primary_key).ok_or_else(|| polars(polars::prelude::polars_err!(ColumnNotFound: "{}", spec.primary_key)))?;
    let key = sortable(spec, shape, index, None, column(index)?)?;
    let order = key.arg_sort(SortOptions::default().with_maintain_order(true));
    let nulls = key.null_count();
    let mut keys = key.take(&order).map_err(polars)?;
    drop(key);
    keys.set_sorted_flag(polars::series::IsSorted::Ascending);
    check_sorted_keys(spec, keys.str().map_err(polars)?)?;
    Ok(KeyOrder { index, order, keys, nulls })
}

/// A column given to `put_sorted_by_column` has the key's rows (`rows`; any, for the key) and
/// the shape's type: anything else is the maker's mistake, an error naming the table and the
/// column rather than a table that is not one.
fn sortable(spec: &'static TableSpec, shape: &DataFrame, index: usize, rows: Option<usize>, column: Column) -> Result<Column, TableError> {
    let expected = &shape.columns()[index];
    if rows.is_some_and(|rows| column.len() != rows) || column.dtype() != expected.dtype() {
        let message = format!("column {} of {} rows of {} where {} rows of {} were expected", expected.name(), column.len(), column.dtype(), rows.map_or("any".to_owned(), |r| r.to_string()), expected.dtype());
        return Err(TableError::Polars { table: spec.name, source: polars::prelude::polars_err!(ShapeMismatch: "{message}") });
    }
    Ok(column)
}

/// Load the named tables a source has into one `Tables`.
pub fn load_tables(source: &dyn TableSource, names: &[&str]) -> Result<Tables, TableError> {
    let mut tables = Tables::new();
    for name in names {
        if let Some(table) = source.load(name)? {
            tables.insert(table.spec.name, table);
        }
    }
    Ok(tables)
}

/// Tables written to a folder of the run; the folder is removed when this is dropped.
#[derive(Debug)]
pub struct SpilledTables {
    dir: PathBuf,
    /// Each table written: its shape (definition, columns and types, no rows), its rows, and each
    /// column's empty cells (counted as it is written: the drift checks need no values).
    /// Behind a lock so that two tables can be made at once (`fhir::flatten`'s two lanes), each
    /// recorded once written.
    written: Mutex<BTreeMap<&'static str, (Table, usize, Vec<usize>)>>,
    /// Each file written, as it was once complete: only such a file is read without checks.
    files: Mutex<HashMap<PathBuf, Written>>,
    /// Each file taken as it is from another folder of the night (`link`), and the file it first
    /// was (followed through folders that took it in turn): its bytes are that file's, which a
    /// table's fingerprint names rather than hashing them again.
    taken: Mutex<HashMap<PathBuf, (PathBuf, Written)>>,
}

impl SpilledTables {
    /// A new, empty folder of `parent` for the run's tables, which the `put` methods fill a table at
    /// a time (two may be written at once, each recorded when complete).
    /// Folders left by a run that was killed are removed first: the caller holds the output
    /// folder's lock, so no other run is using them.
    pub fn create(parent: &Path) -> Result<SpilledTables, TableError> {
        remove_stale(parent);
        SpilledTables::create_named(parent, "")
    }

    /// Another folder of the run beside the first (`create`'s), for another set of tables: one
    /// publication's disclosed tables, named by `suffix`. A killed run's are removed by the next
    /// run's `create`, which matches them too.
    pub fn create_named(parent: &Path, suffix: &str) -> Result<SpilledTables, TableError> {
        let dir = parent.join(format!("{PREFIX}{}{suffix}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        // From here on, the folder goes with the value whatever happens.
        Ok(SpilledTables { dir, written: Mutex::new(BTreeMap::new()), files: Mutex::new(HashMap::new()), taken: Mutex::new(HashMap::new()) })
    }

    /// A folder for the parts the tables are made from (see `parts`), inside this one, so that it
    /// goes with it.
    pub fn parts(&self) -> Result<super::parts::Parts, TableError> {
        super::parts::Parts::create(self.dir.join("parts"))
    }

    /// One column of a table already written, read alone (each column has its own files): what
    /// the making of another table needs of it, without the rest.
    pub fn column(&self, table: &str, column: &str) -> Result<Column, TableError> {
        let (shape, rows, _) = self.entry(table).unwrap_or_else(|| panic!("table {table} is read before it is written"));
        let index = shape.frame.get_column_index(column).unwrap_or_else(|| panic!("table {table} has no column {column}"));
        self.read_column(&shape, rows, index, 0, rows)
    }

    /// Rows `offset..offset + rows` of a column, from the files of the slices that hold them, as
    /// one chunk. No rows: the shape's empty column.
    fn read_column(&self, shape: &Table, height: usize, index: usize, offset: usize, rows: usize) -> Result<Column, TableError> {
        let spec = shape.spec;
        let polars = |source| TableError::Polars { table: spec.name, source };
        let mut column = shape.frame.columns()[index].clone();
        for (slice, (start, length)) in slices(height).into_iter().enumerate() {
            if start + length <= offset || start >= offset + rows {
                continue;
            }
            let path = self.path(spec.name, index, slice);
            let written = self.files.lock().expect("no thread panics holding the files").get(&path).copied();
            let read = read_own_segment(&path, written, None, None)?.into_columns().pop().expect("a column file holds one column");
            // Only the rows asked for of the slices at either end.
            let from = offset.saturating_sub(start);
            let to = (offset + rows).min(start + length) - start;
            let read = if from == 0 && to == length { read } else { read.slice(from as i64, to - from) };
            // Appended to the empty column, the first slice's chunk replaces it: no copy.
            column.append_owned(read).map_err(polars)?;
        }
        // Several chunks (several slices, or a slice written from several chunks) are made one;
        // one is the column as read.
        Ok(if column.n_chunks() > 1 { column.rechunk() } else { column })
    }

    /// The file of a column's slice (by the column's position in the table, and the slice's in
    /// `slices`). Each column has its own files, because the IPC writer encodes a whole record
    /// batch in memory before writing it; each slice its own, so that a stage going through a
    /// table a slice at a time reads only that slice.
    fn path(&self, name: &str, column: usize, slice: usize) -> PathBuf {
        self.dir.join(format!("{name}.{column}.{slice}.arrow"))
    }

    /// Write a column, a file per slice of `slices(rows)`; `slice(offset, rows)` gives each
    /// slice's rows (made only when it is written: a sort gathers them there).
    fn write_column(&self, spec: &'static TableSpec, index: usize, rows: usize, slice: impl Fn(usize, usize) -> PolarsResult<Column>) -> Result<(), TableError> {
        for (number, (offset, length)) in slices(rows).into_iter().enumerate() {
            self.write_slice(spec, index, number, slice(offset, length).map_err(|source| TableError::Polars { table: spec.name, source })?)?;
        }
        Ok(())
    }

    /// Write one slice of a column (the `number`th of `slices(rows)`) to its file.
    fn write_slice(&self, spec: &'static TableSpec, index: usize, number: usize, column: Column) -> Result<(), TableError> {
        let polars = |source| TableError::Polars { table: spec.name, source };
        let path = self.path(spec.name, index, number);
        // A file of this name may be another folder's, linked (`link`): never written through.
        let _ = fs::remove_file(&path);
        self.taken.lock().expect("no thread panics holding the files").remove(&path);
        let mut one = DataFrame::new(column.len(), vec![compact(column).map_err(polars)?]).map_err(polars)?;
        let mut writer = BufWriter::new(File::create(&path).map_err(io(&path))?);
        IpcWriter::new(&mut writer).with_compression(None).with_compat_level(CompatLevel::newest()).finish(&mut one).map_err(polars)?;
        writer.flush().map_err(io(&path))?;
        // Recorded once the file is complete (nothing writes to it after this).
        let written = Written::of(&writer.get_ref().metadata().map_err(io(&path))?);
        self.files.lock().expect("no thread panics holding the files").insert(path, written);
        Ok(())
    }

    /// Sort a table's rows by primary key, refuse a key seen twice, and write the table: the same
    /// table and the same errors as `sorted_table` then `write`, but a column at a time. Sorting the
    /// frame whole held it three times over at the peak (the rows, their rechunked copy, the sorted
    /// frame); this holds the rows, the order and a sorted slice per core.
    pub fn put_sorted(&self, spec: &'static TableSpec, frame: DataFrame) -> Result<(), TableError> {
        let shape = frame.clear();
        let columns = frame.into_columns();
        let columns: Vec<std::sync::Mutex<Option<Column>>> = columns.into_iter().map(|c| std::sync::Mutex::new(Some(c))).collect();
        self.put_sorted_by_column::<TableError>(spec, shape, &|index| Ok(columns[index].lock().expect("a column is taken once").take().expect("each column is read once")))
    }

    /// `put_sorted` for a table whose columns come one at a time (`column(index)`, each asked
    /// once, the key first): a table disclosed a column at a time holds its key, the order, and a
    /// column per core with its sorted slice, never the whole table. The flatten stage's tables,
    /// whose key and order alone grew too big at scale 4, are sorted by runs (`put_sorted_by_chunks`).
    pub fn put_sorted_by_column<E: From<TableError> + Send>(&self, spec: &'static TableSpec, shape: DataFrame, column: &(dyn Fn(usize) -> Result<Column, E> + Sync)) -> Result<(), E> {
        let KeyOrder { index: key_index, order, keys, nulls: key_nulls } = key_order(spec, &shape, column)?;
        let rows = order.len();
        // Two columns at a time on two cores, and so on: the gather is a column's own work.
        let nulls: Vec<Result<usize, E>> = (0..shape.width())
            .into_par_iter()
            .map(|index| {
                if index == key_index {
                    self.write_column(spec, index, rows, |offset, length| Ok(keys.slice(offset as i64, length)))?;
                    return Ok(key_nulls);
                }
                let unsorted = sortable(spec, &shape, index, Some(rows), column(index)?)?;
                self.write_column(spec, index, rows, |offset, length| unsorted.take(&order.slice(offset as i64, length)))?;
                Ok(unsorted.null_count())
            })
            .collect();
        // The first error in column order, whichever thread met it first.
        let nulls = nulls.into_iter().collect::<Result<Vec<usize>, E>>()?;
        self.record(Table { spec, frame: shape }, rows, nulls);
        Ok(())
    }

    /// Write a table already in key order as it is (a disclosed table: its definition may be the
    /// audience's own, derived from the catalogue's), two columns at a time on two cores.
    pub fn put(&self, table: Table) -> Result<(), TableError> {
        let Table { spec, frame } = table;
        let (rows, shape, nulls) = (frame.height(), frame.clear(), null_counts(&frame));
        frame.into_columns().into_par_iter().enumerate().map(|(index, column)| self.write_column(spec, index, rows, |offset, length| Ok(column.slice(offset as i64, length)))).collect::<Result<Vec<()>, TableError>>()?;
        self.record(Table { spec, frame: shape }, rows, nulls);
        Ok(())
    }

    /// A table written, as recorded: its shape, rows and each column's empty cells (a copy: the
    /// shape's columns are empty).
    fn entry(&self, name: &str) -> Option<(Table, usize, Vec<usize>)> {
        self.written.lock().expect("no thread panics holding the tables").get(name).cloned()
    }

    /// Record a table once every file of it is written: only then is it read.
    fn record(&self, shape: Table, rows: usize, nulls: Vec<usize>) {
        self.written.lock().expect("no thread panics holding the tables").insert(shape.spec.name, (shape, rows, nulls));
    }

    #[cfg(test)]
    fn dir(&self) -> &Path {
        &self.dir
    }
}

impl TableSource for SpilledTables {
    fn names(&self) -> Vec<&'static str> {
        self.written.lock().expect("no thread panics holding the tables").keys().copied().collect()
    }

    fn shape(&self, name: &str) -> Option<Table> {
        self.entry(name).map(|(shape, _, _)| shape)
    }

    fn rows(&self, name: &str) -> Option<usize> {
        self.written.lock().expect("no thread panics holding the tables").get(name).map(|(_, rows, _)| *rows)
    }

    fn load(&self, name: &str) -> Result<Option<Table>, TableError> {
        let Some((shape, _, _)) = self.entry(name) else { return Ok(None) };
        let names: Vec<&str> = shape.frame.get_column_names().into_iter().map(|n| n.as_str()).collect();
        self.load_columns(name, &names)
    }

    fn load_columns(&self, name: &str, columns: &[&str]) -> Result<Option<Table>, TableError> {
        let Some(rows) = self.rows(name) else { return Ok(None) };
        self.load_rows(name, Some(columns), 0, rows)
    }

    fn null_count(&self, name: &str, column: &str) -> Option<usize> {
        let (shape, _, nulls) = self.entry(name)?;
        nulls.get(shape.frame.get_column_index(column)?).copied()
    }

    fn load_rows(&self, name: &str, columns: Option<&[&str]>, offset: usize, rows: usize) -> Result<Option<Table>, TableError> {
        let Some((shape, height, _)) = self.entry(name) else { return Ok(None) };
        check_range(shape.spec, height, offset, rows)?;
        // Each column has its own files: two read at a time on two cores.
        let wanted: Vec<usize> = shape.frame.get_column_names().into_iter().enumerate().filter(|(_, column)| columns.is_none_or(|columns| columns.contains(&column.as_str()))).map(|(index, _)| index).collect();
        let kept = wanted.into_par_iter().map(|index| self.read_column(&shape, height, index, offset, rows)).collect::<Result<Vec<Column>, TableError>>()?;
        let frame = DataFrame::new(rows, kept).map_err(|source| TableError::Polars { table: shape.spec.name, source })?;
        Ok(Some(Table { spec: shape.spec, frame }))
    }

    fn folder(&self) -> Option<&SpilledTables> {
        Some(self)
    }

    fn fingerprint(&self, name: &str) -> Result<Option<String>, TableError> {
        self.table_fingerprint(name)
    }
}

/// A file as this run wrote it: its length and last modification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Written {
    length: u64,
    modified: Option<SystemTime>,
}

impl Written {
    pub(super) fn of(metadata: &fs::Metadata) -> Written {
        Written { length: metadata.len(), modified: metadata.modified().ok() }
    }
}

/// A frame from an Arrow IPC file this run wrote (`written`: as recorded when it was complete),
/// read without checking its text again: the same frame, types included, as polars' `IpcReader`
/// gives (the same conversion of each record batch), but a chunk per batch; only the columns of
/// `projection` (positions in increasing order) when given. A file that is not as it was written
/// (or never was) is a read error naming it, as is one that does not decode. The IPC file is the
/// one at `segment` (offset, length) of the file (several tables' parts of a snapshot file, one
/// after the other: `parts`); the whole file when None.
pub(super) fn read_own_segment(path: &Path, written: Option<Written>, segment: Option<(u64, u64)>, projection: Option<Vec<usize>>) -> Result<DataFrame, TableError> {
    let (batches, schema) = own_file_batches(path, written, segment, projection)?;
    let mut frame: Option<DataFrame> = None;
    for batch in batches {
        let batch = batch?;
        match &mut frame {
            None => frame = Some(batch),
            Some(frame) => {
                frame.vstack_mut_owned(batch).map_err(|e| invalid_file(path, e.to_string()))?;
            }
        }
    }
    // No batch: no rows, the file's columns (as polars' reader gives them).
    Ok(frame.unwrap_or_else(|| DataFrame::empty_with_schema(&schema)))
}

/// A file this run wrote (`written`: its length and modification time as recorded when it was
/// complete), opened, and as it is now: a file cut short, grown, replaced or never written by the
/// run is a read error naming it, never read or taken as the run's own.
pub(super) fn open_own_file(path: &Path, written: Option<Written>) -> Result<(File, Written), TableError> {
    let read_error = |source| TableError::Read { path: path.display().to_string(), source };
    let file = File::open(path).map_err(read_error)?;
    let found = Written::of(&file.metadata().map_err(read_error)?);
    match written {
        Some(written) if written == found => Ok((file, found)),
        Some(written) => Err(invalid_file(path, format!("{} bytes modified {:?}, where this run wrote {} bytes at {:?}", found.length, found.modified, written.length, written.modified))),
        None => Err(invalid_file(path, "a file this run did not write".to_owned())),
    }
}

/// A file's content is not what this run wrote: a read error naming it.
pub(super) fn invalid_file(path: &Path, message: String) -> TableError {
    TableError::Read { path: path.display().to_string(), source: std::io::Error::new(std::io::ErrorKind::InvalidData, message) }
}

/// The record batches of an Arrow IPC file this run wrote, read one at a time as `read_own_segment`
/// reads them (each a frame of one chunk per column), and the file's columns: what a stage going
/// through a file a batch at a time (the merge of sorted runs, `runs`) holds of it, a batch.
/// The IPC file is the one at `segment` (offset, length) of the file; the whole file when None.
pub(super) fn own_file_batches(path: &Path, written: Option<Written>, segment: Option<(u64, u64)>, projection: Option<Vec<usize>>) -> Result<(impl Iterator<Item = Result<DataFrame, TableError>>, Schema), TableError> {
    use polars_arrow::io::ipc::read::{read_file_metadata, FileReader};
    let invalid = |message: String| invalid_file(path, message);
    let (file, found) = open_own_file(path, written)?;
    let (start, length) = segment.unwrap_or((0, found.length));
    if start.checked_add(length).is_none_or(|end| end > found.length) {
        return Err(invalid(format!("bytes {start}..+{length} asked of a file of {} bytes", found.length)));
    }
    let mut reader = Segment::new(BufReader::new(file), start, length).map_err(|e| TableError::Read { path: path.display().to_string(), source: e })?;
    let metadata = read_file_metadata(&mut reader).map_err(|e| invalid(e.to_string()))?;
    // The reader panics on columns out of order: the caller's mistake, but an error rather than a panic.
    if let Some(columns) = projection.as_ref().filter(|columns| !columns.is_sorted_by(|a, b| a < b) || columns.last().is_some_and(|&last| last >= metadata.schema.len())) {
        return Err(invalid(format!("columns {columns:?} asked of a file of {} columns", metadata.schema.len())));
    }
    // SAFETY: `unchecked` skips only the check of text arrays' values (UTF-8, and each view's
    // place in its buffers); the file's structure (footer, messages, buffer sizes) is still
    // checked as it is read. The file is the one this run wrote, unchanged (the same length and
    // modification time as when it was complete, checked above from the open file), in a folder
    // only this run writes (under the output folder's lock), by polars' IPC writer from arrays
    // polars had made valid: its text is what those arrays held, checked once already.
    let batches = unsafe { FileReader::new(reader, metadata, projection, None).unchecked() };
    let schema = Schema::from_arrow_schema(batches.schema());
    let path = path.to_owned();
    Ok((batches.map(move |batch| batch.map(DataFrame::from).map_err(|e| invalid_file(&path, e.to_string()))), schema))
}

/// Bytes `start..start + length` of a reader, read and sought as a whole of their own: an IPC file
/// inside a larger one (its footer is found from the segment's end).
struct Segment<R> {
    inner: R,
    start: u64,
    length: u64,
    /// The position within the segment.
    at: u64,
}

impl<R: std::io::Read + std::io::Seek> Segment<R> {
    fn new(mut inner: R, start: u64, length: u64) -> std::io::Result<Segment<R>> {
        inner.seek(std::io::SeekFrom::Start(start))?;
        Ok(Segment { inner, start, length, at: 0 })
    }
}

impl<R: std::io::Read> std::io::Read for Segment<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.length.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let wanted = out.len().min(left);
        let n = self.inner.read(&mut out[..wanted])?;
        self.at += n as u64;
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Segment<R> {
    fn seek(&mut self, position: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match position {
            std::io::SeekFrom::Start(n) => i128::from(n),
            std::io::SeekFrom::End(delta) => i128::from(self.length) + i128::from(delta),
            std::io::SeekFrom::Current(delta) => i128::from(self.at) + i128::from(delta),
        };
        let at = u64::try_from(target).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a seek before the segment's start"))?;
        self.inner.seek(std::io::SeekFrom::Start(self.start + at))?;
        self.at = at;
        Ok(at)
    }
}

/// A slice of a column with buffers of its own. A slice of a text column (or its rows gathered
/// in key order) shares the whole column's text buffers, and the IPC writer writes every buffer an
/// array holds: each slice's file would carry the whole column's text. Such an array's text is
/// copied into buffers of its own (`gc`: the views as they are, the longer texts' bytes copied;
/// pushing each value again was 2.5 % of the build's CPU); one whose buffers are (nearly) all its
/// own text is written as it is. Other types are written from their slice alone.
fn compact(column: Column) -> PolarsResult<Column> {
    Ok(match column.dtype() {
        DataType::String => {
            let text = column.str()?;
            StringChunked::from_chunk_iter(text.name().clone(), text.downcast_iter().map(|array| if holds_others_text(array) { array.clone().gc() } else { array.clone() })).into_column()
        }
        _ => column,
    })
}

/// Whether a text array's buffers hold more than a quarter more than the texts its views point to
/// (a text of more than 12 bytes is kept in a buffer, a shorter one in its view).
fn holds_others_text(array: &polars_arrow::array::Utf8ViewArray) -> bool {
    let own: usize = array.views().iter().filter(|view| view.length > polars_arrow::array::View::MAX_INLINE_SIZE).map(|view| view.length as usize).sum();
    array.total_buffer_len() > own + own / 4
}

/// Each column's empty cells, in the frame's order (arrow keeps the count: no pass over values).
fn null_counts(frame: &DataFrame) -> Vec<usize> {
    frame.columns().iter().map(Column::null_count).collect()
}

impl Drop for SpilledTables {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(PREFIX) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TableError + '_ {
    move |source| TableError::Io { path: path.display().to_string(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder};
    use chrono::NaiveDate;

    fn places() -> Table {
        let mut b = TableBuilder::new(&catalog::LIEUX);
        for (id, nom) in [("L2", Some("Bâtiment B, 2ᵉ étage — aile « nord »")), ("L1", None)] {
            let mut r = b.row();
            r.set("identifiant_ror", id).set("nom", nom).set("latitude", Some(-21.115_f64)).set("nombre_habitations", Some(12i64));
            b.push(r);
        }
        b.finish().unwrap()
    }

    #[test]
    fn tables_come_back_identical_and_the_folder_goes_with_the_value() {
        let work = tempfile::tempdir().unwrap();
        // A folder a killed run left behind is removed; anything else is not.
        fs::create_dir(work.path().join(format!("{PREFIX}1"))).unwrap();
        fs::write(work.path().join("keep.txt"), "x").unwrap();
        let lieux = places();
        let mut horaires = TableBuilder::new(&catalog::HORAIRES);
        let mut r = horaires.row();
        r.set("horaire_id", "H1").set("offre_id", "O1").set("jour_semaine", Some(7i64)).set("heure_debut", "08:30:00").set("date_debut", NaiveDate::from_ymd_opt(2024, 2, 29));
        horaires.push(r);
        let horaires = horaires.finish().unwrap();
        let spilled = SpilledTables::create(work.path()).unwrap();
        for table in [&lieux, &horaires] {
            spilled.put_sorted(table.spec, table.frame.clone()).unwrap();
        }
        assert!(!work.path().join(format!("{PREFIX}1")).exists());
        assert!(work.path().join("keep.txt").exists());
        assert_eq!(spilled.rows("lieux"), Some(2));
        assert_eq!(spilled.rows("offres"), None);
        let back = spilled.load("lieux").unwrap().unwrap();
        assert_eq!(back.spec.name, "lieux");
        assert!(back.frame.equals_missing(&lieux.frame), "{back:?} != {lieux:?}");
        assert_eq!(back.frame.schema(), lieux.frame.schema());
        let back = spilled.load("horaires").unwrap().unwrap();
        assert!(back.frame.equals_missing(&horaires.frame));
        assert_eq!(back.frame.schema(), horaires.frame.schema());
        assert!(spilled.load("offres").unwrap().is_none());
        let all = load_tables(&spilled, &["horaires", "lieux", "offres"]).unwrap();
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec!["horaires", "lieux"]);

        // A folder that cannot be made is an error naming it.
        let not_a_folder = work.path().join("keep.txt");
        let error = SpilledTables::create(&not_a_folder).unwrap_err().to_string();
        assert!(error.contains("keep.txt/.tmp-tables-"), "{error}");

        let dir = spilled.dir().to_owned();
        assert!(dir.exists());
        drop(spilled);
        assert!(!dir.exists(), "the folder is removed with the value");
    }

    #[test]
    fn a_table_sorted_a_column_at_a_time_is_the_table_sorted_whole() {
        let work = tempfile::tempdir().unwrap();
        let mut spilled = SpilledTables::create(work.path()).unwrap();
        let spec = &catalog::LIEUX;
        // Two chunks, as parts make them, keys out of order.
        let part = |ids: &[(&str, Option<&str>)]| {
            let mut b = TableBuilder::new(spec);
            for (id, nom) in ids {
                let mut r = b.row();
                r.set("identifiant_ror", *id).set("nom", *nom).set("nombre_habitations", Some(id.len() as i64));
                b.push(r);
            }
            b.into_frame().unwrap()
        };
        let mut frame = part(&[("L3", Some("c")), ("L10", None)]);
        frame.vstack_mut_owned(part(&[("L1", Some("a")), ("L2", Some("b"))])).unwrap();
        let whole = crate::table::sorted_table(spec, frame.clone()).unwrap();
        spilled.put_sorted(spec, frame.clone()).unwrap();
        assert_eq!(spilled.rows("lieux"), Some(4));
        let back = spilled.load("lieux").unwrap().unwrap();
        assert!(back.frame.equals_missing(&whole.frame), "{back:?} != {whole:?}");
        assert_eq!(back.frame.schema(), whole.frame.schema());
        assert_eq!(spilled.column("lieux", "nom").unwrap().str().unwrap().iter().collect::<Vec<_>>(), vec![Some("a"), None, Some("b"), Some("c")]);

        let twice = part(&[("L1", None), ("L0", None), ("L1", Some("x"))]);
        let error = spilled.put_sorted(&catalog::LIEUX, twice.clone()).unwrap_err().to_string();
        assert_eq!(error, crate::table::sorted_table(spec, twice.clone()).unwrap_err().to_string());
        assert!(error.contains("\"L1\" appears more than once"), "{error}");

        // Both sinks, a column at a time: the same table, the same refusal; a column not of the
        // key's rows or of the shape's type is an error naming it.
        fn by_column<S: TableSink>(sink: &mut S, spec: &'static TableSpec, frame: &DataFrame, column: impl Fn(usize) -> Result<Column, TableError> + Sync) -> Result<(), TableError> {
            sink.put_sorted_by_column(spec, frame.clear(), &column)
        }
        let columns = |frame: &DataFrame| {
            let frame = frame.clone();
            move |index: usize| Ok(frame.columns()[index].clone())
        };
        let mut memory = Tables::new();
        by_column(&mut memory, spec, &frame, columns(&frame)).unwrap();
        by_column(&mut spilled, spec, &frame, columns(&frame)).unwrap();
        for back in [memory["lieux"].clone(), spilled.load("lieux").unwrap().unwrap()] {
            assert!(back.frame.equals_missing(&whole.frame), "{back:?} != {whole:?}");
            assert_eq!(back.frame.schema(), whole.frame.schema());
        }
        for refused in [by_column(&mut memory, spec, &twice, columns(&twice)), by_column(&mut spilled, spec, &twice, columns(&twice))] {
            assert_eq!(refused.unwrap_err().to_string(), error);
        }
        let short = |index: usize| Ok(if index == 0 { frame.columns()[0].clone() } else { frame.columns()[index].slice(0, 3) });
        for refused in [by_column(&mut memory, spec, &frame, short), by_column(&mut spilled, spec, &frame, short)] {
            let message = refused.unwrap_err().to_string();
            assert!(message.starts_with("table lieux: ") && message.contains("column identifiant_lieu of 3 rows of str where 4 rows of str were expected"), "{message}");
        }
        let texts = |index: usize| frame.columns()[index].cast(&DataType::String).map_err(|source| TableError::Polars { table: "lieux", source });
        for refused in [by_column(&mut memory, spec, &frame, texts), by_column(&mut spilled, spec, &frame, texts)] {
            let message = refused.unwrap_err().to_string();
            assert!(message.starts_with("table lieux: ") && message.contains("column latitude of 4 rows of str where 4 rows of f64 were expected"), "{message}");
        }
    }

    #[test]
    fn a_table_put_as_it_is_comes_back_whole_in_shape_or_by_columns_as_from_memory() {
        let work = tempfile::tempdir().unwrap();
        let spilled = SpilledTables::create_named(work.path(), "-public").unwrap();
        assert!(spilled.dir().ends_with(format!("{PREFIX}{}-public", std::process::id())));
        // A disclosed table: some columns dropped.
        let lieux = places();
        let lieux = Table { spec: lieux.spec, frame: lieux.frame.select(["identifiant_ror", "nom", "latitude"]).unwrap() };
        spilled.put(lieux.clone()).unwrap();
        let memory = Tables::from([("lieux", lieux.clone())]);
        for source in [&spilled as &dyn TableSource, &memory] {
            assert_eq!(source.names(), vec!["lieux"]);
            assert_eq!(source.rows("lieux"), Some(2));
            let shape = source.shape("lieux").unwrap();
            assert_eq!((shape.rows(), shape.frame.schema()), (0, lieux.frame.schema()));
            let back = source.load("lieux").unwrap().unwrap();
            assert!(back.frame.equals_missing(&lieux.frame), "{back:?}");
            assert_eq!(back.frame.schema(), lieux.frame.schema());
            // Only the columns asked for that the table has, in the table's order.
            let some = source.load_columns("lieux", &["latitude", "identifiant_ror", "nombre_habitations"]).unwrap().unwrap();
            assert!(some.frame.equals_missing(&lieux.frame.select(["identifiant_ror", "latitude"]).unwrap()), "{some:?}");
            assert_eq!(source.load_columns("lieux", &[]).unwrap().unwrap().rows(), 2);
            assert!(source.load("offres").unwrap().is_none() && source.shape("offres").is_none());
            // L1 has no name, both have a latitude; no such column, no such table: None.
            assert_eq!((source.null_count("lieux", "nom"), source.null_count("lieux", "latitude")), (Some(1), Some(0)));
            assert_eq!((source.null_count("lieux", "nombre_habitations"), source.null_count("offres", "nom")), (None, None));
        }
        assert_eq!(spilled.column("lieux", "latitude").unwrap().f64().unwrap().get(0), Some(-21.115));
    }

    #[test]
    fn files_read_unchecked_are_what_polars_reads_for_every_type_and_a_file_not_as_written_is_a_read_error_naming_it() {
        let work = tempfile::tempdir().unwrap();
        let spilled = SpilledTables::create(work.path()).unwrap();
        // Every type of the catalogue, with empty cells, over three slices; texts short (kept in
        // their view) and long (kept in a buffer), some not ASCII.
        let rows = 200_000;
        let texts: Vec<Option<String>> = (0..rows).map(|i| match i % 4 {
            0 => None,
            1 => Some(format!("{i}")),
            2 => Some(format!("Établissement n° {i} — « aile nord », 2ᵉ étage")),
            _ => Some(String::new()),
        }).collect();
        let some = |i: usize| i % 7 != 3;
        let frame = DataFrame::new(rows, vec![
            Column::new("texte".into(), texts),
            Column::new("entier".into(), (0..rows).map(|i| some(i).then_some(i as i64 - 7)).collect::<Vec<_>>()),
            Column::new("reel".into(), (0..rows).map(|i| some(i).then_some(i as f64 / 3.0)).collect::<Vec<_>>()),
            Column::new("booleen".into(), (0..rows).map(|i| some(i).then_some(i % 2 == 0)).collect::<Vec<_>>()),
            Column::new("date".into(), (0..rows).map(|i| some(i).then_some(i as i32 % 40_000)).collect::<Vec<_>>()).cast(&DataType::Date).unwrap(),
            Column::new("horodatage".into(), (0..rows).map(|i| some(i).then_some(1_700_000_000_000 + i as i64 * 1_001)).collect::<Vec<_>>()).cast(&DataType::Datetime(TimeUnit::Milliseconds, None)).unwrap(),
        ]).unwrap();
        spilled.put(Table { spec: &catalog::LIEUX, frame: frame.clone() }).unwrap();
        assert_eq!(slices(rows).len(), 3);
        for column in 0..frame.width() {
            for slice in 0..3 {
                let path = spilled.path("lieux", column, slice);
                let written = spilled.files.lock().unwrap().get(&path).copied();
                let unchecked = read_own_segment(&path, written, None, None).unwrap();
                let polars = IpcReader::new(File::open(&path).unwrap()).finish().unwrap();
                assert!(unchecked.equals_missing(&polars), "column {column} slice {slice}");
                assert_eq!(unchecked.schema(), polars.schema());
            }
        }
        let back = spilled.load("lieux").unwrap().unwrap();
        assert!(back.frame.equals_missing(&frame));
        assert_eq!(back.frame.schema(), frame.schema());
        assert!(back.frame.columns().iter().all(|c| c.n_chunks() == 1));
        let some_rows = spilled.load_rows("lieux", None, 66_000, 70_000).unwrap().unwrap();
        assert!(some_rows.frame.equals_missing(&frame.slice(66_000, 70_000)));
        assert_eq!(some_rows.frame.schema(), frame.schema());

        // A file cut short, or grown, is not read unchecked: a read error naming it.
        let cut = spilled.path("lieux", 0, 1);
        let length = fs::metadata(&cut).unwrap().len();
        File::options().write(true).open(&cut).unwrap().set_len(length - 100).unwrap();
        let error = spilled.load_rows("lieux", Some(&["texte"]), 70_000, 10).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("lieux.0.1.arrow")), "{error}");
        assert!(error.to_string().contains("lieux.0.1.arrow"), "{error}");
        assert!(spilled.load_rows("lieux", Some(&["texte"]), 0, 10).is_ok(), "the other slices are still read");
        let grown = spilled.path("lieux", 5, 2);
        File::options().append(true).open(&grown).unwrap().write_all(b"x").unwrap();
        let error = spilled.load("lieux").unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("lieux.5.2.arrow") || path.ends_with("lieux.0.1.arrow")), "{error}");
        let error = spilled.load_columns("lieux", &["horodatage"]).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("lieux.5.2.arrow")), "{error}");
        // A file this run did not write (or one gone) is not read either.
        let error = read_own_segment(&spilled.path("lieux", 9, 0), None, None, None).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("lieux.9.0.arrow")), "{error}");
        fs::write(spilled.path("lieux", 9, 0), "x").unwrap();
        let error = read_own_segment(&spilled.path("lieux", 9, 0), None, None, None).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("lieux.9.0.arrow")), "{error}");
    }

    #[test]
    fn a_text_slice_is_compacted_only_when_its_buffers_hold_other_rows_text() {
        let texts: Vec<Option<String>> = (0..30_000).map(|i| (i % 5 != 0).then(|| if i % 3 == 0 { format!("{i}") } else { format!("une valeur assez longue n° {i}") })).collect();
        let whole = Column::new("texte".into(), texts);
        let buffers = |c: &Column| c.str().unwrap().downcast_iter().map(|a| (a.total_buffer_len(), a.data_buffers().iter().map(|b| b.as_ptr() as usize).collect::<Vec<_>>())).collect::<Vec<_>>();
        // Its own text: written as it is, the same buffers.
        let kept = compact(whole.clone()).unwrap();
        assert_eq!(buffers(&kept), buffers(&whole));
        assert!(kept.equals_missing(&whole));
        // A slice, or rows gathered: the values, in buffers holding only theirs.
        let order = IdxCa::from_vec("order".into(), (0..1_000).rev().map(|i| i * 7).collect());
        for part in [whole.slice(1_000, 3_000), whole.slice(29_000, 1_000), whole.take(&order).unwrap()] {
            let own = compact(part.clone()).unwrap();
            assert!(own.equals_missing(&part));
            assert_eq!(own.null_count(), part.null_count());
            for array in own.str().unwrap().downcast_iter() {
                assert!(!holds_others_text(array));
                assert!(array.total_buffer_len() <= 40 * part.len(), "{} bytes for {} rows", array.total_buffer_len(), part.len());
            }
        }
        assert!(holds_others_text(whole.slice(0, 1_000).str().unwrap().downcast_iter().next().unwrap()));
        // Other types are written from their slice as they are.
        let numbers = Column::new("n".into(), (0..10i64).collect::<Vec<_>>()).slice(2, 3);
        assert!(compact(numbers.clone()).unwrap().equals_missing(&numbers));
    }

    #[test]
    fn a_table_of_several_slices_comes_back_by_any_range_of_rows_as_from_memory() {
        let work = tempfile::tempdir().unwrap();
        let spilled = SpilledTables::create(work.path()).unwrap();
        let spec = &catalog::EQUIPEMENTS;
        // Three slices (66,666 rows, then 66,668 for the last); texts long enough to be kept
        // out of line, so that a slice's file with the whole column's text would show.
        let rows = 200_000;
        let mut b = TableBuilder::new(spec);
        for i in (0..rows).rev() {
            let mut r = b.row();
            r.set("equipement_id", format!("equipement-{i:07}")).set("lieu_id", format!("lieu {}", i % 7)).set("nombre_en_service", (i % 5 != 0).then_some(i as i64));
            b.push(r);
        }
        let unsorted = b.into_frame().unwrap();
        let sorted = crate::table::sorted_table(spec, unsorted.clone()).unwrap();
        spilled.put_sorted(spec, unsorted).unwrap();
        let disclosed = SpilledTables::create_named(work.path(), "-public").unwrap();
        disclosed.put(sorted.clone()).unwrap();
        assert_eq!(slices(rows).len(), 3);
        let file = |s: &SpilledTables, slice| fs::metadata(s.path("equipements", 0, slice)).unwrap().len();
        assert!(file(&spilled, 0) < 4_000_000 && file(&disclosed, 2) < 4_000_000, "each slice's file holds its own rows' text only");
        let memory = Tables::from([("equipements", sorted.clone())]);
        for source in [&spilled as &dyn TableSource, &disclosed, &memory] {
            assert_eq!(source.null_count("equipements", "nombre_en_service"), Some(rows / 5));
            let whole = source.load("equipements").unwrap().unwrap();
            assert!(whole.frame.equals_missing(&sorted.frame));
            for (offset, length) in [(0, rows), (0, 1), (66_665, 2), (66_666, 66_666), (10, 150_000), (rows - 1, 1), (rows, 0)] {
                let some = source.load_rows("equipements", Some(&["nombre_en_service", "equipement_id"]), offset, length).unwrap().unwrap();
                let expected = sorted.frame.select(["equipement_id", "nombre_en_service"]).unwrap().slice(offset as i64, length);
                assert!(some.frame.equals_missing(&expected), "rows {offset}+{length}");
                assert_eq!(some.frame.schema(), expected.schema());
                assert!(some.frame.columns().iter().all(|c| c.n_chunks() == 1));
                assert_eq!(source.load_rows("equipements", None, offset, length).unwrap().unwrap().frame.width(), sorted.frame.width());
            }
            let error = source.load_rows("equipements", None, rows - 1, 2).unwrap_err().to_string();
            assert!(error.contains("equipements") && error.contains("rows 199999..200001"), "{error}");
            assert!(source.load_rows("offres", None, 0, 0).unwrap().is_none());
        }
    }
}
