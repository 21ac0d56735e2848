//! The dataset's description on the platform, rendered from a tera template (the shipped
//! templates/dataset-description.md.tera, or the operator's): what the data is, every table and
//! column, the changes of this version, how to verify the signature, the licence. It is built from
//! the release alone, so the same release always gives the same description.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::release::manifest::Manifest;

use super::PublishError;

const SHIPPED_TEMPLATE: &str = include_str!("../../templates/dataset-description.md.tera");

#[derive(Serialize)]
struct Column {
    name: String,
    r#type: String,
    description: String,
}

#[derive(Serialize)]
struct Table {
    name: String,
    title: String,
    description: String,
    rows: u64,
    schema_version: String,
    columns: Vec<Column>,
}

/// What the template sees besides the release: the configured title and the licence.
pub struct DescriptionInput<'a> {
    pub title: &'a str,
    pub license_title: &'a str,
    pub license_url: Option<&'a str>,
    pub template: Option<&'a Path>,
}

/// Render the description of `release_dir` (whose manifest is `manifest`).
pub fn render(release_dir: &Path, manifest: &Manifest, input: &DescriptionInput<'_>) -> Result<String, PublishError> {
    let mut tables = Vec::new();
    for t in &manifest.tables {
        let schema_path = release_dir.join(&t.schema);
        let schema: Value = std::fs::read(&schema_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| PublishError::Release { path: schema_path.display().to_string(), message: "missing or not a JSON Table Schema".into() })?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().replace('|', "\\|").replace('\n', " ");
        let columns = schema.get("fields").and_then(Value::as_array).map(|fields| fields.iter().map(|f| Column { name: text(f, "name"), r#type: text(f, "type"), description: text(f, "description") }).collect()).unwrap_or_default();
        tables.push(Table { name: t.name.clone(), title: text(&schema, "title"), description: text(&schema, "description"), rows: t.rows, schema_version: t.schema_version.clone(), columns });
    }
    let public_key = std::fs::read_to_string(release_dir.join(&manifest.signature.public_key)).ok().and_then(|text| text.lines().nth(1).map(str::to_owned)).unwrap_or_default();
    let mut context = tera::Context::new();
    context.insert("title", input.title);
    context.insert("version", &manifest.version);
    context.insert("taken_at", &manifest.snapshot.taken_at);
    context.insert("tables", &tables);
    context.insert("changes", &manifest.changes);
    context.insert("key_id", &manifest.signature.key_id);
    context.insert("public_key", &public_key);
    context.insert("license_title", input.license_title);
    context.insert("license_url", &input.license_url);
    let (name, source) = match input.template {
        Some(path) => (path.display().to_string(), std::fs::read_to_string(path).map_err(|e| PublishError::Config(format!("description template {}: {e}", path.display())))?),
        None => ("templates/dataset-description.md.tera".to_owned(), SHIPPED_TEMPLATE.to_owned()),
    };
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    tera.add_raw_template(&name, &source).map_err(|e| PublishError::Config(format!("description template {name}: {}", chain(&e))))?;
    let rendered = tera.render(&name, &context).map_err(|e| PublishError::Config(format!("description template {name}: {}", chain(&e))))?;
    Ok(rendered.trim().to_owned() + "\n")
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
