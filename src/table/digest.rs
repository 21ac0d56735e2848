//! Canonical row hashes and the order-independent content digest of a table. Both are computed from
//! typed values (never from a file's bytes), so a table rebuilt from the history in any row order
//! has the digest the manifest recorded when it was published.

use polars::prelude::*;
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use sha2::{Digest, Sha256};

/// The canonical text of every cell, column by column (None for null).
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
/// among the cores evenly.
const ROWS_PER_TASK: usize = 8_192;

/// sha256 of each row: column names and values, with separators no value can forge. Rows are
/// independent, so blocks of them are hashed on every core and put back in row order. Each block
/// borrows its values from the columns cast to text once, rather than copying every cell of the
/// table into its own String (which doubled the memory of a national-scale table).
pub fn row_hashes(frame: &DataFrame) -> PolarsResult<Vec<[u8; 32]>> {
    let mut columns: Vec<(String, StringChunked)> = Vec::with_capacity(frame.width());
    for column in frame.columns() {
        let text = column.cast(&DataType::String)?;
        columns.push((column.name().to_string(), text.str()?.clone()));
    }
    let height = frame.height();
    let blocks: Vec<Vec<[u8; 32]>> = (0..height.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map(|block| {
            let start = block * ROWS_PER_TASK;
            let len = ROWS_PER_TASK.min(height - start);
            let sliced: Vec<StringChunked> = columns.iter().map(|(_, c)| c.slice(start as i64, len)).collect();
            let values: Vec<Vec<Option<&str>>> = sliced.iter().map(|c| c.iter().collect()).collect();
            (0..len).map(|row| hash_row(columns.iter().zip(&values).map(|((name, _), values)| (name.as_str(), values[row])))).collect()
        })
        .collect();
    Ok(blocks.concat())
}

/// sha256 of one row given as (column name, value as text) in column order; a value is prefixed
/// by its length and names and cells by separators, so no two rows share a hash by shifting bytes.
fn hash_row<'v>(cells: impl Iterator<Item = (&'v str, Option<&'v str>)>) -> [u8; 32] {
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
    hasher.finalize().into()
}

/// The table's content digest: sha256 of its sorted row hashes, so row order does not matter.
pub fn content_digest(frame: &DataFrame) -> PolarsResult<String> {
    Ok(digest_of(row_hashes(frame)?))
}

/// The content digest from row hashes already computed (the history has them): hashing a
/// national-scale table's rows is the costly part, and once is enough.
pub fn digest_of(mut hashes: Vec<[u8; 32]>) -> String {
    hashes.sort_unstable();
    let mut hasher = Sha256::new();
    for h in &hashes {
        hasher.update(h);
    }
    format!("{:x}", hasher.finalize())
}

/// Hex form of a row hash.
pub fn hex(hash: &[u8; 32]) -> String {
    // Called for every row of every table by the history: one allocation, not one per byte.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in hash {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        let mut hash = [0u8; 32];
        hash[0] = 0x0a;
        hash[31] = 0xff;
        let text = hex(&hash);
        assert_eq!(text, format!("0a{}ff", "00".repeat(30)));
    }

    #[test]
    fn row_hashes_in_blocks_are_the_row_by_row_hashes() {
        // Three blocks and a bit, with nulls, numbers and text: each hash is the one of its row
        // computed alone from canonical_columns, in row order.
        let n = ROWS_PER_TASK * 3 + 17;
        let frame = df!(
            "k" => (0..n).map(|i| format!("id-{i}")).collect::<Vec<_>>(),
            "v" => (0..n).map(|i| (i % 5 != 0).then_some(i as i64)).collect::<Vec<_>>(),
            "t" => (0..n).map(|i| (i % 7 != 0).then(|| "é".repeat(i % 4))).collect::<Vec<_>>()
        )
        .unwrap();
        let columns = canonical_columns(&frame).unwrap();
        let expected: Vec<[u8; 32]> = (0..n)
            .map(|row| hash_row(columns.iter().map(|(name, values)| (name.as_str(), values[row].as_deref()))))
            .collect();
        assert_eq!(row_hashes(&frame).unwrap(), expected);
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
