//! The common case of the read-back, in bounded memory: a table's spooled files compared with the
//! built table a slice at a time (each Parquet row group; the CSV in blocks cut at record ends),
//! rather than read whole. At national scale the largest table's CSV, its text frame and its
//! typed frame, or its Parquet frame, were each about as large as the table itself, and that
//! transient set the whole run's peak memory. The built rows come from the table's source a slice
//! at a time too (`TableSource::load_rows`, the slices of `slices`, which are the Parquet row
//! groups), so the built table is never whole here either.
//!
//! This path only answers "are both files exactly the built table, and the CSV its dialect?".
//! Anything else (a cell that does not parse, a slice that differs, a bad header, a missing final
//! line end) answers no, and the caller reads the files whole (`check_files`) to say what and where,
//! so the findings of a broken file are the same whichever path met it first.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use polars::prelude::*;
use rayon::prelude::*;

use super::super::report::FileFacts;
use super::super::{GateError, Tally};
use crate::sha256::Sha256;
use crate::table::spill::{slices, TableSource};
use crate::table::{Table, TableSpec};

/// Bytes of CSV read at a time (then cut after the block's last complete record).
pub const CSV_BLOCK_BYTES: usize = 32 << 20;

/// The facts of both files when each is exactly the built table (`shape`, its `height` rows read
/// from `tables` a slice at a time); None when anything differs or cannot be read (the caller then
/// reads them whole and reports). Only a file that cannot be opened or read at all, or built rows
/// that cannot be read, is an error.
///
/// `each_slice` is given every slice of the built table in order, whatever the answer: the checks
/// that go through the rows (the schema checks) take them as they come, so that the table is
/// read once for both.
///
/// `buffer` holds the CSV blocks. The caller keeps it from one table to the next: a new one, grown
/// to a block for every table, had the kernel zero its fresh pages each time (8 % of the gate's CPU
/// at scale 0.05).
#[allow(clippy::too_many_arguments)]
pub fn files_match(
    tables: &dyn TableSource,
    shape: &Table,
    height: usize,
    csv_path: &Path,
    parquet_path: &Path,
    csv_block_bytes: usize,
    buffer: &mut Vec<u8>,
    each_slice: &mut (dyn FnMut(&Table) + Send),
) -> Result<Option<(FileFacts, FileFacts)>, GateError> {
    // The two files are read back at the same time, one per core: each reading has stretches
    // that use one core only (hashing, the CSV comparison). The Parquet file's reading loads each
    // slice of the built table and hands it on to the CSV's (which goes through the same rows in
    // the same order), so a slice is read from disk once for both; a few slices wait at most. The
    // CSV's reading has a thread of its own: it waits for slices, which a task of the thread pool
    // must not do. The answer is taken in the order the files used to be read: a Parquet file that
    // is not the table answers no whatever the CSV.
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let (parquet, csv) = std::thread::scope(|scope| {
        let csv = scope.spawn(move || csv_matches(tables, shape, height, csv_path, csv_block_bytes, buffer, receiver));
        let parquet = parquet_matches(tables, shape, height, parquet_path, each_slice, sender);
        (parquet, csv.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
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

/// Rows `offset..offset + rows` of the built table.
pub(super) fn built_rows(tables: &dyn TableSource, name: &'static str, offset: usize, rows: usize) -> Result<Table, GateError> {
    tables.load_rows(name, None, offset, rows)?.ok_or_else(|| GateError::Read { path: name.to_owned(), message: "is no longer among the night's tables".to_owned() })
}

/// Size and sha256 of a file, read in blocks.
fn facts_of(spec: &TableSpec, extension: &str, path: &Path) -> Result<FileFacts, GateError> {
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut open(path)?, &mut hasher).map_err(read_error(path))?;
    Ok(FileFacts { path: format!("{}.{extension}", spec.name), bytes, sha256: hasher.finish_hex() })
}

/// The Parquet file, a slice of the built table at a time (a row group of a file the writer
/// made): same columns, same values as the built rows. Every slice goes to `each_slice`, and to
/// `slices` (the CSV's reading), also after a difference.
fn parquet_matches(tables: &dyn TableSource, shape: &Table, height: usize, path: &Path, each_slice: &mut (dyn FnMut(&Table) + Send), slices_to_csv: SyncSender<(usize, Table)>) -> Result<Option<FileFacts>, GateError> {
    let facts = facts_of(shape.spec, "parquet", path)?;
    let mut reader = ParquetReader::new(open(path)?);
    let metadata = reader.get_metadata().ok().cloned();
    let mut matching = metadata.as_ref().is_some_and(|metadata| metadata.num_rows == height);
    for (offset, rows) in slices(height) {
        let built = built_rows(tables, shape.spec.name, offset, rows)?;
        // A clone shares the columns' buffers. A CSV reading that has stopped takes no more.
        let _ = slices_to_csv.send((offset, built.clone()));
        each_slice(&built);
        if let (true, Some(metadata)) = (matching, &metadata) {
            let mut reader = ParquetReader::new(open(path)?).with_slice(Some((offset, rows)));
            reader.set_metadata(metadata.clone());
            matching = matches!(reader.finish(), Ok(frame) if frame.get_column_names() == built.frame.get_column_names() && frame.equals_missing(&built.frame));
        }
    }
    Ok(matching.then_some(facts))
}

/// The built rows the CSV's records are compared with, the slice that holds the records' rows at
/// a time, as the Parquet file's reading loads them (`slices`, in order), each dropped once the
/// records pass it.
struct Built<'s> {
    tables: &'s dyn TableSource,
    name: &'static str,
    height: usize,
    slices: Receiver<(usize, Table)>,
    /// The slice held, and its first row.
    current: Option<(usize, Table)>,
}

impl Built<'_> {
    /// The slice that holds row `row` (rows only go forward), and its first row; None past the
    /// table's end, or when the slices stop coming (the Parquet file's reading met an error, which
    /// is the answer).
    fn at(&mut self, row: usize) -> Result<Option<(usize, &DataFrame)>, GateError> {
        if row >= self.height {
            return Ok(None);
        }
        while !self.current.as_ref().is_some_and(|(offset, slice)| (*offset..offset + slice.rows()).contains(&row)) {
            self.current = None;
            let Ok(next) = self.slices.recv() else { return Ok(None) };
            self.current = Some(next);
        }
        Ok(self.current.as_ref().map(|(offset, slice)| (*offset, &slice.frame)))
    }
}

/// The CSV file, block by block: the header first, then each block's complete records compared
/// with the same rows of the built table, split in place when they are in the writer's strict form
/// (`strict`), else parsed and typed exactly as `check_files` does.
fn csv_matches(tables: &dyn TableSource, shape: &Table, height: usize, path: &Path, block_bytes: usize, buffer: &mut Vec<u8>, slices: Receiver<(usize, Table)>) -> Result<Option<FileFacts>, GateError> {
    let spec = shape.spec;
    let columns: Vec<PlSmallStr> = shape.frame.get_column_names().into_iter().cloned().collect();
    let header = format!("{}\n", columns.iter().map(PlSmallStr::as_str).collect::<Vec<_>>().join(","));
    let mut built = Built { tables, name: spec.name, height, slices, current: None };
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
                let Some(rows) = block_matches(spec, &mut built, &columns, records, rows_seen)? else { return Ok(None) };
                rows_seen += rows;
            }
            buffer.drain(..end);
            scanned -= end;
        }
        if read == 0 {
            // What is left did not end with a line end (or the header never came).
            if !buffer.is_empty() || !header_seen || rows_seen != height {
                return Ok(None);
            }
            return Ok(Some(FileFacts { path: format!("{}.csv", spec.name), bytes, sha256: hasher.finish_hex() }));
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
/// A block spans slices of the built table: the records the writer made are split and compared in
/// place slice after slice; polars reads what that is not sure of, from there to the block's end
/// (the common case costs neither its text frame nor the typed one).
fn block_matches(spec: &'static TableSpec, built: &mut Built<'_>, columns: &[PlSmallStr], records: &[u8], offset: usize) -> Result<Option<usize>, GateError> {
    let Ok(text) = std::str::from_utf8(records) else { return Ok(None) };
    let (mut at, mut row) = (0usize, offset);
    while at < text.len() {
        // More records than the table has rows.
        let Some((start, slice)) = built.at(row)? else { return Ok(None) };
        match super::strict::records_match(spec, slice, &text[at..], row - start) {
            Some((rows, bytes)) => {
                at += bytes;
                row += rows;
            }
            None => {
                let Some(rows) = read_records_match(spec, built, columns, &records[at..], row)? else { return Ok(None) };
                row += rows;
                break;
            }
        }
    }
    Ok(Some(row - offset))
}

/// Rows of complete CSV records read by polars' reader when they are exactly the built rows from
/// `offset` (read from the source, whichever slices they span).
fn read_records_match(spec: &'static TableSpec, built: &mut Built<'_>, columns: &[PlSmallStr], records: &[u8], offset: usize) -> Result<Option<usize>, GateError> {
    // polars may take a byte-order mark at the start of what it reads for no part of the data,
    // where it is part of a cell in the file.
    if records.starts_with(b"\xEF\xBB\xBF") {
        return Ok(None);
    }
    let Some(typed) = read_block(spec, columns, records) else { return Ok(None) };
    let rows = typed.height();
    if offset + rows > built.height {
        return Ok(None);
    }
    // The slice held for the strict comparison is given up first: these rows may span several.
    built.current = None;
    let rows_built = built_rows(built.tables, built.name, offset, rows)?;
    Ok(typed.equals_missing(&rows_built.frame).then_some(rows))
}

/// Complete CSV records read by polars' reader as text, each cell typed as `typed_csv` does; None
/// when they cannot be read or a cell does not parse (a finding only the whole-file path reports).
pub(super) fn read_block(spec: &'static TableSpec, columns: &[PlSmallStr], records: &[u8]) -> Option<DataFrame> {
    let schema: Schema = columns.iter().map(|c| Field::new(c.clone(), DataType::String)).collect();
    let text = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .into_reader_with_file_handle(io::Cursor::new(records))
        .finish()
        .ok()?;
    let rows = text.height();
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
    DataFrame::new(rows, typed?).ok()
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

    /// The files of a table in memory, compared a slice at a time, every slice also given to
    /// `each_slice` (here, counted).
    fn matched(table: &Table, csv: &Path, parquet: &Path, block: usize) -> Result<Option<(FileFacts, FileFacts)>, GateError> {
        let tables = crate::table::Tables::from([(table.name(), table.clone())]);
        let mut seen = Vec::new();
        let mut each_slice = |slice: &Table| seen.push(slice.rows());
        let result = files_match(&tables, table, table.rows(), csv, parquet, block, &mut Vec::new(), &mut each_slice);
        if result.is_ok() {
            assert_eq!(seen, slices(table.rows()).into_iter().map(|(_, rows)| rows).collect::<Vec<_>>(), "every slice, in order");
        }
        result
    }

    #[test]
    fn files_equal_to_the_built_table_match_in_blocks_and_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        // One slice, then three (CSV blocks span slices, a record across a slice's end).
        for (rows, blocks) in [(70_000, vec![7, 1000, CSV_BLOCK_BYTES]), (200_000, vec![1000, 1 << 20, CSV_BLOCK_BYTES])] {
            let table = horaires(rows);
            let (csv, parquet) = spooled(dir.path(), &table);
            for block in blocks {
                let (c, p) = matched(&table, &csv, &parquet, block).unwrap().expect("the files are the table");
                assert_eq!((c.bytes, c.sha256.clone()), whole_facts(&csv, "csv"), "block {block}");
                assert_eq!((p.bytes, p.sha256.clone()), whole_facts(&parquet, "parquet"));
                assert_eq!((c.path.as_str(), p.path.as_str()), ("horaires.csv", "horaires.parquet"));
            }
        }
        // An empty table is its header alone.
        let empty = horaires(0);
        let (csv, parquet) = spooled(dir.path(), &empty);
        assert!(matched(&empty, &csv, &parquet, 7).unwrap().is_some());
    }

    /// What the strict form is not sure of, polars reads, from there to the block's end, whichever
    /// slices those records span, and compares with the built rows they cover.
    #[test]
    fn blocks_read_by_polars_are_compared_across_slices() {
        let dir = tempfile::tempdir().unwrap();
        let built = horaires(200_000);
        let (csv, _) = spooled(dir.path(), &built);
        let columns: Vec<PlSmallStr> = built.frame.get_column_names().into_iter().cloned().collect();
        let records = std::fs::read(&csv).unwrap();
        let records = &records[records.iter().position(|&b| b == b'\n').unwrap() + 1..];
        let tables = crate::table::Tables::from([(built.name(), built.clone())]);
        let mut window = Built { tables: &tables, name: built.spec.name, height: built.rows(), slices: std::sync::mpsc::sync_channel(0).1, current: None };
        assert_eq!(read_records_match(built.spec, &mut window, &columns, records, 0).unwrap(), Some(200_000));
        let cut = records.len() / 2;
        let cut = cut + records[cut..].iter().position(|&b| b == b'\n').unwrap() + 1;
        let first = read_records_match(built.spec, &mut window, &columns, &records[..cut], 0).unwrap();
        let first = first.expect("the first half");
        assert!(first > 66_666 && first < 133_332, "{first}");
        assert_eq!(read_records_match(built.spec, &mut window, &columns, &records[cut..], first).unwrap(), Some(200_000 - first));
        assert_eq!(read_records_match(built.spec, &mut window, &columns, &records[cut..], first - 1).unwrap(), None, "rows one off");
    }

    #[test]
    fn any_difference_goes_to_the_whole_file_path_which_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let table = horaires(200);
        let (csv, parquet) = spooled(dir.path(), &table);
        let text = std::fs::read_to_string(&csv).unwrap();
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        let tables = crate::table::Tables::from([(table.name(), table.clone())]);
        let findings = |csv: &Path| -> Vec<Finding> {
            let mut ctx = Context::new(&config, &exceptions);
            super::super::check_spooled_table(&mut ctx, &tables, &table, table.rows(), csv, &parquet, None, 64, &mut Vec::new()).unwrap();
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
            assert!(matched(&table, &path, &parquet, 64).unwrap().is_none(), "{what}");
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
        assert!(matched(&table, &csv, &dir.path().join("other.parquet"), 64).unwrap().is_none());
        // A file that cannot be read is an error naming it.
        let error = matched(&table, &csv, &dir.path().join("missing.parquet"), 64).unwrap_err().to_string();
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
