//! Location resources (lieux de réalisation): identifier, status, function, address with the commune's
//! COG code, position, managing EG, housing capacity, and the restricted bed capacities and specific
//! equipment, with the sub-extensions ANS's `ror-location-supported-capacity` defines.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Value};

use super::codes::{ext, profile, CodeBook, Kind};
use super::context::{before, pick, rfc3339, stamp, weighted, Ctx, Stream, HOUR};
use super::fhir::{
    creation_date, ext_complex, ext_concept, ext_value, header, reference, Address, Quirks,
};
use super::geo::Region;
use super::names::{OI_THEMES, PLEASANT_NAMES};
use super::plan::EgInfo;

/// A Location of an EG. `serial` numbers it within its region (`RR/nnnn`).
pub fn location(
    ctx: &mut Ctx,
    region: &Region,
    eg: &EgInfo,
    id: &str,
    serial: u64,
    stream: Stream,
    index: u64,
) -> Value {
    let mut rng = ctx.rngs.entity(stream, index);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let codes = ctx.codes;

    // Most places are on the EG's site; some are elsewhere in the same commune.
    let address = if rng.random_bool(0.8) {
        eg.address.nearby(&mut rng)
    } else {
        Address::random(&mut rng, eg.address.commune)
    };
    let status = [2usize, 1, 0][weighted(&mut rng, &[92, 5, 3])];
    let fhir_status = ["inactive", "suspended", "active"][status];
    let name = match eg.kind {
        Kind::Hospital => format!(
            "Bâtiment {} - {} niveau {}",
            ["A", "B", "C", "D", "E"][rng.random_range(0..5)],
            pick(&mut rng, &OI_THEMES),
            rng.random_range(0..6)
        ),
        Kind::MedicoSocial => format!("Résidence {}", pick(&mut rng, &PLEASANT_NAMES)),
        Kind::Ville => format!("Cabinet - {}", address.line()),
    };

    let mut extensions = vec![
        ext_concept(
            ext::COMMUNE_COG,
            &CodeBook::commune(address.commune.cog, address.commune.name),
        ),
        creation_date(&stamp.created),
        ext_concept(ext::LOCATION_STATUS, &codes.location_status[status]),
    ];
    if eg.kind == Kind::MedicoSocial && rng.random_bool(0.6) {
        for _ in 0..rng.random_range(1..=2) {
            extensions.push(ext_complex(
                ext::RESIDENTIAL_CAPACITY,
                vec![
                    ext_concept("residentialType", pick(&mut rng, &codes.residential_type)),
                    ext_value(
                        "residentialNumber",
                        "valueInteger",
                        json!(rng.random_range(5..=80)),
                    ),
                ],
            ));
        }
    }
    let records = match eg.kind {
        Kind::Hospital if rng.random_bool(0.8) => {
            capacities(&mut rng, codes, ctx.taken_at, region, 0)
        }
        Kind::MedicoSocial if rng.random_bool(0.5) => {
            capacities(&mut rng, codes, ctx.taken_at, region, 1)
        }
        _ => Vec::new(),
    };
    extensions.extend(records);
    if eg.kind == Kind::Hospital && rng.random_bool(0.15) {
        let first = rng.random_range(0..codes.equipment.len());
        let count = rng.random_range(1..=2);
        for k in 0..count {
            extensions.push(ext_complex(
                ext::EQUIPMENT,
                vec![
                    ext_concept(
                        "equipmentType",
                        &codes.equipment[(first + k) % codes.equipment.len()],
                    ),
                    ext_value(
                        "nbInService",
                        "valueInteger",
                        json!(rng.random_range(1..=3)),
                    ),
                ],
            ));
        }
    }
    quirks.add_extension(&mut extensions);

    let mut o = header(
        "Location",
        id,
        &stamp.last_updated,
        profile::LOCATION,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set(
            "identifier",
            json!([{"type": codes.location_id_type.concept(), "value": format!("{}/{:04}", region.code, serial)}]),
        )
        .set("status", json!(fhir_status))
        .set("name", json!(name))
        .set("type", json!([codes.location_function[0].concept()]))
        .set("address", address.value(false))
        .set("position", json!({"longitude": address.lon, "latitude": address.lat}))
        .set("managingOrganization", reference("Organization", &eg.id));
    quirks.finish(o.build())
}

/// Between 0 and 12 capacity records: installed, available, occupied, and sometimes closed,
/// additional, reserved or forecast ones, each with its source, update date and temporary assignment.
/// `capacity_type` is 0 (lits) for hospitals, 1 (places) for médico-social sites.
fn capacities<R: Rng>(
    rng: &mut R,
    codes: &CodeBook,
    taken_at: DateTime<Utc>,
    region: &Region,
    capacity_type: usize,
) -> Vec<Value> {
    let installed: i64 = rng.random_range(4..=40);
    let occupied = rng.random_range(0..=installed);
    let available = installed - occupied;
    let updated = before(rng, taken_at, 60, 72 * HOUR);
    let updated = rfc3339(rng, updated, region);
    let source = rng.random_range(0..codes.capacity_source.len());
    // (status index in TRE_R330 order, count, temporality index)
    let mut wanted: Vec<(usize, i64, usize)> =
        vec![(0, installed, 0), (1, available, 0), (2, occupied, 0)];
    if rng.random_bool(0.3) {
        wanted.push((4, rng.random_range(1..=4), 0));
    }
    if rng.random_bool(0.25) {
        wanted.push((5, rng.random_range(1..=6), 0));
    }
    if rng.random_bool(0.2) {
        wanted.push((3, rng.random_range(0..=3), 0));
    }
    for temporality in 1..=4 {
        if rng.random_bool(0.15) {
            wanted.push((1, rng.random_range(0..=installed), temporality));
        }
    }
    let keep = rng.random_range(0..=wanted.len().min(12));
    wanted
        .into_iter()
        .take(keep)
        .map(|(status, count, temporality)| {
            let mut parts = vec![
                ext_concept("capacityType", &codes.capacity_type[capacity_type]),
                ext_concept("capacityStatus", &codes.capacity_status[status]),
                ext_concept("temporalityCapacity", &codes.temporality[temporality]),
                ext_value("nbCapacity", "valueInteger", json!(count)),
                ext_concept("capacitySourceType", &codes.capacity_source[source]),
            ];
            if rng.random_bool(0.25) {
                parts.push(ext_concept(
                    "genderCapacityAvailable",
                    pick(rng, &codes.gender),
                ));
            }
            parts.push(ext_value(
                "capacityUpdateDate",
                "valueDateTime",
                json!(updated),
            ));
            if status == 4 {
                parts.push(ext_concept(
                    "capacityClosingType",
                    pick(rng, &codes.closing),
                ));
            }
            if status == 5 {
                parts.push(ext_concept(
                    "additionalBedType",
                    pick(rng, &codes.additional_bed),
                ));
            }
            if rng.random_bool(0.03) {
                parts.push(ext_concept("crisisType", pick(rng, &codes.crisis)));
            }
            let assignment = weighted(rng, &[90, 4, 6]);
            parts.push(ext_concept(
                "temporaryAssignement",
                &codes.assignment[assignment],
            ));
            ext_complex(ext::SUPPORTED_CAPACITY, parts)
        })
        .collect()
}
