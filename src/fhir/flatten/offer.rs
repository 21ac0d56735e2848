//! HealthcareService → offres, horaires, and the offers' contacts.

use super::context::Context;
use super::organization::{creation_date, set_contact_codes, Organizations, NO_ORGANIZATION};
use super::{OrgKind, ReferenceField, State};
use crate::fhir::codes::{code_and_label, coding_of, extension, extensions, first_coding, region};
use crate::fhir::model::{AvailableTime, HealthcareService};
use crate::fhir::FhirError;
use crate::table::{catalog, fill_text_nulls};

use polars::prelude::DataFrame;

pub(super) fn visit(state: &mut State, ctx: &Context<'_>, offer: HealthcareService<'_>) -> Result<(), FhirError> {
    let updated = state.note_update(ctx, offer.meta.last_updated.as_deref())?;
    let created = creation_date(ctx, &offer.extension)?;
    let provider = state.reference(ctx, ReferenceField::ProvidedBy, offer.provided_by.as_ref(), "Organization")?;
    // Every place is checked as a reference; the first is the offer's.
    let mut place = None;
    for (i, location) in offer.location.iter().enumerate() {
        let id = state.reference(ctx, ReferenceField::location(i), Some(location), "Location")?;
        place = place.or(id);
    }
    let ext = &offer.extension;
    let field = coding_of(&offer.kind, "TRE_R227");

    let mut row = state.builders.offres.row();
    row.set("identifiant_ror", offer.id.as_str())
        .set("identifiant_offre", offer_identifier(&offer))
        .set("nom", offer.name.as_deref())
        .set("lieu_id", place)
        .set("unite_sensible", extension(ext, "ror-healthcareservice-sensitive-unit").and_then(|e| e.value_boolean))
        .set("region_code", region(&offer.meta))
        .set("date_creation", created)
        .set("date_mise_a_jour", updated);
    // Column names written out, not formatted from a stem: this runs for every offer.
    for (code_column, label_column, coding) in [
        ("type_offre_code", "type_offre_libelle", offer.category.first().and_then(|c| c.coding.first())),
        ("champ_activite_code", "champ_activite_libelle", field),
        ("activite_operationnelle_code", "activite_operationnelle_libelle", coding_of(&offer.specialty, "TRE_R211")),
        ("mode_prise_en_charge_code", "mode_prise_en_charge_libelle", coding_of(&offer.characteristic, "TRE_R213")),
        ("public_pris_en_charge_code", "public_pris_en_charge_libelle", coding_of(&offer.characteristic, "TRE_R239")),
    ] {
        let (code, label) = code_and_label(coding);
        row.set(code_column, code).set(label_column, label);
    }
    if let Some(patients) = extension(ext, "ror-healthcareservice-patient-type") {
        if let Some(range) = extension(&patients.extension, "ageRange").and_then(|e| e.value_range.as_ref()) {
            let years = |q: Option<&crate::fhir::model::Quantity>| q.and_then(|q| q.value).map(|v| v.round() as i64);
            row.set("age_minimum", years(range.low.as_ref())).set("age_maximum", years(range.high.as_ref()));
        }
    }
    // organisation_interne_id and entite_geographique_id wait for the resolution pass: the
    // provider may come later in the snapshot.
    state.builders.offres.push(row);
    let provider = provider.map_or(NO_ORGANIZATION, |p| state.organizations.number(&p));
    state.offer_providers.push(provider);

    hours(state, ctx, &offer)?;
    offer_contacts(state, &offer);
    Ok(())
}

/// The functional id "RR/nnnnnnn" (identifier of type 35), or the first identifier.
fn offer_identifier<'a>(offer: &'a HealthcareService<'_>) -> Option<&'a str> {
    let typed = offer.identifier.iter().find(|i| i.kind.as_ref().and_then(|k| k.coding.first()).and_then(|c| c.code.as_deref()) == Some("35"));
    typed.or_else(|| offer.identifier.first()).and_then(|i| i.value.as_deref())
}

fn day_number(day: &str) -> Option<i64> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().position(|d| *d == day).map(|p| p as i64 + 1)
}

/// availableTime → horaires: one row per day and time slot.
fn hours(state: &mut State, ctx: &Context<'_>, offer: &HealthcareService<'_>) -> Result<(), FhirError> {
    let mut rank = 0i64;
    for (i, slot) in offer.available_time.iter().enumerate() {
        let days = slot_days(slot);
        let start = ctx.optional_time(|| format!("availableTime[{i}].availableStartTime"), slot.available_start_time.as_deref())?;
        let end = ctx.optional_time(|| format!("availableTime[{i}].availableEndTime"), slot.available_end_time.as_deref())?;
        let period = extension(&slot.extension, "ror-available-time-effective-opening-closing-date").and_then(|e| e.value_period.as_ref());
        let from = ctx.optional_date(|| format!("availableTime[{i}].extension[effective-opening-closing-date].start"), period.and_then(|p| p.start.as_deref()))?;
        let to = ctx.optional_date(|| format!("availableTime[{i}].extension[effective-opening-closing-date].end"), period.and_then(|p| p.end.as_deref()))?;
        let (code, label) = code_and_label(extension(&slot.extension, "ror-available-time-type-of-time").and_then(|e| first_coding(e.value_codeable_concept.as_ref())));
        for day in days {
            rank += 1;
            let mut row = state.builders.horaires.row();
            row.set_fmt("horaire_id", format_args!("{}-{rank}", offer.id))
                .set("offre_id", offer.id.as_str())
                .set("rang", rank)
                .set("type_horaire_code", code)
                .set("type_horaire_libelle", label)
                .set("jour_semaine", day)
                .set("heure_debut", start.as_deref())
                .set("heure_fin", end.as_deref())
                .set("date_debut", from)
                .set("date_fin", to);
            state.builders.horaires.push(row);
        }
    }
    Ok(())
}

/// The days a slot covers: ROR's number-of-day extension when present, else FHIR's daysOfWeek
/// (one row each), else one row with no day. An iterator, not a vector: this runs for every slot
/// of every offer.
fn slot_days<'s>(slot: &'s AvailableTime<'_>) -> impl Iterator<Item = Option<i64>> + 's {
    let number = extension(&slot.extension, "ror-available-time-number-days-of-week").and_then(|e| e.value_integer);
    let listed: &[_] = if number.is_some() { &[] } else { &slot.days_of_week };
    let no_day = (number.is_none() && listed.is_empty()).then_some(None);
    number.map(Some).into_iter().chain(listed.iter().map(|d| day_number(d))).chain(no_day)
}

/// The ror-healthcareservice-contact extensions → contacts rows, one per telecom.
fn offer_contacts(state: &mut State, offer: &HealthcareService<'_>) {
    for (c, contact) in extensions(&offer.extension, "ror-healthcareservice-contact").enumerate() {
        let purpose = extension(&contact.extension, "purposeContact").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
        let level = extension(&contact.extension, "ror-confidentiality-level")
            .or_else(|| extension(&contact.extension, "ror-contact-confidentiality-level"))
            .and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
        for (t, telecom) in extensions(&contact.extension, "ror-healthcareservice-contact-telecom").enumerate() {
            let channel = extension(&telecom.extension, "ror-telecom-communication-channel").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
            let telecom_level = extension(&telecom.extension, "ror-telecom-confidentiality-level").and_then(|e| first_coding(e.value_codeable_concept.as_ref()));
            let value = extension(&telecom.extension, "telecomAddress").and_then(|e| e.value_string.as_deref());
            let mut row = state.builders.contacts.row();
            row.set_fmt("contact_id", format_args!("offre-{}-{}-{}", offer.id, c + 1, t + 1))
                .set("entite_type", "offre")
                .set("offre_id", offer.id.as_str())
                .set("systeme", channel.and_then(|c| c.code.as_deref()).and_then(system_of_channel))
                .set("valeur", value);
            set_contact_codes(&mut row, purpose, level, channel, telecom_level);
            state.builders.contacts.push(row);
        }
    }
}

/// The FHIR ContactPoint.system a ROR channel (TRE_R200) corresponds to.
fn system_of_channel(code: &str) -> Option<&'static str> {
    match code {
        "1" | "2" | "8" => Some("phone"),
        "3" | "9" => Some("email"),
        "4" => Some("url"),
        "6" => Some("fax"),
        "5" | "7" => Some("other"),
        _ => None,
    }
}

/// Offers learn whether their provider is an establishment or an internal organisation.
/// `providers` (numbers in `organizations`) is in the frame's row order (the offers' parts in
/// file order, unsorted).
pub(super) fn resolve(organizations: &Organizations, providers: &[u32], frame: &mut DataFrame) -> Result<(), FhirError> {
    let spec = &catalog::OFFRES;
    let provider = |&p: &u32| (p != NO_ORGANIZATION).then_some(p);
    let internal: Vec<Option<&str>> = providers.iter().map(|p| provider(p).filter(|&p| organizations.kind(p) == Some(OrgKind::Interne)).map(|p| organizations.id(p))).collect();
    fill_text_nulls(spec, frame, "organisation_interne_id", internal)?;
    let establishments: Vec<Option<&str>> = providers.iter().map(|p| provider(p).and_then(|p| organizations.establishment_of(p))).collect();
    fill_text_nulls(spec, frame, "entite_geographique_id", establishments)?;
    Ok(())
}
