//! History: what changed since the previous release (a changelog per table, keyed on the primary
//! key, with the columns that changed), the schema version of each table by the Frictionless rules,
//! and an SCD2 store per table (each row version with the releases it was valid in) from which any
//! past version can be rebuilt and proven identical to what was published.
//!
//! The stage is a pure function of the previous release's history and the new tables; the release
//! module reads the previous files and writes the new ones.

pub mod asof;
mod changelog;
mod current;
mod diff;
mod stored;
pub mod versioning;
mod walk;

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::table::spill::TableSource;
use crate::table::Table;
pub use changelog::Changelog;
use current::{Current, Hashing};
pub use stored::StoredRows;
pub use versioning::SchemaChange;

/// Columns the SCD2 store adds to each table's own.
pub const VALID_FROM: &str = "version_debut";
pub const VALID_TO: &str = "version_fin";
pub const ROW_HASH: &str = "empreinte_ligne";
/// Columns of the changelog files besides the primary key.
pub const CHANGE: &str = "changement";
pub const CHANGED_COLUMNS: &str = "colonnes_modifiees";

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history of table {table}: {message}")]
    Table { table: String, message: String },
    #[error("history: version {version} is not in the history (known: {known})")]
    UnknownVersion { version: String, known: String },
}

pub(crate) fn table_error(table: &str) -> impl Fn(PolarsError) -> HistoryError + '_ {
    move |e| HistoryError::Table { table: table.to_owned(), message: e.to_string() }
}

/// One table as published in one version: enough, with its schema, to rebuild it and prove it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableVersion {
    pub rows: u64,
    pub digest: String,
    pub schema_version: String,
}

/// A table's columns at one schema version. Stored once per schema version, not once per night,
/// so the index grows by a digest per table and night, nothing more.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaFields {
    pub primary_key: String,
    pub columns: Vec<String>,
    /// Table Schema type of each column.
    pub types: Vec<String>,
}

/// One version of the publication, in the history index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionEntry {
    pub version: String,
    pub tables: BTreeMap<String, TableVersion>,
}

/// history/index.json: every version the store can rebuild, oldest first, and every schema version
/// of every table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryIndex {
    /// table → schema version → fields.
    pub schemas: BTreeMap<String, BTreeMap<String, SchemaFields>>,
    pub versions: Vec<VersionEntry>,
}

impl HistoryIndex {
    /// The fields of a table as a version published it.
    pub fn fields(&self, table: &str, recorded: &TableVersion) -> Option<&SchemaFields> {
        self.schemas.get(table).and_then(|s| s.get(&recorded.schema_version))
    }

    pub fn find(&self, version: &str) -> Result<&VersionEntry, HistoryError> {
        self.versions.iter().find(|v| v.version == version).ok_or_else(|| HistoryError::UnknownVersion {
            version: version.to_owned(),
            known: self.versions.iter().map(|v| v.version.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Every table some version holds: the tables that have a store.
    pub fn tables(&self) -> std::collections::BTreeSet<&str> {
        self.versions.iter().flat_map(|v| v.tables.keys().map(String::as_str)).collect()
    }

    /// The newest version published at or before `version` (for "as of" a date between releases).
    pub fn at_or_before(&self, version: &str) -> Option<&VersionEntry> {
        self.versions.iter().rev().find(|v| v.version.as_str() <= version)
    }
}

/// The history as the previous release left it.
#[derive(Debug, Default)]
pub struct PreviousHistory {
    pub index: HistoryIndex,
    /// The SCD2 store of each table.
    pub stores: BTreeMap<String, DataFrame>,
}

/// What changed in one table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableChanges {
    pub table: String,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub schema_change: SchemaChange,
    pub previous_schema_version: Option<String>,
    pub schema_version: String,
}

/// The history stage's output for one release.
#[derive(Debug)]
pub struct HistoryOutput {
    pub index: HistoryIndex,
    /// Rows of each table's new store. The stores themselves went to `advance`'s `keep` as each
    /// was made: a store holds the whole table and more, so they are not kept together.
    pub store_rows: BTreeMap<String, u64>,
    /// Rows of each published table's changelog (one row per added, removed or modified primary
    /// key). The changelogs went to `keep` with the stores: on a first night, or one where most
    /// rows changed, they are about as long as the tables.
    pub change_rows: BTreeMap<String, u64>,
    pub summary: Vec<TableChanges>,
}

impl HistoryOutput {
    pub fn schema_version(&self, table: &str) -> Option<&str> {
        self.summary.iter().find(|s| s.table == table).map(|s| s.schema_version.as_str())
    }
}

/// Fields (name, Table Schema type) of a published table.
pub fn fields(table: &Table) -> Vec<(String, String)> {
    table.column_specs().iter().map(|c| (c.name.to_owned(), c.kind.table_schema_type().to_owned())).collect()
}

/// A table's new SCD2 store, as `advance` hands it over to be written: made a row group at a time
/// (`slice`) as it is written, from the table's source and the previous store, never whole.
pub enum Store<'a> {
    /// The store, whole: the previous store's rows merged with the new ones, by key and version.
    Frame(DataFrame),
    /// A first night: the table's rows in key order, each opened in `version`, with its row hash.
    /// The table's rows are read from its source a slice at a time (the store's row groups are the
    /// table's slices), and the store's own columns made for that slice alone: at full height, the
    /// hashes as text and the version repeated cost about 110 bytes a row, more than most tables'
    /// own rows. The rows are hashed as they are read here (`Hashing`), each slice read once; the
    /// digest is made from the hashes once the store is written.
    Opened { rows: std::sync::Arc<Hashing<'a>>, version: String },
    /// A later night the walk took (`walk.rs`): the previous store (its rows `closed` in `version`) merged with the rows
    /// this version opens (`opened`: rows of `table` with their row hashes, in key order, set aside
    /// on disk past a few thousand), `sides` telling whether each row of the store
    /// comes from the previous store; made a slice at a time, so neither the new rows nor the whole
    /// new store are ever held whole: the new rows are read from the table's source a slice at a
    /// time, and the previous store (usually its file) a row group at a time.
    Merged { old: Box<dyn StoredRows>, closed: walk::Bits, version: String, primary_key: &'static str, table: Box<Current<'a>>, opened: crate::table::digest::SpilledRecords<36>, sides: walk::Bits },
    /// A table no longer published: the previous store with every open row closed in `version`,
    /// read a row group at a time.
    Closed { old: Box<dyn StoredRows>, version: String },
}

impl Store<'_> {
    pub fn height(&self) -> usize {
        match self {
            Store::Frame(frame) => frame.height(),
            Store::Opened { rows, .. } => rows.height(),
            Store::Merged { sides, .. } => sides.len(),
            Store::Closed { old, .. } => old.height(),
        }
    }

    /// Rows `offset .. offset + rows` of the store, with every column.
    pub fn slice(&self, offset: usize, rows: usize) -> PolarsResult<DataFrame> {
        match self {
            Store::Frame(frame) => Ok(frame.slice(offset as i64, rows)),
            Store::Opened { rows: table, version } => {
                let rows = rows.min(table.height().saturating_sub(offset));
                let (mut part, hashes) = table.range(offset, rows)?;
                part.hstack_mut(&diff::store_columns(version, hashes.iter(), rows))?;
                Ok(part)
            }
            Store::Merged { old, closed, version, primary_key, table, opened, sides } => {
                let end = (offset + rows).min(sides.len());
                let old_start = sides.ones_before(offset);
                let from_old = sides.ones_before(end) - old_start;
                let new_start = offset - old_start;
                let mut old_part = old.read(old_start, from_old, None)?;
                let valid_to = diff::close_rows(old_part.column(VALID_TO)?.str()?, closed.range(old_start, old_start + from_old), version);
                old_part.replace(VALID_TO, valid_to.into_column())?;
                let picked = opened.read(new_start, end - offset - from_old).map_err(|e| polars_err!(ComputeError: "{e}"))?;
                let rows_picked: Vec<IdxSize> = picked.iter().map(|record| walk::of_opened(record).0).collect();
                let mut new_part = table.take(&rows_picked)?;
                new_part.hstack_mut(&diff::store_columns(version, picked.iter().map(|record| walk::of_opened(record).1), picked.len()))?;
                // Both sides in the store's columns (a column one side lacks is null there).
                let (mut part, new_part) = diff::align(old_part, new_part, primary_key)?;
                if new_part.height() == 0 {
                    return Ok(part);
                }
                part.vstack_mut(&new_part)?;
                // Rows of this slice in store order: the previous store's then the new ones', interleaved.
                let (mut next_old, mut next_new) = (0 as IdxSize, from_old as IdxSize);
                let order: Vec<IdxSize> = sides
                    .range(offset, end)
                    .map(|is_old| {
                        let next = if is_old { &mut next_old } else { &mut next_new };
                        *next += 1;
                        *next - 1
                    })
                    .collect();
                part.take(&IdxCa::from_vec(PlSmallStr::from_static("rows"), order))
            }
            Store::Closed { old, version } => {
                let rows = rows.min(old.height().saturating_sub(offset));
                diff::close_all(old.read(offset, rows, None)?, version)
            }
        }
    }

    /// The store's columns and types.
    pub fn schema(&self) -> PolarsResult<Schema> {
        Ok(self.slice(0, 0)?.schema().as_ref().clone())
    }

    /// The whole store in memory.
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        self.slice(0, self.height())
    }
}

/// Where the previous release's stores come from: opened one table at a time, when its turn comes.
pub type PreviousStore<'a> = dyn Fn(&str) -> Result<Option<Box<dyn StoredRows>>, HistoryError> + 'a;

/// What `advance` gives `keep` for each table, as soon as it is made: its new store, and its
/// changelog (None for a table no longer published, which has none).
pub type Keep<'a> = dyn FnMut(&str, Store<'_>, Option<Changelog<'_>>) -> Result<(), HistoryError> + 'a;

/// A table's history as one night made it, besides its files (its new store and changelog): what
/// the release records of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MadeTable {
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub change_rows: u64,
    pub store_rows: u64,
    pub digest: String,
}

/// Tables whose history another publication of the night already made (`release::shared`):
/// `advance` asks before making a table's, and tells what it made.
pub trait Shared {
    /// The table's history made from the same rows and the same previous store, its files already
    /// put where `keep` puts them; None to make it.
    fn made_before(&self, table: &str) -> Result<Option<MadeTable>, HistoryError>;
    /// The table's history as `advance` made it, once `keep` has its files.
    fn made(&self, table: &str, made: &MadeTable) -> Result<(), HistoryError>;
}

/// Nothing shared: every table's history is made.
pub struct NotShared;

impl Shared for NotShared {
    fn made_before(&self, _: &str) -> Result<Option<MadeTable>, HistoryError> {
        Ok(None)
    }
    fn made(&self, _: &str, _: &MadeTable) -> Result<(), HistoryError> {
        Ok(())
    }
}

/// Advance the history by one release: `tables` become version `version`. `previous` is the
/// previous release's index, `previous_store` reads its store of a table; each table is read a
/// slice of rows at a time when its turn comes (no column of it held whole, unless it is out of
/// key order or its store is one the walk refuses), and its new store and changelog are given to
/// `keep` (which writes them, each made a row group at a time as it is written) as soon as they
/// are ready, and dropped with the table; a table whose history `shared` already has is not made
/// again. `scratch` is a folder for what the stage sets aside (the
/// row hashes, until the digest is made; a later night's hashes of the rows it opens, until the
/// store is written), in unnamed files that go with the stage.
pub fn advance(previous: &HistoryIndex, previous_store: &PreviousStore<'_>, tables: &dyn TableSource, version: &str, scratch: &std::path::Path, keep: &mut Keep<'_>, shared: &dyn Shared) -> Result<HistoryOutput, HistoryError> {
    let last = previous.versions.last();
    let mut store_rows = BTreeMap::new();
    let mut change_rows = BTreeMap::new();
    let mut summary = Vec::new();
    let mut entry = VersionEntry { version: version.to_owned(), tables: BTreeMap::new() };
    let mut schemas = previous.schemas.clone();

    for name in tables.names() {
        // The table's columns and rows, without its rows: `advance_table` reads them a slice at a time.
        let table = &tables.shape(name).expect("a name the source gave");
        let rows = tables.rows(name).expect("a name the source gave");
        let before = last.and_then(|l| l.tables.get(name)).and_then(|b| previous.fields(name, b).map(|f| (b, f)));
        // Opened (and its bytes proven) even when its history is taken: a damaged store is
        // refused whichever publication's history reads it.
        let stored = previous_store(name)?;
        let made = match shared.made_before(name)? {
            Some(made) => made,
            None => {
                let outcome = diff::advance_table(tables, name, stored, before.map(|(_, f)| f.columns.as_slice()), version, scratch)?;
                let (change_rows, store_rows) = (outcome.changes.height() as u64, outcome.store.height() as u64);
                keep(name, outcome.store, Some(outcome.changes))?;
                // After the store is written: a first night's rows are hashed as the store reads them.
                let digest = outcome.digest.value().map_err(table_error(name))?;
                let made = MadeTable { added: outcome.added, removed: outcome.removed, modified: outcome.modified, change_rows, store_rows, digest };
                shared.made(name, &made)?;
                made
            }
        };
        let current_fields = fields(table);
        let data_changed = made.added + made.removed + made.modified > 0;
        let (change, previous_version) = match before {
            None => (SchemaChange::New, None),
            Some((b, f)) => {
                let previous_fields: Vec<(String, String)> = f.columns.iter().cloned().zip(f.types.iter().cloned()).collect();
                (versioning::classify(&previous_fields, &current_fields, data_changed), Some(b.schema_version.clone()))
            }
        };
        let schema_version = versioning::bump(previous_version.as_deref().unwrap_or("1.0.0"), change);
        schemas.entry(name.to_owned()).or_default().entry(schema_version.clone()).or_insert_with(|| SchemaFields {
            primary_key: table.spec.primary_key.to_owned(),
            columns: current_fields.iter().map(|f| f.0.clone()).collect(),
            types: current_fields.iter().map(|f| f.1.clone()).collect(),
        });
        summary.push(TableChanges {
            table: name.to_owned(),
            added: made.added,
            removed: made.removed,
            modified: made.modified,
            schema_change: change,
            previous_schema_version: previous_version,
            schema_version: schema_version.clone(),
        });
        change_rows.insert(name.to_owned(), made.change_rows);
        store_rows.insert(name.to_owned(), made.store_rows);
        entry.tables.insert(name.to_owned(), TableVersion { rows: rows as u64, digest: made.digest, schema_version });
    }
    // A table this release no longer publishes keeps its history, every row closed, read and
    // written a row group at a time.
    for name in previous.tables() {
        if tables.rows(name).is_some() {
            continue;
        }
        if let Some(store) = previous_store(name)? {
            store_rows.insert(name.to_owned(), store.height() as u64);
            keep(name, Store::Closed { old: store, version: version.to_owned() }, None)?;
        }
    }
    let mut index = HistoryIndex { schemas, versions: previous.versions.clone() };
    index.versions.push(entry);
    Ok(HistoryOutput { index, store_rows, change_rows, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Tables;
    use crate::table::{catalog, TableBuilder};

    fn tables(juridiques: &[&str], with_equipements: bool) -> Tables {
        let mut b = TableBuilder::new(&catalog::ENTITES_JURIDIQUES);
        for id in juridiques {
            let mut r = b.row();
            r.set("identifiant_ror", *id).set("raison_sociale", "CHU");
            b.push(r);
        }
        let mut out = Tables::new();
        out.insert("entites_juridiques", b.finish().unwrap());
        if with_equipements {
            let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
            let mut r = b.row();
            r.set("equipement_id", "E1").set("lieu_id", "L1");
            b.push(r);
            out.insert("equipements", b.finish().unwrap());
        }
        out
    }

    /// Each store goes to `keep` as it is made, previous stores are read only for the table whose
    /// turn it is, and a table no longer published keeps its store, every row closed.
    #[test]
    fn stores_are_kept_one_by_one_and_an_unpublished_table_is_closed() {
        let mut first: BTreeMap<String, DataFrame> = BTreeMap::new();
        let mut first_changes: BTreeMap<String, usize> = BTreeMap::new();
        let none = |_: &str| Ok(None);
        let night1 = advance(&HistoryIndex::default(), &none, &tables(&["A", "B"], true), "v1", &std::env::temp_dir(), &mut |t, s, changes| {
            first.insert(t.to_owned(), s.to_frame().unwrap());
            first_changes.insert(t.to_owned(), changes.expect("a published table has a changelog").height());
            Ok(())
        }, &NotShared)
        .unwrap();
        assert_eq!(night1.store_rows, BTreeMap::from([("entites_juridiques".to_owned(), 2), ("equipements".to_owned(), 1)]));
        assert_eq!(night1.change_rows, BTreeMap::from([("entites_juridiques".to_owned(), 2), ("equipements".to_owned(), 1)]));
        assert_eq!(first_changes, BTreeMap::from([("entites_juridiques".to_owned(), 2), ("equipements".to_owned(), 1)]));
        assert_eq!(first.keys().collect::<Vec<_>>(), ["entites_juridiques", "equipements"]);

        let read = std::cell::RefCell::new(Vec::new());
        let previous = |t: &str| {
            read.borrow_mut().push(t.to_owned());
            Ok(first.get(t).cloned().map(|s| Box::new(s) as Box<dyn StoredRows>))
        };
        let mut second: Vec<(String, DataFrame, Option<usize>)> = Vec::new();
        let night2 = advance(&night1.index, &previous, &tables(&["A", "C"], false), "v2", &std::env::temp_dir(), &mut |t, s, changes| {
            second.push((t.to_owned(), s.to_frame().unwrap(), changes.map(|c| c.height())));
            Ok(())
        }, &NotShared)
        .unwrap();
        assert_eq!(*read.borrow(), ["entites_juridiques", "equipements"]);
        assert_eq!(night2.store_rows, BTreeMap::from([("entites_juridiques".to_owned(), 3), ("equipements".to_owned(), 1)]));
        let summary = &night2.summary[0];
        assert_eq!((summary.added, summary.removed, summary.modified), (1, 1, 0));
        assert_eq!(second[0].2, Some(2), "B removed, C added");
        let (name, equipements, changes) = &second[1];
        assert_eq!((name.as_str(), *changes), ("equipements", None), "no changelog for a table no longer published");
        assert_eq!(equipements.column(VALID_TO).unwrap().str().unwrap().get(0), Some("v2"), "closed in the release that stopped publishing it");
        assert_eq!(night2.index.versions.len(), 2);
        assert!(!night2.index.versions[1].tables.contains_key("equipements"));
    }

    /// What `advance` is told it made, kept by table, and given back when asked.
    #[derive(Default)]
    struct Remembered(std::cell::RefCell<BTreeMap<String, MadeTable>>);

    impl Shared for Remembered {
        fn made_before(&self, table: &str) -> Result<Option<MadeTable>, HistoryError> {
            Ok(self.0.borrow().get(table).cloned())
        }
        fn made(&self, table: &str, made: &MadeTable) -> Result<(), HistoryError> {
            self.0.borrow_mut().insert(table.to_owned(), made.clone());
            Ok(())
        }
    }

    /// A table whose history another publication made is not made again (no store or changelog
    /// to keep), and the history's output is the one making it gives: counts, digests, index.
    #[test]
    fn a_history_made_before_is_taken_and_the_output_is_the_same() {
        let none = |_: &str| Ok(None);
        let shared = Remembered::default();
        let mut kept = Vec::new();
        let made = advance(&HistoryIndex::default(), &none, &tables(&["A", "B"], true), "v1", &std::env::temp_dir(), &mut |t, _, _| {
            kept.push(t.to_owned());
            Ok(())
        }, &shared)
        .unwrap();
        assert_eq!(kept, ["entites_juridiques", "equipements"]);
        assert_eq!(shared.0.borrow()["entites_juridiques"], MadeTable { added: 2, removed: 0, modified: 0, change_rows: 2, store_rows: 2, digest: made.index.versions[0].tables["entites_juridiques"].digest.clone() });
        kept.clear();
        let taken = advance(&HistoryIndex::default(), &none, &tables(&["A", "B"], true), "v1", &std::env::temp_dir(), &mut |t, _, _| {
            kept.push(t.to_owned());
            Ok(())
        }, &shared)
        .unwrap();
        assert!(kept.is_empty(), "{kept:?}");
        assert_eq!((taken.index, taken.store_rows, taken.change_rows, taken.summary), (made.index, made.store_rows, made.change_rows, made.summary));
    }
}
