//! Practitioner and PractitionerRole → professionnels: one row per situation opérationnelle, with
//! the professional's national id and names, and the field of activity of the offer (which decides
//! what Profil 0 may show).

use super::context::Context;
use super::{PractitionerInfo, State};
use crate::fhir::codes::{code_and_label, extension, first_coding};
use crate::fhir::model::{Practitioner, PractitionerRole};
use crate::fhir::FhirError;

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
        practitioner.id.as_str().to_owned(),
        PractitionerInfo {
            id_nat_ps,
            family: name.and_then(|n| n.family.as_deref().map(str::to_owned)),
            given: name.map(|n| n.given.join(" ")).filter(|g| !g.is_empty()),
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
        .set("professionnel_id", practitioner.clone())
        .set("offre_id", offer.clone())
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
    state.pending_roles.push((row, practitioner, offer));
    Ok(())
}

/// Roles learn their professional's identity and their offer's field once both are known. The
/// exercise name of the role wins over the civil name of the Practitioner.
pub(super) fn resolve_roles(state: &mut State) {
    for (mut row, practitioner, offer) in std::mem::take(&mut state.pending_roles) {
        if let Some(info) = practitioner.as_deref().and_then(|p| state.practitioners.get(p)) {
            let kind = info.id_nat_ps.as_deref().and_then(|id| match id.chars().next() {
                Some('8') => Some("RPPS"),
                Some('0') => Some("ADELI"),
                _ => None,
            });
            row.set("id_nat_ps", info.id_nat_ps.clone()).set("type_identifiant", kind);
            if row_is_null(&row, "nom_exercice") {
                row.set("nom_exercice", info.family.clone());
            }
            if row_is_null(&row, "prenom_exercice") {
                row.set("prenom_exercice", info.given.clone());
            }
        }
        let field = offer.as_deref().and_then(|o| state.offer_fields.get(o)).cloned().flatten();
        row.set("offre_champ_activite_code", field);
        state.builders.professionnels.push(row);
    }
}

fn row_is_null(row: &crate::table::Row, column: &str) -> bool {
    row.get(column).is_none_or(|c| c == crate::table::Cell::Null)
}
