//! The common case of the read-back, in bounded memory: a table's spooled files compared with the
//! built table a slice at a time (each Parquet row group; the CSV in blocks cut at record ends),
//! rather than read whole. At national scale the largest table's CSV, its text frame and its
//! typed frame, or its Parquet frame, were each about as large as the table itself, and that
//! transient set the whole run's peak memory.
//!
//! This path only answers "are both files exactly the built table, and the CSV its dialect?".
//! Anything else (a cell that does not parse, a slice that differs, a bad header, a missing final
//! line end) answers no, and the caller reads the files whole (`check_files`) to say what and where,
//! so the findings of a broken file are the same whichever path met it first.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::super::report::FileFacts;
use super::super::{GateError, Tally};
use crate::table::TableSpec;

/// Bytes of CSV read at a time (then cut after the block's last complete record).
pub const CSV_BLOCK_BYTES: usize = 32 << 20;

/// The facts of both files when each is exactly the built table; None when anything differs or
/// cannot be read (the caller then reads them whole and reports). Only a file that cannot be
/// opened or read at all is an error.
///
/// `buffer` holds the CSV blocks. The caller keeps it from one table to the next: a new one, grown
/// to a block for every table, had the kernel zero its fresh pages each time (8 % of the gate's CPU
/// at scale 0.05).
pub fn files_match(spec: &'static TableSpec, built: &DataFrame, csv_path: &Path, parquet_path: &Path, csv_block_bytes: usize, buffer: &mut Vec<u8>) -> Result<Option<(FileFacts, FileFacts)>, GateError> {
    // The two files are read back at the same time, one per core: each reading has stretches
    // that use one core only (hashing, the CSV comparison). The answer is taken in the order the
    // files used to be read: a Parquet file that is not the table answers no whatever the CSV.
    let (parquet, csv) = rayon::join(|| parquet_matches(spec, built, parquet_path), || csv_matches(spec, built, csv_path, csv_block_bytes, buffer));
    let Some(parquet) = parquet? else { return Ok(None) };
    let Some(csv) = csv? else { return Ok(None) };
    Ok(Some((csv, parquet)))
}

fn read_error(path: &Path) -> impl Fn(io::Error) -> GateError + '_ {
    move |e| GateError::Read { path: path.display().to_string(), message: format!("cannot read back: {e}") }
}

fn open(path: &Path) -> Result<File, GateError> {
    File::open(path).map_err(read_error(path))
}

/// Size and sha256 of a file, read in blocks.
fn facts_of(spec: &TableSpec, extension: &str, path: &Path) -> Result<FileFacts, GateError> {
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut open(path)?, &mut hasher).map_err(read_error(path))?;
    Ok(FileFacts { path: format!("{}.{extension}", spec.name), bytes, sha256: format!("{:x}", hasher.finalize()) })
}

/// The Parquet file, one row group at a time: same columns, same values as the built rows.
fn parquet_matches(spec: &TableSpec, built: &DataFrame, path: &Path) -> Result<Option<FileFacts>, GateError> {
    let facts = facts_of(spec, "parquet", path)?;
    let mut reader = ParquetReader::new(open(path)?);
    let Ok(metadata) = reader.get_metadata().cloned() else { return Ok(None) };
    if metadata.num_rows != built.height() {
        return Ok(None);
    }
    let mut offset = 0;
    for group in &metadata.row_groups {
        let rows = group.num_rows();
        let mut reader = ParquetReader::new(open(path)?).with_slice(Some((offset, rows)));
        reader.set_metadata(metadata.clone());
        match reader.finish() {
            Ok(frame) if frame.get_column_names() == built.get_column_names() && frame.equals_missing(&built.slice(offset as i64, rows)) => {}
            _ => return Ok(None),
        }
        offset += rows;
    }
    Ok((offset == built.height()).then_some(facts))
}

/// The CSV file, block by block: the header first, then each block's complete records compared
/// with the same rows of the built table, split in place when they are in the writer's strict form
/// (`strict`), else parsed and typed exactly as `check_files` does.
fn csv_matches(spec: &'static TableSpec, built: &DataFrame, path: &Path, block_bytes: usize, buffer: &mut Vec<u8>) -> Result<Option<FileFacts>, GateError> {
    let columns: Vec<PlSmallStr> = built.get_column_names().into_iter().cloned().collect();
    let header = format!("{}\n", columns.iter().map(PlSmallStr::as_str).collect::<Vec<_>>().join(","));
    let mut file = open(path)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    buffer.clear();
    // Room for a block and the record it cut, so the buffer does not grow by doubling as it fills.
    let size = file.metadata().map_err(read_error(path))?.len();
    buffer.reserve((size as usize).min(block_bytes).saturating_add(64 << 10));
    let (mut scanned, mut in_quotes, mut header_seen, mut rows_seen) = (0usize, false, false, 0usize);
    loop {
        let start = buffer.len();
        let read = (&mut file).take(block_bytes as u64).read_to_end(buffer).map_err(read_error(path))?;
        hasher.update(&buffer[start..]);
        bytes += read as u64;
        let record_end = last_record_end(&buffer[scanned..], &mut in_quotes).map(|end| scanned + end);
        scanned = buffer.len();
        if let Some(end) = record_end {
            let mut records = &buffer[..end];
            if !header_seen {
                // The header has no quoted field: it ends at the first line end.
                let Some(stripped) = records.strip_prefix(header.as_bytes()) else { return Ok(None) };
                records = stripped;
                header_seen = true;
            }
            if !records.is_empty() {
                let Some(rows) = block_matches(spec, built, &columns, records, rows_seen) else { return Ok(None) };
                rows_seen += rows;
            }
            buffer.drain(..end);
            scanned -= end;
        }
        if read == 0 {
            // What is left did not end with a line end (or the header never came).
            if !buffer.is_empty() || !header_seen || rows_seen != built.height() {
                return Ok(None);
            }
            return Ok(Some(FileFacts { path: format!("{}.csv", spec.name), bytes, sha256: format!("{:x}", hasher.finalize()) }));
        }
    }
}

/// Where the last complete record of `bytes` ends (just after a line end outside quotes), given
/// whether `bytes` starts inside a quoted field; `in_quotes` becomes whether it ends inside one.
/// A quote toggles the state ("" inside a quoted field toggles twice, so it needs no special
/// case), so the state at a byte is the state at the end and the parity of the quotes after it:
/// the quotes are counted in one pass the compiler vectorises, and only the last record is walked
/// backwards. (A byte-at-a-time state machine over the whole file was 5 % of the gate's CPU.)
fn last_record_end(bytes: &[u8], in_quotes: &mut bool) -> Option<usize> {
    let quotes = bytes.iter().filter(|&&b| b == b'"').count();
    *in_quotes ^= quotes % 2 == 1;
    let mut quoted_at = *in_quotes;
    for (at, &byte) in bytes.iter().enumerate().rev() {
        match byte {
            b'"' => quoted_at = !quoted_at,
            b'\n' if !quoted_at => return Some(at + 1),
            _ => {}
        }
    }
    None
}

/// Rows of one block of complete CSV records when they are exactly the built rows from `offset`.
fn block_matches(spec: &'static TableSpec, built: &DataFrame, columns: &[PlSmallStr], records: &[u8], offset: usize) -> Option<usize> {
    let text = std::str::from_utf8(records).ok()?;
    // The records the writer made, split and compared in place; polars reads what that is not
    // sure of (the common case costs neither its text frame nor the typed one).
    if let Some(rows) = super::strict::block_matches(spec, built, text, offset) {
        return Some(rows);
    }
    read_block_matches(spec, built, columns, records, offset)
}

/// `block_matches` by polars' reader: the block read as text, each cell typed as `typed_csv` does,
/// and compared with the built rows.
pub(super) fn read_block_matches(spec: &'static TableSpec, built: &DataFrame, columns: &[PlSmallStr], records: &[u8], offset: usize) -> Option<usize> {
    let schema: Schema = columns.iter().map(|c| Field::new(c.clone(), DataType::String)).collect();
    let text = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .into_reader_with_file_handle(io::Cursor::new(records))
        .finish()
        .ok()?;
    let rows = text.height();
    if offset + rows > built.height() {
        return None;
    }
    // Each cell parsed by its column's type, as `typed_csv` does; one that does not parse is a
    // finding, which only the whole-file path reports.
    let typed: Option<Vec<Column>> = text
        .columns()
        .par_iter()
        .map(|column| {
            let values = column.str().ok()?;
            let kind = spec.column(column.name().as_str()).map(|c| c.kind);
            let (mut tally, mut failed) = (Tally::default(), Default::default());
            let typed = super::parse_column(column.name().clone(), values, kind, &mut tally, &mut failed).ok()?;
            (tally.invalid == 0).then_some(typed)
        })
        .collect();
    let typed = DataFrame::new(rows, typed?).ok()?;
    typed.equals_missing(&built.slice(offset as i64, rows)).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::exceptions::Exceptions;
    use crate::gate::{Context, Finding, GateConfig};
    use crate::table::write::{write_csv, write_parquet};
    use crate::table::{catalog, Table, TableBuilder};

    /// More rows than a Parquet row group holds, and labels with quotes, commas and line breaks,
    /// so that CSV blocks end inside quoted fields.
    fn horaires(rows: usize) -> Table {
        let mut b = TableBuilder::new(&catalog::HORAIRES);
        for i in 0..rows {
            let mut r = b.row();
            let label = if i % 3 == 0 { format!("Horaire \"{i}\", matin\nsuite") } else { String::new() };
            r.set("horaire_id", format!("{i:06}").as_str()).set("offre_id", "O1").set("rang", Some(i as i64)).set("type_horaire_libelle", (!label.is_empty()).then_some(label.as_str())).set("heure_debut", "09:00:00");
            b.push(r);
        }
        b.finish().unwrap()
    }

    fn spooled(dir: &Path, table: &Table) -> (std::path::PathBuf, std::path::PathBuf) {
        let (csv, parquet) = (dir.join(format!("{}.csv", table.name())), dir.join(format!("{}.parquet", table.name())));
        write_csv(table, &csv).unwrap();
        write_parquet(table, &parquet).unwrap();
        (csv, parquet)
    }

    fn whole_facts(path: &Path, name: &str) -> (u64, String) {
        let bytes = std::fs::read(path).unwrap();
        let facts = super::super::file_facts("t", name, &bytes);
        (facts.bytes, facts.sha256)
    }

    #[test]
    fn files_equal_to_the_built_table_match_in_blocks_and_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let table = horaires(70_000);
        let (csv, parquet) = spooled(dir.path(), &table);
        for block in [7, 1000, CSV_BLOCK_BYTES] {
            let (c, p) = files_match(table.spec, &table.frame, &csv, &parquet, block, &mut Vec::new()).unwrap().expect("the files are the table");
            assert_eq!((c.bytes, c.sha256.clone()), whole_facts(&csv, "csv"), "block {block}");
            assert_eq!((p.bytes, p.sha256.clone()), whole_facts(&parquet, "parquet"));
            assert_eq!((c.path.as_str(), p.path.as_str()), ("horaires.csv", "horaires.parquet"));
        }
        // An empty table is its header alone.
        let empty = horaires(0);
        let (csv, parquet) = spooled(dir.path(), &empty);
        assert!(files_match(empty.spec, &empty.frame, &csv, &parquet, 7, &mut Vec::new()).unwrap().is_some());
    }

    #[test]
    fn any_difference_goes_to_the_whole_file_path_which_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let table = horaires(200);
        let (csv, parquet) = spooled(dir.path(), &table);
        let text = std::fs::read_to_string(&csv).unwrap();
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        let findings = |csv: &Path| -> Vec<Finding> {
            let mut ctx = Context::new(&config, &exceptions);
            super::super::check_spooled_table_in_blocks(&mut ctx, &table, csv, &parquet, 64, &mut Vec::new()).unwrap();
            ctx.findings
        };
        assert_eq!(findings(&csv), Vec::<Finding>::new());
        let planted: [(&str, String); 4] = [
            ("a value in the last block", text.replacen("000199,O1,199", "000199,O1,198", 1)),
            ("a cell that does not parse", text.replacen(",150,", ",cent-cinquante,", 1)),
            ("no final line end", text.trim_end_matches('\n').to_owned()),
            ("a row too many", format!("{text}999999,O1,1,,,,09:00:00,,,\n")),
        ];
        for (what, planted) in planted {
            let path = dir.path().join("planted.csv");
            std::fs::write(&path, &planted).unwrap();
            assert!(files_match(table.spec, &table.frame, &path, &parquet, 64, &mut Vec::new()).unwrap().is_none(), "{what}");
            let found = findings(&path);
            assert!(!found.is_empty(), "{what}: {found:#?}");
            // The same findings as reading the files whole from the start.
            let mut ctx = Context::new(&config, &exceptions);
            let (csv_bytes, parquet_bytes) = (planted.into_bytes(), std::fs::read(&parquet).unwrap());
            super::super::check_files(&mut ctx, table.spec, Some(&table.frame), || Ok(csv_bytes), || Ok(parquet_bytes)).unwrap();
            assert_eq!(found, ctx.findings, "{what}");
        }
        // A Parquet file of other rows.
        let other = horaires(199);
        write_parquet(&other, &dir.path().join("other.parquet")).unwrap();
        assert!(files_match(table.spec, &table.frame, &csv, &dir.path().join("other.parquet"), 64, &mut Vec::new()).unwrap().is_none());
        // A file that cannot be read is an error naming it.
        let error = files_match(table.spec, &table.frame, &csv, &dir.path().join("missing.parquet"), 64, &mut Vec::new()).unwrap_err().to_string();
        assert!(error.contains("missing.parquet"), "{error}");
    }

    #[test]
    fn the_last_record_end_is_the_one_a_byte_at_a_time_reading_finds() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..rng.random_range(0..40)).map(|_| [b'"', b'\n', b'a', b','][rng.random_range(0..4)]).collect();
            let start: bool = rng.random();
            let (mut state, mut expected) = (start, None);
            for (at, byte) in bytes.iter().enumerate() {
                match byte {
                    b'"' => state = !state,
                    b'\n' if !state => expected = Some(at + 1),
                    _ => {}
                }
            }
            let mut in_quotes = start;
            assert_eq!((last_record_end(&bytes, &mut in_quotes), in_quotes), (expected, state), "{:?} from {start}", String::from_utf8_lossy(&bytes));
        }
    }
}
