//! The column operators of a policy beyond keep and drop: pseudonymise (keyed, `pseudonym.rs`),
//! generalise (commune → département → région; date → month → year) and band (integer ranges).
//!
//! An operator can change what a column is: a generalised date is the text `2025-04`, a banded count
//! is the text `10-19`. The Table Schema a recipient reads must say so, so a transformed table gets a
//! derived `TableSpec` whose columns carry their new type and a description that states the
//! operator. Specs are `&'static` throughout the crate (the catalogue is static); derived ones are
//! interned once per distinct (table, operators) pair and live for the process, which bounds the
//! memory to a few kilobytes however many times a policy is applied.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use polars::prelude::*;
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use serde::Serialize;

use super::pseudonym::{IdentifierKind, Pseudonymiser, PSEUDONYM_LEN};
use crate::table::{ColumnSpec, ColumnType, TableSpec};

/// A generalisation level: a value is replaced by the class that contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Generalisation {
    /// A commune (COG code) or postal code → its département code (75, 2A, 974).
    Departement,
    /// A commune, postal or département code → its région code (INSEE: 11, 53, 04…).
    Region,
    /// A date or instant → `YYYY-MM`.
    Month,
    /// A date or instant → `YYYY`.
    Year,
}

impl Generalisation {
    pub const ALL: [Generalisation; 4] = [Generalisation::Departement, Generalisation::Region, Generalisation::Month, Generalisation::Year];

    pub fn name(self) -> &'static str {
        match self {
            Generalisation::Departement => "departement",
            Generalisation::Region => "region",
            Generalisation::Month => "month",
            Generalisation::Year => "year",
        }
    }

    pub fn parse(name: &str) -> Option<Generalisation> {
        Generalisation::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The column types this level applies to.
    pub fn accepts(self, kind: ColumnType) -> bool {
        match self {
            Generalisation::Departement | Generalisation::Region => kind == ColumnType::String,
            Generalisation::Month | Generalisation::Year => matches!(kind, ColumnType::Date | ColumnType::DateTime),
        }
    }

    fn description(self) -> &'static str {
        match self {
            Generalisation::Departement => "Généralisé au département (code du département : 75, 2A, 974…).",
            Generalisation::Region => "Généralisé à la région (code INSEE de la région).",
            Generalisation::Month => "Généralisé au mois (AAAA-MM).",
            Generalisation::Year => "Généralisé à l'année (AAAA).",
        }
    }
}

/// Département → région (INSEE codes, regions of 2016).
const REGIONS: &[(&str, &[&str])] = &[
    ("11", &["75", "77", "78", "91", "92", "93", "94", "95"]),
    ("24", &["18", "28", "36", "37", "41", "45"]),
    ("27", &["21", "25", "39", "58", "70", "71", "89", "90"]),
    ("28", &["14", "27", "50", "61", "76"]),
    ("32", &["02", "59", "60", "62", "80"]),
    ("44", &["08", "10", "51", "52", "54", "55", "57", "67", "68", "88"]),
    ("52", &["44", "49", "53", "72", "85"]),
    ("53", &["22", "29", "35", "56"]),
    ("75", &["16", "17", "19", "23", "24", "33", "40", "47", "64", "79", "86", "87"]),
    ("76", &["09", "11", "12", "30", "31", "32", "34", "46", "48", "65", "66", "81", "82"]),
    ("84", &["01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74"]),
    ("93", &["04", "05", "06", "13", "83", "84"]),
    ("94", &["2A", "2B"]),
    ("01", &["971"]),
    ("02", &["972"]),
    ("03", &["973"]),
    ("04", &["974"]),
    ("06", &["976"]),
];

/// The département of a COG commune code, a postal code or a département code; None when the value
/// is none of these (the output is then empty: fail closed, never the raw value).
pub fn departement(value: &str) -> Option<String> {
    let v = value.trim().to_ascii_uppercase();
    let known = |d: &str| REGIONS.iter().any(|(_, ds)| ds.contains(&d));
    if v.len() == 2 || v.len() == 3 {
        return known(&v).then_some(v);
    }
    if v.len() != 5 {
        return None;
    }
    let d = if v.starts_with("2A") || v.starts_with("2B") {
        v[..2].to_owned()
    } else if !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    } else if v.starts_with("20") {
        // Corsican postal codes: 200xx–201xx Corse-du-Sud, 202xx–206xx Haute-Corse (COG codes of
        // Corsican communes always start with 2A or 2B, so a 20xxx value is a postal code).
        if matches!(v.as_bytes()[2], b'0' | b'1') { "2A".to_owned() } else { "2B".to_owned() }
    } else if v.starts_with("97") || v.starts_with("98") {
        v[..3].to_owned()
    } else {
        v[..2].to_owned()
    };
    known(&d).then_some(d)
}

/// The région (INSEE code) of anything `departement` understands.
pub fn region(value: &str) -> Option<String> {
    let d = departement(value)?;
    REGIONS.iter().find(|(_, ds)| ds.contains(&d.as_str())).map(|(r, _)| (*r).to_owned())
}

/// The label of the band holding `v`: edges `[0, 10, 20]` give `<0`, `0-9`, `10-19`, `20+`.
pub fn band_label(edges: &[i64], v: i64) -> String {
    match edges.iter().position(|e| v < *e) {
        Some(0) => format!("<{}", edges[0]),
        Some(i) => {
            let (low, high) = (edges[i - 1], edges[i] - 1);
            if low == high { low.to_string() } else { format!("{low}-{high}") }
        }
        None => format!("{}+", edges[edges.len() - 1]),
    }
}

/// What one column becomes for one audience.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnRule {
    /// Published as is.
    Keep,
    /// Not published.
    Drop,
    /// Replaced by its keyed pseudonym (`pseudonym.rs`).
    Pseudonymise(IdentifierKind),
    /// Replaced by a coarser class.
    Generalise(Generalisation),
    /// Replaced by the label of its range; the edges are ascending lower bounds.
    Band(Vec<i64>),
}

impl ColumnRule {
    /// How the DPO reads it (policy show, disclosure report).
    pub fn describe(&self) -> String {
        match self {
            ColumnRule::Keep => "keep".into(),
            ColumnRule::Drop => "drop".into(),
            ColumnRule::Pseudonymise(kind) => format!("pseudonymise ({kind})"),
            ColumnRule::Generalise(level) => format!("generalise ({})", level.name()),
            ColumnRule::Band(edges) => format!("band ({})", edges.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
        }
    }

    /// True for rules that publish the column in some form.
    pub fn publishes(&self) -> bool {
        !matches!(self, ColumnRule::Drop)
    }

    /// True for rules that publish the values unchanged.
    pub fn is_keep(&self) -> bool {
        matches!(self, ColumnRule::Keep)
    }

    /// The published type of a column of type `kind` under this rule.
    pub fn output_type(&self, kind: ColumnType) -> ColumnType {
        match self {
            ColumnRule::Keep | ColumnRule::Drop => kind,
            ColumnRule::Pseudonymise(_) | ColumnRule::Generalise(_) | ColumnRule::Band(_) => ColumnType::String,
        }
    }

    /// The sentence appended to the column's description.
    fn description(&self) -> Option<String> {
        match self {
            ColumnRule::Keep | ColumnRule::Drop => None,
            ColumnRule::Pseudonymise(kind) => Some(format!(
                "Pseudonymisé ({kind}) : HMAC-SHA-256 avec la clé propre à ce destinataire, 26 caractères base32 ; ne se rapproche d'aucun autre jeu de données."
            )),
            ColumnRule::Generalise(level) => Some(level.description().to_owned()),
            ColumnRule::Band(edges) => {
                let labels: Vec<String> = std::iter::once(edges[0] - 1).chain(edges.iter().copied()).map(|v| band_label(edges, v)).collect();
                Some(format!("Par tranches : {}.", labels.join(", ")))
            }
        }
    }
}

/// Values pseudonymised per task: large enough to amortise a task, small enough to share a column
/// among the cores.
const PSEUDONYMS_PER_TASK: usize = 16_384;

/// Apply a publishing rule to a column. `pseudonymiser` is Some whenever the rule pseudonymises
/// (the caller checks this before, naming the audience). Errors are polars' own and never quote values.
pub fn transform(rule: &ColumnRule, column: &Column, pseudonymiser: Option<&Pseudonymiser<'_>>) -> Result<Column, String> {
    let name = column.name().clone();
    let out = match rule {
        ColumnRule::Keep | ColumnRule::Drop => column.clone(),
        ColumnRule::Pseudonymise(kind) => {
            let p = pseudonymiser.ok_or("no pseudonymisation key for this audience")?;
            let values = column.str().map_err(|e| e.to_string())?.rechunk();
            // One HMAC per value, independent of the others: blocks of rows on every core (one
            // scratch buffer per thread), each made into its part of the column, joined in order.
            let rows = values.len();
            let parts: Vec<StringChunked> = (0..rows.div_ceil(PSEUDONYMS_PER_TASK))
                .into_par_iter()
                .map_init(Vec::new, |scratch, block| {
                    let start = block * PSEUDONYMS_PER_TASK;
                    let slice = values.slice(start as i64, PSEUDONYMS_PER_TASK.min(rows - start));
                    let bytes: Vec<Option<[u8; PSEUDONYM_LEN]>> = slice.iter().map(|v| v.map(|v| p.pseudonym_into(*kind, v, scratch))).collect();
                    StringChunked::from_iter_options(name.clone(), bytes.iter().map(|b| b.as_ref().map(|b| std::str::from_utf8(b).expect("base32 is ASCII"))))
                })
                .collect();
            let mut out = StringChunked::full_null(name, 0);
            for part in &parts {
                out.append(part).map_err(|e| e.to_string())?;
            }
            out.rechunk().into_owned().into_column()
        }
        ColumnRule::Generalise(level @ (Generalisation::Departement | Generalisation::Region)) => {
            let values = column.str().map_err(|e| e.to_string())?;
            let f = if *level == Generalisation::Departement { departement } else { region };
            let out: Vec<Option<String>> = values.iter().map(|v| v.and_then(f)).collect();
            Column::new(name, out)
        }
        ColumnRule::Generalise(level @ (Generalisation::Month | Generalisation::Year)) => {
            // Dates print as 2025-04-08, instants as 2025-04-08 13:05:27.000: the prefix is the class.
            let text = column.cast(&DataType::String).map_err(|e| e.to_string())?;
            let width = if *level == Generalisation::Month { 7 } else { 4 };
            let out: Vec<Option<String>> = text.str().map_err(|e| e.to_string())?.iter().map(|v| v.map(|v| v.chars().take(width).collect())).collect();
            Column::new(name, out)
        }
        ColumnRule::Band(edges) => {
            let values = column.i64().map_err(|e| e.to_string())?;
            let out: Vec<Option<String>> = values.iter().map(|v| v.map(|v| band_label(edges, v))).collect();
            Column::new(name, out)
        }
    };
    Ok(out)
}

/// The spec of `base` as published under `rules` (column → rule; absent columns are unchanged).
/// The catalogue's own spec when no rule changes a type or a description.
pub fn derived_spec(base: &'static TableSpec, rules: &[(&str, &ColumnRule)]) -> &'static TableSpec {
    let changes: Vec<(&str, String)> = rules.iter().filter_map(|(c, r)| r.description().map(|d| (*c, d))).collect();
    if changes.is_empty() {
        return base;
    }
    let key = format!("{}|{:?}", base.name, rules.iter().filter(|(_, r)| r.description().is_some()).collect::<Vec<_>>());
    static INTERNED: OnceLock<Mutex<HashMap<String, &'static TableSpec>>> = OnceLock::new();
    let mut interned = INTERNED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(spec) = interned.get(&key) {
        return spec;
    }
    let columns: Vec<ColumnSpec> = base
        .columns
        .iter()
        .map(|c| match rules.iter().find(|(name, _)| *name == c.name) {
            Some((_, rule)) if rule.description().is_some() => ColumnSpec {
                name: c.name,
                kind: rule.output_type(c.kind),
                required: c.required,
                description: leak(format!("{} {}", c.description, rule.description().unwrap_or_default())),
            },
            _ => *c,
        })
        .collect();
    let spec: &'static TableSpec = Box::leak(Box::new(TableSpec { columns: Box::leak(columns.into_boxed_slice()), ..*base }));
    interned.insert(key, spec);
    spec
}

/// A string for a `'static` spec field (see the module comment for why leaking is bounded).
pub(crate) fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::catalog;

    #[test]
    fn geography_climbs_the_hierarchy() {
        for (input, dep, reg) in [
            ("75056", Some("75"), Some("11")),
            ("75013", Some("75"), Some("11")),
            ("2A004", Some("2A"), Some("94")),
            ("20000", Some("2A"), Some("94")),
            ("20200", Some("2B"), Some("94")),
            ("97411", Some("974"), Some("04")),
            ("29", Some("29"), Some("53")),
            ("01001", Some("01"), Some("84")),
            ("nope!", None, None),
            ("99999", None, None),
            ("", None, None),
        ] {
            assert_eq!(departement(input).as_deref(), dep, "{input}");
            assert_eq!(region(input).as_deref(), reg, "{input}");
        }
        assert_eq!(REGIONS.iter().map(|(_, d)| d.len()).sum::<usize>(), 101, "101 départements");
    }

    #[test]
    fn bands_are_labelled() {
        let edges = [0, 1, 10, 20];
        let labels: Vec<String> = [-3, 0, 1, 9, 10, 19, 20, 500].iter().map(|v| band_label(&edges, *v)).collect();
        assert_eq!(labels, ["<0", "0", "1-9", "1-9", "10-19", "10-19", "20+", "20+"]);
    }

    #[test]
    fn dates_generalise_to_month_and_year() {
        use chrono::{NaiveDate, TimeZone, Utc};
        let mut b = crate::table::TableBuilder::new(&catalog::HORAIRES);
        let mut r = b.row();
        r.set("horaire_id", "1").set("offre_id", "1").set("rang", 1i64).set("date_debut", Some(NaiveDate::from_ymd_opt(2025, 4, 8).unwrap()));
        b.push(r);
        let t = b.finish().unwrap();
        let month = transform(&ColumnRule::Generalise(Generalisation::Month), t.frame.column("date_debut").unwrap(), None).unwrap();
        assert_eq!(month.str().unwrap().get(0), Some("2025-04"));

        let mut b = crate::table::TableBuilder::new(&catalog::PROFESSIONNELS);
        let mut r = b.row();
        r.set("identifiant_ror", "p").set("date_mise_a_jour", Some(Utc.with_ymd_and_hms(2025, 12, 31, 23, 59, 59).unwrap()));
        b.push(r);
        let t = b.finish().unwrap();
        let year = transform(&ColumnRule::Generalise(Generalisation::Year), t.frame.column("date_mise_a_jour").unwrap(), None).unwrap();
        assert_eq!(year.str().unwrap().get(0), Some("2025"));
    }

    #[test]
    fn derived_specs_say_what_was_done_and_are_interned() {
        let band = ColumnRule::Band(vec![0, 10]);
        let rules = [("nombre", &band)];
        let a = derived_spec(&catalog::CAPACITES, &rules);
        let b = derived_spec(&catalog::CAPACITES, &rules);
        assert!(std::ptr::eq(a, b));
        let c = a.column("nombre").unwrap();
        assert_eq!(c.kind, ColumnType::String);
        assert!(c.description.ends_with("Par tranches : <0, 0-9, 10+."), "{}", c.description);
        let keep = ColumnRule::Keep;
        assert!(std::ptr::eq(derived_spec(&catalog::CAPACITES, &[("nombre", &keep)]), &catalog::CAPACITES));
    }
}
