//! HealthcareService resources (offres opérationnelles), in the two shapes of ANS's examples: the
//! hospital and médico-social shape of HealthcareService-1234564 and the ville shape of
//! ror-healthcareservice-exemple-ville. Sensitive units get a canary name.

use rand::Rng;
use serde_json::{json, Value};

use super::codes::{
    ext, profile, system, CHAMP_MCO, CHAMP_MS, CHAMP_PSY, CHAMP_VILLE, PURPOSE_ALERTE_H24,
    PURPOSE_MEDICAL, PURPOSE_PRISE_RDV, PURPOSE_SECRETARIAT, PURPOSE_SOIGNANT, PURPOSE_STANDARD,
    SPECIALTY_VILLE_WEIGHTS,
};
use super::context::{pick, stamp, weighted, Ctx, Stream};
use super::fhir::{
    creation_date, draw_level, ext_complex, ext_value, header, offer_contact, reference, telecom,
    Channel, Quirks,
};
use super::geo::Region;

/// Everything that places an offer: who provides it, where, what kind it is.
pub struct OfferSpec<'a> {
    pub id: String,
    /// Serial within the region, for the `RR/nnnnnnn` identifier.
    pub serial: u64,
    pub provider_id: String,
    pub location_id: String,
    pub champ: usize,
    pub sensitive: bool,
    /// For ville offers: a fixed activité opérationnelle (index into the ville list), else drawn.
    pub ville_specialty: Option<usize>,
    pub eg_name: &'a str,
    pub town: &'a str,
    pub stream: Stream,
    pub index: u64,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub fn offer(ctx: &mut Ctx, region: &Region, spec: &OfferSpec) -> Value {
    let mut rng = ctx.rngs.entity(spec.stream, spec.index);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let codes = ctx.codes;
    let ville = spec.champ == CHAMP_VILLE;

    let specialty = match (ville, spec.ville_specialty) {
        (true, Some(i)) => {
            &codes.specialty[CHAMP_VILLE][i.min(codes.specialty[CHAMP_VILLE].len() - 1)]
        }
        (true, None) => &codes.specialty[CHAMP_VILLE][weighted(&mut rng, &SPECIALTY_VILLE_WEIGHTS)],
        (false, _) => pick(&mut rng, &codes.specialty[spec.champ]),
    };
    let mode = if ville {
        &codes.mode[CHAMP_VILLE][weighted(&mut rng, &[95, 5])]
    } else {
        pick(&mut rng, &codes.mode[spec.champ])
    };
    let name = if spec.sensitive {
        ctx.canary(format!(
            "CANARI UNITE SENSIBLE {} {}",
            spec.id, specialty.display
        ))
    } else if ville {
        let kind = match specialty.code.as_str() {
            "437" => "Cabinet de médecine générale",
            "339" => "Cabinet de kinésithérapie",
            "287" => "Cabinet infirmier",
            "101" => "Cabinet dentaire",
            _ => "Consultation",
        };
        format!("{kind} - {} ({})", specialty.display, spec.town)
    } else if rng.random_bool(0.5) {
        format!(
            "{:04}  {} - {}",
            rng.random_range(1000..10_000),
            specialty.display,
            mode.display.to_uppercase()
        )
    } else {
        format!("{} - {}", specialty.display, spec.eg_name)
    };

    let mut extensions = vec![
        creation_date(&stamp.created),
        ext_value(ext::SENSITIVE_UNIT, "valueBoolean", json!(spec.sensitive)),
        patient_type(&mut rng, ville, spec.champ),
    ];
    for _ in 0..rng.random_range(1..=2) {
        extensions.push(contact(
            ctx,
            &mut rng,
            region,
            &spec.id,
            ville,
            extensions.len() as u32,
        ));
    }
    quirks.add_extension(&mut extensions);

    let mut characteristic = vec![mode.concept()];
    if (spec.champ == CHAMP_MS && rng.random_bool(0.7))
        || (spec.champ == CHAMP_PSY && rng.random_bool(0.1))
    {
        let public = if spec.champ == CHAMP_PSY {
            &codes.public[3]
        } else {
            pick(&mut rng, &codes.public[..3])
        };
        characteristic.push(public.concept());
    }

    let mut o = header(
        "HealthcareService",
        &spec.id,
        &stamp.last_updated,
        profile::HEALTHCARE_SERVICE,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set(
            "identifier",
            json!([{"type": codes.offer_id_type.concept(), "value": format!("{}/{:07}", region.code, 1_000_000 + spec.serial)}]),
        )
        .set("providedBy", reference("Organization", &spec.provider_id));
    if !ville {
        o.set(
            "category",
            json!([pick(&mut rng, &codes.category[spec.champ]).concept()]),
        );
    }
    o.set("type", json!([codes.champ[spec.champ].concept()]))
        .set("specialty", json!([specialty.concept()]))
        .set(
            "location",
            json!([reference("Location", &spec.location_id)]),
        )
        .set("name", json!(name))
        .set("characteristic", json!(characteristic))
        .set(
            "availableTime",
            json!(available_time(
                ctx,
                &mut rng,
                ville,
                &mode.code,
                &stamp.created_date
            )),
        );
    quirks.finish(o.build())
}

/// The age range of patients; ville offers use the ville example's bare range, others UCUM years.
fn patient_type<R: Rng>(rng: &mut R, ville: bool, champ: usize) -> Value {
    let range = if ville {
        json!({"low": {"value": 0}, "high": {"value": 120}})
    } else {
        let (low, high) = match champ {
            CHAMP_MCO => *pick(rng, &[(0, 150), (18, 150), (0, 18), (15, 150)]),
            CHAMP_MS => *pick(rng, &[(60, 150), (0, 20), (20, 60), (18, 150)]),
            _ => *pick(rng, &[(18, 150), (0, 18), (16, 150)]),
        };
        let unit = |v: i32| json!({"value": v, "system": system::UCUM_UNIT, "code": "a"});
        json!({"low": unit(low), "high": unit(high)})
    };
    ext_complex(
        ext::PATIENT_TYPE,
        vec![ext_value("ageRange", "valueRange", range)],
    )
}

/// A `ror-healthcareservice-contact`: a purpose, the contact's level and one or two telecoms, each at
/// least as restricted as the contact.
fn contact<R: Rng>(
    ctx: &mut Ctx,
    rng: &mut R,
    region: &Region,
    owner: &str,
    ville: bool,
    seq: u32,
) -> Value {
    let codes = ctx.codes;
    // (purpose, contact level): most offer contacts are public; medical lines are restricted and
    // the round-the-clock alert line very restricted.
    let choices: &[(usize, u8)] = if ville {
        &[
            (PURPOSE_PRISE_RDV, 1),
            (PURPOSE_SECRETARIAT, 1),
            (PURPOSE_MEDICAL, 2),
        ]
    } else {
        &[
            (PURPOSE_STANDARD, 1),
            (PURPOSE_PRISE_RDV, 1),
            (PURPOSE_SECRETARIAT, 1),
            (PURPOSE_MEDICAL, 2),
            (PURPOSE_SOIGNANT, 2),
            (PURPOSE_ALERTE_H24, 3),
        ]
    };
    let weights: &[u32] = if ville {
        &[70, 20, 10]
    } else {
        &[30, 25, 20, 10, 10, 5]
    };
    let (purpose, contact_level) = choices[weighted(rng, weights).min(choices.len() - 1)];
    let channels: &[Channel] = if purpose == PURPOSE_ALERTE_H24 {
        &[Channel::AlertPhone, Channel::AlertEmail]
    } else {
        &[Channel::Landline, Channel::Email, Channel::Mobile]
    };
    let count = rng.random_range(1..=2);
    let telecoms: Vec<_> = (0..count)
        .map(|k| {
            let channel = channels[k % channels.len()];
            let level = draw_level(rng, contact_level);
            telecom(ctx, rng, region, channel, level, owner, seq * 10 + k as u32)
        })
        .collect();
    offer_contact(codes, &codes.purpose[purpose], contact_level, &telecoms)
}

/// Opening hours. Hospital and médico-social offers follow HealthcareService-1234564 (one entry per
/// day with the day-number, validity-period and type-of-time extensions, and daysOfWeek); ville
/// offers follow the ville example (type of time and day number only, consultations on appointment).
fn available_time<R: Rng>(
    ctx: &Ctx,
    rng: &mut R,
    ville: bool,
    mode: &str,
    since: &str,
) -> Vec<Value> {
    let codes = ctx.codes;
    if ville {
        let saturday = rng.random_bool(0.3);
        let (start, end) = *pick(
            rng,
            &[
                ("08:00:00", "19:00:00"),
                ("09:00:00", "19:00:00"),
                ("08:30:00", "18:30:00"),
            ],
        );
        let mut entries = Vec::new();
        for day in 1..=(if saturday { 6 } else { 5 }) {
            let (start, end) = if day == 6 {
                ("09:00:00", "12:00:00")
            } else {
                (start, end)
            };
            entries.push(json!({
                "extension": [
                    ext_value(ext::TYPE_OF_TIME, "valueCodeableConcept", codes.type_of_time[2].concept()),
                    ext_value(ext::DAYS_OF_WEEK, "valueInteger", json!(day)),
                ],
                "availableStartTime": start,
                "availableEndTime": end,
            }));
        }
        if rng.random_bool(0.3) {
            entries.push(json!({
                "extension": [
                    ext_value(ext::TYPE_OF_TIME, "valueCodeableConcept", codes.type_of_time[1].concept()),
                    ext_value(ext::DAYS_OF_WEEK, "valueInteger", json!(rng.random_range(1..=5))),
                ],
                "availableStartTime": "08:00:00",
                "availableEndTime": "10:00:00",
            }));
        }
        return entries;
    }
    // Round-the-clock for full hospitalisation, emergencies and housing; office hours otherwise.
    let round_the_clock = matches!(mode, "28" | "33" | "13" | "46" | "49" | "50");
    let days = if round_the_clock { 7 } else { 5 };
    let (start, end) = if round_the_clock {
        ("00:00:00", "23:59:00")
    } else {
        *pick(
            rng,
            &[
                ("08:00:00", "18:00:00"),
                ("08:30:00", "17:30:00"),
                ("09:00:00", "17:00:00"),
            ],
        )
    };
    (1..=days)
        .map(|day| {
            json!({
                "extension": [
                    ext_value(ext::DAYS_OF_WEEK, "valueInteger", json!(day)),
                    ext_value(ext::OPENING_CLOSING_DATE, "valuePeriod", json!({"start": since})),
                    ext_value(ext::TYPE_OF_TIME, "valueCodeableConcept", codes.type_of_time[0].concept()),
                ],
                "daysOfWeek": [DAYS[day - 1]],
                "availableStartTime": start,
                "availableEndTime": end,
            })
        })
        .collect()
}
