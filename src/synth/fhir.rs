//! Builders for the FHIR JSON pieces all resources share (meta, extensions, references, addresses,
//! telecoms and contacts) and for the quirks real servers add (http systems, unknown extensions,
//! narrative), so each resource module only says what is specific to it.

use rand::Rng;
use serde_json::{json, Map, Value};

use super::codes::{ext, system, CodeBook, Coding, NOS_HTTP, NOS_HTTPS};
use super::context::{pick, weighted, Ctx};
use super::geo::{Commune, Region};
use super::names::{STREET_NAMES, STREET_TYPES};

/// Base of `fullUrl` in the export bundles, as ANS's production server writes it.
pub const BASE_URL: &str = "https://api-fhir.ror.esante.gouv.fr/ws-diffusion-fhir/fhir";

/// An object built key by key, so keys come out in the order FHIR lists them.
pub struct Object(Map<String, Value>);

impl Object {
    pub fn new() -> Self {
        Object(Map::new())
    }

    pub fn set(&mut self, key: &str, value: Value) -> &mut Self {
        self.0.insert(key.to_string(), value);
        self
    }

    pub fn set_opt(&mut self, key: &str, value: Option<Value>) -> &mut Self {
        if let Some(v) = value {
            self.0.insert(key.to_string(), v);
        }
        self
    }

    pub fn build(self) -> Value {
        Value::Object(self.0)
    }
}

/// The start of every resource: type, id, meta (lastUpdated, profile, region tag) and, for the few
/// resources that have one, a narrative.
pub fn header(
    resource_type: &str,
    id: &str,
    last_updated: &str,
    profile: &str,
    region: &str,
    quirks: &Quirks,
) -> Object {
    let mut o = Object::new();
    o.set("resourceType", json!(resource_type))
        .set("id", json!(id))
        .set(
            "meta",
            json!({
                "lastUpdated": last_updated,
                "profile": [profile],
                "tag": [{"system": system::REGION, "code": region}],
            }),
        );
    if quirks.narrative {
        let div = format!(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>Narratif généré</b> : {resource_type} {id}</p></div>"
        );
        o.set("text", json!({"status": "generated", "div": div}));
    }
    o
}

/// A simple extension: `{"url": …, "value[x]": …}`.
pub fn ext_value(url: &str, value_key: &str, value: Value) -> Value {
    let mut o = Object::new();
    o.set("url", json!(url)).set(value_key, value);
    o.build()
}

pub fn ext_concept(url: &str, coding: &Coding) -> Value {
    ext_value(url, "valueCodeableConcept", coding.concept())
}

/// A complex extension, written `extension` first as ANS's IG Publisher writes them.
pub fn ext_complex(url: &str, parts: Vec<Value>) -> Value {
    json!({"extension": parts, "url": url})
}

pub fn reference(resource_type: &str, id: &str) -> Value {
    json!({"reference": format!("{resource_type}/{id}")})
}

pub fn creation_date(created: &str) -> Value {
    ext_value(ext::META_CREATION_DATE, "valueDateTime", json!(created))
}

/// What a real server does that a careful reader must tolerate, each about one resource in twenty.
pub struct Quirks {
    /// Write NOS systems with `http://` instead of `https://`.
    pub http_systems: bool,
    /// Add an extension no profile defines.
    pub unknown_extension: bool,
    /// Add a generated narrative.
    pub narrative: bool,
}

impl Quirks {
    pub fn draw<R: Rng>(rng: &mut R) -> Self {
        Quirks {
            http_systems: rng.random_bool(0.05),
            unknown_extension: rng.random_bool(0.05),
            narrative: rng.random_bool(0.05),
        }
    }

    pub fn add_extension(&self, extensions: &mut Vec<Value>) {
        if self.unknown_extension {
            extensions.push(ext_value(
                ext::UNKNOWN,
                "valueString",
                json!("valeur non documentée"),
            ));
        }
    }

    /// Finish a resource: apply the http variant to every NOS system if drawn.
    pub fn finish(&self, mut resource: Value) -> Value {
        if self.http_systems {
            downgrade_systems(&mut resource);
        }
        resource
    }
}

fn downgrade_systems(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "system" {
                    if let Value::String(s) = v {
                        if let Some(rest) = s.strip_prefix(NOS_HTTPS) {
                            *s = format!("{NOS_HTTP}{rest}");
                        }
                    }
                } else {
                    downgrade_systems(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(downgrade_systems),
        _ => {}
    }
}

/// Round to six decimals (about 10 cm), as geocoders deliver coordinates.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A postal address in a real commune, with a position near the commune's centre.
#[derive(Clone, Debug)]
pub struct Address {
    pub number: u32,
    pub street_type: (&'static str, &'static str),
    pub street: &'static str,
    pub commune: &'static Commune,
    pub lat: f64,
    pub lon: f64,
}

impl Address {
    pub fn random<R: Rng>(rng: &mut R, commune: &'static Commune) -> Self {
        Address {
            number: rng.random_range(1..=180),
            street_type: *pick(rng, &STREET_TYPES),
            street: STREET_NAMES[rng.random_range(0..STREET_NAMES.len())],
            commune,
            lat: round6(commune.lat + rng.random_range(-0.02..0.02)),
            lon: round6(commune.lon + rng.random_range(-0.02..0.02)),
        }
    }

    /// The same site a few metres away (another building of the same EG).
    pub fn nearby<R: Rng>(&self, rng: &mut R) -> Self {
        Address {
            lat: round6(self.lat + rng.random_range(-0.001..0.001)),
            lon: round6(self.lon + rng.random_range(-0.001..0.001)),
            ..self.clone()
        }
    }

    pub fn line(&self) -> String {
        format!("{} {} {}", self.number, self.street_type.1, self.street)
    }

    /// The FHIR Address with ANS's ADXP line extensions; EGs also carry their geolocation on it.
    pub fn value(&self, with_geolocation: bool) -> Value {
        let mut o = Object::new();
        if with_geolocation {
            o.set(
                "extension",
                json!([ext_complex(
                    ext::GEOLOCATION,
                    vec![
                        ext_value("latitude", "valueDecimal", json!(self.lat)),
                        ext_value("longitude", "valueDecimal", json!(self.lon)),
                    ]
                )]),
            );
        }
        o.set("line", json!([self.line()]))
            .set(
                "_line",
                json!([{"extension": [
                    ext_value(ext::ADXP_HOUSE_NUMBER, "valueString", json!(self.number.to_string())),
                    ext_value(ext::ADXP_STREET_NAME_TYPE, "valueString", json!(self.street_type.0)),
                    ext_value(ext::ADXP_STREET_NAME_BASE, "valueString", json!(self.street)),
                ]}]),
            )
            .set("city", json!(self.commune.name))
            .set("postalCode", json!(self.commune.postal_code));
        o.build()
    }
}

/// Ways to reach someone: the TRE_R200 channel and the FHIR ContactPoint system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Mobile,
    Landline,
    Email,
    Web,
    Fax,
    AlertPhone,
    AlertEmail,
}

impl Channel {
    fn code_index(self) -> usize {
        match self {
            Channel::Mobile => 0,
            Channel::Landline => 1,
            Channel::Email => 2,
            Channel::Web => 3,
            Channel::Fax => 5,
            Channel::AlertPhone => 7,
            Channel::AlertEmail => 8,
        }
    }

    fn fhir_system(self) -> &'static str {
        match self {
            Channel::Mobile | Channel::Landline | Channel::AlertPhone => "phone",
            Channel::Email | Channel::AlertEmail => "email",
            Channel::Web => "url",
            Channel::Fax => "fax",
        }
    }
}

/// A telecom and its confidentiality level (1 accès libre, 2 restreint, 3 très restreint).
pub struct Telecom {
    pub channel: Channel,
    pub level: u8,
    pub value: String,
}

/// A landline number of the region, in one of the spellings found in the ROR.
fn landline<R: Rng>(rng: &mut R, region: &Region) -> String {
    let missing = 10usize.saturating_sub(region.phone_prefix.len());
    let mut digits = region.phone_prefix.to_string();
    for _ in 0..missing {
        digits.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    spell(rng, &digits)
}

fn spell<R: Rng>(rng: &mut R, digits: &str) -> String {
    let pairs: Vec<&str> = digits
        .as_bytes()
        .chunks(2)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    match rng.random_range(0..3) {
        0 => digits.to_string(),
        1 => pairs.join(" "),
        _ => pairs.join("."),
    }
}

/// Levels are drawn 75 % libre, 20 % restreint, 5 % très restreint, and never below the level of the
/// contact that holds the telecom (a telecom of a restricted contact is restricted too).
pub fn draw_level<R: Rng>(rng: &mut R, at_least: u8) -> u8 {
    let own = [1u8, 2, 3][weighted(rng, &[75, 20, 5])];
    own.max(at_least)
}

/// A telecom value. At level 2 or 3 the value is a canary (recorded in the context), at level 1 a
/// plausible public number or address: tests rely on exactly that split.
pub fn telecom<R: Rng>(
    ctx: &mut Ctx,
    rng: &mut R,
    region: &Region,
    channel: Channel,
    level: u8,
    owner: &str,
    seq: u32,
) -> Telecom {
    let value = if level >= 2 {
        let canary = match channel {
            Channel::Email | Channel::AlertEmail => {
                format!("CANARI.restreint.{owner}.{seq}@canari.invalid")
            }
            Channel::Web => format!("https://canari.invalid/CANARI/{owner}/{seq}"),
            _ => format!("CANARI-TEL-{owner}-{seq}"),
        };
        ctx.canary(canary)
    } else {
        match channel {
            Channel::Mobile => {
                let mut digits = String::from(if rng.random_bool(0.5) { "06" } else { "07" });
                for _ in 0..8 {
                    digits.push(char::from(b'0' + rng.random_range(0..10u8)));
                }
                spell(rng, &digits)
            }
            Channel::Landline | Channel::Fax | Channel::AlertPhone => landline(rng, region),
            Channel::Email | Channel::AlertEmail => {
                let local = pick(
                    rng,
                    &["accueil", "contact", "secretariat", "admissions", "rdv"],
                );
                format!("{local}.{owner}@exemple-sante.fr")
            }
            Channel::Web => format!("https://www.exemple-sante.fr/etablissements/{owner}"),
        }
    };
    Telecom {
        channel,
        level,
        value,
    }
}

fn level_coding(codes: &CodeBook, level: u8) -> &Coding {
    &codes.confidentiality[usize::from(level.clamp(1, 3) - 1)]
}

/// A ContactPoint with ANS's channel and confidentiality extensions (Organization contacts,
/// Practitioner telecoms).
pub fn contact_point(codes: &CodeBook, t: &Telecom) -> Value {
    json!({
        "extension": [
            ext_concept(ext::TELECOM_CHANNEL, &codes.channel[t.channel.code_index()]),
            ext_concept(ext::TELECOM_CONFIDENTIALITY, level_coding(codes, t.level)),
        ],
        "system": t.channel.fhir_system(),
        "value": t.value,
    })
}

/// An Organization.contact: purpose, contact confidentiality level, telecoms.
pub fn organization_contact(
    codes: &CodeBook,
    purpose: &Coding,
    level: u8,
    telecoms: &[Telecom],
) -> Value {
    json!({
        "extension": [ext_concept(ext::CONTACT_CONFIDENTIALITY, level_coding(codes, level))],
        "purpose": purpose.concept(),
        "telecom": telecoms.iter().map(|t| contact_point(codes, t)).collect::<Vec<_>>(),
    })
}

/// A `ror-healthcareservice-contact` extension, as in ANS's HealthcareService example.
pub fn offer_contact(codes: &CodeBook, purpose: &Coding, level: u8, telecoms: &[Telecom]) -> Value {
    let mut parts = vec![
        ext_concept("purposeContact", purpose),
        ext_concept(ext::CONFIDENTIALITY, level_coding(codes, level)),
    ];
    for t in telecoms {
        parts.push(ext_complex(
            ext::HS_CONTACT_TELECOM,
            vec![
                ext_concept(ext::TELECOM_CHANNEL, &codes.channel[t.channel.code_index()]),
                ext_concept(ext::TELECOM_CONFIDENTIALITY, level_coding(codes, t.level)),
                ext_value("telecomAddress", "valueString", json!(t.value)),
            ],
        ));
    }
    ext_complex(ext::HS_CONTACT, parts)
}

/// A structure identifier with its TRE_G07 type.
pub fn structure_identifier(type_coding: &Coding, system: &str, value: &str) -> Value {
    json!({"type": type_coding.concept(), "system": system, "value": value})
}
