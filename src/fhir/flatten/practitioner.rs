//! Practitioner and PractitionerRole → professionnels: one row per situation opérationnelle, with
//! the professional's national id and names, and the field of activity of the offer (which decides
//! what Profil 0 may show).

use std::io::Read;
use std::path::Path;

use super::buckets::{Buckets, BUCKETS};
use super::context::Context;
use crate::arena::{read_varint, write_varint, Offsets};
use super::{ReferenceField, State};
use crate::fhir::codes::{code_and_label, extension, first_coding};
use crate::fhir::model::{Practitioner, PractitionerRole};
use crate::fhir::FhirError;
use super::links::Links;
use crate::table::{catalog, fill_text_nulls, text_column};

use polars::prelude::{DataFrame, PlHashMap};

const ID_NAT_PS_SYSTEM: &str = "urn:oid:1.2.250.1.71.4.2.1";

pub(super) fn visit_practitioner(state: &mut State, ctx: &Context<'_>, practitioner: Practitioner<'_>) -> Result<(), FhirError> {
    state.note_update(ctx, practitioner.meta.last_updated.as_deref())?;
    let id_nat_ps = practitioner
        .identifier
        .iter()
        .find(|i| i.system.as_deref() == Some(ID_NAT_PS_SYSTEM))
        .or_else(|| practitioner.identifier.first())
        .and_then(|i| i.value.as_deref());
    let name = practitioner.name.first();
    let given = name.map_or(&[][..], |n| n.given.as_slice());
    state.practitioners.push(practitioner.id.as_str(), id_nat_ps, name.and_then(|n| n.family.as_deref()), given.iter().map(|g| g.as_str()));
    Ok(())
}

/// A practitioner's fields a role's row needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct PractitionerInfo {
    pub id_nat_ps: Option<String>,
    pub family: Option<String>,
    pub given: Option<String>,
}

/// A file's practitioners, until its part is merged: each one a record in one buffer: its id's
/// length and bytes, then each field as 0 (none) or its length plus one, and its bytes (lengths as
/// LEB128: one byte each, names being short); and where each record starts.
#[derive(Debug, Default)]
pub(super) struct Practitioners {
    bytes: Vec<u8>,
    starts: Offsets,
}

impl Practitioners {
    /// Add a practitioner. Its given names are joined by a space, none when that is empty.
    pub(super) fn push<'g>(&mut self, id: &str, id_nat_ps: Option<&str>, family: Option<&str>, given: impl Iterator<Item = &'g str> + Clone) {
        self.starts.push(self.bytes.len());
        write_varint(&mut self.bytes, id.len() as u64);
        self.bytes.extend_from_slice(id.as_bytes());
        for field in [id_nat_ps, family] {
            match field {
                Some(text) => {
                    write_varint(&mut self.bytes, text.len() as u64 + 1);
                    self.bytes.extend_from_slice(text.as_bytes());
                }
                None => self.bytes.push(0),
            }
        }
        let (count, len) = given.clone().fold((0usize, 0usize), |(count, len), g| (count + 1, len + g.len()));
        let joined = len + count.saturating_sub(1);
        if joined == 0 {
            self.bytes.push(0);
        } else {
            write_varint(&mut self.bytes, joined as u64 + 1);
            for (i, g) in given.enumerate() {
                if i > 0 {
                    self.bytes.push(b' ');
                }
                self.bytes.extend_from_slice(g.as_bytes());
            }
        }
    }

    /// Each record, whole, with its id.
    fn records(&self) -> impl Iterator<Item = (&str, &[u8])> {
        (0..self.starts.len()).map(|i| {
            let end = if i + 1 == self.starts.len() { self.bytes.len() } else { self.starts.get(i + 1) };
            let record = &self.bytes[self.starts.get(i)..end];
            (std::str::from_utf8(record_id(record, &mut 0)).expect("an id is written from a str"), record)
        })
    }
}

/// The id at `at` in a record (its start), moving `at` past it.
fn record_id<'r>(record: &'r [u8], at: &mut usize) -> &'r [u8] {
    let len = read_varint(record, at) as usize;
    let id = &record[*at..*at + len];
    *at += len;
    id
}

/// The practitioners of every part merged, set aside by their id's bucket (`Buckets`), until the
/// roles are joined to them bucket by bucket (`join`). Hundreds of thousands of practitioners at
/// national scale, held in memory with an index from the first file to the roles (about 60 bytes
/// each), were the flatten stage's peak at four times that scale: 250 MB.
#[derive(Debug, Default)]
pub(super) struct PractitionerRecords {
    buckets: Buckets,
}

impl PractitionerRecords {
    pub(super) fn new(folder: &Path) -> PractitionerRecords {
        PractitionerRecords { buckets: Buckets::new(folder, "the practitioners, to be joined to the roles") }
    }

    /// Add a part's practitioners, in order: a later one of an id wins, as a map's insert would
    /// (a second one is a duplicate id, which stops the run).
    pub(super) fn append(&mut self, part: Practitioners) -> Result<(), FhirError> {
        for (id, record) in part.records() {
            self.buckets.push(self.buckets.of(id), |out| out.extend_from_slice(record))?;
        }
        Ok(())
    }

    /// Roles to join to these practitioners, in the order `RoleJoin::next` will be asked for them.
    pub(super) fn roles(&self) -> RoleIds {
        RoleIds { buckets: self.buckets.alike("the roles' practitioners"), count: 0 }
    }

    /// Join the roles to the practitioners, bucket by bucket: one bucket's practitioners in memory
    /// at a time, each role's practitioner's fields set aside in its bucket's order.
    pub(super) fn join(self, roles: RoleIds) -> Result<RoleJoin, FhirError> {
        let mut joined = roles.buckets.alike("the roles' practitioners' fields");
        for bucket in 0..BUCKETS {
            let practitioners = self.buckets.read(bucket)?;
            let mut fields: PlHashMap<&[u8], &[u8]> = PlHashMap::default();
            let mut at = 0;
            while at < practitioners.len() {
                let id = record_id(&practitioners, &mut at);
                let start = at;
                for _ in 0..3 {
                    let len = read_varint(&practitioners, &mut at) as usize;
                    at += len.saturating_sub(1);
                }
                // A later record of an id wins.
                fields.insert(id, &practitioners[start..at]);
            }
            let ids = roles.buckets.read(bucket)?;
            let mut at = 0;
            while at < ids.len() {
                let row = u64::from_le_bytes(ids[at..at + 8].try_into().expect("8 bytes"));
                at += 8;
                let id = record_id(&ids, &mut at);
                let found = fields.get(id);
                joined.push(bucket, |out| {
                    out.extend_from_slice(&row.to_le_bytes());
                    match found {
                        Some(fields) => {
                            out.push(1);
                            out.extend_from_slice(fields);
                        }
                        None => out.push(0),
                    }
                })?;
            }
        }
        let readers = (0..BUCKETS).map(|bucket| joined.reader(bucket).map(|r| Box::new(r) as Box<dyn Read>)).collect::<Result<_, _>>()?;
        Ok(RoleJoin { buckets: joined, readers: std::cell::RefCell::new(readers) })
    }
}

/// The roles' practitioners' ids, by row of the roles' table (unsorted: its parts in file order),
/// set aside in the practitioners' buckets.
pub(super) struct RoleIds {
    buckets: Buckets,
    count: u64,
}

impl RoleIds {
    /// The next row's practitioner, if it names one.
    pub(super) fn push(&mut self, practitioner: Option<&str>) -> Result<(), FhirError> {
        let row = self.count;
        self.count += 1;
        let Some(id) = practitioner else { return Ok(()) };
        self.buckets.push(self.buckets.of(id), |out| {
            out.extend_from_slice(&row.to_le_bytes());
            write_varint(out, id.len() as u64);
            out.extend_from_slice(id.as_bytes());
        })
    }
}

/// Each role's practitioner's fields, in its bucket's order of rows: read back a row at a time, in
/// the roles' order, from every bucket's stream at once (8 KB each).
pub(super) struct RoleJoin {
    buckets: Buckets,
    readers: std::cell::RefCell<Vec<Box<dyn Read>>>,
}

impl RoleJoin {
    /// The fields of row `row`'s practitioner `id` (the rows asked in increasing order, those
    /// `RoleIds` was given with their ids): none when no Practitioner has the id.
    fn next(&self, row: u64, id: &str) -> Result<Option<PractitionerInfo>, FhirError> {
        let bucket = self.buckets.of(id);
        let mut readers = self.readers.borrow_mut();
        let reader = &mut readers[bucket];
        let error = |e| self.buckets.error(e);
        let mut head = [0u8; 9];
        reader.read_exact(&mut head).map_err(error)?;
        let stored = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        assert_eq!(stored, row, "the roles are asked for in the order they were set aside");
        if head[8] == 0 {
            return Ok(None);
        }
        let mut field = || -> Result<Option<String>, FhirError> {
            let len = read_varint_from(reader).map_err(error)? as usize;
            if len == 0 {
                return Ok(None);
            }
            let mut text = vec![0u8; len - 1];
            reader.read_exact(&mut text).map_err(error)?;
            Ok(Some(String::from_utf8(text).expect("a field is written from a str")))
        };
        Ok(Some(PractitionerInfo { id_nat_ps: field()?, family: field()?, given: field()? }))
    }
}

/// A LEB128 number read from a stream (`arena::write_varint`'s).
fn read_varint_from(reader: &mut dyn Read) -> std::io::Result<u64> {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte)?;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] < 0x80 {
            return Ok(value);
        }
        shift += 7;
    }
}

pub(super) fn visit_role(state: &mut State, ctx: &Context<'_>, role: PractitionerRole<'_>) -> Result<(), FhirError> {
    let updated = state.note_update(ctx, role.meta.last_updated.as_deref())?;
    let practitioner = state.reference(ctx, ReferenceField::Practitioner, role.practitioner.as_ref(), "Practitioner")?;
    let mut offers = Vec::new();
    for (i, service) in role.healthcare_service.iter().enumerate() {
        offers.push(state.reference(ctx, ReferenceField::healthcare_service(i), Some(service), "HealthcareService")?);
    }
    let offer = offers.into_iter().flatten().next();

    let mut row = state.builders.professionnels.row();
    row.set("identifiant_ror", role.id.as_str())
        .set("professionnel_id", practitioner)
        .set("offre_id", offer)
        .set("date_mise_a_jour", updated);
    // ANS names the exercise-name extension both ways across IG versions.
    let exercise_name = extension(&role.extension, "RORPractitionerRoleName").or_else(|| extension(&role.extension, "ror-practitionerrole-name"));
    if let Some(name) = exercise_name {
        row.set("nom_exercice", extension(&name.extension, "exerciseLastName").and_then(|e| e.value_string.as_deref()))
            .set("prenom_exercice", extension(&name.extension, "exerciseFirstName").and_then(|e| e.value_string.as_deref()));
    }
    let (code, label) = code_and_label(first_coding(role.code.first()));
    row.set("profession_code", code).set("profession_libelle", label);
    let (code, label) = code_and_label(first_coding(role.specialty.first()));
    row.set("savoir_faire_code", code).set("savoir_faire_libelle", label);
    let mode = extension(&role.extension, "ror-practitionerrole-unit-exercise-mode").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
    let (code, label) = code_and_label(mode);
    row.set("mode_exercice_code", code).set("mode_exercice_libelle", label);
    // id_nat_ps, type_identifiant and offre_champ_activite_code wait for the resolution pass (the
    // Practitioner and the offer may come later), and so do the civil names that stand in for an
    // exercise name the role lacks.
    state.builders.professionnels.push(row);
    Ok(())
}

/// Roles learn their professional's identity and their offer's field once both are known, from
/// the ids their rows carry: a chunk of the table's rows at a time, `first` the chunk's first row
/// (the order `RoleIds` was given them in). The exercise name of the role wins over the civil name
/// of the Practitioner: the civil names only fill the exercise names left null.
pub(super) fn resolve_roles(practitioners: &RoleJoin, links: &Links, frame: &mut DataFrame, first: usize) -> Result<(), FhirError> {
    let spec = &catalog::PROFESSIONNELS;
    let pros = text_column(spec, frame, "professionnel_id")?;
    let mut infos: Vec<Option<PractitionerInfo>> = Vec::with_capacity(pros.len());
    for (row, id) in pros.iter().enumerate() {
        infos.push(match id {
            Some(id) => practitioners.next((first + row) as u64, id)?,
            None => None,
        });
    }
    let field = |pick: fn(&PractitionerInfo) -> &Option<String>| -> Vec<Option<&str>> { infos.iter().map(|info| info.as_ref().and_then(|i| pick(i).as_deref())).collect() };
    let (id_nat_ps, families, givens) = (field(|i| &i.id_nat_ps), field(|i| &i.family), field(|i| &i.given));
    let offers = text_column(spec, frame, "offre_id")?;
    let fields: Vec<Option<&str>> = offers.iter().map(|o| o.and_then(|o| links.field_of_offer(o))).collect();
    let kinds: Vec<Option<&str>> = id_nat_ps
        .iter()
        .map(|id| {
            id.and_then(|id| match id.chars().next() {
                Some('8') => Some("RPPS"),
                Some('0') => Some("ADELI"),
                _ => None,
            })
        })
        .collect();
    fill_text_nulls(spec, frame, "id_nat_ps", id_nat_ps)?;
    fill_text_nulls(spec, frame, "type_identifiant", kinds)?;
    fill_text_nulls(spec, frame, "nom_exercice", families)?;
    fill_text_nulls(spec, frame, "prenom_exercice", givens)?;
    fill_text_nulls(spec, frame, "offre_champ_activite_code", fields)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields each of `ids` (the roles' practitioners, in row order) gets from the parts'
    /// practitioners, set aside and joined as a run does.
    fn joined(parts: Vec<Practitioners>, ids: &[Option<&str>]) -> Vec<Option<PractitionerInfo>> {
        let folder = tempfile::tempdir().unwrap();
        let mut records = PractitionerRecords::new(folder.path());
        for part in parts {
            records.append(part).unwrap();
        }
        let mut roles = records.roles();
        for id in ids {
            roles.push(*id).unwrap();
        }
        let join = records.join(roles).unwrap();
        ids.iter().enumerate().map(|(row, id)| id.and_then(|id| join.next(row as u64, id).unwrap())).collect()
    }

    fn info(id_nat_ps: Option<&str>, family: Option<&str>, given: Option<&str>) -> Option<PractitionerInfo> {
        Some(PractitionerInfo { id_nat_ps: id_nat_ps.map(str::to_owned), family: family.map(str::to_owned), given: given.map(str::to_owned) })
    }

    #[test]
    fn practitioners_come_back_with_their_fields() {
        let long = "Ö".repeat(200);
        let mut part = Practitioners::default();
        part.push("p1", Some("810000000001"), Some("ZED"), ["Ada", "Marie"].into_iter());
        part.push("p2", None, None, std::iter::empty());
        part.push("p3", Some(""), Some(&long), [""].into_iter());
        part.push("p4", None, Some("X"), ["", ""].into_iter());
        let mut later = Practitioners::default();
        later.push("p22", Some("0123"), None, ["Zoé"].into_iter());
        let ids = [Some("p1"), Some("p2"), None, Some("p3"), Some("p4"), Some("p22"), Some("p1"), Some("p"), Some("p2 "), Some("22"), Some("p222"), Some("")];
        let expected = vec![
            info(Some("810000000001"), Some("ZED"), Some("Ada Marie")),
            info(None, None, None),
            None,
            // An empty given name is none, as its join is empty.
            info(Some(""), Some(long.as_str()), None),
            info(None, Some("X"), Some(" ")),
            info(Some("0123"), None, Some("Zoé")),
            info(Some("810000000001"), Some("ZED"), Some("Ada Marie")),
            None,
            None,
            None,
            None,
            None,
        ];
        assert_eq!(joined(vec![part, later], &ids), expected);
    }

    #[test]
    fn a_later_practitioner_of_an_id_wins_as_in_a_map() {
        let parts = ["A", "B"].map(|family| {
            let mut part = Practitioners::default();
            part.push("p1", None, Some(family), std::iter::empty());
            part
        });
        assert_eq!(joined(parts.into(), &[Some("p1")]), vec![info(None, Some("B"), None)]);
    }

    /// Enough practitioners and roles for every bucket to go to disk; roles in no order of their
    /// practitioners, several of one, and of none.
    #[test]
    fn two_hundred_thousand_practitioners_are_joined_to_their_roles() {
        let parts: Vec<Practitioners> = (0..10)
            .map(|file| {
                let mut part = Practitioners::default();
                for i in file * 20_000..(file + 1) * 20_000 {
                    let (nat, family, given) = (format!("8{i:011}"), format!("FAMILY-NAME-{i}"), format!("G{}", i % 7));
                    part.push(&format!("{i}"), (i % 3 != 0).then_some(nat.as_str()), Some(&family), [given.as_str()].into_iter());
                }
                part
            })
            .collect();
        let names: Vec<String> = (0..300_000usize).map(|r| format!("{}", r * 7_919 % 210_000)).collect();
        let ids: Vec<Option<&str>> = names.iter().enumerate().map(|(r, n)| (r % 11 != 0).then_some(n.as_str())).collect();
        for (r, got) in joined(parts, &ids).into_iter().enumerate() {
            let i = r * 7_919 % 210_000;
            let expected = (r % 11 != 0 && i < 200_000).then(|| PractitionerInfo { id_nat_ps: (i % 3 != 0).then(|| format!("8{i:011}")), family: Some(format!("FAMILY-NAME-{i}")), given: Some(format!("G{}", i % 7)) });
            assert_eq!(got, expected, "row {r}");
        }
    }
}
