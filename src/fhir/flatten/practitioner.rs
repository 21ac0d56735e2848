//! Practitioner and PractitionerRole → professionnels: one row per situation opérationnelle, with
//! the professional's national id and names, and the field of activity of the offer (which decides
//! what Profil 0 may show).

use super::context::Context;
use std::collections::HashMap;

use super::{PractitionerInfo, State};
use crate::fhir::codes::{code_and_label, extension, first_coding};
use crate::fhir::model::{Practitioner, PractitionerRole};
use crate::fhir::FhirError;
use crate::table::spill::SpilledTables;
use crate::table::{catalog, fill_text_nulls, text_column, TableError};

use polars::prelude::DataFrame;

const ID_NAT_PS_SYSTEM: &str = "urn:oid:1.2.250.1.71.4.2.1";

pub(super) fn visit_practitioner(state: &mut State, ctx: &Context<'_>, practitioner: Practitioner<'_>) -> Result<(), FhirError> {
    state.note_update(ctx, practitioner.meta.last_updated.as_deref())?;
    let id_nat_ps = practitioner
        .identifier
        .iter()
        .find(|i| i.system.as_deref() == Some(ID_NAT_PS_SYSTEM))
        .or_else(|| practitioner.identifier.first())
        .and_then(|i| i.value.as_deref().map(str::to_owned));
    let name = practitioner.name.first();
    state.practitioners.insert(
        practitioner.id.as_str().into(),
        PractitionerInfo {
            id_nat_ps: id_nat_ps.map(String::into_boxed_str),
            family: name.and_then(|n| n.family.as_deref().map(Box::from)),
            given: name.map(|n| n.given.join(" ")).filter(|g| !g.is_empty()).map(String::into_boxed_str),
        },
    );
    Ok(())
}

pub(super) fn visit_role(state: &mut State, ctx: &Context<'_>, role: PractitionerRole<'_>, file: usize) -> Result<(), FhirError> {
    let updated = state.note_update(ctx, role.meta.last_updated.as_deref())?;
    let practitioner = state.reference(ctx, file, "practitioner", role.practitioner.as_ref(), "Practitioner")?;
    let mut offers = Vec::new();
    for (i, service) in role.healthcare_service.iter().enumerate() {
        offers.push(state.reference(ctx, file, &format!("healthcareService[{i}]"), Some(service), "HealthcareService")?);
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
/// the ids their rows carry. The exercise name of the role wins over the civil name of the
/// Practitioner: the civil names only fill the exercise names left null.
pub(super) fn resolve_roles(practitioners: &HashMap<Box<str>, PractitionerInfo>, spilled: &SpilledTables, frame: &mut DataFrame) -> Result<(), FhirError> {
    let spec = &catalog::PROFESSIONNELS;
    let polars = |source| TableError::Polars { table: catalog::OFFRES.name, source };
    let pros = text_column(spec, frame, "professionnel_id")?;
    let infos: Vec<Option<&PractitionerInfo>> = pros.iter().map(|p| p.and_then(|p| practitioners.get(p))).collect();
    // The offers' fields, read from the offres table already written rather than kept aside for
    // every offer: its two columns only.
    let offer_ids = spilled.column(catalog::OFFRES.name, "identifiant_ror")?;
    let offer_fields = spilled.column(catalog::OFFRES.name, "champ_activite_code")?;
    let field_of: HashMap<&str, &str> = offer_ids.str().map_err(polars)?.iter().zip(offer_fields.str().map_err(polars)?.iter()).filter_map(|(o, f)| Some((o?, f?))).collect();
    let offers = text_column(spec, frame, "offre_id")?;
    let fields: Vec<Option<&str>> = offers.iter().map(|o| o.and_then(|o| field_of.get(o).copied())).collect();
    let id_nat_ps: Vec<Option<&str>> = infos.iter().map(|i| i.and_then(|i| i.id_nat_ps.as_deref())).collect();
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
    let families: Vec<Option<&str>> = infos.iter().map(|i| i.and_then(|i| i.family.as_deref())).collect();
    let givens: Vec<Option<&str>> = infos.iter().map(|i| i.and_then(|i| i.given.as_deref())).collect();
    fill_text_nulls(spec, frame, "id_nat_ps", id_nat_ps)?;
    fill_text_nulls(spec, frame, "type_identifiant", kinds)?;
    fill_text_nulls(spec, frame, "nom_exercice", families)?;
    fill_text_nulls(spec, frame, "prenom_exercice", givens)?;
    fill_text_nulls(spec, frame, "offre_champ_activite_code", fields)?;
    Ok(())
}
