//! `ror-opendata policy show --audience X`: one audience's policy as the data-protection officer
//! reads it — every table (given or withheld, and why), its row filters, every column with its rule
//! and its description from the catalogue, the quasi-identifiers, the aggregates and the risk
//! settings. Plain text tables, the same on a terminal and in a ticket.

use super::operators::ColumnRule;
use super::policy::Policy;
use super::apply::describe;
use crate::table::catalog;

/// The policy as text.
pub fn render(policy: &Policy) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("Audience {} — policy {} (sha256 {})", policy.audience, policy.origin, policy.sha256));
    if let Some(d) = &policy.description {
        line(d.clone());
    }
    line(format!(
        "Risk: k = {} on quasi-identifiers, local suppression up to {} % of a table's rows (beyond: the run fails), no aggregate cell under {}.",
        policy.risk.k, policy.risk.max_suppression_percent, policy.risk.min_count
    ));
    line(format!("Pseudonyms: {}", if policy.pseudonymises() { "HMAC-SHA-256 with this audience's own key (HKDF from the master secret), 26 base32 characters" } else { "none" }));
    for spec in catalog::ALL {
        let table = &policy.tables[spec.name];
        line(String::new());
        if !table.publish {
            line(format!("{} — WITHHELD{}", spec.name, table.reason.as_ref().map_or(String::new(), |r| format!(": {r}"))));
            continue;
        }
        line(format!("{} — published{}", spec.name, table.reason.as_ref().map_or(String::new(), |r| format!(": {r}"))));
        for filter in &table.rows {
            line(format!("  rows: keep where {}{}", describe(filter), filter.reason.as_ref().map_or(String::new(), |r| format!(" — {r}"))));
        }
        if table.quasi_identifiers.is_empty() {
            line("  quasi-identifiers: none declared (no k-anonymity check)".into());
        } else {
            line(format!(
                "  quasi-identifiers: {}{} (k = {})",
                table.quasi_identifiers.join(", "),
                table.individual.as_ref().map_or(String::new(), |i| format!("; persons counted by {i}")),
                policy.risk.k
            ));
        }
        let width = spec.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let rule_width = spec.columns.iter().map(|c| table.rule(c.name).describe().len()).max().unwrap_or(0);
        for c in spec.columns {
            let rule = table.rule(c.name);
            let marker = if matches!(rule, ColumnRule::Drop) { "-" } else { "+" };
            line(format!("  {marker} {:<width$}  {:<rule_width$}  {}", c.name, rule.describe(), c.description));
        }
    }
    for (name, aggregate) in &policy.aggregates {
        line(String::new());
        line(format!(
            "{name} — aggregate: rows of {} counted by {} × {}, with totals; no cell under {}, complementary cells masked{}",
            aggregate.from,
            aggregate.rows,
            aggregate.columns,
            aggregate.min_count.unwrap_or(policy.risk.min_count),
            aggregate.reason.as_ref().map_or(String::new(), |r| format!(" — {r}"))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclose::policy::shipped;

    #[test]
    fn every_table_and_column_is_shown_with_its_rule() {
        let (text, origin) = shipped("drees").unwrap();
        let policy = Policy::parse(text, origin).unwrap();
        let shown = render(&policy);
        for spec in catalog::ALL {
            assert!(shown.contains(&format!("\n{} — ", spec.name)), "{}", spec.name);
        }
        assert!(shown.contains("id_nat_ps"), "{shown}");
        assert!(shown.contains("pseudonymise (idnat_ps)"), "{shown}");
        assert!(shown.lines().any(|l| l.contains("- nom_exercice") && l.contains("drop")), "{shown}");
    }
}
