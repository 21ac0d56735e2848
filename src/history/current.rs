//! The night's table as the history stage reads it: a slice of rows at a time from its source
//! (`TableSource::load_rows`, one slice of `table::spill::slices` per read), never whole. At
//! national scale the largest tables are 700 MB and more in memory; the stage needs each row only
//! to hash it, to name a modification's changed columns and to write it into the new store, each
//! of which goes through the table in key order.

use std::sync::Mutex;

use polars::prelude::*;

use crate::table::ahead::made_ahead;
use crate::table::digest::{row_hashes, SpilledDigest};
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
    /// The key column of the slice whose keys were taken last, by its index (`take_keys`).
    last_keys: Mutex<Option<(usize, StringChunked)>>,
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
        Current { source, name, spec: shape.spec, empty: shape.frame, slices: slices(height), last: Mutex::new(None), last_keys: Mutex::new(None) }
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

    /// The row hash of every row, in row order, hashed a slice at a time (for the whole comparison:
    /// a table out of key order, a store the walk refuses). A thread of its own
    /// reads the slices one after another while this one hashes the slice read before: reading (a
    /// column per core) and hashing (a block of rows per core) each leave a core idle part of the
    /// time, and taking turns added their times. The reader waits for the hasher to take each
    /// slice (a channel of no room), so at most two slices are in memory: the one being hashed
    /// and the next. The hashes are those of the slices in order, whichever thread ran first.
    pub fn hashes(&self) -> PolarsResult<Vec<[u8; 32]>> {
        let mut hashes = Vec::with_capacity(self.height());
        std::thread::scope(|scope| {
            let receiver = made_ahead(scope, self.slices.iter().map(|&(offset, rows)| self.range(offset, rows)));
            for _ in &self.slices {
                let slice = receiver.recv().unwrap_or_else(|_| Err(polars_err!(ComputeError: "the slices of table {} stopped coming", self.name)))?;
                hashes.extend(row_hashes(&slice)?);
            }
            PolarsResult::Ok(())
        })?;
        Ok(hashes)
    }

    /// The row hashes of rows `start..end`, given to `each` a slice at a time (at most one slice
    /// in memory).
    fn hash_rows(&self, start: usize, end: usize, mut each: impl FnMut(&[[u8; 32]]) -> PolarsResult<()>) -> PolarsResult<()> {
        let mut at = start;
        while at < end {
            let index = self.slices.partition_point(|&(offset, length)| offset + length <= at);
            let (offset, length) = self.slices[index];
            let stop = end.min(offset + length);
            each(&row_hashes(&self.range(at, stop - at)?)?)?;
            at = stop;
        }
        Ok(())
    }

    /// Whether the keys are all present, each greater than the one before (the order the store
    /// keeps), read a slice of the key column at a time.
    pub fn keys_strictly_increasing(&self) -> PolarsResult<bool> {
        let pk = self.primary_key();
        let mut last: Option<String> = None;
        for &(offset, rows) in &self.slices {
            let slice = self.source.load_rows(self.name, Some(&[pk]), offset, rows).map_err(polars_error)?.expect("a name the source gave");
            let keys = slice.frame.column(pk)?.str()?;
            if !increasing_after(last.as_deref(), keys) {
                return Ok(false);
            }
            last = keys.last().map(str::to_owned).or(last);
        }
        Ok(true)
    }

    /// Rows `offset..offset + rows` of the key column.
    pub fn keys(&self, offset: usize, rows: usize) -> PolarsResult<Column> {
        let pk = self.primary_key();
        if rows == 0 {
            return self.empty.column(pk).cloned();
        }
        self.source.load_rows(self.name, Some(&[pk]), offset, rows).map_err(polars_error)?.expect("a name the source gave").frame.column(pk).cloned()
    }

    /// The keys of rows `rows` (row numbers of the table, in increasing order), in that order: each
    /// run of rows of one slice taken from that slice's key column, the one read last kept (the
    /// changelog asks for its rows' keys a row group at a time, in order: a slice's keys are read
    /// once).
    pub fn take_keys(&self, rows: &[IdxSize]) -> PolarsResult<StringChunked> {
        let mut out = StringChunked::full_null(PlSmallStr::from_static(self.primary_key()), 0);
        let mut last = self.last_keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut start = 0;
        while start < rows.len() {
            let (index, (offset, run)) = self.run(&rows[start..])?;
            if last.as_ref().is_none_or(|(cached, _)| *cached != index) {
                // The keys read before are dropped first: at most one slice's are held.
                *last = None;
                let (offset, length) = self.slices[index];
                *last = Some((index, self.keys(offset, length)?.str()?.clone()));
            }
            let within: Vec<IdxSize> = rows[start..start + run].iter().map(|&row| row - offset as IdxSize).collect();
            let keys = last.as_ref().expect("read above").1.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), within))?;
            out.append(&keys)?;
            start += run;
        }
        Ok(out)
    }

    /// The slices this table is read by, (offset, rows) in order.
    pub fn slices(&self) -> &[(usize, usize)] {
        &self.slices
    }

    /// The slice `index` of `slices`, every column, read by someone else (the walk's reader): kept
    /// as the one read last, for the rows taken from it next.
    pub fn offer(&self, index: usize, frame: DataFrame) {
        *self.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((index, frame));
    }

    /// The slice that holds the first of `rows` and how many of `rows` follow in it: (its index,
    /// (its first row, that count)).
    fn run(&self, rows: &[IdxSize]) -> PolarsResult<(usize, (usize, usize))> {
        let index = self.slices.partition_point(|&(offset, length)| offset + length <= rows[0] as usize);
        let (offset, length) = *self.slices.get(index).ok_or_else(|| polars_err!(OutOfBounds: "row {} of table {} of {} rows", rows[0], self.name, self.height()))?;
        let run = rows.iter().take_while(|&&row| (offset..offset + length).contains(&(row as usize))).count();
        Ok((index, (offset, run)))
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
            let (index, (offset, run)) = self.run(&rows[start..])?;
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

/// `keys` all present, each greater than the one before, the first greater than `last` (the key
/// before them, if any): the order the store keeps.
pub(super) fn increasing_after(last: Option<&str>, keys: &StringChunked) -> bool {
    let mut previous = last;
    keys.iter().all(|k| k.is_some_and(|k| previous.replace(k).is_none_or(|before| before < k)))
}

/// A first night's table, hashed as its rows are read for the store: the store's row group of a
/// slice needs exactly that slice's rows and their hashes, so each slice is read once (it was
/// read twice, once to hash it whole beforehand, once to write it), and its hashing overlaps the
/// writer encoding the group before. The hashes are counted into the digest as they are made
/// (set aside in the scratch folder, not kept: `SpilledDigest`), which is made once the store is
/// written.
pub struct Hashing<'a> {
    rows: Current<'a>,
    /// The rows hashed so far (from the first), and the digest they are counted into.
    hashed: Mutex<(usize, Option<SpilledDigest>)>,
}

impl<'a> Hashing<'a> {
    /// `rows`, their hashes set aside in `scratch` for the digest.
    pub fn new(rows: Current<'a>, scratch: &std::path::Path) -> Hashing<'a> {
        Hashing { rows, hashed: Mutex::new((0, Some(SpilledDigest::new(scratch)))) }
    }

    pub fn height(&self) -> usize {
        self.rows.height()
    }

    /// Rows `offset..offset + rows` (within the table), every column, with their row hashes: those
    /// rows not counted into the digest yet are counted, any before them not counted yet read and
    /// hashed first (the store writer asks for its row groups in order, so it never does).
    pub fn range(&self, offset: usize, rows: usize) -> PolarsResult<(DataFrame, Vec<[u8; 32]>)> {
        let mut hashed = self.hashed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (done, digest) = &mut *hashed;
        if let Some(digest) = digest.as_mut().filter(|_| *done < offset) {
            self.rows.hash_rows(*done, offset, |hashes| count(digest, hashes))?;
            *done = offset;
        }
        let part = self.rows.range(offset, rows)?;
        let hashes = row_hashes(&part)?;
        // (Rows read after the digest was made were counted in it then.)
        if let Some(digest) = digest.as_mut().filter(|_| *done < offset + rows) {
            count(digest, &hashes[*done - offset..])?;
            *done = offset + rows;
        }
        Ok((part, hashes))
    }

    /// The table's content digest: the rows the store writer did not read (a store not written
    /// whole) are read and hashed now.
    pub fn digest(&self) -> PolarsResult<String> {
        let mut hashed = self.hashed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (done, digest) = &mut *hashed;
        let mut digest = digest.take().ok_or_else(|| polars_err!(ComputeError: "the digest of table {} was asked twice", self.rows.name))?;
        self.rows.hash_rows(*done, self.rows.height(), |hashes| count(&mut digest, hashes))?;
        *done = self.rows.height();
        digest.finish().map_err(|e| polars_err!(ComputeError: "{e}"))
    }
}

/// Count `hashes` into `digest`, an input/output error as polars' (the store's makers' error).
fn count(digest: &mut SpilledDigest, hashes: &[[u8; 32]]) -> PolarsResult<()> {
    digest.add(hashes).map_err(|e| polars_err!(ComputeError: "{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder, Tables};

    /// A table of three slices (200,000 rows), with empty cells.
    fn three_slices(rows: usize) -> crate::table::Table {
        let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
        for i in 0..rows {
            let mut r = b.row();
            r.set("equipement_id", format!("e{i:07}")).set("lieu_id", (i % 3 != 0).then(|| format!("l{}", i % 11))).set("nombre_en_service", Some(i as i64));
            b.push(r);
        }
        b.finish().unwrap()
    }

    /// The hashes of a table of three slices, read by one thread while another hashes (a later
    /// night), or as a first night's store reads its rows (in row groups, in slices of any size,
    /// or not at all), and their digest, are those of the whole table hashed at once, in row
    /// order: from memory and from the night's files on disk.
    #[test]
    fn hashes_read_and_hashed_on_two_threads_are_the_whole_tables() {
        use crate::table::digest::{content_digest, digest_of};
        use crate::table::spill::SpilledTables;
        let rows = 200_000;
        let table = three_slices(rows);
        let expected = row_hashes(&table.frame).unwrap();
        let digest = content_digest(&table.frame).unwrap();
        let work = tempfile::tempdir().unwrap();
        let spilled = SpilledTables::create(work.path()).unwrap();
        spilled.put_sorted(table.spec, table.frame.clone()).unwrap();
        let memory = Tables::from([("equipements", table.clone())]);
        for source in [&memory as &dyn TableSource, &spilled] {
            let current = Current::new(source, "equipements");
            assert_eq!(current.slices.len(), 3);
            let hashes = current.hashes().unwrap();
            assert!(hashes == expected, "read and hashed on two threads");
            assert_eq!(digest_of(hashes.clone()), digest);
            // A first night: by the store's row groups, by odd sizes, a part skipped, or unread.
            let groups = crate::table::write::row_groups(rows);
            let odd: Vec<(usize, usize)> = (0..rows).step_by(70_001).map(|o| (o, 70_001.min(rows - o))).collect();
            let again = vec![(0, 70_001), (0, 70_001), (60_000, 20_000), (80_000, rows - 80_000)];
            for (parts, read) in [(groups, true), (odd.clone(), true), (odd[1..].to_vec(), true), (again, true), (Vec::new(), false)] {
                let scratch = tempfile::tempdir().unwrap();
                let hashing = Hashing::new(Current::new(source, "equipements"), scratch.path());
                for &(offset, length) in &parts {
                    let (part, here) = hashing.range(offset, length).unwrap();
                    assert!(part.equals_missing(&table.frame.slice(offset as i64, length)));
                    assert!(here == expected[offset..offset + length], "rows {offset}+{length}");
                }
                assert_eq!(hashing.range(0, 0).unwrap().1.len(), 0);
                assert_eq!(hashing.digest().unwrap(), digest, "every row counted once ({} parts, read {read})", parts.len());
                assert!(hashing.digest().is_err(), "a digest is made once");
                assert!(hashing.range(60_000, 20_000).unwrap().1 == expected[60_000..80_000], "rows read after the digest");
            }
        }
    }

    /// The key column read a slice at a time: in order or not, across slices' boundaries.
    #[test]
    fn keys_in_order_are_told_a_slice_at_a_time() {
        let rows = 200_000;
        let table = three_slices(rows);
        let in_order = Tables::from([("equipements", table.clone())]);
        let current = Current::new(&in_order, "equipements");
        assert!(current.keys_strictly_increasing().unwrap());
        assert!(current.keys(66_000, 5_000).unwrap().as_materialized_series().equals(table.frame.column("equipement_id").unwrap().slice(66_000, 5_000).as_materialized_series()));
        assert_eq!(current.keys(0, 0).unwrap().len(), 0);
        // A key repeated across the first slices' boundary, then a key smaller than the one before.
        let boundary = crate::table::write::row_groups(rows)[1].0;
        for (row, key) in [(boundary, format!("e{:07}", boundary - 1)), (150_000, "e0149999".to_owned()), (199_999, String::new())] {
            let mut keys = table.text_values("equipement_id").unwrap();
            keys[row] = Some(key.clone());
            let mut frame = table.frame.clone();
            frame.replace("equipement_id", Column::new("equipement_id".into(), keys)).unwrap();
            let out_of_order = Tables::from([("equipements", crate::table::Table { spec: table.spec, frame })]);
            assert!(!Current::new(&out_of_order, "equipements").keys_strictly_increasing().unwrap(), "row {row} {key}");
        }
    }


    /// Any rows of a table of three slices, in any order, are the rows of the whole table.
    #[test]
    fn rows_taken_across_slices_are_the_whole_tables() {
        let rows = 200_000;
        let table = three_slices(rows);
        let source = Tables::from([("equipements", table.clone())]);
        let current = Current::new(&source, "equipements");
        assert_eq!((current.height(), current.slices.len()), (rows, 3));
        for picked in [vec![], vec![0], vec![5, 66_665, 66_666, 66_667, 150_000, 199_999], (0..rows as IdxSize).step_by(7).collect(), vec![199_999, 3, 70_000, 4]] {
            let expected = table.frame.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), picked.clone())).unwrap();
            let taken = current.take(&picked).unwrap();
            assert!(taken.equals_missing(&expected), "{} rows", picked.len());
            assert_eq!(taken.schema(), expected.schema());
            // The keys alone, of rows in increasing order (the changelog's).
            if picked.is_sorted() {
                let keys = current.take_keys(&picked).unwrap();
                assert!(keys.into_series().equals(expected.column("equipement_id").unwrap().as_materialized_series()), "{} keys", picked.len());
            }
        }
        assert_eq!(current.hashes().unwrap(), row_hashes(&table.frame).unwrap(), "hashed a slice at a time");
        assert!(current.take(&[rows as IdxSize]).is_err(), "past the end");
    }
}
