//! A shortcut for the common case of the sliced read-back: a block of CSV records that the writer
//! made, in the writer's own strict form (fields separated by `,`, records ended by `\n`, quotes
//! only around a whole field, `""` inside them), split and compared cell by cell with the built
//! rows, without making polars' text frame, its `""`-to-null copy and the typed frame first.
//! Profiled at scale 0.05, those three were about a third of the gate's CPU time.
//!
//! It can only say "these records are exactly the built rows" (`Some(rows)`), or "not sure"
//! (`None`): then polars reads the block as before (`sliced::block_matches`) and decides. So it
//! must never say yes where polars' reading would find a difference, and it stays on the safe side
//! of every corner of the CSV format: anything but the strict form (a `\r`, a quote inside an
//! unquoted field, text after a closing quote, a record of too few or too many fields, an empty
//! line, a BOM) is "not sure", as is any cell that differs or does not parse. Cells parse with the
//! very functions `parse_column` uses, and compare as polars' `equals_missing` compares them (null
//! equals null, NaN equals NaN); a built column whose type is not exactly its catalogue type is
//! left to polars too. The tests check both readers on written tables and on damaged blocks.

use std::borrow::Cow;

use polars::prelude::*;

use crate::gate::schema::dtype_of;
use crate::table::write::Cells;
use crate::table::{ColumnType, TableSpec};

/// The built values of one column (the writer's own cell iterators), from the block's first row
/// on, judged a cell at a time.
impl<'a> Cells<'a> {
    /// The column's values as `parse_column` types them; None when its type is not exactly the
    /// catalogue's (the reading by polars then compares, with its own rules for other types).
    fn new(column: &'a Column, kind: Option<ColumnType>) -> Option<Cells<'a>> {
        let kind = kind.unwrap_or(ColumnType::String);
        if column.dtype() != &dtype_of(kind) {
            return None;
        }
        // Each catalogue type's polars type is one the writer writes, as the same cells.
        Cells::of(column)
    }

    /// Whether the next built value is what the CSV cell reads as ("" is missing, as everywhere).
    /// False past the last built row.
    fn next_is(&mut self, cell: &str) -> bool {
        fn typed<T>(built: Option<Option<T>>, cell: &str, parse: impl Fn(&str) -> Option<T>, equal: impl Fn(&T, &T) -> bool) -> bool {
            match built {
                None => false,
                Some(built) if cell.is_empty() => built.is_none(),
                Some(built) => matches!((parse(cell), built), (Some(read), Some(built)) if equal(&read, &built)),
            }
        }
        match self {
            Cells::Text(values) => match values.next() {
                None => false,
                Some(built) if cell.is_empty() => built.is_none(),
                Some(built) => built == Some(cell),
            },
            Cells::Integer(values) => typed(values.next(), cell, super::parse_integer, |a, b| a == b),
            // polars' total equality of floats: NaN equals NaN, and otherwise `==`.
            Cells::Number(values) => typed(values.next(), cell, super::parse_number, |a, b| if a.is_nan() { b.is_nan() } else { a == b }),
            Cells::Boolean(values) => typed(values.next(), cell, super::parse_boolean, |a, b| a == b),
            Cells::Date(values) => typed(values.next(), cell, super::date_days, |a, b| a == b),
            Cells::DateTime(values) => typed(values.next(), cell, super::datetime_millis, |a, b| a == b),
        }
    }
}

/// The first byte at or after `from` that is one of `stops`, or the end.
fn find(bytes: &[u8], from: usize, stops: impl Fn(u8) -> bool) -> usize {
    bytes[from..].iter().position(|&b| stops(b)).map_or(bytes.len(), |at| from + at)
}

/// Rows of a block of complete records when they are, in the strict form, exactly the built rows
/// from `offset` (columns in the built table's order, the header already taken off); None when not
/// sure, or when the block has more records than the built rows.
#[cfg(test)]
pub fn block_matches(spec: &TableSpec, built: &DataFrame, text: &str, offset: usize) -> Option<usize> {
    records_match(spec, built, text, offset).and_then(|(rows, bytes)| (bytes == text.len()).then_some(rows))
}

/// The leading records of `text` (complete records) that are, in the strict form, exactly the
/// built rows from `offset` to the built rows' end, as (rows, bytes): the records after them
/// belong to the next built rows (the next slice of the table). None when not sure.
pub fn records_match(spec: &TableSpec, built: &DataFrame, text: &str, offset: usize) -> Option<(usize, usize)> {
    let rest = built.slice(offset as i64, built.height().saturating_sub(offset));
    let available = rest.height();
    let mut cells: Vec<Cells<'_>> = rest.columns().iter().map(|c| Cells::new(c, spec.column(c.name().as_str()).map(|s| s.kind))).collect::<Option<_>>()?;
    let width = cells.len();
    if width == 0 {
        return None;
    }
    let bytes = text.as_bytes();
    // polars may take a byte-order mark at the start of what it reads for no part of the data.
    if text.starts_with('\u{feff}') {
        return None;
    }
    let (mut at, mut rows) = (0usize, 0usize);
    while at < bytes.len() && rows < available {
        // An empty line is a record of one empty field to some readers and nothing to others.
        if bytes[at] == b'\n' {
            return None;
        }
        for (index, column) in cells.iter_mut().enumerate() {
            let cell: Cow<'_, str> = if bytes.get(at) == Some(&b'"') {
                // A quoted field: up to the quote that is not doubled.
                let start = at + 1;
                let (mut end, mut doubled) = (start, false);
                loop {
                    end = find(bytes, end, |b| b == b'"');
                    if end >= bytes.len() {
                        return None;
                    }
                    if bytes.get(end + 1) == Some(&b'"') {
                        doubled = true;
                        end += 2;
                    } else {
                        break;
                    }
                }
                at = end + 1;
                let inner = &text[start..end];
                if doubled {
                    Cow::Owned(inner.replace("\"\"", "\""))
                } else {
                    Cow::Borrowed(inner)
                }
            } else {
                let start = at;
                at = find(bytes, at, |b| matches!(b, b',' | b'\n' | b'"' | b'\r'));
                Cow::Borrowed(&text[start..at])
            };
            let separator = if index + 1 < width { b',' } else { b'\n' };
            if bytes.get(at) != Some(&separator) || !column.next_is(&cell) {
                return None;
            }
            at += 1;
        }
        rows += 1;
    }
    // Some record matched, unless there was none to match.
    (rows > 0 || bytes.is_empty()).then_some((rows, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::spec::{col, req};
    use crate::table::write::encode_csv;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A table of every column type.
    const ALL_TYPES: TableSpec = TableSpec {
        name: "all_types",
        title: "",
        description: "",
        primary_key: "id",
        foreign_keys: &[],
        columns: &[
            req("id", ColumnType::String, ""),
            col("n", ColumnType::Integer, ""),
            col("x", ColumnType::Number, ""),
            col("b", ColumnType::Boolean, ""),
            col("d", ColumnType::Date, ""),
            col("t", ColumnType::DateTime, ""),
            col("h", ColumnType::Time, ""),
            col("s", ColumnType::String, ""),
        ],
    };

    /// Text from the characters the CSV format cares about, and a few it should not.
    fn text(rng: &mut ChaCha8Rng, awkward: bool) -> String {
        const PLAIN: &[char] = &['a', 'Z', 'é', '0', '9', ' ', '-', ':', 'T', '.', '€'];
        const AWKWARD: &[char] = &[',', '"', '\n', '\r', '\u{feff}', '\t', '\''];
        (0..rng.random_range(1..12))
            .map(|_| if awkward && rng.random_bool(0.3) { AWKWARD[rng.random_range(0..AWKWARD.len())] } else { PLAIN[rng.random_range(0..PLAIN.len())] })
            .collect()
    }

    /// A frame of `rows` random rows; `clean` leaves out what cannot come back from a CSV ("" is
    /// missing there; NaN and infinities are written as words).
    fn frame(rng: &mut ChaCha8Rng, rows: usize, clean: bool) -> DataFrame {
        let maybe = |rng: &mut ChaCha8Rng| rng.random_bool(0.8);
        let id: Vec<String> = (0..rows).map(|i| format!("{i}-{}", text(rng, true))).collect();
        let n: Vec<Option<i64>> = (0..rows).map(|_| maybe(rng).then(|| [0, -1, i64::MAX, i64::MIN, rng.random()][rng.random_range(0..5)])).collect();
        let specials = if clean { vec![0.0, -0.0, 1e300, 5e-324, 48.931392] } else { vec![f64::NAN, f64::INFINITY, -0.0, 1e300, 48.931392] };
        let x: Vec<Option<f64>> = (0..rows).map(|_| maybe(rng).then(|| if rng.random_bool(0.3) { specials[rng.random_range(0..specials.len())] } else { rng.random_range(-180.0..180.0) })).collect();
        let b: Vec<Option<bool>> = (0..rows).map(|_| maybe(rng).then(|| rng.random())).collect();
        let d: Vec<Option<i32>> = (0..rows).map(|_| maybe(rng).then(|| rng.random_range(-1_000_000..2_000_000))).collect();
        let t: Vec<Option<i64>> = (0..rows).map(|_| maybe(rng).then(|| rng.random_range(-10_000_000_000i64..10_000_000_000) * 1000)).collect();
        let h: Vec<Option<String>> = (0..rows).map(|_| maybe(rng).then(|| format!("{:02}:{:02}:{:02}", rng.random_range(0..24), rng.random_range(0..60), rng.random_range(0..60)))).collect();
        let s: Vec<Option<String>> = (0..rows).map(|_| maybe(rng).then(|| if !clean && rng.random_bool(0.1) { String::new() } else { text(rng, true) })).collect();
        let mut frame = df!("id" => id, "n" => n, "x" => x, "b" => b, "d" => d, "t" => t, "h" => h, "s" => s).unwrap();
        frame.apply("d", |c| c.cast(&DataType::Date).unwrap()).unwrap();
        frame.apply("t", |c| c.cast(&DataType::Datetime(TimeUnit::Milliseconds, None)).unwrap()).unwrap();
        frame
    }

    /// The records of a frame's CSV, without the header.
    fn records(frame: &DataFrame) -> String {
        let mut csv = Vec::new();
        encode_csv(frame, "all_types", &mut csv).unwrap();
        let text = String::from_utf8(csv).unwrap();
        text.split_once('\n').unwrap().1.to_owned()
    }

    fn by_polars(built: &DataFrame, text: &str, offset: usize) -> Option<usize> {
        let columns: Vec<PlSmallStr> = built.get_column_names().into_iter().cloned().collect();
        let typed = super::super::sliced::read_block(&ALL_TYPES, &columns, text.as_bytes())?;
        let rows = typed.height();
        (offset + rows <= built.height() && typed.equals_missing(&built.slice(offset as i64, rows))).then_some(rows)
    }

    #[test]
    fn the_writers_records_are_matched_without_polars_and_polars_agrees() {
        let mut rng = ChaCha8Rng::seed_from_u64(20261127);
        for rows in [1, 2, 10, 300] {
            let built = frame(&mut rng, rows, true);
            for offset in [0, rows / 2, rows - 1] {
                let text = records(&built.slice(offset as i64, rows));
                assert_eq!(block_matches(&ALL_TYPES, &built, &text, offset), Some(rows - offset), "{rows} rows from {offset}:\n{text}");
                assert_eq!(by_polars(&built, &text, offset), Some(rows - offset));
            }
        }
    }

    /// The one thing the shortcut must never do: say yes where polars' reading says no. Written
    /// tables with what a CSV cannot carry, and their records damaged a character at a time.
    #[test]
    fn where_the_shortcut_says_the_rows_match_polars_says_so_too() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        const DAMAGE: &[&str] = &[",", "\"", "\"\"", "\n", "\r", "\r\n", "\u{feff}", " ", "0", "a", "-", "true", ""];
        let (mut said_yes, mut tried) = (0, 0);
        for round in 0..300 {
            let rows = rng.random_range(1..6);
            let built = frame(&mut rng, rows, round % 2 == 0);
            let text = records(&built);
            let mut variants = vec![text.clone()];
            for _ in 0..20 {
                let chars: Vec<char> = text.chars().collect();
                let at = rng.random_range(0..=chars.len());
                let cut = if at < chars.len() { rng.random_range(0..=1.min(chars.len() - at)) } else { 0 };
                let damage = DAMAGE[rng.random_range(0..DAMAGE.len())];
                variants.push(chars[..at].iter().collect::<String>() + damage + &chars[at + cut..].iter().collect::<String>());
            }
            variants.push(format!("\u{feff}{text}"));
            variants.push(format!("\n{text}"));
            variants.push(text.replace('\n', "\r\n"));
            for variant in variants {
                tried += 1;
                if let Some(rows) = block_matches(&ALL_TYPES, &built, &variant, 0) {
                    said_yes += 1;
                    assert_eq!(by_polars(&built, &variant, 0), Some(rows), "{variant:?}");
                }
            }
        }
        // Both answers happen, so the comparison above meant something.
        assert!(said_yes > 100 && said_yes < tried / 2, "{said_yes} of {tried}");
    }

    #[test]
    fn a_column_of_another_type_than_the_catalogues_is_left_to_polars() {
        let built = df!("id" => ["a"], "n" => [1i32]).unwrap();
        assert!(block_matches(&ALL_TYPES, &built, "a,1\n", 0).is_none());
        let built = df!("id" => ["a"], "n" => [1i64]).unwrap();
        assert_eq!(block_matches(&ALL_TYPES, &built, "a,1\n", 0), Some(1));
        assert!(block_matches(&ALL_TYPES, &built, "a,1\nb,2\n", 0).is_none(), "a row more than built");
    }
}
