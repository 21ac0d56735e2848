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
use std::io::Write;
use std::path::{Path, PathBuf};
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
    /// The encoder writes through a buffer straight into the file, where it wrote into a buffer of
    /// the whole file's parts first (copied once more, its fresh pages zeroed by the kernel: about
    /// 3 % of flatten at scale 1). A failing disk is still an error naming the file: the file's
    /// first I/O error is kept (`KeepingError`), the encoder only passing a polars error on. A file
    /// whose writing failed is removed.
    pub fn write<E: From<TableError>>(&self, file: usize, tables: impl IntoIterator<Item = Result<(&'static TableSpec, DataFrame), E>>) -> Result<(), E> {
        let path = self.path(file);
        let io = |source| TableError::Io { path: path.display().to_string(), source };
        let mut out = KeepingError { file: std::io::BufWriter::with_capacity(WRITE_BUFFER, fs::File::create(&path).map_err(io)?), at: 0, error: None };
        let written = write_parts(&path, &mut out, tables).and_then(|parts| {
            let file = out.file.into_inner().map_err(|error| io(error.into_error()))?;
            Ok((Written::of(&file.metadata().map_err(io)?), parts))
        });
        match written {
            Ok((written, parts)) => {
                self.files.lock().expect("no thread panics holding the files").insert(file, PartsFile { written, parts });
                Ok(())
            }
            Err(error) => {
                let _ = fs::remove_file(&path);
                Err(error)
            }
        }
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

/// The buffer between the parts' encoder and their file: the encoder's small writes (headers,
/// padding) gathered, its large ones (a column's buffers) passed straight through.
const WRITE_BUFFER: usize = 256 * 1024;

/// Each table's part encoded one after the other into `out`, and where each lies in it. An I/O
/// error is the file's (`path`), whatever the encoder made of it.
fn write_parts<E: From<TableError>>(path: &Path, out: &mut KeepingError, tables: impl IntoIterator<Item = Result<(&'static TableSpec, DataFrame), E>>) -> Result<Vec<(&'static str, u64, u64)>, E> {
    let mut parts = Vec::new();
    for table in tables {
        let (spec, mut frame) = table?;
        let start = out.at;
        let encoded = IpcWriter::new(&mut *out).with_compression(None).with_compat_level(CompatLevel::newest()).finish(&mut frame);
        if let Some(source) = out.error.take() {
            return Err(TableError::Io { path: path.display().to_string(), source }.into());
        }
        encoded.map_err(|source| TableError::Polars { table: spec.name, source })?;
        parts.push((spec.name, start, out.at - start));
    }
    Ok(parts)
}

/// A parts file being written: the bytes taken so far (where the next part starts), and the
/// first I/O error met, kept whole for the error that names the file.
struct KeepingError<W = std::io::BufWriter<fs::File>> {
    file: W,
    at: u64,
    error: Option<std::io::Error>,
}

impl<W> KeepingError<W> {
    /// Keep the first error whole; the encoder gets one of the same kind. An interrupted write is
    /// not a failure (`write_all` tries again), so it is not kept.
    fn keep(&mut self, error: std::io::Error) -> std::io::Error {
        let kind = error.kind();
        if kind == std::io::ErrorKind::Interrupted {
            return error;
        }
        self.error.get_or_insert(error);
        std::io::Error::from(kind)
    }
}

impl<W: Write> Write for KeepingError<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.file.write(bytes) {
            Ok(taken) => {
                self.at += taken as u64;
                Ok(taken)
            }
            Err(error) => Err(self.keep(error)),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush().map_err(|error| self.keep(error))
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

    /// The writer counts the bytes taken and keeps the first real error whole; an interrupted
    /// write, which `write_all` tries again, is not one.
    #[test]
    fn the_parts_writer_keeps_its_first_error_and_not_an_interruption() {
        struct Flaky(Vec<std::io::ErrorKind>, Vec<u8>);
        impl Write for Flaky {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                match self.0.pop() {
                    Some(kind) => Err(kind.into()),
                    None => {
                        self.1.extend_from_slice(bytes);
                        Ok(bytes.len())
                    }
                }
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut out = KeepingError { file: Flaky(vec![std::io::ErrorKind::Interrupted], Vec::new()), at: 0, error: None };
        out.write_all(b"abc").unwrap();
        assert_eq!((out.at, out.file.1.as_slice(), out.error.is_none()), (3, &b"abc"[..], true));
        out.file.0 = vec![std::io::ErrorKind::PermissionDenied, std::io::ErrorKind::StorageFull];
        assert_eq!(out.write_all(b"d").unwrap_err().kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(out.write_all(b"e").unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!((out.at, out.error.map(|e| e.kind())), (3, Some(std::io::ErrorKind::StorageFull)), "the first error, kept whole");
    }

    /// A disk that fails under the encoder is an I/O error naming the parts file, not the
    /// encoder's; a table that fails to be made stops the file. Either way the file is removed
    /// and no part of it is recorded.
    #[test]
    fn a_parts_file_that_cannot_be_written_is_an_error_naming_it_and_is_removed() {
        let work = tempfile::tempdir().unwrap();
        let parts = Parts::create(work.path().join("parts")).unwrap();
        let spec = &catalog::EQUIPEMENTS;
        // Every write to /dev/full fails with "no space left on device". Rows enough to pass the
        // writer's buffer, so the failure comes from inside the encoder.
        std::os::unix::fs::symlink("/dev/full", parts.path(1)).unwrap();
        let ids: Vec<String> = (0..20_000).map(|i| format!("equipement-{i:08}")).collect();
        let many = part(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        let error = parts.write(1, tables(vec![(spec, many)])).unwrap_err();
        match &error {
            TableError::Io { path, source } => assert!(path.ends_with("parts/1.arrow") && source.kind() == std::io::ErrorKind::StorageFull, "{error}"),
            other => panic!("an I/O error naming the file, not {other}"),
        }
        assert!(fs::symlink_metadata(parts.path(1)).is_err(), "removed");
        // A table that could not be made, after one that was written.
        let failing = vec![Ok((spec, part(&["a"]))), Err(TableError::DuplicateKey { table: "equipements", key: "a".into() })];
        assert!(matches!(parts.write(2, failing).unwrap_err(), TableError::DuplicateKey { .. }));
        assert!(!parts.path(2).exists(), "removed");
        assert!(parts.files.lock().unwrap().is_empty(), "nothing recorded");
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
