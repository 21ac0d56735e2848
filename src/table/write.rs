//! Deterministic writers: the same table always gives the same bytes. CSV is RFC 4180 (UTF-8, no
//! BOM, comma, header, quotes only where needed, `\n`); Parquet is zstd at a fixed level (`Packing`)
//! with full statistics and fixed row groups. Neither embeds a wall-clock time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;

use super::{Table, TableError};

/// Row group size: large enough for good compression, small enough that readers can skip groups
/// using statistics on national-scale tables. Fixed, because it changes the bytes.
const ROW_GROUP_ROWS: usize = 65_536;

/// How hard a Parquet file is compressed: zstd either way, at a level fixed here (it is part of the
/// bytes, so changing it changes every file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// The published tables and changelogs: zstd's default level (3). Re-users download them, and
    /// level 1 made them 5 to 15 % larger.
    Published,
    /// The history stores, rewritten whole every night as they grow: level 1. A store is about a
    /// third row hashes (hex text that no level compresses further), so level 1 makes it no
    /// larger (-3 to +4 % per table at scale 0.25), while level 3's compressing was a quarter of
    /// a later night's history stage.
    Store,
}

impl Packing {
    fn compression(self) -> ParquetCompression {
        match self {
            Packing::Published => ParquetCompression::Zstd(None),
            Packing::Store => ParquetCompression::Zstd(Some(polars_parquet::write::ZstdLevel::try_new(1).expect("zstd level 1 is valid"))),
        }
    }
}

/// ISO 8601 in UTC, to the second: the datetime format of every CSV file.
pub const CSV_DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";
pub const CSV_DATE_FORMAT: &str = "%Y-%m-%d";

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> TableError + '_ {
    move |source| TableError::Io { path: path.display().to_string(), source }
}

/// Write the table as CSV to `path` and flush it to disk.
pub fn write_csv(table: &Table, path: &Path) -> Result<(), TableError> {
    write_frame_csv(&table.frame, table.spec.name, path)
}

/// Write the table as Parquet (zstd, statistics) to `path` and flush it to disk.
pub fn write_parquet(table: &Table, path: &Path) -> Result<(), TableError> {
    write_frame_parquet(&table.frame, table.spec.name, path)
}

/// Write any frame (changelogs, history stores) as CSV with the same dialect as the tables.
pub fn write_frame_csv(frame: &DataFrame, label: &'static str, path: &Path) -> Result<(), TableError> {
    let file = File::create(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    encode_csv(frame, label, &mut out)?;
    finish_file(out, path)
}

/// The CSV bytes of a frame, into any writer: what `write_frame_csv` writes, byte for byte (the
/// quality gate reads them back before the release is written).
///
/// Frames of the catalogue's types (text, Int64, Float64, Boolean, Date, Datetime in ms without a
/// zone) are written by `encode_csv_direct`, which makes polars' bytes by its own rules: polars'
/// writer was the largest part of the quality gate's CPU time after the read-back (a fifth at scale
/// 0.05), most of it spent per batch of 1024 rows and in chrono's generic date formatting. Any
/// other frame goes to polars' writer, which stays the definition: the tests compare the two on
/// random frames of every type and value range.
pub fn encode_csv<W: Write>(frame: &DataFrame, label: &'static str, out: &mut W) -> Result<(), TableError> {
    match direct::columns(frame) {
        Some(columns) => direct::encode(frame, columns, out).map_err(|e| TableError::Polars { table: label, source: e.into() }),
        None => encode_csv_with_polars(frame, label, out),
    }
}

/// The CSV records of a frame's rows, without the header: `encode_csv` of a frame's header (its
/// empty frame) followed by this for each slice of its rows, in order, is `encode_csv` of the whole
/// frame, byte for byte (each record is made from its own row only).
pub fn encode_csv_rows<W: Write>(frame: &DataFrame, label: &'static str, out: &mut W) -> Result<(), TableError> {
    match direct::columns(frame) {
        Some(columns) => direct::encode_rows(frame, columns, out).map_err(|e| TableError::Polars { table: label, source: e.into() }),
        None => encode_csv_with_polars_header(frame, label, false, out),
    }
}

/// `encode_csv` by polars' CSV writer, with the dialect's options.
fn encode_csv_with_polars<W: Write>(frame: &DataFrame, label: &'static str, out: &mut W) -> Result<(), TableError> {
    encode_csv_with_polars_header(frame, label, true, out)
}

/// `encode_csv_with_polars`, with or without the header.
fn encode_csv_with_polars_header<W: Write>(frame: &DataFrame, label: &'static str, header: bool, out: &mut W) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: label, source };
    let mut frame = frame.clone();
    CsvWriter::new(out)
        .include_bom(false)
        .include_header(header)
        .with_separator(b',')
        .with_quote_char(b'"')
        .with_quote_style(QuoteStyle::Necessary)
        .with_line_terminator("\n".into())
        .with_null_value("".into())
        .with_date_format(Some(CSV_DATE_FORMAT.into()))
        .with_datetime_format(Some(CSV_DATETIME_FORMAT.into()))
        .with_float_scientific(Some(false))
        .finish(&mut frame)
        .map_err(polars)?;
    Ok(())
}

pub(crate) use direct::Cells;

/// The dialect written directly, as polars' writer writes it with `encode_csv_with_polars`'s
/// options: a null is an empty field; text is quoted when it holds `,`, `"`, `\n` or `\r` (quotes
/// doubled) or is empty (`""`, so it is not a null); integers and floats as Rust displays them
/// (polars' `{v}`, no exponent); booleans `true`/`false`; dates and datetimes through the same
/// conversions polars makes, formatted by hand for years 0 to 9999 (what `%Y` pads to four digits)
/// and by chrono with the declared format otherwise.
mod direct {
    use std::io::Write;

    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta};
    use polars::prelude::*;
    use polars_arrow::array::Array as _;

    use super::{CSV_DATETIME_FORMAT, CSV_DATE_FORMAT};

    /// One column's values, in row order (the gate's strict read-back walks the same cells).
    pub enum Cells<'a> {
        Text(Chunks<'a, StringType>),
        Integer(Chunks<'a, Int64Type>),
        Number(Chunks<'a, Float64Type>),
        Boolean(Chunks<'a, BooleanType>),
        Date(Chunks<'a, Int32Type>),
        DateTime(Chunks<'a, Int64Type>),
    }

    /// A column's values read from its Arrow arrays in place, one after the other. polars' own
    /// iterator is boxed to be held here, a call through a pointer for every cell; this one is
    /// inlined into the loops that write and compare the cells.
    pub struct Chunks<'a, T: PolarsDataType> {
        arrays: Vec<&'a T::Array>,
        array: usize,
        index: usize,
    }

    impl<'a, T: PolarsDataType> Chunks<'a, T> {
        pub fn new(values: &'a ChunkedArray<T>) -> Self {
            Chunks { arrays: values.downcast_iter().collect(), array: 0, index: 0 }
        }
    }

    impl<'a, T: PolarsDataType> Iterator for Chunks<'a, T> {
        type Item = Option<T::Physical<'a>>;

        #[inline]
        fn next(&mut self) -> Option<Self::Item> {
            while let Some(&array) = self.arrays.get(self.array) {
                if self.index < array.len() {
                    let value = array.get(self.index);
                    self.index += 1;
                    return Some(value);
                }
                self.array += 1;
                self.index = 0;
            }
            None
        }
    }

    impl<'a> Cells<'a> {
        /// The column's cells when it is of a type written here; None otherwise.
        pub fn of(column: &'a Column) -> Option<Cells<'a>> {
            Some(match column.dtype() {
                DataType::String => Cells::Text(Chunks::new(column.str().ok()?)),
                DataType::Int64 => Cells::Integer(Chunks::new(column.i64().ok()?)),
                DataType::Float64 => Cells::Number(Chunks::new(column.f64().ok()?)),
                DataType::Boolean => Cells::Boolean(Chunks::new(column.bool().ok()?)),
                DataType::Date => Cells::Date(Chunks::new(column.date().ok()?.physical())),
                DataType::Datetime(TimeUnit::Milliseconds, None) => Cells::DateTime(Chunks::new(column.datetime().ok()?.physical())),
                _ => return None,
            })
        }
    }

    /// The columns' cells when every column is of a type written here; None otherwise.
    pub fn columns(frame: &DataFrame) -> Option<Vec<Cells<'_>>> {
        frame.columns().iter().map(Cells::of).collect()
    }

    /// Text as polars' `QuoteStyle::Necessary` writes it.
    fn text(buffer: &mut Vec<u8>, s: &str) {
        if s.is_empty() {
            buffer.extend_from_slice(b"\"\"");
        } else if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            buffer.push(b'"');
            for (i, part) in s.split('"').enumerate() {
                if i > 0 {
                    buffer.extend_from_slice(b"\"\"");
                }
                buffer.extend_from_slice(part.as_bytes());
            }
            buffer.push(b'"');
        } else {
            buffer.extend_from_slice(s.as_bytes());
        }
    }

    /// `n` as `width` digits, zero-padded (n < 10^width).
    fn digits(buffer: &mut Vec<u8>, n: u32, width: u32) {
        for i in (0..width).rev() {
            buffer.push(b'0' + (n / 10u32.pow(i) % 10) as u8);
        }
    }

    /// `YYYY-MM-DD` for years 0 to 9999; false (nothing written) for others.
    fn date_digits(buffer: &mut Vec<u8>, date: &impl chrono::Datelike) -> bool {
        let year = date.year();
        if !(0..=9999).contains(&year) {
            return false;
        }
        digits(buffer, year as u32, 4);
        buffer.push(b'-');
        digits(buffer, date.month(), 2);
        buffer.push(b'-');
        digits(buffer, date.day(), 2);
        true
    }

    fn date(buffer: &mut Vec<u8>, days: i32) {
        // polars' date32_to_date.
        let date = NaiveDate::from_num_days_from_ce_opt(719_163 + days).expect("out-of-range date");
        if !date_digits(buffer, &date) {
            let _ = write!(buffer, "{}", date.format(CSV_DATE_FORMAT));
        }
    }

    fn datetime(buffer: &mut Vec<u8>, milliseconds: i64) {
        use chrono::Timelike;
        // polars' timestamp_ms_to_datetime.
        let datetime: NaiveDateTime = TimeDelta::try_milliseconds(milliseconds)
            .and_then(|delta| DateTime::UNIX_EPOCH.naive_utc().checked_add_signed(delta))
            .expect("invalid or out-of-range datetime");
        if datetime.nanosecond() < 1_000_000_000 && date_digits(buffer, &datetime) {
            buffer.push(b'T');
            digits(buffer, datetime.hour(), 2);
            buffer.push(b':');
            digits(buffer, datetime.minute(), 2);
            buffer.push(b':');
            digits(buffer, datetime.second(), 2);
            buffer.push(b'Z');
        } else {
            // What the hand-made form wrote (a date) is replaced by chrono's whole form.
            let _ = write!(buffer, "{}", datetime.format(CSV_DATETIME_FORMAT));
        }
    }

    const FLUSH_BYTES: usize = 1 << 20;

    /// The header and every row, a buffer of about a megabyte at a time.
    pub fn encode<W: Write>(frame: &DataFrame, columns: Vec<Cells<'_>>, out: &mut W) -> std::io::Result<()> {
        let mut buffer: Vec<u8> = Vec::with_capacity(FLUSH_BYTES + (64 << 10));
        for (i, name) in frame.get_column_names().iter().enumerate() {
            if i > 0 {
                buffer.push(b',');
            }
            text(&mut buffer, name.as_str());
        }
        buffer.push(b'\n');
        rows(frame, columns, buffer, out)
    }

    /// Every row without the header, a buffer of about a megabyte at a time.
    pub fn encode_rows<W: Write>(frame: &DataFrame, columns: Vec<Cells<'_>>, out: &mut W) -> std::io::Result<()> {
        rows(frame, columns, Vec::with_capacity(FLUSH_BYTES + (64 << 10)), out)
    }

    /// The rows after what `buffer` already holds.
    fn rows<W: Write>(frame: &DataFrame, mut columns: Vec<Cells<'_>>, mut buffer: Vec<u8>, out: &mut W) -> std::io::Result<()> {
        if frame.width() > 0 {
            for _ in 0..frame.height() {
                for (i, column) in columns.iter_mut().enumerate() {
                    if i > 0 {
                        buffer.push(b',');
                    }
                    match column {
                        Cells::Text(values) => {
                            if let Some(s) = values.next().flatten() {
                                text(&mut buffer, s);
                            }
                        }
                        Cells::Integer(values) => {
                            if let Some(v) = values.next().flatten() {
                                let _ = write!(buffer, "{v}");
                            }
                        }
                        Cells::Number(values) => {
                            if let Some(v) = values.next().flatten() {
                                let _ = write!(buffer, "{v}");
                            }
                        }
                        Cells::Boolean(values) => {
                            if let Some(v) = values.next().flatten() {
                                buffer.extend_from_slice(if v { b"true" } else { b"false" });
                            }
                        }
                        Cells::Date(values) => {
                            if let Some(v) = values.next().flatten() {
                                date(&mut buffer, v);
                            }
                        }
                        Cells::DateTime(values) => {
                            if let Some(v) = values.next().flatten() {
                                datetime(&mut buffer, v);
                            }
                        }
                    }
                }
                buffer.push(b'\n');
                if buffer.len() >= FLUSH_BYTES {
                    out.write_all(&buffer)?;
                    buffer.clear();
                }
            }
        }
        out.write_all(&buffer)
    }
}

/// Write any frame as Parquet with the same settings as the tables.
pub fn write_frame_parquet(frame: &DataFrame, label: &'static str, path: &Path) -> Result<(), TableError> {
    let file = File::create(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    encode_parquet(frame, label, &mut out)?;
    finish_file(out, path)
}

/// The Parquet bytes of a frame, into any writer: what `write_frame_parquet` writes, byte for byte.
pub fn encode_parquet<W: Write>(frame: &DataFrame, label: &'static str, out: &mut W) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: label, source };
    let mut frame = frame.clone();
    ParquetWriter::new(out)
        .with_compression(Packing::Published.compression())
        .with_statistics(StatisticsOptions::full())
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .finish(&mut frame)
        .map_err(polars)?;
    Ok(())
}

/// The row groups (offset, rows) `encode_parquet` makes of a single-chunk frame of `height` rows:
/// polars splits it into `height / ROW_GROUP_ROWS` equal parts, the last taking the remainder (one
/// group below twice that size). Written a group at a time with these, a frame gives the same file.
pub fn row_groups(height: usize) -> Vec<(usize, usize)> {
    let parts = height / ROW_GROUP_ROWS;
    if parts <= 1 {
        return if height == 0 { Vec::new() } else { vec![(0, height)] };
    }
    let size = height / parts;
    (0..parts).map(|i| (i * size, if i + 1 == parts { height - i * size } else { size })).collect()
}

/// The Parquet writer of the tables' settings (zstd at `packing`'s level, full statistics,
/// `ROW_GROUP_ROWS`), by batch.
fn batched_parquet<W: Write>(out: W, schema: &Schema, packing: Packing) -> PolarsResult<polars::io::parquet::write::BatchedWriter<W>> {
    ParquetWriter::new(out)
        .with_compression(packing.compression())
        .with_statistics(StatisticsOptions::full())
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .batched(schema)
}

/// Write a table's CSV and Parquet files from its rows made a slice at a time (`slice(offset, rows)`
/// for each of `row_groups(height)`), so that only one slice is in memory: byte for byte the files
/// `write_frame_csv` and `write_frame_parquet` write for the whole frame. `shape` is the frame
/// without its rows (its columns and types). Each slice goes to both encoders at once, one per
/// core; a slice that cannot be made is the error, and then the CSV's before the Parquet's.
pub fn write_files_by_slice(
    shape: &DataFrame,
    height: usize,
    label: &'static str,
    csv_path: &Path,
    parquet_path: &Path,
    mut slice: impl FnMut(usize, usize) -> Result<DataFrame, TableError>,
) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: label, source };
    let mut csv = BufWriter::new(File::create(csv_path).map_err(io_error(csv_path))?);
    let mut parquet = BufWriter::new(File::create(parquet_path).map_err(io_error(parquet_path))?);
    encode_csv(shape, label, &mut csv)?;
    let mut writer = batched_parquet(&mut parquet, shape.schema(), Packing::Published).map_err(polars)?;
    for (offset, rows) in row_groups(height) {
        let mut rows = slice(offset, rows)?;
        // One chunk per column: the writer makes a row group of each aligned chunk.
        rows.rechunk_mut();
        let (written_csv, written_parquet) = rayon::join(|| encode_csv_rows(&rows, label, &mut csv), || writer.write_batch(&rows));
        written_csv?;
        written_parquet.map_err(polars)?;
    }
    writer.finish().map_err(polars)?;
    drop(writer);
    finish_file(csv, csv_path)?;
    finish_file(parquet, parquet_path)
}

/// Write a frame that is made a row group at a time (`row_group(offset, rows)`, for each of
/// `row_groups(height)`), so that only one group is ever in memory: byte for byte the file
/// `write_frame_parquet` writes for the whole frame when `packing` is `Published`.
pub fn write_parquet_by_row_group(schema: &Schema, height: usize, label: &'static str, path: &Path, packing: Packing, mut row_group: impl FnMut(usize, usize) -> PolarsResult<DataFrame>) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: label, source };
    let file = File::create(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    let mut writer = batched_parquet(&mut out, schema, packing).map_err(polars)?;
    for (offset, rows) in row_groups(height) {
        let mut group = row_group(offset, rows).map_err(polars)?;
        // One chunk per column: the writer makes a row group of each aligned chunk.
        group.rechunk_mut();
        writer.write_batch(&group).map_err(polars)?;
    }
    writer.finish().map_err(polars)?;
    finish_file(out, path)
}

/// For tests of what reads a Parquet file a row group at a time: a two-column frame of `rows`
/// rows (text, integers with empty cells), written as `t<rows>.parquet` in `dir` as the tables
/// are (200,000 rows make three row groups).
#[cfg(test)]
pub fn parquet_of_rows(dir: &Path, rows: usize) -> (DataFrame, std::path::PathBuf) {
    let ids: Vec<String> = (0..rows).map(|i| format!("id-{i:07}")).collect();
    let counts: Vec<Option<i64>> = (0..rows).map(|i| (i % 3 != 0).then_some(i as i64)).collect();
    let frame = DataFrame::new(rows, vec![Column::new("id".into(), ids), Column::new("n".into(), counts)]).unwrap();
    let path = dir.join(format!("t{rows}.parquet"));
    write_frame_parquet(&frame, "t", &path).unwrap();
    (frame, path)
}

/// Flush and fsync, so a rename that follows commits complete files only.
fn finish_file(out: BufWriter<File>, path: &Path) -> Result<(), TableError> {
    let mut out = out;
    out.flush().map_err(io_error(path))?;
    let file = out.into_inner().map_err(|e| io_error(path)(e.into_error()))?;
    file.sync_all().map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn sample_table() -> Table {
        let mut b = TableBuilder::new(&catalog::HORAIRES);
        let mut r = b.row();
        r.set("horaire_id", "1-1")
            .set("offre_id", "1")
            .set("rang", 1i64)
            .set("type_horaire_libelle", "Horaire \"d'ouverture\", matin\nsuite")
            .set("heure_debut", "09:00:00")
            .set("date_debut", Some(NaiveDate::from_ymd_opt(2025, 4, 8).unwrap()));
        b.push(r);
        b.finish().unwrap()
    }

    #[test]
    fn csv_is_rfc4180_and_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        write_csv(&sample_table(), &a).unwrap();
        write_csv(&sample_table(), &b).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(text, std::fs::read_to_string(&b).unwrap());
        assert!(text.starts_with("horaire_id,offre_id,rang,"));
        assert!(text.contains("\"Horaire \"\"d'ouverture\"\", matin\nsuite\""));
        assert!(text.contains(",09:00:00,,2025-04-08,\n"));
        assert!(!text.contains('\r'));
    }

    #[test]
    fn empty_table_has_a_terminated_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.csv");
        write_csv(&TableBuilder::new(&catalog::EQUIPEMENTS).finish().unwrap(), &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "equipement_id,lieu_id,type_equipement_code,type_equipement_libelle,nombre_en_service\n");
    }

    #[test]
    fn datetimes_are_iso_utc_in_csv() {
        let mut b = TableBuilder::new(&catalog::PROFESSIONNELS);
        let mut r = b.row();
        r.set("identifiant_ror", "p1")
            .set("date_mise_a_jour", Some(Utc.with_ymd_and_hms(2025, 4, 8, 13, 5, 27).unwrap()));
        b.push(r);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        write_csv(&b.finish().unwrap(), &path).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("2025-04-08T13:05:27Z"));
    }

    #[test]
    fn a_frame_written_by_row_group_is_the_file_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        for height in [0usize, 10, ROW_GROUP_ROWS - 1, ROW_GROUP_ROWS, 2 * ROW_GROUP_ROWS - 1, 200_000] {
            let frame = df!("k" => (0..height as i64).collect::<Vec<_>>(), "t" => (0..height).map(|i| format!("valeur {}", i % 977)).collect::<Vec<_>>()).unwrap();
            let (whole, grouped) = (dir.path().join("whole.parquet"), dir.path().join("grouped.parquet"));
            write_frame_parquet(&frame, "t", &whole).unwrap();
            write_parquet_by_row_group(frame.schema(), height, "t", &grouped, Packing::Published, |offset, rows| Ok(frame.slice(offset as i64, rows))).unwrap();
            assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&grouped).unwrap(), "{height} rows");
        }
        assert_eq!(row_groups(200_000), [(0, 66_666), (66_666, 66_666), (133_332, 66_668)]);
    }

    /// A store's packing (zstd level 1) gives other bytes than the published tables' (level 3),
    /// the same every time, and the same rows and types read back.
    #[test]
    fn a_store_is_packed_at_its_own_level_and_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let height = 150_000;
        let frame = df!("k" => (0..height as i64).collect::<Vec<_>>(), "t" => (0..height).map(|i| format!("valeur {}", (i * 7919) % 100_003)).collect::<Vec<_>>()).unwrap();
        let write = |packing: Packing, name: &str| {
            let path = dir.path().join(name);
            write_parquet_by_row_group(frame.schema(), height, "t", &path, packing, |offset, rows| Ok(frame.slice(offset as i64, rows))).unwrap();
            std::fs::read(path).unwrap()
        };
        let (published, store, store_again) = (write(Packing::Published, "published.parquet"), write(Packing::Store, "store.parquet"), write(Packing::Store, "store-again.parquet"));
        assert_ne!(published, store, "the store's level is applied");
        assert_eq!(store, store_again, "deterministic");
        let read = ParquetReader::new(std::io::Cursor::new(store)).finish().unwrap();
        assert!(read.equals_missing(&frame));
    }

    /// A table written a slice at a time is the table written whole, both files, byte for byte:
    /// several slices (200,000 rows make three), one, none; text the CSV quotes across slice ends;
    /// and a frame of a type the direct CSV writer leaves to polars.
    #[test]
    fn files_written_by_slice_are_the_files_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        for (height, polars_typed) in [(0usize, false), (10, false), (ROW_GROUP_ROWS + 5, true), (200_000, false)] {
            let text: Vec<Option<String>> = (0..height).map(|i| (i % 7 != 0).then(|| if i % 5 == 0 { format!("ligne \"{i}\",\nsuite") } else { format!("v{}", i % 977) })).collect();
            let mut frame = df!("k" => (0..height).map(|i| format!("{i:07}")).collect::<Vec<_>>(), "t" => text, "n" => (0..height as i64).map(|i| (i % 3 != 0).then_some(i * 1_000_003)).collect::<Vec<_>>()).unwrap();
            if polars_typed {
                frame.apply("n", |c| c.cast(&DataType::Int32).unwrap()).unwrap();
                assert!(direct::columns(&frame).is_none());
            }
            let (csv, parquet) = (dir.path().join("whole.csv"), dir.path().join("whole.parquet"));
            write_frame_csv(&frame, "t", &csv).unwrap();
            write_frame_parquet(&frame, "t", &parquet).unwrap();
            let (sliced_csv, sliced_parquet) = (dir.path().join("sliced.csv"), dir.path().join("sliced.parquet"));
            let mut asked = Vec::new();
            write_files_by_slice(&frame.clear(), height, "t", &sliced_csv, &sliced_parquet, |offset, rows| {
                asked.push((offset, rows));
                Ok(frame.slice(offset as i64, rows))
            })
            .unwrap();
            assert_eq!(asked, row_groups(height));
            assert_eq!(std::fs::read(&sliced_csv).unwrap(), std::fs::read(&csv).unwrap(), "{height} rows");
            assert_eq!(std::fs::read(&sliced_parquet).unwrap(), std::fs::read(&parquet).unwrap(), "{height} rows");
        }
        // A slice that cannot be made is the error.
        let frame = df!("k" => ["a"]).unwrap();
        let failed = write_files_by_slice(&frame.clear(), 1, "t", &dir.path().join("e.csv"), &dir.path().join("e.parquet"), |_, _| Err(TableError::Polars { table: "t", source: polars_err!(ComputeError: "gone") }));
        assert!(failed.unwrap_err().to_string().contains("gone"));
    }

    /// The direct CSV writer against polars' on random frames of every type written directly:
    /// text with every character the dialect quotes, empty text and nulls, extreme integers and
    /// floats, dates and datetimes over chrono's whole range (signed years past 9999 included),
    /// frames of several chunks, no rows, no columns; and a frame of another type, left to polars.
    #[test]
    fn the_direct_csv_writer_writes_polars_bytes() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        const CHARS: &[char] = &['a', 'é', ',', '"', '\n', '\r', ' ', '0', ';', '\u{feff}', '€'];
        let polars_bytes = |frame: &DataFrame| {
            let mut v = Vec::new();
            encode_csv_with_polars(frame, "t", &mut v).unwrap();
            v
        };
        let direct_bytes = |frame: &DataFrame| {
            let mut v = Vec::new();
            encode_csv(frame, "t", &mut v).unwrap();
            v
        };
        for round in 0..200 {
            let rows = [0usize, 1, 3, 50, 3000][round % 5];
            let maybe = |rng: &mut rand_chacha::ChaCha8Rng| rng.random_bool(0.85);
            let wide = round % 2 == 0;
            let s: Vec<Option<String>> = (0..rows).map(|_| maybe(&mut rng).then(|| (0..rng.random_range(0..6)).map(|_| CHARS[rng.random_range(0..CHARS.len())]).collect())).collect();
            let n: Vec<Option<i64>> = (0..rows).map(|_| maybe(&mut rng).then(|| [0, -1, i64::MAX, i64::MIN, rng.random()][rng.random_range(0..5)])).collect();
            let x: Vec<Option<f64>> = (0..rows)
                .map(|_| maybe(&mut rng).then(|| [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1e300, 5e-324, 0.1 + 0.2, f64::from_bits(rng.random()), rng.random_range(-1e6..1e6)][rng.random_range(0..9)]))
                .collect();
            let b: Vec<Option<bool>> = (0..rows).map(|_| maybe(&mut rng).then(|| rng.random())).collect();
            let day_range = if wide { -95_000_000..95_000_000 } else { -800_000..3_000_000 };
            let d: Vec<Option<i32>> = (0..rows).map(|_| maybe(&mut rng).then(|| rng.random_range(day_range.clone()))).collect();
            let ms_range = if wide { -8_000_000_000_000_000i64..8_000_000_000_000_000 } else { -70_000_000_000_000..250_000_000_000_000 };
            let t: Vec<Option<i64>> = (0..rows).map(|_| maybe(&mut rng).then(|| rng.random_range(ms_range.clone()))).collect();
            let mut frame = df!("texte, \"libellé\"" => s, "n" => n, "x" => x, "b" => b, "d" => d, "t" => t).unwrap();
            frame.apply("d", |c| c.cast(&DataType::Date).unwrap()).unwrap();
            frame.apply("t", |c| c.cast(&DataType::Datetime(TimeUnit::Milliseconds, None)).unwrap()).unwrap();
            if round % 3 == 0 {
                // Several chunks, as frames made a part at a time have.
                let half = frame.slice(0, rows / 2);
                let mut chunked = half.clone();
                chunked.vstack_mut(&frame.slice((rows / 2) as i64, rows)).unwrap();
                frame = chunked;
            }
            assert!(direct::columns(&frame).is_some());
            let (expected, got) = (polars_bytes(&frame), direct_bytes(&frame));
            // The header, then the rows in slices, are the same bytes.
            let mut sliced = direct_bytes(&frame.clear());
            for (offset, length) in [(0, rows / 3), (rows / 3, rows - rows / 3)] {
                encode_csv_rows(&frame.slice(offset as i64, length), "t", &mut sliced).unwrap();
            }
            assert!(sliced == expected, "round {round}: the sliced rows differ");
            if expected != got {
                let (e, g) = (String::from_utf8_lossy(&expected), String::from_utf8_lossy(&got));
                let at = e.lines().zip(g.lines()).position(|(a, b)| a != b);
                panic!("round {round}: first different line {at:?}: {:?} vs {:?}", at.map(|i| e.lines().nth(i)), at.map(|i| g.lines().nth(i)));
            }
        }
        let empty = DataFrame::empty();
        assert_eq!(direct_bytes(&empty), polars_bytes(&empty));
        let other = df!("k" => [1i32, 2], "t" => ["a", "b"]).unwrap();
        assert!(direct::columns(&other).is_none());
        assert_eq!(direct_bytes(&other), polars_bytes(&other));
    }

    #[test]
    fn parquet_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_parquet(&sample_table(), &a).unwrap();
        write_parquet(&sample_table(), &b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }
}
