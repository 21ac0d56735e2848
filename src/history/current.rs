//! The night's table as the history stage reads it: a slice of rows at a time from its source
//! (`TableSource::load_rows`, one slice of `table::spill::slices` per read), never whole. At
//! national scale the largest tables are 700 MB and more in memory; the stage needs each row only
//! to hash it, to name a modification's changed columns and to write it into the new store, each
//! of which goes through the table in key order.

use std::sync::Mutex;

use polars::prelude::*;

use crate::table::digest::row_hashes;
use crate::table::spill::{slices, TableSource};
use crate::table::{TableError, TableSpec};

/// One table of a source, read by slices of rows.
pub struct Current<'a> {
    source: &'a dyn TableSource,
    name: &'static str,
    spec: &'static TableSpec,
    /// The table's columns without rows: what a read of no rows gives.
    empty: DataFrame,
    slices: Vec<(usize, usize)>,
    /// The last slice read with every column, by its index in `slices`: rows asked for in
    /// increasing order (the walk's, then the store writer's) read each slice once or twice, not
    /// once per row group of the previous store that touches it.
    last: Mutex<Option<(usize, DataFrame)>>,
}

/// A source's error as the polars error the store's makers return (the writer names the store).
fn polars_error(e: TableError) -> PolarsError {
    match e {
        TableError::Polars { source, .. } => source,
        other => polars_err!(ComputeError: "{other}"),
    }
}

impl<'a> Current<'a> {
    /// The table `name` of `source` (a name the source gave: its shape and rows are known).
    pub fn new(source: &'a dyn TableSource, name: &'static str) -> Current<'a> {
        let shape = source.shape(name).expect("a name the source gave");
        let height = source.rows(name).expect("a name the source gave");
        Current { source, name, spec: shape.spec, empty: shape.frame, slices: slices(height), last: Mutex::new(None) }
    }

    pub fn primary_key(&self) -> &'static str {
        self.spec.primary_key
    }

    pub fn height(&self) -> usize {
        self.slices.last().map_or(0, |(offset, rows)| offset + rows)
    }

    /// The table's column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.empty.get_column_names().into_iter().map(|n| n.as_str()).collect()
    }

    /// Rows `offset..offset + rows`, every column, read from the source (a slice of `slices` is one
    /// read of its own files).
    pub fn range(&self, offset: usize, rows: usize) -> PolarsResult<DataFrame> {
        if rows == 0 {
            return Ok(self.empty.clone());
        }
        Ok(self.source.load_rows(self.name, None, offset, rows).map_err(polars_error)?.expect("a name the source gave").frame)
    }

    /// The row hash of every row, in row order, hashed a slice at a time.
    pub fn hashes(&self) -> PolarsResult<Vec<[u8; 32]>> {
        let mut hashes = Vec::with_capacity(self.height());
        for &(offset, rows) in &self.slices {
            hashes.extend(row_hashes(&self.range(offset, rows)?)?);
        }
        Ok(hashes)
    }

    /// One key column, whole (a few tens of bytes a row: the walk and the changelog need every key).
    pub fn column(&self, column: &str) -> PolarsResult<Column> {
        let table = self.source.load_columns(self.name, &[column]).map_err(polars_error)?.expect("a name the source gave");
        table.frame.column(column).cloned()
    }

    /// The slice `index` of `slices`, every column: the one read last, or read now.
    fn slice(&self, index: usize) -> PolarsResult<DataFrame> {
        let mut last = self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((cached, frame)) = last.as_ref().filter(|(cached, _)| *cached == index) {
            debug_assert_eq!(*cached, index);
            return Ok(frame.clone());
        }
        // The slice read before is dropped first: at most one is held.
        *last = None;
        let (offset, rows) = self.slices[index];
        let frame = self.range(offset, rows)?;
        *last = Some((index, frame.clone()));
        Ok(frame)
    }

    /// The rows `rows` (row numbers of the table, best in increasing order), every column, in that
    /// order: each run of rows of one slice taken from that slice.
    pub fn take(&self, rows: &[IdxSize]) -> PolarsResult<DataFrame> {
        let mut out: Option<DataFrame> = None;
        let mut start = 0;
        while start < rows.len() {
            let index = self.slices.partition_point(|&(offset, length)| offset + length <= rows[start] as usize);
            let (offset, length) = *self.slices.get(index).ok_or_else(|| polars_err!(OutOfBounds: "row {} of table {} of {} rows", rows[start], self.name, self.height()))?;
            let run = rows[start..].iter().take_while(|&&row| (offset..offset + length).contains(&(row as usize))).count();
            let within: Vec<IdxSize> = rows[start..start + run].iter().map(|&row| row - offset as IdxSize).collect();
            let part = self.slice(index)?.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), within))?;
            match out.as_mut() {
                None => out = Some(part),
                Some(out) => out.vstack_mut_owned(part).map(|_| ())?,
            }
            start += run;
        }
        Ok(out.unwrap_or_else(|| self.empty.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder, Tables};

    /// Any rows of a table of three slices, in any order, are the rows of the whole table.
    #[test]
    fn rows_taken_across_slices_are_the_whole_tables() {
        let rows = 200_000;
        let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
        for i in 0..rows {
            let mut r = b.row();
            r.set("equipement_id", format!("e{i:07}")).set("lieu_id", (i % 3 != 0).then(|| format!("l{}", i % 11))).set("nombre_en_service", Some(i as i64));
            b.push(r);
        }
        let table = b.finish().unwrap();
        let source = Tables::from([("equipements", table.clone())]);
        let current = Current::new(&source, "equipements");
        assert_eq!((current.height(), current.slices.len()), (rows, 3));
        for picked in [vec![], vec![0], vec![5, 66_665, 66_666, 66_667, 150_000, 199_999], (0..rows as IdxSize).step_by(7).collect(), vec![199_999, 3, 70_000, 4]] {
            let expected = table.frame.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), picked.clone())).unwrap();
            let taken = current.take(&picked).unwrap();
            assert!(taken.equals_missing(&expected), "{} rows", picked.len());
            assert_eq!(taken.schema(), expected.schema());
        }
        assert_eq!(current.hashes().unwrap(), row_hashes(&table.frame).unwrap(), "hashed a slice at a time");
        assert!(current.take(&[rows as IdxSize]).is_err(), "past the end");
    }
}
