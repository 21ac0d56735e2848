//! The correspondence table of a key rotation: when an audience's pseudonym key moves to a new
//! epoch, every pseudonym it receives changes, and a recipient following people or places over time
//! loses the thread. An authorised recipient gets, beside the first release of the new epoch, the
//! table old pseudonym → new pseudonym of every value it receives, so its longitudinal studies
//! survive the rotation. The table holds pseudonyms only (never an identifier), sorted by old
//! pseudonym; it is never part of a release, and only leaves the job encrypted to that recipient
//! (src/deliver).

use std::collections::HashSet;

use super::operators::ColumnRule;
use super::pseudonym::correspondence;
use super::Policy;
use crate::keys::AudienceKey;
use crate::table::spill::TableSource;

/// CSV header of the table.
pub const HEADER: &str = "nature,ancien_pseudonyme,nouveau_pseudonyme\n";

/// Every (kind, old, new) for the values the audience receives: each pseudonymised column of each
/// published table, restricted to the values actually published (`disclosed`), deduplicated.
/// Each column is read alone from `full` and `disclosed`, when its turn comes.
pub fn across_rotation(policy: &Policy, full: &dyn TableSource, disclosed: &dyn TableSource, old: &AudienceKey, new: &AudienceKey) -> Result<Vec<(String, String, String)>, String> {
    let mut rows = Vec::new();
    for (table, table_policy) in policy.tables.iter().filter(|(_, t)| t.publish) {
        for (column, rule) in &table_policy.columns {
            let ColumnRule::Pseudonymise(kind) = rule else { continue };
            let (Some(source), Some(published)) = (full.load_columns(table, &[column]).map_err(|e| e.to_string())?, disclosed.load_columns(table, &[column]).map_err(|e| e.to_string())?) else { continue };
            let published: HashSet<String> = published.text_values(column).map_err(|e| e.to_string())?.into_iter().flatten().collect();
            let values = source.text_values(column).map_err(|e| e.to_string())?;
            let pairs = correspondence(*kind, values.iter().flatten().map(String::as_str), old, new);
            rows.extend(pairs.into_iter().filter(|(_, n)| published.contains(n)).map(|(o, n)| (kind.name().to_owned(), o, n)));
        }
    }
    rows.sort();
    rows.dedup();
    Ok(rows)
}

/// The table as CSV (UTF-8, header, `\n`): pseudonyms are base32, so nothing needs quoting.
pub fn to_csv(rows: &[(String, String, String)]) -> String {
    let mut text = String::from(HEADER);
    for (kind, old, new) in rows {
        text.push_str(&format!("{kind},{old},{new}\n"));
    }
    text
}
