//! Organization → entites_juridiques, entites_geographiques, organisations_internes, and the
//! establishments' contacts.

use crate::arena::Names;
use super::context::Context;
use super::{OrgKind, ReferenceField, State};
use crate::fhir::codes::{code_and_label, coding_of, extension, first_coding, identifier_value, region};
use crate::fhir::model::{Address, Extension, Organization};
use crate::fhir::FhirError;
use crate::table::{catalog, fill_text_nulls, text_column, Row, TableBuilder};

use polars::prelude::DataFrame;

const ID_NAT_STRUCT_SYSTEM: &str = "urn:oid:1.2.250.1.71.4.2.2";

/// Which of the three ROR organisation kinds this is. An internal organisation says so by its
/// type (TRE_R207) or its national id system; otherwise a `partOf` makes it an establishment.
fn kind(org: &Organization<'_>) -> OrgKind {
    let internal_type = coding_of(&org.kind, "TRE_R207").is_some();
    let internal_id = org.identifier.iter().any(|i| i.system.as_deref().is_some_and(|s| s.contains("oi.esante.gouv.fr")));
    if internal_type || internal_id {
        OrgKind::Interne
    } else if org.part_of.is_some() {
        OrgKind::Geographique
    } else {
        OrgKind::Juridique
    }
}

pub(super) fn visit(state: &mut State, ctx: &Context<'_>, org: Organization<'_>) -> Result<(), FhirError> {
    let kind = kind(&org);
    let updated = state.note_update(ctx, org.meta.last_updated.as_deref())?;
    let created = creation_date(ctx, &org.extension)?;
    let part_of = state.reference(ctx, ReferenceField::PartOf, org.part_of.as_ref(), "Organization")?;
    state.organizations.insert(org.id.as_str(), kind, part_of.as_deref());

    let builder = match kind {
        OrgKind::Juridique => &mut state.builders.entites_juridiques,
        OrgKind::Geographique => &mut state.builders.entites_geographiques,
        OrgKind::Interne => &mut state.builders.organisations_internes,
    };
    let mut row = builder.row();
    row.set("identifiant_ror", org.id.as_str())
        .set("region_code", region(&org.meta))
        .set("date_creation", created)
        .set("date_mise_a_jour", updated);

    match kind {
        OrgKind::Juridique => {
            row.set("id_nat_struct", identifier_value(&org.identifier, |s, t| s == ID_NAT_STRUCT_SYSTEM || t == "40"))
                .set("finess_ej", identifier_value(&org.identifier, |s, t| s.contains("finess") || t == "1"))
                .set("siren", identifier_value(&org.identifier, |s, t| (s.contains("sirene") && t != "3") || t == "2"))
                .set("raison_sociale", org.name.as_deref());
            let (code, label) = code_and_label(coding_of(&org.kind, "TRE_R72"));
            row.set("statut_juridique_code", code).set("statut_juridique_libelle", label);
            set_address(&mut row, org.address.first());
            state.builders.entites_juridiques.push(row);
        }
        OrgKind::Geographique => {
            row.set("entite_juridique_id", part_of)
                .set("id_nat_struct", identifier_value(&org.identifier, |s, t| s == ID_NAT_STRUCT_SYSTEM || t == "40"))
                .set("finess_eg", identifier_value(&org.identifier, |s, t| s.contains("finess") || t == "1"))
                .set("siret", identifier_value(&org.identifier, |s, t| t == "3" || (s.contains("sirene") && t != "2")))
                .set("denomination", org.name.as_deref())
                .set("nom_operationnel", org.alias.first().map(|a| a.as_str()));
            let category = coding_of(&org.kind, "TRE_R66").or_else(|| coding_of(&org.kind, "TRE_R316"));
            let (code, label) = code_and_label(category);
            row.set("categorie_code", code).set("categorie_libelle", label);
            let address = org.address.first();
            set_address(&mut row, address);
            let (latitude, longitude) = geolocation(address.map(|a| a.extension.as_slice()).unwrap_or_default());
            row.set("latitude", ctx.coordinate("address.extension[geolocation].latitude", latitude, 90.0)?)
                .set("longitude", ctx.coordinate("address.extension[geolocation].longitude", longitude, 180.0)?);
            let orsan = extension(&org.extension, "ror-organization-level-recours-orsan").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
            let (code, label) = code_and_label(orsan);
            row.set("niveau_recours_orsan_code", code)
                .set("niveau_recours_orsan_libelle", label)
                .set("zone_poser_helicoptere", extension(&org.extension, "ror-organization-drop-zone").and_then(|e| e.value_boolean));
            state.builders.entites_geographiques.push(row);
            establishment_contacts(&mut state.builders.contacts, &org);
        }
        OrgKind::Interne => {
            row.set("identifiant_national_oi", identifier_value(&org.identifier, |s, _| s.contains("oi.esante.gouv.fr")))
                .set("nom", org.name.as_deref())
                .set("organisation_parente_id", part_of);
            let (code, label) = code_and_label(coding_of(&org.kind, "TRE_R207"));
            row.set("type_code", code).set("type_libelle", label);
            // entite_geographique_id waits for the resolution pass: the parent may come later.
            state.builders.organisations_internes.push(row);
        }
    }
    Ok(())
}

/// Internal organisations learn their establishment once every organisation is known, from the
/// parent their row names.
pub(super) fn resolve_internal(organizations: &Organizations, frame: &mut DataFrame) -> Result<(), FhirError> {
    let spec = &catalog::ORGANISATIONS_INTERNES;
    let parents = text_column(spec, frame, "organisation_parente_id")?;
    let establishments: Vec<Option<&str>> = parents.iter().map(|p| p.and_then(|p| organizations.find(p)).and_then(|p| organizations.establishment_of(p))).collect();
    fill_text_nulls(spec, frame, "entite_geographique_id", establishments)?;
    Ok(())
}

/// The number of an organisation that is not one: no parent, no provider.
pub(super) const NO_ORGANIZATION: u32 = u32::MAX;

/// The organisations, until the offers are made (150,000 at national scale), and every id an
/// organisation or an offer names as its parent or provider, by number (`Names`): an offer's
/// provider and an organisation's parent are kept as numbers, 4 bytes each. An id only named so
/// far has no kind (yet): it stands for no organisation, as an id missing from a map did.
///
/// A file's part has its own numbers; the merge (`append`) renumbers them, a later organisation
/// of an id winning, as a map's insert would (a second one is a duplicate id, which stops the run).
#[derive(Debug, Default)]
pub(super) struct Organizations {
    ids: Names,
    /// By number: the kind, none for an id only named so far.
    kinds: Vec<Option<OrgKind>>,
    /// By number: the parent's number, or `NO_ORGANIZATION`.
    parents: Vec<u32>,
}

impl Organizations {
    /// The number of an id named (as a provider, a parent, or an organisation's own).
    pub(super) fn number(&mut self, id: &str) -> u32 {
        let number = self.ids.number(id);
        if number as usize == self.kinds.len() {
            self.kinds.push(None);
            self.parents.push(NO_ORGANIZATION);
        }
        number
    }

    /// An organisation seen, with its kind and parent.
    pub(super) fn insert(&mut self, id: &str, kind: OrgKind, part_of: Option<&str>) {
        let number = self.number(id) as usize;
        let parent = part_of.map_or(NO_ORGANIZATION, |p| self.number(p));
        self.kinds[number] = Some(kind);
        self.parents[number] = parent;
    }

    /// The number of an id named, if it was.
    pub(super) fn find(&self, id: &str) -> Option<u32> {
        self.ids.find(id)
    }

    pub(super) fn id(&self, number: u32) -> &str {
        self.ids.get(number)
    }

    /// The kind of an organisation, none for an id no organisation has.
    pub(super) fn kind(&self, number: u32) -> Option<OrgKind> {
        self.kinds[number as usize]
    }

    /// The establishment an organisation belongs to: itself for an EG, its nearest EG ancestor
    /// for an internal organisation (OIs nest: pôle → service → unité). Borrowed, so that a column
    /// of them costs no string each.
    pub(super) fn establishment_of(&self, mut number: u32) -> Option<&str> {
        // Bounded walk: a partOf cycle in bad data must not hang the job.
        for _ in 0..16 {
            match self.kind(number)? {
                OrgKind::Geographique => return Some(self.id(number)),
                OrgKind::Juridique => return None,
                OrgKind::Interne => match self.parents[number as usize] {
                    NO_ORGANIZATION => return None,
                    parent => number = parent,
                },
            }
        }
        None
    }

    /// Add a part's organisations and named ids; returns each of the part's numbers' number here.
    pub(super) fn append(&mut self, other: Organizations) -> Vec<u32> {
        let numbers: Vec<u32> = (0..other.ids.len() as u32).map(|n| self.number(other.ids.get(n))).collect();
        for (n, kind) in other.kinds.into_iter().enumerate() {
            if let Some(kind) = kind {
                let parent = other.parents[n];
                self.kinds[numbers[n] as usize] = Some(kind);
                self.parents[numbers[n] as usize] = if parent == NO_ORGANIZATION { NO_ORGANIZATION } else { numbers[parent as usize] };
            }
        }
        numbers
    }
}

/// ror-meta-creation-date, common to every ROR resource.
pub(super) fn creation_date(ctx: &Context<'_>, extensions: &[Extension<'_>]) -> Result<Option<chrono::DateTime<chrono::Utc>>, FhirError> {
    let text = extension(extensions, "ror-meta-creation-date").and_then(|e| e.value_date_time.as_deref());
    ctx.optional_instant("extension[ror-meta-creation-date].valueDateTime", text)
}

/// adresse, code_postal, commune from a FHIR Address.
pub(super) fn set_address(row: &mut Row, address: Option<&Address<'_>>) {
    let Some(address) = address else { return };
    let line = address.line.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(", ");
    row.set("adresse", (!line.is_empty()).then_some(line))
        .set("code_postal", address.postal_code.as_deref())
        .set("commune", address.city.as_deref());
}

/// The HL7 geolocation extension on an address: (latitude, longitude).
fn geolocation(extensions: &[Extension<'_>]) -> (Option<f64>, Option<f64>) {
    let Some(geo) = extensions.iter().find(|e| e.url.ends_with("geolocation")) else { return (None, None) };
    let part = |name: &str| extension(&geo.extension, name).and_then(|e| e.value_decimal);
    (part("latitude"), part("longitude"))
}

/// Organization.contact → contacts rows, one per telecom.
fn establishment_contacts(contacts: &mut TableBuilder, org: &Organization<'_>) {
    for (c, contact) in org.contact.iter().enumerate() {
        let level = extension(&contact.extension, "ror-contact-confidentiality-level").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
        let purpose = first_coding(contact.purpose.as_ref());
        for (t, telecom) in contact.telecom.iter().enumerate() {
            let channel = extension(&telecom.extension, "ror-telecom-communication-channel").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
            let telecom_level = extension(&telecom.extension, "ror-telecom-confidentiality-level").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
            let mut row = contacts.row();
            row.set_fmt("contact_id", format_args!("entite_geographique-{}-{}-{}", org.id, c + 1, t + 1))
                .set("entite_type", "entite_geographique")
                .set("entite_geographique_id", org.id.as_str())
                .set("systeme", telecom.system.as_deref())
                .set("valeur", telecom.value.as_deref());
            set_contact_codes(&mut row, purpose, level, channel, telecom_level);
            contacts.push(row);
        }
    }
}

/// The coded columns shared by every contact row.
pub(super) fn set_contact_codes(
    row: &mut Row,
    purpose: Option<&crate::fhir::model::Coding<'_>>,
    level: Option<&crate::fhir::model::Coding<'_>>,
    channel: Option<&crate::fhir::model::Coding<'_>>,
    telecom_level: Option<&crate::fhir::model::Coding<'_>>,
) {
    let (code, label) = code_and_label(purpose);
    row.set("nature_contact_code", code).set("nature_contact_libelle", label);
    let (code, label) = code_and_label(level);
    row.set("niveau_confidentialite_contact_code", code).set("niveau_confidentialite_contact_libelle", label);
    let (code, label) = code_and_label(channel);
    row.set("canal_code", code).set("canal_libelle", label);
    let (code, label) = code_and_label(telecom_level);
    row.set("niveau_confidentialite_telecom_code", code).set("niveau_confidentialite_telecom_libelle", label);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisations_find_their_establishment_across_parts() {
        // Part 1: an offer's provider and an OI's parent named before they are seen.
        let mut first = Organizations::default();
        let provider = first.number("u1");
        first.insert("p1", OrgKind::Interne, Some("eg"));
        first.insert("ej", OrgKind::Juridique, None);
        let mut second = Organizations::default();
        second.insert("u1", OrgKind::Interne, Some("p1"));
        second.insert("eg", OrgKind::Geographique, Some("ej"));
        second.insert("loop-a", OrgKind::Interne, Some("loop-b"));
        second.insert("loop-b", OrgKind::Interne, Some("loop-a"));
        second.insert("orphan", OrgKind::Interne, Some("nowhere"));
        second.insert("top", OrgKind::Interne, None);
        let mut all = Organizations::default();
        let numbers = all.append(first);
        all.append(second);
        let provider = numbers[provider as usize];
        assert_eq!((all.id(provider), all.kind(provider)), ("u1", Some(OrgKind::Interne)));
        let establishment = |id: &str| all.find(id).and_then(|n| all.establishment_of(n));
        assert_eq!(establishment("u1"), Some("eg"));
        assert_eq!(establishment("eg"), Some("eg"));
        for none in ["ej", "loop-a", "orphan", "top", "nowhere", "absent"] {
            assert_eq!(establishment(none), None, "{none}");
        }
        assert_eq!(all.find("nowhere").map(|n| all.kind(n)), Some(None), "named, not seen: no organisation");
    }

    #[test]
    fn a_later_organisation_of_an_id_wins_as_in_a_map() {
        let mut all = Organizations::default();
        for kind in [OrgKind::Juridique, OrgKind::Geographique] {
            let mut part = Organizations::default();
            part.insert("o", kind, None);
            all.append(part);
        }
        assert_eq!(all.find("o").and_then(|n| all.establishment_of(n)), Some("o"));
    }

    /// The walk up the parents looks at 16 organisations at most, as the map's walk did: an OI 15
    /// levels below its establishment finds it, one 16 levels below does not.
    #[test]
    fn the_walk_up_is_bounded() {
        let mut all = Organizations::default();
        all.insert("eg", OrgKind::Geographique, None);
        for level in 1..=17 {
            let parent = if level == 1 { "eg".to_owned() } else { format!("oi{}", level - 1) };
            all.insert(&format!("oi{level}"), OrgKind::Interne, Some(&parent));
        }
        let establishment = |id: &str| all.find(id).and_then(|n| all.establishment_of(n));
        assert_eq!(establishment("oi15"), Some("eg"));
        assert_eq!(establishment("oi16"), None);
    }
}
