//! data.gouv.fr's limits, checked before publishing rather than discovered after: the platform's
//! analysis (schema detection, preview, API tabulaire) handles column names of at most 63
//! characters and CSV files of at most 100 MB. Longer names fail the gate (they come from the
//! catalogue, so it is a bug); large files are flagged, since the data is right but reusers lose the
//! preview — split or gzip them, or raise `large_file_bytes` knowingly.

use super::report::FileFacts;
use super::{Context, Severity};
use crate::table::spill::TableSource;

/// PostgreSQL's identifier length, which data.gouv.fr's tabular API inherits.
pub const MAX_COLUMN_NAME_CHARS: usize = 63;

/// Only the names are needed: each table's shape (its columns without their rows).
pub fn column_names(ctx: &mut Context<'_>, tables: &dyn TableSource) {
    if !ctx.runs("column_names") {
        return;
    }
    for table in tables.names().into_iter().filter_map(|name| tables.shape(name)) {
        for column in table.column_names() {
            let length = column.chars().count();
            if length > MAX_COLUMN_NAME_CHARS {
                let message = format!("{}.{column}: {length} characters, data.gouv.fr accepts {MAX_COLUMN_NAME_CHARS}", table.name());
                ctx.finding("column_names", Severity::Failure, Some(table.name()), Some(&column), 1, message, Vec::new());
            }
        }
    }
}

pub fn file_size(ctx: &mut Context<'_>, table: &str, file: &FileFacts) {
    if !ctx.runs("file_size") {
        return;
    }
    let limit = ctx.config.large_file_bytes;
    if file.bytes > limit {
        let message = format!("{}: {} bytes, above {limit}: data.gouv.fr will not analyse or preview it", file.path, file.bytes);
        ctx.finding("file_size", Severity::Failure, Some(table), None, 1, message, Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::exceptions::Exceptions;
    use crate::gate::GateConfig;
    use crate::table::{catalog, Table, Tables};
    use polars::prelude::*;

    #[test]
    fn long_names_fail_and_large_files_warn() {
        let long = "x".repeat(64);
        let frame = df!("identifiant_ror" => ["a"], long.as_str() => [1i64]).unwrap();
        let tables = Tables::from([("lieux", Table { spec: &catalog::LIEUX, frame })]);
        let config = GateConfig { large_file_bytes: 10, ..GateConfig::default() };
        let exceptions = Exceptions::none();
        let mut ctx = Context::new(&config, &exceptions);
        column_names(&mut ctx, &tables);
        file_size(&mut ctx, "lieux", &FileFacts { path: "lieux.csv".into(), bytes: 11, sha256: String::new() });
        file_size(&mut ctx, "lieux", &FileFacts { path: "lieux.parquet".into(), bytes: 10, sha256: String::new() });
        let found: Vec<_> = ctx.findings.iter().map(|f| (f.check, f.severity, f.message.clone())).collect();
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!((found[0].0, found[0].1), ("column_names", Severity::Failure));
        assert!(found[0].2.contains("64 characters"));
        assert_eq!((found[1].0, found[1].1), ("file_size", Severity::Warning), "file_size warns by default");
        assert!(found[1].2.starts_with("lieux.csv: 11 bytes, above 10"));
    }
}
