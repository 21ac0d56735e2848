//! Operations: what the nightly scheduler and the operator reading the result at 9 need around the
//! pipeline — a lock so two runs never overlap (`lock`), structured logs with one event per stage
//! (`logging`, `stage`), progress on a terminal only (`progress`), and the night's publications
//! stepped in two lanes so that both cores stay busy (`lanes`).

pub mod lanes;
pub mod lock;
pub mod logging;
pub mod progress;
pub mod stage;
