//! Practitioner and PractitionerRole → professionnels: one row per situation opérationnelle, with
//! the professional's national id and names, and the field of activity of the offer (which decides
//! what Profil 0 may show).

use super::context::Context;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::arena::{read_varint, write_varint, HashIndex, Offsets};
use super::{ReferenceField, State};
use crate::fhir::codes::{code_and_label, extension, first_coding};
use crate::fhir::model::{Practitioner, PractitionerRole};
use crate::fhir::FhirError;
use super::links::Links;
use crate::table::{catalog, fill_text_nulls, text_column};

use polars::prelude::DataFrame;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PractitionerInfo<'a> {
    pub id_nat_ps: Option<&'a str>,
    pub family: Option<&'a str>,
    pub given: Option<&'a str>,
}

/// The practitioners, by id, until the roles are made: hundreds of thousands at national scale.
/// Each one is a record in one buffer: its id's length and bytes, then each field as 0 (none) or
/// its length plus one, and its bytes (lengths as LEB128: one byte each, names being short); where
/// each record starts; and, once merged, a hash index of the records' numbers by id. A map of
/// boxed strings cost an allocation per field and about 200 bytes a practitioner; this, about 50.
///
/// A file's part only adds records (`push`); the merge (`append`) indexes them, a later record of
/// an id winning, as a map's insert would (a second one is a duplicate id, which stops the run).
#[derive(Debug, Default)]
pub(super) struct Practitioners {
    bytes: Vec<u8>,
    starts: Offsets,
    index: HashIndex,
    hasher: RandomState,
}

impl Practitioners {
    /// Add a practitioner, not indexed (a file's part). Its given names are joined by a space,
    /// none when that is empty.
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

    /// Add a part's practitioners, in order, and index them.
    pub(super) fn append(&mut self, other: Practitioners) {
        let base = self.bytes.len();
        self.bytes.extend_from_slice(&other.bytes);
        for i in 0..other.starts.len() {
            // A record's number must fit the index's u32: a billion practitioners are beyond any
            // directory (France has about a million health professionals).
            let number = u32::try_from(self.starts.len()).expect("fewer than 4 billion practitioners");
            self.starts.push(base + other.starts.get(i));
            let (bytes, starts, hasher) = (&self.bytes, &self.starts, &self.hasher);
            let id_of = |n: u32| record_id(bytes, starts.get(n as usize));
            let id = id_of(number);
            let hash = hasher.hash_one(id);
            self.index.set(hash, number, |n| id_of(n) == id, |n| hasher.hash_one(id_of(n)));
        }
    }

    /// Give back the room the buffers grew into, once every practitioner is in.
    pub(super) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.starts.shrink_to_fit();
    }

    pub(super) fn get(&self, id: &str) -> Option<PractitionerInfo<'_>> {
        let number = self.index.find(self.hasher.hash_one(id.as_bytes()), |n| self.id(n) == id.as_bytes())?;
        let mut at = self.starts.get(number as usize);
        let len = read_varint(&self.bytes, &mut at) as usize;
        at += len;
        let mut field = || match read_varint(&self.bytes, &mut at) as usize {
            0 => None,
            len => {
                let text = &self.bytes[at..at + len - 1];
                at += len - 1;
                Some(std::str::from_utf8(text).expect("a field is written from a str"))
            }
        };
        Some(PractitionerInfo { id_nat_ps: field(), family: field(), given: field() })
    }

    fn id(&self, number: u32) -> &[u8] {
        record_id(&self.bytes, self.starts.get(number as usize))
    }
}

/// The id of the record starting at `start`.
fn record_id(bytes: &[u8], start: usize) -> &[u8] {
    let mut at = start;
    let len = read_varint(bytes, &mut at) as usize;
    &bytes[at..at + len]
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
/// the ids their rows carry (a chunk of the table's rows at a time). The exercise name of the role
/// wins over the civil name of the Practitioner: the civil names only fill the exercise names left
/// null.
pub(super) fn resolve_roles(practitioners: &Practitioners, links: &Links, frame: &mut DataFrame) -> Result<(), FhirError> {
    let spec = &catalog::PROFESSIONNELS;
    let pros = text_column(spec, frame, "professionnel_id")?;
    let (mut id_nat_ps, mut families, mut givens) = (Vec::with_capacity(pros.len()), Vec::with_capacity(pros.len()), Vec::with_capacity(pros.len()));
    for info in pros.iter().map(|p| p.and_then(|p| practitioners.get(p))) {
        id_nat_ps.push(info.and_then(|i| i.id_nat_ps));
        families.push(info.and_then(|i| i.family));
        givens.push(info.and_then(|i| i.given));
    }
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

    #[test]
    fn practitioners_come_back_with_their_fields() {
        let long = "Ö".repeat(200);
        let mut part = Practitioners::default();
        part.push("p1", Some("810000000001"), Some("ZED"), ["Ada", "Marie"].into_iter());
        part.push("p2", None, None, std::iter::empty());
        part.push("p3", Some(""), Some(&long), [""].into_iter());
        part.push("p4", None, Some("X"), ["", ""].into_iter());
        let mut all = Practitioners::default();
        all.append(part);
        let mut later = Practitioners::default();
        later.push("p22", Some("0123"), None, ["Zoé"].into_iter());
        all.append(later);

        let info = |id_nat_ps, family, given| Some(PractitionerInfo { id_nat_ps, family, given });
        assert_eq!(all.get("p1"), info(Some("810000000001"), Some("ZED"), Some("Ada Marie")));
        assert_eq!(all.get("p2"), info(None, None, None));
        assert_eq!(all.get("p3"), info(Some(""), Some(long.as_str()), None), "an empty given name is none, as its join is empty");
        assert_eq!(all.get("p4"), info(None, Some("X"), Some(" ")));
        assert_eq!(all.get("p22"), info(Some("0123"), None, Some("Zoé")));
        for absent in ["p", "p2 ", "22", "p222", ""] {
            assert_eq!(all.get(absent), None, "{absent:?}");
        }
    }

    #[test]
    fn a_later_practitioner_of_an_id_wins_as_in_a_map() {
        let mut all = Practitioners::default();
        for family in ["A", "B"] {
            let mut part = Practitioners::default();
            part.push("p1", None, Some(family), std::iter::empty());
            all.append(part);
        }
        assert_eq!(all.get("p1").and_then(|i| i.family), Some("B"));
    }

    #[test]
    fn a_hundred_thousand_practitioners_round_trip() {
        let mut all = Practitioners::default();
        for file in 0..10 {
            let mut part = Practitioners::default();
            for i in file * 10_000..(file + 1) * 10_000 {
                let (nat, family, given) = (format!("8{i:011}"), format!("F{i}"), format!("G{}", i % 7));
                part.push(&format!("{i}"), (i % 3 != 0).then_some(nat.as_str()), Some(&family), [given.as_str()].into_iter());
            }
            all.append(part);
        }
        all.shrink_to_fit();
        for i in 0..100_000 {
            let info = all.get(&format!("{i}")).unwrap_or_else(|| panic!("{i}"));
            assert_eq!(info.id_nat_ps.map(str::to_owned), (i % 3 != 0).then(|| format!("8{i:011}")));
            assert_eq!(info.family, Some(format!("F{i}").as_str()));
            assert_eq!(info.given, Some(format!("G{}", i % 7).as_str()));
        }
        assert_eq!(all.get("100000"), None);
    }
}
