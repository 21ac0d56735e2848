//! A table's fingerprint: one digest for what decides every file made from it (its definition,
//! columns, types, rows and the bytes of each column's slices). Two publications of the night
//! that get a table with the same fingerprint get the same CSV, Parquet, history store and
//! changelog from it, so the later one can take the earlier one's files rather than encode, read
//! back and hash them again (`release::shared`). DREES and the HDH get most tables so.
//!
//! A column's slice taken as it is from another folder of the night (`link`) is named by the file
//! it first was (its path and, as this run recorded it, its length and modification time): the
//! snapshot's files are never written again during the night, so two slices naming the same file
//! hold the same bytes, and the columns most often shared are fingerprinted without reading them.
//! Any other slice is named by the SHA-256 of its bytes (a file this run wrote, checked as
//! `open_own_file` checks it). A table the same by value but written differently (a column made
//! where the other was taken) gets another fingerprint: its files are then made again, never
//! wrongly shared.

use rayon::prelude::*;

use super::{io, open_own_file, slices, SpilledTables};
use crate::sha256::Sha256;
use crate::table::TableError;

impl SpilledTables {
    /// The fingerprint of a table of this folder (hexadecimal SHA-256), None when it has no such
    /// table. Reads the slices this folder wrote itself, on every core.
    pub(super) fn table_fingerprint(&self, name: &str) -> Result<Option<String>, TableError> {
        let Some((shape, rows, _)) = self.entry(name) else { return Ok(None) };
        let files: Vec<(usize, usize)> = (0..shape.frame.width()).flat_map(|column| (0..slices(rows).len()).map(move |slice| (column, slice))).collect();
        let names = files.into_par_iter().map(|(column, slice)| self.slice_identity(&self.path(name, column, slice))).collect::<Result<Vec<String>, TableError>>()?;
        let mut digest = Sha256::new();
        // Every part ends with a line end no part holds (paths and type names have none).
        digest.update(format!("table {}\nrows {rows}\n", shape.spec.name));
        for column in shape.frame.columns() {
            digest.update(format!("column {:?} {:?}\n", column.name().as_str(), column.dtype()));
        }
        for name in &names {
            digest.update(name);
            digest.update("\n");
        }
        Ok(Some(digest.finish_hex()))
    }

    /// What names a slice's bytes: the file it was taken from, or the SHA-256 of its own bytes.
    fn slice_identity(&self, path: &std::path::Path) -> Result<String, TableError> {
        if let Some((first, written)) = self.taken.lock().expect("no thread panics holding the files").get(path) {
            return Ok(format!("taken {:?} {written:?}", first.display().to_string()));
        }
        let recorded = self.files.lock().expect("no thread panics holding the files").get(path).copied();
        let (mut file, _) = open_own_file(path, recorded)?;
        let mut digest = Sha256::new();
        std::io::copy(&mut file, &mut digest).map_err(io(path))?;
        Ok(format!("bytes {}", digest.finish_hex()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::spill::TableSource;
    use crate::table::{catalog, TableBuilder};

    fn equipements(ids: &[&str], lieu: &str) -> crate::table::Table {
        let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
        for id in ids {
            let mut r = b.row();
            r.set("equipement_id", *id).set("lieu_id", lieu).set("nombre_en_service", Some(3i64));
            b.push(r);
        }
        b.finish().unwrap()
    }

    /// Same rows written twice: the same fingerprint; another value, another row or another table:
    /// another; a column taken from the same file: the same, without reading it; a column made
    /// where the other was taken: another (made again rather than wrongly shared).
    #[test]
    fn the_same_table_has_the_same_fingerprint_and_any_difference_another() {
        let work = tempfile::tempdir().unwrap();
        let fingerprint_of = |suffix: &str, table: crate::table::Table| {
            let folder = SpilledTables::create_named(work.path(), suffix).unwrap();
            folder.put(table).unwrap();
            folder.fingerprint("equipements").unwrap().unwrap()
        };
        let base = fingerprint_of("-a", equipements(&["E1", "E2"], "L1"));
        assert_eq!(base.len(), 64);
        assert_eq!(fingerprint_of("-b", equipements(&["E1", "E2"], "L1")), base);
        assert_ne!(fingerprint_of("-c", equipements(&["E1", "E2"], "L2")), base, "a value");
        assert_ne!(fingerprint_of("-d", equipements(&["E1", "E2", "E3"], "L1")), base, "a row");

        let source = SpilledTables::create_named(work.path(), "-source").unwrap();
        source.put(equipements(&["E1", "E2"], "L1")).unwrap();
        assert_eq!(source.fingerprint("nope").unwrap(), None);
        let spec = &catalog::EQUIPEMENTS;
        let shape = source.shape("equipements").unwrap();
        let others: Vec<&str> = shape.frame.get_column_names().into_iter().map(|c| c.as_str()).filter(|c| *c != "lieu_id").collect();
        let take = |suffix: &str, lieu: &'static str| {
            let folder = SpilledTables::create_named(work.path(), suffix).unwrap();
            folder
                .put_sharing::<TableError>(spec, 2, &source, "equipements", &others, |offset, rows| {
                    let lieu = polars::prelude::Column::new("lieu_id".into(), vec![lieu; rows]);
                    let _ = offset;
                    Ok(polars::prelude::DataFrame::new(rows, vec![lieu]).unwrap())
                })
                .unwrap();
            folder
        };
        let (one, two) = (take("-one", "L1"), take("-two", "L1"));
        assert_eq!(one.fingerprint("equipements").unwrap(), two.fingerprint("equipements").unwrap(), "taken from the same files");
        assert_eq!(one.load("equipements").unwrap().unwrap().frame, source.load("equipements").unwrap().unwrap().frame);
        assert_ne!(one.fingerprint("equipements").unwrap(), source.fingerprint("equipements").unwrap(), "the same values, made where the other was taken");
        assert_ne!(take("-three", "L9").fingerprint("equipements").unwrap(), one.fingerprint("equipements").unwrap());

        // A slice changed on disk after it was written is an error naming it, not a fingerprint.
        let changed = SpilledTables::create_named(work.path(), "-changed").unwrap();
        changed.put(equipements(&["E1"], "L1")).unwrap();
        let path = changed.path("equipements", 0, 0);
        std::fs::write(&path, b"not the file").unwrap();
        let error = changed.fingerprint("equipements").unwrap_err().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
    }
}
