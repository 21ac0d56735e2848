//! Parity: each CSV and its Parquet file hold the same rows, and those are the rows that were built;
//! the CSV follows its declared dialect (UTF-8 without BOM, the header, `,`, `"`, `\n`).
//!
//! Where the files come from. When a release is built, the gate writes every table with the
//! release's own writers into the release's staging folder (`release::Staging`, not a release until
//! it is committed), reads those files back with polars' readers, and the release writer keeps them
//! as they are: each table is encoded once, and the bytes judged are the bytes published (gate.json
//! records their sha256, which the tests compare with the manifest's). The gate stays a function
//! that runs before the release is complete: the manifest, which records its verdict, is written
//! after it. A change made to the files after the release is committed is `verify`'s business
//! (SHA256SUMS, signature). `check_written` runs the same comparison on a folder already written,
//! which is how a planted mismatch is tested. A table with the fingerprint of one an earlier
//! publication of the night made (DREES and the HDH share most tables) takes that publication's
//! files, already proved the same table, rather than writing and reading back its own
//! (`release::shared`).
//!
//! How rows are compared. The CSV is read as text and every cell parsed by its column's Table
//! Schema type (integer, number, boolean, date, datetime); a cell that does not parse is a `types`
//! finding, as frictionless would report it. The typed CSV frame, the Parquet frame and the built
//! table are then compared as typed values: equal as a whole (the common case, one pass), or else
//! column by column when the rows line up by primary key, naming the columns and keys that differ,
//! or by canonical row hashes (`table::digest::row_hashes`, the hashes the history stage uses) when
//! rows are missing or extra.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::*;
use rayon::prelude::*;

use super::report::{FileFacts, TableFiles};
use super::{limits, Context, GateError, Severity, Tally};
use super::schema::Checks;
use crate::release::shared::Sharing;
use crate::release::Staging;
use crate::table::digest::row_hashes;
use crate::table::spill::{slices, TableSource};
use crate::table::{catalog, ColumnType, Table, TableError, TableSpec, Tables};

mod sliced;
mod strict;

fn polars_error(table: &str) -> impl Fn(PolarsError) -> GateError + '_ {
    move |source| GateError::Polars { table: table.to_owned(), source }
}

/// Write every table's files into the release's staging folder, read each back and compare it
/// with the built table, and return their facts. A table whose files an earlier publication of the
/// night made and proved for a table of the same fingerprint (`sharing`) takes them instead.
///
/// Memory: no table is ever whole in memory on the common path. Each table is written a slice of
/// rows at a time (`table::spill::slices`, loaded from `tables` as it goes), and read back a slice
/// at a time, beside the same slice of the built table loaded again (`sliced`); the next table is
/// written while this one is read back, so a few slices are held at once, the CSV block being read
/// and the encoders' buffers. When a file differs, the table is loaded whole and each file read
/// whole (`check_files`): one file at a time, its bytes dropped once parsed, and each reading
/// dropped once compared, so a table is held at most about twice beside the built one (the CSV as
/// text while its columns are typed). Comparing each file with the built table proves them equal
/// to each other too; a folder already written, with no built table, compares CSV with Parquet
/// (`check_files`).
///
/// `schema` runs the schema checks on each table's slices as the Parquet file's read-back loads
/// them, so that they are read from disk once for both.
pub fn check_spooled(ctx: &mut Context<'_>, tables: &dyn TableSource, staging: &Staging, schema: &mut Checks<'_>, sharing: Option<&Sharing<'_>>) -> Result<Vec<TableFiles>, GateError> {
    let names = tables.names();
    let mut facts = Vec::new();
    let mut buffer = Vec::new();
    let mut written = names.first().map(|name| spool(tables, staging, sharing, name));
    for index in 0..names.len() {
        let current = written.take().expect("each table is written before it is checked")?;
        // The next table is written while this one is read back, so that neither leaves a core
        // idle. Checks and findings still go table by table, and an error is the one the tables
        // in order would have met first: this table's check, then the next one's writing.
        let (checked, next) = rayon::join(
            || current.as_ref().map(|(shape, rows, spooled)| check_spooled_files(ctx, tables, staging, sharing, shape, *rows, spooled, schema, &mut buffer)),
            || names.get(index + 1).map(|next| spool(tables, staging, sharing, next)),
        );
        if let Some(checked) = checked {
            facts.push(checked?);
        }
        written = next;
    }
    Ok(facts)
}

/// A table's files in the staging folder: written by this gate, or taken from an earlier
/// publication of the night that made and proved them for a table of the same fingerprint.
enum Spooled {
    Written(PathBuf, PathBuf),
    Taken(TableFiles),
}

/// The table's files put in the staging folder: taken when an earlier publication made them,
/// else written (`write_files`).
fn spool(tables: &dyn TableSource, staging: &Staging, sharing: Option<&Sharing<'_>>, name: &str) -> Result<Option<(Table, usize, Spooled)>, GateError> {
    if let (Some(sharing), Some(shape), Some(rows)) = (sharing, tables.shape(name), tables.rows(name)) {
        let taken = sharing.take_table_files(name, staging).map_err(|e| GateError::Read { path: name.to_owned(), message: format!("cannot be taken from an earlier publication: {e}") })?;
        if let Some(files) = taken {
            return Ok(Some((shape, rows, Spooled::Taken(files))));
        }
    }
    Ok(write_files(tables, staging, name)?.map(|(shape, rows, (csv, parquet))| (shape, rows, Spooled::Written(csv, parquet))))
}

/// The checks of one table's files. Files written here are read back and compared with the table
/// (`check_spooled_table`), and, when they are the table, offered to the later publications.
/// Files taken are the bytes an earlier gate proved to be the same table: they are not read back
/// again, and the schema checks read the table's slices themselves. The findings are the ones the
/// files written here would have given.
#[allow(clippy::too_many_arguments)]
fn check_spooled_files(ctx: &mut Context<'_>, tables: &dyn TableSource, staging: &Staging, sharing: Option<&Sharing<'_>>, shape: &Table, rows: usize, spooled: &Spooled, schema: &mut Checks<'_>, buffer: &mut Vec<u8>) -> Result<TableFiles, GateError> {
    match spooled {
        Spooled::Written(csv, parquet) => {
            let (files, matched) = check_spooled_table(ctx, tables, shape, rows, csv, parquet, Some(schema), sliced::CSV_BLOCK_BYTES, buffer)?;
            if let (Some(sharing), true) = (sharing, matched) {
                sharing.made_table_files(shape.name(), staging, &files);
            }
            Ok(files)
        }
        Spooled::Taken(files) => {
            let mut each = schema.begin(ctx, shape, None);
            for (offset, length) in slices(rows) {
                schema.slice(ctx, &mut each, &sliced::built_rows(tables, shape.spec.name, offset, length)?);
            }
            schema.finish(ctx, each, tables)?;
            record_matched(ctx, shape.name(), &files.csv, &files.parquet);
            Ok(files.clone())
        }
    }
}

/// What the checks record of files that are the built table and whose CSV follows its dialect
/// (the checks that ran, the size limits), without reading them whole.
fn record_matched(ctx: &mut Context<'_>, name: &str, csv: &FileFacts, parquet: &FileFacts) {
    for check in ["parity", "csv_dialect", "types"] {
        ctx.runs(check);
    }
    limits::file_size(ctx, name, parquet);
    limits::file_size(ctx, name, csv);
}

/// A table's files written into the staging folder from its rows loaded a slice at a time, with
/// its shape and rows (None when the source has no such table). A slice that cannot be read from
/// the source is the source's error, as loading the table was; one that cannot be written, an
/// error writing the table.
fn write_files(tables: &dyn TableSource, staging: &Staging, name: &str) -> Result<Option<(Table, usize, (PathBuf, PathBuf))>, GateError> {
    let (Some(shape), Some(rows)) = (tables.shape(name), tables.rows(name)) else { return Ok(None) };
    let mut unread = None;
    let written = staging.write_table_files(&shape, rows, |offset, length| match tables.load_rows(name, None, offset, length) {
        Ok(Some(slice)) => Ok(slice.frame),
        Ok(None) => Err(TableError::Polars { table: shape.spec.name, source: polars_err!(ComputeError: "the table is no longer among the night's tables") }),
        Err(e) => {
            let message = e.to_string();
            unread = Some(e);
            Err(TableError::Polars { table: shape.spec.name, source: polars_err!(ComputeError: "{message}") })
        }
    });
    if let Some(e) = unread {
        return Err(GateError::Table(e));
    }
    let files = written.map_err(|e| GateError::Read { path: name.to_owned(), message: format!("cannot be written: {e}") })?;
    Ok(Some((shape, rows, files)))
}

/// A table's files written here, read back and compared with the built table, the CSV
/// `csv_block_bytes` at a time (into `buffer`) on the common path; their facts, and whether both
/// were found to be the table there (false: a file differs, and the whole-file path named what).
/// The schema checks (when given) report before the files' findings, as when they ran on the
/// whole table before it was read back.
#[allow(clippy::too_many_arguments)]
fn check_spooled_table(
    ctx: &mut Context<'_>,
    tables: &dyn TableSource,
    shape: &Table,
    rows: usize,
    csv_path: &Path,
    parquet_path: &Path,
    mut schema: Option<&mut Checks<'_>>,
    csv_block_bytes: usize,
    buffer: &mut Vec<u8>,
) -> Result<(TableFiles, bool), GateError> {
    let name = shape.name();
    let mut each = schema.as_deref_mut().map(|schema| schema.begin(ctx, shape, None));
    let matched = {
        let mut each_slice = |slice: &Table| {
            if let (Some(schema), Some(each)) = (schema.as_deref_mut(), each.as_mut()) {
                schema.slice(ctx, each, slice);
            }
        };
        sliced::files_match(tables, shape, rows, csv_path, parquet_path, csv_block_bytes, buffer, &mut each_slice)?
    };
    if let (Some(schema), Some(each)) = (schema, each) {
        schema.finish(ctx, each, tables)?;
    }
    if let Some((csv, parquet)) = matched {
        // Both files are the built table and the CSV its dialect.
        record_matched(ctx, name, &csv, &parquet);
        return Ok((TableFiles { table: name.to_owned(), rows: rows as u64, csv, parquet }, true));
    }
    // A file is not the table: the rare path, which reads the table and the files whole to say
    // what differs and where.
    let Some(table) = tables.load(name)? else { return Err(GateError::Read { path: name.to_owned(), message: "is no longer among the night's tables".to_owned() }) };
    let read = |path: &Path| std::fs::read(path).map_err(|e| GateError::Read { path: path.display().to_string(), message: format!("cannot read back: {e}") });
    Ok((check_files(ctx, table.spec, Some(&table.frame), || read(csv_path), || read(parquet_path))?.files, false))
}

/// Name, size and sha256 of one of a table's files, from its bytes.
fn file_facts(table: &str, extension: &str, bytes: &[u8]) -> FileFacts {
    FileFacts { path: format!("{table}.{extension}"), bytes: bytes.len() as u64, sha256: crate::sha256::hex_digest(bytes) }
}

/// Cells of CSV files that did not parse as their column's type: table → column → rows. The schema
/// checks skip them, as frictionless does: a cell that is not an integer is a type error, not also
/// a missing value.
pub type Unparsed = BTreeMap<String, BTreeMap<String, BTreeSet<usize>>>;

/// The tables of a release folder as read from its CSV files, and what the gate learnt reading them.
pub struct Written {
    pub tables: Tables,
    pub unparsed: Unparsed,
    pub files: Vec<TableFiles>,
}

/// Check the files of a release folder already written (its manifest lists them), and return the
/// tables as read from the CSV files, for the schema and identifier checks.
pub fn check_written(ctx: &mut Context<'_>, dir: &Path) -> Result<Written, GateError> {
    let read_error = |path: &Path, message: String| GateError::Read { path: path.display().to_string(), message };
    let manifest_path = dir.join(crate::release::manifest::MANIFEST_FILE);
    let manifest: serde_json::Value = std::fs::read(&manifest_path)
        .map_err(|e| read_error(&manifest_path, format!("cannot read: {e}")))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| read_error(&manifest_path, format!("not JSON: {e}"))))?;
    let entries = manifest["tables"].as_array().ok_or_else(|| read_error(&manifest_path, "lists no tables".into()))?;
    let mut written = Written { tables: Tables::new(), unparsed: Unparsed::new(), files: Vec::new() };
    for entry in entries {
        let field = |key: &str| entry[key].as_str().ok_or_else(|| read_error(&manifest_path, format!("a table without {key}")));
        let name = field("name")?;
        let spec = catalog::table(name).ok_or_else(|| read_error(&manifest_path, format!("table {name} is not in the catalogue")))?;
        let read = |relative: &str| {
            let path = dir.join(relative);
            std::fs::read(&path).map_err(|e| read_error(&path, format!("cannot read: {e}")))
        };
        let (csv, parquet) = (field("csv")?, field("parquet")?);
        let read = check_files(ctx, spec, None, || read(csv), || read(parquet))?;
        if let Some(frame) = read.frame {
            written.tables.insert(spec.name, Table { spec, frame });
        }
        written.unparsed.insert(name.to_owned(), read.unparsed);
        written.files.push(read.files);
    }
    Ok(written)
}

/// One table's files, read back.
pub struct ReadBack {
    /// The table as read from the CSV (None when it cannot be read at all).
    pub frame: Option<DataFrame>,
    /// Rows whose cell did not parse, by column.
    pub unparsed: BTreeMap<String, BTreeSet<usize>>,
    pub files: TableFiles,
}

/// Check one table's files, read by the two loaders. With the built table, each file is compared
/// with it (which proves them equal to each other too) and dropped before the next is read, so a
/// table is held at most about twice beside the built one; without it (a folder already written),
/// the CSV is compared with the Parquet file and returned for the schema checks.
pub fn check_files(
    ctx: &mut Context<'_>,
    spec: &'static TableSpec,
    built: Option<&DataFrame>,
    read_csv: impl FnOnce() -> Result<Vec<u8>, GateError>,
    read_parquet: impl FnOnce() -> Result<Vec<u8>, GateError>,
) -> Result<ReadBack, GateError> {
    let name = spec.name;
    let runs_parity = ctx.runs("parity");

    let parquet = read_parquet()?;
    let parquet_facts = file_facts(name, "parquet", &parquet);
    limits::file_size(ctx, name, &parquet_facts);
    let from_parquet = match ParquetReader::new(Cursor::new(&parquet)).finish() {
        Ok(frame) => Some(frame),
        Err(e) => {
            ctx.finding("parity", Severity::Failure, Some(name), None, 1, format!("{name}.parquet cannot be read: {e}"), Vec::new());
            None
        }
    };
    drop(parquet);
    let mut rows = from_parquet.as_ref().map(|f| f.height() as u64);
    let from_parquet = match (from_parquet, built) {
        (Some(p), Some(b)) => {
            if runs_parity {
                compare(ctx, spec, ("Parquet", &p), ("built table", b))?;
            }
            None
        }
        (p, _) => p,
    };

    let csv = read_csv()?;
    let csv_facts = file_facts(name, "csv", &csv);
    limits::file_size(ctx, name, &csv_facts);
    if ctx.runs("csv_dialect") {
        let columns: Option<Vec<String>> = built.map(|frame| frame.get_column_names().iter().map(|c| c.to_string()).collect());
        dialect(ctx, name, &csv, columns.as_deref());
    }
    let text = parse_csv_text(&csv);
    drop(csv);
    let (from_csv, unparsed) = match text.and_then(|text| typed_csv(ctx, spec, text)) {
        Ok((frame, unparsed)) => (Some(frame), unparsed),
        Err(message) => {
            ctx.finding("parity", Severity::Failure, Some(name), None, 1, format!("{name}.csv cannot be read as CSV: {message}"), Vec::new());
            (None, BTreeMap::new())
        }
    };
    rows = rows.or(from_csv.as_ref().map(|f| f.height() as u64));
    if runs_parity {
        match (&from_csv, built, &from_parquet) {
            (Some(c), Some(b), _) => compare(ctx, spec, ("CSV", c), ("built table", b))?,
            (Some(c), None, Some(p)) => compare(ctx, spec, ("CSV", c), ("Parquet", p))?,
            _ => {}
        }
    }
    let frame = if built.is_some() { None } else { from_csv };
    Ok(ReadBack { frame, unparsed, files: TableFiles { table: name.to_owned(), rows: rows.unwrap_or(0), csv: csv_facts, parquet: parquet_facts } })
}

/// UTF-8, no BOM, the expected header (when the columns are known), `\n` line ends, a final `\n`.
fn dialect(ctx: &mut Context<'_>, name: &str, csv: &[u8], columns: Option<&[String]>) {
    let file = format!("{name}.csv");
    let mut problems = Vec::new();
    if let Err(e) = std::str::from_utf8(csv) {
        problems.push(format!("not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()));
    }
    if csv.starts_with(&[0xEF, 0xBB, 0xBF]) {
        problems.push("starts with a byte-order mark".to_owned());
    }
    let header_end = csv.iter().position(|&b| b == b'\n');
    let header = String::from_utf8_lossy(&csv[..header_end.unwrap_or(csv.len())]);
    if header.ends_with('\r') {
        problems.push("lines end with \\r\\n, the dialect declares \\n".to_owned());
    }
    if let Some(columns) = columns {
        let expected = columns.join(",");
        if header.trim_end_matches('\r') != expected {
            problems.push(format!("header {:?} is not {expected:?}", header.chars().take(200).collect::<String>()));
        }
    }
    if !csv.ends_with(b"\n") {
        problems.push("does not end with \\n".to_owned());
    }
    if !problems.is_empty() {
        let count = problems.len() as u64;
        ctx.finding("csv_dialect", Severity::Failure, Some(name), None, count, format!("{file}: {}", problems.join("; ")), Vec::new());
    }
}

/// Read CSV bytes as text; `typed_csv` then parses every cell by its column's type, the way a Table
/// Schema reader does ("" is missing). Cells that do not parse are `types` findings, become null,
/// and are returned by column.
fn parse_csv_text(csv: &[u8]) -> Result<DataFrame, String> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(csv))
        .finish()
        .map_err(|e| e.to_string())
}

/// Parse the cells of a CSV read as text (`parse_csv_text`) by their columns' types.
fn typed_csv(ctx: &mut Context<'_>, spec: &'static TableSpec, text: DataFrame) -> Result<(DataFrame, BTreeMap<String, BTreeSet<usize>>), String> {
    // Columns parse independently, on every core; their tallies are reported in column order.
    let parsed: Vec<(Column, Tally, BTreeSet<usize>, Option<ColumnType>)> = text
        .columns()
        .par_iter()
        .map(|column| {
            let values = column.str().map_err(|e| e.to_string())?;
            let kind = spec.column(column.name().as_str()).map(|c| c.kind);
            let (mut tally, mut failed) = (Tally::default(), BTreeSet::new());
            let typed = parse_column(column.name().clone(), values, kind, &mut tally, &mut failed).map_err(|e| e.to_string())?;
            Ok((typed, tally, failed, kind))
        })
        .collect::<Result<_, String>>()?;
    drop(text);
    let check_types = ctx.runs("types");
    let mut columns = Vec::with_capacity(parsed.len());
    let mut unparsed = BTreeMap::new();
    for (typed, tally, failed, kind) in parsed {
        if !failed.is_empty() {
            unparsed.insert(typed.name().to_string(), failed);
        }
        if check_types {
            let what = format!("are not of type {}", kind.map_or("string", |k| k.table_schema_type()));
            ctx.tally("types", spec.name, typed.name().as_str(), tally, &what);
        }
        columns.push(typed);
    }
    Ok((DataFrame::new_infer_height(columns).map_err(|e| e.to_string())?, unparsed))
}

fn parse_column(name: PlSmallStr, values: &StringChunked, kind: Option<ColumnType>, tally: &mut Tally, failed: &mut BTreeSet<usize>) -> PolarsResult<Column> {
    // Cells parse one by one with the exact formats the Table Schemas declare, rather than with
    // polars' own inference, so "what parses" is the schema's definition and not a reader's.
    fn typed<T>(values: &StringChunked, tally: &mut Tally, failed: &mut BTreeSet<usize>, parse: impl Fn(&str) -> Option<T>) -> Vec<Option<T>> {
        values
            .iter()
            .enumerate()
            .map(|(row, v)| match v.filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => match parse(s) {
                    Some(t) => {
                        tally.valid();
                        Some(t)
                    }
                    None => {
                        tally.invalid(s);
                        failed.insert(row);
                        None
                    }
                },
            })
            .collect()
    }
    Ok(match kind {
        None | Some(ColumnType::String) | Some(ColumnType::Time) => {
            // Text stays text; "" is missing. Times are checked by the schema check, once.
            let empty = values.equal("");
            values.set(&empty, None)?.with_name(name).into_column()
        }
        Some(ColumnType::Integer) => Column::new(name, typed(values, tally, failed, parse_integer)),
        Some(ColumnType::Number) => Column::new(name, typed(values, tally, failed, parse_number)),
        Some(ColumnType::Boolean) => Column::new(name, typed(values, tally, failed, parse_boolean)),
        Some(ColumnType::Date) => Column::new(name, typed(values, tally, failed, date_days)).cast(&DataType::Date)?,
        Some(ColumnType::DateTime) => Column::new(name, typed(values, tally, failed, datetime_millis)).cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?,
    })
}

// The cell parsers of the Table Schema types, shared by `parse_column` and the strict shortcut of
// the sliced read-back (`strict`), so both read a cell the same way.

fn parse_integer(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

fn parse_number(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

fn parse_boolean(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A date as polars stores it: days since 1970-01-01.
fn date_days(s: &str) -> Option<i32> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
    parse_date(s).map(|d| (d - epoch).num_days() as i32)
}

/// A datetime as polars stores it here: milliseconds since the epoch, UTC.
fn datetime_millis(s: &str) -> Option<i64> {
    parse_datetime(s).map(|t| t.and_utc().timestamp_millis())
}

/// A date as the CSV writes it (`CSV_DATE_FORMAT`). The fixed-width form every cell the writer
/// made has is read directly; anything else goes to chrono with the declared format, which stays
/// the definition of what parses (the fast path only accepts strings chrono reads the same way).
fn parse_date(s: &str) -> Option<NaiveDate> {
    fixed_date(s.as_bytes()).or_else(|| NaiveDate::parse_from_str(s, crate::table::write::CSV_DATE_FORMAT).ok())
}

/// A datetime as the CSV writes it (`CSV_DATETIME_FORMAT`, `YYYY-MM-DDTHH:MM:SSZ`); see `parse_date`.
fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let fast = (b.len() == 20 && b[10] == b'T' && b[13] == b':' && b[16] == b':' && b[19] == b'Z')
        .then(|| fixed_date(&b[..10])?.and_hms_opt(digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?))
        .flatten();
    fast.or_else(|| NaiveDateTime::parse_from_str(s, crate::table::write::CSV_DATETIME_FORMAT).ok())
}

/// `YYYY-MM-DD`, digits only, a valid calendar date.
fn fixed_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(digits(&b[..4])? as i32, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// An unsigned decimal number of ASCII digits only.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
}

/// A cell for an example: text as is, other values as polars prints them, null as `null`.
fn cell(column: &Column, row: usize) -> String {
    if let Ok(text) = column.str() {
        return text.get(row).map_or("null".to_owned(), |s| format!("{s:?}"));
    }
    match column.get(row) {
        Ok(AnyValue::Null) | Err(_) => "null".to_owned(),
        Ok(v) => v.to_string(),
    }
}

/// Compare two frames of one table; report what differs, where.
fn compare(ctx: &mut Context<'_>, spec: &'static TableSpec, (a_label, a): (&str, &DataFrame), (b_label, b): (&str, &DataFrame)) -> Result<(), GateError> {
    let name = spec.name;
    let (a_columns, b_columns) = (a.get_column_names(), b.get_column_names());
    if a_columns != b_columns {
        let list = |c: &[&PlSmallStr]| c.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
        let message = format!("{name}: the {a_label} has columns [{}], the {b_label} [{}]", list(&a_columns), list(&b_columns));
        ctx.finding("parity", Severity::Failure, Some(name), None, 1, message, Vec::new());
        return Ok(());
    }
    if a.equals_missing(b) {
        return Ok(());
    }
    let pk = spec.primary_key;
    let keys = |f: &DataFrame| -> Vec<String> { f.column(pk).map(|c| (0..f.height()).map(|i| cell(c, i)).collect()).unwrap_or_default() };
    let (a_keys, b_keys) = (keys(a), keys(b));
    if a.height() == b.height() && a_keys == b_keys {
        // Same rows by key: name the columns whose values differ, with the keys.
        for column in a_columns {
            let (ca, cb) = (a.column(column).map_err(polars_error(name))?, b.column(column).map_err(polars_error(name))?);
            if ca.dtype() != cb.dtype() {
                let message = format!("{name}.{column}: {} in the {a_label}, {} in the {b_label}", ca.dtype(), cb.dtype());
                ctx.finding("parity", Severity::Failure, Some(name), Some(column.as_str()), 1, message, Vec::new());
                continue;
            }
            let same = ca.as_materialized_series().equal_missing(cb.as_materialized_series()).map_err(polars_error(name))?;
            let mut tally = Tally::default();
            for (row, equal) in same.iter().enumerate() {
                if equal.unwrap_or(false) {
                    tally.valid();
                } else {
                    tally.invalid(format!("{pk}={}: {a_label} {} ≠ {b_label} {}", a_keys[row], cell(ca, row), cell(cb, row)));
                }
            }
            ctx.tally("parity", name, column.as_str(), tally, &format!("differ between the {a_label} and the {b_label}"));
        }
        return Ok(());
    }
    // Rows missing or extra: compare the multisets of canonical row hashes.
    let (ha, hb) = (row_hashes(a).map_err(polars_error(name))?, row_hashes(b).map_err(polars_error(name))?);
    let only = |mine: &[[u8; 32]], mine_keys: &[String], theirs: &[[u8; 32]]| -> Tally {
        let mut counts: HashMap<&[u8; 32], usize> = HashMap::new();
        for h in theirs {
            *counts.entry(h).or_default() += 1;
        }
        let mut tally = Tally::default();
        for (row, h) in mine.iter().enumerate() {
            match counts.get_mut(h) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    tally.valid();
                }
                _ => tally.invalid(format!("{pk}={}", mine_keys[row])),
            }
        }
        tally
    };
    let (only_a, only_b) = (only(&ha, &a_keys, &hb), only(&hb, &b_keys, &ha));
    let count = only_a.invalid + only_b.invalid;
    let message = format!(
        "{name}: {} row(s) of the {a_label} are not in the {b_label}, {} row(s) of the {b_label} are not in the {a_label} ({} and {} rows)",
        only_a.invalid,
        only_b.invalid,
        a.height(),
        b.height()
    );
    let mut examples = only_a.examples;
    examples.extend(only_b.examples);
    examples.truncate(super::MAX_EXAMPLES);
    ctx.finding("parity", Severity::Failure, Some(name), None, count, message, examples);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::exceptions::Exceptions;
    use crate::gate::{Finding, GateConfig};
    use crate::table::write::{encode_csv, encode_parquet};
    use crate::table::{catalog, TableBuilder};
    use chrono::{TimeZone, Utc};

    fn horaires() -> Table {
        let mut b = TableBuilder::new(&catalog::HORAIRES);
        for (id, rang, start) in [("1-1", 1i64, "09:00:00"), ("1-2", 2, "14:00:00"), ("2-1", 1, "08:30:00")] {
            let mut r = b.row();
            r.set("horaire_id", id)
                .set("offre_id", &id[..1])
                .set("rang", rang)
                .set("type_horaire_libelle", "Horaire \"d'ouverture\", matin\nsuite")
                .set("heure_debut", start)
                .set("date_debut", Some(NaiveDate::from_ymd_opt(2025, 4, 8).unwrap()));
            b.push(r);
        }
        b.finish().unwrap()
    }

    fn geo() -> Table {
        let mut b = TableBuilder::new(&catalog::ENTITES_GEOGRAPHIQUES);
        let mut r = b.row();
        r.set("identifiant_ror", "EG1")
            .set("latitude", Some(48.931392))
            .set("longitude", Some(-0.1))
            .set("zone_poser_helicoptere", Some(true))
            .set("date_mise_a_jour", Some(Utc.with_ymd_and_hms(2025, 4, 8, 13, 5, 27).unwrap()));
        b.push(r);
        b.finish().unwrap()
    }

    fn encoded(table: &Table) -> (Vec<u8>, Vec<u8>) {
        let (mut csv, mut parquet) = (Vec::new(), Vec::new());
        encode_csv(&table.frame, table.name(), &mut csv).unwrap();
        encode_parquet(&table.frame, table.name(), &mut parquet).unwrap();
        (csv, parquet)
    }

    fn check(table: &Table, built: Option<&DataFrame>, csv: &[u8], parquet: &[u8]) -> Vec<Finding> {
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        let mut ctx = Context::new(&config, &exceptions);
        check_files(&mut ctx, table.spec, built, || Ok(csv.to_vec()), || Ok(parquet.to_vec())).unwrap();
        ctx.findings
    }

    #[test]
    fn the_fixed_width_date_readers_agree_with_chrono_on_every_input() {
        let (date_format, datetime_format) = (crate::table::write::CSV_DATE_FORMAT, crate::table::write::CSV_DATETIME_FORMAT);
        let mut dates = vec!["2025-04-08", "2024-02-29", "2025-02-29", "2025-13-01", "2025-00-10", "0001-01-01", "9999-12-31", "2025-4-08", "+2025-04-08", "2025-04-08 ", "２０２５-04-08", "2025/04/08", ""];
        let mut datetimes = vec!["2025-04-08T13:05:27Z", "2025-04-08T23:59:60Z", "2025-04-08T24:00:00Z", "2025-04-08T13:5:27Z", "2025-04-08 13:05:27Z", "2025-04-08T13:05:27", "2025-02-30T00:00:00Z", "2025-04-08T13:05:27+00:00"];
        // Every month and day, valid or not, of a leap and a common year, at a few times.
        let generated: Vec<String> = (0..=13).flat_map(|m| (0..=32).flat_map(move |d| [format!("2024-{m:02}-{d:02}"), format!("2025-{m:02}-{d:02}")])).collect();
        let generated_times: Vec<String> = generated.iter().take(200).flat_map(|d| ["00:00:00", "23:59:59", "12:60:00", "25:00:00"].map(|t| format!("{d}T{t}Z"))).collect();
        dates.extend(generated.iter().map(String::as_str));
        datetimes.extend(generated_times.iter().map(String::as_str));
        for s in dates {
            assert_eq!(parse_date(s), NaiveDate::parse_from_str(s, date_format).ok(), "{s:?}");
        }
        for s in datetimes {
            assert_eq!(parse_datetime(s), NaiveDateTime::parse_from_str(s, datetime_format).ok(), "{s:?}");
        }
    }

    /// The path a release build takes: files spooled to disk, each read back and compared with
    /// the built table; a file changed between writing and reading is named, row and value.
    #[test]
    fn spooled_files_are_each_compared_with_the_built_table() {
        let dir = tempfile::tempdir().unwrap();
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        for table in [horaires(), geo()] {
            let (csv, parquet) = (dir.path().join(format!("{}.csv", table.name())), dir.path().join(format!("{}.parquet", table.name())));
            crate::table::write::write_csv(&table, &csv).unwrap();
            crate::table::write::write_parquet(&table, &parquet).unwrap();
            let mut ctx = Context::new(&config, &exceptions);
            let files = check_spooled_table(&mut ctx, &Tables::from([(table.name(), table.clone())]), &table, table.rows(), &csv, &parquet, None, sliced::CSV_BLOCK_BYTES, &mut Vec::new()).unwrap().0;
            assert_eq!(ctx.findings, Vec::<Finding>::new(), "{}", table.name());
            assert_eq!((files.rows, files.csv.bytes), (table.rows() as u64, std::fs::metadata(&csv).unwrap().len()));
        }
        let table = horaires();
        let csv = dir.path().join("horaires.csv");
        let text = std::fs::read_to_string(&csv).unwrap();
        std::fs::write(&csv, text.replacen("14:00:00", "15:00:00", 1)).unwrap();
        let mut ctx = Context::new(&config, &exceptions);
        check_spooled_table(&mut ctx, &Tables::from([(table.name(), table.clone())]), &table, table.rows(), &csv, &dir.path().join("horaires.parquet"), None, sliced::CSV_BLOCK_BYTES, &mut Vec::new()).unwrap();
        let f = ctx.findings.iter().find(|f| f.check == "parity").expect("a parity finding");
        assert_eq!(f.examples, [r#"horaire_id="1-2": CSV "15:00:00" ≠ built table "14:00:00""#]);
    }

    /// The path a release build takes at scale: a table of several slices (200,000 rows make
    /// three) set aside on disk is written into the staging folder a slice at a time, byte for byte
    /// the files written whole, read back a slice at a time as the built table, and checked.
    #[test]
    fn a_table_of_several_slices_is_written_and_read_back_a_slice_at_a_time() {
        let work = tempfile::tempdir().unwrap();
        let mut b = TableBuilder::new(&catalog::HORAIRES);
        for i in 0..200_000usize {
            let mut r = b.row();
            let label = (i % 3 == 0).then(|| format!("Horaire \"{i}\", matin\nsuite"));
            r.set("horaire_id", format!("{i:07}").as_str()).set("offre_id", "O1").set("rang", Some(i as i64)).set("type_horaire_libelle", label.as_deref()).set("heure_debut", "09:00:00");
            b.push(r);
        }
        let table = b.finish().unwrap();
        assert_eq!(crate::table::spill::slices(table.rows()).len(), 3);
        let spilled = crate::table::spill::SpilledTables::create_named(work.path(), "-test").unwrap();
        spilled.put(table.clone()).unwrap();
        let staging = Staging::create(&work.path().join("releases"), "public", "20261125T020000Z").unwrap();
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        let mut ctx = Context::new(&config, &exceptions);
        let referenced = crate::gate::schema::Targets::new();
        let mut checks = Checks::new(&mut ctx, &referenced);
        let files = check_spooled(&mut ctx, &spilled, &staging, &mut checks, None).unwrap();
        assert_eq!(ctx.findings, Vec::<Finding>::new());
        let (csv, parquet) = encoded(&table);
        assert!(std::fs::read(staging.dir().join("horaires.csv")).unwrap() == csv);
        assert!(std::fs::read(staging.dir().join("horaires.parquet")).unwrap() == parquet);
        assert_eq!((files.len(), files[0].rows), (1, 200_000));
        assert_eq!((files[0].csv.bytes, files[0].csv.sha256.as_str()), (csv.len() as u64, file_facts("horaires", "csv", &csv).sha256.as_str()));
        assert_eq!(files[0].parquet.sha256, file_facts("horaires", "parquet", &parquet).sha256);
    }

    #[test]
    fn every_type_survives_both_encodings() {
        for table in [horaires(), geo()] {
            let (csv, parquet) = encoded(&table);
            assert_eq!(check(&table, Some(&table.frame), &csv, &parquet), Vec::<Finding>::new(), "{}", table.name());
        }
    }

    #[test]
    fn a_value_changed_in_the_csv_after_writing_is_named_with_its_key() {
        let table = horaires();
        let (csv, parquet) = encoded(&table);
        let planted = String::from_utf8(csv).unwrap().replacen("14:00:00", "15:00:00", 1);
        let findings = check(&table, None, planted.as_bytes(), &parquet);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!((f.check, f.table.as_deref(), f.column.as_deref(), f.count, f.checked), ("parity", Some("horaires"), Some("heure_debut"), 1, 3));
        assert_eq!(f.examples, [r#"horaire_id="1-2": CSV "15:00:00" ≠ Parquet "14:00:00""#]);
        assert_eq!(f.severity, Severity::Failure);
    }

    #[test]
    fn a_row_removed_from_the_csv_is_counted_by_row_hashes() {
        let table = horaires();
        let (csv, parquet) = encoded(&table);
        let text = String::from_utf8(csv).unwrap();
        // The record spans two lines: its label holds a quoted line break.
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let at = lines.iter().position(|l| l.starts_with("2-1,")).unwrap();
        let planted: String = lines.iter().enumerate().filter(|(i, _)| *i != at && *i != at + 1).map(|(_, l)| *l).collect();
        assert_ne!(planted, text);
        let findings = check(&table, None, planted.as_bytes(), &parquet);
        let f = findings.iter().find(|f| f.check == "parity").expect("parity finding");
        assert!(f.message.contains("horaires: 0 row(s) of the CSV are not in the Parquet, 1 row(s) of the Parquet are not in the CSV"), "{}", f.message);
        assert_eq!(f.examples, [r#"horaire_id="2-1""#]);
    }

    #[test]
    fn a_parquet_file_that_is_not_the_built_table_is_caught() {
        let table = geo();
        let mut changed = table.frame.clone();
        changed.with_column(Column::new("latitude".into(), [Some(43.0f64)])).unwrap();
        let (csv, parquet) = encoded(&Table { spec: table.spec, frame: changed });
        let findings = check(&table, Some(&table.frame), &csv, &parquet);
        let f = findings.iter().find(|f| f.check == "parity" && f.message.contains("built table")).expect("built-table parity");
        assert_eq!(f.column.as_deref(), Some("latitude"));
        assert_eq!(f.examples, [r#"identifiant_ror="EG1": Parquet 43.0 ≠ built table 48.931392"#]);
    }

    #[test]
    fn values_of_the_wrong_type_and_a_bad_dialect_are_named() {
        let table = horaires();
        let (csv, parquet) = encoded(&table);
        let planted = String::from_utf8(csv).unwrap().replacen(",2,", ",deux,", 1).replace('\n', "\r\n");
        let findings = check(&table, Some(&table.frame), planted.as_bytes(), &parquet);
        let types = findings.iter().find(|f| f.check == "types").expect("type finding");
        assert_eq!((types.column.as_deref(), types.examples.as_slice()), (Some("rang"), ["deux".to_owned()].as_slice()));
        assert!(types.message.contains("are not of type integer"), "{}", types.message);
        let dialect = findings.iter().find(|f| f.check == "csv_dialect").expect("dialect finding");
        assert!(dialect.message.contains("\\r\\n"), "{}", dialect.message);
        let bom = [b"\xEF\xBB\xBF".as_slice(), planted.as_bytes()].concat();
        let findings = check(&table, Some(&table.frame), &bom, &parquet);
        assert!(findings.iter().any(|f| f.check == "csv_dialect" && f.message.contains("byte-order mark")));
    }
}
