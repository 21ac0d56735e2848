//! What a table is, independent of its rows: name, documentation, columns with their types, primary
//! key and foreign keys. The catalogue (`catalog.rs`) instantiates these; the release stage turns
//! them into Table Schemas, the disclosure stage checks the policy against them.

/// The logical type of a column, as published in the Table Schema and as stored in Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text (Parquet BYTE_ARRAY/UTF8).
    String,
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float (coordinates).
    Number,
    /// true / false.
    Boolean,
    /// Calendar date, ISO 8601 `YYYY-MM-DD`.
    Date,
    /// Instant in UTC, ISO 8601 `YYYY-MM-DDTHH:MM:SSZ` (Parquet timestamp in milliseconds).
    DateTime,
    /// Time of day `HH:MM:SS`, stored as text so every reader agrees on it.
    Time,
}

impl ColumnType {
    /// The Frictionless Table Schema type name.
    pub fn table_schema_type(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Integer => "integer",
            ColumnType::Number => "number",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::DateTime => "datetime",
            ColumnType::Time => "time",
        }
    }
}

/// One column: its snake_case French name (at most 63 characters, the data.gouv.fr limit), its
/// type, and a sentence a reuser can read.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnType,
    pub required: bool,
    pub description: &'static str,
}

/// A reference from some columns of this table to the primary key of another.
#[derive(Debug, Clone, Copy)]
pub struct ForeignKey {
    pub column: &'static str,
    pub table: &'static str,
    pub reference: &'static str,
}

/// A whole table definition.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub primary_key: &'static str,
    pub foreign_keys: &'static [ForeignKey],
    pub columns: &'static [ColumnSpec],
}

impl TableSpec {
    /// Position of a column, if the table has it.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column definition, if the table has it.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Shorthand constructors keep the catalogue readable: one line per column.
pub const fn col(name: &'static str, kind: ColumnType, description: &'static str) -> ColumnSpec {
    ColumnSpec { name, kind, required: false, description }
}

/// A column that is never empty (primary keys and mandatory FHIR elements).
pub const fn req(name: &'static str, kind: ColumnType, description: &'static str) -> ColumnSpec {
    ColumnSpec { name, kind, required: true, description }
}

pub const fn fk(column: &'static str, table: &'static str, reference: &'static str) -> ForeignKey {
    ForeignKey { column, table, reference }
}
