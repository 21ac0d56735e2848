//! Practitioner and PractitionerRole resources. A practitioner is either public (all roles on
//! non-sensitive ville offers: ordinary name, RPPS starting 810) or restricted (roles on hospital,
//! médico-social or sensitive offers: canary names, RPPS starting 8100999); the two never mix.

use rand::Rng;
use serde_json::{json, Value};

use super::codes::{ext, profile, system, Coding};
use super::context::{pick, stamp, weighted, Ctx, Stream};
use super::fhir::{
    contact_point, creation_date, ext_complex, ext_concept, ext_value, header, reference, telecom,
    Channel, Quirks,
};
use super::geo::Region;
use super::identifiers;
use super::names::{FAMILY_NAMES, GIVEN_NAMES_FEMALE, GIVEN_NAMES_MALE};
use super::plan::{PRACTITIONER_ID_BASE, ROLE_ID_BASE};

/// Who a practitioner is: recomputed identically for the Practitioner and for each of its roles.
pub struct Identity {
    pub id: String,
    pub restricted: bool,
    pub family: String,
    pub given: String,
    pub female: bool,
    pub id_nat_ps: String,
    /// Index into `CodeBook::profession`.
    pub profession: usize,
    /// Index into `CodeBook::savoir_faire`, if any.
    pub savoir_faire: Option<usize>,
}

/// Where a practitioner sits among the snapshot's practitioners.
#[derive(Clone, Copy, Debug)]
pub struct PractitionerSlot {
    /// Global index: the id.
    pub global: u64,
    pub restricted: bool,
    /// Index among practitioners of the same pool: the RPPS (or ADELI) serial.
    pub serial: u64,
}

/// The identity of the practitioner in `slot`. Canary names are recorded only when `record` is set
/// (once, with the Practitioner itself), so roles recomputing the identity do not repeat them.
pub fn identity(ctx: &mut Ctx, region: &Region, slot: PractitionerSlot, record: bool) -> Identity {
    let mut rng = ctx.rngs.entity(Stream::PractitionerProfile, slot.global);
    let female = rng.random_bool(0.6);
    let family = *pick(&mut rng, &FAMILY_NAMES);
    let given = *pick(
        &mut rng,
        if female {
            &GIVEN_NAMES_FEMALE
        } else {
            &GIVEN_NAMES_MALE
        },
    );
    // TRE_G15 order: médecin, pharmacien, chirurgien-dentiste, sage-femme, infirmier, kinésithérapeute.
    let profession = if slot.restricted {
        weighted(&mut rng, &[60, 5, 5, 5, 20, 5])
    } else {
        weighted(&mut rng, &[45, 5, 10, 5, 20, 15])
    };
    let savoir_faire = match profession {
        0 => Some(weighted(&mut rng, &[70, 5, 15, 10])),
        _ if rng.random_bool(0.5) => Some(1),
        _ => None,
    };
    let adeli = !slot.restricted && rng.random_bool(0.05);
    let id_nat_ps = if slot.restricted {
        format!("8{}", identifiers::rpps_restricted(slot.serial))
    } else if adeli {
        let dep = pick(&mut rng, region.communes).departement();
        format!("0{}", identifiers::adeli(dep, 6, slot.serial))
    } else {
        format!("8{}", identifiers::rpps_public(slot.serial))
    };
    let id = (PRACTITIONER_ID_BASE + slot.global).to_string();
    let (family, given) = if slot.restricted {
        let (family, given) = (format!("CANARI-{family}-{id}"), format!("CANARI-{given}"));
        if record {
            ctx.canaries.push(family.clone());
            ctx.canaries.push(given.clone());
        }
        (family, given)
    } else {
        (family.to_string(), given.to_string())
    };
    Identity {
        id,
        restricted: slot.restricted,
        family,
        given,
        female,
        id_nat_ps,
        profession,
        savoir_faire,
    }
}

/// A Practitioner: idNat_PS, name, gender, and telecoms (the professional email is always at level 2,
/// so a canary; public practitioners may also show a level-1 office phone).
pub fn practitioner(
    ctx: &mut Ctx,
    region: &Region,
    who: &Identity,
    stream_index: u64,
    stream: Stream,
) -> Value {
    let mut rng = ctx.rngs.entity(stream, stream_index);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let mut telecoms = Vec::new();
    if rng.random_bool(0.7) {
        telecoms.push(telecom(
            ctx,
            &mut rng,
            region,
            Channel::Email,
            2,
            &who.id,
            0,
        ));
    }
    if !who.restricted && rng.random_bool(0.4) {
        telecoms.push(telecom(
            ctx,
            &mut rng,
            region,
            Channel::Landline,
            1,
            &who.id,
            1,
        ));
    }
    let codes = ctx.codes;
    let mut extensions = vec![creation_date(&stamp.created)];
    quirks.add_extension(&mut extensions);
    let mut o = header(
        "Practitioner",
        &who.id,
        &stamp.last_updated,
        profile::PRACTITIONER,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set(
            "identifier",
            json!([{"system": system::ID_NAT_PS, "value": who.id_nat_ps}]),
        )
        .set(
            "name",
            json!([{"family": who.family, "given": [who.given]}]),
        );
    if !telecoms.is_empty() {
        o.set(
            "telecom",
            json!(telecoms
                .iter()
                .map(|t| contact_point(codes, t))
                .collect::<Vec<_>>()),
        );
    }
    o.set("gender", json!(if who.female { "female" } else { "male" }));
    quirks.finish(o.build())
}

/// A PractitionerRole tying a practitioner to an offer: exercise name, mode of practice, profession
/// and savoir-faire.
pub fn role(ctx: &mut Ctx, region: &Region, global: u64, who: &Identity, offer_id: &str) -> Value {
    let mut rng = ctx.rngs.entity(Stream::Role, global);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let codes = ctx.codes;
    // TRE_R23 order: libéral, salarié, bénévole.
    let mode = if who.restricted {
        weighted(&mut rng, &[10, 85, 5])
    } else {
        weighted(&mut rng, &[90, 9, 1])
    };
    let id = (ROLE_ID_BASE + global).to_string();
    let mut extensions = vec![
        creation_date(&stamp.created),
        ext_complex(
            ext::PRACTITIONER_ROLE_NAME,
            vec![
                ext_value("exerciseFirstName", "valueString", json!(who.given)),
                ext_value("exerciseLastName", "valueString", json!(who.family)),
            ],
        ),
        ext_concept(ext::UNIT_EXERCISE_MODE, &codes.exercise_mode[mode]),
    ];
    quirks.add_extension(&mut extensions);
    let specialty: Option<&Coding> = who.savoir_faire.and_then(|i| codes.savoir_faire.get(i));
    let mut o = header(
        "PractitionerRole",
        &id,
        &stamp.last_updated,
        profile::PRACTITIONER_ROLE,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set("practitioner", reference("Practitioner", &who.id))
        .set(
            "code",
            json!([codes.profession[who.profession.min(codes.profession.len() - 1)].concept()]),
        )
        .set_opt("specialty", specialty.map(|c| json!([c.concept()])))
        .set(
            "healthcareService",
            json!([reference("HealthcareService", offer_id)]),
        );
    quirks.finish(o.build())
}
