//! Flattening a snapshot into the catalogue's tables, in one pass over the resources plus a short
//! resolution pass for what one resource cannot know alone (whether an offer's provider is an
//! establishment or an internal organisation, a role's professional, an offer's field of
//! activity). The snapshot is checked on the way: unique ids, and every reference resolving.

mod context;
mod location;
mod offer;
mod organization;
mod parallel;
mod practitioner;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::codes::parse_reference;
use super::model::Reference;
use super::FhirError;
use crate::source::Snapshot;
use crate::table::{catalog, Row, TableBuilder, Tables};

use context::Context;
use parallel::{Parsed, ParsedFile, Typed};

/// What the FHIR stage hands to the next: every table, and what was seen.
#[derive(Debug)]
pub struct Flattened {
    pub tables: Tables,
    /// Resources read per FHIR type (including types the tables do not use).
    pub resources_by_type: BTreeMap<String, u64>,
    /// The most recent meta.lastUpdated of the snapshot, for freshness and for a version when the
    /// snapshot gives no instant of its own.
    pub latest_update: Option<DateTime<Utc>>,
}

/// Read every resource of the snapshot and build the tables. Files are read and parsed on every
/// core; rows are built from them in file order (see `parallel`).
pub fn flatten_snapshot(snapshot: &Snapshot) -> Result<Flattened, FhirError> {
    let files = &snapshot.provenance.files;
    let mut state = State::default();
    parallel::in_order(files.len(), |i| parallel::parse_file(&files[i]), |file| state.visit_file(file))?;
    state.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrgKind {
    Juridique,
    Geographique,
    Interne,
}

struct OrgInfo {
    kind: OrgKind,
    part_of: Option<String>,
}

struct PractitionerInfo {
    id_nat_ps: Option<String>,
    family: Option<String>,
    given: Option<String>,
}

/// A reference to check once every resource has been seen.
struct PendingReference {
    file: usize,
    resource: String,
    field: String,
    target: String,
}

struct Builders {
    entites_juridiques: TableBuilder,
    entites_geographiques: TableBuilder,
    organisations_internes: TableBuilder,
    lieux: TableBuilder,
    offres: TableBuilder,
    horaires: TableBuilder,
    contacts: TableBuilder,
    professionnels: TableBuilder,
    capacites: TableBuilder,
    equipements: TableBuilder,
}

impl Default for Builders {
    fn default() -> Self {
        Builders {
            entites_juridiques: TableBuilder::new(&catalog::ENTITES_JURIDIQUES),
            entites_geographiques: TableBuilder::new(&catalog::ENTITES_GEOGRAPHIQUES),
            organisations_internes: TableBuilder::new(&catalog::ORGANISATIONS_INTERNES),
            lieux: TableBuilder::new(&catalog::LIEUX),
            offres: TableBuilder::new(&catalog::OFFRES),
            horaires: TableBuilder::new(&catalog::HORAIRES),
            contacts: TableBuilder::new(&catalog::CONTACTS),
            professionnels: TableBuilder::new(&catalog::PROFESSIONNELS),
            capacites: TableBuilder::new(&catalog::CAPACITES),
            equipements: TableBuilder::new(&catalog::EQUIPEMENTS),
        }
    }
}

#[derive(Default)]
struct State {
    files: Vec<String>,
    /// "Type/id" → (file index, position), to refuse duplicates and resolve references.
    seen: HashMap<String, (usize, String)>,
    references: Vec<PendingReference>,
    builders: Builders,
    organizations: HashMap<String, OrgInfo>,
    offer_fields: HashMap<String, Option<String>>,
    practitioners: HashMap<String, PractitionerInfo>,
    /// Rows that wait for the resolution pass, with what they need resolved.
    pending_internal_orgs: Vec<(Row, Option<String>)>,
    pending_offers: Vec<(Row, Option<String>)>,
    pending_roles: Vec<(Row, Option<String>, Option<String>)>,
    resources_by_type: BTreeMap<String, u64>,
    latest_update: Option<DateTime<Utc>>,
}

impl State {
    /// One parsed file, resource by resource, then the error that stopped its reader (if any).
    fn visit_file(&mut self, parsed: ParsedFile) -> Result<(), FhirError> {
        for resource in parsed.resources {
            self.visit(&parsed.path, resource)?;
        }
        parsed.stopped.map_or(Ok(()), Err)
    }

    fn visit(&mut self, path: &str, parsed: Parsed) -> Result<(), FhirError> {
        let file = match self.files.last() {
            Some(last) if last == path => self.files.len() - 1,
            _ => {
                self.files.push(path.to_owned());
                self.files.len() - 1
            }
        };
        let key = format!("{}/{}", parsed.resource_type, parsed.id);
        *self.resources_by_type.entry(parsed.resource_type).or_default() += 1;
        if let Some((first_file, first_position)) = self.seen.get(&key) {
            return Err(FhirError::DuplicateId {
                file: path.to_owned(),
                resource: format!("{} {key}", parsed.position),
                first_file: self.files[*first_file].clone(),
                first_position: first_position.clone(),
            });
        }
        let ctx = Context { file: path, resource: format!("{} {key}", parsed.position) };
        self.seen.insert(key, (file, parsed.position));
        // A resource that did not parse fails here, after the duplicate check, as it always has.
        match parsed.typed? {
            Typed::Organization(o) => organization::visit(self, &ctx, o, file),
            Typed::Location(l) => location::visit(self, &ctx, l, file),
            Typed::HealthcareService(h) => offer::visit(self, &ctx, h, file),
            Typed::Practitioner(p) => practitioner::visit_practitioner(self, &ctx, p),
            Typed::PractitionerRole(r) => practitioner::visit_role(self, &ctx, r, file),
            Typed::Other => Ok(()),
        }
    }

    /// Record the resource's meta.lastUpdated and return it.
    fn note_update(&mut self, ctx: &Context<'_>, last_updated: Option<&str>) -> Result<Option<DateTime<Utc>>, FhirError> {
        let Some(text) = last_updated else { return Ok(None) };
        let instant = ctx.instant("meta.lastUpdated", text)?;
        if self.latest_update.is_none_or(|l| l < instant) {
            self.latest_update = Some(instant);
        }
        Ok(Some(instant))
    }

    /// Note a reference for the final check and return the id it points to. A reference to the
    /// wrong resource type, or one that cannot be parsed, is an error now.
    fn reference(&mut self, ctx: &Context<'_>, file: usize, field: &str, reference: Option<&Reference>, expected: &str) -> Result<Option<String>, FhirError> {
        let Some(reference) = reference else { return Ok(None) };
        let Some(text) = reference.reference.as_deref() else { return Ok(None) };
        let Some((kind, id)) = parse_reference(reference) else {
            return Err(ctx.field_error(field, format!("{text:?} is not a FHIR reference (expected {expected}/<id>)")));
        };
        if kind != expected {
            return Err(ctx.field_error(field, format!("{text:?} points to a {kind}, expected a {expected}")));
        }
        self.references.push(PendingReference { file, resource: ctx.resource.clone(), field: field.to_owned(), target: format!("{kind}/{id}") });
        Ok(Some(id))
    }

    fn finish(mut self) -> Result<Flattened, FhirError> {
        for r in &self.references {
            if !self.seen.contains_key(&r.target) {
                return Err(FhirError::DanglingReference {
                    file: self.files[r.file].clone(),
                    resource: r.resource.clone(),
                    field: r.field.clone(),
                    target: r.target.clone(),
                });
            }
        }
        organization::resolve_internal(&mut self);
        offer::resolve(&mut self);
        practitioner::resolve_roles(&mut self);

        let b = self.builders;
        let mut tables = Tables::new();
        for builder in [
            b.entites_juridiques,
            b.entites_geographiques,
            b.organisations_internes,
            b.lieux,
            b.offres,
            b.horaires,
            b.contacts,
            b.professionnels,
            b.capacites,
            b.equipements,
        ] {
            let table = builder.finish()?;
            tables.insert(table.spec.name, table);
        }
        location::link_capacities(&mut tables)?;
        Ok(Flattened { tables, resources_by_type: self.resources_by_type, latest_update: self.latest_update })
    }

    /// The establishment an organisation belongs to: itself for an EG, its nearest EG ancestor for
    /// an internal organisation (OIs nest: pôle → service → unité).
    fn establishment_of(&self, id: &str) -> Option<String> {
        let mut current = id.to_owned();
        // Bounded walk: a partOf cycle in bad data must not hang the job.
        for _ in 0..16 {
            let info = self.organizations.get(&current)?;
            match info.kind {
                OrgKind::Geographique => return Some(current),
                OrgKind::Juridique => return None,
                OrgKind::Interne => current = info.part_of.clone()?,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
