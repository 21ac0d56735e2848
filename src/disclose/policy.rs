//! The disclosure policy of one audience, as the data-protection officer writes it (TOML): for every
//! table of the catalogue whether the audience gets it, which rows (filters), what happens to every
//! column (keep, drop, pseudonymise, generalise, band), which columns are quasi-identifiers for the
//! k-anonymity gate, and which aggregate tables are published under the small-count rule. Deny by
//! default: a table or a column the policy does not classify stops the run with a message naming
//! it, the audience and the policy file.
//!
//! A column rule is a word or a one-key table:
//!
//! ```toml
//! id_nat_ps = { pseudonymise = "idnat_ps" }   # idnat_ps finess siren siret ror telephone email telecom texte
//! commune_cog_code = { generalise = "departement" }   # departement region month year
//! nombre = { band = [0, 10, 20, 50] }   # <0, 0-9, 10-19, 20-49, 50+
//! nom_exercice = "drop"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::operators::{ColumnRule, Generalisation};
use super::pseudonym::IdentifierKind;
use super::DiscloseError;
use crate::table::{catalog, ColumnType, TableSpec};

/// One row filter: a row is published only if every filter of its table accepts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowFilter {
    pub column: String,
    /// Keep rows whose value equals this one (null never equals anything: fail closed).
    pub equals: Option<toml::Value>,
    /// Keep rows whose value is one of these.
    pub one_of: Option<Vec<toml::Value>>,
    /// Keep rows whose value is null or the primary key of a row this audience gets in that table,
    /// so that nothing published refers to something withheld.
    pub references: Option<String>,
    /// Why, in words the DPO can check (shown in `policy show` and the disclosure report).
    pub reason: Option<String>,
}

/// The policy of one table for one audience.
#[derive(Debug, Clone)]
pub struct TablePolicy {
    pub publish: bool,
    pub reason: Option<String>,
    pub rows: Vec<RowFilter>,
    pub columns: BTreeMap<String, ColumnRule>,
    /// Columns a recipient could match with another source (Annuaire Santé, FINESS, INSEE): the
    /// k-anonymity gate computes equivalence classes on their published values. Empty: the table
    /// describes no person (or only people whose identity is public by law, Profil 0).
    pub quasi_identifiers: Vec<String>,
    /// The column naming the person a row is about: classes count distinct persons, not rows,
    /// because one practitioner holding five roles is still one person.
    pub individual: Option<String>,
}

impl TablePolicy {
    /// The rule of a column (Drop for a column the policy does not name: only reachable for tables
    /// the audience does not get, since `check` refuses unclassified columns of published tables).
    pub fn rule(&self, column: &str) -> &ColumnRule {
        self.columns.get(column).unwrap_or(&ColumnRule::Drop)
    }
}

/// The k-anonymity and small-count settings of an audience.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSettings {
    /// Every equivalence class of a row-level table must hold at least k individuals.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Rows in classes under k are suppressed up to this share of the table; beyond, the run fails.
    #[serde(default = "default_max_suppression")]
    pub max_suppression_percent: f64,
    /// No published aggregate cell under this count (the rule of French health data outputs).
    #[serde(default = "default_min_count")]
    pub min_count: u64,
}

fn default_k() -> usize {
    5
}
fn default_max_suppression() -> f64 {
    5.0
}
fn default_min_count() -> u64 {
    11
}

impl Default for RiskSettings {
    fn default() -> Self {
        RiskSettings { k: default_k(), max_suppression_percent: default_max_suppression(), min_count: default_min_count() }
    }
}

/// An aggregate table: counts of the rows of a published table by two of its columns, with row and
/// column totals, under the small-count rule with secondary suppression (`aggregate.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatePolicy {
    pub from: String,
    pub rows: String,
    pub columns: String,
    /// Overrides the audience's `risk.min_count` for this table.
    pub min_count: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTablePolicy {
    publish: bool,
    reason: Option<String>,
    #[serde(default)]
    rows: Vec<RowFilter>,
    #[serde(default)]
    columns: BTreeMap<String, toml::Value>,
    quasi_identifiers: Option<Vec<String>>,
    individual: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    audience: String,
    description: Option<String>,
    #[serde(default)]
    risk: RiskSettings,
    tables: BTreeMap<String, RawTablePolicy>,
    #[serde(default)]
    aggregates: BTreeMap<String, AggregatePolicy>,
}

/// A checked policy: every table and column of the catalogue classified, every rule and filter valid.
#[derive(Debug, Clone)]
pub struct Policy {
    pub audience: String,
    pub description: Option<String>,
    pub risk: RiskSettings,
    pub tables: BTreeMap<String, TablePolicy>,
    pub aggregates: BTreeMap<String, AggregatePolicy>,
    /// sha256 of the policy file's bytes, recorded in every manifest.
    pub sha256: String,
    /// Where it was read from, for messages ("datasets/policy/public.toml").
    pub origin: String,
}

/// The policies shipped with the job: the public one is ROR Profil 0; DREES and the Health Data Hub
/// receive the restricted data, pseudonymised.
pub const PUBLIC_POLICY: &str = include_str!("../../datasets/policy/public.toml");
pub const DREES_POLICY: &str = include_str!("../../datasets/policy/drees.toml");
pub const HDH_POLICY: &str = include_str!("../../datasets/policy/hdh.toml");

/// The shipped policy of an audience, with the path it is shown under.
pub fn shipped(audience: &str) -> Option<(&'static str, &'static str)> {
    match audience {
        "public" => Some((PUBLIC_POLICY, "datasets/policy/public.toml")),
        "drees" => Some((DREES_POLICY, "datasets/policy/drees.toml")),
        "hdh" => Some((HDH_POLICY, "datasets/policy/hdh.toml")),
        _ => None,
    }
}

/// Load an audience's policy: the file at `path` when the configuration names one, else the shipped
/// policy. The file must say it is this audience's, so that a misplaced file cannot hand one audience
/// another's rules.
pub fn load(audience: &str, path: Option<&std::path::Path>) -> Result<Policy, DiscloseError> {
    let policy = match path {
        Some(path) => {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| DiscloseError::Syntax { origin: origin.clone(), message: format!("cannot read: {e}") })?;
            Policy::parse(&text, &origin)?
        }
        None => match shipped(audience) {
            Some((text, origin)) => Policy::parse(text, origin)?,
            None => {
                return Err(DiscloseError::Policy {
                    origin: "ror-opendata.toml".into(),
                    audience: audience.to_owned(),
                    message: format!("no policy file: name it under [policy.audiences] as {audience} = \"<file>.toml\""),
                })
            }
        },
    };
    if policy.audience != audience {
        return Err(DiscloseError::Policy {
            origin: policy.origin.clone(),
            audience: policy.audience.clone(),
            message: format!("is configured as the policy of audience {audience}: a policy file serves the audience it names"),
        });
    }
    Ok(policy)
}

/// Parse one column rule, or say what is allowed.
fn parse_rule(value: &toml::Value) -> Result<ColumnRule, String> {
    const HELP: &str = "expected \"keep\", \"drop\", { pseudonymise = \"<kind>\" }, { generalise = \"<level>\" } or { band = [<edges>] }";
    match value {
        toml::Value::String(s) if s == "keep" => Ok(ColumnRule::Keep),
        toml::Value::String(s) if s == "drop" => Ok(ColumnRule::Drop),
        toml::Value::Table(t) if t.len() == 1 => {
            let (op, arg) = t.iter().next().ok_or(HELP)?;
            match (op.as_str(), arg) {
                ("pseudonymise", toml::Value::String(kind)) => IdentifierKind::parse(kind).map(ColumnRule::Pseudonymise).ok_or_else(|| {
                    format!("unknown identifier kind {kind:?} (kinds: {})", IdentifierKind::ALL.map(|k| k.name()).join(", "))
                }),
                ("generalise", toml::Value::String(level)) => Generalisation::parse(level)
                    .map(ColumnRule::Generalise)
                    .ok_or_else(|| format!("unknown generalisation {level:?} (levels: {})", Generalisation::ALL.map(|g| g.name()).join(", "))),
                ("band", toml::Value::Array(edges)) => {
                    let edges: Option<Vec<i64>> = edges.iter().map(|e| e.as_integer()).collect();
                    match edges {
                        Some(e) if !e.is_empty() && e.windows(2).all(|w| w[0] < w[1]) => Ok(ColumnRule::Band(e)),
                        _ => Err("band edges must be a non-empty list of strictly increasing integers".into()),
                    }
                }
                _ => Err(HELP.into()),
            }
        }
        _ => Err(HELP.into()),
    }
}

fn is_table_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 63 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') && name.as_bytes()[0].is_ascii_lowercase()
}

impl Policy {
    /// Parse and check a policy file's text against the catalogue.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, DiscloseError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| DiscloseError::Syntax { origin: origin.to_owned(), message: e.to_string() })?;
        let error = |message: String| DiscloseError::Policy { origin: origin.to_owned(), audience: file.audience.clone(), message };
        let mut tables = BTreeMap::new();
        for (name, raw) in &file.tables {
            let mut columns = BTreeMap::new();
            for (column, value) in &raw.columns {
                let rule = parse_rule(value).map_err(|m| error(format!("column {name}.{column}: {m}")))?;
                columns.insert(column.clone(), rule);
            }
            if raw.publish && raw.quasi_identifiers.is_none() {
                return Err(error(format!(
                    "table {name} is published but declares no quasi_identifiers: list the columns a recipient could match with another source, or [] if none (deny by default)"
                )));
            }
            tables.insert(
                name.clone(),
                TablePolicy {
                    publish: raw.publish,
                    reason: raw.reason.clone(),
                    rows: raw.rows.clone(),
                    columns,
                    quasi_identifiers: raw.quasi_identifiers.clone().unwrap_or_default(),
                    individual: raw.individual.clone(),
                },
            );
        }
        let policy = Policy {
            audience: file.audience.clone(),
            description: file.description.clone(),
            risk: file.risk.clone(),
            tables,
            aggregates: file.aggregates,
            sha256: crate::sha256::hex_digest(text.as_bytes()),
            origin: origin.to_owned(),
        };
        policy.check()?;
        Ok(policy)
    }

    /// The table policy, for tables the audience gets.
    pub fn published(&self, table: &str) -> Option<&TablePolicy> {
        self.tables.get(table).filter(|t| t.publish)
    }

    /// True when some column of some published table is pseudonymised (the audience needs a key).
    pub fn pseudonymises(&self) -> bool {
        self.tables.values().filter(|t| t.publish).any(|t| t.columns.values().any(|r| matches!(r, ColumnRule::Pseudonymise(_))))
    }

    fn error(&self, message: String) -> DiscloseError {
        DiscloseError::Policy { origin: self.origin.clone(), audience: self.audience.clone(), message }
    }

    fn check(&self) -> Result<(), DiscloseError> {
        if !is_table_name(&self.audience) {
            return Err(self.error("the audience must be a lower-case name (letters, digits, _)".into()));
        }
        if self.risk.k == 0 || !(0.0..=100.0).contains(&self.risk.max_suppression_percent) || self.risk.min_count == 0 {
            return Err(self.error("[risk]: k and min_count must be at least 1, max_suppression_percent between 0 and 100".into()));
        }
        for name in self.tables.keys() {
            if catalog::table(name).is_none() {
                let known: Vec<_> = catalog::ALL.iter().map(|t| t.name).collect();
                return Err(self.error(format!("table {name} is not in the catalogue (tables: {})", known.join(", "))));
            }
        }
        for spec in catalog::ALL {
            let Some(table) = self.tables.get(spec.name) else {
                return Err(self.error(format!(
                    "table {} is not classified: add [tables.{}] with publish = true or false (deny by default)",
                    spec.name, spec.name
                )));
            };
            if table.publish {
                self.check_table(spec, table)?;
            }
        }
        for spec in catalog::ALL {
            if let Some(table) = self.published(spec.name) {
                self.check_foreign_keys(spec, table)?;
            }
        }
        for (name, aggregate) in &self.aggregates {
            self.check_aggregate(name, aggregate)?;
        }
        Ok(())
    }

    fn check_table(&self, spec: &TableSpec, table: &TablePolicy) -> Result<(), DiscloseError> {
        let name = spec.name;
        for column in spec.columns {
            if !table.columns.contains_key(column.name) {
                return Err(self.error(format!(
                    "column {name}.{} is not classified: add it under [tables.{name}.columns] as \"keep\", \"drop\", or a pseudonymise, generalise or band rule (deny by default)",
                    column.name
                )));
            }
        }
        for (column, rule) in &table.columns {
            let Some(c) = spec.column(column) else {
                return Err(self.error(format!("column {name}.{column} does not exist in the catalogue")));
            };
            let fits = match rule {
                ColumnRule::Keep | ColumnRule::Drop => true,
                ColumnRule::Pseudonymise(_) => c.kind == ColumnType::String,
                ColumnRule::Generalise(level) => level.accepts(c.kind),
                ColumnRule::Band(_) => c.kind == ColumnType::Integer,
            };
            if !fits {
                return Err(self.error(format!("column {name}.{column}: {} does not apply to a column of type {}", rule.describe(), c.kind.table_schema_type())));
            }
        }
        if !matches!(table.rule(spec.primary_key), ColumnRule::Keep | ColumnRule::Pseudonymise(_)) {
            return Err(self.error(format!(
                "column {name}.{} is the primary key of a published table: it must be kept or pseudonymised",
                spec.primary_key
            )));
        }
        for filter in &table.rows {
            self.check_filter(spec, filter)?;
        }
        for column in table.quasi_identifiers.iter().chain(table.individual.iter()) {
            if spec.column(column).is_none() || !table.rule(column).publishes() {
                return Err(self.error(format!(
                    "table {name}: quasi-identifier or individual column {column} must be a published column of the table (k-anonymity is computed on what the audience receives)"
                )));
            }
        }
        Ok(())
    }

    /// A published foreign key must be transformed exactly like the key it points to, or the
    /// audience could not join them (and the release would fail its foreign-key check).
    fn check_foreign_keys(&self, spec: &TableSpec, table: &TablePolicy) -> Result<(), DiscloseError> {
        for fk in spec.foreign_keys {
            let Some(target) = self.published(fk.table) else { continue };
            let (from, to) = (table.rule(fk.column), target.rule(fk.reference));
            if from.publishes() && from != to {
                return Err(self.error(format!(
                    "column {}.{} ({}) refers to {}.{} ({}): a published reference must get the same rule as the key it points to",
                    spec.name,
                    fk.column,
                    from.describe(),
                    fk.table,
                    fk.reference,
                    to.describe()
                )));
            }
        }
        Ok(())
    }

    fn check_filter(&self, spec: &TableSpec, filter: &RowFilter) -> Result<(), DiscloseError> {
        let name = spec.name;
        let Some(column) = spec.column(&filter.column) else {
            return Err(self.error(format!("row filter of {name}: column {} does not exist", filter.column)));
        };
        let kinds = [filter.equals.is_some(), filter.one_of.is_some(), filter.references.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(self.error(format!("row filter of {name} on {}: give exactly one of equals, one_of, references", filter.column)));
        }
        let values = filter.equals.iter().chain(filter.one_of.iter().flatten());
        for value in values {
            let fits = matches!(
                (column.kind, value),
                (ColumnType::String | ColumnType::Time, toml::Value::String(_)) | (ColumnType::Boolean, toml::Value::Boolean(_)) | (ColumnType::Integer, toml::Value::Integer(_))
            );
            if !fits {
                return Err(self.error(format!(
                    "row filter of {name} on {}: value {value} does not fit a column of type {}",
                    filter.column,
                    column.kind.table_schema_type()
                )));
            }
        }
        if let Some(target) = &filter.references {
            if self.published(target).is_none() {
                return Err(self.error(format!("row filter of {name} on {}: references table {target}, which this audience does not get", filter.column)));
            }
        }
        Ok(())
    }

    fn check_aggregate(&self, name: &str, aggregate: &AggregatePolicy) -> Result<(), DiscloseError> {
        if !is_table_name(name) || catalog::table(name).is_some() {
            return Err(self.error(format!("aggregate {name}: its name must be a new snake_case table name of at most 63 characters")));
        }
        let Some(source) = self.published(&aggregate.from) else {
            return Err(self.error(format!("aggregate {name}: counts table {}, which this audience does not get", aggregate.from)));
        };
        for column in [&aggregate.rows, &aggregate.columns] {
            let spec = catalog::table(&aggregate.from).and_then(|s| s.column(column));
            if spec.is_none() || !source.rule(column).publishes() {
                return Err(self.error(format!("aggregate {name}: {}.{column} is not a published column", aggregate.from)));
            }
            if column == "cellule" || column == "effectif" || column == "secret_statistique" {
                return Err(self.error(format!("aggregate {name}: {column} is a reserved column name of aggregate tables")));
            }
        }
        if aggregate.rows == aggregate.columns {
            return Err(self.error(format!("aggregate {name}: rows and columns must be two different columns")));
        }
        if aggregate.min_count == Some(0) {
            return Err(self.error(format!("aggregate {name}: min_count must be at least 1")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policies_are_valid() {
        let p = Policy::parse(PUBLIC_POLICY, "public.toml").unwrap();
        assert_eq!(p.audience, "public");
        assert!(p.published("capacites").is_none());
        assert!(p.published("offres").is_some());
        assert!(!p.pseudonymises());
        for audience in ["drees", "hdh"] {
            let (text, origin) = shipped(audience).unwrap();
            let p = Policy::parse(text, origin).unwrap();
            assert_eq!(p.audience, audience);
            assert!(p.published("capacites").is_some(), "{audience} gets bed capacities");
            assert!(p.pseudonymises());
            assert!(matches!(p.tables["professionnels"].rule("id_nat_ps"), ColumnRule::Pseudonymise(IdentifierKind::IdnatPs)));
            assert_eq!(p.tables["professionnels"].rule("nom_exercice"), &ColumnRule::Drop);
        }
    }

    #[test]
    fn a_policy_serves_the_audience_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(&path, DREES_POLICY).unwrap();
        assert_eq!(load("drees", Some(&path)).unwrap().audience, "drees");
        let e = load("hdh", Some(&path)).unwrap_err().to_string();
        assert!(e.contains("audience drees") && e.contains("policy of audience hdh"), "{e}");
        let e = load("region_bretagne", None).unwrap_err().to_string();
        assert!(e.contains("audience region_bretagne") && e.contains("[policy.audiences]"), "{e}");
    }

    #[test]
    fn unclassified_column_is_named() {
        let text = PUBLIC_POLICY.replacen("unite_sensible = \"keep\"", "", 1);
        let e = Policy::parse(&text, "public.toml").unwrap_err().to_string();
        assert!(e.contains("column offres.unite_sensible is not classified"), "{e}");
        assert!(e.contains("audience public"), "{e}");
    }

    #[test]
    fn unknown_names_are_errors() {
        let text = format!("{PUBLIC_POLICY}\n[tables.nope]\npublish = false\n");
        assert!(Policy::parse(&text, "p").unwrap_err().to_string().contains("table nope is not in the catalogue"));
        let text = PUBLIC_POLICY.replacen("unite_sensible = \"keep\"", "unite_sensible = \"keep\"\nunite_sensibel = \"drop\"", 1);
        assert!(Policy::parse(&text, "p").unwrap_err().to_string().contains("offres.unite_sensibel does not exist"));
        let text = PUBLIC_POLICY.replacen("unite_sensible = \"keep\"", "unite_sensible = \"show\"", 1);
        let e = Policy::parse(&text, "p").unwrap_err().to_string();
        assert!(e.contains("column offres.unite_sensible: expected \"keep\""), "{e}");
    }

    #[test]
    fn rules_are_checked_against_column_types() {
        let nom = "identifiant_offre = \"keep\"\nnom = \"keep\"";
        let age = "age_minimum = \"keep\"";
        let cases = [
            (nom, "identifiant_offre = \"keep\"\nnom = { pseudonymise = \"rpps\" }", "unknown identifier kind \"rpps\""),
            (nom, "identifiant_offre = \"keep\"\nnom = { generalise = \"month\" }", "column offres.nom: generalise (month) does not apply to a column of type string"),
            (age, "age_minimum = { band = [10, 5] }", "strictly increasing"),
            (age, "age_minimum = { pseudonymise = \"ror\" }", "does not apply to a column of type integer"),
            (nom, "identifiant_offre = \"keep\"\nnom = { band = [1], generalise = \"year\" }", "expected \"keep\""),
        ];
        for (from, to, message) in cases {
            let text = PUBLIC_POLICY.replacen(from, to, 1);
            assert_ne!(text, PUBLIC_POLICY, "{from}");
            let e = Policy::parse(&text, "p").unwrap_err().to_string();
            assert!(e.contains(message), "{to}: {e}");
        }
    }

    #[test]
    fn a_reference_follows_the_rule_of_its_key() {
        let text = PUBLIC_POLICY.replacen("[tables.offres.columns]\nidentifiant_ror = \"keep\"", "[tables.offres.columns]\nidentifiant_ror = { pseudonymise = \"ror\" }", 1);
        let e = Policy::parse(&text, "p").unwrap_err().to_string();
        assert!(e.contains("refers to offres.identifiant_ror (pseudonymise (ror))"), "{e}");
    }

    #[test]
    fn quasi_identifiers_are_required_and_published() {
        let text = PUBLIC_POLICY.replacen("[tables.lieux]\npublish = true\nquasi_identifiers = []\n", "[tables.lieux]\npublish = true\n", 1);
        assert_ne!(text, PUBLIC_POLICY);
        let e = Policy::parse(&text, "p").unwrap_err().to_string();
        assert!(e.contains("table lieux is published but declares no quasi_identifiers"), "{e}");
        let text = PUBLIC_POLICY.replacen("[tables.lieux]\npublish = true\nquasi_identifiers = []\n", "[tables.lieux]\npublish = true\nquasi_identifiers = [\"adresse\", \"nope\"]\n", 1);
        let e = Policy::parse(&text, "p").unwrap_err().to_string();
        assert!(e.contains("quasi-identifier or individual column nope"), "{e}");
    }
}
