//! Every id of the snapshot ("Type/id", millions at national scale), with where its resource was
//! first seen: for the duplicate check (its error names the first occurrence's file and position)
//! and the references (one to an id no resource has by the end is dangling).
//!
//! An id is kept as its type's number (LEB128, one byte: a snapshot has a handful of types) and
//! its own bytes, in one buffer (`arena`); where its resource was, as a file number and a
//! position in 4 bytes each. About 30 bytes an id, index included, where a `Box<str>` key of a
//! `HashMap` cost about a hundred. An id only referred to so far has a number too, not seen yet:
//! a reference waiting for a later file keeps its target's number, not its text, and the
//! thousands of roles naming one practitioner share it.
//!
//! "Type/id" is split at its last '/': an id has none (a FHIR id at the reader's door, the last
//! segment of a reference), so two texts are equal exactly when their types and ids are.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::arena::{read_varint, varint_u32, HashIndex, Offsets};
use super::Position;

/// The file number of an id only referred to so far.
const NOT_SEEN: u32 = u32::MAX;

/// Where an id's resource was first seen: its file's number and its position (`Position::pack`),
/// or `NOT_SEEN`.
#[derive(Debug, Clone, Copy)]
struct Seen {
    file: u32,
    position: u32,
}

/// Where an id was first seen, for the duplicate error of a second resource with it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FirstSeen {
    pub file: u32,
    pub position: String,
}

#[derive(Debug, Default)]
pub(super) struct Ids {
    /// The resource types met, by number, and their numbers.
    types: Vec<Box<str>>,
    type_numbers: HashMap<Box<str>, u32>,
    /// Each id's key, one after the other: its type's number then its bytes.
    bytes: Vec<u8>,
    ends: Offsets,
    seen: Vec<Seen>,
    /// The positions `Position::pack` cannot hold, in full, by id number.
    odd_positions: HashMap<u32, String>,
    index: HashIndex,
    hasher: RandomState,
}

impl Ids {
    /// Note a resource's id, seen in file `file` at `position`: its number, or where the id was
    /// first seen if another resource has it.
    pub(super) fn see(&mut self, kind: &str, id: &str, file: u32, position: &str) -> Result<u32, FirstSeen> {
        debug_assert_ne!(file, NOT_SEEN);
        let number = self.number(kind, id);
        let first = self.seen[number as usize];
        if first.file != NOT_SEEN {
            return Err(FirstSeen { file: first.file, position: self.position(number) });
        }
        let packed = match Position::parse(position).and_then(Position::pack) {
            Some(packed) => packed,
            None => {
                self.odd_positions.insert(number, position.to_owned());
                Position::Odd.pack().expect("the odd position packs")
            }
        };
        self.seen[number as usize] = Seen { file, position: packed };
        Ok(number)
    }

    /// The number of the id a reference points to, seen or not yet.
    pub(super) fn refer(&mut self, kind: &str, id: &str) -> u32 {
        self.number(kind, id)
    }

    pub(super) fn is_seen(&self, number: u32) -> bool {
        self.seen[number as usize].file != NOT_SEEN
    }

    /// The file an id's resource was seen in (an id seen).
    pub(super) fn file(&self, number: u32) -> u32 {
        self.seen[number as usize].file
    }

    /// The position an id's resource was seen at, as the reader wrote it (an id seen).
    pub(super) fn position(&self, number: u32) -> String {
        match Position::unpack(self.seen[number as usize].position) {
            Position::Line(n) => format!("line {n}"),
            Position::Entry(n) => format!("entry[{n}]"),
            Position::Resource => "resource".to_owned(),
            Position::Odd => self.odd_positions[&number].clone(),
        }
    }

    /// The id as "Type/id".
    pub(super) fn key(&self, number: u32) -> String {
        let bytes = self.key_bytes(number);
        let mut at = 0;
        let kind = read_varint(bytes, &mut at) as usize;
        let id = std::str::from_utf8(&bytes[at..]).expect("an id is written from a str");
        format!("{}/{id}", self.types[kind])
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }

    fn key_bytes(&self, number: u32) -> &[u8] {
        let n = number as usize;
        let start = if n == 0 { 0 } else { self.ends.get(n - 1) };
        &self.bytes[start..self.ends.get(n)]
    }

    fn type_number(&mut self, kind: &str) -> u32 {
        if let Some(&n) = self.type_numbers.get(kind) {
            return n;
        }
        let n = u32::try_from(self.types.len()).expect("fewer than 4 billion resource types");
        self.types.push(kind.into());
        self.type_numbers.insert(kind.into(), n);
        n
    }

    /// The id's number, a new one (not seen) if the id is new.
    fn number(&mut self, kind: &str, id: &str) -> u32 {
        let kind = self.type_number(kind);
        let hash = self.hasher.hash_one((kind, id.as_bytes()));
        let (prefix, prefix_len) = varint_u32(kind);
        let (prefix, id) = (&prefix[..prefix_len], id.as_bytes());
        let matches = |number: u32| {
            let key = self.key_bytes(number);
            key.len() == prefix.len() + id.len() && key[..prefix.len()] == *prefix && key[prefix.len()..] == *id
        };
        if let Some(number) = self.index.find(hash, matches) {
            return number;
        }
        // An id's number must fit the index's u32: 4 billion ids would be a snapshot of hundreds
        // of GB, whose ids alone would need over 100 GB here.
        let number = u32::try_from(self.seen.len()).expect("fewer than 4 billion ids");
        self.bytes.extend_from_slice(prefix);
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
        self.seen.push(Seen { file: NOT_SEEN, position: 0 });
        let (bytes, ends, hasher) = (&self.bytes, &self.ends, &self.hasher);
        self.index.insert(hash, number, |n| {
            let n = n as usize;
            let key = &bytes[if n == 0 { 0 } else { ends.get(n - 1) }..ends.get(n)];
            let mut at = 0;
            let kind = read_varint(key, &mut at) as u32;
            hasher.hash_one((kind, &key[at..]))
        });
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_resource_with_an_id_is_told_where_the_first_was() {
        let mut ids = Ids::default();
        let first = ids.see("Location", "L1", 0, "entry[3]").unwrap();
        ids.see("Location", "L2", 0, "entry[4]").unwrap();
        // Another type with the same id is another id.
        ids.see("Organization", "L1", 1, "line 1").unwrap();
        assert_eq!(ids.see("Location", "L1", 2, "line 9"), Err(FirstSeen { file: 0, position: "entry[3]".into() }));
        assert_eq!(ids.key(first), "Location/L1");
        assert_eq!((ids.file(first), ids.position(first)), (0, "entry[3]".to_owned()));
    }

    #[test]
    fn an_id_referred_to_first_is_seen_later_once() {
        let mut ids = Ids::default();
        let target = ids.refer("Practitioner", "P1");
        assert!(!ids.is_seen(target));
        assert_eq!(ids.refer("Practitioner", "P1"), target, "one number for every reference to it");
        assert_eq!(ids.see("Practitioner", "P1", 3, "resource"), Ok(target));
        assert!(ids.is_seen(target));
        assert_eq!(ids.see("Practitioner", "P1", 4, "line 2"), Err(FirstSeen { file: 3, position: "resource".into() }));
    }

    #[test]
    fn an_id_that_is_a_prefix_or_suffix_of_another_is_another_id() {
        let mut ids = Ids::default();
        ids.see("Organization", "123", 0, "line 1").unwrap();
        ids.see("Organization", "12", 0, "line 2").unwrap();
        for id in ["1", "1234", "0123", "23", "123 ", "12\u{e9}"] {
            let n = ids.refer("Organization", id);
            assert!(!ids.is_seen(n), "{id}");
            assert_eq!(ids.key(n), format!("Organization/{id}"));
        }
        // Nor does a type that ends like another, with an id that starts like it.
        let n = ids.refer("Organizatio", "n/123");
        assert!(!ids.is_seen(n));
        let n = ids.refer("Organization", "123");
        assert!(ids.is_seen(n));
    }

    #[test]
    fn odd_positions_come_back_in_full() {
        let mut ids = Ids::default();
        let big = format!("line {}", 1u32 << 30);
        for (file, position) in [(0, "line 7 of 9"), (1, big.as_str()), (2, "entry[1073741823]"), (3, "")] {
            ids.see("Location", &format!("L{file}"), file, position).unwrap();
            let Err(first) = ids.see("Location", &format!("L{file}"), 9, "line 1") else { panic!("a duplicate") };
            assert_eq!(first, FirstSeen { file, position: position.into() });
        }
    }

    #[test]
    fn a_hundred_thousand_ids_round_trip() {
        let mut ids = Ids::default();
        let kinds = ["Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole"];
        let key = |i: usize| (kinds[i % kinds.len()], format!("{}", i * 7919 % 1_000_003));
        let mut numbers = Vec::new();
        for i in 0..100_000 {
            let (kind, id) = key(i);
            let position = if i % 3 == 0 { format!("line {}", i + 1) } else { format!("entry[{i}]") };
            numbers.push(ids.see(kind, &id, (i / 1000) as u32, &position).unwrap());
        }
        assert_eq!(ids.len(), 100_000);
        for (i, &n) in numbers.iter().enumerate() {
            let (kind, id) = key(i);
            assert_eq!(ids.key(n), format!("{kind}/{id}"));
            assert_eq!(ids.refer(kind, &id), n);
            assert_eq!(ids.file(n), (i / 1000) as u32);
            assert_eq!(ids.position(n), if i % 3 == 0 { format!("line {}", i + 1) } else { format!("entry[{i}]") });
        }
        assert_eq!(ids.len(), 100_000, "no id added by looking");
        let n = ids.refer("Organization", "1000003");
        assert!(!ids.is_seen(n));
    }
}
