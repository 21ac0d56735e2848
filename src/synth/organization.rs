//! Organization resources, shaped like ANS's ROR examples: entités juridiques (EJ), entités
//! géographiques (EG, with contacts and the restricted ORSAN level and helipad flag) and organisations
//! internes (OI).

use rand::Rng;
use serde_json::{json, Value};

use super::codes::{
    ext, profile, system, Kind, PURPOSE_ADMISSION, PURPOSE_ALERTE_SSE, PURPOSE_DIRECTION,
    PURPOSE_GARDE, PURPOSE_SECRETARIAT, PURPOSE_STANDARD,
};
use super::context::{pick, stamp, weighted, Ctx, Stream};
use super::fhir::{
    creation_date, draw_level, ext_concept, ext_value, header, organization_contact, reference,
    structure_identifier, telecom, Address, Channel, Quirks, Telecom,
};
use super::geo::Region;
use super::identifiers;
use super::names::{de, OI_THEMES, PLEASANT_NAMES};
use super::plan::{EgInfo, EjInfo, OI_ID_BASE};

/// An entité juridique: idNatStruct, FINESS and SIREN, statut juridique, raison sociale, address.
pub fn ej(ctx: &mut Ctx, region: &Region, ej: &EjInfo) -> Value {
    let mut rng = ctx.rngs.entity(Stream::Ej, ej.global);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let id = ej.id();
    // Statuts juridiques (TRE_R72 order: 1 Etat, 13 EPCH, 60 association, 72 SARL, 73 SA) by kind.
    let statut = match ej.kind {
        Kind::Hospital => weighted(&mut rng, &[5, 60, 0, 15, 20]),
        Kind::MedicoSocial => weighted(&mut rng, &[0, 15, 60, 15, 10]),
        Kind::Ville => weighted(&mut rng, &[0, 0, 10, 80, 10]),
    };
    let town = ej.commune.name;
    let pleasant = pick(&mut rng, &PLEASANT_NAMES);
    let name = match (ej.kind, statut) {
        (Kind::Hospital, 0) => format!("Hôpital d'instruction des armées {pleasant}"),
        (Kind::Hospital, 1) => format!("Centre hospitalier {}", de(town)),
        (Kind::Hospital, _) => format!(
            "Clinique {pleasant} {}",
            if statut == 3 { "SARL" } else { "SA" }
        ),
        (Kind::MedicoSocial, 1) => format!("EHPAD public {}", de(town)),
        (Kind::MedicoSocial, 2) => format!("Association {pleasant} {}", de(town)),
        (Kind::MedicoSocial, _) => format!("Groupe {pleasant} Seniors"),
        (Kind::Ville, 2) => format!("Association Santé {}", de(town)),
        (Kind::Ville, _) => format!("SISA Pôle de santé {}", de(town)),
    };
    let finess = identifiers::finess(&ej.commune.finess_prefix(), ej.local);
    let siren = identifiers::siren(ej.global);
    let sirene = if rng.random_bool(0.5) {
        system::SIRENE_HTTP
    } else {
        system::SIRENE_HTTPS
    };
    let address = Address::random(&mut rng, ej.commune);
    let codes = ctx.codes;

    let mut extensions = vec![creation_date(&stamp.created)];
    quirks.add_extension(&mut extensions);
    let mut o = header(
        "Organization",
        &id,
        &stamp.last_updated,
        profile::ORGANIZATION,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set(
            "identifier",
            json!([
                structure_identifier(
                    &codes.id_type_structure[0],
                    system::ID_NAT_STRUCT,
                    &format!("1{finess}")
                ),
                structure_identifier(&codes.id_type_structure[1], system::FINESS, &finess),
                structure_identifier(&codes.id_type_structure[2], sirene, &siren),
            ]),
        )
        .set("type", json!([codes.statut_juridique[statut].concept()]))
        .set("name", json!(name))
        .set("address", json!([address.value(false)]));
    quirks.finish(o.build())
}

/// An entité géographique: identifiers, category, dénomination and nom opérationnel, geolocated
/// address, contacts with confidentiality levels, and on some hospitals the restricted ORSAN level
/// and helipad flag.
pub fn eg(ctx: &mut Ctx, region: &Region, eg: &EgInfo, stream_index: u64, stream: Stream) -> Value {
    let mut rng = ctx.rngs.entity(stream, stream_index);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let codes = ctx.codes;

    let mut extensions = vec![creation_date(&stamp.created)];
    if eg.kind == Kind::Hospital {
        if rng.random_bool(0.4) {
            extensions.push(ext_concept(
                ext::ORSAN,
                &codes.orsan[rng.random_range(0..3)],
            ));
        }
        if rng.random_bool(0.3) {
            extensions.push(ext_value(
                ext::DROP_ZONE,
                "valueBoolean",
                json!(rng.random_bool(0.4)),
            ));
        }
    }
    quirks.add_extension(&mut extensions);

    let contacts = eg_contacts(ctx, &mut rng, region, eg);
    let category = &codes.eg_category[eg.kind.index()];
    let mut o = header(
        "Organization",
        &eg.id,
        &stamp.last_updated,
        profile::ORGANIZATION,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set(
            "identifier",
            json!([
                structure_identifier(
                    &codes.id_type_structure[0],
                    system::ID_NAT_STRUCT,
                    &format!("1{}", eg.finess)
                ),
                structure_identifier(&codes.id_type_structure[1], system::FINESS, &eg.finess),
                structure_identifier(&codes.id_type_structure[3], system::SIRENE_HTTP, &eg.siret),
            ]),
        )
        .set(
            "type",
            json!([category[eg.category.min(category.len().saturating_sub(1))].concept()]),
        )
        .set("name", json!(eg.name))
        .set("alias", json!([eg.alias]))
        .set("address", json!([eg.address.value(true)]))
        .set("partOf", reference("Organization", &eg.parent_ref))
        .set("contact", json!(contacts));
    quirks.finish(o.build())
}

/// One to three contacts: the switchboard (public), then some of admissions, secretariat, direction,
/// on-call and the crisis alert line (restricted).
fn eg_contacts<R: Rng>(ctx: &mut Ctx, rng: &mut R, region: &Region, eg: &EgInfo) -> Vec<Value> {
    let codes = ctx.codes;
    let mut seq = 0u32;
    let mut contacts = Vec::new();
    let mut standard = vec![telecom(ctx, rng, region, Channel::Landline, 1, &eg.id, seq)];
    seq += 1;
    if rng.random_bool(0.4) {
        standard.push(telecom(ctx, rng, region, Channel::Web, 1, &eg.id, seq));
        seq += 1;
    }
    contacts.push(organization_contact(
        codes,
        &codes.purpose[PURPOSE_STANDARD],
        1,
        &standard,
    ));

    // (purpose, contact level, channels)
    let others: [(usize, u8, &[Channel]); 5] = [
        (PURPOSE_ADMISSION, 1, &[Channel::Landline, Channel::Email]),
        (PURPOSE_SECRETARIAT, 1, &[Channel::Landline, Channel::Fax]),
        (PURPOSE_DIRECTION, 2, &[Channel::Landline, Channel::Email]),
        (PURPOSE_GARDE, 2, &[Channel::Mobile]),
        (
            PURPOSE_ALERTE_SSE,
            3,
            &[Channel::AlertPhone, Channel::AlertEmail],
        ),
    ];
    let extra = rng.random_range(0..=2);
    for _ in 0..extra {
        let (purpose, contact_level, channels) = *pick(rng, &others);
        let mut telecoms: Vec<Telecom> = Vec::new();
        for channel in channels.iter().take(rng.random_range(1..=channels.len())) {
            let level = draw_level(rng, contact_level);
            telecoms.push(telecom(ctx, rng, region, *channel, level, &eg.id, seq));
            seq += 1;
        }
        contacts.push(organization_contact(
            codes,
            &codes.purpose[purpose],
            contact_level,
            &telecoms,
        ));
    }
    contacts
}

/// An organisation interne: national OI identifier (`<FINESS EG>-<n>`), type, name, parent EG.
pub fn oi(ctx: &mut Ctx, region: &Region, eg: &EgInfo, global: u64) -> Value {
    let mut rng = ctx.rngs.entity(Stream::Oi, global);
    let quirks = Quirks::draw(&mut rng);
    let stamp = stamp(&mut rng, ctx.taken_at, region);
    let id = (OI_ID_BASE + global).to_string();
    let n = global - eg.oi.start + 1;
    let oi_type = weighted(&mut rng, &[15, 35, 40, 10]);
    let theme = pick(&mut rng, &OI_THEMES);
    let name = match oi_type {
        0 => format!("Pôle {theme}"),
        1 => format!("Service {theme}"),
        2 => format!("UF {:04} {theme}", rng.random_range(1000..10_000)),
        _ => format!(
            "Unité {theme} {}",
            ["A", "B", "C", "D"][rng.random_range(0..4)]
        ),
    };
    let mut extensions = vec![creation_date(&stamp.created)];
    quirks.add_extension(&mut extensions);
    let mut o = header(
        "Organization",
        &id,
        &stamp.last_updated,
        profile::ORGANIZATION,
        region.code,
        &quirks,
    );
    o.set("extension", json!(extensions))
        .set(
            "identifier",
            json!([{"system": system::OI, "value": format!("{}-{n}", eg.finess)}]),
        )
        .set("type", json!([ctx.codes.oi_type[oi_type].concept()]))
        .set("name", json!(name))
        .set("partOf", reference("Organization", &eg.id));
    quirks.finish(o.build())
}
