//! Flattening the snapshot's files on every core, merged in file order.
//!
//! Why this split: unzipping, splitting Bundles, deserialising each resource into its typed struct
//! and turning it into rows is nearly all the work of the flatten stage, and each file can do it
//! alone, into its own part (a `State` of one file). What needs the whole snapshot (duplicate ids,
//! references, the resolution pass) happens when the parts are merged, one thread, in file order.
//! That keeps two promises for free: the tables do not depend on how threads were scheduled, and
//! the error reported for a bad snapshot is the one of its first bad resource in file order,
//! exactly as a single pass would report it.
//!
//! Memory: workers run at most `LOOKAHEAD_PER_WORKER` files each ahead of the merge, so what is
//! held is a few files' text, never the snapshot's JSON; each file's rows go to disk on the worker
//! that made them (`State::write_part`). The parsed structs are dropped by the thread that made them.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex};

use serde::{Deserialize, Deserializer};

use super::context::Context;
use super::State;
use crate::fhir::model::{HealthcareService, Location, Organization, Practitioner, PractitionerRole, Text};
use crate::fhir::FhirError;
use crate::source::{for_each_typed_resource_in_file, Found, HeaderCheck, RawResource, SnapshotFile, SourceError, TypedResources};
use crate::table::parts::Parts;

/// How many files the workers may have parsed and not yet handed over, per worker.
const LOOKAHEAD_PER_WORKER: usize = 2;

/// A resource of a type the tables use, deserialised.
#[derive(Debug)]
pub(super) enum Typed<'a> {
    Organization(Organization<'a>),
    Location(Location<'a>),
    HealthcareService(HealthcareService<'a>),
    Practitioner(Practitioner<'a>),
    PractitionerRole(PractitionerRole<'a>),
    /// Other types ($export may add some) are counted, not tabulated.
    Other,
}

/// One resource of a file, as the builder needs it: where it was, what it is, and its typed form
/// or why it has none. Borrowed from the file's text, which outlives the visit.
pub(super) struct Parsed<'a> {
    pub position: &'a str,
    pub resource_type: &'a str,
    pub id: &'a str,
    pub typed: Result<Typed<'a>, FhirError>,
}

/// What a worker makes of one file: its part of the tables (its rows on disk, what the merge needs
/// in memory), and the error that stopped it, if one did (after the ids of the resources it had
/// read, the failing one included; or writing its rows).
pub(super) struct FilePart {
    pub path: String,
    pub state: State,
    pub error: Option<FhirError>,
}

/// The resource types the tables use. Their structs declare `resourceType` and `id`, so a
/// resource that names either twice fails their parse, which then asks the reader for the header
/// check it deferred: the reader need not read their whole text to find type and id.
const TABULATED_TYPES: &[&str] = &["Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole"];

/// Read, parse and flatten one file, the `index`th of the snapshot, and write its rows to `parts`.
/// A file that fails is not written: the merge stops at its error.
pub(super) fn flatten_file(file: &SnapshotFile, index: usize, parts: &Parts) -> FilePart {
    let mut state = State::default();
    let read = for_each_typed_resource_in_file(file, HeaderCheck::DeferFor(TABULATED_TYPES), &Tabulated, |found| match found {
        Found::Typed(resource) => {
            let position = resource.position();
            let typed = resource.typed.unwrap_or(Typed::Other);
            state.visit(&file.path, Parsed { position: &position, resource_type: resource.resource_type, id: resource.id, typed: Ok(typed) })
        }
        // A file's part is all in `state` until `write_part`: forgetting it is starting afresh.
        Found::StartAgain => {
            state = State::default();
            Ok(())
        }
        Found::Raw(raw) => {
            let parsed = parse_resource(raw)?;
            state.visit(&file.path, parsed)
        }
    });
    let error = match read {
        Ok(()) => state.write_part(index, parts).err(),
        Err(e) => Some(e),
    };
    FilePart { path: file.path.clone(), state, error }
}

/// The tabulated types' structs, for the reader's one pass over a Bundle.
struct Tabulated;

impl TypedResources for Tabulated {
    type Resource<'a> = Typed<'a>;

    fn parses(&self, resource_type: &str) -> bool {
        TABULATED_TYPES.contains(&resource_type)
    }

    fn parse<'de, D: Deserializer<'de>>(&self, resource_type: &'de str, resource: D) -> Result<(Typed<'de>, &'de str), D::Error> {
        match resource_type {
            "Organization" => read_typed(resource, |r: &Organization<'de>| &r.id, Typed::Organization),
            "Location" => read_typed(resource, |r: &Location<'de>| &r.id, Typed::Location),
            "HealthcareService" => read_typed(resource, |r: &HealthcareService<'de>| &r.id, Typed::HealthcareService),
            "Practitioner" => read_typed(resource, |r: &Practitioner<'de>| &r.id, Typed::Practitioner),
            "PractitionerRole" => read_typed(resource, |r: &PractitionerRole<'de>| &r.id, Typed::PractitionerRole),
            _ => Err(serde::de::Error::custom("not a tabulated type")),
        }
    }
}

/// A resource as its struct `T`, with its id as the text holds it (an escaped one is refused:
/// the general path then reads the file).
fn read_typed<'de, T, D>(resource: D, id: impl Fn(&T) -> &Text<'de>, wrap: impl Fn(T) -> Typed<'de>) -> Result<(Typed<'de>, &'de str), D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    let resource = T::deserialize(resource)?;
    let id = id(&resource).borrowed().ok_or_else(|| serde::de::Error::custom("an id with escapes"))?;
    Ok((wrap(resource), id))
}

/// The resource deserialised into its typed struct. A header error (the reader's check, deferred)
/// is the outer error: the resource then never reached the tables, as with any reader error.
fn parse_resource(raw: RawResource<'_>) -> Result<Parsed<'_>, FhirError> {
    let typed = match raw.resource_type {
        "Organization" => parse(raw)?.map(Typed::Organization),
        "Location" => parse(raw)?.map(Typed::Location),
        "HealthcareService" => parse(raw)?.map(Typed::HealthcareService),
        "Practitioner" => parse(raw)?.map(Typed::Practitioner),
        "PractitionerRole" => parse(raw)?.map(Typed::PractitionerRole),
        _ => Ok(Typed::Other),
    };
    Ok(Parsed { position: raw.position, resource_type: raw.resource_type, id: raw.id, typed })
}

/// Deserialise a resource into its typed struct. The fast path is plain serde_json; only a
/// resource that fails is parsed again with path tracking, so that its error names the field
/// (tracking every path costs about a third of the parse on good data). The error's context is
/// made then too, not for every resource.
fn parse<'a, T: Deserialize<'a>>(raw: RawResource<'a>) -> Result<Result<T, FhirError>, SourceError> {
    if let Ok(value) = serde_json::from_str(raw.json.get()) {
        return Ok(Ok(value));
    }
    raw.verify_header()?;
    let mut de = serde_json::Deserializer::from_str(raw.json.get());
    Ok(match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            let message = message.rfind(" at line ").map_or(message.clone(), |i| message[..i].to_owned());
            let ctx = Context { file: raw.file, position: raw.position, resource_type: raw.resource_type, id: raw.id };
            Err(ctx.field_error(path.as_str(), message))
        }
    })
}

/// How many threads parse: one per core, never more than there are files.
fn workers_for(files: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cores.min(files).max(1)
}

/// Shared between the workers and the builder.
struct Progress<T> {
    /// The next item a worker may take.
    next: usize,
    /// Items handed over to `consume` so far.
    consumed: usize,
    /// Finished items waiting for their turn (or the panic of the worker that made one).
    ready: BTreeMap<usize, std::thread::Result<T>>,
    /// The builder stopped (an error): workers take nothing more.
    stopped: bool,
}

/// `work(0..count)` on a few threads, handing each result to `consume` in index order on the
/// calling thread. Stops at the first error `consume` returns, and returns it.
pub(super) fn in_order<T, E>(count: usize, work: impl Fn(usize) -> T + Sync, mut consume: impl FnMut(T) -> Result<(), E>) -> Result<(), E>
where
    T: Send,
{
    let workers = workers_for(count);
    if workers == 1 {
        return (0..count).try_for_each(|i| consume(work(i)));
    }
    let lookahead = workers * LOOKAHEAD_PER_WORKER;
    let shared = Mutex::new(Progress { next: 0, consumed: 0, ready: BTreeMap::new(), stopped: false });
    let changed = Condvar::new();
    let lock = || shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = {
                    let mut p = lock();
                    while !p.stopped && p.next < count && p.next >= p.consumed + lookahead {
                        p = changed.wait(p).unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                    if p.stopped || p.next >= count {
                        return;
                    }
                    p.next += 1;
                    p.next - 1
                };
                // A panic (a bug) is handed to the builder thread, which waits for this index.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(index)));
                lock().ready.insert(index, result);
                changed.notify_all();
            });
        }
        let mut outcome = Ok(());
        for index in 0..count {
            let item = {
                let mut p = lock();
                loop {
                    if let Some(item) = p.ready.remove(&index) {
                        p.consumed = index + 1;
                        break item;
                    }
                    p = changed.wait(p).unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            };
            changed.notify_all();
            let item = match item {
                Ok(item) => item,
                Err(panic) => {
                    lock().stopped = true;
                    changed.notify_all();
                    std::panic::resume_unwind(panic);
                }
            };
            if let Err(e) = consume(item) {
                outcome = Err(e);
                break;
            }
        }
        lock().stopped = true;
        changed.notify_all();
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::open_folder;

    /// Twelve files of practitioners (one per file, three per file as NDJSON), with `bad` replacing
    /// some files' text; flattened as one snapshot.
    fn flatten_files(bad: &[(usize, &str)]) -> Result<super::super::Flattened, FhirError> {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..12 {
            let text = match bad.iter().find(|(i, _)| *i == n) {
                Some((_, text)) => text.to_string(),
                None => (0..3).map(|k| format!("{{\"resourceType\":\"Practitioner\",\"id\":\"p{n}-{k}\",\"name\":[{{\"family\":\"F{n}\"}}]}}\n")).collect(),
            };
            std::fs::write(dir.path().join(format!("f{n:02}.ndjson")), text).unwrap();
        }
        super::super::flatten_snapshot(&open_folder(dir.path(), "test").unwrap())
    }

    /// Every resource of the embedded sample, the one pass's way over its Bundles and the general
    /// way: the same positions, types, ids and structs.
    #[test]
    fn one_pass_over_a_bundle_gives_what_the_general_path_gives() {
        use crate::source::for_each_resource_in_file;
        let describe = |position: &str, resource_type: &str, id: &str, typed: &Typed<'_>| format!("{position} {resource_type}/{id} {typed:?}");
        let snapshot = open_folder(&crate::sample_dir(), "sample").unwrap();
        let mut read_in_one_pass = 0;
        for file in &snapshot.provenance.files {
            let mut general = Vec::new();
            for_each_resource_in_file::<FhirError, _>(file, HeaderCheck::DeferFor(TABULATED_TYPES), |raw| {
                let parsed = parse_resource(raw)?;
                general.push(describe(parsed.position, parsed.resource_type, parsed.id, parsed.typed.as_ref().expect("the sample parses")));
                Ok(())
            })
            .unwrap();
            let mut one_pass = Vec::new();
            for_each_typed_resource_in_file::<_, FhirError, _>(file, HeaderCheck::DeferFor(TABULATED_TYPES), &Tabulated, |found| {
                match found {
                    Found::Typed(resource) => {
                        read_in_one_pass += 1;
                        one_pass.push(describe(&resource.position(), resource.resource_type, resource.id, resource.typed.as_ref().unwrap_or(&Typed::Other)));
                    }
                    Found::StartAgain => one_pass.clear(),
                    Found::Raw(raw) => {
                        let parsed = parse_resource(raw)?;
                        one_pass.push(describe(parsed.position, parsed.resource_type, parsed.id, parsed.typed.as_ref().expect("the sample parses")));
                    }
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(one_pass, general, "{}", file.path);
        }
        assert!(read_in_one_pass > 1000, "the sample's export Bundles are read in one pass: {read_in_one_pass}");
    }

    /// A Bundle whose third resource the one pass leaves to the general path, after it gave the
    /// first ones: they are forgotten and read again, never twice.
    #[test]
    fn a_bundle_the_one_pass_gives_up_on_partway_is_read_again_from_its_start() {
        let bundle = |third: &str| {
            format!(r#"{{"resourceType":"Bundle","type":"collection","entry":[{{"resource":{{"resourceType":"Practitioner","id":"b-0","name":[{{"family":"F"}}]}}}},{{"resource":{{"resourceType":"Practitioner","id":"b-1"}}}},{{"resource":{third}}}]}}"#)
        };
        // Valid, but its id comes before its type: the same tables as read the general way.
        let flat = flatten_files(&[(4, &bundle(r#"{"id":"b-2","resourceType":"Practitioner"}"#))]).unwrap();
        assert_eq!(flat.resources_by_type["Practitioner"], 36);
        // A fault: the general path's error for it, not a duplicate of a resource given before.
        let e = flatten_files(&[(4, &bundle(r#"{"resourceType":"Practitioner","id":"x","name":5}"#))]).unwrap_err().to_string();
        assert!(e.starts_with("f04.ndjson: entry[2] Practitioner/x: field name"), "{e}");
    }

    #[test]
    fn every_file_reaches_the_tables() {
        let flat = flatten_files(&[]).unwrap();
        assert_eq!(flat.resources_by_type["Practitioner"], 36);
    }

    #[test]
    fn the_error_reported_is_the_first_in_file_order() {
        // A field of the wrong type in f03, malformed JSON in f09: f03's error, whatever finishes first.
        let wrong_type = r#"{"resourceType":"Practitioner","id":"x","name":5}"#;
        for _ in 0..10 {
            let e = flatten_files(&[(3, wrong_type), (9, "{not json")]).unwrap_err().to_string();
            assert!(e.starts_with("f03.ndjson: resource Practitioner/x: field name"), "{e}");
        }
        // A reader error of an earlier file wins over a parse error of a later one.
        let e = flatten_files(&[(2, "{not json"), (3, wrong_type)]).unwrap_err().to_string();
        assert!(e.starts_with("f02.ndjson: malformed JSON"), "{e}");
        // A duplicate id comes before the same resource's own parse error, as it does read one by one.
        let duplicate = r#"{"resourceType":"Practitioner","id":"p1-0","name":5}"#;
        let e = flatten_files(&[(7, duplicate), (8, wrong_type)]).unwrap_err().to_string();
        assert!(e.contains("f07.ndjson: resource Practitioner/p1-0: duplicate id") && e.contains("f01.ndjson"), "{e}");
    }

    #[test]
    fn results_come_in_index_order_and_the_first_error_wins() {
        let mut seen = Vec::new();
        in_order(200, |i| i * 2, |v| -> Result<(), String> {
            seen.push(v);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, (0..200).map(|i| i * 2).collect::<Vec<_>>());

        // Items 50 and 120 fail; whichever thread finishes first, 50 is the error reported.
        let mut consumed = 0;
        let e = in_order(200, |i| i, |v| {
            consumed += 1;
            if v == 50 || v == 120 {
                Err(format!("item {v}"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(e, "item 50");
        assert_eq!(consumed, 51);
    }
}
