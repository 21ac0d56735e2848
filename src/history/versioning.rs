//! Schema versions by the Frictionless data-versioning rules: a field removed, renamed or retyped is
//! a major change, a field added is minor, a change of data only is a patch, nothing changed keeps
//! the version.

use serde::{Deserialize, Serialize};

/// What kind of change a table went through between two releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaChange {
    /// First release of the table.
    New,
    None,
    Patch,
    Minor,
    Major,
}

/// Classify the change from the previous fields to the current ones, given whether rows changed.
pub fn classify(previous: &[(String, String)], current: &[(String, String)], data_changed: bool) -> SchemaChange {
    let removed_or_retyped = previous.iter().any(|(name, kind)| !current.iter().any(|(n, k)| n == name && k == kind));
    let added = current.iter().any(|(name, _)| !previous.iter().any(|(n, _)| n == name));
    if removed_or_retyped {
        SchemaChange::Major
    } else if added {
        SchemaChange::Minor
    } else if data_changed {
        SchemaChange::Patch
    } else {
        SchemaChange::None
    }
}

/// Apply a change to a semantic version "MAJOR.MINOR.PATCH".
pub fn bump(version: &str, change: SchemaChange) -> String {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (parts.next().unwrap_or(1), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    match change {
        SchemaChange::New => "1.0.0".to_owned(),
        SchemaChange::None => format!("{major}.{minor}.{patch}"),
        SchemaChange::Patch => format!("{major}.{minor}.{}", patch + 1),
        SchemaChange::Minor => format!("{major}.{}.0", minor + 1),
        SchemaChange::Major => format!("{}.0.0", major + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn frictionless_rules() {
        let base = f(&[("id", "string"), ("n", "integer")]);
        assert_eq!(classify(&base, &base, false), SchemaChange::None);
        assert_eq!(classify(&base, &base, true), SchemaChange::Patch);
        assert_eq!(classify(&base, &f(&[("id", "string"), ("n", "integer"), ("x", "string")]), false), SchemaChange::Minor);
        assert_eq!(classify(&base, &f(&[("id", "string")]), false), SchemaChange::Major);
        assert_eq!(classify(&base, &f(&[("id", "string"), ("n", "number")]), false), SchemaChange::Major);
        assert_eq!(bump("1.2.3", SchemaChange::Patch), "1.2.4");
        assert_eq!(bump("1.2.3", SchemaChange::Minor), "1.3.0");
        assert_eq!(bump("1.2.3", SchemaChange::Major), "2.0.0");
        assert_eq!(bump("1.2.3", SchemaChange::None), "1.2.3");
    }
}
