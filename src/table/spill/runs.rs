//! A table sorted by its key with memory bounded by a constant, not by the table: an external
//! merge sort. The flatten stage's biggest tables (at scale 4, 23 million hours, 10 million
//! contacts) were sorted whole: the key, its order, the arg sort's pairs and a column per core
//! held at once grew with the table, and made the stage's peak (2 GB).
//!
//! Pass 1 reads the rows a chunk at a time (a few parts: every column), up to a run's budget of
//! bytes, sorts the run in memory as `key_order` sorts a key (ascending, empty keys first, equal
//! keys in their order), and writes it to a file of the spill folder in small record batches.
//! Pass 2 merges the runs by key, a batch of each at a time, and writes the table in the slices
//! of `slices(rows)`, every column of a slice at once: the same files as sorting the whole. Equal
//! keys come out in run order, and a run holds rows in their order: the merge is as stable as the
//! sort of the whole. A table that fits one run is sorted in memory and written as it was before
//! (`put_sorted`): no run file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use polars::prelude::*;
use rayon::prelude::*;

use super::{compact, invalid_file, own_file_batches, slices, SpilledTables, Written};
use crate::table::{check_sorted_keys, Table, TableError, TableSpec};

/// A run's budget: the estimated bytes of its columns as read (about 400 k rows of hours, of 84
/// bytes a row). Sorting a run holds it, its order and the arg sort's pairs (4 and 24 bytes a
/// row) and a batch gathered: measured at scale 0.25, a run of 64 MiB raised the resident memory
/// by about 2.5 times its size (the parts' small buffers, what the allocator keeps of the freed
/// ones), above the parse's peak. The merge holds a batch per run (and the batches the slice being
/// gathered still borrows): the hours of scale 4 (23 million rows, 1.9 GB) make about 60 runs.
/// Bigger runs would merge fewer files for more memory; smaller, more batches held during the
/// merge (halving the budget raised flatten's peak at scale 4, two tables being made at once,
/// from 601 to 686 MB).
pub const RUN_BYTES: usize = 32 << 20;

/// Rows of a run's record batch: what the merge holds of each run, with its reader's buffer and the
/// pieces a slice borrows (2 k rows of hours: about 0.2 MB), small beside a run, big enough for the
/// batches' headers to be nothing. At 8 k rows a run cost the merge about 2.8 MB, and the merge of
/// the contacts' 30 runs at scale 4, beside the roles' making in the other lane
/// (`fhir::flatten::tables`), made flatten's peak.
const BATCH_ROWS: usize = 2_048;

impl SpilledTables {
    /// Keep a table of the columns and types of `shape` (no rows), sorted by its primary key as
    /// `sorted_table` sorts it (and refused as it refuses a key seen twice, with the same error),
    /// whose rows come a chunk at a time, in their order: `next()` gives the next chunk (every
    /// column, in the shape's order), None once there are no more. At most `run_bytes` of rows
    /// (a chunk more) are sorted in memory at a time; more go to sorted runs on disk, merged. The
    /// runs' files are removed once the table is written, or failed.
    pub fn put_sorted_by_chunks<E: From<TableError> + Send>(&self, spec: &'static TableSpec, shape: DataFrame, run_bytes: usize, next: &mut dyn FnMut() -> Result<Option<DataFrame>, E>) -> Result<(), E> {
        let polars = |source| TableError::Polars { table: spec.name, source };
        let key = shape.get_column_index(spec.primary_key).ok_or_else(|| polars(polars_err!(ColumnNotFound: "{}", spec.primary_key)))?;
        let mut runs = Runs { files: Vec::new() };
        let (mut rows, mut bytes) = (shape.clear(), 0);
        while let Some(chunk) = next()? {
            if chunk.schema() != shape.schema() {
                let message = format!("a chunk of columns {:?} where columns {:?} were expected", chunk.schema(), shape.schema());
                return Err(polars(polars_err!(ShapeMismatch: "{message}")).into());
            }
            bytes += chunk.estimated_size();
            rows.vstack_mut_owned(chunk).map_err(polars)?;
            if bytes >= run_bytes {
                let run = std::mem::replace(&mut rows, shape.clear());
                bytes = 0;
                runs.write(self, spec, key, run)?;
            }
        }
        if runs.files.is_empty() {
            // One run: sorted in memory and written as it is, as before.
            return Ok(self.put_sorted(spec, rows)?);
        }
        if rows.height() > 0 {
            runs.write(self, spec, key, rows)?;
        }
        Ok(runs.merge(self, spec, shape, key)?)
    }
}

/// The sorted runs of a table on disk, each file as it was once complete, with its rows. Removed
/// when dropped: after the merge, and on any error.
struct Runs {
    files: Vec<(PathBuf, Written, usize)>,
}

impl Drop for Runs {
    fn drop(&mut self) {
        for (path, _, _) in &self.files {
            let _ = fs::remove_file(path);
        }
    }
}

/// The order of a run's rows by key, as `key_order` sorts a table's key: ascending, empty keys
/// first, equal keys in their order.
fn run_order(spec: &'static TableSpec, run: &DataFrame, key: usize) -> Result<IdxCa, TableError> {
    let keys = &run.columns()[key];
    keys.str().map_err(|source| TableError::Polars { table: spec.name, source })?;
    Ok(keys.arg_sort(SortOptions::default().with_maintain_order(true)))
}

impl Runs {
    /// Sort a run's rows by key and write them to a new file, in batches of `BATCH_ROWS` rows
    /// gathered a batch at a time (the run is never held twice sorted), each column's text in
    /// buffers of its own (`compact`: the IPC writer writes every buffer an array holds).
    fn write(&mut self, spilled: &SpilledTables, spec: &'static TableSpec, key: usize, run: DataFrame) -> Result<(), TableError> {
        let polars = |source| TableError::Polars { table: spec.name, source };
        // Not made one chunk per column (a copy of the run): the gather reads the parts' chunks
        // as they are (a text gathered from several chunks is copied into buffers of its own).
        let order = run_order(spec, &run, key)?;
        let rows = run.height();
        let path = spilled.dir.join(format!("{}.run{}.arrow", spec.name, self.files.len()));
        let io = |source| TableError::Io { path: path.display().to_string(), source };
        let mut writer = BufWriter::new(File::create(&path).map_err(io)?);
        // Recorded before it is written: a file half written is removed too.
        self.files.push((path.clone(), Written { length: 0, modified: None }, rows));
        let schema = run.schema().to_arrow(CompatLevel::newest());
        let mut ipc = polars_arrow::io::ipc::write::FileWriter::try_new(&mut writer, Arc::new(schema), None, polars_arrow::io::ipc::write::WriteOptions { compression: None }).map_err(polars)?;
        for offset in (0..rows).step_by(BATCH_ROWS) {
            let length = BATCH_ROWS.min(rows - offset);
            let at = order.slice(offset as i64, length);
            let columns = run.columns().par_iter().map(|column| compact(column.take(&at)?)).collect::<PolarsResult<Vec<Column>>>().map_err(polars)?;
            let batch = DataFrame::new(length, columns).map_err(polars)?;
            for record in batch.iter_chunks(CompatLevel::newest(), false) {
                ipc.write(&record, None).map_err(polars)?;
            }
        }
        ipc.finish().map_err(polars)?;
        drop(ipc);
        writer.flush().map_err(io)?;
        let written = Written::of(&writer.get_ref().metadata().map_err(io)?);
        self.files.last_mut().expect("the run was recorded").1 = written;
        Ok(())
    }

    /// Merge the runs by key into the table's slices, written as `put` writes a table's, and record
    /// the table. A key seen twice is refused as `check_sorted_keys` refuses it in the whole
    /// table: the first one repeated, in key order, across batches, runs and slices.
    fn merge(&mut self, spilled: &SpilledTables, spec: &'static TableSpec, shape: DataFrame, key: usize) -> Result<(), TableError> {
        let polars = |source| TableError::Polars { table: spec.name, source };
        let rows: usize = self.files.iter().map(|(_, _, rows)| rows).sum();
        let mut cursors = Vec::with_capacity(self.files.len());
        for (path, written, _) in &self.files {
            let (batches, _) = own_file_batches(path, Some(*written), None, None)?;
            let mut cursor = Cursor { path: path.clone(), batches: Box::new(batches), batch: DataFrame::empty(), keys: StringChunked::default(), row: 0, start: 0 };
            if !cursor.advance(spec, key)? {
                return Err(invalid_file(path, "a run without rows".to_owned()));
            }
            cursors.push(cursor);
        }
        let mut heap = Heap { runs: (0..cursors.len()).collect() };
        heap.build(&cursors);
        let mut nulls = vec![0; shape.width()];
        let mut last: Option<String> = None;
        for (number, (_, length)) in slices(rows).into_iter().enumerate() {
            // Where each row of the slice comes from (its run), and each run's rows taken, in order.
            let mut from: Vec<u32> = Vec::with_capacity(length);
            let mut pieces: Vec<Vec<DataFrame>> = vec![Vec::new(); cursors.len()];
            for _ in 0..length {
                let Some(&run) = heap.runs.first() else { return Err(invalid_file(&cursors[0].path, format!("runs of fewer rows than the {rows} written"))) };
                from.push(run as u32);
                let cursor = &mut cursors[run];
                cursor.row += 1;
                if cursor.row == cursor.batch.height() {
                    pieces[run].push(cursor.piece());
                    if !cursor.advance(spec, key)? {
                        heap.pop(&cursors);
                        continue;
                    }
                }
                heap.sift_down(0, &cursors);
            }
            for (run, cursor) in cursors.iter_mut().enumerate() {
                if cursor.row > cursor.start {
                    pieces[run].push(cursor.piece());
                }
            }
            // The rows taken, run after run, and each row's place among them.
            let mut taken = shape.clear();
            for piece in pieces.into_iter().flatten() {
                taken.vstack_mut_owned(piece).map_err(polars)?;
            }
            let mut next_of_run = vec![0usize; cursors.len()];
            let mut counts = vec![0usize; cursors.len()];
            for &run in &from {
                counts[run as usize] += 1;
            }
            let mut start = 0;
            for (run, count) in counts.iter().enumerate() {
                next_of_run[run] = start;
                start += count;
            }
            let order: Vec<IdxSize> = from.iter().map(|&run| {
                let at = next_of_run[run as usize];
                next_of_run[run as usize] += 1;
                at as IdxSize
            }).collect();
            let order = IdxCa::from_vec("order".into(), order);
            taken.rechunk_mut();
            let mut columns = taken.columns().par_iter().map(|column| column.take(&order)).collect::<PolarsResult<Vec<Column>>>().map_err(polars)?;
            drop(taken);
            columns[key].set_sorted_flag(polars::series::IsSorted::Ascending);
            let keys = columns[key].str().map_err(polars)?;
            if let (Some(previous), Some(first)) = (last.as_deref(), keys.get(0)) {
                if previous == first {
                    return Err(TableError::DuplicateKey { table: spec.name, key: first.to_owned() });
                }
            }
            check_sorted_keys(spec, keys)?;
            last = keys.get(length - 1).map(str::to_owned);
            for (count, column) in nulls.iter_mut().zip(&columns) {
                *count += column.null_count();
            }
            columns.into_par_iter().enumerate().map(|(index, column)| spilled.write_slice(spec, index, number, column)).collect::<Result<Vec<()>, TableError>>()?;
        }
        if let Some(cursor) = heap.runs.first().map(|&run| &cursors[run]) {
            return Err(invalid_file(&cursor.path, format!("runs of more rows than the {rows} written")));
        }
        spilled.record(Table { spec, frame: shape }, rows, nulls);
        Ok(())
    }
}

/// A run's place in the merge: its current batch, the batch's keys, the next row, and the first
/// row of the batch not yet taken into a slice.
struct Cursor {
    path: PathBuf,
    batches: Box<dyn Iterator<Item = Result<DataFrame, TableError>>>,
    batch: DataFrame,
    keys: StringChunked,
    row: usize,
    start: usize,
}

impl Cursor {
    /// The next batch with rows; false when the run has no more.
    fn advance(&mut self, spec: &'static TableSpec, key: usize) -> Result<bool, TableError> {
        for batch in self.batches.by_ref() {
            let batch = batch?;
            if batch.height() == 0 {
                continue;
            }
            self.keys = batch.columns()[key].str().map_err(|source| TableError::Polars { table: spec.name, source })?.clone();
            self.batch = batch;
            (self.row, self.start) = (0, 0);
            return Ok(true);
        }
        self.batch = DataFrame::empty();
        self.keys = StringChunked::default();
        (self.row, self.start) = (0, 0);
        Ok(false)
    }

    /// The rows of the batch taken since the last piece.
    fn piece(&mut self) -> DataFrame {
        let piece = self.batch.slice(self.start as i64, self.row - self.start);
        self.start = self.row;
        piece
    }

    /// The current row's key.
    fn key(&self) -> Option<&str> {
        self.keys.get(self.row)
    }
}

/// The runs still to merge, a binary heap of their numbers by their current key, then by number
/// (equal keys, empty ones, in run order: the rows' order).
struct Heap {
    runs: Vec<usize>,
}

impl Heap {
    fn less(a: usize, b: usize, cursors: &[Cursor]) -> bool {
        (cursors[a].key(), a) < (cursors[b].key(), b)
    }

    fn build(&mut self, cursors: &[Cursor]) {
        for at in (0..self.runs.len() / 2).rev() {
            self.sift_down(at, cursors);
        }
    }

    fn sift_down(&mut self, mut at: usize, cursors: &[Cursor]) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut least = at;
            if left < self.runs.len() && Heap::less(self.runs[left], self.runs[least], cursors) {
                least = left;
            }
            if right < self.runs.len() && Heap::less(self.runs[right], self.runs[least], cursors) {
                least = right;
            }
            if least == at {
                return;
            }
            self.runs.swap(at, least);
            at = least;
        }
    }

    /// Remove the first run (one with no rows left).
    fn pop(&mut self, cursors: &[Cursor]) {
        let last = self.runs.len() - 1;
        self.runs.swap(0, last);
        self.runs.pop();
        self.sift_down(0, cursors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::spill::TableSource;
    use crate::table::{catalog, sorted_table, TableBuilder};

    /// Hours of equipment: the key given (None: an empty key), the other columns telling the rows
    /// apart (their rank), texts long enough to be kept out of line, some empty.
    fn frame(keys: &[Option<String>]) -> DataFrame {
        let shape = TableBuilder::new(&catalog::EQUIPEMENTS).into_frame().unwrap();
        let rows = keys.len();
        let columns = vec![
            Column::new("equipement_id".into(), keys.to_vec()),
            Column::new("lieu_id".into(), (0..rows).map(|i| format!("lieu n° {} — bâtiment « {} »", i % 97, i % 3)).collect::<Vec<_>>()),
            Column::new("type_equipement_code".into(), (0..rows).map(|i| (i % 5 != 0).then(|| format!("{}", i % 11))).collect::<Vec<_>>()),
            Column::new("type_equipement_libelle".into(), (0..rows).map(|i| (i % 4 != 1).then(|| format!("un libellé assez long, rang {i}"))).collect::<Vec<_>>()),
            Column::new("nombre_en_service".into(), (0..rows).map(|i| (i % 7 != 3).then_some(i as i64)).collect::<Vec<_>>()),
        ];
        let frame = DataFrame::new(rows, columns).unwrap();
        assert_eq!(frame.schema(), shape.schema());
        frame
    }

    /// `put_sorted_by_chunks` of a frame given in chunks of `chunk` rows, with runs of `run_bytes`.
    fn put(spilled: &SpilledTables, whole: &DataFrame, chunk: usize, run_bytes: usize) -> Result<(), TableError> {
        let mut offset = 0;
        let mut next = || -> Result<Option<DataFrame>, TableError> {
            if offset >= whole.height() {
                return Ok(None);
            }
            let rows = whole.slice(offset as i64, chunk);
            offset += rows.height();
            Ok(Some(rows))
        };
        spilled.put_sorted_by_chunks(&catalog::EQUIPEMENTS, whole.clear(), run_bytes, &mut next)
    }

    fn run_files(spilled: &SpilledTables) -> Vec<String> {
        fs::read_dir(&spilled.dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|name| name.contains(".run")).collect()
    }

    /// Unique keys in no order, a few empty (the same column as `sorted_table`'s nulls first).
    fn shuffled(rows: usize) -> Vec<Option<String>> {
        (0..rows).map(|i| (i % 10_007 != 5).then(|| format!("equipement-{:07}", (i * 7_919) % rows))).collect()
    }

    #[test]
    fn a_table_of_several_runs_merged_is_the_table_sorted_in_memory_with_its_empty_cells() {
        let work = tempfile::tempdir().unwrap();
        let spilled = SpilledTables::create(work.path()).unwrap();
        // Three slices (66,666 rows, 66,668 for the last), runs of about a megabyte (a dozen), the
        // runs' batches of `BATCH_ROWS` rows and the chunks of 7,001 rows all ending within slices.
        let rows = 200_000;
        let unsorted = frame(&shuffled(rows));
        let sorted = sorted_table(&catalog::EQUIPEMENTS, unsorted.clone()).unwrap();
        let mut runs_seen = 0;
        {
            let mut offset = 0;
            let mut next = || -> Result<Option<DataFrame>, TableError> {
                runs_seen = runs_seen.max(fs::read_dir(work.path().join(format!("{}{}", super::super::PREFIX, std::process::id()))).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".run")).count());
                if offset >= rows {
                    return Ok(None);
                }
                let chunk = unsorted.slice(offset as i64, 7_001);
                offset += chunk.height();
                Ok(Some(chunk))
            };
            spilled.put_sorted_by_chunks(&catalog::EQUIPEMENTS, unsorted.clear(), 1 << 20, &mut next).unwrap();
        }
        assert!(runs_seen >= 5, "{runs_seen} runs");
        assert_eq!(slices(rows).len(), 3);
        assert!(run_files(&spilled).is_empty(), "{:?}", run_files(&spilled));
        let back = spilled.load("equipements").unwrap().unwrap();
        assert!(back.frame.equals_missing(&sorted.frame));
        assert_eq!(back.frame.schema(), sorted.frame.schema());
        assert_eq!(back.frame.column("equipement_id").unwrap().null_count(), 20);
        for column in sorted.frame.get_column_names() {
            assert_eq!(spilled.null_count("equipements", column), Some(sorted.frame.column(column).unwrap().null_count()), "{column}");
        }
        // Each slice's file holds its own rows' text only.
        assert!(fs::metadata(spilled.path("equipements", 3, 1)).unwrap().len() < 4_000_000);

        // The same table put whole (one run, no file): the same table.
        let whole = SpilledTables::create_named(work.path(), "-whole").unwrap();
        put(&whole, &unsorted, 50_000, usize::MAX).unwrap();
        assert!(whole.load("equipements").unwrap().unwrap().frame.equals_missing(&sorted.frame));
        // No rows at all: the table's columns.
        let empty = SpilledTables::create_named(work.path(), "-empty").unwrap();
        put(&empty, &unsorted.clear(), 10, 1).unwrap();
        assert_eq!((empty.rows("equipements"), empty.load("equipements").unwrap().unwrap().frame.schema()), (Some(0), sorted.frame.schema()));
        // A run of one row each, all but one empty keys.
        let tiny = SpilledTables::create_named(work.path(), "-tiny").unwrap();
        let keys = [None, Some("b".to_owned()), None, None, Some("a".to_owned())];
        put(&tiny, &frame(&keys), 1, 1).unwrap();
        assert!(tiny.load("equipements").unwrap().unwrap().frame.equals_missing(&sorted_table(&catalog::EQUIPEMENTS, frame(&keys)).unwrap().frame));
    }

    #[test]
    fn a_key_seen_twice_is_refused_as_in_memory_across_runs_and_slices_and_the_runs_files_go() {
        let work = tempfile::tempdir().unwrap();
        let spilled = SpilledTables::create(work.path()).unwrap();
        let rows = 200_000;
        let refused = |keys: &[Option<String>], run_bytes| {
            let spilled = SpilledTables::create_named(work.path(), &format!("-{run_bytes}-{}", keys.len())).unwrap();
            let error = put(&spilled, &frame(keys), 9_000, run_bytes).unwrap_err().to_string();
            assert!(run_files(&spilled).is_empty(), "{:?}", run_files(&spilled));
            assert!(spilled.rows("equipements").is_none());
            error
        };
        // Two keys repeated, each in two runs: the first in key order is the one named.
        let mut keys = shuffled(rows);
        let at = |keys: &[Option<String>], key: &str| keys.iter().position(|k| k.as_deref() == Some(key)).unwrap();
        let (a, b) = (at(&keys, "equipement-0150000"), at(&keys, "equipement-0150001"));
        keys[b] = keys[a].clone();
        let (c, d) = (at(&keys, "equipement-0100000"), at(&keys, "equipement-0000003"));
        keys[d] = keys[c].clone();
        let expected = sorted_table(&catalog::EQUIPEMENTS, frame(&keys)).unwrap_err().to_string();
        assert!(expected.contains("\"equipement-0100000\" appears more than once"), "{expected}");
        assert_eq!(refused(&keys, 1 << 20), expected);
        assert_eq!(refused(&keys, usize::MAX), expected);
        // A key repeated across two slices: the last of one and the first of the next.
        let mut keys: Vec<Option<String>> = (0..rows).rev().map(|i| Some(format!("k{i:07}"))).collect();
        let (a, b) = (at(&keys, "k0066665"), at(&keys, "k0066666"));
        assert_eq!(slices(rows)[1].0, 66_666);
        keys[b] = keys[a].clone();
        let expected = sorted_table(&catalog::EQUIPEMENTS, frame(&keys)).unwrap_err().to_string();
        assert!(expected.contains("\"k0066665\" appears more than once"), "{expected}");
        assert_eq!(refused(&keys, 1 << 20), expected);
        // A chunk not of the table's columns: an error naming the table; no run left either.
        let mut wrong = Some(frame(&shuffled(10)).drop("lieu_id").unwrap());
        let mut next = || -> Result<Option<DataFrame>, TableError> { Ok(wrong.take()) };
        let error = spilled.put_sorted_by_chunks(&catalog::EQUIPEMENTS, frame(&[]), 1, &mut next).unwrap_err().to_string();
        assert!(error.starts_with("table equipements: ") && error.contains("a chunk of columns"), "{error}");
        // An error of the rows' maker after some runs were written: the maker's, and no run left.
        let whole = frame(&shuffled(rows));
        let mut offset = 0;
        let mut next = || -> Result<Option<DataFrame>, TableError> {
            if offset >= 100_000 {
                return Err(TableError::DuplicateKey { table: "equipements", key: "the maker's".to_owned() });
            }
            offset += 10_000;
            Ok(Some(whole.slice(offset as i64 - 10_000, 10_000)))
        };
        let error = spilled.put_sorted_by_chunks(&catalog::EQUIPEMENTS, whole.clear(), 1 << 20, &mut next).unwrap_err().to_string();
        assert!(error.contains("the maker's"), "{error}");
        assert!(run_files(&spilled).is_empty(), "{:?}", run_files(&spilled));
    }
}
