//! Table Schemas (Frictionless, following schema.data.gouv.fr conventions) and the Data Package
//! descriptor of a release. Both are built from the catalogue and the columns actually published.

use serde_json::{json, Map, Value};

use crate::table::spill::TableSource;
use crate::table::{ColumnType, Table};

/// The Table Schema of a published table: only its published columns, and only the foreign keys
/// whose target table is published too.
pub fn table_schema(table: &Table, published: &dyn TableSource, version: &str) -> Value {
    let spec = table.spec;
    let fields: Vec<Value> = table
        .column_specs()
        .into_iter()
        .map(|c| {
            let mut field = Map::new();
            field.insert("name".into(), json!(c.name));
            field.insert("description".into(), json!(c.description));
            field.insert("type".into(), json!(c.kind.table_schema_type()));
            match c.kind {
                ColumnType::DateTime => {
                    field.insert("format".into(), json!("%Y-%m-%dT%H:%M:%SZ"));
                }
                ColumnType::Boolean => {
                    field.insert("trueValues".into(), json!(["true"]));
                    field.insert("falseValues".into(), json!(["false"]));
                }
                _ => {}
            }
            let mut constraints = Map::new();
            if c.required {
                constraints.insert("required".into(), json!(true));
            }
            if c.name == spec.primary_key {
                constraints.insert("unique".into(), json!(true));
            }
            if !constraints.is_empty() {
                field.insert("constraints".into(), Value::Object(constraints));
            }
            Value::Object(field)
        })
        .collect();
    let columns = table.column_names();
    let foreign_keys: Vec<Value> = spec
        .foreign_keys
        .iter()
        .filter(|fk| columns.iter().any(|c| c == fk.column) && published.rows(fk.table).is_some())
        .map(|fk| json!({"fields": [fk.column], "reference": {"resource": fk.table, "fields": [fk.reference]}}))
        .collect();
    let mut schema = Map::new();
    schema.insert("name".into(), json!(spec.name));
    schema.insert("title".into(), json!(spec.title));
    schema.insert("description".into(), json!(spec.description));
    schema.insert("version".into(), json!(version));
    schema.insert("fields".into(), Value::Array(fields));
    schema.insert("primaryKey".into(), json!([spec.primary_key]));
    if !foreign_keys.is_empty() {
        schema.insert("foreignKeys".into(), Value::Array(foreign_keys));
    }
    schema.insert("missingValues".into(), json!([""]));
    Value::Object(schema)
}

/// The CSV dialect every file follows, declared in the Data Package.
pub fn csv_dialect() -> Value {
    json!({"delimiter": ",", "quoteChar": "\"", "doubleQuote": true, "lineTerminator": "\n", "header": true})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{catalog, TableBuilder, Tables};

    #[test]
    fn foreign_keys_only_to_published_tables() {
        let offres = TableBuilder::new(&catalog::OFFRES).finish().unwrap();
        let lieux = TableBuilder::new(&catalog::LIEUX).finish().unwrap();
        let mut published = Tables::new();
        published.insert("offres", offres.clone());
        published.insert("lieux", lieux);
        let schema = table_schema(&offres, &published, "1.0.0");
        let fks = schema["foreignKeys"].as_array().unwrap();
        assert_eq!(fks.len(), 1);
        assert_eq!(fks[0]["reference"]["resource"], "lieux");
        assert_eq!(schema["primaryKey"][0], "identifiant_ror");
    }
}
