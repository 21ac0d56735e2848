//! The snapshot-wide checks of the merge: every resource's id unique, and every reference
//! resolving to a resource of the snapshot.
//!
//! Holding every id in memory until the end (about 30 bytes each in a compact arena) came to
//! some 400 MB at four times national scale, the flatten stage's peak while the files are read.
//! Here each id seen and each reference is set aside as a record, as the parts are merged, in one
//! of 256 buckets by its key's hash: a bucket's records stay in memory up to 32 KB, then go to the
//! unnamed scratch file in the spill folder that the buckets share. An id and every reference to it fall in the same
//! bucket, so the checks read one bucket at a time (1/256 of the records).
//!
//! The error found is the one a single pass over the snapshot in file order meets first: the
//! first resource (file order, then position) whose id an earlier resource has; else the first
//! reference (file order, then the order its file's resources make them) to an id no resource
//! has. Every record carries that order, and each bucket's first is compared.

use polars::prelude::PlHashSet;
use std::path::Path;

use super::buckets::{Buckets, BUCKETS};
use super::ReferenceField;
use crate::arena::{read_varint, write_varint};
use crate::fhir::FhirError;

const SEEN: u8 = b'S';
const REFERENCE: u8 = b'R';

/// A resource whose id an earlier resource has: its file (a number in the merge's files) and
/// position, its "Type/id", and where the first resource with it was.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Duplicate {
    pub file: u32,
    pub position: String,
    pub key: String,
    pub first_file: u32,
    pub first_position: String,
}

/// A reference to an id no resource has: the referring resource's file and text
/// ("{position} {Type/id}"), the field, and the target's "Type/id".
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Dangling {
    pub file: u32,
    pub resource: String,
    pub field: ReferenceField,
    pub target: String,
}

/// What the checks found, each the first in file order.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub duplicate: Option<Duplicate>,
    pub dangling: Option<Dangling>,
}

#[derive(Debug, Default)]
pub(super) struct Checks {
    records: Buckets,
    /// A reference's target as "Type/id", made here rather than allocated for each.
    key: String,
}

impl Checks {
    /// Checks whose buckets go, if they outgrow memory, to unnamed files in `folder` (gone with
    /// the value, or with the process).
    pub(super) fn new(folder: &Path) -> Checks {
        Checks { records: Buckets::new(folder, "the snapshot's ids, to be checked"), key: String::new() }
    }

    /// A resource seen: `key` ("Type/id") is the `rank`th resource of file `file`, at `position`.
    pub(super) fn see(&mut self, key: &str, file: u32, rank: u32, position: &str) -> Result<(), FhirError> {
        self.records.push(self.records.of(key), |record| {
            record.push(SEEN);
            record.extend_from_slice(&file.to_le_bytes());
            record.extend_from_slice(&rank.to_le_bytes());
            put_text(record, key);
            put_text(record, position);
        })
    }

    /// The `index`th reference of file `file`: its resource (`position` and `key`) names `kind`/`id`
    /// in `field`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn refer(&mut self, kind: &str, id: &str, file: u32, index: u32, field: ReferenceField, position: &str, key: &str) -> Result<(), FhirError> {
        let mut target = std::mem::take(&mut self.key);
        target.clear();
        target.push_str(kind);
        target.push('/');
        target.push_str(id);
        let pushed = self.records.push(self.records.of(&target), |record| {
            record.push(REFERENCE);
            record.extend_from_slice(&file.to_le_bytes());
            record.extend_from_slice(&index.to_le_bytes());
            let (tag, number) = field_code(field);
            record.push(tag);
            record.extend_from_slice(&number.to_le_bytes());
            put_text(record, &target);
            write_varint(record, (position.len() + 1 + key.len()) as u64);
            record.extend_from_slice(position.as_bytes());
            record.push(b' ');
            record.extend_from_slice(key.as_bytes());
        });
        self.key = target;
        pushed
    }

    /// The first duplicate id and the first dangling reference among every record so far.
    pub(super) fn check(&mut self) -> Result<Found, FhirError> {
        let mut found = Found::default();
        // The order of the first of each, kept beside it.
        let (mut duplicate_at, mut dangling_at) = ((u32::MAX, u32::MAX), (u32::MAX, u32::MAX));
        for bucket in 0..BUCKETS {
            let bytes = self.records.read(bucket)?;
            let (mut seen, references) = records(&bytes);
            seen.sort_unstable_by(|a, b| (a.key, a.file, a.rank).cmp(&(b.key, b.file, b.rank)));
            // A key's second resource is the one the pass in file order stops at.
            for same in seen.chunk_by(|a, b| a.key == b.key).filter(|same| same.len() > 1) {
                let (first, again) = (&same[0], &same[1]);
                if (again.file, again.rank) < duplicate_at {
                    duplicate_at = (again.file, again.rank);
                    found.duplicate = Some(Duplicate { file: again.file, position: text(again.position), key: text(again.key), first_file: first.file, first_position: text(first.position) });
                }
            }
            let ids: PlHashSet<&[u8]> = seen.iter().map(|s| s.key).collect();
            for reference in references.iter().filter(|r| !ids.contains(r.target)) {
                if (reference.file, reference.index) < dangling_at {
                    dangling_at = (reference.file, reference.index);
                    found.dangling = Some(Dangling { file: reference.file, resource: text(reference.resource), field: reference.field, target: text(reference.target) });
                }
            }
        }
        Ok(found)
    }

}

fn put_text(record: &mut Vec<u8>, text: &str) {
    write_varint(record, text.len() as u64);
    record.extend_from_slice(text.as_bytes());
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("a record's text is written from a str")
}

/// A field in 5 bytes: its kind and its array index, if it has one.
fn field_code(field: ReferenceField) -> (u8, u32) {
    match field {
        ReferenceField::PartOf => (0, 0),
        ReferenceField::ProvidedBy => (1, 0),
        ReferenceField::ManagingOrganization => (2, 0),
        ReferenceField::Practitioner => (3, 0),
        ReferenceField::Location(i) => (4, i),
        ReferenceField::HealthcareService(i) => (5, i),
    }
}

fn field_of_code(tag: u8, number: u32) -> ReferenceField {
    match tag {
        0 => ReferenceField::PartOf,
        1 => ReferenceField::ProvidedBy,
        2 => ReferenceField::ManagingOrganization,
        3 => ReferenceField::Practitioner,
        4 => ReferenceField::Location(number),
        _ => ReferenceField::HealthcareService(number),
    }
}

struct SeenRecord<'b> {
    key: &'b [u8],
    file: u32,
    rank: u32,
    position: &'b [u8],
}

struct ReferenceRecord<'b> {
    target: &'b [u8],
    file: u32,
    index: u32,
    field: ReferenceField,
    resource: &'b [u8],
}

/// A bucket's records, borrowed from its bytes.
fn records(bytes: &[u8]) -> (Vec<SeenRecord<'_>>, Vec<ReferenceRecord<'_>>) {
    let (mut seen, mut references) = (Vec::new(), Vec::new());
    let mut at = 0;
    let u32_at = |at: &mut usize| {
        let value = u32::from_le_bytes(bytes[*at..*at + 4].try_into().expect("4 bytes"));
        *at += 4;
        value
    };
    let text_at = |at: &mut usize| {
        let len = read_varint(bytes, at) as usize;
        let text = &bytes[*at..*at + len];
        *at += len;
        text
    };
    while at < bytes.len() {
        let tag = bytes[at];
        at += 1;
        let (file, number) = (u32_at(&mut at), u32_at(&mut at));
        if tag == SEEN {
            let key = text_at(&mut at);
            seen.push(SeenRecord { key, file, rank: number, position: text_at(&mut at) });
        } else {
            let field_tag = bytes[at];
            at += 1;
            let field = field_of_code(field_tag, u32_at(&mut at));
            let target = text_at(&mut at);
            references.push(ReferenceRecord { target, file, index: number, field, resource: text_at(&mut at) });
        }
    }
    (seen, references)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_first_duplicate_in_file_order_names_the_first_resource_with_its_id() {
        let folder = tempfile::tempdir().unwrap();
        let mut checks = Checks::new(folder.path());
        checks.see("Location/L1", 0, 0, "entry[3]").unwrap();
        checks.see("Location/L2", 0, 1, "entry[4]").unwrap();
        // Another type with the same id is another id; so is an id that starts or ends like it.
        for (rank, key) in ["Organization/L1", "Location/L", "Location/L10", "Location/1"].into_iter().enumerate() {
            checks.see(key, 1, rank as u32, "line 1").unwrap();
        }
        assert_eq!(checks.check().unwrap().duplicate, None);
        // L2 again in file 3, L1 again in file 2 then 4: file 2's is the first met.
        checks.see("Location/L2", 3, 0, "line 9").unwrap();
        checks.see("Location/L1", 4, 0, "line 1").unwrap();
        checks.see("Location/L1", 2, 7, "line 7 of 9").unwrap();
        let expected = Duplicate { file: 2, position: "line 7 of 9".into(), key: "Location/L1".into(), first_file: 0, first_position: "entry[3]".into() };
        assert_eq!(checks.check().unwrap().duplicate, Some(expected));
    }

    #[test]
    fn the_first_dangling_reference_in_file_order_is_found() {
        let folder = tempfile::tempdir().unwrap();
        let mut checks = Checks::new(folder.path());
        checks.see("Organization/123", 0, 0, "line 1").unwrap();
        checks.refer("Organization", "123", 0, 0, ReferenceField::PartOf, "line 2", "Organization/9").unwrap();
        // A reference to an id seen later (another file) resolves.
        checks.refer("Practitioner", "P1", 1, 0, ReferenceField::Practitioner, "line 1", "PractitionerRole/R1").unwrap();
        checks.see("Practitioner/P1", 5, 0, "resource").unwrap();
        checks.refer("Organization", "12", 3, 2, ReferenceField::ProvidedBy, "entry[2]", "HealthcareService/H2").unwrap();
        checks.refer("Location", "123", 3, 1, ReferenceField::Location(4), "entry[1]", "HealthcareService/H1").unwrap();
        let found = checks.check().unwrap();
        assert_eq!(found.duplicate, None);
        assert_eq!(found.dangling, Some(Dangling { file: 3, resource: "entry[1] HealthcareService/H1".into(), field: ReferenceField::Location(4), target: "Location/123".into() }));
    }

    /// Records past a bucket's buffer go to its file and come back, in order, with the buffer's.
    #[test]
    fn a_hundred_thousand_ids_set_aside_on_disk_are_checked_as_in_memory() {
        let folder = tempfile::tempdir().unwrap();
        let mut checks = Checks::new(folder.path());
        let kinds = ["Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole"];
        for i in 0..100_000u32 {
            let key = format!("{}/{}", kinds[i as usize % kinds.len()], i * 7919 % 1_000_003);
            checks.see(&key, i / 1000, i % 1000, &format!("line {}", i % 1000 + 1)).unwrap();
            checks.refer("Location", &format!("{}", (i * 7919 % 1_000_003) / 5 * 5 + 1), i / 1000, i % 1000, ReferenceField::ManagingOrganization, "line 1", &key).unwrap();
        }
        let found = checks.check().unwrap();
        assert_eq!(found.duplicate, None);
        // The first reference whose target (an id ≡ 1 mod 5) is no Location's.
        let locations: HashSet<u32> = (0..100_000u32).filter(|j| j % 5 == 1).map(|j| j * 7919 % 1_000_003).collect();
        let i = (0..100_000u32).find(|i| !locations.contains(&((i * 7919 % 1_000_003) / 5 * 5 + 1))).unwrap();
        assert_eq!(found.dangling.map(|d| (d.file, d.target)), Some((i / 1000, format!("Location/{}", (i * 7919 % 1_000_003) / 5 * 5 + 1))));
        checks.see("Location/x", 200, 0, "line 1").unwrap();
        checks.see("Location/x", 201, 0, "line 2").unwrap();
        assert_eq!(checks.check().unwrap().duplicate.map(|d| (d.file, d.first_file)), Some((201, 200)), "records added after a check are checked too");
    }
}
