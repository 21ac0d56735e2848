//! Files a publication of the night takes from an earlier one rather than making them again.
//!
//! DREES and the HDH get most tables the same way (every row, the same columns, the same values):
//! their CSV and Parquet files, and, when their histories start from the same store, their history
//! stores and changelogs come out byte for byte the same. Encoding those files, reading them back
//! and hashing them was most of the HDH's night. The night keeps what each publication made of a
//! table, by the table's fingerprint (`TableSource::fingerprint`: its definition, columns, types,
//! rows and the bytes of its slices), and a later publication whose table has the same fingerprint
//! takes the earlier one's staged files (a hard link, a copy where the file system cannot link)
//! with their facts:
//!
//! - the table's files, once the earlier gate proved them equal to the table (their size and
//!   sha256 as its read-back found them). The later gate still runs its own checks on the table;
//!   only the writing and the read-back are not done twice.
//! - the table's history, when it also starts from the same previous store (the sha256 its
//!   previous release's manifest recorded, or none) and the same published columns: the new store,
//!   the changelog, their row counts, the counts of rows added, removed and modified, the digest.
//!
//! A file taken is checked to still be the size it was made: a publication never takes a file an
//! earlier one did not finish. Staged releases are complete once staged, and none is committed
//! before every publication of the night is staged, so the files taken are there to be taken.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::previous::{PreviousRelease, HISTORY_DIR};
use super::{io, ReleaseError, Staging};
use crate::gate::report::TableFiles;
use crate::history::{HistoryError, HistoryIndex, MadeTable};
use crate::table::spill::{hard_link_or_copy, TableSource};
use crate::table::TableError;

/// What the night's publications have made so far that a later one may take.
#[derive(Default)]
pub struct NightShare {
    table_files: Mutex<HashMap<String, Made<TableFiles>>>,
    histories: Mutex<HashMap<String, Made<MadeTable>>>,
}

/// Something a publication made, in its staging folder: the folder, the files (relative paths and
/// sizes) and what else was learnt making them.
#[derive(Clone)]
pub struct Made<T> {
    dir: PathBuf,
    files: Vec<(String, u64)>,
    pub facts: T,
}

/// One publication's view of the night's shared work: its tables' fingerprints.
pub struct Sharing<'a> {
    night: &'a NightShare,
    fingerprints: BTreeMap<&'static str, String>,
}

impl<'a> Sharing<'a> {
    /// The fingerprints of the publication's tables that keep every row of the snapshot's table
    /// of the same name (`snapshot`), none for a source that cannot tell: the files of the others
    /// are always made. A table the audience's filters shortened could only be shared with an
    /// audience whose filters removed exactly the same rows; the public's are such tables, the
    /// largest of the night, and fingerprinting them (their columns are all written, so all
    /// hashed) cost more than it could save.
    pub fn new(night: &'a NightShare, tables: &dyn TableSource, snapshot: &dyn TableSource) -> Result<Sharing<'a>, TableError> {
        let mut fingerprints = BTreeMap::new();
        for name in tables.names() {
            if tables.rows(name) != snapshot.rows(name) {
                continue;
            }
            if let Some(fingerprint) = tables.fingerprint(name)? {
                fingerprints.insert(name, fingerprint);
            }
        }
        Ok(Sharing { night, fingerprints })
    }

    /// A table's CSV and Parquet files an earlier publication made and proved, taken into
    /// `staging`; None when none did (or they are no longer as made), and the gate makes them.
    pub fn take_table_files(&self, table: &str, staging: &Staging) -> Result<Option<TableFiles>, ReleaseError> {
        let Some(key) = self.fingerprints.get(table) else { return Ok(None) };
        let made = self.night.table_files.lock().expect("no thread panics holding the night's files").get(key).cloned();
        Ok(match made {
            Some(made) if made.take_into(staging)? => Some(made.facts),
            _ => None,
        })
    }

    /// A table's files as this publication's gate made and proved them, for the next ones.
    pub fn made_table_files(&self, table: &str, staging: &Staging, files: &TableFiles) {
        let Some(key) = self.fingerprints.get(table) else { return };
        let made = Made { dir: staging.dir().to_owned(), files: vec![(files.csv.path.clone(), files.csv.bytes), (files.parquet.path.clone(), files.parquet.bytes)], facts: files.clone() };
        self.night.table_files.lock().expect("no thread panics holding the night's files").entry(key.clone()).or_insert(made);
    }

    /// A table's history an earlier publication made from the same rows and the same previous
    /// store (`previous`: what names the store and columns it started from), its files taken into
    /// `staging`; None when none did, and the history stage makes it.
    pub fn take_history(&self, table: &str, previous: &str, staging: &Staging) -> Result<Option<MadeTable>, ReleaseError> {
        let Some(key) = self.history_key(table, previous) else { return Ok(None) };
        let made = self.night.histories.lock().expect("no thread panics holding the night's files").get(&key).cloned();
        Ok(match made {
            Some(made) if made.take_into(staging)? => Some(made.facts),
            _ => None,
        })
    }

    /// A table's history as this publication made it (its store and changelog written into
    /// `staging`), for the next ones.
    pub fn made_history(&self, table: &str, previous: &str, staging: &Staging, facts: &MadeTable) -> Result<(), ReleaseError> {
        let Some(key) = self.history_key(table, previous) else { return Ok(()) };
        let files = history_files(table)
            .into_iter()
            .map(|relative| {
                let path = staging.dir().join(&relative);
                fs::metadata(&path).map(|m| (relative, m.len())).map_err(io(&path))
            })
            .collect::<Result<Vec<_>, ReleaseError>>()?;
        let made = Made { dir: staging.dir().to_owned(), files, facts: facts.clone() };
        self.night.histories.lock().expect("no thread panics holding the night's files").entry(key).or_insert(made);
        Ok(())
    }

    fn history_key(&self, table: &str, previous: &str) -> Option<String> {
        self.fingerprints.get(table).map(|fingerprint| format!("{fingerprint}\n{previous}"))
    }
}

/// A publication's history (`history::advance`) taking what an earlier publication of the night
/// made of a table when it started from the same previous store: the same bytes (the sha256 the
/// previous releases' manifests recorded, or none) and the same published columns.
pub struct HistorySharing<'a> {
    pub sharing: &'a Sharing<'a>,
    pub staging: &'a Staging,
    pub previous: Option<&'a PreviousRelease>,
    pub index: &'a HistoryIndex,
}

impl HistorySharing<'_> {
    /// What names the store and the columns the table's history starts from.
    fn starts_from(&self, table: &str) -> String {
        let relative = format!("{HISTORY_DIR}/{table}.parquet");
        let store = self.previous.and_then(|p| p.manifest.files.iter().find(|f| f.path == relative)).map(|f| f.sha256.as_str());
        let columns = self.index.versions.last().and_then(|last| last.tables.get(table)).and_then(|recorded| self.index.fields(table, recorded)).map(|fields| &fields.columns);
        format!("store {store:?} columns {columns:?}")
    }
}

impl crate::history::Shared for HistorySharing<'_> {
    fn made_before(&self, table: &str) -> Result<Option<MadeTable>, HistoryError> {
        self.sharing.take_history(table, &self.starts_from(table), self.staging).map_err(|e| HistoryError::Table { table: table.to_owned(), message: e.to_string() })
    }

    fn made(&self, table: &str, made: &MadeTable) -> Result<(), HistoryError> {
        self.sharing.made_history(table, &self.starts_from(table), self.staging, made).map_err(|e| HistoryError::Table { table: table.to_owned(), message: e.to_string() })
    }
}

/// The files a table's history makes in a release: its store and its changelog.
fn history_files(table: &str) -> Vec<String> {
    vec![format!("{HISTORY_DIR}/{table}.parquet"), format!("changes/{table}.csv"), format!("changes/{table}.parquet")]
}

impl<T> Made<T> {
    /// Take the files into `staging`, each under its own relative path; false (nothing taken)
    /// when one is no longer the size it was made.
    fn take_into(&self, staging: &Staging) -> Result<bool, ReleaseError> {
        for (relative, bytes) in &self.files {
            if fs::metadata(self.dir.join(relative)).map(|m| m.len()).ok() != Some(*bytes) {
                tracing::warn!(file = %self.dir.join(relative).display(), "a file of an earlier publication of the night is no longer as it was made: made again");
                return Ok(false);
            }
        }
        for (relative, _) in &self.files {
            link_or_copy(&self.dir.join(relative), &staging.dir().join(relative))?;
        }
        Ok(true)
    }
}

/// `to` as the same bytes as `from` (`hard_link_or_copy`). Release files are never written
/// again once made, so a link is never a way for one release to change another.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), ReleaseError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    hard_link_or_copy(from, to).map_err(io(to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::report::FileFacts;
    use crate::table::spill::SpilledTables;
    use crate::table::{catalog, TableBuilder};

    fn equipements(lieu: &str) -> crate::table::Table {
        let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
        let mut r = b.row();
        r.set("equipement_id", "E1").set("lieu_id", lieu);
        b.push(r);
        b.finish().unwrap()
    }

    fn facts(csv: u64, parquet: u64) -> TableFiles {
        let file = |path: &str, bytes| FileFacts { path: path.to_owned(), bytes, sha256: "s".repeat(64) };
        TableFiles { table: "equipements".into(), rows: 1, csv: file("equipements.csv", csv), parquet: file("equipements.parquet", parquet) }
    }

    /// A later publication takes an earlier one's files for a table of the same fingerprint, and
    /// only then; a history only from the same previous store; neither for a table shorter than
    /// the snapshot's; a file no longer as made is not taken.
    #[test]
    fn a_table_of_the_same_fingerprint_takes_the_files_made_before() {
        let work = tempfile::tempdir().unwrap();
        let night = NightShare::default();
        let folder = |suffix: &str, lieu: &str| {
            let folder = SpilledTables::create_named(work.path(), suffix).unwrap();
            folder.put(equipements(lieu)).unwrap();
            folder
        };
        let (drees_tables, hdh_tables, other_tables) = (folder("-drees", "L1"), folder("-hdh", "L1"), folder("-other", "L2"));
        let releases = work.path().join("releases");
        let drees = Staging::create(&releases, "drees", "v1").unwrap();
        let sharing = Sharing::new(&night, &drees_tables, &drees_tables).unwrap();
        assert_eq!(sharing.take_table_files("equipements", &drees).unwrap(), None, "nothing made yet");
        fs::write(drees.dir().join("equipements.csv"), "csv").unwrap();
        fs::write(drees.dir().join("equipements.parquet"), "parquet!").unwrap();
        sharing.made_table_files("equipements", &drees, &facts(3, 8));
        for relative in history_files("equipements") {
            fs::create_dir_all(drees.dir().join(&relative).parent().unwrap()).unwrap();
            fs::write(drees.dir().join(&relative), &relative).unwrap();
        }
        let made = MadeTable { added: 1, removed: 0, modified: 0, change_rows: 1, store_rows: 1, digest: "d".into() };
        sharing.made_history("equipements", "store abc", &drees, &made).unwrap();

        let hdh = Staging::create(&releases, "hdh", "v1").unwrap();
        let hdh_sharing = Sharing::new(&night, &hdh_tables, &hdh_tables).unwrap();
        assert_eq!(hdh_sharing.take_table_files("equipements", &hdh).unwrap(), Some(facts(3, 8)));
        assert_eq!(fs::read_to_string(hdh.dir().join("equipements.parquet")).unwrap(), "parquet!");
        assert_eq!(hdh_sharing.take_history("equipements", "store other", &hdh).unwrap(), None, "another previous store");
        assert!(!hdh.dir().join("changes").exists());
        assert_eq!(hdh_sharing.take_history("equipements", "store abc", &hdh).unwrap(), Some(made));
        for relative in history_files("equipements") {
            assert_eq!(fs::read_to_string(hdh.dir().join(&relative)).unwrap(), relative);
        }

        let other = Staging::create(&releases, "other", "v1").unwrap();
        assert_eq!(Sharing::new(&night, &other_tables, &other_tables).unwrap().take_table_files("equipements", &other).unwrap(), None, "another value");
        assert_eq!(Sharing::new(&night, &crate::table::Tables::new(), &crate::table::Tables::new()).unwrap().take_table_files("equipements", &other).unwrap(), None, "no fingerprint");
        let mut longer = TableBuilder::new(&catalog::EQUIPEMENTS);
        for id in ["E1", "E2"] {
            let mut r = longer.row();
            r.set("equipement_id", id).set("lieu_id", "L1");
            longer.push(r);
        }
        let snapshot = crate::table::Tables::from([("equipements", longer.finish().unwrap())]);
        assert_eq!(Sharing::new(&night, &hdh_tables, &snapshot).unwrap().take_table_files("equipements", &other).unwrap(), None, "a table the filters shortened is not offered");

        fs::write(drees.dir().join("equipements.csv"), "changed").unwrap();
        let late = Staging::create(&releases, "late", "v1").unwrap();
        assert_eq!(Sharing::new(&night, &hdh_tables, &hdh_tables).unwrap().take_table_files("equipements", &late).unwrap(), None, "no longer as made");
        assert!(!late.dir().join("equipements.parquet").exists());
    }
}
