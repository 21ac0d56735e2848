//! The documentation page of a release, in Markdown and in HTML from the same tera templates
//! (templates/documentation.*.tera): every table with its purpose, keys and columns (type,
//! description, code list, example values), how the public subset is defined, how to verify the
//! files and rebuild a past version.

use serde::Serialize;
use tera::{Context, Tera};

use crate::disclose::Disclosed;
use crate::table::spill::TableSource;
use crate::table::Table;

pub const MARKDOWN_FILE: &str = "documentation.md";
pub const HTML_FILE: &str = "documentation.html";
const MARKDOWN_TEMPLATE: &str = include_str!("../../templates/documentation.md.tera");
const HTML_TEMPLATE: &str = include_str!("../../templates/documentation.html.tera");
/// How many distinct example values each column shows.
const EXAMPLES: usize = 3;

const RULES_EN: &str = "The public files hold exactly the ROR's public profile (Profil 0, CU23): legal and geographic \
entities, internal organisations, offers, places, opening hours; contacts and telecoms only at confidentiality level 1 \
(open access); practitioners' identities only for ambulatory (champ 05) offers. Never public: offers of sensitive units \
and everything attached to them, bed capacities and availability, specific equipment, the ORSAN recourse level and \
helipad flag, contacts and telecoms at levels 2 and 3, hospital and medico-social practitioners' identities.";

#[derive(Serialize)]
struct ColumnDoc {
    name: String,
    kind: String,
    description: String,
    code_list: String,
    examples: String,
}

#[derive(Serialize)]
struct ForeignKeyDoc {
    column: String,
    table: String,
    reference: String,
}

#[derive(Serialize)]
struct TableDoc {
    name: String,
    title: String,
    description: String,
    rows: usize,
    schema_version: String,
    primary_key: String,
    foreign_keys: Vec<ForeignKeyDoc>,
    columns: Vec<ColumnDoc>,
}

/// The ANS terminology a column's codes come from, as its description names it ("TRE_R227…").
fn code_list(description: &str) -> String {
    description
        .split(['(', ')', ' ', ','])
        .find(|w| w.starts_with("TRE_") || w.starts_with("JDV_"))
        .map(|w| w.trim_end_matches([':', ';', '.']).to_owned())
        .unwrap_or_default()
}

/// The first distinct values of a column, in primary-key order, as text a table cell can hold. Only
/// the first rows are read back, a growing range at a time, until `EXAMPLES` distinct values are
/// found: most columns show theirs in the first few rows, and reading (and casting to text) the
/// whole column for three values was most of the release stage's time.
fn examples(tables: &dyn TableSource, table: &str, column: &str) -> Result<String, String> {
    let rows = tables.rows(table).unwrap_or(0);
    let mut seen: Vec<String> = Vec::new();
    let (mut offset, mut length) = (0, FIRST_ROWS);
    while offset < rows && seen.len() < EXAMPLES {
        let length_here = length.min(rows - offset);
        let part = tables.load_rows(table, Some(&[column]), offset, length_here).map_err(|e| format!("reading table {table} back: {e}"))?;
        let Some(part) = part else { break };
        if !distinct_values(&part, column, &mut seen) {
            break;
        }
        offset += length_here;
        length = (length * 8).min(crate::table::spill::slices(rows).first().map_or(length, |s| s.1));
    }
    Ok(seen.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "))
}

/// Rows read back first for a column's examples; each later range is eight times larger, up to a slice.
const FIRST_ROWS: usize = 512;

/// Add a part's values, in order, to `seen` until it holds `EXAMPLES` distinct ones (cells with line
/// breaks or pipes made fit for a table cell). False when the column cannot be shown as text.
fn distinct_values(part: &Table, column: &str, seen: &mut Vec<String>) -> bool {
    let Ok(text) = part.frame.column(column).and_then(|c| c.cast(&polars::prelude::DataType::String)) else { return false };
    let Ok(values) = text.str() else { return false };
    for v in values.iter().flatten() {
        let v = v.replace(['\n', '\r'], " ").replace('|', "\\|");
        if !seen.contains(&v) {
            seen.push(v);
            if seen.len() == EXAMPLES {
                break;
            }
        }
    }
    true
}

/// The public subset in the policy's own words: withheld tables and each row filter's reason.
fn rules_fr(disclosed: &Disclosed<dyn TableSource>) -> String {
    let mut rules = Vec::new();
    for t in &disclosed.report {
        if !t.published {
            rules.push(format!("table {} non publiée{}", t.table, t.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()));
        }
        for f in &t.filters {
            if let Some(reason) = &f.reason {
                rules.push(format!("{} : {reason}", t.table));
            }
        }
    }
    rules.join(" ; ")
}

fn context(disclosed: &Disclosed<dyn TableSource>, version: &str, taken_at: &str, schema_versions: &dyn Fn(&str) -> String) -> Result<Context, String> {
    let mut tables: Vec<TableDoc> = Vec::new();
    for name in disclosed.tables.names() {
        let (t, rows) = (disclosed.tables.shape(name).expect("a name the source gave"), disclosed.tables.rows(name).unwrap_or(0));
        let mut columns = Vec::new();
        for c in t.column_specs() {
            columns.push(ColumnDoc {
                name: c.name.to_owned(),
                kind: c.kind.table_schema_type().to_owned(),
                description: c.description.to_owned(),
                code_list: code_list(c.description),
                examples: examples(&disclosed.tables, name, c.name)?,
            });
        }
        tables.push(TableDoc {
            name: t.name().to_owned(),
            title: t.spec.title.to_owned(),
            description: t.spec.description.to_owned(),
            rows,
            schema_version: schema_versions(t.name()),
            primary_key: t.spec.primary_key.to_owned(),
            foreign_keys: t
                .spec
                .foreign_keys
                .iter()
                .filter(|fk| disclosed.tables.rows(fk.table).is_some() && t.frame.column(fk.column).is_ok())
                .map(|fk| ForeignKeyDoc { column: fk.column.to_owned(), table: fk.table.to_owned(), reference: fk.reference.to_owned() })
                .collect(),
            columns,
        });
    }
    let mut ctx = Context::new();
    ctx.insert("version", version);
    ctx.insert("taken_at", taken_at);
    ctx.insert("rules_fr", &rules_fr(disclosed));
    ctx.insert("rules_en", RULES_EN);
    ctx.insert("tables", &tables);
    Ok(ctx)
}

/// Render (markdown, html). Template errors are bugs in the shipped templates: the message says so.
pub fn render(disclosed: &Disclosed<dyn TableSource>, version: &str, taken_at: &str, schema_versions: &dyn Fn(&str) -> String) -> Result<(String, String), String> {
    let ctx = context(disclosed, version, taken_at, schema_versions)?;
    let markdown = Tera::one_off(MARKDOWN_TEMPLATE, &ctx, false).map_err(|e| format!("documentation template (markdown): {e:?}"))?;
    let html = Tera::one_off(HTML_TEMPLATE, &ctx, true).map_err(|e| format!("documentation template (html): {e:?}"))?;
    Ok((markdown, html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lists_come_from_descriptions() {
        assert_eq!(code_list("Code du champ d'activité (TRE_R227-ChampActivite : 01 MCO)."), "TRE_R227-ChampActivite");
        assert_eq!(code_list("Niveau de confidentialité (TRE_R283)."), "TRE_R283");
        assert_eq!(code_list("Nom de l'offre."), "");
    }

    /// The examples read from the first rows on are those of the whole column: a value found only
    /// past the first ranges and slices, empty cells skipped, a column of fewer distinct values
    /// read to its end, a missing column or table showing none.
    #[test]
    fn examples_read_from_the_first_rows_are_those_of_the_whole_column() {
        use crate::table::{catalog, TableBuilder, Tables};
        use polars::prelude::DataType;
        let rows = 200_000;
        let mut b = TableBuilder::new(&catalog::EQUIPEMENTS);
        for i in 0..rows {
            let mut r = b.row();
            let lieu = match i {
                0..10 => None,
                10..150_000 => Some(format!("lieu | {}", i % 2)),
                _ => Some(format!("lieu\n{}", i % 3)),
            };
            r.set("equipement_id", format!("equipement-{i:07}")).set("lieu_id", lieu).set("nombre_en_service", Some((i % 2) as i64));
            b.push(r);
        }
        let table = crate::table::sorted_table(&catalog::EQUIPEMENTS, b.into_frame().unwrap()).unwrap();
        let whole = |column: &str| {
            let text = table.frame.column(column).unwrap().cast(&DataType::String).unwrap();
            let mut seen: Vec<String> = Vec::new();
            for v in text.str().unwrap().iter().flatten() {
                let v = v.replace(['\n', '\r'], " ").replace('|', "\\|");
                if !seen.contains(&v) && seen.len() < EXAMPLES {
                    seen.push(v);
                }
            }
            seen.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
        };
        let tables = Tables::from([("equipements", table.clone())]);
        assert_eq!(examples(&tables, "equipements", "lieu_id").unwrap(), "`lieu \\| 0`, `lieu \\| 1`, `lieu 0`");
        for column in ["equipement_id", "lieu_id", "nombre_en_service", "no_such_column"] {
            let expected = if column == "no_such_column" { String::new() } else { whole(column) };
            assert_eq!(examples(&tables, "equipements", column).unwrap(), expected, "{column}");
        }
        assert_eq!(examples(&tables, "no_such_table", "lieu_id").unwrap(), "");
    }
}
