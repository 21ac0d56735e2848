//! Aggregate tables under the small-count rule: no published cell under `min_count` (11 by default,
//! the rule of French health data outputs), with secondary suppression so that no masked cell can be
//! recomputed from the row and column totals.
//!
//! The method. A table of counts with its margins is an (R+1)×(C+1) grid whose every line (row or
//! column, margins included) satisfies one linear relation: the cells add up to the total. Flip the
//! sign of the margin cells and every line adds up to zero. Masked cells are then the edges of a
//! bipartite graph between line nodes (R+1 rows, C+1 columns), and an attacker who solves the linear
//! system from the published cells can pin a masked cell exactly if and only if its edge is a bridge
//! of that graph (an edge on no cycle; any cycle is a direction the masked values can move along
//! while every total stays right). So: mask every cell in (0, min_count), then, while some masked
//! cell is a bridge, mask the cheapest path of published cells that closes a cycle through it. A
//! path's cost is the sum of its cells, so small cells are preferred (less information lost), zero
//! cells are taken last (a masked zero pinned at 0 by non-negativity protects little), and margins,
//! large by nature, are masked only when nothing else closes the cycle.
//!
//! The property test below checks the result with a different method (the rank of the linear
//! system), over thousands of random tables.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use super::operators::leak;
use crate::table::spec::{col, req};
use crate::table::{sorted_table, ColumnSpec, ColumnType, Table, TableSpec};

/// The masking of a grid of counts with its margins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masking {
    /// (R+1)×(C+1) values: the counts, row totals in the last column, column totals in the last row.
    pub values: Vec<Vec<u64>>,
    /// Same shape: true where the cell is not published.
    pub masked: Vec<Vec<bool>>,
    /// Cells masked because they are under the threshold.
    pub primary: usize,
    /// Cells masked so that the primary ones cannot be recomputed.
    pub secondary: usize,
}

/// The grid of `counts` (R rows × C columns, R, C ≥ 1) with its margins.
pub fn with_margins(counts: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let c = counts.first().map_or(0, Vec::len);
    let mut grid: Vec<Vec<u64>> = counts.iter().map(|row| row.iter().copied().chain(std::iter::once(row.iter().sum())).collect()).collect();
    let totals: Vec<u64> = (0..=c).map(|j| grid.iter().map(|row| row[j]).sum()).collect();
    grid.push(totals);
    grid
}

/// Apply the small-count rule with secondary suppression to `counts` (every row the same length).
pub fn suppress(counts: &[Vec<u64>], min_count: u64) -> Masking {
    let values = with_margins(counts);
    let (rows, cols) = (values.len(), values[0].len());
    let mut masked: Vec<Vec<bool>> = values.iter().map(|row| row.iter().map(|v| *v > 0 && *v < min_count).collect()).collect();
    let primary = masked.iter().flatten().filter(|m| **m).count();
    // Every cell is at most the grand total; one more makes any zero cell dearer than a whole path
    // of non-zero cells (a simple path uses each cell once).
    let zero_cost: u128 = values.iter().flatten().map(|v| u128::from(*v)).sum::<u128>() + 1;
    let cost = |v: u64| if v == 0 { zero_cost } else { u128::from(v) };
    while let Some((r, c)) = first_bridge(&masked, rows, cols) {
        let path = cheapest_cycle_closing(&masked, &values, r, c, &cost);
        debug_assert!(!path.is_empty(), "a grid of at least 2×2 always closes a cycle");
        if path.is_empty() {
            break;
        }
        for (i, j) in path {
            masked[i][j] = true;
        }
    }
    let total = masked.iter().flatten().filter(|m| **m).count();
    Masking { values, masked, primary, secondary: total - primary }
}

/// The first masked cell (in row-major order) whose edge is a bridge of the masked-cell graph.
/// Nodes: rows 0..rows, columns rows..rows+cols. Tarjan's lowlink, iterative.
fn first_bridge(masked: &[Vec<bool>], rows: usize, cols: usize) -> Option<(usize, usize)> {
    let n = rows + cols;
    let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, row) in masked.iter().enumerate() {
        for (j, m) in row.iter().enumerate() {
            if *m {
                adjacency[i].push(rows + j);
                adjacency[rows + j].push(i);
            }
        }
    }
    let mut order = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut counter = 0;
    let mut bridges: Vec<(usize, usize)> = Vec::new();
    for start in 0..n {
        if order[start] != usize::MAX || adjacency[start].is_empty() {
            continue;
        }
        // (node, parent, next neighbour index); parallel edges cannot occur (one cell per pair).
        let mut stack: Vec<(usize, usize, usize)> = vec![(start, usize::MAX, 0)];
        order[start] = counter;
        low[start] = counter;
        counter += 1;
        while let Some(top) = stack.last_mut() {
            let (node, parent) = (top.0, top.1);
            if top.2 < adjacency[node].len() {
                let to = adjacency[node][top.2];
                top.2 += 1;
                if to == parent {
                    continue;
                }
                if order[to] == usize::MAX {
                    order[to] = counter;
                    low[to] = counter;
                    counter += 1;
                    stack.push((to, node, 0));
                } else {
                    low[node] = low[node].min(order[to]);
                }
            } else {
                stack.pop();
                if parent != usize::MAX {
                    low[parent] = low[parent].min(low[node]);
                    if low[node] > order[parent] {
                        let (a, b) = (parent.min(node), parent.max(node));
                        bridges.push((a, b - rows));
                    }
                }
            }
        }
    }
    bridges.into_iter().min()
}

/// The published cells to mask so that cell (r, c) lies on a cycle: the cheapest path from row node
/// r to column node c that does not use the cell itself (Dijkstra on the complete bipartite graph;
/// masked cells cost nothing). Ties go to the lowest node, so the result is deterministic.
fn cheapest_cycle_closing(masked: &[Vec<bool>], values: &[Vec<u64>], r: usize, c: usize, cost: &dyn Fn(u64) -> u128) -> Vec<(usize, usize)> {
    let (rows, cols) = (values.len(), values[0].len());
    let n = rows + cols;
    let mut distance = vec![u128::MAX; n];
    let mut previous = vec![usize::MAX; n];
    let mut done = vec![false; n];
    distance[r] = 0;
    let cell = |a: usize, b: usize| if a < rows { (a, b - rows) } else { (b, a - rows) };
    while let Some(u) = (0..n).filter(|v| !done[*v] && distance[*v] != u128::MAX).min_by_key(|v| (distance[*v], *v)) {
        if u == rows + c {
            break;
        }
        done[u] = true;
        let neighbours: Box<dyn Iterator<Item = usize>> = if u < rows { Box::new(rows..n) } else { Box::new(0..rows) };
        for v in neighbours {
            let (i, j) = cell(u, v);
            if (i, j) == (r, c) || done[v] {
                continue;
            }
            let step = if masked[i][j] { 0 } else { cost(values[i][j]) };
            let d = distance[u].saturating_add(step);
            if d < distance[v] || (d == distance[v] && u < previous[v]) {
                distance[v] = d;
                previous[v] = u;
            }
        }
    }
    let mut path = Vec::new();
    let mut v = rows + c;
    if previous[v] == usize::MAX {
        return path;
    }
    while v != r {
        let u = previous[v];
        let (i, j) = cell(u, v);
        if !masked[i][j] {
            path.push((i, j));
        }
        v = u;
    }
    path
}

/// The columns of an aggregate table as they are filled: cell id, row label, column label, count
/// (None when masked), masked.
#[derive(Default)]
struct Cells(Vec<String>, Vec<String>, Vec<String>, Vec<Option<i64>>, Vec<bool>);

/// What one aggregate table is, for the disclosure report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateOutcome {
    pub from: String,
    pub rows: String,
    pub columns: String,
    pub min_count: u64,
    /// Cells published, margins included.
    pub cells: usize,
    pub primary_suppressed: usize,
    pub secondary_suppressed: usize,
}

/// The label of the margins in an aggregate table.
pub const TOTAL: &str = "TOTAL";
/// The label of rows whose category is empty.
pub const MISSING: &str = "non renseigné";

/// Count the rows of `source` by two of its columns, apply the rule, and make the published table:
/// one row per cell, margins included, `effectif` empty and `secret_statistique` true where masked.
pub fn aggregate_table(name: &str, source: &Table, rows: &str, columns: &str, min_count: u64, title: Option<&str>) -> Result<(Table, AggregateOutcome), String> {
    // The labels borrowed from their columns: an owned String per row and column was, at
    // national scale, most of the disclosure's memory (a million professionals' roles).
    let labels = |column: &str| -> Result<StringChunked, String> {
        let c = source.frame.column(column).map_err(|e| e.to_string())?.cast(&DataType::String).map_err(|e| e.to_string())?;
        Ok(c.str().map_err(|e| e.to_string())?.clone())
    };
    let (row_values, column_values) = (labels(rows)?, labels(columns)?);
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (r, c) in row_values.iter().zip(column_values.iter()) {
        *counts.entry((r.unwrap_or(MISSING), c.unwrap_or(MISSING))).or_default() += 1;
    }
    // Every label of a row or a column is in some cell counted.
    let mut row_keys: Vec<&str> = counts.keys().map(|(r, _)| *r).collect();
    let mut column_keys: Vec<&str> = counts.keys().map(|(_, c)| *c).collect();
    for keys in [&mut row_keys, &mut column_keys] {
        keys.sort_unstable();
        keys.dedup();
    }
    let spec = aggregate_spec(name, source.spec, rows, columns, min_count, title);
    let mut out = Cells::default();
    let (mut primary, mut secondary, mut cells) = (0, 0, 0);
    if !row_keys.is_empty() {
        let grid: Vec<Vec<u64>> = row_keys.iter().map(|r| column_keys.iter().map(|c| counts.get(&(*r, *c)).copied().unwrap_or(0)).collect()).collect();
        let masking = suppress(&grid, min_count);
        (primary, secondary) = (masking.primary, masking.secondary);
        let row_labels: Vec<&str> = row_keys.iter().copied().chain(std::iter::once(TOTAL)).collect();
        let column_labels: Vec<&str> = column_keys.iter().copied().chain(std::iter::once(TOTAL)).collect();
        for (i, r) in row_labels.iter().enumerate() {
            for (j, c) in column_labels.iter().enumerate() {
                let hidden = masking.masked[i][j];
                out.0.push(format!("{r}|{c}"));
                out.1.push((*r).to_owned());
                out.2.push((*c).to_owned());
                out.3.push((!hidden).then_some(masking.values[i][j] as i64));
                out.4.push(hidden);
                cells += 1;
            }
        }
    }
    let frame = DataFrame::new_infer_height(vec![
        Column::new("cellule".into(), out.0),
        Column::new(PlSmallStr::from_str(rows), out.1),
        Column::new(PlSmallStr::from_str(columns), out.2),
        Column::new("effectif".into(), out.3),
        Column::new("secret_statistique".into(), out.4),
    ])
    .map_err(|e| e.to_string())?;
    let table = sorted_table(spec, frame).map_err(|e| e.to_string())?;
    let outcome = AggregateOutcome {
        from: source.spec.name.to_owned(),
        rows: rows.to_owned(),
        columns: columns.to_owned(),
        min_count,
        cells,
        primary_suppressed: primary,
        secondary_suppressed: secondary,
    };
    Ok((table, outcome))
}

/// The spec of an aggregate table (built at run time from the policy, hence leaked once per run).
fn aggregate_spec(name: &str, source: &'static TableSpec, rows: &str, columns: &str, min_count: u64, title: Option<&str>) -> &'static TableSpec {
    let describe = |column: &str| {
        let base = source.column(column).map_or("", |c| c.description);
        leak(format!("{base} « {TOTAL} » : toutes les valeurs ; « {MISSING} » : valeur absente."))
    };
    let columns_spec: Vec<ColumnSpec> = vec![
        req("cellule", ColumnType::String, "Identifiant de la cellule : valeur de ligne, barre verticale, valeur de colonne."),
        ColumnSpec { name: leak(rows.to_owned()), kind: ColumnType::String, required: true, description: describe(rows) },
        ColumnSpec { name: leak(columns.to_owned()), kind: ColumnType::String, required: true, description: describe(columns) },
        col("effectif", ColumnType::Integer, leak(format!("Nombre de lignes de la table {} dans la cellule ; vide quand il est couvert par le secret statistique.", source.name))),
        req(
            "secret_statistique",
            ColumnType::Boolean,
            leak(format!("Vrai quand l'effectif est masqué : inférieur à {min_count}, ou masqué pour qu'aucun effectif masqué ne se déduise des totaux.")),
        ),
    ];
    Box::leak(Box::new(TableSpec {
        name: leak(name.to_owned()),
        title: leak(title.map_or_else(|| format!("Effectifs de {} par {rows} et {columns}", source.name), str::to_owned)),
        description: leak(format!("Table agrégée : effectifs de la table {} croisés par {rows} et {columns}, avec les totaux, sous la règle des petits effectifs (aucune cellule publiée sous {min_count}).", source.name)),
        primary_key: "cellule",
        foreign_keys: &[],
        columns: Box::leak(columns_spec.into_boxed_slice()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 1_000_000_007;

    /// Rank over F_p. The constraint matrix is totally unimodular up to column signs (each variable
    /// is in one row line and one column line), so its rank modulo a prime is its rational rank.
    fn rank(mut m: Vec<Vec<u64>>) -> usize {
        let width = m.first().map_or(0, Vec::len);
        let mut rank = 0;
        for col in 0..width {
            let Some(pivot) = (rank..m.len()).find(|r| m[*r][col] != 0) else { continue };
            m.swap(rank, pivot);
            let inv = pow(m[rank][col], P - 2);
            for x in m[rank].iter_mut() {
                *x = *x * inv % P;
            }
            let pivot_row = m[rank].clone();
            for (r, row) in m.iter_mut().enumerate() {
                if r != rank && row[col] != 0 {
                    let f = row[col];
                    for (x, p) in row.iter_mut().zip(&pivot_row) {
                        *x = (*x + P - f * p % P) % P;
                    }
                }
            }
            rank += 1;
        }
        rank
    }

    fn pow(mut b: u64, mut e: u64) -> u64 {
        let mut r = 1;
        while e > 0 {
            if e & 1 == 1 {
                r = r * b % P;
            }
            b = b * b % P;
            e >>= 1;
        }
        r
    }

    /// The masked cells an attacker can compute exactly from the published cells and the additivity
    /// of every line: cell k is determined iff its unit vector is in the row space of the system.
    fn derivable(masking: &Masking) -> Vec<(usize, usize)> {
        let (rows, cols) = (masking.values.len(), masking.values[0].len());
        let unknowns: Vec<(usize, usize)> = (0..rows).flat_map(|i| (0..cols).map(move |j| (i, j))).filter(|(i, j)| masking.masked[*i][*j]).collect();
        let coefficient = |line_is_row: bool, line: usize, (i, j): (usize, usize)| -> u64 {
            // Row line i: cells (i, 0..C) minus the total (i, C). Column line j likewise.
            let (on, total) = if line_is_row { (i == line, j == cols - 1) } else { (j == line, i == rows - 1) };
            match (on, total) {
                (false, _) => 0,
                (true, false) => 1,
                (true, true) => P - 1,
            }
        };
        let system: Vec<Vec<u64>> = (0..rows).map(|l| (true, l)).chain((0..cols).map(|l| (false, l))).map(|(is_row, l)| unknowns.iter().map(|u| coefficient(is_row, l, *u)).collect()).collect();
        let base = rank(system.clone());
        unknowns
            .iter()
            .enumerate()
            .filter(|(k, _)| {
                let mut with = system.clone();
                with.push((0..unknowns.len()).map(|x| u64::from(x == *k)).collect());
                rank(with) == base
            })
            .map(|(_, u)| *u)
            .collect()
    }

    #[test]
    fn a_lone_small_cell_gets_complements_in_its_row_and_column() {
        let counts = vec![vec![5, 40, 30], vec![20, 25, 50], vec![60, 70, 80]];
        let m = suppress(&counts, 11);
        assert_eq!(m.primary, 1);
        assert!(m.masked[0][0]);
        assert!(m.secondary >= 3, "a 2×2 rectangle at least: {m:?}");
        assert!(derivable(&m).is_empty());
        // The cheapest rectangle: (0, 1) + (1, 1) + (1, 0) = 40 + 25 + 20 beats 30 + 50 + 20.
        assert!(m.masked[0][1] && m.masked[1][1] && m.masked[1][0], "{:?}", m.masked);
        assert_eq!(m.secondary, 3);
        assert!(!m.masked[3][3], "the grand total stays published");
    }

    #[test]
    fn the_oracle_sees_what_primary_suppression_alone_leaves() {
        // Guard against a property test that proves nothing: masking only the small cell leaves it
        // computable from its row total, and the oracle must say so.
        let counts = vec![vec![5, 40], vec![20, 25]];
        let values = with_margins(&counts);
        let mut masked = vec![vec![false; 3]; 3];
        masked[0][0] = true;
        let naive = Masking { values, masked, primary: 1, secondary: 0 };
        assert_eq!(derivable(&naive), vec![(0, 0)]);
    }

    #[test]
    fn each_pair_of_labels_is_counted_the_missing_ones_included() {
        let mut b = crate::table::TableBuilder::new(&crate::table::catalog::PROFESSIONNELS);
        for (i, (profession, field)) in [(Some("10"), Some("05")); 12].into_iter().chain([(Some("10"), Some("06")); 3]).chain([(None, Some("05")); 11]).chain([(Some("21"), None)]).enumerate() {
            let mut r = b.row();
            r.set("identifiant_ror", format!("pr{i:02}")).set("profession_code", profession).set("offre_champ_activite_code", field);
            b.push(r);
        }
        let source = b.finish().unwrap();
        let (table, outcome) = aggregate_table("effectifs", &source, "profession_code", "offre_champ_activite_code", 1, None).unwrap();
        assert_eq!((outcome.cells, outcome.primary_suppressed, outcome.secondary_suppressed), (16, 0, 0));
        let cells = table.text_values("cellule").unwrap();
        let counts = table.frame.column("effectif").unwrap().i64().unwrap().iter().collect::<Vec<_>>();
        let count = |cell: &str| counts[cells.iter().position(|c| c.as_deref() == Some(cell)).unwrap_or_else(|| panic!("{cell}"))];
        for (cell, expected) in [("10|05", 12), ("10|06", 3), ("10|non renseigné", 0), ("non renseigné|05", 11), ("21|non renseigné", 1), ("21|05", 0), ("TOTAL|05", 23), ("10|TOTAL", 15), ("TOTAL|TOTAL", 27)] {
            assert_eq!(count(cell), Some(expected), "{cell}");
        }
    }

    #[test]
    fn nothing_small_nothing_masked() {
        let m = suppress(&[vec![11, 0], vec![20, 30]], 11);
        assert_eq!((m.primary, m.secondary), (0, 0));
    }

    #[test]
    fn a_single_row_masks_the_column_totals_too() {
        // With one row, a column total equals its cell: masking the cell alone hides nothing.
        let m = suppress(&[vec![3, 50, 60]], 11);
        assert!(m.masked[0][0] && m.masked[1][0]);
        assert!(derivable(&m).is_empty(), "{m:?}");
    }

    /// A table of counts where small, zero and large cells all occur, for each threshold in use.
    fn count_tables() -> impl proptest::strategy::Strategy<Value = (Vec<Vec<u64>>, u64)> {
        use proptest::prelude::*;
        (1usize..=6, 1usize..=6, prop::sample::select(vec![2u64, 5, 11])).prop_flat_map(|(r, c, min_count)| {
            let cell = prop_oneof![1 => Just(0u64), 3 => 1..min_count, 6 => min_count..200];
            (prop::collection::vec(prop::collection::vec(cell, c), r), Just(min_count))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1500))]

        /// The small-count rule: no published cell under the threshold, no masked cell derivable
        /// from the published cells and totals, the same masking every time.
        #[test]
        fn property_no_masked_cell_is_derivable_from_the_totals((counts, min_count) in count_tables()) {
            let m = suppress(&counts, min_count);
            proptest::prop_assert_eq!(&m.values, &with_margins(&counts));
            for (i, row) in m.values.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    if *v > 0 && *v < min_count {
                        proptest::prop_assert!(m.masked[i][j], "small cell ({}, {}) = {} published in {:?}", i, j, v, counts);
                    }
                }
            }
            let leaks = derivable(&m);
            proptest::prop_assert!(leaks.is_empty(), "masked cells {:?} derivable from the totals of {:?} masked as {:?}", leaks, counts, m.masked);
            proptest::prop_assert_eq!(&m, &suppress(&counts, min_count));
        }
    }
}
