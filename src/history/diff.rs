//! One table's step of the history: compare the new rows with the rows the store holds as current
//! (valid_to empty), by primary key and row hash; close what was removed or modified, append what
//! was added or modified, and list the changes with the columns that changed.

use polars::prelude::*;

use super::changelog::Changelog;
use std::sync::Arc;

use super::current::{Current, Hashing};
use super::stored::StoredRows;
use super::walk;
use super::{table_error, HistoryError, Store, CHANGE, CHANGED_COLUMNS, ROW_HASH, VALID_FROM, VALID_TO};
use crate::sha256::hex_into;
use crate::table::spill::TableSource;
use crate::table::Table;

pub(super) struct TableOutcome<'a> {
    pub store: Store<'a>,
    /// The table's content digest, from the row hashes computed here.
    pub digest: Digest<'a>,
    pub changes: Changelog<'a>,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
}

/// A table's content digest: known, or to be made from the row hashes a first night's store
/// makes as it is written (`Store::Opened`), once it is.
pub(super) enum Digest<'a> {
    Known(String),
    OfHashed(Arc<Hashing<'a>>),
}

impl Digest<'_> {
    /// The digest (the rows the store did not read, if any, hashed now).
    pub fn value(&self) -> PolarsResult<String> {
        match self {
            Digest::Known(digest) => Ok(digest.clone()),
            Digest::OfHashed(table) => table.digest(),
        }
    }
}

pub(super) const ADDED: &str = "ajout";
pub(super) const REMOVED: &str = "suppression";
pub(super) const MODIFIED: &str = "modification";

/// One row of the changelog: the change, the primary key, the changed columns of a modification.
type Change<'k> = (&'static str, &'k str, Option<String>);

/// The store's open rows (valid_to empty), borrowed from its columns: primary key → row.
fn open_rows<'s>(keys: &'s StringChunked, valid_to: &StringChunked) -> PlHashMap<&'s str, usize> {
    let mut open = PlHashMap::with_capacity(keys.len());
    for (i, (key, to)) in keys.iter().zip(valid_to.iter()).enumerate() {
        if let (Some(key), None) = (key, to) {
            open.insert(key, i);
        }
    }
    open
}

/// The step of table `name` of `tables`. The table is read a slice of rows at a time, never whole:
/// on a later night hashed as the walk of the previous store advances beside it (its keys checked
/// in order, its hashes counted into the digest and those of the rows the night opens set aside in
/// `scratch`, its rows read again where the store and the changelog need them); on a first night
/// hashed as the store reads them, once (its keys checked and written a slice at a time, its row
/// hashes set aside for the digest). At national scale the largest tables are several times what
/// their key column and row hashes would be, and those were 1 GB whole.
pub(super) fn advance_table<'a>(tables: &'a dyn TableSource, name: &'static str, previous: Option<Box<dyn StoredRows>>, previous_columns: Option<&[String]>, version: &str, scratch: &std::path::Path) -> Result<TableOutcome<'a>, HistoryError> {
    let err = table_error(name);
    let current = Current::new(tables, name);
    let pk = current.primary_key();
    let previous = match previous {
        // A first night in key order: every row is added, the changelog is the key column beside
        // two constant columns, and the store is the table itself beside its versions and row
        // hashes, all made a slice at a time as they are written (`Store::Opened`), the rows hashed
        // then (read once), the digest made after. Nothing is held whole.
        None if current.keys_strictly_increasing().map_err(&err)? => {
            let rows = current.height();
            let changes = Changelog::EveryRowAdded { table: Current::new(tables, name) };
            let table = Arc::new(Hashing::new(current, scratch));
            let store = Store::Opened { rows: table.clone(), version: version.to_owned() };
            return Ok(TableOutcome { store, digest: Digest::OfHashed(table), changes, added: rows as u64, removed: 0, modified: 0 });
        }
        // A later night: the store is walked a row group at a time beside the table (in key order,
        // as every table is, unless a pseudonymised key moved it), a slice at a time.
        Some(stored) => match walk::walk(stored.as_ref(), &current, previous_columns, version, pk, scratch).map_err(&err)? {
            Some(walk) => {
                let walk::Walk { closed, opened, sides, changes, removed_keys, column_sets, added, removed, modified, digest, .. } = walk;
                // The changelog is made from the walk's changes a slice at a time as it is
                // written, reading their keys from the table and borrowing their changed columns:
                // on a night that modifies most rows, a copy of them per row is gigabytes, the
                // changelog whole hundreds of megabytes.
                let changes = Changelog::Walked { table: Current::new(tables, name), changes, removed_keys, column_sets };
                let store = Store::Merged { old: stored, closed, version: version.to_owned(), primary_key: pk, table: Box::new(current), opened, sides };
                return Ok(TableOutcome { store, digest: Digest::Known(digest), changes, added, removed, modified });
            }
            None => Some(stored),
        },
        None => None,
    };
    // Out of order, or a store the walk could not prove sound: compared whole, in memory, the
    // table too.
    let hashes = current.hashes().map_err(&err)?;
    let table = tables.load(name).map_err(|e| HistoryError::Table { table: name.to_owned(), message: e.to_string() })?.expect("a name the source gave");
    let stored = previous.map(|stored| stored.read_all()).transpose().map_err(&err)?;
    whole_outcome(&table, hashes, stored, previous_columns, version)
}

/// The comparison with the whole table and the whole previous store in memory: a table out of key
/// order, or a store the walk does not take (a later night then sorts the merged store whole, as
/// polars decides for the unsound stores the walk refuses).
fn whole_outcome(table: &Table, hashes: Vec<[u8; 32]>, previous: Option<DataFrame>, previous_columns: Option<&[String]>, version: &str) -> Result<TableOutcome<'static>, HistoryError> {
    let err = table_error(table.name());
    let pk = table.spec.primary_key;
    let current = &table.frame;
    let keys = current.column(pk).and_then(Column::str).map_err(&err)?;

    // The previous version's rows: the store's open rows.
    let mut open = PlHashMap::new();
    let (mut stored_hashes, mut closed): (Vec<Option<&str>>, Vec<bool>) = (Vec::new(), Vec::new());
    if let Some(store) = &previous {
        let stored_keys = store.column(pk).and_then(Column::str).map_err(&err)?;
        open = open_rows(stored_keys, store.column(VALID_TO).and_then(Column::str).map_err(&err)?);
        stored_hashes = store.column(ROW_HASH).and_then(Column::str).map_err(&err)?.iter().collect();
        closed = vec![false; store.height()];
    }

    let mut appended: Vec<IdxSize> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    // Modified rows as (change, new row, stored row): their changed columns are named at the end,
    // from these rows alone.
    let mut modifications: Vec<(usize, usize, usize)> = Vec::new();
    let mut added = 0u64;
    let mut hex_digits = [0u8; 64];
    for (i, key) in keys.iter().enumerate() {
        let Some(key) = key else { continue };
        // A first night has no open rows: no key to look up.
        match if open.is_empty() { None } else { open.remove(key) } {
            None => {
                added += 1;
                appended.push(i as IdxSize);
                changes.push((ADDED, key, None));
            }
            Some(j) if stored_hashes[j].map(str::as_bytes) != Some(hex_into(&hashes[i], &mut hex_digits).as_slice()) => {
                closed[j] = true;
                appended.push(i as IdxSize);
                modifications.push((changes.len(), i, j));
                changes.push((MODIFIED, key, None));
            }
            Some(_) => {}
        }
    }
    let modified = modifications.len() as u64;
    if let Some(store) = previous.as_ref().filter(|_| !modifications.is_empty()) {
        let pairs: Vec<(usize, usize)> = modifications.iter().map(|m| (m.1, m.2)).collect();
        let names = changed_column_names(current, store, previous_columns, &pairs).map_err(&err)?;
        for (m, names) in modifications.iter().zip(names) {
            changes[m.0].2 = Some(names);
        }
    }
    let removed = open.len() as u64;
    for (key, j) in open {
        closed[j] = true;
        changes.push((REMOVED, key, None));
    }
    changes.sort_by(|a, b| a.1.cmp(b.1));

    let change_frame = change_frame(&changes, keys, pk).map_err(&err)?;
    drop((changes, stored_hashes));

    // Every row appended: the table itself, shared rather than gathered.
    let mut new_rows = if appended.len() == current.height() {
        current.clone()
    } else {
        current.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), appended.clone())).map_err(&err)?
    };
    new_rows.hstack_mut(&store_columns(version, appended.iter().map(|&i| &hashes[i as usize]), appended.len())).map_err(&err)?;

    let store = match previous {
        None => new_rows,
        Some(store) => {
            let (mut old, new_rows) = align(store, new_rows, pk).map_err(&err)?;
            let valid_to = close_rows(old.column(VALID_TO).and_then(Column::str).map_err(&err)?, closed.iter().copied(), version);
            old.replace(VALID_TO, valid_to.into_column()).map_err(&err)?;
            old.vstack(&new_rows).map_err(&err)?
        }
    };
    let store = Store::Frame(sort_by_key_and_version(store, pk).map_err(&err)?);
    let digest = Digest::Known(crate::table::digest::digest_of(hashes));
    Ok(TableOutcome { store, digest, changes: Changelog::Frame(change_frame), added, removed, modified })
}

/// The end version of stored rows, `version` for those this release closes.
pub(super) fn close_rows(valid_to: &StringChunked, closed: impl Iterator<Item = bool>, version: &str) -> StringChunked {
    let closed: StringChunked = valid_to.iter().zip(closed).map(|(to, close)| if close { Some(version) } else { to }).collect();
    closed.with_name(PlSmallStr::from_static(VALID_TO))
}

/// The store's own columns for rows opened in `version`: opened then, still open, their row hash.
pub(super) fn store_columns<'h>(version: &str, hashes: impl Iterator<Item = &'h [u8; 32]>, rows: usize) -> [Column; 3] {
    let mut hex_digits = [0u8; 64];
    let mut row_hash_values = StringChunkedBuilder::new(PlSmallStr::from_static(ROW_HASH), rows);
    for hash in hashes {
        row_hash_values.append_value(std::str::from_utf8(hex_into(hash, &mut hex_digits)).expect("hex digits are ASCII"));
    }
    [
        StringChunked::full(PlSmallStr::from_static(VALID_FROM), version, rows).into_column(),
        Column::full_null(PlSmallStr::from_static(VALID_TO), rows, &DataType::String),
        row_hash_values.finish().into_column(),
    ]
}


/// The changelog as a frame. When every row of the table was added (a first night), with its keys
/// already in order, the changelog is the table's key column beside two constant columns: shared,
/// not copied row by row.
fn change_frame(changes: &[Change], keys: &StringChunked, pk: &str) -> PolarsResult<DataFrame> {
    let every_row_added = changes.len() == keys.len() && keys.null_count() == 0 && changes.iter().all(|c| c.0 == ADDED) && changes.iter().zip(keys.iter()).all(|(c, k)| Some(c.1) == k);
    if every_row_added {
        return self::every_row_added(keys, pk);
    }
    DataFrame::new_infer_height(vec![
        Column::new(PlSmallStr::from_static(CHANGE), changes.iter().map(|c| c.0).collect::<Vec<_>>()),
        Column::new(PlSmallStr::from(pk), changes.iter().map(|c| c.1).collect::<Vec<_>>()),
        Column::new(PlSmallStr::from_static(CHANGED_COLUMNS), changes.iter().map(|c| c.2.as_deref()).collect::<Vec<_>>()),
    ])
}

/// The changelog of a table whose every row (`keys`, without nulls, in order) was added.
fn every_row_added(keys: &StringChunked, pk: &str) -> PolarsResult<DataFrame> {
    let rows = keys.len();
    DataFrame::new_infer_height(vec![
        StringChunked::full(PlSmallStr::from_static(CHANGE), ADDED, rows).into_column(),
        keys.clone().with_name(PlSmallStr::from(pk)).into_column(),
        Column::new(PlSmallStr::from_static(CHANGED_COLUMNS), vec![None::<&str>; rows]),
    ])
}

/// The changed columns of each (new row, stored row) pair, joined by ";": the columns whose
/// canonical value differs, a column present on one side only always counting (the row as
/// published gained or lost it). Compared a column at a time on the pairs' rows only, so a night
/// with a few modifications does not touch whole tables; a block of pairs at a time, as a night
/// can modify most rows of a table (a new update date everywhere). Columns of the same type on
/// both sides whose canonical text is the value itself, written without loss (text, integers,
/// booleans, dates, datetimes to their unit), are compared as values; any other (floats, whose
/// -0.0 and NaN compare unlike their text) is compared as canonical text.
pub(super) fn changed_column_names(current: &DataFrame, store: &DataFrame, previous_columns: Option<&[String]>, pairs: &[(usize, usize)]) -> PolarsResult<Vec<String>> {
    const PAIRS_PER_BLOCK: usize = 65_536;
    let previous: Vec<&str> = previous_columns.unwrap_or_default().iter().map(String::as_str).filter(|c| store.column(c).is_ok()).collect();
    let mut names: Vec<&str> = current.get_column_names().into_iter().map(|n| n.as_str()).collect();
    names.extend(previous.iter().filter(|n| current.column(n).is_err()));
    let mut out = Vec::with_capacity(pairs.len());
    for block in pairs.chunks(PAIRS_PER_BLOCK) {
        let rows = |pick: fn(&(usize, usize)) -> usize| IdxCa::from_vec(PlSmallStr::from_static("rows"), block.iter().map(|m| pick(m) as IdxSize).collect());
        // New rows that follow one another in `current` (the walk gives exactly the modified
        // rows, in order) are a slice of it, not a copy.
        let first = block[0].0;
        let now = if block.iter().enumerate().all(|(k, m)| m.0 == first + k) { current.slice(first as i64, block.len()) } else { current.take(&rows(|m| m.0))? };
        let before = store.select(previous.iter().copied())?.take(&rows(|m| m.1))?;
        // Per column: which pairs differ (None: the column is on one side only, every pair).
        let differs: Vec<Option<BooleanChunked>> = names
            .iter()
            .map(|name| match (now.column(name), before.column(name)) {
                (Ok(a), Ok(b)) => values_differ(a, b).map(Some),
                _ => Ok(None),
            })
            .collect::<PolarsResult<_>>()?;
        for k in 0..block.len() {
            let changed: Vec<&str> = names.iter().zip(&differs).filter(|(_, d)| d.as_ref().is_none_or(|d| d.get(k) == Some(true))).map(|(n, _)| *n).collect();
            out.push(changed.join(";"));
        }
    }
    Ok(out)
}

/// Whether each pair of values differs in canonical text (two nulls are equal).
fn values_differ(a: &Column, b: &Column) -> PolarsResult<BooleanChunked> {
    let lossless = matches!(a.dtype(), DataType::String | DataType::Int64 | DataType::Boolean | DataType::Date | DataType::Datetime(_, _));
    if a.dtype() == b.dtype() && lossless {
        return a.as_materialized_series().not_equal_missing(b.as_materialized_series());
    }
    let (a, b) = (a.cast(&DataType::String)?, b.cast(&DataType::String)?);
    a.as_materialized_series().not_equal_missing(b.as_materialized_series())
}

/// The store in the order it is published: by primary key, then version. On a first night the
/// rows are already in that order (one check, nothing moved); on a later one they arrive as the
/// previous store (in order) followed by the new rows (by key), so a stable sort of row numbers
/// merges two runs in linear time, where polars' sort on two text columns sorts from scratch. When every (key, version) is present and distinct, that order is the only one and is
/// polars' own; otherwise (a null or a tie, which a sound store never holds) polars sorts.
fn sort_by_key_and_version(store: DataFrame, pk: &str) -> PolarsResult<DataFrame> {
    let keys = store.column(pk)?.str()?;
    let versions = store.column(VALID_FROM)?.str()?;
    // Already in order (a first night: the table is sorted by key): nothing to move.
    let mut previous: Option<(&str, &str)> = None;
    let in_order = keys.iter().zip(versions.iter()).all(|(k, v)| match k.zip(v) {
        Some(row) => previous.replace(row).is_none_or(|before| before < row),
        None => false,
    });
    if in_order {
        let mut store = store;
        store.rechunk_mut();
        return Ok(store);
    }
    let rows: Option<Vec<(&str, &str)>> = keys.iter().zip(versions.iter()).map(|(k, v)| k.zip(v)).collect();
    let order = rows.and_then(|rows| {
        let mut order: Vec<IdxSize> = (0..rows.len() as IdxSize).collect();
        order.sort_by(|&a, &b| rows[a as usize].cmp(&rows[b as usize]));
        order.windows(2).all(|w| rows[w[0] as usize] < rows[w[1] as usize]).then_some(order)
    });
    match order {
        None => store.sort([pk, VALID_FROM], SortMultipleOptions::default()),
        Some(order) => store.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), order)),
    }
}

/// Give both frames the same columns in the same order (a column missing on one side is null
/// there), so the store can keep rows written under different schemas.
pub(super) fn align(old: DataFrame, new: DataFrame, pk: &str) -> PolarsResult<(DataFrame, DataFrame)> {
    let scd = [VALID_FROM, VALID_TO, ROW_HASH];
    let mut order: Vec<String> = vec![pk.to_owned()];
    for frame in [&new, &old] {
        for name in frame.get_column_names() {
            let name = name.to_string();
            if !order.contains(&name) && !scd.contains(&name.as_str()) {
                order.push(name);
            }
        }
    }
    order.extend(scd.iter().map(|s| s.to_string()));
    let complete = |mut frame: DataFrame, other: &DataFrame| -> PolarsResult<DataFrame> {
        for name in &order {
            if frame.column(name).is_err() {
                let dtype = other.column(name)?.dtype().clone();
                frame.with_column(Column::full_null(PlSmallStr::from(name.as_str()), frame.height(), &dtype))?;
            }
        }
        frame.select(order.iter().map(String::as_str))
    };
    let old_complete = complete(old, &new)?;
    let new_complete = complete(new, &old_complete)?;
    Ok((old_complete, new_complete))
}

/// Close every open row of a part of a store (the table is no longer published).
pub(super) fn close_all(mut part: DataFrame, version: &str) -> PolarsResult<DataFrame> {
    let valid_to: StringChunked = part.column(VALID_TO)?.str()?.iter().map(|to| to.or(Some(version))).collect();
    part.replace(VALID_TO, valid_to.with_name(PlSmallStr::from_static(VALID_TO)).into_column())?;
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::catalog::ENTITES_JURIDIQUES;
    use crate::sha256::hex;
    use crate::table::digest::{content_digest, row_hashes};

    /// A table of legal entities with the given (key, name) rows, the other columns null.
    fn table(rows: &[(&str, &str)]) -> Table {
        let columns = ENTITES_JURIDIQUES
            .columns
            .iter()
            .map(|c| match c.name {
                "identifiant_ror" => Column::new(c.name.into(), rows.iter().map(|r| r.0).collect::<Vec<_>>()),
                "raison_sociale" => Column::new(c.name.into(), rows.iter().map(|r| r.1).collect::<Vec<_>>()),
                _ => Column::full_null(c.name.into(), rows.len(), &DataType::String),
            })
            .collect();
        Table { spec: &ENTITES_JURIDIQUES, frame: DataFrame::new_infer_height(columns).unwrap() }
    }

    /// The source the stage reads a table from, holding that table alone.
    fn source(table: &Table) -> crate::table::Tables {
        crate::table::Tables::from([(table.name(), table.clone())])
    }

    fn text_column(frame: &DataFrame, name: &str) -> Vec<Option<String>> {
        frame.column(name).unwrap().str().unwrap().iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn a_second_night_closes_modified_and_removed_rows_and_appends_new_versions() {
        let first = table(&[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]);
        let tables1 = source(&first);
        let night1 = advance_table(&tables1, "entites_juridiques", None, None, "v1", &std::env::temp_dir()).unwrap();
        assert_eq!((night1.added, night1.removed, night1.modified), (4, 0, 0));
        assert_eq!(night1.digest.value().unwrap(), content_digest(&first.frame).unwrap());
        let hashes = row_hashes(&first.frame).unwrap();
        let store1 = night1.store.to_frame().unwrap();
        assert!(matches!(night1.store, Store::Opened { .. }), "a first night in key order");
        assert_eq!(text_column(&store1, ROW_HASH), hashes.iter().map(|h| Some(hex(h))).collect::<Vec<_>>());

        let columns: Vec<String> = ENTITES_JURIDIQUES.columns.iter().map(|c| c.name.to_owned()).collect();
        let second = table(&[("a", "A"), ("b", "B2"), ("d", "D"), ("e", "E")]);
        let tables2 = source(&second);
        let night2 = advance_table(&tables2, "entites_juridiques", Some(Box::new(store1)), Some(&columns), "v2", &std::env::temp_dir()).unwrap();
        assert!(matches!(night2.store, Store::Merged { .. }), "a later night merges");
        assert_eq!((night2.added, night2.removed, night2.modified), (1, 1, 1));
        let changes = night2.changes.to_frame().unwrap();
        assert_eq!(text_column(&changes, CHANGE), [Some(MODIFIED), Some(REMOVED), Some(ADDED)].map(|c| c.map(str::to_owned)));
        assert_eq!(text_column(&changes, "identifiant_ror"), [Some("b"), Some("c"), Some("e")].map(|c| c.map(str::to_owned)));
        assert_eq!(text_column(&changes, CHANGED_COLUMNS), [Some("raison_sociale".to_owned()), None, None]);

        // By key, then version: every row version once, the replaced and removed ones closed.
        let store = &night2.store.to_frame().unwrap();
        let rows: Vec<(Option<String>, Option<String>, Option<String>, Option<String>)> = (0..store.height())
            .map(|i| {
                let at = |name: &str| text_column(store, name)[i].clone();
                (at("identifiant_ror"), at("raison_sociale"), at(VALID_FROM), at(VALID_TO))
            })
            .collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            rows,
            vec![
                (s("a"), s("A"), s("v1"), None),
                (s("b"), s("B"), s("v1"), s("v2")),
                (s("b"), s("B2"), s("v2"), None),
                (s("c"), s("C"), s("v1"), s("v2")),
                (s("d"), s("D"), s("v1"), None),
                (s("e"), s("E"), s("v2"), None),
            ]
        );
        assert_eq!(night2.digest.value().unwrap(), content_digest(&second.frame).unwrap());
        // Made a slice at a time (as it is written, a row group at a time), at any slice size.
        for size in 1..=store.height() {
            let mut parts = night2.store.slice(0, size).unwrap();
            for offset in (size..store.height()).step_by(size) {
                parts.vstack_mut(&night2.store.slice(offset, size.min(store.height() - offset)).unwrap()).unwrap();
            }
            assert!(parts.equals_missing(store), "slices of {size} rows");
        }
    }

    /// A store in memory read in parts of a few rows, so that a walk crosses many part
    /// boundaries; it records whether it was ever read whole (the walk's fallback).
    struct SmallParts {
        frame: DataFrame,
        rows: usize,
        read_whole: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl StoredRows for SmallParts {
        fn height(&self) -> usize {
            self.frame.height()
        }
        fn parts(&self) -> Vec<(usize, usize)> {
            (0..self.frame.height()).step_by(self.rows).map(|o| (o, self.rows.min(self.frame.height() - o))).collect()
        }
        fn has_column(&self, name: &str) -> bool {
            self.frame.column(name).is_ok()
        }
        fn read(&self, offset: usize, rows: usize, columns: Option<&[&str]>) -> PolarsResult<DataFrame> {
            StoredRows::read(&self.frame, offset, rows, columns)
        }
        fn read_all(&self) -> PolarsResult<DataFrame> {
            self.read_whole.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(self.frame.clone())
        }
    }

    fn outcome_parts(outcome: &TableOutcome) -> (DataFrame, DataFrame, String, (u64, u64, u64)) {
        (outcome.store.to_frame().unwrap(), outcome.changes.to_frame().unwrap(), outcome.digest.value().unwrap(), (outcome.added, outcome.removed, outcome.modified))
    }

    /// Night after night of random additions, removals and modifications: walking the previous
    /// store a few rows at a time gives exactly what comparing it whole in memory gives.
    #[test]
    fn walking_the_store_in_parts_gives_what_the_whole_store_gives() {
        let columns: Vec<String> = ENTITES_JURIDIQUES.columns.iter().map(|c| c.name.to_owned()).collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut random = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut store: Option<DataFrame> = None;
        let names = ["A", "B", "C"];
        for night in 1..=12 {
            let mut rows: Vec<(String, &str)> = Vec::new();
            for k in 0..60 {
                if random(3) > 0 {
                    rows.push((format!("k{k:03}"), names[random(3) as usize]));
                }
            }
            let rows: Vec<(&str, &str)> = rows.iter().map(|(k, n)| (k.as_str(), *n)).collect();
            let table = table(&rows);
            let version = format!("v{night:02}");
            let whole = whole_outcome(&table, row_hashes(&table.frame).unwrap(), store.clone(), Some(&columns), &version).unwrap();
            let Some(previous) = store.clone() else {
                store = Some(whole.store.to_frame().unwrap());
                continue;
            };
            let read_whole = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let parts = SmallParts { frame: previous, rows: 1 + random(7) as usize, read_whole: read_whole.clone() };
            let tables = source(&table);
            let walked = advance_table(&tables, "entites_juridiques", Some(Box::new(parts)), Some(&columns), &version, &std::env::temp_dir()).unwrap();
            assert!(!read_whole.load(std::sync::atomic::Ordering::Relaxed), "night {night}: the walk took the store");
            let (walked, whole) = (outcome_parts(&walked), outcome_parts(&whole));
            assert!(walked.0.equals_missing(&whole.0), "night {night}: store\n{}\n{}", walked.0, whole.0);
            assert!(walked.1.equals_missing(&whole.1), "night {night}: changes\n{}\n{}", walked.1, whole.1);
            assert_eq!((walked.2, walked.3), (whole.2, whole.3), "night {night}");
            store = Some(walked.0);
        }
    }

    /// A table of three slices of rows, read a slice at a time, gives over two nights what the
    /// table and the store compared whole in memory give: stores, changelogs, digests, counts.
    #[test]
    fn a_table_of_several_slices_gives_what_the_whole_table_gives() {
        let columns: Vec<String> = ENTITES_JURIDIQUES.columns.iter().map(|c| c.name.to_owned()).collect();
        let rows = 200_000;
        let night = |n: usize| -> Table {
            // Night 2 drops a key in 13, renames four in 5, and adds keys between and after.
            let keys: Vec<String> = (0..rows + 10 * n).filter(|i| n == 1 || i % 13 != 4).map(|i| format!("k{:07}{}", i, if n == 2 && i % 29 == 0 { "b" } else { "" })).collect();
            let names: Vec<String> = (0..keys.len()).map(|i| format!("{}", if n == 2 && i % 5 != 0 { i + 1 } else { i % 1_000 })).collect();
            let rows: Vec<(&str, &str)> = keys.iter().zip(&names).map(|(k, v)| (k.as_str(), v.as_str())).collect();
            table(&rows)
        };
        let first = night(1);
        assert_eq!(crate::table::spill::slices(first.rows()).len(), 3);
        let tables1 = source(&first);
        let sliced = advance_table(&tables1, "entites_juridiques", None, None, "v1", &std::env::temp_dir()).unwrap();
        let whole = whole_outcome(&first, row_hashes(&first.frame).unwrap(), None, None, "v1").unwrap();
        let (sliced, whole) = (outcome_parts(&sliced), outcome_parts(&whole));
        assert!(sliced.0.equals_missing(&whole.0) && sliced.1.equals_missing(&whole.1));
        assert_eq!((&sliced.2, sliced.3), (&whole.2, whole.3));
        let second = night(2);
        let tables2 = source(&second);
        let sliced = advance_table(&tables2, "entites_juridiques", Some(Box::new(whole.0.clone())), Some(&columns), "v2", &std::env::temp_dir()).unwrap();
        assert!(matches!(sliced.store, Store::Merged { .. }), "the walk took it");
        // The changelog made a row group at a time, as it is written, is the changelog whole.
        let groups = crate::table::write::row_groups(sliced.changes.height());
        assert!(groups.len() > 1, "{} changes", sliced.changes.height());
        let mut parts = sliced.changes.slice(0, 0).unwrap();
        for (offset, rows) in groups {
            parts.vstack_mut_owned(sliced.changes.slice(offset, rows).unwrap()).unwrap();
        }
        assert!(parts.equals_missing(&sliced.changes.to_frame().unwrap()));
        let whole = whole_outcome(&second, row_hashes(&second.frame).unwrap(), Some(whole.0), Some(&columns), "v2").unwrap();
        let (sliced, whole) = (outcome_parts(&sliced), outcome_parts(&whole));
        assert!(whole.3 .0 > 0 && whole.3 .1 > 0 && whole.3 .2 > 0, "{:?}", whole.3);
        assert!(sliced.0.equals_missing(&whole.0), "store");
        assert!(sliced.1.equals_missing(&whole.1), "changes");
        assert_eq!((sliced.2, sliced.3), (whole.2, whole.3));
    }

    /// A table of three slices whose changes sit on both sides of its slices' boundaries (rows
    /// added, removed and modified just before and just after each), night after night (so the
    /// store holds closed and open versions of the keys there too), walked beside a store read a
    /// few rows at a time: the walk crosses the table's slices as its cursor advances, and gives
    /// what the table and the store compared whole in memory give. A table out of key order in
    /// its last slice is compared whole, as before.
    #[test]
    fn a_walk_across_the_tables_slices_gives_what_the_whole_comparison_gives() {
        use crate::table::spill::slices;
        let columns: Vec<String> = ENTITES_JURIDIQUES.columns.iter().map(|c| c.name.to_owned()).collect();
        let rows = 200_000;
        // Near each boundary, a row is absent, present, renamed, or present with a key after it
        // that is new each night (the one before removed), by night.
        let state = |i: usize, n: usize| ((i * 2_654_435_761 + n * 40_503) >> 5) % 4;
        let night = |n: usize| -> Table {
            let mut keyed: Vec<(String, String)> = Vec::with_capacity(rows + 100);
            for i in 0..rows {
                let near = [66_666usize, 133_333].iter().any(|&c| i + 16 > c && i < c + 16);
                match if near { state(i, n) } else { 1 } {
                    0 => {}
                    1 => keyed.push((format!("k{i:07}"), format!("{}", i % 1_000))),
                    2 => keyed.push((format!("k{i:07}"), format!("{i}-{n}"))),
                    _ => {
                        keyed.push((format!("k{i:07}"), format!("{}", i % 1_000)));
                        keyed.push((format!("k{i:07}b{n}"), "new".to_owned()));
                    }
                }
            }
            let rows: Vec<(&str, &str)> = keyed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            table(&rows)
        };
        let first = night(1);
        let mut store = whole_outcome(&first, row_hashes(&first.frame).unwrap(), None, None, "v1").unwrap().store.to_frame().unwrap();
        for n in 2..=5 {
            let table = night(n);
            let version = format!("v{n}");
            let boundaries: Vec<usize> = slices(table.rows())[1..].iter().map(|s| s.0).collect();
            assert_eq!(boundaries.len(), 2);
            let read_whole = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let parts = SmallParts { frame: store.clone(), rows: 7, read_whole: read_whole.clone() };
            let tables = source(&table);
            let walked = advance_table(&tables, "entites_juridiques", Some(Box::new(parts)), Some(&columns), &version, &std::env::temp_dir()).unwrap();
            assert!(matches!(walked.store, Store::Merged { .. }) && !read_whole.load(std::sync::atomic::Ordering::Relaxed), "night {n}: walked");
            let whole = whole_outcome(&table, row_hashes(&table.frame).unwrap(), Some(store.clone()), Some(&columns), &version).unwrap();
            let (walked, whole) = (outcome_parts(&walked), outcome_parts(&whole));
            assert!(walked.0.equals_missing(&whole.0), "night {n}: store");
            assert!(walked.1.equals_missing(&whole.1), "night {n}: changes");
            assert_eq!((&walked.2, walked.3), (&whole.2, whole.3), "night {n}");
            // Each kind of change on each side of each boundary: among the keys of the 12 rows
            // before it, and of the 12 rows from it.
            let keys = text_column(&table.frame, "identifiant_ror");
            let (kinds, changed) = (text_column(&walked.1, CHANGE), text_column(&walked.1, "identifiant_ror"));
            for &b in &boundaries {
                for (low, high) in [(&keys[b - 12], &keys[b - 1]), (&keys[b], &keys[b + 11])] {
                    for kind in [ADDED, REMOVED, MODIFIED] {
                        let seen = kinds.iter().zip(&changed).any(|(k, key)| k.as_deref() == Some(kind) && key >= low && key <= high);
                        assert!(seen, "night {n}: {kind} between {low:?} and {high:?}");
                    }
                }
            }
            store = walked.0;
        }
        // A later night whose keys are out of order in the last slice: the walk gives it up, the
        // whole comparison is made.
        let mut keys = text_column(&night(6).frame, "identifiant_ror");
        let last = keys.len() - 1;
        keys.swap(last - 3, last - 1);
        let keys: Vec<(String, String)> = keys.into_iter().map(|k| (k.unwrap(), "x".to_owned())).collect();
        let table = table(&keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>());
        let read_whole = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tables = source(&table);
        let walked = advance_table(&tables, "entites_juridiques", Some(Box::new(SmallParts { frame: store.clone(), rows: 7, read_whole: read_whole.clone() })), Some(&columns), "v6", &std::env::temp_dir()).unwrap();
        assert!(matches!(walked.store, Store::Frame(_)) && read_whole.load(std::sync::atomic::Ordering::Relaxed), "compared whole");
        let whole = whole_outcome(&table, row_hashes(&table.frame).unwrap(), Some(store), Some(&columns), "v6").unwrap();
        let (walked, whole) = (outcome_parts(&walked), outcome_parts(&whole));
        assert!(walked.0.equals_missing(&whole.0) && walked.1.equals_missing(&whole.1));
        assert_eq!((walked.2, walked.3), (whole.2, whole.3));
    }

    /// A store the walk cannot prove sound (two open rows for one key) is compared whole, as before.
    #[test]
    fn a_store_with_two_open_rows_for_a_key_is_compared_whole() {
        let columns: Vec<String> = ENTITES_JURIDIQUES.columns.iter().map(|c| c.name.to_owned()).collect();
        let night1 = advance_table(&source(&table(&[("a", "A"), ("b", "B")])), "entites_juridiques", None, None, "v1", &std::env::temp_dir()).unwrap().store.to_frame().unwrap();
        let night2 = advance_table(&source(&table(&[("a", "A"), ("b", "B2")])), "entites_juridiques", Some(Box::new(night1)), Some(&columns), "v2", &std::env::temp_dir()).unwrap().store.to_frame().unwrap();
        // Reopen b's first version: b now has two open rows.
        let reopened: StringChunked = night2.column(VALID_TO).unwrap().str().unwrap().iter().map(|_| None::<&str>).collect();
        let mut unsound = night2.clone();
        unsound.replace(VALID_TO, reopened.with_name(PlSmallStr::from_static(VALID_TO)).into_column()).unwrap();
        let next = table(&[("a", "A3"), ("b", "B3")]);
        let read_whole = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tables = source(&next);
        let walked = advance_table(&tables, "entites_juridiques", Some(Box::new(SmallParts { frame: unsound.clone(), rows: 2, read_whole: read_whole.clone() })), Some(&columns), "v3", &std::env::temp_dir()).unwrap();
        assert!(read_whole.load(std::sync::atomic::Ordering::Relaxed), "compared whole");
        let whole = whole_outcome(&next, row_hashes(&next.frame).unwrap(), Some(unsound), Some(&columns), "v3").unwrap();
        assert!(outcome_parts(&walked).0.equals_missing(&outcome_parts(&whole).0));
    }

    /// The changed columns as first written: every cell of both rows as canonical text (polars'
    /// cast), compared name by name.
    fn changed_columns_as_text(current: &DataFrame, store: &DataFrame, previous_columns: &[String], pairs: &[(usize, usize)]) -> Vec<String> {
        use crate::table::digest::canonical_columns;
        let now = canonical_columns(current).unwrap();
        let columns: Vec<&str> = previous_columns.iter().map(String::as_str).filter(|c| store.column(c).is_ok()).collect();
        let before = canonical_columns(&store.select(columns).unwrap()).unwrap();
        let mut names: Vec<&str> = now.iter().map(|(n, _)| n.as_str()).collect();
        names.extend(before.iter().map(|(n, _)| n.as_str()).filter(|n| !now.iter().any(|(c, _)| c == n)));
        pairs
            .iter()
            .map(|&(i, j)| {
                let changed: Vec<&str> = names
                    .iter()
                    .filter(|name| {
                        let a = now.iter().find(|(n, _)| n == *name).map(|(_, v)| v[i].as_deref());
                        let b = before.iter().find(|(n, _)| n == *name).map(|(_, v)| v[j].as_deref());
                        a != b
                    })
                    .copied()
                    .collect();
                changed.join(";")
            })
            .collect()
    }

    /// Columns compared as values name exactly the columns whose canonical text differs, for every
    /// type a table holds, with nulls, a column whose type changed, and columns on one side only.
    #[test]
    fn changed_columns_compared_as_values_are_those_whose_text_differs() {
        let n = 400;
        let pick = |i: usize, salt: usize| (i * 2_654_435_761 + salt * 40_503) % 5;
        let frame = |salt: usize, int_as_text: bool, extra: &str| {
            let ints: Vec<Option<i64>> = (0..n).map(|i| (pick(i, salt) != 0).then_some(pick(i, salt + 1) as i64)).collect();
            let mut columns = vec![
                Column::new("k".into(), (0..n).map(|i| format!("k{i}")).collect::<Vec<_>>()),
                Column::new("t".into(), (0..n).map(|i| (pick(i, salt + 2) != 0).then(|| format!("t{}", pick(i, salt + 3) % 2))).collect::<Vec<_>>()),
                Column::new("b".into(), (0..n).map(|i| (pick(i, salt + 4) != 0).then_some(pick(i, salt + 5) % 2 == 0)).collect::<Vec<_>>()),
                Column::new("x".into(), (0..n).map(|i| (pick(i, salt + 6) != 0).then_some([0.0, -0.0, 1.5, f64::NAN, 1e-7][pick(i, salt + 7)])).collect::<Vec<_>>()),
                Column::new("d".into(), (0..n).map(|i| (pick(i, salt + 8) != 0).then_some(pick(i, salt + 9) as i32 * 400)).collect::<Vec<_>>()).cast(&DataType::Date).unwrap(),
                Column::new("s".into(), (0..n).map(|i| (pick(i, salt + 10) != 0).then_some(pick(i, salt + 11) as i64 * 250)).collect::<Vec<_>>()).cast(&DataType::Datetime(TimeUnit::Milliseconds, None)).unwrap(),
                if int_as_text { Column::new("v".into(), ints.iter().map(|v| v.map(|v| v.to_string())).collect::<Vec<_>>()) } else { Column::new("v".into(), ints) },
            ];
            columns.push(Column::new(extra.into(), vec![Some("e"); n]));
            DataFrame::new_infer_height(columns).unwrap()
        };
        let current = frame(1, false, "only_now");
        for (salt, int_as_text) in [(1, false), (2, false), (3, true), (1, true)] {
            let store = frame(salt, int_as_text, "only_before");
            let previous: Vec<String> = store.get_column_names().iter().map(|c| c.to_string()).chain(["gone".to_owned()]).collect();
            let pairs: Vec<(usize, usize)> = (0..n).map(|i| (i, (i * 7) % n)).collect();
            let expected = changed_columns_as_text(&current, &store, &previous, &pairs);
            assert_eq!(changed_column_names(&current, &store, Some(&previous), &pairs).unwrap(), expected, "salt {salt}, integers as text {int_as_text}");
            assert!(expected.iter().any(|c| c.contains("d;")) && expected.iter().any(|c| !c.contains("t;")), "both outcomes seen");
        }
    }

    #[test]
    fn a_store_with_a_repeated_version_is_left_to_polars_sort() {
        // Two rows with the same key and version: no single order, so polars decides as before.
        let store = df!("k" => ["b", "a", "a"], VALID_FROM => ["v1", "v2", "v2"], "n" => [1i64, 2, 3]).unwrap();
        let expected = store.sort(["k", VALID_FROM], SortMultipleOptions::default()).unwrap();
        assert!(sort_by_key_and_version(store, "k").unwrap().equals_missing(&expected));
        let merged = df!("k" => ["a", "c", "b"], VALID_FROM => ["v1", "v1", "v2"]).unwrap();
        let sorted = sort_by_key_and_version(merged, "k").unwrap();
        assert_eq!(text_column(&sorted, "k"), ["a", "b", "c"].map(|k| Some(k.to_owned())));
    }
}
