//! The disclosure report of one release and audience, for the data-protection officer: per table the
//! rule of every column, the rows each filter removed, the k reached by the gate and the rows it
//! suppressed, the aggregate cells masked; the pseudonymisation key (id and epoch, never the key),
//! the policy digest and whether the gate passed. The same facts in JSON (`disclosure.json`, which a
//! test recounts from the published files) and in Markdown (`disclosure.md`, in French like the
//! release notes). Only counts, names and rules go in: never a value of the data.

use serde_json::{json, Value};

use super::apply::{Disclosed, TableDisclosure};
use crate::release::Document;

/// File names inside a release.
pub const JSON_FILE: &str = "disclosure.json";
pub const MARKDOWN_FILE: &str = "disclosure.md";

impl<T: ?Sized> Disclosed<T> {
    /// True when every check passed. A `Disclosed` only exists when the gate let it through (a
    /// failed gate is an error, and nothing is released), so this re-derives it from the account.
    pub fn gate_passed(&self) -> bool {
        self.report.iter().all(|t| t.risk.as_ref().is_none_or(|r| r.passed))
    }

    /// The report files the release stores beside the tables (disclosure.json is written by the
    /// release writer itself, from `report_json`).
    pub fn documents(&self) -> Vec<Document> {
        vec![Document { path: MARKDOWN_FILE.to_owned(), bytes: self.report_markdown().into_bytes() }]
    }

    /// disclosure.json: the audience, the policy, the keys, the gate and every table's account.
    pub fn report_json(&self) -> Value {
        let rows_suppressed: usize = self.report.iter().filter_map(|t| t.risk.as_ref()).map(|r| r.rows_suppressed).sum();
        let cells_suppressed: usize = self.report.iter().filter_map(|t| t.aggregate.as_ref()).map(|a| a.primary_suppressed + a.secondary_suppressed).sum();
        json!({
            "audience": self.audience,
            "policy_sha256": self.policy_sha256,
            "policy": {"origin": self.policy_origin, "sha256": self.policy_sha256},
            "risk": self.risk_settings_json(),
            "keys": self.keys,
            "gate": {
                "passed": self.gate_passed(),
                "tables_checked": self.report.iter().filter(|t| t.risk.is_some()).count(),
                "rows_suppressed": rows_suppressed,
                "aggregate_cells_suppressed": cells_suppressed,
            },
            "tables": self.report,
        })
    }

    fn risk_settings_json(&self) -> Value {
        json!({"k": self.risk.k, "max_suppression_percent": self.risk.max_suppression_percent, "min_count": self.risk.min_count})
    }

    /// disclosure.md: the same account, for a person.
    pub fn report_markdown(&self) -> String {
        let mut md = String::new();
        let mut line = |s: String| {
            md.push_str(&s);
            md.push('\n');
        };
        line(format!("# Contrôle de la divulgation — audience « {} »", self.audience));
        line(String::new());
        line(format!("- Politique : `{}`, sha256 `{}`", self.policy_origin, self.policy_sha256));
        if self.keys.is_empty() {
            line("- Pseudonymisation : aucune colonne pseudonymisée, aucune clé utilisée.".into());
        }
        for key in &self.keys {
            line(format!("- Clé de pseudonymisation : identifiant `{}`, époque {}, algorithme {}", key.key_id, key.epoch, key.algorithm));
        }
        line(format!(
            "- Règles de risque : k = {} sur les quasi-identifiants, suppression locale au plus {} % des lignes d'une table, aucun effectif agrégé publié sous {}",
            self.risk.k, self.risk.max_suppression_percent, self.risk.min_count
        ));
        line(format!("- Contrôle : **{}**", if self.gate_passed() { "réussi" } else { "échoué" }));
        line(String::new());
        line("| table | publiée | lignes en entrée | lignes publiées | k atteint | lignes supprimées (k) | cellules masquées |".into());
        line("|---|---|---:|---:|---:|---:|---:|".into());
        for t in &self.report {
            let k = t.risk.as_ref().map_or("—".to_owned(), |r| r.k_reached.map_or("—".into(), |k| k.to_string()));
            let suppressed = t.risk.as_ref().map_or("—".to_owned(), |r| r.rows_suppressed.to_string());
            let cells = t.aggregate.as_ref().map_or("—".to_owned(), |a| (a.primary_suppressed + a.secondary_suppressed).to_string());
            line(format!("| {} | {} | {} | {} | {k} | {suppressed} | {cells} |", t.table, if t.published { "oui" } else { "non" }, t.rows_in, t.rows_out));
        }
        for t in &self.report {
            table_section(t, &mut line);
        }
        md
    }
}

/// "4 classes de 2, 1 classe de 5": sizes only, never the values that define a class.
fn small_classes_fr(r: &super::risk::RiskOutcome) -> String {
    if r.class_sizes_under_k.is_empty() {
        return "aucune".into();
    }
    r.class_sizes_under_k.iter().map(|(size, n)| format!("{n} classe{} de {size}", if *n == 1 { "" } else { "s" })).collect::<Vec<_>>().join(", ")
}

fn table_section(t: &TableDisclosure, line: &mut dyn FnMut(String)) {
    line(String::new());
    line(format!("## {}", t.table));
    line(String::new());
    if let Some(reason) = &t.reason {
        line(reason.clone());
        line(String::new());
    }
    if !t.published {
        line(format!("Non diffusée à cette audience ({} lignes retenues).", t.rows_in));
        return;
    }
    line(format!("{} lignes en entrée, {} publiées.", t.rows_in, t.rows_out));
    if !t.filters.is_empty() {
        line(String::new());
        line("| filtre | lignes retirées | raison |".into());
        line("|---|---:|---|".into());
        for f in &t.filters {
            line(format!("| `{}` | {} | {} |", f.rule, f.rows_removed, f.reason.as_deref().unwrap_or("")));
        }
    }
    if let Some(r) = &t.risk {
        line(String::new());
        line(format!(
            "k-anonymat sur ({}){} : {} classes, plus petite classe {} avant suppression ; {} lignes supprimées (au plus {} permises) ; k atteint {} pour k exigé {}. Classes sous k : {}.",
            r.quasi_identifiers.join(", "),
            r.individual.as_ref().map_or(String::new(), |i| format!(", personnes comptées par {i}")),
            r.classes,
            r.k_before.map_or("—".into(), |k| k.to_string()),
            r.rows_suppressed,
            r.suppression_limit,
            r.k_reached.map_or("—".into(), |k| k.to_string()),
            r.k_required,
            small_classes_fr(r)
        ));
    }
    if let Some(a) = &t.aggregate {
        line(String::new());
        line(format!(
            "Agrégat de {} par {} et {}, totaux compris : {} cellules, {} masquées sous {} (secret primaire), {} masquées pour qu'aucune ne se déduise des totaux (secret secondaire).",
            a.from, a.rows, a.columns, a.cells, a.primary_suppressed, a.min_count, a.secondary_suppressed
        ));
    }
    line(String::new());
    line("| colonne | règle |".into());
    line("|---|---|".into());
    for c in &t.columns {
        line(format!("| {} | {} |", c.column, c.rule));
    }
}
