//! Canonical row hashes and the order-independent content digest of a table. Both are computed from
//! typed values (never from a file's bytes), so a table rebuilt from the history in any row order
//! has the digest the manifest recorded when it was published.

use polars::prelude::*;
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

/// sha256 of each row: column names and values, with separators no value can forge.
pub fn row_hashes(frame: &DataFrame) -> PolarsResult<Vec<[u8; 32]>> {
    let columns = canonical_columns(frame)?;
    let mut hashes = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let mut hasher = Sha256::new();
        for (name, values) in &columns {
            hasher.update(name.as_bytes());
            hasher.update([0x1f]);
            match &values[row] {
                Some(v) => {
                    hasher.update([1]);
                    hasher.update((v.len() as u64).to_le_bytes());
                    hasher.update(v.as_bytes());
                }
                None => hasher.update([0]),
            }
            hasher.update([0x1e]);
        }
        hashes.push(hasher.finalize().into());
    }
    Ok(hashes)
}

/// The table's content digest: sha256 of its sorted row hashes, so row order does not matter.
pub fn content_digest(frame: &DataFrame) -> PolarsResult<String> {
    let mut hashes = row_hashes(frame)?;
    hashes.sort_unstable();
    let mut hasher = Sha256::new();
    for h in &hashes {
        hasher.update(h);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Hex form of a row hash.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
