//! What every generator shares: the random streams (one per entity, so any entity can be recomputed
//! from its index alone), the snapshot instant and the dates derived from it, the code book, and the
//! list of planted canaries.

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::codes::CodeBook;
use super::geo::Region;

/// The independent random streams. Each entity draws from its own ChaCha stream, numbered by kind and
/// index: a child can recompute what it needs of its parent (a name, a FINESS) without the generator
/// keeping every parent in memory, and adding a field to one kind never shifts the values of another.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    EjPlan = 1,
    EgPlan,
    Ej,
    Eg,
    Oi,
    Location,
    OfferProfile,
    Offer,
    RoleTarget,
    RoleAssign,
    Role,
    PractitionerProfile,
    Practitioner,
    Special,
}

pub struct Rngs {
    base: ChaCha8Rng,
}

impl Rngs {
    pub fn new(seed: u64) -> Self {
        Rngs {
            base: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The stream of one entity. Indices stay below 2^56 (volumes are bounded by MAX_SCALE), so kind
    /// and index never overlap in the stream number.
    pub fn entity(&self, stream: Stream, index: u64) -> ChaCha8Rng {
        let mut rng = self.base.clone();
        rng.set_stream(((stream as u64) << 56) | (index & ((1 << 56) - 1)));
        rng
    }
}

/// One item of a list, uniformly. Every list passed here is a non-empty constant (or built from one),
/// so the range is never empty.
pub fn pick<'a, T, R: Rng>(rng: &mut R, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// An index drawn with the given relative weights (constants with a positive sum).
pub fn weighted<R: Rng>(rng: &mut R, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut draw = rng.random_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if draw < *w {
            return i;
        }
        draw -= w;
    }
    weights.len().saturating_sub(1)
}

/// State shared by the generators of one snapshot.
pub struct Ctx<'a> {
    pub codes: &'a CodeBook,
    pub rngs: &'a Rngs,
    pub taken_at: DateTime<Utc>,
    /// Every canary string planted so far (sorted and deduplicated at the end).
    pub canaries: Vec<String>,
}

impl Ctx<'_> {
    pub fn canary(&mut self, value: String) -> String {
        self.canaries.push(value.clone());
        value
    }
}

/// An instant some time before the snapshot. `taken_at` is validated to lie between 1900 and 9999,
/// and the largest offset used is under 20 years, so the subtraction cannot overflow.
pub fn before<R: Rng>(
    rng: &mut R,
    taken_at: DateTime<Utc>,
    min_seconds: i64,
    max_seconds: i64,
) -> DateTime<Utc> {
    taken_at - TimeDelta::seconds(rng.random_range(min_seconds..=max_seconds))
}

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
pub const YEAR: i64 = 365 * DAY;

/// An instant written the ways real servers write them: in UTC with `Z`, or in the region's local
/// time with its offset (summer time approximated by month).
pub fn rfc3339<R: Rng>(rng: &mut R, instant: DateTime<Utc>, region: &Region) -> String {
    if rng.random_bool(0.5) {
        return instant.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    let summer = region.summer_time && (4..=10).contains(&instant.month());
    let offset = region.utc_offset_min + if summer { 60 } else { 0 };
    let local = instant.naive_utc() + TimeDelta::minutes(i64::from(offset));
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    format!(
        "{}{}{:02}:{:02}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        sign,
        abs / 60,
        abs % 60
    )
}

/// The two dates every resource carries: when it was created and when it was last updated, both
/// before the snapshot, creation first.
pub struct Stamp {
    pub last_updated: String,
    pub created: String,
    pub created_date: String,
}

pub fn stamp<R: Rng>(rng: &mut R, taken_at: DateTime<Utc>, region: &Region) -> Stamp {
    let updated = before(rng, taken_at, 2 * 60, 3 * YEAR);
    let created = before(rng, updated, 0, 12 * YEAR);
    Stamp {
        last_updated: rfc3339(rng, updated, region),
        created: rfc3339(rng, created, region),
        created_date: created.format("%Y-%m-%d").to_string(),
    }
}
