//! A previous SCD2 store as the history stage reads it: a part at a time. A store holds every
//! version of every row ever published, so it outgrows the table it follows night after night;
//! reading it whole would make the history stage's memory grow with the years. The release module
//! gives the stored file (read a Parquet row group at a time); tests and the fallback paths give a
//! frame already in memory.

use polars::prelude::*;

/// Rows of a previous store, read by range (from the thread that writes the new store's row
/// groups, too).
pub trait StoredRows: Send + Sync {
    fn height(&self) -> usize;
    /// The natural reading units, (offset, rows) in order: a file's row groups.
    fn parts(&self) -> Vec<(usize, usize)>;
    /// Whether the store has this column.
    fn has_column(&self, name: &str) -> bool;
    /// Rows `offset .. offset + rows`, with the named columns only (every column when None). Reads
    /// are expected in increasing order; any order is answered correctly.
    fn read(&self, offset: usize, rows: usize, columns: Option<&[&str]>) -> PolarsResult<DataFrame>;
    /// The whole store in memory.
    fn read_all(&self) -> PolarsResult<DataFrame> {
        self.read(0, self.height(), None)
    }
}

/// Parts of a frame in memory: the row groups its file would have, so both kinds of store are
/// walked the same way.
impl StoredRows for DataFrame {
    fn height(&self) -> usize {
        DataFrame::height(self)
    }

    fn parts(&self) -> Vec<(usize, usize)> {
        crate::table::write::row_groups(DataFrame::height(self))
    }

    fn has_column(&self, name: &str) -> bool {
        self.column(name).is_ok()
    }

    fn read(&self, offset: usize, rows: usize, columns: Option<&[&str]>) -> PolarsResult<DataFrame> {
        let part = self.slice(offset as i64, rows);
        match columns {
            Some(columns) => part.select(columns.iter().copied()),
            None => Ok(part),
        }
    }

    fn read_all(&self) -> PolarsResult<DataFrame> {
        Ok(self.clone())
    }
}
