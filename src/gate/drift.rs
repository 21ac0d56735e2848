//! Drift against the previous release (the one `latest` named when this release was built): columns
//! removed, retyped or added, row counts out of their band, tables emptied, and columns whose share
//! of nulls jumps. Each of these is usually a broken source or a broken flattening, rarely a real
//! change of the ROR overnight.
//!
//! The previous release is read from its own files — the manifest for the tables, each table's
//! Parquet file for its types and null counts — so the comparison needs nothing but a release
//! folder, whatever version of this job wrote it. A schema change (column removed or retyped) made
//! together with a policy change or a new version of the job is deliberate: it is reported as a
//! warning, and the history stage bumps the table's schema version for reusers.


use polars::prelude::*;

use super::{Context, GateError, Severity};
use crate::history::StoredRows;
use crate::release::previous::{PreviousRelease, StoreFile};
use crate::table::spill::TableSource;

/// What the drift checks need of one table of the previous release.
#[derive(Debug, Clone)]
pub struct PreviousTable {
    pub name: String,
    pub rows: u64,
    /// Column names with their polars types, in file order.
    pub columns: Vec<(String, DataType)>,
    /// Nulls per column, in the same order.
    pub nulls: Vec<u64>,
}

impl PreviousTable {
    pub fn from_frame(name: &str, frame: &DataFrame) -> PreviousTable {
        PreviousTable {
            name: name.to_owned(),
            rows: frame.height() as u64,
            columns: frame.columns().iter().map(|c| (c.name().to_string(), c.dtype().clone())).collect(),
            nulls: frame.columns().iter().map(|c| c.null_count() as u64).collect(),
        }
    }
}

/// What the drift checks need of the previous release.
#[derive(Debug, Clone)]
pub struct PreviousState {
    pub version: String,
    pub policy_sha256: String,
    pub generator_version: String,
    pub tables: Vec<PreviousTable>,
}

/// Read the previous release's tables from its Parquet files, one at a time.
pub fn load(previous: &PreviousRelease) -> Result<PreviousState, String> {
    let manifest = &previous.manifest;
    let mut tables = Vec::new();
    for record in &manifest.tables {
        tables.push(previous_table(&record.name, &previous.dir.join(&record.parquet))?);
    }
    Ok(PreviousState {
        version: manifest.version.clone(),
        policy_sha256: manifest.policy.sha256.clone(),
        generator_version: manifest.generator.version.clone(),
        tables,
    })
}

/// One table of the previous release from its Parquet file, a row group at a time: its columns
/// and types (from no rows), its rows and each column's empty cells. Reading each file whole set
/// a later night's peak memory in the gate (1.15 GB at scale 1, the largest table's previous
/// version beside the night's slices).
fn previous_table(name: &str, path: &std::path::Path) -> Result<PreviousTable, String> {
    let file = StoreFile::open(path).map_err(|e| e.to_string())?;
    let mut table = PreviousTable::from_frame(name, &file.read(0, 0, None).map_err(|e| e.to_string())?);
    for (offset, rows) in file.parts() {
        let frame = file.read(offset, rows, None).map_err(|e| e.to_string())?;
        for (nulls, column) in table.nulls.iter_mut().zip(frame.columns()) {
            *nulls += column.null_count() as u64;
        }
    }
    table.rows = file.height() as u64;
    Ok(table)
}

const CHECKS: [&str; 4] = ["schema_drift", "row_count", "emptied", "null_share"];

pub fn check(ctx: &mut Context<'_>, tables: &dyn TableSource, policy_sha256: &str, previous: Option<&PreviousRelease>) -> Result<(), GateError> {
    let Some(previous) = previous else {
        for check in CHECKS {
            ctx.skip(check, "first release of the publication: nothing to compare with");
        }
        return Ok(());
    };
    match load(previous) {
        Ok(state) => compare(ctx, tables, policy_sha256, env!("CARGO_PKG_VERSION"), &state)?,
        Err(message) => {
            if ctx.runs("schema_drift") {
                let message = format!("the previous release {} cannot be read, so drift is unknown: {message}", previous.manifest.version);
                ctx.finding("schema_drift", Severity::Failure, None, None, 1, message, Vec::new());
            }
        }
    }
    Ok(())
}

/// Compare the tables about to be released with the previous release's. Columns and types come
/// from each table's shape, null counts from the source's record of them: no values are read.
pub fn compare(ctx: &mut Context<'_>, tables: &dyn TableSource, policy_sha256: &str, generator_version: &str, previous: &PreviousState) -> Result<(), GateError> {
    let version = &previous.version;
    let deliberate = match (previous.policy_sha256 != policy_sha256, previous.generator_version != generator_version) {
        (true, _) => Some("the policy changed"),
        (false, true) => Some("the job's version changed"),
        (false, false) => None,
    };
    let schema_severity = if deliberate.is_some() { Severity::Warning } else { Severity::Failure };
    let because = deliberate.map_or(String::new(), |d| format!(" ({d} since {version}: a warning)"));

    let schema = ctx.runs("schema_drift");
    let (rows, emptied, nulls) = (ctx.runs("row_count"), ctx.runs("emptied"), ctx.runs("null_share"));
    for before in &previous.tables {
        let name = before.name.as_str();
        let (Some(now), Some(now_rows)) = (tables.shape(name), tables.rows(name)) else {
            if schema {
                ctx.finding("schema_drift", schema_severity, Some(name), None, 1, format!("{name}: published in {version}, not in this release{because}"), Vec::new());
            }
            continue;
        };
        let now_rows = now_rows as u64;
        if schema {
            for (column, dtype) in &before.columns {
                match now.frame.column(column) {
                    Err(_) => ctx.finding("schema_drift", schema_severity, Some(name), Some(column), 1, format!("{name}.{column}: removed since {version}{because}"), Vec::new()),
                    Ok(c) if c.dtype() != dtype => {
                        ctx.finding("schema_drift", schema_severity, Some(name), Some(column), 1, format!("{name}.{column}: {dtype} in {version}, {} now{because}", c.dtype()), Vec::new())
                    }
                    Ok(_) => {}
                }
            }
            for column in now.column_names() {
                if !before.columns.iter().any(|(c, _)| *c == column) {
                    ctx.finding("schema_drift", Severity::Warning, Some(name), Some(&column), 1, format!("{name}.{column}: added since {version}"), Vec::new());
                }
            }
        }
        if before.rows > 0 && now_rows == 0 {
            if emptied {
                ctx.finding("emptied", Severity::Failure, Some(name), None, before.rows, format!("{name}: emptied ({} rows in {version}, none now)", before.rows), Vec::new());
            }
        } else if rows && before.rows > 0 {
            let change = 100.0 * (now_rows as f64 - before.rows as f64) / before.rows as f64;
            let (low, high) = (ctx.config.min_row_change_percent, ctx.config.max_row_change_percent);
            if change < low || change > high {
                let message = format!("{name}: {now_rows} rows, {} in {version} ({change:+.1} %, outside the band {low:+} % / {high:+} %)", before.rows);
                ctx.finding("row_count", Severity::Failure, Some(name), None, now_rows.abs_diff(before.rows), message, Vec::new());
            }
        }
        let min_rows = ctx.config.drift_min_rows;
        if nulls && before.rows >= min_rows && now_rows >= min_rows {
            let limit = ctx.config.max_null_share_jump_points;
            for ((column, _), before_nulls) in before.columns.iter().zip(&before.nulls) {
                let Some(now_nulls) = tables.null_count(name, column) else { continue };
                let (was, is) = (100.0 * *before_nulls as f64 / before.rows as f64, 100.0 * now_nulls as f64 / now_rows as f64);
                if (is - was).abs() > limit {
                    let message = format!("{name}.{column}: {is:.1} % empty, {was:.1} % in {version} ({:+.1} points, more than {limit})", is - was);
                    ctx.finding("null_share", Severity::Failure, Some(name), Some(column), now_nulls as u64, message, Vec::new());
                }
            }
        } else if nulls {
            ctx.skip("null_share", format!("tables below drift_min_rows = {min_rows} rows are not compared"));
        }
    }
    if schema {
        for name in tables.names() {
            if !previous.tables.iter().any(|t| t.name == name) {
                ctx.finding("schema_drift", Severity::Warning, Some(name), None, 1, format!("{name}: a new table since {version}"), Vec::new());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A previous table read a row group at a time is the one read whole: columns, types, rows
    /// and empty cells.
    #[test]
    fn a_previous_table_read_by_row_group_is_the_table_read_whole() {
        let work = tempfile::tempdir().unwrap();
        for rows in [0usize, 3, 200_000] {
            let (frame, path) = crate::table::write::parquet_of_rows(work.path(), rows);
            let whole = PreviousTable::from_frame("t", &frame);
            let read = previous_table("t", &path).unwrap();
            assert_eq!((read.name, read.rows, read.columns, read.nulls), (whole.name, whole.rows, whole.columns, whole.nulls));
        }
        let error = previous_table("t", &work.path().join("missing.parquet")).unwrap_err();
        assert!(error.contains("missing.parquet: cannot read"), "{error}");
    }
    use crate::gate::exceptions::Exceptions;
    use crate::gate::{Finding, GateConfig};
    use crate::table::{catalog, Table, Tables};

    fn lieux(n: usize, with_names: usize) -> Table {
        let ids: Vec<String> = (0..n).map(|i| format!("L{i:04}")).collect();
        let names: Vec<Option<String>> = (0..n).map(|i| (i < with_names).then(|| format!("Lieu {i}"))).collect();
        let places: Vec<Option<i64>> = (0..n).map(|i| Some(i as i64)).collect();
        Table { spec: &catalog::LIEUX, frame: df!("identifiant_ror" => ids, "nom" => names, "nombre_habitations" => places).unwrap() }
    }

    fn previous(tables: &[&Table], policy: &str) -> PreviousState {
        PreviousState {
            version: "20261124T020000Z".into(),
            policy_sha256: policy.into(),
            generator_version: env!("CARGO_PKG_VERSION").into(),
            tables: tables.iter().map(|t| PreviousTable::from_frame(t.name(), &t.frame)).collect(),
        }
    }

    fn run(now: &[Table], before: &PreviousState) -> Vec<Finding> {
        let (config, exceptions) = (GateConfig::default(), Exceptions::none());
        let mut ctx = Context::new(&config, &exceptions);
        let tables: Tables = now.iter().map(|t| (t.name(), t.clone())).collect();
        compare(&mut ctx, &tables, "policy", env!("CARGO_PKG_VERSION"), before).unwrap();
        ctx.findings
    }

    #[test]
    fn an_unchanged_table_has_no_drift() {
        let t = lieux(200, 200);
        assert_eq!(run(std::slice::from_ref(&t), &previous(&[&t], "policy")), Vec::<Finding>::new());
    }

    #[test]
    fn a_retyped_column_fails_unless_the_policy_changed() {
        let before = lieux(200, 200);
        let mut now = before.clone();
        let as_text = now.frame.column("nombre_habitations").unwrap().cast(&DataType::String).unwrap();
        now.frame.with_column(as_text).unwrap();
        let findings = run(&[now.clone()], &previous(&[&before], "policy"));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!((f.check, f.severity, f.location()), ("schema_drift", Severity::Failure, "lieux.nombre_habitations".to_owned()));
        assert_eq!(f.message, "lieux.nombre_habitations: i64 in 20261124T020000Z, str now");
        let findings = run(&[now], &previous(&[&before], "another policy"));
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(findings[0].message.ends_with("(the policy changed since 20261124T020000Z: a warning)"), "{}", findings[0].message);
    }

    #[test]
    fn removed_and_added_columns_and_tables() {
        let before = lieux(200, 200);
        let mut now = before.clone();
        now.frame = now.frame.drop("nom").unwrap();
        now.frame.with_column(Column::new("commune".into(), vec![Some("Rennes"); 200])).unwrap();
        let offres = Table { spec: &catalog::OFFRES, frame: df!("identifiant_ror" => ["O1"]).unwrap() };
        let findings = run(&[now], &previous(&[&before, &offres], "policy"));
        let seen: Vec<(&str, Severity, String)> = findings.iter().map(|f| (f.check, f.severity, f.message.clone())).collect();
        assert_eq!(
            seen,
            [
                ("schema_drift", Severity::Failure, "lieux.nom: removed since 20261124T020000Z".to_owned()),
                ("schema_drift", Severity::Warning, "lieux.commune: added since 20261124T020000Z".to_owned()),
                ("schema_drift", Severity::Failure, "offres: published in 20261124T020000Z, not in this release".to_owned()),
            ]
        );
    }

    #[test]
    fn row_counts_out_of_band_and_emptied_tables() {
        let before = lieux(200, 200);
        let findings = run(&[lieux(189, 189)], &previous(&[&before], "policy"));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!(findings[0].message, "lieux: 189 rows, 200 in 20261124T020000Z (-5.5 %, outside the band -5 % / +10 %)");
        assert!(run(&[lieux(190, 190)], &previous(&[&before], "policy")).is_empty(), "-5 % is inside the band");
        assert!(run(&[lieux(220, 220)], &previous(&[&before], "policy")).is_empty(), "+10 % is inside the band");
        assert_eq!(run(&[lieux(221, 221)], &previous(&[&before], "policy"))[0].check, "row_count");

        let findings = run(&[lieux(0, 0)], &previous(&[&before], "policy"));
        assert_eq!(findings.len(), 1, "emptied, and not also out of band: {findings:#?}");
        assert_eq!((findings[0].check, findings[0].severity, findings[0].count), ("emptied", Severity::Failure, 200));
        assert_eq!(findings[0].message, "lieux: emptied (200 rows in 20261124T020000Z, none now)");
    }

    #[test]
    fn a_jump_in_the_share_of_nulls_is_named() {
        let before = lieux(200, 200);
        let findings = run(&[lieux(200, 150)], &previous(&[&before], "policy"));
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert_eq!((findings[0].check, findings[0].location(), findings[0].count), ("null_share", "lieux.nom".to_owned(), 50));
        assert_eq!(findings[0].message, "lieux.nom: 25.0 % empty, 0.0 % in 20261124T020000Z (+25.0 points, more than 20)");
        assert!(run(&[lieux(200, 170)], &previous(&[&before], "policy")).is_empty(), "15 points is within the limit");
        // Small tables move by whole points with one row: not compared.
        let small = lieux(10, 10);
        assert!(run(&[lieux(10, 5)], &previous(&[&small], "policy")).is_empty());
    }
}
