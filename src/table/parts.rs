//! The tables' rows on disk while the snapshot is being read: each file's rows of each table, a
//! part, go to disk as soon as the file is flattened; a table is made from its parts, in file
//! order, once every file is read. At national scale keeping every table's rows in memory until
//! the end was most of the flatten stage's 4 GB.
//!
//! Arrow IPC, uncompressed, one file per snapshot file holding its parts one after the other (an
//! IPC file each, read where it lies): a part is one file's rows of one table, small, with buffers
//! of its own (unlike a slice of a whole column, see `spill`), so it is encoded whole. A file of
//! its own per table and file was up to ten files per snapshot file, and making files is not free
//! (`scratch` says why). The files are written by the thread that flattened the snapshot file, in
//! parallel; which parts make a table, and in which order, is the caller's (the merge, in file
//! order). The folder is inside the run's spill folder and goes with it. The parts are read back
//! without checking their text again, as the spilled tables are (`spill::read_own_segment`: each
//! file as it was written, or a read error naming it).

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;

use polars::prelude::*;
use rayon::prelude::*;

use super::spill::{invalid_file, read_own_segment, Written};
use super::{TableBuilder, TableError, TableSpec};

/// A folder of table parts.
#[derive(Debug)]
pub struct Parts {
    dir: PathBuf,
    /// Each snapshot file's parts file (by the file's number), as it was once complete: only such
    /// a file is read without checks.
    files: Mutex<HashMap<usize, PartsFile>>,
}

/// A parts file as it was written, and where each table's part is in it: (table, offset, length),
/// until the table is made.
#[derive(Debug)]
struct PartsFile {
    written: Written,
    parts: Vec<(&'static str, u64, u64)>,
}

impl Parts {
    /// A new, empty folder of parts.
    pub fn create(dir: PathBuf) -> Result<Parts, TableError> {
        fs::create_dir_all(&dir).map_err(|source| TableError::Io { path: dir.display().to_string(), source })?;
        Ok(Parts { dir, files: Mutex::new(HashMap::new()) })
    }

    fn path(&self, file: usize) -> PathBuf {
        self.dir.join(format!("{file}.arrow"))
    }

    /// Write snapshot file number `file`'s parts: each table's rows (unsorted), each frame made
    /// as it is encoded and dropped once it is (a file's tables are not held twice over at once).
    /// Encoded in memory first, so that a failing disk is an error naming the file rather than one
    /// of the encoder's.
    pub fn write<E: From<TableError>>(&self, file: usize, tables: impl IntoIterator<Item = Result<(&'static TableSpec, DataFrame), E>>) -> Result<(), E> {
        let mut bytes = Vec::new();
        let mut parts = Vec::new();
        for table in tables {
            let (spec, mut frame) = table?;
            // About the frame's size: grown by doubling, the buffer was copied a few times over.
            bytes.reserve(frame.estimated_size() + 64 * 1024);
            let start = bytes.len();
            IpcWriter::new(&mut bytes)
                .with_compression(None)
                .with_compat_level(CompatLevel::newest())
                .finish(&mut frame)
                .map_err(|source| TableError::Polars { table: spec.name, source })?;
            parts.push((spec.name, start as u64, (bytes.len() - start) as u64));
        }
        let path = self.path(file);
        let io = |source| TableError::Io { path: path.display().to_string(), source };
        fs::write(&path, bytes).map_err(io)?;
        let written = Written::of(&fs::metadata(&path).map_err(io)?);
        self.files.lock().expect("no thread panics holding the files").insert(file, PartsFile { written, parts });
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

    /// The columns (sorted, each once) of a part. A part that does not decode, or whose file is
    /// not as it was written, was damaged on disk: a read error naming the file, like a failed read.
    fn read_part(&self, spec: &'static TableSpec, part: usize, columns: &[usize]) -> Result<DataFrame, TableError> {
        let path = self.path(part);
        let (written, segment) = match self.files.lock().expect("no thread panics holding the files").get(&part) {
            Some(file) => match file.parts.iter().find(|(table, ..)| *table == spec.name) {
                Some(&(_, offset, length)) => (Some(file.written), Some((offset, length))),
                None => return Err(invalid_file(&path, format!("no {} part in it", spec.name))),
            },
            None => (None, None),
        };
        let mut frame = read_own_segment(&path, written, segment, Some(columns.to_vec()))?;
        // A chunk per part, as polars' reader gives it (a no-op for a part written as one chunk).
        frame.rechunk_mut();
        Ok(frame)
    }

    /// Forget a table's listed parts, once it is made, and remove each file none of whose parts
    /// are left. Best effort: the folder goes at the end of the run anyway; this frees the disk
    /// sooner.
    pub fn remove_table(&self, spec: &'static TableSpec, parts: &[usize]) {
        let mut emptied = Vec::new();
        {
            let mut files = self.files.lock().expect("no thread panics holding the files");
            for &part in parts {
                let Some(file) = files.get_mut(&part) else { continue };
                file.parts.retain(|(table, ..)| *table != spec.name);
                if file.parts.is_empty() {
                    files.remove(&part);
                    emptied.push(part);
                }
            }
        }
        // Outside the lock: the other lane reads parts meanwhile.
        for part in emptied {
            let _ = fs::remove_file(self.path(part));
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

    fn tables(frames: Vec<(&'static TableSpec, DataFrame)>) -> impl Iterator<Item = Result<(&'static TableSpec, DataFrame), TableError>> {
        frames.into_iter().map(Ok)
    }

    /// Capacities' rows, as a second table in the same snapshot files.
    fn capacities(ids: &[&str]) -> DataFrame {
        let mut b = TableBuilder::new(&catalog::CAPACITES);
        for id in ids {
            let mut r = b.row();
            r.set("capacite_id", *id).set("lieu_id", "L");
            b.push(r);
        }
        b.into_frame().unwrap()
    }

    #[test]
    fn parts_come_back_in_the_order_asked_a_column_or_more_at_a_time_and_a_damaged_one_is_a_read_error_naming_it() {
        let work = tempfile::tempdir().unwrap();
        let parts = Parts::create(work.path().join("parts")).unwrap();
        let (spec, other) = (&catalog::EQUIPEMENTS, &catalog::CAPACITES);
        parts.write(7, tables(vec![(other, capacities(&["x", "y"])), (spec, part(&["c", "a"]))])).unwrap();
        parts.write(2, tables(vec![(spec, part(&["b"])), (other, capacities(&["z"]))])).unwrap();
        parts.write(5, tables(vec![(other, capacities(&["w"]))])).unwrap();
        assert_eq!(fs::read_dir(parts.dir()).unwrap().count(), 3, "a file per snapshot file");
        let all: Vec<usize> = (0..spec.columns.len()).collect();
        let whole = parts.read_columns(spec, &[7, 2], &all).unwrap();
        let ids = crate::table::text_column(spec, &whole, "equipement_id").unwrap();
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec![Some("c"), Some("a"), Some("b")]);
        assert_eq!(whole.schema(), part(&[]).schema());
        let every: Vec<usize> = (0..other.columns.len()).collect();
        let others = parts.read_columns(other, &[2, 5, 7], &every).unwrap();
        assert!(others.equals_missing(&capacities(&["z", "w", "x", "y"])), "{others:?}");
        // Some columns: the table's order whatever the order asked.
        let some = parts.read_columns(spec, &[2, 7], &[4, 0]).unwrap();
        assert!(some.equals_missing(&part(&["b", "c", "a"]).select(["equipement_id", "nombre_en_service"]).unwrap()), "{some:?}");
        // A file goes once none of its parts are left.
        parts.remove_table(spec, &[7, 2]);
        assert!(parts.path(7).exists() && parts.path(2).exists());
        assert!(matches!(parts.read_columns(spec, &[2], &all).unwrap_err(), TableError::Read { path, .. } if path.ends_with("parts/2.arrow")));
        parts.remove_table(other, &[7, 5]);
        assert!(!parts.path(7).exists() && !parts.path(5).exists() && parts.path(2).exists());

        let empty = parts.read_columns(spec, &[], &all).unwrap();
        assert_eq!((empty.height(), empty.schema()), (0, part(&[]).schema()));
        assert_eq!(parts.read_columns(spec, &[], &[1]).unwrap().get_column_names(), ["lieu_id"]);

        // Read without checks, a part is what polars' reader gives of the same rows.
        parts.write(3, tables(vec![(other, capacities(&["v"])), (spec, part(&["b"]))])).unwrap();
        let alone = work.path().join("alone.arrow");
        IpcWriter::new(fs::File::create(&alone).unwrap()).finish(&mut part(&["b"])).unwrap();
        let polars = IpcReader::new(fs::File::open(&alone).unwrap()).with_projection(Some(vec![0, 4])).finish().unwrap();
        let unchecked = parts.read_columns(spec, &[3], &[4, 0]).unwrap();
        assert!(unchecked.equals_missing(&polars) && unchecked.schema() == polars.schema(), "{unchecked:?}");
        // A file cut short is a read error naming it, whichever part is asked.
        let length = fs::metadata(parts.path(3)).unwrap().len();
        fs::File::options().write(true).open(parts.path(3)).unwrap().set_len(length - 1).unwrap();
        for table in [spec, other] {
            let error = parts.read_columns(table, &[3], &(0..table.columns.len()).collect::<Vec<_>>()).unwrap_err();
            assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("parts/3.arrow")), "{error}");
        }

        // Not written by this run, or not decoding: read errors naming the file.
        fs::write(parts.path(4), "not arrow").unwrap();
        let error = parts.read_columns(spec, &[4], &all).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("parts/4.arrow")), "{error}");
        let error = parts.read_columns(spec, &[6], &all).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("parts/6.arrow")), "{error}");
        parts.write(8, tables(vec![(spec, part(&["d"]))])).unwrap();
        let mut files = parts.files.lock().unwrap();
        let written = files.get_mut(&8).unwrap();
        written.parts[0].2 -= 1; // a part's footer not where it is said to end
        drop(files);
        let error = parts.read_columns(spec, &[8], &all).unwrap_err();
        assert!(matches!(&error, TableError::Read { path, .. } if path.ends_with("parts/8.arrow")), "{error}");

        let dir = parts.dir().to_owned();
        parts.remove();
        assert!(!dir.exists());
    }
}
