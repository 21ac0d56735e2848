//! The report page of a night: one self-contained HTML file (inline CSS and SVG, no external
//! asset, so it opens from a CI artifact or a mail attachment) and its Markdown twin (for the
//! data.gouv.fr description), from the tera templates `templates/report.{html,md}.tera`.
//!
//! It shows the summary of the night (snapshot, verdict, stages with their durations), rows per
//! table and their change since the previous release, the changelog counts, the gate's and the
//! disclosure's results, the checksums and how to verify them, and charts of the evolution over
//! past releases: rows per table (from the release's history index) and available beds by région
//! (from the public capacity series, when there is one).
//!
//! The report is written beside the release, in `<out>/reports/<publication>/<version>.html`, not
//! inside it: it records how the night went (durations), which is not a pure function of the
//! inputs, and a release must stay byte-for-byte rebuildable and covered by its SHA256SUMS and
//! signature. The report cites the manifest's sha256, so it points at exactly one release. It is
//! read only from the files the release wrote, like any reuser would, so it can be regenerated.

pub mod capacity;
pub mod chart;

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use tera::{Context, Tera};

use crate::history::HistoryIndex;
use crate::ops::stage::StageRecord;
use crate::release::manifest::{MANIFEST_FILE, SUMS_FILE};
use crate::release::previous::{self, HISTORY_INDEX};
use chart::{LineChart, Series};

/// Folder of the report pages under the output folder.
pub const REPORTS_DIR: &str = "reports";
const HTML_TEMPLATE: &str = include_str!("../../templates/report.html.tera");
const MARKDOWN_TEMPLATE: &str = include_str!("../../templates/report.md.tera");
/// Versions drawn in the rows-per-table charts (the most recent ones).
const MAX_VERSIONS: usize = 90;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("report of {release}: cannot read {file}: {message}")]
    Read { release: String, file: String, message: String },
    #[error("report of {release}: template {template}: {message}")]
    Template { release: String, template: &'static str, message: String },
    #[error("report {path}: cannot write: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What the report is made from.
pub struct ReportInput<'a> {
    /// The release the report is about (written, possibly refused by the gate).
    pub release_dir: &'a Path,
    /// The output folder: reports go to `<out>/reports/`, the capacity series is read from
    /// `<out>/releases/capacites/`.
    pub out_dir: &'a Path,
    /// This night's stages, as `ops::stage` recorded them (empty when regenerating).
    pub stages: &'a [StageRecord],
}

/// Where the report went.
#[derive(Debug, Clone)]
pub struct WrittenReport {
    pub html: PathBuf,
    pub markdown: PathBuf,
}

#[derive(Serialize)]
struct TableRow {
    name: String,
    rows: u64,
    previous_rows: Option<u64>,
    change: Option<i64>,
    change_percent: Option<String>,
    added: u64,
    removed: u64,
    modified: u64,
    schema_version: String,
    schema_change: String,
}

#[derive(Serialize)]
struct FindingRow {
    severity: String,
    check: String,
    place: String,
    message: String,
    examples: String,
}

#[derive(Serialize)]
struct DisclosureRow {
    table: String,
    published: bool,
    rows_in: u64,
    rows_out: u64,
    rule: String,
}

#[derive(Serialize)]
struct FileRow {
    path: String,
    bytes: u64,
    sha256: String,
}

#[derive(Serialize)]
struct StageRow {
    stage: String,
    publication: String,
    duration: String,
    items: u64,
    bytes: String,
}

#[derive(Serialize)]
struct ChartView {
    title: String,
    svg: String,
}

#[derive(Serialize)]
struct RegionRow {
    code: String,
    label: String,
    beds: String,
    masked: u32,
}

fn read_error(release: &Path, file: &str) -> impl Fn(String) -> ReportError {
    let release = release.display().to_string();
    let file = file.to_owned();
    move |message| ReportError::Read { release: release.clone(), file: file.clone(), message }
}

fn read_json(dir: &Path, file: &str) -> Result<Value, ReportError> {
    let text = fs::read_to_string(dir.join(file)).map_err(|e| read_error(dir, file)(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| read_error(dir, file)(e.to_string()))
}

/// "20261125T020000Z" → "2026-11-25 02:00".
pub fn version_label(version: &str) -> String {
    if version.len() == 16 && version.as_bytes()[8] == b'T' {
        format!("{}-{}-{} {}:{}", &version[0..4], &version[4..6], &version[6..8], &version[9..11], &version[11..13])
    } else {
        version.to_owned()
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} Gio", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} Mio", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} kio", b as f64 / (1u64 << 10) as f64),
        b => format!("{b} o"),
    }
}

fn human_duration(ms: u64) -> String {
    if ms >= 60_000 {
        format!("{} min {:02} s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Rows per table and their change since the previous version, with the changelog counts.
fn table_rows(manifest: &crate::release::manifest::Manifest, index: &HistoryIndex) -> Vec<TableRow> {
    let previous_entry = manifest.previous.as_ref().and_then(|p| index.versions.iter().find(|v| v.version == p.version));
    manifest
        .tables
        .iter()
        .map(|t| {
            let previous_rows = previous_entry.and_then(|e| e.tables.get(&t.name)).map(|v| v.rows);
            let change = previous_rows.map(|p| t.rows as i64 - p as i64);
            let change_percent = previous_rows.filter(|p| *p > 0).map(|p| format!("{:+.1} %", (t.rows as f64 - p as f64) * 100.0 / p as f64));
            let changes = manifest.changes.iter().find(|c| c.table == t.name);
            TableRow {
                name: t.name.clone(),
                rows: t.rows,
                previous_rows,
                change,
                change_percent,
                added: changes.map_or(0, |c| c.added),
                removed: changes.map_or(0, |c| c.removed),
                modified: changes.map_or(0, |c| c.modified),
                schema_version: t.schema_version.clone(),
                schema_change: changes.and_then(|c| serde_json::to_value(c.schema_change).ok()).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            }
        })
        .collect()
}

/// One small chart per table: tables differ by orders of magnitude, so one shared axis would
/// flatten every line but the largest.
fn rows_charts(index: &HistoryIndex, tables: &[String], until: &str) -> (Vec<String>, Vec<ChartView>) {
    let versions: Vec<&crate::history::VersionEntry> = index.versions.iter().filter(|v| v.version.as_str() <= until).collect();
    let versions = &versions[versions.len().saturating_sub(MAX_VERSIONS)..];
    let labels: Vec<String> = versions.iter().map(|v| version_label(&v.version)).collect();
    let charts = tables
        .iter()
        .map(|table| {
            let series = [Series { name: table.clone(), values: versions.iter().map(|v| v.tables.get(table).map(|t| t.rows as f64)).collect() }];
            let title = format!("{table} : lignes par version");
            let svg = chart::render(&LineChart { title: &title, unit: "lignes", x_labels: &labels, series: &series, width: 340, height: 190 });
            ChartView { title: table.clone(), svg }
        })
        .collect();
    (versions.iter().map(|v| v.version.clone()).collect(), charts)
}

/// The available-beds chart and the newest figures by région, when the capacity series exists.
fn capacity_view(out_dir: &Path, until: &str) -> Result<Option<(ChartView, Vec<RegionRow>, String)>, String> {
    let Some(series) = capacity::load(&out_dir.join("releases"), until)? else { return Ok(None) };
    let labels: Vec<String> = series.versions.iter().map(|v| version_label(v)).collect();
    let lines: Vec<Series> = series
        .regions
        .iter()
        .map(|(code, values)| Series { name: capacity::region_label(code).to_owned(), values: values.iter().map(|v| v.as_ref().map(|b| b.beds as f64)).collect() })
        .collect();
    let title = "Lits disponibles par région (capacités courantes publiées)";
    let svg = chart::render(&LineChart { title, unit: "lits disponibles", x_labels: &labels, series: &lines, width: 780, height: 280 });
    let newest = series.versions.len() - 1;
    let rows = series
        .regions
        .iter()
        .filter_map(|(code, values)| values[newest].as_ref().map(|b| RegionRow { code: code.clone(), label: capacity::region_label(code).to_owned(), beds: chart::format_value(b.beds as f64), masked: b.masked_departements }))
        .collect();
    Ok(Some((ChartView { title: title.to_owned(), svg }, rows, series.versions[newest].clone())))
}

fn findings(gate: &Value) -> Vec<FindingRow> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    gate.get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| FindingRow {
            severity: text(f, "severity"),
            check: text(f, "check"),
            place: [text(f, "table"), text(f, "column")].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("."),
            message: text(f, "message"),
            examples: f.get("examples").and_then(Value::as_array).map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
        })
        .collect()
}

fn disclosure_rows(disclosure: &Value) -> Vec<DisclosureRow> {
    disclosure
        .get("tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| DisclosureRow {
            table: t.get("table").and_then(Value::as_str).unwrap_or_default().to_owned(),
            published: t.get("published").and_then(Value::as_bool).unwrap_or(false),
            rows_in: t.get("rows_in").and_then(Value::as_u64).unwrap_or(0),
            rows_out: t.get("rows_out").and_then(Value::as_u64).unwrap_or(0),
            rule: t.get("reason").and_then(Value::as_str).unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Build the page's context from the release folder (and the capacity series beside it).
fn context(input: &ReportInput<'_>) -> Result<Context, ReportError> {
    let dir = input.release_dir;
    let release = previous::load(dir).map_err(|e| read_error(dir, MANIFEST_FILE)(e.to_string()))?;
    let manifest = &release.manifest;
    let index: HistoryIndex = serde_json::from_value(read_json(dir, HISTORY_INDEX)?).map_err(|e| read_error(dir, HISTORY_INDEX)(e.to_string()))?;
    let gate = read_json(dir, "gate.json").unwrap_or(Value::Null);
    let disclosure = read_json(dir, "disclosure.json").unwrap_or(Value::Null);
    let sums = fs::read_to_string(dir.join(SUMS_FILE)).map_err(|e| read_error(dir, SUMS_FILE)(e.to_string()))?;
    let manifest_sha256 = sums.lines().find_map(|l| l.strip_suffix(&format!("  {MANIFEST_FILE}"))).unwrap_or(&release.manifest_sha256).to_owned();

    let tables = table_rows(manifest, &index);
    let table_names: Vec<String> = manifest.tables.iter().map(|t| t.name.clone()).collect();
    let (chart_versions, charts) = rows_charts(&index, &table_names, &manifest.version);
    let capacity = capacity_view(input.out_dir, &manifest.version).map_err(|e| read_error(dir, "capacity series")(e))?;
    let data_files: Vec<FileRow> = manifest
        .files
        .iter()
        .filter(|f| !f.path.contains('/') && (f.path.ends_with(".csv") || f.path.ends_with(".parquet")))
        .map(|f| FileRow { path: f.path.clone(), bytes: f.bytes, sha256: f.sha256.clone() })
        .collect();
    let stages: Vec<StageRow> = input
        .stages
        .iter()
        .map(|s| StageRow { stage: s.stage.clone(), publication: s.publication.clone().unwrap_or_default(), duration: human_duration(s.duration_ms), items: s.items, bytes: if s.bytes > 0 { human_bytes(s.bytes) } else { String::new() } })
        .collect();
    let gate_passed = manifest.gate.as_ref().is_none_or(|g| g.passed);

    let mut ctx = Context::new();
    ctx.insert("publication", &manifest.publication);
    ctx.insert("version", &manifest.version);
    ctx.insert("version_label", &version_label(&manifest.version));
    ctx.insert("taken_at", &manifest.snapshot.taken_at);
    ctx.insert("source", &manifest.snapshot.source);
    ctx.insert("snapshot_sha256", &manifest.snapshot.sha256);
    ctx.insert("snapshot_files", &manifest.snapshot.files.len());
    ctx.insert("snapshot_bytes", &human_bytes(manifest.snapshot.files.iter().map(|f| f.bytes).sum()));
    ctx.insert("resources", &manifest.snapshot.resources_by_type.values().sum::<u64>());
    ctx.insert("previous_version", &manifest.previous.as_ref().map(|p| p.version.clone()));
    ctx.insert("generator", &format!("{} {} ({})", manifest.generator.name, manifest.generator.version, manifest.generator.git_commit));
    ctx.insert("development_keys", &manifest.development_keys);
    ctx.insert("gate_passed", &gate_passed);
    ctx.insert("gate_failures", &gate.get("failures").and_then(Value::as_u64).unwrap_or(0));
    ctx.insert("gate_warnings", &gate.get("warnings").and_then(Value::as_u64).unwrap_or(0));
    ctx.insert("gate_checks", &gate.get("checks").and_then(Value::as_array).map_or(0, Vec::len));
    ctx.insert("findings", &findings(&gate));
    ctx.insert("disclosure_passed", &disclosure.pointer("/gate/passed").and_then(Value::as_bool).unwrap_or(true));
    ctx.insert("disclosure", &disclosure_rows(&disclosure));
    ctx.insert("policy_sha256", &manifest.policy.sha256);
    ctx.insert("tables", &tables);
    ctx.insert("total_rows", &tables.iter().map(|t| t.rows).sum::<u64>());
    ctx.insert("stages", &stages);
    ctx.insert("total_duration", &human_duration(input.stages.iter().map(|s| s.duration_ms).sum()));
    ctx.insert("charts", &charts);
    ctx.insert("chart_versions", &chart_versions.len());
    ctx.insert("history_versions", &chart_versions.iter().map(|v| version_label(v)).collect::<Vec<_>>());
    ctx.insert("rows_history", &history_table(&index, &table_names, &chart_versions));
    ctx.insert("manifest_sha256", &manifest_sha256);
    ctx.insert("key_id", &manifest.signature.key_id);
    ctx.insert("data_files", &data_files);
    ctx.insert("file_count", &manifest.files.len());
    match capacity {
        Some((chart, regions, version)) => {
            ctx.insert("capacity_chart", &Some(chart));
            ctx.insert("capacity_regions", &regions);
            ctx.insert("capacity_version", &version_label(&version));
        }
        None => {
            ctx.insert("capacity_chart", &None::<ChartView>);
            ctx.insert("capacity_regions", &Vec::<RegionRow>::new());
            ctx.insert("capacity_version", "");
        }
    }
    Ok(ctx)
}

/// Rows per table for the last few versions, as the Markdown twin's table (it has no chart).
fn history_table(index: &HistoryIndex, tables: &[String], versions: &[String]) -> Vec<(String, Vec<String>)> {
    let recent = &versions[versions.len().saturating_sub(6)..];
    tables
        .iter()
        .map(|t| {
            let cells = recent
                .iter()
                .map(|v| index.versions.iter().find(|e| &e.version == v).and_then(|e| e.tables.get(t)).map(|r| r.rows.to_string()).unwrap_or_else(|| "—".into()))
                .collect();
            (t.clone(), cells)
        })
        .collect()
}

/// Render the report's (html, markdown).
pub fn render(input: &ReportInput<'_>) -> Result<(String, String), ReportError> {
    let ctx = context(input)?;
    let release = input.release_dir.display().to_string();
    let html = Tera::one_off(HTML_TEMPLATE, &ctx, true).map_err(|e| ReportError::Template { release: release.clone(), template: "report.html.tera", message: format!("{e:?}") })?;
    let markdown = Tera::one_off(MARKDOWN_TEMPLATE, &ctx, false).map_err(|e| ReportError::Template { release, template: "report.md.tera", message: format!("{e:?}") })?;
    Ok((html, markdown))
}

/// Render and write `<out>/reports/<publication>/<version>.{html,md}`, each under a temporary
/// name first so a reader never sees half a page.
pub fn write(input: &ReportInput<'_>) -> Result<WrittenReport, ReportError> {
    let (html, markdown) = render(input)?;
    let release = previous::load(input.release_dir).map_err(|e| read_error(input.release_dir, MANIFEST_FILE)(e.to_string()))?;
    let dir = input.out_dir.join(REPORTS_DIR).join(&release.manifest.publication);
    fs::create_dir_all(&dir).map_err(|source| ReportError::Write { path: dir.display().to_string(), source })?;
    let mut written = Vec::new();
    for (extension, text) in [("html", html), ("md", markdown)] {
        let path = dir.join(format!("{}.{extension}", release.manifest.version));
        let temp = dir.join(format!(".tmp-{}.{extension}-{}", release.manifest.version, std::process::id()));
        fs::write(&temp, text).and_then(|()| fs::rename(&temp, &path)).map_err(|source| ReportError::Write { path: path.display().to_string(), source })?;
        written.push(path);
    }
    let markdown = written.pop().unwrap_or_default();
    let html = written.pop().unwrap_or_default();
    Ok(WrittenReport { html, markdown })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_units() {
        assert_eq!(version_label("20261125T020000Z"), "2026-11-25 02:00");
        assert_eq!(version_label("v1"), "v1");
        assert_eq!(human_bytes(512), "512 o");
        assert_eq!(human_bytes(3 << 20), "3.0 Mio");
        assert_eq!(human_duration(1500), "1.5 s");
        assert_eq!(human_duration(125_000), "2 min 05 s");
    }
}
