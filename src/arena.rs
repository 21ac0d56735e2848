//! Compact texts by number, for the maps that grow with the referential: flatten's snapshot-wide
//! maps (`fhir::flatten`'s `practitioner::Practitioners`, `organization::Organizations`,
//! `links::Links`) and the k-anonymity gate's individuals (`disclose::risk::Classes`). Texts one after the other
//! in one byte buffer, where each one starts or ends (`Offsets`, 4 bytes each), and a hash index
//! of their numbers (`HashIndex`, 5 bytes a slot); `Names` puts the three together. A `Box<str>` in a `HashMap` cost its allocation
//! (rounded up, plus the allocator's header), 16 bytes of pointer and length, and the map's
//! buckets: about a hundred bytes an id, for millions of ids at national scale.

use std::hash::BuildHasher;

/// The index's hash: foldhash (polars' own, randomly seeded per map), several times faster than
/// the standard library's SipHash on ids of a few dozen bytes, named once per offer, place and role.
type RandomState = polars::prelude::PlRandomState;

/// Non-decreasing offsets into a byte buffer, in 4 bytes each: their low 32 bits, and for each
/// further 4 GiB the buffer reached (never, at any real scale; kept exact all the same) the number
/// of the first offset past it.
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    low: Vec<u32>,
    wraps: Vec<usize>,
}

impl Offsets {
    /// Add an offset, not below the last one.
    pub(crate) fn push(&mut self, offset: usize) {
        debug_assert!(self.low.is_empty() || offset >= self.get(self.low.len() - 1), "offsets do not decrease");
        let high = (offset as u64 >> 32) as usize;
        while self.wraps.len() < high {
            self.wraps.push(self.low.len());
        }
        self.low.push(offset as u32);
    }

    pub(crate) fn get(&self, i: usize) -> usize {
        let high = if self.wraps.is_empty() { 0 } else { self.wraps.partition_point(|&w| w <= i) as u64 };
        (high << 32 | u64::from(self.low[i])) as usize
    }

    pub(crate) fn len(&self) -> usize {
        self.low.len()
    }
}

/// Texts by number, each once, in one buffer: a number for a text, and back. For ids named over
/// and over (an offer's provider, an organisation's parent), whose users keep the number (4 bytes).
#[derive(Debug, Default)]
pub(crate) struct Names {
    text: String,
    ends: Offsets,
    index: HashIndex,
    hasher: RandomState,
}

impl Names {
    /// The text's number, a new one if the text is new.
    pub(crate) fn number(&mut self, name: &str) -> u32 {
        let hash = self.hasher.hash_one(name);
        if let Some(number) = self.index.find(hash, |n| self.get(n) == name) {
            return number;
        }
        // A number must fit the index's u32: 4 billion names would need hundreds of GB here.
        let number = u32::try_from(self.ends.len()).expect("fewer than 4 billion names");
        self.text.push_str(name);
        self.ends.push(self.text.len());
        let (text, ends, hasher) = (&self.text, &self.ends, &self.hasher);
        self.index.insert(hash, number, |n| hasher.hash_one(name_at(text, ends, n)));
        number
    }

    /// The text's number, if it has one.
    pub(crate) fn find(&self, name: &str) -> Option<u32> {
        self.index.find(self.hasher.hash_one(name), |n| self.get(n) == name)
    }

    pub(crate) fn get(&self, number: u32) -> &str {
        name_at(&self.text, &self.ends, number)
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }
}

fn name_at<'a>(text: &'a str, ends: &Offsets, number: u32) -> &'a str {
    let n = number as usize;
    &text[if n == 0 { 0 } else { ends.get(n - 1) }..ends.get(n)]
}

/// A number as LEB128: 7 bits a byte, low bits first, the top bit set on every byte but the last.
/// A length or a type's number takes one byte below 128.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The number at `bytes[*at..]` (written by `write_varint`), moving `at` past it.
pub(crate) fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

/// An open-addressing hash index of entry numbers (u32), the entries' keys kept by its owner: it
/// asks for a key's comparison (`find`) or an entry's hash (when it grows) by the entry's number.
/// Linear probing; each slot has a tag byte, 0 when empty, else 7 bits of the hash, so that a
/// probe passes over other keys' slots without reading their keys. Never more than 7/8 full.
#[derive(Debug, Default)]
pub(crate) struct HashIndex {
    tags: Vec<u8>,
    entries: Vec<u32>,
    len: usize,
}

impl HashIndex {
    fn tag(hash: u64) -> u8 {
        0x80 | (hash >> 57) as u8
    }

    /// The entry of this hash whose key `matches`, if any.
    pub(crate) fn find(&self, hash: u64, matches: impl FnMut(u32) -> bool) -> Option<u32> {
        self.find_slot(hash, matches).map(|slot| self.entries[slot])
    }

    /// The slot of this hash's entry that `matches`.
    fn find_slot(&self, hash: u64, mut matches: impl FnMut(u32) -> bool) -> Option<usize> {
        if self.tags.is_empty() {
            return None;
        }
        let (tag, mask) = (Self::tag(hash), self.tags.len() - 1);
        let mut slot = hash as usize & mask;
        loop {
            match self.tags[slot] {
                0 => return None,
                t if t == tag && matches(self.entries[slot]) => return Some(slot),
                _ => slot = (slot + 1) & mask,
            }
        }
    }

    /// Add an entry whose key is not in the index yet. `hash_of` gives any entry's hash, to move
    /// every entry when the index grows.
    pub(crate) fn insert(&mut self, hash: u64, entry: u32, hash_of: impl Fn(u32) -> u64) {
        if (self.len + 1) * 8 > self.tags.len() * 7 {
            self.grow(hash_of);
        }
        self.place(hash, entry);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, entry: u32) {
        let mask = self.tags.len() - 1;
        let mut slot = hash as usize & mask;
        while self.tags[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        self.tags[slot] = Self::tag(hash);
        self.entries[slot] = entry;
    }

    fn grow(&mut self, hash_of: impl Fn(u32) -> u64) {
        let capacity = (self.tags.len() * 2).max(16);
        let tags = std::mem::replace(&mut self.tags, vec![0; capacity]);
        let entries = std::mem::replace(&mut self.entries, vec![0; capacity]);
        for (tag, entry) in tags.into_iter().zip(entries) {
            if tag != 0 {
                self.place(hash_of(entry), entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_one_number_each() {
        let mut names = Names::default();
        let words = ["eg-1", "eg-10", "eg-", "", "oi-b", "éé"];
        let numbers: Vec<u32> = words.iter().map(|w| names.number(w)).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 5]);
        for (w, n) in words.iter().zip(&numbers) {
            assert_eq!((names.number(w), names.find(w), names.get(*n)), (*n, Some(*n), *w));
        }
        assert_eq!((names.find("eg-100"), names.find("g-1"), names.len()), (None, None, 6));
    }

    #[test]
    fn offsets_past_4_gib_stay_exact() {
        let mut offsets = Offsets::default();
        let values = [0usize, 7, u32::MAX as usize, 1 << 32, (1 << 32) + 5, 3 << 32, (3 << 32) + 1];
        for v in values {
            offsets.push(v);
        }
        assert_eq!((0..offsets.len()).map(|i| offsets.get(i)).collect::<Vec<_>>(), values);
    }

    #[test]
    fn varints_round_trip() {
        let mut out = Vec::new();
        let values = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        for v in values {
            write_varint(&mut out, v);
        }
        let mut at = 0;
        assert_eq!(values.map(|_| read_varint(&out, &mut at)), values);
        assert_eq!(at, out.len());
    }

    #[test]
    fn the_index_finds_what_it_holds_even_when_hashes_collide() {
        // Every key hashes to one of four values: collisions and long probes, the keys told apart
        // by the comparison alone.
        let keys: Vec<u64> = (0..10_000).collect();
        let hash = |k: u64| (k % 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut index = HashIndex::default();
        for (n, &k) in keys.iter().enumerate().take(1_000) {
            index.insert(hash(k), n as u32, |e| hash(keys[e as usize]));
        }
        for (n, &k) in keys.iter().enumerate() {
            let found = index.find(hash(k), |e| keys[e as usize] == k);
            assert_eq!(found, (n < 1_000).then_some(n as u32), "key {k}");
        }
        assert_eq!(index.len, 1_000);
    }
}
