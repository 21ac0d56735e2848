//! Streams the resources of a snapshot, one file at a time: Bundles (searchset, collection, the
//! JSON files of `$export`), single resources and NDJSON, each optionally gzipped. Memory holds one
//! file, never the whole snapshot. A UTF-8 byte-order mark and CRLF line ends are accepted, as
//! ANS's own files have them.

use std::fs;
use std::io::Read;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Snapshot, SnapshotFile, SourceError};

/// One resource as found in a file, not yet parsed beyond its type and id.
#[derive(Debug, Clone, Copy)]
pub struct RawResource<'a> {
    /// The file, relative to the snapshot folder.
    pub file: &'a str,
    /// Where in the file: "entry[3]", "line 12" or "resource".
    pub position: &'a str,
    pub resource_type: &'a str,
    pub id: &'a str,
    pub json: &'a RawValue,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(rename = "resourceType", borrow)]
    resource_type: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a str>,
}

#[derive(Deserialize)]
struct BundleShape<'a> {
    #[serde(borrow, default)]
    entry: Vec<EntryShape<'a>>,
}

#[derive(Deserialize)]
struct EntryShape<'a> {
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

/// The largest single resource accepted. ANS's offers weigh about 9 KB with their hours and
/// contacts; a resource a thousand times that is a corrupt or hostile file, and its strings would
/// end up in CSV cells that no spreadsheet opens.
pub const MAX_RESOURCE_BYTES: usize = 8 * 1024 * 1024;

/// Resource types that carry no directory data (search outcomes): skipped silently.
const IGNORED_TYPES: &[&str] = &["OperationOutcome"];

/// Call `visit` for every resource of the snapshot, in file order then position order.
pub fn for_each_resource<E, F>(snapshot: &Snapshot, mut visit: F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    for file in &snapshot.provenance.files {
        for_each_resource_in_file(file, &mut visit)?;
    }
    Ok(())
}

/// Call `visit` for every resource of one file, in position order: the unit of work when files
/// are read on several threads (the file's bytes are read, unzipped and dropped here).
pub fn for_each_resource_in_file<E, F>(file: &SnapshotFile, mut visit: F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    let bytes = read_file(file)?;
    let text = decode_text(&file.path, &bytes)?;
    visit_text(&file.path, text, &mut visit)
}

fn read_file(file: &SnapshotFile) -> Result<Vec<u8>, SourceError> {
    let raw = fs::read(&file.absolute).map_err(|source| SourceError::Read { file: file.path.clone(), source })?;
    let gz_name = file.path.ends_with(".gz");
    let gz_magic = raw.starts_with(&[0x1f, 0x8b]);
    if !gz_name && !gz_magic {
        return Ok(raw);
    }
    if gz_name && !gz_magic {
        return Err(SourceError::Gzip {
            file: file.path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is named .gz but does not start with the gzip magic bytes"),
        });
    }
    let mut out = Vec::with_capacity(raw.len() * 8);
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|source| SourceError::Gzip { file: file.path.clone(), source })?;
    Ok(out)
}

fn decode_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, SourceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| SourceError::Utf8 { file: file.to_owned(), offset: e.valid_up_to() })
}

fn json_error(file: &str, e: serde_json::Error) -> SourceError {
    SourceError::Json { file: file.to_owned(), line: e.line(), column: e.column(), message: strip_position(&e.to_string()) }
}

/// serde_json appends " at line L column C" to its messages; we report those separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn visit_text<E, F>(file: &str, text: &str, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    let values: Vec<&RawValue> = serde_json::Deserializer::from_str(text)
        .into_iter::<&RawValue>()
        .collect::<Result<_, _>>()
        .map_err(|e| json_error(file, e))?;
    if values.is_empty() {
        return Err(SourceError::Resource { file: file.to_owned(), location: "file".into(), message: "is empty".into() }.into());
    }
    let ndjson = values.len() > 1;
    for (index, value) in values.into_iter().enumerate() {
        let position = if ndjson { format!("line {}", index + 1) } else { "resource".to_owned() };
        let header = parse_header(file, &position, value)?;
        if header.resource_type == "Bundle" {
            visit_bundle(file, &position, value, visit)?;
        } else {
            visit_one(file, &position, header, value, visit)?;
        }
    }
    Ok(())
}

struct ParsedHeader<'a> {
    resource_type: &'a str,
    id: Option<&'a str>,
}

fn parse_header<'a>(file: &str, position: &str, value: &'a RawValue) -> Result<ParsedHeader<'a>, SourceError> {
    let resource_error = |message: String| SourceError::Resource { file: file.to_owned(), location: position.to_owned(), message };
    if !value.get().trim_start().starts_with('{') {
        return Err(resource_error("expected a JSON object (a FHIR resource)".into()));
    }
    let header: Header<'a> =
        serde_json::from_str(value.get()).map_err(|e| resource_error(format!("field resourceType or id: {}", strip_position(&e.to_string()))))?;
    let resource_type = header.resource_type.ok_or_else(|| resource_error("field resourceType: missing".into()))?;
    Ok(ParsedHeader { resource_type, id: header.id })
}

fn visit_bundle<E, F>(file: &str, position: &str, value: &RawValue, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    let bundle: BundleShape<'_> = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(value.get())).map_err(|e| {
        SourceError::Resource { file: file.to_owned(), location: format!("{position} (Bundle)"), message: format!("field {}: {}", e.path(), strip_position(&e.inner().to_string())) }
    })?;
    for (index, entry) in bundle.entry.into_iter().enumerate() {
        let Some(resource) = entry.resource else { continue };
        let entry_position = format!("entry[{index}]");
        let header = parse_header(file, &entry_position, resource)?;
        if header.resource_type == "Bundle" {
            return Err(SourceError::Resource {
                file: file.to_owned(),
                location: entry_position,
                message: "a Bundle inside a Bundle is not a ROR export; give the inner Bundle as its own file".into(),
            }
            .into());
        }
        visit_one(file, &entry_position, header, resource, visit)?;
    }
    Ok(())
}

fn visit_one<E, F>(file: &str, position: &str, header: ParsedHeader<'_>, value: &RawValue, visit: &mut F) -> Result<(), E>
where
    E: From<SourceError>,
    F: FnMut(RawResource<'_>) -> Result<(), E>,
{
    if IGNORED_TYPES.contains(&header.resource_type) {
        return Ok(());
    }
    let location = format!("{position} ({})", header.resource_type);
    let id = match header.id {
        Some(id) if !id.trim().is_empty() && !is_fhir_id(id) => {
            return Err(SourceError::Resource {
                file: file.to_owned(),
                location,
                message: format!("field id: {id:?} is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)"),
            }
            .into());
        }
        Some(id) if value.get().len() > MAX_RESOURCE_BYTES => {
            return Err(SourceError::Resource {
                file: file.to_owned(),
                location: format!("{position} ({}/{id})", header.resource_type),
                message: format!("the resource is {} bytes, above the {} bytes one ROR resource may hold", value.get().len(), MAX_RESOURCE_BYTES),
            }
            .into());
        }
        Some(id) if !id.trim().is_empty() => id,
        _ => {
            return Err(SourceError::Resource { file: file.to_owned(), location, message: "field id: missing or empty".into() }.into());
        }
    };
    visit(RawResource { file, position, resource_type: header.resource_type, id, json: value })
}

/// FHIR's id type: `[A-Za-z0-9\-\.]{1,64}`. Ids become primary keys, file-derived names and
/// pseudonym inputs, so one with a slash or a space is refused at the door.
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Result<Vec<(String, String, String)>, SourceError> {
        let mut out = Vec::new();
        visit_text::<SourceError, _>("f.json", text, &mut |r: RawResource<'_>| {
            out.push((r.position.to_owned(), r.resource_type.to_owned(), r.id.to_owned()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_bundles_single_resources_and_ndjson() {
        let bundle = r#"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Location","id":"1"}},{"search":{"mode":"outcome"}},{"resource":{"resourceType":"OperationOutcome"}}]}"#;
        assert_eq!(collect(bundle).unwrap(), vec![("entry[0]".into(), "Location".into(), "1".into())]);
        assert_eq!(collect("{\"resourceType\":\"Practitioner\",\"id\":\"p\"}\r\n").unwrap().len(), 1);
        let nd = "{\"resourceType\":\"Location\",\"id\":\"1\"}\n{\"resourceType\":\"Location\",\"id\":\"2\"}\n";
        assert_eq!(collect(nd).unwrap()[1].0, "line 2");
    }

    #[test]
    fn errors_name_the_place() {
        let e = collect(r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Location"}}]}"#).unwrap_err().to_string();
        assert!(e.contains("f.json: entry[0] (Location): field id"), "{e}");
        let e = collect(r#"{"resourceType":"Location","id":"../etc"}"#).unwrap_err().to_string();
        assert!(e.contains("field id: \"../etc\" is not a FHIR id"), "{e}");
        let e = collect("{\"resourceType\":\"Location\",\n \"id\": }").unwrap_err().to_string();
        assert!(e.contains("malformed JSON at line 2"), "{e}");
        let e = collect(r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","id":"x"}}]}"#).unwrap_err().to_string();
        assert!(e.contains("Bundle inside a Bundle"), "{e}");
    }

    #[test]
    fn bom_is_accepted_and_bad_utf8_is_named() {
        assert!(decode_text("f", b"\xEF\xBB\xBF{}").is_ok());
        let e = decode_text("f", b"{\"a\":\"\xff\"}").unwrap_err().to_string();
        assert!(e.contains("offset 6"), "{e}");
    }
}
