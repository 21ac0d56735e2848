//! A later night's comparison, made by walking the previous store a row group at a time beside the
//! new table, both in key order: what was added, removed or modified, which stored rows this night
//! closes, and in what order the new store interleaves the stored rows with the rows this night
//! opens. Memory holds one row group of the store, one slice of the new table and two bits per row
//! (the changes and the rows opened are set aside on disk as they are found), where a hash map of
//! the open rows needed the whole store in memory (the next night's peak at national scale). The new table is not held either: it is read a slice at a time and hashed as
//! the walk advances (its keys checked in order as they come, its hashes counted into the digest
//! and set aside for the rows the night opens), and a modification's row is taken from the slice
//! that holds it, or read again from the table's source (`Current`), when its changed columns are
//! named.
//!
//! The walk only takes a store it can prove sound as it reads it: every (key, version) present and
//! strictly increasing, every version older than the night's, one open row per key; and a table
//! whose keys are all present and strictly increasing. Anything else answers None, and the caller
//! compares the whole store in memory as before.

use std::sync::mpsc::{sync_channel, Receiver};

use polars::prelude::*;

use super::current::{increasing_after, Current};
use super::diff::{changed_column_names, ADDED, MODIFIED, REMOVED};
use super::stored::StoredRows;
use super::{ROW_HASH, VALID_FROM, VALID_TO};
use crate::table::ahead::made_ahead;
use crate::sha256::hex_into;
use crate::table::digest::{row_hashes, SpilledDigest, SpilledRecords};

/// One bit per row: a night's flags of every stored row (closed or not) and of every row of the
/// new store (from the previous store or opened now). A byte per row was 50 MB for the largest
/// table at national scale, several stored rows per row of the table as the years go by.
#[derive(Default)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// `len` bits, none set.
    pub fn zeros(len: usize) -> Bits {
        Bits { words: vec![0; len.div_ceil(64)], len }
    }

    pub fn with_capacity(len: usize) -> Bits {
        Bits { words: Vec::with_capacity(len.div_ceil(64)), len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn set(&mut self, i: usize) {
        assert!(i < self.len, "bit {i} of {}", self.len);
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(64) {
            self.words.push(0);
        }
        self.len += 1;
        if bit {
            self.set(self.len - 1);
        }
    }

    /// The bits `start..end`, in order.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = bool> + '_ {
        assert!(start <= end && end <= self.len, "bits {start}..{end} of {}", self.len);
        (start..end).map(|i| self.words[i / 64] >> (i % 64) & 1 == 1)
    }

    /// How many of the bits `0..end` are set.
    pub fn ones_before(&self, end: usize) -> usize {
        assert!(end <= self.len, "bits 0..{end} of {}", self.len);
        let whole: usize = self.words[..end / 64].iter().map(|w| w.count_ones() as usize).sum();
        let rest = if end.is_multiple_of(64) { 0 } else { (self.words[end / 64] & ((1u64 << (end % 64)) - 1)).count_ones() as usize };
        whole + rest
    }
}

/// What a change of the changelog is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Added,
    Removed,
    Modified,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Added => ADDED,
            Kind::Removed => REMOVED,
            Kind::Modified => MODIFIED,
        }
    }
}

/// One change, in 9 bytes set aside (`Change::record`): a night can modify most rows of a table (a
/// new update date everywhere), and a key and a list of column names per change held as strings
/// cost several hundred megabytes at national scale, 12 bytes a change held in memory 276 MB.
pub struct Change {
    pub kind: Kind,
    /// A row of the new table (added, modified), or a key among `Walk::removed_keys` (removed).
    pub key: u32,
    /// A modification's changed columns among `Walk::column_sets`; `NO_COLUMNS` for the others.
    pub columns: u32,
}

pub(super) const NO_COLUMNS: u32 = u32::MAX;

impl Change {
    /// The change as set aside: its kind, its key and its columns (little-endian).
    fn record(&self) -> [u8; 9] {
        let mut record = [0u8; 9];
        record[0] = match self.kind {
            Kind::Added => 0,
            Kind::Removed => 1,
            Kind::Modified => 2,
        };
        record[1..5].copy_from_slice(&self.key.to_le_bytes());
        record[5..].copy_from_slice(&self.columns.to_le_bytes());
        record
    }

    /// The change `record` sets aside.
    pub fn of_record(record: &[u8; 9]) -> Change {
        let kind = match record[0] {
            0 => Kind::Added,
            1 => Kind::Removed,
            _ => Kind::Modified,
        };
        let number = |at: usize| u32::from_le_bytes(record[at..at + 4].try_into().expect("4 bytes"));
        Change { kind, key: number(1), columns: number(5) }
    }
}

/// A row this night opens as set aside: its row number in the new table, then its row hash.
pub type Opened = [u8; 36];

/// The row number and row hash of an opened row.
pub fn of_opened(record: &Opened) -> (IdxSize, &[u8; 32]) {
    (u32::from_le_bytes(record[..4].try_into().expect("4 bytes")) as IdxSize, record[4..].try_into().expect("32 bytes"))
}

/// What the walk found.
pub(super) struct Walk {
    /// Per stored row: whether this night closes it.
    pub closed: Bits,
    /// Rows of the new table this night opens, in key order, with their row hashes (`Opened`).
    pub opened: SpilledRecords<36>,
    /// Per row of the new store: whether it is a stored row (else the next of `opened`).
    pub sides: Bits,
    /// In key order (`Change::record`).
    pub changes: SpilledRecords<9>,
    /// The changes not set aside yet: those of the row group of the store being walked, whose
    /// modifications' changed columns are named once the group is walked.
    pending: Vec<Change>,
    /// The rows opened not placed in the new store yet (a modified row waits for the stored rows
    /// of its key, the rows added after the last stored key for the end): one or none, but at the end.
    unplaced: std::collections::VecDeque<usize>,
    /// The keys of the stored rows the night removes, in key order.
    pub removed_keys: Vec<String>,
    /// Each distinct list of changed columns (";"-joined) the modifications name: a night names
    /// a few, each once.
    pub column_sets: Vec<String>,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    /// The table's content digest, from the row hashes the walk was given.
    pub digest: String,
}

impl Walk {
    /// The new table's row at `cursor` (of row hash `hash`) is opened in this version.
    fn append(&mut self, cursor: usize, hash: &[u8; 32]) -> PolarsResult<()> {
        let mut record = [0u8; 36];
        record[..4].copy_from_slice(&(cursor as u32).to_le_bytes());
        record[4..].copy_from_slice(hash);
        self.unplaced.push_back(cursor);
        self.opened.push(record).map_err(|e| polars_err!(ComputeError: "{e}"))
    }

    /// Set the pending changes aside.
    fn set_aside(&mut self) -> PolarsResult<()> {
        for change in self.pending.drain(..) {
            self.changes.push(change.record()).map_err(|e| polars_err!(ComputeError: "{e}"))?;
        }
        Ok(())
    }

    /// The new table's row at `cursor` is added (no open stored row has its key); move past it.
    fn add(&mut self, cursor: &mut usize, hash: &[u8; 32]) -> PolarsResult<()> {
        self.append(*cursor, hash)?;
        self.pending.push(Change { kind: Kind::Added, key: *cursor as u32, columns: NO_COLUMNS });
        self.added += 1;
        *cursor += 1;
        Ok(())
    }
}

/// The last stored row seen, kept across row groups (within a group the rows are borrowed).
#[derive(Default)]
struct Last {
    row: Option<(String, String)>,
    open_key: Option<String>,
}

/// A slice of the new table as the walk is given it: every column, and its rows' hashes.
struct HashedSlice {
    /// Its index among the table's slices, and its first row.
    index: usize,
    offset: usize,
    frame: DataFrame,
    hashes: Vec<[u8; 32]>,
}

/// The new table beside the walk: its slices in order, as the hasher gives them, each taken when
/// the cursor reaches it (the one before dropped), its keys checked in order as they come.
struct NewRows<'c, 'a> {
    slices: Receiver<PolarsResult<HashedSlice>>,
    to_come: usize,
    current: &'c Current<'a>,
    pk: &'c str,
    /// The slice at the cursor: its first row, its keys (in one array), their row hashes.
    offset: usize,
    keys: StringChunked,
    hashes: Vec<[u8; 32]>,
}

/// The new table's row at the cursor.
enum Next<'n> {
    Row(&'n str, &'n [u8; 32]),
    /// Past the last row.
    End,
    /// A key missing, or not greater than the one before: the walk does not take the table.
    Unordered,
}

impl NewRows<'_, '_> {
    /// The key and row hash of row `row` (never before a row asked for before).
    fn at(&mut self, row: usize) -> PolarsResult<Next<'_>> {
        while row >= self.offset + self.hashes.len() {
            if self.to_come == 0 {
                return Ok(Next::End);
            }
            let slice = self.slices.recv().unwrap_or_else(|_| Err(polars_err!(ComputeError: "the new table's slices stopped coming")))?;
            self.to_come -= 1;
            let keys = slice.frame.column(self.pk)?.str()?.rechunk().into_owned();
            let before = (!self.keys.is_empty()).then(|| self.keys.downcast_as_array().value(self.keys.len() - 1));
            if !increasing_after(before, &keys) {
                return Ok(Next::Unordered);
            }
            // The slice is the one the modifications' rows are taken from, not read again.
            self.current.offer(slice.index, slice.frame);
            (self.offset, self.keys, self.hashes) = (slice.offset, keys, slice.hashes);
        }
        let at = row - self.offset;
        Ok(Next::Row(self.keys.downcast_as_array().value(at), &self.hashes[at]))
    }
}

/// Walk `stored` beside the new table `current`. `previous_columns` are the columns the previous
/// version published (to name changed columns); the rows opened, the changes and the digest's hashes are set
/// aside in `scratch`.
pub(super) fn walk(stored: &dyn StoredRows, current: &Current<'_>, previous_columns: Option<&[String]>, version: &str, pk: &str, scratch: &std::path::Path) -> PolarsResult<Option<Walk>> {
    let walk = Walk {
        closed: Bits::zeros(stored.height()),
        opened: SpilledRecords::new(scratch),
        sides: Bits::with_capacity(stored.height() + current.height()),
        changes: SpilledRecords::new(scratch),
        pending: Vec::new(),
        unplaced: std::collections::VecDeque::new(),
        removed_keys: Vec::new(),
        column_sets: Vec::new(),
        added: 0,
        removed: 0,
        modified: 0,
        digest: String::new(),
    };
    let compared: Vec<&str> = previous_columns.unwrap_or_default().iter().map(String::as_str).filter(|c| stored.has_column(c)).collect();
    // Four threads, each waiting for the next to take what it made (channels of no room): the
    // store's groups read (decompressed, decoded) on one, the new table's slices on another, hashed
    // (and counted into the digest) on a third, while this one walks. Reading and walking, or
    // reading and hashing, took turns, a core idle. In memory: at most two groups of these four
    // columns of the store, three slices of the table. A walk that stops early (None, an error)
    // drops its receivers, and the others stop.
    std::thread::scope(|scope| {
        let parts = stored.parts();
        let receiver = made_ahead(scope, parts.clone().into_iter().map(move |(offset, rows)| stored.read(offset, rows, Some(&[pk, VALID_FROM, VALID_TO, ROW_HASH]))));
        let slices = made_ahead(scope, current.slices().iter().enumerate().map(|(index, &(offset, rows))| current.range(offset, rows).map(|frame| (index, frame))));
        let to_come = current.slices().len();
        let (hashed_sender, hashed) = sync_channel::<PolarsResult<HashedSlice>>(0);
        let digest = scope.spawn(move || -> Option<PolarsResult<String>> {
            let mut digest = SpilledDigest::new(scratch);
            for _ in 0..to_come {
                let slice = slices.recv().unwrap_or_else(|_| Err(polars_err!(ComputeError: "the new table's slices stopped coming")));
                let hashed = slice.and_then(|(index, frame)| {
                    let hashes = row_hashes(&frame)?;
                    digest.add(&hashes).map_err(|e| polars_err!(ComputeError: "{e}"))?;
                    Ok(HashedSlice { index, offset: current.slices()[index].0, frame, hashes })
                });
                let failed = hashed.is_err();
                if hashed_sender.send(hashed).is_err() || failed {
                    return None;
                }
            }
            Some(digest.finish().map_err(|e| polars_err!(ComputeError: "{e}")))
        });
        let new_rows = NewRows { slices: hashed, to_come, current, pk, offset: 0, keys: StringChunked::full_null(PlSmallStr::EMPTY, 0), hashes: Vec::new() };
        let read = move || receiver.recv().unwrap_or_else(|_| Err(polars_err!(ComputeError: "the previous store's row groups stopped coming")));
        // (The walk's receivers go with it, before the digest is waited for.)
        let Some(mut walk) = walk_parts(stored, current, &parts, read, new_rows, previous_columns, &compared, version, pk, walk)? else { return Ok(None) };
        // Every slice was hashed: the digest is made.
        let digest = digest.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        walk.digest = digest.ok_or_else(|| polars_err!(ComputeError: "the new table's digest was not made"))??;
        Ok(Some(walk))
    })
}

/// The walk proper, over the store's `parts` in order, each read by `read` (four columns), beside
/// the new table's rows in order (`new`): filled into `walk`, or None for a store or a table it
/// does not take.
#[allow(clippy::too_many_arguments)]
fn walk_parts(stored: &dyn StoredRows, current: &Current<'_>, parts: &[(usize, usize)], mut read: impl FnMut() -> PolarsResult<DataFrame>, mut new: NewRows, previous_columns: Option<&[String]>, compared: &[&str], version: &str, pk: &str, mut walk: Walk) -> PolarsResult<Option<Walk>> {
    let mut column_set_numbers: PlHashMap<String, u32> = PlHashMap::new();
    // The next row of the new table to compare.
    let mut cursor = 0usize;
    // A modified row, opened after the stored rows of its key: it waits for a greater key.
    let mut waiting: Option<usize> = None;
    let mut last = Last::default();
    let mut hex_digits = [0u8; 64];
    for &(offset, rows) in parts {
        let part = read()?;
        let (stored_keys, from, to, stored_hashes) = (part.column(pk)?.str()?, part.column(VALID_FROM)?.str()?, part.column(VALID_TO)?.str()?, part.column(ROW_HASH)?.str()?);
        let mut previous_row: Option<(&str, &str)> = None;
        let mut previous_open: Option<&str> = None;
        // Modifications in this group: (change, new row, stored row within the group).
        let mut modifications: Vec<(usize, usize, usize)> = Vec::new();
        for (k, (((key, valid_from), valid_to), stored_hash)) in stored_keys.iter().zip(from.iter()).zip(to.iter()).zip(stored_hashes.iter()).enumerate() {
            let Some(row) = key.zip(valid_from) else { return Ok(None) };
            let (in_order, same_key) = match previous_row.or_else(|| last.row.as_ref().map(|(k, v)| (k.as_str(), v.as_str()))) {
                Some(before) => (before < row, before.0 == row.0),
                None => (true, false),
            };
            if !in_order || row.1 >= version {
                return Ok(None);
            }
            previous_row = Some(row);
            let key = row.0;
            // New rows before this key have no open row left to match: added.
            loop {
                match new.at(cursor)? {
                    Next::Row(next, hash) if next < key => walk.add(&mut cursor, hash)?,
                    Next::Unordered => return Ok(None),
                    _ => break,
                }
            }
            // Opened rows go after every stored row of a smaller key (their version is newer than
            // any stored one, so after every stored row of their own key too). Every row before the
            // cursor has a key below this one, but for a modified row of this very key.
            if !same_key {
                waiting = None;
            }
            let before = waiting.unwrap_or(cursor);
            while walk.unplaced.front().is_some_and(|&i| i < before) {
                walk.sides.push(false);
                walk.unplaced.pop_front();
            }
            walk.sides.push(true);
            if valid_to.is_some() {
                continue;
            }
            let same_open_key = match previous_open {
                Some(open) => open == key,
                None => last.open_key.as_deref() == Some(key),
            };
            if same_open_key {
                return Ok(None);
            }
            previous_open = Some(key);
            let j = offset + k;
            match new.at(cursor)? {
                Next::Unordered => return Ok(None),
                Next::Row(next, hash) if next == key => {
                    if stored_hash.map(str::as_bytes) != Some(hex_into(hash, &mut hex_digits).as_slice()) {
                        walk.closed.set(j);
                        walk.append(cursor, hash)?;
                        modifications.push((walk.pending.len(), cursor, k));
                        walk.pending.push(Change { kind: Kind::Modified, key: cursor as u32, columns: NO_COLUMNS });
                        walk.modified += 1;
                        waiting = Some(cursor);
                    }
                    cursor += 1;
                }
                _ => {
                    walk.closed.set(j);
                    walk.pending.push(Change { kind: Kind::Removed, key: walk.removed_keys.len() as u32, columns: NO_COLUMNS });
                    walk.removed_keys.push(key.to_owned());
                    walk.removed += 1;
                }
            }
        }
        if !modifications.is_empty() {
            // The stored rows' values, in the columns the previous version published: read only
            // for the groups that hold modifications.
            let projection = if compared.is_empty() { vec![pk] } else { compared.to_vec() };
            let values = stored.read(offset, rows, Some(&projection))?;
            // The new rows of these modifications only, taken from the table's slices that hold
            // them (in increasing order: usually the slice the walk is in, else read again).
            let now = current.take(&modifications.iter().map(|m| m.1 as IdxSize).collect::<Vec<_>>())?;
            let pairs: Vec<(usize, usize)> = modifications.iter().enumerate().map(|(i, m)| (i, m.2)).collect();
            let names = changed_column_names(&now, &values, previous_columns, &pairs)?;
            for (m, names) in modifications.iter().zip(names) {
                let next = column_set_numbers.len() as u32;
                let number = *column_set_numbers.entry(names).or_insert_with_key(|names| {
                    walk.column_sets.push(names.clone());
                    next
                });
                walk.pending[m.0].columns = number;
            }
        }
        walk.set_aside()?;
        last = Last { row: previous_row.map(|(k, v)| (k.to_owned(), v.to_owned())).or(last.row), open_key: previous_open.map(str::to_owned).or(last.open_key) };
    }
    // The new rows after the last stored key: added.
    loop {
        match new.at(cursor)? {
            Next::Row(_, hash) => walk.add(&mut cursor, hash)?,
            Next::Unordered => return Ok(None),
            Next::End => break,
        }
        // (Set aside as they come: the rows after the last stored key can be most of the table.)
        walk.set_aside()?;
    }
    for _ in walk.unplaced.drain(..) {
        walk.sides.push(false);
    }
    Ok(Some(walk))
}

#[cfg(test)]
mod tests {
    use super::Bits;

    /// Bits pushed and set read back as a Vec<bool> holds them, counted before any row.
    #[test]
    fn bits_are_what_a_vec_of_bools_holds() {
        let flags: Vec<bool> = (0..300usize).map(|i| (i * 2_654_435_761) >> 7 & 3 == 0 || i == 63 || i == 64).collect();
        let mut pushed = Bits::with_capacity(flags.len());
        let mut set = Bits::zeros(flags.len());
        for (i, &flag) in flags.iter().enumerate() {
            pushed.push(flag);
            if flag {
                set.set(i);
            }
        }
        for bits in [&pushed, &set] {
            assert_eq!(bits.len(), flags.len());
            assert_eq!(bits.range(0, flags.len()).collect::<Vec<_>>(), flags);
            for end in 0..=flags.len() {
                assert_eq!(bits.ones_before(end), flags[..end].iter().filter(|f| **f).count(), "before {end}");
                assert_eq!(bits.range(end / 2, end).collect::<Vec<_>>(), flags[end / 2..end]);
            }
        }
        assert!(Bits::zeros(0).is_empty() && Bits::zeros(0).ones_before(0) == 0);
    }
}
