//! Flattening a snapshot into the catalogue's tables, in one pass over the resources plus a short
//! resolution pass for what one resource cannot know alone (whether an offer's provider is an
//! establishment or an internal organisation, a role's professional, an offer's field of
//! activity). The snapshot is checked on the way: unique ids, and every reference resolving.
//!
//! Every row goes into its table's builder as it is read, the columns that need the resolution
//! pass left null; each file's builders go to disk as soon as the file is read, a part of each
//! table (see `table::parts`). Once every file is merged, each table in turn is made from its
//! parts in file order, its resolved columns filled from the ids its rows carry (or, for an
//! offer's provider, which no column holds, from `offer_providers`), sorted, checked and written
//! to the run's spill folder, then dropped. Keeping every table's builder in memory until the end
//! cost about 4 GB at national scale (a million offers, a million roles).

mod context;
mod location;
mod offer;
mod organization;
mod parallel;
mod practitioner;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use polars::prelude::{Column, DataFrame};

use super::codes::parse_reference;
use super::model::Reference;
use super::FhirError;
use crate::source::Snapshot;
use crate::table::parts::Parts;
use crate::table::spill::{load_tables, SpilledTables, TableSource};
use crate::table::{catalog, TableBuilder, TableError, TableSpec, Tables, TextColumn};

use context::Context;
use parallel::{FilePart, Parsed, Typed};

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
/// the tables made one at a time.
pub fn flatten_snapshot_to(snapshot: &Snapshot, parent: &Path) -> Result<Flattened<SpilledTables>, FhirError> {
    let mut spilled = SpilledTables::create(parent)?;
    let parts = spilled.parts()?;
    let files = &snapshot.provenance.files;
    let mut state = State::default();
    parallel::in_order(files.len(), |i| parallel::flatten_file(&files[i], i, &parts), |part| state.absorb(part))?;
    let (resources_by_type, latest_update) = state.finish(&parts, &mut spilled)?;
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

/// A practitioner's fields a role's row needs. Boxed strings: hundreds of thousands are kept until
/// the roles are made.
struct PractitionerInfo {
    id_nat_ps: Option<Box<str>>,
    family: Option<Box<str>>,
    given: Option<Box<str>>,
}

/// A reference to check once every resource has been seen. At national scale a million of them
/// wait (a role's Practitioner comes after it): boxed strings, not Strings.
struct PendingReference {
    file: u32,
    resource: Box<str>,
    field: Box<str>,
    target: Box<str>,
}

/// Where a resource is in its file, as the reader names it ("line 12", "entry[3]", "resource"),
/// in 8 bytes: the duplicate check keeps one for every resource of the snapshot (millions), where
/// a String each cost about 40 bytes. Any other text the reader might give is kept aside in full
/// (`State::odd_positions`, by index), so the error still names it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Line(u32),
    Entry(u32),
    Resource,
    Other(u32),
}

impl Position {
    /// The compact form of the reader's text, when it has one.
    fn parse(text: &str) -> Option<Position> {
        let number = |n: &str| n.parse::<u32>().ok().filter(|v| v.to_string() == n);
        if text == "resource" {
            return Some(Position::Resource);
        }
        if let Some(n) = text.strip_prefix("line ") {
            return number(n).map(Position::Line);
        }
        text.strip_prefix("entry[").and_then(|rest| rest.strip_suffix(']')).and_then(number).map(Position::Entry)
    }
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
    /// "Type/id" → (file index, position), to refuse duplicates and resolve references.
    seen: HashMap<Box<str>, (u32, Position)>,
    /// Positions of `seen` the compact form cannot hold (`Position::Other`).
    odd_positions: Vec<String>,
    /// A file's part only: its resources' "Type/id" and position in file order, for the
    /// snapshot-wide duplicate check when the part is merged.
    keys: Vec<(String, String)>,
    references: Vec<PendingReference>,
    /// A file's part only: its rows, until they go to disk (`write_part`).
    builders: Builders,
    /// Per table, the snapshot files (by index) whose part of it is on disk, in file order.
    parts: BTreeMap<&'static str, Vec<usize>>,
    organizations: HashMap<String, OrgInfo>,
    practitioners: HashMap<Box<str>, PractitionerInfo>,
    /// Each offer's provider (providedBy), in the offres table's row order before it is sorted
    /// (file order, then push order): the one input of the resolution pass that no column holds.
    /// In one buffer (a table's text column): a `String` each would cost three times the ids.
    offer_providers: TextColumn,
    resources_by_type: BTreeMap<String, u64>,
    latest_update: Option<DateTime<Utc>>,
}

impl State {
    /// Turn one resource of a file's part into rows. Its file is the part's only one (index 0);
    /// duplicates are checked when the part is merged.
    fn visit(&mut self, path: &str, parsed: Parsed<'_>) -> Result<(), FhirError> {
        let key = format!("{}/{}", parsed.resource_type, parsed.id);
        match self.resources_by_type.get_mut(parsed.resource_type) {
            Some(count) => *count += 1,
            None => {
                self.resources_by_type.insert(parsed.resource_type.to_owned(), 1);
            }
        }
        let ctx = Context { file: path, resource: format!("{} {key}", parsed.position) };
        self.keys.push((key, parsed.position.to_owned()));
        let file = 0;
        // A resource that did not parse fails here; the merge checks its id for a duplicate first.
        match parsed.typed? {
            Typed::Organization(o) => organization::visit(self, &ctx, o, file),
            Typed::Location(l) => location::visit(self, &ctx, l, file),
            Typed::HealthcareService(h) => offer::visit(self, &ctx, h, file),
            Typed::Practitioner(p) => practitioner::visit_practitioner(self, &ctx, p),
            Typed::PractitionerRole(r) => practitioner::visit_role(self, &ctx, r, file),
            Typed::Other => Ok(()),
        }
    }

    /// A file's part, once the file is read: each table's rows (if it has any) go to disk, as
    /// part `file` (the file's index in the snapshot). On the worker that read the file, so that
    /// encoding them is done on every core.
    fn write_part(&mut self, file: usize, parts: &Parts) -> Result<(), FhirError> {
        for builder in std::mem::take(&mut self.builders).into_vec() {
            if builder.rows() == 0 {
                continue;
            }
            let spec = builder.spec();
            parts.write(spec, file, builder.into_frame()?)?;
            self.parts.insert(spec.name, vec![file]);
        }
        Ok(())
    }

    /// Merge the next file's part, in file order. Its ids are checked against every earlier one
    /// first, in position order, so the error reported is the one a single pass over the snapshot
    /// meets first: a duplicate id, else the part's own error (which came after its last id).
    /// Destructured field by field, so that a field added to `State` cannot be forgotten here.
    fn absorb(&mut self, part: FilePart) -> Result<(), FhirError> {
        let FilePart { path, state, error } = part;
        let State {
            files: _,
            seen: _,
            odd_positions: _,
            keys,
            references,
            builders: _,
            parts,
            organizations,
            practitioners,
            offer_providers,
            resources_by_type,
            latest_update,
        } = state;
        let file = self.files.len();
        if !keys.is_empty() {
            self.files.push(path.clone());
        }
        for (key, position) in keys {
            if let Some((first_file, first_position)) = self.seen.get(key.as_str()) {
                let first_position = match first_position {
                    Position::Line(n) => format!("line {n}"),
                    Position::Entry(n) => format!("entry[{n}]"),
                    Position::Resource => "resource".to_owned(),
                    Position::Other(i) => self.odd_positions[*i as usize].clone(),
                };
                return Err(FhirError::DuplicateId { file: path, resource: format!("{position} {key}"), first_file: self.files[*first_file as usize].clone(), first_position });
            }
            let compact = Position::parse(&position).unwrap_or_else(|| {
                self.odd_positions.push(position);
                Position::Other((self.odd_positions.len() - 1) as u32)
            });
            self.seen.insert(key.into_boxed_str(), (file as u32, compact));
        }
        if let Some(error) = error {
            return Err(error);
        }
        // A reference whose target is already seen resolves, now and at the end alike: only those
        // to later files wait (a role's Practitioner comes after it in ROR's exports). The ones
        // kept are in the same order, so the first dangling one is still the first reported. At
        // national scale all of them, four Strings each, were several hundred MB.
        self.references.extend(references.into_iter().filter(|r| !self.seen.contains_key(&r.target)).map(|r| PendingReference { file: file as u32, ..r }));
        for (table, mut files) in parts {
            self.parts.entry(table).or_default().append(&mut files);
        }
        self.organizations.extend(organizations);
        self.practitioners.extend(practitioners);
        self.offer_providers.append(offer_providers);
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
    fn reference(&mut self, ctx: &Context<'_>, file: usize, field: &str, reference: Option<&Reference<'_>>, expected: &str) -> Result<Option<String>, FhirError> {
        let Some(reference) = reference else { return Ok(None) };
        let Some(text) = reference.reference.as_deref() else { return Ok(None) };
        let Some((kind, id)) = parse_reference(reference) else {
            return Err(ctx.field_error(field, format!("{text:?} is not a FHIR reference (expected {expected}/<id>)")));
        };
        if kind != expected {
            return Err(ctx.field_error(field, format!("{text:?} points to a {kind}, expected a {expected}")));
        }
        self.references.push(PendingReference { file: file as u32, resource: ctx.resource.as_str().into(), field: field.into(), target: format!("{kind}/{id}").into_boxed_str() });
        Ok(Some(id))
    }

    /// Check the references, then make each table from its parts, one at a time, into `spilled`.
    /// Catalogue order, so that the first table to fail is the one making them all at once
    /// reported; and the tables another one's resolution reads (offres for the roles; offres,
    /// lieux and entites_geographiques for the capacities) are written by then.
    fn finish(self, parts: &Parts, spilled: &mut SpilledTables) -> Result<(BTreeMap<String, u64>, Option<DateTime<Utc>>), FhirError> {
        let State { files, seen, odd_positions: _, keys: _, references, builders: _, parts: written, organizations, practitioners, offer_providers, resources_by_type, latest_update } = self;
        for r in &references {
            if !seen.contains_key(&r.target) {
                return Err(FhirError::DanglingReference {
                    file: files[r.file as usize].clone(),
                    resource: r.resource.to_string(),
                    field: r.field.to_string(),
                    target: r.target.to_string(),
                });
            }
        }
        // What only the checks need goes before the tables are made: at national scale the ids
        // seen (a String and a position each) are about as large as the biggest table.
        drop((references, seen));
        // A table is made a column at a time: its key (to sort by), then each column read from
        // the parts, gathered in key order and written a slice at a time. The columns a table's
        // resolution reads or fills (`resolved`) are read together first, and resolved.
        let make = |spilled: &mut SpilledTables, spec: &'static TableSpec, resolved: &[&str], resolve: &dyn Fn(&mut DataFrame, &SpilledTables) -> Result<(), FhirError>| -> Result<(), FhirError> {
            let list = written.get(spec.name).map_or(&[][..], Vec::as_slice);
            let shape = TableBuilder::new(spec).into_frame()?;
            let index_of = |name: &str| shape.get_column_index(name).unwrap_or_else(|| panic!("table {} has no column {name}", spec.name));
            let mut frame = if resolved.is_empty() { DataFrame::empty() } else { parts.read_columns(spec, list, &resolved.iter().map(|name| index_of(name)).collect::<Vec<_>>())? };
            resolve(&mut frame, spilled)?;
            let resolved: Vec<Mutex<Option<Column>>> = shape.columns().iter().map(|c| Mutex::new(frame.column(c.name()).ok().cloned())).collect();
            drop(frame);
            let column = |index: usize| -> Result<Column, TableError> {
                match resolved[index].lock().expect("a column is read once").take() {
                    Some(column) => Ok(column),
                    None => Ok(parts.read_columns(spec, list, &[index])?.into_columns().pop().expect("one column asked")),
                }
            };
            spilled.put_sorted_by_column(spec, shape.clone(), &column)?;
            parts.remove_table(spec, list);
            tracing::info!(table = spec.name, rows = spilled.rows(spec.name).unwrap_or(0), "table made");
            Ok(())
        };
        fn nothing(_: &mut DataFrame, _: &SpilledTables) -> Result<(), FhirError> {
            Ok(())
        }
        make(spilled, &catalog::ENTITES_JURIDIQUES, &[], &nothing)?;
        make(spilled, &catalog::ENTITES_GEOGRAPHIQUES, &[], &nothing)?;
        make(spilled, &catalog::ORGANISATIONS_INTERNES, &["organisation_parente_id", "entite_geographique_id"], &|frame, _| organization::resolve_internal(&organizations, frame))?;
        make(spilled, &catalog::LIEUX, &[], &nothing)?;
        make(spilled, &catalog::OFFRES, &["organisation_interne_id", "entite_geographique_id"], &|frame, _| offer::resolve(&organizations, &offer_providers, frame))?;
        drop((organizations, offer_providers));
        make(spilled, &catalog::HORAIRES, &[], &nothing)?;
        make(spilled, &catalog::CONTACTS, &[], &nothing)?;
        make(
            spilled,
            &catalog::PROFESSIONNELS,
            &["professionnel_id", "offre_id", "id_nat_ps", "type_identifiant", "nom_exercice", "prenom_exercice", "offre_champ_activite_code"],
            &|frame, spilled| practitioner::resolve_roles(&practitioners, spilled, frame),
        )?;
        drop(practitioners);
        // The capacities' links replace whole columns, row by row from the row's place: made
        // before the sort, they are the ones made after it.
        make(spilled, &catalog::CAPACITES, &["lieu_id", "offre_id", "entite_geographique_id", "finess_eg"], &|frame, spilled| location::link_capacities(spilled, frame))?;
        make(spilled, &catalog::EQUIPEMENTS, &[], &nothing)?;
        Ok((resources_by_type, latest_update))
    }
}

/// The establishment an organisation belongs to: itself for an EG, its nearest EG ancestor for
/// an internal organisation (OIs nest: pôle → service → unité). Borrowed from `organizations`, so
/// that a column of them costs no string each. A function of the map, not of `State`, so that the
/// builders can be filled while its answers are held.
fn establishment_of<'a>(organizations: &'a HashMap<String, OrgInfo>, id: &str) -> Option<&'a str> {
    let (mut current, mut info) = organizations.get_key_value(id)?;
    // Bounded walk: a partOf cycle in bad data must not hang the job.
    for _ in 0..16 {
        match info.kind {
            OrgKind::Geographique => return Some(current),
            OrgKind::Juridique => return None,
            OrgKind::Interne => (current, info) = organizations.get_key_value(info.part_of.as_deref()?)?,
        }
    }
    None
}

#[cfg(test)]
mod tests;
