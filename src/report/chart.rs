//! Line charts as inline SVG, for the report page: a few series over the releases, with axes,
//! gridlines on round values, one marked point per value (its figure in a tooltip and in
//! `data-*` attributes, so a test or a scraper can read the numbers back) and a legend.
//!
//! Drawn here rather than with a plotting crate: the charts are simple, and the crates that draw
//! SVG bring font and image dependencies the report does not need. The output is a pure function of
//! the data, so the same releases always give the same page.

use std::fmt::Write as _;

/// One line: a value per x position, None where the series has no value (a table not yet
/// published, a capacity series that starts later).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// A chart: `x_labels` name the positions every series is aligned on.
#[derive(Debug, Clone)]
pub struct LineChart<'a> {
    /// The chart's accessible name (the SVG's `<title>`).
    pub title: &'a str,
    /// What the y axis counts ("lignes", "lits disponibles").
    pub unit: &'a str,
    pub x_labels: &'a [String],
    pub series: &'a [Series],
    pub width: u32,
    pub height: u32,
}

/// Colour-blind-safe palette (Okabe–Ito), then greys; series beyond it reuse it.
const PALETTE: [&str; 9] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442", "#999999"];
const MARGIN_LEFT: f64 = 72.0;
const MARGIN_RIGHT: f64 = 48.0;
const MARGIN_TOP: f64 = 16.0;
const MARGIN_BOTTOM: f64 = 30.0;
const LEGEND_LINE: f64 = 18.0;
/// At most this many x labels are written; the others are skipped evenly.
const MAX_X_LABELS: usize = 8;

/// Text safe inside SVG/XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A figure as the page prints it: integers with thin-space thousands, others with one decimal.
pub fn format_value(v: f64) -> String {
    if v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{}", v.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202F}');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Round gridlines covering [min, max]: a step of 1, 2 or 5 times a power of ten, about five lines.
pub fn nice_ticks(min: f64, max: f64) -> Vec<f64> {
    let (mut low, mut high) = (min.min(max), min.max(max));
    if (high - low).abs() < f64::EPSILON {
        // A flat series still gets an axis around its value.
        let pad = (low.abs() * 0.05).max(1.0);
        low -= pad;
        high += pad;
    }
    let raw = (high - low) / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power);
    let first = (low / step).floor() * step;
    let last = (high / step).ceil() * step;
    let count = ((last - first) / step).round() as usize;
    (0..=count).map(|i| first + step * i as f64).collect()
}

/// The chart as an `<svg>` element (no XML prolog: it is inlined into HTML).
pub fn render(chart: &LineChart<'_>) -> String {
    let legend_rows = if chart.series.len() > 1 { chart.series.len().div_ceil(3) } else { 0 };
    let total_height = chart.height as f64 + if legend_rows > 0 { legend_rows as f64 * LEGEND_LINE + 8.0 } else { 0.0 };
    let plot_w = chart.width as f64 - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = chart.height as f64 - MARGIN_TOP - MARGIN_BOTTOM;
    let values: Vec<f64> = chart.series.iter().flat_map(|s| s.values.iter().flatten().copied()).collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><title>{title}</title>"#,
        w = chart.width,
        h = total_height,
        title = escape(chart.title)
    );
    if values.is_empty() {
        let _ = write!(svg, r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">aucune donnée</text></svg>"##, chart.width / 2, chart.height / 2);
        return svg;
    }
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let ticks = nice_ticks(min, max);
    let (y_low, y_high) = (ticks[0], ticks[ticks.len() - 1]);
    let n = chart.x_labels.len();
    let x_at = |i: usize| if n <= 1 { MARGIN_LEFT + plot_w / 2.0 } else { MARGIN_LEFT + plot_w * i as f64 / (n - 1) as f64 };
    let y_at = |v: f64| MARGIN_TOP + plot_h * (1.0 - (v - y_low) / (y_high - y_low));

    // Gridlines and y labels.
    for t in &ticks {
        let y = y_at(*t);
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{x1:.1}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{lx:.1}" y="{ty:.1}" text-anchor="end" fill="#333">{label}</text>"##,
            x1 = MARGIN_LEFT,
            x2 = MARGIN_LEFT + plot_w,
            lx = MARGIN_LEFT - 6.0,
            ty = y + 4.0,
            label = escape(&format_value(*t))
        );
    }
    // Axes.
    let _ = write!(
        svg,
        r##"<line x1="{l:.1}" y1="{t:.1}" x2="{l:.1}" y2="{b:.1}" stroke="#333"/><line x1="{l:.1}" y1="{b:.1}" x2="{r:.1}" y2="{b:.1}" stroke="#333"/>"##,
        l = MARGIN_LEFT,
        t = MARGIN_TOP,
        b = MARGIN_TOP + plot_h,
        r = MARGIN_LEFT + plot_w
    );
    let _ = write!(
        svg,
        r##"<text x="12" y="{y:.1}" transform="rotate(-90 12 {y:.1})" text-anchor="middle" fill="#333">{unit}</text>"##,
        y = MARGIN_TOP + plot_h / 2.0,
        unit = escape(chart.unit)
    );
    // x labels, thinned evenly so they never overlap.
    let every = n.div_ceil(MAX_X_LABELS).max(1);
    for (i, label) in chart.x_labels.iter().enumerate() {
        if i % every != 0 && i != n - 1 {
            continue;
        }
        let _ = write!(svg, r##"<text class="x-label" x="{x:.1}" y="{y:.1}" text-anchor="middle" fill="#333">{label}</text>"##, x = x_at(i), y = MARGIN_TOP + plot_h + 16.0, label = escape(label));
    }
    // Lines, broken where a series has no value, and one marked point per value.
    for (s, series) in chart.series.iter().enumerate() {
        let colour = PALETTE[s % PALETTE.len()];
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        for (i, v) in series.values.iter().enumerate().take(n) {
            match v {
                Some(v) => run.push((x_at(i), y_at(*v))),
                None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        for run in runs.iter().filter(|r| r.len() > 1) {
            let points: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = write!(svg, r#"<polyline class="series" data-series="{name}" fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>"#, name = escape(&series.name), points = points.join(" "));
        }
        for (i, v) in series.values.iter().enumerate().take(n) {
            let Some(v) = v else { continue };
            let _ = write!(
                svg,
                r#"<circle class="point" cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}" data-series="{name}" data-x="{label}" data-value="{value}"><title>{name} — {label} : {shown}</title></circle>"#,
                x = x_at(i),
                y = y_at(*v),
                name = escape(&series.name),
                label = escape(&chart.x_labels[i]),
                value = v,
                shown = escape(&format_value(*v))
            );
        }
    }
    // Legend under the plot, three entries a line.
    if chart.series.len() > 1 {
        let column_w = plot_w / 3.0;
        for (s, series) in chart.series.iter().enumerate() {
            let x = MARGIN_LEFT + column_w * (s % 3) as f64;
            let y = chart.height as f64 + 12.0 + LEGEND_LINE * (s / 3) as f64;
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{ry:.1}" width="12" height="4" fill="{colour}"/><text class="legend" x="{tx:.1}" y="{y:.1}" fill="#333">{name}</text>"##,
                ry = y - 6.0,
                tx = x + 16.0,
                colour = PALETTE[s % PALETTE.len()],
                name = escape(&series.name)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_of(series: &[Series], labels: &[String]) -> String {
        render(&LineChart { title: "t", unit: "lignes", x_labels: labels, series, width: 400, height: 200 })
    }

    #[test]
    fn every_value_is_a_point_with_its_figure() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let svg = chart_of(&[Series { name: "offres".into(), values: vec![Some(10.0), Some(12.0), Some(9.0)] }], &labels);
        assert_eq!(svg.matches("<circle").count(), 3);
        for v in ["10", "12", "9"] {
            assert!(svg.contains(&format!("data-value=\"{v}\"")), "{svg}");
        }
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("http"), "no external reference, not even a namespace");
    }

    #[test]
    fn a_missing_value_breaks_the_line() {
        let labels: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let svg = chart_of(&[Series { name: "s".into(), values: vec![Some(1.0), Some(2.0), None, Some(3.0), Some(4.0)] }], &labels);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 4);
    }

    #[test]
    fn points_are_inside_the_plot_and_higher_values_higher() {
        let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let svg = chart_of(&[Series { name: "s".into(), values: vec![Some(100.0), Some(300.0)] }], &labels);
        let cy: Vec<f64> = svg.split("cy=\"").skip(1).map(|s| s.split('"').next().unwrap().parse().unwrap()).collect();
        assert!(cy[1] < cy[0], "{cy:?}");
        assert!(cy.iter().all(|y| *y >= MARGIN_TOP && *y <= 200.0 - MARGIN_BOTTOM), "{cy:?}");
    }

    #[test]
    fn names_are_escaped() {
        let labels = vec!["<x>".to_owned()];
        let svg = chart_of(&[Series { name: "a&b\"".into(), values: vec![Some(1.0)] }, Series { name: "c".into(), values: vec![None] }], &labels);
        assert!(svg.contains("a&amp;b&quot;") && svg.contains("&lt;x&gt;"), "{svg}");
        assert!(!svg.contains("a&b"));
    }

    #[test]
    fn no_data_says_so() {
        let svg = chart_of(&[], &[]);
        assert!(svg.contains("aucune donnée") && !svg.contains("<circle"));
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = nice_ticks(2918.0, 3003.0);
        assert!(t[0] <= 2918.0 && *t.last().unwrap() >= 3003.0, "{t:?}");
        let step = t[1] - t[0];
        assert!([1.0, 2.0, 5.0, 10.0, 20.0, 50.0].contains(&step), "{t:?}");
        let flat = nice_ticks(7.0, 7.0);
        assert!(flat[0] < 7.0 && *flat.last().unwrap() > 7.0, "{flat:?}");
        assert_eq!(format_value(1234567.0), "1\u{202F}234\u{202F}567");
        assert_eq!(format_value(-5.0), "-5");
        assert_eq!(format_value(2.5), "2.5");
    }
}
