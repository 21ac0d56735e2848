//! Location → lieux, and its bed-capacity records (capacites) and specific equipment (equipements).

use super::context::Context;
use super::organization::{creation_date, set_address};
use super::{ReferenceField, State};
use crate::fhir::codes::{code_and_label, coding_of, extension, extensions, first_coding, region};
use crate::fhir::model::{Extension, Location};
use crate::fhir::FhirError;
use super::links::Links;
use crate::table::{catalog, text_column, Row, TableError};

use polars::prelude::{Column, DataFrame};

pub(super) fn visit(state: &mut State, ctx: &Context<'_>, location: Location<'_>) -> Result<(), FhirError> {
    let updated = state.note_update(ctx, location.meta.last_updated.as_deref())?;
    let created = creation_date(ctx, &location.extension)?;
    let establishment = state.reference(ctx, ReferenceField::ManagingOrganization, location.managing_organization.as_ref(), "Organization")?;
    let ext = &location.extension;

    let mut row = state.builders.lieux.row();
    row.set("identifiant_ror", location.id.as_str())
        .set("identifiant_lieu", location.identifier.first().and_then(|i| i.value.as_deref()))
        .set("nom", location.name.as_deref())
        .set("entite_geographique_id", establishment)
        .set("region_code", region(&location.meta))
        .set("date_creation", created)
        .set("date_mise_a_jour", updated);
    let (code, label) = code_and_label(coding_of(&location.kind, "TRE_R343"));
    row.set("fonction_code", code).set("fonction_libelle", label);
    let (code, label) = code_and_label(extension(ext, "ror-location-status").and_then(|e| first_coding(e.value_codeable_concept.as_ref())));
    row.set("statut_code", code).set("statut_libelle", label);
    set_address(&mut row, location.address.as_ref());
    let (code, label) = code_and_label(extension(ext, "ror-commune-cog").and_then(|e| first_coding(e.value_codeable_concept.as_ref())));
    row.set("commune_cog_code", code).set("commune_cog_libelle", label);
    let position = location.position.as_ref();
    row.set("latitude", ctx.coordinate("position.latitude", position.and_then(|p| p.latitude), 90.0)?)
        .set("longitude", ctx.coordinate("position.longitude", position.and_then(|p| p.longitude), 180.0)?);
    if let Some(housing) = extension(ext, "ror-location-residential-capacity") {
        let (code, label) = code_and_label(extension(&housing.extension, "residentialType").and_then(|e| first_coding(e.value_codeable_concept.as_ref())));
        row.set("type_habitation_code", code)
            .set("type_habitation_libelle", label)
            .set("nombre_habitations", extension(&housing.extension, "residentialNumber").and_then(|e| e.value_integer));
    }
    state.builders.lieux.push(row);

    for (n, capacity) in extensions(ext, "ror-location-supported-capacity").enumerate() {
        let mut row = state.builders.capacites.row();
        row.set_fmt("capacite_id", format_args!("{}-{}", location.id, n + 1)).set("lieu_id", location.id.as_str());
        set_capacity(ctx, &mut row, capacity, n)?;
        state.builders.capacites.push(row);
    }
    // ANS spells the id "ror-location-equipement"; accept the English spelling too.
    let equipment = extensions(ext, "ror-location-equipement").chain(extensions(ext, "ror-location-equipment"));
    for (n, item) in equipment.enumerate() {
        let mut row = state.builders.equipements.row();
        let (code, label) = code_and_label(extension(&item.extension, "equipmentType").and_then(|e| first_coding(e.value_codeable_concept.as_ref())));
        row.set_fmt("equipement_id", format_args!("{}-{}", location.id, n + 1))
            .set("lieu_id", location.id.as_str())
            .set("type_equipement_code", code)
            .set("type_equipement_libelle", label)
            .set("nombre_en_service", extension(&item.extension, "nbInService").and_then(|e| e.value_integer));
        state.builders.equipements.push(row);
    }
    Ok(())
}

/// The sub-extensions of one ror-location-supported-capacity record.
fn set_capacity(ctx: &Context<'_>, row: &mut Row, capacity: &Extension<'_>, n: usize) -> Result<(), FhirError> {
    let coded = |name: &str| code_and_label(extension(&capacity.extension, name).and_then(|e| first_coding(e.value_codeable_concept.as_ref())));
    // Column names written out, not formatted from a stem: this runs for every capacity record.
    for (part, code_column, label_column) in [
        ("capacityType", "nature_capacite_code", "nature_capacite_libelle"),
        ("capacityStatus", "statut_capacite_code", "statut_capacite_libelle"),
        ("temporalityCapacity", "temporalite_code", "temporalite_libelle"),
        ("capacitySourceType", "type_source_code", "type_source_libelle"),
        ("genderCapacityAvailable", "genre_code", "genre_libelle"),
        ("capacityClosingType", "type_fermeture_code", "type_fermeture_libelle"),
        ("additionalBedType", "type_lit_supplementaire_code", "type_lit_supplementaire_libelle"),
        ("crisisType", "type_crise_code", "type_crise_libelle"),
        ("temporaryAssignement", "affectation_temporaire_code", "affectation_temporaire_libelle"),
    ] {
        let (code, label) = coded(part);
        row.set(code_column, code).set(label_column, label);
    }
    let count = extension(&capacity.extension, "nbCapacity").and_then(|e| e.value_integer);
    if count.is_some_and(|c| c < 0) {
        return Err(ctx.field_error(|| format!("extension[ror-location-supported-capacity][{n}].nbCapacity"), "a capacity cannot be negative"));
    }
    let updated = extension(&capacity.extension, "capacityUpdateDate").and_then(|e| e.value_date_time.as_deref());
    row.set("nombre", count)
        .set("date_mise_a_jour_capacite", ctx.optional_instant(|| format!("extension[ror-location-supported-capacity][{n}].capacityUpdateDate"), updated)?);
    Ok(())
}

/// Attach each capacity record to what it measures, once every resource is read (a Location does
/// not name its offers; offers name their Location): the offer realised at the place (the smallest
/// id when several share it, so the choice is deterministic), the managing establishment and its
/// FINESS number. DREES and the Health Data Hub analyse capacities by offer and establishment.
/// `frame` is a chunk of the capacites table being made; `links` is read from offres, lieux and
/// entites_geographiques, made by then.
pub(super) fn link_capacities(links: &Links, frame: &mut DataFrame) -> Result<(), FhirError> {
    let spec = &catalog::CAPACITES;
    let places = text_column(spec, frame, "lieu_id")?;
    let (mut offers, mut establishments, mut finess) = (Vec::with_capacity(places.len()), Vec::with_capacity(places.len()), Vec::with_capacity(places.len()));
    for (offer, establishment, number) in places.iter().map(|l| l.map_or((None, None, None), |l| links.of_place(l))) {
        offers.push(offer);
        establishments.push(establishment);
        finess.push(number);
    }
    for (name, values) in [("offre_id", offers), ("entite_geographique_id", establishments), ("finess_eg", finess)] {
        frame.replace(name, Column::new(name.into(), values)).map_err(|source| TableError::Polars { table: spec.name, source })?;
    }
    Ok(())
}
