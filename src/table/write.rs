//! Deterministic writers: the same table always gives the same bytes. CSV is RFC 4180 (UTF-8, no
//! BOM, comma, header, quotes only where needed, `\n`); Parquet is zstd (the library's default level, fixed by its version) with full statistics and
//! fixed row groups. Neither embeds a wall-clock time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use polars::prelude::*;

use super::{Table, TableError};

/// Row group size: large enough for good compression, small enough that readers can skip groups
/// using statistics on national-scale tables. Fixed, because it changes the bytes.
const ROW_GROUP_ROWS: usize = 65_536;

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
pub fn encode_csv<W: Write>(frame: &DataFrame, label: &'static str, out: &mut W) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: label, source };
    let mut frame = frame.clone();
    CsvWriter::new(out)
        .include_bom(false)
        .include_header(true)
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
        .with_compression(ParquetCompression::Zstd(None))
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

/// Write a frame that is made a row group at a time (`row_group(offset, rows)`, for each of
/// `row_groups(height)`), so that only one group is ever in memory: byte for byte the file
/// `write_frame_parquet` writes for the whole frame.
pub fn write_parquet_by_row_group(schema: &Schema, height: usize, label: &'static str, path: &Path, mut row_group: impl FnMut(usize, usize) -> PolarsResult<DataFrame>) -> Result<(), TableError> {
    let polars = |source| TableError::Polars { table: label, source };
    let file = File::create(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    let mut writer = ParquetWriter::new(&mut out)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::full())
        .with_row_group_size(Some(ROW_GROUP_ROWS))
        .batched(schema)
        .map_err(polars)?;
    for (offset, rows) in row_groups(height) {
        let mut group = row_group(offset, rows).map_err(polars)?;
        // One chunk per column: the writer makes a row group of each aligned chunk.
        group.rechunk_mut();
        writer.write_batch(&group).map_err(polars)?;
    }
    writer.finish().map_err(polars)?;
    finish_file(out, path)
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
            write_parquet_by_row_group(&frame.schema(), height, "t", &grouped, |offset, rows| Ok(frame.slice(offset as i64, rows))).unwrap();
            assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&grouped).unwrap(), "{height} rows");
        }
        assert_eq!(row_groups(200_000), [(0, 66_666), (66_666, 66_666), (133_332, 66_668)]);
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
