//! Freshness: a snapshot must be recent, and so must what it holds.
//!
//! - `update_lag` compares the newest `meta.lastUpdated` of the snapshot with the snapshot's own
//!   instant. Both are inputs, so the verdict is deterministic: a national ROR is edited around the
//!   clock, and an export whose newest edit is a week old comes from a stuck source or a stale
//!   cache.
//! - `snapshot_age` compares the snapshot instant with the reference instant (`[gate] now`, else the
//!   wall clock). It runs only when `max_snapshot_age_hours` is set, so a stored snapshot (the
//!   embedded sample, a replayed night) is not refused for being old. Neither instant nor the age
//!   is written into the report, only the snapshot instant and the limit: a later rebuild of a
//!   release that passed gives the same bytes as long as it still passes.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Context, Severity};

pub fn check(ctx: &mut Context<'_>, taken_at: DateTime<Utc>, basis: &str, latest_update: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    match ctx.config.max_snapshot_age_hours {
        None => ctx.skip("snapshot_age", "max_snapshot_age_hours is not set"),
        Some(limit) => {
            if ctx.runs("snapshot_age") {
                let age_hours = (now - taken_at).num_seconds() as f64 / 3600.0;
                tracing::debug!(age_hours, limit, "snapshot age");
                if age_hours > limit {
                    let message = format!("the snapshot was taken at {}, more than {limit} h before the reference time: it is stale", at(taken_at));
                    ctx.finding("snapshot_age", Severity::Failure, None, None, 1, message, Vec::new());
                }
            }
        }
    }
    match latest_update {
        None => ctx.skip("update_lag", "no resource of the snapshot has meta.lastUpdated"),
        Some(_) if basis != "snapshot" => ctx.skip("update_lag", "the snapshot instant is its newest meta.lastUpdated"),
        Some(latest) => {
            if ctx.runs("update_lag") {
                let limit = ctx.config.max_update_lag_hours;
                let lag_hours = (taken_at - latest).num_seconds() as f64 / 3600.0;
                if lag_hours > limit {
                    let message = format!(
                        "the newest meta.lastUpdated of the snapshot is {}, {lag_hours:.1} h before the snapshot instant {} (limit {limit} h): the source looks stuck",
                        at(latest),
                        at(taken_at)
                    );
                    ctx.finding("update_lag", Severity::Failure, None, None, 1, message, Vec::new());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::exceptions::Exceptions;
    use crate::gate::{Finding, GateConfig};
    use chrono::TimeZone;

    fn run(config: &GateConfig, latest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Vec<Finding> {
        let exceptions = Exceptions::none();
        let mut ctx = Context::new(config, &exceptions);
        check(&mut ctx, Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap(), "snapshot", latest, now);
        ctx.findings
    }

    #[test]
    fn a_stale_snapshot_is_refused_only_when_a_limit_is_set() {
        let now = Utc.with_ymd_and_hms(2026, 12, 25, 2, 0, 0).unwrap();
        let recent = Some(Utc.with_ymd_and_hms(2026, 11, 24, 18, 0, 0).unwrap());
        assert!(run(&GateConfig::default(), recent, now).is_empty());
        let config = GateConfig { max_snapshot_age_hours: Some(48.0), ..GateConfig::default() };
        let findings = run(&config, recent, now);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].check, "snapshot_age");
        assert_eq!(findings[0].message, "the snapshot was taken at 2026-11-25T02:00:00Z, more than 48 h before the reference time: it is stale");
        assert!(run(&config, recent, Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap()).is_empty());
    }

    #[test]
    fn a_snapshot_whose_newest_edit_is_old_is_refused() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
        let findings = run(&GateConfig::default(), Some(Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap()), now);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].check, "update_lag");
        assert!(findings[0].message.starts_with("the newest meta.lastUpdated of the snapshot is 2026-11-01T02:00:00Z, 576.0 h before"), "{}", findings[0].message);
        assert!(run(&GateConfig::default(), Some(Utc.with_ymd_and_hms(2026, 11, 19, 2, 0, 0).unwrap()), now).is_empty());
    }
}
