//! The night's publications in two lanes: each one's first steps (its disclosure, then its gate)
//! on the calling thread, its last ones (its history, then its release) on another, so that a
//! publication's history can finish while the next one is already disclosed and gated.
//!
//! Why: a publication's gate and history run side by side, and when they ran as a pair the next
//! publication waited for the slower of the two and then for the release, with a core idle
//! meanwhile; and its disclosure then ran alone, on about a core and a half. At scale 0.25 both
//! cores were busy only about four fifths of the publications' time.
//!
//! What the lanes keep of the publications one after the other:
//! - each lane takes the publications in order, so a step of a publication runs after the same
//!   step of every earlier one: a later gate takes only what an earlier gate made and proved, a
//!   later history what an earlier history made (`release::shared`);
//! - the error reported is the one the steps would meet one after the other: the earliest
//!   publication's, and within it the first step's (begin, gate, history, finish);
//! - at most two steps run at once, as when a publication's gate and history ran side by side;
//!   the first lane is at most two publications ahead (one handed over, one begun), so what is
//!   set aside on disk holds three publications' tables at most.

use std::sync::{mpsc, Arc};

/// The four steps of one publication. `begin` and `gate` run in the first lane (the calling
/// thread), `history` and `finish` in the second; `begin`'s work is shared by the gate and the
/// history and given whole to `finish` once the gate is done with it.
pub struct Steps<Begin, Gate, History, Finish> {
    pub begin: Begin,
    pub gate: Gate,
    pub history: History,
    pub finish: Finish,
}

/// Run the steps of publications `0..count` in two lanes and return what `finish` made of each,
/// in order; or the first error in the order the steps would meet one after the other. After an
/// error no publication is begun, and no step of a later publication starts once the lane that
/// failed has stopped the other.
pub fn in_two_lanes<W, G, H, S, E, Begin, Gate, History, Finish>(count: usize, steps: Steps<Begin, Gate, History, Finish>) -> Result<Vec<S>, E>
where
    W: Send + Sync,
    G: Send,
    S: Send,
    E: Send,
    Begin: FnMut(usize) -> Result<W, E>,
    Gate: FnMut(&W) -> Result<G, E>,
    History: FnMut(&W) -> Result<H, E> + Send,
    Finish: FnMut(W, G, H) -> Result<S, E> + Send,
{
    let Steps { mut begin, mut gate, mut history, mut finish } = steps;
    // Room for one begun publication waiting for the second lane: the first lane may gate it
    // while the second finishes the one before.
    let (to_second, begun) = mpsc::sync_channel::<Arc<W>>(1);
    let (gate_done, gated) = mpsc::channel::<Result<G, E>>();
    std::thread::scope(|scope| {
        let second = scope.spawn(move || -> Result<Vec<S>, E> {
            let mut finished = Vec::with_capacity(count);
            for work in begun {
                let made = history(&work);
                // The first lane stopped without gating it: it panicked (a bug), which the scope
                // resumes once this lane returns.
                let Ok(gate_result) = gated.recv() else { break };
                // The gate's error comes before the history's, as one after the other.
                let gate_report = gate_result?;
                let made = made?;
                let work = Arc::try_unwrap(work).unwrap_or_else(|_| unreachable!("the first lane lets go of a publication before handing over its gate"));
                finished.push(finish(work, gate_report, made)?);
            }
            Ok(finished)
        });
        let first = first_lane(count, &mut begin, &mut gate, &to_second, &gate_done);
        drop((to_second, gate_done));
        let second = second.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // An error of the second lane is of an earlier publication than the first lane's own (a
        // begin's): the first lane hands a publication over only once it is begun.
        let finished = second?;
        first?;
        Ok(finished)
    })
}

/// The first lane: begin each publication, hand it to the second, gate it, hand the gate's result
/// over. Stops at its first error (a gate's is handed over, the second lane reports it) or when
/// the second lane has stopped.
fn first_lane<W, G, E>(count: usize, begin: &mut impl FnMut(usize) -> Result<W, E>, gate: &mut impl FnMut(&W) -> Result<G, E>, to_second: &mpsc::SyncSender<Arc<W>>, gate_done: &mpsc::Sender<Result<G, E>>) -> Result<(), E> {
    for index in 0..count {
        let work = Arc::new(begin(index)?);
        if to_second.send(Arc::clone(&work)).is_err() {
            return Ok(());
        }
        let gated = gate(&work);
        drop(work);
        let failed = gated.is_err();
        if gate_done.send(gated).is_err() || failed {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Publications 0..count through the lanes, each step logged; `fail` names a step ("begin 2",
    /// "history 1", …) that returns an error.
    fn run(count: usize, fail: &str) -> (Result<Vec<String>, String>, Vec<String>) {
        let log = Mutex::new(Vec::new());
        let step = |name: &str, i: usize| -> Result<usize, String> {
            let what = format!("{name} {i}");
            log.lock().unwrap().push(what.clone());
            if what == fail {
                Err(what)
            } else {
                Ok(i)
            }
        };
        let result = in_two_lanes(
            count,
            Steps {
                begin: |i| step("begin", i),
                gate: |i: &usize| step("gate", *i),
                history: |&i: &usize| {
                    // The second lane is slower: the first runs ahead.
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    step("history", i)
                },
                finish: |i, g, h| step("finish", i).map(|_| format!("{i}:{g}:{h}")),
            },
        );
        (result, log.into_inner().unwrap())
    }

    fn position(log: &[String], step: &str) -> usize {
        log.iter().position(|s| s == step).unwrap_or_else(|| panic!("{step} not run: {log:?}"))
    }

    #[test]
    fn every_publication_is_finished_in_order_and_each_lane_keeps_the_order() {
        let (result, log) = run(5, "");
        assert_eq!(result.unwrap(), (0..5).map(|i| format!("{i}:{i}:{i}")).collect::<Vec<_>>());
        for i in 1..5 {
            for step in ["begin", "gate", "history", "finish"] {
                assert!(position(&log, &format!("{step} {}", i - 1)) < position(&log, &format!("{step} {i}")), "{log:?}");
            }
        }
        for i in 0..5 {
            assert!(position(&log, &format!("begin {i}")) < position(&log, &format!("history {i}")));
            assert!(position(&log, &format!("gate {i}")) < position(&log, &format!("finish {i}")));
            assert!(position(&log, &format!("history {i}")) < position(&log, &format!("finish {i}")));
        }
    }

    #[test]
    fn the_first_lane_runs_at_most_two_publications_ahead() {
        let (_, log) = run(7, "");
        for i in 3..7 {
            // Publication i is begun once i - 1 is handed over, i.e. once the second lane took
            // i - 2, having finished i - 3.
            assert!(position(&log, &format!("finish {}", i - 3)) < position(&log, &format!("begin {i}")), "{log:?}");
        }
    }

    #[test]
    fn the_error_is_the_one_met_one_after_the_other() {
        // A history's error wins over a later publication's begin, which the first lane may reach first.
        let (result, log) = run(5, "history 1");
        assert_eq!(result.unwrap_err(), "history 1");
        assert!(!log.iter().any(|s| s == "finish 1" || s == "history 2" || s == "begin 4"), "{log:?}");
        // A gate's error wins over its own publication's history.
        assert_eq!(run(3, "gate 1").0.unwrap_err(), "gate 1");
        // A begin's error, once every earlier publication is finished.
        let (result, log) = run(4, "begin 2");
        assert_eq!(result.unwrap_err(), "begin 2");
        assert!(log.iter().any(|s| s == "finish 1") && !log.iter().any(|s| s.ends_with(" 3")), "{log:?}");
        assert_eq!(run(3, "finish 0").0.unwrap_err(), "finish 0");
    }

    #[test]
    #[should_panic(expected = "a bug in a history")]
    fn a_panic_in_the_second_lane_is_resumed() {
        let _ = in_two_lanes(
            3,
            Steps { begin: |i| Ok::<_, ()>(i), gate: |_: &usize| Ok(()), history: |_: &usize| -> Result<(), ()> { panic!("a bug in a history") }, finish: |i, _, _| Ok(i) },
        );
    }
}
