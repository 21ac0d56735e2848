//! Canonical row hashes and the order-independent content digest of a table. Both are computed from
//! typed values (never from a file's bytes), so a table rebuilt from the history in any row order
//! has the digest the manifest recorded when it was published.

use polars::prelude::*;
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use rayon::slice::ParallelSliceMut;

use crate::sha256::Sha256;

/// The canonical text of every cell, column by column (None for null): what the row hashes hash,
/// through polars' cast; the tests hold the faster paths to it.
#[cfg(test)]
pub fn canonical_columns(frame: &DataFrame) -> PolarsResult<Vec<(String, Vec<Option<String>>)>> {
    let mut out = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        let text = column.cast(&DataType::String)?;
        let values = text.str()?.iter().map(|v| v.map(str::to_owned)).collect();
        out.push((column.name().to_string(), values));
    }
    Ok(out)
}

/// Rows hashed per task: enough to amortise slicing the columns, small enough to share the rows
/// among the cores evenly and to keep each block's text small.
const ROWS_PER_TASK: usize = 8_192;

/// Rows whose bytes are written out and hashed together, one per SIMD lane: a few times the
/// widest lanes (16), so the lanes stay full, in a buffer of some hundred kilobytes reused from
/// batch to batch rather than the bytes of a task's 8,192 rows at once (megabytes a core).
const ROWS_PER_HASH_BATCH: usize = 256;

/// sha256 of each row: column names and values, with separators no value can forge. Rows are
/// independent, so blocks of them are hashed on every core and put back in row order, and a
/// block's rows are hashed together, one per SIMD lane (`sha256::digest_many`). Each block
/// turns only its own rows into text (`BlockText`), so the table is never held twice, and the
/// common types are written by hand rather than through polars' cast (which formats every
/// datetime with chrono's strftime): the bytes are those of the cast, which the tests check.
pub fn row_hashes(frame: &DataFrame) -> PolarsResult<Vec<[u8; 32]>> {
    let columns = frame.columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name().as_str()).collect();
    let height = frame.height();
    let blocks: Vec<Vec<[u8; 32]>> = (0..height.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|block| -> PolarsResult<Vec<[u8; 32]>> {
            let start = block * ROWS_PER_TASK;
            let len = ROWS_PER_TASK.min(height - start);
            let sliced: Vec<Column> = columns.iter().map(|c| c.slice(start as i64, len)).collect();
            let texts = sliced.iter().map(BlockText::of).collect::<PolarsResult<Vec<_>>>()?;
            let mut hashes = vec![[0u8; 32]; len];
            let mut batch_bytes = Vec::new();
            // Where each row of the batch starts in `batch_bytes`, and where the last one ends.
            let mut row_bounds = Vec::with_capacity(ROWS_PER_HASH_BATCH + 1);
            for (first, batch_hashes) in (0..len).step_by(ROWS_PER_HASH_BATCH).zip(hashes.chunks_mut(ROWS_PER_HASH_BATCH)) {
                batch_bytes.clear();
                row_bounds.clear();
                row_bounds.push(0);
                for row in first..first + batch_hashes.len() {
                    for (name, text) in names.iter().zip(&texts) {
                        encode_cell(&mut batch_bytes, name, text.get(row));
                    }
                    row_bounds.push(batch_bytes.len());
                }
                let rows: Vec<&[u8]> = row_bounds.windows(2).map(|bounds| &batch_bytes[bounds[0]..bounds[1]]).collect();
                crate::sha256::digest_many(&rows, batch_hashes);
            }
            Ok(hashes)
        })
        .collect::<PolarsResult<_>>()?;
    Ok(blocks.concat())
}

/// Append one cell to the bytes a row hash covers: the column name, then the value prefixed by
/// its length (or a null marker), between separators, so no two rows share a hash by shifting
/// bytes from one cell to the next. The row is hashed whole: sha256 of the concatenation is the
/// hash of the same bytes fed piece by piece, without the cost of many small updates.
fn encode_cell(row_bytes: &mut Vec<u8>, name: &str, value: Option<&[u8]>) {
    row_bytes.extend_from_slice(name.as_bytes());
    row_bytes.push(0x1f);
    match value {
        Some(v) => {
            row_bytes.push(1);
            row_bytes.extend_from_slice(&(v.len() as u64).to_le_bytes());
            row_bytes.extend_from_slice(v);
        }
        None => row_bytes.push(0),
    }
    row_bytes.push(0x1e);
}

/// One column of one block of rows as canonical text: borrowed from a text column, written into
/// one buffer for the other types.
enum BlockText<'a> {
    Borrowed(Vec<Option<&'a str>>),
    Written { bytes: Vec<u8>, spans: Vec<Option<(u32, u32)>> },
}

impl<'a> BlockText<'a> {
    fn of(column: &'a Column) -> PolarsResult<Self> {
        let mut out = Writer { bytes: Vec::new(), spans: Vec::with_capacity(column.len()) };
        match column.dtype() {
            DataType::String => return Ok(BlockText::Borrowed(column.str()?.iter().collect())),
            DataType::Int64 => {
                for value in column.i64()?.iter() {
                    out.cell(value, write_integer);
                }
            }
            DataType::Boolean => {
                for value in column.bool()?.iter() {
                    out.cell(value, |bytes, v| bytes.extend_from_slice(if v { b"true" } else { b"false" }));
                }
            }
            DataType::Date if in_fast_range(column.date()?.physical().iter().flatten().map(i64::from), 1) => {
                for value in column.date()?.physical().iter() {
                    out.cell(value, |bytes, days| write_date(bytes, i64::from(days)));
                }
            }
            DataType::Datetime(TimeUnit::Milliseconds, None) if in_fast_range(column.datetime()?.physical().iter().flatten(), MS_PER_DAY) => {
                for value in column.datetime()?.physical().iter() {
                    out.cell(value, |bytes, ms| {
                        write_date(bytes, ms.div_euclid(MS_PER_DAY));
                        write_time_of_day(bytes, ms.rem_euclid(MS_PER_DAY));
                    });
                }
            }
            // Any other type, or a date outside years 1 to 9999: polars' own cast of these rows.
            _ => {
                let text = column.cast(&DataType::String)?;
                for value in text.str()?.iter() {
                    out.cell(value, |bytes, v| bytes.extend_from_slice(v.as_bytes()));
                }
            }
        }
        Ok(BlockText::Written { bytes: out.bytes, spans: out.spans })
    }

    fn get(&self, row: usize) -> Option<&[u8]> {
        match self {
            BlockText::Borrowed(values) => values[row].map(str::as_bytes),
            BlockText::Written { bytes, spans } => spans[row].map(|(start, end)| &bytes[start as usize..end as usize]),
        }
    }
}

/// Cells written one after another into one buffer, each remembered by its span.
struct Writer {
    bytes: Vec<u8>,
    spans: Vec<Option<(u32, u32)>>,
}

impl Writer {
    fn cell<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
        self.spans.push(value.map(|v| {
            let start = self.bytes.len() as u32;
            write(&mut self.bytes, v);
            (start, self.bytes.len() as u32)
        }));
    }
}

const MS_PER_DAY: i64 = 86_400_000;
/// Days from 1970-01-01 to 0001-01-01 and to 10000-01-01: chrono writes a year in this range
/// as four digits; outside it, with a sign, which is left to polars' cast.
const FIRST_FAST_DAY: i64 = -719_162;
const END_FAST_DAY: i64 = 2_932_897;

/// Whether every value, in units of `per_day` since 1970-01-01, falls in years 1 to 9999.
fn in_fast_range(mut values: impl Iterator<Item = i64>, per_day: i64) -> bool {
    values.all(|v| (FIRST_FAST_DAY..END_FAST_DAY).contains(&v.div_euclid(per_day)))
}

/// An integer in decimal, as polars' cast (itoa) writes it.
fn write_integer(bytes: &mut Vec<u8>, value: i64) {
    if value < 0 {
        bytes.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut rest = value.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&digits[at..]);
}

/// `YYYY-MM-DD` (chrono's `%F` for years 1 to 9999) of a day counted from 1970-01-01, by the
/// civil-from-days algorithm of Howard Hinnant (proleptic Gregorian calendar, as chrono's).
fn write_date(bytes: &mut Vec<u8>, days: i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    push_digits(bytes, year, 4);
    bytes.push(b'-');
    push_digits(bytes, month, 2);
    bytes.push(b'-');
    push_digits(bytes, day, 2);
}

/// ` HH:MM:SS.mmm` (polars' `%F %T%.3f` after the date) of a millisecond of the day.
fn write_time_of_day(bytes: &mut Vec<u8>, ms: i64) {
    bytes.push(b' ');
    push_digits(bytes, ms / 3_600_000, 2);
    bytes.push(b':');
    push_digits(bytes, ms / 60_000 % 60, 2);
    bytes.push(b':');
    push_digits(bytes, ms / 1_000 % 60, 2);
    bytes.push(b'.');
    push_digits(bytes, ms % 1_000, 3);
}

/// A non-negative number in exactly `width` digits, zero-padded.
fn push_digits(bytes: &mut Vec<u8>, value: i64, width: u32) {
    let mut divisor = 10i64.pow(width - 1);
    while divisor > 0 {
        bytes.push(b'0' + (value / divisor % 10) as u8);
        divisor /= 10;
    }
}

/// The table's content digest: sha256 of its sorted row hashes, so row order does not matter.
pub fn content_digest(frame: &DataFrame) -> PolarsResult<String> {
    Ok(digest_of(row_hashes(frame)?))
}

/// The content digest from row hashes already computed (the history has them): hashing a
/// national-scale table's rows is the costly part, and once is enough.
pub fn digest_of(mut hashes: Vec<[u8; 32]>) -> String {
    // Byte order is the order of the two big-endian halves: compared as two integers rather than
    // by memcmp, on every core.
    hashes.par_sort_unstable_by_key(|h| {
        let (high, low) = h.split_at(16);
        (u128::from_be_bytes(high.try_into().expect("16 bytes")), u128::from_be_bytes(low.try_into().expect("16 bytes")))
    });
    crate::sha256::hex_digest(hashes.as_flattened())
}

/// `digest_of` for row hashes that come a slice at a time and are not kept (a first night's history
/// hashes each row as the store is written): they are put in 256 buckets by their first byte, a
/// bucket's hashes past a thousand written to an unnamed scratch file in `folder` that the buckets
/// share (`scratch::BucketFile`); at the end each bucket is read back, sorted and hashed in bucket
/// order. Sorting every bucket sorts them all, so the digest is `digest_of`'s. What is held is the
/// buffers (8 MB at most) and one bucket at a time (1/256 of the rows), not 32 bytes a row of the
/// largest table: 740 MB at national scale.
pub struct SpilledDigest {
    /// The hashes by their first byte: a bucket's in any order, sorted when the digest is taken.
    buckets: crate::scratch::BucketFile,
}

/// Bytes of hashes a bucket holds in memory before they go to the file (1,024 hashes).
const BUCKET_BUFFER: usize = 32 * 1024;

impl SpilledDigest {
    /// Buckets whose file, if one is needed, goes in `folder` (unnamed: gone with the value, or
    /// with the process).
    pub fn new(folder: &std::path::Path) -> SpilledDigest {
        SpilledDigest { buckets: crate::scratch::BucketFile::new(folder, 256, BUCKET_BUFFER) }
    }

    /// Count `hashes` in.
    pub fn add(&mut self, hashes: &[[u8; 32]]) -> std::io::Result<()> {
        for hash in hashes {
            self.buckets.push(usize::from(hash[0]), |bytes| bytes.extend_from_slice(hash)).map_err(|e| set_aside_error(self.buckets.folder(), e))?;
        }
        Ok(())
    }

    /// The digest of every hash counted in.
    pub fn finish(self) -> std::io::Result<String> {
        let mut hasher = Sha256::new();
        for bucket in 0..256 {
            let bytes = self.buckets.read(bucket).map_err(|e| set_aside_error(self.buckets.folder(), e))?;
            let mut hashes: Vec<[u8; 32]> = bytes.chunks_exact(32).map(|h| h.try_into().expect("32 bytes")).collect();
            drop(bytes);
            hashes.par_sort_unstable();
            hasher.update(hashes.as_flattened());
        }
        Ok(hasher.finish_hex())
    }
}

/// Records of `N` bytes that come in order and are asked for again later by position, set aside
/// in an unnamed file of `folder` past a few thousand: a later night's history keeps, until the
/// store and the changelog are written after the walk, the rows it opens (a row number and its
/// hash, 36 bytes) and its changes (9 bytes), and a night can modify most rows of a table: 1 GB
/// for the largest at national scale. What is held is the buffer (64 Ki records) and the records
/// a read asks for.
pub struct SpilledRecords<const N: usize> {
    folder: std::path::PathBuf,
    /// The records after those in the file.
    buffer: Vec<[u8; N]>,
    /// The first `written` records; read at a position (a store's row groups are made on a thread
    /// of their own, from a shared reference).
    file: Option<std::sync::Mutex<std::fs::File>>,
    written: usize,
}

/// Records `SpilledRecords` holds in memory before they go to its file.
const SPILLED_RECORDS_BUFFER: usize = 65_536;

impl<const N: usize> SpilledRecords<N> {
    /// No records yet; a file, if one is needed, goes in `folder`.
    pub fn new(folder: &std::path::Path) -> SpilledRecords<N> {
        SpilledRecords { folder: folder.to_owned(), buffer: Vec::new(), file: None, written: 0 }
    }

    pub fn len(&self) -> usize {
        self.written + self.buffer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Set `record` aside after the others.
    pub fn push(&mut self, record: [u8; N]) -> std::io::Result<()> {
        use std::io::Write;
        self.buffer.push(record);
        if self.buffer.len() == SPILLED_RECORDS_BUFFER {
            let error = |e| set_aside_error(&self.folder, e);
            let file = match &mut self.file {
                Some(file) => file,
                none => none.insert(std::sync::Mutex::new(tempfile::tempfile_in(&self.folder).map_err(error)?)),
            };
            let file = file.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
            file.write_all(self.buffer.as_flattened()).map_err(error)?;
            self.written += self.buffer.len();
            self.buffer.clear();
        }
        Ok(())
    }

    /// The records `start..start + count`, in the order they were set aside.
    pub fn read(&self, start: usize, count: usize) -> std::io::Result<Vec<[u8; N]>> {
        use std::io::{Read, Seek, SeekFrom};
        let end = start + count;
        assert!(end <= self.len(), "records {start}..{end} of {}", self.len());
        let mut out = vec![[0u8; N]; count];
        // Those in the file, then those in the buffer.
        let from_file = end.min(self.written).saturating_sub(start);
        if from_file > 0 {
            let mut file = self.file.as_ref().expect("records written").lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            file.seek(SeekFrom::Start((start * N) as u64)).and_then(|_| file.read_exact(out[..from_file].as_flattened_mut())).map_err(|e| set_aside_error(&self.folder, e))?;
        }
        let buffered = start.max(self.written) - self.written..end.max(self.written) - self.written;
        out[from_file..].copy_from_slice(&self.buffer[buffered]);
        Ok(out)
    }
}

/// An input/output error naming the folder of the buckets' files.
fn set_aside_error(folder: &std::path::Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("row hashes set aside in {}: {e}", folder.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes counted a slice at a time, spilled to files and not, give `digest_of`'s digest; no
    /// file is left in the folder.
    #[test]
    fn spilled_digest_is_the_digest_of_every_hash() {
        let folder = tempfile::tempdir().unwrap();
        for rows in [0usize, 1, 1000, 600_000] {
            let hashes: Vec<[u8; 32]> = (0..rows).map(|i| crate::sha256::digest(&(i % 400_000).to_le_bytes())).collect();
            let mut spilled = SpilledDigest::new(folder.path());
            for slice in hashes.chunks(70_000) {
                spilled.add(slice).unwrap();
            }
            assert_eq!(spilled.finish().unwrap(), digest_of(hashes.clone()), "{rows} rows");
            assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 0);
        }
        let mut nowhere = SpilledDigest::new(&folder.path().join("gone"));
        // Two thousand hashes of one bucket: past its buffer, its file is made.
        let hashes: Vec<[u8; 32]> = (0..2000u32)
            .map(|i| {
                let mut hash = [7u8; 32];
                hash[1..5].copy_from_slice(&i.to_be_bytes());
                hash
            })
            .collect();
        let error = nowhere.add(&hashes).unwrap_err();
        assert!(error.to_string().contains("gone"), "{error}");
    }

    /// Records set aside, in the buffer alone or past it in the file, are read back by any range,
    /// across the file's end and the buffer's.
    #[test]
    fn spilled_records_are_read_back_by_position() {
        let folder = tempfile::tempdir().unwrap();
        for rows in [0usize, 5, SPILLED_RECORDS_BUFFER, 2 * SPILLED_RECORDS_BUFFER + 7] {
            let hashes: Vec<[u8; 32]> = (0..rows).map(|i| crate::sha256::digest(&i.to_le_bytes())).collect();
            let mut spilled = SpilledRecords::<32>::new(folder.path());
            for hash in &hashes {
                spilled.push(*hash).unwrap();
            }
            assert_eq!(spilled.len(), rows);
            let edge = SPILLED_RECORDS_BUFFER.min(rows);
            for (start, count) in [(0, rows), (0, 0), (rows / 3, rows / 2), (edge.saturating_sub(2), (rows - edge).min(5) + edge.min(2)), (rows, 0)] {
                assert!(spilled.read(start, count).unwrap() == hashes[start..start + count], "{rows} rows: {start}+{count}");
            }
        }
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 0);
    }

    /// The row hash as first published: sha256 fed cell by cell from polars' cast to text. Kept
    /// here, written independently of `encode_cell`, as the oracle the hashes must never leave.
    fn hash_row_as_published<'v>(cells: impl Iterator<Item = (&'v str, Option<&'v str>)>) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for (name, value) in cells {
            hasher.update(name.as_bytes());
            hasher.update([0x1f]);
            match value {
                Some(v) => {
                    hasher.update([1]);
                    hasher.update((v.len() as u64).to_le_bytes());
                    hasher.update(v.as_bytes());
                }
                None => hasher.update([0]),
            }
            hasher.update([0x1e]);
        }
        hasher.finish()
    }

    fn assert_hashes_as_published(frame: &DataFrame) {
        let columns = canonical_columns(frame).unwrap();
        let expected: Vec<[u8; 32]> = (0..frame.height())
            .map(|row| hash_row_as_published(columns.iter().map(|(name, values)| (name.as_str(), values[row].as_deref()))))
            .collect();
        assert_eq!(row_hashes(frame).unwrap(), expected);
    }

    #[test]
    fn row_hashes_in_blocks_are_the_row_by_row_hashes() {
        // Three blocks and a bit, with nulls, numbers, booleans, dates, datetimes and text: each
        // hash is the one of its row computed alone from polars' cast, in row order.
        let n = ROWS_PER_TASK * 3 + 17;
        let day = |i: usize| (i as i64 * 7_919) % 3_652_059 - 719_162;
        let frame = DataFrame::new_infer_height(vec![
            Column::new("k".into(), (0..n).map(|i| format!("id-{i}")).collect::<Vec<_>>()),
            Column::new("v".into(), (0..n).map(|i| (i % 5 != 0).then_some((i as i64 - 9_000) * 1_000_003)).collect::<Vec<_>>()),
            Column::new("t".into(), (0..n).map(|i| (i % 7 != 0).then(|| "é".repeat(i % 4))).collect::<Vec<_>>()),
            Column::new("b".into(), (0..n).map(|i| (i % 3 != 0).then_some(i % 2 == 0)).collect::<Vec<_>>()),
            Column::new("x".into(), (0..n).map(|i| (i % 11 != 0).then_some(i as f64 / 7.0 - 100.0)).collect::<Vec<_>>()),
            dates("d", (0..n).map(|i| (i % 13 != 0).then_some(day(i))).collect()),
            datetimes("ts", (0..n).map(|i| (i % 17 != 0).then_some(day(i) * MS_PER_DAY + (i as i64 * 1_234_567) % MS_PER_DAY)).collect()),
        ])
        .unwrap();
        assert_hashes_as_published(&frame);
    }

    fn dates(name: &str, days: Vec<Option<i64>>) -> Column {
        let days: Vec<Option<i32>> = days.into_iter().map(|d| d.map(|d| d as i32)).collect();
        Column::new(name.into(), days).cast(&DataType::Date).unwrap()
    }

    fn datetimes(name: &str, ms: Vec<Option<i64>>) -> Column {
        Column::new(name.into(), ms).cast(&DataType::Datetime(TimeUnit::Milliseconds, None)).unwrap()
    }

    #[test]
    fn values_at_the_edges_hash_as_polars_writes_them() {
        // The first and last days of years 1 and 9999, leap days, the epoch and the day before
        // it, each at its first, last and some middle millisecond; then years 0, -1 and 10000,
        // which chrono writes with a sign and the hasher leaves to polars' cast.
        let in_range = [-719_162i64, -719_161, 2_932_896, 2_932_895, 0, -1, 11_016, 10_956, 59, 60, -141_428];
        let out_of_range = [-719_163i64, -719_528, -719_529, 2_932_897, 2_933_000];
        for days in [&in_range[..], &out_of_range[..]] {
            let rows: Vec<(i64, i64)> = days.iter().flat_map(|&d| [(d, 0), (d, MS_PER_DAY - 1), (d, 45_296_007), (d, 999)]).collect();
            let frame = DataFrame::new_infer_height(vec![
                dates("d", rows.iter().map(|&(d, _)| Some(d)).collect()),
                datetimes("ts", rows.iter().map(|&(d, ms)| Some(d * MS_PER_DAY + ms)).collect()),
            ])
            .unwrap();
            assert_hashes_as_published(&frame);
        }
        let integers = [i64::MIN, i64::MAX, 0, -1, 1, 10, -10, 999_999_999_999];
        assert_hashes_as_published(&df!("i" => integers.to_vec()).unwrap());
    }

    #[test]
    fn digest_ignores_row_order_but_not_content() {
        let a = df!("k" => ["1", "2"], "v" => [Some(1i64), None]).unwrap();
        let b = df!("k" => ["2", "1"], "v" => [None, Some(1i64)]).unwrap();
        let c = df!("k" => ["1", "2"], "v" => [Some(2i64), None]).unwrap();
        assert_eq!(content_digest(&a).unwrap(), content_digest(&b).unwrap());
        assert_ne!(content_digest(&a).unwrap(), content_digest(&c).unwrap());
        let renamed = df!("k" => ["1", "2"], "w" => [Some(1i64), None]).unwrap();
        assert_ne!(content_digest(&a).unwrap(), content_digest(&renamed).unwrap());
    }
}
