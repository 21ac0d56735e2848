//! Columns a table takes from another table of the night as they are: every row, the values
//! unchanged (a disclosed table no filter shortened, whose column the audience gets as it is).
//! On disk such a column is not read back and written again: its slice files are linked from the
//! other table's folder (a hard link, the same bytes; a copy where the file system cannot link).
//! For the DREES and the HDH, no row is filtered out, so most of their tables' columns are the
//! snapshot's: reading, checking and writing them again was most of their disclosure's time.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use super::{check_slice, io, open_own_file, slices, SpilledTables, Written};
use crate::table::{Table, TableError, TableSpec};

/// A slice of the table from the columns made (`made`) and the columns taken as they are
/// (`shared`), in the table's order (`spec.columns`, which also names the columns the audience
/// does not get: those are in neither).
pub(super) fn assemble(spec: &'static TableSpec, made: DataFrame, shared: DataFrame) -> Result<DataFrame, TableError> {
    let rows = made.height();
    let mut by_name: BTreeMap<String, Column> = made.into_columns().into_iter().chain(shared.into_columns()).map(|c| (c.name().to_string(), c)).collect();
    let columns: Vec<Column> = spec.columns.iter().filter_map(|c| by_name.remove(c.name)).collect();
    if let Some(stray) = by_name.keys().next() {
        return Err(TableError::Polars { table: spec.name, source: polars_err!(ColumnNotFound: "{stray} is not a column of the table") });
    }
    DataFrame::new(rows, columns).map_err(|source| TableError::Polars { table: spec.name, source })
}

/// The maker of whole slices for `put_by_slice` from a maker of the other columns (`make`): the
/// columns `same` read from `source`'s table `from`, a slice at a time (a sink that cannot link).
pub(super) fn reading_shared<'a, E: From<TableError>>(spec: &'static TableSpec, source: &'a dyn super::TableSource, from: &'a str, same: &'a [&str], mut make: impl FnMut(usize, usize) -> Result<DataFrame, E> + 'a) -> impl FnMut(usize, usize) -> Result<DataFrame, E> + 'a {
    move |offset, length| {
        let made = make(offset, length)?;
        let shared = source.load_rows(from, Some(same), offset, length)?.ok_or_else(|| TableError::Polars { table: spec.name, source: polars_err!(ColumnNotFound: "table {from}") })?;
        Ok(assemble(spec, made, shared.frame)?)
    }
}

impl SpilledTables {
    /// `TableSink::put_by_slice_sharing` on disk: each column of `same` is linked from `from`'s
    /// files (the source must be a folder of the night, and `from` a table of `rows` rows), then
    /// the other columns are written a slice at a time as `put_by_slice` does.
    pub(super) fn put_sharing<E: From<TableError>>(&self, spec: &'static TableSpec, rows: usize, from_folder: &SpilledTables, from: &str, same: &[&str], mut make: impl FnMut(usize, usize) -> Result<DataFrame, E>) -> Result<(), E> {
        let missing = |what: String| TableError::Polars { table: spec.name, source: polars_err!(ColumnNotFound: "{what}") };
        let (from_shape, from_rows, from_nulls) = from_folder.entry(from).ok_or_else(|| missing(format!("table {from} of the night")))?;
        if from_rows != rows {
            return Err(TableError::Polars { table: spec.name, source: polars_err!(ShapeMismatch: "{rows} rows, but table {from} has {from_rows}") }.into());
        }
        let made_shape = make(0, 0)?;
        let shared_shape = from_shape.frame.select(same.iter().copied()).map_err(|source| TableError::Polars { table: spec.name, source })?;
        let shape = assemble(spec, made_shape, shared_shape)?;
        let mut nulls = vec![0; shape.width()];
        let is_shared = |column: &Column| same.contains(&column.name().as_str());
        let made_indices: Vec<usize> = shape.columns().iter().enumerate().filter(|(_, c)| !is_shared(c)).map(|(index, _)| index).collect();
        for (index, column) in shape.columns().iter().enumerate().filter(|(_, c)| is_shared(c)) {
            let from_index = from_shape.frame.get_column_index(column.name()).ok_or_else(|| missing(format!("{from}.{}", column.name())))?;
            for slice in 0..slices(rows).len() {
                self.link_or_copy(from_folder, &from_folder.path(from, from_index, slice), self.path(spec.name, index, slice))?;
            }
            nulls[index] = from_nulls[from_index];
        }
        for (number, (offset, length)) in slices(rows).into_iter().enumerate() {
            let made = make(offset, length)?;
            let made_shape = shape.select(made_indices.iter().map(|&i| shape.columns()[i].name().clone())).map_err(|source| TableError::Polars { table: spec.name, source })?;
            check_slice(spec, &made_shape, &made, length)?;
            let columns: Vec<(usize, Column)> = made_indices.iter().copied().zip(made.into_columns()).collect();
            for (index, column) in &columns {
                nulls[*index] += column.null_count();
            }
            columns.into_par_iter().map(|(index, column)| self.write_slice(spec, index, number, column)).collect::<Result<Vec<()>, TableError>>()?;
        }
        self.record(Table { spec, frame: shape }, rows, nulls);
        Ok(())
    }
}

impl SpilledTables {
    /// `from` (a file of `from_folder`) under another name of this folder: a hard link (both
    /// folders are in the output folder), else a copy, recorded as this folder's own file, so it is
    /// read like one (`read_own_segment`). Only a file as its folder wrote it is taken: one cut short
    /// or replaced since is a read error naming it, as reading it would be. Neither folder's files
    /// are written again once made (`write_slice` removes a name before writing it), so the link
    /// is never a way for one table's writing to change the other's.
    fn link_or_copy(&self, from_folder: &SpilledTables, from: &Path, to: PathBuf) -> Result<(), TableError> {
        let recorded = from_folder.files.lock().expect("no thread panics holding the files").get(from).copied();
        let (_, found) = open_own_file(from, recorded)?;
        hard_link_or_copy(from, &to).map_err(io(&to))?;
        let written = Written::of(&fs::metadata(&to).map_err(io(&to))?);
        let first = from_folder.taken.lock().expect("no thread panics holding the files").get(from).cloned().unwrap_or_else(|| (from.to_owned(), found));
        self.taken.lock().expect("no thread panics holding the files").insert(to.clone(), first);
        self.files.lock().expect("no thread panics holding the files").insert(to, written);
        Ok(())
    }
}

/// `to` holding the same bytes as `from`: a hard link (the night's folders are all in the output
/// folder), else a copy. A file already named `to` is removed first, so that a link is never
/// written through. Also how a publication takes another's release files (`release::shared`).
pub fn hard_link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    let _ = fs::remove_file(to);
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::table::spill::{TableSink, TableSource};
    use crate::table::{catalog, TableBuilder, Tables};

    /// A table of three slices taken partly as it is from a folder of the night: the linked
    /// columns are the source's files, the table is the one made whole, in memory and on disk, and
    /// neither writing the table again nor removing its folder changes the source.
    #[test]
    fn columns_taken_as_they_are_are_linked_and_the_table_is_the_same() {
        let spec = &catalog::EQUIPEMENTS;
        let rows = 200_000;
        let mut b = TableBuilder::new(spec);
        for i in 0..rows {
            let mut r = b.row();
            r.set("equipement_id", format!("equipement-{i:07}")).set("lieu_id", (i % 9 != 0).then(|| format!("lieu {}", i % 7))).set("nombre_en_service", (i % 5 != 0).then_some(i as i64));
            b.push(r);
        }
        let table = b.finish().unwrap();
        let work = tempfile::tempdir().unwrap();
        let snapshot = SpilledTables::create_named(work.path(), "-snapshot").unwrap();
        snapshot.put(table.clone()).unwrap();
        // The count doubled stands for a column the audience gets transformed.
        let doubled = |frame: &DataFrame| (frame.column("nombre_en_service").unwrap().as_materialized_series() * 2).into_column();
        // The audience does not get the type of equipment.
        let mut expected = table.frame.select(["equipement_id", "lieu_id", "nombre_en_service"]).unwrap();
        expected.with_column(doubled(&table.frame)).unwrap();
        let same = ["equipement_id", "lieu_id"];
        let make = |offset: usize, length: usize| -> Result<DataFrame, TableError> {
            let part = snapshot.load_rows("equipements", Some(&["nombre_en_service"]), offset, length)?.unwrap();
            Ok(DataFrame::new(length, vec![doubled(&part.frame)]).unwrap())
        };
        let mut on_disk = SpilledTables::create_named(work.path(), "-public").unwrap();
        on_disk.put_by_slice_sharing(spec, rows, &snapshot, "equipements", &same, make).unwrap();
        let mut in_memory = Tables::new();
        in_memory.put_by_slice_sharing(spec, rows, &snapshot, "equipements", &same, make).unwrap();
        for sink in [&on_disk as &dyn TableSource, &in_memory] {
            let loaded = sink.load("equipements").unwrap().unwrap().frame;
            assert!(loaded.equals_missing(&expected), "{:?}\n{:?}", loaded.head(Some(3)), expected.head(Some(3)));
            assert_eq!(sink.null_count("equipements", "lieu_id"), Some(rows.div_ceil(9)));
            assert_eq!(sink.null_count("equipements", "nombre_en_service"), Some(rows / 5));
        }
        let inode = |folder: &SpilledTables, column, slice| fs::metadata(folder.path("equipements", column, slice)).unwrap().ino();
        assert_eq!(slices(rows).len(), 3);
        for slice in 0..3 {
            assert_eq!(inode(&on_disk, 1, slice), inode(&snapshot, 1, slice), "lieu_id is linked");
            assert_ne!(inode(&on_disk, 2, slice), inode(&snapshot, 4, slice), "nombre_en_service is written");
        }
        // Written again, then removed: the snapshot's files are untouched.
        on_disk.put(Table { spec, frame: expected.slice(0, 10) }).unwrap();
        assert_ne!(inode(&on_disk, 1, 0), inode(&snapshot, 1, 0));
        drop(on_disk);
        assert!(snapshot.load("equipements").unwrap().unwrap().frame.equals_missing(&table.frame));
        // A source file no longer as it was written is not taken: a read error naming it.
        let cut = snapshot.path("equipements", 1, 2);
        fs::OpenOptions::new().write(true).open(&cut).unwrap().set_len(100).unwrap();
        let mut again = SpilledTables::create_named(work.path(), "-again").unwrap();
        let error = again.put_by_slice_sharing(spec, rows, &snapshot, "equipements", &same, make).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("equipements.1.2.arrow")), "{error}");
    }
}
