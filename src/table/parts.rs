//! The tables' rows on disk while the snapshot is being read: each file's rows of each table, a
//! part, go to a file of their own as soon as the file is flattened; a table is made from its
//! parts, in file order, once every file is read. At national scale keeping every table's rows in
//! memory until the end was most of the flatten stage's 4 GB.
//!
//! Arrow IPC, uncompressed, one file per table per part: a part is one file's rows, small, with
//! buffers of its own (unlike a slice of a whole column, see `spill`), so it is encoded whole. The
//! part files are written by the thread that flattened the file, in parallel; which parts make a
//! table, and in which order, is the caller's (the merge, in file order). The folder is inside the
//! run's spill folder and goes with it. The parts are read back without checking their text
//! again, as the spilled tables are (`spill::read_own_file`: each file as it was written, or a
//! read error naming it).

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;

use polars::prelude::*;
use rayon::prelude::*;

use super::spill::{read_own_file, Written};
use super::{TableBuilder, TableError, TableSpec};

/// A folder of table parts.
#[derive(Debug)]
pub struct Parts {
    dir: PathBuf,
    /// Each part written, as it was once complete: only such a file is read without checks.
    files: Mutex<HashMap<PathBuf, Written>>,
}

impl Parts {
    /// A new, empty folder of parts.
    pub fn create(dir: PathBuf) -> Result<Parts, TableError> {
        fs::create_dir_all(&dir).map_err(|source| TableError::Io { path: dir.display().to_string(), source })?;
        Ok(Parts { dir, files: Mutex::new(HashMap::new()) })
    }

    fn path(&self, table: &str, part: usize) -> PathBuf {
        self.dir.join(format!("{table}.{part}.arrow"))
    }

    /// Write part number `part` of a table (its rows, unsorted). Encoded in memory first, so that a
    /// failing disk is an error naming the file rather than one of the encoder's.
    pub fn write(&self, spec: &'static TableSpec, part: usize, mut frame: DataFrame) -> Result<(), TableError> {
        // About the frame's size: grown by doubling, the buffer was copied a few times over.
        let mut bytes = Vec::with_capacity(frame.estimated_size() + 64 * 1024);
        IpcWriter::new(&mut bytes)
            .with_compression(None)
            .with_compat_level(CompatLevel::newest())
            .finish(&mut frame)
            .map_err(|source| TableError::Polars { table: spec.name, source })?;
        drop(frame);
        let path = self.path(spec.name, part);
        let io = |source| TableError::Io { path: path.display().to_string(), source };
        fs::write(&path, bytes).map_err(io)?;
        let written = Written::of(&fs::metadata(&path).map_err(io)?);
        self.files.lock().expect("no thread panics holding the files").insert(path, written);
        Ok(())
    }

    /// The listed columns (by position in the table) of the listed parts, in that order, as one
    /// frame (a chunk per part), the columns in the table's order. No parts: the table's empty
    /// columns. Only those columns are read of each file: making a table a column at a time holds
    /// one column, not the table.
    pub fn read_columns(&self, spec: &'static TableSpec, parts: &[usize], columns: &[usize]) -> Result<DataFrame, TableError> {
        let mut columns = columns.to_vec();
        columns.sort_unstable();
        columns.dedup();
        let frames: Vec<DataFrame> = parts.par_iter().map(|&part| self.read_part(spec, part, &columns)).collect::<Result<_, _>>()?;
        let mut frames = frames.into_iter();
        let Some(mut all) = frames.next() else {
            let empty = TableBuilder::new(spec).into_frame()?;
            let names: Vec<PlSmallStr> = columns.iter().map(|&i| empty.columns()[i].name().clone()).collect();
            return empty.select(names).map_err(|source| TableError::Polars { table: spec.name, source });
        };
        for frame in frames {
            all.vstack_mut_owned(frame).map_err(|source| TableError::Polars { table: spec.name, source })?;
        }
        Ok(all)
    }

    /// The columns (sorted, each once) of a part. A part that does not decode, or is not as it
    /// was written, was damaged on disk: a read error naming it, like a failed read.
    fn read_part(&self, spec: &'static TableSpec, part: usize, columns: &[usize]) -> Result<DataFrame, TableError> {
        let path = self.path(spec.name, part);
        let written = self.files.lock().expect("no thread panics holding the files").get(&path).copied();
        let mut frame = read_own_file(&path, written, Some(columns.to_vec()))?;
        // A chunk per part, as polars' reader gives it (a no-op for a part written as one chunk).
        frame.rechunk_mut();
        Ok(frame)
    }

    /// Remove the listed parts' files of a table, once it is made. Best effort: the folder goes
    /// at the end of the run anyway; this frees the disk sooner.
    pub fn remove_table(&self, spec: &'static TableSpec, parts: &[usize]) {
        for &part in parts {
            let _ = fs::remove_file(self.path(spec.name, part));
        }
    }

    /// Remove the folder (what is left of it). Best effort, as above.
    pub fn remove(self) {
        let _ = fs::remove_dir_all(&self.dir);
    }

    #[cfg(test)]
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::catalog;

    fn part(ids: &[&str]) -> DataFrame {
        let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
        for id in ids {
            let mut r = b.row();
            r.set("equipement_id", *id).set("lieu_id", "L").set("nombre_en_service", Some(3i64));
            b.push(r);
        }
        b.into_frame().unwrap()
    }

    #[test]
    fn parts_come_back_in_the_order_asked_a_column_or_more_at_a_time_and_a_damaged_one_is_a_read_error_naming_it() {
        let work = tempfile::tempdir().unwrap();
        let parts = Parts::create(work.path().join("parts")).unwrap();
        let spec = &catalog::EQUIPEMENTS;
        parts.write(spec, 7, part(&["c", "a"])).unwrap();
        parts.write(spec, 2, part(&["b"])).unwrap();
        let all: Vec<usize> = (0..spec.columns.len()).collect();
        let whole = parts.read_columns(spec, &[7, 2], &all).unwrap();
        let ids = crate::table::text_column(spec, &whole, "equipement_id").unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec![Some("c"), Some("a"), Some("b")]);
        assert_eq!(whole.schema(), part(&[]).schema());
        // Some columns: the table's order whatever the order asked; the files stay until removed.
        let some = parts.read_columns(spec, &[2, 7], &[4, 0]).unwrap();
        assert!(some.equals_missing(&part(&["b", "c", "a"]).select(["equipement_id", "nombre_en_service"]).unwrap()), "{some:?}");
        parts.remove_table(spec, &[7]);
        assert!(!parts.path(spec.name, 7).exists() && parts.path(spec.name, 2).exists());

        let empty = parts.read_columns(spec, &[], &all).unwrap();
        assert_eq!((empty.height(), empty.schema()), (0, part(&[]).schema()));
        assert_eq!(parts.read_columns(spec, &[], &[1]).unwrap().get_column_names(), ["lieu_id"]);

        // Read without checks, a part is what polars' reader gives; one cut short is a read error.
        let polars = IpcReader::new(fs::File::open(parts.path(spec.name, 2)).unwrap()).with_projection(Some(vec![0, 4])).finish().unwrap();
        let unchecked = parts.read_columns(spec, &[2], &[4, 0]).unwrap();
        assert!(unchecked.equals_missing(&polars) && unchecked.schema() == polars.schema(), "{unchecked:?}");
        let length = fs::metadata(parts.path(spec.name, 2)).unwrap().len();
        fs::File::options().write(true).open(parts.path(spec.name, 2)).unwrap().set_len(length - 1).unwrap();
        let error = parts.read_columns(spec, &[2], &all).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("equipements.2.arrow")), "{error}");

        fs::write(parts.path(spec.name, 3), "not arrow").unwrap();
        let error = parts.read_columns(spec, &[3], &all).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("equipements.3.arrow")), "{error}");
        let error = parts.read_columns(spec, &[4], &all).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("equipements.4.arrow")), "{error}");

        let dir = parts.dir().to_owned();
        parts.remove();
        assert!(!dir.exists());
    }
}
