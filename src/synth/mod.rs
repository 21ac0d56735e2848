//! Deterministic synthetic ROR snapshots: from a scale, a seed and an instant, a folder shaped like
//! ANS's `$export` output (gzipped FHIR Bundles, one region per file) plus ANS's own example
//! resources, with canary values planted in every restricted free-text field so that tests can prove
//! none of them reaches a public file.
//!
//! Layout of the folder written by [`generate`]:
//!
//! ```text
//! snapshot-info.json            generator, scale, seed, taken_at (the snapshot instant)
//! snapshot-canaries.json        every planted canary string (readers ignore this file)
//! ans-ig/<ANS example>.json     ANS's five example resources, byte for byte
//! export/ror-export-NNNN.json.gz
//! ```
//!
//! Generation streams: only a small skeleton per region (its EJs and EGs) is held in memory; every
//! other resource is computed from its index and written at once.

mod codes;
mod context;
mod fhir;
mod fixtures;
mod geo;
mod identifiers;
mod location;
mod names;
mod offer;
mod organization;
mod plan;
mod practitioner;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{json, Value};

use codes::{CodeBook, Kind, CHAMP_VILLE, EG_CATEGORY_CABINET_GROUPE, SPECIALTY_VILLE_NURSING};
use context::{Ctx, Rngs, Stream};
use fhir::Address;
use plan::{
    EgInfo, RegionPlan, EJ_ID_BASE, LOCATION_ID_BASE, OFFER_ID_BASE, OI_ID_BASE,
    PRACTITIONERS_PER_ROLE,
};
use practitioner::{Identity, PractitionerSlot};
use writer::ExportWriter;

/// Marker contained in every canary string.
pub const CANARY_MARKER: &str = "CANARI";

/// File with the snapshot's parameters; its `taken_at` is the snapshot instant.
pub const INFO_FILE: &str = "snapshot-info.json";
/// File listing every canary planted in the snapshot.
pub const CANARIES_FILE: &str = "snapshot-canaries.json";
/// Folder of ANS's example resources.
pub const ANS_DIR: &str = "ans-ig";
/// Folder of the export bundles.
pub const EXPORT_DIR: &str = "export";

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// 1 is national volume (1,000,000 offers); the committed sample uses 0.003.
    pub scale: f64,
    pub seed: u64,
    /// Created if missing; must be empty.
    pub out_dir: PathBuf,
    /// The snapshot instant; every generated date is before it. Defaults to 2026-11-25T02:00:00Z.
    pub taken_at: Option<DateTime<Utc>>,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct SynthReport {
    /// Every file written, sorted.
    pub files: Vec<PathBuf>,
    /// Resources per type in the whole snapshot (export bundles and ANS's examples).
    pub resources_by_type: BTreeMap<String, u64>,
    /// Total size on disk of the files written.
    pub bytes_written: u64,
    /// Every canary string planted, sorted and deduplicated (also in `snapshot-canaries.json`).
    pub canaries: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth options: {0}")]
    InvalidOptions(String),
    #[error("output directory {} is not empty: give a new or empty directory", path.display())]
    OutDirNotEmpty { path: PathBuf },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("embedded nomenclature {file}: {detail}")]
    Nomenclature { file: &'static str, detail: String },
}

/// The default snapshot instant, 2026-11-25T02:00:00Z.
pub fn default_taken_at() -> DateTime<Utc> {
    // 1_795_572_000 seconds after the epoch is 2026-11-25T02:00:00Z, well inside chrono's range,
    // so `from_timestamp` cannot return None.
    DateTime::from_timestamp(1_795_572_000, 0).unwrap_or_default()
}

/// Write a synthetic snapshot into `options.out_dir`. The same scale, seed and instant give the same
/// bytes on any machine.
pub fn generate(options: &SynthOptions) -> Result<SynthReport, SynthError> {
    let taken_at = validate(options)?;
    let out_dir = options.out_dir.as_path();
    prepare_out_dir(out_dir)?;
    let codes = CodeBook::load()?;
    let rngs = Rngs::new(options.seed);
    let mut ctx = Ctx {
        codes: &codes,
        rngs: &rngs,
        taken_at,
        canaries: Vec::new(),
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut files: Vec<(PathBuf, u64)> = Vec::new();

    let info = json!({
        "generator": "ror-opendata synth",
        "scale": options.scale,
        "seed": options.seed,
        "taken_at": taken_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    });
    files.push(write_json(&out_dir.join(INFO_FILE), &info)?);

    let ans_dir = out_dir.join(ANS_DIR);
    create_dir(&ans_dir)?;
    for fixture in &fixtures::FIXTURES {
        let path = ans_dir.join(fixture.file_name);
        files.push(write_bytes(&path, fixture.text.as_bytes())?);
        *counts.entry(fixture.resource_type.to_string()).or_default() += 1;
    }

    let mut export = ExportWriter::new(out_dir.join(EXPORT_DIR))?;
    let regions = geo::regions_for_scale(options.scale);
    let allocs = plan::allocate(&regions, &plan::scaled(options.scale));
    let category_counts = [
        codes.eg_category[Kind::Hospital.index()].len(),
        codes.eg_category[Kind::MedicoSocial.index()].len(),
        codes.eg_category[Kind::Ville.index()].len(),
    ];
    let mut cursor = PractitionerCursor::default();
    for alloc in allocs {
        let plan = RegionPlan::build(alloc, &rngs, category_counts);
        let mut out = Emitter {
            export: &mut export,
            counts: &mut counts,
        };
        emit_region(&mut ctx, &plan, &mut out, &mut cursor)?;
        export.close()?;
    }
    files.append(&mut export.finish()?);

    let mut canaries = std::mem::take(&mut ctx.canaries);
    canaries.sort_unstable();
    canaries.dedup();
    files.push(write_json(&out_dir.join(CANARIES_FILE), &json!(canaries))?);

    files.sort();
    let bytes_written = files.iter().map(|(_, size)| size).sum();
    Ok(SynthReport {
        files: files.into_iter().map(|(path, _)| path).collect(),
        resources_by_type: counts,
        bytes_written,
        canaries,
    })
}

fn validate(options: &SynthOptions) -> Result<DateTime<Utc>, SynthError> {
    let scale = options.scale;
    if !scale.is_finite() || scale <= 0.0 {
        return Err(SynthError::InvalidOptions(format!(
            "scale must be a positive number, got {scale}"
        )));
    }
    if scale > plan::MAX_SCALE {
        return Err(SynthError::InvalidOptions(format!(
            "scale {scale} is above the largest supported scale, {}",
            plan::MAX_SCALE
        )));
    }
    let taken_at = options.taken_at.unwrap_or_else(default_taken_at);
    if !(1900..=9999).contains(&taken_at.year()) {
        return Err(SynthError::InvalidOptions(format!(
            "taken_at must be between the years 1900 and 9999, got {taken_at}"
        )));
    }
    Ok(taken_at)
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SynthError + 'a {
    move |source| SynthError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(path: &Path) -> Result<(), SynthError> {
    std::fs::create_dir_all(path).map_err(io_error("create directory", path))
}

/// Create the output folder, or accept an existing empty one: a snapshot never mixes with other files.
fn prepare_out_dir(path: &Path) -> Result<(), SynthError> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(SynthError::OutDirNotEmpty {
                path: path.to_path_buf(),
            }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_dir(path),
        Err(e) => Err(io_error("read directory", path)(e)),
    }
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(PathBuf, u64), SynthError> {
    std::fs::write(path, bytes).map_err(io_error("write", path))?;
    Ok((path.to_path_buf(), bytes.len() as u64))
}

fn write_json(path: &Path, value: &Value) -> Result<(PathBuf, u64), SynthError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| SynthError::Json {
        what: path.display().to_string(),
        source,
    })?;
    text.push('\n');
    write_bytes(path, text.as_bytes())
}

/// Where the next region's practitioners start: their ids and their RPPS serials in each pool.
#[derive(Default)]
struct PractitionerCursor {
    global: u64,
    public: u64,
    restricted: u64,
}

/// The export writer and the per-type counts, fed together.
struct Emitter<'a> {
    export: &'a mut ExportWriter,
    counts: &'a mut BTreeMap<String, u64>,
}

impl Emitter<'_> {
    fn push(&mut self, resource_type: &str, id: &str, resource: &Value) -> Result<(), SynthError> {
        self.export.push(resource_type, id, resource)?;
        *self.counts.entry(resource_type.to_string()).or_default() += 1;
        Ok(())
    }
}

/// Indices of the resources added for ANS's examples in the `Special` random stream.
const SPECIAL_HOSPITAL_EG: u64 = 1;
const SPECIAL_CABINET_EG: u64 = 2;
const SPECIAL_HOSPITAL_LOCATION: u64 = 3;
const SPECIAL_CABINET_LOCATION: u64 = 4;
const SPECIAL_NURSE_OFFER: u64 = 5;
const SPECIAL_NURSE: u64 = 6;
/// SIREN index and RPPS serial of the added resources: outside the ranges normal entities use.
const SPECIAL_SIREN_INDEX: u64 = 89_000_000;
const SPECIAL_RPPS_SERIAL: u64 = 89_999_999;

/// The two EGs added so that ANS's examples resolve: 999999 (hospital, under ANS's example EJ) and
/// 4947 (group practice, under the region's first EJ).
fn special_egs(ctx: &Ctx, plan: &RegionPlan) -> [EgInfo; 2] {
    let region = plan.alloc.region;
    let serial =
        (plan.alloc.ej.end - plan.alloc.ej.start) + (plan.alloc.eg.end - plan.alloc.eg.start);
    // Every region lists communes (checked by a test), so the fallback to the first one exists.
    let commune = |cog: &str| {
        region
            .communes
            .iter()
            .find(|c| c.cog == cog)
            .unwrap_or(&region.communes[0])
    };
    let first_ej = plan
        .ejs
        .first()
        .map_or(EJ_ID_BASE, |ej| EJ_ID_BASE + ej.global);
    let first_ej_global = plan.ejs.first().map_or(0, |ej| ej.global);
    let build = |stream_index: u64,
                 kind: Kind,
                 category: usize,
                 cog: &str,
                 local: u64,
                 parent: String,
                 siret: String| {
        let mut rng = ctx.rngs.entity(Stream::Special, stream_index);
        let commune = commune(cog);
        let address = Address::random(&mut rng, commune);
        let (name, alias) = plan::eg_names(&mut rng, kind, category, commune, &address);
        EgInfo {
            id: match stream_index {
                SPECIAL_HOSPITAL_EG => fixtures::HOSPITAL_EG_ID.to_string(),
                _ => fixtures::CABINET_EG_ID.to_string(),
            },
            parent_ref: parent,
            kind,
            category,
            finess: identifiers::finess(&commune.finess_prefix(), local),
            siret,
            name,
            alias,
            address,
            locations: 0..0,
            oi: 0..0,
            offers: 0..0,
        }
    };
    [
        build(
            SPECIAL_HOSPITAL_EG,
            Kind::Hospital,
            0,
            fixtures::HOSPITAL_COG,
            serial,
            fixtures::EXAMPLE_EJ_ID.to_string(),
            identifiers::siret(&identifiers::siren(SPECIAL_SIREN_INDEX), 1),
        ),
        build(
            SPECIAL_CABINET_EG,
            Kind::Ville,
            EG_CATEGORY_CABINET_GROUPE,
            fixtures::CABINET_COG,
            serial + 1,
            first_ej.to_string(),
            identifiers::siret(&identifiers::siren(first_ej_global), 9_999),
        ),
    ]
}

/// Write one region: organisations, places, offers, roles, practitioners (and, in the region of
/// ANS's examples, the resources they refer to).
fn emit_region(
    ctx: &mut Ctx,
    plan: &RegionPlan,
    out: &mut Emitter,
    cursor: &mut PractitionerCursor,
) -> Result<(), SynthError> {
    let region = plan.alloc.region;
    let alloc = &plan.alloc;
    let specials = (region.code == fixtures::REGION).then(|| special_egs(ctx, plan));

    for ej in &plan.ejs {
        let value = organization::ej(ctx, region, ej);
        out.push("Organization", &ej.id(), &value)?;
    }
    for (eg, global) in plan.egs.iter().zip(alloc.eg.clone()) {
        let value = organization::eg(ctx, region, eg, global, Stream::Eg);
        out.push("Organization", &eg.id, &value)?;
    }
    if let Some(specials) = &specials {
        for (eg, index) in specials
            .iter()
            .zip([SPECIAL_HOSPITAL_EG, SPECIAL_CABINET_EG])
        {
            let value = organization::eg(ctx, region, eg, index, Stream::Special);
            out.push("Organization", &eg.id, &value)?;
        }
    }
    for global in alloc.oi.clone() {
        let eg = &plan.egs[plan.eg_of_oi(global)];
        let value = organization::oi(ctx, region, eg, global);
        out.push("Organization", &(OI_ID_BASE + global).to_string(), &value)?;
    }

    let location_count = alloc.locations.end - alloc.locations.start;
    for global in alloc.locations.clone() {
        let eg = &plan.egs[plan.eg_of_location(global)];
        let id = (LOCATION_ID_BASE + global).to_string();
        let value = location::location(
            ctx,
            region,
            eg,
            &id,
            global - alloc.locations.start + 1,
            Stream::Location,
            global,
        );
        out.push("Location", &id, &value)?;
    }
    if let Some([hospital, cabinet]) = &specials {
        for (eg, id, serial, index) in [
            (
                hospital,
                fixtures::HOSPITAL_LOCATION_ID,
                location_count + 1,
                SPECIAL_HOSPITAL_LOCATION,
            ),
            (
                cabinet,
                fixtures::CABINET_LOCATION_ID,
                location_count + 2,
                SPECIAL_CABINET_LOCATION,
            ),
        ] {
            let value = location::location(ctx, region, eg, id, serial, Stream::Special, index);
            out.push("Location", id, &value)?;
        }
    }

    for global in alloc.offers.clone() {
        let profile = plan.offer_profile(ctx.rngs, global);
        let eg = &plan.egs[profile.eg];
        let spec = offer::OfferSpec {
            id: offer_id(global),
            serial: global - alloc.offers.start + 1,
            provider_id: profile
                .provider_oi
                .map_or_else(|| eg.id.clone(), |oi| (OI_ID_BASE + oi).to_string()),
            location_id: (LOCATION_ID_BASE + profile.location).to_string(),
            champ: profile.champ,
            sensitive: profile.sensitive,
            ville_specialty: None,
            eg_name: &eg.name,
            town: eg.address.commune.name,
            stream: Stream::Offer,
            index: global,
        };
        let value = offer::offer(ctx, region, &spec);
        out.push("HealthcareService", &spec.id, &value)?;
    }
    if let Some([_, cabinet]) = &specials {
        let spec = offer::OfferSpec {
            id: fixtures::NURSE_OFFER_ID.to_string(),
            serial: alloc.offers.end - alloc.offers.start + 1,
            provider_id: cabinet.id.clone(),
            location_id: fixtures::CABINET_LOCATION_ID.to_string(),
            champ: CHAMP_VILLE,
            sensitive: false,
            ville_specialty: Some(SPECIALTY_VILLE_NURSING),
            eg_name: &cabinet.name,
            town: cabinet.address.commune.name,
            stream: Stream::Special,
            index: SPECIAL_NURSE_OFFER,
        };
        let value = offer::offer(ctx, region, &spec);
        out.push("HealthcareService", &spec.id, &value)?;
    }

    emit_people(ctx, plan, out, cursor)?;

    if specials.is_some() {
        let nurse = Identity {
            id: fixtures::NURSE_PRACTITIONER_ID.to_string(),
            restricted: false,
            family: "Tenor".to_string(),
            given: "Mylène".to_string(),
            female: true,
            id_nat_ps: format!("8{}", identifiers::rpps_public(SPECIAL_RPPS_SERIAL)),
            profession: 4,
            savoir_faire: Some(1),
        };
        let value = practitioner::practitioner(ctx, region, &nurse, SPECIAL_NURSE, Stream::Special);
        out.push("Practitioner", &nurse.id, &value)?;
    }
    Ok(())
}

fn offer_id(global: u64) -> String {
    (OFFER_ID_BASE + global).to_string()
}

/// Roles and practitioners of a region. Roles are first sorted into the two pools (public ville
/// practitioners, restricted others) so that each pool's practitioners can be numbered before any
/// role is written: the first roles of a pool take practitioners in order (so each practitioner has
/// a role), the rest take one at random.
fn emit_people(
    ctx: &mut Ctx,
    plan: &RegionPlan,
    out: &mut Emitter,
    cursor: &mut PractitionerCursor,
) -> Result<(), SynthError> {
    let region = plan.alloc.region;
    let roles = plan.alloc.roles.clone();
    let public_of = |ctx: &Ctx, role: u64| {
        let offer = plan.role_offer(ctx.rngs, role);
        (
            offer,
            plan.offer_profile(ctx.rngs, offer).practitioners_public(),
        )
    };
    let (mut public_roles, mut restricted_roles) = (0u64, 0u64);
    for role in roles.clone() {
        if public_of(ctx, role).1 {
            public_roles += 1;
        } else {
            restricted_roles += 1;
        }
    }
    let pool_size = |roles: u64| {
        if roles == 0 {
            0
        } else {
            ((roles as f64 * PRACTITIONERS_PER_ROLE).round() as u64).max(1)
        }
    };
    let (public_pool, restricted_pool) = (pool_size(public_roles), pool_size(restricted_roles));
    let slot = |local: u64| {
        let restricted = local >= public_pool;
        PractitionerSlot {
            global: cursor.global + local,
            restricted,
            serial: if restricted {
                cursor.restricted + (local - public_pool)
            } else {
                cursor.public + local
            },
        }
    };

    let (mut public_seen, mut restricted_seen) = (0u64, 0u64);
    for role in roles {
        let (offer, public) = public_of(ctx, role);
        let (seen, pool, offset) = if public {
            (&mut public_seen, public_pool, 0)
        } else {
            (&mut restricted_seen, restricted_pool, public_pool)
        };
        // A role exists in a pool only if the pool counted it, so `pool` is at least 1 here.
        let local = if *seen < pool {
            *seen
        } else {
            ctx.rngs
                .entity(Stream::RoleAssign, role)
                .random_range(0..pool.max(1))
        };
        *seen += 1;
        let who = practitioner::identity(ctx, region, slot(offset + local), false);
        let value = practitioner::role(ctx, region, role, &who, &offer_id(offer));
        out.push(
            "PractitionerRole",
            &(plan::ROLE_ID_BASE + role).to_string(),
            &value,
        )?;
    }

    for local in 0..(public_pool + restricted_pool) {
        let s = slot(local);
        let who = practitioner::identity(ctx, region, s, true);
        let value = practitioner::practitioner(ctx, region, &who, s.global, Stream::Practitioner);
        out.push("Practitioner", &who.id, &value)?;
    }
    cursor.global += public_pool + restricted_pool;
    cursor.public += public_pool;
    cursor.restricted += restricted_pool;
    Ok(())
}
