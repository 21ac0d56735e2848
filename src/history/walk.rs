//! A later night's comparison, made by walking the previous store a row group at a time beside the
//! new table, both in key order: what was added, removed or modified, which stored rows this night
//! closes, and in what order the new store interleaves the stored rows with the rows this night
//! opens. Memory holds one row group of the store and a few bytes per row, where a hash map of the
//! open rows needed the whole store in memory (the next night's peak at national scale). The new
//! table is not held either: its keys and row hashes are, and a modification's row is read from
//! the table's source, a slice at a time (`Current`), when its changed columns are named.
//!
//! The walk only takes a store it can prove sound as it reads it: every (key, version) present and
//! strictly increasing, every version older than the night's, one open row per key. Anything else
//! answers None, and the caller compares the whole store in memory as before.

use polars::prelude::*;

use super::current::Current;
use super::diff::{changed_column_names, ADDED, MODIFIED, REMOVED};
use super::stored::StoredRows;
use super::{ROW_HASH, VALID_FROM, VALID_TO};
use crate::table::digest::hex_into;

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

/// One change, in 12 bytes: a night can modify most rows of a table (a new update date
/// everywhere), and a key and a list of column names per change held as strings cost several
/// hundred megabytes at national scale.
pub struct Change {
    pub kind: Kind,
    /// A row of the new table (added, modified), or a key among `Walk::removed_keys` (removed).
    pub key: u32,
    /// A modification's changed columns among `Walk::column_sets`; `NO_COLUMNS` for the others.
    pub columns: u32,
}

pub(super) const NO_COLUMNS: u32 = u32::MAX;

/// What the walk found.
pub(super) struct Walk {
    /// Per stored row: whether this night closes it.
    pub closed: Vec<bool>,
    /// Rows of the new table this night opens, in key order.
    pub appended: Vec<IdxSize>,
    /// Per row of the new store: whether it is a stored row (else the next of `appended`).
    pub sides: Vec<bool>,
    /// In key order.
    pub changes: Vec<Change>,
    /// The keys of the stored rows the night removes, in key order.
    pub removed_keys: Vec<String>,
    /// Each distinct list of changed columns (";"-joined) the modifications name: a night names
    /// a few, each once.
    pub column_sets: Vec<String>,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
}

impl Walk {
    /// The new table's row at `cursor` is added (no open stored row has its key); move past it.
    fn add(&mut self, cursor: &mut usize) {
        self.appended.push(*cursor as IdxSize);
        self.changes.push(Change { kind: Kind::Added, key: *cursor as u32, columns: NO_COLUMNS });
        self.added += 1;
        *cursor += 1;
    }
}

/// The last stored row seen, kept across row groups (within a group the rows are borrowed).
#[derive(Default)]
struct Last {
    row: Option<(String, String)>,
    open_key: Option<String>,
}

/// Walk `stored` beside the new table's `keys` (strictly increasing, no null) and row `hashes`.
/// `previous_columns` are the columns the previous version published (to name changed columns).
pub(super) fn walk(stored: &dyn StoredRows, current: &Current<'_>, keys: &StringChunked, hashes: &[[u8; 32]], previous_columns: Option<&[String]>, version: &str, pk: &str) -> PolarsResult<Option<Walk>> {
    if keys.null_count() > 0 {
        return Ok(None);
    }
    // The new keys read in place from their one array: a Vec of them cost 16 bytes a row.
    let keys = keys.rechunk();
    let walk = Walk { closed: vec![false; stored.height()], appended: Vec::new(), sides: Vec::with_capacity(stored.height() + keys.len()), changes: Vec::new(), removed_keys: Vec::new(), column_sets: Vec::new(), added: 0, removed: 0, modified: 0 };
    let compared: Vec<&str> = previous_columns.unwrap_or_default().iter().map(String::as_str).filter(|c| stored.has_column(c)).collect();
    // The store's groups are read (decompressed, decoded) on a thread of its own, the next while
    // this one walks the one before: reading and walking took turns, a core idle. The reader
    // waits for the walk to take each group (a channel of no room): at most two groups of these
    // four columns in memory. A walk that stops early (None, an error) drops the receiver, and
    // the reader stops.
    std::thread::scope(|scope| {
        let parts = stored.parts();
        let (sender, receiver) = std::sync::mpsc::sync_channel::<PolarsResult<DataFrame>>(0);
        let reads = parts.clone();
        scope.spawn(move || {
            for (offset, rows) in reads {
                let part = stored.read(offset, rows, Some(&[pk, VALID_FROM, VALID_TO, ROW_HASH]));
                let failed = part.is_err();
                if sender.send(part).is_err() || failed {
                    break;
                }
            }
        });
        let read = || receiver.recv().unwrap_or_else(|_| Err(polars_err!(ComputeError: "the previous store's row groups stopped coming")));
        walk_parts(stored, current, &parts, read, &keys, hashes, previous_columns, &compared, version, pk, walk)
    })
}

/// The walk proper, over the store's `parts` in order, each read by `read` (four columns), beside
/// the new keys (one chunk) and row hashes: filled into `walk`, or None for a store it does not take.
#[allow(clippy::too_many_arguments)]
fn walk_parts(stored: &dyn StoredRows, current: &Current<'_>, parts: &[(usize, usize)], mut read: impl FnMut() -> PolarsResult<DataFrame>, keys: &StringChunked, hashes: &[[u8; 32]], previous_columns: Option<&[String]>, compared: &[&str], version: &str, pk: &str, mut walk: Walk) -> PolarsResult<Option<Walk>> {
    let new_keys = keys.downcast_as_array();
    let key_count = new_keys.len();
    let key_at = |i: usize| (i < key_count).then(|| new_keys.value(i));
    let mut column_set_numbers: PlHashMap<String, u32> = PlHashMap::new();
    // The next row of the new table to compare, and the next opened row to place in the store.
    let (mut cursor, mut placed) = (0usize, 0usize);
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
            let in_order = match previous_row {
                Some(before) => before < row,
                None => last.row.as_ref().is_none_or(|(k, v)| (k.as_str(), v.as_str()) < row),
            };
            if !in_order || row.1 >= version {
                return Ok(None);
            }
            previous_row = Some(row);
            let key = row.0;
            // New rows before this key have no open row left to match: added.
            while key_at(cursor).is_some_and(|k| k < key) {
                walk.add(&mut cursor);
            }
            // Opened rows go after every stored row of a smaller key (their version is newer than
            // any stored one, so after every stored row of their own key too).
            while walk.appended.get(placed).is_some_and(|&i| new_keys.value(i as usize) < key) {
                walk.sides.push(false);
                placed += 1;
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
            if key_at(cursor) == Some(key) {
                if stored_hash.map(str::as_bytes) != Some(hex_into(&hashes[cursor], &mut hex_digits).as_slice()) {
                    walk.closed[j] = true;
                    walk.appended.push(cursor as IdxSize);
                    modifications.push((walk.changes.len(), cursor, k));
                    walk.changes.push(Change { kind: Kind::Modified, key: cursor as u32, columns: NO_COLUMNS });
                    walk.modified += 1;
                }
                cursor += 1;
            } else {
                walk.closed[j] = true;
                walk.changes.push(Change { kind: Kind::Removed, key: walk.removed_keys.len() as u32, columns: NO_COLUMNS });
                walk.removed_keys.push(key.to_owned());
                walk.removed += 1;
            }
        }
        if !modifications.is_empty() {
            // The stored rows' values, in the columns the previous version published: read only
            // for the groups that hold modifications.
            let projection = if compared.is_empty() { vec![pk] } else { compared.to_vec() };
            let values = stored.read(offset, rows, Some(&projection))?;
            // The new rows of these modifications only, read from the table's slices that hold
            // them (in increasing order: the previous group's slice is usually this one's first).
            let now = current.take(&modifications.iter().map(|m| m.1 as IdxSize).collect::<Vec<_>>())?;
            let pairs: Vec<(usize, usize)> = modifications.iter().enumerate().map(|(i, m)| (i, m.2)).collect();
            let names = changed_column_names(&now, &values, previous_columns, &pairs)?;
            for (m, names) in modifications.iter().zip(names) {
                let next = column_set_numbers.len() as u32;
                let number = *column_set_numbers.entry(names).or_insert_with_key(|names| {
                    walk.column_sets.push(names.clone());
                    next
                });
                walk.changes[m.0].columns = number;
            }
        }
        last = Last { row: previous_row.map(|(k, v)| (k.to_owned(), v.to_owned())).or(last.row), open_key: previous_open.map(str::to_owned).or(last.open_key) };
    }
    // The new rows after the last stored key: added.
    while cursor < key_count {
        walk.add(&mut cursor);
    }
    walk.sides.extend(std::iter::repeat_n(false, walk.appended.len() - placed));
    Ok(Some(walk))
}
