//! Flattening a snapshot into the catalogue's tables, in one pass over the resources plus a short
//! resolution pass for what one resource cannot know alone (whether an offer's provider is an
//! establishment or an internal organisation, a role's professional, an offer's field of
//! activity). The snapshot is checked on the way: unique ids, and every reference resolving
//! (from records set aside on disk as the files are merged, see `checks`).
//!
//! Every row goes into its table's builder as it is read, the columns that need the resolution
//! pass left null; each file's builders go to disk as soon as the file is read, a part of each
//! table (see `table::parts`). Once every file is merged, each table in turn is made from its
//! parts in file order, a few parts at a time: their resolved columns filled from the ids the
//! rows carry (or, for an offer's provider, which no column holds, from `offer_providers`), then
//! sorted by an external merge sort, checked and written to the run's spill folder. Keeping every table's builder in memory until the end
//! cost about 4 GB at national scale (a million offers, a million roles).

mod buckets;
mod checks;
mod context;
mod links;
mod location;
mod offer;
mod organization;
mod parallel;
mod practitioner;
mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::codes::parse_reference;
use super::model::Reference;
use super::FhirError;
use crate::source::Snapshot;
use crate::table::parts::Parts;
use crate::table::spill::{load_tables, SpilledTables};
use crate::table::{catalog, TableBuilder, Tables};

use context::{Context, FieldName};
use parallel::{FilePart, Parsed, Typed};
use organization::Organizations;
use practitioner::Practitioners;

/// What the FHIR stage hands to the next: every table (in memory, or set aside on disk), and what
/// was seen.
#[derive(Debug)]
pub struct Flattened<T = Tables> {
    pub tables: T,
    /// Resources read per FHIR type (including types the tables do not use).
    pub resources_by_type: BTreeMap<String, u64>,
    /// The most recent meta.lastUpdated of the snapshot, for freshness and for a version when the
    /// snapshot gives no instant of its own.
    pub latest_update: Option<DateTime<Utc>>,
}

/// Read every resource of the snapshot and build the tables, in memory: for tests and small
/// tools. The tables are made on disk as a run makes them (`flatten_snapshot_to`, in a folder of
/// the system's temporary folder, removed at the end), then read back.
pub fn flatten_snapshot(snapshot: &Snapshot) -> Result<Flattened, FhirError> {
    let scratch = Scratch::new()?;
    let Flattened { tables: spilled, resources_by_type, latest_update } = flatten_snapshot_to(snapshot, &scratch.0)?;
    let names: Vec<&str> = catalog::ALL.iter().map(|spec| spec.name).collect();
    let tables = load_tables(&spilled, &names)?;
    Ok(Flattened { tables, resources_by_type, latest_update })
}

/// Read every resource of the snapshot and write the tables to a new spill folder of `parent`
/// (see `SpilledTables`). Each file is read, parsed and turned into rows on its own, on every
/// core, and its rows written to disk; the files are merged in file order (see `parallel`), then
/// the tables made from their parts, two at a time (see `tables`).
pub fn flatten_snapshot_to(snapshot: &Snapshot, parent: &Path) -> Result<Flattened<SpilledTables>, FhirError> {
    let spilled = SpilledTables::create(parent)?;
    let parts = spilled.parts()?;
    let files = &snapshot.provenance.files;
    let mut state = State { checks: checks::Checks::new(parent), practitioner_records: practitioner::PractitionerRecords::new(parent), ..State::default() };
    parallel::in_order(files.len(), |i| parallel::flatten_file(&files[i], i, &parts), |part| state.absorb(part))?;
    let (resources_by_type, latest_update) = state.finish(&parts, &spilled)?;
    parts.remove();
    Ok(Flattened { tables: spilled, resources_by_type, latest_update })
}

/// A folder of its own in the system's temporary folder, removed on drop: the spill folder's
/// parent for `flatten_snapshot`. Not the temporary folder itself, whose stale spill folders
/// another process may be using.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, FhirError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ror-opendata-flatten-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| crate::table::TableError::Io { path: dir.display().to_string(), source })?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Parts of a table read at once while it is made (on every core, `Parts::read_columns`): one
/// file's rows each, a few thousand to some tens of thousands, far below a run of the sort.
const PARTS_AT_ONCE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrgKind {
    Juridique,
    Geographique,
    Interne,
}

/// The field a reference is read from, in 8 bytes (5 in the record set aside for the checks):
/// tens of millions of references are checked at national scale, and the field's name is only
/// written out for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReferenceField {
    PartOf,
    ProvidedBy,
    ManagingOrganization,
    Practitioner,
    Location(u32),
    HealthcareService(u32),
}

impl ReferenceField {
    /// An array's index fits a u32: the reader refuses a resource above 8 MiB
    /// (`source::MAX_RESOURCE_BYTES`), which cannot hold 4 billion references.
    fn index(i: usize) -> u32 {
        u32::try_from(i).expect("a resource holds fewer than 4 billion references")
    }

    fn location(i: usize) -> ReferenceField {
        ReferenceField::Location(Self::index(i))
    }

    fn healthcare_service(i: usize) -> ReferenceField {
        ReferenceField::HealthcareService(Self::index(i))
    }
}

impl FieldName for ReferenceField {
    fn name(self) -> String {
        match self {
            ReferenceField::PartOf => "partOf".to_owned(),
            ReferenceField::ProvidedBy => "providedBy".to_owned(),
            ReferenceField::ManagingOrganization => "managingOrganization".to_owned(),
            ReferenceField::Practitioner => "practitioner".to_owned(),
            ReferenceField::Location(i) => format!("location[{i}]"),
            ReferenceField::HealthcareService(i) => format!("healthcareService[{i}]"),
        }
    }
}

/// A file's part only: the references its resources make, set aside for the checks when the part
/// is merged. The target ids one after the other in one buffer.
#[derive(Default)]
struct FileReferences {
    ids: String,
    list: Vec<FileReference>,
}

struct FileReference {
    /// The referring resource, by its rank in the part's `keys`.
    resource: u32,
    field: ReferenceField,
    /// The target's type (the one expected: any other is an error at once) and where its id ends
    /// in `ids`.
    kind: &'static str,
    end: usize,
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

impl Builders {
    /// Every builder, in catalogue order. Destructured field by field, so that a table added to
    /// `Builders` cannot be forgotten here: the compiler names it.
    fn into_vec(self) -> Vec<TableBuilder> {
        let Builders { entites_juridiques, entites_geographiques, organisations_internes, lieux, offres, horaires, contacts, professionnels, capacites, equipements } = self;
        vec![entites_juridiques, entites_geographiques, organisations_internes, lieux, offres, horaires, contacts, professionnels, capacites, equipements]
    }
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
    /// Every id seen and every reference, set aside for the checks (duplicates, dangling
    /// references) once every file is merged, or at the first file that fails.
    checks: checks::Checks,
    /// A file's part only: its resources' "Type/id" and position in file order, for the
    /// snapshot-wide duplicate check when the part is merged.
    keys: Vec<(String, String)>,
    /// A file's part only: its references.
    references: FileReferences,
    /// A file's part only: its rows, until they go to disk (`write_part`).
    builders: Builders,
    /// Per table, the snapshot files (by index) whose part of it is on disk, in file order.
    parts: BTreeMap<&'static str, Vec<usize>>,
    organizations: Organizations,
    /// A file's part only: its practitioners, until the part is merged.
    practitioners: Practitioners,
    /// Every part's practitioners, set aside for the roles.
    practitioner_records: practitioner::PractitionerRecords,
    /// Each offer's provider (providedBy), in the offres table's row order before it is sorted
    /// (file order, then push order): the one input of the resolution pass that no column holds.
    /// By number in `organizations`, `organization::NO_ORGANIZATION` for none.
    offer_providers: Vec<u32>,
    resources_by_type: BTreeMap<String, u64>,
    latest_update: Option<DateTime<Utc>>,
}

impl State {
    /// Turn one resource of a file's part into rows. Duplicates and references are checked when
    /// the part is merged.
    fn visit(&mut self, path: &str, parsed: Parsed<'_>) -> Result<(), FhirError> {
        // "Type/id", pushed piece by piece: `format!` cost more than the pushes, once a resource.
        let mut key = String::with_capacity(parsed.resource_type.len() + 1 + parsed.id.len());
        key.push_str(parsed.resource_type);
        key.push('/');
        key.push_str(parsed.id);
        match self.resources_by_type.get_mut(parsed.resource_type) {
            Some(count) => *count += 1,
            None => {
                self.resources_by_type.insert(parsed.resource_type.to_owned(), 1);
            }
        }
        let ctx = Context { file: path, position: parsed.position, resource_type: parsed.resource_type, id: parsed.id };
        self.keys.push((key, parsed.position.to_owned()));
        // A resource that did not parse fails here; the merge checks its id for a duplicate first.
        match parsed.typed? {
            Typed::Organization(o) => organization::visit(self, &ctx, o),
            Typed::Location(l) => location::visit(self, &ctx, l),
            Typed::HealthcareService(h) => offer::visit(self, &ctx, h),
            Typed::Practitioner(p) => practitioner::visit_practitioner(self, &ctx, p),
            Typed::PractitionerRole(r) => practitioner::visit_role(self, &ctx, r),
            Typed::Other => Ok(()),
        }
    }

    /// A file's part, once the file is read: each table's rows (if it has any) go to disk, as
    /// part `file` (the file's index in the snapshot). On the worker that read the file, so that
    /// encoding them is done on every core.
    fn write_part(&mut self, file: usize, parts: &Parts) -> Result<(), FhirError> {
        let builders: Vec<TableBuilder> = std::mem::take(&mut self.builders).into_vec().into_iter().filter(|builder| builder.rows() > 0).collect();
        if builders.is_empty() {
            return Ok(());
        }
        for builder in &builders {
            self.parts.insert(builder.spec().name, vec![file]);
        }
        parts.write(file, builders.into_iter().map(|builder| Ok::<_, FhirError>((builder.spec(), builder.into_frame()?))))
    }

    /// Merge the next file's part, in file order. Its ids and references are set aside for the
    /// checks (`checks`), made once every part is merged; a part that failed is checked at once,
    /// so that the error reported is the one a single pass over the snapshot meets first: a
    /// duplicate id (in this part or an earlier one), else the part's own error (which came after
    /// its last id). Destructured field by field, so that a field added to `State` cannot be
    /// forgotten here.
    fn absorb(&mut self, part: FilePart) -> Result<(), FhirError> {
        let FilePart { path, state, error } = part;
        let State {
            files: _,
            checks: _,
            keys,
            references,
            builders: _,
            parts,
            organizations,
            practitioners,
            practitioner_records: _,
            offer_providers,
            resources_by_type,
            latest_update,
        } = state;
        let file = self.files.len() as u32;
        if !keys.is_empty() {
            self.files.push(path);
        }
        for (rank, (key, position)) in keys.iter().enumerate() {
            // A file's resources are numbered in a u32, as its references are: a file of 4
            // billion resources is beyond any reader (`source::MAX_RESOURCE_BYTES` each).
            self.checks.see(key, file, u32::try_from(rank).expect("a file holds fewer than 4 billion resources"), position)?;
        }
        if let Some(error) = error {
            return Err(self.first_duplicate()?.unwrap_or(error));
        }
        let mut start = 0;
        for (index, r) in references.list.iter().enumerate() {
            let (key, position) = &keys[r.resource as usize];
            // The referring resource named by its position and "Type/id", should the target dangle.
            self.checks.refer(r.kind, &references.ids[start..r.end], file, u32::try_from(index).expect("a file holds fewer than 4 billion references"), r.field, position, key)?;
            start = r.end;
        }
        for (table, mut files) in parts {
            self.parts.entry(table).or_default().append(&mut files);
        }
        let numbers = self.organizations.append(organizations);
        self.offer_providers.extend(offer_providers.into_iter().map(|p| if p == organization::NO_ORGANIZATION { p } else { numbers[p as usize] }));
        self.practitioner_records.append(practitioners)?;
        for (resource_type, count) in resources_by_type {
            *self.resources_by_type.entry(resource_type).or_default() += count;
        }
        if let Some(instant) = latest_update {
            if self.latest_update.is_none_or(|l| l < instant) {
                self.latest_update = Some(instant);
            }
        }
        Ok(())
    }

    /// The first duplicate id among the parts merged so far, as its error.
    fn first_duplicate(&mut self) -> Result<Option<FhirError>, FhirError> {
        Ok(self.checks.check()?.duplicate.map(|d| duplicate_error(&self.files, d)))
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

    /// Note a reference for the check when the part is merged and return the id it points to. A
    /// reference to the wrong resource type, or one that cannot be parsed, is an error now.
    fn reference(&mut self, ctx: &Context<'_>, field: ReferenceField, reference: Option<&Reference<'_>>, expected: &'static str) -> Result<Option<String>, FhirError> {
        let Some(reference) = reference else { return Ok(None) };
        let Some(text) = reference.reference.as_deref() else { return Ok(None) };
        let Some((kind, id)) = parse_reference(reference) else {
            return Err(ctx.field_error(field, format!("{text:?} is not a FHIR reference (expected {expected}/<id>)")));
        };
        if kind != expected {
            return Err(ctx.field_error(field, format!("{text:?} points to a {kind}, expected a {expected}")));
        }
        // The resource visited is the part's last key (`visit` pushed it).
        let resource = u32::try_from(self.keys.len() - 1).expect("a file holds fewer than 4 billion resources");
        self.references.ids.push_str(&id);
        self.references.list.push(FileReference { resource, field, kind: expected, end: self.references.ids.len() });
        Ok(Some(id))
    }

    /// Check the ids and references, and make each table from its parts into `spilled`
    /// (`tables::make_tables`: two at a time, the error reported being the first table's in
    /// catalogue order, as making them one after the other would meet it).
    ///
    /// The checks read their records on a thread of their own while the tables are made: alone,
    /// they kept one core busy and the other idle (0.7 s at scale 1). Their finding is still the
    /// error reported, before any of the tables': a duplicate id would otherwise surface as a
    /// table's duplicate key. A snapshot that fails them has its tables made for nothing, and
    /// removed with the spill folder.
    fn finish(self, parts: &Parts, spilled: &SpilledTables) -> Result<(BTreeMap<String, u64>, Option<DateTime<Utc>>), FhirError> {
        let State { files, checks, keys: _, references: _, builders: _, parts: written, organizations, practitioners: _, practitioner_records, offer_providers, resources_by_type, latest_update } = self;
        std::thread::scope(|scope| {
            let checked = scope.spawn(move || {
                let mut checks = checks;
                checks.check()
            });
            // The tables assume what the checks prove: whatever making them met on a snapshot that
            // fails the checks (a panic included) gives way to the checks' finding.
            let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tables::make_tables(parts, spilled, &written, organizations, practitioner_records, offer_providers)));
            let found = checked.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            if let Some(duplicate) = found.duplicate {
                return Err(duplicate_error(&files, duplicate));
            }
            if let Some(d) = found.dangling {
                return Err(FhirError::DanglingReference { file: files[d.file as usize].clone(), resource: d.resource, field: d.field.name(), target: d.target });
            }
            made.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        Ok((resources_by_type, latest_update))
    }
}

/// The error for an id seen twice, naming both files (`files`: the snapshot's, by number).
fn duplicate_error(files: &[String], d: checks::Duplicate) -> FhirError {
    FhirError::DuplicateId { file: files[d.file as usize].clone(), resource: format!("{} {}", d.position, d.key), first_file: files[d.first_file as usize].clone(), first_position: d.first_position }
}

#[cfg(test)]
mod tests;
