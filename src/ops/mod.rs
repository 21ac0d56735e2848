//! Operations: what the nightly scheduler and the operator reading the result at 9 need around the
//! pipeline — a lock so two runs never overlap (`lock`), structured logs with one event per stage
//! (`logging`, `stage`), and progress on a terminal only (`progress`).

pub mod lock;
pub mod logging;
pub mod progress;
pub mod stage;
