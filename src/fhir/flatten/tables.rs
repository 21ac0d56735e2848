//! The snapshot's tables made from the parts the files left on disk, once every file is read:
//! two at a time, in two lanes.
//!
//! Making a table (`SpilledTables::put_sorted_by_chunks`: reading its parts, sorting runs,
//! writing them and merging them) keeps about one core busy: alone, the tables left the other
//! core mostly idle for the last third of the stage (about 14 s at scale 1). The tables no other
//! table reads (hours, contacts, equipment) go in one lane; those that decide another's columns
//! (the organisations, places and offers, then the roles and capacities resolved from them) in
//! the other, in their order. The two lanes take about the same time.
//!
//! What making them one after the other, in catalogue order, gave is kept: the same tables, and
//! the same error: the first table's in catalogue order that fails (each lane goes in that order,
//! and a lane does not begin a table that comes after one the other lane failed).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use polars::prelude::DataFrame;

use super::{links, location, offer, organization, practitioner, FhirError, PARTS_AT_ONCE};
use crate::table::parts::Parts;
use crate::table::spill::{SpilledTables, TableSource, RUN_BYTES};
use crate::table::{catalog, TableBuilder, TableSpec};
use organization::Organizations;

/// Why a lane stopped early.
enum Stop {
    /// A table failed: its place in the catalogue, and the error.
    Failed(usize, FhirError),
    /// The other lane failed on a table before the next one of this lane.
    Behind,
}

/// Each table made from its parts into `spilled`, two at a time (see the module's doc). `written`
/// lists each table's parts in file order; the maps are what the organisations, offers and roles
/// are resolved from, each dropped once its last table is made.
pub(super) fn make_tables(parts: &Parts, spilled: &SpilledTables, written: &BTreeMap<&'static str, Vec<usize>>, organizations: Organizations, practitioner_records: practitioner::PractitionerRecords, offer_providers: Vec<u32>) -> Result<(), FhirError> {
    // A table is made a few parts at a time, every column, sorted by an external merge sort
    // (`put_sorted_by_chunks`): at most a run of rows sorted in memory at a time, whatever the
    // table's size. A table with a resolution pass has it done on each chunk (`resolve`, given
    // the chunk's first row in the table's unsorted order), from maps built once: its
    // resolved columns are never whole either.
    let make = |spec: &'static TableSpec, resolve: &dyn Fn(&mut DataFrame, usize) -> Result<(), FhirError>| -> Result<(), FhirError> {
        let list = written.get(spec.name).map_or(&[][..], Vec::as_slice);
        let shape = TableBuilder::new(spec).into_frame()?;
        let every: Vec<usize> = (0..shape.width()).collect();
        let (mut next_part, mut offset) = (0, 0);
        let mut next = || -> Result<Option<DataFrame>, FhirError> {
            if next_part == list.len() {
                return Ok(None);
            }
            let chunk = &list[next_part..list.len().min(next_part + PARTS_AT_ONCE)];
            next_part += chunk.len();
            let mut rows = parts.read_columns(spec, chunk, &every)?;
            resolve(&mut rows, offset)?;
            offset += rows.height();
            Ok(Some(rows))
        };
        spilled.put_sorted_by_chunks(spec, shape.clone(), RUN_BYTES, &mut next)?;
        parts.remove_table(spec, list);
        tracing::info!(table = spec.name, rows = spilled.rows(spec.name).unwrap_or(0), "table made");
        Ok(())
    };
    let nothing = |_: &mut DataFrame, _: usize| Ok(());
    let first = FirstFailure::default();
    // The tables no other table's making reads.
    let alone = || -> Result<(), Stop> {
        for spec in [&catalog::HORAIRES, &catalog::CONTACTS, &catalog::EQUIPEMENTS] {
            first.step(spec, || make(spec, &nothing))?;
        }
        Ok(())
    };
    // The tables whose making reads another's, each after those it reads.
    let linked = || -> Result<(), Stop> {
        first.step(&catalog::ENTITES_JURIDIQUES, || make(&catalog::ENTITES_JURIDIQUES, &nothing))?;
        first.step(&catalog::ENTITES_GEOGRAPHIQUES, || make(&catalog::ENTITES_GEOGRAPHIQUES, &nothing))?;
        first.step(&catalog::ORGANISATIONS_INTERNES, || make(&catalog::ORGANISATIONS_INTERNES, &|frame, _| organization::resolve_internal(&organizations, frame)))?;
        first.step(&catalog::LIEUX, || make(&catalog::LIEUX, &nothing))?;
        first.step(&catalog::OFFRES, || make(&catalog::OFFRES, &|frame, first| offer::resolve(&organizations, &offer_providers[first..first + frame.height()], frame)))?;
        drop((organizations, offer_providers));
        // The roles' offers and the capacities' places, from the tables made by now; each role's
        // practitioner, joined bucket by bucket (the roles' ids read a chunk at a time). Both
        // are part of making the roles' table, and fail as it.
        let spec = &catalog::PROFESSIONNELS;
        let (links, practitioners) = first.step(spec, || {
            let links = links::Links::read(spilled)?;
            let list = written.get(spec.name).map_or(&[][..], Vec::as_slice);
            let professional = TableBuilder::new(spec).into_frame()?.get_column_index("professionnel_id").expect("professionnels has professionnel_id");
            let mut roles = practitioner_records.roles();
            for chunk in list.chunks(PARTS_AT_ONCE) {
                let ids = parts.read_columns(spec, chunk, &[professional])?;
                for id in crate::table::text_column(spec, &ids, "professionnel_id")?.iter() {
                    roles.push(id)?;
                }
            }
            Ok((links, practitioner_records.join(roles)?))
        })?;
        first.step(spec, || make(spec, &|frame, first| practitioner::resolve_roles(&practitioners, &links, frame, first)))?;
        drop(practitioners);
        first.step(&catalog::CAPACITES, || make(&catalog::CAPACITES, &|frame, _| location::link_capacities(&links, frame)))?;
        Ok(())
    };
    let (linked, alone) = std::thread::scope(|scope| {
        let alone = scope.spawn(alone);
        let linked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(linked));
        let alone = alone.join();
        // A lane's panic is resumed once both lanes are done.
        (linked.unwrap_or_else(|panic| std::panic::resume_unwind(panic)), alone.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    first_error([linked, alone])
}

/// The place in the catalogue of the first table that failed, in either lane.
struct FirstFailure(AtomicUsize);

impl Default for FirstFailure {
    fn default() -> FirstFailure {
        FirstFailure(AtomicUsize::new(usize::MAX))
    }
}

impl FirstFailure {
    /// One step of a lane, for the table `spec` (its making, or what its making needs first): not
    /// begun after a table the other lane failed (its error is the one reported); its own failure
    /// noted for the other lane.
    fn step<T>(&self, spec: &'static TableSpec, work: impl FnOnce() -> Result<T, FhirError>) -> Result<T, Stop> {
        let place = catalog::ALL.iter().position(|table| table.name == spec.name).expect("every table made is in the catalogue");
        if self.0.load(Ordering::SeqCst) < place {
            return Err(Stop::Behind);
        }
        work().map_err(|error| {
            self.0.fetch_min(place, Ordering::SeqCst);
            Stop::Failed(place, error)
        })
    }
}

/// The error of the lanes' first failed table in catalogue order: the one making the tables one
/// after the other would have met.
fn first_error(lanes: [Result<(), Stop>; 2]) -> Result<(), FhirError> {
    let failed = lanes.into_iter().filter_map(|lane| match lane {
        Err(Stop::Failed(place, error)) => Some((place, error)),
        Ok(()) | Err(Stop::Behind) => None,
    });
    match failed.min_by_key(|(place, _)| *place) {
        Some((_, error)) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(table: &str) -> FhirError {
        FhirError::Table(crate::table::TableError::DuplicateKey { table: "test", key: table.to_owned() })
    }

    fn reported(result: Result<(), FhirError>) -> Option<String> {
        result.err().map(|error| error.to_string())
    }

    /// A step after a table the other lane failed is not begun; one before it still is, and its
    /// own failure, earlier in the catalogue, becomes the first.
    #[test]
    fn a_lane_stops_only_after_the_first_failed_table() {
        let first = FirstFailure::default();
        assert!(matches!(first.step(&catalog::OFFRES, || Err::<(), _>(failure("offres"))), Err(Stop::Failed(4, _))));
        let mut begun = false;
        assert!(matches!(first.step(&catalog::HORAIRES, || { begun = true; Ok(()) }), Err(Stop::Behind)));
        assert!(!begun, "a table after the failed one is not made");
        assert_eq!(first.step(&catalog::LIEUX, || Ok(7)).ok(), Some(7), "a table before it still is");
        assert!(matches!(first.step(&catalog::ENTITES_JURIDIQUES, || Err::<(), _>(failure("ej"))), Err(Stop::Failed(0, _))));
        assert!(matches!(first.step(&catalog::LIEUX, || Ok(())), Err(Stop::Behind)));
    }

    /// The error reported is the earliest table's in the catalogue, whichever lane met it and
    /// whichever met its own first; a lane stopped behind the other reports nothing.
    #[test]
    fn the_first_table_in_the_catalogue_that_failed_is_reported() {
        let expected = reported(Err(failure("offres")));
        assert_eq!(reported(first_error([Err(Stop::Failed(4, failure("offres"))), Err(Stop::Failed(5, failure("horaires")))])), expected);
        assert_eq!(reported(first_error([Err(Stop::Failed(7, failure("professionnels"))), Err(Stop::Failed(4, failure("offres")))])), expected);
        assert_eq!(reported(first_error([Err(Stop::Behind), Err(Stop::Failed(4, failure("offres")))])), expected);
        assert_eq!(reported(first_error([Err(Stop::Failed(4, failure("offres"))), Ok(())])), expected);
        assert!(first_error([Ok(()), Ok(())]).is_ok());
    }

    /// Two lanes on two threads. Offres failing first, the other lane does not begin equipements
    /// after it; contacts failing first, the other lane still makes offres, whose error is the
    /// one reported.
    #[test]
    fn two_lanes_at_once_report_the_earlier_table_and_stop_after_it() {
        for offres_first in [true, false] {
            let first = FirstFailure::default();
            let made = std::sync::Mutex::new(Vec::new());
            // Each lane's news of the other's failure.
            let (tell_alone, alone_hears) = std::sync::mpsc::channel();
            let (tell_linked, linked_hears) = std::sync::mpsc::channel();
            let (first, made) = (&first, &made);
            // A table the work makes: its name noted.
            let make = move |name: &'static str| -> Result<(), FhirError> {
                made.lock().unwrap().push(name);
                Ok(())
            };
            let lanes = std::thread::scope(|scope| {
                let alone = scope.spawn(move || -> Result<(), Stop> {
                    if offres_first {
                        alone_hears.recv().unwrap();
                    }
                    first.step(&catalog::HORAIRES, || make("horaires"))?;
                    let contacts = first.step(&catalog::CONTACTS, || if offres_first { make("contacts") } else { Err(failure("contacts")) });
                    if !offres_first {
                        tell_linked.send(()).unwrap();
                    }
                    contacts?;
                    first.step(&catalog::EQUIPEMENTS, || make("equipements"))
                });
                // The other lane, on this thread.
                if !offres_first {
                    linked_hears.recv().unwrap();
                }
                let linked = first.step(&catalog::OFFRES, || Err::<(), _>(failure("offres")));
                if offres_first {
                    tell_alone.send(()).unwrap();
                }
                [linked, alone.join().unwrap()]
            });
            assert_eq!(reported(first_error(lanes)), reported(Err(failure("offres"))));
            assert_eq!(*made.lock().unwrap(), if offres_first { Vec::<&str>::new() } else { vec!["horaires"] });
        }
    }
}
