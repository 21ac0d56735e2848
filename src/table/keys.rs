//! The keys a foreign key may refer to, held compactly: the gate's foreign-key check and the
//! disclosure's (and its `references` filters' kept keys) ask of every value of a referring column
//! whether it is a key of the target table, and the targets are the large tables (offers, places),
//! so what this set costs per key set those stages' memory at national scale.
//!
//! A set of borrowed `&str` over the target's key column, as before, held the column (16 bytes a
//! key, more for a key too long to sit in its view) and a hash table of 17 bytes a bucket, at twice
//! as many buckets as keys past a power of two: about 50 bytes a key, 300 MB at scale 4 for the
//! offers and places. ROR keys are digits: a key of 1 to 17 digits is held here as one 8-byte word
//! (its value and its length, so `007` and `7` stay apart), the words grouped by the top bits of
//! their hash, with a directory of where each group starts (a group holds a few words), about 10
//! bytes a key. A key that is not such a number (an example resource's `ror-location-exemple`) is
//! held as text in an ordinary hash set beside. Membership is exact either way: a word is the key
//! itself, not a hash of it.

use polars::prelude::PlHashSet;

/// Digits a key may have to be held as a word: 10^17 < 2^57, and the length takes the 5 bits above.
const MAX_DIGITS: usize = 17;

/// The word of a key of 1 to `MAX_DIGITS` ASCII digits: its value, and its length above it (leading
/// zeros count); None for any other key.
fn word(key: &str) -> Option<u64> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_DIGITS {
        return None;
    }
    let mut value = 0u64;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    Some(value | (bytes.len() as u64) << 59)
}

/// A word's group among `1 << bits`: the top bits of a folded multiply of it (the mixing of
/// foldhash), which spreads consecutive numbers over the groups.
fn group(word: u64, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    let product = u128::from(word ^ 0x243f_6a88_85a3_08d3) * 0x9e37_79b9_7f4a_7c15;
    let hash = (product as u64) ^ ((product >> 64) as u64);
    (hash >> (64 - bits)) as usize
}

/// An exact set of keys (`KeySet::builder`, then `push` each key, then `finish`).
#[derive(Debug, Default)]
pub struct KeySet {
    /// The numeric keys' words, group after group: group `g` is `words[starts[g]..starts[g + 1]]`.
    words: Vec<u64>,
    starts: Vec<usize>,
    /// `1 << bits` groups.
    bits: u32,
    /// The other keys.
    texts: PlHashSet<Box<str>>,
}

/// A `KeySet` being filled.
pub struct KeySetBuilder {
    words: Vec<u64>,
    texts: PlHashSet<Box<str>>,
}

impl KeySet {
    /// `capacity`: the keys expected (the target table's rows), so the words do not grow by doubling.
    pub fn builder(capacity: usize) -> KeySetBuilder {
        KeySetBuilder { words: Vec::with_capacity(capacity), texts: PlHashSet::default() }
    }

    pub fn contains(&self, key: &str) -> bool {
        match word(key) {
            Some(word) => {
                let g = group(word, self.bits);
                self.words[self.starts[g]..self.starts[g + 1]].contains(&word)
            }
            None => self.texts.contains(key),
        }
    }
}

impl KeySetBuilder {
    pub fn push(&mut self, key: &str) {
        match word(key) {
            Some(word) => self.words.push(word),
            None => {
                if !self.texts.contains(key) {
                    self.texts.insert(key.into());
                }
            }
        }
    }

    /// The set: the words sorted by group in place (a counting sort that swaps each word into its
    /// group's next free place), about four words a group, so a look-up reads a directory entry and
    /// a cache line or two of words. A repeated key is kept twice, which changes no answer.
    pub fn finish(self) -> KeySet {
        let KeySetBuilder { mut words, texts } = self;
        let bits = (words.len().next_power_of_two() / 4).max(1).trailing_zeros();
        let groups = 1usize << bits;
        let mut starts = vec![0usize; groups + 1];
        for &word in &words {
            starts[group(word, bits) + 1] += 1;
        }
        for g in 0..groups {
            starts[g + 1] += starts[g];
        }
        let mut next = starts[..groups].to_vec();
        for g in 0..groups {
            while next[g] < starts[g + 1] {
                let at = next[g];
                let home = group(words[at], bits);
                if home != g {
                    // `home` is a later group (the earlier ones are full): its next free place
                    // takes the word, and the word found there is looked at in turn.
                    words.swap(at, next[home]);
                }
                next[home] += 1;
            }
        }
        KeySet { words, starts, bits, texts }
    }
}

/// The keys in `column` of table `spec` of `source` (a text column), read a slice of rows at a
/// time: the column is never whole in memory, only its set.
pub fn of_column(source: &dyn crate::table::spill::TableSource, spec: &'static crate::table::TableSpec, column: &str) -> Result<KeySet, crate::table::TableError> {
    let mut keys = KeySet::builder(source.rows(spec.name).unwrap_or(0));
    crate::table::spill::for_each_slice(source, spec, &[column], |slice| {
        crate::table::text_column(spec, slice, column)?.iter().flatten().for_each(|key| keys.push(key));
        Ok::<_, crate::table::TableError>(())
    })?;
    Ok(keys.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[&str]) -> KeySet {
        let mut builder = KeySet::builder(keys.len());
        for key in keys {
            builder.push(key);
        }
        builder.finish()
    }

    /// Exactly the keys pushed, numbers or not: lengths and leading zeros tell numbers apart, and
    /// text beside numbers is text.
    #[test]
    fn holds_exactly_the_keys_pushed() {
        let keys = ["7", "007", "300000000", "12345678901234567", "123456789012345678", "ror-location-exemple", "11/1000001", "1a", " 1"];
        let keys_set = set(&keys);
        for key in keys {
            assert!(keys_set.contains(key), "{key}");
        }
        for absent in ["", "0", "07", "70", "0007", "300000001", "30000000", "12345678901234568", "123456789012345679", "ror-location", "11/1000002", "1b", "1", "1 "] {
            assert!(!keys_set.contains(absent), "{absent}");
        }
        assert!(!set(&[]).contains("1") && !set(&[]).contains("x"));
    }

    /// A large set of consecutive numbers, as a table's keys are, repeated keys included: every
    /// key is found, and no neighbour that is not one.
    #[test]
    fn a_large_set_is_grouped_and_exact() {
        let keys: Vec<String> = (0..300_000u64).filter(|i| i % 7 != 3).map(|i| (100_000_000 + i).to_string()).chain(["100000001".to_owned()]).collect();
        let keys_set = set(&keys.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(keys_set.starts.len() > 1 << 15, "{}", keys_set.starts.len());
        for i in 0..300_000u64 {
            assert_eq!(keys_set.contains(&(100_000_000 + i).to_string()), i % 7 != 3, "{i}");
        }
        assert!(!keys_set.contains("99999999") && !keys_set.contains("100300000"));
        assert!(keys_set.starts.windows(2).all(|w| w[0] <= w[1]) && *keys_set.starts.last().unwrap() == keys_set.words.len());
    }
}
