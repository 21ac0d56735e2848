//! The k-anonymity gate of row-level tables. Rows sharing the same published values of the table's
//! quasi-identifiers form an equivalence class; a recipient who knows those values of someone (from
//! the Annuaire Santé, FINESS, INSEE) cannot tell them apart from the other members of the class.
//! Classes under k are suppressed locally (their rows are withheld) as long as that costs at most the
//! policy's share of the table; beyond it the gate fails closed and nothing is released, because
//! suppressing a large share silently would both damage the data and hide a policy that no longer
//! fits the data.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

/// What the gate found and did on one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskOutcome {
    pub quasi_identifiers: Vec<String>,
    /// The column whose distinct values are counted in a class (rows when absent).
    pub individual: Option<String>,
    pub k_required: usize,
    pub rows_in: usize,
    pub classes: usize,
    /// Smallest class before suppression (None for an empty table).
    pub k_before: Option<usize>,
    /// Smallest class of what is published (None when nothing is published).
    pub k_reached: Option<usize>,
    /// Size → number of classes of that size, for the classes under k.
    pub class_sizes_under_k: BTreeMap<usize, usize>,
    pub rows_suppressed: usize,
    /// The share of the table the policy lets the gate suppress, and what it makes in rows.
    pub max_suppression_percent: f64,
    pub suppression_limit: usize,
    pub passed: bool,
}

impl RiskOutcome {
    /// "3 classes of 1, 2 of 4" — sizes only, never the values that define a class.
    pub fn describe_small_classes(&self) -> String {
        if self.class_sizes_under_k.is_empty() {
            return "none".into();
        }
        self.class_sizes_under_k.iter().map(|(size, n)| format!("{n} class{} of {size}", if *n == 1 { "" } else { "es" })).collect::<Vec<_>>().join(", ")
    }
}

/// The equivalence classes of `frame` on `quasi_identifiers`: for each class, its rows and its size
/// (distinct values of `individual`, or rows). Nulls form their own value. Classes come in the order
/// of their first row, so everything downstream is deterministic.
pub fn equivalence_classes(frame: &DataFrame, quasi_identifiers: &[String], individual: Option<&str>) -> Result<Vec<(usize, Vec<usize>)>, String> {
    // Each column as text, its values borrowed from it: an owned String per value and column was
    // most of the disclosure's memory at national scale (a million professionals' roles).
    let text_column = |name: &str| -> Result<StringChunked, String> {
        let column = frame.column(name).map_err(|e| e.to_string())?.cast(&DataType::String).map_err(|e| e.to_string())?;
        Ok(column.str().map_err(|e| e.to_string())?.clone())
    };
    let columns: Vec<StringChunked> = quasi_identifiers.iter().map(|q| text_column(q)).collect::<Result<_, _>>()?;
    let individuals = individual.map(text_column).transpose()?;
    let individuals: Option<Vec<Option<&str>>> = individuals.as_ref().map(|ids| ids.iter().collect());
    let mut values: Vec<_> = columns.iter().map(|c| c.iter()).collect();
    // A row's values are looked up from one buffer, copied into the index only for a new class.
    let mut index: PlHashMap<Vec<Option<&str>>, usize> = PlHashMap::new();
    let mut classes: Vec<Vec<usize>> = Vec::new();
    let mut key: Vec<Option<&str>> = Vec::with_capacity(columns.len());
    for row in 0..frame.height() {
        key.clear();
        key.extend(values.iter_mut().map(|v| v.next().expect("a value per row")));
        let id = match index.get(key.as_slice()) {
            Some(id) => *id,
            None => {
                classes.push(Vec::new());
                index.insert(key.clone(), classes.len() - 1);
                classes.len() - 1
            }
        };
        classes[id].push(row);
    }
    Ok(classes
        .into_iter()
        .map(|rows| {
            let size = match &individuals {
                None => rows.len(),
                Some(ids) => {
                    // A row without an individual is counted as someone of its own.
                    let named: PlHashSet<&str> = rows.iter().filter_map(|r| ids[*r]).collect();
                    named.len() + rows.iter().filter(|r| ids[**r].is_none()).count()
                }
            };
            (size, rows)
        })
        .collect())
}

/// Run the gate: Ok(rows to keep, outcome) when classes under k fit the suppression limit, Err(outcome)
/// otherwise.
pub fn k_anonymise(
    frame: &DataFrame,
    quasi_identifiers: &[String],
    individual: Option<&str>,
    k: usize,
    max_suppression_percent: f64,
) -> Result<Result<(Vec<bool>, RiskOutcome), RiskOutcome>, String> {
    let rows_in = frame.height();
    let classes = equivalence_classes(frame, quasi_identifiers, individual)?;
    let mut keep = vec![true; rows_in];
    let mut under: BTreeMap<usize, usize> = BTreeMap::new();
    let mut suppressed = 0;
    for (size, rows) in &classes {
        if *size < k {
            *under.entry(*size).or_default() += 1;
            suppressed += rows.len();
            for r in rows {
                keep[*r] = false;
            }
        }
    }
    // floor: a limit of 5 % of 19 rows is 0 rows, never a rounded-up 1.
    let limit = ((rows_in as f64) * max_suppression_percent / 100.0).floor() as usize;
    let passed = suppressed <= limit;
    let outcome = RiskOutcome {
        quasi_identifiers: quasi_identifiers.to_vec(),
        individual: individual.map(str::to_owned),
        k_required: k,
        rows_in,
        classes: classes.len(),
        k_before: classes.iter().map(|(s, _)| *s).min(),
        k_reached: if passed { classes.iter().map(|(s, _)| *s).filter(|s| *s >= k).min() } else { None },
        class_sizes_under_k: under,
        rows_suppressed: if passed { suppressed } else { 0 },
        max_suppression_percent,
        suppression_limit: limit,
        passed,
    };
    Ok(if passed { Ok((keep, outcome)) } else { Err(RiskOutcome { rows_suppressed: suppressed, ..outcome }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(a: &[&str], b: &[Option<&str>], who: &[&str]) -> DataFrame {
        DataFrame::new_infer_height(vec![Column::new("a".into(), a), Column::new("b".into(), b), Column::new("who".into(), who)]).unwrap()
    }

    #[test]
    fn classes_count_rows_or_individuals() {
        let f = frame(&["x", "x", "x", "y"], &[Some("1"), Some("1"), None, None], &["p", "p", "q", "r"]);
        let qi = vec!["a".to_owned(), "b".to_owned()];
        let by_rows = equivalence_classes(&f, &qi, None).unwrap();
        assert_eq!(by_rows, vec![(2, vec![0, 1]), (1, vec![2]), (1, vec![3])]);
        let by_person = equivalence_classes(&f, &qi, Some("who")).unwrap();
        assert_eq!(by_person[0], (1, vec![0, 1]), "one person in two roles is one person");
    }

    #[test]
    fn small_classes_are_suppressed_within_the_limit_and_fail_beyond() {
        let a: Vec<&str> = (0..100).map(|i| if i < 97 { "common" } else { ["u1", "u2", "u3"][i - 97] }).collect();
        let b: Vec<Option<&str>> = vec![Some("v"); 100];
        let who: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
        let who: Vec<&str> = who.iter().map(String::as_str).collect();
        let f = frame(&a, &b, &who);
        let qi = vec!["a".to_owned(), "b".to_owned()];
        let (keep, outcome) = k_anonymise(&f, &qi, Some("who"), 5, 5.0).unwrap().unwrap();
        assert_eq!(keep.iter().filter(|k| !**k).count(), 3);
        assert_eq!((outcome.rows_suppressed, outcome.suppression_limit, outcome.k_before, outcome.k_reached), (3, 5, Some(1), Some(97)));
        assert_eq!(outcome.describe_small_classes(), "3 classes of 1");
        let failed = k_anonymise(&f, &qi, Some("who"), 5, 2.0).unwrap().unwrap_err();
        assert!(!failed.passed);
        assert_eq!((failed.rows_suppressed, failed.suppression_limit, failed.k_reached), (3, 2, None));
    }
}
