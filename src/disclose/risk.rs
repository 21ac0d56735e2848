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

use crate::arena::Names;

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
/// of their first row. The tests' reference of what `Classes` counts a slice at a time.
#[cfg(test)]
pub fn equivalence_classes(frame: &DataFrame, quasi_identifiers: &[String], individual: Option<&str>) -> Result<Vec<(usize, Vec<usize>)>, String> {
    let columns: Vec<StringChunked> = quasi_identifiers.iter().map(|q| text_column(frame, q)).collect::<Result<_, _>>()?;
    let individuals = individual.map(|i| text_column(frame, i)).transpose()?;
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

/// Each column as text (`cast`), its values borrowed from it.
fn text_column(frame: &DataFrame, name: &str) -> Result<StringChunked, String> {
    let column = frame.column(name).map_err(|e| e.to_string())?.cast(&DataType::String).map_err(|e| e.to_string())?;
    Ok(column.str().map_err(|e| e.to_string())?.clone())
}

/// No individual named (a row without one counts as someone of its own).
const NO_INDIVIDUAL: u32 = u32::MAX;

/// The equivalence classes of a table on its quasi-identifiers, counted a slice of rows at a time
/// (`add`, in row order): each row is kept as two numbers, its class (numbered in the order of
/// their first row) and its individual (the distinct values, end to end in `Names`). The columns
/// whole, cast to text, a list of rows per class and a set per class were hundreds of megabytes at
/// national scale (millions of professionals' roles). Nulls form their own value.
pub struct Classes {
    quasi_identifiers: Vec<String>,
    individual: Option<String>,
    numbers: PlHashMap<Vec<Option<String>>, u32>,
    individuals: Names,
    rows: Vec<(u32, u32)>,
}

impl Classes {
    pub fn new(quasi_identifiers: &[String], individual: Option<&str>) -> Classes {
        Classes { quasi_identifiers: quasi_identifiers.to_vec(), individual: individual.map(str::to_owned), numbers: PlHashMap::new(), individuals: Names::default(), rows: Vec::new() }
    }

    /// Count the rows of `frame` (the next rows of the table, with at least the quasi-identifiers
    /// and the individual column).
    pub fn add(&mut self, frame: &DataFrame) -> Result<(), String> {
        let columns: Vec<StringChunked> = self.quasi_identifiers.iter().map(|q| text_column(frame, q)).collect::<Result<_, _>>()?;
        let individuals = self.individual.as_deref().map(|i| text_column(frame, i)).transpose()?;
        let mut values: Vec<_> = columns.iter().map(|c| c.iter()).collect();
        let mut individuals = individuals.as_ref().map(|i| i.iter());
        // This slice's classes by their borrowed values; the table's, owned, only for a class new
        // to the slice (a few thousand classes, millions of rows).
        let mut here: PlHashMap<Vec<Option<&str>>, u32> = PlHashMap::new();
        let mut key: Vec<Option<&str>> = Vec::with_capacity(columns.len());
        self.rows.reserve(frame.height());
        for _ in 0..frame.height() {
            key.clear();
            key.extend(values.iter_mut().map(|v| v.next().expect("a value per row")));
            let class = match here.get(key.as_slice()) {
                Some(class) => *class,
                None => {
                    let next = self.numbers.len() as u32;
                    let class = *self.numbers.entry(key.iter().map(|v| v.map(str::to_owned)).collect()).or_insert(next);
                    here.insert(key.clone(), class);
                    class
                }
            };
            let individual = match individuals.as_mut().map(|i| i.next().expect("a value per row")) {
                Some(Some(individual)) => self.individuals.number(individual),
                _ => NO_INDIVIDUAL,
            };
            self.rows.push((class, individual));
        }
        Ok(())
    }

    /// Each class's size: its distinct individuals (a row without one counting as one of its
    /// own), or its rows without an individual column; and its rows.
    fn sizes(&self) -> (Vec<usize>, Vec<usize>) {
        let mut rows = vec![0usize; self.numbers.len()];
        for &(class, _) in &self.rows {
            rows[class as usize] += 1;
        }
        if self.individual.is_none() {
            return (rows.clone(), rows);
        }
        let mut sizes = vec![0usize; self.numbers.len()];
        let mut named: Vec<u64> = Vec::with_capacity(self.rows.len());
        for &(class, individual) in &self.rows {
            if individual == NO_INDIVIDUAL {
                sizes[class as usize] += 1;
            } else {
                named.push(u64::from(class) << 32 | u64::from(individual));
            }
        }
        named.sort_unstable();
        named.dedup();
        for pair in named {
            sizes[(pair >> 32) as usize] += 1;
        }
        (sizes, rows)
    }

    /// Run the gate on the rows counted: Ok(rows to keep, outcome) when classes under k fit the
    /// suppression limit, Err(outcome) otherwise (boxed: it becomes the table's failure).
    pub fn gate(self, k: usize, max_suppression_percent: f64) -> Result<(Vec<bool>, RiskOutcome), Box<RiskOutcome>> {
        let rows_in = self.rows.len();
        let (sizes, rows) = self.sizes();
        let mut under: BTreeMap<usize, usize> = BTreeMap::new();
        let mut suppressed = 0;
        for (size, rows) in sizes.iter().zip(&rows) {
            if *size < k {
                *under.entry(*size).or_default() += 1;
                suppressed += rows;
            }
        }
        let keep: Vec<bool> = self.rows.iter().map(|&(class, _)| sizes[class as usize] >= k).collect();
        // floor: a limit of 5 % of 19 rows is 0 rows, never a rounded-up 1.
        let limit = ((rows_in as f64) * max_suppression_percent / 100.0).floor() as usize;
        let passed = suppressed <= limit;
        let outcome = RiskOutcome {
            quasi_identifiers: self.quasi_identifiers,
            individual: self.individual,
            k_required: k,
            rows_in,
            classes: sizes.len(),
            k_before: sizes.iter().copied().min(),
            k_reached: if passed { sizes.iter().copied().filter(|s| *s >= k).min() } else { None },
            class_sizes_under_k: under,
            rows_suppressed: if passed { suppressed } else { 0 },
            max_suppression_percent,
            suppression_limit: limit,
            passed,
        };
        if passed {
            Ok((keep, outcome))
        } else {
            Err(Box::new(RiskOutcome { rows_suppressed: suppressed, ..outcome }))
        }
    }
}

/// Run the gate on a whole frame: Ok(rows to keep, outcome) when classes under k fit the
/// suppression limit, Err(outcome) otherwise. (The night counts a slice at a time; the tests'
/// whole-table reference of the disclosure, `disclose_table`, takes the frame.)
#[cfg(test)]
pub fn k_anonymise(
    frame: &DataFrame,
    quasi_identifiers: &[String],
    individual: Option<&str>,
    k: usize,
    max_suppression_percent: f64,
) -> Result<Result<(Vec<bool>, RiskOutcome), Box<RiskOutcome>>, String> {
    let mut classes = Classes::new(quasi_identifiers, individual);
    classes.add(frame)?;
    Ok(classes.gate(k, max_suppression_percent))
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

    /// Counted a slice at a time, the classes' sizes and the gate's verdicts and outcome are those
    /// of the whole frame's classes (`equivalence_classes`, the reference), with nulls, people in
    /// several roles, and by rows.
    #[test]
    fn classes_counted_by_slices_are_the_whole_frames() {
        let rows = 30_000;
        let a: Vec<Option<String>> = (0..rows).map(|i| (i % 13 != 0).then(|| format!("a{}", (i * 7) % 40))).collect();
        let b: Vec<Option<String>> = (0..rows).map(|i| (i % 5 != 0).then(|| format!("b{}", (i / 3) % 9))).collect();
        let who: Vec<Option<String>> = (0..rows).map(|i| (i % 17 != 0).then(|| format!("p{}", (i * 31) % 9_000))).collect();
        let f = DataFrame::new_infer_height(vec![Column::new("a".into(), a), Column::new("b".into(), b), Column::new("who".into(), who)]).unwrap();
        let qi = vec!["a".to_owned(), "b".to_owned()];
        for individual in [Some("who"), None] {
            let whole = equivalence_classes(&f, &qi, individual).unwrap();
            let mut classes = Classes::new(&qi, individual);
            for offset in (0..rows).step_by(7_001) {
                classes.add(&f.slice(offset as i64, 7_001)).unwrap();
            }
            let (sizes, counts) = classes.sizes();
            assert_eq!(sizes, whole.iter().map(|(size, _)| *size).collect::<Vec<_>>(), "{individual:?}");
            assert_eq!(counts, whole.iter().map(|(_, rows)| rows.len()).collect::<Vec<_>>());
            // A k between the classes' sizes: some under it, some not.
            let mut ordered = sizes.clone();
            ordered.sort_unstable();
            let k = ordered[ordered.len() / 2] + 1;
            let (keep, outcome) = classes.gate(k, 100.0).unwrap();
            let mut expected = vec![true; rows];
            for (size, rows) in &whole {
                for r in rows.iter().filter(|_| *size < k) {
                    expected[*r] = false;
                }
            }
            assert_eq!(keep, expected);
            assert!(outcome.rows_suppressed > 0 && outcome.k_before < Some(k) && outcome.k_reached >= Some(k), "{outcome:?}");
            assert_eq!(outcome.classes, whole.len());
        }
    }
}
