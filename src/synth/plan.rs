//! How many of each entity a snapshot holds, which region each belongs to, and the skeleton of each
//! region (its EJs and EGs with the index ranges of their sites, internal organisations and offers).
//! Only the skeleton is kept in memory; offers, roles and practitioners are recomputed from indices.

use std::ops::Range;

use rand::Rng;

use super::codes::{Kind, EG_CATEGORY_CABINET_GROUPE};
use super::context::{pick, weighted, Rngs, Stream};
use super::fhir::Address;
use super::geo::{Commune, Region};
use super::identifiers;
use super::names::{de, PLEASANT_NAMES};

/// Volumes of a national snapshot (scale 1).
pub struct Counts {
    pub ej: u64,
    pub eg: u64,
    pub oi: u64,
    pub locations: u64,
    pub offers: u64,
    pub roles: u64,
}

pub const NATIONAL: Counts = Counts {
    ej: 15_000,
    eg: 60_000,
    oi: 75_000,
    locations: 500_000,
    offers: 1_000_000,
    roles: 1_000_000,
};

/// Practitioners per role: 1,000,000 roles held by about 700,000 practitioners nationally.
pub const PRACTITIONERS_PER_ROLE: f64 = 0.7;

/// Largest scale accepted: beyond it, generated ids of one type would run into the next type's block.
pub const MAX_SCALE: f64 = 50.0;

/// First generated id of each type. Blocks are far above ANS's example ids (999999, 888888, 4947,
/// 1215, 2524, 9597, 1234564), so generated ids never collide with them or with each other.
pub const EJ_ID_BASE: u64 = 100_000_000;
pub const EG_ID_BASE: u64 = 110_000_000;
pub const OI_ID_BASE: u64 = 120_000_000;
pub const LOCATION_ID_BASE: u64 = 200_000_000;
pub const OFFER_ID_BASE: u64 = 300_000_000;
pub const ROLE_ID_BASE: u64 = 400_000_000;
pub const PRACTITIONER_ID_BASE: u64 = 500_000_000;

pub fn scaled(scale: f64) -> Counts {
    let s = |n: u64| ((n as f64) * scale).round().max(1.0) as u64;
    Counts {
        ej: s(NATIONAL.ej),
        eg: s(NATIONAL.eg),
        oi: s(NATIONAL.oi),
        locations: s(NATIONAL.locations),
        offers: s(NATIONAL.offers),
        roles: s(NATIONAL.roles),
    }
}

/// Split `total` in proportion to `weights`, exactly (cumulative rounding, integer arithmetic).
fn split(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut cumulative: u128 = 0;
    let mut previous: u64 = 0;
    weights
        .iter()
        .map(|w| {
            cumulative += u128::from(*w);
            // cumulative <= sum, so the quotient is at most `total` and fits in a u64.
            let upto = (u128::from(total) * cumulative / sum) as u64;
            let n = upto - previous;
            previous = upto;
            n
        })
        .collect()
}

fn ranges(counts: &[u64]) -> Vec<Range<u64>> {
    let mut start = 0;
    counts
        .iter()
        .map(|n| {
            let r = start..start + n;
            start += n;
            r
        })
        .collect()
}

/// The global index ranges of one region's entities of each type.
#[derive(Clone, Debug)]
pub struct RegionAlloc {
    pub region: &'static Region,
    pub ej: Range<u64>,
    pub eg: Range<u64>,
    pub oi: Range<u64>,
    pub locations: Range<u64>,
    pub offers: Range<u64>,
    pub roles: Range<u64>,
}

/// Share the volumes between regions by population. Every region gets at least one EJ, each EJ at
/// least one EG and each EG at least one place, so that every offer has somewhere to be; roles follow
/// offers and internal organisations follow EGs.
pub fn allocate(regions: &[&'static Region], totals: &Counts) -> Vec<RegionAlloc> {
    let population: Vec<u64> = regions.iter().map(|r| r.population_k).collect();
    let ej: Vec<u64> = split(totals.ej, &population)
        .into_iter()
        .map(|n| n.max(1))
        .collect();
    let eg: Vec<u64> = split(totals.eg, &population)
        .into_iter()
        .zip(&ej)
        .map(|(n, e)| n.max(*e))
        .collect();
    let locations: Vec<u64> = split(totals.locations, &population)
        .into_iter()
        .zip(&eg)
        .map(|(n, e)| n.max(*e))
        .collect();
    let offers = split(totals.offers, &population);
    let oi = split(totals.oi, &eg);
    let roles = split(totals.roles, &offers);
    let (ej, eg, oi, locations, offers, roles) = (
        ranges(&ej),
        ranges(&eg),
        ranges(&oi),
        ranges(&locations),
        ranges(&offers),
        ranges(&roles),
    );
    regions
        .iter()
        .enumerate()
        .map(|(i, region)| RegionAlloc {
            region,
            ej: ej[i].clone(),
            eg: eg[i].clone(),
            oi: oi[i].clone(),
            locations: locations[i].clone(),
            offers: offers[i].clone(),
            roles: roles[i].clone(),
        })
        .collect()
}

/// An entité juridique of the region.
pub struct EjInfo {
    pub global: u64,
    pub kind: Kind,
    pub commune: &'static Commune,
    /// Index of the EJ within its region: its FINESS serial.
    pub local: u64,
}

impl EjInfo {
    pub fn id(&self) -> String {
        (EJ_ID_BASE + self.global).to_string()
    }
}

/// An entité géographique, with everything its children need from it.
pub struct EgInfo {
    pub id: String,
    pub parent_ref: String,
    pub kind: Kind,
    /// Index into `CodeBook::eg_category[kind]`.
    pub category: usize,
    pub finess: String,
    pub siret: String,
    pub name: String,
    pub alias: String,
    pub address: Address,
    pub locations: Range<u64>,
    pub oi: Range<u64>,
    pub offers: Range<u64>,
}

/// One region's skeleton.
pub struct RegionPlan {
    pub alloc: RegionAlloc,
    pub ejs: Vec<EjInfo>,
    pub egs: Vec<EgInfo>,
}

/// What an offer is, decided before anything else about it so roles can be sorted into the public
/// and restricted practitioner pools ahead of generation.
#[derive(Clone, Copy, Debug)]
pub struct OfferProfile {
    pub eg: usize,
    /// Index into `CodeBook::champ`.
    pub champ: usize,
    pub sensitive: bool,
    /// Global index of the internal organisation providing the offer, if not the EG itself.
    pub provider_oi: Option<u64>,
    /// Global index of the offer's place, one of its EG's.
    pub location: u64,
}

impl OfferProfile {
    /// Whether the identity of the professionals of this offer is public: ville offers, never
    /// sensitive units.
    pub fn practitioners_public(&self) -> bool {
        self.champ == super::codes::CHAMP_VILLE && !self.sensitive
    }
}

/// Share of offers that are sensitive units.
pub const SENSITIVE_SHARE: f64 = 0.03;

impl RegionPlan {
    pub fn build(alloc: RegionAlloc, rngs: &Rngs, eg_categories: [usize; 3]) -> Self {
        let region = alloc.region;
        let ej_count = alloc.ej.end - alloc.ej.start;
        let mut ejs = Vec::new();
        let mut ej_weights = Vec::new();
        for (local, global) in alloc.ej.clone().enumerate() {
            let mut rng = rngs.entity(Stream::EjPlan, global);
            let kind = [Kind::Hospital, Kind::MedicoSocial, Kind::Ville]
                [weighted(&mut rng, &[15, 35, 50])];
            let commune = pick(&mut rng, region.communes);
            let weight = (rng.random_range(0.3..2.5) * 1000.0) as u64;
            ej_weights.push(weight);
            ejs.push(EjInfo {
                global,
                kind,
                commune,
                local: local as u64,
            });
        }
        // Each EJ has at least one EG; the others are shared by weight.
        let extra = split(alloc.eg.end - alloc.eg.start - ej_count, &ej_weights);
        let mut egs = Vec::new();
        let mut owner = Vec::new();
        for (e, n) in extra.iter().enumerate() {
            for position in 0..(n + 1) {
                owner.push((e, position));
            }
        }
        let mut location_w = Vec::new();
        let mut oi_w = Vec::new();
        let mut offer_w = Vec::new();
        for ((e, position), global) in owner.into_iter().zip(alloc.eg.clone()) {
            let ej = &ejs[e];
            let mut rng = rngs.entity(Stream::EgPlan, global);
            let kind = ej.kind;
            let commune = if rng.random_bool(0.5) {
                ej.commune
            } else {
                pick(&mut rng, region.communes)
            };
            let category = rng.random_range(0..eg_categories[kind.index()]);
            let address = Address::random(&mut rng, commune);
            let local = ej_count + (global - alloc.eg.start);
            let finess = identifiers::finess(&commune.finess_prefix(), local);
            let siret = identifiers::siret(&identifiers::siren(ej.global), position + 1);
            let (name, alias) = eg_names(&mut rng, kind, category, commune, &address);
            let jitter = rng.random_range(0.5..1.5);
            // Relative volumes per kind: hospitals have many places, services and offers, ville sites
            // few; the offer weights give about 25 % ville, 25 % médico-social and 50 % hospital offers.
            let (loc, oi, offer) = match kind {
                Kind::Hospital => (6.0, 8.0, 3.33),
                Kind::MedicoSocial => (1.5, 0.8, 0.6),
                Kind::Ville => (0.4, 0.0, 0.5),
            };
            location_w.push((loc * jitter * 1000.0) as u64);
            oi_w.push((oi * jitter * 1000.0) as u64);
            offer_w.push((offer * jitter * 1000.0) as u64);
            egs.push(EgInfo {
                id: (EG_ID_BASE + global).to_string(),
                parent_ref: ej.id(),
                kind,
                category,
                finess,
                siret,
                name,
                alias,
                address,
                locations: 0..0,
                oi: 0..0,
                offers: 0..0,
            });
        }
        let eg_count = egs.len() as u64;
        let extra_locations = split(
            (alloc.locations.end - alloc.locations.start).saturating_sub(eg_count),
            &location_w,
        );
        let location_counts: Vec<u64> = extra_locations.iter().map(|n| n + 1).collect();
        if oi_w.iter().all(|w| *w == 0) {
            oi_w.iter_mut().for_each(|w| *w = 1);
        }
        let oi_counts = split(alloc.oi.end - alloc.oi.start, &oi_w);
        let offer_counts = split(alloc.offers.end - alloc.offers.start, &offer_w);
        let shift = |rs: Vec<Range<u64>>, base: u64| {
            rs.into_iter().map(move |r| r.start + base..r.end + base)
        };
        for (eg, r) in egs
            .iter_mut()
            .zip(shift(ranges(&location_counts), alloc.locations.start))
        {
            eg.locations = r;
        }
        for (eg, r) in egs
            .iter_mut()
            .zip(shift(ranges(&oi_counts), alloc.oi.start))
        {
            eg.oi = r;
        }
        for (eg, r) in egs
            .iter_mut()
            .zip(shift(ranges(&offer_counts), alloc.offers.start))
        {
            eg.offers = r;
        }
        RegionPlan { alloc, ejs, egs }
    }

    fn owner(&self, index: u64, range: fn(&EgInfo) -> &Range<u64>) -> usize {
        // Ranges are contiguous and ascending and `index` lies in the region's range, which their
        // union covers, so the first EG whose range ends after `index` exists and holds it.
        self.egs
            .partition_point(|eg| range(eg).end <= index)
            .min(self.egs.len().saturating_sub(1))
    }

    pub fn eg_of_location(&self, index: u64) -> usize {
        self.owner(index, |eg| &eg.locations)
    }

    pub fn eg_of_oi(&self, index: u64) -> usize {
        self.owner(index, |eg| &eg.oi)
    }

    pub fn eg_of_offer(&self, index: u64) -> usize {
        self.owner(index, |eg| &eg.offers)
    }

    pub fn offer_profile(&self, rngs: &Rngs, index: u64) -> OfferProfile {
        let eg = self.eg_of_offer(index);
        let mut rng = rngs.entity(Stream::OfferProfile, index);
        let champ = match self.egs[eg].kind {
            Kind::Ville => super::codes::CHAMP_VILLE,
            Kind::MedicoSocial => super::codes::CHAMP_MS,
            Kind::Hospital => [
                super::codes::CHAMP_MCO,
                super::codes::CHAMP_SSR,
                super::codes::CHAMP_PSY,
            ][weighted(&mut rng, &[60, 25, 15])],
        };
        let sensitive = rng.random_bool(SENSITIVE_SHARE);
        let info = &self.egs[eg];
        // Hospital and médico-social offers are often attached to a service or unit of the site.
        let provider_oi =
            if champ != super::codes::CHAMP_VILLE && !info.oi.is_empty() && rng.random_bool(0.7) {
                Some(rng.random_range(info.oi.clone()))
            } else {
                None
            };
        // Every EG has at least one place (see `build`), so the range is never empty.
        let location = rng
            .random_range(info.locations.start..info.locations.end.max(info.locations.start + 1));
        OfferProfile {
            eg,
            champ,
            sensitive,
            provider_oi,
            location,
        }
    }

    /// The offer a role is attached to: any offer of the region.
    pub fn role_offer(&self, rngs: &Rngs, role: u64) -> u64 {
        let offers = &self.alloc.offers;
        let mut rng = rngs.entity(Stream::RoleTarget, role);
        offers.start + rng.random_range(0..(offers.end - offers.start).max(1))
    }
}

/// The dénomination and the nom opérationnel of an EG, from its kind and category.
pub fn eg_names<R: Rng>(
    rng: &mut R,
    kind: Kind,
    category: usize,
    commune: &Commune,
    address: &Address,
) -> (String, String) {
    let pleasant = pick(rng, &PLEASANT_NAMES);
    let town = commune.name;
    let name = match kind {
        Kind::Hospital => match category {
            0 => format!("Centre hospitalier {}", de(town)),
            1 => format!("Centre hospitalier régional {}", de(town)),
            2 => format!("Hôpital local {}", de(town)),
            3 => format!("Clinique chirurgicale {pleasant}"),
            4 => format!("Clinique médicale {pleasant}"),
            5 => format!("Polyclinique {pleasant}"),
            6 => format!("Centre hospitalier spécialisé {}", de(town)),
            _ => format!("Centre de soins de suite {pleasant}"),
        },
        Kind::MedicoSocial => match category {
            0 => format!("EHPAD {pleasant}"),
            1 => format!("IME {pleasant}"),
            2 => format!("SSIAD {}", de(town)),
            3 => format!("MAS {pleasant}"),
            4 => format!("FAM {pleasant}"),
            5 => format!("ESAT {pleasant}"),
            6 => format!("Résidence autonomie {pleasant}"),
            7 => format!("Foyer de vie {pleasant}"),
            _ => format!("SPASAD {}", de(town)),
        },
        Kind::Ville => match category {
            0 => format!("Maison de santé pluriprofessionnelle {}", de(town)),
            1 | 2 => format!("Centre de santé {pleasant}"),
            EG_CATEGORY_CABINET_GROUPE => format!("Cabinet de groupe {pleasant}"),
            _ => format!(
                "Cabinet médical {} {}",
                address.street_type.1, address.street
            ),
        },
    };
    let alias = format!("{} {}", name.to_uppercase(), town.to_uppercase());
    (name, alias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::geo::regions_for_scale;

    #[test]
    fn split_is_exact() {
        assert_eq!(split(10, &[1, 1, 1]), vec![3, 3, 4]);
        assert_eq!(split(7, &[0, 5, 0]), vec![0, 7, 0]);
        assert_eq!(split(5, &[0, 0]), vec![0, 0]);
        assert_eq!(
            split(1_000_000, &[12_300, 3_370]).iter().sum::<u64>(),
            1_000_000
        );
    }

    #[test]
    fn allocation_covers_every_index() {
        for scale in [0.000_001, 0.003, 0.05, 1.0] {
            let regions = regions_for_scale(scale);
            let totals = scaled(scale);
            let allocs = allocate(&regions, &totals);
            assert_eq!(allocs.last().map(|a| a.offers.end), Some(totals.offers));
            assert_eq!(allocs.last().map(|a| a.roles.end), Some(totals.roles));
            for a in &allocs {
                assert!(!a.ej.is_empty() && a.eg.end - a.eg.start >= a.ej.end - a.ej.start);
                assert!(a.locations.end - a.locations.start >= a.eg.end - a.eg.start);
                assert!(a.roles.is_empty() || !a.offers.is_empty());
            }
        }
    }
}
